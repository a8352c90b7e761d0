/* tests/unit/test_source_datagen.c - the datagen source (sources/datagen.c).
 *
 * Covers the description and schema, determinism of read() for a range
 * however it is chunked, seeds, exact ids, planning without a rate (default
 * and configured per-trigger sizes, max_rows, caps) and with a rate (upper
 * bounds measured around the call, never a lower timing threshold), every
 * Delta type including nesting (JSON round trip, value rules, nulls only
 * where the schema allows them, distinct map keys), bad configs and
 * offsets, a callback that stops the read, and allocation failures. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/buf.h"
#include "core/util.h"
#include "formats/json.h"
#include "sources/source.h"
#include "stream/config.h"
#include "test_util.h"

#define BASE_US   INT64_C(1704067200000000) /* 2024-01-01T00:00:00Z */
#define BASE_DAYS 19723

static struct weir_config_pipeline cfg(const char *schema, int64_t rate, int64_t seed, int64_t max_rows,
                                       int64_t per_trigger)
{
    struct weir_config_pipeline p;
    memset(&p, 0, sizeof p);
    p.name = (char *)"gen";
    p.source = WEIR_SOURCE_DATAGEN;
    p.datagen.schema = (char *)schema;
    p.datagen.rows_per_second = rate;
    p.datagen.seed = seed;
    p.datagen.max_rows = max_rows;
    p.datagen.max_rows_per_trigger = per_trigger;
    return p;
}

static struct weir_source *make(const char *schema, int64_t rate, int64_t seed, int64_t max_rows,
                                int64_t per_trigger)
{
    struct weir_config_pipeline p = cfg(schema, rate, seed, max_rows, per_trigger);
    struct weir_source *s = NULL;
    struct weir_error err = {0};
    if (weir_source_create(&p, NULL, &s, &err) != 0)
        fail_msg("create: %s", err.message);
    return s;
}

/* Collects what read() emits: JSON text, rows, batches, the largest. */
struct collect {
    struct weir_buf json;
    size_t rows, batches, max_batch;
    int stop_after;          /* return an error after this many batches (0: never) */
    struct weir_batch *copy; /* optional: all rows appended here */
};

static int collect_cb(void *ctx, const struct weir_batch *b, struct weir_error *err)
{
    struct collect *c = ctx;
    if (weir_json_encode_batch(b, &c->json, err) != 0)
        return -1;
    c->rows += b->nrows;
    c->batches++;
    if (b->nrows > c->max_batch)
        c->max_batch = b->nrows;
    if (c->copy != NULL) {
        for (size_t r = 0; r < b->nrows; r++)
            for (size_t k = 0; k < b->ncolumns; k++)
                if (weir_column_append_from(&c->copy->columns[k], &b->columns[k], r) != 0)
                    return WEIR_ENOMEM;
        if (weir_batch_finish_rows(c->copy) != 0)
            return WEIR_ESTATE;
    }
    if (c->stop_after > 0 && (int)c->batches >= c->stop_after)
        return weir_error_set(err, WEIR_ESTATE, "stop requested");
    return 0;
}

static char *rows_json(int64_t n)
{
    static char buf[4][64];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "{\"rows\":%" PRId64 "}", n);
    return buf[k];
}

/* read(start, end) as JSON lines (caller frees). */
static char *read_text(struct weir_source *s, int64_t start, int64_t end, size_t *batches, size_t *max_batch)
{
    struct collect c = {0};
    weir_buf_init(&c.json);
    struct weir_error err = {0};
    if (s->ops->read(s, rows_json(start), rows_json(end), collect_cb, &c, &err) != 0)
        fail_msg("read %" PRId64 "..%" PRId64 ": %s", start, end, err.message);
    assert_int_equal(c.rows, (size_t)(end - start));
    if (batches)
        *batches = c.batches;
    if (max_batch)
        *max_batch = c.max_batch;
    char *t = weir_buf_detach(&c.json);
    return t ? t : weir_strdup("");
}

/* Pointer to line `n` (0-based) of text, and its length with '\n'. */
static const char *line_at(const char *text, size_t n, size_t *len)
{
    const char *p = text;
    for (size_t i = 0; i < n; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    const char *e = strchr(p, '\n');
    assert_non_null(e);
    *len = (size_t)(e - p) + 1;
    return p;
}

static int64_t plan_end(struct weir_source *s, int64_t start, const char *cap, struct weir_source_plan *pl)
{
    struct weir_error err = {0};
    if (s->ops->plan(s, rows_json(start), cap, false, pl, &err) != 0)
        fail_msg("plan: %s", err.message);
    int64_t end = -1;
    assert_int_equal(sscanf(pl->end, "{\"rows\":%" SCNd64 "}", &end), 1);
    assert_int_equal(pl->has_data, end > start);
    assert_int_equal(pl->num_offsets, end - start);
    return end;
}

/* ---------------------------------------------------------------- tests */

static void test_description_and_schema(void **state)
{
    (void)state;
    struct weir_source *s = make("id LONG, user STRING, amount DOUBLE", 5000, 1, 0, 0);
    assert_string_equal(s->description, "DatagenSource[rowsPerSecond=5000, seed=1]");
    assert_non_null(s->schema);
    assert_int_equal(s->schema->nfields, 3);
    assert_string_equal(s->schema->fields[1].name, "user");
    assert_string_equal(s->pipeline, "gen");
    char *init = NULL;
    struct weir_error err = {0};
    assert_int_equal(s->ops->initial(s, &init, &err), 0);
    assert_string_equal(init, "{\"rows\":0}");
    weir_free(init);
    weir_source_destroy(s);
    weir_source_destroy(NULL);

    /* Delta schema JSON works too; unlimited rate shows 0 */
    s = make("{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":false,"
             "\"metadata\":{}}]}",
             0, -7, 0, 0);
    assert_string_equal(s->description, "DatagenSource[rowsPerSecond=0, seed=-7]");
    weir_source_destroy(s);
}

static void test_determinism(void **state)
{
    (void)state;
    const char *schema = "id LONG, user STRING, amount DOUBLE, ts TIMESTAMP, tags ARRAY<STRING>";
    struct weir_source *s = make(schema, 0, 42, 0, 0);
    char *a = read_text(s, 1000, 1100, NULL, NULL);
    char *b = read_text(s, 1000, 1100, NULL, NULL);
    assert_string_equal(a, b);
    /* a new source with the same seed (a restart) gives the same rows */
    struct weir_source *s2 = make(schema, 0, 42, 0, 0);
    char *c = read_text(s2, 1000, 1100, NULL, NULL);
    assert_string_equal(a, c);
    /* rows are the same inside a larger range: pure function of the row */
    char *wide = read_text(s, 900, 1300, NULL, NULL);
    size_t len = 0;
    const char *at = line_at(wide, 100, &len);
    assert_memory_equal(at, a, strlen(a));
    at = line_at(wide, 200, &len);
    assert_ptr_equal(at, line_at(wide, 100, &len) + strlen(a));
    /* and however read() chunks them: 0..70000 is two batches */
    size_t batches = 0, max_batch = 0;
    char *big = read_text(s, 0, 70000, &batches, &max_batch);
    assert_int_equal(batches, 2);
    assert_int_equal(max_batch, 65536);
    char *mid = read_text(s2, 65000, 66000, NULL, NULL);
    at = line_at(big, 65000, &len);
    assert_memory_equal(at, mid, strlen(mid));
    assert_ptr_equal(line_at(at, 1000, &len), at + strlen(mid));
    weir_free(a);
    weir_free(b);
    weir_free(c);
    weir_free(wide);
    weir_free(big);
    weir_free(mid);
    weir_source_destroy(s);
    weir_source_destroy(s2);
}

static void test_seed_differs(void **state)
{
    (void)state;
    const char *schema = "id LONG, user STRING, amount DOUBLE";
    struct weir_source *s1 = make(schema, 0, 1, 0, 0);
    struct weir_source *s2 = make(schema, 0, 2, 0, 0);
    char *a = read_text(s1, 0, 1000, NULL, NULL);
    char *b = read_text(s2, 0, 1000, NULL, NULL);
    assert_string_not_equal(a, b);
    /* ids do not depend on the seed; other values do, in most rows */
    size_t differ = 0;
    for (size_t r = 0; r < 1000; r++) {
        size_t l1, l2;
        const char *x = line_at(a, r, &l1);
        const char *y = line_at(b, r, &l2);
        char want[64];
        snprintf(want, sizeof want, "{\"id\":%zu,", r);
        assert_memory_equal(x, want, strlen(want));
        assert_memory_equal(y, want, strlen(want));
        differ += l1 != l2 || memcmp(x, y, l1) != 0;
    }
    assert_true(differ > 900);
    weir_free(a);
    weir_free(b);
    weir_source_destroy(s1);
    weir_source_destroy(s2);
}

static void test_ids_exact(void **state)
{
    (void)state;
    struct weir_source *s = make("user STRING, id LONG, n LONG", 0, 3, 0, 0);
    struct weir_type *schema = weir_type_clone(s->schema);
    struct collect c = {0};
    weir_buf_init(&c.json);
    c.copy = weir_batch_create(schema);
    struct weir_error err = {0};
    assert_int_equal(s->ops->read(s, rows_json(123456), rows_json(223456), collect_cb, &c, &err), 0);
    assert_int_equal(c.copy->nrows, 100000);
    const struct weir_column *id = &c.copy->columns[1];
    assert_int_equal(id->null_count, 0);
    for (size_t r = 0; r < 100000; r++)
        assert_int_equal(weir_column_i64(id, r), 123456 + (int64_t)r);
    /* "n" is an ordinary long: not the row number, sometimes null */
    const struct weir_column *n = &c.copy->columns[2];
    assert_true(n->null_count > 0);
    size_t equal = 0;
    for (size_t r = 0; r < 100000; r++)
        equal += weir_column_is_valid(n, r) && weir_column_i64(n, r) == 123456 + (int64_t)r;
    assert_true(equal < 10);
    weir_batch_destroy(c.copy);
    weir_type_destroy(schema);
    weir_buf_free(&c.json);
    weir_source_destroy(s);

    /* INTEGER id, any case; a STRING "id" is just a string */
    s = make("ID INT, x STRING", 0, 3, 0, 0);
    char *t = read_text(s, 7, 9, NULL, NULL);
    assert_non_null(strstr(t, "{\"ID\":7,"));
    assert_non_null(strstr(t, "{\"ID\":8,"));
    weir_free(t);
    weir_source_destroy(s);
    s = make("id STRING", 0, 3, 0, 0);
    t = read_text(s, 0, 1, NULL, NULL);
    assert_non_null(strstr(t, "\"id_"));
    weir_free(t);
    weir_source_destroy(s);
}

static void test_plan_unlimited(void **state)
{
    (void)state;
    struct weir_source_plan pl = {0};
    struct weir_source *s = make("id LONG", 0, 1, 0, 0);
    assert_int_equal(plan_end(s, 0, NULL, &pl), 1000000);
    weir_source_plan_clear(&pl);
    assert_int_equal(plan_end(s, 5000000, NULL, &pl), 6000000);
    weir_source_plan_clear(&pl);
    assert_int_equal(plan_end(s, 0, "{\"rows\":300}", &pl), 300); /* cap */
    weir_source_plan_clear(&pl);
    assert_int_equal(plan_end(s, 500, "{\"rows\":300}", &pl), 500); /* past the cap: no data */
    assert_false(pl.has_data);
    weir_source_plan_clear(&pl);
    weir_source_destroy(s);

    s = make("id LONG", 0, 1, 0, 1000);
    assert_int_equal(plan_end(s, 0, NULL, &pl), 1000);
    weir_source_plan_clear(&pl);
    weir_source_destroy(s);

    /* max_rows stops the source */
    s = make("id LONG", 0, 1, 2500000, 0);
    int64_t start = 0;
    int64_t ends[] = {1000000, 2000000, 2500000, 2500000};
    for (size_t k = 0; k < 4; k++) {
        int64_t end = plan_end(s, start, NULL, &pl);
        assert_int_equal(end, ends[k]);
        assert_string_equal(pl.latest, "{\"rows\":2500000}");
        weir_source_plan_clear(&pl);
        start = end;
    }
    assert_int_equal(plan_end(s, 2500000, NULL, &pl), 2500000);
    assert_false(pl.has_data);
    weir_source_plan_clear(&pl);
    weir_source_destroy(s);

    /* reading everything up to max_rows: batches of at most 65536 */
    s = make("id LONG, v DOUBLE", 0, 1, 200000, 0);
    assert_int_equal(plan_end(s, 0, NULL, &pl), 200000);
    weir_source_plan_clear(&pl);
    size_t batches = 0, max_batch = 0;
    char *t = read_text(s, 0, 200000, &batches, &max_batch);
    assert_int_equal(batches, 4);
    assert_int_equal(max_batch, 65536);
    weir_free(t);
    weir_source_destroy(s);
}

/* Most rows a source created after t0 can have made due by now. */
static int64_t due_bound(int64_t rate, int64_t t0)
{
    return (int64_t)((double)rate * (double)(weir_mono_ns() - t0) / 1e9) + 1;
}

static void test_plan_rate(void **state)
{
    (void)state;
    const int64_t rate = 1000000;
    struct weir_source_plan pl = {0};
    int64_t t0 = weir_mono_ns();
    struct weir_source *s = make("id LONG", rate, 1, 0, 0);
    int64_t end = plan_end(s, 0, NULL, &pl);
    assert_true(end <= due_bound(rate, t0));
    weir_source_plan_clear(&pl);
    sleep_ms(200);
    end = plan_end(s, 0, NULL, &pl);
    assert_true(end <= due_bound(rate, t0));
    assert_true(end > 0); /* 200 ms at 1M rows/s made rows due */
    weir_source_plan_clear(&pl);
    /* the next batch continues from the previous end, same clock */
    int64_t end2 = plan_end(s, end, NULL, &pl);
    assert_true(end2 >= end);
    assert_true(end2 <= due_bound(rate, t0));
    weir_source_plan_clear(&pl);
    /* --available-now: the cap from the first plan bounds later batches */
    struct weir_error err = {0};
    assert_int_equal(s->ops->plan(s, rows_json(0), rows_json(end), true, &pl, &err), 0);
    assert_string_equal(pl.end, rows_json(end));
    weir_source_plan_clear(&pl);
    weir_source_destroy(s);

    /* a restart resumes from the checkpoint's offset: due counts from there */
    t0 = weir_mono_ns();
    s = make("id LONG", rate, 1, 0, 0);
    const int64_t resume = 1000000000000;
    end = plan_end(s, resume, NULL, &pl);
    assert_true(end >= resume);
    assert_true(end - resume <= due_bound(rate, t0));
    weir_source_plan_clear(&pl);
    weir_source_destroy(s);

    /* max_rows_per_trigger and max_rows cap the due rows */
    s = make("id LONG", rate, 1, 0, 50);
    sleep_ms(200);
    end = plan_end(s, 0, NULL, &pl);
    assert_int_equal(end, 50);
    weir_source_plan_clear(&pl);
    weir_source_destroy(s);
    s = make("id LONG", rate, 1, 10, 0);
    sleep_ms(200);
    end = plan_end(s, 0, NULL, &pl);
    assert_int_equal(end, 10);
    weir_source_plan_clear(&pl);
    end = plan_end(s, 10, NULL, &pl);
    assert_int_equal(end, 10);
    assert_false(pl.has_data);
    weir_source_plan_clear(&pl);
    weir_source_destroy(s);
}

/* Fails unless no value anywhere under this column is null where its type
 * says not nullable; `nullable` is whether the column's own values may be. */
static void check_nulls(const struct weir_column *c, bool nullable, const char *path)
{
    if (!nullable && c->null_count != 0)
        fail_msg("%s: %zu nulls in a NOT NULL column", path, c->null_count);
    const struct weir_type *t = c->type;
    char sub[256];
    if (t->kind == WEIR_TYPE_STRUCT) {
        for (size_t k = 0; k < t->nfields; k++) {
            snprintf(sub, sizeof sub, "%s.%s", path, t->fields[k].name);
            /* a null struct row has null children: count only valid parents */
            const struct weir_column *ch = &c->children[k];
            if (!t->fields[k].nullable)
                for (size_t r = 0; r < ch->length; r++)
                    if (weir_column_is_valid(c, r) && !weir_column_is_valid(ch, r))
                        fail_msg("%s: null at row %zu in a NOT NULL field", sub, r);
            check_nulls(ch, true, sub);
        }
    } else if (t->kind == WEIR_TYPE_ARRAY) {
        snprintf(sub, sizeof sub, "%s[]", path);
        check_nulls(&c->children[0], t->contains_null, sub);
    } else if (t->kind == WEIR_TYPE_MAP) {
        snprintf(sub, sizeof sub, "%s.key", path);
        check_nulls(&c->children[0], false, sub);
        snprintf(sub, sizeof sub, "%s.value", path);
        check_nulls(&c->children[1], t->value_contains_null, sub);
    }
}

static void check_map_keys_distinct(const struct weir_column *c, const char *path)
{
    struct weir_buf a, b;
    weir_buf_init(&a);
    weir_buf_init(&b);
    size_t entries = 0;
    for (size_t r = 0; r < c->length; r++) {
        if (!weir_column_is_valid(c, r))
            continue;
        for (int64_t x = c->offsets[r]; x < c->offsets[r + 1]; x++) {
            entries++;
            for (int64_t y = x + 1; y < c->offsets[r + 1]; y++) {
                a.len = b.len = 0;
                assert_int_equal(weir_json_encode_value(&c->children[0], (size_t)x, &a, NULL), 0);
                assert_int_equal(weir_json_encode_value(&c->children[0], (size_t)y, &b, NULL), 0);
                if (a.len == b.len && memcmp(a.data, b.data, a.len) == 0)
                    fail_msg("%s: duplicate key in row %zu", path, r);
            }
        }
    }
    assert_true(entries > 0);
    weir_buf_free(&a);
    weir_buf_free(&b);
}

static void test_all_types(void **state)
{
    (void)state;
    const char *schema =
        "id LONG, b BOOLEAN, t TINYINT, sm SMALLINT, i INT, l BIGINT, f FLOAT, d DOUBLE, "
        "dec DECIMAL(10,2), big DECIMAL(38,6), tiny DECIMAL(1,0), str STRING, bin BINARY, dt DATE, "
        "ts TIMESTAMP, ntz TIMESTAMP_NTZ, "
        "st STRUCT<a: INT, b: STRING NOT NULL, c: STRUCT<x: DOUBLE, y: ARRAY<DATE>>>, "
        "arr ARRAY<STRING>, arr2 ARRAY<ARRAY<INT>>, arrs ARRAY<STRUCT<k: STRING, v: DECIMAL(5,1)>>, "
        "m MAP<STRING, INT>, m2 MAP<INT, STRUCT<p: STRING>>, m3 MAP<BOOLEAN, STRING>, "
        "m4 MAP<STRUCT<q: LONG>, MAP<DATE, TIMESTAMP>>, m5 MAP<DECIMAL(4,2), BINARY>, m6 MAP<TIMESTAMP, "
        "DOUBLE>, "
        "nn STRING NOT NULL, nni LONG NOT NULL, nnst STRUCT<z: INT> NOT NULL";
    struct weir_source *s = make(schema, 0, 11, 0, 0);
    /* the DDL parser marks array elements and map values nullable; make a
     * variant where they are not, through Delta JSON */
    struct weir_type *copy = weir_type_clone(s->schema);
    const size_t rows = 20000;
    struct collect c = {0};
    weir_buf_init(&c.json);
    c.copy = weir_batch_create(copy);
    struct weir_error err = {0};
    assert_int_equal(s->ops->read(s, rows_json(0), rows_json((int64_t)rows), collect_cb, &c, &err), 0);
    struct weir_batch *b = c.copy;
    assert_int_equal(b->nrows, rows);
    assert_int_equal(b->ncolumns, s->schema->nfields);

    for (size_t k = 0; k < b->ncolumns; k++) {
        const struct weir_field *f = &b->schema->fields[k];
        const struct weir_column *col = &b->columns[k];
        assert_int_equal(col->length, rows);
        check_nulls(col, f->nullable && strcmp(f->name, "id") != 0, f->name);
        if (f->nullable && strcmp(f->name, "id") != 0) {
            /* about 3% nulls: some, and far from all */
            if (col->null_count == 0 || col->null_count > rows / 10)
                fail_msg("%s: %zu nulls in %zu rows", f->name, col->null_count, rows);
        }
        if (f->type->kind == WEIR_TYPE_MAP)
            check_map_keys_distinct(col, f->name);
    }

    /* value rules */
    int ts = weir_type_field_index(b->schema, "ts"), dt = weir_type_field_index(b->schema, "dt");
    int d = weir_type_field_index(b->schema, "d"), str = weir_type_field_index(b->schema, "str");
    int dec = weir_type_field_index(b->schema, "dec"), tiny = weir_type_field_index(b->schema, "tiny");
    for (size_t r = 0; r < rows; r++) {
        const struct weir_column *cts = &b->columns[ts];
        if (weir_column_is_valid(cts, r)) {
            int64_t v = weir_column_i64(cts, r);
            assert_true(v >= BASE_US + (int64_t)r * 1000 && v < BASE_US + (int64_t)r * 1000 + 1000);
        }
        if (weir_column_is_valid(&b->columns[dt], r))
            assert_int_equal(weir_column_i32(&b->columns[dt], r), BASE_DAYS); /* 20000 ms: still Jan 1 */
        if (weir_column_is_valid(&b->columns[d], r)) {
            double v = weir_column_f64(&b->columns[d], r);
            assert_true(v >= 0 && v < 10000);
            assert_true(fabs(v * 100 - round(v * 100)) < 1e-6); /* two decimals */
        }
        if (weir_column_is_valid(&b->columns[str], r)) {
            size_t n = 0;
            const uint8_t *p = weir_column_bytes(&b->columns[str], r, &n);
            assert_true(n > 4 && n <= 7);
            assert_memory_equal(p, "str_", 4);
        }
        if (weir_column_is_valid(&b->columns[dec], r)) {
            weir_i128 v = ((const weir_i128 *)b->columns[dec].data)[r];
            assert_true(v >= 0 && v < (weir_i128)10000000000LL);
        }
        if (weir_column_is_valid(&b->columns[tiny], r)) {
            weir_i128 v = ((const weir_i128 *)b->columns[tiny].data)[r];
            assert_true(v >= 0 && v < 10);
        }
    }

    /* the JSON text decodes back to the same rows (structure is valid) */
    struct weir_json_decoder *dec_ = NULL;
    assert_int_equal(weir_json_decoder_create(&dec_, copy, NULL, &err), 0);
    struct weir_batch *back = weir_batch_create(copy);
    size_t got = 0;
    if (weir_json_decode(dec_, (const char *)c.json.data, c.json.len, back, &got, &err) != 0)
        fail_msg("decode: %s", err.message);
    assert_int_equal(got, rows);
    struct weir_buf again;
    weir_buf_init(&again);
    assert_int_equal(weir_json_encode_batch(back, &again, &err), 0);
    assert_int_equal(again.len, c.json.len);
    assert_memory_equal(again.data, c.json.data, again.len);

    weir_buf_free(&again);
    weir_batch_destroy(back);
    weir_json_decoder_destroy(dec_);
    weir_batch_destroy(c.copy);
    weir_buf_free(&c.json);
    weir_type_destroy(copy);
    weir_source_destroy(s);

    /* not-null array elements and map values (Delta JSON schema) */
    s = make(
        "{\"type\":\"struct\",\"fields\":["
        "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"elementType\":\"string\",\"containsNull\":false},"
        "\"nullable\":true,\"metadata\":{}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"keyType\":\"string\",\"valueType\":\"long\","
        "\"valueContainsNull\":false},\"nullable\":false,\"metadata\":{}}]}",
        0, 5, 0, 0);
    copy = weir_type_clone(s->schema);
    memset(&c, 0, sizeof c);
    weir_buf_init(&c.json);
    c.copy = weir_batch_create(copy);
    assert_int_equal(s->ops->read(s, rows_json(0), rows_json(5000), collect_cb, &c, &err), 0);
    check_nulls(&c.copy->columns[0], true, "a");
    check_nulls(&c.copy->columns[1], false, "m");
    assert_true(c.copy->columns[0].children[0].length > 0);
    assert_int_equal(c.copy->columns[0].children[0].null_count, 0);
    weir_batch_destroy(c.copy);
    weir_buf_free(&c.json);
    weir_type_destroy(copy);
    weir_source_destroy(s);
}

static void test_bad_config_and_offsets(void **state)
{
    (void)state;
    struct weir_source *s = NULL;
    struct weir_error err = {0};
    struct weir_config_pipeline p = cfg("id LONG, x WHATEVER", 0, 1, 0, 0);
    assert_true(weir_source_create(&p, NULL, &s, &err) < 0);
    assert_null(s);
    assert_non_null(strstr(err.message, "source.datagen.schema"));
    memset(&err, 0, sizeof err);
    p = cfg("id LONG", -5, 1, 0, 0);
    assert_int_equal(weir_source_create(&p, NULL, &s, &err), WEIR_ECONFIG);
    assert_non_null(strstr(err.message, "rows_per_second"));
    memset(&err, 0, sizeof err);
    p = cfg(NULL, 0, 1, 0, 0);
    assert_int_equal(weir_source_create(&p, NULL, &s, &err), WEIR_ECONFIG);
    assert_non_null(strstr(err.message, "schema"));
    memset(&err, 0, sizeof err);

    s = make("id LONG", 0, 1, 0, 0);
    struct weir_source_plan pl = {0};
    static const char *bad[] = {"",
                                "{}",
                                "{\"rows\":-1}",
                                "{\"rows\":1.5}",
                                "{\"rows\":1} x",
                                "{\"row\":1}",
                                "{\"rows\":99999999999999999999}",
                                "[1]"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(s->ops->plan(s, bad[k], NULL, false, &pl, &err), WEIR_EPARSE);
        assert_non_null(strstr(err.message, "DatagenSource"));
        assert_null(pl.end);
    }
    memset(&err, 0, sizeof err);
    assert_int_equal(s->ops->plan(s, " { \"rows\" : 12 } ", NULL, false, &pl, &err), 0);
    assert_string_equal(pl.end, "{\"rows\":1000012}");
    weir_source_plan_clear(&pl);
    struct collect c = {0};
    weir_buf_init(&c.json);
    assert_int_equal(s->ops->read(s, rows_json(10), rows_json(5), collect_cb, &c, &err), WEIR_EINVAL);
    memset(&err, 0, sizeof err);
    assert_int_equal(s->ops->read(s, "{\"rows\":x}", rows_json(5), collect_cb, &c, &err), WEIR_EPARSE);
    memset(&err, 0, sizeof err);
    /* an empty range emits nothing */
    assert_int_equal(s->ops->read(s, rows_json(5), rows_json(5), collect_cb, &c, &err), 0);
    assert_int_equal(c.batches, 0);
    /* a callback error stops the read and is returned */
    c.stop_after = 1;
    assert_int_equal(s->ops->read(s, rows_json(0), rows_json(200000), collect_cb, &c, &err), WEIR_ESTATE);
    assert_int_equal(c.batches, 1);
    assert_string_equal(err.message, "stop requested");
    weir_buf_free(&c.json);
    weir_source_destroy(s);
}

static int count_cb(void *ctx, const struct weir_batch *b, struct weir_error *err)
{
    (void)err;
    *(size_t *)ctx += b->nrows;
    return 0;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    struct weir_config_pipeline p =
        cfg("id LONG, s STRING, a ARRAY<STRUCT<x: INT>>, m MAP<STRING, DOUBLE>", 0, 1, 0, 0);
    bool done = false;
    for (long n = 0; n < 5000 && !done; n++) {
        struct weir_source *s = NULL;
        struct weir_error err = {0};
        size_t rows = 0;
        weir_alloc_fail_after(n);
        int rc = weir_source_create(&p, NULL, &s, &err);
        if (rc == 0)
            rc = s->ops->read(s, rows_json(0), rows_json(300), count_cb, &rows, &err);
        weir_alloc_fail_after(-1);
        if (rc == 0) {
            assert_int_equal(rows, 300);
            done = true;
        } else {
            assert_int_equal(rc, WEIR_ENOMEM);
            assert_true(err.message[0] != '\0');
        }
        weir_source_destroy(s);
    }
    assert_true(done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_description_and_schema),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_seed_differs),
        cmocka_unit_test(test_ids_exact),
        cmocka_unit_test(test_plan_unlimited),
        cmocka_unit_test(test_plan_rate),
        cmocka_unit_test(test_all_types),
        cmocka_unit_test(test_bad_config_and_offsets),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
