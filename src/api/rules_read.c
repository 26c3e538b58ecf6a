/*
 * rules_read.c - the reusable layer of the rule-set parser (rules_json.c
 * and rules_conditions.c): the $-rooted JSON path of where the validation
 * is ("$.promotions[2].when.all[0].op"), errors recorded at their path
 * without stopping at the first, and readers that check one value's
 * presence, type, range and format.  Multipliers and percentages become
 * exact hundredths here so that nothing after the parser sees a double.
 *
 * Knows no section of the document (rules_json.c and rules_conditions.c
 * do).  Must not compute anything with the rules, touch the database or
 * call the C library's time-zone functions: RFC 3339 timestamps are
 * converted to UTC with plain arithmetic (core/civil.c).
 */
#include "rules_read.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/validate.h"
#include "core/civil.h"

/* ============================================================ context === */

/* Records an error at the current path. */
void rj_fail(struct ctx *c, const char *fmt, ...)
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
 * returns the mark to rj_pop back to.  A long key is cut at a character
 * boundary: the path has to fit an error field, not reproduce the key.
 */
size_t rj_push_key(struct ctx *c, const char *key)
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

size_t rj_push_index(struct ctx *c, size_t i)
{
    size_t mark = c->len;
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "[%zu]", i);

    append(c, buf, (size_t)n);
    return mark;
}

void rj_pop(struct ctx *c, size_t mark)
{
    c->len = mark;
    c->path[mark] = '\0';
}

/* ====================================================== basic readers === */

/* Reports every key of `o` that is not in the NULL-terminated `allowed`. */
void rj_check_unknown(struct ctx *c, json_t *o, const char *const *allowed)
{
    const char *key;
    json_t *v;

    json_object_foreach (o, key, v) {
        const char *const *a = allowed;

        (void)v;
        while (*a != NULL && strcmp(*a, key) != 0)
            a++;
        if (*a == NULL) {
            size_t mark = rj_push_key(c, key);
            rj_fail(c, "unknown field");
            rj_pop(c, mark);
        }
    }
}

/* `v` (at the current path) is an object; errors for absent-but-required
 * and for other types.  False when there is nothing to read. */
bool rj_expect_object(struct ctx *c, json_t *v, bool required)
{
    if (v == NULL) {
        if (required)
            rj_fail(c, "is required");
        return false;
    }
    if (!json_is_object(v)) {
        rj_fail(c, "must be an object");
        return false;
    }
    return true;
}

/*
 * An integer field `key` of `o` in [min, max].  Absent: `dflt` (or "is
 * required").  Writes *out only when valid.  Returns false on error.
 */
bool rj_read_int(struct ctx *c, json_t *o, const char *key, bool required, int64_t dflt,
                 int64_t min, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    size_t mark = rj_push_key(c, key);
    bool ok = true;

    if (v == NULL) {
        if (required) {
            rj_fail(c, "is required");
            ok = false;
        } else {
            *out = dflt;
        }
    } else if (!json_is_integer(v)) {
        rj_fail(c, "must be an integer");
        ok = false;
    } else if (json_integer_value(v) < min || json_integer_value(v) > max) {
        rj_fail(c, "must be between %" PRId64 " and %" PRId64, min, max);
        ok = false;
    } else {
        *out = (int64_t)json_integer_value(v);
    }
    rj_pop(c, mark);
    return ok;
}

bool rj_read_int32(struct ctx *c, json_t *o, const char *key, bool required, int32_t dflt,
                   int32_t min, int32_t max, int32_t *out)
{
    int64_t v = dflt;
    bool ok = rj_read_int(c, o, key, required, dflt, min, max, &v);

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
int rj_decimal_x100(json_t *v, int64_t *out)
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

/* A percentage or multiplier field `key` of `o`; absent: `dflt_x100`. */
bool rj_read_decimal(struct ctx *c, json_t *o, const char *key, bool required,
                     enum decimal_kind kind, int32_t dflt_x100, int32_t *out)
{
    json_t *v = json_object_get(o, key);
    size_t mark = rj_push_key(c, key);
    int64_t x = dflt_x100;
    int rc;
    bool ok = false;

    if (v == NULL) {
        if (required)
            rj_fail(c, "is required");
        else
            ok = true;
        goto out;
    }
    rc = rj_decimal_x100(v, &x);
    if (rc == 0) {
        rj_fail(c, "must be a number");
    } else if (rc == -1) {
        rj_fail(c, "must have at most 2 decimals");
    } else if (kind == DECIMAL_MULT && (rc == -2 || x <= 0 || x > 10000)) {
        rj_fail(c, "must be greater than 0 and at most 100");
    } else if (kind == DECIMAL_PCT && (rc == -2 || x < 0 || x > 10000)) {
        rj_fail(c, "must be between 0 and 100");
    } else {
        ok = true;
    }
out:
    if (ok)
        *out = (int32_t)x;
    rj_pop(c, mark);
    return ok;
}

/* ================================================== value formats ====== */

/* A code (tier, promotion): 1..RULES_CODE_MAX of [A-Za-z0-9._-]. */
bool rj_is_code(const char *s, size_t len)
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
bool rj_is_short_text(const char *s, size_t len, size_t min)
{
    return len >= min && len <= RULES_CODE_MAX && strlen(s) == len && utf8_length(s) >= 0;
}

/* The string at the current path, or NULL after an error. */
const char *rj_string_value(struct ctx *c, json_t *v, size_t *len)
{
    if (!json_is_string(v)) {
        rj_fail(c, "must be a string");
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
        rj_fail(c, "is required");
        return NULL;
    }
    return rj_string_value(c, v, len);
}

/* A code field (required), copied into dst (RULES_CODE_MAX + 1 bytes). */
bool rj_read_code(struct ctx *c, json_t *o, const char *key, char *dst)
{
    size_t mark = rj_push_key(c, key);
    size_t len;
    const char *s = required_string(c, o, key, &len);
    bool ok = s != NULL && rj_is_code(s, len);

    if (ok)
        memcpy(dst, s, len + 1);
    else if (s != NULL)
        rj_fail(c, CODE_MSG);
    rj_pop(c, mark);
    return ok;
}

/*
 * A list of unique categories at the current path, at most `max`, into
 * dst[][RULES_CODE_MAX + 1].  Returns the count, or -1 after an error.
 */
int rj_read_categories(struct ctx *c, json_t *v, int max, char (*dst)[RULES_CODE_MAX + 1])
{
    size_t i;
    json_t *item;
    int n = 0;
    bool ok = true;

    if (!json_is_array(v)) {
        rj_fail(c, "must be a list of categories");
        return -1;
    }
    if (json_array_size(v) > (size_t)max) {
        rj_fail(c, "must have at most %d categories", max);
        return -1;
    }
    json_array_foreach (v, i, item) {
        size_t mark = rj_push_index(c, i);
        const char *s;
        size_t len;

        if ((s = rj_string_value(c, item, &len)) == NULL) {
            ok = false;
        } else if (!rj_is_short_text(s, len, 1)) {
            rj_fail(c, CATEGORY_MSG);
            ok = false;
        } else {
            bool dup = false;
            for (int k = 0; k < n; k++)
                dup = dup || strcmp(dst[k], s) == 0;
            if (dup) {
                rj_fail(c, "duplicate category");
                ok = false;
            } else {
                memcpy(dst[n++], s, len + 1);
            }
        }
        rj_pop(c, mark);
    }
    return ok ? n : -1;
}

/* ----------------------------------------------------- timestamps ------ */

bool rj_read_timestamp(struct ctx *c, json_t *o, const char *key, int64_t *out)
{
    size_t mark = rj_push_key(c, key);
    size_t len;
    const char *s = required_string(c, o, key, &len);
    bool ok = s != NULL && strlen(s) == len && civil_parse_rfc3339(s, out) == 0;

    if (s != NULL && !ok)
        rj_fail(c, "must be an RFC 3339 timestamp with offset");
    rj_pop(c, mark);
    return ok;
}
