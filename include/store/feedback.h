/*
 * feedback.h - members' surveys and complaints (sql/migrations/0007).
 *
 * Every function runs one statement on the caller's connection, inside the
 * request's transaction.  Both tables hold member-owned rows (step 3 of THE
 * lock order, store/ledger.h): the caller locks the member
 * (store_member_lock) before anything here writes or locks a row.
 *
 * Strings in the structs filled here are copies in the caller's arena `a`,
 * valid until it is reset; nothing keeps a PGresult.  Values arrive
 * validated; the table constraints are the last line of defence.  Database
 * failures set the codes of store/db.h; codes specific to a function are
 * listed with it.
 *
 * Thread-safety: as the connection's (one thread at a time).
 */
#ifndef LY_STORE_FEEDBACK_H
#define LY_STORE_FEEDBACK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "store/db.h"

/* Public id prefixes: ids are opaque strings to clients. */
#define SURVEY_ID_PREFIX    "svy_"
#define COMPLAINT_ID_PREFIX "cmp_"

/* Bounds the schema enforces (sql/migrations/0007_feedback.sql). */
#define SURVEY_COMMENT_MAX       1000
#define COMPLAINT_TEXT_MAX       2000
#define COMPLAINT_CATEGORY_MAX   32
#define COMPLAINT_RESOLUTION_MAX 2000
#define COMPLAINT_POINTS_MAX     1000000000LL

struct survey {
    int64_t id;
    int64_t member_id;
    int32_t satisfaction; /* 1..5 */
    int32_t recommend;    /* 0..10 */
    const char *comment;  /* NULL when none */
    int64_t purchase_id;  /* 0 when none */
    const char *created_at;
};

/* What a new survey stores; borrowed for the call. */
struct survey_new {
    int64_t member_id;
    int32_t satisfaction;
    int32_t recommend;
    const char *comment; /* NULL for none */
    int64_t purchase_id; /* 0 for none */
};

/*
 * Records a survey of a member locked by the caller.  1 with *out filled;
 * 0 when `purchase_id` names no purchase of this member (nothing written);
 * -1 on a database error.
 */
int store_survey_insert(struct db *db, const struct survey_new *in, struct arena *a,
                        struct survey *out, struct err *e);

struct complaint {
    int64_t id;
    int64_t member_id;
    int64_t purchase_id; /* 0 when none */
    const char *category;
    const char *text;
    const char *status;     /* open in_progress resolved rejected */
    const char *resolution; /* NULL when none */
    int64_t compensation_points;
    int64_t ledger_entry_id; /* 0 when none */
    const char *created_at;
    const char *updated_at;
    const char *resolved_at; /* NULL unless resolved */
};

/* What a new complaint stores; borrowed for the call. */
struct complaint_new {
    int64_t member_id;
    int64_t purchase_id; /* 0 for none */
    const char *category;
    const char *text;
};

/*
 * Records an open complaint of a member locked by the caller.  1 with *out
 * filled; 0 when `purchase_id` names no purchase of this member (nothing
 * written); -1 on a database error.
 */
int store_complaint_insert(struct db *db, const struct complaint_new *in, struct arena *a,
                           struct complaint *out, struct err *e);

/*
 * The complaint `id`, without locking (to learn its member before locking
 * in order).  ERR_NOT_FOUND ("complaint not found").
 */
int store_complaint_get(struct db *db, int64_t id, struct arena *a, struct complaint *out,
                        struct err *e);

/*
 * Locks complaint `id` of `member_id` (step 3: the member is locked) and
 * reads it as it now is.  ERR_NOT_FOUND.
 */
int store_complaint_lock(struct db *db, int64_t member_id, int64_t id, struct arena *a,
                         struct complaint *out, struct err *e);

/* A change of a locked complaint; borrowed for the call. */
struct complaint_change {
    const char *status;
    const char *resolution;      /* NULL keeps the stored one */
    int64_t compensation_points; /* written as given */
    int64_t ledger_entry_id;     /* 0 for none */
};

/*
 * Writes `c` to complaint `id` of `member_id` (locked by the caller), bumps
 * updated_at and sets resolved_at when the status becomes `resolved`.
 * *out is the complaint afterwards.  ERR_NOT_FOUND.
 */
int store_complaint_update(struct db *db, int64_t member_id, int64_t id,
                           const struct complaint_change *c, struct arena *a, struct complaint *out,
                           struct err *e);

/*
 * A page of complaints, newest first: ids < before_id (INT64_MAX = from the
 * newest), at most `limit`, of one status (NULL: any) and one member (0:
 * any).  *items is an arena array of *n complaints; *more tells whether
 * older ones exist.
 */
int store_complaint_list(struct db *db, const char *status, int64_t member_id, int64_t before_id,
                         int limit, struct arena *a, struct complaint **items, int *n, bool *more,
                         struct err *e);

#endif
