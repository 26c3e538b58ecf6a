/*
 * reader.c - the asynchronous reader (store/reader.h): one thread, an epoll
 * set of its connections' sockets and an eventfd that submitters ring.
 *
 * A turn of the loop takes every queued job, deals them over the
 * connections with the fewest jobs in flight, sends each connection's
 * share as one pipeline batch (a Parse the first time a statement meets a
 * connection, then Bind/Execute per job, one Sync per batch) and flushes
 * it; then it reads whatever results have arrived and completes jobs in
 * order.  A job needs one query result (two when its prepare went with
 * it); libpq ends each query's results with a NULL, which is when a job is
 * complete.  So under load one wake-up sends many reads and collects many
 * results, which is the point: the daemon and the backends then pay one
 * sleep per batch instead of one per request.
 *
 * Must not run anything but reads outside a transaction, block on a
 * connection (sockets are non-blocking; a connect happens only when a
 * connection is down, bounded by its connect_timeout), or keep a job after
 * its `done` has been called.
 */
#include "store/reader.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/xmalloc.h"

#define MAX_CONNS            8
#define MAX_PREPARED         64
#define RECONNECT_BACKOFF_US 200000u

struct rconn {
    PGconn *conn; /* NULL while down */
    int fd;
    bool want_write;         /* EPOLLOUT registered: output not yet flushed */
    struct reader_job *head; /* in flight, in send order */
    struct reader_job *tail;
    int inflight;
    uint64_t last_connect_us;
    int nprepared;
    const struct db_stmt *prepared[MAX_PREPARED];
};

static struct {
    const char *url;
    int nconns;
    struct rconn conns[MAX_CONNS];
    int epfd;
    int efd;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock; /* guards queue and stopping */
    struct reader_job *queue, *queue_tail;
    bool stopping;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1, .efd = -1};

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void complete(struct reader_job *job)
{
    if (job->res != NULL && !err_is_set(&job->err)) {
        PGresult *res = job->res;

        job->res = NULL;
        job->done(job->arg, res, NULL);
        return;
    }
    if (job->res != NULL)
        PQclear(job->res);
    job->res = NULL;
    if (!err_is_set(&job->err))
        err_internal(&job->err, ERR_INTERNAL, "%s: no result", job->stmt->name);
    job->done(job->arg, NULL, &job->err);
}

/* Fails a chain of jobs with ERR_UNAVAILABLE. */
static void fail_all(struct reader_job *job, const char *why)
{
    while (job != NULL) {
        struct reader_job *next = job->next;

        if (job->res != NULL)
            PQclear(job->res);
        job->res = NULL;
        err_clear(&job->err);
        err_internal(&job->err, ERR_UNAVAILABLE, "%s: %s", job->stmt->name, why);
        job->done(job->arg, NULL, &job->err);
        job = next;
    }
}

static void drop_conn(struct rconn *c, const char *why)
{
    struct reader_job *inflight = c->head;

    if (c->conn != NULL) {
        epoll_ctl(R.epfd, EPOLL_CTL_DEL, c->fd, NULL);
        PQfinish(c->conn);
    }
    c->conn = NULL;
    c->fd = -1;
    c->want_write = false;
    c->head = c->tail = NULL;
    c->inflight = 0;
    c->nprepared = 0;
    log_msg(LOG_WARN, "reader connection dropped", why);
    fail_all(inflight, why);
}

static int open_conn(struct rconn *c, struct err *e)
{
    struct epoll_event ev = {.events = EPOLLIN};
    uint64_t t = now_us();

    if (c->last_connect_us != 0 && t - c->last_connect_us < RECONNECT_BACKOFF_US)
        return err_internal(e, ERR_UNAVAILABLE, "database connection down, backing off");
    c->last_connect_us = t;
    c->conn = db_connect(R.url, e);
    if (c->conn == NULL)
        return -1;
    c->fd = PQsocket(c->conn);
    ev.data.ptr = c;
    if (PQsetnonblocking(c->conn, 1) != 0 || PQenterPipelineMode(c->conn) != 1 ||
        epoll_ctl(R.epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        PQfinish(c->conn);
        c->conn = NULL;
        return err_internal(e, ERR_UNAVAILABLE, "cannot set up a reader connection");
    }
    c->last_connect_us = 0;
    c->nprepared = 0;
    return 0;
}

static void watch_output(struct rconn *c, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0u)};

    if (c->want_write == on)
        return;
    ev.data.ptr = c;
    epoll_ctl(R.epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_write = on;
}

static void flush(struct rconn *c)
{
    int rc = PQflush(c->conn);

    if (rc < 0)
        drop_conn(c, PQerrorMessage(c->conn));
    else
        watch_output(c, rc == 1);
}

static bool is_prepared(const struct rconn *c, const struct db_stmt *st)
{
    for (int i = 0; i < c->nprepared; i++)
        if (c->prepared[i] == st)
            return true;
    return false;
}

/* Appends one job to the connection's batch; false when libpq refused it
 * (the connection is then dropped by the caller). */
static bool send_job(struct rconn *c, struct reader_job *job)
{
    job->queries_left = 1;
    job->got = false;
    if (!is_prepared(c, job->stmt)) {
        ly_assert(c->nprepared < MAX_PREPARED);
        if (!PQsendPrepare(c->conn, job->stmt->name, job->stmt->sql, 0, NULL))
            return false;
        c->prepared[c->nprepared++] = job->stmt;
        job->queries_left = 2;
    }
    if (!PQsendQueryPrepared(c->conn, job->stmt->name, job->nparams, job->params, NULL, NULL, 0))
        return false;
    job->next = NULL;
    if (c->tail != NULL)
        c->tail->next = job;
    else
        c->head = job;
    c->tail = job;
    c->inflight++;
    return true;
}

static struct rconn *least_busy(void)
{
    struct rconn *best = &R.conns[0];

    for (int i = 1; i < R.nconns; i++)
        if (R.conns[i].inflight < best->inflight)
            best = &R.conns[i];
    return best;
}

/* Sends every queued job; each connection that got some gets one Sync. */
static void dispatch(struct reader_job *jobs)
{
    bool touched[MAX_CONNS] = {false};

    while (jobs != NULL) {
        struct reader_job *job = jobs;
        struct rconn *c = least_busy();
        struct err e;

        jobs = jobs->next;
        job->next = NULL;
        err_clear(&job->err);
        job->res = NULL;
        err_clear(&e);
        if (c->conn == NULL && open_conn(c, &e) < 0) {
            job->done(job->arg, NULL, &e);
            continue;
        }
        if (!send_job(c, job)) {
            /* Not in the chain yet: fail it on its own, then the rest. */
            err_internal(&job->err, ERR_UNAVAILABLE, "%s: %s", job->stmt->name,
                         PQerrorMessage(c->conn));
            job->done(job->arg, NULL, &job->err);
            drop_conn(c, "send failed");
            continue;
        }
        touched[c - R.conns] = true;
    }
    for (int i = 0; i < R.nconns; i++) {
        struct rconn *c = &R.conns[i];

        if (!touched[i] || c->conn == NULL)
            continue;
        if (PQpipelineSync(c->conn) != 1)
            drop_conn(c, PQerrorMessage(c->conn));
        else
            flush(c);
    }
}

/* Reads what has arrived and completes the jobs it finishes. */
static void collect(struct rconn *c)
{
    if (PQconsumeInput(c->conn) == 0) {
        drop_conn(c, PQerrorMessage(c->conn));
        return;
    }
    while (c->head != NULL && !PQisBusy(c->conn)) {
        struct reader_job *job = c->head;
        PGresult *res = PQgetResult(c->conn);

        if (res == NULL) {
            /* One query's results are over (a NULL that follows no result,
             * as after a Sync, ends nothing). */
            if (!job->got)
                continue;
            job->got = false;
            if (--job->queries_left > 0)
                continue;
            c->head = job->next;
            if (c->head == NULL)
                c->tail = NULL;
            c->inflight--;
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
                c->nprepared = 0;
            PQclear(res);
            break;
        }
    }
    /* A Sync that arrived after the last job finished is read now, so the
     * next batch starts clean. */
    while (c->head == NULL && !PQisBusy(c->conn)) {
        PGresult *res = PQgetResult(c->conn);

        if (res == NULL)
            break;
        PQclear(res);
    }
}

static struct reader_job *take_queue(bool *stopping)
{
    struct reader_job *jobs;

    pthread_mutex_lock(&R.lock);
    jobs = R.queue;
    R.queue = R.queue_tail = NULL;
    *stopping = R.stopping;
    pthread_mutex_unlock(&R.lock);
    return jobs;
}

static void *loop(void *arg)
{
    struct epoll_event evs[MAX_CONNS + 1];
    bool stopping = false;

    (void)arg;
    while (!stopping) {
        int n = epoll_wait(R.epfd, evs, MAX_CONNS + 1, -1);

        if (n < 0 && errno != EINTR)
            log_msg(LOG_ERROR, "reader epoll_wait failed", strerror(errno));
        for (int i = 0; i < n; i++) {
            struct rconn *c = evs[i].data.ptr;
            uint64_t count;

            if (c == NULL) {
                if (read(R.efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
                    log_msg(LOG_ERROR, "reader eventfd read failed", strerror(errno));
                continue;
            }
            if (c->conn == NULL)
                continue;
            if (evs[i].events & EPOLLOUT)
                flush(c);
            if (c->conn != NULL && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                collect(c);
        }
        dispatch(take_queue(&stopping));
    }
    for (int i = 0; i < R.nconns; i++)
        if (R.conns[i].conn != NULL || R.conns[i].head != NULL)
            drop_conn(&R.conns[i], "reader stopping");
    return NULL;
}

int reader_start(const char *url, int nconns, struct err *e)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

    ly_assert(nconns >= 1 && nconns <= MAX_CONNS && !R.started);
    R.url = url;
    R.nconns = nconns;
    for (int i = 0; i < nconns; i++)
        R.conns[i] = (struct rconn){.fd = -1};
    R.stopping = false;
    R.epfd = epoll_create1(EPOLL_CLOEXEC);
    R.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (R.epfd < 0 || R.efd < 0 || epoll_ctl(R.epfd, EPOLL_CTL_ADD, R.efd, &ev) != 0 ||
        pthread_create(&R.thread, NULL, loop, NULL) != 0) {
        if (R.epfd >= 0)
            close(R.epfd);
        if (R.efd >= 0)
            close(R.efd);
        R.epfd = R.efd = -1;
        return err_internal(e, ERR_INTERNAL, "cannot start the reader: %s", strerror(errno));
    }
    R.started = true;
    return 0;
}

static void ring(void)
{
    uint64_t one = 1;

    if (write(R.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_msg(LOG_ERROR, "reader eventfd write failed", strerror(errno));
}

void reader_submit(struct reader_job *job)
{
    bool was_empty;

    ly_assert(R.started);
    job->next = NULL;
    pthread_mutex_lock(&R.lock);
    if (R.stopping) {
        pthread_mutex_unlock(&R.lock);
        fail_all(job, "reader stopping");
        return;
    }
    was_empty = R.queue == NULL;
    if (R.queue_tail != NULL)
        R.queue_tail->next = job;
    else
        R.queue = job;
    R.queue_tail = job;
    pthread_mutex_unlock(&R.lock);
    /* A non-empty queue has rung already and not been taken yet. */
    if (was_empty)
        ring();
}

void reader_stop(void)
{
    struct reader_job *left;
    bool stopping;

    if (!R.started)
        return;
    pthread_mutex_lock(&R.lock);
    R.stopping = true;
    pthread_mutex_unlock(&R.lock);
    ring();
    pthread_join(R.thread, NULL);
    left = take_queue(&stopping);
    fail_all(left, "reader stopping");
    close(R.epfd);
    close(R.efd);
    R.epfd = R.efd = -1;
    R.started = false;
}
