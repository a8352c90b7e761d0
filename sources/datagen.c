/* sources/datagen.c - the datagen source: deterministic generated rows for
 * demos, tests and benchmarks ({"datagen": {"rows_per_second": 5000,
 * "schema": "id LONG, user STRING, amount DOUBLE", "seed": 1}}).
 *
 * Owns: the parsed schema (also weir_source.schema), a generator tree that
 * mirrors it (one node per field, array element, map key and value, each
 * with its own salt and, for strings, a table of its 1000 possible values),
 * and one reusable batch of at most DG_BATCH_ROWS rows.
 *
 * Offsets are {"rows":N}: the number of rows generated so far; batch
 * [start, end) holds rows start..end-1. Invariant: every value of row i is
 * a pure function of (seed, i, the node of the schema tree), so read()
 * returns identical rows for the same range on every call, in any chunking
 * (the exactly-once replay contract). Values:
 *   - a top-level LONG or INTEGER column named "id" is exactly i, never null;
 *   - nullable fields, nullable array elements and map values are null in
 *     about 3% of the rows (never NOT NULL ones, never map keys);
 *   - strings "<field>_<n>" with n in 0..999, so data compresses like real
 *     data; doubles and floats have two decimals; decimals fit precision;
 *   - timestamps 2024-01-01T00:00:00Z + i ms + a jitter below 1 ms, dates
 *     the day of that timestamp;
 *   - arrays and maps have 0..3 entries; map keys are distinct in a row.
 * Planning: with rows_per_second R the end is the first start seen in this
 * run plus floor(R * seconds since create) (never below start), capped by
 * max_rows_per_trigger, max_rows and the caller's cap; without a rate the
 * end is start + (max_rows_per_trigger or 1,000,000), capped the same way.
 * available_now needs nothing extra: with a rate the end is already capped
 * at the rows due now.
 *
 * Threading: all calls from the pipeline's thread (source.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/util.h"
#include "sources/source.h"
#include "stream/config.h"

#define DG_BATCH_ROWS      65536
#define DG_STR_VALUES      1000
#define DG_DEFAULT_TRIGGER 1000000
#define DG_BASE_US         INT64_C(1704067200000000) /* 2024-01-01T00:00:00Z */
#define DG_DAY_US          INT64_C(86400000000)
#define DG_NULL_PER_1024   31 /* ~3% */
#define DG_MAX_ENTRIES     4  /* arrays and maps: 0..3 entries */

struct gen_node {
    const struct weir_type *type;
    uint64_t salt;
    bool nullable; /* the value itself may be null */
    bool is_id;
    /* STRING / BINARY: "<name>_<n>" for n < DG_STR_VALUES, back to back */
    char *strtab;
    uint32_t *stroff; /* DG_STR_VALUES + 1 offsets into strtab */
    struct gen_node *children;
    size_t nchildren;
};

struct datagen {
    struct weir_source base; /* first: the engine holds &base */
    struct weir_type *schema;
    struct gen_node root; /* STRUCT node of the schema */
    struct weir_batch *batch;
    int64_t rate, seed, max_rows, max_per_trigger;
    int64_t created_ns;
    int64_t run_start; /* first start offset planned in this run, -1 before */
    size_t row_bytes;  /* estimate of string bytes per row, for reserve */
};

/* ------------------------------------------------------------ hashing */

/* splitmix64's finalizer: a bijection with good avalanche. */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

#define GOLDEN UINT64_C(0x9e3779b97f4a7c15)

static inline bool key_is_null(const struct gen_node *g, uint64_t key)
{
    return g->nullable && (key >> 54) < DG_NULL_PER_1024;
}

/* ------------------------------------------------------------ tree */

static void node_free(struct gen_node *g)
{
    for (size_t i = 0; i < g->nchildren; i++)
        node_free(&g->children[i]);
    weir_free(g->children);
    weir_free(g->strtab);
    weir_free(g->stroff);
    memset(g, 0, sizeof *g);
}

static int build_strtab(struct gen_node *g, const char *name)
{
    size_t nlen = strlen(name);
    size_t total = DG_STR_VALUES * (nlen + 5);
    g->strtab = weir_malloc(total);
    g->stroff = weir_malloc((DG_STR_VALUES + 1) * sizeof *g->stroff);
    if (g->strtab == NULL || g->stroff == NULL)
        return WEIR_ENOMEM;
    size_t pos = 0;
    for (unsigned n = 0; n < DG_STR_VALUES; n++) {
        g->stroff[n] = (uint32_t)pos;
        memcpy(g->strtab + pos, name, nlen);
        pos += nlen;
        pos += (size_t)snprintf(g->strtab + pos, total - pos, "_%u", n);
    }
    g->stroff[DG_STR_VALUES] = (uint32_t)pos;
    return 0;
}

/* Builds the node for type `t`; `name` is the nearest field name (string
 * values), *counter numbers the nodes in preorder for their salts. */
static int node_build(struct gen_node *g, const struct weir_type *t, const char *name, bool nullable,
                      int64_t seed, uint64_t *counter)
{
    memset(g, 0, sizeof *g);
    g->type = t;
    g->nullable = nullable;
    g->salt = mix64((uint64_t)seed * GOLDEN ^ mix64(++*counter));
    if (t->kind == WEIR_TYPE_STRING || t->kind == WEIR_TYPE_BINARY)
        return build_strtab(g, name);
    size_t n = t->kind == WEIR_TYPE_STRUCT  ? t->nfields
               : t->kind == WEIR_TYPE_ARRAY ? 1
               : t->kind == WEIR_TYPE_MAP   ? 2
                                            : 0;
    if (n == 0)
        return 0;
    g->children = weir_calloc(n, sizeof *g->children);
    if (g->children == NULL)
        return WEIR_ENOMEM;
    g->nchildren = n;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (t->kind == WEIR_TYPE_STRUCT)
            rc = node_build(&g->children[i], t->fields[i].type, t->fields[i].name, t->fields[i].nullable,
                            seed, counter);
        else if (t->kind == WEIR_TYPE_ARRAY)
            rc = node_build(&g->children[i], t->element, name, t->contains_null, seed, counter);
        else if (i == 0)
            rc = node_build(&g->children[i], t->key, name, false, seed, counter);
        else
            rc = node_build(&g->children[i], t->value, name, t->value_contains_null, seed, counter);
    }
    return rc;
}

/* ------------------------------------------------------------ values */

static inline int64_t timestamp_of(uint64_t i, uint64_t key)
{
    /* unsigned arithmetic: wraps instead of overflowing for huge i */
    return (int64_t)((uint64_t)DG_BASE_US + i * 1000u + key % 1000u);
}

static inline int32_t date_of(uint64_t i, uint64_t key)
{
    int64_t us = timestamp_of(i, key);
    int64_t days = us / DG_DAY_US - (us % DG_DAY_US < 0);
    return (int32_t)days;
}

static weir_i128 decimal_of(const struct weir_type *t, uint64_t key)
{
    uint64_t bound = 1;
    for (int k = 0; k < t->precision && k < 18; k++)
        bound *= 10;
    return (weir_i128)(key % bound);
}

static int gen_value(struct weir_column *c, const struct gen_node *g, uint64_t i, uint64_t key);

/* The j-th key of a map: distinct for distinct j within one row. */
static int gen_map_key(struct weir_column *c, const struct gen_node *g, uint64_t i, uint64_t key, unsigned j)
{
    switch (g->type->kind) {
    case WEIR_TYPE_BOOLEAN:
        return weir_column_append_bool(c, j & 1);
    case WEIR_TYPE_BYTE:
        return weir_column_append_i8(c, (int8_t)j);
    case WEIR_TYPE_SHORT:
        return weir_column_append_i16(c, (int16_t)j);
    case WEIR_TYPE_INTEGER:
        return weir_column_append_i32(c, (int32_t)j);
    case WEIR_TYPE_LONG:
        return weir_column_append_i64(c, (int64_t)j);
    case WEIR_TYPE_FLOAT:
        return weir_column_append_f32(c, (float)j);
    case WEIR_TYPE_DOUBLE:
        return weir_column_append_f64(c, (double)j);
    case WEIR_TYPE_DECIMAL:
        return weir_column_append_i128(c, (weir_i128)j);
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY:
        return weir_column_append_bytes(c, g->strtab + g->stroff[j], g->stroff[j + 1] - g->stroff[j]);
    case WEIR_TYPE_DATE:
        return weir_column_append_i32(c, (int32_t)(DG_BASE_US / DG_DAY_US + j));
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        return weir_column_append_i64(c, DG_BASE_US + (int64_t)j * 1000);
    default: /* nested keys: maps of such keys have at most one entry */
        return gen_value(c, g, i, key);
    }
}

static int gen_list(struct weir_column *c, const struct gen_node *g, uint64_t i, uint64_t key)
{
    unsigned n = (unsigned)((key >> 8) % DG_MAX_ENTRIES);
    int rc = 0;
    if (g->type->kind == WEIR_TYPE_ARRAY) {
        for (unsigned j = 0; j < n && rc == 0; j++)
            rc = gen_value(&c->children[0], &g->children[0], i,
                           mix64((key + (j + 1) * GOLDEN) ^ g->children[0].salt));
    } else {
        const struct gen_node *kn = &g->children[0], *vn = &g->children[1];
        if (kn->type->kind == WEIR_TYPE_BOOLEAN && n > 2)
            n = 2;
        else if (!weir_type_is_primitive(kn->type) && n > 1)
            n = 1;
        for (unsigned j = 0; j < n && rc == 0; j++) {
            uint64_t ek = mix64((key + (j + 1) * GOLDEN) ^ kn->salt);
            rc = gen_map_key(&c->children[0], kn, i, ek, j);
            if (rc == 0)
                rc = gen_value(&c->children[1], vn, i, mix64(ek ^ vn->salt));
        }
    }
    return rc == 0 ? weir_column_append_list(c, true) : rc;
}

/* Appends the value of node g for row i whose hash is `key`. */
static int gen_value(struct weir_column *c, const struct gen_node *g, uint64_t i, uint64_t key)
{
    if (g->is_id)
        return g->type->kind == WEIR_TYPE_LONG ? weir_column_append_i64(c, (int64_t)i)
                                               : weir_column_append_i32(c, (int32_t)i);
    if (key_is_null(g, key))
        return weir_column_append_null(c);
    switch (g->type->kind) {
    case WEIR_TYPE_BOOLEAN:
        return weir_column_append_bool(c, key & 1);
    case WEIR_TYPE_BYTE:
        return weir_column_append_i8(c, (int8_t)(key & 0xff));
    case WEIR_TYPE_SHORT:
        return weir_column_append_i16(c, (int16_t)(key & 0xffff));
    case WEIR_TYPE_INTEGER:
        return weir_column_append_i32(c, (int32_t)(key % 1000000u));
    case WEIR_TYPE_LONG:
        return weir_column_append_i64(c, (int64_t)(key % 1000000000u));
    case WEIR_TYPE_FLOAT:
        return weir_column_append_f32(c, (float)(key % 100000u) / 100.0f);
    case WEIR_TYPE_DOUBLE:
        return weir_column_append_f64(c, (double)(key % 1000000u) / 100.0);
    case WEIR_TYPE_DECIMAL:
        return weir_column_append_i128(c, decimal_of(g->type, key));
    case WEIR_TYPE_STRING: {
        unsigned n = (unsigned)(key % DG_STR_VALUES);
        return weir_column_append_bytes(c, g->strtab + g->stroff[n], g->stroff[n + 1] - g->stroff[n]);
    }
    case WEIR_TYPE_BINARY: {
        uint64_t w[2] = {key, mix64(key)};
        uint8_t b[16];
        for (int k = 0; k < 16; k++)
            b[k] = (uint8_t)(w[k / 8] >> (k % 8 * 8));
        return weir_column_append_bytes(c, b, 1 + (size_t)((key >> 32) % 16));
    }
    case WEIR_TYPE_DATE:
        return weir_column_append_i32(c, date_of(i, key));
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        return weir_column_append_i64(c, timestamp_of(i, key));
    case WEIR_TYPE_STRUCT: {
        int rc = 0;
        for (size_t k = 0; k < g->nchildren && rc == 0; k++)
            rc = gen_value(&c->children[k], &g->children[k], i, mix64(key ^ g->children[k].salt));
        return rc == 0 ? weir_column_append_struct(c, true) : rc;
    }
    case WEIR_TYPE_ARRAY:
    case WEIR_TYPE_MAP:
        return gen_list(c, g, i, key);
    }
    return WEIR_EINVAL;
}

/* ------------------------------------------------------------ offsets */

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

/* Strict {"rows":N}, N a non-negative int64. */
static int parse_rows(const struct datagen *d, const char *what, const char *json, int64_t *out,
                      struct weir_error *err)
{
    const char *s = json ? skip_ws(json) : NULL;
    uint64_t v = 0;
    bool ok = s != NULL && *s == '{';
    if (ok) {
        s = skip_ws(s + 1);
        ok = strncmp(s, "\"rows\"", 6) == 0;
    }
    if (ok) {
        s = skip_ws(s + 6);
        ok = *s == ':';
    }
    if (ok) {
        s = skip_ws(s + 1);
        ok = *s >= '0' && *s <= '9';
        for (; ok && *s >= '0' && *s <= '9'; s++) {
            v = v * 10 + (uint64_t)(*s - '0');
            ok = v <= (uint64_t)INT64_MAX;
        }
    }
    if (ok) {
        s = skip_ws(s);
        ok = *s == '}' && *skip_ws(s + 1) == '\0';
    }
    if (!ok)
        return weir_error_set(err, WEIR_EPARSE, "%s: %s offset '%.80s' is not {\"rows\":N}",
                              d->base.description, what, json ? json : "(null)");
    *out = (int64_t)v;
    return 0;
}

static char *format_rows(int64_t n)
{
    return weir_asprintf("{\"rows\":%" PRId64 "}", n);
}

/* ------------------------------------------------------------ ops */

static int dg_initial(struct weir_source *s, char **out, struct weir_error *err)
{
    *out = format_rows(0);
    return *out ? 0 : weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", s->description);
}

static int64_t sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int dg_plan(struct weir_source *s, const char *start_json, const char *cap_json, bool available_now,
                   struct weir_source_plan *out, struct weir_error *err)
{
    struct datagen *d = (struct datagen *)s;
    (void)available_now; /* with a rate the end is already what is due now */
    memset(out, 0, sizeof *out);
    int64_t start = 0, cap = INT64_MAX, end, latest;
    int rc = parse_rows(d, "start", start_json, &start, err);
    if (rc == 0 && cap_json != NULL)
        rc = parse_rows(d, "cap", cap_json, &cap, err);
    if (rc != 0)
        return rc;
    if (d->run_start < 0)
        d->run_start = start;
    if (d->rate > 0) {
        int64_t elapsed_ns = weir_mono_ns() - d->created_ns;
        if (elapsed_ns < 0)
            elapsed_ns = 0;
        unsigned __int128 due = (unsigned __int128)d->rate * (uint64_t)elapsed_ns / 1000000000u;
        end = latest = due > (unsigned __int128)INT64_MAX ? INT64_MAX : sat_add(d->run_start, (int64_t)due);
        if (end < start)
            end = start;
        if (d->max_per_trigger > 0 && end - start > d->max_per_trigger)
            end = start + d->max_per_trigger;
    } else {
        end = latest = sat_add(start, d->max_per_trigger > 0 ? d->max_per_trigger : DG_DEFAULT_TRIGGER);
        if (d->max_rows > 0)
            latest = d->max_rows;
    }
    if (d->max_rows > 0 && end > d->max_rows)
        end = d->max_rows;
    if (d->max_rows > 0 && latest > d->max_rows)
        latest = d->max_rows;
    if (end > cap)
        end = cap;
    if (end < start)
        end = start;
    if (latest < end)
        latest = end;
    out->end = format_rows(end);
    out->latest = format_rows(latest);
    if (out->end == NULL || out->latest == NULL) {
        weir_source_plan_clear(out);
        return weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", s->description);
    }
    out->has_data = end > start;
    out->num_offsets = end - start;
    return 0;
}

static int dg_read(struct weir_source *s, const char *start_json, const char *end_json,
                   weir_source_emit_cb cb, void *ctx, struct weir_error *err)
{
    struct datagen *d = (struct datagen *)s;
    int64_t start = 0, end = 0;
    int rc = parse_rows(d, "start", start_json, &start, err);
    if (rc == 0)
        rc = parse_rows(d, "end", end_json, &end, err);
    if (rc != 0)
        return rc;
    if (end < start)
        return weir_error_set(err, WEIR_EINVAL, "%s: end offset %" PRId64 " is before start offset %" PRId64,
                              s->description, end, start);
    struct weir_batch *b = d->batch;
    for (int64_t pos = start; pos < end;) {
        size_t n = (size_t)(end - pos < DG_BATCH_ROWS ? end - pos : DG_BATCH_ROWS);
        weir_batch_clear(b);
        for (size_t k = 0; k < b->ncolumns && rc == 0; k++) {
            struct weir_column *c = &b->columns[k];
            const struct gen_node *g = &d->root.children[k];
            rc =
                weir_column_reserve(c, n, g->strtab ? n * (g->stroff[DG_STR_VALUES] / DG_STR_VALUES + 2) : 0);
            for (size_t r = 0; r < n && rc == 0; r++) {
                uint64_t i = (uint64_t)pos + r;
                rc = gen_value(c, g, i, mix64(g->salt ^ i * GOLDEN));
            }
        }
        if (rc == 0)
            rc = weir_batch_finish_rows(b);
        if (rc != 0)
            return weir_error_set(err, rc, "%s: generating rows %" PRId64 "..%" PRId64 ": %s", s->description,
                                  pos, pos + (int64_t)n - 1, weir_strerror(rc));
        rc = cb(ctx, b, err);
        if (rc != 0)
            return rc;
        pos += (int64_t)n;
    }
    return 0;
}

static void dg_destroy(struct weir_source *s)
{
    struct datagen *d = (struct datagen *)s;
    if (d == NULL)
        return;
    node_free(&d->root);
    weir_batch_destroy(d->batch);
    weir_type_destroy(d->schema);
    weir_free(d->base.description);
    weir_free(d);
}

static const struct weir_source_ops datagen_ops = {
    .initial = dg_initial,
    .plan = dg_plan,
    .read = dg_read,
    .commit = NULL,
    .metrics = NULL,
    .destroy = dg_destroy,
};

int weir_source_datagen_create(const struct weir_config_pipeline *p, struct weir_source **out,
                               struct weir_error *err)
{
    *out = NULL;
    const struct weir_config_datagen *c = &p->datagen;
    const char *name = p->name ? p->name : "";
    if (c->rows_per_second < 0 || c->max_rows < 0 || c->max_rows_per_trigger < 0)
        return weir_error_set(err, WEIR_ECONFIG,
                              "pipeline '%s': source.datagen: rows_per_second, max_rows and "
                              "max_rows_per_trigger must not be negative",
                              name);
    if (c->schema == NULL || c->schema[0] == '\0')
        return weir_error_set(err, WEIR_ECONFIG, "pipeline '%s': source.datagen.schema is required", name);
    int rc = 0;
    struct datagen *d = weir_calloc(1, sizeof *d);
    if (d == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "pipeline '%s': datagen: out of memory", name);
    d->base.ops = &datagen_ops;
    d->base.pipeline = p->name;
    d->rate = c->rows_per_second;
    d->seed = c->seed;
    d->max_rows = c->max_rows;
    d->max_per_trigger = c->max_rows_per_trigger;
    d->run_start = -1;
    d->base.description =
        weir_asprintf("DatagenSource[rowsPerSecond=%" PRId64 ", seed=%" PRId64 "]", d->rate, d->seed);
    if (d->base.description == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "pipeline '%s': datagen: out of memory", name);
        goto fail;
    }
    rc = weir_schema_parse(c->schema, &d->schema, err);
    if (rc != 0) {
        weir_error_prefix(err, "pipeline '%s': source.datagen.schema", name);
        goto fail;
    }
    if (d->schema->kind != WEIR_TYPE_STRUCT || d->schema->nfields == 0) {
        rc = weir_error_set(err, WEIR_ECONFIG, "pipeline '%s': source.datagen.schema has no columns", name);
        goto fail;
    }
    d->base.schema = d->schema;
    uint64_t counter = 0;
    rc = node_build(&d->root, d->schema, "", false, d->seed, &counter);
    if (rc == 0) {
        d->batch = weir_batch_create(d->schema);
        if (d->batch == NULL)
            rc = WEIR_ENOMEM;
    }
    if (rc != 0) {
        rc = weir_error_set(err, rc, "pipeline '%s': datagen: out of memory", name);
        goto fail;
    }
    for (size_t k = 0; k < d->schema->nfields; k++) {
        const struct weir_field *f = &d->schema->fields[k];
        if ((f->type->kind == WEIR_TYPE_LONG || f->type->kind == WEIR_TYPE_INTEGER) &&
            strcasecmp(f->name, "id") == 0)
            d->root.children[k].is_id = true;
    }
    d->created_ns = weir_mono_ns();
    *out = &d->base;
    return 0;
fail:
    dg_destroy(&d->base);
    return rc;
}
