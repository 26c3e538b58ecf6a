/*
 * purchase_group.c - several members' purchases recorded in one
 * transaction (api/purchase_group.h).
 *
 * The leader of a group (api/gather.h) takes one connection and, for the
 * group's purchases in descending member id (THE lock order, store/ledger.h):
 *   K. when some name an Idempotency-Key: BEGIN and the keys' claims, in
 *      key order, in one round trip (api/group_keys.h); a key already
 *      recorded answers from its record (or 422) and takes no further part;
 *   0. when some name their member by card: BEGIN and every such card's
 *      member id, in one round trip (a card never changes hands, so no lock
 *      is needed for that); a second purchase of a member already in the
 *      group waits for it, alone;
 *   1. BEGIN (unless step 0 sent it) and every purchase's context, each
 *      locking its member, in one round trip (and once more for the
 *      contexts whose lock waited for a writer, as store_purchase_context
 *      does);
 *   2. for each purchase, on its own: the replay check, the member's state
 *      and the rules engine (purchase_steps.h), as recorded alone;
 *   3. every write, in ascending POS id, and the COMMIT in one round trip,
 *      each purchase's results read on their own (db_queue_errors_to);
 *      with keys, the COMMIT goes in one more, with the keys' answers,
 *      once the writes tell whose POS claims held: each keyed purchase
 *      stores what it answers (its result, a replay, a refusal), and one
 *      that goes alone gives its claim back.
 * A purchase's own failure (a 4xx, a lost POS claim) touches no other: its
 * statements either wrote nothing or were never queued.  A statement that
 * fails aborts the transaction for all, and every purchase whose write
 * was in it is recorded again alone; so is a purchase that needs more than
 * the group does (a referrer to reward).  A coupon is locked in step 1,
 * after every member, and marked used in step 3 behind its purchase's
 * writes.  Alone, a purchase reads its context again, so the second try
 * sees whatever the first did commit: a POS id recorded by the group
 * answers as a replay, never twice.
 *
 * Must not contain SQL or compute points itself.
 */
#include "api/purchase_group.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/gather.h"
#include "api/group_keys.h"
#include "api/purchase_steps.h"
#include "core/xmalloc.h"
#include "store/db.h"
#include "store/members.h"

/* What a purchase's request and the group's leader share, in the
 * request's arena; rq, rs, w and e are the request's own, borrowed. */
struct item {
    struct gather_item g;
    struct req *rq;
    struct resp *rs;
    struct purchase_work *w;
    struct err *e;
    enum {
        ITEM_ALONE,   /* record it alone (the default) */
        ITEM_ANSWERED /* `rs` or `e` holds the answer; rc says which */
    } outcome;
    int rc;
    int64_t member_id; /* the request's, or its card's once step 0 found it */
    bool found;        /* step 0 found the card's member */
    bool coupon_found; /* step 1 found (and locked) the coupon it names */
    bool writing;      /* its job is in the write round trip */
    char fingerprint[65];
    char *text; /* the response, owned until answered */
    struct purchase_context_read ctx;
    struct purchase_job job;
    struct group_key key; /* its Idempotency-Key, if any */
};

static void run_group(struct gather_item *const *items, int n);

void purchase_groups_init(int per_worker)
{
    gather_init(GATHER_PURCHASES, run_group, per_worker);
}

static struct item *item_of(struct gather_item *g)
{
    return g->arg;
}

static void answer_error(struct item *it, const struct err *e)
{
    *it->e = *e;
    it->rc = -1;
    it->outcome = ITEM_ANSWERED;
}

/* A purchase's own answer decided before the writes: `e`, or with NULL
 * the replay in `rs`.  Sent now, or with a key stored with the COMMIT and
 * sent then (a 5xx is never stored). */
static void answer_early(struct item *it, const struct err *e)
{
    if (it->key.key != NULL && group_key_keep(&it->key, it->rq, it->rs, e))
        return;
    if (e != NULL) {
        answer_error(it, e);
        return;
    }
    it->rc = 0;
    it->outcome = ITEM_ANSWERED;
}

/* Alone, after the group: with a key, its claim is given back first. */
static void go_alone(struct item *it)
{
    it->key.release = it->key.key != NULL;
}

/*
 * Step K: the keys claimed.  Leaves in its[0..*n) the purchases still to
 * record, in their order; those whose key is recorded are answered, and
 * one whose key another holds goes alone.  Returns 0, or -1 with `e` when
 * a statement failed.
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

static void queue_context(struct db *db, struct item *it)
{
    struct purchase_context_query q = purchase_context_query_of(it->w, true);

    q.member_id = it->member_id;
    store_purchase_context_queue(db, &q, &it->rq->arena, &it->w->ctx, &it->ctx);
}

static int by_member_desc(const void *x, const void *y)
{
    int64_t a = (*(struct item *const *)x)->member_id, b = (*(struct item *const *)y)->member_id;

    return a < b ? 1 : a > b ? -1 : 0;
}

/*
 * Step 0: the members of the purchases by card.  Leaves in its[0..*n) the
 * purchases still to record, by descending member id, one per member; a
 * card of no member is answered here, and a member's second purchase
 * goes alone.  Returns 0, or -1 with `e` when a statement failed.
 */
static int find_members(struct db *db, struct item **its, int *n, struct err *e)
{
    int queued = 0, k = 0;
    struct err missing;

    for (int i = 0; i < *n; i++)
        if (its[i]->member_id == 0) {
            store_member_id_by_card_queue(db, its[i]->w->in.card_number, &its[i]->rq->arena,
                                          &its[i]->member_id, &its[i]->found);
            queued++;
        }
    if (queued == 0)
        return 0;
    if (db_flush(db, e) < 0)
        return -1;
    err_clear(&missing);
    err_set(&missing, ERR_NOT_FOUND, "member not found");
    for (int i = 0; i < *n; i++) {
        if (its[i]->member_id == 0)
            answer_early(its[i], &missing);
        else
            its[k++] = its[i];
    }
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    qsort(its, (size_t)k, sizeof(its[0]), by_member_desc);
    *n = 0;
    for (int i = 0; i < k; i++)
        if (*n == 0 || its[*n - 1]->member_id != its[i]->member_id)
            its[(*n)++] = its[i];
        else
            go_alone(its[i]);
    return 0;
}

/*
 * Step 1: the contexts, read again (once) where the lock waited, and the
 * coupons, locked after every member (step 3 of the lock order).  Returns
 * 0, or -1 with `e` when a statement failed (the transaction is then to be
 * rolled back).
 */
static int read_contexts(struct db *db, struct item **its, int n, struct err *e)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int queued = 0;

        for (int i = 0; i < n; i++)
            if (attempt == 0 || its[i]->ctx.state == PURCHASE_CTX_STALE) {
                queue_context(db, its[i]);
                queued++;
            }
        for (int i = 0; i < n && attempt == 0; i++)
            if (its[i]->w->in.coupon_code != NULL)
                store_coupon_take_queue(db, its[i]->member_id, its[i]->w->in.coupon_code,
                                        &its[i]->rq->arena, &its[i]->w->coupon,
                                        &its[i]->coupon_found);
        if (queued == 0)
            return 0;
        if (db_flush(db, e) < 0)
            return -1;
    }
    return 0;
}

/* Step 2 for one purchase whose context was read: its job built, or its
 * answer (or its going alone) decided. */
static void compute_one(struct item *it)
{
    struct err e;
    int rc;

    err_clear(&e);
    switch (it->ctx.state) {
    case PURCHASE_CTX_READ:
        break;
    case PURCHASE_CTX_MISSING:
        err_set(&e, ERR_NOT_FOUND, "member not found");
        answer_early(it, &e);
        return;
    case PURCHASE_CTX_FAILED:
        answer_early(it, &it->ctx.e);
        return;
    case PURCHASE_CTX_STALE:
    case PURCHASE_CTX_QUEUED:
        err_internal(&e, ERR_INTERNAL, "purchase context changed under a held lock");
        answer_early(it, &e);
        return;
    }
    rc = purchase_check(it->rs, it->w, true, it->fingerprint, &e);
    if (rc != 0) {
        answer_early(it, rc < 0 ? &e : NULL); /* rc > 0: a replay, in `rs` */
        return;
    }
    if ((it->w->in.coupon_code != NULL && purchase_coupon_check(it->w, it->coupon_found, &e) < 0) ||
        purchase_compute(it->rq, it->w, &e) < 0) {
        answer_early(it, &e);
        return;
    }
    if (purchase_referrer_earns(it->w)) {
        go_alone(it);
        return;
    }
    it->text = purchase_render(it->w, it->w->ctx.new_id);
    purchase_job_build(it->rq, it->w, it->fingerprint, it->text, &it->job);
    it->writing = true;
}

/* THE lock order's step for POS ids (store/ledger.h): a group claims its
 * purchases' POS ids in ascending (store_id, pos_transaction_id). */
static int by_pos_id(const void *x, const void *y)
{
    const struct purchase_new *a = &(*(struct item *const *)x)->job.p;
    const struct purchase_new *b = &(*(struct item *const *)y)->job.p;
    int c = strcmp(a->store_id, b->store_id);

    return c != 0 ? c : strcmp(a->pos_transaction_id, b->pos_transaction_id);
}

/* Step 3's statements: every job, in the order of their POS ids. */
static int queue_jobs(struct db *db, struct item **its, int n)
{
    struct item *jobs[GATHER_MAX];
    int k = 0;

    for (int i = 0; i < n; i++)
        if (its[i]->writing)
            jobs[k++] = its[i];
    if (k > 1)
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
        qsort(jobs, (size_t)k, sizeof(jobs[0]), by_pos_id);
    for (int i = 0; i < k; i++)
        purchase_job_queue(db, jobs[i]->rq, jobs[i]->w, &jobs[i]->job);
    return k;
}

/* After the write round trip: each written purchase's answer.  Not
 * `committed`, the purchase goes alone, unless the database is out of
 * reach (`failure`), which it would be alone as well. */
static void answer_written(struct item *it, bool committed, const struct err *failure)
{
    struct err e;
    int rc;

    if (!it->writing) {
        bool keyed = it->key.keep || it->key.release;

        if (committed && it->key.keep) {
            group_key_send(&it->key, it->rs);
            it->rc = 0;
            it->outcome = ITEM_ANSWERED;
            return;
        }
        group_key_drop(&it->key);
        if (keyed && !committed && failure->code == ERR_UNAVAILABLE)
            answer_error(it, failure);
        return; /* alone, unless answered already */
    }
    /* A writer's answer is its own text, which the key's record copied. */
    group_key_drop(&it->key);
    err_clear(&e);
    if (!committed && failure->code == ERR_UNAVAILABLE) {
        e = *failure;
        rc = -1;
    } else {
        rc = committed ? purchase_job_written(it->w, &it->job, &e) : 0;
    }
    if (rc == 1) {
        purchase_answer_created(it->rq, it->rs, it->w, it->text);
        it->text = NULL;
        it->rc = 0;
        it->outcome = ITEM_ANSWERED;
        return;
    }
    free(it->text);
    it->text = NULL;
    if (rc < 0)
        answer_error(it, &e);
    /* rc == 0: the POS id is another's, or nothing was committed: alone. */
}

/* Does the group store or give back any key before its COMMIT? */
static bool has_keys(struct item *const *all, int nall)
{
    for (int i = 0; i < nall; i++)
        if (all[i]->key.keep || all[i]->key.release || (all[i]->writing && all[i]->key.key != NULL))
            return true;
    return false;
}

/*
 * Step 3 with keys: the writes, then each keyed purchase's answer stored
 * (or, when its POS claim did not hold, its key given back) with the
 * COMMIT.  Returns whether the COMMIT ran (or may have); `e` is the
 * failure, if any.
 */
static bool write_keyed(struct db *db, struct item **its, int n, struct item *const *all, int nall,
                        struct err *e)
{
    if (queue_jobs(db, its, n) > 0 && db_flush(db, e) < 0)
        return false;
    for (int i = 0; i < n; i++) {
        struct item *it = its[i];
        struct err own;
        int rc;

        if (!it->writing || it->key.key == NULL)
            continue;
        err_clear(&own);
        rc = purchase_job_written(it->w, &it->job, &own);
        if (rc < 0) {
            *e = own;
            return false; /* nothing committed: each alone */
        }
        if (rc == 1)
            group_key_keep_text(&it->key, 201, it->text);
        else
            go_alone(it); /* its POS id is another's */
    }
    for (int i = 0; i < nall; i++)
        group_key_queue(db, &all[i]->key);
    return db_flush_commit(db, e) == 0 || !db_in_tx(db);
}

static void run_group(struct gather_item *const *gs, int n)
{
    struct item *all[GATHER_MAX], *its[GATHER_MAX];
    int nall = n;
    struct db *db;
    struct err e;
    bool committed = false;

    for (int i = 0; i < n; i++)
        all[i] = its[i] = item_of(gs[i]);
    err_clear(&e); /* err_set keeps the first error: start from none */
    db = db_acquire(&e);
    if (db == NULL || db_begin(db, &e) < 0) {
        for (int i = 0; i < n; i++)
            answer_error(its[i], &e);
        if (db != NULL)
            db_release(db);
        return;
    }
    if (claim_keys(db, its, &n, &e) < 0 || find_members(db, its, &n, &e) < 0 ||
        read_contexts(db, its, n, &e) < 0) {
        /* Each alone, unless the database is out of reach for all. */
        for (int i = 0; i < nall; i++)
            answer_written(all[i], false, &e);
        for (int i = 0; i < n && e.code == ERR_UNAVAILABLE; i++)
            answer_error(its[i], &e);
        db_release(db);
        return;
    }
    for (int i = 0; i < n; i++)
        compute_one(its[i]);
    err_clear(&e);
    if (has_keys(all, nall))
        committed = write_keyed(db, its, n, all, nall, &e);
    else if (queue_jobs(db, its, n) > 0)
        committed = db_flush_commit(db, &e) == 0 || !db_in_tx(db);
    for (int i = 0; i < nall; i++)
        answer_written(all[i], committed, &e);
    db_release(db);
}

/* A gather key for a purchase by card: negative, so never a member id,
 * and the same for the same card, so that one card's purchases do not
 * share a group (FNV-1a; two cards that collide only wait in turn). */
static int64_t card_key(const char *card)
{
    uint64_t h = 14695981039346656037u;

    for (const unsigned char *p = (const unsigned char *)card; *p != '\0'; p++)
        h = (h ^ *p) * 1099511628211u;
    return -1 - (int64_t)(h >> 2);
}

bool purchase_group_record(struct req *rq, struct resp *rs, struct purchase_work *w, struct err *e,
                           int *rc)
{
    struct item *it;

    if (!group_may_join(rq, GATHER_PURCHASES))
        return false;
    it = arena_alloc(&rq->arena, sizeof(*it));
    memset(it, 0, sizeof(*it));
    it->member_id = w->in.member_id;
    it->g.kind = GATHER_PURCHASES;
    it->g.arg = it;
    it->g.key = it->member_id != 0 ? it->member_id : card_key(w->in.card_number);
    it->rq = rq;
    it->rs = rs;
    it->w = w;
    it->e = e;
    group_key_take(&it->key, rq);
    gather_join(&it->g);
    *rc = it->rc;
    return it->outcome == ITEM_ANSWERED;
}
