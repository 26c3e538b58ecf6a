/*
 * idempotency.c - SQL for Idempotency-Key records.
 *
 * A claim first takes a transaction-level advisory lock on the key's hash,
 * then inserts the record.  A request's own claim waits for the lock, so a
 * second claim of the same key waits until the first transaction ends,
 * then either wins (the first rolled back) or finds the finished record.
 * A group's claim (several requests' keys in one transaction) only tries
 * the lock: a key another transaction holds is not the group's to wait
 * for (it would hold up the whole group), and its request goes alone.
 * Every claim takes the lock before the row, so no claim ever waits on the
 * row itself.  Two keys whose hashes collide only wait for each other.
 */
#include "store/idempotency.h"

#include <stdio.h>
#include <stdlib.h>

#define IDEM_LOCK_KEY                                                                              \
    "hashtextextended($1::text || chr(31) || $2::text || chr(31) || $3::text || chr(31) || "       \
    "$4::text, 0)"

static const struct db_stmt SQL_IDEM_CLAIM = {
    "idem_claim",
    "INSERT INTO idempotency_keys (scope, method, path, key, request_hash)"
    " SELECT $1, $2, $3, $4, $5::bytea FROM (SELECT pg_advisory_xact_lock(" IDEM_LOCK_KEY ")) l"
    " ON CONFLICT DO NOTHING RETURNING 1",
};

static const struct db_stmt SQL_IDEM_TRY_CLAIM = {
    "idem_try_claim",
    "INSERT INTO idempotency_keys (scope, method, path, key, request_hash)"
    " SELECT $1, $2, $3, $4, $5::bytea WHERE pg_try_advisory_xact_lock(" IDEM_LOCK_KEY ")"
    " ON CONFLICT DO NOTHING RETURNING 1",
};

static const struct db_stmt SQL_IDEM_GET = {
    "idem_get",
    "SELECT request_hash = $5::bytea, status, body FROM idempotency_keys"
    " WHERE scope = $1 AND method = $2 AND path = $3 AND key = $4",
};

static const struct db_stmt SQL_IDEM_FINISH = {
    "idem_finish",
    "UPDATE idempotency_keys SET status = $5, body = $6"
    " WHERE scope = $1 AND method = $2 AND path = $3 AND key = $4",
};

static const struct db_stmt SQL_IDEM_RELEASE = {
    "idem_release",
    "DELETE FROM idempotency_keys"
    " WHERE scope = $1 AND method = $2 AND path = $3 AND key = $4 AND status IS NULL",
};

static const struct db_stmt SQL_IDEM_EXPIRE = {
    "idem_expire",
    "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'",
};

int store_idem_claim(struct db *db, const struct idem_key *k, struct idem_record *rec,
                     struct arena *a, struct err *e)
{
    const char *p[5] = {k->scope, k->method, k->path, k->key, k->hash};
    PGresult *res = db_exec(db, &SQL_IDEM_CLAIM, 5, p, e);
    int64_t status;
    int rc = -1;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        PQclear(res);
        return 0;
    }
    PQclear(res);
    res = db_exec(db, &SQL_IDEM_GET, 5, p, e);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1 || db_is_null(res, 0, 1)) {
        /* Recorded by a transaction that has not finished it: cannot happen
         * while claims and finishes share one transaction; answer "retry". */
        rc = err_set(e, ERR_CONFLICT, "a request with this Idempotency-Key is in progress");
        goto out;
    }
    if (db_get_i64(res, 0, 1, &status, e) < 0)
        goto out;
    rec->same_request = db_get_bool(res, 0, 0);
    rec->status = (int)status;
    rec->body = db_get_str(res, 0, 2, a);
    rc = 1;
out:
    PQclear(res);
    return rc;
}

int store_idem_finish(struct db *db, const struct idem_key *k, int status, const char *body,
                      struct err *e)
{
    char st[12];
    const char *p[6] = {k->scope, k->method, k->path, k->key, st, body};

    snprintf(st, sizeof(st), "%d", status);
    return db_run(db, &SQL_IDEM_FINISH, 6, p, e);
}

/* A queued claim's two results: the insert's, then the look-up's. */
struct queued_claim {
    struct arena *a;
    struct idem_claim *out;
    bool inserted;
};

static int claim_done(void *arg, const PGresult *res, struct err *e)
{
    struct queued_claim *q = arg;

    (void)e;
    q->inserted = PQntuples(res) == 1;
    return 0;
}

static int claim_read(void *arg, const PGresult *res, struct err *e)
{
    struct queued_claim *q = arg;
    struct idem_claim *out = q->out;
    int64_t status;

    if (q->inserted) {
        out->state = IDEM_CLAIMED;
        return 0;
    }
    /* Not inserted, and no finished record: another transaction holds the
     * key (or one whose hash is the same). */
    if (PQntuples(res) != 1 || db_is_null(res, 0, 1)) {
        out->state = IDEM_IN_PROGRESS;
        return 0;
    }
    if (db_get_i64(res, 0, 1, &status, e) < 0)
        return -1;
    out->state = IDEM_RECORDED;
    out->rec.same_request = db_get_bool(res, 0, 0);
    out->rec.status = (int)status;
    out->rec.body = db_get_str(res, 0, 2, q->a);
    return 0;
}

void store_idem_claim_queue(struct db *db, const struct idem_key *k, struct arena *a,
                            struct idem_claim *out)
{
    const char *p[5] = {k->scope, k->method, k->path, k->key, k->hash};
    struct queued_claim *q = arena_alloc(a, sizeof(*q));

    *q = (struct queued_claim){a, out, false};
    out->state = IDEM_IN_PROGRESS;
    db_queue(db, &SQL_IDEM_TRY_CLAIM, 5, p, claim_done, q);
    db_queue(db, &SQL_IDEM_GET, 5, p, claim_read, q);
}

void store_idem_finish_queue(struct db *db, const struct idem_key *k, int status, const char *body)
{
    char st[12];
    const char *p[6] = {k->scope, k->method, k->path, k->key, st, body};

    snprintf(st, sizeof(st), "%d", status);
    db_queue(db, &SQL_IDEM_FINISH, 6, p, NULL, NULL);
}

void store_idem_release_queue(struct db *db, const struct idem_key *k)
{
    const char *p[4] = {k->scope, k->method, k->path, k->key};

    db_queue(db, &SQL_IDEM_RELEASE, 4, p, NULL, NULL);
}

int store_idem_expire(struct db *db, long long *deleted, struct err *e)
{
    PGresult *res = db_exec(db, &SQL_IDEM_EXPIRE, 0, NULL, e);

    if (res == NULL)
        return -1;
    *deleted = atoll(PQcmdTuples(res));
    PQclear(res);
    return 0;
}
