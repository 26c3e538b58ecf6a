/*
 * gather.h - requests of one worker that do their database work together.
 *
 * Durable writes cost a WAL flush and a round trip each; requests that
 * arrive while their worker's transactions are busy can share them.  A
 * request that joins waits (its fiber sleeps).  At the end of each loop
 * turn, while fewer than the limit of groups run, the waiting requests
 * with distinct keys (up to GATHER_MAX, in arrival order) become a group,
 * and one of them, the leader, runs it for all: one call of the group
 * function, on the leader's fiber.  The others are continued when it
 * returns.  A request that arrives while a group of its own can start
 * (fewer groups than the limit) waits only to the end of the turn: alone,
 * it is a group of one.
 *
 * A group may wait long in the database (for a member row that a long
 * transaction holds).  So that it cannot hold up the others for as long,
 * requests that have waited GATHER_STUCK_MS start a group of their own
 * even past the limit; what bounds such groups is the worker's
 * connections, for which their leaders then wait.
 *
 * Each kind of group (purchases: api/purchase_group.c; redemptions:
 * api/redemption_group.c) has its own queue, limit and function: a group
 * holds requests of one kind, and one kind's groups never wait for the
 * other's.  The state is per worker thread; the functions are set once.
 *
 * Must not know what a group does, or touch the database.
 */
#ifndef LY_API_GATHER_H
#define LY_API_GATHER_H

#include <stdbool.h>
#include <stdint.h>

#define GATHER_MAX      32
#define GATHER_STUCK_MS 50

enum gather_kind { GATHER_PURCHASES, GATHER_REDEMPTIONS, GATHER_KINDS };

struct gather_item {
    /* set by the caller of gather_join */
    enum gather_kind kind;
    int64_t key; /* distinct within a group: one member's requests go one after another */
    void *arg;   /* the group function's, borrowed */
    /* the rest is gather.c's */
    struct fiber *fiber;
    struct gather_item *next;
    int64_t since_ms;                      /* monotonic, when it joined */
    int ngroup;                            /* > 0: this item leads a group of so many */
    struct gather_item *group[GATHER_MAX]; /* the leader's: by descending key */
};

/* Runs a group: items[0..n) by descending key (for purchases by member
 * id that is THE lock order; purchase_group.c sorts again once it knows
 * the members of those by card). */
typedef void (*gather_fn)(struct gather_item *const *items, int n);

/*
 * Sets the group function of `kind` and how many of its groups may run at
 * once on each worker (at least 1); 0, the default, turns gathering of
 * that kind off.  Called once per kind, before the workers start.
 */
void gather_init(enum gather_kind kind, gather_fn run, int per_worker);

/* Can the calling code join a group of `kind`?  Only inside a fiber of a
 * worker whose loop launches groups (api_fibers_enter), and when gathering
 * of that kind is on. */
bool gather_possible(enum gather_kind kind);

/*
 * Waits until the group `it` (borrowed: it must live until the return)
 * joins has run.  Inside a fiber, when gather_possible(it->kind).
 */
void gather_join(struct gather_item *it);

/* At the end of a loop turn: starts what groups may start; true when it
 * woke a leader (then the loop runs the woken fibers again). */
bool gather_launch(void);

/* For the worker's loop: its thread may launch groups from now on. */
void gather_thread_enter(void);

/* In how many ms gather_launch has a group to start though nothing else
 * happens (a request waiting GATHER_STUCK_MS); -1 when none waits. */
int gather_due_ms(void);

#endif
