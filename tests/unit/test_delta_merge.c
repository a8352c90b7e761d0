/* tests/unit/test_delta_merge.c - MERGE (upsert by key, delta/merge.c):
 * updates and inserts land with the last duplicate winning; only the file
 * holding updated keys is read and rewritten (the others are ruled out by
 * stats); null keys match null keys; integer keys beyond the key bitset's
 * span are found; partition values prune files; a key
 * behind a cut string max is still found; a replayed txn is skipped; a new
 * table is created; a concurrent append makes the merge start over and its
 * rows are merged too; bad keys are refused naming the key; FLOAT keys
 * are found despite their rounded stats; append-only tables refuse it; the
 * key -> file index (groups in add.tags, hints) reads only the hinted
 * files and survives stale and missing hints. The expected
 * table is computed by a plain in-memory model. Each test has its own temp
 * directory. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "delta/delta.h"
#include "formats/json.h"
#include "formats/parquet/parquet.h"
#include "storage/storage.h"
#include "test_util.h"

static int setup(void **state)
{
    return tmp_fixture_setup(state, "dmerge", "t");
}

static const char ddl[] = "id LONG, name STRING, day DATE";

/* A row of the model; id < 0 means a null id. */
struct row {
    int64_t id;
    char name[64];
    int32_t day;
};

static struct weir_batch *make_batch(const struct row *r, size_t n)
{
    struct weir_type *s = ddl_schema(ddl);
    struct weir_batch *b = weir_batch_create(s);
    weir_type_destroy(s);
    for (size_t i = 0; i < n; i++) {
        if (r[i].id < 0)
            assert_int_equal(weir_column_append_null(&b->columns[0]), 0);
        else
            assert_int_equal(weir_column_append_i64(&b->columns[0], r[i].id), 0);
        assert_int_equal(weir_column_append_bytes(&b->columns[1], r[i].name, strlen(r[i].name)), 0);
        assert_int_equal(weir_column_append_i32(&b->columns[2], r[i].day), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    return b;
}

/* rows id in [from, from+n), name "v<gen>-<id>", day 18000 + id % ndays */
static size_t gen_rows(struct row *out, int64_t from, size_t n, int gen, int ndays)
{
    for (size_t i = 0; i < n; i++) {
        out[i].id = from + (int64_t)i;
        snprintf(out[i].name, sizeof out[i].name, "v%d-%lld", gen, (long long)out[i].id);
        out[i].day = 18000 + (int32_t)(out[i].id % ndays);
    }
    return n;
}

static int write_mode(struct weir_delta_table *t, const struct row *r, size_t n,
                      enum weir_delta_write_mode mode, const char *const *keys, size_t nkeys,
                      bool partitioned, const char *app, int64_t txn, struct weir_delta_write_result *res,
                      struct weir_error *err)
{
    struct weir_delta_write_options o;
    weir_delta_write_options_default(&o);
    static const char *const pb[] = {"day"};
    if (partitioned) {
        o.partition_by = pb;
        o.n_partition_by = 1;
    }
    o.mode = mode;
    o.merge_keys = keys;
    o.n_merge_keys = nkeys;
    o.txn_app_id = app;
    o.txn_version = txn;
    struct weir_batch *b = make_batch(r, n);
    const struct weir_batch *bs[] = {b};
    int rc = weir_delta_write(t, bs, 1, &o, res, err);
    weir_batch_destroy(b);
    return rc;
}

static const char *const by_id[] = {"id"};

static void append(struct weir_delta_table *t, const struct row *r, size_t n, bool partitioned)
{
    struct weir_error err = {0};
    if (write_mode(t, r, n, WEIR_DELTA_APPEND, NULL, 0, partitioned, NULL, -1, NULL, &err))
        fail_msg("append: %s", err.message);
}

static void merge(struct weir_delta_table *t, const struct row *r, size_t n, const char *const *keys,
                  size_t nkeys, struct weir_delta_write_result *res)
{
    struct weir_error err = {0};
    if (write_mode(t, r, n, WEIR_DELTA_MERGE, keys, nkeys, false, NULL, -1, res, &err))
        fail_msg("merge: %s", err.message);
}

/* The model: apply an upsert by (id, and day when by_day) with null-safe keys. */
static size_t model_upsert(struct row *m, size_t n, const struct row *r, size_t nr, bool by_day)
{
    for (size_t i = 0; i < nr; i++) {
        size_t j = 0;
        while (j < n && !(m[j].id == r[i].id && (!by_day || m[j].day == r[i].day)))
            j++;
        m[j] = r[i];
        if (j == n)
            n++;
    }
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct lines {
    char **v;
    size_t n, cap;
};

static void lines_add(struct lines *l, int64_t id, bool id_null, const char *name, size_t nl, int32_t day)
{
    char line[160];
    if (id_null)
        snprintf(line, sizeof line, "null|%.*s|%d", (int)nl, name, (int)day);
    else
        snprintf(line, sizeof line, "%lld|%.*s|%d", (long long)id, (int)nl, name, (int)day);
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = realloc(l->v, l->cap * sizeof(char *));
    }
    l->v[l->n++] = strdup(line);
}

static int scan_cb(void *ctx, const struct weir_batch *b, const struct weir_delta_add *f,
                   struct weir_error *err)
{
    (void)f;
    (void)err;
    for (size_t i = 0; i < b->nrows; i++) {
        size_t nl;
        const uint8_t *p = weir_column_bytes(&b->columns[1], i, &nl);
        bool null_id = !weir_column_is_valid(&b->columns[0], i);
        lines_add(ctx, null_id ? 0 : weir_column_i64(&b->columns[0], i), null_id, (const char *)p, nl,
                  weir_column_i32(&b->columns[2], i));
    }
    return 0;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* The table's rows equal the model's, as sorted sets of lines. */
static void assert_table(struct weir_delta_table *t, const struct row *m, size_t n)
{
    struct lines got = {0}, want = {0};
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    if (weir_delta_snapshot_load(t, -1, &s, &err) || weir_delta_scan(t, s, NULL, 0, scan_cb, &got, &err))
        fail_msg("scan: %s", err.message);
    weir_delta_snapshot_destroy(s);
    for (size_t i = 0; i < n; i++)
        lines_add(&want, m[i].id, m[i].id < 0, m[i].name, strlen(m[i].name), m[i].day);
    qsort(got.v, got.n, sizeof(char *), cmp_str);
    qsort(want.v, want.n, sizeof(char *), cmp_str);
    assert_int_equal(got.n, want.n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(got.v[i], want.v[i]);
    lines_free(&got);
    lines_free(&want);
}

static struct weir_delta_table *open_at(const char *path)
{
    struct weir_delta_table *t;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_table_open(&t, path, &err), 0);
    return t;
}

static char *read_commit(const char *table, int64_t v)
{
    char rel[64];
    snprintf(rel, sizeof rel, "_delta_log/%020lld.json", (long long)v);
    char *text = file_read(table, rel);
    assert_non_null(text);
    return text;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* 10 files of 100 ids each; a merge updating ids 150..159 (155 twice: the
 * last wins) and inserting 2000..2019 reads and rewrites only file 1. */
static void test_upsert_rewrites_only_the_matching_file(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    static struct row model[2000], batch[64];
    size_t n = 0;
    for (int f = 0; f < 10; f++) {
        struct row r[100];
        gen_rows(r, f * 100, 100, 0, 3);
        append(t, r, 100, false);
        n = model_upsert(model, n, r, 100, false);
    }
    size_t nb = gen_rows(batch, 150, 10, 1, 3);
    nb += gen_rows(batch + nb, 2000, 20, 1, 3);
    batch[nb] = batch[5]; /* id 155 again, later: it wins */
    snprintf(batch[nb].name, sizeof batch[nb].name, "last");
    nb++;
    struct weir_delta_write_result res;
    merge(t, batch, nb, by_id, 1, &res);
    n = model_upsert(model, n, batch, nb, false);
    assert_int_equal(res.version, 10);
    assert_int_equal(res.files_read, 1);
    assert_int_equal(res.files_removed, 1);
    assert_int_equal(res.rows_updated, 10);
    assert_int_equal(res.rows_inserted, 20);
    assert_int_equal(res.rows_copied, 90);
    assert_int_equal(res.rows_written, 120);
    assert_table(t, model, n);
    char *c = read_commit(fx->path, 10);
    assert_non_null(strstr(c, "\"operation\":\"MERGE\""));
    assert_non_null(strstr(c, "\"numTargetRowsUpdated\":\"10\""));
    assert_non_null(strstr(c, "\"numTargetRowsInserted\":\"20\""));
    assert_int_equal(count_of(c, "{\"remove\":"), 1);
    free(c);
    weir_delta_table_destroy(t);
}

/* A null key replaces the row with a null key instead of adding another. */
static void test_null_keys_match(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    struct row r[3] = {{-1, "null-0", 18000}, {1, "one-0", 18000}, {2, "two-0", 18000}};
    struct row m[8];
    size_t n = model_upsert(m, 0, r, 3, false);
    append(t, r, 3, false);
    struct row u[2] = {{-1, "null-1", 18001}, {3, "three-1", 18001}};
    struct weir_delta_write_result res;
    merge(t, u, 2, by_id, 1, &res);
    n = model_upsert(m, n, u, 2, false);
    assert_int_equal(n, 4);
    assert_int_equal(res.rows_updated, 1);
    assert_int_equal(res.rows_inserted, 1);
    assert_table(t, m, n);
    weir_delta_table_destroy(t);
}

/* Integer keys spanning more than the key bitset covers are found by the
 * key index alone; with a narrow span, a table row with a null key is not
 * taken for an added key. */
static void test_wide_and_null_integer_keys(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    const int64_t far = (int64_t)1 << 40;
    struct row r[4] = {
        {-1, "null-0", 18000}, {1, "one-0", 18000}, {7, "seven-0", 18000}, {far, "far-0", 18000}};
    struct row m[16];
    size_t n = model_upsert(m, 0, r, 4, false);
    append(t, r, 4, false);
    struct row u[3] = {{1, "one-1", 18001}, {far, "far-1", 18001}, {5, "five-1", 18001}};
    struct weir_delta_write_result res;
    merge(t, u, 3, by_id, 1, &res);
    n = model_upsert(m, n, u, 3, false);
    assert_int_equal(res.rows_updated, 2);
    assert_int_equal(res.rows_inserted, 1);
    assert_table(t, m, n);
    struct row v[3] = {{2, "two-2", 18002}, {3, "three-2", 18002}, {7, "seven-2", 18002}};
    merge(t, v, 3, by_id, 1, &res);
    n = model_upsert(m, n, v, 3, false);
    assert_int_equal(res.rows_updated, 1);
    assert_int_equal(res.rows_inserted, 2);
    assert_int_equal(n, 7);
    assert_table(t, m, n);
    weir_delta_table_destroy(t);
}

/* Keys (day, id) on a table partitioned by day: only day 18001's files are read. */
static void test_partition_values_prune(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    static struct row model[400], r[300];
    gen_rows(r, 0, 300, 0, 3); /* one file per day */
    append(t, r, 300, true);
    size_t n = model_upsert(model, 0, r, 300, true);
    /* ids 0..299 spread over 3 days: ids with id % 3 == 1 are day 18001 */
    struct row u[4];
    gen_rows(u, 4, 1, 1, 3);       /* id 4, day 18001: an update */
    gen_rows(u + 1, 7, 1, 1, 3);   /* id 7, day 18001: an update */
    gen_rows(u + 2, 301, 1, 1, 3); /* id 301, day 18001: an insert */
    u[3] = u[0];
    u[3].day = 18002; /* id 4 on another day: a different key, inserted */
    static const char *const keys[] = {"day", "id"};
    struct weir_delta_write_options o;
    weir_delta_write_options_default(&o);
    o.mode = WEIR_DELTA_MERGE;
    o.merge_keys = keys;
    o.n_merge_keys = 2;
    struct weir_batch *b = make_batch(u, 4);
    const struct weir_batch *bs[] = {b};
    struct weir_delta_write_result res;
    struct weir_error err = {0};
    if (weir_delta_write(t, bs, 1, &o, &res, &err))
        fail_msg("merge: %s", err.message);
    weir_batch_destroy(b);
    n = model_upsert(model, n, u, 4, true);
    /* day 18002's file is read (id 4 is inside its id range) but holds no
     * added key, so it is not rewritten; day 18000's is never read */
    assert_int_equal(res.files_read, 2);
    assert_int_equal(res.files_removed, 1);
    assert_int_equal(res.rows_updated, 2);
    assert_int_equal(res.rows_inserted, 2);
    assert_table(t, model, n);
    weir_delta_table_destroy(t);
}

/* String keys longer than the 32-character stats prefix are still found. */
static void test_long_string_keys(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    static const char *const by_name[] = {"name"};
    struct row r[3] = {{1, "", 18000}, {2, "", 18000}, {3, "", 18000}};
    for (int i = 0; i < 3; i++)
        snprintf(r[i].name, sizeof r[i].name, "%s%c", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", 'a' + i);
    struct row m[8];
    size_t n = model_upsert(m, 0, r, 3, false);
    append(t, r, 3, false);
    struct row u[1] = {r[2]};
    u[0].id = 33;
    struct weir_delta_write_result res;
    merge(t, u, 1, by_name, 1, &res);
    /* the model by name: the row with name ..c gets id 33 */
    m[2].id = 33;
    assert_int_equal(res.rows_updated, 1);
    assert_int_equal(res.files_removed, 1);
    assert_table(t, m, n);
    weir_delta_table_destroy(t);
}

/* The same txn twice: the second is skipped; a merge into no table creates it. */
static void test_txn_and_create(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    struct row u[3] = {{1, "a", 18000}, {2, "b", 18000}, {1, "c", 18000}};
    struct row m[4];
    size_t n = model_upsert(m, 0, u, 3, false);
    struct weir_delta_write_result res;
    struct weir_error err = {0};
    assert_int_equal(write_mode(t, u, 3, WEIR_DELTA_MERGE, by_id, 1, false, "q", 5, &res, &err), 0);
    assert_int_equal(res.version, 0);
    assert_false(res.already_committed);
    assert_int_equal(res.rows_inserted, 2);
    assert_table(t, m, n);
    struct row v[1] = {{2, "changed", 18000}};
    assert_int_equal(write_mode(t, v, 1, WEIR_DELTA_MERGE, by_id, 1, false, "q", 5, &res, &err), 0);
    assert_true(res.already_committed);
    assert_table(t, m, n);
    weir_delta_table_destroy(t);
}

/* An append committed between begin and commit: the merge starts over and
 * also replaces the appended row with its key. */
static void test_concurrent_append_restarts(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path), *t2 = open_at(fx->path);
    static struct row model[256];
    struct row r[100];
    gen_rows(r, 0, 100, 0, 3);
    append(t, r, 100, false);
    size_t n = model_upsert(model, 0, r, 100, false);
    struct weir_delta_write_options o;
    weir_delta_write_options_default(&o);
    o.mode = WEIR_DELTA_MERGE;
    o.merge_keys = by_id;
    o.n_merge_keys = 1;
    struct weir_delta_writer *w = NULL;
    struct weir_error err = {0};
    struct weir_type *s = ddl_schema(ddl);
    assert_int_equal(weir_delta_writer_begin(t, s, &o, &w, NULL, &err), 0);
    weir_type_destroy(s);
    struct row u[2];
    gen_rows(u, 50, 1, 1, 3);
    gen_rows(u + 1, 500, 1, 1, 3);
    struct weir_batch *b = make_batch(u, 2);
    assert_int_equal(weir_delta_writer_add(w, b, &err), 0);
    weir_batch_destroy(b);
    struct row c[1];
    gen_rows(c, 500, 1, 7, 3); /* the concurrent writer adds id 500 first */
    append(t2, c, 1, false);
    n = model_upsert(model, n, c, 1, false);
    struct weir_delta_write_result res;
    if (weir_delta_writer_commit(w, &res, &err))
        fail_msg("commit: %s", err.message);
    n = model_upsert(model, n, u, 2, false);
    assert_int_equal(res.version, 2);
    assert_int_equal(res.rows_updated, 2);
    assert_int_equal(res.rows_inserted, 0);
    assert_table(t, model, n);
    weir_delta_table_destroy(t2);
    weir_delta_table_destroy(t);
}

static void test_bad_keys(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    struct row r[1] = {{1, "a", 18000}};
    append(t, r, 1, false);
    struct weir_error err = {0};
    static const char *const nokey[] = {"nope"};
    assert_int_equal(write_mode(t, r, 1, WEIR_DELTA_MERGE, nokey, 1, false, NULL, -1, NULL, &err),
                     WEIR_ESCHEMA);
    assert_non_null(strstr(err.message, "merge key 'nope' is not a column"));
    weir_error_clear(&err);
    assert_int_equal(write_mode(t, r, 1, WEIR_DELTA_MERGE, NULL, 0, false, NULL, -1, NULL, &err),
                     WEIR_EINVAL);
    assert_non_null(strstr(err.message, "merge needs key columns"));
    weir_delta_table_destroy(t);
}

/* Merge r[0..n) with the key index: new rows in group `group`, hints[i]
 * for row i (NULL: none). */
static void merge_indexed_at(struct weir_delta_table *t, const struct row *r, size_t n, uint64_t group,
                             const uint64_t *hints, uint64_t target, uint64_t row_group,
                             struct weir_delta_write_result *res)
{
    struct weir_delta_write_options o;
    weir_delta_write_options_default(&o);
    if (target)
        o.target_file_bytes = target;
    o.row_group_bytes = row_group;
    o.mode = WEIR_DELTA_MERGE;
    o.merge_keys = by_id;
    o.n_merge_keys = 1;
    o.merge_group = group;
    o.merge_hints = hints;
    o.n_merge_hints = hints ? n : 0;
    struct weir_batch *b = make_batch(r, n);
    const struct weir_batch *bs[] = {b};
    struct weir_error err = {0};
    if (weir_delta_write(t, bs, 1, &o, res, &err))
        fail_msg("merge: %s", err.message);
    weir_batch_destroy(b);
}

static void merge_indexed(struct weir_delta_table *t, const struct row *r, size_t n, uint64_t group,
                          const uint64_t *hints, struct weir_delta_write_result *res)
{
    merge_indexed_at(t, r, n, group, hints, 0, 0, res);
}

/* The file of group g in version v's commit: its tag is there once per file. */
static size_t tagged(const char *table, int64_t v, uint64_t g)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"tags\":{\"weir.group\":\"%016llx\"}", (unsigned long long)g);
    char *c = read_commit(table, v);
    size_t n = count_of(c, needle);
    free(c);
    return n;
}

/* The key -> file index: 10 files whose ids interleave (every file's
 * min/max spans the table, so stats prune nothing), one group each. With
 * hints, updating keys of one file reads that file only; the rewritten
 * file keeps its group and the new rows get the merge's. A stale hint
 * (keys moved by someone else's rewrite) and missing hints still find
 * every row, through the stats search. */
static void test_key_index_groups(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    static struct row model[2000], r[100];
    size_t n = 0;
    struct weir_delta_write_result res;
    for (int f = 0; f < 10; f++) { /* file f: ids f, f + 10, ..., f + 990; group 100 + f */
        for (int i = 0; i < 100; i++) {
            r[i].id = f + 10 * i;
            snprintf(r[i].name, sizeof r[i].name, "v0-%d", f + 10 * i);
            r[i].day = 18000;
        }
        merge_indexed(t, r, 100, 100 + (uint64_t)f, NULL, &res);
        assert_int_equal(tagged(fx->path, f, 100 + (uint64_t)f), 1);
        n = model_upsert(model, n, r, 100, false);
    }
    /* keys of file 3 with their hint, one new key without: the new key
     * sends the merge to the stats search, which rules nothing out */
    uint64_t hints[16];
    for (int i = 0; i < 8; i++) {
        r[i].id = 3 + 10 * (7 * i);
        snprintf(r[i].name, sizeof r[i].name, "v1-%d", i);
        hints[i] = 103;
    }
    merge_indexed(t, r, 8, 200, hints, &res);
    n = model_upsert(model, n, r, 8, false);
    assert_int_equal(res.files_read, 1);
    assert_int_equal(res.files_by_hint, 1);
    assert_int_equal(res.files_removed, 1);
    assert_int_equal(res.rows_updated, 8);
    assert_int_equal(res.rows_copied, 92);
    assert_int_equal(tagged(fx->path, 10, 103), 1); /* the kept rows stay in their group */
    assert_int_equal(tagged(fx->path, 10, 200), 1); /* the new rows: the merge's group */
    assert_table(t, model, n);

    r[0].id = 5000;
    snprintf(r[0].name, sizeof r[0].name, "new");
    hints[0] = 0;
    r[1].id = 14;
    snprintf(r[1].name, sizeof r[1].name, "v2");
    hints[1] = 104;
    merge_indexed(t, r, 2, 201, hints, &res);
    n = model_upsert(model, n, r, 2, false);
    assert_int_equal(res.files_by_hint, 1);
    assert_int_equal(res.files_read, 11); /* the hinted file, then the 10 others by stats */
    assert_int_equal(res.files_removed, 1);
    assert_int_equal(res.rows_updated, 1);
    assert_int_equal(res.rows_inserted, 1);
    assert_table(t, model, n);

    /* a stale hint: id 25 is in group 105, the hint says 107 */
    r[0].id = 25;
    snprintf(r[0].name, sizeof r[0].name, "v3");
    hints[0] = 107;
    merge_indexed(t, r, 1, 202, hints, &res);
    n = model_upsert(model, n, r, 1, false);
    assert_int_equal(res.files_by_hint, 1);
    assert_true(res.files_read > 1);
    assert_int_equal(res.rows_updated, 1);
    assert_int_equal(res.rows_inserted, 0);
    assert_int_equal(tagged(fx->path, 12, 105), 1);
    assert_table(t, model, n);

    /* a file without a tag (another writer's) loses no row either */
    r[0].id = 9999;
    snprintf(r[0].name, sizeof r[0].name, "plain");
    append(t, r, 1, false);
    n = model_upsert(model, n, r, 1, false);
    snprintf(r[0].name, sizeof r[0].name, "plain2");
    hints[0] = 108;
    merge_indexed(t, r, 1, 203, hints, &res);
    n = model_upsert(model, n, r, 1, false);
    assert_int_equal(res.rows_updated, 1);
    assert_table(t, model, n);
    weir_delta_table_destroy(t);
}

/* A rewritten file's kept rows stay one file while they fit in twice the
 * target (the file was written at the target): 30,000 rows in one file,
 * then a merge with a target below their size rewrites it as one file. */
static void test_key_index_rewrites_a_file_whole(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    static struct row r[30000];
    struct weir_delta_write_result res;
    gen_rows(r, 0, 30000, 0, 3);
    merge_indexed(t, r, 30000, 7, NULL, &res);
    assert_int_equal(res.files_added, 1);
    struct row u = r[100];
    snprintf(u.name, sizeof u.name, "changed");
    uint64_t hint = 7;
    merge_indexed_at(t, &u, 1, 8, &hint, 1u << 19, 0, &res); /* the 29,999 kept rows: 512 KiB to 1 MiB */
    assert_int_equal(res.files_by_hint, 1);
    assert_int_equal(res.rows_copied, 29999);
    assert_int_equal(tagged(fx->path, 1, 7), 1);
    assert_int_equal(tagged(fx->path, 1, 8), 1);
    assert_int_equal(res.files_added, 2);
    r[100] = u;
    assert_table(t, r, 30000);
    weir_delta_table_destroy(t);
}

/* Row groups of the first data file of the table's latest snapshot. */
static int row_groups_of_first_file(struct weir_delta_table *t)
{
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    struct weir_input in;
    struct weir_parquet_reader *r = NULL;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    assert_true(weir_delta_snapshot_num_files(s) > 0);
    assert_int_equal(
        weir_store_input_open(weir_delta_table_store(t), weir_delta_snapshot_file(s, 0)->path, &in, &err), 0);
    assert_int_equal(weir_parquet_reader_open(&r, &in, &err), 0);
    int n = weir_parquet_reader_num_row_groups(r);
    weir_parquet_reader_destroy(r);
    weir_store_input_close(&in);
    weir_delta_snapshot_destroy(s);
    return n;
}

/* The table, read in file order, holds model rows m[0..n) but the one at
 * index skip, in their order (skip's new version may sit anywhere). */
static void assert_kept_in_order(struct weir_delta_table *t, const struct row *m, size_t n, size_t skip)
{
    struct lines got = {0};
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    if (weir_delta_snapshot_load(t, -1, &s, &err) || weir_delta_scan(t, s, NULL, 0, scan_cb, &got, &err))
        fail_msg("scan: %s", err.message);
    weir_delta_snapshot_destroy(s);
    char skipped[32];
    snprintf(skipped, sizeof skipped, "%lld|", (long long)m[skip].id);
    size_t j = 0;
    for (size_t i = 0; i < got.n; i++) {
        if (strncmp(got.v[i], skipped, strlen(skipped)) == 0)
            continue;
        j += j == skip;
        assert_true(j < n);
        char want[160];
        snprintf(want, sizeof want, "%lld|%s|%d", (long long)m[j].id, m[j].name, (int)m[j].day);
        assert_string_equal(got.v[i], want);
        j++;
    }
    assert_int_equal(j + (j == skip), n);
    lines_free(&got);
}

/* A file the index names is read whole, row group by row group: a key in
 * its last row group rewrites it with every other row, in order; a hint
 * to a file without the key leaves the file as it is. */
static void test_key_index_row_groups(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    static struct row r[20000];
    struct weir_delta_write_result res;
    gen_rows(r, 0, 20000, 0, 3);
    merge_indexed_at(t, r, 20000, 7, NULL, 0, 64u << 10, &res); /* one file, row groups of 64 KiB */
    assert_int_equal(res.files_added, 1);
    assert_true(row_groups_of_first_file(t) >= 3);

    struct row u = r[19990];
    snprintf(u.name, sizeof u.name, "changed");
    uint64_t hint = 7;
    merge_indexed_at(t, &u, 1, 8, &hint, 0, 0, &res);
    assert_int_equal(res.files_read, 1);
    assert_int_equal(res.files_by_hint, 1);
    assert_int_equal(res.files_removed, 1);
    assert_int_equal(res.rows_updated, 1);
    assert_int_equal(res.rows_copied, 19999);
    assert_kept_in_order(t, r, 20000, 19990);
    r[19990] = u;
    assert_table(t, r, 20000);

    u = r[5]; /* in group 7's new file; the hint names group 8's, which is read and stays */
    snprintf(u.name, sizeof u.name, "changed again");
    hint = 8;
    merge_indexed_at(t, &u, 1, 9, &hint, 0, 0, &res);
    assert_int_equal(res.files_by_hint, 1);
    assert_true(res.files_read >= 2);
    assert_int_equal(res.rows_updated, 1);
    assert_int_equal(res.files_removed, 1); /* group 7's file only */
    r[5] = u;
    assert_table(t, r, 20000);
    weir_delta_table_destroy(t);
}

/* FLOAT keys (their stats are rounded decimal text) still find their file;
 * an append-only table refuses a merge. */
static void test_float_keys_and_append_only(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    struct weir_type *s = ddl_schema("k FLOAT, v STRING");
    struct weir_error err = {0};
    const float ks[] = {0.1f, 0.3f, 0.7f};
    struct weir_batch *b = weir_batch_create(s);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(weir_column_append_f32(&b->columns[0], ks[i]), 0);
        assert_int_equal(weir_column_append_bytes(&b->columns[1], "old", 3), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    const struct weir_batch *bs[] = {b};
    struct weir_delta_write_options o;
    weir_delta_write_options_default(&o);
    struct weir_delta_kv conf[] = {{"delta.appendOnly", "false"}};
    o.configuration = conf;
    o.n_configuration = 1;
    assert_int_equal(weir_delta_write(t, bs, 1, &o, NULL, &err), 0);
    weir_batch_destroy(b);
    static const char *const by_k[] = {"k"};
    for (int i = 0; i < 2; i++) { /* 0.1 is above the stats' "0.100000001"; 0.3 below "0.300000012" */
        b = weir_batch_create(s);
        assert_int_equal(weir_column_append_f32(&b->columns[0], ks[i]), 0);
        assert_int_equal(weir_column_append_bytes(&b->columns[1], "new", 3), 0);
        assert_int_equal(weir_batch_finish_rows(b), 0);
        bs[0] = b;
        weir_delta_write_options_default(&o);
        o.mode = WEIR_DELTA_MERGE;
        o.merge_keys = by_k;
        o.n_merge_keys = 1;
        struct weir_delta_write_result res;
        if (weir_delta_write(t, bs, 1, &o, &res, &err))
            fail_msg("merge: %s", err.message);
        assert_int_equal(res.rows_updated, 1);
        assert_int_equal(res.rows_inserted, 0);
        weir_batch_destroy(b);
    }
    weir_delta_table_destroy(t);
    weir_type_destroy(s);

    /* append-only */
    char path[256];
    snprintf(path, sizeof path, "%s/ao", fx->dir);
    t = open_at(path);
    struct row r[1] = {{1, "a", 18000}};
    struct weir_batch *rb = make_batch(r, 1);
    bs[0] = rb;
    weir_delta_write_options_default(&o);
    conf[0].value = "true";
    o.configuration = conf;
    o.n_configuration = 1;
    assert_int_equal(weir_delta_write(t, bs, 1, &o, NULL, &err), 0);
    o.mode = WEIR_DELTA_MERGE;
    o.merge_keys = by_id;
    o.n_merge_keys = 1;
    assert_int_equal(weir_delta_write(t, bs, 1, &o, NULL, &err), WEIR_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "append-only (delta.appendOnly=true); merge refused"));
    weir_batch_destroy(rb);
    weir_delta_table_destroy(t);
}

/* ---- change data: actions per row ---- */

static const char cdc_ddl[] = "id LONG, v STRING, gone BOOLEAN, start_at LONG, end_at LONG";

struct crow {
    int64_t id;
    const char *v;
    int gone;      /* -1 null */
    int64_t start; /* -1 null */
    int64_t end;   /* -1 null */
};

static struct weir_batch *cdc_batch(const struct crow *r, size_t n)
{
    struct weir_type *s = ddl_schema(cdc_ddl);
    struct weir_batch *b = weir_batch_create(s);
    weir_type_destroy(s);
    for (size_t i = 0; i < n; i++) {
        struct weir_column *c = b->columns;
        assert_int_equal(weir_column_append_i64(&c[0], r[i].id), 0);
        assert_int_equal(weir_column_append_bytes(&c[1], r[i].v, strlen(r[i].v)), 0);
        assert_int_equal(
            r[i].gone < 0 ? weir_column_append_null(&c[2]) : weir_column_append_bool(&c[2], r[i].gone), 0);
        assert_int_equal(
            r[i].start < 0 ? weir_column_append_null(&c[3]) : weir_column_append_i64(&c[3], r[i].start), 0);
        assert_int_equal(
            r[i].end < 0 ? weir_column_append_null(&c[4]) : weir_column_append_i64(&c[4], r[i].end), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    return b;
}

static void cdc_write(struct weir_delta_table *t, const struct crow *r, size_t n, const uint8_t *act,
                      const char *set, const char *cur, bool trunc, int64_t trunc_row,
                      struct weir_delta_write_result *res)
{
    struct weir_delta_write_options o;
    struct weir_error err = {0};
    weir_delta_write_options_default(&o);
    o.mode = act ? WEIR_DELTA_MERGE : WEIR_DELTA_APPEND;
    o.merge_keys = by_id;
    o.n_merge_keys = act ? 1 : 0;
    o.merge_actions = act;
    o.n_merge_actions = act ? n : 0;
    o.merge_set_column = set;
    o.merge_current_column = cur;
    o.merge_truncate = trunc;
    o.merge_truncate_row = trunc_row;
    struct weir_batch *b = cdc_batch(r, n);
    const struct weir_batch *bs[] = {b};
    if (weir_delta_write(t, bs, 1, &o, res, &err) != 0)
        fail_msg("write: %s", err.message);
    weir_batch_destroy(b);
}

static int json_cb(void *ctx, const struct weir_batch *b, const struct weir_delta_add *f,
                   struct weir_error *err)
{
    (void)f;
    struct lines *l = ctx;
    for (size_t i = 0; i < b->nrows; i++) {
        struct weir_buf line;
        weir_buf_init(&line);
        if (weir_json_encode_row(b, i, &line, err) != 0)
            return WEIR_ENOMEM;
        line.data[line.len - 1] = 0; /* the newline */
        l->v = realloc(l->v, (l->n + 1) * sizeof(char *));
        l->v[l->n++] = strdup((const char *)line.data);
        weir_buf_free(&line);
    }
    return 0;
}

/* The table's rows as sorted JSON lines joined by '|'. */
static char *table_json(struct weir_delta_table *t)
{
    struct lines got = {0};
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    if (weir_delta_snapshot_load(t, -1, &s, &err) || weir_delta_scan(t, s, NULL, 0, json_cb, &got, &err))
        fail_msg("scan: %s", err.message);
    weir_delta_snapshot_destroy(s);
    qsort(got.v, got.n, sizeof(char *), cmp_str);
    size_t len = 1;
    for (size_t i = 0; i < got.n; i++)
        len += strlen(got.v[i]) + 1;
    char *out = calloc(1, len);
    for (size_t i = 0; i < got.n; i++) {
        if (i)
            strcat(out, "|");
        strcat(out, got.v[i]);
    }
    lines_free(&got);
    return out;
}

#define J(id, v, gone, s, e) \
    "{\"id\":" #id ",\"v\":\"" v "\",\"gone\":" gone ",\"start_at\":" s ",\"end_at\":" e "}"

static void test_change_data_actions(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    struct weir_delta_write_result res;
    const struct crow init[] = {
        {1, "a", 0, -1, -1}, {2, "b", 0, -1, -1}, {3, "c", 0, -1, -1}, {4, "d", 0, -1, -1}};
    cdc_write(t, init, 4, NULL, NULL, NULL, false, -1, &res);
    /* upsert 2, delete 3, soft-delete 4 (its v stays), insert 7 */
    const struct crow ch[] = {
        {2, "b2", 0, -1, -1}, {3, "x", 0, -1, -1}, {4, "ignored", 1, -1, -1}, {7, "g", 0, -1, -1}};
    const uint8_t act[] = {WEIR_MERGE_UPSERT, WEIR_MERGE_DELETE, WEIR_MERGE_SET, WEIR_MERGE_UPSERT};
    cdc_write(t, ch, 4, act, "gone", NULL, false, -1, &res);
    assert_int_equal(res.rows_updated, 2);
    assert_int_equal(res.rows_deleted, 1);
    assert_int_equal(res.rows_inserted, 1);
    char *j = table_json(t);
    assert_string_equal(j, J(1, "a", "false", "null", "null") "|" J(2, "b2", "false", "null", "null") "|" J(
                               4, "d", "true", "null", "null") "|" J(7, "g", "false", "null", "null"));
    free(j);
    /* a truncate first: every row goes, then 9 is inserted */
    const struct crow tr[] = {{9, "i", 0, -1, -1}, {1, "gone anyway", 0, -1, -1}};
    const uint8_t tact[] = {WEIR_MERGE_UPSERT, WEIR_MERGE_DELETE};
    cdc_write(t, tr, 2, tact, NULL, NULL, true, -1, &res);
    assert_int_equal(res.rows_deleted, 4);
    assert_int_equal(res.rows_inserted, 1);
    j = table_json(t);
    assert_string_equal(j, J(9, "i", "false", "null", "null"));
    free(j);
    weir_delta_table_destroy(t);
}

static void test_change_data_history(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    struct weir_delta_write_result res;
    /* key 1: a closed version and a current one; key 2: current */
    const struct crow init[] = {{1, "a", -1, 1, 5}, {1, "b", -1, 5, -1}, {2, "c", -1, 2, -1}};
    cdc_write(t, init, 3, NULL, NULL, NULL, false, -1, &res);
    /* key 1 changes at 9 (close the current one, add a version); key 3 is new */
    const struct crow ch[] = {{1, "", -1, -1, 9}, {1, "b2", -1, 9, -1}, {3, "d", -1, 4, -1}};
    const uint8_t act[] = {WEIR_MERGE_SET, WEIR_MERGE_APPEND, WEIR_MERGE_APPEND};
    cdc_write(t, ch, 3, act, "end_at", "end_at", false, -1, &res);
    assert_int_equal(res.rows_updated, 1);
    assert_int_equal(res.rows_inserted, 2);
    char *j = table_json(t);
    assert_string_equal(j, J(1, "a", "null", "1", "5") "|" J(1, "b", "null", "5", "9") "|" J(
                               1, "b2", "null", "9",
                               "null") "|" J(2, "c", "null", "2", "null") "|" J(3, "d", "null", "4", "null"));
    free(j);
    /* a truncate at 20 closes every current row; key 2 is also closed at 15 by its own change */
    const struct crow tr[] = {{0, "", -1, -1, 20}, {2, "", -1, -1, 15}};
    const uint8_t tact[] = {WEIR_MERGE_IGNORE, WEIR_MERGE_SET};
    cdc_write(t, tr, 2, tact, "end_at", "end_at", true, 0, &res);
    j = table_json(t);
    assert_string_equal(
        j, J(1, "a", "null", "1", "5") "|" J(1, "b", "null", "5", "9") "|" J(
               1, "b2", "null", "9", "20") "|" J(2, "c", "null", "2", "15") "|" J(3, "d", "null", "4", "20"));
    free(j);
    weir_delta_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upsert_rewrites_only_the_matching_file, setup,
                                        tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_null_keys_match, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_wide_and_null_integer_keys, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_partition_values_prune, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_long_string_keys, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_txn_and_create, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_append_restarts, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_bad_keys, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_change_data_actions, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_change_data_history, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_float_keys_and_append_only, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_key_index_groups, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_key_index_rewrites_a_file_whole, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_key_index_row_groups, setup, tmp_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
