/* sinks/sink.h - the sink interface: write one micro-batch idempotently.
 *
 * For each batch id the engine calls begin(batch_id); if the sink reports
 * the batch as already written (a replay after a crash between the sink's
 * commit and commits/N), the engine skips reading and writing and goes on
 * to commits/N. Otherwise it calls write() for every transformed batch
 * (any number, possibly none) and then commit(), or abort() when anything
 * failed. commit() makes the whole micro-batch visible at once, or nothing.
 *
 * Idempotence per (query id, batch id) is the sink's half of exactly-once:
 * the Delta sink records txn{appId: query id, version: batch id} in the same
 * commit as the data. Errors set err->retriable when a retry may succeed. */
#ifndef WEIR_SINKS_SINK_H
#define WEIR_SINKS_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/types.h"

struct weir_config_pipeline;
struct weir_sink;

struct weir_sink_result {
    int64_t rows;    /* rows written in this batch */
    int64_t files;   /* data files added */
    int64_t bytes;   /* bytes of data files added */
    int64_t version; /* table version of the commit (-1: none) */
    bool skipped;    /* the batch was already committed */
    /* change data (sinks/cdc.c), summed over the tables written */
    bool cdc;
    int64_t inserted, updated, deleted; /* table rows */
    int64_t stale;                      /* changes older than the last one applied to their key */
    int64_t files_rewritten, bytes_rewritten;
    int64_t files_read, files_by_index; /* files whose keys were read; ... found by the key index */
    int64_t tables;                     /* tables committed */
};

struct weir_sink_ops {
    /* Start batch `batch_id` whose rows have `schema`. *already is set when
     * the batch is already committed (nothing else is called until the next
     * begin). */
    int (*begin)(struct weir_sink *s, int64_t batch_id, const struct weir_type *schema, bool *already,
                 struct weir_error *err);
    int (*write)(struct weir_sink *s, const struct weir_batch *b, struct weir_error *err);
    int (*commit)(struct weir_sink *s, struct weir_sink_result *res, struct weir_error *err);
    void (*abort)(struct weir_sink *s);
    void (*destroy)(struct weir_sink *s);
};

struct weir_sink {
    const struct weir_sink_ops *ops;
    char *description; /* "DeltaSink[/data/lake/orders]", owned */
    const char *pipeline;
    const char *query_id; /* the txn appId (borrowed, set by the engine before the first begin) */
    /* Mode merge without configured keys: the key columns the transform
     * produces (an aggregate's window and group columns); borrowed, set by
     * the engine like query_id. */
    const char *const *merge_keys;
    size_t n_merge_keys;
    /* The source's schema can grow (sources/source.h evolves_schema): new
     * nullable columns are added to the table. Set by the engine. */
    bool merge_schema;
    /* The pipeline's state store (borrowed, set by the engine) for sinks
     * that keep state with the batch (weir_sink_needs_state). */
    struct weir_state *state;
};

/* Whether pipeline p applies its rows as change data (a debezium-json
 * decode, or any change-data option of its Delta sink). */
bool weir_sink_is_cdc(const struct weir_config_pipeline *p);
/* The number of sequence columns of a change-data pipeline (sequence_by,
 * or 1 for the debezium default __seq); 0 when it has none. */
size_t weir_sink_cdc_nseq(const struct weir_config_pipeline *p);
/* Whether the sink of `p` keeps state in the pipeline's state store
 * (change data: the last sequence applied per key). */
bool weir_sink_needs_state(const struct weir_config_pipeline *p);

/* Create the sink configured in `p` (p->sink). */
int weir_sink_create(const struct weir_config_pipeline *p, struct weir_sink **out, struct weir_error *err);
void weir_sink_destroy(struct weir_sink *s); /* NULL ok */

/* A Delta table written with txn{appId, version = batch id}: used by the
 * Delta sink and by the decode step's dead-letter table. `path` is the
 * table URI; options as in the sink config (partition_by etc. may be NULL
 * for defaults). */
struct weir_config_delta;
int weir_sink_delta_create(const struct weir_config_delta *cfg, const char *pipeline, struct weir_sink **out,
                           struct weir_error *err);

/* Change data applied to Delta tables (mode merge with change semantics,
 * docs/cdc.md): one table, or one per source table with
 * table_path_template. Needs `state` before the first begin. */
int weir_sink_cdc_create(const struct weir_config_pipeline *p, struct weir_sink **out,
                         struct weir_error *err);

/* JSON lines on stdout (sinks/console.c); at-least-once. */
int weir_sink_console_create(const char *pipeline, struct weir_sink **out, struct weir_error *err);

#endif
