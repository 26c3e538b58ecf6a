/*
 * gather.c - waiting requests formed into groups at the end of a turn
 * (api/gather.h).
 *
 * Per worker thread: a FIFO of waiting items and the count of groups
 * running.  Nothing here is shared between threads but what it counts for
 * /metrics (api/counters.h).
 *
 * Must not know what a group does, or touch the database.
 */
#include "api/gather.h"

#include <stddef.h>
#include <time.h>

#include "api/counters.h"
#include "core/fiber.h"
#include "core/xmalloc.h"

static gather_fn run_fn;
static int limit; /* groups at once per worker; 0: off */

static _Thread_local bool entered;
static _Thread_local struct gather_item *head, *tail;
static _Thread_local int running;

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gather_init(gather_fn run, int per_worker)
{
    run_fn = run;
    limit = per_worker;
}

void gather_thread_enter(void)
{
    entered = true;
}

bool gather_possible(void)
{
    return limit > 0 && entered && fiber_self() != NULL;
}

void gather_join(struct gather_item *it)
{
    ly_assert(gather_possible());
    it->fiber = fiber_self();
    it->next = NULL;
    it->ngroup = 0;
    it->since_ms = mono_ms();
    if (tail != NULL)
        tail->next = it;
    else
        head = it;
    tail = it;
    counters_group_waiting(1);
    fiber_sleep();
    if (it->ngroup == 0)
        return; /* a member: the leader ran the group */
    run_fn(it->group, it->ngroup);
    for (int i = 0; i < it->ngroup; i++)
        if (it->group[i] != it)
            fiber_wake(it->group[i]->fiber);
    running--;
}

static bool key_taken(struct gather_item *const *group, int n, int64_t key)
{
    for (int i = 0; i < n; i++)
        if (group[i]->key == key)
            return true;
    return false;
}

/* Takes the waiting items with distinct keys, oldest first, into `group`
 * (in descending key order); the others keep waiting, in order. */
static int take_group(struct gather_item **group)
{
    struct gather_item **link = &head;
    int n = 0;

    tail = NULL;
    while (*link != NULL) {
        struct gather_item *it = *link;

        if (n < GATHER_MAX && !key_taken(group, n, it->key)) {
            int at = n++;

            while (at > 0 && group[at - 1]->key < it->key) {
                group[at] = group[at - 1];
                at--;
            }
            group[at] = it;
            *link = it->next;
            continue;
        }
        tail = it;
        link = &it->next;
    }
    return n;
}

int gather_due_ms(void)
{
    int64_t left;

    if (head == NULL)
        return -1;
    left = head->since_ms + GATHER_STUCK_MS - mono_ms();
    return left < 0 ? 0 : (int)left;
}

bool gather_launch(void)
{
    bool woke = false;

    /* The oldest waits longest: past GATHER_STUCK_MS the limit is off. */
    while (head != NULL && (running < limit || mono_ms() - head->since_ms >= GATHER_STUCK_MS)) {
        struct gather_item *group[GATHER_MAX];
        int n = take_group(group);
        struct gather_item *leader = group[n - 1];

        for (int i = 0; i < n; i++)
            leader->group[i] = group[i];
        leader->ngroup = n;
        running++;
        counters_group_waiting(-n);
        counters_group_started(n);
        fiber_wake(leader->fiber);
        woke = true;
    }
    return woke;
}
