/*
 * buf.h - a growable byte buffer, always NUL-terminated.
 *
 * The buffer owns its memory; buf_steal() hands it to the caller (for example
 * to MHD with MHD_RESPMEM_MUST_FREE).  Growth aborts on out-of-memory.
 */
#ifndef LY_CORE_BUF_H
#define LY_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_cleanup(struct buf *b); /* safe on a zeroed or cleaned buffer */
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Grows the text by `n` bytes and returns where they start, for the caller
 * to fill (all `n` of them) before the next call on `b`: one capacity check
 * for a text made of several pieces. */
char *buf_extend(struct buf *b, size_t n);

/* Appends the decimal text of v. */
void buf_i64(struct buf *b, int64_t v);

/* The decimal text of v in `out`, NUL-terminated; returns its length.
 * Without stdio: the hot paths format dozens of integers per request, and
 * snprintf's machinery costs more than the digits. */
size_t fmt_i64(int64_t v, char out[24]);

/* Returns the data (new allocation, free() it; never NULL) and empties b. */
char *buf_steal(struct buf *b, size_t *len);

#endif
