/* delta/delta.h - Delta Lake tables: log replay, scan, write, commit,
 * checkpoints.
 *
 * A weir_delta_table is a store (storage/storage.h) rooted at the table
 * directory. A snapshot is the reconciled state of the log at one version:
 * protocol, metadata, live files (adds), tombstones (removes), txns and
 * domain metadata. Snapshots are immutable once loaded and may be read from
 * several threads; a table handle may be shared between threads (the store
 * is thread-safe), but one write at a time per handle.
 *
 * Writes are optimistic: data files first, then put-if-absent of
 * _delta_log/<v20>.json; on a lost race the winning commits are checked for
 * conflicts (protocol 1.11) and the commit is retried at the next version
 * with the same data files.
 *
 * Action structs below are plain data owned by whoever holds them; free
 * with the matching *_clear / weir_delta_actions_free. Strings are
 * NUL-terminated UTF-8 allocated with weir_malloc. */
#ifndef WEIR_DELTA_DELTA_H
#define WEIR_DELTA_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/types.h"
#include "formats/parquet/parquet.h"
#include "storage/storage.h"

#define WEIR_DELTA_ENGINE_INFO "weir/0.1.0"

/* ------------------------------------------------------------------ actions */

/* A string map entry. In partitionValues a NULL value is JSON null. */
struct weir_delta_kv {
    char *key;
    char *value; /* may be NULL */
};

struct weir_delta_protocol {
    int32_t min_reader_version;
    int32_t min_writer_version;
    char **reader_features; /* NULL when absent */
    size_t n_reader_features;
    char **writer_features;
    size_t n_writer_features;
    bool has_reader_features, has_writer_features;
};

struct weir_delta_metadata {
    char *id;
    char *name;               /* may be NULL */
    char *description;        /* may be NULL */
    char *format_provider;    /* "parquet" */
    char *schema_string;      /* the raw schemaString */
    struct weir_type *schema; /* parsed schemaString (STRUCT) */
    /* Non-NULL when schemaString uses a type weir does not know (e.g.
     * "variant"): then `schema` is an empty struct and check_read /
     * check_write refuse the table with this message. */
    char *schema_error;
    char **partition_columns;
    size_t n_partition_columns;
    struct weir_delta_kv *configuration;
    size_t n_configuration;
    int64_t created_time; /* ms, valid if has_created_time */
    bool has_created_time;
};

struct weir_delta_dv {
    char *storage_type; /* "u", "i", "p" */
    char *path_or_inline_dv;
    int32_t offset;
    bool has_offset;
    int32_t size_in_bytes;
    int64_t cardinality;
};

struct weir_delta_add {
    char *path; /* as in the log: a relative (URI-encoded) or absolute URI */
    struct weir_delta_kv *partition_values;
    size_t n_partition_values;
    int64_t size;
    int64_t modification_time;
    bool data_change;
    char *stats; /* JSON text or NULL */
    struct weir_delta_kv *tags;
    size_t n_tags;
    bool has_deletion_vector;
    struct weir_delta_dv dv;
};

struct weir_delta_remove {
    char *path;
    int64_t deletion_timestamp;
    bool has_deletion_timestamp;
    bool data_change;
    bool extended_file_metadata;
    struct weir_delta_kv *partition_values; /* when extended_file_metadata */
    size_t n_partition_values;
    int64_t size;
    bool has_size;
    char *stats;
    bool has_deletion_vector;
    struct weir_delta_dv dv;
};

struct weir_delta_txn {
    char *app_id;
    int64_t version;
    int64_t last_updated;
    bool has_last_updated;
};

struct weir_delta_domain {
    char *domain;
    char *configuration;
    bool removed;
};

struct weir_delta_cdc {
    char *path;
    struct weir_delta_kv *partition_values;
    size_t n_partition_values;
    int64_t size;
    bool data_change;
};

/* The actions of one commit (or of a checkpoint), in file order per kind. */
struct weir_delta_actions {
    struct weir_delta_protocol *protocol; /* NULL if absent */
    struct weir_delta_metadata *metadata; /* NULL if absent */
    char *commit_info;                    /* raw JSON object text, NULL if absent */
    struct weir_delta_add *adds;
    size_t n_adds, cap_adds;
    struct weir_delta_remove *removes;
    size_t n_removes, cap_removes;
    struct weir_delta_txn *txns;
    size_t n_txns, cap_txns;
    struct weir_delta_domain *domains;
    size_t n_domains, cap_domains;
    struct weir_delta_cdc *cdcs;
    size_t n_cdcs, cap_cdcs;
    /* commitInfo fields used by the conflict checker */
    bool is_blind_append;
    int64_t commit_timestamp; /* commitInfo.timestamp, or -1 */
};

void weir_delta_actions_init(struct weir_delta_actions *a);
void weir_delta_actions_free(struct weir_delta_actions *a); /* back to empty */

/* Parse one commit file's NDJSON bytes. `name` (e.g.
 * "_delta_log/00000000000000000003.json") is used in error messages, which
 * also carry the line number. Unknown actions and fields are ignored;
 * missing required fields or malformed JSON give WEIR_ECORRUPT. */
int weir_delta_actions_parse(const char *data, size_t len, const char *name, struct weir_delta_actions *out,
                             struct weir_error *err);
/* Serialize as a commit file (commitInfo first, then protocol, metaData,
 * txn, domainMetadata, remove, add, cdc; each line ends with '\n'). */
int weir_delta_actions_serialize(const struct weir_delta_actions *a, struct weir_buf *out,
                                 struct weir_error *err);

/* Read the actions of a classic (V1) checkpoint Parquet file (one part). */
int weir_delta_checkpoint_read(const struct weir_input *in, struct weir_delta_actions *out,
                               struct weir_error *err);

/* Helpers for building actions (copies the strings). 0 or WEIR_ENOMEM. */
int weir_delta_actions_add_add(struct weir_delta_actions *a, const struct weir_delta_add *add);
int weir_delta_actions_add_remove(struct weir_delta_actions *a, const struct weir_delta_remove *rm);
int weir_delta_actions_add_txn(struct weir_delta_actions *a, const char *app_id, int64_t version,
                               int64_t last_updated);
void weir_delta_add_clear(struct weir_delta_add *a);
void weir_delta_remove_clear(struct weir_delta_remove *r);
void weir_delta_protocol_free(struct weir_delta_protocol *p); /* frees p too */
void weir_delta_metadata_free(struct weir_delta_metadata *m); /* frees m too */
/* Value of configuration `key` or NULL. */
const char *weir_delta_metadata_config(const struct weir_delta_metadata *m, const char *key);

/* ------------------------------------------------------------------ tables */

struct weir_delta_table;
struct weir_delta_snapshot;

/* Open the table at a path or URI (no I/O beyond opening the store; the
 * table need not exist yet). weir_delta_write keeps the latest snapshot it
 * saw in the handle (memory grows with the live file list) and advances it
 * with newer commits on the next write instead of reloading the checkpoint;
 * the handle must not outlive a delete-and-recreate of the table. */
int weir_delta_table_open(struct weir_delta_table **out, const char *uri, struct weir_error *err);
/* The same with the store's options (endpoint, credentials; storage.h). */
int weir_delta_table_open_with(struct weir_delta_table **out, const char *uri,
                               const struct weir_store_options *opts, struct weir_error *err);
void weir_delta_table_destroy(struct weir_delta_table *t);
struct weir_store *weir_delta_table_store(struct weir_delta_table *t);
/* Latest committed version by listing _delta_log; WEIR_ENOTFOUND when the
 * table has no commit yet. */
int weir_delta_table_latest_version(struct weir_delta_table *t, int64_t *version, struct weir_error *err);

/* Load the snapshot at `version` (-1: latest). Starts from the newest
 * complete checkpoint <= version (via _last_checkpoint, falling back to
 * listing when it is missing, stale or corrupt), then applies later JSON
 * commits. Versions must be contiguous (gap -> WEIR_ECORRUPT).
 * WEIR_ENOTFOUND if the table or the version does not exist. */
int weir_delta_snapshot_load(struct weir_delta_table *t, int64_t version, struct weir_delta_snapshot **out,
                             struct weir_error *err);
/* The latest version whose commit timestamp is <= ts_ms (time travel by
 * timestamp, commitInfo.timestamp or file mtime). WEIR_ENOTFOUND if ts_ms
 * is before the first commit. */
int weir_delta_version_at_timestamp(struct weir_delta_table *t, int64_t ts_ms, int64_t *version,
                                    struct weir_error *err);
void weir_delta_snapshot_destroy(struct weir_delta_snapshot *s);

int64_t weir_delta_snapshot_version(const struct weir_delta_snapshot *s);
const struct weir_delta_protocol *weir_delta_snapshot_protocol(const struct weir_delta_snapshot *s);
const struct weir_delta_metadata *weir_delta_snapshot_metadata(const struct weir_delta_snapshot *s);
/* Live files, sorted by path. */
size_t weir_delta_snapshot_num_files(const struct weir_delta_snapshot *s);
const struct weir_delta_add *weir_delta_snapshot_file(const struct weir_delta_snapshot *s, size_t i);
/* Tombstones (removes not superseded by a later add), sorted by path. */
size_t weir_delta_snapshot_num_tombstones(const struct weir_delta_snapshot *s);
const struct weir_delta_remove *weir_delta_snapshot_tombstone(const struct weir_delta_snapshot *s, size_t i);
size_t weir_delta_snapshot_num_txns(const struct weir_delta_snapshot *s);
const struct weir_delta_txn *weir_delta_snapshot_txn(const struct weir_delta_snapshot *s, size_t i);
/* Latest txn version for appId, or -1 if none. */
int64_t weir_delta_snapshot_txn_version(const struct weir_delta_snapshot *s, const char *app_id);
size_t weir_delta_snapshot_num_domains(const struct weir_delta_snapshot *s);
const struct weir_delta_domain *weir_delta_snapshot_domain(const struct weir_delta_snapshot *s, size_t i);
/* Sum of add.size and of stats.numRecords (-1 if any file lacks stats). */
int64_t weir_delta_snapshot_total_bytes(const struct weir_delta_snapshot *s);
int64_t weir_delta_snapshot_total_rows(const struct weir_delta_snapshot *s);
/* Version of the checkpoint the snapshot started from, or -1. */
int64_t weir_delta_snapshot_checkpoint_version(const struct weir_delta_snapshot *s);

/* Can weir read / write this table? WEIR_EUNSUPPORTED naming the feature
 * or version otherwise ("table requires reader feature 'deletionVectors',
 * which weir does not support"). */
int weir_delta_snapshot_check_read(const struct weir_delta_snapshot *s, struct weir_error *err);
int weir_delta_snapshot_check_write(const struct weir_delta_snapshot *s, struct weir_error *err);

/* ------------------------------------------------------------------ history */

struct weir_delta_history_entry {
    int64_t version;
    int64_t timestamp; /* commitInfo.timestamp, else the file mtime (ms) */
    char *commit_info; /* raw JSON object text, or NULL if the commit has none */
};

/* Commits newest first; `limit` <= 0 means all that still exist in the log
 * (older ones may have been cleaned up). */
int weir_delta_history(struct weir_delta_table *t, int64_t limit, struct weir_delta_history_entry **out,
                       size_t *count, struct weir_error *err);
void weir_delta_history_free(struct weir_delta_history_entry *h, size_t count);

/* ------------------------------------------------------------------ scan */

/* Called once per batch (one per row group of each live file), in file
 * order. `file` is the add the rows come from. Returning non-zero stops the
 * scan; that value is returned from weir_delta_scan. The batch is freed
 * after the callback returns. */
typedef int (*weir_delta_scan_cb)(void *ctx, const struct weir_batch *batch,
                                  const struct weir_delta_add *file, struct weir_error *err);

/* The output schema of a scan: table schema fields in table order
 * (partition columns included), restricted to `columns` when ncolumns > 0
 * (in the order given). WEIR_ENOTFOUND naming an unknown column. */
int weir_delta_scan_schema(const struct weir_delta_snapshot *s, const char *const *columns, size_t ncolumns,
                           struct weir_type **out, struct weir_error *err);
/* Read every live file (checks weir_delta_snapshot_check_read first). */
int weir_delta_scan(struct weir_delta_table *t, const struct weir_delta_snapshot *s,
                    const char *const *columns, size_t ncolumns, weir_delta_scan_cb cb, void *ctx,
                    struct weir_error *err);

/* Partition value text (protocol's serialization) appended to column `c`
 * of type c->type; NULL text appends null. WEIR_EPARSE naming the value. */
int weir_delta_partition_value_append(struct weir_column *c, const char *text, struct weir_error *err);
/* Serialize value `row` of `c` as partition value text (malloc'd), or
 * *out = NULL for null / empty string. */
int weir_delta_partition_value_format(const struct weir_column *c, size_t row, char **out,
                                      struct weir_error *err);

/* ------------------------------------------------------------------ write */

enum weir_delta_write_mode {
    WEIR_DELTA_APPEND = 0,
    WEIR_DELTA_OVERWRITE = 1,
    /* Upsert by merge_keys (delta/merge.c): every added row replaces the
     * table rows with the same key values, or is inserted when there are
     * none. Keys compare null-safely (a null key equals a null key); among
     * added rows with equal keys the last one wins. Only the data files
     * whose stats (or partition values) may hold an added key are read, and
     * only those that do hold one are rewritten: one commit removes them
     * and adds the rewritten files and the new rows (commitInfo operation
     * "MERGE"). The added rows are held in memory until commit. A
     * concurrent commit that changed data, or removed a file the merge
     * rewrote, makes the merge start over from the new snapshot (up to
     * max_retries times); the option pointers must stay valid until commit
     * returns. */
    WEIR_DELTA_MERGE = 2,
};

/* Mode merge with merge_actions: what an added row does to the table row
 * of its key (the table row "matches" when its key equals the added row's,
 * and, with merge_current_column, that column is null in it). */
enum weir_delta_merge_action {
    WEIR_MERGE_UPSERT = 0, /* replace the matching row, or insert */
    WEIR_MERGE_DELETE = 1, /* remove the matching row; the added row is not written */
    WEIR_MERGE_SET = 2,    /* copy the added row's merge_set_column into the matching row (kept
                              otherwise); the added row is not written */
    WEIR_MERGE_APPEND = 3, /* write the row; it matches nothing (a history row) */
    WEIR_MERGE_IGNORE = 4, /* neither matched nor written (e.g. merge_truncate_row) */
};

struct weir_delta_write_options {
    enum weir_delta_write_mode mode; /* default APPEND */
    const char *const *partition_by; /* used when creating the table */
    size_t n_partition_by;
    bool create_if_missing;                    /* default true */
    const char *table_name;                    /* metaData.name on create */
    const char *description;                   /* metaData.description on create */
    const struct weir_delta_kv *configuration; /* metaData.configuration on create */
    size_t n_configuration;
    const char *txn_app_id;        /* exactly-once: NULL for none */
    int64_t txn_version;           /* batch id, with txn_app_id */
    enum weir_parquet_codec codec; /* default SNAPPY */
    uint64_t target_file_bytes;    /* default 128 MiB: roll to a new file past it */
    uint64_t row_group_bytes;      /* Parquet row groups; 0: the Parquet writer's (128 MiB) */
    const char *engine_info;       /* default WEIR_DELTA_ENGINE_INFO */
    int max_retries;               /* commit attempts after a lost race; default 100 */
    bool checkpoint;               /* write checkpoints per interval; default true */
    int64_t now_ms;                /* 0: the clock (tests set it) */
    bool merge_schema;             /* add new nullable top-level columns to the table */
    uint64_t max_pending_bytes;    /* cap on rows held across partitions; 0: max(64 MiB, target) */
    const char *const *merge_keys; /* mode merge: the key columns (primitive types) */
    size_t n_merge_keys;
    /* mode merge, change data: one action per added row, counted across
     * every add in order (NULL: all WEIR_MERGE_UPSERT); among the rows of
     * one key that match, the last one acts */
    const uint8_t *merge_actions;
    size_t n_merge_actions;
    const char *merge_set_column;     /* WEIR_MERGE_SET's column (fixed-width type) */
    const char *merge_current_column; /* only table rows where it is null match; NULL: every row */
    /* The table's rows are cleared first: every file is removed, or with
     * merge_current_column every current row not otherwise matched gets
     * merge_set_column from added row merge_truncate_row. */
    bool merge_truncate;
    int64_t merge_truncate_row;
    /* Mode merge, a key -> file index kept by the caller: with merge_group
     * (non-zero) the files written carry add.tags {"weir.group": 16 hex
     * digits}: the rows kept from a rewritten file go to files of their
     * own with that file's group, the added rows to files of group
     * merge_group. merge_hints (NULL, or one per added row counted like
     * merge_actions; 0: no hint) names the group whose files hold the row's
     * key: the files of the hinted groups are read first, and the others,
     * pruned by stats as usual, only when a key had no hint or was not found
     * where its hint said. A wrong hint costs time, never a row. */
    uint64_t merge_group;
    const uint64_t *merge_hints;
    size_t n_merge_hints;
};
void weir_delta_write_options_default(struct weir_delta_write_options *o);

struct weir_delta_write_result {
    int64_t version;        /* committed version (or the table version if skipped) */
    bool already_committed; /* txn (appId, version) was already in the table: nothing written */
    size_t files_added, files_removed;
    int64_t rows_written;
    int64_t bytes_written;
    int attempts; /* put-if-absent attempts */
    bool checkpoint_written;
    /* mode merge */
    int64_t rows_updated;  /* table rows replaced by added rows (or given merge_set_column) */
    int64_t rows_deleted;  /* table rows removed by WEIR_MERGE_DELETE (or the truncate) */
    int64_t rows_inserted; /* added rows whose key was not in the table */
    int64_t rows_copied;   /* unchanged rows rewritten with them (in rows_written) */
    int64_t bytes_removed; /* size of the files rewritten (files_removed of them) */
    size_t files_read;     /* files whose key columns were read (the others were skipped) */
    size_t files_by_hint;  /* ... of them, read because merge_hints named their group */
};

/* Write `batches` (all with the same schema) as one commit. When the table
 * does not exist and create_if_missing, creates it with the batches' schema.
 * Exactly-once: if txn_app_id is set and the table already holds a txn for
 * it with version >= txn_version, nothing is written, 0 is returned and
 * result->already_committed is set (also when discovered after a lost
 * race). WEIR_ECONFLICT when a concurrent commit cannot be reconciled,
 * WEIR_ESCHEMA when the batches do not match the table schema,
 * WEIR_EUNSUPPORTED for tables with writer features weir does not know. */
int weir_delta_write(struct weir_delta_table *t, const struct weir_batch *const *batches, size_t nbatches,
                     const struct weir_delta_write_options *opts, struct weir_delta_write_result *result,
                     struct weir_error *err);

/* Streaming form of weir_delta_write, for batches that do not fit in
 * memory at once: begin, add any number of batches (files are written as
 * rows arrive, rolled at target_file_bytes per partition), then commit
 * (one Delta commit, exactly as weir_delta_write) or abort (deletes the
 * files written so far, best effort). `schema` is the schema of every
 * batch that will be added. If the txn (appId, version) is already in the
 * table, begin returns 0 with *out NULL and res->already_committed set.
 * With merge_schema, new nullable top-level columns in `schema` are added
 * to the table by a metaData action in the same commit; without it they
 * are a WEIR_ESCHEMA error naming the column. Table columns missing from
 * `schema` must be nullable and are written as nulls. Type changes are
 * refused with WEIR_ESCHEMA naming the column and both types, and so is a
 * batch whose nested fields, array elements or map values are nullable
 * where the table declares them NOT NULL (the table's nullability is never
 * changed); a top-level NOT NULL table column may come from a nullable
 * batch column, but add refuses a batch holding nulls in it. commit and
 * abort free the writer. After add or commit fails, the files written so
 * far are deleted by abort / by commit itself (not when the commit's own
 * outcome is unknown, e.g. an I/O error on the put: then they are left for
 * VACUUM); after a failed add the writer must be aborted. Memory: pending
 * rows are bounded by about max_pending_bytes + target_file_bytes for any
 * number of rows and partitions. Crash points (core/util.h):
 * "delta.data_file" (a data file produced, its upload not yet committed)
 * and "delta.before_commit" (right before the commit's put-if-absent). */
struct weir_delta_writer;
int weir_delta_writer_begin(struct weir_delta_table *t, const struct weir_type *schema,
                            const struct weir_delta_write_options *opts, struct weir_delta_writer **out,
                            struct weir_delta_write_result *res, struct weir_error *err);
int weir_delta_writer_add(struct weir_delta_writer *w, const struct weir_batch *b, struct weir_error *err);
int weir_delta_writer_commit(struct weir_delta_writer *w, struct weir_delta_write_result *res,
                             struct weir_error *err);
void weir_delta_writer_abort(struct weir_delta_writer *w); /* NULL ok */

/* ------------------------------------------------------------------ optimize */
/* Small-file compaction (bin-packing): within each partition, files
 * smaller than min_file_bytes are rewritten into files of about
 * target_file_bytes. One commit with remove+add actions, all with
 * dataChange=false and commitInfo operation "OPTIMIZE". It reads only the
 * files it removes, so concurrent blind appends never conflict with it; if
 * a concurrent commit removed one of its files, it starts over from the
 * new snapshot (up to max_retries). */
struct weir_delta_optimize_options {
    uint64_t target_file_bytes; /* default 128 MiB */
    uint64_t min_file_bytes;    /* 0 (default): target_file_bytes * 3 / 4 */
    size_t min_files;           /* a partition with fewer candidates is left alone; default 2 */
    const char *where; /* SQL predicate over partition columns: only matching partitions (NULL: all) */
    enum weir_parquet_codec codec;
    int max_retries; /* default 10 */
    int64_t now_ms;  /* 0: the clock */
};
void weir_delta_optimize_options_default(struct weir_delta_optimize_options *o);
struct weir_delta_optimize_result {
    int64_t version; /* committed version, -1 when nothing was done */
    size_t files_removed, files_added;
    int64_t bytes_removed, bytes_added;
    int64_t rows;
};
int weir_delta_optimize(struct weir_delta_table *t, const struct weir_delta_optimize_options *opts,
                        struct weir_delta_optimize_result *res, struct weir_error *err);

/* ------------------------------------------------------------------ commit */

/* What the committing transaction read, for conflict detection. */
struct weir_delta_commit_options {
    int64_t read_version;          /* snapshot version the actions were based on; -1 when creating */
    bool read_whole_table;         /* true if a concurrent add or remove anywhere conflicts */
    const char *const *read_paths; /* files read (removes of them conflict) */
    size_t n_read_paths;
    int max_retries; /* default 100 if 0 */
};

/* Commit `a` at read_version+1 with put-if-absent, re-checking and retrying
 * against concurrent winners. *version gets the committed version.
 * *already_committed (may be NULL) is set when a winner holds our txn
 * appId with version >= ours (returns 0, nothing committed). */
int weir_delta_commit(struct weir_delta_table *t, const struct weir_delta_actions *a,
                      const struct weir_delta_commit_options *o, int64_t *version, bool *already_committed,
                      struct weir_error *err);

/* ------------------------------------------------------------------ checkpoints */

/* Write <v20>.checkpoint.parquet for the snapshot and update
 * _last_checkpoint. `now_ms` (0: clock) decides tombstone expiry. */
int weir_delta_checkpoint_write(struct weir_delta_table *t, const struct weir_delta_snapshot *s,
                                int64_t now_ms, struct weir_error *err);
/* Delete commits and checkpoints older than the newest checkpoint older
 * than now - delta.logRetentionDuration (protocol "Metadata Cleanup").
 * *deleted (may be NULL) gets the number of files removed. */
int weir_delta_log_cleanup(struct weir_delta_table *t, const struct weir_delta_snapshot *s, int64_t now_ms,
                           size_t *deleted, struct weir_error *err);

/* ------------------------------------------------------------------ restore */
/* Commit the content of `version` as the latest (delta/restore.c): removes
 * and adds with dataChange=true, the old metadata if it differs; txn and
 * protocol stay. WEIR_ENOTFOUND naming the file when a file the version
 * needs was vacuumed; WEIR_EINVAL when version is the latest. */
struct weir_delta_restore_result {
    int64_t version; /* the RESTORE commit */
    size_t files_removed, files_restored, files_after;
    int64_t bytes_removed, bytes_restored, bytes_after;
};
int weir_delta_restore(struct weir_delta_table *t, int64_t version, int64_t now_ms,
                       struct weir_delta_restore_result *res, struct weir_error *err);

/* ------------------------------------------------------------------ vacuum */

struct weir_delta_vacuum_options {
    int64_t retention_ms; /* < 0: delta.deletedFileRetentionDuration (default 1 week) */
    bool dry_run;         /* count, delete nothing (and commit nothing) */
    bool force;           /* allow a retention below delta.deletedFileRetentionDuration */
    int64_t now_ms;       /* 0: the clock */
};

/* Delete data files the snapshot no longer needs: files under the table
 * root (outside _delta_log and any '_' or '.' directory) that are neither
 * live adds nor tombstones younger than the retention, and whose own mtime
 * is older than the retention (so files of in-flight writers survive).
 * *deleted / *bytes (may be NULL) get the count and size of the files
 * deleted (or, with dry_run, that would be). A real run commits
 * "VACUUM START" and "VACUUM END" (commitInfo only). WEIR_EINVAL for a
 * retention below the table's unless forced. */
int weir_delta_vacuum(struct weir_delta_table *t, const struct weir_delta_snapshot *s,
                      const struct weir_delta_vacuum_options *o, size_t *deleted, uint64_t *bytes,
                      struct weir_error *err);

/* Delta interval strings: "interval 30 days", "30 days", "1 week",
 * "12 hours", "interval 2 weeks", units second(s)/minute(s)/hour(s)/day(s)/
 * week(s) (also millisecond(s), microsecond(s)). */
int weir_delta_parse_interval(const char *s, int64_t *ms, struct weir_error *err);

#endif
