/* stream/query.h - one running pipeline: the micro-batch loop.
 *
 * A query owns the pipeline's checkpoint, source, transform and sink and
 * runs batches on the calling thread (the engine gives each pipeline a
 * thread). The path of batch N (DESIGN.md):
 *
 *   plan (source.plan) -> offsets/N durable -> sink.begin(N) (skip if the
 *   table already holds txn N) -> source.read -> transform -> sink.write ->
 *   transform.commit (dead letters) -> sink.commit -> commits/N durable ->
 *   source.commit -> purge -> progress record
 *
 * Recovery at start: offsets/N without commits/N means batch N is rerun
 * with exactly the recorded offsets (start = offsets/N-1 or the initial
 * offsets in sources/0/0).
 *
 * Triggers: interval (batches start on multiples of the interval after
 * the previous start; no batch when the source has no new data), once (one
 * batch: the replayed one if any, else one new batch, then stop),
 * available-now (everything the source has at start, in batches within the
 * source's per-trigger limits, then stop).
 *
 * Errors: a retriable error (err.retriable) reruns the batch with the same
 * offsets after a capped, jittered exponential backoff (1 s doubling to
 * 60 s, +-20%), forever, logging each attempt; anything else stops the
 * query with an error log line naming the pipeline and batch.
 *
 * stop() asks the query to end after the batch in flight (or at once when
 * waiting); abandon() also interrupts the batch in flight (its partial
 * output is aborted; nothing is committed). Both are async-signal-unsafe
 * but thread-safe: the engine calls them from its loop thread. */
#ifndef WEIR_STREAM_QUERY_H
#define WEIR_STREAM_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

struct weir_config_pipeline;
struct weir_query;

/* trigger_override: -1 keeps the pipeline's trigger, else an enum
 * weir_trigger_kind (the CLI's --once / --available-now). */
int weir_query_create(const struct weir_config_pipeline *p, int trigger_override, struct weir_query **out,
                      struct weir_error *err);
void weir_query_destroy(struct weir_query *q); /* NULL ok */

/* Open everything and run batches until the trigger is done or stop() is
 * called. 0 on a clean end; a negative code (and err) when the pipeline
 * failed. */
int weir_query_run(struct weir_query *q, struct weir_error *err);

void weir_query_stop(struct weir_query *q);
void weir_query_abandon(struct weir_query *q);

const char *weir_query_name(const struct weir_query *q);
/* The latest progress record as JSON (malloc'd with weir_malloc), or NULL
 * before the first batch. */
char *weir_query_last_progress(struct weir_query *q);
/* Batches committed by this run. */
int64_t weir_query_batches_done(struct weir_query *q);

#endif
