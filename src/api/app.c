/*
 * app.c - what wraps every handler: the request's database connection, the
 * one transaction of a write route, and Idempotency-Key replays.
 *
 * For a ROUTE_TX route the order inside the transaction is:
 *   BEGIN; claim the Idempotency-Key (if any); SAVEPOINT; handler;
 *   on success: store the response; COMMIT
 *   on a 4xx:   ROLLBACK TO SAVEPOINT; store the problem; COMMIT
 *   on a 5xx:   ROLLBACK (the key stays free so the client may retry)
 * Without an Idempotency-Key a handler may send the COMMIT itself, with its
 * last statements (api_tx_ends_with_handler): a purchase then ends in one
 * round trip less.
 * A ROUTE_GATHERS handler is first offered a request with a key before the
 * key is claimed (api_idem_unclaimed): a redemption group then claims it,
 * and stores the answer, in the group's transaction, with these same
 * rules; a handler that does not take it is run again as above.
 * The response sent is the very text stored, so a replay is byte-identical
 * (except that a credential shown once is stored as null: see
 * without_secrets).
 *
 * Every handler but a ROUTE_NO_FIBER one runs in a fiber of its own
 * (core/fiber.h): when one of its statements waits for the database, the
 * fiber sleeps, the request is suspended and the worker serves others;
 * when the fiber ends, its connection goes back to the worker and the
 * request is resumed with what the handler answered.
 *
 * Must not contain SQL or know any particular route.
 */
#include "api/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "api/daily_job.h"
#include "api/fibers.h"
#include "api/gather.h"
#include "api/reads.h"
#include "api/secret.h"
#include "core/fiber.h"
#include "core/json_mem.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "http/problem.h"
#include "store/db.h"
#include "store/idempotency.h"

struct db *api_db(struct req *rq, struct err *e)
{
    if (rq->db != NULL)
        return rq->db;
    rq->db = db_acquire(e);
    /* A write route's transaction begins with its first statement, so a
     * handler that records elsewhere (a purchase group) holds no
     * connection while it waits. */
    if (rq->db != NULL && (rq->route->flags & ROUTE_TX) && db_begin(rq->db, e) < 0) {
        db_release(rq->db);
        rq->db = NULL;
    }
    return rq->db;
}

static void app_done(struct req *rq)
{
    if (rq->db != NULL) {
        db_release(rq->db);
        rq->db = NULL;
    }
}

/*
 * Credentials are stored only as hashes, so the record of a response that
 * shows one keeps it as null: a replay says "created" without showing the
 * secret a second time (the caller that lost it revokes and creates again).
 */
static json_t *without_secrets(const json_t *body)
{
    static const char *const secret_fields[] = {"key", "token"};
    json_t *copy = json_deep_copy(body);

    for (size_t i = 0; copy != NULL && i < sizeof(secret_fields) / sizeof(secret_fields[0]); i++)
        if (json_object_get(copy, secret_fields[i]) != NULL)
            json_object_set_new(copy, secret_fields[i], json_null());
    return copy;
}

char *api_render(struct req *rq, struct resp *rs, const struct err *e, int *status)
{
    json_t *p;
    char *text;

    if (e != NULL) {
        p = problem_from_err(e, rq->request_id);
        text = json_mem_dumps(p, JSON_COMPACT | JSON_REAL_PRECISION(15));
        json_decref(p);
        *status = err_info_of(e->code)->status;
    } else if (rs->json != NULL) {
        text = json_mem_dumps(rs->json, JSON_COMPACT | JSON_REAL_PRECISION(15));
        *status = rs->status;
    } else if (rs->raw != NULL) {
        /* A body the handler already has as text (a stored response). */
        text = xmalloc(rs->raw_len + 1);
        memcpy(text, rs->raw, rs->raw_len);
        text[rs->raw_len] = '\0';
        *status = rs->status;
    } else {
        text = xstrdup("");
        *status = rs->status;
    }
    if (text == NULL)
        text = xstrdup("");
    return text;
}

/* Makes `text` (steals it) the response body. */
void api_send_text(struct resp *rs, int status, char *text)
{
    size_t len = strlen(text);

    json_decref(rs->json);
    rs->json = NULL;
    if (len == 0) {
        free(text);
        resp_empty(rs, status);
        return;
    }
    resp_raw(rs, status,
             status >= 400 ? "application/problem+json" : "application/json; charset=utf-8", text,
             len);
}

static int idem_scope(const struct req *rq, char *dst, size_t n)
{
    if (rq->who.role == ROLE_MEMBER)
        return snprintf(dst, n, "tok:%lld", (long long)rq->who.token_id);
    return snprintf(dst, n, "key:%lld", (long long)rq->who.key_id);
}

/* The request names an Idempotency-Key (only a POST's counts). */
static bool has_idempotency_key(const struct req *rq)
{
    return rq->method == HTTP_POST && rq->idempotency_key != NULL;
}

int api_idem_replay(struct resp *rs, const struct idem_record *rec, struct err *e)
{
    if (!rec->same_request)
        return err_set(e, ERR_IDEMPOTENCY_KEY_REUSED,
                       "this Idempotency-Key was used with a different request");
    api_send_text(rs, rec->status, xstrdup(rec->body ? rec->body : ""));
    return 0;
}

const struct idem_key *api_idem_unclaimed(const struct req *rq)
{
    return rq->idem_unclaimed;
}

bool api_tx_ends_with_handler(const struct req *rq)
{
    return (rq->route->flags & ROUTE_TX) && !has_idempotency_key(rq);
}

/* Commits the request's transaction (unless the handler did, see
 * api_tx_ends_with_handler, or had none), then runs the handler's
 * on_commit. */
static int commit(struct req *rq, struct db *db, struct err *e)
{
    if (db != NULL && db_in_tx(db) && db_commit(db, e) < 0)
        return -1;
    if (rq->on_commit != NULL)
        rq->on_commit(rq, rq->on_commit_arg);
    return 0;
}

/* A ROUTE_GATHERS request with a key, offered to its handler before the
 * key is claimed: 0 or -1 when the handler answered (in a group, which
 * stored the answer with the key), API_RUN_AGAIN when it did nothing. */
static int run_unclaimed(struct req *rq, struct resp *rs, const struct idem_key *k, struct err *e)
{
    struct err herr;
    int rc;

    err_clear(&herr);
    rq->idem_unclaimed = k;
    rq->idem_taken = false;
    rc = rq->route->handler(rq, rs, &herr);
    rq->idem_unclaimed = NULL;
    /* Refused before a group took the key (a body the handler rejects):
     * run again where the key is claimed first, so that the refusal is
     * stored and its retry answered from the record. */
    if (rc == API_RUN_AGAIN || (rc < 0 && !rq->idem_taken))
        return API_RUN_AGAIN;
    /* The group used its own connection: nothing of this request's to end. */
    ly_assert(rq->db == NULL);
    if (rc < 0) {
        *e = herr;
        return -1;
    }
    return commit(rq, NULL, e);
}

static int run_tx(struct req *rq, struct resp *rs, struct err *e)
{
    struct db *db = NULL;
    struct idem_key k;
    struct idem_record rec;
    char scope[48], hash[67];
    bool idem = has_idempotency_key(rq);
    struct err herr;
    char *text;
    char *stored = NULL; /* what the record keeps, when it differs from `text` */
    int status;

    if (idem) {
        size_t klen = strlen(rq->idempotency_key);

        if (klen == 0 || klen > 200)
            return err_field(e, "Idempotency-Key", "must be 1 to 200 characters");
        idem_scope(rq, scope, sizeof(scope));
        secret_hash_bytea(rq->body.data ? rq->body.data : "", hash);
        k = (struct idem_key){scope, rq->method_name, rq->path, rq->idempotency_key, hash};
    }
    if (idem && (rq->route->flags & ROUTE_GATHERS)) {
        int rc = run_unclaimed(rq, rs, &k, e);

        if (rc != API_RUN_AGAIN)
            return rc;
    }
    if (idem) {
        int claimed;

        db = api_db(rq, e);
        if (db == NULL)
            return -1;
        claimed = store_idem_claim(db, &k, &rec, &rq->arena, e);
        if (claimed < 0)
            goto fail;
        if (claimed == 1) {
            db_rollback(db);
            return api_idem_replay(rs, &rec, e);
        }
        if (db_savepoint(db, e) < 0)
            goto fail;
    }

    err_clear(&herr);
    if (rq->route->handler(rq, rs, &herr) < 0) {
        if (!idem) {
            if (rq->db != NULL)
                db_rollback(rq->db);
            *e = herr;
            return -1;
        }
        if (err_info_of(herr.code)->status >= 500 || db_rollback_to_savepoint(db, e) < 0) {
            db_rollback(db);
            *e = herr;
            return -1;
        }
        text = api_render(rq, rs, &herr, &status);
    } else {
        if (!idem)
            return commit(rq, rq->db, e);
        text = api_render(rq, rs, NULL, &status);
        if ((rq->route->flags & ROUTE_SECRET) && rs->json != NULL) {
            json_t *redacted = without_secrets(rs->json);

            stored =
                redacted ? json_mem_dumps(redacted, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
            json_decref(redacted);
        }
    }
    if (store_idem_finish(db, &k, status, stored ? stored : text, e) < 0 || commit(rq, db, e) < 0) {
        free(stored);
        free(text);
        goto fail;
    }
    free(stored);
    api_send_text(rs, status, text);
    return 0;
fail:
    db_rollback(db);
    return -1;
}

static int run_route(struct req *rq, struct resp *rs, struct err *e)
{
    if (rq->route->flags & ROUTE_TX)
        return run_tx(rq, rs, e);
    return rq->route->handler(rq, rs, e);
}

/* A request run in a fiber, and what it answered (in the request arena). */
struct fiber_run {
    struct req *rq;
    struct resp rs;
    struct err e;
    int rc;
};

static void fiber_main(void *arg)
{
    struct fiber_run *fr = arg;

    fr->rc = run_route(fr->rq, &fr->rs, &fr->e);
    /* The connection goes back now, not when the answer has been sent: a
     * fiber of this worker may be waiting for it. */
    app_done(fr->rq);
    /* Suspended (by app_run) only if the fiber slept. */
    if (fr->rq->suspended)
        req_resume(fr->rq);
}

static int fiber_answer(struct req *rq, struct resp *rs, struct err *e, void *arg)
{
    struct fiber_run *fr = arg;

    (void)rq;
    *rs = fr->rs;
    *e = fr->e;
    return fr->rc;
}

static int app_run(struct req *rq, struct resp *rs, struct err *e)
{
    struct fiber_run *fr;

    if (rq->route->flags & ROUTE_NO_FIBER)
        return run_route(rq, rs, e);
    api_fibers_enter();
    fr = arena_alloc(&rq->arena, sizeof(*fr));
    *fr = (struct fiber_run){.rq = rq};
    err_clear(&fr->e);
    if (fiber_switch(fiber_new(fiber_main, fr)))
        return fiber_answer(rq, rs, e, fr);
    /* Only ROUTE_NO_FIBER handlers suspend on their own. */
    ly_assert(!rq->suspended);
    req_suspend(rq, fiber_answer, fr);
    return 0;
}

/* An authentication that needs the database, in a fiber of its own. */
struct auth_run {
    struct req *rq;
    const struct auth_miss *miss; /* in rq's arena */
    bool held;                    /* the server holds rq for req_auth_done */
    int rc;
    struct err e;
};

static void auth_main(void *arg)
{
    struct auth_run *ar = arg;

    ar->rc = auth_lookup(ar->rq, ar->miss, &ar->e);
    if (ar->held)
        req_auth_done(ar->rq, ar->rc, &ar->e);
}

/* The server's hook: a cache hit answers at once; a miss asks the database
 * in a fiber, so that the worker serves others meanwhile. */
static int app_authenticate(struct req *rq, struct err *e)
{
    struct auth_miss *miss = NULL;
    struct auth_run *ar;
    int rc = auth_check(rq, &miss, e);

    if (rc != 1)
        return rc;
    api_fibers_enter();
    ar = arena_alloc(&rq->arena, sizeof(*ar));
    *ar = (struct auth_run){.rq = rq, .miss = miss};
    err_clear(&ar->e);
    if (fiber_switch(fiber_new(auth_main, ar))) {
        if (ar->rc < 0)
            *e = ar->e;
        return ar->rc;
    }
    ar->held = true;
    return 1;
}

/* After each turn of a worker's loop: first the fibers woken during it
 * (by a connection given back), then the reads the turn queued. */
static void app_turn(void)
{
    api_fibers_turn();
    api_reads_turn();
}

static void app_worker_end(void)
{
    api_reads_worker_end();
    api_fibers_worker_end();
}

/* The stop's grace period ran out with requests in flight (called again
 * each second while some still wait): no daily job run starts another
 * batch, and what they run on the database is cancelled, so that each is
 * answered (503) and its worker can end.  A POST /v1/jobs/daily waiting
 * for another daemon's batch would otherwise hold the stop for minutes. */
static void app_grace_over(void)
{
    char n[16];

    daily_job_cancel();
    snprintf(n, sizeof(n), "%d", db_cancel_all());
    log_msg(LOG_WARN, "connections asked to cancel their statement", n);
}

static struct http_app app;

const struct http_app *api_app(const struct cfg *c)
{
    for (size_t i = 0; i < api_nroutes; i++) {
        /* Every POST must be able to honour Idempotency-Key. */
        ly_assert(api_routes[i].method != HTTP_POST || (api_routes[i].flags & ROUTE_TX));
    }
    app.routes = api_routes;
    app.nroutes = api_nroutes;
    app.authenticate = app_authenticate;
    app.run = app_run;
    app.done = app_done;
    app.turn = app_turn;
    app.due_ms = gather_due_ms;
    app.worker_end = app_worker_end;
    app.grace_over = app_grace_over;
    api_reads_init(c->database_url);
    return &app;
}
