/* core/batch.c - the columnar batch: creation, appends, copies, clearing.
 *
 * Owns every buffer of every column (data, offsets, bytes, validity, nested
 * children) and a private clone of the schema. Invariants per column:
 *   - length <= cap; `data` holds cap values of weir_type_value_width bytes;
 *   - offset kinds (string, binary, array, map) always have an `offsets`
 *     array of cap+1 entries, offsets[0] == 0, offsets[length] == bytes_len
 *     (string/binary) or == children[0].length (array/map);
 *   - struct children have exactly `length` rows; map key and value
 *     children have equal length;
 *   - string/binary columns always have a `bytes` buffer (never NULL);
 *   - `validity` is NULL until the first null; from then on it holds
 *     validity_cap bytes and bits 0..length-1 are meaningful;
 *     null_count == number of cleared bits in 0..length-1.
 * Every append either completes or leaves the column (and its children) as
 * it was: buffers are grown before anything is written, and nested appends
 * roll back with column_truncate. Not thread-safe. */
#include "core/batch.h"

#include <string.h>

#include "core/alloc.h"

size_t weir_type_value_width(const struct weir_type *t)
{
    switch (t->kind) {
    case WEIR_TYPE_BOOLEAN:
    case WEIR_TYPE_BYTE:
        return 1;
    case WEIR_TYPE_SHORT:
        return 2;
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_DATE:
    case WEIR_TYPE_FLOAT:
        return 4;
    case WEIR_TYPE_LONG:
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
    case WEIR_TYPE_DOUBLE:
        return 8;
    case WEIR_TYPE_DECIMAL:
        return sizeof(weir_i128);
    default:
        return 0;
    }
}

static bool has_offsets(const struct weir_type *t)
{
    return t->kind == WEIR_TYPE_STRING || t->kind == WEIR_TYPE_BINARY || t->kind == WEIR_TYPE_ARRAY ||
           t->kind == WEIR_TYPE_MAP;
}

/* ------------------------------------------------------------ lifecycle */

static void column_free(struct weir_column *c)
{
    for (size_t i = 0; i < c->nchildren; i++)
        column_free(&c->children[i]);
    weir_free(c->children);
    weir_free(c->validity);
    weir_free(c->data);
    weir_free(c->offsets);
    weir_free(c->bytes);
    memset(c, 0, sizeof *c);
}

static int column_init(struct weir_column *c, const struct weir_type *t)
{
    memset(c, 0, sizeof *c);
    c->type = t;
    if (has_offsets(t)) {
        c->offsets = weir_calloc(1, sizeof *c->offsets);
        if (c->offsets == NULL)
            return WEIR_ENOMEM;
    }
    if (t->kind == WEIR_TYPE_STRING || t->kind == WEIR_TYPE_BINARY) {
        /* never NULL, so weir_column_bytes is defined on empty values */
        c->bytes_cap = 16;
        c->bytes = weir_malloc(c->bytes_cap);
        if (c->bytes == NULL) {
            weir_free(c->offsets);
            c->offsets = NULL;
            return WEIR_ENOMEM;
        }
    }
    size_t n = 0;
    if (t->kind == WEIR_TYPE_STRUCT)
        n = t->nfields;
    else if (t->kind == WEIR_TYPE_ARRAY)
        n = 1;
    else if (t->kind == WEIR_TYPE_MAP)
        n = 2;
    if (n == 0)
        return 0;
    c->children = weir_calloc(n, sizeof *c->children);
    if (c->children == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const struct weir_type *ct = t->kind == WEIR_TYPE_STRUCT  ? t->fields[i].type
                                     : t->kind == WEIR_TYPE_ARRAY ? t->element
                                     : i == 0                     ? t->key
                                                                  : t->value;
        c->nchildren = i + 1;
        if (column_init(&c->children[i], ct) != 0)
            goto fail;
    }
    return 0;
fail:
    column_free(c);
    return WEIR_ENOMEM;
}

struct weir_batch *weir_batch_create(const struct weir_type *schema)
{
    if (schema == NULL || schema->kind != WEIR_TYPE_STRUCT)
        return NULL;
    struct weir_batch *b = weir_calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->schema = weir_type_clone(schema);
    if (b->schema == NULL)
        goto fail;
    if (schema->nfields > 0) {
        b->columns = weir_calloc(schema->nfields, sizeof *b->columns);
        if (b->columns == NULL)
            goto fail;
    }
    for (size_t i = 0; i < schema->nfields; i++) {
        b->ncolumns = i + 1;
        if (column_init(&b->columns[i], b->schema->fields[i].type) != 0)
            goto fail;
    }
    return b;
fail:
    weir_batch_destroy(b);
    return NULL;
}

void weir_batch_destroy(struct weir_batch *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->ncolumns; i++)
        column_free(&b->columns[i]);
    weir_free(b->columns);
    weir_type_destroy(b->schema);
    weir_free(b);
}

/* Number of cleared validity bits in [from, to). */
static size_t count_nulls(const struct weir_column *c, size_t from, size_t to)
{
    if (c->validity == NULL)
        return 0;
    size_t n = 0;
    for (size_t i = from; i < to; i++)
        if (!((c->validity[i >> 3] >> (i & 7)) & 1))
            n++;
    return n;
}

/* Shrinks a column (and its children) to `len` values; keeps allocations. */
static void column_truncate(struct weir_column *c, size_t len)
{
    if (len >= c->length)
        return;
    c->null_count -= count_nulls(c, len, c->length);
    switch (c->type->kind) {
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY:
        c->bytes_len = (size_t)c->offsets[len];
        break;
    case WEIR_TYPE_ARRAY:
        column_truncate(&c->children[0], (size_t)c->offsets[len]);
        break;
    case WEIR_TYPE_MAP:
        column_truncate(&c->children[0], (size_t)c->offsets[len]);
        column_truncate(&c->children[1], (size_t)c->offsets[len]);
        break;
    case WEIR_TYPE_STRUCT:
        for (size_t i = 0; i < c->nchildren; i++)
            column_truncate(&c->children[i], len);
        break;
    default:
        break;
    }
    c->length = len;
}

void weir_batch_clear(struct weir_batch *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->ncolumns; i++)
        column_truncate(&b->columns[i], 0);
    b->nrows = 0;
}

int weir_batch_finish_rows(struct weir_batch *b)
{
    if (b->ncolumns == 0) {
        return 0;
    }
    size_t n = b->columns[0].length;
    for (size_t i = 1; i < b->ncolumns; i++)
        if (b->columns[i].length != n)
            return WEIR_ESTATE;
    b->nrows = n;
    return 0;
}

static size_t column_memory(const struct weir_column *c)
{
    size_t m = c->cap * weir_type_value_width(c->type) + c->bytes_cap + c->validity_cap;
    if (c->offsets != NULL)
        m += (c->cap + 1) * sizeof *c->offsets;
    m += c->nchildren * sizeof *c->children;
    for (size_t i = 0; i < c->nchildren; i++)
        m += column_memory(&c->children[i]);
    return m;
}

size_t weir_batch_memory(const struct weir_batch *b)
{
    if (b == NULL)
        return 0;
    size_t m = sizeof *b + b->ncolumns * sizeof *b->columns;
    for (size_t i = 0; i < b->ncolumns; i++)
        m += column_memory(&b->columns[i]);
    return m;
}

/* --------------------------------------------------------------- growth */

/* Makes room for `n` more values in data/offsets/validity. On failure the
 * column's contents are unchanged (a buffer may have grown already, which
 * is harmless: capacities only ever grow). */
static int column_grow(struct weir_column *c, size_t n)
{
    if (n > SIZE_MAX / 4 - c->length)
        return WEIR_ENOMEM;
    size_t need = c->length + n;
    if (need <= c->cap)
        return 0;
    size_t ncap = c->cap < 8 ? 8 : c->cap;
    while (ncap < need)
        ncap *= 2;
    size_t width = weir_type_value_width(c->type);
    if (width > 0) {
        void *nd = weir_realloc(c->data, ncap * width);
        if (nd == NULL)
            return WEIR_ENOMEM;
        c->data = nd;
    }
    if (c->offsets != NULL) {
        int64_t *no = weir_realloc(c->offsets, (ncap + 1) * sizeof *no);
        if (no == NULL)
            return WEIR_ENOMEM;
        c->offsets = no;
    }
    if (c->validity != NULL && (ncap + 7) / 8 > c->validity_cap) {
        size_t vcap = (ncap + 7) / 8;
        uint8_t *nv = weir_realloc(c->validity, vcap);
        if (nv == NULL)
            return WEIR_ENOMEM;
        memset(nv + c->validity_cap, 0, vcap - c->validity_cap);
        c->validity = nv;
        c->validity_cap = vcap;
    }
    c->cap = ncap;
    return 0;
}

/* Allocates the validity bitmap on the first null: bits of the values
 * already present are set. Call after column_grow. */
static int column_need_validity(struct weir_column *c)
{
    if (c->validity != NULL)
        return 0;
    size_t vcap = (c->cap + 7) / 8;
    if (vcap == 0)
        vcap = 1;
    uint8_t *v = weir_calloc(vcap, 1);
    if (v == NULL)
        return WEIR_ENOMEM;
    memset(v, 0xff, c->length / 8);
    for (size_t i = c->length & ~(size_t)7; i < c->length; i++)
        v[i >> 3] |= (uint8_t)(1u << (i & 7));
    c->validity = v;
    c->validity_cap = vcap;
    return 0;
}

static int bytes_grow(struct weir_column *c, size_t n)
{
    if (n > SIZE_MAX / 4 - c->bytes_len)
        return WEIR_ENOMEM;
    size_t need = c->bytes_len + n;
    if (need <= c->bytes_cap && c->bytes != NULL)
        return 0;
    size_t ncap = c->bytes_cap < 64 ? 64 : c->bytes_cap;
    while (ncap < need)
        ncap *= 2;
    uint8_t *nb = weir_realloc(c->bytes, ncap);
    if (nb == NULL)
        return WEIR_ENOMEM;
    c->bytes = nb;
    c->bytes_cap = ncap;
    return 0;
}

int weir_column_reserve(struct weir_column *c, size_t n, size_t nbytes)
{
    int rc = column_grow(c, n);
    if (rc == 0 && nbytes > 0 && (c->type->kind == WEIR_TYPE_STRING || c->type->kind == WEIR_TYPE_BINARY))
        rc = bytes_grow(c, nbytes);
    return rc;
}

int weir_column_set_from(struct weir_column *dst, size_t row, const struct weir_column *src, size_t srow)
{
    size_t width = weir_type_value_width(dst->type);
    if (width == 0 || row >= dst->length || srow >= src->length || src->type->kind != dst->type->kind ||
        weir_type_value_width(src->type) != width)
        return WEIR_EINVAL;
    bool was = weir_column_is_valid(dst, row), now = weir_column_is_valid(src, srow);
    if (!now) {
        int rc = column_need_validity(dst);
        if (rc != 0)
            return rc;
        memset((uint8_t *)dst->data + row * width, 0, width);
        dst->validity[row >> 3] &= (uint8_t) ~(1u << (row & 7));
    } else {
        memcpy((uint8_t *)dst->data + row * width, (const uint8_t *)src->data + srow * width, width);
        if (dst->validity != NULL)
            dst->validity[row >> 3] |= (uint8_t)(1u << (row & 7));
    }
    dst->null_count = dst->null_count + (was && !now) - (!was && now);
    return 0;
}

/* Marks value `length` valid or null and counts it. Room must exist. */
static void column_close_value(struct weir_column *c, bool valid)
{
    size_t i = c->length;
    if (c->validity != NULL) {
        if (valid)
            c->validity[i >> 3] |= (uint8_t)(1u << (i & 7));
        else
            c->validity[i >> 3] &= (uint8_t) ~(1u << (i & 7));
    }
    if (!valid)
        c->null_count++;
    c->length = i + 1;
}

/* ---------------------------------------------------------------- appends */

static bool kind_is(const struct weir_column *c, enum weir_type_kind a, enum weir_type_kind b)
{
    return c->type->kind == a || c->type->kind == b;
}

/* Makes room for one more value, and for the validity bitmap when the
 * value is a null. */
static int column_open_value(struct weir_column *c, bool valid)
{
    int rc = column_grow(c, 1);
    if (rc == 0 && !valid)
        rc = column_need_validity(c);
    return rc;
}

/* Appends one fixed-width value (or zeros when p == NULL, a null). */
static int append_fixed(struct weir_column *c, const void *p)
{
    size_t width = weir_type_value_width(c->type);
    int rc = column_open_value(c, p != NULL);
    if (rc != 0)
        return rc;
    uint8_t *slot = (uint8_t *)c->data + c->length * width;
    if (p != NULL)
        memcpy(slot, p, width);
    else
        memset(slot, 0, width);
    column_close_value(c, p != NULL);
    return 0;
}

/* The typed appends: a value of the column's kind, else WEIR_EINVAL.
 * While there is room the value is stored in place (the hot path of
 * decoding); otherwise append_fixed grows the column. */
static inline int append_if_w(struct weir_column *c, bool kind_ok, const void *p, size_t width)
{
    if (!kind_ok)
        return WEIR_EINVAL;
    if (c->length >= c->cap)
        return append_fixed(c, p);
    memcpy((uint8_t *)c->data + c->length * width, p, width);
    column_close_value(c, true);
    return 0;
}
#define append_if(c, kind_ok, p) append_if_w((c), (kind_ok), (p), sizeof(*(p)))

int weir_column_append_bool(struct weir_column *c, bool v)
{
    uint8_t b = v ? 1 : 0;
    return append_if(c, c->type->kind == WEIR_TYPE_BOOLEAN, &b);
}

int weir_column_append_i8(struct weir_column *c, int8_t v)
{
    return append_if(c, c->type->kind == WEIR_TYPE_BYTE, &v);
}

int weir_column_append_i16(struct weir_column *c, int16_t v)
{
    return append_if(c, c->type->kind == WEIR_TYPE_SHORT, &v);
}

int weir_column_append_i32(struct weir_column *c, int32_t v)
{
    return append_if(c, kind_is(c, WEIR_TYPE_INTEGER, WEIR_TYPE_DATE), &v);
}

int weir_column_append_i64(struct weir_column *c, int64_t v)
{
    bool ok = kind_is(c, WEIR_TYPE_LONG, WEIR_TYPE_TIMESTAMP) || c->type->kind == WEIR_TYPE_TIMESTAMP_NTZ;
    return append_if(c, ok, &v);
}

int weir_column_append_f32(struct weir_column *c, float v)
{
    return append_if(c, c->type->kind == WEIR_TYPE_FLOAT, &v);
}

int weir_column_append_f64(struct weir_column *c, double v)
{
    return append_if(c, c->type->kind == WEIR_TYPE_DOUBLE, &v);
}

int weir_column_append_i128(struct weir_column *c, weir_i128 v)
{
    return append_if(c, c->type->kind == WEIR_TYPE_DECIMAL, &v);
}

int weir_column_append_bytes(struct weir_column *c, const void *p, size_t n)
{
    if (!kind_is(c, WEIR_TYPE_STRING, WEIR_TYPE_BINARY))
        return WEIR_EINVAL;
    if (c->length >= c->cap || n > c->bytes_cap - c->bytes_len) { /* no room: grow first */
        int rc = column_grow(c, 1);
        if (rc == 0 && n > 0)
            rc = bytes_grow(c, n);
        if (rc != 0)
            return rc;
    }
    if (n > 0)
        memcpy(c->bytes + c->bytes_len, p, n);
    c->bytes_len += n;
    c->offsets[c->length + 1] = (int64_t)c->bytes_len;
    column_close_value(c, true);
    return 0;
}

int weir_column_append_struct(struct weir_column *c, bool valid)
{
    if (c->type->kind != WEIR_TYPE_STRUCT)
        return WEIR_EINVAL;
    for (size_t i = 0; i < c->nchildren; i++)
        if (c->children[i].length != c->length + 1)
            return WEIR_ESTATE;
    int rc = column_open_value(c, valid);
    if (rc != 0)
        return rc;
    column_close_value(c, valid);
    return 0;
}

int weir_column_append_list(struct weir_column *c, bool valid)
{
    if (!kind_is(c, WEIR_TYPE_ARRAY, WEIR_TYPE_MAP))
        return WEIR_EINVAL;
    size_t end = c->children[0].length;
    if (c->type->kind == WEIR_TYPE_MAP && c->children[1].length != end)
        return WEIR_ESTATE;
    if (end < (size_t)c->offsets[c->length])
        return WEIR_ESTATE;
    int rc = column_open_value(c, valid);
    if (rc != 0)
        return rc;
    c->offsets[c->length + 1] = (int64_t)end;
    column_close_value(c, valid);
    return 0;
}

int weir_column_append_null(struct weir_column *c)
{
    int rc = column_open_value(c, false);
    if (rc != 0)
        return rc;
    switch (c->type->kind) {
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY:
    case WEIR_TYPE_ARRAY:
    case WEIR_TYPE_MAP:
        c->offsets[c->length + 1] = c->offsets[c->length];
        break;
    case WEIR_TYPE_STRUCT:
        for (size_t i = 0; i < c->nchildren; i++) {
            rc = weir_column_append_null(&c->children[i]);
            if (rc != 0) {
                for (size_t j = 0; j < i; j++)
                    column_truncate(&c->children[j], c->length);
                return rc;
            }
        }
        break;
    default: {
        size_t width = weir_type_value_width(c->type);
        memset((uint8_t *)c->data + c->length * width, 0, width);
        break;
    }
    }
    column_close_value(c, false);
    return 0;
}

int weir_column_append_from(struct weir_column *dst, const struct weir_column *src, size_t row)
{
    int rc = 0;
    if (dst->type->kind != src->type->kind || dst->nchildren != src->nchildren || row >= src->length)
        return WEIR_EINVAL;
    if (!weir_column_is_valid(src, row))
        return weir_column_append_null(dst);
    size_t width = weir_type_value_width(src->type);
    if (width > 0)
        return append_fixed(dst, (const uint8_t *)src->data + row * width);
    switch (src->type->kind) {
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY: {
        size_t n = 0;
        const uint8_t *p = weir_column_bytes(src, row, &n);
        return weir_column_append_bytes(dst, p, n);
    }
    case WEIR_TYPE_STRUCT: {
        size_t len = dst->length;
        for (size_t i = 0; i < src->nchildren && rc == 0; i++)
            rc = weir_column_append_from(&dst->children[i], &src->children[i], row);
        if (rc == 0)
            rc = weir_column_append_struct(dst, true);
        if (rc != 0)
            for (size_t i = 0; i < dst->nchildren; i++)
                column_truncate(&dst->children[i], len);
        return rc;
    }
    case WEIR_TYPE_ARRAY:
    case WEIR_TYPE_MAP: {
        size_t from = (size_t)src->offsets[row], to = (size_t)src->offsets[row + 1];
        size_t before = dst->children[0].length;
        /* Reserve first so long lists grow once. */
        for (size_t k = 0; k < src->nchildren && rc == 0; k++)
            rc = column_grow(&dst->children[k], to - from);
        for (size_t e = from; e < to && rc == 0; e++)
            for (size_t k = 0; k < src->nchildren && rc == 0; k++)
                rc = weir_column_append_from(&dst->children[k], &src->children[k], e);
        if (rc == 0)
            rc = weir_column_append_list(dst, true);
        if (rc != 0)
            for (size_t k = 0; k < dst->nchildren; k++)
                column_truncate(&dst->children[k], before);
        return rc;
    }
    default:
        return WEIR_EINVAL;
    }
}

int weir_column_append_range(struct weir_column *dst, const struct weir_column *src, size_t start, size_t n)
{
    if (dst->type->kind != src->type->kind || dst->nchildren != src->nchildren || start > src->length ||
        n > src->length - start)
        return WEIR_EINVAL;
    if (n == 0)
        return 0;
    size_t len0 = dst->length;
    size_t nulls = count_nulls(src, start, start + n);
    int rc = column_grow(dst, n);
    if (rc == 0 && nulls > 0)
        rc = column_need_validity(dst);
    if (rc != 0)
        return rc;
    size_t width = weir_type_value_width(src->type);
    if (width > 0) {
        memcpy((uint8_t *)dst->data + len0 * width, (const uint8_t *)src->data + start * width, n * width);
    } else {
        switch (src->type->kind) {
        case WEIR_TYPE_STRING:
        case WEIR_TYPE_BINARY: {
            size_t from = (size_t)src->offsets[start], to = (size_t)src->offsets[start + n];
            if (to > from && (rc = bytes_grow(dst, to - from)) != 0)
                return rc;
            memcpy(dst->bytes + dst->bytes_len, src->bytes + from, to - from);
            int64_t shift = (int64_t)dst->bytes_len - (int64_t)from;
            for (size_t i = 1; i <= n; i++)
                dst->offsets[len0 + i] = src->offsets[start + i] + shift;
            dst->bytes_len += to - from;
            break;
        }
        case WEIR_TYPE_STRUCT:
            for (size_t i = 0; i < src->nchildren && rc == 0; i++)
                rc = weir_column_append_range(&dst->children[i], &src->children[i], start, n);
            break;
        case WEIR_TYPE_ARRAY:
        case WEIR_TYPE_MAP: {
            size_t from = (size_t)src->offsets[start], to = (size_t)src->offsets[start + n];
            int64_t shift = (int64_t)dst->children[0].length - (int64_t)from;
            for (size_t k = 0; k < src->nchildren && rc == 0; k++)
                rc = weir_column_append_range(&dst->children[k], &src->children[k], from, to - from);
            for (size_t i = 1; rc == 0 && i <= n; i++)
                dst->offsets[len0 + i] = src->offsets[start + i] + shift;
            break;
        }
        default:
            rc = WEIR_EINVAL;
        }
        if (rc != 0) {
            for (size_t k = 0; k < dst->nchildren; k++)
                column_truncate(&dst->children[k],
                                src->type->kind == WEIR_TYPE_STRUCT ? len0 : (size_t)dst->offsets[len0]);
            return rc;
        }
    }
    if (dst->validity != NULL) {
        for (size_t i = 0; i < n; i++) {
            size_t d = len0 + i;
            if (weir_column_is_valid(src, start + i))
                dst->validity[d >> 3] |= (uint8_t)(1u << (d & 7));
            else
                dst->validity[d >> 3] &= (uint8_t) ~(1u << (d & 7));
        }
    }
    dst->null_count += nulls;
    dst->length = len0 + n;
    return 0;
}

static size_t column_used(const struct weir_column *c)
{
    size_t m = c->length * weir_type_value_width(c->type) + c->bytes_len;
    if (c->offsets != NULL && c->length > 0)
        m += (c->length + 1) * sizeof *c->offsets;
    if (c->validity != NULL)
        m += (c->length + 7) / 8;
    for (size_t i = 0; i < c->nchildren; i++)
        m += column_used(&c->children[i]);
    return m;
}

size_t weir_batch_used_bytes(const struct weir_batch *b)
{
    size_t m = 0;
    for (size_t i = 0; b != NULL && i < b->ncolumns; i++)
        m += column_used(&b->columns[i]);
    return m;
}

int weir_batch_take(const struct weir_batch *b, const uint32_t *rows, size_t n, struct weir_batch **out)
{
    struct weir_batch *nb = weir_batch_create(b->schema);
    int rc = nb == NULL ? WEIR_ENOMEM : 0;
    *out = NULL;
    for (size_t col = 0; col < b->ncolumns && rc == 0; col++) {
        rc = weir_column_reserve(&nb->columns[col], n, 0);
        /* runs of consecutive rows are copied at once */
        for (size_t i = 0; i < n && rc == 0;) {
            size_t j = i + 1;
            while (j < n && rows[j] == rows[j - 1] + 1)
                j++;
            rc = weir_column_append_range(&nb->columns[col], &b->columns[col], rows[i], j - i);
            i = j;
        }
    }
    if (rc == 0)
        rc = weir_batch_finish_rows(nb);
    if (rc == 0 && b->ncolumns == 0)
        nb->nrows = n;
    if (rc != 0) {
        weir_batch_destroy(nb);
        return rc;
    }
    *out = nb;
    return 0;
}
