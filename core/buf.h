/* core/buf.h - a growable byte buffer and the byte-stream interfaces that
 * the format code reads from and writes to.
 *
 * weir_buf owns its memory (weir_malloc). A failed append leaves the buffer
 * as it was. weir_output is a sink (file, object-store upload, memory);
 * weir_input is a random-access source of known size (file, object, memory). */
#ifndef WEIR_CORE_BUF_H
#define WEIR_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct weir_buf {
    uint8_t *data;
    size_t len, cap;
};

void weir_buf_init(struct weir_buf *b);
void weir_buf_free(struct weir_buf *b); /* back to empty, frees memory */
int weir_buf_reserve(struct weir_buf *b, size_t extra);
int weir_buf_append(struct weir_buf *b, const void *p, size_t n);
int weir_buf_append_byte(struct weir_buf *b, uint8_t c);
int weir_buf_append_str(struct weir_buf *b, const char *s);
int weir_buf_printf(struct weir_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Take the bytes (NUL-terminated, may be NULL if empty) and reset b. */
char *weir_buf_detach(struct weir_buf *b);

struct weir_output {
    int (*write)(void *ctx, const void *p, size_t n, struct weir_error *err);
    void *ctx;
};

struct weir_input {
    uint64_t size;
    /* Read exactly n bytes at off; WEIR_ECORRUPT/WEIR_EIO otherwise. */
    int (*read_at)(void *ctx, uint64_t off, void *p, size_t n, struct weir_error *err);
    void *ctx;
    const char *name; /* for error messages: file path or URI */
};

/* A weir_output appending to a weir_buf. */
struct weir_output weir_output_buf(struct weir_buf *b);
/* A weir_input over memory (not copied; must outlive the input). Its
 * read_at callback cannot see `size`, so it does not bounds-check: read it
 * through weir_input_read. */
struct weir_input weir_input_mem(const void *p, size_t n, const char *name);

/* Checked read (added by core): WEIR_ECORRUPT naming in->name and the
 * offset when [off, off+n) is not inside [0, in->size); otherwise calls
 * in->read_at. Use this instead of calling read_at directly. */
int weir_input_read(const struct weir_input *in, uint64_t off, void *p, size_t n, struct weir_error *err);

#endif
