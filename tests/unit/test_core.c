/* tests/unit/test_core.c - errors, allocation hooks and fault injection,
 * byte buffers and memory streams, log line format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/log.h"

/* ------------------------------------------------------------- errors */

static void test_strerror_covers_every_code(void **state)
{
    (void)state;
    assert_string_equal(weir_strerror(WEIR_OK), "success");
    assert_string_equal(weir_strerror(WEIR_ENOMEM), "out of memory");
    assert_string_equal(weir_strerror(WEIR_ECONFLICT), "concurrent modification conflict");
    assert_string_equal(weir_strerror(WEIR_ESTATE), "invalid state");
    assert_string_equal(weir_strerror(-999), "unknown error");
    assert_string_equal(weir_strerror(42), "unknown error");
    for (int c = WEIR_ESTATE; c <= WEIR_ENOMEM; c++)
        assert_string_not_equal(weir_strerror(c), "unknown error");
}

static void test_error_set_first_wins_and_prefix(void **state)
{
    (void)state;
    struct weir_error err = {0};
    assert_int_equal(weir_error_set(&err, WEIR_ECORRUPT, "bad footer at offset %d", 17), WEIR_ECORRUPT);
    assert_int_equal(err.code, WEIR_ECORRUPT);
    assert_false(err.retriable);
    assert_string_equal(err.message, "bad footer at offset 17");
    /* a second set keeps the first message but returns its own code */
    assert_int_equal(weir_error_set(&err, WEIR_EIO, "other"), WEIR_EIO);
    assert_int_equal(err.code, WEIR_ECORRUPT);
    assert_string_equal(err.message, "bad footer at offset 17");
    assert_int_equal(weir_error_prefix(&err, "reading %s", "part-0001.parquet"), WEIR_ECORRUPT);
    assert_string_equal(err.message, "reading part-0001.parquet: bad footer at offset 17");
    weir_error_clear(&err);
    assert_int_equal(err.code, 0);
    assert_string_equal(err.message, "");
    assert_int_equal(weir_error_set(&err, WEIR_ERETRY, "throttled"), WEIR_ERETRY);
    assert_true(err.retriable);
    /* NULL record is allowed everywhere */
    assert_int_equal(weir_error_set(NULL, WEIR_EIO, "x"), WEIR_EIO);
    weir_error_clear(NULL);
}

static void test_error_prefix_truncates_safely(void **state)
{
    (void)state;
    struct weir_error err = {0};
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    weir_error_set(&err, WEIR_EIO, "%s", big);
    assert_int_equal(strlen(err.message), WEIR_ERROR_MSG_MAX - 1);
    weir_error_prefix(&err, "ctx");
    assert_int_equal(strlen(err.message), WEIR_ERROR_MSG_MAX - 1);
    assert_memory_equal(err.message, "ctx: aaa", 8);
}

/* -------------------------------------------------------------- alloc */

static size_t hook_mallocs;
static void *count_malloc(size_t n)
{
    hook_mallocs++;
    return malloc(n);
}

static void test_alloc_hooks_and_fail_after(void **state)
{
    (void)state;
    struct weir_alloc_hooks h = {.malloc_fn = count_malloc};
    weir_alloc_set_hooks(&h);
    void *p = weir_malloc(10);
    assert_non_null(p);
    assert_int_equal(hook_mallocs, 1);
    weir_free(p);
    weir_alloc_set_hooks(NULL);
    p = weir_malloc(10);
    assert_int_equal(hook_mallocs, 1);
    weir_free(p);

    weir_alloc_fail_after(2);
    void *a = weir_malloc(1), *b = weir_calloc(2, 2), *c = weir_malloc(1), *d = weir_realloc(NULL, 5);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_null(d);
    weir_alloc_fail_after(-1);
    c = weir_malloc(1);
    assert_non_null(c);
    weir_free(a);
    weir_free(b);
    weir_free(c);
    weir_free(NULL);

    /* realloc failure keeps the old block */
    char *s = weir_strdup("hello");
    weir_alloc_fail_after(0);
    assert_null(weir_realloc(s, 1000));
    assert_null(weir_strdup("x"));
    assert_null(weir_asprintf("%d", 1));
    weir_alloc_fail_after(-1);
    assert_string_equal(s, "hello");
    weir_free(s);
}

static void test_alloc_strings(void **state)
{
    (void)state;
    char *s = weir_asprintf("%s-%05d", "part", 42);
    assert_string_equal(s, "part-00042");
    weir_free(s);
    s = weir_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    weir_free(s);
    s = weir_strndup("ab", 10);
    assert_string_equal(s, "ab");
    weir_free(s);
    assert_null(weir_strdup(NULL));
    void *z = weir_malloc(0); /* never NULL on success */
    assert_non_null(z);
    weir_free(z);
}

/* ---------------------------------------------------------------- buf */

static void test_buf_append_and_detach(void **state)
{
    (void)state;
    struct weir_buf b;
    weir_buf_init(&b);
    assert_null(weir_buf_detach(&b));
    assert_int_equal(weir_buf_append_str(&b, "abc"), 0);
    assert_int_equal(weir_buf_append_byte(&b, '-'), 0);
    assert_int_equal(weir_buf_printf(&b, "%d/%s", 12, "x"), 0);
    assert_int_equal(b.len, 8);
    assert_string_equal((char *)b.data, "abc-12/x");
    /* long printf takes the second path */
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(weir_buf_printf(&b, "[%s]", big), 0);
    assert_int_equal(b.len, 8 + 1001);
    assert_int_equal(b.data[b.len - 1], ']');
    for (int i = 0; i < 10000; i++)
        assert_int_equal(weir_buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 1009 + 100000);
    assert_true(b.cap > b.len);
    char *s = weir_buf_detach(&b);
    assert_int_equal(strlen(s), 101009);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    weir_free(s);
    weir_buf_free(&b);
}

static void test_buf_failed_append_leaves_buffer(void **state)
{
    (void)state;
    struct weir_buf b;
    weir_buf_init(&b);
    assert_int_equal(weir_buf_append_str(&b, "keep"), 0);
    size_t cap = b.cap;
    char big[4096];
    memset(big, 'q', sizeof big);
    weir_alloc_fail_after(0);
    assert_int_equal(weir_buf_append(&b, big, sizeof big), WEIR_ENOMEM);
    assert_int_equal(weir_buf_printf(&b, "%4096s", "x"), WEIR_ENOMEM);
    weir_alloc_fail_after(-1);
    assert_int_equal(b.len, 4);
    assert_int_equal(b.cap, cap);
    assert_string_equal((char *)b.data, "keep");
    weir_buf_free(&b);
    assert_null(b.data);
}

static void test_output_buf_and_input_mem(void **state)
{
    (void)state;
    struct weir_buf b;
    weir_buf_init(&b);
    struct weir_output out = weir_output_buf(&b);
    struct weir_error err = {0};
    assert_int_equal(out.write(out.ctx, "PAR1", 4, &err), 0);
    assert_int_equal(out.write(out.ctx, "xyz", 3, &err), 0);
    assert_int_equal(b.len, 7);
    weir_alloc_fail_after(0);
    char big[5000] = {0};
    assert_int_equal(out.write(out.ctx, big, sizeof big, &err), WEIR_ENOMEM);
    weir_alloc_fail_after(-1);
    assert_int_equal(err.code, WEIR_ENOMEM);

    struct weir_input in = weir_input_mem(b.data, b.len, "mem.parquet");
    assert_int_equal(in.size, 7);
    char got[4];
    weir_error_clear(&err);
    assert_int_equal(weir_input_read(&in, 3, got, 4, &err), 0);
    assert_memory_equal(got, "1xyz", 4);
    assert_int_equal(in.read_at(in.ctx, 0, got, 4, &err), 0);
    assert_memory_equal(got, "PAR1", 4);
    assert_int_equal(weir_input_read(&in, 4, got, 4, &err), WEIR_ECORRUPT);
    assert_non_null(strstr(err.message, "mem.parquet"));
    assert_non_null(strstr(err.message, "offset 4"));
    weir_error_clear(&err);
    assert_int_equal(weir_input_read(&in, UINT64_MAX, got, 1, &err), WEIR_ECORRUPT);
    weir_buf_free(&b);
}

/* ---------------------------------------------------------------- log */

/* Runs fn with stderr redirected to a temp file; returns what was written. */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/weir-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    char *s = calloc(1, (size_t)n + 1);
    assert_int_equal(pread(fd, s, (size_t)n, 0), n);
    close(fd);
    return s;
}

static void log_json_lines(void)
{
    weir_log_set_format(WEIR_LOG_JSON);
    weir_log_set_level(WEIR_LOG_INFO);
    WEIR_LOG(WEIR_LOG_INFO, "orders-bronze", 7, "wrote %d rows to \"%s\"\n", 3, "a\tb");
    WEIR_DEBUG("hidden %d", 1);
    WEIR_WARN("no pipeline");
}

static void test_log_json_format(void **state)
{
    (void)state;
    char *out = capture_stderr(log_json_lines);
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const char *time = cJSON_GetObjectItem(j, "time")->valuestring;
    assert_int_equal(strlen(time), 24); /* 2026-11-21T04:41:47.123Z */
    assert_int_equal(time[10], 'T');
    assert_int_equal(time[19], '.');
    assert_int_equal(time[23], 'Z');
    assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring, "info");
    assert_string_equal(cJSON_GetObjectItem(j, "pipeline")->valuestring, "orders-bronze");
    assert_int_equal(cJSON_GetObjectItem(j, "batch")->valueint, 7);
    assert_string_equal(cJSON_GetObjectItem(j, "msg")->valuestring, "wrote 3 rows to \"a\tb\"");
    /* key order as documented */
    assert_non_null(strstr(out, "{\"time\":\""));
    assert_true(strstr(out, "\"level\"") < strstr(out, "\"pipeline\""));
    assert_true(strstr(out, "\"batch\"") < strstr(out, "\"msg\""));
    cJSON_Delete(j);

    char *second = nl + 1;
    nl = strchr(second, '\n');
    assert_non_null(nl);
    assert_string_equal(nl + 1, ""); /* debug line suppressed */
    *nl = '\0';
    j = cJSON_Parse(second);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring, "warn");
    assert_null(cJSON_GetObjectItem(j, "pipeline"));
    assert_null(cJSON_GetObjectItem(j, "batch"));
    assert_string_equal(cJSON_GetObjectItem(j, "msg")->valuestring, "no pipeline");
    cJSON_Delete(j);
    free(out);
}

static void log_text_lines(void)
{
    weir_log_set_format(WEIR_LOG_TEXT);
    weir_log_set_level(WEIR_LOG_DEBUG);
    WEIR_LOG(WEIR_LOG_ERROR, "p1", 12, "sink failed: %s", "disk full");
    WEIR_DEBUG("plain");
    WEIR_LOG(WEIR_LOG_INFO, "p2", -1, "two\nlines");
    weir_log_set_level(WEIR_LOG_INFO);
    weir_log_set_format(WEIR_LOG_JSON);
}

static void test_log_text_format(void **state)
{
    (void)state;
    char *out = capture_stderr(log_text_lines);
    /* "2026-11-21T04:41:47.123Z ERROR [p1#12] sink failed: disk full" */
    assert_true(strlen(out) > 25);
    assert_int_equal(out[23], 'Z');
    assert_memory_equal(out + 24, " ERROR [p1#12] sink failed: disk full\n", 38);
    char *l2 = strchr(out, '\n') + 1;
    assert_memory_equal(l2 + 24, " DEBUG plain\n", 13);
    char *l3 = strchr(l2, '\n') + 1;
    assert_string_equal(l3 + 24, " INFO [p2] two lines\n");
    free(out);
}

static void log_long_line(void)
{
    char *big = malloc(20000);
    memset(big, '"', 19999);
    big[19999] = '\0';
    weir_log_set_format(WEIR_LOG_JSON);
    weir_log_write(WEIR_LOG_ERROR, "p", 1, "%s", big);
    free(big);
}

static void test_log_long_message_stays_valid_json(void **state)
{
    (void)state;
    char *out = capture_stderr(log_long_line);
    size_t n = strlen(out);
    assert_true(n > 1000 && n <= 8192);
    assert_int_equal(out[n - 1], '\n');
    assert_null(strchr(out, '\n') + 1 < out + n ? strchr(strchr(out, '\n') + 1, '\n') : NULL);
    out[n - 1] = '\0';
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const char *msg = cJSON_GetObjectItem(j, "msg")->valuestring;
    assert_true(strlen(msg) > 1000);
    assert_string_equal(msg + strlen(msg) - 3, "...");
    cJSON_Delete(j);
    free(out);
}

static void test_log_level_names(void **state)
{
    (void)state;
    assert_int_equal(weir_log_level_from_string("debug"), WEIR_LOG_DEBUG);
    assert_int_equal(weir_log_level_from_string("INFO"), WEIR_LOG_INFO);
    assert_int_equal(weir_log_level_from_string("warn"), WEIR_LOG_WARN);
    assert_int_equal(weir_log_level_from_string("error"), WEIR_LOG_ERROR);
    assert_int_equal(weir_log_level_from_string("loud"), -1);
    assert_int_equal(weir_log_level_from_string(NULL), -1);
}

/* Re-runs this binary with WEIR_LOG_LEVEL set; the child exits with the
 * level its constructor picked up. */
static int probe_level(const char *value)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("WEIR_LOG_LEVEL", value, 1);
        execl("/proc/self/exe", "test_core", "--log-level-probe", (char *)NULL);
        _exit(99);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_log_level_from_environment(void **state)
{
    (void)state;
    assert_int_equal(probe_level("error"), WEIR_LOG_ERROR);
    assert_int_equal(probe_level("DEBUG"), WEIR_LOG_DEBUG);
    assert_int_equal(probe_level("bogus"), WEIR_LOG_INFO); /* default kept */
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--log-level-probe") == 0)
        return weir_log_min_level;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_covers_every_code),
        cmocka_unit_test(test_error_set_first_wins_and_prefix),
        cmocka_unit_test(test_error_prefix_truncates_safely),
        cmocka_unit_test(test_alloc_hooks_and_fail_after),
        cmocka_unit_test(test_alloc_strings),
        cmocka_unit_test(test_buf_append_and_detach),
        cmocka_unit_test(test_buf_failed_append_leaves_buffer),
        cmocka_unit_test(test_output_buf_and_input_mem),
        cmocka_unit_test(test_log_json_format),
        cmocka_unit_test(test_log_text_format),
        cmocka_unit_test(test_log_long_message_stays_valid_json),
        cmocka_unit_test(test_log_level_names),
        cmocka_unit_test(test_log_level_from_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
