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

/* Deletes records older than 24 hours; sets *deleted. */
int store_idem_expire(struct db *db, long long *deleted, struct err *e);

#endif
