/* stream/transform.h - the transform steps of a pipeline: decode, where,
 * select, watermark, dedup, aggregate, applied in order to every batch a
 * source emits.
 *
 *   decode  the `value` column (binary or string) -> the declared schema's
 *           columns, then the `keep` source columns, then (on_error
 *           "rescue") a nullable STRING column `_rescued_data`. A record
 *           that does not decode (bad JSON, wrong type, out of range,
 *           invalid UTF-8, longer than max_record_size) becomes a row whose
 *           decoded columns are null and whose _rescued_data is a JSON object
 *           {"error": reason, "value": raw text (or "value_base64" when not
 *           UTF-8), "topic", "partition", "offset" (when the source has
 *           them)}; with "dead_letter" it is written to the dead-letter Delta
 *           table instead (schema in docs/transform.md) and dropped from
 *           the batch; with "fail" the batch fails naming topic, partition,
 *           offset and the reason. Nothing is dropped silently.
 *   where   keep rows whose SQL predicate is true (core/expr.h).
 *   select  project SQL expressions ("expr AS name").
 *   watermark  drop rows at or before the batch's event-time watermark
 *           (counted as late) and track the largest event time, from which
 *           the next batch's watermark follows (weir_transform_next_watermark).
 *   dedup, aggregate  stateful steps (stream/stateful.h) over the state
 *           store passed to create; an aggregate emits in finish().
 *
 * Per micro-batch: begin(batch_id, watermark) -> push()* -> finish() -> commit() (dead letters
 * become visible: one Delta commit with txn{appId: query id, version:
 * batch id}, so a replayed batch never duplicates them) or abort(). The
 * engine commits the transform before the sink.
 *
 * Pipelined pushes: the row-local steps at the start (decode, where,
 * select) form the front, the others the back. The engine runs the front
 * on the pipeline thread and the back on a stage (stream/stage.h), so the
 * two halves of consecutive pushes run at once.
 *
 * One thread at a time, except push_back and release (one thread) next to
 * push_front (another); begin, finish, commit, abort and the metrics only
 * while no push_back runs. */
#ifndef WEIR_STREAM_TRANSFORM_H
#define WEIR_STREAM_TRANSFORM_H

#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/types.h"
#include "state/store.h"
#include "stream/stateful.h"

struct weir_config_pipeline;
struct weir_transform;

typedef int (*weir_transform_emit_cb)(void *ctx, const struct weir_batch *batch, struct weir_error *err);

/* Build the steps of p->steps for batches of schema `in`; binds every
 * expression, so unknown columns and type errors surface here, each naming
 * the step ("transform[2].select[1]: ..."). `query_id` (copied) is the
 * dead-letter txn appId. `st` is the pipeline's state store, required when
 * weir_transform_is_stateful(p) to run batches; without one the steps are
 * only bound and checked (weir validate). */
int weir_transform_create(const struct weir_config_pipeline *p, const struct weir_type *in,
                          const char *query_id, struct weir_state *st, struct weir_transform **out,
                          struct weir_error *err);
/* Whether p has dedup or aggregate steps (then it needs a state store). */
bool weir_transform_is_stateful(const struct weir_config_pipeline *p);
void weir_transform_destroy(struct weir_transform *t); /* NULL ok */
/* Schema of the batches push() emits. */
const struct weir_type *weir_transform_schema(const struct weir_transform *t);

struct weir_transform_metrics {
    int64_t rows_in;      /* rows pushed */
    int64_t rows_out;     /* rows emitted */
    int64_t rescued;      /* rows with _rescued_data set */
    int64_t dead_letters; /* rows sent to the dead-letter table */
    int64_t filtered;     /* rows removed by where */
    int64_t late;         /* rows dropped by the watermark */
    int64_t duplicates;   /* rows dropped by dedup */
};

/* `watermark_ms`: the batch's event-time watermark (the previous batch's
 * next watermark; 0 at first); `now_ms` its processing time (dedup ttl). */
int weir_transform_begin(struct weir_transform *t, int64_t batch_id, int64_t watermark_ms, int64_t now_ms,
                         struct weir_error *err);
/* Apply the steps to `in`; cb gets zero or more output batches (valid only
 * during the call). `now_us` is the batch's current_timestamp(). */
int weir_transform_push(struct weir_transform *t, const struct weir_batch *in, int64_t now_us,
                        weir_transform_emit_cb cb, void *ctx, struct weir_error *err);
/* Whether the steps start with row-local ones (push_front has work). */
bool weir_transform_has_front(const struct weir_transform *t);
/* The front's steps on `in`: *out a batch the caller owns, to pass to
 * push_back and then to release; NULL when no row is left. */
int weir_transform_push_front(struct weir_transform *t, const struct weir_batch *in, int64_t now_us,
                              struct weir_batch **out, struct weir_error *err);
/* The back's steps on b (a push_front result); output to cb as push(). */
int weir_transform_push_back(struct weir_transform *t, const struct weir_batch *b, int64_t now_us,
                             weir_transform_emit_cb cb, void *ctx, struct weir_error *err);
/* Done with a push_front result (kept for reuse or freed). NULL ok. */
void weir_transform_release(struct weir_transform *t, struct weir_batch *b);
/* End of the batch's input: stateful steps evict, aggregates emit to cb. */
int weir_transform_finish(struct weir_transform *t, int64_t now_us, weir_transform_emit_cb cb, void *ctx,
                          struct weir_error *err);
int weir_transform_commit(struct weir_transform *t, struct weir_error *err);
/* The watermark for the next batch (false: no watermark step). */
bool weir_transform_next_watermark(const struct weir_transform *t, int64_t *ms);
/* progress stateOperators of the batch (resets the counts); returns how many. */
size_t weir_transform_state_metrics(const struct weir_transform *t, struct weir_stateful_metrics *out,
                                    size_t cap);
/* The aggregate's output key columns (window, group), for a merging sink. */
size_t weir_transform_keys(const struct weir_transform *t, const char *const **names);
void weir_transform_abort(struct weir_transform *t);
/* Counts since the last begin. */
void weir_transform_metrics(const struct weir_transform *t, struct weir_transform_metrics *m);

#endif
