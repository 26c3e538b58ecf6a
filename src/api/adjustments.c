/*
 * adjustments.c - POST /v1/members/{id}/adjustments (admin): a manual
 * points correction with a reason (compensation for a complaint, a fix),
 * written as one `adjust` ledger entry.
 *
 * Checks, in order: body (400: points non-zero with |points| <= 10^9,
 * reason 1..200 characters), then under the member's lock (THE lock order
 * of store/ledger.h, step 1): unknown member 404, suspended or closed 409
 * member_inactive, a negative adjustment beyond the spendable balance 409
 * insufficient_points.  Runs in the request's transaction (ROUTE_TX).
 *
 * Must not contain SQL, open or end transactions, or choose HTTP statuses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/ledger_json.h"
#include "api/posting.h"
#include "api/rules_cache.h"
#include "api/validate.h"
#include "store/ledger.h"

#define ADJUST_MAX 1000000000LL

/* POST /v1/members/{id}/adjustments {points, reason} -> 201 {entry, balance_after}. */
int api_member_adjustments_create(struct req *rq, struct resp *rs, struct err *e)
{
    static const char *const allowed[] = {"points", "reason", NULL};
    int64_t points = 0, member_id, after;
    const char *reason = NULL;
    const struct rules_snapshot *snap;
    struct member_lock m;
    struct ledger_move move;
    struct ledger_posting posting;
    struct ledger_entry entry;
    struct db *db;
    json_t *o = body_object(rq, false, e), *entry_obj, *body;
    int rc;

    if (o == NULL)
        return -1;
    body_no_unknown(o, allowed, e);
    rc = body_int(o, "points", -ADJUST_MAX, ADJUST_MAX, &points, e);
    if (rc == 0)
        body_missing("points", e);
    else if (rc == 1 && points == 0)
        err_field(e, "points", "must not be 0");
    if (body_string(o, "reason", 1, 200, false, &reason, NULL, e) == 0)
        body_missing("reason", e);
    if (err_is_set(e))
        return -1;
    if (id_parse(req_param(rq, 0), "mem_", &member_id) < 0)
        return err_set(e, ERR_NOT_FOUND, "member not found");

    db = api_db(rq, e);
    snap = rules_cache_hold(&rq->arena);
    if (db == NULL || store_member_lock(db, member_id, snap->rules.timezone, &rq->arena, &m, e) < 0)
        return -1;
    if (strcmp(m.status, "active") != 0)
        return err_set(e, ERR_MEMBER_INACTIVE, "the member is %s", m.status);
    if (__builtin_add_overflow(m.points_balance, points, &after))
        return err_field(e, "points", "the balance would not fit");
    /* A balance that is already negative (after a return) may still be
     * adjusted upwards; only a negative adjustment must stay covered by
     * spendable points. */
    if (points < 0 && m.spendable + points < 0)
        return err_set(e, ERR_INSUFFICIENT_POINTS,
                       "the spendable balance is %" PRId64 ", the adjustment takes %" PRId64,
                       m.spendable, -points);
    move = (struct ledger_move){"adjust", points, reason};
    posting = api_posting(&snap->rules, member_id, 1, &move);
    if (store_ledger_post(db, &posting, &rq->arena, &entry, e) < 0)
        return -1;
    entry_obj = ledger_entry_json(&entry);
    body = entry_obj ? json_pack("{s:o, s:I}", "entry", entry_obj, "balance_after",
                                 (json_int_t)entry.balance_after)
                     : NULL;
    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering an adjustment");
    resp_json(rs, 201, body);
    return 0;
}
