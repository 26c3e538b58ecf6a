/*
 * validate.c - reading request bodies into C values, checking the value
 * formats the contract defines (names, phones, emails, dates, store ids,
 * ids), and the list pages every list shares: `?limit=&cursor=` in,
 * `{items, next_cursor}` out.
 *
 * Every getter adds its own field error and returns -1 so a handler can read
 * all fields first and answer once with every problem (postgres errsave).
 * Messages are postgres style: short, lowercase, no trailing period.
 *
 * Must not touch the database or decide anything about a particular route:
 * which fields a body has and which are required is the handler's business.
 */
#include "api/validate.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/civil.h"
#include "core/xmalloc.h"

/* ------------------------------------------------------------ bodies -- */

json_t *body_object(struct req *rq, bool optional, struct err *e)
{
    if (rq->json == NULL) {
        if (!optional) {
            err_set(e, ERR_MALFORMED_JSON, "request body is required");
            return NULL;
        }
        /* Owned by the request like a parsed body, so callers need not care
         * whether the client sent one. */
        rq->json = json_object();
        if (rq->json == NULL)
            err_internal(e, ERR_INTERNAL, "out of memory for an empty body");
        return rq->json;
    }
    if (!json_is_object(rq->json)) {
        err_set(e, ERR_VALIDATION, "request body must be a JSON object");
        return NULL;
    }
    return rq->json;
}

static bool is_allowed(const char *key, const char *const *allowed)
{
    for (; *allowed != NULL; allowed++)
        if (strcmp(key, *allowed) == 0)
            return true;
    return false;
}

int body_no_unknown(json_t *o, const char *const *allowed, struct err *e)
{
    const char *key;
    json_t *v;
    int rc = 0;

    json_object_foreach (o, key, v) {
        (void)v;
        if (!is_allowed(key, allowed))
            rc = err_field(e, key, "unknown field");
    }
    return rc;
}

int body_missing(const char *key, struct err *e)
{
    return err_field(e, key, "is required");
}

/* The length check's message, with the common shapes spelled naturally. */
static int length_error(const char *key, int min, int max, struct err *e)
{
    if (min == max)
        return err_field(e, key, "must be %d characters", min);
    if (min <= 0)
        return err_field(e, key, "must be at most %d characters", max);
    return err_field(e, key, "must be %d to %d characters", min, max);
}

int body_string(json_t *o, const char *key, int min, int max, bool nullable, const char **out,
                bool *is_null, struct err *e)
{
    json_t *v = json_object_get(o, key);
    const char *s;
    int n;

    if (is_null != NULL)
        *is_null = false;
    if (v == NULL)
        return 0;
    if (json_is_null(v)) {
        if (!nullable)
            return err_field(e, key, "must not be null");
        if (is_null != NULL)
            *is_null = true;
        return 0;
    }
    if (!json_is_string(v))
        return err_field(e, key, "must be a string");
    s = json_string_value(v);
    /* An embedded NUL would silently cut the value short in C and in libpq. */
    if (strlen(s) != json_string_length(v))
        return err_field(e, key, "must not contain control characters");
    n = utf8_length(s);
    if (n < 0)
        return err_field(e, key, "must not contain control characters");
    if (n < min || n > max)
        return length_error(key, min, max, e);
    *out = s;
    return 1;
}

int body_int(json_t *o, const char *key, int64_t min, int64_t max, int64_t *out, struct err *e)
{
    json_t *v = json_object_get(o, key);
    json_int_t n;

    if (v == NULL)
        return 0;
    /* json_is_integer is false for reals (1.0, 1e3) and for booleans. */
    if (!json_is_integer(v))
        return err_field(e, key, "must be an integer");
    n = json_integer_value(v);
    if (n < min || n > max)
        return err_field(e, key, "must be between %lld and %lld", (long long)min, (long long)max);
    *out = (int64_t)n;
    return 1;
}

json_t *body_array(json_t *o, const char *key, size_t max, size_t *n, struct err *e)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return body_missing(key, e), NULL;
    if (!json_is_array(v))
        return err_field(e, key, "must be an array"), NULL;
    *n = json_array_size(v);
    if (*n < 1 || *n > max)
        return err_field(e, key, "must have 1 to %zu items", max), NULL;
    return v;
}

int body_bool(json_t *o, const char *key, bool *out, struct err *e)
{
    json_t *v = json_object_get(o, key);

    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return err_field(e, key, "must be true or false");
    *out = json_is_true(v);
    return 1;
}

/* ------------------------------------------------------------ values -- */

static bool is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/*
 * Decodes one UTF-8 sequence at s, strictly (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF).  Returns its length in bytes and the
 * code point in *cp, or 0 if the bytes are not valid UTF-8.
 */
static int utf8_decode(const unsigned char *s, uint32_t *cp)
{
    static const uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned char c = s[0];
    int len;
    uint32_t v;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07u;
    } else {
        return 0; /* a continuation byte, an overlong lead (C0, C1) or F5..FF */
    }
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0; /* also stops at the terminating NUL */
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min_of_len[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

int utf8_length(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long count = 0;
    uint32_t cp;

    while (*p != '\0') {
        int len = utf8_decode(p, &cp);

        if (len == 0 || is_control(cp) || count == INT_MAX)
            return -1;
        p += len;
        count++;
    }
    return (int)count;
}

int phone_normalize(const char *in, char *dst, size_t n)
{
    size_t out = 0;
    int digits = 0;

    if (n < 22)
        return -1;
    for (const char *p = in; *p != '\0'; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (*p == '+' && out == 0) {
            dst[out++] = '+';
            continue;
        }
        if (*p < '0' || *p > '9' || digits == 20)
            return -1;
        dst[out++] = *p;
        digits++;
    }
    dst[out] = '\0';
    return digits >= 5 ? 0 : -1;
}

bool is_valid_email(const char *s)
{
    size_t len = strlen(s);
    const char *at = strchr(s, '@');

    if (len < 3 || len > 254 || at == NULL || at == s || at[1] == '\0')
        return false;
    if (strchr(at + 1, '@') != NULL)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p <= 0x20 || *p == 0x7F)
            return false;
    return true;
}

bool is_valid_date(const char *s, int *y, int *m, int *d)
{
    int yy, mm, dd;

    if (civil_parse_date(s, &yy, &mm, &dd) < 0 || yy < 1900)
        return false;
    if (y != NULL)
        *y = yy;
    if (m != NULL)
        *m = mm;
    if (d != NULL)
        *d = dd;
    return true;
}

bool is_valid_store_id(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        char c = s[n];

        if (n >= 64)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n > 0;
}

int id_parse(const char *s, const char *prefix, int64_t *out)
{
    size_t plen = strlen(prefix);
    const char *p;
    int64_t v = 0;

    if (s == NULL || strncmp(s, prefix, plen) != 0)
        return -1;
    p = s + plen;
    /* Leading zeros are refused so that every id has exactly one spelling. */
    if (*p < '1' || *p > '9')
        return -1;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (INT64_MAX - (*p - '0')) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

/* ------------------------------------------------------------- pages -- */

int query_error(struct err *e, const char *field, const char *msg)
{
    if (!err_is_set(e))
        err_set(e, ERR_VALIDATION, "the query string is not valid");
    return err_field(e, field, "%s", msg);
}

int query_no_unknown(const struct req *rq, const char *const *allowed, struct err *e)
{
    char msg[128];
    size_t len;
    int n = 0, given = 0;

    for (; allowed[n] != NULL; n++)
        given += req_query(rq, allowed[n]) != NULL;
    /* Counting is all the request API offers: a count above the known names
     * present means an unknown or a repeated parameter. */
    if (req_query_count(rq) == given)
        return 0;
    len = (size_t)snprintf(msg, sizeof(msg), "only");
    for (int i = 0; i < n && len < sizeof(msg); i++)
        len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%s",
                                i == 0       ? " "
                                : i == n - 1 ? " and "
                                             : ", ",
                                allowed[i]);
    if (len < sizeof(msg))
        snprintf(msg + len, sizeof(msg) - len,
                 n == 1 ? " is allowed, once" : " are allowed, once each");
    return query_error(e, "query", msg);
}

int page_query_read(const struct req *rq, const char *cursor_prefix, int *limit, int64_t *before,
                    struct err *e)
{
    const char *l = req_query(rq, "limit");
    const char *c = req_query(rq, "cursor");
    int64_t n;

    *limit = PAGE_LIMIT_DEFAULT;
    *before = INT64_MAX;
    /* id_parse takes 1.. in plain digits without leading zeros. */
    if (l != NULL && (id_parse(l, "", &n) < 0 || n > PAGE_LIMIT_MAX))
        query_error(e, "limit", "must be an integer from 1 to 500");
    else if (l != NULL)
        *limit = (int)n;
    if (c != NULL && id_parse(c, cursor_prefix, before) < 0)
        query_error(e, "cursor", "is not a valid cursor");
    return err_is_set(e) ? -1 : 0;
}

json_t *page_items_add(json_t *items, json_t *item)
{
    if (items == NULL) {
        json_decref(item);
        return NULL;
    }
    /* json_array_append_new steals `item` even when it fails. */
    if (json_array_append_new(items, item) < 0) {
        json_decref(items);
        return NULL;
    }
    return items;
}

int page_reply(struct resp *rs, json_t *items, bool more, const char *cursor_prefix,
               int64_t last_id, struct err *e)
{
    char next[48];
    json_t *body;

    snprintf(next, sizeof(next), "%s%" PRId64, cursor_prefix, last_id);
    /* "o" steals items, also when packing fails. */
    body = items == NULL ? NULL
           : more        ? json_pack("{s:o, s:s}", "items", items, "next_cursor", next)
                         : json_pack("{s:o, s:n}", "items", items, "next_cursor");
    if (body == NULL)
        return err_internal(e, ERR_INTERNAL, "out of memory building a list page");
    resp_json(rs, 200, body);
    return 0;
}

/* ---------------------------------------------------------- free text -- */

int body_text(json_t *o, const char *key, int min, int max, bool nullable, const char **out,
              bool *is_null, struct err *e)
{
    json_t *v = json_object_get(o, key);
    const char *s;
    char *flat;
    int n;

    /* Absent, null and non-string values are body_string's business. */
    if (v == NULL || !json_is_string(v))
        return body_string(o, key, min, max, nullable, out, is_null, e);
    if (is_null != NULL)
        *is_null = false;
    s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return err_field(e, key, "must not contain control characters");
    /* Line breaks and tabs count as one character each, like a space. */
    flat = xstrdup(s);
    for (char *p = flat; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    n = utf8_length(flat);
    free(flat);
    if (n < 0)
        return err_field(e, key,
                         "must not contain control characters other than line breaks and tabs");
    if (n < min || n > max)
        return length_error(key, min, max, e);
    *out = s;
    return 1;
}
