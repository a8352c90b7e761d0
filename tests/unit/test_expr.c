/* tests/unit/test_expr.c - SQL expressions: parsing (precedence, literals,
 * errors with positions), binding (unknown columns, type errors, widening),
 * evaluation of operators and functions with NULLs and three-valued logic,
 * filter and project over batches with strings, timestamps, decimals and
 * nested struct fields. Results are read back as text through
 * CAST(... AS STRING) so each assertion shows every row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/expr.h"
#include "core/types.h"

#define SCHEMA                                                                                        \
    "id LONG, amount DOUBLE, country STRING, ts TIMESTAMP, d DATE, price DECIMAL(10,2), n INT, flag " \
    "BOOLEAN, "                                                                                       \
    "addr STRUCT<city: STRING, zip: INT>"

static const int64_t TS0 = INT64_C(1704105000000000); /* 2024-01-01 10:30:00 UTC */

static struct weir_batch *make_batch(void)
{
    struct weir_type *t = NULL;
    struct weir_error err = {0};
    if (weir_schema_from_ddl(SCHEMA, &t, &err) != 0)
        fail_msg("ddl: %s", err.message);
    struct weir_batch *b = weir_batch_create(t);
    weir_type_destroy(t);
    assert_non_null(b);
    struct weir_column *c = b->columns;
    /* row 0 */
    assert_int_equal(weir_column_append_i64(&c[0], 1), 0);
    assert_int_equal(weir_column_append_f64(&c[1], 150.0), 0);
    assert_int_equal(weir_column_append_bytes(&c[2], "C01", 3), 0);
    assert_int_equal(weir_column_append_i64(&c[3], TS0), 0);
    assert_int_equal(weir_column_append_i32(&c[4], 19723), 0); /* 2024-01-01 */
    assert_int_equal(weir_column_append_i128(&c[5], 1234), 0);
    assert_int_equal(weir_column_append_i32(&c[6], 10), 0);
    assert_int_equal(weir_column_append_bool(&c[7], true), 0);
    assert_int_equal(weir_column_append_bytes(&c[8].children[0], "Paris", 5), 0);
    assert_int_equal(weir_column_append_i32(&c[8].children[1], 75001), 0);
    assert_int_equal(weir_column_append_struct(&c[8], true), 0);
    /* row 1 */
    assert_int_equal(weir_column_append_i64(&c[0], 2), 0);
    assert_int_equal(weir_column_append_f64(&c[1], 50.0), 0);
    assert_int_equal(weir_column_append_bytes(&c[2], "C02", 3), 0);
    assert_int_equal(weir_column_append_null(&c[3]), 0);
    assert_int_equal(weir_column_append_i32(&c[4], 19782), 0); /* 2024-02-29 */
    assert_int_equal(weir_column_append_null(&c[5]), 0);
    assert_int_equal(weir_column_append_null(&c[6]), 0);
    assert_int_equal(weir_column_append_bool(&c[7], false), 0);
    assert_int_equal(weir_column_append_bytes(&c[8].children[0], "Berlin", 6), 0);
    assert_int_equal(weir_column_append_null(&c[8].children[1]), 0);
    assert_int_equal(weir_column_append_struct(&c[8], true), 0);
    /* row 2: mostly null */
    assert_int_equal(weir_column_append_i64(&c[0], 3), 0);
    for (int i = 1; i < 8; i++)
        assert_int_equal(weir_column_append_null(&c[i]), 0);
    assert_int_equal(weir_column_append_null(&c[8]), 0);
    /* row 3 */
    assert_int_equal(weir_column_append_i64(&c[0], 4), 0);
    assert_int_equal(weir_column_append_f64(&c[1], 200.5), 0);
    assert_int_equal(weir_column_append_bytes(&c[2], " Ab\xc3\xa9 ", 6), 0);
    assert_int_equal(weir_column_append_i64(&c[3], TS0 + INT64_C(86400000000) * 40 + 1500000), 0);
    assert_int_equal(weir_column_append_i32(&c[4], -1), 0); /* 1969-12-31 */
    assert_int_equal(weir_column_append_i128(&c[5], -500), 0);
    assert_int_equal(weir_column_append_i32(&c[6], -7), 0);
    assert_int_equal(weir_column_append_null(&c[7]), 0);
    assert_int_equal(weir_column_append_bytes(&c[8].children[0], "Lyon", 4), 0);
    assert_int_equal(weir_column_append_i32(&c[8].children[1], 69001), 0);
    assert_int_equal(weir_column_append_struct(&c[8], true), 0);
    assert_int_equal(weir_batch_finish_rows(b), 0);
    assert_int_equal(b->nrows, 4);
    return b;
}

/* Evaluate `text` over the test batch; rows as text joined by '|'. */
static char *show_err(const char *text, struct weir_error *err)
{
    struct weir_batch *b = make_batch();
    char *wrapped = weir_asprintf("CAST((%s) AS STRING)", text);
    struct weir_expr *e = NULL;
    struct weir_batch *out = NULL;
    char *res = NULL;
    int rc = weir_expr_parse(wrapped, &e, err);
    if (rc == 0)
        rc = weir_expr_bind(e, b->schema, err);
    if (rc == 0)
        rc = weir_expr_eval(e, b, TS0, &out, err);
    if (rc == 0) {
        char buf[1024] = "";
        const struct weir_column *c = &out->columns[0];
        assert_int_equal(out->nrows, 4);
        for (size_t r = 0; r < out->nrows; r++) {
            size_t l;
            const uint8_t *s = weir_column_bytes(c, r, &l);
            if (r)
                strcat(buf, "|");
            if (!weir_column_is_valid(c, r))
                strcat(buf, "NULL");
            else
                strncat(buf, (const char *)s, l);
        }
        res = weir_strdup(buf);
    }
    weir_batch_destroy(out);
    weir_expr_destroy(e);
    weir_free(wrapped);
    weir_batch_destroy(b);
    return res;
}

#define EXPECT(text, want)                                        \
    do {                                                          \
        struct weir_error err_ = {0};                             \
        char *got_ = show_err(text, &err_);                       \
        if (got_ == NULL)                                         \
            fail_msg("%s: %s", text, err_.message);               \
        if (strcmp(got_, want) != 0)                              \
            fail_msg("%s: got [%s] want [%s]", text, got_, want); \
        weir_free(got_);                                          \
    } while (0)

static void expect_error(const char *text, int code, const char *msg)
{
    struct weir_error err = {0};
    char *got = show_err(text, &err);
    if (got != NULL)
        fail_msg("%s: expected an error, got [%s]", text, got);
    assert_int_equal(err.code, code);
    if (strstr(err.message, msg) == NULL)
        fail_msg("%s: message [%s] lacks [%s]", text, err.message, msg);
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct weir_expr *e = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_expr_parse("amount >> 0", &e, &err), WEIR_EPARSE);
    assert_null(e);
    assert_string_equal(err.message, "amount >> 0: unexpected '>' at column 9");
    weir_error_clear(&err);
    assert_int_equal(weir_expr_parse("amount > ", &e, &err), WEIR_EPARSE);
    assert_non_null(strstr(err.message, "unexpected end of expression at column 10"));
    weir_error_clear(&err);
    assert_int_equal(weir_expr_parse("'abc", &e, &err), WEIR_EPARSE);
    weir_error_clear(&err);
    assert_int_equal(weir_expr_parse("nosuch(1)", &e, &err), WEIR_EPARSE);
    assert_non_null(strstr(err.message, "unknown function 'nosuch' at column 1"));
    weir_error_clear(&err);
    assert_int_equal(weir_expr_parse("CAST(x AS WIBBLE)", &e, &err), WEIR_EPARSE);
    assert_non_null(strstr(err.message, "bad type 'WIBBLE'"));
    weir_error_clear(&err);
    assert_int_equal(weir_expr_parse("DATE '2024-02-30'", &e, &err), WEIR_EPARSE);
    weir_error_clear(&err);
    assert_int_equal(weir_expr_parse("a IS b", &e, &err), WEIR_EPARSE);
    weir_error_clear(&err);
    assert_int_equal(weir_expr_parse("(a + 1", &e, &err), WEIR_EPARSE);
    weir_error_clear(&err);
    assert_int_equal(weir_expr_parse("a ! b", &e, &err), WEIR_EPARSE);
    weir_error_clear(&err);
    assert_int_equal(weir_expr_parse("substring('a')", &e, &err), WEIR_EPARSE);
    weir_error_clear(&err);
    assert_int_equal(weir_expr_parse("a NOT b", &e, &err), WEIR_EPARSE);
    assert_string_equal(err.message, "a NOT b: unexpected 'NOT' at column 3");
    weir_error_clear(&err);
    assert_int_equal(weir_expr_parse("a AS", &e, &err), WEIR_EPARSE);
    assert_string_equal(err.message, "a AS: unexpected end of expression at column 5");
    /* deep nesting is refused, not a stack overflow */
    char deep[2100];
    memset(deep, '(', 1000);
    strcpy(deep + 1000, "1");
    memset(deep + 1001, ')', 1000);
    deep[2001] = '\0';
    weir_error_clear(&err);
    assert_int_equal(weir_expr_parse(deep, &e, &err), WEIR_EPARSE);
    if (strstr(err.message, "nested too deeply") == NULL)
        fail_msg("%s", err.message);
}

static void test_names_and_alias(void **state)
{
    (void)state;
    struct weir_expr *e = NULL;
    assert_int_equal(weir_expr_parse("CAST(ts AS DATE) AS day", &e, NULL), 0);
    assert_string_equal(weir_expr_name(e), "day");
    weir_expr_destroy(e);
    assert_int_equal(weir_expr_parse(" `User` ", &e, NULL), 0);
    assert_string_equal(weir_expr_name(e), "User");
    weir_expr_destroy(e);
    assert_int_equal(weir_expr_parse("amount * 2 ", &e, NULL), 0);
    assert_string_equal(weir_expr_name(e), "amount * 2");
    weir_expr_destroy(e);
    assert_int_equal(weir_expr_parse("*", &e, NULL), 0);
    assert_string_equal(weir_expr_name(e), "*");
    weir_expr_destroy(e);
    weir_expr_destroy(NULL);
}

static void test_precedence_and_arith(void **state)
{
    (void)state;
    EXPECT("1 + 2 * 3", "7|7|7|7");
    EXPECT("(1 + 2) * 3", "9|9|9|9");
    EXPECT("-2 * 3 - 1", "-7|-7|-7|-7");
    EXPECT("7 % 3 + 10 / 4", "3.5|3.5|3.5|3.5");
    EXPECT("id * 10 + n", "20|NULL|NULL|33");
    EXPECT("amount / 2", "75.0|25.0|NULL|100.25");
    EXPECT("id / 0", "NULL|NULL|NULL|NULL");
    EXPECT("id % 0", "NULL|NULL|NULL|NULL");
    EXPECT("1.5 + id", "2.5|3.5|4.5|5.5");
    EXPECT("1e2", "100.0|100.0|100.0|100.0");
    EXPECT("price + 1", "13.34|NULL|NULL|-4.00");
    EXPECT("price * price", "152.2756|NULL|NULL|25.0000");
    EXPECT("price - 0.5", "11.84|NULL|NULL|-5.5");
    EXPECT("-price", "-12.34|NULL|NULL|5.00");
    EXPECT("NULL + 1", "NULL|NULL|NULL|NULL");
    EXPECT("9223372036854775807 + id", "-9223372036854775808|-9223372036854775807|-9223372036854775806|"
                                       "-9223372036854775805");
}

static void test_compare_and_logic(void **state)
{
    (void)state;
    EXPECT("amount > 100", "true|false|NULL|true");
    EXPECT("amount >= 150 AND amount <= 150", "true|false|NULL|false");
    EXPECT("id = 2 OR id == 3", "false|true|true|false");
    EXPECT("id != 2", "true|false|true|true");
    EXPECT("id <> 2 AND NOT id < 2", "false|false|true|true");
    EXPECT("country = 'C01'", "true|false|NULL|false");
    EXPECT("country < 'C02'", "true|false|NULL|true");
    EXPECT("n > 0 AND amount > 0", "true|NULL|NULL|false");
    EXPECT("n > 0 OR amount > 0", "true|true|NULL|true");
    EXPECT("NULL AND FALSE", "false|false|false|false");
    EXPECT("NULL OR TRUE", "true|true|true|true");
    EXPECT("NOT flag", "false|true|NULL|NULL");
    EXPECT("flag IS NULL", "false|false|true|true");
    EXPECT("flag IS NOT NULL", "true|true|false|false");
    EXPECT("country IN ('C01', 'C02')", "true|true|NULL|false");
    EXPECT("country NOT IN ('C01', 'C02')", "false|false|NULL|true");
    EXPECT("id IN (1, NULL)", "true|NULL|NULL|NULL");
    EXPECT("id BETWEEN 2 AND 3", "false|true|true|false");
    EXPECT("id NOT BETWEEN 2 AND 3", "true|false|false|true");
    EXPECT("n BETWEEN 0 AND 100", "true|NULL|NULL|false");
    EXPECT("price > 10", "true|NULL|NULL|false");
    EXPECT("price = 12.34", "true|NULL|NULL|false");
    EXPECT("d = DATE '2024-02-29'", "false|true|NULL|false");
    EXPECT("ts >= TIMESTAMP '2024-01-01 10:30:00'", "true|NULL|NULL|true");
    EXPECT("ts > '2024-01-02'", "false|NULL|NULL|true");
    EXPECT("d < ts", "true|NULL|NULL|true");
    EXPECT("country LIKE 'C0%'", "true|true|NULL|false");
    EXPECT("country LIKE '_0_'", "true|true|NULL|false");
    EXPECT("country NOT LIKE '%1'", "false|true|NULL|true");
    EXPECT("country LIKE ' A_\xc3\xa9%'", "false|false|NULL|true");
    EXPECT("country LIKE ' Ab_ '", "false|false|NULL|true");
    EXPECT("'a%b' LIKE 'a\\%b'", "true|true|true|true");
    EXPECT("'axb' LIKE 'a\\%b'", "false|false|false|false");
}

static void test_columns_case_and_nested(void **state)
{
    (void)state;
    EXPECT("ID + `id`", "2|4|6|8");
    EXPECT("addr.city", "Paris|Berlin|NULL|Lyon");
    EXPECT("ADDR.ZIP + 1", "75002|NULL|NULL|69002");
    EXPECT("CASE WHEN id = 1 THEN 'one' WHEN id = 2 THEN 'two' ELSE 'many' END", "one|two|many|many");
    EXPECT("CASE WHEN amount > 100 THEN amount END", "150.0|NULL|NULL|200.5");
    EXPECT("CASE WHEN n > 0 THEN n ELSE 0.5 END", "10.0|0.5|0.5|0.5");
}

static void test_cast(void **state)
{
    (void)state;
    EXPECT("CAST(ts AS DATE)", "2024-01-01|NULL|NULL|2024-02-10");
    EXPECT("CAST(d AS TIMESTAMP)", "2024-01-01 00:00:00|2024-02-29 00:00:00|NULL|1969-12-31 00:00:00");
    EXPECT("CAST(amount AS INT)", "150|50|NULL|200");
    EXPECT("CAST('12' AS INT) + CAST('x' AS INT)", "NULL|NULL|NULL|NULL");
    EXPECT("CAST(' 12 ' AS BIGINT)", "12|12|12|12");
    EXPECT("CAST('3.75' AS DECIMAL(5,1))", "3.8|3.8|3.8|3.8");
    EXPECT("CAST(price AS DOUBLE)", "12.34|NULL|NULL|-5.0");
    EXPECT("CAST(price AS DECIMAL(4,1))", "12.3|NULL|NULL|-5.0");
    EXPECT("CAST(amount AS DECIMAL(3,0))", "150|50|NULL|201");
    EXPECT("CAST(amount AS DECIMAL(2,0))", "NULL|50|NULL|NULL");
    EXPECT("CAST('true' AS BOOLEAN)", "true|true|true|true");
    EXPECT("CAST(n AS TINYINT)", "10|NULL|NULL|-7");
    EXPECT("CAST(300 AS TINYINT)", "44|44|44|44");
    EXPECT("CAST('2024-03-01T12:00:00Z' AS TIMESTAMP)", "2024-03-01 12:00:00|2024-03-01 12:00:00|"
                                                        "2024-03-01 12:00:00|2024-03-01 12:00:00");
    EXPECT("CAST(ts AS STRING)", "2024-01-01 10:30:00|NULL|NULL|2024-02-10 10:30:01.5");
}

static void test_functions(void **state)
{
    (void)state;
    EXPECT("lower(country)", "c01|c02|NULL| ab\xc3\xa9 ");
    EXPECT("UPPER(country)", "C01|C02|NULL| AB\xc3\xa9 ");
    EXPECT("concat('[', trim(country), ']')", "[C01]|[C02]|NULL|[Ab\xc3\xa9]");
    EXPECT("length(country)", "3|3|NULL|5");
    EXPECT("substring(country, 2)", "01|02|NULL|Ab\xc3\xa9 ");
    EXPECT("substring(country, 2, 1)", "0|0|NULL|A");
    EXPECT("substring(country, -2, 1)", "0|0|NULL|\xc3\xa9");
    EXPECT("substring('abc', -4, 5)", "abc|abc|abc|abc"); /* found by fuzz_expr: start before the string */
    EXPECT("substring('abc', 0, 2)", "ab|ab|ab|ab");
    EXPECT("substring('abc', 2, -1)", "|||");
    EXPECT("concat(country, id)", "C011|C022|NULL| Ab\xc3\xa9 4");
    EXPECT("coalesce(n, id * 100)", "10|200|300|-7");
    EXPECT("coalesce(country, 'none')", "C01|C02|none| Ab\xc3\xa9 ");
    EXPECT("coalesce(NULL, NULL, price)", "12.34|NULL|NULL|-5.00");
    EXPECT("abs(n)", "10|NULL|NULL|7");
    EXPECT("abs(price)", "12.34|NULL|NULL|5.00");
    EXPECT("round(amount / 3, 2)", "50.0|16.67|NULL|66.83");
    EXPECT("round(1234, -2)", "1200|1200|1200|1200");
    EXPECT("floor(amount / 3)", "50|16|NULL|66");
    EXPECT("ceil(-amount / 3)", "-50|-16|NULL|-66");
    EXPECT("to_date('2024-05-06')", "2024-05-06|2024-05-06|2024-05-06|2024-05-06");
    EXPECT("to_timestamp('2024-05-06 07:08:09')", "2024-05-06 07:08:09|2024-05-06 07:08:09|2024-05-06 "
                                                  "07:08:09|2024-05-06 07:08:09");
    EXPECT("to_date('garbage')", "NULL|NULL|NULL|NULL");
    EXPECT("date_trunc('month', ts)", "2024-01-01 00:00:00|NULL|NULL|2024-02-01 00:00:00");
    EXPECT("date_trunc('HOUR', ts)", "2024-01-01 10:00:00|NULL|NULL|2024-02-10 10:00:00");
    EXPECT("date_trunc('week', ts)", "2024-01-01 00:00:00|NULL|NULL|2024-02-05 00:00:00");
    EXPECT("year(d) * 10000 + month(d) * 100 + day(d)", "20240101|20240229|NULL|19691231");
    EXPECT("hour(ts)", "10|NULL|NULL|10");
    EXPECT("current_timestamp()", "2024-01-01 10:30:00|2024-01-01 10:30:00|2024-01-01 10:30:00|2024-01-01 "
                                  "10:30:00");
}

static void test_bind_errors(void **state)
{
    (void)state;
    expect_error("amout > 0", WEIR_ESCHEMA, "unknown column 'amout' (did you mean 'amount'?)");
    expect_error("zzzzzz > 0", WEIR_ESCHEMA, "unknown column 'zzzzzz'");
    expect_error("country > id", WEIR_ESCHEMA, "cannot compare string with long");
    expect_error("country + 1", WEIR_ESCHEMA, "cannot apply + to string and long");
    expect_error("addr.nope", WEIR_ESCHEMA, "unknown column 'nope'");
    expect_error("id.x", WEIR_ESCHEMA, "not a struct");
    expect_error("id AND flag", WEIR_ESCHEMA, "AND needs a boolean, got long");
    expect_error("CAST(d AS INT)", WEIR_ESCHEMA, "cannot cast date to int");
    expect_error("lower(id)", WEIR_ESCHEMA, "expects a string");
    expect_error("CASE WHEN flag THEN 1 ELSE 'x' END", WEIR_ESCHEMA, "CASE branches mix");
    expect_error("date_trunc('fortnight', ts)", WEIR_ESCHEMA, "unknown unit 'fortnight'");
}

static struct weir_expr *bound(const char *text, const struct weir_batch *b)
{
    struct weir_expr *e = NULL;
    struct weir_error err = {0};
    if (weir_expr_parse(text, &e, &err) != 0 || weir_expr_bind(e, b->schema, &err) != 0)
        fail_msg("%s: %s", text, err.message);
    return e;
}

static void test_bind_types(void **state)
{
    (void)state;
    struct weir_batch *b = make_batch();
    struct weir_expr *bad = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_expr_parse("id + amout", &bad, &err), 0);
    assert_int_equal(weir_expr_bind(bad, b->schema, &err), WEIR_ESCHEMA);
    assert_string_equal(err.message, "unknown column 'amout' (did you mean 'amount'?) at column 6");
    weir_expr_destroy(bad);
    struct {
        const char *text, *type;
    } cases[] = {
        {"n + 1", "long"},
        {"n + amount", "double"},
        {"id / 2", "double"},
        {"price + n", "decimal(13,2)"},
        {"price * price", "decimal(38,4)"},
        {"length(country)", "int"},
        {"CAST(ts AS DATE)", "date"},
        {"amount > 1", "boolean"},
        {"addr.zip", "int"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct weir_expr *e = bound(cases[i].text, b);
        char *d = weir_type_to_display(weir_expr_type(e));
        if (strcmp(d, cases[i].type) != 0)
            fail_msg("%s: type %s, want %s", cases[i].text, d, cases[i].type);
        weir_free(d);
        weir_expr_destroy(e);
    }
    weir_batch_destroy(b);
}

static void test_filter(void **state)
{
    (void)state;
    struct weir_batch *b = make_batch(), *out = NULL;
    struct weir_expr *e = bound("amount > 100 AND country IN ('C01','C02') OR id = 4", b);
    uint32_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(weir_expr_filter(e, b, 0, &rows, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0], 0);
    assert_int_equal(rows[1], 3);
    weir_free(rows);
    assert_int_equal(weir_expr_filter_batch(e, b, 0, &out, NULL), 0);
    assert_int_equal(out->nrows, 2);
    assert_int_equal(out->ncolumns, b->ncolumns);
    assert_int_equal(weir_column_i64(&out->columns[0], 1), 4);
    size_t l;
    const uint8_t *s = weir_column_bytes(&out->columns[8].children[0], 1, &l);
    assert_int_equal(l, 4);
    assert_memory_equal(s, "Lyon", 4);
    weir_batch_destroy(out);
    weir_expr_destroy(e);
    /* a non-boolean predicate is refused */
    e = bound("id + 1", b);
    struct weir_error err = {0};
    assert_int_equal(weir_expr_filter(e, b, 0, &rows, &n, &err), WEIR_ESCHEMA);
    weir_expr_destroy(e);
    /* NULL counts as false */
    e = bound("flag", b);
    assert_int_equal(weir_expr_filter(e, b, 0, &rows, &n, NULL), 0);
    assert_int_equal(n, 1);
    weir_free(rows);
    weir_expr_destroy(e);
    weir_batch_destroy(b);
}

static void test_project(void **state)
{
    (void)state;
    struct weir_batch *b = make_batch(), *out = NULL;
    struct weir_expr *ex[4];
    ex[0] = bound("id", b);
    ex[1] = bound("CAST(ts AS DATE) AS day", b);
    ex[2] = bound("addr", b);
    ex[3] = bound("price * 2 AS p2", b);
    struct weir_error err = {0};
    assert_int_equal(weir_expr_project(ex, 4, b, 0, &out, &err), 0);
    assert_int_equal(out->ncolumns, 4);
    assert_int_equal(out->nrows, 4);
    assert_string_equal(out->schema->fields[0].name, "id");
    assert_string_equal(out->schema->fields[1].name, "day");
    assert_int_equal(out->schema->fields[1].type->kind, WEIR_TYPE_DATE);
    assert_int_equal(weir_column_i32(&out->columns[1], 0), 19723);
    assert_false(weir_column_is_valid(&out->columns[1], 1));
    assert_int_equal(out->schema->fields[2].type->kind, WEIR_TYPE_STRUCT);
    assert_false(weir_column_is_valid(&out->columns[2], 2));
    assert_true(((const weir_i128 *)out->columns[3].data)[0] == 2468);
    weir_batch_destroy(out);
    for (int i = 0; i < 4; i++)
        weir_expr_destroy(ex[i]);
    struct weir_expr *star = bound("*", b);
    struct weir_expr *two[2] = {star, bound("id * 2 AS twice", b)};
    assert_int_equal(weir_expr_project(two, 2, b, 0, &out, NULL), 0);
    assert_int_equal(out->ncolumns, b->ncolumns + 1);
    assert_string_equal(out->schema->fields[b->ncolumns].name, "twice");
    assert_int_equal(weir_column_i64(&out->columns[b->ncolumns], 3), 8);
    weir_batch_destroy(out);
    weir_expr_destroy(two[0]);
    weir_expr_destroy(two[1]);
    /* evaluating an unbound expression is an error, not a crash */
    struct weir_expr *e = NULL;
    assert_int_equal(weir_expr_parse("id", &e, NULL), 0);
    assert_int_equal(weir_expr_eval(e, b, 0, &out, &err), WEIR_ESTATE);
    weir_expr_destroy(e);
    weir_batch_destroy(b);
}

/* Operators that work in place never touch the input batch, and a bound
 * expression can be evaluated again with the same result. */
static void test_input_unchanged(void **state)
{
    (void)state;
    struct weir_batch *b = make_batch(), *out = NULL;
    struct weir_expr *e = bound("-amount + abs(-id) + year(ts) + CASE WHEN country = 'C01' THEN 1 END", b);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(weir_expr_eval(e, b, 0, &out, NULL), 0);
        assert_true(weir_column_f64(&out->columns[0], 0) == -150.0 + 1 + 2024 + 1);
        assert_false(weir_column_is_valid(&out->columns[0], 1));
        weir_batch_destroy(out);
    }
    assert_true(weir_column_f64(&b->columns[1], 0) == 150.0);
    assert_int_equal(weir_column_i64(&b->columns[0], 0), 1);
    assert_int_equal(weir_column_i64(&b->columns[3], 0), TS0);
    /* rebinding to another schema resolves the columns again */
    struct weir_type *other = NULL;
    assert_int_equal(
        weir_schema_from_ddl("ts TIMESTAMP, country STRING, id INT, amount DECIMAL(5,1)", &other, NULL), 0);
    assert_int_equal(weir_expr_bind(e, other, NULL), 0);
    char *d = weir_type_to_display(weir_expr_type(e));
    assert_string_equal(d, "decimal(21,1)"); /* ((5,1) + int: 12,1) + int: 13,1) + long */
    weir_free(d);
    weir_type_destroy(other);
    weir_expr_destroy(e);
    /* the DESIGN.md example steps */
    e = bound("amount > 0", b);
    assert_int_equal(weir_expr_filter_batch(e, b, 0, &out, NULL), 0);
    assert_int_equal(out->nrows, 3);
    weir_batch_destroy(out);
    weir_expr_destroy(e);
    weir_batch_destroy(b);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    const char *text = "CASE WHEN country LIKE 'C%' THEN concat(upper(country), '-', CAST(price AS STRING)) "
                       "ELSE coalesce(addr.city, 'x') END AS label";
    for (long n = 0; n < 400; n++) {
        struct weir_batch *b = make_batch(), *out = NULL;
        struct weir_expr *e = NULL;
        weir_alloc_fail_after(n);
        int rc = weir_expr_parse(text, &e, NULL);
        if (rc == 0)
            rc = weir_expr_bind(e, b->schema, NULL);
        if (rc == 0)
            rc = weir_expr_eval(e, b, 0, &out, NULL);
        weir_alloc_fail_after(-1);
        if (rc != 0)
            assert_int_equal(rc, WEIR_ENOMEM);
        weir_batch_destroy(out);
        weir_expr_destroy(e);
        weir_batch_destroy(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_names_and_alias),
        cmocka_unit_test(test_precedence_and_arith),
        cmocka_unit_test(test_compare_and_logic),
        cmocka_unit_test(test_columns_case_and_nested),
        cmocka_unit_test(test_cast),
        cmocka_unit_test(test_functions),
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_bind_types),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_project),
        cmocka_unit_test(test_input_unchanged),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
