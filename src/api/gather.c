/*
 * gather.c - waiting requests formed into groups at the end of a turn
 * (api/gather.h).
 *
 * Per worker thread and kind: a FIFO of waiting items and the count of
 * groups running.  Nothing here is shared between threads but what it
 * counts for /metrics (api/counters.h).
 *
 * Must not know what a group does, or touch the database.
 */
#include "api/gather.h"

#include <stddef.h>
#include <time.h>

#include "api/counters.h"
#include "core/fiber.h"
#include "core/xmalloc.h"

static gather_fn run_fn[GATHER_KINDS];
static int limit[GATHER_KINDS]; /* groups at once per worker; 0: off */

/* One worker's waiting items and running groups of one kind. */
struct queue {
    struct gather_item *head, *tail;
    int running;
};

static _Thread_local bool entered;
static _Thread_local struct queue queues[GATHER_KINDS];

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gather_init(enum gather_kind kind, gather_fn run, int per_worker)
{
    run_fn[kind] = run;
    limit[kind] = per_worker;
}

void gather_thread_enter(void)
{
    entered = true;
}

bool gather_possible(enum gather_kind kind)
{
    return limit[kind] > 0 && entered && fiber_self() != NULL;
}

void gather_join(struct gather_item *it)
{
    struct queue *q = &queues[it->kind];

    ly_assert(gather_possible(it->kind));
    it->fiber = fiber_self();
    it->next = NULL;
    it->ngroup = 0;
    it->since_ms = mono_ms();
    if (q->tail != NULL)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    counters_group_waiting(it->kind, 1);
    fiber_sleep();
    if (it->ngroup == 0)
        return; /* a member: the leader ran the group */
    run_fn[it->kind](it->group, it->ngroup);
    for (int i = 0; i < it->ngroup; i++)
        if (it->group[i] != it)
            fiber_wake(it->group[i]->fiber);
    q->running--;
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
static int take_group(struct queue *q, struct gather_item **group)
{
    struct gather_item **link = &q->head;
    int n = 0;

    q->tail = NULL;
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
        q->tail = it;
        link = &it->next;
    }
    return n;
}

int gather_due_ms(void)
{
    int due = -1;

    for (int k = 0; k < GATHER_KINDS; k++) {
        const struct gather_item *oldest = queues[k].head;
        int64_t left;

        if (oldest == NULL)
            continue;
        left = oldest->since_ms + GATHER_STUCK_MS - mono_ms();
        if (left < 0)
            left = 0;
        if (due < 0 || left < due)
            due = (int)left;
    }
    return due;
}

bool gather_launch(void)
{
    bool woke = false;

    for (int k = 0; k < GATHER_KINDS; k++) {
        struct queue *q = &queues[k];

        /* The oldest waits longest: past GATHER_STUCK_MS the limit is off. */
        while (q->head != NULL &&
               (q->running < limit[k] || mono_ms() - q->head->since_ms >= GATHER_STUCK_MS)) {
            struct gather_item *group[GATHER_MAX];
            int n = take_group(q, group);
            struct gather_item *leader = group[n - 1];

            for (int i = 0; i < n; i++)
                leader->group[i] = group[i];
            leader->ngroup = n;
            q->running++;
            counters_group_waiting((enum gather_kind)k, -n);
            counters_group_started((enum gather_kind)k, n);
            fiber_wake(leader->fiber);
            woke = true;
        }
    }
    return woke;
}
