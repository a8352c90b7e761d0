/* delta/merge.c - MERGE (upsert by key) as one copy-on-write commit.
 *
 * Owns the commit of a writer in mode merge (delta.h, WEIR_DELTA_MERGE):
 *
 *   1. The added rows are indexed by their key (core/keymap.h encoding,
 *      null-safe); among rows with equal keys the last one wins.
 *   2. Pruning: a live file is read only if some added key lies inside
 *      the file's bounds on every key column: minValues/maxValues and
 *      nullCount from add.stats, or its partition value for a partition
 *      column. Before the per-key test, the bounding box of all added keys
 *      rules out files that cannot overlap at all. Bounds are used only
 *      where they are exact enough to be safe: integers within 2^53,
 *      dates, timestamps (stats hold milliseconds truncated down, so the
 *      max is widened by 999 us), doubles (written to round-trip), and
 *      strings (a max of 32 or more
 *      characters without the U+10FFFF tie-breaker may be a cut prefix and
 *      bounds nothing). Other types, and files without stats, are read.
 *   3. Each file read has its key columns scanned; a file holding none of
 *      the keys stays as it is. A file holding some is rewritten: its
 *      other rows are copied into new files, and it is removed.
 *   4. The winning added rows are written like an append, and one commit
 *      holds the removes, the adds, the txn and commitInfo "MERGE".
 *
 * The key -> file index (merge_group, merge_hints): the caller keeps, per
 * key, the group of the files holding its row (add.tags "weir.group").
 * Groups are stable: a rewritten file's kept rows go to new files of its
 * group, and the added rows to files of the merge's new group. The files
 * of the hinted groups are read first; the stats search of step 2 then
 * runs only if some key had no hint or was not found there (a file
 * rewritten by someone else, e.g. an OPTIMIZE, loses its tag), so a stale
 * index costs time, never a row. It pays where stats cannot prune: keys
 * without order in the data (UUIDs), updates of few files.
 *
 * Change data (merge_actions): each added row upserts, deletes, sets one
 * column of the row it matches (a soft delete, or closing an SCD2
 * version), or is appended without matching (an SCD2 history row); with
 * merge_current_column only table rows where that column is null match.
 * merge_truncate clears the table first (removes every file, or sets the
 * column on every current row).
 *
 * The commit reads the whole table (a concurrent data change conflicts),
 * but a concurrent OPTIMIZE only conflicts when it removed a file this
 * merge also removed. On a conflict the new files are deleted and the
 * merge starts over from a new begin (which also notices when a winner
 * already committed our txn).
 *
 * Memory: the added rows and their key index; one row group of one file
 * at a time; the rewritten rows go through the writer's bounded buffers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/keymap.h"
#include "core/log.h"
#include "delta/delta_int.h"
#include "delta/write_int.h"

/* A key column. */
struct mkey {
    const char *name; /* the table's spelling */
    const struct weir_type *type;
    int si;     /* index in the added rows' schema */
    int di;     /* index in the key read schema (data columns), -1 for a partition column */
    int pi;     /* index in the partition value batch, -1 for a data column */
    int full;   /* index in the writer's data schema (data columns) */
    bool prune; /* bounds of this type can rule files out */
};

/* A value normalized for bound comparisons. */
enum nv_kind { NV_NONE, NV_NULL, NV_INT, NV_DBL, NV_STR };
struct nv {
    enum nv_kind k;
    int64_t i;
    double d;
    const uint8_t *p;
    size_t n;
};

/* One file's bounds on one key column. */
struct fbound {
    struct nv lo, hi; /* NV_NONE: unbounded */
    int64_t nulls;    /* nullCount, -1 unknown */
    int64_t rows;     /* numRecords, -1 unknown */
};

struct merge {
    struct weir_delta_writer *w;
    const struct weir_delta_snapshot *snap; /* NULL when the table is new */
    struct weir_delta_snapshot *own_snap;
    struct weir_batch *src;
    struct mkey *keys;
    size_t nk;
    struct weir_keymap idx;  /* added keys -> ids */
    uint32_t *win;           /* per id: the winning added row */
    struct nv *sv;           /* per id x key column */
    struct nv *blo, *bhi;    /* the added keys' box per key column (NV_NONE: no value) */
    bool *bnull;             /* some added key is null in the column */
    uint64_t *kbits;         /* one integer key: bit v - kbase set for each added key v; NULL: none */
    int64_t kbase, klast;    /* the added keys' min and max */
    struct weir_type *kread; /* the data key columns, for the key scan */
    struct weir_type *pvs;   /* the partition key columns */
    struct weir_batch *pvb;  /* one row: the current file's partition key values */
    struct weir_buf kb;
    char *scratch;                          /* string bounds copied out of cJSON */
    int64_t updated, copied, bytes_removed; /* updated: table rows replaced */
    uint8_t *matched;                       /* per added key: it replaced some row */
    int64_t keys_matched;
    size_t files_read;
    /* change data */
    const uint8_t *act; /* per added row, NULL: all upserts */
    int set_full;       /* merge_set_column in the data schema, -1 */
    int set_src;        /* ... and in the added rows */
    int cur_di;         /* merge_current_column in kread, -1 */
    int cur_full;       /* ... and in the data schema */
    int64_t trunc_row;  /* merge_truncate: -1, or the row whose set column closes current rows */
    bool trunc;
    int64_t deleted, inserted;
    /* the key -> file index (merge_group, merge_hints) */
    const uint64_t *hints; /* per added row, NULL: none */
    uint64_t *hgroups;     /* the hinted groups, sorted, distinct */
    size_t nhgroups;
    uint8_t *done;  /* per snapshot file: read by hint */
    size_t by_hint; /* files read by hint */
};

static int action_of(const struct merge *m, size_t row)
{
    return m->act ? m->act[row] : WEIR_MERGE_UPSERT;
}

static int cmp_nv(const struct nv *a, const struct nv *b)
{
    switch (a->k) {
    case NV_INT:
        return a->i < b->i ? -1 : a->i > b->i;
    case NV_DBL:
        return a->d < b->d ? -1 : a->d > b->d;
    case NV_STR: {
        size_t n = a->n < b->n ? a->n : b->n;
        int c = n ? memcmp(a->p, b->p, n) : 0;
        return c ? c : a->n < b->n ? -1 : a->n > b->n;
    }
    default:
        return 0;
    }
}

static bool prunable(enum weir_type_kind k)
{
    switch (k) {
    case WEIR_TYPE_BYTE:
    case WEIR_TYPE_SHORT:
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_LONG:
    case WEIR_TYPE_DATE:
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
    case WEIR_TYPE_DOUBLE:
    case WEIR_TYPE_STRING:
        return true;
    default: /* FLOAT too: its stats are rounded decimal text, not the float's exact value */
        return false;
    }
}

/* Value r of c (a prunable kind) normalized. */
static struct nv nv_of(const struct weir_column *c, size_t r)
{
    struct nv v = {.k = NV_NULL};
    if (!weir_column_is_valid(c, r))
        return v;
    switch (c->type->kind) {
    case WEIR_TYPE_BYTE:
        v.k = NV_INT, v.i = ((const int8_t *)c->data)[r];
        break;
    case WEIR_TYPE_SHORT:
        v.k = NV_INT, v.i = ((const int16_t *)c->data)[r];
        break;
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_DATE:
        v.k = NV_INT, v.i = weir_column_i32(c, r);
        break;
    case WEIR_TYPE_LONG:
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        v.k = NV_INT, v.i = weir_column_i64(c, r);
        break;
    case WEIR_TYPE_FLOAT:
        v.k = NV_DBL, v.d = ((const float *)c->data)[r];
        break;
    case WEIR_TYPE_DOUBLE:
        v.k = NV_DBL, v.d = weir_column_f64(c, r);
        break;
    case WEIR_TYPE_STRING:
        v.k = NV_STR, v.p = weir_column_bytes(c, r, &v.n);
        break;
    default:
        v.k = NV_NONE;
    }
    if (v.k == NV_DBL && isnan(v.d))
        v.k = NV_NONE; /* NaN orders after everything in stats-less ways: never prune on it */
    return v;
}

/* A stats bound (minValues / maxValues entry) normalized for type t. */
static struct nv nv_stat(const cJSON *j, const struct weir_type *t, bool is_max)
{
    struct nv v = {.k = NV_NONE};
    if (!j)
        return v;
    switch (t->kind) {
    case WEIR_TYPE_BYTE:
    case WEIR_TYPE_SHORT:
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_LONG:
        if (cJSON_IsNumber(j) && fabs(j->valuedouble) < 9007199254740992.0)
            v.k = NV_INT, v.i = (int64_t)j->valuedouble;
        break;
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE:
        if (cJSON_IsNumber(j) && !isnan(j->valuedouble))
            v.k = NV_DBL, v.d = j->valuedouble;
        break;
    case WEIR_TYPE_DATE: {
        int64_t us;
        if (cJSON_IsString(j) && dl_parse_timestamp(j->valuestring, &us) == 0)
            v.k = NV_INT, v.i = us / 86400000000LL - (us % 86400000000LL < 0);
        break;
    }
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ: {
        int64_t us;
        if (cJSON_IsString(j) && dl_parse_timestamp(j->valuestring, &us) == 0)
            v.k = NV_INT, v.i = is_max ? us + 999 : us;
        break;
    }
    case WEIR_TYPE_STRING:
        if (cJSON_IsString(j)) {
            const uint8_t *s = (const uint8_t *)j->valuestring;
            size_t n = strlen(j->valuestring), cps = 0;
            for (size_t i = 0; i < n; i++)
                cps += (s[i] & 0xC0) != 0x80;
            bool tie = n >= 4 && memcmp(s + n - 4, "\xF4\x8F\xBF\xBF", 4) == 0;
            if (!is_max || tie || cps < 32)
                v.k = NV_STR, v.p = s, v.n = n;
        }
        break;
    default:
        break;
    }
    return v;
}

/* May a value v lie in bounds b? */
static bool in_bounds(const struct nv *v, const struct fbound *b)
{
    if (v->k == NV_NONE)
        return true;
    if (v->k == NV_NULL)
        return b->nulls != 0;
    if (b->nulls >= 0 && b->rows >= 0 && b->nulls >= b->rows)
        return false; /* only nulls */
    if (b->lo.k == v->k && cmp_nv(v, &b->lo) < 0)
        return false;
    if (b->hi.k == v->k && cmp_nv(v, &b->hi) > 0)
        return false;
    return true;
}

/* ------------------------------------------------------------ setup */

int dl_merge_check(const struct weir_delta_writer *w, struct weir_error *err)
{
    const struct weir_delta_write_options *o = &w->opts;
    if (o->n_merge_keys == 0)
        return weir_error_set(err, WEIR_EINVAL, "%s: merge needs key columns", w->t->root);
    for (size_t k = 0; k < o->n_merge_keys; k++) {
        const char *name = o->merge_keys[k];
        int ti = weir_type_field_index(w->table_schema, name);
        int si = weir_type_field_index(w->in_schema, name);
        if (ti < 0 || si < 0)
            return weir_error_set(err, WEIR_ESCHEMA, "%s: merge key '%s' is not a column of the %s",
                                  w->t->root, name, ti < 0 ? "table" : "rows to merge");
        const struct weir_type *tt = w->table_schema->fields[ti].type;
        if (!weir_type_is_primitive(tt))
            return weir_error_set(err, WEIR_ESCHEMA, "%s: merge key '%s' must have a primitive type, not %s",
                                  w->t->root, name, weir_type_kind_name(tt->kind));
        if (!weir_type_equal(tt, w->in_schema->fields[si].type)) {
            char *a = weir_type_to_display(tt), *b = weir_type_to_display(w->in_schema->fields[si].type);
            int rc =
                weir_error_set(err, WEIR_ESCHEMA, "%s: merge key '%s' is %s in the table but %s in the rows",
                               w->t->root, name, a ? a : "?", b ? b : "?");
            weir_free(a);
            weir_free(b);
            return rc;
        }
        for (size_t j = 0; j < k; j++)
            if (strcasecmp(o->merge_keys[j], name) == 0)
                return weir_error_set(err, WEIR_EINVAL, "%s: merge key '%s' is given twice", w->t->root,
                                      name);
    }
    return 0;
}

static bool is_part_col(const struct weir_delta_writer *w, const char *name)
{
    for (size_t k = 0; k < w->npart; k++)
        if (strcasecmp(w->part_cols[k], name) == 0)
            return true;
    return false;
}

static void merge_free(struct merge *m)
{
    weir_keymap_free(&m->idx);
    weir_free(m->keys);
    weir_free(m->win);
    weir_free(m->matched);
    weir_free(m->sv);
    weir_free(m->blo);
    weir_free(m->bhi);
    weir_free(m->bnull);
    weir_free(m->kbits);
    weir_free(m->hgroups);
    weir_free(m->done);
    weir_type_destroy(m->kread);
    weir_type_destroy(m->pvs);
    weir_batch_destroy(m->pvb);
    weir_buf_free(&m->kb);
    weir_delta_snapshot_destroy(m->own_snap);
}

static int add_field(struct weir_type *st, const struct weir_field *f)
{
    struct weir_type *ft = weir_type_clone(f->type);
    if (!ft || weir_type_struct_add(st, f->name, ft, true, NULL)) {
        weir_type_destroy(ft);
        return WEIR_ENOMEM;
    }
    return 0;
}

/* Key columns, key read schemas and the snapshot the writer began on. */
static int merge_setup(struct merge *m, struct weir_error *err)
{
    struct weir_delta_writer *w = m->w;
    const struct weir_delta_write_options *o = &w->opts;
    m->nk = o->n_merge_keys;
    if (!(m->keys = weir_calloc(m->nk, sizeof(*m->keys))) || !(m->kread = weir_type_struct()) ||
        !(m->pvs = weir_type_struct()))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (size_t k = 0; k < m->nk; k++) {
        struct mkey *mk = &m->keys[k];
        const struct weir_field *f =
            &w->table_schema->fields[weir_type_field_index(w->table_schema, o->merge_keys[k])];
        mk->name = f->name;
        mk->type = f->type;
        mk->si = weir_type_field_index(w->in_schema, f->name);
        mk->prune = prunable(f->type->kind);
        mk->di = mk->pi = -1;
        struct weir_type *into = is_part_col(w, f->name) ? m->pvs : m->kread;
        if (into == m->pvs) {
            mk->pi = (int)m->pvs->nfields;
        } else {
            mk->di = (int)m->kread->nfields;
            mk->full = weir_type_field_index(w->data_schema, f->name);
        }
        if (add_field(into, f))
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    m->set_full = m->set_src = m->cur_di = m->cur_full = -1;
    m->act = o->merge_actions;
    m->trunc = o->merge_truncate;
    m->trunc_row = o->merge_truncate ? o->merge_truncate_row : -1;
    if (m->act && o->n_merge_actions != m->src->nrows)
        return weir_error_set(err, WEIR_EINVAL, "%s: %zu merge actions for %zu rows", w->t->root,
                              o->n_merge_actions, m->src->nrows);
    m->hints = o->merge_hints;
    if (m->hints && o->n_merge_hints != m->src->nrows)
        return weir_error_set(err, WEIR_EINVAL, "%s: %zu merge hints for %zu rows", w->t->root,
                              o->n_merge_hints, m->src->nrows);
    if (o->merge_set_column) {
        m->set_full = weir_type_field_index(w->data_schema, o->merge_set_column);
        m->set_src = weir_type_field_index(w->in_schema, o->merge_set_column);
        if (m->set_full < 0 || m->set_src < 0 ||
            weir_type_value_width(w->data_schema->fields[m->set_full].type) == 0)
            return weir_error_set(err, WEIR_ESCHEMA,
                                  "%s: merge column '%s' must be a data column of fixed width in the table "
                                  "and the rows",
                                  w->t->root, o->merge_set_column);
    }
    if (o->merge_current_column) {
        m->cur_full = weir_type_field_index(w->data_schema, o->merge_current_column);
        if (m->cur_full < 0)
            return weir_error_set(err, WEIR_ESCHEMA,
                                  "%s: merge column '%s' is not a data column of the table", w->t->root,
                                  o->merge_current_column);
        m->cur_di = (int)m->kread->nfields;
        if (add_field(m->kread, &w->data_schema->fields[m->cur_full]))
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    if ((m->act || m->trunc_row >= 0) && m->set_full < 0)
        for (size_t r = 0; r < m->src->nrows; r++)
            if (action_of(m, r) == WEIR_MERGE_SET || (int64_t)r == m->trunc_row)
                return weir_error_set(err, WEIR_EINVAL, "%s: a merge action sets a column but none is named",
                                      w->t->root);
    if (m->pvs->nfields && !(m->pvb = weir_batch_create(m->pvs)))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    if (w->read_version < 0)
        return 0;
    struct weir_delta_table *t = w->t;
    if (t->write_cache && weir_delta_snapshot_version(t->write_cache) == w->read_version) {
        m->snap = t->write_cache;
        return 0;
    }
    int rc = weir_delta_snapshot_load(t, w->read_version, &m->own_snap, err);
    m->snap = m->own_snap;
    return rc;
}

/* The value of integer column c at row r; false when null or not an integer kind. */
static bool int_key(const struct weir_column *c, size_t r, int64_t *v)
{
    if (!weir_column_is_valid(c, r))
        return false;
    switch (c->type->kind) {
    case WEIR_TYPE_BYTE:
        *v = ((const int8_t *)c->data)[r];
        return true;
    case WEIR_TYPE_SHORT:
        *v = ((const int16_t *)c->data)[r];
        return true;
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_DATE:
        *v = weir_column_i32(c, r);
        return true;
    case WEIR_TYPE_LONG:
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        *v = weir_column_i64(c, r);
        return true;
    default:
        return false;
    }
}

#define KBITS_MAX (1ull << 27) /* 16 MiB of bits */

/* One non-null integer key column spanning at most KBITS_MAX values: a
 * bitset of the added keys lets the file scans skip most rows without
 * hashing them. */
static int key_bits(struct merge *m)
{
    const struct weir_batch *s = m->src;
    if (m->nk != 1 || m->keys[0].di < 0 || m->idx.n == 0 || m->bnull[0])
        return 0;
    const struct weir_column *c = &s->columns[m->keys[0].si];
    int64_t lo = INT64_MAX, hi = INT64_MIN, v;
    for (size_t id = 0; id < m->idx.n; id++) {
        if (!int_key(c, m->win[id], &v))
            return 0;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if ((uint64_t)hi - (uint64_t)lo >= KBITS_MAX)
        return 0;
    size_t words = (size_t)(((uint64_t)hi - (uint64_t)lo) / 64 + 1);
    if (!(m->kbits = weir_calloc(words, sizeof(uint64_t))))
        return WEIR_ENOMEM;
    for (size_t id = 0; id < m->idx.n; id++) {
        int_key(c, m->win[id], &v);
        uint64_t bit = (uint64_t)v - (uint64_t)lo;
        m->kbits[bit / 64] |= 1ull << (bit % 64);
    }
    m->kbase = lo;
    m->klast = hi;
    return 0;
}

/* With kbits: false when row r of the table's key column c holds none of
 * the added keys for sure; true when it may (the key index decides). */
static inline bool key_maybe(const struct merge *m, const struct weir_column *c, size_t r)
{
    int64_t v;
    if (!int_key(c, r, &v) || v < m->kbase || v > m->klast)
        return false; /* the added keys hold no null */
    uint64_t bit = (uint64_t)v - (uint64_t)m->kbase;
    return (m->kbits[bit / 64] >> (bit % 64)) & 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The groups the winning added rows' hints name, sorted and distinct. */
static int hint_groups(struct merge *m)
{
    if (!m->hints || m->trunc || m->idx.n == 0)
        return 0;
    if (!(m->hgroups = weir_malloc(m->idx.n * sizeof(uint64_t))))
        return WEIR_ENOMEM;
    size_t n = 0;
    for (size_t id = 0; id < m->idx.n; id++)
        if (m->hints[m->win[id]])
            m->hgroups[n++] = m->hints[m->win[id]];
    qsort(m->hgroups, n, sizeof(uint64_t), cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || m->hgroups[u - 1] != m->hgroups[i])
            m->hgroups[u++] = m->hgroups[i];
    m->nhgroups = u;
    return 0;
}

static bool hinted(const struct merge *m, const struct weir_delta_add *a)
{
    uint64_t g = m->nhgroups ? dl_add_group(a) : 0;
    return g && bsearch(&g, m->hgroups, m->nhgroups, sizeof(uint64_t), cmp_u64);
}

/* The key index over the added rows, their normalized key values and box. */
static int merge_index(struct merge *m, struct weir_error *err)
{
    const struct weir_batch *s = m->src;
    size_t nk = m->nk;
    if (s->nrows > UINT32_MAX)
        return weir_error_set(err, WEIR_ERANGE, "%s: more than 2^32 rows in one merge", m->w->t->root);
    if (!(m->win = weir_malloc((s->nrows ? s->nrows : 1) * sizeof(uint32_t))))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (size_t r = 0; r < s->nrows; r++) {
        size_t id;
        bool added;
        if (action_of(m, r) == WEIR_MERGE_APPEND || action_of(m, r) == WEIR_MERGE_IGNORE)
            continue;
        m->kb.len = 0;
        for (size_t k = 0; k < nk; k++)
            if (weir_key_append(&m->kb, &s->columns[m->keys[k].si], r))
                return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        if (weir_keymap_put(&m->idx, m->kb.data, m->kb.len, &id, &added))
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        m->win[id] = (uint32_t)r; /* the last row wins */
    }
    size_t n = m->idx.n;
    if (!(m->matched = weir_calloc(n + 1, 1)) || !(m->sv = weir_calloc(n * nk + 1, sizeof(struct nv))) ||
        !(m->blo = weir_calloc(nk, sizeof(struct nv))) || !(m->bhi = weir_calloc(nk, sizeof(struct nv))) ||
        !(m->bnull = weir_calloc(nk, sizeof(bool))))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (size_t k = 0; k < nk; k++) {
        const struct weir_column *c = &s->columns[m->keys[k].si];
        for (size_t id = 0; id < n; id++) {
            struct nv v = m->keys[k].prune ? nv_of(c, m->win[id]) : (struct nv){.k = NV_NONE};
            m->sv[id * nk + k] = v;
            if (v.k == NV_NULL)
                m->bnull[k] = true;
            else if (v.k == NV_NONE)
                m->keys[k].prune = false; /* a NaN: this column bounds nothing */
            else {
                if (m->blo[k].k == NV_NONE || cmp_nv(&v, &m->blo[k]) < 0)
                    m->blo[k] = v;
                if (m->bhi[k].k == NV_NONE || cmp_nv(&v, &m->bhi[k]) > 0)
                    m->bhi[k] = v;
            }
        }
    }
    if (key_bits(m) || hint_groups(m))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    return 0;
}

/* ------------------------------------------------------------ pruning */

static const char *pv_value(const struct weir_delta_add *a, const char *name)
{
    for (size_t i = 0; i < a->n_partition_values; i++)
        if (strcasecmp(a->partition_values[i].key, name) == 0)
            return a->partition_values[i].value;
    return NULL;
}

/* The file's partition key values into m->pvb (one row). */
static int load_pv(struct merge *m, const struct weir_delta_add *a, struct weir_error *err)
{
    if (!m->pvb)
        return 0;
    weir_batch_clear(m->pvb);
    for (size_t k = 0; k < m->pvs->nfields; k++) {
        const char *name = m->pvs->fields[k].name;
        int rc = weir_delta_partition_value_append(&m->pvb->columns[k], pv_value(a, name), err);
        if (rc) {
            weir_error_prefix(err, "%s: partition column '%s'", a->path, name);
            return rc;
        }
    }
    return weir_batch_finish_rows(m->pvb);
}

static const cJSON *stat_of(const cJSON *stats, const char *group, const char *name)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(stats, group);
    if (!cJSON_IsObject(g))
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, name);
    for (const cJSON *it = g->child; !v && it; it = it->next) /* column names match case-insensitively */
        if (it->string && strcasecmp(it->string, name) == 0)
            v = it;
    return v;
}

/* Might file a hold one of the added keys? b is scratch of nk bounds. */
static bool may_hold(struct merge *m, const struct weir_delta_add *a, struct fbound *b)
{
    size_t nk = m->nk;
    cJSON *stats = a->stats ? cJSON_Parse(a->stats) : NULL;
    const cJSON *nr = cJSON_GetObjectItemCaseSensitive(stats, "numRecords");
    int64_t rows = cJSON_IsNumber(nr) ? (int64_t)nr->valuedouble : -1;
    bool any_bound = false;
    for (size_t k = 0; k < nk; k++) {
        const struct mkey *mk = &m->keys[k];
        struct fbound *f = &b[k];
        f->lo.k = f->hi.k = NV_NONE;
        f->nulls = -1;
        f->rows = rows;
        if (!mk->prune)
            continue;
        if (mk->pi >= 0) {
            struct nv v = nv_of(&m->pvb->columns[mk->pi], 0);
            f->rows = 1; /* as if one row: the partition value is every row's */
            f->nulls = v.k == NV_NULL;
            if (v.k != NV_NULL)
                f->lo = f->hi = v;
            any_bound = true;
            continue;
        }
        const cJSON *nc = stat_of(stats, "nullCount", mk->name);
        if (cJSON_IsNumber(nc))
            f->nulls = (int64_t)nc->valuedouble;
        f->lo = nv_stat(stat_of(stats, "minValues", mk->name), mk->type, false);
        f->hi = nv_stat(stat_of(stats, "maxValues", mk->name), mk->type, true);
        any_bound |= f->lo.k != NV_NONE || f->hi.k != NV_NONE || f->nulls >= 0;
    }
    bool hold = true;
    if (!any_bound)
        goto done;
    /* the box: each column must overlap the added keys' range (or both have nulls) */
    for (size_t k = 0; k < nk && hold; k++) {
        if (!m->keys[k].prune)
            continue;
        const struct fbound *f = &b[k];
        bool nulls_meet = m->bnull[k] && f->nulls != 0;
        bool vals_meet = m->blo[k].k != NV_NONE && !(f->nulls >= 0 && f->rows >= 0 && f->nulls >= f->rows) &&
                         !(f->hi.k == m->blo[k].k && cmp_nv(&m->blo[k], &f->hi) > 0) &&
                         !(f->lo.k == m->bhi[k].k && cmp_nv(&m->bhi[k], &f->lo) < 0);
        hold = nulls_meet || vals_meet;
    }
    /* then one added key inside the bounds on every column */
    for (size_t id = 0; hold && id < m->idx.n; id++) {
        size_t k = 0;
        while (k < nk && in_bounds(&m->sv[id * nk + k], &b[k]))
            k++;
        if (k == nk)
            goto done;
    }
    hold = false;
done:
    cJSON_Delete(stats);
    return hold;
}

/* ------------------------------------------------------------ rewriting */

/* Encode the key of row r of the file into m->kb: data key columns from
 * b (read with the key schema m->kread, or with all columns: full),
 * partition ones from m->pvb. */
static int row_key(struct merge *m, const struct weir_batch *b, bool full, size_t r)
{
    m->kb.len = 0;
    for (size_t k = 0; k < m->nk; k++) {
        const struct mkey *mk = &m->keys[k];
        int rc = mk->pi >= 0 ? weir_key_append(&m->kb, &m->pvb->columns[mk->pi], 0)
                             : weir_key_append(&m->kb, &b->columns[full ? mk->full : mk->di], r);
        if (rc)
            return rc;
    }
    return 0;
}

/* Scan the key columns of file a; *hits gets how many rows hold an added key. */
static int scan_keys(struct merge *m, struct dl_data_file *f, int64_t *hits, struct weir_error *err)
{
    struct weir_batch *b = NULL;
    int rc = 0;
    *hits = 0;
    int nrg = weir_parquet_reader_num_row_groups(f->reader);
    for (int rg = 0; rg < nrg && rc == 0; rg++) {
        if ((rc = weir_parquet_reader_read_row_group(f->reader, rg, m->kread, &b, err)))
            break;
        for (size_t r = 0; r < b->nrows; r++) {
            size_t id;
            bool current = m->cur_di < 0 || !weir_column_is_valid(&b->columns[m->cur_di], r);
            if (!current)
                continue;
            if (m->trunc_row >= 0) {
                (*hits)++;
                continue;
            }
            if (m->kbits && !key_maybe(m, &b->columns[m->keys[0].di], r))
                continue;
            if ((rc = row_key(m, b, false, r))) {
                rc = weir_error_set(err, rc, "out of memory");
                break;
            }
            *hits += weir_keymap_find(&m->idx, m->kb.data, m->kb.len, &id);
        }
        weir_batch_destroy(b);
        b = NULL;
    }
    return rc;
}

/* Pick the rows of row group b (all data columns) that stay: rows[], and
 * per row sets[] (the added row giving it its set column, or UINT32_MAX);
 * *n rows, *nset of them with a set column; *changed counts the rows an
 * added key replaces, deletes or ends. Counters move only for those. */
static int pick_rows(struct merge *m, const struct weir_batch *b, uint32_t *rows, uint32_t *sets,
                     size_t *n_out, size_t *nset_out, size_t *changed, struct weir_error *err)
{
    size_t n = 0, nset = 0, nchanged = 0;
    for (size_t r = 0; r < b->nrows; r++) {
        bool current = m->cur_full < 0 || !weir_column_is_valid(&b->columns[m->cur_full], r);
        if (!current) {
            sets[n] = UINT32_MAX;
            rows[n++] = (uint32_t)r;
            continue;
        }
        size_t id;
        bool hit = false;
        if (!m->kbits || key_maybe(m, &b->columns[m->keys[0].full], r)) {
            int rc = row_key(m, b, true, r);
            if (rc)
                return weir_error_set(err, rc, "out of memory");
            hit = weir_keymap_find(&m->idx, m->kb.data, m->kb.len, &id);
        }
        if (hit) {
            nchanged++;
            m->keys_matched += !m->matched[id];
            m->matched[id] = 1;
            switch (action_of(m, m->win[id])) {
            case WEIR_MERGE_DELETE:
                m->deleted++;
                continue;
            case WEIR_MERGE_SET:
                m->updated++;
                sets[n] = m->win[id];
                rows[n++] = (uint32_t)r;
                nset++;
                continue;
            default:
                m->updated++;
                continue;
            }
        }
        sets[n] = m->trunc_row >= 0 ? (uint32_t)m->trunc_row : UINT32_MAX;
        nset += m->trunc_row >= 0;
        nchanged += m->trunc_row >= 0;
        rows[n++] = (uint32_t)r;
    }
    *n_out = n;
    *nset_out = nset;
    *changed = nchanged;
    return 0;
}

/* Give the writer rows[0..n) of row group b (rows NULL: all of them), the
 * nset rows with a set column getting it from the added rows. */
static int keep_rows(struct merge *m, const struct weir_delta_add *a, struct weir_batch *b,
                     const uint32_t *rows, const uint32_t *sets, size_t n, size_t nset,
                     struct weir_error *err)
{
    struct weir_delta_writer *w = m->w;
    struct weir_batch *kept = NULL;
    int rc = 0;
    if (n == 0)
        return 0;
    if (nset == 0) {
        if ((rc = dl_writer_add_data(w, a->partition_values, a->n_partition_values, b, rows, n, err)) == 0)
            m->copied += (int64_t)n;
        return rc;
    }
    if (weir_batch_take(b, rows, n, &kept))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (sets[i] != UINT32_MAX && (rc = weir_column_set_from(&kept->columns[m->set_full], i,
                                                                &m->src->columns[m->set_src], sets[i])) != 0)
            rc = weir_error_set(err, rc, "setting merge column: %s", weir_strerror(rc));
    if (rc == 0 &&
        (rc = dl_writer_add_data(w, a->partition_values, a->n_partition_values, kept, NULL, 0, err)) == 0)
        m->copied += (int64_t)(n - nset);
    weir_batch_destroy(kept);
    return rc;
}

/* Rewrite file a into the writer if some row group holds an added key:
 * each row group is read whole and its keys looked up once. Row groups
 * before the first that holds one are read again to be copied (a file
 * named by the index almost always holds one in its first). *hits gets
 * the rows changed; 0: nothing was given to the writer. */
static int rewrite_file(struct merge *m, struct dl_data_file *f, const struct weir_delta_add *a,
                        int64_t *hits, struct weir_error *err)
{
    struct weir_batch *b = NULL;
    uint32_t *rows = NULL, *sets = NULL;
    size_t cap = 0;
    int rc = 0, skipped = 0; /* leading row groups without an added key */
    int nrg = weir_parquet_reader_num_row_groups(f->reader);
    *hits = 0;
    for (int rg = 0; rg < nrg && rc == 0; rg++) {
        size_t n = 0, nset = 0, changed = 0;
        if ((rc = weir_parquet_reader_read_row_group(f->reader, rg, m->w->data_schema, &b, err)))
            break;
        if (b->nrows > cap) {
            weir_free(rows);
            weir_free(sets);
            cap = b->nrows;
            if (!(rows = weir_malloc(cap * sizeof(*rows))) || !(sets = weir_malloc(cap * sizeof(*sets)))) {
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                break;
            }
        }
        if ((rc = pick_rows(m, b, rows, sets, &n, &nset, &changed, err)))
            break;
        if (*hits == 0 && changed == 0) {
            skipped++;
        } else {
            for (int k = 0; k < skipped && rc == 0; k++) {
                struct weir_batch *earlier = NULL;
                if ((rc = weir_parquet_reader_read_row_group(f->reader, k, m->w->data_schema, &earlier,
                                                             err)) == 0)
                    rc = keep_rows(m, a, earlier, NULL, NULL, earlier->nrows, 0, err);
                weir_batch_destroy(earlier);
            }
            skipped = 0;
            *hits += (int64_t)changed;
            if (rc == 0)
                rc = keep_rows(m, a, b, rows, sets, n, nset, err);
        }
        weir_batch_destroy(b);
        b = NULL;
    }
    weir_batch_destroy(b);
    weir_free(rows);
    weir_free(sets);
    return rc;
}

/* numRecords of a file's stats, -1 when unknown. */
static int64_t num_records(const struct weir_delta_add *a)
{
    cJSON *stats = a->stats ? cJSON_Parse(a->stats) : NULL;
    const cJSON *nr = cJSON_GetObjectItemCaseSensitive(stats, "numRecords");
    int64_t n = cJSON_IsNumber(nr) ? (int64_t)nr->valuedouble : -1;
    cJSON_Delete(stats);
    return n;
}

/* Read file a (a candidate; by_hint: named by the key index) and rewrite
 * it when it holds added keys. */
static int merge_file(struct merge *m, const struct weir_delta_add *a, bool by_hint, struct weir_error *err)
{
    struct weir_delta_writer *w = m->w;
    struct dl_data_file f = {0};
    int64_t hits = 0;
    int rc;
    if (a->has_deletion_vector)
        return weir_error_set(err, WEIR_EUNSUPPORTED,
                              "%s: file %s has a deletion vector; merge cannot rewrite it", w->t->root,
                              a->path);
    m->files_read++;
    /* with the index on, the kept rows stay in their file's group */
    uint64_t g = w->opts.merge_group ? dl_add_group(a) : 0;
    /* a file the index names is read once; a file only stats name is
     * first scanned by its key columns, as most of those hold no key */
    if ((rc = dl_writer_set_tag(w, g, g != 0, err)) == 0 &&
        (rc = dl_data_file_open(w->t, a->path, &f, err)) == 0) {
        if (by_hint || ((rc = scan_keys(m, &f, &hits, err)) == 0 && hits))
            rc = rewrite_file(m, &f, a, &hits, err);
    }
    if (rc && f.key)
        weir_error_prefix(err, "merge: %s", f.key);
    dl_data_file_close(&f);
    if (rc || !hits)
        return rc; /* a file without added keys stays */
    if (dl_actions_remove_file(&w->acts, a, w->now, true))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    m->bytes_removed += a->size;
    return 0;
}

/* Does some added key still need the stats search: no hint, or not found
 * in the files of its hinted group? */
static bool unresolved(const struct merge *m)
{
    for (size_t id = 0; id < m->idx.n; id++)
        if (!m->hints || !m->hints[m->win[id]] || !m->matched[id])
            return true;
    return false;
}

/* Read the candidate files, rewrite those holding added keys, remove them:
 * first the files of hinted groups, then, if keys remain, the others
 * whose stats may hold them. */
static int merge_files(struct merge *m, struct weir_error *err)
{
    struct weir_delta_writer *w = m->w;
    int rc = 0;
    size_t nf = m->snap ? weir_delta_snapshot_num_files(m->snap) : 0;
    if (nf == 0 || (m->idx.n == 0 && !m->trunc))
        return 0;
    if (m->nhgroups) {
        if (!(m->done = weir_calloc(nf, 1)))
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        for (size_t i = 0; i < nf && rc == 0; i++) {
            const struct weir_delta_add *a = weir_delta_snapshot_file(m->snap, i);
            if (!hinted(m, a))
                continue;
            m->done[i] = 1;
            m->by_hint++;
            if ((rc = load_pv(m, a, err)) == 0)
                rc = merge_file(m, a, true, err);
        }
        if (rc || !unresolved(m))
            return rc;
    }
    struct fbound *b = weir_calloc(m->nk, sizeof(*b));
    if (!b)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (size_t i = 0; i < nf && rc == 0; i++) {
        const struct weir_delta_add *a = weir_delta_snapshot_file(m->snap, i);
        if (m->done && m->done[i])
            continue;
        if (m->trunc && m->trunc_row < 0) { /* every row goes, unread */
            int64_t rows = num_records(a);
            m->deleted += rows > 0 ? rows : 0;
            if (dl_actions_remove_file(&w->acts, a, w->now, true))
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            m->bytes_removed += a->size;
            continue;
        }
        if ((rc = load_pv(m, a, err)) == 0 && (m->trunc_row >= 0 || may_hold(m, a, b)))
            rc = merge_file(m, a, false, err);
    }
    weir_free(b);
    return rc;
}

/* The winning added rows, in their original order, through the append path. */
static int merge_insert(struct merge *m, struct weir_error *err)
{
    size_t n = m->src->nrows;
    struct weir_batch *b = NULL;
    if (n == 0)
        return 0;
    uint32_t *rows = weir_malloc(n * sizeof(*rows));
    uint8_t *mark = weir_calloc(n, 1);
    if (!rows || !mark) {
        weir_free(rows);
        weir_free(mark);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    /* upserting winners and appended rows, in row order: mark, then walk */
    for (size_t id = 0; id < m->idx.n; id++)
        if (action_of(m, m->win[id]) == WEIR_MERGE_UPSERT) {
            mark[m->win[id]] = 1;
            m->inserted += !m->matched[id];
        }
    size_t k = 0;
    for (size_t r = 0; r < n; r++) {
        if (action_of(m, r) == WEIR_MERGE_APPEND) {
            mark[r] = 1;
            m->inserted++;
        }
        if (mark[r])
            rows[k++] = (uint32_t)r;
    }
    weir_free(mark);
    if (k == 0) {
        weir_free(rows);
        return 0;
    }
    int rc = dl_writer_set_tag(m->w, m->w->opts.merge_group, false, err);
    if (rc == 0)
        rc = weir_batch_take(m->src, rows, k, &b) ? weir_error_set(err, WEIR_ENOMEM, "out of memory")
                                                  : dl_writer_append(m->w, b, err);
    weir_batch_destroy(b);
    weir_free(rows);
    return rc;
}

static char *merge_commit_info(const struct merge *m)
{
    struct weir_delta_writer *w = m->w;
    struct weir_buf b, pred, esc;
    char uuid[37];
    int rc = 0;
    weir_buf_init(&b);
    weir_buf_init(&pred);
    weir_buf_init(&esc);
    weir_uuid4(uuid);
    /* predicate text like Spark's: an array of conditions inside a string */
    for (size_t k = 0; k < m->nk && rc == 0; k++)
        rc = weir_buf_printf(&pred, "%starget.`%s` <=> source.`%s`", k ? " AND " : "", m->keys[k].name,
                             m->keys[k].name);
    if (rc == 0)
        rc = weir_buf_append_byte(&esc, '[');
    if (rc == 0)
        rc = dl_json_escape(&esc, (const char *)pred.data, pred.len);
    if (rc == 0)
        rc = weir_buf_append_byte(&esc, ']');
    if (rc == 0)
        rc = weir_buf_printf(
            &b, "{\"timestamp\":%lld,\"operation\":\"MERGE\",\"operationParameters\":{\"predicate\":",
            (long long)w->now);
    if (rc == 0)
        rc = dl_json_escape(&b, (const char *)esc.data, esc.len);
    int64_t inserted = m->inserted;
    if (rc == 0)
        rc = weir_buf_printf(
            &b,
            ",\"matchedPredicates\":\"[{\\\"actionType\\\":\\\"update\\\"}]\","
            "\"notMatchedPredicates\":\"[{\\\"actionType\\\":\\\"insert\\\"}]\","
            "\"notMatchedBySourcePredicates\":\"[]\"},\"readVersion\":%lld,\"isolationLevel\":"
            "\"Serializable\","
            "\"isBlindAppend\":false,\"operationMetrics\":{\"numSourceRows\":\"%zu\","
            "\"numTargetRowsInserted\":\"%lld\","
            "\"numTargetRowsUpdated\":\"%lld\",\"numTargetRowsDeleted\":\"%lld\",\"numTargetRowsCopied\":\"%"
            "lld\","
            "\"numOutputRows\":\"%lld\",\"numTargetFilesAdded\":\"%zu\",\"numTargetFilesRemoved\":\"%zu\","
            "\"numTargetBytesAdded\":\"%lld\",\"numTargetBytesRemoved\":\"%lld\"},\"engineInfo\":",
            (long long)w->read_version, m->src->nrows, (long long)inserted, (long long)m->updated,
            (long long)m->deleted, (long long)m->copied, (long long)w->rows, w->acts.n_adds,
            w->acts.n_removes, (long long)w->bytes, (long long)m->bytes_removed);
    if (rc == 0)
        rc = dl_json_escape(&b, w->engine_info, strlen(w->engine_info));
    if (rc == 0)
        rc = weir_buf_printf(&b, ",\"txnId\":\"%s\"}", uuid);
    weir_buf_free(&pred);
    weir_buf_free(&esc);
    if (rc) {
        weir_buf_free(&b);
        return NULL;
    }
    return weir_buf_detach(&b);
}

/* One attempt on writer w (freed): plan, rewrite, commit. */
static int merge_once(struct weir_delta_writer *w, struct weir_batch *src,
                      struct weir_delta_write_result *res, struct weir_error *err)
{
    struct merge m = {.w = w, .src = src};
    weir_buf_init(&m.kb);
    int rc;
    if ((rc = merge_setup(&m, err)) || (rc = merge_index(&m, err)) || (rc = merge_files(&m, err)) ||
        (rc = dl_writer_flush(w, err)) || (rc = merge_insert(&m, err)) || (rc = dl_writer_flush(w, err))) {
        weir_delta_writer_abort(w);
        goto done;
    }
    if (!(w->acts.commit_info = merge_commit_info(&m))) {
        weir_delta_writer_abort(w);
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    rc = dl_writer_commit(w, res, err);
    if (rc == 0 && !res->already_committed) {
        res->rows_updated = m.updated;
        res->rows_deleted = m.deleted;
        res->rows_inserted = m.inserted;
        res->rows_copied = m.copied;
        res->bytes_removed = m.bytes_removed;
        res->files_read = m.files_read;
        res->files_by_hint = m.by_hint;
    }
done:
    merge_free(&m);
    return rc;
}

int dl_merge_commit(struct weir_delta_writer *w, struct weir_delta_write_result *res, struct weir_error *err)
{
    struct weir_delta_table *t = w->t;
    struct weir_delta_write_options o = w->opts;
    struct weir_type *schema = weir_type_clone(w->in_schema);
    struct weir_batch *src = w->src ? w->src : weir_batch_create(w->in_schema);
    int max = o.max_retries > 0 ? o.max_retries : 100;
    int rc;
    w->src = NULL;
    if (!schema || !src) {
        weir_delta_writer_abort(w);
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    for (int attempt = 0;; attempt++) {
        rc = merge_once(w, src, res, err);
        if (rc != WEIR_ECONFLICT || attempt >= max)
            break;
        WEIR_INFO("%s: merge conflicted with a concurrent commit (%s); starting over (attempt %d of %d)",
                  t->root, err ? err->message : "conflict", attempt + 2, max + 1);
        if (err)
            weir_error_clear(err);
        if ((rc = weir_delta_writer_begin(t, schema, &o, &w, res, err)) || !w)
            break; /* an error, or a winner committed our txn */
    }
done:
    weir_batch_destroy(src);
    weir_type_destroy(schema);
    return rc;
}
