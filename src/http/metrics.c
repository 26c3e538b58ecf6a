/*
 * metrics.c - Prometheus counters and histograms for HTTP requests, and
 * the requests in flight, and the count of log lines dropped
 * (core/log_writer.h).
 *
 * One slot per (route, status) pair for the statuses the API can answer;
 * anything else lands in an "other" slot.  Only series that have been seen
 * are rendered, so the output stays short.
 */
#include "http/metrics.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "core/log_writer.h"
#include "core/xmalloc.h"

static const int statuses[] = {200, 201, 204, 400, 401, 403, 404, 405,
                               409, 413, 415, 422, 429, 500, 503, 0};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0])) /* last is "other" */
static const double buckets_s[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
#define NBUCKETS (sizeof(buckets_s) / sizeof(buckets_s[0]))
static const uint64_t buckets_us[NBUCKETS] = {500,   1000,   2500,   5000,   10000,   25000,
                                              50000, 100000, 250000, 500000, 1000000, 2500000};

struct series {
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;
    atomic_uint_fast64_t le[NBUCKETS]; /* non-cumulative; summed when rendered */
};

static const struct route *m_routes;
static size_t m_nroutes;
static const atomic_int *m_in_flight;
static struct series *m_series; /* (m_nroutes + 1) x NSTATUS, last row unmatched */

void metrics_init(const struct route *routes, size_t n, const atomic_int *in_flight)
{
    m_in_flight = in_flight;
    m_routes = routes;
    m_nroutes = n;
    m_series = xcalloc((n + 1) * NSTATUS, sizeof(*m_series));
}

void metrics_cleanup(void)
{
    free(m_series);
    m_series = NULL;
    m_in_flight = NULL;
}

static size_t status_slot(int status)
{
    for (size_t i = 0; i + 1 < NSTATUS; i++)
        if (statuses[i] == status)
            return i;
    return NSTATUS - 1;
}

void metrics_observe(int route_index, int status, uint64_t duration_us)
{
    size_t row = route_index < 0 ? m_nroutes : (size_t)route_index;
    struct series *s;

    if (m_series == NULL)
        return;
    s = &m_series[row * NSTATUS + status_slot(status)];
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, duration_us, memory_order_relaxed);
    for (size_t b = 0; b < NBUCKETS; b++) {
        if (duration_us <= buckets_us[b]) {
            atomic_fetch_add_explicit(&s->le[b], 1, memory_order_relaxed);
            break;
        }
    }
}

static const char *method_label(enum http_method m)
{
    switch (m) {
    case HTTP_GET:
        return "GET";
    case HTTP_POST:
        return "POST";
    case HTTP_PUT:
        return "PUT";
    case HTTP_PATCH:
        return "PATCH";
    case HTTP_DELETE:
        return "DELETE";
    default:
        return "OTHER";
    }
}

void metrics_render(struct buf *out)
{
    buf_puts(out, "# HELP loyalty_http_requests_total HTTP requests by route, method and "
                  "status.\n# TYPE loyalty_http_requests_total counter\n");
    for (size_t r = 0; r <= m_nroutes && m_series != NULL; r++) {
        const char *route = r < m_nroutes ? m_routes[r].path : "unmatched";
        const char *method = r < m_nroutes ? method_label(m_routes[r].method) : "";

        for (size_t k = 0; k < NSTATUS; k++) {
            uint64_t c =
                atomic_load_explicit(&m_series[r * NSTATUS + k].count, memory_order_relaxed);
            char st[8];

            if (c == 0)
                continue;
            if (statuses[k])
                snprintf(st, sizeof(st), "%d", statuses[k]);
            else
                snprintf(st, sizeof(st), "other");
            buf_printf(out,
                       "loyalty_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} "
                       "%llu\n",
                       route, method, st, (unsigned long long)c);
        }
    }
    buf_puts(out, "# HELP loyalty_http_request_duration_seconds HTTP request latency.\n"
                  "# TYPE loyalty_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= m_nroutes && m_series != NULL; r++) {
        const char *route = r < m_nroutes ? m_routes[r].path : "unmatched";
        const char *method = r < m_nroutes ? method_label(m_routes[r].method) : "";

        for (size_t k = 0; k < NSTATUS; k++) {
            struct series *s = &m_series[r * NSTATUS + k];
            uint64_t c = atomic_load_explicit(&s->count, memory_order_relaxed);
            uint64_t cum = 0;
            char labels[256];

            if (c == 0)
                continue;
            if (statuses[k])
                snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",status=\"%d\"", route,
                         method, statuses[k]);
            else
                snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",status=\"other\"",
                         route, method);
            for (size_t b = 0; b < NBUCKETS; b++) {
                cum += atomic_load_explicit(&s->le[b], memory_order_relaxed);
                buf_printf(out, "loyalty_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n",
                           labels, buckets_s[b], (unsigned long long)cum);
            }
            buf_printf(out,
                       "loyalty_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n"
                       "loyalty_http_request_duration_seconds_sum{%s} %.6f\n"
                       "loyalty_http_request_duration_seconds_count{%s} %llu\n",
                       labels, (unsigned long long)c, labels,
                       (double)atomic_load_explicit(&s->sum_us, memory_order_relaxed) / 1e6, labels,
                       (unsigned long long)c);
        }
    }
    buf_printf(out,
               "# HELP loyalty_log_lines_dropped_total Log lines dropped because stderr did not "
               "keep up.\n# TYPE loyalty_log_lines_dropped_total counter\n"
               "loyalty_log_lines_dropped_total %llu\n",
               (unsigned long long)log_writer_dropped_total());
    buf_printf(out,
               "# HELP loyalty_http_requests_in_flight Requests received and not yet answered "
               "(this one included).\n# TYPE loyalty_http_requests_in_flight gauge\n"
               "loyalty_http_requests_in_flight %d\n",
               m_in_flight != NULL ? atomic_load_explicit(m_in_flight, memory_order_relaxed) : 0);
}
