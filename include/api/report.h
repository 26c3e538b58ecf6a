/*
 * report.h - what every report (GET /v1/reports/...) shares: its filters
 * from the query string, and its answer as JSON or, for a client that asks
 * for it with `Accept: text/csv`, as CSV.
 *
 * Filters (all optional): store_id (the members' enrolment store),
 * tier (the members' current tier code), from and to (local dates,
 * YYYY-MM-DD, inclusive, from <= to, at most 3660 days).  Each report says
 * what its period covers; unknown or repeated query parameters are 400.
 */
#ifndef LY_API_REPORT_H
#define LY_API_REPORT_H

#include <jansson.h>

#include "core/err.h"
#include "http/http.h"
#include "store/db.h"

struct report_filter {
    const char *store_id; /* NULL: every store; borrowed from the request */
    const char *tier;     /* NULL: every tier */
    const char *from;     /* NULL or YYYY-MM-DD */
    const char *to;       /* NULL or YYYY-MM-DD */
};

/* Reads the filters; `extra` names further query parameters the report
 * takes (NULL-terminated, may be NULL).  -1 with a 400 in `e`. */
int report_filter_read(const struct req *rq, const char *const *extra, struct report_filter *f,
                       struct err *e);

/*
 * Completes the period on the request's connection `db`: `to` defaults to
 * today in `timezone`, `from` to `to` - 364 days (dates in rq's arena);
 * then checks from <= to and a span of at most 3660 days.  -1 with a 400
 * or a database error.
 */
int report_period(struct req *rq, struct db *db, const char *timezone, struct report_filter *f,
                  struct err *e);

/* The filters as the answer echoes them: {store_id, tier, from, to}, null
 * where absent (a new reference; NULL when out of memory). */
json_t *report_filter_json(const struct report_filter *f);

/*
 * Answers `body` (stolen) with 200: as JSON, or, when the Accept header
 * names text/csv, the array body[items_key] as CSV: RFC 4180, a header
 * row of the first item's keys in their order, one row per item, numbers
 * as JSON writes them, null and absent keys as empty fields, nested
 * values as their compact JSON text.  -1 with ERR_INTERNAL when
 * body[items_key] is not an array of objects.
 */
int report_reply(const struct req *rq, struct resp *rs, json_t *body, const char *items_key,
                 struct err *e);

#endif
