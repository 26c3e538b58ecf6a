/*
 * balance.c - the balance view (GET /v1/members/{id}/balance and
 * /v1/me/balance) and the ledger pages (GET /v1/members/{id}/ledger and
 * /v1/me/ledger).
 *
 * The balance view is the app's hot read: one prepared statement outside
 * any transaction, sent on the worker's own pipelined reader (api/reads.h)
 * while the request is suspended, so no worker sleeps on the database; the tier
 * ladder comes from the request's rules snapshot, and nothing is computed
 * twice (the SQL sums the spend once; the ladder steps are plain
 * arithmetic here).
 *
 * Reading of the contract's keep_tier (also in openapi.yaml): spend_needed
 * is the current tier's min_spend less the qualifying spend (0 when it is
 * reached); `by` is the date of the first daily downgrade check that would
 * drop the member if it bought nothing more (store/purchases.h says how it
 * is found).  next_tier is always the tier above the current one.
 *
 * Must not contain SQL or write anything.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/ledger_json.h"
#include "api/member_json.h"
#include "api/purchase_json.h"
#include "api/reads.h"
#include "api/rules_cache.h"
#include "api/validate.h"
#include "core/jsonw.h"
#include "store/ledger.h"
#include "store/purchases.h"

static int path_member_id(const struct req *rq, int64_t *id, struct err *e)
{
    if (id_parse(req_param(rq, 0), MEMBER_ID_PREFIX, id) < 0)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    return 0;
}

static int64_t spend_needed(int64_t min_spend, int64_t spend)
{
    return spend >= min_spend ? 0 : min_spend - spend;
}

/* ------------------------------------------------------------ balance -- */

/* A balance read in flight: lives in the request arena. */
struct balance_wait {
    struct req *rq;
    const struct rules *rules; /* the snapshot the request holds */
    struct reader_job job;
    PGresult *res; /* owned until read */
    struct err err;
    bool failed;
};

/* On the worker's loop: hand the result over and wake the request. */
static void balance_ready(void *arg, PGresult *res, const struct err *e)
{
    struct balance_wait *w = arg;

    w->res = res;
    w->failed = e != NULL;
    if (e != NULL)
        w->err = *e;
    req_resume(w->rq);
}

/* Frees a result the request never read (its client went away). */
static void balance_cleanup(void *arg)
{
    struct balance_wait *w = arg;

    if (w->res != NULL)
        PQclear(w->res);
    w->res = NULL;
}

/* On a worker again: the view from the row. */
static int balance_render(struct req *rq, struct resp *rs, struct err *e, void *arg)
{
    struct balance_wait *w = arg;
    const struct rules *r = w->rules;
    int ntiers = r->ntiers < RULES_MAX_TIERS ? r->ntiers : RULES_MAX_TIERS;
    struct balance_row row;
    struct jw out;
    char id[24];
    PGresult *res = w->res;
    int tier;

    w->res = NULL;
    if (w->failed) {
        *e = w->err;
        return -1;
    }
    if (store_balance_view_read(res, &rq->arena, &row, e) < 0)
        return -1;
    /* A tier the rule set no longer knows counts as the lowest, as the
     * rules engine counts it. */
    tier = rules_tier_index(r, row.tier);
    if (tier < 0)
        tier = 0;
    member_id_format(id, sizeof(id), row.member_id);
    /* Written directly (core/jsonw.h), not built and dumped with jansson:
     * this is the busiest read. */
    jw_init(&out);
    jw_object_begin(&out);
    jw_member_string(&out, "member_id", id);
    jw_member_int(&out, "points_balance", row.points_balance);
    jw_member_int(&out, "pending_points", row.pending_points);
    jw_member_string(&out, "tier", row.tier);
    jw_member_int(&out, "qualifying_spend", row.qualifying_spend);
    jw_key(&out, "next_tier");
    if (tier + 1 < ntiers) {
        jw_object_begin(&out);
        jw_member_string(&out, "code", r->tiers[tier + 1].code);
        jw_member_int(&out, "min_spend", r->tiers[tier + 1].min_spend);
        jw_member_int(&out, "spend_needed",
                      spend_needed(r->tiers[tier + 1].min_spend, row.qualifying_spend));
        jw_object_end(&out);
    } else {
        jw_null(&out);
    }
    jw_key(&out, "keep_tier");
    if (tier > 0 && row.keep_by != NULL) {
        jw_object_begin(&out);
        jw_member_int(&out, "spend_needed",
                      spend_needed(r->tiers[tier].min_spend, row.qualifying_spend));
        jw_member_string(&out, "by", row.keep_by);
        jw_object_end(&out);
    } else {
        jw_null(&out);
    }
    jw_key(&out, "expiring");
    jw_raw(&out, row.expiring);
    jw_object_end(&out);
    api_send_text(rs, 200, jw_finish(&out, NULL));
    return 0;
}

/* Sends the read to the reader and suspends the request until it is in:
 * the worker goes on serving other connections meanwhile. */
static int balance_of(struct req *rq, int64_t member_id)
{
    struct balance_wait *w = arena_alloc(&rq->arena, sizeof(*w));
    const struct rules_snapshot *snap = rules_cache_hold(&rq->arena);
    const struct rules *r = &snap->rules;
    struct balance_query q = {member_id,
                              r->timezone,
                              r->tier_window_days,
                              r->tier_downgrade_grace_days,
                              snap->tier_codes_sql,
                              snap->tier_mins_sql};

    memset(w, 0, sizeof(*w));
    w->rq = rq;
    w->rules = r;
    store_balance_view_job(&q, &rq->arena, &w->job);
    w->job.done = balance_ready;
    w->job.arg = w;
    arena_defer(&rq->arena, balance_cleanup, w);
    req_suspend(rq, balance_render, w);
    api_read_submit(&w->job);
    return 0;
}

int api_members_balance(struct req *rq, struct resp *rs, struct err *e)
{
    int64_t id;

    (void)rs;
    if (path_member_id(rq, &id, e) < 0)
        return -1;
    return balance_of(rq, id);
}

int api_me_balance(struct req *rq, struct resp *rs, struct err *e)
{
    (void)rs;
    (void)e;
    return balance_of(rq, rq->who.member_id);
}

/* ------------------------------------------------------------- ledger -- */

static int ledger_of(struct req *rq, struct resp *rs, int64_t member_id, struct err *e)
{
    struct ledger_entry *items;
    struct db *db;
    json_t *arr;
    int64_t before;
    bool more;
    int limit, n;

    if (page_query_read(rq, LEDGER_ID_PREFIX, &limit, &before, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL ||
        store_ledger_list(db, member_id, before, limit, &rq->arena, &items, &n, &more, e) < 0)
        return -1;
    arr = json_array();
    for (int i = 0; i < n; i++)
        arr = page_items_add(arr, ledger_entry_json(&items[i]));
    return page_reply(rs, arr, more, LEDGER_ID_PREFIX, more ? items[n - 1].id : 0, e);
}

int api_members_ledger(struct req *rq, struct resp *rs, struct err *e)
{
    int64_t id;

    if (path_member_id(rq, &id, e) < 0)
        return -1;
    return ledger_of(rq, rs, id, e);
}

int api_me_ledger(struct req *rq, struct resp *rs, struct err *e)
{
    return ledger_of(rq, rs, rq->who.member_id, e);
}
