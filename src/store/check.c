/*
 * check.c - the ledger and lot invariants, checked set-wise in one statement so that
 * `loyaltyd check` stays fast with millions of members.
 */
#include "store/check.h"

#include <stdio.h>

static const struct db_stmt SQL_CHECK_LEDGER = {
    "check_ledger",
    "WITH sums AS ("
    "  SELECT m.id, m.points_balance,"
    "         coalesce(l.total, 0) AS total, coalesce(l.last_after, 0) AS last_after,"
    "         coalesce(p.lots, 0) AS lots"
    "  FROM members m"
    "  LEFT JOIN LATERAL ("
    "    SELECT sum(points) AS total,"
    "           (array_agg(balance_after ORDER BY id DESC))[1] AS last_after"
    "    FROM ledger_entries WHERE member_id = m.id) l ON true"
    "  LEFT JOIN LATERAL ("
    "    SELECT sum(remaining) AS lots FROM point_lots WHERE member_id = m.id) p ON true)"
    "SELECT (SELECT count(*) FROM members), id, points_balance, total, last_after, lots"
    "  FROM sums WHERE points_balance <> total OR points_balance <> last_after"
    "   OR lots <> greatest(points_balance, 0)"
    " UNION ALL SELECT (SELECT count(*) FROM members), NULL, NULL, NULL, NULL, NULL"
    " ORDER BY 2 NULLS LAST",
};

int store_check_ledger(struct db *db, int max, void (*report)(const struct ledger_breach *b),
                       int64_t *members, int64_t *breaches, struct err *e)
{
    PGresult *res = db_exec(db, &SQL_CHECK_LEDGER, 0, NULL, e);
    int rows;
    int rc = -1;

    if (res == NULL)
        return -1;
    rows = PQntuples(res);
    *breaches = 0;
    *members = 0;
    for (int r = 0; r < rows; r++) {
        struct ledger_breach b;

        if (db_get_i64(res, r, 0, members, e) < 0)
            goto out;
        if (db_is_null(res, r, 1))
            continue; /* the row that only carries the member count */
        if (db_get_i64(res, r, 1, &b.member_id, e) < 0 ||
            db_get_i64(res, r, 2, &b.balance, e) < 0 ||
            db_get_i64(res, r, 3, &b.ledger_sum, e) < 0 ||
            db_get_i64(res, r, 4, &b.last_after, e) < 0 || db_get_i64(res, r, 5, &b.lots, e) < 0)
            goto out;
        if (*breaches < max)
            report(&b);
        (*breaches)++;
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}
