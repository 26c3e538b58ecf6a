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
static atomic_ullong groups_total[GATHER_KINDS];
static atomic_ullong grouped_total[GATHER_KINDS];
static atomic_llong group_waiting[GATHER_KINDS];

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

void counters_group_waiting(enum gather_kind kind, int delta)
{
    atomic_fetch_add_explicit(&group_waiting[kind], delta, memory_order_relaxed);
}

void counters_group_started(enum gather_kind kind, int n)
{
    atomic_fetch_add_explicit(&groups_total[kind], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&grouped_total[kind], (unsigned long long)n, memory_order_relaxed);
}

/* The three series of one kind of group; `what` names its requests. */
static void render_groups(struct buf *out, enum gather_kind kind, const char *what,
                          const char *What)
{
    buf_printf(out,
               "# HELP loyalty_%s_groups_total Transactions that recorded %ss together "
               "(api/gather.h), of one %s or more.\n"
               "# TYPE loyalty_%s_groups_total counter\n"
               "loyalty_%s_groups_total %llu\n"
               "# HELP loyalty_%s_group_members_total %s requests taken into such groups.\n"
               "# TYPE loyalty_%s_group_members_total counter\n"
               "loyalty_%s_group_members_total %llu\n"
               "# HELP loyalty_%ss_waiting %s requests waiting for a group now.\n"
               "# TYPE loyalty_%ss_waiting gauge\n"
               "loyalty_%ss_waiting %lld\n",
               what, what, what, what, what,
               atomic_load_explicit(&groups_total[kind], memory_order_relaxed), what, What, what,
               what, atomic_load_explicit(&grouped_total[kind], memory_order_relaxed), what, What,
               what, what, atomic_load_explicit(&group_waiting[kind], memory_order_relaxed));
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
    render_groups(out, GATHER_PURCHASES, "purchase", "Purchase");
    render_groups(out, GATHER_REDEMPTIONS, "redemption", "Redemption");
}
