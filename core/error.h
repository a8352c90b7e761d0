/* core/error.h - error codes and the caller-supplied error record.
 *
 * Every fallible function returns 0 or a negative WEIR_E* code. Functions
 * that can fail in interesting ways also take a `struct weir_error *` (may be
 * NULL) and fill it with a message naming the file, key, offset or record.
 * The code list is one X-macro so weir_strerror() never drifts from it. */
#ifndef WEIR_CORE_ERROR_H
#define WEIR_CORE_ERROR_H

#include <stdbool.h>
#include <stddef.h>

#define WEIR_ERRNO_MAP(X)                               \
    X(NOMEM, -1, "out of memory")                       \
    X(INVAL, -2, "invalid argument")                    \
    X(IO, -3, "I/O error")                              \
    X(CORRUPT, -4, "corrupt or truncated data")         \
    X(NOTFOUND, -5, "not found")                        \
    X(EXISTS, -6, "already exists")                     \
    X(CONFLICT, -7, "concurrent modification conflict") \
    X(UNSUPPORTED, -8, "unsupported feature")           \
    X(RANGE, -9, "value out of range")                  \
    X(PARSE, -10, "parse error")                        \
    X(SCHEMA, -11, "schema mismatch")                   \
    X(RETRY, -12, "temporary failure, retry")           \
    X(CONFIG, -13, "bad configuration")                 \
    X(STATE, -14, "invalid state")                      \
    X(EVOLVED, -15, "the input schema changed")

enum weir_errno {
    WEIR_OK = 0,
#define WEIR_ERRNO_ENUM_(name, val, msg) WEIR_E##name = val,
    WEIR_ERRNO_MAP(WEIR_ERRNO_ENUM_)
#undef WEIR_ERRNO_ENUM_
};

/* Static text for a code; never NULL. */
const char *weir_strerror(int code);

#define WEIR_ERROR_MSG_MAX 1024

struct weir_error {
    int code;       /* WEIR_E* or 0 */
    bool retriable; /* a retry of the same operation may succeed */
    char message[WEIR_ERROR_MSG_MAX];
};

/* Fill `err` (if non-NULL) with code and a printf-style message; returns
 * `code` so callers can write `return weir_error_set(err, WEIR_EIO, ...)`.
 * The first error set wins: a message already present is kept and the new
 * text is appended as context after ": " only by weir_error_prefix. */
int weir_error_set(struct weir_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend context ("reading part-0001.parquet") to an existing message:
 * result is "<context>: <old message>". Returns err->code. */
int weir_error_prefix(struct weir_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void weir_error_clear(struct weir_error *err);

/* Levenshtein distance between a and b for "did you mean ...?" hints;
 * strings longer than 64 bytes count as 99 (far apart). */
size_t weir_edit_distance(const char *a, const char *b, bool ignore_case);

#endif
