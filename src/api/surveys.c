/*
 * surveys.c - POST /v1/members/{id}/surveys (admin, pos, app) and
 * POST /v1/me/surveys (member token, for itself): a member's satisfaction
 * (1..5) and likelihood to recommend (0..10), with an optional comment and
 * the purchase it is about.
 *
 * Checks, in this order: body (400), the member under its lock (THE lock
 * order of store/ledger.h; 404), a closed member (409 member_inactive; a
 * suspended member may still answer), then a purchase_id that is not one
 * of this member's purchases (400 naming purchase_id: a field of the body
 * that does not hold, not a missing resource of the path).  Runs in the
 * request's transaction (ROUTE_TX), so Idempotency-Key applies.
 *
 * Must not contain SQL, open or end transactions, or choose HTTP statuses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/member_json.h"
#include "api/purchase_json.h"
#include "api/rules_cache.h"
#include "api/validate.h"
#include "store/feedback.h"
#include "store/ledger.h"

/* {id, member_id, satisfaction, recommend, comment, purchase_id, created_at}:
 * a new reference, NULL when out of memory. */
static json_t *survey_json(const struct survey *s)
{
    char id[32], member[32], purchase[32];

    snprintf(id, sizeof(id), SURVEY_ID_PREFIX "%" PRId64, s->id);
    snprintf(member, sizeof(member), MEMBER_ID_PREFIX "%" PRId64, s->member_id);
    snprintf(purchase, sizeof(purchase), PURCHASE_ID_PREFIX "%" PRId64, s->purchase_id);
    return json_pack("{s:s, s:s, s:i, s:i, s:s?, s:s?, s:s}", "id", id, "member_id", member,
                     "satisfaction", (int)s->satisfaction, "recommend", (int)s->recommend,
                     "comment", s->comment, "purchase_id", s->purchase_id != 0 ? purchase : NULL,
                     "created_at", s->created_at);
}

/* The body; in->member_id is the caller's. */
static int read_survey(struct req *rq, struct survey_new *in, struct err *e)
{
    static const char *const allowed[] = {"satisfaction", "recommend", "comment", "purchase_id",
                                          NULL};
    json_t *o = body_object(rq, false, e);
    const char *purchase = NULL;
    int64_t v;
    int rc;

    if (o == NULL)
        return -1;
    memset(in, 0, sizeof(*in));
    body_no_unknown(o, allowed, e);
    rc = body_int(o, "satisfaction", 1, 5, &v, e);
    if (rc == 0)
        body_missing("satisfaction", e);
    else if (rc == 1)
        in->satisfaction = (int32_t)v;
    rc = body_int(o, "recommend", 0, 10, &v, e);
    if (rc == 0)
        body_missing("recommend", e);
    else if (rc == 1)
        in->recommend = (int32_t)v;
    body_text(o, "comment", 1, SURVEY_COMMENT_MAX, true, &in->comment, NULL, e);
    if (body_string(o, "purchase_id", 1, 64, true, &purchase, NULL, e) == 1 &&
        id_parse(purchase, PURCHASE_ID_PREFIX, &in->purchase_id) < 0)
        err_field(e, "purchase_id", "is not a purchase id");
    return err_is_set(e) ? -1 : 0;
}

static int record(struct req *rq, struct resp *rs, struct survey_new *in, struct err *e)
{
    const struct rules_snapshot *snap = rules_cache_hold(&rq->arena);
    struct member_lock m;
    struct survey s;
    struct db *db = api_db(rq, e);
    json_t *body;
    int rc;

    if (db == NULL ||
        store_member_lock(db, in->member_id, snap->rules.timezone, &rq->arena, &m, e) < 0)
        return -1;
    if (strcmp(m.status, "closed") == 0)
        return err_set(e, ERR_MEMBER_INACTIVE, "the member is closed");
    rc = store_survey_insert(db, in, &rq->arena, &s, e);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return err_field(e, "purchase_id", "is not a purchase of this member");
    body = survey_json(&s);
    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering a survey");
    resp_json(rs, 201, body);
    return 0;
}

/* POST /v1/members/{id}/surveys -> 201 the survey. */
int api_member_surveys_create(struct req *rq, struct resp *rs, struct err *e)
{
    struct survey_new in;

    if (read_survey(rq, &in, e) < 0)
        return -1;
    if (id_parse(req_param(rq, 0), MEMBER_ID_PREFIX, &in.member_id) < 0)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    return record(rq, rs, &in, e);
}

/* POST /v1/me/surveys -> 201 the survey of the token's member. */
int api_me_surveys_create(struct req *rq, struct resp *rs, struct err *e)
{
    struct survey_new in;

    if (read_survey(rq, &in, e) < 0)
        return -1;
    in.member_id = rq->who.member_id;
    return record(rq, rs, &in, e);
}
