/*
 * rules_default.c - the default rule set of a new database, as the text of
 * the rule-set document.
 *
 * Only text: rules_cache.c parses and validates it with rules_from_json like
 * any document a client sends, so it must not be turned into `struct
 * rules` here.
 */
#include "api/rules_json.h"

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
