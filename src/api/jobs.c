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
 * the request's fiber sleeps (core/beside.h): the worker (the only one, on
 * a small machine) goes on serving every other request meanwhile.
 *
 * Must not contain SQL or choose HTTP statuses.
 */
#include "store/jobs.h"

#include <string.h>

#include "api/app.h"
#include "api/daily_job.h"
#include "api/handlers.h"
#include "api/rules_cache.h"
#include "api/validate.h"
#include "core/beside.h"

/* One run of the job, handed to a thread of its own (core/beside.h). */
struct run {
    const struct rules_snapshot *snap; /* borrowed: held by the request */
    const char *date;
    int rc;
    struct daily_job_counts c;
    struct err e;
};

static void run_job(void *arg)
{
    struct run *r = arg;

    r->rc = daily_job_run(r->snap, r->date, &r->c, &r->e);
}

/* POST /v1/jobs/daily {date} -> 200 {date, birthday_gifts, released, expired_points,
 * downgrades}. */
int api_jobs_daily(struct req *rq, struct resp *rs, struct err *e)
{
    static const char *const allowed[] = {"date", NULL};
    const struct rules_snapshot *snap;
    struct run r;
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
    r = (struct run){.snap = snap, .date = date};
    err_clear(&r.e);
    if (run_beside(run_job, &r) < 0)
        return err_internal(e, ERR_UNAVAILABLE, "cannot start the daily job's thread");
    if (r.rc < 0) {
        *e = r.e;
        return -1;
    }
    body = json_pack("{s:s, s:I, s:I, s:I, s:I}", "date", date, "birthday_gifts",
                     (json_int_t)r.c.birthday_gifts, "released", (json_int_t)r.c.released,
                     "expired_points", (json_int_t)r.c.expired_points, "downgrades",
                     (json_int_t)r.c.downgrades);
    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering a daily job");
    resp_json(rs, 200, body);
    return 0;
}
