/* tests/unit/test_stream_config.c - the configuration table (stream/config.h):
 * the DESIGN.md example parses with its values and defaults, durations and
 * sizes, every broken config reports the exact key path(s), one config with
 * many errors reports all of them, secrets never appear in messages,
 * malformed JSON gives line and column, docs/configuration.md does not
 * drift from the table (WEIR_UPDATE_DOCS=1 rewrites it), and allocation
 * failures at every step leave no leak or crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/units.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "sources/source.h"
#include "stream/config.h"

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct weir_buf b;
    weir_buf_init(&b);
    char tmp[4096];
    size_t k;
    while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
        assert_int_equal(weir_buf_append(&b, tmp, k), 0);
    fclose(f);
    *n = b.len;
    assert_int_equal(weir_buf_append_byte(&b, 0), 0);
    return weir_buf_detach(&b);
}

static struct weir_config *parse_ok(const char *text)
{
    struct weir_error_list el;
    weir_error_list_init(&el);
    struct weir_config *cfg = NULL;
    int rc = weir_config_parse(text, strlen(text), "test.json", &cfg, &el);
    for (size_t i = 0; i < el.n; i++)
        fprintf(stderr, "unexpected: %s\n", el.items[i].message);
    assert_int_equal(rc, 0);
    assert_int_equal(el.n, 0);
    assert_non_null(cfg);
    weir_error_list_free(&el);
    return cfg;
}

static void test_example_parses(void **state)
{
    (void)state;
    size_t n = 0;
    char *text = read_file(WEIR_SOURCE_DIR "/examples/orders-bronze.json", &n);
    assert_non_null(text);
    struct weir_error_list el;
    weir_error_list_init(&el);
    struct weir_config *cfg = NULL;
    assert_int_equal(weir_config_parse(text, n, "orders-bronze.json", &cfg, &el), 0);
    assert_int_equal(el.n, 0);
    assert_int_equal(cfg->npipelines, 1);
    struct weir_config_pipeline *p = &cfg->pipelines[0];
    assert_string_equal(p->name, "orders-bronze");
    assert_string_equal(p->checkpoint, "/var/lib/weir/orders-bronze");
    assert_int_equal(p->trigger, WEIR_TRIGGER_INTERVAL);
    assert_int_equal(p->interval_ms, 5000);
    assert_int_equal(p->min_batches_to_retain, 100);
    assert_int_equal(p->source, WEIR_SOURCE_KAFKA);
    assert_string_equal(p->kafka.bootstrap_servers, "127.0.0.1:9092");
    assert_int_equal(p->kafka.ntopics, 1);
    assert_string_equal(p->kafka.topics[0], "orders");
    assert_int_equal(p->kafka.starting_offsets, WEIR_START_EARLIEST);
    assert_int_equal(p->kafka.max_offsets_per_trigger, 100000);
    assert_true(p->kafka.fail_on_data_loss);
    assert_false(p->kafka.include_headers);
    assert_int_equal(p->nsteps, 3);
    assert_int_equal(p->steps[0].kind, WEIR_STEP_DECODE);
    assert_int_equal(p->steps[0].decode.format, WEIR_DECODE_JSON);
    assert_int_equal(p->steps[0].decode.on_error, WEIR_ON_ERROR_RESCUE);
    assert_string_equal(p->steps[0].decode.schema, "id LONG, user STRING, amount DOUBLE, ts TIMESTAMP");
    assert_int_equal(p->steps[1].kind, WEIR_STEP_WHERE);
    assert_string_equal(p->steps[1].where, "amount > 0");
    assert_int_equal(p->steps[2].kind, WEIR_STEP_SELECT);
    assert_int_equal(p->steps[2].nselect, 5);
    assert_string_equal(p->steps[2].select[4], "CAST(ts AS DATE) AS day");
    assert_int_equal(p->sink, WEIR_SINK_DELTA);
    assert_string_equal(p->delta.path, "/data/lake/orders");
    assert_int_equal(p->delta.mode, WEIR_MODE_APPEND);
    assert_int_equal(p->delta.npartition_by, 1);
    assert_string_equal(p->delta.partition_by[0], "day");
    assert_int_equal(p->delta.target_file_size, 128LL * 1024 * 1024);
    assert_int_equal(p->delta.codec, WEIR_CODEC_SNAPPY);
    assert_null(cfg->http.listen);
    assert_int_equal(cfg->log.level, WEIR_LOG_INFO);
    assert_int_equal(cfg->log.format, WEIR_LOG_JSON);
    weir_config_destroy(cfg);
    weir_error_list_free(&el);
    weir_free(text);
}

static const char *FULL =
    "{\"http\": {\"listen\": \"127.0.0.1:8080\", \"token\": \"hunter2\"},"
    " \"log\": {\"level\": \"debug\", \"format\": \"text\"},"
    " \"pipelines\": ["
    "  {\"name\": \"gen\", \"checkpoint\": \"/tmp/c1\", \"trigger\": {\"once\": true},"
    "   \"min_batches_to_retain\": 7,"
    "   \"source\": {\"datagen\": {\"rows_per_second\": 5000, \"schema\": \"id LONG, user STRING\","
    "      \"seed\": 1, \"max_rows\": 10}},"
    "   \"sink\": {\"console\": {}}},"
    "  {\"name\": \"k2\", \"checkpoint\": \"/tmp/c2\", \"trigger\": {\"available_now\": true},"
    "   \"source\": {\"kafka\": {\"bootstrap_servers\": \"b:9092\", \"topic_pattern\": \"o.*\","
    "      \"starting_offsets\": {\"orders\": {\"0\": 23, \"1\": -2}}, \"min_offsets_per_trigger\": 5,"
    "      \"max_trigger_delay\": \"10 minutes\", \"fail_on_data_loss\": false, \"include_headers\": true,"
    "      \"group_id\": \"g\", \"kafka\": {\"security.protocol\": \"SASL_SSL\", \"sasl.password\": \"pw\","
    "      \"socket.timeout.ms\": 3000}}},"
    "   \"transform\": [{\"decode\": {\"format\": \"json\", \"schema\": \"a INT\", \"on_error\": "
    "\"dead_letter\", \"dead_letter_path\": \"/dl\"}}],"
    "   \"sink\": {\"delta\": {\"path\": \"/t\", \"target_file_size\": \"64KiB\", \"merge_schema\": true,"
    "      \"codec\": \"zstd\", \"maintenance\": {\"optimize_every\": 10, \"vacuum_interval\": \"1 day\"}}}},"
    "  {\"name\": \"k3\", \"checkpoint\": \"/tmp/c3\","
    "   \"source\": {\"kafka\": {\"bootstrap_servers\": \"b\", \"topics\": [\"a\", \"b\"], "
    "\"starting_offsets\": 1700000000000}},"
    "   \"sink\": {\"delta\": {\"path\": \"/t3\", \"target_file_size\": 1048576}}}]}";

static void test_full_config(void **state)
{
    (void)state;
    struct weir_config *cfg = parse_ok(FULL);
    assert_string_equal(cfg->http.listen, "127.0.0.1:8080");
    assert_string_equal(cfg->http.token, "hunter2");
    assert_int_equal(cfg->log.level, WEIR_LOG_DEBUG);
    assert_int_equal(cfg->log.format, WEIR_LOG_TEXT);
    assert_int_equal(cfg->npipelines, 3);
    struct weir_config_pipeline *g = &cfg->pipelines[0], *k = &cfg->pipelines[1], *k3 = &cfg->pipelines[2];
    assert_int_equal(g->trigger, WEIR_TRIGGER_ONCE);
    assert_int_equal(g->min_batches_to_retain, 7);
    assert_int_equal(g->source, WEIR_SOURCE_DATAGEN);
    assert_int_equal(g->datagen.rows_per_second, 5000);
    assert_int_equal(g->datagen.seed, 1);
    assert_int_equal(g->datagen.max_rows, 10);
    assert_int_equal(g->sink, WEIR_SINK_CONSOLE);
    assert_int_equal(g->nsteps, 0);
    assert_int_equal(k->trigger, WEIR_TRIGGER_AVAILABLE_NOW);
    assert_string_equal(k->kafka.topic_pattern, "o.*");
    assert_int_equal(k->kafka.starting_offsets, WEIR_START_JSON);
    assert_string_equal(k->kafka.starting_offsets_json, "{\"orders\": {\"0\": 23, \"1\": -2}}");
    assert_int_equal(k->kafka.min_offsets_per_trigger, 5);
    assert_int_equal(k->kafka.max_trigger_delay_ms, 600000);
    assert_false(k->kafka.fail_on_data_loss);
    assert_true(k->kafka.include_headers);
    assert_string_equal(k->kafka.group_id, "g");
    assert_int_equal(k->kafka.nprops, 3);
    assert_string_equal(k->kafka.props[2], "sasl.password");
    assert_string_equal(k->kafka.props[3], "pw");
    assert_string_equal(k->kafka.props[5], "3000");
    assert_int_equal(k->steps[0].decode.on_error, WEIR_ON_ERROR_DEAD_LETTER);
    assert_string_equal(k->steps[0].decode.dead_letter_path, "/dl");
    assert_int_equal(k->delta.target_file_size, 65536);
    assert_true(k->delta.merge_schema);
    assert_int_equal(k->delta.codec, WEIR_CODEC_ZSTD);
    assert_int_equal(k->delta.maint.optimize_every, 10);
    assert_int_equal(k->delta.maint.vacuum_interval_ms, 86400000);
    assert_int_equal(k->delta.maint.vacuum_retain_ms, 0);
    assert_int_equal(k3->trigger, WEIR_TRIGGER_INTERVAL);
    assert_int_equal(k3->interval_ms, 0);
    assert_int_equal(k3->kafka.starting_offsets, WEIR_START_TIMESTAMP);
    assert_int_equal(k3->kafka.starting_timestamp_ms, 1700000000000LL);
    assert_int_equal(k3->kafka.max_trigger_delay_ms, 15 * 60000);
    assert_int_equal(k3->delta.target_file_size, 1048576);
    weir_config_destroy(cfg);
    weir_config_destroy(NULL);
}

static void test_durations_sizes(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(weir_parse_duration("250ms", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(weir_parse_duration("5s", &v), 0);
    assert_int_equal(v, 5000);
    assert_int_equal(weir_parse_duration("10 minutes", &v), 0);
    assert_int_equal(v, 600000);
    assert_int_equal(weir_parse_duration("1 hour", &v), 0);
    assert_int_equal(v, 3600000);
    assert_int_equal(weir_parse_duration("2h", &v), 0);
    assert_int_equal(v, 7200000);
    assert_int_equal(weir_parse_duration("0s", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(weir_parse_duration("5", &v), WEIR_EINVAL);
    assert_int_equal(weir_parse_duration("s", &v), WEIR_EINVAL);
    assert_int_equal(weir_parse_duration("5 fortnights", &v), WEIR_EINVAL);
    assert_int_equal(weir_parse_duration("-5s", &v), WEIR_EINVAL);
    assert_int_equal(weir_parse_duration("99999999999999999999s", &v), WEIR_ERANGE);
    assert_int_equal(weir_parse_duration("9999999999999999 days", &v), WEIR_ERANGE);
    assert_int_equal(weir_parse_size("128MB", &v), 0);
    assert_int_equal(v, 134217728);
    assert_int_equal(weir_parse_size("64KiB", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(weir_parse_size("1GB", &v), 0);
    assert_int_equal(v, 1073741824);
    assert_int_equal(weir_parse_size("4096", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(weir_parse_size("12 XB", &v), WEIR_EINVAL);
    assert_int_equal(weir_parse_size("99999999999 TB", &v), WEIR_ERANGE);
}

/* Parse text expecting failure; every expected message must be reported
 * exactly (as full "path: message" text) and nothing else. */
static void expect_errors(const char *text, const char *const *want, size_t nwant)
{
    struct weir_error_list el;
    weir_error_list_init(&el);
    struct weir_config *cfg = NULL;
    int rc = weir_config_parse(text, strlen(text), "broken.json", &cfg, &el);
    assert_true(rc < 0);
    assert_null(cfg);
    for (size_t i = 0; i < el.n; i++)
        fprintf(stderr, "  got: %s\n", el.items[i].message);
    assert_int_equal(el.n, nwant);
    for (size_t i = 0; i < nwant; i++) {
        bool found = false;
        for (size_t j = 0; j < el.n; j++)
            if (strcmp(el.items[j].message, want[i]) == 0)
                found = true;
        if (!found)
            fprintf(stderr, "missing: %s\n", want[i]);
        assert_true(found);
    }
    weir_error_list_free(&el);
}

#define P0     "{\"pipelines\": [{\"name\": \"p\", \"checkpoint\": \"/c\", "
#define KSRC   "\"source\": {\"kafka\": {\"bootstrap_servers\": \"b\", \"topics\": [\"t\"]}}"
#define DSINK  "\"sink\": {\"delta\": {\"path\": \"/t\"}}"
#define E(...) (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)

static void test_broken_configs(void **state)
{
    (void)state;
    /* 1. typo in a sink option */
    expect_errors(P0 KSRC ", \"sink\": {\"delta\": {\"path\": \"/t\", \"partiton_by\": [\"day\"]}}}]}",
                  E("pipelines[0].sink.delta.partiton_by: unknown key (did you mean partition_by?)"));
    /* 2. missing required keys */
    expect_errors(
        "{\"pipelines\": [{\"name\": \"p\", " KSRC "}]}",
        E("pipelines[0].checkpoint: required key missing", "pipelines[0].sink: required key missing"));
    /* 3. bad duration, bad trigger shape */
    expect_errors(
        P0 "\"trigger\": {\"interval\": \"5 parsecs\"}, " KSRC ", " DSINK "}]}",
        E("pipelines[0].trigger.interval: expected a duration like \"250ms\", \"5s\", \"10 minutes\", "
          "\"1 hour\", \"2h\""));
    expect_errors(P0 "\"trigger\": {\"interval\": \"5s\", \"once\": true}, " KSRC ", " DSINK "}]}",
                  E("pipelines[0].trigger: expected exactly one of: interval, once, available_now"));
    /* 4. unknown transform step kind and a bad schema */
    expect_errors(P0 KSRC
                  ", \"transform\": [{\"where\": \"a > 1\"}, {\"decode\": {\"schema\": \"id LONGG\"}}, "
                  "{\"explode\": \"x\"}], " DSINK "}]}",
                  E("pipelines[0].transform[1].decode.schema: invalid schema: schema DDL: unsupported type "
                    "'LONGG' for column "
                    "id at position 3 (near 'LONGG')",
                    "pipelines[0].transform[2].explode: unknown key"));
    /* 5. sources: files without its required keys, two sources */
    expect_errors(P0 "\"source\": {\"files\": {}}, " DSINK "}]}",
                  E("pipelines[0].source.files.path: required key missing",
                    "pipelines[0].source.files.format: required key missing"));
    expect_errors(P0
                  "\"source\": {\"kafka\": {\"bootstrap_servers\": \"b\", \"topics\": [\"t\"]}, \"datagen\": "
                  "{\"schema\": \"a INT\"}}, " DSINK "}]}",
                  E("pipelines[0].source: expected exactly one of: kafka, datagen, files"));
    /* 6. kafka: topics and topic_pattern, bad starting offsets, bound */
    expect_errors(
        P0 "\"source\": {\"kafka\": {\"bootstrap_servers\": \"b\", \"topics\": [\"t\"], \"topic_pattern\": "
           "\"x\", \"starting_offsets\": \"oldest\", \"max_offsets_per_trigger\": 0}}, " DSINK "}]}",
        E("pipelines[0].source.kafka.starting_offsets: expected \"earliest\", \"latest\", an object of "
          "offsets per partition or a timestamp",
          "pipelines[0].source.kafka.max_offsets_per_trigger: must be at least 1",
          "pipelines[0].source.kafka: exactly one of topics, topic_pattern is required"));
    /* 7. sink mode merge without keys, bad codec, size */
    expect_errors(
        P0 KSRC ", \"sink\": {\"delta\": {\"path\": \"/t\", \"mode\": \"merge\", \"codec\": \"lz5\", "
                "\"target_file_size\": \"huge\"}}}]}",
        E("pipelines[0].sink.delta.mode: \"merge\" needs keys (or an aggregate step with output update, or a "
          "debezium-json decode)",
          "pipelines[0].sink.delta.codec: \"lz5\" is not one of: snappy|zstd|gzip|none",
          "pipelines[0].sink.delta.target_file_size: expected a size like \"128MB\", \"64KiB\", \"1GB\" or "
          "a number of bytes"));
    /* 8. duplicate and invalid names */
    expect_errors("{\"pipelines\": [{\"name\": \"a b\", \"checkpoint\": \"/c\", " KSRC ", " DSINK "},"
                  "{\"name\": \"x\", \"checkpoint\": \"/c\", " KSRC ", " DSINK "},"
                  "{\"name\": \"x\", \"checkpoint\": \"/d\", " KSRC ", " DSINK "}]}",
                  E("pipelines[0].name: must match [A-Za-z0-9_.-]+",
                    "pipelines[2].name: duplicate pipeline name (also pipelines[1])"));
    /* 9. wrong types at the top level */
    expect_errors("{\"pipelines\": {}, \"log\": {\"level\": \"loud\"}, \"htp\": {}}",
                  E("pipelines: expected a list of objects",
                    "log.level: \"loud\" is not one of: debug|info|warn|error",
                    "htp: unknown key (did you mean http?)"));
    /* 10. datagen without schema, decode dead_letter without a path, select not a list */
    expect_errors(
        P0 "\"source\": {\"datagen\": {\"seed\": \"one\"}}, \"transform\": [{\"decode\": {\"schema\": \"a "
           "INT\", \"on_error\": \"dead_letter\"}}, {\"select\": \"a\"}], \"sink\": {\"console\": {}}}]}",
        E("pipelines[0].source.datagen.seed: expected an integer",
          "pipelines[0].source.datagen.schema: required key missing",
          "pipelines[0].transform[0].decode: on_error \"dead_letter\" needs dead_letter_path",
          "pipelines[0].transform[1].select: expected a list of strings"));
    /* 11. stateful steps that do not fit together */
    expect_errors(
        P0 KSRC
        ", \"transform\": [{\"dedup\": {\"keys\": [\"id\"]}}, {\"dedup\": {\"keys\": [\"id\"], "
        "\"within_watermark\": true}}, {\"aggregate\": {\"measures\": [\"count(*) AS n\"], \"window\": "
        "{\"column\": \"ts\", \"size\": \"1m\", \"slide\": \"7s\"}}}, {\"watermark\": {\"column\": "
        "\"ts\", \"delay\": \"1m\", \"late_rows\": \"dead_letter\"}}], " DSINK "}]}",
        E("pipelines[0].transform[0]: dedup state would grow without bound: add a watermark step before it, "
          "set ttl, or set unbounded: true",
          "pipelines[0].transform[1]: within_watermark needs a watermark step before it",
          "pipelines[0].transform[2].aggregate.window: slide must divide size (size 60000 ms, slide 7000 ms)",
          "pipelines[0].transform[2]: output \"append\" emits a window once the watermark passes its end: it "
          "needs a window and a watermark step before the aggregate (or use output update or complete)",
          "pipelines[0].transform[3].watermark: late_rows \"dead_letter\" needs dead_letter_path",
          "pipelines[0].transform[3]: the watermark must come before the aggregate"));
    expect_errors(P0 KSRC
                  ", \"transform\": [{\"aggregate\": {\"measures\": [\"count(*) AS n\"], "
                  "\"output\": \"update\", \"window\": {\"column\": \"ts\", \"gap\": \"1m\", "
                  "\"size\": \"1m\"}}}], \"sink\": {\"delta\": {\"path\": \"/t\", \"keys\": [\"a\"]}}}]}",
                  E("pipelines[0].transform[0].aggregate.window: needs exactly one of size (tumbling or "
                    "sliding) and gap (session)",
                    "pipelines[0].transform[0]: output \"update\" is not available for session windows (a "
                    "session's start moves when sessions merge); use append or complete",
                    "pipelines[0].transform[0]: output \"update\" needs sink.delta.mode \"merge\" (it is "
                    "\"append\")",
                    "pipelines[0].sink.delta.keys: keys apply to mode \"merge\" only"));
    /* 12. dead-letter tables shared with the sink or another step */
    expect_errors(P0 KSRC
                  ", \"transform\": [{\"decode\": {\"schema\": \"ts TIMESTAMP\", \"on_error\": "
                  "\"dead_letter\", \"dead_letter_path\": \"/t\"}}, {\"watermark\": {\"column\": \"ts\", "
                  "\"delay\": \"1m\", \"late_rows\": \"dead_letter\", \"dead_letter_path\": \"/t\"}}], " DSINK
                  "}]}",
                  E("pipelines[0].transform[0]: dead_letter_path must not be the sink's table",
                    "pipelines[0].transform[1]: dead_letter_path must not be the sink's table",
                    "pipelines[0].transform[1]: dead_letter_path is also transform[0]'s; each step needs its "
                    "own table"));
}

static void test_many_errors_all_reported(void **state)
{
    (void)state;
    expect_errors(
        "{\"pipelines\": [{\"name\": \"ok\", \"checkpoint\": \"/c\", " KSRC
        ", \"transform\": [{\"where\": \"a\"}, "
        "{\"select\": [\"a\"]}, {\"filter\": \"b\"}], " DSINK "},"
        " {\"nme\": \"p2\", \"checkpoint\": 5, \"trigger\": {\"once\": false}, \"min_batches_to_retain\": 0,"
        "  \"source\": {\"datagen\": {\"schema\": \"id LONGG\"}}, \"sink\": {\"delta\": {\"partition_by\": "
        "[\"\"]}}}]}",
        E("pipelines[0].transform[2].filter: unknown key",
          "pipelines[1].nme: unknown key (did you mean name?)", "pipelines[1].name: required key missing",
          "pipelines[1].checkpoint: expected a string",
          "pipelines[1].trigger.once: must be true (leave the key out instead)",
          "pipelines[1].min_batches_to_retain: must be at least 1",
          "pipelines[1].source.datagen.schema: invalid schema: schema DDL: unsupported type 'LONGG' for "
          "column id "
          "at position 3 (near 'LONGG')",
          "pipelines[1].sink.delta.partition_by[0]: must not be empty",
          "pipelines[1].sink.delta: needs exactly one of path, table_path_template"));
}

static void test_secrets_not_echoed(void **state)
{
    (void)state;
    const char *text =
        "{\"http\": {\"token\": 12345}, \"pipelines\": [{\"name\": \"p\", \"checkpoint\": \"/c\","
        " \"source\": {\"kafka\": {\"bootstrap_servers\": \"b\", \"topics\": [\"t\"], \"kafka\": "
        "{\"sasl.password\": [\"topsecret\"]}}}, " DSINK "}]}";
    struct weir_error_list el;
    weir_error_list_init(&el);
    struct weir_config *cfg = NULL;
    assert_int_equal(weir_config_parse(text, strlen(text), NULL, &cfg, &el), WEIR_ECONFIG);
    assert_int_equal(el.n, 2);
    for (size_t i = 0; i < el.n; i++) {
        assert_null(strstr(el.items[i].message, "12345"));
        assert_null(strstr(el.items[i].message, "topsecret"));
    }
    assert_string_equal(el.items[0].path, "pipelines[0].source.kafka.kafka.sasl.password");
    assert_string_equal(el.items[1].message, "http.token: expected a string");
    weir_error_list_free(&el);
    /* librdkafka's verdict on its own properties, without secret values */
    text = "{\"pipelines\": [{\"n\\u0061me\": \"p\", \"checkpoint\": \"/c\", \"source\": {\"kafka\": "
           "{\"bootstrap_servers\": \"b\", \"topics\": [\"t\"], \"kafka\": {\"no.such.property\": \"1\", "
           "\"security.protocol\": \"carrier_pigeon\", \"sasl.password\": \"ok-secret\"}}}, " DSINK "}]}";
    assert_int_equal(weir_config_parse(text, strlen(text), NULL, &cfg, &el), WEIR_ECONFIG);
    for (size_t i = 0; i < el.n; i++)
        fprintf(stderr, "  got: %s\n", el.items[i].message);
    assert_int_equal(el.n, 2);
    assert_string_equal(el.items[0].path, "pipelines[0].source.kafka.kafka.no.such.property");
    assert_non_null(strstr(el.items[0].message, "librdkafka: No such configuration property"));
    assert_string_equal(el.items[1].path, "pipelines[0].source.kafka.kafka.security.protocol");
    assert_non_null(strstr(el.items[1].message, "librdkafka: "));
    assert_true(weir_source_kafka_key_is_secret("sasl.password"));
    assert_true(weir_source_kafka_key_is_secret("sasl.jaas.config"));
    assert_true(weir_source_kafka_key_is_secret("ssl.key.password"));
    assert_true(weir_source_kafka_key_is_secret("ssl.key.pem"));
    assert_true(weir_source_kafka_key_is_secret("sasl.oauthbearer.client.secret"));
    assert_false(weir_source_kafka_key_is_secret("security.protocol"));
    weir_error_list_free(&el);
}

static void test_malformed_json(void **state)
{
    (void)state;
    const char *text = "{\n  \"pipelines\": [\n    {\"name\": \"p\",,}\n  ]\n}";
    struct weir_error_list el;
    weir_error_list_init(&el);
    struct weir_config *cfg = NULL;
    assert_int_equal(weir_config_parse(text, strlen(text), "cfg.json", &cfg, &el), WEIR_EPARSE);
    assert_null(cfg);
    assert_int_equal(el.n, 1);
    assert_int_equal(el.items[0].line, 3);
    assert_int_equal(el.items[0].col, 18);
    assert_non_null(strstr(el.items[0].message, "cfg.json:3:18: malformed JSON"));
    weir_error_list_free(&el);
    /* empty input and a non-object root */
    assert_int_equal(weir_config_parse("", 0, NULL, &cfg, &el), WEIR_EPARSE);
    weir_error_list_free(&el);
    assert_int_equal(weir_config_parse("[]", 2, NULL, &cfg, &el), WEIR_ECONFIG);
    assert_string_equal(el.items[0].message, "expected an object");
    weir_error_list_free(&el);
}

static void test_doc_no_drift(void **state)
{
    (void)state;
    struct weir_buf b;
    weir_buf_init(&b);
    assert_int_equal(weir_config_doc_markdown(&b), 0);
    const char *path = WEIR_SOURCE_DIR "/docs/configuration.md";
    const char *update = getenv("WEIR_UPDATE_DOCS");
    if (update != NULL && strcmp(update, "1") == 0) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
        assert_int_equal(fclose(f), 0);
    }
    size_t n = 0;
    char *committed = read_file(path, &n);
    assert_non_null(committed);
    if (n != b.len || memcmp(committed, b.data, n) != 0)
        fail_msg("docs/configuration.md drifted from the option table in stream/config.c; regenerate with "
                 "WEIR_UPDATE_DOCS=1 ./test_stream_config");
    /* every option appears */
    assert_non_null(strstr(committed, "| `partition_by` |"));
    assert_non_null(strstr(committed, "## `pipelines[].source.kafka`"));
    weir_free(committed);
    weir_buf_free(&b);
    weir_buf_init(&b);
    assert_int_equal(weir_config_help(&b), 0);
    assert_int_equal(weir_buf_append_byte(&b, 0), 0);
    assert_non_null(strstr((char *)b.data, "pipelines[].sink.delta.target_file_size  (size, default 128MB)"));
    assert_non_null(strstr((char *)b.data, "http.token  (string, secret)"));
    weir_buf_free(&b);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    for (long k = 0;; k++) {
        struct weir_error_list el;
        weir_error_list_init(&el);
        struct weir_config *cfg = NULL;
        weir_alloc_fail_after(k);
        int rc = weir_config_parse(FULL, strlen(FULL), NULL, &cfg, &el);
        weir_alloc_fail_after(-1);
        weir_error_list_free(&el);
        if (rc == 0) {
            assert_non_null(cfg);
            weir_config_destroy(cfg);
            break;
        }
        assert_int_equal(rc, WEIR_ENOMEM);
        assert_null(cfg);
        assert_true(k < 100000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_parses),           cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_durations_sizes),          cmocka_unit_test(test_broken_configs),
        cmocka_unit_test(test_many_errors_all_reported), cmocka_unit_test(test_secrets_not_echoed),
        cmocka_unit_test(test_malformed_json),           cmocka_unit_test(test_doc_no_drift),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, 0, NULL);
}
