/*
 * test_fiber.c - unit tests for core/fiber.c: a fiber that ends at once,
 * one that sleeps and is woken in order with others, waits that go through
 * a thread's watcher (and what it is told on forget), waits that poll when
 * there is no watcher, deep use of a fiber's stack, and stacks reused.
 */
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fiber.h"

/* --- a fiber that never waits ------------------------------------------ */

static void add_one(void *arg)
{
    ++*(int *)arg;
}

static void test_runs_to_the_end(void)
{
    int n = 0;

    CHECK(fiber_self() == NULL);
    CHECK(fiber_switch(fiber_new(add_one, &n)));
    CHECK_EQ_I64(n, 1);
    CHECK(fiber_self() == NULL);
}

/* --- sleeping and waking, in order ------------------------------------ */

struct sleeper {
    int id;
    int *log;
    int *nlog;
    struct fiber *self;
};

static void sleep_twice(void *arg)
{
    struct sleeper *s = arg;

    s->self = fiber_self();
    s->log[(*s->nlog)++] = s->id;
    fiber_sleep();
    s->log[(*s->nlog)++] = 10 + s->id;
    fiber_sleep();
    s->log[(*s->nlog)++] = 20 + s->id;
}

static void test_sleep_and_wake_in_order(void)
{
    int log[16], nlog = 0;
    struct sleeper a = {1, log, &nlog, NULL}, b = {2, log, &nlog, NULL};

    CHECK(!fiber_switch(fiber_new(sleep_twice, &a)));
    CHECK(!fiber_switch(fiber_new(sleep_twice, &b)));
    CHECK(fiber_self() == NULL);
    /* Woken b first: it must run first. */
    fiber_wake(b.self);
    fiber_wake(a.self);
    fiber_run_woken();
    fiber_run_woken(); /* nothing woken: nothing runs */
    fiber_wake(a.self);
    fiber_wake(b.self);
    fiber_run_woken();
    CHECK_EQ_I64(nlog, 6);
    CHECK_EQ_I64(log[0], 1);
    CHECK_EQ_I64(log[1], 2);
    CHECK_EQ_I64(log[2], 12);
    CHECK_EQ_I64(log[3], 11);
    CHECK_EQ_I64(log[4], 21);
    CHECK_EQ_I64(log[5], 22);
}

/* --- waits through a watcher ------------------------------------------- */

static struct {
    int fd;
    bool want_write;
    struct fiber *f;
    int forgotten;
    bool refuse;
} seen;

static int fake_watch(int fd, bool want_write, struct fiber *f)
{
    if (seen.refuse)
        return -1;
    seen.fd = fd;
    seen.want_write = want_write;
    seen.f = f;
    return 0;
}

static void fake_forget(int fd)
{
    seen.forgotten = fd;
}

static const struct fiber_watcher fake = {fake_watch, fake_forget};

struct reader {
    int fd;
    char got;
    int rc;
};

static void read_one(void *arg)
{
    struct reader *r = arg;

    r->rc = fiber_wait_fd(r->fd, false);
    if (read(r->fd, &r->got, 1) != 1)
        r->rc = -2;
}

static void test_wait_through_watcher(void)
{
    int p[2];
    struct reader r = {0, 0, 99};

    CHECK(pipe(p) == 0);
    r.fd = p[0];
    memset(&seen, 0, sizeof(seen));
    seen.fd = -1;
    fiber_set_watcher(&fake);
    CHECK(!fiber_switch(fiber_new(read_one, &r)));
    CHECK_EQ_I64(seen.fd, p[0]);
    CHECK(!seen.want_write);
    CHECK(seen.f != NULL);
    CHECK_EQ_I64(r.rc, 99); /* still waiting */
    CHECK(write(p[1], "x", 1) == 1);
    fiber_wake(seen.f);
    fiber_run_woken();
    CHECK_EQ_I64(r.rc, 0);
    CHECK_EQ_I64(r.got, 'x');
    fiber_forget_fd(p[0]);
    CHECK_EQ_I64(seen.forgotten, p[0]);

    /* A watcher that cannot watch: the fiber polls and never sleeps. */
    seen.refuse = true;
    r = (struct reader){p[0], 0, 99};
    CHECK(write(p[1], "y", 1) == 1);
    CHECK(fiber_switch(fiber_new(read_one, &r)));
    CHECK_EQ_I64(r.rc, 0);
    CHECK_EQ_I64(r.got, 'y');
    fiber_set_watcher(NULL);

    /* Outside a fiber: a plain poll. */
    CHECK(write(p[1], "z", 1) == 1);
    r = (struct reader){p[0], 0, 99};
    read_one(&r);
    CHECK_EQ_I64(r.rc, 0);
    CHECK_EQ_I64(r.got, 'z');
    close(p[0]);
    close(p[1]);
}

/* --- the stack --------------------------------------------------------- */

static int deep(int n)
{
    volatile char frame[1024];

    frame[0] = (char)n;
    frame[sizeof(frame) - 1] = (char)n;
    return n == 0 ? frame[0] : deep(n - 1) + (frame[sizeof(frame) - 1] == (char)n);
}

static void use_stack(void *arg)
{
    *(int *)arg = deep(64); /* 64 KiB and more of frames */
}

static void test_stack_depth_and_reuse(void)
{
    for (int i = 0; i < 200; i++) {
        int n = -1;

        CHECK(fiber_switch(fiber_new(use_stack, &n)));
        CHECK_EQ_I64(n, 64);
    }
    fiber_thread_end();
    fiber_thread_end(); /* twice is fine */
}

int main(void)
{
    test_runs_to_the_end();
    test_sleep_and_wake_in_order();
    test_wait_through_watcher();
    test_stack_depth_and_reuse();
    fiber_thread_end();
    return check_report();
}
