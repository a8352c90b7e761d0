/* tests/unit/test_util.h - helpers shared by the unit tests: a temp
 * directory per test (create, remove recursively, or a whole cmocka
 * setup/teardown fixture around one), reading, writing and
 * probing files below a directory, counting the temp files an atomic write
 * leaves behind, a schema from DDL, and sleeping. Every test_*.c is its own
 * executable, so these are static inline: each test uses the ones it needs
 * without unused-function warnings. Test code, not library code: plain
 * calloc/free, and a failure ends the test through cmocka. Include after
 * the system headers; it pulls in cmocka itself. */
#ifndef WEIR_TEST_UTIL_H
#define WEIR_TEST_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/types.h"

/* Largest file file_read returns (the rest is cut). */
#define TEST_UTIL_READ_MAX (1 << 20)

static inline int tmpdir_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

/* Creates a fresh directory "/tmp/weir-test-<tag>-XXXXXX" into dir (cap
 * bytes); false if it cannot. */
static inline bool tmpdir_create(char *dir, size_t cap, const char *tag)
{
    int n = snprintf(dir, cap, "/tmp/weir-test-%s-XXXXXX", tag);
    if (n < 0 || (size_t)n >= cap)
        return false;
    return mkdtemp(dir) != NULL;
}

/* Removes dir and everything below it (links are not followed). */
static inline void tmpdir_remove(const char *dir)
{
    nftw(dir, tmpdir_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The fixture of a test that works below its own temp directory: dir, and
 * path = "<dir>/<rel>" inside it (not created: the code under test does). */
struct tmp_fixture {
    char dir[64];
    char path[192];
};

/* A cmocka setup: a new fixture in *state with a fresh temp directory
 * "/tmp/weir-test-<tag>-XXXXXX"; -1 if it cannot be made. */
static inline int tmp_fixture_setup(void **state, const char *tag, const char *rel)
{
    struct tmp_fixture *fx = calloc(1, sizeof *fx);
    if (fx == NULL)
        return -1;
    if (!tmpdir_create(fx->dir, sizeof fx->dir, tag)) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof fx->path, "%s/%s", fx->dir, rel);
    *state = fx;
    return 0;
}

/* The matching teardown: removes the directory and frees the fixture. */
static inline int tmp_fixture_teardown(void **state)
{
    struct tmp_fixture *fx = *state;
    tmpdir_remove(fx->dir);
    free(fx);
    return 0;
}

/* The file dir/rel as a NUL-terminated calloc'd string (the caller frees),
 * NULL if it cannot be opened. */
static inline char *file_read(const char *dir, const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, TEST_UTIL_READ_MAX);
    assert_non_null(buf);
    size_t n = fread(buf, 1, TEST_UTIL_READ_MAX - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Writes text to dir/rel, creating its parent directories. */
static inline void file_write(const char *dir, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static inline bool file_exists(const char *dir, const char *rel)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return stat(path, &st) == 0;
}

/* Entries of dir/rel (rel NULL: dir itself) named like a temp file: a
 * leading '.' and a ".tmp" ending. 0 if the directory does not exist. */
static inline int temp_file_count(const char *dir, const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel ? rel : "");
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' && len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* The schema of a DDL column list; fails the test if it does not parse. */
static inline struct weir_type *ddl_schema(const char *ddl)
{
    struct weir_type *t = NULL;
    struct weir_error err = {0};
    if (weir_schema_from_ddl(ddl, &t, &err) != 0)
        fail_msg("ddl '%s': %s", ddl, err.message);
    return t;
}

/* Sleeps ms milliseconds, resuming after signals. */
static inline void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

#endif
