/*
 * purchase_steps.h - the steps of recording a purchase, shared by the
 * route (api/purchases.c, which records a purchase in a transaction of
 * its own) and purchase groups (api/purchase_group.c, which record
 * several in one).  Only those two include it.
 *
 * Every step works on one purchase's `struct purchase_work`, in its
 * request's arena; none waits for the database (purchase_job_queue only
 * queues, for the caller's flush).
 */
#ifndef LY_API_PURCHASE_STEPS_H
#define LY_API_PURCHASE_STEPS_H

#include <stdbool.h>
#include <stdint.h>

#include "api/handlers.h"
#include "api/purchase_json.h"
#include "api/rules_cache.h"
#include "rules/engine.h"
#include "store/coupons.h"
#include "store/ledger.h"
#include "store/purchases.h"

/* Everything one purchase or quote works with; lives in the request arena. */
struct purchase_work {
    const struct rules_snapshot *snap;
    struct purchase_body in;
    struct purchase_context ctx;
    struct coupon coupon;
    bool has_coupon;
    struct engine_result *res;
    const char *tier_after;
    bool tier_changed;
    int64_t balance_after;
};

/* Forgets all but the request read (snapshot and body): what recording
 * it again, from the context on, starts from. */
void purchase_work_reset(struct purchase_work *w);

/* What the purchase's context is read by (the request's member, time and
 * POS id); borrows from `w`. */
struct purchase_context_query purchase_context_query_of(const struct purchase_work *w,
                                                        bool for_purchase);

/*
 * With the context read: the request's fingerprint (into `fingerprint`),
 * a replay answered from the purchase already recorded under the POS id
 * (1, `rs` set; -1 ERR_CONFLICT when its content differs), and the
 * member's state (0, or -1 with `e`).  A quote (!for_purchase) replays
 * nothing.
 */
int purchase_check(struct resp *rs, const struct purchase_work *w, bool for_purchase,
                   char fingerprint[65], struct err *e);

/* The coupon the request names, as found (`found`) and locked into
 * w->coupon: only an issued discount coupon of the member will do.  Sets
 * w->has_coupon: 0, or -1 with `e`. */
int purchase_coupon_check(struct purchase_work *w, bool found, struct err *e);

/* Runs the rules engine once (its result in the request arena) and
 * derives the tier and balance after: 0, or -1 with `e`. */
int purchase_compute(struct req *rq, struct purchase_work *w, struct err *e);

/* The response as JSON text: malloc'd, the caller owns it. */
char *purchase_render(const struct purchase_work *w, int64_t id);

/* Does the purchase earn the member's referrer points?  That is a second
 * member's write, which only a purchase recorded alone makes. */
bool purchase_referrer_earns(const struct purchase_work *w);

/* What a computed purchase writes, and what the write tells. */
struct purchase_job {
    struct purchase_new p;
    struct ledger_posting posting; /* when nmoves > 0 */
    struct ledger_move moves[4];
    int nmoves;
    struct ledger_entry entries[4]; /* filled by the write */
    struct purchase_write write;    /* the write's own outcome */
};

/* Fills `j` (in the request arena, borrowing `fingerprint` and `result`,
 * which must live until the write). */
void purchase_job_build(struct req *rq, const struct purchase_work *w, const char *fingerprint,
                        char *result, struct purchase_job *j);

/*
 * Queues the job's writes (store_purchase_record_queue) and, with a
 * coupon, its mark-used behind them, every failure reading their results
 * to j->write: the same statements whether the purchase is recorded alone
 * or in a group.  The caller flushes (with the COMMIT when nothing
 * follows); `j` must live until then.
 */
void purchase_job_queue(struct db *db, struct req *rq, const struct purchase_work *w,
                        struct purchase_job *j);

/* After the flush: 1 written, 0 the POS id was another's (nothing
 * written), -1 with `e`; the last entry's balance must be the one the
 * response shows. */
int purchase_job_written(const struct purchase_work *w, const struct purchase_job *j,
                         struct err *e);

/* The 201 of a written purchase: `text` (stolen) is the body, and the
 * purchase counts for /metrics once sent. */
void purchase_answer_created(struct req *rq, struct resp *rs, const struct purchase_work *w,
                             char *text);

#endif
