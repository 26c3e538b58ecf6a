/*
 * rules_conditions.c - a promotion's condition (its `when`) to nodes of
 * `struct rules`: the all/any/not tree and its leaves {fact, op, value},
 * with complete validation through the context and readers of rules_read.c.
 * Each fact takes only the operators its value type allows, and its values
 * are checked for their domain: hours 0..23, weekdays mon..sun, store ids,
 * tier codes of the same document.  The tree's depth and the rule set's
 * node count stay within RULES_MAX_DEPTH and RULES_MAX_NODES.  Defines the
 * fact and operator names of rules_names.h, which rules_render.c writes
 * back.
 *
 * Knows no other part of the document: rules_json.c parses the sections
 * and calls rj_parse_condition for each promotion's `when`.  Must not
 * compute anything with the rules (src/rules/conditions.c evaluates the
 * tree), touch the database or call the C library's time-zone functions.
 */
#include "rules_conditions.h"

#include <stdint.h>
#include <string.h>

#include "api/validate.h"
#include "rules_names.h"
#include "rules_read.h"

/* ========================================================== names ====== */

/* Declared in rules_names.h: the renderer writes the same names. */
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

/* ==================================================== leaf values ====== */

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

/* ========================================================== nodes ====== */

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

int rj_parse_condition(struct ctx *c, json_t *v)
{
    return parse_node(c, v, 1);
}
