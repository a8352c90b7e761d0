/* tests/fuzz/fuzz_decode_record.c - fuzz target: arbitrary bytes as Kafka
 * record values through the transform's decode step (stream/transform.h).
 *
 * The input is split at NUL bytes into records (a lone "\x01" piece stands
 * for a null value); the first byte picks max_record_size (byte * 4, 0 = 1
 * MiB). The records pass through decode (a schema with every Delta type,
 * on_error rescue, keep offset) and a where + select over the decoded
 * columns. Invariants: no crash, leak or out-of-bounds read; every record
 * comes out as exactly one row (rescue drops nothing); a row is either
 * decoded or has _rescued_data, whose JSON decodes back to a non-empty error
 * and the record's offset. With on_error fail a failed push is a parse
 * error naming the record's topic, partition and offset. Every record also
 * goes through the JSON decoder twice, with a flat schema (its one-pass
 * path) and with the same schema plus a nested field (its tree path): both
 * must fail with the same message or produce the same row.
 * Single-threaded; all state is rebuilt per input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "core/buf.h"
#include "core/types.h"
#include "formats/json.h"
#include "stream/config.h"
#include "stream/transform.h"

static const char *const ALL_TYPES =
    "b BOOLEAN, i8 BYTE, i16 SHORT, i32 INT, i64 LONG, f32 FLOAT, f64 DOUBLE, dec DECIMAL(10,2), "
    "s STRING, bin BINARY, d DATE, ts TIMESTAMP, ntz TIMESTAMP_NTZ, st STRUCT<a: INT, b: STRING>, "
    "arr ARRAY<LONG>, m MAP<STRING, INT>, req LONG NOT NULL";
static const char *const KAFKA = "key BINARY, value BINARY, topic STRING, partition INT, offset LONG, "
                                 "timestamp TIMESTAMP, timestamp_type INT";

struct outcome {
    struct weir_batch *acc;
};

static int keep_cb(void *ctx, const struct weir_batch *b, struct weir_error *err)
{
    struct outcome *o = ctx;
    if (o->acc == NULL && (o->acc = weir_batch_create(b->schema)) == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (size_t c = 0; c < b->ncolumns; c++)
        for (size_t r = 0; r < b->nrows; r++)
            if (weir_column_append_from(&o->acc->columns[c], &b->columns[c], r) != 0)
                return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    return weir_batch_finish_rows(o->acc);
}

/* The input as a Kafka batch: records split at NUL, offsets 0, 1, ... */
static struct weir_batch *records(const uint8_t *data, size_t size)
{
    struct weir_type *t = NULL;
    if (weir_schema_from_ddl(KAFKA, &t, NULL) != 0)
        abort();
    struct weir_batch *b = weir_batch_create(t);
    weir_type_destroy(t);
    if (b == NULL)
        abort();
    size_t start = 0;
    int64_t off = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != 0)
            continue;
        const uint8_t *p = data + start;
        size_t n = i - start;
        struct weir_column *c = b->columns;
        int rc = weir_column_append_bytes(&c[0], "k", 1);
        if (n == 1 && p[0] == 1)
            rc |= weir_column_append_null(&c[1]);
        else
            rc |= weir_column_append_bytes(&c[1], p, n);
        rc |= weir_column_append_bytes(&c[2], "t", 1);
        rc |= weir_column_append_i32(&c[3], 0);
        rc |= weir_column_append_i64(&c[4], off++);
        rc |= weir_column_append_i64(&c[5], 0);
        rc |= weir_column_append_i32(&c[6], 0);
        if (rc != 0 || weir_batch_finish_rows(b) != 0)
            abort();
        start = i + 1;
    }
    return b;
}

/* _rescued_data must be a JSON object with a non-empty error and `offset`. */
static void check_rescued(const uint8_t *p, size_t n, int64_t offset)
{
    struct weir_type *t = NULL;
    struct weir_json_decoder *d = NULL;
    struct weir_batch *b = NULL;
    if (weir_schema_from_ddl("error STRING NOT NULL, value STRING, value_base64 BINARY, offset LONG NOT NULL",
                             &t, NULL) != 0 ||
        (b = weir_batch_create(t)) == NULL || weir_json_decoder_create(&d, t, NULL, NULL) != 0)
        abort();
    if (weir_json_decode_record(d, (const char *)p, n, b, NULL) != 0 || b->nrows != 1)
        abort();
    size_t en;
    weir_column_bytes(&b->columns[0], 0, &en);
    if (en == 0 || weir_column_i64(&b->columns[3], 0) != offset)
        abort();
    weir_json_decoder_destroy(d);
    weir_batch_destroy(b);
    weir_type_destroy(t);
}

static void run(const uint8_t *data, size_t size, int on_error)
{
    struct weir_config_step st[3];
    struct weir_config_pipeline p;
    char *keep[] = {"offset"};
    char *sel[] = {"*", "CAST(i64 AS STRING) AS i64s", "upper(s) AS su"};
    memset(st, 0, sizeof st);
    memset(&p, 0, sizeof p);
    st[0].kind = WEIR_STEP_DECODE;
    st[0].decode.schema = (char *)ALL_TYPES;
    st[0].decode.on_error = on_error;
    st[0].decode.max_record_size = size > 0 && data[0] != 0 ? (int64_t)data[0] * 4 : 1 << 20;
    st[0].decode.keep = keep;
    st[0].decode.nkeep = 1;
    st[1].kind = WEIR_STEP_WHERE;
    st[1].where = (char *)"offset >= 0";
    st[2].kind = WEIR_STEP_SELECT;
    st[2].select = sel;
    st[2].nselect = 3;
    p.name = (char *)"fuzz";
    p.steps = st;
    p.nsteps = 3;

    struct weir_batch *in = records(data, size);
    struct weir_transform *t = NULL;
    struct weir_error err = {0};
    struct outcome o = {0};
    if (weir_transform_create(&p, in->schema, "q", NULL, &t, &err) != 0 ||
        weir_transform_begin(t, 0, 0, 0, &err) != 0)
        abort();
    int rc = weir_transform_push(t, in, 0, keep_cb, &o, &err);
    if (on_error == WEIR_ON_ERROR_RESCUE) {
        if (rc != 0 || o.acc == NULL || o.acc->nrows != in->nrows)
            abort(); /* rescue never fails on bad data and drops nothing */
        int rd = weir_type_field_index(o.acc->schema, "_rescued_data");
        int req = weir_type_field_index(o.acc->schema, "req");
        int off = weir_type_field_index(o.acc->schema, "offset");
        if (rd < 0 || req < 0 || off < 0)
            abort();
        for (size_t r = 0; r < o.acc->nrows; r++) {
            bool rescued = weir_column_is_valid(&o.acc->columns[rd], r);
            bool decoded = weir_column_is_valid(&o.acc->columns[req], r); /* NOT NULL when decoded */
            if (rescued == decoded || weir_column_i64(&o.acc->columns[off], r) != (int64_t)r)
                abort();
            if (rescued) {
                size_t n;
                const uint8_t *s = weir_column_bytes(&o.acc->columns[rd], r, &n);
                check_rescued(s, n, (int64_t)r);
            }
        }
        struct weir_transform_metrics m;
        weir_transform_metrics(t, &m);
        if (m.rows_in != (int64_t)in->nrows || m.rows_out != (int64_t)in->nrows)
            abort();
    } else if (rc != 0) {
        if (rc != WEIR_EPARSE ||
            strstr(err.message, "transform[0].decode: topic 't' partition 0 offset ") == NULL)
            abort();
    }
    if (rc == 0)
        rc = weir_transform_commit(t, &err);
    else
        weir_transform_abort(t);
    weir_transform_destroy(t);
    weir_batch_destroy(o.acc);
    weir_batch_destroy(in);
}

static const char *const FLAT = "b BOOLEAN, i8 BYTE, i16 SHORT, i32 INT, i64 LONG, f32 FLOAT, f64 DOUBLE, "
                                "dec DECIMAL(10,2), s STRING, d DATE, ts TIMESTAMP, ntz TIMESTAMP_NTZ, "
                                "req LONG NOT NULL";

struct side {
    struct weir_type *t;
    struct weir_json_decoder *d;
    struct weir_batch *b;
    struct weir_buf row;
    struct weir_error err;
};

static void side_open(struct side *x, const char *ddl)
{
    memset(x, 0, sizeof *x);
    weir_buf_init(&x->row);
    if (weir_schema_from_ddl(ddl, &x->t, NULL) != 0 || (x->b = weir_batch_create(x->t)) == NULL ||
        weir_json_decoder_create(&x->d, x->t, NULL, NULL) != 0)
        abort();
}

static void side_close(struct side *x)
{
    weir_json_decoder_destroy(x->d);
    weir_batch_destroy(x->b);
    weir_type_destroy(x->t);
    weir_buf_free(&x->row);
}

static void one_pass_vs_tree(const uint8_t *data, size_t size)
{
    char twin[512];
    snprintf(twin, sizeof twin, "%s, zz ARRAY<INT>", FLAT);
    struct side a, b;
    side_open(&a, FLAT);
    side_open(&b, twin);
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != 0)
            continue;
        const char *p = (const char *)data + start;
        size_t n = i - start;
        start = i + 1;
        weir_error_clear(&a.err);
        weir_error_clear(&b.err);
        int ra = weir_json_decode_record(a.d, p, n, a.b, &a.err);
        int rb = weir_json_decode_record(b.d, p, n, b.b, &b.err);
        if (ra != rb || strcmp(a.err.message, b.err.message) != 0)
            abort();
        if (ra != 0)
            continue;
        a.row.len = b.row.len = 0;
        if (weir_json_encode_row(a.b, a.b->nrows - 1, &a.row, NULL) != 0 ||
            weir_json_encode_row(b.b, b.b->nrows - 1, &b.row, NULL) != 0)
            abort();
        const char *tail = ",\"zz\":null}\n";
        size_t tl = strlen(tail);
        if (b.row.len < tl || memcmp(b.row.data + b.row.len - tl, tail, tl) != 0)
            abort();
        b.row.len -= tl;
        if (weir_buf_append_str(&b.row, "}\n") != 0 || a.row.len != b.row.len ||
            memcmp(a.row.data, b.row.data, a.row.len) != 0)
            abort();
    }
    side_close(&a);
    side_close(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_pass_vs_tree(data, size);
    run(data, size, WEIR_ON_ERROR_RESCUE);
    run(data, size, WEIR_ON_ERROR_FAIL);
    return 0;
}
