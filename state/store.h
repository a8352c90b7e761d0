/* state/store.h - a pipeline's state store: one RocksDB database under
 * <checkpoint>/state/, versioned by batch id.
 *
 * Layout (docs/architecture.md, "State"):
 *   state/live/      the working database; written with the WAL off, so it
 *                    is never trusted after a crash or a failed batch
 *   state/v/<N>/     version N, the state after batch N: a RocksDB
 *                    checkpoint (SST files hard-linked, small files copied)
 *   state/v/.tmp-N/  a version being made; deleted by open()
 * Version N is made by weir_state_commit(N) (apply, flush, checkpoint into
 * .tmp-N, fsync, rename to N, fsync state/v) before the engine writes
 * commits/N; open() restores live/ from the version of the last committed
 * batch and deletes newer versions (made by a batch whose commits/N never
 * got written). A failed batch is undone the same way (weir_state_abort).
 * With a replica store (checkpoints on object stores) the directory is a
 * local cache: versions are saved to the store too, and the store's copy
 * is the truth at open.
 *
 * Operators: each stateful step owns a column family named after it and a
 * metadata record (JSON text: kind, key and value schemas, options) in the
 * "weir.meta" family, versioned with its state. weir_state_operator hands
 * the stored record to the step's compatibility check before use.
 *
 * Writes go into a WriteBatch per operator call site and reach the
 * database with weir_state_apply (the transform applies after each chunk
 * of rows, which keeps a batch's memory bounded); gets see applied writes.
 *
 * Memory: `memory_budget` bytes split between the block cache (index and
 * filter blocks charged to it) and the memtables of all column families
 * (RocksDB's db_write_buffer_size, its write buffer manager); what does not
 * fit stays in SST files on disk.
 *
 * Threading: one thread at a time (the pipeline's). */
#ifndef WEIR_STATE_STORE_H
#define WEIR_STATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

struct weir_state;
struct weir_state_op;
struct weir_state_iter;

struct weir_store;
struct weir_state_options {
    uint64_t memory_budget; /* bytes; 0: 256 MiB */
    /* Checkpoints on object stores: every version is also saved under
     * replica_prefix of replica_store (state/replica.h) before commit
     * returns, and open() restores the version of last_commit from there
     * unless the local copy is that very version. NULL: local only. */
    struct weir_store *replica_store;
    const char *replica_prefix;
};

/* Open the store in `dir` (created if needed) at the version of
 * `last_commit` (-1: no batch committed yet: empty state). Deletes versions
 * newer than last_commit. WEIR_ECORRUPT when versions exist but not the
 * one of last_commit (the message names both). */
int weir_state_open(const char *dir, int64_t last_commit, const struct weir_state_options *o,
                    struct weir_state **out, struct weir_error *err);
void weir_state_close(struct weir_state *st); /* NULL ok */
/* The version live/ was restored from (-1: started empty). */
int64_t weir_state_version(const struct weir_state *st);
/* The versions a store holds, ascending (*out weir_free'd; NULL when
 * none), read without opening it and without changing anything, so also
 * while a pipeline works on it: state/v/<N> under `dir` (none when `dir`
 * does not exist), or with o->replica_store the versions saved there.
 * `o` may be NULL. (A copy of version N as version M: open at N, commit
 * M.) */
int weir_state_list_versions(const char *dir, const struct weir_state_options *o, int64_t **out, size_t *n,
                             struct weir_error *err);

/* The check a step runs on its stored metadata: 0 if `stored` (what the
 * checkpoint has) is compatible with `current` (what the config asks for),
 * else an error saying what changed. */
typedef int (*weir_state_compat_fn)(const char *stored, const char *current, struct weir_error *err);

/* The operator `name` with metadata `meta`: its column family is created
 * on first use; an existing record is passed to `compat` (NULL: must be
 * equal). The record is replaced by `meta` at the next commit. The handle
 * lives as long as the store. */
int weir_state_operator(struct weir_state *st, const char *name, const char *meta,
                        weir_state_compat_fn compat, struct weir_state_op **out, struct weir_error *err);

/* Point reads of applied state. *found false: absent (v untouched). */
int weir_state_get(struct weir_state_op *op, const void *k, size_t kn, struct weir_buf *v, bool *found,
                   struct weir_error *err);
/* Many keys at once (RocksDB MultiGet): found[i] and, when found, vals[i]
 * (vals may be NULL when only presence matters). */
int weir_state_multi_get(struct weir_state_op *op, size_t n, const char *const *keys, const size_t *klens,
                         bool *found, struct weir_buf *vals, struct weir_error *err);

/* Buffered until weir_state_apply. */
int weir_state_put(struct weir_state_op *op, const void *k, size_t kn, const void *v, size_t vn);
int weir_state_delete(struct weir_state_op *op, const void *k, size_t kn);
/* Deletes keys in [lo, hi). */
int weir_state_delete_range(struct weir_state_op *op, const void *lo, size_t lon, const void *hi, size_t hin);
/* Write the buffered writes of every operator (WAL off). */
int weir_state_apply(struct weir_state *st, struct weir_error *err);

/* A large sorted run of puts at once: written as an SST file that RocksDB
 * ingests into op's column family, newer than everything before. No
 * memtable insert, flush or (when the run's key range overlaps no file)
 * compaction: the cheap way to add many keys. Keys must be strictly
 * ascending (WEIR_EINVAL otherwise). ingest applies the buffered writes
 * first; a file with no keys is not ingested; destroy drops what was not
 * ingested. */
struct weir_state_sst;
int weir_state_sst_create(struct weir_state_op *op, struct weir_state_sst **out, struct weir_error *err);
int weir_state_sst_put(struct weir_state_sst *f, const void *k, size_t kn, const void *v, size_t vn,
                       struct weir_error *err);
int weir_state_sst_ingest(struct weir_state_sst *f, struct weir_error *err);
void weir_state_sst_destroy(struct weir_state_sst *f); /* NULL ok */
/* The same for keys and values in memory. */
struct weir_state_kv {
    const void *k, *v;
    size_t kn, vn;
};
int weir_state_ingest(struct weir_state_op *op, const struct weir_state_kv *kv, size_t n,
                      struct weir_error *err);

/* Point reads of applied state for keys asked in ascending order, by one
 * forward iterator: a key close after the previous one is reached by a
 * few Next steps (a dense run of keys reads like a scan), a far one by a
 * Seek. *v stays valid until the next call. Sees the state as of create. */
struct weir_state_cursor;
int weir_state_cursor_create(struct weir_state_op *op, struct weir_state_cursor **out,
                             struct weir_error *err);
int weir_state_cursor_get(struct weir_state_cursor *c, const void *k, size_t kn, const char **v, size_t *vn,
                          bool *found, struct weir_error *err);
void weir_state_cursor_destroy(struct weir_state_cursor *c); /* NULL ok */

/* About how many of op's keys lie in [lo, hi): the bytes of its files in
 * the range (RocksDB's estimate) over its bytes per key. For choosing
 * between point reads and a scan; memtables are not counted. */
uint64_t weir_state_estimate_keys(struct weir_state_op *op, const void *lo, size_t lon, const void *hi,
                                  size_t hin);

/* The store's directory. */
const char *weir_state_dir(const struct weir_state *st);
/* A new scratch file in the store's directory, open for reading and
 * writing and already unlinked (gone when closed, or with the process);
 * -1 with err set when it cannot be made. A file a crash left between
 * creation and unlink is deleted at open. */
int weir_state_scratch_file(struct weir_state *st, struct weir_error *err);

/* Ordered iteration over applied state: keys in [lo, hi) (NULL bounds:
 * open). */
int weir_state_iter_create(struct weir_state_op *op, const void *lo, size_t lon, const void *hi, size_t hin,
                           struct weir_state_iter **out, struct weir_error *err);
bool weir_state_iter_valid(const struct weir_state_iter *it);
void weir_state_iter_next(struct weir_state_iter *it);
const char *weir_state_iter_key(const struct weir_state_iter *it, size_t *n);
const char *weir_state_iter_value(const struct weir_state_iter *it, size_t *n);
/* 0, or the iterator's error (I/O, corruption) once it stopped. */
int weir_state_iter_status(const struct weir_state_iter *it, struct weir_error *err);
void weir_state_iter_destroy(struct weir_state_iter *it); /* NULL ok */
/* The largest applied key in [lo, hi) into *out (replaced), *found false
 * when there is none: one seek, an upper bound on the range's keys. */
int weir_state_last_key(struct weir_state_op *op, const void *lo, size_t lon, const void *hi, size_t hin,
                        struct weir_buf *out, bool *found, struct weir_error *err);

/* Make version `batch`: apply, store operator metadata, flush, checkpoint.
 * Durable before return; the caller writes commits/<batch> next. */
int weir_state_commit(struct weir_state *st, int64_t batch, struct weir_error *err);
/* Drop buffered writes and restore live/ from the current version: the
 * batch in flight failed and will rerun. */
int weir_state_abort(struct weir_state *st, struct weir_error *err);
/* Delete versions older than `keep_from`. */
int weir_state_purge(struct weir_state *st, int64_t keep_from, struct weir_error *err);

/* Expiring entries: from now on, RocksDB's compactions of op's column
 * family may drop entries whose key starts with byte `tag` and whose value
 * starts with an 8-byte little-endian expiry (ms) <= horizon. The horizon
 * only moves forward (a smaller one is ignored) and lasts as long as the
 * store is open. A caller sets it to what every batch that may still run
 * (a rerun of the batch in flight included) treats as expired, and treats
 * such entries as absent when it reads one a compaction has not dropped. */
void weir_state_op_expire(struct weir_state_op *op, uint8_t tag, int64_t horizon);

/* Compact every column family now (tests). */
int weir_state_compact(struct weir_state *st, struct weir_error *err);

struct weir_state_op_stats {
    uint64_t keys;         /* RocksDB's estimate of the operator's keys */
    uint64_t memory_bytes; /* the operator's memtables */
    uint64_t reads;        /* keys looked up (get, multi_get, cursor_get) since the previous call */
};
void weir_state_op_stats(struct weir_state_op *op, struct weir_state_op_stats *out);
/* Block cache + all memtables, bytes. */
uint64_t weir_state_memory_used(struct weir_state *st);

#endif
