/* tests/unit/test_core_types.c - type trees, Delta schema JSON round trips
 * on real tables' schemaStrings, DDL parsing and error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "core/alloc.h"
#include "core/types.h"

/* ------------------------------------------------------- construction */

static void test_constructors_and_display(void **state)
{
    (void)state;
    struct weir_type *loc = weir_type_struct();
    assert_int_equal(weir_type_struct_add(loc, "lat", weir_type_primitive(WEIR_TYPE_DOUBLE), true, NULL), 0);
    assert_int_equal(weir_type_struct_add(loc, "lon", weir_type_primitive(WEIR_TYPE_DOUBLE), false, NULL), 0);
    struct weir_type *st = weir_type_struct();
    assert_int_equal(weir_type_struct_add(st, "id", weir_type_primitive(WEIR_TYPE_LONG), false, NULL), 0);
    assert_int_equal(
        weir_type_struct_add(st, "amount", weir_type_decimal(12, 2), true, "{\"comment\":\"x\"}"), 0);
    assert_int_equal(weir_type_struct_add(st, "tags",
                                          weir_type_array(weir_type_primitive(WEIR_TYPE_STRING), true), true,
                                          NULL),
                     0);
    assert_int_equal(weir_type_struct_add(st, "attrs",
                                          weir_type_map(weir_type_primitive(WEIR_TYPE_STRING),
                                                        weir_type_primitive(WEIR_TYPE_INTEGER), false),
                                          true, NULL),
                     0);
    assert_int_equal(weir_type_struct_add(st, "loc", loc, true, NULL), 0);
    assert_int_equal(
        weir_type_struct_add(st, "odd name", weir_type_primitive(WEIR_TYPE_TIMESTAMP_NTZ), true, NULL), 0);
    /* duplicate, case-insensitive; the type is consumed */
    assert_int_equal(weir_type_struct_add(st, "ID", weir_type_primitive(WEIR_TYPE_INTEGER), true, NULL),
                     WEIR_EEXISTS);
    assert_int_equal(st->nfields, 6);
    assert_string_equal(st->fields[1].metadata, "{\"comment\":\"x\"}");
    assert_string_equal(st->fields[0].metadata, "{}");

    char *d = weir_type_to_display(st);
    assert_string_equal(d, "struct<id:long,amount:decimal(12,2),tags:array<string>,attrs:map<string,int>,"
                           "loc:struct<lat:double,lon:double>,`odd name`:timestamp_ntz>");
    weir_free(d);

    assert_int_equal(weir_type_field_index(st, "AMOUNT"), 1);
    assert_int_equal(weir_type_field_index(st, "Loc"), 4);
    assert_int_equal(weir_type_field_index(st, "nope"), -1);
    assert_true(weir_type_is_primitive(st->fields[0].type));
    assert_false(weir_type_is_primitive(st->fields[2].type));
    assert_string_equal(weir_type_kind_name(WEIR_TYPE_TIMESTAMP_NTZ), "timestamp_ntz");
    assert_string_equal(weir_type_kind_name(WEIR_TYPE_DECIMAL), "decimal");

    struct weir_type *c = weir_type_clone(st);
    assert_true(weir_type_equal(st, c));
    assert_string_equal(c->fields[1].metadata, "{\"comment\":\"x\"}");
    c->fields[4].type->fields[1].nullable = true;
    assert_false(weir_type_equal(st, c));
    weir_type_destroy(c);
    c = weir_type_clone(st);
    c->fields[1].type->scale = 3;
    assert_false(weir_type_equal(st, c));
    weir_type_destroy(c);

    assert_null(weir_type_decimal(39, 0));
    assert_null(weir_type_decimal(5, 6));
    assert_null(weir_type_decimal(0, 0));
    weir_type_destroy(st);
    weir_type_destroy(NULL);
}

static void test_clone_under_allocation_failure(void **state)
{
    (void)state;
    struct weir_type *st = NULL;
    assert_int_equal(
        weir_schema_from_ddl("a INT, b ARRAY<STRUCT<x: STRING, y: MAP<STRING, DOUBLE>>>, c DECIMAL(5,1)", &st,
                             NULL),
        0);
    int failures = 0;
    for (long n = 0; n < 200; n++) {
        weir_alloc_fail_after(n);
        struct weir_type *c = weir_type_clone(st);
        weir_alloc_fail_after(-1);
        if (c == NULL) {
            failures++;
            continue;
        }
        assert_true(weir_type_equal(st, c));
        weir_type_destroy(c);
        break;
    }
    assert_true(failures > 5);
    weir_type_destroy(st);
}

/* ------------------------------------------------------------- JSON */

static void roundtrip(const char *json)
{
    struct weir_type *t = NULL;
    struct weir_error err = {0};
    int rc = weir_schema_from_json(json, &t, &err);
    if (rc != 0)
        fail_msg("parse failed (%d): %s\n  in %s", rc, err.message, json);
    char *out = weir_schema_to_json(t);
    assert_non_null(out);
    if (strcmp(out, json) != 0)
        fail_msg("round trip differs:\n in:  %s\n out: %s", json, out);
    weir_free(out);
    weir_type_destroy(t);
}

static void test_json_roundtrip_protocol_example(void **state)
{
    (void)state;
    /* PROTOCOL.md "Schema Serialization Format > Example", compacted */
    roundtrip(
        "{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"integer\",\"nullable\":false,"
        "\"metadata\":{}},{\"name\":\"b\",\"type\":{\"type\":\"struct\",\"fields\":[{\"name\":\"d\",\"type\":"
        "\"integer\",\"nullable\":false,\"metadata\":{}}]},\"nullable\":true,\"metadata\":{}},{\"name\":"
        "\"c\","
        "\"type\":{\"type\":\"array\",\"elementType\":\"integer\",\"containsNull\":false},\"nullable\":true,"
        "\"metadata\":{}},{\"name\":\"e\",\"type\":{\"type\":\"array\",\"elementType\":{\"type\":\"struct\","
        "\"fields\":[{\"name\":\"d\",\"type\":\"integer\",\"nullable\":false,\"metadata\":{}}]},"
        "\"containsNull\":true},\"nullable\":true,\"metadata\":{}},{\"name\":\"f\",\"type\":{\"type\":"
        "\"map\","
        "\"keyType\":\"string\",\"valueType\":\"string\",\"valueContainsNull\":true},\"nullable\":true,"
        "\"metadata\":{}}]}");
    /* every primitive, odd names and metadata with big numbers, nesting */
    roundtrip(
        "{\"type\":\"struct\",\"fields\":[{\"name\":\"b\",\"type\":\"boolean\",\"nullable\":true,"
        "\"metadata\":{}},"
        "{\"name\":\"t\",\"type\":\"byte\",\"nullable\":true,\"metadata\":{}},{\"name\":\"s\",\"type\":"
        "\"short\","
        "\"nullable\":true,\"metadata\":{}},{\"name\":\"f\",\"type\":\"float\",\"nullable\":true,"
        "\"metadata\":{}},"
        "{\"name\":\"d\",\"type\":\"double\",\"nullable\":true,\"metadata\":{}},{\"name\":\"bin\",\"type\":"
        "\"binary\",\"nullable\":true,\"metadata\":{}},{\"name\":\"dt\",\"type\":\"date\",\"nullable\":true,"
        "\"metadata\":{}},{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":true,\"metadata\":{}},{"
        "\"name\":"
        "\"ntz\",\"type\":\"timestamp_ntz\",\"nullable\":true,\"metadata\":{}},{\"name\":\"dec\",\"type\":"
        "\"decimal(38,18)\",\"nullable\":true,\"metadata\":{\"delta.identity.highWaterMark\":"
        "9007199254740993,\"x\":[1.50,{\"y\":\"a\\\"b\\u00e9\"}],\"z\":null,\"n\":\"a\\u0000\"}},{\"name\":"
        "\"na\\\"me \\u0001\\n"
        "\xc3\xa9\",\"type\":{\"type\":\"map\",\"keyType\":{\"type\":\"array\",\"elementType\":\"long\","
        "\"containsNull\":false},\"valueType\":{\"type\":\"map\",\"keyType\":\"string\",\"valueType\":"
        "\"decimal(1,0)\",\"valueContainsNull\":false},\"valueContainsNull\":true},\"nullable\":false,"
        "\"metadata\":{}}]}");
}

static void test_json_tolerates_whitespace_and_key_order(void **state)
{
    (void)state;
    const char *in =
        " { \"fields\" : [ { \"metadata\" : { \"a\" : \"x y\" , \"n\" : [ 1 , 2 ] } , \"nullable\" : "
        "false, \"type\" : { \"containsNull\": false, \"elementType\": \"decimal( 10 , 2 )\", \"type\": "
        "\"array\" }, \"name\" : \"q\", \"extra\": {\"ignored\": true} } ], \"type\" : \"struct\" } ";
    struct weir_type *t = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_schema_from_json(in, &t, &err), 0);
    char *out = weir_schema_to_json(t);
    assert_string_equal(out, "{\"type\":\"struct\",\"fields\":[{\"name\":\"q\",\"type\":{\"type\":\"array\","
                             "\"elementType\":\"decimal(10,2)\",\"containsNull\":false},\"nullable\":false,"
                             "\"metadata\":{\"a\":\"x y\",\"n\":[1,2]}}]}");
    weir_free(out);
    /* schema_parse picks JSON on a leading brace */
    struct weir_type *t2 = NULL;
    assert_int_equal(weir_schema_parse(in, &t2, NULL), 0);
    assert_true(weir_type_equal(t, t2));
    weir_type_destroy(t2);
    weir_type_destroy(t);
}

static void expect_json_error(const char *json, int code, const char *needle1, const char *needle2)
{
    struct weir_type *t = (struct weir_type *)0x1;
    struct weir_error err = {0};
    int rc = weir_schema_from_json(json, &t, &err);
    if (rc != code)
        fail_msg("expected %d, got %d (%s) for %s", code, rc, err.message, json);
    assert_null(t);
    assert_int_equal(err.code, code);
    if (needle1 != NULL && strstr(err.message, needle1) == NULL)
        fail_msg("message '%s' lacks '%s'", err.message, needle1);
    if (needle2 != NULL && strstr(err.message, needle2) == NULL)
        fail_msg("message '%s' lacks '%s'", err.message, needle2);
}

static void test_json_errors(void **state)
{
    (void)state;
    expect_json_error(
        "{\"type\":\"struct\",\"fields\":[{\"name\":\"v\",\"type\":\"variant\",\"nullable\":true,"
        "\"metadata\":{}}]}",
        WEIR_EUNSUPPORTED, "\"variant\"", "field v");
    expect_json_error(
        "{\"type\":\"struct\",\"fields\":[{\"name\":\"s\",\"type\":{\"type\":\"struct\",\"fields\":[{"
        "\"name\":\"arr\",\"type\":{\"type\":\"array\",\"elementType\":\"void\",\"containsNull\":true},"
        "\"nullable\":true,\"metadata\":{}}]},\"nullable\":true,\"metadata\":{}}]}",
        WEIR_EUNSUPPORTED, "\"void\"", "s.arr.element");
    expect_json_error(
        "{\"type\":\"struct\",\"fields\":[{\"name\":\"m\",\"type\":{\"type\":\"map\",\"keyType\":"
        "\"string\",\"valueType\":\"interval\",\"valueContainsNull\":true},\"nullable\":true,"
        "\"metadata\":{}}]}",
        WEIR_EUNSUPPORTED, "\"interval\"", "m.value");
    expect_json_error(
        "{\"type\":\"struct\",\"fields\":[{\"name\":\"u\",\"type\":{\"type\":\"udt\",\"class\":\"x\"},"
        "\"nullable\":true,\"metadata\":{}}]}",
        WEIR_EUNSUPPORTED, "\"udt\"", "field u");
    expect_json_error(
        "{\"type\":\"struct\",\"fields\":[{\"name\":\"d\",\"type\":\"decimal(40,2)\",\"nullable\":true,"
        "\"metadata\":{}}]}",
        WEIR_ERANGE, "decimal(40,2)", "field d");
    expect_json_error(
        "{\"type\":\"struct\",\"fields\":[{\"name\":\"d\",\"type\":\"decimal(4,x)\",\"nullable\":true,"
        "\"metadata\":{}}]}",
        WEIR_EPARSE, "decimal(4,x)", NULL);
    expect_json_error(
        "{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"long\",\"nullable\":true,"
        "\"metadata\":{}},{\"name\":\"A\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}",
        WEIR_ESCHEMA, "duplicate", "\"A\"");
    expect_json_error("{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"long\",\"nullable\":true,"
                      "\"metadata\":{}}", /* truncated */
                      WEIR_EPARSE, "byte 83", NULL);
    expect_json_error("{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"nullable\":true}]}", WEIR_EPARSE,
                      "lacks \"type\"", NULL);
    expect_json_error("{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"long\",\"nullable\":1}]}",
                      WEIR_EPARSE, "true or false", NULL);
    expect_json_error("{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"long\",\"metadata\":[]}]}",
                      WEIR_EPARSE, "metadata", NULL);
    expect_json_error("\"long\"", WEIR_ESCHEMA, "expected struct", NULL);
    expect_json_error("{\"type\":\"struct\",\"fields\":[]} x", WEIR_EPARSE, "trailing", NULL);
    expect_json_error("", WEIR_EPARSE, "byte 0", NULL);
    expect_json_error("{\"type\":\"struct\",\"fields\":[{\"name\":\"a\\ud800\",\"type\":\"long\"}]}",
                      WEIR_EPARSE, "surrogate", NULL);
    /* deep nesting is refused, not a stack overflow */
    char deep[8192];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof deep - n,
                          "{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "{\"type\":\"array\",\"elementType\":");
    n += (size_t)snprintf(deep + n, sizeof deep - n, "\"long\"");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "}");
    snprintf(deep + n, sizeof deep - n, "}]}");
    expect_json_error(deep, WEIR_EPARSE, "deeply", NULL);
}

static void test_json_parse_under_allocation_failure(void **state)
{
    (void)state;
    const char *json =
        "{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":\"map\",\"keyType\":"
        "\"string\",\"valueType\":{\"type\":\"array\",\"elementType\":\"decimal(9,2)\","
        "\"containsNull\":true},\"valueContainsNull\":true},\"nullable\":true,\"metadata\":{\"k\":1}}]}";
    int nomem = 0;
    for (long n = 0; n < 500; n++) {
        struct weir_type *t = NULL;
        struct weir_error err = {0};
        weir_alloc_fail_after(n);
        int rc = weir_schema_from_json(json, &t, &err);
        weir_alloc_fail_after(-1);
        if (rc == 0) {
            char *out = weir_schema_to_json(t);
            assert_string_equal(out, json);
            weir_free(out);
            weir_type_destroy(t);
            break;
        }
        assert_int_equal(rc, WEIR_ENOMEM);
        assert_null(t);
        nomem++;
    }
    assert_true(nomem > 10);
}

/* Walks testdata for _delta_log/NNN.json files and round-trips every schemaString. */
struct walk_stats {
    int schemas, unsupported, files;
};

static void check_log_file(const char *path, struct walk_stats *st)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    st->files++;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        cJSON *j = cJSON_Parse(line);
        if (j == NULL)
            continue;
        cJSON *md = cJSON_GetObjectItem(j, "metaData");
        cJSON *ss = md ? cJSON_GetObjectItem(md, "schemaString") : NULL;
        if (cJSON_IsString(ss)) {
            struct weir_type *t = NULL;
            struct weir_error err = {0};
            int rc = weir_schema_from_json(ss->valuestring, &t, &err);
            if (rc == WEIR_EUNSUPPORTED) {
                /* only the variant tables may be refused, naming the type */
                if (strstr(path, "variant") == NULL || strstr(err.message, "\"variant\"") == NULL)
                    fail_msg("%s: unexpected refusal: %s", path, err.message);
                st->unsupported++;
            } else {
                if (rc != 0)
                    fail_msg("%s: %s", path, err.message);
                char *out = weir_schema_to_json(t);
                if (strcmp(out, ss->valuestring) != 0)
                    fail_msg("%s: round trip differs\n in:  %s\n out: %s", path, ss->valuestring, out);
                /* and the display form parses back as DDL to an equal tree */
                char *disp = weir_type_to_display(t);
                assert_memory_equal(disp, "struct<", 7);
                disp[strlen(disp) - 1] = '\0';
                struct weir_type *t2 = NULL;
                if (weir_schema_from_ddl(disp + 7, &t2, &err) != 0)
                    fail_msg("%s: display '%s' does not parse as DDL: %s", path, disp + 7, err.message);
                weir_free(disp);
                weir_free(out);
                weir_type_destroy(t2);
                st->schemas++;
            }
            weir_type_destroy(t);
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
}

static void walk(const char *dir, int in_log, struct walk_stats *st)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            walk(path, strcmp(e->d_name, "_delta_log") == 0, st);
        } else if (in_log) {
            size_t len = strlen(e->d_name);
            if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0)
                check_log_file(path, st);
        }
    }
    closedir(d);
}

static void test_json_roundtrip_real_tables(void **state)
{
    (void)state;
    struct walk_stats st = {0};
    walk(WEIR_TESTDATA "/dat-reader-tests", 0, &st);
    assert_true(st.schemas >= 4);
    walk(WEIR_TESTDATA "/delta-rs-tables", 0, &st);
    print_message("checked %d schemaStrings in %d log files (%d refused as unsupported)\n", st.schemas,
                  st.files, st.unsupported);
    assert_true(st.schemas >= 50);
    assert_true(st.unsupported >= 1);
}

static void test_json_partitioned_types_table(void **state)
{
    (void)state;
    FILE *f = fopen(WEIR_TESTDATA
                    "/delta-rs-tables/delta-2.2.0-partitioned-types/_delta_log/00000000000000000000.json",
                    "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        cJSON *md = j ? cJSON_GetObjectItem(j, "metaData") : NULL;
        if (md != NULL) {
            const char *ss = cJSON_GetObjectItem(md, "schemaString")->valuestring;
            struct weir_type *t = NULL;
            assert_int_equal(weir_schema_from_json(ss, &t, NULL), 0);
            char *d = weir_type_to_display(t);
            assert_string_equal(d, "struct<c1:int,c2:string,c3:int>");
            weir_free(d);
            weir_type_destroy(t);
            found = 1;
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    assert_true(found);
}

/* -------------------------------------------------------------- DDL */

static void test_ddl_example_and_aliases(void **state)
{
    (void)state;
    struct weir_type *t = NULL;
    struct weir_error err = {0};
    int rc = weir_schema_from_ddl("id LONG, user STRING NOT NULL, amount DECIMAL(12,2), tags ARRAY<STRING>, "
                                  "attrs MAP<STRING,INT>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>",
                                  &t, &err);
    assert_int_equal(rc, 0);
    char *j = weir_schema_to_json(t);
    assert_string_equal(
        j,
        "{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{"
        "}},"
        "{\"name\":\"user\",\"type\":\"string\",\"nullable\":false,\"metadata\":{}},{\"name\":\"amount\","
        "\"type\":"
        "\"decimal(12,2)\",\"nullable\":true,\"metadata\":{}},{\"name\":\"tags\",\"type\":{\"type\":"
        "\"array\","
        "\"elementType\":\"string\",\"containsNull\":true},\"nullable\":true,\"metadata\":{}},{\"name\":"
        "\"attrs\",\"type\":{\"type\":\"map\",\"keyType\":\"string\",\"valueType\":\"integer\","
        "\"valueContainsNull\":true},\"nullable\":true,\"metadata\":{}},{\"name\":\"loc\",\"type\":{\"type\":"
        "\"struct\",\"fields\":[{\"name\":\"lat\",\"type\":\"double\",\"nullable\":true,\"metadata\":{}},"
        "{\"name\":\"lon\",\"type\":\"double\",\"nullable\":true,\"metadata\":{}}]},\"nullable\":true,"
        "\"metadata\":{}}]}");
    weir_free(j);
    weir_type_destroy(t);

    rc = weir_schema_from_ddl(
        "a int, b integer, c bigint, d tinyint, e smallint, f real, g bool, h timestamp_ltz, "
        "i TIMESTAMP_NTZ, j Date, k BINARY, l Double, m byte, n short, o float, p boolean, "
        "q decimal, r numeric(5), s dec(3, 1), t varchar(10), u char(2), v timestamp",
        &t, &err);
    assert_int_equal(rc, 0);
    char *d = weir_type_to_display(t);
    assert_string_equal(d, "struct<a:int,b:int,c:long,d:byte,e:short,f:float,g:boolean,h:timestamp,"
                           "i:timestamp_ntz,j:date,k:binary,l:double,m:byte,n:short,o:float,p:boolean,"
                           "q:decimal(10,0),r:decimal(5,0),s:decimal(3,1),t:string,u:string,v:timestamp>");
    weir_free(d);
    weir_type_destroy(t);
}

static void test_ddl_quoting_comments_nesting(void **state)
{
    (void)state;
    struct weir_type *t = NULL;
    struct weir_error err = {0};
    int rc = weir_schema_from_ddl(
        "  `weird name` STRING COMMENT 'it''s \"q\"', `a``b`: INT NOT NULL COMMENT \"c\","
        " s struct<x: array<map<string, struct<y int not null>>>, `z`: binary>,"
        " e STRUCT<> , 1col long\n",
        &t, &err);
    if (rc != 0)
        fail_msg("%s", err.message);
    assert_int_equal(t->nfields, 5);
    assert_string_equal(t->fields[0].name, "weird name");
    assert_string_equal(t->fields[0].metadata, "{\"comment\":\"it's \\\"q\\\"\"}");
    assert_string_equal(t->fields[1].name, "a`b");
    assert_false(t->fields[1].nullable);
    assert_string_equal(t->fields[1].metadata, "{\"comment\":\"c\"}");
    char *d = weir_type_to_display(t);
    assert_string_equal(d,
                        "struct<`weird name`:string,`a``b`:int,s:struct<x:array<map<string,struct<y:int>>>,"
                        "z:binary>,e:struct<>,1col:long>");
    /* display form parses back to an equal tree (nullability aside) */
    d[strlen(d) - 1] = '\0';
    struct weir_type *t2 = NULL;
    assert_int_equal(weir_schema_from_ddl(d + 7, &t2, &err), 0);
    assert_int_equal(t2->nfields, 5);
    assert_true(weir_type_equal(t->fields[2].type->fields[0].type->element->key,
                                t2->fields[2].type->fields[0].type->element->key));
    assert_string_equal(t2->fields[1].name, "a`b");
    weir_free(d);
    weir_type_destroy(t2);
    const struct weir_type *inner = t->fields[2].type->fields[0].type->element->value;
    assert_int_equal(inner->kind, WEIR_TYPE_STRUCT);
    assert_false(inner->fields[0].nullable);
    weir_type_destroy(t);

    /* schema_parse picks DDL without a leading brace */
    assert_int_equal(weir_schema_parse("x LONG", &t, NULL), 0);
    assert_int_equal(t->fields[0].type->kind, WEIR_TYPE_LONG);
    weir_type_destroy(t);
}

static void expect_ddl_error(const char *ddl, int code, const char *needle1, const char *needle2)
{
    struct weir_type *t = (struct weir_type *)0x1;
    struct weir_error err = {0};
    int rc = weir_schema_from_ddl(ddl, &t, &err);
    if (rc != code)
        fail_msg("expected %d, got %d (%s) for '%s'", code, rc, err.message, ddl);
    assert_null(t);
    if (needle1 != NULL && strstr(err.message, needle1) == NULL)
        fail_msg("message '%s' lacks '%s'", err.message, needle1);
    if (needle2 != NULL && strstr(err.message, needle2) == NULL)
        fail_msg("message '%s' lacks '%s'", err.message, needle2);
}

static void test_json_rejects_empty_field_name(void **state)
{
    (void)state;
    struct weir_type *t = NULL;
    struct weir_error err = {0};
    const char *json = "{\"type\":\"struct\",\"fields\":[{\"name\":\"\",\"type\":\"long\","
                       "\"nullable\":true,\"metadata\":{}}]}";
    assert_int_equal(weir_schema_from_json(json, &t, &err), WEIR_ESCHEMA);
    assert_null(t);
    assert_non_null(strstr(err.message, "empty name"));
}

static void test_ddl_errors(void **state)
{
    (void)state;
    expect_ddl_error("id LONG, v VARIANT", WEIR_EUNSUPPORTED, "'VARIANT' for column v", "position 11");
    expect_ddl_error("id LONG,, x INT", WEIR_EPARSE, "expected a column name", "position 8");
    expect_ddl_error("id", WEIR_EPARSE, "expected a type name", "end of text");
    expect_ddl_error("id LONG x", WEIR_EPARSE, "expected ',' or end of schema", "position 8");
    expect_ddl_error("a ARRAY<INT", WEIR_EPARSE, "expected '>'", NULL);
    expect_ddl_error("a MAP<INT>", WEIR_EPARSE, "expected ','", "position 9");
    expect_ddl_error("a DECIMAL(40,2)", WEIR_ERANGE, "precision", "position 2");
    expect_ddl_error("a DECIMAL(4,5)", WEIR_ERANGE, "scale", NULL);
    expect_ddl_error("a INT, A LONG", WEIR_ESCHEMA, "duplicate column name 'A'", "position 7");
    expect_ddl_error("a INT NOT", WEIR_EPARSE, "NULL after NOT", NULL);
    expect_ddl_error("`a INT", WEIR_EPARSE, "unterminated", "position 0");
    expect_ddl_error("a INT COMMENT 'x", WEIR_EPARSE, "unterminated comment", NULL);
    expect_ddl_error("a STRUCT<b INT,>", WEIR_EPARSE, "expected a column name", NULL);
    expect_ddl_error("   ", WEIR_EPARSE, "empty", NULL);
    expect_ddl_error("a INTERVAL", WEIR_EUNSUPPORTED, "'INTERVAL'", "column a");
    expect_ddl_error("id INT, loc STRUCT<lat: DOUBLE, raw: ARRAY<VOID>>", WEIR_EUNSUPPORTED,
                     "'VOID' for column loc.raw", "position 43");
}

static void test_ddl_under_allocation_failure(void **state)
{
    (void)state;
    const char *ddl = "a STRUCT<b: ARRAY<MAP<STRING, DECIMAL(4,2)>>> NOT NULL COMMENT 'hi', `c d` LONG";
    int nomem = 0;
    for (long n = 0; n < 500; n++) {
        struct weir_type *t = NULL;
        weir_alloc_fail_after(n);
        int rc = weir_schema_from_ddl(ddl, &t, NULL);
        weir_alloc_fail_after(-1);
        if (rc == 0) {
            assert_int_equal(t->nfields, 2);
            weir_type_destroy(t);
            break;
        }
        assert_int_equal(rc, WEIR_ENOMEM);
        assert_null(t);
        nomem++;
    }
    assert_true(nomem > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constructors_and_display),
        cmocka_unit_test(test_clone_under_allocation_failure),
        cmocka_unit_test(test_json_roundtrip_protocol_example),
        cmocka_unit_test(test_json_tolerates_whitespace_and_key_order),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_json_parse_under_allocation_failure),
        cmocka_unit_test(test_json_roundtrip_real_tables),
        cmocka_unit_test(test_json_partitioned_types_table),
        cmocka_unit_test(test_ddl_example_and_aliases),
        cmocka_unit_test(test_ddl_quoting_comments_nesting),
        cmocka_unit_test(test_ddl_errors),
        cmocka_unit_test(test_json_rejects_empty_field_name),
        cmocka_unit_test(test_ddl_under_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
