/*
 * test_gather.c - unit tests for api/gather.c, with fibers but no loop:
 * the test plays the worker's turn (gather_launch, then fiber_run_woken).
 * Groups take distinct keys in descending order and leave the others
 * waiting in arrival order; no more groups run than the limit; the leader
 * runs the group once for all and every member continues after it; a
 * group takes at most GATHER_MAX; kinds never share a group, and one
 * kind's groups do not count against the other's limit.
 */
#include <stdbool.h>
#include <stdint.h>

#include "api/gather.h"
#include "check.h"
#include "core/fiber.h"

#define NGROUPS 8

/* What the group function saw: the keys of each group it ran, and on
 * which request's fiber. */
static int64_t seen[NGROUPS][GATHER_MAX];
static int seen_n[NGROUPS];
static int ngroups;
static struct fiber *ran_on[NGROUPS];
static enum gather_kind ran_kind[NGROUPS];

static void record_group(struct gather_item *const *items, int n)
{
    CHECK(ngroups < NGROUPS);
    if (ngroups >= NGROUPS)
        return;
    for (int i = 0; i < n; i++) {
        CHECK(items[i]->kind == items[0]->kind);
        seen[ngroups][i] = items[i]->key;
        *(int *)items[i]->arg = ngroups; /* the group that ran it */
    }
    seen_n[ngroups] = n;
    ran_on[ngroups] = fiber_self();
    ran_kind[ngroups] = items[0]->kind;
    ngroups++;
}

struct request {
    struct gather_item item;
    int group; /* set by record_group: -1 until it ran */
    bool done;
    bool possible;
    struct fiber *self;
};

static void request_main(void *arg)
{
    struct request *r = arg;

    r->self = fiber_self();
    r->possible = gather_possible(r->item.kind);
    r->item.arg = &r->group;
    gather_join(&r->item);
    r->done = true;
}

static void test_groups(void)
{
    static const int64_t keys[] = {5, 9, 5, 7, 1, 5};
    struct request rq[6];
    int n = (int)(sizeof(keys) / sizeof(keys[0]));

    CHECK(!gather_possible(GATHER_PURCHASES)); /* outside a fiber */
    CHECK_EQ_I64(gather_due_ms(), -1);
    for (int i = 0; i < n; i++) {
        rq[i] = (struct request){.item = {.key = keys[i]}, .group = -1};
        CHECK(!fiber_switch(fiber_new(request_main, &rq[i])));
        CHECK(rq[i].possible);
    }
    CHECK(gather_due_ms() >= 0 && gather_due_ms() <= GATHER_STUCK_MS);

    /* One group at a time: keys 9 7 5 1, the first 5 (request 0). */
    CHECK(gather_launch());
    CHECK(!gather_launch());
    fiber_run_woken();
    CHECK_EQ_I64(ngroups, 1);
    CHECK_EQ_I64(seen_n[0], 4);
    CHECK_EQ_I64(seen[0][0], 9);
    CHECK_EQ_I64(seen[0][1], 7);
    CHECK_EQ_I64(seen[0][2], 5);
    CHECK_EQ_I64(seen[0][3], 1);
    CHECK_EQ_I64(rq[0].group, 0);
    CHECK(rq[0].done && rq[1].done && rq[3].done && rq[4].done);
    CHECK(!rq[2].done && !rq[5].done);
    /* Run on one of its own requests' fibers. */
    CHECK(ran_on[0] == rq[0].self || ran_on[0] == rq[1].self || ran_on[0] == rq[3].self ||
          ran_on[0] == rq[4].self);

    /* The two other 5s, one group each, in arrival order. */
    CHECK(gather_launch());
    fiber_run_woken();
    CHECK_EQ_I64(rq[2].group, 1);
    CHECK(rq[2].done && !rq[5].done);
    CHECK(gather_launch());
    fiber_run_woken();
    CHECK_EQ_I64(rq[5].group, 2);
    CHECK(rq[5].done);
    CHECK_EQ_I64(ngroups, 3);
    CHECK(!gather_launch());
    CHECK_EQ_I64(gather_due_ms(), -1);
}

/* One more distinct key than a group takes: a full group, then one. */
static void test_cap(void)
{
    static struct request rq[GATHER_MAX + 1];
    int first = ngroups;

    for (int i = 0; i <= GATHER_MAX; i++) {
        rq[i] = (struct request){.item = {.key = 100 + i}, .group = -1};
        CHECK(!fiber_switch(fiber_new(request_main, &rq[i])));
    }
    CHECK(gather_launch());
    fiber_run_woken();
    CHECK(gather_launch());
    fiber_run_woken();
    CHECK_EQ_I64(ngroups, first + 2);
    CHECK_EQ_I64(seen_n[first], GATHER_MAX);
    CHECK_EQ_I64(seen_n[first + 1], 1);
    /* The oldest go first: the last to join waits for the second group. */
    CHECK_EQ_I64(seen[first + 1][0], 100 + GATHER_MAX);
    for (int i = 0; i <= GATHER_MAX; i++)
        CHECK(rq[i].done);
}

/* A purchase and two redemptions, one with the purchase's key: one group
 * of each kind starts at once (limit 1 each), the same key in both. */
static void test_kinds(void)
{
    static const struct {
        enum gather_kind kind;
        int64_t key;
    } in[] = {{GATHER_PURCHASES, 3}, {GATHER_REDEMPTIONS, 3}, {GATHER_REDEMPTIONS, 4}};
    struct request rq[3];
    int first = ngroups;

    for (int i = 0; i < 3; i++) {
        rq[i] = (struct request){.item = {.kind = in[i].kind, .key = in[i].key}, .group = -1};
        CHECK(!fiber_switch(fiber_new(request_main, &rq[i])));
        CHECK(rq[i].possible);
    }
    CHECK(gather_launch());
    CHECK(!gather_launch());
    fiber_run_woken();
    CHECK_EQ_I64(ngroups, first + 2);
    CHECK(ran_kind[first] == GATHER_PURCHASES);
    CHECK_EQ_I64(seen_n[first], 1);
    CHECK(ran_kind[first + 1] == GATHER_REDEMPTIONS);
    CHECK_EQ_I64(seen_n[first + 1], 2);
    CHECK_EQ_I64(seen[first + 1][0], 4);
    CHECK_EQ_I64(seen[first + 1][1], 3);
    for (int i = 0; i < 3; i++)
        CHECK(rq[i].done);
}

/* A kind whose gathering is off cannot be joined. */
static void possible_main(void *arg)
{
    *(bool *)arg = gather_possible(GATHER_REDEMPTIONS);
}

int main(void)
{
    bool possible = true;

    gather_init(GATHER_PURCHASES, record_group, 1);
    gather_thread_enter();
    CHECK(fiber_switch(fiber_new(possible_main, &possible)));
    CHECK(!possible);
    gather_init(GATHER_REDEMPTIONS, record_group, 1);
    test_groups();
    test_cap();
    test_kinds();
    fiber_thread_end();
    return check_report();
}
