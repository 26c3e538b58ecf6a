/*
 * worker.h - what server.c (the lifecycle of a request) and loop.c (the
 * worker loops, the server's start and stop) share: `struct http_server`,
 * `struct worker`, the calling thread's worker, and the callbacks each MHD
 * daemon is started with.  Private to src/http/server.c and loop.c;
 * everyone else sees http/server.h only.
 */
#ifndef LY_HTTP_WORKER_H
#define LY_HTTP_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "http/server.h"

struct watch; /* loop.c's own */

/* One worker: a libmicrohttpd daemon without threads of its own, and the
 * thread whose epoll loop runs it and the application's watches.  loop.c
 * makes, runs and frees it; server.c, on the worker's own thread, only
 * counts its suspended requests and notes a resumed one. */
struct worker {
    struct http_server *s;
    struct MHD_Daemon *mhd;
    int epfd;
    int wakefd; /* eventfd: stop */
    pthread_t thread;
    bool started;
    bool resumed; /* a request was resumed since the last MHD_run */
    /* Requests suspended and not yet resumed: the worker's own, read by
     * the thread that stops the server. */
    atomic_int nsuspended;
    atomic_bool stopping;
    /* Indexed by descriptor, grown on demand: a worker may watch as many
     * database connections as the pool gives it, and a descriptor's number
     * finds its watch without a search. */
    struct watch *watches;
    int nwatches;
};

/* Made and freed by loop.c (http_server_start, http_server_stop), which
 * sets `draining` and waits on `idle` for `inflight` to fall to 0;
 * server.c reads `cfg`, `app` and `draining`, and counts its requests in
 * `inflight`. */
struct http_server {
    struct worker *workers;
    int nworkers;
    const struct cfg *cfg;
    const struct http_app *app;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    /* Requests between the first AHC call and completion; `idle` is
     * broadcast, under `lock`, when it falls to 0. */
    atomic_int inflight;
    /* Stopping: new requests (on connections kept alive) are refused with
     * 503 and Connection: close, so those in flight can finish. */
    atomic_bool draining;
};

/* loop.c: the worker whose thread this is; NULL on any other thread. */
struct worker *loop_this_worker(void);

/*
 * server.c: the callbacks loop.c starts each daemon with.  server_ahc is
 * the access handler, called for a request's headers, each body chunk and
 * the final call; server_completed (NOTIFY_COMPLETED) logs the request and
 * frees it; `cls` is the server for both.  server_uri_seen (the URI log
 * callback, `cls` unused) sees the raw URI before MHD decodes it.
 */
enum MHD_Result server_ahc(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **req_cls);
void server_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe);
void *server_uri_seen(void *cls, const char *uri, struct MHD_Connection *conn);

#endif
