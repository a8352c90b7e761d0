/* tests/unit/test_parquet_writer.c - the Parquet writer and its encoders.
 *
 * Each test builds batches, writes them into memory, and checks the file
 * with the footer decoder (pq_file_meta_decode) and the page-header decoder:
 * schema elements, levels, encodings, page layout, codecs and statistics.
 * Setting WEIR_WRITER_OUT=<dir> also saves every file there so they can be
 * read back with pyarrow (see the writer helper's report). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/buf.h"
#include "formats/parquet/compress.h"
#include "formats/parquet/encode.h"
#include "formats/parquet/meta.h"
#include "formats/parquet/parquet.h"

/* ---- helpers ------------------------------------------------------------- */

static void save(const char *name, const struct weir_buf *b)
{
    const char *dir = getenv("WEIR_WRITER_OUT");
    if (!dir)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
    fclose(f);
}

static struct weir_type *ddl(const char *s)
{
    struct weir_type *t = NULL;
    struct weir_error err = {0};
    int rc = weir_schema_parse(s, &t, &err);
    if (rc)
        fail_msg("ddl %s: %s", s, err.message);
    return t;
}

/* Write batches with opts into buf; returns the file size reported. */
static uint64_t write_file(const struct weir_type *schema, struct weir_batch **bs, int nb,
                           const struct weir_parquet_writer_options *o, struct weir_buf *out)
{
    struct weir_parquet_writer *w = NULL;
    struct weir_error err = {0};
    uint64_t size = 0;
    weir_buf_init(out);
    int rc = weir_parquet_writer_create(&w, schema, o, weir_output_buf(out), &err);
    if (rc)
        fail_msg("create: %s", err.message);
    for (int i = 0; i < nb; i++) {
        rc = weir_parquet_writer_write(w, bs[i], &err);
        if (rc)
            fail_msg("write: %s", err.message);
    }
    rc = weir_parquet_writer_close(w, &size, &err);
    if (rc)
        fail_msg("close: %s", err.message);
    weir_parquet_writer_destroy(w);
    assert_int_equal(size, out->len);
    return size;
}

static void decode_footer(const struct weir_buf *f, struct pq_file_meta *m)
{
    struct weir_error err = {0};
    assert_true(f->len >= 12);
    assert_memory_equal(f->data, "PAR1", 4);
    assert_memory_equal(f->data + f->len - 4, "PAR1", 4);
    const uint8_t *t = f->data + f->len - 8;
    uint32_t flen = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
    assert_true(flen + 12 <= f->len);
    int rc = pq_file_meta_decode(f->data + f->len - 8 - flen, flen, m, "test", &err);
    if (rc)
        fail_msg("footer: %s", err.message);
    assert_int_equal(m->created_by.len, strlen("weir version 0.1.0 (build weir)"));
    assert_memory_equal(m->created_by.p, "weir version 0.1.0 (build weir)", m->created_by.len);
}

static const struct pq_schema_element *elem(const struct pq_file_meta *m, const char *name)
{
    for (uint32_t i = 0; i < m->nschema; i++)
        if (m->schema[i].name.len == strlen(name) && !memcmp(m->schema[i].name.p, name, strlen(name)))
            return &m->schema[i];
    fail_msg("no schema element %s", name);
    return NULL;
}

static int column_index(const struct pq_file_meta *m, const char *dotted)
{
    const struct pq_row_group *rg = &m->row_groups[0];
    for (uint32_t c = 0; c < rg->ncolumns; c++) {
        char buf[256] = "";
        const struct pq_column_meta *cm = &rg->columns[c].meta;
        for (uint32_t k = 0; k < cm->npath; k++) {
            if (k)
                strcat(buf, ".");
            strncat(buf, (const char *)cm->path[k].p, cm->path[k].len);
        }
        if (!strcmp(buf, dotted))
            return (int)c;
    }
    fail_msg("no column %s", dotted);
    return -1;
}

struct page_info {
    int type, encoding, num_values;
    int32_t unc, comp;
};

/* Walk the pages of one column chunk; checks they tile the chunk exactly
 * and that every page decompresses to its stated size. */
static int chunk_pages(const struct weir_buf *f, const struct pq_column_meta *cm, struct page_info *pi,
                       int max)
{
    struct weir_error err = {0};
    int64_t start = cm->has_dictionary_page_offset ? cm->dictionary_page_offset : cm->data_page_offset;
    int64_t end = start + cm->total_compressed_size;
    int64_t pos = start, values = 0;
    int n = 0, prev_type = -1;
    assert_true(end <= (int64_t)f->len);
    while (pos < end) {
        struct pq_page_header h;
        size_t used = 0;
        int rc = pq_page_header_decode(f->data + pos, (size_t)(end - pos), &h, &used, "test", &err);
        if (rc)
            fail_msg("page header: %s", err.message);
        if (n == 0 && cm->has_dictionary_page_offset)
            assert_int_equal(h.type, PQ_DICTIONARY_PAGE);
        if (n == 0 && !cm->has_dictionary_page_offset)
            assert_int_equal(pos, cm->data_page_offset);
        if (h.type == PQ_DATA_PAGE && prev_type == PQ_DICTIONARY_PAGE)
            assert_int_equal(pos, cm->data_page_offset);
        if (n > 0 && h.type == PQ_DICTIONARY_PAGE)
            fail_msg("dictionary page after the first page");
        prev_type = (int)h.type;
        pos += (int64_t)used;
        uint8_t *raw = malloc((size_t)h.uncompressed_page_size + 1);
        rc = pq_decompress(cm->codec, f->data + pos, (size_t)h.compressed_page_size, raw,
                           (size_t)h.uncompressed_page_size, &err);
        if (rc)
            fail_msg("decompress: %s", err.message);
        free(raw);
        if (n < max) {
            pi[n].type = h.type;
            pi[n].encoding = h.type == PQ_DICTIONARY_PAGE ? h.dictionary.encoding : h.data.encoding;
            pi[n].num_values = h.type == PQ_DICTIONARY_PAGE ? h.dictionary.num_values : h.data.num_values;
            pi[n].unc = h.uncompressed_page_size;
            pi[n].comp = h.compressed_page_size;
        }
        if (h.type == PQ_DATA_PAGE)
            values += h.data.num_values;
        pos += h.compressed_page_size;
        n++;
    }
    assert_int_equal(pos, end);
    assert_int_equal(values, cm->num_values);
    return n;
}

static bool has_encoding(const struct pq_column_meta *cm, int enc)
{
    for (uint32_t i = 0; i < cm->nencodings; i++)
        if (cm->encodings[i] == enc)
            return true;
    return false;
}

static int64_t le64(const struct pq_bytes *b)
{
    assert_non_null(b->p);
    int64_t v = 0;
    assert_true(b->len == 8 || b->len == 4);
    if (b->len == 4) {
        int32_t x;
        memcpy(&x, b->p, 4);
        return x;
    }
    memcpy(&v, b->p, 8);
    return v;
}

/* ---- the all-types batch (also regenerated by the pyarrow check) --------- */

#define ALL_DDL                                                                               \
    "b BOOLEAN, i8 TINYINT, i16 SMALLINT, i32 INT, i64 BIGINT, f32 FLOAT, f64 DOUBLE, "       \
    "d9 DECIMAL(9,2), d18 DECIMAL(18,4), d38 DECIMAL(38,10), s STRING, bin BINARY, dt DATE, " \
    "ts TIMESTAMP, ntz TIMESTAMP_NTZ, req BIGINT NOT NULL, rs STRING NOT NULL"

static bool is_null(size_t i, size_t col)
{
    return (i + col) % 9 == 0;
}

static struct weir_batch *all_types_batch(const struct weir_type *schema, size_t n, size_t first)
{
    struct weir_batch *b = weir_batch_create(schema);
    assert_non_null(b);
    for (size_t r = first; r < first + n; r++) {
        char s[32];
        for (size_t c = 0; c < b->ncolumns; c++) {
            struct weir_column *col = &b->columns[c];
            if (c < 15 && is_null(r, c)) {
                assert_int_equal(weir_column_append_null(col), 0);
                continue;
            }
            int64_t i = (int64_t)r;
            int rc = 0;
            switch (c) {
            case 0:
                rc = weir_column_append_bool(col, r % 3 == 0);
                break;
            case 1:
                rc = weir_column_append_i8(col, (int8_t)(i * 7));
                break;
            case 2:
                rc = weir_column_append_i16(col, (int16_t)(i * 131));
                break;
            case 3:
                rc = weir_column_append_i32(col, (int32_t)(i * 1000 - 500000));
                break;
            case 4:
                rc = weir_column_append_i64(col, i * 1000000007LL - 3000000000LL);
                break;
            case 5:
                rc = weir_column_append_f32(col, r % 13 == 0 ? NAN : (float)i * 0.5f - 100.0f);
                break;
            case 6:
                rc = weir_column_append_f64(col, (double)i * 0.25 - 7.0);
                break;
            case 7:
                rc = weir_column_append_i128(col, (weir_i128)(i * 123 - 5000));
                break;
            case 8:
                rc = weir_column_append_i128(col, (weir_i128)(i * 100000007LL - 99999999LL));
                break;
            case 9:
                rc = weir_column_append_i128(col,
                                             (weir_i128)(i - 700) * (weir_i128)100000000000000000LL * 1000);
                break;
            case 10:
                snprintf(s, sizeof s, "s%03d", (int)(r % 50));
                rc = weir_column_append_bytes(col, s, strlen(s));
                break;
            case 11: {
                uint8_t v[4] = {(uint8_t)r, (uint8_t)(r >> 8), 0, 0xff};
                rc = weir_column_append_bytes(col, v, r % 5);
                break;
            }
            case 12:
                rc = weir_column_append_i32(col, (int32_t)(i - 500));
                break;
            case 13:
                rc = weir_column_append_i64(col, 1600000000000000LL + i * 1000003LL);
                break;
            case 14:
                rc = weir_column_append_i64(col, 1600000000000000LL - i * 999983LL);
                break;
            case 15:
                rc = weir_column_append_i64(col, i);
                break;
            case 16:
                snprintf(s, sizeof s, "row-%zu", r);
                rc = weir_column_append_bytes(col, s, strlen(s));
                break;
            }
            assert_int_equal(rc, 0);
        }
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    return b;
}

/* ---- encoder unit tests -------------------------------------------------- */

static void test_rle_encoder(void **state)
{
    (void)state;
    struct weir_buf b;
    weir_buf_init(&b);
    uint16_t z[10] = {0};
    assert_int_equal(pq_rle_encode_u16(z, 10, 1, &b), 0);
    /* one RLE run: header 10<<1 = 20, value byte 0 */
    assert_int_equal(b.len, 2);
    assert_int_equal(b.data[0], 20);
    assert_int_equal(b.data[1], 0);

    b.len = 0;
    uint16_t mixed[5] = {1, 0, 1, 1, 0};
    assert_int_equal(pq_rle_encode_u16(mixed, 5, 1, &b), 0);
    /* one bit-packed group: header (1<<1)|1, bits LSB first 0b01101 */
    assert_int_equal(b.len, 2);
    assert_int_equal(b.data[0], 3);
    assert_int_equal(b.data[1], 0x0d);

    b.len = 0;
    uint32_t v3[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    assert_int_equal(pq_rle_encode_u32(v3, 8, 3, &b), 0);
    /* the spec's example: 0..7 with width 3 -> 0x88 0xC6 0xFA */
    assert_int_equal(b.len, 4);
    assert_int_equal(b.data[0], 3);
    assert_int_equal(b.data[1], 0x88);
    assert_int_equal(b.data[2], 0xc6);
    assert_int_equal(b.data[3], 0xfa);

    /* 300 copies of 5 in width 9: varint header 600 = 0xd8 0x04, 2 value bytes */
    b.len = 0;
    uint32_t *many = malloc(300 * sizeof *many);
    for (int i = 0; i < 300; i++)
        many[i] = 5;
    assert_int_equal(pq_rle_encode_u32(many, 300, 9, &b), 0);
    assert_int_equal(b.len, 4);
    assert_int_equal(b.data[0], 0xd8);
    assert_int_equal(b.data[1], 0x04);
    assert_int_equal(b.data[2], 5);
    assert_int_equal(b.data[3], 0);
    free(many);

    b.len = 0;
    uint16_t lv[3] = {1, 1, 0};
    assert_int_equal(pq_levels_encode(lv, 3, 1, &b), 0);
    assert_int_equal(b.len, 6);
    assert_int_equal(b.data[0], 2);
    assert_int_equal(b.data[1] | b.data[2] | b.data[3], 0);
    assert_int_equal(b.data[4], 3);
    assert_int_equal(b.data[5], 3);

    b.len = 0;
    uint8_t bools[10] = {1, 0, 0, 1, 0, 0, 0, 1, 1, 1};
    assert_int_equal(pq_bool_pack(bools, 10, &b), 0);
    assert_int_equal(b.len, 2);
    assert_int_equal(b.data[0], 0x89);
    assert_int_equal(b.data[1], 0x03);

    assert_int_equal(pq_enc_bit_width(0), 0);
    assert_int_equal(pq_enc_bit_width(1), 1);
    assert_int_equal(pq_enc_bit_width(255), 8);
    assert_int_equal(pq_enc_bit_width(256), 9);
    weir_buf_free(&b);
}

static void test_dictionary(void **state)
{
    (void)state;
    struct pq_dict d;
    pq_dict_init(&d, 8);
    int64_t vals[6] = {5, -1, 5, 7, -1, 5};
    uint32_t idx[6];
    assert_int_equal(pq_dict_put_fixed(&d, (const uint8_t *)vals, 6, idx), 0);
    assert_int_equal(d.count, 3);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[1], 1);
    assert_int_equal(idx[2], 0);
    assert_int_equal(idx[3], 2);
    assert_int_equal(idx[4], 1);
    assert_int_equal(idx[5], 0);
    assert_int_equal(d.values.len, 24);
    /* many distinct values force rehashing; indices stay stable */
    int64_t *big = malloc(100000 * sizeof *big);
    uint32_t *bi = malloc(100000 * sizeof *bi);
    for (int i = 0; i < 100000; i++)
        big[i] = (i % 20000) * 3;
    assert_int_equal(pq_dict_put_fixed(&d, (const uint8_t *)big, 100000, bi), 0);
    assert_int_equal(d.count, 3 + 20000); /* 5, -1, 7 are not multiples of 3 */
    for (int i = 0; i < 100000; i++) {
        int64_t got;
        memcpy(&got, d.values.data + (size_t)bi[i] * 8, 8);
        assert_int_equal(got, big[i]);
    }
    free(big);
    free(bi);
    pq_dict_free(&d);

    pq_dict_init(&d, 0);
    const char *text = "abcabcxyz";
    int64_t offs[6] = {0, 3, 6, 6, 9, 9}; /* "abc" "abc" "" "xyz" "" */
    uint32_t bidx[5];
    assert_int_equal(pq_dict_put_bytes(&d, offs, (const uint8_t *)text, NULL, 0, 5, bidx), 0);
    assert_int_equal(d.count, 3);
    assert_int_equal(bidx[0], bidx[1]);
    assert_int_equal(bidx[2], bidx[4]);
    uint32_t len;
    const uint8_t *e = pq_dict_entry(&d, bidx[3], &len);
    assert_int_equal(len, 3);
    assert_memory_equal(e, "xyz", 3);
    /* PLAIN form: 3 x 4-byte lengths + 6 bytes */
    assert_int_equal(d.values.len, 18);
    uint32_t vi[2] = {3, 0};
    assert_int_equal(pq_dict_put_bytes(&d, offs, (const uint8_t *)text, vi, 0, 2, bidx), 0);
    assert_int_equal(d.count, 3);
    pq_dict_reset(&d);
    assert_int_equal(d.count, 0);
    assert_int_equal(pq_dict_put_bytes(&d, offs, (const uint8_t *)text, vi, 0, 2, bidx), 0);
    assert_int_equal(d.count, 2);
    pq_dict_free(&d);
}

/* ---- writer tests -------------------------------------------------------- */

static void test_all_types_schema_and_stats(void **state)
{
    (void)state;
    struct weir_type *schema = ddl(ALL_DDL);
    struct weir_batch *b = all_types_batch(schema, 1000, 0);
    struct weir_buf f;
    struct pq_file_meta m;
    write_file(schema, &b, 1, NULL, &f);
    save("all_types.parquet", &f);
    decode_footer(&f, &m);

    assert_int_equal(m.num_rows, 1000);
    assert_int_equal(m.nrow_groups, 1);
    assert_int_equal(m.nschema, 18);
    assert_int_equal(m.ncolumn_orders, 17);
    assert_int_equal(m.schema[0].num_children, 17);

    const struct pq_schema_element *e = elem(&m, "i8");
    assert_int_equal(e->type, PQ_INT32);
    assert_int_equal(e->repetition, PQ_OPTIONAL);
    assert_int_equal(e->converted, PQ_CT_INT_8);
    assert_int_equal(e->logical.kind, PQ_LT_INTEGER);
    assert_int_equal(e->logical.bit_width, 8);
    assert_true(e->logical.is_signed);
    e = elem(&m, "i16");
    assert_int_equal(e->converted, PQ_CT_INT_16);
    e = elem(&m, "d9");
    assert_int_equal(e->type, PQ_INT32);
    assert_int_equal(e->converted, PQ_CT_DECIMAL);
    assert_int_equal(e->precision, 9);
    assert_int_equal(e->scale, 2);
    assert_int_equal(e->logical.kind, PQ_LT_DECIMAL);
    e = elem(&m, "d18");
    assert_int_equal(e->type, PQ_INT64);
    e = elem(&m, "d38");
    assert_int_equal(e->type, PQ_FIXED_LEN_BYTE_ARRAY);
    assert_int_equal(e->type_length, 16);
    assert_int_equal(e->logical.precision, 38);
    assert_int_equal(e->logical.scale, 10);
    e = elem(&m, "s");
    assert_int_equal(e->type, PQ_BYTE_ARRAY);
    assert_int_equal(e->converted, PQ_CT_UTF8);
    assert_int_equal(e->logical.kind, PQ_LT_STRING);
    e = elem(&m, "bin");
    assert_false(e->has_converted);
    assert_int_equal(e->logical.kind, PQ_LT_NONE);
    e = elem(&m, "dt");
    assert_int_equal(e->converted, PQ_CT_DATE);
    assert_int_equal(e->logical.kind, PQ_LT_DATE);
    e = elem(&m, "ts");
    assert_int_equal(e->type, PQ_INT64);
    assert_int_equal(e->converted, PQ_CT_TIMESTAMP_MICROS);
    assert_int_equal(e->logical.kind, PQ_LT_TIMESTAMP);
    assert_true(e->logical.adjusted_to_utc);
    assert_int_equal(e->logical.unit, PQ_MICROS);
    e = elem(&m, "ntz");
    assert_false(e->has_converted);
    assert_false(e->logical.adjusted_to_utc);
    assert_int_equal(e->logical.unit, PQ_MICROS);
    e = elem(&m, "req");
    assert_int_equal(e->repetition, PQ_REQUIRED);

    /* statistics: compute the expected values the slow way */
    int64_t i64min = INT64_MAX, i64max = INT64_MIN, nulls = 0;
    double fmin = INFINITY, fmax = -INFINITY;
    for (int64_t r = 0; r < 1000; r++) {
        if (!is_null((size_t)r, 4)) {
            int64_t v = r * 1000000007LL - 3000000000LL;
            i64min = v < i64min ? v : i64min;
            i64max = v > i64max ? v : i64max;
        } else {
            nulls++;
        }
        if (!is_null((size_t)r, 5) && r % 13 != 0) {
            double v = (float)r * 0.5f - 100.0f;
            fmin = v < fmin ? v : fmin;
            fmax = v > fmax ? v : fmax;
        }
    }
    const struct pq_row_group *rg = &m.row_groups[0];
    assert_int_equal(rg->num_rows, 1000);
    const struct pq_column_meta *cm = &rg->columns[column_index(&m, "i64")].meta;
    assert_true(cm->has_statistics);
    assert_int_equal(cm->statistics.null_count, nulls);
    assert_int_equal(le64(&cm->statistics.min_value), i64min);
    assert_int_equal(le64(&cm->statistics.max_value), i64max);
    assert_null(cm->statistics.min.p); /* deprecated fields are not written */
    assert_int_equal(cm->num_values, 1000);

    cm = &rg->columns[column_index(&m, "f32")].meta;
    float fl;
    assert_int_equal(cm->statistics.min_value.len, 4);
    memcpy(&fl, cm->statistics.min_value.p, 4);
    assert_true(fl == (float)fmin);
    memcpy(&fl, cm->statistics.max_value.p, 4);
    assert_true(fl == (float)fmax);

    cm = &rg->columns[column_index(&m, "s")].meta;
    assert_int_equal(cm->statistics.min_value.len, 4);
    assert_memory_equal(cm->statistics.min_value.p, "s000", 4);
    assert_memory_equal(cm->statistics.max_value.p, "s049", 4);
    assert_true(has_encoding(cm, PQ_PLAIN_DICTIONARY));
    assert_true(has_encoding(cm, PQ_RLE_DICTIONARY));
    assert_true(cm->has_dictionary_page_offset);

    cm = &rg->columns[column_index(&m, "i8")].meta;
    /* (int8)(r*7) covers the full range over 1000 rows */
    assert_int_equal(le64(&cm->statistics.min_value), -128);
    assert_int_equal(le64(&cm->statistics.max_value), 127);

    cm = &rg->columns[column_index(&m, "b")].meta;
    assert_int_equal(cm->statistics.min_value.len, 1);
    assert_int_equal(cm->statistics.min_value.p[0], 0);
    assert_int_equal(cm->statistics.max_value.p[0], 1);
    assert_true(has_encoding(cm, PQ_PLAIN));
    assert_false(cm->has_dictionary_page_offset);

    /* decimal(38,10) min is row 0 (not null: (0+9)%9==0 -> null!), so find it */
    cm = &rg->columns[column_index(&m, "d38")].meta;
    assert_int_equal(cm->statistics.min_value.len, 16);
    int64_t rmin = -1, rmax = -1;
    for (int64_t r = 0; r < 1000; r++)
        if (!is_null((size_t)r, 9)) {
            if (rmin < 0)
                rmin = r;
            rmax = r;
        }
    weir_i128 want = (weir_i128)(rmin - 700) * (weir_i128)100000000000000000LL * 1000;
    weir_i128 got = 0;
    for (int k = 0; k < 16; k++)
        got = (weir_i128)((unsigned __int128)got << 8 | cm->statistics.min_value.p[k]);
    assert_true(got == want);
    assert_true(cm->statistics.min_value.p[0] == 0xff); /* negative: big-endian sign byte */
    want = (weir_i128)(rmax - 700) * (weir_i128)100000000000000000LL * 1000;
    got = 0;
    for (int k = 0; k < 16; k++)
        got = (weir_i128)((unsigned __int128)got << 8 | cm->statistics.max_value.p[k]);
    assert_true(got == want);

    /* every chunk tiles exactly and decompresses */
    for (uint32_t c = 0; c < rg->ncolumns; c++) {
        struct page_info pi[8];
        int np = chunk_pages(&f, &rg->columns[c].meta, pi, 8);
        assert_true(np >= 1);
        assert_int_equal(rg->columns[c].meta.codec, WEIR_PARQUET_SNAPPY);
    }

    pq_file_meta_free(&m);
    weir_buf_free(&f);
    weir_batch_destroy(b);
    weir_type_destroy(schema);
}

static void test_float_stats_nan_and_zero(void **state)
{
    (void)state;
    struct weir_type *schema = ddl("a DOUBLE, z DOUBLE, f FLOAT");
    struct weir_batch *b = weir_batch_create(schema);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(weir_column_append_f64(&b->columns[0], NAN), 0);
        assert_int_equal(weir_column_append_f64(&b->columns[1], i % 2 ? 0.0 : 5.0), 0);
        assert_int_equal(weir_column_append_f32(&b->columns[2], i % 2 ? -0.0f : -3.0f), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    struct weir_buf f;
    struct pq_file_meta m;
    write_file(schema, &b, 1, NULL, &f);
    save("float_stats.parquet", &f);
    decode_footer(&f, &m);
    const struct pq_column_meta *cm = &m.row_groups[0].columns[0].meta;
    assert_null(cm->statistics.min_value.p); /* only NaN: no min/max */
    assert_null(cm->statistics.max_value.p);
    assert_int_equal(cm->statistics.null_count, 0);
    cm = &m.row_groups[0].columns[1].meta;
    double d;
    memcpy(&d, cm->statistics.min_value.p, 8);
    assert_true(d == 0.0 && signbit(d)); /* zero min is written as -0.0 */
    memcpy(&d, cm->statistics.max_value.p, 8);
    assert_true(d == 5.0);
    cm = &m.row_groups[0].columns[2].meta;
    float fl;
    memcpy(&fl, cm->statistics.max_value.p, 4);
    assert_true(fl == 0.0f && !signbit(fl)); /* zero max is written as +0.0 */
    memcpy(&fl, cm->statistics.min_value.p, 4);
    assert_true(fl == -3.0f);
    pq_file_meta_free(&m);
    weir_buf_free(&f);
    weir_batch_destroy(b);
    weir_type_destroy(schema);
}

/* Nested batch: see the pyarrow check for the same rows. */
#define NESTED_DDL                                                             \
    "id INT NOT NULL, st STRUCT<x: INT, y: STRING NOT NULL>, arr ARRAY<INT>, " \
    "m MAP<STRING, BIGINT>, aa ARRAY<ARRAY<STRING>>, sa STRUCT<tags: ARRAY<STRING>>"

static struct weir_batch *nested_batch(const struct weir_type *schema, int n)
{
    struct weir_batch *b = weir_batch_create(schema);
    for (int r = 0; r < n; r++) {
        char s[32];
        assert_int_equal(weir_column_append_i32(&b->columns[0], r), 0);
        /* st: null every 5th row; x null every 3rd */
        struct weir_column *st = &b->columns[1];
        if (r % 5 == 4) {
            assert_int_equal(weir_column_append_null(st), 0);
        } else {
            if (r % 3 == 0)
                assert_int_equal(weir_column_append_null(&st->children[0]), 0);
            else
                assert_int_equal(weir_column_append_i32(&st->children[0], r * 2), 0);
            snprintf(s, sizeof s, "y%d", r);
            assert_int_equal(weir_column_append_bytes(&st->children[1], s, strlen(s)), 0);
            assert_int_equal(weir_column_append_struct(st, true), 0);
        }
        /* arr: null when r%4==3, empty when r%4==2, else r%4+1 elements, one null */
        struct weir_column *arr = &b->columns[2];
        if (r % 4 == 3) {
            assert_int_equal(weir_column_append_null(arr), 0);
        } else {
            int ne = r % 4 == 2 ? 0 : r % 4 + 1;
            for (int k = 0; k < ne; k++) {
                if (k == 1)
                    assert_int_equal(weir_column_append_null(&arr->children[0]), 0);
                else
                    assert_int_equal(weir_column_append_i32(&arr->children[0], r * 10 + k), 0);
            }
            assert_int_equal(weir_column_append_list(arr, true), 0);
        }
        /* m: r%3 entries, value null when k==1 */
        struct weir_column *mp = &b->columns[3];
        for (int k = 0; k < r % 3; k++) {
            snprintf(s, sizeof s, "k%d", k);
            assert_int_equal(weir_column_append_bytes(&mp->children[0], s, strlen(s)), 0);
            if (k == 1)
                assert_int_equal(weir_column_append_null(&mp->children[1]), 0);
            else
                assert_int_equal(weir_column_append_i64(&mp->children[1], (int64_t)r * 100 + k), 0);
        }
        assert_int_equal(weir_column_append_list(mp, true), 0);
        /* aa: [[ "a<r>", "b" ], [], null] on even rows; null on r%6==1; [] else */
        struct weir_column *aa = &b->columns[4];
        if (r % 2 == 0) {
            struct weir_column *inner = &aa->children[0];
            snprintf(s, sizeof s, "a%d", r);
            assert_int_equal(weir_column_append_bytes(&inner->children[0], s, strlen(s)), 0);
            assert_int_equal(weir_column_append_bytes(&inner->children[0], "b", 1), 0);
            assert_int_equal(weir_column_append_list(inner, true), 0);
            assert_int_equal(weir_column_append_list(inner, true), 0);
            assert_int_equal(weir_column_append_null(inner), 0);
            assert_int_equal(weir_column_append_list(aa, true), 0);
        } else if (r % 6 == 1) {
            assert_int_equal(weir_column_append_null(aa), 0);
        } else {
            assert_int_equal(weir_column_append_list(aa, true), 0);
        }
        /* sa: struct with a tags list ["t<r>"] */
        struct weir_column *sa = &b->columns[5];
        struct weir_column *tags = &sa->children[0];
        snprintf(s, sizeof s, "t%d", r % 7);
        assert_int_equal(weir_column_append_bytes(&tags->children[0], s, strlen(s)), 0);
        assert_int_equal(weir_column_append_list(tags, true), 0);
        assert_int_equal(weir_column_append_struct(sa, true), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    return b;
}

static void test_nested_layout(void **state)
{
    (void)state;
    struct weir_type *schema = ddl(NESTED_DDL);
    struct weir_batch *b = nested_batch(schema, 100);
    struct weir_buf f;
    struct pq_file_meta m;
    write_file(schema, &b, 1, NULL, &f);
    save("nested.parquet", &f);
    decode_footer(&f, &m);
    assert_int_equal(m.num_rows, 100);
    /* schema: root, id, st, x, y, arr, list, element, m, key_value, key, value,
     * aa, list, element, list, element, sa, tags, list, element */
    assert_int_equal(m.nschema, 21);
    assert_memory_equal(m.schema[5].name.p, "arr", 3);
    assert_int_equal(m.schema[5].converted, PQ_CT_LIST);
    assert_int_equal(m.schema[5].logical.kind, PQ_LT_LIST);
    assert_int_equal(m.schema[5].repetition, PQ_OPTIONAL);
    assert_memory_equal(m.schema[6].name.p, "list", 4);
    assert_int_equal(m.schema[6].repetition, PQ_REPEATED);
    assert_memory_equal(m.schema[7].name.p, "element", 7);
    assert_int_equal(m.schema[7].repetition, PQ_OPTIONAL);
    assert_int_equal(m.schema[8].converted, PQ_CT_MAP);
    assert_memory_equal(m.schema[9].name.p, "key_value", 9);
    assert_int_equal(m.schema[9].num_children, 2);
    assert_int_equal(m.schema[10].repetition, PQ_REQUIRED); /* key */
    assert_int_equal(m.schema[11].repetition, PQ_OPTIONAL); /* value */
    assert_int_equal(m.schema[4].repetition, PQ_REQUIRED);  /* st.y NOT NULL */

    const struct pq_row_group *rg = &m.row_groups[0];
    assert_int_equal(rg->ncolumns, 8);
    /* level counts: arr has one level entry per element, or one per null/empty row */
    int64_t arr_levels = 0, aa_levels = 0, m_levels = 0;
    for (int r = 0; r < 100; r++) {
        arr_levels += (r % 4 == 3 || r % 4 == 2) ? 1 : r % 4 + 1;
        aa_levels += r % 2 == 0 ? 4 : 1; /* "a","b" + [] + null */
        m_levels += r % 3 == 0 ? 1 : r % 3;
    }
    assert_int_equal(rg->columns[column_index(&m, "arr.list.element")].meta.num_values, arr_levels);
    assert_int_equal(rg->columns[column_index(&m, "aa.list.element.list.element")].meta.num_values,
                     aa_levels);
    assert_int_equal(rg->columns[column_index(&m, "m.key_value.key")].meta.num_values, m_levels);
    assert_int_equal(rg->columns[column_index(&m, "m.key_value.value")].meta.num_values, m_levels);
    assert_int_equal(rg->columns[column_index(&m, "st.y")].meta.num_values, 100);
    assert_int_equal(rg->columns[column_index(&m, "sa.tags.list.element")].meta.num_values, 100);
    /* no min/max below repeated fields; null counts still there */
    const struct pq_column_meta *cm = &rg->columns[column_index(&m, "arr.list.element")].meta;
    assert_null(cm->statistics.min_value.p);
    assert_true(cm->statistics.has_null_count);
    assert_true(has_encoding(cm, PQ_RLE));
    /* st.x: nulls where the struct is null or x is null */
    int64_t xnull = 0;
    for (int r = 0; r < 100; r++)
        xnull += r % 5 == 4 || r % 3 == 0;
    cm = &rg->columns[column_index(&m, "st.x")].meta;
    assert_int_equal(cm->statistics.null_count, xnull);
    for (uint32_t c = 0; c < rg->ncolumns; c++) {
        struct page_info pi[4];
        assert_true(chunk_pages(&f, &rg->columns[c].meta, pi, 4) >= 1);
    }
    pq_file_meta_free(&m);
    weir_buf_free(&f);
    weir_batch_destroy(b);
    weir_type_destroy(schema);
}

static void test_row_groups_and_pages(void **state)
{
    (void)state;
    struct weir_type *schema = ddl(ALL_DDL);
    struct weir_batch *bs[3];
    for (int i = 0; i < 3; i++)
        bs[i] = all_types_batch(schema, 20000, (size_t)i * 20000);
    struct weir_parquet_writer_options o;
    weir_parquet_writer_options_default(&o);
    o.row_group_bytes = 1024 * 1024;
    o.page_bytes = 8 * 1024;
    o.dictionary_page_bytes = 16 * 1024;
    struct weir_buf f;
    struct pq_file_meta m;
    write_file(schema, bs, 3, &o, &f);
    save("row_groups.parquet", &f);
    decode_footer(&f, &m);
    assert_int_equal(m.num_rows, 60000);
    assert_true(m.nrow_groups > 2);
    int64_t rows = 0, prev_end = 4;
    for (uint32_t g = 0; g < m.nrow_groups; g++) {
        const struct pq_row_group *rg = &m.row_groups[g];
        rows += rg->num_rows;
        assert_int_equal(rg->ordinal, g);
        assert_int_equal(rg->file_offset, prev_end);
        int64_t comp = 0;
        for (uint32_t c = 0; c < rg->ncolumns; c++) {
            const struct pq_column_meta *cm = &rg->columns[c].meta;
            int64_t start =
                cm->has_dictionary_page_offset ? cm->dictionary_page_offset : cm->data_page_offset;
            assert_int_equal(start, prev_end); /* chunks are contiguous */
            assert_int_equal(rg->columns[c].file_offset, start);
            prev_end = start + cm->total_compressed_size;
            comp += cm->total_compressed_size;
            struct page_info pi[256];
            int np = chunk_pages(&f, cm, pi, 256);
            if (c == (uint32_t)column_index(&m, "rs"))
                assert_true(np > 3); /* unique strings: many 8 KiB pages */
            /* nullable flat columns: one level per row */
            assert_int_equal(cm->num_values, rg->num_rows);
        }
        assert_int_equal(rg->total_compressed_size, comp);
    }
    assert_int_equal(rows, 60000);
    pq_file_meta_free(&m);
    weir_buf_free(&f);
    for (int i = 0; i < 3; i++)
        weir_batch_destroy(bs[i]);
    weir_type_destroy(schema);
}

static void test_dictionary_fallback(void **state)
{
    (void)state;
    struct weir_type *schema = ddl("u STRING NOT NULL, few STRING NOT NULL, n BIGINT NOT NULL");
    struct weir_batch *b = weir_batch_create(schema);
    for (int r = 0; r < 50000; r++) {
        char s[32];
        snprintf(s, sizeof s, "unique-value-%06d", r);
        assert_int_equal(weir_column_append_bytes(&b->columns[0], s, strlen(s)), 0);
        snprintf(s, sizeof s, "c%d", r % 10);
        assert_int_equal(weir_column_append_bytes(&b->columns[1], s, strlen(s)), 0);
        assert_int_equal(weir_column_append_i64(&b->columns[2], (int64_t)r * 7919), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    struct weir_parquet_writer_options o;
    weir_parquet_writer_options_default(&o);
    o.dictionary_page_bytes = 64 * 1024;
    o.page_bytes = 64 * 1024;
    struct weir_buf f;
    struct pq_file_meta m;
    write_file(schema, &b, 1, &o, &f);
    save("dict_fallback.parquet", &f);
    decode_footer(&f, &m);
    const struct pq_row_group *rg = &m.row_groups[0];
    for (int c = 0; c < 3; c++) {
        const struct pq_column_meta *cm = &rg->columns[c].meta;
        struct page_info pi[512];
        int np = chunk_pages(&f, cm, pi, 512);
        assert_true(cm->has_dictionary_page_offset);
        assert_int_equal(pi[0].type, PQ_DICTIONARY_PAGE);
        assert_int_equal(pi[0].encoding, PQ_PLAIN_DICTIONARY);
        if (c == 1) { /* 10 distinct values: dictionary all the way */
            assert_int_equal(pi[0].num_values, 10);
            assert_false(has_encoding(cm, PQ_PLAIN));
            for (int p = 1; p < np; p++)
                assert_int_equal(pi[p].encoding, PQ_RLE_DICTIONARY);
            continue;
        }
        /* unique values: dictionary pages first, then PLAIN after the fallback */
        assert_true(has_encoding(cm, PQ_PLAIN));
        assert_true(has_encoding(cm, PQ_RLE_DICTIONARY));
        assert_true(pi[0].unc >= 64 * 1024 && pi[0].unc < 200 * 1024);
        assert_true(pi[0].num_values < 50000);
        int p = 1;
        while (p < np && pi[p].encoding == PQ_RLE_DICTIONARY)
            p++;
        assert_true(p > 1);
        assert_true(p < np);
        for (; p < np; p++)
            assert_int_equal(pi[p].encoding, PQ_PLAIN);
    }
    const struct pq_column_meta *cm = &rg->columns[0].meta;
    assert_memory_equal(cm->statistics.min_value.p, "unique-value-000000", 19);
    assert_memory_equal(cm->statistics.max_value.p, "unique-value-049999", 19);
    cm = &rg->columns[2].meta;
    assert_int_equal(le64(&cm->statistics.max_value), 49999LL * 7919);

    /* dictionary off: PLAIN only */
    weir_buf_free(&f);
    pq_file_meta_free(&m);
    o.dictionary = false;
    write_file(schema, &b, 1, &o, &f);
    decode_footer(&f, &m);
    for (int c = 0; c < 3; c++) {
        cm = &m.row_groups[0].columns[c].meta;
        assert_false(cm->has_dictionary_page_offset);
        assert_int_equal(cm->nencodings, 1);
        assert_int_equal(cm->encodings[0], PQ_PLAIN);
    }
    pq_file_meta_free(&m);
    weir_buf_free(&f);
    weir_batch_destroy(b);
    weir_type_destroy(schema);
}

static void test_codecs(void **state)
{
    (void)state;
    struct weir_type *schema = ddl(ALL_DDL);
    struct weir_batch *b = all_types_batch(schema, 5000, 0);
    static const struct {
        enum weir_parquet_codec c;
        const char *name;
    } cs[] = {{WEIR_PARQUET_UNCOMPRESSED, "uncompressed"},
              {WEIR_PARQUET_SNAPPY, "snappy"},
              {WEIR_PARQUET_GZIP, "gzip"},
              {WEIR_PARQUET_ZSTD, "zstd"}};
    uint64_t sizes[4];
    for (int i = 0; i < 4; i++) {
        struct weir_parquet_writer_options o;
        weir_parquet_writer_options_default(&o);
        o.codec = cs[i].c;
        assert_int_equal(weir_parquet_codec_from_string(cs[i].name), (int)cs[i].c);
        assert_string_equal(weir_parquet_codec_name(cs[i].c), cs[i].name);
        struct weir_buf f;
        struct pq_file_meta m;
        sizes[i] = write_file(schema, &b, 1, &o, &f);
        char name[64];
        snprintf(name, sizeof name, "codec_%s.parquet", cs[i].name);
        save(name, &f);
        decode_footer(&f, &m);
        const struct pq_row_group *rg = &m.row_groups[0];
        for (uint32_t c = 0; c < rg->ncolumns; c++) {
            const struct pq_column_meta *cm = &rg->columns[c].meta;
            assert_int_equal(cm->codec, (int)cs[i].c);
            struct page_info pi[16];
            int np = chunk_pages(&f, cm, pi, 16);
            for (int p = 0; p < np && p < 16; p++)
                if (cs[i].c == WEIR_PARQUET_UNCOMPRESSED)
                    assert_int_equal(pi[p].unc, pi[p].comp);
            if (cs[i].c == WEIR_PARQUET_UNCOMPRESSED)
                assert_int_equal(cm->total_compressed_size, cm->total_uncompressed_size);
        }
        pq_file_meta_free(&m);
        weir_buf_free(&f);
    }
    assert_int_equal(weir_parquet_codec_from_string("none"), WEIR_PARQUET_UNCOMPRESSED);
    assert_int_equal(weir_parquet_codec_from_string("lzo"), -1);
    for (int i = 1; i < 4; i++)
        assert_true(sizes[i] < sizes[0]);
    weir_batch_destroy(b);
    weir_type_destroy(schema);
}

static void test_errors(void **state)
{
    (void)state;
    struct weir_type *schema = ddl("a BIGINT NOT NULL, s STRUCT<x: INT NOT NULL>");
    struct weir_type *other = ddl("a BIGINT");
    struct weir_batch *b = weir_batch_create(schema);
    assert_int_equal(weir_column_append_i64(&b->columns[0], 1), 0);
    assert_int_equal(weir_column_append_null(&b->columns[1].children[0]), 0);
    assert_int_equal(weir_column_append_struct(&b->columns[1], true), 0);
    assert_int_equal(weir_batch_finish_rows(b), 0);
    struct weir_buf out;
    weir_buf_init(&out);
    struct weir_parquet_writer *w = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_parquet_writer_create(&w, schema, NULL, weir_output_buf(&out), &err), 0);
    /* a null in a NOT NULL field below a valid struct */
    assert_int_equal(weir_parquet_writer_write(w, b, &err), WEIR_ESCHEMA);
    assert_non_null(strstr(err.message, "s.x"));
    weir_error_clear(&err);
    assert_int_equal(weir_parquet_writer_close(w, NULL, &err), WEIR_ESTATE);
    weir_parquet_writer_destroy(w);

    /* a decimal value with more digits than its precision */
    struct weir_type *dec = ddl("d DECIMAL(5,2), e DECIMAL(20,0)");
    for (int col = 0; col < 2; col++) {
        struct weir_batch *db = weir_batch_create(dec);
        assert_int_equal(weir_column_append_i128(&db->columns[0], col == 0 ? 100000 : -99999), 0);
        weir_i128 big = 1;
        for (int k = 0; k < 20; k++)
            big *= 10;
        assert_int_equal(weir_column_append_i128(&db->columns[1], col == 1 ? -big : big - 1), 0);
        assert_int_equal(weir_batch_finish_rows(db), 0);
        out.len = 0;
        weir_error_clear(&err);
        assert_int_equal(weir_parquet_writer_create(&w, dec, NULL, weir_output_buf(&out), &err), 0);
        assert_int_equal(weir_parquet_writer_write(w, db, &err), WEIR_ERANGE);
        assert_non_null(strstr(err.message, col == 0 ? "column d" : "column e"));
        weir_parquet_writer_destroy(w);
        weir_batch_destroy(db);
    }
    weir_type_destroy(dec);

    /* schema mismatch */
    out.len = 0;
    assert_int_equal(weir_parquet_writer_create(&w, other, NULL, weir_output_buf(&out), &err), 0);
    assert_int_equal(weir_parquet_writer_write(w, b, &err), WEIR_ESCHEMA);
    weir_parquet_writer_destroy(w);

    /* an empty file is valid: footer with no row groups */
    out.len = 0;
    weir_error_clear(&err);
    uint64_t size = 0;
    assert_int_equal(weir_parquet_writer_create(&w, other, NULL, weir_output_buf(&out), &err), 0);
    assert_int_equal(weir_parquet_writer_close(w, &size, &err), 0);
    weir_parquet_writer_destroy(w);
    struct pq_file_meta m;
    decode_footer(&out, &m);
    assert_int_equal(m.nrow_groups, 0);
    assert_int_equal(m.num_rows, 0);
    assert_int_equal(size, out.len);
    pq_file_meta_free(&m);
    weir_parquet_writer_destroy(NULL);

    weir_buf_free(&out);
    weir_batch_destroy(b);
    weir_type_destroy(schema);
    weir_type_destroy(other);
}

/* Fail each allocation in turn: every failure is reported, nothing leaks
 * (checked by the ASan build), and the run with no failure matches. */
static void test_alloc_failures(void **state)
{
    (void)state;
    struct weir_type *schema = ddl("s STRING, a ARRAY<INT>, d DECIMAL(30,2)");
    struct weir_batch *b = weir_batch_create(schema);
    for (int r = 0; r < 300; r++) {
        char s[16];
        snprintf(s, sizeof s, "v%d", r % 17);
        assert_int_equal(weir_column_append_bytes(&b->columns[0], s, strlen(s)), 0);
        assert_int_equal(weir_column_append_i32(&b->columns[1].children[0], r), 0);
        assert_int_equal(weir_column_append_list(&b->columns[1], true), 0);
        assert_int_equal(weir_column_append_i128(&b->columns[2], r), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    struct weir_buf good;
    write_file(schema, &b, 1, NULL, &good);
    int failures = 0;
    for (long n = 0; n < 400; n++) {
        struct weir_buf out;
        weir_buf_init(&out);
        struct weir_parquet_writer *w = NULL;
        struct weir_error err = {0};
        weir_alloc_fail_after(n);
        int rc = weir_parquet_writer_create(&w, schema, NULL, weir_output_buf(&out), &err);
        if (rc == 0)
            rc = weir_parquet_writer_write(w, b, &err);
        if (rc == 0)
            rc = weir_parquet_writer_close(w, NULL, &err);
        weir_alloc_fail_after(-1);
        weir_parquet_writer_destroy(w);
        if (rc) {
            assert_true(rc == WEIR_ENOMEM || rc == WEIR_ESTATE || rc == WEIR_ERANGE);
            failures++;
        } else {
            assert_int_equal(out.len, good.len);
            assert_memory_equal(out.data, good.data, good.len);
        }
        weir_buf_free(&out);
    }
    assert_true(failures > 10);
    weir_buf_free(&good);
    weir_batch_destroy(b);
    weir_type_destroy(schema);
}

/* ---- round trip through the reader --------------------------------------- */

static bool value_equal(const struct weir_column *a, size_t i, const struct weir_column *b, size_t j)
{
    bool va = weir_column_is_valid(a, i), vb = weir_column_is_valid(b, j);
    if (va != vb)
        return false;
    if (!va)
        return true;
    switch (a->type->kind) {
    case WEIR_TYPE_STRUCT:
        for (size_t c = 0; c < a->nchildren; c++)
            if (!value_equal(&a->children[c], i, &b->children[c], j))
                return false;
        return true;
    case WEIR_TYPE_ARRAY:
    case WEIR_TYPE_MAP: {
        int64_t n = a->offsets[i + 1] - a->offsets[i];
        if (n != b->offsets[j + 1] - b->offsets[j])
            return false;
        for (int64_t k = 0; k < n; k++)
            for (size_t c = 0; c < a->nchildren; c++)
                if (!value_equal(&a->children[c], (size_t)(a->offsets[i] + k), &b->children[c],
                                 (size_t)(b->offsets[j] + k)))
                    return false;
        return true;
    }
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY: {
        size_t la, lb;
        const uint8_t *pa = weir_column_bytes(a, i, &la), *pb = weir_column_bytes(b, j, &lb);
        return la == lb && (la == 0 || memcmp(pa, pb, la) == 0);
    }
    case WEIR_TYPE_BOOLEAN:
        return ((const uint8_t *)a->data)[i] == ((const uint8_t *)b->data)[j];
    default: {
        size_t wd = weir_type_value_width(a->type);
        return memcmp((const uint8_t *)a->data + i * wd, (const uint8_t *)b->data + j * wd, wd) == 0;
    }
    }
}

/* Read every row group of `f` and compare with the rows of `src` batches. */
static void round_trip(const struct weir_buf *f, const struct weir_type *schema, struct weir_batch **src,
                       int nsrc)
{
    struct weir_input in = weir_input_mem(f->data, f->len, "round-trip.parquet");
    struct weir_parquet_reader *r = NULL;
    struct weir_error err = {0};
    if (weir_parquet_reader_open(&r, &in, &err))
        fail_msg("reader open: %s", err.message);
    assert_true(weir_type_equal(weir_parquet_reader_schema(r), schema));
    int sb = 0;
    size_t srow = 0;
    int64_t total = 0;
    for (int g = 0; g < weir_parquet_reader_num_row_groups(r); g++) {
        struct weir_batch *b = NULL;
        if (weir_parquet_reader_read_row_group(r, g, NULL, &b, &err))
            fail_msg("read row group %d: %s", g, err.message);
        for (size_t i = 0; i < b->nrows; i++) {
            while (sb < nsrc && srow >= src[sb]->nrows) {
                sb++;
                srow = 0;
            }
            assert_true(sb < nsrc);
            for (size_t c = 0; c < b->ncolumns; c++)
                if (!value_equal(&src[sb]->columns[c], srow, &b->columns[c], i))
                    fail_msg("row group %d row %zu column %s differs", g, i, schema->fields[c].name);
            srow++;
        }
        total += (int64_t)b->nrows;
        weir_batch_destroy(b);
    }
    assert_int_equal(total, weir_parquet_reader_num_rows(r));
    int64_t want = 0;
    for (int i = 0; i < nsrc; i++)
        want += (int64_t)src[i]->nrows;
    assert_int_equal(total, want);
    weir_parquet_reader_destroy(r);
}

static void test_reader_round_trip(void **state)
{
    (void)state;
    struct weir_buf f;
    struct weir_type *schema = ddl(ALL_DDL);
    struct weir_batch *bs[2] = {all_types_batch(schema, 7000, 0), all_types_batch(schema, 5000, 7000)};
    struct weir_parquet_writer_options o;
    weir_parquet_writer_options_default(&o);
    o.row_group_bytes = 300 * 1024;
    o.page_bytes = 4096;
    o.dictionary_page_bytes = 8192;
    static const enum weir_parquet_codec codecs[] = {WEIR_PARQUET_SNAPPY, WEIR_PARQUET_ZSTD,
                                                     WEIR_PARQUET_GZIP, WEIR_PARQUET_UNCOMPRESSED};
    for (int c = 0; c < 4; c++) {
        o.codec = codecs[c];
        o.dictionary = c != 3;
        write_file(schema, bs, 2, &o, &f);
        round_trip(&f, schema, bs, 2);
        weir_buf_free(&f);
    }
    weir_batch_destroy(bs[0]);
    weir_batch_destroy(bs[1]);
    weir_type_destroy(schema);

    schema = ddl(NESTED_DDL);
    struct weir_batch *nb = nested_batch(schema, 3000);
    weir_parquet_writer_options_default(&o);
    o.page_bytes = 2048;
    write_file(schema, &nb, 1, &o, &f);
    round_trip(&f, schema, &nb, 1);
    weir_buf_free(&f);
    o.dictionary = false;
    o.row_group_bytes = 16 * 1024;
    write_file(schema, &nb, 1, &o, &f);
    round_trip(&f, schema, &nb, 1);
    weir_buf_free(&f);
    weir_batch_destroy(nb);
    weir_type_destroy(schema);
}

/* ---- random nested data --------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ULL;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void gen_value(struct weir_column *c, const struct weir_type *t, bool nullable, uint64_t *s)
{
    uint64_t x = rnd(s);
    char buf[32];
    if (nullable && x % 5 == 0) {
        assert_int_equal(weir_column_append_null(c), 0);
        return;
    }
    x >>= 3;
    switch (t->kind) {
    case WEIR_TYPE_BOOLEAN:
        assert_int_equal(weir_column_append_bool(c, x & 1), 0);
        break;
    case WEIR_TYPE_BYTE:
        assert_int_equal(weir_column_append_i8(c, (int8_t)x), 0);
        break;
    case WEIR_TYPE_SHORT:
        assert_int_equal(weir_column_append_i16(c, (int16_t)x), 0);
        break;
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_DATE:
        assert_int_equal(weir_column_append_i32(c, (int32_t)(x % 100000) - 50000), 0);
        break;
    case WEIR_TYPE_LONG:
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        assert_int_equal(weir_column_append_i64(c, (int64_t)(x % 4000000000000000ULL) - 1000000000000000LL),
                         0);
        break;
    case WEIR_TYPE_FLOAT:
        assert_int_equal(weir_column_append_f32(c, (float)(x % 10000) / 8.0f - 600.0f), 0);
        break;
    case WEIR_TYPE_DOUBLE:
        assert_int_equal(weir_column_append_f64(c, (double)(x % 1000000) / 64.0 - 7000.0), 0);
        break;
    case WEIR_TYPE_DECIMAL: {
        weir_i128 lim = 1;
        for (int k = 0; k < t->precision; k++)
            lim *= 10;
        weir_i128 v = (weir_i128)((unsigned __int128)rnd(s) << 64 | rnd(s)) % lim;
        assert_int_equal(weir_column_append_i128(c, v), 0);
        break;
    }
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY: {
        int n = snprintf(buf, sizeof buf, "v%llu", (unsigned long long)(x % 500));
        assert_int_equal(weir_column_append_bytes(c, buf, (size_t)(x % 7 == 0 ? 0 : n)), 0);
        break;
    }
    case WEIR_TYPE_STRUCT:
        for (size_t i = 0; i < t->nfields; i++)
            gen_value(&c->children[i], t->fields[i].type, t->fields[i].nullable, s);
        assert_int_equal(weir_column_append_struct(c, true), 0);
        break;
    case WEIR_TYPE_ARRAY:
        for (uint64_t k = 0; k < x % 4; k++)
            gen_value(&c->children[0], t->element, t->contains_null, s);
        assert_int_equal(weir_column_append_list(c, true), 0);
        break;
    case WEIR_TYPE_MAP:
        for (uint64_t k = 0; k < x % 4; k++) {
            gen_value(&c->children[0], t->key, false, s);
            gen_value(&c->children[1], t->value, t->value_contains_null, s);
        }
        assert_int_equal(weir_column_append_list(c, true), 0);
        break;
    }
}

static struct weir_batch *random_batch(const struct weir_type *schema, size_t n, uint64_t seed)
{
    struct weir_batch *b = weir_batch_create(schema);
    assert_non_null(b);
    for (size_t r = 0; r < n; r++)
        for (size_t c = 0; c < b->ncolumns; c++)
            gen_value(&b->columns[c], schema->fields[c].type, schema->fields[c].nullable, &seed);
    assert_int_equal(weir_batch_finish_rows(b), 0);
    return b;
}

static void test_random_nested_round_trip(void **state)
{
    (void)state;
    static const char *schemas[] = {
        "ms MAP<STRING, STRUCT<a: INT, b: ARRAY<BOOLEAN>>>, ad ARRAY<DECIMAL(25,3)>, "
        "am ARRAY<MAP<INT, STRING>>",
        "a ARRAY<TINYINT>, b ARRAY<SMALLINT>, c ARRAY<DECIMAL(9,2)>, d ARRAY<DECIMAL(18,1)>, "
        "e ARRAY<DATE>, f ARRAY<TIMESTAMP>, g ARRAY<FLOAT>, h ARRAY<DOUBLE>, i ARRAY<BINARY>",
        "s STRUCT<a: STRUCT<b: STRUCT<c: BIGINT, d: ARRAY<ARRAY<ARRAY<INT>>>>>, e: MAP<BIGINT, "
        "ARRAY<STRING>>>",
        "k BIGINT NOT NULL, t STRUCT<x: DECIMAL(38,0) NOT NULL, y: TIMESTAMP_NTZ> NOT NULL, "
        "l ARRAY<STRUCT<p: STRING, q: MAP<STRING, DOUBLE>>> NOT NULL",
        "{\"type\":\"struct\",\"fields\":["
        "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"elementType\":\"short\",\"containsNull\":false},"
        "\"nullable\":true,\"metadata\":{}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"keyType\":\"string\",\"valueType\":"
        "{\"type\":\"array\",\"elementType\":\"long\",\"containsNull\":false},\"valueContainsNull\":false},"
        "\"nullable\":false,\"metadata\":{}}]}",
    };
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        struct weir_type *schema = ddl(schemas[i]);
        struct weir_batch *bs[2] = {random_batch(schema, 2500, i * 2 + 1),
                                    random_batch(schema, 1500, i * 2 + 2)};
        for (int v = 0; v < 3; v++) {
            struct weir_parquet_writer_options o;
            weir_parquet_writer_options_default(&o);
            if (v == 1) {
                o.page_bytes = 1024;
                o.dictionary_page_bytes = 2048;
                o.codec = WEIR_PARQUET_ZSTD;
            } else if (v == 2) {
                o.dictionary = false;
                o.row_group_bytes = 20 * 1024;
                o.codec = WEIR_PARQUET_GZIP;
            }
            struct weir_buf f;
            write_file(schema, bs, 2, &o, &f);
            char name[64];
            snprintf(name, sizeof name, "random_%zu_%d.parquet", i, v);
            save(name, &f);
            struct pq_file_meta m;
            decode_footer(&f, &m);
            assert_int_equal(m.num_rows, 4000);
            if (v == 2)
                assert_true(m.nrow_groups > 1);
            for (uint32_t g = 0; g < m.nrow_groups; g++)
                for (uint32_t c = 0; c < m.row_groups[g].ncolumns; c++) {
                    struct page_info pi[1];
                    chunk_pages(&f, &m.row_groups[g].columns[c].meta, pi, 1);
                }
            pq_file_meta_free(&m);
            round_trip(&f, schema, bs, 2);
            weir_buf_free(&f);
        }
        weir_batch_destroy(bs[0]);
        weir_batch_destroy(bs[1]);
        weir_type_destroy(schema);
    }
}

/* Many tiny batches (pages and row groups span batches), an all-null
 * column and an empty batch. */
static void test_small_batches_and_all_null(void **state)
{
    (void)state;
    struct weir_type *schema = ddl("s STRING, n BIGINT, a ARRAY<STRING>, k INT NOT NULL");
    enum { NB = 300, ROWS = 7 };
    struct weir_batch *bs[NB + 1];
    for (int i = 0; i <= NB; i++) {
        bs[i] = weir_batch_create(schema);
        int rows = i == NB / 2 ? 0 : ROWS; /* one empty batch in the middle */
        for (int r = 0; r < rows; r++) {
            char txt[16];
            int v = i * ROWS + r;
            snprintf(txt, sizeof txt, "x%d", v % 13);
            assert_int_equal(weir_column_append_bytes(&bs[i]->columns[0], txt, strlen(txt)), 0);
            assert_int_equal(weir_column_append_null(&bs[i]->columns[1]), 0);
            if (v % 3 == 0) {
                assert_int_equal(weir_column_append_null(&bs[i]->columns[2].children[0]), 0);
                assert_int_equal(weir_column_append_list(&bs[i]->columns[2], true), 0);
            } else {
                assert_int_equal(weir_column_append_null(&bs[i]->columns[2]), 0);
            }
            assert_int_equal(weir_column_append_i32(&bs[i]->columns[3], v), 0);
        }
        assert_int_equal(weir_batch_finish_rows(bs[i]), 0);
    }
    struct weir_parquet_writer_options o;
    weir_parquet_writer_options_default(&o);
    o.page_bytes = 64;
    o.row_group_bytes = 2048;
    struct weir_buf f;
    struct pq_file_meta m;
    write_file(schema, bs, NB + 1, &o, &f);
    save("small_batches.parquet", &f);
    decode_footer(&f, &m);
    assert_int_equal(m.num_rows, NB * ROWS);
    assert_true(m.nrow_groups > 1);
    int64_t nulls = 0;
    for (uint32_t g = 0; g < m.nrow_groups; g++) {
        const struct pq_column_meta *n = &m.row_groups[g].columns[1].meta;
        /* all null: no dictionary page, no min/max, PLAIN pages of levels only */
        assert_false(n->has_dictionary_page_offset);
        assert_null(n->statistics.min_value.p);
        assert_int_equal(n->statistics.null_count, m.row_groups[g].num_rows);
        nulls += n->statistics.null_count;
        struct page_info pi[64];
        int np = chunk_pages(&f, n, pi, 64);
        for (int p = 0; p < np && p < 64; p++)
            assert_int_equal(pi[p].encoding, PQ_PLAIN);
        /* the list of null elements: entries but no values */
        const struct pq_column_meta *a = &m.row_groups[g].columns[2].meta;
        assert_false(a->has_dictionary_page_offset);
        assert_int_equal(a->statistics.null_count, a->num_values);
        chunk_pages(&f, a, pi, 64);
    }
    assert_int_equal(nulls, NB * ROWS);
    round_trip(&f, schema, bs, NB + 1);
    pq_file_meta_free(&m);
    weir_buf_free(&f);
    for (int i = 0; i <= NB; i++)
        weir_batch_destroy(bs[i]);
    weir_type_destroy(schema);
}

static int failing_write(void *ctx, const void *p, size_t n, struct weir_error *err)
{
    (void)ctx;
    (void)p;
    (void)n;
    return weir_error_set(err, WEIR_EIO, "disk full (test)");
}

/* A restarted writer produces, byte for byte, the file a fresh writer
 * would: after a clean close (dictionaries that overflowed in the first
 * file start over) and after a failed write. */
static void test_restart_reuses_writer(void **state)
{
    (void)state;
    struct weir_type *schema = ddl("u STRING NOT NULL, few STRING, n BIGINT NOT NULL, d DOUBLE");
    struct weir_batch *b[2];
    for (int k = 0; k < 2; k++) {
        b[k] = weir_batch_create(schema);
        for (int r = 0; r < 30000 + k * 7000; r++) {
            char s[32];
            snprintf(s, sizeof s, "file%d-value-%06d", k, r);
            assert_int_equal(weir_column_append_bytes(&b[k]->columns[0], s, strlen(s)), 0);
            snprintf(s, sizeof s, "c%d", r % (3 + k * 5));
            if (r % 11 == 0)
                assert_int_equal(weir_column_append_null(&b[k]->columns[1]), 0);
            else
                assert_int_equal(weir_column_append_bytes(&b[k]->columns[1], s, strlen(s)), 0);
            assert_int_equal(weir_column_append_i64(&b[k]->columns[2], (int64_t)r * (k ? -31 : 7919)), 0);
            assert_int_equal(weir_column_append_f64(&b[k]->columns[3], r * 0.5 - k), 0);
        }
        assert_int_equal(weir_batch_finish_rows(b[k]), 0);
    }
    struct weir_parquet_writer_options o;
    weir_parquet_writer_options_default(&o);
    o.dictionary_page_bytes = 64 * 1024;
    o.page_bytes = 32 * 1024;
    o.row_group_bytes = 256 * 1024;
    struct weir_buf fresh[2], got[2];
    for (int k = 0; k < 2; k++)
        write_file(schema, &b[k], 1, &o, &fresh[k]);

    struct weir_parquet_writer *w = NULL;
    struct weir_error err = {0};
    uint64_t size = 0;
    weir_buf_init(&got[0]);
    weir_buf_init(&got[1]);
    assert_int_equal(weir_parquet_writer_create(&w, schema, &o, weir_output_buf(&got[0]), &err), 0);
    assert_int_equal(weir_parquet_writer_write(w, b[0], &err), 0);
    assert_int_equal(weir_parquet_writer_close(w, &size, &err), 0);
    assert_int_equal(size, got[0].len);
    /* closed: further writes refused until restarted */
    assert_int_equal(weir_parquet_writer_write(w, b[1], &err), WEIR_ESTATE);
    assert_int_equal(weir_parquet_writer_restart(w, weir_output_buf(&got[1]), &err), 0);
    assert_int_equal(weir_parquet_writer_write(w, b[1], &err), 0);
    assert_int_equal(weir_parquet_writer_close(w, &size, &err), 0);
    assert_int_equal(size, got[1].len);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(got[k].len, fresh[k].len);
        assert_memory_equal(got[k].data, fresh[k].data, got[k].len);
    }

    /* a write that fails half-way (the sink refuses), then a restart */
    struct weir_output bad = {.write = failing_write};
    assert_int_equal(weir_parquet_writer_restart(w, bad, &err), WEIR_EIO);
    assert_int_not_equal(weir_parquet_writer_write(w, b[0], &err), 0);
    weir_buf_free(&got[0]);
    weir_buf_init(&got[0]);
    assert_int_equal(weir_parquet_writer_restart(w, weir_output_buf(&got[0]), &err), 0);
    assert_int_equal(weir_parquet_writer_write(w, b[0], &err), 0);
    assert_int_equal(weir_parquet_writer_close(w, &size, &err), 0);
    assert_int_equal(got[0].len, fresh[0].len);
    assert_memory_equal(got[0].data, fresh[0].data, got[0].len);
    weir_parquet_writer_destroy(w);
    for (int k = 0; k < 2; k++) {
        weir_buf_free(&fresh[k]);
        weir_buf_free(&got[k]);
        weir_batch_destroy(b[k]);
    }
    weir_type_destroy(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rle_encoder),
        cmocka_unit_test(test_dictionary),
        cmocka_unit_test(test_all_types_schema_and_stats),
        cmocka_unit_test(test_float_stats_nan_and_zero),
        cmocka_unit_test(test_nested_layout),
        cmocka_unit_test(test_row_groups_and_pages),
        cmocka_unit_test(test_dictionary_fallback),
        cmocka_unit_test(test_codecs),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_reader_round_trip),
        cmocka_unit_test(test_random_nested_round_trip),
        cmocka_unit_test(test_small_batches_and_all_null),
        cmocka_unit_test(test_restart_reuses_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
