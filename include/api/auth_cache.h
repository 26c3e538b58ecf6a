/*
 * auth_cache.h - api/auth.c's cache of credentials: a credential's SHA-256
 * (lowercase hex, 64 characters) to the principal it names.
 *
 * Correct only together with auth.c's rules: every change that can take a
 * credential away drops the whole cache (auth_cache_flush, O(1) through a
 * generation counter), and a look-up may fill it only if no drop happened
 * since it began (auth_cache_put's `seen`).
 *
 * Set-associative: a hash picks one set of AUTH_CACHE_WAYS entries, and a
 * full set gives up its oldest entry.  A burst of new credentials (an app's
 * users after a release) so pushes out old ones one at a time instead of
 * emptying the cache.  An entry also ends at its credential's expiry and
 * AUTH_CACHE_MAX_AGE_S after it was read, belt and braces should a
 * notification ever be lost.
 *
 * The clocks are the caller's: `now` in unix seconds (expiry), `mono` in
 * monotonic seconds (age).  Thread-safe (one reader-writer lock); the table
 * lives in .bss, so only the sets in use take memory.
 */
#ifndef LY_API_AUTH_CACHE_H
#define LY_API_AUTH_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"

#define AUTH_CACHE_SETS      2048 /* a power of two */
#define AUTH_CACHE_WAYS      8
#define AUTH_CACHE_MAX_AGE_S 60

/* Drops every entry. */
void auth_cache_flush(void);

/* The generation to pass to auth_cache_put for a look-up starting now. */
uint64_t auth_cache_gen(void);

/* Fills *who (a copy) and returns true when `hex` is cached and current. */
bool auth_cache_get(const char *hex, int64_t now, int64_t mono, struct principal *who);

/* Remembers `who` (copied) for `hex`, read while the cache was at
 * generation `seen`; nothing when a flush came since.  `expires_at` is unix
 * seconds, INT64_MAX for none. */
void auth_cache_put(const char *hex, uint64_t seen, int64_t expires_at, int64_t mono,
                    const struct principal *who);

#endif
