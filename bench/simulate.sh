#!/usr/bin/env bash
# bench/simulate.sh - POST /v1/rules/simulate over many recorded purchases
# (issue 4 item 6: 100,000 purchases in under 5 seconds on this machine):
#   bench/simulate.sh [--purchases N] [--lines L] [--members M] [--runs R] [--keep]
#
# 1. builds the release binary (build/release) unless LOYALTYD=path names one;
# 2. starts a throwaway PostgreSQL cluster (.ci/pg.sh) in a temporary folder,
#    migrates it and loads M members and N purchases of L lines each with
#    set-based SQL (below): ten stores, three tiers, one purchase in a hundred
#    with a coupon, spread over the last 360 days;
# 3. starts loyaltyd and simulates, R times, the default rule set with other
#    numbers (fresh x3, a promotion on weekends) over the last 366 days: every
#    purchase; each run must answer 200 with `purchases` = N;
# 4. prints each run's seconds (curl's time_total, end to end) and the CPU
#    seconds of the daemon and of the cluster (utime + stime of its processes
#    in /proc), the daemon's peak RSS, then one line for docs/performance.md
#    with the median.
# The daemon and the cluster are stopped and the folder removed on every exit
# path (--keep keeps the folder).  Defaults: N=100000, L=3, M=N/10, R=3.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

purchases=100000
lines=3
members=
runs=3
keep=0
usage() {
  sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --purchases) purchases=${2:?}; shift 2 ;;
    --lines) lines=${2:?}; shift 2 ;;
    --members) members=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
members=${members:-$(( (purchases + 9) / 10 ))}
for v in "$purchases" "$lines" "$members" "$runs"; do
  [[ $v =~ ^[1-9][0-9]*$ ]] || { echo "counts must be positive integers" >&2; exit 2; }
done
[ "$lines" -le 500 ] || { echo "--lines must be at most 500" >&2; exit 2; }

say() { printf '[simulate %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

# ------------------------------------------------------------ build ----
if [ -z "${LOYALTYD:-}" ]; then
  say "building build/release"
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
  cmake --build build/release -j"$(nproc)" --target loyaltyd >/dev/null
  LOYALTYD=$root/build/release/loyaltyd
fi

# ------------------------------------------------------- the cluster ----
tmp=$(mktemp -d /tmp/loyalty-simulate.XXXXXX)
chmod 755 "$tmp"
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  .ci/pg.sh stop "$tmp/pg" || true
  if [ "$keep" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# Nothing here needs durability: the benchmark only reads.
db=$(PG_EXTRA_CONF=$'fsync = off\nsynchronous_commit = off\nfull_page_writes = off' \
  .ci/pg.sh start "$tmp/pg" "$(free_port)")
psql_db() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
DATABASE_URL=$db LOYALTY_SQL_DIR=$root/sql/migrations LOYALTY_LOG_LEVEL=warn \
  "$LOYALTYD" migrate >/dev/null

say "loading $members members and $purchases purchases of $lines lines"
t0=$(date +%s.%N)
psql_db -v members="$members" -v purchases="$purchases" -v lines="$lines" <<'SQL'
BEGIN;
INSERT INTO members (card_number, name, birthday, tier, points_balance, referral_code,
                     enrolled_at, updated_at)
SELECT '7' || lpad(g::text, 15, '0'), 'Simulated member ' || g,
       CASE WHEN g % 5 = 0 THEN NULL ELSE date '1960-01-01' + (g::bigint * 7919 % 18000)::int END,
       (ARRAY['basic', 'silver', 'gold'])[1 + g % 3], 0, 'S' || lpad(g::text, 9, '0'),
       now() - interval '800 days', now() - interval '800 days'
FROM generate_series(1, :members) AS g;

-- Coupon codes: the purchase number in base 31, in the coupon alphabet.
CREATE FUNCTION pg_temp.coupon_code(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT substr(c, 1, 4) || '-' || substr(c, 5, 4) || '-' || substr(c, 9, 5)
  FROM (SELECT string_agg(substr('23456789ABCDEFGHJKMNPQRSTUVWXYZ',
                                 (floor(n / 31::numeric ^ i)::bigint % 31 + 1)::int, 1), '' ORDER BY i) AS c
        FROM generate_series(0, 12) AS i) s
$$;

INSERT INTO rewards (code, name, kind, points_cost, discount_value, active)
VALUES ('bench-five-off', 'Five off', 'discount', 100, 500, true);

CREATE TEMPORARY TABLE sim_lines ON COMMIT DROP AS
SELECT p, l,
       (ARRAY['fresh', 'dry', 'dairy', 'tobacco', 'bakery'])[1 + (p * 7 + l * 3) % 5] AS category,
       1 + (p + l) % 3 AS quantity,
       100 + (p * 37 + l * 101) % 9000 AS unit_price
FROM generate_series(1, :purchases) AS p, generate_series(1, :lines) AS l;

CREATE TEMPORARY TABLE sim_purchases ON COMMIT DROP AS
SELECT p, nextval('purchase_ids') AS id,
       (SELECT min(id) FROM members) + (p::bigint * 7919) % :members AS member_id,
       sum(quantity * unit_price) AS subtotal,
       sum(CASE WHEN category = 'tobacco' THEN 0 ELSE quantity * unit_price END) AS net_spend,
       sum(CASE WHEN category = 'tobacco' THEN 0 ELSE quantity * unit_price / 100 END) AS points
FROM sim_lines GROUP BY p;

INSERT INTO purchases (member_id, id, store_id, terminal_id, pos_transaction_id, occurred_at,
                       subtotal, discount_total, redeemed_value, total_due, points_earned,
                       points_redeemed, net_spend, tier_before, tier_after, rules_version,
                       coupon_code, request_hash, result)
SELECT s.member_id, s.id, 'S' || lpad((s.p % 10)::text, 3, '0'), 'T01', 'SIM-' || s.p,
       now() - interval '360 days' + s.p * (interval '359 days' / :purchases),
       s.subtotal, 0, 0, s.subtotal, s.points, 0, s.net_spend,
       (ARRAY['basic', 'silver', 'gold'])[1 + s.member_id % 3],
       (ARRAY['basic', 'silver', 'gold'])[1 + s.member_id % 3], 1,
       CASE WHEN s.p % 100 = 0 THEN pg_temp.coupon_code(s.p) END,
       sha256(s.p::text::bytea), '{}'
FROM sim_purchases s;

INSERT INTO purchase_lines (member_id, purchase_id, line_no, sku, category, quantity, unit_price,
                            amount, discount, redeemed_share, net_spend, points)
SELECT s.member_id, s.id, l.l, 'SKU-' || l.p || '-' || l.l, l.category, l.quantity, l.unit_price,
       l.quantity * l.unit_price, 0, 0,
       CASE WHEN l.category = 'tobacco' THEN 0 ELSE l.quantity * l.unit_price END,
       CASE WHEN l.category = 'tobacco' THEN 0 ELSE l.quantity * l.unit_price / 100 END
FROM sim_lines l JOIN sim_purchases s USING (p);

INSERT INTO pos_transactions (store_id, pos_transaction_id, member_id, purchase_id)
SELECT store_id, pos_transaction_id, member_id, id FROM purchases;

-- The coupons those purchases used, each with its redemption (ids = the purchase's number).
INSERT INTO redemptions (member_id, id, reward_id, quantity, points_spent, balance_after, status,
                         created_at, used_at)
OVERRIDING SYSTEM VALUE
SELECT s.member_id, s.p, (SELECT id FROM rewards WHERE code = 'bench-five-off'), 1, 100, 0,
       'used', now() - interval '400 days', now() - interval '400 days'
FROM sim_purchases s WHERE s.p % 100 = 0;
INSERT INTO coupons (member_id, id, redemption_id, code, status, purchase_id, created_at, used_at)
OVERRIDING SYSTEM VALUE
SELECT s.member_id, s.p, s.p, pg_temp.coupon_code(s.p), 'used', s.id,
       now() - interval '400 days', now() - interval '400 days'
FROM sim_purchases s WHERE s.p % 100 = 0;
COMMIT;
VACUUM (ANALYZE) members, purchases, purchase_lines, pos_transactions, redemptions, coupons;
CHECKPOINT;
SQL
load_s=$(python3 -c "print('%.1f' % ($(date +%s.%N) - $t0))")
say "loaded in $load_s s"

# -------------------------------------------------------- the daemon ----
port=$(free_port)
key="lk_bench_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
DATABASE_URL=$db LOYALTY_ADMIN_KEY=$key LOYALTY_SQL_DIR=$root/sql/migrations \
  LOYALTY_LOG_LEVEL=warn "$LOYALTYD" serve --listen "127.0.0.1:$port" \
  >"$tmp/loyaltyd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 200); do
  if curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$tmp/loyaltyd.log" >&2; exit 1; }
  sleep 0.05
done
curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "loyaltyd not ready" >&2; exit 1; }

# The draft: the active (default) rule set with other numbers, over 366 days to now.
curl -fs -H "Authorization: Bearer $key" "http://127.0.0.1:$port/v1/rules" >"$tmp/rules.json"
python3 - "$tmp/rules.json" "$tmp/body.json" <<'PY'
import datetime, json, sys
rules = json.load(open(sys.argv[1]))["rules"]
rules["earn"]["category_multipliers"]["fresh"] = 3
rules["promotions"] = [{
    "code": "weekend", "multiplier": 2, "bonus_points": 10, "discount_pct": 1,
    "starts_at": "2000-01-01T00:00:00Z", "ends_at": "2100-01-01T00:00:00Z",
    "when": {"all": [{"fact": "purchase.weekday", "op": "in", "value": ["sat", "sun"]},
                     {"fact": "member.purchase_count", "op": ">=", "value": 1}]},
    "categories": ["dairy", "bakery"]}]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
body = {"rules": rules, "from": (now - datetime.timedelta(days=366)).isoformat(),
        "to": now.isoformat()}
json.dump(body, open(sys.argv[2], "w"))
PY

# utime + stime in seconds of a process and its children (the cluster: the postmaster's).
cpu_of() {
  local total=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}
postmaster=$(head -1 "$tmp/pg/data/postmaster.pid")
cluster_cpu() {
  local children
  mapfile -t children < <(pgrep -P "$postmaster" || true)
  cpu_of "$postmaster" "${children[@]}"
}
hz=$(getconf CLK_TCK)

say "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
times=()
for i in $(seq 1 "$runs"); do
  d0=$(cpu_of "$daemon_pid")
  p0=$(cluster_cpu)
  out=$(curl -s -o "$tmp/answer.json" -w '%{http_code} %{time_total}' \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    --data-binary @"$tmp/body.json" --max-time 120 "http://127.0.0.1:$port/v1/rules/simulate")
  d1=$(cpu_of "$daemon_pid")
  p1=$(cluster_cpu)
  status=${out%% *}
  secs=${out#* }
  if [ "$status" != 200 ]; then
    echo "run $i answered $status:" >&2
    cat "$tmp/answer.json" >&2
    exit 1
  fi
  got=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['purchases'])" \
    "$tmp/answer.json")
  [ "$got" = "$purchases" ] || { echo "run $i simulated $got purchases, not $purchases" >&2; exit 1; }
  awk -v i="$i" -v s="$secs" -v d="$((d1 - d0))" -v p="$((p1 - p0))" -v hz="$hz" 'BEGIN {
    printf "run %d: %.2f s (daemon CPU %.2f s, PostgreSQL CPU %.2f s)\n", i, s, d / hz, p / hz }'
  times+=("$secs")
done
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('answer: purchases %d, refused %d, points %s, discount %s, %d tiers, %d stores' % (d['purchases'], d['refused'], d['points'], d['discount'], len(d['by_tier']), len(d['by_store'])))" "$tmp/answer.json"

hwm=$(awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$daemon_pid/status")
echo "daemon peak RSS (VmHWM): $hwm MiB"
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')
all=$(printf '%s\n' "${times[@]}" | awk '{printf "%s%.2f", (NR > 1 ? " / " : ""), $1}')
verdict=$(awk -v m="$median" 'BEGIN {print (m < 5 ? "met" : "MISSED")}')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit+uncommitted"; fi
# shellcheck disable=SC2016 # the backquotes are Markdown
printf -- '- %s: `POST /v1/rules/simulate` over %s purchases of %s lines (%s members, one in a hundred with a coupon), the whole window in one request: **%.2f s** end to end, median of %d runs (%s s); target < 5 s: %s. `bench/simulate.sh`, release build, commit %s, daemon peak RSS %s MiB, load average at the end %s.\n' \
  "$(date -u +%Y-%m-%d)" "$(python3 -c "print(f'{$purchases:,}')")" \
  "$lines" "$(python3 -c "print(f'{$members:,}')")" "$median" "$runs" "$all" "$verdict" "$commit" "$hwm" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
