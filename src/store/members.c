/*
 * members.c - every statement on the members table (erasure's revocation
 * of the member's tokens is store_token_revoke_all, in keys.c).
 *
 * Each public function runs one parameterised statement and copies what it
 * returns into the caller's arena.  Timestamps are rendered by PostgreSQL
 * (RFC 3339 in UTC with microseconds), so no time-zone arithmetic happens in
 * C.  A unique violation is turned into a conflict that names the field,
 * from the constraint name PostgreSQL reports.
 *
 * Must not validate input (the API layer does) or decide HTTP statuses
 * beyond the error codes; must not keep a PGresult past a function.
 */
#include "store/members.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "store/db.h"

/* The Member columns in the order read_member() expects.  Every statement
 * returning a member ends with this list, so they cannot drift apart. */
#define MEMBER_COLUMNS                                                                             \
    "id, card_number, name, phone, email, to_char(birthday, 'YYYY-MM-DD'), status, tier, "         \
    "points_balance, referral_code, referred_by, enrolled_store, " DB_TIMESTAMP(                   \
        "enrolled_at") ", " DB_TIMESTAMP("updated_at") ", " INSIGHT_COLUMNS

/* The member's segment and stage from the latest insight snapshot (none for
 * a member the daily job has not seen yet).  Subqueries rather than a join,
 * so that INSERT and UPDATE ... RETURNING can name them as well. */
#define INSIGHT_COLUMNS                                                                            \
    "(SELECT i.segment FROM member_insights i WHERE i.member_id = members.id), "                   \
    "(SELECT i.lifecycle_stage FROM member_insights i WHERE i.member_id = members.id)"

enum {
    COL_ID,
    COL_CARD,
    COL_NAME,
    COL_PHONE,
    COL_EMAIL,
    COL_BIRTHDAY,
    COL_STATUS,
    COL_TIER,
    COL_BALANCE,
    COL_REFERRAL_CODE,
    COL_REFERRED_BY,
    COL_ENROLLED_STORE,
    COL_ENROLLED_AT,
    COL_UPDATED_AT,
    COL_SEGMENT,
    COL_STAGE,
    NCOLS
};

/* ------------------------------------------------------------ helpers -- */

static int read_member(const PGresult *res, int row, struct arena *a, struct member *m,
                       struct err *e)
{
    if (PQnfields(res) != NCOLS)
        return err_internal(e, ERR_INTERNAL, "members: %d columns, expected %d", PQnfields(res),
                            NCOLS);
    memset(m, 0, sizeof(*m));
    if (db_get_i64(res, row, COL_ID, &m->id, e) < 0 ||
        db_get_i64(res, row, COL_BALANCE, &m->points_balance, e) < 0)
        return -1;
    if (!db_is_null(res, row, COL_REFERRED_BY) &&
        db_get_i64(res, row, COL_REFERRED_BY, &m->referred_by, e) < 0)
        return -1;
    m->card_number = db_get_str(res, row, COL_CARD, a);
    m->name = db_get_str(res, row, COL_NAME, a);
    m->phone = db_get_str(res, row, COL_PHONE, a);
    m->email = db_get_str(res, row, COL_EMAIL, a);
    m->birthday = db_get_str(res, row, COL_BIRTHDAY, a);
    m->status = db_get_str(res, row, COL_STATUS, a);
    m->tier = db_get_str(res, row, COL_TIER, a);
    m->referral_code = db_get_str(res, row, COL_REFERRAL_CODE, a);
    m->enrolled_store = db_get_str(res, row, COL_ENROLLED_STORE, a);
    m->enrolled_at = db_get_str(res, row, COL_ENROLLED_AT, a);
    m->updated_at = db_get_str(res, row, COL_UPDATED_AT, a);
    m->segment = db_get_str(res, row, COL_SEGMENT, a);
    m->lifecycle_stage = db_get_str(res, row, COL_STAGE, a);
    return 0;
}

/*
 * After a failed statement: if it was a unique violation on one of the
 * members' keys, say which field clashed.  db_exec has set a generic
 * conflict; only its client-visible text is rewritten here, the code and the
 * logged SQL message stay.
 */
static void name_conflict(const struct db *db, struct err *e)
{
    static const struct {
        const char *constraint;
        const char *field;
    } keys[] = {
        {"members_card_number_key", "card_number"},
        {"members_phone_key", "phone"},
        {"members_email_key", "email"},
        {"members_referral_code_key", "referral_code"},
    };
    struct err_field *f;

    if (e->code != ERR_CONFLICT)
        return;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(db_constraint(db), keys[i].constraint) != 0)
            continue;
        snprintf(e->detail, sizeof(e->detail), "%s is already in use", keys[i].field);
        /* err_field() only adds to validation errors, so the field is added
         * directly: the contract names the clashing field in `errors`. */
        if (e->nfields < ERR_MAX_FIELDS) {
            f = &e->fields[e->nfields++];
            snprintf(f->field, sizeof(f->field), "%s", keys[i].field);
            snprintf(f->message, sizeof(f->message), "is already in use");
        }
        return;
    }
}

/* Runs a statement that returns at most one member: 1 found, 0 none, -1. */
static int fetch_one(struct db *db, const struct db_stmt *st, int n, const char *const *params,
                     struct arena *a, struct member *out, struct err *e)
{
    PGresult *res = db_exec(db, st, n, params, e);
    int rc;

    if (res == NULL) {
        name_conflict(db, e);
        return -1;
    }
    if (PQntuples(res) == 0)
        rc = 0;
    else
        rc = read_member(res, 0, a, out, e) < 0 ? -1 : 1;
    PQclear(res);
    return rc;
}

/* Runs a statement that must return exactly one member. */
static int fetch_required(struct db *db, const struct db_stmt *st, int n, const char *const *params,
                          struct arena *a, struct member *out, struct err *e)
{
    int rc = fetch_one(db, st, n, params, a, out, e);

    if (rc == 0)
        return err_internal(e, ERR_INTERNAL, "%s returned no row", st->name);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------- insert -- */

static const struct db_stmt stmt_insert = {
    "members_insert",
    "INSERT INTO members (card_number, name, phone, email, birthday, referral_code, "
    "referred_by, enrolled_store) VALUES ($1, $2, $3, $4, $5::date, $6, $7::bigint, $8) "
    "RETURNING " MEMBER_COLUMNS};

int store_member_insert(struct db *db, const struct member_new *in, struct arena *a,
                        struct member *out, struct err *e)
{
    char referred_by[24];
    const char *params[8] = {in->card_number, in->name,          in->phone, in->email,
                             in->birthday,    in->referral_code, NULL,      in->enrolled_store};

    if (in->referred_by != 0) {
        db_i64_text(in->referred_by, referred_by);
        params[6] = referred_by;
    }
    return fetch_required(db, &stmt_insert, 8, params, a, out, e);
}

/* ------------------------------------------------------------ reading -- */

static const struct db_stmt stmt_get = {"members_get", "SELECT " MEMBER_COLUMNS
                                                       " FROM members WHERE id = $1::bigint"};

int store_member_get(struct db *db, int64_t id, struct arena *a, struct member *out, struct err *e)
{
    char idbuf[24];
    const char *params[1] = {idbuf};
    int rc;

    db_i64_text(id, idbuf);
    rc = fetch_one(db, &stmt_get, 1, params, a, out, e);
    if (rc == 0)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    return rc < 0 ? -1 : 0;
}

static const struct db_stmt stmt_by_card = {
    "members_by_card", "SELECT " MEMBER_COLUMNS " FROM members WHERE card_number = $1"};

int store_member_find_by_card(struct db *db, const char *card_number, struct arena *a,
                              struct member *out, struct err *e)
{
    const char *params[1] = {card_number};

    return fetch_one(db, &stmt_by_card, 1, params, a, out, e);
}

/* The id column of a stmt_by_card result (a db_row_fn). */
static int read_id(const PGresult *res, struct arena *a, void *out, struct err *e)
{
    (void)a;
    if (PQntuples(res) == 0)
        return 0;
    return db_get_i64(res, 0, COL_ID, out, e) < 0 ? -1 : 1;
}

void store_member_id_by_card_queue(struct db *db, const char *card_number, struct arena *a,
                                   int64_t *member_id, bool *found)
{
    const char *params[1] = {card_number};

    db_queue_row(db, &stmt_by_card, 1, params, a, read_id, member_id, found);
}

/* The IS NOT NULL conditions repeat the partial unique indexes' predicates so
 * the planner can use them. */
static const struct db_stmt stmt_by_phone = {
    "members_by_phone",
    "SELECT " MEMBER_COLUMNS " FROM members WHERE phone = $1 AND phone IS NOT NULL"};

int store_member_find_by_phone(struct db *db, const char *phone, struct arena *a,
                               struct member *out, struct err *e)
{
    const char *params[1] = {phone};

    return fetch_one(db, &stmt_by_phone, 1, params, a, out, e);
}

static const struct db_stmt stmt_by_email = {
    "members_by_email", "SELECT " MEMBER_COLUMNS " FROM members "
                        "WHERE lower(email) = lower($1) AND email IS NOT NULL"};

int store_member_find_by_email(struct db *db, const char *email, struct arena *a,
                               struct member *out, struct err *e)
{
    const char *params[1] = {email};

    return fetch_one(db, &stmt_by_email, 1, params, a, out, e);
}

static const struct db_stmt stmt_by_referral_code = {
    "members_by_referral_code", "SELECT " MEMBER_COLUMNS " FROM members WHERE referral_code = $1"};

int store_member_find_by_referral_code(struct db *db, const char *code, struct arena *a,
                                       struct member *out, struct err *e)
{
    const char *params[1] = {code};

    return fetch_one(db, &stmt_by_referral_code, 1, params, a, out, e);
}

/* ------------------------------------------------------------- update -- */

/*
 * One statement for every combination of fields: a boolean per clearable
 * field says whether it is being set, so NULL can mean "clear" rather than
 * "leave alone".  Closed members are excluded here, not by a prior read, so
 * a concurrent erasure cannot be undone.
 */
static const struct db_stmt stmt_update = {
    "members_update", "UPDATE members SET "
                      "name = COALESCE($2, name), "
                      "phone = CASE WHEN $3::boolean THEN $4 ELSE phone END, "
                      "email = CASE WHEN $5::boolean THEN $6 ELSE email END, "
                      "birthday = CASE WHEN $7::boolean THEN $8::date ELSE birthday END, "
                      "status = COALESCE($9, status), "
                      "updated_at = now() "
                      "WHERE id = $1::bigint AND status <> 'closed' "
                      "RETURNING " MEMBER_COLUMNS};

static const char *flag(bool b)
{
    return b ? "true" : "false";
}

int store_member_update(struct db *db, int64_t id, const struct member_patch *p, struct arena *a,
                        struct member *out, struct err *e)
{
    char idbuf[24];
    const char *params[9] = {idbuf,
                             p->name,
                             flag(p->set_phone),
                             p->phone,
                             flag(p->set_email),
                             p->email,
                             flag(p->set_birthday),
                             p->birthday,
                             p->status};

    db_i64_text(id, idbuf);
    return fetch_one(db, &stmt_update, 9, params, a, out, e);
}

/* -------------------------------------------------------------- erase -- */

/* updated_at stays as it was for a member already closed, so a repeated
 * erasure changes nothing at all. */
static const struct db_stmt stmt_erase = {
    "members_erase", "UPDATE members SET name = NULL, phone = NULL, email = NULL, birthday = NULL, "
                     "updated_at = CASE WHEN status = 'closed' THEN updated_at ELSE now() END, "
                     "status = 'closed' "
                     "WHERE id = $1::bigint RETURNING id"};

int store_member_erase(struct db *db, int64_t id, struct err *e)
{
    PGresult *res = db_exec_id(db, &stmt_erase, id, e);
    int rows;

    if (res == NULL)
        return -1;
    rows = PQntuples(res);
    PQclear(res);
    if (rows == 0)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    return 0;
}
