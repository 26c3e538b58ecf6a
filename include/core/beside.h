/*
 * beside.h - a blocking call run on a thread of its own while the caller
 * waits without blocking its thread's loop: in a fiber, the fiber sleeps on
 * an eventfd that the thread writes when the call returns (core/fiber.h),
 * so the loop goes on serving everything else.  For calls that may take
 * seconds and have no non-blocking form: a daily job, a connect (libpq's
 * own connect_timeout bounds it only in its blocking form).
 *
 * Must not know what it runs.
 */
#ifndef LY_CORE_BESIDE_H
#define LY_CORE_BESIDE_H

/*
 * Runs fn(arg) on a new thread and returns once it has returned: 0, or -1
 * when no thread or eventfd could be made (fn has not run).  `arg` is
 * borrowed; fn may use it until it returns.  Outside a fiber the caller's
 * thread simply waits (poll(2)).
 */
int run_beside(void (*fn)(void *arg), void *arg);

#endif
