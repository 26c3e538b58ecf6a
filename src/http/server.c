/*
 * server.c - libmicrohttpd glue: the access-handler lifecycle.
 *
 * One request goes through three kinds of AHC call (largepost.c's shape):
 *   1. headers only: set up `struct req`, route (404/405), authenticate
 *      (401/403), check size and type (413/415).  Any answer found here is
 *      remembered and sent on the final call, because queueing on the first
 *      call makes MHD 0.9.75 drop keep-alive.  A declared body far over the
 *      limit is the exception: it is refused at once so it is never read.
 *   2. body chunks: appended up to the limit, swallowed once the answer is
 *      known.
 *   3. the final call: parse JSON, run the route, render, queue.
 * NOTIFY_COMPLETED writes the access-log line and frees everything.
 *
 * Must not know about the database or any particular route.
 */
#include "http/server.h"

#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "http/metrics.h"
#include "http/problem.h"
#include "http/router.h"

struct http_server {
    struct MHD_Daemon *mhd;
    const struct cfg *cfg;
    const struct http_app *app;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int inflight; /* requests between the first AHC call and completion */
};

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
    rq->status = status;
    ret = MHD_queue_response(rq->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_problem(struct req *rq, const struct err *e)
{
    json_t *p = problem_from_err(e, rq->request_id);
    char *body = json_dumps(p, JSON_COMPACT);

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
        body = json_dumps(rs->json, JSON_COMPACT | JSON_REAL_PRECISION(15));
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

static struct req *req_start(struct http_server *s, struct MHD_Connection *conn, const char *url,
                             const char *method)
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

    if (rq->route->roles != ROLE_NONE && s->app->authenticate(rq, &rq->early_err) < 0) {
        rq->early = true;
        return rq;
    }
    if (rq->has_body) {
        const char *ct =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

        if (!is_json_content_type(ct))
            early_answer(rq, ERR_UNSUPPORTED_MEDIA_TYPE,
                         "request bodies must be application/json; charset=utf-8");
    }
    return rq;
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
    rq->json =
        json_loadb(rq->body.data, rq->body.len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (rq->json != NULL)
        return 0;
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

static enum MHD_Result finish(struct http_server *s, struct req *rq)
{
    struct resp rs = {0};
    struct err e;
    enum MHD_Result ret;

    if (rq->early)
        return queue_problem(rq, &rq->early_err);
    err_clear(&e);
    if (parse_body(rq, &e) < 0 || s->app->run(rq, &rs, &e) < 0) {
        s->app->done(rq);
        json_decref(rs.json);
        free(rs.raw);
        return queue_problem(rq, &e);
    }
    s->app->done(rq);
    ret = queue_resp(rq, &rs);
    json_decref(rs.json);
    free(rs.raw);
    return ret;
}

static enum MHD_Result ahc(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **req_cls)
{
    struct http_server *s = cls;
    struct req *rq = *req_cls;

    (void)version;
    if (rq == NULL) {
        rq = req_start(s, conn, url, method);
        *req_cls = rq;
        pthread_mutex_lock(&s->lock);
        s->inflight++;
        pthread_mutex_unlock(&s->lock);
        if (!rq->early && rq->has_body && declared_length(conn) > s->cfg->body_limit) {
            early_answer(rq, ERR_PAYLOAD_TOO_LARGE, "request body is over the limit");
            if (declared_length(conn) / SWALLOW_FACTOR > s->cfg->body_limit)
                return queue_problem(rq, &rq->early_err);
        }
        return MHD_YES;
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
    if (rq == NULL)
        return;
    *req_cls = NULL;
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
    json_decref(rq->json);
    buf_cleanup(&rq->body);
    arena_free(&rq->arena);
    free(rq);

    pthread_mutex_lock(&s->lock);
    if (--s->inflight == 0)
        pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
}

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_msg(LOG_WARN, "libmicrohttpd", msg);
}

/* ----------------------------------------------------------- lifecycle -- */

struct http_server *http_server_start(const struct cfg *c, const struct http_app *app,
                                      struct err *e)
{
    struct http_server *s;
    struct addrinfo hints = {0}, *ai = NULL;
    char port[8];
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
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

    s = xcalloc(1, sizeof(*s));
    s->cfg = c;
    s->app = app;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    metrics_init(app->routes, app->nroutes);
    /* The logger comes first so that MHD reports problems with the other
     * options through it. */
    s->mhd = MHD_start_daemon(
        flags, (uint16_t)c->listen_port, NULL, NULL, ahc, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger,
        NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)c->threads,
        MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)2000, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (s->mhd == NULL) {
        metrics_cleanup();
        pthread_cond_destroy(&s->idle);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return err_set(e, ERR_UNAVAILABLE, "cannot listen on %s:%d", c->listen_host,
                       c->listen_port),
               NULL;
    }
    info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : c->listen_port;
    return s;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_stop(struct http_server *s, int grace_ms)
{
    MHD_socket lsock = MHD_quiesce_daemon(s->mhd);
    struct timespec deadline;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += grace_ms / 1000;
    deadline.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (s->inflight > 0) {
        if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline) != 0)
            break;
    }
    pthread_mutex_unlock(&s->lock);
    MHD_stop_daemon(s->mhd);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    metrics_cleanup();
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
