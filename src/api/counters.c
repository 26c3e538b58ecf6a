/*
 * counters.c - the business counters of /metrics (see counters.h).
 *
 * Must not know about requests or the database: callers decide what
 * counts (a committed purchase, not a replay).
 */
#include "api/counters.h"

#include <stdatomic.h>

static atomic_ullong purchases_total;
static atomic_ullong points_earned_total;
static atomic_ullong points_redeemed_total;

void counters_purchase(int64_t points_earned, int64_t points_redeemed)
{
    atomic_fetch_add_explicit(&purchases_total, 1, memory_order_relaxed);
    if (points_earned > 0)
        atomic_fetch_add_explicit(&points_earned_total, (unsigned long long)points_earned,
                                  memory_order_relaxed);
    if (points_redeemed > 0)
        atomic_fetch_add_explicit(&points_redeemed_total, (unsigned long long)points_redeemed,
                                  memory_order_relaxed);
}

void counters_render(struct buf *out)
{
    buf_printf(out,
               "# HELP loyalty_purchases_total Purchases recorded (replays not counted).\n"
               "# TYPE loyalty_purchases_total counter\n"
               "loyalty_purchases_total %llu\n"
               "# HELP loyalty_points_earned_total Points earned by recorded purchases.\n"
               "# TYPE loyalty_points_earned_total counter\n"
               "loyalty_points_earned_total %llu\n"
               "# HELP loyalty_points_redeemed_total Points redeemed as part payment of "
               "purchases.\n"
               "# TYPE loyalty_points_redeemed_total counter\n"
               "loyalty_points_redeemed_total %llu\n",
               atomic_load_explicit(&purchases_total, memory_order_relaxed),
               atomic_load_explicit(&points_earned_total, memory_order_relaxed),
               atomic_load_explicit(&points_redeemed_total, memory_order_relaxed));
}
