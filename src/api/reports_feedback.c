/*
 * reports_feedback.c - GET /v1/reports/kpis and GET /v1/reports/complaints
 * (admin): the loyalty measures of a period and the complaint recovery
 * figures, as JSON or, with `Accept: text/csv`, the `items` as CSV
 * (api/report.h).
 *
 * Period: `from`/`to` as given; `to` defaults to today and `from` to
 * `to` - 364 days (program time zone), and `filters` echoes the dates used.
 * Ratios are exact integer arithmetic rounded half away from zero and only
 * then written as JSON numbers: rates 0..1 with 4 places, the mean
 * satisfaction with 2, the NPS with 1; a ratio over nothing is null.
 *
 * Must not contain SQL or choose HTTP statuses.
 */
#include "store/reports_feedback.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/report.h"
#include "api/rules_cache.h"
#include "api/validate.h"
#include "core/civil.h"
#include "store/jobs.h"

/* --------------------------------------------------------------- scope -- */

/* The filters and the period actually used (dates in rq's arena). */
static int read_scope(struct req *rq, struct db *db, const struct rules_snapshot *snap,
                      struct report_filter *f, struct feedback_scope *s, struct err *e)
{
    if (report_period(rq, db, snap->rules.timezone, f, e) < 0)
        return -1;
    *s = (struct feedback_scope){f->store_id, f->tier, f->from, f->to, snap->rules.timezone};
    return 0;
}

/* ------------------------------------------------------------ numbers -- */

/* num / den rounded half away from zero to `places` decimals (0..4), as a
 * JSON number; null when den is 0 or the scaled numerator would overflow. */
static json_t *ratio_json(int64_t num, int64_t den, int places)
{
    int64_t scale = 1, scaled, q, r;
    bool neg = num < 0;

    for (int i = 0; i < places; i++)
        scale *= 10;
    if (den <= 0 || __builtin_mul_overflow(neg ? -num : num, scale, &scaled))
        return json_null();
    q = scaled / den;
    r = scaled % den;
    if (r >= den - r)
        q++;
    return json_real((double)(neg ? -q : q) / (double)scale);
}

/* A decimal text from the database as a JSON number; NULL text is null. */
static json_t *decimal_json(const char *s)
{
    return s != NULL ? json_real(strtod(s, NULL)) : json_null();
}

/* ---------------------------------------------------------------- kpis -- */

static const char *band_of(int64_t repeat, int64_t buyers)
{
    if (buyers == 0)
        return NULL;
    /* Exact comparisons: repeat/buyers > 70% and < 30%. */
    if (repeat * 100 > buyers * 70)
        return "strong";
    if (repeat * 100 < buyers * 30)
        return "warning";
    return "normal";
}

/* floor(points x unit / points_per_unit) without an intermediate overflow;
 * -1 when the result itself does not fit. */
static int64_t liability_of(int64_t points, int64_t unit, int64_t per_unit)
{
    int64_t whole, part;

    if (per_unit <= 0 || __builtin_mul_overflow(points / per_unit, unit, &whole) ||
        __builtin_mul_overflow(points % per_unit, unit, &part) ||
        __builtin_add_overflow(whole, part / per_unit, &whole))
        return -1;
    return whole;
}

static json_t *kpis_json(const struct kpi_counts *k, const struct kpi_month *months, int n,
                         int64_t liability, json_t *filters)
{
    int64_t issued = 0, redeemed = 0, expired = 0;
    json_t *items = json_array();
    json_t *dist = json_object();
    const char *band = band_of(k->repeat_buyers, k->buyers);
    char key[2] = "1";

    for (int i = 0; i < 5 && dist != NULL; i++) {
        key[0] = (char)('1' + i);
        if (json_object_set_new(dist, key, json_integer(k->satisfaction[i])) < 0) {
            json_decref(dist);
            dist = NULL;
        }
    }
    for (int i = 0; i < n; i++) {
        if (__builtin_add_overflow(issued, months[i].issued, &issued) ||
            __builtin_add_overflow(redeemed, months[i].redeemed, &redeemed) ||
            __builtin_add_overflow(expired, months[i].expired, &expired)) {
            json_decref(items);
            items = NULL;
        }
        items = page_items_add(items, json_pack("{s:s, s:I, s:I, s:I}", "month", months[i].month,
                                                "issued", (json_int_t)months[i].issued, "redeemed",
                                                (json_int_t)months[i].redeemed, "expired",
                                                (json_int_t)months[i].expired));
    }
    if (items == NULL || dist == NULL) {
        json_decref(items);
        json_decref(dist);
        json_decref(filters);
        return NULL;
    }
    return json_pack(
        "{s:o,"
        " s:{s:I, s:I, s:o, s:s?},"
        " s:{s:I, s:o, s:o},"
        " s:{s:I, s:I, s:I, s:I, s:o},"
        " s:{s:I, s:I, s:o},"
        " s:{s:I, s:I, s:I, s:I, s:I},"
        " s:o}",
        "filters", filters, "repeat_purchase", "buyers", (json_int_t)k->buyers, "repeat_buyers",
        (json_int_t)k->repeat_buyers, "rate", ratio_json(k->repeat_buyers, k->buyers, 4), "band",
        band, "satisfaction", "responses", (json_int_t)k->responses, "mean",
        ratio_json(k->satisfaction_sum, k->responses, 2), "distribution", dist, "nps", "responses",
        (json_int_t)k->responses, "promoters", (json_int_t)k->promoters, "passives",
        (json_int_t)k->passives, "detractors", (json_int_t)k->detractors, "score",
        ratio_json((k->promoters - k->detractors) * 100, k->responses, 1), "referrals", "referred",
        (json_int_t)k->referred, "converted", (json_int_t)k->converted, "conversion_rate",
        ratio_json(k->converted, k->referred, 4), "points", "issued", (json_int_t)issued,
        "redeemed", (json_int_t)redeemed, "expired", (json_int_t)expired, "outstanding",
        (json_int_t)k->outstanding, "liability", (json_int_t)liability, "items", items);
}

/* GET /v1/reports/kpis?store_id=&tier=&from=&to= */
int api_reports_kpis(struct req *rq, struct resp *rs, struct err *e)
{
    const struct rules_snapshot *snap = rules_cache_hold(&rq->arena);
    struct report_filter f;
    struct feedback_scope s;
    struct kpi_counts k;
    struct kpi_month *months;
    struct db *db;
    int64_t liability;
    int n;

    if (report_filter_read(rq, NULL, &f, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL || read_scope(rq, db, snap, &f, &s, e) < 0 ||
        store_kpi_counts(db, &s, &k, e) < 0 ||
        store_kpi_months(db, &s, &rq->arena, &months, &n, e) < 0)
        return -1;
    liability =
        liability_of(k.outstanding, snap->rules.earn_unit, snap->rules.redemption_points_per_unit);
    if (liability < 0)
        return err_internal(e, ERR_INTERNAL, "kpis: liability of %" PRId64 " points overflows",
                            k.outstanding);
    return report_reply(rq, rs, kpis_json(&k, months, n, liability, report_filter_json(&f)),
                        "items", e);
}

/* ---------------------------------------------------------- complaints -- */

static json_t *stats_json(const struct complaint_stats *r)
{
    return json_pack("{s:I, s:I, s:o, s:I}", "open", (json_int_t)r->open, "resolved",
                     (json_int_t)r->resolved, "median_resolution_hours",
                     decimal_json(r->median_hours), "compensation_points",
                     (json_int_t)r->compensation_points);
}

/* GET /v1/reports/complaints?store_id=&tier=&from=&to= */
int api_reports_complaints(struct req *rq, struct resp *rs, struct err *e)
{
    const struct rules_snapshot *snap = rules_cache_hold(&rq->arena);
    struct report_filter f;
    struct feedback_scope s;
    struct complaint_stats *rows;
    struct db *db;
    json_t *items, *body, *total;
    int n;

    if (report_filter_read(rq, NULL, &f, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL || read_scope(rq, db, snap, &f, &s, e) < 0 ||
        store_complaint_stats(db, &s, &rq->arena, &rows, &n, e) < 0)
        return -1;
    items = json_array();
    for (int i = 1; i < n; i++) {
        json_t *item = json_pack("{s:s}", "category", rows[i].category);
        json_t *st = stats_json(&rows[i]);

        if (item != NULL && (st == NULL || json_object_update(item, st) < 0)) {
            json_decref(item);
            item = NULL;
        }
        json_decref(st);
        items = page_items_add(items, item);
    }
    total = stats_json(&rows[0]);
    body = json_pack("{s:o}", "filters", report_filter_json(&f));
    if (body != NULL && (total == NULL || json_object_update(body, total) < 0 || items == NULL ||
                         json_object_set(body, "items", items) < 0)) {
        json_decref(body);
        body = NULL;
    }
    json_decref(total);
    json_decref(items);
    return report_reply(rq, rs, body, "items", e);
}
