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

#include <stddef.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"

/* An entry's columns, in the order read_entry() expects. */
#define ENTRY_COLUMNS                                                                              \
    "id, member_id, kind, points, balance_after, purchase_id, redemption_id, return_id, "          \
    "reason, " DB_TIMESTAMP("created_at") ", " DB_TIMESTAMP("expires_at")

enum {
    COL_ID,
    COL_MEMBER,
    COL_KIND,
    COL_POINTS,
    COL_BALANCE_AFTER,
    COL_PURCHASE,
    COL_REDEMPTION,
    COL_RETURN,
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
        get_optional_i64(res, row, first + COL_REDEMPTION, &out->redemption_id, e) < 0 ||
        get_optional_i64(res, row, first + COL_RETURN, &out->return_id, e) < 0)
        return -1;
    out->kind = db_get_str(res, row, first + COL_KIND, a);
    out->reason = db_get_str(res, row, first + COL_REASON, a);
    out->created_at = db_get_str(res, row, first + COL_CREATED_AT, a);
    out->expires_at = db_get_str(res, row, first + COL_EXPIRES_AT, a);
    return 0;
}

/* ------------------------------------------------------------ locking -- */

/* The last column compares the version of the row that was locked with
 * the one the statement's snapshot saw (see member_lock.stale). */
static const struct db_stmt stmt_lock = {
    "ledger_member_lock", "SELECT m.id, m.status, m.tier, m.points_balance,"
                          " (SELECT coalesce(sum(l.remaining), 0) FROM point_lots l"
                          "   WHERE l.member_id = m.id AND l.remaining > 0"
                          "     AND l.available_on > (now() AT TIME ZONE $2)::date),"
                          " m.xmin::text = (SELECT s.xmin::text FROM members s WHERE s.id = m.id)"
                          " FROM members m WHERE m.id = $1::bigint FOR UPDATE OF m"};

/* A stmt_lock result into the struct member_lock `dst` (a db_row_fn): 1
 * read, 0 for no member, or -1. */
static int read_member_lock(const PGresult *res, struct arena *a, void *dst, struct err *e)
{
    struct member_lock *out = dst;

    if (PQntuples(res) == 0)
        return 0;
    memset(out, 0, sizeof(*out));
    if (db_get_i64(res, 0, 0, &out->id, e) < 0 ||
        db_get_i64(res, 0, 3, &out->points_balance, e) < 0 ||
        db_get_i64(res, 0, 4, &out->pending_points, e) < 0)
        return -1;
    out->status = db_get_str(res, 0, 1, a);
    out->tier = db_get_str(res, 0, 2, a);
    /* pending <= sum of lots <= max(balance, 0): no overflow */
    out->spendable = out->points_balance - out->pending_points;
    out->stale = !db_get_bool(res, 0, 5);
    return 1;
}

int store_member_lock(struct db *db, int64_t member_id, const char *timezone, struct arena *a,
                      struct member_lock *out, struct err *e)
{
    char idt[24];
    const char *params[2] = {idt, timezone};
    PGresult *res;
    int rc;

    db_i64_text(member_id, idt);
    /* The second run holds the lock from the first: it cannot be stale. */
    for (int attempt = 0; attempt < 2; attempt++) {
        res = db_exec(db, &stmt_lock, 2, params, e);
        if (res == NULL)
            return -1;
        rc = read_member_lock(res, a, out, e);
        PQclear(res);
        if (rc == 0)
            return err_set(e, ERR_NOT_FOUND, "member not found");
        if (rc < 0)
            return -1;
        if (!out->stale)
            return 0;
    }
    return err_internal(e, ERR_INTERNAL, "member row changed under a held lock");
}

void store_member_lock_queue(struct db *db, int64_t member_id, const char *timezone,
                             struct arena *a, struct member_lock *out, bool *found)
{
    char idt[24];
    const char *params[2] = {idt, timezone};

    db_i64_text(member_id, idt);
    db_queue_row(db, &stmt_lock, 2, params, a, read_member_lock, out, found);
}

/* ------------------------------------------------------------ posting -- */

/*
 * One statement, read top to bottom:
 *   mv    the moves, numbered;
 *   d     the lots' calendar: the local day the points were earned, the
 *         last day they are valid, and today (both in the program zone);
 *   m     the balance moves by the moves' sum (the member is locked already);
 *   run   each move's balance after, in order;
 *   ent   the entries, inserted in move order so ids follow it;
 *   lots  each positive entry's lot: what is left of it after repaying
 *         debt (its balance_after, when that is smaller than the entry);
 *   ord, used  negative moves take their total out of the lots that
 *         existed before this statement: spendable first, then soonest
 *         expiry, then oldest; each lot gives what the running total still
 *         needs.  Lots the statement itself writes are invisible here,
 *         which is why negative moves must come first.
 * Data-modifying CTEs run whether or not the final SELECT reads them.
 */
static const struct db_stmt stmt_post = {
    "ledger_post",
    "WITH mv AS ("
    "  SELECT k.kind, k.points, k.reason, k.n"
    "  FROM unnest($2::text[], $3::bigint[], $4::text[]) WITH ORDINALITY AS k(kind, points,"
    "   reason, n)),"
    " d AS ("
    "  SELECT t.ld, (date_trunc('month', t.ld::timestamp)"
    "          + make_interval(months => $10::int + 1) - interval '1 day')::date AS expires_on,"
    "         (now() AT TIME ZONE $9)::date AS today"
    "  FROM (SELECT (coalesce($8::timestamptz, now()) AT TIME ZONE $9)::date AS ld) t),"
    " m AS ("
    "  UPDATE members SET points_balance = points_balance + (SELECT sum(points) FROM mv)::bigint"
    "  WHERE id = $1::bigint AND ($5::bigint IS NULL OR EXISTS (SELECT 1 FROM purchases p"
    "   WHERE p.member_id = $1::bigint AND p.id = $5::bigint))"
    "  RETURNING points_balance - (SELECT sum(points) FROM mv)::bigint AS before),"
    " run AS ("
    "  SELECT mv.kind, mv.points, mv.reason, mv.n,"
    "         m.before + (sum(mv.points) OVER (ORDER BY mv.n))::bigint AS after"
    "  FROM mv, m),"
    " ent AS ("
    "  INSERT INTO ledger_entries (member_id, kind, points, balance_after, purchase_id,"
    "   redemption_id, return_id, reason, expires_at)"
    "  SELECT $1::bigint, r.kind, r.points, r.after, $5::bigint, $6::bigint, $7::bigint, r.reason,"
    "   CASE WHEN r.points > 0 THEN (d.expires_on + 1)::timestamp AT TIME ZONE $9 END"
    "  FROM run r, d ORDER BY r.n"
    "  RETURNING *),"
    " lots AS ("
    "  INSERT INTO point_lots (member_id, entry_id, points, remaining, expires_on, available_on,"
    "   released)"
    "  SELECT $1::bigint, e.id, least(e.points, e.balance_after), least(e.points, e.balance_after),"
    "   d.expires_on, a.available_on, a.available_on <= d.today"
    "  FROM ent e CROSS JOIN d CROSS JOIN LATERAL (SELECT d.ld + CASE WHEN e.kind IN"
    "   ('earn', 'bonus') THEN $11::int ELSE 0 END AS available_on) a"
    "  WHERE e.points > 0 AND e.balance_after > 0),"
    " need AS (SELECT coalesce(sum(-points), 0)::bigint AS x FROM mv WHERE points < 0),"
    " ord AS ("
    "  SELECT l.entry_id, l.remaining, (sum(l.remaining) OVER (ORDER BY l.available_on > d.today,"
    "          l.expires_on, l.entry_id))::bigint AS cum"
    "  FROM point_lots l, d WHERE l.member_id = $1::bigint AND l.remaining > 0),"
    " used AS ("
    "  UPDATE point_lots l SET remaining = l.remaining - least(o.remaining, n.x - (o.cum - "
    "o.remaining))"
    "  FROM ord o, need n"
    "  WHERE n.x > 0 AND EXISTS (SELECT 1 FROM m) AND l.member_id = $1::bigint"
    "   AND l.entry_id = o.entry_id AND o.cum - o.remaining < n.x)"
    " SELECT " ENTRY_COLUMNS " FROM ent ORDER BY id"};

/* Writes v as a parameter, or leaves the parameter NULL when v is 0. */
static void optional_id(int64_t v, char buf[24], const char **param)
{
    *param = NULL;
    if (v != 0) {
        db_i64_text(v, buf);
        *param = buf;
    }
}

/* Where a queued posting's entries go. */
struct post_read {
    const struct ledger_posting *p;
    struct arena *a;
    struct ledger_entry *out;
};

static int post_done(void *arg, const PGresult *res, struct err *e)
{
    const struct post_read *r = arg;

    if (PQntuples(res) == 0)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    if (PQntuples(res) != r->p->nmoves)
        return err_internal(e, ERR_INTERNAL, "ledger post wrote %d of %d entries", PQntuples(res),
                            r->p->nmoves);
    for (int i = 0; i < r->p->nmoves; i++)
        if (read_entry(res, i, 0, r->a, &r->out[i], e) < 0)
            return -1;
    return 0;
}

void store_ledger_post_queue(struct db *db, const struct ledger_posting *p, struct arena *a,
                             struct ledger_entry *out)
{
    char mt[24], ids[3][24], months[24], pending[24];
    struct buf kinds, points, reasons;
    const char *params[11];
    bool positive = false;
    struct post_read *r = arena_alloc(a, sizeof(*r));

    ly_assert(p->nmoves >= 1 && p->nmoves <= LEDGER_MAX_MOVES);
    buf_init(&kinds);
    buf_init(&points);
    buf_init(&reasons);
    buf_puts(&kinds, "{");
    buf_puts(&reasons, "{");
    for (int i = 0; i < p->nmoves; i++) {
        const struct ledger_move *mv = &p->moves[i];

        ly_assert(mv->points != 0 && mv->kind != NULL);
        ly_assert(mv->points > 0 || !positive); /* negatives first */
        positive = positive || mv->points > 0;
        db_array_text(&kinds, i == 0, mv->kind);
        db_array_text(&reasons, i == 0, mv->reason);
    }
    buf_puts(&kinds, "}");
    buf_puts(&reasons, "}");
    db_i64_array(&points, p->moves, p->nmoves, sizeof(*p->moves),
                 offsetof(struct ledger_move, points));
    db_i64_text(p->member_id, mt);
    db_i64_text(p->expiry_months, months);
    db_i64_text(p->pending_days, pending);
    params[0] = mt;
    params[1] = kinds.data;
    params[2] = points.data;
    params[3] = reasons.data;
    optional_id(p->purchase_id, ids[0], &params[4]);
    optional_id(p->redemption_id, ids[1], &params[5]);
    optional_id(p->return_id, ids[2], &params[6]);
    params[7] = p->occurred_at;
    params[8] = p->timezone;
    params[9] = months;
    params[10] = pending;
    *r = (struct post_read){p, a, out};
    db_queue(db, &stmt_post, 11, params, post_done, r);
    buf_cleanup(&kinds);
    buf_cleanup(&points);
    buf_cleanup(&reasons);
}

int store_ledger_post(struct db *db, const struct ledger_posting *p, struct arena *a,
                      struct ledger_entry *out, struct err *e)
{
    store_ledger_post_queue(db, p, a, out);
    return db_flush(db, e);
}

int store_ledger_post_commit(struct db *db, const struct ledger_posting *p, struct arena *a,
                             struct ledger_entry *out, struct err *e)
{
    store_ledger_post_queue(db, p, a, out);
    return db_flush_commit(db, e);
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
