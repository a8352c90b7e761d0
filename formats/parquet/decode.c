/* formats/parquet/decode.c - Parquet encodings, decode side: the RLE /
 * bit-packed hybrid (levels, dictionary indices, booleans), PLAIN for every
 * physical type, dictionary gathers, DELTA_BINARY_PACKED,
 * DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY and BYTE_STREAM_SPLIT.
 *
 * Owns only the pq_values buffers it appends to. Invariants: a decoder never
 * reads outside [p, p+n) and never trusts a count from the data for an
 * allocation without first checking it against the bytes that would have to
 * back it (or against the caller-bounded `count`). Values are stored in
 * little-endian host order (the build assumes a little-endian host, as the
 * Parquet format does). No global state; callers use one pq_values per
 * thread. */
#include "formats/parquet/decode.h"

#include <string.h>

#include "core/alloc.h"
#include "formats/parquet/meta.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "weir's parquet decoder assumes a little-endian host"
#endif

int pq_bit_width(uint32_t max)
{
    int w = 0;
    while (max) {
        w++;
        max >>= 1;
    }
    return w;
}

static int read_uleb(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -1;
}

static inline int64_t zigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Value k (width w <= 64 bits, LSB-first packing) from base[0..nbytes). The
 * caller guarantees the value's bits lie inside the buffer. */
static inline uint64_t unpack_at(const uint8_t *base, size_t nbytes, uint64_t k, int w)
{
    if (w == 0)
        return 0;
    uint64_t bit = k * (uint64_t)w;
    size_t byte = (size_t)(bit >> 3);
    unsigned shift = (unsigned)(bit & 7);
    if (w <= 56 && byte + 8 <= nbytes) {
        uint64_t word;
        memcpy(&word, base + byte, 8);
        word >>= shift;
        return w == 64 ? word : word & ((UINT64_C(1) << w) - 1);
    }
    unsigned __int128 acc = 0;
    size_t need = (shift + (unsigned)w + 7) / 8;
    for (size_t i = 0; i < need && byte + i < nbytes; i++)
        acc |= (unsigned __int128)base[byte + i] << (8 * i);
    acc >>= shift;
    return w == 64 ? (uint64_t)acc : (uint64_t)acc & ((UINT64_C(1) << w) - 1);
}

/* ---- RLE / bit-packed hybrid ---------------------------------------- */

void pq_rle_init(struct pq_rle_decoder *d, const uint8_t *p, size_t n, int bit_width)
{
    memset(d, 0, sizeof *d);
    d->p = p;
    d->end = p + n;
    d->bit_width = bit_width;
}

/* Start the next run. 1: a run is ready; 0: no data left; <0: corrupt. */
static int rle_next_run(struct pq_rle_decoder *d, struct weir_error *err)
{
    while (d->p < d->end) {
        uint64_t header;
        if (read_uleb(&d->p, d->end, &header) != 0)
            return weir_error_set(err, WEIR_ECORRUPT, "RLE/bit-packed run header is truncated");
        int w = d->bit_width;
        if (header & 1) {
            uint64_t groups = header >> 1;
            if (groups > (UINT64_C(1) << 28))
                return weir_error_set(err, WEIR_ECORRUPT, "bit-packed run of %llu groups is too long",
                                      (unsigned long long)groups);
            uint64_t want_bytes = groups * (uint64_t)w;
            size_t avail = (size_t)(d->end - d->p);
            size_t take = want_bytes < avail ? (size_t)want_bytes : avail;
            uint64_t nvals = groups * 8;
            if (w > 0) {
                /* Tolerate a short final run (some writers stop at the last value). */
                uint64_t fit = (uint64_t)take * 8 / (uint64_t)w;
                if (fit < nvals)
                    nvals = fit;
            }
            d->bp_start = d->p;
            d->bp_bytes = take;
            d->bp_left = (uint32_t)nvals;
            d->bp_pos = 0;
            d->p += take;
            if (nvals > 0)
                return 1;
        } else {
            uint64_t count = header >> 1;
            if (count > UINT32_MAX)
                return weir_error_set(err, WEIR_ECORRUPT, "RLE run of %llu values is too long",
                                      (unsigned long long)count);
            size_t vb = (size_t)(w + 7) / 8;
            if ((size_t)(d->end - d->p) < vb)
                return weir_error_set(err, WEIR_ECORRUPT, "RLE run value is truncated");
            uint32_t v = 0;
            for (size_t i = 0; i < vb; i++)
                v |= (uint32_t)d->p[i] << (8 * i);
            d->p += vb;
            if (w < 32 && (v >> w) != 0)
                return weir_error_set(err, WEIR_ECORRUPT, "RLE run value %u does not fit in %d bits", v, w);
            d->rle_value = v;
            d->rle_left = (uint32_t)count;
            if (count > 0)
                return 1;
        }
    }
    return 0;
}

int pq_rle_read_u32(struct pq_rle_decoder *d, uint32_t *out, size_t count, struct weir_error *err)
{
    size_t done = 0;
    if (d->bit_width == 0) {
        memset(out, 0, count * sizeof *out);
        return 0;
    }
    if (d->bit_width < 0 || d->bit_width > 32)
        return weir_error_set(err, WEIR_ECORRUPT, "bit width %d out of range 0..32", d->bit_width);
    while (done < count) {
        if (d->rle_left > 0) {
            size_t k = count - done < d->rle_left ? count - done : d->rle_left;
            for (size_t i = 0; i < k; i++)
                out[done + i] = d->rle_value;
            d->rle_left -= (uint32_t)k;
            done += k;
        } else if (d->bp_left > 0) {
            size_t k = count - done < d->bp_left ? count - done : d->bp_left;
            for (size_t i = 0; i < k; i++)
                out[done + i] = (uint32_t)unpack_at(d->bp_start, d->bp_bytes, d->bp_pos + i, d->bit_width);
            d->bp_pos += (uint32_t)k;
            d->bp_left -= (uint32_t)k;
            done += k;
        } else {
            int rc = rle_next_run(d, err);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return weir_error_set(err, WEIR_ECORRUPT, "RLE/bit-packed data ends after %zu of %zu values",
                                      done, count);
        }
    }
    return 0;
}

int pq_rle_read_levels(struct pq_rle_decoder *d, uint16_t *out, size_t count, uint16_t max_level,
                       struct weir_error *err)
{
    uint32_t tmp[512];
    size_t done = 0;
    while (done < count) {
        size_t k = count - done < 512 ? count - done : 512;
        int rc = pq_rle_read_u32(d, tmp, k, err);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < k; i++) {
            if (tmp[i] > max_level)
                return weir_error_set(err, WEIR_ECORRUPT, "level %u exceeds the maximum %u", tmp[i],
                                      (unsigned)max_level);
            out[done + i] = (uint16_t)tmp[i];
        }
        done += k;
    }
    return 0;
}

long pq_bitpacked_read_levels(const uint8_t *p, size_t n, int bit_width, uint16_t *out, size_t count,
                              uint16_t max_level, struct weir_error *err)
{
    uint64_t bits = (uint64_t)count * (uint64_t)bit_width;
    uint64_t bytes = (bits + 7) / 8;
    if (bytes > n)
        return weir_error_set(err, WEIR_ECORRUPT, "BIT_PACKED levels need %llu bytes, page has %zu",
                              (unsigned long long)bytes, n);
    for (size_t i = 0; i < count; i++) {
        uint32_t v = 0;
        uint64_t b = (uint64_t)i * (uint64_t)bit_width;
        for (int j = 0; j < bit_width; j++, b++)
            v = (v << 1) | ((p[b >> 3] >> (7 - (b & 7))) & 1);
        if (v > max_level)
            return weir_error_set(err, WEIR_ECORRUPT, "level %u exceeds the maximum %u", v,
                                  (unsigned)max_level);
        out[i] = (uint16_t)v;
    }
    return (long)bytes;
}

/* ---- value store ----------------------------------------------------- */

int pq_values_init(struct pq_values *v, int ptype, int32_t type_length)
{
    memset(v, 0, sizeof *v);
    weir_buf_init(&v->fixed);
    weir_buf_init(&v->bytes);
    v->ptype = ptype;
    switch (ptype) {
    case PQ_BOOLEAN:
        v->width = 1;
        break;
    case PQ_INT32:
    case PQ_FLOAT:
        v->width = 4;
        break;
    case PQ_INT64:
    case PQ_DOUBLE:
        v->width = 8;
        break;
    case PQ_INT96:
        v->width = 12;
        break;
    case PQ_BYTE_ARRAY:
        v->width = 0;
        break;
    case PQ_FIXED_LEN_BYTE_ARRAY:
        if (type_length <= 0 || type_length > (1 << 20))
            return WEIR_EINVAL;
        v->width = type_length;
        break;
    default:
        return WEIR_EINVAL;
    }
    if (ptype == PQ_BYTE_ARRAY) {
        int64_t zero = 0;
        if (weir_buf_append(&v->fixed, &zero, sizeof zero) != 0)
            return WEIR_ENOMEM;
    }
    return 0;
}

void pq_values_free(struct pq_values *v)
{
    if (!v)
        return;
    weir_buf_free(&v->fixed);
    weir_buf_free(&v->bytes);
    v->count = 0;
}

void pq_values_clear(struct pq_values *v)
{
    v->count = 0;
    v->bytes.len = 0;
    v->fixed.len = v->ptype == PQ_BYTE_ARRAY ? sizeof(int64_t) : 0;
}

static int reserve_fixed(struct pq_values *v, size_t count, struct weir_error *err)
{
    size_t per = v->width ? (size_t)v->width : sizeof(int64_t);
    if (count > SIZE_MAX / per / 2)
        return weir_error_set(err, WEIR_ECORRUPT, "%zu values is too many", count);
    if (weir_buf_reserve(&v->fixed, count * per) != 0)
        return weir_error_set(err, WEIR_ENOMEM, "cannot allocate %zu values", count);
    return 0;
}

/* Append one byte array (offsets already reserved). */
static inline int push_bytes(struct pq_values *v, const uint8_t *p, size_t len)
{
    if (weir_buf_append(&v->bytes, p, len) != 0)
        return WEIR_ENOMEM;
    int64_t off = (int64_t)v->bytes.len;
    memcpy(v->fixed.data + v->fixed.len, &off, sizeof off);
    v->fixed.len += sizeof off;
    v->count++;
    return 0;
}

int pq_decode_plain(struct pq_values *v, const uint8_t *p, size_t n, size_t count, size_t *used,
                    struct weir_error *err)
{
    size_t w = (size_t)v->width;
    int rc;
    if (v->ptype == PQ_BOOLEAN) {
        size_t need = (count + 7) / 8;
        if (need > n)
            return weir_error_set(err, WEIR_ECORRUPT, "PLAIN booleans need %zu bytes, page has %zu", need, n);
        if ((rc = reserve_fixed(v, count, err)) < 0)
            return rc;
        uint8_t *dst = v->fixed.data + v->fixed.len;
        for (size_t i = 0; i < count; i++)
            dst[i] = (p[i >> 3] >> (i & 7)) & 1;
        v->fixed.len += count;
        v->count += count;
        if (used)
            *used = need;
        return 0;
    }
    if (v->ptype == PQ_BYTE_ARRAY) {
        /* First pass: validate and size; second: copy. */
        size_t pos = 0, total = 0;
        for (size_t i = 0; i < count; i++) {
            if (n - pos < 4)
                return weir_error_set(err, WEIR_ECORRUPT,
                                      "PLAIN byte array %zu of %zu: length prefix past the page end", i,
                                      count);
            uint32_t len;
            memcpy(&len, p + pos, 4);
            pos += 4;
            if (len > n - pos)
                return weir_error_set(err, WEIR_ECORRUPT,
                                      "PLAIN byte array %zu of %zu: length %u past the page end", i, count,
                                      len);
            pos += len;
            total += len;
        }
        if ((rc = reserve_fixed(v, count, err)) < 0)
            return rc;
        if (weir_buf_reserve(&v->bytes, total) != 0)
            return weir_error_set(err, WEIR_ENOMEM, "cannot allocate %zu bytes", total);
        pos = 0;
        for (size_t i = 0; i < count; i++) {
            uint32_t len;
            memcpy(&len, p + pos, 4);
            pos += 4;
            push_bytes(v, p + pos, len); /* cannot fail: reserved */
            pos += len;
        }
        if (used)
            *used = pos;
        return 0;
    }
    if (count > n / w)
        return weir_error_set(err, WEIR_ECORRUPT, "PLAIN values need %zu x %zu bytes, page has %zu", count, w,
                              n);
    if ((rc = reserve_fixed(v, count, err)) < 0)
        return rc;
    memcpy(v->fixed.data + v->fixed.len, p, count * w);
    v->fixed.len += count * w;
    v->count += count;
    if (used)
        *used = count * w;
    return 0;
}

int pq_decode_dict(struct pq_values *v, const struct pq_values *dict, const uint8_t *p, size_t n,
                   size_t count, struct weir_error *err)
{
    int rc;
    if (count == 0)
        return 0;
    if (n < 1)
        return weir_error_set(err, WEIR_ECORRUPT, "dictionary-encoded data has no bit width byte");
    int bw = p[0];
    if (bw > 32)
        return weir_error_set(err, WEIR_ECORRUPT, "dictionary index bit width %d out of range", bw);
    if (dict == NULL || dict->count == 0)
        return weir_error_set(err, WEIR_ECORRUPT, "dictionary-encoded page without a dictionary page");
    if ((rc = reserve_fixed(v, count, err)) < 0)
        return rc;
    struct pq_rle_decoder d;
    pq_rle_init(&d, p + 1, n - 1, bw);
    uint32_t idx[1024];
    size_t w = (size_t)v->width;
    const int64_t *doff = pq_values_offsets(dict);
    for (size_t done = 0; done < count;) {
        size_t k = count - done < 1024 ? count - done : 1024;
        if ((rc = pq_rle_read_u32(&d, idx, k, err)) < 0)
            return rc;
        for (size_t i = 0; i < k; i++) {
            if (idx[i] >= dict->count)
                return weir_error_set(err, WEIR_ECORRUPT,
                                      "dictionary index %u out of range (dictionary has %zu values)", idx[i],
                                      dict->count);
        }
        if (v->ptype == PQ_BYTE_ARRAY) {
            size_t total = 0;
            for (size_t i = 0; i < k; i++)
                total += (size_t)(doff[idx[i] + 1] - doff[idx[i]]);
            if (weir_buf_reserve(&v->bytes, total) != 0)
                return weir_error_set(err, WEIR_ENOMEM, "cannot allocate %zu bytes", total);
            for (size_t i = 0; i < k; i++)
                push_bytes(v, dict->bytes.data + doff[idx[i]], (size_t)(doff[idx[i] + 1] - doff[idx[i]]));
        } else {
            uint8_t *dst = v->fixed.data + v->fixed.len;
            const uint8_t *src = dict->fixed.data;
            if (w == 4) {
                for (size_t i = 0; i < k; i++)
                    memcpy(dst + 4 * i, src + 4 * (size_t)idx[i], 4);
            } else if (w == 8) {
                for (size_t i = 0; i < k; i++)
                    memcpy(dst + 8 * i, src + 8 * (size_t)idx[i], 8);
            } else {
                for (size_t i = 0; i < k; i++)
                    memcpy(dst + w * i, src + w * (size_t)idx[i], w);
            }
            v->fixed.len += k * w;
            v->count += k;
        }
        done += k;
    }
    return 0;
}

int pq_decode_rle_bool(struct pq_values *v, const uint8_t *p, size_t n, size_t count, struct weir_error *err)
{
    int rc;
    if (n < 4)
        return weir_error_set(err, WEIR_ECORRUPT, "RLE booleans: missing length prefix");
    uint32_t len;
    memcpy(&len, p, 4);
    if (len > n - 4)
        return weir_error_set(err, WEIR_ECORRUPT, "RLE booleans: length %u past the page end", len);
    if ((rc = reserve_fixed(v, count, err)) < 0)
        return rc;
    struct pq_rle_decoder d;
    pq_rle_init(&d, p + 4, len, 1);
    uint32_t tmp[512];
    for (size_t done = 0; done < count;) {
        size_t k = count - done < 512 ? count - done : 512;
        if ((rc = pq_rle_read_u32(&d, tmp, k, err)) < 0)
            return rc;
        uint8_t *dst = v->fixed.data + v->fixed.len;
        for (size_t i = 0; i < k; i++)
            dst[i] = (uint8_t)tmp[i];
        v->fixed.len += k;
        v->count += k;
        done += k;
    }
    return 0;
}

/* ---- DELTA_BINARY_PACKED -------------------------------------------- */

/* Decode a DELTA_BINARY_PACKED stream into int64 (wrapping per `bits`).
 * *total gets the header's value count; `out` may hold `cap` values, all
 * of which must be present. */
static int delta_binary_decode(const uint8_t *p, size_t n, int bits, int64_t *out, size_t cap,
                               uint64_t *total_out, size_t *used, struct weir_error *err)
{
    const uint8_t *q = p, *end = p + n;
    uint64_t block_size, nminis, total, first;
    if (read_uleb(&q, end, &block_size) || read_uleb(&q, end, &nminis) || read_uleb(&q, end, &total) ||
        read_uleb(&q, end, &first))
        return weir_error_set(err, WEIR_ECORRUPT, "DELTA_BINARY_PACKED header is truncated");
    if (block_size == 0 || block_size % 128 != 0 || block_size > (1u << 20) || nminis == 0 ||
        block_size % nminis != 0 || (block_size / nminis) % 32 != 0)
        return weir_error_set(err, WEIR_ECORRUPT,
                              "DELTA_BINARY_PACKED block size %llu with %llu miniblocks is invalid",
                              (unsigned long long)block_size, (unsigned long long)nminis);
    *total_out = total;
    if (out == NULL) { /* header only */
        *used = (size_t)(q - p);
        return 0;
    }
    if (total < cap)
        return weir_error_set(err, WEIR_ECORRUPT, "DELTA_BINARY_PACKED has %llu values, page needs %zu",
                              (unsigned long long)total, cap);
    uint64_t per_mini = block_size / nminis;
    uint64_t mask = bits == 32 ? 0xffffffffu : ~UINT64_C(0);
    uint64_t last = (uint64_t)zigzag(first) & mask;
    size_t got = 0;
    if (total > 0) {
        if (cap > 0)
            out[got++] = (int64_t)last;
    }
    uint64_t remaining = total > 0 ? total - 1 : 0;
    while (remaining > 0) {
        uint64_t md;
        if (read_uleb(&q, end, &md))
            return weir_error_set(err, WEIR_ECORRUPT, "DELTA_BINARY_PACKED block header is truncated");
        uint64_t min_delta = (uint64_t)zigzag(md);
        if ((uint64_t)(end - q) < nminis)
            return weir_error_set(err, WEIR_ECORRUPT, "DELTA_BINARY_PACKED bit widths are truncated");
        const uint8_t *widths = q;
        q += nminis;
        for (uint64_t m = 0; m < nminis && remaining > 0; m++) {
            int bw = widths[m];
            if (bw > bits)
                return weir_error_set(err, WEIR_ECORRUPT, "DELTA_BINARY_PACKED bit width %d too large", bw);
            uint64_t bytes = per_mini * (uint64_t)bw / 8;
            size_t avail = (size_t)(end - q);
            uint64_t take = remaining < per_mini ? remaining : per_mini;
            /* The final miniblock may be cut short after its last value. */
            if (bytes > avail) {
                if ((take * (uint64_t)bw + 7) / 8 > avail)
                    return weir_error_set(err, WEIR_ECORRUPT, "DELTA_BINARY_PACKED miniblock is truncated");
                bytes = avail;
            }
            for (uint64_t i = 0; i < take; i++) {
                uint64_t d = unpack_at(q, (size_t)bytes, i, bw);
                last = (last + min_delta + d) & mask;
                if (got < cap)
                    out[got++] = (int64_t)last;
            }
            q += bytes;
            remaining -= take;
        }
    }
    *used = (size_t)(q - p);
    return 0;
}

int pq_decode_delta_binary(struct pq_values *v, const uint8_t *p, size_t n, size_t count, size_t *used,
                           struct weir_error *err)
{
    int rc;
    if (v->ptype != PQ_INT32 && v->ptype != PQ_INT64)
        return weir_error_set(err, WEIR_ECORRUPT, "DELTA_BINARY_PACKED used on a non-integer column");
    if (count > n * 64 + 1)
        return weir_error_set(err, WEIR_ECORRUPT, "DELTA_BINARY_PACKED: %zu values cannot fit in %zu bytes",
                              count, n);
    int64_t *tmp = weir_malloc((count ? count : 1) * sizeof *tmp);
    if (!tmp)
        return weir_error_set(err, WEIR_ENOMEM, "cannot allocate %zu values", count);
    uint64_t total;
    size_t u = 0;
    rc = delta_binary_decode(p, n, v->ptype == PQ_INT32 ? 32 : 64, tmp, count, &total, &u, err);
    if (rc < 0)
        goto done;
    if ((rc = reserve_fixed(v, count, err)) < 0)
        goto done;
    if (v->ptype == PQ_INT32) {
        int32_t *dst = (int32_t *)(void *)(v->fixed.data + v->fixed.len);
        for (size_t i = 0; i < count; i++)
            dst[i] = (int32_t)(uint32_t)tmp[i];
        v->fixed.len += count * 4;
    } else {
        memcpy(v->fixed.data + v->fixed.len, tmp, count * 8);
        v->fixed.len += count * 8;
    }
    v->count += count;
    if (used)
        *used = u;
done:
    weir_free(tmp);
    return rc;
}

/* Lengths (DELTA_BINARY_PACKED) of `count` values; *used = bytes used. */
static int read_lengths(const uint8_t *p, size_t n, size_t count, int64_t **lens_out, size_t *used,
                        struct weir_error *err)
{
    if (count > n * 64 + 1)
        return weir_error_set(err, WEIR_ECORRUPT, "%zu lengths cannot fit in %zu bytes", count, n);
    int64_t *lens = weir_malloc((count ? count : 1) * sizeof *lens);
    if (!lens)
        return weir_error_set(err, WEIR_ENOMEM, "cannot allocate %zu lengths", count);
    uint64_t total;
    int rc = delta_binary_decode(p, n, 32, lens, count, &total, used, err);
    if (rc < 0) {
        weir_free(lens);
        return rc;
    }
    for (size_t i = 0; i < count; i++) {
        lens[i] = (int32_t)(uint32_t)lens[i];
        if (lens[i] < 0) {
            long long bad = (long long)lens[i];
            weir_free(lens);
            return weir_error_set(err, WEIR_ECORRUPT, "negative length %lld", bad);
        }
    }
    *lens_out = lens;
    return 0;
}

int pq_decode_delta_length(struct pq_values *v, const uint8_t *p, size_t n, size_t count,
                           struct weir_error *err)
{
    int64_t *lens = NULL;
    size_t used = 0;
    int rc;
    if (v->ptype != PQ_BYTE_ARRAY)
        return weir_error_set(err, WEIR_ECORRUPT, "DELTA_LENGTH_BYTE_ARRAY used on a non-byte-array column");
    if ((rc = read_lengths(p, n, count, &lens, &used, err)) < 0)
        return rc;
    size_t pos = used, total = 0;
    for (size_t i = 0; i < count; i++) {
        if ((uint64_t)lens[i] > n - pos - total) {
            rc = weir_error_set(err, WEIR_ECORRUPT, "DELTA_LENGTH_BYTE_ARRAY value %zu past the page end", i);
            goto done;
        }
        total += (size_t)lens[i];
    }
    if ((rc = reserve_fixed(v, count, err)) < 0)
        goto done;
    if (weir_buf_reserve(&v->bytes, total) != 0) {
        rc = weir_error_set(err, WEIR_ENOMEM, "cannot allocate %zu bytes", total);
        goto done;
    }
    for (size_t i = 0; i < count; i++) {
        push_bytes(v, p + pos, (size_t)lens[i]);
        pos += (size_t)lens[i];
    }
done:
    weir_free(lens);
    return rc;
}

int pq_decode_delta_byte_array(struct pq_values *v, const uint8_t *p, size_t n, size_t count,
                               struct weir_error *err)
{
    int64_t *prefix = NULL, *suffix = NULL;
    size_t u1 = 0, u2 = 0;
    int rc;
    uint8_t *prev = NULL;
    size_t prev_len = 0;
    struct weir_buf cur;
    weir_buf_init(&cur);
    if (v->ptype != PQ_BYTE_ARRAY && v->ptype != PQ_FIXED_LEN_BYTE_ARRAY)
        return weir_error_set(err, WEIR_ECORRUPT, "DELTA_BYTE_ARRAY used on a non-byte-array column");
    if ((rc = read_lengths(p, n, count, &prefix, &u1, err)) < 0)
        return rc;
    if ((rc = read_lengths(p + u1, n - u1, count, &suffix, &u2, err)) < 0)
        goto done;
    size_t pos = u1 + u2;
    if ((rc = reserve_fixed(v, count, err)) < 0)
        goto done;
    for (size_t i = 0; i < count; i++) {
        size_t pl = (size_t)prefix[i], sl = (size_t)suffix[i];
        if (pl > prev_len) {
            rc = weir_error_set(err, WEIR_ECORRUPT,
                                "DELTA_BYTE_ARRAY value %zu: prefix %zu longer than previous value", i, pl);
            goto done;
        }
        if (sl > n - pos) {
            rc = weir_error_set(err, WEIR_ECORRUPT, "DELTA_BYTE_ARRAY value %zu past the page end", i);
            goto done;
        }
        cur.len = 0;
        if (weir_buf_append(&cur, prev, pl) != 0 || weir_buf_append(&cur, p + pos, sl) != 0) {
            rc = weir_error_set(err, WEIR_ENOMEM, "cannot allocate %zu bytes", pl + sl);
            goto done;
        }
        pos += sl;
        if (v->ptype == PQ_FIXED_LEN_BYTE_ARRAY) {
            if (cur.len != (size_t)v->width) {
                rc = weir_error_set(err, WEIR_ECORRUPT,
                                    "DELTA_BYTE_ARRAY value %zu has %zu bytes, column width is %d", i,
                                    cur.len, v->width);
                goto done;
            }
            memcpy(v->fixed.data + v->fixed.len, cur.data, cur.len);
            v->fixed.len += cur.len;
            v->count++;
        } else if (push_bytes(v, cur.data, cur.len) != 0) {
            rc = weir_error_set(err, WEIR_ENOMEM, "cannot allocate %zu bytes", cur.len);
            goto done;
        }
        /* The previous value now lives in v; point at our scratch copy. */
        uint8_t *tmp = weir_realloc(prev, cur.len ? cur.len : 1);
        if (!tmp) {
            rc = weir_error_set(err, WEIR_ENOMEM, "cannot allocate %zu bytes", cur.len);
            goto done;
        }
        prev = tmp;
        if (cur.len)
            memcpy(prev, cur.data, cur.len);
        prev_len = cur.len;
    }
done:
    weir_free(prev);
    weir_buf_free(&cur);
    weir_free(prefix);
    weir_free(suffix);
    return rc;
}

int pq_decode_byte_stream_split(struct pq_values *v, const uint8_t *p, size_t n, size_t count,
                                struct weir_error *err)
{
    int rc;
    size_t w = (size_t)v->width;
    if (v->ptype == PQ_BYTE_ARRAY || v->ptype == PQ_BOOLEAN || w == 0)
        return weir_error_set(err, WEIR_ECORRUPT, "BYTE_STREAM_SPLIT used on a variable-width column");
    if (count > n / w)
        return weir_error_set(err, WEIR_ECORRUPT, "BYTE_STREAM_SPLIT needs %zu x %zu bytes, page has %zu",
                              count, w, n);
    if ((rc = reserve_fixed(v, count, err)) < 0)
        return rc;
    /* Stream k holds byte k of every value; the page holds n / w values. */
    size_t stride = n / w;
    uint8_t *dst = v->fixed.data + v->fixed.len;
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < w; k++)
            dst[i * w + k] = p[k * stride + i];
    v->fixed.len += count * w;
    v->count += count;
    return 0;
}
