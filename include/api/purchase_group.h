/*
 * purchase_group.h - purchases of different members recorded together, in
 * one transaction and two round trips, when they arrive while their
 * worker's transactions are busy (api/gather.h says when groups form).
 *
 * A purchase with an Idempotency-Key joins too: the group claims the key
 * and stores the answer in its transaction (api/group_keys.h).  What a
 * group cannot finish for a purchase (a referrer to reward, a POS id
 * another member's purchase took, a failed statement) is recorded again
 * alone, after the group's transaction has ended, its key given back.
 */
#ifndef LY_API_PURCHASE_GROUP_H
#define LY_API_PURCHASE_GROUP_H

#include <stdbool.h>

#include "api/handlers.h"

struct purchase_work;

/* Sets the number of groups each worker may run at once (0: none); called
 * once, before the workers start. */
void purchase_groups_init(int per_worker);

/*
 * Records the purchase in a group: true when it is answered (`rs` or `e`
 * set, *rc the handler's return), false when it must be recorded alone
 * (also when it may not join one: group_may_join); `w` then holds what the
 * group learnt (purchase_work_reset it).
 */
bool purchase_group_record(struct req *rq, struct resp *rs, struct purchase_work *w, struct err *e,
                           int *rc);

#endif
