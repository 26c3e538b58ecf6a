/*
 * test_beside.c - core/beside.h outside any fiber: run_beside returns only
 * after the call has run, on another thread; beside_fd turns readable once
 * the call has returned, not before; beside_end collects the thread.
 */
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"
#include "core/beside.h"

struct call {
    pthread_t caller;
    bool ran, other_thread;
    int pipe_rd; /* when >= 0: the call waits for a byte on it */
};

static void body(void *arg)
{
    struct call *c = arg;
    char byte;

    if (c->pipe_rd >= 0 && read(c->pipe_rd, &byte, 1) != 1)
        return;
    c->other_thread = !pthread_equal(pthread_self(), c->caller);
    c->ran = true;
}

static bool readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN) != 0;
}

static void test_run_beside(void)
{
    struct call c = {pthread_self(), false, false, -1};

    CHECK_EQ_I64(run_beside(body, &c), 0);
    CHECK(c.ran);
    CHECK(c.other_thread);
}

static void test_fd_turns_readable_when_done(void)
{
    int p[2];
    struct call c = {pthread_self(), false, false, -1};
    struct beside *b;

    CHECK_EQ_I64(pipe(p), 0);
    c.pipe_rd = p[0];
    b = beside_start(body, &c);
    CHECK(b != NULL);
    if (b == NULL)
        return;
    /* The call waits for the pipe: its eventfd must stay quiet. */
    CHECK(!readable(beside_fd(b), 50));
    CHECK_EQ_I64(write(p[1], "x", 1), 1);
    CHECK(readable(beside_fd(b), 5000));
    beside_end(b);
    CHECK(c.ran);
    CHECK(c.other_thread);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    test_run_beside();
    test_fd_turns_readable_when_done();
    return check_report();
}
