/* formats/parquet/meta.c - Parquet FileMetaData and PageHeader <-> Thrift
 * compact bytes (see meta.h for the structures, thrift.h for the protocol).
 *
 * Owns: the arrays hung off a decoded pq_file_meta (schema, row groups,
 * column chunks, encodings, paths, key/values), all weir_calloc'd and freed
 * by pq_file_meta_free, which copes with a half-decoded struct (every count
 * is set right after its array is allocated, and the array is zeroed).
 * Byte strings are not copied: they point into the caller's input.
 *
 * Decoding rules: unknown field ids are skipped (newer writers add
 * size_statistics, bloom filter offsets, geospatial stats, encryption...);
 * a known id with a wire type other than parquet.thrift's, or a repeated id,
 * is corruption (so "seen" always means "decoded"); required fields are
 * checked per struct.
 * Before an array is allocated its count is checked against the bytes
 * remaining times the smallest encoding of one element, so the allocation is
 * a small multiple of the input size. Errors are WEIR_ECORRUPT with the
 * message "<what>: <Struct>.<field>[index]: ... <problem> at byte N".
 *
 * Stateless; any thread. */
#include "formats/parquet/meta.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "formats/parquet/thrift.h"

#define TRY(x)          \
    do {                \
        if ((rc = (x))) \
            goto done;  \
    } while (0)

/* Smallest possible encodings of one list element, used to bound counts
 * before allocating (see the required fields of each struct). */
#define MIN_SCHEMA_ELEMENT 3  /* name header + empty string + STOP */
#define MIN_ROW_GROUP      7  /* columns (2) + total_byte_size (2) + num_rows (2) + STOP */
#define MIN_COLUMN_CHUNK   16 /* meta_data header + 8 required fields + 2 STOPs */
#define MIN_KEY_VALUE      3  /* key header + empty string + STOP */

static bool is_bool(enum pq_tc_type t)
{
    return t == PQ_TC_TRUE || t == PQ_TC_FALSE;
}

/* Prepend "<Struct>.<field>[index]" to the error already in d->err. */
static void context(struct pq_tdec *d, const char *strct, const char *field, long index)
{
    if (!d->err)
        return;
    if (field && index >= 0)
        weir_error_prefix(d->err, "%s.%s[%ld]", strct, field, index);
    else if (field)
        weir_error_prefix(d->err, "%s.%s", strct, field);
    else
        weir_error_prefix(d->err, "%s", strct);
}

/* Marks field `id` seen; a second occurrence is corruption. */
static int mark(struct pq_tdec *d, uint32_t *seen, int16_t id)
{
    if (id > 0 && id < 32) {
        if (*seen & (1u << id))
            return pq_tdec_fail(d, "field %d repeated", id);
        *seen |= 1u << id;
    }
    return 0;
}

/* A known field whose wire type is not the one parquet.thrift gives it. */
static int wrong_type(struct pq_tdec *d, int16_t id, enum pq_tc_type t)
{
    return pq_tdec_fail(d, "field %d has wire type %d", id, (int)t);
}

/* Reads the next field header of a struct and marks its id seen (unless it
 * is the STOP that ends the struct). */
static int next_field(struct pq_tdec *d, uint32_t *seen, int16_t *id, enum pq_tc_type *t)
{
    int rc = pq_tdec_field(d, id, t);
    if (rc == 0 && *t != PQ_TC_STOP)
        rc = mark(d, seen, *id);
    return rc;
}

/* A field the switch did not consume: a known one (named f) came with the
 * wrong wire type; an unknown one is skipped. */
static int other_field(struct pq_tdec *d, const char *f, int16_t id, enum pq_tc_type t)
{
    return f ? wrong_type(d, id, t) : pq_tdec_skip(d, t);
}

static int require(struct pq_tdec *d, uint32_t seen, int16_t id, const char *name)
{
    if (seen & (1u << id))
        return 0;
    return pq_tdec_fail(d, "required field %d (%s) missing", id, name);
}

static int dec_bytes(struct pq_tdec *d, struct pq_bytes *b)
{
    return pq_tdec_binary(d, &b->p, &b->len);
}

/* Opens a list field whose elements must have wire type `want` (named
 * `want_name` in the error); an empty list may carry any element type. */
static int dec_list_head(struct pq_tdec *d, enum pq_tc_type want, const char *want_name, uint32_t *n)
{
    enum pq_tc_type elem;
    int rc = pq_tdec_list_begin(d, &elem, n);
    if (rc)
        return rc;
    if (elem != want && *n > 0)
        return pq_tdec_fail(d, "list element type %d, expected %s", (int)elem, want_name);
    return 0;
}

/* Opens a list field and allocates a zeroed array of `size`-byte elements for
 * it (*arr stays NULL for an empty list). When min_each is not 0 the count is
 * first checked against the bytes remaining. `what` names the elements in
 * the out-of-memory message. The caller stores *arr and *n together. */
static int dec_list_array(struct pq_tdec *d, enum pq_tc_type want, const char *want_name, uint64_t min_each,
                          const char *field, size_t size, const char *what, void **arr, uint32_t *n)
{
    int rc = dec_list_head(d, want, want_name, n);
    *arr = NULL;
    if (!rc && min_each)
        rc = pq_tdec_need(d, *n, min_each, field);
    if (rc || !*n)
        return rc;
    *arr = weir_calloc(*n, size);
    if (!*arr)
        return weir_error_set(d->err, WEIR_ENOMEM, "out of memory for %u %s", *n, what);
    return 0;
}

/* ------------------------------------------------------------ Statistics */

static int dec_statistics(struct pq_tdec *d, struct pq_statistics *s)
{
    int rc;
    uint32_t seen = 0;
    const char *f = NULL;
    memset(s, 0, sizeof *s);
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        f = NULL;
        TRY(next_field(d, &seen, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        switch (id) {
        case 1:
            f = "max";
            if (t != PQ_TC_BINARY)
                break;
            TRY(dec_bytes(d, &s->max));
            continue;
        case 2:
            f = "min";
            if (t != PQ_TC_BINARY)
                break;
            TRY(dec_bytes(d, &s->min));
            continue;
        case 3:
            f = "null_count";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &s->null_count));
            s->has_null_count = true;
            continue;
        case 4:
            f = "distinct_count";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &s->distinct_count));
            s->has_distinct_count = true;
            continue;
        case 5:
            f = "max_value";
            if (t != PQ_TC_BINARY)
                break;
            TRY(dec_bytes(d, &s->max_value));
            continue;
        case 6:
            f = "min_value";
            if (t != PQ_TC_BINARY)
                break;
            TRY(dec_bytes(d, &s->min_value));
            continue;
        }
        TRY(other_field(d, f, id, t));
    }
    f = NULL;
    TRY(pq_tdec_struct_end(d));
done:
    if (rc)
        context(d, "Statistics", f, -1);
    return rc;
}

/* ----------------------------------------------------------- LogicalType */

static int dec_time_unit(struct pq_tdec *d, enum pq_time_unit *unit)
{
    int rc;
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        TRY(pq_tdec_field(d, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        if (t == PQ_TC_STRUCT && id >= PQ_MILLIS && id <= PQ_NANOS)
            *unit = (enum pq_time_unit)id;
        TRY(pq_tdec_skip(d, t));
    }
    TRY(pq_tdec_struct_end(d));
    if (*unit == 0)
        rc = pq_tdec_fail(d, "TimeUnit has no known member");
done:
    if (rc)
        context(d, "TimeUnit", NULL, -1);
    return rc;
}

/* The struct inside one LogicalType member. */
static int dec_logical_member(struct pq_tdec *d, struct pq_logical_type *lt, const char *name)
{
    int rc;
    uint32_t seen = 0;
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        TRY(next_field(d, &seen, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        switch (lt->kind) {
        case PQ_LT_DECIMAL:
            if (id == 1 && t == PQ_TC_I32) {
                TRY(pq_tdec_i32(d, &lt->scale));
                continue;
            }
            if (id == 2 && t == PQ_TC_I32) {
                TRY(pq_tdec_i32(d, &lt->precision));
                continue;
            }
            break;
        case PQ_LT_TIME:
        case PQ_LT_TIMESTAMP:
            if (id == 1 && is_bool(t)) {
                TRY(pq_tdec_bool(d, &lt->adjusted_to_utc));
                continue;
            }
            if (id == 2 && t == PQ_TC_STRUCT) {
                TRY(dec_time_unit(d, &lt->unit));
                continue;
            }
            break;
        case PQ_LT_INTEGER:
            if (id == 1 && t == PQ_TC_BYTE) {
                TRY(pq_tdec_byte(d, &lt->bit_width));
                continue;
            }
            if (id == 2 && is_bool(t)) {
                TRY(pq_tdec_bool(d, &lt->is_signed));
                continue;
            }
            break;
        default:
            break;
        }
        if ((id == 1 || id == 2) && (lt->kind == PQ_LT_DECIMAL || lt->kind == PQ_LT_TIME ||
                                     lt->kind == PQ_LT_TIMESTAMP || lt->kind == PQ_LT_INTEGER))
            TRY(wrong_type(d, id, t));
        TRY(pq_tdec_skip(d, t));
    }
    TRY(pq_tdec_struct_end(d));
    switch (lt->kind) {
    case PQ_LT_DECIMAL:
        TRY(require(d, seen, 1, "scale"));
        TRY(require(d, seen, 2, "precision"));
        break;
    case PQ_LT_TIME:
    case PQ_LT_TIMESTAMP:
        TRY(require(d, seen, 1, "isAdjustedToUTC"));
        TRY(require(d, seen, 2, "unit"));
        break;
    case PQ_LT_INTEGER:
        TRY(require(d, seen, 1, "bitWidth"));
        TRY(require(d, seen, 2, "isSigned"));
        break;
    default:
        break;
    }
done:
    if (rc)
        context(d, name, NULL, -1);
    return rc;
}

static const char *logical_struct_name(enum pq_logical k)
{
    switch (k) {
    case PQ_LT_DECIMAL:
        return "DecimalType";
    case PQ_LT_TIME:
        return "TimeType";
    case PQ_LT_TIMESTAMP:
        return "TimestampType";
    case PQ_LT_INTEGER:
        return "IntType";
    default:
        return "LogicalType member";
    }
}

static int dec_logical(struct pq_tdec *d, struct pq_logical_type *lt)
{
    int rc;
    memset(lt, 0, sizeof *lt);
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        TRY(pq_tdec_field(d, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        if (t != PQ_TC_STRUCT || id <= 0 || id == 9) {
            TRY(pq_tdec_skip(d, t));
            continue;
        }
        if (lt->kind != PQ_LT_NONE)
            TRY(pq_tdec_fail(d, "union has more than one member (%d and %d)", (int)lt->kind, id));
        /* Ids past the ones weir knows are kept as-is: a newer type the
         * reader must treat as unsupported. */
        lt->kind = (enum pq_logical)id;
        TRY(dec_logical_member(d, lt, logical_struct_name(lt->kind)));
    }
    TRY(pq_tdec_struct_end(d));
done:
    if (rc)
        context(d, "LogicalType", NULL, -1);
    return rc;
}

/* --------------------------------------------------------- SchemaElement */

static int dec_schema_element(struct pq_tdec *d, struct pq_schema_element *se)
{
    int rc;
    uint32_t seen = 0;
    const char *f = NULL;
    int32_t v;
    memset(se, 0, sizeof *se);
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        f = NULL;
        TRY(next_field(d, &seen, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        switch (id) {
        case 1:
            f = "type";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &v));
            if (v < PQ_BOOLEAN || v > PQ_FIXED_LEN_BYTE_ARRAY)
                TRY(pq_tdec_fail(d, "unknown physical type %d", v));
            se->has_type = true;
            se->type = (enum pq_type)v;
            continue;
        case 2:
            f = "type_length";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &se->type_length));
            continue;
        case 3:
            f = "repetition_type";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &v));
            if (v < PQ_REQUIRED || v > PQ_REPEATED) {
                rc = weir_error_set(d->err, v == 3 ? WEIR_EUNSUPPORTED : WEIR_ECORRUPT,
                                    "repetition type %d %s at byte %zu", v,
                                    v == 3 ? "(VECTOR) is not supported" : "is unknown", pq_tdec_offset(d));
                goto done;
            }
            se->has_repetition = true;
            se->repetition = (enum pq_repetition)v;
            continue;
        case 4:
            f = "name";
            if (t != PQ_TC_BINARY)
                break;
            TRY(dec_bytes(d, &se->name));
            continue;
        case 5:
            f = "num_children";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &se->num_children));
            if (se->num_children < 0)
                TRY(pq_tdec_fail(d, "negative num_children %d", se->num_children));
            continue;
        case 6:
            f = "converted_type";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &v));
            se->has_converted = true;
            se->converted = (enum pq_converted)v;
            continue;
        case 7:
            f = "scale";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &se->scale));
            continue;
        case 8:
            f = "precision";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &se->precision));
            continue;
        case 9:
            f = "field_id";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &se->field_id));
            se->has_field_id = true;
            continue;
        case 10:
            f = "logicalType";
            if (t != PQ_TC_STRUCT)
                break;
            TRY(dec_logical(d, &se->logical));
            continue;
        }
        TRY(other_field(d, f, id, t));
    }
    f = NULL;
    TRY(pq_tdec_struct_end(d));
    TRY(require(d, seen, 4, "name"));
done:
    if (rc)
        context(d, "SchemaElement", f, -1);
    return rc;
}

/* -------------------------------------------------------- ColumnMetaData */

static int dec_column_meta(struct pq_tdec *d, struct pq_column_meta *cm)
{
    int rc;
    uint32_t seen = 0;
    const char *f = NULL;
    long idx = -1;
    void *arr;
    uint32_t n;
    int32_t v;
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        f = NULL;
        idx = -1;
        TRY(next_field(d, &seen, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        switch (id) {
        case 1:
            f = "type";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &v));
            if (v < PQ_BOOLEAN || v > PQ_FIXED_LEN_BYTE_ARRAY)
                TRY(pq_tdec_fail(d, "unknown physical type %d", v));
            cm->type = (enum pq_type)v;
            continue;
        case 2:
            f = "encodings";
            if (t != PQ_TC_LIST)
                break;
            TRY(dec_list_array(d, PQ_TC_I32, "i32", 0, NULL, sizeof *cm->encodings, "encodings", &arr, &n));
            cm->encodings = arr;
            cm->nencodings = n;
            for (uint32_t i = 0; i < n; i++) {
                idx = i;
                TRY(pq_tdec_i32(d, &cm->encodings[i]));
            }
            continue;
        case 3:
            f = "path_in_schema";
            if (t != PQ_TC_LIST)
                break;
            TRY(dec_list_array(d, PQ_TC_BINARY, "binary", 0, NULL, sizeof *cm->path, "path elements", &arr,
                               &n));
            cm->path = arr;
            cm->npath = n;
            for (uint32_t i = 0; i < n; i++) {
                idx = i;
                TRY(dec_bytes(d, &cm->path[i]));
            }
            continue;
        case 4:
            f = "codec";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &cm->codec));
            continue;
        case 5:
            f = "num_values";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &cm->num_values));
            continue;
        case 6:
            f = "total_uncompressed_size";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &cm->total_uncompressed_size));
            continue;
        case 7:
            f = "total_compressed_size";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &cm->total_compressed_size));
            continue;
        case 9:
            f = "data_page_offset";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &cm->data_page_offset));
            continue;
        case 11:
            f = "dictionary_page_offset";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &cm->dictionary_page_offset));
            cm->has_dictionary_page_offset = true;
            continue;
        case 12:
            f = "statistics";
            if (t != PQ_TC_STRUCT)
                break;
            TRY(dec_statistics(d, &cm->statistics));
            cm->has_statistics = true;
            continue;
        }
        TRY(other_field(d, f, id, t));
    }
    f = NULL;
    TRY(pq_tdec_struct_end(d));
    TRY(require(d, seen, 1, "type"));
    TRY(require(d, seen, 2, "encodings"));
    TRY(require(d, seen, 3, "path_in_schema"));
    TRY(require(d, seen, 4, "codec"));
    TRY(require(d, seen, 5, "num_values"));
    TRY(require(d, seen, 6, "total_uncompressed_size"));
    TRY(require(d, seen, 7, "total_compressed_size"));
    TRY(require(d, seen, 9, "data_page_offset"));
done:
    if (rc)
        context(d, "ColumnMetaData", f, idx);
    return rc;
}

static void column_meta_free(struct pq_column_meta *cm)
{
    weir_free(cm->encodings);
    weir_free(cm->path);
    cm->encodings = NULL;
    cm->path = NULL;
    cm->nencodings = cm->npath = 0;
}

/* ----------------------------------------------------------- ColumnChunk */

static int dec_column_chunk(struct pq_tdec *d, struct pq_column_chunk *cc)
{
    int rc;
    uint32_t seen = 0;
    const char *f = NULL;
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        f = NULL;
        TRY(next_field(d, &seen, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        switch (id) {
        case 1:
            f = "file_path";
            if (t != PQ_TC_BINARY)
                break;
            TRY(dec_bytes(d, &cc->file_path));
            continue;
        case 2:
            f = "file_offset";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &cc->file_offset));
            continue;
        case 3:
            f = "meta_data";
            if (t != PQ_TC_STRUCT)
                break;
            TRY(dec_column_meta(d, &cc->meta));
            cc->has_meta = true;
            continue;
        }
        TRY(other_field(d, f, id, t));
    }
    f = NULL;
    TRY(pq_tdec_struct_end(d));
    /* file_offset is "required ... = 0" and deprecated: absent reads as 0.
     * meta_data is optional in the IDL but every writer must set it; a chunk
     * without it (column encryption) cannot be read. */
    if (!cc->has_meta)
        TRY(pq_tdec_fail(d, "meta_data missing (encrypted columns are not supported)"));
done:
    if (rc)
        context(d, "ColumnChunk", f, -1);
    return rc;
}

/* -------------------------------------------------------------- RowGroup */

static int dec_row_group(struct pq_tdec *d, struct pq_row_group *rg)
{
    int rc;
    uint32_t seen = 0;
    const char *f = NULL;
    long idx = -1;
    void *arr;
    uint32_t n;
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        f = NULL;
        idx = -1;
        TRY(next_field(d, &seen, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        switch (id) {
        case 1:
            f = "columns";
            if (t != PQ_TC_LIST)
                break;
            TRY(dec_list_array(d, PQ_TC_STRUCT, "struct", MIN_COLUMN_CHUNK, "columns", sizeof *rg->columns,
                               "column chunks", &arr, &n));
            rg->columns = arr;
            rg->ncolumns = n;
            for (uint32_t i = 0; i < n; i++) {
                idx = i;
                TRY(dec_column_chunk(d, &rg->columns[i]));
            }
            continue;
        case 2:
            f = "total_byte_size";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &rg->total_byte_size));
            continue;
        case 3:
            f = "num_rows";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &rg->num_rows));
            if (rg->num_rows < 0)
                TRY(pq_tdec_fail(d, "negative num_rows %lld", (long long)rg->num_rows));
            continue;
        case 5:
            f = "file_offset";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &rg->file_offset));
            rg->has_file_offset = true;
            continue;
        case 6:
            f = "total_compressed_size";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &rg->total_compressed_size));
            rg->has_total_compressed_size = true;
            continue;
        case 7:
            f = "ordinal";
            if (t != PQ_TC_I16)
                break;
            TRY(pq_tdec_i16(d, &rg->ordinal));
            rg->has_ordinal = true;
            continue;
        }
        TRY(other_field(d, f, id, t));
    }
    f = NULL;
    TRY(pq_tdec_struct_end(d));
    TRY(require(d, seen, 1, "columns"));
    TRY(require(d, seen, 2, "total_byte_size"));
    TRY(require(d, seen, 3, "num_rows"));
done:
    if (rc)
        context(d, "RowGroup", f, idx);
    return rc;
}

static void row_group_free(struct pq_row_group *rg)
{
    for (uint32_t i = 0; i < rg->ncolumns; i++)
        column_meta_free(&rg->columns[i].meta);
    weir_free(rg->columns);
    rg->columns = NULL;
    rg->ncolumns = 0;
}

/* -------------------------------------------------------------- KeyValue */

static int dec_key_value(struct pq_tdec *d, struct pq_key_value *kv)
{
    int rc;
    uint32_t seen = 0;
    const char *f = NULL;
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        f = NULL;
        TRY(next_field(d, &seen, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        if (id == 1 && t == PQ_TC_BINARY) {
            f = "key";
            TRY(dec_bytes(d, &kv->key));
        } else if (id == 2 && t == PQ_TC_BINARY) {
            f = "value";
            TRY(dec_bytes(d, &kv->value));
        } else if (id == 1 || id == 2) {
            TRY(wrong_type(d, id, t));
        } else {
            TRY(pq_tdec_skip(d, t));
        }
    }
    f = NULL;
    TRY(pq_tdec_struct_end(d));
    TRY(require(d, seen, 1, "key"));
done:
    if (rc)
        context(d, "KeyValue", f, -1);
    return rc;
}

/* ---------------------------------------------------------- FileMetaData */

void pq_file_meta_free(struct pq_file_meta *m)
{
    if (!m)
        return;
    weir_free(m->schema);
    for (uint32_t i = 0; i < m->nrow_groups; i++)
        row_group_free(&m->row_groups[i]);
    weir_free(m->row_groups);
    weir_free(m->kv);
    memset(m, 0, sizeof *m);
}

int pq_file_meta_decode(const uint8_t *p, size_t n, struct pq_file_meta *out, const char *what,
                        struct weir_error *err)
{
    int rc;
    uint32_t seen = 0;
    const char *f = NULL;
    long idx = -1;
    void *arr;
    uint32_t cnt;
    struct pq_tdec dd, *d = &dd;
    memset(out, 0, sizeof *out);
    pq_tdec_init(d, p, n, err);
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        f = NULL;
        idx = -1;
        TRY(next_field(d, &seen, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        switch (id) {
        case 1:
            f = "version";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &out->version));
            continue;
        case 2:
            f = "schema";
            if (t != PQ_TC_LIST)
                break;
            TRY(dec_list_array(d, PQ_TC_STRUCT, "struct", MIN_SCHEMA_ELEMENT, "schema", sizeof *out->schema,
                               "schema elements", &arr, &cnt));
            out->schema = arr;
            out->nschema = cnt;
            for (uint32_t i = 0; i < cnt; i++) {
                idx = i;
                TRY(dec_schema_element(d, &out->schema[i]));
            }
            continue;
        case 3:
            f = "num_rows";
            if (t != PQ_TC_I64)
                break;
            TRY(pq_tdec_i64(d, &out->num_rows));
            if (out->num_rows < 0)
                TRY(pq_tdec_fail(d, "negative num_rows %lld", (long long)out->num_rows));
            continue;
        case 4:
            f = "row_groups";
            if (t != PQ_TC_LIST)
                break;
            TRY(dec_list_array(d, PQ_TC_STRUCT, "struct", MIN_ROW_GROUP, "row_groups",
                               sizeof *out->row_groups, "row groups", &arr, &cnt));
            out->row_groups = arr;
            out->nrow_groups = cnt;
            for (uint32_t i = 0; i < cnt; i++) {
                idx = i;
                TRY(dec_row_group(d, &out->row_groups[i]));
            }
            continue;
        case 5:
            f = "key_value_metadata";
            if (t != PQ_TC_LIST)
                break;
            TRY(dec_list_array(d, PQ_TC_STRUCT, "struct", MIN_KEY_VALUE, "key_value_metadata",
                               sizeof *out->kv, "key/values", &arr, &cnt));
            out->kv = arr;
            out->nkv = cnt;
            for (uint32_t i = 0; i < cnt; i++) {
                idx = i;
                TRY(dec_key_value(d, &out->kv[i]));
            }
            continue;
        case 6:
            f = "created_by";
            if (t != PQ_TC_BINARY)
                break;
            TRY(dec_bytes(d, &out->created_by));
            continue;
        case 7:
            f = "column_orders";
            if (t != PQ_TC_LIST)
                break;
            TRY(dec_list_head(d, PQ_TC_STRUCT, "struct", &cnt));
            for (uint32_t i = 0; i < cnt; i++) {
                idx = i;
                TRY(pq_tdec_skip(d, PQ_TC_STRUCT));
            }
            out->ncolumn_orders = cnt;
            continue;
        }
        TRY(other_field(d, f, id, t));
    }
    f = NULL;
    TRY(pq_tdec_struct_end(d));
    TRY(require(d, seen, 1, "version"));
    TRY(require(d, seen, 2, "schema"));
    TRY(require(d, seen, 3, "num_rows"));
    TRY(require(d, seen, 4, "row_groups"));
done:
    if (rc) {
        context(d, "FileMetaData", f, idx);
        if (err)
            weir_error_prefix(err, "%s: footer", what ? what : "parquet");
        pq_file_meta_free(out);
    }
    return rc;
}

/* ------------------------------------------------------------ PageHeader */

static int dec_data_page(struct pq_tdec *d, struct pq_data_page_header *h)
{
    int rc;
    uint32_t seen = 0;
    const char *f = NULL;
    memset(h, 0, sizeof *h);
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        f = NULL;
        TRY(next_field(d, &seen, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        int32_t *dst = NULL;
        switch (id) {
        case 1:
            f = "num_values";
            dst = &h->num_values;
            break;
        case 2:
            f = "encoding";
            dst = &h->encoding;
            break;
        case 3:
            f = "definition_level_encoding";
            dst = &h->definition_level_encoding;
            break;
        case 4:
            f = "repetition_level_encoding";
            dst = &h->repetition_level_encoding;
            break;
        case 5:
            f = "statistics";
            if (t != PQ_TC_STRUCT)
                break;
            TRY(dec_statistics(d, &h->statistics));
            h->has_statistics = true;
            continue;
        }
        if (dst && t == PQ_TC_I32) {
            TRY(pq_tdec_i32(d, dst));
            continue;
        }
        TRY(other_field(d, f, id, t));
    }
    f = NULL;
    TRY(pq_tdec_struct_end(d));
    TRY(require(d, seen, 1, "num_values"));
    TRY(require(d, seen, 2, "encoding"));
    TRY(require(d, seen, 3, "definition_level_encoding"));
    TRY(require(d, seen, 4, "repetition_level_encoding"));
    if (h->num_values < 0)
        TRY(pq_tdec_fail(d, "negative num_values %d", h->num_values));
done:
    if (rc)
        context(d, "DataPageHeader", f, -1);
    return rc;
}

static int dec_dictionary_page(struct pq_tdec *d, struct pq_dictionary_page_header *h)
{
    int rc;
    uint32_t seen = 0;
    const char *f = NULL;
    memset(h, 0, sizeof *h);
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        f = NULL;
        TRY(next_field(d, &seen, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        if (id == 1 && t == PQ_TC_I32) {
            f = "num_values";
            TRY(pq_tdec_i32(d, &h->num_values));
        } else if (id == 2 && t == PQ_TC_I32) {
            f = "encoding";
            TRY(pq_tdec_i32(d, &h->encoding));
        } else if (id == 3 && is_bool(t)) {
            f = "is_sorted";
            TRY(pq_tdec_bool(d, &h->is_sorted));
        } else if (id >= 1 && id <= 3) {
            TRY(wrong_type(d, id, t));
        } else {
            TRY(pq_tdec_skip(d, t));
        }
    }
    f = NULL;
    TRY(pq_tdec_struct_end(d));
    TRY(require(d, seen, 1, "num_values"));
    TRY(require(d, seen, 2, "encoding"));
    if (h->num_values < 0)
        TRY(pq_tdec_fail(d, "negative num_values %d", h->num_values));
done:
    if (rc)
        context(d, "DictionaryPageHeader", f, -1);
    return rc;
}

static int dec_data_page_v2(struct pq_tdec *d, struct pq_data_page_header_v2 *h)
{
    static const char *const names[] = {NULL,
                                        "num_values",
                                        "num_nulls",
                                        "num_rows",
                                        "encoding",
                                        "definition_levels_byte_length",
                                        "repetition_levels_byte_length"};
    int rc;
    uint32_t seen = 0;
    const char *f = NULL;
    memset(h, 0, sizeof *h);
    h->is_compressed = true;
    int32_t *dst[7] = {NULL,
                       &h->num_values,
                       &h->num_nulls,
                       &h->num_rows,
                       &h->encoding,
                       &h->definition_levels_byte_length,
                       &h->repetition_levels_byte_length};
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        f = NULL;
        TRY(next_field(d, &seen, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        if (id >= 1 && id <= 6 && t == PQ_TC_I32) {
            f = names[id];
            TRY(pq_tdec_i32(d, dst[id]));
        } else if (id == 7 && is_bool(t)) {
            f = "is_compressed";
            TRY(pq_tdec_bool(d, &h->is_compressed));
        } else if (id == 8 && t == PQ_TC_STRUCT) {
            f = "statistics";
            TRY(dec_statistics(d, &h->statistics));
            h->has_statistics = true;
        } else if (id >= 1 && id <= 8) {
            TRY(wrong_type(d, id, t));
        } else {
            TRY(pq_tdec_skip(d, t));
        }
    }
    f = NULL;
    TRY(pq_tdec_struct_end(d));
    for (int i = 1; i <= 6; i++)
        TRY(require(d, seen, (int16_t)i, names[i]));
    for (int i = 1; i <= 6; i++)
        if (*dst[i] < 0 && i != 4)
            TRY(pq_tdec_fail(d, "negative %s %d", names[i], *dst[i]));
done:
    if (rc)
        context(d, "DataPageHeaderV2", f, -1);
    return rc;
}

int pq_page_header_decode(const uint8_t *p, size_t n, struct pq_page_header *out, size_t *consumed,
                          const char *what, struct weir_error *err)
{
    int rc;
    uint32_t seen = 0;
    const char *f = NULL;
    int32_t v;
    struct pq_tdec dd, *d = &dd;
    memset(out, 0, sizeof *out);
    pq_tdec_init(d, p, n, err);
    TRY(pq_tdec_struct_begin(d));
    for (;;) {
        int16_t id;
        enum pq_tc_type t;
        f = NULL;
        TRY(next_field(d, &seen, &id, &t));
        if (t == PQ_TC_STOP)
            break;
        switch (id) {
        case 1:
            f = "type";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &v));
            out->type = (enum pq_page_type)v;
            continue;
        case 2:
            f = "uncompressed_page_size";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &out->uncompressed_page_size));
            if (out->uncompressed_page_size < 0)
                TRY(pq_tdec_fail(d, "negative size %d", out->uncompressed_page_size));
            continue;
        case 3:
            f = "compressed_page_size";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &out->compressed_page_size));
            if (out->compressed_page_size < 0)
                TRY(pq_tdec_fail(d, "negative size %d", out->compressed_page_size));
            continue;
        case 4:
            f = "crc";
            if (t != PQ_TC_I32)
                break;
            TRY(pq_tdec_i32(d, &out->crc));
            out->has_crc = true;
            continue;
        case 5:
            f = "data_page_header";
            if (t != PQ_TC_STRUCT)
                break;
            TRY(dec_data_page(d, &out->data));
            out->has_data = true;
            continue;
        case 7:
            f = "dictionary_page_header";
            if (t != PQ_TC_STRUCT)
                break;
            TRY(dec_dictionary_page(d, &out->dictionary));
            out->has_dictionary = true;
            continue;
        case 8:
            f = "data_page_header_v2";
            if (t != PQ_TC_STRUCT)
                break;
            TRY(dec_data_page_v2(d, &out->data_v2));
            out->has_data_v2 = true;
            continue;
        }
        TRY(other_field(d, f, id, t));
    }
    f = NULL;
    TRY(pq_tdec_struct_end(d));
    TRY(require(d, seen, 1, "type"));
    TRY(require(d, seen, 2, "uncompressed_page_size"));
    TRY(require(d, seen, 3, "compressed_page_size"));
    if (out->type == PQ_DATA_PAGE && !out->has_data)
        TRY(pq_tdec_fail(d, "DATA_PAGE without data_page_header"));
    if (out->type == PQ_DICTIONARY_PAGE && !out->has_dictionary)
        TRY(pq_tdec_fail(d, "DICTIONARY_PAGE without dictionary_page_header"));
    if (out->type == PQ_DATA_PAGE_V2 && !out->has_data_v2)
        TRY(pq_tdec_fail(d, "DATA_PAGE_V2 without data_page_header_v2"));
    if (consumed)
        *consumed = pq_tdec_offset(d);
done:
    if (rc) {
        context(d, "PageHeader", f, -1);
        if (err)
            weir_error_prefix(err, "%s: page header", what ? what : "parquet");
    }
    return rc;
}

/* -------------------------------------------------------------- encoding */

static void enc_bytes_field(struct pq_tenc *e, int16_t id, const struct pq_bytes *b)
{
    if (b->p)
        pq_tenc_field_binary(e, id, b->p, b->len);
}

static void enc_statistics(struct pq_tenc *e, const struct pq_statistics *s)
{
    pq_tenc_struct_begin(e);
    enc_bytes_field(e, 1, &s->max);
    enc_bytes_field(e, 2, &s->min);
    if (s->has_null_count)
        pq_tenc_field_i64(e, 3, s->null_count);
    if (s->has_distinct_count)
        pq_tenc_field_i64(e, 4, s->distinct_count);
    enc_bytes_field(e, 5, &s->max_value);
    enc_bytes_field(e, 6, &s->min_value);
    pq_tenc_struct_end(e);
}

static void enc_empty_member(struct pq_tenc *e, int16_t id)
{
    pq_tenc_field(e, id, PQ_TC_STRUCT);
    pq_tenc_struct_begin(e);
    pq_tenc_struct_end(e);
}

static void enc_logical(struct pq_tenc *e, const struct pq_logical_type *lt)
{
    int16_t id = (int16_t)lt->kind;
    pq_tenc_struct_begin(e);
    switch (lt->kind) {
    case PQ_LT_DECIMAL:
        pq_tenc_field(e, id, PQ_TC_STRUCT);
        pq_tenc_struct_begin(e);
        pq_tenc_field_i32(e, 1, lt->scale);
        pq_tenc_field_i32(e, 2, lt->precision);
        pq_tenc_struct_end(e);
        break;
    case PQ_LT_TIME:
    case PQ_LT_TIMESTAMP:
        if (lt->unit < PQ_MILLIS || lt->unit > PQ_NANOS) {
            if (!e->status)
                e->status = WEIR_EINVAL;
            break;
        }
        pq_tenc_field(e, id, PQ_TC_STRUCT);
        pq_tenc_struct_begin(e);
        pq_tenc_field_bool(e, 1, lt->adjusted_to_utc);
        pq_tenc_field(e, 2, PQ_TC_STRUCT);
        pq_tenc_struct_begin(e);
        enc_empty_member(e, (int16_t)lt->unit);
        pq_tenc_struct_end(e);
        pq_tenc_struct_end(e);
        break;
    case PQ_LT_INTEGER:
        pq_tenc_field(e, id, PQ_TC_STRUCT);
        pq_tenc_struct_begin(e);
        pq_tenc_field(e, 1, PQ_TC_BYTE);
        pq_tenc_byte(e, lt->bit_width);
        pq_tenc_field_bool(e, 2, lt->is_signed);
        pq_tenc_struct_end(e);
        break;
    default: /* STRING, MAP, LIST, ENUM, DATE, UNKNOWN, JSON, BSON, UUID, FLOAT16... */
        enc_empty_member(e, id);
        break;
    }
    pq_tenc_struct_end(e);
}

static void enc_schema_element(struct pq_tenc *e, const struct pq_schema_element *se)
{
    pq_tenc_struct_begin(e);
    if (se->has_type)
        pq_tenc_field_i32(e, 1, (int32_t)se->type);
    if ((se->has_type && se->type == PQ_FIXED_LEN_BYTE_ARRAY) || se->type_length != 0)
        pq_tenc_field_i32(e, 2, se->type_length);
    if (se->has_repetition)
        pq_tenc_field_i32(e, 3, (int32_t)se->repetition);
    pq_tenc_field_binary(e, 4, se->name.p, se->name.p ? se->name.len : 0);
    if (!se->has_type || se->num_children > 0)
        pq_tenc_field_i32(e, 5, se->num_children);
    if (se->has_converted)
        pq_tenc_field_i32(e, 6, (int32_t)se->converted);
    if ((se->has_converted && se->converted == PQ_CT_DECIMAL) || se->precision != 0) {
        pq_tenc_field_i32(e, 7, se->scale);
        pq_tenc_field_i32(e, 8, se->precision);
    }
    if (se->has_field_id)
        pq_tenc_field_i32(e, 9, se->field_id);
    if (se->logical.kind != PQ_LT_NONE) {
        pq_tenc_field(e, 10, PQ_TC_STRUCT);
        enc_logical(e, &se->logical);
    }
    pq_tenc_struct_end(e);
}

static void enc_column_chunk(struct pq_tenc *e, const struct pq_column_chunk *cc)
{
    pq_tenc_struct_begin(e);
    enc_bytes_field(e, 1, &cc->file_path);
    pq_tenc_field_i64(e, 2, cc->file_offset);
    if (cc->has_meta) {
        const struct pq_column_meta *cm = &cc->meta;
        pq_tenc_field(e, 3, PQ_TC_STRUCT);
        pq_tenc_struct_begin(e);
        pq_tenc_field_i32(e, 1, (int32_t)cm->type);
        pq_tenc_field(e, 2, PQ_TC_LIST);
        pq_tenc_list_begin(e, PQ_TC_I32, cm->nencodings);
        for (uint32_t i = 0; i < cm->nencodings; i++)
            pq_tenc_i32(e, cm->encodings[i]);
        pq_tenc_field(e, 3, PQ_TC_LIST);
        pq_tenc_list_begin(e, PQ_TC_BINARY, cm->npath);
        for (uint32_t i = 0; i < cm->npath; i++)
            pq_tenc_binary(e, cm->path[i].p, cm->path[i].p ? cm->path[i].len : 0);
        pq_tenc_field_i32(e, 4, cm->codec);
        pq_tenc_field_i64(e, 5, cm->num_values);
        pq_tenc_field_i64(e, 6, cm->total_uncompressed_size);
        pq_tenc_field_i64(e, 7, cm->total_compressed_size);
        pq_tenc_field_i64(e, 9, cm->data_page_offset);
        if (cm->has_dictionary_page_offset)
            pq_tenc_field_i64(e, 11, cm->dictionary_page_offset);
        if (cm->has_statistics) {
            pq_tenc_field(e, 12, PQ_TC_STRUCT);
            enc_statistics(e, &cm->statistics);
        }
        pq_tenc_struct_end(e);
    }
    pq_tenc_struct_end(e);
}

static void enc_row_group(struct pq_tenc *e, const struct pq_row_group *rg)
{
    pq_tenc_struct_begin(e);
    pq_tenc_field(e, 1, PQ_TC_LIST);
    pq_tenc_list_begin(e, PQ_TC_STRUCT, rg->ncolumns);
    for (uint32_t i = 0; i < rg->ncolumns; i++)
        enc_column_chunk(e, &rg->columns[i]);
    pq_tenc_field_i64(e, 2, rg->total_byte_size);
    pq_tenc_field_i64(e, 3, rg->num_rows);
    if (rg->has_file_offset)
        pq_tenc_field_i64(e, 5, rg->file_offset);
    if (rg->has_total_compressed_size)
        pq_tenc_field_i64(e, 6, rg->total_compressed_size);
    if (rg->has_ordinal) {
        pq_tenc_field(e, 7, PQ_TC_I16);
        pq_tenc_i16(e, rg->ordinal);
    }
    pq_tenc_struct_end(e);
}

/* Undo a failed encode: the buffer goes back to its length before. */
static int enc_finish(struct pq_tenc *e, struct weir_buf *out, size_t start)
{
    int rc = pq_tenc_status(e);
    if (rc)
        out->len = start;
    return rc;
}

int pq_file_meta_encode(const struct pq_file_meta *m, struct weir_buf *out)
{
    if ((m->nschema && !m->schema) || (m->nrow_groups && !m->row_groups) || (m->nkv && !m->kv))
        return WEIR_EINVAL;
    for (uint32_t i = 0; i < m->nrow_groups; i++) {
        const struct pq_row_group *rg = &m->row_groups[i];
        if (rg->ncolumns && !rg->columns)
            return WEIR_EINVAL;
        for (uint32_t j = 0; j < rg->ncolumns; j++) {
            const struct pq_column_meta *cm = &rg->columns[j].meta;
            if ((cm->nencodings && !cm->encodings) || (cm->npath && !cm->path))
                return WEIR_EINVAL;
        }
    }
    size_t start = out->len;
    struct pq_tenc e;
    pq_tenc_init(&e, out);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_i32(&e, 1, m->version);
    pq_tenc_field(&e, 2, PQ_TC_LIST);
    pq_tenc_list_begin(&e, PQ_TC_STRUCT, m->nschema);
    for (uint32_t i = 0; i < m->nschema; i++)
        enc_schema_element(&e, &m->schema[i]);
    pq_tenc_field_i64(&e, 3, m->num_rows);
    pq_tenc_field(&e, 4, PQ_TC_LIST);
    pq_tenc_list_begin(&e, PQ_TC_STRUCT, m->nrow_groups);
    for (uint32_t i = 0; i < m->nrow_groups; i++)
        enc_row_group(&e, &m->row_groups[i]);
    if (m->nkv) {
        pq_tenc_field(&e, 5, PQ_TC_LIST);
        pq_tenc_list_begin(&e, PQ_TC_STRUCT, m->nkv);
        for (uint32_t i = 0; i < m->nkv; i++) {
            pq_tenc_struct_begin(&e);
            pq_tenc_field_binary(&e, 1, m->kv[i].key.p, m->kv[i].key.p ? m->kv[i].key.len : 0);
            enc_bytes_field(&e, 2, &m->kv[i].value);
            pq_tenc_struct_end(&e);
        }
    }
    enc_bytes_field(&e, 6, &m->created_by);
    if (m->ncolumn_orders) {
        pq_tenc_field(&e, 7, PQ_TC_LIST);
        pq_tenc_list_begin(&e, PQ_TC_STRUCT, m->ncolumn_orders);
        for (uint32_t i = 0; i < m->ncolumn_orders; i++) {
            pq_tenc_struct_begin(&e); /* ColumnOrder union */
            enc_empty_member(&e, 1);  /* TYPE_ORDER: TypeDefinedOrder {} */
            pq_tenc_struct_end(&e);
        }
    }
    pq_tenc_struct_end(&e);
    return enc_finish(&e, out, start);
}

int pq_page_header_encode(const struct pq_page_header *h, struct weir_buf *out)
{
    size_t start = out->len;
    struct pq_tenc e;
    pq_tenc_init(&e, out);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_i32(&e, 1, (int32_t)h->type);
    pq_tenc_field_i32(&e, 2, h->uncompressed_page_size);
    pq_tenc_field_i32(&e, 3, h->compressed_page_size);
    if (h->has_crc)
        pq_tenc_field_i32(&e, 4, h->crc);
    if (h->has_data) {
        const struct pq_data_page_header *dp = &h->data;
        pq_tenc_field(&e, 5, PQ_TC_STRUCT);
        pq_tenc_struct_begin(&e);
        pq_tenc_field_i32(&e, 1, dp->num_values);
        pq_tenc_field_i32(&e, 2, dp->encoding);
        pq_tenc_field_i32(&e, 3, dp->definition_level_encoding);
        pq_tenc_field_i32(&e, 4, dp->repetition_level_encoding);
        if (dp->has_statistics) {
            pq_tenc_field(&e, 5, PQ_TC_STRUCT);
            enc_statistics(&e, &dp->statistics);
        }
        pq_tenc_struct_end(&e);
    }
    if (h->has_dictionary) {
        pq_tenc_field(&e, 7, PQ_TC_STRUCT);
        pq_tenc_struct_begin(&e);
        pq_tenc_field_i32(&e, 1, h->dictionary.num_values);
        pq_tenc_field_i32(&e, 2, h->dictionary.encoding);
        if (h->dictionary.is_sorted)
            pq_tenc_field_bool(&e, 3, true);
        pq_tenc_struct_end(&e);
    }
    if (h->has_data_v2) {
        const struct pq_data_page_header_v2 *v2 = &h->data_v2;
        pq_tenc_field(&e, 8, PQ_TC_STRUCT);
        pq_tenc_struct_begin(&e);
        pq_tenc_field_i32(&e, 1, v2->num_values);
        pq_tenc_field_i32(&e, 2, v2->num_nulls);
        pq_tenc_field_i32(&e, 3, v2->num_rows);
        pq_tenc_field_i32(&e, 4, v2->encoding);
        pq_tenc_field_i32(&e, 5, v2->definition_levels_byte_length);
        pq_tenc_field_i32(&e, 6, v2->repetition_levels_byte_length);
        pq_tenc_field_bool(&e, 7, v2->is_compressed);
        if (v2->has_statistics) {
            pq_tenc_field(&e, 8, PQ_TC_STRUCT);
            enc_statistics(&e, &v2->statistics);
        }
        pq_tenc_struct_end(&e);
    }
    pq_tenc_struct_end(&e);
    return enc_finish(&e, out, start);
}
