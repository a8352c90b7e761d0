/* formats/parquet/decode.h - Parquet value and level decoders (reader side).
 *
 * Decoded values of one column chunk accumulate in a pq_values store, by
 * physical type: BOOLEAN one byte per value, INT32/FLOAT 4 bytes, INT64/
 * DOUBLE 8, INT96 12, FIXED_LEN_BYTE_ARRAY type_length bytes (all in
 * `fixed`), BYTE_ARRAY as int64 offsets (count+1 entries, in `fixed`) into
 * `bytes`. Decoders append `count` values and fail with WEIR_ECORRUPT (a
 * message saying what is wrong, without file context; the caller prefixes
 * it) if the input is short or malformed. Every size is bounded by the
 * input bytes, so hostile counts cannot force large allocations beyond
 * `count` times the value width, which the caller bounds. Not thread-safe
 * per object; no global state. */
#ifndef WEIR_FORMATS_PARQUET_DECODE_H
#define WEIR_FORMATS_PARQUET_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

/* RLE / bit-packed hybrid decoder (levels, dictionary indices, booleans
 * in RLE). bit_width 0..32. */
struct pq_rle_decoder {
    const uint8_t *p, *end;
    int bit_width;
    uint32_t rle_left; /* values left in the current RLE run */
    uint32_t rle_value;
    uint32_t bp_left; /* values left in the current bit-packed run */
    uint32_t bp_pos;  /* values already taken from the bit-packed run */
    const uint8_t *bp_start;
    size_t bp_bytes; /* bytes available to the bit-packed run */
};

void pq_rle_init(struct pq_rle_decoder *d, const uint8_t *p, size_t n, int bit_width);
/* Decode exactly `count` values; WEIR_ECORRUPT if the data runs out. */
int pq_rle_read_u32(struct pq_rle_decoder *d, uint32_t *out, size_t count, struct weir_error *err);
/* Same for levels; each value must be <= max_level. */
int pq_rle_read_levels(struct pq_rle_decoder *d, uint16_t *out, size_t count, uint16_t max_level,
                       struct weir_error *err);
/* Deprecated BIT_PACKED level encoding (MSB first). Returns bytes used or <0. */
long pq_bitpacked_read_levels(const uint8_t *p, size_t n, int bit_width, uint16_t *out, size_t count,
                              uint16_t max_level, struct weir_error *err);

/* Bits needed to store values 0..max (0 for max 0). */
int pq_bit_width(uint32_t max);

struct pq_values {
    int ptype;     /* enum pq_type */
    int32_t width; /* bytes per value for fixed types; 0 for BYTE_ARRAY */
    size_t count;
    struct weir_buf fixed;
    struct weir_buf bytes;
};

/* Returns WEIR_EINVAL for a bad FIXED_LEN_BYTE_ARRAY length. */
int pq_values_init(struct pq_values *v, int ptype, int32_t type_length);
void pq_values_free(struct pq_values *v);
void pq_values_clear(struct pq_values *v);
static inline const int64_t *pq_values_offsets(const struct pq_values *v)
{
    return (const int64_t *)v->fixed.data;
}

/* PLAIN: append `count` values from p[0..n). *used gets the bytes consumed. */
int pq_decode_plain(struct pq_values *v, const uint8_t *p, size_t n, size_t count, size_t *used,
                    struct weir_error *err);
/* RLE_DICTIONARY / PLAIN_DICTIONARY data: one bit-width byte, then hybrid
 * indices; each index must be < dict->count. */
int pq_decode_dict(struct pq_values *v, const struct pq_values *dict, const uint8_t *p, size_t n,
                   size_t count, struct weir_error *err);
/* RLE-encoded booleans (v2 pages): 4-byte length prefix then hybrid, width 1. */
int pq_decode_rle_bool(struct pq_values *v, const uint8_t *p, size_t n, size_t count, struct weir_error *err);
/* DELTA_BINARY_PACKED for INT32 / INT64. */
int pq_decode_delta_binary(struct pq_values *v, const uint8_t *p, size_t n, size_t count, size_t *used,
                           struct weir_error *err);
/* DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY for BYTE_ARRAY (and FLBA for the latter). */
int pq_decode_delta_length(struct pq_values *v, const uint8_t *p, size_t n, size_t count,
                           struct weir_error *err);
int pq_decode_delta_byte_array(struct pq_values *v, const uint8_t *p, size_t n, size_t count,
                               struct weir_error *err);
/* BYTE_STREAM_SPLIT for fixed-width types. */
int pq_decode_byte_stream_split(struct pq_values *v, const uint8_t *p, size_t n, size_t count,
                                struct weir_error *err);

#endif
