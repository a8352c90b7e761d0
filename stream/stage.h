/* stream/stage.h - a worker thread that runs one function over batches
 * handed to it, in the order they were handed over.
 *
 * A pipeline's batch path is split in two stages: the pipeline thread reads
 * the source and runs the row-local steps (decode, where, select); a stage
 * runs the rest (watermark, dedup, aggregate, the sink's write). Both halves
 * work at once on consecutive pushes, so a stateful step or the Parquet
 * encoder no longer waits for the JSON decoder, nor it for them.
 *
 * The queue holds at most `depth` batches: put() blocks while it is full, so
 * the batches in flight (and their memory) stay bounded. After the function
 * fails once, the batches still queued and those put later are released
 * without being run, put() returns that error, and drain() reports it once.
 * Every batch handed over is released exactly once, run or not, on the
 * worker thread (or by put() after a failure).
 *
 * Threading: put() and drain() from one thread (the producer); the function
 * and release run on the worker. Whatever the producer wrote before put()
 * is visible to the function, and whatever the function wrote is visible to
 * the producer after drain() returns. */
#ifndef WEIR_STREAM_STAGE_H
#define WEIR_STREAM_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"

struct weir_stage;

typedef int (*weir_stage_fn)(void *ctx, struct weir_batch *b, int64_t now_us, struct weir_error *err);
typedef void (*weir_stage_release_fn)(void *ctx, struct weir_batch *b);

/* depth >= 1. */
int weir_stage_create(size_t depth, weir_stage_fn fn, weir_stage_release_fn release, void *ctx,
                      struct weir_stage **out, struct weir_error *err);
/* Hand b over (the stage owns it from here). 0, or the function's first
 * error since the last drain (b is released unrun). */
int weir_stage_put(struct weir_stage *s, struct weir_batch *b, int64_t now_us, struct weir_error *err);
/* Wait until every batch handed over has been run or released. 0, or the
 * function's first error since the last drain (then cleared). */
int weir_stage_drain(struct weir_stage *s, struct weir_error *err);
/* Drain (an error is dropped: drain first to see it), stop the thread. */
void weir_stage_destroy(struct weir_stage *s); /* NULL ok */

#endif
