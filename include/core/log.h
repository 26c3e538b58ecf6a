/*
 * log.h - one JSON object per line on stderr.
 *
 * Lines are handed on whole (core/log_writer.h), so concurrent threads
 * never interleave; while the server runs a thread of its own writes them,
 * and a line logged just before the process aborts may be lost (the
 * assertion message itself is written at once, core/xmalloc.c).  Callers
 * must not log personal data or credentials.
 */
#ifndef LY_CORE_LOG_H
#define LY_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);
void log_set_level(enum log_level lv);
bool log_enabled(enum log_level lv);

/* {"ts":..,"level":..,"msg":msg[,"detail":detail]}; both strings are escaped. */
void log_msg(enum log_level lv, const char *msg, const char *detail);

/*
 * {"ts":..,"level":..,<fields>}: `fields` is already-valid JSON members
 * (for example "\"msg\":\"x\",\"n\":3"), built with log_escape().
 */
void log_fields(enum log_level lv, const char *fields);

/*
 * Batching for a thread that runs an event loop: after log_batch_begin(),
 * its debug and info lines wait in a per-thread buffer, for at most a few
 * tens of milliseconds; warnings and errors flush it and are written at
 * once.  The loop calls log_flush_due() at the end of every turn, waits no
 * longer than log_batch_wait_ms() (-1: nothing kept) for its next one, and
 * calls log_flush() before the thread ends.
 */
void log_batch_begin(void);
void log_flush(void);
void log_flush_due(void);
int log_batch_wait_ms(void);

/*
 * Writes `s` as the inside of a JSON string into dst (always NUL-terminated,
 * truncated to fit).  Returns dst.
 */
char *log_escape(char *dst, size_t n, const char *s);

#endif
