/*
 * reports_insight.c - GET /v1/reports/segments, /v1/reports/lifecycle and
 * /v1/reports/concentration (admin): the RFM snapshot's groups and the
 * spend deciles, as JSON or CSV (api/report.h).
 *
 * Every report fills in the period the client left out (to = today in the
 * program time zone, from = to - 364 days) and echoes the dates it used.
 * Shares are exact fractions rounded half away from zero to 4 decimals,
 * computed in integers; the JSON number is the only double.
 *
 * Must not contain SQL or write anything.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/report.h"
#include "api/rules_cache.h"
#include "api/validate.h"
#include "core/civil.h"
#include "store/insight.h"
#include "store/jobs.h"

static const char *const segments[] = {"important-value",  "important-develop", "important-keep",
                                       "important-retain", "general-value",     "general-develop",
                                       "general-keep",     "general-retain"};
#define NSEGMENTS (sizeof(segments) / sizeof(segments[0]))

static const char *const stages[] = {"active", "silent", "forgetting", "lost"};
#define NSTAGES (sizeof(stages) / sizeof(stages[0]))

/* ------------------------------------------------------------ helpers -- */

__extension__ typedef __int128 i128;

/* part / whole rounded half away from zero to 4 decimals; 0 when whole is 0. */
static json_t *share_json(int64_t part, int64_t whole)
{
    i128 q, w, r;
    bool negative;

    if (whole == 0)
        return json_real(0.0);
    q = (i128)part * 10000;
    w = whole;
    negative = (q < 0) != (w < 0);
    if (q < 0)
        q = -q;
    if (w < 0)
        w = -w;
    r = (2 * q + w) / (2 * w);
    return json_real((double)(negative ? -r : r) / 10000.0);
}

/*
 * Reads the filters and fills in the period: to = today, from = to - 364
 * days when absent.  -1 with a 400 (a `from` after the `to` used) or a
 * database error.
 */
static int read_period(struct req *rq, const struct rules_snapshot *snap, struct report_filter *f,
                       struct db **db, struct err *e)
{
    if (report_filter_read(rq, NULL, f, e) < 0)
        return -1;
    *db = api_db(rq, e);
    if (*db == NULL)
        return -1;
    return report_period(rq, *db, snap->rules.timezone, f, e);
}

/* Sums the groups of `kind` whose key is `key` (NULL: the "none" group).
 * -1 with ERR_INTERNAL when a sum does not fit. */
static int group_sum(const struct insight_group *g, int n, enum insight_group_kind kind,
                     const char *key, int64_t *members, int64_t *spend, struct err *e)
{
    *members = 0;
    *spend = 0;
    for (int i = 0; i < n; i++) {
        if (g[i].kind != kind)
            continue;
        if ((key == NULL) != (g[i].key == NULL) || (key != NULL && strcmp(key, g[i].key) != 0))
            continue;
        if (__builtin_add_overflow(*members, g[i].members, members) ||
            __builtin_add_overflow(*spend, g[i].spend, spend))
            return err_internal(e, ERR_INTERNAL, "report sums overflow");
    }
    return 0;
}

/* members[i] and spend[i] for each of the `nkeys` keys and, at [nkeys], the
 * "none" group; *total and *total_spend over all of them. */
static int sum_by_key(const struct insight_group *g, int n, enum insight_group_kind kind,
                      const char *const *keys, size_t nkeys, int64_t *members, int64_t *spend,
                      int64_t *total, int64_t *total_spend, struct err *e)
{
    *total = 0;
    *total_spend = 0;
    for (size_t i = 0; i <= nkeys; i++)
        if (group_sum(g, n, kind, i < nkeys ? keys[i] : NULL, &members[i], &spend[i], e) < 0 ||
            __builtin_add_overflow(*total, members[i], total) ||
            __builtin_add_overflow(*total_spend, spend[i], total_spend))
            return err_internal(e, ERR_INTERNAL, "report sums overflow");
    return 0;
}

/* The snapshot (newest in the period) and its groups for the filters. */
static int read_groups(struct req *rq, const struct report_filter *f, struct db *db, char date[11],
                       bool *found, struct insight_group **g, int *n, struct err *e)
{
    int rc = store_insight_snapshot_in(db, f->from, f->to, date, e);

    *n = 0;
    *g = NULL;
    if (rc < 0)
        return -1;
    *found = rc == 1;
    if (!*found)
        return 0;
    return store_insight_groups(db, date, f->store_id, f->tier, &rq->arena, g, n, e);
}

/* ----------------------------------------------------------- segments -- */

/* GET /v1/reports/segments -> {filters, snapshot_date, total_members, items, by_tier} */
int api_reports_segments(struct req *rq, struct resp *rs, struct err *e)
{
    const struct rules_snapshot *snap = rules_cache_hold(&rq->arena);
    int64_t members[NSEGMENTS + 1] = {0}, spend[NSEGMENTS + 1] = {0}, total, total_spend;
    struct report_filter f;
    struct insight_group *g;
    json_t *items, *by_tier;
    struct db *db;
    char date[11];
    bool found;
    int n;

    if (read_period(rq, snap, &f, &db, e) < 0 ||
        read_groups(rq, &f, db, date, &found, &g, &n, e) < 0 ||
        sum_by_key(g, n, INSIGHT_BY_SEGMENT, segments, NSEGMENTS, members, spend, &total,
                   &total_spend, e) < 0)
        return -1;
    items = json_array();
    for (size_t i = 0; i <= NSEGMENTS; i++)
        json_array_append_new(items, json_pack("{s:s, s:I, s:o, s:I, s:o}", "segment",
                                               i < NSEGMENTS ? segments[i] : "none", "members",
                                               (json_int_t)members[i], "share",
                                               share_json(members[i], total), "spend",
                                               (json_int_t)spend[i], "spend_share",
                                               share_json(spend[i], total_spend)));
    by_tier = json_array();
    for (int t = 0; t < snap->rules.ntiers; t++) {
        int64_t m, s;

        if (group_sum(g, n, INSIGHT_BY_TIER, snap->rules.tiers[t].code, &m, &s, e) < 0) {
            json_decref(items);
            json_decref(by_tier);
            return -1;
        }
        json_array_append_new(by_tier, json_pack("{s:s, s:I}", "tier", snap->rules.tiers[t].code,
                                                 "members", (json_int_t)m));
    }
    return report_reply(rq, rs,
                        json_pack("{s:o, s:s?, s:I, s:o, s:o}", "filters", report_filter_json(&f),
                                  "snapshot_date", found ? date : NULL, "total_members",
                                  (json_int_t)total, "items", items, "by_tier", by_tier),
                        "items", e);
}

/* ---------------------------------------------------------- lifecycle -- */

/* GET /v1/reports/lifecycle -> {filters, snapshot_date, total_members, items} */
int api_reports_lifecycle(struct req *rq, struct resp *rs, struct err *e)
{
    const struct rules_snapshot *snap = rules_cache_hold(&rq->arena);
    int64_t members[NSTAGES + 1] = {0}, spend[NSTAGES + 1] = {0}, total, total_spend;
    struct report_filter f;
    struct insight_group *g;
    struct db *db;
    json_t *items;
    char date[11];
    bool found;
    int n;

    if (read_period(rq, snap, &f, &db, e) < 0 ||
        read_groups(rq, &f, db, date, &found, &g, &n, e) < 0 ||
        sum_by_key(g, n, INSIGHT_BY_STAGE, stages, NSTAGES, members, spend, &total, &total_spend,
                   e) < 0)
        return -1;
    items = json_array();
    for (size_t i = 0; i <= NSTAGES; i++)
        json_array_append_new(items, json_pack("{s:s, s:I, s:o}", "stage",
                                               i < NSTAGES ? stages[i] : "none", "members",
                                               (json_int_t)members[i], "share",
                                               share_json(members[i], total)));
    return report_reply(rq, rs,
                        json_pack("{s:o, s:s?, s:I, s:o}", "filters", report_filter_json(&f),
                                  "snapshot_date", found ? date : NULL, "total_members",
                                  (json_int_t)total, "items", items),
                        "items", e);
}

/* ------------------------------------------------------ concentration -- */

/* GET /v1/reports/concentration -> {filters, total_members, total_spend, total_margin, items} */
int api_reports_concentration(struct req *rq, struct resp *rs, struct err *e)
{
    const struct rules_snapshot *snap = rules_cache_hold(&rq->arena);
    int64_t total = 0, total_spend = 0, total_margin = 0, cumulative = 0;
    struct insight_decile d[10];
    struct report_filter f;
    struct insight_period p;
    struct db *db;
    json_t *items;

    if (read_period(rq, snap, &f, &db, e) < 0)
        return -1;
    p = (struct insight_period){f.from,
                                f.to,
                                snap->rules.timezone,
                                f.store_id,
                                f.tier,
                                snap->rules.earn_unit,
                                snap->rules.redemption_points_per_unit};
    if (store_insight_deciles(db, &p, d, e) < 0)
        return -1;
    for (int i = 0; i < 10; i++) {
        if (__builtin_add_overflow(total, d[i].members, &total) ||
            __builtin_add_overflow(total_spend, d[i].spend, &total_spend) ||
            __builtin_add_overflow(total_margin, d[i].margin, &total_margin))
            return err_internal(e, ERR_INTERNAL, "concentration totals overflow");
    }
    items = json_array();
    for (int i = 0; i < 10; i++) {
        cumulative += d[i].spend;
        json_array_append_new(
            items,
            json_pack("{s:i, s:I, s:I, s:o, s:o, s:I, s:o}", "decile", d[i].decile, "members",
                      (json_int_t)d[i].members, "spend", (json_int_t)d[i].spend, "spend_share",
                      share_json(d[i].spend, total_spend), "cumulative_spend_share",
                      share_json(cumulative, total_spend), "margin", (json_int_t)d[i].margin,
                      "margin_share", share_json(d[i].margin, total_margin)));
    }
    return report_reply(rq, rs,
                        json_pack("{s:o, s:I, s:I, s:I, s:o}", "filters", report_filter_json(&f),
                                  "total_members", (json_int_t)total, "total_spend",
                                  (json_int_t)total_spend, "total_margin", (json_int_t)total_margin,
                                  "items", items),
                        "items", e);
}
