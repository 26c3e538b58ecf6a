#!/usr/bin/env bash
# bench/engine.sh - the rules engine micro-benchmark (issue 4), in one command:
#   bench/engine.sh [--calls N] [--runs R] [--warmup W] [--no-callgrind]
#
#   1. configures and builds a Release build in build/bench with -DLY_BENCH=ON
#      (target engine_bench only);
#   2. runs bench/engine_bench: W warm-up calls, then R runs of N calls of
#      engine_compute() for a 20-line purchase against the 20 promotions of
#      bench/engine_rules.json, each run timed with CLOCK_MONOTONIC; the
#      figure is the median run's ns per call;
#   3. counts the instructions of one call under valgrind --tool=callgrind
#      (collecting inside engine_compute only), a figure that does not move
#      with the machine's load;
#   4. prints one markdown line for docs/performance.md (it edits nothing).
# Outputs stay in build/bench/engine-*.txt and build/bench/engine.callgrind.out.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

calls=200000
runs=5
warmup=20000
callgrind=1
cg_calls=2000
target_ns=20000

usage() {
  sed -n '2,3p' "$0" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --calls) calls=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --warmup) warmup=${2:?}; shift 2 ;;
    --no-callgrind) callgrind=0; shift ;;
    *) usage ;;
  esac
done

say() { printf '== %s\n' "$*" >&2; }

bdir=$root/build/bench
say "building $bdir (Release, LY_BENCH=ON)"
cmake -S . -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DLY_BENCH=ON -DBUILD_TESTING=OFF \
  -DLY_SANITIZE=OFF >/dev/null
cmake --build "$bdir" -j"$(nproc)" --target engine_bench >/dev/null
bin=$bdir/bench/engine_bench

say "timing: $warmup warm-up calls, then $runs runs of $calls calls"
# Other work on the machine slows the timed runs, not the instruction count.
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
  say "WARNING: load average $load on $(nproc) cores: the timings are noisy"
fi
"$bin" -n "$calls" -r "$runs" -w "$warmup" | tee "$bdir/engine-time.txt" >&2
median=$(sed -n 's/^median_ns_per_call=//p' "$bdir/engine-time.txt")
runs_ns=$(sed -n 's/^run [0-9]*: [0-9]* calls, \([0-9.]*\) ns\/call$/\1/p' "$bdir/engine-time.txt" |
  sort -n | paste -sd' ')
lo=${runs_ns%% *}
hi=${runs_ns##* }
[ -n "$median" ] || { echo "engine.sh: no median in engine_bench's output" >&2; exit 1; }

instr=
if [ "$callgrind" = 1 ]; then
  if command -v valgrind >/dev/null; then
    say "callgrind: $cg_calls calls, instructions inside engine_compute"
    out=$bdir/engine.callgrind.out
    valgrind --tool=callgrind --toggle-collect=engine_compute --callgrind-out-file="$out" \
      "$bin" -n "$cg_calls" -r 1 -w 0 >"$bdir/engine-callgrind.txt" 2>&1
    # The program makes one checking call before the timed ones.
    total_calls=$(sed -n 's/^calls=//p' "$bdir/engine-callgrind.txt")
    total_ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out")
    if [ -z "$total_ir" ] || [ -z "$total_calls" ]; then
      echo "engine.sh: cannot read callgrind's totals from $out" >&2
      exit 1
    fi
    instr=$(( (total_ir + total_calls / 2) / total_calls ))
    say "callgrind: $total_ir instructions over $total_calls calls = $instr per call"
  else
    say "valgrind not installed: no instruction count"
  fi
fi

fired=$(sed -n 's/^purchase: .*, \([0-9]*\) promotions fired.*/\1/p' "$bdir/engine-time.txt")
us=$(awk -v n="$median" 'BEGIN { printf "%.2f", n / 1000 }')
verdict=$(awk -v n="$median" -v t="$target_ns" 'BEGIN { print (n < t) ? "met" : "MISSED" }')
cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
line="- Rules engine alone (\`bench/engine.sh\`, issue 4): \`engine_compute\` for a 20-line"
line+=" purchase against 20 promotions (2 to 4 conditions each, $fired firing;"
line+=" \`bench/engine_rules.json\`) takes **$us µs** per call, the median of $runs runs of"
line+=" $calls calls (runs ${lo%.*}-${hi%.*} ns"
[ -n "$instr" ] && line+="; $instr instructions per call under callgrind"
line+="; ${cpu:-unknown CPU}, Release build); target < 20 µs: $verdict."

say "markdown line for docs/performance.md:"
printf '%s\n' "$line"
