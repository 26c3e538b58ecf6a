/*
 * returns.c - every statement on purchase_returns, and the purchase's
 * lines and totals as a return reads and moves them.
 *
 * A return is four statements besides the member lock and the ledger's:
 * the purchase it names (no lock: it only tells whose lock to take), an
 * earlier recording of the POS return id, the lines with the new return's
 * id reserved, and the write (return row, lines, purchase, member at once,
 * the line changes as arrays through unnest).  READ COMMITTED gives each
 * statement after the member lock a snapshot that sees every return
 * committed before the lock was granted, which is how a second request with
 * the same POS return id finds the first one's record.
 *
 * Must not compute points or money (src/rules/returns.c does), validate
 * input (the API layer does) or keep a PGresult past a function.
 */
#include "store/returns.h"

#include <stddef.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h" /* ly_assert */
#include "store/db.h"

/* ------------------------------------------------------------- target -- */

static const struct db_stmt stmt_target = {
    "returns_target", "SELECT id, member_id, store_id FROM purchases WHERE id = $1::bigint"};

int store_return_target(struct db *db, int64_t purchase_id, struct arena *a,
                        struct return_target *out, struct err *e)
{
    PGresult *res = db_exec_id(db, &stmt_target, purchase_id, e);
    int rc = -1;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        err_set(e, ERR_NOT_FOUND, "purchase not found");
        goto out;
    }
    memset(out, 0, sizeof(*out));
    if (db_get_i64(res, 0, 0, &out->purchase_id, e) < 0 ||
        db_get_i64(res, 0, 1, &out->member_id, e) < 0)
        goto out;
    out->store_id = db_get_str(res, 0, 2, a);
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* --------------------------------------------------------------- find -- */

static const struct db_stmt stmt_find = {
    "returns_find", "SELECT id, encode(request_hash, 'hex'), result FROM purchase_returns"
                    " WHERE member_id = $1::bigint AND purchase_id = $2::bigint"
                    " AND pos_return_id = $3"};

int store_return_find(struct db *db, int64_t member_id, int64_t purchase_id,
                      const char *pos_return_id, struct arena *a, struct return_record *out,
                      struct err *e)
{
    char mt[24], pt[24];
    const char *params[3] = {mt, pt, pos_return_id};
    PGresult *res;
    int rc = -1;

    db_i64_text(member_id, mt);
    db_i64_text(purchase_id, pt);
    res = db_exec(db, &stmt_find, 3, params, e);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        rc = 0;
        goto out;
    }
    memset(out, 0, sizeof(*out));
    if (db_get_i64(res, 0, 0, &out->id, e) < 0)
        goto out;
    out->request_hash = db_get_str(res, 0, 1, a);
    out->result = db_get_str(res, 0, 2, a);
    rc = 1;
out:
    PQclear(res);
    return rc;
}

/* -------------------------------------------------------------- basis -- */

/*
 * The id comes from the table's own identity, reserved before the row is
 * written because the stored response shows it; MATERIALIZED makes the
 * CTE (and so nextval) run once, not once per line.  now() is the
 * transaction's start, the same value the row's created_at default takes.
 */
static const struct db_stmt stmt_basis = {
    "returns_basis",
    "WITH n AS MATERIALIZED ("
    "  SELECT nextval(pg_get_serial_sequence('purchase_returns', 'id')) AS id,"
    "         " DB_TIMESTAMP(
        "now()") " AS at)"
                 " SELECT p.points_redeemed, p.bonus_points, n.id, n.at, l.line_no, l.sku, "
                 "l.quantity,"
                 "  l.returned_quantity, l.points, l.returned_points, l.redeemed_share,"
                 "  l.returned_redeemed_points, l.net_spend, l.returned_net_spend"
                 " FROM purchases p"
                 " JOIN purchase_lines l ON l.member_id = p.member_id AND l.purchase_id = p.id"
                 " CROSS JOIN n"
                 " WHERE p.member_id = $1::bigint AND p.id = $2::bigint"
                 " ORDER BY l.line_no"};

enum {
    BASIS_REDEEMED,
    BASIS_BONUS,
    BASIS_NEW_ID,
    BASIS_AT,
    BASIS_LINE_NO,
    BASIS_SKU,
    BASIS_QUANTITY, /* then the line's eight bigint columns in struct order */
    BASIS_NCOLS = BASIS_QUANTITY + 8
};

static int read_line(const PGresult *res, int row, struct arena *a, struct return_line_row *l,
                     struct err *e)
{
    int64_t *const cols[8] = {
        &l->quantity,       &l->returned_quantity,        &l->points,    &l->returned_points,
        &l->redeemed_share, &l->returned_redeemed_points, &l->net_spend, &l->returned_net_spend};
    int64_t line_no;

    if (db_get_i64(res, row, BASIS_LINE_NO, &line_no, e) < 0)
        return -1;
    if (line_no < 1 || line_no > 500)
        return err_internal(e, ERR_INTERNAL, "purchase line number %lld", (long long)line_no);
    l->line_no = (int32_t)line_no;
    l->sku = db_get_str(res, row, BASIS_SKU, a);
    for (int c = 0; c < 8; c++)
        if (db_get_i64(res, row, BASIS_QUANTITY + c, cols[c], e) < 0)
            return -1;
    return 0;
}

int store_return_basis(struct db *db, int64_t member_id, int64_t purchase_id, struct arena *a,
                       struct return_basis *out, struct err *e)
{
    char mt[24], pt[24];
    const char *params[2] = {mt, pt};
    PGresult *res;
    int rc = -1;

    db_i64_text(member_id, mt);
    db_i64_text(purchase_id, pt);
    res = db_exec(db, &stmt_basis, 2, params, e);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        err_set(e, ERR_NOT_FOUND, "purchase not found");
        goto out;
    }
    if (PQnfields(res) != BASIS_NCOLS) {
        err_internal(e, ERR_INTERNAL, "return basis: %d columns", PQnfields(res));
        goto out;
    }
    memset(out, 0, sizeof(*out));
    if (db_get_i64(res, 0, BASIS_REDEEMED, &out->points_redeemed, e) < 0 ||
        db_get_i64(res, 0, BASIS_BONUS, &out->bonus_points, e) < 0 ||
        db_get_i64(res, 0, BASIS_NEW_ID, &out->new_id, e) < 0)
        goto out;
    out->created_at = db_get_str(res, 0, BASIS_AT, a);
    out->nlines = PQntuples(res);
    out->lines = arena_alloc(a, sizeof(*out->lines) * (size_t)out->nlines);
    memset(out->lines, 0, sizeof(*out->lines) * (size_t)out->nlines);
    for (int i = 0; i < out->nlines; i++)
        if (read_line(res, i, a, &out->lines[i], e) < 0)
            goto out;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* -------------------------------------------------------------- write -- */

/*
 * As in purchases.c: the data-modifying CTEs all run in one snapshot, each
 * later one only when the return row was written.  The member's row is
 * touched even when no points move, because the purchase context relies on
 * every transaction that changes a member's purchases updating its row
 * (store/purchases.h); the ledger posting that follows updates it again
 * when points do move.  ON CONFLICT DO NOTHING turns a POS return id
 * recorded meanwhile into "nothing written" rather than an aborted
 * transaction (the member lock makes that unreachable today; the UNIQUE
 * constraint is the last line of defence).
 */
static const struct db_stmt stmt_insert = {
    "returns_insert",
    "WITH ret AS ("
    "  INSERT INTO purchase_returns (member_id, id, purchase_id, pos_return_id, points_taken,"
    "   points_given, net_spend_returned, request_hash, result)"
    "  OVERRIDING SYSTEM VALUE"
    "  VALUES ($1::bigint, $2::bigint, $3::bigint, $4, $5::bigint, $6::bigint, $7::bigint,"
    "   decode($8, 'hex'), $9)"
    "  ON CONFLICT ON CONSTRAINT purchase_returns_pos_key DO NOTHING RETURNING id),"
    " ln AS ("
    "  UPDATE purchase_lines l SET returned_quantity = l.returned_quantity + c.quantity,"
    "   returned_points = l.returned_points + c.points,"
    "   returned_redeemed_points = l.returned_redeemed_points + c.redeemed,"
    "   returned_net_spend = l.returned_net_spend + c.net_spend"
    "  FROM unnest($10::int[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[])"
    "   AS c(line_no, quantity, points, redeemed, net_spend)"
    "  WHERE l.member_id = $1::bigint AND l.purchase_id = $3::bigint AND l.line_no = c.line_no"
    "   AND EXISTS (SELECT 1 FROM ret)"
    "  RETURNING 1),"
    " pur AS ("
    "  UPDATE purchases SET net_spend = net_spend - $7::bigint,"
    "   fully_returned = fully_returned OR $15::boolean"
    "  WHERE member_id = $1::bigint AND id = $3::bigint AND EXISTS (SELECT 1 FROM ret)"
    "  RETURNING 1),"
    " mem AS ("
    "  UPDATE members SET updated_at = updated_at"
    "  WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM ret) RETURNING 1)"
    " SELECT (SELECT count(*) FROM ret), (SELECT count(*) FROM ln), (SELECT count(*) FROM pur),"
    "  (SELECT count(*) FROM mem)"};

#define NARRAYS 5

int store_return_insert(struct db *db, const struct return_new *r, struct err *e)
{
    /* The arrays of the statement's unnest, in its order. */
    static const size_t offsets[NARRAYS] = {
        offsetof(struct return_line_change, line_no),
        offsetof(struct return_line_change, quantity),
        offsetof(struct return_line_change, points),
        offsetof(struct return_line_change, redeemed_points),
        offsetof(struct return_line_change, net_spend),
    };
    char num[6][24];
    struct buf arrays[NARRAYS];
    const char *params[15];
    int64_t counts[4];
    PGresult *res;
    int rc = -1;

    ly_assert(r->nchanges >= 1);
    db_i64_text(r->member_id, num[0]);
    db_i64_text(r->id, num[1]);
    db_i64_text(r->purchase_id, num[2]);
    db_i64_text(r->points_taken, num[3]);
    db_i64_text(r->points_given, num[4]);
    db_i64_text(r->net_spend, num[5]);
    for (int i = 0; i < NARRAYS; i++) {
        buf_init(&arrays[i]);
        db_i64_array(&arrays[i], r->changes, r->nchanges, sizeof(*r->changes), offsets[i]);
    }
    params[0] = num[0];
    params[1] = num[1];
    params[2] = num[2];
    params[3] = r->pos_return_id;
    params[4] = num[3];
    params[5] = num[4];
    params[6] = num[5];
    params[7] = r->request_hash;
    params[8] = r->result;
    for (int i = 0; i < NARRAYS; i++)
        params[9 + i] = arrays[i].data;
    params[14] = r->fully_returned ? "true" : "false";

    res = db_exec(db, &stmt_insert, 15, params, e);
    for (int i = 0; i < NARRAYS; i++)
        buf_cleanup(&arrays[i]);
    if (res == NULL)
        return -1;
    for (int i = 0; i < 4; i++)
        if (db_get_i64(res, 0, i, &counts[i], e) < 0)
            goto out;
    if (counts[0] == 0) {
        rc = 0;
        goto out;
    }
    if (counts[0] != 1 || counts[1] != r->nchanges || counts[2] != 1 || counts[3] != 1) {
        err_internal(e, ERR_INTERNAL, "return insert wrote %lld/%lld/%lld/%lld rows",
                     (long long)counts[0], (long long)counts[1], (long long)counts[2],
                     (long long)counts[3]);
        goto out;
    }
    rc = 1;
out:
    PQclear(res);
    return rc;
}
