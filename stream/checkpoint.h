/* stream/checkpoint.h - a pipeline's checkpoint directory.
 *
 * The layout follows Spark Structured Streaming so its users recognise it:
 *
 *   <dir>/metadata      {"id":"<query uuid>","name":"<pipeline>","weirCheckpointVersion":1}
 *                       written once; the id is the Delta txn appId forever
 *   <dir>/offsets/<N>   v1
 *                       {"batchWatermarkMs":0,"batchTimestampMs":...,"conf":{...}}
 *                       <one line of offsets JSON per source>
 *                       written (temp, fsync, rename, fsync dir) BEFORE batch N runs;
 *                       conf {"weir.resetOffsets":"<what>"} marks a reset marker
 *                       (below)
 *   <dir>/commits/<N>   v1
 *                       {"nextBatchWatermarkMs":0}
 *                       written the same way AFTER the sink committed batch N
 *   <dir>/sources/<i>/0 v1 + the initial offsets of source i (resolved once,
 *                       so a restart does not re-resolve "latest")
 *   <dir>/state/        the state store (RocksDB), owned by state/
 *   <dir>/lock          flock()ed by the running process; holds its pid
 *
 * The checkpoint may live on an object store (s3://, abfss://, gs://):
 * every entry above is then an object written with put-if-absent, the
 * RocksDB databases (state, file index) are worked on in a local cache
 * directory, <cache>/<query id>, and saved to the store per version
 * (state/replica.h), and "lock" is a lease object (checkpoint.c).
 *
 * Recovery: if offsets/N exists and commits/N does not, batch N is rerun
 * with exactly those offsets; the sink skips it if it already committed.
 *
 * Reset markers (`weir checkpoint reset-offsets`): a batch whose offsets
 * entry carries `reset` moves a source to new positions without reading
 * anything. It is written like any batch (offsets/M, then commits/M) and
 * never reaches the sink; the engine completes one found planned but not
 * committed by making its state version and writing commits/M.
 *
 * open() refuses, with a message naming the directory and what is wrong:
 *   - a directory held by another live process (the lock);
 *   - metadata naming another pipeline, or malformed;
 *   - any file whose version header is not "v1" (written by an incompatible
 *     version of weir or Spark) or that does not parse;
 *   - inconsistent logs: a commit without its offsets, or more than one
 *     batch planned but not committed, or a gap in the offsets log.
 *
 * Purge keeps the newest `min_batches_to_retain` offsets and commits files
 * (and never the uncommitted one).
 *
 * Ownership: the handle owns its strings; one thread at a time. */
#ifndef WEIR_STREAM_CHECKPOINT_H
#define WEIR_STREAM_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define WEIR_CHECKPOINT_VERSION 1

/* A lease not renewed for this long may be taken over by another run. */
#define WEIR_CHECKPOINT_LEASE_MS      60000
/* The cache of checkpoints on object stores when neither the option nor
 * $CACHE_DIRECTORY names one. */
#define WEIR_CHECKPOINT_CACHE_DEFAULT "/var/tmp/weir"

struct weir_checkpoint;
struct weir_store;
struct weir_store_options;

struct weir_checkpoint_options {
    const struct weir_store_options *store; /* endpoint, credentials, ... (NULL: environment) */
    const char *cache_dir; /* local cache root for a checkpoint on an object store (NULL: default) */
    /* For tools looking at a checkpoint a pipeline may be running on: no
     * lock or lease is taken and nothing is created or deleted; the
     * checkpoint must exist (WEIR_ENOTFOUND naming the missing metadata
     * file); `name` may be NULL (then taken from metadata). The logs are
     * checked as for a writer, read again when a concurrent batch or
     * purge changed them while they were read. Every write refuses with
     * WEIR_ESTATE. */
    bool read_only;
};

/* Open (creating if needed) the checkpoint at `dir` (a local path or a
 * store URI) for pipeline `name` and take the lock (or lease). A new
 * checkpoint gets a fresh query id. `o` may be NULL. */
int weir_checkpoint_open(const char *dir, const char *name, const struct weir_checkpoint_options *o,
                         struct weir_checkpoint **out, struct weir_error *err);
/* Releases the lock. NULL ok. */
void weir_checkpoint_close(struct weir_checkpoint *cp);

const char *weir_checkpoint_dir(const struct weir_checkpoint *cp);
/* The pipeline name metadata records. */
const char *weir_checkpoint_name(const struct weir_checkpoint *cp);
const char *weir_checkpoint_query_id(const struct weir_checkpoint *cp);
/* Where the RocksDB databases are worked on: the checkpoint directory
 * itself, or the local cache of a checkpoint on an object store. */
const char *weir_checkpoint_local_dir(const struct weir_checkpoint *cp);
/* "<local dir>/state" (not created). */
const char *weir_checkpoint_state_dir(const struct weir_checkpoint *cp);
/* The store the checkpoint lives on (the handle's; for entries other
 * modules keep there, such as the schema log). */
struct weir_store *weir_checkpoint_store(const struct weir_checkpoint *cp);
/* True when that store is an object store: databases are then saved to it
 * per version (state/replica.h). */
bool weir_checkpoint_remote(const struct weir_checkpoint *cp);
/* Renews the lease of a checkpoint on an object store when due (a no-op
 * otherwise); WEIR_ESTATE when another run took it over. Called while
 * idle; writes renew it too. */
int weir_checkpoint_heartbeat(struct weir_checkpoint *cp, struct weir_error *err);

/* Newest batch id in offsets/ and in commits/ (-1: none), as found by
 * open() (and kept current by the writes below). */
int64_t weir_checkpoint_last_offsets(const struct weir_checkpoint *cp);
int64_t weir_checkpoint_last_commit(const struct weir_checkpoint *cp);
/* Oldest batch id still in offsets/ and in commits/ (-1: none); older
 * ones were purged. */
int64_t weir_checkpoint_oldest_offsets(const struct weir_checkpoint *cp);
int64_t weir_checkpoint_oldest_commit(const struct weir_checkpoint *cp);

/* Who holds the checkpoint, for tools. Local: `held` when a process has
 * the lock file flock()ed (read from /proc/locks, so asking never takes
 * the lock, not even for a moment), `pid` the holder's, or the last
 * holder's as written in the file (0: none). On an object store: the
 * lease object's holder, `held` while it is younger than
 * WEIR_CHECKPOINT_LEASE_MS. `known` is false when that cannot be told
 * (/proc/locks unreadable); `held` is then false. */
struct weir_checkpoint_holder {
    bool known, held;
    long pid;
    char host[256];     /* lease only ("" otherwise) */
    int64_t renewed_ms; /* lease only (0 otherwise) */
};
int weir_checkpoint_holder(struct weir_checkpoint *cp, struct weir_checkpoint_holder *out,
                           struct weir_error *err);

/* One offsets/N entry. */
struct weir_offset_entry {
    int64_t batch_watermark_ms;
    int64_t batch_timestamp_ms;
    char **sources; /* offsets JSON per source (owned) */
    size_t nsources;
    /* A reset marker: what was reset (one line of text, owned; written as
     * conf "weir.resetOffsets"), NULL for a batch that reads its range. */
    char *reset;
};
void weir_offset_entry_clear(struct weir_offset_entry *e);

int weir_checkpoint_read_offsets(struct weir_checkpoint *cp, int64_t batch, struct weir_offset_entry *out,
                                 struct weir_error *err);
/* The parser behind read_offsets and open(), for tools and the fuzz
 * target: the `n` bytes of an offsets file body; `name` (the file) is used
 * in messages. *out is cleared first and left empty on error. */
int weir_checkpoint_parse_offsets(const char *text, size_t n, const char *name, struct weir_offset_entry *out,
                                  struct weir_error *err);
/* Durable before return. WEIR_EEXISTS if offsets/<batch> exists with other
 * content (the engine never replans a batch). */
int weir_checkpoint_write_offsets(struct weir_checkpoint *cp, int64_t batch,
                                  const struct weir_offset_entry *e, struct weir_error *err);
/* commits/<batch>; durable before return. */
int weir_checkpoint_write_commit(struct weir_checkpoint *cp, int64_t batch, int64_t next_watermark_ms,
                                 struct weir_error *err);
/* nextBatchWatermarkMs of commits/<batch>. */
int weir_checkpoint_read_commit(struct weir_checkpoint *cp, int64_t batch, int64_t *next_watermark_ms,
                                struct weir_error *err);

/* Deletes offsets/<last commit + 1>, the plan of a batch that never
 * committed, so that another entry can take its id (a reset marker
 * replacing it). WEIR_ESTATE when no batch is pending. A crash after the
 * delete leaves a checkpoint whose last batch is the last committed one.
 * *batch (may be NULL) gets the id deleted. */
int weir_checkpoint_discard_pending(struct weir_checkpoint *cp, int64_t *batch, struct weir_error *err);

/* sources/<i>/0: WEIR_ENOTFOUND when absent. */
int weir_checkpoint_read_initial(struct weir_checkpoint *cp, size_t source, char **json,
                                 struct weir_error *err);
int weir_checkpoint_write_initial(struct weir_checkpoint *cp, size_t source, const char *json,
                                  struct weir_error *err);

/* Delete offsets/ and commits/ files of batches older than
 * last_commit - retain + 1 (retain >= 1). *deleted may be NULL. */
int weir_checkpoint_purge(struct weir_checkpoint *cp, int64_t retain, size_t *deleted,
                          struct weir_error *err);

#endif
