#!/usr/bin/env bash
# bench/insight.sh - the insight snapshot and reports benchmark (issue 6):
#   bench/insight.sh [--members N] [--per-member K] [--keep]
#
# In one run, on this machine only (127.0.0.1 and unix sockets):
#   1. builds the release binary (build/release) and starts a durable
#      PostgreSQL cluster of its own in a temporary folder (.ci/pg.sh);
#   2. migrates and bulk-loads N members (default 1,000,000) with about K
#      purchases each (default 10: ten million), bench/insight_load.sql;
#   3. starts loyaltyd without its scheduler and runs POST /v1/jobs/daily for
#      today: the daemon's log line gives the snapshot refresh's own seconds
#      (insight_seconds) besides the whole run's;
#   4. times each report (segments, lifecycle, concentration, each with a
#      store filter, and kpis of the last whole month) with curl, 5 calls
#      each, and keeps the median.
# Prints the figures and the verdict (refresh < 60 s, every report from the
# snapshot < 100 ms);
# raw outputs stay in build/bench/insight-<stamp> (insight-latest points
# there).  LOYALTYD=path uses that binary instead of building one.  The
# cluster and the daemon are stopped on every exit path.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

members=1000000
per_member=10
keep=0
usage() {
  sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
cmdline="bench/insight.sh${*:+ $*}"
while [ $# -gt 0 ]; do
  case "$1" in
    --members) members=${2:?}; shift 2 ;;
    --per-member) per_member=${2:?}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ $members =~ ^[1-9][0-9]*$ ]] || { echo "--members must be a positive integer" >&2; exit 2; }
[[ $per_member =~ ^[1-9][0-9]*$ ]] || { echo "--per-member must be a positive integer" >&2; exit 2; }
day=$(TZ=Asia/Shanghai date +%Y-%m-%d)

say() { printf '[insight %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ------------------------------------------------------------ build ----
. bench/lib.sh
bench_build run

bench_workdirs insight

trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# -------------------------------------------------------- database -----
say "starting PostgreSQL in $pgdir (durable)"
bench_pg_start

"$bin" migrate >"$res/migrate.log" 2>&1 || { cat "$res/migrate.log" >&2; exit 1; }
say "loading $members members, about $per_member purchases each"
t0=$(date +%s.%N)
psql_q -v members="$members" -v per_member="$per_member" -v day="$day" \
  -f bench/insight_load.sql >"$res/load.log"
t1=$(date +%s.%N)
load_s=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
sizes=$(psql_q -F ' ' -c "SELECT (SELECT count(*) FROM members), (SELECT count(*) FROM purchases)")
read -r n_members n_purchases <<<"$sizes"
say "loaded $n_members members and $n_purchases purchases in ${load_s}s"

admin_key=$("$bin" keys create --role admin --name insight-admin 2>>"$res/keys.log")

# ---------------------------------------------------------- daemon ------
http_port=$(free_port)
base=http://127.0.0.1:$http_port
"$bin" serve --no-migrate --no-daily-job --listen "127.0.0.1:$http_port" 2>"$res/daemon.log" &
daemon_pid=$!
deadline=$((SECONDS + 30))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)" = 200 ]; do
  kill -0 "$daemon_pid" 2>/dev/null || { tail -20 "$res/daemon.log" >&2; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "loyaltyd not ready in 30 s" >&2; exit 1; }
  sleep 0.1
done

say "POST /v1/jobs/daily {\"date\":\"$day\"} (refreshes the snapshot)"
read -r job_status job_secs < <(curl -s -o "$res/job.json" --max-time 900 \
  -w '%{http_code} %{time_total}\n' -X POST -H "Authorization: Bearer $admin_key" \
  -H 'Content-Type: application/json' --data "{\"date\":\"$day\"}" "$base/v1/jobs/daily")
[ "$job_status" = 200 ] || { echo "daily job answered $job_status: $(cat "$res/job.json")" >&2; exit 1; }
job_line=$(grep -h '"daily job done"' "$res/daemon.log" | tail -1)
refresh_s=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["insight_seconds"])' \
  "{${job_line#*\{}")
snapshot=$(psql_q -F ' ' -c "SELECT members, buyers, recency_threshold, frequency_threshold,
  monetary_threshold FROM insight_snapshots WHERE snapshot_date = '$day'")

# ---------------------------------------------------------- reports -----
median_ms() { # PATH -> median of 5 calls in ms (one warm-up call first)
  local t=()
  curl -s -o "$res/report.out" -H "Authorization: Bearer $admin_key" "$base$1"
  for _ in 1 2 3 4 5; do
    t+=("$(curl -s -o "$res/report.out" -w '%{time_total}' -H "Authorization: Bearer $admin_key" \
      "$base$1")")
  done
  python3 -c 'import statistics,sys; print(f"{statistics.median(map(float, sys.argv[1:])) * 1000:.1f}")' "${t[@]}"
}
verdict=ok
python3 -c "import sys; sys.exit(0 if float('$refresh_s') < 60 else 1)" || verdict=SLOW
reports=()
# The kpis report of the last whole month is timed too, outside the
# verdict: it reads that month's purchases (through purchases_occurred_range)
# and every member's balance now, not the snapshot.
month_from=$(date -d "$(date -d "$day" +%Y-%m-01) -1 month" +%Y-%m-%d)
month_to=$(date -d "$(date -d "$day" +%Y-%m-01) -1 day" +%Y-%m-%d)
for path in /v1/reports/segments /v1/reports/lifecycle /v1/reports/concentration \
  '/v1/reports/segments?store_id=S007' '/v1/reports/lifecycle?tier=gold' \
  '/v1/reports/concentration?store_id=S007' "/v1/reports/kpis?from=$month_from&to=$month_to"; do
  ms=$(median_ms "$path")
  cp "$res/report.out" "$res/$(echo "$path" | tr '/?=&' '____').json"
  reports+=("$path ${ms}ms")
  if [[ $path != /v1/reports/kpis* ]]; then
    python3 -c "import sys; sys.exit(0 if $ms < 100 else 1)" || verdict=SLOW
  fi
  say "$path: ${ms} ms"
done

{
  echo "command=$cmdline"
  echo "date_run=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "snapshot_date=$day"
  echo "members=$n_members purchases=$n_purchases"
  echo "load_seconds=$load_s"
  echo "daily_job: status=$job_status seconds=$job_secs"
  echo "refresh_seconds=$refresh_s"
  echo "snapshot: members buyers recency frequency monetary thresholds = $snapshot"
  for r in "${reports[@]}"; do echo "report_median: $r"; done
  echo "loadavg_at_start=$loadavg_start"
  echo "nproc=$(nproc)"
  echo "cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "postgres=$(psql_q -c 'SHOW server_version')"
  echo "commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo '+uncommitted')"
  echo "verdict=$verdict"
} | tee "$res/summary.txt"
