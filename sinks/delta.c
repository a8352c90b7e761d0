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
 * optimize_every N: after every N commits a compaction runs on its own
 * thread with its own table handle. It commits with dataChange=false and
 * reads only the files it rewrites, so the appends never conflict with it;
 * at most one runs at a time, and destroy waits for it.
 *
 * Error policy: I/O errors and commit races that ran out of retries are
 * retriable (the engine retries the batch with the same offsets); schema
 * and protocol errors are not. One thread calls the sink. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
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
    pthread_t opt_thread;
    bool opt_running;
    atomic_bool opt_done;
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

static void *optimize_main(void *arg)
{
    struct delta_sink *s = arg;
    struct weir_delta_table *t = NULL;
    struct weir_delta_optimize_options o;
    struct weir_delta_optimize_result r;
    struct weir_error err = {0};
    weir_delta_optimize_options_default(&o);
    o.target_file_bytes = (uint64_t)s->cfg->target_file_size;
    o.codec = weir_sink_codec(s->cfg->codec);
    struct weir_store_options so = {(const char *const *)s->cfg->storage_options, s->cfg->nstorage_options};
    int rc = weir_delta_table_open_with(&t, s->cfg->path, &so, &err);
    if (rc == 0)
        rc = weir_delta_optimize(t, &o, &r, &err);
    if (rc)
        WEIR_LOG(WEIR_LOG_WARN, s->base.pipeline, -1,
                 "optimize of %s failed (the appends are not affected): %s", s->cfg->path, err.message);
    else if (r.version >= 0)
        WEIR_LOG(WEIR_LOG_INFO, s->base.pipeline, -1,
                 "optimize of %s: version %lld, %zu files -> %zu files (%lld rows)", s->cfg->path,
                 (long long)r.version, r.files_removed, r.files_added, (long long)r.rows);
    weir_delta_table_destroy(t);
    atomic_store(&s->opt_done, true);
    return NULL;
}

static void optimize_join(struct delta_sink *s, bool wait)
{
    if (s->opt_running && (wait || atomic_load(&s->opt_done))) {
        pthread_join(s->opt_thread, NULL);
        s->opt_running = false;
    }
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
    optimize_join(s, false);
    if (s->cfg->optimize_every > 0 && !s->opt_running && s->commits > 0 &&
        s->commits % s->cfg->optimize_every == 0) {
        atomic_store(&s->opt_done, false);
        if (pthread_create(&s->opt_thread, NULL, optimize_main, s) == 0)
            s->opt_running = true;
        else
            WEIR_LOG(WEIR_LOG_WARN, base->pipeline, -1, "could not start the optimize thread for %s",
                     s->cfg->path);
    }
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
    optimize_join(s, true);
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
    struct weir_store_options so = {(const char *const *)cfg->storage_options, cfg->nstorage_options};
    int rc = weir_delta_table_open_with(&s->t, cfg->path, &so, err);
    if (rc) {
        ds_destroy(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}
