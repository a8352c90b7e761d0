/* formats/parquet/reader.c - the Parquet reader: footer, schema mapping,
 * column-chunk page walking and nested assembly into weir_batch.
 *
 * Owns: the footer bytes (the decoded pq_file_meta points into them), the
 * schema node tree built from the flat SchemaElement list, the "shape" tree
 * that says how each Delta column is assembled from leaf levels, and the
 * Delta schema mapped from it, and per-leaf decode buffers that are reused
 * from one row group to the next. read_row_group builds a plan (want field ->
 * shape, conversion per leaf), reads only the needed column chunks with
 * in->read_at, decodes each chunk column-at-a-time into levels + dense
 * values (decode.c), then assembles columns by scanning definition and
 * repetition levels: an entry i is a slot of a column whose enclosing
 * repetition level is R and whose slots exist from definition level A when
 * rep[i] <= R and def[i] >= A; the value is present when def[i] reaches the
 * column's own level. Lists and maps count their elements the same way one
 * level deeper.
 *
 * Invariants: every offset and length from the file is checked against the
 * file size (chunks), the chunk (pages) and the page (levels and values)
 * before use; counts that drive allocations are bounded by the bytes that
 * back them or by a fixed sanity cap. Errors name the file, column, row
 * group and page offset. One reader is used by one thread at a time. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "formats/parquet/compress.h"
#include "formats/parquet/decode.h"
#include "formats/parquet/meta.h"
#include "formats/parquet/parquet.h"

#define MAX_DEPTH       64
/* A page or chunk may hold more values than 8 per byte only through RLE
 * runs; allow that up to a fixed count plus a generous ratio. */
#define VALUES_BASE_CAP ((uint64_t)1 << 22)
#define VALUES_PER_BYTE 1024

struct pq_node {
    const struct pq_schema_element *el;
    char *name;
    int parent;
    int *children; /* into reader->child_pool */
    int nchildren;
    int16_t def, rep; /* cumulative levels at this node */
    int leaf;         /* leaf index, -1 for groups */
    int first_leaf, nleaves;
};

enum shape_kind { SH_LEAF, SH_STRUCT, SH_LIST, SH_MAP };

/* Source value read mode of a leaf. */
enum src_mode {
    SRC_BOOL,
    SRC_I32,
    SRC_U32,
    SRC_I64,
    SRC_U64,
    SRC_F32,
    SRC_F64,
    SRC_INT96,
    SRC_BYTES,
    SRC_FLBA,
    SRC_DEC_BE
};

struct pq_shape {
    enum shape_kind kind;
    char *name; /* field name (struct children), NULL otherwise */
    bool nullable;
    int node;
    int16_t def;      /* value is non-null when def >= this */
    int16_t rep_ctx;  /* slots: rep <= rep_ctx ... */
    int16_t anc_def;  /* ... and def >= anc_def */
    int16_t elem_rep; /* LIST/MAP: elements at rep <= elem_rep ... */
    int16_t elem_def; /* ... and def >= elem_def */
    struct pq_shape *children;
    size_t nchildren;
    int first_leaf, nleaves;
    /* LEAF */
    int leaf;
    enum weir_type_kind fkind; /* mapped Delta kind */
    int precision, scale;
    int unit; /* PQ_MILLIS/MICROS/NANOS for timestamps, 0 otherwise */
    enum src_mode src;
};

struct leaf_data {
    bool loaded;
    uint16_t *def, *rep; /* only used when the max level is > 0 */
    size_t nlevels, def_cap, rep_cap;
    int16_t max_def, max_rep;
    struct pq_values vals, dict;
    bool has_dict;
};

struct weir_parquet_reader {
    const struct weir_input *in;
    uint8_t *footer;
    size_t footer_len;
    struct pq_file_meta meta;
    bool meta_ok;
    struct pq_node *nodes;
    size_t nnodes;
    int *child_pool;
    size_t pool_used;
    int *leaves; /* node index per leaf */
    char **leaf_paths;
    size_t nleaves;
    struct pq_shape root;
    struct weir_type *schema;
    struct weir_buf scratch; /* decompressed page */
    struct weir_buf chunk;   /* raw column chunk being decoded */
    /* Per-leaf decode buffers, kept between row groups so their memory is
     * reused (the reader holds about one row group's decoded columns). */
    struct leaf_data *cache;
};

static const char *in_name(const struct weir_input *in)
{
    return in->name ? in->name : "<parquet>";
}

/* ---- schema: nodes ---------------------------------------------------- */

static int build_nodes(struct weir_parquet_reader *r, size_t *pos, int parent, int depth, int *nleaf,
                       struct weir_error *err)
{
    if (*pos >= r->meta.nschema)
        return weir_error_set(err, WEIR_ECORRUPT, "%s: schema has fewer elements than its num_children say",
                              in_name(r->in));
    if (depth > MAX_DEPTH)
        return weir_error_set(err, WEIR_ECORRUPT, "%s: schema nested deeper than %d levels", in_name(r->in),
                              MAX_DEPTH);
    int idx = (int)*pos;
    struct pq_node *n = &r->nodes[idx];
    const struct pq_schema_element *el = &r->meta.schema[idx];
    (*pos)++;
    n->el = el;
    n->parent = parent;
    n->leaf = -1;
    n->name = weir_strndup(el->name.p ? (const char *)el->name.p : "", el->name.p ? el->name.len : 0);
    if (!n->name)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    if (parent >= 0) {
        const struct pq_node *pn = &r->nodes[parent];
        enum pq_repetition rp = el->has_repetition ? el->repetition : PQ_OPTIONAL;
        n->def = (int16_t)(pn->def + (rp != PQ_REQUIRED));
        n->rep = (int16_t)(pn->rep + (rp == PQ_REPEATED));
    }
    if (el->num_children < 0 || (size_t)el->num_children > r->meta.nschema - *pos)
        return weir_error_set(err, WEIR_ECORRUPT, "%s: schema element '%s' has %d children, only %zu follow",
                              in_name(r->in), n->name, el->num_children, r->meta.nschema - *pos);
    n->first_leaf = *nleaf;
    if (el->num_children == 0 && parent >= 0) {
        if (!el->has_type)
            return weir_error_set(err, WEIR_ECORRUPT,
                                  "%s: schema element '%s' has neither a type nor children", in_name(r->in),
                                  n->name);
        n->leaf = (*nleaf)++;
        n->nleaves = 1;
        return 0;
    }
    n->nchildren = el->num_children;
    /* Each group's children take consecutive pool slots from a cursor. */
    if ((size_t)el->num_children > r->nnodes - r->pool_used)
        return weir_error_set(err, WEIR_ECORRUPT,
                              "%s: schema element '%s' claims more children than the schema has",
                              in_name(r->in), n->name);
    n->children = r->child_pool + r->pool_used;
    r->pool_used += (size_t)el->num_children;
    for (int i = 0; i < el->num_children; i++) {
        int cidx = (int)*pos;
        int rc = build_nodes(r, pos, idx, depth + 1, nleaf, err);
        if (rc < 0)
            return rc;
        n->children[i] = cidx;
    }
    n->nleaves = *nleaf - n->first_leaf;
    return 0;
}

/* ---- schema: shapes and Delta types ----------------------------------- */

static int unsupported_col(struct weir_parquet_reader *r, const struct pq_node *n, const char *what,
                           struct weir_error *err)
{
    return weir_error_set(err, WEIR_EUNSUPPORTED, "%s: column '%s': %s", in_name(r->in), n->name, what);
}

static int corrupt_col(struct weir_parquet_reader *r, const struct pq_node *n, const char *what,
                       struct weir_error *err)
{
    return weir_error_set(err, WEIR_ECORRUPT, "%s: column '%s': %s", in_name(r->in), n->name, what);
}

static int map_leaf(struct weir_parquet_reader *r, const struct pq_node *n, struct pq_shape *sh,
                    struct weir_type **type, struct weir_error *err)
{
    const struct pq_schema_element *el = n->el;
    enum pq_type pt = el->type;
    enum weir_type_kind k;
    sh->precision = sh->scale = 0;
    sh->unit = 0;
    char msg[160];
    const struct pq_logical_type *lt = &el->logical;
    enum pq_logical lk = lt->kind;
    /* Legacy converted types, when no logical type is present. */
    if (lk == PQ_LT_NONE && el->has_converted) {
        switch (el->converted) {
        case PQ_CT_UTF8:
            lk = PQ_LT_STRING;
            break;
        case PQ_CT_ENUM:
            lk = PQ_LT_ENUM;
            break;
        case PQ_CT_JSON:
            lk = PQ_LT_JSON;
            break;
        case PQ_CT_BSON:
            lk = PQ_LT_BSON;
            break;
        case PQ_CT_DECIMAL:
            lk = PQ_LT_DECIMAL;
            break;
        case PQ_CT_DATE:
            lk = PQ_LT_DATE;
            break;
        case PQ_CT_TIME_MILLIS:
        case PQ_CT_TIME_MICROS:
            lk = PQ_LT_TIME;
            break;
        case PQ_CT_TIMESTAMP_MILLIS:
        case PQ_CT_TIMESTAMP_MICROS:
            lk = PQ_LT_TIMESTAMP;
            break;
        case PQ_CT_UINT_8:
        case PQ_CT_UINT_16:
        case PQ_CT_UINT_32:
        case PQ_CT_UINT_64:
        case PQ_CT_INT_8:
        case PQ_CT_INT_16:
        case PQ_CT_INT_32:
        case PQ_CT_INT_64:
            lk = PQ_LT_INTEGER;
            break;
        case PQ_CT_INTERVAL:
            return unsupported_col(r, n, "INTERVAL columns are not supported", err);
        default:
            return corrupt_col(r, n, "group annotation (MAP/LIST) on a primitive column", err);
        }
    }
    bool bad_phys = false;
    switch (lk) {
    case PQ_LT_NONE:
        switch (pt) {
        case PQ_BOOLEAN:
            k = WEIR_TYPE_BOOLEAN;
            sh->src = SRC_BOOL;
            break;
        case PQ_INT32:
            k = WEIR_TYPE_INTEGER;
            sh->src = SRC_I32;
            break;
        case PQ_INT64:
            k = WEIR_TYPE_LONG;
            sh->src = SRC_I64;
            break;
        case PQ_INT96:
            k = WEIR_TYPE_TIMESTAMP;
            sh->src = SRC_INT96;
            break;
        case PQ_FLOAT:
            k = WEIR_TYPE_FLOAT;
            sh->src = SRC_F32;
            break;
        case PQ_DOUBLE:
            k = WEIR_TYPE_DOUBLE;
            sh->src = SRC_F64;
            break;
        case PQ_BYTE_ARRAY:
            k = WEIR_TYPE_BINARY;
            sh->src = SRC_BYTES;
            break;
        case PQ_FIXED_LEN_BYTE_ARRAY:
            k = WEIR_TYPE_BINARY;
            sh->src = SRC_FLBA;
            break;
        default:
            return corrupt_col(r, n, "unknown physical type", err);
        }
        break;
    case PQ_LT_STRING:
    case PQ_LT_ENUM:
    case PQ_LT_JSON:
        k = WEIR_TYPE_STRING;
        sh->src = SRC_BYTES;
        bad_phys = pt != PQ_BYTE_ARRAY;
        break;
    case PQ_LT_BSON:
        k = WEIR_TYPE_BINARY;
        sh->src = SRC_BYTES;
        bad_phys = pt != PQ_BYTE_ARRAY;
        break;
    case PQ_LT_DECIMAL: {
        int p = lt->kind == PQ_LT_DECIMAL ? lt->precision : el->precision;
        int s = lt->kind == PQ_LT_DECIMAL ? lt->scale : el->scale;
        if (p < 1 || p > 38 || s < 0 || s > p) {
            snprintf(msg, sizeof msg, "decimal(%d,%d) is outside Delta's range (precision 1..38)", p, s);
            return unsupported_col(r, n, msg, err);
        }
        k = WEIR_TYPE_DECIMAL;
        sh->precision = p;
        sh->scale = s;
        if (pt == PQ_INT32)
            sh->src = SRC_I32;
        else if (pt == PQ_INT64)
            sh->src = SRC_I64;
        else if (pt == PQ_BYTE_ARRAY || pt == PQ_FIXED_LEN_BYTE_ARRAY)
            sh->src = SRC_DEC_BE;
        else
            bad_phys = true;
        break;
    }
    case PQ_LT_DATE:
        k = WEIR_TYPE_DATE;
        sh->src = SRC_I32;
        bad_phys = pt != PQ_INT32;
        break;
    case PQ_LT_TIMESTAMP: {
        bool adjusted = true;
        int unit = PQ_MICROS;
        if (lt->kind == PQ_LT_TIMESTAMP) {
            adjusted = lt->adjusted_to_utc;
            unit = lt->unit;
        } else {
            unit = el->converted == PQ_CT_TIMESTAMP_MILLIS ? PQ_MILLIS : PQ_MICROS;
        }
        if (unit != PQ_MILLIS && unit != PQ_MICROS && unit != PQ_NANOS)
            return corrupt_col(r, n, "timestamp with an unknown unit", err);
        k = adjusted ? WEIR_TYPE_TIMESTAMP : WEIR_TYPE_TIMESTAMP_NTZ;
        sh->unit = unit;
        if (pt == PQ_INT64)
            sh->src = SRC_I64;
        else if (pt == PQ_INT96) {
            sh->src = SRC_INT96;
            sh->unit = 0;
        } else
            bad_phys = true;
        break;
    }
    case PQ_LT_INTEGER: {
        int bits;
        bool is_signed;
        if (lt->kind == PQ_LT_INTEGER) {
            bits = lt->bit_width;
            is_signed = lt->is_signed;
        } else {
            switch (el->converted) {
            case PQ_CT_UINT_8:
                bits = 8;
                is_signed = false;
                break;
            case PQ_CT_UINT_16:
                bits = 16;
                is_signed = false;
                break;
            case PQ_CT_UINT_32:
                bits = 32;
                is_signed = false;
                break;
            case PQ_CT_UINT_64:
                bits = 64;
                is_signed = false;
                break;
            case PQ_CT_INT_8:
                bits = 8;
                is_signed = true;
                break;
            case PQ_CT_INT_16:
                bits = 16;
                is_signed = true;
                break;
            case PQ_CT_INT_32:
                bits = 32;
                is_signed = true;
                break;
            default:
                bits = 64;
                is_signed = true;
                break;
            }
        }
        if (bits != 8 && bits != 16 && bits != 32 && bits != 64)
            return corrupt_col(r, n, "integer annotation with a bit width other than 8/16/32/64", err);
        if ((bits == 64) != (pt == PQ_INT64) || (pt != PQ_INT32 && pt != PQ_INT64)) {
            bad_phys = true;
            k = WEIR_TYPE_LONG;
            break;
        }
        if (is_signed) {
            k = bits == 8    ? WEIR_TYPE_BYTE
                : bits == 16 ? WEIR_TYPE_SHORT
                : bits == 32 ? WEIR_TYPE_INTEGER
                             : WEIR_TYPE_LONG;
            sh->src = bits == 64 ? SRC_I64 : SRC_I32;
        } else if (bits == 64) {
            k = WEIR_TYPE_DECIMAL; /* unsigned 64 -> decimal(20,0) */
            sh->precision = 20;
            sh->scale = 0;
            sh->src = SRC_U64;
        } else {
            k = bits == 8 ? WEIR_TYPE_SHORT : bits == 16 ? WEIR_TYPE_INTEGER : WEIR_TYPE_LONG;
            sh->src = SRC_U32;
        }
        break;
    }
    case PQ_LT_TIME:
        return unsupported_col(r, n, "TIME columns have no Delta type", err);
    case PQ_LT_UUID:
        return unsupported_col(r, n, "UUID columns have no Delta type", err);
    case PQ_LT_FLOAT16:
        return unsupported_col(r, n, "FLOAT16 columns are not supported", err);
    case PQ_LT_UNKNOWN:
        return unsupported_col(r, n, "UNKNOWN (null-typed) columns are not supported", err);
    case PQ_LT_MAP:
    case PQ_LT_LIST:
        return corrupt_col(r, n, "group annotation (MAP/LIST) on a primitive column", err);
    default:
        snprintf(msg, sizeof msg, "logical type %d is not supported", (int)lk);
        return unsupported_col(r, n, msg, err);
    }
    if (bad_phys)
        return corrupt_col(r, n, "logical type does not fit its physical type", err);
    if (pt == PQ_FIXED_LEN_BYTE_ARRAY && (el->type_length <= 0 || el->type_length > (1 << 20)))
        return corrupt_col(r, n, "FIXED_LEN_BYTE_ARRAY with an invalid type_length", err);
    sh->fkind = k;
    *type = k == WEIR_TYPE_DECIMAL ? weir_type_decimal(sh->precision, sh->scale) : weir_type_primitive(k);
    if (!*type)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    return 0;
}

static void shape_free(struct pq_shape *sh)
{
    if (!sh)
        return;
    for (size_t i = 0; i < sh->nchildren; i++)
        shape_free(&sh->children[i]);
    weir_free(sh->children);
    weir_free(sh->name);
    sh->children = NULL;
    sh->nchildren = 0;
    sh->name = NULL;
}

/* Field metadata carrying the Parquet field id (as Spark names it), which
 * Delta column mapping in id mode matches on; NULL ("{}") without one. */
static const char *field_meta(const struct pq_node *n, char buf[48])
{
    if (!n->el->has_field_id)
        return NULL;
    snprintf(buf, 48, "{\"parquet.field.id\":%d}", (int)n->el->field_id);
    return buf;
}

static bool is_list(const struct pq_schema_element *el)
{
    return el->logical.kind == PQ_LT_LIST ||
           (el->logical.kind == PQ_LT_NONE && el->has_converted && el->converted == PQ_CT_LIST);
}

static bool is_map(const struct pq_schema_element *el)
{
    return el->logical.kind == PQ_LT_MAP ||
           (el->logical.kind == PQ_LT_NONE && el->has_converted &&
            (el->converted == PQ_CT_MAP || el->converted == PQ_CT_MAP_KEY_VALUE));
}

/* Build the shape and Delta type of node `ni` whose slots are (rep_ctx,
 * anc_def). `single`: the node is repeated but is itself the element of an
 * enclosing list, so it is not a list of its own. */
static int build_shape(struct weir_parquet_reader *r, int ni, int16_t rep_ctx, int16_t anc_def, bool single,
                       int depth, struct pq_shape *sh, struct weir_type **type, struct weir_error *err)
{
    const struct pq_node *n = &r->nodes[ni];
    const struct pq_schema_element *el = n->el;
    int rc = 0;
    struct weir_type *t = NULL, *ct = NULL, *kt = NULL;
    if (depth > MAX_DEPTH)
        return corrupt_col(r, n, "nested too deeply", err);
    sh->node = ni;
    sh->rep_ctx = rep_ctx;
    sh->anc_def = anc_def;
    sh->first_leaf = n->first_leaf;
    sh->nleaves = n->nleaves;
    sh->leaf = n->leaf;
    bool repeated = el->has_repetition && el->repetition == PQ_REPEATED;
    sh->nullable = single ? false : !el->has_repetition || el->repetition == PQ_OPTIONAL;

    if (repeated && !single) {
        /* A bare repeated field: a required list of required elements. */
        sh->kind = SH_LIST;
        sh->def = (int16_t)(n->def - 1);
        sh->elem_rep = n->rep;
        sh->elem_def = n->def;
        sh->nullable = false;
        sh->children = weir_calloc(1, sizeof *sh->children);
        if (!sh->children)
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        sh->nchildren = 1;
        if ((rc = build_shape(r, ni, n->rep, n->def, true, depth + 1, &sh->children[0], &ct, err)) < 0)
            return rc;
        t = weir_type_array(ct, false);
        goto made;
    }
    sh->def = n->def;
    if (n->leaf >= 0) {
        sh->kind = SH_LEAF;
        return map_leaf(r, n, sh, type, err);
    }
    if (is_list(el)) {
        if (n->nchildren != 1)
            return corrupt_col(r, n, "LIST group must have exactly one child", err);
        const struct pq_node *c = &r->nodes[n->children[0]];
        if (!c->el->has_repetition || c->el->repetition != PQ_REPEATED)
            return corrupt_col(r, n, "LIST group's child is not repeated", err);
        sh->kind = SH_LIST;
        sh->elem_rep = c->rep;
        sh->elem_def = c->def;
        sh->children = weir_calloc(1, sizeof *sh->children);
        if (!sh->children)
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        sh->nchildren = 1;
        char tuple[512];
        snprintf(tuple, sizeof tuple, "%s_tuple", n->name);
        bool two_level =
            c->leaf >= 0 || c->nchildren > 1 || strcmp(c->name, "array") == 0 || strcmp(c->name, tuple) == 0;
        if (two_level)
            rc = build_shape(r, n->children[0], c->rep, c->def, true, depth + 1, &sh->children[0], &ct, err);
        else
            rc = build_shape(r, c->children[0], c->rep, c->def, false, depth + 1, &sh->children[0], &ct, err);
        if (rc < 0)
            return rc;
        t = weir_type_array(ct, sh->children[0].nullable);
        goto made;
    }
    if (is_map(el)) {
        const struct pq_node *kv = n;
        if (n->nchildren == 1 && r->nodes[n->children[0]].leaf < 0)
            kv = &r->nodes[n->children[0]];
        if (kv == n || !kv->el->has_repetition || kv->el->repetition != PQ_REPEATED)
            return corrupt_col(r, n, "MAP group must have one repeated key_value group", err);
        if (kv->nchildren != 2)
            return unsupported_col(r, n, "MAP whose key_value group does not have exactly a key and a value",
                                   err);
        sh->kind = SH_MAP;
        sh->elem_rep = kv->rep;
        sh->elem_def = kv->def;
        sh->children = weir_calloc(2, sizeof *sh->children);
        if (!sh->children)
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        sh->nchildren = 2;
        if ((rc = build_shape(r, kv->children[0], kv->rep, kv->def, false, depth + 1, &sh->children[0], &kt,
                              err)) < 0)
            return rc;
        if ((rc = build_shape(r, kv->children[1], kv->rep, kv->def, false, depth + 1, &sh->children[1], &ct,
                              err)) < 0) {
            weir_type_destroy(kt);
            return rc;
        }
        t = weir_type_map(kt, ct, sh->children[1].nullable);
        goto made;
    }
    /* Plain group: a struct. */
    if (n->nchildren == 0)
        return unsupported_col(r, n, "empty group (struct without fields)", err);
    sh->kind = SH_STRUCT;
    sh->children = weir_calloc((size_t)n->nchildren, sizeof *sh->children);
    t = weir_type_struct();
    if (!sh->children || !t) {
        weir_type_destroy(t);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n->nchildren; i++) {
        struct weir_type *ft = NULL;
        sh->nchildren = (size_t)i + 1;
        if ((rc = build_shape(r, n->children[i], rep_ctx, anc_def, false, depth + 1, &sh->children[i], &ft,
                              err)) < 0) {
            weir_type_destroy(t);
            return rc;
        }
        sh->children[i].name = weir_strdup(r->nodes[n->children[i]].name);
        if (!sh->children[i].name)
            weir_type_destroy(ft); /* struct_add owns ft only once called */
        char meta[48];
        int arc = sh->children[i].name
                      ? weir_type_struct_add(t, r->nodes[n->children[i]].name, ft, sh->children[i].nullable,
                                             field_meta(&r->nodes[n->children[i]], meta))
                      : WEIR_ENOMEM;
        if (arc != 0) {
            weir_type_destroy(t);
            if (arc == WEIR_EEXISTS)
                return unsupported_col(r, &r->nodes[n->children[i]],
                                       "field name repeated in its struct "
                                       "(names are matched case-insensitively)",
                                       err);
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        }
    }
    *type = t;
    return 0;
made:
    if (!t)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    *type = t;
    return 0;
}

static int build_schema(struct weir_parquet_reader *r, struct weir_error *err)
{
    const struct pq_node *root = &r->nodes[0];
    struct weir_type *st = weir_type_struct();
    int rc = 0;
    if (!st)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    r->root.kind = SH_STRUCT;
    r->root.node = 0;
    r->root.first_leaf = 0;
    r->root.nleaves = (int)r->nleaves;
    r->root.nullable = false;
    if (root->nchildren > 0) {
        r->root.children = weir_calloc((size_t)root->nchildren, sizeof *r->root.children);
        if (!r->root.children) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto done;
        }
    }
    for (int i = 0; i < root->nchildren; i++) {
        struct weir_type *ft = NULL;
        struct pq_shape *c = &r->root.children[i];
        r->root.nchildren = (size_t)i + 1;
        if ((rc = build_shape(r, root->children[i], 0, 0, false, 1, c, &ft, err)) < 0)
            goto done;
        c->name = weir_strdup(r->nodes[root->children[i]].name);
        if (!c->name)
            weir_type_destroy(ft);
        char meta[48];
        int arc = c->name ? weir_type_struct_add(st, c->name, ft, c->nullable,
                                                 field_meta(&r->nodes[root->children[i]], meta))
                          : WEIR_ENOMEM;
        if (arc == WEIR_EEXISTS) {
            rc = unsupported_col(r, &r->nodes[root->children[i]],
                                 "column name repeated (names are matched case-insensitively)", err);
            goto done;
        }
        if (arc != 0) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto done;
        }
    }
    r->schema = st;
    st = NULL;
done:
    weir_type_destroy(st);
    return rc;
}

/* ---- open / destroy --------------------------------------------------- */

static void leaf_data_free(struct leaf_data *ld);

void weir_parquet_reader_destroy(struct weir_parquet_reader *r)
{
    if (!r)
        return;
    shape_free(&r->root);
    weir_type_destroy(r->schema);
    if (r->nodes)
        for (size_t i = 0; i < r->nnodes; i++)
            weir_free(r->nodes[i].name);
    if (r->leaf_paths)
        for (size_t i = 0; i < r->nleaves; i++)
            weir_free(r->leaf_paths[i]);
    weir_free(r->leaf_paths);
    weir_free(r->nodes);
    weir_free(r->child_pool);
    weir_free(r->leaves);
    if (r->meta_ok)
        pq_file_meta_free(&r->meta);
    weir_free(r->footer);
    weir_buf_free(&r->scratch);
    weir_buf_free(&r->chunk);
    if (r->cache)
        for (size_t i = 0; i < r->nleaves; i++)
            leaf_data_free(&r->cache[i]);
    weir_free(r->cache);
    weir_free(r);
}

static int build_leaf_paths(struct weir_parquet_reader *r, struct weir_error *err)
{
    r->leaves = weir_calloc(r->nleaves ? r->nleaves : 1, sizeof *r->leaves);
    r->leaf_paths = weir_calloc(r->nleaves ? r->nleaves : 1, sizeof *r->leaf_paths);
    if (!r->leaves || !r->leaf_paths)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->nnodes; i++) {
        if (r->nodes[i].leaf < 0)
            continue;
        r->leaves[r->nodes[i].leaf] = (int)i;
        struct weir_buf b;
        weir_buf_init(&b);
        int chain[MAX_DEPTH + 2], nchain = 0;
        for (int j = (int)i; j > 0 && nchain < MAX_DEPTH + 2; j = r->nodes[j].parent)
            chain[nchain++] = j;
        int rc = 0;
        for (int k = nchain - 1; k >= 0 && rc == 0; k--)
            rc = weir_buf_printf(&b, "%s%s", k == nchain - 1 ? "" : ".", r->nodes[chain[k]].name);
        if (rc == 0)
            rc = weir_buf_append_byte(&b, 0);
        if (rc != 0) {
            weir_buf_free(&b);
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        }
        r->leaf_paths[r->nodes[i].leaf] = (char *)b.data;
    }
    return 0;
}

int weir_parquet_reader_open(struct weir_parquet_reader **out, const struct weir_input *in,
                             struct weir_error *err)
{
    struct weir_parquet_reader *r = NULL;
    int rc = 0;
    uint8_t tail[8], head[4];
    *out = NULL;
    const char *name = in_name(in);
    if (in->size < 12) {
        rc = weir_error_set(err, WEIR_ECORRUPT, "%s: file of %llu bytes is too small to be Parquet", name,
                            (unsigned long long)in->size);
        goto done;
    }
    if ((rc = in->read_at(in->ctx, in->size - 8, tail, 8, err)) < 0)
        goto done;
    if ((rc = in->read_at(in->ctx, 0, head, 4, err)) < 0)
        goto done;
    if (memcmp(tail + 4, "PARE", 4) == 0) {
        rc = weir_error_set(err, WEIR_EUNSUPPORTED, "%s: encrypted Parquet files are not supported", name);
        goto done;
    }
    if (memcmp(tail + 4, "PAR1", 4) != 0 || memcmp(head, "PAR1", 4) != 0) {
        rc = weir_error_set(err, WEIR_ECORRUPT, "%s: missing PAR1 magic at the %s of the file", name,
                            memcmp(head, "PAR1", 4) != 0 ? "start" : "end");
        goto done;
    }
    uint32_t flen =
        (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 | (uint32_t)tail[3] << 24;
    if ((uint64_t)flen + 12 > in->size || flen == 0) {
        rc = weir_error_set(err, WEIR_ECORRUPT, "%s: footer length %u does not fit in a file of %llu bytes",
                            name, flen, (unsigned long long)in->size);
        goto done;
    }
    r = weir_calloc(1, sizeof *r);
    if (!r) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    r->in = in;
    weir_buf_init(&r->scratch);
    r->footer_len = flen;
    r->footer = weir_malloc(flen);
    if (!r->footer) {
        rc = weir_error_set(err, WEIR_ENOMEM, "%s: cannot allocate a %u-byte footer", name, flen);
        goto done;
    }
    if ((rc = in->read_at(in->ctx, in->size - 8 - flen, r->footer, flen, err)) < 0)
        goto done;
    if ((rc = pq_file_meta_decode(r->footer, flen, &r->meta, name, err)) < 0)
        goto done;
    r->meta_ok = true;
    if (r->meta.nschema < 1 || r->meta.schema[0].num_children < 0) {
        rc = weir_error_set(err, WEIR_ECORRUPT, "%s: footer has no schema", name);
        goto done;
    }
    if (r->meta.num_rows < 0) {
        rc = weir_error_set(err, WEIR_ECORRUPT, "%s: footer says %lld rows", name,
                            (long long)r->meta.num_rows);
        goto done;
    }
    r->nnodes = r->meta.nschema;
    r->nodes = weir_calloc(r->nnodes, sizeof *r->nodes);
    r->child_pool = weir_calloc(r->nnodes, sizeof *r->child_pool);
    if (!r->nodes || !r->child_pool) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    size_t pos = 0;
    int nleaf = 0;
    if ((rc = build_nodes(r, &pos, -1, 0, &nleaf, err)) < 0)
        goto done;
    if (pos != r->meta.nschema) {
        rc = weir_error_set(err, WEIR_ECORRUPT, "%s: schema has %u elements but the root tree uses %zu", name,
                            r->meta.nschema, pos);
        goto done;
    }
    r->nleaves = (size_t)nleaf;
    if ((rc = build_leaf_paths(r, err)) < 0)
        goto done;
    for (uint32_t g = 0; g < r->meta.nrow_groups; g++) {
        const struct pq_row_group *rg = &r->meta.row_groups[g];
        if (rg->ncolumns != r->nleaves) {
            rc = weir_error_set(err, WEIR_ECORRUPT,
                                "%s: row group %u has %u column chunks, schema has %zu leaves", name, g,
                                rg->ncolumns, r->nleaves);
            goto done;
        }
        if (rg->num_rows < 0) {
            rc = weir_error_set(err, WEIR_ECORRUPT, "%s: row group %u has %lld rows", name, g,
                                (long long)rg->num_rows);
            goto done;
        }
    }
    if ((rc = build_schema(r, err)) < 0)
        goto done;
    *out = r;
    r = NULL;
done:
    weir_parquet_reader_destroy(r);
    return rc;
}

const struct weir_type *weir_parquet_reader_schema(const struct weir_parquet_reader *r)
{
    return r->schema;
}

int64_t weir_parquet_reader_num_rows(const struct weir_parquet_reader *r)
{
    return r->meta.num_rows;
}

int weir_parquet_reader_num_row_groups(const struct weir_parquet_reader *r)
{
    return (int)r->meta.nrow_groups;
}

/* ---- reading: plans ---------------------------------------------------- */

struct plan {
    const struct weir_type *want;
    const struct pq_shape *sh; /* NULL: the field is missing from the file */
    int rep_leaf;              /* leaf whose levels shape this column */
    struct plan *children;
    size_t nchildren;
    /* leaves: value conversion */
    weir_i128 mul;
    int64_t div;
};

static void plan_free(struct plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nchildren; i++)
        plan_free(&p->children[i]);
    weir_free(p->children);
    p->children = NULL;
    p->nchildren = 0;
}

static weir_i128 pow10_i128(int n)
{
    weir_i128 v = 1;
    while (n-- > 0)
        v *= 10;
    return v;
}

static int int_digits(enum weir_type_kind k)
{
    switch (k) {
    case WEIR_TYPE_BYTE:
        return 3;
    case WEIR_TYPE_SHORT:
        return 5;
    case WEIR_TYPE_INTEGER:
        return 10;
    case WEIR_TYPE_LONG:
        return 19;
    default:
        return 99;
    }
}

static int int_rank(enum weir_type_kind k)
{
    switch (k) {
    case WEIR_TYPE_BYTE:
        return 1;
    case WEIR_TYPE_SHORT:
        return 2;
    case WEIR_TYPE_INTEGER:
        return 3;
    case WEIR_TYPE_LONG:
        return 4;
    default:
        return 0;
    }
}

/* Can a leaf of shape `sh` be read as `want`? Sets p->mul / p->div. */
static bool leaf_compatible(const struct pq_shape *sh, const struct weir_type *want, struct plan *p)
{
    enum weir_type_kind f = sh->fkind, w = want->kind;
    p->mul = 1;
    p->div = 1;
    if (f == WEIR_TYPE_TIMESTAMP || f == WEIR_TYPE_TIMESTAMP_NTZ) {
        if (sh->unit == PQ_MILLIS)
            p->mul = 1000;
        else if (sh->unit == PQ_NANOS)
            p->div = 1000;
        /* Either flavour reads as either: some writers (older delta-rs,
         * pandas-born files) store a Delta `timestamp` column without the
         * UTC-adjusted flag; the micros are the same, as delta-rs reads them. */
        return w == WEIR_TYPE_TIMESTAMP || w == WEIR_TYPE_TIMESTAMP_NTZ;
    }
    if (f == WEIR_TYPE_DECIMAL) {
        if (w != WEIR_TYPE_DECIMAL || want->scale < sh->scale ||
            want->precision - want->scale < sh->precision - sh->scale)
            return false;
        p->mul = pow10_i128(want->scale - sh->scale);
        return true;
    }
    if (int_rank(f)) {
        if (int_rank(w))
            return int_rank(w) >= int_rank(f);
        if (w == WEIR_TYPE_DOUBLE)
            return f != WEIR_TYPE_LONG;
        if (w == WEIR_TYPE_DECIMAL && want->precision - want->scale >= int_digits(f)) {
            p->mul = pow10_i128(want->scale);
            return true;
        }
        return false;
    }
    if (f == WEIR_TYPE_DATE) {
        if (w == WEIR_TYPE_TIMESTAMP_NTZ) {
            p->mul = (weir_i128)86400000000LL;
            return true;
        }
        return w == WEIR_TYPE_DATE;
    }
    if (f == WEIR_TYPE_FLOAT)
        return w == WEIR_TYPE_FLOAT || w == WEIR_TYPE_DOUBLE;
    if (f == WEIR_TYPE_STRING || f == WEIR_TYPE_BINARY)
        return w == WEIR_TYPE_STRING || w == WEIR_TYPE_BINARY;
    return f == w;
}

static const struct pq_shape *find_child(const struct pq_shape *sh, const char *name)
{
    for (size_t i = 0; i < sh->nchildren; i++)
        if (sh->children[i].name && strcmp(sh->children[i].name, name) == 0)
            return &sh->children[i];
    for (size_t i = 0; i < sh->nchildren; i++)
        if (sh->children[i].name && strcasecmp(sh->children[i].name, name) == 0)
            return &sh->children[i];
    return NULL;
}

static int schema_mismatch(struct weir_parquet_reader *r, const char *path, const struct pq_shape *sh,
                           const struct weir_type *want, struct weir_error *err)
{
    const char *kinds[] = {"leaf", "struct", "array", "map"};
    char *wd = weir_type_to_display(want);
    int rc;
    if (sh->kind == SH_LEAF) {
        struct weir_type tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.kind = sh->fkind;
        tmp.precision = sh->precision;
        tmp.scale = sh->scale;
        char *fd = weir_type_to_display(&tmp);
        rc = weir_error_set(err, WEIR_ESCHEMA, "%s: column %s: file has %s, cannot read it as %s",
                            in_name(r->in), path, fd ? fd : "?", wd ? wd : "?");
        weir_free(fd);
    } else {
        rc = weir_error_set(err, WEIR_ESCHEMA, "%s: column %s: file has a %s, cannot read it as %s",
                            in_name(r->in), path, kinds[sh->kind], wd ? wd : "?");
    }
    weir_free(wd);
    return rc;
}

static int build_plan(struct weir_parquet_reader *r, const struct weir_type *want, const struct pq_shape *sh,
                      const char *path, struct plan *p, struct weir_error *err)
{
    int rc = 0;
    p->want = want;
    p->sh = sh;
    p->rep_leaf = -1;
    if (!sh)
        return 0;
    switch (want->kind) {
    case WEIR_TYPE_STRUCT:
        if (sh->kind != SH_STRUCT)
            return schema_mismatch(r, path, sh, want, err);
        if (want->nfields) {
            p->children = weir_calloc(want->nfields, sizeof *p->children);
            if (!p->children)
                return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < want->nfields; i++) {
            p->nchildren = i + 1;
            const struct weir_field *f = &want->fields[i];
            char *cpath = weir_asprintf("%s%s%s", path, *path ? "." : "", f->name);
            if (!cpath)
                return weir_error_set(err, WEIR_ENOMEM, "out of memory");
            rc = build_plan(r, f->type, find_child(sh, f->name), cpath, &p->children[i], err);
            weir_free(cpath);
            if (rc < 0)
                return rc;
        }
        return 0;
    case WEIR_TYPE_ARRAY:
    case WEIR_TYPE_MAP: {
        bool is_arr = want->kind == WEIR_TYPE_ARRAY;
        if (sh->kind != (is_arr ? SH_LIST : SH_MAP))
            return schema_mismatch(r, path, sh, want, err);
        size_t nc = is_arr ? 1 : 2;
        p->children = weir_calloc(nc, sizeof *p->children);
        if (!p->children)
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        for (size_t i = 0; i < nc; i++) {
            p->nchildren = i + 1;
            const struct weir_type *ct = is_arr ? want->element : i == 0 ? want->key : want->value;
            char *cpath = weir_asprintf("%s.%s", path, is_arr ? "element" : i == 0 ? "key" : "value");
            if (!cpath)
                return weir_error_set(err, WEIR_ENOMEM, "out of memory");
            rc = build_plan(r, ct, &sh->children[i], cpath, &p->children[i], err);
            weir_free(cpath);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    default:
        if (sh->kind != SH_LEAF || !leaf_compatible(sh, want, p))
            return schema_mismatch(r, path, sh, want, err);
        p->rep_leaf = sh->leaf;
        return 0;
    }
}

/* Mark the leaves a plan needs; nested columns take their levels from the
 * first needed leaf below them (or their first leaf if none is needed). */
static void plan_mark(struct plan *p, uint8_t *need)
{
    if (!p->sh)
        return;
    if (p->sh->kind == SH_LEAF) {
        need[p->sh->leaf] = 1;
        return;
    }
    for (size_t i = 0; i < p->nchildren; i++)
        plan_mark(&p->children[i], need);
    p->rep_leaf = -1;
    for (int l = p->sh->first_leaf; l < p->sh->first_leaf + p->sh->nleaves; l++)
        if (need[l]) {
            p->rep_leaf = l;
            break;
        }
    if (p->rep_leaf < 0) {
        p->rep_leaf = p->sh->first_leaf;
        need[p->rep_leaf] = 1;
    }
}

/* ---- reading: column chunks -------------------------------------------- */

static void leaf_data_free(struct leaf_data *ld)
{
    weir_free(ld->def);
    weir_free(ld->rep);
    pq_values_free(&ld->vals);
    pq_values_free(&ld->dict);
    memset(ld, 0, sizeof *ld);
}

static int decode_levels_v1(const uint8_t **pp, size_t *np, int enc, uint16_t max, uint16_t *out,
                            size_t count, struct weir_error *err)
{
    int bw = pq_bit_width(max);
    if (enc == PQ_RLE) {
        if (*np < 4)
            return weir_error_set(err, WEIR_ECORRUPT, "level data length prefix is truncated");
        uint32_t len;
        memcpy(&len, *pp, 4);
        if (len > *np - 4)
            return weir_error_set(err, WEIR_ECORRUPT, "level data length %u past the page end (%zu bytes)",
                                  len, *np - 4);
        struct pq_rle_decoder d;
        pq_rle_init(&d, *pp + 4, len, bw);
        int rc = pq_rle_read_levels(&d, out, count, max, err);
        if (rc < 0)
            return rc;
        *pp += 4 + (size_t)len;
        *np -= 4 + (size_t)len;
        return 0;
    }
    if (enc == PQ_BIT_PACKED) {
        long used = pq_bitpacked_read_levels(*pp, *np, bw, out, count, max, err);
        if (used < 0)
            return (int)used;
        *pp += used;
        *np -= (size_t)used;
        return 0;
    }
    return weir_error_set(err, WEIR_EUNSUPPORTED, "level encoding %d is not supported", enc);
}

static int decode_values(struct leaf_data *ld, int enc, const uint8_t *p, size_t n, size_t count,
                         struct weir_error *err)
{
    if (count == 0)
        return 0;
    switch (enc) {
    case PQ_PLAIN:
        return pq_decode_plain(&ld->vals, p, n, count, NULL, err);
    case PQ_PLAIN_DICTIONARY:
    case PQ_RLE_DICTIONARY:
        return pq_decode_dict(&ld->vals, ld->has_dict ? &ld->dict : NULL, p, n, count, err);
    case PQ_RLE:
        if (ld->vals.ptype != PQ_BOOLEAN)
            return weir_error_set(err, WEIR_ECORRUPT, "RLE value encoding on a non-boolean column");
        return pq_decode_rle_bool(&ld->vals, p, n, count, err);
    case PQ_DELTA_BINARY_PACKED:
        return pq_decode_delta_binary(&ld->vals, p, n, count, NULL, err);
    case PQ_DELTA_LENGTH_BYTE_ARRAY:
        return pq_decode_delta_length(&ld->vals, p, n, count, err);
    case PQ_DELTA_BYTE_ARRAY:
        return pq_decode_delta_byte_array(&ld->vals, p, n, count, err);
    case PQ_BYTE_STREAM_SPLIT:
        return pq_decode_byte_stream_split(&ld->vals, p, n, count, err);
    default:
        return weir_error_set(err, WEIR_EUNSUPPORTED, "value encoding %d is not supported", enc);
    }
}

static size_t count_present(const uint16_t *def, size_t n, uint16_t max)
{
    if (!def)
        return n;
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += def[i] == max;
    return c;
}

/* Decompress a page body into r->scratch unless it is stored raw. */
static int page_body(struct weir_parquet_reader *r, int codec, const uint8_t *src, size_t clen, size_t ulen,
                     const uint8_t **out, struct weir_error *err)
{
    if (codec == WEIR_PARQUET_UNCOMPRESSED) {
        if (clen != ulen)
            return weir_error_set(err, WEIR_ECORRUPT, "uncompressed page of %zu bytes says it has %zu", clen,
                                  ulen);
        *out = src;
        return 0;
    }
    if (ulen > ((size_t)64 << 20) && ulen / 4096 > clen)
        return weir_error_set(err, WEIR_ECORRUPT, "page claims %zu uncompressed bytes from %zu", ulen, clen);
    r->scratch.len = 0;
    if (weir_buf_reserve(&r->scratch, ulen ? ulen : 1) != 0)
        return weir_error_set(err, WEIR_ENOMEM, "cannot allocate %zu bytes for a page", ulen);
    int rc = pq_decompress(codec, src, clen, r->scratch.data, ulen, err);
    if (rc < 0)
        return rc;
    *out = r->scratch.data;
    return 0;
}

static int read_page(struct weir_parquet_reader *r, struct leaf_data *ld, int codec,
                     const struct pq_page_header *h, const uint8_t *page, size_t csize, size_t usize,
                     int64_t remaining, size_t *got, struct weir_error *err)
{
    const uint8_t *body = NULL;
    int rc;
    switch (h->type) {
    case PQ_DICTIONARY_PAGE: {
        if (!h->has_dictionary)
            return weir_error_set(err, WEIR_ECORRUPT, "dictionary page without a dictionary header");
        if (ld->has_dict || *got > 0)
            return weir_error_set(err, WEIR_ECORRUPT, "dictionary page after the first page of the chunk");
        if (h->dictionary.num_values < 0)
            return weir_error_set(err, WEIR_ECORRUPT, "dictionary page with %d values",
                                  h->dictionary.num_values);
        if (h->dictionary.encoding != PQ_PLAIN && h->dictionary.encoding != PQ_PLAIN_DICTIONARY)
            return weir_error_set(err, WEIR_EUNSUPPORTED, "dictionary page encoding %d",
                                  h->dictionary.encoding);
        if ((rc = page_body(r, codec, page, csize, usize, &body, err)) < 0)
            return rc;
        if ((rc = pq_decode_plain(&ld->dict, body, usize, (size_t)h->dictionary.num_values, NULL, err)) < 0)
            return rc;
        ld->has_dict = true;
        return 0;
    }
    case PQ_DATA_PAGE:
    case PQ_DATA_PAGE_V2: {
        bool v2 = h->type == PQ_DATA_PAGE_V2;
        if (v2 ? !h->has_data_v2 : !h->has_data)
            return weir_error_set(err, WEIR_ECORRUPT, "data page without its header");
        int32_t nv = v2 ? h->data_v2.num_values : h->data.num_values;
        if (nv < 0 || nv > remaining)
            return weir_error_set(err, WEIR_ECORRUPT, "page has %d values, the chunk has %lld left", nv,
                                  (long long)remaining);
        if ((uint64_t)nv > VALUES_BASE_CAP + (uint64_t)usize * VALUES_PER_BYTE)
            return weir_error_set(err, WEIR_ECORRUPT, "page claims %d values in %zu bytes", nv, usize);
        size_t count = (size_t)nv;
        uint16_t *defs = ld->max_def > 0 ? ld->def + *got : NULL;
        uint16_t *reps = ld->max_rep > 0 ? ld->rep + *got : NULL;
        const uint8_t *vp;
        size_t vn;
        int enc;
        if (!v2) {
            if ((rc = page_body(r, codec, page, csize, usize, &body, err)) < 0)
                return rc;
            vp = body;
            vn = usize;
            if (reps && (rc = decode_levels_v1(&vp, &vn, h->data.repetition_level_encoding,
                                               (uint16_t)ld->max_rep, reps, count, err)) < 0)
                return rc;
            if (defs && (rc = decode_levels_v1(&vp, &vn, h->data.definition_level_encoding,
                                               (uint16_t)ld->max_def, defs, count, err)) < 0)
                return rc;
            enc = h->data.encoding;
        } else {
            int32_t rl = h->data_v2.repetition_levels_byte_length,
                    dl = h->data_v2.definition_levels_byte_length;
            if (rl < 0 || dl < 0 || (uint64_t)rl + (uint64_t)dl > csize ||
                (uint64_t)rl + (uint64_t)dl > usize)
                return weir_error_set(err, WEIR_ECORRUPT,
                                      "v2 level lengths %d + %d exceed the page (%zu bytes)", rl, dl, csize);
            if (reps) {
                struct pq_rle_decoder d;
                pq_rle_init(&d, page, (size_t)rl, pq_bit_width((uint32_t)ld->max_rep));
                if ((rc = pq_rle_read_levels(&d, reps, count, (uint16_t)ld->max_rep, err)) < 0)
                    return rc;
            }
            if (defs) {
                struct pq_rle_decoder d;
                pq_rle_init(&d, page + rl, (size_t)dl, pq_bit_width((uint32_t)ld->max_def));
                if ((rc = pq_rle_read_levels(&d, defs, count, (uint16_t)ld->max_def, err)) < 0)
                    return rc;
            }
            size_t off = (size_t)rl + (size_t)dl;
            bool compressed = h->data_v2.is_compressed && codec != WEIR_PARQUET_UNCOMPRESSED;
            if ((rc = page_body(r, compressed ? codec : WEIR_PARQUET_UNCOMPRESSED, page + off, csize - off,
                                usize - off, &body, err)) < 0)
                return rc;
            vp = body;
            vn = usize - off;
            enc = h->data_v2.encoding;
        }
        if (reps && *got == 0 && count > 0 && reps[0] != 0)
            return weir_error_set(err, WEIR_ECORRUPT, "first repetition level of the chunk is %u, not 0",
                                  reps[0]);
        size_t present = count_present(defs, count, (uint16_t)ld->max_def);
        if (v2 && h->data_v2.num_nulls >= 0 && defs && (size_t)h->data_v2.num_nulls > count)
            return weir_error_set(err, WEIR_ECORRUPT, "v2 page has more nulls than values");
        if ((rc = decode_values(ld, enc, vp, vn, present, err)) < 0)
            return rc;
        *got += count;
        return 0;
    }
    default:
        return 0; /* index pages and unknown page types are skipped */
    }
}

static int read_chunk(struct weir_parquet_reader *r, int g, int leaf, struct leaf_data *ld,
                      struct weir_error *err)
{
    const struct pq_node *node = &r->nodes[r->leaves[leaf]];
    const struct pq_column_chunk *cc = &r->meta.row_groups[g].columns[leaf];
    const char *path = r->leaf_paths[leaf];
    const char *name = in_name(r->in);
    uint8_t *buf = NULL;
    int rc = 0;
    ld->max_def = node->def;
    ld->max_rep = node->rep;
    ld->nlevels = 0;
    ld->has_dict = false;
    if (ld->loaded) {
        pq_values_clear(&ld->vals);
        pq_values_clear(&ld->dict);
    } else {
        /* (Re)initialise from scratch: a failed earlier attempt may have
         * left one store half set up. */
        pq_values_free(&ld->vals);
        pq_values_free(&ld->dict);
        if ((rc = pq_values_init(&ld->vals, node->el->type, node->el->type_length)) < 0 ||
            (rc = pq_values_init(&ld->dict, node->el->type, node->el->type_length)) < 0) {
            rc = weir_error_set(err, rc == WEIR_ENOMEM ? WEIR_ENOMEM : WEIR_ECORRUPT,
                                "%s: column %s: cannot set up values of physical type %d", name, path,
                                node->el->type);
            goto done;
        }
        ld->loaded = true;
    }
    if (!cc->has_meta) {
        rc = weir_error_set(err, WEIR_ECORRUPT, "%s: column %s, row group %d: column chunk has no metadata",
                            name, path, g);
        goto done;
    }
    if (cc->file_path.p) {
        rc =
            weir_error_set(err, WEIR_EUNSUPPORTED,
                           "%s: column %s, row group %d: column chunk stored in another file", name, path, g);
        goto done;
    }
    const struct pq_column_meta *m = &cc->meta;
    if (m->type != node->el->type) {
        rc = weir_error_set(err, WEIR_ECORRUPT,
                            "%s: column %s, row group %d: chunk type %d differs from schema type %d", name,
                            path, g, m->type, node->el->type);
        goto done;
    }
    int64_t start = m->data_page_offset;
    if (m->has_dictionary_page_offset && m->dictionary_page_offset > 0 && m->dictionary_page_offset < start)
        start = m->dictionary_page_offset;
    int64_t len = m->total_compressed_size;
    uint64_t data_end = r->in->size - 8 - r->footer_len;
    if (start < 4 || len <= 0 || (uint64_t)start > data_end || (uint64_t)len > data_end - (uint64_t)start) {
        rc = weir_error_set(
            err, WEIR_ECORRUPT,
            "%s: column %s, row group %d: chunk at offset %lld, %lld bytes, lies outside the data "
            "(%llu bytes)",
            name, path, g, (long long)start, (long long)len, (unsigned long long)data_end);
        goto done;
    }
    int64_t nvalues = m->num_values;
    if (nvalues < 0 || (uint64_t)nvalues > VALUES_BASE_CAP + (uint64_t)len * VALUES_PER_BYTE) {
        rc = weir_error_set(err, WEIR_ECORRUPT,
                            "%s: column %s, row group %d: chunk claims %lld values in %lld bytes", name, path,
                            g, (long long)nvalues, (long long)len);
        goto done;
    }
    size_t lcap = (size_t)nvalues + 1;
    if (ld->max_def > 0 && lcap > ld->def_cap) {
        uint16_t *d = weir_realloc(ld->def, lcap * sizeof *d);
        if (!d) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto done;
        }
        ld->def = d;
        ld->def_cap = lcap;
    }
    if (ld->max_rep > 0 && lcap > ld->rep_cap) {
        uint16_t *d = weir_realloc(ld->rep, lcap * sizeof *d);
        if (!d) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto done;
        }
        ld->rep = d;
        ld->rep_cap = lcap;
    }
    /* A flat column has exactly one value slot per row: size it once. */
    if (ld->max_rep == 0 && ld->vals.width > 0) {
        int64_t rows = r->meta.row_groups[g].num_rows;
        size_t want = (size_t)(rows < nvalues ? rows : nvalues);
        if (weir_buf_reserve(&ld->vals.fixed, want * (size_t)ld->vals.width) != 0) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto done;
        }
    }
    r->chunk.len = 0;
    if (weir_buf_reserve(&r->chunk, (size_t)len) != 0) {
        rc = weir_error_set(err, WEIR_ENOMEM, "%s: column %s: cannot allocate %lld bytes", name, path,
                            (long long)len);
        goto done;
    }
    buf = r->chunk.data;
    if ((rc = r->in->read_at(r->in->ctx, (uint64_t)start, buf, (size_t)len, err)) < 0)
        goto done;
    size_t pos = 0, got = 0;
    while (got < (size_t)nvalues) {
        uint64_t page_off = (uint64_t)start + pos;
        if (pos >= (size_t)len) {
            rc = weir_error_set(err, WEIR_ECORRUPT,
                                "%s: column %s, row group %d: chunk ends after %zu of %lld values", name,
                                path, g, got, (long long)nvalues);
            goto done;
        }
        struct pq_page_header h;
        size_t used = 0;
        memset(&h, 0, sizeof h);
        rc = pq_page_header_decode(buf + pos, (size_t)len - pos, &h, &used, "page header", err);
        if (rc == 0) {
            pos += used;
            if (h.compressed_page_size < 0 || h.uncompressed_page_size < 0 ||
                (size_t)h.compressed_page_size > (size_t)len - pos)
                rc = weir_error_set(err, WEIR_ECORRUPT,
                                    "page of %d bytes (%d uncompressed) overruns the chunk",
                                    h.compressed_page_size, h.uncompressed_page_size);
            else {
                rc = read_page(r, ld, m->codec, &h, buf + pos, (size_t)h.compressed_page_size,
                               (size_t)h.uncompressed_page_size, nvalues - (int64_t)got, &got, err);
                pos += (size_t)h.compressed_page_size;
            }
        }
        if (rc < 0) {
            weir_error_prefix(err, "%s: column %s, row group %d, page at offset %llu", name, path, g,
                              (unsigned long long)page_off);
            goto done;
        }
    }
    ld->nlevels = got;
done:
    return rc;
}

/* ---- reading: assembly ------------------------------------------------- */

#define DEF(ld, i) ((ld)->max_def > 0 ? (ld)->def[i] : 0)
#define REP(ld, i) ((ld)->max_rep > 0 ? (ld)->rep[i] : 0)

static inline weir_i128 read_int(const struct pq_shape *sh, const struct pq_values *v, size_t i)
{
    const uint8_t *base = v->fixed.data;
    switch (sh->src) {
    case SRC_I32: {
        int32_t x;
        memcpy(&x, base + 4 * i, 4);
        return x;
    }
    case SRC_U32: {
        uint32_t x;
        memcpy(&x, base + 4 * i, 4);
        return x;
    }
    case SRC_I64: {
        int64_t x;
        memcpy(&x, base + 8 * i, 8);
        return x;
    }
    case SRC_U64: {
        uint64_t x;
        memcpy(&x, base + 8 * i, 8);
        return (weir_i128)x;
    }
    case SRC_BOOL:
        return base[i];
    case SRC_INT96: {
        int64_t nanos;
        int32_t jd;
        memcpy(&nanos, base + 12 * i, 8);
        memcpy(&jd, base + 12 * i + 8, 4);
        weir_i128 us = ((weir_i128)jd - 2440588) * (weir_i128)86400000000LL;
        weir_i128 q = nanos / 1000;
        if (nanos % 1000 < 0)
            q -= 1;
        return us + q;
    }
    case SRC_DEC_BE: {
        const uint8_t *p;
        size_t n;
        if (v->ptype == PQ_BYTE_ARRAY) {
            const int64_t *off = pq_values_offsets(v);
            p = v->bytes.data + off[i];
            n = (size_t)(off[i + 1] - off[i]);
        } else {
            p = base + (size_t)v->width * i;
            n = (size_t)v->width;
        }
        if (n == 0)
            return 0;
        unsigned __int128 acc = (p[0] & 0x80) ? ~(unsigned __int128)0 : 0;
        for (size_t k = 0; k < n; k++)
            acc = (acc << 8) | p[k];
        return (weir_i128)acc;
    }
    default:
        return 0;
    }
}

static int append_leaf_value(struct weir_column *c, const struct plan *p, const struct pq_values *v, size_t i)
{
    const struct pq_shape *sh = p->sh;
    switch (p->want->kind) {
    case WEIR_TYPE_BOOLEAN:
        return weir_column_append_bool(c, v->fixed.data[i] != 0);
    case WEIR_TYPE_FLOAT: {
        float f;
        memcpy(&f, v->fixed.data + 4 * i, 4);
        return weir_column_append_f32(c, f);
    }
    case WEIR_TYPE_DOUBLE: {
        double d;
        if (sh->src == SRC_F64) {
            memcpy(&d, v->fixed.data + 8 * i, 8);
        } else if (sh->src == SRC_F32) {
            float f;
            memcpy(&f, v->fixed.data + 4 * i, 4);
            d = f;
        } else {
            d = (double)read_int(sh, v, i);
        }
        return weir_column_append_f64(c, d);
    }
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY:
        if (v->ptype == PQ_BYTE_ARRAY) {
            const int64_t *off = pq_values_offsets(v);
            return weir_column_append_bytes(c, v->bytes.data + off[i], (size_t)(off[i + 1] - off[i]));
        }
        return weir_column_append_bytes(c, v->fixed.data + (size_t)v->width * i, (size_t)v->width);
    default:
        break;
    }
    weir_i128 x = read_int(sh, v, i);
    if (p->mul != 1)
        x *= p->mul;
    if (p->div != 1) {
        weir_i128 q = x / p->div;
        if (x % p->div < 0)
            q -= 1;
        x = q;
    }
    switch (p->want->kind) {
    case WEIR_TYPE_BYTE:
        return weir_column_append_i8(c, (int8_t)x);
    case WEIR_TYPE_SHORT:
        return weir_column_append_i16(c, (int16_t)x);
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_DATE:
        return weir_column_append_i32(c, (int32_t)x);
    case WEIR_TYPE_LONG:
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        return weir_column_append_i64(c, (int64_t)x);
    case WEIR_TYPE_DECIMAL:
        return weir_column_append_i128(c, x);
    default:
        return WEIR_ESTATE;
    }
}

struct asm_ctx {
    struct weir_parquet_reader *r;
    struct leaf_data *ld;
    const char *file;
    int g;
};

static int assemble(struct asm_ctx *a, const struct plan *p, struct weir_column *c, size_t *nslots,
                    struct weir_error *err);

static int append_nulls(struct weir_column *c, size_t n, struct weir_error *err)
{
    if (weir_column_reserve(c, n, 0) != 0)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (weir_column_append_null(c) != 0)
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    return 0;
}

static int level_mismatch(struct asm_ctx *a, const struct plan *p, size_t got, size_t want,
                          struct weir_error *err)
{
    return weir_error_set(
        err, WEIR_ECORRUPT,
        "%s: column %s, row group %d: levels disagree between columns (%zu values, expected %zu)", a->file,
        a->r->leaf_paths[p->rep_leaf >= 0 ? p->rep_leaf : 0], a->g, got, want);
}

/* Slots of this node: levels that start a value at its depth and are not
 * cut off by a null or empty ancestor. */
static size_t count_slots(const struct leaf_data *ld, const struct pq_shape *sh)
{
    size_t slots = 0;
    for (size_t i = 0; i < ld->nlevels; i++)
        if (REP(ld, i) <= sh->rep_ctx && DEF(ld, i) >= sh->anc_def)
            slots++;
    return slots;
}

/* Assembles child k of p into child k of c; it must fill `want` slots. */
static int assemble_child(struct asm_ctx *a, const struct plan *p, struct weir_column *c, size_t k,
                          size_t want, struct weir_error *err)
{
    size_t got = 0;
    int rc = assemble(a, &p->children[k], &c->children[k], &got, err);
    if (rc < 0)
        return rc;
    if (got != want)
        return level_mismatch(a, &p->children[k], got, want, err);
    return 0;
}

static int assemble_leaf(struct asm_ctx *a, const struct plan *p, struct weir_column *c, size_t *nslots,
                         struct weir_error *err)
{
    const struct pq_shape *sh = p->sh;
    const struct leaf_data *ld = &a->ld[sh->leaf];
    const struct pq_values *v = &ld->vals;
    size_t vi = 0, slots = 0;
    uint16_t maxd = (uint16_t)ld->max_def;
    if (weir_column_reserve(c, ld->nlevels,
                            v->ptype == PQ_BYTE_ARRAY             ? v->bytes.len
                            : v->ptype == PQ_FIXED_LEN_BYTE_ARRAY ? v->fixed.len
                                                                  : 0) != 0)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (size_t i = 0; i < ld->nlevels; i++) {
        uint16_t d = DEF(ld, i);
        if (REP(ld, i) > sh->rep_ctx || d < sh->anc_def)
            continue;
        slots++;
        int rc;
        if (d >= maxd) {
            if (vi >= v->count)
                return weir_error_set(err, WEIR_ECORRUPT,
                                      "%s: column %s, row group %d: fewer values than levels say", a->file,
                                      a->r->leaf_paths[sh->leaf], a->g);
            rc = append_leaf_value(c, p, v, vi++);
        } else {
            rc = weir_column_append_null(c);
        }
        if (rc != 0)
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    *nslots = slots;
    return 0;
}

static int assemble_struct(struct asm_ctx *a, const struct plan *p, struct weir_column *c, size_t *nslots,
                           struct weir_error *err)
{
    const struct pq_shape *sh = p->sh;
    const struct leaf_data *ld = &a->ld[p->rep_leaf];
    size_t slots = count_slots(ld, sh);
    int rc;
    for (size_t k = 0; k < p->nchildren; k++) {
        if (!p->children[k].sh)
            rc = append_nulls(&c->children[k], slots, err);
        else
            rc = assemble_child(a, p, c, k, slots, err);
        if (rc < 0)
            return rc;
    }
    if (weir_column_reserve(c, slots, 0) != 0)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    /* The children were filled column-at-a-time above; append_struct checks
     * each child is exactly one row ahead, so present that view per row and
     * restore the true lengths afterwards. */
    size_t base = c->length;
    rc = 0;
    for (size_t i = 0, row = 0; i < ld->nlevels && rc == 0; i++) {
        uint16_t d = DEF(ld, i);
        if (REP(ld, i) <= sh->rep_ctx && d >= sh->anc_def) {
            for (size_t k = 0; k < c->nchildren; k++)
                c->children[k].length = base + row + 1;
            rc = weir_column_append_struct(c, d >= sh->def);
            row++;
        }
    }
    for (size_t k = 0; k < c->nchildren; k++)
        c->children[k].length = base + slots;
    if (rc != 0)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    *nslots = slots;
    return 0;
}

static int assemble_list(struct asm_ctx *a, const struct plan *p, struct weir_column *c, size_t *nslots,
                         struct weir_error *err)
{
    const struct pq_shape *sh = p->sh;
    const struct leaf_data *ld = &a->ld[p->rep_leaf];
    size_t slots = count_slots(ld, sh), elems = 0;
    int rc = 0;
    int64_t *counts = NULL;
    uint8_t *valid = NULL;
    counts = weir_calloc(slots ? slots : 1, sizeof *counts);
    valid = weir_calloc(slots ? slots : 1, 1);
    if (!counts || !valid) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    size_t cur = 0;
    bool open = false;
    for (size_t i = 0; i < ld->nlevels; i++) {
        uint16_t d = DEF(ld, i), rp = REP(ld, i);
        if (rp <= sh->rep_ctx) {
            if (d < sh->anc_def)
                continue;
            cur = open ? cur + 1 : 0;
            open = true;
            valid[cur] = d >= sh->def;
            if (d >= sh->elem_def) {
                counts[cur]++;
                elems++;
            }
        } else if (rp <= sh->elem_rep && d >= sh->elem_def) {
            if (!open) {
                rc = weir_error_set(err, WEIR_ECORRUPT,
                                    "%s: column %s, row group %d: list element before any list", a->file,
                                    a->r->leaf_paths[p->rep_leaf], a->g);
                goto done;
            }
            counts[cur]++;
            elems++;
        }
    }
    size_t child_base[2] = {0, 0};
    for (size_t k = 0; k < p->nchildren; k++) {
        child_base[k] = c->children[k].length;
        if ((rc = assemble_child(a, p, c, k, elems, err)) < 0)
            goto done;
    }
    if (weir_column_reserve(c, slots, 0) != 0) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    size_t base = c->length;
    int64_t off = (int64_t)child_base[0];
    for (size_t i = 0; i < slots; i++) {
        if (weir_column_append_list(c, valid[i]) != 0) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto done;
        }
        off += counts[i];
        c->offsets[base + i + 1] = off;
    }
    *nslots = slots;
done:
    weir_free(counts);
    weir_free(valid);
    return rc;
}

static int assemble(struct asm_ctx *a, const struct plan *p, struct weir_column *c, size_t *nslots,
                    struct weir_error *err)
{
    switch (p->sh->kind) {
    case SH_LEAF:
        return assemble_leaf(a, p, c, nslots, err);
    case SH_STRUCT:
        return assemble_struct(a, p, c, nslots, err);
    default:
        return assemble_list(a, p, c, nslots, err);
    }
}

int weir_parquet_reader_read_row_group(struct weir_parquet_reader *r, int rg, const struct weir_type *want,
                                       struct weir_batch **out, struct weir_error *err)
{
    struct weir_error local;
    struct weir_batch *b = NULL;
    struct plan root;
    uint8_t *need = NULL;
    struct leaf_data *ld = NULL;
    int rc = 0;
    const char *name = in_name(r->in);
    memset(&root, 0, sizeof root);
    *out = NULL;
    if (!err) {
        weir_error_clear(&local);
        err = &local;
    }
    if (rg < 0 || (uint32_t)rg >= r->meta.nrow_groups)
        return weir_error_set(err, WEIR_EINVAL, "%s: row group %d does not exist (file has %u)", name, rg,
                              r->meta.nrow_groups);
    if (!want)
        want = r->schema;
    if (want->kind != WEIR_TYPE_STRUCT)
        return weir_error_set(err, WEIR_EINVAL, "%s: the requested schema is not a struct", name);
    const struct pq_row_group *g = &r->meta.row_groups[rg];
    uint64_t data_bytes = r->in->size;
    if ((uint64_t)g->num_rows > VALUES_BASE_CAP + data_bytes * VALUES_PER_BYTE)
        return weir_error_set(err, WEIR_ECORRUPT, "%s: row group %d claims %lld rows in a %llu-byte file",
                              name, rg, (long long)g->num_rows, (unsigned long long)data_bytes);
    b = weir_batch_create(want);
    need = weir_calloc(r->nleaves ? r->nleaves : 1, 1);
    if (!r->cache)
        r->cache = weir_calloc(r->nleaves ? r->nleaves : 1, sizeof *r->cache);
    ld = r->cache;
    if (!b || !need || !ld) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = build_plan(r, b->schema, &r->root, "", &root, err)) < 0)
        goto done;
    for (size_t i = 0; i < root.nchildren; i++)
        plan_mark(&root.children[i], need);
    for (size_t l = 0; l < r->nleaves; l++) {
        if (!need[l])
            continue;
        if ((rc = read_chunk(r, rg, (int)l, &ld[l], err)) < 0)
            goto done;
    }
    struct asm_ctx a = {.r = r, .ld = ld, .file = name, .g = rg};
    size_t nrows = (size_t)g->num_rows;
    for (size_t i = 0; i < root.nchildren; i++) {
        struct weir_column *c = &b->columns[i];
        const struct plan *p = &root.children[i];
        if (!p->sh) {
            if ((rc = append_nulls(c, nrows, err)) < 0)
                goto done;
            continue;
        }
        size_t got = 0;
        if ((rc = assemble(&a, p, c, &got, err)) < 0)
            goto done;
        if (got != nrows) {
            rc = weir_error_set(err, WEIR_ECORRUPT,
                                "%s: column %s, row group %d: %zu rows, row group says %zu", name,
                                r->leaf_paths[p->rep_leaf], rg, got, nrows);
            goto done;
        }
    }
    if ((rc = weir_batch_finish_rows(b)) < 0) {
        rc = weir_error_set(err, WEIR_ECORRUPT, "%s: row group %d: columns disagree in length", name, rg);
        goto done;
    }
    b->nrows = nrows;
    *out = b;
    b = NULL;
done:
    weir_free(need);
    plan_free(&root);
    weir_batch_destroy(b);
    return rc;
}
