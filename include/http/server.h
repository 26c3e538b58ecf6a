/*
 * server.h - the HTTP server: one libmicrohttpd daemon per worker thread,
 * each run by the worker's own epoll loop (so the loop can also watch the
 * worker's database sockets), all listening on one port (SO_REUSEPORT).
 *
 * The server owns the request lifecycle (routing, body limits, content type,
 * JSON parsing, problem+json rendering, X-Request-Id, access log, metrics);
 * the application supplies the route table and three hooks.  The server
 * knows nothing about the database or any particular route.
 */
#ifndef LY_HTTP_SERVER_H
#define LY_HTTP_SERVER_H

#include <stddef.h>
#include <time.h>

#include "core/cfg.h"
#include "http/http.h"

struct http_app {
    const struct route *routes; /* borrowed; lives as long as the server */
    size_t nroutes;
    /*
     * Authenticates the caller of a non-public route from its headers alone
     * (before the body is read), filling rq->who.  Returns 0, or -1 with
     * ERR_UNAUTHORIZED or ERR_FORBIDDEN (or ERR_UNAVAILABLE), or 1: the
     * answer needs the database, and the application calls req_auth_done()
     * on this worker once it has it; the server holds the request (reads
     * nothing more of it) until then.
     */
    int (*authenticate)(struct req *rq, struct err *e);
    /* Runs the matched route (its handler inside any wrapping). */
    int (*run)(struct req *rq, struct resp *rs, struct err *e);
    /* Releases what the application holds for rq; called once per request. */
    void (*done)(struct req *rq);
    /* Optional, on a worker: after each turn of its loop (the time to send
     * what the turn's handlers queued), and when the worker ends. */
    void (*turn)(void);
    void (*worker_end)(void);
    /* Optional, on a worker: in how many ms the application needs a turn
     * even if nothing happens (-1: not before something does). */
    int (*due_ms)(void);
    /* Optional, on the thread stopping the server: the grace period ran
     * out with requests in flight; the application makes them end soon
     * (each is still answered, by its handler). */
    void (*grace_over)(void);
};

struct http_server;

/*
 * Starts listening on c->listen_host:c->listen_port with c->threads worker
 * threads.  `c` and `app` are borrowed and must outlive the server.  Returns
 * a new server (free with http_server_stop) or NULL with `e` set.
 */
struct http_server *http_server_start(const struct cfg *c, const struct http_app *app,
                                      struct err *e);

/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);

/*
 * Stops accepting connections and answers new requests on connections kept
 * alive with 503 and Connection: close; lets the requests in flight finish
 * (until `until`, as core/deadline.h makes it; then
 * app->grace_over, and a handler waiting for the database still runs to its
 * answer), then stops the workers and frees `s`.  `until` is borrowed.
 */
void http_server_stop(struct http_server *s, const struct timespec *until);

#endif
