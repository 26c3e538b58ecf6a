/*
 * fibers.c - a worker's loop as the watcher of its fibers (api/fibers.h).
 *
 * A database socket stays in the worker's epoll set from a fiber's first
 * wait on it until the connection is closed, so a round trip costs no
 * epoll_ctl: a wait only names the fiber to continue.  A socket that turns
 * readable while no fiber waits on it (a server notice, or the server
 * going away, on a connection back in the worker's set) is dropped from
 * the set until the next wait, so it cannot spin the loop.
 *
 * Must not know any statement or route.
 */
#include "api/fibers.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/gather.h"
#include "core/fiber.h"
#include "core/xmalloc.h"
#include "http/http.h"
#include "store/db.h"

struct fd_wait {
    int fd;          /* -1: free */
    bool registered; /* in the loop's set */
    bool want_write;
    struct fiber *waiter;
};

/* Indexed by descriptor, grown on demand: one per connection the worker's
 * fibers use, whatever the pool's size, and any other descriptor a fiber
 * waits on (a job's eventfd). */
static _Thread_local struct fd_wait *waits;
static _Thread_local int nwaits;
static _Thread_local bool entered;

/* The wait of `fd`, made (free) when `add`; NULL when there is none. */
static struct fd_wait *slot_of(int fd, bool add)
{
    struct fd_wait *w;
    int n;

    if (fd < 0)
        return NULL;
    if (fd >= nwaits) {
        if (!add)
            return NULL;
        for (n = nwaits > 0 ? nwaits : 64; n <= fd; n *= 2)
            ;
        waits = xrealloc(waits, (size_t)n * sizeof(*waits));
        for (int i = nwaits; i < n; i++)
            waits[i].fd = -1;
        nwaits = n;
    }
    w = &waits[fd];
    if (w->fd != fd) {
        if (!add)
            return NULL;
        *w = (struct fd_wait){fd, false, false, NULL};
    }
    return w;
}

/* The loop's callback; `arg` is the descriptor, not its wait, which moves
 * when the table grows. */
static void on_ready(void *arg, bool readable, bool writable)
{
    int fd = (int)(intptr_t)arg;
    struct fd_wait *w = slot_of(fd, false);
    struct fiber *f = w != NULL ? w->waiter : NULL;

    (void)readable;
    (void)writable;
    if (f == NULL) {
        http_loop_unwatch(fd);
        if (w != NULL)
            w->registered = false;
        return;
    }
    w->waiter = NULL;
    fiber_wake(f);
    fiber_run_woken();
}

static int watch(int fd, bool want_write, struct fiber *f)
{
    struct fd_wait *w = slot_of(fd, true);

    if (w == NULL)
        return -1;
    if (!w->registered || w->want_write != want_write) {
        if (http_loop_watch(fd, want_write, on_ready, (void *)(intptr_t)fd) < 0)
            return -1;
        w->registered = true;
        w->want_write = want_write;
    }
    w->waiter = f;
    return 0;
}

static void forget(int fd)
{
    struct fd_wait *w = slot_of(fd, false);

    if (w == NULL)
        return;
    if (w->registered)
        http_loop_unwatch(fd);
    w->fd = -1;
}

static const struct fiber_watcher watcher = {watch, forget};

void api_fibers_enter(void)
{
    if (entered)
        return;
    fiber_set_watcher(&watcher);
    gather_thread_enter();
    entered = true;
}

void api_fibers_turn(void)
{
    /* A group that ended lets the next start, on the same turn. */
    do
        fiber_run_woken();
    while (gather_launch());
}

void api_fibers_worker_end(void)
{
    db_local_end();
    fiber_set_watcher(NULL);
    fiber_thread_end();
    free(waits);
    waits = NULL;
    nwaits = 0;
    entered = false;
}
