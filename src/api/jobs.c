/*
 * jobs.c - POST /v1/jobs/daily (admin): runs the daily job for a date and
 * answers what this run did.
 *
 * Checks, in order: body (400: `date` required, a real YYYY-MM-DD), then
 * the date against today in the program time zone (400 when after it).
 * The route is ROUTE_TX for its Idempotency-Key, but the job does not run
 * in the request's transaction: it commits batch by batch on a connection
 * of its own (api/daily_job.h), so a replay of the key answers the first
 * response, and a run that the request's commit then loses is harmless
 * (a second run of a date finds nothing left to do).
 *
 * A run takes seconds to minutes, so it runs on a thread of its own while
 * the request's fiber sleeps on an eventfd that the thread signals when it
 * is done: the worker (the only one, on a small machine) goes on serving
 * every other request meanwhile.
 *
 * Must not contain SQL or choose HTTP statuses.
 */
#include "store/jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "api/app.h"
#include "api/daily_job.h"
#include "api/handlers.h"
#include "api/rules_cache.h"
#include "api/validate.h"
#include "core/fiber.h"

/* A run handed to a thread of its own.  Lives in the request's arena: the
 * fiber does not return before the thread has ended. */
struct offload {
    const struct rules_snapshot *snap; /* borrowed: held by the request */
    const char *date;
    int efd; /* eventfd, written once by the thread when the run is over */
    int rc;
    struct daily_job_counts c;
    struct err e;
};

static void *offload_main(void *arg)
{
    struct offload *o = arg;
    uint64_t one = 1;

    o->rc = daily_job_run(o->snap, o->date, &o->c, &o->e);
    /* Cannot fail: the counter is far from its maximum. */
    while (write(o->efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* Runs the job on a thread of its own and sleeps until it is over. */
static int run_beside(const struct rules_snapshot *snap, const char *date,
                      struct daily_job_counts *out, struct err *e)
{
    struct offload o = {.snap = snap, .date = date};
    pthread_t t;
    uint64_t n;

    err_clear(&o.e);
    o.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (o.efd < 0)
        return err_internal(e, ERR_UNAVAILABLE, "cannot make an eventfd: %s", strerror(errno));
    if (pthread_create(&t, NULL, offload_main, &o) != 0) {
        close(o.efd);
        return err_internal(e, ERR_UNAVAILABLE, "cannot start the daily job's thread");
    }
    /* A failed wait (poll(2) itself failing) must still not let `o` go
     * while the thread runs: pthread_join below waits in any case. */
    while (read(o.efd, &n, sizeof(n)) < 0 && fiber_wait_fd(o.efd, false) == 0)
        ;
    pthread_join(t, NULL);
    fiber_forget_fd(o.efd);
    close(o.efd);
    if (o.rc < 0) {
        *e = o.e;
        return -1;
    }
    *out = o.c;
    return 0;
}

/* POST /v1/jobs/daily {date} -> 200 {date, birthday_gifts, released, expired_points,
 * downgrades}. */
int api_jobs_daily(struct req *rq, struct resp *rs, struct err *e)
{
    static const char *const allowed[] = {"date", NULL};
    const struct rules_snapshot *snap;
    struct daily_job_counts c;
    const char *date = NULL;
    char today[11];
    struct db *db;
    json_t *o = body_object(rq, false, e), *body;
    int rc;

    if (o == NULL)
        return -1;
    body_no_unknown(o, allowed, e);
    rc = body_string(o, "date", 1, 64, false, &date, NULL, e);
    if (rc == 0)
        body_missing("date", e);
    else if (rc == 1 && !is_valid_date(date, NULL, NULL, NULL))
        err_field(e, "date", "must be a date YYYY-MM-DD");
    if (err_is_set(e))
        return -1;

    snap = rules_cache_hold(&rq->arena);
    db = api_db(rq, e);
    if (db == NULL || store_daily_today(db, snap->rules.timezone, today, e) < 0)
        return -1;
    if (strcmp(date, today) > 0)
        return err_field(e, "date", "must not be after today (%s in %s)", today,
                         snap->rules.timezone);
    if (run_beside(snap, date, &c, e) < 0)
        return -1;
    body = json_pack("{s:s, s:I, s:I, s:I, s:I}", "date", date, "birthday_gifts",
                     (json_int_t)c.birthday_gifts, "released", (json_int_t)c.released,
                     "expired_points", (json_int_t)c.expired_points, "downgrades",
                     (json_int_t)c.downgrades);
    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering a daily job");
    resp_json(rs, 200, body);
    return 0;
}
