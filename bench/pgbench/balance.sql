-- balance.sql - pgbench script: the statement the daemon runs for
-- GET /v1/members/{id}/balance (store/purchases.c, purchases_balance_view),
-- outside any transaction, for a random loaded member.  Parameters that
-- appear more than once are bound once and referred to as $n afterwards,
-- as in the daemon; a literal with a colon is written E'..\072..' because
-- pgbench would read ':MI' as a variable.  The -D values (time zone, tier
-- window and grace, the tier ladder) are those of the default rule set;
-- run.sh passes them.
\set id random(:member_min, :member_max)
WITH m AS ( SELECT id, points_balance, tier, (now() AT TIME ZONE :tz)::date - date '2000-01-01' AS today, (:mins::bigint[])[array_position(:tiers::text[], tier)] AS min_spend FROM members WHERE id = :id::bigint), p AS ( SELECT (occurred_at AT TIME ZONE $1)::date - date '2000-01-01' AS day, occurred_at, net_spend FROM purchases WHERE member_id = $4::bigint AND occurred_at > now() - make_interval(days => :window::int + :grace::int + 2)), w AS ( SELECT day, sum(net_spend) OVER (ORDER BY day RANGE BETWEEN CURRENT ROW AND $5::int - 1 FOLLOWING) AS spend FROM p) SELECT m.id, m.points_balance, m.tier, (SELECT coalesce(sum(net_spend), 0) FROM p WHERE occurred_at > now() - make_interval(days => $5::int)), to_char(date '2000-01-01' + greatest(m.today, (SELECT max(day) FROM w WHERE spend >= m.min_spend AND day + $5::int - 1 >= m.today - $6::int) + $5::int + $6::int), 'YYYY-MM-DD') FROM m;
