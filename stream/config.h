/* stream/config.h - the weir configuration: JSON text -> struct weir_config.
 *
 * One table of options (stream/config_table.c) is the single truth: it
 * parses and validates the JSON, rejects unknown keys with their key path,
 * supplies defaults, prints --help-config and generates docs/configuration.md.
 * Every error is collected (not only the first) in a weir_error_list, each
 * with the concrete key path ("pipelines[0].sink.delta.path"). Secret values
 * (http.token, kafka passwords/keys) are never echoed in messages.
 *
 * Ownership: weir_config_parse allocates *out (weir_malloc); the caller frees
 * it with weir_config_destroy (NULL is a no-op). All strings are owned by the
 * config. */
#ifndef WEIR_STREAM_CONFIG_H
#define WEIR_STREAM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/log.h"

/* ---- error list ---- */

struct weir_error_item {
    int code;      /* WEIR_ECONFIG, WEIR_EPARSE, WEIR_EUNSUPPORTED, WEIR_ENOMEM */
    char *path;    /* key path ("pipelines[0].name"); "" for the whole document */
    char *message; /* full text: "<path>: <what is wrong>" */
    unsigned line; /* 1-based position of the offending value; 0 if unknown */
    unsigned col;
};

struct weir_error_list {
    struct weir_error_item *items;
    size_t n, cap;
    bool oom; /* an error could not be recorded for lack of memory */
};

void weir_error_list_init(struct weir_error_list *l);
void weir_error_list_free(struct weir_error_list *l); /* back to empty */
/* Append "<path>: <fmt...>". Returns code. On allocation failure sets oom. */
int weir_error_list_add(struct weir_error_list *l, int code, const char *path, unsigned line, unsigned col,
                        const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* ---- the configuration ---- */

/* Enum values follow the order of the choices in the option table. */
enum weir_trigger_kind { WEIR_TRIGGER_INTERVAL = 0, WEIR_TRIGGER_ONCE, WEIR_TRIGGER_AVAILABLE_NOW };
enum weir_source_kind { WEIR_SOURCE_NONE = 0, WEIR_SOURCE_KAFKA, WEIR_SOURCE_DATAGEN, WEIR_SOURCE_FILES };
enum weir_sink_kind { WEIR_SINK_NONE = 0, WEIR_SINK_DELTA, WEIR_SINK_CONSOLE };
enum weir_step_kind {
    WEIR_STEP_NONE = 0,
    WEIR_STEP_DECODE,
    WEIR_STEP_WHERE,
    WEIR_STEP_SELECT,
    WEIR_STEP_WATERMARK,
    WEIR_STEP_DEDUP,
    WEIR_STEP_AGGREGATE
};
enum weir_agg_output { WEIR_OUTPUT_APPEND = 0, WEIR_OUTPUT_UPDATE, WEIR_OUTPUT_COMPLETE };
enum weir_late_rows { WEIR_LATE_DROP = 0, WEIR_LATE_DEAD_LETTER };
enum weir_start_kind { WEIR_START_EARLIEST = 0, WEIR_START_LATEST, WEIR_START_JSON, WEIR_START_TIMESTAMP };
enum weir_decode_format { WEIR_DECODE_JSON = 0, WEIR_DECODE_DEBEZIUM };
enum weir_on_error { WEIR_ON_ERROR_RESCUE = 0, WEIR_ON_ERROR_DEAD_LETTER, WEIR_ON_ERROR_FAIL };
enum weir_sink_mode { WEIR_MODE_APPEND = 0, WEIR_MODE_MERGE, WEIR_MODE_COMPLETE };
enum weir_codec { WEIR_CODEC_SNAPPY = 0, WEIR_CODEC_ZSTD, WEIR_CODEC_GZIP, WEIR_CODEC_NONE };

struct weir_config_kafka {
    char *bootstrap_servers;
    char **topics; /* exactly one of topics / topic_pattern */
    size_t ntopics;
    char *topic_pattern;
    int starting_offsets;            /* enum weir_start_kind */
    char *starting_offsets_json;     /* WEIR_START_JSON: {"topic": {"0": 23, ...}} */
    int64_t starting_timestamp_ms;   /* WEIR_START_TIMESTAMP */
    int64_t max_offsets_per_trigger; /* 0: no limit */
    int64_t min_offsets_per_trigger; /* 0: no minimum */
    int64_t max_trigger_delay_ms;
    bool fail_on_data_loss;
    bool include_headers;
    char *group_id; /* NULL: no consumer-group commits */
    char **props;   /* librdkafka properties: key, value, key, value ... */
    size_t nprops;  /* number of pairs */
};

struct weir_config_datagen {
    int64_t rows_per_second; /* 0: unlimited */
    char *schema;            /* DDL or Delta schema JSON, validated */
    int64_t seed;
    int64_t max_rows;             /* 0: no limit */
    int64_t max_rows_per_trigger; /* 0: default (see docs/configuration.md) */
};

struct weir_config_files {
    char *path; /* URI or local path; glob characters allowed in the last segments */
    int format; /* 0 json, 1 text, 2 csv, 3 parquet */
    char *schema;
    char *path_glob_filter;
    bool recursive;
    int64_t max_files_per_trigger; /* 0: no limit */
    int64_t max_bytes_per_trigger; /* 0: no limit */
    bool include_existing_files;
    bool allow_overwrites;
    char **storage_options; /* name, value pairs (storage.h) */
    size_t nstorage_options;
    /* schema inference and evolution */
    char *schema_hints;
    bool infer_column_types;
    int64_t schema_inference_max_files;
    int64_t schema_inference_max_bytes;
    int schema_evolution_mode; /* 0 auto, 1 add_new_columns, 2 rescue, 3 fail_on_new_columns, 4 none */
    /* csv */
    bool csv_header;
    char *csv_delimiter, *csv_quote, *csv_escape; /* one byte each */
    char *csv_null_value;
    /* after commit */
    int64_t read_parallelism;     /* objects fetched at once */
    int64_t decode_parallelism;   /* json decode threads; 0: one per core */
    int incremental_listing;      /* 0 auto, 1 on, 2 off */
    int64_t backfill_interval_ms; /* 0: no periodic full listing */
    int clean_source;             /* 0 off, 1 delete, 2 move */
    char *clean_source_move_destination;
};

struct weir_config_decode {
    int format; /* enum weir_decode_format */
    char *schema;
    int on_error; /* enum weir_on_error */
    char *dead_letter_path;
    int64_t max_record_size; /* bytes */
    char **keep;             /* source columns kept next to the decoded ones */
    size_t nkeep;
    int tombstones; /* debezium-json: 0 ignore, 1 delete */
};

struct weir_config_watermark {
    char *column;     /* TIMESTAMP column of event time */
    int64_t delay_ms; /* watermark = max event time seen - delay */
    int late_rows;    /* enum weir_late_rows */
    char *dead_letter_path;
};

struct weir_config_dedup {
    char **keys; /* SQL expressions */
    size_t nkeys;
    bool within_watermark;
    int64_t ttl_ms; /* 0: none */
    bool unbounded;
};

struct weir_config_window {
    char *column;    /* NULL: no window */
    int64_t size_ms; /* tumbling/sliding */
    int64_t slide_ms;
    int64_t gap_ms; /* session */
};

struct weir_config_aggregate {
    char **group_by; /* SQL expressions */
    size_t ngroup_by;
    struct weir_config_window window;
    char **measures; /* "sum(amount) AS total" */
    size_t nmeasures;
    int output; /* enum weir_agg_output */
};

struct weir_config_step {
    int kind; /* enum weir_step_kind */
    struct weir_config_decode decode;
    char *where;
    char **select;
    size_t nselect;
    struct weir_config_watermark watermark;
    struct weir_config_dedup dedup;
    struct weir_config_aggregate aggregate;
};

struct weir_config_delta {
    char *path;
    char **storage_options; /* name, value pairs (storage.h) */
    size_t nstorage_options;
    int mode; /* enum weir_sink_mode */
    char **partition_by;
    size_t npartition_by;
    int64_t target_file_size;
    int64_t max_buffer_size;
    bool merge_schema;
    int codec; /* enum weir_codec */
    struct {
        int64_t optimize_every;       /* batches; 0: never */
        int64_t optimize_interval_ms; /* 0: never */
        int64_t optimize_target_size; /* 0: target_file_size */
        int64_t vacuum_interval_ms;   /* 0: never */
        int64_t vacuum_retain_ms;     /* 0: the table's retention */
    } maint;
    char **keys; /* mode merge: the key columns (default: the aggregate's group) */
    size_t nkeys;
    /* change data (mode merge; docs/cdc.md) */
    char *path_template; /* {db}, {schema}, {table} */
    char **sequence_by;
    size_t nsequence_by;
    char *apply_as_deletes, *apply_as_truncates; /* SQL predicates */
    char **except_columns;
    size_t nexcept_columns;
    int64_t scd_type; /* 1 or 2 */
    int delete_mode;  /* 0 hard, 1 soft */
};

struct weir_config_pipeline {
    char *name;
    char *checkpoint;
    char **checkpoint_storage_options; /* name, value pairs (storage.h) */
    size_t ncheckpoint_storage_options;
    char *checkpoint_cache_dir; /* NULL: $CACHE_DIRECTORY, else /var/tmp/weir */
    int trigger;                /* enum weir_trigger_kind */
    int64_t interval_ms;        /* WEIR_TRIGGER_INTERVAL; 0 = next batch as soon as the previous ends */
    bool trigger_once, trigger_available_now;
    int64_t min_batches_to_retain;
    int source; /* enum weir_source_kind */
    struct weir_config_kafka kafka;
    struct weir_config_datagen datagen;
    struct weir_config_files files;
    struct weir_config_step *steps;
    size_t nsteps;
    int64_t state_memory; /* bytes: RocksDB block cache + memtables of the state store */
    int sink;             /* enum weir_sink_kind */
    struct weir_config_delta delta;
};

struct weir_config {
    struct weir_config_pipeline *pipelines;
    size_t npipelines;
    struct {
        char *listen; /* NULL: HTTP off */
        char *token;  /* secret */
        int64_t ready_failures;
    } http;
    int64_t shutdown_timeout_ms;
    struct {
        int level;  /* enum weir_log_level (core/log.h) */
        int format; /* enum weir_log_format (core/log.h) */
    } log;
};

/* Read a config file ("-": stdin) into out: 0, or a negative errno. */
int weir_config_read_file(const char *path, struct weir_buf *out);

/* Parse and validate n bytes of JSON. `file` (may be NULL) names the input
 * in the malformed-JSON message. Returns 0 and sets *out, or a negative
 * WEIR_E* code (WEIR_ECONFIG for invalid configs, WEIR_EPARSE for malformed
 * JSON, WEIR_ENOMEM) with *out NULL and every problem appended to errors
 * (which must be initialised; may be NULL). */
int weir_config_parse(const char *json, size_t n, const char *file, struct weir_config **out,
                      struct weir_error_list *errors);
void weir_config_destroy(struct weir_config *cfg);

/* Text for `weir --help-config`, appended to b. */
int weir_config_help(struct weir_buf *b);
/* The full docs/configuration.md, appended to b. */
int weir_config_doc_markdown(struct weir_buf *b);

#endif
