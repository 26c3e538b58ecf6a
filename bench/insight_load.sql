-- insight_load.sql - bulk-loads the insight benchmark (bench/insight.sh) with
-- set-based SQL, in one transaction: :members members (psql -v members=N)
-- and about :per_member purchases each (psql -v per_member=K, average), on
-- a fresh database, as they stand on :day (psql -v day=YYYY-MM-DD).
--
-- Lean rows: purchases carry only what their constraints demand (no lines,
-- no POS claims, no ledger entries: no points move, so every balance is 0
-- and the ledger invariants hold trivially).  Per member id g:
--   store      S001..S020 (g % 20); tier basic, every 10th silver, every
--              30th gold;
--   purchases  n = g * 37 % (2K + 1), so 0..2K with mean K (about one member
--              in 2K+1 never bought); purchase j of member g on the local
--              day :day - ((g * 31 + j * 977) % 730), so two years back and
--              about half inside a 365-day RFM period; amount 100 x (1 +
--              (g * 13 + j * 7) % 500) minor units, net spend the same, 1
--              point per 100.
-- Purchases are inserted in time order, as tills post them: the block-range
-- indexes of migration 0009 rely on that order.
-- members.purchase_count and last_purchase_at are set to match, as the
-- purchase path would.  Must not go through HTTP: ten million purchases
-- over the API would take hours.
\set ON_ERROR_STOP on

BEGIN;
-- The purchases are sorted into time order in memory rather than on disk.
SET LOCAL work_mem = '2GB';

INSERT INTO members (card_number, name, status, tier, referral_code, enrolled_store, enrolled_at,
                     updated_at)
SELECT '7' || lpad(g::text, 15, '0'),
       'Insight member ' || g,
       'active',
       CASE WHEN g % 30 = 0 THEN 'gold' WHEN g % 10 = 0 THEN 'silver' ELSE 'basic' END,
       'I' || lpad(g::text, 9, '0'),
       'S' || lpad((g % 20 + 1)::text, 3, '0'),
       :'day'::date - 800,
       :'day'::date - 800
FROM generate_series(1, :members) AS g;

INSERT INTO purchases (member_id, id, store_id, terminal_id, pos_transaction_id, occurred_at,
                       subtotal, discount_total, redeemed_value, total_due, points_earned,
                       points_redeemed, net_spend, tier_before, tier_after, rules_version,
                       request_hash, result, created_at)
SELECT g, row_number() OVER (ORDER BY g, j), 'S001', 'T1', 'B' || g || '-' || j,
       ((:'day'::date - ((g::bigint * 31 + j * 977) % 730)::int)::timestamp + interval '12 hours')
         AT TIME ZONE 'Asia/Shanghai',
       a, 0, 0, a, a / 100, 0, a, 'basic', 'basic', 1,
       '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea, '{}', now()
FROM generate_series(1, :members) AS g
CROSS JOIN LATERAL generate_series(1, (g::bigint * 37 % (2 * :per_member + 1))::int) AS j
CROSS JOIN LATERAL (SELECT 100 * (1 + (g::bigint * 13 + j * 7) % 500) AS a) amt
ORDER BY 6, 1, 2; -- in time order, as tills post them

SELECT setval('purchase_ids', (SELECT max(id) FROM purchases));

UPDATE members m SET purchase_count = s.n, last_purchase_at = s.last_at
FROM (SELECT member_id, count(*) AS n, max(occurred_at) AS last_at
      FROM purchases GROUP BY member_id) s
WHERE s.member_id = m.id;

COMMIT;

VACUUM ANALYZE members;
VACUUM ANALYZE purchases;
