/* tests/unit/test_stream_query.c - the micro-batch loop (stream/query.h)
 * on the datagen source into a real Delta table: --available-now batching
 * and the txn per batch, a restart that finds nothing to do, a batch
 * planned but not committed is rerun with its recorded offsets and skipped
 * by the sink when the table already has it, a reset marker planned but
 * not committed is completed (its state version and commit) without
 * reading anything, stop() from another thread
 * ends an interval trigger cleanly, and a fatal sink error ends the query
 * with the sink's message. (Kafka pipelines and crashes of the real binary
 * are in tests/integration.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "delta/delta.h"
#include "stream/checkpoint.h"
#include "stream/config.h"
#include "state/store.h"
#include "stream/query.h"
#include "test_util.h"

struct env {
    char dir[64];
    char cfg_text[2048];
    struct weir_config *cfg;
};

static void load(struct env *e, const char *fmt_extra_source, const char *trigger)
{
    weir_config_destroy(e->cfg);
    e->cfg = NULL;
    snprintf(e->cfg_text, sizeof e->cfg_text,
             "{\"pipelines\":[{\"name\":\"q\",\"checkpoint\":\"%s/ckpt\",%s"
             "\"source\":{\"datagen\":{\"schema\":\"id LONG, s STRING\",\"seed\":3%s}},"
             "\"sink\":{\"delta\":{\"path\":\"%s/table\"}}}]}",
             e->dir, trigger, fmt_extra_source, e->dir);
    struct weir_error_list errs;
    weir_error_list_init(&errs);
    int rc = weir_config_parse(e->cfg_text, strlen(e->cfg_text), "test", &e->cfg, &errs);
    if (rc)
        fail_msg("config: %s", errs.n ? errs.items[0].message : "?");
    weir_error_list_free(&errs);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_true(tmpdir_create(e->dir, sizeof e->dir, "query"));
    weir_log_set_level(WEIR_LOG_WARN);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    weir_config_destroy(e->cfg);
    tmpdir_remove(e->dir);
    free(e);
    return 0;
}

static int run_query(struct env *e, int trigger, int64_t *batches, struct weir_error *err)
{
    struct weir_query *q = NULL;
    assert_int_equal(weir_query_create(&e->cfg->pipelines[0], trigger, &q, err), 0);
    int rc = weir_query_run(q, err);
    if (batches)
        *batches = weir_query_batches_done(q);
    weir_query_destroy(q);
    return rc;
}

/* Rows and the txn version of the table; asserts ids 0..rows-1 once each. */
static int64_t table_rows(struct env *e, int64_t *txn)
{
    char path[128];
    snprintf(path, sizeof path, "%s/table", e->dir);
    struct weir_delta_table *t = NULL;
    struct weir_delta_snapshot *s = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_delta_table_open(&t, path, &err), 0);
    assert_int_equal(weir_delta_snapshot_load(t, -1, &s, &err), 0);
    int64_t rows = weir_delta_snapshot_total_rows(s);
    *txn = -1;
    if (weir_delta_snapshot_num_txns(s) == 1)
        *txn = weir_delta_snapshot_txn(s, 0)->version;
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
    return rows;
}

static void test_available_now_and_restart(void **state)
{
    struct env *e = *state;
    struct weir_error err = {0};
    int64_t batches, txn;
    load(e, ",\"max_rows\":2500,\"max_rows_per_trigger\":1000", "");
    assert_int_equal(run_query(e, WEIR_TRIGGER_AVAILABLE_NOW, &batches, &err), 0);
    assert_int_equal(batches, 3);
    assert_int_equal(table_rows(e, &txn), 2500);
    assert_int_equal(txn, 2);
    /* nothing new */
    assert_int_equal(run_query(e, WEIR_TRIGGER_AVAILABLE_NOW, &batches, &err), 0);
    assert_int_equal(batches, 0);
    /* once: one batch of the new rows */
    load(e, ",\"max_rows\":4000,\"max_rows_per_trigger\":1000", "");
    assert_int_equal(run_query(e, WEIR_TRIGGER_ONCE, &batches, &err), 0);
    assert_int_equal(batches, 1);
    assert_int_equal(table_rows(e, &txn), 3500);
    assert_int_equal(txn, 3);
}

static void test_uncommitted_batch_is_rerun_and_skipped(void **state)
{
    struct env *e = *state;
    struct weir_error err = {0};
    int64_t batches, txn;
    char ck[128];
    load(e, ",\"max_rows\":2000,\"max_rows_per_trigger\":1000", "");
    assert_int_equal(run_query(e, WEIR_TRIGGER_AVAILABLE_NOW, &batches, &err), 0);
    assert_int_equal(table_rows(e, &txn), 2000);
    /* lose commits/1: as if the process died between the Delta commit and commits/1 */
    snprintf(ck, sizeof ck, "%s/ckpt/commits/1", e->dir);
    assert_int_equal(unlink(ck), 0);
    assert_int_equal(run_query(e, WEIR_TRIGGER_AVAILABLE_NOW, &batches, &err), 0);
    assert_int_equal(batches, 1); /* batch 1 again, skipped by the sink */
    assert_int_equal(table_rows(e, &txn), 2000);
    assert_int_equal(txn, 1);
    struct weir_checkpoint *cp = NULL;
    snprintf(ck, sizeof ck, "%s/ckpt", e->dir);
    assert_int_equal(weir_checkpoint_open(ck, "q", NULL, &cp, &err), 0);
    assert_int_equal(weir_checkpoint_last_commit(cp), 1);
    weir_checkpoint_close(cp);
}

/* `weir checkpoint reset-offsets` interrupted after writing its marker
 * batch's offsets: the next start commits the marker (making its state
 * version) and the next batch reads from the marker's positions; the
 * marker itself never reaches the table. */
static void test_pending_reset_marker_is_completed(void **state)
{
    struct env *e = *state;
    struct weir_error err = {0};
    int64_t batches, txn;
    const char *dedup = "\"transform\":[{\"dedup\":{\"keys\":[\"id\"],\"unbounded\":true}}],";
    load(e, ",\"max_rows\":2000,\"max_rows_per_trigger\":1000", dedup);
    assert_int_equal(run_query(e, WEIR_TRIGGER_AVAILABLE_NOW, &batches, &err), 0);
    assert_int_equal(batches, 2);
    char ck[128], sdir[160];
    snprintf(ck, sizeof ck, "%s/ckpt", e->dir);
    snprintf(sdir, sizeof sdir, "%s/ckpt/state", e->dir);
    struct weir_checkpoint *cp = NULL;
    assert_int_equal(weir_checkpoint_open(ck, "q", NULL, &cp, &err), 0);
    char *src = "{\"rows\":3000}"; /* skips rows 2000..2999 */
    struct weir_offset_entry m = {
        .batch_timestamp_ms = 1700000000000, .sources = &src, .nsources = 1, .reset = "source 0: offsets"};
    assert_int_equal(weir_checkpoint_write_offsets(cp, 2, &m, &err), 0);
    weir_checkpoint_close(cp);

    load(e, ",\"max_rows\":4000,\"max_rows_per_trigger\":1000", dedup);
    assert_int_equal(run_query(e, WEIR_TRIGGER_ONCE, &batches, &err), 0);
    assert_int_equal(batches, 1); /* the marker is no batch of its own */
    assert_int_equal(table_rows(e, &txn), 3000);
    assert_int_equal(txn, 3);
    cp = NULL;
    assert_int_equal(weir_checkpoint_open(ck, "q", NULL, &cp, &err), 0);
    assert_int_equal(weir_checkpoint_last_commit(cp), 3);
    struct weir_offset_entry back = {0};
    assert_int_equal(weir_checkpoint_read_offsets(cp, 2, &back, &err), 0);
    assert_string_equal(back.reset, "source 0: offsets");
    weir_offset_entry_clear(&back);
    weir_checkpoint_close(cp);
    int64_t *v = NULL;
    size_t nv = 0;
    assert_int_equal(weir_state_list_versions(sdir, NULL, &v, &nv, &err), 0);
    assert_int_equal(nv, 4); /* 0, 1, the marker's 2, and 3 */
    assert_int_equal(v[2], 2);
    weir_free(v);
}

static void *stopper(void *arg)
{
    usleep(600 * 1000);
    weir_query_stop(arg);
    return NULL;
}

static void test_stop_ends_interval_trigger(void **state)
{
    struct env *e = *state;
    struct weir_error err = {0};
    int64_t txn;
    load(e, ",\"rows_per_second\":10000", "\"trigger\":{\"interval\":\"100ms\"},");
    struct weir_query *q = NULL;
    assert_int_equal(weir_query_create(&e->cfg->pipelines[0], -1, &q, &err), 0);
    pthread_t th;
    pthread_create(&th, NULL, stopper, q);
    assert_int_equal(weir_query_run(q, &err), 0);
    pthread_join(th, NULL);
    int64_t batches = weir_query_batches_done(q);
    assert_true(batches >= 1);
    char *prog = weir_query_last_progress(q);
    assert_non_null(prog);
    assert_non_null(strstr(prog, "\"name\":\"q\""));
    assert_non_null(strstr(prog, "\"durationMs\":{\"latestOffset\""));
    weir_free(prog);
    weir_query_destroy(q);
    int64_t rows = table_rows(e, &txn);
    assert_true(rows > 0);
    assert_int_equal(txn, batches - 1);
}

static void test_fatal_sink_error_ends_query(void **state)
{
    struct env *e = *state;
    struct weir_error err = {0};
    /* a table whose 'id' is a string: the long ids cannot go in */
    char path[128];
    snprintf(path, sizeof path, "%s/table", e->dir);
    struct weir_delta_table *t = NULL;
    struct weir_type *schema = NULL;
    assert_int_equal(weir_delta_table_open(&t, path, &err), 0);
    assert_int_equal(weir_schema_from_ddl("id STRING", &schema, &err), 0);
    struct weir_batch *b = weir_batch_create(schema);
    assert_int_equal(weir_column_append_bytes(&b->columns[0], "x", 1), 0);
    assert_int_equal(weir_batch_finish_rows(b), 0);
    const struct weir_batch *bs[] = {b};
    assert_int_equal(weir_delta_write(t, bs, 1, NULL, NULL, &err), 0);
    weir_batch_destroy(b);
    weir_type_destroy(schema);
    weir_delta_table_destroy(t);
    load(e, ",\"max_rows\":10", "");
    int rc = run_query(e, WEIR_TRIGGER_AVAILABLE_NOW, NULL, &err);
    assert_int_equal(rc, WEIR_ESCHEMA);
    assert_false(err.retriable);
    assert_non_null(strstr(err.message, "'id'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_available_now_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_batch_is_rerun_and_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_reset_marker_is_completed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_ends_interval_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fatal_sink_error_ends_query, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
