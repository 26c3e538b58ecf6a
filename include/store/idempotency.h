/*
 * idempotency.h - Idempotency-Key records, written in the request's own
 * transaction so that a key is recorded exactly when its effects are.
 */
#ifndef LY_STORE_IDEMPOTENCY_H
#define LY_STORE_IDEMPOTENCY_H

#include <stdbool.h>

#include "core/arena.h"
#include "core/err.h"
#include "store/db.h"

struct idem_key {
    const char *scope; /* the credential: "key:<id>" or "tok:<id>" */
    const char *method;
    const char *path;
    const char *key;  /* the header value */
    const char *hash; /* request body hash, bytea text form "\\x..." */
};

struct idem_record {
    bool same_request; /* the stored hash equals k->hash */
    int status;
    char *body; /* arena copy of the stored response body */
};

/*
 * Claims `k` inside the current transaction.  Returns 0 when the key is new
 * (the caller runs the request, then calls store_idem_finish before
 * committing), 1 with *rec filled when the key is already recorded, or -1.
 * A concurrent claim of the same key waits for the first transaction to end,
 * so the loser sees the winner's response: never a second execution.
 */
int store_idem_claim(struct db *db, const struct idem_key *k, struct idem_record *rec,
                     struct arena *a, struct err *e);

/* Stores the response for a claimed key (same transaction). */
int store_idem_finish(struct db *db, const struct idem_key *k, int status, const char *body,
                      struct err *e);

/* What a queued claim found. */
struct idem_claim {
    enum {
        IDEM_CLAIMED,    /* the key is new: claimed by this transaction */
        IDEM_RECORDED,   /* already recorded: `rec` holds the record */
        IDEM_IN_PROGRESS /* claimed and not finished by another (see store_idem_claim) */
    } state;
    struct idem_record rec;
};

/*
 * store_idem_claim as db_queue() statements (for several requests' keys in
 * one round trip, api/group_keys.c), sent by the caller's db_flush; *out
 * is filled then (its body in `a`).  It never waits: a key another
 * transaction holds reads as IDEM_IN_PROGRESS.  `k`'s strings are copied;
 * `out` must live until the flush.
 */
void store_idem_claim_queue(struct db *db, const struct idem_key *k, struct arena *a,
                            struct idem_claim *out);

/* store_idem_finish as a db_queue() statement (parameters copied). */
void store_idem_finish_queue(struct db *db, const struct idem_key *k, int status, const char *body);

/* Gives up a key this transaction claimed and will not finish: deletes the
 * unfinished record, so that the request can claim it again in a
 * transaction of its own.  A db_queue() statement. */
void store_idem_release_queue(struct db *db, const struct idem_key *k);

/* Deletes records older than 24 hours; sets *deleted. */
int store_idem_expire(struct db *db, long long *deleted, struct err *e);

#endif
