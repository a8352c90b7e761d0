/* delta/write_int.h - private interface between the streaming writer
 * (write.c) and compaction (optimize.c), also used by the unit tests to
 * reach the two halves of an OPTIMIZE.
 *
 * A rewrite writer is a weir_delta_writer that takes rows already in the
 * table's data layout (as read back from a data file) together with their
 * partition values, writes them with dataChange=false and never commits by
 * itself: the caller adds its removes and commitInfo to the writer's
 * actions, commits them, and then either releases the writer (files stay,
 * they are in the table now) or aborts it (files deleted). */
#ifndef WEIR_DELTA_WRITE_INT_H
#define WEIR_DELTA_WRITE_INT_H

#include "delta/delta.h"

/* add.tags key of a file's group (the merge's key -> file index). */
#define GROUP_TAG "weir.group"

/* The writer's state, shared by write.c (appends, overwrites, rewrites)
 * and merge.c (mode merge). */
struct file_job;
struct group {
    char *pkey;               /* joined partition values, map key */
    struct weir_delta_kv *pv; /* partition values (NULL value = null) */
    size_t npv;
    char *dir;                /* "a=1/b=x/" or "" */
    struct weir_batch *batch; /* pending data rows; NULL after a flush */
    size_t mem;               /* weir_batch_memory(batch) when last measured */
    bool touched;             /* in w->touched */
};

struct weir_delta_writer {
    struct weir_delta_table *t;
    enum weir_delta_write_mode mode;
    enum weir_parquet_codec codec;
    bool data_change; /* false for rewrites (OPTIMIZE) */
    bool checkpoint;
    int max_retries;
    char *app_id; /* NULL: no txn */
    int64_t txn_version;
    char *engine_info;
    uint64_t target, max_pending;
    int64_t now;
    int64_t read_version; /* -1 when creating the table */
    int64_t ckpt_interval;
    struct weir_type *in_schema;    /* the schema of the batches given to add */
    struct weir_type *table_schema; /* the table's schema after this commit */
    struct weir_type *data_schema;  /* table_schema minus partition columns */
    char **part_cols;
    size_t npart;
    int *colmap;  /* table field -> in_schema field, -1: written as null */
    int *is_part; /* per table field */
    struct weir_delta_actions acts;
    char **written; /* store keys of the data files written */
    size_t nwritten, cap_written;
    struct group *groups;
    size_t ngroups, cap_groups;
    size_t *slots; /* hash index over groups by pkey (slot = index + 1) */
    size_t nslots;
    size_t *touched; /* groups that got rows in the current add */
    size_t ntouched, cap_touched;
    size_t pending; /* sum of groups' mem */
    int file_seq;
    int64_t rows, bytes;
    struct weir_buf pk;
    struct file_job *job; /* the data file in flight, or NULL */
    struct weir_batch
        *spare; /* a written group's batch, emptied for the next group (its pages stay mapped) */
    struct weir_parquet_writer *pw; /* the last file's Parquet writer, restarted for the next one */
    uint64_t tag; /* group of the files handed off from now on (add.tags "weir.group"); 0: none */
    bool whole;   /* the pending rows are one rewritten file's: split at twice the target */
    /* mode merge (merge.c) */
    struct weir_delta_write_options opts; /* as given to begin (pointers borrowed), for retries */
    struct weir_batch *src;               /* the rows added so far, in in_schema */
};

/* Writer for rewriting files of snapshot `s` (whose schema and partition
 * columns it copies; `s` need not outlive it). */
int dl_writer_begin_rewrite(struct weir_delta_table *t, const struct weir_delta_snapshot *s,
                            enum weir_parquet_codec codec, uint64_t target_file_bytes, int64_t now_ms,
                            struct weir_delta_writer **out, struct weir_error *err);
/* Rows of `b` (fields matched by name to the table's data columns) into
 * the partition with values pv (keys matched case-insensitively to the
 * partition columns; a missing key is null): rows[0..nrows) in rising
 * order, or every row when rows is NULL. */
int dl_writer_add_data(struct weir_delta_writer *w, const struct weir_delta_kv *pv, size_t npv,
                       const struct weir_batch *b, const uint32_t *rows, size_t nrows,
                       struct weir_error *err);
/* Write every pending row to data files now. */
int dl_writer_flush(struct weir_delta_writer *w, struct weir_error *err);
/* The files written from now on are of group `tag` (0: untagged); rows
 * pending under another group are handed to the file thread first. With
 * whole, the rows until the next call are those kept from one rewritten
 * file: they are split at twice the target (in memory), so that a file
 * written at the target size is rewritten as one file, not two. */
int dl_writer_set_tag(struct weir_delta_writer *w, uint64_t tag, bool whole, struct weir_error *err);
/* The group of add a (its "weir.group" tag), 0 when it has none. */
uint64_t dl_add_group(const struct weir_delta_add *a);
/* The actions gathered so far (the adds of the files written); the caller
 * may add removes and set commit_info before committing them. */
struct weir_delta_actions *dl_writer_actions(struct weir_delta_writer *w);
int64_t dl_writer_rows(const struct weir_delta_writer *w);
int64_t dl_writer_bytes(const struct weir_delta_writer *w);
/* The writer's table schema minus its partition columns. */
const struct weir_type *dl_writer_data_schema(const struct weir_delta_writer *w);
/* Free the writer and keep its files (they were committed). */
void dl_writer_release(struct weir_delta_writer *w);

/* The rows of b (in the writer's in_schema) into their partitions' files:
 * weir_delta_writer_add without mode merge's buffering. */
int dl_writer_append(struct weir_delta_writer *w, const struct weir_batch *b, struct weir_error *err);
/* Commit the writer's actions (adding the txn, and commitInfo unless the
 * caller set one) and free the writer: the second half of
 * weir_delta_writer_commit for every mode. */
int dl_writer_commit(struct weir_delta_writer *w, struct weir_delta_write_result *res,
                     struct weir_error *err);

/* merge.c: checks the merge keys against the writer's schemas at begin
 * (WEIR_EINVAL / WEIR_ESCHEMA naming the key), and the whole merge at
 * commit (frees w). */
int dl_merge_check(const struct weir_delta_writer *w, struct weir_error *err);
int dl_merge_commit(struct weir_delta_writer *w, struct weir_delta_write_result *res, struct weir_error *err);

/* After a successful commit at `version`: write a checkpoint when version
 * is a multiple of delta.checkpointInterval (default 10) and clean up the
 * log. Failures are logged, never returned (the commit stands). True when
 * a checkpoint was written. */
bool dl_checkpoint_after_commit(struct weir_delta_table *t, int64_t version, int64_t interval,
                                int64_t now_ms);

/* optimize.c, split in two so a test can commit something in between:
 * prepare plans from the latest snapshot and writes the compacted files
 * (*out NULL when there is nothing to do); commit commits them (and frees
 * the job): WEIR_ECONFLICT when a concurrent commit removed a file it
 * rewrote, after deleting its new files. job_free deletes the new files. */
struct dl_optimize_job;
int dl_optimize_prepare(struct weir_delta_table *t, const struct weir_delta_optimize_options *o,
                        struct dl_optimize_job **out, struct weir_error *err);
int dl_optimize_commit(struct dl_optimize_job *job, struct weir_delta_optimize_result *res,
                       struct weir_error *err);
void dl_optimize_job_free(struct dl_optimize_job *job);

#endif
