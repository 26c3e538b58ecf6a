/*
 * reader.c - asynchronous reads on one pipelined connection
 * (store/reader.h).
 *
 * A job is a Parse the first time its statement meets this connection,
 * then Bind/Execute; reader_flush ends the batch with one Sync and sends
 * it.  Results come back in order; libpq ends each query's results with a
 * NULL, which is when a job (one or two queries) is complete.
 *
 * A connect runs on a thread of its own (core/beside.h): the owner's loop
 * watches its eventfd instead of the socket meanwhile, and the jobs
 * submitted in the meantime wait in `waiting` and go out together once the
 * connection is up (or fail together when it is not).
 *
 * Must not run anything but reads outside a transaction, wait on the
 * socket or on a connect (it is non-blocking), or keep a job after its
 * `done`.
 */
#include "store/reader.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/beside.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define MAX_PREPARED         64
#define RECONNECT_BACKOFF_US 200000u

struct reader {
    const char *url;
    reader_watch_fn watch;
    void *watch_arg;
    PGconn *conn;                                   /* NULL while down or connecting */
    struct beside *connecting;                      /* a connect in progress, else NULL */
    struct db_connect_call call;                    /* its call (stays put: the thread uses it) */
    struct reader_job *waiting_head, *waiting_tail; /* submitted meanwhile */
    int fd;
    bool want_write;         /* output not yet flushed */
    bool unsynced;           /* jobs sent since the last Sync */
    struct reader_job *head; /* in flight, in send order */
    struct reader_job *tail;
    uint64_t last_connect_us;
    int nprepared;
    const struct db_stmt *prepared[MAX_PREPARED];
};

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void fail(struct reader_job *job, enum err_code code, const char *why)
{
    if (job->res != NULL)
        PQclear(job->res);
    job->res = NULL;
    err_clear(&job->err);
    err_internal(&job->err, code, "%s: %s", job->stmt->name, why);
    job->done(job->arg, NULL, &job->err);
}

static void complete(struct reader_job *job)
{
    PGresult *res = job->res;

    job->res = NULL;
    if (res != NULL && !err_is_set(&job->err)) {
        job->done(job->arg, res, NULL);
        return;
    }
    PQclear(res);
    if (!err_is_set(&job->err))
        err_internal(&job->err, ERR_INTERNAL, "%s: no result", job->stmt->name);
    job->done(job->arg, NULL, &job->err);
}

static void set_watch(struct reader *r, int fd, bool want_write)
{
    int old = r->fd;

    if (old == fd && r->want_write == want_write)
        return;
    r->fd = fd;
    r->want_write = want_write;
    r->watch(r->watch_arg, old, fd, want_write);
}

static void drop(struct reader *r, const char *why)
{
    struct reader_job *job = r->head;

    if (job != NULL || r->conn != NULL)
        log_msg(LOG_WARN, "reader connection dropped", why);
    set_watch(r, -1, false);
    if (r->conn != NULL)
        PQfinish(r->conn);
    r->conn = NULL;
    r->head = r->tail = NULL;
    r->nprepared = 0;
    r->unsynced = false;
    while (job != NULL) {
        struct reader_job *next = job->next;

        fail(job, ERR_UNAVAILABLE, why);
        job = next;
    }
}

/* Starts a connect, at most once per backoff period. */
static int start_connect(struct reader *r, struct err *e)
{
    uint64_t t = now_us();

    if (r->last_connect_us != 0 && t - r->last_connect_us < RECONNECT_BACKOFF_US)
        return err_internal(e, ERR_UNAVAILABLE, "database connection down, backing off");
    r->last_connect_us = t;
    r->call = (struct db_connect_call){.url = r->url};
    r->connecting = beside_start(db_connect_call, &r->call);
    if (r->connecting == NULL)
        return err_internal(e, ERR_UNAVAILABLE, "cannot start a reader connect");
    set_watch(r, beside_fd(r->connecting), false);
    return 0;
}

static void wait_for_connect(struct reader *r, struct reader_job *job)
{
    job->next = NULL;
    if (r->waiting_tail != NULL)
        r->waiting_tail->next = job;
    else
        r->waiting_head = job;
    r->waiting_tail = job;
}

static void send_job(struct reader *r, struct reader_job *job);

/* The connect has ended: sets the connection up and sends the jobs that
 * waited for it, or fails them all. */
static void finish_connect(struct reader *r)
{
    struct reader_job *job = r->waiting_head, *next;

    set_watch(r, -1, false);
    beside_end(r->connecting);
    r->connecting = NULL;
    r->waiting_head = r->waiting_tail = NULL;
    r->conn = r->call.conn;
    if (r->conn != NULL &&
        (PQsetnonblocking(r->conn, 1) != 0 || PQenterPipelineMode(r->conn) != 1)) {
        PQfinish(r->conn);
        r->conn = NULL;
        err_internal(&r->call.e, ERR_UNAVAILABLE, "cannot set up a reader connection");
    }
    if (r->conn == NULL) {
        for (; job != NULL; job = next) {
            next = job->next;
            job->done(job->arg, NULL, &r->call.e);
        }
        return;
    }
    r->last_connect_us = 0;
    r->nprepared = 0;
    set_watch(r, PQsocket(r->conn), false);
    for (; job != NULL && r->conn != NULL; job = next) {
        next = job->next;
        job->next = NULL; /* it joins the list in flight */
        send_job(r, job);
    }
    /* A send that failed dropped the connection: the rest fail too. */
    for (; job != NULL; job = next) {
        next = job->next;
        fail(job, ERR_UNAVAILABLE, "reader connection dropped");
    }
    reader_flush(r);
}

struct reader *reader_new(const char *url, reader_watch_fn watch, void *watch_arg)
{
    struct reader *r = xcalloc(1, sizeof(*r));

    r->url = url;
    r->watch = watch;
    r->watch_arg = watch_arg;
    r->fd = -1;
    return r;
}

static bool is_prepared(const struct reader *r, const struct db_stmt *st)
{
    for (int i = 0; i < r->nprepared; i++)
        if (r->prepared[i] == st)
            return true;
    return false;
}

void reader_submit(struct reader *r, struct reader_job *job)
{
    struct err e;

    job->next = NULL;
    job->res = NULL;
    job->got = false;
    job->queries_left = 1;
    err_clear(&job->err);
    err_clear(&e);
    if (r->conn == NULL && r->connecting == NULL && start_connect(r, &e) < 0) {
        job->done(job->arg, NULL, &e);
        return;
    }
    if (r->connecting != NULL) {
        wait_for_connect(r, job);
        return;
    }
    send_job(r, job);
}

/* Puts a job into the connection's buffer. */
static void send_job(struct reader *r, struct reader_job *job)
{
    if (!is_prepared(r, job->stmt)) {
        ly_assert(r->nprepared < MAX_PREPARED);
        if (!PQsendPrepare(r->conn, job->stmt->name, job->stmt->sql, 0, NULL))
            goto failed;
        r->prepared[r->nprepared++] = job->stmt;
        job->queries_left = 2;
    }
    if (!PQsendQueryPrepared(r->conn, job->stmt->name, job->nparams, job->params, NULL, NULL, 0))
        goto failed;
    if (r->tail != NULL)
        r->tail->next = job;
    else
        r->head = job;
    r->tail = job;
    r->unsynced = true;
    return;
failed:
    /* Not in flight yet: fail it alone, then whatever is. */
    fail(job, ERR_UNAVAILABLE, PQerrorMessage(r->conn));
    drop(r, "send failed");
}

static void send_buffer(struct reader *r)
{
    int rc = PQflush(r->conn);

    if (rc < 0)
        drop(r, PQerrorMessage(r->conn));
    else
        set_watch(r, r->fd, rc == 1);
}

void reader_flush(struct reader *r)
{
    if (r->conn == NULL || !r->unsynced)
        return;
    r->unsynced = false;
    if (PQpipelineSync(r->conn) != 1) {
        drop(r, PQerrorMessage(r->conn));
        return;
    }
    send_buffer(r);
}

/* Reads what has arrived and completes the jobs it finishes. */
static void collect(struct reader *r)
{
    if (PQconsumeInput(r->conn) == 0) {
        drop(r, PQerrorMessage(r->conn));
        return;
    }
    while (r->head != NULL && !PQisBusy(r->conn)) {
        struct reader_job *job = r->head;
        PGresult *res = PQgetResult(r->conn);

        if (res == NULL) {
            /* One query's results are over (a NULL that follows no result,
             * as after a Sync, ends nothing). */
            if (!job->got)
                continue;
            job->got = false;
            if (--job->queries_left > 0)
                continue;
            r->head = job->next;
            if (r->head == NULL)
                r->tail = NULL;
            complete(job);
            continue;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            /* The end of a batch: not part of any job's results. */
            PQclear(res);
            continue;
        }
        job->got = true;
        switch (PQresultStatus(res)) {
        case PGRES_TUPLES_OK:
            if (job->queries_left == 1 && job->res == NULL) {
                job->res = res;
                break;
            }
            PQclear(res);
            break;
        case PGRES_COMMAND_OK: /* the prepare */
            PQclear(res);
            break;
        case PGRES_PIPELINE_ABORTED:
            if (!err_is_set(&job->err))
                err_internal(&job->err, ERR_UNAVAILABLE, "%s: batch aborted", job->stmt->name);
            PQclear(res);
            break;
        default:
            if (!err_is_set(&job->err))
                err_internal(&job->err, ERR_INTERNAL, "%s: %s", job->stmt->name,
                             PQresultErrorMessage(res));
            /* A failed prepare leaves the statement unknown to the server. */
            if (job->queries_left == 2)
                r->nprepared = 0;
            PQclear(res);
            break;
        }
    }
    /* A Sync that arrived after the last job finished is read now, so the
     * next batch starts clean. */
    while (r->conn != NULL && r->head == NULL && !PQisBusy(r->conn)) {
        PGresult *res = PQgetResult(r->conn);

        if (res == NULL)
            break;
        PQclear(res);
    }
}

void reader_ready(struct reader *r, bool readable, bool writable)
{
    if (r->connecting != NULL) {
        if (readable)
            finish_connect(r);
        return;
    }
    if (r->conn == NULL)
        return;
    if (writable)
        send_buffer(r);
    if (r->conn != NULL && readable)
        collect(r);
}

void reader_free(struct reader *r)
{
    if (r == NULL)
        return;
    if (r->connecting != NULL) {
        /* At a worker's end only: the connect has at most its timeout left. */
        struct reader_job *job = r->waiting_head, *next;

        set_watch(r, -1, false);
        beside_end(r->connecting);
        r->connecting = NULL;
        if (r->call.conn != NULL)
            PQfinish(r->call.conn);
        for (; job != NULL; job = next) {
            next = job->next;
            fail(job, ERR_UNAVAILABLE, "reader closing while connecting");
        }
    }
    if (r->head != NULL)
        drop(r, "reader closing with reads in flight");
    if (r->conn != NULL) {
        set_watch(r, -1, false);
        PQfinish(r->conn);
    }
    free(r);
}
