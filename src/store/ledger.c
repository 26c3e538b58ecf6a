/*
 * ledger.c - the points ledger: locking a member for a balance change,
 * appending an entry together with the balance move, and reading pages.
 *
 * The one rule this file exists for: a balance only ever moves in the same
 * statement that appends the ledger entry recording it, so the entries sum
 * to members.points_balance and each entry's balance_after is the balance
 * it left.  The UPDATE of the member runs first inside that statement, so
 * the entry's id is drawn while the member row is locked: a member's
 * entries get ids in commit order, which keeps keyset pages stable.
 *
 * Must not decide whether a movement is allowed (floors, statuses: the
 * caller checked them with the member locked) and must not keep a PGresult
 * past a function.
 */
#include "store/ledger.h"

#include <string.h>

#include "core/xmalloc.h"

/* An entry's columns, in the order read_entry() expects. */
#define ENTRY_COLUMNS                                                                              \
    "id, member_id, kind, points, balance_after, purchase_id, redemption_id, "                     \
    "reason, " DB_TIMESTAMP("created_at") ", " DB_TIMESTAMP("expires_at")

enum {
    COL_ID,
    COL_MEMBER,
    COL_KIND,
    COL_POINTS,
    COL_BALANCE_AFTER,
    COL_PURCHASE,
    COL_REDEMPTION,
    COL_REASON,
    COL_CREATED_AT,
    COL_EXPIRES_AT,
    NCOLS
};

/* An optional bigint column: 0 when NULL. */
static int get_optional_i64(const PGresult *res, int row, int col, int64_t *out, struct err *e)
{
    *out = 0;
    if (db_is_null(res, row, col))
        return 0;
    return db_get_i64(res, row, col, out, e);
}

/* Reads row `row` starting at column `first` (a page's rows come after a
 * leading "member exists" column). */
static int read_entry(const PGresult *res, int row, int first, struct arena *a,
                      struct ledger_entry *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (db_get_i64(res, row, first + COL_ID, &out->id, e) < 0 ||
        db_get_i64(res, row, first + COL_MEMBER, &out->member_id, e) < 0 ||
        db_get_i64(res, row, first + COL_POINTS, &out->points, e) < 0 ||
        db_get_i64(res, row, first + COL_BALANCE_AFTER, &out->balance_after, e) < 0 ||
        get_optional_i64(res, row, first + COL_PURCHASE, &out->purchase_id, e) < 0 ||
        get_optional_i64(res, row, first + COL_REDEMPTION, &out->redemption_id, e) < 0)
        return -1;
    out->kind = db_get_str(res, row, first + COL_KIND, a);
    out->reason = db_get_str(res, row, first + COL_REASON, a);
    out->created_at = db_get_str(res, row, first + COL_CREATED_AT, a);
    out->expires_at = db_get_str(res, row, first + COL_EXPIRES_AT, a);
    return 0;
}

/* ------------------------------------------------------------ locking -- */

static const struct db_stmt stmt_lock = {
    "ledger_member_lock",
    "SELECT id, status, tier, points_balance FROM members WHERE id = $1::bigint FOR UPDATE"};

int store_member_lock(struct db *db, int64_t member_id, struct arena *a, struct member_lock *out,
                      struct err *e)
{
    PGresult *res = db_exec_id(db, &stmt_lock, member_id, e);
    int rc = -1;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        err_set(e, ERR_NOT_FOUND, "member not found");
        goto out;
    }
    memset(out, 0, sizeof(*out));
    if (db_get_i64(res, 0, 0, &out->id, e) < 0 ||
        db_get_i64(res, 0, 3, &out->points_balance, e) < 0)
        goto out;
    out->status = db_get_str(res, 0, 1, a);
    out->tier = db_get_str(res, 0, 2, a);
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* ---------------------------------------------------------- appending -- */

/* The UPDATE is the CTE the INSERT reads from, so it runs (and locks the
 * member) before the entry's id is drawn. */
static const struct db_stmt stmt_append = {
    "ledger_append",
    "WITH m AS ("
    "  UPDATE members SET points_balance = points_balance + $2::bigint"
    "  WHERE id = $1::bigint RETURNING points_balance)"
    " INSERT INTO ledger_entries (member_id, kind, points, balance_after, purchase_id,"
    "  redemption_id, reason)"
    " SELECT $1::bigint, $3, $2::bigint, m.points_balance, $4::bigint, $5::bigint, $6 FROM m"
    " RETURNING " ENTRY_COLUMNS};

int store_ledger_append(struct db *db, int64_t member_id, const char *kind, int64_t points,
                        int64_t purchase_id, int64_t redemption_id, const char *reason,
                        struct arena *a, struct ledger_entry *out, struct err *e)
{
    char mt[24], pt[24], pur[24], red[24];
    const char *params[6] = {mt, pt, kind, NULL, NULL, reason};
    PGresult *res;
    int rc = -1;

    ly_assert(points != 0 && kind != NULL);
    db_i64_text(member_id, mt);
    db_i64_text(points, pt);
    if (purchase_id != 0) {
        db_i64_text(purchase_id, pur);
        params[3] = pur;
    }
    if (redemption_id != 0) {
        db_i64_text(redemption_id, red);
        params[4] = red;
    }
    res = db_exec(db, &stmt_append, 6, params, e);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        err_set(e, ERR_NOT_FOUND, "member not found");
        goto out;
    }
    if (read_entry(res, 0, 0, a, out, e) < 0)
        goto out;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* ------------------------------------------------------------- paging -- */

/* The member row drives the query so that one statement tells "no such
 * member" (no row) from "no entries" (one row of NULLs): db_exec_owned_page. */
static const struct db_stmt stmt_list = {
    "ledger_list", "SELECT m.id, l.* FROM members m LEFT JOIN LATERAL ("
                   "  SELECT " ENTRY_COLUMNS " FROM ledger_entries"
                   "  WHERE member_id = m.id AND ($2::bigint IS NULL OR id < $2::bigint)"
                   "  ORDER BY id DESC LIMIT $3::int) l ON true"
                   " WHERE m.id = $1::bigint ORDER BY l.id DESC"};

int store_ledger_list(struct db *db, int64_t member_id, int64_t before_id, int limit,
                      struct arena *a, struct ledger_entry **items, int *n, bool *more,
                      struct err *e)
{
    PGresult *res = db_exec_owned_page(db, &stmt_list, member_id, before_id, limit,
                                       "member not found", n, more, e);
    int rc = -1;

    if (res == NULL)
        return -1;
    *items = arena_alloc(a, sizeof(**items) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++)
        if (read_entry(res, i, 1, a, &(*items)[i], e) < 0)
            goto out;
    rc = 0;
out:
    PQclear(res);
    return rc;
}
