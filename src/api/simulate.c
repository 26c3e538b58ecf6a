/*
 * simulate.c - POST /v1/rules/simulate: what a draft rule set would have
 * granted over the purchases recorded in a window, against what was
 * granted.
 *
 * Body {rules, from, to}: `rules` is a whole rule-set document, checked as
 * PUT /v1/rules checks it (rules_check.h), its errors named from the body's
 * root ("rules.tiers[0].min_spend", "rules" for the document itself);
 * from < to, RFC 3339, at most 366 days apart.  Every purchase with
 * from <= occurred_at < to is computed again by the engine, with its lines,
 * store, moment, redeemed points and coupon as recorded, the tier it was
 * computed with, and the member's facts as they were just before it
 * (store/simulate.h).  Purchases are independent: a different number for
 * one purchase changes neither the tier nor the facts of the next.  A
 * purchase the draft refuses (redeemed points over its cap or not whole
 * minor units, totals that do not fit) counts as refused and contributes
 * its recorded numbers unchanged.
 *
 * The answer: the totals of points_earned and discount_total, actual,
 * simulated and their difference; the differences by the tier the purchase
 * was computed with (the draft's tiers in its order, then codes it does not
 * know) and by store (by store_id); and the ten members with the largest
 * |points difference| (ties: lower member id first) among those with any
 * difference.  Sums are exact in 128 bits and refused if they do not fit in
 * 64.
 *
 * Memory does not grow with the number of purchases: the store hands the
 * purchases over one at a time, one member's after another, so a member's
 * total is complete when the next member starts and only the ten largest
 * are kept; groups grow with the number of tiers and stores only.
 *
 * Must not write anything (the request's transaction only reads), contain
 * SQL, or compute points or money itself (the engine does).
 */
#include "store/simulate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/member_json.h"
#include "api/rules_check.h"
#include "api/validate.h"
#include "core/civil.h"
#include "core/xmalloc.h"
#include "rules/engine.h"

#define WINDOW_MAX_US (366 * CIVIL_US_PER_DAY)
#define TOP_MEMBERS   10

/* -Wpedantic accepts the 128-bit type only behind __extension__. */
__extension__ typedef __int128 i128;

/* ------------------------------------------------------------- groups -- */

/* The totals of one tier, store or member. */
struct group {
    const char *key;   /* request arena; NULL for a free slot */
    int64_t member_id; /* members only */
    int order;         /* while sorting for the answer */
    int64_t purchases;
    i128 points, discount; /* differences */
};

/* An open-addressing table of groups by key, grown at half full. */
struct table {
    struct group *slots; /* malloc'd; freed when the request ends */
    size_t cap, n;
};

static void free_table(void *p)
{
    free(((struct table *)p)->slots);
}

static uint64_t hash(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

static struct group *slot_for(struct group *slots, size_t cap, const char *key)
{
    size_t i = (size_t)hash(key) & (cap - 1);

    while (slots[i].key != NULL && strcmp(slots[i].key, key) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

/* The group of `key` (borrowed), created when new. */
static struct group *group_of(struct table *t, struct arena *a, const char *key)
{
    struct group *g;

    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        struct group *slots = xcalloc(cap, sizeof(*slots));

        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].key != NULL)
                *slot_for(slots, cap, t->slots[i].key) = t->slots[i];
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    g = slot_for(t->slots, t->cap, key);
    if (g->key == NULL) {
        g->key = arena_strdup(a, key);
        t->n++;
    }
    return g;
}

static void group_add(struct group *g, i128 points, i128 discount)
{
    g->purchases++;
    g->points += points;
    g->discount += discount;
}

/* ---------------------------------------------------------- the run -- */

struct run {
    const struct rules *r;
    struct arena *a;
    struct engine_result *res;                     /* reused for every purchase */
    struct engine_line_in lines[ENGINE_MAX_LINES]; /* reused for every purchase */
    int64_t purchases, refused;
    i128 points_actual, points_simulated, discount_actual, discount_simulated;
    struct table tiers, stores;
    struct group member; /* the member being summed; purchases == 0 before the first */
    struct group top[TOP_MEMBERS];
    int ntop;
};

static i128 magnitude(i128 v)
{
    return v < 0 ? -v : v;
}

/* Does `a` rank before `b` among the most affected members? */
static bool ranks_before(const struct group *a, const struct group *b)
{
    i128 ma = magnitude(a->points), mb = magnitude(b->points);

    return ma != mb ? ma > mb : a->member_id < b->member_id;
}

/* Offers the finished member to the top list, kept in rank order. */
static void close_member(struct run *s)
{
    const struct group *m = &s->member;
    int i;

    if (m->purchases == 0 || (m->points == 0 && m->discount == 0))
        return;
    if (s->ntop == TOP_MEMBERS && !ranks_before(m, &s->top[TOP_MEMBERS - 1]))
        return;
    i = s->ntop < TOP_MEMBERS ? s->ntop++ : TOP_MEMBERS - 1;
    for (; i > 0 && ranks_before(m, &s->top[i - 1]); i--)
        s->top[i] = s->top[i - 1];
    s->top[i] = *m;
}

/* The engine's input for a recorded purchase (strings borrowed from `p`). */
static void engine_input(struct run *s, const struct sim_purchase *p, struct engine_member *m,
                         struct engine_purchase *ep)
{
    for (int i = 0; i < p->nlines; i++)
        s->lines[i] = (struct engine_line_in){"", p->lines[i].category, p->lines[i].quantity,
                                              p->lines[i].unit_price};
    *m = (struct engine_member){
        .tier = p->tier_before,
        .qualifying_spend = p->qualifying_spend,
        .birthday_month = p->birthday_month,
        .birthday_day = p->birthday_day,
        .days_since_enrolled = p->days_since_enrolled,
        .purchase_count = p->purchase_count,
        .days_since_last_purchase = p->days_since_last_purchase,
        .segment = p->segment,
        .lifecycle_stage = p->lifecycle_stage,
    };
    *ep = (struct engine_purchase){
        .lines = s->lines,
        .nlines = p->nlines,
        .store_id = p->store_id,
        .occurred_at_us = p->occurred_at_us,
        .local = {p->local_year, p->local_month, p->local_day, p->local_hour, p->local_weekday},
        .redeem_points = p->redeem_points,
    };
    if (p->coupon_code != NULL) {
        ep->coupon.kind = p->coupon_value > 0 ? COUPON_VALUE : COUPON_PCT;
        ep->coupon.value = p->coupon_value;
        ep->coupon.pct_x100 = p->coupon_pct_x100;
        snprintf(ep->coupon.code, sizeof(ep->coupon.code), "%s", p->coupon_code);
    }
}

/* One recorded purchase: computed again and counted. */
static int visit(void *arg, const struct sim_purchase *p, struct err *e)
{
    struct run *s = arg;
    struct engine_member m;
    struct engine_purchase ep;
    struct err ce;
    int64_t points = p->points_earned, discount = p->discount_total;
    i128 dp, dd;

    if (p->nlines > ENGINE_MAX_LINES)
        return err_internal(e, ERR_INTERNAL, "purchase %lld has %d lines", (long long)p->id,
                            p->nlines);
    engine_input(s, p, &m, &ep);
    err_clear(&ce);
    if (engine_compute(s->r, &m, &ep, s->res, &ce) == 0) {
        points = s->res->points_earned;
        discount = s->res->discount_total;
    } else if (ce.code == ERR_VALIDATION) {
        s->refused++;
    } else {
        *e = ce;
        return -1;
    }

    dp = (i128)points - p->points_earned;
    dd = (i128)discount - p->discount_total;
    s->purchases++;
    s->points_actual += p->points_earned;
    s->points_simulated += points;
    s->discount_actual += p->discount_total;
    s->discount_simulated += discount;
    group_add(group_of(&s->tiers, s->a, p->tier_before), dp, dd);
    group_add(group_of(&s->stores, s->a, p->store_id), dp, dd);
    if (s->member.purchases > 0 && s->member.member_id != p->member_id) {
        close_member(s);
        s->member.purchases = 0;
    }
    if (s->member.purchases == 0)
        s->member = (struct group){.member_id = p->member_id};
    group_add(&s->member, dp, dd);
    return 0;
}

/* ---------------------------------------------------------- the body -- */

/* `key`: an RFC 3339 timestamp with an offset.  1 read, 0 missing, -1. */
static int read_time(json_t *body, const char *key, int64_t *us, struct err *e)
{
    const char *s;
    int rc = body_string(body, key, 1, 64, false, &s, NULL, e);

    if (rc == 0)
        return body_missing(key, e);
    if (rc < 0)
        return -1;
    if (civil_parse_rfc3339(s, us) < 0)
        return err_field(e, key, "must be an RFC 3339 timestamp with an offset");
    return 1;
}

/*
 * The rule set's errors, added to `e` under the body's field "rules":
 * "$.tiers[0].code" becomes "rules.tiers[0].code" and "$" "rules".  A
 * failure to look the time zone up counts only when the body is otherwise
 * valid.
 */
static void add_rules_errors(const struct err *re, struct err *e)
{
    bool first = !err_is_set(e);

    if (re->code != ERR_VALIDATION) {
        if (first)
            *e = *re;
        return;
    }
    for (int i = 0; i < re->nfields; i++) {
        const char *path = re->fields[i].field;
        char field[sizeof(re->fields[i].field) + 8];

        snprintf(field, sizeof(field), "rules%s", path[0] == '$' ? path + 1 : path);
        err_field(e, field, "%s", re->fields[i].message);
    }
    if (first)
        snprintf(e->detail, sizeof(e->detail), "%s", re->detail);
}

static int read_body(struct req *rq, struct rules *r, struct sim_query *q, struct err *e)
{
    static const char *const allowed[] = {"rules", "from", "to", NULL};
    json_t *body = body_object(rq, false, e);
    json_t *doc;
    struct err re;
    int from_ok, to_ok;

    if (body == NULL)
        return -1;
    body_no_unknown(body, allowed, e);
    from_ok = read_time(body, "from", &q->from_us, e);
    to_ok = read_time(body, "to", &q->to_us, e);
    if (from_ok == 1 && to_ok == 1) {
        if (q->to_us <= q->from_us)
            err_field(e, "to", "must be after from");
        else if (q->to_us - q->from_us > WINDOW_MAX_US)
            err_field(e, "to", "must be at most 366 days after from");
    }
    doc = json_object_get(body, "rules");
    if (doc == NULL)
        return body_missing("rules", e);
    err_clear(&re);
    if (rules_check_document(rq, doc, r, &re) < 0)
        add_rules_errors(&re, e);
    if (err_is_set(e))
        return -1;
    q->timezone = r->timezone;
    q->window_days = r->tier_window_days;
    return 0;
}

/* ------------------------------------------------------- the answer -- */

/* Every sum must fit the API's integers. */
static bool fits(i128 v)
{
    return v >= INT64_MIN && v <= INT64_MAX;
}

static json_t *totals_json(i128 actual, i128 simulated, bool *ok)
{
    *ok = *ok && fits(actual) && fits(simulated) && fits(simulated - actual);
    return json_pack("{s:I, s:I, s:I}", "actual", (json_int_t)actual, "simulated",
                     (json_int_t)simulated, "difference", (json_int_t)(simulated - actual));
}

static json_t *group_json(const char *key_name, const char *key, const struct group *g, bool *ok)
{
    *ok = *ok && fits(g->points) && fits(g->discount);
    return json_pack("{s:s, s:I, s:I, s:I}", key_name, key, "purchases", (json_int_t)g->purchases,
                     "points_difference", (json_int_t)g->points, "discount_difference",
                     (json_int_t)g->discount);
}

/* by_tier: the draft's tiers in its order, then codes it does not know;
 * by_store: every `order` is 0.  Ties by key. */
static int by_order(const void *a, const void *b)
{
    const struct group *ga = a, *gb = b;

    if (ga->order != gb->order)
        return ga->order < gb->order ? -1 : 1;
    return strcmp(ga->key, gb->key);
}

/* The groups of `t` as a sorted array; `r` orders tiers (NULL: by key). */
static json_t *groups_json(const struct table *t, const char *key_name, const struct rules *r,
                           bool *ok)
{
    struct group *sorted = xcalloc(t->n ? t->n : 1, sizeof(*sorted));
    json_t *arr = json_array();
    size_t n = 0;

    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key != NULL) {
            sorted[n] = t->slots[i];
            sorted[n].order = r == NULL ? 0 : rules_tier_index(r, sorted[n].key);
            if (sorted[n].order < 0)
                sorted[n].order = RULES_MAX_TIERS;
            n++;
        }
    qsort(sorted, n, sizeof(*sorted), by_order);
    for (size_t i = 0; arr != NULL && i < n; i++)
        if (json_array_append_new(arr, group_json(key_name, sorted[i].key, &sorted[i], ok)) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    free(sorted);
    return arr;
}

static json_t *top_json(const struct run *s, bool *ok)
{
    json_t *arr = json_array();

    for (int i = 0; arr != NULL && i < s->ntop; i++) {
        char id[24];

        member_id_format(id, sizeof(id), s->top[i].member_id);
        if (json_array_append_new(arr, group_json("member_id", id, &s->top[i], ok)) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static int reply(struct resp *rs, const struct sim_query *q, const struct run *s, struct err *e)
{
    char from[32], to[32];
    bool ok = true;
    json_t *body;

    civil_format_rfc3339_us(q->from_us, from);
    civil_format_rfc3339_us(q->to_us, to);
    body =
        json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "from", from, "to", to,
                  "purchases", (json_int_t)s->purchases, "refused", (json_int_t)s->refused,
                  "points", totals_json(s->points_actual, s->points_simulated, &ok), "discount",
                  totals_json(s->discount_actual, s->discount_simulated, &ok), "by_tier",
                  groups_json(&s->tiers, "tier", s->r, &ok), "by_store",
                  groups_json(&s->stores, "store_id", NULL, &ok), "top_members", top_json(s, &ok));
    if (!ok) {
        json_decref(body);
        return err_field(e, "rules", "gives totals that do not fit in 64-bit integers");
    }
    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering a simulation");
    resp_json(rs, 200, body);
    return 0;
}

/* ----------------------------------------------------------- handler -- */

int api_rules_simulate(struct req *rq, struct resp *rs, struct err *e)
{
    struct rules *r = arena_alloc(&rq->arena, sizeof(*r)); /* about 0.5 MB: never on the stack */
    struct run *s = arena_alloc(&rq->arena, sizeof(*s));
    struct sim_query q = {0};
    struct db *db;

    memset(s, 0, sizeof(*s));
    if (read_body(rq, r, &q, e) < 0)
        return -1;
    s->r = r;
    s->a = &rq->arena;
    s->res = arena_alloc(&rq->arena, sizeof(*s->res));
    arena_defer(&rq->arena, free_table, &s->tiers);
    arena_defer(&rq->arena, free_table, &s->stores);
    db = api_db(rq, e);
    if (db == NULL || store_simulate_scan(db, &q, visit, s, e) < 0)
        return -1;
    close_member(s);
    return reply(rs, &q, s, e);
}
