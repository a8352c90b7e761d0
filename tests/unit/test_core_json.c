/* tests/unit/test_core_json.c - the shared JSON tokenizer and tape parser
 * (core/json.h): hex digits, UTF-8, string and number tokens, unescaping,
 * tape shape, error codes and positions, depth limit, prefix parsing and
 * allocation failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"

static void test_hexval(void **state)
{
    (void)state;
    assert_int_equal(weir_json_hexval('0'), 0);
    assert_int_equal(weir_json_hexval('9'), 9);
    assert_int_equal(weir_json_hexval('a'), 10);
    assert_int_equal(weir_json_hexval('F'), 15);
    assert_int_equal(weir_json_hexval('g'), -1);
    assert_int_equal(weir_json_hexval('\0'), -1);
    assert_int_equal(weir_json_hexval(0xC3), -1);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_int_equal(weir_json_utf8_len((const unsigned char *)"a", 1), 1);
    assert_int_equal(weir_json_utf8_len((const unsigned char *)"\xC3\xA9", 2), 2);
    assert_int_equal(weir_json_utf8_len((const unsigned char *)"\xC3", 1), 0);             /* truncated */
    assert_int_equal(weir_json_utf8_len((const unsigned char *)"\xC0\x80", 2), 0);         /* overlong */
    assert_int_equal(weir_json_utf8_len((const unsigned char *)"\xED\xA0\x80", 3), 0);     /* surrogate */
    assert_int_equal(weir_json_utf8_len((const unsigned char *)"\xF0\x9F\x98\x80", 4), 4); /* emoji */
    assert_int_equal(weir_json_utf8_len((const unsigned char *)"\xF4\x90\x80\x80", 4), 0); /* > U+10FFFF */
    uint8_t u[4];
    assert_int_equal(weir_json_utf8_put(0x41, u), 1);
    assert_int_equal(weir_json_utf8_put(0xE9, u), 2);
    assert_memory_equal(u, "\xC3\xA9", 2);
    assert_int_equal(weir_json_utf8_put(0x20AC, u), 3);
    assert_memory_equal(u, "\xE2\x82\xAC", 3);
    assert_int_equal(weir_json_utf8_put(0x1F600, u), 4);
    assert_memory_equal(u, "\xF0\x9F\x98\x80", 4);
}

static void test_string_token(void **state)
{
    (void)state;
    const char *s = "\"abc\\n\\u00e9 long enough to use the word loop\" tail";
    size_t pos = 1;
    bool esc = false;
    assert_int_equal(weir_jtok_string(s, strlen(s), &pos, WEIR_JTOK_CHECK_UTF8, &esc), 0);
    assert_true(esc);
    assert_int_equal(s[pos], '"');
    assert_string_equal(s + pos, "\" tail");

    s = "\"plain\"";
    pos = 1;
    assert_int_equal(weir_jtok_string(s, strlen(s), &pos, 0, &esc), 0);
    assert_false(esc);
    assert_int_equal(pos, 6);

    struct {
        const char *text;
        unsigned flags;
        int code;
        size_t pos;
    } bad[] = {
        {"\"abc", 0, WEIR_JTOK_EUNTERMINATED, 4},    {"\"abcdefghijklmnop", 0, WEIR_JTOK_EUNTERMINATED, 17},
        {"\"ab\\", 0, WEIR_JTOK_EUNTERMINATED, 3},   {"\"ab\\x\"", 0, WEIR_JTOK_EESCAPE, 3},
        {"\"ab\\u12g4\"", 0, WEIR_JTOK_EUESCAPE, 3}, {"\"ab\\u12\"", 0, WEIR_JTOK_EUESCAPE, 3},
        {"\"a\tb\"", 0, WEIR_JTOK_ECONTROL, 2},      {"\"a\xFF\"", WEIR_JTOK_CHECK_UTF8, WEIR_JTOK_EUTF8, 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pos = 1;
        int rc = weir_jtok_string(bad[i].text, strlen(bad[i].text), &pos, bad[i].flags, NULL);
        if (rc != bad[i].code || pos != bad[i].pos)
            fail_msg("%s: got %d at %zu, want %d at %zu", bad[i].text, rc, pos, bad[i].code, bad[i].pos);
    }
    /* without the UTF-8 check, high bytes pass */
    pos = 1;
    assert_int_equal(weir_jtok_string("\"a\xFF\"", 4, &pos, 0, NULL), 0);
    assert_int_equal(pos, 3);
}

static void test_number_token(void **state)
{
    (void)state;
    struct {
        const char *text;
        int code;
        size_t end;
        bool isint;
    } cases[] = {
        {"0", 0, 1, true},
        {"-12,", 0, 3, true},
        {"12.50}", 0, 5, false},
        {"1e5", 0, 3, false},
        {"-0.0E-7 ", 0, 7, false},
        {"123456789012345678901234567890", 0, 30, true},
        {"01", 0, 1, true}, /* the number is "0"; the caller sees the '1' */
        {"-", WEIR_JTOK_ENUMBER, 1, false},
        {"1.", WEIR_JTOK_ENUMBER, 2, false},
        {"1.e3", WEIR_JTOK_ENUMBER, 2, false},
        {"1e", WEIR_JTOK_ENUMBER, 2, false},
        {"1e+", WEIR_JTOK_ENUMBER, 3, false},
        {"+1", WEIR_JTOK_ENUMBER, 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t pos = 0;
        bool isint = !cases[i].isint;
        int rc = weir_jtok_number(cases[i].text, strlen(cases[i].text), &pos, &isint);
        if (rc != cases[i].code || pos != cases[i].end)
            fail_msg("%s: got %d end %zu, want %d end %zu", cases[i].text, rc, pos, cases[i].code,
                     cases[i].end);
        if (rc == 0 && isint != cases[i].isint)
            fail_msg("%s: isint %d", cases[i].text, isint);
    }
}

static void test_unescape(void **state)
{
    (void)state;
    struct weir_buf b;
    weir_buf_init(&b);
    const char *s = "a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00";
    assert_int_equal(weir_json_unescape(s, strlen(s), 0, &b, NULL), 0);
    assert_int_equal(b.len, 21);
    assert_memory_equal(b.data, "a\"b\\c/d\b\f\n\r\t\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 21);

    size_t bad = 99;
    s = "ab\\ud800x";
    assert_int_equal(weir_json_unescape(s, strlen(s), 0, &b, &bad), WEIR_JTOK_ESURROGATE);
    assert_int_equal(bad, 2);
    s = "\\udc00";
    assert_int_equal(weir_json_unescape(s, strlen(s), 0, &b, &bad), WEIR_JTOK_ESURROGATE);
    assert_int_equal(bad, 0);
    s = "\\ud800\\u0041";
    assert_int_equal(weir_json_unescape(s, strlen(s), 0, &b, &bad), WEIR_JTOK_ESURROGATE);
    s = "x\\u0000y";
    assert_int_equal(weir_json_unescape(s, strlen(s), 0, &b, NULL), 0);
    assert_int_equal(b.len, 3);
    assert_int_equal(weir_json_unescape(s, strlen(s), WEIR_JSON_UNESCAPE_NO_NUL, &b, &bad), WEIR_JTOK_ENUL);
    assert_int_equal(bad, 1);
    weir_buf_free(&b);
}

static void test_tape(void **state)
{
    (void)state;
    struct weir_json_doc doc = {0};
    const char *s = " {\"a\": [1, 2.5e3, \"x\\ty\"], \"b\": {}, \"c\": null, \"d\": true, \"e\": false} ";
    struct weir_json_perr e;
    assert_int_equal(weir_json_parse(&doc, s, strlen(s), 0, 0, 8, NULL, &e), 0);
    assert_int_equal(e.code, 0);
    const struct weir_json_node *n = doc.nodes;
    assert_int_equal(n[0].type, WEIR_JSON_OBJ);
    assert_int_equal(n[0].count, 5);
    assert_int_equal(n[0].start, 1);
    assert_int_equal(n[0].len, strlen(s) - 2);
    uint32_t k = n[0].child;
    assert_int_equal(n[k].type, WEIR_JSON_STR);
    assert_memory_equal(s + n[k].start, "a", 1);
    uint32_t arr = n[k].next;
    assert_int_equal(n[arr].type, WEIR_JSON_ARR);
    assert_int_equal(n[arr].count, 3);
    uint32_t e1 = n[arr].child, e2 = n[e1].next, e3 = n[e2].next;
    assert_int_equal(n[e1].type, WEIR_JSON_NUM);
    assert_true(n[e1].isint);
    assert_int_equal(n[e2].type, WEIR_JSON_NUM);
    assert_false(n[e2].isint);
    assert_memory_equal(s + n[e2].start, "2.5e3", n[e2].len); /* exact number text */
    assert_int_equal(n[e2].len, 5);
    assert_int_equal(n[e3].type, WEIR_JSON_STR);
    assert_true(n[e3].esc);
    assert_int_equal(n[e3].len, 4); /* x\ty */
    assert_int_equal(n[e3].next, WEIR_JSON_NONE);
    /* walk the remaining members: b {}, c null, d true, e false */
    uint32_t kb = n[arr].next, vb = n[kb].next;
    assert_int_equal(n[vb].type, WEIR_JSON_OBJ);
    assert_int_equal(n[vb].count, 0);
    assert_int_equal(n[vb].child, WEIR_JSON_NONE);
    uint32_t vc = n[n[vb].next].next, vd = n[n[vc].next].next, ve = n[n[vd].next].next;
    assert_int_equal(n[vc].type, WEIR_JSON_NULL);
    assert_int_equal(n[vd].type, WEIR_JSON_TRUE);
    assert_int_equal(n[ve].type, WEIR_JSON_FALSE);
    assert_int_equal(n[ve].next, WEIR_JSON_NONE);

    /* the doc is reused: a scalar root */
    assert_int_equal(weir_json_parse(&doc, "-7", 2, 0, 0, 8, NULL, NULL), 0);
    assert_int_equal(doc.n, 1);
    assert_int_equal(doc.nodes[0].type, WEIR_JSON_NUM);
    weir_json_doc_free(&doc);
    weir_json_doc_free(&doc); /* idempotent */
    weir_json_doc_free(NULL);
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct {
        const char *text;
        int code;
        size_t pos;
    } cases[] = {
        {"", WEIR_JTOK_EEND, 0},
        {"   ", WEIR_JTOK_EEND, 3},
        {"{\"a\":1", WEIR_JTOK_EOBJSEP, 6},
        {"{\"a\" 1}", WEIR_JTOK_ECOLON, 5},
        {"{1:2}", WEIR_JTOK_EKEY, 1},
        {"[1 2]", WEIR_JTOK_EARRSEP, 3},
        {"[1,]", WEIR_JTOK_EVALUE, 3},
        {"tru", WEIR_JTOK_EVALUE, 0},
        {"{\"a\":01}", WEIR_JTOK_EOBJSEP, 6},
        {"[-]", WEIR_JTOK_ENUMBER, 2},
        {"{} x", WEIR_JTOK_ETRAILING, 3},
        {"[\"a\\q\"]", WEIR_JTOK_EESCAPE, 3},
        {"[\"\xC3\x28\"]", WEIR_JTOK_EUTF8, 2},
    };
    struct weir_json_doc doc = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct weir_json_perr e = {0};
        int rc =
            weir_json_parse(&doc, cases[i].text, strlen(cases[i].text), 0, WEIR_JTOK_CHECK_UTF8, 8, NULL, &e);
        if (rc != cases[i].code || e.code != rc || e.pos != cases[i].pos)
            fail_msg("'%s': got %d (%s) at %zu, want %d at %zu", cases[i].text, rc, weir_jtok_strerror(rc),
                     e.pos, cases[i].code, cases[i].pos);
    }
    assert_string_equal(weir_jtok_strerror(WEIR_JTOK_EKEY), "expected a string key");
    assert_string_equal(weir_jtok_strerror(WEIR_JTOK_EDEPTH), "nesting too deep");
    weir_json_doc_free(&doc);
}

static void test_depth_and_prefix(void **state)
{
    (void)state;
    struct weir_json_doc doc = {0};
    struct weir_json_perr e;
    /* 3 nested arrays: fine at limit 3, refused at 2 where the third opens */
    assert_int_equal(weir_json_parse(&doc, "[[[1]]]", 7, 0, 0, 3, NULL, &e), 0);
    assert_int_equal(weir_json_parse(&doc, "[[[1]]]", 7, 0, 0, 2, NULL, &e), WEIR_JTOK_EDEPTH);
    assert_int_equal(e.pos, 2);
    /* scalars are not nesting */
    assert_int_equal(weir_json_parse(&doc, "1", 1, 0, 0, 0, NULL, &e), 0);

    /* prefix: a value inside bigger text, starting at an offset */
    const char *s = "x: {\"k\": [1, {\"z\": \"}\"}]} , more";
    size_t end = 0;
    assert_int_equal(weir_json_parse(&doc, s, strlen(s), 2, WEIR_JSON_PREFIX, 8, &end, &e), 0);
    assert_string_equal(s + end, " , more");
    assert_int_equal(doc.nodes[0].start, 3);
    /* without the flag the same text has trailing garbage */
    assert_int_equal(weir_json_parse(&doc, s, strlen(s), 2, 0, 8, &end, &e), WEIR_JTOK_ETRAILING);
    assert_int_equal(e.pos, 26);
    weir_json_doc_free(&doc);
}

static void test_parse_alloc_failure(void **state)
{
    (void)state;
    /* enough nodes to need several growths of the tape */
    struct weir_buf b;
    weir_buf_init(&b);
    assert_int_equal(weir_buf_append(&b, "[", 1), 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(weir_buf_printf(&b, "%s{\"k%d\":%d}", i ? "," : "", i, i), 0);
    assert_int_equal(weir_buf_append(&b, "]", 1), 0);
    for (long fail = 0;; fail++) {
        struct weir_json_doc doc = {0};
        struct weir_json_perr e;
        weir_alloc_fail_after(fail);
        int rc = weir_json_parse(&doc, (const char *)b.data, b.len, 0, 0, 8, NULL, &e);
        weir_alloc_fail_after(-1);
        weir_json_doc_free(&doc);
        if (rc == 0)
            break;
        assert_int_equal(rc, WEIR_JTOK_ENOMEM);
        assert_string_equal(weir_jtok_strerror(rc), "out of memory");
        assert_true(fail < 20);
    }
    weir_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hexval),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_string_token),
        cmocka_unit_test(test_number_token),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_tape),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_depth_and_prefix),
        cmocka_unit_test(test_parse_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
