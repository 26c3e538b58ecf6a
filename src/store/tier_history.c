/*
 * tier_history.c - the one statement that pages a member's tier changes.
 * Must not write: upgrades are written with their purchase
 * (store/purchases.c), downgrades by the daily job.
 */
#include "store/tier_history.h"

#include <string.h>

/* As in ledger.c: the member row tells "no such member" (no row) from "no
 * changes" (one row of NULLs): db_exec_owned_page. */
static const struct db_stmt stmt_list = {
    "tier_history_list",
    "SELECT m.id, h.* FROM members m LEFT JOIN LATERAL ("
    "  SELECT id, from_tier, to_tier, reason, purchase_id, qualifying_spend,"
    "   to_char(effective_on, 'YYYY-MM-DD'), " DB_TIMESTAMP(
        "created_at") " FROM tier_history"
                      "  WHERE member_id = m.id AND ($2::bigint IS NULL OR id < $2::bigint)"
                      "  ORDER BY id DESC LIMIT $3::int) h ON true"
                      " WHERE m.id = $1::bigint ORDER BY h.id DESC"};

static int read_change(const PGresult *res, int row, struct arena *a, struct tier_change *c,
                       struct err *e)
{
    memset(c, 0, sizeof(*c));
    if (db_get_i64(res, row, 1, &c->id, e) < 0 ||
        (!db_is_null(res, row, 5) && db_get_i64(res, row, 5, &c->purchase_id, e) < 0) ||
        db_get_i64(res, row, 6, &c->qualifying_spend, e) < 0)
        return -1;
    c->from_tier = db_get_str(res, row, 2, a);
    c->to_tier = db_get_str(res, row, 3, a);
    c->reason = db_get_str(res, row, 4, a);
    c->effective_on = db_get_str(res, row, 7, a);
    c->created_at = db_get_str(res, row, 8, a);
    return 0;
}

int store_tier_history_list(struct db *db, int64_t member_id, int64_t before_id, int limit,
                            struct arena *a, struct tier_change **items, int *n, bool *more,
                            struct err *e)
{
    PGresult *res = db_exec_owned_page(db, &stmt_list, member_id, before_id, limit,
                                       "member not found", n, more, e);
    int rc = -1;

    if (res == NULL)
        return -1;
    *items = arena_alloc(a, sizeof(**items) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++)
        if (read_change(res, i, a, &(*items)[i], e) < 0)
            goto out;
    rc = 0;
out:
    PQclear(res);
    return rc;
}
