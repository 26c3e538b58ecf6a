/*
 * jsonw.c - compact JSON text into a buffer (core/jsonw.h): commas, keys,
 * and strings escaped as jansson escapes them.
 *
 * Must not parse JSON or check UTF-8: its callers' strings are valid.
 */
#include "core/jsonw.h"

#include <string.h>

#include "core/xmalloc.h"

void jw_init(struct jw *w)
{
    buf_init(&w->out);
    w->depth = 0;
    w->after_key = false;
    w->more[0] = false;
}

/* What goes before a value: a comma after a sibling (a member's comma went
 * before its key). */
static void value_start(struct jw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->more[w->depth])
        buf_append(&w->out, ",", 1);
    w->more[w->depth] = true;
}

/* A string in quotes: '"', '\' and control characters escaped, the rest
 * as it is (as json_dumps without JSON_ENSURE_ASCII writes it): the
 * characters with a one-letter escape as `shortly[i]` -> `letter[i]`, any
 * other control character as \u00XX. */
static void put_string(struct buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    static const char shortly[] = "\"\\\b\f\n\r\t", letter[] = "\"\\bfnrt";
    const char *run = s;

    buf_append(b, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue; /* nearly every character: no lookup */
        const char *one = memchr(shortly, c, sizeof(shortly) - 1);
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

        buf_append(b, run, (size_t)(s - run));
        run = s + 1;
        if (one != NULL)
            esc[1] = letter[one - shortly];
        buf_append(b, esc, one != NULL ? 2 : sizeof(esc));
    }
    buf_append(b, run, (size_t)(s - run));
    buf_append(b, "\"", 1);
}

static void open_container(struct jw *w, char c)
{
    value_start(w);
    ly_assert(w->depth < JW_MAX_DEPTH);
    buf_append(&w->out, &c, 1);
    w->more[++w->depth] = false;
}

static void close_container(struct jw *w, char c)
{
    ly_assert(w->depth > 0 && !w->after_key);
    w->depth--;
    buf_append(&w->out, &c, 1);
}

void jw_object_begin(struct jw *w)
{
    open_container(w, '{');
}

void jw_object_end(struct jw *w)
{
    close_container(w, '}');
}

void jw_array_begin(struct jw *w)
{
    open_container(w, '[');
}

void jw_array_end(struct jw *w)
{
    close_container(w, ']');
}

void jw_key(struct jw *w, const char *key)
{
    ly_assert(w->depth > 0 && !w->after_key);
    value_start(w);
    put_string(&w->out, key);
    buf_append(&w->out, ":", 1);
    w->after_key = true;
}

void jw_string(struct jw *w, const char *s)
{
    if (s == NULL) {
        jw_null(w);
        return;
    }
    value_start(w);
    put_string(&w->out, s);
}

void jw_int(struct jw *w, int64_t v)
{
    value_start(w);
    buf_i64(&w->out, v);
}

void jw_bool(struct jw *w, bool v)
{
    value_start(w);
    buf_puts(&w->out, v ? "true" : "false");
}

void jw_null(struct jw *w)
{
    value_start(w);
    buf_puts(&w->out, "null");
}

void jw_member_string(struct jw *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_string(w, s);
}

void jw_member_int(struct jw *w, const char *key, int64_t v)
{
    jw_key(w, key);
    jw_int(w, v);
}

void jw_raw(struct jw *w, const char *json)
{
    value_start(w);
    buf_puts(&w->out, json);
}

char *jw_finish(struct jw *w, size_t *len)
{
    ly_assert(w->depth == 0 && !w->after_key);
    w->more[0] = false;
    return buf_steal(&w->out, len);
}
