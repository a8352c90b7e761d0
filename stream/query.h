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
/* Pause: no new batch starts (the one in flight finishes) until resumed.
 * In memory only: a restarted process runs the pipeline. */
void weir_query_pause(struct weir_query *q, bool pause);

const char *weir_query_name(const struct weir_query *q);
/* The latest progress record as JSON (malloc'd with weir_malloc), or NULL
 * before the first batch. */
char *weir_query_last_progress(struct weir_query *q);
/* How the query is doing, for readiness and metrics (thread-safe). */
struct weir_query_health {
    int64_t batches;      /* committed by this run */
    int64_t retries;      /* failed attempts (planning or a batch) retried, this run */
    int failing;          /* consecutive failed attempts; 0 once one succeeds */
    bool triggered;       /* a trigger has run: a batch committed, or the source had nothing new */
    bool paused;          /* weir_query_pause */
    char last_error[512]; /* the latest failed attempt's error, "" if none */
    /* totals over the batches of this run (from their progress records) */
    int64_t rows_in, rows_out, rescued, dead_letters;
    int64_t bytes_in;       /* bytes of the values the source produced (weir_batch_used_bytes) */
    int64_t table_version;  /* the sink's latest, -1 before a commit */
    int64_t last_commit_ms; /* wall clock of the latest commit, 0 before one */
    /* batch durations: count per bucket of WEIR_QUERY_DURATION_BUCKETS_MS
     * (not cumulative) plus one past the last, and their sum */
    int64_t duration_counts[10];
    int64_t duration_sum_ms;
};
#define WEIR_QUERY_DURATION_BUCKETS_MS                       \
    {                                                        \
        100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000 \
    }
void weir_query_health(struct weir_query *q, struct weir_query_health *h);

/* Batches committed by this run. */
int64_t weir_query_batches_done(struct weir_query *q);

#endif
