/* tests/unit/test_stream_checkpoint.c - the checkpoint directory
 * (stream/checkpoint.h).
 *
 * Each test works in its own fresh temp directory. Covers the Spark-style
 * layout and file formats, reopen with the same query id, the write rules
 * (no replanning, no gaps, one uncommitted batch), every refusal of open()
 * (other pipeline, incompatible version, unparsable files, inconsistent
 * logs, the lock held in this process and by another process), purge,
 * initial offsets, stray temp files, the two crash points (the test binary
 * re-executes itself with WEIR_CRASH_AT set and is SIGKILLed before a write),
 * allocation failures, read-only opens next to a writer (nothing created,
 * no lock taken, writes refused), the lock holder as tools see it, reset
 * markers (written, read back, their conf in the file) and replacing an
 * uncommitted batch by one. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "stream/checkpoint.h"
#include "test_util.h"

/* fx->path is the checkpoint, "<dir>/pipe/ckpt": not created, open() must create it. */
static int setup(void **state)
{
    return tmp_fixture_setup(state, "ckpt", "pipe/ckpt");
}

/* ---------------------------------------------------------------- helpers */

static struct weir_checkpoint *open_ok(const char *dir, const char *name)
{
    struct weir_checkpoint *cp = NULL;
    struct weir_error err = {0};
    int rc = weir_checkpoint_open(dir, name, NULL, &cp, &err);
    if (rc != 0)
        fail_msg("open %s: %s", dir, err.message);
    return cp;
}

/* Opening must fail with `code` and a message containing each of the
 * NULL-terminated strings. */
static void open_fails(const char *dir, const char *name, int code, ...)
{
    struct weir_checkpoint *cp = NULL;
    struct weir_error err = {0};
    int rc = weir_checkpoint_open(dir, name, NULL, &cp, &err);
    assert_null(cp);
    if (rc != code)
        fail_msg("open %s: expected %d, got %d (%s)", dir, code, rc, err.message);
    assert_int_equal(err.code, code);
    va_list ap;
    va_start(ap, code);
    const char *want;
    while ((want = va_arg(ap, const char *)) != NULL)
        if (strstr(err.message, want) == NULL)
            fail_msg("message '%s' lacks '%s'", err.message, want);
    va_end(ap);
}

static void write_offsets(struct weir_checkpoint *cp, int64_t batch, const char *src)
{
    char *s = (char *)src;
    struct weir_offset_entry e = {.batch_watermark_ms = batch * 10,
                                  .batch_timestamp_ms = 1700000000000 + batch,
                                  .sources = &s,
                                  .nsources = 1};
    struct weir_error err = {0};
    if (weir_checkpoint_write_offsets(cp, batch, &e, &err) != 0)
        fail_msg("write offsets/%" PRId64 ": %s", batch, err.message);
}

static void write_commit(struct weir_checkpoint *cp, int64_t batch)
{
    struct weir_error err = {0};
    if (weir_checkpoint_write_commit(cp, batch, batch * 10 + 5, &err) != 0)
        fail_msg("write commits/%" PRId64 ": %s", batch, err.message);
}

/* A checkpoint with batches 0..n-1 committed, closed. */
static void make_committed(const char *dir, int n)
{
    struct weir_checkpoint *cp = open_ok(dir, "orders");
    for (int b = 0; b < n; b++) {
        char src[64];
        snprintf(src, sizeof src, "{\"rows\":%d}", (b + 1) * 100);
        write_offsets(cp, b, src);
        write_commit(cp, b);
    }
    weir_checkpoint_close(cp);
}

/* ---------------------------------------------------------------- tests */

/* A file:// URI is a local checkpoint: its lock and databases live in the
 * directory it names, and the same entries are found through either name. */
static void test_file_uri(void **state)
{
    struct tmp_fixture *fx = *state;
    char uri[512];
    snprintf(uri, sizeof uri, "file://%s", fx->path);
    struct weir_checkpoint *cp = open_ok(uri, "orders");
    assert_false(weir_checkpoint_remote(cp));
    assert_string_equal(weir_checkpoint_local_dir(cp), fx->path);
    assert_true(file_exists(fx->path, "lock"));
    write_offsets(cp, 0, "{\"rows\":1}");
    char id[37];
    snprintf(id, sizeof id, "%s", weir_checkpoint_query_id(cp));
    weir_checkpoint_close(cp);
    cp = open_ok(fx->path, "orders");
    assert_string_equal(weir_checkpoint_query_id(cp), id);
    assert_int_equal(weir_checkpoint_last_offsets(cp), 0);
    weir_checkpoint_close(cp);
}

static void test_new_checkpoint_layout(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_checkpoint *cp = open_ok(fx->path, "orders-bronze");
    assert_string_equal(weir_checkpoint_dir(cp), fx->path);
    const char *id = weir_checkpoint_query_id(cp);
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[14], '4'); /* version 4 UUID */
    assert_int_equal(weir_checkpoint_last_offsets(cp), -1);
    assert_int_equal(weir_checkpoint_last_commit(cp), -1);
    char want[256];
    snprintf(want, sizeof want, "%s/state", fx->path);
    assert_string_equal(weir_checkpoint_state_dir(cp), want);
    assert_false(file_exists(fx->path, "state")); /* not created */
    assert_true(file_exists(fx->path, "offsets"));
    assert_true(file_exists(fx->path, "commits"));

    char *meta = file_read(fx->path, "metadata");
    assert_non_null(meta);
    char expect[256];
    snprintf(expect, sizeof expect, "{\"id\":\"%s\",\"name\":\"orders-bronze\",\"weirCheckpointVersion\":1}",
             id);
    assert_string_equal(meta, expect);
    free(meta);

    char *lock = file_read(fx->path, "lock");
    assert_non_null(lock);
    assert_int_equal(strtol(lock, NULL, 10), (long)getpid());
    free(lock);
    weir_checkpoint_close(cp);
    weir_checkpoint_close(NULL);
}

static void test_write_reopen_read_back(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    char qid[37];
    strcpy(qid, weir_checkpoint_query_id(cp));

    char *srcs[2] = {"{\"orders\":{\"0\":1200,\"1\":1184}}", NULL};
    struct weir_offset_entry e = {
        .batch_watermark_ms = 0, .batch_timestamp_ms = 1700000000123, .sources = srcs, .nsources = 2};
    struct weir_error err = {0};
    assert_int_equal(weir_checkpoint_write_offsets(cp, 0, &e, &err), 0);
    assert_int_equal(weir_checkpoint_last_offsets(cp), 0);
    assert_int_equal(weir_checkpoint_write_commit(cp, 0, 42, &err), 0);
    assert_int_equal(weir_checkpoint_last_commit(cp), 0);
    srcs[0] = "{\"orders\":{\"0\":1300,\"1\":1184}}";
    srcs[1] = "{\"rows\":5}";
    e.batch_watermark_ms = 42;
    e.batch_timestamp_ms = 1700000005000;
    assert_int_equal(weir_checkpoint_write_offsets(cp, 1, &e, &err), 0);
    weir_checkpoint_close(cp);

    /* Spark's exact format: header, metadata, one line per source, "-" */
    char *text = file_read(fx->path, "offsets/0");
    assert_string_equal(text, "v1\n{\"batchWatermarkMs\":0,\"batchTimestampMs\":1700000000123,\"conf\":{}}\n"
                              "{\"orders\":{\"0\":1200,\"1\":1184}}\n-");
    free(text);
    text = file_read(fx->path, "commits/0");
    assert_string_equal(text, "v1\n{\"nextBatchWatermarkMs\":42}");
    free(text);
    assert_int_equal(temp_file_count(fx->path, "offsets"), 0);
    assert_int_equal(temp_file_count(fx->path, "commits"), 0);

    cp = open_ok(fx->path, "orders");
    assert_string_equal(weir_checkpoint_query_id(cp), qid);
    assert_int_equal(weir_checkpoint_last_offsets(cp), 1);
    assert_int_equal(weir_checkpoint_last_commit(cp), 0);

    struct weir_offset_entry r;
    assert_int_equal(weir_checkpoint_read_offsets(cp, 1, &r, &err), 0);
    assert_int_equal(r.batch_watermark_ms, 42);
    assert_int_equal(r.batch_timestamp_ms, 1700000005000);
    assert_int_equal(r.nsources, 2);
    assert_string_equal(r.sources[0], "{\"orders\":{\"0\":1300,\"1\":1184}}");
    assert_string_equal(r.sources[1], "{\"rows\":5}");
    weir_offset_entry_clear(&r);
    assert_int_equal(r.nsources, 0);
    assert_int_equal(weir_checkpoint_read_offsets(cp, 0, &r, &err), 0);
    assert_int_equal(r.nsources, 2);
    assert_string_equal(r.sources[0], "{\"orders\":{\"0\":1200,\"1\":1184}}");
    assert_null(r.sources[1]);
    weir_offset_entry_clear(&r);

    int64_t wm = -1;
    assert_int_equal(weir_checkpoint_read_commit(cp, 0, &wm, &err), 0);
    assert_int_equal(wm, 42);
    struct weir_error nf = {0};
    assert_int_equal(weir_checkpoint_read_commit(cp, 1, &wm, &nf), WEIR_ENOTFOUND);
    assert_non_null(strstr(nf.message, "commits/1"));
    memset(&nf, 0, sizeof nf);
    assert_int_equal(weir_checkpoint_read_offsets(cp, 7, &r, &nf), WEIR_ENOTFOUND);
    assert_non_null(strstr(nf.message, "offsets/7"));

    /* recovery path: batch 1 is rerun, then committed; batch 2 follows */
    write_commit(cp, 1);
    write_offsets(cp, 2, "{\"rows\":9}");
    assert_int_equal(weir_checkpoint_last_offsets(cp), 2);
    weir_checkpoint_close(cp);
}

static void test_write_rules(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    struct weir_error err = {0};
    char *s = "{\"rows\":10}";
    struct weir_offset_entry e = {.batch_timestamp_ms = 5, .sources = &s, .nsources = 1};

    /* the first batch is 0; commits need their offsets */
    assert_int_equal(weir_checkpoint_write_offsets(cp, 1, &e, &err), WEIR_ESTATE);
    assert_non_null(strstr(err.message, "offsets/1"));
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_write_commit(cp, 0, 0, &err), WEIR_ESTATE);
    assert_non_null(strstr(err.message, "offsets/0"));
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_write_offsets(cp, -1, &e, &err), WEIR_EINVAL);
    memset(&err, 0, sizeof err);

    assert_int_equal(weir_checkpoint_write_offsets(cp, 0, &e, &err), 0);
    /* the same plan again is accepted (idempotent), another one is not */
    assert_int_equal(weir_checkpoint_write_offsets(cp, 0, &e, &err), 0);
    s = "{\"rows\":11}";
    assert_int_equal(weir_checkpoint_write_offsets(cp, 0, &e, &err), WEIR_EEXISTS);
    assert_non_null(strstr(err.message, "offsets/0"));
    memset(&err, 0, sizeof err);
    /* batch 0 is not committed: batch 1 cannot be planned */
    assert_int_equal(weir_checkpoint_write_offsets(cp, 1, &e, &err), WEIR_ESTATE);
    assert_non_null(strstr(err.message, "not committed"));
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_last_offsets(cp), 0);

    /* sources must be one line of valid JSON */
    s = "{\"rows\":\n1}";
    assert_int_equal(weir_checkpoint_write_offsets(cp, 0, &e, &err), WEIR_EINVAL);
    memset(&err, 0, sizeof err);
    s = "{\"rows\":1} trailing";
    assert_int_equal(weir_checkpoint_write_offsets(cp, 0, &e, &err), WEIR_EINVAL);
    assert_non_null(strstr(err.message, "not JSON"));
    memset(&err, 0, sizeof err);

    assert_int_equal(weir_checkpoint_write_commit(cp, 0, 7, &err), 0);
    assert_int_equal(weir_checkpoint_write_commit(cp, 0, 7, &err), 0);
    assert_int_equal(weir_checkpoint_write_commit(cp, 0, 8, &err), WEIR_EEXISTS);
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_write_commit(cp, 1, 8, &err), WEIR_ESTATE);
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_write_commit(cp, 2, 8, &err), WEIR_ESTATE);
    memset(&err, 0, sizeof err);
    /* no gaps */
    s = "{\"rows\":20}";
    assert_int_equal(weir_checkpoint_write_offsets(cp, 2, &e, &err), WEIR_ESTATE);
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_write_offsets(cp, 1, &e, &err), 0);
    assert_int_equal(weir_checkpoint_last_offsets(cp), 1);
    assert_int_equal(weir_checkpoint_last_commit(cp), 0);
    weir_checkpoint_close(cp);
    cp = open_ok(fx->path, "orders");
    assert_int_equal(weir_checkpoint_last_offsets(cp), 1);
    weir_checkpoint_close(cp);
}

static void test_other_pipeline(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 1);
    open_fails(fx->path, "payments", WEIR_ECONFIG, fx->path, "belongs to pipeline 'orders'", "not 'payments'",
               "new checkpoint directory", NULL);
    /* the lock was released by the failed open */
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    weir_checkpoint_close(cp);
}

static void test_metadata_problems(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 1);
    char *meta = file_read(fx->path, "metadata");

    file_write(fx->path, "metadata",
               "{\"id\":\"not-a-uuid\",\"name\":\"orders\",\"weirCheckpointVersion\":1}");
    open_fails(fx->path, "orders", WEIR_ECORRUPT, "metadata", "query UUID", NULL);
    file_write(fx->path, "metadata", "{\"id\":\"6f1c");
    open_fails(fx->path, "orders", WEIR_ECORRUPT, "metadata", "does not parse", NULL);
    /* a Spark checkpoint: {"id":...} only */
    file_write(fx->path, "metadata", "{\"id\":\"6f1c2b7e-1d2a-4c3b-9f00-0123456789ab\"}");
    open_fails(fx->path, "orders", WEIR_EUNSUPPORTED, "metadata", "not written by weir", NULL);
    file_write(
        fx->path, "metadata",
        "{\"id\":\"6f1c2b7e-1d2a-4c3b-9f00-0123456789ab\",\"name\":\"orders\",\"weirCheckpointVersion\":2}");
    open_fails(fx->path, "orders", WEIR_EUNSUPPORTED, "incompatible version", "weirCheckpointVersion 2",
               NULL);

    /* logs without metadata: the query id is lost */
    char path[512];
    snprintf(path, sizeof path, "%s/metadata", fx->path);
    assert_int_equal(unlink(path), 0);
    open_fails(fx->path, "orders", WEIR_ESTATE, "no metadata", NULL);

    file_write(fx->path, "metadata", meta);
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    assert_int_equal(weir_checkpoint_last_commit(cp), 0);
    weir_checkpoint_close(cp);
    free(meta);
}

static void test_version_header(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 2);
    char *orig = file_read(fx->path, "offsets/1");
    file_write(fx->path, "offsets/1", "v2\n{\"batchWatermarkMs\":0,\"batchTimestampMs\":1}\n0:{\"rows\":1}");
    open_fails(fx->path, "orders", WEIR_EUNSUPPORTED, "offsets/1",
               "written by an incompatible version: header 'v2'", NULL);
    file_write(fx->path, "offsets/1", orig);
    free(orig);

    orig = file_read(fx->path, "commits/0");
    file_write(fx->path, "commits/0", "v2\n{\"nextBatchWatermarkMs\":0,\"stateUniqueIds\":{}}");
    open_fails(fx->path, "orders", WEIR_EUNSUPPORTED, "commits/0", "header 'v2'", NULL);
    file_write(fx->path, "commits/0", "V1\n{\"nextBatchWatermarkMs\":0}");
    open_fails(fx->path, "orders", WEIR_ECORRUPT, "commits/0", "version header 'v1'", NULL);
    file_write(fx->path, "commits/0", orig);
    free(orig);

    file_write(fx->path, "sources/0/0", "v9\n{\"rows\":0}");
    open_fails(fx->path, "orders", WEIR_EUNSUPPORTED, "sources/0/0", "header 'v9'", NULL);
    file_write(fx->path, "sources/0/0", "v1\n{\"rows\":0}");
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    weir_checkpoint_close(cp);
}

static void test_unparsable_files(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 3);
    char *off = file_read(fx->path, "offsets/2");
    char *com = file_read(fx->path, "commits/1");
    static const char *bad_offsets[] = {
        "",
        "v1",
        "v1\n{\"batchWatermarkMs\":0",
        "v1\n[1,2]\n{\"rows\":1}",
        "v1\n{\"batchWatermarkMs\":\"x\"}\n{\"rows\":1}",
        "v1\n{\"batchWatermarkMs\":1.5}\n{\"rows\":1}",
        "v1\n{}\n{\"rows\":1",
        "v1\n{}\n{\"rows\":1}\n\n{\"rows\":2}",
    };
    for (size_t i = 0; i < sizeof bad_offsets / sizeof *bad_offsets; i++) {
        file_write(fx->path, "offsets/2", bad_offsets[i]);
        open_fails(fx->path, "orders", WEIR_ECORRUPT, "offsets/2", NULL);
    }
    file_write(fx->path, "offsets/2", off);
    static const char *bad_commits[] = {"", "v1\n", "v1\n{\"nextBatchWatermarkMs\":", "v1\n7",
                                        "v1\n{\"nextBatchWatermarkMs\":1}\nmore"};
    for (size_t i = 0; i < sizeof bad_commits / sizeof *bad_commits; i++) {
        file_write(fx->path, "commits/1", bad_commits[i]);
        open_fails(fx->path, "orders", WEIR_ECORRUPT, "commits/1", NULL);
    }
    file_write(fx->path, "commits/1", com);
    file_write(fx->path, "sources/0/0", "v1\n{\"rows\":");
    open_fails(fx->path, "orders", WEIR_ECORRUPT, "sources/0/0", "not JSON", NULL);
    file_write(fx->path, "sources/0/0", "v1\n{\"rows\":0}\n");

    /* Spark variants we accept: empty metadata line, trailing newline */
    file_write(fx->path, "offsets/2", "v1\n\n{\"rows\":300}\n");
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    struct weir_offset_entry e;
    struct weir_error err = {0};
    assert_int_equal(weir_checkpoint_read_offsets(cp, 2, &e, &err), 0);
    assert_int_equal(e.nsources, 1);
    assert_string_equal(e.sources[0], "{\"rows\":300}");
    assert_int_equal(e.batch_timestamp_ms, 0);
    weir_offset_entry_clear(&e);
    weir_checkpoint_close(cp);
    free(off);
    free(com);
}

static void test_commit_without_offsets(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 2);
    char path[512];
    snprintf(path, sizeof path, "%s/offsets/1", fx->path);
    assert_int_equal(unlink(path), 0);
    open_fails(fx->path, "orders", WEIR_ESTATE, "inconsistent", "commits/1 exists without offsets/1", NULL);
}

static void test_too_many_uncommitted(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 3);
    char path[512];
    snprintf(path, sizeof path, "%s/commits/2", fx->path);
    assert_int_equal(unlink(path), 0);
    /* one uncommitted batch is the normal recovery case */
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    assert_int_equal(weir_checkpoint_last_offsets(cp), 2);
    assert_int_equal(weir_checkpoint_last_commit(cp), 1);
    weir_checkpoint_close(cp);
    snprintf(path, sizeof path, "%s/commits/1", fx->path);
    assert_int_equal(unlink(path), 0);
    open_fails(fx->path, "orders", WEIR_ESTATE, "inconsistent", "batches 1..2", "last commit is 0", NULL);
}

static void test_gap_in_offsets(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 5);
    char path[512];
    snprintf(path, sizeof path, "%s/commits/2", fx->path);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof path, "%s/offsets/2", fx->path);
    assert_int_equal(unlink(path), 0);
    open_fails(fx->path, "orders", WEIR_ESTATE, "offsets/2 is missing between offsets/1 and offsets/3", NULL);
    /* a gap in the commits log only */
    file_write(fx->path, "offsets/2", "v1\n{}\n{\"rows\":300}");
    open_fails(fx->path, "orders", WEIR_ESTATE, "commits/2 is missing", NULL);
}

static void test_lock_same_process(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    open_fails(fx->path, "orders", WEIR_ESTATE, fx->path, "in use by another running weir pipeline", pid,
               NULL);
    weir_checkpoint_close(cp);
    cp = open_ok(fx->path, "orders");
    weir_checkpoint_close(cp);
}

static void test_lock_other_process(void **state)
{
    struct tmp_fixture *fx = *state;
    int ready[2], release[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(ready[0]);
        close(release[1]);
        struct weir_checkpoint *cp = NULL;
        int rc = weir_checkpoint_open(fx->path, "orders", NULL, &cp, NULL);
        char c = rc == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(3);
        if (read(release[0], &c, 1) < 0) /* EOF when the parent closes */
            _exit(4);
        weir_checkpoint_close(cp);
        _exit(rc == 0 ? 0 : 2);
    }
    close(ready[1]);
    close(release[0]);
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    char pid[32];
    snprintf(pid, sizeof pid, "pid %ld", (long)child);
    open_fails(fx->path, "orders", WEIR_ESTATE, fx->path, pid, "lock", NULL);
    close(release[1]);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(ready[0]);
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    char *lock = file_read(fx->path, "lock");
    assert_int_equal(strtol(lock, NULL, 10), (long)getpid());
    free(lock);
    weir_checkpoint_close(cp);
}

static void test_purge(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 10);
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    struct weir_error err = {0};
    size_t deleted = 99;
    assert_int_equal(weir_checkpoint_purge(cp, 0, &deleted, &err), WEIR_EINVAL);
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_purge(cp, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 14); /* offsets and commits 0..6 */
    for (int b = 0; b < 10; b++) {
        char rel[32];
        snprintf(rel, sizeof rel, "offsets/%d", b);
        assert_int_equal(file_exists(fx->path, rel), b >= 7);
        snprintf(rel, sizeof rel, "commits/%d", b);
        assert_int_equal(file_exists(fx->path, rel), b >= 7);
    }
    assert_int_equal(weir_checkpoint_purge(cp, 3, &deleted, &err), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(weir_checkpoint_purge(cp, 100, NULL, &err), 0);

    /* an uncommitted batch 10: retain 1 keeps commits/9, offsets/9, offsets/10 */
    write_offsets(cp, 10, "{\"rows\":1100}");
    assert_int_equal(weir_checkpoint_purge(cp, 1, &deleted, &err), 0);
    assert_int_equal(deleted, 4);
    assert_true(file_exists(fx->path, "commits/9"));
    assert_true(file_exists(fx->path, "offsets/9"));
    assert_true(file_exists(fx->path, "offsets/10"));
    assert_false(file_exists(fx->path, "offsets/8"));
    assert_false(file_exists(fx->path, "commits/8"));
    weir_checkpoint_close(cp);

    cp = open_ok(fx->path, "orders");
    assert_int_equal(weir_checkpoint_last_offsets(cp), 10);
    assert_int_equal(weir_checkpoint_last_commit(cp), 9);
    /* an already purged batch is not rewritten */
    struct weir_offset_entry e;
    assert_int_equal(weir_checkpoint_read_offsets(cp, 3, &e, &err), WEIR_ENOTFOUND);
    write_commit(cp, 10);
    assert_int_equal(weir_checkpoint_purge(cp, 1, &deleted, &err), 0);
    assert_int_equal(deleted, 2);
    assert_true(file_exists(fx->path, "offsets/10"));
    assert_true(file_exists(fx->path, "commits/10"));
    weir_checkpoint_close(cp);
    /* purge on an empty checkpoint is a no-op */
    char other[256];
    snprintf(other, sizeof other, "%s/other", fx->dir);
    cp = open_ok(other, "other");
    assert_int_equal(weir_checkpoint_purge(cp, 1, &deleted, &err), 0);
    assert_int_equal(deleted, 0);
    weir_checkpoint_close(cp);
}

static void test_initial_offsets(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    struct weir_error err = {0};
    char *json = (char *)"x";
    assert_int_equal(weir_checkpoint_read_initial(cp, 0, &json, &err), WEIR_ENOTFOUND);
    assert_null(json);
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_write_initial(cp, 0, "{\"orders\":{\"0\":17}}", &err), 0);
    assert_int_equal(weir_checkpoint_write_initial(cp, 2, "{\"rows\":0}", &err), 0);
    /* resolved once: the same value again is fine, another is refused */
    assert_int_equal(weir_checkpoint_write_initial(cp, 0, "{\"orders\":{\"0\":17}}", &err), 0);
    assert_int_equal(weir_checkpoint_write_initial(cp, 0, "{\"orders\":{\"0\":18}}", &err), WEIR_EEXISTS);
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_write_initial(cp, 1, "{oops", &err), WEIR_EINVAL);
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_read_initial(cp, 0, &json, &err), 0);
    assert_string_equal(json, "{\"orders\":{\"0\":17}}");
    weir_free(json);
    weir_checkpoint_close(cp);

    char *text = file_read(fx->path, "sources/0/0");
    assert_string_equal(text, "v1\n{\"orders\":{\"0\":17}}");
    free(text);
    assert_false(file_exists(fx->path, "sources/1"));

    cp = open_ok(fx->path, "orders");
    assert_int_equal(weir_checkpoint_read_initial(cp, 2, &json, &err), 0);
    assert_string_equal(json, "{\"rows\":0}");
    weir_free(json);
    weir_checkpoint_close(cp);
    /* Spark's Kafka initial-offset file starts with a NUL byte */
    char path[512];
    snprintf(path, sizeof path, "%s/sources/3/0", fx->path);
    file_write(fx->path, "sources/3/0", "");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    static const char spark[] = "\0v1\n{\"t\":{\"0\":5}}";
    assert_int_equal(fwrite(spark, 1, sizeof spark - 1, f), sizeof spark - 1);
    fclose(f);
    cp = open_ok(fx->path, "orders");
    assert_int_equal(weir_checkpoint_read_initial(cp, 3, &json, &err), 0);
    assert_string_equal(json, "{\"t\":{\"0\":5}}");
    weir_free(json);
    weir_checkpoint_close(cp);
}

static void test_stray_temp_cleanup(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 2);
    file_write(fx->path, "offsets/.2.0a1b2c3d-dead-4bee-8f00-000000000000.tmp", "v1\n{\"batchWat");
    file_write(fx->path, "commits/.1.x.tmp", "v1\n");
    file_write(fx->path, ".metadata.y.tmp", "{");
    file_write(fx->path, "sources/0/.0.z.tmp", "v");
    file_write(fx->path, "offsets/README", "not a batch"); /* ignored, kept */
    file_write(fx->path, "offsets/007", "ignored: not a canonical batch id");
    assert_int_equal(temp_file_count(fx->path, "offsets"), 1);
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    assert_int_equal(temp_file_count(fx->path, "offsets"), 0);
    assert_int_equal(temp_file_count(fx->path, "commits"), 0);
    assert_int_equal(temp_file_count(fx->path, ""), 0);
    assert_int_equal(temp_file_count(fx->path, "sources/0"), 0);
    assert_true(file_exists(fx->path, "offsets/README"));
    assert_int_equal(weir_checkpoint_last_offsets(cp), 1);
    assert_int_equal(weir_checkpoint_last_commit(cp), 1);
    write_offsets(cp, 2, "{\"rows\":300}");
    weir_checkpoint_close(cp);
}

/* The crash child: batch 0 complete, then batch 1 up to the crash point
 * named by WEIR_CRASH_AT (set by the parent before exec). */
static int crash_child(const char *dir, const char *which)
{
    struct weir_checkpoint *cp = NULL;
    struct weir_error err = {0};
    char *s = "{\"rows\":100}";
    struct weir_offset_entry e = {.sources = &s, .nsources = 1};
    if (weir_checkpoint_open(dir, "orders", NULL, &cp, &err) != 0 ||
        weir_checkpoint_write_offsets(cp, 0, &e, &err) != 0 ||
        weir_checkpoint_write_commit(cp, 0, 0, &err) != 0)
        return 2;
    s = "{\"rows\":200}";
    if (weir_checkpoint_write_offsets(cp, 1, &e, &err) != 0)
        return 3;
    if (strcmp(which, "commit") == 0)
        weir_checkpoint_write_commit(cp, 1, 0, &err);
    weir_checkpoint_close(cp);
    return 0; /* the crash point did not fire */
}

static void run_crash_child(const char *dir, const char *which, const char *crash_at)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("WEIR_CRASH_AT", crash_at, 1);
        execl("/proc/self/exe", "test_stream_checkpoint", "--crash-child", dir, which, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("crash child for %s was not killed at %s (status %d)", which, crash_at, status);
}

/* The child dies about to write <which>/1 (which: "offsets" or
 * "commits"): <which>/1 never appeared; reopening takes over the lock of
 * the dead process. (A torn temp file is test_stray_temp_cleanup's.)
 * Returns the reopened checkpoint. */
static struct weir_checkpoint *crash_and_reopen(const char *dir, const char *which, const char *crash_at)
{
    char rel[32];
    run_crash_child(dir, strcmp(which, "commits") == 0 ? "commit" : which, crash_at);
    snprintf(rel, sizeof rel, "%s/1", which);
    assert_false(file_exists(dir, rel));
    struct weir_checkpoint *cp = open_ok(dir, "orders");
    assert_int_equal(temp_file_count(dir, which), 0);
    return cp;
}

static void test_crash_mid_offsets(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_checkpoint *cp = crash_and_reopen(fx->path, "offsets", "checkpoint.offsets:2");
    assert_int_equal(weir_checkpoint_last_offsets(cp), 0);
    assert_int_equal(weir_checkpoint_last_commit(cp), 0);
    /* the lock of the killed process is gone; batch 1 is planned anew */
    write_offsets(cp, 1, "{\"rows\":250}");
    weir_checkpoint_close(cp);
}

static void test_crash_mid_commit(void **state)
{
    struct tmp_fixture *fx = *state;
    struct weir_checkpoint *cp = crash_and_reopen(fx->path, "commits", "checkpoint.commit:2");
    /* batch 1 is planned but not committed: it is rerun with its offsets */
    assert_int_equal(weir_checkpoint_last_offsets(cp), 1);
    assert_int_equal(weir_checkpoint_last_commit(cp), 0);
    struct weir_offset_entry e;
    struct weir_error err = {0};
    assert_int_equal(weir_checkpoint_read_offsets(cp, 1, &e, &err), 0);
    assert_string_equal(e.sources[0], "{\"rows\":200}");
    weir_offset_entry_clear(&e);
    write_commit(cp, 1);
    weir_checkpoint_close(cp);
}

static void test_alloc_failures(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 3);
    /* every allocation of open + read + write fails once in turn */
    bool completed = false;
    for (long n = 0; n < 2000 && !completed; n++) {
        struct weir_checkpoint *cp = NULL;
        struct weir_error err = {0};
        struct weir_offset_entry e = {0};
        int64_t wm = 0;
        weir_alloc_fail_after(n);
        int rc = weir_checkpoint_open(fx->path, "orders", NULL, &cp, &err);
        if (rc == 0)
            rc = weir_checkpoint_read_offsets(cp, 2, &e, &err);
        if (rc == 0)
            rc = weir_checkpoint_read_commit(cp, 2, &wm, &err);
        weir_offset_entry_clear(&e);
        if (rc == 0) {
            char *s = "{\"rows\":400}";
            struct weir_offset_entry w = {.sources = &s, .nsources = 1};
            rc = weir_checkpoint_write_offsets(cp, 3, &w, &err);
        }
        weir_alloc_fail_after(-1);
        if (rc == 0) {
            completed = true;
        } else {
            if (rc != WEIR_ENOMEM)
                fail_msg("allocation %ld: %d %s", n, rc, err.message);
            assert_int_equal(rc, WEIR_ENOMEM);
            assert_int_equal(err.code, WEIR_ENOMEM);
            assert_null(strstr(err.message, "unknown"));
        }
        weir_checkpoint_close(cp);
    }
    assert_true(completed);
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    assert_int_equal(weir_checkpoint_last_offsets(cp), 3);
    assert_int_equal(temp_file_count(fx->path, "offsets"), 0);
    weir_checkpoint_close(cp);
}

/* ---------------------------------------------------------------- tools */

static struct weir_checkpoint *open_ro(const char *dir)
{
    struct weir_checkpoint *cp = NULL;
    struct weir_error err = {0};
    struct weir_checkpoint_options o = {.read_only = true};
    if (weir_checkpoint_open(dir, NULL, &o, &cp, &err) != 0)
        fail_msg("read-only open %s: %s", dir, err.message);
    return cp;
}

static void test_read_only_open(void **state)
{
    struct tmp_fixture *fx = *state;
    /* not a checkpoint: refused, and nothing is created */
    struct weir_checkpoint *cp = NULL;
    struct weir_error err = {0};
    struct weir_checkpoint_options o = {.read_only = true};
    assert_int_equal(weir_checkpoint_open(fx->path, NULL, &o, &cp, &err), WEIR_ENOTFOUND);
    assert_null(cp);
    assert_non_null(strstr(err.message, "is not a checkpoint: it has no metadata file"));
    assert_non_null(strstr(err.message, "/metadata"));
    assert_false(file_exists(fx->path, ""));

    make_committed(fx->path, 3);
    /* next to a writer holding the lock, with a batch planned */
    struct weir_checkpoint *w = open_ok(fx->path, "orders");
    write_offsets(w, 3, "{\"rows\":400}");
    cp = open_ro(fx->path);
    assert_string_equal(weir_checkpoint_name(cp), "orders");
    assert_string_equal(weir_checkpoint_query_id(cp), weir_checkpoint_query_id(w));
    assert_int_equal(weir_checkpoint_last_commit(cp), 2);
    assert_int_equal(weir_checkpoint_last_offsets(cp), 3);
    assert_int_equal(weir_checkpoint_oldest_offsets(cp), 0);
    assert_int_equal(weir_checkpoint_oldest_commit(cp), 0);
    struct weir_offset_entry e = {0};
    assert_int_equal(weir_checkpoint_read_offsets(cp, 3, &e, &err), 0);
    assert_string_equal(e.sources[0], "{\"rows\":400}");
    assert_null(e.reset);
    weir_offset_entry_clear(&e);
    int64_t wm = 0;
    assert_int_equal(weir_checkpoint_read_commit(cp, 2, &wm, &err), 0);
    assert_int_equal(wm, 25);

    /* every write refuses, and changes nothing */
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_write_commit(cp, 3, 0, &err), WEIR_ESTATE);
    assert_non_null(strstr(err.message, "read-only"));
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_purge(cp, 1, NULL, &err), WEIR_ESTATE);
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_discard_pending(cp, NULL, &err), WEIR_ESTATE);
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_write_initial(cp, 0, "{\"rows\":0}", &err), WEIR_ESTATE);
    assert_false(file_exists(fx->path, "commits/3"));
    assert_true(file_exists(fx->path, "offsets/0"));

    /* the writer goes on (and purges) while the reader is open */
    write_commit(w, 3);
    struct weir_error perr = {0};
    assert_int_equal(weir_checkpoint_purge(w, 2, NULL, &perr), 0);
    weir_checkpoint_close(cp);
    cp = open_ro(fx->path);
    assert_int_equal(weir_checkpoint_last_commit(cp), 3);
    assert_int_equal(weir_checkpoint_oldest_offsets(cp), 2);
    weir_checkpoint_close(cp);
    weir_checkpoint_close(w);

    /* a name given must match, as for a writer */
    o.read_only = true;
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_open(fx->path, "other", &o, &cp, &err), WEIR_ECONFIG);
    assert_non_null(strstr(err.message, "belongs to pipeline 'orders'"));
}

/* The child opens the checkpoint and keeps it until the parent closes
 * `release`; returns the child's pid once it holds it. */
static pid_t hold_in_child(const char *dir, int *release_fd)
{
    int ready[2], release[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(ready[0]);
        close(release[1]);
        struct weir_checkpoint *cp = NULL;
        int rc = weir_checkpoint_open(dir, "orders", NULL, &cp, NULL);
        char c = rc == 0 ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(3);
        if (read(release[0], &c, 1) < 0)
            _exit(4);
        weir_checkpoint_close(cp);
        _exit(rc == 0 ? 0 : 2);
    }
    close(ready[1]);
    close(release[0]);
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, 'y');
    close(ready[0]);
    *release_fd = release[1];
    return child;
}

static void test_holder(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 1);
    struct weir_checkpoint *cp = open_ro(fx->path);
    struct weir_checkpoint_holder h;
    struct weir_error err = {0};
    /* free: the pid of the last holder (this process, make_committed) */
    assert_int_equal(weir_checkpoint_holder(cp, &h, &err), 0);
    assert_true(h.known);
    assert_false(h.held);
    assert_int_equal(h.pid, (long)getpid());

    int release = -1;
    pid_t child = hold_in_child(fx->path, &release);
    assert_int_equal(weir_checkpoint_holder(cp, &h, &err), 0);
    assert_true(h.known);
    assert_true(h.held);
    assert_int_equal(h.pid, (long)child);
    /* asking took nothing: the holder is undisturbed, another writer refused */
    open_fails(fx->path, "orders", WEIR_ESTATE, "in use by another running weir pipeline", NULL);
    close(release);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(weir_checkpoint_holder(cp, &h, &err), 0);
    assert_false(h.held);
    assert_int_equal(h.pid, (long)child);

    /* a handle of this process holds it too */
    struct weir_checkpoint *w = open_ok(fx->path, "orders");
    assert_int_equal(weir_checkpoint_holder(cp, &h, &err), 0);
    assert_true(h.held);
    assert_int_equal(h.pid, (long)getpid());
    weir_checkpoint_close(w);
    weir_checkpoint_close(cp);
}

static void test_reset_marker(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 2);
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    char *srcs[2] = {"{\"t\":{\"0\":0}}", "{\"rows\":200}"};
    struct weir_offset_entry e = {.batch_watermark_ms = 10,
                                  .batch_timestamp_ms = 1700000000999,
                                  .sources = srcs,
                                  .nsources = 2,
                                  .reset = "source 0, topic \"t\": earliest"};
    struct weir_error err = {0};
    assert_int_equal(weir_checkpoint_write_offsets(cp, 2, &e, &err), 0);
    assert_int_equal(weir_checkpoint_write_commit(cp, 2, 15, &err), 0);
    /* an empty description is no marker */
    e.reset = "";
    assert_int_equal(weir_checkpoint_write_offsets(cp, 3, &e, &err), WEIR_EINVAL);
    weir_checkpoint_close(cp);

    char *text = file_read(fx->path, "offsets/2");
    assert_string_equal(text, "v1\n{\"batchWatermarkMs\":10,\"batchTimestampMs\":1700000000999,"
                              "\"conf\":{\"weir.resetOffsets\":\"source 0, topic \\\"t\\\": earliest\"}}\n"
                              "{\"t\":{\"0\":0}}\n{\"rows\":200}");
    free(text);
    cp = open_ro(fx->path);
    struct weir_offset_entry back = {0};
    assert_int_equal(weir_checkpoint_read_offsets(cp, 2, &back, &err), 0);
    assert_string_equal(back.reset, "source 0, topic \"t\": earliest");
    assert_int_equal(back.batch_watermark_ms, 10);
    assert_int_equal(back.nsources, 2);
    weir_offset_entry_clear(&back);
    assert_null(back.reset);
    assert_int_equal(weir_checkpoint_read_offsets(cp, 1, &back, &err), 0);
    assert_null(back.reset);
    weir_offset_entry_clear(&back);
    weir_checkpoint_close(cp);

    /* a malformed marker does not parse */
    file_write(fx->path, "offsets/3", "v1\n{\"conf\":{\"weir.resetOffsets\":7}}\n{\"rows\":1}");
    open_fails(fx->path, "orders", WEIR_ECORRUPT, "offsets/3", "weir.resetOffsets", NULL);
    file_write(fx->path, "offsets/3", "v1\n{\"conf\":{\"weir.resetOffsets\":\"\"}}\n{\"rows\":1}");
    open_fails(fx->path, "orders", WEIR_ECORRUPT, "offsets/3", NULL);
    /* other conf keys (Spark's) are not markers */
    file_write(fx->path, "offsets/3",
               "v1\n{\"conf\":{\"spark.sql.shuffle.partitions\":\"200\"}}\n{\"rows\":1}");
    cp = open_ok(fx->path, "orders");
    assert_int_equal(weir_checkpoint_read_offsets(cp, 3, &back, &err), 0);
    assert_null(back.reset);
    weir_offset_entry_clear(&back);
    weir_checkpoint_close(cp);
}

static void test_discard_pending(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 2);
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    struct weir_error err = {0};
    int64_t gone = 99;
    /* nothing pending */
    assert_int_equal(weir_checkpoint_discard_pending(cp, &gone, &err), WEIR_ESTATE);
    assert_int_equal(gone, -1);
    assert_non_null(strstr(err.message, "no batch is planned but not committed"));
    /* a pending batch makes room for the marker that replaces it */
    write_offsets(cp, 2, "{\"rows\":300}");
    char *src = "{\"rows\":250}";
    struct weir_offset_entry e = {.sources = &src, .nsources = 1, .reset = "source 0: offsets"};
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_write_offsets(cp, 2, &e, &err), WEIR_EEXISTS);
    memset(&err, 0, sizeof err);
    assert_int_equal(weir_checkpoint_discard_pending(cp, &gone, &err), 0);
    assert_int_equal(gone, 2);
    assert_int_equal(weir_checkpoint_last_offsets(cp), 1);
    assert_false(file_exists(fx->path, "offsets/2"));
    assert_int_equal(weir_checkpoint_write_offsets(cp, 2, &e, &err), 0);
    assert_int_equal(weir_checkpoint_write_commit(cp, 2, 0, &err), 0);
    weir_checkpoint_close(cp);
    /* consistent afterwards */
    cp = open_ok(fx->path, "orders");
    assert_int_equal(weir_checkpoint_last_commit(cp), 2);
    struct weir_offset_entry back = {0};
    assert_int_equal(weir_checkpoint_read_offsets(cp, 2, &back, &err), 0);
    assert_string_equal(back.sources[0], "{\"rows\":250}");
    assert_string_equal(back.reset, "source 0: offsets");
    weir_offset_entry_clear(&back);
    weir_checkpoint_close(cp);

    /* the only batch of a new checkpoint */
    tmpdir_remove(fx->path);
    cp = open_ok(fx->path, "orders");
    write_offsets(cp, 0, "{\"rows\":100}");
    assert_int_equal(weir_checkpoint_discard_pending(cp, &gone, &err), 0);
    assert_int_equal(gone, 0);
    assert_int_equal(weir_checkpoint_last_offsets(cp), -1);
    write_offsets(cp, 0, "{\"rows\":50}");
    weir_checkpoint_close(cp);
    cp = open_ok(fx->path, "orders");
    assert_int_equal(weir_checkpoint_last_offsets(cp), 0);
    assert_int_equal(weir_checkpoint_last_commit(cp), -1);
    weir_checkpoint_close(cp);
}

/* Every allocation of a read-only open and of reading a marker fails once
 * in turn: each failure is reported as such. */
static void test_alloc_failures_read_only(void **state)
{
    struct tmp_fixture *fx = *state;
    make_committed(fx->path, 2);
    struct weir_checkpoint *cp = open_ok(fx->path, "orders");
    char *src = "{\"t\":{\"0\":5}}";
    struct weir_offset_entry m = {.sources = &src, .nsources = 1, .reset = "source 0: offsets"};
    struct weir_error err = {0};
    assert_int_equal(weir_checkpoint_write_offsets(cp, 2, &m, &err), 0);
    weir_checkpoint_close(cp);
    bool completed = false;
    for (long n = 0; n < 2000 && !completed; n++) {
        struct weir_checkpoint_options o = {.read_only = true};
        struct weir_offset_entry e = {0};
        struct weir_checkpoint_holder h;
        memset(&err, 0, sizeof err);
        cp = NULL;
        weir_alloc_fail_after(n);
        int rc = weir_checkpoint_open(fx->path, NULL, &o, &cp, &err);
        if (rc == 0)
            rc = weir_checkpoint_read_offsets(cp, 2, &e, &err);
        if (rc == 0)
            rc = weir_checkpoint_holder(cp, &h, &err);
        weir_alloc_fail_after(-1);
        if (rc == 0) {
            completed = true;
            assert_string_equal(e.reset, "source 0: offsets");
        } else if (rc != WEIR_ENOMEM) {
            fail_msg("allocation %ld: %d %s", n, rc, err.message);
        }
        weir_offset_entry_clear(&e);
        weir_checkpoint_close(cp);
    }
    assert_true(completed);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--crash-child") == 0)
        return crash_child(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_file_uri, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_new_checkpoint_layout, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_write_reopen_read_back, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_write_rules, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_other_pipeline, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_metadata_problems, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_version_header, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_unparsable_files, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_commit_without_offsets, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_too_many_uncommitted, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_gap_in_offsets, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lock_same_process, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lock_other_process, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_purge, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_initial_offsets, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_stray_temp_cleanup, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_offsets, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_commit, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_read_only_open, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_holder, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reset_marker, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_discard_pending, setup, tmp_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures_read_only, setup, tmp_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
