/*
 * buf.c - growable buffer.  Capacity doubles so appends are amortised O(1).
 */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"

void buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_cleanup(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

static void reserve(struct buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap = b->cap ? b->cap : 256;

    ly_assert(need > b->len);
    if (need <= b->cap)
        return;
    while (cap < need) {
        ly_assert(cap <= ((size_t)-1) / 2);
        cap *= 2;
    }
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

char *buf_extend(struct buf *b, size_t n)
{
    char *p;

    reserve(b, n);
    p = b->data + b->len;
    b->len += n;
    b->data[b->len] = '\0';
    return p;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
    char *dst = buf_extend(b, n);

    if (n > 0)
        memcpy(dst, p, n);
}

void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    ly_assert(n >= 0);
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *buf_steal(struct buf *b, size_t *len)
{
    char *p;

    if (b->data == NULL)
        reserve(b, 0), b->data[0] = '\0';
    p = b->data;
    if (len != NULL)
        *len = b->len;
    buf_init(b);
    return p;
}

size_t fmt_i64(int64_t v, char out[24])
{
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char rev[20];
    size_t n = 0, len = 0;

    do {
        rev[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = rev[--n];
    out[len] = '\0';
    return len;
}

void buf_i64(struct buf *b, int64_t v)
{
    char text[24];
    size_t n = fmt_i64(v, text);

    buf_append(b, text, n);
}
