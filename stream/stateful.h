/* stream/stateful.h - the stateful transform steps, dedup and aggregate,
 * whose state lives in the pipeline's RocksDB store (state/store.h).
 * Internal to stream/: the transform (stream/transform.c) creates them,
 * feeds them rows and asks them to finish each micro-batch.
 *
 * Per micro-batch: push() for every chunk of rows, then finish() once the
 * source is exhausted (aggregates emit rows here and evict the windows the
 * watermark has passed; dedup counts the keys whose expiry has passed as
 * removed and lets compactions drop them). Writes reach the store with
 * weir_state_apply after each push and finish; the engine makes them a
 * version with weir_state_commit after the sink committed. A failed batch is
 * undone by weir_state_abort plus weir_dedup_abort / weir_aggregate_abort
 * (the keys or groups a step holds during a batch); otherwise steps keep nothing across
 * batches but their configuration. What compactions may drop only grows,
 * and only up to what a rerun of the batch treats as expired anyway.
 *
 * Created with a NULL store, a step only binds its expressions and checks
 * its options (weir validate); it must not be run.
 *
 * Semantics, state layouts and compatibility rules: docs/stateful.md. */
#ifndef WEIR_STREAM_STATEFUL_H
#define WEIR_STREAM_STATEFUL_H

#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/types.h"
#include "state/store.h"
#include "stream/config.h"

/* What a stateful step knows about the micro-batch in flight. */
struct weir_stateful_batch {
    int64_t batch_id;
    int64_t watermark_ms; /* the batch's event-time watermark (has_watermark) */
    bool has_watermark;
    int64_t now_ms; /* the batch's processing time */
};

/* progress stateOperators[] of one step, for the batch in flight. */
struct weir_stateful_metrics {
    const char *name; /* borrowed from the step */
    int64_t rows_total, rows_updated, rows_removed, rows_dropped_by_watermark;
    int64_t memory_used_bytes, all_updates_ms, commit_ms;
    int64_t state_reads; /* keys looked up in the store (progress customMetrics.rocksdbGetCount) */
};

typedef int (*weir_stateful_emit_cb)(void *ctx, const struct weir_batch *b, struct weir_error *err);

struct weir_dedup;
/* `wm_column` / `wm_delay_ms`: the watermark step's column and delay (NULL
 * when the pipeline has none); `name` the state operator name. */
int weir_dedup_create(const struct weir_config_dedup *c, const struct weir_type *in, const char *wm_column,
                      int64_t wm_delay_ms, struct weir_state *st, const char *name, struct weir_dedup **out,
                      struct weir_error *err);
void weir_dedup_destroy(struct weir_dedup *d);
/* *out: the rows of `in` whose keys were not seen before (a new batch the
 * caller destroys, or NULL when every row passes: then `in` flows on). */
int weir_dedup_push(struct weir_dedup *d, const struct weir_stateful_batch *sb, const struct weir_batch *in,
                    int64_t now_us, struct weir_batch **out, struct weir_error *err);
int weir_dedup_finish(struct weir_dedup *d, const struct weir_stateful_batch *sb, struct weir_error *err);
void weir_dedup_metrics(struct weir_dedup *d, struct weir_stateful_metrics *m);
/* Bytes of the keys a batch holds in memory before it writes its new ones
 * to the state early (default 64 MiB; tests lower it). */
void weir_dedup_set_spill_bytes(struct weir_dedup *d, size_t bytes);
/* Forget the keys of the batch in flight (the batch failed; the store
 * undoes its writes with weir_state_abort). */
void weir_dedup_abort(struct weir_dedup *d);

struct weir_aggregate;
int weir_aggregate_create(const struct weir_config_aggregate *c, const struct weir_type *in,
                          struct weir_state *st, const char *name, struct weir_aggregate **out,
                          struct weir_error *err);
void weir_aggregate_destroy(struct weir_aggregate *a);
const struct weir_type *weir_aggregate_schema(const struct weir_aggregate *a);
/* The output columns that identify a row (window and group columns). */
size_t weir_aggregate_keys(const struct weir_aggregate *a, const char *const **names);
int weir_aggregate_push(struct weir_aggregate *a, const struct weir_stateful_batch *sb,
                        const struct weir_batch *in, int64_t now_us, struct weir_error *err);
/* Emit this batch's output rows (by the output mode) to cb, then evict. */
int weir_aggregate_finish(struct weir_aggregate *a, const struct weir_stateful_batch *sb,
                          weir_stateful_emit_cb cb, void *ctx, struct weir_error *err);
/* Bytes of groups a batch holds in memory before writing them back to the
 * state early (default 64 MiB; tests lower it). */
void weir_aggregate_set_spill_bytes(struct weir_aggregate *a, size_t bytes);
/* Forget the groups pushed in the batch in flight (the batch failed; the
 * store undoes its writes with weir_state_abort). */
void weir_aggregate_abort(struct weir_aggregate *a);
void weir_aggregate_metrics(struct weir_aggregate *a, struct weir_stateful_metrics *m);
/* Decode v[0..n) as a value of a's state (a session list with a session
 * window, else a group's accumulators), render its measures as finish
 * would, and free it all. 0, WEIR_ECORRUPT (any bytes that are not such a
 * value; the message names the step) or WEIR_ENOMEM; reads nothing outside
 * v. For tests and the fuzz target tests/fuzz/fuzz_state_values.c; a step
 * created with a NULL store will do. */
int weir_aggregate_check_value(struct weir_aggregate *a, const uint8_t *v, size_t n, struct weir_error *err);

#endif
