/*
 * rules.c - the rules routes: GET /v1/rules (the active version, from the
 * cache), PUT /v1/rules (validate and activate a new version), and the
 * history, GET /v1/rules/versions and GET /v1/rules/versions/{n}.
 *
 * A rule set answers as {version, activated_at, rules}, where `rules` is the
 * document exactly as stored: its JSON text is spliced into the answer
 * rather than parsed and dumped again, so decimals such as 1.1 come back as
 * written and a GET costs no parsing.  PUT stores the canonical form
 * (rules_to_json of the parsed document), so every stored version reads the
 * same way whoever wrote it.  The new version reaches every daemon's cache,
 * this one's included, through the loyalty_rules notification sent when the
 * request's transaction commits; nothing here touches the cache.
 *
 * Must not contain SQL or run BEGIN/COMMIT (the pipeline owns the
 * transaction), and must not choose HTTP statuses for errors.
 */
#include "store/rules.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/handlers.h"
#include "api/rules_cache.h"
#include "api/rules_check.h"
#include "api/rules_json.h"
#include "api/validate.h"
#include "core/buf.h"
#include "core/json_mem.h"
#include "core/log.h"

#define VERSION_MAX INT32_MAX /* rule_versions.version is an integer */

/* Dumped reals keep at most 15 significant digits, so 1.1 stays "1.1". */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* ------------------------------------------------------------ helpers -- */

/* Answers 200 {version, activated_at, rules} around `document` (borrowed
 * JSON text: from the database or from json_mem_dumps, so valid JSON). */
static void reply_version(struct resp *rs, int64_t version, const char *activated_at,
                          const char *document)
{
    struct buf b;
    size_t len;
    char *text;

    buf_init(&b);
    /* activated_at is to_char output (digits, "-", ":", ".", "T", "Z"): no escaping needed. */
    buf_printf(&b, "{\"version\":%" PRId64 ",\"activated_at\":\"%s\",\"rules\":", version,
               activated_at);
    buf_puts(&b, document);
    buf_puts(&b, "}");
    text = buf_steal(&b, &len);
    resp_raw(rs, 200, "application/json", text, len);
}

/* ---------------------------------------------------------------- read -- */

/* GET /v1/rules: the snapshot this daemon computes with right now. */
int api_rules_get(struct req *rq, struct resp *rs, struct err *e)
{
    const struct rules_snapshot *s = rules_cache_hold(&rq->arena);

    (void)e;
    reply_version(rs, s->version, s->activated_at, s->document);
    return 0;
}

/* GET /v1/rules/versions?limit=&cursor= : newest first, without documents. */
int api_rules_versions_list(struct req *rq, struct resp *rs, struct err *e)
{
    struct store_rule_version *items;
    struct db *db;
    json_t *arr;
    int64_t before;
    bool more;
    int limit, n;

    /* The cursor is the last version shown, as text. */
    if (page_query_read(rq, "", &limit, &before, e) < 0)
        return -1;
    db = api_db(rq, e);
    if (db == NULL || store_rules_list(db, before, limit, &rq->arena, &items, &n, &more, e) < 0)
        return -1;
    arr = json_array();
    for (int i = 0; i < n; i++)
        arr = page_items_add(arr, json_pack("{s:I, s:s}", "version", (json_int_t)items[i].version,
                                            "activated_at", items[i].activated_at));
    return page_reply(rs, arr, more, "", more ? items[n - 1].version : 0, e);
}

/* GET /v1/rules/versions/{n}: n is a plain positive integer; anything else names no version. */
int api_rules_versions_get(struct req *rq, struct resp *rs, struct err *e)
{
    struct store_rule_version v;
    struct db *db;
    int64_t n;

    if (id_parse(req_param(rq, 0), "", &n) < 0 || n > VERSION_MAX)
        return err_set(e, ERR_NOT_FOUND, "rules version not found");
    db = api_db(rq, e);
    if (db == NULL || store_rules_get(db, n, &rq->arena, &v, e) < 0)
        return -1;
    reply_version(rs, v.version, v.activated_at, v.document);
    return 0;
}

/* -------------------------------------------------------------- change -- */

/*
 * After the commit: this daemon serves the new version before it answers, so
 * a client's next request here computes with it.  Other daemons follow
 * through NOTIFY within a second.
 */
static void serve_new_version(struct req *rq, void *arg)
{
    (void)rq;
    if (rules_cache_await(*(const int64_t *)arg, 1000) < 0)
        log_msg(LOG_WARN, "new rules version committed but not yet active here", NULL);
}

/* PUT /v1/rules: the body is the whole rule set; it becomes the highest version. */
int api_rules_put(struct req *rq, struct resp *rs, struct err *e)
{
    struct store_rule_version v;
    struct rules *r;
    struct db *db;
    json_t *body = body_object(rq, false, e);
    json_t *canon;
    char *text;
    int rc;

    if (body == NULL)
        return -1;
    r = arena_alloc(&rq->arena, sizeof(*r)); /* about 0.5 MB: never on the stack */
    if (rules_check_document(rq, body, r, e) < 0)
        return -1;
    canon = rules_to_json(r);
    text = canon ? json_mem_dumps(canon, DUMP_FLAGS) : NULL;
    json_decref(canon);
    if (text == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory rendering the rules");
    db = api_db(rq, e);
    rc = db == NULL ? -1 : store_rules_insert(db, text, rq->who.key_id, &v, e);
    if (rc == 0) {
        int64_t *version = arena_alloc(&rq->arena, sizeof(*version));

        *version = v.version;
        rq->on_commit = serve_new_version;
        rq->on_commit_arg = version;
        reply_version(rs, v.version, v.activated_at, text);
    }
    free(text);
    return rc;
}
