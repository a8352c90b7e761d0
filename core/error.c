/* core/error.c - weir_strerror and the caller-supplied error record.
 *
 * Owns nothing on the heap: a weir_error is a fixed-size record the caller
 * provides. Invariant: message is always NUL-terminated after any call here;
 * the first error set into a record wins (later weir_error_set calls keep the
 * existing message; context is added with weir_error_prefix). Callers must
 * start from a zeroed record or call weir_error_clear. Thread-safe: no shared
 * state; a record belongs to one thread at a time. */
#include "core/error.h"

#include <ctype.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *weir_strerror(int code)
{
    switch (code) {
    case WEIR_OK:
        return "success";
#define WEIR_ERRNO_CASE_(name, val, msg) \
    case WEIR_E##name:                   \
        return msg;
        WEIR_ERRNO_MAP(WEIR_ERRNO_CASE_)
#undef WEIR_ERRNO_CASE_
    default:
        return "unknown error";
    }
}

/* A record holds an error if its code is a known negative code and its
 * message is terminated inside the buffer. */
static bool error_is_set(const struct weir_error *err)
{
    if (err->code >= 0 || strcmp(weir_strerror(err->code), "unknown error") == 0)
        return false;
    return memchr(err->message, '\0', sizeof err->message) != NULL;
}

int weir_error_set(struct weir_error *err, int code, const char *fmt, ...)
{
    if (err == NULL || error_is_set(err))
        return code;
    err->code = code;
    err->retriable = (code == WEIR_ERETRY);
    if (fmt == NULL || fmt[0] == '\0') {
        snprintf(err->message, sizeof err->message, "%s", weir_strerror(code));
        return code;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

int weir_error_prefix(struct weir_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return 0;
    if (!error_is_set(err))
        return err->code;
    char out[WEIR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, sizeof out, fmt, ap);
    va_end(ap);
    size_t used = n < 0 ? 0 : ((size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
    out[used] = '\0';
    if (err->message[0] != '\0' && used + 2 < sizeof out) {
        out[used++] = ':';
        out[used++] = ' ';
        size_t old_len = strlen(err->message);
        size_t room = sizeof out - 1 - used;
        size_t take = old_len < room ? old_len : room;
        memcpy(out + used, err->message, take);
        used += take;
        out[used] = '\0';
    }
    memcpy(err->message, out, used + 1);
    return err->code;
}

void weir_error_clear(struct weir_error *err)
{
    if (err == NULL)
        return;
    err->code = 0;
    err->retriable = false;
    err->message[0] = '\0';
}

size_t weir_edit_distance(const char *a, const char *b, bool ignore_case)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            int ca = (unsigned char)a[i - 1], cb = (unsigned char)b[j - 1];
            if (ignore_case) {
                ca = tolower(ca);
                cb = tolower(cb);
            }
            size_t best = prev + (ca != cb);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}
