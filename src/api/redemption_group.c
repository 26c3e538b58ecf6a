/*
 * redemption_group.c - several members' redemptions recorded in one
 * transaction (api/redemption_group.h).
 *
 * The leader of a group (api/gather.h) takes one connection and, for the
 * group's redemptions (one per member, by descending member id):
 *   0. when some name an Idempotency-Key: BEGIN and every key's claim, in
 *      key order, in one round trip (the lock order puts keys before any
 *      member); a key already recorded answers from its record (or 422)
 *      and takes no further part;
 *   1. BEGIN (unless step 0 sent it), every member's lock (THE lock
 *      order, store/ledger.h: members by descending id), then each reward
 *      they name once, by ascending id (KEY SHARE), in one round trip; the
 *      members whose lock waited for a writer are read again, holding the
 *      lock, in one more; so, in one more, is what each member holds of a
 *      reward with a per-member limit;
 *   2. for each redemption, on its own: checks 2 to 9 of redemptions.c's
 *      header, in that order (redemption_steps.h);
 *   3. the units of limited stocks, taken by ascending reward id (the
 *      lock order's step 2) in one round trip, a taker that finds too
 *      little refused as alone; then every redemption and its coupons, in
 *      one more;
 *   4. every redemption's ledger posting, the answers of those with a key
 *      (app.c's text, 201 or a refusal, as the request alone would store
 *      it) and the COMMIT, in one round trip, each posting's result read on
 *      its own (db_queue_errors_to).
 * A redemption's own refusal (a 4xx) touches no other: it queued nothing
 * but, with a key, its stored answer (a stock it failed to take did not
 * move).  A statement that fails before the COMMIT aborts the transaction
 * for all, and every redemption that was to be written then goes alone:
 * nothing of the group was committed.  Once the COMMIT may have run, no redemption
 * goes alone (that could redeem twice); one whose fate is unknown is
 * answered with the failure, as it would be alone.  A keyed answer goes
 * out once its record is committed: the very text stored.  (Should a
 * posting's result then disagree, the answer is the 500 and the record
 * keeps the 201 of what was committed.)
 *
 * Must not contain SQL or decide a redemption's checks itself.
 */
#include "api/redemption_group.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/gather.h"
#include "api/group_keys.h"
#include "api/posting.h"
#include "api/redemption_steps.h"
#include "core/xmalloc.h"
#include "store/db.h"
#include "store/ledger.h"
#include "store/rewards.h"

/* What a redemption's request and the group's leader share, in the
 * request's arena; rq, rs and e are the request's own, borrowed. */
struct item {
    struct gather_item g;
    struct req *rq;
    struct resp *rs;
    struct err *e;
    struct redemption_order o;
    enum {
        ITEM_ALONE,   /* redeem it alone (the default) */
        ITEM_ANSWERED /* `rs` or `e` holds the answer; rc says which */
    } outcome;
    int rc;
    bool member_found;
    struct member_lock m;
    const struct reward *w; /* the group's read of o.reward_id; NULL: none */
    bool writing;           /* queued in steps 3 and 4 */
    int64_t live;           /* with a per-member limit: what the member holds of it */
    bool takes_stock;       /* its reward's stock is limited */
    bool stock_moved;       /* step 3 took its units */
    int64_t after;          /* the balance the posting must leave */
    struct redemption_new ins;
    struct redemption red;
    struct ledger_move move;
    struct ledger_posting posting;
    struct ledger_entry entry;
    struct err own;       /* the posting's own failure */
    struct group_key key; /* its Idempotency-Key, if any */
};

/* One reward the group read, for every item that names it. */
struct reward_read {
    int64_t id;
    bool found;
    struct reward w;
};

static void run_group(struct gather_item *const *items, int n);

void redemption_groups_init(int per_worker)
{
    gather_init(GATHER_REDEMPTIONS, run_group, per_worker);
}

static void answer_error(struct item *it, const struct err *e)
{
    *it->e = *e;
    it->rc = -1;
    it->outcome = ITEM_ANSWERED;
}

/*
 * Step 0: the keys claimed (api/group_keys.h).  Leaves in its[0..*n) the
 * redemptions still to redeem, in their order; those whose key is
 * recorded are answered, and one whose key another holds goes alone.
 * Returns 0, or -1 with `e` when a statement failed.
 */
static int claim_keys(struct db *db, struct item **its, int *n, struct err *e)
{
    struct group_key *keys[GATHER_MAX];
    int left = 0;

    for (int i = 0; i < *n; i++)
        keys[i] = &its[i]->key;
    if (group_keys_claim(db, keys, *n, e) < 0)
        return -1;
    for (int i = 0; i < *n; i++) {
        int go = group_key_claimed(&its[i]->key, its[i]->rs, its[i]->e, &its[i]->rc);

        if (go == 1)
            its[left++] = its[i];
        else if (go == 0)
            its[i]->outcome = ITEM_ANSWERED;
    }
    *n = left;
    return 0;
}

/* Step 1's rewards: each id once, ascending (THE lock order's step 2), into
 * reads[0..return); item i's reward is then reads[...] of its id. */
static int queue_rewards(struct db *db, struct item **its, int n, struct reward_read *reads,
                         struct arena *a)
{
    int k = 0;

    for (int i = 0; i < n; i++) {
        int64_t id = its[i]->o.reward_id;
        int at = k;
        bool seen = false;

        for (int j = 0; j < k && !seen; j++)
            seen = reads[j].id == id;
        if (id == 0 || seen)
            continue;
        while (at > 0 && reads[at - 1].id > id) {
            reads[at] = reads[at - 1];
            at--;
        }
        reads[at] = (struct reward_read){.id = id};
        k++;
    }
    for (int j = 0; j < k; j++)
        store_reward_lock_queue(db, reads[j].id, a, &reads[j].w, &reads[j].found);
    return k;
}

/* Step 1's last part, only when a reward has a per-member limit: what each
 * such member holds of it, read under the member's lock (check 7). */
static int read_limits(struct db *db, struct item **its, int n, struct err *e)
{
    int queued = 0;

    for (int i = 0; i < n; i++)
        if (its[i]->member_found && its[i]->w != NULL && its[i]->w->per_member_limit > 0) {
            store_redemption_live_quantity_queue(db, its[i]->o.member_id, its[i]->o.reward_id,
                                                 &its[i]->live);
            queued++;
        }
    return queued > 0 ? db_flush(db, e) : 0;
}

/*
 * Step 1: the members locked and read (again where the lock waited), and
 * the rewards.  Returns 0, or -1 with `e` when a statement failed (the
 * transaction is then to be rolled back).
 */
static int read_locks(struct db *db, struct item **its, int n, struct reward_read *reads,
                      struct err *e)
{
    int nreads;

    for (int i = 0; i < n; i++)
        store_member_lock_queue(db, its[i]->o.member_id, its[i]->o.snap->rules.timezone,
                                &its[i]->rq->arena, &its[i]->m, &its[i]->member_found);
    nreads = queue_rewards(db, its, n, reads, &its[0]->rq->arena);
    if (db_flush(db, e) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        its[i]->w = NULL;
        for (int j = 0; j < nreads && its[i]->w == NULL; j++)
            if (reads[j].id == its[i]->o.reward_id && reads[j].found)
                its[i]->w = &reads[j].w;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        int queued = 0;

        for (int i = 0; i < n; i++)
            if (its[i]->member_found && its[i]->m.stale) {
                store_member_lock_queue(db, its[i]->o.member_id, its[i]->o.snap->rules.timezone,
                                        &its[i]->rq->arena, &its[i]->m, &its[i]->member_found);
                queued++;
            }
        if (queued == 0)
            break;
        if (attempt == 1)
            return err_internal(e, ERR_INTERNAL, "member row changed under a held lock");
        if (db_flush(db, e) < 0)
            return -1;
    }
    return read_limits(db, its, n, e);
}

/* A refusal: answered now, or with a key stored with the COMMIT and
 * answered then (a 5xx is never stored). */
static void refuse(struct item *it, const struct err *e)
{
    if (it->key.key == NULL || !group_key_keep(&it->key, it->rq, it->rs, e))
        answer_error(it, e);
}

/* Step 2 for one redemption: its writes prepared, or its answer (or its
 * going alone) decided. */
static void check_one(struct item *it)
{
    struct err e;
    int64_t cost;

    err_clear(&e);
    if (redemption_check_locked(&it->m, it->member_found, it->w, it->w != NULL, &e) < 0) {
        refuse(it, &e);
        return;
    }
    ly_assert(it->w != NULL); /* a missing reward was refused just above */
    if (redemption_check_limit(it->w, it->live, it->o.quantity, &e) < 0 ||
        redemption_check_stock(it->w, it->o.quantity, &e) < 0 ||
        redemption_check_cost(&it->m, it->w, it->o.quantity, &cost, &it->after, &e) < 0) {
        refuse(it, &e);
        return;
    }
    it->takes_stock = it->w->stock >= 0;
    it->ins = (struct redemption_new){it->o.member_id,
                                      it->o.reward_id,
                                      it->o.quantity,
                                      cost,
                                      it->after,
                                      it->o.quantity,
                                      redemption_new_codes(&it->rq->arena, it->o.quantity)};
    it->writing = true;
}

/* Step 4's answer for one redemption that waited for it, once the COMMIT
 * has run or may have (`committed`), or has not (then it goes alone,
 * unless the database is out of reach: `failure`). */
static void answer_written(struct item *it, bool committed, const struct err *failure)
{
    struct err e;

    if (!it->writing && !it->key.keep && !it->key.release)
        return;
    if (!committed || it->key.release) {
        group_key_drop(&it->key);
        if (!committed && failure->code == ERR_UNAVAILABLE)
            answer_error(it, failure);
        return; /* alone, unless answered already (a 5xx that gave its claim back) */
    }
    if (!it->writing) {
        group_key_send(&it->key, it->rs);
        it->rc = 0;
        it->outcome = ITEM_ANSWERED;
        return;
    }
    err_clear(&e);
    if (err_is_set(&it->own))
        e = it->own;
    else if (it->entry.id == 0 && err_is_set(failure))
        e = *failure; /* its posting's result never came: the COMMIT's fate is unknown */
    else if (it->entry.id == 0)
        err_internal(&e, ERR_INTERNAL, "redeem: no ledger entry came back");
    else if (it->entry.balance_after != it->after)
        err_internal(&e, ERR_INTERNAL, "redeem: ledger says %" PRId64 ", expected %" PRId64,
                     it->entry.balance_after, it->after);
    if (err_is_set(&e)) {
        group_key_drop(&it->key);
        answer_error(it, &e);
        return;
    }
    if (it->key.keep)
        group_key_send(&it->key, it->rs);
    else if (redemption_reply(it->rs, 201, &it->red, &e) < 0) {
        answer_error(it, &e);
        return;
    }
    it->rc = 0;
    it->outcome = ITEM_ANSWERED;
}

/* A keyed writer's answer, kept before its posting so that it is stored
 * with it: the redemption as step 3 recorded it. */
static int keep_written(struct item *it, struct err *e)
{
    if (redemption_reply(it->rs, 201, &it->red, e) < 0)
        return -1;
    group_key_keep(&it->key, it->rq, it->rs, NULL);
    return 0;
}

static int by_reward(const void *x, const void *y)
{
    int64_t a = (*(struct item *const *)x)->o.reward_id,
            b = (*(struct item *const *)y)->o.reward_id;

    return a < b ? -1 : a > b ? 1 : 0;
}

/* Step 3's stock: each taker's units, by ascending reward id.  A taker
 * that finds too little is refused, as the conditional UPDATE refuses it
 * alone.  Returns 0, or -1 with `e` when a statement failed. */
static int take_stock(struct db *db, struct item **its, int n, struct err *e)
{
    struct item *takers[GATHER_MAX];
    int k = 0;

    for (int i = 0; i < n; i++)
        if (its[i]->writing && its[i]->takes_stock)
            takers[k++] = its[i];
    if (k == 0)
        return 0;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    qsort(takers, (size_t)k, sizeof(takers[0]), by_reward);
    for (int i = 0; i < k; i++)
        store_reward_move_stock_queue(db, takers[i]->o.reward_id, -(int64_t)takers[i]->o.quantity,
                                      &takers[i]->stock_moved);
    if (db_flush(db, e) < 0)
        return -1;
    for (int i = 0; i < k; i++)
        if (!takers[i]->stock_moved) {
            struct err short_of;

            err_clear(&short_of);
            err_set(&short_of, ERR_OUT_OF_STOCK, "not enough of this reward left");
            takers[i]->writing = false;
            refuse(takers[i], &short_of);
        }
    return 0;
}

/* Steps 3 and 4.  Returns whether the COMMIT ran (or may have); `e` is the
 * failure, if any. */
static bool write_all(struct db *db, struct item **its, int n, struct err *e)
{
    int writers = 0, records = 0;

    if (take_stock(db, its, n, e) < 0)
        return false;
    for (int i = 0; i < n; i++) {
        if (its[i]->writing) {
            store_redemption_insert_queue(db, &its[i]->ins, &its[i]->rq->arena, &its[i]->red);
            writers++;
        }
        records += its[i]->key.keep || its[i]->key.release;
    }
    if (writers == 0 && records == 0)
        return false;
    if (writers > 0 && db_flush(db, e) < 0)
        return false;
    for (int i = 0; i < n; i++)
        if (its[i]->writing && its[i]->key.key != NULL && keep_written(its[i], e) < 0)
            return false; /* nothing committed: each alone */
    for (int i = 0; i < n; i++) {
        struct item *it = its[i];

        group_key_queue(db, &it->key);
        if (!it->writing)
            continue;
        it->move = (struct ledger_move){"redeem", -it->ins.points_spent, NULL};
        it->posting = api_posting(&it->o.snap->rules, it->o.member_id, 1, &it->move);
        it->posting.redemption_id = it->red.id;
        err_clear(&it->own);
        db_queue_errors_to(db, &it->own);
        store_ledger_post_queue(db, &it->posting, &it->rq->arena, &it->entry);
        db_queue_errors_to(db, NULL);
    }
    return db_flush_commit(db, e) == 0 || !db_in_tx(db);
}

static void run_group(struct gather_item *const *gs, int n)
{
    struct item *its[GATHER_MAX];
    struct reward_read reads[GATHER_MAX];
    struct db *db;
    struct err e;
    bool committed;

    for (int i = 0; i < n; i++)
        its[i] = gs[i]->arg;
    err_clear(&e); /* err_set keeps the first error: start from none */
    db = db_acquire(&e);
    if (db == NULL || db_begin(db, &e) < 0) {
        for (int i = 0; i < n; i++)
            answer_error(its[i], &e);
        if (db != NULL)
            db_release(db);
        return;
    }
    if (claim_keys(db, its, &n, &e) < 0 || (n > 0 && read_locks(db, its, n, reads, &e) < 0)) {
        /* Each alone, unless the database is out of reach for all. */
        for (int i = 0; i < n && e.code == ERR_UNAVAILABLE; i++)
            answer_error(its[i], &e);
        db_release(db);
        return;
    }
    for (int i = 0; i < n; i++)
        check_one(its[i]);
    err_clear(&e);
    committed = write_all(db, its, n, &e);
    for (int i = 0; i < n; i++)
        answer_written(its[i], committed, &e);
    db_release(db);
}

bool redemption_group_record(struct req *rq, struct resp *rs, const struct redemption_order *o,
                             struct err *e, int *rc)
{
    struct item *it;

    if (!group_may_join(rq, GATHER_REDEMPTIONS))
        return false;
    it = arena_alloc(&rq->arena, sizeof(*it));
    memset(it, 0, sizeof(*it));
    it->g.kind = GATHER_REDEMPTIONS;
    it->g.key = o->member_id;
    it->g.arg = it;
    it->rq = rq;
    it->rs = rs;
    it->e = e;
    it->o = *o;
    group_key_take(&it->key, rq);
    gather_join(&it->g);
    *rc = it->rc;
    return it->outcome == ITEM_ANSWERED;
}
