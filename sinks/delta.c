/* sinks/delta.c - the Delta sink: one Delta commit per micro-batch.
 *
 * Each batch is written through the streaming writer (delta/delta.h) and
 * committed with txn{appId: query id, version: batch id} - added to the
 * table (mode append), replacing its contents (mode complete: remove of
 * every file and add of the new ones in one commit) or upserted by key
 * (mode merge: delta/merge.c, copy-on-write of the files holding the
 * batch's keys, the keys from the config or the engine); begin() asks the
 * writer whether that txn is already in the table, which is how a batch
 * replayed after a crash is skipped. The table is created on the first
 * write from the batch schema, with partition_by.
 *
 * Maintenance (the config's maintenance block): compaction after every N
 * commits or when the table's last OPTIMIZE is older than an interval, and
 * VACUUM when its last VACUUM END is older than an interval. It runs on a
 * thread of its own with its own table handle, started from commit when
 * something is due; at most one runs at a time, and destroy waits for it.
 * Compaction commits with dataChange=false and reads only the files it
 * rewrites, so the appends never conflict with it; vacuum keeps files
 * younger than its retention, so this sink's in-flight files survive.
 * The interval schedules read the table's history once (so a restart does
 * not run them again early), then keep time themselves.
 *
 * Error policy: I/O errors and commit races that ran out of retries are
 * retriable (the engine retries the batch with the same offsets); schema
 * and protocol errors are not. One thread calls the sink. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"
#include "delta/delta.h"
#include "sinks/sink.h"
#include "sinks/sink_int.h"
#include "stream/config.h"

struct delta_sink {
    struct weir_sink base;
    const struct weir_config_delta *cfg; /* borrowed from the config */
    struct weir_delta_table *t;
    struct weir_delta_writer *w;
    int64_t commits; /* commits by this process, for optimize_every */
    pthread_t maint_thread;
    bool maint_running;
    atomic_bool maint_done;
    bool optimize_now;                  /* set by commit for optimize_every */
    int64_t last_optimize, last_vacuum; /* wall ms; -1: not read from the history yet */
    _Atomic int64_t next_due;           /* wall ms of the next interval check */
};

static void classify(struct weir_error *err, int rc)
{
    if (err && (rc == WEIR_EIO || rc == WEIR_ECONFLICT || rc == WEIR_ERETRY))
        err->retriable = true;
}

static int ds_begin(struct weir_sink *base, int64_t batch_id, const struct weir_type *schema, bool *already,
                    struct weir_error *err)
{
    struct delta_sink *s = (struct delta_sink *)base;
    struct weir_delta_write_options o;
    struct weir_delta_write_result res;
    *already = false;
    weir_delta_writer_abort(s->w);
    s->w = NULL;
    weir_delta_write_options_default(&o);
    o.partition_by = (const char *const *)s->cfg->partition_by;
    o.n_partition_by = s->cfg->npartition_by;
    o.txn_app_id = base->query_id;
    o.txn_version = batch_id;
    o.codec = weir_sink_codec(s->cfg->codec);
    o.target_file_bytes = (uint64_t)s->cfg->target_file_size;
    o.max_pending_bytes = (uint64_t)s->cfg->max_buffer_size;
    o.merge_schema = s->cfg->merge_schema || base->merge_schema;
    /* complete: every batch replaces the table's contents; merge: upserts by key */
    o.mode = s->cfg->mode == WEIR_MODE_COMPLETE ? WEIR_DELTA_OVERWRITE
             : s->cfg->mode == WEIR_MODE_MERGE  ? WEIR_DELTA_MERGE
                                                : WEIR_DELTA_APPEND;
    o.merge_keys = s->cfg->nkeys ? (const char *const *)s->cfg->keys : base->merge_keys;
    o.n_merge_keys = s->cfg->nkeys ? s->cfg->nkeys : base->n_merge_keys;
    int rc = weir_delta_writer_begin(s->t, schema, &o, &s->w, &res, err);
    if (rc) {
        classify(err, rc);
        return rc;
    }
    *already = res.already_committed;
    return 0;
}

static int ds_write(struct weir_sink *base, const struct weir_batch *b, struct weir_error *err)
{
    struct delta_sink *s = (struct delta_sink *)base;
    if (!s->w)
        return weir_error_set(err, WEIR_ESTATE, "%s: write without begin", base->description);
    int rc = weir_delta_writer_add(s->w, b, err);
    classify(err, rc);
    return rc;
}

/* Newest commit of `op` in the history, or 0 when none is left in the log. */
static int64_t last_operation(struct weir_delta_table *t, const char *op)
{
    struct weir_delta_history_entry *h = NULL;
    size_t n = 0;
    struct weir_error err = {0};
    char want[64];
    int64_t ts = 0;
    snprintf(want, sizeof want, "\"operation\":\"%s\"", op);
    if (weir_delta_history(t, 1000, &h, &n, &err) == 0)
        for (size_t i = 0; i < n && !ts; i++)
            if (h[i].commit_info && strstr(h[i].commit_info, want))
                ts = h[i].timestamp;
    weir_delta_history_free(h, n);
    return ts;
}

static void run_optimize(struct delta_sink *s, struct weir_delta_table *t)
{
    struct weir_delta_optimize_options o;
    struct weir_delta_optimize_result r;
    struct weir_error err = {0};
    weir_delta_optimize_options_default(&o);
    o.target_file_bytes = (uint64_t)(s->cfg->maint.optimize_target_size ? s->cfg->maint.optimize_target_size
                                                                        : s->cfg->target_file_size);
    o.codec = weir_sink_codec(s->cfg->codec);
    if (weir_delta_optimize(t, &o, &r, &err))
        WEIR_LOG(WEIR_LOG_WARN, s->base.pipeline, -1,
                 "optimize of %s failed (the appends are not affected): %s", s->cfg->path, err.message);
    else if (r.version >= 0)
        WEIR_LOG(WEIR_LOG_INFO, s->base.pipeline, -1,
                 "optimize of %s: version %lld, %zu files -> %zu files (%lld rows)", s->cfg->path,
                 (long long)r.version, r.files_removed, r.files_added, (long long)r.rows);
}

static void run_vacuum(struct delta_sink *s, struct weir_delta_table *t)
{
    struct weir_delta_snapshot *snap = NULL;
    struct weir_delta_vacuum_options o = {
        .retention_ms = s->cfg->maint.vacuum_retain_ms ? s->cfg->maint.vacuum_retain_ms : -1, .force = true};
    struct weir_error err = {0};
    size_t n = 0;
    uint64_t bytes = 0;
    if (weir_delta_snapshot_load(t, -1, &snap, &err) || weir_delta_vacuum(t, snap, &o, &n, &bytes, &err))
        WEIR_LOG(WEIR_LOG_WARN, s->base.pipeline, -1,
                 "vacuum of %s failed (the appends are not affected): %s", s->cfg->path, err.message);
    else
        WEIR_LOG(WEIR_LOG_INFO, s->base.pipeline, -1, "vacuum of %s: deleted %zu files (%llu bytes)",
                 s->cfg->path, n, (unsigned long long)bytes);
    weir_delta_snapshot_destroy(snap);
}

static void *maintenance_main(void *arg)
{
    struct delta_sink *s = arg;
    struct weir_delta_table *t = NULL;
    struct weir_error err = {0};
    int64_t opt_iv = s->cfg->maint.optimize_interval_ms, vac_iv = s->cfg->maint.vacuum_interval_ms;
    struct weir_store_options so = {(const char *const *)s->cfg->storage_options, s->cfg->nstorage_options};
    if (weir_delta_table_open_with(&t, s->cfg->path, &so, &err)) {
        WEIR_LOG(WEIR_LOG_WARN, s->base.pipeline, -1, "table maintenance of %s: %s", s->cfg->path,
                 err.message);
        goto done;
    }
    if (opt_iv && s->last_optimize < 0)
        s->last_optimize = last_operation(t, "OPTIMIZE");
    if (vac_iv && s->last_vacuum < 0)
        s->last_vacuum = last_operation(t, "VACUUM END");
    int64_t now = weir_now_ms();
    if (s->optimize_now || (opt_iv && now - s->last_optimize >= opt_iv)) {
        run_optimize(s, t);
        s->last_optimize = weir_now_ms();
    }
    if (vac_iv && now - s->last_vacuum >= vac_iv) {
        run_vacuum(s, t);
        s->last_vacuum = weir_now_ms();
    }
    int64_t next = INT64_MAX;
    if (opt_iv)
        next = s->last_optimize + opt_iv;
    if (vac_iv && s->last_vacuum + vac_iv < next)
        next = s->last_vacuum + vac_iv;
    atomic_store(&s->next_due, next);
done:
    weir_delta_table_destroy(t);
    atomic_store(&s->maint_done, true);
    return NULL;
}

static void maintenance_join(struct delta_sink *s, bool wait)
{
    if (s->maint_running && (wait || atomic_load(&s->maint_done))) {
        pthread_join(s->maint_thread, NULL);
        s->maint_running = false;
    }
}

/* After a commit: starts the maintenance thread when something is due. */
static void maintenance_start(struct delta_sink *s)
{
    maintenance_join(s, false);
    if (s->maint_running)
        return;
    bool every =
        s->cfg->maint.optimize_every > 0 && s->commits > 0 && s->commits % s->cfg->maint.optimize_every == 0;
    if (!every && weir_now_ms() < atomic_load(&s->next_due))
        return;
    s->optimize_now = every;
    atomic_store(&s->maint_done, false);
    if (pthread_create(&s->maint_thread, NULL, maintenance_main, s) == 0)
        s->maint_running = true;
    else
        WEIR_LOG(WEIR_LOG_WARN, s->base.pipeline, -1, "could not start the maintenance thread for %s",
                 s->cfg->path);
}

static int ds_commit(struct weir_sink *base, struct weir_sink_result *out, struct weir_error *err)
{
    struct delta_sink *s = (struct delta_sink *)base;
    struct weir_delta_write_result res;
    memset(out, 0, sizeof(*out));
    out->version = -1;
    if (!s->w)
        return weir_error_set(err, WEIR_ESTATE, "%s: commit without begin", base->description);
    int rc = weir_delta_writer_commit(s->w, &res, err);
    s->w = NULL;
    if (rc) {
        classify(err, rc);
        return rc;
    }
    out->version = res.version;
    out->skipped = res.already_committed;
    if (!res.already_committed) {
        out->rows = res.rows_written - res.rows_copied; /* merge: the upserted rows, not the copies */
        out->files = (int64_t)res.files_added;
        out->bytes = res.bytes_written;
        s->commits++;
    }
    maintenance_start(s);
    return 0;
}

static void ds_abort(struct weir_sink *base)
{
    struct delta_sink *s = (struct delta_sink *)base;
    weir_delta_writer_abort(s->w);
    s->w = NULL;
}

static void ds_destroy(struct weir_sink *base)
{
    struct delta_sink *s = (struct delta_sink *)base;
    maintenance_join(s, true);
    weir_delta_writer_abort(s->w);
    weir_delta_table_destroy(s->t);
    weir_free(base->description);
    weir_free(s);
}

static const struct weir_sink_ops delta_ops = {
    .begin = ds_begin,
    .write = ds_write,
    .commit = ds_commit,
    .abort = ds_abort,
    .destroy = ds_destroy,
};

int weir_sink_delta_create(const struct weir_config_delta *cfg, const char *pipeline, struct weir_sink **out,
                           struct weir_error *err)
{
    struct delta_sink *s = weir_calloc(1, sizeof(*s));
    *out = NULL;
    if (!s || !(s->base.description = weir_asprintf("DeltaSink[%s]", cfg->path))) {
        weir_free(s);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    s->base.ops = &delta_ops;
    s->base.pipeline = pipeline;
    s->cfg = cfg;
    s->last_optimize = s->last_vacuum = -1;
    /* intervals: the first commit checks the history; without them only optimize_every starts it */
    atomic_store(&s->next_due,
                 cfg->maint.optimize_interval_ms || cfg->maint.vacuum_interval_ms ? 0 : INT64_MAX);
    struct weir_store_options so = {(const char *const *)cfg->storage_options, cfg->nstorage_options};
    int rc = weir_delta_table_open_with(&s->t, cfg->path, &so, err);
    if (rc) {
        ds_destroy(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}
