/*
 * rules_json.c - the rule-set document (the contract's "Rules" JSON) to and
 * from `struct rules`, with complete validation.
 *
 * Validation does not stop at the first problem: an admin fixing a PUT
 * /v1/rules sees every error at once, each named by its $-rooted JSON path
 * ("$.promotions[2].when.all[0].op").  Multipliers and percentages become
 * exact hundredths here so that nothing after this file sees a double.
 *
 * Must not compute anything with the rules (src/rules/ does), touch the
 * database or call the C library's time-zone functions: the time zone is
 * only checked for shape (the daemon asks PostgreSQL whether it exists) and
 * RFC 3339 timestamps are converted to UTC with plain arithmetic (core/civil.c).
 */
#include "api/rules_json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/validate.h"
#include "core/civil.h"

/* Bounds the contract leaves open, chosen so that every product the engine
 * forms stays far inside 128 bits. */
#define MONEY_MAX         INT64_C(1000000000000000) /* 10^13 yuan: any spend threshold */
#define POINTS_MAX        INT64_C(1000000000)       /* as for adjustments */
#define EARN_PER_UNIT_MAX INT64_C(1000000)
#define UNIT_MAX          INT64_C(1000000000)
#define DAYS_MAX          3660

/* ============================================================ context === */

/* The state of one validation: where we are in the document and how many
 * errors were found (err_field keeps only the first ERR_MAX_FIELDS). */
struct ctx {
    struct err *e;
    struct rules *r;
    int nerrors;
    bool tier_codes_known; /* every tier code valid and unique: conditions may check them */
    bool nodes_full;       /* the node capacity error was reported once */
    size_t len;
    char path[512];
};

static void fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records an error at the current path. */
static void fail(struct ctx *c, const char *fmt, ...)
{
    char msg[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->nerrors++;
    err_field(c->e, c->path, "%s", msg);
}

static void append(struct ctx *c, const char *s, size_t n)
{
    size_t room = sizeof(c->path) - 1 - c->len;

    if (n > room)
        n = room;
    memcpy(c->path + c->len, s, n);
    c->len += n;
    c->path[c->len] = '\0';
}

static bool is_identifier(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

/*
 * Appends ".key", or "['key']" when the key is not a plain identifier, and
 * returns the mark to pop back to.  A long key is cut at a character
 * boundary: the path has to fit an error field, not reproduce the key.
 */
static size_t push_key(struct ctx *c, const char *key)
{
    size_t mark = c->len;
    size_t n = strlen(key);

    if (n > 48) {
        n = 48;
        while (n > 0 && ((unsigned char)key[n] & 0xC0) == 0x80)
            n--;
    }
    if (is_identifier(key)) {
        append(c, ".", 1);
        append(c, key, n);
        return mark;
    }
    append(c, "['", 2);
    for (size_t i = 0; i < n; i++) {
        if (key[i] == '\'' || key[i] == '\\')
            append(c, "\\", 1);
        append(c, key + i, 1);
    }
    append(c, "']", 2);
    return mark;
}

static size_t push_index(struct ctx *c, size_t i)
{
    size_t mark = c->len;
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "[%zu]", i);

    append(c, buf, (size_t)n);
    return mark;
}

static void pop(struct ctx *c, size_t mark)
{
    c->len = mark;
    c->path[mark] = '\0';
}

/* ====================================================== basic readers === */

/* Reports every key of `o` that is not in the NULL-terminated `allowed`. */
static void check_unknown(struct ctx *c, json_t *o, const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach (o, key, v) {
        const char *const *a = allowed;

        (void)v;
        while (*a != NULL && strcmp(*a, key) != 0)
            a++;
        if (*a == NULL) {
            size_t mark = push_key(c, key);
            fail(c, "unknown field");
            pop(c, mark);
        }
    }
}

/* `v` (at the current path) is an object; errors for absent-but-required
 * and for other types.  False when there is nothing to read. */
static bool expect_object(struct ctx *c, json_t *v, bool required)
{
    if (v == NULL) {
        if (required)
            fail(c, "is required");
        return false;
    }
    if (!json_is_object(v)) {
        fail(c, "must be an object");
        return false;
    }
    return true;
}

/*
 * An integer field `key` of `o` in [min, max].  Absent: `dflt` (or "is
 * required").  Writes *out only when valid.  Returns false on error.
 */
static bool read_int(struct ctx *c, json_t *o, const char *key, bool required, int64_t dflt,
                     int64_t min, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    size_t mark = push_key(c, key);
    bool ok = true;

    if (v == NULL) {
        if (required) {
            fail(c, "is required");
            ok = false;
        } else {
            *out = dflt;
        }
    } else if (!json_is_integer(v)) {
        fail(c, "must be an integer");
        ok = false;
    } else if (json_integer_value(v) < min || json_integer_value(v) > max) {
        fail(c, "must be between %" PRId64 " and %" PRId64, min, max);
        ok = false;
    } else {
        *out = (int64_t)json_integer_value(v);
    }
    pop(c, mark);
    return ok;
}

static bool read_int32(struct ctx *c, json_t *o, const char *key, bool required, int32_t dflt,
                       int32_t min, int32_t max, int32_t *out)
{
    int64_t v = dflt;
    bool ok = read_int(c, o, key, required, dflt, min, max, &v);

    if (ok)
        *out = (int32_t)v;
    return ok;
}

/*
 * A decimal number with at most 2 decimals as exact hundredths.  jansson
 * hands reals over as doubles, so 1.25 arrives as the double nearest to
 * it: the value x 100 rounded is the intended number when it is within
 * 1e-6 of the product, and anything further away had more decimals.
 * Returns 1 (valid), 0 (not a number), -1 (more than 2 decimals) or -2 (out
 * of the +-10^6 range that any field here could accept).
 */
static int decimal_x100(json_t *v, int64_t *out)
{
    double d;
    double scaled;
    double diff;
    int64_t k;

    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < -1000000 || n > 1000000)
            return -2;
        *out = (int64_t)n * 100;
        return 1;
    }
    if (!json_is_real(v))
        return 0;
    d = json_real_value(v);
    if (!(d >= -1e6 && d <= 1e6))
        return -2;
    scaled = d * 100.0;
    k = (int64_t)(scaled >= 0 ? scaled + 0.5 : scaled - 0.5);
    diff = scaled - (double)k;
    if (diff > 1e-6 || diff < -1e-6)
        return -1;
    *out = k;
    return 1;
}

enum decimal_kind {
    DECIMAL_PCT,  /* 0 .. 100 */
    DECIMAL_MULT, /* 0 < m <= 100 */
};

/* A percentage or multiplier field `key` of `o`; absent: `dflt_x100`. */
static bool read_decimal(struct ctx *c, json_t *o, const char *key, bool required,
                         enum decimal_kind kind, int32_t dflt_x100, int32_t *out)
{
    json_t *v = json_object_get(o, key);
    size_t mark = push_key(c, key);
    int64_t x = dflt_x100;
    int rc;
    bool ok = false;

    if (v == NULL) {
        if (required)
            fail(c, "is required");
        else
            ok = true;
        goto out;
    }
    rc = decimal_x100(v, &x);
    if (rc == 0) {
        fail(c, "must be a number");
    } else if (rc == -1) {
        fail(c, "must have at most 2 decimals");
    } else if (kind == DECIMAL_MULT && (rc == -2 || x <= 0 || x > 10000)) {
        fail(c, "must be greater than 0 and at most 100");
    } else if (kind == DECIMAL_PCT && (rc == -2 || x < 0 || x > 10000)) {
        fail(c, "must be between 0 and 100");
    } else {
        ok = true;
    }
out:
    if (ok)
        *out = (int32_t)x;
    pop(c, mark);
    return ok;
}

/* ================================================== value formats ====== */

/* A code (tier, promotion): 1..RULES_CODE_MAX of [A-Za-z0-9._-]. */
static bool is_code(const char *s, size_t len)
{
    if (len == 0 || len > RULES_CODE_MAX || strlen(s) != len)
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

/* A free-form short string (category, segment): min..RULES_CODE_MAX bytes of
 * UTF-8 without control characters. */
static bool is_short_text(const char *s, size_t len, size_t min)
{
    return len >= min && len <= RULES_CODE_MAX && strlen(s) == len && utf8_length(s) >= 0;
}

#define CODE_MSG     "must be 1 to 32 characters of A-Z a-z 0-9 . _ -"
#define CATEGORY_MSG "must be a category of 1 to 32 bytes without control characters"

/* The string at the current path, or NULL after an error. */
static const char *string_value(struct ctx *c, json_t *v, size_t *len)
{
    if (!json_is_string(v)) {
        fail(c, "must be a string");
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

/* The required string field `key` of `o`, whose path the caller pushed;
 * NULL after an error. */
static const char *required_string(struct ctx *c, json_t *o, const char *key, size_t *len)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL) {
        fail(c, "is required");
        return NULL;
    }
    return string_value(c, v, len);
}

/* A code field (required), copied into dst (RULES_CODE_MAX + 1 bytes). */
static bool read_code(struct ctx *c, json_t *o, const char *key, char *dst)
{
    size_t mark = push_key(c, key);
    size_t len;
    const char *s = required_string(c, o, key, &len);
    bool ok = s != NULL && is_code(s, len);

    if (ok)
        memcpy(dst, s, len + 1);
    else if (s != NULL)
        fail(c, CODE_MSG);
    pop(c, mark);
    return ok;
}

/*
 * A list of unique categories at the current path, at most `max`, into
 * dst[][RULES_CODE_MAX + 1].  Returns the count, or -1 after an error.
 */
static int read_categories(struct ctx *c, json_t *v, int max, char (*dst)[RULES_CODE_MAX + 1])
{
    size_t i;
    json_t *item;
    int n = 0;
    bool ok = true;

    if (!json_is_array(v)) {
        fail(c, "must be a list of categories");
        return -1;
    }
    if (json_array_size(v) > (size_t)max) {
        fail(c, "must have at most %d categories", max);
        return -1;
    }
    json_array_foreach (v, i, item) {
        size_t mark = push_index(c, i);
        const char *s;
        size_t len;

        if ((s = string_value(c, item, &len)) == NULL) {
            ok = false;
        } else if (!is_short_text(s, len, 1)) {
            fail(c, CATEGORY_MSG);
            ok = false;
        } else {
            bool dup = false;
            for (int k = 0; k < n; k++)
                dup = dup || strcmp(dst[k], s) == 0;
            if (dup) {
                fail(c, "duplicate category");
                ok = false;
            } else {
                memcpy(dst[n++], s, len + 1);
            }
        }
        pop(c, mark);
    }
    return ok ? n : -1;
}

/* ----------------------------------------------------- timestamps ------ */

static bool read_timestamp(struct ctx *c, json_t *o, const char *key, int64_t *out)
{
    size_t mark = push_key(c, key);
    size_t len;
    const char *s = required_string(c, o, key, &len);
    bool ok = s != NULL && strlen(s) == len && civil_parse_rfc3339(s, out) == 0;

    if (s != NULL && !ok)
        fail(c, "must be an RFC 3339 timestamp with offset");
    pop(c, mark);
    return ok;
}

/* =================================================== conditions ======== */

enum fact_type { FT_INT, FT_BOOL, FT_STRING, FT_LIST };

static const struct {
    const char *name;
    enum fact_type type;
} facts[FACT__COUNT] = {
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

static const char *const op_names[] = {
    [OP_EQ] = "==", [OP_NE] = "!=",         [OP_LT] = "<",
    [OP_LE] = "<=", [OP_GT] = ">",          [OP_GE] = ">=",
    [OP_IN] = "in", [OP_NOT_IN] = "not_in", [OP_CONTAINS] = "contains",
};
#define NOPS ((int)(sizeof(op_names) / sizeof(op_names[0])))

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

    switch (facts[fact].type) {
    case FT_INT:
        if (!json_is_integer(v)) {
            fail(c, "must be an integer");
            return false;
        }
        if (fact == FACT_PURCHASE_HOUR &&
            (json_integer_value(v) < 0 || json_integer_value(v) > 23)) {
            fail(c, "must be between 0 and 23");
            return false;
        }
        n->ints[k] = (int64_t)json_integer_value(v);
        return true;
    case FT_BOOL:
        if (!json_is_boolean(v)) {
            fail(c, "must be true or false");
            return false;
        }
        n->ints[k] = json_is_true(v) ? 1 : 0;
        return true;
    case FT_STRING:
    case FT_LIST:
        break;
    }
    if ((s = string_value(c, v, &len)) == NULL)
        return false;
    switch (fact) {
    case FACT_PURCHASE_WEEKDAY: {
        bool found = false;
        for (int i = 0; i < 7; i++)
            found = found || strcmp(s, weekdays[i]) == 0;
        if (!found || strlen(s) != len) {
            fail(c, "must be one of mon, tue, wed, thu, fri, sat, sun");
            return false;
        }
        break;
    }
    case FACT_MEMBER_TIER:
        if (!is_code(s, len)) {
            fail(c, CODE_MSG);
            return false;
        }
        if (c->tier_codes_known) {
            bool found = false;
            for (int i = 0; i < c->r->ntiers; i++)
                found = found || strcmp(s, c->r->tiers[i].code) == 0;
            if (!found) {
                fail(c, "must be a tier code of this rule set");
                return false;
            }
        }
        break;
    case FACT_PURCHASE_STORE_ID:
        if (len > RULES_CODE_MAX || strlen(s) != len || !is_valid_store_id(s)) {
            fail(c, "must be a store id of 1 to 32 characters of A-Z a-z 0-9 . _ -");
            return false;
        }
        break;
    case FACT_PURCHASE_CATEGORIES:
        if (!is_short_text(s, len, 1)) {
            fail(c, CATEGORY_MSG);
            return false;
        }
        break;
    default:
        /* Segment and life-cycle stage: "" is what an unknown one is. */
        if (!is_short_text(s, len, 0)) {
            fail(c, "must be at most 32 bytes without control characters");
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
    enum fact_type t = facts[fact].type;
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
        fail(c, "must be a list of 1 to %d %s", RULES_MAX_VALUES, ints ? "integers" : "strings");
        return false;
    }
    json_array_foreach (v, i, item) {
        size_t mark = push_index(c, i);
        ok = read_scalar(c, fact, item, n, (int)i) && ok;
        pop(c, mark);
    }
    n->nvalues = (int)json_array_size(v);
    return ok;
}

/* A fresh node index, or -1 (reported once) when the rule set is full. */
static int new_node(struct ctx *c)
{
    if (c->r->nnodes >= RULES_MAX_NODES) {
        if (!c->nodes_full)
            fail(c, "too many conditions: at most %d in all promotions", RULES_MAX_NODES);
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

    check_unknown(c, v, allowed);
    mark = push_key(c, "fact");
    if (jf == NULL) {
        fail(c, "is required");
    } else if (!json_is_string(jf)) {
        fail(c, "must be a string");
    } else {
        for (int i = 0; i < FACT__COUNT && fact < 0; i++)
            if (strcmp(json_string_value(jf), facts[i].name) == 0)
                fact = i;
        if (fact < 0)
            fail(c, "unknown fact");
    }
    pop(c, mark);

    mark = push_key(c, "op");
    if (jo == NULL) {
        fail(c, "is required");
    } else if (!json_is_string(jo)) {
        fail(c, "must be a string");
    } else {
        for (int i = 0; i < NOPS && op < 0; i++)
            if (strcmp(json_string_value(jo), op_names[i]) == 0)
                op = i;
        if (op < 0)
            fail(c, "unknown operator");
        else if (fact >= 0 && !op_allowed(facts[fact].type, (enum rules_op)op))
            fail(c, "%s is not allowed for %s", op_names[op], facts[fact].name);
    }
    pop(c, mark);

    mark = push_key(c, "value");
    if (jv == NULL)
        fail(c, "is required");
    pop(c, mark);

    if (fact < 0 || op < 0 || !op_allowed(facts[fact].type, (enum rules_op)op) || jv == NULL)
        return -1;
    if ((idx = new_node(c)) < 0)
        return -1;
    c->r->nodes[idx].kind = NODE_LEAF;
    c->r->nodes[idx].fact = (enum rules_fact)fact;
    c->r->nodes[idx].op = (enum rules_op)op;
    mark = push_key(c, "value");
    ok = read_leaf_value(c, (enum rules_fact)fact, (enum rules_op)op, jv, &c->r->nodes[idx]);
    pop(c, mark);
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
        fail(c, "must be a condition object");
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
        fail(c, "must have exactly one of all, any and not");
        return -1;
    }
    {
        const char *const allowed[] = {kinds[kind], NULL};
        check_unknown(c, v, allowed);
    }
    if (depth > RULES_MAX_DEPTH) {
        fail(c, "conditions nested deeper than %d levels", RULES_MAX_DEPTH);
        return -1;
    }
    if ((idx = new_node(c)) < 0)
        return -1;
    mark = push_key(c, kinds[kind]);
    if (kind == 2) {
        int child;

        c->r->nodes[idx].kind = NODE_NOT;
        child = parse_node(c, body, depth + 1);
        pop(c, mark);
        if (child < 0)
            return -1;
        c->r->nodes[idx].nchildren = 1;
        c->r->nodes[idx].children[0] = (int16_t)child;
        return idx;
    }
    c->r->nodes[idx].kind = kind == 0 ? NODE_ALL : NODE_ANY;
    if (!json_is_array(body) || json_array_size(body) == 0 ||
        json_array_size(body) > RULES_MAX_VALUES) {
        fail(c, "must be a list of 1 to %d conditions", RULES_MAX_VALUES);
        pop(c, mark);
        return -1;
    }
    {
        size_t i;
        json_t *item;
        bool ok = true;

        json_array_foreach (body, i, item) {
            size_t m2 = push_index(c, i);
            int child = parse_node(c, item, depth + 1);
            pop(c, m2);
            if (child < 0) {
                ok = false;
                continue;
            }
            c->r->nodes[idx].children[c->r->nodes[idx].nchildren++] = (int16_t)child;
        }
        pop(c, mark);
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
    mark = push_key(c, "currency");
    if ((v = json_object_get(doc, "currency")) != NULL && (s = string_value(c, v, &len)) != NULL) {
        if (len != 3 || strlen(s) != 3 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' ||
            s[2] < 'A' || s[2] > 'Z')
            fail(c, "must be 3 uppercase letters (ISO 4217)");
        else
            memcpy(c->r->currency, s, 4);
    }
    pop(c, mark);

    memcpy(c->r->timezone, "Asia/Shanghai", sizeof("Asia/Shanghai"));
    mark = push_key(c, "timezone");
    if ((v = json_object_get(doc, "timezone")) != NULL && (s = string_value(c, v, &len)) != NULL) {
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
            fail(c, "must be an IANA time zone name such as Asia/Shanghai");
        else
            memcpy(c->r->timezone, s, len + 1);
    }
    pop(c, mark);
}

static void parse_earn(struct ctx *c, json_t *earn)
{
    static const char *const allowed[] = {"points_per_unit", "unit", "excluded_categories",
                                          "category_multipliers", NULL};
    struct rules *r = c->r;
    json_t *v;
    size_t mark;

    check_unknown(c, earn, allowed);
    read_int(c, earn, "points_per_unit", true, 0, 0, EARN_PER_UNIT_MAX, &r->earn_points_per_unit);
    read_int(c, earn, "unit", true, 1, 1, UNIT_MAX, &r->earn_unit);

    if ((v = json_object_get(earn, "excluded_categories")) != NULL) {
        int n;
        mark = push_key(c, "excluded_categories");
        n = read_categories(c, v, RULES_MAX_CATEGORIES, r->excluded);
        r->nexcluded = n < 0 ? 0 : n;
        pop(c, mark);
    }

    if ((v = json_object_get(earn, "category_multipliers")) != NULL) {
        const char *key;
        json_t *m;

        mark = push_key(c, "category_multipliers");
        if (!json_is_object(v)) {
            fail(c, "must be an object of category: multiplier");
        } else if (json_object_size(v) > RULES_MAX_CATEGORIES) {
            fail(c, "must have at most %d categories", RULES_MAX_CATEGORIES);
        } else {
            json_object_foreach (v, key, m) {
                size_t len = strlen(key);
                int32_t x = 100;

                (void)m;
                if (!is_short_text(key, len, 1)) {
                    size_t m2 = push_key(c, key);
                    fail(c, CATEGORY_MSG);
                    pop(c, m2);
                    continue;
                }
                if (read_decimal(c, v, key, true, DECIMAL_MULT, 100, &x)) {
                    struct rules_category_multiplier *cm =
                        &r->category_multipliers[r->ncategory_multipliers++];
                    memcpy(cm->category, key, len + 1);
                    cm->multiplier_x100 = x;
                }
            }
        }
        pop(c, mark);
    }
}

static void parse_tier(struct ctx *c, json_t *t, int i, bool *codes_ok)
{
    static const char *const allowed[] = {
        "code", "name", "min_spend", "discount_pct", "points_multiplier", NULL};
    struct rules_tier *tier = &c->r->tiers[i];
    json_t *v;
    size_t mark;

    check_unknown(c, t, allowed);
    if (!read_code(c, t, "code", tier->code)) {
        *codes_ok = false;
    } else {
        for (int k = 0; k < i; k++) {
            if (strcmp(c->r->tiers[k].code, tier->code) == 0) {
                mark = push_key(c, "code");
                fail(c, "duplicate tier code");
                pop(c, mark);
                *codes_ok = false;
                break;
            }
        }
    }

    mark = push_key(c, "name");
    if ((v = json_object_get(t, "name")) == NULL) {
        fail(c, "is required");
    } else {
        const char *s;
        size_t len;
        if ((s = string_value(c, v, &len)) != NULL) {
            int cps = strlen(s) == len ? utf8_length(s) : -1;
            if (cps < 1 || cps > RULES_NAME_MAX)
                fail(c, "must be 1 to %d characters without control characters", RULES_NAME_MAX);
            else
                memcpy(tier->name, s, len + 1);
        }
    }
    pop(c, mark);

    if (read_int(c, t, "min_spend", true, 0, 0, MONEY_MAX, &tier->min_spend)) {
        mark = push_key(c, "min_spend");
        if (i == 0 && tier->min_spend != 0)
            fail(c, "must be 0 for the first tier");
        else if (i > 0 && tier->min_spend <= c->r->tiers[i - 1].min_spend)
            fail(c, "must be greater than the previous tier's");
        pop(c, mark);
    } else {
        /* Keep the ascending check of the next tier quiet. */
        tier->min_spend = i == 0 ? 0 : c->r->tiers[i - 1].min_spend;
    }
    read_decimal(c, t, "discount_pct", false, DECIMAL_PCT, 0, &tier->discount_pct_x100);
    read_decimal(c, t, "points_multiplier", false, DECIMAL_MULT, 100,
                 &tier->points_multiplier_x100);
}

static void parse_tiers(struct ctx *c, json_t *v)
{
    size_t i;
    json_t *t;
    bool codes_ok = true;

    if (v == NULL) {
        fail(c, "is required");
        return;
    }
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > RULES_MAX_TIERS) {
        fail(c, "must be a list of 1 to %d tiers", RULES_MAX_TIERS);
        return;
    }
    json_array_foreach (v, i, t) {
        size_t mark = push_index(c, i);
        if (!json_is_object(t)) {
            fail(c, "must be an object");
            codes_ok = false;
            /* Keep later tiers' checks meaningful against this slot. */
            c->r->tiers[i].min_spend = i == 0 ? 0 : c->r->tiers[i - 1].min_spend;
        } else {
            parse_tier(c, t, (int)i, &codes_ok);
        }
        pop(c, mark);
    }
    c->r->ntiers = (int)json_array_size(v);
    c->tier_codes_known = codes_ok;
}

static void parse_birthday(struct ctx *c, json_t *b)
{
    static const char *const allowed[] = {"window", "multiplier", "bonus_points", NULL};
    static const char *const windows[] = {
        [BIRTHDAY_DAY] = "day", [BIRTHDAY_WEEK] = "week", [BIRTHDAY_MONTH] = "month"};
    json_t *v;
    size_t mark;

    check_unknown(c, b, allowed);
    mark = push_key(c, "window");
    if ((v = json_object_get(b, "window")) != NULL) {
        int found = -1;
        if (json_is_string(v))
            for (int i = 0; i < 3; i++)
                if (strcmp(json_string_value(v), windows[i]) == 0)
                    found = i;
        if (found < 0)
            fail(c, "must be one of day, week, month");
        else
            c->r->birthday_window = (enum rules_birthday_window)found;
    }
    pop(c, mark);
    read_decimal(c, b, "multiplier", false, DECIMAL_MULT, 100, &c->r->birthday_multiplier_x100);
    read_int(c, b, "bonus_points", false, 0, 0, POINTS_MAX, &c->r->birthday_bonus_points);
}

static void parse_referral(struct ctx *c, json_t *o)
{
    static const char *const allowed[] = {"referrer_points", "referee_points", "min_first_purchase",
                                          NULL};
    struct rules *r = c->r;

    check_unknown(c, o, allowed);
    read_int(c, o, "referrer_points", false, 0, 0, POINTS_MAX, &r->referral_referrer_points);
    read_int(c, o, "referee_points", false, 0, 0, POINTS_MAX, &r->referral_referee_points);
    read_int(c, o, "min_first_purchase", false, 0, 0, MONEY_MAX, &r->referral_min_first_purchase);
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

    check_unknown(c, o, allowed);
    if (read_code(c, o, "code", pr->code)) {
        for (int k = 0; k < i; k++) {
            if (strcmp(c->r->promotions[k].code, pr->code) == 0) {
                mark = push_key(c, "code");
                fail(c, "duplicate promotion code");
                pop(c, mark);
                break;
            }
        }
    }
    read_decimal(c, o, "multiplier", false, DECIMAL_MULT, 100, &pr->multiplier_x100);
    read_int(c, o, "bonus_points", false, 0, 0, POINTS_MAX, &pr->bonus_points);
    read_decimal(c, o, "discount_pct", false, DECIMAL_PCT, 0, &pr->discount_pct_x100);
    starts_ok = read_timestamp(c, o, "starts_at", &pr->starts_at_us);
    ends_ok = read_timestamp(c, o, "ends_at", &pr->ends_at_us);
    if (starts_ok && ends_ok && pr->ends_at_us <= pr->starts_at_us) {
        mark = push_key(c, "ends_at");
        fail(c, "must be after starts_at");
        pop(c, mark);
    }

    pr->when = -1;
    if ((v = json_object_get(o, "when")) != NULL && !json_is_null(v)) {
        mark = push_key(c, "when");
        pr->when = parse_node(c, v, 1);
        pop(c, mark);
    }

    if ((v = json_object_get(o, "categories")) != NULL) {
        int n;
        mark = push_key(c, "categories");
        n = read_categories(c, v, RULES_MAX_PROMO_CATS, pr->categories);
        pr->ncategories = n < 0 ? 0 : n;
        pop(c, mark);
    }
}

static void parse_promotions(struct ctx *c, json_t *v)
{
    size_t i;
    json_t *p;

    if (!json_is_array(v)) {
        fail(c, "must be a list of promotions");
        return;
    }
    if (json_array_size(v) > RULES_MAX_PROMOTIONS) {
        fail(c, "must have at most %d promotions", RULES_MAX_PROMOTIONS);
        return;
    }
    json_array_foreach (v, i, p) {
        size_t mark = push_index(c, i);
        if (expect_object(c, p, true))
            parse_promotion(c, p, (int)i);
        pop(c, mark);
    }
    c->r->npromotions = (int)json_array_size(v);
}

/* The object section `key` of the document: its parser runs when present
 * (and an object); `required` sections that are absent are an error. */
static void section(struct ctx *c, json_t *doc, const char *key, bool required,
                    void (*parse)(struct ctx *, json_t *))
{
    size_t mark = push_key(c, key);

    if (expect_object(c, json_object_get(doc, key), required))
        parse(c, json_object_get(doc, key));
    pop(c, mark);
}

static void parse_redemption(struct ctx *c, json_t *o)
{
    static const char *const allowed[] = {"points_per_unit", "max_bill_pct", NULL};

    check_unknown(c, o, allowed);
    read_int(c, o, "points_per_unit", true, 1, 1, POINTS_MAX, &c->r->redemption_points_per_unit);
    read_decimal(c, o, "max_bill_pct", true, DECIMAL_PCT, 0, &c->r->redemption_max_bill_pct_x100);
}

static void parse_expiry(struct ctx *c, json_t *o)
{
    static const char *const allowed[] = {"months", NULL};

    check_unknown(c, o, allowed);
    read_int32(c, o, "months", true, 12, 1, 120, &c->r->expiry_months);
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

    check_unknown(c, o, allowed);
    ok = read_int32(c, o, "silent", false, 30, 1, DAYS_MAX, &r->insight_silent_days);
    ok = read_int32(c, o, "forgetting", false, 90, 1, DAYS_MAX, &r->insight_forgetting_days) && ok;
    ok = read_int32(c, o, "lost", false, 180, 1, DAYS_MAX, &r->insight_lost_days) && ok;
    if (ok && r->insight_forgetting_days <= r->insight_silent_days) {
        size_t mark = push_key(c, "forgetting");
        fail(c, "must be greater than silent");
        pop(c, mark);
    }
    if (ok && r->insight_lost_days <= r->insight_forgetting_days) {
        size_t mark = push_key(c, "lost");
        fail(c, "must be greater than forgetting");
        pop(c, mark);
    }
}

static void parse_insight(struct ctx *c, json_t *o)
{
    static const char *const allowed[] = {"rfm_period_days", "high", "quantile", "lifecycle_days",
                                          NULL};
    json_t *v;
    size_t mark;
    int64_t q;

    check_unknown(c, o, allowed);
    read_int32(c, o, "rfm_period_days", false, 365, 1, DAYS_MAX, &c->r->insight_rfm_period_days);
    mark = push_key(c, "high");
    if ((v = json_object_get(o, "high")) != NULL) {
        if (json_is_string(v) && strcmp(json_string_value(v), "mean") == 0)
            c->r->insight_high = INSIGHT_HIGH_MEAN;
        else if (json_is_string(v) && strcmp(json_string_value(v), "median") == 0)
            c->r->insight_high = INSIGHT_HIGH_MEDIAN;
        else if (json_is_string(v) && strcmp(json_string_value(v), "quantile") == 0)
            c->r->insight_high = INSIGHT_HIGH_QUANTILE;
        else
            fail(c, "must be one of mean, median, quantile");
    }
    pop(c, mark);
    mark = push_key(c, "quantile");
    if ((v = json_object_get(o, "quantile")) != NULL) {
        if (c->r->insight_high != INSIGHT_HIGH_QUANTILE)
            fail(c, "is only allowed with high \"quantile\"");
        else if (decimal_x100(v, &q) != 1 || q < 1 || q > 99)
            fail(c, "must be a number from 0.01 to 0.99 with at most 2 decimals");
        else
            c->r->insight_quantile_x100 = (int32_t)q;
    } else if (c->r->insight_high == INSIGHT_HIGH_QUANTILE) {
        fail(c, "is required with high \"quantile\"");
    }
    pop(c, mark);
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
        fail(&c, "the rule set must be a JSON object");
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
    mark = push_key(&c, "tiers");
    parse_tiers(&c, json_object_get(doc, "tiers"));
    pop(&c, mark);
    read_int32(&c, doc, "tier_window_days", false, 365, 1, DAYS_MAX, &out->tier_window_days);
    read_int32(&c, doc, "tier_downgrade_grace_days", false, 0, 0, DAYS_MAX,
               &out->tier_downgrade_grace_days);
    section(&c, doc, "birthday", false, parse_birthday);
    section(&c, doc, "referral", false, parse_referral);
    if ((v = json_object_get(doc, "promotions")) != NULL) {
        mark = push_key(&c, "promotions");
        parse_promotions(&c, v);
        pop(&c, mark);
    }
    section(&c, doc, "redemption", true, parse_redemption);
    section(&c, doc, "expiry", true, parse_expiry);
    read_int32(&c, doc, "pending_days", false, 0, 0, 365, &out->pending_days);
    read_decimal(&c, doc, "max_discount_pct", false, DECIMAL_PCT, 10000,
                 &out->max_discount_pct_x100);
    section(&c, doc, "insight", false, parse_insight);
    check_unknown(&c, doc, allowed);

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

        put(b, o, "fact", json_string((unsigned)n->fact < FACT__COUNT ? facts[n->fact].name : "?"));
        put(b, o, "op", json_string((unsigned)n->op < (unsigned)NOPS ? op_names[n->op] : "?"));
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
    static const char *const windows[] = {
        [BIRTHDAY_DAY] = "day", [BIRTHDAY_WEEK] = "week", [BIRTHDAY_MONTH] = "month"};
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
    for (int i = 0; i < r->ntiers; i++) {
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
        json_string((unsigned)r->birthday_window <= BIRTHDAY_MONTH ? windows[r->birthday_window]
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

/*
 * A new merchant's program: the contract's example without the dated
 * promotion (a promotion is a campaign someone decides on, not a default).
 */
static const char default_document[] =
    "{\n"
    "  \"currency\": \"CNY\",\n"
    "  \"timezone\": \"Asia/Shanghai\",\n"
    "  \"earn\": {\"points_per_unit\": 1, \"unit\": 100,\n"
    "           \"excluded_categories\": [\"tobacco\", \"gift_card\"],\n"
    "           \"category_multipliers\": {\"fresh\": 2}},\n"
    "  \"tiers\": [\n"
    "    {\"code\": \"basic\", \"name\": \"普通会员\", \"min_spend\": 0, \"discount_pct\": 0,"
    " \"points_multiplier\": 1},\n"
    "    {\"code\": \"silver\", \"name\": \"银卡会员\", \"min_spend\": 200000,"
    " \"discount_pct\": 2, \"points_multiplier\": 1.25},\n"
    "    {\"code\": \"gold\", \"name\": \"金卡会员\", \"min_spend\": 1000000,"
    " \"discount_pct\": 5, \"points_multiplier\": 1.5}\n"
    "  ],\n"
    "  \"tier_window_days\": 365,\n"
    "  \"tier_downgrade_grace_days\": 30,\n"
    "  \"birthday\": {\"window\": \"month\", \"multiplier\": 2, \"bonus_points\": 500},\n"
    "  \"referral\": {\"referrer_points\": 300, \"referee_points\": 200,"
    " \"min_first_purchase\": 5000},\n"
    "  \"promotions\": [],\n"
    "  \"redemption\": {\"points_per_unit\": 100, \"max_bill_pct\": 50},\n"
    "  \"expiry\": {\"months\": 12},\n"
    "  \"pending_days\": 0,\n"
    "  \"max_discount_pct\": 50,\n"
    "  \"insight\": {\"rfm_period_days\": 365, \"high\": \"mean\","
    " \"lifecycle_days\": {\"silent\": 30, \"forgetting\": 90, \"lost\": 180}}\n"
    "}\n";

const char *rules_default_document(void)
{
    return default_document;
}
