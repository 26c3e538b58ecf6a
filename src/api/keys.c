/*
 * keys.c - the API key handlers: GET /v1/keys, POST /v1/keys and
 * DELETE /v1/keys/{id} (admin only; routes.c says so, auth.c enforces it).
 *
 * Handlers validate, call store/keys.c and shape JSON.  The new key's secret
 * appears only in the 201 body; nothing here logs it.  Revocation reaches
 * every daemon's cache through the loyalty_auth trigger when the request's
 * transaction commits, so nothing is flushed from here.
 *
 * Must not contain SQL or run BEGIN/COMMIT (the pipeline owns the transaction).
 */
#include "store/keys.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "api/auth.h"
#include "api/handlers.h"
#include "api/validate.h"

static bool is_role(const char *s)
{
    return strcmp(s, "admin") == 0 || strcmp(s, "pos") == 0 || strcmp(s, "app") == 0;
}

static json_t *key_json(const struct store_key *k)
{
    char id[32];

    snprintf(id, sizeof(id), "key_%" PRId64, k->id);
    return json_pack("{s:s, s:s, s:s, s:s?, s:s}", "id", id, "name", k->name, "role", k->role,
                     "store_id", k->store_id, "created_at", k->created_at);
}

/* GET /v1/keys?limit=&cursor= : active keys, newest first. */
int api_keys_list(struct req *rq, struct resp *rs, struct err *e)
{
    struct store_key *items;
    struct db *db;
    json_t *arr;
    int64_t before;
    bool more;
    int limit, n;

    /* The cursor is the id of the last key shown; ids are opaque to clients. */
    if (page_query_read(rq, "key_", &limit, &before, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL || store_key_list(db, before, limit, &rq->arena, &items, &n, &more, e) < 0)
        return -1;
    arr = json_array();
    for (int i = 0; i < n; i++)
        arr = page_items_add(arr, key_json(&items[i]));
    return page_reply(rs, arr, more, "key_", more ? items[n - 1].id : 0, e);
}

/* POST /v1/keys {name, role, store_id?} -> 201 with the secret, shown once. */
int api_keys_create(struct req *rq, struct resp *rs, struct err *e)
{
    static const char *const allowed[] = {"name", "role", "store_id", NULL};
    const char *name = NULL, *role = NULL, *store_id = NULL;
    char secret[AUTH_SECRET_SIZE], hash[67], id[32];
    struct store_key k;
    struct db *db;
    json_t *o, *body;
    int has_role;

    o = body_object(rq, false, e);
    if (o == NULL)
        return -1;
    body_no_unknown(o, allowed, e);
    if (body_string(o, "name", 1, 100, false, &name, NULL, e) == 0)
        body_missing("name", e);
    has_role = body_string(o, "role", 0, 1000, false, &role, NULL, e);
    if (has_role == 0)
        body_missing("role", e);
    else if (has_role == 1 && !is_role(role))
        err_field(e, "role", "must be one of admin, pos, app");
    if (body_string(o, "store_id", 1, 64, true, &store_id, NULL, e) == 1) {
        if (!is_valid_store_id(store_id))
            err_field(e, "store_id", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
        else if (has_role == 1 && is_role(role) && strcmp(role, "pos") != 0)
            err_field(e, "store_id", "is only allowed for role pos");
    }
    if (err_is_set(e))
        return -1;

    db = api_db(rq, e);
    if (db == NULL)
        return -1;
    auth_secret_new(AUTH_KEY_PREFIX, secret, hash);
    if (store_key_insert(db, name, role, store_id, hash, &rq->arena, &k, e) < 0)
        return -1;
    snprintf(id, sizeof(id), "key_%" PRId64, k.id);
    body = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s}", "id", id, "key", secret, "name", k.name,
                     "role", k.role, "store_id", k.store_id, "created_at", k.created_at);
    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory building the key");
    rs->location = arena_printf(&rq->arena, "/v1/keys/%s", id);
    resp_json(rs, 201, body);
    return 0;
}

/* DELETE /v1/keys/{id} -> 204; an admin may revoke its own key. */
int api_keys_revoke(struct req *rq, struct resp *rs, struct err *e)
{
    struct db *db;
    int64_t id;

    if (id_parse(req_param(rq, 0), "key_", &id) < 0)
        return err_set(e, ERR_NOT_FOUND, "api key not found");
    db = api_db(rq, e);
    if (db == NULL || store_key_revoke(db, id, e) < 0)
        return -1;
    resp_empty(rs, 204);
    return 0;
}
