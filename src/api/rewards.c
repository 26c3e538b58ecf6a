/*
 * rewards.c - the rewards catalog handlers: GET /v1/rewards (everyone; a
 * member token sees only what its tier may take), POST /v1/rewards and
 * PATCH /v1/rewards/{id} (admin).
 *
 * A body is read whole first, every field error reported at once; min_tier
 * must name a tier of the active rules (a body check, against the rules
 * snapshot of the moment).  PATCH then locks the reward, merges the body
 * into it and checks the merged reward's shape (kind and discount, validity
 * order), so a PATCH can never leave a reward that POST would have refused.
 *
 * Must not contain SQL, open or end transactions, or choose HTTP statuses.
 */
#include "store/rewards.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/rules_cache.h"
#include "api/validate.h"
#include "core/civil.h"
#include "store/members.h"

/* ------------------------------------------------------------- output -- */

/* A percentage in hundredths as the contract writes it: 5, 2.5, 12.34. */
static json_t *pct_json(int32_t x100)
{
    if (x100 % 100 == 0)
        return json_integer(x100 / 100);
    return json_real((double)x100 / 100.0);
}

static json_t *opt_int_json(int64_t v, int64_t none)
{
    return v == none ? json_null() : json_integer((json_int_t)v);
}

/* The Reward object (new reference, NULL on OOM); `r` borrowed. */
static json_t *reward_json(const struct reward *r)
{
    char id[32];

    snprintf(id, sizeof(id), REWARD_ID_PREFIX "%" PRId64, r->id);
    /* "o" steals even when packing fails, so nothing leaks. */
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:s?, s:o, s:s?, s:s?, s:b, s:s, "
                     "s:s}",
                     "id", id, "code", r->code, "name", r->name, "kind", r->kind, "points_cost",
                     (json_int_t)r->points_cost, "discount_value",
                     opt_int_json(r->discount_value, 0), "discount_pct",
                     r->discount_pct_x100 == 0 ? json_null() : pct_json(r->discount_pct_x100),
                     "stock", opt_int_json(r->stock, -1), "min_tier", r->min_tier,
                     "per_member_limit", opt_int_json(r->per_member_limit, 0), "valid_from",
                     r->valid_from, "valid_until", r->valid_until, "active", (int)r->active,
                     "created_at", r->created_at, "updated_at", r->updated_at);
}

static int reply_reward(struct resp *rs, int status, const struct reward *r, struct err *e)
{
    json_t *body = reward_json(r);

    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering a reward");
    resp_json(rs, status, body);
    return 0;
}

/* --------------------------------------------------------------- body -- */

/* What a body said about each field: `has_*` when present (null counts:
 * it sets the field to "none"). */
struct reward_input {
    bool has_code, has_name, has_kind, has_cost, has_value, has_pct, has_stock, has_min_tier,
        has_limit, has_from, has_until, has_active;
    struct reward_fields f;
};

static bool is_reward_code(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n <= 32 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* A nullable integer: 1 read (or null, then *out = none), 0 absent, -1. */
static int read_opt_int(json_t *o, const char *key, int64_t min, int64_t max, int64_t none,
                        int64_t *out, struct err *e)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return 0;
    if (json_is_null(v)) {
        *out = none;
        return 1;
    }
    return body_int(o, key, min, max, out, e);
}

/* discount_pct: a number, 0 < pct <= 100, at most 2 decimals, as hundredths. */
static int read_pct(json_t *o, int32_t *out, struct err *e)
{
    json_t *v = json_object_get(o, "discount_pct");
    double x, off;
    int64_t r;

    if (v == NULL)
        return 0;
    if (json_is_null(v)) {
        *out = 0;
        return 1;
    }
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);

        if (n < 1 || n > 100)
            return err_field(e, "discount_pct", "must be more than 0 and at most 100");
        *out = (int32_t)(n * 100);
        return 1;
    }
    if (!json_is_real(v))
        return err_field(e, "discount_pct", "must be a number");
    /* A decimal with 2 places is within a rounding error of whole
     * hundredths; anything farther has more places. */
    x = json_real_value(v) * 100.0;
    if (!(x > 0.5 && x < 10000.5))
        return err_field(e, "discount_pct", "must be more than 0 and at most 100");
    r = (int64_t)(x + 0.5);
    off = x - (double)r;
    if (off > 1e-6 || off < -1e-6)
        return err_field(e, "discount_pct", "must have at most 2 decimals");
    *out = (int32_t)r;
    return 1;
}

/* valid_from / valid_until: RFC 3339 or null; *out NULL for null. */
static int read_time(json_t *o, const char *key, const char **out, struct err *e)
{
    const char *s;
    bool null;
    int64_t us;
    int rc = body_string(o, key, 1, 64, true, &s, &null, e);

    if (rc < 0)
        return -1;
    if (rc == 0) {
        *out = NULL;
        return null ? 1 : 0;
    }
    if (civil_parse_rfc3339(s, &us) < 0)
        return err_field(e, key, "must be an RFC 3339 timestamp with an offset");
    *out = s;
    return 1;
}

/* Is `code` a tier of the active rules? */
static bool is_tier(const char *code)
{
    const struct rules_snapshot *snap = rules_cache_acquire();
    bool found = rules_tier_index(&snap->rules, code) >= 0;

    rules_cache_release(snap);
    return found;
}

/* Reads every field present in `o` (strings borrowed from it). */
static int read_reward_input(json_t *o, struct reward_input *in, struct err *e)
{
    static const char *const allowed[] = {
        "code",         "name",   "kind",     "points_cost",      "discount_value",
        "discount_pct", "stock",  "min_tier", "per_member_limit", "valid_from",
        "valid_until",  "active", NULL};
    const char *s;
    bool null;
    int rc;

    body_no_unknown(o, allowed, e);
    rc = body_string(o, "code", 0, 1000, false, &s, NULL, e);
    if (rc == 1 && !is_reward_code(s))
        err_field(e, "code", "must be 1 to 32 characters of a-z 0-9 _ -");
    else if (rc == 1)
        in->f.code = s;
    in->has_code = rc == 1;
    in->has_name = body_string(o, "name", 1, 100, false, &in->f.name, NULL, e) == 1;
    rc = body_string(o, "kind", 0, 1000, false, &s, NULL, e);
    if (rc == 1 && strcmp(s, "gift") != 0 && strcmp(s, "discount") != 0)
        err_field(e, "kind", "must be gift or discount");
    else if (rc == 1)
        in->f.kind = s;
    in->has_kind = rc == 1;
    in->has_cost =
        body_int(o, "points_cost", 1, REWARD_POINTS_COST_MAX, &in->f.points_cost, e) == 1;
    in->has_value = read_opt_int(o, "discount_value", 1, REWARD_DISCOUNT_VALUE_MAX, 0,
                                 &in->f.discount_value, e) == 1;
    in->has_pct = read_pct(o, &in->f.discount_pct_x100, e) == 1;
    in->has_stock = read_opt_int(o, "stock", 0, REWARD_STOCK_MAX, -1, &in->f.stock, e) == 1;
    rc = body_string(o, "min_tier", 1, 32, true, &s, &null, e);
    if (rc == 1 && !is_tier(s))
        err_field(e, "min_tier", "must be a tier code of the active rules");
    else if (rc == 1)
        in->f.min_tier = s;
    else if (null)
        in->f.min_tier = NULL;
    in->has_min_tier = rc == 1 || null;
    in->has_limit = read_opt_int(o, "per_member_limit", 1, REWARD_LIMIT_MAX, 0,
                                 &in->f.per_member_limit, e) == 1;
    in->has_from = read_time(o, "valid_from", &in->f.valid_from, e) == 1;
    in->has_until = read_time(o, "valid_until", &in->f.valid_until, e) == 1;
    in->has_active = body_bool(o, "active", &in->f.active, e) == 1;
    return err_is_set(e) ? -1 : 0;
}

/*
 * The checks across fields, on the reward as it will be stored: a gift has
 * no discount, a discount exactly one of value and percentage, and
 * valid_from comes before valid_until.
 */
static int check_shape(const struct reward_fields *f, struct err *e)
{
    int64_t from, until;

    if (strcmp(f->kind, "gift") == 0) {
        if (f->discount_value != 0)
            err_field(e, "discount_value", "must be absent or null for a gift");
        if (f->discount_pct_x100 != 0)
            err_field(e, "discount_pct", "must be absent or null for a gift");
    } else if (f->discount_value != 0 && f->discount_pct_x100 != 0) {
        err_field(e, "discount_pct", "must be null when discount_value is set (one of the two)");
    } else if (f->discount_value == 0 && f->discount_pct_x100 == 0) {
        err_field(e, "discount_value", "a discount reward needs discount_value or discount_pct");
    }
    if (f->valid_from != NULL && f->valid_until != NULL &&
        civil_parse_rfc3339(f->valid_from, &from) == 0 &&
        civil_parse_rfc3339(f->valid_until, &until) == 0 && from >= until)
        err_field(e, "valid_until", "must be after valid_from");
    return err_is_set(e) ? -1 : 0;
}

/* The reward path id; a malformed one names no reward. */
static int path_reward_id(const struct req *rq, int64_t *id, struct err *e)
{
    if (id_parse(req_param(rq, 0), REWARD_ID_PREFIX, id) < 0)
        return err_set(e, ERR_NOT_FOUND, "reward not found");
    return 0;
}

/* ------------------------------------------------------------- create -- */

/* POST /v1/rewards -> 201 the reward. */
int api_rewards_create(struct req *rq, struct resp *rs, struct err *e)
{
    struct reward_input in = {0};
    struct reward r;
    struct db *db;
    json_t *o = body_object(rq, false, e);

    if (o == NULL)
        return -1;
    in.f.stock = -1;
    read_reward_input(o, &in, e);
    if (!in.has_code && json_object_get(o, "code") == NULL)
        body_missing("code", e);
    if (!in.has_name && json_object_get(o, "name") == NULL)
        body_missing("name", e);
    if (!in.has_kind && json_object_get(o, "kind") == NULL)
        body_missing("kind", e);
    if (!in.has_cost && json_object_get(o, "points_cost") == NULL)
        body_missing("points_cost", e);
    if (!in.has_active && json_object_get(o, "active") == NULL)
        body_missing("active", e);
    if (err_is_set(e) || check_shape(&in.f, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL || store_reward_insert(db, &in.f, &rq->arena, &r, e) < 0)
        return -1;
    return reply_reward(rs, 201, &r, e);
}

/* -------------------------------------------------------------- change -- */

/* The stored reward as the fields an update writes. */
static void fields_of(const struct reward *r, struct reward_fields *f)
{
    *f = (struct reward_fields){
        .code = r->code,
        .name = r->name,
        .kind = r->kind,
        .points_cost = r->points_cost,
        .discount_value = r->discount_value,
        .discount_pct_x100 = r->discount_pct_x100,
        .stock = r->stock,
        .min_tier = r->min_tier,
        .per_member_limit = r->per_member_limit,
        .valid_from = r->valid_from,
        .valid_until = r->valid_until,
        .active = r->active,
    };
}

/* Overwrites `f` with every field the body had. */
static void merge(const struct reward_input *in, struct reward_fields *f)
{
    if (in->has_code)
        f->code = in->f.code;
    if (in->has_name)
        f->name = in->f.name;
    if (in->has_kind)
        f->kind = in->f.kind;
    if (in->has_cost)
        f->points_cost = in->f.points_cost;
    if (in->has_value)
        f->discount_value = in->f.discount_value;
    if (in->has_pct)
        f->discount_pct_x100 = in->f.discount_pct_x100;
    if (in->has_stock)
        f->stock = in->f.stock;
    if (in->has_min_tier)
        f->min_tier = in->f.min_tier;
    if (in->has_limit)
        f->per_member_limit = in->f.per_member_limit;
    if (in->has_from)
        f->valid_from = in->f.valid_from;
    if (in->has_until)
        f->valid_until = in->f.valid_until;
    if (in->has_active)
        f->active = in->f.active;
}

/* PATCH /v1/rewards/{id} -> 200 the reward; `stock` sets what remains. */
int api_rewards_update(struct req *rq, struct resp *rs, struct err *e)
{
    struct reward_input in = {0};
    struct reward_fields f;
    struct reward cur, r;
    struct db *db;
    int64_t id;
    json_t *o = body_object(rq, false, e);

    if (o == NULL || read_reward_input(o, &in, e) < 0 || path_reward_id(rq, &id, e) < 0)
        return -1;
    db = api_db(rq, e);
    /* Locked so that a concurrent PATCH or redemption cannot slip in
     * between the merge and the write (no lost update of stock). */
    if (db == NULL || store_reward_get(db, id, REWARD_FOR_UPDATE, &rq->arena, &cur, e) < 0)
        return -1;
    if (json_object_size(o) == 0)
        return reply_reward(rs, 200, &cur, e);
    fields_of(&cur, &f);
    merge(&in, &f);
    if (check_shape(&f, e) < 0 || store_reward_update(db, id, &f, &rq->arena, &r, e) < 0)
        return -1;
    return reply_reward(rs, 200, &r, e);
}

/* --------------------------------------------------------------- list -- */

struct list_query {
    int limit;
    int64_t before;
    bool all;
};

static int read_list_query(const struct req *rq, struct list_query *q, struct err *e)
{
    static const char *const allowed[] = {"limit", "cursor", "all", NULL};
    const char *all = req_query(rq, "all");

    q->all = false;
    query_no_unknown(rq, allowed, e);
    page_query_read(rq, REWARD_ID_PREFIX, &q->limit, &q->before, e);
    if (all != NULL && strcmp(all, "true") != 0 && strcmp(all, "false") != 0)
        query_error(e, "all", "must be true or false");
    else if (all != NULL)
        q->all = strcmp(all, "true") == 0;
    if (err_is_set(e))
        return -1;
    if (q->all && rq->who.role != ROLE_ADMIN)
        return err_set(e, ERR_FORBIDDEN, "only admin keys may list inactive rewards");
    return 0;
}

/*
 * The tier codes a member of tier `tier` may take: its own and every lower
 * one (arena array, codes copied out of the snapshot).  A tier the active
 * rules no longer know takes nothing reserved.
 */
static const char **tiers_up_to(const char *tier, struct arena *a, int *n)
{
    const struct rules_snapshot *snap = rules_cache_acquire();
    int idx = rules_tier_index(&snap->rules, tier);
    const char **codes = arena_alloc(a, sizeof(*codes) * (size_t)(idx >= 0 ? idx + 1 : 1));

    *n = idx + 1;
    for (int i = 0; i <= idx; i++)
        codes[i] = arena_strdup(a, snap->rules.tiers[i].code);
    rules_cache_release(snap);
    return codes;
}

/* GET /v1/rewards?limit=&cursor=&all= : the catalog, newest first. */
int api_rewards_list(struct req *rq, struct resp *rs, struct err *e)
{
    struct list_query q;
    const char **tiers = NULL;
    int ntiers = 0;
    struct reward *items;
    struct db *db;
    json_t *arr;
    bool more;
    int n;

    if (read_list_query(rq, &q, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL)
        return -1;
    if (rq->who.role == ROLE_MEMBER) {
        struct member m;

        if (store_member_get(db, rq->who.member_id, &rq->arena, &m, e) < 0)
            return -1;
        tiers = tiers_up_to(m.tier, &rq->arena, &ntiers);
    }
    if (store_reward_list(db, q.before, q.limit, q.all, tiers, ntiers, &rq->arena, &items, &n,
                          &more, e) < 0)
        return -1;
    arr = json_array();
    for (int i = 0; i < n; i++)
        arr = page_items_add(arr, reward_json(&items[i]));
    return page_reply(rs, arr, more, REWARD_ID_PREFIX, more ? items[n - 1].id : 0, e);
}
