/*
 * keys.h - credentials in the database: API keys (api_keys) and member
 * tokens (member_tokens), plus the one member fact issuing a token needs.
 *
 * Secrets never reach this module: callers pass the SHA-256 of a credential
 * as PostgreSQL bytea text ("\\x" + 64 hex digits).  Timestamps come back as
 * RFC 3339 UTC text ("2026-11-22T02:15:00Z").  Every function runs exactly
 * one statement on `db` (borrowed), inside the caller's transaction if one
 * is open.  Strings written to the caller's structs are copies in the arena
 * `a` (borrowed) unless a fixed buffer is named.  Database failures set the
 * codes documented in store/db.h (ERR_UNAVAILABLE when the database is
 * unreachable); only the codes listed below are specific to a function.
 *
 * Thread-safety: as `db` (one thread at a time).
 */
#ifndef LY_STORE_KEYS_H
#define LY_STORE_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "store/db.h"

/* An API key as the API shows it: never its secret nor its hash. */
struct store_key {
    int64_t id;
    const char *name;       /* arena */
    const char *role;       /* arena: "admin", "pos" or "app" */
    const char *store_id;   /* arena; NULL when the key is not bound to a store */
    const char *created_at; /* arena, RFC 3339 UTC */
};

/* What authentication needs to know about an active API key. */
struct store_key_auth {
    int64_t id;
    char role[8];      /* "admin", "pos" or "app" */
    char store_id[65]; /* "" when unbound */
};

/* What authentication needs to know about a live member token. */
struct store_token_auth {
    int64_t member_id;
    int64_t token_id;
    int64_t expires_at; /* unix seconds, rounded down */
};

/* What store_key_ensure() found. */
struct store_key_ensured {
    bool created; /* a new row was inserted */
    bool revoked; /* the existing row is revoked (and stays so) */
    char role[8]; /* the row's role ("" if the row was not visible) */
};

/*
 * Inserts an API key.  `store_id` may be NULL.  Fills out->id and
 * out->created_at (and copies the other fields into `a`).  ERR_CONFLICT if
 * the hash exists already (never for fresh random keys).
 */
int store_key_insert(struct db *db, const char *name, const char *role, const char *store_id,
                     const char *key_hash, struct arena *a, struct store_key *out, struct err *e);

/*
 * Lists active (not revoked) keys, newest first, with id < `before_id`
 * (INT64_MAX for the first page).  Fills *items (arena array) with up to
 * `limit` keys, *n with their count and *more with whether another page
 * follows.
 */
int store_key_list(struct db *db, int64_t before_id, int limit, struct arena *a,
                   struct store_key **items, int *n, bool *more, struct err *e);

/* Revokes key `id` now.  ERR_NOT_FOUND if unknown or already revoked. */
int store_key_revoke(struct db *db, int64_t id, struct err *e);

/*
 * Looks an active key up by hash.  Returns 1 with *out filled, 0 when no
 * active key has that hash, or -1.
 */
int store_key_find(struct db *db, const char *key_hash, struct store_key_auth *out, struct err *e);

/*
 * Makes sure a key with this hash exists: inserts (name, role) when none
 * does, and otherwise changes nothing (a revoked key stays revoked; the
 * existing row's role is reported, not overwritten).  Safe to run from
 * several processes at once.
 */
int store_key_ensure(struct db *db, const char *name, const char *role, const char *key_hash,
                     struct store_key_ensured *out, struct err *e);

/*
 * Reads a member's status ("active", "suspended", "closed") into
 * status[16], locking the member row against concurrent changes until the
 * transaction ends (so a token is never issued to a member being closed).
 * ERR_NOT_FOUND if there is no such member.
 */
int store_token_member_status(struct db *db, int64_t member_id, char status[16], struct err *e);

/*
 * Inserts a member token expiring `ttl_s` seconds from now.  Sets *id and
 * *expires_at (arena, RFC 3339 UTC).  ERR_VALIDATION if the member does
 * not exist (foreign key).
 */
int store_token_insert(struct db *db, int64_t member_id, const char *token_hash, int64_t ttl_s,
                       struct arena *a, int64_t *id, const char **expires_at, struct err *e);

/*
 * Looks a member token up by hash.  Returns 1 with *out filled when it is
 * not revoked, not expired and its member is not closed; 0 otherwise; -1 on
 * failure.
 */
int store_token_find(struct db *db, const char *token_hash, struct store_token_auth *out,
                     struct err *e);

/* Revokes every live token of a member; sets *revoked to their count (may be NULL). */
int store_token_revoke_all(struct db *db, int64_t member_id, int64_t *revoked, struct err *e);

#endif
