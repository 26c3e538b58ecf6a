/*
 * conditions.c - evaluates a promotion's `when` tree against the purchase
 * and the member.
 *
 * Pure and total: whatever the tree, evaluation ends after at most
 * RULES_MAX_NODES node visits and never reads outside rules.nodes.  Trees
 * are validated at PUT (src/api/rules_conditions.c), not here; what this
 * file must guarantee is that an invalid tree is harmless.
 *
 * Interpretation:
 *   - all: every child true (no children: true); any: some child true (no
 *     children: false); not: the opposite of its one child.
 *   - Invalid nodes - an index outside rules.nodes, all/any/not nested
 *     deeper than RULES_MAX_DEPTH (the root combinator is depth 1, so 8
 *     nested combinators with leaves under the 8th are valid), a `not`
 *     without exactly one child, an unknown fact or op, an op or value type
 *     the fact does not take, an unterminated string - make the WHOLE tree
 *     false, not just the node: otherwise `not` over an invalid node would
 *     make a promotion fire.  Every child is evaluated (no short cut), so
 *     the answer does not depend on where in the tree the invalid node is.
 *   - A tree that shares nodes (a DAG rather than a tree) could take
 *     exponential time; a valid tree visits each node at most once, so more
 *     than RULES_MAX_NODES visits means an invalid tree.
 *   - Facts and their ops: int facts take == != < <= > >= (int value) and
 *     in / not_in (int list); string facts take == != (string) and in /
 *     not_in (string list); member.is_birthday_window takes == != (bool);
 *     purchase.categories takes in (some category of the purchase is in the
 *     list), not_in (none is) and contains (string: the purchase has that
 *     category).  A list may be empty: `in` is then false, `not_in` true.
 *   - Scalar values are read from element 0 whatever `nvalues` says.
 *   - member.tier is the tier the engine uses: the member's tier code, or
 *     tiers[0] when that code is not in the rule set.
 *   - purchase.weekday is "mon".."sun" from local.weekday (0 = Monday); an
 *     out-of-range weekday is "" and equals no value.  purchase.subtotal is
 *     the sum of every line's amount (excluded lines too), item_count the
 *     sum of quantities; when either does not fit in int64 the tree is
 *     false.
 *   - Node -1 (a promotion without `when`) is true.
 *   - A NULL string from the caller (store id, segment...) is "".
 */
#include <string.h>

#include "internal.h"

enum cond_result { COND_FALSE = 0, COND_TRUE = 1, COND_INVALID = -1 };

struct cond_ctx {
    const struct rules *r;
    const struct engine_member *m;
    const struct engine_purchase *p;
    bool birthday_window;
    int budget; /* node visits left */
};

enum fact_class { FACT_CLASS_INT, FACT_CLASS_STRING, FACT_CLASS_BOOL, FACT_CLASS_LIST };

static enum fact_class class_of(enum rules_fact f)
{
    switch (f) {
    case FACT_PURCHASE_WEEKDAY:
    case FACT_PURCHASE_STORE_ID:
    case FACT_MEMBER_TIER:
    case FACT_MEMBER_SEGMENT:
    case FACT_MEMBER_LIFECYCLE_STAGE:
        return FACT_CLASS_STRING;
    case FACT_MEMBER_IS_BIRTHDAY_WINDOW:
        return FACT_CLASS_BOOL;
    case FACT_PURCHASE_CATEGORIES:
        return FACT_CLASS_LIST;
    default:
        return FACT_CLASS_INT;
    }
}

static const char *str_or_empty(const char *s)
{
    return s == NULL ? "" : s;
}

/* The value of an int fact; false when it does not fit. */
static bool int_fact(const struct cond_ctx *c, enum rules_fact f, int64_t *out)
{
    const struct engine_purchase *p = c->p;
    int n = rules_clamp_count(p->nlines, ENGINE_MAX_LINES);
    int64_t sum = 0;

    switch (f) {
    case FACT_PURCHASE_SUBTOTAL:
        for (int i = 0; i < n; i++) {
            int64_t amount;
            if (__builtin_mul_overflow(p->lines[i].quantity, p->lines[i].unit_price, &amount) ||
                __builtin_add_overflow(sum, amount, &sum))
                return false;
        }
        *out = sum;
        return true;
    case FACT_PURCHASE_ITEM_COUNT:
        for (int i = 0; i < n; i++)
            if (__builtin_add_overflow(sum, p->lines[i].quantity, &sum))
                return false;
        *out = sum;
        return true;
    case FACT_PURCHASE_HOUR:
        *out = p->local.hour;
        return true;
    case FACT_MEMBER_DAYS_SINCE_ENROLLED:
        *out = c->m->days_since_enrolled;
        return true;
    case FACT_MEMBER_PURCHASE_COUNT:
        *out = c->m->purchase_count;
        return true;
    case FACT_MEMBER_DAYS_SINCE_LAST_PURCHASE:
        *out = c->m->days_since_last_purchase;
        return true;
    default:
        return false;
    }
}

static const char *string_fact(const struct cond_ctx *c, enum rules_fact f)
{
    static const char *const weekdays[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

    switch (f) {
    case FACT_PURCHASE_WEEKDAY:
        return c->p->local.weekday >= 0 && c->p->local.weekday < 7 ? weekdays[c->p->local.weekday]
                                                                   : "";
    case FACT_PURCHASE_STORE_ID:
        return str_or_empty(c->p->store_id);
    case FACT_MEMBER_TIER: {
        int t = rules_tier_index(c->r, str_or_empty(c->m->tier));
        if (t < 0)
            t = 0;
        /* tiers[0] of a rule set without tiers is an empty code. */
        return rules_clamp_count(c->r->ntiers, RULES_MAX_TIERS) > 0 &&
                       strnlen(c->r->tiers[t].code, RULES_CODE_MAX + 1) <= RULES_CODE_MAX
                   ? c->r->tiers[t].code
                   : "";
    }
    case FACT_MEMBER_SEGMENT:
        return str_or_empty(c->m->segment);
    case FACT_MEMBER_LIFECYCLE_STAGE:
        return str_or_empty(c->m->lifecycle_stage);
    default:
        return "";
    }
}

/* Are the value strings 0..n-1 of `node` terminated inside their arrays? */
static bool strings_ok(const struct rules_node *node, int n)
{
    for (int i = 0; i < n; i++)
        if (strnlen(node->strs[i], RULES_CODE_MAX + 1) > RULES_CODE_MAX)
            return false;
    return true;
}

/* Is `s` one of the node's first n strings? */
static bool string_in(const struct rules_node *node, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(node->strs[i], s) == 0)
            return true;
    return false;
}

/* Does the purchase have a line of category `s`? */
static bool has_category(const struct engine_purchase *p, const char *s)
{
    int n = rules_clamp_count(p->nlines, ENGINE_MAX_LINES);

    for (int i = 0; i < n; i++)
        if (strcmp(str_or_empty(p->lines[i].category), s) == 0)
            return true;
    return false;
}

static enum cond_result of_bool(bool b)
{
    return b ? COND_TRUE : COND_FALSE;
}

static enum cond_result eval_int_leaf(const struct cond_ctx *c, const struct rules_node *node)
{
    int64_t v;

    if (!int_fact(c, node->fact, &v))
        return COND_INVALID;
    if (node->op == OP_IN || node->op == OP_NOT_IN) {
        if (node->type != VALUE_INT_LIST || node->nvalues < 0 || node->nvalues > RULES_MAX_VALUES)
            return COND_INVALID;
        bool found = false;
        for (int i = 0; i < node->nvalues; i++)
            if (node->ints[i] == v)
                found = true;
        return of_bool(node->op == OP_IN ? found : !found);
    }
    if (node->type != VALUE_INT)
        return COND_INVALID;
    int64_t x = node->ints[0];
    switch (node->op) {
    case OP_EQ:
        return of_bool(v == x);
    case OP_NE:
        return of_bool(v != x);
    case OP_LT:
        return of_bool(v < x);
    case OP_LE:
        return of_bool(v <= x);
    case OP_GT:
        return of_bool(v > x);
    case OP_GE:
        return of_bool(v >= x);
    default:
        return COND_INVALID;
    }
}

static enum cond_result eval_string_leaf(const struct cond_ctx *c, const struct rules_node *node)
{
    const char *v = string_fact(c, node->fact);

    switch (node->op) {
    case OP_EQ:
    case OP_NE:
        if (node->type != VALUE_STRING || !strings_ok(node, 1))
            return COND_INVALID;
        return of_bool((strcmp(v, node->strs[0]) == 0) == (node->op == OP_EQ));
    case OP_IN:
    case OP_NOT_IN:
        if (node->type != VALUE_STRING_LIST || node->nvalues < 0 ||
            node->nvalues > RULES_MAX_VALUES || !strings_ok(node, node->nvalues))
            return COND_INVALID;
        return of_bool(string_in(node, node->nvalues, v) == (node->op == OP_IN));
    default:
        return COND_INVALID;
    }
}

static enum cond_result eval_bool_leaf(const struct cond_ctx *c, const struct rules_node *node)
{
    if (node->type != VALUE_BOOL || (node->op != OP_EQ && node->op != OP_NE))
        return COND_INVALID;
    bool equal = c->birthday_window == (node->ints[0] != 0);
    return of_bool(node->op == OP_EQ ? equal : !equal);
}

static enum cond_result eval_list_leaf(const struct cond_ctx *c, const struct rules_node *node)
{
    switch (node->op) {
    case OP_CONTAINS:
        if (node->type != VALUE_STRING || !strings_ok(node, 1))
            return COND_INVALID;
        return of_bool(has_category(c->p, node->strs[0]));
    case OP_IN:
    case OP_NOT_IN: {
        if (node->type != VALUE_STRING_LIST || node->nvalues < 0 ||
            node->nvalues > RULES_MAX_VALUES || !strings_ok(node, node->nvalues))
            return COND_INVALID;
        bool any = false;
        for (int i = 0; i < node->nvalues; i++)
            if (has_category(c->p, node->strs[i]))
                any = true;
        return of_bool(node->op == OP_IN ? any : !any);
    }
    default:
        return COND_INVALID;
    }
}

static enum cond_result eval_leaf(const struct cond_ctx *c, const struct rules_node *node)
{
    if ((int)node->fact < 0 || node->fact >= FACT__COUNT)
        return COND_INVALID;
    switch (class_of(node->fact)) {
    case FACT_CLASS_INT:
        return eval_int_leaf(c, node);
    case FACT_CLASS_STRING:
        return eval_string_leaf(c, node);
    case FACT_CLASS_BOOL:
        return eval_bool_leaf(c, node);
    case FACT_CLASS_LIST:
        return eval_list_leaf(c, node);
    }
    return COND_INVALID;
}

static enum cond_result eval_node(struct cond_ctx *c, int index, int depth)
{
    int nnodes = rules_clamp_count(c->r->nnodes, RULES_MAX_NODES);

    if (index < 0 || index >= nnodes || --c->budget < 0)
        return COND_INVALID;
    const struct rules_node *node = &c->r->nodes[index];
    if (node->kind == NODE_LEAF)
        return eval_leaf(c, node);
    if (node->kind != NODE_ALL && node->kind != NODE_ANY && node->kind != NODE_NOT)
        return COND_INVALID;
    if (depth > RULES_MAX_DEPTH || node->nchildren < 0 || node->nchildren > RULES_MAX_VALUES)
        return COND_INVALID;
    if (node->kind == NODE_NOT && node->nchildren != 1)
        return COND_INVALID;

    int ntrue = 0;
    for (int i = 0; i < node->nchildren; i++) {
        enum cond_result sub = eval_node(c, node->children[i], depth + 1);
        if (sub == COND_INVALID)
            return COND_INVALID;
        ntrue += sub == COND_TRUE;
    }
    switch (node->kind) {
    case NODE_ALL:
        return of_bool(ntrue == node->nchildren);
    case NODE_ANY:
        return of_bool(ntrue > 0);
    default: /* NODE_NOT */
        return of_bool(ntrue == 0);
    }
}

bool engine_condition(const struct rules *r, int node, const struct engine_member *m,
                      const struct engine_purchase *p, bool birthday_window)
{
    struct cond_ctx c = {r, m, p, birthday_window, RULES_MAX_NODES};

    /* -1 is rules.h's "no condition": the promotion always applies. */
    if (node == -1)
        return true;
    return eval_node(&c, node, 1) == COND_TRUE;
}
