/*
 * log_writer.h - where log text goes: stderr, from a thread of its own
 * while the server runs.
 *
 * Before log_writer_start() and after log_writer_stop() the caller writes
 * its text itself (the CLI commands, the server's start).  In between, a
 * writer thread does, and a caller only copies its text into a bounded
 * buffer: when stderr does not keep up (a pipe nobody reads, a journal
 * that stalls) the text that does not fit is dropped and counted, and a
 * request never waits for the log.
 */
#ifndef LY_CORE_LOG_WRITER_H
#define LY_CORE_LOG_WRITER_H

#include <stddef.h>
#include <stdint.h>

/* Starts the writer thread; the caller's signal mask is the thread's
 * (serve blocks SIGTERM and SIGINT first).  Returns -1 when it cannot,
 * and the callers go on writing themselves. */
int log_writer_start(void);

/* Writes what is buffered and ends the thread, waiting a couple of seconds
 * at most: when stderr never drains, the rest is dropped and the thread
 * is left blocked in write(2), so that the process can still exit. */
void log_writer_stop(void);

/* `n` bytes of whole lines (copied), or dropped and counted when the
 * buffer is full; written at once by the caller when no writer runs. */
void log_writer_write(const char *text, size_t n);

/* Lines dropped since the process started (for /metrics). */
uint64_t log_writer_dropped_total(void);

#endif
