/* core/keymap.c - composite row keys and the byte-key hash map (see
 * keymap.h). */
#include "core/keymap.h"

#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/hll.h"

#define SEED 0x5eed

/* Integer kinds are stored big-endian with the sign bit flipped, so keys
 * of one integer column sort like the numbers (and ascending ids make
 * ascending keys, which RocksDB inserts fastest). */
static bool is_int(enum weir_type_kind k)
{
    return k == WEIR_TYPE_BYTE || k == WEIR_TYPE_SHORT || k == WEIR_TYPE_INTEGER || k == WEIR_TYPE_DATE ||
           k == WEIR_TYPE_LONG || k == WEIR_TYPE_TIMESTAMP || k == WEIR_TYPE_TIMESTAMP_NTZ;
}

static int64_t int_at(const struct weir_column *c, size_t r, size_t w)
{
    const uint8_t *p = (const uint8_t *)c->data + r * w;
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    switch (w) {
    case 1:
        memcpy(&i8, p, 1);
        return i8;
    case 2:
        memcpy(&i16, p, 2);
        return i16;
    case 4:
        memcpy(&i32, p, 4);
        return i32;
    default:
        memcpy(&i64, p, 8);
        return i64;
    }
}

int weir_key_append(struct weir_buf *b, const struct weir_column *c, size_t r)
{
    if (!weir_column_is_valid(c, r))
        return weir_buf_append_byte(b, 0);
    int rc = weir_buf_append_byte(b, 1);
    size_t w = weir_type_value_width(c->type);
    if (rc != 0)
        return rc;
    if (w > 0 && w <= 8 && is_int(c->type->kind)) {
        uint64_t u = (uint64_t)int_at(c, r, w) ^ (UINT64_C(1) << (8 * w - 1));
        uint8_t be[8];
        for (size_t i = 0; i < w; i++)
            be[i] = (uint8_t)(u >> (8 * (w - 1 - i)));
        return weir_buf_append(b, be, w);
    }
    if (w > 0)
        return weir_buf_append(b, (const uint8_t *)c->data + r * w, w);
    size_t n;
    const uint8_t *p = weir_column_bytes(c, r, &n);
    uint32_t n32 = (uint32_t)n;
    if ((rc = weir_buf_append(b, &n32, 4)) != 0)
        return rc;
    return weir_buf_append(b, p, n);
}

int weir_key_read(const uint8_t **p, const uint8_t *end, struct weir_column *c)
{
    if (*p >= end)
        return WEIR_ECORRUPT;
    if (*(*p)++ == 0)
        return weir_column_append_null(c);
    size_t w = weir_type_value_width(c->type);
    if (w > 0) {
        if ((size_t)(end - *p) < w)
            return WEIR_ECORRUPT;
        const uint8_t *v = *p;
        *p += w;
        if (w <= 8 && is_int(c->type->kind)) {
            uint64_t u = 0;
            for (size_t i = 0; i < w; i++)
                u = u << 8 | v[i];
            u ^= UINT64_C(1) << (8 * w - 1);
            if (w < 8 && (u >> (8 * w - 1)) & 1) /* sign-extend */
                u |= ~UINT64_C(0) << (8 * w);
            int64_t x = (int64_t)u;
            switch (w) {
            case 1:
                return weir_column_append_i8(c, (int8_t)x);
            case 2:
                return weir_column_append_i16(c, (int16_t)x);
            case 4:
                return weir_column_append_i32(c, (int32_t)x);
            default:
                return weir_column_append_i64(c, x);
            }
        }
        /* the other fixed-width kinds: boolean, float, double, decimal */
        switch (c->type->kind) {
        case WEIR_TYPE_BOOLEAN:
            return weir_column_append_bool(c, *v != 0);
        case WEIR_TYPE_FLOAT: {
            float x;
            memcpy(&x, v, 4);
            return weir_column_append_f32(c, x);
        }
        case WEIR_TYPE_DOUBLE: {
            double x;
            memcpy(&x, v, 8);
            return weir_column_append_f64(c, x);
        }
        default: {
            weir_i128 x;
            memcpy(&x, v, sizeof x);
            return weir_column_append_i128(c, x);
        }
        }
    }
    uint32_t n;
    if (end - *p < 4)
        return WEIR_ECORRUPT;
    memcpy(&n, *p, 4);
    *p += 4;
    if ((size_t)(end - *p) < n)
        return WEIR_ECORRUPT;
    const uint8_t *v = *p;
    *p += n;
    return weir_column_append_bytes(c, v, n);
}

void weir_keymap_reset(struct weir_keymap *m)
{
    m->arena.len = 0;
    m->n = 0;
    if (m->slots)
        memset(m->slots, 0, m->nslots * sizeof *m->slots);
}

void weir_keymap_free(struct weir_keymap *m)
{
    weir_buf_free(&m->arena);
    weir_free(m->off);
    weir_free(m->len);
    weir_free(m->slots);
    memset(m, 0, sizeof *m);
}

static int keymap_grow(struct weir_keymap *m)
{
    if (m->n + 1 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        uint32_t *o = weir_realloc(m->off, nc * sizeof *o);
        if (o)
            m->off = o;
        uint32_t *l = weir_realloc(m->len, nc * sizeof *l);
        if (l)
            m->len = l;
        if (!o || !l)
            return WEIR_ENOMEM;
        m->cap = nc;
    }
    if ((m->n + 1) * 2 > m->nslots) {
        size_t ns = m->nslots ? m->nslots * 2 : 2048;
        uint64_t *s = weir_calloc(ns, sizeof *s);
        if (!s)
            return WEIR_ENOMEM;
        for (size_t i = 0; i < m->n; i++) {
            uint64_t h = weir_hash64(m->arena.data + m->off[i], m->len[i], SEED);
            size_t j = (h >> 32) & (ns - 1);
            while (s[j])
                j = (j + 1) & (ns - 1);
            s[j] = h << 32 | (i + 1);
        }
        weir_free(m->slots);
        m->slots = s;
        m->nslots = ns;
    }
    return 0;
}

/* The slot of key k[0..n) with hash h: its id + 1 in *id1, or the empty
 * slot where it would go (*id1 0). */
static size_t keymap_probe(const struct weir_keymap *m, const uint8_t *k, size_t n, uint64_t h, size_t *id1)
{
    size_t j = (h >> 32) & (m->nslots - 1);
    for (uint64_t s; (s = m->slots[j]) != 0; j = (j + 1) & (m->nslots - 1)) {
        size_t i = (uint32_t)s - 1;
        if (s >> 32 == (h & 0xffffffffu) && m->len[i] == n && memcmp(m->arena.data + m->off[i], k, n) == 0) {
            *id1 = i + 1;
            return j;
        }
    }
    *id1 = 0;
    return j;
}

uint64_t weir_keymap_hash(const uint8_t *k, size_t n)
{
    return weir_hash64(k, n, SEED);
}

void weir_keymap_prefetch(const struct weir_keymap *m, uint64_t h)
{
    if (m->nslots)
        __builtin_prefetch(&m->slots[(h >> 32) & (m->nslots - 1)]);
}

/* The id of key k[0..n): existing (*added false) or new. */
int weir_keymap_put(struct weir_keymap *m, const uint8_t *k, size_t n, size_t *id, bool *added)
{
    return weir_keymap_put_hashed(m, k, n, weir_hash64(k, n, SEED), id, added);
}

int weir_keymap_put_hashed(struct weir_keymap *m, const uint8_t *k, size_t n, uint64_t h, size_t *id,
                           bool *added)
{
    int rc = keymap_grow(m);
    if (rc)
        return rc;
    size_t id1, j = keymap_probe(m, k, n, h, &id1);
    if (id1) {
        *id = id1 - 1;
        *added = false;
        return 0;
    }
    size_t at = m->arena.len;
    if (at + n > UINT32_MAX)
        return WEIR_ENOMEM; /* past what the offsets address */
    if ((rc = weir_buf_append(&m->arena, k, n)) != 0)
        return rc;
    m->off[m->n] = (uint32_t)at;
    m->len[m->n] = (uint32_t)n;
    m->slots[j] = h << 32 | (m->n + 1);
    *id = m->n++;
    *added = true;
    return 0;
}

bool weir_keymap_find(const struct weir_keymap *m, const uint8_t *k, size_t n, size_t *id)
{
    if (!m->nslots)
        return false;
    size_t id1;
    keymap_probe(m, k, n, weir_hash64(k, n, SEED), &id1);
    if (id1)
        *id = id1 - 1;
    return id1 != 0;
}
