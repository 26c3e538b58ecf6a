/*
 * report.c - report filters, their period, and the JSON-or-CSV answer
 * (api/report.h).  Must not know any report's content.
 */
#include "api/report.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/validate.h"
#include "core/buf.h"
#include "core/civil.h"
#include "core/json_mem.h"
#include "store/jobs.h"

#define MAX_EXTRA           8
#define REPORT_MAX_DAYS     3660
#define REPORT_DEFAULT_DAYS 365

static bool is_code(const char *s, size_t max)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");

    return s[n] == '\0' && n >= 1 && n <= max;
}

static bool is_date(const char *s)
{
    int y, m, d;

    return civil_parse_date(s, &y, &m, &d) == 0;
}

/* Days from 1970-01-01; `s` is a valid date. */
static int64_t day_number(const char *s)
{
    int y, m, d;

    civil_parse_date(s, &y, &m, &d);
    return days_from_civil(y, m, d);
}

int report_filter_read(const struct req *rq, const char *const *extra, struct report_filter *f,
                       struct err *e)
{
    const char *allowed[4 + MAX_EXTRA + 1] = {"store_id", "tier", "from", "to"};
    int n = 4;

    for (int i = 0; extra != NULL && extra[i] != NULL && i < MAX_EXTRA; i++)
        allowed[n++] = extra[i];
    allowed[n] = NULL;
    memset(f, 0, sizeof(*f));
    if (query_no_unknown(rq, allowed, e) < 0)
        return -1;
    f->store_id = req_query(rq, "store_id");
    f->tier = req_query(rq, "tier");
    f->from = req_query(rq, "from");
    f->to = req_query(rq, "to");
    if (f->store_id != NULL && !is_code(f->store_id, 64))
        query_error(e, "store_id", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    if (f->tier != NULL && !is_code(f->tier, 32))
        query_error(e, "tier", "must be a tier code");
    if (f->from != NULL && !is_date(f->from))
        query_error(e, "from", "must be a date (YYYY-MM-DD)");
    if (f->to != NULL && !is_date(f->to))
        query_error(e, "to", "must be a date (YYYY-MM-DD)");
    return err_is_set(e) ? -1 : 0;
}

int report_period(struct req *rq, struct db *db, const char *timezone, struct report_filter *f,
                  struct err *e)
{
    char today[11];
    int64_t y;
    int m, d;

    if (f->to == NULL) {
        if (store_daily_today(db, timezone, today, e) < 0)
            return -1;
        f->to = arena_strdup(&rq->arena, today);
    }
    if (f->from == NULL) {
        civil_from_days(day_number(f->to) - (REPORT_DEFAULT_DAYS - 1), &y, &m, &d);
        if (y < 1)
            return query_error(e, "to", "is too early for the default period");
        f->from = arena_printf(&rq->arena, "%04lld-%02d-%02d", (long long)y, m, d);
    }
    if (strcmp(f->from, f->to) > 0)
        return query_error(e, "from", "must not be after `to`");
    /* A report's rows (months, days) grow with its period: bound it. */
    if (day_number(f->to) - day_number(f->from) >= REPORT_MAX_DAYS)
        return query_error(e, "from", "the period may span at most 3660 days");
    return 0;
}

static json_t *optional(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *report_filter_json(const struct report_filter *f)
{
    return json_pack("{s:o, s:o, s:o, s:o}", "store_id", optional(f->store_id), "tier",
                     optional(f->tier), "from", optional(f->from), "to", optional(f->to));
}

/* ---------------------------------------------------------------- CSV -- */

/* One field, quoted when it holds a comma, a quote or a line break. */
static void csv_field(struct buf *b, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        buf_puts(b, s);
        return;
    }
    buf_puts(b, "\"");
    for (; *s != '\0'; s++) {
        if (*s == '"')
            buf_puts(b, "\"");
        buf_append(b, s, 1);
    }
    buf_puts(b, "\"");
}

static void csv_value(struct buf *b, json_t *v)
{
    char *text;

    if (v == NULL || json_is_null(v))
        return;
    if (json_is_string(v)) {
        csv_field(b, json_string_value(v));
        return;
    }
    text = json_mem_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (text != NULL)
        csv_field(b, text);
    free(text);
}

static bool wants_csv(const struct req *rq)
{
    const char *accept = req_header(rq, "Accept");

    return accept != NULL && strstr(accept, "text/csv") != NULL;
}

int report_reply(const struct req *rq, struct resp *rs, json_t *body, const char *items_key,
                 struct err *e)
{
    json_t *items = json_object_get(body, items_key), *first, *item;
    const char *key;
    struct buf b;
    size_t i, len;
    char *data;
    json_t *v;

    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering a report");
    if (!wants_csv(rq)) {
        resp_json(rs, 200, body);
        return 0;
    }
    if (!json_is_array(items)) {
        json_decref(body);
        return err_internal(e, ERR_INTERNAL, "report without %s", items_key);
    }
    buf_init(&b);
    first = json_array_get(items, 0);
    json_object_foreach (first, key, v) {
        if (b.len > 0)
            buf_puts(&b, ",");
        csv_field(&b, key);
    }
    if (first != NULL)
        buf_puts(&b, "\r\n");
    json_array_foreach (items, i, item) {
        bool sep = false;

        json_object_foreach (first, key, v) {
            if (sep)
                buf_puts(&b, ",");
            sep = true;
            csv_value(&b, json_object_get(item, key));
        }
        buf_puts(&b, "\r\n");
    }
    json_decref(body);
    data = buf_steal(&b, &len);
    resp_raw(rs, 200, "text/csv; charset=utf-8", data, len);
    return 0;
}
