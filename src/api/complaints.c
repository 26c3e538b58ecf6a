/*
 * complaints.c - members' complaints and their recovery:
 * POST /v1/complaints (admin, pos, app), PATCH /v1/complaints/{id},
 * GET /v1/complaints and GET /v1/complaints/{id} (admin).
 *
 * Filing checks, in order: body (400), the member named by member_id
 * under its lock (404; THE lock order of store/ledger.h), a closed member
 * (409 member_inactive), a purchase_id that is not the member's (400).
 *
 * Life cycle: open -> in_progress -> resolved | rejected (open may go
 * straight to either end).  `resolved` and `rejected` are final.
 * Compensation is given only on the transition into `resolved`, as ONE
 * `adjust` ledger entry ("complaint cmp_N") posted in the same transaction
 * and recorded on the complaint, so it happens at most once per complaint:
 *   - a PATCH locks the member, then the complaint (lock order), so two
 *     PATCHes of one complaint run one after the other and the second sees
 *     what the first did;
 *   - a PATCH of a final complaint that asks for what it already is (same
 *     status, and resolution and compensation_points absent or equal) is a
 *     retry: 200 with the complaint unchanged, nothing written; anything
 *     else on a final complaint is 409 conflict;
 *   - the schema backs it: one ledger_entry_id column, unique, set exactly
 *     when compensation_points > 0, only on a resolved complaint.
 * PATCH is not a POST: Idempotency-Key does not apply; the rule above is
 * what makes a retried PATCH safe.
 * PATCH checks, in order: body (400, compensation_points > 0 only with
 * status resolved), the complaint (404), then under the locks a final
 * complaint (200 retry or 409 conflict) and, when compensating, a closed
 * member (409 member_inactive) or a balance that would overflow (400).
 *
 * Must not contain SQL, open or end transactions, or choose HTTP statuses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/ledger_json.h"
#include "api/member_json.h"
#include "api/posting.h"
#include "api/purchase_json.h"
#include "api/rules_cache.h"
#include "api/validate.h"
#include "store/feedback.h"
#include "store/ledger.h"

static const char *const statuses[] = {"open", "in_progress", "resolved", "rejected", NULL};

static bool is_status(const char *s)
{
    for (int i = 0; statuses[i] != NULL; i++)
        if (strcmp(s, statuses[i]) == 0)
            return true;
    return false;
}

static bool is_final(const char *status)
{
    return strcmp(status, "resolved") == 0 || strcmp(status, "rejected") == 0;
}

static bool is_category(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-");

    return s[n] == '\0' && n >= 1 && n <= COMPLAINT_CATEGORY_MAX;
}

/* ------------------------------------------------------------- output -- */

/* Every key of the complaint, null where it has no value: a new
 * reference, NULL when out of memory. */
static json_t *complaint_json(const struct complaint *c)
{
    char id[32], member[32], purchase[32], entry[32];

    snprintf(id, sizeof(id), COMPLAINT_ID_PREFIX "%" PRId64, c->id);
    snprintf(member, sizeof(member), MEMBER_ID_PREFIX "%" PRId64, c->member_id);
    snprintf(purchase, sizeof(purchase), PURCHASE_ID_PREFIX "%" PRId64, c->purchase_id);
    snprintf(entry, sizeof(entry), LEDGER_ID_PREFIX "%" PRId64, c->ledger_entry_id);
    return json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:s?, s:I, s:s?, s:s, s:s, s:s?}", "id", id,
                     "member_id", member, "purchase_id", c->purchase_id != 0 ? purchase : NULL,
                     "category", c->category, "text", c->text, "status", c->status, "resolution",
                     c->resolution, "compensation_points", (json_int_t)c->compensation_points,
                     "ledger_entry_id", c->ledger_entry_id != 0 ? entry : NULL, "created_at",
                     c->created_at, "updated_at", c->updated_at, "resolved_at", c->resolved_at);
}

static int reply_complaint(struct resp *rs, int status, const struct complaint *c, struct err *e)
{
    json_t *body = complaint_json(c);

    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering a complaint");
    resp_json(rs, status, body);
    return 0;
}

/* ------------------------------------------------------------- create -- */

/* POST /v1/complaints {member_id, purchase_id?, category, text} -> 201. */
int api_complaints_create(struct req *rq, struct resp *rs, struct err *e)
{
    static const char *const allowed[] = {"member_id", "purchase_id", "category", "text", NULL};
    json_t *o = body_object(rq, false, e);
    const char *member = NULL, *purchase = NULL;
    const struct rules_snapshot *snap;
    struct complaint_new in;
    struct member_lock m;
    struct complaint c;
    struct db *db;
    int rc;

    if (o == NULL)
        return -1;
    memset(&in, 0, sizeof(in));
    body_no_unknown(o, allowed, e);
    if (body_string(o, "member_id", 1, 64, false, &member, NULL, e) == 0)
        body_missing("member_id", e);
    if (body_string(o, "purchase_id", 1, 64, true, &purchase, NULL, e) == 1 &&
        id_parse(purchase, PURCHASE_ID_PREFIX, &in.purchase_id) < 0)
        err_field(e, "purchase_id", "is not a purchase id");
    rc = body_string(o, "category", 1, COMPLAINT_CATEGORY_MAX, false, &in.category, NULL, e);
    if (rc == 0)
        body_missing("category", e);
    else if (rc == 1 && !is_category(in.category))
        err_field(e, "category", "must be 1 to 32 characters of a-z 0-9 _ -");
    if (body_text(o, "text", 1, COMPLAINT_TEXT_MAX, false, &in.text, NULL, e) == 0)
        body_missing("text", e);
    if (err_is_set(e))
        return -1;
    /* A member id the server never issued names no one, like an unknown one. */
    if (id_parse(member, MEMBER_ID_PREFIX, &in.member_id) < 0)
        return err_set(e, ERR_NOT_FOUND, "member not found");

    db = api_db(rq, e);
    snap = rules_cache_hold(&rq->arena);
    if (db == NULL ||
        store_member_lock(db, in.member_id, snap->rules.timezone, &rq->arena, &m, e) < 0)
        return -1;
    if (strcmp(m.status, "closed") == 0)
        return err_set(e, ERR_MEMBER_INACTIVE, "the member is closed");
    rc = store_complaint_insert(db, &in, &rq->arena, &c, e);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return err_field(e, "purchase_id", "is not a purchase of this member");
    return reply_complaint(rs, 201, &c, e);
}

/* -------------------------------------------------------------- update -- */

struct complaint_patch {
    const char *status;
    const char *resolution; /* NULL when absent */
    bool has_points;
    int64_t points;
};

static int read_patch(struct req *rq, struct complaint_patch *p, struct err *e)
{
    static const char *const allowed[] = {"status", "resolution", "compensation_points", NULL};
    json_t *o = body_object(rq, false, e);
    int rc;

    if (o == NULL)
        return -1;
    memset(p, 0, sizeof(*p));
    body_no_unknown(o, allowed, e);
    rc = body_string(o, "status", 1, 32, false, &p->status, NULL, e);
    if (rc == 0)
        body_missing("status", e);
    else if (rc == 1 && !is_status(p->status))
        err_field(e, "status", "must be open, in_progress, resolved or rejected");
    body_text(o, "resolution", 1, COMPLAINT_RESOLUTION_MAX, false, &p->resolution, NULL, e);
    rc = body_int(o, "compensation_points", 0, COMPLAINT_POINTS_MAX, &p->points, e);
    p->has_points = rc == 1;
    if (rc == 1 && p->points > 0 && p->status != NULL && strcmp(p->status, "resolved") != 0)
        err_field(e, "compensation_points", "only a complaint being resolved is compensated");
    return err_is_set(e) ? -1 : 0;
}

/* Whether `p` asks a final complaint `c` for what it already is. */
static bool is_repeat(const struct complaint_patch *p, const struct complaint *c)
{
    return strcmp(p->status, c->status) == 0 &&
           (p->resolution == NULL ||
            (c->resolution != NULL && strcmp(p->resolution, c->resolution) == 0)) &&
           (!p->has_points || p->points == c->compensation_points);
}

/* The compensation entry: one `adjust` move with the complaint as reason. */
static int compensate(struct req *rq, struct db *db, const struct rules_snapshot *snap,
                      const struct member_lock *m, const struct complaint *c, int64_t points,
                      int64_t *entry_id, struct err *e)
{
    char reason[48];
    struct ledger_move move;
    struct ledger_posting posting;
    struct ledger_entry entry;
    int64_t after;

    if (strcmp(m->status, "closed") == 0)
        return err_set(e, ERR_MEMBER_INACTIVE, "the member is closed");
    if (__builtin_add_overflow(m->points_balance, points, &after))
        return err_field(e, "compensation_points", "the balance would not fit");
    snprintf(reason, sizeof(reason), "complaint " COMPLAINT_ID_PREFIX "%" PRId64, c->id);
    move = (struct ledger_move){"adjust", points, reason};
    posting = api_posting(&snap->rules, c->member_id, 1, &move);
    if (store_ledger_post(db, &posting, &rq->arena, &entry, e) < 0)
        return -1;
    *entry_id = entry.id;
    return 0;
}

/* PATCH /v1/complaints/{id} {status, resolution?, compensation_points?} -> 200. */
int api_complaints_update(struct req *rq, struct resp *rs, struct err *e)
{
    struct complaint_patch p;
    struct complaint found, cur, done;
    struct complaint_change change;
    const struct rules_snapshot *snap;
    struct member_lock m;
    struct db *db;
    int64_t id;

    if (read_patch(rq, &p, e) < 0)
        return -1;
    if (id_parse(req_param(rq, 0), COMPLAINT_ID_PREFIX, &id) < 0)
        return err_set(e, ERR_NOT_FOUND, "complaint not found");
    db = api_db(rq, e);
    snap = rules_cache_hold(&rq->arena);
    if (db == NULL || store_complaint_get(db, id, &rq->arena, &found, e) < 0)
        return -1;
    /* The lock order: the member, then its complaint. */
    if (store_member_lock(db, found.member_id, snap->rules.timezone, &rq->arena, &m, e) < 0 ||
        store_complaint_lock(db, found.member_id, id, &rq->arena, &cur, e) < 0)
        return -1;
    if (is_final(cur.status)) {
        if (is_repeat(&p, &cur))
            return reply_complaint(rs, 200, &cur, e);
        return err_set(e, ERR_CONFLICT, "the complaint is already %s", cur.status);
    }
    change = (struct complaint_change){p.status, p.resolution, 0, 0};
    if (strcmp(p.status, "resolved") == 0 && p.has_points && p.points > 0) {
        change.compensation_points = p.points;
        if (compensate(rq, db, snap, &m, &cur, p.points, &change.ledger_entry_id, e) < 0)
            return -1;
    }
    if (store_complaint_update(db, cur.member_id, id, &change, &rq->arena, &done, e) < 0)
        return -1;
    return reply_complaint(rs, 200, &done, e);
}

/* --------------------------------------------------------------- read -- */

/* GET /v1/complaints/{id} -> 200. */
int api_complaints_get(struct req *rq, struct resp *rs, struct err *e)
{
    static const char *const none[] = {NULL};
    struct complaint c;
    struct db *db;
    int64_t id;

    if (query_no_unknown(rq, none, e) < 0)
        return -1;
    if (id_parse(req_param(rq, 0), COMPLAINT_ID_PREFIX, &id) < 0)
        return err_set(e, ERR_NOT_FOUND, "complaint not found");
    db = api_db(rq, e);
    if (db == NULL || store_complaint_get(db, id, &rq->arena, &c, e) < 0)
        return -1;
    return reply_complaint(rs, 200, &c, e);
}

/* GET /v1/complaints?status=&member_id=&limit=&cursor= : newest first. */
int api_complaints_list(struct req *rq, struct resp *rs, struct err *e)
{
    static const char *const allowed[] = {"status", "member_id", "limit", "cursor", NULL};
    const char *status, *member;
    struct complaint *items;
    int64_t member_id = 0, before;
    struct db *db;
    json_t *arr;
    bool more;
    int limit, n;

    query_no_unknown(rq, allowed, e);
    status = req_query(rq, "status");
    member = req_query(rq, "member_id");
    if (status != NULL && !is_status(status))
        query_error(e, "status", "must be open, in_progress, resolved or rejected");
    if (member != NULL && id_parse(member, MEMBER_ID_PREFIX, &member_id) < 0)
        query_error(e, "member_id", "is not a member id");
    if (page_query_read(rq, COMPLAINT_ID_PREFIX, &limit, &before, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL || store_complaint_list(db, status, member_id, before, limit, &rq->arena, &items,
                                           &n, &more, e) < 0)
        return -1;
    arr = json_array();
    for (int i = 0; i < n; i++)
        arr = page_items_add(arr, complaint_json(&items[i]));
    return page_reply(rs, arr, more, COMPLAINT_ID_PREFIX, more ? items[n - 1].id : 0, e);
}
