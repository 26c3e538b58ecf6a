/*
 * coupons.c - a purchase using a coupon: finding and locking it for its
 * member, and marking it (and its redemption) used.
 *
 * Codes are matched as they are issued ("XXXX-XXXX-XXXXX", upper case); a
 * code typed at a till is normalised first (case, spaces and dashes), the
 * way member look-ups normalise phones.
 *
 * Must not decide whether a coupon may be applied (status, kind: the
 * purchase does), and must not lock anything but the coupon row (step 3 of
 * the lock order in store/ledger.h; the member is already locked).
 */
#include "store/coupons.h"

#include <stdbool.h>
#include <string.h>

#include "store/rewards.h"

/* The 31 symbols of SECRET_READABLE (api/secret.h), which the store may not
 * include: codes are made of nothing else. */
static bool is_code_symbol(char c)
{
    return (c >= '2' && c <= '9') || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O');
}

/*
 * Writes the issued spelling of `in` into dst: upper case, spaces and
 * dashes dropped, then dashes put back after the 4th and 8th symbol.
 * Returns false when `in` cannot be a code (it then matches nothing).
 */
static bool normalize_code(const char *in, char dst[COUPON_CODE_SIZE])
{
    char sym[13];
    int n = 0;

    for (const char *p = in; *p != '\0'; p++) {
        char c = *p;

        if (c == ' ' || c == '-')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (!is_code_symbol(c) || n == 13)
            return false;
        sym[n++] = c;
    }
    if (n != 13)
        return false;
    memcpy(dst, sym, 4);
    dst[4] = '-';
    memcpy(dst + 5, sym + 4, 4);
    dst[9] = '-';
    memcpy(dst + 10, sym + 8, 5);
    dst[15] = '\0';
    return true;
}

static const struct db_stmt stmt_coupon_take = {
    "coupons_take", "SELECT c.id, c.redemption_id, c.member_id, c.code, w.code, w.kind, "
                    "coalesce(w.discount_value, 0), coalesce(w.discount_pct_x100, 0), c.status "
                    "FROM coupons c "
                    "JOIN redemptions r ON r.member_id = c.member_id AND r.id = c.redemption_id "
                    "JOIN rewards w ON w.id = r.reward_id "
                    "WHERE c.member_id = $1::bigint AND c.code = $2 "
                    "FOR UPDATE OF c"};

static int read_coupon(const PGresult *res, struct arena *a, void *dst, struct err *e)
{
    struct coupon *out = dst;
    int64_t pct;

    if (PQntuples(res) == 0)
        return 0;
    memset(out, 0, sizeof(*out));
    if (db_get_i64(res, 0, 0, &out->id, e) < 0 ||
        db_get_i64(res, 0, 1, &out->redemption_id, e) < 0 ||
        db_get_i64(res, 0, 2, &out->member_id, e) < 0 ||
        db_get_i64(res, 0, 6, &out->discount_value, e) < 0 || db_get_i64(res, 0, 7, &pct, e) < 0)
        return -1;
    out->discount_pct_x100 = (int32_t)pct; /* CHECK: 0..10000 */
    out->code = db_get_str(res, 0, 3, a);
    out->reward_code = db_get_str(res, 0, 4, a);
    out->reward_kind = db_get_str(res, 0, 5, a);
    out->status = db_get_str(res, 0, 8, a);
    return 1;
}

bool store_coupon_take_queue(struct db *db, int64_t member_id, const char *code, struct arena *a,
                             struct coupon *out, bool *found)
{
    char mt[24], norm[COUPON_CODE_SIZE];
    const char *params[2] = {mt, norm};

    *found = false;
    if (!normalize_code(code, norm))
        return false; /* no coupon has such a code: nothing to ask */
    db_i64_text(member_id, mt);
    db_queue_row(db, &stmt_coupon_take, 2, params, a, read_coupon, out, found);
    return true;
}

int store_coupon_take(struct db *db, int64_t member_id, const char *code, struct arena *a,
                      struct coupon *out, struct err *e)
{
    bool found;

    if (!store_coupon_take_queue(db, member_id, code, a, out, &found))
        return 0;
    if (db_flush(db, e) < 0)
        return -1;
    return found ? 1 : 0;
}

/* The coupon, then its redemption if still issued (another coupon of the
 * same redemption may have made it used already); only for a purchase
 * that was written (a group queues this behind a POS claim that another
 * member's purchase may have taken). */
static const struct db_stmt stmt_coupon_mark_used = {
    "coupons_mark_used",
    "WITH c AS ("
    "  UPDATE coupons SET status = 'used', purchase_id = $3::bigint, used_at = now()"
    "  WHERE member_id = $1::bigint AND id = $2::bigint AND status = 'issued'"
    "  AND EXISTS (SELECT 1 FROM purchases p WHERE p.member_id = $1::bigint AND p.id = $3::bigint)"
    "  RETURNING redemption_id),"
    " r AS ("
    "  UPDATE redemptions SET status = 'used', used_at = now()"
    "  WHERE member_id = $1::bigint AND id IN (SELECT redemption_id FROM c)"
    "  AND status = 'issued'"
    "  RETURNING 1)"
    " SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM r)"};

static int mark_done(void *arg, const PGresult *res, struct err *e)
{
    int64_t coupons;

    (void)arg;
    if (db_get_i64(res, 0, 0, &coupons, e) < 0)
        return -1;
    if (coupons != 1)
        return err_set(e, ERR_CONFLICT, "the coupon has already been used or cancelled");
    return 0;
}

void store_coupon_mark_used_queue(struct db *db, const struct coupon *c, int64_t purchase_id,
                                  struct err *own)
{
    char mt[24], idt[24], pt[24];
    const char *params[3] = {mt, idt, pt};

    db_i64_text(c->member_id, mt);
    db_i64_text(c->id, idt);
    db_i64_text(purchase_id, pt);
    db_queue_errors_to(db, own);
    db_queue(db, &stmt_coupon_mark_used, 3, params, mark_done, NULL);
    db_queue_errors_to(db, NULL);
}
