/* delta/delta_int.h - private helpers shared by the delta/ sources. */
#ifndef WEIR_DELTA_INT_H
#define WEIR_DELTA_INT_H

#include <cjson/cJSON.h>

#include "core/util.h"
#include "delta/delta.h"

struct weir_delta_table {
    struct weir_store *store;
    char *root;
    /* Latest snapshot seen by weir_delta_write, advanced with the commits
     * that appeared since (write path only: one write at a time per handle). */
    struct weir_delta_snapshot *write_cache;
};

/* snapshot.c: bring `s` forward to the latest version by applying the JSON
 * commits after s->version (no checkpoint read). On failure `s` is in an
 * undefined state and must be destroyed. */
int dl_snapshot_advance(struct weir_delta_table *t, struct weir_delta_snapshot *s, struct weir_error *err);

/* actions.c */
void dl_kv_free(struct weir_delta_kv *kv, size_t n);
int dl_kv_copy(struct weir_delta_kv **out, const struct weir_delta_kv *in, size_t n);
void *dl_grow(void **arr, size_t *n, size_t *cap, size_t sz);
int dl_add_copy(struct weir_delta_add *d, const struct weir_delta_add *s);
int dl_remove_copy(struct weir_delta_remove *d, const struct weir_delta_remove *s);
/* Add to `acts` the remove of live file `a` at time now (extended file
 * metadata, its stats and deletion vector). 0 or WEIR_ENOMEM. */
int dl_actions_remove_file(struct weir_delta_actions *acts, const struct weir_delta_add *a, int64_t now,
                           bool data_change);
void dl_txn_clear(struct weir_delta_txn *t);
void dl_domain_clear(struct weir_delta_domain *d);
struct weir_delta_protocol *dl_protocol_clone(const struct weir_delta_protocol *p);
struct weir_delta_metadata *dl_metadata_clone(const struct weir_delta_metadata *m);
int dl_schema_parse(struct weir_delta_metadata *m, struct weir_error *err);
cJSON *dl_protocol_to_json(const struct weir_delta_protocol *p);
cJSON *dl_metadata_to_json(const struct weir_delta_metadata *m);
cJSON *dl_add_to_json(const struct weir_delta_add *a);
cJSON *dl_remove_to_json(const struct weir_delta_remove *r);

/* log.c: names in _delta_log */
#define DL_LOG_DIR "_delta_log/"
/* "_delta_log/%020lld.json" into buf (>= 64 bytes). */
void dl_commit_key(char *buf, size_t n, int64_t version);
void dl_checkpoint_key(char *buf, size_t n, int64_t version);

/* time */

/* URI decoding of add.path into a store key (malloc'd). */
int dl_path_to_key(const char *path, char **key, struct weir_error *err);

/* scan.c: one data file (an add.path) open for reading. All zero: nothing
 * open. */
struct dl_data_file {
    char *key; /* its store key, for messages */
    struct weir_input in;
    bool in_open;
    struct weir_parquet_reader *reader;
};

/* Opens the data file at add.path `path` into f (zeroed first). On failure
 * f holds what was opened so far (f->key, when set, names the file); either
 * way the caller ends with dl_data_file_close. */
int dl_data_file_open(struct weir_delta_table *t, const char *path, struct dl_data_file *f,
                      struct weir_error *err);
/* Closes whatever f holds and zeroes it (no-op when zeroed). */
void dl_data_file_close(struct dl_data_file *f);

/* partition.c */
void dl_civil_from_days(int64_t z, int64_t *y, int *m, int *d);
int64_t dl_days_from_civil(int64_t y, int m, int d);
void dl_format_date(char *buf, size_t n, int64_t days);
void dl_format_timestamp(char *buf, size_t n, int64_t micros, int frac_digits, char sep, bool zulu);
void dl_format_java_double(char *buf, size_t n, double v, bool is_float);
void dl_format_decimal(char *buf, size_t n, weir_i128 v, int scale);
int dl_parse_timestamp(const char *s, int64_t *micros);
int dl_hive_escape(struct weir_buf *b, const char *s);
int dl_uri_encode(struct weir_buf *b, const char *s);

/* stats.c: add.stats JSON for the rows of `b` (data columns only). */
int dl_stats_json(const struct weir_batch *b, char **out, struct weir_error *err);
int dl_json_escape(struct weir_buf *b, const char *s, size_t n);

#endif
