/*
 * rules_json.c - the rule-set document (the contract's "Rules" JSON) to
 * `struct rules`, with complete validation: one parser per section and the
 * parser of a promotion's condition tree, built on the validation context
 * and typed readers of rules_read.c.  rules_render.c turns a rule set back
 * into the document.
 *
 * Validation does not stop at the first problem: an admin fixing a PUT
 * /v1/rules sees every error at once, each named by its $-rooted JSON path
 * ("$.promotions[2].when.all[0].op").
 *
 * Must not compute anything with the rules (src/rules/ does), touch the
 * database or call the C library's time-zone functions: the time zone is
 * only checked for shape (the daemon asks PostgreSQL whether it exists) and
 * RFC 3339 timestamps are converted to UTC with plain arithmetic (core/civil.c,
 * through rj_read_timestamp).
 */
#include "api/rules_json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/validate.h"
#include "rules_names.h"
#include "rules_read.h"

/* Bounds the contract leaves open, chosen so that every product the engine
 * forms stays far inside 128 bits. */
#define MONEY_MAX         INT64_C(1000000000000000) /* 10^13 yuan: any spend threshold */
#define POINTS_MAX        INT64_C(1000000000)       /* as for adjustments */
#define EARN_PER_UNIT_MAX INT64_C(1000000)
#define UNIT_MAX          INT64_C(1000000000)
#define DAYS_MAX          3660

/* =================================================== conditions ======== */

/* The two tables of rules_names.h: the renderer writes the same names. */
const struct fact_name rj_facts[FACT__COUNT] = {
    [FACT_PURCHASE_SUBTOTAL] = {"purchase.subtotal", FT_INT},
    [FACT_PURCHASE_ITEM_COUNT] = {"purchase.item_count", FT_INT},
    [FACT_PURCHASE_WEEKDAY] = {"purchase.weekday", FT_STRING},
    [FACT_PURCHASE_HOUR] = {"purchase.hour", FT_INT},
    [FACT_PURCHASE_STORE_ID] = {"purchase.store_id", FT_STRING},
    [FACT_PURCHASE_CATEGORIES] = {"purchase.categories", FT_LIST},
    [FACT_MEMBER_TIER] = {"member.tier", FT_STRING},
    [FACT_MEMBER_DAYS_SINCE_ENROLLED] = {"member.days_since_enrolled", FT_INT},
    [FACT_MEMBER_PURCHASE_COUNT] = {"member.purchase_count", FT_INT},
    [FACT_MEMBER_DAYS_SINCE_LAST_PURCHASE] = {"member.days_since_last_purchase", FT_INT},
    [FACT_MEMBER_IS_BIRTHDAY_WINDOW] = {"member.is_birthday_window", FT_BOOL},
    [FACT_MEMBER_SEGMENT] = {"member.segment", FT_STRING},
    [FACT_MEMBER_LIFECYCLE_STAGE] = {"member.lifecycle_stage", FT_STRING},
};

const char *const rj_op_names[] = {
    [OP_EQ] = "==", [OP_NE] = "!=",         [OP_LT] = "<",
    [OP_LE] = "<=", [OP_GT] = ">",          [OP_GE] = ">=",
    [OP_IN] = "in", [OP_NOT_IN] = "not_in", [OP_CONTAINS] = "contains",
};

const char *const rj_birthday_windows[BIRTHDAY_MONTH + 1] = {
    [BIRTHDAY_DAY] = "day", [BIRTHDAY_WEEK] = "week", [BIRTHDAY_MONTH] = "month"};

static const char *const weekdays[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static bool op_allowed(enum fact_type t, enum rules_op op)
{
    switch (t) {
    case FT_INT:
        return op != OP_CONTAINS;
    case FT_BOOL:
        return op == OP_EQ || op == OP_NE;
    case FT_STRING:
        return op == OP_EQ || op == OP_NE || op == OP_IN || op == OP_NOT_IN;
    case FT_LIST:
        /* contains: the purchase has this category; in / not_in: some /
         * none of the purchase's categories is in the list. */
        return op == OP_CONTAINS || op == OP_IN || op == OP_NOT_IN;
    }
    return false;
}

/*
 * One scalar of the leaf's element type at the current path, stored as the
 * k-th value of `n`.  Domain checks: hours 0..23, weekdays mon..sun, tier
 * codes of this document, store ids, short strings.
 */
static bool read_scalar(struct ctx *c, enum rules_fact fact, json_t *v, struct rules_node *n, int k)
{
    const char *s;
    size_t len;

    switch (rj_facts[fact].type) {
    case FT_INT:
        if (!json_is_integer(v)) {
            rj_fail(c, "must be an integer");
            return false;
        }
        if (fact == FACT_PURCHASE_HOUR &&
            (json_integer_value(v) < 0 || json_integer_value(v) > 23)) {
            rj_fail(c, "must be between 0 and 23");
            return false;
        }
        n->ints[k] = (int64_t)json_integer_value(v);
        return true;
    case FT_BOOL:
        if (!json_is_boolean(v)) {
            rj_fail(c, "must be true or false");
            return false;
        }
        n->ints[k] = json_is_true(v) ? 1 : 0;
        return true;
    case FT_STRING:
    case FT_LIST:
        break;
    }
    if ((s = rj_string_value(c, v, &len)) == NULL)
        return false;
    switch (fact) {
    case FACT_PURCHASE_WEEKDAY: {
        bool found = false;
        for (int i = 0; i < 7; i++)
            found = found || strcmp(s, weekdays[i]) == 0;
        if (!found || strlen(s) != len) {
            rj_fail(c, "must be one of mon, tue, wed, thu, fri, sat, sun");
            return false;
        }
        break;
    }
    case FACT_MEMBER_TIER:
        if (!rj_is_code(s, len)) {
            rj_fail(c, CODE_MSG);
            return false;
        }
        if (c->tier_codes_known) {
            bool found = false;
            for (int i = 0; i < c->r->ntiers; i++)
                found = found || strcmp(s, c->r->tiers[i].code) == 0;
            if (!found) {
                rj_fail(c, "must be a tier code of this rule set");
                return false;
            }
        }
        break;
    case FACT_PURCHASE_STORE_ID:
        if (len > RULES_CODE_MAX || strlen(s) != len || !is_valid_store_id(s)) {
            rj_fail(c, "must be a store id of 1 to 32 characters of A-Z a-z 0-9 . _ -");
            return false;
        }
        break;
    case FACT_PURCHASE_CATEGORIES:
        if (!rj_is_short_text(s, len, 1)) {
            rj_fail(c, CATEGORY_MSG);
            return false;
        }
        break;
    default:
        /* Segment and life-cycle stage: "" is what an unknown one is. */
        if (!rj_is_short_text(s, len, 0)) {
            rj_fail(c, "must be at most 32 bytes without control characters");
            return false;
        }
        break;
    }
    memcpy(n->strs[k], s, len + 1);
    return true;
}

/* The leaf's `value` at the current path, for `op` on `fact`. */
static bool read_leaf_value(struct ctx *c, enum rules_fact fact, enum rules_op op, json_t *v,
                            struct rules_node *n)
{
    enum fact_type t = rj_facts[fact].type;
    bool ints = t == FT_INT || t == FT_BOOL;
    size_t i;
    json_t *item;
    bool ok = true;

    if (op != OP_IN && op != OP_NOT_IN) {
        n->type = t == FT_INT ? VALUE_INT : t == FT_BOOL ? VALUE_BOOL : VALUE_STRING;
        n->nvalues = 1;
        return read_scalar(c, fact, v, n, 0);
    }
    n->type = ints ? VALUE_INT_LIST : VALUE_STRING_LIST;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > RULES_MAX_VALUES) {
        rj_fail(c, "must be a list of 1 to %d %s", RULES_MAX_VALUES, ints ? "integers" : "strings");
        return false;
    }
    json_array_foreach (v, i, item) {
        size_t mark = rj_push_index(c, i);
        ok = read_scalar(c, fact, item, n, (int)i) && ok;
        rj_pop(c, mark);
    }
    n->nvalues = (int)json_array_size(v);
    return ok;
}

/* A fresh node index, or -1 (reported once) when the rule set is full. */
static int new_node(struct ctx *c)
{
    if (c->r->nnodes >= RULES_MAX_NODES) {
        if (!c->nodes_full)
            rj_fail(c, "too many conditions: at most %d in all promotions", RULES_MAX_NODES);
        c->nodes_full = true;
        return -1;
    }
    return c->r->nnodes++;
}

static int parse_leaf(struct ctx *c, json_t *v)
{
    static const char *const allowed[] = {"fact", "op", "value", NULL};
    json_t *jf = json_object_get(v, "fact");
    json_t *jo = json_object_get(v, "op");
    json_t *jv = json_object_get(v, "value");
    int fact = -1, op = -1, idx;
    size_t mark;
    bool ok = true;

    rj_check_unknown(c, v, allowed);
    mark = rj_push_key(c, "fact");
    if (jf == NULL) {
        rj_fail(c, "is required");
    } else if (!json_is_string(jf)) {
        rj_fail(c, "must be a string");
    } else {
        for (int i = 0; i < FACT__COUNT && fact < 0; i++)
            if (strcmp(json_string_value(jf), rj_facts[i].name) == 0)
                fact = i;
        if (fact < 0)
            rj_fail(c, "unknown fact");
    }
    rj_pop(c, mark);

    mark = rj_push_key(c, "op");
    if (jo == NULL) {
        rj_fail(c, "is required");
    } else if (!json_is_string(jo)) {
        rj_fail(c, "must be a string");
    } else {
        for (int i = 0; i < NOPS && op < 0; i++)
            if (strcmp(json_string_value(jo), rj_op_names[i]) == 0)
                op = i;
        if (op < 0)
            rj_fail(c, "unknown operator");
        else if (fact >= 0 && !op_allowed(rj_facts[fact].type, (enum rules_op)op))
            rj_fail(c, "%s is not allowed for %s", rj_op_names[op], rj_facts[fact].name);
    }
    rj_pop(c, mark);

    mark = rj_push_key(c, "value");
    if (jv == NULL)
        rj_fail(c, "is required");
    rj_pop(c, mark);

    if (fact < 0 || op < 0 || !op_allowed(rj_facts[fact].type, (enum rules_op)op) || jv == NULL)
        return -1;
    if ((idx = new_node(c)) < 0)
        return -1;
    c->r->nodes[idx].kind = NODE_LEAF;
    c->r->nodes[idx].fact = (enum rules_fact)fact;
    c->r->nodes[idx].op = (enum rules_op)op;
    mark = rj_push_key(c, "value");
    ok = read_leaf_value(c, (enum rules_fact)fact, (enum rules_op)op, jv, &c->r->nodes[idx]);
    rj_pop(c, mark);
    return ok ? idx : -1;
}

/*
 * The condition at the current path; `depth` counts the all/any/not nodes
 * from the root down to this one.  Returns its node index or -1.  Nodes are
 * numbered in document order (parent before children), so rendering and
 * parsing again reproduces the same indices.
 */
static int parse_node(struct ctx *c, json_t *v, int depth)
{
    static const char *const kinds[] = {"all", "any", "not"};
    int kind = -1, nkinds = 0, idx;
    json_t *body = NULL;
    size_t mark;

    if (!json_is_object(v)) {
        rj_fail(c, "must be a condition object");
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        json_t *b = json_object_get(v, kinds[i]);
        if (b != NULL) {
            kind = i;
            body = b;
            nkinds++;
        }
    }
    if (nkinds == 0)
        return parse_leaf(c, v);
    if (nkinds > 1) {
        rj_fail(c, "must have exactly one of all, any and not");
        return -1;
    }
    {
        const char *const allowed[] = {kinds[kind], NULL};
        rj_check_unknown(c, v, allowed);
    }
    if (depth > RULES_MAX_DEPTH) {
        rj_fail(c, "conditions nested deeper than %d levels", RULES_MAX_DEPTH);
        return -1;
    }
    if ((idx = new_node(c)) < 0)
        return -1;
    mark = rj_push_key(c, kinds[kind]);
    if (kind == 2) {
        int child;

        c->r->nodes[idx].kind = NODE_NOT;
        child = parse_node(c, body, depth + 1);
        rj_pop(c, mark);
        if (child < 0)
            return -1;
        c->r->nodes[idx].nchildren = 1;
        c->r->nodes[idx].children[0] = (int16_t)child;
        return idx;
    }
    c->r->nodes[idx].kind = kind == 0 ? NODE_ALL : NODE_ANY;
    if (!json_is_array(body) || json_array_size(body) == 0 ||
        json_array_size(body) > RULES_MAX_VALUES) {
        rj_fail(c, "must be a list of 1 to %d conditions", RULES_MAX_VALUES);
        rj_pop(c, mark);
        return -1;
    }
    {
        size_t i;
        json_t *item;
        bool ok = true;

        json_array_foreach (body, i, item) {
            size_t m2 = rj_push_index(c, i);
            int child = parse_node(c, item, depth + 1);
            rj_pop(c, m2);
            if (child < 0) {
                ok = false;
                continue;
            }
            c->r->nodes[idx].children[c->r->nodes[idx].nchildren++] = (int16_t)child;
        }
        rj_pop(c, mark);
        return ok ? idx : -1;
    }
}

/* ====================================================== sections ======= */

static void parse_currency_timezone(struct ctx *c, json_t *doc)
{
    json_t *v;
    const char *s;
    size_t len, mark;

    memcpy(c->r->currency, "CNY", 4);
    mark = rj_push_key(c, "currency");
    if ((v = json_object_get(doc, "currency")) != NULL &&
        (s = rj_string_value(c, v, &len)) != NULL) {
        if (len != 3 || strlen(s) != 3 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' ||
            s[2] < 'A' || s[2] > 'Z')
            rj_fail(c, "must be 3 uppercase letters (ISO 4217)");
        else
            memcpy(c->r->currency, s, 4);
    }
    rj_pop(c, mark);

    memcpy(c->r->timezone, "Asia/Shanghai", sizeof("Asia/Shanghai"));
    mark = rj_push_key(c, "timezone");
    if ((v = json_object_get(doc, "timezone")) != NULL &&
        (s = rj_string_value(c, v, &len)) != NULL) {
        /* The shape of an IANA name ("Area/Location", "UTC", "Etc/GMT+8");
         * whether it exists is PostgreSQL's to say. */
        bool ok = len >= 1 && len < sizeof(c->r->timezone) && strlen(s) == len &&
                  ((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) &&
                  s[len - 1] != '/' && strstr(s, "//") == NULL;
        for (size_t i = 0; ok && i < len; i++)
            ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                 (s[i] >= '0' && s[i] <= '9') || s[i] == '/' || s[i] == '_' || s[i] == '-' ||
                 s[i] == '+';
        if (!ok)
            rj_fail(c, "must be an IANA time zone name such as Asia/Shanghai");
        else
            memcpy(c->r->timezone, s, len + 1);
    }
    rj_pop(c, mark);
}

static void parse_earn(struct ctx *c, json_t *earn)
{
    static const char *const allowed[] = {"points_per_unit", "unit", "excluded_categories",
                                          "category_multipliers", NULL};
    struct rules *r = c->r;
    json_t *v;
    size_t mark;

    rj_check_unknown(c, earn, allowed);
    rj_read_int(c, earn, "points_per_unit", true, 0, 0, EARN_PER_UNIT_MAX,
                &r->earn_points_per_unit);
    rj_read_int(c, earn, "unit", true, 1, 1, UNIT_MAX, &r->earn_unit);

    if ((v = json_object_get(earn, "excluded_categories")) != NULL) {
        int n;
        mark = rj_push_key(c, "excluded_categories");
        n = rj_read_categories(c, v, RULES_MAX_CATEGORIES, r->excluded);
        r->nexcluded = n < 0 ? 0 : n;
        rj_pop(c, mark);
    }

    if ((v = json_object_get(earn, "category_multipliers")) != NULL) {
        const char *key;
        json_t *m;

        mark = rj_push_key(c, "category_multipliers");
        if (!json_is_object(v)) {
            rj_fail(c, "must be an object of category: multiplier");
        } else if (json_object_size(v) > RULES_MAX_CATEGORIES) {
            rj_fail(c, "must have at most %d categories", RULES_MAX_CATEGORIES);
        } else {
            json_object_foreach (v, key, m) {
                size_t len = strlen(key);
                int32_t x = 100;

                (void)m;
                if (!rj_is_short_text(key, len, 1)) {
                    size_t m2 = rj_push_key(c, key);
                    rj_fail(c, CATEGORY_MSG);
                    rj_pop(c, m2);
                    continue;
                }
                if (rj_read_decimal(c, v, key, true, DECIMAL_MULT, 100, &x)) {
                    struct rules_category_multiplier *cm =
                        &r->category_multipliers[r->ncategory_multipliers++];
                    memcpy(cm->category, key, len + 1);
                    cm->multiplier_x100 = x;
                }
            }
        }
        rj_pop(c, mark);
    }
}

static void parse_tier(struct ctx *c, json_t *t, int i, bool *codes_ok)
{
    static const char *const allowed[] = {
        "code", "name", "min_spend", "discount_pct", "points_multiplier", NULL};
    struct rules_tier *tier = &c->r->tiers[i];
    json_t *v;
    size_t mark;

    rj_check_unknown(c, t, allowed);
    if (!rj_read_code(c, t, "code", tier->code)) {
        *codes_ok = false;
    } else {
        for (int k = 0; k < i; k++) {
            if (strcmp(c->r->tiers[k].code, tier->code) == 0) {
                mark = rj_push_key(c, "code");
                rj_fail(c, "duplicate tier code");
                rj_pop(c, mark);
                *codes_ok = false;
                break;
            }
        }
    }

    mark = rj_push_key(c, "name");
    if ((v = json_object_get(t, "name")) == NULL) {
        rj_fail(c, "is required");
    } else {
        const char *s;
        size_t len;
        if ((s = rj_string_value(c, v, &len)) != NULL) {
            int cps = strlen(s) == len ? utf8_length(s) : -1;
            if (cps < 1 || cps > RULES_NAME_MAX)
                rj_fail(c, "must be 1 to %d characters without control characters", RULES_NAME_MAX);
            else
                memcpy(tier->name, s, len + 1);
        }
    }
    rj_pop(c, mark);

    if (rj_read_int(c, t, "min_spend", true, 0, 0, MONEY_MAX, &tier->min_spend)) {
        mark = rj_push_key(c, "min_spend");
        if (i == 0 && tier->min_spend != 0)
            rj_fail(c, "must be 0 for the first tier");
        else if (i > 0 && tier->min_spend <= c->r->tiers[i - 1].min_spend)
            rj_fail(c, "must be greater than the previous tier's");
        rj_pop(c, mark);
    } else {
        /* Keep the ascending check of the next tier quiet. */
        tier->min_spend = i == 0 ? 0 : c->r->tiers[i - 1].min_spend;
    }
    rj_read_decimal(c, t, "discount_pct", false, DECIMAL_PCT, 0, &tier->discount_pct_x100);
    rj_read_decimal(c, t, "points_multiplier", false, DECIMAL_MULT, 100,
                    &tier->points_multiplier_x100);
}

static void parse_tiers(struct ctx *c, json_t *v)
{
    size_t i;
    json_t *t;
    bool codes_ok = true;

    if (v == NULL) {
        rj_fail(c, "is required");
        return;
    }
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > RULES_MAX_TIERS) {
        rj_fail(c, "must be a list of 1 to %d tiers", RULES_MAX_TIERS);
        return;
    }
    json_array_foreach (v, i, t) {
        size_t mark = rj_push_index(c, i);
        if (!json_is_object(t)) {
            rj_fail(c, "must be an object");
            codes_ok = false;
            /* Keep later tiers' checks meaningful against this slot. */
            c->r->tiers[i].min_spend = i == 0 ? 0 : c->r->tiers[i - 1].min_spend;
        } else {
            parse_tier(c, t, (int)i, &codes_ok);
        }
        rj_pop(c, mark);
    }
    c->r->ntiers = (int)json_array_size(v);
    c->tier_codes_known = codes_ok;
}

static void parse_birthday(struct ctx *c, json_t *b)
{
    static const char *const allowed[] = {"window", "multiplier", "bonus_points", NULL};
    json_t *v;
    size_t mark;

    rj_check_unknown(c, b, allowed);
    mark = rj_push_key(c, "window");
    if ((v = json_object_get(b, "window")) != NULL) {
        int found = -1;
        if (json_is_string(v))
            for (int i = 0; i <= BIRTHDAY_MONTH; i++)
                if (strcmp(json_string_value(v), rj_birthday_windows[i]) == 0)
                    found = i;
        if (found < 0)
            rj_fail(c, "must be one of day, week, month");
        else
            c->r->birthday_window = (enum rules_birthday_window)found;
    }
    rj_pop(c, mark);
    rj_read_decimal(c, b, "multiplier", false, DECIMAL_MULT, 100, &c->r->birthday_multiplier_x100);
    rj_read_int(c, b, "bonus_points", false, 0, 0, POINTS_MAX, &c->r->birthday_bonus_points);
}

static void parse_referral(struct ctx *c, json_t *o)
{
    static const char *const allowed[] = {"referrer_points", "referee_points", "min_first_purchase",
                                          NULL};
    struct rules *r = c->r;

    rj_check_unknown(c, o, allowed);
    rj_read_int(c, o, "referrer_points", false, 0, 0, POINTS_MAX, &r->referral_referrer_points);
    rj_read_int(c, o, "referee_points", false, 0, 0, POINTS_MAX, &r->referral_referee_points);
    rj_read_int(c, o, "min_first_purchase", false, 0, 0, MONEY_MAX,
                &r->referral_min_first_purchase);
}

static void parse_promotion(struct ctx *c, json_t *o, int i)
{
    static const char *const allowed[] = {"code",         "multiplier", "bonus_points",
                                          "discount_pct", "starts_at",  "ends_at",
                                          "when",         "categories", NULL};
    struct rules_promotion *pr = &c->r->promotions[i];
    json_t *v;
    size_t mark;
    bool starts_ok, ends_ok;

    rj_check_unknown(c, o, allowed);
    if (rj_read_code(c, o, "code", pr->code)) {
        for (int k = 0; k < i; k++) {
            if (strcmp(c->r->promotions[k].code, pr->code) == 0) {
                mark = rj_push_key(c, "code");
                rj_fail(c, "duplicate promotion code");
                rj_pop(c, mark);
                break;
            }
        }
    }
    rj_read_decimal(c, o, "multiplier", false, DECIMAL_MULT, 100, &pr->multiplier_x100);
    rj_read_int(c, o, "bonus_points", false, 0, 0, POINTS_MAX, &pr->bonus_points);
    rj_read_decimal(c, o, "discount_pct", false, DECIMAL_PCT, 0, &pr->discount_pct_x100);
    starts_ok = rj_read_timestamp(c, o, "starts_at", &pr->starts_at_us);
    ends_ok = rj_read_timestamp(c, o, "ends_at", &pr->ends_at_us);
    if (starts_ok && ends_ok && pr->ends_at_us <= pr->starts_at_us) {
        mark = rj_push_key(c, "ends_at");
        rj_fail(c, "must be after starts_at");
        rj_pop(c, mark);
    }

    pr->when = -1;
    if ((v = json_object_get(o, "when")) != NULL && !json_is_null(v)) {
        mark = rj_push_key(c, "when");
        pr->when = parse_node(c, v, 1);
        rj_pop(c, mark);
    }

    if ((v = json_object_get(o, "categories")) != NULL) {
        int n;
        mark = rj_push_key(c, "categories");
        n = rj_read_categories(c, v, RULES_MAX_PROMO_CATS, pr->categories);
        pr->ncategories = n < 0 ? 0 : n;
        rj_pop(c, mark);
    }
}

static void parse_promotions(struct ctx *c, json_t *v)
{
    size_t i;
    json_t *p;

    if (!json_is_array(v)) {
        rj_fail(c, "must be a list of promotions");
        return;
    }
    if (json_array_size(v) > RULES_MAX_PROMOTIONS) {
        rj_fail(c, "must have at most %d promotions", RULES_MAX_PROMOTIONS);
        return;
    }
    json_array_foreach (v, i, p) {
        size_t mark = rj_push_index(c, i);
        if (rj_expect_object(c, p, true))
            parse_promotion(c, p, (int)i);
        rj_pop(c, mark);
    }
    c->r->npromotions = (int)json_array_size(v);
}

/* The object section `key` of the document: its parser runs when present
 * (and an object); `required` sections that are absent are an error. */
static void section(struct ctx *c, json_t *doc, const char *key, bool required,
                    void (*parse)(struct ctx *, json_t *))
{
    size_t mark = rj_push_key(c, key);

    if (rj_expect_object(c, json_object_get(doc, key), required))
        parse(c, json_object_get(doc, key));
    rj_pop(c, mark);
}

static void parse_redemption(struct ctx *c, json_t *o)
{
    static const char *const allowed[] = {"points_per_unit", "max_bill_pct", NULL};

    rj_check_unknown(c, o, allowed);
    rj_read_int(c, o, "points_per_unit", true, 1, 1, POINTS_MAX, &c->r->redemption_points_per_unit);
    rj_read_decimal(c, o, "max_bill_pct", true, DECIMAL_PCT, 0,
                    &c->r->redemption_max_bill_pct_x100);
}

static void parse_expiry(struct ctx *c, json_t *o)
{
    static const char *const allowed[] = {"months", NULL};

    rj_check_unknown(c, o, allowed);
    rj_read_int32(c, o, "months", true, 12, 1, 120, &c->r->expiry_months);
}

/*
 * insight: {rfm_period_days, high, quantile, lifecycle_days: {silent,
 * forgetting, lost}}.  `quantile` (0.01..0.99, two decimals) goes with
 * high "quantile" and only with it.  The stages must come in that order: silent < forgetting <
 * lost.
 */
static void parse_lifecycle(struct ctx *c, json_t *o)
{
    static const char *const allowed[] = {"silent", "forgetting", "lost", NULL};
    struct rules *r = c->r;
    bool ok;

    rj_check_unknown(c, o, allowed);
    ok = rj_read_int32(c, o, "silent", false, 30, 1, DAYS_MAX, &r->insight_silent_days);
    ok = rj_read_int32(c, o, "forgetting", false, 90, 1, DAYS_MAX, &r->insight_forgetting_days) &&
         ok;
    ok = rj_read_int32(c, o, "lost", false, 180, 1, DAYS_MAX, &r->insight_lost_days) && ok;
    if (ok && r->insight_forgetting_days <= r->insight_silent_days) {
        size_t mark = rj_push_key(c, "forgetting");
        rj_fail(c, "must be greater than silent");
        rj_pop(c, mark);
    }
    if (ok && r->insight_lost_days <= r->insight_forgetting_days) {
        size_t mark = rj_push_key(c, "lost");
        rj_fail(c, "must be greater than forgetting");
        rj_pop(c, mark);
    }
}

static void parse_insight(struct ctx *c, json_t *o)
{
    static const char *const allowed[] = {"rfm_period_days", "high", "quantile", "lifecycle_days",
                                          NULL};
    json_t *v;
    size_t mark;
    int64_t q;

    rj_check_unknown(c, o, allowed);
    rj_read_int32(c, o, "rfm_period_days", false, 365, 1, DAYS_MAX, &c->r->insight_rfm_period_days);
    mark = rj_push_key(c, "high");
    if ((v = json_object_get(o, "high")) != NULL) {
        if (json_is_string(v) && strcmp(json_string_value(v), "mean") == 0)
            c->r->insight_high = INSIGHT_HIGH_MEAN;
        else if (json_is_string(v) && strcmp(json_string_value(v), "median") == 0)
            c->r->insight_high = INSIGHT_HIGH_MEDIAN;
        else if (json_is_string(v) && strcmp(json_string_value(v), "quantile") == 0)
            c->r->insight_high = INSIGHT_HIGH_QUANTILE;
        else
            rj_fail(c, "must be one of mean, median, quantile");
    }
    rj_pop(c, mark);
    mark = rj_push_key(c, "quantile");
    if ((v = json_object_get(o, "quantile")) != NULL) {
        if (c->r->insight_high != INSIGHT_HIGH_QUANTILE)
            rj_fail(c, "is only allowed with high \"quantile\"");
        else if (rj_decimal_x100(v, &q) != 1 || q < 1 || q > 99)
            rj_fail(c, "must be a number from 0.01 to 0.99 with at most 2 decimals");
        else
            c->r->insight_quantile_x100 = (int32_t)q;
    } else if (c->r->insight_high == INSIGHT_HIGH_QUANTILE) {
        rj_fail(c, "is required with high \"quantile\"");
    }
    rj_pop(c, mark);
    section(c, o, "lifecycle_days", false, parse_lifecycle);
}

/* ========================================================= public ====== */

int rules_from_json(const json_t *cdoc, struct rules *out, struct err *e)
{
    static const char *const allowed[] = {"currency",
                                          "timezone",
                                          "earn",
                                          "tiers",
                                          "tier_window_days",
                                          "tier_downgrade_grace_days",
                                          "birthday",
                                          "referral",
                                          "promotions",
                                          "redemption",
                                          "expiry",
                                          "pending_days",
                                          "max_discount_pct",
                                          "insight",
                                          NULL};
    /* jansson's object iterators take a non-const object; nothing here
     * modifies the document. */
    json_t *doc = (json_t *)(uintptr_t)cdoc;
    struct ctx c;
    json_t *v;
    size_t mark;

    memset(out, 0, sizeof(*out));
    memset(&c, 0, sizeof(c));
    c.e = e;
    c.r = out;
    c.path[0] = '$';
    c.len = 1;

    if (doc == NULL || !json_is_object(doc)) {
        rj_fail(&c, "the rule set must be a JSON object");
        goto out;
    }

    /* Defaults of the optional parts; a missing birthday or referral
     * section gives nothing extra. */
    out->earn_unit = 1;
    out->tier_window_days = 365;
    out->birthday_window = BIRTHDAY_DAY;
    out->birthday_multiplier_x100 = 100;
    out->redemption_points_per_unit = 1;
    out->expiry_months = 12;
    out->max_discount_pct_x100 = 10000;
    out->insight_rfm_period_days = 365;
    out->insight_high = INSIGHT_HIGH_MEAN;
    out->insight_silent_days = 30;
    out->insight_forgetting_days = 90;
    out->insight_lost_days = 180;

    parse_currency_timezone(&c, doc);
    section(&c, doc, "earn", true, parse_earn);
    mark = rj_push_key(&c, "tiers");
    parse_tiers(&c, json_object_get(doc, "tiers"));
    rj_pop(&c, mark);
    rj_read_int32(&c, doc, "tier_window_days", false, 365, 1, DAYS_MAX, &out->tier_window_days);
    rj_read_int32(&c, doc, "tier_downgrade_grace_days", false, 0, 0, DAYS_MAX,
                  &out->tier_downgrade_grace_days);
    section(&c, doc, "birthday", false, parse_birthday);
    section(&c, doc, "referral", false, parse_referral);
    if ((v = json_object_get(doc, "promotions")) != NULL) {
        mark = rj_push_key(&c, "promotions");
        parse_promotions(&c, v);
        rj_pop(&c, mark);
    }
    section(&c, doc, "redemption", true, parse_redemption);
    section(&c, doc, "expiry", true, parse_expiry);
    rj_read_int32(&c, doc, "pending_days", false, 0, 0, 365, &out->pending_days);
    rj_read_decimal(&c, doc, "max_discount_pct", false, DECIMAL_PCT, 10000,
                    &out->max_discount_pct_x100);
    section(&c, doc, "insight", false, parse_insight);
    rj_check_unknown(&c, doc, allowed);

out:
    if (c.nerrors == 0)
        return 0;
    /* err_field keeps the first ERR_MAX_FIELDS; the detail tells how many
     * there were so nobody takes the list for the whole story. */
    if (e->code == ERR_VALIDATION) {
        if (c.nerrors > ERR_MAX_FIELDS)
            snprintf(e->detail, sizeof(e->detail),
                     "the rule set has %d errors; the first %d are listed", c.nerrors,
                     ERR_MAX_FIELDS);
        else
            snprintf(e->detail, sizeof(e->detail), "the rule set has %d error%s", c.nerrors,
                     c.nerrors == 1 ? "" : "s");
    }
    return -1;
}
