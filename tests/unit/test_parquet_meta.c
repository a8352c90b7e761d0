/* tests/unit/test_parquet_meta.c - the Thrift compact protocol
 * (formats/parquet/thrift.c) and Parquet footer / page-header encoding
 * (formats/parquet/meta.c): exact wire bytes, primitive round trips, every
 * footer of the shared testdata (Spark, pyarrow, delta-rs), encode->decode
 * equality, unknown-field skipping, and hostile inputs (truncation, garbage,
 * bit flips, huge counts, allocation failure) failing cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "formats/parquet/meta.h"
#include "formats/parquet/thrift.h"

/* ------------------------------------------------------------ helpers */

static void assert_bytes(const struct weir_buf *b, const uint8_t *want, size_t n)
{
    assert_int_equal(b->len, n);
    assert_memory_equal(b->data, want, n);
}

static bool bytes_eq(const struct pq_bytes *a, const struct pq_bytes *b)
{
    if ((a->p == NULL) != (b->p == NULL))
        return false;
    if (!a->p)
        return true;
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static void assert_stats_eq(const struct pq_statistics *a, const struct pq_statistics *b)
{
    assert_true(bytes_eq(&a->max, &b->max));
    assert_true(bytes_eq(&a->min, &b->min));
    assert_true(bytes_eq(&a->max_value, &b->max_value));
    assert_true(bytes_eq(&a->min_value, &b->min_value));
    assert_int_equal(a->has_null_count, b->has_null_count);
    assert_int_equal(a->null_count, b->null_count);
    assert_int_equal(a->has_distinct_count, b->has_distinct_count);
    assert_int_equal(a->distinct_count, b->distinct_count);
}

static void assert_meta_eq(const struct pq_file_meta *a, const struct pq_file_meta *b)
{
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->num_rows, b->num_rows);
    assert_true(bytes_eq(&a->created_by, &b->created_by));
    assert_int_equal(a->ncolumn_orders, b->ncolumn_orders);
    assert_int_equal(a->nschema, b->nschema);
    for (uint32_t i = 0; i < a->nschema; i++) {
        const struct pq_schema_element *x = &a->schema[i], *y = &b->schema[i];
        assert_int_equal(x->has_type, y->has_type);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->type_length, y->type_length);
        assert_int_equal(x->has_repetition, y->has_repetition);
        assert_int_equal(x->repetition, y->repetition);
        assert_true(bytes_eq(&x->name, &y->name));
        assert_int_equal(x->num_children, y->num_children);
        assert_int_equal(x->has_converted, y->has_converted);
        assert_int_equal(x->converted, y->converted);
        assert_int_equal(x->scale, y->scale);
        assert_int_equal(x->precision, y->precision);
        assert_int_equal(x->has_field_id, y->has_field_id);
        assert_int_equal(x->field_id, y->field_id);
        assert_int_equal(x->logical.kind, y->logical.kind);
        assert_int_equal(x->logical.scale, y->logical.scale);
        assert_int_equal(x->logical.precision, y->logical.precision);
        assert_int_equal(x->logical.adjusted_to_utc, y->logical.adjusted_to_utc);
        assert_int_equal(x->logical.unit, y->logical.unit);
        assert_int_equal(x->logical.bit_width, y->logical.bit_width);
        assert_int_equal(x->logical.is_signed, y->logical.is_signed);
    }
    assert_int_equal(a->nrow_groups, b->nrow_groups);
    for (uint32_t i = 0; i < a->nrow_groups; i++) {
        const struct pq_row_group *x = &a->row_groups[i], *y = &b->row_groups[i];
        assert_int_equal(x->total_byte_size, y->total_byte_size);
        assert_int_equal(x->num_rows, y->num_rows);
        assert_int_equal(x->has_file_offset, y->has_file_offset);
        assert_int_equal(x->file_offset, y->file_offset);
        assert_int_equal(x->has_total_compressed_size, y->has_total_compressed_size);
        assert_int_equal(x->total_compressed_size, y->total_compressed_size);
        assert_int_equal(x->has_ordinal, y->has_ordinal);
        assert_int_equal(x->ordinal, y->ordinal);
        assert_int_equal(x->ncolumns, y->ncolumns);
        for (uint32_t j = 0; j < x->ncolumns; j++) {
            const struct pq_column_chunk *c = &x->columns[j], *d = &y->columns[j];
            assert_true(bytes_eq(&c->file_path, &d->file_path));
            assert_int_equal(c->file_offset, d->file_offset);
            assert_int_equal(c->has_meta, d->has_meta);
            const struct pq_column_meta *m = &c->meta, *n = &d->meta;
            assert_int_equal(m->type, n->type);
            assert_int_equal(m->nencodings, n->nencodings);
            for (uint32_t k = 0; k < m->nencodings; k++)
                assert_int_equal(m->encodings[k], n->encodings[k]);
            assert_int_equal(m->npath, n->npath);
            for (uint32_t k = 0; k < m->npath; k++)
                assert_true(bytes_eq(&m->path[k], &n->path[k]));
            assert_int_equal(m->codec, n->codec);
            assert_int_equal(m->num_values, n->num_values);
            assert_int_equal(m->total_uncompressed_size, n->total_uncompressed_size);
            assert_int_equal(m->total_compressed_size, n->total_compressed_size);
            assert_int_equal(m->data_page_offset, n->data_page_offset);
            assert_int_equal(m->has_dictionary_page_offset, n->has_dictionary_page_offset);
            assert_int_equal(m->dictionary_page_offset, n->dictionary_page_offset);
            assert_int_equal(m->has_statistics, n->has_statistics);
            assert_stats_eq(&m->statistics, &n->statistics);
        }
    }
    assert_int_equal(a->nkv, b->nkv);
    for (uint32_t i = 0; i < a->nkv; i++) {
        assert_true(bytes_eq(&a->kv[i].key, &b->kv[i].key));
        assert_true(bytes_eq(&a->kv[i].value, &b->kv[i].value));
    }
}

static void assert_page_eq(const struct pq_page_header *a, const struct pq_page_header *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->uncompressed_page_size, b->uncompressed_page_size);
    assert_int_equal(a->compressed_page_size, b->compressed_page_size);
    assert_int_equal(a->has_crc, b->has_crc);
    assert_int_equal(a->crc, b->crc);
    assert_int_equal(a->has_data, b->has_data);
    assert_int_equal(a->has_dictionary, b->has_dictionary);
    assert_int_equal(a->has_data_v2, b->has_data_v2);
    if (a->has_data) {
        assert_int_equal(a->data.num_values, b->data.num_values);
        assert_int_equal(a->data.encoding, b->data.encoding);
        assert_int_equal(a->data.definition_level_encoding, b->data.definition_level_encoding);
        assert_int_equal(a->data.repetition_level_encoding, b->data.repetition_level_encoding);
        assert_int_equal(a->data.has_statistics, b->data.has_statistics);
        assert_stats_eq(&a->data.statistics, &b->data.statistics);
    }
    if (a->has_dictionary) {
        assert_int_equal(a->dictionary.num_values, b->dictionary.num_values);
        assert_int_equal(a->dictionary.encoding, b->dictionary.encoding);
        assert_int_equal(a->dictionary.is_sorted, b->dictionary.is_sorted);
    }
    if (a->has_data_v2) {
        const struct pq_data_page_header_v2 *x = &a->data_v2, *y = &b->data_v2;
        assert_int_equal(x->num_values, y->num_values);
        assert_int_equal(x->num_nulls, y->num_nulls);
        assert_int_equal(x->num_rows, y->num_rows);
        assert_int_equal(x->encoding, y->encoding);
        assert_int_equal(x->definition_levels_byte_length, y->definition_levels_byte_length);
        assert_int_equal(x->repetition_levels_byte_length, y->repetition_levels_byte_length);
        assert_int_equal(x->is_compressed, y->is_compressed);
        assert_int_equal(x->has_statistics, y->has_statistics);
        assert_stats_eq(&x->statistics, &y->statistics);
    }
}

#define B(s) ((struct pq_bytes){(const uint8_t *)(s), (uint32_t)strlen(s)})

/* A FileMetaData touching every field weir encodes. */
struct sample {
    struct pq_schema_element schema[8];
    struct pq_row_group rg[2];
    struct pq_column_chunk cols[2][4];
    int32_t enc[3];
    struct pq_bytes path[4][2];
    struct pq_key_value kv[2];
    struct pq_file_meta m;
};

static void make_sample(struct sample *s)
{
    memset(s, 0, sizeof *s);
    struct pq_schema_element *e = s->schema;
    e[0] = (struct pq_schema_element){.name = B("spark_schema"), .num_children = 5};
    e[1] = (struct pq_schema_element){.has_type = true,
                                      .type = PQ_INT64,
                                      .has_repetition = true,
                                      .repetition = PQ_OPTIONAL,
                                      .name = B("id"),
                                      .has_field_id = true,
                                      .field_id = -7,
                                      .logical = {.kind = PQ_LT_INTEGER, .bit_width = 64, .is_signed = true}};
    e[2] = (struct pq_schema_element){.has_type = true,
                                      .type = PQ_BYTE_ARRAY,
                                      .has_repetition = true,
                                      .repetition = PQ_OPTIONAL,
                                      .name = B("user"),
                                      .has_converted = true,
                                      .converted = PQ_CT_UTF8,
                                      .logical = {.kind = PQ_LT_STRING}};
    e[3] = (struct pq_schema_element){.has_type = true,
                                      .type = PQ_FIXED_LEN_BYTE_ARRAY,
                                      .type_length = 16,
                                      .has_repetition = true,
                                      .repetition = PQ_REQUIRED,
                                      .name = B("amount"),
                                      .has_converted = true,
                                      .converted = PQ_CT_DECIMAL,
                                      .scale = 2,
                                      .precision = 38,
                                      .logical = {.kind = PQ_LT_DECIMAL, .scale = 2, .precision = 38}};
    e[4] = (struct pq_schema_element){
        .has_type = true,
        .type = PQ_INT64,
        .has_repetition = true,
        .repetition = PQ_OPTIONAL,
        .name = B("ts"),
        .logical = {.kind = PQ_LT_TIMESTAMP, .adjusted_to_utc = true, .unit = PQ_MICROS}};
    e[5] = (struct pq_schema_element){.has_repetition = true,
                                      .repetition = PQ_OPTIONAL,
                                      .name = B("tags"),
                                      .num_children = 1,
                                      .has_converted = true,
                                      .converted = PQ_CT_LIST,
                                      .logical = {.kind = PQ_LT_LIST}};
    e[6] = (struct pq_schema_element){
        .has_repetition = true, .repetition = PQ_REPEATED, .name = B("list"), .num_children = 1};
    e[7] = (struct pq_schema_element){
        .has_type = true,
        .type = PQ_INT32,
        .has_repetition = true,
        .repetition = PQ_OPTIONAL,
        .name = B("element"),
        .logical = {.kind = PQ_LT_TIME, .adjusted_to_utc = false, .unit = PQ_MILLIS}};
    s->enc[0] = PQ_PLAIN;
    s->enc[1] = PQ_RLE;
    s->enc[2] = PQ_RLE_DICTIONARY;
    const char *names[4][2] = {{"id", NULL}, {"user", NULL}, {"amount", NULL}, {"tags", "list"}};
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 2; k++)
            if (names[c][k])
                s->path[c][k] = B(names[c][k]);
    for (int r = 0; r < 2; r++) {
        for (int c = 0; c < 4; c++) {
            struct pq_column_chunk *cc = &s->cols[r][c];
            cc->file_offset = 4 + 1000 * r + 100 * c;
            cc->has_meta = true;
            cc->meta.type = c == 1 ? PQ_BYTE_ARRAY : PQ_INT64;
            cc->meta.encodings = s->enc;
            cc->meta.nencodings = (uint32_t)(c == 0 ? 0 : 3); /* an empty list too */
            cc->meta.path = s->path[c];
            cc->meta.npath = c == 3 ? 2 : 1;
            cc->meta.codec = c;
            cc->meta.num_values = 1000 + c;
            cc->meta.total_uncompressed_size = INT64_MAX - c;
            cc->meta.total_compressed_size = 77;
            cc->meta.data_page_offset = cc->file_offset;
            if (c == 1) {
                cc->meta.has_dictionary_page_offset = true;
                cc->meta.dictionary_page_offset = cc->file_offset - 1;
                cc->meta.has_statistics = true;
                cc->meta.statistics = (struct pq_statistics){.min_value = B("alice"),
                                                             .max_value = B("zed"),
                                                             .has_null_count = true,
                                                             .null_count = 0,
                                                             .has_distinct_count = true,
                                                             .distinct_count = 42,
                                                             .min = {(const uint8_t *)"", 0}};
            }
        }
        s->rg[r].columns = s->cols[r];
        s->rg[r].ncolumns = 4;
        s->rg[r].total_byte_size = 12345 + r;
        s->rg[r].num_rows = 1000;
        if (r == 1) {
            s->rg[r].has_file_offset = true;
            s->rg[r].file_offset = 1004;
            s->rg[r].has_total_compressed_size = true;
            s->rg[r].total_compressed_size = 308;
            s->rg[r].has_ordinal = true;
            s->rg[r].ordinal = 1;
        }
    }
    s->kv[0] = (struct pq_key_value){B("org.apache.spark.version"), B("3.5.0")};
    s->kv[1] = (struct pq_key_value){B("no-value"), {NULL, 0}};
    s->m = (struct pq_file_meta){.version = 1,
                                 .schema = s->schema,
                                 .nschema = 8,
                                 .num_rows = 2000,
                                 .row_groups = s->rg,
                                 .nrow_groups = 2,
                                 .kv = s->kv,
                                 .nkv = 2,
                                 .created_by = B("weir version 0.1.0"),
                                 .ncolumn_orders = 4};
}

/* --------------------------------------------------- encoder wire bytes */

static void test_encoder_wire_bytes(void **state)
{
    (void)state;
    struct weir_buf b;
    weir_buf_init(&b);
    struct pq_tenc e;
    pq_tenc_init(&e, &b);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_i32(&e, 1, 1);          /* 0x15 0x02 */
    pq_tenc_field_i32(&e, 2, -1);         /* delta 1 again: 0x15 0x01 */
    pq_tenc_field_bool(&e, 3, true);      /* 0x11 */
    pq_tenc_field_bool(&e, 4, false);     /* 0x12 */
    pq_tenc_field_i64(&e, 20, 300);       /* long form: 0x06, zigzag(20)=40, zigzag(300)=600 */
    pq_tenc_field_i32(&e, 5, 0);          /* decreasing id: long form 0x05 0x0a 0x00 */
    pq_tenc_field(&e, 6, PQ_TC_LIST);     /* 0x19 */
    pq_tenc_list_begin(&e, PQ_TC_I32, 3); /* 0x35 */
    pq_tenc_i32(&e, 0);
    pq_tenc_i32(&e, -64); /* zigzag 127: 0x7f */
    pq_tenc_i32(&e, 64);  /* zigzag 128: 0x80 0x01 */
    pq_tenc_field(&e, 7, PQ_TC_DOUBLE);
    pq_tenc_double(&e, 1.0);
    pq_tenc_field(&e, 8, PQ_TC_STRUCT); /* nested: field ids restart at 0 */
    pq_tenc_struct_begin(&e);
    pq_tenc_field_binary(&e, 1, "ab", 2);
    pq_tenc_struct_end(&e);
    pq_tenc_field_i32(&e, 9, 2); /* back to the outer scope: delta 1 from 8 */
    pq_tenc_struct_end(&e);
    assert_int_equal(pq_tenc_status(&e), 0);
    const uint8_t want[] = {0x15, 0x02, 0x15, 0x01, 0x11, 0x12, 0x06, 0x28, 0xd8, 0x04, 0x05, 0x0a, 0x00,
                            0x19, 0x35, 0x00, 0x7f, 0x80, 0x01, 0x17, 0,    0,    0,    0,    0,    0,
                            0xf0, 0x3f, 0x1c, 0x18, 0x02, 'a',  'b',  0x00, 0x15, 0x04, 0x00};
    assert_bytes(&b, want, sizeof want);
    weir_buf_free(&b);
}

static void test_encoder_collection_headers(void **state)
{
    (void)state;
    struct weir_buf b;
    weir_buf_init(&b);
    struct pq_tenc e;
    pq_tenc_init(&e, &b);
    pq_tenc_list_begin(&e, PQ_TC_STRUCT, 14);          /* 0xec */
    pq_tenc_list_begin(&e, PQ_TC_BINARY, 15);          /* 0xf8 0x0f */
    pq_tenc_set_begin(&e, PQ_TC_I64, 300);             /* 0xf6 0xac 0x02 */
    pq_tenc_list_begin(&e, PQ_TC_FALSE, 0);            /* bool elements use type 1: 0x01 */
    pq_tenc_map_begin(&e, PQ_TC_BINARY, PQ_TC_I32, 0); /* 0x00 */
    pq_tenc_map_begin(&e, PQ_TC_BINARY, PQ_TC_I32, 2); /* 0x02 0x85 */
    pq_tenc_bool(&e, true);
    pq_tenc_bool(&e, false);
    pq_tenc_byte(&e, -1);
    pq_tenc_i16(&e, INT16_MIN); /* zigzag 65535: 0xff 0xff 0x03 */
    assert_int_equal(pq_tenc_status(&e), 0);
    const uint8_t want[] = {0xec, 0xf8, 0x0f, 0xf6, 0xac, 0x02, 0x01, 0x00,
                            0x02, 0x85, 0x01, 0x02, 0xff, 0xff, 0xff, 0x03};
    assert_bytes(&b, want, sizeof want);

    /* Errors are sticky: a bad call poisons the encoder. */
    size_t len = b.len;
    assert_int_equal(pq_tenc_field(&e, 1, PQ_TC_STOP), WEIR_EINVAL);
    assert_int_equal(pq_tenc_i32(&e, 5), WEIR_EINVAL);
    assert_int_equal(b.len, len);
    weir_buf_free(&b);

    /* Nesting past the limit fails instead of overflowing the id stack. */
    pq_tenc_init(&e, &b);
    for (int i = 0; i < PQ_THRIFT_MAX_DEPTH; i++)
        assert_int_equal(pq_tenc_struct_begin(&e), 0);
    assert_int_equal(pq_tenc_struct_begin(&e), WEIR_ERANGE);
    weir_buf_free(&b);

    pq_tenc_init(&e, &b);
    assert_int_equal(pq_tenc_struct_end(&e), WEIR_ESTATE);
    weir_buf_free(&b);
}

/* --------------------------------------------------- primitive round trip */

static void test_primitive_round_trip(void **state)
{
    (void)state;
    static const int64_t i64s[] = {0,
                                   1,
                                   -1,
                                   63,
                                   -64,
                                   64,
                                   127,
                                   128,
                                   INT32_MAX,
                                   INT32_MIN,
                                   (int64_t)INT32_MAX + 1,
                                   INT64_MAX,
                                   INT64_MIN,
                                   INT64_MIN + 1};
    static const int32_t i32s[] = {0, 1, -1, 1000000, -1000000, INT32_MAX, INT32_MIN};
    static const int16_t i16s[] = {0, 1, -1, 15, 16, INT16_MAX, INT16_MIN};
    static const double dbls[] = {0.0, -0.0, 1.5, -3.25e300, 5e-324, INFINITY, -INFINITY};
    char big[300];
    memset(big, 'x', sizeof big);

    struct weir_buf b;
    weir_buf_init(&b);
    struct pq_tenc e;
    pq_tenc_init(&e, &b);
    pq_tenc_struct_begin(&e);
    int16_t id = 0;
    for (size_t i = 0; i < sizeof i64s / sizeof *i64s; i++)
        pq_tenc_field_i64(&e, ++id, i64s[i]);
    for (size_t i = 0; i < sizeof i32s / sizeof *i32s; i++)
        pq_tenc_field_i32(&e, (int16_t)(id += 17), i32s[i]); /* long-form ids */
    for (size_t i = 0; i < sizeof i16s / sizeof *i16s; i++) {
        pq_tenc_field(&e, ++id, PQ_TC_I16);
        pq_tenc_i16(&e, i16s[i]);
    }
    for (size_t i = 0; i < sizeof dbls / sizeof *dbls; i++) {
        pq_tenc_field(&e, ++id, PQ_TC_DOUBLE);
        pq_tenc_double(&e, dbls[i]);
    }
    pq_tenc_field(&e, ++id, PQ_TC_DOUBLE);
    pq_tenc_double(&e, NAN);
    pq_tenc_field_binary(&e, ++id, "", 0);
    pq_tenc_field_binary(&e, ++id, big, sizeof big); /* two-byte length varint */
    pq_tenc_field_bool(&e, ++id, true);
    pq_tenc_field_bool(&e, ++id, false);
    pq_tenc_field(&e, ++id, PQ_TC_LIST);
    pq_tenc_list_begin(&e, PQ_TC_TRUE, 20);
    for (int i = 0; i < 20; i++)
        pq_tenc_bool(&e, i % 3 == 0);
    pq_tenc_field(&e, ++id, PQ_TC_BYTE);
    pq_tenc_byte(&e, -128);
    pq_tenc_field(&e, -5, PQ_TC_I32); /* negative ids exist in some IDLs */
    pq_tenc_i32(&e, 9);
    pq_tenc_struct_end(&e);
    assert_int_equal(pq_tenc_status(&e), 0);

    struct weir_error err = {0};
    struct pq_tdec d;
    pq_tdec_init(&d, b.data, b.len, &err);
    int16_t fid, want_id = 0;
    enum pq_tc_type t;
    assert_int_equal(pq_tdec_struct_begin(&d), 0);
    for (size_t i = 0; i < sizeof i64s / sizeof *i64s; i++) {
        int64_t v;
        assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
        assert_int_equal(fid, ++want_id);
        assert_int_equal(t, PQ_TC_I64);
        assert_int_equal(pq_tdec_i64(&d, &v), 0);
        assert_true(v == i64s[i]);
    }
    for (size_t i = 0; i < sizeof i32s / sizeof *i32s; i++) {
        int32_t v;
        assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
        assert_int_equal(fid, want_id += 17);
        assert_int_equal(t, PQ_TC_I32);
        assert_int_equal(pq_tdec_i32(&d, &v), 0);
        assert_int_equal(v, i32s[i]);
    }
    for (size_t i = 0; i < sizeof i16s / sizeof *i16s; i++) {
        int16_t v;
        assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
        assert_int_equal(fid, ++want_id);
        assert_int_equal(t, PQ_TC_I16);
        assert_int_equal(pq_tdec_i16(&d, &v), 0);
        assert_int_equal(v, i16s[i]);
    }
    for (size_t i = 0; i < sizeof dbls / sizeof *dbls; i++) {
        double v;
        assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
        assert_int_equal(t, PQ_TC_DOUBLE);
        assert_int_equal(pq_tdec_double(&d, &v), 0);
        assert_memory_equal(&v, &dbls[i], sizeof v); /* bit-exact, incl. -0.0 */
    }
    double nan;
    assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
    assert_int_equal(pq_tdec_double(&d, &nan), 0);
    assert_true(isnan(nan));
    const uint8_t *p;
    uint32_t n;
    assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
    assert_int_equal(t, PQ_TC_BINARY);
    assert_int_equal(pq_tdec_binary(&d, &p, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
    assert_int_equal(pq_tdec_binary(&d, &p, &n), 0);
    assert_int_equal(n, sizeof big);
    assert_memory_equal(p, big, sizeof big);
    bool bv;
    assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
    assert_int_equal(t, PQ_TC_TRUE);
    assert_int_equal(pq_tdec_bool(&d, &bv), 0);
    assert_true(bv);
    assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
    assert_int_equal(t, PQ_TC_FALSE);
    assert_int_equal(pq_tdec_bool(&d, &bv), 0);
    assert_false(bv);
    enum pq_tc_type elem;
    assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
    assert_int_equal(t, PQ_TC_LIST);
    assert_int_equal(pq_tdec_list_begin(&d, &elem, &n), 0);
    assert_int_equal(elem, PQ_TC_TRUE);
    assert_int_equal(n, 20);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(pq_tdec_bool(&d, &bv), 0);
        assert_int_equal(bv, i % 3 == 0);
    }
    int8_t by;
    assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
    assert_int_equal(pq_tdec_byte(&d, &by), 0);
    assert_int_equal(by, -128);
    int32_t v32;
    assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
    assert_int_equal(fid, -5);
    assert_int_equal(pq_tdec_i32(&d, &v32), 0);
    assert_int_equal(v32, 9);
    assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
    assert_int_equal(t, PQ_TC_STOP);
    assert_int_equal(pq_tdec_struct_end(&d), 0);
    assert_int_equal(pq_tdec_remaining(&d), 0);
    assert_int_equal(err.code, 0);
    weir_buf_free(&b);
}

/* Decode one value of the wire bytes with the given primitive; expect rc. */
static int dec_i32(const uint8_t *p, size_t n, int32_t *v, struct weir_error *err)
{
    struct pq_tdec d;
    pq_tdec_init(&d, p, n, err);
    return pq_tdec_i32(&d, v);
}

static void test_decoder_rejects_bad_primitives(void **state)
{
    (void)state;
    struct weir_error err = {0};
    int32_t v;
    /* truncated varint */
    const uint8_t trunc[] = {0x80, 0x80};
    assert_int_equal(dec_i32(trunc, sizeof trunc, &v, &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "truncated varint"));
    /* i32 that needs more than 32 bits */
    weir_error_clear(&err);
    const uint8_t big32[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    assert_int_equal(dec_i32(big32, sizeof big32, &v, &err), WEIR_ECORRUPT);
    /* the largest legal i32 */
    const uint8_t max32[] = {0xfe, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(dec_i32(max32, sizeof max32, &v, NULL), 0);
    assert_int_equal(v, INT32_MAX);
    /* an 11-byte varint */
    const uint8_t long64[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    struct pq_tdec d;
    int64_t v64;
    pq_tdec_init(&d, long64, sizeof long64, NULL);
    assert_int_equal(pq_tdec_i64(&d, &v64), WEIR_ECORRUPT);
    /* 10th byte with bits above 2^64 */
    const uint8_t over64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    pq_tdec_init(&d, over64, sizeof over64, NULL);
    assert_int_equal(pq_tdec_i64(&d, &v64), WEIR_ECORRUPT);
    const uint8_t min64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    pq_tdec_init(&d, min64, sizeof min64, NULL);
    assert_int_equal(pq_tdec_i64(&d, &v64), 0);
    assert_true(v64 == INT64_MIN);
    /* binary longer than the input */
    weir_error_clear(&err);
    const uint8_t bin[] = {0x05, 'a', 'b'};
    const uint8_t *p;
    uint32_t n;
    pq_tdec_init(&d, bin, sizeof bin, &err);
    assert_int_equal(pq_tdec_binary(&d, &p, &n), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "binary length 5"));
    /* truncated double */
    double dv;
    pq_tdec_init(&d, bin, sizeof bin, NULL);
    assert_int_equal(pq_tdec_double(&d, &dv), WEIR_ECORRUPT);
    /* a list claiming more elements than bytes */
    weir_error_clear(&err);
    const uint8_t lst[] = {0xf5, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00};
    enum pq_tc_type elem;
    pq_tdec_init(&d, lst, sizeof lst, &err);
    assert_int_equal(pq_tdec_list_begin(&d, &elem, &n), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "remain"));
    /* doubles need 8 bytes each: 2 doubles in 15 bytes do not fit */
    uint8_t dl[16] = {0x27};
    pq_tdec_init(&d, dl, 16, NULL);
    assert_int_equal(pq_tdec_list_begin(&d, &elem, &n), WEIR_ECORRUPT);
    pq_tdec_init(&d, dl, 17 - 1, NULL);
    dl[0] = 0x17; /* one double in 15 bytes is fine */
    assert_int_equal(pq_tdec_list_begin(&d, &elem, &n), 0);
    assert_int_equal(n, 1);
    /* unknown element and field types */
    const uint8_t badelem[] = {0x1e};
    pq_tdec_init(&d, badelem, 1, NULL);
    assert_int_equal(pq_tdec_list_begin(&d, &elem, &n), WEIR_ECORRUPT);
    int16_t fid;
    enum pq_tc_type t;
    const uint8_t badfield[] = {0x1f};
    pq_tdec_init(&d, badfield, 1, NULL);
    assert_int_equal(pq_tdec_field(&d, &fid, &t), WEIR_ECORRUPT);
    /* field id delta past i16 */
    const uint8_t idover[] = {0x05, 0xfe, 0xff, 0x03, 0x00, 0x15};
    pq_tdec_init(&d, idover, sizeof idover, NULL);
    assert_int_equal(pq_tdec_field(&d, &fid, &t), 0);
    assert_int_equal(fid, INT16_MAX);
    int32_t x;
    assert_int_equal(pq_tdec_i32(&d, &x), 0);
    assert_int_equal(pq_tdec_field(&d, &fid, &t), WEIR_ECORRUPT);
    /* bool list element must be 0, 1 or 2 */
    const uint8_t badbool[] = {0x07};
    bool bv;
    pq_tdec_init(&d, badbool, 1, NULL);
    assert_int_equal(pq_tdec_bool(&d, &bv), WEIR_ECORRUPT);
    /* empty input */
    pq_tdec_init(&d, badbool, 0, NULL);
    assert_int_equal(pq_tdec_field(&d, &fid, &t), WEIR_ECORRUPT);
}

static void test_skip_every_type(void **state)
{
    (void)state;
    struct weir_buf b;
    weir_buf_init(&b);
    struct pq_tenc e;
    pq_tenc_init(&e, &b);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_bool(&e, 1, true);
    pq_tenc_field(&e, 2, PQ_TC_BYTE);
    pq_tenc_byte(&e, 7);
    pq_tenc_field(&e, 3, PQ_TC_I16);
    pq_tenc_i16(&e, -300);
    pq_tenc_field_i32(&e, 4, 1 << 30);
    pq_tenc_field_i64(&e, 5, INT64_MIN);
    pq_tenc_field(&e, 6, PQ_TC_DOUBLE);
    pq_tenc_double(&e, 2.5);
    pq_tenc_field_binary(&e, 7, "hello", 5);
    pq_tenc_field(&e, 8, PQ_TC_LIST); /* list<list<i32>> */
    pq_tenc_list_begin(&e, PQ_TC_LIST, 2);
    pq_tenc_list_begin(&e, PQ_TC_I32, 1);
    pq_tenc_i32(&e, 1);
    pq_tenc_list_begin(&e, PQ_TC_I32, 0);
    pq_tenc_field(&e, 9, PQ_TC_SET);
    pq_tenc_set_begin(&e, PQ_TC_TRUE, 2);
    pq_tenc_bool(&e, false);
    pq_tenc_bool(&e, true);
    pq_tenc_field(&e, 10, PQ_TC_MAP); /* map<binary, struct> */
    pq_tenc_map_begin(&e, PQ_TC_BINARY, PQ_TC_STRUCT, 2);
    for (int i = 0; i < 2; i++) {
        pq_tenc_binary(&e, "k", 1);
        pq_tenc_struct_begin(&e);
        pq_tenc_field_bool(&e, 1, false);
        pq_tenc_field_i32(&e, 200, 5);
        pq_tenc_struct_end(&e);
    }
    pq_tenc_field(&e, 11, PQ_TC_MAP);
    pq_tenc_map_begin(&e, PQ_TC_I32, PQ_TC_I32, 0);
    pq_tenc_field(&e, 12, PQ_TC_UUID);
    for (int i = 0; i < 16; i++)
        pq_tenc_byte(&e, (int8_t)i);
    pq_tenc_field(&e, 13, PQ_TC_STRUCT);
    pq_tenc_struct_begin(&e);
    pq_tenc_struct_end(&e);
    pq_tenc_struct_end(&e);
    pq_tenc_byte(&e, 0x55); /* a trailing marker the skip must stop before */
    assert_int_equal(pq_tenc_status(&e), 0);

    struct pq_tdec d;
    pq_tdec_init(&d, b.data, b.len, NULL);
    assert_int_equal(pq_tdec_skip(&d, PQ_TC_STRUCT), 0);
    assert_int_equal(pq_tdec_remaining(&d), 1);
    assert_int_equal(*d.p, 0x55);
    assert_int_equal(d.depth, 0);

    /* Every strict prefix fails cleanly. */
    for (size_t n = 0; n + 1 < b.len; n++) {
        pq_tdec_init(&d, b.data, n, NULL);
        assert_int_equal(pq_tdec_skip(&d, PQ_TC_STRUCT), WEIR_ECORRUPT);
    }
    pq_tdec_init(&d, b.data, b.len, NULL);
    assert_int_equal(pq_tdec_skip(&d, PQ_TC_STOP), WEIR_ECORRUPT);
    weir_buf_free(&b);
}

static void test_skip_depth_limit(void **state)
{
    (void)state;
    /* Structs nested 200 deep: field 1 of type struct, again and again. */
    uint8_t deep[400];
    memset(deep, 0x1c, 200);
    memset(deep + 200, 0x00, 200);
    struct weir_error err = {0};
    struct pq_tdec d;
    pq_tdec_init(&d, deep, sizeof deep, &err);
    assert_int_equal(pq_tdec_skip(&d, PQ_TC_STRUCT), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "nesting"));
    /* Lists of lists nested 200 deep (header 0x19: one element of type list). */
    uint8_t lists[201];
    memset(lists, 0x19, 200);
    lists[200] = 0x05; /* would be an empty list<i32> */
    pq_tdec_init(&d, lists, sizeof lists, NULL);
    assert_int_equal(pq_tdec_skip(&d, PQ_TC_LIST), WEIR_ECORRUPT);
    /* 60 deep is fine */
    uint8_t ok[121];
    memset(ok, 0x1c, 60);
    memset(ok + 60, 0x00, 61);
    pq_tdec_init(&d, ok, sizeof ok, NULL);
    assert_int_equal(pq_tdec_skip(&d, PQ_TC_STRUCT), 0);
    assert_int_equal(pq_tdec_remaining(&d), 0);
}

/* ------------------------------------------------- footer round trip */

static void test_file_meta_round_trip(void **state)
{
    (void)state;
    struct sample s;
    make_sample(&s);
    struct weir_buf b;
    weir_buf_init(&b);
    assert_int_equal(weir_buf_append(&b, "XY", 2), 0); /* encode appends */
    assert_int_equal(pq_file_meta_encode(&s.m, &b), 0);
    struct pq_file_meta m;
    struct weir_error err = {0};
    assert_int_equal(pq_file_meta_decode(b.data + 2, b.len - 2, &m, "sample", &err), 0);
    assert_meta_eq(&s.m, &m);
    /* strings point into the input */
    assert_int_equal(m.schema[1].name.p[0], 'i');
    assert_true(m.schema[1].name.p > b.data && m.schema[1].name.p < b.data + b.len);
    /* absent KeyValue.value stays absent; empty min stays present-and-empty */
    assert_null(m.kv[1].value.p);
    assert_non_null(m.row_groups[0].columns[1].meta.statistics.min.p);
    assert_int_equal(m.row_groups[0].columns[1].meta.statistics.min.len, 0);
    assert_null(m.row_groups[0].columns[1].meta.statistics.max.p);

    /* Encoding the decoded struct gives the same bytes. */
    struct weir_buf b2;
    weir_buf_init(&b2);
    assert_int_equal(pq_file_meta_encode(&m, &b2), 0);
    assert_int_equal(b2.len, b.len - 2);
    assert_memory_equal(b2.data, b.data + 2, b2.len);
    pq_file_meta_free(&m);
    assert_null(m.schema);
    pq_file_meta_free(&m); /* twice is harmless */
    pq_file_meta_free(NULL);
    weir_buf_free(&b2);
    weir_buf_free(&b);
}

static void test_page_header_round_trip(void **state)
{
    (void)state;
    struct pq_page_header hs[4];
    memset(hs, 0, sizeof hs);
    hs[0] = (struct pq_page_header){
        .type = PQ_DATA_PAGE,
        .uncompressed_page_size = 1 << 20,
        .compressed_page_size = 4000,
        .has_data = true,
        .data = {.num_values = 1024,
                 .encoding = PQ_RLE_DICTIONARY,
                 .definition_level_encoding = PQ_RLE,
                 .repetition_level_encoding = PQ_BIT_PACKED,
                 .has_statistics = true,
                 .statistics = {
                     .min_value = B("a"), .max_value = B("b"), .has_null_count = true, .null_count = 3}}};
    hs[1] = (struct pq_page_header){.type = PQ_DICTIONARY_PAGE,
                                    .uncompressed_page_size = 10,
                                    .compressed_page_size = 12,
                                    .has_crc = true,
                                    .crc = (int32_t)0xdeadbeef,
                                    .has_dictionary = true,
                                    .dictionary = {.num_values = 2, .encoding = PQ_PLAIN, .is_sorted = true}};
    hs[2] =
        (struct pq_page_header){.type = PQ_DATA_PAGE_V2,
                                .uncompressed_page_size = 100,
                                .compressed_page_size = 90,
                                .has_data_v2 = true,
                                .data_v2 = {.num_values = 10,
                                            .num_nulls = 2,
                                            .num_rows = 9,
                                            .encoding = PQ_DELTA_BINARY_PACKED,
                                            .definition_levels_byte_length = 4,
                                            .repetition_levels_byte_length = 3,
                                            .is_compressed = false,
                                            .has_statistics = true,
                                            .statistics = {.has_distinct_count = true, .distinct_count = 8}}};
    hs[3] = hs[2];
    hs[3].data_v2.is_compressed = true;
    hs[3].data_v2.has_statistics = false;
    memset(&hs[3].data_v2.statistics, 0, sizeof hs[3].data_v2.statistics);
    for (int i = 0; i < 4; i++) {
        struct weir_buf b;
        weir_buf_init(&b);
        assert_int_equal(pq_page_header_encode(&hs[i], &b), 0);
        size_t hlen = b.len;
        /* page bytes follow the header; consumed must stop at the header */
        assert_int_equal(weir_buf_append(&b, "\x01\x02\x03", 3), 0);
        struct pq_page_header h;
        size_t consumed = 0;
        struct weir_error err = {0};
        assert_int_equal(pq_page_header_decode(b.data, b.len, &h, &consumed, "p", &err), 0);
        assert_int_equal(consumed, hlen);
        assert_page_eq(&hs[i], &h);
        /* truncations */
        for (size_t n = 0; n < hlen; n++) {
            weir_error_clear(&err);
            assert_int_equal(pq_page_header_decode(b.data, n, &h, &consumed, "p.parquet", &err),
                             WEIR_ECORRUPT);
            assert_non_null(strstr(err.message, "p.parquet"));
        }
        weir_buf_free(&b);
    }
    /* is_compressed defaults to true when absent (hand-built v2 header) */
    const uint8_t v2[] = {0x15, 0x06, 0x15, 0x02, 0x15, 0x02, 0x5c, /* type 3, sizes 1, 1, field 8 */
                          0x15, 0x02, 0x15, 0x00, 0x15, 0x02, 0x15, 0x00, 0x15, 0x00, 0x15, 0x00, 0x00, 0x00};
    struct pq_page_header h;
    size_t consumed;
    assert_int_equal(pq_page_header_decode(v2, sizeof v2, &h, &consumed, "v2", NULL), 0);
    assert_true(h.has_data_v2);
    assert_true(h.data_v2.is_compressed);
    assert_int_equal(h.data_v2.num_values, 1);
    assert_int_equal(consumed, sizeof v2);
    /* DATA_PAGE without its header struct */
    const uint8_t nodata[] = {0x15, 0x00, 0x15, 0x02, 0x15, 0x02, 0x00};
    struct weir_error err = {0};
    assert_int_equal(pq_page_header_decode(nodata, sizeof nodata, &h, &consumed, "x", &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "without data_page_header"));
    /* missing required compressed_page_size */
    const uint8_t nocomp[] = {0x15, 0x04, 0x15, 0x02, 0x00};
    weir_error_clear(&err);
    assert_int_equal(pq_page_header_decode(nocomp, sizeof nocomp, &h, &consumed, "x", &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "compressed_page_size"));
    /* negative size */
    const uint8_t neg[] = {0x15, 0x04, 0x15, 0x01, 0x15, 0x02, 0x00};
    assert_int_equal(pq_page_header_decode(neg, sizeof neg, &h, &consumed, "x", NULL), WEIR_ECORRUPT);
}

/* Unknown fields in every struct are skipped, whatever their type. */
static void put_junk(struct pq_tenc *e, int16_t id)
{
    pq_tenc_field(e, id, PQ_TC_STRUCT);
    pq_tenc_struct_begin(e);
    pq_tenc_field(e, 1, PQ_TC_LIST);
    pq_tenc_list_begin(e, PQ_TC_I64, 2);
    pq_tenc_i64(e, 1);
    pq_tenc_i64(e, 2);
    pq_tenc_field(e, 2, PQ_TC_MAP);
    pq_tenc_map_begin(e, PQ_TC_BINARY, PQ_TC_DOUBLE, 1);
    pq_tenc_binary(e, "x", 1);
    pq_tenc_double(e, 1.0);
    pq_tenc_field_bool(e, 3, true);
    pq_tenc_struct_end(e);
    pq_tenc_field_binary(e, (int16_t)(id + 1), "unknown", 7);
}

static void test_unknown_fields_skipped(void **state)
{
    (void)state;
    struct weir_buf b;
    weir_buf_init(&b);
    struct pq_tenc e;
    pq_tenc_init(&e, &b);
    pq_tenc_struct_begin(&e); /* FileMetaData */
    pq_tenc_field_i32(&e, 1, 2);
    pq_tenc_field(&e, 2, PQ_TC_LIST);
    pq_tenc_list_begin(&e, PQ_TC_STRUCT, 2);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_binary(&e, 4, "schema", 6);
    pq_tenc_field_i32(&e, 5, 1);
    put_junk(&e, 40);
    pq_tenc_struct_end(&e);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_i32(&e, 1, PQ_BYTE_ARRAY);
    pq_tenc_field_i32(&e, 3, PQ_OPTIONAL);
    pq_tenc_field_binary(&e, 4, "g", 1);
    pq_tenc_field(&e, 10, PQ_TC_STRUCT); /* LogicalType GEOMETRY {crs} */
    pq_tenc_struct_begin(&e);
    pq_tenc_field(&e, 17, PQ_TC_STRUCT);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_binary(&e, 1, "OGC:CRS84", 9);
    pq_tenc_struct_end(&e);
    pq_tenc_struct_end(&e);
    pq_tenc_field_i32(&e, 11, 4); /* vector_length */
    pq_tenc_struct_end(&e);
    pq_tenc_field_i64(&e, 3, 5);
    pq_tenc_field(&e, 4, PQ_TC_LIST);
    pq_tenc_list_begin(&e, PQ_TC_STRUCT, 1);
    pq_tenc_struct_begin(&e); /* RowGroup */
    pq_tenc_field(&e, 1, PQ_TC_LIST);
    pq_tenc_list_begin(&e, PQ_TC_STRUCT, 1);
    pq_tenc_struct_begin(&e); /* ColumnChunk */
    pq_tenc_field_i64(&e, 2, 4);
    pq_tenc_field(&e, 3, PQ_TC_STRUCT);
    pq_tenc_struct_begin(&e); /* ColumnMetaData */
    pq_tenc_field_i32(&e, 1, PQ_BYTE_ARRAY);
    pq_tenc_field(&e, 2, PQ_TC_LIST);
    pq_tenc_list_begin(&e, PQ_TC_I32, 1);
    pq_tenc_i32(&e, PQ_PLAIN);
    pq_tenc_field(&e, 3, PQ_TC_LIST);
    pq_tenc_list_begin(&e, PQ_TC_BINARY, 1);
    pq_tenc_binary(&e, "g", 1);
    pq_tenc_field_i32(&e, 4, 6);
    pq_tenc_field_i64(&e, 5, 5);
    pq_tenc_field_i64(&e, 6, 50);
    pq_tenc_field_i64(&e, 7, 40);
    pq_tenc_field(&e, 8, PQ_TC_LIST); /* key_value_metadata: skipped */
    pq_tenc_list_begin(&e, PQ_TC_STRUCT, 1);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_binary(&e, 1, "k", 1);
    pq_tenc_struct_end(&e);
    pq_tenc_field_i64(&e, 9, 4);
    pq_tenc_field(&e, 12, PQ_TC_STRUCT);
    pq_tenc_struct_begin(&e); /* Statistics with is_*_exact and nan_count */
    pq_tenc_field_binary(&e, 5, "z", 1);
    pq_tenc_field_binary(&e, 6, "a", 1);
    pq_tenc_field_bool(&e, 7, true);
    pq_tenc_field_bool(&e, 8, false);
    pq_tenc_field_i64(&e, 9, 0);
    pq_tenc_struct_end(&e);
    pq_tenc_field(&e, 13, PQ_TC_LIST); /* encoding_stats */
    pq_tenc_list_begin(&e, PQ_TC_STRUCT, 1);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_i32(&e, 1, 0);
    pq_tenc_field_i32(&e, 2, 0);
    pq_tenc_field_i32(&e, 3, 1);
    pq_tenc_struct_end(&e);
    pq_tenc_field_i64(&e, 14, 999); /* bloom_filter_offset */
    put_junk(&e, 16);               /* size_statistics, geospatial_statistics */
    pq_tenc_struct_end(&e);
    pq_tenc_field_i64(&e, 4, 1000); /* ColumnChunk.offset_index_offset */
    pq_tenc_field_i32(&e, 5, 20);
    pq_tenc_struct_end(&e);
    pq_tenc_field_i64(&e, 2, 60);
    pq_tenc_field_i64(&e, 3, 5);
    pq_tenc_field(&e, 4, PQ_TC_LIST); /* sorting_columns */
    pq_tenc_list_begin(&e, PQ_TC_STRUCT, 1);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_i32(&e, 1, 0);
    pq_tenc_field_bool(&e, 2, false);
    pq_tenc_field_bool(&e, 3, true);
    pq_tenc_struct_end(&e);
    put_junk(&e, 30);
    pq_tenc_struct_end(&e);
    pq_tenc_field_binary(&e, 6, "writer x", 8);
    pq_tenc_field(&e, 7, PQ_TC_LIST);
    pq_tenc_list_begin(&e, PQ_TC_STRUCT, 1);
    pq_tenc_struct_begin(&e); /* IEEE_754_TOTAL_ORDER */
    pq_tenc_field(&e, 2, PQ_TC_STRUCT);
    pq_tenc_struct_begin(&e);
    pq_tenc_struct_end(&e);
    pq_tenc_struct_end(&e);
    pq_tenc_field(&e, 8, PQ_TC_STRUCT); /* encryption_algorithm */
    pq_tenc_struct_begin(&e);
    pq_tenc_field(&e, 1, PQ_TC_STRUCT);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_binary(&e, 1, "aad", 3);
    pq_tenc_struct_end(&e);
    pq_tenc_struct_end(&e);
    pq_tenc_field_binary(&e, 9, "key", 3);
    put_junk(&e, 1000);
    pq_tenc_struct_end(&e);
    assert_int_equal(pq_tenc_status(&e), 0);

    struct pq_file_meta m;
    struct weir_error err = {0};
    int rc = pq_file_meta_decode(b.data, b.len, &m, "junk", &err);
    if (rc)
        fail_msg("%s", err.message);
    assert_int_equal(m.version, 2);
    assert_int_equal(m.nschema, 2);
    assert_int_equal(m.schema[0].num_children, 1);
    assert_int_equal(m.schema[1].logical.kind, PQ_LT_GEOMETRY);
    assert_int_equal(m.num_rows, 5);
    assert_int_equal(m.nrow_groups, 1);
    assert_int_equal(m.row_groups[0].ncolumns, 1);
    const struct pq_column_meta *cm = &m.row_groups[0].columns[0].meta;
    assert_int_equal(cm->codec, 6);
    assert_int_equal(cm->data_page_offset, 4);
    assert_true(cm->has_statistics);
    assert_memory_equal(cm->statistics.max_value.p, "z", 1);
    assert_false(cm->statistics.has_null_count);
    assert_int_equal(m.row_groups[0].num_rows, 5);
    assert_int_equal(m.ncolumn_orders, 1);
    assert_int_equal(m.created_by.len, 8);
    pq_file_meta_free(&m);
    weir_buf_free(&b);
}

/* A footer missing a required field (each of FileMetaData's four). */
static void test_required_fields(void **state)
{
    (void)state;
    static const char *const names[] = {NULL, "version", "schema", "num_rows", "row_groups"};
    for (int skip = 1; skip <= 4; skip++) {
        struct weir_buf b;
        weir_buf_init(&b);
        struct pq_tenc e;
        pq_tenc_init(&e, &b);
        pq_tenc_struct_begin(&e);
        if (skip != 1)
            pq_tenc_field_i32(&e, 1, 1);
        if (skip != 2) {
            pq_tenc_field(&e, 2, PQ_TC_LIST);
            pq_tenc_list_begin(&e, PQ_TC_STRUCT, 1);
            pq_tenc_struct_begin(&e);
            pq_tenc_field_binary(&e, 4, "root", 4);
            pq_tenc_struct_end(&e);
        }
        if (skip != 3)
            pq_tenc_field_i64(&e, 3, 0);
        if (skip != 4) {
            pq_tenc_field(&e, 4, PQ_TC_LIST);
            pq_tenc_list_begin(&e, PQ_TC_STRUCT, 0);
        }
        pq_tenc_struct_end(&e);
        struct pq_file_meta m;
        struct weir_error err = {0};
        assert_int_equal(pq_file_meta_decode(b.data, b.len, &m, "req.parquet", &err), WEIR_ECORRUPT);
        assert_non_null(strstr(err.message, "req.parquet"));
        assert_non_null(strstr(err.message, names[skip]));
        assert_non_null(strstr(err.message, "missing"));
        assert_null(m.schema);
        weir_buf_free(&b);
    }
    /* SchemaElement without a name, named in the message with its index */
    const uint8_t noname[] = {0x15, 0x02, 0x19, 0x2c, 0x15, 0x00, 0x00, 0x15,
                              0x02, 0x00, 0x16, 0x00, 0x19, 0x0c, 0x00};
    struct pq_file_meta m;
    struct weir_error err = {0};
    assert_int_equal(pq_file_meta_decode(noname, sizeof noname, &m, "n.parquet", &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "FileMetaData.schema[0]"));
    assert_non_null(strstr(err.message, "name"));
}

/* Decoding footer bytes p[0..n) must fail with `code`, with a message
 * holding each of the non-NULL needles. */
static void expect_meta_error(const uint8_t *p, size_t n, int code, const char *needle1, const char *needle2)
{
    struct pq_file_meta m;
    struct weir_error err = {0};
    assert_int_equal(pq_file_meta_decode(p, n, &m, "t", &err), code);
    if (needle1)
        assert_non_null(strstr(err.message, needle1));
    if (needle2)
        assert_non_null(strstr(err.message, needle2));
}

static void test_repeated_field_and_bad_type(void **state)
{
    (void)state;
    /* version twice */
    const uint8_t twice[] = {0x15, 0x02, 0x05, 0x02, 0x02, 0x00};
    expect_meta_error(twice, sizeof twice, WEIR_ECORRUPT, "repeated", NULL);
    /* SchemaElement.type = 9 (no such physical type) */
    const uint8_t badtype[] = {0x15, 0x02, 0x19, 0x1c, 0x15, 0x12, 0x38, 0x01,
                               'x',  0x00, 0x16, 0x00, 0x19, 0x0c, 0x00};
    expect_meta_error(badtype, sizeof badtype, WEIR_ECORRUPT, "physical type 9", NULL);
    /* repetition VECTOR is unsupported, not corrupt */
    const uint8_t vec[] = {0x15, 0x02, 0x19, 0x1c, 0x35, 0x06, 0x18, 0x01,
                           'x',  0x00, 0x16, 0x00, 0x19, 0x0c, 0x00};
    expect_meta_error(vec, sizeof vec, WEIR_EUNSUPPORTED, NULL, NULL);
    /* a known field with the wrong wire type is corrupt, not skipped: here
     * TIMESTAMP.unit (field 2) is an i32 instead of the TimeUnit union, which
     * would otherwise leave a timestamp without a unit */
    const uint8_t badunit[] = {0x15, 0x02, 0x19, 0x1c, 0x15, 0x04, 0x38, 0x01, 'x',  0x6c, 0x8c,
                               0x11, 0x15, 0x04, 0x00, 0x00, 0x00, 0x16, 0x00, 0x19, 0x0c, 0x00};
    expect_meta_error(badunit, sizeof badunit, WEIR_ECORRUPT, "wire type 5",
                      "SchemaElement.logicalType: LogicalType: TimestampType");
    /* FileMetaData.num_rows sent as binary */
    const uint8_t badrows[] = {0x15, 0x02, 0x19, 0x1c, 0x48, 0x01, 'x', 0x00, 0x18, 0x00, 0x19, 0x0c, 0x00};
    expect_meta_error(badrows, sizeof badrows, WEIR_ECORRUPT, "FileMetaData.num_rows", NULL);
    /* ColumnChunk without meta_data */
    const uint8_t nometa[] = {0x15, 0x02, 0x19, 0x1c, 0x48, 0x01, 'x',  0x00, 0x16, 0x00, 0x19, 0x1c,
                              0x19, 0x1c, 0x26, 0x00, 0x00, 0x16, 0x00, 0x16, 0x00, 0x00, 0x00, 0x00,
                              0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    expect_meta_error(nometa, sizeof nometa, WEIR_ECORRUPT, "meta_data missing", "row_groups[0]");
}

/* A huge count must fail before allocating: record the largest request. */
static size_t g_max_alloc;
static void *rec_malloc(size_t n)
{
    if (n > g_max_alloc)
        g_max_alloc = n;
    return malloc(n);
}
static void *rec_calloc(size_t c, size_t n)
{
    if (c * n > g_max_alloc)
        g_max_alloc = c * n;
    return calloc(c, n);
}
static void *rec_realloc(void *p, size_t n)
{
    if (n > g_max_alloc)
        g_max_alloc = n;
    return realloc(p, n);
}

static void test_huge_counts_do_not_allocate(void **state)
{
    (void)state;
    struct weir_alloc_hooks h = {rec_malloc, rec_calloc, rec_realloc, free};
    weir_alloc_set_hooks(&h);
    g_max_alloc = 0;
    struct pq_file_meta m;
    /* schema list of 2^31-1 elements in a 20-byte footer */
    uint8_t f1[20] = {0x15, 0x02, 0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07};
    assert_int_equal(pq_file_meta_decode(f1, sizeof f1, &m, "h", NULL), WEIR_ECORRUPT);
    /* 4 schema elements fit the list check but not the per-element minimum */
    uint8_t f2[] = {0x15, 0x02, 0x19, 0x4c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    assert_int_equal(pq_file_meta_decode(f2, sizeof f2, &m, "h", NULL), WEIR_ECORRUPT);
    /* row groups: 1000 claimed in ~100 bytes */
    uint8_t f3[100] = {0x15, 0x02, 0x19, 0x0c, 0x16, 0x00, 0x19, 0xfc, 0xe8, 0x07};
    assert_int_equal(pq_file_meta_decode(f3, sizeof f3, &m, "h", NULL), WEIR_ECORRUPT);
    weir_alloc_set_hooks(NULL);
    assert_true(g_max_alloc < 4096);
}

/* Decodes hostile footer bytes: either it decodes (and is freed again) or it
 * is refused cleanly. True when it decoded. */
static bool decode_survives(const uint8_t *p, size_t n, const char *what)
{
    struct pq_file_meta m;
    int rc = pq_file_meta_decode(p, n, &m, what, NULL);
    assert_true(rc == 0 || rc == WEIR_ECORRUPT || rc == WEIR_EUNSUPPORTED);
    if (rc == 0)
        pq_file_meta_free(&m);
    return rc == 0;
}

/* Every truncation and many bit flips of a valid footer fail cleanly (ASan
 * builds check nothing leaks or overreads), and allocation failure at each
 * step gives WEIR_ENOMEM with nothing leaked. */
static void test_truncation_flips_and_alloc_failure(void **state)
{
    (void)state;
    struct sample s;
    make_sample(&s);
    struct weir_buf b;
    weir_buf_init(&b);
    assert_int_equal(pq_file_meta_encode(&s.m, &b), 0);
    struct pq_file_meta m;
    struct weir_error err;
    for (size_t n = 0; n < b.len; n++) {
        /* copy into an exact-size heap block so ASan sees any overread */
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, b.data, n);
        memset(&err, 0, sizeof err);
        int rc = pq_file_meta_decode(copy, n, &m, "trunc.parquet", &err);
        assert_int_equal(rc, WEIR_ECORRUPT);
        assert_int_equal(err.code, WEIR_ECORRUPT);
        assert_non_null(strstr(err.message, "trunc.parquet"));
        assert_int_equal(m.nschema, 0);
        free(copy);
    }
    uint8_t *copy = malloc(b.len);
    int ok = 0, bad = 0;
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, b.data, b.len);
            copy[i] ^= (uint8_t)(1u << bit);
            if (decode_survives(copy, b.len, "flip"))
                ok++;
            else
                bad++;
        }
    }
    assert_true(ok > 0 && bad > 0);
    /* random garbage */
    uint32_t x = 12345;
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = 1 + iter % 200;
        for (size_t i = 0; i < n && i < b.len; i++) {
            x = x * 1103515245u + 12345u;
            copy[i] = (uint8_t)(x >> 16);
        }
        decode_survives(copy, n < b.len ? n : b.len, "garbage");
        struct pq_page_header h;
        size_t consumed;
        int rc = pq_page_header_decode(copy, n < b.len ? n : b.len, &h, &consumed, "garbage", NULL);
        assert_true(rc == 0 || rc == WEIR_ECORRUPT);
    }
    free(copy);

    /* allocation failure at every step of decode */
    int fails = 0;
    for (long k = 0;; k++) {
        weir_alloc_fail_after(k);
        memset(&err, 0, sizeof err);
        int rc = pq_file_meta_decode(b.data, b.len, &m, "oom", &err);
        weir_alloc_fail_after(-1);
        if (rc == 0) {
            pq_file_meta_free(&m);
            break;
        }
        assert_int_equal(rc, WEIR_ENOMEM);
        assert_null(m.row_groups);
        fails++;
    }
    assert_true(fails > 5);

    /* allocation failure while encoding leaves the buffer as it was */
    for (long k = 0; k < 40; k++) {
        struct weir_buf o;
        weir_buf_init(&o);
        assert_int_equal(weir_buf_append(&o, "abc", 3), 0);
        weir_alloc_fail_after(k);
        int rc = pq_file_meta_encode(&s.m, &o);
        weir_alloc_fail_after(-1);
        if (rc) {
            assert_int_equal(rc, WEIR_ENOMEM);
            assert_int_equal(o.len, 3);
        } else {
            assert_int_equal(o.len, 3 + b.len);
        }
        weir_buf_free(&o);
    }
    weir_buf_free(&b);
}

/* ------------------------------------------------- real footers */

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return p;
}

struct footer_stats {
    int files, row_groups, columns, pages, dict_pages, v2_pages, logical, with_stats;
};

static void check_footer(const char *path, struct footer_stats *st)
{
    size_t n = 0;
    uint8_t *file = read_file(path, &n);
    assert_non_null(file);
    assert_true(n >= 12);
    assert_memory_equal(file, "PAR1", 4);
    assert_memory_equal(file + n - 4, "PAR1", 4);
    uint32_t flen = (uint32_t)file[n - 8] | (uint32_t)file[n - 7] << 8 | (uint32_t)file[n - 6] << 16 |
                    (uint32_t)file[n - 5] << 24;
    assert_true(flen <= n - 12);
    const uint8_t *footer = file + n - 8 - flen;
    struct pq_file_meta m;
    struct weir_error err = {0};
    int rc = pq_file_meta_decode(footer, flen, &m, path, &err);
    if (rc)
        fail_msg("%s", err.message);
    st->files++;
    assert_true(m.version == 1 || m.version == 2);
    assert_true(m.nschema >= 1);
    assert_null(m.schema[0].has_type ? "root has a type" : NULL);
    int leaves = 0;
    for (uint32_t i = 0; i < m.nschema; i++) {
        assert_true(m.schema[i].name.p != NULL);
        if (m.schema[i].has_type)
            leaves++;
        if (m.schema[i].logical.kind != PQ_LT_NONE)
            st->logical++;
    }
    int64_t rows = 0;
    for (uint32_t r = 0; r < m.nrow_groups; r++) {
        const struct pq_row_group *rg = &m.row_groups[r];
        rows += rg->num_rows;
        assert_int_equal(rg->ncolumns, leaves);
        st->row_groups++;
        for (uint32_t c = 0; c < rg->ncolumns; c++) {
            const struct pq_column_meta *cm = &rg->columns[c].meta;
            st->columns++;
            st->with_stats += cm->has_statistics;
            assert_true(cm->npath >= 1);
            assert_true(cm->nencodings >= 1);
            assert_true(cm->data_page_offset >= 4 && (size_t)cm->data_page_offset < n);
            assert_true(cm->total_compressed_size > 0);
            /* The first page of the chunk: a dictionary page iff the
             * footer says there is one (some writers set offset 0). */
            int64_t first = cm->data_page_offset;
            if (cm->has_dictionary_page_offset && cm->dictionary_page_offset > 0)
                first = cm->dictionary_page_offset;
            struct pq_page_header h;
            size_t consumed = 0;
            int64_t off = first, end = first + cm->total_compressed_size;
            assert_true(end <= (int64_t)n);
            int64_t values = 0;
            while (off < end) {
                rc = pq_page_header_decode(file + off, (size_t)(end - off), &h, &consumed, path, &err);
                if (rc)
                    fail_msg("%s", err.message);
                st->pages++;
                if (h.type == PQ_DICTIONARY_PAGE)
                    st->dict_pages++;
                if (h.type == PQ_DATA_PAGE)
                    values += h.data.num_values;
                if (h.type == PQ_DATA_PAGE_V2) {
                    st->v2_pages++;
                    values += h.data_v2.num_values;
                }
                off += (int64_t)consumed + h.compressed_page_size;
            }
            assert_int_equal(off, end); /* pages tile the chunk exactly */
            assert_int_equal(values, cm->num_values);
        }
    }
    assert_int_equal(rows, m.num_rows);

    /* encode -> decode gives an equal structure */
    struct weir_buf b;
    weir_buf_init(&b);
    assert_int_equal(pq_file_meta_encode(&m, &b), 0);
    struct pq_file_meta m2;
    rc = pq_file_meta_decode(b.data, b.len, &m2, "re-encoded", &err);
    if (rc)
        fail_msg("%s", err.message);
    assert_meta_eq(&m, &m2);
    pq_file_meta_free(&m2);
    weir_buf_free(&b);
    pq_file_meta_free(&m);
    free(file);
}

static void walk(const char *dir, struct footer_stats *st)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            walk(path, st);
        } else {
            size_t len = strlen(de->d_name);
            if (len > 8 && strcmp(de->d_name + len - 8, ".parquet") == 0)
                check_footer(path, st);
        }
    }
    closedir(d);
}

static void test_testdata_footers(void **state)
{
    (void)state;
    struct footer_stats st = {0};
    walk(WEIR_TESTDATA, &st);
    print_message("decoded %d footers: %d row groups, %d column chunks (%d with stats), "
                  "%d pages (%d dictionary, %d v2), %d logical-type annotations\n",
                  st.files, st.row_groups, st.columns, st.with_stats, st.pages, st.dict_pages, st.v2_pages,
                  st.logical);
    assert_true(st.files >= 100);
    assert_true(st.pages > st.columns / 2);
    assert_true(st.dict_pages > 0);
    assert_true(st.logical > 0);
}

/* The committed fuzz seeds that are whole Parquet files: weir's own tiny
 * files (always there) and the parquet reader's seeds, which include data
 * page v2 files that the shared testdata lacks. */
static void test_seed_files(void **state)
{
    (void)state;
    struct footer_stats st = {0};
    walk(WEIR_SOURCE_DIR "/tests/fuzz/corpus/fuzz_parquet_footer", &st);
    assert_int_equal(st.files, 2);
    assert_int_equal(st.dict_pages, 1);
    walk(WEIR_SOURCE_DIR "/tests/fuzz/corpus/fuzz_parquet_file", &st);
    print_message("decoded %d seed files: %d pages (%d dictionary, %d v2)\n", st.files, st.pages,
                  st.dict_pages, st.v2_pages);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoder_wire_bytes),
        cmocka_unit_test(test_encoder_collection_headers),
        cmocka_unit_test(test_primitive_round_trip),
        cmocka_unit_test(test_decoder_rejects_bad_primitives),
        cmocka_unit_test(test_skip_every_type),
        cmocka_unit_test(test_skip_depth_limit),
        cmocka_unit_test(test_file_meta_round_trip),
        cmocka_unit_test(test_page_header_round_trip),
        cmocka_unit_test(test_unknown_fields_skipped),
        cmocka_unit_test(test_required_fields),
        cmocka_unit_test(test_repeated_field_and_bad_type),
        cmocka_unit_test(test_huge_counts_do_not_allocate),
        cmocka_unit_test(test_truncation_flips_and_alloc_failure),
        cmocka_unit_test(test_testdata_footers),
        cmocka_unit_test(test_seed_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
