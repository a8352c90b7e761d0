/* formats/parquet/writer.c - weir_batch rows -> one Parquet file.
 *
 * Owns: a clone of the schema, the flattened Parquet schema (elements in
 * depth-first order, names pointing into the clone), one leaf per primitive
 * column with its Dremel path, and per leaf the column chunk being built for
 * the current row group: the page in progress (levels, dictionary indices or
 * PLAIN values), the finished pages of this row group (compressed, with
 * headers, in memory), the dictionary and the statistics. Finished row
 * groups keep only their footer metadata.
 *
 * Flow: write() cuts each batch into slices of rows; for every leaf it
 * computes definition/repetition levels and the indices of the non-null leaf
 * values for the slice (fast loops for flat columns, a recursive Dremel walk
 * for lists and maps), then encodes the values in one pass per slice
 * (dictionary insert or PLAIN append, statistics). A page is cut at a
 * record boundary when its estimate passes page_bytes; the dictionary falls
 * back to PLAIN for the rest of the chunk once its PLAIN size passes
 * dictionary_page_bytes; a row group is written when the buffered estimate
 * passes row_group_bytes. Each column chunk is written as [dictionary page]
 * data pages, contiguous.
 *
 * Invariants: pages end on record boundaries; dictionary-encoded pages only
 * precede PLAIN pages within a chunk; `offset` equals the bytes handed to the
 * sink. Encodings: dictionary pages PLAIN_DICTIONARY, dictionary-coded data
 * pages RLE_DICTIONARY (as pyarrow writes v1 pages; parquet-java's v1
 * writer uses PLAIN_DICTIONARY for both; Spark's VectorizedColumnReader
 * accepts either for dictionary-coded pages and, in old versions, only
 * PLAIN for the rest, booleans included; checked here with pyarrow,
 * arrow-rs and DuckDB), everything else PLAIN, levels RLE. Statistics: min_value/max_value with TYPE_ORDER
 * column orders, never the deprecated min/max (their order is undefined for strings; readers that know column
 * orders prefer the new fields, and an old reader without them only loses pruning), null_count; ints signed,
 * float/double IEEE with NaN skipped (only-NaN chunks get no min/max, zeros
 * widened to -0.0/+0.0), strings and binary unsigned bytewise, decimals
 * signed numerically; no min/max for values below a repeated field (lists,
 * maps) since not every reader agrees how to use them there. After any
 * error the writer is failed: later calls return
 * WEIR_ESTATE. One thread at a time. */
#include "formats/parquet/parquet.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "formats/parquet/compress.h"
#include "formats/parquet/encode.h"
#include "formats/parquet/meta.h"

#define PQ_CREATED_BY "weir version 0.1.0 (build weir)"
#define PQ_MAX_STEPS  64
#define PQ_SLICE_ROWS 1024

int weir_parquet_codec_from_string(const char *s)
{
    if (!s)
        return -1;
    if (!strcasecmp(s, "snappy"))
        return WEIR_PARQUET_SNAPPY;
    if (!strcasecmp(s, "zstd"))
        return WEIR_PARQUET_ZSTD;
    if (!strcasecmp(s, "gzip"))
        return WEIR_PARQUET_GZIP;
    if (!strcasecmp(s, "uncompressed") || !strcasecmp(s, "none"))
        return WEIR_PARQUET_UNCOMPRESSED;
    return -1;
}

const char *weir_parquet_codec_name(enum weir_parquet_codec c)
{
    switch (c) {
    case WEIR_PARQUET_UNCOMPRESSED:
        return "uncompressed";
    case WEIR_PARQUET_SNAPPY:
        return "snappy";
    case WEIR_PARQUET_GZIP:
        return "gzip";
    case WEIR_PARQUET_ZSTD:
        return "zstd";
    }
    return "unknown";
}

void weir_parquet_writer_options_default(struct weir_parquet_writer_options *o)
{
    memset(o, 0, sizeof *o);
    o->codec = WEIR_PARQUET_SNAPPY;
    o->compression_level = 0;
    o->row_group_bytes = (size_t)128 << 20;
    o->page_bytes = (size_t)1 << 20;
    o->dictionary_page_bytes = (size_t)1 << 20;
    o->dictionary = true;
}

/* How a leaf's batch values become Parquet physical values. */
enum vkind {
    VK_BOOL,
    VK_I8,
    VK_I16,
    VK_I32,
    VK_I64,
    VK_F32,
    VK_F64,
    VK_DEC32,
    VK_DEC64,
    VK_DECFLBA,
    VK_BYTES
};

struct step {
    const struct weir_type *type;
    bool nullable;
    int sel;       /* STRUCT: field index; MAP: 0 key, 1 value; ARRAY: 0 */
    int rep_level; /* ARRAY/MAP: repetition level of its repeated group */
};

struct stats {
    bool has;
    int64_t imin, imax;   /* ints, booleans */
    double dmin, dmax;    /* float, double */
    weir_i128 qmin, qmax; /* FLBA decimals */
    struct weir_buf bmin, bmax;
    uint64_t kmin, kmax; /* big-endian 8-byte prefixes of bmin/bmax */
};

struct chunk {
    /* page in progress */
    uint16_t *defv, *repv;
    size_t nlev, levcap;
    uint32_t *idx;
    size_t nidx, idxcap;
    struct weir_buf plain; /* PLAIN values (booleans: one byte each) */
    size_t page_nvals;
    /* column chunk of the current row group */
    struct pq_dict dict;
    bool dict_on, dict_used, plain_used;
    struct weir_buf pages; /* finished data pages, headers included */
    int64_t num_values, null_count;
    int64_t data_unc, data_comp; /* sizes of `pages` before/after compression */
    struct stats st;
};

struct leaf {
    struct step steps[PQ_MAX_STEPS];
    int nsteps;
    int top; /* index of the top-level field */
    bool repeated;
    int max_def, max_rep;
    enum vkind vk;
    enum pq_type ptype;
    int width;           /* bytes of a fixed-width physical value (FLBA: type_length) */
    weir_i128 dec_limit; /* DECIMAL: 10^precision; |unscaled| must stay below */
    struct pq_bytes *path;
    uint32_t npath;
    char *dotted; /* path for messages */
    struct chunk ch;
};

struct rg_extra {
    int32_t enc[4];
    uint8_t *stat; /* min then max bytes */
};

struct weir_parquet_writer {
    struct weir_type *schema;
    struct weir_parquet_writer_options o;
    struct weir_output sink;
    uint64_t offset;
    bool failed, closed;

    struct pq_schema_element *elems;
    size_t nelems, elemcap;
    struct leaf *leaves;
    size_t nleaves, leafcap;

    /* finished row groups */
    struct pq_row_group *rgs;
    struct rg_extra **rgx;
    size_t nrgs, rgcap;
    int64_t total_rows;
    int64_t rg_rows; /* rows buffered in the current row group */

    /* scratch, reused across slices and pages */
    uint32_t *vidx;
    size_t nvidx, vidxcap;
    struct weir_buf gather;
    struct weir_buf page, comp, hdr;
};

/* ---- small helpers ------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *np = weir_realloc(*p, c * elem);
    if (!np)
        return WEIR_ENOMEM;
    *p = np;
    *cap = c;
    return 0;
}

static struct pq_bytes bytes_of(const char *s)
{
    struct pq_bytes b = {(const uint8_t *)s, (uint32_t)strlen(s)};
    return b;
}

static int out_write(struct weir_parquet_writer *w, const void *p, size_t n, struct weir_error *err)
{
    if (n == 0)
        return 0;
    int rc = w->sink.write(w->sink.ctx, p, n, err);
    if (rc)
        return rc;
    w->offset += n;
    return 0;
}

/* ---- schema -------------------------------------------------------------- */

static int add_elem(struct weir_parquet_writer *w, struct pq_schema_element **out)
{
    if (grow((void **)&w->elems, &w->elemcap, w->nelems + 1, sizeof *w->elems))
        return WEIR_ENOMEM;
    *out = &w->elems[w->nelems++];
    memset(*out, 0, sizeof **out);
    return 0;
}

static int decimal_flba_width(int precision)
{
    /* Smallest n with 2^(8n-1) > 10^precision - 1 (Spark's table). */
    static const int table[39] = {1, 1, 1,  2,  2,  3,  3,  4,  4,  4,  5,  5,  6,  6,  6,  7,  7,  8,  8, 9,
                                  9, 9, 10, 10, 11, 11, 11, 12, 12, 13, 13, 13, 14, 14, 15, 15, 16, 16, 16};
    if (precision < 1 || precision > 38)
        return -1;
    return table[precision];
}

static int set_primitive(struct pq_schema_element *e, struct leaf *L, const struct weir_type *t,
                         const char *where, struct weir_error *err)
{
    e->has_type = true;
    switch (t->kind) {
    case WEIR_TYPE_BOOLEAN:
        e->type = PQ_BOOLEAN, L->vk = VK_BOOL, L->width = 1;
        break;
    case WEIR_TYPE_BYTE:
    case WEIR_TYPE_SHORT:
        e->type = PQ_INT32, L->width = 4;
        L->vk = t->kind == WEIR_TYPE_BYTE ? VK_I8 : VK_I16;
        e->has_converted = true;
        e->converted = t->kind == WEIR_TYPE_BYTE ? PQ_CT_INT_8 : PQ_CT_INT_16;
        e->logical.kind = PQ_LT_INTEGER;
        e->logical.bit_width = t->kind == WEIR_TYPE_BYTE ? 8 : 16;
        e->logical.is_signed = true;
        break;
    case WEIR_TYPE_INTEGER:
        e->type = PQ_INT32, L->vk = VK_I32, L->width = 4;
        break;
    case WEIR_TYPE_LONG:
        e->type = PQ_INT64, L->vk = VK_I64, L->width = 8;
        break;
    case WEIR_TYPE_FLOAT:
        e->type = PQ_FLOAT, L->vk = VK_F32, L->width = 4;
        break;
    case WEIR_TYPE_DOUBLE:
        e->type = PQ_DOUBLE, L->vk = VK_F64, L->width = 8;
        break;
    case WEIR_TYPE_DECIMAL: {
        int fw = decimal_flba_width(t->precision);
        if (fw < 0 || t->scale < 0 || t->scale > t->precision)
            return weir_error_set(err, WEIR_EUNSUPPORTED,
                                  "parquet writer: column %s: decimal(%d,%d) out of range", where,
                                  t->precision, t->scale);
        if (t->precision <= 9)
            e->type = PQ_INT32, L->vk = VK_DEC32, L->width = 4;
        else if (t->precision <= 18)
            e->type = PQ_INT64, L->vk = VK_DEC64, L->width = 8;
        else
            e->type = PQ_FIXED_LEN_BYTE_ARRAY, L->vk = VK_DECFLBA, L->width = fw, e->type_length = fw;
        L->dec_limit = 1;
        for (int k = 0; k < t->precision; k++)
            L->dec_limit *= 10;
        e->has_converted = true;
        e->converted = PQ_CT_DECIMAL;
        e->scale = t->scale;
        e->precision = t->precision;
        e->logical.kind = PQ_LT_DECIMAL;
        e->logical.scale = t->scale;
        e->logical.precision = t->precision;
        break;
    }
    case WEIR_TYPE_STRING:
        e->type = PQ_BYTE_ARRAY, L->vk = VK_BYTES, L->width = 0;
        e->has_converted = true;
        e->converted = PQ_CT_UTF8;
        e->logical.kind = PQ_LT_STRING;
        break;
    case WEIR_TYPE_BINARY:
        e->type = PQ_BYTE_ARRAY, L->vk = VK_BYTES, L->width = 0;
        break;
    case WEIR_TYPE_DATE:
        e->type = PQ_INT32, L->vk = VK_I32, L->width = 4;
        e->has_converted = true;
        e->converted = PQ_CT_DATE;
        e->logical.kind = PQ_LT_DATE;
        break;
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        e->type = PQ_INT64, L->vk = VK_I64, L->width = 8;
        e->logical.kind = PQ_LT_TIMESTAMP;
        e->logical.unit = PQ_MICROS;
        e->logical.adjusted_to_utc = t->kind == WEIR_TYPE_TIMESTAMP;
        if (t->kind == WEIR_TYPE_TIMESTAMP) {
            e->has_converted = true;
            e->converted = PQ_CT_TIMESTAMP_MICROS;
        }
        break;
    default:
        return weir_error_set(err, WEIR_EUNSUPPORTED, "parquet writer: column %s: unsupported type", where);
    }
    L->ptype = e->type;
    return 0;
}

struct build {
    struct step steps[PQ_MAX_STEPS];
    struct pq_bytes path[PQ_MAX_STEPS * 2];
    int npath;
};

static char *dotted_path(const struct pq_bytes *p, int n)
{
    struct weir_buf b;
    weir_buf_init(&b);
    for (int i = 0; i < n; i++) {
        if ((i && weir_buf_append_byte(&b, '.')) || weir_buf_append(&b, p[i].p, p[i].len)) {
            weir_buf_free(&b);
            return NULL;
        }
    }
    if (weir_buf_append_byte(&b, 0)) {
        weir_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

static int build_node(struct weir_parquet_writer *w, struct build *bd, const struct weir_type *t,
                      const char *name, bool nullable, int def, int rep, int depth, struct weir_error *err)
{
    struct pq_schema_element *e;
    int rc;
    if (depth >= PQ_MAX_STEPS || bd->npath + 2 >= PQ_MAX_STEPS * 2)
        return weir_error_set(err, WEIR_EUNSUPPORTED, "parquet writer: field %s nested deeper than %d levels",
                              name, PQ_MAX_STEPS);
    bd->steps[depth] = (struct step){t, nullable, 0, 0};
    if (nullable)
        def++;
    int np0 = bd->npath;
    bd->path[bd->npath++] = bytes_of(name);
    if ((rc = add_elem(w, &e)))
        goto fail_nomem;
    e->name = bytes_of(name);
    e->has_repetition = true;
    e->repetition = nullable ? PQ_OPTIONAL : PQ_REQUIRED;

    if (weir_type_is_primitive(t)) {
        if ((rc = grow((void **)&w->leaves, &w->leafcap, w->nleaves + 1, sizeof *w->leaves)))
            goto fail_nomem;
        struct leaf *L = &w->leaves[w->nleaves];
        memset(L, 0, sizeof *L);
        memcpy(L->steps, bd->steps, sizeof(struct step) * (size_t)(depth + 1));
        L->nsteps = depth + 1;
        L->max_def = def;
        L->max_rep = rep;
        L->repeated = rep > 0;
        L->npath = (uint32_t)bd->npath;
        L->path = weir_malloc(sizeof *L->path * (size_t)bd->npath);
        L->dotted = dotted_path(bd->path, bd->npath);
        if (!L->path || !L->dotted) {
            weir_free(L->path);
            weir_free(L->dotted);
            goto fail_nomem;
        }
        memcpy(L->path, bd->path, sizeof *L->path * (size_t)bd->npath);
        w->nleaves++; /* owns path/dotted from here on */
        if ((rc = set_primitive(e, L, t, L->dotted, err)))
            return rc;
        pq_dict_init(&L->ch.dict, L->vk == VK_BYTES ? 0 : L->width);
        weir_buf_init(&L->ch.plain);
        weir_buf_init(&L->ch.pages);
        weir_buf_init(&L->ch.st.bmin);
        weir_buf_init(&L->ch.st.bmax);
        bd->npath = np0;
        return 0;
    }
    switch (t->kind) {
    case WEIR_TYPE_STRUCT: {
        if (t->nfields == 0)
            return weir_error_set(err, WEIR_EUNSUPPORTED, "parquet writer: struct field %s has no fields",
                                  name);
        e->num_children = (int32_t)t->nfields;
        for (size_t i = 0; i < t->nfields; i++) {
            bd->steps[depth].sel = (int)i;
            rc = build_node(w, bd, t->fields[i].type, t->fields[i].name, t->fields[i].nullable, def, rep,
                            depth + 1, err);
            if (rc)
                return rc;
        }
        break;
    }
    case WEIR_TYPE_ARRAY:
    case WEIR_TYPE_MAP: {
        bool is_map = t->kind == WEIR_TYPE_MAP;
        e->num_children = 1;
        e->has_converted = true;
        e->converted = is_map ? PQ_CT_MAP : PQ_CT_LIST;
        e->logical.kind = is_map ? PQ_LT_MAP : PQ_LT_LIST;
        bd->steps[depth].rep_level = rep + 1;
        if ((rc = add_elem(w, &e)))
            goto fail_nomem;
        e->name = bytes_of(is_map ? "key_value" : "list");
        e->has_repetition = true;
        e->repetition = PQ_REPEATED;
        e->num_children = is_map ? 2 : 1;
        bd->path[bd->npath++] = e->name;
        if (is_map) {
            bd->steps[depth].sel = 0;
            rc = build_node(w, bd, t->key, "key", false, def + 1, rep + 1, depth + 1, err);
            if (rc)
                return rc;
            bd->steps[depth].sel = 1;
            rc = build_node(w, bd, t->value, "value", t->value_contains_null, def + 1, rep + 1, depth + 1,
                            err);
        } else {
            bd->steps[depth].sel = 0;
            rc = build_node(w, bd, t->element, "element", t->contains_null, def + 1, rep + 1, depth + 1, err);
        }
        if (rc)
            return rc;
        break;
    }
    default:
        return weir_error_set(err, WEIR_EUNSUPPORTED, "parquet writer: field %s: unsupported type", name);
    }
    bd->npath = np0;
    return 0;
fail_nomem:
    return weir_error_set(err, WEIR_ENOMEM, "parquet writer: out of memory building schema at %s", name);
}

/* ---- create / destroy ---------------------------------------------------- */

static void chunk_free(struct chunk *ch)
{
    weir_free(ch->defv);
    weir_free(ch->repv);
    weir_free(ch->idx);
    weir_buf_free(&ch->plain);
    pq_dict_free(&ch->dict);
    weir_buf_free(&ch->pages);
    weir_buf_free(&ch->st.bmin);
    weir_buf_free(&ch->st.bmax);
}

void weir_parquet_writer_destroy(struct weir_parquet_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nleaves; i++) {
        chunk_free(&w->leaves[i].ch);
        weir_free(w->leaves[i].path);
        weir_free(w->leaves[i].dotted);
    }
    weir_free(w->leaves);
    weir_free(w->elems);
    for (size_t r = 0; r < w->nrgs; r++) {
        for (size_t i = 0; i < w->nleaves; i++)
            weir_free(w->rgx[r][i].stat);
        weir_free(w->rgx[r]);
        weir_free(w->rgs[r].columns);
    }
    weir_free(w->rgs);
    weir_free(w->rgx);
    weir_free(w->vidx);
    weir_buf_free(&w->gather);
    weir_buf_free(&w->page);
    weir_buf_free(&w->comp);
    weir_buf_free(&w->hdr);
    weir_type_destroy(w->schema);
    weir_free(w);
}

int weir_parquet_writer_create(struct weir_parquet_writer **out, const struct weir_type *schema,
                               const struct weir_parquet_writer_options *opts, struct weir_output sink,
                               struct weir_error *err)
{
    struct weir_parquet_writer *w = NULL;
    struct pq_schema_element *root;
    struct build *bd = NULL;
    int rc = 0;
    *out = NULL;
    if (!schema || schema->kind != WEIR_TYPE_STRUCT || !sink.write) {
        rc = weir_error_set(err, WEIR_EINVAL, "parquet writer: schema must be a struct and sink must be set");
        goto done;
    }
    if (schema->nfields == 0) {
        rc = weir_error_set(err, WEIR_EUNSUPPORTED, "parquet writer: schema has no columns");
        goto done;
    }
    w = weir_calloc(1, sizeof *w);
    bd = weir_malloc(sizeof *bd);
    if (!w || !bd) {
        rc = weir_error_set(err, WEIR_ENOMEM, "parquet writer: out of memory");
        goto done;
    }
    weir_buf_init(&w->gather);
    weir_buf_init(&w->page);
    weir_buf_init(&w->comp);
    weir_buf_init(&w->hdr);
    w->sink = sink;
    if (opts)
        w->o = *opts;
    else
        weir_parquet_writer_options_default(&w->o);
    {
        struct weir_parquet_writer_options d;
        weir_parquet_writer_options_default(&d);
        if (!w->o.row_group_bytes)
            w->o.row_group_bytes = d.row_group_bytes;
        if (!w->o.page_bytes)
            w->o.page_bytes = d.page_bytes;
        if (!w->o.dictionary_page_bytes)
            w->o.dictionary_page_bytes = d.dictionary_page_bytes;
    }
    switch (w->o.codec) {
    case WEIR_PARQUET_UNCOMPRESSED:
    case WEIR_PARQUET_SNAPPY:
    case WEIR_PARQUET_GZIP:
    case WEIR_PARQUET_ZSTD:
        break;
    default:
        rc = weir_error_set(err, WEIR_EINVAL, "parquet writer: unknown codec %d", (int)w->o.codec);
        goto done;
    }
    w->schema = weir_type_clone(schema);
    if (!w->schema) {
        rc = weir_error_set(err, WEIR_ENOMEM, "parquet writer: out of memory");
        goto done;
    }
    if ((rc = add_elem(w, &root))) {
        rc = weir_error_set(err, rc, "parquet writer: out of memory");
        goto done;
    }
    root->name = bytes_of("schema");
    root->num_children = (int32_t)w->schema->nfields;
    memset(bd, 0, sizeof *bd);
    for (size_t i = 0; i < w->schema->nfields; i++) {
        const struct weir_field *f = &w->schema->fields[i];
        size_t first = w->nleaves;
        bd->npath = 0;
        rc = build_node(w, bd, f->type, f->name, f->nullable, 0, 0, 0, err);
        if (rc)
            goto done;
        for (size_t l = first; l < w->nleaves; l++)
            w->leaves[l].top = (int)i;
    }
    rc = out_write(w, "PAR1", 4, err);
    if (rc)
        goto done;
    for (size_t i = 0; i < w->nleaves; i++)
        w->leaves[i].ch.dict_on = w->o.dictionary && w->leaves[i].vk != VK_BOOL;
done:
    weir_free(bd);
    if (rc) {
        weir_parquet_writer_destroy(w);
        return rc;
    }
    *out = w;
    return 0;
}

static void chunk_reset(struct weir_parquet_writer *w, struct leaf *L);

int weir_parquet_writer_restart(struct weir_parquet_writer *w, struct weir_output sink,
                                struct weir_error *err)
{
    if (!w || !sink.write)
        return weir_error_set(err, WEIR_EINVAL, "parquet writer: NULL writer or sink");
    for (size_t r = 0; r < w->nrgs; r++) {
        for (size_t i = 0; i < w->nleaves; i++)
            weir_free(w->rgx[r][i].stat);
        weir_free(w->rgx[r]);
        weir_free(w->rgs[r].columns);
    }
    w->nrgs = 0;
    w->total_rows = w->rg_rows = 0;
    for (size_t i = 0; i < w->nleaves; i++)
        chunk_reset(w, &w->leaves[i]);
    w->sink = sink;
    w->offset = 0;
    w->failed = w->closed = false;
    int rc = out_write(w, "PAR1", 4, err);
    if (rc)
        w->failed = true;
    return rc;
}

/* ---- levels -------------------------------------------------------------- */

static inline bool bit_valid(const struct weir_column *c, size_t i)
{
    return c->validity == NULL || (c->validity[i >> 3] >> (i & 7)) & 1;
}

static int lev_reserve(struct chunk *ch, const struct leaf *L, size_t extra)
{
    size_t need = ch->nlev + extra;
    if (need <= ch->levcap)
        return 0;
    size_t c = ch->levcap ? ch->levcap : 1024;
    while (c < need)
        c *= 2;
    if (L->max_def > 0) {
        uint16_t *p = weir_realloc(ch->defv, c * sizeof *p);
        if (!p)
            return WEIR_ENOMEM;
        ch->defv = p;
    }
    if (L->max_rep > 0) {
        uint16_t *p = weir_realloc(ch->repv, c * sizeof *p);
        if (!p)
            return WEIR_ENOMEM;
        ch->repv = p;
    }
    ch->levcap = c;
    return 0;
}

struct walk {
    struct weir_parquet_writer *w;
    struct leaf *L;
    int rc; /* WEIR_ESCHEMA: a null below a non-nullable step */
};

static inline void emit(struct walk *k, int def, int rep, size_t vi, bool has_value)
{
    struct chunk *ch = &k->L->ch;
    if (k->rc)
        return;
    if (ch->nlev == ch->levcap && (k->rc = lev_reserve(ch, k->L, 1)))
        return;
    if (k->L->max_def > 0)
        ch->defv[ch->nlev] = (uint16_t)def;
    ch->repv[ch->nlev] = (uint16_t)rep;
    ch->nlev++;
    if (has_value) {
        struct weir_parquet_writer *w = k->w;
        if (w->nvidx == w->vidxcap &&
            (k->rc = grow((void **)&w->vidx, &w->vidxcap, w->nvidx + 1, sizeof *w->vidx)))
            return;
        w->vidx[w->nvidx++] = (uint32_t)vi;
    }
}

static void walk(struct walk *k, int s, const struct weir_column *col, size_t idx, int def, int rep)
{
    const struct step *st = &k->L->steps[s];
    if (k->rc)
        return;
    if (!bit_valid(col, idx)) {
        if (!st->nullable) {
            k->rc = WEIR_ESCHEMA;
            return;
        }
        emit(k, def, rep, 0, false);
        return;
    }
    if (st->nullable)
        def++;
    switch (st->type->kind) {
    case WEIR_TYPE_STRUCT:
        walk(k, s + 1, &col->children[st->sel], idx, def, rep);
        return;
    case WEIR_TYPE_ARRAY:
    case WEIR_TYPE_MAP: {
        size_t a = (size_t)col->offsets[idx], b = (size_t)col->offsets[idx + 1];
        if (a >= b) {
            emit(k, def, rep, 0, false);
            return;
        }
        const struct weir_column *child = &col->children[st->sel];
        walk(k, s + 1, child, a, def + 1, rep);
        for (size_t j = a + 1; j < b && !k->rc; j++)
            walk(k, s + 1, child, j, def + 1, st->rep_level);
        return;
    }
    default:
        emit(k, def, rep, idx, def == k->L->max_def);
        return;
    }
}

/* Levels of rows [r0, r1) of `top` into the leaf's page; the leaf value
 * indices go to w->vidx (or, when *contig, values are rows r0.. of the leaf
 * column, *nval of them). */
static int leaf_levels(struct weir_parquet_writer *w, struct leaf *L, const struct weir_column *top,
                       size_t r0, size_t r1, bool *contig, size_t *nval, struct weir_error *err)
{
    struct chunk *ch = &L->ch;
    size_t n = r1 - r0;
    int rc;
    w->nvidx = 0;
    *contig = false;
    if (!L->repeated) {
        /* struct/primitive path: row i of every column on the path is row i */
        const struct weir_column *cols[PQ_MAX_STEPS];
        bool any_validity = false, all_required = true;
        const struct weir_column *c = top;
        for (int s = 0; s < L->nsteps; s++) {
            cols[s] = c;
            any_validity |= c->validity != NULL;
            all_required &= !L->steps[s].nullable;
            if (s + 1 < L->nsteps)
                c = &c->children[L->steps[s].sel];
        }
        if ((rc = lev_reserve(ch, L, n)))
            goto nomem;
        if (all_required) {
            for (int s = 0; s < L->nsteps; s++)
                if (cols[s]->validity)
                    for (size_t i = r0; i < r1; i++)
                        if (!bit_valid(cols[s], i))
                            goto bad_null;
            ch->nlev += n;
            *contig = true;
            *nval = n;
            return 0;
        }
        if (!any_validity) { /* nullable path without nulls */
            for (size_t i = 0; i < n; i++)
                ch->defv[ch->nlev + i] = (uint16_t)L->max_def;
            ch->nlev += n;
            *contig = true;
            *nval = n;
            return 0;
        }
        if ((rc = grow((void **)&w->vidx, &w->vidxcap, n, sizeof *w->vidx)))
            goto nomem;
        uint16_t *dv = ch->defv + ch->nlev;
        uint32_t *vx = w->vidx;
        size_t nv = 0;
        if (L->nsteps == 1) {
            const uint8_t *vb = top->validity;
            for (size_t i = r0; i < r1; i++) {
                unsigned ok = (vb[i >> 3] >> (i & 7)) & 1;
                *dv++ = (uint16_t)ok;
                vx[nv] = (uint32_t)i;
                nv += ok;
            }
        } else {
            for (size_t i = r0; i < r1; i++) {
                int def = 0, s;
                for (s = 0; s < L->nsteps; s++) {
                    if (!bit_valid(cols[s], i)) {
                        if (!L->steps[s].nullable)
                            goto bad_null;
                        break;
                    }
                    def += L->steps[s].nullable;
                }
                *dv++ = (uint16_t)def;
                if (s == L->nsteps)
                    vx[nv++] = (uint32_t)i;
            }
        }
        ch->nlev += n;
        *nval = nv;
        w->nvidx = nv;
        return 0;
    }
    struct walk k = {w, L, 0};
    for (size_t i = r0; i < r1 && !k.rc; i++)
        walk(&k, 0, top, i, 0, 0);
    if (k.rc == WEIR_ESCHEMA)
        goto bad_null;
    if (k.rc)
        goto nomem;
    *nval = w->nvidx;
    return 0;
bad_null:
    return weir_error_set(err, WEIR_ESCHEMA, "parquet writer: column %s: null value in a non-nullable field",
                          L->dotted);
nomem:
    return weir_error_set(err, WEIR_ENOMEM, "parquet writer: out of memory at column %s", L->dotted);
}

/* ---- statistics ---------------------------------------------------------- */

#define STATS_INT(name, T)                                   \
    static void name(struct stats *st, const T *v, size_t n) \
    {                                                        \
        if (!n)                                              \
            return;                                          \
        T lo = v[0], hi = v[0];                              \
        for (size_t i = 1; i < n; i++) {                     \
            lo = v[i] < lo ? v[i] : lo;                      \
            hi = v[i] > hi ? v[i] : hi;                      \
        }                                                    \
        if (!st->has || lo < st->imin)                       \
            st->imin = lo;                                   \
        if (!st->has || hi > st->imax)                       \
            st->imax = hi;                                   \
        st->has = true;                                      \
    }
STATS_INT(stats_i32, int32_t)
STATS_INT(stats_i64, int64_t)

#define STATS_FLOAT(name, T)                                 \
    static void name(struct stats *st, const T *v, size_t n) \
    {                                                        \
        T lo = 0, hi = 0;                                    \
        bool any = false;                                    \
        for (size_t i = 0; i < n; i++) {                     \
            T x = v[i];                                      \
            if (isnan(x))                                    \
                continue;                                    \
            if (!any) {                                      \
                lo = hi = x;                                 \
                any = true;                                  \
                continue;                                    \
            }                                                \
            lo = x < lo ? x : lo;                            \
            hi = x > hi ? x : hi;                            \
        }                                                    \
        if (!any)                                            \
            return;                                          \
        if (!st->has || lo < st->dmin)                       \
            st->dmin = lo;                                   \
        if (!st->has || hi > st->dmax)                       \
            st->dmax = hi;                                   \
        st->has = true;                                      \
    }
STATS_FLOAT(stats_f32, float)
STATS_FLOAT(stats_f64, double)

static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

/* First 8 bytes as a big-endian number, zero padded: comparing two keys
 * orders the strings the same way whenever the keys differ. */
static inline uint64_t prefix_key(const uint8_t *p, size_t n)
{
    uint64_t k = 0;
    if (n >= 8) {
        memcpy(&k, p, 8);
        return __builtin_bswap64(k);
    }
    for (size_t i = 0; i < n; i++)
        k |= (uint64_t)p[i] << (56 - 8 * i);
    return k;
}

static int stats_bytes_one(struct stats *st, const uint8_t *p, size_t n)
{
    int rc = 0;
    uint64_t k = prefix_key(p, n);
    if (st->has && k > st->kmin && k < st->kmax)
        return 0; /* strictly between min and max */
    if (!st->has) {
        st->bmin.len = st->bmax.len = 0;
        if ((rc = weir_buf_append(&st->bmin, p, n)) || (rc = weir_buf_append(&st->bmax, p, n)))
            return rc;
        st->kmin = st->kmax = k;
        st->has = true;
        return 0;
    }
    if (bytes_cmp(p, n, st->bmin.data, st->bmin.len) < 0) {
        st->bmin.len = 0;
        if ((rc = weir_buf_append(&st->bmin, p, n)))
            return rc;
        st->kmin = k;
    } else if (bytes_cmp(p, n, st->bmax.data, st->bmax.len) > 0) {
        st->bmax.len = 0;
        if ((rc = weir_buf_append(&st->bmax, p, n)))
            return rc;
        st->kmax = k;
    }
    return 0;
}

/* ---- values -------------------------------------------------------------- */

static int idx_reserve(struct chunk *ch, size_t n)
{
    return grow((void **)&ch->idx, &ch->idxcap, ch->nidx + n, sizeof *ch->idx);
}

/* Contiguous physical values for fixed-width kinds: the column's own memory
 * when possible, else gathered (and widened/narrowed) into w->gather. */
static int fixed_values(struct weir_parquet_writer *w, struct leaf *L, const struct weir_column *lc,
                        bool contig, size_t base, size_t n, const uint8_t **out)
{
    const uint32_t *vx = w->vidx;
    size_t wd = (size_t)L->width;
    int rc;
#define AT(k) (contig ? base + (k) : (size_t)vx[k])
    switch (L->vk) {
    case VK_I32:
    case VK_I64:
    case VK_F32:
    case VK_F64:
        if (contig) {
            *out = (const uint8_t *)lc->data + base * wd;
            return 0;
        }
        break;
    default:
        break;
    }
    w->gather.len = 0;
    if ((rc = weir_buf_reserve(&w->gather, n * (wd ? wd : 1) + 16)))
        return rc;
    uint8_t *g = w->gather.data;
/* d[k] = source value k, converted to the physical type DT. */
#define GATHER(ST, DT)                 \
    do {                               \
        const ST *s = lc->data;        \
        DT *d = (DT *)(void *)g;       \
        for (size_t k = 0; k < n; k++) \
            d[k] = (DT)s[AT(k)];       \
    } while (0)
/* The same for unscaled decimals, which must fit the precision. */
#define GATHER_DEC(DT)                   \
    do {                                 \
        const weir_i128 *s = lc->data;   \
        DT *d = (DT *)(void *)g;         \
        weir_i128 lim = L->dec_limit;    \
        for (size_t k = 0; k < n; k++) { \
            weir_i128 v = s[AT(k)];      \
            if (v >= lim || v <= -lim)   \
                return WEIR_ERANGE;      \
            d[k] = (DT)v;                \
        }                                \
    } while (0)
    switch (L->vk) {
    case VK_BOOL: {
        const uint8_t *s = lc->data;
        for (size_t k = 0; k < n; k++)
            g[k] = s[AT(k)] ? 1 : 0;
        break;
    }
    case VK_I8:
        GATHER(int8_t, int32_t);
        break;
    case VK_I16:
        GATHER(int16_t, int32_t);
        break;
    case VK_I32:
    case VK_F32:
        GATHER(uint32_t, uint32_t);
        break;
    case VK_I64:
    case VK_F64:
        GATHER(uint64_t, uint64_t);
        break;
    case VK_DEC32:
        GATHER_DEC(int32_t);
        break;
    case VK_DEC64:
        GATHER_DEC(int64_t);
        break;
    case VK_DECFLBA: {
        const weir_i128 *s = lc->data;
        struct stats *st = &L->ch.st;
        for (size_t k = 0; k < n; k++) {
            weir_i128 v = s[AT(k)];
            if (v >= L->dec_limit || v <= -L->dec_limit)
                return WEIR_ERANGE;
            unsigned __int128 u = (unsigned __int128)v;
            for (size_t b = 0; b < wd; b++)
                g[k * wd + b] = (uint8_t)(u >> (8 * (wd - 1 - b)));
            if (!st->has || v < st->qmin)
                st->qmin = v;
            if (!st->has || v > st->qmax)
                st->qmax = v;
            st->has = true;
        }
        break;
    }
    default:
        return WEIR_EINVAL;
    }
#undef GATHER_DEC
#undef GATHER
#undef AT
    w->gather.len = n * (wd ? wd : 1);
    *out = g;
    return 0;
}

static int push_values(struct weir_parquet_writer *w, struct leaf *L, const struct weir_column *lc,
                       bool contig, size_t base, size_t n)
{
    struct chunk *ch = &L->ch;
    bool stats = !L->repeated;
    int rc;
    if (n == 0)
        return 0;
    ch->page_nvals += n;
    if (L->vk == VK_BYTES) {
        const uint32_t *vx = contig ? NULL : w->vidx;
        if (ch->dict_on) {
            if ((rc = idx_reserve(ch, n)))
                return rc;
            uint32_t old = ch->dict.count;
            rc = pq_dict_put_bytes(&ch->dict, lc->offsets, lc->bytes, vx, base, n, ch->idx + ch->nidx);
            if (rc)
                return rc;
            ch->nidx += n;
            if (stats) {
                for (uint32_t e = old; e < ch->dict.count; e++) {
                    uint32_t len;
                    const uint8_t *p = pq_dict_entry(&ch->dict, e, &len);
                    if ((rc = stats_bytes_one(&ch->st, p, len)))
                        return rc;
                }
            }
            return 0;
        }
        size_t total = 0;
        for (size_t k = 0; k < n; k++) {
            size_t i = vx ? vx[k] : base + k;
            total += (size_t)(lc->offsets[i + 1] - lc->offsets[i]) + 4;
        }
        if ((rc = weir_buf_reserve(&ch->plain, total)))
            return rc;
        uint8_t *o = ch->plain.data + ch->plain.len;
        for (size_t k = 0; k < n; k++) {
            size_t i = vx ? vx[k] : base + k;
            const uint8_t *p = lc->bytes + lc->offsets[i];
            size_t len = (size_t)(lc->offsets[i + 1] - lc->offsets[i]);
            if (len > UINT32_MAX)
                return WEIR_ERANGE;
            o[0] = (uint8_t)len;
            o[1] = (uint8_t)(len >> 8);
            o[2] = (uint8_t)(len >> 16);
            o[3] = (uint8_t)(len >> 24);
            memcpy(o + 4, p, len);
            o += 4 + len;
            if (stats && (rc = stats_bytes_one(&ch->st, p, len)))
                return rc;
        }
        ch->plain.len = (size_t)(o - ch->plain.data);
        return 0;
    }
    const uint8_t *vals;
    if ((rc = fixed_values(w, L, lc, contig, base, n, &vals)))
        return rc;
    if (stats) {
        switch (L->vk) {
        case VK_BOOL: {
            bool any1 = false, any0 = false;
            for (size_t k = 0; k < n; k++) {
                any1 |= vals[k] != 0;
                any0 |= vals[k] == 0;
            }
            int64_t lo = any0 ? 0 : 1, hi = any1 ? 1 : 0;
            if (!ch->st.has || lo < ch->st.imin)
                ch->st.imin = lo;
            if (!ch->st.has || hi > ch->st.imax)
                ch->st.imax = hi;
            ch->st.has = true;
            break;
        }
        case VK_I8:
        case VK_I16:
        case VK_I32:
        case VK_DEC32:
            stats_i32(&ch->st, (const int32_t *)(const void *)vals, n);
            break;
        case VK_I64:
        case VK_DEC64:
            stats_i64(&ch->st, (const int64_t *)(const void *)vals, n);
            break;
        case VK_F32:
            stats_f32(&ch->st, (const float *)(const void *)vals, n);
            break;
        case VK_F64:
            stats_f64(&ch->st, (const double *)(const void *)vals, n);
            break;
        default: /* FLBA: done while gathering */
            break;
        }
    }
    if (ch->dict_on) {
        if ((rc = idx_reserve(ch, n)))
            return rc;
        if ((rc = pq_dict_put_fixed(&ch->dict, vals, n, ch->idx + ch->nidx)))
            return rc;
        ch->nidx += n;
        return 0;
    }
    return weir_buf_append(&ch->plain, vals, n * (size_t)(L->vk == VK_BOOL ? 1 : L->width));
}

/* ---- pages --------------------------------------------------------------- */

static int dict_bit_width(const struct chunk *ch)
{
    int bw = pq_enc_bit_width(ch->dict.count ? ch->dict.count - 1 : 0);
    return bw < 1 ? 1 : bw;
}

static size_t page_estimate(const struct leaf *L)
{
    const struct chunk *ch = &L->ch;
    size_t est = ch->nlev / 4;
    if (L->vk == VK_BOOL)
        return est + ch->plain.len / 8;
    if (ch->dict_on)
        return est + ch->nidx * (size_t)dict_bit_width(ch) / 8;
    return est + ch->plain.len;
}

/* Compress w->page (if a codec is set) and append header + body to `dst`. */
static int emit_page(struct weir_parquet_writer *w, struct pq_page_header *h, struct weir_buf *dst,
                     int64_t *unc, int64_t *comp, struct weir_error *err)
{
    const uint8_t *body = w->page.data;
    size_t blen = w->page.len;
    int rc;
    if (w->page.len > INT32_MAX)
        return weir_error_set(err, WEIR_ERANGE, "parquet writer: page larger than 2 GiB");
    if (w->o.codec != WEIR_PARQUET_UNCOMPRESSED) {
        w->comp.len = 0;
        rc = pq_compress((int)w->o.codec, w->o.compression_level, w->page.data, w->page.len, &w->comp, err);
        if (rc)
            return rc;
        body = w->comp.data;
        blen = w->comp.len;
    }
    h->uncompressed_page_size = (int32_t)w->page.len;
    h->compressed_page_size = (int32_t)blen;
    size_t before = dst->len;
    if ((rc = pq_page_header_encode(h, dst)))
        return weir_error_set(err, rc, "parquet writer: encoding page header");
    size_t hlen = dst->len - before;
    if ((rc = weir_buf_append(dst, body, blen))) {
        dst->len = before;
        return weir_error_set(err, rc, "parquet writer: out of memory buffering a page");
    }
    *unc += (int64_t)(hlen + w->page.len);
    *comp += (int64_t)(hlen + blen);
    return 0;
}

static int flush_page(struct weir_parquet_writer *w, struct leaf *L, struct weir_error *err)
{
    struct chunk *ch = &L->ch;
    struct pq_page_header h;
    int rc;
    if (ch->nlev == 0)
        return 0;
    if (ch->nlev > INT32_MAX)
        return weir_error_set(err, WEIR_ERANGE, "parquet writer: column %s: page with too many values",
                              L->dotted);
    w->page.len = 0;
    if (L->max_rep > 0 &&
        (rc = pq_levels_encode(ch->repv, ch->nlev, pq_enc_bit_width((uint64_t)L->max_rep), &w->page)))
        goto nomem;
    if (L->max_def > 0 &&
        (rc = pq_levels_encode(ch->defv, ch->nlev, pq_enc_bit_width((uint64_t)L->max_def), &w->page)))
        goto nomem;
    memset(&h, 0, sizeof h);
    h.type = PQ_DATA_PAGE;
    h.has_data = true;
    h.data.num_values = (int32_t)ch->nlev;
    h.data.definition_level_encoding = PQ_RLE;
    h.data.repetition_level_encoding = PQ_RLE;
    if (ch->dict_on && ch->nidx > 0) {
        int bw = dict_bit_width(ch);
        if ((rc = weir_buf_append_byte(&w->page, (uint8_t)bw)) ||
            (rc = pq_rle_encode_u32(ch->idx, ch->nidx, bw, &w->page)))
            goto nomem;
        h.data.encoding = PQ_RLE_DICTIONARY;
        ch->dict_used = true;
    } else {
        if (L->vk == VK_BOOL)
            rc = pq_bool_pack(ch->plain.data, ch->plain.len, &w->page);
        else
            rc = weir_buf_append(&w->page, ch->plain.data, ch->plain.len);
        if (rc)
            goto nomem;
        h.data.encoding = PQ_PLAIN;
        ch->plain_used = true;
    }
    if ((rc = emit_page(w, &h, &ch->pages, &ch->data_unc, &ch->data_comp, err)))
        return weir_error_prefix(err, "column %s", L->dotted);
    ch->num_values += (int64_t)ch->nlev;
    ch->null_count += (int64_t)(ch->nlev - ch->page_nvals);
    ch->nlev = 0;
    ch->nidx = 0;
    ch->plain.len = 0;
    ch->page_nvals = 0;
    return 0;
nomem:
    return weir_error_set(err, WEIR_ENOMEM, "parquet writer: out of memory encoding a page of column %s",
                          L->dotted);
}

/* ---- row groups ---------------------------------------------------------- */

static size_t rg_estimate(const struct weir_parquet_writer *w)
{
    size_t est = 0;
    for (size_t i = 0; i < w->nleaves; i++) {
        const struct leaf *L = &w->leaves[i];
        est += (size_t)L->ch.data_unc + page_estimate(L) + L->ch.dict.values.len;
    }
    return est;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* min/max bytes of a finished chunk into one malloc'd block. */
static int stats_encode(const struct leaf *L, struct pq_statistics *ps, uint8_t **block)
{
    const struct stats *st = &L->ch.st;
    uint8_t *b;
    size_t n;
    *block = NULL;
    ps->has_null_count = true;
    ps->null_count = L->ch.null_count;
    if (!st->has || L->repeated)
        return 0;
    switch (L->vk) {
    case VK_BYTES:
        n = st->bmin.len > st->bmax.len ? st->bmin.len : st->bmax.len;
        break;
    case VK_BOOL:
        n = 1;
        break;
    default:
        n = (size_t)L->width;
        break;
    }
    b = weir_malloc(2 * n + 1);
    if (!b)
        return WEIR_ENOMEM;
    uint8_t *mn = b, *mx = b + n;
    size_t mnl = n, mxl = n;
    switch (L->vk) {
    case VK_BOOL:
        mn[0] = (uint8_t)st->imin;
        mx[0] = (uint8_t)st->imax;
        break;
    case VK_I8:
    case VK_I16:
    case VK_I32:
    case VK_DEC32:
        put_le(mn, (uint64_t)(uint32_t)(int32_t)st->imin, 4);
        put_le(mx, (uint64_t)(uint32_t)(int32_t)st->imax, 4);
        break;
    case VK_I64:
    case VK_DEC64:
        put_le(mn, (uint64_t)st->imin, 8);
        put_le(mx, (uint64_t)st->imax, 8);
        break;
    case VK_F32: {
        float lo = (float)st->dmin, hi = (float)st->dmax;
        if (lo == 0.0f)
            lo = -0.0f;
        if (hi == 0.0f)
            hi = 0.0f;
        memcpy(mn, &lo, 4);
        memcpy(mx, &hi, 4);
        break;
    }
    case VK_F64: {
        double lo = st->dmin, hi = st->dmax;
        if (lo == 0.0)
            lo = -0.0;
        if (hi == 0.0)
            hi = 0.0;
        memcpy(mn, &lo, 8);
        memcpy(mx, &hi, 8);
        break;
    }
    case VK_DECFLBA: {
        unsigned __int128 a = (unsigned __int128)st->qmin, c = (unsigned __int128)st->qmax;
        for (size_t k = 0; k < n; k++) {
            mn[k] = (uint8_t)(a >> (8 * (n - 1 - k)));
            mx[k] = (uint8_t)(c >> (8 * (n - 1 - k)));
        }
        break;
    }
    case VK_BYTES:
        mnl = st->bmin.len;
        mxl = st->bmax.len;
        if (mnl)
            memcpy(mn, st->bmin.data, mnl);
        if (mxl)
            memcpy(mx, st->bmax.data, mxl);
        break;
    }
    ps->min_value.p = mn;
    ps->min_value.len = (uint32_t)mnl;
    ps->max_value.p = mx;
    ps->max_value.len = (uint32_t)mxl;
    *block = b;
    return 0;
}

static void chunk_reset(struct weir_parquet_writer *w, struct leaf *L)
{
    struct chunk *ch = &L->ch;
    ch->nlev = ch->nidx = ch->page_nvals = 0;
    ch->plain.len = 0;
    pq_dict_reset(&ch->dict);
    ch->dict_on = w->o.dictionary && L->vk != VK_BOOL;
    ch->dict_used = ch->plain_used = false;
    ch->pages.len = 0;
    ch->num_values = ch->null_count = 0;
    ch->data_unc = ch->data_comp = 0;
    ch->st.has = false;
    ch->st.bmin.len = ch->st.bmax.len = 0;
}

static int flush_row_group(struct weir_parquet_writer *w, struct weir_error *err)
{
    struct pq_column_chunk *cols = NULL;
    struct rg_extra *x = NULL;
    int rc = 0;
    if (w->rg_rows == 0)
        return 0;
    if (w->nrgs >= INT16_MAX) {
        rc = weir_error_set(err, WEIR_ERANGE, "parquet writer: more than %d row groups", INT16_MAX);
        goto fail;
    }
    for (size_t i = 0; i < w->nleaves; i++)
        if ((rc = flush_page(w, &w->leaves[i], err)))
            goto fail;
    cols = weir_calloc(w->nleaves, sizeof *cols);
    x = weir_calloc(w->nleaves, sizeof *x);
    if (!cols || !x || grow((void **)&w->rgs, &w->rgcap, w->nrgs + 1, sizeof *w->rgs)) {
        rc = weir_error_set(err, WEIR_ENOMEM, "parquet writer: out of memory");
        goto fail;
    }
    {
        /* rgx grows in step with rgs (same capacity). */
        struct rg_extra **nx = weir_realloc(w->rgx, w->rgcap * sizeof *nx);
        if (!nx) {
            rc = weir_error_set(err, WEIR_ENOMEM, "parquet writer: out of memory");
            goto fail;
        }
        w->rgx = nx;
    }
    uint64_t rg_start = w->offset;
    int64_t total_unc = 0, total_comp = 0;
    for (size_t i = 0; i < w->nleaves; i++) {
        struct leaf *L = &w->leaves[i];
        struct chunk *ch = &L->ch;
        struct pq_column_meta *m = &cols[i].meta;
        int64_t unc = ch->data_unc, comp = ch->data_comp;
        uint64_t start = w->offset;
        int ne = 0;
        cols[i].has_meta = true;
        cols[i].file_offset = (int64_t)start;
        if (ch->dict_used) {
            struct pq_page_header h;
            memset(&h, 0, sizeof h);
            h.type = PQ_DICTIONARY_PAGE;
            h.has_dictionary = true;
            h.dictionary.num_values = (int32_t)ch->dict.count;
            h.dictionary.encoding = PQ_PLAIN_DICTIONARY;
            w->page.len = 0;
            if ((rc = weir_buf_append(&w->page, ch->dict.values.data, ch->dict.values.len))) {
                rc = weir_error_set(err, rc, "parquet writer: out of memory");
                goto fail;
            }
            w->hdr.len = 0;
            if ((rc = emit_page(w, &h, &w->hdr, &unc, &comp, err)))
                goto fail;
            if ((rc = out_write(w, w->hdr.data, w->hdr.len, err)))
                goto fail;
            m->has_dictionary_page_offset = true;
            m->dictionary_page_offset = (int64_t)start;
            x[i].enc[ne++] = PQ_PLAIN_DICTIONARY;
            x[i].enc[ne++] = PQ_RLE_DICTIONARY;
        }
        m->data_page_offset = (int64_t)w->offset;
        if ((rc = out_write(w, ch->pages.data, ch->pages.len, err)))
            goto fail;
        if (ch->plain_used)
            x[i].enc[ne++] = PQ_PLAIN;
        if (L->max_def > 0 || L->max_rep > 0)
            x[i].enc[ne++] = PQ_RLE;
        m->type = L->ptype;
        m->encodings = x[i].enc;
        m->nencodings = (uint32_t)ne;
        m->path = L->path;
        m->npath = L->npath;
        m->codec = (int32_t)w->o.codec;
        m->num_values = ch->num_values;
        m->total_uncompressed_size = unc;
        m->total_compressed_size = comp;
        m->has_statistics = true;
        if ((rc = stats_encode(L, &m->statistics, &x[i].stat))) {
            rc = weir_error_set(err, rc, "parquet writer: out of memory");
            goto fail;
        }
        total_unc += unc;
        total_comp += comp;
    }
    struct pq_row_group *rg = &w->rgs[w->nrgs];
    memset(rg, 0, sizeof *rg);
    rg->columns = cols;
    rg->ncolumns = (uint32_t)w->nleaves;
    rg->total_byte_size = total_unc;
    rg->num_rows = w->rg_rows;
    rg->has_file_offset = true;
    rg->file_offset = (int64_t)rg_start;
    rg->has_total_compressed_size = true;
    rg->total_compressed_size = total_comp;
    rg->has_ordinal = true;
    rg->ordinal = (int16_t)w->nrgs;
    w->rgx[w->nrgs] = x;
    w->nrgs++;
    w->total_rows += w->rg_rows;
    w->rg_rows = 0;
    for (size_t i = 0; i < w->nleaves; i++)
        chunk_reset(w, &w->leaves[i]);
    return 0;
fail:
    if (x)
        for (size_t i = 0; i < w->nleaves; i++)
            weir_free(x[i].stat);
    weir_free(x);
    weir_free(cols);
    return rc;
}

/* ---- write / close ------------------------------------------------------- */

static const struct weir_column *leaf_column(const struct weir_batch *b, const struct leaf *L,
                                             const struct weir_column **top, size_t topi)
{
    const struct weir_column *c = &b->columns[topi];
    *top = c;
    for (int s = 0; s + 1 < L->nsteps; s++)
        c = &c->children[L->steps[s].sel];
    return c;
}

int weir_parquet_writer_write(struct weir_parquet_writer *w, const struct weir_batch *b,
                              struct weir_error *err)
{
    int rc = 0;
    if (!w || !b)
        return weir_error_set(err, WEIR_EINVAL, "parquet writer: NULL argument");
    if (w->failed || w->closed)
        return weir_error_set(err, WEIR_ESTATE, "parquet writer: write after %s",
                              w->closed ? "close" : "an earlier error");
    if (!weir_type_equal(b->schema, w->schema))
        return weir_error_set(err, WEIR_ESCHEMA, "parquet writer: batch schema differs from the file schema");
    for (size_t li = 0; li < w->nleaves; li++) {
        const struct weir_column *top;
        const struct weir_column *lc = leaf_column(b, &w->leaves[li], &top, (size_t)w->leaves[li].top);
        if (lc->length >= UINT32_MAX || b->nrows >= UINT32_MAX)
            return weir_error_set(err, WEIR_ERANGE, "parquet writer: column %s: batch too large",
                                  w->leaves[li].dotted);
    }
    for (size_t r0 = 0; r0 < b->nrows;) {
        size_t r1 = b->nrows - r0 > PQ_SLICE_ROWS ? r0 + PQ_SLICE_ROWS : b->nrows;
        for (size_t li = 0; li < w->nleaves; li++) {
            struct leaf *L = &w->leaves[li];
            const struct weir_column *top;
            const struct weir_column *lc = leaf_column(b, L, &top, (size_t)L->top);
            bool contig;
            size_t nval;
            if ((rc = leaf_levels(w, L, top, r0, r1, &contig, &nval, err)))
                goto fail;
            if ((rc = push_values(w, L, lc, contig, r0, nval))) {
                rc = weir_error_set(err, rc, "parquet writer: column %s: encoding values failed (%s)",
                                    L->dotted, weir_strerror(rc));
                goto fail;
            }
            if (L->ch.dict_on && L->ch.dict.values.len > w->o.dictionary_page_bytes) {
                if ((rc = flush_page(w, L, err)))
                    goto fail;
                L->ch.dict_on = false;
            } else if (page_estimate(L) >= w->o.page_bytes) {
                if ((rc = flush_page(w, L, err)))
                    goto fail;
            }
        }
        w->rg_rows += (int64_t)(r1 - r0);
        if (rg_estimate(w) >= w->o.row_group_bytes && (rc = flush_row_group(w, err)))
            goto fail;
        r0 = r1;
    }
    return 0;
fail:
    w->failed = true;
    return rc;
}

int weir_parquet_writer_close(struct weir_parquet_writer *w, uint64_t *file_size, struct weir_error *err)
{
    struct weir_buf foot;
    struct pq_file_meta fm;
    int rc = 0;
    weir_buf_init(&foot);
    if (!w)
        return weir_error_set(err, WEIR_EINVAL, "parquet writer: NULL writer");
    if (w->failed || w->closed) {
        rc = weir_error_set(err, WEIR_ESTATE, "parquet writer: close after %s",
                            w->closed ? "close" : "an earlier error");
        goto done;
    }
    if ((rc = flush_row_group(w, err)))
        goto fail;
    memset(&fm, 0, sizeof fm);
    fm.version = 1;
    fm.schema = w->elems;
    fm.nschema = (uint32_t)w->nelems;
    fm.num_rows = w->total_rows;
    fm.row_groups = w->rgs;
    fm.nrow_groups = (uint32_t)w->nrgs;
    fm.created_by = bytes_of(PQ_CREATED_BY);
    fm.ncolumn_orders = (uint32_t)w->nleaves;
    if ((rc = pq_file_meta_encode(&fm, &foot))) {
        rc = weir_error_set(err, rc, "parquet writer: encoding the footer failed");
        goto fail;
    }
    uint8_t tail[8];
    put_le(tail, (uint64_t)foot.len, 4);
    memcpy(tail + 4, "PAR1", 4);
    if ((rc = out_write(w, foot.data, foot.len, err)) || (rc = out_write(w, tail, 8, err)))
        goto fail;
    w->closed = true;
    if (file_size)
        *file_size = w->offset;
    goto done;
fail:
    w->failed = true;
done:
    weir_buf_free(&foot);
    return rc;
}
