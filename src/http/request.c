/*
 * request.c - accessors for handlers (query, headers, params) and response
 * setters.  Thin wrappers over libmicrohttpd so handlers never include it.
 */
#include <stdlib.h>
#include <time.h>

#include <microhttpd.h>

#include "http/http.h"

const char *req_param(const struct req *rq, int i)
{
    return i >= 0 && i < rq->nparams ? rq->params[i] : NULL;
}

const char *req_query(const struct req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

int req_query_count(const struct req *rq)
{
    return MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, NULL, NULL);
}

const char *req_header(const struct req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

void resp_json(struct resp *rs, int status, json_t *body)
{
    json_decref(rs->json);
    rs->status = status;
    rs->json = body;
}

void resp_empty(struct resp *rs, int status)
{
    rs->status = status;
}

void resp_raw(struct resp *rs, int status, const char *content_type, char *data, size_t len)
{
    free(rs->raw);
    rs->status = status;
    rs->content_type = content_type;
    rs->raw = data;
    rs->raw_len = len;
}

uint64_t http_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
