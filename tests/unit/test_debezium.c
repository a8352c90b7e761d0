/* tests/unit/test_debezium.c - formats/debezium: envelopes with and without
 * the JsonConverter schema, every op, Debezium's logical types, source
 * positions of PostgreSQL, MySQL, Oracle and SQL Server, tables growing
 * columns, several tables at once, tombstones, rescued values and
 * malformed events (which must leave nothing behind). */
#include "test_util.h"

#include "core/batch.h"
#include "core/buf.h"
#include "formats/debezium.h"
#include "formats/json.h"

/* ---- envelope builders ---- */

#define PG_SOURCE(table, lsn, ts)                                                                            \
    "{\"version\":\"3.0.0.Final\",\"connector\":\"postgresql\",\"name\":\"srv\",\"ts_ms\":" ts               \
    ",\"snapshot\":\"false\",\"db\":\"shop\",\"sequence\":\"[null,\\\"" lsn "\\\"]\",\"schema\":\"public\"," \
    "\"table\":\"" table "\",\"txId\":771,\"lsn\":" lsn ",\"xmin\":null}"

/* The row struct of the "all types" table. */
#define ALL_COLS                                                                                            \
    "[{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"},"                                            \
    "{\"type\":\"int16\",\"optional\":true,\"field\":\"small\"},"                                           \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"big\"},"                                             \
    "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\",\"version\":" \
    "1,"                                                                                                    \
    "\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"12\"},\"field\":\"amount\"},"          \
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},"         \
    "{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}],\"optional\":true,"                       \
    "\"name\":\"io.debezium.data.VariableScaleDecimal\",\"version\":1,\"field\":\"num\"},"                  \
    "{\"type\":\"float\",\"optional\":true,\"field\":\"r\"},"                                               \
    "{\"type\":\"double\",\"optional\":true,\"field\":\"dp\"},"                                             \
    "{\"type\":\"boolean\",\"optional\":true,\"field\":\"flag\"},"                                          \
    "{\"type\":\"string\",\"optional\":true,\"field\":\"name\"},"                                           \
    "{\"type\":\"int32\",\"optional\":true,\"name\":\"io.debezium.time.Date\",\"version\":1,\"field\":"     \
    "\"d\"},"                                                                                               \
    "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTime\",\"field\":\"tm\"},"      \
    "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.MicroTimestamp\",\"field\":\"ts\"}," \
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.time.ZonedTimestamp\",\"field\":"        \
    "\"tstz\"},"                                                                                            \
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Json\",\"field\":\"doc\"},"         \
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Uuid\",\"field\":\"u\"},"           \
    "{\"type\":\"bytes\",\"optional\":true,\"field\":\"raw\"},"                                             \
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"parameters\":"             \
    "{\"allowed\":\"a,b\"},\"field\":\"mood\"},"                                                            \
    "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.Timestamp\",\"field\":\"ts3\"},"     \
    "{\"type\":\"int32\",\"optional\":true,\"name\":\"io.debezium.time.Time\",\"field\":\"tm3\"},"          \
    "{\"type\":\"int64\",\"optional\":true,\"name\":\"io.debezium.time.NanoTimestamp\",\"field\":\"tsn\"}," \
    "{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"optional\":true,\"field\":\"tags\"}]"

#define ENVELOPE_SCHEMA(cols)                                                                          \
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":" cols                           \
    ",\"optional\":true,\"name\":\"srv.public.t.Value\",\"field\":\"before\"},{\"type\":\"struct\","   \
    "\"fields\":" cols ",\"optional\":true,\"name\":\"srv.public.t.Value\",\"field\":\"after\"},"      \
    "{\"type\":\"struct\",\"fields\":[],\"optional\":false,\"field\":\"source\"},"                     \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},{\"type\":\"int64\",\"optional\":true," \
    "\"field\":\"ts_ms\"}],\"optional\":false,\"name\":\"srv.public.t.Envelope\"}"

#define ALL_ROW                                                                                              \
    "{\"id\":1,\"small\":7,\"big\":9000000000,\"amount\":\"BNI=\",\"num\":{\"scale\":3,\"value\":\"AeJA\"}," \
    "\"r\":1.5,\"dp\":2.25,\"flag\":true,\"name\":\"ann\",\"d\":19700,\"tm\":45296789000,"                   \
    "\"ts\":1700000000123456,\"tstz\":\"2023-11-14T22:13:20.5Z\",\"doc\":\"{\\\"a\\\":1}\","                 \
    "\"u\":\"6f9619ff-8b86-d011-b42d-00cf4fc964ff\",\"raw\":\"AAEC\",\"mood\":\"a\",\"ts3\":1700000000123,"  \
    "\"tm3\":3723000,\"tsn\":1700000000123456789,\"tags\":[\"x\",\"y\"]}"

/* ---- helpers ---- */

static struct weir_dbz_decoder *decoder(bool rescue, bool tomb, const char *ddl)
{
    struct weir_dbz_options o;
    struct weir_dbz_decoder *d = NULL;
    struct weir_error err = {0};
    struct weir_type *decl = NULL;
    weir_dbz_options_default(&o);
    o.rescue_fields = rescue;
    o.tombstone_deletes = tomb;
    if (ddl) {
        assert_int_equal(weir_schema_parse(ddl, &decl, &err), 0);
        o.schema = decl;
    }
    assert_int_equal(weir_dbz_decoder_create(&d, &o, &err), 0);
    weir_type_destroy(decl);
    return d;
}

static void ok(struct weir_dbz_decoder *d, const char *key, const char *value, enum weir_dbz_result want)
{
    struct weir_error err = {0};
    enum weir_dbz_result r;
    int rc = weir_dbz_decode(d, (const uint8_t *)key, key ? strlen(key) : 0, (const uint8_t *)value,
                             value ? strlen(value) : 0, "srv.public.t", &r, &err);
    if (rc != 0)
        fail_msg("decode failed: %s", err.message);
    assert_int_equal(r, want);
}

/* The event fails with a message containing `want`. */
static void bad(struct weir_dbz_decoder *d, const char *key, const char *value, const char *want)
{
    struct weir_error err = {0};
    enum weir_dbz_result r;
    int rc = weir_dbz_decode(d, (const uint8_t *)key, key ? strlen(key) : 0, (const uint8_t *)value,
                             value ? strlen(value) : 0, "srv.public.t", &r, &err);
    assert_int_equal(rc, WEIR_EPARSE);
    if (strstr(err.message, want) == NULL)
        fail_msg("message '%s' lacks '%s'", err.message, want);
}

/* The next batch as JSON lines, its schema as display text. NULL when none. */
static char *take(struct weir_dbz_decoder *d, char **schema, size_t *rows)
{
    struct weir_batch *b = NULL;
    assert_int_equal(weir_dbz_take(d, &b), 0);
    if (b == NULL)
        return NULL;
    struct weir_buf out;
    struct weir_error err = {0};
    weir_buf_init(&out);
    assert_int_equal(weir_json_encode_batch(b, &out, &err), 0);
    assert_int_equal(weir_buf_append_byte(&out, 0), 0);
    if (schema)
        *schema = weir_type_to_display(b->schema);
    if (rows)
        *rows = b->nrows;
    char *s = strdup((const char *)out.data);
    weir_buf_free(&out);
    weir_batch_destroy(b);
    return s;
}

static void expect_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("'%s'\n does not contain\n'%s'", hay, needle);
}

/* ---- tests ---- */

static void test_logical_types_with_schema(void **state)
{
    (void)state;
    struct weir_dbz_decoder *d = decoder(false, false, NULL);
    ok(d,
       "{\"schema\":{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"field\":\"id\"}]},\"payload\":{"
       "\"id\":1}}",
       "{\"schema\":" ENVELOPE_SCHEMA(
           ALL_COLS) ",\"payload\":{\"before\":null,\"after\":" ALL_ROW
                     ",\"source\":" PG_SOURCE("t", "23456",
                                              "1700000000123") ",\"op\":\"c\",\"ts_ms\":1700000000456}}",
       WEIR_DBZ_ROW);
    char *schema = NULL;
    size_t rows = 0;
    char *j = take(d, &schema, &rows);
    assert_non_null(j);
    assert_int_equal(rows, 1);
    assert_string_equal(
        schema, "struct<id:int,small:short,big:long,amount:decimal(12,2),num:decimal(38,18),r:float,"
                "dp:double,flag:boolean,name:string,d:date,tm:string,ts:timestamp,tstz:timestamp,"
                "doc:string,u:string,raw:binary,mood:string,ts3:timestamp,tm3:string,tsn:timestamp,"
                "tags:string,__op:string,__seq:decimal(38,0),__source_db:string,__source_schema:string,"
                "__source_table:string,__source_ts:timestamp,__position:string,__tx_id:string,"
                "__snapshot:boolean,__ts:timestamp>");
    assert_string_equal(
        j,
        "{\"id\":1,\"small\":7,\"big\":9000000000,\"amount\":\"12.34\",\"num\":\"123.456000000000000000\","
        "\"r\":1.5,\"dp\":2.25,\"flag\":true,\"name\":\"ann\",\"d\":\"2023-12-09\",\"tm\":\"12:34:56.789\","
        "\"ts\":\"2023-11-14T22:13:20.123456Z\",\"tstz\":\"2023-11-14T22:13:20.500000Z\","
        "\"doc\":\"{\\\"a\\\":1}\",\"u\":\"6f9619ff-8b86-d011-b42d-00cf4fc964ff\",\"raw\":\"AAEC\","
        "\"mood\":\"a\",\"ts3\":\"2023-11-14T22:13:20.123000Z\",\"tm3\":\"01:02:03\","
        "\"tsn\":\"2023-11-14T22:13:20.123456Z\",\"tags\":\"[\\\"x\\\",\\\"y\\\"]\",\"__op\":\"c\","
        "\"__seq\":\"234561700000000123\",\"__source_db\":\"shop\",\"__source_schema\":\"public\","
        "\"__source_table\":\"t\",\"__source_ts\":\"2023-11-14T22:13:20.123000Z\","
        "\"__position\":\"lsn 0/5BA0\",\"__tx_id\":\"771\",\"__snapshot\":false,"
        "\"__ts\":\"2023-11-14T22:13:20.456000Z\"}\n");
    free(j);
    free(schema);
    assert_null(take(d, NULL, NULL));
    weir_dbz_decoder_destroy(d);
}

/* Every op, without the schema wrapper: types inferred from values. */
static void test_ops_without_schema(void **state)
{
    (void)state;
    struct weir_dbz_decoder *d = decoder(false, false, NULL);
    const char *src = PG_SOURCE("t", "100", "1700000000000");
    char v[2048];
    snprintf(v, sizeof v,
             "{\"before\":null,\"after\":{\"id\":1,\"name\":\"a\",\"price\":1.5,\"note\":null},\"source\":%s,"
             "\"op\":\"r\",\"ts_ms\":1}",
             src);
    ok(d, "{\"id\":1}", v, WEIR_DBZ_ROW);
    snprintf(v, sizeof v,
             "{\"before\":{\"id\":1,\"name\":\"a\"},\"after\":{\"id\":1,\"name\":\"b\",\"price\":2,"
             "\"note\":null},\"source\":%s,\"op\":\"u\",\"ts_ms\":2}",
             src);
    ok(d, "{\"id\":1}", v, WEIR_DBZ_ROW);
    snprintf(v, sizeof v, "{\"before\":{\"id\":1},\"after\":null,\"source\":%s,\"op\":\"d\",\"ts_ms\":3}",
             src);
    ok(d, "{\"id\":1}", v, WEIR_DBZ_ROW);
    ok(d, "{\"id\":1}", NULL, WEIR_DBZ_SKIPPED); /* tombstone */
    snprintf(v, sizeof v, "{\"before\":null,\"after\":null,\"source\":%s,\"op\":\"t\",\"ts_ms\":4}", src);
    ok(d, NULL, v, WEIR_DBZ_ROW);
    snprintf(
        v, sizeof v,
        "{\"before\":null,\"after\":{\"id\":2,\"name\":\"c\",\"price\":3.25,\"note\":\"n\"},\"source\":%s,"
        "\"op\":\"c\",\"ts_ms\":5}",
        src);
    ok(d, "{\"id\":2}", v, WEIR_DBZ_ROW);

    /* "note" was only null in the first event: it joins when typed, so the
     * table's batch is cut there */
    char *schema = NULL;
    size_t rows = 0;
    char *j = take(d, &schema, &rows);
    assert_int_equal(rows, 4);
    expect_contains(schema, "struct<id:long,name:string,price:double,__op:string");
    expect_contains(j, "{\"id\":1,\"name\":\"a\",\"price\":1.5,\"__op\":\"r\"");
    expect_contains(j, "{\"id\":1,\"name\":\"b\",\"price\":2.0,\"__op\":\"u\"");
    expect_contains(j, "{\"id\":1,\"name\":null,\"price\":null,\"__op\":\"d\"");
    expect_contains(j, "{\"id\":null,\"name\":null,\"price\":null,\"__op\":\"t\"");
    free(j);
    free(schema);
    j = take(d, &schema, &rows);
    assert_int_equal(rows, 1);
    expect_contains(schema, "struct<id:long,name:string,price:double,note:string,__op:string");
    expect_contains(j, "{\"id\":2,\"name\":\"c\",\"price\":3.25,\"note\":\"n\",\"__op\":\"c\"");
    free(j);
    free(schema);
    assert_null(take(d, NULL, NULL));
    weir_dbz_decoder_destroy(d);
}

/* Source positions become __seq and __position. */
static void test_positions(void **state)
{
    (void)state;
    struct weir_dbz_decoder *d = decoder(false, false, NULL);
    /* MySQL: file number, pos, row, then ts_ms; no schema in the source */
    ok(d, "{\"id\":1}",
       "{\"before\":null,\"after\":{\"id\":1},\"source\":{\"connector\":\"mysql\",\"name\":\"m\",\"ts_ms\":"
       "1700000000000,\"snapshot\":\"last\",\"db\":\"inventory\",\"table\":\"orders\",\"server_id\":223344,"
       "\"gtid\":\"abc:1\",\"file\":\"mysql-bin.000003\",\"pos\":154,\"row\":2,\"thread\":7},\"op\":\"c\","
       "\"ts_ms\":1700000000001}",
       WEIR_DBZ_ROW);
    /* SQL Server change_lsn */
    ok(d, "{\"id\":1}",
       "{\"after\":{\"id\":1},\"source\":{\"connector\":\"sqlserver\",\"ts_ms\":1700000000000,\"db\":\"db\","
       "\"schema\":\"dbo\",\"table\":\"t\",\"change_lsn\":\"00000027:00000758:0003\",\"commit_lsn\":"
       "\"00000027:00000758:0005\"},\"op\":\"c\"}",
       WEIR_DBZ_ROW);
    /* Oracle scn as a string */
    ok(d, "{\"ID\":1}",
       "{\"after\":{\"ID\":1},\"source\":{\"connector\":\"oracle\",\"ts_ms\":5,\"db\":\"ORCL\",\"schema\":"
       "\"APP\",\"table\":\"T\",\"scn\":\"987654321\"},\"op\":\"u\"}",
       WEIR_DBZ_ROW);
    /* no position: ts_ms alone */
    ok(d, "{\"id\":1}",
       "{\"after\":{\"id\":1},\"source\":{\"db\":\"x\",\"table\":\"y\",\"ts_ms\":42},\"op\":\"c\"}",
       WEIR_DBZ_ROW);
    const char *want[] = {
        "\"__seq\":\"300000001540000021700000000000\",\"__source_db\":\"inventory\",\"__source_schema\":null,"
        "\"__source_table\":\"orders\",\"__source_ts\":\"2023-11-14T22:13:20.000000Z\",\"__position\":"
        "\"mysql-bin.000003:154:2\",\"__tx_id\":\"abc:1\",\"__snapshot\":true",
        "\"__seq\":\"109775242149232671700000000000\",\"__source_db\":\"db\",\"__source_schema\":\"dbo\","
        "\"__source_table\":\"t\",\"__source_ts\":\"2023-11-14T22:13:20.000000Z\",\"__position\":"
        "\"lsn 00000027:00000758:0003\"",
        "\"__seq\":\"9876543210000000000005\",\"__source_db\":\"ORCL\",\"__source_schema\":\"APP\","
        "\"__source_table\":\"T\",\"__source_ts\":\"1970-01-01T00:00:00.005000Z\",\"__position\":\"scn "
        "987654321\"",
        "\"__seq\":\"42\",\"__source_db\":\"x\",\"__source_schema\":null,\"__source_table\":\"y\","
        "\"__source_ts\":\"1970-01-01T00:00:00.042000Z\",\"__position\":null",
    };
    for (size_t i = 0; i < 4; i++) {
        char *j = take(d, NULL, NULL);
        assert_non_null(j);
        expect_contains(j, want[i]);
        free(j);
    }
    assert_null(take(d, NULL, NULL));
    weir_dbz_decoder_destroy(d);
}

/* Tables come out one batch each, named by the __op metadata, with keys. */
static void test_tables_and_keys(void **state)
{
    (void)state;
    struct weir_dbz_decoder *d = decoder(false, false, NULL);
    ok(d, "{\"a\":1,\"b\":\"x\"}",
       "{\"after\":{\"a\":1,\"b\":\"x\",\"v\":1},\"source\":{\"db\":\"d1\",\"schema\":\"s\",\"table\":"
       "\"one\","
       "\"lsn\":1},\"op\":\"c\"}",
       WEIR_DBZ_ROW);
    ok(d, "{\"id\":7}",
       "{\"after\":{\"id\":7},\"source\":{\"db\":\"d1\",\"schema\":\"s\",\"table\":\"two\",\"lsn\":2},\"op\":"
       "\"c\"}",
       WEIR_DBZ_ROW);
    ok(d, "{\"a\":2,\"b\":\"y\"}",
       "{\"after\":{\"a\":2,\"b\":\"y\",\"v\":2},\"source\":{\"db\":\"d1\",\"schema\":\"s\",\"table\":"
       "\"one\","
       "\"lsn\":3},\"op\":\"c\"}",
       WEIR_DBZ_ROW);
    for (int i = 0; i < 2; i++) {
        struct weir_batch *b = NULL;
        assert_int_equal(weir_dbz_take(d, &b), 0);
        assert_non_null(b);
        struct weir_dbz_table_id id;
        assert_int_equal(weir_dbz_table_of(b->schema, &id), 0);
        assert_string_equal(id.db, "d1");
        assert_string_equal(id.schema, "s");
        if (i == 0) {
            assert_string_equal(id.table, "one");
            assert_int_equal(b->nrows, 2);
            assert_int_equal(id.nkeys, 2);
            assert_string_equal(id.keys[0], "a");
            assert_string_equal(id.keys[1], "b");
        } else {
            assert_string_equal(id.table, "two");
            assert_int_equal(b->nrows, 1);
            assert_int_equal(id.nkeys, 1);
            assert_string_equal(id.keys[0], "id");
        }
        weir_dbz_table_id_free(&id);
        weir_batch_destroy(b);
    }
    weir_dbz_decoder_destroy(d);
}

/* A column added in the source: the schema grows, the batch is cut. */
static void test_schema_grows_with_envelope(void **state)
{
    (void)state;
    struct weir_dbz_decoder *d = decoder(false, false, NULL);
#define C2 \
    "[{\"type\":\"int32\",\"field\":\"id\"},{\"type\":\"string\",\"optional\":true,\"field\":\"name\"}]"
#define C3                                                                                               \
    "[{\"type\":\"int32\",\"field\":\"id\"},{\"type\":\"string\",\"optional\":true,\"field\":\"name\"}," \
    "{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\","          \
    "\"parameters\":"                                                                                    \
    "{\"scale\":\"1\",\"connect.decimal.precision\":\"5\"},\"field\":\"score\"}]"
    ok(d, NULL,
       "{\"schema\":" ENVELOPE_SCHEMA(
           C2) ",\"payload\":{\"after\":{\"id\":1,\"name\":\"a\"},\"source\":"
               "{\"db\":\"d\",\"schema\":\"public\",\"table\":\"t\",\"lsn\":1},\"op\":\"c\"}}",
       WEIR_DBZ_ROW);
    ok(d, NULL,
       "{\"schema\":" ENVELOPE_SCHEMA(
           C3) ",\"payload\":{\"after\":{\"id\":2,\"name\":\"b\",\"score\":\"+w==\"},"
               "\"source\":{\"db\":\"d\",\"schema\":\"public\",\"table\":\"t\",\"lsn\":2},\"op\":\"c\"}}",
       WEIR_DBZ_ROW);
    /* an old-schema event after the new one: score stays, null */
    ok(d, NULL,
       "{\"schema\":" ENVELOPE_SCHEMA(
           C2) ",\"payload\":{\"after\":{\"id\":3,\"name\":\"c\"},\"source\":"
               "{\"db\":\"d\",\"schema\":\"public\",\"table\":\"t\",\"lsn\":3},\"op\":\"c\"}}",
       WEIR_DBZ_ROW);
    char *schema;
    char *j = take(d, &schema, NULL);
    expect_contains(schema, "struct<id:int,name:string,__op");
    expect_contains(j, "{\"id\":1,\"name\":\"a\",\"__op\":\"c\"");
    free(schema);
    free(j);
    j = take(d, &schema, NULL);
    expect_contains(schema, "struct<id:int,name:string,score:decimal(5,1),__op");
    expect_contains(j, "{\"id\":2,\"name\":\"b\",\"score\":\"-0.5\",\"__op\":\"c\"");
    expect_contains(j, "{\"id\":3,\"name\":\"c\",\"score\":null,\"__op\":\"c\"");
    free(schema);
    free(j);
    assert_null(take(d, NULL, NULL));
    weir_dbz_decoder_destroy(d);
}

static void test_malformed(void **state)
{
    (void)state;
    struct weir_dbz_decoder *d = decoder(false, false, NULL);
    const char *src = "{\"db\":\"d\",\"schema\":\"public\",\"table\":\"t\",\"lsn\":1}";
    char v[1024];
    bad(d, NULL, "{\"after\":", "the value is not JSON");
    bad(d, NULL, "[1,2]", "not a JSON object");
    bad(d, NULL, "{\"after\":{\"id\":1},\"source\":{}}", "no \"op\"");
    snprintf(v, sizeof v, "{\"after\":{\"id\":1},\"source\":%s,\"op\":\"x\"}", src);
    bad(d, NULL, v, "unknown op \"x\"");
    snprintf(v, sizeof v, "{\"before\":{\"id\":1},\"after\":null,\"source\":%s,\"op\":\"u\"}", src);
    bad(d, NULL, v, "op \"u\" without \"after\"");
    snprintf(v, sizeof v, "{\"after\":{\"id\":1},\"source\":%s,\"op\":\"d\"}", src);
    bad(d, NULL, v, "op \"d\" without \"before\"");
    bad(d, NULL, "{\"after\":{\"id\":1},\"source\":{\"db\":\"d\"},\"op\":\"c\"}", "no source.table");
    bad(d, NULL, "{\"after\":{\"id\":1},\"op\":\"c\"}", "no \"source\" object");
    bad(d, NULL,
        "{\"after\":{\"id\":1},\"source\":{\"table\":\"t\",\"file\":\"bin.9\",\"pos\":99999999999},\"op\":"
        "\"c\"}",
        "binlog position bin.9:99999999999:0 is out of range");
#define DEC_COLS                                                                                   \
    "[{\"type\":\"int32\",\"field\":\"id\"},{\"type\":\"bytes\",\"optional\":true,\"name\":"       \
    "\"org.apache.kafka.connect.data.Decimal\",\"parameters\":{\"scale\":\"2\",\"connect.decimal." \
    "precision\":"                                                                                 \
    "\"3\"},\"field\":\"amount\"}]"
    /* not base64; then a value too wide for decimal(3,2) */
    bad(d, "{\"id\":1}",
        "{\"schema\":" ENVELOPE_SCHEMA(DEC_COLS) ",\"payload\":{\"after\":{\"id\":1,\"amount\":\"**\"},"
                                                 "\"source\":{\"table\":\"t\",\"lsn\":1},\"op\":\"c\"}}",
        "column 'amount': bad decimal bytes \"**\"");
    bad(d, "{\"id\":1}",
        "{\"schema\":" ENVELOPE_SCHEMA(DEC_COLS) ",\"payload\":{\"after\":{\"id\":1,\"amount\":\"BNI=\"},"
                                                 "\"source\":{\"table\":\"t\",\"lsn\":1},\"op\":\"c\"}}",
        "column 'amount': decimal of scale 2 does not fit decimal(3,2)");
    /* a type the first event fixed */
    ok(d, "{\"id\":1}", "{\"after\":{\"id\":1,\"n\":5},\"source\":{\"table\":\"u\",\"lsn\":1},\"op\":\"c\"}",
       WEIR_DBZ_ROW);
    bad(d, "{\"id\":1}",
        "{\"after\":{\"id\":1,\"n\":\"five\"},\"source\":{\"table\":\"u\",\"lsn\":2},\"op\":\"c\"}",
        "column 'n': \"five\" does not convert to long");
    /* nothing of the bad events was kept: one row, of table u */
    size_t rows = 0;
    char *j = take(d, NULL, &rows);
    assert_int_equal(rows, 1);
    expect_contains(j, "{\"id\":1,\"n\":5,\"__op\":\"c\"");
    free(j);
    assert_null(take(d, NULL, NULL));
    weir_dbz_decoder_destroy(d);
}

/* rescue_fields: a bad non-key value is set aside; a bad key still fails. */
static void test_rescue(void **state)
{
    (void)state;
    struct weir_dbz_decoder *d = decoder(true, false, "id LONG, qty INT, amount DECIMAL(10,2)");
    ok(d, "{\"id\":1}",
       "{\"after\":{\"id\":1,\"qty\":\"lots\",\"amount\":\"12.5\",\"extra\":true},\"source\":{\"table\":"
       "\"t\","
       "\"lsn\":1},\"op\":\"c\"}",
       WEIR_DBZ_ROW);
    /* schemaless decimal as base64 unscaled bytes at the declared scale */
    ok(d, "{\"id\":2}",
       "{\"after\":{\"id\":2,\"qty\":3,\"amount\":\"BNI=\"},\"source\":{\"table\":\"t\",\"lsn\":2},\"op\":"
       "\"c\"}",
       WEIR_DBZ_ROW);
    bad(d, "{\"id\":\"x\"}",
        "{\"after\":{\"id\":\"x\",\"qty\":1},\"source\":{\"table\":\"t\",\"lsn\":3},\"op\":\"c\"}",
        "column 'id': \"x\" does not convert to long");
    char *schema;
    char *j = take(d, &schema, NULL);
    expect_contains(schema, "struct<id:long,qty:int,amount:decimal(10,2),__op");
    expect_contains(schema, "__ts:timestamp,_rescued_data:string>");
    expect_contains(j, "{\"id\":1,\"qty\":null,\"amount\":\"12.50\",");
    expect_contains(j, "\"_rescued_data\":\"{\\\"qty\\\":\\\"lots\\\",\\\"extra\\\":true}\"}");
    expect_contains(j, "{\"id\":2,\"qty\":3,\"amount\":\"12.34\",");
    expect_contains(j, "\"_rescued_data\":null}");
    free(schema);
    free(j);
    weir_dbz_decoder_destroy(d);
}

/* Tombstones delete their key when asked; the table comes from the topic. */
static void test_tombstone_deletes(void **state)
{
    (void)state;
    struct weir_dbz_decoder *d = decoder(false, true, NULL);
    ok(d, "{\"id\":5}",
       "{\"after\":{\"id\":5,\"v\":\"x\"},\"source\":{\"db\":\"shop\",\"schema\":\"public\",\"table\":\"t\","
       "\"lsn\":10},\"op\":\"c\"}",
       WEIR_DBZ_ROW);
    ok(d, "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"id\":5}}", NULL, WEIR_DBZ_ROW);
    char *j = take(d, NULL, NULL);
    expect_contains(j, "{\"id\":5,\"v\":null,\"__op\":\"d\",\"__seq\":null,\"__source_db\":\"shop\","
                       "\"__source_schema\":\"public\",\"__source_table\":\"t\"");
    free(j);
    /* a topic never seen: its last two parts name schema and table */
    struct weir_error err = {0};
    enum weir_dbz_result r;
    assert_int_equal(weir_dbz_decode(d, (const uint8_t *)"{\"k\":1}", 7, NULL, 0, "p.sales.items", &r, &err),
                     0);
    assert_int_equal(r, WEIR_DBZ_ROW);
    j = take(d, NULL, NULL);
    expect_contains(
        j, "{\"k\":1,\"__op\":\"d\",\"__seq\":null,\"__source_db\":null,\"__source_schema\":\"sales\","
           "\"__source_table\":\"items\"");
    free(j);
    assert_int_equal(weir_dbz_decode(d, (const uint8_t *)"{\"k\":1}", 7, NULL, 0, "nodots", &r, &err),
                     WEIR_EPARSE);
    expect_contains(err.message, "tombstone on topic 'nodots'");
    weir_dbz_decoder_destroy(d);
}

static void test_declared_schema_checks(void **state)
{
    (void)state;
    struct weir_dbz_options o;
    struct weir_dbz_decoder *d = NULL;
    struct weir_error err = {0};
    struct weir_type *decl = NULL;
    weir_dbz_options_default(&o);
    assert_int_equal(weir_schema_parse("id LONG, tags ARRAY<STRING>", &decl, &err), 0);
    o.schema = decl;
    assert_int_equal(weir_dbz_decoder_create(&d, &o, &err), WEIR_EUNSUPPORTED);
    expect_contains(err.message, "column 'tags': nested types are not supported");
    weir_type_destroy(decl);
    weir_error_clear(&err);
    assert_int_equal(weir_schema_parse("id LONG, __op STRING", &decl, &err), 0);
    o.schema = decl;
    assert_int_equal(weir_dbz_decoder_create(&d, &o, &err), WEIR_ESCHEMA);
    expect_contains(err.message, "column '__op' is a reserved name");
    weir_type_destroy(decl);
    assert_null(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logical_types_with_schema),
        cmocka_unit_test(test_ops_without_schema),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_tables_and_keys),
        cmocka_unit_test(test_schema_grows_with_envelope),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_rescue),
        cmocka_unit_test(test_tombstone_deletes),
        cmocka_unit_test(test_declared_schema_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
