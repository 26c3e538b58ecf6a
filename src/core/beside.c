/*
 * beside.c - a blocking call on a thread of its own (core/beside.h).
 *
 * Must not let a call's thread outlive beside_end: `arg` is often on the
 * caller's stack.
 */
#include "core/beside.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/fiber.h"
#include "core/xmalloc.h"

struct beside {
    void (*fn)(void *arg);
    void *arg;
    int efd; /* written once, when fn has returned */
    pthread_t thread;
};

static void *thread_main(void *p)
{
    struct beside *b = p;
    uint64_t one = 1;

    b->fn(b->arg);
    /* Cannot fail: the counter is far from its maximum. */
    while (write(b->efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    return NULL;
}

struct beside *beside_start(void (*fn)(void *arg), void *arg)
{
    struct beside *b = xmalloc(sizeof(*b));

    *b = (struct beside){fn, arg, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), 0};
    if (b->efd < 0) {
        free(b);
        return NULL;
    }
    if (pthread_create(&b->thread, NULL, thread_main, b) != 0) {
        close(b->efd);
        free(b);
        return NULL;
    }
    return b;
}

int beside_fd(const struct beside *b)
{
    return b->efd;
}

void beside_end(struct beside *b)
{
    pthread_join(b->thread, NULL);
    close(b->efd);
    free(b);
}

int run_beside(void (*fn)(void *arg), void *arg)
{
    struct beside *b = beside_start(fn, arg);
    uint64_t n;

    if (b == NULL)
        return -1;
    /* A failed wait (poll(2) itself failing) still ends in beside_end,
     * which waits for the thread in any case. */
    while (read(b->efd, &n, sizeof(n)) < 0 && fiber_wait_fd(b->efd, false) == 0)
        ;
    fiber_forget_fd(b->efd);
    beside_end(b);
    return 0;
}
