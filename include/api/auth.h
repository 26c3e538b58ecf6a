/*
 * auth.h - who is calling: bearer credentials (API keys and member tokens),
 * their format, and the daemon's one permission check (a route's `roles`).
 *
 * Credentials are stored only as SHA-256 hashes.  Look-ups go through an
 * in-process cache that is dropped on every loyalty_auth notification and
 * bypassed while the notification listener is down, so a revocation made
 * by any daemon takes effect everywhere within about a second.
 */
#ifndef LY_API_AUTH_H
#define LY_API_AUTH_H

#include "core/cfg.h"
#include "core/err.h"
#include "http/http.h"

/* Generated credentials: a prefix and 40 characters of this alphabet. */
#define AUTH_KEY_PREFIX    "lk_"
#define AUTH_MEMBER_PREFIX "lm_"
#define AUTH_SECRET_CHARS  40
#define AUTH_ALPHABET      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
/* Room for a generated credential and its NUL. */
#define AUTH_SECRET_SIZE (3 + AUTH_SECRET_CHARS + 1)

/*
 * Makes a new credential `prefix` + 40 random characters into secret[] and
 * its hash in bytea text form ("\\x" + 64 hex) into hash[].  `prefix` is
 * AUTH_KEY_PREFIX or AUTH_MEMBER_PREFIX.
 */
void auth_secret_new(const char *prefix, char secret[AUTH_SECRET_SIZE], char hash[67]);

/*
 * Starts authentication: when c->admin_key is set, checks it (16..200
 * printable ASCII characters, no spaces; else ERR_VALIDATION) and makes
 * sure it exists as an admin key named "LOYALTY_ADMIN_KEY" (a revoked one
 * stays revoked, with a warning; if the database is unreachable now this
 * is retried on later authentications), then starts the notification
 * listener.  Needs the pool (db_pool_init) first.  `c` is borrowed until
 * auth_cleanup().  Returns 0, or -1 with ERR_VALIDATION or ERR_INTERNAL.
 * Not thread-safe: call once at start.
 */
int auth_init(const struct cfg *c, struct err *e);

/* Stops the listener and drops the cache.  Safe without auth_init and twice. */
void auth_cleanup(void);

/*
 * Authentication in two steps, so that only a cache miss waits for the
 * database.  auth_check reads `Authorization: Bearer <token>` (headers
 * only); on a cache hit it fills rq->who, checks rq->route->roles against
 * the caller's role and returns 0.  It returns 1 with *miss (in rq's arena)
 * when the database must be asked: auth_lookup then asks it, with a
 * connection of its own from db_acquire (in a fiber, a worker's: the
 * fiber sleeps while it waits), and finishes the same way.  Both set
 * ERR_UNAUTHORIZED (missing, malformed, unknown, revoked or expired
 * credential), ERR_FORBIDDEN (the role may not call the route) or
 * ERR_UNAVAILABLE (the database could not be asked) and return -1.
 * Thread-safe.
 */
struct auth_miss;
int auth_check(struct req *rq, struct auth_miss **miss, struct err *e);
int auth_lookup(struct req *rq, const struct auth_miss *miss, struct err *e);

#endif
