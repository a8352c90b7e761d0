/* tests/unit/test_csv.c - formats/csv: splitting records (quotes, escapes,
 * multi-line fields, CRLF, malformed records, any chunking), values by
 * type, and inference. */
#include "test_util.h"

#include "core/batch.h"
#include "formats/csv.h"

/* Records rendered as "line:field|field|...[!reason]\n". */
struct collect {
    char out[8192];
    size_t len;
};

static int on_rec(void *ctx, const struct weir_csv_record *rec, struct weir_error *err)
{
    (void)err;
    struct collect *c = ctx;
    c->len +=
        (size_t)snprintf(c->out + c->len, sizeof c->out - c->len, "%llu:", (unsigned long long)rec->line);
    for (size_t i = 0; i < rec->nfields; i++)
        c->len += (size_t)snprintf(c->out + c->len, sizeof c->out - c->len, "%s%s%.*s", i ? "|" : "",
                                   rec->fields[i].quoted ? "Q" : "", (int)rec->fields[i].n, rec->fields[i].p);
    if (rec->malformed)
        c->len += (size_t)snprintf(c->out + c->len, sizeof c->out - c->len, "!%s [%.*s]", rec->malformed,
                                   (int)rec->raw_len, rec->raw);
    c->len += (size_t)snprintf(c->out + c->len, sizeof c->out - c->len, "\n");
    return 0;
}

/* Split `text` whole and byte by byte; both must give `want`. */
static void check_split(const struct weir_csv_options *o, const char *text, const char *want)
{
    struct weir_csv_reader *r;
    struct weir_error err = {0};
    assert_int_equal(weir_csv_reader_create(&r, o, &err), 0);
    struct collect whole = {0}, bytes = {0};
    assert_int_equal(weir_csv_feed(r, text, strlen(text), true, on_rec, &whole, &err), 0);
    weir_csv_reader_reset(r);
    for (size_t i = 0; text[i]; i++)
        assert_int_equal(weir_csv_feed(r, text + i, 1, false, on_rec, &bytes, &err), 0);
    assert_int_equal(weir_csv_feed(r, "", 0, true, on_rec, &bytes, &err), 0);
    weir_csv_reader_destroy(r);
    assert_string_equal(whole.out, want);
    assert_string_equal(bytes.out, want);
}

static void test_split(void **state)
{
    (void)state;
    struct weir_csv_options o;
    weir_csv_options_default(&o);
    check_split(&o, "a,b,c\n1,,3\n", "1:a|b|c\n2:1||3\n");
    /* BOM, CRLF, blank lines, no final newline */
    check_split(&o, "\xEF\xBB\xBFx,y\r\n\r\n1,2\r\n\n3,4", "1:x|y\n3:1|2\n5:3|4\n");
    /* quoted: delimiter, newline, doubled quote, escape, empty quoted */
    check_split(&o, "\"a,b\",\"line1\nline2\",\"say \"\"hi\"\"\",\"q\\\"x\",\"\"\nz,1,2,3,4\n",
                "1:Qa,b|Qline1\nline2|Qsay \"hi\"|Qq\"x|Q\n3:z|1|2|3|4\n");
    /* a quote inside an unquoted field is text; CR inside quotes is kept */
    check_split(&o, "ab\"c,\"x\r\ny\"\r\n", "1:ab\"c|Qx\r\ny\n");
    /* text after the closing quote; a quote never closed */
    check_split(&o, "\"ab\"cd,e\n\"open,1\n2\n",
                "1:Qabcd|e!text after a closing quote [\"ab\"cd,e]\n"
                "2:Qopen,1\n2\n!quoted field not closed at the end of the file [\"open,1\n2\n]\n");
    /* other delimiter, quote = escape (only doubling) */
    struct weir_csv_options t = o;
    t.delimiter = '\t';
    t.quote = '\'';
    t.escape = '\'';
    check_split(&t, "a\t'b''c'\t'\\'\n", "1:a|Qb'c|Q\\\n");
}

/* One stray quote does not swallow the file: past max_record the first
 * line is the bad record and the lines after it are records again. */
static void test_stray_quote(void **state)
{
    (void)state;
    struct weir_csv_options o;
    weir_csv_options_default(&o);
    o.max_record = 64;
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text, "1,\"oops\n");
    for (int i = 2; i <= 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%d,x\n", i);
    struct weir_csv_reader *r;
    struct weir_error err = {0};
    assert_int_equal(weir_csv_reader_create(&r, &o, &err), 0);
    struct collect c = {0};
    assert_int_equal(weir_csv_feed(r, text, n, true, on_rec, &c, &err), 0);
    weir_csv_reader_destroy(r);
    assert_non_null(strstr(c.out, "1:!quoted field not closed within the record size limit [1,\"oops]\n"));
    /* every later line is a record of its own, with its own line number */
    for (int i = 2; i <= 40; i++) {
        char want[32];
        snprintf(want, sizeof want, "\n%d:%d|x\n", i, i);
        if (!strstr(c.out, want))
            fail_msg("missing %s in %s", want, c.out);
    }
    /* one line longer than the limit: its start is kept, the next line is read */
    weir_csv_options_default(&o);
    o.max_record = 8;
    check_split(&o, "aaaaaaaaaaaaaaaa\nb,c\n",
                "1:aaaaaaaaa!line longer than 8 bytes (only its start is kept) [aaaaaaaaa]\n2:b|c\n");
}

static void test_values(void **state)
{
    (void)state;
    struct weir_type *s = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_schema_parse("b BOOLEAN, i INT, l LONG, d DOUBLE, m DECIMAL(6,2), dt DATE, "
                                       "ts TIMESTAMP, s STRING",
                                       &s, &err),
                     0);
    struct weir_batch *b = weir_batch_create(s);
    struct weir_csv_options o;
    weir_csv_options_default(&o);
    o.null_value = "NA";
    const char *good[] = {" TRUE ",
                          "-12",
                          "9007199254740993",
                          "1e3",
                          "12.50",
                          "2024-02-29",
                          "2024-01-02T03:04:05.5+01:00",
                          " keep spaces "};
    char why[128];
    for (size_t i = 0; i < 8; i++) {
        struct weir_csv_field f = {good[i], strlen(good[i]), false};
        assert_int_equal(weir_csv_append_value(&b->columns[i], &o, &f, why, sizeof why), 0);
    }
    /* null_value only when unquoted */
    struct weir_csv_field na = {"NA", 2, false}, qna = {"NA", 2, true}, empty = {"", 0, false};
    assert_int_equal(weir_csv_append_value(&b->columns[7], &o, &na, why, sizeof why), 0);
    assert_int_equal(weir_csv_append_value(&b->columns[7], &o, &qna, why, sizeof why), 0);
    assert_int_equal(weir_csv_append_value(&b->columns[7], &o, &empty, why, sizeof why), 0);
    assert_true(weir_column_is_valid(&b->columns[0], 0));
    assert_true(((const uint8_t *)b->columns[0].data)[0] != 0);
    assert_int_equal(weir_column_i32(&b->columns[1], 0), -12);
    assert_int_equal(weir_column_i64(&b->columns[2], 0), 9007199254740993LL);
    assert_true(weir_column_f64(&b->columns[3], 0) == 1000.0);
    assert_true(((const weir_i128 *)b->columns[4].data)[0] == 1250);
    assert_int_equal(weir_column_i64(&b->columns[6], 0), 1704161045500000LL);
    size_t n;
    const uint8_t *p = weir_column_bytes(&b->columns[7], 0, &n);
    assert_int_equal(n, 13);
    assert_memory_equal(p, " keep spaces ", 13);
    assert_false(weir_column_is_valid(&b->columns[7], 1));
    assert_true(weir_column_is_valid(&b->columns[7], 2));
    assert_false(weir_column_is_valid(&b->columns[7], 3)); /* empty and unquoted: null too */
    /* values that do not fit name the type; nothing is appended */
    struct {
        int col;
        const char *text, *why;
    } bad[] = {{0, "yes", "not a valid boolean"},
               {1, "3000000000", "not a valid int"},
               {1, "1.5", "not a valid int"},
               {3, "0x10", "not a valid double"},
               {4, "12.345", "does not fit decimal(6,2)"},
               {5, "2023-02-29", "not a valid date"},
               {6, "noon", "not a valid timestamp"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct weir_csv_field f = {bad[i].text, strlen(bad[i].text), false};
        size_t before = b->columns[bad[i].col].length;
        assert_int_equal(weir_csv_append_value(&b->columns[bad[i].col], &o, &f, why, sizeof why),
                         WEIR_EPARSE);
        assert_string_equal(why, bad[i].why);
        assert_int_equal(b->columns[bad[i].col].length, before);
    }
    weir_batch_destroy(b);
    weir_type_destroy(s);
}

static void test_infer(void **state)
{
    (void)state;
    struct weir_csv_options o;
    weir_csv_options_default(&o);
    struct {
        const char *vals[4];
        enum weir_csv_kind want;
    } cases[] = {
        {{"1", "-2", "", NULL}, WEIR_CSV_LONG},
        {{"1", "2.5", NULL}, WEIR_CSV_DOUBLE},
        {{"true", "FALSE", NULL}, WEIR_CSV_BOOL},
        {{"1", "true", NULL}, WEIR_CSV_STRING},
        {{"", "", NULL}, WEIR_CSV_NONE},
        {{"1e5", "x", "2", NULL}, WEIR_CSV_STRING},
        {{"99999999999999999999", NULL}, WEIR_CSV_DOUBLE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum weir_csv_kind k = WEIR_CSV_NONE;
        for (size_t j = 0; cases[i].vals[j]; j++) {
            struct weir_csv_field f = {cases[i].vals[j], strlen(cases[i].vals[j]), false};
            k = weir_csv_infer_kind(k, &o, &f);
        }
        assert_int_equal(k, cases[i].want);
    }
    struct weir_type *t = weir_csv_kind_type(WEIR_CSV_NONE);
    assert_int_equal(t->kind, WEIR_TYPE_STRING);
    weir_type_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_stray_quote),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_infer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
