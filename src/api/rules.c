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
#include "api/rules_json.h"
#include "api/validate.h"
#include "core/buf.h"
#include "core/log.h"

#define LIST_DEFAULT 50
#define LIST_MAX     500
#define VERSION_MAX  INT32_MAX /* rule_versions.version is an integer */

/* Dumped reals keep at most 15 significant digits, so 1.1 stays "1.1". */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* ------------------------------------------------------------ helpers -- */

/* Answers 200 {version, activated_at, rules} around `document` (borrowed
 * JSON text: from the database or from json_dumps, so valid JSON). */
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

static void release_snapshot(void *p)
{
    rules_cache_release(p);
}

/* `?limit=`: 1..LIST_MAX in plain decimal digits. */
static int query_limit(const struct req *rq, int *out, struct err *e)
{
    const char *s = req_query(rq, "limit");
    int64_t v;

    if (s == NULL)
        return 0;
    if (id_parse(s, "", &v) < 0 || v > LIST_MAX)
        return err_field(e, "limit", "must be an integer from 1 to %d", LIST_MAX);
    *out = (int)v;
    return 0;
}

/* ---------------------------------------------------------------- read -- */

/* GET /v1/rules: the snapshot this daemon computes with right now. */
int api_rules_get(struct req *rq, struct resp *rs, struct err *e)
{
    const struct rules_snapshot *s = rules_cache_acquire();

    (void)e;
    arena_defer(&rq->arena, release_snapshot, (void *)(uintptr_t)s);
    reply_version(rs, s->version, s->activated_at, s->document);
    return 0;
}

/* GET /v1/rules/versions?limit=&cursor= : newest first, without documents. */
int api_rules_versions_list(struct req *rq, struct resp *rs, struct err *e)
{
    const char *cursor = req_query(rq, "cursor");
    int64_t before = INT64_MAX;
    int limit = LIST_DEFAULT;
    struct store_rule_version *items;
    struct db *db;
    json_t *arr, *body;
    bool more;
    int n;

    query_limit(rq, &limit, e);
    /* The cursor is the last version shown, as text. */
    if (cursor != NULL && id_parse(cursor, "", &before) < 0)
        err_field(e, "cursor", "is not a valid cursor");
    if (err_is_set(e))
        return -1;
    db = api_db(rq, e);
    if (db == NULL || store_rules_list(db, before, limit, &rq->arena, &items, &n, &more, e) < 0)
        return -1;
    arr = json_array();
    for (int i = 0; arr != NULL && i < n; i++)
        if (json_array_append_new(arr,
                                  json_pack("{s:I, s:s}", "version", (json_int_t)items[i].version,
                                            "activated_at", items[i].activated_at)) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    if (arr == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory building the rules history");
    if (more) {
        char next[24];

        snprintf(next, sizeof(next), "%" PRId64, items[n - 1].version);
        body = json_pack("{s:o, s:s}", "items", arr, "next_cursor", next);
    } else {
        body = json_pack("{s:o, s:n}", "items", arr, "next_cursor");
    }
    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory building the rules history");
    resp_json(rs, 200, body);
    return 0;
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

static bool has_field_error(const struct err *e, const char *field)
{
    for (int i = 0; i < e->nfields; i++)
        if (strcmp(e->fields[i].field, field) == 0)
            return true;
    return false;
}

/*
 * Adds "$.timezone" to `e` unless PostgreSQL knows the program time zone,
 * which every conversion to local time relies on.  `r` is the parsed
 * document, or NULL when it did not validate: then the body's own string is
 * checked, if it has one that passed the other checks, so the answer lists
 * every problem at once.  A database failure is only reported when the
 * document is otherwise valid.
 */
static int check_timezone(struct req *rq, json_t *body, const struct rules *r, struct err *e)
{
    const char *tz;
    struct db *db;
    struct err dbe;
    bool known = false;

    if (r != NULL)
        tz = r->timezone;
    else if (has_field_error(e, "$.timezone"))
        return -1;
    else
        tz = json_string_value(json_object_get(body, "timezone"));
    if (tz == NULL)
        return err_is_set(e) ? -1 : 0;
    err_clear(&dbe);
    db = api_db(rq, &dbe);
    if (db == NULL || store_rules_timezone_known(db, tz, &known, &dbe) < 0) {
        if (!err_is_set(e))
            *e = dbe;
        return -1;
    }
    if (!known)
        err_field(e, "$.timezone", "is not a time zone name PostgreSQL knows");
    return err_is_set(e) ? -1 : 0;
}

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
    if (check_timezone(rq, body, rules_from_json(body, r, e) == 0 ? r : NULL, e) < 0)
        return -1;
    canon = rules_to_json(r);
    text = canon ? json_dumps(canon, DUMP_FLAGS) : NULL;
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
