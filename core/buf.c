/* core/buf.c - growable byte buffer, memory output and memory input.
 *
 * weir_buf invariants: len <= cap; when data != NULL there is room for one
 * byte past len and data[len] == 0, so the bytes can be detached as a C
 * string; a failed append leaves data/len/cap untouched. Growth doubles.
 * Not thread-safe; a buffer belongs to one thread at a time. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

void weir_buf_init(struct weir_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void weir_buf_free(struct weir_buf *b)
{
    if (b == NULL)
        return;
    weir_free(b->data);
    weir_buf_init(b);
}

int weir_buf_reserve(struct weir_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - 1 - b->len)
        return WEIR_ENOMEM;
    size_t need = b->len + extra + 1; /* +1: the NUL terminator */
    if (b->data != NULL && need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    uint8_t *nd = weir_realloc(b->data, ncap);
    if (nd == NULL)
        return WEIR_ENOMEM;
    if (b->data == NULL)
        nd[0] = '\0';
    b->data = nd;
    b->cap = ncap;
    return 0;
}

int weir_buf_append(struct weir_buf *b, const void *p, size_t n)
{
    int rc = weir_buf_reserve(b, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int weir_buf_append_byte(struct weir_buf *b, uint8_t c)
{
    return weir_buf_append(b, &c, 1);
}

int weir_buf_append_str(struct weir_buf *b, const char *s)
{
    return weir_buf_append(b, s, strlen(s));
}

int weir_buf_printf(struct weir_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return WEIR_EINVAL;
    if ((size_t)n < sizeof small)
        return weir_buf_append(b, small, (size_t)n);
    int rc = weir_buf_reserve(b, (size_t)n);
    if (rc != 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *weir_buf_detach(struct weir_buf *b)
{
    char *s = (char *)b->data;
    weir_buf_init(b);
    return s;
}

static int output_buf_write(void *ctx, const void *p, size_t n, struct weir_error *err)
{
    struct weir_buf *b = ctx;
    if (weir_buf_append(b, p, n) != 0)
        return weir_error_set(err, WEIR_ENOMEM, "memory output: cannot grow buffer by %zu bytes (at %zu)", n,
                              b->len);
    return 0;
}

struct weir_output weir_output_buf(struct weir_buf *b)
{
    struct weir_output o = {.write = output_buf_write, .ctx = b};
    return o;
}

/* The memory input's ctx is the base pointer; bounds are checked against
 * weir_input.size by weir_input_read (the callback cannot see the size). */
static int input_mem_read_at(void *ctx, uint64_t off, void *p, size_t n, struct weir_error *err)
{
    if (n > 0)
        memcpy(p, (const uint8_t *)ctx + off, n);
    return 0;
}

struct weir_input weir_input_mem(const void *p, size_t n, const char *name)
{
    struct weir_input in = {
        .size = n,
        .read_at = input_mem_read_at,
        .ctx = (void *)p,
        .name = name ? name : "<memory>",
    };
    return in;
}

int weir_input_read(const struct weir_input *in, uint64_t off, void *p, size_t n, struct weir_error *err)
{
    if (off > in->size || n > in->size - off)
        return weir_error_set(
            err, WEIR_ECORRUPT, "%s: read of %zu bytes at offset %llu is past the end (size %llu)",
            in->name ? in->name : "<input>", n, (unsigned long long)off, (unsigned long long)in->size);
    return in->read_at(in->ctx, off, p, n, err);
}
