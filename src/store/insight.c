/*
 * insight.c - every statement on member_insights, insight_snapshots and
 * insight_groups (store/insight.h): the daily refresh and the reports'
 * reads.
 *
 * The refresh is set-based: one statement computes every member's recency,
 * frequency and monetary value, the thresholds and the segment and stage of
 * all of them; two more clear what it did not write and count the groups.
 * "High" is decided exactly, without division: with the buyers' count n and
 * sum S, a value x is above the mean when x * n > S; with the two middle
 * values a and b (equal for an odd count), x is above the median when
 * x * 2 > a + b.  Recency is high when it is below the threshold, frequency
 * and monetary when above; a value equal to the threshold is low.
 *
 * Must not loop over members, decide HTTP statuses or keep a PGresult past a
 * function.
 */
#include "store/insight.h"

#include <stdio.h>
#include <string.h>

#include "store/db.h"
#include "store/jobs.h"

/* ------------------------------------------------------------ refresh -- */

static const struct db_stmt stmt_newer = {
    "insight_newer",
    "SELECT EXISTS (SELECT 1 FROM insight_snapshots WHERE snapshot_date > $1::date)"};

/*
 * $1 date, $2 time zone, $3 RFM period days, $4 'mean' | 'median' | 'quantile',
 * $5 silent, $6 forgetting, $7 lost, $8 earn unit, $9 points per unit, $10 the
 * quantile q and $11 1 - q (for 'quantile': F and M are high above their
 * q-quantile, R below its (1 - q)-quantile; percentile_disc picks a value of
 * the data, so the threshold is an integer and k is 1), $12 high is 'median'
 * and $13 high is 'quantile' (booleans: the aggregates of the other modes
 * are filtered away, so a mean snapshot sorts nothing).  `mem` is every member that is not
 * closed, with its purchases in the period (NULL when none) and its last purchase on or before the
 * date: members.last_purchase_at is that for everyone but a member who bought after the date (a
 * late run of an earlier date), who is looked up in the index.  `t` holds each threshold as a
 * fraction t / k.
 */
static const struct db_stmt stmt_refresh = {
    "insight_refresh",
    "WITH bounds AS ("
    " SELECT ($1::date - ($3::int - 1))::timestamp AT TIME ZONE $2::text AS lo,"
    " ($1::date + 1)::timestamp AT TIME ZONE $2::text AS hi),"
    " agg AS ("
    " SELECT p.member_id, max(p.occurred_at) AS last_at, count(*) AS f,"
    " sum(p.net_spend) AS m,"
    " sum(CASE WHEN p.fully_returned THEN 0 ELSE p.points_earned END) AS pts"
    " FROM purchases p CROSS JOIN bounds"
    " WHERE p.occurred_at >= bounds.lo AND p.occurred_at < bounds.hi"
    " GROUP BY p.member_id),"
    " mem AS MATERIALIZED ("
    " SELECT m.id, a.f, a.m, a.m - div(a.pts * $8::bigint, $9::bigint) AS margin,"
    " $1::date - (a.last_at AT TIME ZONE $2::text)::date AS r,"
    " (CASE WHEN m.last_purchase_at < bounds.hi THEN m.last_purchase_at"
    " ELSE (SELECT max(q.occurred_at) FROM purchases q"
    " WHERE q.member_id = m.id AND q.occurred_at < bounds.hi) END"
    " AT TIME ZONE $2::text)::date AS last_on"
    " FROM members m CROSS JOIN bounds LEFT JOIN agg a ON a.member_id = m.id"
    " WHERE m.status <> 'closed'),"
    " t AS ("
    " SELECT count(*) AS n,"
    " CASE WHEN $12::bool THEN 2 WHEN $13::bool THEN 1 ELSE count(*) END::numeric AS k,"
    " CASE WHEN $12::bool THEN"
    " (percentile_disc(0.5) WITHIN GROUP (ORDER BY r) FILTER (WHERE $12::bool))"
    " ::numeric + percentile_disc(0.5) WITHIN GROUP (ORDER BY r DESC)"
    " FILTER (WHERE $12::bool)"
    " WHEN $13::bool THEN percentile_disc($11::float8) WITHIN GROUP (ORDER BY r) FILTER (WHERE "
    "$13::bool)"
    " ELSE sum(r) END::numeric AS tr,"
    " CASE WHEN $12::bool THEN"
    " (percentile_disc(0.5) WITHIN GROUP (ORDER BY f) FILTER (WHERE $12::bool))"
    " ::numeric + percentile_disc(0.5) WITHIN GROUP (ORDER BY f DESC)"
    " FILTER (WHERE $12::bool)"
    " WHEN $13::bool THEN percentile_disc($10::float8) WITHIN GROUP (ORDER BY f) FILTER (WHERE "
    "$13::bool)"
    " ELSE sum(f) END::numeric AS tf,"
    " CASE WHEN $12::bool THEN"
    " (percentile_disc(0.5) WITHIN GROUP (ORDER BY m) FILTER (WHERE $12::bool))"
    " + percentile_disc(0.5) WITHIN GROUP (ORDER BY m DESC)"
    " FILTER (WHERE $12::bool)"
    " WHEN $13::bool THEN percentile_disc($10::float8) WITHIN GROUP (ORDER BY m) FILTER (WHERE "
    "$13::bool)"
    " ELSE sum(m) END::numeric AS tm"
    " FROM mem WHERE f IS NOT NULL),"
    " snap AS ("
    " INSERT INTO insight_snapshots (snapshot_date, period_from, period_to, high,"
    " recency_threshold, frequency_threshold, monetary_threshold, silent_days,"
    " forgetting_days, lost_days, members, buyers)"
    " SELECT $1::date, $1::date - ($3::int - 1), $1::date, $4::text,"
    " coalesce(round(t.tr / nullif(t.k, 0), 4), 0), coalesce(round(t.tf / nullif(t.k, 0), 4), 0),"
    " coalesce(round(t.tm / nullif(t.k, 0), 4), 0), $5::int, $6::int, $7::int,"
    " (SELECT count(*) FROM mem), t.n"
    " FROM t"
    " RETURNING members, buyers),"
    " ins AS ("
    " INSERT INTO member_insights (member_id, snapshot_date, recency_days, frequency, monetary,"
    " margin, last_purchase_on, segment, lifecycle_stage)"
    " SELECT mem.id, $1::date, mem.r, coalesce(mem.f, 0), coalesce(mem.m, 0),"
    " coalesce(mem.margin, 0), mem.last_on,"
    " CASE WHEN mem.f IS NOT NULL THEN"
    " CASE WHEN mem.m * t.k > t.tm THEN 'important-' ELSE 'general-' END ||"
    " CASE WHEN mem.r * t.k < t.tr"
    " THEN CASE WHEN mem.f * t.k > t.tf THEN 'value' ELSE 'develop' END"
    " ELSE CASE WHEN mem.f * t.k > t.tf THEN 'keep' ELSE 'retain' END END END,"
    " CASE WHEN mem.last_on IS NULL THEN NULL"
    " WHEN $1::date - mem.last_on < $5::int THEN 'active'"
    " WHEN $1::date - mem.last_on < $6::int THEN 'silent'"
    " WHEN $1::date - mem.last_on <= $7::int THEN 'forgetting'"
    " ELSE 'lost' END"
    " FROM mem CROSS JOIN t"
    " ON CONFLICT (member_id) DO UPDATE SET snapshot_date = excluded.snapshot_date,"
    " recency_days = excluded.recency_days, frequency = excluded.frequency,"
    " monetary = excluded.monetary, margin = excluded.margin,"
    " last_purchase_on = excluded.last_purchase_on,"
    " segment = excluded.segment, lifecycle_stage = excluded.lifecycle_stage"
    " RETURNING 1)"
    " SELECT (SELECT members FROM snap), (SELECT buyers FROM snap), (SELECT count(*) FROM ins)"};

/* A date refreshed again replaces its snapshot row. */
static const struct db_stmt stmt_snap_clear = {
    "insight_snapshot_clear", "DELETE FROM insight_snapshots WHERE snapshot_date = $1::date"};

/* What the refresh did not write belongs to members closed since. */
static const struct db_stmt stmt_prune = {
    "insight_prune", "DELETE FROM member_insights WHERE snapshot_date <> $1::date"};

static const struct db_stmt stmt_groups_clear = {
    "insight_groups_clear", "DELETE FROM insight_groups WHERE snapshot_date = $1::date"};

static const struct db_stmt stmt_groups = {
    "insight_groups_count",
    "INSERT INTO insight_groups (snapshot_date, enrolled_store, tier, segment, lifecycle_stage,"
    " members, spend)"
    " SELECT $1::date, m.enrolled_store, m.tier, i.segment, i.lifecycle_stage, count(*),"
    "  sum(i.monetary)"
    " FROM member_insights i JOIN members m ON m.id = i.member_id"
    " GROUP BY m.enrolled_store, m.tier, i.segment, i.lifecycle_stage"};

/* One ntile pass per filter shape the concentration report takes. */
#define DECILES_PASS(by_store, by_tier, keys)                                                      \
    " SELECT " by_store ", " by_tier ", store, tier, decile, count(*), sum(monetary),"             \
    "  sum(margin) FROM (SELECT store, tier, ntile(10) OVER (PARTITION BY store, tier"             \
    "   ORDER BY monetary DESC, member_id) AS decile, monetary, margin"                            \
    "   FROM (SELECT " keys ", member_id, monetary, margin FROM b) k) d"                           \
    " GROUP BY store, tier, decile"

static const struct db_stmt stmt_deciles_clear = {
    "insight_deciles_clear", "DELETE FROM insight_deciles WHERE snapshot_date = $1::date"};

static const struct db_stmt stmt_deciles_count = {
    "insight_deciles_count",
    "WITH b AS MATERIALIZED ("
    "  SELECT i.member_id, i.monetary, i.margin, m.enrolled_store, m.tier AS member_tier"
    "  FROM member_insights i JOIN members m ON m.id = i.member_id WHERE i.frequency > 0)"
    " INSERT INTO insight_deciles (by_store, by_tier, enrolled_store, tier, decile, members, spend,"
    "  margin, snapshot_date)"
    " SELECT x.*, $1::date FROM (" DECILES_PASS("false", "false", "NULL::text AS store, NULL::text AS tier") " UNION ALL" DECILES_PASS(
        "true", "false",
        "enrolled_store AS store, NULL::text AS tier") " UNION ALL" DECILES_PASS("false", "true",
                                                                                 "NULL::text AS "
                                                                                 "store, "
                                                                                 "member_tier AS "
                                                                                 "tier") " UNION "
                                                                                         "AL"
                                                                                         "L" DECILES_PASS(
                                                                                             "true",
                                                                                             "true",
                                                                                             "enrol"
                                                                                             "led_"
                                                                                             "store"
                                                                                             " AS "
                                                                                             "store"
                                                                                             ", "
                                                                                             "membe"
                                                                                             "r_"
                                                                                             "tier "
                                                                                             "AS "
                                                                                             "tier") ") x"};

static int refresh_in_tx(struct db *db, const struct insight_params *p, struct insight_counts *out,
                         struct err *e)
{
    char period[24], silent[24], forgetting[24], lost[24], unit[24], ppu[24], q[8], q_low[8];
    const char *params[13] = {p->date, p->timezone, period, p->high, silent, forgetting, lost,
                              unit,    ppu,         q,      q_low,   NULL,   NULL};
    PGresult *res;
    bool newer;

    res = db_exec(db, &stmt_newer, 1, params, e);
    if (res == NULL)
        return -1;
    newer = db_get_bool(res, 0, 0);
    PQclear(res);
    if (newer)
        return 0;
    db_i64_text(p->period_days, period);
    db_i64_text(p->silent_days, silent);
    db_i64_text(p->forgetting_days, forgetting);
    db_i64_text(p->lost_days, lost);
    db_i64_text(p->earn_unit, unit);
    db_i64_text(p->points_per_unit, ppu);
    /* Exact decimals, so PostgreSQL reads 0.20 and not 1 - 0.80 in binary. */
    snprintf(q, sizeof(q), "0.%02u", (unsigned)p->quantile_x100 % 100u);
    snprintf(q_low, sizeof(q_low), "0.%02u", (unsigned)(100 - p->quantile_x100) % 100u);
    params[11] = strcmp(p->high, "median") == 0 ? "true" : "false";
    params[12] = strcmp(p->high, "quantile") == 0 ? "true" : "false";
    if (db_run(db, &stmt_snap_clear, 1, params, e) < 0)
        return -1;
    res = db_exec(db, &stmt_refresh, 13, params, e);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1 || db_get_i64(res, 0, 0, &out->members, e) < 0 ||
        db_get_i64(res, 0, 1, &out->buyers, e) < 0) {
        PQclear(res);
        return err_is_set(e) ? -1 : err_internal(e, ERR_INTERNAL, "insight refresh: no row");
    }
    PQclear(res);
    if (db_run(db, &stmt_prune, 1, params, e) < 0 ||
        db_run(db, &stmt_groups_clear, 1, params, e) < 0 ||
        db_run(db, &stmt_groups, 1, params, e) < 0 ||
        db_run(db, &stmt_deciles_clear, 1, params, e) < 0 ||
        db_run(db, &stmt_deciles_count, 1, params, e) < 0)
        return -1;
    return 1;
}

int store_insight_refresh(struct db *db, const struct insight_params *p, struct insight_counts *out,
                          struct err *e)
{
    int rc;

    *out = (struct insight_counts){0, 0};
    if (store_daily_begin(db, e) < 0)
        return -1;
    rc = refresh_in_tx(db, p, out, e);
    if (rc <= 0) {
        db_rollback(db);
        return rc;
    }
    return db_commit(db, e) < 0 ? -1 : 1;
}

/* ------------------------------------------------------------ reports -- */

static const struct db_stmt stmt_snapshot_in = {
    "insight_snapshot_in", "SELECT to_char(max(snapshot_date), 'YYYY-MM-DD') FROM insight_snapshots"
                           " WHERE snapshot_date BETWEEN $1::date AND $2::date"};

int store_insight_snapshot_in(struct db *db, const char *from, const char *to, char date[11],
                              struct err *e)
{
    const char *params[2] = {from, to};
    PGresult *res = db_exec(db, &stmt_snapshot_in, 2, params, e);
    int rc = 0;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1 && !db_is_null(res, 0, 0)) {
        const char *v = PQgetvalue(res, 0, 0);

        if (strlen(v) != 10) {
            PQclear(res);
            return err_internal(e, ERR_INTERNAL, "insight snapshot date '%s'", v);
        }
        memcpy(date, v, 11);
        rc = 1;
    }
    PQclear(res);
    return rc;
}

/* Column 0 tells the grouping: 0 segment, 1 stage, 2 tier (enum
 * insight_group_kind). */
static const struct db_stmt stmt_groups_read = {
    "insight_groups_read",
    "SELECT CASE WHEN GROUPING(segment) = 0 THEN 0 WHEN GROUPING(lifecycle_stage) = 0 THEN 1"
    "  ELSE 2 END,"
    " CASE WHEN GROUPING(segment) = 0 THEN segment"
    "  WHEN GROUPING(lifecycle_stage) = 0 THEN lifecycle_stage ELSE tier END,"
    " sum(members)::bigint, sum(spend)::bigint"
    " FROM insight_groups"
    " WHERE snapshot_date = $1::date AND ($2::text IS NULL OR enrolled_store = $2::text)"
    "  AND ($3::text IS NULL OR tier = $3::text)"
    " GROUP BY GROUPING SETS ((segment), (lifecycle_stage), (tier))"};

int store_insight_groups(struct db *db, const char *date, const char *store_id, const char *tier,
                         struct arena *a, struct insight_group **rows, int *n, struct err *e)
{
    const char *params[3] = {date, store_id, tier};
    PGresult *res = db_exec(db, &stmt_groups_read, 3, params, e);
    int count, rc = -1;

    *n = 0;
    if (res == NULL)
        return -1;
    count = PQntuples(res);
    *rows = arena_alloc(a, sizeof(**rows) * (size_t)(count > 0 ? count : 1));
    for (int i = 0; i < count; i++) {
        struct insight_group *g = &(*rows)[i];
        int64_t kind;

        if (db_get_i64(res, i, 0, &kind, e) < 0 || db_get_i64(res, i, 2, &g->members, e) < 0 ||
            db_get_i64(res, i, 3, &g->spend, e) < 0)
            goto out;
        if (kind < INSIGHT_BY_SEGMENT || kind > INSIGHT_BY_TIER) {
            err_internal(e, ERR_INTERNAL, "insight group kind %lld", (long long)kind);
            goto out;
        }
        g->kind = (enum insight_group_kind)kind;
        g->key = db_get_str(res, i, 1, a);
    }
    *n = count;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/*
 * $1 from, $2 to, $3 time zone, $4 store, $5 tier, $6 earn unit, $7 points
 * per unit.  A fully returned purchase earned nothing in the end; a
 * partial return's points taken back are not deducted (see openapi.yaml).
 */
static const struct db_stmt stmt_deciles = {
    "insight_deciles", "WITH b AS ("
                       "  SELECT p.member_id, sum(p.net_spend) AS spend,"
                       "   sum(CASE WHEN p.fully_returned THEN 0 ELSE p.points_earned END) AS pts"
                       "  FROM purchases p JOIN members m ON m.id = p.member_id"
                       "  WHERE p.occurred_at >= $1::date::timestamp AT TIME ZONE $3::text"
                       "   AND p.occurred_at < ($2::date + 1)::timestamp AT TIME ZONE $3::text"
                       "   AND m.status <> 'closed'"
                       "   AND ($4::text IS NULL OR m.enrolled_store = $4::text)"
                       "   AND ($5::text IS NULL OR m.tier = $5::text)"
                       "  GROUP BY p.member_id),"
                       " d AS ("
                       "  SELECT spend, spend - div(pts * $6::bigint, $7::bigint) AS margin,"
                       "   ntile(10) OVER (ORDER BY spend DESC, member_id) AS decile"
                       "  FROM b)"
                       " SELECT decile, count(*), sum(spend)::bigint, sum(margin)::bigint FROM d"
                       " GROUP BY decile ORDER BY decile"};

/* The snapshot of $2 when its RFM period is [$1, $2]: one row with false
 * and no decile when it has no buyers for the filters ($3 store, $4 tier);
 * no row at all when there is no such snapshot. */
static const struct db_stmt stmt_deciles_snapshot = {
    "insight_deciles_snapshot",
    "SELECT d.decile IS NOT NULL, d.decile, d.members, d.spend, d.margin"
    " FROM insight_snapshots s LEFT JOIN insight_deciles d ON d.snapshot_date = s.snapshot_date"
    "  AND d.by_store = ($3::text IS NOT NULL) AND ($3::text IS NULL OR d.enrolled_store = $3)"
    "  AND d.by_tier = ($4::text IS NOT NULL) AND ($4::text IS NULL OR d.tier = $4)"
    " WHERE s.snapshot_date = $2::date AND s.period_from = $1::date"
    " ORDER BY d.decile"};

/* Fills `out` from decile rows (columns `first` ..: decile, members, spend,
 * margin), skipping rows whose column `first` - 1 is false when first > 0. */
static int read_deciles(const PGresult *res, int first, struct insight_decile out[10],
                        struct err *e)
{
    for (int i = 0; i < PQntuples(res); i++) {
        struct insight_decile d;
        int64_t decile;

        if (first > 0 && !db_get_bool(res, i, first - 1))
            continue;
        if (db_get_i64(res, i, first, &decile, e) < 0 ||
            db_get_i64(res, i, first + 1, &d.members, e) < 0 ||
            db_get_i64(res, i, first + 2, &d.spend, e) < 0 ||
            db_get_i64(res, i, first + 3, &d.margin, e) < 0)
            return -1;
        if (decile < 1 || decile > 10)
            return err_internal(e, ERR_INTERNAL, "insight decile %lld", (long long)decile);
        d.decile = (int)decile;
        out[decile - 1] = d;
    }
    return 0;
}

int store_insight_deciles(struct db *db, const struct insight_period *p,
                          struct insight_decile out[10], struct err *e)
{
    char unit[24], ppu[24];
    const char *params[7] = {p->from, p->to, p->timezone, p->store_id, p->tier, unit, ppu};
    const char *snap_params[4] = {p->from, p->to, p->store_id, p->tier};
    bool from_snapshot;
    PGresult *res;
    int rc;

    for (int i = 0; i < 10; i++)
        out[i] = (struct insight_decile){i + 1, 0, 0, 0};
    res = db_exec(db, &stmt_deciles_snapshot, 4, snap_params, e);
    if (res == NULL)
        return -1;
    from_snapshot = PQntuples(res) > 0;
    rc = from_snapshot ? read_deciles(res, 1, out, e) : 0;
    PQclear(res);
    if (rc < 0 || from_snapshot)
        return rc;
    db_i64_text(p->earn_unit, unit);
    db_i64_text(p->points_per_unit, ppu);
    res = db_exec(db, &stmt_deciles, 7, params, e);
    if (res == NULL)
        return -1;
    rc = read_deciles(res, 0, out, e);
    PQclear(res);
    return rc;
}
