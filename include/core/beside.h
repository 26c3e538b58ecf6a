/*
 * beside.h - a blocking call run on a thread of its own, so that an event
 * loop's thread never waits in it: for calls that may take seconds and
 * have no non-blocking form (a daily job; a connect, which libpq bounds by
 * connect_timeout only in its blocking form).
 *
 * Two ways to wait for it: run_beside() in a fiber sleeps on an eventfd
 * that the thread writes when the call returns (core/fiber.h), so the loop
 * goes on serving everything else; beside_start() hands that eventfd to a
 * loop to watch, and beside_end() collects the thread once it is readable.
 *
 * Must not know what it runs.
 */
#ifndef LY_CORE_BESIDE_H
#define LY_CORE_BESIDE_H

struct beside;

/*
 * Runs fn(arg) on a new thread and returns once it has returned: 0, or -1
 * when no thread or eventfd could be made (fn has not run).  `arg` is
 * borrowed; fn may use it until it returns.  Outside a fiber the caller's
 * thread simply waits (poll(2)).
 */
int run_beside(void (*fn)(void *arg), void *arg);

/* Starts fn(arg) on a new thread; NULL when none could be made (fn has not
 * run).  `arg` is borrowed until beside_end.  Owned by the caller, who must
 * call beside_end exactly once. */
struct beside *beside_start(void (*fn)(void *arg), void *arg);

/* An eventfd that turns readable once fn has returned (borrowed: it lives
 * until beside_end). */
int beside_fd(const struct beside *b);

/* Waits for fn to return (at once when beside_fd is readable), ends the
 * thread and frees b. */
void beside_end(struct beside *b);

#endif
