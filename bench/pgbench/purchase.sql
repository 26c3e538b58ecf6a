-- purchase.sql - pgbench script: the transaction the daemon runs for
-- POST /v1/purchases (store/purchases.c and store/ledger.c) with the basket
-- of bench/purchase.lua (three lines; the -D values from run.sh are that
-- basket's arrays, totals and stored response), for a random loaded member:
-- BEGIN, the locked context (which also draws the purchase id from the
-- sequence), the claim + purchase + lines + member-facts insert, the ledger
-- entry with its balance move, COMMIT.
-- Where it cannot be the same: a NULL parameter is written NULL (pgbench
-- cannot bind a NULL), and the purchase id and POS id are random numbers
-- rather than the sequence value the context returns (pgbench's \gset
-- cannot store that statement's unnamed columns); the sequence is still
-- advanced by the same nextval().
\set id random(:member_min, :member_max)
\set pid random(1000000000000, 9000000000000000000)
\set pos random(1000000000000, 9000000000000000000)
\set subtotal 8179
\set discount_total 0
\set redeemed_value 0
\set total_due 8179
\set points_earned 106
\set points_redeemed 0
\set net_spend 8179
\set rules_version 1
BEGIN;
WITH m AS ( SELECT id, status, tier, points_balance, enrolled_at, birthday, purchase_count, last_purchase_at, xmin::text AS row_version FROM members WHERE id = coalesce(:id::bigint, (SELECT id FROM members WHERE card_number = NULL)) FOR UPDATE) SELECT m.id, m.status, m.tier, m.points_balance, :occurred_at::timestamptz < m.enrolled_at - interval '1 day', coalesce(extract(month FROM m.birthday)::int, 0), coalesce(extract(day FROM m.birthday)::int, 0), m.purchase_count, t.lt::date - (m.enrolled_at AT TIME ZONE :tz)::date, coalesce(t.lt::date - (m.last_purchase_at AT TIME ZONE $3)::date, -1), (SELECT coalesce(sum(p.net_spend), 0) FROM purchases p WHERE p.member_id = m.id AND p.occurred_at > $2::timestamptz - make_interval(days => :window::int) AND p.occurred_at <= $2::timestamptz), extract(year FROM t.lt)::int, extract(month FROM t.lt)::int, extract(day FROM t.lt)::int, extract(hour FROM t.lt)::int, extract(isodow FROM t.lt)::int - 1, m.row_version = (SELECT xmin::text FROM members WHERE id = m.id), CASE WHEN x.purchase_id IS NULL THEN nextval('purchase_ids') END, x.purchase_id, x.member_id, r.store_id, encode(r.request_hash, 'hex'), r.result FROM m CROSS JOIN (SELECT $2::timestamptz AT TIME ZONE $3 AS lt) t LEFT JOIN pos_transactions x ON x.store_id = :store AND x.pos_transaction_id = :pos LEFT JOIN purchases r ON r.member_id = x.member_id AND r.id = x.purchase_id;
WITH claim AS ( INSERT INTO pos_transactions (store_id, pos_transaction_id, member_id, purchase_id) VALUES (:store, :pos, :id::bigint, :pid::bigint) ON CONFLICT DO NOTHING RETURNING purchase_id), pur AS ( INSERT INTO purchases (member_id, id, store_id, terminal_id, pos_transaction_id, occurred_at, subtotal, discount_total, redeemed_value, total_due, points_earned, points_redeemed, net_spend, tier_before, tier_after, rules_version, coupon_code, request_hash, result) SELECT $3::bigint, c.purchase_id, $1, :terminal, $2, :occurred_at::timestamptz, :subtotal::bigint, :discount_total::bigint, :redeemed_value::bigint, :total_due::bigint, :points_earned::bigint, :points_redeemed::bigint, :net_spend::bigint, :tier, :tier_after, :rules_version::bigint, NULL, decode(:request_hash, 'hex'), :result FROM claim c RETURNING id), lines AS ( INSERT INTO purchase_lines (member_id, purchase_id, line_no, sku, category, quantity, unit_price, amount, discount, redeemed_share, net_spend, points) SELECT $3::bigint, p.id, l.n::int, l.sku, l.category, l.quantity, l.unit_price, l.amount, l.discount, l.redeemed_share, l.net_spend, l.points FROM pur p, unnest(:skus::text[], :categories::text[], :quantities::bigint[], :unit_prices::bigint[], :amounts::bigint[], :discounts::bigint[], :redeemed_shares::bigint[], :net_spends::bigint[], :line_points::bigint[]) WITH ORDINALITY AS l(sku, category, quantity, unit_price, amount, discount, redeemed_share, net_spend, points, n) RETURNING 1), mem AS ( UPDATE members SET purchase_count = purchase_count + 1, last_purchase_at = greatest(last_purchase_at, $6::timestamptz), tier = CASE WHEN :tier_changed::boolean THEN $15 ELSE tier END, updated_at = CASE WHEN $28::boolean THEN now() ELSE updated_at END WHERE id = $3::bigint AND EXISTS (SELECT 1 FROM pur) RETURNING 1) SELECT (SELECT count(*) FROM pur), (SELECT count(*) FROM lines), (SELECT count(*) FROM mem);
WITH m AS ( UPDATE members SET points_balance = points_balance + :points_earned::bigint WHERE id = :id::bigint RETURNING points_balance) INSERT INTO ledger_entries (member_id, kind, points, balance_after, purchase_id, redemption_id, reason) SELECT $2::bigint, :kind_earn, $1::bigint, m.points_balance, :pid::bigint, NULL::bigint, NULL FROM m RETURNING id, member_id, kind, points, balance_after, purchase_id, redemption_id, reason, to_char(created_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"'), to_char(expires_at AT TIME ZONE 'UTC', E'YYYY-MM-DD"T"HH24\072MI\072SS.US"Z"');
COMMIT;
