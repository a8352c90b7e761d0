/* delta/stats.c - per-file statistics (add.stats) per protocol notes 1.7:
 * numRecords; minValues/maxValues for numeric, decimal, date, timestamp
 * (ms, max truncated down), timestamp_ntz and string (32-character prefix,
 * max gets a U+10FFFF tie-breaker when cut); nullCount for every leaf
 * (arrays and maps count whole-value nulls); nested structs as nested
 * objects; a float column holding NaN or infinities gets no min/max; only
 * the first 32 leaf columns are indexed. Pure; thread-safe. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "delta/delta_int.h"

#define STATS_MAX_LEAVES 32
#define STRING_PREFIX    32

int dl_json_escape(struct weir_buf *b, const char *s, size_t n)
{
    int rc = weir_buf_append_byte(b, '"');
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = weir_buf_append(b, e, 2);
        } else if (c < 0x20) {
            rc = weir_buf_printf(b, "\\u%04x", c);
        } else {
            rc = weir_buf_append_byte(b, c);
        }
    }
    return rc ? rc : weir_buf_append_byte(b, '"');
}

static bool has_minmax(enum weir_type_kind k)
{
    switch (k) {
    case WEIR_TYPE_BYTE:
    case WEIR_TYPE_SHORT:
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_LONG:
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE:
    case WEIR_TYPE_DECIMAL:
    case WEIR_TYPE_DATE:
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
    case WEIR_TYPE_STRING:
        return true;
    default:
        return false;
    }
}

static double num_at(const struct weir_column *c, size_t i)
{
    switch (c->type->kind) {
    case WEIR_TYPE_BYTE:
        return ((const int8_t *)c->data)[i];
    case WEIR_TYPE_SHORT:
        return ((const int16_t *)c->data)[i];
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_DATE:
        return weir_column_i32(c, i);
    case WEIR_TYPE_FLOAT:
        return ((const float *)c->data)[i];
    case WEIR_TYPE_DOUBLE:
        return weir_column_f64(c, i);
    default:
        return 0;
    }
}

/* Cut s (UTF-8) to at most STRING_PREFIX code points; returns byte length. */
static size_t utf8_prefix(const uint8_t *s, size_t n, bool *cut)
{
    size_t i = 0, cps = 0;
    while (i < n && cps < STRING_PREFIX) {
        unsigned char c = s[i];
        size_t l = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        if (i + l > n)
            l = n - i;
        i += l;
        cps++;
    }
    *cut = i < n;
    return i;
}

static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

/* Rows holding the smallest and largest value of leaf c in one pass
 * (SIZE_MAX for both: no min/max: no values, not an ordered kind, or a
 * float column with NaN or infinities). */
#define MM_SCAN(T, GET)                                     \
    do {                                                    \
        T vlo = 0, vhi = 0;                                 \
        for (size_t i = 0; i < c->length; i++) {            \
            if (c->validity && !weir_column_is_valid(c, i)) \
                continue;                                   \
            T v = GET;                                      \
            if (*lo == SIZE_MAX) {                          \
                *lo = *hi = i;                              \
                vlo = vhi = v;                              \
            } else if (v < vlo) {                           \
                *lo = i;                                    \
                vlo = v;                                    \
            } else if (v > vhi) {                           \
                *hi = i;                                    \
                vhi = v;                                    \
            }                                               \
        }                                                   \
    } while (0)

static inline uint64_t prefix8(const uint8_t *p, size_t n)
{
    uint64_t k = 0;
    for (size_t i = 0; i < 8; i++)
        k = k << 8 | (i < n ? p[i] : 0);
    return k;
}

static void minmax_scan(const struct weir_column *c, size_t *lo, size_t *hi)
{
    *lo = *hi = SIZE_MAX;
    switch (c->type->kind) {
    case WEIR_TYPE_BYTE:
        MM_SCAN(int8_t, ((const int8_t *)c->data)[i]);
        return;
    case WEIR_TYPE_SHORT:
        MM_SCAN(int16_t, ((const int16_t *)c->data)[i]);
        return;
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_DATE:
        MM_SCAN(int32_t, weir_column_i32(c, i));
        return;
    case WEIR_TYPE_LONG:
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        MM_SCAN(int64_t, weir_column_i64(c, i));
        return;
    case WEIR_TYPE_DECIMAL:
        MM_SCAN(weir_i128, ((const weir_i128 *)c->data)[i]);
        return;
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE:
        for (size_t i = 0; i < c->length; i++) {
            if (c->validity && !weir_column_is_valid(c, i))
                continue;
            double v = num_at(c, i);
            if (isnan(v) || isinf(v)) {
                *lo = *hi = SIZE_MAX;
                return;
            }
        }
        if (c->type->kind == WEIR_TYPE_FLOAT)
            MM_SCAN(float, ((const float *)c->data)[i]);
        else
            MM_SCAN(double, weir_column_f64(c, i));
        return;
    case WEIR_TYPE_STRING: {
        /* compare 8-byte big-endian prefixes; the bytes only on a tie */
        uint64_t klo = 0, khi = 0;
        for (size_t i = 0; i < c->length; i++) {
            if (c->validity && !weir_column_is_valid(c, i))
                continue;
            size_t n, nl, nh;
            const uint8_t *p = weir_column_bytes(c, i, &n);
            uint64_t k = prefix8(p, n);
            if (*lo == SIZE_MAX) {
                *lo = *hi = i;
                klo = khi = k;
                continue;
            }
            if (k <= klo) {
                const uint8_t *pl = weir_column_bytes(c, *lo, &nl);
                if (k < klo || cmp_bytes(p, n, pl, nl) < 0) {
                    *lo = i;
                    klo = k;
                    continue;
                }
            }
            if (k >= khi) {
                const uint8_t *ph = weir_column_bytes(c, *hi, &nh);
                if (k > khi || cmp_bytes(p, n, ph, nh) > 0) {
                    *hi = i;
                    khi = k;
                }
            }
        }
        return;
    }
    default:
        return;
    }
}
#undef MM_SCAN

/* Writes `"name":` into a JSON object, after a comma unless it is the first. */
static int emit_key(struct weir_buf *b, const char *name, bool *first)
{
    int rc = 0;
    if (!*first)
        rc = weir_buf_append_byte(b, ',');
    *first = false;
    if (rc == 0)
        rc = dl_json_escape(b, name, strlen(name));
    return rc ? rc : weir_buf_append_byte(b, ':');
}

/* Append `"name":value` for row `best` of leaf c (SIZE_MAX: nothing);
 * returns 1 if something was written. */
static int leaf_minmax(struct weir_buf *b, const char *name, const struct weir_column *c, size_t best,
                       bool is_max, bool *first)
{
    enum weir_type_kind k = c->type->kind;
    char val[128];
    if (best == SIZE_MAX || !has_minmax(k))
        return 0;
    int rc = emit_key(b, name, first);
    if (rc)
        return rc;
    switch (k) {
    case WEIR_TYPE_LONG:
        return weir_buf_printf(b, "%lld", (long long)weir_column_i64(c, best)) ?: 1;
    case WEIR_TYPE_BYTE:
    case WEIR_TYPE_SHORT:
    case WEIR_TYPE_INTEGER:
        return weir_buf_printf(b, "%lld", (long long)num_at(c, best)) ?: 1;
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE: {
        double v = num_at(c, best);
        snprintf(val, sizeof(val), k == WEIR_TYPE_FLOAT ? "%.9g" : "%.17g", v);
        return weir_buf_append_str(b, val) ?: 1;
    }
    case WEIR_TYPE_DECIMAL:
        dl_format_decimal(val, sizeof(val), ((const weir_i128 *)c->data)[best], c->type->scale);
        return weir_buf_append_str(b, val) ?: 1;
    case WEIR_TYPE_DATE:
        dl_format_date(val, sizeof(val), weir_column_i32(c, best));
        return dl_json_escape(b, val, strlen(val)) ?: 1;
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ: {
        int64_t us = weir_column_i64(c, best);
        /* ms precision; both min and max truncate down (floor) */
        int64_t ms = us / 1000 - ((us % 1000) < 0);
        dl_format_timestamp(val, sizeof(val), ms * 1000, 3, 'T', k == WEIR_TYPE_TIMESTAMP);
        return dl_json_escape(b, val, strlen(val)) ?: 1;
    }
    case WEIR_TYPE_STRING: {
        size_t n;
        bool cut;
        const uint8_t *s = weir_column_bytes(c, best, &n);
        size_t pl = utf8_prefix(s, n, &cut);
        if (!is_max || !cut)
            return dl_json_escape(b, (const char *)s, pl) ?: 1;
        /* max: prefix + U+10FFFF sorts after every string with that prefix */
        char *t = weir_malloc(pl + 5);
        if (!t)
            return WEIR_ENOMEM;
        memcpy(t, s, pl);
        memcpy(t + pl, "\xF4\x8F\xBF\xBF", 4);
        rc = dl_json_escape(b, t, pl + 4);
        weir_free(t);
        return rc ?: 1;
    }
    default:
        return 0;
    }
}

/* What to emit for a struct's fields. */
enum pass { P_MIN, P_MAX, P_NULLS };

/* Leaves numbered in walk order (the same in every pass); the min pass
 * finds both rows, the max pass reuses them. */
struct walk {
    int leaves;
    size_t lo[STATS_MAX_LEAVES], hi[STATS_MAX_LEAVES];
};

static int emit_struct(struct weir_buf *b, const struct weir_type *st, const struct weir_column *cols,
                       enum pass pass, struct walk *w, bool *wrote_any);

static int emit_field(struct weir_buf *b, const char *name, const struct weir_column *c, enum pass pass,
                      struct walk *w, bool *first)
{
    int rc = 0;
    if (c->type->kind == WEIR_TYPE_STRUCT) {
        /* nested object; skip it entirely if nothing inside is emitted */
        struct weir_buf inner;
        bool any = false;
        weir_buf_init(&inner);
        rc = emit_struct(&inner, c->type, c->children, pass, w, &any);
        if (rc == 0 && any) {
            rc = emit_key(b, name, first);
            if (rc == 0)
                rc = weir_buf_append(b, inner.data, inner.len);
        }
        weir_buf_free(&inner);
        return rc;
    }
    if (w->leaves >= STATS_MAX_LEAVES)
        return 0;
    int leaf = w->leaves++;
    if (pass == P_NULLS) {
        rc = emit_key(b, name, first);
        return rc ? rc : weir_buf_printf(b, "%zu", c->null_count);
    }
    if (pass == P_MIN)
        minmax_scan(c, &w->lo[leaf], &w->hi[leaf]);
    rc = leaf_minmax(b, name, c, pass == P_MAX ? w->hi[leaf] : w->lo[leaf], pass == P_MAX, first);
    return rc < 0 ? rc : 0;
}

static int emit_struct(struct weir_buf *b, const struct weir_type *st, const struct weir_column *cols,
                       enum pass pass, struct walk *w, bool *wrote_any)
{
    bool first = true;
    int rc = weir_buf_append_byte(b, '{');
    for (size_t i = 0; i < st->nfields && rc == 0; i++)
        rc = emit_field(b, st->fields[i].name, &cols[i], pass, w, &first);
    *wrote_any = !first;
    return rc ? rc : weir_buf_append_byte(b, '}');
}

int dl_stats_json(const struct weir_batch *bt, char **out, struct weir_error *err)
{
    static const struct {
        const char *key;
        enum pass pass;
    } passes[] = {{"minValues", P_MIN}, {"maxValues", P_MAX}, {"nullCount", P_NULLS}};
    struct weir_buf b;
    bool any;
    struct walk w;
    int rc;
    weir_buf_init(&b);
    *out = NULL;
    rc = weir_buf_printf(&b, "{\"numRecords\":%zu", bt->nrows);
    for (size_t i = 0; i < sizeof passes / sizeof passes[0] && rc == 0; i++) {
        w.leaves = 0;
        rc = weir_buf_printf(&b, ",\"%s\":", passes[i].key);
        if (rc == 0)
            rc = emit_struct(&b, bt->schema, bt->columns, passes[i].pass, &w, &any);
    }
    if (rc == 0)
        rc = weir_buf_append_byte(&b, '}');
    if (rc) {
        weir_buf_free(&b);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory computing file statistics");
    }
    *out = weir_buf_detach(&b);
    return 0;
}
