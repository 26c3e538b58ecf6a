/*
 * db.c - statements on one connection: opening it, waiting for the server,
 * lazy statement preparation, pipelines (db_queue/db_flush), transactions
 * and the single mapping from SQLSTATE to `enum err_code`.  Who gets which
 * connection is db_pool.c's; turning values into parameters and reading
 * results is db_values.c's.
 *
 * Connection handling follows kore's pgsql.c: a connection that comes back
 * in a failed or open transaction is rolled back, pending results are
 * drained, and a broken connection is re-opened on its next use (at most one
 * attempt per RECONNECT_BACKOFF_US per connection, so an outage costs each
 * request one quick failure, never a hang).
 *
 * BEGIN costs no round trip of its own: db_begin only marks the
 * transaction open, and the transaction's first statement is sent in
 * libpq's pipeline mode right behind the BEGIN, both answered at once.  A
 * transaction that runs no statement sends nothing at all.
 *
 * Every wait for the server goes through fiber_wait_fd(): on an HTTP worker,
 * where handlers run in fibers (core/fiber.h), a statement in flight puts
 * its fiber to sleep and the worker serves other requests meanwhile; on
 * any other thread it is a plain poll(2).  Connections run in libpq's
 * non-blocking mode so that nothing inside libpq waits on its own.
 *
 * Must not contain query text beyond transaction control: SQL lives with the
 * store module that uses it.
 */
#include "store/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/beside.h"
#include "core/buf.h"
#include "core/fiber.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "db_conn.h"

#define RECONNECT_BACKOFF_US 200000u

/* The database every connection opens (borrowed: db_pool_init's). */
static const char *conn_url;

void db_conn_init(const char *url)
{
    conn_url = url;
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Closes db's connection, first telling the thread's loop to stop watching
 * its socket (a fiber may have waited on it). */
void db_conn_close(struct db *db)
{
    if (db->sock >= 0)
        fiber_forget_fd(db->sock);
    db->sock = -1;
    if (db->conn == NULL)
        return;
    db_cancel_untrack(db);
    PQfinish(db->conn);
    db->conn = NULL;
}

/* libpq closes the socket itself when the server goes away: the loop must
 * forget it before anything can open another socket under its number. */
static void note_socket_closed(struct db *db)
{
    if (db->sock >= 0 && (db->conn == NULL || PQsocket(db->conn) != db->sock)) {
        fiber_forget_fd(db->sock);
        db->sock = -1;
    }
}

/* Server notices ("already exists, skipping", or "terminating connection
 * due to administrator command" on a shutdown) go to the JSON log instead of
 * libpq's default raw line on stderr. */
static void notice_to_log(void *arg, const char *message)
{
    char msg[512];

    (void)arg;
    snprintf(msg, sizeof(msg), "%s", message);
    msg[strcspn(msg, "\n")] = '\0';
    /* NOTICE is chatter; WARNING and FATAL (a shutdown) are worth seeing. */
    log_msg(strncmp(msg, "NOTICE", 6) == 0 ? LOG_DEBUG : LOG_WARN, "database notice", msg);
}

PGconn *db_connect(const char *url, struct err *e)
{
    /*
     * The URL is expanded first; the keywords after it add what the operator
     * did not say: bounded connects, dead-peer detection and a statement
     * timeout so no request can hang on the database.
     */
    const char *const keys[] = {
        "dbname",          "connect_timeout",  "application_name", "client_encoding",
        "keepalives_idle", "tcp_user_timeout", "options",          NULL};
    const char *const vals[] = {url ? url : "",
                                "3",
                                "loyaltyd",
                                "UTF8",
                                "10",
                                "10000",
                                "-c statement_timeout=15000 -c lock_timeout=5000",
                                NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);

    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        err_internal(e, ERR_UNAVAILABLE, "cannot connect to the database: %s",
                     conn ? PQerrorMessage(conn) : "out of memory");
        if (conn != NULL)
            PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, notice_to_log, NULL);
    return conn;
}

void db_connect_call(void *call)
{
    struct db_connect_call *c = call;

    err_clear(&c->e);
    c->conn = db_connect(c->url, &c->e);
}

/* db_connect, in a fiber on a thread of its own (core/beside.h): libpq's
 * connect blocks (connect_timeout bounds only its blocking form), up to
 * seconds when the server's host does not answer, and the fiber's worker
 * must go on serving meanwhile.  Anywhere else, and should no thread be
 * had, the caller's thread connects itself. */
static PGconn *connect_aside(const char *url, struct err *e)
{
    struct db_connect_call c = {.url = url};

    if (fiber_self() == NULL)
        return db_connect(url, e);
    if (run_beside(db_connect_call, &c) < 0)
        return db_connect(url, e);
    if (c.conn == NULL)
        *e = c.e;
    return c.conn;
}

/* (Re)opens db's connection, at most once per backoff period; a fiber's
 * connect does not block its worker (connect_aside). */
int db_conn_ensure(struct db *db, struct err *e)
{
    uint64_t t;

    if (db->conn != NULL && !db->broken && PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    t = now_us();
    if (db->last_connect_us != 0 && t - db->last_connect_us < RECONNECT_BACKOFF_US)
        return err_internal(e, ERR_UNAVAILABLE, "database connection down, backing off");
    db->last_connect_us = t;
    db_conn_close(db);
    db->nprepared = 0;
    db->in_tx = false;
    db->begin_pending = false;
    db->broken = false;
    db->conn = connect_aside(conn_url, e);
    if (db->conn == NULL)
        return -1;
    db->sock = PQsocket(db->conn);
    if (PQsetnonblocking(db->conn, 1) != 0) {
        db_conn_close(db);
        return err_internal(e, ERR_UNAVAILABLE, "cannot make the connection non-blocking");
    }
    db_cancel_track(db);
    db->last_connect_us = 0;
    return 0;
}

/* --- waiting: a fiber sleeps, any other caller polls ------------------- */

/* Sends what libpq holds for the server.  False when the connection failed. */
static bool send_all(struct db *db)
{
    int rc;

    while ((rc = PQflush(db->conn)) == 1)
        if (fiber_wait_fd(PQsocket(db->conn), true) < 0)
            return false;
    return rc == 0;
}

/* The next result of what was sent, waiting for it; NULL when there is no
 * more (or the connection failed: PQstatus tells). */
static PGresult *next_result(struct db *db)
{
    while (PQisBusy(db->conn))
        if (fiber_wait_fd(PQsocket(db->conn), false) < 0 || !PQconsumeInput(db->conn))
            break; /* PQgetResult reports the failure */
    return PQgetResult(db->conn);
}

/* The first result of a query just sent, the rest drained (NULL: none). */
static PGresult *only_result(struct db *db)
{
    PGresult *res = next_result(db), *more;

    while ((more = next_result(db)) != NULL)
        PQclear(more);
    return res;
}

/* ROLLBACK, whatever the transaction's state on our side. */
static void send_rollback(struct db *db)
{
    PGresult *res = PQsendQuery(db->conn, "ROLLBACK") && send_all(db) ? only_result(db) : NULL;

    if (PQstatus(db->conn) != CONNECTION_OK)
        db->broken = true;
    PQclear(res);
}

void db_conn_settle(struct db *db)
{
    PGresult *res;

    ly_assert(db->nqueued == 0); /* a db_queue without its db_flush */
    if (db->conn != NULL && !db->broken) {
        while ((res = next_result(db)) != NULL)
            PQclear(res);
        if (PQtransactionStatus(db->conn) != PQTRANS_IDLE)
            send_rollback(db);
    }
    db->in_tx = false;
    db->begin_pending = false;
}

static bool is_prepared(const struct db *db, const struct db_stmt *st)
{
    for (int i = 0; i < db->nprepared; i++)
        if (db->prepared[i] == st)
            return true;
    return false;
}

/* Maps a failed result to an error: the one SQLSTATE table of the daemon. */
static void map_failure(struct db *db, const PGresult *res, const char *what, struct err *e)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *cons = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn);

    note_socket_closed(db);

    snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
    snprintf(db->constraint, sizeof(db->constraint), "%s", cons ? cons : "");
    if (PQstatus(db->conn) != CONNECTION_OK) {
        db->broken = true;
        err_internal(e, ERR_UNAVAILABLE, "%s: connection lost: %s", what, msg);
    } else if (state != NULL && 0 == strcmp(state, "23505")) {
        err_set(e, ERR_CONFLICT, "the resource already exists");
        snprintf(e->internal, sizeof(e->internal), "%s: %s", what, msg);
    } else if (state != NULL && (0 == strcmp(state, "23503") || 0 == strcmp(state, "23514"))) {
        err_set(e, ERR_VALIDATION, "the request violates a constraint");
        snprintf(e->internal, sizeof(e->internal), "%s: %s", what, msg);
    } else if (state != NULL && (0 == strcmp(state, "40001") || 0 == strcmp(state, "40P01") ||
                                 0 == strcmp(state, "57014") || 0 == strcmp(state, "55P03") ||
                                 0 == strncmp(state, "08", 2) || 0 == strcmp(state, "57P01"))) {
        err_internal(e, ERR_UNAVAILABLE, "%s: %s", what, msg);
    } else {
        err_internal(e, ERR_INTERNAL, "%s: %s", what, msg);
    }
}

static int prepare(struct db *db, const struct db_stmt *st, struct err *e)
{
    PGresult *res;

    if (is_prepared(db, st))
        return 0;
    ly_assert(db->nprepared < MAX_PREPARED);
    res = PQsendPrepare(db->conn, st->name, st->sql, 0, NULL) && send_all(db) ? only_result(db)
                                                                              : NULL;
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        map_failure(db, res, st->name, e);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    db->prepared[db->nprepared++] = st;
    return 0;
}

static const struct db_stmt stmt_begin = {"tx_begin", "BEGIN"};

/* One statement of a pipeline. */
struct call {
    const struct db_stmt *st;
    int n;
    const char *const *params;
};

/*
 * The `n` statements of `calls` (after BEGIN when `with_begin`) in one
 * round trip: a pipeline of them and one Sync; after a failing statement
 * the server skips the rest.  out[i] is call i's result, or NULL when it
 * failed or was skipped.  Returns 0, or -1 with `e` set from the first
 * failure (the statements before it keep their results).
 */
static int pipeline(struct db *db, bool with_begin, int n, const struct call *calls, PGresult **out,
                    struct err *e)
{
    PGresult *res;
    bool failed = false, synced = false;
    int first = with_begin ? -1 : 0;

    for (int i = 0; i < n; i++)
        out[i] = NULL;
    if (PQenterPipelineMode(db->conn) != 1 ||
        (with_begin && !PQsendQueryPrepared(db->conn, stmt_begin.name, 0, NULL, NULL, NULL, 0))) {
        map_failure(db, NULL, stmt_begin.name, e);
        db->broken = true;
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (!PQsendQueryPrepared(db->conn, calls[i].st->name, calls[i].n, calls[i].params, NULL,
                                 NULL, 0)) {
            map_failure(db, NULL, calls[i].st->name, e);
            db->broken = true;
            return -1;
        }
    if (PQpipelineSync(db->conn) != 1 || !send_all(db)) {
        map_failure(db, NULL, calls[0].st->name, e);
        db->broken = true;
        return -1;
    }
    /* Each query's result and a NULL, then the Sync. */
    for (int q = first; q < n && !synced; q++) {
        const char *name = q < 0 ? stmt_begin.name : calls[q].st->name;

        while ((res = next_result(db)) != NULL) {
            ExecStatusType status = PQresultStatus(res);

            if (status == PGRES_PIPELINE_SYNC) {
                synced = true;
                PQclear(res);
                break;
            }
            if (!failed && status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
                failed = true;
                map_failure(db, status == PGRES_PIPELINE_ABORTED ? NULL : res, name, e);
            }
            if (q >= 0 && out[q] == NULL &&
                (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK))
                out[q] = res;
            else
                PQclear(res);
        }
        if (PQstatus(db->conn) != CONNECTION_OK)
            break;
    }
    while (!synced && PQstatus(db->conn) == CONNECTION_OK && (res = next_result(db)) != NULL) {
        synced = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
    }
    if (PQstatus(db->conn) != CONNECTION_OK || PQexitPipelineMode(db->conn) != 1) {
        if (!failed)
            map_failure(db, NULL, calls[0].st->name, e);
        db->broken = true;
        failed = true;
    }
    return failed ? -1 : 0;
}

/* BEGIN and the transaction's first statement in one round trip. */
static PGresult *exec_with_begin(struct db *db, const struct db_stmt *st, int n,
                                 const char *const *params, struct err *e)
{
    const struct call c = {st, n, params};
    PGresult *out;

    if (pipeline(db, true, 1, &c, &out, e) < 0) {
        PQclear(out);
        return NULL;
    }
    return out;
}

static PGresult *exec_once(struct db *db, const struct db_stmt *st, int n,
                           const char *const *params, struct err *e)
{
    PGresult *res;
    ExecStatusType status;

    if (prepare(db, st, e) < 0)
        return NULL;
    if (db->begin_pending) {
        if (prepare(db, &stmt_begin, e) < 0)
            return NULL;
        db->begin_pending = false;
        return exec_with_begin(db, st, n, params, e);
    }
    res = PQsendQueryPrepared(db->conn, st->name, n, params, NULL, NULL, 0) && send_all(db)
              ? only_result(db)
              : NULL;
    status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        return res;
    map_failure(db, res, st->name, e);
    PQclear(res);
    return NULL;
}

/*
 * A connection that died while idle (a database restart) fails on its
 * first statement; outside a transaction, or at a transaction's start
 * (`fresh_tx`: its BEGIN went with the failed statements), nothing was
 * done, so the caller may send the same statements again rather than fail
 * a request the database could serve.  Reconnects once for that, the
 * pending BEGIN restored: 1 to retry, 0 when the failure is not that one,
 * -1 (e set) when the reconnect failed.
 */
static int reconnect_to_retry(struct db *db, bool fresh_tx, struct err *e)
{
    if (!db->broken || (db->in_tx && !fresh_tx))
        return 0;
    db->last_connect_us = 0;
    if (db_conn_ensure(db, e) < 0)
        return -1;
    db->in_tx = fresh_tx;
    db->begin_pending = fresh_tx;
    return 1;
}

PGresult *db_exec(struct db *db, const struct db_stmt *st, int n, const char *const *params,
                  struct err *e)
{
    PGresult *res;
    struct err first;
    bool fresh_tx;

    db->sqlstate[0] = '\0';
    db->constraint[0] = '\0';
    if (db_conn_ensure(db, e) < 0)
        return NULL;
    err_clear(&first);
    fresh_tx = db->begin_pending;
    res = exec_once(db, st, n, params, &first);
    if (res != NULL)
        return res;
    switch (reconnect_to_retry(db, fresh_tx, e)) {
    case 1:
        return exec_once(db, st, n, params, e);
    case 0:
        *e = first;
        return NULL;
    default:
        return NULL;
    }
}

void db_queue(struct db *db, const struct db_stmt *st, int n, const char *const *params,
              db_result_fn fn, void *arg)
{
    struct queued *q;

    ly_assert(db->nqueued < DB_MAX_QUEUED && n <= DB_MAX_PARAMS);
    if (db->nqueued == 0)
        db->qtext.len = 0;
    q = &db->queued[db->nqueued++];
    *q = (struct queued){.st = st, .n = n, .fn = fn, .arg = arg, .own = db->own};
    for (int i = 0; i < n; i++) {
        if (params[i] == NULL) {
            q->off[i] = -1;
            continue;
        }
        q->off[i] = (long)db->qtext.len;
        buf_append(&db->qtext, params[i], strlen(params[i]) + 1);
    }
}

void db_queue_errors_to(struct db *db, struct err *own)
{
    db->own = own;
}

/* What db_queue_row hands to its statement's result. */
struct queued_row {
    struct arena *a;
    db_row_fn read;
    void *out;
    bool *found;
};

static int row_done(void *arg, const PGresult *res, struct err *e)
{
    const struct queued_row *r = arg;
    int rc = r->read(res, r->a, r->out, e);

    *r->found = rc == 1;
    return rc < 0 ? -1 : 0;
}

void db_queue_row(struct db *db, const struct db_stmt *st, int n, const char *const *params,
                  struct arena *a, db_row_fn read, void *out, bool *found)
{
    struct queued_row *r = arena_alloc(a, sizeof(*r));

    *r = (struct queued_row){a, read, out, found};
    *found = false;
    db_queue(db, st, n, params, row_done, r);
}

/* Prepares what the queued statements (and a pending BEGIN) need. */
static int prepare_queued(struct db *db, int n, struct err *e)
{
    if (db->begin_pending && prepare(db, &stmt_begin, e) < 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (prepare(db, db->queued[i].st, e) < 0)
            return -1;
    return 0;
}

/* Did a failed pipeline get no result at all? */
static bool no_result(int n, PGresult *const *out)
{
    for (int i = 0; i < n; i++)
        if (out[i] != NULL)
            return false;
    return true;
}

int db_flush(struct db *db, struct err *e)
{
    int n = db->nqueued, rc = 0;
    struct call calls[DB_MAX_QUEUED];
    const char *params[DB_MAX_QUEUED][DB_MAX_PARAMS];
    PGresult *out[DB_MAX_QUEUED];
    struct err first;
    bool fresh_tx;

    ly_assert(n > 0);
    db->nqueued = 0;
    db->own = NULL;
    db->sqlstate[0] = '\0';
    db->constraint[0] = '\0';
    if (db_conn_ensure(db, e) < 0 || prepare_queued(db, n, e) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        const struct queued *q = &db->queued[i];

        for (int k = 0; k < q->n; k++)
            params[i][k] = q->off[k] < 0 ? NULL : db->qtext.data + q->off[k];
        calls[i] = (struct call){q->st, q->n, params[i]};
    }
    err_clear(&first);
    fresh_tx = db->begin_pending;
    if (pipeline(db, db->begin_pending, n, calls, out, &first) < 0) {
        int retry = no_result(n, out) ? reconnect_to_retry(db, fresh_tx, e) : 0;

        if (retry < 0 || (retry > 0 && prepare_queued(db, n, e) < 0))
            return -1;
        rc = -1;
        if (retry > 0) {
            err_clear(&first);
            rc = pipeline(db, fresh_tx, n, calls, out, &first);
        }
    }
    db->begin_pending = false;
    /* Every result that came is read, even after a failure: a caller may
     * need to know what the statements before it did. */
    for (int i = 0; i < n; i++) {
        struct err fe;

        err_clear(&fe);
        if (out[i] != NULL && db->queued[i].fn != NULL &&
            db->queued[i].fn(db->queued[i].arg, out[i], &fe) < 0) {
            if (db->queued[i].own != NULL) {
                if (!err_is_set(db->queued[i].own)) /* its first failure, as the flush's */
                    *db->queued[i].own = fe;
            } else if (rc == 0) {
                rc = -1;
                first = fe;
            }
        }
        PQclear(out[i]);
    }
    if (rc < 0)
        *e = first;
    return rc;
}

static const struct db_stmt stmt_commit = {"tx_commit", "COMMIT"};

static int commit_done(void *arg, const PGresult *res, struct err *e)
{
    bool *committed = arg;

    (void)res;
    (void)e;
    *committed = true;
    return 0;
}

int db_flush_commit(struct db *db, struct err *e)
{
    bool committed = false;
    int rc;

    ly_assert(db->in_tx);
    db_queue(db, &stmt_commit, 0, NULL, commit_done, &committed);
    rc = db_flush(db, e);
    /* Not committed: a statement failed and the server skipped the COMMIT,
     * so the transaction is still open (and failed) for the caller to roll
     * back. */
    if (committed)
        db->in_tx = false;
    return rc;
}

int db_run(struct db *db, const struct db_stmt *st, int n, const char *const *params, struct err *e)
{
    PGresult *res = db_exec(db, st, n, params, e);

    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

PGresult *db_exec_id(struct db *db, const struct db_stmt *st, int64_t id, struct err *e)
{
    char idt[24];
    const char *params[1] = {idt};

    db_i64_text(id, idt);
    return db_exec(db, st, 1, params, e);
}

PGresult *db_exec_page(struct db *db, const struct db_stmt *st, int n, const char **params,
                       int limit, int *rows, bool *more, struct err *e)
{
    char lim[24];
    PGresult *res;

    ly_assert(limit >= 1 && n >= 1);
    db_i64_text((int64_t)limit + 1, lim);
    params[n - 1] = lim;
    res = db_exec(db, st, n, params, e);
    /* lim dies with this frame: the caller's array must not keep it. */
    params[n - 1] = NULL;
    if (res == NULL)
        return NULL;
    *more = PQntuples(res) > limit;
    *rows = *more ? limit : PQntuples(res);
    return res;
}

PGresult *db_exec_owned_page(struct db *db, const struct db_stmt *st, int64_t owner_id,
                             int64_t before_id, int limit, const char *missing, int *rows,
                             bool *more, struct err *e)
{
    char ot[24], bt[24];
    const char *params[3] = {ot, NULL, NULL};
    PGresult *res;

    db_i64_text(owner_id, ot);
    if (before_id != 0) {
        db_i64_text(before_id, bt);
        params[1] = bt;
    }
    res = db_exec_page(db, st, 3, params, limit, rows, more, e);
    if (res == NULL)
        return NULL;
    if (PQntuples(res) == 0) {
        PQclear(res);
        err_set(e, ERR_NOT_FOUND, "%s", missing);
        return NULL;
    }
    if (db_is_null(res, 0, 1))
        *rows = 0;
    return res;
}

static const struct db_stmt stmt_savepoint = {"tx_savepoint", "SAVEPOINT req"};
static const struct db_stmt stmt_rollback_sp = {"tx_rollback_sp", "ROLLBACK TO SAVEPOINT req"};

int db_begin(struct db *db, struct err *e)
{
    ly_assert(!db->in_tx);
    if (db_conn_ensure(db, e) < 0)
        return -1;
    db->in_tx = true;
    db->begin_pending = true;
    return 0;
}

int db_commit(struct db *db, struct err *e)
{
    int rc = 0;

    ly_assert(db->in_tx);
    if (!db->begin_pending)
        rc = db_run(db, &stmt_commit, 0, NULL, e);
    db->in_tx = false;
    db->begin_pending = false;
    return rc;
}

void db_rollback(struct db *db)
{
    /* Not sent: the server never saw the BEGIN.  Not in a transaction: it
     * ended already (db_flush_commit). */
    bool sent = db->in_tx && !db->begin_pending;

    db->in_tx = false;
    db->begin_pending = false;
    if (db->conn == NULL || db->broken || !sent)
        return;
    send_rollback(db);
}

int db_savepoint(struct db *db, struct err *e)
{
    return db_run(db, &stmt_savepoint, 0, NULL, e);
}

int db_rollback_to_savepoint(struct db *db, struct err *e)
{
    return db_run(db, &stmt_rollback_sp, 0, NULL, e);
}

bool db_in_tx(const struct db *db)
{
    return db->in_tx;
}

const char *db_sqlstate(const struct db *db)
{
    return db->sqlstate;
}

const char *db_constraint(const struct db *db)
{
    return db->constraint;
}
