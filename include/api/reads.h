/*
 * reads.h - asynchronous reads for handlers: each HTTP worker has its own
 * pipelined reader (store/reader.h), watched by the worker's event loop
 * and flushed once per turn of it, so the reads of one turn share one
 * round trip and no worker sleeps on the database.
 */
#ifndef LY_API_READS_H
#define LY_API_READS_H

#include "store/reader.h"

/* The database the readers connect to (borrowed for the process's life). */
void api_reads_init(const char *database_url);

/* Sends `job` on the calling worker's reader (see store/reader.h for the
 * job's life); its `done` runs later on this same worker. */
void api_read_submit(struct reader_job *job);

/* The server's per-worker hooks: flush after a turn; close at the end. */
void api_reads_turn(void);
void api_reads_worker_end(void);

#endif
