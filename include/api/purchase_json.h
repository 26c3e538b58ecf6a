/*
 * purchase_json.h - the purchase body (POST /v1/purchases and /quote) read
 * and checked into C values, the request fingerprint a POS replay must
 * match, and the purchase result rendered as the contract shows it.
 */
#ifndef LY_API_PURCHASE_JSON_H
#define LY_API_PURCHASE_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "http/http.h"
#include "rules/engine.h"

/* The prefix of every public purchase id ("pur_<n>"). */
#define PURCHASE_ID_PREFIX "pur_"

#define PURCHASE_MAX_ITEMS 500

/* One item of the body; strings borrowed from the request body. */
struct purchase_item {
    const char *sku;
    const char *category;
    int64_t quantity;
    int64_t unit_price;
};

/* The body, checked.  Strings borrowed from the request (body or arena). */
struct purchase_body {
    int64_t member_id;        /* 0 when given by card, or malformed */
    bool member_id_malformed; /* a member_id that is no member id: names no one */
    const char *card_number;  /* NULL when given by member_id */
    const char *store_id;
    const char *terminal_id;
    const char *pos_transaction_id;
    int64_t occurred_at_us;  /* UTC microseconds since the epoch */
    const char *occurred_at; /* the same, RFC 3339 UTC with microseconds */
    int nitems;
    struct purchase_item *items; /* arena array */
    int64_t redeem_points;
    const char *coupon_code; /* NULL when none */
};

/*
 * Reads the request's body: every field error at once, each with its JSON
 * path ("items[3].quantity"); unknown fields named; occurred_at more than
 * five minutes after `now_us` refused.  0, or -1 with ERR_VALIDATION (or
 * ERR_MALFORMED_JSON for a missing body).
 */
int purchase_body_read(struct req *rq, int64_t now_us, struct purchase_body *out, struct err *e);

/*
 * The SHA-256 (64 lowercase hex digits + NUL) of the canonical text of what
 * a replay must match: the member (resolved to its id), the items in order,
 * occurred_at (as an instant), redeem_points and coupon_code.
 */
void purchase_fingerprint(const struct purchase_body *b, int64_t member_id, char hex[65]);

/* Writes "pur_<id>" into dst (24 bytes are always enough). */
void purchase_id_format(char *dst, size_t n, int64_t id);

/* What a purchase result shows besides the engine's numbers.  Borrowed. */
struct purchase_view {
    int64_t id; /* 0 for a quote: no id and no balance_after */
    int64_t member_id;
    const struct purchase_body *body;
    const struct engine_result *result;
    const char *tier_before;
    const char *tier_after;
    int64_t balance_after;
    int64_t rules_version;
};

/*
 * The purchase result with exactly the contract's keys, in its order: id,
 * member_id, store_id, pos_transaction_id, occurred_at, subtotal,
 * discount_total, redeemed_value, total_due, points_earned,
 * points_redeemed, balance_after, tier_before, tier_after, rules_version,
 * lines, applied (a quote has no id and no balance_after), as compact JSON
 * text: malloc'd, never NULL, the caller frees it.  Written with
 * core/jsonw (it is on every purchase), as json_dumps(JSON_COMPACT) would
 * write the same document.
 */
char *purchase_result_text(const struct purchase_view *v);

#endif
