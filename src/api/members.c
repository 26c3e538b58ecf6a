/*
 * members.c - the member routes: enrolment, look-up by card, phone or email,
 * reading, partial changes, erasure, and /v1/me for member tokens.
 *
 * Each handler reads and checks its whole input first (every field error at
 * once), then touches the database through store/members.h on the request's
 * connection.  Write routes already run inside the request's transaction
 * (app.c), which also turns a failure into a rollback.
 *
 * Must not contain SQL, open or end transactions, or choose HTTP statuses
 * for errors (err.c's table does); must not log personal data.
 */
#include "store/members.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/member_json.h"
#include "api/secret.h"
#include "api/validate.h"
#include "store/keys.h"

#define CARD_DIGITS       16
#define REFERRAL_CODE_LEN 8

/* ------------------------------------------------------------ helpers -- */

/* Answers `status` with the member as its body. */
static int reply_member(struct resp *rs, int status, const struct member *m, struct err *e)
{
    json_t *body = member_json(m);

    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering a member");
    resp_json(rs, status, body);
    return 0;
}

/* The member id in the path.  Ids are opaque to clients, so a malformed one
 * names no member: 404, not 400. */
static int path_member_id(const struct req *rq, int64_t *id, struct err *e)
{
    if (id_parse(req_param(rq, 0), MEMBER_ID_PREFIX, id) < 0)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    return 0;
}

static bool is_closed(const struct member *m)
{
    return strcmp(m->status, "closed") == 0;
}

/* ------------------------------------------------------ body fields -- */

/*
 * Each reader follows body_string's convention (1 read, 0 absent or null,
 * -1 with a field error added) and adds the format check of its field.
 * `is_null` may be NULL where null and absent mean the same.
 */

static int read_phone(json_t *o, struct arena *a, const char **out, bool *is_null, struct err *e)
{
    const char *s;
    char norm[24];
    int rc = body_string(o, "phone", 0, 64, true, &s, is_null, e);

    if (rc != 1)
        return rc;
    if (phone_normalize(s, norm, sizeof(norm)) < 0)
        return err_field(e, "phone", "must be 5 to 20 digits with an optional leading +");
    *out = arena_strdup(a, norm);
    return 1;
}

static int read_email(json_t *o, const char **out, bool *is_null, struct err *e)
{
    const char *s;
    int rc = body_string(o, "email", 0, 254, true, &s, is_null, e);

    if (rc != 1)
        return rc;
    if (!is_valid_email(s))
        return err_field(e, "email", "must be an email address with exactly one @");
    *out = s;
    return 1;
}

/* Today's date in UTC as YYYY-MM-DD: the latest birthday accepted. */
static void today_utc(char dst[11])
{
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(dst, 11, "%Y-%m-%d", &tm);
}

static int read_birthday(json_t *o, const char **out, bool *is_null, struct err *e)
{
    const char *s;
    char today[11];
    int rc = body_string(o, "birthday", 0, 64, true, &s, is_null, e);

    if (rc != 1)
        return rc;
    if (!is_valid_date(s, NULL, NULL, NULL))
        return err_field(e, "birthday", "must be a real date as YYYY-MM-DD");
    today_utc(today);
    /* Both are zero-padded YYYY-MM-DD, so text order is date order. */
    if (strcmp(s, today) > 0)
        return err_field(e, "birthday", "must not be in the future");
    *out = s;
    return 1;
}

static bool is_card_number(const char *s)
{
    size_t n = strspn(s, "0123456789");

    return s[n] == '\0' && n >= 6 && n <= 32;
}

static int read_card_number(json_t *o, const char **out, struct err *e)
{
    const char *s;
    int rc = body_string(o, "card_number", 0, 64, true, &s, NULL, e);

    if (rc != 1)
        return rc;
    if (!is_card_number(s))
        return err_field(e, "card_number", "must be 6 to 32 digits");
    *out = s;
    return 1;
}

static int read_store_id(json_t *o, const char **out, struct err *e)
{
    const char *s;
    int rc = body_string(o, "store_id", 0, 64, true, &s, NULL, e);

    if (rc != 1)
        return rc;
    if (!is_valid_store_id(s))
        return err_field(e, "store_id", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    *out = s;
    return 1;
}

/* Codes are issued in upper case and read aloud, so case does not matter. */
static int read_referral_code(json_t *o, struct arena *a, const char **out, struct err *e)
{
    const char *s;
    char *upper;
    int rc = body_string(o, "referral_code", 1, 64, true, &s, NULL, e);

    if (rc != 1)
        return rc;
    upper = arena_strdup(a, s);
    for (char *p = upper; *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    *out = upper;
    return 1;
}

static int read_status(json_t *o, const char **out, struct err *e)
{
    const char *s;
    int rc = body_string(o, "status", 0, 16, false, &s, NULL, e);

    if (rc != 1)
        return rc;
    if (strcmp(s, "active") != 0 && strcmp(s, "suspended") != 0)
        return err_field(e, "status", "must be active or suspended");
    *out = s;
    return 1;
}

/* ------------------------------------------------------------- enrol -- */

/* The enrolment body; strings borrowed from the request (body or arena). */
struct enrolment {
    const char *name;
    const char *phone;
    const char *email;
    const char *birthday;
    const char *card_number;
    const char *referral_code; /* the referrer's code, upper-cased */
    const char *store_id;
};

static int read_enrolment(json_t *o, struct arena *a, struct enrolment *in, struct err *e)
{
    static const char *const allowed[] = {"name",        "phone",         "email",    "birthday",
                                          "card_number", "referral_code", "store_id", NULL};

    body_no_unknown(o, allowed, e);
    if (body_string(o, "name", 1, 100, false, &in->name, NULL, e) == 0)
        body_missing("name", e);
    read_phone(o, a, &in->phone, NULL, e);
    read_email(o, &in->email, NULL, e);
    read_birthday(o, &in->birthday, NULL, e);
    read_card_number(o, &in->card_number, e);
    read_referral_code(o, a, &in->referral_code, e);
    read_store_id(o, &in->store_id, e);
    return err_is_set(e) ? -1 : 0;
}

/*
 * A key bound to a store enrols for that store only: naming another is
 * forbidden, naming none records the key's own.  `*store_id` may end up
 * pointing into rq.
 */
static int bind_store(const struct req *rq, const char **store_id, struct err *e)
{
    const char *bound = rq->who.store_id;

    if (bound[0] == '\0')
        return 0;
    if (*store_id == NULL) {
        *store_id = bound;
        return 0;
    }
    if (strcmp(*store_id, bound) != 0)
        return err_set(e, ERR_FORBIDDEN, "this key may only enroll members for its own store");
    return 0;
}

/* The referrer's id for `code`; unknown and closed referrers are field errors. */
static int find_referrer(struct db *db, struct arena *a, const char *code, int64_t *id,
                         struct err *e)
{
    struct member ref;
    int rc = store_member_find_by_referral_code(db, code, a, &ref, e);

    if (rc < 0)
        return -1;
    if (rc == 0 || is_closed(&ref))
        return err_field(e, "referral_code", "is not a valid referral code");
    *id = ref.id;
    return 0;
}

int api_members_create(struct req *rq, struct resp *rs, struct err *e)
{
    struct enrolment in = {0};
    struct member_new row = {0};
    struct member m;
    char card[CARD_DIGITS + 1];
    char own_code[REFERRAL_CODE_LEN + 1];
    struct db *db;
    json_t *o = body_object(rq, false, e);

    if (o == NULL || read_enrolment(o, &rq->arena, &in, e) < 0)
        return -1;
    if (bind_store(rq, &in.store_id, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL)
        return -1;
    if (in.referral_code != NULL &&
        find_referrer(db, &rq->arena, in.referral_code, &row.referred_by, e) < 0)
        return -1;
    if (in.card_number == NULL) {
        /* 16 random digits: a clash is about 1 in 10^15 per existing
         * card, and would surface as a conflict rather than a wrong card. */
        secret_digits(card, CARD_DIGITS);
        in.card_number = card;
    }
    secret_token(own_code, "", REFERRAL_CODE_LEN, SECRET_READABLE);
    row.card_number = in.card_number;
    row.name = in.name;
    row.phone = in.phone;
    row.email = in.email;
    row.birthday = in.birthday;
    row.referral_code = own_code;
    row.enrolled_store = in.store_id;
    if (store_member_insert(db, &row, &rq->arena, &m, e) < 0)
        return -1;
    return reply_member(rs, 201, &m, e);
}

/* ------------------------------------------------------------ look-up -- */

struct lookup {
    const char *card_number;
    const char *phone;
    const char *email;
};

static int read_lookup(const struct req *rq, struct lookup *q, struct err *e)
{
    static const char *const allowed[] = {"card_number", "phone", "email", "limit", "cursor", NULL};
    const char *limit = req_query(rq, "limit");
    int64_t n;
    int given;

    q->card_number = req_query(rq, "card_number");
    q->phone = req_query(rq, "phone");
    q->email = req_query(rq, "email");
    given = (q->card_number != NULL) + (q->phone != NULL) + (q->email != NULL);
    query_no_unknown(rq, allowed, e);
    if (given != 1)
        query_error(e, "query", "must have exactly one of card_number, phone or email");
    if (limit != NULL && (id_parse(limit, "", &n) < 0 || n > PAGE_LIMIT_MAX))
        query_error(e, "limit", "must be an integer from 1 to 500");
    return err_is_set(e) ? -1 : 0;
}

/* 1 with *m filled, 0 when nothing matches, -1 on error. */
static int find_member(struct db *db, struct arena *a, const struct lookup *q, struct member *m,
                       struct err *e)
{
    char phone[24];

    if (q->card_number != NULL)
        return store_member_find_by_card(db, q->card_number, a, m, e);
    if (q->email != NULL)
        return store_member_find_by_email(db, q->email, a, m, e);
    /* A value that does not normalise cannot be stored, so it matches no
     * one; that is an empty result, not a client error. */
    if (phone_normalize(q->phone, phone, sizeof(phone)) < 0)
        return 0;
    return store_member_find_by_phone(db, phone, a, m, e);
}

int api_members_lookup(struct req *rq, struct resp *rs, struct err *e)
{
    struct lookup q;
    struct member m;
    struct db *db;
    json_t *items;
    json_t *body;
    int found;

    if (read_lookup(rq, &q, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL)
        return -1;
    found = find_member(db, &rq->arena, &q, &m, e);
    if (found < 0)
        return -1;
    items = json_array();
    if (found == 1 && json_array_append_new(items, member_json(&m)) < 0) {
        json_decref(items);
        items = NULL;
    }
    /* "o" steals items, also when packing fails. */
    body = items ? json_pack("{s:o, s:n}", "items", items, "next_cursor") : NULL;
    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering a member list");
    resp_json(rs, 200, body);
    return 0;
}

/* --------------------------------------------------------------- read -- */

int api_members_get(struct req *rq, struct resp *rs, struct err *e)
{
    struct member m;
    struct db *db;
    int64_t id;

    if (path_member_id(rq, &id, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL || store_member_get(db, id, &rq->arena, &m, e) < 0)
        return -1;
    return reply_member(rs, 200, &m, e);
}

int api_me_get(struct req *rq, struct resp *rs, struct err *e)
{
    struct member m;
    struct db *db = api_db(rq, e);

    if (db == NULL || store_member_get(db, rq->who.member_id, &rq->arena, &m, e) < 0)
        return -1;
    return reply_member(rs, 200, &m, e);
}

/* ------------------------------------------------------------- change -- */

static int read_patch(json_t *o, struct arena *a, struct member_patch *p, struct err *e)
{
    static const char *const allowed[] = {"name", "phone", "email", "birthday", "status", NULL};
    bool null;

    body_no_unknown(o, allowed, e);
    body_string(o, "name", 1, 100, false, &p->name, NULL, e);
    p->set_phone = read_phone(o, a, &p->phone, &null, e) == 1 || null;
    p->set_email = read_email(o, &p->email, &null, e) == 1 || null;
    p->set_birthday = read_birthday(o, &p->birthday, &null, e) == 1 || null;
    read_status(o, &p->status, e);
    return err_is_set(e) ? -1 : 0;
}

/* The member, provided it may still be changed. */
static int get_open_member(struct db *db, struct arena *a, int64_t id, struct member *m,
                           struct err *e)
{
    if (store_member_get(db, id, a, m, e) < 0)
        return -1;
    if (is_closed(m))
        return err_set(e, ERR_CONFLICT, "member is closed");
    return 0;
}

int api_members_update(struct req *rq, struct resp *rs, struct err *e)
{
    struct member_patch p = {0};
    struct member m;
    struct db *db;
    int64_t id;
    json_t *o = body_object(rq, false, e);

    if (o == NULL || read_patch(o, &rq->arena, &p, e) < 0 || path_member_id(rq, &id, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL)
        return -1;
    if (json_object_size(o) > 0) {
        int rc = store_member_update(db, id, &p, &rq->arena, &m, e);

        if (rc != 0)
            return rc < 0 ? -1 : reply_member(rs, 200, &m, e);
    }
    /* Nothing to change, or no open member was updated: a read tells a
     * missing member (404) from a closed one (409). */
    if (get_open_member(db, &rq->arena, id, &m, e) < 0)
        return -1;
    if (json_object_size(o) > 0)
        return err_internal(e, ERR_INTERNAL, "member %lld is open but was not updated",
                            (long long)id);
    return reply_member(rs, 200, &m, e);
}

/* -------------------------------------------------------------- erase -- */

int api_members_erase(struct req *rq, struct resp *rs, struct err *e)
{
    struct db *db;
    int64_t id;

    if (path_member_id(rq, &id, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL || store_member_erase(db, id, e) < 0 ||
        store_token_revoke_all(db, id, NULL, e) < 0)
        return -1;
    resp_empty(rs, 204);
    return 0;
}
