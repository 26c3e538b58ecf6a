/*
 * redemptions.c - spending points on rewards: POST and GET
 * /v1/members/{id}/redemptions (staff), /v1/me/redemptions (member token)
 * and POST /v1/redemptions/{id}/cancel (admin, pos).
 *
 * A redemption runs in the request's one transaction (ROUTE_TX) and takes
 * its locks in THE order of store/ledger.h.  Its checks run in this fixed
 * order, so the answer to a request that fails several of them is always
 * the same one:
 *   1. body                                   400 validation_failed
 *   2. lock the member                        404 not_found
 *   3. member suspended or closed             409 member_inactive
 *   4. lock the reward (KEY SHARE)            404 not_found (also a malformed reward_id)
 *   5. reward inactive or outside validity    409 conflict
 *   6. member's tier below min_tier           403 forbidden
 *   7. per_member_limit would be exceeded     409 limit_reached
 *   8. stock < quantity                       409 out_of_stock
 *   9. balance < quantity x points_cost       409 insufficient_points
 * then: take stock, record the redemption and its coupons, append the
 * `redeem` ledger entry.  A failed check leaves nothing behind: app.c rolls
 * the transaction back.  Because the member row is locked before anything
 * is read, concurrent redemptions of one member run one after the other
 * and each sees the balance and limit sums the previous one left.  Across
 * members, a limited stock is taken by one conditional UPDATE that re-reads
 * the stock after waiting for a concurrent taker (so check 8 can also fail
 * there, after check 9); redemptions of an unlimited reward never wait for
 * each other (the reward row is only KEY SHARE locked).
 *
 * A redemption without an Idempotency-Key that arrives while its worker's
 * transactions are busy is redeemed in a group, with other members', in
 * one transaction (api/redemption_group.h): the same checks in the same
 * order (redemption_steps.h), so the same answers.
 *
 * Cancelling finds the redemption's member and reward without locks, then
 * locks member, reward and redemption in that order and checks: member
 * closed 409 member_inactive (a suspended member's redemption may still be
 * cancelled: staff correcting a mistake), redemption not issued 409
 * conflict.  Points come back as a `redeem_cancel` entry, stock unless
 * unlimited, and the coupons are withdrawn.
 *
 * Must not contain SQL, open or end transactions, or choose HTTP statuses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/posting.h"
#include "api/redemption_group.h"
#include "api/redemption_steps.h"
#include "api/rules_cache.h"
#include "api/secret.h"
#include "api/validate.h"
#include "store/ledger.h"
#include "store/members.h"
#include "store/rewards.h"

/* ------------------------------------------------------------- output -- */

static json_t *redemption_json(const struct redemption *r)
{
    char id[32], member[32], reward[32];
    json_t *codes = json_array();

    for (int i = 0; codes != NULL && i < r->ncodes; i++)
        if (json_array_append_new(codes, json_string(r->codes[i])) < 0) {
            json_decref(codes);
            codes = NULL;
        }
    if (codes == NULL)
        return NULL;
    snprintf(id, sizeof(id), REDEMPTION_ID_PREFIX "%" PRId64, r->id);
    snprintf(member, sizeof(member), "mem_%" PRId64, r->member_id);
    snprintf(reward, sizeof(reward), REWARD_ID_PREFIX "%" PRId64, r->reward_id);
    /* "o" steals `codes`, also when packing fails. */
    return json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:s?, s:o, s:s, s:s, s:s?}", "id", id,
                     "member_id", member, "reward_id", reward, "quantity", (int)r->quantity,
                     "points_spent", (json_int_t)r->points_spent, "balance_after",
                     (json_int_t)r->balance_after, "coupon_code",
                     r->ncodes > 0 ? r->codes[0] : NULL, "coupon_codes", codes, "status", r->status,
                     "created_at", r->created_at, "cancelled_at", r->cancelled_at);
}

int redemption_reply(struct resp *rs, int status, const struct redemption *r, struct err *e)
{
    json_t *body = redemption_json(r);

    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering a redemption");
    resp_json(rs, status, body);
    return 0;
}

/* ------------------------------------------------------------- redeem -- */

struct redeem_input {
    const char *reward_id; /* borrowed from the body */
    int64_t quantity;
};

static int read_redeem(struct req *rq, struct redeem_input *in, struct err *e)
{
    static const char *const allowed[] = {"reward_id", "quantity", NULL};
    json_t *o = body_object(rq, false, e);

    if (o == NULL)
        return -1;
    in->quantity = 1;
    body_no_unknown(o, allowed, e);
    if (body_string(o, "reward_id", 1, 64, false, &in->reward_id, NULL, e) == 0)
        body_missing("reward_id", e);
    body_int(o, "quantity", 1, REDEMPTION_QUANTITY_MAX, &in->quantity, e);
    return err_is_set(e) ? -1 : 0;
}

/* Step 6: may a member of tier `tier` take a reward reserved to `min_tier`?
 * A min_tier the active rules no longer know is taken by no one. */
static bool tier_allows(const char *tier, const char *min_tier)
{
    const struct rules_snapshot *snap;
    int have, need;

    if (min_tier == NULL)
        return true;
    snap = rules_cache_acquire();
    have = rules_tier_index(&snap->rules, tier);
    need = rules_tier_index(&snap->rules, min_tier);
    rules_cache_release(snap);
    return need >= 0 && have >= need;
}

/* Codes "XXXX-XXXX-XXXXX" (13 symbols of 31: 64.4 bits). */
const char **redemption_new_codes(struct arena *a, int n)
{
    const char **codes = arena_alloc(a, sizeof(*codes) * (size_t)n);

    for (int i = 0; i < n; i++) {
        char sym[14];
        char *c = arena_alloc(a, COUPON_CODE_SIZE);

        secret_token(sym, "", 13, SECRET_READABLE);
        snprintf(c, COUPON_CODE_SIZE, "%.4s-%.4s-%.5s", sym, sym + 4, sym + 8);
        codes[i] = c;
    }
    return codes;
}

int redemption_check_locked(const struct member_lock *m, bool member_found, const struct reward *w,
                            bool reward_found, struct err *e)
{
    if (!member_found)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    if (strcmp(m->status, "active") != 0)
        return err_set(e, ERR_MEMBER_INACTIVE, "the member is %s", m->status);
    if (!reward_found)
        return err_set(e, ERR_NOT_FOUND, "reward not found");
    if (!w->available)
        return err_set(e, ERR_CONFLICT,
                       w->active ? "the reward is outside its validity period"
                                 : "the reward is not active");
    if (!tier_allows(m->tier, w->min_tier))
        return err_set(e, ERR_FORBIDDEN, "the reward needs tier %s or higher", w->min_tier);
    return 0;
}

int redemption_check_limit(const struct reward *w, int64_t live, int32_t qty, struct err *e)
{
    if (w->per_member_limit > 0 && live + qty > w->per_member_limit)
        return err_set(e, ERR_LIMIT_REACHED,
                       "the member may redeem this reward %" PRId64 " times and has %" PRId64,
                       w->per_member_limit, live);
    return 0;
}

int redemption_check_stock(const struct reward *w, int32_t qty, struct err *e)
{
    if (w->stock >= 0 && w->stock < qty)
        return err_set(e, ERR_OUT_OF_STOCK, "%" PRId64 " left of this reward", w->stock);
    return 0;
}

int redemption_check_cost(const struct member_lock *m, const struct reward *w, int32_t qty,
                          int64_t *cost, int64_t *after, struct err *e)
{
    if (__builtin_mul_overflow(w->points_cost, (int64_t)qty, cost) ||
        __builtin_sub_overflow(m->points_balance, *cost, after))
        return err_field(e, "quantity", "the cost does not fit");
    if (*cost > m->spendable)
        return err_set(e, ERR_INSUFFICIENT_POINTS,
                       "the redemption costs %" PRId64 " points, the spendable balance is %" PRId64,
                       *cost, m->spendable);
    return 0;
}

/* Steps 2 to 9 and the writes (see the file header). */
static int redeem(struct req *rq, struct resp *rs, int64_t member_id, const struct redeem_input *in,
                  struct err *e)
{
    struct member_lock m;
    struct reward w;
    struct redemption_new ins;
    struct redemption red;
    struct ledger_entry entry;
    struct ledger_move move;
    struct ledger_posting posting;
    const struct rules_snapshot *snap = rules_cache_hold(&rq->arena);
    struct db *db;
    int64_t reward_id, live;
    int64_t cost = 0, after = 0; /* set by check 9 (gcc -O2 cannot tell) */
    int32_t qty = (int32_t)in->quantity;
    bool member_found, reward_found;
    int rc;

    /* A malformed reward id names no reward (0: none is looked up). */
    if (id_parse(in->reward_id, REWARD_ID_PREFIX, &reward_id) < 0)
        reward_id = 0;
    if (redemption_group_record(rq, rs, &(struct redemption_order){snap, member_id, reward_id, qty},
                                e, &rc))
        return rc;
    /* Alone.  With a key the app has not claimed yet, it claims it first
     * and then runs this again (api_idem_unclaimed). */
    if (api_idem_unclaimed(rq) != NULL)
        return API_RUN_AGAIN;
    db = api_db(rq, e);
    /* Steps 2 and 4 in one round trip, the locks still in THE order (the
     * member's row, then the reward's); the checks keep theirs below. */
    if (db == NULL ||
        store_redemption_locks(db, member_id, snap->rules.timezone, reward_id, &rq->arena, &m,
                               &member_found, &w, &reward_found, e) < 0)
        return -1;
    if (redemption_check_locked(&m, member_found, &w, reward_found, e) < 0)
        return -1;
    if (w.per_member_limit > 0 &&
        (store_redemption_live_quantity(db, member_id, reward_id, &live, e) < 0 ||
         redemption_check_limit(&w, live, qty, e) < 0))
        return -1;
    if (redemption_check_stock(&w, qty, e) < 0 ||
        redemption_check_cost(&m, &w, qty, &cost, &after, e) < 0)
        return -1;

    ins = (struct redemption_new){
        member_id, reward_id, qty, cost, after, qty, redemption_new_codes(&rq->arena, qty)};
    if ((w.stock >= 0 && store_reward_move_stock(db, reward_id, -(int64_t)qty, e) < 0) ||
        store_redemption_insert(db, &ins, &rq->arena, &red, e) < 0)
        return -1;
    move = (struct ledger_move){"redeem", -cost, NULL};
    posting = api_posting(&snap->rules, member_id, 1, &move);
    posting.redemption_id = red.id;
    /* The posting is the last write: without an Idempotency-Key record to
     * store after it, the COMMIT goes with it. */
    if ((api_tx_ends_with_handler(rq)
             ? store_ledger_post_commit(db, &posting, &rq->arena, &entry, e)
             : store_ledger_post(db, &posting, &rq->arena, &entry, e)) < 0)
        return -1;
    /* The member is locked, so the ledger's balance must be the one computed
     * (after a COMMIT sent with the posting this can only be reported). */
    if (entry.balance_after != after)
        return err_internal(e, ERR_INTERNAL, "redeem: ledger says %" PRId64 ", expected %" PRId64,
                            entry.balance_after, after);
    return redemption_reply(rs, 201, &red, e);
}

/* The member id in the path; a malformed one names no member. */
static int path_member_id(const struct req *rq, int64_t *id, struct err *e)
{
    if (id_parse(req_param(rq, 0), "mem_", id) < 0)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    return 0;
}

/* POST /v1/members/{id}/redemptions {reward_id, quantity?} -> 201. */
int api_member_redemptions_create(struct req *rq, struct resp *rs, struct err *e)
{
    struct redeem_input in;
    int64_t member_id;

    if (read_redeem(rq, &in, e) < 0 || path_member_id(rq, &member_id, e) < 0)
        return -1;
    return redeem(rq, rs, member_id, &in, e);
}

/* POST /v1/me/redemptions {reward_id, quantity?} -> 201. */
int api_me_redemptions_create(struct req *rq, struct resp *rs, struct err *e)
{
    struct redeem_input in;

    if (read_redeem(rq, &in, e) < 0)
        return -1;
    return redeem(rq, rs, rq->who.member_id, &in, e);
}

/* --------------------------------------------------------------- list -- */

static int read_page(const struct req *rq, int *limit, int64_t *before, struct err *e)
{
    static const char *const allowed[] = {"limit", "cursor", NULL};

    query_no_unknown(rq, allowed, e);
    return page_query_read(rq, REDEMPTION_ID_PREFIX, limit, before, e);
}

static int list(struct req *rq, struct resp *rs, int64_t member_id, int limit, int64_t before,
                struct err *e)
{
    struct redemption *items;
    struct db *db = api_db(rq, e);
    json_t *arr;
    bool more;
    int n;

    if (db == NULL ||
        store_redemption_list(db, member_id, before, limit, &rq->arena, &items, &n, &more, e) < 0)
        return -1;
    arr = json_array();
    for (int i = 0; i < n; i++)
        arr = page_items_add(arr, redemption_json(&items[i]));
    return page_reply(rs, arr, more, REDEMPTION_ID_PREFIX, more ? items[n - 1].id : 0, e);
}

/* GET /v1/members/{id}/redemptions?limit=&cursor= : newest first. */
int api_member_redemptions_list(struct req *rq, struct resp *rs, struct err *e)
{
    struct member m;
    struct db *db;
    int64_t member_id, before;
    int limit;

    if (read_page(rq, &limit, &before, e) < 0 || path_member_id(rq, &member_id, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL || store_member_get(db, member_id, &rq->arena, &m, e) < 0)
        return -1;
    return list(rq, rs, member_id, limit, before, e);
}

/* GET /v1/me/redemptions?limit=&cursor= : newest first. */
int api_me_redemptions_list(struct req *rq, struct resp *rs, struct err *e)
{
    int64_t before;
    int limit;

    if (read_page(rq, &limit, &before, e) < 0)
        return -1;
    return list(rq, rs, rq->who.member_id, limit, before, e);
}

/* ------------------------------------------------------------- cancel -- */

/* POST /v1/redemptions/{id}/cancel -> 200 the cancelled redemption. */
int api_redemptions_cancel(struct req *rq, struct resp *rs, struct err *e)
{
    struct redemption found, cur, done;
    struct member_lock m;
    struct reward w;
    struct ledger_entry entry;
    struct ledger_move move;
    struct ledger_posting posting;
    const struct rules_snapshot *snap = rules_cache_hold(&rq->arena);
    struct db *db;
    int64_t id;

    /* No body is needed; one that is sent must be an object without fields. */
    if (rq->json != NULL) {
        json_t *o = body_object(rq, true, e);
        static const char *const none[] = {NULL};

        if (o == NULL || body_no_unknown(o, none, e) < 0)
            return -1;
    }
    if (id_parse(req_param(rq, 0), REDEMPTION_ID_PREFIX, &id) < 0)
        return err_set(e, ERR_NOT_FOUND, "redemption not found");
    db = api_db(rq, e);
    if (db == NULL || store_redemption_get(db, id, &rq->arena, &found, e) < 0)
        return -1;
    /* The lock order: member, reward, then the redemption itself. */
    if (store_member_lock(db, found.member_id, snap->rules.timezone, &rq->arena, &m, e) < 0)
        return -1;
    if (strcmp(m.status, "closed") == 0)
        return err_set(e, ERR_MEMBER_INACTIVE, "the member is closed");
    if (store_reward_get(db, found.reward_id, REWARD_KEY_SHARE, &rq->arena, &w, e) < 0 ||
        store_redemption_lock(db, found.member_id, id, &rq->arena, &cur, e) < 0)
        return -1;
    if (strcmp(cur.status, "issued") != 0)
        return err_set(e, ERR_CONFLICT, "the redemption is already %s", cur.status);
    move = (struct ledger_move){"redeem_cancel", cur.points_spent, NULL};
    posting = api_posting(&snap->rules, cur.member_id, 1, &move);
    posting.redemption_id = id;
    if (store_redemption_cancel(db, cur.member_id, id, &rq->arena, &done, e) < 0 ||
        (w.stock >= 0 && store_reward_move_stock(db, cur.reward_id, cur.quantity, e) < 0) ||
        store_ledger_post(db, &posting, &rq->arena, &entry, e) < 0)
        return -1;
    return redemption_reply(rs, 200, &done, e);
}
