/* tests/unit/test_state_store.c - state/store: versions made per batch,
 * restore on open and on abort, newer versions dropped, operator metadata
 * checks, purge, reads (point, multi, ranges) and deletes, expiring
 * entries dropped by compactions (only past the horizon, only of their
 * tag and operator, across a reopen of live/), and listing the versions
 * without opening the store (locally and on a replica store), with a copy
 * of a version made by opening at it and committing another. */
#include "test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "state/store.h"
#include "storage/storage.h"

static int setup(void **state)
{
    char *dir = weir_malloc(256);
    if (!dir || !tmpdir_create(dir, 256, "state"))
        return -1;
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    tmpdir_remove(*state);
    weir_free(*state);
    return 0;
}

static struct weir_state *open_at(const char *dir, int64_t last_commit)
{
    struct weir_state *st = NULL;
    struct weir_error err = {0};
    if (weir_state_open(dir, last_commit, NULL, &st, &err) != 0)
        fail_msg("open at %lld: %s", (long long)last_commit, err.message);
    return st;
}

static struct weir_state_op *op_of(struct weir_state *st, const char *name, const char *meta)
{
    struct weir_state_op *op = NULL;
    struct weir_error err = {0};
    if (weir_state_operator(st, name, meta, NULL, &op, &err) != 0)
        fail_msg("operator %s: %s", name, err.message);
    return op;
}

/* value of key k, or NULL (static buffer) */
static const char *get(struct weir_state_op *op, const char *k)
{
    static char out[256];
    struct weir_buf v;
    struct weir_error err = {0};
    bool found = false;
    weir_buf_init(&v);
    assert_int_equal(weir_state_get(op, k, strlen(k), &v, &found, &err), 0);
    if (!found) {
        weir_buf_free(&v);
        return NULL;
    }
    snprintf(out, sizeof out, "%.*s", (int)v.len, (const char *)v.data);
    weir_buf_free(&v);
    return out;
}

static void put(struct weir_state_op *op, const char *k, const char *v)
{
    assert_int_equal(weir_state_put(op, k, strlen(k), v, strlen(v)), 0);
}

static bool exists(const char *dir, const char *sub)
{
    char p[512];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    return stat(p, &sb) == 0;
}

/* Version N is the state after batch N; opening at the last committed
 * batch restores it and drops versions of batches that never committed. */
static void test_versions_and_recovery(void **state)
{
    const char *dir = *state;
    struct weir_error err = {0};
    struct weir_state *st = open_at(dir, -1);
    assert_int_equal(weir_state_version(st), -1);
    struct weir_state_op *op = op_of(st, "dedup", "{\"kind\":\"dedup\"}");
    put(op, "a", "1");
    put(op, "b", "1");
    assert_null(get(op, "a")); /* not applied yet */
    assert_int_equal(weir_state_apply(st, &err), 0);
    assert_string_equal(get(op, "a"), "1");
    assert_int_equal(weir_state_commit(st, 0, &err), 0);
    assert_true(exists(dir, "v/0"));

    put(op, "c", "2");
    assert_int_equal(weir_state_delete(op, "a", 1), 0);
    assert_int_equal(weir_state_commit(st, 1, &err), 0);
    put(op, "d", "3");
    assert_int_equal(weir_state_commit(st, 2, &err), 0); /* commits/2 never written */
    weir_state_close(st);

    /* the checkpoint says batch 1 is the last committed */
    st = open_at(dir, 1);
    assert_int_equal(weir_state_version(st), 1);
    assert_false(exists(dir, "v/2"));
    op = op_of(st, "dedup", "{\"kind\":\"dedup\"}");
    assert_null(get(op, "a"));
    assert_string_equal(get(op, "b"), "1");
    assert_string_equal(get(op, "c"), "2");
    assert_null(get(op, "d"));

    /* a failed batch: applied writes are undone */
    put(op, "e", "4");
    assert_int_equal(weir_state_delete(op, "b", 1), 0);
    assert_int_equal(weir_state_apply(st, &err), 0);
    assert_string_equal(get(op, "e"), "4");
    assert_int_equal(weir_state_abort(st, &err), 0);
    assert_null(get(op, "e"));
    assert_string_equal(get(op, "b"), "1");
    assert_int_equal(weir_state_version(st), 1);

    /* purge keeps the current version and newer */
    assert_int_equal(weir_state_commit(st, 2, &err), 0);
    assert_int_equal(weir_state_commit(st, 3, &err), 0);
    assert_int_equal(weir_state_purge(st, 2, &err), 0);
    assert_false(exists(dir, "v/0"));
    assert_false(exists(dir, "v/1"));
    assert_true(exists(dir, "v/2"));
    assert_true(exists(dir, "v/3"));
    weir_state_close(st);

    /* a version missing for the last committed batch is refused */
    st = NULL;
    assert_int_equal(weir_state_open(dir, 7, NULL, &st, &err), WEIR_ECORRUPT);
    assert_null(st);
    assert_non_null(strstr(err.message, "committed batch 7"));
    assert_non_null(strstr(err.message, "new checkpoint"));
}

/* A crash leaves a half-made version (.tmp-N) and a live/ that is not
 * trusted: open rebuilds from the version. */
static void test_torn_version_and_dirty_live(void **state)
{
    const char *dir = *state;
    struct weir_error err = {0};
    struct weir_state *st = open_at(dir, -1);
    struct weir_state_op *op = op_of(st, "agg", "m1");
    put(op, "k", "v0");
    assert_int_equal(weir_state_commit(st, 0, &err), 0);
    put(op, "k", "v1");
    assert_int_equal(weir_state_apply(st, &err), 0);
    weir_state_close(st); /* as if killed: live/ has v1 applied */
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/v/.tmp-1", dir);
    assert_int_equal(mkdir(tmp, 0755), 0);
    st = open_at(dir, 0);
    assert_false(exists(dir, "v/.tmp-1"));
    op = op_of(st, "agg", "m1");
    assert_string_equal(get(op, "k"), "v0");
    weir_state_close(st);
}

static int compat_only_growth(const char *stored, const char *current, struct weir_error *err)
{
    /* test rule: the new text must extend the old */
    if (strncmp(stored, current, strlen(stored)) == 0)
        return 0;
    return weir_error_set(err, WEIR_ESCHEMA, "was %s, now %s", stored, current);
}

static void test_operator_metadata(void **state)
{
    const char *dir = *state;
    struct weir_error err = {0};
    struct weir_state *st = open_at(dir, -1);
    struct weir_state_op *a = op_of(st, "a", "count");
    struct weir_state_op *dup = NULL;
    assert_int_equal(weir_state_operator(st, "a", "count", NULL, &dup, &err), WEIR_EEXISTS);
    weir_error_clear(&err);
    (void)a;
    assert_int_equal(weir_state_commit(st, 0, &err), 0);
    weir_state_close(st);

    st = open_at(dir, 0);
    struct weir_state_op *op = NULL;
    /* without a check: any change refused, naming the operator */
    assert_int_equal(weir_state_operator(st, "a", "sum", NULL, &op, &err), WEIR_ESCHEMA);
    assert_non_null(strstr(err.message, "operator 'a'"));
    assert_non_null(strstr(err.message, "count"));
    weir_error_clear(&err);
    /* with the step's check */
    assert_int_equal(weir_state_operator(st, "a", "sum", compat_only_growth, &op, &err), WEIR_ESCHEMA);
    assert_non_null(strstr(err.message, "was count, now sum"));
    weir_error_clear(&err);
    assert_int_equal(weir_state_operator(st, "a", "count,sum", compat_only_growth, &op, &err), 0);
    assert_int_equal(weir_state_commit(st, 1, &err), 0);
    weir_state_close(st);
    /* the new metadata was stored with version 1, not with version 0 */
    st = open_at(dir, 1);
    assert_int_equal(weir_state_operator(st, "a", "count,sum", NULL, &op, &err), 0);
    weir_state_close(st);
}

static void test_reads_ranges_and_stats(void **state)
{
    const char *dir = *state;
    struct weir_error err = {0};
    struct weir_state *st = open_at(dir, -1);
    struct weir_state_op *op = op_of(st, "w", "x");
    char k[32], v[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof k, "k%04d", i);
        snprintf(v, sizeof v, "v%d", i);
        put(op, k, v);
    }
    assert_int_equal(weir_state_apply(st, &err), 0);
    assert_int_equal(weir_state_delete_range(op, "k0100", 5, "k0900", 5), 0);
    assert_int_equal(weir_state_apply(st, &err), 0);

    const char *keys[4] = {"k0000", "k0500", "k0999", "nope"};
    size_t kl[4] = {5, 5, 5, 4};
    bool found[4];
    struct weir_buf vals[4];
    for (int i = 0; i < 4; i++)
        weir_buf_init(&vals[i]);
    assert_int_equal(weir_state_multi_get(op, 4, keys, kl, found, vals, &err), 0);
    assert_true(found[0] && !found[1] && found[2] && !found[3]);
    assert_memory_equal(vals[2].data, "v999", 4);
    for (int i = 0; i < 4; i++)
        weir_buf_free(&vals[i]);

    struct weir_state_iter *it = NULL;
    assert_int_equal(weir_state_iter_create(op, "k0050", 5, "k0950", 5, &it, &err), 0);
    int n = 0;
    char prev[32] = "";
    for (; weir_state_iter_valid(it); weir_state_iter_next(it)) {
        size_t kn;
        const char *key = weir_state_iter_key(it, &kn);
        snprintf(k, sizeof k, "%.*s", (int)kn, key);
        assert_true(strcmp(prev, k) < 0);
        strcpy(prev, k);
        n++;
    }
    assert_int_equal(weir_state_iter_status(it, &err), 0);
    weir_state_iter_destroy(it);
    assert_int_equal(n, 50 + 50); /* k0050..k0099 and k0900..k0949 */

    assert_int_equal(weir_state_commit(st, 0, &err), 0);
    struct weir_state_op_stats s;
    weir_state_op_stats(op, &s);
    assert_true(s.keys >= 100 && s.keys <= 1000); /* an estimate */
    assert_true(weir_state_memory_used(st) > 0);
    weir_state_close(st);
}

static void put_exp(struct weir_state_op *op, const char *k, int64_t exp)
{
    assert_int_equal(weir_state_put(op, k, strlen(k), &exp, 8), 0);
}

static void test_expiring_entries(void **state)
{
    const char *dir = *state;
    struct weir_error err = {0};
    struct weir_state *st = open_at(dir, -1);
    struct weir_state_op *a = op_of(st, "a", "x"), *b = op_of(st, "b", "x");
    put_exp(a, "k1", 100);
    put_exp(a, "k2", 200);
    put_exp(a, "x1", 50);  /* another tag: kept */
    put_exp(b, "k1", 100); /* another operator: kept */
    assert_int_equal(weir_state_apply(st, &err), 0);
    assert_int_equal(weir_state_commit(st, 0, &err), 0);
    weir_state_op_expire(a, 'k', 150);
    weir_state_op_expire(a, 'k', 20); /* never backwards */
    assert_int_equal(weir_state_compact(st, &err), 0);
    assert_null(get(a, "k1"));
    assert_non_null(get(a, "k2"));
    assert_non_null(get(a, "x1"));
    assert_non_null(get(b, "k1"));
    /* the horizon survives the reopen of live/ an abort makes */
    put_exp(a, "k3", 120);
    assert_int_equal(weir_state_apply(st, &err), 0);
    assert_int_equal(weir_state_commit(st, 1, &err), 0);
    put_exp(a, "k4", 500);
    assert_int_equal(weir_state_apply(st, &err), 0);
    assert_int_equal(weir_state_abort(st, &err), 0);
    assert_int_equal(weir_state_compact(st, &err), 0);
    assert_null(get(a, "k3"));
    assert_null(get(a, "k4")); /* aborted */
    assert_non_null(get(a, "k2"));
    weir_state_close(st);
}

/* A sorted run ingested as a file: visible at once, newer than earlier
 * writes (buffered ones included), versioned and undone like puts. */
static void test_ingest(void **state)
{
    const char *dir = *state;
    struct weir_error err = {0};
    struct weir_state *st = open_at(dir, -1);
    struct weir_state_op *op = op_of(st, "d", "x");
    put(op, "k0005", "old");
    assert_int_equal(weir_state_apply(st, &err), 0);
    put(op, "k0007", "buffered"); /* applied before the run: the run wins */
    char keys[100][8];
    struct weir_state_kv kv[100];
    for (int i = 0; i < 100; i++) {
        snprintf(keys[i], sizeof keys[i], "k%04d", i);
        kv[i] = (struct weir_state_kv){.k = keys[i], .kn = 5, .v = keys[i] + 1, .vn = 4};
    }
    assert_int_equal(weir_state_ingest(op, kv, 100, &err), 0);
    assert_string_equal(get(op, "k0005"), "0005");
    assert_string_equal(get(op, "k0007"), "0007");
    assert_string_equal(get(op, "k0099"), "0099");
    assert_int_equal(weir_state_ingest(op, kv, 0, &err), 0); /* nothing to do */
    /* out of order: refused, nothing written */
    struct weir_state_kv bad[2] = {{.k = "m2", .kn = 2, .v = "a", .vn = 1},
                                   {.k = "m1", .kn = 2, .v = "b", .vn = 1}};
    assert_int_equal(weir_state_ingest(op, bad, 2, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.message, "not above"));
    weir_error_clear(&err);
    assert_null(get(op, "m1"));
    struct weir_state_kv dup[2] = {{.k = "m1", .kn = 2, .v = "a", .vn = 1},
                                   {.k = "m1", .kn = 2, .v = "b", .vn = 1}};
    assert_int_equal(weir_state_ingest(op, dup, 2, &err), WEIR_EINVAL);
    weir_error_clear(&err);
    assert_int_equal(weir_state_commit(st, 0, &err), 0);
    /* a later put is newer than the run; a run after the version is undone by abort */
    put(op, "k0001", "new");
    assert_int_equal(weir_state_apply(st, &err), 0);
    assert_string_equal(get(op, "k0001"), "new");
    struct weir_state_kv late[1] = {{.k = "z1", .kn = 2, .v = "z", .vn = 1}};
    assert_int_equal(weir_state_ingest(op, late, 1, &err), 0);
    assert_string_equal(get(op, "z1"), "z");
    assert_int_equal(weir_state_abort(st, &err), 0);
    assert_null(get(op, "z1"));
    assert_string_equal(get(op, "k0001"), "0001");
    weir_state_close(st);
    st = open_at(dir, 0);
    op = op_of(st, "d", "x");
    assert_string_equal(get(op, "k0050"), "0050");
    assert_null(get(op, "z1"));
    assert_true(weir_state_memory_used(st) > 0);
    weir_state_close(st);
}

/* The change-data sink's operator ("cdc") compacts size-tiered: keys
 * rewritten in every batch keep their newest value through flushes,
 * versions, a restore of an older version and a reopen; ingestion into it
 * is refused. */
static void test_tiered_operator(void **state)
{
    const char *dir = *state;
    struct weir_error err = {0};
    struct weir_state *st = open_at(dir, -1);
    struct weir_state_op *op = op_of(st, "cdc", "{}");
    char k[16], v[16];
    for (int b = 0; b < 30; b++) { /* a memtable flush per commit: 30 sorted runs to merge */
        for (int i = 0; i < 200; i++) {
            snprintf(k, sizeof k, "k%03d", (i * 37) % 200);
            snprintf(v, sizeof v, "%d.%d", b, i);
            put(op, k, v);
        }
        assert_int_equal(weir_state_commit(st, b, &err), 0);
    }
    assert_string_equal(get(op, "k000"), "29.0");
    struct weir_state_sst *f = NULL;
    assert_int_equal(weir_state_sst_create(op, &f, &err), WEIR_EINVAL);
    assert_null(f);
    assert_non_null(strstr(err.message, "'cdc'"));
    weir_error_clear(&err);
    weir_state_close(st);

    st = open_at(dir, 29);
    op = op_of(st, "cdc", "{}");
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "k%03d", (i * 37) % 200);
        snprintf(v, sizeof v, "29.%d", i);
        assert_string_equal(get(op, k), v);
    }
    weir_state_close(st);
    st = open_at(dir, 15); /* batches 16-29 never committed */
    op = op_of(st, "cdc", "{}");
    for (int i = 0; i < 200; i++) {
        snprintf(k, sizeof k, "k%03d", (i * 37) % 200);
        snprintf(v, sizeof v, "15.%d", i);
        assert_string_equal(get(op, k), v);
    }
    weir_state_close(st);
}

/* Ascending point reads through one iterator (weir_state_cursor): dense
 * runs of keys (Next steps), far jumps (Seek), absent keys between and
 * past the last one; the cursor sees the state as of its creation. The
 * largest key of a range (weir_state_last_key), and the streaming SST
 * writer: a leftover file from a crash is deleted at open. */
static void test_cursor_and_last_key(void **state)
{
    const char *dir = *state;
    struct weir_error err = {0};
    struct weir_state *st = open_at(dir, -1);
    struct weir_state_op *op = op_of(st, "c", "x");
    struct weir_state_sst *f = NULL;
    assert_int_equal(weir_state_sst_create(op, &f, &err), 0);
    char k[16], v[16];
    for (int i = 0; i < 2000; i += 2) { /* even keys only */
        snprintf(k, sizeof k, "k%05d", i);
        snprintf(v, sizeof v, "v%d", i);
        assert_int_equal(weir_state_sst_put(f, k, 6, v, strlen(v), &err), 0);
    }
    assert_int_equal(weir_state_sst_put(f, "k00000", 6, "x", 1, &err), WEIR_EINVAL);
    weir_error_clear(&err);
    assert_int_equal(weir_state_sst_ingest(f, &err), 0);
    weir_state_sst_destroy(f);

    struct weir_state_cursor *c = NULL;
    assert_int_equal(weir_state_cursor_create(op, &c, &err), 0);
    put(op, "k00001", "late"); /* after the cursor: not seen by it */
    assert_int_equal(weir_state_apply(st, &err), 0);
    /* dense: every key from 0 to 199, then a jump, then sparse steps */
    int asked[] = {0,  1,  2,  3,  4,  5,  6,   7,   8,    9,    10,   11,   12,   13,
                   14, 15, 16, 17, 18, 19, 20,  21,  22,   23,   24,   25,   26,   27,
                   28, 29, 30, 31, 32, 33, 900, 901, 1200, 1202, 1500, 1999, 2000, 5000};
    for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++) {
        const char *val;
        size_t vn;
        bool found;
        snprintf(k, sizeof k, "k%05d", asked[i]);
        assert_int_equal(weir_state_cursor_get(c, k, 6, &val, &vn, &found, &err), 0);
        bool want = asked[i] % 2 == 0 && asked[i] < 2000;
        if (found != want)
            fail_msg("key %d: found %d", asked[i], found);
        if (want) {
            snprintf(v, sizeof v, "v%d", asked[i]);
            assert_int_equal(vn, strlen(v));
            assert_memory_equal(val, v, vn);
        }
    }
    weir_state_cursor_destroy(c);
    assert_string_equal(get(op, "k00001"), "late");

    struct weir_buf last;
    weir_buf_init(&last);
    bool found;
    assert_int_equal(weir_state_last_key(op, "k", 1, "l", 1, &last, &found, &err), 0);
    assert_true(found);
    assert_int_equal(last.len, 6);
    assert_memory_equal(last.data, "k01998", 6);
    assert_int_equal(weir_state_last_key(op, "k00001", 6, "k00002", 6, &last, &found, &err), 0);
    assert_true(found);
    assert_memory_equal(last.data, "k00001", 6);
    assert_int_equal(weir_state_last_key(op, "m", 1, "n", 1, &last, &found, &err), 0);
    assert_false(found);
    assert_int_equal(weir_state_last_key(op, "a", 1, "b", 1, &last, &found, &err), 0);
    assert_false(found);
    weir_buf_free(&last);

    /* a file written for ingestion by a process that died */
    weir_state_close(st);
    char path[512];
    snprintf(path, sizeof path, "%s/ingest-7.sst", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    st = open_at(dir, -1);
    assert_int_equal(access(path, F_OK), -1);
    weir_state_close(st);
}

/* ------------------------------------------------------------ replica */

/* A checkpoint on an object store: `dir`/remote plays the store (a local
 * directory through storage.h, the same code path as s3:// for the
 * replica), `dir`/a and `dir`/b two machines' local caches. */
static struct weir_state *open_rep(const char *dir, const char *local, int64_t last_commit,
                                   struct weir_store **store)
{
    char r[512], l[512];
    struct weir_error err = {0};
    snprintf(r, sizeof r, "%s/remote", dir);
    snprintf(l, sizeof l, "%s/%s", dir, local);
    if (*store == NULL && weir_store_open(store, r, &err) != 0)
        fail_msg("store: %s", err.message);
    struct weir_state_options o = {.replica_store = *store, .replica_prefix = "state"};
    struct weir_state *st = NULL;
    if (weir_state_open(l, last_commit, &o, &st, &err) != 0)
        fail_msg("open %s at %lld: %s", local, (long long)last_commit, err.message);
    return st;
}

static size_t count_objects(struct weir_store *s, const char *prefix)
{
    struct weir_object_list l = {0};
    struct weir_error err = {0};
    assert_int_equal(weir_store_list(s, prefix, NULL, true, &l, &err), 0);
    size_t n = l.count;
    weir_object_list_free(&l);
    return n;
}

/* Versions are saved to the store; a machine with an empty cache restores
 * the committed one; a version of a batch that never committed is dropped
 * from the store too. */
static void test_replica_restore(void **state)
{
    const char *dir = *state;
    struct weir_store *store = NULL;
    struct weir_error err = {0};
    struct weir_state *st = open_rep(dir, "a", -1, &store);
    struct weir_state_op *op = op_of(st, "dedup", "{}");
    put(op, "a", "1");
    assert_int_equal(weir_state_commit(st, 0, &err), 0);
    size_t after0 = count_objects(store, "state/sst/");
    assert_true(after0 >= 1);
    put(op, "b", "2");
    assert_int_equal(weir_state_commit(st, 1, &err), 0);
    /* only the new table files are uploaded; the rest is shared */
    assert_int_equal(count_objects(store, "state/sst/"), after0 + 1);
    put(op, "c", "3");
    assert_int_equal(weir_state_commit(st, 2, &err), 0); /* commits/2 never written */
    weir_state_close(st);
    assert_true(exists(dir, "remote/state/00000000000000000002.json"));

    st = open_rep(dir, "b", 1, &store); /* another machine, empty cache */
    assert_int_equal(weir_state_version(st), 1);
    op = op_of(st, "dedup", "{}");
    assert_string_equal(get(op, "a"), "1");
    assert_string_equal(get(op, "b"), "2");
    assert_null(get(op, "c"));
    assert_false(exists(dir, "remote/state/00000000000000000002.json"));
    assert_int_equal(count_objects(store, "state/sst/"), after0 + 1); /* version 2's file went too */
    weir_state_close(st);

    /* a committed batch whose version is not on the store */
    weir_store_destroy(store);
    store = NULL;
    char r[512], l[512];
    snprintf(r, sizeof r, "%s/remote", dir);
    snprintf(l, sizeof l, "%s/c", dir);
    assert_int_equal(weir_store_open(&store, r, &err), 0);
    struct weir_state_options o = {.replica_store = store, .replica_prefix = "state"};
    assert_int_equal(weir_state_open(l, 5, &o, &st, &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "no version 5"));
    weir_store_destroy(store);
}

/* Two machines make a version of the same number: the one on the store
 * wins over a local copy of the other, and a file number RocksDB reuses
 * after a rollback never overwrites an upload an older version needs. */
static void test_replica_lineage(void **state)
{
    const char *dir = *state;
    struct weir_store *store = NULL;
    struct weir_error err = {0};
    struct weir_state *st = open_rep(dir, "a", -1, &store);
    struct weir_state_op *op = op_of(st, "dedup", "{}");
    put(op, "k", "base");
    assert_int_equal(weir_state_commit(st, 0, &err), 0);
    put(op, "k", "from-a");
    assert_int_equal(weir_state_commit(st, 1, &err), 0); /* a dies before commits/1 */
    weir_state_close(st);

    st = open_rep(dir, "b", 0, &store); /* b replays batch 1 */
    op = op_of(st, "dedup", "{}");
    assert_string_equal(get(op, "k"), "base");
    put(op, "k", "from-b");
    put(op, "x", "1");
    assert_int_equal(weir_state_commit(st, 1, &err), 0);
    weir_state_close(st);

    st = open_rep(dir, "a", 1, &store); /* a's v/1 is not the store's v/1 */
    op = op_of(st, "dedup", "{}");
    assert_string_equal(get(op, "k"), "from-b");
    assert_string_equal(get(op, "x"), "1");
    /* a failed batch rolls back; the next version still restores */
    put(op, "y", "1");
    assert_int_equal(weir_state_apply(st, &err), 0);
    assert_int_equal(weir_state_abort(st, &err), 0);
    put(op, "z", "1");
    assert_int_equal(weir_state_commit(st, 2, &err), 0);
    weir_state_close(st);
    st = open_rep(dir, "c", 2, &store);
    op = op_of(st, "dedup", "{}");
    assert_string_equal(get(op, "z"), "1");
    assert_null(get(op, "y"));
    assert_string_equal(get(op, "k"), "from-b");
    weir_state_close(st);
    weir_store_destroy(store);
}

/* Purge drops old versions from the store and the files only they used;
 * uploads a crash left without a manifest are deleted at open. */
static void test_replica_purge_and_collect(void **state)
{
    const char *dir = *state;
    struct weir_store *store = NULL;
    struct weir_error err = {0};
    struct weir_state *st = open_rep(dir, "a", -1, &store);
    struct weir_state_op *op = op_of(st, "dedup", "{}");
    for (int b = 0; b < 6; b++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", b);
        put(op, k, "v");
        assert_int_equal(weir_state_commit(st, b, &err), 0);
    }
    assert_int_equal(weir_state_compact(st, &err), 0);
    assert_int_equal(weir_state_commit(st, 6, &err), 0);
    assert_int_equal(weir_state_purge(st, 6, &err), 0);
    assert_false(exists(dir, "remote/state/00000000000000000005.json"));
    assert_true(exists(dir, "remote/state/00000000000000000006.json"));
    size_t live = count_objects(store, "state/sst/");
    weir_state_close(st);
    assert_int_equal(weir_store_put(store, "state/sst/000099-orphan.sst", "x", 1, &err), 0);
    st = open_rep(dir, "b", 6, &store);
    assert_int_equal(count_objects(store, "state/sst/"), live);
    op = op_of(st, "dedup", "{}");
    assert_string_equal(get(op, "k0"), "v");
    assert_string_equal(get(op, "k5"), "v");
    weir_state_close(st);
    weir_store_destroy(store);
}

static void expect_versions(const char *dir, const struct weir_state_options *o, const int64_t *want,
                            size_t n)
{
    int64_t *v = NULL;
    size_t nv = 99;
    struct weir_error err = {0};
    if (weir_state_list_versions(dir, o, &v, &nv, &err) != 0)
        fail_msg("list versions of %s: %s", dir, err.message);
    assert_int_equal(nv, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i], want[i]);
    weir_free(v);
}

/* The versions are listed without opening the store and without touching
 * it (a half-made version stays for the owner's open to delete); version
 * M made from version N is its copy, operator metadata included. */
static void test_list_and_copy_versions(void **state)
{
    const char *dir = *state;
    char missing[512];
    snprintf(missing, sizeof missing, "%s/none", dir);
    expect_versions(missing, NULL, NULL, 0);
    assert_false(exists(dir, "none"));

    struct weir_error err = {0};
    struct weir_state *st = open_at(dir, -1);
    expect_versions(dir, NULL, NULL, 0);
    struct weir_state_op *op = op_of(st, "agg", "{\"kind\":\"aggregate\"}");
    put(op, "k", "1");
    assert_int_equal(weir_state_commit(st, 0, &err), 0);
    put(op, "k", "2");
    assert_int_equal(weir_state_commit(st, 1, &err), 0);
    put(op, "k", "3");
    assert_int_equal(weir_state_commit(st, 2, &err), 0); /* commits/2 never written */
    weir_state_close(st);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/v/.tmp-3", dir);
    assert_int_equal(mkdir(tmp, 0755), 0);
    expect_versions(dir, NULL, (const int64_t[]){0, 1, 2}, 3);
    assert_true(exists(dir, "v/.tmp-3"));

    /* version 2 (a marker batch) as a copy of version 1, the last committed */
    st = open_at(dir, 1);
    assert_int_equal(weir_state_commit(st, 2, &err), 0);
    weir_state_close(st);
    expect_versions(dir, NULL, (const int64_t[]){0, 1, 2}, 3);
    st = open_at(dir, 2);
    op = op_of(st, "agg", "{\"kind\":\"aggregate\"}"); /* the metadata came along */
    assert_string_equal(get(op, "k"), "2");
    weir_state_close(st);

    /* on a replica store: the versions saved there */
    struct weir_store *store = NULL;
    st = open_rep(dir, "cache", -1, &store);
    op = op_of(st, "agg", "{}");
    put(op, "k", "1");
    assert_int_equal(weir_state_commit(st, 4, &err), 0);
    assert_int_equal(weir_state_commit(st, 5, &err), 0);
    weir_state_close(st);
    struct weir_state_options o = {.replica_store = store, .replica_prefix = "state"};
    expect_versions("/nonexistent", &o, (const int64_t[]){4, 5}, 2);
    o.replica_prefix = "other";
    expect_versions("/nonexistent", &o, NULL, 0);
    weir_store_destroy(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_versions_and_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_version_and_dirty_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reads_ranges_and_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiring_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tiered_operator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor_and_last_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_lineage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_purge_and_collect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_and_copy_versions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
