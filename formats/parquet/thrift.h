/* formats/parquet/thrift.h - the Thrift compact protocol, hand-written:
 * an encoder appending to a weir_buf and a decoder over a bounded byte range.
 *
 * Encoder: errors are sticky. The first failure (out of memory, nesting too
 * deep, bad argument) is kept in enc->status and every later call is a no-op
 * returning it, so a caller can emit a whole struct and check once at the end
 * (pq_tenc_status). Field ids go through a per-struct "last id" stack so the
 * short delta form is used whenever 0 < id - last <= 15.
 *
 * Decoder: never reads past `end`; every length and count is checked against
 * the bytes remaining (each element of a list/set/map needs at least one byte,
 * a double eight), so a hostile input cannot request more memory than a small
 * multiple of its own size. Nesting (struct_begin, skip) is limited to
 * PQ_THRIFT_MAX_DEPTH. Failures return WEIR_ECORRUPT and fill dec->err with
 * the byte offset and what is wrong; callers prefix the structure/field.
 *
 * Neither object allocates; both are plain values owned by the caller and used
 * by one thread at a time. */
#ifndef WEIR_FORMATS_PARQUET_THRIFT_H
#define WEIR_FORMATS_PARQUET_THRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

#define PQ_THRIFT_MAX_DEPTH 64

/* Compact protocol type codes (the low nibble of a field header). */
enum pq_tc_type {
    PQ_TC_STOP = 0,
    PQ_TC_TRUE = 1,  /* BOOLEAN_TRUE: field value, or bool element type */
    PQ_TC_FALSE = 2, /* BOOLEAN_FALSE */
    PQ_TC_BYTE = 3,  /* i8 */
    PQ_TC_I16 = 4,
    PQ_TC_I32 = 5,
    PQ_TC_I64 = 6,
    PQ_TC_DOUBLE = 7,
    PQ_TC_BINARY = 8, /* also string */
    PQ_TC_LIST = 9,
    PQ_TC_SET = 10,
    PQ_TC_MAP = 11,
    PQ_TC_STRUCT = 12,
    PQ_TC_UUID = 13, /* 16 raw bytes (newer Thrift) */
};

/* ---- encoder ---- */

struct pq_tenc {
    struct weir_buf *out;
    int status; /* 0 or the first WEIR_E* error */
    int depth;
    int16_t last;
    int16_t stack[PQ_THRIFT_MAX_DEPTH];
};

void pq_tenc_init(struct pq_tenc *e, struct weir_buf *out);
int pq_tenc_status(const struct pq_tenc *e);

/* Field header for a non-bool field of compact type `type`; the value follows. */
int pq_tenc_field(struct pq_tenc *e, int16_t id, enum pq_tc_type type);
/* A bool field: the value lives in the header's type nibble. */
int pq_tenc_field_bool(struct pq_tenc *e, int16_t id, bool v);
/* End of the fields of the current struct (one 0 byte). */
int pq_tenc_stop(struct pq_tenc *e);

/* Values. */
int pq_tenc_bool(struct pq_tenc *e, bool v); /* list element: one byte 1 or 2 */
int pq_tenc_byte(struct pq_tenc *e, int8_t v);
int pq_tenc_i16(struct pq_tenc *e, int16_t v);
int pq_tenc_i32(struct pq_tenc *e, int32_t v);
int pq_tenc_i64(struct pq_tenc *e, int64_t v);
int pq_tenc_double(struct pq_tenc *e, double v);
int pq_tenc_binary(struct pq_tenc *e, const void *p, size_t n); /* n <= INT32_MAX */
int pq_tenc_uvarint(struct pq_tenc *e, uint64_t v);
/* List/set header: short form if n < 15, else long form. elem must not be
 * STOP; for bool elements pass PQ_TC_TRUE. */
int pq_tenc_list_begin(struct pq_tenc *e, enum pq_tc_type elem, uint32_t n);
int pq_tenc_set_begin(struct pq_tenc *e, enum pq_tc_type elem, uint32_t n);
int pq_tenc_map_begin(struct pq_tenc *e, enum pq_tc_type key, enum pq_tc_type val, uint32_t n);
/* A struct value (after its field header or as a list element): pushes the
 * field-id scope. struct_end writes STOP and pops it. */
int pq_tenc_struct_begin(struct pq_tenc *e);
int pq_tenc_struct_end(struct pq_tenc *e);

/* Conveniences: field header plus value. */
int pq_tenc_field_i32(struct pq_tenc *e, int16_t id, int32_t v);
int pq_tenc_field_i64(struct pq_tenc *e, int16_t id, int64_t v);
int pq_tenc_field_binary(struct pq_tenc *e, int16_t id, const void *p, size_t n);

/* ---- decoder ---- */

struct pq_tdec {
    const uint8_t *start, *p, *end;
    struct weir_error *err;
    int depth;
    int16_t last;
    int8_t pending_bool; /* -1 none; else the value carried by the last bool field header */
    int16_t stack[PQ_THRIFT_MAX_DEPTH];
};

void pq_tdec_init(struct pq_tdec *d, const uint8_t *p, size_t n, struct weir_error *err);
static inline size_t pq_tdec_remaining(const struct pq_tdec *d)
{
    return (size_t)(d->end - d->p);
}
static inline size_t pq_tdec_offset(const struct pq_tdec *d)
{
    return (size_t)(d->p - d->start);
}

/* Next field header of the current struct. At the end *type is PQ_TC_STOP
 * (and *id 0). For bool fields *type is PQ_TC_TRUE or PQ_TC_FALSE and the
 * value is read with pq_tdec_bool. Unknown type nibbles are WEIR_ECORRUPT. */
int pq_tdec_field(struct pq_tdec *d, int16_t *id, enum pq_tc_type *type);

int pq_tdec_bool(struct pq_tdec *d, bool *v); /* field value or list element */
int pq_tdec_byte(struct pq_tdec *d, int8_t *v);
int pq_tdec_i16(struct pq_tdec *d, int16_t *v);
int pq_tdec_i32(struct pq_tdec *d, int32_t *v);
int pq_tdec_i64(struct pq_tdec *d, int64_t *v);
int pq_tdec_double(struct pq_tdec *d, double *v);
int pq_tdec_uvarint(struct pq_tdec *d, uint64_t *v);
/* *p points into the input; *n <= bytes remaining. */
int pq_tdec_binary(struct pq_tdec *d, const uint8_t **p, uint32_t *n);
/* List or set header. Checks n * (minimum element size) <= remaining. */
int pq_tdec_list_begin(struct pq_tdec *d, enum pq_tc_type *elem, uint32_t *n);
int pq_tdec_map_begin(struct pq_tdec *d, enum pq_tc_type *key, enum pq_tc_type *val, uint32_t *n);
int pq_tdec_struct_begin(struct pq_tdec *d);
/* Pops the field-id scope; call after pq_tdec_field returned STOP. */
int pq_tdec_struct_end(struct pq_tdec *d);
/* Skip one value of `type` (as returned by pq_tdec_field or a list header),
 * recursing into containers up to the depth limit. */
int pq_tdec_skip(struct pq_tdec *d, enum pq_tc_type type);
/* Reads exactly `count` elements' worth of bytes check: WEIR_ECORRUPT unless
 * count * min_bytes <= remaining. Used by callers that allocate per element. */
int pq_tdec_need(struct pq_tdec *d, uint64_t count, uint64_t min_bytes, const char *what);
/* Set a WEIR_ECORRUPT error mentioning the current offset. */
int pq_tdec_fail(struct pq_tdec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
