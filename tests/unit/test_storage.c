/* tests/unit/test_storage.c - the local back-end of storage.h.
 *
 * Each test works in its own fresh temp directory. Covers URI handling,
 * atomic put / put-if-absent (including two processes racing for the same
 * keys), ranged reads, listing order and filters, uploads, inputs, key
 * validation and allocation-failure paths. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "storage/storage.h"
#include "test_util.h"

struct fixture {
    char dir[64];
    struct weir_store *s;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    if (!tmpdir_create(fx->dir, sizeof fx->dir, "storage"))
        return -1;
    struct weir_error err = {0};
    /* the table root itself does not exist yet: writes create it */
    char root[128];
    snprintf(root, sizeof root, "%s/table", fx->dir);
    if (weir_store_open(&fx->s, root, &err) != 0)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    weir_store_destroy(fx->s);
    tmpdir_remove(fx->dir);
    free(fx);
    return 0;
}

static char *path_of(struct fixture *fx, const char *key)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/table/%s", fx->dir, key);
    return buf;
}

static void put_ok(struct weir_store *s, const char *key, const char *text)
{
    struct weir_error err = {0};
    int rc = weir_store_put(s, key, text, strlen(text), &err);
    if (rc != 0)
        fail_msg("put %s: %s", key, err.message);
}

static void assert_content(struct weir_store *s, const char *key, const char *text)
{
    struct weir_buf b;
    struct weir_error err = {0};
    weir_buf_init(&b);
    int rc = weir_store_get(s, key, &b, &err);
    if (rc != 0)
        fail_msg("get %s: %s", key, err.message);
    assert_int_equal(b.len, strlen(text));
    assert_memory_equal(b.data, text, b.len);
    weir_buf_free(&b);
}

static void test_open_uris(void **state)
{
    struct fixture *fx = *state;
    struct weir_store *s = NULL;
    struct weir_error err = {0};
    char uri[256];

    /* file:// URI with a percent-escaped space maps to the same directory */
    char spaced[160];
    snprintf(spaced, sizeof spaced, "%s/with space", fx->dir);
    snprintf(uri, sizeof uri, "file://%s/with%%20space/", fx->dir);
    assert_int_equal(weir_store_open(&s, uri, &err), 0);
    /* root as given, trailing slash removed */
    char want_root[256];
    snprintf(want_root, sizeof want_root, "file://%s/with%%20space", fx->dir);
    assert_string_equal(weir_store_root(s), want_root);
    put_ok(s, "k", "v1");
    weir_store_destroy(s);
    char p[200];
    snprintf(p, sizeof p, "%s/k", spaced);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 2);

    /* plain path with trailing slashes reads the same object */
    snprintf(uri, sizeof uri, "%s//", spaced);
    assert_int_equal(weir_store_open(&s, uri, &err), 0);
    assert_string_equal(weir_store_root(s), spaced);
    assert_content(s, "k", "v1");
    weir_store_destroy(s);

    snprintf(uri, sizeof uri, "file://localhost%s", spaced);
    assert_int_equal(weir_store_open(&s, uri, &err), 0);
    assert_content(s, "k", "v1");
    weir_store_destroy(s);

    /* Cloud URIs open without touching the network; bad ones are named. */
    const char *cloud[] = {"s3://bucket/t", "gs://bucket/t", "abfss://c@acct.dfs.core.windows.net/t",
                           "az://c/t"};
    const char *opts_kv[] = {"azure_storage_account_name", "acct", "aws_region", "eu-west-1"};
    struct weir_store_options opts = {opts_kv, 2};
    for (size_t i = 0; i < 4; i++) {
        weir_error_clear(&err);
        assert_int_equal(weir_store_open_with(&s, cloud[i], &opts, &err), 0);
        assert_string_equal(weir_store_root(s), cloud[i]);
        weir_store_destroy(s);
    }
    weir_error_clear(&err);
    assert_int_equal(weir_store_open(&s, "s3://B_ad/t", &err), WEIR_EINVAL);
    assert_non_null(strstr(err.message, "B_ad"));
    weir_error_clear(&err);
    assert_int_equal(weir_store_open(&s, "s3:bucket", &err), WEIR_EINVAL);
    const char *typo_kv[] = {"aws_endpoint_ur", "http://x"};
    struct weir_store_options typo = {typo_kv, 1};
    weir_error_clear(&err);
    assert_int_equal(weir_store_open_with(&s, "s3://bucket/t", &typo, &err), WEIR_ECONFIG);
    assert_non_null(strstr(err.message, "did you mean 'aws_endpoint_url'"));
    const char *bad_kv[] = {"aws_endpoint_url", "ftp://x", "tls_verify", "maybe"};
    struct weir_store_options bad = {bad_kv, 1};
    weir_error_clear(&err);
    assert_int_equal(weir_store_open_with(&s, "s3://bucket/t", &bad, &err), WEIR_ECONFIG);
    assert_non_null(strstr(err.message, "ftp://x"));
    bad.kv = bad_kv + 2;
    weir_error_clear(&err);
    assert_int_equal(weir_store_open_with(&s, "s3://bucket/t", &bad, &err), WEIR_ECONFIG);
    assert_non_null(strstr(err.message, "tls_verify"));
    assert_true(weir_store_option_secret("aws_secret_access_key"));
    assert_true(weir_store_option_secret("AZURE_STORAGE_ACCOUNT_KEY"));
    assert_false(weir_store_option_secret("aws_region"));
    weir_error_clear(&err);
    assert_int_equal(weir_store_open(&s, "abfss://acct.dfs.core.windows.net/t", &err), WEIR_ECONFIG);
    weir_error_clear(&err);
    assert_int_equal(weir_store_open(&s, "ftp2://x/y", &err), WEIR_EUNSUPPORTED);
    assert_non_null(strstr(err.message, "ftp2"));
    weir_error_clear(&err);
    assert_int_equal(weir_store_open(&s, "", &err), WEIR_EINVAL);
    weir_error_clear(&err);
    assert_int_equal(weir_store_open(&s, "file://otherhost/x", &err), WEIR_EUNSUPPORTED);
    weir_error_clear(&err);
    assert_int_equal(weir_store_open(&s, "file:///bad%zzescape", &err), WEIR_EINVAL);
    assert_non_null(strstr(err.message, "percent"));

    /* "name:" without "//" is a relative path, not a scheme */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(fx->dir), 0);
    weir_error_clear(&err);
    assert_int_equal(weir_store_open(&s, "data:2024/t", &err), 0);
    put_ok(s, "k", "v2");
    weir_store_destroy(s);
    assert_int_equal(chdir(cwd), 0);
    snprintf(p, sizeof p, "%s/data:2024/t/k", fx->dir);
    assert_int_equal(stat(p, &st), 0);

    weir_store_destroy(NULL); /* no-op */
}

static void test_put_get_replace(void **state)
{
    struct fixture *fx = *state;
    struct weir_error err = {0};
    put_ok(fx->s, "a/b/c/deep.json", "{\"x\":1}");
    assert_content(fx->s, "a/b/c/deep.json", "{\"x\":1}");
    put_ok(fx->s, "a/b/c/deep.json", "replaced");
    assert_content(fx->s, "a/b/c/deep.json", "replaced");
    /* empty object */
    put_ok(fx->s, "empty", "");
    assert_content(fx->s, "empty", "");
    /* get appends to what the buffer holds */
    struct weir_buf b;
    weir_buf_init(&b);
    assert_int_equal(weir_buf_append_str(&b, "pre:"), 0);
    assert_int_equal(weir_store_get(fx->s, "a/b/c/deep.json", &b, &err), 0);
    assert_int_equal(b.len, 12);
    assert_memory_equal(b.data, "pre:replaced", 12);
    /* a missing key: NOTFOUND naming the key, buffer untouched */
    assert_int_equal(weir_store_get(fx->s, "a/nope.json", &b, &err), WEIR_ENOTFOUND);
    assert_non_null(strstr(err.message, "a/nope.json"));
    assert_int_equal(b.len, 12);
    weir_buf_free(&b);
    /* a directory is not an object */
    weir_buf_init(&b);
    weir_error_clear(&err);
    assert_int_equal(weir_store_get(fx->s, "a/b", &b, &err), WEIR_ENOTFOUND);
    weir_buf_free(&b);
    /* no temp files left behind */
    char dir[256];
    snprintf(dir, sizeof dir, "%s/table/a/b/c", fx->dir);
    assert_int_equal(temp_file_count(dir, NULL), 0);

    /* a big object crosses the read loop's chunk size */
    size_t n = 1 << 20;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7 + 3);
    assert_int_equal(weir_store_put(fx->s, "big.bin", big, n, &err), 0);
    weir_buf_init(&b);
    assert_int_equal(weir_store_get(fx->s, "big.bin", &b, &err), 0);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.data, big, n);
    weir_buf_free(&b);
    free(big);
}

static void test_get_range_and_head(void **state)
{
    struct fixture *fx = *state;
    struct weir_error err = {0};
    put_ok(fx->s, "f.bin", "0123456789");
    char out[16] = {0};
    assert_int_equal(weir_store_get_range(fx->s, "f.bin", 3, out, 4, &err), 0);
    assert_memory_equal(out, "3456", 4);
    assert_int_equal(weir_store_get_range(fx->s, "f.bin", 6, out, 4, &err), 0);
    assert_memory_equal(out, "6789", 4);
    assert_int_equal(weir_store_get_range(fx->s, "f.bin", 10, out, 0, &err), 0);
    assert_int_equal(weir_store_get_range(fx->s, "f.bin", 8, out, 4, &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "f.bin"));
    assert_non_null(strstr(err.message, "offset 8"));
    weir_error_clear(&err);
    assert_int_equal(weir_store_get_range(fx->s, "missing.bin", 0, out, 1, &err), WEIR_ENOTFOUND);
    weir_error_clear(&err);
    assert_int_equal(weir_store_get_range(fx->s, "f.bin", UINT64_MAX - 1, out, 4, &err), WEIR_ERANGE);

    struct weir_object_info info = {.key = (char *)"junk"};
    time_t before = time(NULL);
    assert_int_equal(weir_store_head(fx->s, "f.bin", &info, &err), 0);
    assert_null(info.key);
    assert_int_equal(info.size, 10);
    assert_true(info.mtime_ms / 1000 <= (int64_t)before + 1);
    assert_true(info.mtime_ms / 1000 >= (int64_t)before - 60);
    weir_error_clear(&err);
    assert_int_equal(weir_store_head(fx->s, "nope", &info, &err), WEIR_ENOTFOUND);
    assert_non_null(strstr(err.message, "nope"));
}

static void test_put_if_absent(void **state)
{
    struct fixture *fx = *state;
    struct weir_error err = {0};
    const char *k = "_delta_log/00000000000000000000.json";
    assert_int_equal(weir_store_put_if_absent(fx->s, k, "first", 5, &err), 0);
    assert_int_equal(weir_store_put_if_absent(fx->s, k, "second", 6, &err), WEIR_EEXISTS);
    assert_non_null(strstr(err.message, "00000000000000000000.json"));
    assert_content(fx->s, k, "first");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/table/_delta_log", fx->dir);
    assert_int_equal(temp_file_count(dir, NULL), 0);
    /* the winner is a single link: the temp name is gone */
    struct stat st;
    assert_int_equal(stat(path_of(fx, k), &st), 0);
    assert_int_equal(st.st_nlink, 1);
}

static void list_expect(struct weir_store *s, const char *prefix, const char *after, bool rec,
                        const char **want, size_t n)
{
    struct weir_object_list l;
    struct weir_error err = {0};
    int rc = weir_store_list(s, prefix, after, rec, &l, &err);
    if (rc != 0)
        fail_msg("list '%s': %s", prefix, err.message);
    if (l.count != n) {
        for (size_t i = 0; i < l.count; i++)
            print_message("got %s\n", l.items[i].key);
        fail_msg("list '%s' after '%s' rec=%d: %zu items, want %zu", prefix, after ? after : "(null)", rec,
                 l.count, n);
    }
    for (size_t i = 0; i < n; i++)
        assert_string_equal(l.items[i].key, want[i]);
    weir_object_list_free(&l);
    assert_null(l.items);
    assert_int_equal(l.count, 0);
}

static void test_list(void **state)
{
    struct fixture *fx = *state;
    const char *keys[] = {"_delta_log/00000000000000000001.json",
                          "_delta_log/00000000000000000000.json",
                          "_delta_log/00000000000000000010.checkpoint.parquet",
                          "_delta_log/_last_checkpoint",
                          "part-b.parquet",
                          "part-a.parquet",
                          "p=a/x.parquet",
                          "p=b/q=1/y.parquet",
                          "p.a",
                          "p"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        put_ok(fx->s, keys[i], keys[i]);
    /* a temp file left by a crashed writer is not an object */
    FILE *f = fopen(path_of(fx, "_delta_log/.00000000000000000002.json.0123456789abcdef.tmp"), "w");
    assert_non_null(f);
    fclose(f);

    const char *top[] = {"p", "p.a", "part-a.parquet", "part-b.parquet"};
    list_expect(fx->s, "", NULL, false, top, 4);
    list_expect(fx->s, NULL, NULL, false, top, 4);
    const char *log[] = {"_delta_log/00000000000000000000.json", "_delta_log/00000000000000000001.json",
                         "_delta_log/00000000000000000010.checkpoint.parquet", "_delta_log/_last_checkpoint"};
    list_expect(fx->s, "_delta_log/", NULL, false, log, 4);
    list_expect(fx->s, "_delta_log/", "_delta_log/00000000000000000000.json", false, log + 1, 3);
    list_expect(fx->s, "_delta_log/", "_delta_log/00000000000000000005", false, log + 2, 2);
    list_expect(fx->s, "_delta_log/", "_delta_log/zzz", false, NULL, 0);
    /* a partial-name prefix */
    list_expect(fx->s, "_delta_log/0000", NULL, false, log, 3);
    /* byte-wise order over whole keys: '.' (0x2e) < '/' (0x2f) < '=' (0x3d) */
    const char *all[] = {"_delta_log/00000000000000000000.json",
                         "_delta_log/00000000000000000001.json",
                         "_delta_log/00000000000000000010.checkpoint.parquet",
                         "_delta_log/_last_checkpoint",
                         "p",
                         "p.a",
                         "p=a/x.parquet",
                         "p=b/q=1/y.parquet",
                         "part-a.parquet",
                         "part-b.parquet"};
    list_expect(fx->s, "", NULL, true, all, 10);
    list_expect(fx->s, "p", NULL, true, all + 4, 6);
    list_expect(fx->s, "p=", NULL, true, all + 6, 2);
    list_expect(fx->s, "p=b/", NULL, true, all + 7, 1);
    list_expect(fx->s, "p=b/", NULL, false, NULL, 0);
    list_expect(fx->s, "", "p=a/x.parquet", true, all + 7, 3);
    /* a prefix whose directory does not exist is an empty listing */
    list_expect(fx->s, "nothing/here/", NULL, true, NULL, 0);

    /* sizes and times come with the keys */
    struct weir_object_list l;
    struct weir_error err = {0};
    assert_int_equal(weir_store_list(fx->s, "_delta_log/_last", NULL, false, &l, &err), 0);
    assert_int_equal(l.count, 1);
    assert_int_equal(l.items[0].size, strlen("_delta_log/_last_checkpoint"));
    assert_true(l.items[0].mtime_ms > 1600000000000LL);
    weir_object_list_free(&l);
    weir_object_list_free(NULL);

    /* a store whose root does not exist lists nothing */
    struct weir_store *s2 = NULL;
    char root[128];
    snprintf(root, sizeof root, "%s/never-created", fx->dir);
    assert_int_equal(weir_store_open(&s2, root, &err), 0);
    list_expect(s2, "", NULL, true, NULL, 0);
    weir_store_destroy(s2);
}

static void test_delete(void **state)
{
    struct fixture *fx = *state;
    struct weir_error err = {0};
    put_ok(fx->s, "d/x", "1");
    assert_int_equal(weir_store_delete(fx->s, "d/x", &err), 0);
    assert_int_equal(access(path_of(fx, "d/x"), F_OK), -1);
    assert_int_equal(weir_store_delete(fx->s, "d/x", &err), WEIR_ENOTFOUND);
    assert_non_null(strstr(err.message, "d/x"));
    weir_error_clear(&err);
    assert_int_equal(weir_store_delete(fx->s, "d", &err), WEIR_ENOTFOUND);
}

static void test_bad_keys(void **state)
{
    struct fixture *fx = *state;
    const char *bad[] = {"", "/etc/passwd", "../escape", "a/../../b", "a//b", "a/./b", ".", "a/"};
    struct weir_buf b;
    weir_buf_init(&b);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct weir_error err = {0};
        assert_int_equal(weir_store_put(fx->s, bad[i], "x", 1, &err), WEIR_EINVAL);
        assert_int_not_equal(err.message[0], '\0');
        assert_int_equal(weir_store_get(fx->s, bad[i], &b, NULL), WEIR_EINVAL);
        assert_int_equal(weir_store_put_if_absent(fx->s, bad[i], "x", 1, NULL), WEIR_EINVAL);
        assert_int_equal(weir_store_delete(fx->s, bad[i], NULL), WEIR_EINVAL);
    }
    struct weir_object_list l;
    assert_int_equal(weir_store_list(fx->s, "../", NULL, true, &l, NULL), WEIR_EINVAL);
    assert_int_equal(weir_store_list(fx->s, "a//", NULL, true, &l, NULL), WEIR_EINVAL);
    /* names that merely contain dots, spaces, '=' and '%' are fine */
    put_ok(fx->s, "p=x%2Fy%3Dz%25/..data. file", "ok");
    assert_content(fx->s, "p=x%2Fy%3Dz%25/..data. file", "ok");
    weir_buf_free(&b);
}

static void test_input(void **state)
{
    struct fixture *fx = *state;
    struct weir_error err = {0};
    put_ok(fx->s, "data/part-0.parquet", "PAR1....footerPAR1");
    struct weir_input in;
    assert_int_equal(weir_store_input_open(fx->s, "data/part-0.parquet", &in, &err), 0);
    assert_int_equal(in.size, 18);
    assert_non_null(strstr(in.name, "data/part-0.parquet"));
    char buf[8];
    assert_int_equal(in.read_at(in.ctx, 14, buf, 4, &err), 0);
    assert_memory_equal(buf, "PAR1", 4);
    assert_int_equal(in.read_at(in.ctx, 0, buf, 4, &err), 0);
    assert_memory_equal(buf, "PAR1", 4);
    assert_int_equal(in.read_at(in.ctx, 16, buf, 4, &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "part-0.parquet"));
    weir_store_input_close(&in);
    weir_store_input_close(&in); /* second close is a no-op */
    weir_error_clear(&err);
    assert_int_equal(weir_store_input_open(fx->s, "data/none.parquet", &in, &err), WEIR_ENOTFOUND);
    assert_non_null(strstr(err.message, "none.parquet"));
}

static void test_upload(void **state)
{
    struct fixture *fx = *state;
    struct weir_error err = {0};
    struct weir_store_upload *u = NULL;
    assert_int_equal(weir_store_upload_begin(fx->s, "p=1/part-00000.parquet", &u, &err), 0);
    struct weir_output o = weir_store_upload_output(u);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(o.write(o.ctx, "0123456789", 10, &err), 0);
    /* not visible before commit, neither by head nor by list */
    struct weir_object_info info;
    assert_int_equal(weir_store_head(fx->s, "p=1/part-00000.parquet", &info, NULL), WEIR_ENOTFOUND);
    list_expect(fx->s, "p=1/", NULL, false, NULL, 0);
    uint64_t size = 0;
    assert_int_equal(weir_store_upload_commit(u, &size, &err), 0);
    assert_int_equal(size, 10000);
    assert_int_equal(weir_store_head(fx->s, "p=1/part-00000.parquet", &info, &err), 0);
    assert_int_equal(info.size, 10000);
    char buf[10];
    assert_int_equal(weir_store_get_range(fx->s, "p=1/part-00000.parquet", 9990, buf, 10, &err), 0);
    assert_memory_equal(buf, "0123456789", 10);

    /* abort leaves nothing, not even the temp file */
    assert_int_equal(weir_store_upload_begin(fx->s, "p=1/part-00001.parquet", &u, &err), 0);
    o = weir_store_upload_output(u);
    assert_int_equal(o.write(o.ctx, "zz", 2, &err), 0);
    weir_store_upload_abort(u);
    weir_store_upload_abort(NULL);
    const char *one[] = {"p=1/part-00000.parquet"};
    list_expect(fx->s, "p=1/", NULL, false, one, 1);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/table/p=1", fx->dir);
    assert_int_equal(temp_file_count(dir, NULL), 0);
}

/* Two processes race put_if_absent on the same 200 keys. For every key
 * exactly one wins, the loser gets WEIR_EEXISTS, and the object holds the
 * winner's bytes. */
#define RACE_KEYS 200
static void test_put_if_absent_race(void **state)
{
    struct fixture *fx = *state;
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t kids[2];
    char winfile[2][128];
    for (int c = 0; c < 2; c++) {
        snprintf(winfile[c], sizeof winfile[c], "%s/wins-%d", fx->dir, c);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(go[1]);
            char x;
            if (read(go[0], &x, 1) != 1) /* both start together */
                _exit(3);
            struct weir_store *s = NULL;
            char root[128];
            snprintf(root, sizeof root, "%s/table", fx->dir);
            if (weir_store_open(&s, root, NULL) != 0)
                _exit(4);
            FILE *wf = fopen(winfile[c], "w");
            if (wf == NULL)
                _exit(5);
            for (int k = 0; k < RACE_KEYS; k++) {
                char key[64], body[64];
                int kk = k; /* same order: the two contend for every key */
                snprintf(key, sizeof key, "_delta_log/%020d.json", kk);
                snprintf(body, sizeof body, "writer %d key %d", c, kk);
                struct weir_error err = {0};
                int rc = weir_store_put_if_absent(s, key, body, strlen(body), &err);
                if (rc == 0)
                    fprintf(wf, "%d\n", kk);
                else if (rc != WEIR_EEXISTS) {
                    fprintf(stderr, "child %d: %s\n", c, err.message);
                    _exit(6);
                }
            }
            fclose(wf);
            weir_store_destroy(s);
            _exit(0);
        }
        kids[c] = pid;
    }
    close(go[0]);
    assert_int_equal(write(go[1], "go", 2), 2);
    close(go[1]);
    for (int c = 0; c < 2; c++) {
        int status = 0;
        assert_int_equal(waitpid(kids[c], &status, 0), kids[c]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    int winner[RACE_KEYS];
    for (int k = 0; k < RACE_KEYS; k++)
        winner[k] = -1;
    for (int c = 0; c < 2; c++) {
        FILE *wf = fopen(winfile[c], "r");
        assert_non_null(wf);
        int k;
        while (fscanf(wf, "%d", &k) == 1) {
            assert_true(k >= 0 && k < RACE_KEYS);
            if (winner[k] != -1)
                fail_msg("key %d won by both writers", k);
            winner[k] = c;
        }
        fclose(wf);
    }
    for (int k = 0; k < RACE_KEYS; k++) {
        if (winner[k] < 0)
            fail_msg("key %d won by nobody", k);
        char key[64], body[64];
        snprintf(key, sizeof key, "_delta_log/%020d.json", k);
        snprintf(body, sizeof body, "writer %d key %d", winner[k], k);
        assert_content(fx->s, key, body);
    }
    struct weir_object_list l;
    assert_int_equal(weir_store_list(fx->s, "_delta_log/", NULL, false, &l, NULL), 0);
    assert_int_equal(l.count, RACE_KEYS);
    weir_object_list_free(&l);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/table/_delta_log", fx->dir);
    assert_int_equal(temp_file_count(dir, NULL), 0);
}

/* Four threads share one store handle and race put_if_absent on the same
 * keys while also listing: exactly one winner per key, no errors. */
#define THREADS     4
#define THREAD_KEYS 100
struct race_arg {
    struct weir_store *s;
    int id;
    int wins[THREAD_KEYS];
    int errors;
};

static void *race_thread(void *p)
{
    struct race_arg *a = p;
    for (int k = 0; k < THREAD_KEYS; k++) {
        char key[64], body[32];
        snprintf(key, sizeof key, "t/%03d", k);
        snprintf(body, sizeof body, "thread %d", a->id);
        int rc = weir_store_put_if_absent(a->s, key, body, strlen(body), NULL);
        if (rc == 0)
            a->wins[k] = 1;
        else if (rc != WEIR_EEXISTS)
            a->errors++;
        if (k % 10 == 0) {
            struct weir_object_list l;
            if (weir_store_list(a->s, "t/", NULL, false, &l, NULL) != 0)
                a->errors++;
            weir_object_list_free(&l);
        }
    }
    return NULL;
}

static void test_threads_share_a_store(void **state)
{
    struct fixture *fx = *state;
    struct race_arg args[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].s = fx->s;
        args[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, race_thread, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(args[i].errors, 0);
    for (int k = 0; k < THREAD_KEYS; k++) {
        int winners = 0, who = -1;
        for (int i = 0; i < THREADS; i++)
            if (args[i].wins[k]) {
                winners++;
                who = i;
            }
        if (winners != 1)
            fail_msg("key %d: %d winners", k, winners);
        char key[64], body[32];
        snprintf(key, sizeof key, "t/%03d", k);
        snprintf(body, sizeof body, "thread %d", who);
        assert_content(fx->s, key, body);
    }
}

/* Fail each allocation in turn: every call returns 0 or WEIR_ENOMEM, leaks
 * nothing (ASan builds check) and leaves no temp files. */
static void test_alloc_failures(void **state)
{
    struct fixture *fx = *state;
    put_ok(fx->s, "seed/a", "A");
    put_ok(fx->s, "seed/b/c", "C");
    int saw_ok = 0, saw_nomem = 0;
    for (long n = 0; n < 40; n++) {
        char key[64];
        snprintf(key, sizeof key, "af/k%ld", n);
        struct weir_error err = {0};
        struct weir_buf b;
        weir_buf_init(&b);
        struct weir_object_list l = {0};
        struct weir_store_upload *u = NULL;
        struct weir_store *s2 = NULL;

        weir_alloc_fail_after(n);
        int r1 = weir_store_put(fx->s, key, "v", 1, &err);
        int r2 = weir_store_put_if_absent(fx->s, key, "w", 1, &err);
        int r3 = weir_store_get(fx->s, "seed/a", &b, &err);
        int r4 = weir_store_list(fx->s, "", NULL, true, &l, &err);
        int r5 = weir_store_upload_begin(fx->s, "af/up", &u, &err);
        int r6 = WEIR_ENOMEM;
        if (r5 == 0)
            r6 = weir_store_upload_commit(u, NULL, &err);
        int r7 = weir_store_open(&s2, "file:///tmp/x", &err);
        weir_alloc_fail_after(-1);

        int rs[] = {r1, r2, r3, r4, r5, r6, r7};
        for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) {
            if (rs[i] == 0)
                saw_ok++;
            else if (rs[i] == WEIR_ENOMEM)
                saw_nomem++;
            else if (!(i == 1 && rs[i] == WEIR_EEXISTS))
                fail_msg("n=%ld call %zu: %d %s", n, i, rs[i], err.message);
        }
        weir_object_list_free(&l);
        weir_buf_free(&b);
        weir_store_destroy(s2);
    }
    assert_true(saw_ok > 0);
    assert_true(saw_nomem > 0);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/table/af", fx->dir);
    assert_int_equal(temp_file_count(dir, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_uris, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_get_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_range_and_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_if_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_if_absent_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_a_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
    };
    return cmocka_run_group_tests_name("storage", tests, NULL, NULL);
}
