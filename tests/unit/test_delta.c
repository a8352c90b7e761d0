/* tests/unit/test_delta.c - the Delta protocol: replay of real tables
 * written by Spark and delta-rs (expected values from the DAT expected
 * folders and from the Python deltalake package reading the same folders),
 * refusal of unsupported features, time travel, scans with partition
 * values, corrupt logs, and the small pure helpers (intervals, partition
 * value formats). Writing, checkpoints and concurrency are in
 * test_delta_write.c. */
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
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "core/alloc.h"
#include "delta/delta.h"

#define DAT WEIR_TESTDATA "/dat-reader-tests"
#define DRS WEIR_TESTDATA "/delta-rs-tables"

static struct weir_delta_snapshot *load(const char *path, int64_t version, struct weir_delta_table **tp)
{
    struct weir_delta_table *t = NULL;
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_table_open(&t, path, &err), 0);
    int rc = weir_delta_snapshot_load(t, version, &s, &err);
    if (rc)
        fail_msg("loading %s@%lld: %s", path, (long long)version, err.message);
    if (tp)
        *tp = t;
    else
        weir_delta_table_destroy(t);
    return s;
}

static int count_cb(void *ctx, const struct weir_batch *b, const struct weir_delta_add *f,
                    struct weir_error *err)
{
    (void)f;
    (void)err;
    *(int64_t *)ctx += (int64_t)b->nrows;
    return 0;
}

static int64_t scan_count(struct weir_delta_table *t, const struct weir_delta_snapshot *s)
{
    int64_t n = 0;
    struct weir_error err = {0};
    int rc = weir_delta_scan(t, s, NULL, 0, count_cb, &n, &err);
    if (rc)
        fail_msg("scan failed: %s", err.message);
    return n;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        fclose(f);
        return NULL;
    }
    p[n] = 0;
    fclose(f);
    return p;
}

/* Row count of a Parquet file through weir's reader. */
static int64_t parquet_rows(const char *path)
{
    char *dir = strdup(path), *slash = strrchr(dir, '/');
    *slash = 0;
    struct weir_store *st = NULL;
    struct weir_error err = {0};
    struct weir_input in;
    struct weir_parquet_reader *r = NULL;
    assert_int_equal(weir_store_open(&st, dir, &err), 0);
    assert_int_equal(weir_store_input_open(st, slash + 1, &in, &err), 0);
    assert_int_equal(weir_parquet_reader_open(&r, &in, &err), 0);
    int64_t n = weir_parquet_reader_num_rows(r);
    weir_parquet_reader_destroy(r);
    weir_store_input_close(&in);
    weir_store_destroy(st);
    free(dir);
    return n;
}

/* ---------------------------------------------------------------- DAT */

static void check_dat(const char *name, const char *vdir, int64_t version)
{
    char tpath[512], epath[512];
    snprintf(tpath, sizeof tpath, DAT "/%s/delta", name);
    snprintf(epath, sizeof epath, DAT "/%s/expected/%s/table_version_metadata.json", name, vdir);
    char *txt = read_text(epath);
    assert_non_null(txt);
    cJSON *exp = cJSON_Parse(txt);
    assert_non_null(exp);
    struct weir_delta_table *t;
    struct weir_delta_snapshot *s = load(tpath, version, &t);
    assert_int_equal(weir_delta_snapshot_version(s),
                     (int64_t)cJSON_GetObjectItem(exp, "version")->valuedouble);
    const struct weir_delta_protocol *p = weir_delta_snapshot_protocol(s);
    assert_int_equal(p->min_reader_version, cJSON_GetObjectItem(exp, "min_reader_version")->valueint);
    assert_int_equal(p->min_writer_version, cJSON_GetObjectItem(exp, "min_writer_version")->valueint);
    const cJSON *props = cJSON_GetObjectItem(exp, "properties");
    const struct weir_delta_metadata *md = weir_delta_snapshot_metadata(s);
    assert_int_equal((size_t)cJSON_GetArraySize(props), md->n_configuration);
    const cJSON *e;
    cJSON_ArrayForEach(e, props)
    {
        const char *v = weir_delta_metadata_config(md, e->string);
        assert_non_null(v);
        assert_string_equal(v, e->valuestring);
    }
    /* rows: scan vs expected table_content.parquet */
    snprintf(epath, sizeof epath, DAT "/%s/expected/%s/table_content.parquet", name, vdir);
    assert_int_equal(scan_count(t, s), parquet_rows(epath));
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
    cJSON_Delete(exp);
    free(txt);
}

static void test_dat_tables(void **state)
{
    (void)state;
    check_dat("basic_append", "v0", 0);
    check_dat("basic_append", "v1", 1);
    check_dat("basic_append", "latest", -1);
    check_dat("basic_partitioned", "v0", 0);
    check_dat("basic_partitioned", "v1", 1);
    check_dat("basic_partitioned", "latest", -1);
    check_dat("multi_partitioned", "v0", 0);
    check_dat("multi_partitioned", "v1", 1);
    check_dat("multi_partitioned", "v2", 2);
    check_dat("multi_partitioned", "latest", -1);
    check_dat("with_schema_change", "v1", 1);
    check_dat("with_schema_change", "latest", -1);
}

/* Partition values with escapes, emoji and null come back from the log,
 * not the path. */
static int collect_letters(void *ctx, const struct weir_batch *b, const struct weir_delta_add *f,
                           struct weir_error *err)
{
    (void)f;
    (void)err;
    char *acc = ctx;
    int li = weir_type_field_index(b->schema, "letter");
    int di = weir_type_field_index(b->schema, "data");
    assert_true(li >= 0 && di >= 0);
    for (size_t i = 0; i < b->nrows; i++) {
        size_t n;
        if (!weir_column_is_valid(&b->columns[li], i)) {
            strcat(acc, "<null>");
        } else {
            const uint8_t *p = weir_column_bytes(&b->columns[li], i, &n);
            strncat(acc, (const char *)p, n);
        }
        strcat(acc, "|");
    }
    return 0;
}

static void test_dat_partition_values(void **state)
{
    (void)state;
    struct weir_delta_table *t;
    struct weir_delta_snapshot *s = load(DAT "/multi_partitioned/delta", 1, &t);
    char acc[512] = "";
    struct weir_error err = {0};
    const char *cols[] = {"data", "letter"};
    assert_int_equal(weir_delta_scan(t, s, cols, 2, collect_letters, acc, &err), 0);
    /* v1 files in path order: letter=__HIVE_DEFAULT..., letter=a(x, hello), letter=b x2 */
    assert_non_null(strstr(acc, "<null>|"));
    assert_non_null(strstr(acc, "a|"));
    assert_non_null(strstr(acc, "b|"));
    weir_delta_snapshot_destroy(s);
    /* v2: the escaped value "/%20%f" must come back verbatim */
    s = load(DAT "/multi_partitioned/delta", 2, NULL);
    acc[0] = 0;
    assert_int_equal(weir_delta_scan(t, s, cols, 2, collect_letters, acc, &err), 0);
    assert_non_null(strstr(acc, "/%20%f|"));
    assert_int_equal(weir_delta_snapshot_num_tombstones(s), 5);
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
}

/* ---------------------------------------------------------------- delta-rs */

struct drs_expect {
    const char *name;
    int64_t version;
    size_t files;
    int reader, writer;
    int64_t checkpoint; /* -1: replayed from JSON only; -2: don't care */
    bool readable;
};

/* Version / file counts / protocol from deltalake 1.6.6 on the same folders. */
static const struct drs_expect drs[] = {
    {"COVID-19_NYT", 0, 8, 1, 2, -1, true},
    {"cdc_ict_table", 3, 2, 1, 7, -1, true},
    {"cdf-table", 3, 9, 1, 4, -1, true},
    {"cdf-table-non-partitioned", 4, 11, 1, 4, -1, true},
    {"cdf-table-with-cdc-and-dvs", 25, 2, 3, 7, -2, false},
    {"checkpoint-cdf-table", 5, 13, 1, 4, 3, true},
    {"checkpoint-v2-table", 9, 8, 3, 7, -2, false},
    {"checkpoint_with_partitions", 2, 2, 1, 2, 2, true},
    {"checkpoints", 12, 12, 1, 2, -1, true},
    {"checkpoints_vacuumed", 12, 12, 1, 2, 10, true},
    {"concurrent_workers", 0, 0, 1, 1, -1, true},
    {"delta-0.2.0", 3, 3, 1, 2, 3, true},
    {"delta-0.8-empty", 1, 0, 1, 2, -1, true},
    {"delta-0.8.0", 1, 2, 1, 2, -1, true},
    {"delta-0.8.0-date", 0, 1, 1, 2, -1, true},
    {"delta-0.8.0-null-partition", 0, 2, 1, 2, -1, true},
    {"delta-0.8.0-numeric-partition", 0, 2, 1, 2, -1, true},
    {"delta-0.8.0-partitioned", 0, 6, 1, 2, -1, true},
    {"delta-0.8.0-special-partition", 0, 2, 1, 2, -1, true},
    {"delta-1.2.1-only-struct-stats", 12, 12, 1, 2, 10, true},
    {"delta-2.2.0-partitioned-types", 0, 3, 1, 2, -1, true},
    {"delta-checkpoint-stats-optional", 2, 2, 1, 2, 2, true},
    {"delta-live-table", 1, 0, 2, 5, -1, true},
    {"delta-stats-optional", 2, 2, 1, 2, -1, true},
    {"http_requests", 1, 2, 1, 1, -1, true},
    {"issue-2152", 0, 0, 1, 6, -1, true},
    {"issue_1374", 1, 2, 1, 1, 1, true},
    {"latest_not_checkpointed", 3, 1, 1, 2, 2, true},
    {"partition-type-primitives", 0, 16, 1, 2, -1, true},
    {"python-0.25.5-checkpoint", 1, 2, 1, 2, 0, true},
    {"simple_commit", 0, 0, 1, 2, -1, true},
    {"simple_table", 4, 5, 1, 2, -1, true},
    {"simple_table_with_cdc", 2, 1, 1, 4, -1, true},
    {"simple_table_with_checkpoint", 10, 11, 1, 2, 10, true},
    {"table-with-domain-metadata", 108, 109, 3, 7, 108, true},
    {"table-with-dv-small", 1, 1, 3, 7, -1, false},
    {"table-without-dv-small", 0, 1, 1, 2, -1, true},
    {"table_failed_last_checkpoint_update", 3, 4, 1, 2, 3, true},
    {"table_with_column_mapping", 0, 2, 2, 5, -1, false},
    {"table_with_deletion_logs", 20, 1, 3, 7, 20, false},
    {"table_with_edge_timestamps", 0, 2, 1, 2, -1, true},
    {"table_with_liquid_clustering", 0, 10, 3, 7, -1, true},
    {"table_with_null_stats_in_notnull_struct", 1, 2, 1, 2, -1, true},
    {"table_with_partitioning_mapping", 4, 2, 3, 7, -2, false},
    {"with_checkpoint_no_last_checkpoint", 3, 1, 1, 2, 2, true},
};

static void test_deltars_tables(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(drs) / sizeof(drs[0]); i++) {
        char path[512];
        snprintf(path, sizeof path, DRS "/%s", drs[i].name);
        struct weir_delta_table *t;
        struct weir_delta_snapshot *s = load(path, -1, &t);
        if (weir_delta_snapshot_version(s) != drs[i].version ||
            weir_delta_snapshot_num_files(s) != drs[i].files)
            fail_msg("%s: version %lld files %zu, expected %lld/%zu", drs[i].name,
                     (long long)weir_delta_snapshot_version(s), weir_delta_snapshot_num_files(s),
                     (long long)drs[i].version, drs[i].files);
        const struct weir_delta_protocol *p = weir_delta_snapshot_protocol(s);
        assert_int_equal(p->min_reader_version, drs[i].reader);
        assert_int_equal(p->min_writer_version, drs[i].writer);
        if (drs[i].checkpoint != -2 && weir_delta_snapshot_checkpoint_version(s) != drs[i].checkpoint)
            fail_msg("%s: started from checkpoint %lld, expected %lld", drs[i].name,
                     (long long)weir_delta_snapshot_checkpoint_version(s), (long long)drs[i].checkpoint);
        struct weir_error err = {0};
        int rc = weir_delta_snapshot_check_read(s, &err);
        if (drs[i].readable != (rc == 0))
            fail_msg("%s: check_read %d (%s)", drs[i].name, rc, err.message);
        /* some testdata tables ship only their _delta_log */
        bool have_data = true;
        for (size_t k = 0; k < weir_delta_snapshot_num_files(s); k++) {
            char fp[1024];
            struct stat st;
            snprintf(fp, sizeof fp, "%s/%s", path, weir_delta_snapshot_file(s, k)->path);
            if (strchr(weir_delta_snapshot_file(s, k)->path, '%') == NULL && stat(fp, &st) != 0)
                have_data = false;
        }
        if (drs[i].readable && have_data) {
            /* where every file has numRecords, the scan must produce exactly that many rows */
            int64_t want = weir_delta_snapshot_total_rows(s);
            int64_t got = scan_count(t, s);
            if (want >= 0 && want != got)
                fail_msg("%s: scanned %lld rows, stats say %lld", drs[i].name, (long long)got,
                         (long long)want);
        }
        weir_delta_snapshot_destroy(s);
        weir_delta_table_destroy(t);
    }
}

static void expect_refused(const char *name, const char *feature)
{
    char path[512];
    snprintf(path, sizeof path, DRS "/%s", name);
    struct weir_delta_table *t = NULL;
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_table_open(&t, path, &err), 0);
    int rc = weir_delta_snapshot_load(t, -1, &s, &err);
    if (rc == 0) {
        rc = weir_delta_scan(t, s, NULL, 0, count_cb, &(int64_t){0}, &err);
        weir_delta_snapshot_destroy(s);
    }
    assert_int_equal(rc, WEIR_EUNSUPPORTED);
    if (!strstr(err.message, feature))
        fail_msg("%s: message '%s' does not name '%s'", name, err.message, feature);
    weir_delta_table_destroy(t);
}

static void test_refuse_unsupported(void **state)
{
    (void)state;
    expect_refused("table-with-dv-small", "reader feature 'deletionVectors'");
    expect_refused("table_with_deletion_logs", "deletionVectors");
    expect_refused("table_with_column_mapping", "columnMapping");
    expect_refused("table_with_partitioning_mapping", "columnMapping");
    expect_refused("checkpoint-v2-table", "reader feature 'v2Checkpoint'");
    expect_refused("simple_table_features", "reader version 5");
    expect_refused("spark-variant-stable-feature-checkpoint", "variant");
}

static void test_time_travel(void **state)
{
    (void)state;
    struct weir_delta_table *t;
    /* checkpoints: 12 commits each adding one file */
    struct weir_delta_snapshot *s = load(DRS "/checkpoints", 5, &t);
    assert_int_equal(weir_delta_snapshot_version(s), 5);
    assert_int_equal(weir_delta_snapshot_num_files(s), 5); /* deltalake: 5 */
    weir_delta_snapshot_destroy(s);
    struct weir_error err = {0};
    assert_int_equal(weir_delta_snapshot_load(t, 13, &s, &err), WEIR_ENOTFOUND);
    assert_non_null(strstr(err.message, "version 13"));
    weir_delta_table_destroy(t);
    /* simple_table_with_checkpoint: version 9 is before the checkpoint at 10 */
    s = load(DRS "/simple_table_with_checkpoint", 9, NULL);
    assert_int_equal(weir_delta_snapshot_checkpoint_version(s), -1);
    assert_int_equal(weir_delta_snapshot_num_files(s), 10);
    weir_delta_snapshot_destroy(s);
}

static void test_history(void **state)
{
    (void)state;
    struct weir_delta_table *t;
    struct weir_delta_history_entry *h;
    size_t n;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_table_open(&t, DAT "/multi_partitioned/delta", &err), 0);
    assert_int_equal(weir_delta_history(t, 0, &h, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(h[0].version, 2);
    assert_int_equal(h[2].version, 0);
    assert_non_null(h[0].commit_info);
    assert_non_null(strstr(h[0].commit_info, "\"Overwrite\""));
    assert_int_equal(h[0].timestamp, 1668830188330LL);
    int64_t v = -1;
    assert_int_equal(weir_delta_version_at_timestamp(t, 1668830186650LL, &v, &err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(weir_delta_version_at_timestamp(t, 1000, &v, &err), WEIR_ENOTFOUND);
    weir_delta_history_free(h, n);
    assert_int_equal(weir_delta_history(t, 1, &h, &n, &err), 0);
    assert_int_equal(n, 1);
    weir_delta_history_free(h, n);
    weir_delta_table_destroy(t);
}

/* ---------------------------------------------------------------- corrupt logs */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void put_file(const char *dir, const char *name, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/_delta_log", dir);
    mkdir(dir, 0755);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/_delta_log/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char V0[] =
    "{\"commitInfo\":{\"timestamp\":1}}\n"
    "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"
    "{\"metaData\":{\"id\":\"x\",\"format\":{\"provider\":\"parquet\",\"options\":{}},\"schemaString\":"
    "\"{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[{\\\"name\\\":\\\"a\\\",\\\"type\\\":\\\"long\\\","
    "\\\"nullable\\\":true,\\\"metadata\\\":{}}]}\",\"partitionColumns\":[],\"configuration\":{}}}\n";

static int expect_load_error(const char *dir, int code, const char *needle)
{
    struct weir_delta_table *t = NULL;
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_table_open(&t, dir, &err), 0);
    int rc = weir_delta_snapshot_load(t, -1, &s, &err);
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
    assert_int_equal(rc, code);
    if (needle && !strstr(err.message, needle))
        fail_msg("message '%s' lacks '%s'", err.message, needle);
    return rc;
}

static void test_corrupt_logs(void **state)
{
    (void)state;
    char dir[] = "/tmp/weir-test-delta-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char t[600];
    /* truncated second commit */
    snprintf(t, sizeof t, "%s/trunc", dir);
    put_file(t, "00000000000000000000.json", V0);
    put_file(t, "00000000000000000001.json", "{\"add\":{\"path\":\"a.parquet\",\"partitionValues\":{},\"si");
    expect_load_error(t, WEIR_ECORRUPT, "_delta_log/00000000000000000001.json line 1");
    /* missing required field */
    snprintf(t, sizeof t, "%s/missing", dir);
    put_file(t, "00000000000000000000.json", V0);
    put_file(t, "00000000000000000001.json",
             "{\"commitInfo\":{}}\n{\"add\":{\"path\":\"a.parquet\",\"partitionValues\":{},\"size\":1,"
             "\"dataChange\":true}}\n");
    expect_load_error(t, WEIR_ECORRUPT, "line 2: add is missing required field 'modificationTime'");
    /* wrong type */
    snprintf(t, sizeof t, "%s/type", dir);
    put_file(t, "00000000000000000000.json", V0);
    put_file(t, "00000000000000000001.json", "{\"txn\":{\"appId\":7,\"version\":1}}\n");
    expect_load_error(t, WEIR_ECORRUPT, "txn.appId must be a string");
    /* gap in versions */
    snprintf(t, sizeof t, "%s/gap", dir);
    put_file(t, "00000000000000000000.json", V0);
    put_file(t, "00000000000000000002.json", "{\"commitInfo\":{}}\n");
    expect_load_error(t, WEIR_ECORRUPT, "00000000000000000001.json");
    /* no protocol */
    snprintf(t, sizeof t, "%s/noproto", dir);
    put_file(t, "00000000000000000000.json", "{\"commitInfo\":{}}\n");
    expect_load_error(t, WEIR_ECORRUPT, "protocol");
    /* garbage bytes, NUL inside a line */
    snprintf(t, sizeof t, "%s/garbage", dir);
    put_file(t, "00000000000000000000.json", "\x01\x02\xff\xfe not json\n");
    expect_load_error(t, WEIR_ECORRUPT, "line 1");
    /* not a table */
    snprintf(t, sizeof t, "%s/empty", dir);
    mkdir(t, 0755);
    expect_load_error(t, WEIR_ENOTFOUND, "not a Delta table");
    /* unknown actions and fields are ignored; blank lines too */
    snprintf(t, sizeof t, "%s/unknown", dir);
    put_file(t, "00000000000000000000.json", V0);
    put_file(
        t, "00000000000000000001.json",
        "{\"futureAction\":{\"x\":1}}\n\n{\"add\":{\"path\":\"a.parquet\",\"partitionValues\":{},\"size\":1,"
        "\"modificationTime\":2,\"dataChange\":true,\"newField\":[1,2]}}\n");
    struct weir_delta_snapshot *s = load(t, -1, NULL);
    assert_int_equal(weir_delta_snapshot_num_files(s), 1);
    assert_string_equal(weir_delta_snapshot_file(s, 0)->path, "a.parquet");
    weir_delta_snapshot_destroy(s);
    /* a corrupt _last_checkpoint is only a hint */
    put_file(t, "_last_checkpoint", "{\"version\":");
    s = load(t, -1, NULL);
    assert_int_equal(weir_delta_snapshot_version(s), 1);
    weir_delta_snapshot_destroy(s);
    put_file(t, "_last_checkpoint", "{\"version\":999,\"size\":3}");
    s = load(t, -1, NULL);
    assert_int_equal(weir_delta_snapshot_version(s), 1);
    weir_delta_snapshot_destroy(s);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---------------------------------------------------------------- actions */

static void test_actions_roundtrip(void **state)
{
    (void)state;
    const char *text =
        "{\"commitInfo\":{\"timestamp\":5,\"isBlindAppend\":true}}\n"
        "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,\"readerFeatures\":[\"timestampNtz\"],"
        "\"writerFeatures\":[\"timestampNtz\"]}}\n"
        "{\"txn\":{\"appId\":\"q\",\"version\":42,\"lastUpdated\":9}}\n"
        "{\"remove\":{\"path\":\"b%20c.parquet\",\"deletionTimestamp\":7,\"dataChange\":true,"
        "\"extendedFileMetadata\":true,\"partitionValues\":{\"p\":null},\"size\":10}}\n"
        "{\"add\":{\"path\":\"x=1/"
        "f.parquet\",\"partitionValues\":{\"x\":\"1\"},\"size\":3,\"modificationTime\":4,"
        "\"dataChange\":true,\"stats\":\"{\\\"numRecords\\\":2}\",\"tags\":{\"k\":\"v\"},\"deletionVector\":{"
        "\"storageType\":\"u\",\"pathOrInlineDv\":\"abc\",\"offset\":1,\"sizeInBytes\":34,\"cardinality\":2}}"
        "}\n"
        "{\"domainMetadata\":{\"domain\":\"d\",\"configuration\":\"{}\",\"removed\":false}}\n";
    struct weir_delta_actions a, b;
    struct weir_error err = {0};
    weir_delta_actions_init(&a);
    weir_delta_actions_init(&b);
    assert_int_equal(weir_delta_actions_parse(text, strlen(text), "t.json", &a, &err), 0);
    assert_true(a.is_blind_append);
    assert_int_equal(a.commit_timestamp, 5);
    assert_int_equal(a.protocol->min_reader_version, 3);
    assert_string_equal(a.protocol->reader_features[0], "timestampNtz");
    assert_int_equal(a.n_txns, 1);
    assert_int_equal(a.txns[0].version, 42);
    assert_int_equal(a.n_removes, 1);
    assert_null(a.removes[0].partition_values[0].value);
    assert_int_equal(a.n_adds, 1);
    assert_true(a.adds[0].has_deletion_vector);
    assert_int_equal(a.adds[0].dv.cardinality, 2);
    assert_string_equal(a.adds[0].stats, "{\"numRecords\":2}");
    assert_int_equal(a.n_domains, 1);
    struct weir_buf out;
    weir_buf_init(&out);
    assert_int_equal(weir_delta_actions_serialize(&a, &out, &err), 0);
    /* commitInfo comes first */
    assert_memory_equal(out.data, "{\"commitInfo\":", 14);
    assert_int_equal(weir_delta_actions_parse((const char *)out.data, out.len, "re.json", &b, &err), 0);
    assert_string_equal(b.adds[0].path, "x=1/f.parquet");
    assert_string_equal(b.adds[0].tags[0].value, "v");
    assert_int_equal(b.adds[0].dv.offset, 1);
    assert_true(b.removes[0].extended_file_metadata);
    assert_int_equal(b.removes[0].size, 10);
    assert_int_equal(b.txns[0].last_updated, 9);
    assert_int_equal(b.protocol->n_writer_features, 1);
    weir_buf_free(&out);
    weir_delta_actions_free(&a);
    weir_delta_actions_free(&b);
    /* two metaData in one commit is illegal */
    const char *two = "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"
                      "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n";
    weir_delta_actions_init(&a);
    assert_int_equal(weir_delta_actions_parse(two, strlen(two), "two.json", &a, &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "two.json line 2"));
    weir_delta_actions_free(&a);
}

/* ---------------------------------------------------------------- helpers */

static void test_parse_interval(void **state)
{
    (void)state;
    int64_t ms = 0;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_parse_interval("interval 30 days", &ms, &err), 0);
    assert_int_equal(ms, 30LL * 86400000);
    assert_int_equal(weir_delta_parse_interval("1 week", &ms, &err), 0);
    assert_int_equal(ms, 604800000LL);
    assert_int_equal(weir_delta_parse_interval("INTERVAL 2 HOURS", &ms, &err), 0);
    assert_int_equal(ms, 7200000LL);
    assert_int_equal(weir_delta_parse_interval("interval 1 second", &ms, &err), 0);
    assert_int_equal(ms, 1000);
    assert_int_equal(weir_delta_parse_interval("5000 microseconds", &ms, &err), 0);
    assert_int_equal(ms, 5);
    assert_int_equal(weir_delta_parse_interval("30 fortnights", &ms, &err), WEIR_EPARSE);
    assert_non_null(strstr(err.message, "fortnights"));
    weir_error_clear(&err);
    assert_int_equal(weir_delta_parse_interval("days", &ms, &err), WEIR_EPARSE);
}

static char *fmt_value(struct weir_type *t, const char *in)
{
    struct weir_type *st = weir_type_struct();
    weir_type_struct_add(st, "c", t, true, NULL);
    struct weir_batch *b = weir_batch_create(st);
    struct weir_error err = {0};
    if (weir_delta_partition_value_append(&b->columns[0], in, &err))
        fail_msg("parse '%s': %s", in, err.message);
    char *out = NULL;
    assert_int_equal(weir_delta_partition_value_format(&b->columns[0], 0, &out, &err), 0);
    weir_batch_destroy(b);
    weir_type_destroy(st);
    return out;
}

static void check_fmt(struct weir_type *t, const char *in, const char *want)
{
    char *got = fmt_value(t, in);
    if (want == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("'%s' formatted as '%s', want '%s'", in, got, want);
    weir_free(got);
}

static void test_partition_values(void **state)
{
    (void)state;
    check_fmt(weir_type_primitive(WEIR_TYPE_LONG), "-42", "-42");
    check_fmt(weir_type_primitive(WEIR_TYPE_BYTE), "127", "127");
    check_fmt(weir_type_primitive(WEIR_TYPE_DOUBLE), "1.5", "1.5");
    check_fmt(weir_type_primitive(WEIR_TYPE_DOUBLE), "0", "0.0");
    check_fmt(weir_type_primitive(WEIR_TYPE_DOUBLE), "1.7976931348623157E308", "1.7976931348623157E308");
    check_fmt(weir_type_primitive(WEIR_TYPE_DOUBLE), "1e7", "1.0E7");
    check_fmt(weir_type_primitive(WEIR_TYPE_DOUBLE), "0.001", "0.001");
    check_fmt(weir_type_primitive(WEIR_TYPE_DOUBLE), "0.0001", "1.0E-4");
    check_fmt(weir_type_primitive(WEIR_TYPE_DOUBLE), "NaN", "NaN");
    check_fmt(weir_type_primitive(WEIR_TYPE_DOUBLE), "-Infinity", "-Infinity");
    check_fmt(weir_type_primitive(WEIR_TYPE_FLOAT), "0.1", "0.1");
    check_fmt(weir_type_primitive(WEIR_TYPE_BOOLEAN), "TRUE", "true");
    check_fmt(weir_type_primitive(WEIR_TYPE_DATE), "2021-02-28", "2021-02-28");
    check_fmt(weir_type_primitive(WEIR_TYPE_DATE), "1900-03-01", "1900-03-01");
    check_fmt(weir_type_primitive(WEIR_TYPE_TIMESTAMP), "2020-01-01 08:09:10.001",
              "2020-01-01T08:09:10.001000Z");
    check_fmt(weir_type_primitive(WEIR_TYPE_TIMESTAMP), "1970-01-01T00:00:00.123456Z",
              "1970-01-01T00:00:00.123456Z");
    check_fmt(weir_type_primitive(WEIR_TYPE_TIMESTAMP), "1969-12-31T23:00:00-01:00",
              "1970-01-01T00:00:00.000000Z");
    check_fmt(weir_type_primitive(WEIR_TYPE_TIMESTAMP_NTZ), "2013-07-05 17:01:00.123456",
              "2013-07-05 17:01:00.123456");
    check_fmt(weir_type_decimal(38, 18), "1.23", "1.230000000000000000");
    check_fmt(weir_type_decimal(5, 2), "-0.5", "-0.50");
    check_fmt(weir_type_primitive(WEIR_TYPE_STRING), "a}b", "a}b");
    check_fmt(weir_type_primitive(WEIR_TYPE_STRING), NULL, NULL);
    check_fmt(weir_type_primitive(WEIR_TYPE_LONG), NULL, NULL);
    /* bad values name themselves */
    struct weir_type *st = weir_type_struct();
    weir_type_struct_add(st, "c", weir_type_primitive(WEIR_TYPE_INTEGER), true, NULL);
    struct weir_batch *b = weir_batch_create(st);
    struct weir_error err = {0};
    assert_int_equal(weir_delta_partition_value_append(&b->columns[0], "12x", &err), WEIR_EPARSE);
    assert_non_null(strstr(err.message, "'12x'"));
    weir_error_clear(&err);
    assert_int_equal(weir_delta_partition_value_append(&b->columns[0], "3000000000", &err), WEIR_EPARSE);
    weir_batch_destroy(b);
    weir_type_destroy(st);
}

/* Fail each allocation in turn: parse and snapshot load must return
 * WEIR_ENOMEM (or succeed) and free everything (LeakSanitizer in the ASan
 * build checks the freeing). */
static void test_alloc_failures(void **state)
{
    (void)state;
    const char *text =
        "{\"commitInfo\":{\"timestamp\":5}}\n"
        "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,\"readerFeatures\":[\"a\"],"
        "\"writerFeatures\":[\"a\",\"b\"]}}\n"
        "{\"txn\":{\"appId\":\"q\",\"version\":1}}\n"
        "{\"add\":{\"path\":\"p=1/f\",\"partitionValues\":{\"p\":\"1\"},\"size\":3,"
        "\"modificationTime\":4,\"dataChange\":true,\"tags\":{\"k\":\"v\"}}}\n";
    bool ok = false;
    for (long n = 0; n < 500 && !ok; n++) {
        struct weir_delta_actions a;
        struct weir_error err = {0};
        weir_delta_actions_init(&a);
        weir_alloc_fail_after(n);
        int rc = weir_delta_actions_parse(text, strlen(text), "f.json", &a, &err);
        weir_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == WEIR_ENOMEM);
        ok = rc == 0;
        weir_delta_actions_free(&a);
    }
    assert_true(ok);
    ok = false;
    struct weir_delta_table *t = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_table_open(&t, DAT "/multi_partitioned/delta", &err), 0);
    long n;
    for (n = 0; n < 20000 && !ok; n++) {
        struct weir_delta_snapshot *s = NULL;
        weir_error_clear(&err);
        weir_alloc_fail_after(n);
        int rc = weir_delta_snapshot_load(t, -1, &s, &err);
        weir_alloc_fail_after(-1);
        if (rc != 0 && rc != WEIR_ENOMEM)
            fail_msg("allocation %ld: rc %d (%s)", n, rc, err.message);
        ok = rc == 0;
        if (ok)
            assert_int_equal(weir_delta_snapshot_num_files(s), 2);
        weir_delta_snapshot_destroy(s);
    }
    assert_true(ok);
    assert_true(n > 10); /* the loop really did fail allocations */
    weir_delta_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dat_tables),     cmocka_unit_test(test_dat_partition_values),
        cmocka_unit_test(test_deltars_tables), cmocka_unit_test(test_refuse_unsupported),
        cmocka_unit_test(test_time_travel),    cmocka_unit_test(test_history),
        cmocka_unit_test(test_corrupt_logs),   cmocka_unit_test(test_actions_roundtrip),
        cmocka_unit_test(test_parse_interval), cmocka_unit_test(test_partition_values),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
