/*
 * group_keys.h - the Idempotency-Keys of a group's requests (purchase and
 * redemption groups, api/gather.h): claimed by the group, in its
 * transaction, and their answers stored with its COMMIT, as app.c does
 * for a request alone (api_idem_unclaimed).
 *
 * A group claims its keys in one round trip before it locks any member
 * (THE lock order, store/ledger.h), in ascending (scope, method, path,
 * key) order, so that two groups never wait for each other's keys.  A
 * request whose key is claimed keeps its answer (a refusal, a replay or
 * its result) to store before the COMMIT and sends it once committed: the
 * very text stored.  One that goes alone gives its claim back in the same
 * COMMIT, and app.c claims the key again for it.
 *
 * Must not know what a group records.
 */
#ifndef LY_API_GROUP_KEYS_H
#define LY_API_GROUP_KEYS_H

#include <stdbool.h>

#include "api/gather.h"
#include "api/handlers.h"
#include "store/db.h"
#include "store/idempotency.h"

struct group_key {
    const struct idem_key *key; /* app.c's, borrowed until answered; NULL: none */
    struct arena *arena;        /* the request's: its record's text */
    struct idem_claim claim;
    bool keep;    /* `text` is the answer to store, then send */
    bool release; /* going alone: its claim is given back before the COMMIT */
    int status;
    char *text; /* owned until sent or dropped */
};

/* May request `rq` join a group of `kind`?  Only from a write route's
 * handler that holds no connection yet, without an Idempotency-Key or
 * with one app.c has not claimed, when gathering of `kind` is possible. */
bool group_may_join(const struct req *rq, enum gather_kind kind);

/* Sets up `k` for request `rq` as it joins a group: its key, if it names
 * one app.c has not claimed (api_idem_unclaimed), now the group's. */
void group_key_take(struct group_key *k, struct req *rq);

/*
 * Claims the keys of keys[0..n) that have one, in key order, in one round
 * trip; group_key_claimed then tells each request's fate.
 * A key's second request in the group is not claimed: it reads as held by
 * another.  Returns 0 (also when none has a key), or -1 with `e` when a
 * statement failed.
 */
int group_keys_claim(struct db *db, struct group_key *const *keys, int n, struct err *e);

/*
 * After the flush: 1 when the request goes on (its key claimed, or none);
 * 0 when it is answered from its key's record (*rc, and `rs` or `e`, set);
 * -1 when it must go alone, where its claim waits its turn.
 */
int group_key_claimed(const struct group_key *k, struct resp *rs, struct err *e, int *rc);

/*
 * For a request with a claimed key: keeps the answer in `rs` (or the
 * problem `e` when not NULL), rendered as app.c stores it, to store with
 * the COMMIT.  A 5xx is never stored: the claim is given back instead and
 * false is returned (answer it yourself).
 */
bool group_key_keep(struct group_key *k, struct req *rq, struct resp *rs, const struct err *e);

/* The same, for an answer the caller has as text (copied). */
void group_key_keep_text(struct group_key *k, int status, const char *text);

/* Queues what the request's key needs before the COMMIT: its answer
 * stored, or its claim given back; nothing without either. */
void group_key_queue(struct db *db, const struct group_key *k);

/* Once committed: sends the kept answer (its text moves to `rs`). */
void group_key_send(struct group_key *k, struct resp *rs);

/* Forgets the kept answer (nothing was committed). */
void group_key_drop(struct group_key *k);

#endif
