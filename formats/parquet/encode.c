/* formats/parquet/encode.c - RLE/bit-packed hybrid, boolean bit-packing and
 * the column-chunk dictionary.
 *
 * Owns: nothing global. Each encoder reserves its worst-case output size in
 * the caller's weir_buf first and then writes through a raw pointer, so a
 * failed call leaves the buffer as it was and the inner loops have no
 * capacity checks. The dictionary keeps its entries in PLAIN form in one
 * buffer plus an open-addressing table of (hash, index) slots with load
 * factor <= 1/2; entries are never removed except by pq_dict_reset.
 * Threading: none; callers own their buffers. */
#include "formats/parquet/encode.h"

#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/util.h"

int pq_enc_bit_width(uint64_t max)
{
    int w = 0;
    while (max) {
        w++;
        max >>= 1;
    }
    return w;
}

/* Worst case: every group of 8 bit-packed (w bytes) plus one header byte
 * per 63 groups, or RLE runs (<= 10 + 4 bytes per >= 8 values). */
static size_t rle_bound(size_t n, int w)
{
    return (n / 8 + 2) * ((size_t)w + 16) + 16;
}

/* Bit-packs 8 values of w bits each, least significant bits first: w bytes. */
static inline uint8_t *pack8(uint8_t *o, const uint64_t g[8], int w)
{
    uint64_t acc = 0;
    int bits = 0;
    for (int k = 0; k < 8; k++) {
        acc |= g[k] << bits;
        bits += w;
        while (bits >= 8) {
            *o++ = (uint8_t)acc;
            acc >>= 8;
            bits -= 8;
        }
    }
    return o;
}

/* One template for both level (u16) and index (u32) inputs; a last group
 * shorter than 8 is padded with zeros. */
#define PQ_RLE_ENCODE(T)                                               \
    {                                                                  \
        if (w < 1 || w > 32)                                           \
            return WEIR_EINVAL;                                        \
        int rc = weir_buf_reserve(out, rle_bound(n, w));               \
        if (rc)                                                        \
            return rc;                                                 \
        uint8_t *o = out->data + out->len;                             \
        const int vbytes = (w + 7) / 8;                                \
        size_t i = 0;                                                  \
        while (i < n) {                                                \
            T x = v[i];                                                \
            size_t j = i + 1;                                          \
            while (j < n && v[j] == x)                                 \
                j++;                                                   \
            if (j - i >= 8) {                                          \
                o += weir_uvarint_put(o, (uint64_t)(j - i) << 1);      \
                uint32_t xv = (uint32_t)x;                             \
                for (int k = 0; k < vbytes; k++)                       \
                    *o++ = (uint8_t)(xv >> (8 * k));                   \
                i = j;                                                 \
                continue;                                              \
            }                                                          \
            uint8_t *hdr = o++;                                        \
            unsigned groups = 0;                                       \
            while (i < n && groups < 63) {                             \
                if (groups > 0 && i + 8 <= n) {                        \
                    T y = v[i];                                        \
                    int same = 1;                                      \
                    for (int k = 1; k < 8; k++)                        \
                        same &= v[i + k] == y;                         \
                    if (same)                                          \
                        break;                                         \
                }                                                      \
                uint64_t g[8];                                         \
                for (int k = 0; k < 8; k++)                            \
                    g[k] = i + (size_t)k < n ? (uint64_t)v[i + k] : 0; \
                o = pack8(o, g, w);                                    \
                i = i + 8 <= n ? i + 8 : n;                            \
                groups++;                                              \
            }                                                          \
            *hdr = (uint8_t)(groups << 1 | 1);                         \
        }                                                              \
        out->len = (size_t)(o - out->data);                            \
        return 0;                                                      \
    }

int pq_rle_encode_u16(const uint16_t *v, size_t n, int w, struct weir_buf *out) PQ_RLE_ENCODE(uint16_t)

    int pq_rle_encode_u32(const uint32_t *v, size_t n, int w, struct weir_buf *out) PQ_RLE_ENCODE(uint32_t)

        int pq_levels_encode(const uint16_t *v, size_t n, int w, struct weir_buf *out)
{
    size_t start = out->len;
    uint8_t zero[4] = {0, 0, 0, 0};
    int rc = weir_buf_append(out, zero, 4);
    if (rc)
        return rc;
    rc = pq_rle_encode_u16(v, n, w, out);
    if (rc) {
        out->len = start;
        return rc;
    }
    uint32_t len = (uint32_t)(out->len - start - 4);
    for (int k = 0; k < 4; k++)
        out->data[start + (size_t)k] = (uint8_t)(len >> (8 * k));
    return 0;
}

int pq_bool_pack(const uint8_t *v, size_t n, struct weir_buf *out)
{
    int rc = weir_buf_reserve(out, (n + 7) / 8);
    if (rc)
        return rc;
    uint8_t *o = out->data + out->len;
    size_t full = n / 8;
    for (size_t g = 0; g < full; g++) {
        const uint8_t *p = v + g * 8;
        *o++ = (uint8_t)((p[0] & 1) | (p[1] & 1) << 1 | (p[2] & 1) << 2 | (p[3] & 1) << 3 | (p[4] & 1) << 4 |
                         (p[5] & 1) << 5 | (p[6] & 1) << 6 | (p[7] & 1) << 7);
    }
    if (n % 8) {
        uint8_t b = 0;
        for (size_t k = 0; k < n % 8; k++)
            b |= (uint8_t)((v[full * 8 + k] & 1) << k);
        *o++ = b;
    }
    out->len = (size_t)(o - out->data);
    return 0;
}

/* ---- dictionary ---------------------------------------------------------- */

static inline uint32_t mix64(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15ULL;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 32;
    return (uint32_t)x;
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

/* Equality of two byte strings of the same length n; short strings are
 * compared with (overlapping) word loads instead of a memcmp call. */
static inline bool bytes_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n >= 8 && n <= 16) {
        return load64(a) == load64(b) && load64(a + n - 8) == load64(b + n - 8);
    }
    if (n >= 4 && n < 8) {
        uint32_t x, y, u, v;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        memcpy(&u, a + n - 4, 4);
        memcpy(&v, b + n - 4, 4);
        return x == y && u == v;
    }
    if (n < 4) {
        for (size_t i = 0; i < n; i++)
            if (a[i] != b[i])
                return false;
        return true;
    }
    return memcmp(a, b, n) == 0;
}

static inline uint32_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0x243f6a8885a308d3ULL ^ (n * 0x9e3779b97f4a7c15ULL);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        h ^= load64(p + i);
        h *= 0xff51afd7ed558ccdULL;
        h = (h << 29) | (h >> 35);
    }
    uint64_t t = 0;
    for (size_t k = 0; i + k < n; k++)
        t |= (uint64_t)p[i + k] << (8 * k);
    h ^= t;
    return mix64(h);
}

void pq_dict_init(struct pq_dict *d, int width)
{
    memset(d, 0, sizeof *d);
    d->width = width;
    weir_buf_init(&d->values);
}

void pq_dict_reset(struct pq_dict *d)
{
    d->count = 0;
    d->values.len = 0;
    if (d->slots)
        memset(d->slots, 0, d->nslots * sizeof *d->slots);
}

void pq_dict_free(struct pq_dict *d)
{
    weir_buf_free(&d->values);
    weir_free(d->entry_off);
    weir_free(d->entry_hash);
    weir_free(d->slots);
    int width = d->width;
    pq_dict_init(d, width);
}

/* Make room for `extra` more entries: entry arrays and a table that stays
 * at most half full. */
static int dict_grow(struct pq_dict *d, size_t extra)
{
    size_t need = (size_t)d->count + extra;
    if (need >= UINT32_MAX / 4)
        return WEIR_ERANGE;
    if (need > d->entry_cap) {
        size_t cap = d->entry_cap ? d->entry_cap : 1024;
        while (cap < need)
            cap *= 2;
        uint32_t *h = weir_realloc(d->entry_hash, cap * sizeof *h);
        if (!h)
            return WEIR_ENOMEM;
        d->entry_hash = h;
        if (d->width == 0) {
            uint32_t *o = weir_realloc(d->entry_off, cap * sizeof *o);
            if (!o)
                return WEIR_ENOMEM;
            d->entry_off = o;
        }
        d->entry_cap = (uint32_t)cap;
    }
    if (need * 2 > d->nslots) {
        size_t ns = d->nslots ? d->nslots : 2048;
        while (need * 2 > ns)
            ns *= 2;
        /* written before read: calloc's untouched pages would map the zero
         * page first and fault again (copy-on-write) on the first insert */
        uint64_t *s = weir_malloc(ns * sizeof *s);
        if (!s)
            return WEIR_ENOMEM;
        memset(s, 0, ns * sizeof *s);
        size_t mask = ns - 1;
        for (uint32_t i = 0; i < d->count; i++) {
            uint32_t h = d->entry_hash[i];
            size_t j = h & mask;
            while (s[j])
                j = (j + 1) & mask;
            s[j] = (uint64_t)h << 32 | (uint64_t)(i + 1);
        }
        weir_free(d->slots);
        d->slots = s;
        d->nslots = ns;
    }
    return 0;
}

/* Grows for a whole call up front: at most n new entries. */
#define DICT_FIXED_LOOP(T)                                             \
    for (size_t k = 0; k < n; k++) {                                   \
        T x;                                                           \
        memcpy(&x, vals + k * sizeof(T), sizeof(T));                   \
        uint32_t h = mix64((uint64_t)x);                               \
        size_t j = h & mask;                                           \
        for (;;) {                                                     \
            uint64_t s = slots[j];                                     \
            if (!s) {                                                  \
                uint32_t idx = d->count++;                             \
                memcpy(base + (size_t)idx * sizeof(T), &x, sizeof(T)); \
                d->entry_hash[idx] = h;                                \
                slots[j] = (uint64_t)h << 32 | (uint64_t)(idx + 1);    \
                out[k] = idx;                                          \
                break;                                                 \
            }                                                          \
            if ((uint32_t)(s >> 32) == h) {                            \
                uint32_t idx = (uint32_t)s - 1;                        \
                T y;                                                   \
                memcpy(&y, base + (size_t)idx * sizeof(T), sizeof(T)); \
                if (y == x) {                                          \
                    out[k] = idx;                                      \
                    break;                                             \
                }                                                      \
            }                                                          \
            j = (j + 1) & mask;                                        \
        }                                                              \
    }

int pq_dict_put_fixed(struct pq_dict *d, const uint8_t *vals, size_t n, uint32_t *out)
{
    if (d->width <= 0)
        return WEIR_EINVAL;
    size_t wd = (size_t)d->width;
    int rc = dict_grow(d, n);
    if (rc)
        return rc;
    rc = weir_buf_reserve(&d->values, n * wd);
    if (rc)
        return rc;
    uint8_t *base = d->values.data;
    uint64_t *slots = d->slots;
    size_t mask = d->nslots - 1;
    if (wd == 8) {
        DICT_FIXED_LOOP(uint64_t)
    } else if (wd == 4) {
        DICT_FIXED_LOOP(uint32_t)
    } else {
        for (size_t k = 0; k < n; k++) {
            const uint8_t *x = vals + k * wd;
            uint32_t h = hash_bytes(x, wd);
            size_t j = h & mask;
            for (;;) {
                uint64_t s = slots[j];
                if (!s) {
                    uint32_t idx = d->count++;
                    memcpy(base + (size_t)idx * wd, x, wd);
                    d->entry_hash[idx] = h;
                    slots[j] = (uint64_t)h << 32 | (uint64_t)(idx + 1);
                    out[k] = idx;
                    break;
                }
                if ((uint32_t)(s >> 32) == h) {
                    uint32_t idx = (uint32_t)s - 1;
                    if (bytes_eq(base + (size_t)idx * wd, x, wd)) {
                        out[k] = idx;
                        break;
                    }
                }
                j = (j + 1) & mask;
            }
        }
    }
    d->values.len = (size_t)d->count * wd;
    return 0;
}

int pq_dict_put_bytes(struct pq_dict *d, const int64_t *offs, const uint8_t *bytes, const uint32_t *vidx,
                      size_t base, size_t n, uint32_t *out)
{
    if (d->width != 0)
        return WEIR_EINVAL;
    int rc = dict_grow(d, n);
    if (rc)
        return rc;
    uint64_t *slots = d->slots;
    size_t mask = d->nslots - 1;
    for (size_t k = 0; k < n; k++) {
        size_t i = vidx ? vidx[k] : base + k;
        const uint8_t *x = bytes + offs[i];
        size_t len = (size_t)(offs[i + 1] - offs[i]);
        uint32_t h = hash_bytes(x, len);
        size_t j = h & mask;
        for (;;) {
            uint64_t s = slots[j];
            if (!s) {
                if (len > UINT32_MAX - 4 || d->values.len + len + 4 > UINT32_MAX)
                    return WEIR_ERANGE;
                rc = weir_buf_reserve(&d->values, len + 4);
                if (rc)
                    return rc;
                uint32_t idx = d->count++;
                uint8_t *p = d->values.data + d->values.len;
                d->entry_off[idx] = (uint32_t)d->values.len;
                p[0] = (uint8_t)len;
                p[1] = (uint8_t)(len >> 8);
                p[2] = (uint8_t)(len >> 16);
                p[3] = (uint8_t)(len >> 24);
                if (len)
                    memcpy(p + 4, x, len);
                d->values.len += len + 4;
                d->entry_hash[idx] = h;
                slots[j] = (uint64_t)h << 32 | (uint64_t)(idx + 1);
                out[k] = idx;
                break;
            }
            if ((uint32_t)(s >> 32) == h) {
                uint32_t idx = (uint32_t)s - 1;
                uint32_t elen;
                const uint8_t *e = pq_dict_entry(d, idx, &elen);
                if (elen == len && bytes_eq(e, x, len)) {
                    out[k] = idx;
                    break;
                }
            }
            j = (j + 1) & mask;
        }
    }
    return 0;
}
