/*
 * db.c - the libpq connection pool, lazy statement preparation, transactions
 * and the single mapping from SQLSTATE to `enum err_code`.
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
 * Must not contain query text beyond transaction control: SQL lives with the
 * store module that uses it.
 */
#include "store/db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define MAX_PREPARED         256
#define ACQUIRE_TIMEOUT_S    5
#define RECONNECT_BACKOFF_US 200000u

struct db {
    PGconn *conn;
    bool in_tx;
    bool begin_pending; /* in_tx, and BEGIN not sent yet */
    bool broken;
    uint64_t last_connect_us;
    int nprepared;
    const struct db_stmt *prepared[MAX_PREPARED];
    char sqlstate[6];
    char constraint[64];
};

static struct {
    const char *url;
    int size;
    struct db *dbs;
    struct db **free_list;
    int nfree;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_int in_use;
} pool;

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void db_pool_init(const char *url, int size)
{
    pool.url = url;
    pool.size = size;
    pool.dbs = xcalloc((size_t)size, sizeof(*pool.dbs));
    pool.free_list = xcalloc((size_t)size, sizeof(*pool.free_list));
    for (int i = 0; i < size; i++)
        pool.free_list[i] = &pool.dbs[size - 1 - i];
    pool.nfree = size;
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.cond, NULL);
    atomic_store(&pool.in_use, 0);
}

void db_pool_cleanup(void)
{
    if (pool.dbs == NULL)
        return;
    for (int i = 0; i < pool.size; i++)
        if (pool.dbs[i].conn != NULL)
            PQfinish(pool.dbs[i].conn);
    free(pool.dbs);
    free(pool.free_list);
    pool.dbs = NULL;
    pool.free_list = NULL;
    pthread_cond_destroy(&pool.cond);
    pthread_mutex_destroy(&pool.lock);
}

int db_pool_in_use(void)
{
    return atomic_load_explicit(&pool.in_use, memory_order_relaxed);
}

int db_pool_size(void)
{
    return pool.size;
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

/* (Re)opens db's connection, at most once per backoff period. */
static int ensure_connected(struct db *db, struct err *e)
{
    uint64_t t;

    if (db->conn != NULL && !db->broken && PQstatus(db->conn) == CONNECTION_OK)
        return 0;
    t = now_us();
    if (db->last_connect_us != 0 && t - db->last_connect_us < RECONNECT_BACKOFF_US)
        return err_internal(e, ERR_UNAVAILABLE, "database connection down, backing off");
    db->last_connect_us = t;
    if (db->conn != NULL) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
    db->nprepared = 0;
    db->in_tx = false;
    db->begin_pending = false;
    db->broken = false;
    db->conn = db_connect(pool.url, e);
    if (db->conn == NULL)
        return -1;
    db->last_connect_us = 0;
    return 0;
}

struct db *db_acquire(struct err *e)
{
    struct db *db = NULL;
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += ACQUIRE_TIMEOUT_S;
    pthread_mutex_lock(&pool.lock);
    while (pool.nfree == 0) {
        if (pthread_cond_timedwait(&pool.cond, &pool.lock, &deadline) != 0)
            break;
    }
    if (pool.nfree > 0)
        db = pool.free_list[--pool.nfree];
    pthread_mutex_unlock(&pool.lock);
    if (db == NULL)
        return err_internal(e, ERR_UNAVAILABLE, "no free database connection"), NULL;
    atomic_fetch_add_explicit(&pool.in_use, 1, memory_order_relaxed);
    if (ensure_connected(db, e) < 0) {
        db_release(db);
        return NULL;
    }
    return db;
}

void db_release(struct db *db)
{
    PGresult *res;

    if (db == NULL)
        return;
    if (db->conn != NULL && !db->broken) {
        /* Drain just in case, then make sure no transaction leaks into the
         * next request. */
        while ((res = PQgetResult(db->conn)) != NULL)
            PQclear(res);
        if (PQtransactionStatus(db->conn) != PQTRANS_IDLE)
            db_rollback(db);
    }
    db->in_tx = false;
    db->begin_pending = false;
    atomic_fetch_sub_explicit(&pool.in_use, 1, memory_order_relaxed);
    pthread_mutex_lock(&pool.lock);
    pool.free_list[pool.nfree++] = db;
    pthread_cond_signal(&pool.cond);
    pthread_mutex_unlock(&pool.lock);
}

struct db *db_open_own(void)
{
    return xcalloc(1, sizeof(struct db));
}

void db_close_own(struct db *db)
{
    if (db == NULL)
        return;
    if (db->conn != NULL) {
        if (!db->broken && PQtransactionStatus(db->conn) != PQTRANS_IDLE)
            db_rollback(db);
        PQfinish(db->conn);
    }
    free(db);
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
    res = PQprepare(db->conn, st->name, st->sql, 0, NULL);
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

/*
 * BEGIN and the transaction's first statement in one round trip: a
 * pipeline of the two and a Sync.  Returns the statement's result, or NULL
 * with `e` set from the first failure (BEGIN's, or the statement's).
 */
static PGresult *exec_with_begin(struct db *db, const struct db_stmt *st, int n,
                                 const char *const *params, struct err *e)
{
    PGresult *out = NULL, *res;
    bool failed = false, synced = false;

    if (PQenterPipelineMode(db->conn) != 1 ||
        !PQsendQueryPrepared(db->conn, stmt_begin.name, 0, NULL, NULL, NULL, 0) ||
        !PQsendQueryPrepared(db->conn, st->name, n, params, NULL, NULL, 0) ||
        PQpipelineSync(db->conn) != 1) {
        map_failure(db, NULL, st->name, e);
        db->broken = true;
        return NULL;
    }
    /* BEGIN's result, NULL, the statement's result, NULL, the Sync. */
    for (int query = 0; query < 2 && !synced; query++) {
        while ((res = PQgetResult(db->conn)) != NULL) {
            ExecStatusType status = PQresultStatus(res);

            if (status == PGRES_PIPELINE_SYNC) {
                synced = true;
                PQclear(res);
                break;
            }
            if (!failed && status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
                failed = true;
                map_failure(db, status == PGRES_PIPELINE_ABORTED ? NULL : res,
                            query == 0 ? stmt_begin.name : st->name, e);
            }
            if (query == 1 && !failed && out == NULL)
                out = res;
            else
                PQclear(res);
        }
        if (PQstatus(db->conn) != CONNECTION_OK)
            break;
    }
    while (!synced && PQstatus(db->conn) == CONNECTION_OK &&
           (res = PQgetResult(db->conn)) != NULL) {
        synced = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
        PQclear(res);
    }
    if (PQstatus(db->conn) != CONNECTION_OK || PQexitPipelineMode(db->conn) != 1) {
        if (!failed)
            map_failure(db, NULL, st->name, e);
        db->broken = true;
        failed = true;
    }
    if (failed) {
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
    res = PQexecPrepared(db->conn, st->name, n, params, NULL, NULL, 0);
    status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        return res;
    map_failure(db, res, st->name, e);
    PQclear(res);
    return NULL;
}

PGresult *db_exec(struct db *db, const struct db_stmt *st, int n, const char *const *params,
                  struct err *e)
{
    PGresult *res;
    struct err first;
    bool fresh_tx;

    db->sqlstate[0] = '\0';
    db->constraint[0] = '\0';
    if (ensure_connected(db, e) < 0)
        return NULL;
    err_clear(&first);
    fresh_tx = db->begin_pending;
    res = exec_once(db, st, n, params, &first);
    if (res != NULL)
        return res;
    /*
     * A connection that died while idle (a database restart) fails on its
     * first statement; outside a transaction, or at a transaction's first
     * statement, nothing was done, so reconnect once and retry rather than
     * fail a request the database could serve.
     */
    if (db->broken && (!db->in_tx || fresh_tx)) {
        db->last_connect_us = 0;
        if (ensure_connected(db, e) < 0)
            return NULL;
        db->in_tx = fresh_tx;
        db->begin_pending = fresh_tx;
        return exec_once(db, st, n, params, e);
    }
    *e = first;
    return NULL;
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

static const struct db_stmt stmt_commit = {"tx_commit", "COMMIT"};
static const struct db_stmt stmt_savepoint = {"tx_savepoint", "SAVEPOINT req"};
static const struct db_stmt stmt_rollback_sp = {"tx_rollback_sp", "ROLLBACK TO SAVEPOINT req"};

int db_begin(struct db *db, struct err *e)
{
    ly_assert(!db->in_tx);
    if (ensure_connected(db, e) < 0)
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
    PGresult *res;
    bool sent = !db->begin_pending; /* else the server never saw the BEGIN */

    db->in_tx = false;
    db->begin_pending = false;
    if (db->conn == NULL || db->broken || !sent)
        return;
    res = PQexec(db->conn, "ROLLBACK");
    if (PQstatus(db->conn) != CONNECTION_OK)
        db->broken = true;
    PQclear(res);
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

void db_i64_text(int64_t v, char buf[24])
{
    snprintf(buf, 24, "%lld", (long long)v);
}

void db_array_text(struct buf *b, bool first, const char *s)
{
    if (!first)
        buf_puts(b, ",");
    if (s == NULL) {
        buf_puts(b, "NULL");
        return;
    }
    buf_puts(b, "\"");
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            buf_append(b, "\\", 1);
        buf_append(b, s, 1);
    }
    buf_puts(b, "\"");
}

void db_i64_array(struct buf *b, const void *base, int n, size_t stride, size_t offset)
{
    buf_puts(b, "{");
    for (int i = 0; i < n; i++) {
        int64_t v;

        memcpy(&v, (const char *)base + (size_t)i * stride + offset, sizeof(v));
        buf_printf(b, i ? ",%lld" : "%lld", (long long)v);
    }
    buf_puts(b, "}");
}

int64_t db_affected(const PGresult *res)
{
    return strtoll(PQcmdTuples((PGresult *)(uintptr_t)res), NULL, 10);
}

bool db_is_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) != 0;
}

int db_get_i64(const PGresult *res, int row, int col, int64_t *out, struct err *e)
{
    const char *s = PQgetvalue(res, row, col);
    char *end;
    long long v;

    if (PQgetisnull(res, row, col))
        return err_internal(e, ERR_INTERNAL, "unexpected NULL in column %d", col);
    v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0')
        return err_internal(e, ERR_INTERNAL, "column %d is not an integer", col);
    *out = (int64_t)v;
    return 0;
}

char *db_get_str(const PGresult *res, int row, int col, struct arena *a)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return arena_strndup(a, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

bool db_get_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}
