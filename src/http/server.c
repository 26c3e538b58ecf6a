/*
 * server.c - libmicrohttpd glue: the worker loops and the access-handler
 * lifecycle.
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
 * One request goes through three kinds of AHC call (largepost.c's shape):
 *   1. headers only: set up `struct req`, route (404/405), authenticate
 *      (401/403), check size and type (413/415).  Any answer found here is
 *      remembered and sent on the final call, because queueing on the first
 *      call makes MHD 0.9.75 drop keep-alive.  A declared body far over the
 *      limit is the exception: it is refused at once so it is never read.
 *      An authentication that has to ask the database holds the request
 *      here (suspended, its body unread) until req_auth_done.
 *   2. body chunks: appended up to the limit, swallowed once the answer is
 *      known.
 *   3. the final call: parse JSON, run the route, render, queue.
 * NOTIFY_COMPLETED writes the access-log line and frees everything.
 *
 * Must not know about the database or any particular route.
 */
#include "http/server.h"

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
#include "core/json_mem.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "http/metrics.h"
#include "http/problem.h"
#include "http/router.h"

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

/* One worker: a libmicrohttpd daemon without threads of its own, and the
 * thread whose epoll loop runs it and the application's watches. */
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

/* The worker whose thread this is; NULL on any other thread. */
static _Thread_local struct worker *this_worker;

/* ---------------------------------------------------------------- ids -- */

static bool is_valid_request_id(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        char c = s[n];

        if (n >= 128)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

/* xorshift64*, seeded per thread from the clock and the thread's address:
 * request ids need to be unique, not secret. */
static void generate_request_id(char *dst, size_t n)
{
    static _Thread_local uint64_t state;
    struct timespec ts;

    if (state == 0) {
        clock_gettime(CLOCK_REALTIME, &ts);
        state = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^
                (uint64_t)(uintptr_t)&state;
        if (state == 0)
            state = 0x9E3779B97F4A7C15u;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    snprintf(dst, n, "%016llx", (unsigned long long)(state * 2685821657736338717u));
}

/* ------------------------------------------------------------- answer -- */

/* `rs` is the handler's answer, NULL for a problem. */
static void add_common_headers(struct MHD_Response *r, const struct req *rq,
                               const char *content_type, const struct resp *rs)
{
    if (content_type != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(r, "X-Request-Id", rq->request_id);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
                            rs != NULL && rs->cache_control != NULL ? rs->cache_control
                                                                    : "no-store");
    for (const char *const *h = rs != NULL ? rs->headers : NULL; h != NULL && h[0] != NULL; h += 2)
        MHD_add_response_header(r, h[0], h[1]);
}

static enum MHD_Result queue(struct req *rq, int status, char *body, size_t len,
                             const char *content_type, const struct err *e, const struct resp *rs)
{
    const char *location = rs != NULL ? rs->location : NULL;
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    add_common_headers(r, rq, len > 0 || status != 204 ? content_type : NULL, rs);
    if (e != NULL && e->code == ERR_METHOD_NOT_ALLOWED) {
        char allow[64];

        router_allow_header(rq->allow, allow, sizeof(allow));
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (e != NULL && e->code == ERR_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"loyalty\"");
    if (location != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
    if (rq->refused)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    rq->status = status;
    ret = MHD_queue_response(rq->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_problem(struct req *rq, const struct err *e)
{
    json_t *p = problem_from_err(e, rq->request_id);
    char *body = json_mem_dumps(p, JSON_COMPACT);

    json_decref(p);
    if (body == NULL)
        return MHD_NO;
    if (err_info_of(e->code)->status >= 500 || e->internal[0] != '\0') {
        char d[600], fields[900];

        log_escape(d, sizeof(d), e->internal[0] ? e->internal : e->detail);
        snprintf(fields, sizeof(fields),
                 "\"msg\":\"request failed\",\"request_id\":\"%s\",\"code\":\"%s\","
                 "\"at\":\"%s:%d\",\"detail\":\"%s\"",
                 rq->request_id, err_info_of(e->code)->code, e->file ? e->file : "?", e->line, d);
        log_fields(err_info_of(e->code)->status >= 500 ? LOG_ERROR : LOG_WARN, fields);
    }
    return queue(rq, err_info_of(e->code)->status, body, strlen(body), "application/problem+json",
                 e, NULL);
}

static enum MHD_Result queue_resp(struct req *rq, struct resp *rs)
{
    char *body;
    size_t len;

    if (rs->json != NULL) {
        body = json_mem_dumps(rs->json, JSON_COMPACT | JSON_REAL_PRECISION(15));
        if (body == NULL)
            return MHD_NO;
        len = strlen(body);
    } else if (rs->raw != NULL) {
        body = rs->raw;
        len = rs->raw_len;
        rs->raw = NULL;
    } else {
        body = NULL;
        len = 0;
    }
    return queue(rq, rs->status, body, len,
                 rs->content_type ? rs->content_type : "application/json; charset=utf-8", NULL, rs);
}

/* --------------------------------------------------------- first call -- */

static bool is_json_content_type(const char *ct)
{
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;
    const char *p;

    if (ct == NULL || strncasecmp(ct, want, n) != 0)
        return false;
    p = ct + n;
    while (*p == ' ')
        p++;
    if (*p == '\0')
        return true;
    if (*p != ';')
        return false;
    /* Parameters: only a UTF-8 charset makes sense for JSON. */
    p++;
    while (*p == ' ')
        p++;
    return strncasecmp(p, "charset=utf-8", 13) == 0 || strncasecmp(p, "charset=\"utf-8\"", 15) == 0;
}

static void early_answer(struct req *rq, enum err_code code, const char *detail)
{
    if (!rq->early)
        err_set(&rq->early_err, code, "%s", detail);
    rq->early = true;
}

/*
 * libmicrohttpd decodes the path into a C string, so an encoded NUL ("%00")
 * would end it early: "/admin/app.js%00x" would be served as "/admin/app.js".
 * The URI log callback sees the raw URI first and marks such a request
 * (its return value is the request's first *req_cls); no route has a NUL,
 * so it is answered 404.
 */
static char nul_in_uri;

static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    return strstr(uri, "%00") != NULL ? &nul_in_uri : NULL;
}

/* The declared Content-Length, or 0 when there is none. */
static unsigned long long declared_length(struct MHD_Connection *conn)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end;
    unsigned long long n;

    if (cl == NULL)
        return 0;
    n = strtoull(cl, &end, 10);
    return *end == '\0' ? n : 0;
}

/*
 * A declared body over the limit is refused with 413 either way.  Up to
 * SWALLOW_FACTOR times the limit the body is read and dropped, so the
 * client (which is still sending) gets the answer on an open connection;
 * beyond that, reading it is not worth it: the answer goes out at once and
 * MHD closes the connection, which a client still sending may see as a
 * reset instead of the 413.
 */
#define SWALLOW_FACTOR 8

static struct req *req_start(struct http_server *s, struct MHD_Connection *conn, const char *url,
                             const char *method, bool nul)
{
    struct req *rq = xcalloc(1, sizeof(*rq));
    const char *rid;
    const char *cl;
    const char *te;
    int idx;

    arena_init(&rq->arena);
    buf_init(&rq->body);
    err_clear(&rq->early_err);
    rq->conn = conn;
    rq->start_us = http_now_us();
    rq->method_name = method;
    rq->method = router_method_of(method);
    rq->path = arena_strdup(&rq->arena, url);
    rq->route_index = -1;
    rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (rid != NULL && is_valid_request_id(rid))
        snprintf(rq->request_id, sizeof(rq->request_id), "%s", rid);
    else
        generate_request_id(rq->request_id, sizeof(rq->request_id));
    if (atomic_load(&s->draining)) {
        early_answer(rq, ERR_UNAVAILABLE, "the server is shutting down");
        rq->refused = true;
        return rq;
    }
    if (nul)
        early_answer(rq, ERR_NOT_FOUND, "no such resource");

    cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    rq->has_body = (cl != NULL && strcmp(cl, "0") != 0) || te != NULL;
    rq->idempotency_key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");

    idx = router_match(s->app->routes, s->app->nroutes, rq->method, rq->path, &rq->arena,
                       rq->params, &rq->nparams, &rq->allow);
    if (idx == ROUTER_NOT_FOUND) {
        early_answer(rq, ERR_NOT_FOUND, "no such resource");
        return rq;
    }
    if (idx == ROUTER_METHOD_NOT_ALLOWED) {
        early_answer(rq, ERR_METHOD_NOT_ALLOWED, "method not allowed on this resource");
        return rq;
    }
    rq->route_index = idx;
    rq->route = &s->app->routes[idx];
    if (rq->early) /* an encoded NUL: 404 whoever asks */
        return rq;

    if (rq->route->roles != ROLE_NONE) {
        int rc = s->app->authenticate(rq, &rq->early_err);

        if (rc < 0)
            rq->early = true;
        rq->auth_held = rc > 0;
    }
    return rq;
}

/* The rest of the first call, once the caller is known: the body's type
 * and size.  Answers at once only a declared body far over the limit. */
static enum MHD_Result after_auth(struct http_server *s, struct MHD_Connection *conn,
                                  struct req *rq)
{
    if (rq->has_body) {
        const char *ct =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

        if (!is_json_content_type(ct))
            early_answer(rq, ERR_UNSUPPORTED_MEDIA_TYPE,
                         "request bodies must be application/json; charset=utf-8");
    }
    if (!rq->early && rq->has_body && declared_length(conn) > s->cfg->body_limit) {
        early_answer(rq, ERR_PAYLOAD_TOO_LARGE, "request body is over the limit");
        if (declared_length(conn) / SWALLOW_FACTOR > s->cfg->body_limit)
            return queue_problem(rq, &rq->early_err);
    }
    return MHD_YES;
}

/* --------------------------------------------------------- final call -- */

/*
 * Integers beyond 64 bits stop jansson's parse.  To name the fields that
 * hold them, parse once more reading integers as reals and report every real
 * too large for an int64 (only on this error path).
 */
static void name_oversized(json_t *v, char *path, size_t len, size_t cap, struct err *e)
{
    const char *key;
    json_t *item;
    size_t i;

    if (json_is_real(v) && (json_real_value(v) >= 9.2e18 || json_real_value(v) <= -9.2e18)) {
        err_field(e, len ? path : "body", "is out of range");
    } else if (json_is_object(v)) {
        json_object_foreach (v, key, item) {
            int n = snprintf(path + len, cap - len, "%s%s", len ? "." : "", key);

            if (n > 0 && (size_t)n < cap - len)
                name_oversized(item, path, len + (size_t)n, cap, e);
        }
    } else if (json_is_array(v)) {
        json_array_foreach (v, i, item) {
            int n = snprintf(path + len, cap - len, "[%zu]", i);

            if (n > 0 && (size_t)n < cap - len)
                name_oversized(item, path, len + (size_t)n, cap, e);
        }
    }
    path[len] = '\0';
}

static int parse_body(struct req *rq, struct err *e)
{
    json_error_t jerr;
    json_t *reals;
    char path[128] = "";

    if (rq->body.len == 0)
        return 0;
    /* Any JSON value parses; a handler rejects a non-object body with
     * validation_failed, as it is well-formed JSON of the wrong type. */
    rq->json = json_mem_loadb(&rq->arena, rq->body.data, rq->body.len,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (rq->json != NULL) {
        rq->json_in_arena = json_mem_in_arena();
        return 0;
    }
    switch (json_error_code(&jerr)) {
    case json_error_numeric_overflow:
        reals = json_loadb(rq->body.data, rq->body.len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL,
                           NULL);
        if (reals != NULL)
            name_oversized(reals, path, 0, sizeof(path), e);
        json_decref(reals);
        return err_set(e, ERR_VALIDATION, "a number in the body is out of range");
    case json_error_duplicate_key:
        return err_set(e, ERR_VALIDATION, "duplicate field in the body");
    case json_error_null_character:
        return err_set(e, ERR_VALIDATION, "strings may not contain NUL characters");
    default:
        return err_set(e, ERR_MALFORMED_JSON, "body is not valid JSON: %s at position %d",
                       jerr.text, jerr.position);
    }
}

/* Answers what the handler (or its resumption) returned: `rc` < 0 is the
 * problem in `e`, else the response in `rs`. */
static enum MHD_Result answer(struct http_server *s, struct req *rq, int rc, struct resp *rs,
                              const struct err *e)
{
    enum MHD_Result ret;

    s->app->done(rq);
    ret = rc < 0 ? queue_problem(rq, e) : queue_resp(rq, rs);
    json_decref(rs->json);
    free(rs->raw);
    return ret;
}

static enum MHD_Result finish(struct http_server *s, struct req *rq)
{
    struct resp rs = {0};
    struct err e;
    int rc;

    if (rq->early)
        return queue_problem(rq, &rq->early_err);
    err_clear(&e);
    rc = parse_body(rq, &e) < 0 ? -1 : s->app->run(rq, &rs, &e);
    if (rc == 0 && rq->suspended)
        return MHD_YES; /* the response comes when the request is resumed */
    return answer(s, rq, rc, &rs, &e);
}

/* The suspended handler's second half, after req_resume: its answer goes
 * to `rs` or `e`. */
static int run_resumed(struct req *rq, struct resp *rs, struct err *e)
{
    rq->suspended = false;
    rq->resumed = false;
    this_worker->nsuspended--;
    err_clear(e);
    return rq->resume(rq, rs, e, rq->resume_arg);
}

static enum MHD_Result finish_resumed(struct http_server *s, struct req *rq)
{
    struct resp rs = {0};
    struct err e;
    int rc = run_resumed(rq, &rs, &e);

    return answer(s, rq, rc, &rs, &e);
}

void req_suspend(struct req *rq, int (*resume)(struct req *, struct resp *, struct err *, void *),
                 void *arg)
{
    ly_assert(!rq->suspended);
    rq->suspended = true;
    rq->resumed = false;
    rq->resume = resume;
    rq->resume_arg = arg;
    this_worker->nsuspended++;
    MHD_suspend_connection(rq->conn);
}

/* MHD takes the connection back in this worker's next turn. */
static void resume_connection(struct req *rq)
{
    MHD_resume_connection(rq->conn);
    if (this_worker != NULL)
        this_worker->resumed = true;
}

void req_auth_done(struct req *rq, int rc, const struct err *e)
{
    ly_assert(rq->auth_held && !rq->early);
    if (rc < 0) {
        rq->early_err = *e;
        rq->early = true;
    }
    resume_connection(rq);
}

/* A request held for its authentication is over being held: a stopping
 * worker no longer waits for it. */
static void end_auth_hold(struct req *rq)
{
    rq->auth_held = false;
    this_worker->nsuspended--;
}

void req_resume(struct req *rq)
{
    rq->resumed = true;
    resume_connection(rq);
}

static enum MHD_Result ahc(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **req_cls)
{
    struct http_server *s = cls;
    struct req *rq = *req_cls;

    (void)version;
    if (rq == NULL || (void *)rq == &nul_in_uri) {
        rq = req_start(s, conn, url, method, rq != NULL);
        *req_cls = rq;
        atomic_fetch_add(&s->inflight, 1);
        if (rq->auth_held) {
            /* Until req_auth_done; counted so that a stop waits for it. */
            this_worker->nsuspended++;
            MHD_suspend_connection(conn);
            return MHD_YES;
        }
        return after_auth(s, conn, rq);
    }
    if (rq->auth_held) {
        /* After req_auth_done's resume MHD repeats the headers-only call
         * (MHD 0.9.75 connection.c, HEADERS_PROCESSED), where an answer may
         * still be queued at once (a body far over the limit); the body
         * follows. */
        end_auth_hold(rq);
        return after_auth(s, conn, rq);
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;

        *upload_data_size = 0;
        if (rq->status != 0)
            return MHD_YES; /* answered already; swallow the rest */
        if (rq->early)
            return MHD_YES; /* we already know the answer, skip the rest of the upload */
        if (rq->body.len + n > s->cfg->body_limit) {
            /* A body without a declared length grew past the limit: drop what
             * we have and swallow the rest, answering 413 at the end. */
            buf_cleanup(&rq->body);
            early_answer(rq, ERR_PAYLOAD_TOO_LARGE, "request body is over the limit");
            return MHD_YES;
        }
        buf_append(&rq->body, upload_data, n);
        return MHD_YES;
    }
    if (rq->status != 0)
        return MHD_YES;
    if (rq->suspended)
        return finish_resumed(s, rq);
    return finish(s, rq);
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct req *rq = *req_cls;
    uint64_t us;

    (void)conn;
    (void)toe;
    if (rq == NULL || (void *)rq == &nul_in_uri)
        return;
    *req_cls = NULL;
    /* Resumed by req_auth_done, but the client had gone. */
    if (rq->auth_held && this_worker != NULL)
        end_auth_hold(rq);
    /* Resumed, but MHD ended the connection (its client had gone) without
     * calling the handler's second half.  That half still runs, for what
     * it owns (a fiber's response, a read's result), and its answer is
     * dropped; the worker's drain at a stop must not wait for it. */
    if (rq->suspended && rq->resumed && this_worker != NULL) {
        struct resp rs = {0};
        struct err e;

        (void)run_resumed(rq, &rs, &e);
        s->app->done(rq);
        json_decref(rs.json);
        free(rs.raw);
    }
    us = http_now_us() - rq->start_us;
    metrics_observe(rq->route_index, rq->status, us);
    if (log_enabled(LOG_INFO)) {
        char fields[512];

        snprintf(fields, sizeof(fields),
                 "\"msg\":\"access\",\"method\":\"%s\",\"route\":\"%s\",\"status\":%d,"
                 "\"us\":%llu,\"request_id\":\"%s\"",
                 rq->route ? rq->method_name : "OTHER", rq->route ? rq->route->path : "unmatched",
                 rq->status, (unsigned long long)us, rq->request_id);
        log_fields(LOG_INFO, fields);
    }
    if (!rq->json_in_arena)
        json_decref(rq->json);
    buf_cleanup(&rq->body);
    arena_free(&rq->arena);
    free(rq);

    /* The stopping thread checks the count under `lock` before it waits,
     * so taking `lock` to broadcast cannot fall between the two. */
    if (atomic_fetch_sub(&s->inflight, 1) == 1) {
        pthread_mutex_lock(&s->lock);
        pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->lock);
    }
}

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_msg(LOG_WARN, "libmicrohttpd", msg);
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

static struct MHD_Daemon *start_daemon(struct http_server *s, unsigned flags,
                                       const struct sockaddr *addr, unsigned limit)
{
    /* The logger comes first so that MHD reports problems with the other
     * options through it. */
    return MHD_start_daemon(
        flags, 0, NULL, NULL, ahc, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_URI_LOG_CALLBACK, uri_seen, NULL, MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)CONNECTION_MEMORY, MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_END);
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
    pthread_cond_init(&s->idle, NULL);
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

            deadline_in(&now, CLOCK_REALTIME, 0);
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
            deadline_in(&deadline, CLOCK_REALTIME, 1000);
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
