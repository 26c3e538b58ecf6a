/*
 * err.h - the one error type that travels from the point of detection to the
 * HTTP answer.
 *
 * Every fallible function takes a caller-owned `struct err *` and returns -1
 * (or NULL) after filling it exactly once.  The error path never allocates:
 * all text lives in fixed buffers, as jansson's json_error_t does.  `detail`
 * and `fields` are shown to clients and never contain SQL or internals;
 * `internal` is for the log only.
 */
#ifndef LY_CORE_ERR_H
#define LY_CORE_ERR_H

#include <stdbool.h>

/* One value per problem `code` in the API contract, plus ERR_INTERNAL. */
enum err_code {
    ERR_NONE = 0,
    ERR_VALIDATION,
    ERR_MALFORMED_JSON,
    ERR_UNAUTHORIZED,
    ERR_FORBIDDEN,
    ERR_NOT_FOUND,
    ERR_METHOD_NOT_ALLOWED,
    ERR_CONFLICT,
    ERR_INSUFFICIENT_POINTS,
    ERR_OUT_OF_STOCK,
    ERR_LIMIT_REACHED,
    ERR_MEMBER_INACTIVE,
    ERR_IDEMPOTENCY_KEY_REUSED,
    ERR_PAYLOAD_TOO_LARGE,
    ERR_UNSUPPORTED_MEDIA_TYPE,
    ERR_RATE_LIMITED,
    ERR_UNAVAILABLE,
    ERR_INTERNAL,
    ERR__COUNT
};

#define ERR_MAX_FIELDS 16

struct err_field {
    char field[64];
    char message[128];
};

struct err {
    enum err_code code;
    char detail[256];   /* client-visible, one line, lowercase, no SQL */
    char internal[512]; /* logged only: libpq messages, SQLSTATE */
    const char *file;   /* where the error was set (static string) */
    int line;
    int nfields;
    struct err_field fields[ERR_MAX_FIELDS];
};

/* Static facts about a code: its HTTP status, contract `code` and title. */
struct err_info {
    int status;
    const char *code;
    const char *title;
};

/* Resets `e` to "no error". */
void err_clear(struct err *e);

/* Returns the static description of `code` (never NULL). */
const struct err_info *err_info_of(enum err_code code);

/*
 * Sets the error once: a second call on an already set error keeps the first
 * (the first detection is the one worth reporting).  Always returns -1 so
 * that `return err_set(e, ERR_NOT_FOUND, "member not found");` is one line.
 */
#define err_set(e, code, ...) err_set_at((e), __FILE__, __LINE__, (code), __VA_ARGS__)
int err_set_at(struct err *e, const char *file, int line, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Records an internal failure: clients see a generic detail, the log sees
 * `fmt`.  Returns -1.
 */
#define err_internal(e, code, ...) err_internal_at((e), __FILE__, __LINE__, (code), __VA_ARGS__)
int err_internal_at(struct err *e, const char *file, int line, enum err_code code, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

/*
 * Adds a field error (a JSON path such as "items[2].quantity") and makes the
 * error ERR_VALIDATION if it was not set yet.  Beyond ERR_MAX_FIELDS further
 * fields are counted but dropped.  Returns -1.
 */
int err_field(struct err *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline bool err_is_set(const struct err *e)
{
    return e->code != ERR_NONE;
}

#endif
