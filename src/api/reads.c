/*
 * reads.c - one pipelined reader per HTTP worker (api/reads.h): the glue
 * between store/reader.c, which knows libpq, and the worker's event loop,
 * which knows the sockets.  Must not know any statement.
 */
#include "api/reads.h"

#include <stddef.h>

#include "http/http.h"

static const char *url;
static _Thread_local struct reader *mine;

static void on_ready(void *arg, bool readable, bool writable)
{
    (void)arg;
    if (mine != NULL)
        reader_ready(mine, readable, writable);
}

static void watch(void *arg, int old_fd, int fd, bool want_write)
{
    (void)arg;
    if (old_fd >= 0 && old_fd != fd)
        http_loop_unwatch(old_fd);
    if (fd >= 0)
        http_loop_watch(fd, want_write, on_ready, NULL);
}

void api_reads_init(const char *database_url)
{
    url = database_url;
}

void api_read_submit(struct reader_job *job)
{
    if (mine == NULL)
        mine = reader_new(url, watch, NULL);
    reader_submit(mine, job);
}

void api_reads_turn(void)
{
    if (mine != NULL)
        reader_flush(mine);
}

void api_reads_worker_end(void)
{
    reader_free(mine);
    mine = NULL;
}
