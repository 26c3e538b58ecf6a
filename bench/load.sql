-- load.sql - bulk-loads the benchmark's members with set-based SQL, in one
-- transaction: :members members (psql -v members=N), each with an opening
-- balance of :points points (psql -v points=P) that is written as a ledger
-- entry with its lot (spendable, expiring in a year), so the ledger and lot
-- invariants (entries sum to the balance, the last entry's balance_after
-- equals it, unspent lots sum to it) hold from the start and `loyaltyd
-- check` passes.
--
-- Meant for a fresh database (run.sh creates one per run), so the members
-- get the ids 1..N.  Card numbers, phones, e-mails and referral codes are
-- derived from the row number, hence unique; the referral codes have 10
-- characters, the daemon's own 8, so enrolments made later cannot clash.
-- Must not go through HTTP: a million enrolments over the API would take
-- longer than the whole benchmark.
\set ON_ERROR_STOP on

BEGIN;

INSERT INTO members (card_number, name, phone, email, birthday, tier, points_balance,
                     referral_code, enrolled_store, enrolled_at, updated_at)
SELECT '9' || lpad(g::text, 15, '0'),
       'Bench member ' || g,
       '+86139' || lpad(g::text, 8, '0'),
       'bm' || g || '@bench.example',
       date '1960-01-01' + (g::bigint * 7919 % 18000)::int,
       'basic',
       :points,
       'B' || lpad(g::text, 9, '0'),
       'S001',
       now() - interval '400 days',
       now() - interval '400 days'
FROM generate_series(1, :members) AS g;

INSERT INTO ledger_entries (member_id, kind, points, balance_after, reason, created_at)
SELECT id, 'adjust', points_balance, points_balance, 'benchmark opening balance',
       now() - interval '1 day'
FROM members
WHERE card_number LIKE '9%' AND points_balance <> 0;

INSERT INTO point_lots (member_id, entry_id, points, remaining, expires_on, available_on, released)
SELECT l.member_id, l.id, l.points, l.points,
       (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') + interval '13 months'
        - interval '1 day')::date,
       (now() AT TIME ZONE 'Asia/Shanghai')::date - 1, true
FROM ledger_entries l
WHERE l.kind = 'adjust' AND l.reason = 'benchmark opening balance' AND l.points > 0;

COMMIT;

VACUUM (ANALYZE) members;
VACUUM (ANALYZE) ledger_entries;
VACUUM (ANALYZE) point_lots;
CHECKPOINT;

SELECT min(id) AS member_min, max(id) AS member_max, count(*) AS members
FROM members WHERE card_number LIKE '9%' \gset
\echo LOADED :member_min :member_max :members
