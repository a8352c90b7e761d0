/* tests/unit/test_json.c - formats/json: JSON lines decoding into batches,
 * row encoding, and schema inference.
 *
 * Each test builds its schema from DDL, decodes literal JSON lines and
 * checks the column values (and, for errors, the exact code and the parts
 * of the message that name line, byte and field). Round-trip tests decode
 * then encode and compare text. */
#include <math.h>
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
#include "formats/json.h"

static struct weir_type *ddl(const char *text)
{
    struct weir_type *t = NULL;
    struct weir_error err = {0};
    int rc = weir_schema_from_ddl(text, &t, &err);
    if (rc != 0)
        fail_msg("ddl %s: %s", text, err.message);
    return t;
}

struct ctx {
    struct weir_type *schema;
    struct weir_json_decoder *dec;
    struct weir_batch *b;
    struct weir_error err;
};

static void ctx_open(struct ctx *c, const char *schema_ddl, const char *source)
{
    memset(c, 0, sizeof *c);
    c->schema = ddl(schema_ddl);
    struct weir_json_decode_options o;
    weir_json_decode_options_default(&o);
    o.source = source;
    assert_int_equal(weir_json_decoder_create(&c->dec, c->schema, &o, &c->err), 0);
    c->b = weir_batch_create(c->schema);
    assert_non_null(c->b);
}

static void ctx_close(struct ctx *c)
{
    weir_json_decoder_destroy(c->dec);
    weir_batch_destroy(c->b);
    weir_type_destroy(c->schema);
}

static int decode(struct ctx *c, const char *text)
{
    weir_error_clear(&c->err);
    return weir_json_decode(c->dec, text, strlen(text), c->b, NULL, &c->err);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", needle, hay);
}

static char *encode_all(const struct weir_batch *b)
{
    struct weir_buf out;
    struct weir_error err = {0};
    weir_buf_init(&out);
    assert_int_equal(weir_json_encode_batch(b, &out, &err), 0);
    char *s = weir_buf_detach(&out);
    return s ? s : weir_strdup("");
}

static void test_primitives(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "b BOOLEAN, i8 BYTE, i16 SHORT, i32 INT, i64 LONG, f FLOAT, d DOUBLE, s STRING, bin BINARY",
             NULL);
    assert_int_equal(
        decode(&c, "{\"b\":true,\"i8\":-128,\"i16\":32767,\"i32\":-2147483648,"
                   "\"i64\":9223372036854775807,\"f\":0.5,\"d\":1e-3,\"s\":\"h\\u00e9\\n\\ud83d\\ude00\","
                   "\"bin\":\"AAH/\"}\n"
                   "{\"b\":false,\"i64\":-9223372036854775808,\"d\":\"NaN\",\"f\":\"-Infinity\"}\r\n"
                   "\n   \n"),
        0);
    struct weir_batch *b = c.b;
    assert_int_equal(b->nrows, 2);
    assert_int_equal(((uint8_t *)b->columns[0].data)[0], 1);
    assert_int_equal(((uint8_t *)b->columns[0].data)[1], 0);
    assert_int_equal(((int8_t *)b->columns[1].data)[0], -128);
    assert_false(weir_column_is_valid(&b->columns[1], 1));
    assert_int_equal(((int16_t *)b->columns[2].data)[0], 32767);
    assert_int_equal(weir_column_i32(&b->columns[3], 0), INT32_MIN);
    assert_true(weir_column_i64(&b->columns[4], 0) == INT64_MAX);
    assert_true(weir_column_i64(&b->columns[4], 1) == INT64_MIN);
    assert_true(((float *)b->columns[5].data)[0] == 0.5f);
    assert_true(isinf(((float *)b->columns[5].data)[1]) && ((float *)b->columns[5].data)[1] < 0);
    assert_true(weir_column_f64(&b->columns[6], 0) == 1e-3);
    assert_true(isnan(weir_column_f64(&b->columns[6], 1)));
    size_t n;
    const uint8_t *p = weir_column_bytes(&b->columns[7], 0, &n);
    assert_int_equal(n, 8);
    assert_memory_equal(p, "h\xc3\xa9\n\xf0\x9f\x98\x80", 8);
    assert_false(weir_column_is_valid(&b->columns[7], 1));
    p = weir_column_bytes(&b->columns[8], 0, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "\x00\x01\xff", 3);
    ctx_close(&c);
}

static void test_int_range_and_kind_errors(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "i8 BYTE, i32 INT, i64 LONG", "in.jsonl");
    assert_int_equal(decode(&c, "{\"i8\":1}\n{\"i8\":128}\n"), WEIR_ERANGE);
    assert_contains(c.err.message,
                    "in.jsonl: line 2 (byte 15): field 'i8': value out of range for byte, got 128");
    assert_int_equal(c.b->nrows, 1);
    weir_json_decoder_reset(c.dec, "x");
    assert_int_equal(decode(&c, "{\"i64\":9223372036854775808}"), WEIR_ERANGE);
    assert_int_equal(decode(&c, "{\"i32\":1.5}"), WEIR_EPARSE);
    assert_contains(c.err.message, "expected an integer, got 1.5");
    assert_int_equal(decode(&c, "{\"i32\":\"7\"}"), WEIR_EPARSE);
    assert_int_equal(decode(&c, "{\"i32\":true}"), WEIR_EPARSE);
    assert_int_equal(c.b->nrows, 1);
    ctx_close(&c);
}

static void test_error_names_line_byte_field(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "id LONG, amount DOUBLE", "orders.jsonl");
    char text[2048] = "";
    for (int i = 1; i <= 16; i++) {
        char line[64];
        snprintf(line, sizeof line, "{\"id\":%d,\"amount\":%d.5}\n", i, i);
        strcat(text, line);
    }
    size_t off = strlen(text);
    strcat(text, "{\"id\":17, \"amount\":\"abc\"}\n{\"id\":18}\n");
    assert_int_equal(decode(&c, text), WEIR_EPARSE);
    char want[256];
    snprintf(want, sizeof want,
             "orders.jsonl: line 17 (byte %zu): field 'amount': expected a number, got \"abc\"", off + 19);
    assert_string_equal(c.err.message, want);
    /* the 16 good rows before the bad line were appended, the bad one not */
    assert_int_equal(c.b->nrows, 16);
    assert_int_equal(c.b->columns[0].length, 16);
    assert_int_equal(c.b->columns[1].length, 16);
    ctx_close(&c);
}

static void test_invalid_json(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "a LONG", NULL);
    assert_int_equal(decode(&c, "{\"a\":1,}"), WEIR_EPARSE);
    assert_contains(c.err.message, "line 1 (byte 7): invalid JSON: expected a string key");
    assert_int_equal(decode(&c, "{\"a\":1} x"), WEIR_EPARSE);
    assert_contains(c.err.message, "unexpected text after the JSON value");
    assert_int_equal(decode(&c, "[1,2]"), WEIR_EPARSE);
    assert_contains(c.err.message, "expected a JSON object, got [1,2]");
    assert_int_equal(decode(&c, "{\"a\":01}"), WEIR_EPARSE);
    assert_int_equal(decode(&c, "{\"a\":\"\xff\"}"), WEIR_EPARSE);
    assert_contains(c.err.message, "invalid UTF-8");
    assert_int_equal(decode(&c, "{\"a\":\"x\ty\"}"), WEIR_EPARSE);
    assert_int_equal(decode(&c, "{\"a\":\"\\ud800\"}"), WEIR_EPARSE);
    assert_int_equal(decode(&c, "{\"a\":tru}"), WEIR_EPARSE);
    assert_int_equal(decode(&c, "{\"a\":1"), WEIR_EPARSE);
    /* nesting limit: deep arrays are refused, not a stack overflow */
    char deep[2 * WEIR_JSON_MAX_DEPTH + 64];
    strcpy(deep, "{\"a\":");
    size_t k = strlen(deep);
    for (int i = 0; i < WEIR_JSON_MAX_DEPTH + 5; i++)
        deep[k++] = '[';
    deep[k] = 0;
    assert_int_equal(decode(&c, deep), WEIR_EPARSE);
    assert_contains(c.err.message, "nesting too deep");
    assert_int_equal(c.b->nrows, 0);
    ctx_close(&c);
}

static int64_t dec_at(const struct weir_column *c, size_t i)
{
    weir_i128 v;
    memcpy(&v, (const char *)c->data + i * sizeof v, sizeof v);
    return (int64_t)v;
}

static void test_decimal_exact(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "d DECIMAL(10,3), big DECIMAL(38,6)", NULL);
    assert_int_equal(decode(&c,
                            "{\"d\":12.345,\"big\":\"-12345678901234567890123456789012.123456\"}\n"
                            "{\"d\":\"1e2\"}\n{\"d\":-0.1}\n{\"d\":5}\n{\"d\":1.2000}\n{\"d\":0.00123e3}\n"),
                     0);
    assert_int_equal(c.b->nrows, 6);
    assert_int_equal(dec_at(&c.b->columns[0], 0), 12345);
    assert_int_equal(dec_at(&c.b->columns[0], 1), 100000);
    assert_int_equal(dec_at(&c.b->columns[0], 2), -100);
    assert_int_equal(dec_at(&c.b->columns[0], 3), 5000);
    assert_int_equal(dec_at(&c.b->columns[0], 4), 1200);
    assert_int_equal(dec_at(&c.b->columns[0], 5), 1230);
    weir_i128 big;
    memcpy(&big, c.b->columns[1].data, sizeof big);
    char buf[48];
    weir_json_format_decimal(big, 6, buf);
    assert_string_equal(buf, "-12345678901234567890123456789012.123456");
    /* too many fraction digits or integer digits: an error, never rounded */
    assert_int_equal(decode(&c, "{\"d\":1.2345}"), WEIR_ERANGE);
    assert_contains(c.err.message, "field 'd': value does not fit decimal(10,3), got 1.2345");
    assert_int_equal(decode(&c, "{\"d\":12345678}"), WEIR_ERANGE);
    assert_int_equal(decode(&c, "{\"d\":\"abc\"}"), WEIR_EPARSE);
    assert_int_equal(decode(&c, "{\"big\":1e40}"), WEIR_ERANGE);
    assert_int_equal(c.b->nrows, 6);
    weir_i128 v;
    assert_int_equal(weir_json_parse_decimal("99999999999999999999999999999999999999", 38, 38, 0, &v), 0);
    assert_int_equal(weir_json_parse_decimal("999999999999999999999999999999999999999", 39, 38, 0, &v),
                     WEIR_ERANGE);
    ctx_close(&c);
}

static void test_dates_and_timestamps(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "d DATE, ts TIMESTAMP, ntz TIMESTAMP_NTZ", NULL);
    assert_int_equal(
        decode(
            &c,
            "{\"d\":\"1970-01-02\",\"ts\":\"2024-01-02T03:04:05.123456Z\",\"ntz\":\"2021-11-18T02:30:00\"}\n"
            "{\"d\":\"1969-12-31\",\"ts\":\"2024-01-02T05:04:05.123456+02:00\",\"ntz\":\"2021-11-18 "
            "02:30:00.000001\"}\n"
            "{\"d\":\"2000-02-29\",\"ts\":1.5,\"ntz\":\"1970-01-01\"}\n"
            "{\"ts\":\"1969-12-31T23:59:59.9999999Z\"}\n"
            "{\"ts\":\"2024-01-02T03:04:05\"}\n"),
        0);
    struct weir_batch *b = c.b;
    assert_int_equal(b->nrows, 5);
    assert_int_equal(weir_column_i32(&b->columns[0], 0), 1);
    assert_int_equal(weir_column_i32(&b->columns[0], 1), -1);
    assert_int_equal(weir_column_i32(&b->columns[0], 2), 11016);
    assert_true(weir_column_i64(&b->columns[1], 0) == 1704164645123456LL);
    assert_true(weir_column_i64(&b->columns[1], 1) == 1704164645123456LL);
    assert_true(weir_column_i64(&b->columns[1], 2) == 1500000LL);
    assert_true(weir_column_i64(&b->columns[1], 3) == -1LL);               /* truncated past micros */
    assert_true(weir_column_i64(&b->columns[1], 4) == 1704164645000000LL); /* no zone: UTC */
    assert_true(weir_column_i64(&b->columns[2], 0) == 1637202600000000LL);
    assert_true(weir_column_i64(&b->columns[2], 1) == 1637202600000001LL);
    assert_true(weir_column_i64(&b->columns[2], 2) == 0);
    assert_int_equal(decode(&c, "{\"ntz\":\"2021-11-18T02:30:00Z\"}"), WEIR_EPARSE);
    assert_contains(c.err.message, "field 'ntz': timestamp_ntz value has a zone offset");
    assert_int_equal(decode(&c, "{\"d\":\"2001-02-29\"}"), WEIR_EPARSE);
    assert_int_equal(decode(&c, "{\"d\":\"2001-2-28\"}"), WEIR_EPARSE);
    assert_int_equal(decode(&c, "{\"ts\":\"2024-01-02T25:00:00Z\"}"), WEIR_EPARSE);
    assert_int_equal(decode(&c, "{\"ts\":true}"), WEIR_EPARSE);
    assert_int_equal(b->nrows, 5);
    char buf[40];
    weir_json_format_timestamp(-1, true, buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
    weir_json_format_timestamp(1637202600000001LL, false, buf);
    assert_string_equal(buf, "2021-11-18T02:30:00.000001");
    weir_json_format_date(-719162, buf);
    assert_string_equal(buf, "0001-01-01");
    ctx_close(&c);
}

static void test_nested(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c,
             "st STRUCT<a: INT, b: STRING>, arr ARRAY<LONG>, m MAP<STRING, INT>, im MAP<INT, STRING>, "
             "arr_st ARRAY<STRUCT<x: DOUBLE, y: STRING>>",
             NULL);
    assert_int_equal(
        decode(&c, "{\"st\":{\"b\":\"x\",\"A\":7,\"zz\":1},\"arr\":[1,null,3],\"m\":{\"k\":1,\"j\":null},"
                   "\"im\":{\"5\":\"five\"},\"arr_st\":[{\"x\":0.5},null]}\n"
                   "{\"st\":null,\"arr\":[],\"m\":{},\"im\":[{\"key\":-2,\"value\":\"neg\"}]}\n"),
        0);
    struct weir_batch *b = c.b;
    assert_int_equal(b->nrows, 2);
    const struct weir_column *st = &b->columns[0];
    assert_true(weir_column_is_valid(st, 0));
    assert_false(weir_column_is_valid(st, 1));
    assert_int_equal(st->children[0].length, 2);
    assert_int_equal(weir_column_i32(&st->children[0], 0), 7); /* case-insensitive match */
    const struct weir_column *arr = &b->columns[1];
    assert_int_equal(arr->offsets[1], 3);
    assert_int_equal(arr->offsets[2], 3);
    assert_false(weir_column_is_valid(&arr->children[0], 1));
    assert_int_equal(weir_column_i64(&arr->children[0], 2), 3);
    const struct weir_column *im = &b->columns[3];
    assert_int_equal(weir_column_i32(&im->children[0], 0), 5);
    assert_int_equal(weir_column_i32(&im->children[0], 1), -2);
    char *s = encode_all(b);
    assert_string_equal(
        s, "{\"st\":{\"a\":7,\"b\":\"x\"},\"arr\":[1,null,3],\"m\":{\"k\":1,\"j\":null},"
           "\"im\":[{\"key\":5,\"value\":\"five\"}],\"arr_st\":[{\"x\":0.5,\"y\":null},null]}\n"
           "{\"st\":null,\"arr\":[],\"m\":{},\"im\":[{\"key\":-2,\"value\":\"neg\"}],\"arr_st\":null}\n");
    weir_free(s);
    /* element type errors name the path */
    assert_int_equal(decode(&c, "{\"arr_st\":[{\"x\":1},{\"x\":\"no\"}]}"), WEIR_EPARSE);
    assert_contains(c.err.message, "field 'arr_st[1].x': expected a number, got \"no\"");
    assert_int_equal(decode(&c, "{\"m\":{\"k\":\"v\"}}"), WEIR_EPARSE);
    assert_contains(c.err.message, "field 'm.k': expected an integer");
    assert_int_equal(decode(&c, "{\"im\":{\"x\":\"v\"}}"), WEIR_EPARSE);
    assert_int_equal(decode(&c, "{\"arr\":{}}"), WEIR_EPARSE);
    assert_contains(c.err.message, "field 'arr': expected an array, got {}");
    assert_int_equal(b->nrows, 2);
    assert_int_equal(b->columns[4].children[0].children[0].length, 2);
    ctx_close(&c);
}

static void test_nullability(void **state)
{
    (void)state;
    struct ctx c;
    memset(&c, 0, sizeof c);
    struct weir_type *st = weir_type_struct();
    weir_type_struct_add(st, "id", weir_type_primitive(WEIR_TYPE_LONG), false, NULL);
    weir_type_struct_add(st, "tags", weir_type_array(weir_type_primitive(WEIR_TYPE_STRING), false), true,
                         NULL);
    c.schema = st;
    assert_int_equal(weir_json_decoder_create(&c.dec, st, NULL, &c.err), 0);
    c.b = weir_batch_create(st);
    assert_int_equal(decode(&c, "{\"id\":1,\"tags\":[\"a\"]}\n{\"id\":2}\n"), 0);
    assert_int_equal(decode(&c, "{\"tags\":[]}"), WEIR_ESCHEMA);
    assert_contains(c.err.message, "line 3 (byte 31): field 'id': missing in a non-nullable field");
    assert_int_equal(decode(&c, "{\"id\":null}"), WEIR_ESCHEMA);
    assert_contains(c.err.message, "field 'id': null in a non-nullable field");
    assert_int_equal(decode(&c, "{\"id\":3,\"tags\":[\"a\",null]}"), WEIR_ESCHEMA);
    assert_contains(c.err.message, "field 'tags[1]': null in a non-nullable field");
    assert_int_equal(c.b->nrows, 2);
    ctx_close(&c);
}

static void test_unknown_fields(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "a LONG", NULL);
    assert_int_equal(decode(&c, "{\"zzz\":[1,{\"q\":2}],\"a\":1}"), 0);
    assert_int_equal(c.b->nrows, 1);
    weir_json_decoder_destroy(c.dec);
    struct weir_json_decode_options o;
    weir_json_decode_options_default(&o);
    o.reject_unknown = true;
    assert_int_equal(weir_json_decoder_create(&c.dec, c.schema, &o, &c.err), 0);
    assert_int_equal(decode(&c, "{\"a\":1,\"zzz\":2}"), WEIR_ESCHEMA);
    assert_contains(c.err.message, "unknown field");
    assert_contains(c.err.message, "\"zzz\"");
    ctx_close(&c);
}

/* rescue_fields: unknown keys and values that do not fit are set aside
 * as written, the rest of the record is kept; the fast path and the
 * general path agree. */
static void test_rescue_fields(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "a LONG, s STRING, t STRUCT<x: INT>", NULL);
    weir_json_decoder_destroy(c.dec);
    struct weir_json_decode_options o;
    weir_json_decode_options_default(&o);
    o.rescue_fields = true;
    assert_int_equal(weir_json_decoder_create(&c.dec, c.schema, &o, &c.err), 0);
    const char *rec[] = {
        "{\"a\":1,\"s\":\"x\",\"t\":{\"x\":2}}",
        "{\"a\":\"one\",\"new\":[1, {\"k\":true}],\"s\":\"y\"}",
        "{\"t\":{\"x\":\"bad\"},\"a\":3,\"n\\u0041\":null}",
    };
    /* unknown keys first, then the fields that did not fit */
    const char *want[] = {"", "\"new\":[1, {\"k\":true}],\"a\":\"one\"",
                          "\"n\\u0041\":null,\"t\":{\"x\":\"bad\"}"};
    size_t unknown_want[] = {0, 1, 1};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(weir_json_decode_record(c.dec, rec[i], strlen(rec[i]), c.b, &c.err), 0);
        size_t n, unknown;
        const char *r = weir_json_decoder_rescued(c.dec, &n, &unknown);
        assert_int_equal(n, strlen(want[i]));
        assert_memory_equal(r, want[i], n);
        assert_int_equal(unknown, unknown_want[i]);
    }
    assert_int_equal(c.b->nrows, 3);
    assert_true(weir_column_is_valid(&c.b->columns[0], 0));
    assert_false(weir_column_is_valid(&c.b->columns[0], 1)); /* rescued: null */
    assert_int_equal(weir_column_i64(&c.b->columns[0], 2), 3);
    size_t sn;
    const uint8_t *sp = weir_column_bytes(&c.b->columns[1], 1, &sn);
    assert_int_equal(sn, 1);
    assert_memory_equal(sp, "y", 1);
    assert_false(weir_column_is_valid(&c.b->columns[2], 2));
    /* a line that is not JSON still fails as a whole */
    assert_int_equal(weir_json_decode_record(c.dec, "{\"a\":", 5, c.b, &c.err), WEIR_EPARSE);
    ctx_close(&c);
}

/* Keys in any order, with gaps, repeated (the last wins) or differing in
 * case all land in the right columns. */
static void test_key_order(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "a INT, b INT, c INT, d INT, e INT", NULL);
    assert_int_equal(decode(&c, "{\"e\":5,\"d\":4,\"c\":3,\"b\":2,\"a\":1}\n"
                                "{\"b\":2,\"d\":4}\n"
                                "{\"a\":1,\"a\":9,\"E\":5,\"x\":0,\"c\":3}\n"),
                     0);
    static const int want[3][5] = {{1, 2, 3, 4, 5}, {0, 2, 0, 4, 0}, {9, 0, 3, 0, 5}};
    static const bool valid[3][5] = {{1, 1, 1, 1, 1}, {0, 1, 0, 1, 0}, {1, 0, 1, 0, 1}};
    for (size_t r = 0; r < 3; r++) {
        for (size_t f = 0; f < 5; f++) {
            assert_int_equal(weir_column_is_valid(&c.b->columns[f], r), valid[r][f]);
            if (valid[r][f])
                assert_int_equal(weir_column_i32(&c.b->columns[f], r), want[r][f]);
        }
    }
    ctx_close(&c);
}

static void test_string_takes_any_value(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "s STRING", NULL);
    assert_int_equal(decode(&c, "{\"s\":12.50}\n{\"s\":true}\n{\"s\":{\"a\": [1, 2]}}\n"), 0);
    size_t n;
    const uint8_t *p = weir_column_bytes(&c.b->columns[0], 0, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "12.50", 5);
    p = weir_column_bytes(&c.b->columns[0], 2, &n);
    assert_int_equal(n, 13);
    assert_memory_equal(p, "{\"a\": [1, 2]}", 13);
    ctx_close(&c);
}

static void test_encode_scalars(void **state)
{
    (void)state;
    struct weir_type *t =
        ddl("f FLOAT, d DOUBLE, dec DECIMAL(5,2), s STRING, bin BINARY, dt DATE, ts TIMESTAMP, b BOOLEAN");
    struct weir_batch *b = weir_batch_create(t);
    struct weir_column *c = b->columns;
    const double ds[] = {0.1, 1.0 / 3.0, 3.0, -0.0, 1e300, NAN, INFINITY, -INFINITY, 123456789012345680.0};
    const float fs[] = {0.1f, 1.0f / 3.0f, 3.0f, -0.0f, 1e30f, NAN, INFINITY, -INFINITY, 16777217.0f};
    for (size_t i = 0; i < 9; i++) {
        weir_column_append_f32(&c[0], fs[i]);
        weir_column_append_f64(&c[1], ds[i]);
        if (i == 0) {
            weir_column_append_i128(&c[2], -5);
            weir_column_append_bytes(&c[3], "q\"\\\x01\n\xc3\xa9\xff", 8);
            weir_column_append_bytes(&c[4], "\x00\xfb\xff", 3);
            weir_column_append_i32(&c[5], 19723);
            weir_column_append_i64(&c[6], 1704164645123456LL);
            weir_column_append_bool(&c[7], true);
        } else {
            for (int k = 2; k < 8; k++)
                weir_column_append_null(&c[k]);
        }
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    char *s = encode_all(b);
    const char *want = "{\"f\":0.10000000149011612,\"d\":0.1,\"dec\":\"-0.05\",\"s\":"
                       "\"q\\\"\\\\\\u0001\\n\xc3\xa9\\ufffd\",\"bin\":\"APv/\","
                       "\"dt\":\"2024-01-01\",\"ts\":\"2024-01-02T03:04:05.123456Z\",\"b\":true}\n"
                       "{\"f\":0.3333333432674408,\"d\":0.3333333333333333,\"dec\":null,\"s\":null,\"bin\":"
                       "null,\"dt\":null,\"ts\":null,\"b\":null}\n"
                       "{\"f\":3.0,\"d\":3.0,";
    assert_memory_equal(s, want, strlen(want));
    assert_contains(s, "{\"f\":-0.0,\"d\":-0.0,");
    assert_contains(s, "{\"f\":1.0000000150474662e+30,\"d\":1e+300,");
    assert_contains(s, "{\"f\":\"NaN\",\"d\":\"NaN\",");
    assert_contains(s, "{\"f\":\"Infinity\",\"d\":\"Infinity\",");
    assert_contains(s, "{\"f\":\"-Infinity\",\"d\":\"-Infinity\",");
    assert_contains(s, "{\"f\":16777216.0,\"d\":1.2345678901234568e+17,");
    weir_free(s);
    weir_batch_destroy(b);
    weir_type_destroy(t);
}

/* Every double prints as text that reads back to the same bits (random
 * bit patterns); "few decimals" values print as their short fixed-point
 * text. */
/* Numbers decoded into DOUBLE (the one-pass path and its fast conversion
 * of short decimals) equal strtod's value bit for bit: random decimals of
 * every length around the 2^53 and 10^22 limits, exponents, signs, and
 * numbers the fast conversion leaves to strtod. */
static void test_double_parse_matches_strtod(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "d DOUBLE", NULL);
    const char *fixed[] = {"0",
                           "-0",
                           "0.0",
                           "-0.0",
                           "1e22",
                           "1e23",
                           "-1e-22",
                           "1e-23",
                           "9007199254740992",
                           "9007199254740993",
                           "9007199254740991.5",
                           "123456789012345678901234",
                           "0.1",
                           "0.30000000000000004",
                           "1.7976931348623157e308",
                           "4.9e-324",
                           "2.2250738585072014e-308",
                           "3481.10",
                           "1E5",
                           "1e+05",
                           "12.5e-3"};
    char text[96], rec[128];
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    const size_t n = sizeof fixed / sizeof fixed[0] + 200000;
    for (size_t i = 0; i < n; i++) {
        if (i < sizeof fixed / sizeof fixed[0]) {
            snprintf(text, sizeof text, "%s", fixed[i]);
        } else {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int intd = (int)(x % 18), fracd = (int)((x >> 8) % 18), ex = (int)((x >> 16) % 61) - 30;
            uint64_t m = x >> 11;
            int len = snprintf(text, sizeof text, "%s%.*llu", (x >> 5) & 1 ? "-" : "", intd + 1,
                               (unsigned long long)(m % 1000000000000000000ULL));
            (void)len;
            if (text[(x >> 5) & 1] == '0' && strlen(text) > (size_t)(((x >> 5) & 1) + 1))
                text[(x >> 5) & 1] = '7'; /* no leading zero */
            if (fracd)
                snprintf(text + strlen(text), sizeof text - strlen(text), ".%.*llu", fracd,
                         (unsigned long long)((x >> 3) % 1000000000000000000ULL));
            if ((x >> 40) % 3 == 0)
                snprintf(text + strlen(text), sizeof text - strlen(text), "e%d", ex);
        }
        snprintf(rec, sizeof rec, "{\"d\":%s}", text);
        weir_batch_clear(c.b);
        weir_error_clear(&c.err);
        if (weir_json_decode_record(c.dec, rec, strlen(rec), c.b, &c.err) != 0)
            fail_msg("%s: %s", rec, c.err.message);
        double got = weir_column_f64(&c.b->columns[0], 0), want = strtod(text, NULL);
        if (memcmp(&got, &want, sizeof got) != 0)
            fail_msg("%s: decoded %.17g, strtod %.17g", text, got, want);
    }
    ctx_close(&c);
}

static void test_double_text_round_trips(void **state)
{
    (void)state;
    struct weir_type *t = ddl("d DOUBLE");
    struct weir_batch *b = weir_batch_create(t);
    uint64_t x = 88172645463325252ULL;
    const size_t n = 200000;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        if (i % 2 == 0) {
            memcpy(&v, &x, sizeof v);
            if (!isfinite(v))
                v = (double)(int64_t)x;
        } else {
            static const double p10[] = {1, 10, 100, 1000, 1e4, 1e5, 1e6};
            v = (double)(int64_t)(x % 2000000001ULL - 1000000000ULL) / p10[x % 7];
        }
        assert_int_equal(weir_column_append_f64(&b->columns[0], v), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    struct weir_buf out;
    weir_buf_init(&out);
    struct weir_error err = {0};
    for (size_t i = 0; i < n; i++) {
        out.len = 0;
        assert_int_equal(weir_json_encode_value(&b->columns[0], i, &out, &err), 0);
        double v = weir_column_f64(&b->columns[0], i);
        double back = strtod((const char *)out.data, NULL);
        if (memcmp(&back, &v, sizeof v) != 0)
            fail_msg("%.17g printed as %s", v, (const char *)out.data);
        if (i % 2 == 1 && fabs(v) >= 1e-4) {
            /* few decimals: exactly the fixed-point text, trailing zeros trimmed */
            char ref[64];
            int rl = snprintf(ref, sizeof ref, "%.6f", v);
            while (rl > 0 && ref[rl - 1] == '0')
                ref[--rl] = 0;
            if (ref[rl - 1] == '.') {
                ref[rl++] = '0';
                ref[rl] = 0;
            }
            if (strcmp(ref, (const char *)out.data) != 0)
                fail_msg("%.17g printed as %s, want %s", v, (const char *)out.data, ref);
        }
    }
    weir_buf_free(&out);
    weir_batch_destroy(b);
    weir_type_destroy(t);
}

/* decode -> encode -> decode gives the same text again */
static void test_round_trip(void **state)
{
    (void)state;
    const char *schema =
        "b BOOLEAN, i8 BYTE, i16 SHORT, i32 INT, i64 LONG, f32 FLOAT, f64 DOUBLE, "
        "dec DECIMAL(10,2), dec38 DECIMAL(38,6), s STRING, bin BINARY, d DATE, ts TIMESTAMP, "
        "ntz TIMESTAMP_NTZ, st STRUCT<a: INT, b: STRING>, arr ARRAY<LONG>, m MAP<STRING, INT>, "
        "arr_st ARRAY<STRUCT<x: DOUBLE, y: STRING>>";
    const char *in =
        "{\"b\":true,\"i8\":-5,\"i16\":300,\"i32\":-70000,\"i64\":-9223372036854775808,\"f32\":-131072.125,"
        "\"f64\":0.30000000000000004,\"dec\":\"-1234567.89\",\"dec38\":\"12345678901234567890123456789012."
        "000001\","
        "\"s\":\"\\u00fcn\\u00efc\\u00f6d\\u00e9 \\u2713\",\"bin\":\"AQID\",\"d\":\"1860-06-30\","
        "\"ts\":\"1906-12-31T00:00:00.000001Z\",\"ntz\":\"2100-01-01T00:00:00.000000\",\"st\":{\"a\":null,"
        "\"b\":\"s\"},"
        "\"arr\":[1,null],\"m\":{\"k0\":null,\"k1\":7},\"arr_st\":[null,{\"x\":1e-07,\"y\":null}]}\n"
        "{\"b\":null,\"i8\":null,\"i16\":null,\"i32\":null,\"i64\":null,\"f32\":null,\"f64\":null,\"dec\":"
        "null,"
        "\"dec38\":null,\"s\":\"\",\"bin\":\"\",\"d\":null,\"ts\":null,\"ntz\":null,\"st\":null,\"arr\":null,"
        "\"m\":null,"
        "\"arr_st\":[]}\n";
    struct ctx c;
    ctx_open(&c, schema, NULL);
    assert_int_equal(decode(&c, in), 0);
    char *out1 = encode_all(c.b);
    struct ctx c2;
    ctx_open(&c2, schema, NULL);
    assert_int_equal(decode(&c2, out1), 0);
    char *out2 = encode_all(c2.b);
    assert_string_equal(out1, out2);
    assert_contains(out1, "\"s\":\"\xc3\xbcn\xc3\xaf"
                          "c\xc3\xb6"
                          "d\xc3\xa9 \xe2\x9c\x93\"");
    assert_contains(out1, "\"f64\":0.30000000000000004,");
    assert_contains(out1, "\"f32\":-131072.125,");
    assert_contains(out1, "\"dec38\":\"12345678901234567890123456789012.000001\"");
    assert_contains(out1, "\"x\":1e-07");
    weir_free(out1);
    weir_free(out2);
    ctx_close(&c);
    ctx_close(&c2);
}

static char *infer(const char *text, bool ts, int *rc_out)
{
    struct weir_json_inferrer *inf = NULL;
    struct weir_json_infer_options o;
    struct weir_error err = {0};
    weir_json_infer_options_default(&o);
    o.infer_timestamps = ts;
    assert_int_equal(weir_json_inferrer_create(&inf, &o, &err), 0);
    int rc = weir_json_infer(inf, text, strlen(text), &err);
    struct weir_type *t = NULL;
    if (rc == 0)
        rc = weir_json_infer_schema(inf, &t, &err);
    weir_json_inferrer_destroy(inf);
    *rc_out = rc;
    if (rc != 0)
        return NULL;
    char *s = weir_type_to_display(t);
    weir_type_destroy(t);
    return s;
}

static void test_inference(void **state)
{
    (void)state;
    int rc;
    char *s =
        infer("{\"id\":1,\"v\":1,\"flag\":true,\"name\":\"a\",\"n\":null,\"ts\":\"2024-01-02T03:04:05Z\"}\n"
              "{\"id\":2,\"v\":2.5,\"flag\":false,\"name\":3,\"extra\":{\"x\":1}}\n"
              "{\"ID\":3,\"extra\":{\"y\":[1,2.0]},\"big\":99999999999999999999,\"e\":[],\"mix\":[1]}\n"
              "{\"mix\":{\"a\":1}}\n",
              false, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(s, "struct<id:long,v:double,flag:boolean,name:string,n:string,ts:string,"
                           "extra:struct<x:long,y:array<double>>,big:double,e:array<string>,mix:string>");
    weir_free(s);
    s = infer("{\"ts\":\"2024-01-02T03:04:05Z\",\"ntz\":\"2024-01-02T03:04:05\",\"d\":\"2024-01-02\",\"x\":"
              "\"2024-01-02\"}\n"
              "{\"ts\":\"2024-01-02 03:04:05.5+01:00\",\"ntz\":null,\"d\":\"1999-12-31\",\"x\":\"nope\"}\n",
              true, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(s, "struct<ts:timestamp,ntz:timestamp_ntz,d:date,x:string>");
    weir_free(s);
    assert_null(infer("\n\n", false, &rc));
    assert_int_equal(rc, WEIR_ESCHEMA);
    assert_null(infer("{\"a\":1}\n[1]\n", false, &rc));
    assert_int_equal(rc, WEIR_EPARSE);
    assert_null(infer("{\"a\":1}\n{\"a\":\n", false, &rc));
    assert_int_equal(rc, WEIR_EPARSE);
}

/* The inferred schema decodes every line it was inferred from. */
static void test_inferred_schema_decodes(void **state)
{
    (void)state;
    const char *text =
        "{\"a\":1,\"b\":\"x\",\"c\":[{\"d\":true}]}\n{\"a\":1.5,\"b\":7,\"c\":[{\"e\":\"q\"}],\"f\":null}\n";
    struct weir_json_inferrer *inf = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_json_inferrer_create(&inf, NULL, &err), 0);
    assert_int_equal(weir_json_infer(inf, text, strlen(text), &err), 0);
    struct weir_type *t = NULL;
    assert_int_equal(weir_json_infer_schema(inf, &t, &err), 0);
    weir_json_inferrer_destroy(inf);
    struct weir_json_decoder *dec = NULL;
    assert_int_equal(weir_json_decoder_create(&dec, t, NULL, &err), 0);
    struct weir_batch *b = weir_batch_create(t);
    size_t rows = 0;
    assert_int_equal(weir_json_decode(dec, text, strlen(text), b, &rows, &err), 0);
    assert_int_equal(rows, 2);
    char *s = encode_all(b);
    assert_string_equal(s, "{\"a\":1.0,\"b\":\"x\",\"c\":[{\"d\":true,\"e\":null}],\"f\":null}\n"
                           "{\"a\":1.5,\"b\":\"7\",\"c\":[{\"d\":null,\"e\":\"q\"}],\"f\":null}\n");
    weir_free(s);
    weir_batch_destroy(b);
    weir_json_decoder_destroy(dec);
    weir_type_destroy(t);
}

/* Line numbers and byte offsets continue across calls until reset. */
static void test_streaming_positions(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "a LONG", "f");
    assert_int_equal(decode(&c, "{\"a\":1}\n{\"a\":2}\n"), 0);
    assert_int_equal(decode(&c, "{\"a\":3}\n{\"a\":\"x\"}\n"), WEIR_EPARSE);
    assert_contains(c.err.message, "f: line 4 (byte 29): field 'a'");
    assert_int_equal(weir_json_decoder_reset(c.dec, "g"), 0);
    assert_int_equal(decode(&c, "{\"a\":\"x\"}"), WEIR_EPARSE);
    assert_contains(c.err.message, "g: line 1 (byte 5): field 'a'");
    assert_int_equal(c.b->nrows, 3);
    /* a byte order mark is skipped at the start of an input only */
    assert_int_equal(weir_json_decoder_reset(c.dec, "h"), 0);
    assert_int_equal(decode(&c, "\xEF\xBB\xBF{\"a\":4}\n"), 0);
    assert_int_equal(c.b->nrows, 4);
    assert_int_equal(decode(&c, "\xEF\xBB\xBF{\"a\":5}\n"), WEIR_EPARSE);
    assert_int_equal(c.b->nrows, 4);
    ctx_close(&c);
}

/* Random byte mutations of valid lines never crash the decoder or the
 * inferrer, every failure is a negative code with a message, and the batch
 * stays consistent (all columns as long as nrows). Run under ASan/UBSan in
 * CI; a poor man's fuzzer that runs in plain ctest. */
static void test_mutations_are_safe(void **state)
{
    (void)state;
    static const char *seeds[] = {
        "{\"b\":true,\"i\":-12,\"d\":\"12.50\",\"s\":\"h\\u00e9\\n\",\"bin\":\"AAH/"
        "\",\"ts\":\"2024-01-02T03:04:05.5+01:00\","
        "\"st\":{\"a\":1,\"b\":[1.5,null]},\"m\":{\"k\":[{\"x\":1}]},\"dt\":\"2024-02-29\"}",
        "{\"m\":[{\"key\":\"a\",\"value\":[]}],\"st\":null,\"i\":9223372036854775807,\"f\":1e308}",
    };
    struct weir_type *t =
        ddl("b BOOLEAN, i LONG, d DECIMAL(9,2), s STRING, bin BINARY, ts TIMESTAMP, f DOUBLE, "
            "st STRUCT<a: BYTE, b: ARRAY<FLOAT>>, m MAP<STRING, ARRAY<STRUCT<x: INT>>>, dt DATE");
    struct weir_json_decoder *dec = NULL;
    struct weir_json_inferrer *inf = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_json_decoder_create(&dec, t, NULL, &err), 0);
    assert_int_equal(weir_json_inferrer_create(&inf, NULL, &err), 0);
    struct weir_batch *b = weir_batch_create(t);
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    size_t ok = 0, bad = 0;
    static const char alphabet[] = "{}[]\",:\\-+.eE0123456789 tfnu\x80\xc3\xff\n";
    for (int iter = 0; iter < 20000; iter++) {
        const char *seed = seeds[iter % 2];
        char line[512];
        size_t n = strlen(seed);
        memcpy(line, seed, n);
        int muts = 1 + (int)(x % 4);
        for (int k = 0; k < muts; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            size_t pos = (size_t)(x % n);
            switch ((x >> 32) % 3) {
            case 0:
                line[pos] = alphabet[(x >> 40) % (sizeof alphabet - 1)];
                break;
            case 1:
                n = pos;
                break; /* truncate */
            default:
                if (n + 1 < sizeof line) {
                    memmove(line + pos + 1, line + pos, n - pos);
                    line[pos] = alphabet[(x >> 40) % (sizeof alphabet - 1)];
                    n++;
                }
            }
            if (n == 0)
                break;
        }
        weir_error_clear(&err);
        size_t before = b->nrows;
        int rc = weir_json_decode(dec, line, n, b, NULL, &err);
        if (rc == 0) {
            ok++;
        } else {
            bad++;
            assert_true(rc < 0);
            assert_true(err.message[0] != '\0');
            assert_int_equal(b->nrows, before);
        }
        for (size_t c = 0; c < b->ncolumns; c++)
            assert_int_equal(b->columns[c].length, b->nrows);
        weir_error_clear(&err);
        rc = weir_json_infer(inf, line, n, &err);
        assert_true(rc <= 0);
        if (b->nrows > 1000)
            weir_batch_clear(b);
    }
    assert_true(ok > 100 && bad > 100);
    /* what was decoded encodes to valid JSON lines the decoder accepts again */
    struct weir_buf out;
    weir_buf_init(&out);
    assert_int_equal(weir_json_encode_batch(b, &out, &err), 0);
    struct weir_batch *b2 = weir_batch_create(t);
    if (out.len > 0)
        assert_int_equal(weir_json_decode(dec, (const char *)out.data, out.len, b2, NULL, &err), 0);
    assert_int_equal(b2->nrows, b->nrows);
    weir_buf_free(&out);
    weir_batch_destroy(b2);
    weir_batch_destroy(b);
    weir_json_inferrer_destroy(inf);
    weir_json_decoder_destroy(dec);
    weir_type_destroy(t);
}

/* Whole-record decoding: newlines inside a record are whitespace and
 * errors count records. */
static void test_decode_record(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, "id LONG, tags ARRAY<STRING>", "topic orders");
    const char *r1 = "{\n  \"id\": 1,\n  \"tags\": [\n    \"a\"\n  ]\n}\n";
    assert_int_equal(weir_json_decode_record(c.dec, r1, strlen(r1), c.b, &c.err), 0);
    assert_int_equal(weir_json_decode_record(c.dec, "{\"id\":2}", 8, c.b, &c.err), 0);
    assert_int_equal(c.b->nrows, 2);
    assert_int_equal(weir_column_i64(&c.b->columns[0], 0), 1);
    assert_int_equal(c.b->columns[1].offsets[1], 1);
    const char *r3 = "{\"id\":\n\"x\"}";
    assert_int_equal(weir_json_decode_record(c.dec, r3, strlen(r3), c.b, &c.err), WEIR_EPARSE);
    assert_string_equal(c.err.message,
                        "topic orders: record 3 (byte 7): field 'id': expected an integer, got \"x\"");
    weir_error_clear(&c.err);
    assert_int_equal(weir_json_decode_record(c.dec, "{\"id\":1} {}", 12, c.b, &c.err), WEIR_EPARSE);
    assert_contains(c.err.message, "record 4");
    assert_int_equal(c.b->nrows, 2);
    ctx_close(&c);
}

/* Every allocation failure is reported as WEIR_ENOMEM and leaks nothing
 * (checked by ASan/LSan builds). */
static void test_alloc_failures(void **state)
{
    (void)state;
    const char *text = "{\"st\":{\"a\":1,\"b\":\"xy\\n\"},\"arr\":[1,2,3],\"m\":{\"k\":1},\"bin\":\"AQID\"}\n"
                       "{\"st\":null,\"arr\":[],\"m\":{\"\\u00e9\":2},\"bin\":null}\n";
    struct weir_type *t =
        ddl("st STRUCT<a: INT, b: STRING>, arr ARRAY<LONG>, m MAP<STRING, INT>, bin BINARY");
    int ok = 0;
    for (long n = 0; n < 200 && !ok; n++) {
        struct weir_error err = {0};
        struct weir_json_decoder *dec = NULL;
        struct weir_batch *b = NULL;
        struct weir_buf out;
        weir_buf_init(&out);
        weir_alloc_fail_after(n);
        int rc = weir_json_decoder_create(&dec, t, NULL, &err);
        if (rc == 0 && (b = weir_batch_create(t)) == NULL)
            rc = WEIR_ENOMEM;
        if (rc == 0)
            rc = weir_json_decode(dec, text, strlen(text), b, NULL, &err);
        if (rc == 0)
            rc = weir_json_encode_batch(b, &out, &err);
        weir_alloc_fail_after(-1);
        if (rc == 0) {
            ok = 1;
            assert_int_equal(b->nrows, 2);
        } else {
            assert_int_equal(rc, WEIR_ENOMEM);
        }
        weir_buf_free(&out);
        weir_batch_destroy(b);
        weir_json_decoder_destroy(dec);
    }
    assert_true(ok);
    weir_type_destroy(t);
}

/* ---- the one-pass path for flat rows against the tree path ---- */

static uint64_t rnd_state;
static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((rnd_state >> 33) % n);
}

/* mostly one of the first three entries (the well-formed ones), else any */
static const char *pick(const char *const *v, size_t n)
{
    return v[rnd(6) ? rnd(3) : rnd((unsigned)n)];
}
#define PICK(a) pick(a, sizeof(a) / sizeof(a[0]))

/* One field's value text: mostly well-formed for its type, often not. */
static const char *value_text(char kind)
{
    static const char *const ints[] = {"0",
                                       "-0",
                                       "7",
                                       "-128",
                                       "127",
                                       "128",
                                       "32767",
                                       "-32769",
                                       "2147483647",
                                       "2147483648",
                                       "9223372036854775807",
                                       "9223372036854775808",
                                       "-9223372036854775808",
                                       "1.0",
                                       "1e3",
                                       "01",
                                       "-",
                                       "\"12\"",
                                       "true"};
    static const char *const dbls[] = {"0",
                                       "-0.0",
                                       "3.25",
                                       "1e308",
                                       "1e309",
                                       "-2.5E-3",
                                       "1.7976931348623157e308",
                                       "4.9e-324",
                                       "\"NaN\"",
                                       "\"Infinity\"",
                                       "\"3.5\"",
                                       "12345678901234567890123",
                                       "1.",
                                       ".5",
                                       "+1",
                                       "0x10"};
    static const char *const strs[] = {"\"plain\"",          "\"\"",       "\"caf\xc3\xa9\"",
                                       "\"\xe2\x82\xac x\"", "\"a\\nb\"",  "\"\\u00e9\"",
                                       "\"bad \xff\"",       "\"\xc3\"",   "42",
                                       "{\"x\":1}",          "[1,2]",      "false",
                                       "\"tab\there\"",      "\"\\ud800\""};
    static const char *const tss[] = {"\"2024-02-29T12:34:56Z\"",
                                      "\"2024-02-29 12:34:56.123456\"",
                                      "\"1970-01-01T00:00:00.5\"",
                                      "\"2023-02-29T00:00:00Z\"",
                                      "\"2024-01-01T00:00:00+05:30\"",
                                      "\"2024-01-01\"",
                                      "1700000000",
                                      "1700000000.5",
                                      "\"nope\"",
                                      "\"2024-13-01T00:00:00Z\"",
                                      "\"2024-01-01T00:00:00\\u005a\""};
    static const char *const bools[] = {"true", "false", "true", "\"true\"", "1", "tru", "nul"};
    static const char *const dates[] = {"\"2024-02-29\"",          "\"1999-12-31\"", "\"0001-01-01\"",
                                        "\"2023-02-29\"",          "\"2024-1-1\"",   "20240101",
                                        "\"2024-02-29T00:00:00Z\""};
    static const char *const decs[] = {"1.25", "-99999999.99", "100000000.00", "1.234", "\"7.5\"", "1e2",
                                       "0",    "-0.01"};
    if (rnd(8) == 0)
        return "null";
    switch (kind) {
    case 'i':
        return PICK(ints);
    case 'd':
        return PICK(dbls);
    case 's':
        return PICK(strs);
    case 't':
        return PICK(tss);
    case 'b':
        return PICK(bools);
    case 'D':
        return PICK(dates);
    default:
        return PICK(decs);
    }
}

static void random_record(struct weir_buf *o, const char *const *names, const char *kinds, size_t nf)
{
    static const char *const ws[] = {"", "", "", " ", "\n\t", "\r\n "};
    static const char *const seps[] = {",", ",", ",", ";"};
    static const char *const extra[] = {"\"extra\":{\"deep\":[1,{\"k\":\"v\"}]}",
                                        "\"extra\":[]",
                                        "\"other\":\"\\u00e9\\\"\"",
                                        "\"ID\":5",
                                        "\"extra\":[1,",
                                        "\"x\":\"\xff\""};
    o->len = 0;
    weir_buf_append_str(o, PICK(ws));
    weir_buf_append_str(o, rnd(40) == 0 ? "[" : "{");
    bool first = true;
    for (size_t f = 0; f < nf; f++) {
        size_t k = rnd(5) == 0 ? rnd((unsigned)nf) : f; /* out of order, duplicates, gaps */
        if (rnd(12) == 0)
            continue;
        if (!first)
            weir_buf_append_str(o, PICK(seps));
        first = false;
        weir_buf_append_str(o, PICK(ws));
        if (rnd(10) == 0) {
            weir_buf_append_str(o, PICK(extra));
            weir_buf_append_str(o, ",");
        }
        weir_buf_append_str(o, "\"");
        weir_buf_append_str(o, rnd(30) == 0 ? "A\\u0042" : names[k]);
        weir_buf_append_str(o, "\"");
        weir_buf_append_str(o, PICK(ws));
        weir_buf_append_str(o, ":");
        weir_buf_append_str(o, PICK(ws));
        weir_buf_append_str(o, value_text(kinds[k]));
    }
    weir_buf_append_str(o, PICK(ws));
    weir_buf_append_str(o, rnd(40) == 0 ? "" : "}");
    if (rnd(40) == 0)
        weir_buf_append_str(o, " {}");
    weir_buf_append_str(o, PICK(ws));
}

/* Every record decodes to the same row, or fails with the same error,
 * whether the decoder takes the one-pass path (flat schema) or the tree
 * path (the same schema plus a nested field, which turns the one-pass
 * path off). */
static void test_one_pass_matches_tree(void **state)
{
    (void)state;
    static const char *const names[] = {"id",  "n",      "x", "name",  "ts", "ok",
                                        "day", "amount", "f", "local", "s",  "AB"};
    static const char kinds[] = "iidstbDmdtii";
    const char *flat_ddl =
        "id LONG, n INT NOT NULL, x DOUBLE, name STRING, ts TIMESTAMP, ok BOOLEAN, day DATE, "
        "amount DECIMAL(10,2), f FLOAT, local TIMESTAMP_NTZ, s SHORT, AB BYTE";
    char twin_ddl[512];
    snprintf(twin_ddl, sizeof twin_ddl, "%s, zz ARRAY<INT>", flat_ddl);
    struct ctx a, b;
    ctx_open(&a, flat_ddl, "t");
    ctx_open(&b, twin_ddl, "t");
    struct weir_buf rec, ra, rb;
    weir_buf_init(&rec);
    weir_buf_init(&ra);
    weir_buf_init(&rb);
    size_t ok = 0, bad = 0;
    rnd_state = 20261121;
    for (int i = 0; i < 20000; i++) {
        random_record(&rec, names, kinds, 12);
        weir_error_clear(&a.err);
        weir_error_clear(&b.err);
        int rca = weir_json_decode_record(a.dec, (const char *)rec.data, rec.len, a.b, &a.err);
        int rcb = weir_json_decode_record(b.dec, (const char *)rec.data, rec.len, b.b, &b.err);
        if (rca != rcb || strcmp(a.err.message, b.err.message) != 0)
            fail_msg("record %d %.*s: one-pass %d (%s), tree %d (%s)", i, (int)rec.len,
                     (const char *)rec.data, rca, a.err.message, rcb, b.err.message);
        if (rca != 0) {
            bad++;
            continue;
        }
        ok++;
        ra.len = rb.len = 0;
        assert_int_equal(weir_json_encode_row(a.b, a.b->nrows - 1, &ra, &a.err), 0);
        assert_int_equal(weir_json_encode_row(b.b, b.b->nrows - 1, &rb, &b.err), 0);
        /* the twin's row ends with its extra field, null */
        const char *tail = ",\"zz\":null}\n";
        size_t tl = strlen(tail);
        if (rb.len >= tl && memcmp(rb.data + rb.len - tl, tail, tl) == 0) {
            rb.len -= tl;
            weir_buf_append_str(&rb, "}\n");
        }
        if (ra.len != rb.len || memcmp(ra.data, rb.data, ra.len) != 0)
            fail_msg("record %d %.*s: one-pass row %.*s, tree row %.*s", i, (int)rec.len,
                     (const char *)rec.data, (int)ra.len, (const char *)ra.data, (int)rb.len,
                     (const char *)rb.data);
    }
    /* the mix exercises both outcomes */
    print_message("one-pass vs tree: %zu rows decoded, %zu records refused, all alike\n", ok, bad);
    assert_true(ok > 1000);
    assert_true(bad > 1000);
    weir_buf_free(&rec);
    weir_buf_free(&ra);
    weir_buf_free(&rb);
    ctx_close(&a);
    ctx_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primitives),
        cmocka_unit_test(test_int_range_and_kind_errors),
        cmocka_unit_test(test_error_names_line_byte_field),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_decimal_exact),
        cmocka_unit_test(test_dates_and_timestamps),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_nullability),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_rescue_fields),
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_string_takes_any_value),
        cmocka_unit_test(test_encode_scalars),
        cmocka_unit_test(test_double_text_round_trips),
        cmocka_unit_test(test_double_parse_matches_strtod),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_inference),
        cmocka_unit_test(test_inferred_schema_decodes),
        cmocka_unit_test(test_streaming_positions),
        cmocka_unit_test(test_decode_record),
        cmocka_unit_test(test_mutations_are_safe),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_one_pass_matches_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
