/*
 * adjustments.c - POST /v1/members/{id}/adjustments (admin): a manual
 * points correction with a reason (compensation for a complaint, a fix),
 * written as one `adjust` ledger entry.
 *
 * Checks, in order: body (400: points non-zero with |points| <= 10^9,
 * reason 1..200 characters), then under the member's lock (THE lock order
 * of store/ledger.h, step 1): unknown member 404, suspended or closed 409
 * member_inactive, a negative adjustment beyond the balance 409
 * insufficient_points.  Runs in the request's transaction (ROUTE_TX).
 *
 * Must not contain SQL, open or end transactions, or choose HTTP statuses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/validate.h"
#include "store/ledger.h"

#define ADJUST_MAX 1000000000LL

/* The ledger entry as the contract shows it (new reference, NULL on OOM). */
static json_t *entry_json(const struct ledger_entry *l)
{
    char id[32], purchase[32], redemption[32];

    snprintf(id, sizeof(id), "led_%" PRId64, l->id);
    snprintf(purchase, sizeof(purchase), "pur_%" PRId64, l->purchase_id);
    snprintf(redemption, sizeof(redemption), "red_%" PRId64, l->redemption_id);
    return json_pack("{s:s, s:s, s:I, s:I, s:s?, s:s?, s:s?, s:s, s:s?}", "id", id, "kind", l->kind,
                     "points", (json_int_t)l->points, "balance_after", (json_int_t)l->balance_after,
                     "purchase_id", l->purchase_id != 0 ? purchase : NULL, "redemption_id",
                     l->redemption_id != 0 ? redemption : NULL, "reason", l->reason, "created_at",
                     l->created_at, "expires_at", l->expires_at);
}

/* POST /v1/members/{id}/adjustments {points, reason} -> 201 {entry, balance_after}. */
int api_member_adjustments_create(struct req *rq, struct resp *rs, struct err *e)
{
    static const char *const allowed[] = {"points", "reason", NULL};
    int64_t points = 0, member_id, after;
    const char *reason = NULL;
    struct member_lock m;
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
    if (db == NULL || store_member_lock(db, member_id, &rq->arena, &m, e) < 0)
        return -1;
    if (strcmp(m.status, "active") != 0)
        return err_set(e, ERR_MEMBER_INACTIVE, "the member is %s", m.status);
    if (__builtin_add_overflow(m.points_balance, points, &after))
        return err_field(e, "points", "the balance would not fit");
    /* A balance that is already negative (after a return) may still be
     * adjusted upwards; only a negative adjustment must stay covered. */
    if (points < 0 && after < 0)
        return err_set(e, ERR_INSUFFICIENT_POINTS,
                       "the balance is %" PRId64 ", the adjustment takes %" PRId64,
                       m.points_balance, -points);
    if (store_ledger_append(db, member_id, "adjust", points, 0, 0, reason, &rq->arena, &entry, e) <
        0)
        return -1;
    entry_obj = entry_json(&entry);
    body = entry_obj ? json_pack("{s:o, s:I}", "entry", entry_obj, "balance_after",
                                 (json_int_t)entry.balance_after)
                     : NULL;
    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering an adjustment");
    resp_json(rs, 201, body);
    return 0;
}
