/*
 * returns.c - POST /v1/purchases/{id}/returns (admin, pos): a return of some
 * or all of a purchase's units, taking back the points earned on them and
 * giving back the points redeemed on them.
 *
 * In this order, inside the request's transaction (ROUTE_TX):
 *   1. the body                                     400 validation_failed
 *   2. the purchase (malformed or unknown id)       404 not_found
 *   3. a store-bound pos key of another store       403 forbidden
 *   4. lock the member (step 1 of the lock order in store/ledger.h)
 *   5. a return recorded under the POS return id:   200 replay, or 409 conflict
 *   6. the units against the lines (rules/returns.h):  400 naming items[i]
 * then write the return, its lines, the purchase's net spend and the member
 * in one statement, and post the ledger entries in one more: one negative
 * `return` entry for the points taken back (the promotion bonus included
 * when this return completes the purchase), one positive for the redeemed
 * points given back, each only when not zero.  The balance may go negative:
 * a refund is not refused for points already spent.  The member's status is
 * not checked: a shop refunds a suspended member too.  A referral bonus is
 * never taken back (it is not part of any line).
 *
 * Exactly once: two requests for one (purchase, pos_return_id) are
 * serialised by the member lock, and the second finds the first's record in
 * step 5.  The response is rendered once and stored in the return row as
 * it is sent, so a replay answers the identical bytes.
 *
 * Must not contain SQL, open or end transactions, or compute points or
 * money itself.
 */
#include "rules/returns.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/member_json.h"
#include "api/posting.h"
#include "api/purchase_json.h"
#include "api/rules_cache.h"
#include "api/secret.h"
#include "api/validate.h"
#include "core/buf.h"
#include "core/json_mem.h"
#include "core/xmalloc.h"
#include "store/ledger.h"
#include "store/returns.h"

#define RETURN_ID_PREFIX  "ret_"
#define POS_RETURN_ID_MAX 64
#define SKU_MAX           64
#define QUANTITY_MAX      100000

/* -------------------------------------------------------------- body -- */

/* The body, checked.  Strings borrowed from the request body. */
struct return_body {
    const char *pos_return_id;
    int nitems;                 /* as sent */
    struct return_item *items;  /* arena array, as sent */
    int nmerged;                /* one per sku */
    struct return_item *merged; /* arena array, first occurrences in order */
};

static bool is_pos_return_id(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:");

    return s[n] == '\0' && n >= 1 && n <= POS_RETURN_ID_MAX;
}

/* items[i]: {sku, quantity}, every problem named with its path. */
static void read_item(json_t *o, int i, struct return_item *it, struct err *e)
{
    char path[64];
    const char *key;
    json_t *v;

    it->index = i;
    if (!json_is_object(o)) {
        snprintf(path, sizeof(path), "items[%d]", i);
        err_field(e, path, "must be an object");
        return;
    }
    json_object_foreach (o, key, v) {
        (void)v;
        if (strcmp(key, "sku") != 0 && strcmp(key, "quantity") != 0) {
            snprintf(path, sizeof(path), "items[%d].%.40s", i, key);
            err_field(e, path, "unknown field");
        }
    }
    snprintf(path, sizeof(path), "items[%d].sku", i);
    v = json_object_get(o, "sku");
    if (v == NULL) {
        err_field(e, path, "is required");
    } else if (!json_is_string(v)) {
        err_field(e, path, "must be a string");
    } else {
        const char *s = json_string_value(v);
        int n = utf8_length(s);

        if (strlen(s) != json_string_length(v) || n < 0)
            err_field(e, path, "must not contain control characters");
        else if (n < 1 || n > SKU_MAX)
            err_field(e, path, "must be 1 to %d characters", SKU_MAX);
        else
            it->sku = s;
    }
    snprintf(path, sizeof(path), "items[%d].quantity", i);
    v = json_object_get(o, "quantity");
    if (v == NULL)
        err_field(e, path, "is required");
    else if (!json_is_integer(v))
        err_field(e, path, "must be an integer");
    else if (json_integer_value(v) < 1 || json_integer_value(v) > QUANTITY_MAX)
        err_field(e, path, "must be 1 to %d", QUANTITY_MAX);
    else
        it->quantity = (int64_t)json_integer_value(v);
}

static void read_items(json_t *o, struct arena *a, struct return_body *b, struct err *e)
{
    size_t n;
    json_t *items = body_array(o, "items", RETURNS_MAX_ITEMS, &n, e);

    if (items == NULL)
        return;
    b->nitems = (int)n;
    b->items = arena_alloc(a, n * sizeof(*b->items));
    b->merged = arena_alloc(a, n * sizeof(*b->merged));
    memset(b->items, 0, n * sizeof(*b->items));
    for (size_t i = 0; i < n; i++)
        read_item(json_array_get(items, i), (int)i, &b->items[i], e);
}

static int read_body(struct req *rq, struct return_body *b, struct err *e)
{
    static const char *const allowed[] = {"pos_return_id", "items", NULL};
    json_t *o = body_object(rq, false, e);
    int rc;

    memset(b, 0, sizeof(*b));
    if (o == NULL)
        return -1;
    body_no_unknown(o, allowed, e);
    rc = body_string(o, "pos_return_id", 1, POS_RETURN_ID_MAX, false, &b->pos_return_id, NULL, e);
    if (rc == 0)
        body_missing("pos_return_id", e);
    else if (rc == 1 && !is_pos_return_id(b->pos_return_id))
        err_field(e, "pos_return_id", "must be 1 to 64 characters of A-Z a-z 0-9 . _ - :");
    read_items(o, &rq->arena, b, e);
    if (err_is_set(e))
        return -1;
    b->nmerged = returns_items_merge(b->items, b->nitems, b->merged);
    return 0;
}

/* -------------------------------------------------------- fingerprint -- */

static int by_sku(const void *x, const void *y)
{
    return strcmp(((const struct return_item *)x)->sku, ((const struct return_item *)y)->sku);
}

/* SHA-256 of the canonical text of what a replay must match: the purchase
 * and the units per sku, skus in byte order (so neither the items' order
 * nor how a sku's units are spread over items changes the request). */
static void fingerprint(struct arena *a, int64_t purchase_id, const struct return_body *b,
                        char hex[65])
{
    struct return_item *sorted = arena_alloc(a, sizeof(*sorted) * (size_t)b->nmerged);
    struct buf t;

    memcpy(sorted, b->merged, sizeof(*sorted) * (size_t)b->nmerged);
    qsort(sorted, (size_t)b->nmerged, sizeof(*sorted), by_sku);
    /* Tabs and newlines separate fields no field may contain (validated:
     * no control characters). */
    buf_init(&t);
    buf_printf(&t, "return/1\npurchase %" PRId64 "\n", purchase_id);
    for (int i = 0; i < b->nmerged; i++)
        buf_printf(&t, "item %s\t%" PRId64 "\n", sorted[i].sku, sorted[i].quantity);
    secret_hash_hex(t.data, hex);
    buf_cleanup(&t);
}

/* ------------------------------------------------------------ output -- */

/* Everything one return works with; lives in the request arena. */
struct work {
    const struct rules_snapshot *snap;
    struct return_body in;
    struct return_target target;
    struct member_lock member;
    struct return_basis basis;
    struct return_result *res;
    int64_t id;
    int64_t points_back; /* points taken back, the bonus included */
    int64_t balance_after;
};

/* Adds `key`: `value` (stolen); clears *ok on failure. */
static void put(json_t *o, const char *key, json_t *value, bool *ok)
{
    if (json_object_set_new(o, key, value) < 0)
        *ok = false;
}

/* Appends `item` (stolen) to `arr`; clears *ok on failure. */
static void append(json_t *arr, json_t *item, bool *ok)
{
    if (arr == NULL || json_array_append_new(arr, item) < 0)
        *ok = false;
}

static json_t *items_json(const struct return_body *b, bool *ok)
{
    json_t *arr = json_array();

    for (int i = 0; i < b->nmerged; i++)
        append(arr,
               json_pack("{s:s, s:I}", "sku", b->merged[i].sku, "quantity",
                         (json_int_t)b->merged[i].quantity),
               ok);
    return arr;
}

/* The lines this return touched, in line order. */
static json_t *lines_json(const struct work *w, bool *ok)
{
    json_t *arr = json_array();

    for (int l = 0; l < w->res->nlines; l++) {
        const struct return_line_out *o = &w->res->lines[l];

        if (o->quantity == 0)
            continue;
        append(arr,
               json_pack("{s:i, s:s, s:I, s:I, s:I, s:I}", "line_no",
                         (int)w->basis.lines[l].line_no, "sku", w->basis.lines[l].sku, "quantity",
                         (json_int_t)o->quantity, "points_taken_back", (json_int_t)o->points,
                         "redeemed_points_given_back", (json_int_t)o->redeemed_points,
                         "net_spend_returned", (json_int_t)o->net_spend),
               ok);
    }
    return arr;
}

/* The contract's keys in its order.  New reference, or NULL when jansson
 * runs out of memory. */
static json_t *render(const struct work *w)
{
    json_t *o = json_object();
    char id[32], purchase[32], member[32];
    bool ok = o != NULL;

    snprintf(id, sizeof(id), RETURN_ID_PREFIX "%" PRId64, w->id);
    purchase_id_format(purchase, sizeof(purchase), w->target.purchase_id);
    member_id_format(member, sizeof(member), w->target.member_id);
    put(o, "id", json_string(id), &ok);
    put(o, "purchase_id", json_string(purchase), &ok);
    put(o, "member_id", json_string(member), &ok);
    put(o, "pos_return_id", json_string(w->in.pos_return_id), &ok);
    put(o, "items", items_json(&w->in, &ok), &ok);
    put(o, "lines", lines_json(w, &ok), &ok);
    put(o, "points_taken_back", json_integer(w->res->points_taken), &ok);
    put(o, "bonus_taken_back", json_integer(w->res->bonus_taken), &ok);
    put(o, "points_given_back", json_integer(w->res->points_given), &ok);
    put(o, "net_spend_returned", json_integer(w->res->net_spend), &ok);
    put(o, "balance_after", json_integer(w->balance_after), &ok);
    put(o, "created_at", json_string(w->basis.created_at), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A return recorded under the POS return id: the same request is answered
 * with the record, anything else is a conflict naming it. */
static int answer_recorded(struct resp *rs, const struct work *w, const struct return_record *rec,
                           const char *hash, struct err *e)
{
    char purchase[32];

    if (strcmp(rec->request_hash, hash) == 0) {
        api_send_text(rs, 200, xstrdup(rec->result));
        return 0;
    }
    purchase_id_format(purchase, sizeof(purchase), w->target.purchase_id);
    return err_set(e, ERR_CONFLICT,
                   "pos_return_id %s of purchase %s is already recorded as return " RETURN_ID_PREFIX
                   "%" PRId64 " with other content",
                   w->in.pos_return_id, purchase, rec->id);
}

/* ------------------------------------------------------------ compute -- */

/* Step 6: the units against the lines, and the balance after. */
static int compute(struct req *rq, struct db *db, struct work *w, struct err *e)
{
    struct return_line *lines;
    struct return_purchase p;
    int64_t moved;

    if (store_return_basis(db, w->target.member_id, w->target.purchase_id, &rq->arena, &w->basis,
                           e) < 0)
        return -1;
    if (w->basis.nlines > RETURNS_MAX_LINES)
        return err_internal(e, ERR_INTERNAL, "a purchase of %d lines", w->basis.nlines);
    lines = arena_alloc(&rq->arena, sizeof(*lines) * (size_t)w->basis.nlines);
    for (int l = 0; l < w->basis.nlines; l++) {
        const struct return_line_row *r = &w->basis.lines[l];

        lines[l] = (struct return_line){r->sku,
                                        r->quantity,
                                        r->returned_quantity,
                                        r->points,
                                        r->returned_points,
                                        r->redeemed_share,
                                        r->returned_redeemed_points,
                                        r->net_spend,
                                        r->returned_net_spend};
    }
    p = (struct return_purchase){w->basis.points_redeemed, w->basis.bonus_points, w->basis.nlines,
                                 lines};
    w->res = arena_alloc(&rq->arena, sizeof(*w->res));
    if (returns_compute(&p, w->in.merged, w->in.nmerged, w->res, e) < 0)
        return -1;
    w->id = w->basis.new_id;
    if (__builtin_add_overflow(w->res->points_taken, w->res->bonus_taken, &w->points_back) ||
        __builtin_sub_overflow(w->res->points_given, w->points_back, &moved) ||
        __builtin_add_overflow(w->member.points_balance, moved, &w->balance_after))
        return err_field(e, "items", "the points of this return do not fit");
    return 0;
}

/* ------------------------------------------------------------- writes -- */

static int record(struct req *rq, struct db *db, const struct work *w, const char *hash,
                  const char *result, struct err *e)
{
    struct return_line_change *changes =
        arena_alloc(&rq->arena, sizeof(*changes) * (size_t)w->res->nlines);
    struct return_new r = {
        .id = w->id,
        .member_id = w->target.member_id,
        .purchase_id = w->target.purchase_id,
        .pos_return_id = w->in.pos_return_id,
        .points_taken = w->points_back,
        .points_given = w->res->points_given,
        .net_spend = w->res->net_spend,
        .fully_returned = w->res->fully_returned,
        .request_hash = hash,
        .result = result,
        .changes = changes,
    };

    for (int l = 0; l < w->res->nlines; l++) {
        const struct return_line_out *o = &w->res->lines[l];

        if (o->quantity > 0)
            changes[r.nchanges++] =
                (struct return_line_change){w->basis.lines[l].line_no, o->quantity, o->points,
                                            o->redeemed_points, o->net_spend};
    }
    return store_return_insert(db, &r, e);
}

/* Points taken back (the bonus included), then points given back, each
 * only when not zero, in one posting; the last balance must be the one the
 * response shows. */
static int post_ledger(struct req *rq, struct db *db, const struct work *w, struct err *e)
{
    const char *reason = arena_printf(&rq->arena, "return %s", w->in.pos_return_id);
    const struct ledger_move all[] = {
        {"return", -w->points_back, reason},
        {"return", w->res->points_given, reason},
    };
    struct ledger_move moves[2];
    struct ledger_entry entries[2];
    struct ledger_posting posting;
    int n = 0;

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i].points != 0)
            moves[n++] = all[i];
    if (n == 0)
        return 0;
    posting = api_posting(&w->snap->rules, w->target.member_id, n, moves);
    posting.purchase_id = w->target.purchase_id;
    posting.return_id = w->id;
    if (store_ledger_post(db, &posting, &rq->arena, entries, e) < 0)
        return -1;
    if (entries[n - 1].balance_after != w->balance_after)
        return err_internal(e, ERR_INTERNAL,
                            "ledger balance %" PRId64 " differs from the computed %" PRId64,
                            entries[n - 1].balance_after, w->balance_after);
    return 0;
}

/* POST /v1/purchases/{id}/returns {pos_return_id, items} -> 201 (replay 200). */
int api_returns_create(struct req *rq, struct resp *rs, struct err *e)
{
    struct work *w = arena_alloc(&rq->arena, sizeof(*w));
    struct return_record rec;
    char hash[65];
    struct db *db;
    json_t *body;
    char *text;
    int64_t purchase_id;
    int rc;

    memset(w, 0, sizeof(*w));
    if (read_body(rq, &w->in, e) < 0)
        return -1;
    if (id_parse(req_param(rq, 0), PURCHASE_ID_PREFIX, &purchase_id) < 0)
        return err_set(e, ERR_NOT_FOUND, "purchase not found");
    db = api_db(rq, e);
    if (db == NULL || store_return_target(db, purchase_id, &rq->arena, &w->target, e) < 0)
        return -1;
    if (rq->who.store_id[0] != '\0' && strcmp(rq->who.store_id, w->target.store_id) != 0)
        return err_set(e, ERR_FORBIDDEN, "this key may only return purchases of its own store");
    w->snap = rules_cache_hold(&rq->arena);
    if (store_member_lock(db, w->target.member_id, w->snap->rules.timezone, &rq->arena, &w->member,
                          e) < 0)
        return -1;
    fingerprint(&rq->arena, purchase_id, &w->in, hash);
    rc = store_return_find(db, w->target.member_id, purchase_id, w->in.pos_return_id, &rq->arena,
                           &rec, e);
    if (rc != 0)
        return rc < 0 ? -1 : answer_recorded(rs, w, &rec, hash, e);
    if (compute(rq, db, w, e) < 0)
        return -1;

    body = render(w);
    text = body ? json_mem_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering a return");
    rc = record(rq, db, w, hash, text, e);
    if (rc <= 0) {
        free(text);
        if (rc < 0)
            return -1;
        /* Recorded meanwhile (unreachable under the member lock): answer
         * from the record as a replay would. */
        rc = store_return_find(db, w->target.member_id, purchase_id, w->in.pos_return_id,
                               &rq->arena, &rec, e);
        if (rc <= 0)
            return rc < 0 ? -1 : err_internal(e, ERR_INTERNAL, "POS return id taken but no return");
        return answer_recorded(rs, w, &rec, hash, e);
    }
    if (post_ledger(rq, db, w, e) < 0) {
        free(text);
        return -1;
    }
    /* The very text stored: a replay answers the same bytes. */
    api_send_text(rs, 201, text);
    return 0;
}
