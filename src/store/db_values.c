/*
 * db_values.c - values in and out of statements: integers and arrays as
 * parameter text, and columns of a result read into C values.  Needs no
 * connection.
 *
 * Must not run statements.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/db.h"

void db_i64_text(int64_t v, char buf[24])
{
    fmt_i64(v, buf);
}

void db_array_text(struct buf *b, bool first, const char *s)
{
    if (!first)
        buf_puts(b, ",");
    if (s == NULL) {
        buf_puts(b, "NULL");
        return;
    }
    buf_puts(b, "\"");
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            buf_append(b, "\\", 1);
        buf_append(b, s, 1);
    }
    buf_puts(b, "\"");
}

void db_i64_array(struct buf *b, const void *base, int n, size_t stride, size_t offset)
{
    buf_puts(b, "{");
    for (int i = 0; i < n; i++) {
        int64_t v;

        memcpy(&v, (const char *)base + (size_t)i * stride + offset, sizeof(v));
        if (i > 0)
            buf_append(b, ",", 1);
        buf_i64(b, v);
    }
    buf_puts(b, "}");
}

int64_t db_affected(const PGresult *res)
{
    return strtoll(PQcmdTuples((PGresult *)(uintptr_t)res), NULL, 10);
}

bool db_is_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) != 0;
}

int db_get_i64(const PGresult *res, int row, int col, int64_t *out, struct err *e)
{
    const char *s = PQgetvalue(res, row, col);
    char *end;
    long long v;

    if (PQgetisnull(res, row, col))
        return err_internal(e, ERR_INTERNAL, "unexpected NULL in column %d", col);
    v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0')
        return err_internal(e, ERR_INTERNAL, "column %d is not an integer", col);
    *out = (int64_t)v;
    return 0;
}

char *db_get_str(const PGresult *res, int row, int col, struct arena *a)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return arena_strndup(a, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

bool db_get_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}
