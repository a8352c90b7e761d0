/* tests/unit/test_sink_cdc.c - the change-data sink (sinks/cdc.c) driven
 * directly: batches of changes whose rows are shuffled (several changes of
 * one key per batch, out of sequence order, deletes and re-inserts) are
 * applied with scd_type 1; the table must equal a model that applies each
 * key's changes in sequence order, and replaying old changes must change
 * nothing, and the key -> file index must find every file read. Two sinks run at once on two threads, as two
 * pipelines of one process do: ordering a batch's changes must not depend on anything the other pipeline
 * touches. Each test has its own temp directory. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
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
#include "sinks/sink.h"
#include "state/store.h"
#include "stream/config.h"
#include "test_util.h"

#define KEYS    5000
#define BATCHES 12
#define PER_KEY 24 /* changes per key and batch */

static int setup(void **state)
{
    return tmp_fixture_setup(state, "sinkcdc", "w");
}

struct run {
    char dir[512];
    unsigned seed;
    int64_t model[KEYS]; /* per key: the value of the last change, -1: absent */
    int64_t stale;
    char failure[1400];
};

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One batch: PER_KEY changes of every key, rows shuffled; the model takes
 * them in sequence order. Sequences rise across batches. When replay, the
 * batch holds only changes older than what was applied (all stale). */
static struct weir_batch *make_batch(struct run *r, uint64_t *s, int b, bool replay)
{
    struct weir_type *sch = ddl_schema("id LONG, seq LONG, op STRING, v LONG");
    struct weir_batch *out = weir_batch_create(sch);
    weir_type_destroy(sch);
    size_t n = (size_t)KEYS * PER_KEY;
    int64_t *seq = malloc(n * sizeof *seq), *val = malloc(n * sizeof *val);
    int *key = malloc(n * sizeof *key), *del = malloc(n * sizeof *del);
    size_t *perm = malloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++) {
        key[i] = (int)(i / PER_KEY);
        seq[i] = (replay ? 0 : (int64_t)(b + 1) * 1000000) + (int64_t)(i % PER_KEY) * 10 + 1;
        del[i] = rnd(s) % 4 == 0;
        val[i] = (int64_t)(rnd(s) % 1000000);
        perm[i] = i;
    }
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = rnd(s) % (i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = perm[k];
        assert_int_equal(weir_column_append_i64(&out->columns[0], key[i]), 0);
        assert_int_equal(weir_column_append_i64(&out->columns[1], seq[i]), 0);
        assert_int_equal(weir_column_append_bytes(&out->columns[2], del[i] ? "d" : "u", 1), 0);
        assert_int_equal(weir_column_append_i64(&out->columns[3], val[i]), 0);
    }
    assert_int_equal(weir_batch_finish_rows(out), 0);
    if (!replay) /* in sequence order: i % PER_KEY rises with seq */
        for (size_t i = 0; i < n; i++)
            r->model[key[i]] = del[i] ? -1 : val[i];
    free(seq);
    free(val);
    free(key);
    free(del);
    free(perm);
    return out;
}

static int scan_cb(void *ctx, const struct weir_batch *b, const struct weir_delta_add *f,
                   struct weir_error *err)
{
    int64_t *got = ctx;
    (void)f;
    (void)err;
    for (size_t i = 0; i < b->nrows; i++) {
        int64_t id = weir_column_i64(&b->columns[0], i);
        if (id < 0 || id >= KEYS || got[id] != -1)
            return 1;                                 /* unknown or twice */
        got[id] = weir_column_i64(&b->columns[2], i); /* id, seq, v */
    }
    return 0;
}

#define CHECK(cond, ...)                                          \
    do {                                                          \
        if (!(cond)) {                                            \
            snprintf(r->failure, sizeof r->failure, __VA_ARGS__); \
            goto done;                                            \
        }                                                         \
    } while (0)

static void *run_pipeline(void *arg)
{
    struct run *r = arg;
    struct weir_config *cfg = NULL;
    struct weir_state *st = NULL;
    struct weir_sink *sink = NULL;
    struct weir_delta_table *t = NULL;
    struct weir_delta_snapshot *snap = NULL;
    struct weir_error err = {0};
    struct weir_error_list errs = {0};
    uint64_t s = r->seed;
    char json[2048], state_dir[600], table[600];
    snprintf(state_dir, sizeof state_dir, "%s/state", r->dir);
    snprintf(table, sizeof table, "%s/table", r->dir);
    snprintf(json, sizeof json,
             "{\"pipelines\":[{\"name\":\"p\",\"checkpoint\":\"%s/ckpt\",\"source\":{\"datagen\":{\"schema\":"
             "\"id LONG\"}},\"sink\":{\"delta\":{\"path\":\"%s\",\"mode\":\"merge\",\"keys\":[\"id\"],"
             "\"sequence_by\":[\"seq\"],\"apply_as_deletes\":\"op = 'd'\",\"except_columns\":[\"op\"]}}}]}",
             r->dir, table);
    CHECK(weir_config_parse(json, strlen(json), "test", &cfg, &errs) == 0, "config refused");
    CHECK(weir_state_open(state_dir, -1, NULL, &st, &err) == 0, "state: %s", err.message);
    CHECK(weir_sink_create(&cfg->pipelines[0], &sink, &err) == 0, "sink: %s", err.message);
    sink->state = st;
    sink->query_id = "test-query";
    for (int b = 0; b < BATCHES + 2; b++) {
        bool replay = b >= BATCHES; /* the last two batches resend old changes */
        struct weir_batch *batch = make_batch(r, &s, b, replay);
        struct weir_sink_result res;
        bool already = false;
        int rc = sink->ops->begin(sink, b, batch->schema, &already, &err);
        if (rc == 0)
            rc = sink->ops->write(sink, batch, &err);
        if (rc == 0)
            rc = sink->ops->commit(sink, &res, &err);
        weir_batch_destroy(batch);
        CHECK(rc == 0, "batch %d: %s", b, err.message);
        CHECK(weir_state_commit(st, b, &err) == 0, "state commit %d: %s", b, err.message);
        r->stale += res.stale;
        CHECK(!replay || (res.inserted == 0 && res.updated == 0 && res.deleted == 0),
              "replayed batch %d changed the table", b);
        /* every key the table may hold is in the state with its group: the
         * key index finds every file to read, the stats search never runs */
        CHECK(b == 0 || replay || (res.files_read > 0 && res.files_by_index == res.files_read),
              "batch %d: %lld files read, %lld of them by the key index", b, (long long)res.files_read,
              (long long)res.files_by_index);
    }
    int64_t got[KEYS];
    for (int k = 0; k < KEYS; k++)
        got[k] = -1;
    CHECK(weir_delta_table_open(&t, table, &err) == 0, "open: %s", err.message);
    CHECK(weir_delta_snapshot_load(t, -1, &snap, &err) == 0 &&
              weir_delta_scan(t, snap, NULL, 0, scan_cb, got, &err) == 0,
          "scan: %s", err.message);
    for (int k = 0; k < KEYS; k++)
        CHECK(got[k] == r->model[k], "key %d: table %lld, model %lld", k, (long long)got[k],
              (long long)r->model[k]);
done:
    weir_delta_snapshot_destroy(snap);
    weir_delta_table_destroy(t);
    weir_sink_destroy(sink);
    weir_state_close(st);
    weir_config_destroy(cfg);
    weir_error_list_free(&errs);
    return NULL;
}

/* Three rounds: the old fault (a comparator reading the other thread's
 * sequences) showed in about two runs of three. */
static void test_two_pipelines_at_once_order_changes_by_sequence(void **state)
{
    struct tmp_fixture *fx = *state;
    assert_int_equal(mkdir(fx->path, 0755) == 0 || errno == EEXIST, 1);
    for (int round = 0; round < 3; round++) {
        struct run runs[2] = {{.seed = 12345u + (unsigned)round}, {.seed = 67890u + (unsigned)round}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            snprintf(runs[i].dir, sizeof runs[i].dir, "%s/r%d-p%d", fx->path, round, i);
            assert_int_equal(mkdir(runs[i].dir, 0755), 0);
            for (int k = 0; k < KEYS; k++)
                runs[i].model[k] = -1;
        }
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&th[i], NULL, run_pipeline, &runs[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        for (int i = 0; i < 2; i++) {
            if (runs[i].failure[0])
                fail_msg("round %d, pipeline %d: %s", round, i, runs[i].failure);
            /* the two replayed batches: every change stale */
            assert_int_equal(runs[i].stale, 2 * KEYS * PER_KEY);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_pipelines_at_once_order_changes_by_sequence, setup,
                                        tmp_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
