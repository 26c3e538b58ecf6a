/*
 * fiber.h - cooperative fibers (lwan's coroutines, in the small): a
 * function run on a stack of its own that can stop where it waits for a
 * descriptor and be continued later by the thread's event loop, so that
 * code written as plain blocking calls (a handler's database statements)
 * never puts the thread to sleep.
 *
 * A fiber lives on the thread that made it and is switched to only there.
 * Waiting goes through a watcher the thread's loop installs: the fiber
 * names a descriptor, the loop watches it, and when it is ready the loop
 * calls fiber_wake().  On a thread without a watcher, and outside any
 * fiber, fiber_wait_fd() simply polls, so the same code also runs on plain
 * threads (the CLI, background jobs).
 *
 * Must not know about HTTP, the database or any event loop in particular.
 */
#ifndef LY_CORE_FIBER_H
#define LY_CORE_FIBER_H

#include <stdbool.h>

struct fiber;

typedef void (*fiber_fn)(void *arg);

/*
 * A fiber that will run fn(arg) on its own stack when first switched to.
 * Never NULL (aborts when no memory).  Owned by the calling thread; it is
 * given back by fiber_switch() once fn has returned.
 */
struct fiber *fiber_new(fiber_fn fn, void *arg);

/*
 * Runs `f` (from outside any fiber) until it waits or fn returns.  Returns
 * true when fn has returned: `f` is then released and must not be used.
 */
bool fiber_switch(struct fiber *f);

/* The running fiber, or NULL outside any. */
struct fiber *fiber_self(void);

/*
 * Inside a fiber: stops it until someone calls fiber_wake() for it and the
 * loop's fiber_run_woken() switches back.  Outside a fiber: not allowed.
 */
void fiber_sleep(void);

/* Marks a sleeping fiber of this thread to be continued by the next
 * fiber_run_woken() (FIFO). */
void fiber_wake(struct fiber *f);

/* Switches to every woken fiber, including those woken meanwhile. */
void fiber_run_woken(void);

/*
 * How a thread's loop watches a descriptor for a fiber: `watch` arranges
 * for fiber_wake(f) once `fd` is readable (or writable, when `want_write`)
 * and returns 0, or -1 when it cannot (then the fiber polls instead).
 * `forget` is called before such a descriptor is closed.
 */
struct fiber_watcher {
    int (*watch)(int fd, bool want_write, struct fiber *f);
    void (*forget)(int fd);
};

/* Installs `w` (borrowed; NULL: none) for the calling thread. */
void fiber_set_watcher(const struct fiber_watcher *w);

/*
 * Waits until `fd` is readable (or writable): inside a fiber, by sleeping
 * while the loop watches it; elsewhere with poll(2).  Returns 0, or -1
 * when poll fails.
 */
int fiber_wait_fd(int fd, bool want_write);

/* Tells the thread's watcher that `fd` is about to be closed. */
void fiber_forget_fd(int fd);

/* Frees the calling thread's cache of stacks (at the thread's end). */
void fiber_thread_end(void);

#endif
