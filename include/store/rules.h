/*
 * rules.h - the rule_versions table: every rule set ever activated, the
 * highest version being the active one.
 *
 * Documents travel as JSON text and are stored as jsonb; this module never
 * looks inside them (validation is rules_json.c's business, before a
 * document gets here).  Every function runs on `db` (borrowed), inside the
 * caller's transaction if one is open.  Strings written to the caller's
 * structs are copies in the arena `a` (borrowed) unless a fixed buffer is
 * named.  Database failures set the codes documented in store/db.h
 * (ERR_UNAVAILABLE when the database is unreachable); only the codes listed
 * below are specific to a function.
 *
 * Thread-safety: as `db` (one thread at a time).
 */
#ifndef LY_STORE_RULES_H
#define LY_STORE_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "store/db.h"

struct store_rule_version {
    int64_t version;
    char activated_at[40]; /* RFC 3339 UTC */
    const char *document;  /* arena: the JSON text as stored; NULL in lists */
};

/*
 * Inserts `document` (borrowed JSON text) as version 1 when the table has no
 * row at all, and does nothing otherwise.  Safe to run from several
 * processes at once: a concurrent insert of version 1 wins quietly.  Sets
 * *inserted (may be NULL) to whether this call inserted it.
 */
int store_rules_ensure_first(struct db *db, const char *document, bool *inserted, struct err *e);

/* The highest version.  Returns 1 with *out filled, 0 when the table is empty, or -1. */
int store_rules_get_active(struct db *db, struct arena *a, struct store_rule_version *out,
                           struct err *e);

/* Version `version`.  ERR_NOT_FOUND if there is no such version. */
int store_rules_get(struct db *db, int64_t version, struct arena *a, struct store_rule_version *out,
                    struct err *e);

/*
 * Activates `document` (borrowed JSON text) as the highest version + 1,
 * recording `activated_by` (an API key id; 0 for none).  Must run inside a
 * transaction: it locks the table against other inserts until the
 * transaction ends, so concurrent activations get consecutive versions.
 * Fills out->version and out->activated_at (out->document is left NULL).
 */
int store_rules_insert(struct db *db, const char *document, int64_t activated_by,
                       struct store_rule_version *out, struct err *e);

/*
 * Lists versions below `before` (INT64_MAX for the first page), newest
 * first, without their documents.  Fills *items (arena array) with up to
 * `limit` of them, *n with their count and *more with whether another page
 * follows.
 */
int store_rules_list(struct db *db, int64_t before, int limit, struct arena *a,
                     struct store_rule_version **items, int *n, bool *more, struct err *e);

/* Sets *known to whether PostgreSQL knows the time zone `name` (borrowed). */
int store_rules_timezone_known(struct db *db, const char *name, bool *known, struct err *e);

#endif
