/*
 * loop.c - libmicrohttpd glue: the worker loops, and the server's start and
 * stop (http/server.h).
 *
 * Each worker thread owns one MHD daemon (no thread of MHD's own; all of
 * them listen on one port with SO_REUSEPORT) and runs an epoll loop over
 * the daemon's epoll descriptor, a stop eventfd and whatever the
 * application watches on it (its database sockets).  A turn serves the
 * application's ready descriptors first, then MHD_run when MHD has work
 * (its sockets or timers, or requests those descriptors resumed), then the
 * application's `turn` hook.
 * So a worker waiting for the database is never asleep in libpq: it keeps
 * serving its other connections, and one turn's reads go out together.
 *
 * A stop refuses new requests, waits for those in flight until its
 * deadline, then has the application end the rest (grace_over), and only
 * then ends the loops, each after its own suspended requests: MHD may not
 * stop with one suspended.
 *
 * Must not know about the database or any particular route, nor what
 * becomes of a request: from its first AHC call to NOTIFY_COMPLETED, that
 * is server.c's.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/deadline.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "http/metrics.h"
#include "http/server.h"
#include "worker.h"

/* Each connection's memory pool: the request line and headers, MHD's read
 * buffer and the response's headers (bodies live elsewhere).  MHD zeroes
 * the whole pool before every request on a kept-alive connection, so its
 * default of 32 KiB costs a 32 KiB memset per request and most of the L1
 * cache with it; 16 KiB still takes request headers of up to about 14 KiB
 * (nginx's default stops at 8 KiB a line). */
#define CONNECTION_MEMORY (16 * 1024)

/* A descriptor watched for the application in a worker's loop. */
struct watch {
    int fd; /* -1: free */
    http_fd_fn fn;
    void *arg;
};

/* The worker whose thread this is; NULL on any other thread. */
static _Thread_local struct worker *this_worker;

struct worker *loop_this_worker(void)
{
    return this_worker;
}

/* ------------------------------------------------------ worker loops -- */

/* The watch of `fd` (free: its fd is -1), the table grown to hold it when
 * `grow`; NULL when `fd` is beyond the table and not `grow`. */
static struct watch *watch_of(struct worker *w, int fd, bool grow)
{
    int n;

    if (fd < w->nwatches)
        return &w->watches[fd];
    if (!grow)
        return NULL;
    for (n = w->nwatches > 0 ? w->nwatches : 64; n <= fd; n *= 2)
        ;
    w->watches = xrealloc(w->watches, (size_t)n * sizeof(*w->watches));
    for (int i = w->nwatches; i < n; i++)
        w->watches[i].fd = -1;
    w->nwatches = n;
    return &w->watches[fd];
}

int http_loop_watch(int fd, bool want_write, http_fd_fn fn, void *arg)
{
    struct worker *w = this_worker;
    struct watch *slot;
    struct epoll_event ev = {.events = EPOLLIN | (want_write ? EPOLLOUT : 0u),
                             .data.u64 = (uint64_t)fd};

    if (w == NULL || fd < 0)
        return -1;
    slot = watch_of(w, fd, true);
    if (epoll_ctl(w->epfd, slot->fd == fd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0)
        return -1;
    *slot = (struct watch){fd, fn, arg};
    return 0;
}

void http_loop_unwatch(int fd)
{
    struct worker *w = this_worker;
    struct watch *slot;

    if (w == NULL || fd < 0 || (slot = watch_of(w, fd, false)) == NULL || slot->fd != fd)
        return;
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, NULL);
    slot->fd = -1;
}

/* epoll data of the two descriptors the loop itself owns; a watched
 * descriptor's is its number. */
#define MHD_TAG  UINT64_MAX
#define WAKE_TAG (UINT64_MAX - 1)

/*
 * One turn of a worker's loop: waits up to `max_ms` (less when MHD has a
 * timer due), serves the application's ready descriptors first (what they
 * complete, a read resuming its request, is then served by this turn's
 * MHD_run), runs MHD when it has work (its sockets, its timers, or requests
 * resumed: a turn woken only by a database socket skips it, and most
 * turns of a write in flight are that), then the application's hook, then
 * writes the access lines kept if they are due (core/log.h).
 */
static void run_turn(struct worker *w, int max_ms)
{
    struct epoll_event evs[32];
    MHD_UNSIGNED_LONG_LONG mhd_ms;
    int timeout = max_ms, n, log_ms = log_batch_wait_ms(), app_ms;
    bool mhd_due;

    if (MHD_get_timeout(w->mhd, &mhd_ms) == MHD_YES && mhd_ms < (MHD_UNSIGNED_LONG_LONG)max_ms)
        timeout = (int)mhd_ms;
    if (log_ms >= 0 && log_ms < timeout)
        timeout = log_ms;
    if (w->s->app->due_ms != NULL && (app_ms = w->s->app->due_ms()) >= 0 && app_ms < timeout)
        timeout = app_ms;
    if (w->resumed) /* by the last turn's hook: MHD has them to answer */
        timeout = 0;
    n = epoll_wait(w->epfd, evs, 32, timeout);
    mhd_due = n <= 0 || timeout == 0;
    for (int i = 0; i < n; i++) {
        uint64_t tag = evs[i].data.u64;
        const struct watch *wa;

        if (tag == MHD_TAG) {
            mhd_due = true;
            continue;
        }
        if (tag == WAKE_TAG) {
            /* Read, or every later turn of the drain would return at once. */
            uint64_t count;

            if (read(w->wakefd, &count, sizeof(count)) < 0 && errno != EAGAIN)
                log_msg(LOG_WARN, "cannot read an HTTP worker's stop event", strerror(errno));
            continue;
        }
        /* Looked up afresh: an earlier callback may have moved the table. */
        wa = watch_of(w, (int)tag, false);
        if (wa == NULL || wa->fd < 0)
            continue;
        wa->fn(wa->arg, (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0,
               (evs[i].events & EPOLLOUT) != 0);
    }
    if (mhd_due || w->resumed) {
        w->resumed = false;
        MHD_run(w->mhd);
    }
    if (w->s->app->turn != NULL)
        w->s->app->turn();
    log_flush_due();
}

static void *worker_loop(void *arg)
{
    struct worker *w = arg;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    struct epoll_event ev = {.events = EPOLLIN};

    this_worker = w;
    log_batch_begin();
    ev.data.u64 = MHD_TAG;
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, info->epoll_fd, &ev);
    ev.data.u64 = WAKE_TAG;
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev);
    while (!atomic_load(&w->stopping))
        run_turn(w, 1000);
    /* MHD may not stop with suspended connections: let the handlers still
     * waiting for the database finish and be answered.  New requests are
     * refused meanwhile (`draining`), and PostgreSQL's statement and lock
     * timeouts bound the wait. */
    while (w->nsuspended > 0)
        run_turn(w, 100);
    if (w->s->app->worker_end != NULL)
        w->s->app->worker_end();
    log_flush();
    this_worker = NULL;
    return NULL;
}

/* ----------------------------------------------------------- lifecycle -- */

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_msg(LOG_WARN, "libmicrohttpd", msg);
}

static struct MHD_Daemon *start_daemon(struct http_server *s, unsigned flags,
                                       const struct sockaddr *addr, unsigned limit)
{
    /* The logger comes first so that MHD reports problems with the other
     * options through it. */
    return MHD_start_daemon(flags, 0, NULL, NULL, server_ahc, s, MHD_OPTION_EXTERNAL_LOGGER,
                            mhd_logger, NULL, MHD_OPTION_URI_LOG_CALLBACK, server_uri_seen, NULL,
                            MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_LISTENING_ADDRESS_REUSE,
                            (unsigned)1, MHD_OPTION_NOTIFY_COMPLETED, server_completed, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
                            MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_END);
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

static void free_server(struct http_server *s)
{
    for (int i = 0; i < s->nworkers; i++) {
        struct worker *w = &s->workers[i];

        if (w->mhd != NULL)
            MHD_stop_daemon(w->mhd);
        if (w->epfd >= 0)
            close(w->epfd);
        if (w->wakefd >= 0)
            close(w->wakefd);
        free(w->watches);
    }
    free(s->workers);
    metrics_cleanup();
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

struct http_server *http_server_start(const struct cfg *c, const struct http_app *app,
                                      struct err *e)
{
    struct http_server *s;
    struct addrinfo hints = {0}, *ai = NULL;
    struct sockaddr_storage addr;
    char port[8];
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    const union MHD_DaemonInfo *info;
    int rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", c->listen_port);
    rc = getaddrinfo(c->listen_host, port, &hints, &ai);
    if (rc != 0)
        return err_set(e, ERR_VALIDATION, "cannot resolve listen address %s: %s", c->listen_host,
                       gai_strerror(rc)),
               NULL;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    memset(&addr, 0, sizeof(addr));
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);

    s = xcalloc(1, sizeof(*s));
    s->cfg = c;
    s->app = app;
    s->nworkers = c->threads;
    s->workers = xcalloc((size_t)s->nworkers, sizeof(*s->workers));
    pthread_mutex_init(&s->lock, NULL);
    deadline_cond_init(&s->idle);
    metrics_init(app->routes, app->nroutes, &s->inflight);
    /* The first daemon binds the port (perhaps 0: any); the others bind the
     * same one, and the kernel spreads new connections over them. */
    for (int i = 0; i < s->nworkers; i++) {
        struct worker *w = &s->workers[i];

        w->s = s;
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        w->mhd = w->epfd < 0 || w->wakefd < 0
                     ? NULL
                     : start_daemon(s, flags, (const struct sockaddr *)&addr,
                                    (unsigned)(2000 / s->nworkers + 1));
        if (w->mhd == NULL) {
            free_server(s);
            return err_set(e, ERR_UNAVAILABLE, "cannot listen on %s:%d", c->listen_host,
                           c->listen_port),
                   NULL;
        }
        if (i == 0) {
            info = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_BIND_PORT);
            s->port = info ? info->port : c->listen_port;
            set_port(&addr, s->port);
        }
    }
    for (int i = 0; i < s->nworkers; i++) {
        struct worker *w = &s->workers[i];

        w->started = pthread_create(&w->thread, NULL, worker_loop, w) == 0;
        if (!w->started) {
            struct timespec now;

            deadline_in(&now, 0);
            http_server_stop(s, &now);
            return err_set(e, ERR_INTERNAL, "cannot start the HTTP workers"), NULL;
        }
    }
    return s;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

/* Requests whose handlers are still running (suspended), on all workers. */
static int suspended(struct http_server *s)
{
    int n = 0;

    for (int i = 0; i < s->nworkers; i++)
        n += atomic_load(&s->workers[i].nsuspended);
    return n;
}

void http_server_stop(struct http_server *s, const struct timespec *until)
{
    struct timespec deadline = *until;
    int late;

    atomic_store(&s->draining, true);
    for (int i = 0; i < s->nworkers; i++) {
        MHD_socket lsock = MHD_quiesce_daemon(s->workers[i].mhd);

        if (lsock != MHD_INVALID_SOCKET)
            close(lsock);
    }
    pthread_mutex_lock(&s->lock);
    while (atomic_load(&s->inflight) > 0) {
        if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline) != 0)
            break;
    }
    late = atomic_load(&s->inflight);
    pthread_mutex_unlock(&s->lock);
    if (late > 0 && s->app->grace_over != NULL) {
        log_msg(LOG_WARN, "requests still in flight after the grace period: ending them", NULL);
        /* Again each second while handlers wait: one that was between two
         * statements at the first call, or started a statement since,
         * would hold its worker for as long as that statement's timeout. */
        do {
            s->app->grace_over();
            deadline_in(&deadline, 1000);
            pthread_mutex_lock(&s->lock);
            while (atomic_load(&s->inflight) > 0 &&
                   pthread_cond_timedwait(&s->idle, &s->lock, &deadline) == 0)
                ;
            pthread_mutex_unlock(&s->lock);
        } while (suspended(s) > 0);
    }
    for (int i = 0; i < s->nworkers; i++) {
        struct worker *w = &s->workers[i];
        uint64_t one = 1;

        atomic_store(&w->stopping, true);
        if (w->started && write(w->wakefd, &one, sizeof(one)) < 0)
            log_msg(LOG_WARN, "cannot wake an HTTP worker", strerror(errno));
    }
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i].started)
            pthread_join(s->workers[i].thread, NULL);
    free_server(s);
}
