/* stream/stage.c - a worker thread over a bounded queue of batches (see
 * stage.h).
 *
 * Owns: the thread, the ring of queued batches, and the first error of the
 * function since the last drain. One mutex guards all of it; `room` wakes a
 * producer waiting for space, `work` the worker, `idle` a drain.
 *
 * Invariants: n <= depth; `busy` while the worker runs or releases a batch
 * it took; `failed` from the function's first error until a drain takes it. */
#include "stream/stage.h"

#include <pthread.h>
#include <stdbool.h>

#include "core/alloc.h"

struct job {
    struct weir_batch *b;
    int64_t now_us;
};

struct weir_stage {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t room, work, idle;
    struct job *ring;
    size_t depth, head, n;
    bool busy, quit, failed;
    struct weir_error err; /* valid while failed */
    weir_stage_fn fn;
    weir_stage_release_fn release;
    void *ctx;
};

static void *worker(void *arg)
{
    struct weir_stage *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->n == 0 && !s->quit)
            pthread_cond_wait(&s->work, &s->mu);
        if (s->n == 0)
            break; /* quit, and nothing left */
        struct job j = s->ring[s->head];
        s->head = (s->head + 1) % s->depth;
        s->n--;
        s->busy = true;
        bool run = !s->failed;
        pthread_cond_signal(&s->room);
        pthread_mutex_unlock(&s->mu);
        struct weir_error e = {0};
        int rc = run ? s->fn(s->ctx, j.b, j.now_us, &e) : 0;
        s->release(s->ctx, j.b);
        pthread_mutex_lock(&s->mu);
        if (rc != 0 && !s->failed) {
            if (e.code == 0)
                weir_error_set(&e, rc, "%s", weir_strerror(rc));
            s->err = e;
            s->failed = true;
            pthread_cond_signal(&s->room); /* a producer waiting for room sees it */
        }
        s->busy = false;
        if (s->n == 0)
            pthread_cond_broadcast(&s->idle);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void stage_free(struct weir_stage *s)
{
    pthread_cond_destroy(&s->idle);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->room);
    pthread_mutex_destroy(&s->mu);
    weir_free(s->ring);
    weir_free(s);
}

int weir_stage_create(size_t depth, weir_stage_fn fn, weir_stage_release_fn release, void *ctx,
                      struct weir_stage **out, struct weir_error *err)
{
    *out = NULL;
    struct weir_stage *s = weir_calloc(1, sizeof *s);
    if (s == NULL || depth == 0 || (s->ring = weir_calloc(depth, sizeof *s->ring)) == NULL) {
        weir_free(s);
        return weir_error_set(err, depth == 0 ? WEIR_EINVAL : WEIR_ENOMEM,
                              depth == 0 ? "stage: depth 0" : "stage: out of memory");
    }
    s->depth = depth;
    s->fn = fn;
    s->release = release;
    s->ctx = ctx;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->room, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->idle, NULL);
    if (pthread_create(&s->thread, NULL, worker, s) != 0) {
        stage_free(s);
        return weir_error_set(err, WEIR_EIO, "stage: cannot start a thread");
    }
    pthread_setname_np(s->thread, "weir-stage"); /* for top -H and perf */
    *out = s;
    return 0;
}

/* The stored error into err (the first one set there wins); its code. */
static int report(struct weir_stage *s, struct weir_error *err)
{
    if (err != NULL && err->code == 0)
        *err = s->err;
    return s->err.code;
}

int weir_stage_put(struct weir_stage *s, struct weir_batch *b, int64_t now_us, struct weir_error *err)
{
    pthread_mutex_lock(&s->mu);
    while (s->n == s->depth && !s->failed)
        pthread_cond_wait(&s->room, &s->mu);
    if (s->failed) {
        int rc = report(s, err);
        pthread_mutex_unlock(&s->mu);
        s->release(s->ctx, b);
        return rc;
    }
    s->ring[(s->head + s->n) % s->depth] = (struct job){b, now_us};
    s->n++;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int weir_stage_drain(struct weir_stage *s, struct weir_error *err)
{
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    while (s->n > 0 || s->busy)
        pthread_cond_wait(&s->idle, &s->mu);
    if (s->failed) {
        rc = report(s, err);
        s->failed = false;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void weir_stage_destroy(struct weir_stage *s)
{
    if (s == NULL)
        return;
    weir_stage_drain(s, NULL);
    pthread_mutex_lock(&s->mu);
    s->quit = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    stage_free(s);
}
