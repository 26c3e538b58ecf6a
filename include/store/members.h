/*
 * members.h - the members table: enrolment, look-ups, partial updates and
 * erasure.  One statement per function; every statement runs on the
 * caller's connection, so a handler's calls share its transaction.
 *
 * Strings in `struct member` are copies in the caller's arena (`a`), valid
 * until the arena is reset; nothing here keeps a PGresult.  Values arrive
 * already validated and normalised (phone without spaces and dashes); the
 * table's constraints are the last line of defence, not the first.
 *
 * Errors: a unique violation is ERR_CONFLICT whose detail and `fields` name
 * the clashing field ("card_number is already in use"); a lost connection is
 * ERR_UNAVAILABLE; anything else from the database is ERR_INTERNAL.
 *
 * Thread-safety: as the connection's (one thread at a time).
 */
#ifndef LY_STORE_MEMBERS_H
#define LY_STORE_MEMBERS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

struct db;

struct member {
    int64_t id;
    const char *card_number;
    const char *name;     /* NULL once erased */
    const char *phone;    /* normalised, NULL if none */
    const char *email;    /* as given, NULL if none */
    const char *birthday; /* YYYY-MM-DD, NULL if none */
    const char *status;   /* "active", "suspended" or "closed" */
    const char *tier;
    int64_t points_balance;
    const char *referral_code;
    int64_t referred_by;         /* the referrer's id, 0 if none */
    const char *enrolled_store;  /* NULL if none */
    const char *enrolled_at;     /* RFC 3339 UTC with microseconds */
    const char *updated_at;      /* RFC 3339 UTC with microseconds */
    const char *segment;         /* RFM segment of the latest snapshot, NULL if none */
    const char *lifecycle_stage; /* life-cycle stage of the latest snapshot, NULL if none */
};

/* What enrolment stores; all strings borrowed for the call. */
struct member_new {
    const char *card_number;    /* required */
    const char *name;           /* required */
    const char *phone;          /* NULL for none */
    const char *email;          /* NULL for none */
    const char *birthday;       /* YYYY-MM-DD or NULL */
    const char *referral_code;  /* the new member's own code, required */
    int64_t referred_by;        /* 0 for none */
    const char *enrolled_store; /* NULL for none */
};

/*
 * A partial update: only fields whose `set_*` is true change.  `name` and
 * `status` change when non-NULL (they cannot be cleared); for phone, email
 * and birthday a NULL value with `set_*` clears the field.  Borrowed.
 */
struct member_patch {
    const char *name;
    bool set_phone;
    const char *phone;
    bool set_email;
    const char *email;
    bool set_birthday;
    const char *birthday;
    const char *status; /* "active" or "suspended" */
};

/* Inserts a member and fills *out with the stored row.  0 or -1
 * (ERR_CONFLICT naming card_number, phone, email or referral_code). */
int store_member_insert(struct db *db, const struct member_new *in, struct arena *a,
                        struct member *out, struct err *e);

/* The member with this id, closed ones included.  0, or -1 with
 * ERR_NOT_FOUND ("member not found"). */
int store_member_get(struct db *db, int64_t id, struct arena *a, struct member *out, struct err *e);

/*
 * Look-ups by a unique value: 1 with *out filled, 0 when no member has it,
 * -1 on a database error.  `phone` must be normalised; `email` matches
 * case-insensitively.  Erased members have no phone or email, so only the
 * card and the referral code find them.
 */
int store_member_find_by_card(struct db *db, const char *card_number, struct arena *a,
                              struct member *out, struct err *e);
int store_member_find_by_phone(struct db *db, const char *phone, struct arena *a,
                               struct member *out, struct err *e);

/*
 * store_member_find_by_card's statement, queued (db_queue), for the id
 * alone: at the flush *found says whether the card has a member and
 * *member_id is it (both must live until then).  Card numbers never change
 * (no PATCH sets one; a closed member's stays reserved), so the answer
 * needs no lock to stay true: a purchase group (api/purchase_group.c)
 * learns its card purchases' members so before it locks any of them.
 */
void store_member_id_by_card_queue(struct db *db, const char *card_number, struct arena *a,
                                   int64_t *member_id, bool *found);
int store_member_find_by_email(struct db *db, const char *email, struct arena *a,
                               struct member *out, struct err *e);
int store_member_find_by_referral_code(struct db *db, const char *code, struct arena *a,
                                       struct member *out, struct err *e);

/*
 * Applies `p` to a member that is not closed and bumps updated_at.  1 with
 * *out filled; 0 when no such member is open (missing or closed: the caller
 * tells which with store_member_get); -1 on error (ERR_CONFLICT naming phone
 * or email).
 */
int store_member_update(struct db *db, int64_t id, const struct member_patch *p, struct arena *a,
                        struct member *out, struct err *e);

/*
 * Erases the personal data (name, phone, email, birthday) and closes the
 * member.  Erasing a closed member again changes nothing, updated_at
 * included.  0, or -1 with ERR_NOT_FOUND.  Call store_token_revoke_all
 * (store/keys.h) in the same transaction.
 */
int store_member_erase(struct db *db, int64_t id, struct err *e);

#endif
