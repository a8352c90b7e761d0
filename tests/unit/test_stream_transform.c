/* tests/unit/test_stream_transform.c - the transform steps (stream/transform.h):
 * decode of Kafka-shaped batches (good records, every kind of bad record
 * rescued with its reason and raw value, on_error fail naming the offset),
 * keep columns, where + select chains with CAST and aliases, errors at
 * create naming the step, and dead letters written to a real Delta table
 * through the Delta sink, read back with weir_delta_scan, and not
 * duplicated when a batch is replayed; pipelined pushes (front on one
 * side, back on the other) give push()'s output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/types.h"
#include "delta/delta.h"
#include "stream/config.h"
#include "stream/transform.h"
#include "test_util.h"

#define KAFKA_DDL                                                                               \
    "key BINARY, value BINARY, topic STRING, partition INT, offset LONG, timestamp TIMESTAMP, " \
    "timestamp_type "                                                                           \
    "INT"
#define ORDERS_DDL "id LONG, user STRING, amount DOUBLE, ts TIMESTAMP"
#define NOW_US     INT64_C(1704105000000000) /* 2024-01-01 10:30:00 UTC */

/* ---------------------------------------------------------------- helpers */

/* An empty batch of the DDL's schema. */
static struct weir_batch *empty_batch(const char *ddl)
{
    struct weir_type *t = ddl_schema(ddl);
    struct weir_batch *b = weir_batch_create(t);
    weir_type_destroy(t);
    assert_non_null(b);
    return b;
}

static struct weir_batch *kafka_batch(void)
{
    return empty_batch(KAFKA_DDL);
}

/* Append one Kafka record; value NULL appends a null value (tombstone). */
static void add_record(struct weir_batch *b, const char *topic, int32_t partition, int64_t offset,
                       const char *value, size_t vlen)
{
    struct weir_column *c = b->columns;
    char key[32];
    int kn = snprintf(key, sizeof key, "k%lld", (long long)offset);
    assert_int_equal(weir_column_append_bytes(&c[0], key, (size_t)kn), 0);
    if (value == NULL)
        assert_int_equal(weir_column_append_null(&c[1]), 0);
    else
        assert_int_equal(weir_column_append_bytes(&c[1], value, vlen), 0);
    assert_int_equal(weir_column_append_bytes(&c[2], topic, strlen(topic)), 0);
    assert_int_equal(weir_column_append_i32(&c[3], partition), 0);
    assert_int_equal(weir_column_append_i64(&c[4], offset), 0);
    assert_int_equal(weir_column_append_i64(&c[5], NOW_US - 1000000 + offset), 0);
    assert_int_equal(weir_column_append_i32(&c[6], 0), 0);
    assert_int_equal(weir_batch_finish_rows(b), 0);
}

static void add_text(struct weir_batch *b, int64_t offset, const char *value)
{
    add_record(b, "orders", 0, offset, value, value ? strlen(value) : 0);
}

/* Everything the transform emitted, appended into one batch. */
struct collect {
    struct weir_batch *acc;
    int calls;
};

static int collect_cb(void *ctx, const struct weir_batch *b, struct weir_error *err)
{
    struct collect *c = ctx;
    c->calls++;
    if (c->acc == NULL && (c->acc = weir_batch_create(b->schema)) == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "collect: out of memory");
    assert_true(weir_type_equal(c->acc->schema, b->schema));
    for (size_t col = 0; col < b->ncolumns; col++)
        for (size_t r = 0; r < b->nrows; r++)
            if (weir_column_append_from(&c->acc->columns[col], &b->columns[col], r) != 0)
                return weir_error_set(err, WEIR_ENOMEM, "collect: out of memory");
    assert_int_equal(weir_batch_finish_rows(c->acc), 0);
    return 0;
}

static void collect_free(struct collect *c)
{
    weir_batch_destroy(c->acc);
    c->acc = NULL;
    c->calls = 0;
}

/* Text of a STRING/BINARY value, or "<null>" (static buffer). */
static const char *str_at(const struct weir_batch *b, size_t col, size_t row)
{
    static char buf[8][4096];
    static int k;
    char *o = buf[k++ & 7];
    const struct weir_column *c = &b->columns[col];
    if (!weir_column_is_valid(c, row))
        return "<null>";
    size_t n;
    const uint8_t *p = weir_column_bytes(c, row, &n);
    assert_true(n < 4096);
    memcpy(o, p, n);
    o[n] = 0;
    return o;
}

static int col_of(const struct weir_batch *b, const char *name)
{
    int i = weir_type_field_index(b->schema, name);
    if (i < 0)
        fail_msg("no column '%s' in the output", name);
    return i;
}

static void decode_step(struct weir_config_step *s, const char *schema, int on_error)
{
    memset(s, 0, sizeof *s);
    s->kind = WEIR_STEP_DECODE;
    s->decode.format = WEIR_DECODE_JSON;
    s->decode.schema = (char *)schema;
    s->decode.on_error = on_error;
    s->decode.max_record_size = 1 << 20;
}

static void pipeline(struct weir_config_pipeline *p, struct weir_config_step *steps, size_t n)
{
    memset(p, 0, sizeof *p);
    p->name = (char *)"orders-bronze";
    p->steps = steps;
    p->nsteps = n;
}

static struct weir_transform *make(const struct weir_config_pipeline *p, const char *in_ddl)
{
    struct weir_type *in = ddl_schema(in_ddl);
    struct weir_transform *t = NULL;
    struct weir_error err = {0};
    if (weir_transform_create(p, in, "query-1", NULL, &t, &err) != 0)
        fail_msg("create: %s", err.message);
    weir_type_destroy(in);
    return t;
}

/* Create must fail; returns the message (static). */
static const char *make_fails(const struct weir_config_pipeline *p, const char *in_ddl, int code)
{
    static struct weir_error err;
    struct weir_type *in = ddl_schema(in_ddl);
    struct weir_transform *t = NULL;
    memset(&err, 0, sizeof err);
    int rc = weir_transform_create(p, in, "query-1", NULL, &t, &err);
    weir_type_destroy(in);
    if (rc == 0)
        fail_msg("create succeeded, expected an error");
    if (rc != code)
        fail_msg("create returned %d (%s), expected %d", rc, err.message, code);
    assert_null(t);
    return err.message;
}

static void push_ok(struct weir_transform *t, const struct weir_batch *in, struct collect *c)
{
    struct weir_error err = {0};
    if (weir_transform_push(t, in, NOW_US, collect_cb, c, &err) != 0)
        fail_msg("push: %s", err.message);
}

/* Begins batch `batch_id` and pushes `in` into it. */
static void begin_push(struct weir_transform *t, int64_t batch_id, const struct weir_batch *in,
                       struct collect *c)
{
    struct weir_error err = {0};
    if (weir_transform_begin(t, batch_id, 0, 0, &err) != 0)
        fail_msg("begin %lld: %s", (long long)batch_id, err.message);
    push_ok(t, in, c);
}

static void commit_ok(struct weir_transform *t)
{
    struct weir_error err = {0};
    if (weir_transform_commit(t, &err) != 0)
        fail_msg("commit: %s", err.message);
}

/* One whole batch: begin, push `in`, commit. */
static void run_batch(struct weir_transform *t, int64_t batch_id, const struct weir_batch *in,
                      struct collect *c)
{
    begin_push(t, batch_id, in, c);
    commit_ok(t);
}

/* The schema has exactly these n field names and (kinds != NULL) kinds. */
static void assert_fields(const struct weir_type *s, size_t n, const char *const *names,
                          const enum weir_type_kind *kinds)
{
    assert_int_equal(s->nfields, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(s->fields[i].name, names[i]);
        if (kinds != NULL)
            assert_int_equal(s->fields[i].type->kind, kinds[i]);
    }
}

/* The transform's metrics since begin: each count that is >= 0 must match. */
static void assert_metrics(const struct weir_transform *t, int64_t rows_in, int64_t rows_out, int64_t rescued,
                           int64_t dead_letters, int64_t filtered)
{
    struct weir_transform_metrics m;
    weir_transform_metrics(t, &m);
    const int64_t want[] = {rows_in, rows_out, rescued, dead_letters, filtered};
    const int64_t got[] = {m.rows_in, m.rows_out, m.rescued, m.dead_letters, m.filtered};
    static const char *const names[] = {"rows_in", "rows_out", "rescued", "dead_letters", "filtered"};
    for (size_t i = 0; i < 5; i++)
        if (want[i] >= 0 && got[i] != want[i])
            fail_msg("metrics.%s: %lld, expected %lld", names[i], (long long)got[i], (long long)want[i]);
}

static void assert_prefix(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("'%s' does not start with '%s'", s, prefix);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* ---------------------------------------------------------------- decode */

static void test_decode_good_records(void **state)
{
    (void)state;
    struct weir_config_step st[1];
    struct weir_config_pipeline p;
    decode_step(&st[0], ORDERS_DDL, WEIR_ON_ERROR_RESCUE);
    pipeline(&p, st, 1);
    struct weir_transform *t = make(&p, KAFKA_DDL);

    /* output schema: declared fields (nullable under rescue), _rescued_data */
    const struct weir_type *os = weir_transform_schema(t);
    const char *names[] = {"id", "user", "amount", "ts", "_rescued_data"};
    assert_fields(os, 5, names, NULL);
    for (size_t i = 0; i < 5; i++)
        assert_true(os->fields[i].nullable);
    assert_int_equal(os->fields[4].type->kind, WEIR_TYPE_STRING);

    struct weir_batch *in = kafka_batch();
    add_text(in, 10, "{\"id\": 1, \"user\": \"ann\", \"amount\": 12.5, \"ts\": \"2024-01-01T10:00:00Z\"}");
    add_text(in, 11, "{\"id\": 9223372036854775807, \"user\": \"b\\u00e9a\", \"amount\": -1}");
    add_text(in, 12, "{\n  \"user\": null,\n  \"id\": 3\n}");
    struct collect c = {0};
    run_batch(t, 0, in, &c);

    assert_int_equal(c.calls, 1);
    struct weir_batch *o = c.acc;
    assert_int_equal(o->nrows, 3);
    assert_int_equal(weir_column_i64(&o->columns[0], 0), 1);
    assert_int_equal(weir_column_i64(&o->columns[0], 1), INT64_MAX);
    assert_int_equal(weir_column_i64(&o->columns[0], 2), 3);
    assert_string_equal(str_at(o, 1, 0), "ann");
    assert_string_equal(str_at(o, 1, 1), "b\xc3\xa9"
                                         "a");
    assert_string_equal(str_at(o, 1, 2), "<null>");
    assert_true(weir_column_f64(&o->columns[2], 0) == 12.5);
    assert_true(weir_column_f64(&o->columns[2], 1) == -1.0);
    assert_false(weir_column_is_valid(&o->columns[2], 2));
    assert_int_equal(weir_column_i64(&o->columns[3], 0), INT64_C(1704103200000000));
    assert_false(weir_column_is_valid(&o->columns[3], 1));
    for (size_t r = 0; r < 3; r++)
        assert_false(weir_column_is_valid(&o->columns[4], r));

    assert_metrics(t, 3, 3, 0, 0, 0);

    /* the output batch is reused: a second push holds only its own rows */
    collect_free(&c);
    weir_batch_clear(in);
    add_text(in, 13, "{\"id\": 4}");
    begin_push(t, 1, in, &c);
    assert_int_equal(c.acc->nrows, 1);
    assert_int_equal(weir_column_i64(&c.acc->columns[0], 0), 4);
    assert_metrics(t, 1, -1, -1, -1, -1); /* counts restart at begin */
    commit_ok(t);

    collect_free(&c);
    weir_batch_destroy(in);
    weir_transform_destroy(t);
}

/* Each kind of bad record is rescued with its reason and raw value; the
 * good records around them keep their values. */
static void test_decode_bad_records_rescued(void **state)
{
    (void)state;
    struct weir_config_step st[1];
    struct weir_config_pipeline p;
    decode_step(&st[0], "id LONG, n INT, user STRING", WEIR_ON_ERROR_RESCUE);
    st[0].decode.max_record_size = 64;
    pipeline(&p, st, 1);
    struct weir_transform *t = make(&p, KAFKA_DDL);

    char big[101];
    memset(big, ' ', 100);
    memcpy(big, "{\"id\": 7", 8);
    big[99] = '}';
    big[100] = 0;

    struct weir_batch *in = kafka_batch();
    add_text(in, 100, "{\"id\": 1, \"n\": 5, \"user\": \"ok\"}");  /* 0 good */
    add_text(in, 101, "{\"id\": 2, ");                             /* 1 bad JSON */
    add_text(in, 102, "{\"id\": \"two\"}");                        /* 2 wrong type */
    add_text(in, 103, "{\"n\": 3000000000}");                      /* 3 out of range for INT */
    add_record(in, "orders", 0, 104, "{\"user\": \"a\xff\"}", 14); /* 4 invalid UTF-8 */
    add_text(in, 105, big);                                        /* 5 oversized */
    add_text(in, 106, NULL);                                       /* 6 null value */
    add_text(in, 107, "[1, 2]");                                   /* 7 not an object */
    add_text(in, 108, "{\"id\": 8, \"user\": \"last\"}");          /* 8 good */
    add_text(in, 109, "{\"other\": \"\xe2\x82\", \"id\": 9}");     /* 9 invalid UTF-8 in an ignored field */

    struct collect c = {0};
    run_batch(t, 5, in, &c);
    struct weir_batch *o = c.acc;
    assert_int_equal(o->nrows, 10);
    int rd = col_of(o, "_rescued_data");
    assert_int_equal(rd, 3);

    /* good rows */
    assert_int_equal(weir_column_i64(&o->columns[0], 0), 1);
    assert_int_equal(weir_column_i32(&o->columns[1], 0), 5);
    assert_string_equal(str_at(o, 2, 0), "ok");
    assert_string_equal(str_at(o, rd, 0), "<null>");
    assert_int_equal(weir_column_i64(&o->columns[0], 8), 8);
    assert_false(weir_column_is_valid(&o->columns[1], 8));
    assert_string_equal(str_at(o, 2, 8), "last");
    assert_string_equal(str_at(o, rd, 8), "<null>");

    /* rescued rows: decoded columns null, reason and raw value */
    for (size_t r = 1; r <= 7; r++)
        for (size_t col = 0; col < 3; col++)
            assert_false(weir_column_is_valid(&o->columns[col], r));

    const char *s = str_at(o, rd, 1);
    assert_contains(s, "{\"error\":\"byte ");
    assert_contains(s, "invalid JSON");
    assert_contains(s, "\"value\":\"{\\\"id\\\": 2, \",\"topic\":\"orders\",\"partition\":0,\"offset\":101}");

    s = str_at(o, rd, 2);
    assert_contains(s, "field 'id': expected an integer");
    assert_contains(s, "\"value\":\"{\\\"id\\\": \\\"two\\\"}\"");
    assert_contains(s, "\"offset\":102}");

    s = str_at(o, rd, 3);
    assert_contains(s, "field 'n'");
    assert_contains(s, "3000000000");
    assert_contains(s, "\"offset\":103}");

    s = str_at(o, rd, 4);
    assert_string_equal(s,
                        "{\"error\":\"invalid UTF-8 at byte 11\",\"value_base64\":\"eyJ1c2VyIjogImH/In0=\","
                        "\"topic\":\"orders\",\"partition\":0,\"offset\":104}");

    s = str_at(o, rd, 5);
    assert_contains(s, "{\"error\":\"record of 100 bytes exceeds decode.max_record_size (64)\","
                       "\"value\":\"{\\\"id\\\": 7  ");
    assert_contains(s, "}\",\"topic\":\"orders\",\"partition\":0,\"offset\":105}");

    assert_string_equal(
        str_at(o, rd, 6),
        "{\"error\":\"null value\",\"value\":null,\"topic\":\"orders\",\"partition\":0,\"offset\":106}");

    s = str_at(o, rd, 7);
    assert_contains(s, "expected a JSON object");
    assert_contains(s, "\"value\":\"[1, 2]\"");

    assert_false(weir_column_is_valid(&o->columns[0], 9));
    assert_string_equal(str_at(o, rd, 9), "{\"error\":\"invalid UTF-8 at byte 11\",\"value_base64\":"
                                          "\"eyJvdGhlciI6ICLigiIsICJpZCI6IDl9\",\"topic\":\"orders\","
                                          "\"partition\":0,\"offset\":109}");

    assert_metrics(t, 10, 10, 8, 0, -1);

    collect_free(&c);
    weir_batch_destroy(in);
    weir_transform_destroy(t);
}

/* A STRING value column decodes too; without topic/partition/offset the
 * rescued JSON has just error and value. A declared NOT NULL field is
 * enforced by the decoder but nullable in the output (rescued rows). */
static void test_decode_string_value_not_null(void **state)
{
    (void)state;
    struct weir_config_step st[1];
    struct weir_config_pipeline p;
    decode_step(&st[0], "id LONG NOT NULL, name STRING", WEIR_ON_ERROR_RESCUE);
    pipeline(&p, st, 1);
    struct weir_transform *t = make(&p, "value STRING, n INT");
    const struct weir_type *os = weir_transform_schema(t);
    assert_true(os->fields[0].nullable);

    struct weir_batch *in = empty_batch("value STRING, n INT");
    const char *vals[] = {"{\"id\": 1}", "{\"name\": \"no id\"}"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(weir_column_append_bytes(&in->columns[0], vals[i], strlen(vals[i])), 0);
        assert_int_equal(weir_column_append_i32(&in->columns[1], i), 0);
    }
    assert_int_equal(weir_batch_finish_rows(in), 0);

    struct collect c = {0};
    struct weir_error err = {0};
    begin_push(t, 0, in, &c);
    assert_int_equal(c.acc->nrows, 2);
    assert_int_equal(weir_column_i64(&c.acc->columns[0], 0), 1);
    assert_false(weir_column_is_valid(&c.acc->columns[0], 1));
    const char *s = str_at(c.acc, 2, 1);
    assert_contains(s, "field 'id'");
    assert_contains(s, "\",\"value\":\"{\\\"name\\\": \\\"no id\\\"}\"}");
    assert_null(strstr(s, "offset"));
    commit_ok(t);

    collect_free(&c);
    weir_batch_destroy(in);
    weir_transform_destroy(t);

    /* on_error fail keeps the declared nullability; without source
     * positions the error names the row */
    decode_step(&st[0], "id LONG NOT NULL, name STRING", WEIR_ON_ERROR_FAIL);
    t = make(&p, "value STRING, n INT");
    assert_false(weir_transform_schema(t)->fields[0].nullable);
    in = empty_batch("value STRING, n INT");
    assert_int_equal(weir_column_append_bytes(&in->columns[0], "{}", 2), 0);
    assert_int_equal(weir_column_append_i32(&in->columns[1], 0), 0);
    assert_int_equal(weir_batch_finish_rows(in), 0);
    assert_int_equal(weir_transform_begin(t, 0, 0, 0, &err), 0);
    assert_int_equal(weir_transform_push(t, in, NOW_US, collect_cb, &c, &err), WEIR_EPARSE);
    assert_contains(err.message, "transform[0].decode: row 0 of the batch: ");
    assert_contains(err.message, "field 'id'");
    weir_transform_abort(t);
    collect_free(&c);
    weir_batch_destroy(in);
    weir_transform_destroy(t);
}

static void test_decode_keep_columns(void **state)
{
    (void)state;
    struct weir_config_step st[1];
    struct weir_config_pipeline p;
    char *keep[] = {"topic", "PARTITION", "offset", "timestamp"};
    decode_step(&st[0], "id LONG", WEIR_ON_ERROR_RESCUE);
    st[0].decode.keep = keep;
    st[0].decode.nkeep = 4;
    pipeline(&p, st, 1);
    struct weir_transform *t = make(&p, KAFKA_DDL);
    const struct weir_type *os = weir_transform_schema(t);
    const char *names[] = {"id", "topic", "partition", "offset", "timestamp", "_rescued_data"};
    const enum weir_type_kind kinds[] = {WEIR_TYPE_LONG, WEIR_TYPE_STRING,    WEIR_TYPE_INTEGER,
                                         WEIR_TYPE_LONG, WEIR_TYPE_TIMESTAMP, WEIR_TYPE_STRING};
    assert_fields(os, 6, names, kinds);

    struct weir_batch *in = kafka_batch();
    add_record(in, "clicks", 3, 41, "{\"id\": 5}", 9);
    add_record(in, "clicks", 4, 42, "nope", 4);
    struct collect c = {0};
    begin_push(t, 0, in, &c);
    struct weir_batch *o = c.acc;
    assert_int_equal(o->nrows, 2);
    assert_int_equal(weir_column_i64(&o->columns[0], 0), 5);
    assert_false(weir_column_is_valid(&o->columns[0], 1));
    for (size_t r = 0; r < 2; r++) {
        assert_string_equal(str_at(o, 1, r), "clicks");
        assert_int_equal(weir_column_i32(&o->columns[2], r), 3 + (int)r);
        assert_int_equal(weir_column_i64(&o->columns[3], r), 41 + (int64_t)r);
        assert_int_equal(weir_column_i64(&o->columns[4], r), NOW_US - 1000000 + 41 + (int64_t)r);
    }
    assert_contains(str_at(o, 5, 1), "\"topic\":\"clicks\",\"partition\":4,\"offset\":42}");
    commit_ok(t);
    collect_free(&c);
    weir_batch_destroy(in);
    weir_transform_destroy(t);

    /* unknown names are listed with the available ones */
    char *bad[] = {"topic", "headers", "part"};
    st[0].decode.keep = bad;
    st[0].decode.nkeep = 3;
    const char *msg = make_fails(&p, KAFKA_DDL, WEIR_ECONFIG);
    assert_contains(msg,
                    "transform[0].decode.keep: the source has no columns 'headers', 'part' (available: key, "
                    "value, topic, partition, offset, timestamp, timestamp_type)");

    /* a kept column may not clash with a decoded field */
    char *clash[] = {"key"};
    decode_step(&st[0], "id LONG, key STRING", WEIR_ON_ERROR_RESCUE);
    st[0].decode.keep = clash;
    st[0].decode.nkeep = 1;
    msg = make_fails(&p, KAFKA_DDL, WEIR_ECONFIG);
    assert_contains(msg, "transform[0].decode.keep[0]: column 'key' is already in the output");
}

static void test_decode_fail_names_offset(void **state)
{
    (void)state;
    struct weir_config_step st[1];
    struct weir_config_pipeline p;
    decode_step(&st[0], ORDERS_DDL, WEIR_ON_ERROR_FAIL);
    pipeline(&p, st, 1);
    struct weir_transform *t = make(&p, KAFKA_DDL);
    /* no _rescued_data column with fail */
    assert_int_equal(weir_type_field_index(weir_transform_schema(t), "_rescued_data"), -1);

    struct weir_batch *in = kafka_batch();
    add_record(in, "orders", 2, 40, "{\"id\": 1}", 9);
    add_record(in, "orders", 2, 41, "{\"id\": 1.5}", 11);
    struct collect c = {0};
    struct weir_error err = {0};
    assert_int_equal(weir_transform_begin(t, 0, 0, 0, &err), 0);
    assert_int_equal(weir_transform_push(t, in, NOW_US, collect_cb, &c, &err), WEIR_EPARSE);
    assert_false(err.retriable);
    assert_contains(err.message, "transform[0].decode: topic 'orders' partition 2 offset 41: byte ");
    assert_contains(err.message, "field 'id'");
    assert_int_equal(c.calls, 0); /* nothing emitted from a failed push */
    weir_transform_abort(t);

    /* a null value fails too */
    weir_batch_clear(in);
    add_record(in, "orders", 1, 7, NULL, 0);
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_transform_begin(t, 1, 0, 0, &err), 0);
    assert_int_equal(weir_transform_push(t, in, NOW_US, collect_cb, &c, &err), WEIR_EPARSE);
    assert_string_equal(err.message, "transform[0].decode: topic 'orders' partition 1 offset 7: null value");
    weir_transform_abort(t);

    weir_batch_destroy(in);
    weir_transform_destroy(t);
}

/* ---------------------------------------------------------------- where / select */

static void test_where_select_chain(void **state)
{
    (void)state;
    struct weir_config_step st[3];
    struct weir_config_pipeline p;
    char *sel[] = {"id", "upper(user) AS who", "amount * 2 AS twice", "CAST(ts AS DATE) AS day",
                   "CAST(id AS STRING) AS id_text"};
    decode_step(&st[0], ORDERS_DDL, WEIR_ON_ERROR_RESCUE);
    memset(&st[1], 0, sizeof st[1]);
    st[1].kind = WEIR_STEP_WHERE;
    st[1].where = (char *)"amount > 0";
    memset(&st[2], 0, sizeof st[2]);
    st[2].kind = WEIR_STEP_SELECT;
    st[2].select = sel;
    st[2].nselect = 5;
    pipeline(&p, st, 3);
    struct weir_transform *t = make(&p, KAFKA_DDL);

    const struct weir_type *os = weir_transform_schema(t);
    const char *names[] = {"id", "who", "twice", "day", "id_text"};
    const enum weir_type_kind kinds[] = {WEIR_TYPE_LONG, WEIR_TYPE_STRING, WEIR_TYPE_DOUBLE, WEIR_TYPE_DATE,
                                         WEIR_TYPE_STRING};
    assert_fields(os, 5, names, kinds);

    struct weir_batch *in = kafka_batch();
    add_text(in, 0, "{\"id\": 1, \"user\": \"ann\", \"amount\": 10, \"ts\": \"2024-03-05T23:59:59Z\"}");
    add_text(in, 1, "{\"id\": 2, \"user\": \"bob\", \"amount\": -3}");
    add_text(in, 2, "not json"); /* rescued: amount null, so where drops it */
    add_text(in, 3, "{\"id\": 4, \"user\": \"cy\", \"amount\": 0.25, \"ts\": \"1970-01-02T00:00:00Z\"}");
    struct collect c = {0};
    run_batch(t, 0, in, &c);
    struct weir_batch *o = c.acc;
    assert_int_equal(o->nrows, 2);
    assert_int_equal(weir_column_i64(&o->columns[0], 0), 1);
    assert_int_equal(weir_column_i64(&o->columns[0], 1), 4);
    assert_string_equal(str_at(o, 1, 0), "ANN");
    assert_string_equal(str_at(o, 1, 1), "CY");
    assert_true(weir_column_f64(&o->columns[2], 0) == 20.0);
    assert_true(weir_column_f64(&o->columns[2], 1) == 0.5);
    assert_int_equal(weir_column_i32(&o->columns[3], 0), 19787); /* 2024-03-05 */
    assert_int_equal(weir_column_i32(&o->columns[3], 1), 1);
    assert_string_equal(str_at(o, 4, 0), "1");
    assert_string_equal(str_at(o, 4, 1), "4");

    assert_metrics(t, 4, 2, 1, -1, 2);

    /* a batch where nothing passes emits nothing */
    collect_free(&c);
    weir_batch_clear(in);
    add_text(in, 4, "{\"id\": 5, \"amount\": -1}");
    begin_push(t, 1, in, &c);
    assert_int_equal(c.calls, 0);
    assert_metrics(t, -1, 0, -1, -1, 1);
    commit_ok(t);

    weir_batch_destroy(in);
    weir_transform_destroy(t);
}

/* push_front hands out the decode step's batch and decodes the next push
 * into another, so a handed-out batch stays intact while push_back runs
 * it later; released batches are reused; the output and counts equal
 * push()'s. */
static void test_pipelined_pushes(void **state)
{
    (void)state;
    struct weir_config_step st[2];
    struct weir_config_pipeline p;
    decode_step(&st[0], ORDERS_DDL, WEIR_ON_ERROR_RESCUE);
    memset(&st[1], 0, sizeof st[1]);
    st[1].kind = WEIR_STEP_WATERMARK;
    st[1].watermark.column = (char *)"ts";
    pipeline(&p, st, 2);
    struct weir_transform *t = make(&p, KAFKA_DDL);
    assert_true(weir_transform_has_front(t));
    struct weir_batch *in[4];
    for (int i = 0; i < 4; i++) {
        in[i] = kafka_batch();
        char v[64];
        snprintf(v, sizeof v, "{\"id\": %d}", 10 * i + 1);
        add_text(in[i], 2 * i, v);
        add_text(in[i], 2 * i + 1, i == 0 ? "not json" : "{\"id\": 99}");
    }
    struct weir_error err = {0};
    assert_int_equal(weir_transform_begin(t, 0, 0, 0, &err), 0);
    struct weir_batch *out[4];
    for (int i = 0; i < 2; i++)
        assert_int_equal(weir_transform_push_front(t, in[i], NOW_US, &out[i], &err), 0);
    assert_ptr_not_equal(out[0], out[1]);
    assert_int_equal(out[0]->nrows, 2); /* untouched by the second decode */
    assert_int_equal(weir_column_i64(&out[0]->columns[0], 0), 1);
    assert_false(weir_column_is_valid(&out[0]->columns[0], 1));
    struct collect c = {0};
    for (int i = 0; i < 2; i++)
        assert_int_equal(weir_transform_push_back(t, out[i], NOW_US, collect_cb, &c, &err), 0);
    assert_int_equal(c.acc->nrows, 4);
    const int64_t ids[] = {1, -1, 11, 99};
    for (size_t r = 0; r < 4; r++)
        if (ids[r] < 0)
            assert_false(weir_column_is_valid(&c.acc->columns[0], r));
        else
            assert_int_equal(weir_column_i64(&c.acc->columns[0], r), ids[r]);
    assert_metrics(t, 4, 4, 1, 0, 0);
    /* a released batch comes back as a later push's output, cleared */
    weir_transform_release(t, out[0]);
    weir_transform_release(t, out[1]);
    for (int i = 2; i < 4; i++)
        assert_int_equal(weir_transform_push_front(t, in[i], NOW_US, &out[i], &err), 0);
    assert_true(out[3] == out[0] || out[3] == out[1]);
    assert_int_equal(out[3]->nrows, 2);
    assert_int_equal(weir_column_i64(&out[3]->columns[0], 0), 31);
    weir_transform_release(t, out[2]);
    weir_transform_release(t, out[3]);
    commit_ok(t);
    collect_free(&c);
    for (int i = 0; i < 4; i++)
        weir_batch_destroy(in[i]);
    weir_transform_destroy(t);

    /* no row-local steps first: nothing to push through the front */
    pipeline(&p, &st[1], 1);
    t = make(&p, ORDERS_DDL);
    assert_false(weir_transform_has_front(t));
    struct weir_batch *typed = empty_batch(ORDERS_DDL), *o = NULL;
    assert_int_equal(weir_transform_begin(t, 0, 0, 0, &err), 0);
    assert_int_equal(weir_transform_push_front(t, typed, NOW_US, &o, &err), WEIR_EINVAL);
    assert_null(o);
    weir_transform_abort(t);
    weir_batch_destroy(typed);
    weir_transform_destroy(t);
}

/* where/select straight over typed columns (datagen), and no steps. */
static void test_typed_source_and_identity(void **state)
{
    (void)state;
    struct weir_config_step st[2];
    struct weir_config_pipeline p;
    char *sel[] = {"*", "id % 2 = 0 AS even"};
    memset(st, 0, sizeof st);
    st[0].kind = WEIR_STEP_SELECT;
    st[0].select = sel;
    st[0].nselect = 2;
    st[1].kind = WEIR_STEP_WHERE;
    st[1].where = (char *)"even AND user IS NOT NULL";
    pipeline(&p, st, 2);
    struct weir_transform *t = make(&p, "id LONG, user STRING");
    assert_int_equal(weir_transform_schema(t)->nfields, 3);

    struct weir_batch *in = empty_batch("id LONG, user STRING");
    for (int64_t i = 0; i < 10; i++) {
        assert_int_equal(weir_column_append_i64(&in->columns[0], i), 0);
        if (i == 4)
            assert_int_equal(weir_column_append_null(&in->columns[1]), 0);
        else
            assert_int_equal(weir_column_append_bytes(&in->columns[1], "u", 1), 0);
    }
    assert_int_equal(weir_batch_finish_rows(in), 0);
    struct collect c = {0};
    struct weir_error err = {0};
    begin_push(t, 0, in, &c);
    assert_int_equal(c.acc->nrows, 4); /* 0 2 6 8 */
    int64_t want[] = {0, 2, 6, 8};
    for (size_t r = 0; r < 4; r++)
        assert_int_equal(weir_column_i64(&c.acc->columns[0], r), want[r]);
    assert_metrics(t, -1, -1, -1, -1, 6);
    commit_ok(t);
    collect_free(&c);
    weir_transform_destroy(t);

    /* no steps: the batch passes through as is */
    pipeline(&p, NULL, 0);
    t = make(&p, "id LONG, user STRING");
    assert_true(weir_type_equal(weir_transform_schema(t), in->schema));
    begin_push(t, 0, in, &c);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.acc->nrows, 10);
    assert_metrics(t, 10, 10, -1, -1, -1);
    commit_ok(t);

    /* a batch of another schema is refused */
    struct weir_batch *other = empty_batch("id INT");
    assert_int_equal(weir_transform_begin(t, 1, 0, 0, &err), 0);
    assert_int_equal(weir_transform_push(t, other, NOW_US, collect_cb, &c, &err), WEIR_ESCHEMA);
    weir_transform_abort(t);
    weir_batch_destroy(other);

    collect_free(&c);
    weir_batch_destroy(in);
    weir_transform_destroy(t);
}

static void test_create_errors_name_the_step(void **state)
{
    (void)state;
    struct weir_config_step st[3];
    struct weir_config_pipeline p;
    const char *msg;

    /* decode needs a value column */
    decode_step(&st[0], ORDERS_DDL, WEIR_ON_ERROR_RESCUE);
    pipeline(&p, st, 1);
    msg = make_fails(&p, "id LONG, user STRING", WEIR_ESCHEMA);
    assert_string_equal(msg,
                        "transform[0].decode: the source has no 'value' column (datagen emits typed columns; "
                        "decode is for kafka)");

    /* a bad declared schema */
    decode_step(&st[0], "id LONG, amount DOUBL", WEIR_ON_ERROR_RESCUE);
    msg = make_fails(&p, KAFKA_DDL, WEIR_EUNSUPPORTED);
    assert_contains(msg, "transform[0].decode.schema: ");

    /* _rescued_data is reserved under rescue */
    decode_step(&st[0], "id LONG, _rescued_data STRING", WEIR_ON_ERROR_RESCUE);
    msg = make_fails(&p, KAFKA_DDL, WEIR_ECONFIG);
    assert_contains(msg, "transform[0].decode.schema: field '_rescued_data' is reserved");

    /* where over the decoded columns: unknown column */
    decode_step(&st[0], ORDERS_DDL, WEIR_ON_ERROR_RESCUE);
    memset(&st[1], 0, sizeof st[1]);
    st[1].kind = WEIR_STEP_WHERE;
    st[1].where = (char *)"amout > 0";
    pipeline(&p, st, 2);
    msg = make_fails(&p, KAFKA_DDL, WEIR_ESCHEMA);
    assert_contains(msg, "transform[1].where: ");
    assert_contains(msg, "amout");
    assert_contains(msg, "amount"); /* did you mean */

    /* where that is not a condition */
    st[1].where = (char *)"amount + 1";
    msg = make_fails(&p, KAFKA_DDL, WEIR_ESCHEMA);
    assert_contains(msg, "transform[1].where: 'amount + 1' is double, not a boolean condition");

    /* where that does not parse */
    st[1].where = (char *)"amount >";
    msg = make_fails(&p, KAFKA_DDL, WEIR_EPARSE);
    assert_contains(msg, "transform[1].where: ");

    /* select sees only the columns of the step before it */
    char *sel[] = {"id", "value"};
    st[1].where = (char *)"amount > 0";
    memset(&st[2], 0, sizeof st[2]);
    st[2].kind = WEIR_STEP_SELECT;
    st[2].select = sel;
    st[2].nselect = 2;
    pipeline(&p, st, 3);
    msg = make_fails(&p, KAFKA_DDL, WEIR_ESCHEMA);
    assert_contains(msg, "transform[2].select[1]: ");
    assert_contains(msg, "value");

    /* duplicate output names */
    char *dup[] = {"id", "amount AS ID"};
    st[2].select = dup;
    msg = make_fails(&p, KAFKA_DDL, WEIR_ECONFIG);
    assert_contains(msg, "transform[2].select: column name 'ID' appears twice");

    /* dead_letter without a path */
    decode_step(&st[0], ORDERS_DDL, WEIR_ON_ERROR_DEAD_LETTER);
    pipeline(&p, st, 1);
    msg = make_fails(&p, KAFKA_DDL, WEIR_ECONFIG);
    assert_contains(msg, "dead_letter_path");
}

/* ---------------------------------------------------------------- dead letters */

struct dl_rows {
    int n;
    int64_t txn;        /* txn version of appId query-1 */
    char text[64][512]; /* "offset|partition|topic|key|value|error|batch|pipeline|ts|failed_at" */
};

static int dl_collect(void *ctx, const struct weir_batch *b, const struct weir_delta_add *file,
                      struct weir_error *err)
{
    struct dl_rows *d = ctx;
    (void)file;
    (void)err;
    assert_int_equal(b->ncolumns, 10);
    for (size_t r = 0; r < b->nrows; r++) {
        assert_true(d->n < 64);
        const struct weir_column *c = b->columns;
        char ts[32] = "<null>";
        if (weir_column_is_valid(&c[5], r))
            snprintf(ts, sizeof ts, "%lld", (long long)weir_column_i64(&c[5], r));
        snprintf(d->text[d->n++], 512, "%lld|%d|%s|%s|%s|%s|%lld|%s|%s|%lld",
                 (long long)weir_column_i64(&c[4], r), weir_column_i32(&c[3], r), str_at(b, 2, r),
                 str_at(b, 6, r), str_at(b, 7, r), str_at(b, 8, r), (long long)weir_column_i64(&c[1], r),
                 str_at(b, 0, r), ts, (long long)weir_column_i64(&c[9], r));
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Read the dead-letter table: rows sorted by text; returns the version. */
static int64_t read_dead_letters(const char *path, struct dl_rows *rows)
{
    struct weir_delta_table *tb = NULL;
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    memset(rows, 0, sizeof *rows);
    if (weir_delta_table_open(&tb, path, &err) != 0 || weir_delta_snapshot_load(tb, -1, &s, &err) != 0)
        fail_msg("dead-letter table %s: %s", path, err.message);
    struct weir_type *sch = NULL;
    assert_int_equal(weir_delta_scan_schema(s, NULL, 0, &sch, &err), 0);
    const char *names[] = {"pipeline",  "batch_id", "topic", "partition", "offset",
                           "timestamp", "key",      "value", "error",     "failed_at"};
    const enum weir_type_kind kinds[] = {
        WEIR_TYPE_STRING,    WEIR_TYPE_LONG,   WEIR_TYPE_STRING, WEIR_TYPE_INTEGER, WEIR_TYPE_LONG,
        WEIR_TYPE_TIMESTAMP, WEIR_TYPE_BINARY, WEIR_TYPE_BINARY, WEIR_TYPE_STRING,  WEIR_TYPE_TIMESTAMP};
    assert_fields(sch, 10, names, kinds);
    weir_type_destroy(sch);
    if (weir_delta_scan(tb, s, NULL, 0, dl_collect, rows, &err) != 0)
        fail_msg("scan: %s", err.message);
    qsort(rows->text, (size_t)rows->n, sizeof rows->text[0], cmp_str);
    int64_t v = weir_delta_snapshot_version(s);
    rows->txn = weir_delta_snapshot_txn_version(s, "query-1");
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(tb);
    return v;
}

static void test_dead_letters_delta_table(void **state)
{
    (void)state;
    char dir[64];
    assert_true(tmpdir_create(dir, sizeof dir, "xform"));
    char path[128];
    snprintf(path, sizeof path, "%s/dead", dir);

    struct weir_config_step st[1];
    struct weir_config_pipeline p;
    decode_step(&st[0], ORDERS_DDL, WEIR_ON_ERROR_DEAD_LETTER);
    st[0].decode.dead_letter_path = path;
    st[0].decode.max_record_size = 40;
    pipeline(&p, st, 1);
    struct weir_transform *t = make(&p, KAFKA_DDL);
    /* no _rescued_data; declared nullability kept */
    assert_int_equal(weir_transform_schema(t)->nfields, 4);

    struct weir_batch *in = kafka_batch();
    add_record(in, "orders", 1, 20, "{\"id\": 1, \"amount\": 2}", 22);
    add_record(in, "orders", 1, 21, "{\"id\": tru", 10);
    add_record(in, "orders", 1, 22, NULL, 0);
    add_record(in, "orders", 1, 23, "{\"user\": \"\xc3\"}", 13);
    add_record(in, "orders", 1, 24, "{\"id\": 5, \"user\": \"a very long user name indeed\"}", 50);
    add_record(in, "orders", 1, 25, "{\"id\": 6}", 9);

    struct collect c = {0};
    struct weir_error err = {0};
    begin_push(t, 3, in, &c);
    /* bad records are dropped from the batch ... */
    assert_int_equal(c.acc->nrows, 2);
    assert_int_equal(weir_column_i64(&c.acc->columns[0], 0), 1);
    assert_int_equal(weir_column_i64(&c.acc->columns[0], 1), 6);
    assert_metrics(t, 6, 2, 0, 4, -1);
    /* ... and invisible until commit */
    struct weir_delta_table *tb = NULL;
    int64_t ver = 0;
    assert_int_equal(weir_delta_table_open(&tb, path, &err), 0);
    assert_int_equal(weir_delta_table_latest_version(tb, &ver, &err), WEIR_ENOTFOUND);
    weir_delta_table_destroy(tb);
    memset(&err, 0, sizeof err);
    commit_ok(t);
    collect_free(&c);

    struct dl_rows rows;
    assert_int_equal(read_dead_letters(path, &rows), 0);
    assert_int_equal(rows.n, 4);
    assert_int_equal(rows.txn, 3);
    char want[4][512];
    snprintf(want[0], 512, "21|1|orders|k21|{\"id\": tru|");
    snprintf(want[1], 512, "22|1|orders|k22|<null>|null value|3|orders-bronze|%lld|%lld",
             (long long)(NOW_US - 1000000 + 22), (long long)NOW_US);
    snprintf(want[2], 512, "23|1|orders|k23|{\"user\": \"\xc3\"}|invalid UTF-8 at byte 10|3|orders-bronze|");
    snprintf(want[3], 512,
             "24|1|orders|k24|{\"id\": 5, \"user\": \"a very long user name indeed\"}|record of 50 "
             "bytes exceeds decode.max_record_size (40)|3|");
    assert_prefix(rows.text[0], want[0]);
    assert_contains(rows.text[0], "invalid JSON");
    assert_string_equal(rows.text[1], want[1]);
    assert_prefix(rows.text[2], want[2]);
    assert_prefix(rows.text[3], want[3]);

    /* replay of batch 3 (crash before commits/3): same dead letters, none added */
    begin_push(t, 3, in, &c);
    assert_metrics(t, -1, -1, -1, 4, -1);
    commit_ok(t);
    collect_free(&c);
    assert_int_equal(read_dead_letters(path, &rows), 0);
    assert_int_equal(rows.n, 4);

    /* a replay from a fresh process (new transform, same query id) too */
    weir_transform_destroy(t);
    t = make(&p, KAFKA_DDL);
    run_batch(t, 3, in, &c);
    collect_free(&c);
    assert_int_equal(read_dead_letters(path, &rows), 0);
    assert_int_equal(rows.n, 4);

    /* a batch without dead letters commits nothing */
    weir_batch_clear(in);
    add_record(in, "orders", 0, 30, "{\"id\": 7}", 9);
    run_batch(t, 4, in, &c);
    collect_free(&c);
    assert_int_equal(read_dead_letters(path, &rows), 0);

    /* an aborted batch leaves nothing; its rerun commits once */
    weir_batch_clear(in);
    add_record(in, "orders", 0, 31, "x", 1);
    begin_push(t, 5, in, &c);
    weir_transform_abort(t);
    assert_int_equal(read_dead_letters(path, &rows), 0);
    begin_push(t, 5, in, &c);
    push_ok(t, in, &c); /* two pushes in one batch: one commit */
    commit_ok(t);
    collect_free(&c);
    assert_int_equal(read_dead_letters(path, &rows), 1);
    assert_int_equal(rows.n, 6);
    assert_int_equal(rows.txn, 5);
    assert_prefix(rows.text[4], "31|0|orders|k31|x|byte 0: invalid JSON");
    assert_prefix(rows.text[5], "31|0|orders|k31|x|byte 0: invalid JSON");

    weir_batch_destroy(in);
    weir_transform_destroy(t);
    tmpdir_remove(dir);
}

/* Late rows to the dead-letter table: the row as JSON in value, the Kafka
 * coordinates from the kept columns, the reason naming both times; the
 * rows on time pass; a replay adds nothing. */
static void test_late_rows_dead_letters(void **state)
{
    (void)state;
    char dir[64];
    assert_true(tmpdir_create(dir, sizeof dir, "xform"));
    char path[128];
    snprintf(path, sizeof path, "%s/late", dir);
    struct weir_config_step st[2];
    struct weir_config_pipeline p;
    decode_step(&st[0], "id LONG, ts TIMESTAMP", WEIR_ON_ERROR_FAIL);
    char *keep[] = {"topic", "partition", "offset", "key"};
    st[0].decode.keep = keep;
    st[0].decode.nkeep = 4;
    memset(&st[1], 0, sizeof st[1]);
    st[1].kind = WEIR_STEP_WATERMARK;
    st[1].watermark.column = (char *)"ts";
    st[1].watermark.late_rows = WEIR_LATE_DEAD_LETTER;
    st[1].watermark.dead_letter_path = path;
    pipeline(&p, st, 2);
    struct weir_transform *t = make(&p, KAFKA_DDL);
    struct weir_batch *in = kafka_batch();
    /* watermark 2024-01-01T10:00:00Z: ids 1 and 3 are late (3 exactly at it) */
    const char *v[] = {"{\"id\": 1, \"ts\": \"2024-01-01T09:59:59Z\"}",
                       "{\"id\": 2, \"ts\": \"2024-01-01T10:00:01Z\"}",
                       "{\"id\": 3, \"ts\": \"2024-01-01T10:00:00Z\"}", "{\"id\": 4, \"ts\": null}"};
    for (int i = 0; i < 4; i++)
        add_record(in, "orders", 2, 40 + i, v[i], strlen(v[i]));
    const int64_t wm_ms = INT64_C(1704103200000);
    for (int run = 0; run < 2; run++) { /* the second run replays batch 7 */
        struct collect c = {0};
        struct weir_error err = {0};
        if (weir_transform_begin(t, 7, wm_ms, NOW_US / 1000, &err) != 0)
            fail_msg("begin: %s", err.message);
        push_ok(t, in, &c);
        assert_int_equal(c.acc->nrows, 2); /* ids 2 and 4 (a null event time is not late) */
        assert_int_equal(weir_column_i64(&c.acc->columns[0], 0), 2);
        assert_int_equal(weir_column_i64(&c.acc->columns[0], 1), 4);
        commit_ok(t);
        collect_free(&c);
        struct dl_rows rows;
        assert_int_equal(read_dead_letters(path, &rows), 0);
        assert_int_equal(rows.n, 2);
        assert_int_equal(rows.txn, 7);
        assert_prefix(rows.text[0], "40|2|orders|k40|{\"id\":1,\"ts\":\"2024-01-01T09:59:59");
        assert_contains(rows.text[0], "|late: event time 2024-01-01T09:59:59");
        assert_contains(rows.text[0], "is at or before the watermark 2024-01-01T10:00:00");
        assert_contains(rows.text[0], "|7|orders-bronze|<null>|");
        assert_prefix(rows.text[1], "42|2|orders|k42|{\"id\":3,");
    }
    weir_batch_destroy(in);
    weir_transform_destroy(t);
    tmpdir_remove(dir);
}

/* More dead letters than one flush holds: every one arrives, in one commit. */
static void test_dead_letters_flush(void **state)
{
    (void)state;
    char dir[64];
    assert_true(tmpdir_create(dir, sizeof dir, "xform"));
    char path[128];
    snprintf(path, sizeof path, "%s/dead", dir);
    struct weir_config_step st[1];
    struct weir_config_pipeline p;
    decode_step(&st[0], "id LONG", WEIR_ON_ERROR_DEAD_LETTER);
    st[0].decode.dead_letter_path = path;
    pipeline(&p, st, 1);
    struct weir_transform *t = make(&p, KAFKA_DDL);
    struct weir_batch *in = kafka_batch();
    const int n = 10000;
    for (int i = 0; i < n; i++) {
        char v[32];
        int k = snprintf(v, sizeof v, "{\"id\": \"%d\"}", i);
        add_record(in, "orders", i % 3, i, v, (size_t)k);
    }
    struct collect c = {0};
    struct weir_error err = {0};
    begin_push(t, 0, in, &c);
    assert_int_equal(c.calls, 0);
    commit_ok(t);

    struct weir_delta_table *tb = NULL;
    struct weir_delta_snapshot *s = NULL;
    assert_int_equal(weir_delta_table_open(&tb, path, &err), 0);
    assert_int_equal(weir_delta_snapshot_load(tb, -1, &s, &err), 0);
    assert_int_equal(weir_delta_snapshot_version(s), 0);
    assert_int_equal(weir_delta_snapshot_total_rows(s), n);
    assert_int_equal(weir_delta_snapshot_txn_version(s, "query-1"), 0);
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(tb);

    weir_batch_destroy(in);
    weir_transform_destroy(t);
    tmpdir_remove(dir);
}

/* Fail each allocation in turn during create + push: every failure is
 * reported (never a crash, never a leak under ASan), and the run with
 * enough memory decodes everything. */
static void test_allocation_failures(void **state)
{
    (void)state;
    struct weir_config_step st[3];
    struct weir_config_pipeline p;
    char *keep[] = {"offset"};
    char *sel[] = {"id", "upper(user) AS who", "offset", "_rescued_data"};
    decode_step(&st[0], ORDERS_DDL, WEIR_ON_ERROR_RESCUE);
    st[0].decode.keep = keep;
    st[0].decode.nkeep = 1;
    memset(&st[1], 0, sizeof st[1]);
    st[1].kind = WEIR_STEP_WHERE;
    st[1].where = (char *)"id IS NULL OR id > 1";
    memset(&st[2], 0, sizeof st[2]);
    st[2].kind = WEIR_STEP_SELECT;
    st[2].select = sel;
    st[2].nselect = 4;
    pipeline(&p, st, 3);
    struct weir_type *in_t = ddl_schema(KAFKA_DDL);
    struct weir_batch *in = kafka_batch();
    add_text(in, 1, "{\"id\": 1, \"user\": \"a\"}");
    add_text(in, 2, "{\"id\": 2, \"user\": \"b\"}");
    add_text(in, 3, "{\"id\": \"x\"}");
    add_text(in, 4, NULL);
    bool done = false;
    long n;
    for (n = 0; n < 100000 && !done; n++) {
        struct weir_transform *t = NULL;
        struct weir_error err = {0};
        struct collect c = {0};
        weir_alloc_fail_after(n);
        int rc = weir_transform_create(&p, in_t, "query-1", NULL, &t, &err);
        if (rc == 0)
            rc = weir_transform_begin(t, 0, 0, 0, &err);
        if (rc == 0)
            rc = weir_transform_push(t, in, NOW_US, collect_cb, &c, &err);
        weir_alloc_fail_after(-1);
        if (rc == 0) {
            done = c.acc != NULL && c.acc->nrows == 3;
            assert_true(done);
            assert_string_equal(str_at(c.acc, 1, 0), "B");
            assert_int_equal(weir_column_i64(&c.acc->columns[2], 2), 4);
            assert_contains(str_at(c.acc, 3, 1), "field 'id'");
            commit_ok(t);
        } else {
            assert_true(err.message[0] != '\0');
            weir_transform_abort(t);
        }
        collect_free(&c);
        weir_transform_destroy(t);
    }
    assert_true(done);
    assert_true(n > 20); /* the loop really failed allocations on the way */
    weir_batch_destroy(in);
    weir_type_destroy(in_t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_good_records),
        cmocka_unit_test(test_decode_bad_records_rescued),
        cmocka_unit_test(test_decode_string_value_not_null),
        cmocka_unit_test(test_decode_keep_columns),
        cmocka_unit_test(test_decode_fail_names_offset),
        cmocka_unit_test(test_where_select_chain),
        cmocka_unit_test(test_pipelined_pushes),
        cmocka_unit_test(test_typed_source_and_identity),
        cmocka_unit_test(test_create_errors_name_the_step),
        cmocka_unit_test(test_dead_letters_delta_table),
        cmocka_unit_test(test_dead_letters_flush),
        cmocka_unit_test(test_late_rows_dead_letters),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
