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

#include "core/fiber.h"
#include "http/http.h"
#include "store/db.h"

/* As many as a worker has connections, and then some. */
#define MAX_WAITS 16

struct fd_wait {
    int fd;          /* -1: free */
    bool registered; /* in the loop's set */
    bool want_write;
    struct fiber *waiter;
};

static _Thread_local struct fd_wait waits[MAX_WAITS];
static _Thread_local bool entered;

static void on_ready(void *arg, bool readable, bool writable)
{
    struct fd_wait *w = arg;
    struct fiber *f = w->waiter;

    (void)readable;
    (void)writable;
    if (f == NULL) {
        http_loop_unwatch(w->fd);
        w->registered = false;
        return;
    }
    w->waiter = NULL;
    fiber_wake(f);
    fiber_run_woken();
}

static struct fd_wait *slot_of(int fd, bool add)
{
    struct fd_wait *free_slot = NULL;

    for (int i = 0; i < MAX_WAITS; i++) {
        if (waits[i].fd == fd)
            return &waits[i];
        if (waits[i].fd < 0 && free_slot == NULL)
            free_slot = &waits[i];
    }
    if (add && free_slot != NULL)
        *free_slot = (struct fd_wait){fd, false, false, NULL};
    return add ? free_slot : NULL;
}

static int watch(int fd, bool want_write, struct fiber *f)
{
    struct fd_wait *w = slot_of(fd, true);

    if (w == NULL)
        return -1;
    if (!w->registered || w->want_write != want_write) {
        if (http_loop_watch(fd, want_write, on_ready, w) < 0)
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
    for (int i = 0; i < MAX_WAITS; i++)
        waits[i].fd = -1;
    fiber_set_watcher(&watcher);
    entered = true;
}

void api_fibers_turn(void)
{
    fiber_run_woken();
}

void api_fibers_worker_end(void)
{
    db_local_end();
    fiber_set_watcher(NULL);
    fiber_thread_end();
    entered = false;
}
