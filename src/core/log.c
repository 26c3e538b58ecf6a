/*
 * log.c - structured log lines on stderr.
 *
 * The level is a process-wide setting written once at start; reading it is a
 * relaxed atomic load so logging never takes a lock.
 *
 * A thread that batches (an HTTP worker: log_batch_begin) keeps its debug
 * and info lines, the access log, for up to BATCH_WAIT_MS and hands them
 * over together at the end of the loop's turn when they are due
 * (log_flush_due); a warning or an error flushes what is kept and goes out
 * at once.  Lines and batches go to core/log_writer.c whole, so lines never
 * interleave: while the server runs its thread does the write(2).
 */
#include "core/log.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log_writer.h"

static atomic_int log_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* How long a batched line may wait.  A busy worker answers a request or
 * two per turn, so a write(2) per turn was most of a system call per
 * purchase (0.64; 0.04 then), and system calls are dear on virtual
 * machines; the writer thread's lock and wakeup are as dear, once a batch.
 * 50 ms is still "at once" to anyone tailing the log. */
#define BATCH_WAIT_MS 50

static _Thread_local struct {
    bool on;
    size_t len;
    int64_t due_ms; /* when the oldest line kept must go out */
    char data[PIPE_BUF];
} batch;

/* A coarse monotonic clock (a few ms of resolution, no system call). */
static int64_t mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The line's time to the second ("2026-11-23T21:36:58"), made once a
 * second per thread: gmtime_r and strftime cost about 1,300 instructions a
 * line (callgrind) to make the same text for every line of that second. */
static void second_text(time_t sec, char dst[static 24])
{
    static _Thread_local time_t last = (time_t)-1;
    static _Thread_local char text[24];

    if (sec != last) {
        struct tm tm;

        gmtime_r(&sec, &tm);
        strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
        last = sec;
    }
    memcpy(dst, text, sizeof(text));
}

void log_batch_begin(void)
{
    batch.on = true;
}

void log_flush(void)
{
    if (batch.len > 0)
        log_writer_write(batch.data, batch.len);
    batch.len = 0;
}

int log_batch_wait_ms(void)
{
    int64_t left;

    if (batch.len == 0)
        return -1;
    left = batch.due_ms - mono_ms();
    return left < 0 ? 0 : (int)left;
}

void log_flush_due(void)
{
    if (batch.len > 0 && mono_ms() >= batch.due_ms)
        log_flush();
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (0 == strcmp(s, level_names[i])) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_set_level(enum log_level lv)
{
    atomic_store_explicit(&log_level, (int)lv, memory_order_relaxed);
}

bool log_enabled(enum log_level lv)
{
    return (int)lv >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

char *log_escape(char *dst, size_t n, const char *s)
{
    size_t o = 0;

    if (n == 0)
        return dst;
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        char tmp[8];
        size_t len;

        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            len = 2;
        } else if (c < 0x20) {
            len = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", c);
        } else {
            tmp[0] = (char)c;
            len = 1;
        }
        if (o + len >= n)
            break;
        memcpy(dst + o, tmp, len);
        o += len;
    }
    dst[o] = '\0';
    return dst;
}

void log_fields(enum log_level lv, const char *fields)
{
    char line[4096];
    char ts[24];
    struct timespec now;
    int len;

    if (!log_enabled(lv))
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    second_text(now.tv_sec, ts);
    len = snprintf(line, sizeof(line), "{\"ts\":\"%s.%06ldZ\",\"level\":\"%s\",%s}\n", ts,
                   now.tv_nsec / 1000, level_names[lv], fields);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof(line)) {
        /* Keep the line valid JSON even when cut. */
        len = snprintf(line, sizeof(line),
                       "{\"ts\":\"%s.%06ldZ\",\"level\":\"%s\",\"msg\":\"log line too long\"}\n",
                       ts, now.tv_nsec / 1000, level_names[lv]);
    }
    if (batch.on && lv <= LOG_INFO) {
        if (batch.len + (size_t)len > sizeof(batch.data))
            log_flush();
        if (batch.len == 0)
            batch.due_ms = mono_ms() + BATCH_WAIT_MS;
        memcpy(batch.data + batch.len, line, (size_t)len);
        batch.len += (size_t)len;
        return;
    }
    log_flush();
    log_writer_write(line, (size_t)len);
}

void log_msg(enum log_level lv, const char *msg, const char *detail)
{
    char m[512], d[1024], fields[1700];

    if (!log_enabled(lv))
        return;
    log_escape(m, sizeof(m), msg);
    if (detail != NULL) {
        log_escape(d, sizeof(d), detail);
        snprintf(fields, sizeof(fields), "\"msg\":\"%s\",\"detail\":\"%s\"", m, d);
    } else {
        snprintf(fields, sizeof(fields), "\"msg\":\"%s\"", m);
    }
    log_fields(lv, fields);
}
