/*
 * rules_cache.c - the active rule set as an immutable heap snapshot that
 * every request takes and gives back without a lock, replaced whenever a
 * new version is activated on any daemon of the database.
 *
 * Flow: init makes sure version 1 exists and publishes the highest version.
 * A listener on channel loyalty_rules (store/notify.c) marks the cache stale
 * on every notification and on every listener (re)connect, when
 * notifications may have been missed; the reloader thread then reads the
 * highest version and, if it differs from the published one, parses it into
 * a new snapshot and publishes that.  A failed reload is retried every
 * RETRY_MS while the database is unreachable, and the version is read again
 * every RECHECK_MS anyway, should a notification ever be lost.
 *
 * Lock-free acquire: split reference counts (as in the lock-free stack of
 * Williams, "C++ Concurrency in Action").  `st.word` holds the current
 * snapshot's address (aligned to SNAP_ALIGN) and, in its low bits, the
 * number of readers that have claimed it but not yet settled the claim
 * ("claims").  Each snapshot has `refs`.
 *   acquire: (A) fetch_add(word, 1) reads the current snapshot s and claims
 *            it in one atomic step; (B) fetch_add(s->refs, 1) takes the
 *            reader's own reference; (C) settles the claim: a CAS takes it
 *            off the word while the word still names s; once the word names
 *            another snapshot, the claim was handed to s->refs by publish,
 *            so fetch_sub(s->refs, 1) takes it off there.
 *   publish: exchange(word, new | 0) takes the old word with its n claims,
 *            then one fetch_add(old->refs, n - CURRENT_REFS) hands the
 *            claims over and drops the weight of being current.
 *   release: fetch_sub(s->refs, 1); whoever brings refs to 0 frees s.
 * Why s is never freed under a reader.  At any moment
 *   refs = CURRENT_REFS [until the publish's add] + H + T - U
 * where H counts references taken in (B) and not yet released, T the
 * claims handed over by the publish (0 before its add, n after) and U the
 * claims settled by fetch_sub; U <= n always, because only claims that were
 * in the exchanged word are settled that way.  Before the add, refs >=
 * CURRENT_REFS - n > 0, since claims never exceed CLAIM_MAX < CURRENT_REFS
 * (a reader may settle its claim and even release before the publish adds
 * anything: the weight covers that, where a weight of 1 would not).  After
 * the add, refs = H + (n - U), so it is 0 only when no reference is held
 * and every handed-over claim has been settled, that is when no reader can
 * still touch s.  A reader between (A) and (C) holds an unsettled claim,
 * so s stays alive for its (B) and (C).  The CAS in (C) cannot be fooled
 * by a newer snapshot at the same address (ABA): s is not freed while the
 * claim exists, and each publish installs a new allocation.  Claims exist
 * only inside rules_cache_acquire, so there are at most as many as threads
 * (LOYALTY_THREADS <= 256, plus a few), far below CLAIM_MAX; acquire
 * asserts it.  No step waits for another thread; only the CAS in (C) can
 * repeat, and only because another thread changed the word: lock-free.
 *
 * Must not contain SQL (store/rules.c does), must not take any lock or
 * touch the database in rules_cache_acquire/rules_cache_release, and must
 * not modify a snapshot once it is published.
 */
#include "api/rules_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "api/rules_json.h"
#include "core/buf.h"
#include "core/deadline.h"
#include "core/json_mem.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "store/db.h"
#include "store/notify.h"
#include "store/rules.h"

#define SNAP_ALIGN   4096u /* a power of two above twice the number of threads */
#define CLAIM_MASK   ((uintptr_t)SNAP_ALIGN - 1)
#define CLAIM_MAX    ((uintptr_t)SNAP_ALIGN / 2) /* more claims than this: a bug */
#define CURRENT_REFS ((long)SNAP_ALIGN)          /* the weight of "current", > CLAIM_MAX */
#define RETRY_MS     250
#define RECHECK_MS   30000
#define START_WAIT_S 30

/* Dumped reals keep at most 15 significant digits, so 1.1 stays "1.1". */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

static const char *const rules_channels[] = {"loyalty_rules", NULL};

struct snapshot {
    struct rules_snapshot pub; /* first, so &s->pub converts back to s */
    atomic_long refs;
    char *document;   /* pub.document, owned */
    char *tier_codes; /* pub.tier_codes_sql, owned */
    char *tier_mins;  /* pub.tier_mins_sql, owned */
};

static struct {
    atomic_uintptr_t word; /* current snapshot | claims */
    struct notify *listener;
    /* The reloader thread and what wakes it; never touched by acquire/release. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t reloader;
    bool running; /* the reloader thread exists */
    bool stale;   /* under lock: a reload is due */
    bool stop;    /* under lock */
    bool failing; /* reloader thread only: the last reload failed */
} st = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ------------------------------------------------------------ snapshots -- */

static struct snapshot *ptr_of(uintptr_t word)
{
    return (struct snapshot *)(word & ~CLAIM_MASK);
}

static void snapshot_free(struct snapshot *s)
{
    free(s->document);
    free(s->tier_codes);
    free(s->tier_mins);
    free(s);
}

/* The snapshot's tier ladder literals (see rules_cache.h). */
static void make_ladder(struct snapshot *s)
{
    const struct rules *r = &s->pub.rules;
    int n = r->ntiers < RULES_MAX_TIERS ? r->ntiers : RULES_MAX_TIERS;
    struct buf codes, mins;

    buf_init(&codes);
    buf_init(&mins);
    buf_puts(&codes, "{");
    for (int i = 0; i < n; i++)
        db_array_text(&codes, i == 0, r->tiers[i].code);
    buf_puts(&codes, "}");
    db_i64_array(&mins, r->tiers, n, sizeof(r->tiers[0]), offsetof(struct rules_tier, min_spend));
    s->tier_codes = buf_steal(&codes, NULL);
    s->tier_mins = buf_steal(&mins, NULL);
    s->pub.tier_codes_sql = s->tier_codes;
    s->pub.tier_mins_sql = s->tier_mins;
}

/* Adds `delta` to s->refs and frees s when that leaves no reference. */
static void refs_add(struct snapshot *s, long delta)
{
    if (atomic_fetch_add(&s->refs, delta) + delta == 0)
        snapshot_free(s);
}

/* Makes `s` (steals its CURRENT_REFS) the current snapshot; see the header. */
static void publish(struct snapshot *s)
{
    uintptr_t old = atomic_exchange(&st.word, (uintptr_t)s);

    if (ptr_of(old) != NULL)
        refs_add(ptr_of(old), (long)(old & CLAIM_MASK) - CURRENT_REFS);
}

const struct rules_snapshot *rules_cache_acquire(void)
{
    uintptr_t w = atomic_fetch_add(&st.word, 1);
    struct snapshot *s = ptr_of(w);
    uintptr_t cur;

    ly_assert(s != NULL && (w & CLAIM_MASK) < CLAIM_MAX);
    atomic_fetch_add(&s->refs, 1);
    cur = atomic_load(&st.word);
    for (;;) {
        if (ptr_of(cur) != s) {
            /* A publish moved the claim into s->refs; our reference keeps s alive. */
            atomic_fetch_sub(&s->refs, 1);
            break;
        }
        if (atomic_compare_exchange_weak(&st.word, &cur, cur - 1))
            break;
    }
    return &s->pub;
}

void rules_cache_release(const struct rules_snapshot *s)
{
    if (s != NULL)
        refs_add((struct snapshot *)(uintptr_t)s, -1);
}

static void release_held(void *p)
{
    rules_cache_release(p);
}

const struct rules_snapshot *rules_cache_hold(struct arena *a)
{
    const struct rules_snapshot *s = rules_cache_acquire();

    arena_defer(a, release_held, (void *)(uintptr_t)s);
    return s;
}

/* "field: message" of the first problem in a validation error. */
static void first_problem(const struct err *pe, char *dst, size_t n)
{
    if (pe->nfields > 0)
        snprintf(dst, n, "%s: %s (%d problem%s)", pe->fields[0].field, pe->fields[0].message,
                 pe->nfields, pe->nfields == 1 ? "" : "s");
    else
        snprintf(dst, n, "%s", pe->internal[0] ? pe->internal : pe->detail);
}

/* A new snapshot (holding CURRENT_REFS, to be published) of a stored version, or NULL with `e`. */
static struct snapshot *snapshot_new(const struct store_rule_version *v, struct err *e)
{
    json_error_t jerr;
    json_t *doc = json_loads(v->document, JSON_REJECT_DUPLICATES, &jerr);
    struct snapshot *s;
    struct err pe;
    char why[640]; /* room for a whole first_problem() */
    void *p = NULL;

    if (doc == NULL)
        return err_internal(e, ERR_INTERNAL, "stored rules version %lld is not JSON: %s",
                            (long long)v->version, jerr.text),
               NULL;
    /* The address's low bits count claims (see the header), hence the alignment. */
    if (posix_memalign(&p, SNAP_ALIGN, sizeof(*s)) != 0)
        ly_assert(!"out of memory for a rules snapshot");
    s = p;
    memset(s, 0, sizeof(*s));
    err_clear(&pe);
    if (rules_from_json(doc, &s->pub.rules, &pe) < 0) {
        json_decref(doc);
        free(s);
        first_problem(&pe, why, sizeof(why));
        return err_internal(e, ERR_INTERNAL,
                            "stored rules version %lld is not a valid rule set for this "
                            "binary: %s",
                            (long long)v->version, why),
               NULL;
    }
    json_decref(doc);
    s->pub.version = v->version;
    snprintf(s->pub.activated_at, sizeof(s->pub.activated_at), "%s", v->activated_at);
    s->document = xstrdup(v->document);
    s->pub.document = s->document;
    make_ladder(s);
    atomic_init(&s->refs, CURRENT_REFS);
    return s;
}

/* -------------------------------------------------------------- loading -- */

/*
 * The built-in default rule set in canonical form (malloc'd text), the way
 * PUT /v1/rules stores documents.  NULL with ERR_INTERNAL if it does not
 * validate: a bug in this binary.
 */
static char *default_document(struct err *e)
{
    json_error_t jerr;
    json_t *doc = json_loads(rules_default_document(), JSON_REJECT_DUPLICATES, &jerr);
    json_t *canon;
    struct rules *r;
    struct err pe;
    char why[640]; /* room for a whole first_problem() */
    char *text = NULL;

    if (doc == NULL)
        return err_internal(e, ERR_INTERNAL, "the default rules are not JSON: %s", jerr.text), NULL;
    r = xmalloc(sizeof(*r));
    err_clear(&pe);
    if (rules_from_json(doc, r, &pe) < 0) {
        first_problem(&pe, why, sizeof(why));
        err_internal(e, ERR_INTERNAL, "the default rules do not validate: %s", why);
    } else {
        canon = rules_to_json(r);
        text = canon ? json_mem_dumps(canon, DUMP_FLAGS) : NULL;
        json_decref(canon);
        if (text == NULL)
            err_internal(e, ERR_INTERNAL, "out of memory rendering the default rules");
    }
    free(r);
    json_decref(doc);
    return text;
}

/* Inserts the default rule set as version 1 into an empty table. */
static int ensure_first_version(struct err *e)
{
    char *text = default_document(e);
    struct db *db;
    bool inserted = false;
    int rc;

    if (text == NULL)
        return -1;
    db = db_acquire(e);
    if (db == NULL) {
        free(text);
        return -1;
    }
    rc = store_rules_ensure_first(db, text, &inserted, e);
    db_release(db);
    free(text);
    if (rc == 0 && inserted)
        log_msg(LOG_INFO, "activated the default rules as version 1", NULL);
    return rc;
}

/*
 * Reads the highest version and publishes it unless it is the one already
 * published.  Only one thread at a time (init, then the reloader).
 */
static int reload(struct err *e)
{
    struct store_rule_version v;
    struct snapshot *cur, *s;
    struct arena a;
    struct db *db;
    char fields[128];
    int found;

    db = db_acquire(e);
    if (db == NULL)
        return -1;
    arena_init(&a);
    found = store_rules_get_active(db, &a, &v, e);
    db_release(db);
    if (found == 0)
        err_internal(e, ERR_INTERNAL, "rule_versions has no version");
    if (found != 1) {
        arena_free(&a);
        return -1;
    }
    /* Only this thread publishes, so the current snapshot cannot go away here. */
    cur = ptr_of(atomic_load(&st.word));
    if (cur != NULL && cur->pub.version == v.version && strcmp(cur->document, v.document) == 0) {
        arena_free(&a);
        return 0;
    }
    s = snapshot_new(&v, e);
    arena_free(&a);
    if (s == NULL)
        return -1;
    publish(s);
    snprintf(fields, sizeof(fields), "\"msg\":\"rules version active\",\"version\":%lld",
             (long long)s->pub.version);
    log_fields(LOG_INFO, fields);
    return 0;
}

/* ------------------------------------------------------------- reloader -- */

/* Listener callback: a new version, or maybe a missed one. */
static void on_rules_change(const char *channel, void *arg)
{
    (void)channel;
    (void)arg;
    pthread_mutex_lock(&st.lock);
    st.stale = true;
    pthread_cond_signal(&st.cond);
    pthread_mutex_unlock(&st.lock);
}

/* One reload, logging a failure once per run of failures. */
static long reload_logged(void)
{
    struct err e;

    err_clear(&e);
    if (reload(&e) == 0) {
        if (st.failing)
            log_msg(LOG_INFO, "rules reload works again", NULL);
        st.failing = false;
        return RECHECK_MS;
    }
    if (!st.failing)
        log_msg(e.code == ERR_UNAVAILABLE ? LOG_WARN : LOG_ERROR,
                "cannot reload the rules, keeping the active version",
                e.internal[0] ? e.internal : e.detail);
    st.failing = true;
    /* A document this binary cannot read will not improve in 250 ms. */
    return e.code == ERR_UNAVAILABLE ? RETRY_MS : RECHECK_MS;
}

static void *reloader_main(void *arg)
{
    struct timespec until;
    long wait_ms = RECHECK_MS;

    (void)arg;
    pthread_mutex_lock(&st.lock);
    while (!st.stop) {
        deadline_in(&until, wait_ms);
        while (!st.stale && !st.stop)
            if (pthread_cond_timedwait(&st.cond, &st.lock, &until) == ETIMEDOUT)
                break;
        if (st.stop)
            break;
        st.stale = false;
        pthread_mutex_unlock(&st.lock);
        wait_ms = reload_logged();
        pthread_mutex_lock(&st.lock);
        pthread_cond_broadcast(&st.cond); /* for rules_cache_await */
    }
    pthread_mutex_unlock(&st.lock);
    return NULL;
}

static int64_t active_version(void)
{
    const struct rules_snapshot *s = rules_cache_acquire();
    int64_t v = s ? s->version : 0;

    rules_cache_release(s);
    return v;
}

int rules_cache_await(int64_t version, int timeout_ms)
{
    struct timespec until;
    int rc = 0;

    deadline_in(&until, timeout_ms);
    pthread_mutex_lock(&st.lock);
    st.stale = true;
    pthread_cond_broadcast(&st.cond);
    while (active_version() < version) {
        if (pthread_cond_timedwait(&st.cond, &st.lock, &until) == ETIMEDOUT) {
            rc = active_version() < version ? -1 : 0;
            break;
        }
    }
    pthread_mutex_unlock(&st.lock);
    return rc;
}

/* ---------------------------------------------------------------- start -- */

/* Version 1 and the first snapshot, waiting a while for a database that is starting too. */
static int load_at_start(struct err *e)
{
    struct timespec give_up;
    struct err tmp;

    deadline_in(&give_up, START_WAIT_S * 1000L);

    for (;;) {
        err_clear(&tmp);
        if (ensure_first_version(&tmp) == 0 && reload(&tmp) == 0)
            return 0;
        if (tmp.code != ERR_UNAVAILABLE || deadline_passed(&give_up)) {
            *e = tmp;
            return -1;
        }
        log_msg(LOG_WARN, "cannot load the rules yet, retrying", tmp.internal);
        sleep(1);
    }
}

int rules_cache_init(const struct cfg *c, struct err *e)
{
    int rc;

    ly_assert(ptr_of(atomic_load(&st.word)) == NULL && !st.running);
    if (load_at_start(e) < 0)
        return -1;
    deadline_cond_init(&st.cond);
    st.stale = false;
    st.stop = false;
    st.failing = false;
    rc = pthread_create(&st.reloader, NULL, reloader_main, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&st.cond);
        rules_cache_cleanup();
        return err_internal(e, ERR_INTERNAL, "cannot start the rules reloader: %s", strerror(rc));
    }
    st.running = true;
    st.listener = notify_start(c->database_url, rules_channels, on_rules_change, NULL);
    if (st.listener == NULL) {
        rules_cache_cleanup();
        return err_internal(e, ERR_INTERNAL, "cannot start the rules listener");
    }
    return 0;
}

void rules_cache_cleanup(void)
{
    uintptr_t old;

    notify_stop(st.listener);
    st.listener = NULL;
    if (st.running) {
        pthread_mutex_lock(&st.lock);
        st.stop = true;
        pthread_cond_signal(&st.cond);
        pthread_mutex_unlock(&st.lock);
        pthread_join(st.reloader, NULL);
        pthread_cond_destroy(&st.cond);
        st.running = false;
    }
    /* Requests are over by now; a snapshot still held is freed by its last release. */
    old = atomic_exchange(&st.word, (uintptr_t)0);
    if (ptr_of(old) != NULL)
        refs_add(ptr_of(old), (long)(old & CLAIM_MASK) - CURRENT_REFS);
}
