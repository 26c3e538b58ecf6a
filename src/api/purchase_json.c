/*
 * purchase_json.c - the purchase body in, the purchase result out.
 *
 * Reading collects every field error with its JSON path before answering
 * (postgres errsave), so a cashier's system sees all its mistakes at once.
 * occurred_at is read by core/civil.c (integer arithmetic: no time zone
 * database is needed for an RFC 3339 offset) and rendered back in UTC with
 * microseconds: the same text DB_TIMESTAMP gives, so a stored and a fresh
 * rendering agree.
 *
 * Must not touch the database or compute money: it only checks shapes and
 * formats what the rules engine computed.
 */
#include "api/purchase_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/member_json.h"
#include "api/secret.h"
#include "api/validate.h"
#include "core/buf.h"
#include "core/civil.h"
#include "core/jsonw.h"

#define TERMINAL_ID_MAX     64
#define POS_ID_MAX          64
#define SKU_MAX             64
#define CATEGORY_MAX        32
#define COUPON_CODE_MAX     64
#define CARD_NUMBER_MAX     64
#define QUANTITY_MAX        100000
#define UNIT_PRICE_MAX      INT64_C(100000000000)
#define REDEEM_POINTS_MAX   INT64_C(1000000000000)
#define FUTURE_TOLERANCE_US INT64_C(300000000) /* five minutes */
#define ITEM_PATH_MAX       64                 /* "items[499]." and a key cut at 40 bytes */

/* -------------------------------------------------------------- body -- */

static bool is_pos_id(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:");

    return s[n] == '\0' && n >= 1 && n <= POS_ID_MAX;
}

static bool is_card_number(const char *s)
{
    size_t n = strspn(s, "0123456789");

    return s[n] == '\0' && n >= 6 && n <= 32;
}

/* "items[i].key" in `path`, written only for an error: formatting the
 * path of every field of every line cost a dozen snprintf per purchase. */
static const char *item_path(char path[ITEM_PATH_MAX], int i, const char *key)
{
    snprintf(path, ITEM_PATH_MAX, "items[%d].%.40s", i, key);
    return path;
}

/* A string of 1..max code points without control characters at
 * items[i].key.  1 read, 0 absent, -1 invalid (field error added). */
static int item_string(json_t *o, int i, const char *key, int max, const char **out, struct err *e)
{
    json_t *v = json_object_get(o, key);
    char path[ITEM_PATH_MAX];
    const char *s;
    int n;

    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return err_field(e, item_path(path, i, key), "must be a string");
    s = json_string_value(v);
    n = utf8_length(s);
    if (strlen(s) != json_string_length(v) || n < 0)
        return err_field(e, item_path(path, i, key), "must not contain control characters");
    if (n < 1 || n > max)
        return err_field(e, item_path(path, i, key), "must be 1 to %d characters", max);
    *out = s;
    return 1;
}

/* An integer of min..max at items[i].key; returns as item_string. */
static int item_int(json_t *o, int i, const char *key, int64_t min, int64_t max, int64_t *out,
                    struct err *e)
{
    json_t *v = json_object_get(o, key);
    char path[ITEM_PATH_MAX];

    if (v == NULL)
        return 0;
    if (!json_is_integer(v))
        return err_field(e, item_path(path, i, key), "must be an integer");
    if (json_integer_value(v) < min || json_integer_value(v) > max)
        return err_field(e, item_path(path, i, key), "must be %lld to %lld", (long long)min,
                         (long long)max);
    *out = (int64_t)json_integer_value(v);
    return 1;
}

static void read_item(json_t *o, int i, struct purchase_item *it, struct err *e)
{
    static const char *const fields[] = {"sku", "category", "quantity", "unit_price"};
    char path[ITEM_PATH_MAX];
    const char *key;
    json_t *v;
    int rc[4];

    if (!json_is_object(o)) {
        snprintf(path, sizeof(path), "items[%d]", i);
        err_field(e, path, "must be an object");
        return;
    }
    json_object_foreach (o, key, v) {
        bool known = false;

        (void)v;
        for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
            known = known || strcmp(key, fields[k]) == 0;
        if (!known)
            err_field(e, item_path(path, i, key), "unknown field");
    }
    rc[0] = item_string(o, i, "sku", SKU_MAX, &it->sku, e);
    rc[1] = item_string(o, i, "category", CATEGORY_MAX, &it->category, e);
    rc[2] = item_int(o, i, "quantity", 1, QUANTITY_MAX, &it->quantity, e);
    rc[3] = item_int(o, i, "unit_price", 0, UNIT_PRICE_MAX, &it->unit_price, e);
    for (int k = 0; k < 4; k++)
        if (rc[k] == 0)
            err_field(e, item_path(path, i, fields[k]), "is required");
}

static void read_items(json_t *o, struct arena *a, struct purchase_body *b, struct err *e)
{
    size_t n;
    json_t *items = body_array(o, "items", PURCHASE_MAX_ITEMS, &n, e);

    if (items == NULL)
        return;
    b->nitems = (int)n;
    b->items = arena_alloc(a, n * sizeof(*b->items));
    memset(b->items, 0, n * sizeof(*b->items));
    for (size_t i = 0; i < n; i++)
        read_item(json_array_get(items, i), (int)i, &b->items[i], e);
}

/* Exactly one of member_id and card_number. */
static void read_member_ref(json_t *o, struct purchase_body *b, struct err *e)
{
    const char *id = NULL, *card = NULL;
    /* null is absent: a POS may send both keys with one of them null. */
    int has_id = body_string(o, "member_id", 1, 64, true, &id, NULL, e);
    int has_card = body_string(o, "card_number", 1, CARD_NUMBER_MAX, true, &card, NULL, e);

    if (has_id < 0 || has_card < 0)
        return;
    if (has_id + has_card != 1) {
        err_field(e, has_id ? "card_number" : "member_id",
                  "exactly one of member_id and card_number is required");
        return;
    }
    if (has_id) {
        /* Ids are opaque: one that is not ours names no member (404 later). */
        b->member_id_malformed = id_parse(id, MEMBER_ID_PREFIX, &b->member_id) < 0;
    } else if (!is_card_number(card)) {
        err_field(e, "card_number", "must be 6 to 32 digits");
    } else {
        b->card_number = card;
    }
}

static void read_occurred_at(json_t *o, struct arena *a, int64_t now_us, struct purchase_body *b,
                             struct err *e)
{
    const char *s;
    char text[32];
    int rc = body_string(o, "occurred_at", 1, 64, false, &s, NULL, e);

    if (rc == 0)
        body_missing("occurred_at", e);
    if (rc != 1)
        return;
    /* The floor is on the year as written, before the offset moves it. */
    if (civil_parse_rfc3339_truncating(s, &b->occurred_at_us) < 0 || strncmp(s, "1900", 4) < 0) {
        err_field(e, "occurred_at", "must be an RFC 3339 timestamp with an offset");
        return;
    }
    if (b->occurred_at_us > now_us + FUTURE_TOLERANCE_US) {
        err_field(e, "occurred_at", "must not be more than 5 minutes in the future");
        return;
    }
    civil_format_rfc3339_us(b->occurred_at_us, text);
    b->occurred_at = arena_strdup(a, text);
}

int purchase_body_read(struct req *rq, int64_t now_us, struct purchase_body *out, struct err *e)
{
    static const char *const allowed[] = {
        "member_id",   "card_number", "store_id",      "terminal_id", "pos_transaction_id",
        "occurred_at", "items",       "redeem_points", "coupon_code", NULL};
    json_t *o = body_object(rq, false, e);
    int rc;

    memset(out, 0, sizeof(*out));
    if (o == NULL)
        return -1;
    body_no_unknown(o, allowed, e);
    read_member_ref(o, out, e);

    rc = body_string(o, "store_id", 1, 64, false, &out->store_id, NULL, e);
    if (rc == 0)
        body_missing("store_id", e);
    else if (rc == 1 && !is_valid_store_id(out->store_id))
        err_field(e, "store_id", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");

    if (body_string(o, "terminal_id", 1, TERMINAL_ID_MAX, false, &out->terminal_id, NULL, e) == 0)
        body_missing("terminal_id", e);

    rc = body_string(o, "pos_transaction_id", 1, POS_ID_MAX, false, &out->pos_transaction_id, NULL,
                     e);
    if (rc == 0)
        body_missing("pos_transaction_id", e);
    else if (rc == 1 && !is_pos_id(out->pos_transaction_id))
        err_field(e, "pos_transaction_id", "must be 1 to 64 characters of A-Z a-z 0-9 . _ - :");

    read_occurred_at(o, &rq->arena, now_us, out, e);
    read_items(o, &rq->arena, out, e);
    if (!json_is_null(json_object_get(o, "redeem_points"))) /* null: the default, 0 */
        body_int(o, "redeem_points", 0, REDEEM_POINTS_MAX, &out->redeem_points, e);
    body_string(o, "coupon_code", 1, COUPON_CODE_MAX, true, &out->coupon_code, NULL, e);
    return err_is_set(e) ? -1 : 0;
}

/* -------------------------------------------------------- fingerprint -- */

void purchase_fingerprint(const struct purchase_body *b, int64_t member_id, char hex[65])
{
    struct buf t;

    /* Fields are separated by characters no field may contain (validated:
     * no control characters), so two different requests never share a
     * text; null and absent coupon codes are the same request.  Built
     * without buf_printf: every purchase and replay computes it, and the
     * format parser cost more than the appends. */
    buf_init(&t);
    buf_puts(&t, "purchase/1\nmember ");
    buf_i64(&t, member_id);
    buf_puts(&t, "\nat ");
    buf_i64(&t, b->occurred_at_us);
    buf_puts(&t, "\nredeem ");
    buf_i64(&t, b->redeem_points);
    if (b->coupon_code != NULL) {
        buf_puts(&t, "\ncoupon ");
        buf_puts(&t, b->coupon_code);
        buf_puts(&t, "\n");
    } else {
        buf_puts(&t, "\nno coupon\n");
    }
    for (int i = 0; i < b->nitems; i++) {
        buf_puts(&t, "item ");
        buf_puts(&t, b->items[i].sku);
        buf_puts(&t, "\t");
        buf_puts(&t, b->items[i].category);
        buf_puts(&t, "\t");
        buf_i64(&t, b->items[i].quantity);
        buf_puts(&t, "\t");
        buf_i64(&t, b->items[i].unit_price);
        buf_puts(&t, "\n");
    }
    secret_hash_hex(t.data, hex);
    buf_cleanup(&t);
}

void purchase_id_format(char *dst, size_t n, int64_t id)
{
    snprintf(dst, n, PURCHASE_ID_PREFIX "%" PRId64, id);
}

/* ------------------------------------------------------------- result -- */

static void write_lines(struct jw *w, const struct purchase_view *v)
{
    jw_array_begin(w);
    for (int i = 0; i < v->result->nlines; i++) {
        const struct purchase_item *in = &v->body->items[i];
        const struct engine_line_out *out = &v->result->lines[i];

        jw_object_begin(w);
        jw_member_string(w, "sku", in->sku);
        jw_member_string(w, "category", in->category);
        jw_member_int(w, "quantity", in->quantity);
        jw_member_int(w, "unit_price", in->unit_price);
        jw_member_int(w, "amount", out->amount);
        jw_member_int(w, "discount", out->discount);
        jw_member_int(w, "points", out->points);
        jw_object_end(w);
    }
    jw_array_end(w);
}

/* `points` and `discount` appear where the rule gave some. */
static void write_applied(struct jw *w, const struct engine_result *r)
{
    jw_array_begin(w);
    for (int i = 0; i < r->napplied; i++) {
        const struct engine_applied *ap = &r->applied[i];

        jw_object_begin(w);
        jw_member_string(w, "rule", ap->rule);
        jw_member_string(w, "kind", ap->kind);
        jw_member_string(w, "detail", ap->detail);
        if (ap->points != 0)
            jw_member_int(w, "points", ap->points);
        if (ap->discount != 0)
            jw_member_int(w, "discount", ap->discount);
        jw_object_end(w);
    }
    jw_array_end(w);
}

char *purchase_result_text(const struct purchase_view *v)
{
    const struct engine_result *r = v->result;
    char id[24], member[24];
    struct jw w;

    member_id_format(member, sizeof(member), v->member_id);
    jw_init(&w);
    jw_object_begin(&w);
    if (v->id != 0) {
        purchase_id_format(id, sizeof(id), v->id);
        jw_member_string(&w, "id", id);
    }
    jw_member_string(&w, "member_id", member);
    jw_member_string(&w, "store_id", v->body->store_id);
    jw_member_string(&w, "pos_transaction_id", v->body->pos_transaction_id);
    jw_member_string(&w, "occurred_at", v->body->occurred_at);
    jw_member_int(&w, "subtotal", r->subtotal);
    jw_member_int(&w, "discount_total", r->discount_total);
    jw_member_int(&w, "redeemed_value", r->redeemed_value);
    jw_member_int(&w, "total_due", r->total_due);
    jw_member_int(&w, "points_earned", r->points_earned);
    jw_member_int(&w, "points_redeemed", r->points_redeemed);
    if (v->id != 0)
        jw_member_int(&w, "balance_after", v->balance_after);
    jw_member_string(&w, "tier_before", v->tier_before);
    jw_member_string(&w, "tier_after", v->tier_after);
    jw_member_int(&w, "rules_version", v->rules_version);
    jw_key(&w, "lines");
    write_lines(&w, v);
    jw_key(&w, "applied");
    write_applied(&w, r);
    jw_object_end(&w);
    return jw_finish(&w, NULL);
}
