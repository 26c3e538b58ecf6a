/*
 * err.c - the table from error codes to HTTP statuses, and the setters.
 *
 * This is the only place an HTTP status is chosen for an error.  It must not
 * allocate: errors are raised on out-of-resource paths too.
 */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct err_info err_table[ERR__COUNT] = {
    [ERR_NONE] = {200, "ok", "OK"},
    [ERR_VALIDATION] = {400, "validation_failed", "Validation failed"},
    [ERR_MALFORMED_JSON] = {400, "malformed_json", "Malformed JSON"},
    [ERR_UNAUTHORIZED] = {401, "unauthorized", "Unauthorized"},
    [ERR_FORBIDDEN] = {403, "forbidden", "Forbidden"},
    [ERR_NOT_FOUND] = {404, "not_found", "Not found"},
    [ERR_METHOD_NOT_ALLOWED] = {405, "method_not_allowed", "Method not allowed"},
    [ERR_CONFLICT] = {409, "conflict", "Conflict"},
    [ERR_INSUFFICIENT_POINTS] = {409, "insufficient_points", "Insufficient points"},
    [ERR_OUT_OF_STOCK] = {409, "out_of_stock", "Out of stock"},
    [ERR_LIMIT_REACHED] = {409, "limit_reached", "Limit reached"},
    [ERR_MEMBER_INACTIVE] = {409, "member_inactive", "Member inactive"},
    [ERR_IDEMPOTENCY_KEY_REUSED] = {422, "idempotency_key_reused", "Idempotency key reused"},
    [ERR_PAYLOAD_TOO_LARGE] = {413, "payload_too_large", "Payload too large"},
    [ERR_UNSUPPORTED_MEDIA_TYPE] = {415, "unsupported_media_type", "Unsupported media type"},
    [ERR_RATE_LIMITED] = {429, "rate_limited", "Too many requests"},
    [ERR_UNAVAILABLE] = {503, "unavailable", "Service unavailable"},
    [ERR_INTERNAL] = {500, "internal", "Internal error"},
};

/*
 * snprintf may cut a multi-byte UTF-8 sequence in two; drop the broken tail
 * so the text can always be put into JSON.
 */
static void trim_utf8_tail(char *s)
{
    size_t len = strlen(s);
    size_t i = len;
    size_t need;
    unsigned char lead;

    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    lead = (unsigned char)s[i - 1];
    if (lead < 0x80)
        return;
    need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (len - (i - 1) < need)
        s[i - 1] = '\0';
}

void err_clear(struct err *e)
{
    e->code = ERR_NONE;
    e->detail[0] = '\0';
    e->internal[0] = '\0';
    e->file = NULL;
    e->line = 0;
    e->nfields = 0;
}

const struct err_info *err_info_of(enum err_code code)
{
    if ((int)code < 0 || code >= ERR__COUNT)
        code = ERR_INTERNAL;
    return &err_table[code];
}

/* Claims an unset error for `code`; false when one was set already. */
static bool claim(struct err *e, const char *file, int line, enum err_code code)
{
    if (e->code != ERR_NONE)
        return false;
    e->code = code;
    e->file = file;
    e->line = line;
    return true;
}

int err_set_at(struct err *e, const char *file, int line, enum err_code code, const char *fmt, ...)
{
    va_list ap;

    if (!claim(e, file, line, code))
        return -1;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
    va_end(ap);
    trim_utf8_tail(e->detail);
    return -1;
}

int err_internal_at(struct err *e, const char *file, int line, enum err_code code, const char *fmt,
                    ...)
{
    va_list ap;

    if (!claim(e, file, line, code))
        return -1;
    snprintf(e->detail, sizeof(e->detail), "%s",
             code == ERR_UNAVAILABLE ? "the service is temporarily unavailable, retry later"
                                     : "internal error");
    va_start(ap, fmt);
    vsnprintf(e->internal, sizeof(e->internal), fmt, ap);
    va_end(ap);
    return -1;
}

int err_field(struct err *e, const char *field, const char *fmt, ...)
{
    va_list ap;
    struct err_field *f;

    if (e->code == ERR_NONE) {
        e->code = ERR_VALIDATION;
        snprintf(e->detail, sizeof(e->detail), "the request body is not valid");
    }
    if (e->code != ERR_VALIDATION)
        return -1;
    if (e->nfields >= ERR_MAX_FIELDS)
        return -1;
    f = &e->fields[e->nfields++];
    snprintf(f->field, sizeof(f->field), "%s", field);
    trim_utf8_tail(f->field);
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof(f->message), fmt, ap);
    va_end(ap);
    trim_utf8_tail(f->message);
    return -1;
}
