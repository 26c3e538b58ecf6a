/*
 * log_writer.c - where log text goes (core/log_writer.h).
 *
 * Callers append whole lines to `pending` under the lock; the writer swaps
 * it with its own buffer and writes that outside the lock, so a caller
 * holds the lock for a memcpy, never for a write(2).  The workers already
 * send their access lines in batches (core/log.c), so the lock and the
 * writer's wakeups come a few dozen times a second.
 *
 * When the text does not fit, it is dropped and its lines are counted; the
 * writer reports the count as a warning once it has written what it had.
 * Each buffer is BUFFER_BYTES: about a quarter of a second of access lines
 * at 20,000 requests a second, and minutes at ordinary rates.
 *
 * Must not: write under the lock; let a caller wait on stderr; make the
 * process's exit wait on stderr for more than STOP_WAIT_MS.
 */
#include "core/log_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/deadline.h"
#include "core/log.h"
#include "core/xmalloc.h"

#define BUFFER_BYTES (1024u * 1024u)
#define STOP_WAIT_MS 2000

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* to the writer: text pending, or stop */
    pthread_cond_t idle; /* from the writer: it has ended (deadline_cond_init, once) */
    char *pending;       /* appended by callers */
    size_t len;
    char *spare;            /* the writer's while it writes */
    uint64_t dropped_lines; /* not yet reported */
    uint64_t dropped_total; /* since the start, for /metrics */
    bool running;           /* the thread takes the text */
    bool stopping;          /* the thread ends once nothing is pending */
    bool ended;             /* the thread has ended */
    bool abandoned;         /* stop gave up waiting: text is dropped from now on */
    pthread_t thread;
} writer = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};
static pthread_once_t idle_once = PTHREAD_ONCE_INIT;

static void idle_init(void)
{
    deadline_cond_init(&writer.idle);
}

/* write(2) until all of it is out or stderr fails for good. */
static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t done = write(STDERR_FILENO, p, n);

        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0)
            return; /* nowhere left to report a failing stderr */
        p += done;
        n -= (size_t)done;
    }
}

static uint64_t count_lines(const char *p, size_t n)
{
    uint64_t lines = 0;

    for (const char *end = p + n; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        lines++;
    return lines;
}

static void *writer_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&writer.lock);
    for (;;) {
        char *text;
        size_t n;
        uint64_t dropped;

        while (writer.len == 0 && writer.dropped_lines == 0 && !writer.stopping)
            pthread_cond_wait(&writer.wake, &writer.lock);
        if (writer.len == 0 && writer.dropped_lines == 0)
            break; /* stopping, and everything is out */
        text = writer.pending;
        n = writer.len;
        writer.pending = writer.spare;
        writer.len = 0;
        writer.spare = text;
        dropped = writer.dropped_lines;
        writer.dropped_lines = 0;
        pthread_mutex_unlock(&writer.lock);

        write_all(text, n);
        if (dropped > 0) {
            char detail[96];

            /* Goes into `pending` like any line: written on the next round. */
            snprintf(detail, sizeof(detail), "%" PRIu64 " lines: stderr did not keep up", dropped);
            log_msg(LOG_WARN, "log lines dropped", detail);
        }
        pthread_mutex_lock(&writer.lock);
    }
    writer.ended = true;
    pthread_cond_broadcast(&writer.idle);
    pthread_mutex_unlock(&writer.lock);
    return NULL;
}

int log_writer_start(void)
{
    int rc;

    pthread_once(&idle_once, idle_init);
    pthread_mutex_lock(&writer.lock);
    if (writer.running || writer.abandoned) {
        pthread_mutex_unlock(&writer.lock);
        return 0;
    }
    writer.pending = xmalloc(BUFFER_BYTES);
    writer.spare = xmalloc(BUFFER_BYTES);
    writer.len = 0;
    writer.stopping = false;
    writer.ended = false;
    rc = pthread_create(&writer.thread, NULL, writer_main, NULL);
    if (rc != 0) {
        free(writer.pending);
        free(writer.spare);
        writer.pending = writer.spare = NULL;
    }
    writer.running = rc == 0;
    pthread_mutex_unlock(&writer.lock);
    return rc == 0 ? 0 : -1;
}

void log_writer_stop(void)
{
    struct timespec deadline;
    char *rest;
    size_t n;

    deadline_in(&deadline, STOP_WAIT_MS);
    pthread_mutex_lock(&writer.lock);
    if (!writer.running) {
        pthread_mutex_unlock(&writer.lock);
        return;
    }
    writer.stopping = true;
    pthread_cond_signal(&writer.wake);
    while (!writer.ended)
        if (pthread_cond_timedwait(&writer.idle, &writer.lock, &deadline) != 0)
            break;
    writer.running = false;
    if (!writer.ended) {
        /* Blocked in write(2) on a stderr that never drains: the process
         * exits around it, its buffers stay with it, and later text is
         * dropped rather than block its caller. */
        writer.abandoned = true;
        pthread_mutex_unlock(&writer.lock);
        pthread_detach(writer.thread);
        return;
    }
    /* Text appended after the writer's last look goes out here. */
    rest = writer.pending;
    n = writer.len;
    writer.len = 0;
    pthread_mutex_unlock(&writer.lock);
    pthread_join(writer.thread, NULL);
    write_all(rest, n);
    free(writer.pending);
    free(writer.spare);
    writer.pending = writer.spare = NULL;
}

void log_writer_write(const char *text, size_t n)
{
    pthread_mutex_lock(&writer.lock);
    if (writer.abandoned) {
        pthread_mutex_unlock(&writer.lock);
        return;
    }
    if (!writer.running) {
        pthread_mutex_unlock(&writer.lock);
        write_all(text, n);
        return;
    }
    if (n > BUFFER_BYTES - writer.len) {
        uint64_t lines = count_lines(text, n);

        writer.dropped_lines += lines;
        writer.dropped_total += lines;
    } else {
        memcpy(writer.pending + writer.len, text, n);
        writer.len += n;
    }
    pthread_cond_signal(&writer.wake);
    pthread_mutex_unlock(&writer.lock);
}

uint64_t log_writer_dropped_total(void)
{
    uint64_t n;

    pthread_mutex_lock(&writer.lock);
    n = writer.dropped_total;
    pthread_mutex_unlock(&writer.lock);
    return n;
}
