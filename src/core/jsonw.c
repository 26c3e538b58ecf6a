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

/* How many characters of `s` from the start need no escape. */
static size_t plain_prefix(const char *s)
{
    const char *p = s;

    while ((unsigned char)*p >= 0x20 && *p != '"' && *p != '\\')
        p++;
    return (size_t)(p - s);
}

/* The escape of control character, '"' or '\' `c`: the characters with a
 * one-letter escape as `shortly[i]` -> `letter[i]`, any other as \u00XX
 * (as json_dumps without JSON_ENSURE_ASCII writes them). */
static void put_escape(struct buf *b, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";
    static const char shortly[] = "\"\\\b\f\n\r\t", letter[] = "\"\\bfnrt";
    const char *one = memchr(shortly, c, sizeof(shortly) - 1);
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

    if (one != NULL)
        esc[1] = letter[one - shortly];
    buf_append(b, esc, one != NULL ? 2 : sizeof(esc));
}

/* A string in quotes with what needs it escaped, followed by `tail`
 * (tail_len bytes).  Nearly every string (every key) needs no escape: it
 * is one copy. */
static void put_string(struct buf *b, const char *s, const char *tail, size_t tail_len)
{
    size_t n = plain_prefix(s);
    char *p;

    if (s[n] == '\0') {
        p = buf_extend(b, n + 2 + tail_len);
        p[0] = '"';
        memcpy(p + 1, s, n);
        p[n + 1] = '"';
        memcpy(p + n + 2, tail, tail_len);
        return;
    }
    buf_append(b, "\"", 1);
    while (s[n] != '\0') {
        buf_append(b, s, n);
        put_escape(b, (unsigned char)s[n]);
        s += n + 1;
        n = plain_prefix(s);
    }
    buf_append(b, s, n);
    buf_append(b, "\"", 1);
    buf_append(b, tail, tail_len);
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
    put_string(&w->out, key, ":", 1);
    w->after_key = true;
}

void jw_string(struct jw *w, const char *s)
{
    if (s == NULL) {
        jw_null(w);
        return;
    }
    value_start(w);
    put_string(&w->out, s, "", 0);
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
