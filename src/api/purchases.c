/*
 * purchases.c - the purchase routes: POST /v1/purchases (record),
 * POST /v1/purchases/quote (compute, write nothing), GET /v1/purchases/{id}
 * and GET /v1/members/{id}/purchases.
 *
 * Recording is the money path, in this order inside the request's
 * transaction (app.c): read and check the whole body; read the context in
 * one statement, which locks the member (step 1 of the lock order in
 * store/ledger.h) and finds any purchase already recorded under the POS id;
 * answer a replay from that record before any state check; check the
 * member's state; take the coupon (step 3); compute with the rules engine
 * (once: nothing here computes points or money); write the purchase, its
 * lines, its POS claim and any tier change in one statement and post the
 * ledger entries (redeem, earn, bonus, referral) in one more, both in one
 * round trip (with the COMMIT when nothing follows them); reward the
 * referrer when the purchase grants the referral; mark the coupon used.
 * The response is rendered (and dumped) once and stored in the purchase
 * row as it is sent, so a replay of the POS id answers the identical bytes.
 *
 * Exactly once: two requests for one POS id and one member are serialised
 * by the member lock and the second sees the first's record; two for one
 * POS id and different members meet at the claim's ON CONFLICT DO NOTHING,
 * and the loser answers from the winner's record.
 *
 * A purchase without an Idempotency-Key is first offered to a purchase
 * group (api/purchase_group.h), which records it with others in one
 * transaction through the same steps (api/purchase_steps.h); what a group
 * cannot finish is recorded here, alone, from the context on.
 *
 * Must not contain SQL, open or end transactions, or compute points or
 * amounts itself.
 */
#include "store/purchases.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/app.h"
#include "api/counters.h"
#include "api/handlers.h"
#include "api/member_json.h"
#include "api/posting.h"
#include "api/purchase_group.h"
#include "api/purchase_json.h"
#include "api/purchase_steps.h"
#include "api/rules_cache.h"
#include "api/validate.h"
#include "core/xmalloc.h"
#include "rules/engine.h"
#include "store/coupons.h"
#include "store/ledger.h"

/* ------------------------------------------------------------ helpers -- */

static int64_t wall_clock_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------- the purchase -- */

/* The body, the key's store binding, and a member id that names no one. */
static int read_request(struct req *rq, struct purchase_work *w, struct err *e)
{
    w->snap = rules_cache_hold(&rq->arena);
    if (purchase_body_read(rq, wall_clock_us(), &w->in, e) < 0)
        return -1;
    if (rq->who.store_id[0] != '\0' && strcmp(rq->who.store_id, w->in.store_id) != 0)
        return err_set(e, ERR_FORBIDDEN, "this key may only record purchases of its own store");
    if (w->in.member_id_malformed)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    return 0;
}

struct purchase_context_query purchase_context_query_of(const struct purchase_work *w,
                                                        bool for_purchase)
{
    return (struct purchase_context_query){
        .member_id = w->in.member_id,
        .card_number = w->in.card_number,
        .occurred_at = w->in.occurred_at,
        .timezone = w->snap->rules.timezone,
        .window_days = w->snap->rules.tier_window_days,
        .for_purchase = for_purchase,
        .store_id = w->in.store_id,
        .pos_transaction_id = w->in.pos_transaction_id,
    };
}

static int load_context(struct req *rq, struct db *db, struct purchase_work *w, bool for_purchase,
                        struct err *e)
{
    const struct purchase_context_query q = purchase_context_query_of(w, for_purchase);

    return store_purchase_context(db, &q, &rq->arena, &w->ctx, e);
}

/* A purchase already recorded under the POS id: the same request is
 * answered with the record, anything else is a conflict. */
static int answer_recorded(struct resp *rs, const struct purchase_work *w,
                           const struct purchase_record *rec, const char *fingerprint,
                           struct err *e)
{
    char id[24];

    if (rec->member_id == w->ctx.member_id && strcmp(rec->request_hash, fingerprint) == 0) {
        api_send_text(rs, 200, xstrdup(rec->result));
        return 0;
    }
    purchase_id_format(id, sizeof(id), rec->id);
    return err_set(e, ERR_CONFLICT,
                   "pos_transaction_id %s of store %s is already recorded as purchase %s with "
                   "other content",
                   w->in.pos_transaction_id, w->in.store_id, id);
}

/* The member may buy, earn and spend this much. */
static int check_state(const struct purchase_work *w, struct err *e)
{
    if (w->ctx.before_enrolment)
        return err_field(e, "occurred_at", "is more than a day before the member enrolled");
    if (strcmp(w->ctx.status, "active") != 0)
        return err_set(e, ERR_MEMBER_INACTIVE, "the member is %s", w->ctx.status);
    /* pending <= lots <= max(balance, 0): no overflow.  A member in debt
     * (after a return) still buys and earns; it only cannot redeem. */
    if (w->in.redeem_points > 0 &&
        w->in.redeem_points > w->ctx.points_balance - w->ctx.pending_points)
        return err_set(e, ERR_INSUFFICIENT_POINTS,
                       "redeem_points %" PRId64 " is more than the spendable balance of %" PRId64,
                       w->in.redeem_points, w->ctx.points_balance - w->ctx.pending_points);
    return 0;
}

int purchase_coupon_check(struct purchase_work *w, bool found, struct err *e)
{
    if (!found)
        return err_field(e, "coupon_code", "is not a coupon of this member");
    if (strcmp(w->coupon.status, "issued") != 0)
        return err_set(e, ERR_CONFLICT, "the coupon has been %s", w->coupon.status);
    if (strcmp(w->coupon.reward_kind, "discount") != 0)
        return err_field(e, "coupon_code", "is not a discount coupon");
    w->has_coupon = true;
    return 0;
}

/* The coupon, locked; only an issued discount coupon of this member. */
static int take_coupon(struct req *rq, struct db *db, struct purchase_work *w, struct err *e)
{
    int rc;

    if (w->in.coupon_code == NULL)
        return 0;
    rc = store_coupon_take(db, w->ctx.member_id, w->in.coupon_code, &rq->arena, &w->coupon, e);
    return rc < 0 ? -1 : purchase_coupon_check(w, rc == 1, e);
}

int purchase_compute(struct req *rq, struct purchase_work *w, struct err *e)
{
    const struct rules *r = &w->snap->rules;
    struct engine_line_in *lines = arena_alloc(&rq->arena, sizeof(*lines) * (size_t)w->in.nitems);
    struct engine_member m = {
        .tier = w->ctx.tier,
        .qualifying_spend = w->ctx.qualifying_spend,
        .birthday_month = w->ctx.birthday_month,
        .birthday_day = w->ctx.birthday_day,
        .days_since_enrolled = w->ctx.days_since_enrolled,
        .purchase_count = w->ctx.purchase_count,
        .days_since_last_purchase = w->ctx.days_since_last_purchase,
        .referral_pending = w->ctx.referral_pending,
        .segment = w->ctx.segment,
        .lifecycle_stage = w->ctx.lifecycle_stage,
    };
    struct engine_purchase p = {
        .lines = lines,
        .nlines = w->in.nitems,
        .store_id = w->in.store_id,
        .occurred_at_us = w->in.occurred_at_us,
        .local = {w->ctx.local_year, w->ctx.local_month, w->ctx.local_day, w->ctx.local_hour,
                  w->ctx.local_weekday},
        .redeem_points = w->in.redeem_points,
    };
    int64_t earned_net;

    for (int i = 0; i < w->in.nitems; i++)
        lines[i] = (struct engine_line_in){w->in.items[i].sku, w->in.items[i].category,
                                           w->in.items[i].quantity, w->in.items[i].unit_price};
    if (w->has_coupon) {
        p.coupon.kind = w->coupon.discount_value > 0 ? COUPON_VALUE : COUPON_PCT;
        p.coupon.value = w->coupon.discount_value;
        p.coupon.pct_x100 = w->coupon.discount_pct_x100;
        snprintf(p.coupon.code, sizeof(p.coupon.code), "%s", w->coupon.code);
    }
    w->res = arena_alloc(&rq->arena, sizeof(*w->res));
    if (engine_compute(r, &m, &p, w->res, e) < 0)
        return -1;
    /* The engine only raises a tier; an index it did not move keeps the
     * member's own code (which a newer rule set may not know). */
    w->tier_changed = w->res->tier_after != w->res->tier_before;
    w->tier_after = w->tier_changed ? r->tiers[w->res->tier_after].code : w->ctx.tier;
    if (__builtin_sub_overflow(w->res->points_earned, w->res->points_redeemed, &earned_net) ||
        __builtin_add_overflow(earned_net, w->res->referee_points, &earned_net) ||
        __builtin_add_overflow(w->ctx.points_balance, earned_net, &w->balance_after))
        return err_field(e, "items", "the points of this purchase do not fit");
    return 0;
}

int purchase_check(struct resp *rs, const struct purchase_work *w, bool for_purchase,
                   char fingerprint[65], struct err *e)
{
    purchase_fingerprint(&w->in, w->ctx.member_id, fingerprint);
    if (for_purchase && w->ctx.recorded.id != 0)
        return answer_recorded(rs, w, &w->ctx.recorded, fingerprint, e) < 0 ? -1 : 1;
    return check_state(w, e);
}

/* Reads the context and computes the request (read already): everything
 * a quote and a purchase recorded alone share.  Returns 1 when `rs`
 * already holds a replay. */
static int prepare(struct req *rq, struct resp *rs, struct purchase_work *w, bool for_purchase,
                   char fingerprint[65], struct err *e)
{
    struct db *db = api_db(rq, e);
    int rc;

    if (db == NULL || load_context(rq, db, w, for_purchase, e) < 0)
        return -1;
    rc = purchase_check(rs, w, for_purchase, fingerprint, e);
    if (rc != 0)
        return rc;
    if (take_coupon(rq, db, w, e) < 0 || purchase_compute(rq, w, e) < 0)
        return -1;
    return 0;
}

char *purchase_render(const struct purchase_work *w, int64_t id)
{
    const struct purchase_view v = {
        .id = id,
        .member_id = w->ctx.member_id,
        .body = &w->in,
        .result = w->res,
        .tier_before = w->ctx.tier,
        .tier_after = w->tier_after,
        .balance_after = w->balance_after,
        .rules_version = w->snap->version,
    };

    return purchase_result_text(&v);
}

/* Does promotion `code` of the rule set give bonus points? */
static bool gives_bonus(const struct rules *r, const char *code)
{
    for (int i = 0; i < r->npromotions && i < RULES_MAX_PROMOTIONS; i++)
        if (strcmp(r->promotions[i].code, code) == 0)
            return r->promotions[i].bonus_points > 0;
    return false;
}

/* The bonus entry's reason: the promotions that fired and gave bonus
 * points, as `applied` names them. */
static const char *bonus_reason(struct req *rq, const struct purchase_work *w)
{
    static const char prefix[] = "promotion:";
    const struct engine_result *r = w->res;
    char reason[256] = "";
    size_t n = 0;

    for (int i = 0; i < r->napplied && n < sizeof(reason); i++) {
        const char *rule = r->applied[i].rule;

        if (strncmp(rule, prefix, sizeof(prefix) - 1) != 0 ||
            !gives_bonus(&w->snap->rules, rule + sizeof(prefix) - 1))
            continue;
        n += (size_t)snprintf(reason + n, sizeof(reason) - n, "%s%s", n ? ", " : "", rule);
    }
    return n > 0 ? arena_strdup(&rq->arena, reason) : NULL;
}

/* The purchase's ledger moves: redeem, earn, bonus and the referee's
 * referral, each its own entry (those that move points), in one posting
 * dated by the purchase.  Returns how many; `moves` has room for four. */
static int posting_of(struct req *rq, const struct purchase_work *w, struct ledger_move *moves,
                      struct ledger_posting *posting)
{
    const struct engine_result *r = w->res;
    const struct ledger_move all[] = {
        {"redeem", -r->points_redeemed, NULL},
        {"earn", r->points_earned - r->bonus_points, NULL},
        {"bonus", r->bonus_points, bonus_reason(rq, w)},
        {"referral", r->referee_points, "first qualifying purchase"},
    };
    int n = 0;

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (all[i].points != 0)
            moves[n++] = all[i];
    if (n > 0) {
        *posting = api_posting(&w->snap->rules, w->ctx.member_id, n, moves);
        posting->purchase_id = w->ctx.new_id;
        posting->occurred_at = w->in.occurred_at;
    }
    return n;
}

bool purchase_referrer_earns(const struct purchase_work *w)
{
    return w->res->referral && w->res->referrer_points != 0 && w->ctx.referrer_id != 0;
}

/* The referrer's half of the referral.  The referrer enrolled before the
 * member, so its id is lower and locking it now keeps THE lock order
 * (store/ledger.h: members by descending id).  A referrer that may not
 * earn (suspended, closed) gets nothing; the referral still counts as
 * granted. */
static int reward_referrer(struct req *rq, struct db *db, const struct purchase_work *w,
                           struct err *e)
{
    const struct rules *r = &w->snap->rules;
    struct member_lock ref;
    struct ledger_move move;
    struct ledger_posting posting;
    struct ledger_entry entry;
    char reason[64], member[24];

    if (!purchase_referrer_earns(w))
        return 0;
    ly_assert(w->ctx.referrer_id < w->ctx.member_id);
    if (store_member_lock(db, w->ctx.referrer_id, r->timezone, &rq->arena, &ref, e) < 0)
        return -1;
    if (strcmp(ref.status, "active") != 0)
        return 0;
    member_id_format(member, sizeof(member), w->ctx.member_id);
    snprintf(reason, sizeof(reason), "referred %s", member);
    move = (struct ledger_move){"referral", w->res->referrer_points, reason};
    posting = api_posting(r, w->ctx.referrer_id, 1, &move);
    return store_ledger_post(db, &posting, &rq->arena, &entry, e);
}

/* Counts a purchase for /metrics once its 201 has been sent (and so its
 * transaction committed). */
struct counted {
    const struct req *rq;
    int64_t earned, redeemed;
};

static void count_purchase(void *p)
{
    const struct counted *c = p;

    if (c->rq->status == 201)
        counters_purchase(c->earned, c->redeemed);
}

void purchase_job_build(struct req *rq, const struct purchase_work *w, const char *fingerprint,
                        char *result, struct purchase_job *j)
{
    struct purchase_line_row *rows = arena_alloc(&rq->arena, sizeof(*rows) * (size_t)w->in.nitems);
    int64_t spend_after;

    if (__builtin_add_overflow(w->ctx.qualifying_spend, w->res->net_spend, &spend_after))
        spend_after = INT64_MAX;
    j->p = (struct purchase_new){
        .id = w->ctx.new_id,
        .member_id = w->ctx.member_id,
        .store_id = w->in.store_id,
        .terminal_id = w->in.terminal_id,
        .pos_transaction_id = w->in.pos_transaction_id,
        .occurred_at = w->in.occurred_at,
        .subtotal = w->res->subtotal,
        .discount_total = w->res->discount_total,
        .redeemed_value = w->res->redeemed_value,
        .total_due = w->res->total_due,
        .points_earned = w->res->points_earned,
        .points_redeemed = w->res->points_redeemed,
        .net_spend = w->res->net_spend,
        .tier_before = w->ctx.tier,
        .tier_after = w->tier_after,
        .tier_changed = w->tier_changed,
        .qualifying_spend_after = spend_after,
        .timezone = w->snap->rules.timezone,
        .bonus_points = w->res->bonus_points,
        .referral_granted = w->res->referral,
        .rules_version = w->snap->version,
        .coupon_code = w->has_coupon ? w->coupon.code : NULL,
        .request_hash = fingerprint,
        .result = result,
        .nlines = w->in.nitems,
        .lines = rows,
    };
    for (int i = 0; i < w->in.nitems; i++) {
        const struct engine_line_out *o = &w->res->lines[i];

        rows[i] = (struct purchase_line_row){w->in.items[i].sku,
                                             w->in.items[i].category,
                                             w->in.items[i].quantity,
                                             w->in.items[i].unit_price,
                                             o->amount,
                                             o->discount,
                                             o->redeemed_share,
                                             o->net_spend,
                                             o->points};
    }
    j->nmoves = posting_of(rq, w, j->moves, &j->posting);
}

void purchase_job_queue(struct db *db, struct req *rq, const struct purchase_work *w,
                        struct purchase_job *j)
{
    store_purchase_record_queue(db, &j->p, j->nmoves > 0 ? &j->posting : NULL, &rq->arena,
                                j->entries, &j->write);
    if (w->has_coupon)
        store_coupon_mark_used_queue(db, &w->coupon, w->ctx.new_id, &j->write.e);
}

int purchase_job_written(const struct purchase_work *w, const struct purchase_job *j, struct err *e)
{
    int rc = store_purchase_record_result(&j->write, e);

    if (rc == 1 && j->nmoves > 0 && j->entries[j->nmoves - 1].balance_after != w->balance_after)
        return err_internal(e, ERR_INTERNAL,
                            "ledger balance %" PRId64 " differs from the computed %" PRId64,
                            j->entries[j->nmoves - 1].balance_after, w->balance_after);
    return rc;
}

void purchase_answer_created(struct req *rq, struct resp *rs, const struct purchase_work *w,
                             char *text)
{
    struct counted *c = arena_alloc(&rq->arena, sizeof(*c));

    *c = (struct counted){rq, w->res->points_earned, w->res->points_redeemed};
    arena_defer(&rq->arena, count_purchase, c);
    /* The very text stored: rendered once, and a replay is identical. */
    api_send_text(rs, 201, text);
}

/*
 * Writes the purchase, its ledger entries and its coupon's use in one
 * round trip; the last entry's balance must be the one the response
 * shows.  When nothing else belongs to the transaction (no referrer to
 * reward, no Idempotency-Key record for app.c to store) the COMMIT goes
 * in the same round trip.  Returns 1, or 0 when another purchase took the
 * POS id meanwhile (nothing written), or -1.
 */
static int record(struct req *rq, struct db *db, const struct purchase_work *w,
                  const char *fingerprint, char *result, struct err *e)
{
    bool commit = api_tx_ends_with_handler(rq) && !purchase_referrer_earns(w);
    struct purchase_job *j = arena_alloc(&rq->arena, sizeof(*j));

    purchase_job_build(rq, w, fingerprint, result, j);
    purchase_job_queue(db, rq, w, j);
    if ((commit ? db_flush_commit(db, e) : db_flush(db, e)) < 0)
        return -1;
    return purchase_job_written(w, j, e);
}

/* Records the purchase in a transaction of its own (app.c's): 0 with the
 * answer in `rs`, or -1. */
static int record_alone(struct req *rq, struct resp *rs, struct purchase_work *w, struct err *e)
{
    struct purchase_record rec;
    char fingerprint[65];
    char *text;
    struct db *db;
    int rc;

    rc = prepare(rq, rs, w, true, fingerprint, e);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    db = api_db(rq, e);
    ly_assert(db != NULL && w->ctx.new_id != 0);
    text = purchase_render(w, w->ctx.new_id);
    rc = record(rq, db, w, fingerprint, text, e);
    if (rc <= 0) {
        free(text);
        if (rc < 0)
            return -1;
        /* Another member's purchase claimed the POS id and committed while
         * this one was being computed: answer from its record. */
        rc = store_purchase_find_by_pos(db, w->in.store_id, w->in.pos_transaction_id, &rq->arena,
                                        &rec, e);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return err_internal(e, ERR_INTERNAL, "POS id claimed but no purchase found");
        return answer_recorded(rs, w, &rec, fingerprint, e);
    }
    if (reward_referrer(rq, db, w, e) < 0) {
        free(text);
        return -1;
    }
    purchase_answer_created(rq, rs, w, text);
    return 0;
}

int api_purchases_create(struct req *rq, struct resp *rs, struct err *e)
{
    struct purchase_work *w = arena_alloc(&rq->arena, sizeof(*w));
    int rc;

    memset(w, 0, sizeof(*w));
    if (read_request(rq, w, e) < 0)
        return -1;
    if (purchase_group_record(rq, rs, w, e, &rc))
        return rc;
    /* Alone, from the context on (a group may have read some of it). */
    purchase_work_reset(w);
    /* With a key the app has not claimed yet, it claims it first and then
     * runs this again (api_idem_unclaimed). */
    if (api_idem_unclaimed(rq) != NULL)
        return API_RUN_AGAIN;
    return record_alone(rq, rs, w, e);
}

int api_purchases_quote(struct req *rq, struct resp *rs, struct err *e)
{
    struct purchase_work *w = arena_alloc(&rq->arena, sizeof(*w));
    char fingerprint[65];

    memset(w, 0, sizeof(*w));
    if (read_request(rq, w, e) < 0 || prepare(rq, rs, w, false, fingerprint, e) < 0)
        return -1;
    api_send_text(rs, 200, purchase_render(w, 0));
    return 0;
}

void purchase_work_reset(struct purchase_work *w)
{
    const struct purchase_work keep = {.snap = w->snap, .in = w->in};

    *w = keep;
}

/* ------------------------------------------------------------ reading -- */

int api_purchases_get(struct req *rq, struct resp *rs, struct err *e)
{
    struct purchase_record rec;
    struct db *db;
    int64_t id;

    if (id_parse(req_param(rq, 0), PURCHASE_ID_PREFIX, &id) < 0)
        return err_set(e, ERR_NOT_FOUND, "purchase not found");
    db = api_db(rq, e);
    if (db == NULL || store_purchase_get(db, id, &rq->arena, &rec, e) < 0)
        return -1;
    if (rq->who.store_id[0] != '\0' && strcmp(rq->who.store_id, rec.store_id) != 0)
        return err_set(e, ERR_FORBIDDEN, "this key may only read purchases of its own store");
    api_send_text(rs, 200, xstrdup(rec.result));
    return 0;
}

static json_t *summary_json(const struct purchase_summary *s)
{
    char id[24], member[24];

    purchase_id_format(id, sizeof(id), s->id);
    member_id_format(member, sizeof(member), s->member_id);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:s}",
                     "id", id, "member_id", member, "store_id", s->store_id, "terminal_id",
                     s->terminal_id, "pos_transaction_id", s->pos_transaction_id, "occurred_at",
                     s->occurred_at, "subtotal", (json_int_t)s->subtotal, "discount_total",
                     (json_int_t)s->discount_total, "redeemed_value", (json_int_t)s->redeemed_value,
                     "total_due", (json_int_t)s->total_due, "points_earned",
                     (json_int_t)s->points_earned, "points_redeemed",
                     (json_int_t)s->points_redeemed, "tier_after", s->tier_after, "rules_version",
                     (json_int_t)s->rules_version, "created_at", s->created_at);
}

int api_member_purchases_list(struct req *rq, struct resp *rs, struct err *e)
{
    struct purchase_summary *items;
    int64_t member_id, before;
    struct db *db;
    json_t *arr;
    bool more;
    int limit, n;

    if (id_parse(req_param(rq, 0), MEMBER_ID_PREFIX, &member_id) < 0)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    if (page_query_read(rq, PURCHASE_ID_PREFIX, &limit, &before, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL ||
        store_purchase_list(db, member_id, before, limit, &rq->arena, &items, &n, &more, e) < 0)
        return -1;
    arr = json_array();
    for (int i = 0; i < n; i++)
        arr = page_items_add(arr, summary_json(&items[i]));
    return page_reply(rs, arr, more, PURCHASE_ID_PREFIX, more ? items[n - 1].id : 0, e);
}
