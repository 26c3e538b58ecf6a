#!/usr/bin/env bash
# bench/run.sh - the benchmark, in one command (issue 3):
#   bench/run.sh [--members N] [--duration S] [--threads N] [--perf auto|on|off]
#                [--endpoints balance,purchase,redeem,purchase_keyed,redeem_keyed]
#                [--no-doc] [--keep]
#
# In one run, on this machine only (127.0.0.1 and unix sockets):
#   1. builds the release binary (build/release) and starts a durable
#      PostgreSQL cluster of its own in a temporary folder (.ci/pg.sh, with
#      pg_stat_statements loaded, and autovacuum off: every measured run,
#      wrk's and pgbench's alike, starts after a VACUUM (ANALYZE) and a
#      CHECKPOINT, as pgbench itself vacuums before a run by default);
#   2. migrates, bulk-loads N members with their opening points
#      (bench/load.sql, set-based SQL), creates an admin and a pos key
#      (`loyaltyd keys create`) and one reward with unlimited stock;
#   3. starts loyaltyd (threads and pool at their defaults unless --threads),
#      records the statements it runs for three requests per endpoint (the
#      server log with log_statement = 'all') and their times during a
#      warm-up (pg_stat_statements), then drives it with wrk (keep-alive,
#      2 threads, 16 then 64 connections) on each endpoint (the *_keyed
#      ones are purchase.lua and redeem.lua with BENCH_IDEMPOTENCY=1), reading the
#      CPU time of the daemon and of the cluster before and after each run
#      and the daemon's VmHWM; then balance and purchase at once (mixed);
#   4. runs pgbench with bench/pgbench/<endpoint>.sql at 1, 2, 4 and 8
#      clients over the unix socket: the database's own ceiling; its
#      statements are recorded the same way, and report.py compares them
#      with the daemon's in order;
#   5. profiles the daemon (perf record -g, and strace -c for the system
#      calls per request) during extra balance and purchase runs when a
#      target was missed (--perf auto), checks the ledger
#      invariant (`loyaltyd check`), and hands everything to bench/report.py,
#      which prints the table and rewrites docs/performance.md.
# Raw outputs stay in build/bench/<date> (build/bench/latest points there).
# LOYALTYD=path uses that binary instead of building one.
# The cluster and the daemon are stopped on every exit path.  With the
# defaults the whole run takes about eight minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

members=100000
duration=10
# purchase_keyed and redeem_keyed are purchase and redeem with a fresh
# Idempotency-Key on every request, as a till sends its writes.
endpoints=balance,purchase,redeem,purchase_keyed,redeem_keyed
threads=
perf_mode=auto
write_doc=1
keep=0
points=1000000
warmup=3
conns=(16 64)
clients=(1 2 4 8)

usage() {
  sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
cmdline="bench/run.sh${*:+ $*}"
while [ $# -gt 0 ]; do
  case "$1" in
    --members) members=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --endpoints) endpoints=${2:?}; shift 2 ;;
    --threads) threads=${2:?}; shift 2 ;;
    --perf) perf_mode=${2:?}; shift 2 ;;
    --no-doc) write_doc=0; shift ;;
    --keep) keep=1; shift ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ $members =~ ^[1-9][0-9]*$ ]] || { echo "--members must be a positive integer" >&2; exit 2; }
[[ $duration =~ ^[1-9][0-9]*$ ]] || { echo "--duration must be whole seconds" >&2; exit 2; }
[[ -z $threads || $threads =~ ^[1-9][0-9]*$ ]] || { echo "--threads must be a positive integer" >&2; exit 2; }
[[ $perf_mode =~ ^(auto|on|off)$ ]] || { echo "--perf must be auto, on or off" >&2; exit 2; }
IFS=, read -r -a eps <<<"$endpoints"
for ep in "${eps[@]}"; do
  [[ $ep =~ ^(balance|purchase|redeem|purchase_keyed|redeem_keyed)$ ]] || { echo "unknown endpoint: $ep" >&2; exit 2; }
done

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ------------------------------------------------------------ build ----
. bench/lib.sh
bench_build bench

bench_workdirs ""
if awk -v n="$(nproc)" '{ exit !($1 > n / 2) }' /proc/loadavg; then
  say "WARNING: load average $loadavg_start on $(nproc) cores: the figures will be low"
fi
perf_pid=
strace_pid=

bench_cleanup_extra() {
  for p in "$perf_pid" "$strace_pid"; do
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
      kill -INT "$p"; wait "$p" 2>/dev/null
    fi
  done
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# -------------------------------------------------------- database -----
say "starting PostgreSQL in $pgdir (durable; pg_stat_statements loaded; autovacuum off)"
# Autovacuum off: left on, it woke on the writes of one run and worked
# through the next (a balance ceiling fell from 24,000 to 19,000/s beside
# it), so a target's two sides were measured under different loads.
# settle() does the same work between the runs instead.
export PG_EXTRA_CONF="shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = 'none'
pg_stat_statements.max = 1000
autovacuum = off
log_line_prefix = '%m [%p] %a '"
bench_pg_start
unset PG_EXTRA_CONF

pss_track() {
  psql_q -c "ALTER SYSTEM SET pg_stat_statements.track = '$1'" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 0.3 # every backend re-reads the setting before its next statement
}
pss_reset() { psql_q -c "SELECT pg_stat_statements_reset()" >/dev/null; }
pss_dump() {
  psql_q -c "SELECT coalesce(json_agg(json_build_object('calls', calls, 'rows', rows,
      'mean_ms', round(mean_exec_time::numeric, 4), 'query', query) ORDER BY calls DESC, query), '[]')
    FROM pg_stat_statements
    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND query !~* 'pg_stat_statements|pg_reload_conf|ALTER SYSTEM'" >"$1"
}
# Before every measured run: what the previous runs wrote is vacuumed and
# analysed, and the dirty pages are on disk, so each run starts from the
# same state and none pays for another's writes.
settle() { psql_q -c "VACUUM (ANALYZE)" -c CHECKPOINT >/dev/null; }
# PostgreSQL's own maintenance, read before and after every measured run:
# the autovacuum and autoanalyze passes finished so far, and the autovacuum
# workers running now.  A run during which the count moved, or with a worker
# running at either end, shared the cluster with it (report.py says which;
# with autovacuum off none should).
autovacuum() {
  psql_q -F ' ' -c "SELECT (SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0)
      FROM pg_stat_all_tables),
    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker')"
}
# The server log with log_statement = 'all' shows every statement in order,
# BEGIN and COMMIT included (pg_stat_statements counts a prepared BEGIN only
# once per connection), with its parameters.
log_capture_start() {
  psql_q -c "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 0.3
  log_offset=$(stat -c %s "$pgdir/server.log")
}
log_capture_stop() { # OUTFILE
  psql_q -c "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 0.3
  tail -c +$((log_offset + 1)) "$pgdir/server.log" >"$1"
}

"$bin" migrate >"$res/migrate.log" 2>&1 || { cat "$res/migrate.log" >&2; exit 1; }
psql_q -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null

say "loading $members members with $points points each"
t0=$(date +%s.%N)
psql_q -v members="$members" -v points="$points" -f bench/load.sql >"$res/load.log"
t1=$(date +%s.%N)
read -r member_min member_max _ < <(sed -n 's/^LOADED //p' "$res/load.log")
if [ "$members" != "$((member_max - member_min + 1))" ]; then
  echo "loaded ids are not contiguous: $member_min..$member_max for $members members" >&2
  exit 1
fi
load_s=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
say "loaded in ${load_s}s (ids mem_$member_min..mem_$member_max)"

admin_key=$("$bin" keys create --role admin --name bench-admin 2>>"$res/keys.log")
pos_key=$("$bin" keys create --role pos --name bench-pos 2>>"$res/keys.log")

# ---------------------------------------------------------- daemon ------
http_port=$(free_port)
base=http://127.0.0.1:$http_port
# Without the daily job: its start-up run (and the autovacuum its writes
# call for) would land in the first wrk run; it is timed by bench/daily.sh.
daemon_args=(serve --no-migrate --no-daily-job --listen "127.0.0.1:$http_port")
[ -n "$threads" ] && daemon_args+=(--threads "$threads")
say "starting loyaltyd on $base"
"$bin" "${daemon_args[@]}" 2>"$res/daemon.log" &
daemon_pid=$!
deadline=$((SECONDS + 30))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)" = 200 ]; do
  kill -0 "$daemon_pid" 2>/dev/null || { tail -20 "$res/daemon.log" >&2; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "loyaltyd not ready in 30 s" >&2; exit 1; }
  sleep 0.1
done
nthreads=$(awk '/^Threads:/ { print $2 }' /proc/"$daemon_pid"/status)

# Two requests on one connection must share it: without keep-alive every
# figure below would measure connection set-up instead.
reuse=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' -H "Authorization: Bearer $pos_key" \
  "$base/v1/members/mem_$member_min" "$base/v1/members/mem_$member_min")
[ "$reuse" = "1 0 " ] || { echo "the daemon does not keep connections alive (connects: $reuse)" >&2; exit 1; }

api() { # METHOD PATH KEY [BODY] -> body on stdout; fails on a non-2xx status
  # IDEM_KEY, when set, is sent as the Idempotency-Key.
  local out status extra=()
  [ -n "${IDEM_KEY:-}" ] && extra=(-H "Idempotency-Key: $IDEM_KEY")
  out=$(curl -s -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $3" "${extra[@]}" \
    -H 'Content-Type: application/json' ${4:+--data "$4"} "$base$2")
  status=${out##*$'\n'}
  out=${out%$'\n'*}
  if [[ $status != 2* ]]; then
    echo "$1 $2 answered $status: $out" >&2
    return 1
  fi
  printf '%s\n' "$out"
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

reward_id=
reward_num=0
if [[ ,$endpoints, == *,redeem* ]]; then
  reward_id=$(api POST /v1/rewards "$admin_key" \
    '{"code":"bench-gift","name":"Benchmark gift","kind":"gift","points_cost":100,"active":true}' |
    json_field id)
  reward_num=${reward_id#rwd_}
  say "reward $reward_id (unlimited stock, 100 points)"
fi

# One request per endpoint before any load, so a missing route or a
# rejected body stops the run here with the daemon's answer.
if [[ ,$endpoints, == *,balance,* ]]; then
  api GET "/v1/members/mem_$member_min/balance" "$pos_key" >"$res/sample-balance.json"
fi
if [[ ,$endpoints, == *,purchase,* ]]; then
  api POST /v1/purchases "$pos_key" "{\"store_id\":\"S001\",\"terminal_id\":\"T01\",
    \"pos_transaction_id\":\"bench-preflight\",\"member_id\":\"mem_$member_min\",
    \"occurred_at\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",
    \"items\":[{\"sku\":\"A1\",\"category\":\"fresh\",\"quantity\":2,\"unit_price\":1250}]}" \
    >"$res/sample-purchase.json"
fi
if [[ ,$endpoints, == *,redeem,* ]]; then
  api POST "/v1/members/mem_$member_min/redemptions" "$pos_key" \
    "{\"reward_id\":\"$reward_id\",\"quantity\":1}" >"$res/sample-redeem.json"
fi

# ------------------------------------------------------------- wrk ------
clk_tck=$(getconf CLK_TCK)
daemon_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' /proc/"$daemon_pid"/stat; }
# The whole cluster's CPU so far: the postmaster's own and that of the
# children it has reaped (cutime, cstime), plus its live children's.
pm_pid=$(head -1 "$pgdir/data/postmaster.pid")
cluster_ticks() {
  {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' /proc/"$pm_pid"/stat
    for p in $(pgrep -P "$pm_pid"); do
      awk '{ sub(/^.*\) /, ""); print $12 + $13 }' /proc/"$p"/stat 2>/dev/null || true
    done
  } | awk '{ s += $1 } END { print s }'
}
# The machine's busy and total ticks, then those spent in interrupts.
busy_ticks() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $7 + $8 }' /proc/stat
}
# Kernel threads (children of kthreadd): among them the file system's
# journal and block I/O workers that a durable commit keeps busy.  Their
# ticks by pid ("pid ticks" lines), into FILE.
kthread_snapshot() { # FILE
  for p in $(pgrep -P 2); do
    awk -v p="$p" '{ sub(/^.*\) /, ""); print p, $12 + $13 }' /proc/"$p"/stat 2>/dev/null || true
  done >"$1"
}
# What kernel threads spent between two snapshots, thread by thread: a
# worker that exits meanwhile takes its ticks out of any plain sum, which
# made the kernel's share come out below zero.  One that started counts
# from zero; one that exited counts for nothing (its last ticks are lost).
kthread_delta() { # BEFORE AFTER
  awk 'NR == FNR { t[$1] = $2; next } { s += $2 - ($1 in t ? t[$1] : 0) } END { print s + 0 }' \
    "$1" "$2"
}
vm_hwm() { awk '/^VmHWM/ { print $2 }' /proc/"$daemon_pid"/status; }
# Groups started and the requests they took (api/gather.h), of the kind
# the endpoint joins: purchase or redemption.
group_counts() { # KIND
  curl -s "$base/metrics" | awk -v k="$1" '$1 == "loyalty_" k "_groups_total" { g = $2 }
    $1 == "loyalty_" k "_group_members_total" { m = $2 } END { print g + 0, m + 0 }'
}
group_kind() { # ENDPOINT
  if [[ $1 == redeem* ]]; then echo redemption; else echo purchase; fi
}

export BENCH_DIR=$root/bench BENCH_TOKEN=$pos_key BENCH_MEMBER_MIN=$member_min \
  BENCH_MEMBER_MAX=$member_max BENCH_REWARD=$reward_id

run_wrk() { # ENDPOINT CONNECTIONS SECONDS TAG OUTFILE
  local keyed=0
  [[ $1 == *_keyed ]] && keyed=1
  # The tag makes POS ids and keys unique per run: purchase and
  # purchase_keyed share a wrk script, and a POS id seen before with
  # another basket is a 409.
  BENCH_TAG="$1-$4-$stamp" BENCH_SEED=$RANDOM BENCH_IDEMPOTENCY=$keyed timeout $(($3 + 30)) \
    /usr/bin/time -o "$5.time" -f 'client_cpu_s %U %S' \
    wrk -t2 -c"$2" -d"$3"s --timeout 5s --latency -s "bench/${1%_keyed}.lua" "$base" >"$5"
}

# A few requests one after the other, for the statement log: the same
# requests the wrk scripts make.
one_request() { # ENDPOINT N
  local m=mem_$((member_min + $2))
  if [[ $1 == *_keyed ]]; then
    IDEM_KEY="seq-$stamp-$1-$2" one_request "${1%_keyed}" "$2"
    return
  fi
  case $1 in
    balance) api GET "/v1/members/$m/balance" "$pos_key" ;;
    purchase) api POST /v1/purchases "$pos_key" "{\"store_id\":\"S001\",\"terminal_id\":\"T01\",
      \"pos_transaction_id\":\"seq-$stamp-$2${IDEM_KEY:+-keyed}\",\"member_id\":\"$m\",
      \"occurred_at\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",
      \"items\":[{\"sku\":\"A1\",\"category\":\"fresh\",\"quantity\":2,\"unit_price\":1250},
      {\"sku\":\"B7\",\"category\":\"grocery\",\"quantity\":1,\"unit_price\":3999},
      {\"sku\":\"C3\",\"category\":\"household\",\"quantity\":3,\"unit_price\":560}]}" ;;
    redeem) api POST "/v1/members/$m/redemptions" "$pos_key" "{\"reward_id\":\"$reward_id\",\"quantity\":1}" ;;
  esac
}

# Warm-up: caches, prepared statements, and what the daemon really sends.
pss_reset
for ep in "${eps[@]}"; do
  log_capture_start
  for i in 1 2 3; do one_request "$ep" "$i" >"$res/seq-$ep-$i.json"; done
  log_capture_stop "$res/seq-daemon-$ep.log"
  say "warm-up and statement capture: $ep (${warmup}s)"
  pss_track top
  pss_reset
  run_wrk "$ep" 16 "$warmup" "warm" "$res/warm-$ep.txt"
  pss_track none
  pss_dump "$res/stmts-daemon-$ep.json"
done

for ep in "${eps[@]}"; do
  for c in "${conns[@]}"; do
    settle
    say "wrk $ep -c$c ${duration}s"
    a_before=$(autovacuum)
    t_before=$(daemon_ticks); p_before=$(cluster_ticks); kthread_snapshot "$res/kt.before"
    b_before=$(busy_ticks); read -r g_before m_before < <(group_counts "$(group_kind "$ep")")
    run_wrk "$ep" "$c" "$duration" "c$c" "$res/wrk-$ep-$c.txt"
    t_after=$(daemon_ticks); p_after=$(cluster_ticks); kthread_snapshot "$res/kt.after"
    b_after=$(busy_ticks); read -r g_after m_after < <(group_counts "$(group_kind "$ep")")
    {
      echo "daemon_ticks $t_before $t_after"
      echo "postgres_ticks $p_before $p_after"
      echo "kthread_ticks 0 $(kthread_delta "$res/kt.before" "$res/kt.after")"
      echo "busy_ticks $b_before $b_after"
      echo "vm_hwm_kb $(vm_hwm)"
      echo "autovacuum $a_before $(autovacuum)"
      echo "groups $g_before $g_after"
      echo "group_members $m_before $m_after"
    } >"$res/cpu-$ep-$c.txt"
  done
done
# Mixed load, as in a shop on a Saturday: the app's balance reads while the
# tills post purchases, both at 16 connections at once.  Not a target of
# its own: it shows whether reads wait behind writes (a worker that slept
# in a purchase's statements would hold up every read it serves).
if [[ ,$endpoints, == *,balance,* && ,$endpoints, == *,purchase,* ]]; then
  settle
  say "wrk balance -c16 and purchase -c16 at once, ${duration}s"
  run_wrk purchase 16 "$duration" mixp "$res/wrk-mixed-purchase.txt" &
  mixed_pid=$!
  run_wrk balance 16 "$duration" mixb "$res/wrk-mixed-balance.txt"
  wait "$mixed_pid"
fi
hwm_kb=$(vm_hwm)

# ---------------------------------------------------------- pgbench -----
# pgbench logs the latency of one transaction in ten (OUTFILE.lat.*), so
# that report.py can set its percentiles beside the daemon's.
pgbench_run() { # SCRIPT CLIENTS OUTFILE [pgbench options...]
  local script=$1 c=$2 out=$3
  shift 3
  timeout $((duration + 60)) /usr/bin/time -o "$out.time" -f 'client_cpu_s %U %S' \
    "$PGBIN/pgbench" -n -M prepared -c "$c" -j $((c < 2 ? c : 2)) \
    -l --sampling-rate=0.1 --log-prefix="$out.lat" \
    -h "$pgdir" -p "$pgport" -U loyalty \
    -D member_min="$member_min" -D member_max="$member_max" -D reward_id="$reward_num" \
    "${pgbench_vars[@]}" -f "bench/pgbench/$script.sql" "$@" loyalty >"$out" 2>&1 ||
    { tail -5 "$out" >&2; say "pgbench failed (above); report.py will say what is missing"; }
}
# What the daemon binds besides the ids: the default rule set's time zone,
# tier window, grace and ladder, and for a purchase the basket of
# purchase.lua (its arrays, and the response stored with the purchase: the
# one the daemon gave for the same basket).
pgbench_vars=(-D tz=Asia/Shanghai -D window=365 -D grace=30 -D tiers='{basic,silver,gold}'
  -D mins='{0,200000,1000000}' -D expiry_months=12 -D pending_days=0
  -D kinds_redeem='{redeem}' -D spend_moves='{-100}')
if [[ ,$endpoints, == *,purchase* ]]; then
  sample=$res/seq-purchase-1.json
  [ -f "$sample" ] || sample=$res/seq-purchase_keyed-1.json
  pgbench_vars+=(-D store=S001 -D terminal=T01 -D occurred_at="$(date -u '+%Y-%m-%d %H:%M:%S+00')"
    -D tier=basic -D tier_after=basic -D tier_changed=f -D bonus_points=0 -D referral_granted=f
    -D spend_after=8179 -D kinds_earn='{earn}' -D earn_points='{106}'
    -D skus='{A1,B7,C3}' -D categories='{fresh,grocery,household}' -D quantities='{2,1,3}'
    -D unit_prices='{1250,3999,560}' -D amounts='{2500,3999,1680}' -D discounts='{0,0,0}'
    -D redeemed_shares='{0,0,0}' -D net_spends='{2500,3999,1680}' -D line_points='{50,40,16}'
    -D request_hash="$(sha256sum "$sample" | cut -c1-64)" -D result="$(cat "$sample")")
fi
# A keyed script claims its key as the daemon claimed the first one_request's:
# the same scope, method, path and request hash, and stores the same answer.
for ep in purchase_keyed redeem_keyed; do
  [[ ,$endpoints, == *,$ep,* ]] || continue
  IFS='|' read -r scope key_path key_hash < <(psql_q -F '|' -c "SELECT scope, path,
    encode(request_hash, 'hex') FROM idempotency_keys WHERE key = 'seq-$stamp-$ep-1'") ||
    { echo "no idempotency record of $ep's first request" >&2; exit 1; }
  pgbench_vars+=(-D scope="$scope" -D method=POST -D key_path_${ep%_keyed}="$key_path"
    -D key_hash_${ep%_keyed}="\\x$key_hash" -D key_answer_${ep%_keyed}="$(cat "$res/seq-$ep-1.json")")
done

for ep in "${eps[@]}"; do
  say "pgbench statement capture: $ep"
  log_capture_start
  pgbench_run "$ep" 1 "$res/pgseq-$ep.txt" -t 3
  log_capture_stop "$res/seq-pgbench-$ep.log"
  pss_track top
  pss_reset
  pgbench_run "$ep" 1 "$res/pgcap-$ep.txt" -t 500
  pss_track none
  pss_dump "$res/stmts-pgbench-$ep.json"
  for c in "${clients[@]}"; do
    settle
    say "pgbench $ep -c$c ${duration}s"
    nchildren=$(pgrep -c -P "$pm_pid")
    a_before=$(autovacuum)
    p_before=$(cluster_ticks); kthread_snapshot "$res/kt.before"; b_before=$(busy_ticks)
    pgbench_run "$ep" "$c" "$res/pgbench-$ep-$c.txt" -T "$duration"
    # pgbench's backends exit after it does; their CPU is the postmaster's
    # (cutime) only once they are reaped.
    for _ in $(seq 50); do [ "$(pgrep -c -P "$pm_pid")" -gt "$nchildren" ] || break; sleep 0.1; done
    p_after=$(cluster_ticks); kthread_snapshot "$res/kt.after"; b_after=$(busy_ticks)
    {
      echo "postgres_ticks $p_before $p_after"
      echo "kthread_ticks 0 $(kthread_delta "$res/kt.before" "$res/kt.after")"
      echo "busy_ticks $b_before $b_after"
      echo "autovacuum $a_before $(autovacuum)"
    } >"$res/pgcpu-$ep-$c.txt"
  done
done

# ------------------------------------------------------------ meta ------
{
  echo "command=$cmdline"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "members=$members"
  echo "duration=$duration"
  echo "endpoints=$endpoints"
  echo "connections=${conns[*]}"
  echo "clients=${clients[*]}"
  echo "load_seconds=$load_s"
  echo "loadavg_at_start=$loadavg_start"
  echo "clk_tck=$clk_tck"
  echo "vm_hwm_kb=$hwm_kb"
  echo "daemon_threads_flag=${threads:-default}"
  echo "daemon_os_threads=$nthreads"
  echo "nproc=$(nproc)"
  echo "cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "mem_total_kb=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)"
  echo "kernel=$(uname -sr)"
  echo "os=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release)"
  echo "postgres=$(psql_q -c 'SHOW server_version')"
  echo "pg_settings=$(psql_q -c "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings
    WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_sync_method', 'full_page_writes',
                   'max_wal_size', 'checkpoint_timeout', 'autovacuum')")"
  echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')"
  echo "commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo '+uncommitted')"
} >"$res/meta.env"

# ------------------------------------------------------------- perf -----
profile=0
if [ "$perf_mode" = on ]; then
  profile=1
elif [ "$perf_mode" = auto ] && ! python3 bench/report.py "$res" --quiet; then
  profile=1
fi
if [ "$profile" = 1 ] && command -v perf >/dev/null; then
  for ep in balance purchase; do
    [[ ,$endpoints, == *,$ep,* ]] || continue
    say "perf record -g on the daemon during wrk $ep -c64 ${duration}s (not counted)"
    perf record -g -F 999 -p "$daemon_pid" -o "$res/perf-$ep.data" -- sleep $((duration + 1)) \
      >"$res/perf-$ep.log" 2>&1 &
    perf_pid=$!
    sleep 0.5
    run_wrk "$ep" 64 "$duration" "perf" "$res/wrk-perf-$ep.txt"
    wait "$perf_pid" || true
    perf_pid=
    perf report -i "$res/perf-$ep.data" --stdio --no-children --sort dso,symbol \
      --percent-limit 0.7 -g none 2>/dev/null | grep -v '^$' >"$res/perf-$ep.txt" || true
    perf report -i "$res/perf-$ep.data" --stdio --no-children --sort dso \
      -g none 2>/dev/null | grep -v '^$' >"$res/perf-dso-$ep.txt" || true
    rm -f "$res/perf-$ep.data"
    # System calls per request: strace slows the daemon down a lot, but
    # the counts per request stay what they are.
    if command -v strace >/dev/null; then
      say "strace -c on the daemon during wrk $ep -c16 ${warmup}s (not counted)"
      strace -c -f -p "$daemon_pid" -o "$res/strace-$ep.txt" 2>/dev/null &
      strace_pid=$!
      sleep 1
      run_wrk "$ep" 16 "$warmup" "strace" "$res/wrk-strace-$ep.txt"
      kill -INT "$strace_pid"
      wait "$strace_pid" || true
      strace_pid=
    fi
  done
fi

# ------------------------------------------------------- invariant ------
# How the tables took the writes (HOT updates of members, dead rows).
psql_q -F ' ' -c "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_dead_tup
  FROM pg_stat_user_tables ORDER BY relname" >"$res/tables.txt"
say "loyaltyd check"
if "$bin" check >"$res/check.txt" 2>&1; then echo "ok" >>"$res/check.txt"; else echo "FAILED" >>"$res/check.txt"; fi

# ---------------------------------------------------------- report ------
for ep in "${eps[@]}"; do
  echo "== statements the daemon issued for $ep (warm-up; calls, mean ms, text)"
  python3 -c 'import json,sys
for s in json.load(open(sys.argv[1])): print("%8d %8.3f  %s" % (s["calls"], s["mean_ms"], " ".join(s["query"].split())))' \
    "$res/stmts-daemon-$ep.json"
done
report_args=("$res")
[ "$write_doc" = 1 ] && report_args+=(--write docs/performance.md)
python3 bench/report.py "${report_args[@]}" || true
say "raw outputs: $res"
