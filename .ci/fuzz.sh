#!/usr/bin/env bash
# Fuzzes what clients send with libFuzzer for a bounded time: the rule-set
# document and the engine behind it (tests/fuzz/fuzz_rules.c), then the
# purchase body (tests/fuzz/fuzz_purchase.c), each for half the time.
#   .ci/fuzz.sh [SECONDS]     default 60 in all, or $FUZZ_SECONDS; 0 skips
# Builds with clang in build/fuzz (ASan + UBSan + libFuzzer), runs each
# target on a copy of its committed seed corpus (tests/fuzz/corpus*/ is never
# written to), and fails on any crash, leak, timeout or sanitizer report.
# The input that caused a failure is kept under build/fuzz/artifacts/ (add
# it to tests/fuzz/regression/ as rules-* or purchase-* once fixed, so
# ctest replays it).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-${FUZZ_SECONDS:-60}}
build=build/fuzz
if [ "$seconds" = 0 ]; then
  echo "fuzz: skipped (0 seconds)"
  exit 0
fi
command -v clang >/dev/null || { echo "fuzz: clang is missing (run .ci/deps.sh test)" >&2; exit 1; }

mkdir -p "$build"
# -fsanitize=fuzzer-no-link gives the libraries under test coverage
# feedback; LY_SANITIZE adds ASan + UBSan with -fno-sanitize-recover=all.
if ! { cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DLY_SANITIZE=ON \
         -DLY_FUZZ=ON -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" &&
       cmake --build "$build" -j"$(nproc)" --target fuzz_rules fuzz_purchase; } >"$build/build.log" 2>&1; then
  tail -n 40 "$build/build.log" >&2
  echo "fuzz: build failed; log $build/build.log" >&2
  exit 1
fi

each=$(( seconds / 2 > 0 ? seconds / 2 : 1 ))
artifacts=$build/artifacts
rm -rf "$artifacts"
mkdir -p "$artifacts"

# run TARGET CORPUS_DIR WHAT: one target for $each seconds.
run() {
  local target=$1 seeds=$2 what=$3
  local corpus=$build/corpus-$target log=$build/$target.log status=0 runs
  rm -rf "$corpus"
  mkdir -p "$corpus"
  cp "tests/fuzz/$seeds"/* "$corpus"/
  # A UBSan finding must stop the run even if someone drops
  # -fno-sanitize-recover from the flags.
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    "$build/tests/fuzz/$target" -max_total_time="$each" -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$artifacts/$target-" -print_final_stats=1 "$corpus" >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant broken' "$log" \
     || [ -n "$(ls -A "$artifacts")" ]; then
    tail -n 60 "$log" >&2
    echo "fuzz: $what FAILED (exit $status); log $log, inputs kept in $artifacts/" >&2
    exit 1
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')
  echo "fuzz: $what, ${each}s, $runs inputs, no failure"
}

run fuzz_rules corpus "rules document"
run fuzz_purchase corpus_purchase "purchase body"
