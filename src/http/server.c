/*
 * server.c - libmicrohttpd glue: the lifecycle of one request, from its
 * first access-handler (AHC) call to NOTIFY_COMPLETED.
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
 * A stop waits for what this file counts (worker.h): each request in
 * flight, and on its worker each request suspended or held.
 *
 * Must not know about the database or any particular route, nor run a
 * worker's loop or start or stop anything: loop.c does, and starts each
 * daemon with this file's callbacks.
 */
#include "http/server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "core/json_mem.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "http/metrics.h"
#include "http/problem.h"
#include "http/router.h"
#include "worker.h"

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

void *server_uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
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
    loop_this_worker()->nsuspended--;
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
    loop_this_worker()->nsuspended++;
    MHD_suspend_connection(rq->conn);
}

/* MHD takes the connection back in this worker's next turn. */
static void resume_connection(struct req *rq)
{
    MHD_resume_connection(rq->conn);
    if (loop_this_worker() != NULL)
        loop_this_worker()->resumed = true;
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
    loop_this_worker()->nsuspended--;
}

void req_resume(struct req *rq)
{
    rq->resumed = true;
    resume_connection(rq);
}

enum MHD_Result server_ahc(void *cls, struct MHD_Connection *conn, const char *url,
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
            loop_this_worker()->nsuspended++;
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

void server_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
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
    if (rq->auth_held && loop_this_worker() != NULL)
        end_auth_hold(rq);
    /* Resumed, but MHD ended the connection (its client had gone) without
     * calling the handler's second half.  That half still runs, for what
     * it owns (a fiber's response, a read's result), and its answer is
     * dropped; the worker's drain at a stop must not wait for it. */
    if (rq->suspended && rq->resumed && loop_this_worker() != NULL) {
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
