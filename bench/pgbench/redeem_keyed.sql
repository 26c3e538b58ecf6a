-- redeem_keyed.sql - pgbench script: the transaction the daemon runs for
-- POST /v1/members/{id}/redemptions with an Idempotency-Key (bench/redeem.lua
-- with BENCH_IDEMPOTENCY=1, as a till sends every write): redeem.sql's
-- statements, with the key's claim and its read (store/idempotency.c) after
-- BEGIN in a round trip of their own, and the stored answer before the
-- posting and the COMMIT, in the daemon's four round trips
-- (api/redemption_group.c for a group of one).
-- Where it cannot be the same, besides redeem.sql's: the key is a random
-- number, and the request's path, its hash and the stored answer are the
-- same for every transaction (-D from run.sh: the daemon's own for one
-- request), because pgbench cannot make a string; the unique key still
-- makes every claim a new row, as the daemon's fresh keys do.
\set id random(:member_min, :member_max)
\set k random(1, 9000000000000000000)
\set quantity 1
\set points_cost 100
\set c1 2222 + random(0, 7) + 10 * random(0, 7) + 100 * random(0, 7) + 1000 * random(0, 7)
\set c2 2222 + random(0, 7) + 10 * random(0, 7) + 100 * random(0, 7) + 1000 * random(0, 7)
\set c3 22222 + random(0, 7) + 10 * random(0, 7) + 100 * random(0, 7) + 1000 * random(0, 7) + 10000 * random(0, 7)
\set balance_after 0
\startpipeline
BEGIN;
INSERT INTO idempotency_keys (scope, method, path, key, request_hash) SELECT :scope, :method, :key_path_redeem, :k, :key_hash_redeem::bytea WHERE pg_try_advisory_xact_lock(hashtextextended(:scope::text || chr(31) || :method::text || chr(31) || :key_path_redeem::text || chr(31) || :k::text, 0)) ON CONFLICT DO NOTHING RETURNING 1;
SELECT request_hash = :key_hash_redeem::bytea, status, body FROM idempotency_keys WHERE scope = :scope AND method = :method AND path = :key_path_redeem AND key = :k;
\endpipeline
\startpipeline
SELECT m.id, m.status, m.tier, m.points_balance, (SELECT coalesce(sum(l.remaining), 0) FROM point_lots l WHERE l.member_id = m.id AND l.remaining > 0 AND l.available_on > (now() AT TIME ZONE :tz)::date), m.xmin::text = (SELECT s.xmin::text FROM members s WHERE s.id = m.id) FROM members m WHERE m.id = :id::bigint FOR UPDATE OF m;
SELECT id, code, name, kind, points_cost, coalesce(discount_value, 0), coalesce(discount_pct_x100, 0), coalesce(stock, -1), min_tier, coalesce(per_member_limit, 0), to_char(valid_from AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"'), to_char(valid_until AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"'), active, (active AND (valid_from IS NULL OR valid_from <= now()) AND (valid_until IS NULL OR now() < valid_until)), to_char(created_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"'), to_char(updated_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"') FROM rewards WHERE id = :reward_id::bigint FOR KEY SHARE;
\endpipeline
WITH r AS ( INSERT INTO redemptions (member_id, reward_id, quantity, points_spent, balance_after) VALUES (:id::bigint, :reward_id::bigint, :quantity::integer, :points_cost::bigint, :balance_after::bigint) RETURNING id, created_at), c AS ( INSERT INTO coupons (member_id, redemption_id, code) SELECT $1::bigint, r.id, x.code FROM r, unnest(string_to_array(:c1 || '-' || :c2 || '-' || :c3, ',')) WITH ORDINALITY AS x (code, n) ORDER BY x.n RETURNING 1) SELECT r.id, to_char(r.created_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"'), (SELECT count(*) FROM c) FROM r
\gset r_
\startpipeline
UPDATE idempotency_keys SET status = 201, body = :key_answer_redeem WHERE scope = :scope AND method = :method AND path = :key_path_redeem AND key = :k;
WITH mv AS ( SELECT k.kind, k.points, k.reason, k.n FROM unnest(:kinds_redeem::text[], :spend_moves::bigint[], '{NULL}'::text[]) WITH ORDINALITY AS k(kind, points, reason, n)), d AS ( SELECT t.ld, (date_trunc('month', t.ld::timestamp) + make_interval(months => :expiry_months::int + 1) - interval '1 day')::date AS expires_on, (now() AT TIME ZONE :tz)::date AS today FROM (SELECT (coalesce(NULL::timestamptz, now()) AT TIME ZONE $4)::date AS ld) t), m AS ( UPDATE members SET points_balance = points_balance + (SELECT sum(points) FROM mv)::bigint WHERE id = :id::bigint AND (NULL::bigint IS NULL OR EXISTS (SELECT 1 FROM purchases p WHERE p.member_id = :id::bigint AND p.id = NULL::bigint)) RETURNING points_balance - (SELECT sum(points) FROM mv)::bigint AS before), run AS ( SELECT mv.kind, mv.points, mv.reason, mv.n, m.before + (sum(mv.points) OVER (ORDER BY mv.n))::bigint AS after FROM mv, m), ent AS ( INSERT INTO ledger_entries (member_id, kind, points, balance_after, purchase_id, redemption_id, return_id, reason, expires_at) SELECT $5::bigint, r.kind, r.points, r.after, NULL::bigint, :r_id::bigint, NULL::bigint, r.reason, CASE WHEN r.points > 0 THEN (d.expires_on + 1)::timestamp AT TIME ZONE $4 END FROM run r, d ORDER BY r.n RETURNING *), lots AS ( INSERT INTO point_lots (member_id, entry_id, points, remaining, expires_on, available_on, released) SELECT $5::bigint, e.id, least(e.points, e.balance_after), least(e.points, e.balance_after), d.expires_on, a.available_on, a.available_on <= d.today FROM ent e CROSS JOIN d CROSS JOIN LATERAL (SELECT d.ld + CASE WHEN e.kind IN ('earn', 'bonus') THEN :pending_days::int ELSE 0 END AS available_on) a WHERE e.points > 0 AND e.balance_after > 0), need AS (SELECT coalesce(sum(-points), 0)::bigint AS x FROM mv WHERE points < 0), ord AS ( SELECT l.entry_id, l.remaining, (sum(l.remaining) OVER (ORDER BY l.available_on > d.today, l.expires_on, l.entry_id))::bigint AS cum FROM point_lots l, d WHERE l.member_id = $5::bigint AND l.remaining > 0), used AS ( UPDATE point_lots l SET remaining = l.remaining - least(o.remaining, n.x - (o.cum - o.remaining)) FROM ord o, need n WHERE n.x > 0 AND EXISTS (SELECT 1 FROM m) AND l.member_id = $5::bigint AND l.entry_id = o.entry_id AND o.cum - o.remaining < n.x) SELECT id, member_id, kind, points, balance_after, purchase_id, redemption_id, return_id, reason, to_char(created_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"'), to_char(expires_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"') FROM ent ORDER BY id;
COMMIT;
\endpipeline
