/*
 * problem.c - rendering errors as RFC 9457 problem details.  The status and
 * the `code` come from the one table in core/err.c; this file never chooses
 * a status.
 */
#include "http/problem.h"

#include <stdio.h>

json_t *problem_from_err(const struct err *e, const char *request_id)
{
    const struct err_info *info = err_info_of(e->code);
    json_t *o = json_object();
    json_t *errors = json_array();
    char type[96];
    char generic[256];
    const char *detail = e->detail;

    /* An internal error's detail may hold anything; a 503's detail is set
     * for clients (err_internal gives it a generic text). */
    if (e->code == ERR_INTERNAL || (info->status >= 500 && detail[0] == '\0')) {
        snprintf(generic, sizeof(generic), "internal error (request id %s)", request_id);
        detail = generic;
    }
    snprintf(type, sizeof(type), "/problems/%s", info->code);
    for (int i = 0; i < e->nfields && i < ERR_MAX_FIELDS; i++) {
        json_array_append_new(errors, json_pack("{s:s, s:s}", "field", e->fields[i].field,
                                                "message", e->fields[i].message));
    }
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "title", json_string(info->title));
    json_object_set_new(o, "status", json_integer(info->status));
    json_object_set_new(o, "detail", json_string(detail[0] ? detail : info->title));
    json_object_set_new(o, "code", json_string(info->code));
    json_object_set_new(o, "errors", errors);
    json_object_set_new(o, "request_id", json_string(request_id));
    return o;
}
