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
static atomic_ullong groups_total;
static atomic_ullong grouped_total;
static atomic_llong group_waiting;

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

void counters_group_waiting(int delta)
{
    atomic_fetch_add_explicit(&group_waiting, delta, memory_order_relaxed);
}

void counters_group_started(int n)
{
    atomic_fetch_add_explicit(&groups_total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&grouped_total, (unsigned long long)n, memory_order_relaxed);
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
               "loyalty_points_redeemed_total %llu\n"
               "# HELP loyalty_purchase_groups_total Transactions that recorded purchases "
               "together (api/gather.h), of one purchase or more.\n"
               "# TYPE loyalty_purchase_groups_total counter\n"
               "loyalty_purchase_groups_total %llu\n"
               "# HELP loyalty_purchase_group_members_total Purchase requests taken into such "
               "groups.\n"
               "# TYPE loyalty_purchase_group_members_total counter\n"
               "loyalty_purchase_group_members_total %llu\n"
               "# HELP loyalty_purchases_waiting Purchase requests waiting for a group now.\n"
               "# TYPE loyalty_purchases_waiting gauge\n"
               "loyalty_purchases_waiting %lld\n",
               atomic_load_explicit(&purchases_total, memory_order_relaxed),
               atomic_load_explicit(&points_earned_total, memory_order_relaxed),
               atomic_load_explicit(&points_redeemed_total, memory_order_relaxed),
               atomic_load_explicit(&groups_total, memory_order_relaxed),
               atomic_load_explicit(&grouped_total, memory_order_relaxed),
               atomic_load_explicit(&group_waiting, memory_order_relaxed));
}
