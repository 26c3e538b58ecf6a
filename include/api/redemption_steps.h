/*
 * redemption_steps.h - the steps of redeeming, shared by the route
 * (api/redemptions.c, one redemption in a transaction of its own) and
 * redemption groups (api/redemption_group.c, several in one).  Only those
 * two include it.
 *
 * None of them waits for the database; the checks are numbered as in
 * redemptions.c's header, which gives their order.
 */
#ifndef LY_API_REDEMPTION_STEPS_H
#define LY_API_REDEMPTION_STEPS_H

#include <stdbool.h>
#include <stdint.h>

#include "api/handlers.h"
#include "store/ledger.h"
#include "store/rewards.h"

/* Checks 2 to 6 on what the two locks read (`m` and `w` are only read when
 * found).  Returns 0, or -1 with `e`. */
int redemption_check_locked(const struct member_lock *m, bool member_found, const struct reward *w,
                            bool reward_found, struct err *e);

/* Check 7: may the member, who holds `live` units of the reward that are
 * not cancelled, take `qty` more? */
int redemption_check_limit(const struct reward *w, int64_t live, int32_t qty, struct err *e);

/* Check 8 on what the reward's read says (a limited stock is taken later
 * by a conditional UPDATE, which can still find too little). */
int redemption_check_stock(const struct reward *w, int32_t qty, struct err *e);

/* Check 9: *cost of `qty` units and the balance *after it; -1 with `e` when
 * the member cannot spend that much (or the product does not fit). */
int redemption_check_cost(const struct member_lock *m, const struct reward *w, int32_t qty,
                          int64_t *cost, int64_t *after, struct err *e);

/* `n` fresh coupon codes, in `a`. */
const char **redemption_new_codes(struct arena *a, int n);

/* Answers `status` with the redemption `r` (borrowed; its strings are
 * copied).  Returns 0, or -1 with `e`. */
int redemption_reply(struct resp *rs, int status, const struct redemption *r, struct err *e);

#endif
