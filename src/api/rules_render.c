/*
 * rules_render.c - `struct rules` back to the rule-set document (the
 * contract's "Rules" JSON), the canonical form in which PUT /v1/rules
 * stores a rule set: rules_from_json (rules_json.c) of the result gives back
 * an equal `struct rules`.
 *
 * Must not validate (rules_json.c did) or compute anything with the rules,
 * touch the database or call the C library's time-zone functions:
 * timestamps are formatted in UTC with plain arithmetic (core/civil.c).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "api/rules_json.h"
#include "core/civil.h"
#include "rules_names.h"

/* ------------------------------------------------------- rendering ----- */

/* A sticky builder: the first failed allocation makes the whole result
 * NULL, checked once at the end. */
struct out {
    bool ok;
};

static void put(struct out *b, json_t *o, const char *key, json_t *v)
{
    if (o == NULL || json_object_set_new(o, key, v) < 0)
        b->ok = false;
}

static void push(struct out *b, json_t *a, json_t *v)
{
    if (a == NULL || json_array_append_new(a, v) < 0)
        b->ok = false;
}

/* Hundredths as a JSON number: an integer when whole, else a real. */
static json_t *x100_json(int64_t x)
{
    if (x % 100 == 0)
        return json_integer((json_int_t)(x / 100));
    return json_real((double)x / 100.0);
}

static json_t *ts_json(int64_t us)
{
    char buf[32];

    civil_format_rfc3339(us, buf);
    return json_string(buf);
}

static json_t *scalar_json(const struct rules_node *n, int k)
{
    switch (n->type) {
    case VALUE_INT:
    case VALUE_INT_LIST:
        return json_integer((json_int_t)n->ints[k]);
    case VALUE_BOOL:
        return json_boolean(n->ints[k] != 0);
    case VALUE_STRING:
    case VALUE_STRING_LIST:
        break;
    }
    return json_stringn(n->strs[k], strnlen(n->strs[k], RULES_CODE_MAX));
}

static json_t *node_json(const struct rules *r, int idx, int depth, struct out *b)
{
    const struct rules_node *n;
    json_t *o = json_object();

    if (idx < 0 || idx >= r->nnodes || idx >= RULES_MAX_NODES || depth > RULES_MAX_DEPTH + 1) {
        b->ok = false;
        return o;
    }
    n = &r->nodes[idx];
    if (n->kind == NODE_LEAF) {
        int nv = n->nvalues < 0 ? 0 : n->nvalues > RULES_MAX_VALUES ? RULES_MAX_VALUES : n->nvalues;

        put(b, o, "fact",
            json_string((unsigned)n->fact < FACT__COUNT ? rj_facts[n->fact].name : "?"));
        put(b, o, "op", json_string((unsigned)n->op < (unsigned)NOPS ? rj_op_names[n->op] : "?"));
        if (n->type == VALUE_INT_LIST || n->type == VALUE_STRING_LIST) {
            json_t *a = json_array();
            for (int k = 0; k < nv; k++)
                push(b, a, scalar_json(n, k));
            put(b, o, "value", a);
        } else {
            put(b, o, "value", scalar_json(n, 0));
        }
    } else if (n->kind == NODE_NOT) {
        put(b, o, "not", node_json(r, n->children[0], depth + 1, b));
    } else {
        json_t *a = json_array();
        int nc = n->nchildren < 0                  ? 0
                 : n->nchildren > RULES_MAX_VALUES ? RULES_MAX_VALUES
                                                   : n->nchildren;
        for (int k = 0; k < nc; k++)
            push(b, a, node_json(r, n->children[k], depth + 1, b));
        put(b, o, n->kind == NODE_ALL ? "all" : "any", a);
    }
    return o;
}

static json_t *codes_json(const char (*codes)[RULES_CODE_MAX + 1], int n, struct out *b)
{
    json_t *a = json_array();

    for (int i = 0; i < n; i++)
        push(b, a, json_stringn(codes[i], strnlen(codes[i], RULES_CODE_MAX)));
    return a;
}

json_t *rules_to_json(const struct rules *r)
{
    struct out b = {true};
    json_t *doc = json_object();
    json_t *o, *a;

    put(&b, doc, "currency", json_string(r->currency));
    put(&b, doc, "timezone", json_string(r->timezone));

    o = json_object();
    put(&b, o, "points_per_unit", json_integer((json_int_t)r->earn_points_per_unit));
    put(&b, o, "unit", json_integer((json_int_t)r->earn_unit));
    put(&b, o, "excluded_categories", codes_json(r->excluded, r->nexcluded, &b));
    {
        json_t *m = json_object();
        for (int i = 0; i < r->ncategory_multipliers; i++)
            put(&b, m, r->category_multipliers[i].category,
                x100_json(r->category_multipliers[i].multiplier_x100));
        put(&b, o, "category_multipliers", m);
    }
    put(&b, doc, "earn", o);

    a = json_array();
    for (int i = 0; i < r->ntiers && i < RULES_MAX_TIERS; i++) {
        const struct rules_tier *t = &r->tiers[i];
        o = json_object();
        put(&b, o, "code", json_string(t->code));
        put(&b, o, "name", json_string(t->name));
        put(&b, o, "min_spend", json_integer((json_int_t)t->min_spend));
        put(&b, o, "discount_pct", x100_json(t->discount_pct_x100));
        put(&b, o, "points_multiplier", x100_json(t->points_multiplier_x100));
        push(&b, a, o);
    }
    put(&b, doc, "tiers", a);
    put(&b, doc, "tier_window_days", json_integer(r->tier_window_days));
    put(&b, doc, "tier_downgrade_grace_days", json_integer(r->tier_downgrade_grace_days));

    o = json_object();
    put(&b, o, "window",
        json_string((unsigned)r->birthday_window <= BIRTHDAY_MONTH
                        ? rj_birthday_windows[r->birthday_window]
                        : "day"));
    put(&b, o, "multiplier", x100_json(r->birthday_multiplier_x100));
    put(&b, o, "bonus_points", json_integer((json_int_t)r->birthday_bonus_points));
    put(&b, doc, "birthday", o);

    o = json_object();
    put(&b, o, "referrer_points", json_integer((json_int_t)r->referral_referrer_points));
    put(&b, o, "referee_points", json_integer((json_int_t)r->referral_referee_points));
    put(&b, o, "min_first_purchase", json_integer((json_int_t)r->referral_min_first_purchase));
    put(&b, doc, "referral", o);

    a = json_array();
    for (int i = 0; i < r->npromotions && i < RULES_MAX_PROMOTIONS; i++) {
        const struct rules_promotion *p = &r->promotions[i];
        o = json_object();
        put(&b, o, "code", json_string(p->code));
        put(&b, o, "multiplier", x100_json(p->multiplier_x100));
        put(&b, o, "bonus_points", json_integer((json_int_t)p->bonus_points));
        put(&b, o, "discount_pct", x100_json(p->discount_pct_x100));
        put(&b, o, "starts_at", ts_json(p->starts_at_us));
        put(&b, o, "ends_at", ts_json(p->ends_at_us));
        if (p->when >= 0)
            put(&b, o, "when", node_json(r, p->when, 1, &b));
        put(&b, o, "categories", codes_json(p->categories, p->ncategories, &b));
        push(&b, a, o);
    }
    put(&b, doc, "promotions", a);

    o = json_object();
    put(&b, o, "points_per_unit", json_integer((json_int_t)r->redemption_points_per_unit));
    put(&b, o, "max_bill_pct", x100_json(r->redemption_max_bill_pct_x100));
    put(&b, doc, "redemption", o);

    o = json_object();
    put(&b, o, "months", json_integer(r->expiry_months));
    put(&b, doc, "expiry", o);
    put(&b, doc, "pending_days", json_integer(r->pending_days));
    put(&b, doc, "max_discount_pct", x100_json(r->max_discount_pct_x100));

    o = json_object();
    put(&b, o, "rfm_period_days", json_integer(r->insight_rfm_period_days));
    put(&b, o, "high", json_string(rules_insight_high_name(r->insight_high)));
    if (r->insight_high == INSIGHT_HIGH_QUANTILE)
        put(&b, o, "quantile", x100_json(r->insight_quantile_x100));
    a = json_object();
    put(&b, a, "silent", json_integer(r->insight_silent_days));
    put(&b, a, "forgetting", json_integer(r->insight_forgetting_days));
    put(&b, a, "lost", json_integer(r->insight_lost_days));
    put(&b, o, "lifecycle_days", a);
    put(&b, doc, "insight", o);

    if (!b.ok) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}
