/*
 * notify.c - the LISTEN thread: one dedicated connection, poll(2) on its
 * socket and on a wake-up pipe, a callback per notification, and a callback
 * whenever notifications may have been missed (connection lost, LISTEN
 * re-established), so caches are dropped rather than trusted blindly.
 *
 * Must not know what the channels mean or what the callers cache, and must
 * not run any statement other than LISTEN.
 */
#include "store/notify.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/db.h"

#define RETRY_MS 250
/*
 * Bounds a wait even if a wake-up were lost; stopping normally goes through
 * the pipe and is immediate.
 */
#define IDLE_POLL_MS 1000

struct notify {
    char *url;
    char **channels;
    int nchannels;
    notify_fn cb;
    void *arg;
    pthread_t thread;
    int wake[2]; /* notify_stop() writes to wake[1] */
    atomic_bool stop;
    atomic_bool listening;
};

/* Runs LISTEN for every channel on a fresh connection. */
static PGconn *connect_listening(struct notify *n, struct err *e)
{
    PGconn *conn = db_connect(n->url, e);

    if (conn == NULL)
        return NULL;
    for (int i = 0; i < n->nchannels; i++) {
        /* LISTEN takes an identifier, not a parameter: quote it. */
        char *ident = PQescapeIdentifier(conn, n->channels[i], strlen(n->channels[i]));
        size_t size;
        char *sql;
        PGresult *res;
        bool ok;

        if (ident == NULL) {
            err_internal(e, ERR_INTERNAL, "cannot quote channel: %s", PQerrorMessage(conn));
            PQfinish(conn);
            return NULL;
        }
        size = sizeof("LISTEN ") + strlen(ident);
        sql = xmalloc(size);
        snprintf(sql, size, "LISTEN %s", ident);
        PQfreemem(ident);
        res = PQexec(conn, sql);
        free(sql);
        ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok) {
            err_internal(e, ERR_UNAVAILABLE, "LISTEN failed: %s", PQerrorMessage(conn));
            PQfinish(conn);
            return NULL;
        }
    }
    return conn;
}

/*
 * Waits up to `ms` for `fd` (skipped when < 0) to be readable or for a
 * wake-up.  Returns true when `fd` is readable.
 */
static bool wait_readable(struct notify *n, int fd, int ms)
{
    struct pollfd fds[2] = {{.fd = n->wake[0], .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    int rc = poll(fds, fd >= 0 ? 2 : 1, ms);

    return rc > 0 && fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

/* Hands every queued notification to the callback; false if the connection broke. */
static bool deliver(struct notify *n, PGconn *conn)
{
    PGnotify *nt;

    if (!PQconsumeInput(conn))
        return false;
    while ((nt = PQnotifies(conn)) != NULL) {
        n->cb(nt->relname, n->arg);
        PQfreemem(nt);
    }
    return PQstatus(conn) == CONNECTION_OK;
}

static void *listener_main(void *p)
{
    struct notify *n = p;
    PGconn *conn = NULL;
    bool down_logged = false;
    struct err e;

    while (!atomic_load(&n->stop)) {
        if (conn == NULL) {
            err_clear(&e);
            conn = connect_listening(n, &e);
            if (conn == NULL) {
                if (!down_logged)
                    log_msg(LOG_WARN, "notification listener cannot connect, retrying",
                            e.internal[0] ? e.internal : e.detail);
                down_logged = true;
                wait_readable(n, -1, RETRY_MS);
                continue;
            }
            if (down_logged)
                log_msg(LOG_INFO, "notification listener connected again", NULL);
            down_logged = false;
            atomic_store(&n->listening, true);
            /* Whatever happened before LISTEN took effect went unseen. */
            n->cb(NULL, n->arg);
        }
        if (!wait_readable(n, PQsocket(conn), IDLE_POLL_MS) && PQstatus(conn) == CONNECTION_OK)
            continue;
        if (deliver(n, conn))
            continue;
        atomic_store(&n->listening, false);
        log_msg(LOG_WARN, "notification listener lost its connection", PQerrorMessage(conn));
        down_logged = true;
        PQfinish(conn);
        conn = NULL;
        n->cb(NULL, n->arg);
    }
    atomic_store(&n->listening, false);
    if (conn != NULL)
        PQfinish(conn);
    return NULL;
}

static void set_flags(int fd)
{
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void free_notify(struct notify *n)
{
    for (int i = 0; i < n->nchannels; i++)
        free(n->channels[i]);
    free(n->channels);
    free(n->url);
    free(n);
}

struct notify *notify_start(const char *url, const char *const *channels, notify_fn cb, void *arg)
{
    struct notify *n = xcalloc(1, sizeof(*n));
    int rc;

    ly_assert(channels != NULL && channels[0] != NULL && cb != NULL);
    n->url = xstrdup(url ? url : "");
    while (channels[n->nchannels] != NULL)
        n->nchannels++;
    n->channels = xcalloc((size_t)n->nchannels, sizeof(*n->channels));
    for (int i = 0; i < n->nchannels; i++)
        n->channels[i] = xstrdup(channels[i]);
    n->cb = cb;
    n->arg = arg;
    atomic_init(&n->stop, false);
    atomic_init(&n->listening, false);
    if (pipe(n->wake) < 0) {
        log_msg(LOG_ERROR, "notification listener: pipe failed", strerror(errno));
        free_notify(n);
        return NULL;
    }
    set_flags(n->wake[0]);
    set_flags(n->wake[1]);
    rc = pthread_create(&n->thread, NULL, listener_main, n);
    if (rc != 0) {
        log_msg(LOG_ERROR, "notification listener: cannot start thread", strerror(rc));
        close(n->wake[0]);
        close(n->wake[1]);
        free_notify(n);
        return NULL;
    }
    return n;
}

bool notify_is_listening(const struct notify *n)
{
    return n != NULL && atomic_load(&n->listening);
}

void notify_stop(struct notify *n)
{
    ssize_t w;

    if (n == NULL)
        return;
    atomic_store(&n->stop, true);
    /* A full pipe already holds a wake-up, so a failed write loses nothing. */
    w = write(n->wake[1], "x", 1);
    (void)w;
    pthread_join(n->thread, NULL);
    close(n->wake[0]);
    close(n->wake[1]);
    free_notify(n);
}
