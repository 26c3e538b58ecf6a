/*
 * tokens.c - member token handlers: POST /v1/members/{id}/tokens issues a
 * token for the member app, DELETE /v1/members/{id}/tokens revokes them all.
 *
 * Checks run in the contract's order: body (400), then the member (404,
 * then 409 member_inactive).  The token's secret appears only in the 201
 * body.  Revocation reaches every daemon's cache through the loyalty_auth
 * trigger when the request's transaction commits.
 *
 * Must not contain SQL or run BEGIN/COMMIT (the pipeline owns the transaction).
 */
#include <stdint.h>
#include <string.h>

#include "api/app.h"
#include "api/auth.h"
#include "api/handlers.h"
#include "api/validate.h"
#include "store/keys.h"

#define TTL_DEFAULT_S 3600
#define TTL_MIN_S     60
#define TTL_MAX_S     2592000

/* The {id} of the path as a member id; a malformed one names no member. */
static int member_param(const struct req *rq, int64_t *id, struct err *e)
{
    if (id_parse(req_param(rq, 0), "mem_", id) < 0)
        return err_set(e, ERR_NOT_FOUND, "member not found");
    return 0;
}

/* POST /v1/members/{id}/tokens {ttl_seconds?} -> 201 {token, expires_at}. */
int api_member_tokens_create(struct req *rq, struct resp *rs, struct err *e)
{
    static const char *const allowed[] = {"ttl_seconds", NULL};
    int64_t ttl = TTL_DEFAULT_S, member_id, token_id;
    char secret[AUTH_SECRET_SIZE], hash[67], status[16];
    const char *expires_at;
    struct db *db;
    json_t *o, *body;

    o = body_object(rq, true, e);
    if (o == NULL)
        return -1;
    body_no_unknown(o, allowed, e);
    body_int(o, "ttl_seconds", TTL_MIN_S, TTL_MAX_S, &ttl, e);
    if (err_is_set(e))
        return -1;

    if (member_param(rq, &member_id, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL || store_token_member_status(db, member_id, status, e) < 0)
        return -1;
    if (strcmp(status, "active") != 0)
        return err_set(e, ERR_MEMBER_INACTIVE, "the member is %s", status);
    auth_secret_new(AUTH_MEMBER_PREFIX, secret, hash);
    if (store_token_insert(db, member_id, hash, ttl, &rq->arena, &token_id, &expires_at, e) < 0)
        return -1;
    body = json_pack("{s:s, s:s}", "token", secret, "expires_at", expires_at);
    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory building the token");
    resp_json(rs, 201, body);
    return 0;
}

/* DELETE /v1/members/{id}/tokens -> 204, also when there was nothing to revoke. */
int api_member_tokens_revoke(struct req *rq, struct resp *rs, struct err *e)
{
    char status[16];
    int64_t member_id;
    struct db *db;

    if (member_param(rq, &member_id, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL || store_token_member_status(db, member_id, status, e) < 0 ||
        store_token_revoke_all(db, member_id, NULL, e) < 0)
        return -1;
    resp_empty(rs, 204);
    return 0;
}
