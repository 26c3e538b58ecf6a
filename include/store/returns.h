/*
 * returns.h - recorded purchase returns: finding the purchase a return
 * names, the return already recorded under a POS return id, the lines as
 * earlier returns left them, and writing a return.
 *
 * Strings in the output structs are copies in the caller's arena (`a`);
 * nothing here keeps a PGresult.  Every function runs on the caller's
 * connection, inside the request's transaction.  All but
 * store_return_target must run with the purchase's member locked
 * (store_member_lock, step 1 of the lock order in store/ledger.h): that lock
 * is what serialises every writer of the purchase's lines and returns.
 *
 * Thread-safety: as the connection's (one thread at a time).
 */
#ifndef LY_STORE_RETURNS_H
#define LY_STORE_RETURNS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

struct db;

/* The purchase a return names. */
struct return_target {
    int64_t purchase_id;
    int64_t member_id;
    const char *store_id;
};

/* The purchase `purchase_id`, read without locks: 0, or -1 with
 * ERR_NOT_FOUND ("purchase not found"). */
int store_return_target(struct db *db, int64_t purchase_id, struct arena *a,
                        struct return_target *out, struct err *e);

/* A return as recorded, as a replay needs it. */
struct return_record {
    int64_t id;
    const char *request_hash; /* 64 lowercase hex digits */
    const char *result;       /* the response body as first sent */
};

/* The return recorded under (member, purchase, pos_return_id): 1 with *out
 * filled, 0 when there is none, -1. */
int store_return_find(struct db *db, int64_t member_id, int64_t purchase_id,
                      const char *pos_return_id, struct arena *a, struct return_record *out,
                      struct err *e);

/* One purchase line with what earlier returns took from it. */
struct return_line_row {
    int32_t line_no;
    const char *sku;
    int64_t quantity, returned_quantity;
    int64_t points, returned_points;
    int64_t redeemed_share, returned_redeemed_points;
    int64_t net_spend, returned_net_spend;
};

/* What a new return is computed from. */
struct return_basis {
    int64_t points_redeemed;
    int64_t bonus_points;
    int64_t new_id;         /* reserved from purchase_returns' identity */
    const char *created_at; /* the transaction's now(), RFC 3339 UTC: the row's created_at */
    int nlines;
    struct return_line_row *lines; /* arena array, in line order */
};

/* Reads the purchase's lines and totals and reserves the new return's id.
 * -1 with ERR_NOT_FOUND when the purchase has no lines. */
int store_return_basis(struct db *db, int64_t member_id, int64_t purchase_id, struct arena *a,
                       struct return_basis *out, struct err *e);

/* What this return adds to one line.  Borrowed. */
struct return_line_change {
    int64_t line_no;
    int64_t quantity, points, redeemed_points, net_spend;
};

/* A return to record.  Borrowed for the call. */
struct return_new {
    int64_t id; /* return_basis.new_id */
    int64_t member_id;
    int64_t purchase_id;
    const char *pos_return_id;
    int64_t points_taken;     /* every point the return takes back, promotion bonus included */
    int64_t points_given;     /* redeemed points given back */
    int64_t net_spend;        /* net spend returned: the purchase's drops by this */
    bool fully_returned;      /* this return completes the purchase's full return */
    const char *request_hash; /* 64 lowercase hex digits */
    const char *result;       /* the response body */
    int nchanges;             /* >= 1 */
    const struct return_line_change *changes;
};

/*
 * Writes the return row, the lines' returned amounts, the purchase's net
 * spend (and fully_returned) and touches the member's row, in one
 * statement.  The ledger entries are the caller's (store_ledger_post with
 * the return id).  Returns 1 when written, 0 when the POS return id is
 * recorded already (nothing was written), -1 on error.
 */
int store_return_insert(struct db *db, const struct return_new *r, struct err *e);

#endif
