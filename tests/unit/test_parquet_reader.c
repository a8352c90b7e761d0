/* tests/unit/test_parquet_reader.c - the Parquet reader, its decoders and
 * the page codecs, against real files written by Spark (parquet-mr),
 * pyarrow (parquet-cpp) and delta-rs (parquet-rs) from ../shared/testdata,
 * plus hand-built encodings and corrupted copies of real files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/buf.h"
#include "core/types.h"
#include "formats/parquet/compress.h"
#include "formats/parquet/decode.h"
#include "formats/parquet/meta.h"
#include "formats/parquet/parquet.h"

#define TD WEIR_TESTDATA

/* ---- helpers ---------------------------------------------------------- */

struct file {
    uint8_t *data;
    size_t len;
    struct weir_input in;
};

static void load(struct file *f, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", TD, rel);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    assert_true(n > 0);
    f->data = malloc((size_t)n);
    assert_non_null(f->data);
    assert_int_equal(fread(f->data, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    f->len = (size_t)n;
    f->in = weir_input_mem(f->data, f->len, rel);
}

static void unload(struct file *f)
{
    free(f->data);
    f->data = NULL;
}

static struct weir_batch *read_rg(struct weir_parquet_reader *r, int rg, const struct weir_type *want)
{
    struct weir_batch *b = NULL;
    struct weir_error err = {0};
    int rc = weir_parquet_reader_read_row_group(r, rg, want, &b, &err);
    if (rc != 0)
        fail_msg("read_row_group: %s", err.message);
    return b;
}

static struct weir_parquet_reader *open_file(struct file *f)
{
    struct weir_parquet_reader *r = NULL;
    struct weir_error err = {0};
    int rc = weir_parquet_reader_open(&r, &f->in, &err);
    if (rc != 0)
        fail_msg("open: %s", err.message);
    return r;
}

static void assert_str(const struct weir_column *c, size_t i, const char *want)
{
    size_t n;
    assert_true(weir_column_is_valid(c, i));
    const uint8_t *p = weir_column_bytes(c, i, &n);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(p, want, n);
}

static void assert_schema(const struct weir_type *t, const char *display)
{
    char *d = weir_type_to_display(t);
    assert_non_null(d);
    assert_string_equal(d, display);
    weir_free(d);
}

/* ---- compress.c ------------------------------------------------------- */

static void test_codecs_roundtrip(void **state)
{
    (void)state;
    uint8_t src[20000];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)((i * 7) % 13 + (i / 1000));
    const int codecs[] = {WEIR_PARQUET_UNCOMPRESSED, WEIR_PARQUET_SNAPPY, WEIR_PARQUET_GZIP, WEIR_PARQUET_ZSTD};
    for (size_t c = 0; c < 4; c++) {
        struct weir_buf out;
        struct weir_error err = {0};
        weir_buf_init(&out);
        assert_int_equal(weir_buf_append(&out, "xy", 2), 0); /* appends, keeps what was there */
        assert_int_equal(pq_compress(codecs[c], 0, src, sizeof src, &out, &err), 0);
        assert_memory_equal(out.data, "xy", 2);
        if (codecs[c] != WEIR_PARQUET_UNCOMPRESSED)
            assert_true(out.len - 2 < sizeof src / 2);
        uint8_t back[sizeof src];
        assert_int_equal(pq_decompress(codecs[c], out.data + 2, out.len - 2, back, sizeof back, &err), 0);
        assert_memory_equal(back, src, sizeof src);
        /* A wrong expected size is corruption, never a short or long write. */
        assert_int_equal(pq_decompress(codecs[c], out.data + 2, out.len - 2, back, sizeof back - 1, &err),
                         WEIR_ECORRUPT);
        /* Garbage input is corruption too (uncompressed has no framing). */
        if (codecs[c] != WEIR_PARQUET_UNCOMPRESSED) {
            uint8_t junk[64];
            memset(junk, 0xA5, sizeof junk);
            assert_int_equal(pq_decompress(codecs[c], junk, sizeof junk, back, 100, &err), WEIR_ECORRUPT);
            /* Truncated compressed data. */
            assert_int_equal(pq_decompress(codecs[c], out.data + 2, (out.len - 2) / 2, back, sizeof back, &err),
                             WEIR_ECORRUPT);
        }
        weir_buf_free(&out);
    }
}

static void test_codecs_unsupported(void **state)
{
    (void)state;
    struct weir_error err = {0};
    uint8_t dst[4];
    struct weir_buf out;
    weir_buf_init(&out);
    assert_int_equal(pq_decompress(5, (const uint8_t *)"abcd", 4, dst, 4, &err), WEIR_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "LZ4"));
    weir_error_clear(&err);
    assert_int_equal(pq_decompress(3, (const uint8_t *)"abcd", 4, dst, 4, &err), WEIR_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "LZO"));
    weir_error_clear(&err);
    assert_int_equal(pq_compress(4, 0, (const uint8_t *)"abcd", 4, &out, &err), WEIR_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "BROTLI"));
    assert_int_equal(out.len, 0);
    weir_buf_free(&out);
}

/* ---- decode.c --------------------------------------------------------- */

/* Pack `n` values of `w` bits LSB-first (the hybrid's bit-packed layout). */
static size_t pack_lsb(const uint32_t *v, size_t n, int w, uint8_t *out)
{
    size_t nbytes = (n * (size_t)w + 7) / 8;
    memset(out, 0, nbytes);
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < w; b++)
            if ((v[i] >> b) & 1) {
                size_t bit = i * (size_t)w + (size_t)b;
                out[bit / 8] |= (uint8_t)(1u << (bit % 8));
            }
    return nbytes;
}

static void test_rle_hybrid_all_widths(void **state)
{
    (void)state;
    for (int w = 0; w <= 32; w++) {
        uint8_t buf[512];
        size_t pos = 0;
        uint32_t mask = w == 32 ? 0xffffffffu : (w == 0 ? 0 : (1u << w) - 1);
        /* RLE run of 5 copies of a value, then 2 bit-packed groups (16 values). */
        uint32_t rv = 0x9e3779b9u & mask;
        buf[pos++] = 5 << 1;
        for (int k = 0; k < (w + 7) / 8; k++)
            buf[pos++] = (uint8_t)(rv >> (8 * k));
        uint32_t bp[16];
        for (int i = 0; i < 16; i++)
            bp[i] = ((uint32_t)i * 2654435761u) & mask;
        buf[pos++] = (2 << 1) | 1;
        pos += pack_lsb(bp, 16, w, buf + pos);
        struct pq_rle_decoder d;
        struct weir_error err = {0};
        uint32_t out[21];
        pq_rle_init(&d, buf, pos, w);
        assert_int_equal(pq_rle_read_u32(&d, out, 3, &err), 0); /* reads may split runs */
        assert_int_equal(pq_rle_read_u32(&d, out + 3, 18, &err), 0);
        for (int i = 0; i < 5; i++)
            assert_int_equal(out[i], rv);
        for (int i = 0; i < 16; i++)
            assert_int_equal(out[5 + i], bp[i]);
        if (w > 0) {
            /* Past the end of the data is corruption. */
            assert_int_equal(pq_rle_read_u32(&d, out, 1, &err), WEIR_ECORRUPT);
        }
    }
}

static void test_rle_levels_bounds(void **state)
{
    (void)state;
    /* bit width 2: RLE run of 3 copies of value 3, but max level is 2. */
    const uint8_t data[] = {3 << 1, 3};
    struct pq_rle_decoder d;
    struct weir_error err = {0};
    uint16_t lv[3];
    pq_rle_init(&d, data, sizeof data, 2);
    assert_int_equal(pq_rle_read_levels(&d, lv, 3, 2, &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "exceeds"));
    /* A run value that does not fit the bit width. */
    const uint8_t bad[] = {2 << 1, 0x05};
    weir_error_clear(&err);
    pq_rle_init(&d, bad, sizeof bad, 2);
    assert_int_equal(pq_rle_read_levels(&d, lv, 2, 3, &err), WEIR_ECORRUPT);
    /* Truncated header varint. */
    const uint8_t trunc[] = {0x80};
    weir_error_clear(&err);
    pq_rle_init(&d, trunc, sizeof trunc, 1);
    assert_int_equal(pq_rle_read_levels(&d, lv, 1, 1, &err), WEIR_ECORRUPT);
    assert_int_equal(pq_bit_width(0), 0);
    assert_int_equal(pq_bit_width(1), 1);
    assert_int_equal(pq_bit_width(2), 2);
    assert_int_equal(pq_bit_width(3), 2);
    assert_int_equal(pq_bit_width(255), 8);
}

static void test_plain_and_dictionary(void **state)
{
    (void)state;
    struct pq_values v, dict;
    struct weir_error err = {0};
    size_t used = 0;
    /* BYTE_ARRAY dictionary: "ab", "", "xyz". */
    const uint8_t dpage[] = {2, 0, 0, 0, 'a', 'b', 0, 0, 0, 0, 3, 0, 0, 0, 'x', 'y', 'z'};
    assert_int_equal(pq_values_init(&dict, PQ_BYTE_ARRAY, 0), 0);
    assert_int_equal(pq_decode_plain(&dict, dpage, sizeof dpage, 3, &used, &err), 0);
    assert_int_equal(used, sizeof dpage);
    assert_int_equal(dict.count, 3);
    /* Indices 2,0,1,2 with bit width 2, bit-packed one group (8 slots). */
    uint32_t idx[8] = {2, 0, 1, 2, 0, 0, 0, 0};
    uint8_t ipage[8];
    ipage[0] = 2;
    ipage[1] = (1 << 1) | 1;
    size_t n = 2 + pack_lsb(idx, 8, 2, ipage + 2);
    assert_int_equal(pq_values_init(&v, PQ_BYTE_ARRAY, 0), 0);
    assert_int_equal(pq_decode_dict(&v, &dict, ipage, n, 4, &err), 0);
    assert_int_equal(v.count, 4);
    const int64_t *off = pq_values_offsets(&v);
    assert_int_equal(off[1] - off[0], 3);
    assert_memory_equal(v.bytes.data + off[0], "xyz", 3);
    assert_memory_equal(v.bytes.data + off[1], "ab", 2);
    assert_int_equal(off[3] - off[2], 0);
    /* Index 3 is out of range for a 3-entry dictionary. */
    idx[0] = 3;
    pack_lsb(idx, 8, 2, ipage + 2);
    assert_int_equal(pq_decode_dict(&v, &dict, ipage, n, 1, &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "out of range"));
    /* A length prefix past the end of the page. */
    const uint8_t badlen[] = {9, 0, 0, 0, 'a'};
    weir_error_clear(&err);
    assert_int_equal(pq_decode_plain(&dict, badlen, sizeof badlen, 1, &used, &err), WEIR_ECORRUPT);
    pq_values_free(&v);
    pq_values_free(&dict);

    /* PLAIN booleans and INT64. */
    assert_int_equal(pq_values_init(&v, PQ_BOOLEAN, 0), 0);
    const uint8_t bits[] = {0x05, 0x01};
    assert_int_equal(pq_decode_plain(&v, bits, sizeof bits, 9, &used, &err), 0);
    const uint8_t want_bits[] = {1, 0, 1, 0, 0, 0, 0, 0, 1};
    assert_memory_equal(v.fixed.data, want_bits, 9);
    assert_int_equal(pq_decode_plain(&v, bits, sizeof bits, 17, &used, &err), WEIR_ECORRUPT);
    pq_values_free(&v);
    assert_int_equal(pq_values_init(&v, PQ_INT64, 0), 0);
    int64_t vals[3] = {-1, 42, INT64_MIN};
    assert_int_equal(pq_decode_plain(&v, (const uint8_t *)vals, sizeof vals, 3, &used, &err), 0);
    assert_memory_equal(v.fixed.data, vals, sizeof vals);
    assert_int_equal(pq_decode_plain(&v, (const uint8_t *)vals, sizeof vals - 1, 3, &used, &err), WEIR_ECORRUPT);
    pq_values_free(&v);
    assert_int_equal(pq_values_init(&v, PQ_FIXED_LEN_BYTE_ARRAY, 0), WEIR_EINVAL);
}

static void test_delta_encodings(void **state)
{
    (void)state;
    struct pq_values v;
    struct weir_error err = {0};
    size_t used = 0;
    /* The format spec's example: 1 2 3 4 5 -> block 128, 4 miniblocks,
     * 5 values, first 1, min delta 1, all bit widths 0. */
    const uint8_t dbp[] = {0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0, 0, 0, 0};
    assert_int_equal(pq_values_init(&v, PQ_INT32, 0), 0);
    assert_int_equal(pq_decode_delta_binary(&v, dbp, sizeof dbp, 5, &used, &err), 0);
    assert_int_equal(used, sizeof dbp);
    int32_t want[5] = {1, 2, 3, 4, 5};
    assert_memory_equal(v.fixed.data, want, sizeof want);
    pq_values_free(&v);
    /* 7 5 3 1 2 3 4 5: deltas -2 -2 -2 1 1 1 1, min -2, bit width 2 (0,0,0,3,3,3,3). */
    uint8_t d2[64];
    size_t p = 0;
    d2[p++] = 0x80; d2[p++] = 0x01; d2[p++] = 0x04; d2[p++] = 0x08; d2[p++] = 14; /* first 7 */
    d2[p++] = 3;                                                                   /* min delta -2 */
    d2[p++] = 2; d2[p++] = 0; d2[p++] = 0; d2[p++] = 0;                           /* widths */
    uint32_t rel[32] = {0, 0, 0, 3, 3, 3, 3};
    p += pack_lsb(rel, 32, 2, d2 + p);
    assert_int_equal(pq_values_init(&v, PQ_INT64, 0), 0);
    assert_int_equal(pq_decode_delta_binary(&v, d2, p, 8, &used, &err), 0);
    int64_t want64[8] = {7, 5, 3, 1, 2, 3, 4, 5};
    assert_memory_equal(v.fixed.data, want64, sizeof want64);
    /* Asking for more values than the header holds is corruption. */
    assert_int_equal(pq_decode_delta_binary(&v, d2, p, 9, &used, &err), WEIR_ECORRUPT);
    pq_values_free(&v);

    /* DELTA_LENGTH_BYTE_ARRAY: lengths 2,3 then "hi" "you". Lengths: first 2,
     * delta +1 -> min delta 1, width 0. */
    const uint8_t dlba[] = {0x80, 0x01, 0x04, 0x02, 0x04, 0x02, 0, 0, 0, 0, 'h', 'i', 'y', 'o', 'u'};
    assert_int_equal(pq_values_init(&v, PQ_BYTE_ARRAY, 0), 0);
    assert_int_equal(pq_decode_delta_length(&v, dlba, sizeof dlba, 2, &err), 0);
    const int64_t *off = pq_values_offsets(&v);
    assert_int_equal(off[2], 5);
    assert_memory_equal(v.bytes.data, "hiyou", 5);
    pq_values_free(&v);

    /* DELTA_BYTE_ARRAY: "axe" "axis": prefixes 0,2; suffixes "axe","is". */
    const uint8_t dba[] = {0x80, 0x01, 0x04, 0x02, 0x00, 0x04, 0, 0, 0, 0,   /* prefixes 0, 2 */
                           0x80, 0x01, 0x04, 0x02, 0x06, 0x01, 0, 0, 0, 0,   /* suffix lens 3, 2 */
                           'a', 'x', 'e', 'i', 's'};
    assert_int_equal(pq_values_init(&v, PQ_BYTE_ARRAY, 0), 0);
    assert_int_equal(pq_decode_delta_byte_array(&v, dba, sizeof dba, 2, &err), 0);
    off = pq_values_offsets(&v);
    assert_int_equal(off[1], 3);
    assert_int_equal(off[2], 7);
    assert_memory_equal(v.bytes.data, "axeaxis", 7);
    pq_values_free(&v);

    /* BYTE_STREAM_SPLIT of two floats. */
    float f[2] = {1.5f, -2.25f};
    uint8_t raw[8], bss[8];
    memcpy(raw, f, 8);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++)
            bss[k * 2 + i] = raw[i * 4 + k];
    assert_int_equal(pq_values_init(&v, PQ_FLOAT, 0), 0);
    assert_int_equal(pq_decode_byte_stream_split(&v, bss, 8, 2, &err), 0);
    assert_memory_equal(v.fixed.data, f, 8);
    pq_values_free(&v);
}

/* ---- real files -------------------------------------------------------- */

static void test_pyarrow_basic(void **state)
{
    (void)state;
    struct file f;
    load(&f, "dat-reader-tests/basic_append/expected/latest/table_content.parquet");
    struct weir_parquet_reader *r = open_file(&f);
    assert_schema(weir_parquet_reader_schema(r), "struct<letter:string,number:long,a_float:double>");
    assert_int_equal(weir_parquet_reader_num_rows(r), 5);
    assert_int_equal(weir_parquet_reader_num_row_groups(r), 1);
    struct weir_batch *b = read_rg(r, 0, NULL);
    assert_int_equal(b->nrows, 5);
    const char *letters[] = {"a", "b", "c", "d", "e"};
    for (size_t i = 0; i < 5; i++) {
        assert_str(&b->columns[0], i, letters[i]);
        assert_int_equal(weir_column_i64(&b->columns[1], i), (int64_t)i + 1);
        assert_true(weir_column_f64(&b->columns[2], i) == 1.1 * (double)(i + 1) ||
                    weir_column_f64(&b->columns[2], i) - 1.1 * (double)(i + 1) < 1e-12);
    }
    assert_true(weir_column_f64(&b->columns[2], 4) == 5.5);
    weir_batch_destroy(b);
    /* Out-of-range row group. */
    struct weir_error err = {0};
    b = (struct weir_batch *)1;
    assert_int_equal(weir_parquet_reader_read_row_group(r, 1, NULL, &b, &err), WEIR_EINVAL);
    assert_null(b);
    weir_parquet_reader_destroy(r);
    unload(&f);
}

static void test_pyarrow_date_binary(void **state)
{
    (void)state;
    struct file f;
    load(&f, "dat-reader-tests/multi_partitioned/expected/latest/table_content.parquet");
    struct weir_parquet_reader *r = open_file(&f);
    assert_schema(weir_parquet_reader_schema(r), "struct<letter:string,date:date,data:binary,number:long>");
    struct weir_batch *b = read_rg(r, 0, NULL);
    assert_int_equal(b->nrows, 2);
    assert_str(&b->columns[0], 0, "/%20%f");
    assert_str(&b->columns[0], 1, "b");
    assert_int_equal(weir_column_i32(&b->columns[1], 0), 0); /* 1970-01-01 */
    assert_str(&b->columns[2], 0, "hello");
    assert_str(&b->columns[2], 1, "\xf0\x9f\x98\x88");
    assert_int_equal(weir_column_i64(&b->columns[3], 0), 6);
    assert_int_equal(weir_column_i64(&b->columns[3], 1), 7);
    weir_batch_destroy(b);
    weir_parquet_reader_destroy(r);
    unload(&f);
}

static void test_spark_int96_edge_timestamps(void **state)
{
    (void)state;
    struct file f;
    load(&f, "delta-rs-tables/table_with_edge_timestamps/"
             "part-00000-a9dd181d-61aa-491d-b3c9-3eea548de6cb-c000.snappy.parquet");
    struct weir_parquet_reader *r = open_file(&f);
    assert_schema(weir_parquet_reader_schema(r), "struct<BIG_DATE:timestamp,NORMAL_DATE:timestamp,SOME_VALUE:int>");
    struct weir_batch *b = read_rg(r, 0, NULL);
    assert_int_equal(b->nrows, 1);
    assert_int_equal(weir_column_i64(&b->columns[0], 0), INT64_C(253402214400000000)); /* 9999-12-31 */
    assert_int_equal(weir_column_i64(&b->columns[1], 0), INT64_C(1640995200000000));   /* 2022-01-01 */
    assert_int_equal(weir_column_i32(&b->columns[2], 0), 1);
    weir_batch_destroy(b);
    /* INT96 may also be read as timestamp_ntz; names match case-insensitively. */
    struct weir_type *want = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_schema_from_ddl("big_date TIMESTAMP_NTZ, some_value LONG", &want, &err), 0);
    b = read_rg(r, 0, want);
    assert_int_equal(b->columns[0].type->kind, WEIR_TYPE_TIMESTAMP_NTZ);
    assert_int_equal(weir_column_i64(&b->columns[0], 0), INT64_C(253402214400000000));
    assert_int_equal(weir_column_i64(&b->columns[1], 0), 1);
    weir_batch_destroy(b);
    weir_type_destroy(want);
    weir_parquet_reader_destroy(r);
    unload(&f);
}

static void test_spark_projection_and_conversion(void **state)
{
    (void)state;
    struct file f;
    load(&f, "delta-rs-tables/delta-2.2.0-partitioned-types/c1=4/c2=c/"
             "part-00003-f525f459-34f9-46f5-82d6-d42121d883fd.c000.snappy.parquet");
    struct weir_parquet_reader *r = open_file(&f);
    assert_schema(weir_parquet_reader_schema(r), "struct<c3:int>");
    struct weir_batch *b = read_rg(r, 0, NULL);
    assert_int_equal(b->nrows, 1);
    assert_int_equal(weir_column_i32(&b->columns[0], 0), 5);
    weir_batch_destroy(b);

    /* Widening int -> long, double and decimal; a missing field reads as null. */
    struct weir_type *want = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_schema_from_ddl("C3 LONG, c1 STRING, s STRUCT<x: INT>", &want, &err), 0);
    b = read_rg(r, 0, want);
    assert_int_equal(b->nrows, 1);
    assert_int_equal(weir_column_i64(&b->columns[0], 0), 5);
    assert_false(weir_column_is_valid(&b->columns[1], 0));
    assert_false(weir_column_is_valid(&b->columns[2], 0));
    assert_int_equal(b->columns[2].children[0].length, 1);
    weir_batch_destroy(b);
    weir_type_destroy(want);
    assert_int_equal(weir_schema_from_ddl("c3 DOUBLE", &want, &err), 0);
    b = read_rg(r, 0, want);
    assert_true(weir_column_f64(&b->columns[0], 0) == 5.0);
    weir_batch_destroy(b);
    weir_type_destroy(want);
    assert_int_equal(weir_schema_from_ddl("c3 DECIMAL(12,2)", &want, &err), 0);
    b = read_rg(r, 0, want);
    assert_true(((const weir_i128 *)b->columns[0].data)[0] == 500);
    weir_batch_destroy(b);
    weir_type_destroy(want);

    /* Incompatible: int read as string, or narrowed to a byte. */
    const char *bad[] = {"c3 STRING", "c3 BYTE", "c3 ARRAY<INT>", "c3 DECIMAL(5,0)"};
    for (size_t i = 0; i < 4; i++) {
        want = NULL;
        assert_int_equal(weir_schema_from_ddl(bad[i], &want, &err), 0);
        weir_error_clear(&err);
        b = (struct weir_batch *)1;
        assert_int_equal(weir_parquet_reader_read_row_group(r, 0, want, &b, &err), WEIR_ESCHEMA);
        assert_null(b);
        assert_non_null(strstr(err.message, "c3"));
        weir_type_destroy(want);
    }
    weir_parquet_reader_destroy(r);
    unload(&f);
}

static void test_spark_lists(void **state)
{
    (void)state;
    struct file f;
    load(&f, "delta-rs-tables/golden/data-reader-array-primitives/"
             "part-00000-182665f0-30df-470d-a5cb-8d9d483ed390-c000.snappy.parquet");
    struct weir_parquet_reader *r = open_file(&f);
    assert_schema(weir_parquet_reader_schema(r),
                  "struct<as_array_int:array<int>,as_array_long:array<long>,as_array_byte:array<byte>,"
                  "as_array_short:array<short>,as_array_boolean:array<boolean>,as_array_float:array<float>,"
                  "as_array_double:array<double>,as_array_string:array<string>,as_array_binary:array<binary>,"
                  "as_array_big_decimal:array<decimal(1,0)>>");
    struct weir_batch *b = read_rg(r, 0, NULL);
    assert_int_equal(b->nrows, 5);
    for (size_t i = 0; i < 5; i++) {
        const struct weir_column *c = &b->columns[0];
        assert_int_equal(c->offsets[i + 1] - c->offsets[i], 1);
        assert_int_equal(weir_column_i32(&c->children[0], (size_t)c->offsets[i]), (int32_t)i);
        c = &b->columns[2];
        assert_int_equal(((const int8_t *)c->children[0].data)[c->offsets[i]], (int8_t)i);
        c = &b->columns[4];
        assert_int_equal(((const uint8_t *)c->children[0].data)[c->offsets[i]], i % 2 == 0);
        c = &b->columns[7];
        char s[2] = {(char)('0' + i), 0};
        assert_str(&c->children[0], (size_t)c->offsets[i], s);
        c = &b->columns[8];
        uint8_t bin[2] = {(uint8_t)i, (uint8_t)i};
        size_t n;
        const uint8_t *p = weir_column_bytes(&c->children[0], (size_t)c->offsets[i], &n);
        assert_int_equal(n, 2);
        assert_memory_equal(p, bin, 2);
        c = &b->columns[9];
        assert_true(((const weir_i128 *)c->children[0].data)[c->offsets[i]] == (weir_i128)i);
    }
    weir_batch_destroy(b);
    weir_parquet_reader_destroy(r);
    unload(&f);
}

/* A delta-rs (parquet-rs) checkpoint: nested structs, maps with a null
 * value, lists, and rows where whole structs are null. */
static void test_delta_rs_checkpoint(void **state)
{
    (void)state;
    struct file f;
    load(&f, "delta-rs-tables/checkpoint_with_partitions/_delta_log/00000000000000000002.checkpoint.parquet");
    struct weir_parquet_reader *r = open_file(&f);
    const struct weir_type *s = weir_parquet_reader_schema(r);
    int iadd = weir_type_field_index(s, "add");
    int imeta = weir_type_field_index(s, "metaData");
    int iproto = weir_type_field_index(s, "protocol");
    assert_true(iadd >= 0 && imeta >= 0 && iproto >= 0);
    struct weir_batch *b = read_rg(r, 0, NULL);
    assert_int_equal(b->nrows, 4);
    const struct weir_column *add = &b->columns[iadd];
    assert_false(weir_column_is_valid(add, 0));
    assert_false(weir_column_is_valid(add, 1));
    assert_true(weir_column_is_valid(add, 2));
    const struct weir_type *at = add->type;
    int ipath = weir_type_field_index(at, "path"), ipv = weir_type_field_index(at, "partitionValues");
    int isize = weir_type_field_index(at, "size");
    assert_str(&add->children[ipath], 2, "f62d8868-d952-4f9d-8bb2-fd4e011ebf36");
    assert_str(&add->children[ipath], 3, "8ac7d8e1-daab-48ef-9d05-ec22fb4b0d2f");
    assert_int_equal(weir_column_i64(&add->children[isize], 2), 100);
    const struct weir_column *pv = &add->children[ipv];
    assert_int_equal(pv->type->kind, WEIR_TYPE_MAP);
    assert_int_equal(pv->offsets[3] - pv->offsets[2], 1);
    assert_int_equal(pv->offsets[4] - pv->offsets[3], 1);
    assert_str(&pv->children[0], (size_t)pv->offsets[2], "color");
    assert_str(&pv->children[1], (size_t)pv->offsets[2], "red");
    assert_str(&pv->children[0], (size_t)pv->offsets[3], "color");
    assert_false(weir_column_is_valid(&pv->children[1], (size_t)pv->offsets[3]));
    const struct weir_column *proto = &b->columns[iproto];
    assert_true(weir_column_is_valid(proto, 0));
    assert_int_equal(weir_column_i32(&proto->children[0], 0), 1);
    assert_int_equal(weir_column_i32(&proto->children[1], 0), 2);
    const struct weir_column *meta = &b->columns[imeta];
    int ipc = weir_type_field_index(meta->type, "partitionColumns");
    const struct weir_column *pc = &meta->children[ipc];
    assert_int_equal(pc->offsets[2] - pc->offsets[1], 1);
    assert_str(&pc->children[0], (size_t)pc->offsets[1], "color");
    weir_batch_destroy(b);

    /* Projection into a nested struct: only add.path and a missing field. */
    struct weir_type *want = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_schema_from_ddl("ADD STRUCT<PATH: STRING, nope: LONG>", &want, &err), 0);
    b = read_rg(r, 0, want);
    assert_int_equal(b->nrows, 4);
    assert_false(weir_column_is_valid(&b->columns[0], 0));
    assert_str(&b->columns[0].children[0], 2, "f62d8868-d952-4f9d-8bb2-fd4e011ebf36");
    assert_false(weir_column_is_valid(&b->columns[0].children[1], 2));
    weir_batch_destroy(b);
    weir_type_destroy(want);
    weir_parquet_reader_destroy(r);
    unload(&f);
}

/* ---- corruption -------------------------------------------------------- */

static int read_all(const uint8_t *p, size_t n, const char *name, struct weir_error *err)
{
    struct weir_input in = weir_input_mem(p, n, name);
    struct weir_parquet_reader *r = NULL;
    int rc = weir_parquet_reader_open(&r, &in, err);
    if (rc != 0)
        return rc;
    for (int g = 0; g < weir_parquet_reader_num_row_groups(r) && rc == 0; g++) {
        struct weir_batch *b = NULL;
        rc = weir_parquet_reader_read_row_group(r, g, NULL, &b, err);
        weir_batch_destroy(b);
    }
    weir_parquet_reader_destroy(r);
    return rc;
}

static void test_truncated_files(void **state)
{
    (void)state;
    const char *files[] = {
        "dat-reader-tests/basic_append/expected/latest/table_content.parquet",
        "delta-rs-tables/checkpoint_with_partitions/_delta_log/00000000000000000002.checkpoint.parquet",
    };
    for (size_t k = 0; k < 2; k++) {
        struct file f;
        load(&f, files[k]);
        for (size_t cut = 0; cut < f.len; cut++) {
            struct weir_error err = {0};
            uint8_t *copy = malloc(cut ? cut : 1);
            memcpy(copy, f.data, cut);
            int rc = read_all(copy, cut, "truncated.parquet", &err);
            assert_true(rc == WEIR_ECORRUPT);
            assert_non_null(strstr(err.message, "truncated.parquet"));
            free(copy);
        }
        unload(&f);
    }
}

static void test_bit_flips(void **state)
{
    (void)state;
    struct file f;
    load(&f, "delta-rs-tables/checkpoint_with_partitions/_delta_log/00000000000000000002.checkpoint.parquet");
    uint8_t *copy = malloc(f.len);
    size_t failures = 0;
    for (size_t i = 0; i < f.len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(copy, f.data, f.len);
            copy[i] ^= (uint8_t)(1u << bit);
            struct weir_error err = {0};
            int rc = read_all(copy, f.len, "flipped.parquet", &err);
            if (rc != 0) {
                failures++;
                assert_true(rc == WEIR_ECORRUPT || rc == WEIR_EUNSUPPORTED || rc == WEIR_ESCHEMA);
                assert_true(err.message[0] != 0);
            }
        }
    }
    assert_true(failures > 0);
    free(copy);
    unload(&f);
}

static void test_page_error_message(void **state)
{
    (void)state;
    struct file f;
    load(&f, "dat-reader-tests/basic_append/expected/latest/table_content.parquet");
    /* The 'letter' chunk: dictionary page at 4, data page at 44. Break the
     * data page's dictionary-index bit width inside the snappy payload is
     * awkward; instead corrupt the data page header's compressed size. */
    struct weir_parquet_reader *r = open_file(&f);
    weir_parquet_reader_destroy(r);
    uint8_t *copy = malloc(f.len);
    memcpy(copy, f.data, f.len);
    memset(copy + 44, 0xff, 6);
    struct weir_error err = {0};
    int rc = read_all(copy, f.len, "bad.parquet", &err);
    assert_int_equal(rc, WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "bad.parquet: column letter, row group 0, page at offset 44"));
    free(copy);
    unload(&f);
}

static void test_not_parquet(void **state)
{
    (void)state;
    struct weir_error err = {0};
    const char junk[] = "this is not a parquet file at all";
    assert_int_equal(read_all((const uint8_t *)junk, sizeof junk, "junk.txt", &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "junk.txt"));
    uint8_t enc[16] = {'P', 'A', 'R', 'E', 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0};
    memcpy(enc + 12, "PARE", 4);
    enc[8] = 1;
    weir_error_clear(&err);
    assert_int_equal(read_all(enc, sizeof enc, "enc.parquet", &err), WEIR_EUNSUPPORTED);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    struct file f;
    load(&f, "delta-rs-tables/checkpoint_with_partitions/_delta_log/00000000000000000002.checkpoint.parquet");
    int ok = 0;
    for (long n = 0; n < 5000 && !ok; n++) {
        struct weir_error err = {0};
        weir_alloc_fail_after(n);
        int rc = read_all(f.data, f.len, "nomem.parquet", &err);
        weir_alloc_fail_after(-1);
        if (rc == 0)
            ok = 1;
        else
            assert_int_equal(rc, WEIR_ENOMEM);
    }
    assert_true(ok);
    unload(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codecs_roundtrip),
        cmocka_unit_test(test_codecs_unsupported),
        cmocka_unit_test(test_rle_hybrid_all_widths),
        cmocka_unit_test(test_rle_levels_bounds),
        cmocka_unit_test(test_plain_and_dictionary),
        cmocka_unit_test(test_delta_encodings),
        cmocka_unit_test(test_pyarrow_basic),
        cmocka_unit_test(test_pyarrow_date_binary),
        cmocka_unit_test(test_spark_int96_edge_timestamps),
        cmocka_unit_test(test_spark_projection_and_conversion),
        cmocka_unit_test(test_spark_lists),
        cmocka_unit_test(test_delta_rs_checkpoint),
        cmocka_unit_test(test_truncated_files),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_page_error_message),
        cmocka_unit_test(test_not_parquet),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
