/* tests/unit/test_delta_optimize.c - OPTIMIZE (small-file compaction):
 * 20 small files become one with the same rows and the stats a normal write
 * of those rows gets; a blind append committed between planning and commit
 * does not conflict, a concurrent overwrite does (and the new files are
 * deleted); partitions are compacted separately; nothing to do gives
 * version -1 and no commit. Each test uses its own temp directory. */
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
#include "delta/delta.h"
#include "delta/write_int.h"
#include "test_util.h"

/* fx->path is the table, "<dir>/t" (created by the first write). */
static int setup(void **state)
{
    return tmp_fixture_setup(state, "dopt", "t");
}

static const char rows_ddl[] = "id LONG NOT NULL, name STRING, amount DOUBLE, day DATE, tags ARRAY<STRING>";

/* rows [from, from+n): name "n<id>" (null every 7th), day 18000 + id % 3
 * (or `day` when >= 0), tags ["t<id>"]. */
static struct weir_batch *make_batch(int64_t from, size_t n, int32_t day)
{
    struct weir_type *s = ddl_schema(rows_ddl);
    struct weir_batch *b = weir_batch_create(s);
    weir_type_destroy(s);
    for (size_t i = 0; i < n; i++) {
        int64_t id = from + (int64_t)i;
        char txt[32];
        assert_int_equal(weir_column_append_i64(&b->columns[0], id), 0);
        snprintf(txt, sizeof txt, "n%lld", (long long)id);
        if (id % 7 == 0)
            assert_int_equal(weir_column_append_null(&b->columns[1]), 0);
        else
            assert_int_equal(weir_column_append_bytes(&b->columns[1], txt, strlen(txt)), 0);
        assert_int_equal(weir_column_append_f64(&b->columns[2], (double)id / 4), 0);
        assert_int_equal(weir_column_append_i32(&b->columns[3], day >= 0 ? day : 18000 + (int32_t)(id % 3)),
                         0);
        snprintf(txt, sizeof txt, "t%lld", (long long)id);
        assert_int_equal(weir_column_append_bytes(&b->columns[4].children[0], txt, strlen(txt)), 0);
        assert_int_equal(weir_column_append_list(&b->columns[4], true), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    return b;
}

static void write_rows(struct weir_delta_table *t, int64_t from, size_t n, int32_t day, bool partitioned,
                       enum weir_delta_write_mode mode)
{
    struct weir_delta_write_options o;
    weir_delta_write_options_default(&o);
    const char *pb[] = {"day"};
    if (partitioned) {
        o.partition_by = pb;
        o.n_partition_by = 1;
    }
    o.mode = mode;
    struct weir_batch *b = make_batch(from, n, day);
    const struct weir_batch *bs[] = {b};
    struct weir_error err = {0};
    if (weir_delta_write(t, bs, 1, &o, NULL, &err))
        fail_msg("write: %s", err.message);
    weir_batch_destroy(b);
}

/* One row as text, for whole-row-set comparison. */
struct rowset {
    char **rows;
    size_t n, cap;
    bool day_mismatch; /* a row whose day differs from its file's partition value */
};

static int row_cb(void *ctx, const struct weir_batch *b, const struct weir_delta_add *f,
                  struct weir_error *err)
{
    (void)err;
    struct rowset *rs = ctx;
    for (size_t i = 0; i < b->nrows; i++) {
        char line[256];
        size_t nl = 0, tl = 0;
        const struct weir_column *name = &b->columns[1], *tags = &b->columns[4];
        const uint8_t *np = weir_column_is_valid(name, i) ? weir_column_bytes(name, i, &nl) : NULL;
        int64_t t0 = tags->offsets[i];
        const uint8_t *tp = weir_column_bytes(&tags->children[0], (size_t)t0, &tl);
        int32_t day = weir_column_i32(&b->columns[3], i);
        snprintf(line, sizeof line, "%020lld|%.*s|%s|%.17g|%d|%.*s",
                 (long long)weir_column_i64(&b->columns[0], i), (int)nl, np ? (const char *)np : "",
                 np ? "v" : "null", weir_column_f64(&b->columns[2], i), (int)day, (int)tl, (const char *)tp);
        if (rs->n == rs->cap) {
            rs->cap = rs->cap ? rs->cap * 2 : 256;
            rs->rows = realloc(rs->rows, rs->cap * sizeof(char *));
        }
        rs->rows[rs->n++] = strdup(line);
        if (f->n_partition_values) {
            int y = 0, m = 0, d = 0;
            assert_int_equal(sscanf(f->partition_values[0].value, "%d-%d-%d", &y, &m, &d), 3);
            /* 18000 = 2019-04-14, 18001 = 2019-04-15, ... */
            if (day - 18000 != d - 14)
                rs->day_mismatch = true;
        }
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct rowset scan_rows(struct weir_delta_table *t, int64_t version)
{
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    struct rowset rs = {0};
    if (weir_delta_snapshot_load(t, version, &s, &err) || weir_delta_scan(t, s, NULL, 0, row_cb, &rs, &err))
        fail_msg("scan: %s", err.message);
    weir_delta_snapshot_destroy(s);
    qsort(rs.rows, rs.n, sizeof(char *), cmp_str);
    return rs;
}

static void rowset_free(struct rowset *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->rows[i]);
    free(rs->rows);
}

static void assert_same_rows(struct rowset *a, struct rowset *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        assert_string_equal(a->rows[i], b->rows[i]);
}

static size_t live_files(struct weir_delta_table *t)
{
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    size_t n = weir_delta_snapshot_num_files(s);
    weir_delta_snapshot_destroy(s);
    return n;
}

static int64_t latest(struct weir_delta_table *t)
{
    int64_t v = -1;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_table_latest_version(t, &v, &err), 0);
    return v;
}

static char *read_commit(const char *table, int64_t v)
{
    char rel[64];
    snprintf(rel, sizeof rel, "_delta_log/%020lld.json", (long long)v);
    char *text = file_read(table, rel);
    assert_non_null(text);
    return text;
}

static struct weir_delta_table *open_at(const char *path)
{
    struct weir_delta_table *t;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_table_open(&t, path, &err), 0);
    return t;
}

/* 20 small files -> 1; same rows; the stats of a normal write of the rows. */
static void test_compact_twenty_files(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    struct weir_error err = {0};
    for (int i = 0; i < 20; i++)
        write_rows(t, i * 50, 50, -1, false, WEIR_DELTA_APPEND);
    assert_int_equal(live_files(t), 20);
    struct rowset before = scan_rows(t, -1);
    assert_int_equal(before.n, 1000);
    struct weir_delta_optimize_result res;
    assert_int_equal(weir_delta_optimize(t, NULL, &res, &err), 0);
    assert_int_equal(res.version, 20);
    assert_int_equal(res.files_removed, 20);
    assert_int_equal(res.files_added, 1);
    assert_int_equal(res.rows, 1000);
    assert_true(res.bytes_added > 0 && res.bytes_removed > res.bytes_added);
    struct rowset after = scan_rows(t, -1);
    assert_same_rows(&before, &after);
    rowset_free(&after);
    /* the commit: OPTIMIZE, dataChange=false everywhere */
    char *c = read_commit(fx->path, 20);
    assert_memory_equal(c, "{\"commitInfo\":", 14);
    assert_non_null(strstr(c, "\"operation\":\"OPTIMIZE\""));
    assert_non_null(strstr(c, "\"operationParameters\":{\"predicate\":\"[]\",\"zOrderBy\":\"[]\"}"));
    assert_non_null(strstr(c, "\"readVersion\":19"));
    assert_non_null(strstr(c, "\"numRemovedFiles\":\"20\""));
    assert_non_null(strstr(c, "\"numAddedFiles\":\"1\""));
    assert_non_null(strstr(c, "\"dataChange\":false"));
    assert_null(strstr(c, "\"dataChange\":true"));
    free(c);
    struct weir_delta_snapshot *s;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    assert_int_equal(weir_delta_snapshot_num_files(s), 1);
    assert_int_equal(weir_delta_snapshot_num_tombstones(s), 20);
    assert_int_equal(weir_delta_snapshot_total_rows(s), 1000);
    const struct weir_delta_add *a = weir_delta_snapshot_file(s, 0);
    assert_false(a->data_change);
    /* the same rows written in one normal write get the same stats */
    char p2[256];
    snprintf(p2, sizeof p2, "%s/ref", fx->dir);
    struct weir_delta_table *ref = open_at(p2);
    write_rows(ref, 0, 1000, -1, false, WEIR_DELTA_APPEND);
    struct weir_delta_snapshot *rs;
    assert_int_equal(weir_delta_snapshot_load(ref, -1, &rs, &err), 0);
    assert_string_equal(a->stats, weir_delta_snapshot_file(rs, 0)->stats);
    weir_delta_snapshot_destroy(rs);
    weir_delta_table_destroy(ref);
    weir_delta_snapshot_destroy(s);
    /* time travel still sees the 20 files */
    struct rowset old = scan_rows(t, 19);
    assert_same_rows(&before, &old);
    rowset_free(&old);
    rowset_free(&before);
    /* run again: nothing to do, no commit */
    assert_int_equal(weir_delta_optimize(t, NULL, &res, &err), 0);
    assert_int_equal(res.version, -1);
    assert_int_equal(res.files_removed, 0);
    assert_int_equal(latest(t), 20);
    weir_delta_table_destroy(t);
}

/* A blind append committed between planning and commit does not conflict;
 * an overwrite (which removes the files being compacted) does. */
static void test_concurrent_commits(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path), *other = open_at(fx->path);
    struct weir_error err = {0};
    for (int i = 0; i < 5; i++)
        write_rows(t, i * 10, 10, -1, false, WEIR_DELTA_APPEND);
    struct dl_optimize_job *job = NULL;
    assert_int_equal(dl_optimize_prepare(t, NULL, &job, &err), 0);
    assert_non_null(job);
    write_rows(other, 1000, 10, -1, false, WEIR_DELTA_APPEND); /* v5, through another handle */
    struct weir_delta_optimize_result res;
    if (dl_optimize_commit(job, &res, &err))
        fail_msg("optimize commit: %s", err.message);
    assert_int_equal(res.version, 6);
    assert_int_equal(res.files_removed, 5);
    assert_int_equal(live_files(t), 2); /* the compacted file + the concurrent append */
    struct rowset rs = scan_rows(t, -1);
    assert_int_equal(rs.n, 60);
    rowset_free(&rs);
    char *c = read_commit(fx->path, 6);
    assert_non_null(strstr(c, "\"readVersion\":4"));
    free(c);

    /* a concurrent overwrite removes what optimize read: a real conflict */
    for (int i = 0; i < 3; i++)
        write_rows(t, 2000 + i * 10, 10, -1, false, WEIR_DELTA_APPEND); /* v7..v9 */
    size_t files_before = 0;
    job = NULL;
    assert_int_equal(dl_optimize_prepare(t, NULL, &job, &err), 0);
    assert_non_null(job);
    (void)files_before;
    write_rows(other, 5000, 10, -1, false, WEIR_DELTA_OVERWRITE); /* v10 */
    weir_error_clear(&err);
    assert_int_equal(dl_optimize_commit(job, &res, &err), WEIR_ECONFLICT);
    assert_non_null(strstr(err.message, "removed file"));
    assert_int_equal(latest(t), 10);
    /* the compacted files of the failed attempt were deleted: every parquet
     * file on disk is a live file or a tombstone */
    struct weir_delta_snapshot *s;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    size_t known = weir_delta_snapshot_num_files(s) + weir_delta_snapshot_num_tombstones(s);
    weir_delta_snapshot_destroy(s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "find '%s' -name '*.parquet' -not -path '*_delta_log*' | wc -l", fx->path);
    FILE *p = popen(cmd, "r");
    unsigned long ondisk = 0;
    assert_int_equal(fscanf(p, "%lu", &ondisk), 1);
    pclose(p);
    assert_int_equal(ondisk, known);
    /* after more appends, weir_delta_optimize plans from the new snapshot */
    write_rows(other, 6000, 10, -1, false, WEIR_DELTA_APPEND);
    weir_error_clear(&err);
    assert_int_equal(weir_delta_optimize(t, NULL, &res, &err), 0);
    assert_int_equal(res.version, 12);
    assert_int_equal(res.files_removed, 2);
    rs = scan_rows(t, -1);
    assert_int_equal(rs.n, 20);
    rowset_free(&rs);
    weir_delta_table_destroy(other);
    weir_delta_table_destroy(t);
}

/* Partitions are compacted separately; a partition with one small file is
 * left alone. */
static void test_partitions_separately(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    struct weir_error err = {0};
    for (int i = 0; i < 10; i++)
        write_rows(t, i * 30, 30, -1, true, WEIR_DELTA_APPEND); /* 3 files each */
    write_rows(t, 900, 5, 18010, true, WEIR_DELTA_APPEND);      /* a 4th day, one file */
    assert_int_equal(live_files(t), 31);
    struct rowset before = scan_rows(t, -1);
    struct weir_delta_optimize_result res;
    assert_int_equal(weir_delta_optimize(t, NULL, &res, &err), 0);
    assert_int_equal(res.version, 11);
    assert_int_equal(res.files_removed, 30);
    assert_int_equal(res.files_added, 3);
    assert_int_equal(live_files(t), 4);
    struct rowset after = scan_rows(t, -1);
    assert_same_rows(&before, &after);
    assert_false(after.day_mismatch);
    rowset_free(&before);
    rowset_free(&after);
    struct weir_delta_snapshot *s;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    for (size_t i = 0; i < weir_delta_snapshot_num_files(s); i++) {
        const struct weir_delta_add *a = weir_delta_snapshot_file(s, i);
        assert_int_equal(a->n_partition_values, 1);
        assert_string_equal(a->partition_values[0].key, "day");
        char prefix[64];
        snprintf(prefix, sizeof prefix, "day=%s/", a->partition_values[0].value);
        assert_memory_equal(a->path, prefix, strlen(prefix));
    }
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
}

/* --where: only the partitions matching a predicate over partition columns
 * are compacted; other columns are refused by name. */
static void test_where(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    struct weir_error err = {0};
    for (int i = 0; i < 10; i++)
        write_rows(t, i * 30, 30, -1, true, WEIR_DELTA_APPEND); /* 3 days, a file each */
    struct weir_delta_snapshot *s;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    char day[32], where[96];
    snprintf(day, sizeof day, "%s", weir_delta_snapshot_file(s, 0)->partition_values[0].value);
    weir_delta_snapshot_destroy(s);
    struct rowset before = scan_rows(t, -1);
    struct weir_delta_optimize_options o;
    struct weir_delta_optimize_result res;
    weir_delta_optimize_options_default(&o);
    snprintf(where, sizeof where, "day = '%s'", day);
    o.where = where;
    assert_int_equal(weir_delta_optimize(t, &o, &res, &err), 0);
    assert_int_equal(res.files_removed, 10);
    assert_int_equal(res.files_added, 1);
    assert_int_equal(live_files(t), 21);
    struct weir_delta_history_entry *h;
    size_t nh;
    assert_int_equal(weir_delta_history(t, 1, &h, &nh, &err), 0);
    char want[128];
    snprintf(want, sizeof want, "\"predicate\":\"[\\\"day = '%s'\\\"]\"", day);
    assert_non_null(strstr(h[0].commit_info, want));
    weir_delta_history_free(h, nh);
    /* the other two days */
    snprintf(where, sizeof where, "day > DATE'1970-01-01' AND NOT (day = '%s')", day);
    assert_int_equal(weir_delta_optimize(t, &o, &res, &err), 0);
    assert_int_equal(res.files_removed, 20);
    assert_int_equal(res.files_added, 2);
    assert_int_equal(live_files(t), 3);
    struct rowset after = scan_rows(t, -1);
    assert_same_rows(&before, &after);
    rowset_free(&before);
    rowset_free(&after);
    /* a data column, a non-boolean, a syntax error */
    o.where = "id > 3";
    assert_int_equal(weir_delta_optimize(t, &o, &res, &err), WEIR_ESCHEMA);
    assert_non_null(strstr(err.message, "only partition columns can be used (day)"));
    assert_non_null(strstr(err.message, "id"));
    weir_error_clear(&err);
    o.where = "day";
    assert_int_equal(weir_delta_optimize(t, &o, &res, &err), WEIR_ESCHEMA);
    weir_error_clear(&err);
    o.where = "day = = 1";
    assert_int_not_equal(weir_delta_optimize(t, &o, &res, &err), 0);
    assert_int_equal(live_files(t), 3);
    weir_delta_table_destroy(t);
}

/* Nothing to do: version -1, no commit. */
static void test_nothing_to_do(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_at(fx->path);
    struct weir_error err = {0};
    struct weir_delta_optimize_result res;
    /* no table at all: an error naming it */
    assert_int_equal(weir_delta_optimize(t, NULL, &res, &err), WEIR_ENOTFOUND);
    write_rows(t, 0, 10, -1, false, WEIR_DELTA_APPEND); /* one file */
    weir_error_clear(&err);
    assert_int_equal(weir_delta_optimize(t, NULL, &res, &err), 0);
    assert_int_equal(res.version, -1);
    write_rows(t, 10, 10, -1, false, WEIR_DELTA_APPEND);
    /* two files, but neither is smaller than min_file_bytes */
    struct weir_delta_optimize_options o;
    weir_delta_optimize_options_default(&o);
    o.min_file_bytes = 100;
    assert_int_equal(weir_delta_optimize(t, &o, &res, &err), 0);
    assert_int_equal(res.version, -1);
    /* min_files 3: two candidates are not enough */
    weir_delta_optimize_options_default(&o);
    o.min_files = 3;
    assert_int_equal(weir_delta_optimize(t, &o, &res, &err), 0);
    assert_int_equal(res.version, -1);
    assert_int_equal(latest(t), 1);
    /* a target smaller than any two files together: every bin has one file */
    weir_delta_optimize_options_default(&o);
    o.target_file_bytes = 1000;
    o.min_file_bytes = 1 << 20;
    assert_int_equal(weir_delta_optimize(t, &o, &res, &err), 0);
    assert_int_equal(res.version, -1);
    assert_int_equal(latest(t), 1);
    weir_delta_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_compact_twenty_files, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_commits, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_partitions_separately, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_where, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_nothing_to_do, setup, tmp_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
