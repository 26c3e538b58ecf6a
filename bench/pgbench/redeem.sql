-- redeem.sql - pgbench script: the transaction the daemon runs for
-- POST /v1/members/{id}/redemptions of one unit of the benchmark's reward
-- (store/ledger.c, store/rewards.c, store/coupons.c) for a random loaded
-- member: BEGIN, lock the member, KEY SHARE-lock the reward (its stock is
-- unlimited, so the daemon moves none), insert the redemption and its
-- coupon, the ledger entry with its balance move, COMMIT.
-- Where it cannot be the same: a NULL parameter is written NULL, and the
-- coupon code (made in C by the daemon) is joined in SQL from three random
-- numbers whose digits are 2 to 9, because pgbench cannot make a string.
\set id random(:member_min, :member_max)
\set quantity 1
\set points_cost 100
\set points_spent -100
\set c1 2222 + random(0, 7) + 10 * random(0, 7) + 100 * random(0, 7) + 1000 * random(0, 7)
\set c2 2222 + random(0, 7) + 10 * random(0, 7) + 100 * random(0, 7) + 1000 * random(0, 7)
\set c3 22222 + random(0, 7) + 10 * random(0, 7) + 100 * random(0, 7) + 1000 * random(0, 7) + 10000 * random(0, 7)
BEGIN;
SELECT id, status, tier, points_balance FROM members WHERE id = :id::bigint FOR UPDATE
\gset m_
\set balance_after :m_points_balance - :points_cost
SELECT id, code, name, kind, points_cost, coalesce(discount_value, 0), coalesce(discount_pct_x100, 0), coalesce(stock, -1), min_tier, coalesce(per_member_limit, 0), to_char(valid_from AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"'), to_char(valid_until AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"'), active, (active AND (valid_from IS NULL OR valid_from <= now()) AND (valid_until IS NULL OR now() < valid_until)), to_char(created_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"'), to_char(updated_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"') FROM rewards WHERE id = :reward_id::bigint FOR KEY SHARE;
WITH r AS ( INSERT INTO redemptions (member_id, reward_id, quantity, points_spent, balance_after) VALUES (:id::bigint, :reward_id::bigint, :quantity::integer, :points_cost::bigint, :balance_after::bigint) RETURNING id, created_at), c AS ( INSERT INTO coupons (member_id, redemption_id, code) SELECT $1::bigint, r.id, x.code FROM r, unnest(string_to_array(:c1 || '-' || :c2 || '-' || :c3, ',')) WITH ORDINALITY AS x (code, n) ORDER BY x.n RETURNING 1) SELECT r.id, to_char(r.created_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"'), (SELECT count(*) FROM c) FROM r
\gset r_
WITH m AS ( UPDATE members SET points_balance = points_balance + :points_spent::bigint WHERE id = :id::bigint RETURNING points_balance) INSERT INTO ledger_entries (member_id, kind, points, balance_after, purchase_id, redemption_id, reason) SELECT $2::bigint, :kind_redeem, $1::bigint, m.points_balance, NULL::bigint, :r_id::bigint, NULL FROM m RETURNING id, member_id, kind, points, balance_after, purchase_id, redemption_id, reason, to_char(created_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"'), to_char(expires_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"');
COMMIT;
