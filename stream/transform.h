/* stream/transform.h - the transform steps of a pipeline: decode, where,
 * select, applied in order to every batch a source emits.
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
 *
 * Per micro-batch: begin(batch_id) -> push()* -> commit() (dead letters
 * become visible: one Delta commit with txn{appId: query id, version:
 * batch id}, so a replayed batch never duplicates them) or abort(). The
 * engine commits the transform before the sink.
 *
 * One thread at a time. */
#ifndef WEIR_STREAM_TRANSFORM_H
#define WEIR_STREAM_TRANSFORM_H

#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/types.h"

struct weir_config_pipeline;
struct weir_transform;

typedef int (*weir_transform_emit_cb)(void *ctx, const struct weir_batch *batch, struct weir_error *err);

/* Build the steps of p->steps for batches of schema `in`; binds every
 * expression, so unknown columns and type errors surface here, each naming
 * the step ("transform[2].select[1]: ..."). `query_id` (copied) is the
 * dead-letter txn appId. */
int weir_transform_create(const struct weir_config_pipeline *p, const struct weir_type *in,
                          const char *query_id, struct weir_transform **out, struct weir_error *err);
void weir_transform_destroy(struct weir_transform *t); /* NULL ok */
/* Schema of the batches push() emits. */
const struct weir_type *weir_transform_schema(const struct weir_transform *t);

struct weir_transform_metrics {
    int64_t rows_in;      /* rows pushed */
    int64_t rows_out;     /* rows emitted */
    int64_t rescued;      /* rows with _rescued_data set */
    int64_t dead_letters; /* rows sent to the dead-letter table */
    int64_t filtered;     /* rows removed by where */
};

int weir_transform_begin(struct weir_transform *t, int64_t batch_id, struct weir_error *err);
/* Apply the steps to `in`; cb gets zero or more output batches (valid only
 * during the call). `now_us` is the batch's current_timestamp(). */
int weir_transform_push(struct weir_transform *t, const struct weir_batch *in, int64_t now_us,
                        weir_transform_emit_cb cb, void *ctx, struct weir_error *err);
int weir_transform_commit(struct weir_transform *t, struct weir_error *err);
void weir_transform_abort(struct weir_transform *t);
/* Counts since the last begin. */
void weir_transform_metrics(const struct weir_transform *t, struct weir_transform_metrics *m);

#endif
