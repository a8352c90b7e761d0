/* tests/tools/store_conformance.c - the storage.h contract checked against
 * a live store: `store_conformance URI` (options from the environment, as
 * the service reads them). tests/integration/test_object_stores.py runs it
 * against the S3, Azure and GCS servers it starts; it also runs against a
 * local directory, so every back-end passes the same checks.
 *
 * Prints one line per check; exits 1 at the first failure with the reason. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"
#include "storage/storage.h"

static const char *uri;

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s: ", uri);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

#define CHECK(cond, ...)       \
    do {                       \
        if (!(cond))           \
            fail(__VA_ARGS__); \
    } while (0)

static struct weir_store *st;
static struct weir_error NULL_ERR;

static void put_str(const char *key, const char *text)
{
    struct weir_error err = {0};
    if (weir_store_put(st, key, text, strlen(text), &err))
        fail("put %s: %s", key, err.message);
}

static void check_basic(void)
{
    struct weir_error err = {0};
    struct weir_buf b;
    weir_buf_init(&b);
    put_str("dir/a.json", "{\"a\":1}");
    put_str("dir/a.json", "{\"a\":2}"); /* replace */
    CHECK(weir_store_get(st, "dir/a.json", &b, &err) == 0, "get: %s", err.message);
    CHECK(b.len == 7 && memcmp(b.data, "{\"a\":2}", 7) == 0, "get returned other bytes");
    char r[3];
    CHECK(weir_store_get_range(st, "dir/a.json", 2, r, 3, &err) == 0, "get_range: %s", err.message);
    CHECK(memcmp(r, "a\":", 3) == 0, "get_range returned other bytes");
    CHECK(weir_store_get_range(st, "dir/a.json", 5, r, 3, &err) == WEIR_ECORRUPT, "range past the end: %d",
          err.code);
    struct weir_object_info info;
    CHECK(weir_store_head(st, "dir/a.json", &info, &err) == 0, "head: %s", err.message);
    CHECK(info.size == 7, "head size %llu", (unsigned long long)info.size);
    int64_t now = weir_now_ms();
    CHECK(info.mtime_ms > now - 600000 && info.mtime_ms < now + 600000, "head mtime %lld far from now",
          (long long)info.mtime_ms);
    weir_error_clear(&err);
    CHECK(weir_store_get(st, "dir/missing", &b, &err) == WEIR_ENOTFOUND, "missing get: %d", err.code);
    CHECK(strstr(err.message, "dir/missing") != NULL, "message names the key: %s", err.message);
    weir_error_clear(&err);
    CHECK(weir_store_head(st, "dir/missing", &info, &err) == WEIR_ENOTFOUND, "missing head: %d", err.code);
    /* Keys with characters that need encoding. */
    put_str("odd/a b+c=d&e%f~g.txt", "odd");
    b.len = 0;
    CHECK(weir_store_get(st, "odd/a b+c=d&e%f~g.txt", &b, &err) == 0, "odd key: %s", err.message);
    CHECK(b.len == 3, "odd key content");
    weir_buf_free(&b);
    puts("ok put/get/get_range/head");
}

static void check_put_if_absent(void)
{
    struct weir_error err = {0};
    CHECK(weir_store_put_if_absent(st, "log/00000.json", "v0", 2, &err) == 0, "pia: %s", err.message);
    weir_error_clear(&err);
    CHECK(weir_store_put_if_absent(st, "log/00000.json", "other", 5, &err) == WEIR_EEXISTS,
          "pia twice: %d %s", err.code, err.message);
    struct weir_buf b;
    weir_buf_init(&b);
    CHECK(weir_store_get(st, "log/00000.json", &b, &NULL_ERR) == 0 && b.len == 2, "pia kept the first");
    weir_buf_free(&b);
    puts("ok put_if_absent");
}

struct racer {
    int id, wins;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    char body[32];
    for (int v = 1; v <= 8; v++) {
        char key[64];
        snprintf(key, sizeof key, "race/%05d.json", v);
        snprintf(body, sizeof body, "writer %d", r->id);
        struct weir_error err = {0};
        int rc = weir_store_put_if_absent(st, key, body, strlen(body), &err);
        if (rc == 0)
            r->wins++;
        else if (rc != WEIR_EEXISTS)
            fail("race put_if_absent %s: %s", key, err.message);
    }
    return NULL;
}

static void check_race(void)
{
    enum { N = 4 };
    pthread_t t[N];
    struct racer r[N] = {{0}};
    for (int i = 0; i < N; i++) {
        r[i].id = i;
        pthread_create(&t[i], NULL, race, &r[i]);
    }
    int wins = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        wins += r[i].wins;
    }
    CHECK(wins == 8, "8 keys raced by %d writers: %d wins (each key must have exactly one)", N, wins);
    puts("ok put_if_absent race: one winner per key");
}

static void check_list(void)
{
    struct weir_error err = {0};
    put_str("l/b", "1");
    put_str("l/a", "1");
    put_str("l/c/d", "22");
    put_str("l/c/e", "333");
    put_str("l/ca", "4444");
    struct weir_object_list l;
    CHECK(weir_store_list(st, "l/", NULL, true, &l, &err) == 0, "list: %s", err.message);
    const char *want[] = {"l/a", "l/b", "l/c/d", "l/c/e", "l/ca"};
    CHECK(l.count == 5, "recursive list: %zu keys", l.count);
    for (size_t i = 0; i < 5; i++)
        CHECK(strcmp(l.items[i].key, want[i]) == 0, "list[%zu] = %s, want %s", i, l.items[i].key, want[i]);
    CHECK(l.items[4].size == 4, "list size");
    weir_object_list_free(&l);
    CHECK(weir_store_list(st, "l/", NULL, false, &l, &err) == 0, "list: %s", err.message);
    CHECK(l.count == 3 && strcmp(l.items[2].key, "l/ca") == 0, "non-recursive list: %zu keys", l.count);
    weir_object_list_free(&l);
    CHECK(weir_store_list(st, "l/", "l/b", true, &l, &err) == 0, "list: %s", err.message);
    CHECK(l.count == 3 && strcmp(l.items[0].key, "l/c/d") == 0, "start_after: %zu keys", l.count);
    weir_object_list_free(&l);
    CHECK(weir_store_list(st, "l/c", NULL, false, &l, &err) == 0, "list: %s", err.message);
    CHECK(l.count == 1 && strcmp(l.items[0].key, "l/ca") == 0, "partial-name prefix: %zu keys", l.count);
    weir_object_list_free(&l);
    CHECK(weir_store_list(st, "nothing/", NULL, true, &l, &err) == 0 && l.count == 0, "empty list");
    weir_object_list_free(&l);
    /* Pagination: more keys than one page of the smallest service (1000). */
    if (getenv("STORE_CHECK_PAGES")) {
        for (int i = 0; i < 1100; i++) {
            char k[32];
            snprintf(k, sizeof k, "p/%05d", i);
            put_str(k, "x");
        }
        CHECK(weir_store_list(st, "p/", NULL, true, &l, &err) == 0, "list: %s", err.message);
        CHECK(l.count == 1100, "paged list: %zu keys", l.count);
        for (size_t i = 1; i < l.count; i++)
            CHECK(strcmp(l.items[i - 1].key, l.items[i].key) < 0, "paged list out of order");
        weir_object_list_free(&l);
        CHECK(weir_store_list(st, "p/", "p/00998", true, &l, &err) == 0, "list: %s", err.message);
        CHECK(l.count == 101 && strcmp(l.items[0].key, "p/00999") == 0, "paged start_after: %zu", l.count);
        weir_object_list_free(&l);
    }
    puts("ok list: order, recursion, start_after, partial prefixes");
}

static void check_delete(void)
{
    struct weir_error err = {0};
    put_str("del/x", "x");
    CHECK(weir_store_delete(st, "del/x", &err) == 0, "delete: %s", err.message);
    struct weir_object_info info;
    CHECK(weir_store_head(st, "del/x", &info, &err) == WEIR_ENOTFOUND, "deleted key still there");
    puts("ok delete");
}

static void check_upload(size_t size)
{
    struct weir_error err = {0};
    uint8_t *data = weir_malloc(size);
    for (size_t i = 0; i < size; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    char key[64];
    snprintf(key, sizeof key, "up/%zu.bin", size);
    struct weir_store_upload *u;
    CHECK(weir_store_upload_begin(st, key, &u, &err) == 0, "upload_begin: %s", err.message);
    struct weir_output o = weir_store_upload_output(u);
    for (size_t off = 0; off < size; off += 100000) {
        size_t n = size - off < 100000 ? size - off : 100000;
        CHECK(o.write(o.ctx, data + off, n, &err) == 0, "upload write: %s", err.message);
    }
    struct weir_object_info info;
    if (size > 0)
        CHECK(weir_store_head(st, key, &info, &err) == WEIR_ENOTFOUND, "upload visible before commit");
    uint64_t got = 0;
    CHECK(weir_store_upload_commit(u, &got, &err) == 0, "upload commit: %s", err.message);
    CHECK(got == size, "upload size %llu", (unsigned long long)got);
    struct weir_input in;
    CHECK(weir_store_input_open(st, key, &in, &err) == 0, "input_open: %s", err.message);
    CHECK(in.size == size, "input size %llu, want %zu", (unsigned long long)in.size, size);
    uint8_t buf[4096];
    uint64_t offs[] = {0, size / 3, size > 4096 ? size - 4096 : 0};
    for (int i = 0; i < 3 && size >= 4096; i++) {
        CHECK(weir_input_read(&in, offs[i], buf, 4096, &err) == 0, "read_at: %s", err.message);
        CHECK(memcmp(buf, data + offs[i], 4096) == 0, "read_at %llu: other bytes",
              (unsigned long long)offs[i]);
    }
    weir_store_input_close(&in);
    struct weir_buf b;
    weir_buf_init(&b);
    CHECK(weir_store_get(st, key, &b, &err) == 0 && b.len == size && memcmp(b.data, data, size) == 0,
          "uploaded bytes differ");
    weir_buf_free(&b);
    /* An aborted upload leaves nothing. */
    CHECK(weir_store_upload_begin(st, "up/aborted.bin", &u, &err) == 0, "upload_begin");
    o = weir_store_upload_output(u);
    CHECK(o.write(o.ctx, data, size, &err) == 0, "upload write: %s", err.message);
    weir_store_upload_abort(u);
    CHECK(weir_store_head(st, "up/aborted.bin", &info, &err) == WEIR_ENOTFOUND, "aborted upload visible");
    weir_free(data);
    printf("ok upload of %zu bytes, ranged input reads, abort\n", size);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: store_conformance URI\n");
        return 2;
    }
    uri = argv[1];
    struct weir_error err = {0};
    if (weir_store_open(&st, uri, &err))
        fail("open: %s", err.message);
    check_basic();
    check_put_if_absent();
    check_race();
    check_list();
    check_delete();
    check_upload(100000);
    const char *big = getenv("STORE_CHECK_UPLOAD_BYTES");
    check_upload(big ? (size_t)strtoull(big, NULL, 10) : 12u << 20);
    weir_store_destroy(st);
    puts("all checks passed");
    return 0;
}
