/* tests/unit/test_stream_stateful.c - the stateful steps (stream/stateful.h),
 * dedup and aggregate, driven directly over a real state store in a temp
 * dir, micro-batch by micro-batch (push, finish, commit; the store is
 * closed and reopened between batches where the state must survive it).
 *
 * Covers: null handling of every measure (docs/stateful.md's table);
 * first/last and every other measure across batches; approx_count_distinct
 * (HyperLogLog) accuracy, duplicate insensitivity and round trip; the
 * compatibility rules for a re-created step (measures added or dropped,
 * arguments widened; group, window, measure function and dedup keys changed
 * or narrowed are refused naming the operator and the change); dedup
 * inside a push, across pushes and batches (keys spilled to the state
 * mid-batch or held in memory, a failed batch undone either way), with ttl
 * and with a watermark
 * (plain and within_watermark, forgotten to the microsecond, counted as
 * removed once the second of their expiry has passed), with its metrics;
 * session windows that merge when an event bridges them; tumbling windows
 * emitted exactly once in append mode and then removed; sliding windows in
 * update output; exact row counts when a failed batch is undone and rerun;
 * and the state value decoders (weir_aggregate_check_value) on valid,
 * truncated and corrupt values. Expected values are worked out by hand in
 * the comments.
 *
 * With WEIR_STATE_SEEDS=<dir> set, test_check_value also writes the values
 * it reads back from the store and the corrupt variants it makes of them
 * into <dir>: the seeds of tests/fuzz/corpus/fuzz_state_values/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "core/hll.h"
#include "core/types.h"
#include "state/store.h"
#include "stream/config.h"
#include "stream/stateful.h"
#include "test_util.h"

/* A list literal for the config's (char **, size_t) pairs. */
#define LIST(...) (char *[]){__VA_ARGS__}, sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)
/* One row, one text cell per column (NULL: null); see add_row. */
#define ROW(b, ...) \
    add_row((b), (const char *const[]){__VA_ARGS__}, sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *))
/* The watermark argument of a batch without one. */
#define NO_WM INT64_MIN

/* ---------------------------------------------------------------- fixture */

struct fx {
    char dir[64];
    struct weir_state *st;
    int64_t last;                /* last committed batch, -1 none */
    struct weir_type *types[32]; /* input schemas, alive until teardown */
    size_t ntypes;
};

static void st_open(struct fx *f)
{
    struct weir_error err = {0};
    if (weir_state_open(f->dir, f->last, NULL, &f->st, &err) != 0)
        fail_msg("state open at %lld: %s", (long long)f->last, err.message);
}

/* Close and reopen the store at the last committed batch: what a restart
 * sees. Steps created on the old handle must be destroyed before. */
static void st_reopen(struct fx *f)
{
    weir_state_close(f->st);
    f->st = NULL;
    st_open(f);
}

static void st_commit(struct fx *f, int64_t batch)
{
    struct weir_error err = {0};
    if (weir_state_commit(f->st, batch, &err) != 0)
        fail_msg("commit %lld: %s", (long long)batch, err.message);
    f->last = batch;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (f == NULL || !tmpdir_create(f->dir, sizeof f->dir, "stateful")) {
        free(f);
        return -1;
    }
    f->last = -1;
    if (weir_state_open(f->dir, -1, NULL, &f->st, NULL) != 0) {
        tmpdir_remove(f->dir);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    weir_state_close(f->st);
    for (size_t i = 0; i < f->ntypes; i++)
        weir_type_destroy(f->types[i]);
    tmpdir_remove(f->dir);
    free(f);
    return 0;
}

/* A schema from DDL that lives as long as the fixture (steps bind to it). */
static const struct weir_type *schema(struct fx *f, const char *ddl)
{
    assert_true(f->ntypes < sizeof f->types / sizeof f->types[0]);
    return f->types[f->ntypes++] = ddl_schema(ddl);
}

/* ---------------------------------------------------------------- batches */

static struct weir_batch *batch_of(const struct weir_type *t)
{
    struct weir_batch *b = weir_batch_create(t);
    assert_non_null(b);
    return b;
}

/* Append one row: cells[c] is column c's value as text, NULL for null.
 * Strings as they are, integers and doubles as numbers, DECIMALs as
 * numbers (scaled), TIMESTAMPs in milliseconds since the epoch (with a
 * fraction for microseconds). */
static void add_row(struct weir_batch *b, const char *const *cells, size_t n)
{
    assert_int_equal(n, b->ncolumns);
    for (size_t c = 0; c < n; c++) {
        struct weir_column *col = &b->columns[c];
        const char *v = cells[c];
        int rc;
        if (v == NULL) {
            rc = weir_column_append_null(col);
        } else {
            switch (col->type->kind) {
            case WEIR_TYPE_STRING:
            case WEIR_TYPE_BINARY:
                rc = weir_column_append_bytes(col, v, strlen(v));
                break;
            case WEIR_TYPE_INTEGER:
                rc = weir_column_append_i32(col, (int32_t)strtol(v, NULL, 10));
                break;
            case WEIR_TYPE_LONG:
                rc = weir_column_append_i64(col, strtoll(v, NULL, 10));
                break;
            case WEIR_TYPE_DOUBLE:
                rc = weir_column_append_f64(col, strtod(v, NULL));
                break;
            case WEIR_TYPE_DECIMAL:
                rc = weir_column_append_i128(col,
                                             (weir_i128)llround(strtod(v, NULL) * pow(10, col->type->scale)));
                break;
            case WEIR_TYPE_TIMESTAMP:
                rc = weir_column_append_i64(col, (int64_t)llround(strtod(v, NULL) * 1000));
                break;
            default:
                fail_msg("add_row: column %zu has a type this helper does not build", c);
            }
        }
        assert_int_equal(rc, 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
}

static int col_of(const struct weir_batch *b, const char *name)
{
    int i = weir_type_field_index(b->schema, name);
    if (i < 0)
        fail_msg("no column '%s' in the output", name);
    return i;
}

/* The value of column `name` at row r as text: "null", integers and
 * TIMESTAMPs (in ms) in decimal, doubles with %.17g, strings as they are
 * (static buffers, 8 at a time). */
static const char *cell(const struct weir_batch *b, const char *name, size_t r)
{
    static char buf[8][256];
    static int k;
    char *o = buf[k++ & 7];
    const struct weir_column *c = &b->columns[col_of(b, name)];
    assert_true(r < b->nrows);
    if (!weir_column_is_valid(c, r))
        return "null";
    switch (c->type->kind) {
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY: {
        size_t n;
        const uint8_t *p = weir_column_bytes(c, r, &n);
        assert_true(n < sizeof buf[0]);
        memcpy(o, p, n);
        o[n] = 0;
        return o;
    }
    case WEIR_TYPE_INTEGER:
        snprintf(o, sizeof buf[0], "%d", weir_column_i32(c, r));
        return o;
    case WEIR_TYPE_LONG:
        snprintf(o, sizeof buf[0], "%lld", (long long)weir_column_i64(c, r));
        return o;
    case WEIR_TYPE_TIMESTAMP:
        snprintf(o, sizeof buf[0], "%lld", (long long)(weir_column_i64(c, r) / 1000));
        return o;
    case WEIR_TYPE_DOUBLE:
        snprintf(o, sizeof buf[0], "%.17g", weir_column_f64(c, r));
        return o;
    case WEIR_TYPE_DECIMAL:
        snprintf(o, sizeof buf[0], "%lld/10^%d", (long long)((const weir_i128 *)c->data)[r], c->type->scale);
        return o;
    default:
        fail_msg("cell: column '%s' has a type this helper does not print", name);
    }
    return NULL;
}

static double f64_cell(const struct weir_batch *b, const char *name, size_t r)
{
    const struct weir_column *c = &b->columns[col_of(b, name)];
    assert_true(weir_column_is_valid(c, r));
    return weir_column_f64(c, r);
}

/* The row of b whose column g is `gv` (and, when start_ms is not NO_WM,
 * whose window_start is start_ms); fails unless there is exactly one. */
static size_t row_of(const struct weir_batch *b, const char *gv, int64_t start_ms)
{
    size_t found = SIZE_MAX;
    char st[32];
    snprintf(st, sizeof st, "%lld", (long long)start_ms);
    for (size_t r = 0; r < b->nrows; r++) {
        if (strcmp(cell(b, "g", r), gv) != 0)
            continue;
        if (start_ms != NO_WM && strcmp(cell(b, "window_start", r), st) != 0)
            continue;
        if (found != SIZE_MAX)
            fail_msg("two output rows for group '%s'", gv);
        found = r;
    }
    if (found == SIZE_MAX)
        fail_msg("no output row for group '%s' (window start %s)", gv, st);
    return found;
}

/* The row of b whose column v is `vv`. */
static size_t row_of_v(const struct weir_batch *b, const char *vv)
{
    for (size_t r = 0; r < b->nrows; r++)
        if (strcmp(cell(b, "v", r), vv) == 0)
            return r;
    fail_msg("no output row for v '%s'", vv);
    return 0;
}

/* Column `col` of every row of b, joined with ',' (static). */
static const char *joined(const struct weir_batch *b, const char *col)
{
    static char out[4096];
    out[0] = 0;
    for (size_t r = 0; r < b->nrows; r++) {
        size_t n = strlen(out);
        snprintf(out + n, sizeof out - n, "%s%s", r ? "," : "", cell(b, col, r));
    }
    return out;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* ---------------------------------------------------------------- steps */

static struct weir_config_aggregate agg_cfg(char **group, size_t ng, char **measures, size_t nm, int output)
{
    struct weir_config_aggregate c;
    memset(&c, 0, sizeof c);
    c.group_by = group;
    c.ngroup_by = ng;
    c.measures = measures;
    c.nmeasures = nm;
    c.output = output;
    return c;
}

static struct weir_aggregate *agg_open(struct fx *f, const struct weir_config_aggregate *c,
                                       const struct weir_type *in, const char *name)
{
    struct weir_aggregate *a = NULL;
    struct weir_error err = {0};
    if (weir_aggregate_create(c, in, f->st, name, &a, &err) != 0)
        fail_msg("aggregate %s: %s", name, err.message);
    return a;
}

/* Create must be refused with WEIR_ESTATE; the message (static). */
static const char *agg_refused(struct fx *f, const struct weir_config_aggregate *c,
                               const struct weir_type *in, const char *name)
{
    static struct weir_error err;
    struct weir_aggregate *a = NULL;
    weir_error_clear(&err);
    int rc = weir_aggregate_create(c, in, f->st, name, &a, &err);
    if (rc == 0) {
        weir_aggregate_destroy(a);
        fail_msg("aggregate %s: the change was accepted", name);
    }
    assert_null(a);
    assert_int_equal(rc, WEIR_ESTATE);
    return err.message;
}

static int collect_cb(void *ctx, const struct weir_batch *b, struct weir_error *err)
{
    struct weir_batch *acc = ctx;
    assert_true(weir_type_equal(acc->schema, b->schema));
    for (size_t col = 0; col < b->ncolumns; col++)
        if (weir_column_append_range(&acc->columns[col], &b->columns[col], 0, b->nrows) != 0)
            return weir_error_set(err, WEIR_ENOMEM, "collect: out of memory");
    assert_int_equal(weir_batch_finish_rows(acc), 0);
    return 0;
}

static struct weir_stateful_batch sbatch(int64_t id, int64_t wm_ms, int64_t now_ms)
{
    struct weir_stateful_batch sb = {.batch_id = id, .now_ms = now_ms};
    sb.has_watermark = wm_ms != NO_WM;
    sb.watermark_ms = wm_ms != NO_WM ? wm_ms : 0;
    return sb;
}

/* One micro-batch of a: push `in` (NULL: a batch without data), finish,
 * commit the store as batch `id`. Returns what finish emitted (a batch of
 * the output schema, maybe empty); *m (may be NULL) gets the metrics. */
static struct weir_batch *agg_run(struct fx *f, struct weir_aggregate *a, int64_t id, int64_t wm_ms,
                                  const struct weir_batch *in, struct weir_stateful_metrics *m)
{
    struct weir_stateful_batch sb = sbatch(id, wm_ms, 1000 * id);
    struct weir_error err = {0};
    struct weir_batch *out = batch_of(weir_aggregate_schema(a));
    if (in != NULL && weir_aggregate_push(a, &sb, in, sb.now_ms * 1000, &err) != 0)
        fail_msg("push: %s", err.message);
    if (weir_aggregate_finish(a, &sb, collect_cb, out, &err) != 0)
        fail_msg("finish: %s", err.message);
    struct weir_stateful_metrics mm;
    weir_aggregate_metrics(a, m ? m : &mm);
    st_commit(f, id);
    return out;
}

static struct weir_dedup *dd_open(struct fx *f, const struct weir_config_dedup *c, const struct weir_type *in,
                                  const char *wm_col, int64_t delay_ms, const char *name)
{
    struct weir_dedup *d = NULL;
    struct weir_error err = {0};
    if (weir_dedup_create(c, in, wm_col, delay_ms, f->st, name, &d, &err) != 0)
        fail_msg("dedup %s: %s", name, err.message);
    return d;
}

/* Push `in` through d: column v of the rows kept, joined with ',' (static). */
static const char *dd_push(struct weir_dedup *d, const struct weir_stateful_batch *sb,
                           const struct weir_batch *in)
{
    struct weir_batch *out = NULL;
    struct weir_error err = {0};
    if (weir_dedup_push(d, sb, in, sb->now_ms * 1000, &out, &err) != 0)
        fail_msg("dedup push: %s", err.message);
    const char *s = joined(out ? out : in, "v");
    if (out != NULL)
        assert_true(out->nrows < in->nrows); /* NULL exactly when every row passes */
    weir_batch_destroy(out);
    return s;
}

static void dd_finish(struct fx *f, struct weir_dedup *d, const struct weir_stateful_batch *sb,
                      struct weir_stateful_metrics *m)
{
    struct weir_error err = {0};
    if (weir_dedup_finish(d, sb, &err) != 0)
        fail_msg("dedup finish: %s", err.message);
    weir_dedup_metrics(d, m);
    st_commit(f, sb->batch_id);
}

/* A batch of schema t with the rows given as (id, v, ts ms) triples. */
static struct weir_batch *idv(const struct weir_type *t, const char *const *cells, size_t n)
{
    struct weir_batch *b = batch_of(t);
    for (size_t i = 0; i + 3 <= n; i += 3)
        add_row(b, cells + i, 3);
    return b;
}
#define IDV(t, ...) \
    idv((t), (const char *const[]){__VA_ARGS__}, sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *))

/* ================================================================ 1. nulls */

#define NULLS_DDL "g STRING, x LONG, y DOUBLE, s STRING"

/* Every measure's null rule, as docs/stateful.md's table promises:
 * count(*) counts every row, count(x) / count_if only non-null (true)
 * values; sum, min, max, avg and approx_count_distinct ignore nulls and are
 * null (0 for the count) when a group has none; first/last are the value
 * of the first / last row in arrival order, null included. The rows are
 * split over two batches with a reopen of the store in between, so every
 * accumulator also goes through the store. */
static void test_measure_nulls(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, NULLS_DDL);
    struct weir_config_aggregate c =
        agg_cfg(LIST("g"),
                LIST("count(*) AS n", "count(x) AS cx", "count_if(x > 2) AS ci", "sum(x) AS sx",
                     "min(x) AS mnx", "max(x) AS mxx", "avg(x) AS ax", "first(x) AS fx", "last(x) AS lx",
                     "approx_count_distinct(x) AS dx", "sum(y) AS sy", "avg(y) AS ay", "min(s) AS mns",
                     "max(s) AS mxs", "first(s) AS fs", "last(s) AS ls"),
                WEIR_OUTPUT_COMPLETE);
    struct weir_aggregate *a = agg_open(f, &c, t, "aggregate");

    /* output schema: group, then the measures with the documented types */
    const struct weir_type *os = weir_aggregate_schema(a);
    static const char *const names[] = {"g",  "n",  "cx", "ci", "sx",  "mnx", "mxx", "ax", "fx",
                                        "lx", "dx", "sy", "ay", "mns", "mxs", "fs",  "ls"};
    static const int kinds[] = {WEIR_TYPE_STRING, WEIR_TYPE_LONG,   WEIR_TYPE_LONG,   WEIR_TYPE_LONG,
                                WEIR_TYPE_LONG,   WEIR_TYPE_LONG,   WEIR_TYPE_LONG,   WEIR_TYPE_DOUBLE,
                                WEIR_TYPE_LONG,   WEIR_TYPE_LONG,   WEIR_TYPE_LONG,   WEIR_TYPE_DOUBLE,
                                WEIR_TYPE_DOUBLE, WEIR_TYPE_STRING, WEIR_TYPE_STRING, WEIR_TYPE_STRING,
                                WEIR_TYPE_STRING};
    assert_int_equal(os->nfields, 17);
    for (size_t i = 0; i < 17; i++) {
        assert_string_equal(os->fields[i].name, names[i]);
        assert_int_equal(os->fields[i].type->kind, kinds[i]);
    }
    assert_false(os->fields[1].nullable);  /* count(*) */
    assert_false(os->fields[10].nullable); /* approx_count_distinct */
    assert_true(os->fields[3].nullable == false && os->fields[4].nullable);

    /* batch 0:  g  x     y     s */
    struct weir_batch *in = batch_of(t);
    ROW(in, "a", NULL, "1.5", "m");
    ROW(in, "a", "5", NULL, NULL);
    ROW(in, "b", "4", "2.25", "b");
    ROW(in, "z", NULL, NULL, NULL);
    struct weir_batch *o = agg_run(f, a, 0, NO_WM, in, NULL);
    assert_int_equal(o->nrows, 3);
    size_t r = row_of(o, "a", NO_WM);
    /* a so far: x = null, 5; y = 1.5, null; s = "m", null */
    assert_string_equal(cell(o, "n", r), "2");
    assert_string_equal(cell(o, "cx", r), "1");
    assert_string_equal(cell(o, "ci", r), "1");
    assert_string_equal(cell(o, "sx", r), "5");
    assert_string_equal(cell(o, "mnx", r), "5");
    assert_string_equal(cell(o, "mxx", r), "5");
    assert_string_equal(cell(o, "ax", r), "5");
    assert_string_equal(cell(o, "fx", r), "null"); /* the first row's x is null */
    assert_string_equal(cell(o, "lx", r), "5");
    assert_string_equal(cell(o, "dx", r), "1");
    assert_string_equal(cell(o, "sy", r), "1.5");
    assert_string_equal(cell(o, "mns", r), "m");
    assert_string_equal(cell(o, "fs", r), "m");
    assert_string_equal(cell(o, "ls", r), "null"); /* the last row's s is null */
    r = row_of(o, "z", NO_WM);
    assert_string_equal(cell(o, "n", r), "1");
    assert_string_equal(cell(o, "cx", r), "0");
    assert_string_equal(cell(o, "sx", r), "null");
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    st_reopen(f);
    a = agg_open(f, &c, t, "aggregate");

    /* batch 1 */
    in = batch_of(t);
    ROW(in, "a", NULL, NULL, "ab");
    ROW(in, "c", "3", "-1", "q");
    ROW(in, "a", "2", "0.5", NULL);
    ROW(in, "b", NULL, NULL, NULL);
    ROW(in, "a", "7", NULL, "");
    ROW(in, "z", NULL, NULL, NULL);
    ROW(in, "a", "5", NULL, "zz");
    ROW(in, "c", "8", NULL, "r");
    ROW(in, "a", NULL, NULL, NULL);
    o = agg_run(f, a, 1, NO_WM, in, NULL);
    assert_int_equal(o->nrows, 4);

    /* a: x = null, 5 | null, 2, 7, 5, null; y = 1.5, null | null, 0.5, null, null, null;
     *    s = "m", null | "ab", null, "", "zz", null */
    r = row_of(o, "a", NO_WM);
    assert_string_equal(cell(o, "n", r), "7");
    assert_string_equal(cell(o, "cx", r), "4");
    assert_string_equal(cell(o, "ci", r), "3"); /* 5, 7, 5 */
    assert_string_equal(cell(o, "sx", r), "19");
    assert_string_equal(cell(o, "mnx", r), "2");
    assert_string_equal(cell(o, "mxx", r), "7");
    assert_string_equal(cell(o, "ax", r), "4.75"); /* 19 / 4 */
    assert_string_equal(cell(o, "fx", r), "null");
    assert_string_equal(cell(o, "lx", r), "null");
    assert_string_equal(cell(o, "dx", r), "3"); /* 5, 2, 7 */
    assert_string_equal(cell(o, "sy", r), "2");
    assert_string_equal(cell(o, "ay", r), "1"); /* (1.5 + 0.5) / 2 */
    assert_string_equal(cell(o, "mns", r), ""); /* "" < "ab" < "m" < "zz", by bytes */
    assert_string_equal(cell(o, "mxs", r), "zz");
    assert_string_equal(cell(o, "fs", r), "m");
    assert_string_equal(cell(o, "ls", r), "null");

    /* b: x = 4 | null; y = 2.25 | null; s = "b" | null */
    r = row_of(o, "b", NO_WM);
    assert_string_equal(cell(o, "n", r), "2");
    assert_string_equal(cell(o, "cx", r), "1");
    assert_string_equal(cell(o, "ci", r), "1");
    assert_string_equal(cell(o, "sx", r), "4");
    assert_string_equal(cell(o, "mnx", r), "4");
    assert_string_equal(cell(o, "mxx", r), "4");
    assert_string_equal(cell(o, "ax", r), "4");
    assert_string_equal(cell(o, "fx", r), "4");
    assert_string_equal(cell(o, "lx", r), "null");
    assert_string_equal(cell(o, "dx", r), "1");
    assert_string_equal(cell(o, "sy", r), "2.25");
    assert_string_equal(cell(o, "ay", r), "2.25");
    assert_string_equal(cell(o, "mns", r), "b");
    assert_string_equal(cell(o, "mxs", r), "b");
    assert_string_equal(cell(o, "fs", r), "b");
    assert_string_equal(cell(o, "ls", r), "null");

    /* c (new in batch 1): x = 3, 8; y = -1, null; s = "q", "r" */
    r = row_of(o, "c", NO_WM);
    assert_string_equal(cell(o, "n", r), "2");
    assert_string_equal(cell(o, "cx", r), "2");
    assert_string_equal(cell(o, "ci", r), "2");
    assert_string_equal(cell(o, "sx", r), "11");
    assert_string_equal(cell(o, "mnx", r), "3");
    assert_string_equal(cell(o, "mxx", r), "8");
    assert_string_equal(cell(o, "ax", r), "5.5");
    assert_string_equal(cell(o, "fx", r), "3");
    assert_string_equal(cell(o, "lx", r), "8");
    assert_string_equal(cell(o, "dx", r), "2");
    assert_string_equal(cell(o, "sy", r), "-1");
    assert_string_equal(cell(o, "ay", r), "-1");
    assert_string_equal(cell(o, "mns", r), "q");
    assert_string_equal(cell(o, "mxs", r), "r");
    assert_string_equal(cell(o, "fs", r), "q");
    assert_string_equal(cell(o, "ls", r), "r");

    /* z: every argument null in both batches */
    r = row_of(o, "z", NO_WM);
    assert_string_equal(cell(o, "n", r), "2");
    assert_string_equal(cell(o, "cx", r), "0");
    assert_string_equal(cell(o, "ci", r), "0");
    assert_string_equal(cell(o, "dx", r), "0");
    static const char *const nulls[] = {"sx", "mnx", "mxx", "ax",  "fx", "lx",
                                        "sy", "ay",  "mns", "mxs", "fs", "ls"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp(cell(o, nulls[i], r), "null") != 0)
            fail_msg("z.%s: '%s', want null", nulls[i], cell(o, nulls[i], r));
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
}

/* Empty strings are values, not nulls, also after a trip through the
 * store: min/max/first/last of "" compared with later values. */
static void test_empty_string_round_trip(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, NULLS_DDL);
    struct weir_config_aggregate c =
        agg_cfg(LIST("g"), LIST("min(s) AS mn", "max(s) AS mx", "first(s) AS fs", "last(s) AS ls"),
                WEIR_OUTPUT_COMPLETE);
    struct weir_aggregate *a = agg_open(f, &c, t, "aggregate");
    struct weir_batch *in = batch_of(t);
    ROW(in, "a", NULL, NULL, "");
    ROW(in, "b", NULL, NULL, "k");
    ROW(in, "b", NULL, NULL, "");
    weir_batch_destroy(agg_run(f, a, 0, NO_WM, in, NULL));
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    st_reopen(f);
    a = agg_open(f, &c, t, "aggregate");
    in = batch_of(t);
    ROW(in, "a", NULL, NULL, "x");
    ROW(in, "b", NULL, NULL, "j");
    struct weir_batch *o = agg_run(f, a, 1, NO_WM, in, NULL);
    size_t r = row_of(o, "a", NO_WM); /* a: "", "x" */
    assert_string_equal(cell(o, "mn", r), "");
    assert_string_equal(cell(o, "mx", r), "x");
    assert_string_equal(cell(o, "fs", r), "");
    assert_string_equal(cell(o, "ls", r), "x");
    r = row_of(o, "b", NO_WM); /* b: "k", "", "j" */
    assert_string_equal(cell(o, "mn", r), "");
    assert_string_equal(cell(o, "mx", r), "k");
    assert_string_equal(cell(o, "fs", r), "k");
    assert_string_equal(cell(o, "ls", r), "j");
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
}

/* ================================================================ 2. first/last */

/* first keeps the value of the first row ever seen (arrival order), last
 * the latest, across batches and a restart of the store; both for numbers
 * and strings. */
static void test_first_last_across_batches(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, NULLS_DDL);
    struct weir_config_aggregate c =
        agg_cfg(LIST("g"),
                LIST("first(x) AS fx", "last(x) AS lx", "first(s) AS fs", "last(s) AS ls", "count(*) AS n"),
                WEIR_OUTPUT_UPDATE);
    struct weir_aggregate *a = agg_open(f, &c, t, "aggregate");
    struct weir_batch *in = batch_of(t);
    ROW(in, "a", "10", NULL, "p");
    ROW(in, "a", "11", NULL, "q");
    ROW(in, "b", NULL, NULL, NULL);
    ROW(in, "c", "6", NULL, "s");
    struct weir_batch *o = agg_run(f, a, 0, NO_WM, in, NULL);
    size_t r = row_of(o, "a", NO_WM);
    assert_string_equal(cell(o, "fx", r), "10");
    assert_string_equal(cell(o, "lx", r), "11");
    assert_string_equal(cell(o, "fs", r), "p");
    assert_string_equal(cell(o, "ls", r), "q");
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    st_reopen(f);
    a = agg_open(f, &c, t, "aggregate");

    in = batch_of(t);
    ROW(in, "a", "12", NULL, "r");
    ROW(in, "b", "5", NULL, "t");
    ROW(in, "a", "13", NULL, "u");
    ROW(in, "c", NULL, NULL, NULL);
    o = agg_run(f, a, 1, NO_WM, in, NULL);
    assert_int_equal(o->nrows, 3); /* update: the groups the batch changed */
    r = row_of(o, "a", NO_WM);
    assert_string_equal(cell(o, "fx", r), "10");
    assert_string_equal(cell(o, "lx", r), "13");
    assert_string_equal(cell(o, "fs", r), "p");
    assert_string_equal(cell(o, "ls", r), "u");
    assert_string_equal(cell(o, "n", r), "4");
    r = row_of(o, "b", NO_WM); /* first row null: first stays null */
    assert_string_equal(cell(o, "fx", r), "null");
    assert_string_equal(cell(o, "lx", r), "5");
    assert_string_equal(cell(o, "fs", r), "null");
    assert_string_equal(cell(o, "ls", r), "t");
    r = row_of(o, "c", NO_WM); /* last row null: last is null */
    assert_string_equal(cell(o, "fx", r), "6");
    assert_string_equal(cell(o, "lx", r), "null");
    assert_string_equal(cell(o, "fs", r), "s");
    assert_string_equal(cell(o, "ls", r), "null");
    weir_batch_destroy(o);
    weir_batch_destroy(in);

    /* a third batch touching only c: update emits c alone */
    in = batch_of(t);
    ROW(in, "c", "9", NULL, "v");
    o = agg_run(f, a, 2, NO_WM, in, NULL);
    assert_int_equal(o->nrows, 1);
    assert_string_equal(cell(o, "fx", 0), "6");
    assert_string_equal(cell(o, "lx", 0), "9");
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
}

/* ================================================================ 3. HLL */

static struct weir_batch *longs(const struct weir_type *t, int64_t from, int64_t to, int64_t step)
{
    struct weir_batch *b = batch_of(t);
    for (int64_t v = from; v < to; v += step) {
        assert_int_equal(weir_column_append_bytes(&b->columns[0], "a", 1), 0);
        assert_int_equal(weir_column_append_i64(&b->columns[1], v), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    return b;
}

/* 100k distinct values over four batches (with a restart of the store in
 * the middle) estimate within 7 % (2048 registers: about 2.3 % standard
 * error, so three of them; the hash is fixed, so the estimate is
 * deterministic); values
 * seen before do not move it at all. */
static void test_approx_count_distinct(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, "g STRING, x LONG");
    struct weir_config_aggregate c =
        agg_cfg(LIST("g"), LIST("approx_count_distinct(x) AS d", "count(*) AS n"), WEIR_OUTPUT_COMPLETE);
    struct weir_aggregate *a = agg_open(f, &c, t, "aggregate");
    int64_t est = 0;
    for (int64_t k = 0; k < 4; k++) {
        struct weir_batch *in = longs(t, k * 25000, (k + 1) * 25000, 1);
        struct weir_batch *o = agg_run(f, a, k, NO_WM, in, NULL);
        assert_int_equal(o->nrows, 1);
        est = weir_column_i64(&o->columns[col_of(o, "d")], 0);
        double want = (double)(k + 1) * 25000;
        if (fabs((double)est - want) > 0.07 * want)
            fail_msg("after %lld values: estimate %lld", (long long)want, (long long)est);
        assert_string_equal(cell(o, "n", 0), k == 0   ? "25000"
                                             : k == 1 ? "50000"
                                             : k == 2 ? "75000"
                                                      : "100000");
        weir_batch_destroy(o);
        weir_batch_destroy(in);
        if (k == 1) {
            weir_aggregate_destroy(a);
            st_reopen(f);
            a = agg_open(f, &c, t, "aggregate");
        }
    }
    /* duplicates: every 7th value again, and one value many times */
    struct weir_batch *in = longs(t, 0, 100000, 7);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(weir_column_append_bytes(&in->columns[0], "a", 1), 0);
        assert_int_equal(weir_column_append_i64(&in->columns[1], 4242), 0);
    }
    assert_int_equal(weir_batch_finish_rows(in), 0);
    weir_aggregate_destroy(a);
    st_reopen(f);
    a = agg_open(f, &c, t, "aggregate");
    struct weir_batch *o = agg_run(f, a, 4, NO_WM, in, NULL);
    assert_int_equal(weir_column_i64(&o->columns[col_of(o, "d")], 0), est);
    assert_int_equal(weir_column_i64(&o->columns[col_of(o, "n")], 0), 100000 + 14286 + 1000);
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
}

/* ================================================================ 4. compatibility */

/* (a) A measure added to an aggregate with state starts empty for the
 * groups already there while the old ones continue; a dropped measure is
 * ignored (and its entries do not disturb the others). */
static void test_compat_add_and_drop_measures(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, "g STRING, x LONG");
    struct weir_config_aggregate c1 =
        agg_cfg(LIST("g"), LIST("count(*) AS n", "max(x) AS mx"), WEIR_OUTPUT_COMPLETE);
    struct weir_aggregate *a = agg_open(f, &c1, t, "aggregate");
    struct weir_batch *in = batch_of(t);
    ROW(in, "a", "1");
    ROW(in, "a", "2");
    ROW(in, "a", "3");
    ROW(in, "b", "4");
    weir_batch_destroy(agg_run(f, a, 0, NO_WM, in, NULL));
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    st_reopen(f);

    struct weir_config_aggregate c2 =
        agg_cfg(LIST("g"), LIST("count(*) AS n", "sum(x) AS s", "count(x) AS cx", "max(x) AS mx"),
                WEIR_OUTPUT_COMPLETE);
    a = agg_open(f, &c2, t, "aggregate");
    in = batch_of(t);
    ROW(in, "a", "10");
    struct weir_batch *o = agg_run(f, a, 1, NO_WM, in, NULL);
    size_t r = row_of(o, "a", NO_WM);
    assert_string_equal(cell(o, "n", r), "4");   /* continues: 3 + 1 */
    assert_string_equal(cell(o, "mx", r), "10"); /* continues */
    assert_string_equal(cell(o, "s", r), "10");  /* new: only batch 1's row */
    assert_string_equal(cell(o, "cx", r), "1");
    r = row_of(o, "b", NO_WM);
    assert_string_equal(cell(o, "n", r), "1");
    assert_string_equal(cell(o, "mx", r), "4");
    assert_string_equal(cell(o, "s", r), "null"); /* new and never fed */
    assert_string_equal(cell(o, "cx", r), "0");
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    st_reopen(f);

    /* drop n and mx: s and cx go on */
    struct weir_config_aggregate c3 =
        agg_cfg(LIST("g"), LIST("count(x) AS cx", "sum(x) AS s"), WEIR_OUTPUT_COMPLETE);
    a = agg_open(f, &c3, t, "aggregate");
    in = batch_of(t);
    ROW(in, "b", "5");
    o = agg_run(f, a, 2, NO_WM, in, NULL);
    assert_int_equal(o->ncolumns, 3);
    r = row_of(o, "a", NO_WM);
    assert_string_equal(cell(o, "s", r), "10");
    assert_string_equal(cell(o, "cx", r), "1");
    r = row_of(o, "b", NO_WM);
    assert_string_equal(cell(o, "s", r), "5");
    assert_string_equal(cell(o, "cx", r), "1");
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
}

/* (b) An argument widened INT -> LONG -> DOUBLE: allowed, and the stored
 * accumulators carry over (sum becomes a DOUBLE). */
static void test_compat_widen_argument(void **state)
{
    struct fx *f = *state;
    struct weir_config_aggregate c = agg_cfg(
        LIST("g"),
        LIST("sum(x) AS s", "min(x) AS mn", "max(x) AS mx", "avg(x) AS av", "last(x) AS l", "count(x) AS cx"),
        WEIR_OUTPUT_COMPLETE);
    const struct weir_type *ti = schema(f, "g STRING, x INT");
    struct weir_aggregate *a = agg_open(f, &c, ti, "aggregate");
    struct weir_batch *in = batch_of(ti);
    ROW(in, "a", "3");
    ROW(in, "a", "10");
    ROW(in, "b", "7");
    weir_batch_destroy(agg_run(f, a, 0, NO_WM, in, NULL));
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    st_reopen(f);

    const struct weir_type *tl = schema(f, "g STRING, x LONG");
    a = agg_open(f, &c, tl, "aggregate");
    in = batch_of(tl);
    ROW(in, "a", "5000000000"); /* does not fit an INT */
    struct weir_batch *o = agg_run(f, a, 1, NO_WM, in, NULL);
    size_t r = row_of(o, "a", NO_WM);
    assert_string_equal(cell(o, "s", r), "5000000013");
    assert_string_equal(cell(o, "mn", r), "3");
    assert_string_equal(cell(o, "mx", r), "5000000000");
    assert_string_equal(cell(o, "l", r), "5000000000");
    assert_string_equal(cell(o, "cx", r), "3");
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    st_reopen(f);

    const struct weir_type *td = schema(f, "g STRING, x DOUBLE");
    a = agg_open(f, &c, td, "aggregate");
    assert_int_equal(weir_aggregate_schema(a)->fields[1].type->kind, WEIR_TYPE_DOUBLE); /* s */
    in = batch_of(td);
    ROW(in, "a", "0.25");
    o = agg_run(f, a, 2, NO_WM, in, NULL);
    r = row_of(o, "a", NO_WM); /* x = 3, 10, 5e9, 0.25 */
    assert_string_equal(cell(o, "s", r), "5000000013.25");
    assert_string_equal(cell(o, "mn", r), "0.25");
    assert_string_equal(cell(o, "mx", r), "5000000000");
    assert_true(fabs(f64_cell(o, "av", r) - 5000000013.25 / 4) < 1e-6);
    assert_string_equal(cell(o, "l", r), "0.25");
    assert_string_equal(cell(o, "cx", r), "4");
    r = row_of(o, "b", NO_WM); /* untouched since batch 0 (stored as integers), read as doubles */
    assert_string_equal(cell(o, "s", r), "7");
    assert_string_equal(cell(o, "mn", r), "7");
    assert_string_equal(cell(o, "mx", r), "7");
    assert_string_equal(cell(o, "av", r), "7");
    assert_string_equal(cell(o, "l", r), "7");
    assert_string_equal(cell(o, "cx", r), "1");
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    st_reopen(f);

    /* and back is refused: DOUBLE -> LONG, naming the measure and both types */
    const char *msg = agg_refused(f, &c, tl, "aggregate");
    assert_contains(msg, "state of operator 'aggregate'");
    assert_contains(msg, "measure 's'");
    assert_contains(msg, "from double to long");
}

/* A narrowing of an integer argument (LONG -> INT) or a decimal whose
 * scale changes would misread the stored values: refused. */
static void test_compat_narrow_argument_refused(void **state)
{
    struct fx *f = *state;
    struct weir_config_aggregate c = agg_cfg(LIST("g"), LIST("max(x) AS mx"), WEIR_OUTPUT_COMPLETE);
    const struct weir_type *tl = schema(f, "g STRING, x LONG");
    const struct weir_type *td = schema(f, "g STRING, x DECIMAL(10,2)");
    struct weir_aggregate *a = agg_open(f, &c, tl, "aggregate");
    struct weir_aggregate *b = agg_open(f, &c, td, "aggregate#2");
    struct weir_batch *in = batch_of(tl);
    ROW(in, "a", "5000000000");
    struct weir_batch *in2 = batch_of(td);
    ROW(in2, "a", "1.25");
    weir_batch_destroy(agg_run(f, a, 0, NO_WM, in, NULL));
    weir_batch_destroy(agg_run(f, b, 1, NO_WM, in2, NULL));
    weir_batch_destroy(in);
    weir_batch_destroy(in2);
    weir_aggregate_destroy(a);
    weir_aggregate_destroy(b);
    st_reopen(f);

    const char *msg = agg_refused(f, &c, schema(f, "g STRING, x INT"), "aggregate");
    assert_contains(msg, "state of operator 'aggregate'");
    assert_contains(msg, "measure 'mx'");
    assert_contains(msg, "from long to int");
    msg = agg_refused(f, &c, schema(f, "g STRING, x DECIMAL(12,4)"), "aggregate#2");
    assert_contains(msg, "state of operator 'aggregate#2'");
    assert_contains(msg, "from decimal(10,2) to decimal(12,4)");
    /* more precision, same scale: a wider decimal, allowed */
    a = agg_open(f, &c, schema(f, "g STRING, x DECIMAL(12,2)"), "aggregate#2");
    weir_aggregate_destroy(a);
}

/* (c) A changed group, window or measure function, or changed dedup keys,
 * is refused with a message naming the operator and the change; the state
 * stays usable with the original configuration. */
static void test_compat_refused(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, "g STRING, h STRING, x LONG, ts TIMESTAMP");
    struct weir_config_aggregate c =
        agg_cfg(LIST("g"), LIST("sum(x) AS s", "count(*) AS n"), WEIR_OUTPUT_COMPLETE);
    c.window.column = "ts";
    c.window.size_ms = 60000;
    struct weir_config_dedup dc = {.keys = LIST("g"), .unbounded = true};
    struct weir_aggregate *a = agg_open(f, &c, t, "aggregate");
    struct weir_dedup *d = dd_open(f, &dc, t, NULL, 0, "dedup");
    struct weir_batch *in = batch_of(t);
    ROW(in, "a", "h", "5", "1000");
    struct weir_stateful_batch sb = sbatch(0, NO_WM, 0);
    struct weir_batch *out = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_dedup_push(d, &sb, in, 0, &out, &err), 0);
    assert_null(out);
    assert_int_equal(weir_dedup_finish(d, &sb, &err), 0);
    weir_batch_destroy(agg_run(f, a, 0, NO_WM, in, NULL));
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    weir_dedup_destroy(d);
    st_reopen(f);

    /* group: another expression */
    struct weir_config_aggregate x = c;
    x.group_by = (char *[]){"h"};
    const char *msg = agg_refused(f, &x, t, "aggregate");
    assert_contains(msg, "state of operator 'aggregate'");
    assert_contains(msg, "group changed from");
    assert_contains(msg, "\"expr\":\"g\"");
    assert_contains(msg, "\"expr\":\"h\"");
    /* group: one more column */
    x.group_by = (char *[]){"g", "h"};
    x.ngroup_by = 2;
    assert_contains(agg_refused(f, &x, t, "aggregate"), "group changed from");
    /* window: other size, then a session instead */
    x = c;
    x.window.size_ms = 120000;
    msg = agg_refused(f, &x, t, "aggregate");
    assert_contains(msg, "state of operator 'aggregate'");
    assert_contains(msg, "window changed from");
    assert_contains(msg, "\"size_ms\":60000");
    assert_contains(msg, "\"size_ms\":120000");
    x.window.size_ms = 0;
    x.window.gap_ms = 30000;
    assert_contains(agg_refused(f, &x, t, "aggregate"), "window changed from");
    /* window: none at all */
    x = c;
    x.window.column = NULL;
    assert_contains(agg_refused(f, &x, t, "aggregate"), "window changed from");
    /* the same measure name, another function, or another argument */
    x = c;
    x.measures = (char *[]){"max(x) AS s", "count(*) AS n"};
    msg = agg_refused(f, &x, t, "aggregate");
    assert_contains(msg, "state of operator 'aggregate'");
    assert_contains(msg, "measure 's' changed from sum(x) to max(x)");
    x.measures = (char *[]){"sum(x) AS s", "count(x) AS n"};
    assert_contains(agg_refused(f, &x, t, "aggregate"), "measure 'n' changed from count(*) to count(x)");

    /* dedup: keys changed (another column, one more, another type) */
    struct weir_config_dedup dx = dc;
    struct weir_error e2 = {0};
    struct weir_dedup *d2 = NULL;
    dx.keys = (char *[]){"h"};
    assert_int_equal(weir_dedup_create(&dx, t, NULL, 0, f->st, "dedup", &d2, &e2), WEIR_ESTATE);
    assert_null(d2);
    assert_contains(e2.message, "state of operator 'dedup'");
    assert_contains(e2.message, "keys changed from");
    assert_contains(e2.message, "\"expr\":\"h\"");
    weir_error_clear(&e2);
    dx.keys = (char *[]){"g", "x"};
    dx.nkeys = 2;
    assert_int_equal(weir_dedup_create(&dx, t, NULL, 0, f->st, "dedup", &d2, &e2), WEIR_ESTATE);
    assert_contains(e2.message, "keys changed from");
    weir_error_clear(&e2);
    const struct weir_type *t2 = schema(f, "g LONG, h STRING, x LONG, ts TIMESTAMP");
    assert_int_equal(weir_dedup_create(&dc, t2, NULL, 0, f->st, "dedup", &d2, &e2), WEIR_ESTATE);
    assert_contains(e2.message, "keys changed from");
    assert_contains(e2.message, "\"type\":\"long\"");

    /* nothing was replaced: the original configurations carry on */
    a = agg_open(f, &c, t, "aggregate");
    d = dd_open(f, &dc, t, NULL, 0, "dedup");
    in = batch_of(t);
    ROW(in, "a", "h", "7", "2000");
    struct weir_stateful_batch sb1 = sbatch(1, NO_WM, 0);
    assert_int_equal(weir_dedup_push(d, &sb1, in, 0, &out, &err), 0);
    assert_non_null(out); /* key "a" seen in batch 0 */
    assert_int_equal(out->nrows, 0);
    weir_batch_destroy(out);
    assert_int_equal(weir_dedup_finish(d, &sb1, &err), 0);
    struct weir_batch *o = agg_run(f, a, 1, NO_WM, in, NULL);
    assert_int_equal(o->nrows, 1);
    assert_string_equal(cell(o, "s", 0), "12");
    assert_string_equal(cell(o, "n", 0), "2");
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    weir_dedup_destroy(d);
}

/* ================================================================ 5. dedup */

#define IDV_DDL "id LONG, v STRING, ts TIMESTAMP"

/* Keys seen before are dropped inside one push (the first row of each key
 * is kept), across pushes of a batch and across batches and a restart;
 * null keys compare equal. rows_total counts the keys held. */
static void test_dedup_unbounded(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, IDV_DDL);
    struct weir_config_dedup c = {.keys = LIST("id"), .unbounded = true};
    struct weir_dedup *d = dd_open(f, &c, t, NULL, 0, "dedup");
    struct weir_stateful_metrics m;
    struct weir_stateful_batch sb = sbatch(0, NO_WM, 5000);
    struct weir_batch *in = IDV(t, "1", "a", "0", "2", "b", "0", "1", "c", "0", "3", "d", "0", "2", "e", "0",
                                NULL, "k", "0", NULL, "l", "0");
    assert_string_equal(dd_push(d, &sb, in), "a,b,d,k");
    weir_batch_destroy(in);
    in = IDV(t, "3", "f", "0", "4", "g", "0", "4", "h", "0");
    assert_string_equal(dd_push(d, &sb, in), "g");
    weir_batch_destroy(in);
    in = IDV(t, "5", "i", "0");
    struct weir_batch *out = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_dedup_push(d, &sb, in, 0, &out, &err), 0);
    assert_null(out); /* every row new: the input flows on */
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_string_equal(m.name, "dedup");
    assert_int_equal(m.rows_total, 6); /* 1, 2, 3, null, 4, 5 */
    assert_int_equal(m.rows_updated, 6);
    assert_int_equal(m.rows_removed, 0);
    weir_dedup_destroy(d);
    st_reopen(f);

    d = dd_open(f, &c, t, NULL, 0, "dedup");
    sb = sbatch(1, NO_WM, 1000000000);
    in = IDV(t, "5", "j", "0", NULL, "m", "0", "6", "n", "0", "1", "o", "0", "6", "p", "0");
    assert_string_equal(dd_push(d, &sb, in), "n");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_total, 7);
    assert_int_equal(m.rows_updated, 1);
    assert_int_equal(m.rows_removed, 0);
    weir_dedup_destroy(d);
}

/* ttl: a key is forgotten ttl of processing time after its first row, and
 * a row with that key is then accepted again (and remembered anew); the
 * metrics count it removed once the second of its expiry has passed. */
static void test_dedup_ttl(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, IDV_DDL);
    struct weir_config_dedup c = {.keys = LIST("id"), .ttl_ms = 1000};
    struct weir_dedup *d = dd_open(f, &c, t, NULL, 0, "dedup");
    struct weir_stateful_metrics m;

    struct weir_stateful_batch sb = sbatch(0, NO_WM, 10000); /* 1 first seen at 10.0 s */
    struct weir_batch *in = IDV(t, "1", "a", "0", "1", "b", "0");
    assert_string_equal(dd_push(d, &sb, in), "a");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_total, 1);

    sb = sbatch(1, NO_WM, 10999); /* 1 ms before its ttl: still a duplicate */
    in = IDV(t, "1", "c", "0", "2", "d", "0");
    assert_string_equal(dd_push(d, &sb, in), "d"); /* 2 first seen at 10.999 s */
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_total, 2);
    assert_int_equal(m.rows_removed, 0);
    weir_dedup_destroy(d);
    st_reopen(f);
    d = dd_open(f, &c, t, NULL, 0, "dedup");

    sb = sbatch(2, NO_WM, 11000); /* 1's ttl has passed, 2's not */
    in = IDV(t, "1", "e", "0", "2", "f", "0", "1", "g", "0");
    assert_string_equal(dd_push(d, &sb, in), "e");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 1); /* the old entry of 1 */
    assert_int_equal(m.rows_total, 2);   /* 1 (again, from 11.0 s) and 2 */

    /* 2 expires now (1, renewed, holds until 12.0 s), but it is counted as
     * removed only once the whole second of its expiry has passed */
    sb = sbatch(3, NO_WM, 11999);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 0);
    assert_int_equal(m.rows_total, 2);
    sb = sbatch(4, NO_WM, 11999); /* 2 is forgotten already: new again, its old entry counted as removed */
    in = IDV(t, "1", "h", "0", "2", "i", "0");
    assert_string_equal(dd_push(d, &sb, in), "i");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 1);
    assert_int_equal(m.rows_total, 2);
    sb = sbatch(5, NO_WM, 12500); /* 1 expired at 12.0 s: its second has passed */
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 1);
    assert_int_equal(m.rows_total, 1);
    sb = sbatch(6, NO_WM, 13000); /* 2 (from 11.999 s) expired at 12.999 s */
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 1);
    assert_int_equal(m.rows_total, 0);
    weir_dedup_destroy(d);
}

/* With a watermark (within_watermark false) a key of (id, ts) is
 * forgotten when the watermark reaches ts (in microseconds: a watermark
 * in the same millisecond but before ts has not); the removal shows in
 * rows_removed and rows_total once the watermark has passed the whole
 * second of that expiry. */
static void test_dedup_watermark(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, IDV_DDL);
    struct weir_config_dedup c = {.keys = LIST("id", "ts")};
    struct weir_dedup *d = dd_open(f, &c, t, "ts", 5000, "dedup");
    struct weir_stateful_metrics m;

    struct weir_stateful_batch sb = sbatch(0, 0, 0);
    struct weir_batch *in = IDV(t, "1", "a", "10000", "1", "b", "10000", "1", "c", "11000", "2", "d", "20000",
                                "5", "s", "20000.5");
    assert_string_equal(dd_push(d, &sb, in), "a,c,d,s");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_total, 4);

    sb = sbatch(1, 9999, 0);
    in = IDV(t, "1", "e", "10000", "2", "f", "20000");
    assert_string_equal(dd_push(d, &sb, in), "");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 0);
    assert_int_equal(m.rows_total, 4);
    weir_dedup_destroy(d);
    st_reopen(f);
    d = dd_open(f, &c, t, "ts", 5000, "dedup");

    sb = sbatch(2, 10000, 0); /* reaches (1, 10 s) only */
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 1);
    assert_int_equal(m.rows_total, 3);

    /* (1, 10 s) is forgotten (the watermark step would drop such a late
     * row; pushed here directly, it is new again); (1, 11 s) is not */
    sb = sbatch(3, 10999, 0);
    in = IDV(t, "1", "g", "10000", "1", "h", "11000");
    assert_string_equal(dd_push(d, &sb, in), "g");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 1); /* g's own key, at or before the watermark */
    assert_int_equal(m.rows_total, 3);

    /* the watermark at 20 s: (5, 20.0005 s) is not late, still held */
    sb = sbatch(4, 20000, 0);
    in = IDV(t, "5", "t", "20000.5", "2", "u", "20000.5");
    assert_string_equal(dd_push(d, &sb, in), "u");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 2); /* (1, 11 s), (2, 20 s) */
    assert_int_equal(m.rows_total, 2);
    sb = sbatch(5, 20000, 0);
    in = IDV(t, "5", "v", "20000.5");
    assert_string_equal(dd_push(d, &sb, in), "");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 0);
    assert_int_equal(m.rows_total, 2);

    /* both keys at 20.0005 s expire at 20.001 s: forgotten by a push at
     * once, counted as removed when their second (to 21 s) has passed */
    sb = sbatch(6, 20001, 0);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 0);
    assert_int_equal(m.rows_total, 2);
    sb = sbatch(7, 20001, 0);
    in = IDV(t, "5", "w", "20000.5");
    assert_string_equal(dd_push(d, &sb, in), "w");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 1); /* w's old entry */
    assert_int_equal(m.rows_total, 2);
    sb = sbatch(8, 21000, 0);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 2);
    assert_int_equal(m.rows_total, 0);
    weir_dedup_destroy(d);
}

/* within_watermark: keys of id alone, forgotten when the watermark reaches
 * the first row's event time plus the delay; then accepted again. */
static void test_dedup_within_watermark(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, IDV_DDL);
    struct weir_config_dedup c = {.keys = LIST("id"), .within_watermark = true};
    struct weir_dedup *d = dd_open(f, &c, t, "ts", 5000, "dedup");
    struct weir_stateful_metrics m;

    struct weir_stateful_batch sb = sbatch(0, 0, 0);
    struct weir_batch *in = IDV(t, "1", "a", "10000", "1", "b", "12000", "2", "c", "13000");
    assert_string_equal(dd_push(d, &sb, in), "a,c"); /* 1 held until 15 s, 2 until 18 s */
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_total, 2);

    sb = sbatch(1, 14999, 0);
    in = IDV(t, "1", "d", "16000");
    assert_string_equal(dd_push(d, &sb, in), "");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 0);
    assert_int_equal(m.rows_total, 2);
    weir_dedup_destroy(d);
    st_reopen(f);
    d = dd_open(f, &c, t, "ts", 5000, "dedup");

    sb = sbatch(2, 15000, 0); /* 1 forgotten: accepted again, held until 22 s */
    in = IDV(t, "1", "e", "17000", "2", "f", "17000");
    assert_string_equal(dd_push(d, &sb, in), "e");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 1);
    assert_int_equal(m.rows_total, 2);

    sb = sbatch(3, 18000, 0); /* 2 goes */
    in = IDV(t, "1", "g", "19000");
    assert_string_equal(dd_push(d, &sb, in), "");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 1);
    assert_int_equal(m.rows_total, 1);

    sb = sbatch(4, 22000, 0); /* the renewed 1 goes */
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 1);
    assert_int_equal(m.rows_total, 0);
    weir_dedup_destroy(d);
}

/* ================================================================ 6. sessions */

#define SESS_DDL "g STRING, x LONG, ts TIMESTAMP"

static struct weir_config_aggregate sess_cfg(int output)
{
    static char *group[] = {"g"}, *measures[] = {"count(*) AS n", "sum(x) AS sx", "max(x) AS mx"};
    struct weir_config_aggregate c = agg_cfg(group, 1, measures, 3, output);
    c.window.column = "ts";
    c.window.gap_ms = 10000;
    return c;
}

/* Complete output: events further apart than the gap are two sessions; an
 * event that bridges them merges them into one [first, last + gap); the
 * exact rows_total follows (one row per session). */
static void test_session_merge_complete(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, SESS_DDL);
    struct weir_config_aggregate c = sess_cfg(WEIR_OUTPUT_COMPLETE);
    struct weir_aggregate *a = agg_open(f, &c, t, "aggregate");
    struct weir_stateful_metrics m;

    struct weir_batch *in = batch_of(t);
    ROW(in, "a", "1", "0");
    ROW(in, "a", "2", "15000"); /* 15 s after: more than the gap */
    ROW(in, "b", "5", "100000");
    struct weir_batch *o = agg_run(f, a, 0, 0, in, &m);
    assert_int_equal(o->nrows, 3);
    size_t r = row_of(o, "a", 0);
    assert_string_equal(cell(o, "window_end", r), "10000");
    assert_string_equal(cell(o, "n", r), "1");
    r = row_of(o, "a", 15000);
    assert_string_equal(cell(o, "window_end", r), "25000");
    assert_string_equal(cell(o, "sx", r), "2");
    r = row_of(o, "b", 100000);
    assert_string_equal(cell(o, "window_end", r), "110000");
    assert_int_equal(m.rows_total, 3);
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    st_reopen(f);
    a = agg_open(f, &c, t, "aggregate");

    in = batch_of(t);
    ROW(in, "a", "4", "8000"); /* 8 s from 0 s and 7 s from 15 s: bridges both */
    o = agg_run(f, a, 1, 0, in, &m);
    assert_int_equal(o->nrows, 2);
    r = row_of(o, "a", 0);
    assert_string_equal(cell(o, "window_end", r), "25000");
    assert_string_equal(cell(o, "n", r), "3");
    assert_string_equal(cell(o, "sx", r), "7");
    assert_string_equal(cell(o, "mx", r), "4");
    row_of(o, "b", 100000);
    assert_int_equal(m.rows_total, 2);
    weir_batch_destroy(o);
    weir_batch_destroy(in);

    /* within one batch: 40 s makes a session, 32 s then reaches it */
    in = batch_of(t);
    ROW(in, "a", "1", "40000");
    ROW(in, "a", "10", "32000");
    ROW(in, "b", "1", "110000"); /* exactly the gap after 100 s: same session */
    o = agg_run(f, a, 2, 0, in, &m);
    assert_int_equal(o->nrows, 3);
    r = row_of(o, "a", 0);
    assert_string_equal(cell(o, "window_end", r), "25000");
    assert_string_equal(cell(o, "n", r), "3");
    r = row_of(o, "a", 32000);
    assert_string_equal(cell(o, "window_end", r), "50000");
    assert_string_equal(cell(o, "n", r), "2");
    assert_string_equal(cell(o, "sx", r), "11");
    r = row_of(o, "b", 100000);
    assert_string_equal(cell(o, "window_end", r), "120000");
    assert_string_equal(cell(o, "n", r), "2");
    assert_int_equal(m.rows_total, 3);
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
}

/* Append output: a session is emitted once, when the watermark reaches its
 * end, with the merged start and end, and then removed. */
static void test_session_merge_append(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, SESS_DDL);
    struct weir_config_aggregate c = sess_cfg(WEIR_OUTPUT_APPEND);
    struct weir_aggregate *a = agg_open(f, &c, t, "aggregate");
    struct weir_stateful_metrics m;

    struct weir_batch *in = batch_of(t);
    ROW(in, "a", "1", "0");
    ROW(in, "a", "2", "15000");
    ROW(in, "b", "5", "100000");
    struct weir_batch *o = agg_run(f, a, 0, 0, in, &m);
    assert_int_equal(o->nrows, 0);
    assert_int_equal(m.rows_total, 3);
    weir_batch_destroy(o);
    weir_batch_destroy(in);

    in = batch_of(t);
    ROW(in, "a", "4", "8000");
    o = agg_run(f, a, 1, 9000, in, &m); /* [0, 10 s) would have ended: merged, not emitted */
    assert_int_equal(o->nrows, 0);
    assert_int_equal(m.rows_total, 2);
    assert_int_equal(m.rows_removed, 0);
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    st_reopen(f);
    a = agg_open(f, &c, t, "aggregate");

    o = agg_run(f, a, 2, 24999, NULL, &m);
    assert_int_equal(o->nrows, 0);
    assert_int_equal(m.rows_removed, 0);
    weir_batch_destroy(o);
    o = agg_run(f, a, 3, 25000, NULL, &m);
    assert_int_equal(o->nrows, 1);
    assert_string_equal(cell(o, "g", 0), "a");
    assert_string_equal(cell(o, "window_start", 0), "0");
    assert_string_equal(cell(o, "window_end", 0), "25000");
    assert_string_equal(cell(o, "n", 0), "3");
    assert_string_equal(cell(o, "sx", 0), "7");
    assert_int_equal(m.rows_removed, 1);
    assert_int_equal(m.rows_total, 1);
    weir_batch_destroy(o);
    o = agg_run(f, a, 4, 25000, NULL, &m);
    assert_int_equal(o->nrows, 0); /* once */
    assert_int_equal(m.rows_removed, 0);
    weir_batch_destroy(o);
    o = agg_run(f, a, 5, 110000, NULL, &m);
    assert_int_equal(o->nrows, 1);
    assert_string_equal(cell(o, "g", 0), "b");
    assert_string_equal(cell(o, "window_end", 0), "110000");
    assert_int_equal(m.rows_removed, 1);
    assert_int_equal(m.rows_total, 0);
    weir_batch_destroy(o);

    /* the state is gone: an event of a's old session (pushed past the
     * watermark step) starts a fresh one */
    in = batch_of(t);
    ROW(in, "a", "9", "5000");
    o = agg_run(f, a, 6, 200000, in, &m);
    assert_int_equal(o->nrows, 1);
    assert_string_equal(cell(o, "window_start", 0), "5000");
    assert_string_equal(cell(o, "n", 0), "1");
    assert_int_equal(m.rows_total, 0);
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
}

/* ================================================================ 7. tumbling */

/* Append: a window is emitted exactly once, by the first batch whose
 * watermark is at or past its end, and then removed from the state. */
static void test_tumbling_append(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, SESS_DDL);
    struct weir_config_aggregate c =
        agg_cfg(LIST("g"), LIST("count(*) AS n", "sum(x) AS sx"), WEIR_OUTPUT_APPEND);
    c.window.column = "ts";
    c.window.size_ms = 60000;
    struct weir_aggregate *a = agg_open(f, &c, t, "aggregate");
    struct weir_stateful_metrics m;

    struct weir_batch *in = batch_of(t);
    ROW(in, "a", "1", "10000");
    ROW(in, "a", "2", "50000");
    ROW(in, "a", "4", "70000");
    ROW(in, "b", "8", "59999");
    ROW(in, "b", "9", NULL); /* no event time: in no window */
    struct weir_batch *o = agg_run(f, a, 0, 0, in, &m);
    assert_int_equal(o->nrows, 0);
    assert_int_equal(m.rows_total, 3); /* a [0, 60), a [60, 120), b [0, 60) */
    assert_int_equal(m.rows_updated, 3);
    weir_batch_destroy(o);
    weir_batch_destroy(in);

    in = batch_of(t);
    ROW(in, "a", "16", "30000");
    o = agg_run(f, a, 1, 59999, in, &m);
    assert_int_equal(o->nrows, 0);
    assert_int_equal(m.rows_removed, 0);
    assert_int_equal(m.rows_total, 3);
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    st_reopen(f);
    a = agg_open(f, &c, t, "aggregate");

    o = agg_run(f, a, 2, 60000, NULL, &m);
    assert_int_equal(o->nrows, 2);
    size_t r = row_of(o, "a", 0);
    assert_string_equal(cell(o, "window_end", r), "60000");
    assert_string_equal(cell(o, "n", r), "3");
    assert_string_equal(cell(o, "sx", r), "19");
    r = row_of(o, "b", 0);
    assert_string_equal(cell(o, "n", r), "1");
    assert_string_equal(cell(o, "sx", r), "8");
    assert_int_equal(m.rows_removed, 2);
    assert_int_equal(m.rows_total, 1);
    weir_batch_destroy(o);

    o = agg_run(f, a, 3, 60000, NULL, &m);
    assert_int_equal(o->nrows, 0);
    assert_int_equal(m.rows_removed, 0);
    assert_int_equal(m.rows_total, 1);
    weir_batch_destroy(o);

    o = agg_run(f, a, 4, 119999, NULL, &m);
    assert_int_equal(o->nrows, 0);
    weir_batch_destroy(o);
    o = agg_run(f, a, 5, 120000, NULL, &m);
    assert_int_equal(o->nrows, 1);
    assert_string_equal(cell(o, "window_start", 0), "60000");
    assert_string_equal(cell(o, "n", 0), "1");
    assert_int_equal(m.rows_removed, 1);
    assert_int_equal(m.rows_total, 0);
    weir_batch_destroy(o);

    /* [0, 60) of a really left the state: a new row there (pushed past the
     * watermark step) counts from zero */
    in = batch_of(t);
    ROW(in, "a", "100", "20000");
    o = agg_run(f, a, 6, 120000, in, &m);
    assert_int_equal(o->nrows, 1);
    assert_string_equal(cell(o, "n", 0), "1");
    assert_string_equal(cell(o, "sx", 0), "100");
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
}

/* Sliding windows: a row counts in size / slide windows; update mode emits
 * the windows a batch changed and evicts those the watermark closed. */
static void test_sliding_update(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, SESS_DDL);
    struct weir_config_aggregate c = agg_cfg(LIST("g"), LIST("count(*) AS n"), WEIR_OUTPUT_UPDATE);
    c.window.column = "ts";
    c.window.size_ms = 60000;
    c.window.slide_ms = 30000;
    struct weir_aggregate *a = agg_open(f, &c, t, "aggregate");
    struct weir_stateful_metrics m;
    struct weir_batch *in = batch_of(t);
    ROW(in, "a", "1", "45000"); /* [0, 60) and [30, 90) */
    ROW(in, "a", "1", "20000"); /* [-30, 30) and [0, 60) */
    struct weir_batch *o = agg_run(f, a, 0, 0, in, &m);
    assert_int_equal(o->nrows, 3);
    assert_string_equal(cell(o, "n", row_of(o, "a", -30000)), "1");
    assert_string_equal(cell(o, "n", row_of(o, "a", 0)), "2");
    assert_string_equal(cell(o, "n", row_of(o, "a", 30000)), "1");
    assert_int_equal(m.rows_total, 3);
    weir_batch_destroy(o);
    weir_batch_destroy(in);

    in = batch_of(t);
    ROW(in, "a", "1", "70000"); /* [30, 90) and [60, 120) */
    o = agg_run(f, a, 1, 60000, in, &m);
    assert_int_equal(o->nrows, 2);
    assert_string_equal(cell(o, "n", row_of(o, "a", 30000)), "2");
    assert_string_equal(cell(o, "n", row_of(o, "a", 60000)), "1");
    assert_int_equal(m.rows_removed, 2); /* [-30, 30) and [0, 60) closed */
    assert_int_equal(m.rows_total, 2);
    weir_batch_destroy(o);
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
}

/* ================================================================ failed batches */

/* A batch that fails after the steps ran (the sink, say) is undone with
 * weir_state_abort and run again: the steps keep nothing of it, so the
 * exact row counts of the rerun (and of a restart after it) are those of
 * one run. */
static void test_abort_and_rerun(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, IDV_DDL);
    struct weir_config_dedup dc = {.keys = LIST("id"), .unbounded = true};
    struct weir_config_aggregate ac = agg_cfg(LIST("v"), LIST("count(*) AS n"), WEIR_OUTPUT_COMPLETE);
    struct weir_dedup *d = dd_open(f, &dc, t, NULL, 0, "dedup");
    struct weir_aggregate *a = agg_open(f, &ac, t, "aggregate");
    struct weir_stateful_metrics m;
    struct weir_error err = {0};

    struct weir_batch *in = IDV(t, "1", "a", "0", "2", "b", "0");
    struct weir_stateful_batch sb = sbatch(0, NO_WM, 0);
    assert_string_equal(dd_push(d, &sb, in), "a,b");
    assert_int_equal(weir_dedup_finish(d, &sb, &err), 0);
    weir_dedup_metrics(d, &m);
    assert_int_equal(m.rows_total, 2);
    weir_batch_destroy(agg_run(f, a, 0, NO_WM, in, &m)); /* commits batch 0 */
    assert_int_equal(m.rows_total, 2);
    weir_batch_destroy(in);

    /* batch 1, twice: the first attempt fails after finish */
    in = IDV(t, "3", "c", "0", "1", "a", "0", "4", "c", "0");
    sb = sbatch(1, NO_WM, 0);
    for (int attempt = 0; attempt < 2; attempt++) {
        assert_string_equal(dd_push(d, &sb, in), "c,c"); /* ids 3 and 4 */
        assert_int_equal(weir_dedup_finish(d, &sb, &err), 0);
        struct weir_batch *o = batch_of(weir_aggregate_schema(a));
        assert_int_equal(weir_aggregate_push(a, &sb, in, 0, &err), 0);
        assert_int_equal(weir_aggregate_finish(a, &sb, collect_cb, o, &err), 0);
        assert_int_equal(o->nrows, 3);
        assert_string_equal(cell(o, "n", row_of_v(o, "a")), "2");
        assert_string_equal(cell(o, "n", row_of_v(o, "c")), "2");
        weir_batch_destroy(o);
        weir_dedup_metrics(d, &m);
        assert_int_equal(m.rows_total, 4);
        weir_aggregate_metrics(a, &m);
        assert_int_equal(m.rows_total, 3); /* a, b, c */
        if (attempt == 0)
            assert_int_equal(weir_state_abort(f->st, &err), 0);
    }
    st_commit(f, 1);
    weir_batch_destroy(in);
    weir_dedup_destroy(d);
    weir_aggregate_destroy(a);

    /* after a restart, the counts read back are exact too */
    st_reopen(f);
    d = dd_open(f, &dc, t, NULL, 0, "dedup");
    a = agg_open(f, &ac, t, "aggregate");
    sb = sbatch(2, NO_WM, 0);
    assert_int_equal(weir_dedup_finish(d, &sb, &err), 0);
    weir_dedup_metrics(d, &m);
    assert_int_equal(m.rows_total, 4);
    weir_batch_destroy(agg_run(f, a, 2, NO_WM, NULL, &m));
    assert_int_equal(m.rows_total, 3);
    weir_dedup_destroy(d);
    weir_aggregate_destroy(a);
}

/* A clock that went back by more than the ttl: the limit stays at the
 * last second evicted, so a key renewed in a batch is expired again at
 * once; each push still lets only its first row of the key through. */
static void test_dedup_clock_back(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, IDV_DDL);
    struct weir_config_dedup c = {.keys = LIST("id"), .ttl_ms = 1000};
    struct weir_dedup *d = dd_open(f, &c, t, NULL, 0, "dedup");
    struct weir_stateful_metrics m;
    struct weir_stateful_batch sb = sbatch(0, NO_WM, 10000);
    struct weir_batch *in = IDV(t, "1", "a", "0");
    assert_string_equal(dd_push(d, &sb, in), "a");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    sb = sbatch(1, NO_WM, 20000); /* evicts the seconds up to 20.0 s */
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_removed, 1);
    sb = sbatch(2, NO_WM, 5000); /* back to 5.0 s: keys expire at 6.0 s, at or before the limit of 20.0 s */
    in = IDV(t, "1", "b", "0", "1", "c", "0");
    assert_string_equal(dd_push(d, &sb, in), "b");
    weir_batch_destroy(in);
    in = IDV(t, "1", "d", "0", "1", "e", "0", "1", "f", "0");
    assert_string_equal(dd_push(d, &sb, in), "d");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_updated, 2);
    weir_dedup_destroy(d);
}

/* Keys of a push are looked up against the state two ways: a slice of
 * keys sparse among the stored ones by MultiGet, a dense one by a forward
 * cursor. Both give the same answer: with the even ids 0..49,998 stored, a
 * push of ids spread over the whole range, then a push of 2,048
 * consecutive ids, then ids past the last stored one, keep exactly the odd
 * ids (and the ones above the range) not seen earlier in the batch. */
static void test_dedup_lookup_paths(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, IDV_DDL);
    struct weir_config_dedup c = {.keys = LIST("id"), .unbounded = true};
    struct weir_dedup *d = dd_open(f, &c, t, NULL, 0, "dedup");
    struct weir_stateful_metrics m;
    struct weir_error err = {0};
    struct weir_stateful_batch sb = sbatch(0, NO_WM, 0);
    struct weir_batch *in = batch_of(t);
    char id[32];
    for (int i = 0; i < 50000; i += 2) {
        snprintf(id, sizeof id, "%d", i);
        ROW(in, id, id, "0");
    }
    struct weir_batch *out = NULL;
    assert_int_equal(weir_dedup_push(d, &sb, in, 0, &out, &err), 0);
    assert_null(out); /* all new */
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_total, 25000);

    sb = sbatch(1, NO_WM, 0);
    bool *seen = calloc(60000, 1);
    size_t kept = 0, want = 0;
    for (int p = 0; p < 3; p++) {
        in = batch_of(t);
        int n = p == 1 ? 2048 : 300;
        for (int i = 0; i < n; i++) {
            int k = p == 0 ? i * 163 % 50000 : p == 1 ? 20000 + i : 50000 + i * 31;
            snprintf(id, sizeof id, "%d", k);
            ROW(in, id, id, "0");
            if ((k % 2 == 1 || k >= 50000) && !seen[k])
                want++;
            seen[k] = true;
        }
        assert_int_equal(weir_dedup_push(d, &sb, in, 0, &out, &err), 0);
        for (size_t r = 0; out && r < out->nrows; r++) { /* each kept id: odd or new */
            int64_t k = weir_column_i64(&out->columns[0], r);
            assert_true(k % 2 == 1 || k >= 50000);
        }
        kept += out ? out->nrows : in->nrows;
        weir_batch_destroy(out);
        weir_batch_destroy(in);
    }
    assert_int_equal(kept, want);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_total, 25000 + (int64_t)want);
    free(seen);
    weir_dedup_destroy(d);
}

/* Keys a batch spilled above the bound it started with are remembered in
 * the spill filter: new keys between that bound and the spilled ones need
 * no read (customMetrics.rocksdbGetCount stays near the false positives),
 * while duplicates of spilled keys and keys below the starting bound are
 * still read and dropped. */
static void test_dedup_spill_filter(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, IDV_DDL);
    struct weir_config_dedup c = {.keys = LIST("id"), .unbounded = true};
    struct weir_dedup *d = dd_open(f, &c, t, NULL, 0, "dedup");
    struct weir_stateful_metrics m;
    struct weir_error err = {0};
    char id[32];
    struct weir_stateful_batch sb = sbatch(0, NO_WM, 0);
    struct weir_batch *in = batch_of(t), *out = NULL;
    for (int i = 0; i < 1000; i++) { /* the starting bound of batch 1: 999 */
        snprintf(id, sizeof id, "%d", i);
        ROW(in, id, "a", "0");
    }
    assert_int_equal(weir_dedup_push(d, &sb, in, 0, &out, &err), 0);
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);

    weir_dedup_set_spill_bytes(d, 64 << 10);
    sb = sbatch(1, NO_WM, 0);
    in = batch_of(t);
    for (int i = 1000; i < 5000; i += 2) { /* 2,000 keys: spilled after the push */
        snprintf(id, sizeof id, "%d", i);
        ROW(in, id, "b", "0");
    }
    assert_int_equal(weir_dedup_push(d, &sb, in, 0, &out, &err), 0);
    assert_null(out);
    weir_batch_destroy(in);
    weir_dedup_metrics(d, &m);
    assert_true(m.state_reads <= 2); /* the step's count and eviction mark; the keys are above all */

    /* 2,000 new odd keys among the spilled even ones, 100 duplicates of
     * spilled keys, 50 of batch 0's */
    in = batch_of(t);
    for (int i = 1001; i < 5000; i += 2) {
        snprintf(id, sizeof id, "%d", i);
        ROW(in, id, "c", "0");
    }
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "%d", 1000 + 40 * i);
        ROW(in, id, "dup", "0");
    }
    for (int i = 0; i < 50; i++) {
        snprintf(id, sizeof id, "%d", 7 * i);
        ROW(in, id, "old", "0");
    }
    assert_int_equal(weir_dedup_push(d, &sb, in, 0, &out, &err), 0);
    assert_non_null(out);
    assert_int_equal(out->nrows, 2000);
    for (size_t r = 0; r < out->nrows; r++)
        assert_int_equal(weir_column_i64(&out->columns[0], r), 1001 + 2 * (int64_t)r);
    weir_batch_destroy(out);
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    /* the 150 duplicates, and a few false positives of the 2,000 */
    assert_in_range(m.state_reads, 150, 150 + 100); /* (the count and mark were read already) */
    assert_int_equal(m.rows_total, 5000);
    weir_dedup_destroy(d);
}

/* The keys a batch holds in memory are written to the state early
 * (dedup_spill) past the spill size: duplicates are still found inside a
 * push, across pushes whose keys were spilled, and across batches; a batch
 * that fails is undone whether its keys were spilled or only in memory. */
static void test_dedup_spill(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, IDV_DDL);
    struct weir_config_dedup c = {.keys = LIST("id"), .unbounded = true};
    struct weir_dedup *d = dd_open(f, &c, t, NULL, 0, "dedup");
    struct weir_stateful_metrics m;
    struct weir_error err = {0};
    weir_dedup_set_spill_bytes(d, 1); /* after every push */
    struct weir_stateful_batch sb = sbatch(0, NO_WM, 0);
    struct weir_batch *in = IDV(t, "1", "a", "0", "2", "b", "0", "1", "c", "0");
    assert_string_equal(dd_push(d, &sb, in), "a,b");
    weir_batch_destroy(in);
    in = IDV(t, "2", "d", "0", "3", "e", "0"); /* 2 was spilled */
    assert_string_equal(dd_push(d, &sb, in), "e");
    weir_batch_destroy(in);
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_total, 3);
    assert_int_equal(m.rows_updated, 3);

    /* batch 1 fails after a spill, and again with its keys only in memory */
    sb = sbatch(1, NO_WM, 0);
    for (int attempt = 0; attempt < 3; attempt++) {
        weir_dedup_set_spill_bytes(d, attempt == 1 ? (size_t)1 << 30 : 1);
        in = IDV(t, "3", "f", "0", "4", "g", "0");
        assert_string_equal(dd_push(d, &sb, in), "g");
        weir_batch_destroy(in);
        in = IDV(t, "4", "h", "0", "5", "i", "0");
        assert_string_equal(dd_push(d, &sb, in), "i");
        weir_batch_destroy(in);
        if (attempt < 2) {
            assert_int_equal(weir_state_abort(f->st, &err), 0);
            weir_dedup_abort(d);
        }
    }
    dd_finish(f, d, &sb, &m);
    assert_int_equal(m.rows_total, 5);
    assert_int_equal(m.rows_updated, 2);
    weir_dedup_destroy(d);
    st_reopen(f);

    /* 20,000 rows over 10,007 keys (i * 7919 mod 10007: each key once in
     * the first 10,007 rows), in pushes of 1,000 with ~16 KiB of keys
     * spilled at a time: exactly the first row of each key passes */
    d = dd_open(f, &c, t, NULL, 0, "dedup");
    weir_dedup_set_spill_bytes(d, 16 << 10);
    for (int64_t batch = 2; batch < 4; batch++) {
        sb = sbatch(batch, NO_WM, 0);
        size_t kept = 0;
        for (int p = 0; p < 20; p++) {
            in = batch_of(t);
            char id[32];
            for (int i = p * 1000; i < (p + 1) * 1000; i++) {
                snprintf(id, sizeof id, "%lld", 100 + (long long)i * 7919 % 10007);
                ROW(in, id, "x", "0");
            }
            struct weir_batch *out = NULL;
            assert_int_equal(weir_dedup_push(d, &sb, in, 0, &out, &err), 0);
            size_t n = out ? out->nrows : in->nrows;
            if (batch == 2 && p < 10) /* rows 0..9,999: all new */
                assert_int_equal(n, 1000);
            kept += n;
            weir_batch_destroy(out);
            weir_batch_destroy(in);
        }
        dd_finish(f, d, &sb, &m);
        assert_int_equal(kept, batch == 2 ? 10007 : 0);
        assert_int_equal(m.rows_total, 5 + 10007);
    }
    weir_dedup_destroy(d);
}

/* ================================================================ stored values */

/* The aggregate whose values the fuzz target fuzz_state_values decodes:
 * keep ALL_DDL / ALL_MEASURES in step with tests/fuzz/fuzz_state_values.c. */
#define ALL_DDL "g STRING, x LONG, y DOUBLE, d DECIMAL(10,2), s STRING, ts TIMESTAMP"
#define ALL_MEASURES                                                                                        \
    LIST("count(*) AS n", "count(x) AS cx", "count_if(x > 0) AS ci", "sum(x) AS sx", "min(x) AS mnx",       \
         "max(x) AS mxx", "avg(x) AS ax", "first(x) AS fx", "last(x) AS lx",                                \
         "approx_count_distinct(x) AS dx", "sum(y) AS sy", "avg(d) AS ad", "sum(d) AS sd", "min(s) AS mns", \
         "max(s) AS mxs", "first(s) AS fs", "last(s) AS ls", "approx_count_distinct(s) AS ds")

static int accept_any(const char *stored, const char *current, struct weir_error *err)
{
    (void)stored;
    (void)current;
    (void)err;
    return 0;
}

struct value {
    uint8_t *p;
    size_t n;
};

/* The value stored under the first key of operator `name` starting with
 * `tag` (read through a fresh handle of the store; copied, caller frees). */
static struct value stored_value(struct fx *f, const char *name, char tag)
{
    struct weir_state_op *op = NULL;
    struct weir_state_iter *it = NULL;
    struct weir_error err = {0};
    struct value v = {0};
    st_reopen(f);
    if (weir_state_operator(f->st, name, "{}", accept_any, &op, &err) != 0)
        fail_msg("operator %s: %s", name, err.message);
    assert_int_equal(weir_state_iter_create(op, &tag, 1, NULL, 0, &it, &err), 0);
    assert_true(weir_state_iter_valid(it));
    size_t kn;
    const char *k = weir_state_iter_key(it, &kn);
    assert_int_equal(k[0], tag);
    const char *p = weir_state_iter_value(it, &v.n);
    v.p = malloc(v.n ? v.n : 1);
    memcpy(v.p, p, v.n);
    weir_state_iter_destroy(it);
    return v;
}

static void write_seed(const char *name, const uint8_t *p, size_t n)
{
    const char *dir = getenv("WEIR_STATE_SEEDS");
    if (dir == NULL)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static int check(struct weir_aggregate *a, const uint8_t *p, size_t n)
{
    struct weir_error err = {0};
    /* an exact-size heap copy, so ASan sees a read past the end */
    uint8_t *q = malloc(n ? n : 1);
    memcpy(q, p, n);
    int rc = weir_aggregate_check_value(a, q, n, &err);
    free(q);
    if (rc != 0) {
        assert_int_equal(rc, WEIR_ECORRUPT);
        assert_contains(err.message, "validate");
    }
    return rc;
}

/* check() must give `want`; the value is also a seed named `seed`. */
static void expect(struct weir_aggregate *a, const uint8_t *p, size_t n, int want, const char *seed)
{
    int rc = check(a, p, n);
    if (rc != want)
        fail_msg("%s: %d, want %d", seed, rc, want);
    write_seed(seed, p, n);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* An accumulator entry at p (the layout of stream/stateful.c: tag u32,
 * payload length varint, class u8, flags u8, payload): the bytes before
 * the class (*head) and the length after them. */
static size_t entry_len(const uint8_t *p, size_t *head)
{
    size_t len = 0, i = 4;
    for (int sh = 0;; sh += 7) {
        len |= (size_t)(p[i] & 0x7f) << sh;
        if (!(p[i++] & 0x80))
            break;
    }
    *head = i;
    return len;
}

/* weir_aggregate_check_value on values a real aggregate stored: valid ones
 * decode; every truncation that is not at an accumulator entry boundary,
 * entries shorter than their payload, an HLL sketch of the wrong size, an
 * unknown class, and session lists that claim more than they hold are
 * WEIR_ECORRUPT; entries of unknown tags (dropped measures) are skipped. */
static void test_check_value(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, ALL_DDL);
    struct weir_config_aggregate c = agg_cfg(LIST("g"), ALL_MEASURES, WEIR_OUTPUT_COMPLETE);
    struct weir_config_aggregate cs = c;
    cs.window.column = "ts";
    cs.window.gap_ms = 10000;
    struct weir_aggregate *a = agg_open(f, &c, t, "accs");
    struct weir_aggregate *as = agg_open(f, &cs, t, "sessions");
    struct weir_batch *in = batch_of(t);
    ROW(in, "a", "3", "1.5", "2.25", "abc", "0");
    ROW(in, "a", NULL, NULL, NULL, NULL, "1000");
    ROW(in, "a", "-7", "0.5", "10", "", "30000");
    weir_batch_destroy(agg_run(f, a, 0, NO_WM, in, NULL));
    weir_batch_destroy(agg_run(f, as, 1, 0, in, NULL));
    weir_batch_destroy(in);
    weir_aggregate_destroy(a);
    weir_aggregate_destroy(as);
    struct value va = stored_value(f, "accs", 'g');
    struct value vs = stored_value(f, "sessions", 's');

    /* validate-only twins decode them */
    struct weir_error err = {0};
    a = as = NULL;
    assert_int_equal(weir_aggregate_create(&c, t, NULL, "validate", &a, &err), 0);
    assert_int_equal(weir_aggregate_create(&cs, t, NULL, "validate", &as, &err), 0);
    expect(a, va.p, va.n, 0, "accs.bin");
    expect(as, vs.p, vs.n, 0, "sessions.bin");
    assert_int_equal(get32(vs.p), 2);   /* sessions [0, 11 s) and [30 s, 40 s) */
    expect(a, va.p, 0, 0, "empty.bin"); /* no entries: every measure empty */

    /* accumulators: the entry boundaries, by walking the layout */
    bool *boundary = calloc(va.n + 1, sizeof *boundary);
    size_t nentries = 0;
    for (size_t off = 0, head; off < va.n; nentries++) {
        boundary[off] = true;
        assert_true(off + 6 <= va.n);
        size_t len = entry_len(va.p + off, &head);
        off += head + len;
    }
    assert_int_equal(nentries, 18);
    for (size_t k = 0; k < va.n; k++)
        if (check(a, va.p, k) != (boundary[k] ? 0 : WEIR_ECORRUPT))
            fail_msg("accumulators cut at %zu of %zu: %s", k, va.n, boundary[k] ? "refused" : "accepted");
    assert_false(boundary[va.n / 2]);
    expect(a, va.p, va.n / 2, WEIR_ECORRUPT, "accs_cut.bin");
    free(boundary);
    /* sessions: no proper prefix is a session list */
    for (size_t k = 0; k < vs.n; k++)
        if (check(as, vs.p, k) != WEIR_ECORRUPT)
            fail_msg("sessions cut at %zu of %zu accepted", k, vs.n);
    expect(as, vs.p, vs.n / 2, WEIR_ECORRUPT, "sessions_cut.bin");
    /* (an accumulator value is not a session list) */
    assert_int_equal(check(as, va.p, va.n), WEIR_ECORRUPT);

    uint8_t *q = malloc(va.n + 64);
    /* count(*)'s entry (the first) without its payload: class and flags only */
    size_t head, len = entry_len(va.p, &head);
    assert_int_equal(head, 5);
    assert_true(len > 2);
    memcpy(q, va.p, 7);
    q[4] = 2;
    expect(a, q, 7, WEIR_ECORRUPT, "accs_entry_short.bin");
    /* a class no measure has, then count(*)'s entry as a string's */
    memcpy(q, va.p, va.n);
    q[5] = 9;
    expect(a, q, va.n, WEIR_ECORRUPT, "accs_class_9.bin");
    q[5] = 3;
    assert_int_equal(check(a, q, va.n), WEIR_ECORRUPT);
    /* a payload length past the end */
    memcpy(q, va.p, va.n);
    q[4] = 0x7f;
    assert_int_equal(check(a, q, 5 + 0x7e), WEIR_ECORRUPT);
    /* an entry of a measure not configured (dropped): skipped */
    memcpy(q, va.p, va.n);
    put32(q + va.n, 0xdeadbeef);
    q[va.n + 4] = 3;
    memset(q + va.n + 5, 0, 3);
    expect(a, q, va.n + 8, 0, "accs_dropped_measure.bin");
    /* the HLL sketch of dx with a register missing: the entry with 2048
     * payload bytes, shortened by one byte */
    size_t off = 0;
    while (off < va.n && entry_len(va.p + off, &head) != 2 + weir_hll_size(11))
        off += head + entry_len(va.p + off, &head);
    assert_true(off < va.n);
    assert_int_equal(head, 6); /* a two-byte length */
    memcpy(q, va.p, off + 6 + 2 + 2047);
    q[off + 4] = (uint8_t)(0x80 | ((2 + 2047) & 0x7f));
    q[off + 5] = (uint8_t)((2 + 2047) >> 7);
    expect(a, q, off + 6 + 2 + 2047, WEIR_ECORRUPT, "accs_hll_2047.bin");
    assert_int_equal(check(a, q, off), 0); /* (the entries before it are fine) */
    free(q);

    /* sessions: a count larger than the list, a length past the end */
    q = malloc(vs.n);
    memcpy(q, vs.p, vs.n);
    put32(q, 3);
    expect(as, q, vs.n, WEIR_ECORRUPT, "sessions_count_3.bin");
    memcpy(q, vs.p, vs.n);
    put32(q + 4 + 16, (uint32_t)vs.n);
    expect(as, q, vs.n, WEIR_ECORRUPT, "sessions_len_past_end.bin");
    memcpy(q, vs.p, vs.n);
    put32(q, 0);
    expect(as, q, 4, 0, "sessions_none.bin"); /* an empty list */
    free(q);

    free(va.p);
    free(vs.p);
    weir_aggregate_destroy(a);
    weir_aggregate_destroy(as);
}

static int cmp_cstr(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* All rows of b as "col=value|..." lines, sorted, joined by newlines (malloc'd). */
static char *rows_text(const struct weir_batch *b)
{
    char **lines = calloc(b->nrows + 1, sizeof *lines);
    size_t total = 1;
    for (size_t r = 0; r < b->nrows; r++) {
        char line[1024] = "";
        for (size_t c = 0; c < b->schema->nfields; c++) {
            const char *name = b->schema->fields[c].name;
            size_t n = strlen(line);
            snprintf(line + n, sizeof line - n, "%s=%s|", name, cell(b, name, r));
        }
        lines[r] = strdup(line);
        total += strlen(line) + 1;
    }
    qsort(lines, b->nrows, sizeof *lines, cmp_cstr);
    char *out = calloc(total, 1);
    for (size_t r = 0; r < b->nrows; r++) {
        strcat(out, lines[r]);
        strcat(out, "\n");
        free(lines[r]);
    }
    free(lines);
    return out;
}

/* An aggregate whose batch's groups outgrow their memory cap spills them
 * mid-batch (sorted runs merged at finish; sessions: into the state); its
 * output (first and last included: partial results merge oldest first),
 * row counts and updated-row counts are those of the same aggregate
 * without a spill (tumbling update and complete, session append), over
 * three batches of 70 pushes (more runs than are kept open: they are
 * merged into one on the way). */
static void test_spill_gives_the_same_result(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, "g STRING, x LONG, ts TIMESTAMP");
    static char *group[] = {"g"}, *measures[] = {"count(*) AS n",  "sum(x) AS sx",
                                                 "min(x) AS lo",   "approx_count_distinct(x) AS d",
                                                 "first(x) AS fx", "last(x) AS lx",
                                                 "avg(x) AS ax",   "max(g) AS mg"};
    const int outputs[] = {WEIR_OUTPUT_UPDATE, WEIR_OUTPUT_COMPLETE, WEIR_OUTPUT_APPEND};
    for (int o = 0; o < 3; o++) {
        struct weir_config_aggregate c = agg_cfg(group, 1, measures, 8, outputs[o]);
        c.window.column = "ts";
        if (o < 2)
            c.window.size_ms = 10000;
        else
            c.window.gap_ms = 3000;
        char n1[32], n2[32];
        snprintf(n1, sizeof n1, "plain%d", o);
        snprintf(n2, sizeof n2, "spill%d", o);
        struct weir_aggregate *a = agg_open(f, &c, t, n1), *b = agg_open(f, &c, t, n2);
        weir_aggregate_set_spill_bytes(b, 1); /* after every push */
        for (int64_t batch = 0; batch < 3; batch++) {
            int64_t id = o * 3 + batch;
            struct weir_stateful_batch sb = sbatch(id, batch * 100000, 1000 * id);
            struct weir_batch *out[2] = {batch_of(weir_aggregate_schema(a)),
                                         batch_of(weir_aggregate_schema(b))};
            struct weir_stateful_metrics m[2];
            struct weir_error err = {0};
            for (int push = 0; push < 70; push++) { /* > RUNS_MAX spills: runs merged mid-batch */
                struct weir_batch *in = batch_of(t);
                for (int i = 0; i < 10; i++) {
                    int64_t k = batch * 700 + push * 10 + i;
                    char g[16], x[24], ts[24];
                    snprintf(g, sizeof g, "g%d", (int)(k * 7 % 13));
                    snprintf(x, sizeof x, "%lld", (long long)(k % 37));
                    /* event time goes back and forth inside a batch */
                    snprintf(ts, sizeof ts, "%lld", (long long)(batch * 100000 + (k * 4111 % 25000)));
                    ROW(in, g, x, ts);
                }
                if (weir_aggregate_push(a, &sb, in, 0, &err) != 0 ||
                    weir_aggregate_push(b, &sb, in, 0, &err) != 0)
                    fail_msg("push: %s", err.message);
                weir_batch_destroy(in);
            }
            if (weir_aggregate_finish(a, &sb, collect_cb, out[0], &err) != 0 ||
                weir_aggregate_finish(b, &sb, collect_cb, out[1], &err) != 0)
                fail_msg("finish: %s", err.message);
            weir_aggregate_metrics(a, &m[0]);
            weir_aggregate_metrics(b, &m[1]);
            st_commit(f, id);
            char *x = rows_text(out[0]), *y = rows_text(out[1]);
            if (out[0]->nrows == 0 && (o != 2 || batch > 0)) /* append: nothing closed before batch 1 */
                fail_msg("output %d batch %lld: no rows", o, (long long)batch);
            assert_string_equal(x, y);
            assert_int_equal(m[0].rows_total, m[1].rows_total);
            if (outputs[o] == WEIR_OUTPUT_UPDATE)
                assert_int_equal(m[0].rows_updated, m[1].rows_updated);
            free(x);
            free(y);
            weir_batch_destroy(out[0]);
            weir_batch_destroy(out[1]);
        }
        weir_aggregate_destroy(a);
        weir_aggregate_destroy(b);
    }
}

/* State of another layout (an aggregate written before integer keys were
 * stored big-endian has no "layout" in its metadata) is refused. */
static void test_old_layout_refused(void **state)
{
    struct fx *f = *state;
    const struct weir_type *t = schema(f, "g STRING, x LONG");
    struct weir_state_op *op = NULL;
    struct weir_error err = {0};
    const char *old = "{\"kind\":\"aggregate\",\"group\":[{\"expr\":\"g\",\"type\":\"string\"}],"
                      "\"window\":null,\"measures\":[]}";
    if (weir_state_operator(f->st, "aggregate", old, NULL, &op, &err) != 0)
        fail_msg("operator: %s", err.message);
    st_commit(f, 0);
    st_reopen(f);
    struct weir_config_aggregate c = agg_cfg(LIST("g"), LIST("count(*) AS n"), WEIR_OUTPUT_COMPLETE);
    const char *msg = agg_refused(f, &c, t, "aggregate");
    assert_contains(msg, "state of operator 'aggregate'");
    assert_contains(msg, "written in layout 1 by another version of weir");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_measure_nulls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_string_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_last_across_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_approx_count_distinct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compat_add_and_drop_measures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compat_widen_argument, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compat_narrow_argument_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compat_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_unbounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_watermark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_within_watermark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_merge_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_merge_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tumbling_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sliding_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_and_rerun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_spill_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_spill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_lookup_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_clock_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spill_gives_the_same_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_layout_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
