/*
 * redemption_group.h - redemptions of different members recorded together,
 * in one transaction and three round trips, when they arrive while their
 * worker's transactions are busy (api/gather.h says when groups form).
 *
 * A redemption with an Idempotency-Key joins too: the group claims the key
 * and stores the answer in its transaction, as app.c would in the
 * request's own (api_idem_unclaimed).  Every redemption of a group whose
 * statements failed before its COMMIT is redeemed again alone, after the
 * group's transaction has ended.
 */
#ifndef LY_API_REDEMPTION_GROUP_H
#define LY_API_REDEMPTION_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "api/handlers.h"
#include "api/rules_cache.h"

/* What a request asks to redeem; borrowed for the call. */
struct redemption_order {
    const struct rules_snapshot *snap; /* the request's, held in its arena */
    int64_t member_id;
    int64_t reward_id; /* 0: a malformed id, which names no reward */
    int32_t quantity;
};

/* Sets the number of groups each worker may run at once (0: none); called
 * once, before the workers start. */
void redemption_groups_init(int per_worker);

/* Redeems `o` in a group: true when it is answered (`rs` or `e` set, *rc
 * the handler's return), false when it must be redeemed alone (also when
 * it may not join one: group_may_join). */
bool redemption_group_record(struct req *rq, struct resp *rs, const struct redemption_order *o,
                             struct err *e, int *rc);

#endif
