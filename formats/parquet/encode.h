/* formats/parquet/encode.h - Parquet value and level encoders used by the
 * writer: the RLE/bit-packed hybrid (levels and dictionary indices), PLAIN
 * boolean bit-packing, and the column-chunk dictionary (an open-addressing
 * hash table over values kept in their PLAIN form, so the dictionary page
 * body is the table's value buffer as is).
 *
 * All loops run over whole arrays (one call per page or per slice of rows),
 * never one call per value. Not thread-safe; one dictionary per column chunk. */
#ifndef WEIR_FORMATS_PARQUET_ENCODE_H
#define WEIR_FORMATS_PARQUET_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Bits needed to represent every value in 0..max (0 for max == 0). */
int pq_enc_bit_width(uint64_t max);

/* RLE/bit-packed hybrid encoding of n values, each < 2^w (1 <= w <= 32),
 * appended to out without a length prefix. Runs of 8 or more equal values
 * become RLE runs; the rest are bit-packed in groups of 8 (the last group
 * padded with zeros; readers stop at the page's value count). */
int pq_rle_encode_u16(const uint16_t *v, size_t n, int w, struct weir_buf *out);
int pq_rle_encode_u32(const uint32_t *v, size_t n, int w, struct weir_buf *out);

/* Same, preceded by the 4-byte little-endian length (data page v1 levels). */
int pq_levels_encode(const uint16_t *v, size_t n, int w, struct weir_buf *out);

/* PLAIN booleans: n bytes (0/1) packed LSB first into ceil(n/8) bytes. */
int pq_bool_pack(const uint8_t *v, size_t n, struct weir_buf *out);

/* Column-chunk dictionary. width > 0: fixed-width values of that many bytes
 * (INT32/FLOAT 4, INT64/DOUBLE 8, FIXED_LEN_BYTE_ARRAY n), compared by their
 * bytes (so NaN payloads and -0.0 stay distinct, as PLAIN stores bits).
 * width == 0: BYTE_ARRAY values, stored as 4-byte length + bytes. */
struct pq_dict {
    int width;
    uint32_t count;         /* entries */
    struct weir_buf values; /* PLAIN encoding of entries 0..count-1 */
    uint32_t *entry_off;    /* BYTE_ARRAY: offset of entry i's length prefix */
    uint32_t *entry_hash;   /* hash of entry i (for rehashing) */
    uint32_t entry_cap;
    uint64_t *slots; /* 0 empty, else hash << 32 | (index + 1) */
    size_t nslots;   /* power of two, load <= 1/2 */
};

void pq_dict_init(struct pq_dict *d, int width);
void pq_dict_reset(struct pq_dict *d); /* drop entries, keep memory */
void pq_dict_free(struct pq_dict *d);

/* Insert-or-find n fixed-width values stored contiguously at vals
 * (n * width bytes); out[k] gets the index of value k. */
int pq_dict_put_fixed(struct pq_dict *d, const uint8_t *vals, size_t n, uint32_t *out);
/* Insert-or-find n byte strings: value k is bytes[offs[i]..offs[i+1]) with
 * i = vidx ? vidx[k] : base + k. */
int pq_dict_put_bytes(struct pq_dict *d, const int64_t *offs, const uint8_t *bytes, const uint32_t *vidx,
                      size_t base, size_t n, uint32_t *out);
/* Entry i of a BYTE_ARRAY dictionary. */
static inline const uint8_t *pq_dict_entry(const struct pq_dict *d, uint32_t i, uint32_t *len)
{
    const uint8_t *p = d->values.data + d->entry_off[i];
    *len = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return p + 4;
}

#endif
