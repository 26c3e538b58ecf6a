/*
 * rules_json.c - the rule-set document (the contract's "Rules" JSON) to
 * `struct rules`, with complete validation: one parser per section, built
 * on the validation context and typed readers of rules_read.c, and
 * rules_from_json that runs them in order.  A promotion's condition tree is
 * parsed by rules_conditions.c.  rules_render.c turns a rule set back into
 * the document.
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
#include "rules_conditions.h"
#include "rules_names.h"
#include "rules_read.h"

/* Bounds the contract leaves open, chosen so that every product the engine
 * forms stays far inside 128 bits. */
#define MONEY_MAX         INT64_C(1000000000000000) /* 10^13 yuan: any spend threshold */
#define POINTS_MAX        INT64_C(1000000000)       /* as for adjustments */
#define EARN_PER_UNIT_MAX INT64_C(1000000)
#define UNIT_MAX          INT64_C(1000000000)
#define DAYS_MAX          3660

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

/* Declared in rules_names.h: the renderer writes the same names. */
const char *const rj_birthday_windows[BIRTHDAY_MONTH + 1] = {
    [BIRTHDAY_DAY] = "day", [BIRTHDAY_WEEK] = "week", [BIRTHDAY_MONTH] = "month"};

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
        pr->when = rj_parse_condition(c, v);
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
