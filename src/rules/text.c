/*
 * text.c - a bounded string builder for the engine's explanation texts and
 * error messages.
 *
 * Exists so that src/rules/ needs neither stdio nor allocation.  It never
 * writes past its buffer and always leaves it NUL-terminated; text that
 * does not fit is cut (the texts are explanations, so a cut is harmless).
 */
#include "internal.h"

void text_init(struct text *t, char *buf, size_t cap)
{
    t->buf = buf;
    t->cap = cap;
    t->len = 0;
    if (cap > 0)
        buf[0] = '\0';
}

static void put_char(struct text *t, char c)
{
    if (t->len + 1 < t->cap) {
        t->buf[t->len++] = c;
        t->buf[t->len] = '\0';
    }
}

void text_str(struct text *t, const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        put_char(t, *s);
}

void text_code(struct text *t, const char *code)
{
    for (size_t i = 0; i < RULES_CODE_MAX && code[i] != '\0'; i++)
        put_char(t, code[i]);
}

/* Writes the decimal digits of v (>= 0). */
static void put_digits(struct text *t, uint64_t v)
{
    char digits[20];
    int n = 0;

    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        put_char(t, digits[--n]);
}

/* |v| as unsigned, correct for INT64_MIN too. */
static uint64_t magnitude(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

void text_i64(struct text *t, int64_t v)
{
    if (v < 0)
        put_char(t, '-');
    put_digits(t, magnitude(v));
}

void text_x100(struct text *t, int64_t v)
{
    uint64_t u = magnitude(v);
    uint64_t cents = u % 100;

    if (v < 0)
        put_char(t, '-');
    put_digits(t, u / 100);
    if (cents != 0) {
        put_char(t, '.');
        put_char(t, (char)('0' + cents / 10));
        if (cents % 10 != 0)
            put_char(t, (char)('0' + cents % 10));
    }
}

const char *text_item_field(char *buf, size_t cap, int i, const char *name)
{
    struct text t;

    text_init(&t, buf, cap);
    text_str(&t, "items[");
    text_i64(&t, i);
    text_str(&t, "].");
    text_str(&t, name);
    return buf;
}
