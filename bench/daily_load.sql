-- daily_load.sql - bulk-loads the daily job's benchmark (bench/daily.sh)
-- with set-based SQL, in one transaction: :members members (psql -v
-- members=N) as they would stand on the morning of :day (psql -v
-- day=YYYY-MM-DD), every ledger invariant holding (`loyaltyd check`).
--
-- Per member id g (ids 1..N on a fresh database):
--   birthday   spread over the year (1960-01-01 + g*7919 mod 18000 days), so
--              about N/365 fall on :day; g % 100 = 1 is suspended (no gift);
--   points     an opening `adjust` of 1000 with its lot; the lot's last
--              valid day is :day - 1 for g % 20 = 0 (it expires on :day),
--              else 30..329 days after :day;
--   pending    g % 50 = 0 also earned 200 points three days ago, pending
--              until :day (a lot not yet released);
--   tiers      g % 10 = 0 is silver, g % 30 = 0 gold; each bought its tier's
--              min_spend 395 days before :day (default window 365 days, 30
--              days' grace: that spend last counted 31 days before :day).
--              Those with g % 100 <> 0 also bought 50000 250 days and their
--              min_spend again 100 days before :day, and keep their tier;
--              g % 100 = 0 drop on :day - to basic, or, for g % 300 = 0
--              (gold) who bought 300000 20 days before :day, to silver.
-- Must not go through HTTP: a million enrolments over the API would take
-- longer than the whole benchmark.
\set ON_ERROR_STOP on

BEGIN;

INSERT INTO members (card_number, name, phone, email, birthday, status, tier, points_balance,
                     referral_code, enrolled_store, enrolled_at, updated_at)
SELECT '8' || lpad(g::text, 15, '0'),
       'Daily member ' || g,
       '+86137' || lpad(g::text, 8, '0'),
       'dm' || g || '@bench.example',
       date '1960-01-01' + (g::bigint * 7919 % 18000)::int,
       CASE WHEN g % 100 = 1 THEN 'suspended' ELSE 'active' END,
       CASE WHEN g % 30 = 0 THEN 'gold' WHEN g % 10 = 0 THEN 'silver' ELSE 'basic' END,
       CASE WHEN g % 50 = 0 THEN 1200 ELSE 1000 END,
       'D' || lpad(g::text, 9, '0'),
       'S001',
       now() - interval '400 days',
       now() - interval '400 days'
FROM generate_series(1, :members) AS g;

WITH a AS (
  INSERT INTO ledger_entries (member_id, kind, points, balance_after, reason, created_at)
  SELECT id, 'adjust', 1000, 1000, 'benchmark opening balance', now() - interval '400 days'
  FROM members ORDER BY id
  RETURNING member_id, id)
INSERT INTO point_lots (member_id, entry_id, points, remaining, expires_on, available_on, released)
SELECT member_id, id, 1000, 1000,
       CASE WHEN member_id % 20 = 0 THEN :'day'::date - 1
            ELSE :'day'::date + 30 + (member_id % 300)::int END,
       :'day'::date - 400, true
FROM a;

WITH b AS (
  INSERT INTO ledger_entries (member_id, kind, points, balance_after, created_at)
  SELECT id, 'earn', 200, 1200, now() - interval '3 days'
  FROM members WHERE id % 50 = 0 ORDER BY id
  RETURNING member_id, id)
INSERT INTO point_lots (member_id, entry_id, points, remaining, expires_on, available_on, released)
SELECT member_id, id, 200, 200, :'day'::date + 365, :'day'::date, false FROM b;

INSERT INTO purchases (member_id, store_id, terminal_id, pos_transaction_id, occurred_at,
                       subtotal, discount_total, redeemed_value, total_due, points_earned,
                       points_redeemed, net_spend, tier_before, tier_after, rules_version,
                       request_hash, result)
SELECT m.id, 'S001', 'T01', 'daily-' || m.id || '-' || p.k,
       (:'day'::date - p.days + time '12:00')::timestamp AT TIME ZONE 'Asia/Shanghai',
       p.amount, 0, 0, p.amount, 0, 0, p.amount, m.tier, m.tier, 1,
       decode(md5(m.id || '-' || p.k) || md5(p.k || '-' || m.id), 'hex'), '{}'
FROM members m
CROSS JOIN LATERAL (VALUES
    (1, 395, CASE WHEN m.tier = 'gold' THEN 1000000 ELSE 200000 END, true),
    (2, 250, 50000, m.id % 100 <> 0),
    (3, 100, CASE WHEN m.tier = 'gold' THEN 1000000 ELSE 200000 END, m.id % 100 <> 0),
    (4, 20, 300000, m.id % 300 = 0)) AS p(k, days, amount, wanted)
WHERE m.id % 10 = 0 AND p.wanted;

COMMIT;

VACUUM (ANALYZE) members;
VACUUM (ANALYZE) ledger_entries;
VACUUM (ANALYZE) point_lots;
VACUUM (ANALYZE) purchases;
CHECKPOINT;

SELECT min(id) AS member_min, max(id) AS member_max, count(*) AS members
FROM members \gset
\echo LOADED :member_min :member_max :members
