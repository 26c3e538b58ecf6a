/*
 * coupons.h - coupons issued by redemptions, as a purchase uses them.
 * (Issuing and cancelling them is part of store/rewards.h.)
 */
#ifndef LY_STORE_COUPONS_H
#define LY_STORE_COUPONS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "store/db.h"

struct coupon {
    int64_t id;
    int64_t redemption_id;
    int64_t member_id;
    const char *code;
    const char *reward_code;
    const char *reward_kind; /* gift or discount */
    int64_t discount_value;  /* minor units, 0 when none */
    int32_t discount_pct_x100;
    const char *status; /* issued, used, cancelled */
};

/*
 * Finds and locks (FOR UPDATE, step 3 of the lock order: the member is
 * already locked) the coupon `code` belonging to `member_id`.  Returns 1
 * with *out filled, 0 when this member has no coupon with that code, -1 on
 * error.  The caller checks status and kind.
 */
int store_coupon_take(struct db *db, int64_t member_id, const char *code, struct arena *a,
                      struct coupon *out, struct err *e);

/*
 * store_coupon_take, queued to run with other statements (a purchase
 * group's, api/purchase_group.c): at the flush *found says whether the
 * member has the coupon and *out is it (`out` and `found` must live until
 * then); false, with nothing queued, for a code no coupon can have.
 */
bool store_coupon_take_queue(struct db *db, int64_t member_id, const char *code, struct arena *a,
                             struct coupon *out, bool *found);

/*
 * Queues marking a coupon (and its redemption) used by purchase
 * `purchase_id`, behind that purchase's writes: a failure reading its
 * result goes to `own` (db_queue_errors_to; NULL: to the flush), and is
 * ERR_CONFLICT when the coupon is not issued or the purchase was not
 * written.
 */
void store_coupon_mark_used_queue(struct db *db, const struct coupon *c, int64_t purchase_id,
                                  struct err *own);

#endif
