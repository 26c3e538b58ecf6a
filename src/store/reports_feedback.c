/*
 * reports_feedback.c - the statements of the kpis and complaints reports
 * (store/reports_feedback.h).
 *
 * Every statement takes the same first five parameters: $1 store_id, $2
 * tier (NULL: any), $3 from and $4 to (local dates, inclusive) and $5 the
 * time zone.  The period is then [$3 00:00, $4 + 1 day 00:00) local time,
 * so a row belongs to it by its own timestamp, never by a UTC date.
 *
 * Must not round, divide or decide bands (the API layer does, in integer
 * arithmetic); must not lock anything or write.
 */
#include "store/reports_feedback.h"

#include <string.h>

/* The period's bounds and the members the filters select. */
#define SCOPE_CTE                                                                                  \
    "WITH b AS (SELECT ($3::date)::timestamp AT TIME ZONE $5::text AS lo, "                        \
    "                  ($4::date + 1)::timestamp AT TIME ZONE $5::text AS hi), "                   \
    "m AS (SELECT id, status, points_balance, referred_by, referral_granted_at, enrolled_at "      \
    "      FROM members WHERE ($1::text IS NULL OR enrolled_store = $1::text) "                    \
    "      AND ($2::text IS NULL OR tier = $2::text)) "

static void scope_params(const struct feedback_scope *s, const char *params[5])
{
    params[0] = s->store_id;
    params[1] = s->tier;
    params[2] = s->from;
    params[3] = s->to;
    params[4] = s->timezone;
}

/* Reads `n` int8 columns of row 0 into out[]. */
static int read_row(const PGresult *res, int n, int64_t *out, struct err *e)
{
    if (PQntuples(res) != 1 || PQnfields(res) != n)
        return err_internal(e, ERR_INTERNAL, "report: %d rows of %d columns, expected 1 of %d",
                            PQntuples(res), PQnfields(res), n);
    for (int i = 0; i < n; i++)
        if (db_get_i64(res, 0, i, &out[i], e) < 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------------ kpis -- */

/* A purchase fully returned was not a purchase for the repeat rate. */
static const struct db_stmt stmt_kpi_counts = {
    "reports_kpi_counts",
    SCOPE_CTE ", buyers AS (SELECT p.member_id, count(*) AS n FROM purchases p "
              "  JOIN m ON m.id = p.member_id CROSS JOIN b "
              "  WHERE p.occurred_at >= b.lo AND p.occurred_at < b.hi AND NOT p.fully_returned "
              "  GROUP BY p.member_id), "
              "sv AS (SELECT v.satisfaction, v.recommend FROM surveys v "
              "  JOIN m ON m.id = v.member_id CROSS JOIN b "
              "  WHERE v.created_at >= b.lo AND v.created_at < b.hi) "
              "SELECT (SELECT count(*) FROM buyers), "
              "  (SELECT count(*) FILTER (WHERE n >= 2) FROM buyers), "
              "  s.responses, s.s1, s.s2, s.s3, s.s4, s.s5, s.ssum, s.pro, s.pas, s.det, "
              "  r.referred, r.converted, "
              "  (SELECT coalesce(sum(greatest(points_balance, 0)), 0)::bigint FROM m "
              "   WHERE status <> 'closed') "
              "FROM (SELECT count(*) AS responses, "
              "        count(*) FILTER (WHERE satisfaction = 1) AS s1, "
              "        count(*) FILTER (WHERE satisfaction = 2) AS s2, "
              "        count(*) FILTER (WHERE satisfaction = 3) AS s3, "
              "        count(*) FILTER (WHERE satisfaction = 4) AS s4, "
              "        count(*) FILTER (WHERE satisfaction = 5) AS s5, "
              "        coalesce(sum(satisfaction), 0)::bigint AS ssum, "
              "        count(*) FILTER (WHERE recommend >= 9) AS pro, "
              "        count(*) FILTER (WHERE recommend BETWEEN 7 AND 8) AS pas, "
              "        count(*) FILTER (WHERE recommend <= 6) AS det FROM sv) s, "
              "     (SELECT count(*) AS referred, "
              "        count(*) FILTER (WHERE referral_granted_at IS NOT NULL) AS converted "
              "      FROM m CROSS JOIN b WHERE m.referred_by IS NOT NULL "
              "      AND m.enrolled_at >= b.lo AND m.enrolled_at < b.hi) r"};

int store_kpi_counts(struct db *db, const struct feedback_scope *s, struct kpi_counts *out,
                     struct err *e)
{
    const char *params[5];
    int64_t v[15];
    PGresult *res;
    int rc;

    scope_params(s, params);
    res = db_exec(db, &stmt_kpi_counts, 5, params, e);
    if (res == NULL)
        return -1;
    rc = read_row(res, 15, v, e);
    PQclear(res);
    if (rc < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    out->buyers = v[0];
    out->repeat_buyers = v[1];
    out->responses = v[2];
    for (int i = 0; i < 5; i++)
        out->satisfaction[i] = v[3 + i];
    out->satisfaction_sum = v[8];
    out->promoters = v[9];
    out->passives = v[10];
    out->detractors = v[11];
    out->referred = v[12];
    out->converted = v[13];
    out->outstanding = v[14];
    return 0;
}

/* Issued: what members earned or were given (earn, bonus, birthday,
 * referral, positive adjust); returns and negative adjustments are
 * corrections, counted in none of the three.  Redeemed: redeem entries
 * (rewards and purchases) net of redeem_cancel.  Entries count in the
 * local month of their created_at. */
static const struct db_stmt stmt_kpi_months = {
    "reports_kpi_months", SCOPE_CTE
    ", mo AS (SELECT gs::date AS start FROM generate_series("
    "  date_trunc('month', $3::date), date_trunc('month', $4::date), "
    "  interval '1 month') gs), "
    "l AS (SELECT date_trunc('month', l.created_at AT TIME ZONE $5::text)::date AS start, "
    "  l.kind, l.points FROM ledger_entries l JOIN m ON m.id = l.member_id CROSS JOIN b "
    "  WHERE l.created_at >= b.lo AND l.created_at < b.hi) "
    "SELECT to_char(mo.start, 'YYYY-MM'), "
    "  coalesce(sum(l.points) FILTER (WHERE l.kind IN ('earn', 'bonus', 'birthday', "
    "    'referral') OR (l.kind = 'adjust' AND l.points > 0)), 0)::bigint, "
    "  coalesce(-sum(l.points) FILTER (WHERE l.kind IN ('redeem', 'redeem_cancel')), "
    "    0)::bigint, "
    "  coalesce(-sum(l.points) FILTER (WHERE l.kind = 'expire'), 0)::bigint "
    "FROM mo LEFT JOIN l ON l.start = mo.start GROUP BY mo.start ORDER BY mo.start"};

int store_kpi_months(struct db *db, const struct feedback_scope *s, struct arena *a,
                     struct kpi_month **months, int *n, struct err *e)
{
    const char *params[5];
    PGresult *res;
    int rows, rc = -1;

    scope_params(s, params);
    res = db_exec(db, &stmt_kpi_months, 5, params, e);
    if (res == NULL)
        return -1;
    rows = PQntuples(res);
    *months = arena_alloc(a, sizeof(**months) * (size_t)(rows > 0 ? rows : 1));
    for (int i = 0; i < rows; i++) {
        struct kpi_month *k = &(*months)[i];

        if (db_get_i64(res, i, 1, &k->issued, e) < 0 ||
            db_get_i64(res, i, 2, &k->redeemed, e) < 0 || db_get_i64(res, i, 3, &k->expired, e) < 0)
            goto out;
        k->month = db_get_str(res, i, 0, a);
    }
    *n = rows;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* ------------------------------------------------------------ complaints -- */

/* The total row first (category NULL), then the categories in order. */
static const struct db_stmt stmt_complaint_stats = {
    "reports_complaint_stats",
    SCOPE_CTE "SELECT c.category, "
              "  count(*) FILTER (WHERE c.status IN ('open', 'in_progress')), "
              "  count(*) FILTER (WHERE c.status = 'resolved'), "
              "  round((percentile_cont(0.5) WITHIN GROUP ("
              "    ORDER BY extract(epoch FROM c.resolved_at - c.created_at)) "
              "    FILTER (WHERE c.status = 'resolved'))::numeric / 3600, 2)::text, "
              "  coalesce(sum(c.compensation_points), 0)::bigint "
              "FROM complaints c JOIN m ON m.id = c.member_id CROSS JOIN b "
              "WHERE c.created_at >= b.lo AND c.created_at < b.hi "
              "GROUP BY GROUPING SETS ((), (c.category)) "
              "ORDER BY GROUPING(c.category) DESC, c.category"};

int store_complaint_stats(struct db *db, const struct feedback_scope *s, struct arena *a,
                          struct complaint_stats **rows, int *n, struct err *e)
{
    const char *params[5];
    PGresult *res;
    int nrows, rc = -1;

    scope_params(s, params);
    res = db_exec(db, &stmt_complaint_stats, 5, params, e);
    if (res == NULL)
        return -1;
    nrows = PQntuples(res);
    if (nrows < 1 || PQnfields(res) != 5 || !db_is_null(res, 0, 0)) {
        err_internal(e, ERR_INTERNAL, "complaint stats: no total row");
        goto out;
    }
    *rows = arena_alloc(a, sizeof(**rows) * (size_t)nrows);
    for (int i = 0; i < nrows; i++) {
        struct complaint_stats *r = &(*rows)[i];

        if (db_get_i64(res, i, 1, &r->open, e) < 0 || db_get_i64(res, i, 2, &r->resolved, e) < 0 ||
            db_get_i64(res, i, 4, &r->compensation_points, e) < 0)
            goto out;
        r->category = db_get_str(res, i, 0, a);
        r->median_hours = db_get_str(res, i, 3, a);
    }
    *n = nrows;
    rc = 0;
out:
    PQclear(res);
    return rc;
}
