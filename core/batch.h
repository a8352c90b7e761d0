/* core/batch.h - the columnar batch.
 *
 * A batch is a schema plus one column per top-level field, all of the same
 * length (nrows). A column stores values by its type's kind:
 *
 *   BOOLEAN                 uint8_t per value (0 or 1)          in `data`
 *   BYTE / SHORT            int8_t / int16_t                    in `data`
 *   INTEGER / DATE          int32_t                             in `data`
 *   LONG / TIMESTAMP[_NTZ]  int64_t                             in `data`
 *   FLOAT / DOUBLE          float / double                      in `data`
 *   DECIMAL                 weir_i128 unscaled value            in `data`
 *   STRING / BINARY         offsets[length+1] into `bytes`
 *   STRUCT                  children[nfields], each `length` long
 *   ARRAY                   offsets[length+1] into children[0] (elements)
 *   MAP                     offsets[length+1] into children[0] (keys) and
 *                           children[1] (values), which have equal length
 *
 * Validity: `validity` is a bitmap, bit i (LSB first) set when value i is
 * present; NULL means no nulls. The slot of a null value still exists (zero
 * for fixed width, empty range for offsets; a null struct row still has a
 * row in every child, appended as null).
 *
 * Ownership: the batch owns a private copy of the schema and all buffers;
 * column->type points into that copy. Batches are not thread-safe; hand one
 * to another thread as a whole. */
#ifndef WEIR_CORE_BATCH_H
#define WEIR_CORE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/types.h"

typedef __int128 weir_i128;

struct weir_column {
    const struct weir_type *type; /* borrowed from the batch's schema */
    size_t length;                /* number of values */
    size_t null_count;
    uint8_t *validity; /* NULL: all valid */
    void *data;        /* fixed-width values */
    int64_t *offsets;  /* length+1 entries (string/binary/array/map) */
    uint8_t *bytes;    /* string/binary payload */
    size_t bytes_len;
    struct weir_column *children;
    size_t nchildren;
    /* capacities (elements), private to batch.c */
    size_t cap, bytes_cap, validity_cap;
};

struct weir_batch {
    struct weir_type *schema; /* owned, kind STRUCT */
    size_t nrows;
    size_t ncolumns;
    struct weir_column *columns;
};

/* Empty batch for `schema` (cloned). NULL on allocation failure. */
struct weir_batch *weir_batch_create(const struct weir_type *schema);
void weir_batch_destroy(struct weir_batch *b);
/* Drop all rows, keep the allocations. */
void weir_batch_clear(struct weir_batch *b);
/* Set nrows from the columns after appending column by column; returns
 * WEIR_ESTATE if the top-level columns disagree in length. */
int weir_batch_finish_rows(struct weir_batch *b);
/* Approximate heap bytes held (capacities). */
size_t weir_batch_memory(const struct weir_batch *b);
/* A new batch of b's schema holding rows[0..n) of b, in that order (*out
 * NULL on failure). 0 or WEIR_ENOMEM. */
int weir_batch_take(const struct weir_batch *b, const uint32_t *rows, size_t n, struct weir_batch **out);
/* Bytes of the values present (lengths, not capacities): what a batch
 * kept for reuse after weir_batch_clear counts as 0 again. */
size_t weir_batch_used_bytes(const struct weir_batch *b);

/* Column accessors. */
static inline bool weir_column_is_valid(const struct weir_column *c, size_t i)
{
    return c->validity == NULL || (c->validity[i >> 3] >> (i & 7)) & 1;
}
size_t weir_type_value_width(const struct weir_type *t); /* 0 for variable/nested */

/* Appending values. Each append adds one value at index `length`. For
 * nested types append the children first, then close the parent value:
 *   struct: append one value to every child, then weir_column_append_struct;
 *   array:  append n elements to children[0], then weir_column_append_list
 *           (it records offsets[length+1] = children[0].length);
 *   map:    append n keys and n values, then weir_column_append_list.
 * All return 0 or WEIR_ENOMEM and leave the column unchanged on failure. */
int weir_column_append_null(struct weir_column *c); /* any kind; nested: adds null children rows for struct */
int weir_column_append_bool(struct weir_column *c, bool v);
int weir_column_append_i8(struct weir_column *c, int8_t v);
int weir_column_append_i16(struct weir_column *c, int16_t v);
int weir_column_append_i32(struct weir_column *c, int32_t v); /* INTEGER, DATE */
int weir_column_append_i64(struct weir_column *c, int64_t v); /* LONG, TIMESTAMP[_NTZ] */
int weir_column_append_f32(struct weir_column *c, float v);
int weir_column_append_f64(struct weir_column *c, double v);
int weir_column_append_i128(struct weir_column *c, weir_i128 v);              /* DECIMAL */
int weir_column_append_bytes(struct weir_column *c, const void *p, size_t n); /* STRING, BINARY */
int weir_column_append_struct(struct weir_column *c, bool valid);
int weir_column_append_list(struct weir_column *c, bool valid); /* ARRAY, MAP */

/* Reserve room for `n` more values (and `nbytes` more payload bytes). */
int weir_column_reserve(struct weir_column *c, size_t n, size_t nbytes);

/* Copy row `row` of column `src` (and its nested children) onto the end of
 * `dst`, which must have an equal type. */
int weir_column_append_from(struct weir_column *dst, const struct weir_column *src, size_t row);
/* Overwrite value `row` of dst with value `srow` of src, for fixed-width
 * kinds only (boolean, numbers, decimal, date, timestamps) of the same
 * type. 0, WEIR_EINVAL (other kinds, row out of range) or WEIR_ENOMEM. */
int weir_column_set_from(struct weir_column *dst, size_t row, const struct weir_column *src, size_t srow);

/* Copy rows [start, start+n) of `src` onto the end of `dst` (equal types)
 * in bulk: one memcpy per buffer, offsets rebased. On failure `dst` is
 * unchanged. */
int weir_column_append_range(struct weir_column *dst, const struct weir_column *src, size_t start, size_t n);

/* Typed reads (no bounds check beyond an assert). */
static inline int64_t weir_column_i64(const struct weir_column *c, size_t i)
{
    return ((const int64_t *)c->data)[i];
}
static inline int32_t weir_column_i32(const struct weir_column *c, size_t i)
{
    return ((const int32_t *)c->data)[i];
}
static inline double weir_column_f64(const struct weir_column *c, size_t i)
{
    return ((const double *)c->data)[i];
}
static inline const uint8_t *weir_column_bytes(const struct weir_column *c, size_t i, size_t *len)
{
    *len = (size_t)(c->offsets[i + 1] - c->offsets[i]);
    return c->bytes + c->offsets[i];
}

#endif
