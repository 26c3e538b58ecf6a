/*
 * run_case.c - runs one data-driven rules engine case (the jansson test
 * suite pattern): `run_case DIR` reads DIR/input.json (rule set, member,
 * purchase), computes the purchase with engine_compute and compares the
 * result with DIR/expected.json, printing every mismatch.
 *
 * input.json:
 *   {"rules": <rule-set document> | null (the default document),
 *    "member": {tier, qualifying_spend, birthday "MM-DD" | null,
 *               days_since_enrolled, purchase_count, days_since_last_purchase,
 *               segment, lifecycle_stage},
 *    "purchase": {store_id, occurred_at (RFC 3339 with offset),
 *                 local: {year, month, day, hour, weekday (0 = Monday)},
 *                 items: [{sku, category, quantity, unit_price}],
 *                 redeem_points, coupon: null | {kind: "value"|"pct", code, value | pct}}}
 *   Without `local`, the local time is the wall clock occurred_at is
 *   written in (cases write it in the program time zone).
 * expected.json: {"error": {"code", "fields": [...]}} or any of subtotal,
 *   discount_total, redeemed_value, total_due, points_earned, bonus_points,
 *   points_redeemed, net_spend, tier_before, tier_after, birthday_window and
 *   lines: [{amount, discount, coupon_share, redeemed_share, net_spend,
 *   points, excluded}] - only the keys present are compared.
 *
 * Must not compute any expected value itself: expectations are worked out
 * by hand from the contract (see the cases' notes.md).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/rules_json.h"
#include "core/civil.h"
#include "rules/engine.h"

static int mismatches;

static void mismatch(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mismatch(const char *what, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "MISMATCH %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    mismatches++;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "case error: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static json_t *load(const char *dir, const char *name)
{
    char path[4096];
    json_error_t je;
    json_t *j;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL)
        die("%s: %s (line %d)", path, je.text, je.line);
    return j;
}

/* Case files are written by hand: an unknown key is a typo, not a default. */
static void only_keys(json_t *o, const char *where, const char *const *allowed)
{
    const char *key;
    json_t *v;

    if (!json_is_object(o))
        die("%s must be an object", where);
    json_object_foreach (o, key, v) {
        const char *const *a = allowed;
        (void)v;
        while (*a != NULL && strcmp(*a, key) != 0)
            a++;
        if (*a == NULL)
            die("%s: unknown key \"%s\"", where, key);
    }
}

static int64_t get_int(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return dflt;
    if (!json_is_integer(v))
        die("%s must be an integer", key);
    return (int64_t)json_integer_value(v);
}

static const char *get_str(json_t *o, const char *key, const char *dflt)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return dflt;
    if (!json_is_string(v))
        die("%s must be a string", key);
    return json_string_value(v);
}

/* ------------------------------------------------------------ time --- */

/* occurred_at: UTC microseconds, and the wall clock it is written in. */
static void parse_time(const char *s, int64_t *us, struct engine_local_time *local)
{
    int y, mo, d, h, mi, sec, n = 0, oh = 0, om = 0;
    int64_t frac = 0, days;
    const char *p;
    int sign = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        die("occurred_at \"%s\" is not RFC 3339", s);
    p = s + 19;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            frac = frac * 10 + (*p - '0');
        for (; digits < 6; digits++)
            frac *= 10;
        if (digits > 6)
            die("occurred_at \"%s\": at most 6 fraction digits", s);
    }
    if (strcmp(p, "Z") == 0)
        sign = 0;
    else if ((p[0] == '+' || p[0] == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
        sign = p[0] == '+' ? 1 : -1;
    else
        die("occurred_at \"%s\" needs an offset", s);
    days = days_from_civil(y, mo, d);
    *us =
        ((days * 86400 + h * 3600 + mi * 60 + sec) - sign * (oh * 3600 + om * 60)) * 1000000 + frac;
    local->year = y;
    local->month = mo;
    local->day = d;
    local->hour = h;
    /* 1970-01-01 was a Thursday (3 with Monday = 0). */
    local->weekday = (int)(((days % 7) + 7 + 3) % 7);
}

/* ---------------------------------------------------------- inputs --- */

struct input {
    struct rules rules;
    struct engine_member member;
    struct engine_purchase purchase;
    struct engine_line_in lines[ENGINE_MAX_LINES + 1];
    char skus[ENGINE_MAX_LINES + 1][24];
};

static void read_rules(json_t *doc, struct rules *r)
{
    json_t *def = NULL;
    struct err e;

    if (doc == NULL || json_is_null(doc)) {
        def = json_loads(rules_default_document(), 0, NULL);
        doc = def;
    }
    err_clear(&e);
    if (rules_from_json(doc, r, &e) < 0) {
        fprintf(stderr, "case error: the case's rule set is invalid: %s\n", e.detail);
        for (int i = 0; i < e.nfields; i++)
            fprintf(stderr, "  %s: %s\n", e.fields[i].field, e.fields[i].message);
        exit(2);
    }
    json_decref(def);
}

static void read_member(json_t *o, struct input *in)
{
    static const char *const keys[] = {"tier",
                                       "qualifying_spend",
                                       "birthday",
                                       "days_since_enrolled",
                                       "purchase_count",
                                       "days_since_last_purchase",
                                       "segment",
                                       "lifecycle_stage",
                                       NULL};
    struct engine_member *m = &in->member;
    json_t *b;

    if (o == NULL) {
        m->tier = in->rules.tiers[0].code;
        m->days_since_last_purchase = -1;
        m->segment = "";
        m->lifecycle_stage = "";
        return;
    }
    only_keys(o, "member", keys);
    m->tier = get_str(o, "tier", in->rules.tiers[0].code);
    m->qualifying_spend = get_int(o, "qualifying_spend", 0);
    m->days_since_enrolled = get_int(o, "days_since_enrolled", 0);
    m->purchase_count = get_int(o, "purchase_count", 0);
    m->days_since_last_purchase = get_int(o, "days_since_last_purchase", -1);
    m->segment = get_str(o, "segment", "");
    m->lifecycle_stage = get_str(o, "lifecycle_stage", "");
    b = json_object_get(o, "birthday");
    if (b != NULL && !json_is_null(b)) {
        if (!json_is_string(b) ||
            sscanf(json_string_value(b), "%2d-%2d", &m->birthday_month, &m->birthday_day) != 2)
            die("member.birthday must be \"MM-DD\" or null");
    }
}

static void read_purchase(json_t *o, struct input *in)
{
    static const char *const keys[] = {"store_id", "occurred_at",   "local", "items",
                                       "coupon",   "redeem_points", NULL};
    static const char *const item_keys[] = {"sku", "category", "quantity", "unit_price", NULL};
    static const char *const local_keys[] = {"year", "month", "day", "hour", "weekday", NULL};
    static const char *const coupon_keys[] = {"kind", "code", "value", "pct", NULL};
    struct engine_purchase *p = &in->purchase;
    json_t *items, *item, *local, *coupon;
    size_t i;

    only_keys(o, "purchase", keys);
    p->store_id = get_str(o, "store_id", "S001");
    parse_time(get_str(o, "occurred_at", "2026-03-10T10:00:00+08:00"), &p->occurred_at_us,
               &p->local);
    if ((local = json_object_get(o, "local")) != NULL) {
        only_keys(local, "purchase.local", local_keys);
        p->local.year = (int)get_int(local, "year", 0);
        p->local.month = (int)get_int(local, "month", 0);
        p->local.day = (int)get_int(local, "day", 0);
        p->local.hour = (int)get_int(local, "hour", 0);
        p->local.weekday = (int)get_int(local, "weekday", 0);
    }
    p->redeem_points = get_int(o, "redeem_points", 0);

    items = json_object_get(o, "items");
    if (!json_is_array(items) || json_array_size(items) > ENGINE_MAX_LINES)
        die("purchase.items must be a list of at most %d items", ENGINE_MAX_LINES);
    json_array_foreach (items, i, item) {
        only_keys(item, "purchase.items[]", item_keys);
        snprintf(in->skus[i], sizeof(in->skus[i]), "SKU%zu", i);
        in->lines[i].sku = get_str(item, "sku", in->skus[i]);
        in->lines[i].category = get_str(item, "category", "grocery");
        in->lines[i].quantity = get_int(item, "quantity", 1);
        in->lines[i].unit_price = get_int(item, "unit_price", 0);
    }
    p->lines = in->lines;
    p->nlines = (int)json_array_size(items);

    coupon = json_object_get(o, "coupon");
    if (coupon != NULL && !json_is_null(coupon)) {
        const char *kind;
        only_keys(coupon, "purchase.coupon", coupon_keys);
        kind = get_str(coupon, "kind", "");
        snprintf(p->coupon.code, sizeof(p->coupon.code), "%s", get_str(coupon, "code", "C1"));
        if (strcmp(kind, "value") == 0) {
            p->coupon.kind = COUPON_VALUE;
            p->coupon.value = get_int(coupon, "value", 0);
        } else if (strcmp(kind, "pct") == 0) {
            json_t *pct = json_object_get(coupon, "pct");
            double d = json_number_value(pct);
            if (!json_is_number(pct))
                die("coupon.pct must be a number");
            p->coupon.kind = COUPON_PCT;
            p->coupon.pct_x100 = (int32_t)(d * 100.0 + 0.5);
        } else {
            die("coupon.kind must be value or pct");
        }
    }
}

/* ---------------------------------------------------------- compare --- */

static void compare_i64(json_t *exp, const char *key, int64_t got, const char *prefix)
{
    json_t *v = json_object_get(exp, key);
    char what[64];

    if (v == NULL)
        return;
    snprintf(what, sizeof(what), "%s%s", prefix, key);
    if (!json_is_integer(v))
        die("expected %s must be an integer", what);
    if ((int64_t)json_integer_value(v) != got)
        mismatch(what, "expected %" PRId64 ", got %" PRId64, (int64_t)json_integer_value(v), got);
}

static void compare_bool(json_t *exp, const char *key, bool got, const char *prefix)
{
    json_t *v = json_object_get(exp, key);
    char what[64];

    if (v == NULL)
        return;
    snprintf(what, sizeof(what), "%s%s", prefix, key);
    if (!json_is_boolean(v))
        die("expected %s must be true or false", what);
    if (json_is_true(v) != got)
        mismatch(what, "expected %s, got %s", json_is_true(v) ? "true" : "false",
                 got ? "true" : "false");
}

static void compare_tier(json_t *exp, const char *key, const struct rules *r, int got)
{
    json_t *v = json_object_get(exp, key);
    const char *name = got >= 0 && got < r->ntiers ? r->tiers[got].code : "(none)";

    if (v == NULL)
        return;
    if (!json_is_string(v))
        die("expected %s must be a tier code", key);
    if (strcmp(json_string_value(v), name) != 0)
        mismatch(key, "expected %s, got %s", json_string_value(v), name);
}

static void compare_error(json_t *exp, int rc, const struct err *e)
{
    static const char *const keys[] = {"code", "fields", NULL};
    const char *code;
    json_t *fields, *f;
    size_t i;

    only_keys(exp, "expected.error", keys);
    if (rc == 0) {
        mismatch("error", "expected an error, the purchase was computed");
        return;
    }
    code = err_info_of(e->code)->code;
    if (strcmp(code, get_str(exp, "code", "validation_failed")) != 0)
        mismatch("error.code", "expected %s, got %s (%s)", get_str(exp, "code", ""), code,
                 e->detail);
    fields = json_object_get(exp, "fields");
    if (fields == NULL)
        return;
    if (!json_is_array(fields))
        die("expected.error.fields must be a list");
    json_array_foreach (fields, i, f) {
        bool found = false;
        for (int k = 0; k < e->nfields; k++)
            found = found || strcmp(e->fields[k].field, json_string_value(f)) == 0;
        if (!found)
            mismatch("error.fields", "expected a field error on %s", json_string_value(f));
    }
    if (json_array_size(fields) != (size_t)e->nfields) {
        mismatch("error.fields", "expected %zu field errors, got %d", json_array_size(fields),
                 e->nfields);
        for (int k = 0; k < e->nfields; k++)
            fprintf(stderr, "  %s: %s\n", e->fields[k].field, e->fields[k].message);
    }
}

static void compare_result(json_t *exp, const struct rules *r, const struct engine_result *res)
{
    static const char *const keys[] = {"subtotal",
                                       "discount_total",
                                       "redeemed_value",
                                       "total_due",
                                       "points_earned",
                                       "bonus_points",
                                       "points_redeemed",
                                       "net_spend",
                                       "tier_before",
                                       "tier_after",
                                       "birthday_window",
                                       "lines",
                                       NULL};
    static const char *const line_keys[] = {"amount",         "discount",  "coupon_share",
                                            "redeemed_share", "net_spend", "points",
                                            "excluded",       NULL};
    json_t *lines, *line;
    size_t i;

    only_keys(exp, "expected", keys);
    compare_i64(exp, "subtotal", res->subtotal, "");
    compare_i64(exp, "discount_total", res->discount_total, "");
    compare_i64(exp, "redeemed_value", res->redeemed_value, "");
    compare_i64(exp, "total_due", res->total_due, "");
    compare_i64(exp, "points_earned", res->points_earned, "");
    compare_i64(exp, "bonus_points", res->bonus_points, "");
    compare_i64(exp, "points_redeemed", res->points_redeemed, "");
    compare_i64(exp, "net_spend", res->net_spend, "");
    compare_tier(exp, "tier_before", r, res->tier_before);
    compare_tier(exp, "tier_after", r, res->tier_after);
    compare_bool(exp, "birthday_window", res->birthday_window, "");

    lines = json_object_get(exp, "lines");
    if (lines == NULL)
        return;
    if (!json_is_array(lines))
        die("expected.lines must be a list");
    if (json_array_size(lines) != (size_t)res->nlines) {
        mismatch("lines", "expected %zu lines, got %d", json_array_size(lines), res->nlines);
        return;
    }
    json_array_foreach (lines, i, line) {
        const struct engine_line_out *l = &res->lines[i];
        char prefix[32];

        only_keys(line, "expected.lines[]", line_keys);
        snprintf(prefix, sizeof(prefix), "lines[%zu].", i);
        compare_i64(line, "amount", l->amount, prefix);
        compare_i64(line, "discount", l->discount, prefix);
        compare_i64(line, "coupon_share", l->coupon_share, prefix);
        compare_i64(line, "redeemed_share", l->redeemed_share, prefix);
        compare_i64(line, "net_spend", l->net_spend, prefix);
        compare_i64(line, "points", l->points, prefix);
        compare_bool(line, "excluded", l->excluded, prefix);
    }
}

int main(int argc, char **argv)
{
    static const char *const input_keys[] = {"rules", "member", "purchase", NULL};
    struct input *in;
    struct engine_result *res;
    json_t *input, *expected, *error;
    struct err e;
    int rc;

    if (argc != 2)
        die("usage: run_case CASE_DIR");
    in = calloc(1, sizeof(*in));
    res = calloc(1, sizeof(*res));
    if (in == NULL || res == NULL)
        die("out of memory");
    input = load(argv[1], "input.json");
    expected = load(argv[1], "expected.json");
    only_keys(input, "input", input_keys);

    read_rules(json_object_get(input, "rules"), &in->rules);
    read_member(json_object_get(input, "member"), in);
    read_purchase(json_object_get(input, "purchase"), in);

    err_clear(&e);
    rc = engine_compute(&in->rules, &in->member, &in->purchase, res, &e);

    if ((error = json_object_get(expected, "error")) != NULL) {
        compare_error(error, rc, &e);
    } else if (rc != 0) {
        mismatch("result", "engine_compute failed: %s (%s)", err_info_of(e.code)->code, e.detail);
        for (int k = 0; k < e.nfields; k++)
            fprintf(stderr, "  %s: %s\n", e.fields[k].field, e.fields[k].message);
    } else {
        compare_result(expected, &in->rules, res);
    }

    printf("%s: %s\n", argv[1], mismatches == 0 ? "ok" : "FAILED");
    json_decref(input);
    json_decref(expected);
    free(in);
    free(res);
    return mismatches == 0 ? 0 : 1;
}
