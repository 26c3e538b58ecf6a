/*
 * rules_check.c - rules_check_document(): a rule-set document validated
 * completely, its time zone included.
 *
 * Shared by PUT /v1/rules and POST /v1/rules/simulate so that a draft that
 * simulates is exactly a document that could be activated.  Must not
 * contain SQL (store/rules.h asks PostgreSQL) or change anything.
 */
#include "api/rules_check.h"

#include <stdbool.h>
#include <string.h>

#include "api/app.h"
#include "api/rules_json.h"
#include "store/rules.h"

static bool has_field_error(const struct err *e, const char *field)
{
    for (int i = 0; i < e->nfields; i++)
        if (strcmp(e->fields[i].field, field) == 0)
            return true;
    return false;
}

/*
 * Adds "$.timezone" to `e` unless PostgreSQL knows the program time zone.
 * `r` is the parsed document, or NULL when it did not validate: then the
 * document's own string is checked, if it has one that passed the other
 * checks, so the answer lists every problem at once.  A database failure is
 * only reported when the document is otherwise valid.
 */
static int check_timezone(struct req *rq, json_t *doc, const struct rules *r, struct err *e)
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
        tz = json_string_value(json_object_get(doc, "timezone"));
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

int rules_check_document(struct req *rq, json_t *doc, struct rules *out, struct err *e)
{
    return check_timezone(rq, doc, rules_from_json(doc, out, e) == 0 ? out : NULL, e);
}
