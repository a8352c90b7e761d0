/* tests/unit/test_stream_stage.c - stream/stage: batches run in the order
 * they are handed over, the queue bounds how many wait, the first error is
 * reported by put and once by drain while later batches are released
 * unrun, every batch is released exactly once, and the stage is usable
 * again after a drain. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/batch.h"
#include "core/error.h"
#include "stream/stage.h"

#define MAX_JOBS 256

struct probe {
    int64_t seen[MAX_JOBS]; /* now_us of each run, in run order */
    atomic_int nrun, nreleased;
    int64_t fail_at; /* now_us that fails; -1: none */
    atomic_int gate; /* the function waits while 0 */
    atomic_int running;
};

static void nap(void)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

static int run(void *ctx, struct weir_batch *b, int64_t now_us, struct weir_error *err)
{
    struct probe *p = ctx;
    assert_non_null(b);
    atomic_store(&p->running, 1);
    while (!atomic_load(&p->gate))
        nap();
    int i = atomic_fetch_add(&p->nrun, 1);
    p->seen[i] = now_us;
    atomic_store(&p->running, 0);
    if (now_us == p->fail_at)
        return weir_error_set(err, WEIR_EIO, "job %lld failed", (long long)now_us);
    return 0;
}

static void release(void *ctx, struct weir_batch *b)
{
    struct probe *p = ctx;
    atomic_fetch_add(&p->nreleased, 1);
    weir_batch_destroy(b);
}

static struct weir_batch *new_batch(void)
{
    struct weir_type *t = weir_type_struct();
    assert_non_null(t);
    struct weir_batch *b = weir_batch_create(t);
    weir_type_destroy(t);
    assert_non_null(b);
    return b;
}

static void test_order_and_drain(void **state)
{
    (void)state;
    struct probe p = {.fail_at = -1, .gate = 1};
    struct weir_stage *s = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_stage_create(3, run, release, &p, &s, &err), 0);
    for (int64_t i = 0; i < 200; i++)
        assert_int_equal(weir_stage_put(s, new_batch(), i, &err), 0);
    assert_int_equal(weir_stage_drain(s, &err), 0);
    /* after drain returns, everything the worker wrote is visible */
    assert_int_equal(atomic_load(&p.nrun), 200);
    assert_int_equal(atomic_load(&p.nreleased), 200);
    for (int i = 0; i < 200; i++)
        assert_int_equal(p.seen[i], i);
    weir_stage_destroy(s);
}

/* While the function is held, put blocks once `depth` batches wait. */
static void *put_many(void *arg)
{
    struct weir_stage *s = arg;
    struct weir_error err = {0};
    for (int64_t i = 0; i < 10; i++)
        if (weir_stage_put(s, new_batch(), i, &err) != 0)
            return "put failed";
    return NULL;
}

static void test_queue_is_bounded(void **state)
{
    (void)state;
    struct probe p = {.fail_at = -1, .gate = 0};
    struct weir_stage *s = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_stage_create(2, run, release, &p, &s, &err), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, put_many, s), 0);
    for (int i = 0; i < 2000 && !atomic_load(&p.running); i++)
        nap();
    for (int i = 0; i < 50; i++)
        nap();
    /* one batch taken by the held function, two queued: nothing else got in */
    assert_int_equal(atomic_load(&p.running), 1);
    assert_int_equal(atomic_load(&p.nrun), 0);
    assert_int_equal(atomic_load(&p.nreleased), 0);
    atomic_store(&p.gate, 1);
    void *res = NULL;
    pthread_join(th, &res);
    assert_null(res);
    assert_int_equal(weir_stage_drain(s, &err), 0);
    assert_int_equal(atomic_load(&p.nrun), 10);
    weir_stage_destroy(s);
}

static void test_first_error_then_reuse(void **state)
{
    (void)state;
    struct probe p = {.fail_at = 5, .gate = 1};
    struct weir_stage *s = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_stage_create(2, run, release, &p, &s, &err), 0);
    int put_failed = 0;
    for (int64_t i = 0; i < 40; i++) {
        struct weir_error e = {0};
        int rc = weir_stage_put(s, new_batch(), i, &e);
        if (rc != 0) {
            assert_int_equal(rc, WEIR_EIO);
            assert_non_null(strstr(e.message, "job 5 failed"));
            put_failed++;
        }
    }
    assert_true(put_failed > 0); /* the producer learns of it without draining */
    struct weir_error e = {0};
    assert_int_equal(weir_stage_drain(s, &e), WEIR_EIO);
    assert_non_null(strstr(e.message, "job 5 failed"));
    /* nothing after the failed batch ran; every batch was released once */
    assert_int_equal(atomic_load(&p.nrun), 6);
    assert_int_equal(atomic_load(&p.nreleased), 40);
    /* reported once: the next drain is clean, and the stage works again */
    assert_int_equal(weir_stage_drain(s, &err), 0);
    assert_int_equal(weir_stage_put(s, new_batch(), 100, &err), 0);
    assert_int_equal(weir_stage_drain(s, &err), 0);
    assert_int_equal(atomic_load(&p.nrun), 7);
    assert_int_equal(p.seen[6], 100);
    weir_stage_destroy(s);
}

/* destroy waits for queued batches and releases them. */
static void test_destroy_releases_everything(void **state)
{
    (void)state;
    struct probe p = {.fail_at = 1, .gate = 1};
    struct weir_stage *s = NULL;
    struct weir_error err = {0};
    assert_int_equal(weir_stage_create(4, run, release, &p, &s, &err), 0);
    for (int64_t i = 0; i < 4; i++)
        weir_stage_put(s, new_batch(), i, &err);
    weir_stage_destroy(s);
    assert_int_equal(atomic_load(&p.nreleased), 4);
    assert_int_equal(weir_stage_create(0, run, release, &p, &s, &err), WEIR_EINVAL);
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_drain),
        cmocka_unit_test(test_queue_is_bounded),
        cmocka_unit_test(test_first_error_then_reuse),
        cmocka_unit_test(test_destroy_releases_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
