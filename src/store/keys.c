/*
 * keys.c - all SQL for API keys and member tokens (and the member status
 * read that issuing a token needs).
 *
 * Credentials arrive here already hashed; this file never sees a secret and
 * never decides who may do what (that is api/auth.c).  Each statement sits
 * next to its one user, runs with $n parameters only, and its PGresult is
 * cleared before the function returns: values are copied out first.
 *
 * Revocations need no NOTIFY of their own: the triggers on both tables
 * (migration 0001) announce every UPDATE on channel loyalty_auth.
 */
#include "store/keys.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies a text column into a fixed buffer, truncating (columns are bounded by CHECKs). */
static void copy_col(const PGresult *res, int row, int col, char *dst, size_t n)
{
    snprintf(dst, n, "%s", PQgetisnull(res, row, col) ? "" : PQgetvalue(res, row, col));
}

/* ------------------------------------------------------------ api keys -- */

static const struct db_stmt stmt_key_insert = {
    "key_insert",
    "INSERT INTO api_keys (name, role, store_id, key_hash) VALUES ($1, $2, $3, $4::bytea) "
    "RETURNING id, " DB_TIMESTAMP("created_at")};

int store_key_insert(struct db *db, const char *name, const char *role, const char *store_id,
                     const char *key_hash, struct arena *a, struct store_key *out, struct err *e)
{
    const char *params[] = {name, role, store_id, key_hash};
    PGresult *res = db_exec(db, &stmt_key_insert, 4, params, e);
    int rc = -1;

    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        err_internal(e, ERR_INTERNAL, "key_insert returned %d rows", PQntuples(res));
        goto out;
    }
    if (db_get_i64(res, 0, 0, &out->id, e) < 0)
        goto out;
    out->created_at = db_get_str(res, 0, 1, a);
    out->name = arena_strdup(a, name);
    out->role = arena_strdup(a, role);
    out->store_id = store_id ? arena_strdup(a, store_id) : NULL;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

static const struct db_stmt stmt_key_list = {
    "key_list", "SELECT id, name, role, store_id, " DB_TIMESTAMP(
                    "created_at") " FROM api_keys "
                                  "WHERE revoked_at IS NULL AND id < $1 ORDER BY id DESC LIMIT $2"};

int store_key_list(struct db *db, int64_t before_id, int limit, struct arena *a,
                   struct store_key **items, int *n, bool *more, struct err *e)
{
    char before[24];
    const char *params[] = {before, NULL};
    PGresult *res;
    int rows, rc = -1;

    db_i64_text(before_id, before);
    res = db_exec_page(db, &stmt_key_list, 2, params, limit, &rows, more, e);
    if (res == NULL)
        return -1;
    *items = arena_alloc(a, sizeof(**items) * (size_t)(rows > 0 ? rows : 1));
    for (int i = 0; i < rows; i++) {
        struct store_key *k = &(*items)[i];

        if (db_get_i64(res, i, 0, &k->id, e) < 0)
            goto out;
        k->name = db_get_str(res, i, 1, a);
        k->role = db_get_str(res, i, 2, a);
        k->store_id = db_get_str(res, i, 3, a);
        k->created_at = db_get_str(res, i, 4, a);
    }
    *n = rows;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

static const struct db_stmt stmt_key_revoke = {
    "key_revoke", "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"};

int store_key_revoke(struct db *db, int64_t id, struct err *e)
{
    PGresult *res = db_exec_id(db, &stmt_key_revoke, id, e);
    int64_t changed;

    if (res == NULL)
        return -1;
    changed = db_affected(res);
    PQclear(res);
    if (changed == 0)
        return err_set(e, ERR_NOT_FOUND, "api key not found");
    return 0;
}

static const struct db_stmt stmt_key_find = {
    "key_find",
    "SELECT id, role, store_id FROM api_keys WHERE key_hash = $1::bytea AND revoked_at IS NULL"};

int store_key_find(struct db *db, const char *key_hash, struct store_key_auth *out, struct err *e)
{
    const char *params[] = {key_hash};
    PGresult *res = db_exec(db, &stmt_key_find, 1, params, e);
    int rc = -1;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        rc = 0;
        goto out;
    }
    if (db_get_i64(res, 0, 0, &out->id, e) < 0)
        goto out;
    copy_col(res, 0, 1, out->role, sizeof(out->role));
    copy_col(res, 0, 2, out->store_id, sizeof(out->store_id));
    rc = 1;
out:
    PQclear(res);
    return rc;
}

/*
 * The INSERT and the read of an existing row are one statement so that two
 * daemons starting together cannot both insert.  The SELECT branch runs on
 * the statement's snapshot: a row committed by another process meanwhile is
 * not visible there, which the caller sees as "exists, role unknown".
 */
static const struct db_stmt stmt_key_ensure = {
    "key_ensure",
    "WITH ins AS (INSERT INTO api_keys (name, role, key_hash) VALUES ($1, $2, $3::bytea) "
    "ON CONFLICT (key_hash) DO NOTHING RETURNING id) "
    "SELECT true, false, $2::text FROM ins "
    "UNION ALL "
    "SELECT false, revoked_at IS NOT NULL, role FROM api_keys "
    "WHERE key_hash = $3::bytea AND NOT EXISTS (SELECT 1 FROM ins)"};

int store_key_ensure(struct db *db, const char *name, const char *role, const char *key_hash,
                     struct store_key_ensured *out, struct err *e)
{
    const char *params[] = {name, role, key_hash};
    PGresult *res = db_exec(db, &stmt_key_ensure, 3, params, e);

    if (res == NULL)
        return -1;
    memset(out, 0, sizeof(*out));
    if (PQntuples(res) > 0) {
        out->created = db_get_bool(res, 0, 0);
        out->revoked = db_get_bool(res, 0, 1);
        copy_col(res, 0, 2, out->role, sizeof(out->role));
    }
    PQclear(res);
    return 0;
}

/* ------------------------------------------------------- member tokens -- */

/*
 * FOR SHARE makes a concurrent erasure (an UPDATE of this row that then
 * revokes the member's tokens) wait for the issuing transaction, so the
 * erasure's revocation also covers the token issued here.
 */
static const struct db_stmt stmt_member_status = {
    "token_member_status", "SELECT status FROM members WHERE id = $1 FOR SHARE"};

int store_token_member_status(struct db *db, int64_t member_id, char status[16], struct err *e)
{
    PGresult *res = db_exec_id(db, &stmt_member_status, member_id, e);
    int rows;

    if (res == NULL)
        return -1;
    rows = PQntuples(res);
    if (rows == 1)
        copy_col(res, 0, 0, status, 16);
    PQclear(res);
    if (rows != 1)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    return 0;
}

/* Whole seconds, so the expiry shown is exactly the one enforced. */
static const struct db_stmt stmt_token_insert = {
    "token_insert",
    "INSERT INTO member_tokens (member_id, token_hash, expires_at) "
    "VALUES ($1, $2::bytea, date_trunc('second', now()) + make_interval(secs => $3::bigint)) "
    "RETURNING id, " DB_TIMESTAMP("expires_at")};

int store_token_insert(struct db *db, int64_t member_id, const char *token_hash, int64_t ttl_s,
                       struct arena *a, int64_t *id, const char **expires_at, struct err *e)
{
    char mid[24], ttl[24];
    const char *params[] = {mid, token_hash, ttl};
    PGresult *res;
    int rc = -1;

    db_i64_text(member_id, mid);
    db_i64_text(ttl_s, ttl);
    res = db_exec(db, &stmt_token_insert, 3, params, e);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        err_internal(e, ERR_INTERNAL, "token_insert returned %d rows", PQntuples(res));
        goto out;
    }
    if (db_get_i64(res, 0, 0, id, e) < 0)
        goto out;
    *expires_at = db_get_str(res, 0, 1, a);
    rc = 0;
out:
    PQclear(res);
    return rc;
}

static const struct db_stmt stmt_token_find = {
    "token_find",
    "SELECT t.member_id, t.id, floor(extract(epoch FROM t.expires_at))::bigint "
    "FROM member_tokens t JOIN members m ON m.id = t.member_id "
    "WHERE t.token_hash = $1::bytea AND t.revoked_at IS NULL AND t.expires_at > now() "
    "AND m.status <> 'closed'"};

int store_token_find(struct db *db, const char *token_hash, struct store_token_auth *out,
                     struct err *e)
{
    const char *params[] = {token_hash};
    PGresult *res = db_exec(db, &stmt_token_find, 1, params, e);
    int rc = -1;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        rc = 0;
        goto out;
    }
    if (db_get_i64(res, 0, 0, &out->member_id, e) < 0 ||
        db_get_i64(res, 0, 1, &out->token_id, e) < 0 ||
        db_get_i64(res, 0, 2, &out->expires_at, e) < 0)
        goto out;
    rc = 1;
out:
    PQclear(res);
    return rc;
}

static const struct db_stmt stmt_token_revoke_all = {
    "token_revoke_all",
    "UPDATE member_tokens SET revoked_at = now() WHERE member_id = $1 AND revoked_at IS NULL"};

int store_token_revoke_all(struct db *db, int64_t member_id, int64_t *revoked, struct err *e)
{
    PGresult *res = db_exec_id(db, &stmt_token_revoke_all, member_id, e);

    if (res == NULL)
        return -1;
    if (revoked != NULL)
        *revoked = db_affected(res);
    PQclear(res);
    return 0;
}
