#!/usr/bin/env bash
# bench/daily.sh - the daily job's benchmark (issue 5), in one command:
#   bench/daily.sh [--members N] [--date YYYY-MM-DD] [--keep]
#
# In one run, on this machine only (127.0.0.1 and unix sockets):
#   1. builds the release binary (build/release) and starts a durable
#      PostgreSQL cluster of its own in a temporary folder (.ci/pg.sh);
#   2. migrates and bulk-loads N members (default 1,000,000) as they stand
#      on the morning of the date (default: today in Asia/Shanghai), with
#      bench/daily_load.sql: birthdays spread over the year, lots of which 5%
#      expire on the date, 2% of members with points pending until it, 10%
#      in upper tiers with purchases, of whom a tenth drop on the date;
#   3. starts loyaltyd without its scheduler (--no-daily-job, so the timed
#      request is the first run) and times POST /v1/jobs/daily for the date,
#      then a second run of the same date (which owes nothing);
#   4. checks the counts against what the load implies, and the ledger
#      invariants (`loyaltyd check`).
# Prints the counts, the seconds and the verdict; raw outputs stay in
# build/bench/daily-<date> (build/bench/daily-latest points there).
# LOYALTYD=path uses that binary instead of building one.  The cluster and
# the daemon are stopped on every exit path.  With a million members the
# run takes about five minutes, most of it loading.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

members=1000000
day=
keep=0

usage() {
  sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
cmdline="bench/daily.sh${*:+ $*}"
while [ $# -gt 0 ]; do
  case "$1" in
    --members) members=${2:?}; shift 2 ;;
    --date) day=${2:?}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ $members =~ ^[1-9][0-9]*$ ]] || { echo "--members must be a positive integer" >&2; exit 2; }
[[ -z $day || $day =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || { echo "--date must be YYYY-MM-DD" >&2; exit 2; }
[ -n "$day" ] || day=$(TZ=Asia/Shanghai date +%Y-%m-%d)

say() { printf '[daily %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ------------------------------------------------------------ build ----
. bench/lib.sh
bench_build run

bench_workdirs daily

trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# -------------------------------------------------------- database -----
say "starting PostgreSQL in $pgdir (durable)"
bench_pg_start

"$bin" migrate >"$res/migrate.log" 2>&1 || { cat "$res/migrate.log" >&2; exit 1; }
say "loading $members members for $day"
t0=$(date +%s.%N)
psql_q -v members="$members" -v day="$day" -f bench/daily_load.sql >"$res/load.log"
t1=$(date +%s.%N)
load_s=$(python3 -c "print(f'{$t1 - $t0:.1f}')")
say "loaded in ${load_s}s"

# What the load implies for the date (daily_load.sql says why).
expected=$(psql_q -F ' ' -c "
  SELECT (SELECT count(*) FROM members WHERE status = 'active' AND
          (to_char(birthday, 'MM-DD') = to_char('$day'::date, 'MM-DD')
           OR (to_char(birthday, 'MM-DD') = '02-29' AND to_char('$day'::date, 'MM-DD') = '02-28'
               AND to_char('$day'::date + 1, 'MM-DD') = '03-01'))),
         200 * (SELECT count(*) FROM members WHERE id % 50 = 0),
         1000 * (SELECT count(*) FROM members WHERE id % 20 = 0),
         (SELECT count(*) FROM members WHERE id % 100 = 0)")
read -r exp_gifts exp_released exp_expired exp_downgrades <<<"$expected"
sizes=$(psql_q -F ' ' -c "SELECT (SELECT count(*) FROM members), (SELECT count(*) FROM point_lots),
  (SELECT count(*) FROM purchases), (SELECT count(*) FROM ledger_entries)")
read -r n_members n_lots n_purchases n_entries <<<"$sizes"

admin_key=$("$bin" keys create --role admin --name daily-admin 2>>"$res/keys.log")

# ---------------------------------------------------------- daemon ------
http_port=$(free_port)
base=http://127.0.0.1:$http_port
say "starting loyaltyd on $base (--no-daily-job)"
"$bin" serve --no-migrate --no-daily-job --listen "127.0.0.1:$http_port" 2>"$res/daemon.log" &
daemon_pid=$!
deadline=$((SECONDS + 30))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)" = 200 ]; do
  kill -0 "$daemon_pid" 2>/dev/null || { tail -20 "$res/daemon.log" >&2; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "loyaltyd not ready in 30 s" >&2; exit 1; }
  sleep 0.1
done

run_job() { # OUTFILE -> prints "status seconds"
  curl -s -o "$1" --max-time 600 -w '%{http_code} %{time_total}\n' -X POST \
    -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
    --data "{\"date\":\"$day\"}" "$base/v1/jobs/daily"
}
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

say "POST /v1/jobs/daily {\"date\":\"$day\"}"
read -r status1 secs1 < <(run_job "$res/run1.json")
[ "$status1" = 200 ] || { echo "first run answered $status1: $(cat "$res/run1.json")" >&2; exit 1; }
say "second run of the same date"
read -r status2 secs2 < <(run_job "$res/run2.json")
[ "$status2" = 200 ] || { echo "second run answered $status2: $(cat "$res/run2.json")" >&2; exit 1; }

verdict=ok
got="$(json_field "$res/run1.json" birthday_gifts) $(json_field "$res/run1.json" released)"
got+=" $(json_field "$res/run1.json" expired_points) $(json_field "$res/run1.json" downgrades)"
want="$exp_gifts $exp_released $exp_expired $exp_downgrades"
[ "$got" = "$want" ] || { verdict="FAILED"; echo "counts: got $got, want $want" >&2; }
again="$(json_field "$res/run2.json" birthday_gifts) $(json_field "$res/run2.json" released)"
again+=" $(json_field "$res/run2.json" expired_points) $(json_field "$res/run2.json" downgrades)"
[ "$again" = "0 0 0 0" ] || { verdict="FAILED"; echo "second run did $again" >&2; }

say "loyaltyd check"
if "$bin" check >"$res/check.txt" 2>&1; then check=ok; else check=FAILED; verdict=FAILED; fi

{
  echo "command=$cmdline"
  echo "date_run=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "job_date=$day"
  echo "members=$n_members lots=$n_lots purchases=$n_purchases ledger_entries=$n_entries"
  echo "load_seconds=$load_s"
  echo "first_run: status=$status1 seconds=$secs1 $(cat "$res/run1.json")"
  echo "second_run: status=$status2 seconds=$secs2 $(cat "$res/run2.json")"
  echo "expected: birthday_gifts released expired_points downgrades = $want"
  echo "daemon_log: $(grep -h '"daily job done"' "$res/daemon.log" | head -1)"
  echo "check=$check"
  echo "loadavg_at_start=$loadavg_start"
  echo "nproc=$(nproc)"
  echo "cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "mem_total_kb=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)"
  echo "postgres=$(psql_q -c 'SHOW server_version')"
  echo "pg_settings=$(psql_q -c "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name)
    FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'max_wal_size')")"
  echo "commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo '+uncommitted')"
  echo "verdict=$verdict"
} | tee "$res/summary.txt"
[ "$verdict" = ok ]
