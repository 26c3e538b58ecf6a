/*
 * feedback.c - every statement on surveys and complaints (store/feedback.h).
 *
 * Each public function runs one parameterised statement on the caller's
 * connection (so inside the request's transaction) and copies what it
 * returns into the caller's arena.  Timestamps are PostgreSQL's clock,
 * rendered RFC 3339 UTC.
 *
 * Must not validate input or decide the order of business checks (the
 * handlers do); must not lock a member-owned row before the caller has
 * locked its member (store/ledger.h); must not keep a PGresult past a
 * function.
 */
#include "store/feedback.h"

#include <string.h>

/* A positive id as a parameter, or SQL NULL for 0. */
static const char *opt_id(int64_t v, char buf[24])
{
    if (v == 0)
        return NULL;
    db_i64_text(v, buf);
    return buf;
}

/* -------------------------------------------------------------- surveys -- */

#define SURVEY_COLUMNS                                                                             \
    "id, member_id, satisfaction, recommend, comment, coalesce(purchase_id, 0), " DB_TIMESTAMP(    \
        "created_at")

enum { SC_ID, SC_MEMBER, SC_SATISFACTION, SC_RECOMMEND, SC_COMMENT, SC_PURCHASE, SC_CREATED };

/* The purchase, when one is named, must be the member's: the INSERT writes
 * nothing otherwise, so the caller can name the field. */
static const struct db_stmt stmt_survey_insert = {
    "surveys_insert",
    "INSERT INTO surveys (member_id, satisfaction, recommend, comment, purchase_id) "
    "SELECT $1::bigint, $2::smallint, $3::smallint, $4::text, $5::bigint "
    "WHERE $5::bigint IS NULL OR EXISTS (SELECT 1 FROM purchases p "
    "  WHERE p.member_id = $1::bigint AND p.id = $5::bigint) "
    "RETURNING " SURVEY_COLUMNS};

int store_survey_insert(struct db *db, const struct survey_new *in, struct arena *a,
                        struct survey *out, struct err *e)
{
    char mt[24], sat[24], rec[24], pt[24];
    const char *params[5] = {mt, sat, rec, in->comment, opt_id(in->purchase_id, pt)};
    int64_t v[6];
    PGresult *res;
    int rc = -1;

    db_i64_text(in->member_id, mt);
    db_i64_text(in->satisfaction, sat);
    db_i64_text(in->recommend, rec);
    res = db_exec(db, &stmt_survey_insert, 5, params, e);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        rc = 0;
        goto out;
    }
    if (db_get_i64(res, 0, SC_ID, &v[0], e) < 0 || db_get_i64(res, 0, SC_MEMBER, &v[1], e) < 0 ||
        db_get_i64(res, 0, SC_SATISFACTION, &v[2], e) < 0 ||
        db_get_i64(res, 0, SC_RECOMMEND, &v[3], e) < 0 ||
        db_get_i64(res, 0, SC_PURCHASE, &v[4], e) < 0)
        goto out;
    memset(out, 0, sizeof(*out));
    out->id = v[0];
    out->member_id = v[1];
    out->satisfaction = (int32_t)v[2]; /* CHECK: 1..5 */
    out->recommend = (int32_t)v[3];    /* CHECK: 0..10 */
    out->purchase_id = v[4];
    out->comment = db_get_str(res, 0, SC_COMMENT, a);
    out->created_at = db_get_str(res, 0, SC_CREATED, a);
    rc = 1;
out:
    PQclear(res);
    return rc;
}

/* ----------------------------------------------------------- complaints -- */

/* The complaint columns in the order read_complaint() expects; every
 * statement returning a complaint ends with this list. */
#define COMPLAINT_COLUMNS                                                                          \
    "c.id, c.member_id, coalesce(c.purchase_id, 0), c.category, c.text, c.status, "                \
    "c.resolution, c.compensation_points, coalesce(c.ledger_entry_id, 0), " DB_TIMESTAMP(          \
        "c.created_at") ", " DB_TIMESTAMP("c.updated_at") ", " DB_TIMESTAMP("c.resolved_at")

enum {
    CC_ID,
    CC_MEMBER,
    CC_PURCHASE,
    CC_CATEGORY,
    CC_TEXT,
    CC_STATUS,
    CC_RESOLUTION,
    CC_POINTS,
    CC_ENTRY,
    CC_CREATED,
    CC_UPDATED,
    CC_RESOLVED,
    CC_NCOLS
};

static int read_complaint(const PGresult *res, int row, struct arena *a, struct complaint *c,
                          struct err *e)
{
    if (PQnfields(res) != CC_NCOLS)
        return err_internal(e, ERR_INTERNAL, "complaints: %d columns, expected %d", PQnfields(res),
                            CC_NCOLS);
    memset(c, 0, sizeof(*c));
    if (db_get_i64(res, row, CC_ID, &c->id, e) < 0 ||
        db_get_i64(res, row, CC_MEMBER, &c->member_id, e) < 0 ||
        db_get_i64(res, row, CC_PURCHASE, &c->purchase_id, e) < 0 ||
        db_get_i64(res, row, CC_POINTS, &c->compensation_points, e) < 0 ||
        db_get_i64(res, row, CC_ENTRY, &c->ledger_entry_id, e) < 0)
        return -1;
    c->category = db_get_str(res, row, CC_CATEGORY, a);
    c->text = db_get_str(res, row, CC_TEXT, a);
    c->status = db_get_str(res, row, CC_STATUS, a);
    c->resolution = db_get_str(res, row, CC_RESOLUTION, a);
    c->created_at = db_get_str(res, row, CC_CREATED, a);
    c->updated_at = db_get_str(res, row, CC_UPDATED, a);
    c->resolved_at = db_get_str(res, row, CC_RESOLVED, a);
    return 0;
}

/* Runs a statement returning at most one complaint: 1 found, 0 none, -1. */
static int fetch_complaint(struct db *db, const struct db_stmt *st, int n,
                           const char *const *params, struct arena *a, struct complaint *out,
                           struct err *e)
{
    PGresult *res = db_exec(db, st, n, params, e);
    int rc;

    if (res == NULL)
        return -1;
    rc = PQntuples(res) == 0 ? 0 : read_complaint(res, 0, a, out, e) < 0 ? -1 : 1;
    PQclear(res);
    return rc;
}

static const struct db_stmt stmt_complaint_insert = {
    "complaints_insert", "INSERT INTO complaints AS c (member_id, purchase_id, category, text) "
                         "SELECT $1::bigint, $2::bigint, $3::text, $4::text "
                         "WHERE $2::bigint IS NULL OR EXISTS (SELECT 1 FROM purchases p "
                         "  WHERE p.member_id = $1::bigint AND p.id = $2::bigint) "
                         "RETURNING " COMPLAINT_COLUMNS};

int store_complaint_insert(struct db *db, const struct complaint_new *in, struct arena *a,
                           struct complaint *out, struct err *e)
{
    char mt[24], pt[24];
    const char *params[4] = {mt, opt_id(in->purchase_id, pt), in->category, in->text};

    db_i64_text(in->member_id, mt);
    return fetch_complaint(db, &stmt_complaint_insert, 4, params, a, out, e);
}

static const struct db_stmt stmt_complaint_get = {
    "complaints_get", "SELECT " COMPLAINT_COLUMNS " FROM complaints c WHERE c.id = $1::bigint"};

int store_complaint_get(struct db *db, int64_t id, struct arena *a, struct complaint *out,
                        struct err *e)
{
    char idt[24];
    const char *params[1] = {idt};
    int rc;

    db_i64_text(id, idt);
    rc = fetch_complaint(db, &stmt_complaint_get, 1, params, a, out, e);
    if (rc == 0)
        return err_set(e, ERR_NOT_FOUND, "complaint not found");
    return rc < 0 ? -1 : 0;
}

static const struct db_stmt stmt_complaint_lock = {
    "complaints_lock", "SELECT " COMPLAINT_COLUMNS " FROM complaints c "
                       "WHERE c.member_id = $1::bigint AND c.id = $2::bigint FOR UPDATE OF c"};

int store_complaint_lock(struct db *db, int64_t member_id, int64_t id, struct arena *a,
                         struct complaint *out, struct err *e)
{
    char mt[24], idt[24];
    const char *params[2] = {mt, idt};
    int rc;

    db_i64_text(member_id, mt);
    db_i64_text(id, idt);
    rc = fetch_complaint(db, &stmt_complaint_lock, 2, params, a, out, e);
    if (rc == 0)
        return err_set(e, ERR_NOT_FOUND, "complaint not found");
    return rc < 0 ? -1 : 0;
}

/* resolved_at is set on the transition into `resolved` and kept while the
 * complaint stays resolved (the schema allows no way out of it). */
static const struct db_stmt stmt_complaint_update = {
    "complaints_update",
    "UPDATE complaints AS c SET status = $3::text, resolution = coalesce($4::text, c.resolution), "
    "compensation_points = $5::bigint, ledger_entry_id = $6::bigint, updated_at = now(), "
    "resolved_at = CASE WHEN $3::text <> 'resolved' THEN NULL "
    "                   ELSE coalesce(c.resolved_at, now()) END "
    "WHERE c.member_id = $1::bigint AND c.id = $2::bigint RETURNING " COMPLAINT_COLUMNS};

int store_complaint_update(struct db *db, int64_t member_id, int64_t id,
                           const struct complaint_change *c, struct arena *a, struct complaint *out,
                           struct err *e)
{
    char mt[24], idt[24], pts[24], et[24];
    const char *params[6] = {
        mt, idt, c->status, c->resolution, pts, opt_id(c->ledger_entry_id, et)};
    int rc;

    db_i64_text(member_id, mt);
    db_i64_text(id, idt);
    db_i64_text(c->compensation_points, pts);
    rc = fetch_complaint(db, &stmt_complaint_update, 6, params, a, out, e);
    if (rc == 0)
        return err_set(e, ERR_NOT_FOUND, "complaint not found");
    return rc < 0 ? -1 : 0;
}

/* Three statements rather than one with optional filters, so each keeps
 * the plan of its index (a generic plan of "$2 IS NULL OR ..." would not). */
static const struct db_stmt stmt_complaint_list_all = {
    "complaints_list_all", "SELECT " COMPLAINT_COLUMNS " FROM complaints c "
                           "WHERE c.id < $1::bigint ORDER BY c.id DESC LIMIT $2::integer"};

static const struct db_stmt stmt_complaint_list_status = {
    "complaints_list_status",
    "SELECT " COMPLAINT_COLUMNS " FROM complaints c "
    "WHERE c.status = $2::text AND c.id < $1::bigint ORDER BY c.id DESC LIMIT $3::integer"};

static const struct db_stmt stmt_complaint_list_member = {
    "complaints_list_member",
    "SELECT " COMPLAINT_COLUMNS " FROM complaints c "
    "WHERE c.member_id = $2::bigint AND ($3::text IS NULL OR c.status = $3::text) "
    "AND c.id < $1::bigint ORDER BY c.id DESC LIMIT $4::integer"};

int store_complaint_list(struct db *db, const char *status, int64_t member_id, int64_t before_id,
                         int limit, struct arena *a, struct complaint **items, int *n, bool *more,
                         struct err *e)
{
    char before[24], mt[24];
    const char *params[4] = {before, NULL, NULL, NULL};
    const struct db_stmt *st = &stmt_complaint_list_all;
    int nparams = 2;
    PGresult *res;
    int rows, rc = -1;

    db_i64_text(before_id, before);
    if (member_id != 0) {
        st = &stmt_complaint_list_member;
        params[1] = opt_id(member_id, mt);
        params[2] = status;
        nparams = 4;
    } else if (status != NULL) {
        st = &stmt_complaint_list_status;
        params[1] = status;
        nparams = 3;
    }
    res = db_exec_page(db, st, nparams, params, limit, &rows, more, e);
    if (res == NULL)
        return -1;
    *items = arena_alloc(a, sizeof(**items) * (size_t)(rows > 0 ? rows : 1));
    for (int i = 0; i < rows; i++)
        if (read_complaint(res, i, a, &(*items)[i], e) < 0)
            goto out;
    *n = rows;
    rc = 0;
out:
    PQclear(res);
    return rc;
}
