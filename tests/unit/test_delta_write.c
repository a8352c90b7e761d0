/* tests/unit/test_delta_write.c - writing Delta tables: write -> read round
 * trip with partitions and stats, overwrite, exactly-once txn, 50+ commits
 * with checkpoints, log cleanup, concurrent committers in two processes,
 * the conflict rules, and checkpoint read-back. Each test uses its own temp
 * directory. Also the streaming writer: many batches with rolling files
 * and a pending-memory cap, abort, begin on a committed txn, merge_schema
 * and its refusals, missing nullable columns, and the crash points (the
 * binary re-runs itself as the crashing child: --crash-child TABLE). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "core/alloc.h"
#include "delta/delta.h"
#include "delta/delta_int.h"
#include "test_util.h"

/* fx->path is the table, "<dir>/t" (created by the first write). */
static int setup(void **state)
{
    return tmp_fixture_setup(state, "dwrite", "t");
}

/* The schema of make_batch's rows. */
static const char rows_ddl[] = "id LONG NOT NULL, name STRING, amount DOUBLE, day DATE, ts TIMESTAMP, "
                               "price DECIMAL(10,2), loc STRUCT<lat: DOUBLE, lon: DOUBLE>";

/* A batch with no rows yet, of the schema `ddl`. */
static struct weir_batch *empty_batch(const char *ddl)
{
    struct weir_type *s = ddl_schema(ddl);
    struct weir_batch *b = weir_batch_create(s);
    weir_type_destroy(s);
    return b;
}

/* rows [from, from+n): day = 18000 + id % 3, name "n<id>" (null every 5th). */
static struct weir_batch *make_batch(int64_t from, size_t n)
{
    struct weir_batch *b = empty_batch(rows_ddl);
    for (size_t i = 0; i < n; i++) {
        int64_t id = from + (int64_t)i;
        char name[32];
        snprintf(name, sizeof name, "n%lld", (long long)id);
        assert_int_equal(weir_column_append_i64(&b->columns[0], id), 0);
        if (id % 5 == 0)
            assert_int_equal(weir_column_append_null(&b->columns[1]), 0);
        else
            assert_int_equal(weir_column_append_bytes(&b->columns[1], name, strlen(name)), 0);
        assert_int_equal(weir_column_append_f64(&b->columns[2], (double)id * 1.5), 0);
        assert_int_equal(weir_column_append_i32(&b->columns[3], 18000 + (int32_t)(id % 3)), 0);
        assert_int_equal(weir_column_append_i64(&b->columns[4], 1600000000000000LL + id * 1001), 0);
        assert_int_equal(weir_column_append_i128(&b->columns[5], (weir_i128)id * 100 + 25), 0);
        struct weir_column *loc = &b->columns[6];
        assert_int_equal(weir_column_append_f64(&loc->children[0], 1.0 + (double)id), 0);
        assert_int_equal(weir_column_append_f64(&loc->children[1], -1.0 * (double)id), 0);
        assert_int_equal(weir_column_append_struct(loc, true), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    return b;
}

struct scan_acc {
    int64_t rows;
    int64_t id_sum;
    int64_t day_sum;
    size_t null_names;
    int64_t price_sum;
};

static int acc_cb(void *ctx, const struct weir_batch *b, const struct weir_delta_add *f,
                  struct weir_error *err)
{
    (void)f;
    (void)err;
    struct scan_acc *a = ctx;
    int id = weir_type_field_index(b->schema, "id"), day = weir_type_field_index(b->schema, "day");
    int name = weir_type_field_index(b->schema, "name"), price = weir_type_field_index(b->schema, "price");
    for (size_t i = 0; i < b->nrows; i++) {
        if (id >= 0)
            a->id_sum += weir_column_i64(&b->columns[id], i);
        if (day >= 0)
            a->day_sum += weir_column_i32(&b->columns[day], i);
        if (name >= 0 && !weir_column_is_valid(&b->columns[name], i))
            a->null_names++;
        if (price >= 0)
            a->price_sum += (int64_t)((const weir_i128 *)b->columns[price].data)[i];
    }
    a->rows += (int64_t)b->nrows;
    return 0;
}

static struct scan_acc scan_all(struct weir_delta_table *t, int64_t version)
{
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    struct scan_acc a = {0};
    if (weir_delta_snapshot_load(t, version, &s, &err))
        fail_msg("load: %s", err.message);
    if (weir_delta_scan(t, s, NULL, 0, acc_cb, &a, &err))
        fail_msg("scan: %s", err.message);
    weir_delta_snapshot_destroy(s);
    return a;
}

static void write_rows(struct weir_delta_table *t, int64_t from, size_t n,
                       const struct weir_delta_write_options *o, struct weir_delta_write_result *res)
{
    struct weir_batch *b = make_batch(from, n);
    struct weir_error err = {0};
    const struct weir_batch *bs[] = {b};
    if (weir_delta_write(t, bs, 1, o, res, &err))
        fail_msg("write: %s", err.message);
    weir_batch_destroy(b);
}

/* Opens the fixture's table, which must succeed. */
static struct weir_delta_table *open_table(const struct tmp_fixture *fx)
{
    struct weir_delta_table *t;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_table_open(&t, fx->path, &err), 0);
    return t;
}

static struct weir_delta_write_options default_options(void)
{
    struct weir_delta_write_options o;
    weir_delta_write_options_default(&o);
    return o;
}

/* Loads version v (-1: the latest), which must succeed, and checks the
 * checkpoint the replay started from (-1: none) and the live file count.
 * The caller destroys the snapshot. */
static struct weir_delta_snapshot *load_at(struct weir_delta_table *t, int64_t v, int64_t checkpoint,
                                           size_t nfiles)
{
    struct weir_delta_snapshot *s;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_snapshot_load(t, v, &s, &err), 0);
    assert_int_equal(weir_delta_snapshot_checkpoint_version(s), checkpoint);
    assert_int_equal(weir_delta_snapshot_num_files(s), nfiles);
    return s;
}

static void test_roundtrip_partitioned(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_delta_write_options o = default_options();
    const char *pb[] = {"day"};
    o.partition_by = pb;
    o.n_partition_by = 1;
    o.table_name = "orders";
    struct weir_delta_write_result res;
    write_rows(t, 0, 100, &o, &res);
    assert_int_equal(res.version, 0);
    assert_int_equal(res.files_added, 3); /* three days */
    assert_int_equal(res.rows_written, 100);

    /* commit 0: commitInfo first, blind append, protocol (1,2), metaData */
    char *c0 = file_read(fx->path, "_delta_log/00000000000000000000.json");
    assert_non_null(c0);
    assert_memory_equal(c0, "{\"commitInfo\":", 14);
    assert_non_null(strstr(c0, "\"isBlindAppend\":true"));
    assert_non_null(strstr(c0, "\"engineInfo\":\"weir/0.1.0\""));
    assert_non_null(strstr(c0, "\"numOutputRows\":\"100\""));
    assert_non_null(strstr(c0, "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}"));
    assert_non_null(strstr(c0, "\"partitionColumns\":[\"day\"]"));
    assert_non_null(strstr(c0, "\"path\":\"day=2019-04-14/part-00000-"));
    free(c0);

    struct weir_delta_snapshot *s;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    assert_int_equal(weir_delta_snapshot_num_files(s), 3);
    assert_string_equal(weir_delta_snapshot_metadata(s)->name, "orders");
    assert_int_equal(weir_delta_snapshot_total_rows(s), 100);
    /* stats of the day=2019-04-14 file (18000): ids 0,3,...,99 */
    const struct weir_delta_add *a = weir_delta_snapshot_file(s, 0);
    assert_string_equal(a->partition_values[0].key, "day");
    assert_string_equal(a->partition_values[0].value, "2019-04-14");
    cJSON *st = cJSON_Parse(a->stats);
    assert_non_null(st);
    assert_int_equal(cJSON_GetObjectItem(st, "numRecords")->valueint, 34);
    cJSON *mn = cJSON_GetObjectItem(st, "minValues"), *mx = cJSON_GetObjectItem(st, "maxValues");
    cJSON *nc = cJSON_GetObjectItem(st, "nullCount");
    assert_int_equal(cJSON_GetObjectItem(mn, "id")->valueint, 0);
    assert_int_equal(cJSON_GetObjectItem(mx, "id")->valueint, 99);
    assert_string_equal(cJSON_GetObjectItem(mn, "name")->valuestring, "n12");
    assert_string_equal(cJSON_GetObjectItem(mx, "name")->valuestring, "n99");
    assert_int_equal(cJSON_GetObjectItem(nc, "name")->valueint, 7); /* ids 0,15,30,45,60,75,90 */
    assert_null(cJSON_GetObjectItem(mn, "day"));                    /* partition column: not in stats */
    /* timestamps at ms precision in UTC; max truncated down: 1600000000000000 + 99*1001 us */
    assert_string_equal(cJSON_GetObjectItem(mx, "ts")->valuestring, "2020-09-13T12:26:40.099Z");
    assert_true(cJSON_GetObjectItem(mx, "price")->valuedouble == 99.25);
    cJSON *loc = cJSON_GetObjectItem(mn, "loc");
    assert_non_null(loc);
    assert_true(cJSON_GetObjectItem(loc, "lat")->valuedouble == 1.0);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(nc, "loc"), "lon")->valueint, 0);
    cJSON_Delete(st);
    weir_delta_snapshot_destroy(s);

    /* append more, then scan everything back */
    write_rows(t, 100, 50, &o, &res);
    assert_int_equal(res.version, 1);
    struct scan_acc acc = scan_all(t, -1);
    assert_int_equal(acc.rows, 150);
    assert_int_equal(acc.id_sum, 149 * 150 / 2);
    int64_t day_sum = 0, price_sum = 0;
    for (int64_t i = 0; i < 150; i++) {
        day_sum += 18000 + i % 3;
        price_sum += i * 100 + 25;
    }
    assert_int_equal(acc.day_sum, day_sum);
    assert_int_equal(acc.price_sum, price_sum);
    assert_int_equal(acc.null_names, 30);
    /* time travel to version 0 */
    acc = scan_all(t, 0);
    assert_int_equal(acc.rows, 100);

    /* overwrite: removes all five files, one commit, not a blind append */
    o.mode = WEIR_DELTA_OVERWRITE;
    write_rows(t, 1000, 10, &o, &res);
    assert_int_equal(res.version, 2);
    assert_int_equal(res.files_removed, 6);
    char *c2 = file_read(fx->path, "_delta_log/00000000000000000002.json");
    assert_non_null(strstr(c2, "\"isBlindAppend\":false"));
    assert_non_null(strstr(c2, "\"mode\":\"Overwrite\""));
    assert_non_null(strstr(c2, "\"extendedFileMetadata\":true"));
    free(c2);
    acc = scan_all(t, -1);
    assert_int_equal(acc.rows, 10);
    assert_int_equal(acc.id_sum, 10045);
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    assert_int_equal(weir_delta_snapshot_num_tombstones(s), 6);
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
}

static void test_schema_mismatch_and_escaping(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_batch *b = empty_batch("k STRING, v LONG");
    const char *keys[] = {"a b", "x/y%z", "", "é=1"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(weir_column_append_bytes(&b->columns[0], keys[i], strlen(keys[i])), 0);
        assert_int_equal(weir_column_append_i64(&b->columns[1], i), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    struct weir_delta_write_options o = default_options();
    const char *pb[] = {"k"};
    o.partition_by = pb;
    o.n_partition_by = 1;
    const struct weir_batch *bs[] = {b};
    assert_int_equal(weir_delta_write(t, bs, 1, &o, NULL, &err), 0);
    char *c0 = file_read(fx->path, "_delta_log/00000000000000000000.json");
    /* Hive escaping in the directory, then URI encoding in add.path */
    assert_non_null(strstr(c0, "\"path\":\"k=a%20b/"));
    assert_non_null(strstr(c0, "\"path\":\"k=x%252Fy%2525z/"));
    assert_non_null(strstr(c0, "\"path\":\"k=__HIVE_DEFAULT_PARTITION__/"));
    assert_non_null(strstr(c0, "\"path\":\"k=é%253D1/"));
    assert_non_null(strstr(c0, "\"partitionValues\":{\"k\":null}"));
    assert_non_null(strstr(c0, "\"partitionValues\":{\"k\":\"x/y%z\"}"));
    free(c0);
    struct stat stt;
    char p[512];
    snprintf(p, sizeof p, "%s/k=x%%2Fy%%25z", fx->path);
    assert_int_equal(stat(p, &stt), 0);
    /* scanning returns the values from the log */
    struct weir_delta_snapshot *snap;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &snap, &err), 0);
    int64_t rows = 0;
    struct scan_acc acc = {0};
    (void)rows;
    assert_int_equal(weir_delta_scan(t, snap, NULL, 0, acc_cb, &acc, &err), 0);
    assert_int_equal(acc.rows, 4);
    weir_delta_snapshot_destroy(snap);
    weir_batch_destroy(b);
    /* a batch with another schema is refused, naming the column */
    b = empty_batch("k STRING, v INT");
    assert_int_equal(weir_column_append_bytes(&b->columns[0], "q", 1), 0);
    assert_int_equal(weir_column_append_i32(&b->columns[1], 1), 0);
    assert_int_equal(weir_batch_finish_rows(b), 0);
    bs[0] = b;
    weir_error_clear(&err);
    assert_int_equal(weir_delta_write(t, bs, 1, &o, NULL, &err), WEIR_ESCHEMA);
    assert_non_null(strstr(err.message, "'v'"));
    weir_batch_destroy(b);
    weir_delta_table_destroy(t);
}

static void test_txn_exactly_once(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_delta_write_options o = default_options();
    o.txn_app_id = "query-1";
    o.txn_version = 0;
    struct weir_delta_write_result res;
    write_rows(t, 0, 10, &o, &res);
    assert_false(res.already_committed);
    o.txn_version = 1;
    write_rows(t, 10, 10, &o, &res);
    assert_false(res.already_committed);
    assert_int_equal(res.version, 1);
    /* replay of batch 1: skipped */
    write_rows(t, 10, 10, &o, &res);
    assert_true(res.already_committed);
    assert_int_equal(res.version, 1);
    struct weir_delta_snapshot *s;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    assert_int_equal(weir_delta_snapshot_version(s), 1);
    assert_int_equal(weir_delta_snapshot_txn_version(s, "query-1"), 1);
    assert_int_equal(weir_delta_snapshot_txn_version(s, "other"), -1);
    weir_delta_snapshot_destroy(s);
    assert_int_equal(scan_all(t, -1).rows, 20);
    weir_delta_table_destroy(t);
}

static void test_many_commits_checkpoint(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_delta_write_options o = default_options();
    o.txn_app_id = "app";
    struct weir_delta_write_result res;
    int checkpoints = 0;
    for (int i = 0; i < 55; i++) {
        o.txn_version = i;
        write_rows(t, i * 2, 2, &o, &res);
        assert_int_equal(res.version, i);
        checkpoints += res.checkpoint_written;
    }
    /* overwrite at 55 then 5 more appends: tombstones go into the checkpoint at 60 */
    o.mode = WEIR_DELTA_OVERWRITE;
    o.txn_version = 55;
    write_rows(t, 1000, 3, &o, &res);
    o.mode = WEIR_DELTA_APPEND;
    for (int i = 56; i <= 60; i++) {
        o.txn_version = i;
        write_rows(t, 2000 + i, 1, &o, &res);
        checkpoints += res.checkpoint_written;
    }
    assert_int_equal(res.version, 60);
    assert_int_equal(checkpoints, 6); /* 10,20,...,60 */
    char *lc = file_read(fx->path, "_delta_log/_last_checkpoint");
    assert_non_null(lc);
    assert_non_null(strstr(lc, "\"version\":60"));
    assert_non_null(strstr(lc, "\"numOfAddFiles\":6"));
    free(lc);
    struct weir_delta_snapshot *s = load_at(t, -1, 60, 6);
    assert_int_equal(weir_delta_snapshot_num_tombstones(s), 55);
    assert_int_equal(weir_delta_snapshot_txn_version(s, "app"), 60);
    assert_int_equal(weir_delta_snapshot_metadata(s)->schema->nfields, 7);
    /* stats survive the checkpoint */
    assert_int_equal(weir_delta_snapshot_total_rows(s), 8);
    weir_delta_snapshot_destroy(s);
    /* time travel into the middle uses the checkpoint at 20 */
    s = load_at(t, 23, 20, 24);
    assert_int_equal(weir_delta_snapshot_txn_version(s, "app"), 23);
    weir_delta_snapshot_destroy(s);
    assert_int_equal(scan_all(t, 54).rows, 110);
    assert_int_equal(scan_all(t, -1).rows, 8);
    /* a stale _last_checkpoint (pointing at 30) still finds the newest one */
    char p[512];
    snprintf(p, sizeof p, "%s/_delta_log/_last_checkpoint", fx->path);
    FILE *f = fopen(p, "w");
    fputs("{\"version\":30,\"size\":33}", f);
    fclose(f);
    weir_delta_snapshot_destroy(load_at(t, -1, 60, 6));
    /* a corrupt checkpoint is never used: replay goes around it (older
     * checkpoint + commits, with a warning) while those exist */
    snprintf(p, sizeof p, "%s/_delta_log/00000000000000000060.checkpoint.parquet", fx->path);
    f = fopen(p, "w");
    fputs("PAR1 this is not a parquet file", f);
    fclose(f);
    s = load_at(t, -1, 50, 6);
    assert_int_equal(weir_delta_snapshot_txn_version(s, "app"), 60);
    weir_delta_snapshot_destroy(s);
    /* ... and once a commit needed for that is gone, the load fails naming the checkpoint */
    snprintf(p, sizeof p, "%s/_delta_log/00000000000000000055.json", fx->path);
    char saved[1 << 16];
    f = fopen(p, "rb");
    size_t saved_n = fread(saved, 1, sizeof saved, f);
    fclose(f);
    remove(p);
    weir_error_clear(&err);
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "00000000000000000060.checkpoint.parquet"));
    assert_non_null(strstr(err.message, "00000000000000000055.json"));
    f = fopen(p, "wb");
    fwrite(saved, 1, saved_n, f);
    fclose(f);
    /* an incomplete multi-part checkpoint (part 2 of 2 missing) is ignored */
    snprintf(p, sizeof p, "%s/_delta_log/00000000000000000060.checkpoint.parquet", fx->path);
    remove(p);
    snprintf(p, sizeof p, "%s/_delta_log/00000000000000000060.checkpoint.0000000001.0000000002.parquet",
             fx->path);
    f = fopen(p, "w");
    fputs("PAR1 partial", f);
    fclose(f);
    weir_delta_snapshot_destroy(load_at(t, -1, 50, 6));
    weir_delta_table_destroy(t);
}

static void test_log_cleanup(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_delta_write_options o = default_options();
    struct weir_delta_write_result res;
    for (int i = 0; i < 25; i++)
        write_rows(t, i, 1, &o, &res);
    struct weir_delta_snapshot *s;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    size_t deleted = 99;
    /* now: nothing is older than 30 days */
    assert_int_equal(weir_delta_log_cleanup(t, s, 0, &deleted, &err), 0);
    assert_int_equal(deleted, 0);
    /* 40 days later: everything before the checkpoint at 20 goes (20 commits + checkpoint 10) */
    int64_t later = (int64_t)time(NULL) * 1000 + 40LL * 86400000;
    assert_int_equal(weir_delta_log_cleanup(t, s, later, &deleted, &err), 0);
    assert_int_equal(deleted, 21);
    weir_delta_snapshot_destroy(s);
    struct stat st;
    char p[512];
    snprintf(p, sizeof p, "%s/_delta_log/00000000000000000020.json", fx->path);
    assert_int_equal(stat(p, &st), 0); /* the checkpoint's own commit is kept */
    snprintf(p, sizeof p, "%s/_delta_log/00000000000000000019.json", fx->path);
    assert_int_not_equal(stat(p, &st), 0);
    assert_int_equal(scan_all(t, -1).rows, 25);
    assert_int_equal(scan_all(t, 20).rows, 21);
    assert_int_equal(weir_delta_snapshot_load(t, 5, &s, &err), WEIR_ENOTFOUND);
    weir_delta_table_destroy(t);
}

/* RESTORE brings an older version's files back as a new commit: after an
 * append, an overwrite and another append, version 1's rows return; the
 * streaming txn is not rolled back; a vacuumed file makes it fail by name. */
static void test_restore(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_delta_write_options o = default_options();
    struct weir_delta_write_result res;
    o.txn_app_id = "stream";
    for (int i = 0; i < 2; i++) {
        o.txn_version = i;
        write_rows(t, i * 10, 10, &o, &res); /* v0, v1: 20 rows */
    }
    o.txn_app_id = NULL;
    o.mode = WEIR_DELTA_OVERWRITE;
    write_rows(t, 500, 3, &o, &res); /* v2: 3 rows */
    o.mode = WEIR_DELTA_APPEND;
    write_rows(t, 600, 4, &o, &res); /* v3: 7 rows */
    int64_t want = 0;
    for (int i = 0; i < 20; i++)
        want += i;
    struct weir_delta_restore_result rr;
    assert_int_equal(weir_delta_restore(t, 1, 0, &rr, &err), 0);
    assert_int_equal(rr.version, 4);
    assert_int_equal(rr.files_removed, 2);
    assert_int_equal(rr.files_restored, 2);
    assert_int_equal(rr.files_after, 2);
    struct scan_acc acc = scan_all(t, -1);
    assert_int_equal(acc.rows, 20);
    assert_int_equal(acc.id_sum, want);
    struct weir_delta_snapshot *s;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    assert_int_equal(weir_delta_snapshot_txn_version(s, "stream"), 1);
    assert_int_equal(weir_delta_snapshot_num_tombstones(s), 2);
    weir_delta_snapshot_destroy(s);
    struct weir_delta_history_entry *h;
    size_t nh;
    assert_int_equal(weir_delta_history(t, 1, &h, &nh, &err), 0);
    assert_non_null(strstr(h[0].commit_info, "\"operation\":\"RESTORE\""));
    assert_non_null(strstr(h[0].commit_info, "\"version\":1"));
    assert_non_null(strstr(h[0].commit_info, "\"numRestoredFiles\":\"2\""));
    weir_delta_history_free(h, nh);
    /* restoring to the latest is an error; so is a version that never existed */
    assert_int_equal(weir_delta_restore(t, 4, 0, &rr, &err), WEIR_EINVAL);
    assert_int_equal(weir_delta_restore(t, 9, 0, &rr, &err), WEIR_ENOTFOUND);
    /* back to version 3 (the 7 rows); then one of version 0's files is gone */
    assert_int_equal(weir_delta_restore(t, 3, 0, &rr, &err), 0);
    assert_int_equal(scan_all(t, -1).rows, 7);
    assert_int_equal(weir_delta_snapshot_load(t, 0, &s, &err), 0);
    char *key = NULL;
    assert_int_equal(dl_path_to_key(weir_delta_snapshot_file(s, 0)->path, &key, &err), 0);
    weir_delta_snapshot_destroy(s);
    char p[512];
    snprintf(p, sizeof p, "%s/%s", fx->path, key);
    assert_int_equal(remove(p), 0);
    weir_error_clear(&err);
    assert_int_equal(weir_delta_restore(t, 0, 0, &rr, &err), WEIR_ENOTFOUND);
    assert_non_null(strstr(err.message, key));
    assert_non_null(strstr(err.message, "no longer exists"));
    weir_free(key);
    assert_int_equal(scan_all(t, -1).rows, 7); /* nothing committed */
    weir_delta_table_destroy(t);
}

/* Two processes append 100 commits each to one table. */
static void test_concurrent_writers(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    /* both create the table if needed: a creation race must resolve too */
    weir_delta_table_destroy(t);
    pid_t pids[2];
    for (int w = 0; w < 2; w++) {
        pids[w] = fork();
        assert_true(pids[w] >= 0);
        if (pids[w] == 0) {
            struct weir_delta_table *ct;
            struct weir_error cerr = {0};
            if (weir_delta_table_open(&ct, fx->path, &cerr))
                _exit(2);
            for (int i = 0; i < 100; i++) {
                struct weir_batch *b = make_batch(w * 100000 + i * 3, 3);
                const struct weir_batch *bs[] = {b};
                struct weir_delta_write_options co;
                weir_delta_write_options_default(&co);
                co.txn_app_id = w ? "writer-1" : "writer-0";
                co.txn_version = i;
                int rc = weir_delta_write(ct, bs, 1, &co, NULL, &cerr);
                weir_batch_destroy(b);
                if (rc) {
                    fprintf(stderr, "writer %d commit %d: %s\n", w, i, cerr.message);
                    _exit(1);
                }
            }
            weir_delta_table_destroy(ct);
            _exit(0);
        }
    }
    for (int w = 0; w < 2; w++) {
        int status = 0;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(weir_delta_table_open(&t, fx->path, &err), 0);
    struct weir_delta_snapshot *s;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    assert_int_equal(weir_delta_snapshot_version(s), 199);
    assert_int_equal(weir_delta_snapshot_num_files(s), 200);
    assert_int_equal(weir_delta_snapshot_txn_version(s, "writer-0"), 99);
    assert_int_equal(weir_delta_snapshot_txn_version(s, "writer-1"), 99);
    weir_delta_snapshot_destroy(s);
    struct scan_acc acc = scan_all(t, -1);
    assert_int_equal(acc.rows, 600);
    int64_t want = 0;
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 300; i++)
            want += w * 100000 + i;
    assert_int_equal(acc.id_sum, want);
    weir_delta_table_destroy(t);
}

/* Commits `a` as of co, which must succeed at version v; frees a. */
static void commit_ok(struct weir_delta_table *t, struct weir_delta_actions *a,
                      const struct weir_delta_commit_options *co, int64_t v)
{
    struct weir_error err = {0};
    int64_t got;
    bool already;
    assert_int_equal(weir_delta_commit(t, a, co, &got, &already, &err), 0);
    assert_int_equal(got, v);
    weir_delta_actions_free(a);
}

/* Commits `a` as of co, which must conflict with an error naming `why`;
 * frees a. */
static void commit_conflicts(struct weir_delta_table *t, struct weir_delta_actions *a,
                             const struct weir_delta_commit_options *co, const char *why)
{
    struct weir_error err = {0};
    int64_t v;
    bool already;
    assert_int_equal(weir_delta_commit(t, a, co, &v, &already, &err), WEIR_ECONFLICT);
    assert_non_null(strstr(err.message, why));
    weir_delta_actions_free(a);
}

/* The conflict rules, driven through weir_delta_commit with stale reads. */
static void test_conflicts(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_delta_write_options o = default_options();
    struct weir_delta_write_result res;
    write_rows(t, 0, 5, &o, &res); /* v0 */
    write_rows(t, 5, 5, &o, &res); /* v1 */
    struct weir_delta_snapshot *s;
    assert_int_equal(weir_delta_snapshot_load(t, 1, &s, &err), 0);
    const char *f0 = weir_delta_snapshot_file(s, 0)->path;

    /* winner v2: removes f0 */
    struct weir_delta_actions w;
    weir_delta_actions_init(&w);
    struct weir_delta_remove rm = {
        .path = (char *)f0, .data_change = true, .deletion_timestamp = 1, .has_deletion_timestamp = true};
    assert_int_equal(weir_delta_actions_add_remove(&w, &rm), 0);
    w.commit_info = weir_strdup("{\"operation\":\"DELETE\"}");
    struct weir_delta_commit_options co = {.read_version = 1};
    commit_ok(t, &w, &co, 2);
    int64_t v;
    bool already;

    /* a blind append based on v1 commits at v3 */
    struct weir_delta_actions a;
    weir_delta_actions_init(&a);
    struct weir_delta_add add = {.path = "x.parquet", .size = 1, .modification_time = 1, .data_change = true};
    assert_int_equal(weir_delta_actions_add_add(&a, &add), 0);
    a.commit_info = weir_strdup("{\"isBlindAppend\":true}");
    assert_int_equal(weir_delta_commit(t, &a, &co, &v, &already, &err), 0);
    assert_int_equal(v, 3);
    assert_false(already);
    weir_delta_actions_free(&a);

    /* a transaction that read f0 (based on v1) conflicts with the delete at v2 */
    weir_delta_actions_init(&a);
    add.path = "y.parquet";
    assert_int_equal(weir_delta_actions_add_add(&a, &add), 0);
    const char *read[] = {f0};
    struct weir_delta_commit_options co2 = {.read_version = 1, .read_paths = read, .n_read_paths = 1};
    commit_conflicts(t, &a, &co2, "removed file");

    /* deleting the same file again: delete-delete conflict */
    weir_delta_actions_init(&a);
    assert_int_equal(weir_delta_actions_add_remove(&a, &rm), 0);
    commit_conflicts(t, &a, &co, "also removed");

    /* read the whole table at v2: the append at v3 conflicts */
    weir_delta_actions_init(&a);
    assert_int_equal(weir_delta_actions_add_add(&a, &add), 0);
    struct weir_delta_commit_options co3 = {.read_version = 2, .read_whole_table = true};
    commit_conflicts(t, &a, &co3, "added file");

    /* a metadata change in a winner conflicts */
    weir_delta_actions_init(&w);
    w.metadata = weir_calloc(1, sizeof(*w.metadata));
    const struct weir_delta_metadata *md = weir_delta_snapshot_metadata(s);
    w.metadata->id = weir_strdup(md->id);
    w.metadata->schema_string = weir_strdup(md->schema_string);
    w.metadata->format_provider = weir_strdup("parquet");
    struct weir_delta_commit_options co4 = {.read_version = 3};
    commit_ok(t, &w, &co4, 4);
    weir_delta_actions_init(&a);
    assert_int_equal(weir_delta_actions_add_add(&a, &add), 0);
    commit_conflicts(t, &a, &co4, "metadata");

    /* txn: a winner with our appId and a version >= ours means already committed */
    weir_delta_actions_init(&w);
    assert_int_equal(weir_delta_actions_add_txn(&w, "q", 7, 1), 0);
    struct weir_delta_commit_options co5 = {.read_version = 4};
    commit_ok(t, &w, &co5, 5);
    weir_delta_actions_init(&a);
    assert_int_equal(weir_delta_actions_add_add(&a, &add), 0);
    assert_int_equal(weir_delta_actions_add_txn(&a, "q", 7, 1), 0);
    assert_int_equal(weir_delta_commit(t, &a, &co5, &v, &already, &err), 0);
    assert_true(already);
    assert_int_equal(v, 5);
    weir_delta_actions_free(&a);
    /* ... and a lower version of the same appId from a winner is a conflict for us at 8 */
    weir_delta_actions_init(&a);
    assert_int_equal(weir_delta_actions_add_txn(&a, "q", 8, 1), 0);
    commit_conflicts(t, &a, &co5, "appId 'q'");

    /* nothing was written by the refused commits */
    int64_t latest;
    assert_int_equal(weir_delta_table_latest_version(t, &latest, &err), 0);
    assert_int_equal(latest, 5);
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
}

/* Writes a commit file by hand: a protocol action (its JSON given) and an
 * append-only metaData with the given schemaString (a quoted JSON string). */
static void write_append_only_log(const char *path, const char *protocol, const char *quoted_schema)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"protocol\":%s}\n"
            "{\"metaData\":{\"id\":\"i\",\"format\":{\"provider\":\"parquet\",\"options\":{}},"
            "\"schemaString\":%s,"
            "\"partitionColumns\":[],\"configuration\":{\"delta.appendOnly\":\"true\"}}}\n",
            protocol, quoted_schema);
    fclose(f);
}

/* Writer features weir does not know block writes; appendOnly blocks overwrite. */
static void test_write_refusals(void **state)
{
    struct tmp_fixture *fx = *state;
    char p[512];
    snprintf(p, sizeof p, "%s/_delta_log", fx->path);
    mkdir(fx->path, 0755);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/_delta_log/00000000000000000000.json", fx->path);
    struct weir_type *s = ddl_schema(rows_ddl);
    char *ss = weir_schema_to_json(s);
    cJSON *str = cJSON_CreateString(ss);
    char *quoted = cJSON_PrintUnformatted(str);
    write_append_only_log(
        p, "{\"minReaderVersion\":1,\"minWriterVersion\":7,\"writerFeatures\":[\"rowTracking\"]}", quoted);
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_batch *b = make_batch(0, 3);
    const struct weir_batch *bs[] = {b};
    assert_int_equal(weir_delta_write(t, bs, 1, NULL, NULL, &err), WEIR_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "writer feature 'rowTracking'"));
    /* now a plain (1,2) table with appendOnly (history rewritten in place,
     * which no real writer does: use a fresh handle, the old one caches) */
    weir_delta_table_destroy(t);
    assert_int_equal(weir_delta_table_open(&t, fx->path, &err), 0);
    write_append_only_log(p, "{\"minReaderVersion\":1,\"minWriterVersion\":2}", quoted);
    struct weir_delta_write_options o = default_options();
    o.mode = WEIR_DELTA_OVERWRITE;
    weir_error_clear(&err);
    assert_int_equal(weir_delta_write(t, bs, 1, &o, NULL, &err), WEIR_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "append-only"));
    o.mode = WEIR_DELTA_APPEND;
    assert_int_equal(weir_delta_write(t, bs, 1, &o, NULL, &err), 0);
    weir_batch_destroy(b);
    cJSON_free(quoted);
    cJSON_Delete(str);
    weir_free(ss);
    weir_type_destroy(s);
    weir_delta_table_destroy(t);
}

/* Many partitions in one write: 300 groups, numeric partition values. */
static void test_many_partitions(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_batch *b = empty_batch("k INT, v LONG, f DOUBLE");
    for (int i = 0; i < 3000; i++) {
        if (i % 300 == 299)
            assert_int_equal(weir_column_append_null(&b->columns[0]), 0);
        else
            assert_int_equal(weir_column_append_i32(&b->columns[0], i % 300 - 150), 0);
        assert_int_equal(weir_column_append_i64(&b->columns[1], i), 0);
        assert_int_equal(weir_column_append_f64(&b->columns[2], i == 7 ? NAN : (double)i), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    struct weir_delta_write_options o = default_options();
    const char *pb[] = {"k"};
    o.partition_by = pb;
    o.n_partition_by = 1;
    const struct weir_batch *bs[] = {b};
    struct weir_delta_write_result res;
    assert_int_equal(weir_delta_write(t, bs, 1, &o, &res, &err), 0);
    assert_int_equal(res.files_added, 300);
    struct weir_delta_snapshot *snap;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &snap, &err), 0);
    assert_int_equal(weir_delta_snapshot_num_files(snap), 300);
    assert_int_equal(weir_delta_snapshot_total_rows(snap), 3000);
    size_t nulls = 0, nan_file = 0;
    for (size_t i = 0; i < 300; i++) {
        const struct weir_delta_add *a = weir_delta_snapshot_file(snap, i);
        nulls += a->partition_values[0].value == NULL;
        /* the file holding NaN (i == 7, k = -143) has no min/max for f */
        if (a->partition_values[0].value && strcmp(a->partition_values[0].value, "-143") == 0) {
            nan_file++;
            assert_null(strstr(a->stats, "\"f\":7"));
            assert_non_null(strstr(a->stats, "\"nullCount\":{\"v\":0,\"f\":0}"));
        }
    }
    assert_int_equal(nulls, 1);
    assert_int_equal(nan_file, 1);
    int64_t total = 0;
    struct scan_acc acc = {0};
    (void)total;
    assert_int_equal(weir_delta_scan(t, snap, NULL, 0, acc_cb, &acc, &err), 0);
    assert_int_equal(acc.rows, 3000);
    weir_delta_snapshot_destroy(snap);
    weir_batch_destroy(b);
    weir_delta_table_destroy(t);
}

/* A multi-part checkpoint: the parts are unioned; an incomplete set is
 * ignored (replay from JSON). Part 2 holds only a `txn` column. */
static void test_multipart_checkpoint(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_delta_write_options o = default_options();
    struct weir_delta_write_result res;
    for (int i = 0; i <= 10; i++)
        write_rows(t, i, 1, &o, &res);
    assert_true(res.checkpoint_written);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/_delta_log/00000000000000000010.checkpoint.parquet", fx->path);
    snprintf(b, sizeof b, "%s/_delta_log/00000000000000000010.checkpoint.0000000001.0000000002.parquet",
             fx->path);
    assert_int_equal(rename(a, b), 0);
    /* part 2: one txn row */
    struct weir_type *ts = ddl_schema("txn STRUCT<appId: STRING, version: LONG, lastUpdated: LONG>");
    struct weir_batch *tb = weir_batch_create(ts);
    struct weir_column *c = &tb->columns[0];
    assert_int_equal(weir_column_append_bytes(&c->children[0], "mp", 2), 0);
    assert_int_equal(weir_column_append_i64(&c->children[1], 5), 0);
    assert_int_equal(weir_column_append_null(&c->children[2]), 0);
    assert_int_equal(weir_column_append_struct(c, true), 0);
    assert_int_equal(weir_batch_finish_rows(tb), 0);
    struct weir_buf buf;
    weir_buf_init(&buf);
    struct weir_parquet_writer *w = NULL;
    struct weir_parquet_writer_options po;
    weir_parquet_writer_options_default(&po);
    uint64_t size;
    assert_int_equal(weir_parquet_writer_create(&w, ts, &po, weir_output_buf(&buf), &err), 0);
    assert_int_equal(weir_parquet_writer_write(w, tb, &err), 0);
    assert_int_equal(weir_parquet_writer_close(w, &size, &err), 0);
    weir_parquet_writer_destroy(w);
    assert_int_equal(
        weir_store_put(weir_delta_table_store(t),
                       "_delta_log/00000000000000000010.checkpoint.0000000002.0000000002.parquet", buf.data,
                       buf.len, &err),
        0);
    struct weir_delta_snapshot *s = load_at(t, -1, 10, 11);
    assert_int_equal(weir_delta_snapshot_txn_version(s, "mp"), 5);
    weir_delta_snapshot_destroy(s);
    /* drop part 2: the set is incomplete, so replay comes from the JSON commits */
    assert_int_equal(
        weir_store_delete(weir_delta_table_store(t),
                          "_delta_log/00000000000000000010.checkpoint.0000000002.0000000002.parquet", &err),
        0);
    s = load_at(t, -1, -1, 11);
    assert_int_equal(weir_delta_snapshot_txn_version(s, "mp"), -1);
    weir_delta_snapshot_destroy(s);
    weir_buf_free(&buf);
    weir_batch_destroy(tb);
    weir_type_destroy(ts);
    weir_delta_table_destroy(t);
}

/* A handle's cached snapshot follows commits made through other handles. */
static void test_cached_snapshot_follows_others(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *a, *b;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_table_open(&a, fx->path, &err), 0);
    assert_int_equal(weir_delta_table_open(&b, fx->path, &err), 0);
    struct weir_delta_write_options o = default_options();
    struct weir_delta_write_result res;
    write_rows(a, 0, 5, &o, &res); /* v0 via a */
    write_rows(b, 5, 5, &o, &res); /* v1 via b */
    o.mode = WEIR_DELTA_OVERWRITE;
    write_rows(b, 10, 5, &o, &res); /* v2 via b: removes 2 */
    assert_int_equal(res.files_removed, 2);
    o.mode = WEIR_DELTA_APPEND;
    o.txn_app_id = "s";
    o.txn_version = 3;
    write_rows(b, 15, 5, &o, &res); /* v3 via b with a txn */
    /* a's cache is at v0: it must catch up to see the txn and the live files */
    write_rows(a, 15, 5, &o, &res);
    assert_true(res.already_committed);
    o.txn_app_id = NULL;
    o.mode = WEIR_DELTA_OVERWRITE;
    write_rows(a, 100, 1, &o, &res); /* v4 via a: removes b's two live files */
    assert_int_equal(res.version, 4);
    assert_int_equal(res.files_removed, 2);
    struct scan_acc acc = scan_all(b, -1);
    assert_int_equal(acc.rows, 1);
    assert_int_equal(acc.id_sum, 100);
    weir_delta_table_destroy(a);
    weir_delta_table_destroy(b);
}

static void test_vacuum(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_delta_write_options o = default_options();
    struct weir_delta_write_result res;
    for (int i = 0; i < 3; i++)
        write_rows(t, i * 5, 5, &o, &res);
    int64_t now = (int64_t)time(NULL) * 1000;
    const int64_t day = 86400000;
    /* the overwrite's tombstones are dated 10 days ahead */
    o.mode = WEIR_DELTA_OVERWRITE;
    o.now_ms = now + 10 * day;
    write_rows(t, 100, 5, &o, &res);
    assert_int_equal(res.files_removed, 3);
    file_write(fx->path, "orphan.parquet", "x");
    file_write(fx->path, "_change_data/cdc.parquet", "x");
    file_write(fx->path, ".hidden/y.parquet", "x");
    struct weir_delta_snapshot *s;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    size_t n = 99;
    uint64_t bytes = 0;
    /* now: every file is younger than a week */
    assert_int_equal(weir_delta_vacuum(t, s, NULL, &n, &bytes, &err), 0);
    assert_int_equal(n, 0);
    /* 8 days on: the orphan goes; the removed files are protected by their tombstones */
    struct weir_delta_vacuum_options vo = {.retention_ms = -1, .dry_run = true, .now_ms = now + 8 * day};
    assert_int_equal(weir_delta_vacuum(t, s, &vo, &n, &bytes, &err), 0);
    assert_int_equal(n, 1);
    assert_true(file_exists(fx->path, "orphan.parquet"));
    vo.dry_run = false;
    assert_int_equal(weir_delta_vacuum(t, s, &vo, &n, &bytes, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(bytes, 1);
    assert_false(file_exists(fx->path, "orphan.parquet"));
    /* 20 days on: the tombstones expired too; the live file and hidden dirs stay */
    vo.now_ms = now + 20 * day;
    assert_int_equal(weir_delta_vacuum(t, s, &vo, &n, &bytes, &err), 0);
    assert_int_equal(n, 3);
    assert_true(file_exists(fx->path, "_change_data/cdc.parquet"));
    assert_true(file_exists(fx->path, ".hidden/y.parquet"));
    assert_true(file_exists(fx->path, "_delta_log/00000000000000000000.json"));
    weir_delta_snapshot_destroy(s);
    assert_int_equal(scan_all(t, -1).rows, 5);
    /* the two real runs logged themselves (START + END each, data unchanged); the dry run did not */
    struct weir_delta_history_entry *h;
    size_t nh;
    assert_int_equal(weir_delta_history(t, -1, &h, &nh, &err), 0);
    assert_int_equal(nh, 4 + 6);
    assert_non_null(strstr(h[0].commit_info, "\"operation\":\"VACUUM END\""));
    assert_non_null(strstr(h[0].commit_info, "\"numDeletedFiles\":\"3\""));
    assert_non_null(strstr(h[1].commit_info, "\"operation\":\"VACUUM START\""));
    assert_non_null(strstr(h[1].commit_info, "\"numFilesToDelete\":\"3\""));
    weir_delta_history_free(h, nh);
    /* a retention below the table's is refused unless forced */
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    file_write(fx->path, "orphan2.parquet", "xy");
    vo = (struct weir_delta_vacuum_options){.retention_ms = 3600000, .now_ms = now + 2 * day};
    assert_int_equal(weir_delta_vacuum(t, s, &vo, &n, &bytes, &err), WEIR_EINVAL);
    assert_non_null(
        strstr(err.message, "shorter than the table's delta.deletedFileRetentionDuration (168 hours)"));
    assert_true(file_exists(fx->path, "orphan2.parquet"));
    vo.force = true;
    assert_int_equal(weir_delta_vacuum(t, s, &vo, &n, &bytes, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(bytes, 2);
    assert_false(file_exists(fx->path, "orphan2.parquet"));
    weir_delta_snapshot_destroy(s);
    /* an old version now misses its files: the scan says which */
    assert_int_equal(weir_delta_snapshot_load(t, 0, &s, &err), 0);
    struct scan_acc acc = {0};
    weir_error_clear(&err);
    assert_int_not_equal(weir_delta_scan(t, s, NULL, 0, acc_cb, &acc, &err), 0);
    assert_non_null(strstr(err.message, "part-00000-"));
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
}

/* ------------------------------------------------------------ streaming writer */

/* Files (not directories) below dir whose name ends in `suffix`. */
static size_t count_files(const char *dir, const char *suffix)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "find '%s' -type f -name '*%s' 2>/dev/null | wc -l", dir, suffix);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    unsigned long n = 0;
    assert_int_equal(fscanf(p, "%lu", &n), 1);
    pclose(p);
    return (size_t)n;
}

static struct weir_delta_writer *begin_ok(struct weir_delta_table *t, const struct weir_type *schema,
                                          const struct weir_delta_write_options *o)
{
    struct weir_delta_writer *w = NULL;
    struct weir_error err = {0};
    struct weir_delta_write_result res;
    if (weir_delta_writer_begin(t, schema, o, &w, &res, &err))
        fail_msg("begin: %s", err.message);
    assert_non_null(w);
    assert_false(res.already_committed);
    return w;
}

/* 40 batches of 500 rows through one writer: files roll at a small target
 * (unpartitioned) and under a small pending-memory cap (partitioned), and
 * every row reads back once through weir_delta_scan. */
static void test_stream_many_batches(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_type *schema = ddl_schema(rows_ddl);
    struct weir_delta_write_options o = default_options();
    o.target_file_bytes = 64 << 10;
    struct weir_delta_writer *w = begin_ok(t, schema, &o);
    int64_t want_sum = 0;
    for (int i = 0; i < 40; i++) {
        struct weir_batch *b = make_batch(i * 500, 500);
        if (weir_delta_writer_add(w, b, &err))
            fail_msg("add: %s", err.message);
        weir_batch_destroy(b);
    }
    for (int64_t id = 0; id < 20000; id++)
        want_sum += id;
    /* files were written while rows arrived, before the commit */
    assert_true(count_files(fx->path, ".parquet") > 1);
    struct weir_delta_write_result res;
    if (weir_delta_writer_commit(w, &res, &err))
        fail_msg("commit: %s", err.message);
    assert_int_equal(res.version, 0);
    assert_int_equal(res.rows_written, 20000);
    assert_true(res.files_added > 3);
    assert_int_equal(count_files(fx->path, ".parquet"), res.files_added);
    struct scan_acc acc = scan_all(t, -1);
    assert_int_equal(acc.rows, 20000);
    assert_int_equal(acc.id_sum, want_sum);
    assert_int_equal(acc.null_names, 4000);

    /* partitioned by day (3 groups), a big target but a 96 KiB cap on
     * pending rows: the largest groups are written out early */
    struct weir_delta_table *t2;
    char p2[256];
    snprintf(p2, sizeof p2, "%s/t2", fx->dir);
    assert_int_equal(weir_delta_table_open(&t2, p2, &err), 0);
    const char *pb[] = {"day"};
    o = default_options();
    o.partition_by = pb;
    o.n_partition_by = 1;
    o.max_pending_bytes = 96 << 10;
    w = begin_ok(t2, schema, &o);
    for (int i = 0; i < 40; i++) {
        struct weir_batch *b = make_batch(i * 500, 500);
        if (weir_delta_writer_add(w, b, &err))
            fail_msg("add: %s", err.message);
        weir_batch_destroy(b);
    }
    if (weir_delta_writer_commit(w, &res, &err))
        fail_msg("commit: %s", err.message);
    assert_true(res.files_added > 6);
    acc = scan_all(t2, -1);
    assert_int_equal(acc.rows, 20000);
    assert_int_equal(acc.id_sum, want_sum);
    int64_t day_sum = 0;
    for (int64_t id = 0; id < 20000; id++)
        day_sum += 18000 + id % 3;
    assert_int_equal(acc.day_sum, day_sum);
    weir_delta_table_destroy(t2);
    weir_type_destroy(schema);
    weir_delta_table_destroy(t);
}

/* abort deletes the data files already written; nothing is committed. */
static void test_stream_abort(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_type *schema = ddl_schema(rows_ddl);
    struct weir_delta_write_options o = default_options();
    o.target_file_bytes = 32 << 10;
    const char *pb[] = {"day"};
    o.partition_by = pb;
    o.n_partition_by = 1;
    /* on a new table */
    struct weir_delta_writer *w = begin_ok(t, schema, &o);
    for (int i = 0; i < 10; i++) {
        struct weir_batch *b = make_batch(i * 1000, 1000);
        assert_int_equal(weir_delta_writer_add(w, b, &err), 0);
        weir_batch_destroy(b);
    }
    assert_true(count_files(fx->path, ".parquet") > 0);
    weir_delta_writer_abort(w);
    weir_delta_writer_abort(NULL);
    assert_int_equal(count_files(fx->path, ".parquet"), 0);
    int64_t v;
    assert_int_equal(weir_delta_table_latest_version(t, &v, &err), WEIR_ENOTFOUND);
    /* on an existing table: the version stays, the rows stay */
    write_rows(t, 0, 10, &o, NULL);
    size_t before = count_files(fx->path, ".parquet");
    w = begin_ok(t, schema, &o);
    for (int i = 0; i < 5; i++) {
        struct weir_batch *b = make_batch(100 + i * 1000, 1000);
        assert_int_equal(weir_delta_writer_add(w, b, &err), 0);
        weir_batch_destroy(b);
    }
    assert_true(count_files(fx->path, ".parquet") > before);
    weir_delta_writer_abort(w);
    assert_int_equal(count_files(fx->path, ".parquet"), before);
    assert_int_equal(weir_delta_table_latest_version(t, &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(scan_all(t, -1).rows, 10);
    weir_type_destroy(schema);
    weir_delta_table_destroy(t);
}

/* begin with a txn already in the table: 0, no writer, already_committed. */
static void test_begin_already_committed(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_type *schema = ddl_schema(rows_ddl);
    struct weir_delta_write_options o = default_options();
    o.txn_app_id = "q";
    o.txn_version = 5;
    struct weir_delta_write_result res;
    write_rows(t, 0, 3, &o, &res);
    write_rows(t, 3, 3, NULL, &res); /* v1, no txn */
    for (int64_t bv = 0; bv <= 5; bv++) {
        struct weir_delta_writer *w = (struct weir_delta_writer *)&err; /* must be reset to NULL */
        o.txn_version = bv;
        memset(&res, 0xff, sizeof res);
        assert_int_equal(weir_delta_writer_begin(t, schema, &o, &w, &res, &err), 0);
        assert_null(w);
        assert_true(res.already_committed);
        assert_int_equal(res.version, 1);
        assert_int_equal(res.files_added, 0);
    }
    o.txn_version = 6;
    struct weir_delta_writer *w = begin_ok(t, schema, &o);
    struct weir_batch *b = make_batch(6, 4);
    assert_int_equal(weir_delta_writer_add(w, b, &err), 0);
    weir_batch_destroy(b);
    assert_int_equal(weir_delta_writer_commit(w, &res, &err), 0);
    assert_int_equal(res.version, 2);
    assert_false(res.already_committed);
    assert_int_equal(scan_all(t, -1).rows, 10);
    /* an empty batch id still commits its txn (the stream's progress) */
    o.txn_version = 7;
    w = begin_ok(t, schema, &o);
    assert_int_equal(weir_delta_writer_commit(w, &res, &err), 0);
    assert_int_equal(res.version, 3);
    assert_int_equal(res.files_added, 0);
    struct weir_delta_snapshot *s;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    assert_int_equal(weir_delta_snapshot_txn_version(s, "q"), 7);
    weir_delta_snapshot_destroy(s);
    weir_type_destroy(schema);
    weir_delta_table_destroy(t);
}

/* One batch of schema `ddl` with n rows: id = from + i, every other column
 * null except `s` STRING columns ("s<id>") and DOUBLE columns (id * 2). */
static struct weir_batch *generic_batch(const struct weir_type *schema, int64_t from, size_t n)
{
    struct weir_batch *b = weir_batch_create(schema);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++) {
        int64_t id = from + (int64_t)i;
        for (size_t c = 0; c < b->ncolumns; c++) {
            struct weir_column *col = &b->columns[c];
            char s[32];
            switch (col->type->kind) {
            case WEIR_TYPE_LONG:
                assert_int_equal(weir_column_append_i64(col, id), 0);
                break;
            case WEIR_TYPE_DOUBLE:
                assert_int_equal(weir_column_append_f64(col, (double)id * 2), 0);
                break;
            case WEIR_TYPE_STRING:
                snprintf(s, sizeof s, "s%lld", (long long)id);
                assert_int_equal(weir_column_append_bytes(col, s, strlen(s)), 0);
                break;
            default:
                assert_int_equal(weir_column_append_null(col), 0);
            }
        }
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    return b;
}

/* Writes n rows of schema `ddl` in one streaming commit; returns the rc of
 * begin (then no writer is left) or of commit. */
static int stream_write(struct weir_delta_table *t, const struct weir_type *schema, int64_t from, size_t n,
                        const struct weir_delta_write_options *o, struct weir_delta_write_result *res,
                        struct weir_error *err)
{
    struct weir_delta_writer *w = NULL;
    int rc = weir_delta_writer_begin(t, schema, o, &w, res, err);
    if (rc || !w)
        return rc;
    struct weir_batch *b = generic_batch(schema, from, n);
    rc = weir_delta_writer_add(w, b, err);
    weir_batch_destroy(b);
    if (rc) {
        weir_delta_writer_abort(w);
        return rc;
    }
    return weir_delta_writer_commit(w, res, err);
}

struct null_acc {
    int64_t rows;
    int64_t nulls[8];
    int64_t dsum; /* sum of the 'extra' DOUBLE column */
};

static int null_cb(void *ctx, const struct weir_batch *b, const struct weir_delta_add *f,
                   struct weir_error *err)
{
    (void)f;
    (void)err;
    struct null_acc *a = ctx;
    int ex = weir_type_field_index(b->schema, "extra");
    for (size_t c = 0; c < b->ncolumns && c < 8; c++)
        for (size_t i = 0; i < b->nrows; i++)
            a->nulls[c] += !weir_column_is_valid(&b->columns[c], i);
    for (size_t i = 0; ex >= 0 && i < b->nrows; i++)
        if (weir_column_is_valid(&b->columns[ex], i))
            a->dsum += (int64_t)weir_column_f64(&b->columns[ex], i);
    a->rows += (int64_t)b->nrows;
    return 0;
}

static struct null_acc scan_nulls(struct weir_delta_table *t)
{
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    struct null_acc a = {0};
    if (weir_delta_snapshot_load(t, -1, &s, &err) || weir_delta_scan(t, s, NULL, 0, null_cb, &a, &err))
        fail_msg("scan: %s", err.message);
    weir_delta_snapshot_destroy(s);
    return a;
}

/* merge_schema: new nullable columns join the schema (at the end) by a
 * metaData action in the same commit; without it, and for incompatible
 * changes, the error names the column. */
static void test_merge_schema(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_delta_write_options o = default_options();
    struct weir_delta_write_result res;
    struct weir_type *s0 = ddl_schema("id LONG NOT NULL, name STRING");
    assert_int_equal(stream_write(t, s0, 0, 10, &o, &res, &err), 0);
    /* a new column without merge_schema */
    struct weir_type *s1 = ddl_schema("name STRING, extra DOUBLE, id LONG NOT NULL");
    assert_int_equal(stream_write(t, s1, 10, 5, &o, &res, &err), WEIR_ESCHEMA);
    assert_non_null(strstr(err.message, "'extra'"));
    assert_non_null(strstr(err.message, "sink.delta.merge_schema"));
    /* with it: one commit carrying metaData with the merged schema */
    o.merge_schema = true;
    weir_error_clear(&err);
    assert_int_equal(stream_write(t, s1, 10, 5, &o, &res, &err), 0);
    assert_int_equal(res.version, 1);
    char *c1 = file_read(fx->path, "_delta_log/00000000000000000001.json");
    assert_non_null(c1);
    assert_non_null(strstr(c1, "{\"metaData\":"));
    free(c1);
    struct weir_delta_snapshot *snap;
    assert_int_equal(weir_delta_snapshot_load(t, -1, &snap, &err), 0);
    const struct weir_type *ts = weir_delta_snapshot_metadata(snap)->schema;
    assert_int_equal(ts->nfields, 3);
    assert_string_equal(ts->fields[0].name, "id");
    assert_false(ts->fields[0].nullable);
    assert_string_equal(ts->fields[2].name, "extra");
    assert_true(ts->fields[2].nullable);
    weir_delta_snapshot_destroy(snap);
    struct null_acc a = scan_nulls(t);
    assert_int_equal(a.rows, 15);
    assert_int_equal(a.nulls[0], 0);
    assert_int_equal(a.nulls[2], 10); /* the old rows have no 'extra' */
    assert_int_equal(a.dsum, (10 + 11 + 12 + 13 + 14) * 2);
    /* the same schema again: no metaData this time */
    assert_int_equal(stream_write(t, s1, 15, 1, &o, &res, &err), 0);
    char *c2 = file_read(fx->path, "_delta_log/00000000000000000002.json");
    assert_null(strstr(c2, "\"metaData\""));
    free(c2);

    /* a NOT NULL new column is refused, naming it */
    struct weir_type *s2 = ddl_schema("id LONG NOT NULL, name STRING, extra DOUBLE, more LONG NOT NULL");
    assert_int_equal(stream_write(t, s2, 20, 1, &o, &res, &err), WEIR_ESCHEMA);
    assert_non_null(strstr(err.message, "'more'"));
    assert_non_null(strstr(err.message, "NOT NULL"));
    /* a type change is refused naming the column and both types */
    struct weir_type *s3 = ddl_schema("id LONG NOT NULL, name STRING, extra STRING");
    weir_error_clear(&err);
    assert_int_equal(stream_write(t, s3, 20, 1, &o, &res, &err), WEIR_ESCHEMA);
    assert_non_null(strstr(err.message, "'extra'"));
    assert_non_null(strstr(err.message, "double"));
    assert_non_null(strstr(err.message, "string"));
    /* nothing was committed by the refusals */
    int64_t v;
    assert_int_equal(weir_delta_table_latest_version(t, &v, &err), 0);
    assert_int_equal(v, 2);

    /* nested nullability: the table's array elements are NOT NULL, the batch's nullable */
    struct weir_delta_table *t2;
    char p2[256];
    snprintf(p2, sizeof p2, "%s/t2", fx->dir);
    assert_int_equal(weir_delta_table_open(&t2, p2, &err), 0);
    struct weir_type *n0 = weir_type_struct(), *n1 = weir_type_struct();
    assert_int_equal(weir_type_struct_add(n0, "id", weir_type_primitive(WEIR_TYPE_LONG), true, NULL), 0);
    assert_int_equal(weir_type_struct_add(
                         n0, "tags", weir_type_array(weir_type_primitive(WEIR_TYPE_LONG), false), true, NULL),
                     0);
    assert_int_equal(weir_type_struct_add(n1, "id", weir_type_primitive(WEIR_TYPE_LONG), true, NULL), 0);
    assert_int_equal(weir_type_struct_add(
                         n1, "tags", weir_type_array(weir_type_primitive(WEIR_TYPE_LONG), true), true, NULL),
                     0);
    assert_int_equal(stream_write(t2, n0, 0, 3, &o, &res, &err), 0);
    weir_error_clear(&err);
    assert_int_equal(stream_write(t2, n1, 3, 3, &o, &res, &err), WEIR_ESCHEMA);
    assert_non_null(strstr(err.message, "'tags'"));
    assert_non_null(strstr(err.message, "array<long NOT NULL>"));
    assert_non_null(strstr(err.message, "array<long>"));
    weir_delta_table_destroy(t2);
    weir_type_destroy(n0);
    weir_type_destroy(n1);
    weir_type_destroy(s0);
    weir_type_destroy(s1);
    weir_type_destroy(s2);
    weir_type_destroy(s3);
    weir_delta_table_destroy(t);
}

/* Table columns missing from the batch: nullable ones are written as
 * nulls, NOT NULL ones are an error naming them. */
static void test_missing_nullable_column(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_delta_table *t = open_table(fx);
    struct weir_error err = {0};
    struct weir_delta_write_options o = default_options();
    const char *pb[] = {"part"};
    o.partition_by = pb;
    o.n_partition_by = 1;
    struct weir_delta_write_result res;
    struct weir_type *s0 = ddl_schema("id LONG NOT NULL, name STRING, extra DOUBLE, part STRING");
    assert_int_equal(stream_write(t, s0, 0, 4, &o, &res, &err), 0);
    struct weir_type *s1 = ddl_schema("id LONG NOT NULL");
    assert_int_equal(stream_write(t, s1, 4, 6, &o, &res, &err), 0);
    assert_int_equal(res.rows_written, 6);
    struct null_acc a = scan_nulls(t);
    assert_int_equal(a.rows, 10);
    assert_int_equal(a.nulls[0], 0);
    assert_int_equal(a.nulls[1], 6);
    assert_int_equal(a.nulls[2], 6);
    assert_int_equal(a.nulls[3], 6); /* the partition column: null partition */
    assert_true(file_exists(fx->path, "part=__HIVE_DEFAULT_PARTITION__"));
    struct weir_type *s2 = ddl_schema("name STRING");
    assert_int_equal(stream_write(t, s2, 0, 1, &o, &res, &err), WEIR_ESCHEMA);
    assert_non_null(strstr(err.message, "'id'"));
    /* a batch whose schema differs from begin's is refused by add */
    struct weir_delta_writer *w = begin_ok(t, s1, &o);
    struct weir_batch *b = generic_batch(s0, 0, 1);
    weir_error_clear(&err);
    assert_int_equal(weir_delta_writer_add(w, b, &err), WEIR_ESCHEMA);
    weir_batch_destroy(b);
    weir_delta_writer_abort(w);
    weir_type_destroy(s0);
    weir_type_destroy(s1);
    weir_type_destroy(s2);
    weir_delta_table_destroy(t);
}

/* Runs this test binary again as a child that writes one commit of 3000
 * rows (3 files) into `table` with WEIR_CRASH_AT=point; it must die by
 * SIGKILL there. */
static void crash_child(const char *table, const char *point)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("WEIR_CRASH_AT", point, 1);
        execl("/proc/self/exe", "test_delta_write", "--crash-child", table, (char *)NULL);
        _exit(3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

static int crash_child_main(const char *table)
{
    struct weir_delta_table *t;
    struct weir_error err = {0};
    if (weir_delta_table_open(&t, table, &err))
        return 2;
    struct weir_delta_write_options o;
    weir_delta_write_options_default(&o);
    const char *pb[] = {"day"};
    o.partition_by = pb;
    o.n_partition_by = 1;
    struct weir_batch *b = make_batch(0, 3000);
    const struct weir_batch *bs[] = {b};
    int rc = weir_delta_write(t, bs, 1, &o, NULL, &err);
    weir_batch_destroy(b);
    weir_delta_table_destroy(t);
    return rc ? 1 : 0;
}

/* The crash points: killed mid data file (the 2nd) or right before the
 * commit, the table has no commit; a rerun writes every row exactly once. */
static void test_crash_points(void **state)
{
    struct tmp_fixture *fx = *state;
    const char *points[] = {"delta.data_file:2", "delta.before_commit"};
    for (int i = 0; i < 2; i++) {
        char table[256];
        snprintf(table, sizeof table, "%s/c%d", fx->dir, i);
        crash_child(table, points[i]);
        struct weir_delta_table *t;
        struct weir_error err = {0};
        int64_t v;
        assert_int_equal(weir_delta_table_open(&t, table, &err), 0);
        assert_int_equal(weir_delta_table_latest_version(t, &v, &err), WEIR_ENOTFOUND);
        /* the data files committed before the kill are there, unreferenced */
        assert_int_equal(count_files(table, ".parquet"), i == 0 ? 1 : 3);
        weir_delta_table_destroy(t);
        assert_int_equal(crash_child_main(table), 0);
        assert_int_equal(weir_delta_table_open(&t, table, &err), 0);
        struct scan_acc acc = scan_all(t, -1);
        assert_int_equal(acc.rows, 3000);
        assert_int_equal(acc.id_sum, 2999 * 3000 / 2);
        weir_delta_table_destroy(t);
    }
}

/* ---- file statistics: the one-pass min/max scan against a plain one ---- */

static uint64_t st_rng = 7;
static unsigned st_rand(unsigned n)
{
    st_rng = st_rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((st_rng >> 33) % n);
}

/* "minValues" and "maxValues" of a stats document, as text. */
static void minmax_text(const char *stats, char *out, size_t cap)
{
    cJSON *st = cJSON_Parse(stats);
    assert_non_null(st);
    char *mn = cJSON_PrintUnformatted(cJSON_GetObjectItem(st, "minValues"));
    char *mx = cJSON_PrintUnformatted(cJSON_GetObjectItem(st, "maxValues"));
    snprintf(out, cap, "%s %s", mn, mx);
    free(mn);
    free(mx);
    cJSON_Delete(st);
}

/* For every ordered kind, the stats of a 4000-row column (ties, nulls,
 * strings sharing long prefixes) equal the stats of a two-row column
 * holding the smallest and largest values found by a plain comparison. */
static void test_stats_minmax_scan(void **state)
{
    (void)state;
    static const char *const ddl[] = {"v BYTE",      "v SHORT",         "v INT",           "v LONG",
                                      "v FLOAT",     "v DOUBLE",        "v DECIMAL(12,2)", "v DATE",
                                      "v TIMESTAMP", "v TIMESTAMP_NTZ", "v STRING"};
    static const char *const parts[] = {"", "a", "ab", "abcdefgh", "abcdefghi", "\xc3\xa9", "z", "\x01", "A"};
    for (size_t k = 0; k < sizeof ddl / sizeof ddl[0]; k++) {
        struct weir_type *schema = NULL;
        struct weir_error err = {0};
        assert_int_equal(weir_schema_from_ddl(ddl[k], &schema, &err), 0);
        for (int round = 0; round < 20; round++) {
            struct weir_batch *b = weir_batch_create(schema);
            struct weir_column *c = &b->columns[0];
            enum weir_type_kind kind = c->type->kind;
            char sv[64];
            int64_t iv;
            for (int r = 0; r < 4000; r++) {
                if (st_rand(10) == 0) {
                    assert_int_equal(weir_column_append_null(c), 0);
                    continue;
                }
                iv = (int64_t)st_rand(2000) - 1000 + (round & 1 ? 0 : (int64_t)st_rand(100));
                switch (kind) {
                case WEIR_TYPE_BYTE:
                    assert_int_equal(weir_column_append_i8(c, (int8_t)(iv % 128)), 0);
                    break;
                case WEIR_TYPE_SHORT:
                    assert_int_equal(weir_column_append_i16(c, (int16_t)(iv * 30)), 0);
                    break;
                case WEIR_TYPE_INTEGER:
                case WEIR_TYPE_DATE:
                    assert_int_equal(weir_column_append_i32(c, (int32_t)(iv * 1000)), 0);
                    break;
                case WEIR_TYPE_FLOAT:
                    assert_int_equal(weir_column_append_f32(c, (float)iv / 8), 0);
                    break;
                case WEIR_TYPE_DOUBLE:
                    assert_int_equal(weir_column_append_f64(c, (double)iv / 3), 0);
                    break;
                case WEIR_TYPE_DECIMAL:
                    assert_int_equal(weir_column_append_i128(c, (weir_i128)iv * 1000000007), 0);
                    break;
                case WEIR_TYPE_STRING: {
                    /* odd rounds: a shared 8-byte prefix, so order is decided after it */
                    int np = (int)st_rand(4);
                    strcpy(sv, round & 1 ? "abcdefgh" : "");
                    for (int p = 0; p < np; p++)
                        strcat(sv, parts[st_rand(sizeof parts / sizeof parts[0])]);
                    assert_int_equal(weir_column_append_bytes(c, sv, strlen(sv)), 0);
                    break;
                }
                default: /* timestamps */
                    assert_int_equal(weir_column_append_i64(c, iv * 123456789), 0);
                    break;
                }
            }
            assert_int_equal(weir_batch_finish_rows(b), 0);
            /* the plain scan */
            size_t lo = SIZE_MAX, hi = SIZE_MAX;
            for (size_t i = 0; i < c->length; i++) {
                if (!weir_column_is_valid(c, i))
                    continue;
                if (lo == SIZE_MAX) {
                    lo = hi = i;
                    continue;
                }
                int clo, chi;
                if (kind == WEIR_TYPE_STRING) {
                    size_t n, nl, nh;
                    const uint8_t *p = weir_column_bytes(c, i, &n), *pl = weir_column_bytes(c, lo, &nl),
                                  *ph = weir_column_bytes(c, hi, &nh);
                    int a = memcmp(p, pl, n < nl ? n : nl), z = memcmp(p, ph, n < nh ? n : nh);
                    clo = a ? a : (n > nl) - (n < nl);
                    chi = z ? z : (n > nh) - (n < nh);
                } else {
                    double x, xl, xh;
                    switch (kind) {
                    case WEIR_TYPE_BYTE:
                        x = ((int8_t *)c->data)[i], xl = ((int8_t *)c->data)[lo],
                        xh = ((int8_t *)c->data)[hi];
                        break;
                    case WEIR_TYPE_SHORT:
                        x = ((int16_t *)c->data)[i], xl = ((int16_t *)c->data)[lo],
                        xh = ((int16_t *)c->data)[hi];
                        break;
                    case WEIR_TYPE_INTEGER:
                    case WEIR_TYPE_DATE:
                        x = weir_column_i32(c, i), xl = weir_column_i32(c, lo), xh = weir_column_i32(c, hi);
                        break;
                    case WEIR_TYPE_FLOAT:
                        x = ((float *)c->data)[i], xl = ((float *)c->data)[lo], xh = ((float *)c->data)[hi];
                        break;
                    case WEIR_TYPE_DOUBLE:
                        x = weir_column_f64(c, i), xl = weir_column_f64(c, lo), xh = weir_column_f64(c, hi);
                        break;
                    case WEIR_TYPE_DECIMAL:
                        x = (double)((weir_i128 *)c->data)[i], xl = (double)((weir_i128 *)c->data)[lo],
                        xh = (double)((weir_i128 *)c->data)[hi];
                        break;
                    default:
                        x = (double)weir_column_i64(c, i), xl = (double)weir_column_i64(c, lo),
                        xh = (double)weir_column_i64(c, hi);
                        break;
                    }
                    clo = (x > xl) - (x < xl);
                    chi = (x > xh) - (x < xh);
                }
                if (clo < 0)
                    lo = i;
                if (chi > 0)
                    hi = i;
            }
            assert_true(lo != SIZE_MAX);
            struct weir_batch *two = weir_batch_create(schema);
            assert_int_equal(weir_column_append_range(&two->columns[0], c, lo, 1), 0);
            assert_int_equal(weir_column_append_range(&two->columns[0], c, hi, 1), 0);
            assert_int_equal(weir_batch_finish_rows(two), 0);
            char *s_all = NULL, *s_two = NULL, t_all[512], t_two[512];
            assert_int_equal(dl_stats_json(b, &s_all, &err), 0);
            assert_int_equal(dl_stats_json(two, &s_two, &err), 0);
            minmax_text(s_all, t_all, sizeof t_all);
            minmax_text(s_two, t_two, sizeof t_two);
            if (strcmp(t_all, t_two) != 0)
                fail_msg("%s round %d: one pass %s, plain %s", ddl[k], round, t_all, t_two);
            weir_free(s_all);
            weir_free(s_two);
            weir_batch_destroy(two);
            weir_batch_destroy(b);
        }
        weir_type_destroy(schema);
    }
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--crash-child") == 0)
        return crash_child_main(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_partitioned, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_schema_mismatch_and_escaping, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_txn_exactly_once, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_many_commits_checkpoint, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_log_cleanup, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_restore, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_conflicts, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_write_refusals, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_many_partitions, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_multipart_checkpoint, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_cached_snapshot_follows_others, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_vacuum, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_stream_many_batches, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_stream_abort, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_begin_already_committed, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_merge_schema, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_missing_nullable_column, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_crash_points, setup, tmp_fixture_teardown),
        cmocka_unit_test(test_stats_minmax_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
