/*
 * http.h - the request and response types every handler sees, and the route
 * table's shape.
 *
 * A handler is `int fn(struct req *, struct resp *, struct err *)`: it returns
 * 0 after filling `resp`, or -1 after filling `err` (the server turns that
 * into problem+json).  Handlers never touch MHD.  Everything a request
 * allocates lives in `rq->arena` unless stated otherwise.
 */
#ifndef LY_HTTP_HTTP_H
#define LY_HTTP_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"

enum http_method {
    HTTP_GET = 1 << 0,
    HTTP_POST = 1 << 1,
    HTTP_PUT = 1 << 2,
    HTTP_PATCH = 1 << 3,
    HTTP_DELETE = 1 << 4,
    HTTP_HEAD = 1 << 5,
    HTTP_OTHER = 1 << 6,
};

/* Who may call a route; a route's `roles` is a mask of these. */
enum role {
    ROLE_NONE = 0, /* a public route: no credentials needed */
    ROLE_ADMIN = 1 << 0,
    ROLE_POS = 1 << 1,
    ROLE_APP = 1 << 2,
    ROLE_MEMBER = 1 << 3, /* a member token, acting on its own member */
};

enum route_flags {
    ROUTE_TX = 1 << 0,     /* the handler runs in one transaction (every write route) */
    ROUTE_SECRET = 1 << 1, /* the response shows a credential ("key", "token") once */
    /* The handler runs on its worker's own stack, not in a fiber
     * (api/app.c): one that never blocks (it answers at once, or waits
     * with req_suspend), or one that must block its worker because it
     * waits for the database while holding a lock of the whole process (a
     * fiber of the same worker taking that lock would block the thread
     * the holder needs to go on: the daily job). */
    ROUTE_NO_FIBER = 1 << 2,
    /* A ROUTE_TX handler that may record a request with an Idempotency-Key
     * in a group, which claims the key in its own transaction
     * (api_idem_unclaimed in api/app.h). */
    ROUTE_GATHERS = 1 << 3,
};

struct req;
struct resp;
typedef int (*handler_fn)(struct req *rq, struct resp *rs, struct err *e);

struct route {
    enum http_method method;
    const char *path; /* template: literal segments and "{id}" */
    handler_fn handler;
    unsigned roles;
    unsigned flags;
};

#define REQ_MAX_PARAMS 4

/* The authenticated caller, filled by the auth step before the handler runs. */
struct principal {
    enum role role;
    int64_t key_id;    /* API key id, 0 for member tokens */
    int64_t member_id; /* member tokens: the member; 0 otherwise */
    int64_t token_id;  /* member tokens: the token row; 0 otherwise */
    char store_id[65]; /* pos keys bound to a store; "" otherwise */
};

struct db;
struct idem_key;

struct req {
    struct arena arena;
    void *conn; /* the MHD connection: for the server only */
    enum http_method method;
    const char *method_name; /* borrowed from MHD for the request's life */
    const char *path;        /* arena copy, without the query string */
    const struct route *route;
    int route_index;                    /* index in the table, -1 when unmatched */
    const char *params[REQ_MAX_PARAMS]; /* arena copies of the {id} segments */
    int nparams;
    char request_id[129];
    struct principal who;
    const char *idempotency_key; /* borrowed header value, NULL if absent */
    struct buf body;             /* raw body, owned */
    json_t *json;                /* parsed body (new reference, owned) or NULL */
    bool json_in_arena;          /* `json`'s values are the arena's (core/json_mem.h) */
    struct db *db;               /* pool connection while held, else NULL */
    /* api/app.c's, for a ROUTE_GATHERS handler: the key not claimed yet,
     * and whether a group took it (api/group_keys.h). */
    const struct idem_key *idem_unclaimed;
    bool idem_taken;
    uint64_t start_us;
    bool has_body;
    bool early;           /* an answer was decided before the body was read */
    bool refused;         /* early: the server is stopping (503, and close) */
    struct err early_err; /* that answer */
    unsigned allow;       /* methods for a 405's Allow header */
    /* Set by a ROUTE_TX handler: called once its transaction has committed,
     * before the answer is sent (e.g. to make this daemon serve what the
     * request just activated).  `on_commit_arg` is borrowed. */
    void (*on_commit)(struct req *rq, void *arg);
    void *on_commit_arg;
    int status; /* the status queued, for the access log */
    /* Set by req_suspend: the request waits for something (a read sent on
     * its worker's reader), and `resume` builds its response once req_resume has
     * been called.  `resume_arg` is borrowed. */
    bool suspended;
    bool resumed;   /* req_resume was called: `resume` may run */
    bool auth_held; /* held for req_auth_done, or just resumed from it */
    int (*resume)(struct req *rq, struct resp *rs, struct err *e, void *arg);
    void *resume_arg;
};

struct resp {
    int status;
    json_t *json; /* owned; rendered with json_mem_dumps at the end */
    char *raw;    /* owned malloc'd body when not JSON (metrics, replays) */
    size_t raw_len;
    const char *content_type; /* static string; default application/json */
    const char *location;     /* arena string or NULL */
    /* Static strings or NULL.  `cache_control` replaces the default no-store;
     * `headers` is {name, value, ..., NULL}, added as given (static files
     * send their Content-Security-Policy this way). */
    const char *cache_control;
    const char *const *headers;
};

/* --- request accessors (all results borrowed, valid for the request) ---- */

/* Path parameter i (0-based) of the matched route. */
const char *req_param(const struct req *rq, int i);
/* Query argument value, NULL if absent. */
const char *req_query(const struct req *rq, const char *name);
/* Number of query arguments. */
int req_query_count(const struct req *rq);
/* Request header value, NULL if absent. */
const char *req_header(const struct req *rq, const char *name);

/* --- responses --------------------------------------------------------- */

/* A JSON response; steals `body` (even on failure). */
void resp_json(struct resp *rs, int status, json_t *body);
/* A response with no body (204). */
void resp_empty(struct resp *rs, int status);
/* A non-JSON body; steals `data`, a malloc'd buffer of `len` bytes. */
void resp_raw(struct resp *rs, int status, const char *content_type, char *data, size_t len);

/* --- asynchronous handlers ----------------------------------------------
 * Every worker thread runs an event loop of its own.  A handler that must
 * wait for I/O it can watch in that loop calls req_suspend() and returns 0
 * without a response; the loop's callback that sees the I/O complete calls
 * req_resume() on the same thread, and the server then calls `resume`,
 * whose return is answered as a handler's would be. */
void req_suspend(struct req *rq, int (*resume)(struct req *, struct resp *, struct err *, void *),
                 void *arg);
void req_resume(struct req *rq);

/* Ends an authentication that the authenticate hook left pending (it
 * returned 1): `rc` and `e` are what the hook would have returned.  On the
 * request's worker. */
void req_auth_done(struct req *rq, int rc, const struct err *e);

/* Called on the worker when a watched descriptor is ready. */
typedef void (*http_fd_fn)(void *arg, bool readable, bool writable);

/*
 * Watches `fd` in the calling worker's loop for input, and for output too
 * while `want_write`, replacing an earlier watch of the same fd; `arg` is
 * borrowed until the watch ends.  -1 on a thread that is not a worker.
 */
int http_loop_watch(int fd, bool want_write, http_fd_fn fn, void *arg);
/* Ends the watch of `fd` on the calling worker's loop (before closing it). */
void http_loop_unwatch(int fd);

/* Microseconds on the monotonic clock. */
uint64_t http_now_us(void);

#endif
