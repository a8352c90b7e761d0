/* stream/engine.c - pipelines on threads, signals on the libuv loop.
 *
 * The loop thread owns the signal handles and an async handle that pipeline
 * threads poke when they end; it stops the loop when all have ended. Pipeline
 * threads touch only their own query; the loop thread calls the thread-safe
 * weir_query_stop/abandon. */
#include "stream/engine.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <uv.h>

#include "core/alloc.h"
#include "core/log.h"
#include "stream/config.h"
#include "stream/query.h"

struct runner {
    struct engine *e;
    struct weir_query *q;
    uv_thread_t thread;
    bool started;
    int rc;
};

struct engine {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    uv_async_t ended;
    struct runner *runners;
    size_t n;
    atomic_size_t nended;
    int signals;
};

static void pipeline_main(void *arg)
{
    struct runner *r = arg;
    struct weir_error err = {0};
    r->rc = weir_query_run(r->q, &err);
    atomic_fetch_add(&r->e->nended, 1);
    uv_async_send(&r->e->ended);
}

static void on_ended(uv_async_t *h)
{
    struct engine *e = h->data;
    if (atomic_load(&e->nended) == e->n)
        uv_stop(&e->loop);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct engine *e = h->data;
    e->signals++;
    if (e->signals == 1) {
        WEIR_INFO("%s: finishing the batches in flight, then stopping (signal again to abandon them)",
                  signum == SIGTERM ? "SIGTERM" : "SIGINT");
        for (size_t i = 0; i < e->n; i++)
            weir_query_stop(e->runners[i].q);
    } else {
        WEIR_INFO("%s again: abandoning the batches in flight (they rerun at the next start)",
                  signum == SIGTERM ? "SIGTERM" : "SIGINT");
        for (size_t i = 0; i < e->n; i++)
            weir_query_abandon(e->runners[i].q);
    }
}

int weir_engine_run(const struct weir_config *cfg, int trigger_override)
{
    struct engine e;
    int failed = 0;
    memset(&e, 0, sizeof(e));
    weir_log_set_level((enum weir_log_level)cfg->log.level);
    weir_log_set_format((enum weir_log_format)cfg->log.format);
    /* a broken pipe on a socket must be an error code, not a dead process */
    signal(SIGPIPE, SIG_IGN);
    if (cfg->http.listen)
        WEIR_WARN(
            "http.listen is set (%s) but this version serves no HTTP endpoints yet; progress records are "
            "in the log",
            cfg->http.listen);
    e.n = cfg->npipelines;
    e.runners = weir_calloc(e.n, sizeof(*e.runners));
    if (!e.runners || uv_loop_init(&e.loop) != 0) {
        WEIR_ERROR("out of memory starting the service");
        weir_free(e.runners);
        return 1;
    }
    uv_signal_init(&e.loop, &e.sigterm);
    uv_signal_init(&e.loop, &e.sigint);
    uv_async_init(&e.loop, &e.ended, on_ended);
    e.sigterm.data = e.sigint.data = e.ended.data = &e;
    uv_signal_start(&e.sigterm, on_signal, SIGTERM);
    uv_signal_start(&e.sigint, on_signal, SIGINT);
    for (size_t i = 0; i < e.n; i++) {
        struct weir_error err = {0};
        struct runner *r = &e.runners[i];
        r->e = &e;
        if (weir_query_create(&cfg->pipelines[i], trigger_override, &r->q, &err) != 0) {
            WEIR_LOG(WEIR_LOG_ERROR, cfg->pipelines[i].name, -1, "cannot start: %s", err.message);
            r->rc = 1;
            atomic_fetch_add(&e.nended, 1);
            continue;
        }
        if (uv_thread_create(&r->thread, pipeline_main, r) != 0) {
            WEIR_LOG(WEIR_LOG_ERROR, cfg->pipelines[i].name, -1, "cannot start a thread");
            r->rc = 1;
            atomic_fetch_add(&e.nended, 1);
            continue;
        }
        r->started = true;
    }
    if (atomic_load(&e.nended) < e.n)
        uv_run(&e.loop, UV_RUN_DEFAULT);
    for (size_t i = 0; i < e.n; i++) {
        struct runner *r = &e.runners[i];
        if (r->started)
            uv_thread_join(&r->thread);
        if (r->rc != 0)
            failed = 1;
        weir_query_destroy(r->q);
    }
    uv_close((uv_handle_t *)&e.sigterm, NULL);
    uv_close((uv_handle_t *)&e.sigint, NULL);
    uv_close((uv_handle_t *)&e.ended, NULL);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    uv_loop_close(&e.loop);
    weir_free(e.runners);
    return failed;
}
