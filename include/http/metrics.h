/*
 * metrics.h - request counters and latency histograms by route and status,
 * kept in relaxed atomics so recording never takes a lock.
 */
#ifndef LY_HTTP_METRICS_H
#define LY_HTTP_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/http.h"

/* Sizes the tables for a route table of `n` routes (plus "unmatched");
 * `in_flight` is the server's count of requests in flight, read for the
 * gauge (borrowed: it outlives the metrics). */
void metrics_init(const struct route *routes, size_t n, const atomic_int *in_flight);
void metrics_cleanup(void);

/* Records one finished request; route_index -1 means unmatched. */
void metrics_observe(int route_index, int status, uint64_t duration_us);

/* Appends the HTTP metrics in Prometheus text format. */
void metrics_render(struct buf *out);

#endif
