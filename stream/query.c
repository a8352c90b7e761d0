/* stream/query.c - one pipeline's micro-batch loop (see query.h).
 *
 * Invariants: offsets/N is durable before anything of batch N is written;
 * commits/N only after the sink committed; `committed_end` always holds the
 * end offsets of the newest committed batch (or the initial offsets), which
 * is the start of the next batch. The loop runs on one thread; stop and
 * abandon flags are atomics, waits use a condition variable so stop() wakes
 * them. */
#include "stream/query.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "formats/json.h"
#include "sinks/sink.h"
#include "sources/source.h"
#include "state/store.h"
#include "storage/storage.h"
#include "stream/checkpoint.h"
#include "stream/config.h"
#include "stream/stage.h"
#include "stream/transform.h"

#define POLL_NO_DATA_MS  100
#define PAUSE_POLL_MS    200
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS   60000
/* Pushes queued between the row-local steps and the rest (stream/stage.h). */
#define STAGE_DEPTH      2

struct weir_query {
    const struct weir_config_pipeline *p;
    int trigger;
    struct weir_checkpoint *cp;
    struct weir_source *src;
    struct weir_transform *xf;
    struct weir_stage *back; /* the steps after the row-local ones, and the sink; NULL: inline */
    struct weir_sink *sink;
    struct weir_state *st;    /* stateful pipelines only */
    int64_t wm_ms;            /* the next batch's event-time watermark */
    int64_t last_batch_wm_ms; /* the watermark the last batch ran with */
    char run_id[37];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int stop, abandon;
    char *progress; /* guarded by mu */
    atomic_llong batches_done;
    atomic_llong retries;  /* failed attempts retried, this run */
    atomic_int failing;    /* consecutive failed attempts, 0 once one succeeds */
    atomic_bool triggered; /* a trigger has run: a batch committed, or no new data */
    atomic_bool paused;    /* no new batch starts while set */
    struct weir_query_health
        totals;              /* guarded by mu: the totals and last_error; the atomics above are the rest */
    int64_t prev_trigger_ms; /* start of the previous batch, for inputRowsPerSecond */
    /* per batch */
    int64_t rows_in, bytes_in, rows_out, cb_ns, now_us;
    bool discard;
};

struct timings {
    int64_t latest_offset, wal_commit, get_batch, add_batch, commit_offsets, trigger;
};

static int64_t ms_since(int64_t t0_ns)
{
    return (weir_mono_ns() - t0_ns) / 1000000;
}

int weir_query_create(const struct weir_config_pipeline *p, int trigger_override, struct weir_query **out,
                      struct weir_error *err)
{
    struct weir_query *q = weir_calloc(1, sizeof(*q));
    *out = NULL;
    if (!q)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    q->p = p;
    q->trigger = trigger_override >= 0 ? trigger_override : p->trigger;
    q->totals.table_version = -1;
    weir_uuid4(q->run_id);
    pthread_mutex_init(&q->mu, NULL);
    weir_cond_init_monotonic(&q->cv);
    *out = q;
    return 0;
}

static void close_parts(struct weir_query *q)
{
    weir_stage_destroy(q->back);
    q->back = NULL;
    weir_sink_destroy(q->sink);
    weir_transform_destroy(q->xf);
    weir_state_close(q->st);
    weir_source_destroy(q->src);
    weir_checkpoint_close(q->cp);
    q->st = NULL;
    q->sink = NULL;
    q->xf = NULL;
    q->src = NULL;
    q->cp = NULL;
}

void weir_query_destroy(struct weir_query *q)
{
    if (!q)
        return;
    close_parts(q);
    weir_free(q->progress);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    weir_free(q);
}

const char *weir_query_name(const struct weir_query *q)
{
    return q->p->name;
}

void weir_query_health(struct weir_query *q, struct weir_query_health *h)
{
    pthread_mutex_lock(&q->mu);
    *h = q->totals;
    pthread_mutex_unlock(&q->mu);
    h->batches = atomic_load(&q->batches_done);
    h->retries = atomic_load(&q->retries);
    h->failing = atomic_load(&q->failing);
    h->triggered = atomic_load(&q->triggered);
    h->paused = atomic_load(&q->paused);
}

int64_t weir_query_batches_done(struct weir_query *q)
{
    return atomic_load(&q->batches_done);
}

char *weir_query_last_progress(struct weir_query *q)
{
    pthread_mutex_lock(&q->mu);
    char *s = q->progress ? weir_strdup(q->progress) : NULL;
    pthread_mutex_unlock(&q->mu);
    return s;
}

void weir_query_stop(struct weir_query *q)
{
    pthread_mutex_lock(&q->mu);
    atomic_store(&q->stop, 1);
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void weir_query_pause(struct weir_query *q, bool pause)
{
    atomic_store(&q->paused, pause);
}

void weir_query_abandon(struct weir_query *q)
{
    atomic_store(&q->abandon, 1);
    weir_query_stop(q);
}

/* Sleep up to ms unless stop() is called; true if stopped. */
static bool wait_ms(struct weir_query *q, int64_t ms)
{
    struct timespec ts = weir_mono_deadline(ms);
    pthread_mutex_lock(&q->mu);
    while (!atomic_load(&q->stop))
        if (pthread_cond_timedwait(&q->cv, &q->mu, &ts) != 0)
            break;
    bool stopped = atomic_load(&q->stop) != 0;
    pthread_mutex_unlock(&q->mu);
    return stopped;
}

/* Waits between triggers in steps short enough to keep the lease of a
 * checkpoint on an object store renewed. True when stopped; a lease taken
 * by another run is an error in *rc. */
static bool idle_ms(struct weir_query *q, int64_t ms, int *rc, struct weir_error *err)
{
    const int64_t step = WEIR_CHECKPOINT_LEASE_MS / 6;
    for (;;) {
        struct weir_error herr = {0};
        int hrc = weir_checkpoint_heartbeat(q->cp, &herr);
        if (hrc != 0 && !herr.retriable) {
            weir_error_set(err, hrc, "%s", herr.message);
            *rc = hrc;
            return true;
        }
        if (hrc != 0)
            WEIR_LOG(WEIR_LOG_WARN, q->p->name, -1, "renewing the checkpoint lease: %s", herr.message);
        if (ms <= 0)
            return false;
        int64_t w = ms < step ? ms : step;
        if (wait_ms(q, w))
            return true;
        ms -= w;
    }
}

/* ------------------------------------------------------------ one batch */

static int on_output(void *ctx, const struct weir_batch *b, struct weir_error *err)
{
    struct weir_query *q = ctx;
    q->rows_out += (int64_t)b->nrows;
    if (q->discard)
        return 0; /* a replay the sink already holds: only the state is rebuilt */
    return q->sink->ops->write(q->sink, b, err);
}

/* The stage's half of a push. */
static int on_back(void *ctx, struct weir_batch *b, int64_t now_us, struct weir_error *err)
{
    struct weir_query *q = ctx;
    return weir_transform_push_back(q->xf, b, now_us, on_output, q, err);
}

static void on_release(void *ctx, struct weir_batch *b)
{
    struct weir_query *q = ctx;
    weir_transform_release(q->xf, b);
}

static int on_input(void *ctx, const struct weir_batch *b, struct weir_error *err)
{
    struct weir_query *q = ctx;
    if (atomic_load(&q->abandon))
        return weir_error_set(err, WEIR_ESTATE, "batch abandoned on shutdown");
    int64_t t0 = weir_mono_ns();
    q->rows_in += (int64_t)b->nrows;
    q->bytes_in += (int64_t)weir_batch_used_bytes(b);
    int rc;
    if (q->back) {
        struct weir_batch *mid = NULL;
        rc = weir_transform_push_front(q->xf, b, q->now_us, &mid, err);
        if (rc == 0 && mid != NULL)
            rc = weir_stage_put(q->back, mid, q->now_us, err);
    } else {
        rc = weir_transform_push(q->xf, b, q->now_us, on_output, q, err);
    }
    q->cb_ns += weir_mono_ns() - t0;
    return rc;
}

#define MAX_STATE_OPS 16

struct batch_result {
    struct weir_sink_result sink;
    struct weir_transform_metrics xf;
    bool skipped;
    int64_t watermark_ms, next_watermark_ms; /* has_watermark */
    bool has_watermark;
    struct weir_stateful_metrics ops[MAX_STATE_OPS];
    size_t nops;
    int64_t state_commit_ms;
};

/* One attempt at batch `id` over [start, end); `batch_ms` is its
 * processing time (offsets/N's batchTimestampMs). On success the sink has
 * committed, and the state (stateful pipelines) is version `id`; the
 * caller writes commits/N. On failure everything of the batch is undone. */
static int run_batch(struct weir_query *q, int64_t id, int64_t batch_ms, const char *start, const char *end,
                     struct timings *tm, struct batch_result *br, struct weir_error *err)
{
    bool already = false;
    int rc;
    memset(br, 0, sizeof(*br));
    q->rows_in = q->bytes_in = q->rows_out = q->cb_ns = 0;
    q->now_us = batch_ms * 1000;
    q->discard = false;
    int64_t t0 = weir_mono_ns();
    if ((rc = q->sink->ops->begin(q->sink, id, weir_transform_schema(q->xf), &already, err)))
        return rc;
    if (already) {
        WEIR_LOG(WEIR_LOG_INFO, q->p->name, id, "batch %lld is already in %s; not writing it again%s",
                 (long long)id, q->sink->description, q->st ? " (rebuilding its state)" : "");
        br->skipped = true;
        br->sink.skipped = true;
        if (!q->st) {
            tm->add_batch = ms_since(t0);
            return 0;
        }
        q->discard = true;
    }
    if ((rc = weir_transform_begin(q->xf, id, q->wm_ms, batch_ms, err)))
        goto fail;
    int64_t tr = weir_mono_ns();
    rc = q->src->ops->read(q->src, start, end, on_input, q, err);
    tm->get_batch = (weir_mono_ns() - tr - q->cb_ns) / 1000000;
    if (q->back) { /* the pushes still queued; their first error (err keeps the first) */
        int drc = weir_stage_drain(q->back, err);
        rc = rc ? rc : drc;
    }
    if (rc)
        goto fail;
    if ((rc = weir_transform_finish(q->xf, q->now_us, on_output, q, err)) ||
        (rc = weir_transform_commit(q->xf, err)))
        goto fail;
    weir_transform_metrics(q->xf, &br->xf);
    br->has_watermark = weir_transform_next_watermark(q->xf, &br->next_watermark_ms);
    br->watermark_ms = q->wm_ms;
    br->nops = weir_transform_state_metrics(q->xf, br->ops, MAX_STATE_OPS);
    if (!already && (rc = q->sink->ops->commit(q->sink, &br->sink, err)))
        goto fail_sink; /* the transform's dead letters are committed: a rerun skips them */
    if (q->st) {
        WEIR_CRASH_POINT("engine.before_state_commit");
        int64_t ts = weir_mono_ns();
        if ((rc = weir_state_commit(q->st, id, err)))
            goto fail_state;
        br->state_commit_ms = ms_since(ts);
        for (size_t i = 0; i < br->nops; i++)
            br->ops[i].commit_ms = br->state_commit_ms;
        WEIR_CRASH_POINT("engine.after_state_commit");
    }
    tm->add_batch = ms_since(t0);
    return 0;
fail:
    weir_transform_abort(q->xf);
fail_sink:
    if (!already)
        q->sink->ops->abort(q->sink);
fail_state:
    if (q->st) {
        struct weir_error aerr = {0};
        if (weir_state_abort(q->st, &aerr) != 0) {
            /* the live state cannot be trusted: stop rather than go on */
            WEIR_LOG(WEIR_LOG_ERROR, q->p->name, id, "restoring the state after a failed batch failed: %s",
                     aerr.message);
            err->retriable = false;
        }
    }
    return rc;
}

/* ------------------------------------------------------------ progress */

static void iso_ms(int64_t ms, char out[40])
{
    char tmp[40];
    weir_json_format_timestamp(ms * 1000, true, tmp);
    /* "2024-01-02T03:04:05.123456Z" -> milliseconds like Spark */
    size_t n = strlen(tmp);
    if (n >= 27)
        snprintf(out, 40, "%.23sZ", tmp);
    else
        snprintf(out, 40, "%s", tmp);
}

static double per_sec(int64_t rows, int64_t ms)
{
    return ms > 0 ? (double)rows * 1000.0 / (double)ms : 0.0;
}

static void publish_progress(struct weir_query *q, int64_t id, int64_t trigger_ms, const char *start,
                             const char *end, const char *latest, const struct timings *tm,
                             const struct batch_result *br)
{
    struct weir_buf b;
    char ts[40];
    weir_buf_init(&b);
    iso_ms(trigger_ms, ts);
    int64_t since_prev = q->prev_trigger_ms > 0 ? trigger_ms - q->prev_trigger_ms : 0;
    double in_rate = per_sec(q->rows_in, since_prev);
    double proc_rate = per_sec(q->rows_in, tm->trigger);
    int rc = weir_buf_printf(&b,
                             "{\"id\":\"%s\",\"runId\":\"%s\",\"name\":\"%s\",\"timestamp\":\"%s\","
                             "\"batchId\":%lld,\"batchDuration\":%lld,\"numInputRows\":%lld,"
                             "\"inputRowsPerSecond\":%.1f,\"processedRowsPerSecond\":%.1f,",
                             weir_checkpoint_query_id(q->cp), q->run_id, q->p->name, ts, (long long)id,
                             (long long)tm->trigger, (long long)q->rows_in, in_rate, proc_rate);
    rc |= weir_buf_printf(&b,
                          "\"durationMs\":{\"latestOffset\":%lld,\"walCommit\":%lld,\"getBatch\":%lld,"
                          "\"addBatch\":%lld,\"commitOffsets\":%lld,\"triggerExecution\":%lld},",
                          (long long)tm->latest_offset, (long long)tm->wal_commit, (long long)tm->get_batch,
                          (long long)tm->add_batch, (long long)tm->commit_offsets, (long long)tm->trigger);
    rc |= weir_buf_append_str(&b, "\"sources\":[{\"description\":");
    rc |= weir_json_append_string(&b, q->src->description, strlen(q->src->description));
    rc |= weir_buf_printf(&b,
                          ",\"startOffset\":%s,\"endOffset\":%s,\"latestOffset\":%s,\"numInputRows\":%lld,"
                          "\"inputRowsPerSecond\":%.1f,\"processedRowsPerSecond\":%.1f,\"metrics\":{",
                          start ? start : "null", end ? end : "null", latest ? latest : "null",
                          (long long)q->rows_in, in_rate, proc_rate);
    if (q->src->ops->metrics)
        rc |= q->src->ops->metrics(q->src, &b);
    rc |= weir_buf_append_str(&b, "}}],\"transform\":");
    rc |= weir_buf_printf(&b,
                          "{\"numOutputRows\":%lld,\"numFilteredRows\":%lld,\"numRescuedRows\":%lld,"
                          "\"numDeadLetterRows\":%lld},",
                          (long long)br->xf.rows_out, (long long)br->xf.filtered, (long long)br->xf.rescued,
                          (long long)br->xf.dead_letters);
    if (br->has_watermark) {
        char wm[40];
        iso_ms(br->watermark_ms, wm);
        rc |= weir_buf_printf(&b, "\"eventTime\":{\"watermark\":\"%s\"},\"numLateRows\":%lld,", wm,
                              (long long)br->xf.late);
    }
    if (q->st) {
        rc |= weir_buf_append_str(&b, "\"stateOperators\":[");
        for (size_t i = 0; i < br->nops; i++) {
            const struct weir_stateful_metrics *m = &br->ops[i];
            rc |= weir_buf_printf(
                &b,
                "%s{\"operatorName\":\"%s\",\"numRowsTotal\":%lld,\"numRowsUpdated\":%lld,"
                "\"numRowsRemoved\":%lld,\"numRowsDroppedByWatermark\":%lld,\"memoryUsedBytes\":%lld,"
                "\"allUpdatesTimeMs\":%lld,\"commitTimeMs\":%lld,"
                "\"customMetrics\":{\"rocksdbGetCount\":%lld}}",
                i ? "," : "", m->name, (long long)m->rows_total, (long long)m->rows_updated,
                (long long)m->rows_removed, (long long)(i == 0 ? br->xf.late : 0),
                (long long)m->memory_used_bytes, (long long)m->all_updates_ms, (long long)m->commit_ms,
                (long long)m->state_reads);
        }
        rc |=
            weir_buf_printf(&b, "],\"stateMemoryUsedBytes\":%llu,\"numDuplicateRows\":%lld,",
                            (unsigned long long)weir_state_memory_used(q->st), (long long)br->xf.duplicates);
    }
    rc |= weir_buf_append_str(&b, "\"sink\":{\"description\":");
    rc |= weir_json_append_string(&b, q->sink->description, strlen(q->sink->description));
    rc |= weir_buf_printf(&b,
                          ",\"numOutputRows\":%lld,\"metrics\":{\"numFiles\":%lld,\"numBytes\":%lld,"
                          "\"tableVersion\":%lld,\"alreadyCommitted\":%s",
                          (long long)(br->skipped ? 0 : br->sink.rows), (long long)br->sink.files,
                          (long long)br->sink.bytes, (long long)br->sink.version,
                          br->skipped || br->sink.skipped ? "true" : "false");
    if (br->sink.cdc) /* change data: what the changes did (Delta MERGE's metric names) */
        rc |= weir_buf_printf(&b,
                              ",\"numTargetRowsInserted\":%lld,\"numTargetRowsUpdated\":%lld,"
                              "\"numTargetRowsDeleted\":%lld,\"numChangesIgnoredAsStale\":%lld,"
                              "\"numTargetFilesRewritten\":%lld,\"numTargetBytesRewritten\":%lld,"
                              "\"numTargetFilesRead\":%lld,\"numTargetFilesReadByIndex\":%lld,"
                              "\"numTablesCommitted\":%lld",
                              (long long)br->sink.inserted, (long long)br->sink.updated,
                              (long long)br->sink.deleted, (long long)br->sink.stale,
                              (long long)br->sink.files_rewritten, (long long)br->sink.bytes_rewritten,
                              (long long)br->sink.files_read, (long long)br->sink.files_by_index,
                              (long long)br->sink.tables);
    rc |= weir_buf_append_str(&b, "}}}");
    if (rc == 0 && weir_buf_append_byte(&b, 0) == 0) {
        weir_log_json(WEIR_LOG_INFO, q->p->name, id, "progress", "progress", (const char *)b.data);
        static const int64_t bounds[] = WEIR_QUERY_DURATION_BUCKETS_MS;
        size_t k = 0;
        while (k < sizeof bounds / sizeof *bounds && tm->trigger > bounds[k])
            k++;
        pthread_mutex_lock(&q->mu);
        weir_free(q->progress);
        q->progress = weir_buf_detach(&b);
        struct weir_query_health *t = &q->totals;
        t->rows_in += q->rows_in;
        t->bytes_in += q->bytes_in;
        t->rows_out += br->skipped ? 0 : br->sink.rows;
        t->rescued += br->xf.rescued;
        t->dead_letters += br->xf.dead_letters;
        if (br->sink.version >= 0)
            t->table_version = br->sink.version;
        t->last_commit_ms = weir_now_ms();
        t->duration_counts[k]++;
        t->duration_sum_ms += tm->trigger;
        pthread_mutex_unlock(&q->mu);
    }
    weir_buf_free(&b);
    q->prev_trigger_ms = trigger_ms;
}

/* ------------------------------------------------------------ the loop */

static int build_steps(struct weir_query *q, struct weir_error *err);

/* Log a retriable failure and sleep the capped exponential backoff with
 * +-20% jitter, then double it. True if stop() came first. */
static bool backoff_wait(struct weir_query *q, int64_t batch, const char *what, int attempt, int64_t *backoff,
                         const struct weir_error *err)
{
    atomic_fetch_add(&q->retries, 1);
    atomic_fetch_add(&q->failing, 1);
    pthread_mutex_lock(&q->mu);
    snprintf(q->totals.last_error, sizeof q->totals.last_error, "%.40s: %.400s", what, err->message);
    pthread_mutex_unlock(&q->mu);
    int64_t jitter = *backoff / 5;
    int64_t sleep_ms = *backoff - jitter + (int64_t)(rand() % (int)(2 * jitter + 1));
    WEIR_LOG(WEIR_LOG_WARN, q->p->name, batch, "%s failed (attempt %d), retrying in %lld ms: %s", what,
             attempt, (long long)sleep_ms, err->message);
    *backoff = *backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *backoff * 2;
    return wait_ms(q, sleep_ms);
}

/* Run batch `id` over [start, end) until it commits, retrying retriable
 * failures. Returns 0 when committed, 1 when stopped before committing,
 * or a fatal error code. */
static int run_batch_retrying(struct weir_query *q, int64_t id, int64_t trigger_ms, const char *start,
                              const char *end, const char *latest, struct timings *tm, struct weir_error *err)
{
    struct batch_result br;
    int64_t backoff = BACKOFF_FIRST_MS;
    for (int attempt = 1;; attempt++) {
        weir_error_clear(err);
        int64_t t0 = weir_mono_ns();
        int rc = run_batch(q, id, trigger_ms, start, end, tm, &br, err);
        if (rc == 0) {
            WEIR_CRASH_POINT("engine.after_sink_commit");
            int64_t tc = weir_mono_ns();
            int64_t next_wm = br.has_watermark ? br.next_watermark_ms : 0;
            if ((rc = weir_checkpoint_write_commit(q->cp, id, next_wm, err)))
                return rc;
            q->last_batch_wm_ms = q->wm_ms;
            q->wm_ms = next_wm;
            tm->commit_offsets = ms_since(tc);
            tm->trigger += ms_since(t0);
            atomic_fetch_add(&q->batches_done, 1);
            atomic_store(&q->failing, 0);
            atomic_store(&q->triggered, true);
            if (q->src->ops->commit) {
                struct weir_error cerr = {0};
                if (q->src->ops->commit(q->src, end, &cerr))
                    WEIR_LOG(WEIR_LOG_WARN, q->p->name, id, "source commit (lag monitoring only) failed: %s",
                             cerr.message);
            }
            struct weir_error perr = {0};
            if (weir_checkpoint_purge(q->cp, q->p->min_batches_to_retain, NULL, &perr))
                WEIR_LOG(WEIR_LOG_WARN, q->p->name, id, "purging old checkpoint entries failed: %s",
                         perr.message);
            if (q->st && weir_state_purge(q->st, id - q->p->min_batches_to_retain + 1, &perr))
                WEIR_LOG(WEIR_LOG_WARN, q->p->name, id, "purging old state versions failed: %s",
                         perr.message);
            publish_progress(q, id, trigger_ms, start, end, latest, tm, &br);
            return 0;
        }
        if (atomic_load(&q->abandon))
            return 1;
        if (rc == WEIR_EEVOLVED) {
            /* the source's schema grew: the same batch again, with steps
             * built for it (nothing of the attempt was committed) */
            WEIR_LOG(WEIR_LOG_INFO, q->p->name, id, "%s; running batch %lld again with it", err->message,
                     (long long)id);
            if ((rc = build_steps(q, err)))
                return rc;
            attempt--;
            continue;
        }
        if (!err->retriable)
            return rc;
        if (backoff_wait(q, id, "batch", attempt, &backoff, err))
            return 1;
    }
}

/* The transform (and its stage) for the source's current schema. */
static int build_steps(struct weir_query *q, struct weir_error *err)
{
    int rc;
    weir_stage_destroy(q->back);
    weir_transform_destroy(q->xf);
    q->back = NULL;
    q->xf = NULL;
    if ((rc = weir_transform_create(q->p, q->src->schema, weir_checkpoint_query_id(q->cp), q->st, &q->xf,
                                    err)))
        return rc;
    if (weir_transform_has_front(q->xf) &&
        (rc = weir_stage_create(STAGE_DEPTH, on_back, on_release, q, &q->back, err)))
        return rc;
    q->sink->n_merge_keys = weir_transform_keys(q->xf, &q->sink->merge_keys);
    return 0;
}

static int open_parts(struct weir_query *q, char **initial, struct weir_error *err)
{
    int rc;
    struct weir_store_options so = {(const char *const *)q->p->checkpoint_storage_options,
                                    q->p->ncheckpoint_storage_options};
    struct weir_checkpoint_options co = {.store = &so, .cache_dir = q->p->checkpoint_cache_dir};
    if ((rc = weir_checkpoint_open(q->p->checkpoint, q->p->name, &co, &q->cp, err)))
        return rc;
    struct weir_source_env env = {.checkpoint = weir_checkpoint_store(q->cp),
                                  .local_dir = weir_checkpoint_local_dir(q->cp),
                                  .remote = weir_checkpoint_remote(q->cp)};
    if ((rc = weir_source_create(q->p, &env, &q->src, err)))
        return rc;
    q->src->pipeline = q->p->name;
    int64_t last_commit = weir_checkpoint_last_commit(q->cp);
    if (last_commit >= 0 && (rc = weir_checkpoint_read_commit(q->cp, last_commit, &q->wm_ms, err)))
        return rc;
    q->last_batch_wm_ms = 0;
    if (last_commit >= 0) {
        struct weir_offset_entry e = {0};
        if (weir_checkpoint_read_offsets(q->cp, last_commit, &e, NULL) == 0)
            q->last_batch_wm_ms = e.batch_watermark_ms;
        weir_offset_entry_clear(&e);
    }
    if (weir_transform_is_stateful(q->p) || weir_sink_needs_state(q->p)) {
        struct weir_state_options sto = {.memory_budget = (uint64_t)q->p->state_memory};
        if (weir_checkpoint_remote(q->cp)) {
            sto.replica_store = weir_checkpoint_store(q->cp);
            sto.replica_prefix = "state";
        }
        int64_t t0 = weir_mono_ns();
        if ((rc = weir_state_open(weir_checkpoint_state_dir(q->cp), last_commit, &sto, &q->st, err)))
            return rc;
        WEIR_LOG(WEIR_LOG_INFO, q->p->name, -1, "state restored to version %lld in %lld ms",
                 (long long)weir_state_version(q->st), (long long)ms_since(t0));
    }
    if ((rc = weir_sink_create(q->p, &q->sink, err)) || (rc = build_steps(q, err)))
        return rc;
    q->sink->query_id = weir_checkpoint_query_id(q->cp);
    q->sink->pipeline = q->p->name;
    q->sink->merge_schema = q->src->evolves_schema;
    q->sink->state = q->st;
    rc = weir_checkpoint_read_initial(q->cp, 0, initial, err);
    if (rc == WEIR_ENOTFOUND) {
        weir_error_clear(err);
        if ((rc = q->src->ops->initial(q->src, initial, err)) ||
            (rc = weir_checkpoint_write_initial(q->cp, 0, *initial, err)))
            return rc;
    }
    return rc;
}

/* The end offsets of batch `batch` (its offsets/N), its processing time
 * and whether it is a reset marker (each may be NULL). */
static int read_end(struct weir_query *q, int64_t batch, char **out, int64_t *batch_ms, bool *marker,
                    struct weir_error *err)
{
    struct weir_offset_entry e = {0};
    int rc = weir_checkpoint_read_offsets(q->cp, batch, &e, err);
    if (rc == 0 && batch_ms)
        *batch_ms = e.batch_timestamp_ms;
    if (rc == 0 && marker)
        *marker = e.reset != NULL;
    if (rc == 0 && e.nsources < 1)
        rc = weir_error_set(err, WEIR_ECORRUPT, "%s/offsets/%lld has no source offsets",
                            weir_checkpoint_dir(q->cp), (long long)batch);
    if (rc == 0) {
        *out = e.sources[0];
        e.sources[0] = NULL;
    }
    weir_offset_entry_clear(&e);
    return rc;
}

int weir_query_run(struct weir_query *q, struct weir_error *err)
{
    char *committed_end = NULL, *cap = NULL;
    struct weir_source_plan plan = {0};
    struct weir_error lerr = {0};
    int rc;
    if (!err)
        err = &lerr;
    const char *name = q->p->name;
    bool once = q->trigger == WEIR_TRIGGER_ONCE, avail = q->trigger == WEIR_TRIGGER_AVAILABLE_NOW;
    if ((rc = open_parts(q, &committed_end, err)))
        goto done;
    int64_t last_commit = weir_checkpoint_last_commit(q->cp);
    int64_t last_off = weir_checkpoint_last_offsets(q->cp);
    if (last_commit >= 0) {
        weir_free(committed_end);
        committed_end = NULL;
        if ((rc = read_end(q, last_commit, &committed_end, NULL, NULL, err)))
            goto done;
    }
    int64_t next = last_commit + 1;
    WEIR_LOG(WEIR_LOG_INFO, name, -1, "starting: query id %s, run id %s, next batch %lld, source %s, sink %s",
             weir_checkpoint_query_id(q->cp), q->run_id, (long long)next, q->src->description,
             q->sink->description);
    if (last_off == next) {
        char *end = NULL;
        int64_t batch_ms = 0;
        bool marker = false;
        if ((rc = read_end(q, next, &end, &batch_ms, &marker, err)))
            goto done;
        if (marker) {
            /* an offsets reset (weir checkpoint reset-offsets) interrupted
             * before its commit: nothing to read, only finish it */
            WEIR_LOG(WEIR_LOG_INFO, name, next, "completing the offsets reset recorded in batch %lld",
                     (long long)next);
            if ((q->st && (rc = weir_state_commit(q->st, next, err))) ||
                (rc = weir_checkpoint_write_commit(q->cp, next, q->wm_ms, err))) {
                weir_free(end);
                goto done;
            }
        } else {
            /* planned before the crash, not committed: rerun with the same offsets */
            WEIR_LOG(WEIR_LOG_INFO, name, next, "recovering: rerunning batch %lld with its recorded offsets",
                     (long long)next);
            struct timings tm = {0};
            rc = run_batch_retrying(q, next, batch_ms > 0 ? batch_ms : weir_now_ms(), committed_end, end,
                                    NULL, &tm, err);
            if (rc != 0) {
                weir_free(end);
                rc = rc == 1 ? 0 : rc;
                goto done;
            }
        }
        weir_free(committed_end);
        committed_end = end;
        next++;
        if (once && !marker)
            goto done;
    }
    int64_t next_trigger_ns = weir_mono_ns();
    int plan_attempt = 0;
    int64_t plan_backoff = BACKOFF_FIRST_MS;
    while (!atomic_load(&q->stop)) {
        if (atomic_load(&q->paused)) { /* the checkpoint's lease stays renewed */
            if (idle_ms(q, PAUSE_POLL_MS, &rc, err)) {
                if (rc)
                    goto done;
                break;
            }
            continue;
        }
        if (q->trigger == WEIR_TRIGGER_INTERVAL) {
            int64_t wait = (next_trigger_ns - weir_mono_ns()) / 1000000;
            if (idle_ms(q, wait, &rc, err)) {
                if (rc)
                    goto done;
                break;
            }
        }
        int64_t trigger_ms = weir_now_ms();
        int64_t t0 = weir_mono_ns();
        struct timings tm = {0};
        weir_source_plan_clear(&plan);
        if ((rc = q->src->ops->plan(q->src, committed_end, cap, avail, &plan, err))) {
            if (!err->retriable)
                goto done;
            rc = 0;
            bool stopped = backoff_wait(q, next, "planning the batch", ++plan_attempt, &plan_backoff, err);
            weir_error_clear(err);
            if (stopped)
                break;
            continue;
        }
        plan_attempt = 0;
        plan_backoff = BACKOFF_FIRST_MS;
        if (!plan.has_data) { /* reached the source: nothing to do is healthy */
            atomic_store(&q->failing, 0);
            atomic_store(&q->triggered, true);
        }
        tm.latest_offset = ms_since(t0);
        if (avail && !cap && !(cap = weir_strdup(plan.latest ? plan.latest : plan.end))) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto done;
        }
        /* a batch without new data still runs when the watermark moved, so
         * that windows it closes are emitted and state it expires goes */
        bool no_data_batch = !plan.has_data && q->st && q->wm_ms > q->last_batch_wm_ms;
        if (no_data_batch) {
            weir_free(plan.end);
            if (!(plan.end = weir_strdup(committed_end))) {
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                goto done;
            }
        }
        if (!plan.has_data && !no_data_batch) {
            if (once || avail)
                break;
            int64_t step = q->p->interval_ms > 0 ? q->p->interval_ms : POLL_NO_DATA_MS;
            next_trigger_ns = weir_mono_ns() + step * 1000000;
            if (q->p->interval_ms == 0 && idle_ms(q, POLL_NO_DATA_MS, &rc, err)) {
                if (rc)
                    goto done;
                break;
            }
            continue;
        }
        next_trigger_ns = t0 + q->p->interval_ms * 1000000;
        /* write-ahead: the plan is durable before the batch runs */
        struct weir_offset_entry e = {.batch_timestamp_ms = trigger_ms,
                                      .batch_watermark_ms = q->wm_ms,
                                      .sources = &plan.end,
                                      .nsources = 1};
        int64_t tw = weir_mono_ns();
        if ((rc = weir_checkpoint_write_offsets(q->cp, next, &e, err)))
            goto done;
        tm.wal_commit = ms_since(tw);
        tm.trigger = ms_since(t0);
        rc = run_batch_retrying(q, next, trigger_ms, committed_end, plan.end, plan.latest, &tm, err);
        if (rc == 1) { /* stopped before the commit: the batch reruns at the next start */
            rc = 0;
            break;
        }
        if (rc)
            goto done;
        weir_free(committed_end);
        committed_end = plan.end;
        plan.end = NULL;
        next++;
        if (once)
            break;
    }
done:
    if (rc)
        WEIR_LOG(WEIR_LOG_ERROR, name, -1, "pipeline stopped by an error: %s", err->message);
    else
        WEIR_LOG(WEIR_LOG_INFO, name, -1, "stopped after %lld batches in this run",
                 (long long)atomic_load(&q->batches_done));
    weir_source_plan_clear(&plan);
    weir_free(committed_end);
    weir_free(cap);
    close_parts(q);
    return rc;
}
