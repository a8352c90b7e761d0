/* stream/config.c - the option table and the one walker that uses it to
 * parse, validate, default, free, document and print the configuration.
 *
 * Owns: the table `opts` (every key of the config file is one row, with its
 * parent object pattern, type, default, bounds, validator, flags and
 * description) and the generic code driven by it. Invariants: a key that is
 * not a row is rejected with its path; a row's default is applied when its
 * key is absent; every error is collected with its concrete key path; a
 * secret value never reaches a message. The parser reads the text through
 * core/json.h's tape (positions give line and column). Threading: pure
 * functions, no global state besides the const table; any thread. */
#include "stream/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/types.h"
#include "core/units.h"
#include "sinks/sink.h"
#include "sources/source.h"
#include "storage/storage.h"

/* ---- error list ---- */

void weir_error_list_init(struct weir_error_list *l)
{
    memset(l, 0, sizeof(*l));
}

void weir_error_list_free(struct weir_error_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        weir_free(l->items[i].path);
        weir_free(l->items[i].message);
    }
    weir_free(l->items);
    memset(l, 0, sizeof(*l));
}

int weir_error_list_add(struct weir_error_list *l, int code, const char *path, unsigned line, unsigned col,
                        const char *fmt, ...)
{
    if (l == NULL)
        return code;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct weir_error_item *it = weir_realloc(l->items, cap * sizeof(*it));
        if (it == NULL) {
            l->oom = true;
            return code;
        }
        l->items = it;
        l->cap = cap;
    }
    char what[WEIR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    char *p = weir_strdup(path ? path : "");
    char *m = (path && path[0]) ? weir_asprintf("%s: %s", path, what) : weir_strdup(what);
    if (p == NULL || m == NULL) {
        weir_free(p);
        weir_free(m);
        l->oom = true;
        return code;
    }
    l->items[l->n++] = (struct weir_error_item){code, p, m, line, col};
    return code;
}

/* ---- the table ---- */

enum opt_type {
    T_BOOL,
    T_INT,
    T_SIZE,
    T_DURATION,
    T_STRING,
    T_ENUM,
    T_LIST,     /* list of strings: char ** at off, size_t count at off2 */
    T_PROPS,    /* object of librdkafka properties (name "kafka") or storage options (any other
                 * name): char ** pairs at off, count at off2 */
    T_SCHEMA,   /* string holding a DDL or Delta JSON schema */
    T_STARTOFF, /* kafka starting_offsets */
    T_OBJ,      /* nested object; its struct is at base + off */
    T_OBJLIST,  /* list of objects: pointer at off, count at off2, element size elsize */
};

#define F_REQUIRED    0x01u
#define F_SECRET      0x02u
#define F_ONEOF       0x04u /* object (or list elements) with exactly one key */
#define F_KIND        0x08u /* present: set int at kind_off to kind_val */
#define F_UNSUPPORTED 0x10u /* accepted by a later release: reject */
#define F_NONEMPTY    0x20u /* string / list must not be empty */

struct cctx;
struct opt {
    const char *parent; /* pattern of the enclosing object; "" = top level */
    const char *key;
    enum opt_type type;
    unsigned flags;
    const char *def;     /* default as written in the config, NULL = none */
    const char *choices; /* T_ENUM: "a|b|c" (index = stored int) */
    int64_t min, max;    /* numeric bounds (inclusive) when min < max */
    size_t off, off2, elsize;
    size_t kind_off;
    int kind_val;
    const char *(*check)(const struct opt *o, const void *field); /* value validator: NULL or message */
    void (*post)(struct cctx *c, const char *path, void *base);   /* object validator */
    const char *desc;
};

struct cctx {
    const char *text;
    size_t n;
    struct weir_json_doc doc;
    struct weir_error_list *errors;
    size_t nerr;
    bool oom;
};

static void cerr(struct cctx *c, int code, const char *path, uint32_t node, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void pos_linecol(const char *s, size_t n, size_t pos, unsigned *line, unsigned *col)
{
    unsigned l = 1, cl = 1;
    for (size_t i = 0; i < pos && i < n; i++) {
        if (s[i] == '\n') {
            l++;
            cl = 1;
        } else {
            cl++;
        }
    }
    *line = l;
    *col = cl;
}

static void cerr(struct cctx *c, int code, const char *path, uint32_t node, const char *fmt, ...)
{
    char what[WEIR_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    unsigned line = 0, col = 0;
    if (node != WEIR_JSON_NONE && c->text != NULL)
        pos_linecol(c->text, c->n, c->doc.nodes[node].start, &line, &col);
    c->nerr++;
    if (code == WEIR_ENOMEM)
        c->oom = true;
    weir_error_list_add(c->errors, code, path, line, col, "%s", what);
}

/* validators */
static const char *check_name(const struct opt *o, const void *field)
{
    const char *s = *(char *const *)field;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
            return "must match [A-Za-z0-9_.-]+";
    return NULL;
}

static const char *check_char(const struct opt *o, const void *field)
{
    (void)o;
    const char *s = *(char *const *)field;
    return s && strlen(s) == 1 && s[0] != '\n' && s[0] != '\r' ? NULL
                                                               : "must be one character (not a newline)";
}

static const char *check_true(const struct opt *o, const void *field)
{
    return *(const bool *)field ? NULL : "must be true (leave the key out instead)";
}

static void post_kafka(struct cctx *c, const char *path, void *base);
static void post_decode(struct cctx *c, const char *path, void *base);
static void post_files(struct cctx *c, const char *path, void *base);
static void post_watermark(struct cctx *c, const char *path, void *base);
static void post_window(struct cctx *c, const char *path, void *base);
static void post_pipeline(struct cctx *c, const char *path, void *base);
static void post_root(struct cctx *c, const char *path, void *base);

#define PIPE(f)  offsetof(struct weir_config_pipeline, f)
#define KAFKA(f) (offsetof(struct weir_config_pipeline, kafka) + offsetof(struct weir_config_kafka, f))
#define DGEN(f)  (offsetof(struct weir_config_pipeline, datagen) + offsetof(struct weir_config_datagen, f))
#define FILES(f) (offsetof(struct weir_config_pipeline, files) + offsetof(struct weir_config_files, f))
#define STEP(f)  offsetof(struct weir_config_step, f)
#define DEC(f)   (offsetof(struct weir_config_step, decode) + offsetof(struct weir_config_decode, f))
#define WM(f)    (offsetof(struct weir_config_step, watermark) + offsetof(struct weir_config_watermark, f))
#define DD(f)    (offsetof(struct weir_config_step, dedup) + offsetof(struct weir_config_dedup, f))
#define AGG(f)   (offsetof(struct weir_config_step, aggregate) + offsetof(struct weir_config_aggregate, f))
#define WIN(f)   (AGG(window) + offsetof(struct weir_config_window, f))
#define DELTA(f) (offsetof(struct weir_config_pipeline, delta) + offsetof(struct weir_config_delta, f))
#define I64MAX   INT64_MAX

static const struct opt opts[] = {
    {"", "pipelines", T_OBJLIST, F_REQUIRED | F_NONEMPTY, .off = offsetof(struct weir_config, pipelines),
     .off2 = offsetof(struct weir_config, npipelines), .elsize = sizeof(struct weir_config_pipeline),
     .post = post_pipeline, .desc = "The pipelines this process runs (at least one); names must be unique."},
    {"", "http", T_OBJ, 0,
     .desc = "HTTP endpoints: GET /health, /ready, /progress, /metrics (Prometheus text) and POST "
             "/pipelines/{name}/pause|resume; off unless listen is set (docs/operations.md)."},
    {"http", "listen", T_STRING, F_NONEMPTY, .off = offsetof(struct weir_config, http.listen),
     .desc = "Address to listen on: host:port or [v6]:port; :port or a port alone binds 127.0.0.1; port 0 "
             "picks a free one (logged)."},
    {"http", "token", T_STRING, F_SECRET | F_NONEMPTY, .off = offsetof(struct weir_config, http.token),
     .desc = "Bearer token of POST /pipelines/{name}/pause|resume, refused without one; the GET endpoints "
             "need none (secret: never printed)."},
    {"http", "ready_failures", T_INT, 0, "1", .min = 1, .max = 1000000,
     .off = offsetof(struct weir_config, http.ready_failures),
     .desc = "Failed attempts in a row (planning or a batch) after which a pipeline is not ready."},
    {"", "shutdown_timeout", T_DURATION, 0, "30s", .min = 0, .max = I64MAX,
     .off = offsetof(struct weir_config, shutdown_timeout_ms),
     .desc = "After SIGTERM or SIGINT, how long the batches in flight get to commit; then they are "
             "abandoned (they rerun at the next start) and the process exits 0."},
    {"", "log", T_OBJ, 0, .desc = "Logging of the service (one JSON object per line on stderr)."},
    {"log", "level", T_ENUM, 0, "info", "debug|info|warn|error",
     .off = offsetof(struct weir_config, log.level), .desc = "Lowest level written."},
    {"log", "format", T_ENUM, 0, "json", "json|text", .off = offsetof(struct weir_config, log.format),
     .desc = "json: one object per line; text: plain lines for a terminal."},

    {"pipelines[]", "name", T_STRING, F_REQUIRED | F_NONEMPTY, .off = PIPE(name), .check = check_name,
     .desc = "Unique pipeline name, [A-Za-z0-9_.-]+; appears in logs, metrics and progress."},
    {"pipelines[]", "checkpoint", T_STRING, F_REQUIRED | F_NONEMPTY, .off = PIPE(checkpoint),
     .desc =
         "Checkpoint directory (metadata, offsets/, commits/, sources/, state/): a local path or an object "
         "store URI (s3://, abfss://, gs://)."},
    {"pipelines[]", "checkpoint_storage_options", T_PROPS, 0, .off = PIPE(checkpoint_storage_options),
     .off2 = PIPE(ncheckpoint_storage_options),
     .desc = "Options of the checkpoint's store (docs/storage.md); unset ones come from the environment."},
    {"pipelines[]", "checkpoint_cache_dir", T_STRING, 0, .off = PIPE(checkpoint_cache_dir),
     .desc = "Local directory for the RocksDB databases of a checkpoint on an object store (a subdirectory "
             "per query id). Default: $CACHE_DIRECTORY, else /var/tmp/weir."},
    {"pipelines[]", "trigger", T_OBJ, F_ONEOF,
     .desc = "When batches run: exactly one of interval, once, available_now. Default: interval \"0s\" (as "
             "Spark: the next batch starts as soon as the previous one ends, none when no new data)."},
    {"pipelines[].trigger", "interval", T_DURATION, F_KIND, "0s", .min = 0, .max = I64MAX,
     .off = PIPE(interval_ms), .kind_off = PIPE(trigger), .kind_val = WEIR_TRIGGER_INTERVAL,
     .desc = "Processing-time trigger: start a batch every interval when new data is present."},
    {"pipelines[].trigger", "once", T_BOOL, F_KIND, .off = PIPE(trigger_once), .kind_off = PIPE(trigger),
     .kind_val = WEIR_TRIGGER_ONCE, .check = check_true, .desc = "Run one batch, then stop (true only)."},
    {"pipelines[].trigger", "available_now", T_BOOL, F_KIND, .off = PIPE(trigger_available_now),
     .kind_off = PIPE(trigger), .kind_val = WEIR_TRIGGER_AVAILABLE_NOW, .check = check_true,
     .desc = "Process everything available at start in batches honouring the limits, then stop (true only)."},
    {"pipelines[]", "state", T_OBJ, 0, .off = 0,
     .desc = "The RocksDB state store of dedup and aggregate steps (checkpoint/state)."},
    {"pipelines[].state", "memory", T_SIZE, 0, "256MB", .min = 16 << 20, .max = I64MAX,
     .off = PIPE(state_memory),
     .desc = "Memory budget: block cache and memtables; state beyond it lives on disk."},
    {"pipelines[]", "min_batches_to_retain", T_INT, 0, "100", .min = 1, .max = I64MAX,
     .off = PIPE(min_batches_to_retain), .desc = "Offset and commit log entries kept in the checkpoint."},

    {"pipelines[]", "source", T_OBJ, F_REQUIRED | F_ONEOF,
     .desc = "Where records come from: exactly one of "
             "kafka, datagen."},
    {"pipelines[].source", "kafka", T_OBJ, F_KIND, .kind_off = PIPE(source), .kind_val = WEIR_SOURCE_KAFKA,
     .post = post_kafka, .desc = "Apache Kafka topics; offsets are kept in the checkpoint."},
    {"pipelines[].source.kafka", "bootstrap_servers", T_STRING, F_REQUIRED | F_NONEMPTY,
     .off = KAFKA(bootstrap_servers), .desc = "Comma-separated host:port list of brokers."},
    {"pipelines[].source.kafka", "topics", T_LIST, F_NONEMPTY, .off = KAFKA(topics), .off2 = KAFKA(ntopics),
     .desc = "Topics to read (exactly one of topics, topic_pattern)."},
    {"pipelines[].source.kafka", "topic_pattern", T_STRING, F_NONEMPTY, .off = KAFKA(topic_pattern),
     .desc = "Regular expression of topics to read; new matching topics and partitions are picked up."},
    {"pipelines[].source.kafka", "starting_offsets", T_STARTOFF, 0, "\"latest\"",
     .off = KAFKA(starting_offsets),
     .desc = "Where a new query starts: \"earliest\", \"latest\", a JSON object {\"topic\": {\"0\": offset}} "
             "(-2 earliest, -1 latest) or a timestamp in ms since the epoch. Ignored on restart."},
    {"pipelines[].source.kafka", "max_offsets_per_trigger", T_INT, 0, .min = 1, .max = I64MAX,
     .off = KAFKA(max_offsets_per_trigger),
     .desc = "Most records per batch, split across partitions in proportion to their backlog. Default: no "
             "limit."},
    {"pipelines[].source.kafka", "min_offsets_per_trigger", T_INT, 0, .min = 1, .max = I64MAX,
     .off = KAFKA(min_offsets_per_trigger),
     .desc = "Fewest new records before a batch runs, unless max_trigger_delay has passed. Default: none."},
    {"pipelines[].source.kafka", "max_trigger_delay", T_DURATION, 0, "15m", .min = 0, .max = I64MAX,
     .off = KAFKA(max_trigger_delay_ms), .desc = "Longest wait for min_offsets_per_trigger."},
    {"pipelines[].source.kafka", "fail_on_data_loss", T_BOOL, 0, "true", .off = KAFKA(fail_on_data_loss),
     .desc = "Offsets gone (retention, topic re-created): fail; false skips and counts the lost range."},
    {"pipelines[].source.kafka", "include_headers", T_BOOL, 0, "false", .off = KAFKA(include_headers),
     .desc = "Fill the headers column."},
    {"pipelines[].source.kafka", "group_id", T_STRING, F_NONEMPTY, .off = KAFKA(group_id),
     .desc = "Consumer group to commit offsets to, for lag monitoring only. Default: none."},
    {"pipelines[].source.kafka", "kafka", T_PROPS, 0, .off = KAFKA(props), .off2 = KAFKA(nprops),
     .desc = "librdkafka properties passed through as strings (security.protocol, sasl.*, ssl.*); values of "
             "keys with password, secret, sasl.jaas or ssl.key are secrets and never printed."},
    {"pipelines[].source", "datagen", T_OBJ, F_KIND, .kind_off = PIPE(source),
     .kind_val = WEIR_SOURCE_DATAGEN,
     .desc = "Generated rows, deterministic by seed, for demos and benchmarks."},
    {"pipelines[].source.datagen", "rows_per_second", T_INT, 0, .min = 1, .max = I64MAX,
     .off = DGEN(rows_per_second), .desc = "Rate of generated rows. Default: unlimited."},
    {"pipelines[].source.datagen", "schema", T_SCHEMA, F_REQUIRED, .off = DGEN(schema),
     .desc = "Schema of the rows: Spark DDL (\"id LONG, user STRING\") or Delta schema JSON."},
    {"pipelines[].source.datagen", "seed", T_INT, 0, "0", .min = INT64_MIN, .max = I64MAX, .off = DGEN(seed),
     .desc = "Seed of the generator; the same seed gives the same rows."},
    {"pipelines[].source.datagen", "max_rows", T_INT, 0, .min = 1, .max = I64MAX, .off = DGEN(max_rows),
     .desc = "Stop producing after this many rows. Default: no limit."},
    {"pipelines[].source.datagen", "max_rows_per_trigger", T_INT, 0, .min = 1, .max = I64MAX,
     .off = DGEN(max_rows_per_trigger),
     .desc = "Most rows per batch. Default: no limit with rows_per_second, else 1000000."},
    {"pipelines[].source", "files", T_OBJ, F_KIND, .kind_off = PIPE(source), .kind_val = WEIR_SOURCE_FILES,
     .post = post_files,
     .desc = "New files under a path (local, s3://, abfss://, gs://), each ingested exactly once "
             "(docs/files.md)."},
    {"pipelines[].source.files", "path", T_STRING, F_REQUIRED | F_NONEMPTY, .off = FILES(path),
     .desc = "Directory or prefix to watch; glob characters (* ? [ ]) allowed in the last segments "
             "(\"s3://bucket/in/*.json\")."},
    {"pipelines[].source.files", "format", T_ENUM, F_REQUIRED, NULL, "json|text|csv|parquet",
     .off = FILES(format),
     .desc = "json: one object per line; csv: delimited text; parquet; text: one row per line in column "
             "value. .gz and .zst files are decompressed (json, csv, text)."},
    {"pipelines[].source.files", "schema", T_SCHEMA, 0, .off = FILES(schema),
     .desc = "Schema of the rows: Spark DDL or Delta schema JSON. Default: inferred from the files and kept "
             "in the checkpoint (_schemas/)."},
    {"pipelines[].source.files", "schema_hints", T_STRING, F_NONEMPTY, .off = FILES(schema_hints),
     .desc = "Types for some columns of an inferred schema, as DDL (\"amount DECIMAL(12,2), ts TIMESTAMP\"); "
             "columns not found are added."},
    {"pipelines[].source.files", "infer_column_types", T_BOOL, 0, "true", .off = FILES(infer_column_types),
     .desc = "Infer long, double, boolean, struct, array; false: every inferred column is a string (json, "
             "csv)."},
    {"pipelines[].source.files", "schema_inference_max_files", T_INT, 0, "1000", .min = 1, .max = I64MAX,
     .off = FILES(schema_inference_max_files), .desc = "Most files read to infer the schema."},
    {"pipelines[].source.files", "schema_inference_max_bytes", T_SIZE, 0, "1GB", .min = 1, .max = I64MAX,
     .off = FILES(schema_inference_max_bytes),
     .desc = "Most bytes read to infer the schema (at least one file)."},
    {"pipelines[].source.files", "schema_evolution_mode", T_ENUM, 0, "auto",
     "auto|add_new_columns|rescue|fail_on_new_columns|none", .off = FILES(schema_evolution_mode),
     .desc =
         "New columns in the files: add_new_columns adds them to the schema and the table and runs the "
         "batch again; rescue and none keep the schema and put them in _rescued_data; "
         "fail_on_new_columns stops the pipeline. auto: add_new_columns when the schema is inferred, none "
         "when it is given."},
    {"pipelines[].source.files", "header", T_BOOL, 0, "true", .off = FILES(csv_header),
     .desc = "csv: the first record of each file names the columns; false: columns are _c0, _c1, ..."},
    {"pipelines[].source.files", "delimiter", T_STRING, 0, ",", .off = FILES(csv_delimiter),
     .check = check_char, .desc = "csv: the field delimiter (one character)."},
    {"pipelines[].source.files", "quote", T_STRING, 0, "\"", .off = FILES(csv_quote), .check = check_char,
     .desc = "csv: the quote character; quoted fields may hold delimiters and newlines."},
    {"pipelines[].source.files", "escape", T_STRING, 0, "\\", .off = FILES(csv_escape), .check = check_char,
     .desc = "csv: inside quotes, makes the next character literal (a doubled quote is a quote too)."},
    {"pipelines[].source.files", "null_value", T_STRING, 0, "", .off = FILES(csv_null_value),
     .desc = "csv: the unquoted text that means null."},
    {"pipelines[].source.files", "path_glob_filter", T_STRING, F_NONEMPTY, .off = FILES(path_glob_filter),
     .desc = "Glob the file name must match (\"*.json\"). Default: every file."},
    {"pipelines[].source.files", "recursive", T_BOOL, 0, "true", .off = FILES(recursive),
     .desc = "Look in sub-directories too."},
    {"pipelines[].source.files", "max_files_per_trigger", T_INT, 0, "1000", .min = 1, .max = I64MAX,
     .off = FILES(max_files_per_trigger), .desc = "Most files per batch."},
    {"pipelines[].source.files", "max_bytes_per_trigger", T_SIZE, 0, .min = 1, .max = I64MAX,
     .off = FILES(max_bytes_per_trigger),
     .desc = "Soft limit of file bytes per batch (a batch has at least one file). Default: none."},
    {"pipelines[].source.files", "include_existing_files", T_BOOL, 0, "true",
     .off = FILES(include_existing_files),
     .desc = "Ingest the files present when the checkpoint is created; false: only files that arrive later."},
    {"pipelines[].source.files", "allow_overwrites", T_BOOL, 0, "false", .off = FILES(allow_overwrites),
     .desc = "A file that changes after ingestion is ingested again; false: it is reported and left."},
    {"pipelines[].source.files", "storage_options", T_PROPS, 0, .off = FILES(storage_options),
     .off2 = FILES(nstorage_options), .desc = "Options of the store (docs/storage.md)."},
    {"pipelines[].source.files", "read_parallelism", T_INT, 0, "8", .min = 1, .max = 32,
     .off = FILES(read_parallelism),
     .desc = "Requests in flight while reading a batch: files (and 4 MiB ranges of large ones) are fetched "
             "ahead of the decoder, in order, at most 64 MiB ahead."},
    {"pipelines[].source.files", "decode_parallelism", T_INT, 0, "0", .min = 0, .max = 64,
     .off = FILES(decode_parallelism),
     .desc =
         "Threads decoding json files: the text is cut into 1 MiB runs of whole lines, decoded in "
         "parallel, and the rows kept in file order. 0: the CPU cores less the two the pipeline's reading "
         "and sink threads use, at most 8; 1 (also what 0 gives on 3 cores or fewer): decode on the "
         "pipeline's thread."},
    {"pipelines[].source.files", "incremental_listing", T_ENUM, 0, "off", "auto|on|off",
     .off = FILES(incremental_listing),
     .desc = "on: each listing starts after the greatest file name seen (names must arrive in lexical order, "
             "like dated paths); off: list everything each time; auto: on while new names keep sorting after "
             "the old ones."},
    {"pipelines[].source.files", "backfill_interval", T_DURATION, 0, "1h", .min = 0, .max = I64MAX,
     .off = FILES(backfill_interval_ms),
     .desc = "A full listing this often even when listing incrementally, to find files that arrived out of "
             "order; 0: only at start."},
    {"pipelines[].source.files", "clean_source", T_ENUM, 0, "off", "off|delete|move",
     .off = FILES(clean_source),
     .desc = "After a batch is committed: leave its files, delete them, or move them to "
             "clean_source_move_destination."},
    {"pipelines[].source.files", "clean_source_move_destination", T_STRING, F_NONEMPTY,
     .off = FILES(clean_source_move_destination),
     .desc = "Archive path for clean_source move (same kind of URI as path, outside it); a file keeps its "
             "path below the source path."},

    {"pipelines[]", "transform", T_OBJLIST, F_ONEOF, .off = PIPE(steps), .off2 = PIPE(nsteps),
     .elsize = sizeof(struct weir_config_step),
     .desc = "Steps applied in order; each is an object with exactly one of decode, where, select."},
    {"pipelines[].transform[]", "decode", T_OBJ, F_KIND, .off = 0, .kind_off = STEP(kind),
     .kind_val = WEIR_STEP_DECODE, .post = post_decode,
     .desc = "Decode the value column into typed columns."},
    {"pipelines[].transform[].decode", "format", T_ENUM, 0, "json", "json|debezium-json", .off = DEC(format),
     .desc = "Format of the value bytes: json (one object per record) or debezium-json (Debezium change "
             "events, with or without the JsonConverter schema; one batch per source table, with the "
             "__op, __seq and __source_* columns; docs/cdc.md)."},
    {"pipelines[].transform[].decode", "schema", T_SCHEMA, 0, .off = DEC(schema),
     .desc = "Declared schema: Spark DDL or Delta schema JSON. Required for json; for debezium-json the "
             "row columns of every table (default: from each event's schema, else from its values)."},
    {"pipelines[].transform[].decode", "tombstones", T_ENUM, 0, "ignore", "ignore|delete",
     .off = DEC(tombstones),
     .desc = "debezium-json: a record with a key and a null value is ignored, or deletes its key."},
    {"pipelines[].transform[].decode", "on_error", T_ENUM, 0, "rescue", "rescue|dead_letter|fail",
     .off = DEC(on_error),
     .desc =
         "Records that do not parse or fit: rescue into _rescued_data, write to the dead-letter table, or "
         "fail the batch."},
    {"pipelines[].transform[].decode", "dead_letter_path", T_STRING, F_NONEMPTY, .off = DEC(dead_letter_path),
     .desc =
         "Delta table for dead letters (required with on_error dead_letter); schema in docs/transform.md."},
    {"pipelines[].transform[].decode", "max_record_size", T_SIZE, 0, "1MB", .min = 1, .max = I64MAX,
     .off = DEC(max_record_size),
     .desc = "Values longer than this are not decoded; they go to _rescued_data or the dead-letter table."},
    {"pipelines[].transform[].decode", "keep", T_LIST, 0, .off = DEC(keep), .off2 = DEC(nkeep),
     .desc = "Source columns kept next to the decoded ones (e.g. [\"topic\", \"partition\", \"offset\", "
             "\"timestamp\"]). Default: none."},
    {"pipelines[].transform[]", "where", T_STRING, F_KIND | F_NONEMPTY, .off = STEP(where),
     .kind_off = STEP(kind), .kind_val = WEIR_STEP_WHERE,
     .desc = "Keep rows for which the SQL expression is true."},
    {"pipelines[].transform[]", "select", T_LIST, F_KIND | F_NONEMPTY, .off = STEP(select),
     .off2 = STEP(nselect), .kind_off = STEP(kind), .kind_val = WEIR_STEP_SELECT,
     .desc = "Output columns: SQL expressions, optionally with AS name."},
    {"pipelines[].transform[]", "watermark", T_OBJ, F_KIND, .off = 0, .kind_off = STEP(kind),
     .kind_val = WEIR_STEP_WATERMARK, .post = post_watermark,
     .desc = "Event-time watermark: max event time seen minus delay, advanced after every batch; rows "
             "older than the batch's watermark are late (counted, dropped or dead-lettered)."},
    {"pipelines[].transform[].watermark", "column", T_STRING, F_REQUIRED | F_NONEMPTY, .off = WM(column),
     .desc = "TIMESTAMP column holding the event time."},
    {"pipelines[].transform[].watermark", "delay", T_DURATION, F_REQUIRED, .min = 0, .max = I64MAX,
     .off = WM(delay_ms), .desc = "How late an event may arrive (\"10 minutes\")."},
    {"pipelines[].transform[].watermark", "late_rows", T_ENUM, 0, "drop", "drop|dead_letter",
     .off = WM(late_rows),
     .desc = "Late rows are dropped (and counted) or written to the dead-letter table."},
    {"pipelines[].transform[].watermark", "dead_letter_path", T_STRING, F_NONEMPTY,
     .off = WM(dead_letter_path), .desc = "Delta table for late rows (required with late_rows dead_letter)."},
    {"pipelines[].transform[]", "dedup", T_OBJ, F_KIND, .off = 0, .kind_off = STEP(kind),
     .kind_val = WEIR_STEP_DEDUP,
     .desc = "Drop rows whose keys were seen before, in this batch or an earlier one (state in RocksDB)."},
    {"pipelines[].transform[].dedup", "keys", T_LIST, F_REQUIRED | F_NONEMPTY, .off = DD(keys),
     .off2 = DD(nkeys), .desc = "SQL expressions that identify a row (e.g. [\"event_id\"])."},
    {"pipelines[].transform[].dedup", "within_watermark", T_BOOL, 0, "false", .off = DD(within_watermark),
     .desc = "With a watermark step before: a key is remembered until the watermark passes its first "
             "event time plus the watermark delay (Spark's dropDuplicatesWithinWatermark). Otherwise "
             "until the watermark passes its event time."},
    {"pipelines[].transform[].dedup", "ttl", T_DURATION, 0, .min = 1, .max = I64MAX, .off = DD(ttl_ms),
     .desc = "Without a watermark: forget a key this long (processing time) after it was first seen."},
    {"pipelines[].transform[].dedup", "unbounded", T_BOOL, 0, "false", .off = DD(unbounded),
     .desc = "Allow dedup state without a watermark or ttl (it then grows with every distinct key)."},
    {"pipelines[].transform[]", "aggregate", T_OBJ, F_KIND, .off = 0, .kind_off = STEP(kind),
     .kind_val = WEIR_STEP_AGGREGATE,
     .desc = "Grouped (optionally windowed) aggregation kept in RocksDB state; the last stateful step."},
    {"pipelines[].transform[].aggregate", "group_by", T_LIST, 0, .off = AGG(group_by), .off2 = AGG(ngroup_by),
     .desc = "SQL expressions to group by (optionally with AS name)."},
    {"pipelines[].transform[].aggregate", "window", T_OBJ, 0, .off = 0, .post = post_window,
     .desc = "Event-time window: {column, size} tumbling, {column, size, slide} sliding, {column, gap} "
             "session. Output columns window_start and window_end come first."},
    {"pipelines[].transform[].aggregate.window", "column", T_STRING, F_REQUIRED | F_NONEMPTY,
     .off = WIN(column), .desc = "TIMESTAMP column of event time."},
    {"pipelines[].transform[].aggregate.window", "size", T_DURATION, 0, .min = 1, .max = I64MAX,
     .off = WIN(size_ms), .desc = "Window length (tumbling and sliding)."},
    {"pipelines[].transform[].aggregate.window", "slide", T_DURATION, 0, .min = 1, .max = I64MAX,
     .off = WIN(slide_ms), .desc = "Distance between window starts (sliding); must divide size."},
    {"pipelines[].transform[].aggregate.window", "gap", T_DURATION, 0, .min = 1, .max = I64MAX,
     .off = WIN(gap_ms), .desc = "Session windows: a session closes after this long without events."},
    {"pipelines[].transform[].aggregate", "measures", T_LIST, F_REQUIRED | F_NONEMPTY, .off = AGG(measures),
     .off2 = AGG(nmeasures),
     .desc = "\"fn(expr) AS name\" with fn one of count, count_if, sum, min, max, avg, first, last, "
             "approx_count_distinct; count(*) counts rows."},
    {"pipelines[].transform[].aggregate", "output", T_ENUM, 0, "append", "append|update|complete",
     .off = AGG(output),
     .desc = "append: a window once the watermark passes its end (sink mode append); update: changed "
             "groups every batch (sink mode merge); complete: the whole result every batch (sink mode "
             "complete)."},

    {"pipelines[]", "sink", T_OBJ, F_REQUIRED | F_ONEOF,
     .desc = "Where batches go: exactly one of delta, console."},
    {"pipelines[].sink", "delta", T_OBJ, F_KIND, .kind_off = PIPE(sink), .kind_val = WEIR_SINK_DELTA,
     .desc = "A Delta Lake table, written exactly once per batch."},
    {"pipelines[].sink.delta", "path", T_STRING, F_NONEMPTY, .off = DELTA(path),
     .desc = "Table location (local path or object-store URI). Required unless table_path_template."},
    {"pipelines[].sink.delta", "table_path_template", T_STRING, F_NONEMPTY, .off = DELTA(path_template),
     .desc = "Mode merge after a debezium-json decode: one table per source table, at this location with "
             "{db}, {schema} and {table} replaced (e.g. \"s3://lake/bronze/{schema}_{table}\")."},
    {"pipelines[].sink.delta", "storage_options", T_PROPS, 0, .off = DELTA(storage_options),
     .off2 = DELTA(nstorage_options),
     .desc = "Options of the table's object store (endpoint, region, credentials; docs/storage.md). Unset "
             "options come from the environment (AWS_ACCESS_KEY_ID, AZURE_STORAGE_ACCOUNT_KEY, ...); keys "
             "and tokens are never printed."},
    {"pipelines[].sink.delta", "mode", T_ENUM, 0, "append", "append|merge|complete", .off = DELTA(mode),
     .desc = "append: add the rows; merge: upsert them by keys (rewriting only files that may hold the "
             "keys); complete: replace the table's contents every batch."},
    {"pipelines[].sink.delta", "keys", T_LIST, F_NONEMPTY, .off = DELTA(keys), .off2 = DELTA(nkeys),
     .desc = "Mode merge: the columns that identify a row. Default: the aggregate's window and group "
             "columns, or after a debezium-json decode the fields of each event's message key."},
    {"pipelines[].sink.delta", "sequence_by", T_LIST, F_NONEMPTY, .off = DELTA(sequence_by),
     .off2 = DELTA(nsequence_by),
     .desc = "Mode merge, change data: the columns that order the changes of a key (compared in order); "
             "a change not newer than the last one applied to its key is ignored. Default after a "
             "debezium-json decode: [\"__seq\"] (source position, then time). Setting it (or the "
             "options below) applies rows as changes (docs/cdc.md)."},
    {"pipelines[].sink.delta", "apply_as_deletes", T_STRING, F_NONEMPTY, .off = DELTA(apply_as_deletes),
     .desc = "Mode merge, change data: SQL predicate of the rows that delete their key. Default after a "
             "debezium-json decode: \"__op = 'd'\"; else none."},
    {"pipelines[].sink.delta", "apply_as_truncates", T_STRING, F_NONEMPTY, .off = DELTA(apply_as_truncates),
     .desc = "Mode merge, change data: SQL predicate of the rows that empty the table. Default after a "
             "debezium-json decode: \"__op = 't'\"; else none."},
    {"pipelines[].sink.delta", "except_columns", T_LIST, 0, .off = DELTA(except_columns),
     .off2 = DELTA(nexcept_columns),
     .desc = "Mode merge, change data: columns not written to the table. Default after a debezium-json "
             "decode: the metadata columns (__op, __seq, __source_db, ..., __ts); else none."},
    {"pipelines[].sink.delta", "scd_type", T_INT, 0, "1", .min = 1, .max = 2, .off = DELTA(scd_type),
     .desc = "Mode merge, change data: 1 keeps the latest row per key; 2 keeps every version with "
             "__start_at and __end_at (the sequence of the change that made it and of the one that "
             "ended it; null while current)."},
    {"pipelines[].sink.delta", "delete_mode", T_ENUM, 0, "hard", "hard|soft", .off = DELTA(delete_mode),
     .desc = "Mode merge, change data, scd_type 1: a delete removes the row (hard) or sets its BOOLEAN "
             "column __deleted (soft; __deleted is false on other rows)."},
    {"pipelines[].sink.delta", "partition_by", T_LIST, 0, .off = DELTA(partition_by),
     .off2 = DELTA(npartition_by), .desc = "Partition columns, used when the table is created."},
    {"pipelines[].sink.delta", "target_file_size", T_SIZE, 0, "128MB", .min = 1024, .max = I64MAX,
     .off = DELTA(target_file_size), .desc = "Parquet file size to aim for."},
    {"pipelines[].sink.delta", "max_buffer_size", T_SIZE, 0, "64MB", .min = 1048576, .max = I64MAX,
     .off = DELTA(max_buffer_size),
     .desc = "Memory for rows waiting to become data files, all partitions together; when full the "
             "largest partition is written out (so files can be smaller than target_file_size). One more "
             "file of this size may be in Parquet encoding at the same time."},
    {"pipelines[].sink.delta", "merge_schema", T_BOOL, 0, "false", .off = DELTA(merge_schema),
     .desc = "Add new nullable columns to the table schema; incompatible changes are refused."},
    {"pipelines[].sink.delta", "codec", T_ENUM, 0, "snappy", "snappy|zstd|gzip|none", .off = DELTA(codec),
     .desc = "Parquet compression codec."},
    {"pipelines[].sink.delta", "maintenance", T_OBJ, 0, .off = 0,
     .desc = "Table maintenance the sink runs on its own thread with its own table handle, never blocking "
             "batches (docs/operations.md#table-maintenance). Off unless a schedule is set."},
    {"pipelines[].sink.delta.maintenance", "optimize_every", T_INT, 0, .min = 1, .max = I64MAX,
     .off = DELTA(maint.optimize_every),
     .desc = "Compact small files after every N committed batches (OPTIMIZE commits with "
             "dataChange=false, which the appends never conflict with). Default: never."},
    {"pipelines[].sink.delta.maintenance", "optimize_interval", T_DURATION, 0, .min = 1000, .max = I64MAX,
     .off = DELTA(maint.optimize_interval_ms),
     .desc = "Compact small files when the table's last OPTIMIZE commit is older than this (\"1h\"). "
             "Default: never."},
    {"pipelines[].sink.delta.maintenance", "optimize_target_size", T_SIZE, 0, .min = 1024, .max = I64MAX,
     .off = DELTA(maint.optimize_target_size),
     .desc = "File size the compaction aims for. Default: the sink's target_file_size."},
    {"pipelines[].sink.delta.maintenance", "vacuum_interval", T_DURATION, 0, .min = 1000, .max = I64MAX,
     .off = DELTA(maint.vacuum_interval_ms),
     .desc = "Delete unreferenced files (VACUUM) when the table's last VACUUM END commit is older than this "
             "(\"24h\"). Default: never."},
    {"pipelines[].sink.delta.maintenance", "vacuum_retain", T_DURATION, 0, .min = 3600000, .max = I64MAX,
     .off = DELTA(maint.vacuum_retain_ms),
     .desc = "Files removed from the table (or never committed) longer ago than this are deleted. Default: "
             "the table's delta.deletedFileRetentionDuration (7 days). A shorter value is applied as "
             "given: it must exceed the longest batch and the longest read of an old version."},
    {"pipelines[].sink", "console", T_OBJ, F_KIND, .kind_off = PIPE(sink), .kind_val = WEIR_SINK_CONSOLE,
     .desc = "Print rows as JSON lines on stdout (no options)."},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static const char *type_name(enum opt_type t)
{
    switch (t) {
    case T_BOOL:
        return "bool";
    case T_INT:
        return "int";
    case T_SIZE:
        return "size";
    case T_DURATION:
        return "duration";
    case T_STRING:
        return "string";
    case T_ENUM:
        return "enum";
    case T_LIST:
        return "list of strings";
    case T_PROPS:
        return "object of strings";
    case T_SCHEMA:
        return "schema";
    case T_STARTOFF:
        return "string, object or int";
    case T_OBJ:
        return "object";
    case T_OBJLIST:
        return "list of objects";
    }
    return "?";
}

/* child pattern of an option: parent.key, or parent[] for object lists */
static void opt_pattern(const struct opt *o, char *out, size_t cap, bool elem)
{
    snprintf(out, cap, "%s%s%s%s", o->parent, o->parent[0] ? "." : "", o->key, elem ? "[]" : "");
}

/* ---- scalar parsing ---- */

static int parse_int_text(const char *s, int64_t *v)
{
    errno = 0;
    char *end = NULL;
    long long x = strtoll(s, &end, 10);
    if (end == s || *end != '\0')
        return WEIR_EINVAL;
    if (errno == ERANGE)
        return WEIR_ERANGE;
    *v = x;
    return 0;
}

static int enum_index(const char *choices, const char *s)
{
    int idx = 0;
    size_t n = strlen(s);
    for (const char *p = choices;; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, s, n) == 0)
            return idx;
        if (bar == NULL)
            return -1;
        p = bar + 1;
    }
}

/* ---- JSON access ---- */

static const struct weir_json_node *N(struct cctx *c, uint32_t i)
{
    return &c->doc.nodes[i];
}

/* Unescaped copy of a string node (or NULL: error already reported). */
static char *node_str(struct cctx *c, uint32_t i, const char *path)
{
    const struct weir_json_node *nd = N(c, i);
    if (!nd->esc) {
        if (memchr(c->text + nd->start, '\0', nd->len) != NULL) {
            cerr(c, WEIR_ECONFIG, path, i, "NUL byte in string");
            return NULL;
        }
        char *s = weir_strndup(c->text + nd->start, nd->len);
        if (s == NULL)
            cerr(c, WEIR_ENOMEM, path, i, "out of memory");
        return s;
    }
    struct weir_buf b;
    weir_buf_init(&b);
    int rc = weir_json_unescape(c->text + nd->start, nd->len, WEIR_JSON_UNESCAPE_NO_NUL, &b, NULL);
    if (rc != 0) {
        weir_buf_free(&b);
        cerr(c, rc == WEIR_JTOK_ENOMEM ? WEIR_ENOMEM : WEIR_ECONFIG, path, i, "%s", weir_jtok_strerror(rc));
        return NULL;
    }
    if (weir_buf_append_byte(&b, 0) != 0) {
        weir_buf_free(&b);
        cerr(c, WEIR_ENOMEM, path, i, "out of memory");
        return NULL;
    }
    char *s = (char *)b.data;
    return s;
}

static int node_int(struct cctx *c, uint32_t i, int64_t *v)
{
    const struct weir_json_node *nd = N(c, i);
    if (nd->type != WEIR_JSON_NUM || !nd->isint || nd->len > 24)
        return WEIR_EINVAL;
    char tmp[32];
    memcpy(tmp, c->text + nd->start, nd->len);
    tmp[nd->len] = '\0';
    return parse_int_text(tmp, v);
}

/* ---- paths ---- */

static char *path_key(const char *path, const char *key)
{
    return path[0] ? weir_asprintf("%s.%s", path, key) : weir_strdup(key);
}

static const struct opt *find_opt(const char *parent, const char *key)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].parent, parent) == 0 && strcmp(opts[i].key, key) == 0)
            return &opts[i];
    return NULL;
}

static const char *suggest(const char *parent, const char *key)
{
    const char *best = NULL;
    size_t bestd = 3;
    for (size_t i = 0; i < NOPTS; i++) {
        if (strcmp(opts[i].parent, parent) != 0)
            continue;
        size_t d = weir_edit_distance(key, opts[i].key, false);
        if (d < bestd) {
            bestd = d;
            best = opts[i].key;
        }
    }
    return best;
}

/* ---- the walker ---- */

static void walk_obj(struct cctx *c, const struct opt *self, const char *pat, const char *path, uint32_t node,
                     char *base);

static bool is_secret(const struct opt *o)
{
    return (o->flags & F_SECRET) != 0;
}

static void check_bounds(struct cctx *c, const struct opt *o, const char *path, uint32_t node, int64_t v,
                         bool *ok)
{
    if (o->min < o->max && (v < o->min || v > o->max)) {
        if (o->max == I64MAX)
            cerr(c, WEIR_ECONFIG, path, node, "must be at least %lld", (long long)o->min);
        else
            cerr(c, WEIR_ECONFIG, path, node, "must be between %lld and %lld", (long long)o->min,
                 (long long)o->max);
        *ok = false;
    }
}

static char **str_list(struct cctx *c, const struct opt *o, const char *path, uint32_t node, size_t *count)
{
    const struct weir_json_node *nd = N(c, node);
    if (nd->type != WEIR_JSON_ARR) {
        cerr(c, WEIR_ECONFIG, path, node, "expected a list of strings");
        return NULL;
    }
    if (nd->count == 0 && (o->flags & F_NONEMPTY)) {
        cerr(c, WEIR_ECONFIG, path, node, "must not be empty");
        return NULL;
    }
    char **v = weir_calloc(nd->count + 1, sizeof(char *));
    if (v == NULL) {
        cerr(c, WEIR_ENOMEM, path, node, "out of memory");
        return NULL;
    }
    size_t k = 0;
    bool bad = false;
    for (uint32_t e = nd->child; e != WEIR_JSON_NONE; e = N(c, e)->next, k++) {
        char ep[512];
        snprintf(ep, sizeof(ep), "%s[%zu]", path, k);
        if (N(c, e)->type != WEIR_JSON_STR) {
            cerr(c, WEIR_ECONFIG, ep, e, "expected a string");
            bad = true;
            continue;
        }
        v[k] = node_str(c, e, ep);
        if (v[k] == NULL) {
            bad = true;
        } else if (v[k][0] == '\0') {
            cerr(c, WEIR_ECONFIG, ep, e, "must not be empty");
            bad = true;
        }
    }
    if (bad) {
        for (size_t i = 0; i < nd->count; i++)
            weir_free(v[i]);
        weir_free(v);
        return NULL;
    }
    *count = nd->count;
    return v;
}

static void set_props(struct cctx *c, const char *path, uint32_t node, char *base, const struct opt *o)
{
    const struct weir_json_node *nd = N(c, node);
    bool kafka = strcmp(o->key, "kafka") == 0;
    if (nd->type != WEIR_JSON_OBJ) {
        cerr(c, WEIR_ECONFIG, path, node,
             kafka ? "expected an object of librdkafka properties"
                   : "expected an object of storage options (docs/storage.md)");
        return;
    }
    char **v = weir_calloc(2 * (size_t)nd->count + 1, sizeof(char *));
    if (v == NULL) {
        cerr(c, WEIR_ENOMEM, path, node, "out of memory");
        return;
    }
    size_t k = 0;
    bool bad = false;
    rd_kafka_conf_t *conf = kafka ? rd_kafka_conf_new() : NULL; /* NULL: skip librdkafka's check */
    for (uint32_t key = nd->child; key != WEIR_JSON_NONE; key = N(c, N(c, key)->next)->next, k++) {
        uint32_t val = N(c, key)->next;
        char *ks = node_str(c, key, path);
        if (ks == NULL) {
            bad = true;
            continue;
        }
        v[2 * k] = ks;
        char *kp = path_key(path, ks);
        if (kp == NULL) {
            cerr(c, WEIR_ENOMEM, path, key, "out of memory");
            bad = true;
            continue;
        }
        const char *suggest = NULL;
        if (!kafka && !weir_store_option_known(ks, &suggest)) {
            if (suggest)
                cerr(c, WEIR_ECONFIG, kp, key, "unknown storage option; did you mean '%s'?", suggest);
            else
                cerr(c, WEIR_ECONFIG, kp, key, "unknown storage option (see docs/storage.md)");
            bad = true;
        }
        const struct weir_json_node *vn = N(c, val);
        if (vn->type == WEIR_JSON_STR) {
            v[2 * k + 1] = node_str(c, val, kp);
        } else if (vn->type == WEIR_JSON_NUM || vn->type == WEIR_JSON_TRUE || vn->type == WEIR_JSON_FALSE) {
            v[2 * k + 1] = weir_strndup(c->text + vn->start, vn->len);
            if (v[2 * k + 1] == NULL)
                cerr(c, WEIR_ENOMEM, kp, val, "out of memory");
        } else {
            cerr(c, WEIR_ECONFIG, kp, val,
                 kafka ? "expected a string, number or bool (passed to librdkafka as text)"
                       : "expected a string, number or bool");
        }
        if (v[2 * k + 1] == NULL) {
            bad = true;
        } else if (conf != NULL) {
            /* librdkafka judges its own properties; its message becomes ours,
             * except for secrets, whose value it might quote. */
            char errstr[512] = "";
            if (rd_kafka_conf_set(conf, ks, v[2 * k + 1], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                if (weir_source_kafka_key_is_secret(ks))
                    cerr(c, WEIR_ECONFIG, kp, val, "rejected by librdkafka (value not shown: secret)");
                else
                    cerr(c, WEIR_ECONFIG, kp, val, "librdkafka: %s", errstr);
                bad = true;
            }
        }
        weir_free(kp);
    }
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    if (bad) {
        for (size_t i = 0; i < 2 * (size_t)nd->count; i++)
            weir_free(v[i]);
        weir_free(v);
        return;
    }
    *(char ***)(base + o->off) = v;
    *(size_t *)(base + o->off2) = nd->count;
}

static void set_startoff(struct cctx *c, const char *path, uint32_t node, char *base, const struct opt *o)
{
    struct weir_config_kafka *k =
        (struct weir_config_kafka *)(base + o->off - offsetof(struct weir_config_kafka, starting_offsets));
    const struct weir_json_node *nd = N(c, node);
    if (nd->type == WEIR_JSON_STR) {
        char *s = node_str(c, node, path);
        if (s == NULL)
            return;
        if (strcmp(s, "earliest") == 0)
            k->starting_offsets = WEIR_START_EARLIEST;
        else if (strcmp(s, "latest") == 0)
            k->starting_offsets = WEIR_START_LATEST;
        else
            cerr(c, WEIR_ECONFIG, path, node,
                 "expected \"earliest\", \"latest\", an object of offsets per partition or a timestamp");
        weir_free(s);
        return;
    }
    if (nd->type == WEIR_JSON_NUM) {
        int64_t v;
        if (node_int(c, node, &v) != 0 || v < 0) {
            cerr(c, WEIR_ECONFIG, path, node,
                 "timestamp must be a non-negative integer (ms since the epoch)");
            return;
        }
        k->starting_offsets = WEIR_START_TIMESTAMP;
        k->starting_timestamp_ms = v;
        return;
    }
    if (nd->type != WEIR_JSON_OBJ) {
        cerr(c, WEIR_ECONFIG, path, node,
             "expected \"earliest\", \"latest\", an object of offsets per partition or a timestamp");
        return;
    }
    bool bad = false;
    for (uint32_t t = nd->child; t != WEIR_JSON_NONE; t = N(c, N(c, t)->next)->next) {
        uint32_t parts = N(c, t)->next;
        char *topic = node_str(c, t, path);
        if (topic == NULL) {
            bad = true;
            continue;
        }
        char *tp = path_key(path, topic);
        weir_free(topic);
        if (tp == NULL) {
            cerr(c, WEIR_ENOMEM, path, t, "out of memory");
            bad = true;
            continue;
        }
        if (N(c, parts)->type != WEIR_JSON_OBJ) {
            cerr(c, WEIR_ECONFIG, tp, parts, "expected an object {\"partition\": offset}");
            bad = true;
        } else {
            for (uint32_t p = N(c, parts)->child; p != WEIR_JSON_NONE; p = N(c, N(c, p)->next)->next) {
                uint32_t off = N(c, p)->next;
                char *ps = node_str(c, p, tp);
                int64_t pn, ov;
                if (ps == NULL) {
                    bad = true;
                    continue;
                }
                char *pp = path_key(tp, ps);
                if (parse_int_text(ps, &pn) != 0 || pn < 0 || pn > INT32_MAX) {
                    cerr(c, WEIR_ECONFIG, pp ? pp : tp, p, "partition must be a non-negative integer");
                    bad = true;
                } else if (node_int(c, off, &ov) != 0 || ov < -2) {
                    cerr(c, WEIR_ECONFIG, pp ? pp : tp, off, "offset must be an integer >= -2");
                    bad = true;
                }
                weir_free(ps);
                weir_free(pp);
            }
        }
        weir_free(tp);
    }
    if (bad)
        return;
    k->starting_offsets_json = weir_strndup(c->text + nd->start, nd->len);
    if (k->starting_offsets_json == NULL)
        cerr(c, WEIR_ENOMEM, path, node, "out of memory");
    else
        k->starting_offsets = WEIR_START_JSON;
}

/* Convert a present value (node) for option o into base. */
static void set_value(struct cctx *c, const struct opt *o, const char *pat, const char *path, uint32_t node,
                      char *base)
{
    const struct weir_json_node *nd = N(c, node);
    void *field = base + o->off;
    bool ok = true;
    char cpat[256];
    switch (o->type) {
    case T_BOOL:
        if (nd->type != WEIR_JSON_TRUE && nd->type != WEIR_JSON_FALSE) {
            cerr(c, WEIR_ECONFIG, path, node, "expected true or false");
            return;
        }
        *(bool *)field = nd->type == WEIR_JSON_TRUE;
        break;
    case T_INT: {
        int64_t v;
        int rc = node_int(c, node, &v);
        if (rc != 0) {
            cerr(c, WEIR_ECONFIG, path, node,
                 rc == WEIR_ERANGE ? "integer out of range" : "expected an integer");
            return;
        }
        check_bounds(c, o, path, node, v, &ok);
        if (!ok)
            return;
        *(int64_t *)field = v;
        break;
    }
    case T_SIZE:
    case T_DURATION: {
        int64_t v = 0;
        int rc;
        if (o->type == T_SIZE && nd->type == WEIR_JSON_NUM) {
            rc = node_int(c, node, &v);
        } else if (nd->type == WEIR_JSON_STR) {
            char *s = node_str(c, node, path);
            if (s == NULL)
                return;
            rc = o->type == T_SIZE ? weir_parse_size(s, &v) : weir_parse_duration(s, &v);
            weir_free(s);
        } else {
            rc = WEIR_EINVAL;
        }
        if (rc != 0) {
            if (o->type == T_SIZE)
                cerr(c, WEIR_ECONFIG, path, node,
                     "expected a size like \"128MB\", \"64KiB\", \"1GB\" or a number of bytes");
            else
                cerr(c, WEIR_ECONFIG, path, node,
                     "expected a duration like \"250ms\", \"5s\", \"10 minutes\", \"1 hour\", \"2h\"");
            return;
        }
        check_bounds(c, o, path, node, v, &ok);
        if (!ok)
            return;
        *(int64_t *)field = v;
        break;
    }
    case T_STRING:
    case T_SCHEMA: {
        if (nd->type != WEIR_JSON_STR) {
            cerr(c, WEIR_ECONFIG, path, node, "expected a string");
            return;
        }
        char *s = node_str(c, node, path);
        if (s == NULL)
            return;
        if (s[0] == '\0' && (o->flags & F_NONEMPTY || o->type == T_SCHEMA)) {
            cerr(c, WEIR_ECONFIG, path, node, "must not be empty");
            weir_free(s);
            return;
        }
        if (o->type == T_SCHEMA) {
            struct weir_type *t = NULL;
            struct weir_error e = {0};
            int rc = weir_schema_parse(s, &t, &e);
            weir_type_destroy(t);
            if (rc != 0) /* kept, so object validators see it was given (the config fails anyway) */
                cerr(c, rc == WEIR_ENOMEM ? WEIR_ENOMEM : WEIR_ECONFIG, path, node, "invalid schema: %s",
                     e.message[0] ? e.message : weir_strerror(rc));
        }
        weir_free(*(char **)field);
        *(char **)field = s;
        break;
    }
    case T_ENUM: {
        if (nd->type != WEIR_JSON_STR) {
            cerr(c, WEIR_ECONFIG, path, node, "expected one of: %s", o->choices);
            return;
        }
        char *s = node_str(c, node, path);
        if (s == NULL)
            return;
        int idx = enum_index(o->choices, s);
        if (idx < 0) {
            if (is_secret(o))
                cerr(c, WEIR_ECONFIG, path, node, "expected one of: %s", o->choices);
            else
                cerr(c, WEIR_ECONFIG, path, node, "\"%.100s\" is not one of: %s", s, o->choices);
            weir_free(s);
            return;
        }
        weir_free(s);
        *(int *)field = idx;
        break;
    }
    case T_LIST: {
        size_t cnt = 0;
        char **v = str_list(c, o, path, node, &cnt);
        if (v == NULL)
            return;
        *(char ***)field = v;
        *(size_t *)(base + o->off2) = cnt;
        break;
    }
    case T_PROPS:
        set_props(c, path, node, base, o);
        return;
    case T_STARTOFF:
        set_startoff(c, path, node, base, o);
        return;
    case T_OBJ:
        opt_pattern(o, cpat, sizeof(cpat), false);
        walk_obj(c, o, cpat, path, node, base + o->off);
        break;
    case T_OBJLIST: {
        if (nd->type != WEIR_JSON_ARR) {
            cerr(c, WEIR_ECONFIG, path, node, "expected a list of objects");
            return;
        }
        if (nd->count == 0 && (o->flags & F_NONEMPTY)) {
            cerr(c, WEIR_ECONFIG, path, node, "must not be empty");
            return;
        }
        char *arr = weir_calloc(nd->count ? nd->count : 1, o->elsize);
        if (arr == NULL) {
            cerr(c, WEIR_ENOMEM, path, node, "out of memory");
            return;
        }
        *(char **)field = arr;
        *(size_t *)(base + o->off2) = nd->count;
        opt_pattern(o, cpat, sizeof(cpat), true);
        size_t k = 0;
        for (uint32_t e = nd->child; e != WEIR_JSON_NONE; e = N(c, e)->next, k++) {
            char *ep = weir_asprintf("%s[%zu]", path, k);
            if (ep == NULL) {
                cerr(c, WEIR_ENOMEM, path, e, "out of memory");
                continue;
            }
            walk_obj(c, o, cpat, ep, e, arr + k * o->elsize);
            weir_free(ep);
        }
        break;
    }
    }
    if (o->check != NULL) {
        const char *msg = o->check(o, field);
        if (msg != NULL) {
            cerr(c, o->flags & F_UNSUPPORTED ? WEIR_EUNSUPPORTED : WEIR_ECONFIG, path, node, "%s", msg);
            return;
        }
    }
    if (o->flags & F_KIND)
        *(int *)(base + o->kind_off) = o->kind_val;
}

/* Apply a default written as config text (e.g. "128MB") to field. */
static void set_default(const struct opt *o, char *base)
{
    void *field = base + o->off;
    int64_t v = 0;
    switch (o->type) {
    case T_BOOL:
        *(bool *)field = strcmp(o->def, "true") == 0;
        break;
    case T_INT:
        if (parse_int_text(o->def, &v) == 0)
            *(int64_t *)field = v;
        break;
    case T_SIZE:
        if (weir_parse_size(o->def, &v) == 0)
            *(int64_t *)field = v;
        break;
    case T_DURATION:
        if (weir_parse_duration(o->def, &v) == 0)
            *(int64_t *)field = v;
        break;
    case T_ENUM:
        *(int *)field = enum_index(o->choices, o->def);
        break;
    case T_STARTOFF:
        *(int *)field = strcmp(o->def, "\"earliest\"") == 0 ? WEIR_START_EARLIEST : WEIR_START_LATEST;
        break;
    case T_STRING:
        if (*(char **)field == NULL)
            *(char **)field = weir_strdup(o->def); /* NULL when out of memory: readers fall back */
        break;
    default:
        break; /* lists and objects have no defaults */
    }
}

/* Defaults of an absent optional object ("log" left out) and its plain sub-objects. */
static void apply_defaults(const char *pat, char *base)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (strcmp(o->parent, pat) != 0)
            continue;
        if (o->def != NULL) {
            set_default(o, base);
        } else if (o->type == T_OBJ && !(o->flags & F_KIND)) {
            char cpat[256];
            opt_pattern(o, cpat, sizeof(cpat), false);
            apply_defaults(cpat, base + o->off);
        }
    }
}

static void walk_obj(struct cctx *c, const struct opt *self, const char *pat, const char *path, uint32_t node,
                     char *base)
{
    const struct weir_json_node *nd = N(c, node);
    if (nd->type != WEIR_JSON_OBJ) {
        cerr(c, WEIR_ECONFIG, path, node, "expected an object");
        return;
    }
    /* 1. every key must be a row (and appear once) */
    size_t known = 0;
    for (uint32_t k = nd->child; k != WEIR_JSON_NONE; k = N(c, N(c, k)->next)->next) {
        char *key = node_str(c, k, path);
        if (key == NULL)
            continue;
        char *kp = path_key(path, key);
        const struct opt *o = find_opt(pat, key);
        if (kp == NULL) {
            cerr(c, WEIR_ENOMEM, path, k, "out of memory");
        } else if (o == NULL) {
            const char *s = suggest(pat, key);
            if (s)
                cerr(c, WEIR_ECONFIG, kp, k, "unknown key (did you mean %s?)", s);
            else
                cerr(c, WEIR_ECONFIG, kp, k, "unknown key");
        } else if (o->flags & F_UNSUPPORTED) {
            cerr(c, WEIR_EUNSUPPORTED, kp, k, "not supported yet");
        } else {
            known++;
            for (uint32_t d = N(c, N(c, k)->next)->next; d != WEIR_JSON_NONE; d = N(c, N(c, d)->next)->next) {
                const struct weir_json_node *dn = N(c, d);
                if (dn->len == N(c, k)->len &&
                    memcmp(c->text + dn->start, c->text + N(c, k)->start, dn->len) == 0) {
                    cerr(c, WEIR_ECONFIG, kp, d, "duplicate key");
                    break;
                }
            }
        }
        weir_free(kp);
        weir_free(key);
    }
    if (self != NULL && (self->flags & F_ONEOF) && known != 1 && nd->count == known) {
        struct weir_buf names;
        weir_buf_init(&names);
        for (size_t i = 0; i < NOPTS; i++)
            if (strcmp(opts[i].parent, pat) == 0 && !(opts[i].flags & F_UNSUPPORTED))
                weir_buf_printf(&names, "%s%s", names.len ? ", " : "", opts[i].key);
        cerr(c, WEIR_ECONFIG, path, node, "expected exactly one of: %s",
             names.data ? (const char *)names.data : "");
        weir_buf_free(&names);
    }
    /* 2. every row: value, default or "required" */
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (strcmp(o->parent, pat) != 0 || (o->flags & F_UNSUPPORTED))
            continue;
        uint32_t val = WEIR_JSON_NONE;
        for (uint32_t k = nd->child; k != WEIR_JSON_NONE; k = N(c, N(c, k)->next)->next) {
            const struct weir_json_node *kn = N(c, k);
            size_t kl = strlen(o->key);
            bool match = !kn->esc && kn->len == kl && memcmp(c->text + kn->start, o->key, kl) == 0;
            if (kn->esc) { /* rare: "na\u006de"; errors were reported in step 1 */
                struct weir_buf kb;
                weir_buf_init(&kb);
                match = weir_json_unescape(c->text + kn->start, kn->len, WEIR_JSON_UNESCAPE_NO_NUL, &kb,
                                           NULL) == 0 &&
                        kb.len == kl && memcmp(kb.data, o->key, kl) == 0;
                weir_buf_free(&kb);
            }
            if (match) {
                val = kn->next;
                break;
            }
        }
        char *kp = path_key(path, o->key);
        if (kp == NULL) {
            cerr(c, WEIR_ENOMEM, path, node, "out of memory");
            continue;
        }
        if (val != WEIR_JSON_NONE)
            set_value(c, o, pat, kp, val, base);
        else if (o->flags & F_REQUIRED)
            cerr(c, WEIR_ECONFIG, kp, node, "required key missing");
        else if (o->def != NULL)
            set_default(o, base);
        else if (o->type == T_OBJ && !(o->flags & F_KIND)) {
            char cpat[256];
            opt_pattern(o, cpat, sizeof(cpat), false);
            apply_defaults(cpat, base + o->off);
        }
        weir_free(kp);
    }
    if (self != NULL && self->post != NULL && (self->type == T_OBJ || self->type == T_OBJLIST))
        self->post(c, path, base);
}

static void post_kafka(struct cctx *c, const char *path, void *base)
{
    struct weir_config_kafka *k =
        (struct weir_config_kafka *)((char *)base + offsetof(struct weir_config_pipeline, kafka));
    if ((k->topics != NULL) == (k->topic_pattern != NULL))
        cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE, "exactly one of topics, topic_pattern is required");
    if (k->min_offsets_per_trigger > 0 && k->max_offsets_per_trigger > 0 &&
        k->min_offsets_per_trigger > k->max_offsets_per_trigger)
        cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE,
             "min_offsets_per_trigger must not exceed max_offsets_per_trigger");
}

static void post_decode(struct cctx *c, const char *path, void *base)
{
    struct weir_config_decode *d = &((struct weir_config_step *)base)->decode;
    if (d->on_error == WEIR_ON_ERROR_DEAD_LETTER && d->dead_letter_path == NULL)
        cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE, "on_error \"dead_letter\" needs dead_letter_path");
    if (d->format == WEIR_DECODE_JSON && d->schema == NULL)
        cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE, "format \"json\" needs schema");
    if (d->format == WEIR_DECODE_DEBEZIUM) {
        if (d->on_error == WEIR_ON_ERROR_RESCUE && d->dead_letter_path == NULL)
            cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE,
                 "format \"debezium-json\" needs dead_letter_path for change events that cannot be applied "
                 "(values that do not fit go to _rescued_data), or on_error \"fail\"");
        if (d->nkeep > 0)
            cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE,
                 "keep is not available with format \"debezium-json\"");
    } else if (d->tombstones != 0) {
        cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE, "tombstones applies to format \"debezium-json\" only");
    }
}

static void post_files(struct cctx *c, const char *path, void *base)
{
    const struct weir_config_files *f = &((struct weir_config_pipeline *)base)->files;
    if (f->clean_source == 2 && !f->clean_source_move_destination)
        cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE,
             "clean_source \"move\" needs clean_source_move_destination");
    if (f->clean_source_move_destination && f->path) {
        size_t n = strlen(f->path);
        while (n > 0 && f->path[n - 1] == '/')
            n--;
        const char *d = f->clean_source_move_destination;
        if (strncmp(d, f->path, n) == 0 && (d[n] == '/' || d[n] == 0))
            cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE,
                 "clean_source_move_destination must be outside path (moved files would be found again)");
    }
    if (f->schema && f->schema_hints)
        cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE,
             "schema_hints adjusts an inferred schema; with schema given, write the types there");
    if (f->csv_delimiter && f->csv_quote && f->csv_delimiter[0] == f->csv_quote[0])
        cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE, "delimiter and quote must differ");
}

static void post_watermark(struct cctx *c, const char *path, void *base)
{
    struct weir_config_watermark *w = &((struct weir_config_step *)base)->watermark;
    if (w->late_rows == WEIR_LATE_DEAD_LETTER && w->dead_letter_path == NULL)
        cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE, "late_rows \"dead_letter\" needs dead_letter_path");
}

static void post_window(struct cctx *c, const char *path, void *base)
{
    struct weir_config_window *w = &((struct weir_config_step *)base)->aggregate.window;
    if ((w->size_ms > 0) == (w->gap_ms > 0))
        cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE,
             "needs exactly one of size (tumbling or sliding) and gap (session)");
    else if (w->slide_ms > 0 && w->gap_ms > 0)
        cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE,
             "slide applies to sliding windows (size), not to sessions (gap)");
    else if (w->slide_ms > 0 && (w->slide_ms > w->size_ms || w->size_ms % w->slide_ms != 0))
        cerr(c, WEIR_ECONFIG, path, WEIR_JSON_NONE, "slide must divide size (size %lld ms, slide %lld ms)",
             (long long)w->size_ms, (long long)w->slide_ms);
}

/* How the steps of a pipeline fit together and with its sink. */
/* The dead-letter table a step writes, or NULL. */
static const char *dead_letter_path(const struct weir_config_step *s)
{
    if (s->kind == WEIR_STEP_DECODE &&
        (s->decode.on_error == WEIR_ON_ERROR_DEAD_LETTER ||
         (s->decode.format == WEIR_DECODE_DEBEZIUM && s->decode.on_error != WEIR_ON_ERROR_FAIL)))
        return s->decode.dead_letter_path;
    if (s->kind == WEIR_STEP_WATERMARK && s->watermark.late_rows == WEIR_LATE_DEAD_LETTER)
        return s->watermark.dead_letter_path;
    return NULL;
}

static void post_pipeline(struct cctx *c, const char *path, void *base)
{
    const struct weir_config_pipeline *p = base;
    char sp[96];
    ptrdiff_t wm = -1, agg = -1;
    for (size_t i = 0; i < p->nsteps; i++) {
        const struct weir_config_step *s = &p->steps[i];
        snprintf(sp, sizeof(sp), "%s.transform[%zu]", path, i);
        if (s->kind == WEIR_STEP_DECODE && s->decode.format == WEIR_DECODE_DEBEZIUM && p->nsteps != 1)
            cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE,
                 "a debezium-json decode must be the only transform step (its batches go to the sink as "
                 "they are, one per source table)");
        switch (s->kind) {
        case WEIR_STEP_WATERMARK:
            if (wm >= 0)
                cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE, "a second watermark (the first is transform[%td])",
                     wm);
            else if (agg >= 0)
                cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE, "the watermark must come before the aggregate");
            wm = (ptrdiff_t)i;
            break;
        case WEIR_STEP_DEDUP:
            if (agg >= 0)
                cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE, "dedup must come before the aggregate");
            else if (s->dedup.within_watermark && wm < 0)
                cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE,
                     "within_watermark needs a watermark step before it");
            else if (wm < 0 && s->dedup.ttl_ms == 0 && !s->dedup.unbounded)
                cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE,
                     "dedup state would grow without bound: add a watermark step before it, set ttl, or set "
                     "unbounded: true");
            break;
        case WEIR_STEP_AGGREGATE: {
            const struct weir_config_aggregate *a = &s->aggregate;
            if (agg >= 0) {
                cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE, "a second aggregate (the first is transform[%td])",
                     agg);
                break;
            }
            agg = (ptrdiff_t)i;
            if (a->output == WEIR_OUTPUT_APPEND && (wm < 0 || a->window.column == NULL))
                cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE,
                     "output \"append\" emits a window once the watermark passes its end: it needs a window "
                     "and a watermark step before the aggregate (or use output update or complete)");
            if (a->output == WEIR_OUTPUT_UPDATE && a->window.gap_ms > 0)
                cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE,
                     "output \"update\" is not available for session windows (a session's start moves when "
                     "sessions merge); use append or complete");
            if (p->sink == WEIR_SINK_DELTA) {
                static const int want[] = {WEIR_MODE_APPEND, WEIR_MODE_MERGE, WEIR_MODE_COMPLETE};
                static const char *const names[] = {"append", "merge", "complete"};
                static const char *const outs[] = {"append", "update", "complete"};
                if (p->delta.mode != want[a->output])
                    cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE,
                         "output \"%s\" needs sink.delta.mode \"%s\" (it is \"%s\")", outs[a->output],
                         names[want[a->output]], names[p->delta.mode]);
            }
            break;
        }
        default:
            break;
        }
    }
    /* each dead-letter table is written with the query's txn appId: two
     * writers of one table would take each other's batches as done */
    for (size_t i = 0; i < p->nsteps; i++) {
        const char *di = dead_letter_path(&p->steps[i]);
        if (di == NULL)
            continue;
        snprintf(sp, sizeof(sp), "%s.transform[%zu]", path, i);
        if (p->sink == WEIR_SINK_DELTA && p->delta.path && strcmp(di, p->delta.path) == 0)
            cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE, "dead_letter_path must not be the sink's table");
        for (size_t j = 0; j < i; j++) {
            const char *dj = dead_letter_path(&p->steps[j]);
            if (dj && strcmp(di, dj) == 0)
                cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE,
                     "dead_letter_path is also transform[%zu]'s; each step needs its own table", j);
        }
    }
    if (p->sink == WEIR_SINK_DELTA) {
        snprintf(sp, sizeof(sp), "%s.sink.delta.mode", path);
        if (p->delta.mode == WEIR_MODE_COMPLETE && agg < 0)
            cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE,
                 "\"complete\" needs an aggregate step with output complete");
        bool dbz = p->nsteps == 1 && p->steps[0].kind == WEIR_STEP_DECODE &&
                   p->steps[0].decode.format == WEIR_DECODE_DEBEZIUM;
        if (p->delta.mode == WEIR_MODE_MERGE && agg < 0 && p->delta.nkeys == 0 && !dbz)
            cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE,
                 "\"merge\" needs keys (or an aggregate step with output update, or a debezium-json decode)");
        snprintf(sp, sizeof(sp), "%s.sink.delta", path);
        if ((p->delta.path == NULL) == (p->delta.path_template == NULL))
            cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE, "needs exactly one of path, table_path_template");
        if (p->delta.path_template && !dbz)
            cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE,
                 "table_path_template names tables by their source: it needs a debezium-json decode");
        if (weir_sink_is_cdc(p) && (p->delta.mode != WEIR_MODE_MERGE || agg >= 0))
            cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE,
                 "change data (sequence_by, apply_as_deletes, apply_as_truncates, except_columns, scd_type, "
                 "delete_mode, a debezium-json decode) needs mode \"merge\" and no aggregate step");
        if (p->delta.scd_type == 2 && (weir_sink_cdc_nseq(p) != 1))
            cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE, "scd_type 2 needs exactly one sequence_by column");
        if (p->delta.scd_type == 2 && p->delta.delete_mode == 1)
            cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE,
                 "delete_mode \"soft\" applies to scd_type 1 (scd_type 2 ends the current version)");
        if (p->delta.nkeys > 0 && p->delta.mode != WEIR_MODE_MERGE) {
            snprintf(sp, sizeof(sp), "%s.sink.delta.keys", path);
            cerr(c, WEIR_ECONFIG, sp, WEIR_JSON_NONE, "keys apply to mode \"merge\" only");
        }
    }
}

/* After the pipelines list: names unique. (base is the pipelines' parent, the config.) */
static void post_root(struct cctx *c, const char *path, void *base)
{
    struct weir_config *cfg = base;
    for (size_t i = 0; i < cfg->npipelines; i++) {
        for (size_t j = 0; j < i; j++) {
            const char *a = cfg->pipelines[i].name, *b = cfg->pipelines[j].name;
            if (a && b && strcmp(a, b) == 0) {
                char p[64];
                snprintf(p, sizeof(p), "pipelines[%zu].name", i);
                cerr(c, WEIR_ECONFIG, p, WEIR_JSON_NONE, "duplicate pipeline name (also pipelines[%zu])", j);
                break;
            }
        }
    }
}

/* ---- destroy: driven by the same table ---- */

static void free_obj(const char *pat, char *base)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (strcmp(o->parent, pat) != 0)
            continue;
        char cpat[256];
        switch (o->type) {
        case T_STRING:
        case T_SCHEMA:
            weir_free(*(char **)(base + o->off));
            break;
        case T_STARTOFF:
            weir_free(((struct weir_config_kafka *)(base + o->off -
                                                    offsetof(struct weir_config_kafka, starting_offsets)))
                          ->starting_offsets_json);
            break;
        case T_LIST:
        case T_PROPS: {
            char **v = *(char ***)(base + o->off);
            size_t n = *(size_t *)(base + o->off2) * (o->type == T_PROPS ? 2 : 1);
            for (size_t j = 0; v && j < n; j++)
                weir_free(v[j]);
            weir_free(v);
            break;
        }
        case T_OBJ:
            opt_pattern(o, cpat, sizeof(cpat), false);
            free_obj(cpat, base + o->off);
            break;
        case T_OBJLIST: {
            char *arr = *(char **)(base + o->off);
            size_t n = *(size_t *)(base + o->off2);
            opt_pattern(o, cpat, sizeof(cpat), true);
            for (size_t j = 0; arr && j < n; j++)
                free_obj(cpat, arr + j * o->elsize);
            weir_free(arr);
            break;
        }
        default:
            break;
        }
    }
}

void weir_config_destroy(struct weir_config *cfg)
{
    if (cfg == NULL)
        return;
    free_obj("", (char *)cfg);
    weir_free(cfg);
}

int weir_config_parse(const char *json, size_t n, const char *file, struct weir_config **out,
                      struct weir_error_list *errors)
{
    *out = NULL;
    struct cctx c = {.text = json, .n = n, .errors = errors};
    struct weir_json_perr pe = {0};
    if (n >= UINT32_MAX) {
        weir_error_list_add(errors, WEIR_EPARSE, "", 0, 0, "%s: config too large", file ? file : "<config>");
        return WEIR_EPARSE;
    }
    int rc = weir_json_parse(&c.doc, json, n, 0, WEIR_JTOK_CHECK_UTF8, 64, NULL, &pe);
    if (rc != 0) {
        unsigned line, col;
        pos_linecol(json, n, pe.pos, &line, &col);
        weir_json_doc_free(&c.doc);
        if (rc == WEIR_JTOK_ENOMEM) {
            weir_error_list_add(errors, WEIR_ENOMEM, "", 0, 0, "out of memory");
            return WEIR_ENOMEM;
        }
        weir_error_list_add(errors, WEIR_EPARSE, "", line, col, "%s:%u:%u: malformed JSON: %s",
                            file ? file : "<config>", line, col, weir_jtok_strerror(rc));
        return WEIR_EPARSE;
    }
    struct weir_config *cfg = weir_calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        weir_json_doc_free(&c.doc);
        weir_error_list_add(errors, WEIR_ENOMEM, "", 0, 0, "out of memory");
        return WEIR_ENOMEM;
    }
    walk_obj(&c, NULL, "", "", 0, (char *)cfg);
    /* the root's post check runs after the list so every name is known */
    if (cfg->pipelines != NULL)
        post_root(&c, "", cfg);
    weir_json_doc_free(&c.doc);
    if (c.nerr > 0) {
        weir_config_destroy(cfg);
        return c.oom ? WEIR_ENOMEM : WEIR_ECONFIG;
    }
    *out = cfg;
    return 0;
}

/* ---- help and docs: the same table ---- */

static int opt_full(const struct opt *o, char *out, size_t cap)
{
    return snprintf(out, cap, "%s%s%s%s", o->parent, o->parent[0] ? "." : "", o->key,
                    o->type == T_OBJLIST ? "[]" : "");
}

static void type_text(const struct opt *o, char *out, size_t cap)
{
    if (o->type == T_ENUM) {
        snprintf(out, cap, "%s", o->choices);
    } else {
        snprintf(out, cap, "%s", type_name(o->type));
    }
}

int weir_config_help(struct weir_buf *b)
{
    int rc =
        weir_buf_append_str(b, "weir configuration (JSON). Durations: \"250ms\", \"5s\", \"10 minutes\", "
                               "\"1 hour\", \"2h\". Sizes: \"128MB\", \"64KiB\", \"1GB\" (1024-based) or "
                               "bytes.\n\n");
    for (size_t i = 0; rc == 0 && i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        char full[256], ty[128];
        opt_full(o, full, sizeof(full));
        type_text(o, ty, sizeof(ty));
        rc = weir_buf_printf(b, "%s  (%s%s%s%s%s%s)\n    %s\n", full, ty,
                             o->flags & F_REQUIRED ? ", required" : "", o->flags & F_SECRET ? ", secret" : "",
                             o->def ? ", default " : "", o->def ? o->def : "",
                             o->flags & F_UNSUPPORTED ? ", not supported yet" : "", o->desc);
    }
    return rc;
}

static int doc_row(struct weir_buf *b, const struct opt *o)
{
    char ty[128];
    type_text(o, ty, sizeof(ty));
    char tyesc[160];
    size_t k = 0;
    for (const char *p = ty; *p && k + 2 < sizeof(tyesc); p++) {
        if (*p == '|') {
            tyesc[k++] = ',';
            tyesc[k++] = ' ';
        } else {
            tyesc[k++] = *p;
        }
    }
    tyesc[k] = '\0';
    return weir_buf_printf(b, "| `%s%s` | %s%s%s%s | %s%s%s | %s |\n", o->key,
                           o->type == T_OBJLIST ? "[]" : "", tyesc, o->flags & F_REQUIRED ? ", required" : "",
                           o->flags & F_SECRET ? ", secret" : "",
                           o->flags & F_UNSUPPORTED ? ", not supported yet" : "", o->def ? "`" : "",
                           o->def ? o->def : "", o->def ? "`" : "", o->desc);
}

int weir_config_doc_markdown(struct weir_buf *b)
{
    int rc = weir_buf_append_str(
        b,
        "# Configuration reference\n\n"
        "<!-- Generated from the option table in stream/config.c by weir_config_doc_markdown();\n"
        "     do not edit by hand: tests/unit/test_stream_config.c fails when this file drifts.\n"
        "     Regenerate with WEIR_UPDATE_DOCS=1 ./test_stream_config. -->\n\n"
        "A weir config is one JSON file with a `pipelines` list and optional `http` and `log` blocks.\n"
        "`weir validate CONFIG` reports every error with its key path; `weir --help-config` prints this\n"
        "table. Unknown keys are errors.\n\n"
        "- **duration**: `\"250ms\"`, `\"5s\"`, `\"10 minutes\"`, `\"1 hour\"`, `\"2h\"` (units ms, s, m, h, "
        "d "
        "and their English names).\n"
        "- **size**: `\"128MB\"`, `\"64KiB\"`, `\"1GB\"` (KB, MB, GB, TB are 1024-based, like Spark) or a "
        "number of bytes.\n"
        "- **schema**: Spark DDL (`\"id LONG, user STRING, tags ARRAY<STRING>\"`) or Delta schema JSON.\n"
        "- **secret**: the value is never logged or echoed in errors.\n"
        "- Objects marked *one of* hold exactly one of their keys.\n\n"
        "The default trigger is `{\"interval\": \"0s\"}`, Spark's default processing-time trigger: the next "
        "batch\nstarts as soon as the previous one ends (and none runs while there is no new data).\n");
    for (size_t si = 0; rc == 0 && si < NOPTS; si++) {
        const char *section = opts[si].parent;
        bool seen = false;
        for (size_t j = 0; j < si; j++)
            if (strcmp(opts[j].parent, section) == 0)
                seen = true;
        if (seen)
            continue; /* one section per parent, in order of first appearance */
        const struct opt *sec = NULL;
        for (size_t j = 0; j < NOPTS; j++) {
            char full[256];
            opt_full(&opts[j], full, sizeof(full));
            if (strcmp(full, section) == 0)
                sec = &opts[j];
        }
        rc = weir_buf_printf(b, "\n## `%s`%s\n\n| key | type | default | description |\n|---|---|---|---|\n",
                             section[0] ? section : "(top level)",
                             sec && (sec->flags & F_ONEOF) ? " (one of)" : "");
        for (size_t i = si; rc == 0 && i < NOPTS; i++) {
            const struct opt *o = &opts[i];
            if (strcmp(o->parent, section) == 0)
                rc = doc_row(b, o);
        }
    }
    return rc;
}

int weir_config_read_file(const char *path, struct weir_buf *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return -errno;
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (weir_buf_append(out, chunk, n) < 0) {
            rc = -ENOMEM;
            break;
        }
    if (rc == 0 && ferror(f))
        rc = -EIO;
    if (f != stdin)
        fclose(f);
    return rc;
}
