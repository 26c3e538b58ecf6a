/*
 * counters.h - business counters for /metrics: purchases recorded and the
 * points they earned and redeemed.  Relaxed atomics: recording never takes
 * a lock, and a scrape may see one counter a purchase ahead of another.
 */
#ifndef LY_API_COUNTERS_H
#define LY_API_COUNTERS_H

#include <stdint.h>

#include "api/gather.h"
#include "core/buf.h"

/* Counts one recorded purchase (call once it is committed). */
void counters_purchase(int64_t points_earned, int64_t points_redeemed);

/* Groups of `kind` (api/gather.h): `delta` more (or fewer) requests wait
 * for one; a group of `n` starts. */
void counters_group_waiting(enum gather_kind kind, int delta);
void counters_group_started(enum gather_kind kind, int n);

/* Appends the counters in Prometheus text format. */
void counters_render(struct buf *out);

#endif
