/* formats/parquet/thrift.c - Thrift compact protocol encoder and decoder.
 *
 * Owns nothing on the heap: the encoder appends to the caller's weir_buf, the
 * decoder reads the caller's bytes. Invariants: the decoder's p never passes
 * end; every count read from the input is bounded by the bytes remaining
 * before anything is looped over or allocated; struct nesting and skip
 * recursion stop at PQ_THRIFT_MAX_DEPTH. The encoder keeps its first error
 * (sticky status). One thread per encoder/decoder. */
#include "formats/parquet/thrift.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- encoder */

void pq_tenc_init(struct pq_tenc *e, struct weir_buf *out)
{
    memset(e, 0, sizeof *e);
    e->out = out;
}

int pq_tenc_status(const struct pq_tenc *e)
{
    return e->status;
}

static int tenc_put(struct pq_tenc *e, const void *p, size_t n)
{
    if (e->status)
        return e->status;
    int rc = weir_buf_append(e->out, p, n);
    if (rc)
        e->status = rc;
    return e->status;
}

static int tenc_byte(struct pq_tenc *e, uint8_t b)
{
    return tenc_put(e, &b, 1);
}

int pq_tenc_uvarint(struct pq_tenc *e, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    return tenc_put(e, tmp, n);
}

static uint64_t zigzag64(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static uint32_t zigzag32(int32_t v)
{
    return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31);
}

static int tenc_header(struct pq_tenc *e, int16_t id, uint8_t type)
{
    if (e->status)
        return e->status;
    int delta = (int)id - (int)e->last;
    if (delta > 0 && delta <= 15) {
        tenc_byte(e, (uint8_t)((delta << 4) | type));
    } else {
        tenc_byte(e, type);
        pq_tenc_uvarint(e, zigzag32(id));
    }
    if (!e->status)
        e->last = id;
    return e->status;
}

int pq_tenc_field(struct pq_tenc *e, int16_t id, enum pq_tc_type type)
{
    if (!e->status && (type == PQ_TC_STOP || type == PQ_TC_TRUE || type == PQ_TC_FALSE || type > PQ_TC_UUID))
        e->status = WEIR_EINVAL;
    return tenc_header(e, id, (uint8_t)type);
}

int pq_tenc_field_bool(struct pq_tenc *e, int16_t id, bool v)
{
    return tenc_header(e, id, v ? PQ_TC_TRUE : PQ_TC_FALSE);
}

int pq_tenc_stop(struct pq_tenc *e)
{
    return tenc_byte(e, PQ_TC_STOP);
}

int pq_tenc_bool(struct pq_tenc *e, bool v)
{
    return tenc_byte(e, v ? PQ_TC_TRUE : PQ_TC_FALSE);
}
int pq_tenc_byte(struct pq_tenc *e, int8_t v)
{
    return tenc_byte(e, (uint8_t)v);
}
int pq_tenc_i16(struct pq_tenc *e, int16_t v)
{
    return pq_tenc_uvarint(e, zigzag32(v));
}
int pq_tenc_i32(struct pq_tenc *e, int32_t v)
{
    return pq_tenc_uvarint(e, zigzag32(v));
}
int pq_tenc_i64(struct pq_tenc *e, int64_t v)
{
    return pq_tenc_uvarint(e, zigzag64(v));
}

int pq_tenc_double(struct pq_tenc *e, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint8_t tmp[8];
    for (int i = 0; i < 8; i++)
        tmp[i] = (uint8_t)(bits >> (8 * i)); /* little-endian on the wire */
    return tenc_put(e, tmp, 8);
}

int pq_tenc_binary(struct pq_tenc *e, const void *p, size_t n)
{
    if (!e->status && n > INT32_MAX)
        e->status = WEIR_ERANGE;
    pq_tenc_uvarint(e, n);
    if (n)
        tenc_put(e, p, n);
    return e->status;
}

static int tenc_collection(struct pq_tenc *e, enum pq_tc_type elem, uint32_t n)
{
    if (!e->status && (elem == PQ_TC_STOP || elem > PQ_TC_UUID || n > INT32_MAX))
        e->status = WEIR_EINVAL;
    if (elem == PQ_TC_FALSE)
        elem = PQ_TC_TRUE;
    if (n < 15)
        return tenc_byte(e, (uint8_t)((n << 4) | elem));
    tenc_byte(e, (uint8_t)(0xF0 | elem));
    return pq_tenc_uvarint(e, n);
}

int pq_tenc_list_begin(struct pq_tenc *e, enum pq_tc_type elem, uint32_t n)
{
    return tenc_collection(e, elem, n);
}

int pq_tenc_set_begin(struct pq_tenc *e, enum pq_tc_type elem, uint32_t n)
{
    return tenc_collection(e, elem, n);
}

int pq_tenc_map_begin(struct pq_tenc *e, enum pq_tc_type key, enum pq_tc_type val, uint32_t n)
{
    if (!e->status &&
        (key == PQ_TC_STOP || key > PQ_TC_UUID || val == PQ_TC_STOP || val > PQ_TC_UUID || n > INT32_MAX))
        e->status = WEIR_EINVAL;
    pq_tenc_uvarint(e, n);
    if (n == 0)
        return e->status;
    if (key == PQ_TC_FALSE)
        key = PQ_TC_TRUE;
    if (val == PQ_TC_FALSE)
        val = PQ_TC_TRUE;
    return tenc_byte(e, (uint8_t)((key << 4) | val));
}

int pq_tenc_struct_begin(struct pq_tenc *e)
{
    if (e->status)
        return e->status;
    if (e->depth >= PQ_THRIFT_MAX_DEPTH)
        return e->status = WEIR_ERANGE;
    e->stack[e->depth++] = e->last;
    e->last = 0;
    return 0;
}

int pq_tenc_struct_end(struct pq_tenc *e)
{
    if (e->status)
        return e->status;
    if (e->depth <= 0)
        return e->status = WEIR_ESTATE;
    if (tenc_byte(e, PQ_TC_STOP))
        return e->status;
    e->last = e->stack[--e->depth];
    return 0;
}

int pq_tenc_field_i32(struct pq_tenc *e, int16_t id, int32_t v)
{
    pq_tenc_field(e, id, PQ_TC_I32);
    return pq_tenc_i32(e, v);
}

int pq_tenc_field_i64(struct pq_tenc *e, int16_t id, int64_t v)
{
    pq_tenc_field(e, id, PQ_TC_I64);
    return pq_tenc_i64(e, v);
}

int pq_tenc_field_binary(struct pq_tenc *e, int16_t id, const void *p, size_t n)
{
    pq_tenc_field(e, id, PQ_TC_BINARY);
    return pq_tenc_binary(e, p, n);
}

/* ---------------------------------------------------------------- decoder */

void pq_tdec_init(struct pq_tdec *d, const uint8_t *p, size_t n, struct weir_error *err)
{
    memset(d, 0, sizeof *d);
    d->start = d->p = p;
    d->end = p + n;
    d->err = err;
    d->pending_bool = -1;
}

int pq_tdec_fail(struct pq_tdec *d, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return weir_error_set(d->err, WEIR_ECORRUPT, "%s at byte %zu", msg, pq_tdec_offset(d));
}

int pq_tdec_need(struct pq_tdec *d, uint64_t count, uint64_t min_bytes, const char *what)
{
    /* count <= 2^32 and min_bytes small: no overflow in practice, but guard. */
    if (min_bytes && count > UINT64_MAX / min_bytes)
        return pq_tdec_fail(d, "%s: %llu elements cannot fit", what, (unsigned long long)count);
    if (count * min_bytes > pq_tdec_remaining(d))
        return pq_tdec_fail(d, "%s: %llu elements need at least %llu bytes, %zu remain", what,
                            (unsigned long long)count, (unsigned long long)(count * min_bytes),
                            pq_tdec_remaining(d));
    return 0;
}

int pq_tdec_uvarint(struct pq_tdec *d, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (d->p >= d->end)
            return pq_tdec_fail(d, "truncated varint");
        uint8_t b = *d->p++;
        if (shift == 63 && (b & 0x7E))
            return pq_tdec_fail(d, "varint overflows 64 bits");
        r |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return pq_tdec_fail(d, "varint longer than 10 bytes");
}

static int64_t unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* A zigzag varint whose unsigned form is at most `max` (the range of the
 * `what` type it encodes). */
static int tdec_zigzag(struct pq_tdec *d, uint64_t max, const char *what, int64_t *v)
{
    uint64_t u = 0;
    int rc = pq_tdec_uvarint(d, &u);
    if (rc)
        return rc;
    if (u > max)
        return pq_tdec_fail(d, "%s varint out of range", what);
    *v = unzigzag(u);
    return 0;
}

int pq_tdec_i64(struct pq_tdec *d, int64_t *v)
{
    return tdec_zigzag(d, UINT64_MAX, "i64", v);
}

int pq_tdec_i32(struct pq_tdec *d, int32_t *v)
{
    int64_t x = 0;
    int rc = tdec_zigzag(d, UINT32_MAX, "i32", &x);
    if (rc == 0)
        *v = (int32_t)x;
    return rc;
}

int pq_tdec_i16(struct pq_tdec *d, int16_t *v)
{
    int64_t x = 0;
    int rc = tdec_zigzag(d, UINT16_MAX, "i16", &x);
    if (rc == 0)
        *v = (int16_t)x;
    return rc;
}

int pq_tdec_byte(struct pq_tdec *d, int8_t *v)
{
    if (d->p >= d->end)
        return pq_tdec_fail(d, "truncated byte");
    *v = (int8_t)*d->p++;
    return 0;
}

int pq_tdec_bool(struct pq_tdec *d, bool *v)
{
    if (d->pending_bool >= 0) {
        *v = d->pending_bool != 0;
        d->pending_bool = -1;
        return 0;
    }
    if (d->p >= d->end)
        return pq_tdec_fail(d, "truncated bool");
    uint8_t b = *d->p;
    if (b != 0 && b != PQ_TC_TRUE && b != PQ_TC_FALSE)
        return pq_tdec_fail(d, "bad bool byte 0x%02x", b);
    d->p++;
    *v = b == PQ_TC_TRUE;
    return 0;
}

int pq_tdec_double(struct pq_tdec *d, double *v)
{
    if (pq_tdec_remaining(d) < 8)
        return pq_tdec_fail(d, "truncated double");
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits |= (uint64_t)d->p[i] << (8 * i);
    d->p += 8;
    memcpy(v, &bits, sizeof *v);
    return 0;
}

int pq_tdec_binary(struct pq_tdec *d, const uint8_t **p, uint32_t *n)
{
    uint64_t len = 0;
    int rc = pq_tdec_uvarint(d, &len);
    if (rc)
        return rc;
    if (len > INT32_MAX || len > pq_tdec_remaining(d))
        return pq_tdec_fail(d, "binary length %llu exceeds the %zu bytes remaining", (unsigned long long)len,
                            pq_tdec_remaining(d));
    *p = d->p;
    *n = (uint32_t)len;
    d->p += len;
    return 0;
}

static bool valid_type(unsigned t)
{
    return t >= PQ_TC_TRUE && t <= PQ_TC_UUID;
}

/* The fewest bytes one element of `t` can occupy. */
static uint64_t min_size(enum pq_tc_type t)
{
    switch (t) {
    case PQ_TC_DOUBLE:
        return 8;
    case PQ_TC_UUID:
        return 16;
    default:
        return 1;
    }
}

int pq_tdec_field(struct pq_tdec *d, int16_t *id, enum pq_tc_type *type)
{
    d->pending_bool = -1;
    if (d->p >= d->end)
        return pq_tdec_fail(d, "truncated struct (no field header or STOP)");
    uint8_t b = *d->p++;
    if (b == PQ_TC_STOP) {
        *id = 0;
        *type = PQ_TC_STOP;
        return 0;
    }
    unsigned t = b & 0x0F, delta = b >> 4;
    if (!valid_type(t))
        return pq_tdec_fail(d, "unknown field type %u", t);
    int fid;
    if (delta) {
        fid = (int)d->last + (int)delta;
        if (fid > INT16_MAX)
            return pq_tdec_fail(d, "field id overflows i16");
    } else {
        int16_t v = 0;
        int rc = pq_tdec_i16(d, &v);
        if (rc)
            return rc;
        fid = v;
    }
    d->last = (int16_t)fid;
    *id = (int16_t)fid;
    *type = (enum pq_tc_type)t;
    if (t == PQ_TC_TRUE || t == PQ_TC_FALSE)
        d->pending_bool = t == PQ_TC_TRUE;
    return 0;
}

int pq_tdec_list_begin(struct pq_tdec *d, enum pq_tc_type *elem, uint32_t *n)
{
    if (d->p >= d->end)
        return pq_tdec_fail(d, "truncated list header");
    uint8_t b = *d->p++;
    unsigned t = b & 0x0F;
    uint64_t count = b >> 4;
    if (!valid_type(t))
        return pq_tdec_fail(d, "unknown list element type %u", t);
    if (count == 15) {
        int rc = pq_tdec_uvarint(d, &count);
        if (rc)
            return rc;
        if (count > INT32_MAX)
            return pq_tdec_fail(d, "list size %llu out of range", (unsigned long long)count);
    }
    if (t == PQ_TC_FALSE)
        t = PQ_TC_TRUE;
    int rc = pq_tdec_need(d, count, min_size((enum pq_tc_type)t), "list");
    if (rc)
        return rc;
    *elem = (enum pq_tc_type)t;
    *n = (uint32_t)count;
    return 0;
}

int pq_tdec_map_begin(struct pq_tdec *d, enum pq_tc_type *key, enum pq_tc_type *val, uint32_t *n)
{
    uint64_t count = 0;
    int rc = pq_tdec_uvarint(d, &count);
    if (rc)
        return rc;
    if (count > INT32_MAX)
        return pq_tdec_fail(d, "map size %llu out of range", (unsigned long long)count);
    if (count == 0) {
        *key = *val = PQ_TC_STOP;
        *n = 0;
        return 0;
    }
    if (d->p >= d->end)
        return pq_tdec_fail(d, "truncated map header");
    uint8_t b = *d->p++;
    unsigned k = b >> 4, v = b & 0x0F;
    if (!valid_type(k) || !valid_type(v))
        return pq_tdec_fail(d, "unknown map key/value types 0x%02x", b);
    if (k == PQ_TC_FALSE)
        k = PQ_TC_TRUE;
    if (v == PQ_TC_FALSE)
        v = PQ_TC_TRUE;
    rc = pq_tdec_need(d, count, min_size((enum pq_tc_type)k) + min_size((enum pq_tc_type)v), "map");
    if (rc)
        return rc;
    *key = (enum pq_tc_type)k;
    *val = (enum pq_tc_type)v;
    *n = (uint32_t)count;
    return 0;
}

int pq_tdec_struct_begin(struct pq_tdec *d)
{
    if (d->depth >= PQ_THRIFT_MAX_DEPTH)
        return pq_tdec_fail(d, "nesting deeper than %d", PQ_THRIFT_MAX_DEPTH);
    d->stack[d->depth++] = d->last;
    d->last = 0;
    d->pending_bool = -1;
    return 0;
}

int pq_tdec_struct_end(struct pq_tdec *d)
{
    if (d->depth <= 0)
        return pq_tdec_fail(d, "struct end without begin");
    d->last = d->stack[--d->depth];
    return 0;
}

int pq_tdec_skip(struct pq_tdec *d, enum pq_tc_type type)
{
    int rc = 0;
    switch (type) {
    case PQ_TC_TRUE:
    case PQ_TC_FALSE: {
        bool b;
        return pq_tdec_bool(d, &b);
    }
    case PQ_TC_BYTE: {
        int8_t v;
        return pq_tdec_byte(d, &v);
    }
    case PQ_TC_I16:
    case PQ_TC_I32:
    case PQ_TC_I64: {
        uint64_t v;
        return pq_tdec_uvarint(d, &v);
    }
    case PQ_TC_DOUBLE: {
        double v;
        return pq_tdec_double(d, &v);
    }
    case PQ_TC_UUID:
        if (pq_tdec_remaining(d) < 16)
            return pq_tdec_fail(d, "truncated uuid");
        d->p += 16;
        return 0;
    case PQ_TC_BINARY: {
        const uint8_t *p;
        uint32_t n;
        return pq_tdec_binary(d, &p, &n);
    }
    case PQ_TC_LIST:
    case PQ_TC_SET: {
        enum pq_tc_type elem;
        uint32_t n;
        if ((rc = pq_tdec_list_begin(d, &elem, &n)))
            return rc;
        /* containers count toward the depth limit like structs */
        if (d->depth >= PQ_THRIFT_MAX_DEPTH)
            return pq_tdec_fail(d, "nesting deeper than %d", PQ_THRIFT_MAX_DEPTH);
        d->depth++;
        for (uint32_t i = 0; i < n && !rc; i++) {
            d->pending_bool = -1;
            rc = pq_tdec_skip(d, elem);
        }
        d->depth--;
        return rc;
    }
    case PQ_TC_MAP: {
        enum pq_tc_type k, v;
        uint32_t n;
        if ((rc = pq_tdec_map_begin(d, &k, &v, &n)))
            return rc;
        if (d->depth >= PQ_THRIFT_MAX_DEPTH)
            return pq_tdec_fail(d, "nesting deeper than %d", PQ_THRIFT_MAX_DEPTH);
        d->depth++;
        for (uint32_t i = 0; i < n && !rc; i++) {
            d->pending_bool = -1;
            rc = pq_tdec_skip(d, k);
            d->pending_bool = -1;
            if (!rc)
                rc = pq_tdec_skip(d, v);
        }
        d->depth--;
        return rc;
    }
    case PQ_TC_STRUCT: {
        if ((rc = pq_tdec_struct_begin(d)))
            return rc;
        for (;;) {
            int16_t id;
            enum pq_tc_type t;
            if ((rc = pq_tdec_field(d, &id, &t)))
                return rc;
            if (t == PQ_TC_STOP)
                break;
            if ((rc = pq_tdec_skip(d, t)))
                return rc;
        }
        return pq_tdec_struct_end(d);
    }
    case PQ_TC_STOP:
    default:
        return pq_tdec_fail(d, "cannot skip value of type %d", (int)type);
    }
}
