/* stream/engine.c - pipelines on threads (restarted after a failure in
 * service mode); signals and HTTP on the libuv loop.
 *
 * The loop thread owns the signal handles, the HTTP server (http.listen)
 * and an async handle that pipeline threads poke when they end; it stops
 * the loop when all have ended. Pipeline threads touch only their own
 * query; the loop thread calls the thread-safe weir_query_stop/abandon/
 * health/last_progress.
 *
 * systemd (Type=notify): READY=1 once every pipeline has started,
 * STATUS= lines, RELOADING=1/READY=1 around a SIGHUP, STOPPING=1 at the
 * first signal, and WATCHDOG=1 every half WatchdogSec from the loop.
 *
 * HTTP: /health (the process answers), /ready (200 when every pipeline
 * has run a trigger and none has failed http.ready_failures attempts in
 * a row, else 503; JSON per pipeline either way), /progress (the latest
 * progress record per pipeline), /metrics (Prometheus text format), and
 * POST /pipelines/{name}/pause|resume with the bearer token http.token
 * (refused when none is configured). A paused pipeline counts as ready. */
#include "stream/engine.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <cjson/cJSON.h>
#ifdef WEIR_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"
#include "formats/json.h"
#include "stream/config.h"
#include "stream/http.h"
#include "stream/query.h"

#define RESTART_FIRST_MS 1000
#define RESTART_MAX_MS   (5 * 60 * 1000)

/* One pipeline's thread and its current query. mu guards q (the
 * supervisor replaces it on a restart while the loop thread reads health
 * and progress through it), stopping, paused and base. */
struct runner {
    struct engine *e;
    const struct weir_config_pipeline *p;
    uv_thread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct weir_query *q;
    bool stopping, abandoning, paused;
    struct weir_query_health base; /* totals of the queries before the current one */
    atomic_int rc;                 /* 1 while failed (in backoff, or ended by an error) */
    atomic_llong restarts;
    bool restart; /* service mode (interval trigger): start again after a failure */
    /* the loop thread's bookkeeping */
    struct loaded *src;                        /* the config p lives in */
    atomic_bool ended;                         /* the thread has returned */
    bool retiring;                             /* stopping for good (removed or changed by a reload) */
    const struct weir_config_pipeline *next_p; /* changed by a reload: start this once ended */
    struct loaded *next_src;
};

/* A loaded config and its JSON (to tell which pipelines a reload changed);
 * freed when no runner uses it and it is not the current one. */
struct loaded {
    struct weir_config *cfg;
    cJSON *json;
    int refs;
};

struct engine {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    uv_timer_t shutdown; /* shutdown_timeout, then the grace after abandoning */
    uv_timer_t watchdog; /* systemd's WatchdogSec */
    bool abandoned;
    uv_async_t ended;
    struct runner **runners;
    size_t n, cap;
    struct loaded *current;
    const char *path; /* re-read at SIGHUP; NULL: no reload */
    uv_signal_t sighup;
    int signals;
    int trigger_override;
    int failed;
    struct weir_http *http;
    const struct weir_config *cfg;
};

/* The counters of h added to the runner's base (a query's totals before it
 * is replaced), so that /metrics counters never go down. */
static void base_add(struct weir_query_health *b, const struct weir_query_health *h)
{
    b->batches += h->batches;
    b->retries += h->retries;
    b->rows_in += h->rows_in;
    b->bytes_in += h->bytes_in;
    b->rows_out += h->rows_out;
    b->rescued += h->rescued;
    b->dead_letters += h->dead_letters;
    for (size_t k = 0; k < sizeof b->duration_counts / sizeof *b->duration_counts; k++)
        b->duration_counts[k] += h->duration_counts[k];
    b->duration_sum_ms += h->duration_sum_ms;
    if (h->table_version >= 0)
        b->table_version = h->table_version;
    if (h->last_commit_ms)
        b->last_commit_ms = h->last_commit_ms;
}

/* Sleep ms unless the engine stops; true when stopping. */
static bool runner_wait(struct runner *r, int64_t ms)
{
    struct timespec ts = weir_mono_deadline(ms);
    pthread_mutex_lock(&r->mu);
    while (!r->stopping && pthread_cond_timedwait(&r->cv, &r->mu, &ts) == 0)
        ;
    bool stopping = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return stopping;
}

/* Make the runner's query (a fresh one on each restart). */
static int runner_create(struct runner *r, struct weir_error *err)
{
    struct weir_query *q = NULL;
    int rc = weir_query_create(r->p, r->e->trigger_override, &q, err);
    pthread_mutex_lock(&r->mu);
    if (r->q) {
        struct weir_query_health h;
        weir_query_health(r->q, &h);
        base_add(&r->base, &h);
        weir_query_destroy(r->q);
    }
    r->q = q;
    if (q) {
        weir_query_pause(q, r->paused);
        if (r->stopping)
            r->abandoning ? weir_query_abandon(q) : weir_query_stop(q);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* The pipeline's thread: run the query; in service mode a failed one
 * starts again after a backoff of 1 s doubling to 5 minutes (reset by a
 * run that committed a batch), while the others keep running. */
static void pipeline_main(void *arg)
{
    struct runner *r = arg;
    int64_t backoff = RESTART_FIRST_MS;
    for (;;) {
        struct weir_error err = {0};
        int rc = runner_create(r, &err);
        if (rc == 0) {
            atomic_store(&r->rc, 0);
            rc = weir_query_run(r->q, &err);
        } else {
            WEIR_LOG(WEIR_LOG_ERROR, r->p->name, -1, "cannot start: %s", err.message);
        }
        atomic_store(&r->rc, rc != 0);
        if (rc == 0 || !r->restart)
            break;
        if (r->q && weir_query_batches_done(r->q) > 0)
            backoff = RESTART_FIRST_MS;
        WEIR_LOG(WEIR_LOG_WARN, r->p->name, -1, "restarting the pipeline in %lld ms (restart %lld)",
                 (long long)backoff, (long long)atomic_load(&r->restarts) + 1);
        if (runner_wait(r, backoff))
            break;
        atomic_fetch_add(&r->restarts, 1);
        backoff = backoff * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : backoff * 2;
    }
    atomic_store(&r->ended, true);
    uv_async_send(&r->e->ended);
}

static void runner_stop(struct runner *r, bool abandon);
static bool runner_ready(const struct engine *e, struct runner *r, struct weir_query_health *h);

/* ------------------------------------------------------------ systemd */

/* A message to the service manager ($NOTIFY_SOCKET; nothing without one,
 * or without libsystemd at build time). */
static void notify(const char *fmt, ...)
{
#ifdef WEIR_HAVE_SYSTEMD
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    (void)sd_notify(0, msg);
#else
    (void)fmt;
#endif
}

/* STATUS=: how many pipelines run, fail, are paused, and batches so far. */
static void notify_status(struct engine *e)
{
    size_t failing = 0, paused = 0;
    int64_t batches = 0;
    for (size_t i = 0; i < e->n; i++) {
        struct weir_query_health h;
        if (!runner_ready(e, e->runners[i], &h) && (atomic_load(&e->runners[i]->rc) || h.failing))
            failing++;
        paused += h.paused;
        batches += h.batches;
    }
    notify("STATUS=%zu pipelines, %zu failing, %zu paused; %lld batches committed", e->n, failing, paused,
           (long long)batches);
}

/* Every half watchdog interval (WatchdogSec=): WATCHDOG=1, proving the
 * loop answers; the status line with it. */
static void on_watchdog(uv_timer_t *t)
{
    struct engine *e = t->data;
    notify("WATCHDOG=1");
    notify_status(e);
}

/* Configs are held by the engine's settings (the first one), by being the
 * current one, and by each runner of one of their pipelines. */
static void loaded_unref(struct loaded *l)
{
    if (l && --l->refs == 0) {
        weir_config_destroy(l->cfg);
        cJSON_Delete(l->json);
        weir_free(l);
    }
}

/* A runner for pipeline p of config src, not started; NULL when out of memory. */
static struct runner *runner_new(struct engine *e, struct loaded *src, const struct weir_config_pipeline *p)
{
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 8;
        struct runner **nr = weir_realloc(e->runners, cap * sizeof *nr);
        if (!nr)
            return NULL;
        e->runners = nr;
        e->cap = cap;
    }
    struct runner *r = weir_calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->e = e;
    r->p = p;
    r->src = src;
    src->refs++;
    r->base.table_version = -1;
    pthread_mutex_init(&r->mu, NULL);
    weir_cond_init_monotonic(&r->cv);
    /* a pipeline that fails starts again in service mode; --once and
     * --available-now end with the error */
    int trig = e->trigger_override >= 0 ? e->trigger_override : p->trigger;
    r->restart = trig == WEIR_TRIGGER_INTERVAL;
    e->runners[e->n++] = r;
    return r;
}

static void runner_start(struct runner *r)
{
    if (uv_thread_create(&r->thread, pipeline_main, r) != 0) {
        WEIR_LOG(WEIR_LOG_ERROR, r->p->name, -1, "cannot start a thread");
        atomic_store(&r->rc, 1);
        atomic_store(&r->ended, true);
        uv_async_send(&r->e->ended);
        return;
    }
    r->started = true;
}

/* Join an ended runner and free it; its failure (if any) counts in *failed. */
static void runner_reap(struct engine *e, struct runner *r, int *failed)
{
    if (r->started)
        uv_thread_join(&r->thread);
    if (atomic_load(&r->rc) != 0 && !r->retiring)
        *failed = 1;
    weir_query_destroy(r->q);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    loaded_unref(r->src);
    loaded_unref(r->next_src);
    weir_free(r);
}

/* Pipeline threads that ended: joined and freed; one a reload changed
 * starts again with its new config (its counters carried over). The loop
 * stops when none is left. */
static void on_ended(uv_async_t *h)
{
    struct engine *e = h->data;
    for (size_t i = 0; i < e->n;) {
        struct runner *r = e->runners[i];
        if (!atomic_load(&r->ended)) {
            i++;
            continue;
        }
        e->runners[i] = e->runners[--e->n];
        struct runner *next = NULL;
        if (r->next_p && !e->signals && (next = runner_new(e, r->next_src, r->next_p))) {
            struct weir_query_health h;
            runner_ready(e, r, &h);
            next->base = h;
            next->base.failing = 0;
            next->paused = r->paused;
            atomic_store(&next->restarts, atomic_load(&r->restarts));
            WEIR_LOG(WEIR_LOG_INFO, r->p->name, -1, "starting again with its changed config");
        }
        runner_reap(e, r, &e->failed);
        if (next)
            runner_start(next);
    }
    if (e->n == 0)
        uv_stop(&e->loop);
}

/* SIGHUP: read the config again. Pipelines it adds start, those it removes
 * stop (their batch in flight finishes), those whose JSON changed stop and
 * start again with the new config once stopped; the others keep running.
 * A config that does not load is logged with every error and ignored. The
 * http, log and shutdown_timeout settings keep their values until a restart. */
static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    struct engine *e = h->data;
    if (e->signals)
        return;
    notify("RELOADING=1");
    if (!e->path) {
        notify("READY=1");
        WEIR_WARN("SIGHUP: the config came from stdin; nothing to reload");
        return;
    }
    struct weir_buf text;
    struct weir_error_list errors;
    struct weir_config *cfg = NULL;
    weir_buf_init(&text);
    weir_error_list_init(&errors);
    int rc = weir_config_read_file(e->path, &text);
    if (rc)
        WEIR_ERROR("SIGHUP: cannot read %s: %s; the running config stays", e->path, strerror(-rc));
    else if ((rc = weir_config_parse((const char *)text.data, text.len, e->path, &cfg, &errors))) {
        for (size_t i = 0; i < errors.n; i++)
            WEIR_ERROR("SIGHUP: %s: %s", e->path, errors.items[i].message);
        WEIR_ERROR("SIGHUP: %s is not valid (%zu errors); the running config stays", e->path, errors.n);
    }
    weir_error_list_free(&errors);
    struct loaded *l = rc ? NULL : weir_calloc(1, sizeof *l);
    cJSON *json = l ? cJSON_ParseWithLength((const char *)text.data, text.len) : NULL;
    weir_buf_free(&text);
    if (rc || !l || !json) {
        if (rc == 0)
            WEIR_ERROR("SIGHUP: out of memory; the running config stays");
        weir_config_destroy(cfg);
        weir_free(l);
        notify("READY=1");
        return;
    }
    l->cfg = cfg;
    l->json = json;
    l->refs = 1; /* current */
    loaded_unref(e->current);
    e->current = l;
    size_t added = 0, removed = 0, changed = 0, n0 = e->n;
    const cJSON *newp = cJSON_GetObjectItemCaseSensitive(json, "pipelines");
    for (size_t i = 0; i < n0; i++) {
        struct runner *r = e->runners[i];
        const cJSON *was = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->src->json, "pipelines"),
                                              (int)(r->p - r->src->cfg->pipelines));
        const struct weir_config_pipeline *np = NULL;
        const cJSON *now = NULL;
        for (size_t k = 0; k < cfg->npipelines && !np; k++)
            if (strcmp(cfg->pipelines[k].name, r->p->name) == 0) {
                np = &cfg->pipelines[k];
                now = cJSON_GetArrayItem(newp, (int)k);
            }
        if (r->retiring) { /* still stopping: it starts (again) with this config, if it has it */
            loaded_unref(r->next_src);
            r->next_src = np ? l : NULL;
            r->next_p = np;
            l->refs += np != NULL;
            continue;
        }
        if (np && cJSON_Compare(was, now, true))
            continue;
        r->retiring = true;
        if (np) {
            r->next_p = np;
            r->next_src = l;
            l->refs++;
            changed++;
        } else {
            removed++;
        }
        WEIR_LOG(WEIR_LOG_INFO, r->p->name, -1, "%s by the reload: stopping after the batch in flight",
                 np ? "changed" : "removed");
        runner_stop(r, false);
    }
    for (size_t k = 0; k < cfg->npipelines; k++) {
        bool known = false;
        for (size_t i = 0; i < n0 && !known; i++)
            known = strcmp(e->runners[i]->p->name, cfg->pipelines[k].name) == 0;
        if (known)
            continue;
        struct runner *r = runner_new(e, l, &cfg->pipelines[k]);
        if (!r) {
            WEIR_LOG(WEIR_LOG_ERROR, cfg->pipelines[k].name, -1, "out of memory starting the pipeline");
            continue;
        }
        WEIR_LOG(WEIR_LOG_INFO, r->p->name, -1, "added by the reload: starting");
        runner_start(r);
        added++;
    }
    WEIR_INFO("SIGHUP: reloaded %s: %zu pipelines added, %zu removed, %zu changed", e->path, added, removed,
              changed);
    notify("READY=1");
    notify_status(e);
}

static void runner_stop(struct runner *r, bool abandon)
{
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    r->abandoning = r->abandoning || abandon;
    if (r->q)
        abandon ? weir_query_abandon(r->q) : weir_query_stop(r->q);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Abandoned batches normally end within a second; one stuck in a call that
 * cannot be interrupted (a broker that stopped answering) gets this long. */
#define ABANDON_GRACE_MS 10000

static void on_shutdown_timer(uv_timer_t *t)
{
    struct engine *e = t->data;
    if (!e->abandoned) {
        WEIR_WARN(
            "shutdown_timeout (%lld ms) passed: abandoning the batches in flight (they rerun at the next "
            "start)",
            (long long)e->cfg->shutdown_timeout_ms);
        e->abandoned = true;
        for (size_t i = 0; i < e->n; i++)
            runner_stop(e->runners[i], true);
        uv_timer_start(&e->shutdown, on_shutdown_timer, ABANDON_GRACE_MS, 0);
        return;
    }
    /* nothing of an abandoned batch is visible, and the checkpoint is made
     * for a crash at any point: leaving now loses nothing */
    WEIR_ERROR("pipelines still running %d ms after their batches were abandoned; exiting without them",
               ABANDON_GRACE_MS);
    fflush(stderr);
    _exit(0);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct engine *e = h->data;
    e->signals++;
    if (e->signals == 1) {
        notify("STOPPING=1");
        uv_timer_start(&e->shutdown, on_shutdown_timer, (uint64_t)e->cfg->shutdown_timeout_ms, 0);
    } else if (!e->abandoned) {
        e->abandoned = true;
        uv_timer_start(&e->shutdown, on_shutdown_timer, ABANDON_GRACE_MS, 0);
    }
    if (e->signals == 1)
        WEIR_INFO("%s: finishing the batches in flight, then stopping (signal again to abandon them)",
                  signum == SIGTERM ? "SIGTERM" : "SIGINT");
    else
        WEIR_INFO("%s again: abandoning the batches in flight (they rerun at the next start)",
                  signum == SIGTERM ? "SIGTERM" : "SIGINT");
    for (size_t i = 0; i < e->n; i++)
        runner_stop(e->runners[i], e->signals > 1);
}

/* The latest progress record of the runner's query (weir_malloc'd), or NULL. */
static char *runner_progress(struct runner *r)
{
    pthread_mutex_lock(&r->mu);
    char *p = r->q ? weir_query_last_progress(r->q) : NULL;
    pthread_mutex_unlock(&r->mu);
    return p;
}

/* ------------------------------------------------------------ HTTP */

/* The pipeline's health over all its restarts; true when it is ready. */
static bool runner_ready(const struct engine *e, struct runner *r, struct weir_query_health *h)
{
    struct weir_query_health cur;
    pthread_mutex_lock(&r->mu);
    *h = r->base;
    bool have = r->q != NULL;
    if (have) {
        weir_query_health(r->q, &cur);
        base_add(h, &cur);
        h->failing = cur.failing;
        h->triggered = cur.triggered;
        h->paused = cur.paused;
        memcpy(h->last_error, cur.last_error, sizeof h->last_error);
    }
    pthread_mutex_unlock(&r->mu);
    return have && atomic_load(&r->rc) == 0 && h->triggered && h->failing < e->cfg->http.ready_failures;
}

static void serve_ready(struct engine *e, struct weir_http_response *res)
{
    bool all = true;
    int rc = weir_buf_append_str(&res->body, "{\"pipelines\":[");
    for (size_t i = 0; i < e->n; i++) {
        struct weir_query_health h;
        bool ready = runner_ready(e, e->runners[i], &h);
        all = all && ready;
        rc |= weir_buf_printf(&res->body, "%s{\"name\":", i ? "," : "");
        const char *name = e->runners[i]->p->name;
        rc |= weir_json_append_string(&res->body, name, strlen(name));
        rc |= weir_buf_printf(
            &res->body, ",\"ready\":%s,\"paused\":%s,\"batches\":%lld,\"failing\":%d,\"lastError\":",
            ready ? "true" : "false", h.paused ? "true" : "false", (long long)h.batches, h.failing);
        rc |= weir_json_append_string(&res->body, h.last_error, strlen(h.last_error));
        rc |= weir_buf_append_byte(&res->body, '}');
    }
    rc |= weir_buf_printf(&res->body, "],\"ready\":%s}\n", all ? "true" : "false");
    res->status = rc ? 500 : all ? 200 : 503;
    res->content_type = "application/json";
}

static void serve_progress(struct engine *e, struct weir_http_response *res)
{
    int rc = weir_buf_append_byte(&res->body, '{');
    for (size_t i = 0; i < e->n; i++) {
        const char *name = e->runners[i]->p->name;
        char *p = runner_progress(e->runners[i]);
        rc |= i ? weir_buf_append_byte(&res->body, ',') : 0;
        rc |= weir_json_append_string(&res->body, name, strlen(name));
        rc |= weir_buf_printf(&res->body, ":%s", p ? p : "null");
        weir_free(p);
    }
    rc |= weir_buf_append_str(&res->body, "}\n");
    res->status = rc ? 500 : 200;
    res->content_type = "application/json";
}

/* A label value in the text format: \\, \" and \n escaped. */
static int label(struct weir_buf *b, const char *v)
{
    int rc = 0;
    for (; *v && rc == 0; v++)
        rc = *v == '\\'   ? weir_buf_append_str(b, "\\\\")
             : *v == '"'  ? weir_buf_append_str(b, "\\\"")
             : *v == '\n' ? weir_buf_append_str(b, "\\n")
                          : weir_buf_append_byte(b, (uint8_t)*v);
    return rc;
}

enum mfield {
    M_READY,
    M_PAUSED,
    M_RESTARTS,
    M_BATCHES,
    M_RETRIES,
    M_FAILING,
    M_ROWS_IN,
    M_BYTES_IN,
    M_ROWS_OUT,
    M_RESCUED,
    M_DEAD,
    M_VERSION,
    M_COMMIT
};

static const struct {
    const char *name, *type, *help;
} metric_defs[] = {
    [M_READY] = {"weir_pipeline_ready", "gauge", "1 when the pipeline has run a trigger and is not failing"},
    [M_PAUSED] = {"weir_pipeline_paused", "gauge", "1 while paused by POST /pipelines/{name}/pause"},
    [M_RESTARTS] = {"weir_pipeline_restarts_total", "counter",
                    "Times the pipeline started again after failing"},
    [M_BATCHES] = {"weir_batches_total", "counter", "Batches committed by this process"},
    [M_RETRIES] = {"weir_batch_retries_total", "counter", "Failed attempts (planning or a batch) retried"},
    [M_FAILING] = {"weir_pipeline_consecutive_failures", "gauge",
                   "Failed attempts in a row, 0 once one succeeds"},
    [M_ROWS_IN] = {"weir_input_rows_total", "counter", "Rows read from the source"},
    [M_BYTES_IN] = {"weir_input_bytes_total", "counter",
                    "Bytes of the values read from the source (Kafka keys, values and headers; the files' "
                    "decoded rows)"},
    [M_ROWS_OUT] = {"weir_output_rows_total", "counter", "Rows written by the sink"},
    [M_RESCUED] = {"weir_rescued_rows_total", "counter",
                   "Rows kept with their bad fields in the rescue column"},
    [M_DEAD] = {"weir_dead_letter_rows_total", "counter", "Rows sent to the dead-letter table"},
    [M_VERSION] = {"weir_delta_table_version", "gauge", "Version of the sink table's latest commit"},
    [M_COMMIT] = {"weir_last_commit_timestamp_seconds", "gauge", "Wall clock of the latest batch commit"},
};

#define NMETRICS (sizeof metric_defs / sizeof *metric_defs)

/* A pipeline's value of each metric_defs entry; NAN: no value yet. */
static void metric_values(bool ready, int64_t restarts, const struct weir_query_health *h, double v[NMETRICS])
{
    v[M_READY] = ready;
    v[M_PAUSED] = h->paused;
    v[M_RESTARTS] = (double)restarts;
    v[M_BATCHES] = (double)h->batches;
    v[M_RETRIES] = (double)h->retries;
    v[M_FAILING] = h->failing;
    v[M_ROWS_IN] = (double)h->rows_in;
    v[M_BYTES_IN] = (double)h->bytes_in;
    v[M_ROWS_OUT] = (double)h->rows_out;
    v[M_RESCUED] = (double)h->rescued;
    v[M_DEAD] = (double)h->dead_letters;
    v[M_VERSION] = h->table_version >= 0 ? (double)h->table_version : NAN;
    v[M_COMMIT] = h->last_commit_ms ? (double)h->last_commit_ms / 1000.0 : NAN;
}

static int gauge_head(struct weir_buf *b, const char *name, const char *help)
{
    return weir_buf_printf(b, "# HELP %s %s.\n# TYPE %s gauge\n", name, help, name);
}

/* One sample: name{pipeline="p"[,k="v"]...} value. */
static int sample(struct weir_buf *b, const char *name, const char *pipeline, const char *const *kv,
                  size_t nkv, double v)
{
    int rc = weir_buf_printf(b, "%s{pipeline=\"", name);
    rc |= label(b, pipeline);
    for (size_t i = 0; i + 1 < nkv; i += 2) {
        rc |= weir_buf_printf(b, "\",%s=\"", kv[i]);
        rc |= label(b, kv[i + 1]);
    }
    return rc | weir_buf_printf(b, "\"} %.17g\n", v);
}

/* Gauges read from each pipeline's latest progress record: per Kafka
 * partition the records behind the broker's latest offset when the batch
 * was planned (latestOffset - endOffset); for the files source the files
 * discovered and not yet read; per state step its keys and memory. */
static int progress_gauges(struct engine *e, struct weir_buf *b)
{
    cJSON **prog = weir_calloc(e->n ? e->n : 1, sizeof *prog);
    if (!prog)
        return WEIR_ENOMEM;
    for (size_t i = 0; i < e->n; i++) {
        char *p = runner_progress(e->runners[i]);
        prog[i] = p ? cJSON_Parse(p) : NULL;
        weir_free(p);
    }
    int rc = gauge_head(b, "weir_kafka_lag_records",
                        "Records behind the partition's latest offset, as of the latest batch's plan");
    for (size_t i = 0; i < e->n; i++) {
        const cJSON *src = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(prog[i], "sources"), 0);
        const cJSON *end = cJSON_GetObjectItemCaseSensitive(src, "endOffset");
        const cJSON *latest = cJSON_GetObjectItemCaseSensitive(src, "latestOffset");
        const cJSON *topic, *part;
        cJSON_ArrayForEach(topic, latest)
        {
            if (!cJSON_IsObject(topic))
                continue;
            const cJSON *et = cJSON_GetObjectItemCaseSensitive(end, topic->string);
            cJSON_ArrayForEach(part, topic)
            {
                const cJSON *ep = cJSON_GetObjectItemCaseSensitive(et, part->string);
                if (!cJSON_IsNumber(part) || !cJSON_IsNumber(ep))
                    continue;
                const char *kv[] = {"topic", topic->string, "partition", part->string};
                double lag = part->valuedouble - ep->valuedouble;
                rc |= sample(b, "weir_kafka_lag_records", e->runners[i]->p->name, kv, 4, lag > 0 ? lag : 0);
            }
        }
    }
    rc |= gauge_head(b, "weir_files_pending", "Files discovered by the files source and not read yet");
    for (size_t i = 0; i < e->n; i++) {
        const cJSON *src = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(prog[i], "sources"), 0);
        const cJSON *end =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(src, "endOffset"), "seq");
        const cJSON *found = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(src, "metrics"), "numFilesDiscovered");
        if (cJSON_IsNumber(end) && cJSON_IsNumber(found))
            rc |= sample(b, "weir_files_pending", e->runners[i]->p->name, NULL, 0,
                         found->valuedouble > end->valuedouble ? found->valuedouble - end->valuedouble : 0);
    }
    rc |=
        gauge_head(b, "weir_state_rows", "Keys in a dedup or aggregate step's state, as of the latest batch");
    for (size_t i = 0; i < e->n; i++) {
        const cJSON *op;
        cJSON_ArrayForEach(op, cJSON_GetObjectItemCaseSensitive(prog[i], "stateOperators"))
        {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(op, "operatorName");
            const cJSON *rows = cJSON_GetObjectItemCaseSensitive(op, "numRowsTotal");
            if (cJSON_IsString(name) && cJSON_IsNumber(rows)) {
                const char *kv[] = {"operator", name->valuestring};
                rc |= sample(b, "weir_state_rows", e->runners[i]->p->name, kv, 2, rows->valuedouble);
            }
        }
    }
    rc |= gauge_head(b, "weir_state_memory_bytes",
                     "Memory of the pipeline's state store (block cache and memtables)");
    for (size_t i = 0; i < e->n; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(prog[i], "stateMemoryUsedBytes");
        if (cJSON_IsNumber(m))
            rc |= sample(b, "weir_state_memory_bytes", e->runners[i]->p->name, NULL, 0, m->valuedouble);
    }
    for (size_t i = 0; i < e->n; i++)
        cJSON_Delete(prog[i]);
    weir_free(prog);
    return rc;
}

static void serve_metrics(struct engine *e, struct weir_http_response *res)
{
    struct weir_query_health *hs = weir_calloc(e->n ? e->n : 1, sizeof *hs);
    double(*v)[NMETRICS] = weir_calloc(e->n ? e->n : 1, sizeof *v);
    int rc = hs && v ? 0 : WEIR_ENOMEM;
    for (size_t i = 0; rc == 0 && i < e->n; i++) {
        bool ready = runner_ready(e, e->runners[i], &hs[i]);
        metric_values(ready, atomic_load(&e->runners[i]->restarts), &hs[i], v[i]);
    }
    struct weir_buf *out = &res->body;
    for (size_t f = 0; rc == 0 && f < NMETRICS; f++) {
        rc |= weir_buf_printf(out, "# HELP %s %s.\n# TYPE %s %s\n", metric_defs[f].name, metric_defs[f].help,
                              metric_defs[f].name, metric_defs[f].type);
        for (size_t i = 0; i < e->n; i++)
            if (!isnan(v[i][f]))
                rc |= sample(out, metric_defs[f].name, e->runners[i]->p->name, NULL, 0, v[i][f]);
    }
    static const int64_t bounds[] = WEIR_QUERY_DURATION_BUCKETS_MS;
    const size_t nb = sizeof bounds / sizeof *bounds;
    rc |= weir_buf_append_str(out,
                              "# HELP weir_batch_duration_seconds Time of each committed batch, trigger to "
                              "commit.\n# TYPE weir_batch_duration_seconds histogram\n");
    for (size_t i = 0; rc == 0 && i < e->n; i++) {
        const char *pn = e->runners[i]->p->name;
        int64_t cum = 0;
        for (size_t k = 0; k <= nb; k++) {
            char le[32];
            snprintf(le, sizeof le, k < nb ? "%g" : "+Inf", k < nb ? (double)bounds[k] / 1000.0 : 0.0);
            const char *kv[] = {"le", le};
            cum += hs[i].duration_counts[k];
            rc |= sample(out, "weir_batch_duration_seconds_bucket", pn, kv, 2, (double)cum);
        }
        rc |= sample(out, "weir_batch_duration_seconds_sum", pn, NULL, 0,
                     (double)hs[i].duration_sum_ms / 1000.0);
        rc |= sample(out, "weir_batch_duration_seconds_count", pn, NULL, 0, (double)cum);
    }
    if (rc == 0)
        rc = progress_gauges(e, &res->body);
    weir_free(hs);
    weir_free(v);
    res->status = rc ? 500 : 200;
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* Equal without an early exit, so the time taken says nothing about the token. */
static bool same_secret(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = na != nb;
    for (size_t i = 0; i < na; i++)
        d |= (unsigned char)(a[i] ^ b[i % (nb ? nb : 1)]);
    return d == 0;
}

/* POST /pipelines/{name}/pause|resume, with Authorization: Bearer <http.token>. */
static void serve_pause(struct engine *e, const struct weir_http_request *req, struct weir_http_response *res)
{
    const char *name = req->path + strlen("/pipelines/");
    const char *slash = strrchr(name, '/');
    bool pause = slash && strcmp(slash, "/pause") == 0;
    if (!slash || (!pause && strcmp(slash, "/resume") != 0)) {
        res->status = 404;
        weir_buf_append_str(&res->body, "expected /pipelines/{name}/pause or /pipelines/{name}/resume\n");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        res->status = 405;
        res->allow = "POST";
        weir_buf_append_str(&res->body, "method not allowed\n");
        return;
    }
    if (!e->cfg->http.token) {
        res->status = 403;
        weir_buf_append_str(&res->body, "pause and resume need http.token in the config\n");
        return;
    }
    char want[600];
    snprintf(want, sizeof want, "Bearer %s", e->cfg->http.token);
    if (!same_secret(req->auth, want)) {
        res->status = 401;
        res->auth_challenge = true;
        weir_buf_append_str(&res->body, "a valid bearer token is required\n");
        return;
    }
    for (size_t i = 0; i < e->n; i++) {
        const char *pn = e->runners[i]->p->name;
        if (strlen(pn) != (size_t)(slash - name) || strncmp(pn, name, (size_t)(slash - name)) != 0)
            continue;
        struct runner *r = e->runners[i];
        pthread_mutex_lock(&r->mu);
        r->paused = pause;
        if (r->q)
            weir_query_pause(r->q, pause);
        pthread_mutex_unlock(&r->mu);
        WEIR_LOG(WEIR_LOG_INFO, pn, -1, "%s by an HTTP request",
                 pause ? "paused (the batch in flight finishes)" : "resumed");
        res->content_type = "application/json";
        weir_buf_append_str(&res->body, "{\"name\":");
        weir_json_append_string(&res->body, pn, strlen(pn));
        weir_buf_printf(&res->body, ",\"paused\":%s}\n", pause ? "true" : "false");
        return;
    }
    res->status = 404;
    weir_buf_printf(&res->body, "no pipeline named '%.*s'\n", (int)(slash - name), name);
}

static void on_http(void *ctx, const struct weir_http_request *req, struct weir_http_response *res)
{
    struct engine *e = ctx;
    if (strncmp(req->path, "/pipelines/", strlen("/pipelines/")) == 0) {
        serve_pause(e, req, res);
        return;
    }
    static const char *const gets[] = {"/health", "/ready", "/progress", "/metrics"};
    size_t which = 0;
    while (which < 4 && strcmp(req->path, gets[which]) != 0)
        which++;
    if (which == 4) {
        res->status = 404;
        weir_buf_append_str(&res->body, "no such endpoint: /health, /ready, /progress, /metrics\n");
        return;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        res->status = 405;
        res->allow = "GET, HEAD";
        weir_buf_append_str(&res->body, "method not allowed\n");
        return;
    }
    switch (which) {
    case 0:
        weir_buf_append_str(&res->body, "ok\n");
        break;
    case 1:
        serve_ready(e, res);
        break;
    case 2:
        serve_progress(e, res);
        break;
    default:
        serve_metrics(e, res);
    }
}

int weir_engine_run(struct weir_config *cfg, const char *text, size_t text_len, const char *path,
                    int trigger_override)
{
    struct engine e;
    memset(&e, 0, sizeof(e));
    weir_log_set_level((enum weir_log_level)cfg->log.level);
    weir_log_set_format((enum weir_log_format)cfg->log.format);
    /* a broken pipe on a socket must be an error code, not a dead process */
    signal(SIGPIPE, SIG_IGN);
    struct loaded *first = weir_calloc(1, sizeof *first);
    cJSON *json = first ? cJSON_ParseWithLength(text, text_len) : NULL;
    if (!json || uv_loop_init(&e.loop) != 0) {
        WEIR_ERROR("out of memory starting the service");
        cJSON_Delete(json);
        weir_free(first);
        weir_config_destroy(cfg);
        return 1;
    }
    first->cfg = cfg;
    first->json = json;
    first->refs = 2; /* the engine's settings (http, log, shutdown_timeout), and current */
    e.current = first;
    e.cfg = cfg;
    e.path = path;
    e.trigger_override = trigger_override;
    uv_timer_init(&e.loop, &e.shutdown);
    uv_timer_init(&e.loop, &e.watchdog);
    uv_signal_init(&e.loop, &e.sigterm);
    uv_signal_init(&e.loop, &e.sigint);
    uv_signal_init(&e.loop, &e.sighup);
    uv_async_init(&e.loop, &e.ended, on_ended);
    e.shutdown.data = e.watchdog.data = e.sigterm.data = e.sigint.data = e.sighup.data = e.ended.data = &e;
    uv_signal_start(&e.sigterm, on_signal, SIGTERM);
    uv_signal_start(&e.sigint, on_signal, SIGINT);
    uv_signal_start(&e.sighup, on_sighup, SIGHUP);
    if (cfg->http.listen) {
        struct weir_error herr = {0};
        if (weir_http_listen(&e.loop, cfg->http.listen, on_http, &e, &e.http, &herr) != 0) {
            WEIR_ERROR("cannot serve HTTP: %s", herr.message);
            e.failed = 1;
            goto out;
        }
        WEIR_INFO("serving /health, /ready, /progress and /metrics on %s (port %d)", cfg->http.listen,
                  weir_http_port(e.http));
    }
    for (size_t i = 0; i < cfg->npipelines; i++)
        if (!runner_new(&e, first, &cfg->pipelines[i])) {
            WEIR_ERROR("out of memory starting the service");
            e.failed = 1;
            goto out;
        }
    for (size_t i = 0; i < e.n; i++)
        runner_start(e.runners[i]);
    /* ready for systemd once every pipeline has its thread and HTTP
     * listens (a pipeline's first batch is /ready's business) */
    notify("READY=1\nMAINPID=%ld", (long)getpid());
    notify_status(&e);
    uint64_t wd_usec = 0;
#ifdef WEIR_HAVE_SYSTEMD
    if (sd_watchdog_enabled(0, &wd_usec) <= 0)
        wd_usec = 0;
#endif
    if (wd_usec)
        uv_timer_start(&e.watchdog, on_watchdog, 0, wd_usec / 2000 ? wd_usec / 2000 : 1);
    uv_run(&e.loop, UV_RUN_DEFAULT);
out:
    for (size_t i = 0; i < e.n; i++) /* only after a failed start: the loop ran until none was left */
        runner_reap(&e, e.runners[i], &e.failed);
    weir_http_close(e.http);
    uv_close((uv_handle_t *)&e.shutdown, NULL);
    uv_close((uv_handle_t *)&e.watchdog, NULL);
    uv_close((uv_handle_t *)&e.sigterm, NULL);
    uv_close((uv_handle_t *)&e.sigint, NULL);
    uv_close((uv_handle_t *)&e.sighup, NULL);
    uv_close((uv_handle_t *)&e.ended, NULL);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    uv_loop_close(&e.loop);
    weir_free(e.runners);
    int failed = e.failed;
    loaded_unref(e.current);
    loaded_unref(first);
    return failed;
}
