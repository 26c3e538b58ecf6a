/*
 * beside.c - a blocking call on a thread of its own (core/beside.h).
 *
 * Must not return before the thread has ended: `arg` is often on the
 * caller's stack.
 */
#include "core/beside.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/fiber.h"

struct call {
    void (*fn)(void *arg);
    void *arg;
    int efd; /* written once, when fn has returned */
};

static void *thread_main(void *p)
{
    struct call *c = p;
    uint64_t one = 1;

    c->fn(c->arg);
    /* Cannot fail: the counter is far from its maximum. */
    while (write(c->efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    return NULL;
}

int run_beside(void (*fn)(void *arg), void *arg)
{
    struct call c = {fn, arg, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
    pthread_t t;
    uint64_t n;

    if (c.efd < 0)
        return -1;
    if (pthread_create(&t, NULL, thread_main, &c) != 0) {
        close(c.efd);
        return -1;
    }
    /* A failed wait (poll(2) itself failing) still must not return while
     * the thread runs: pthread_join waits in any case. */
    while (read(c.efd, &n, sizeof(n)) < 0 && fiber_wait_fd(c.efd, false) == 0)
        ;
    pthread_join(t, NULL);
    fiber_forget_fd(c.efd);
    close(c.efd);
    return 0;
}
