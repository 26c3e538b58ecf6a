/*
 * tier_history.c - GET /v1/members/{id}/tier-history (admin, app): the
 * member's tier changes, newest first, keyset-paged like the ledger.
 * Must not contain SQL or write anything.
 */
#include "store/tier_history.h"

#include <inttypes.h>
#include <stdio.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/member_json.h"
#include "api/purchase_json.h"
#include "api/validate.h"

#define TIER_CHANGE_ID_PREFIX "tch_"

/* A new reference, NULL when out of memory. */
static json_t *change_json(const struct tier_change *c)
{
    char id[32], pur[32];

    snprintf(id, sizeof(id), TIER_CHANGE_ID_PREFIX "%" PRId64, c->id);
    if (c->purchase_id != 0)
        purchase_id_format(pur, sizeof(pur), c->purchase_id);
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:I, s:s, s:s}", "id", id, "from_tier",
                     c->from_tier, "to_tier", c->to_tier, "reason", c->reason, "purchase_id",
                     c->purchase_id != 0 ? pur : NULL, "qualifying_spend",
                     (json_int_t)c->qualifying_spend, "effective_on", c->effective_on, "created_at",
                     c->created_at);
}

int api_member_tier_history(struct req *rq, struct resp *rs, struct err *e)
{
    struct tier_change *items;
    int64_t member_id, before;
    struct db *db;
    json_t *arr;
    bool more;
    int limit, n;

    if (id_parse(req_param(rq, 0), MEMBER_ID_PREFIX, &member_id) < 0)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    if (page_query_read(rq, TIER_CHANGE_ID_PREFIX, &limit, &before, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL ||
        store_tier_history_list(db, member_id, before, limit, &rq->arena, &items, &n, &more, e) < 0)
        return -1;
    arr = json_array();
    for (int i = 0; i < n; i++)
        arr = page_items_add(arr, change_json(&items[i]));
    return page_reply(rs, arr, more, TIER_CHANGE_ID_PREFIX, more ? items[n - 1].id : 0, e);
}
