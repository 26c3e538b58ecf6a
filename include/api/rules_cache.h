/*
 * rules_cache.h - the active rule set, shared read-only by every request.
 *
 * A request takes one snapshot at its start and keeps it to its end, so it
 * computes with one version throughout.  Taking and releasing a snapshot
 * takes no lock.  A new version (PUT /v1/rules on any daemon of the
 * database) is announced on channel loyalty_rules and replaces the snapshot
 * within a second everywhere.
 */
#ifndef LY_API_RULES_CACHE_H
#define LY_API_RULES_CACHE_H

#include <stdint.h>

#include "core/arena.h"
#include "core/cfg.h"
#include "core/err.h"
#include "rules/rules.h"

struct rules_snapshot {
    int64_t version;
    char activated_at[40]; /* RFC 3339 UTC */
    const char *document;  /* the rule set as stored (JSON text), owned by the snapshot */
    struct rules rules;
    /* The tier ladder as PostgreSQL array literals (codes, min_spends), made
     * once per snapshot for the statements that take it (the balance view,
     * the daily job's downgrades), not once per request. */
    const char *tier_codes_sql;
    const char *tier_mins_sql;
};

/* Loads the active version and starts following changes.  -1 with `e`. */
int rules_cache_init(const struct cfg *c, struct err *e);
void rules_cache_cleanup(void);

/* The active snapshot; never NULL after a successful init.  Borrowed until
 * rules_cache_release. */
const struct rules_snapshot *rules_cache_acquire(void);
void rules_cache_release(const struct rules_snapshot *s);

/* The active snapshot, released when `a` (a request's arena) is reset: the
 * request computes with one version to its end.  Borrowed until then. */
const struct rules_snapshot *rules_cache_hold(struct arena *a);

/*
 * Reloads now and waits (at most timeout_ms) until version `version` or a
 * later one is active here.  For the daemon that committed a new version,
 * so that its next request already uses it.  Returns 0, or -1 on timeout.
 */
int rules_cache_await(int64_t version, int timeout_ms);

#endif
