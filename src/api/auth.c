/*
 * auth.c - bearer authentication and the daemon's one permission check,
 * run by the server on the first access-handler call (headers only).
 *
 * Flow: Authorization header -> SHA-256 -> cache or database -> rq->who ->
 * rq->route->roles.  The cache maps a credential's hash to its principal.
 * It is correct only because every change that can take a credential away
 * is announced on channel loyalty_auth (triggers in migration 0001):
 *   - every notification, and every listener connect or disconnect, drops
 *     the whole cache (a generation counter makes that O(1));
 *   - while the listener is down the cache is neither read nor filled;
 *   - a look-up may fill the cache only if no drop happened since it began,
 *     so an answer read before a revocation cannot outlive it;
 *   - failures (unknown, revoked, expired) are never cached.
 *
 * Must not decide anything per route beyond `roles` (store binding and
 * "own member only" are the handlers' business), must not log credentials,
 * and contains no SQL (store/keys.c).
 */
#include "api/auth.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/auth_cache.h"
#include "api/secret.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "store/db.h"
#include "store/keys.h"
#include "store/notify.h"

#define ADMIN_KEY_MIN  16
#define ADMIN_KEY_MAX  200
#define ADMIN_KEY_NAME "LOYALTY_ADMIN_KEY"
#define ADMIN_RETRY_S  1

static const char *const auth_channels[] = {"loyalty_auth", NULL};

static int64_t mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

/* ---------------------------------------------------------------- state -- */

static struct {
    struct notify *listener;
    char admin_hash[67];
    atomic_bool admin_pending; /* LOYALTY_ADMIN_KEY not yet ensured (database was down) */
    pthread_mutex_t admin_lock;
    int64_t admin_next_try; /* monotonic seconds, under admin_lock */
} st = {.admin_lock = PTHREAD_MUTEX_INITIALIZER};

/* Listener callback: any change, or any chance of a missed one, drops everything. */
static void on_auth_change(const char *channel, void *arg)
{
    (void)channel;
    (void)arg;
    auth_cache_flush();
}

void auth_secret_new(const char *prefix, char secret[AUTH_SECRET_SIZE], char hash[67])
{
    ly_assert(strlen(prefix) == 3);
    secret_token(secret, prefix, AUTH_SECRET_CHARS, AUTH_ALPHABET);
    secret_hash_bytea(secret, hash);
}

static bool is_valid_admin_key(const char *s)
{
    size_t n = strlen(s);

    if (n < ADMIN_KEY_MIN || n > ADMIN_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static int ensure_admin_key(struct err *e)
{
    struct store_key_ensured r;
    struct db *db = db_acquire(e);
    int rc;

    if (db == NULL)
        return -1;
    rc = store_key_ensure(db, ADMIN_KEY_NAME, "admin", st.admin_hash, &r, e);
    db_release(db);
    if (rc < 0)
        return -1;
    if (r.created)
        log_msg(LOG_INFO, "created the admin key from LOYALTY_ADMIN_KEY", NULL);
    else if (r.revoked)
        log_msg(LOG_WARN, "LOYALTY_ADMIN_KEY names a revoked key; it stays revoked", NULL);
    else if (r.role[0] != '\0' && strcmp(r.role, "admin") != 0)
        log_msg(LOG_WARN, "LOYALTY_ADMIN_KEY names an existing key that is not an admin key",
                r.role);
    return 0;
}

/* Tries again, at most once a second, to ensure LOYALTY_ADMIN_KEY. */
static void retry_admin_key(void)
{
    struct err e;
    int64_t now = mono_s();

    if (pthread_mutex_trylock(&st.admin_lock) != 0)
        return;
    if (atomic_load(&st.admin_pending) && now >= st.admin_next_try) {
        err_clear(&e);
        if (ensure_admin_key(&e) == 0)
            atomic_store(&st.admin_pending, false);
        else
            st.admin_next_try = now + ADMIN_RETRY_S;
    }
    pthread_mutex_unlock(&st.admin_lock);
}

int auth_init(const struct cfg *c, struct err *e)
{
    struct err first;

    if (c->admin_key != NULL) {
        if (!is_valid_admin_key(c->admin_key))
            return err_set(e, ERR_VALIDATION,
                           "LOYALTY_ADMIN_KEY must be %d to %d printable ASCII characters "
                           "without spaces",
                           ADMIN_KEY_MIN, ADMIN_KEY_MAX);
        secret_hash_bytea(c->admin_key, st.admin_hash);
        err_clear(&first);
        if (ensure_admin_key(&first) < 0) {
            if (first.code != ERR_UNAVAILABLE) {
                *e = first;
                return -1;
            }
            /* The daemon serves through database outages; so does this key. */
            log_msg(LOG_WARN, "cannot ensure LOYALTY_ADMIN_KEY yet, will retry", first.internal);
            st.admin_next_try = 0;
            atomic_store(&st.admin_pending, true);
        }
    }
    st.listener = notify_start(c->database_url, auth_channels, on_auth_change, NULL);
    if (st.listener == NULL)
        return err_internal(e, ERR_INTERNAL, "cannot start the notification listener");
    return 0;
}

void auth_cleanup(void)
{
    notify_stop(st.listener);
    st.listener = NULL;
    atomic_store(&st.admin_pending, false);
    auth_cache_flush();
}

/* ------------------------------------------------------- authenticate -- */

/*
 * Copies the credential of "Bearer <credential>" (scheme case-insensitive,
 * RFC 7235) into dst[ADMIN_KEY_MAX + 1].  Returns -1 when there is none or
 * it cannot be one of ours (empty, too long, not printable ASCII).
 */
static int read_bearer(const char *h, char *dst)
{
    const unsigned char *p, *start;
    size_t n;

    if (h == NULL || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
        return -1;
    p = (const unsigned char *)h + 6;
    while (*p == ' ' || *p == '\t')
        p++;
    start = p;
    while (*p > 0x20 && *p < 0x7f)
        p++;
    n = (size_t)(p - start);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '\0' || n == 0 || n > ADMIN_KEY_MAX)
        return -1;
    memcpy(dst, start, n);
    dst[n] = '\0';
    return 0;
}

static bool is_member_token(const char *s)
{
    size_t plen = strlen(AUTH_MEMBER_PREFIX);

    if (strncmp(s, AUTH_MEMBER_PREFIX, plen) != 0 || strlen(s) != plen + AUTH_SECRET_CHARS)
        return false;
    return strspn(s + plen, AUTH_ALPHABET) == AUTH_SECRET_CHARS;
}

static int role_of(const char *s, enum role *out, struct err *e)
{
    if (strcmp(s, "admin") == 0)
        *out = ROLE_ADMIN;
    else if (strcmp(s, "pos") == 0)
        *out = ROLE_POS;
    else if (strcmp(s, "app") == 0)
        *out = ROLE_APP;
    else
        return err_internal(e, ERR_INTERNAL, "api key with unknown role '%s'", s);
    return 0;
}

/*
 * Asks the database who `token` (hashed as `hash`) is.  Returns 1 with *who
 * and *expires_at filled, 0 when it is no live credential, or -1.
 */
static int lookup_db(const char *token, const char *hash, struct principal *who,
                     int64_t *expires_at, struct err *e)
{
    struct store_token_auth t;
    struct store_key_auth k;
    struct db *db;
    int found = 0;

    if (atomic_load(&st.admin_pending))
        retry_admin_key();
    db = db_acquire(e);
    if (db == NULL)
        return -1;
    /* LOYALTY_ADMIN_KEY may be any string, so a miss here still tries the keys. */
    if (is_member_token(token)) {
        found = store_token_find(db, hash, &t, e);
        if (found == 1) {
            who->role = ROLE_MEMBER;
            who->member_id = t.member_id;
            who->token_id = t.token_id;
            *expires_at = t.expires_at;
        }
    }
    if (found == 0) {
        found = store_key_find(db, hash, &k, e);
        if (found == 1) {
            if (role_of(k.role, &who->role, e) < 0)
                found = -1;
            who->key_id = k.id;
            snprintf(who->store_id, sizeof(who->store_id), "%s", k.store_id);
            *expires_at = INT64_MAX;
        }
    }
    db_release(db);
    return found;
}

/* What a look-up needs from the request's headers (in its arena). */
struct auth_miss {
    char token[ADMIN_KEY_MAX + 1];
    char hash[67];
    uint64_t gen; /* the cache's generation before the look-up began */
};

/* The caller found: the role check is the last step either way. */
static int admit(struct req *rq, const struct principal *who, struct err *e)
{
    rq->who = *who;
    if ((rq->route->roles & (unsigned)who->role) == 0)
        return err_set(e, ERR_FORBIDDEN, "this credential may not call this route");
    return 0;
}

int auth_check(struct req *rq, struct auth_miss **miss, struct err *e)
{
    struct auth_miss m;
    struct principal who;

    ly_assert(rq->route != NULL);
    if (read_bearer(req_header(rq, "Authorization"), m.token) < 0)
        return err_set(e, ERR_UNAUTHORIZED, "missing or invalid credentials");
    secret_hash_bytea(m.token, m.hash);
    memset(&who, 0, sizeof(who));
    /* hash + 2 skips the "\\x" of the bytea form: the cache keys on hex. */
    if (notify_is_listening(st.listener) &&
        auth_cache_get(m.hash + 2, (int64_t)time(NULL), mono_s(), &who))
        return admit(rq, &who, e);
    /* Only a miss keeps it, for the look-up that outlives this call. */
    m.gen = auth_cache_gen();
    *miss = arena_alloc(&rq->arena, sizeof(m));
    **miss = m;
    return 1;
}

int auth_lookup(struct req *rq, const struct auth_miss *m, struct err *e)
{
    struct principal who;
    int64_t expires_at = 0;
    int found;

    memset(&who, 0, sizeof(who));
    found = lookup_db(m->token, m->hash, &who, &expires_at, e);
    if (found < 0)
        return -1;
    if (found == 0)
        return err_set(e, ERR_UNAUTHORIZED, "missing or invalid credentials");
    if (notify_is_listening(st.listener))
        auth_cache_put(m->hash + 2, m->gen, expires_at, mono_s(), &who);
    return admit(rq, &who, e);
}
