/* cli/table.c - `weir table describe|history|scan|import|optimize|checkpoint`.
 *
 * Owns: argument parsing and output formatting of the table tools. All
 * table access goes through delta/delta.h, input files through
 * storage/storage.h, JSON lines through formats/json.h. Results go to
 * stdout (scan output is buffered and written in large blocks); errors to
 * stderr via cli.h. Single-threaded; every command frees what it took
 * before returning its exit code.
 *
 * Import reads its input files in chunks cut at line boundaries, decodes
 * them into a batch of at most IMPORT_BATCH_ROWS rows and hands each full
 * batch to one streaming Delta writer (which writes data files as rows
 * arrive), so memory stays bounded whatever the input size and the whole
 * import is still ONE commit (all or nothing: a failure aborts the writer,
 * which deletes the files written so far). Optimize prints one JSON line. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "core/units.h"
#include "core/alloc.h"
#include "core/batch.h"
#include "core/buf.h"
#include "core/types.h"
#include "delta/delta.h"
#include "formats/json.h"
#include "formats/parquet/parquet.h"
#include "storage/storage.h"
#include "stream/config.h"

#define IMPORT_BATCH_ROWS  65536
#define IMPORT_CHUNK_BYTES (8u << 20)
#define SCAN_FLUSH_BYTES   (1u << 20)
#define SCAN_STOP          1 /* positive: the scan callback asks to stop, not an error */

static const char table_usage[] =
    "usage: weir table <command> PATH [options]\n"
    "\n"
    "PATH is a Delta table directory (or file:// URI).\n"
    "\n"
    "  describe PATH [--version N] [--json]\n"
    "      Version, protocol, id, partition columns, number of live files, total\n"
    "      size, row count (when every file has stats), configuration, schema.\n"
    "  history PATH [--limit N] [--json]\n"
    "      One line per commit, newest first: version, timestamp (UTC),\n"
    "      operation, operation parameters and metrics (from commitInfo),\n"
    "      tab-separated; --json prints one JSON object per line.\n"
    "  scan PATH [--version N | --timestamp TS] [--columns a,b] [--limit N]\n"
    "      Print the rows as JSON lines: timestamps ISO-8601 UTC with 6 fraction\n"
    "      digits, decimals as strings, binary as base64, NaN/Infinity as strings.\n"
    "      TS is ISO-8601 (\"2024-01-02T03:04:05Z\") or milliseconds since epoch.\n"
    "  import PATH [--format jsonl] FILE... [--schema DDL-or-JSON]\n"
    "         [--partition-by col[,col]] [--codec snappy|zstd|gzip|none] [--infer-timestamps]\n"
    "      Append the JSON lines of every FILE ('-': standard input) as one commit.\n"
    "      Creates the table when absent, with --schema or else a schema inferred\n"
    "      from the input (integers -> long, other numbers -> double, mixed ->\n"
    "      string; ISO-8601 strings become timestamp/date only with\n"
    "      --infer-timestamps). An existing table keeps its schema and partitioning.\n"
    "  optimize PATH [--target-size SIZE] [--min-file-size SIZE] [--where PREDICATE]\n"
    "         [--codec snappy|zstd|gzip|none]\n"
    "      Compact small files: per partition, files smaller than --min-file-size\n"
    "      (default 3/4 of the target) are rewritten into files of about\n"
    "      --target-size (default 128MB) in one commit with dataChange=false,\n"
    "      which concurrent appends never conflict with. Prints one JSON line:\n"
    "      {\"path\", \"version\" (-1: nothing to do), \"filesRemoved\", \"filesAdded\",\n"
    "      \"bytesRemoved\", \"bytesAdded\", \"rows\"}. SIZE: 128MB, 64KiB, 1048576.\n"
    "      --where limits it to the partitions matching a SQL predicate over\n"
    "      partition columns (\"day >= '2024-03-01'\"). --codec: of the new files\n"
    "      (default snappy).\n"
    "  vacuum PATH [--retain DURATION] [--dry-run] [--force]\n"
    "      Delete data files the table no longer references (removed longer ago\n"
    "      than the retention, or never committed) and older than the retention\n"
    "      (default: delta.deletedFileRetentionDuration, 7 days). A retention below\n"
    "      the table's needs --force (only when no reader of old versions and no\n"
    "      writer runs). Logs VACUUM START/END commits; --dry-run deletes and\n"
    "      commits nothing. Prints {\"path\", \"dryRun\", \"files\", \"bytes\"}.\n"
    "  restore PATH (--version N | --timestamp TS)\n"
    "      Make an older version the latest again, as a new RESTORE commit\n"
    "      (removes and re-adds files; streaming writers' progress stays). Fails\n"
    "      naming the file if vacuum deleted one the version needs. Prints\n"
    "      {\"path\", \"version\", \"restoredVersion\", \"filesRemoved\",\n"
    "      \"filesRestored\", \"filesAfter\"}.\n"
    "  checkpoint PATH\n"
    "      Write a checkpoint of the latest version and point _last_checkpoint at it.\n"
    "\n"
    "Exit codes: 0 ok, 1 runtime failure, 2 bad usage.\n";

/* ------------------------------------------------------------ arguments */

/* The arguments every command but import ends its loop with: --help, an
 * unknown option, the one table PATH. Returns 0 to go on, 1 after printing
 * the help (exit OK) and -1 after a usage error put its code in *exit_code. */
static int common_arg(struct weir_cli_args *a, const char **path, int *exit_code)
{
    return weir_cli_last_arg(a, table_usage, path, exit_code);
}

/* Parses "[--json] [<opt> N] PATH" (describe, history; checkpoint takes PATH
 * alone: json and opt NULL). False when the command must end with
 * *exit_code: after --help (exit OK) or a usage error. */
static bool parse_path_args(struct weir_cli_args *a, bool *json, const char *opt, const char *need,
                            int64_t *n, const char **path, int *exit_code)
{
    for (; a->i < a->argc; a->i++) {
        int m;
        if (json != NULL && strcmp(a->argv[a->i], "--json") == 0) {
            *json = true;
        } else if (opt != NULL && (m = weir_cli_opt_count(a, opt, need, n, exit_code)) != 0) {
            if (m < 0)
                return false;
        } else if (common_arg(a, path, exit_code) != 0) {
            return false;
        }
    }
    if (*path == NULL) {
        *exit_code = weir_cli_usage_error(a->cmd, "missing table PATH");
        return false;
    }
    return true;
}

/* "a, b,c" -> array of trimmed names (one allocation block each). */
static int split_list(const char *s, char ***out, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    char **v = weir_calloc(cap, sizeof *v);
    size_t k = 0;
    if (v == NULL)
        return WEIR_ENOMEM;
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len > 0) {
            if ((v[k] = weir_strndup(p, len)) == NULL) {
                for (size_t j = 0; j < k; j++)
                    weir_free(v[j]);
                weir_free(v);
                return WEIR_ENOMEM;
            }
            k++;
        }
        if (e == NULL)
            break;
        p = e + 1;
    }
    *out = v;
    *n = k;
    return 0;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        weir_free(v[i]);
    weir_free(v);
}

/* ------------------------------------------------------------ output */

static int out_write(const void *p, size_t n)
{
    if (n > 0 && fwrite(p, 1, n, stdout) != n)
        return errno == EPIPE ? SCAN_STOP : WEIR_EIO;
    return 0;
}

static void human_size(int64_t bytes, char buf[32])
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, 32, "%" PRId64 " B", bytes);
    else
        snprintf(buf, 32, "%.1f %s", v, units[u]);
}

static void print_type_tree(struct weir_buf *o, const struct weir_type *t, int depth);

static void print_field_line(struct weir_buf *o, int depth, const char *name, const struct weir_type *t,
                             const char *nullword, bool nullable)
{
    for (int i = 0; i < depth; i++)
        weir_buf_append_str(o, " |   ");
    char *disp = NULL;
    const char *word;
    if (t->kind == WEIR_TYPE_STRUCT)
        word = "struct";
    else if (t->kind == WEIR_TYPE_ARRAY)
        word = "array";
    else if (t->kind == WEIR_TYPE_MAP)
        word = "map";
    else
        word = disp = weir_type_to_display(t);
    weir_buf_printf(o, " |-- %s: %s (%s = %s)\n", name, word ? word : "?", nullword,
                    nullable ? "true" : "false");
    weir_free(disp);
    print_type_tree(o, t, depth + 1);
}

static void print_type_tree(struct weir_buf *o, const struct weir_type *t, int depth)
{
    switch (t->kind) {
    case WEIR_TYPE_STRUCT:
        for (size_t i = 0; i < t->nfields; i++)
            print_field_line(o, depth, t->fields[i].name, t->fields[i].type, "nullable",
                             t->fields[i].nullable);
        break;
    case WEIR_TYPE_ARRAY:
        print_field_line(o, depth, "element", t->element, "containsNull", t->contains_null);
        break;
    case WEIR_TYPE_MAP:
        print_field_line(o, depth, "key", t->key, "nullable", false);
        print_field_line(o, depth, "value", t->value, "valueContainsNull", t->value_contains_null);
        break;
    default:
        break;
    }
}

static void json_str_array(struct weir_buf *o, char *const *v, size_t n)
{
    weir_buf_append_byte(o, '[');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            weir_buf_append_byte(o, ',');
        weir_cli_json_str(o, v[i]);
    }
    weir_buf_append_byte(o, ']');
}

/* ------------------------------------------------------------ common */

static int open_snapshot(const char *path, int64_t version, struct weir_delta_table **t,
                         struct weir_delta_snapshot **s, struct weir_error *err)
{
    int rc = weir_delta_table_open(t, path, err);
    if (rc == 0)
        rc = weir_delta_snapshot_load(*t, version, s, err);
    if (rc == WEIR_ENOTFOUND && err->message[0] == '\0')
        weir_error_set(err, rc, "%s: not a Delta table (no _delta_log commits)", path);
    return rc;
}

/* ------------------------------------------------------------ describe */

static int cmd_describe(struct weir_cli_args *a)
{
    const char *path = NULL;
    bool json = false;
    int64_t version = -1;
    struct weir_error err = {0};
    struct weir_delta_table *t = NULL;
    struct weir_delta_snapshot *s = NULL;
    struct weir_buf o;
    char *schema_json = NULL;
    int rc, exit_code = WEIR_EXIT_OK;
    weir_buf_init(&o);
    if (!parse_path_args(a, &json, "--version", "a version number >= 0", &version, &path, &exit_code))
        goto out;
    if ((rc = open_snapshot(path, version, &t, &s, &err)) != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    const struct weir_delta_protocol *p = weir_delta_snapshot_protocol(s);
    const struct weir_delta_metadata *md = weir_delta_snapshot_metadata(s);
    int64_t bytes = weir_delta_snapshot_total_bytes(s), rows = weir_delta_snapshot_total_rows(s);
    size_t nfiles = weir_delta_snapshot_num_files(s);
    schema_json = weir_schema_to_json(md->schema);
    if (schema_json == NULL) {
        exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
        goto out;
    }
    if (json) {
        weir_buf_append_str(&o, "{\"path\":");
        weir_cli_json_str(&o, path);
        weir_buf_printf(
            &o, ",\"version\":%" PRId64 ",\"protocol\":{\"minReaderVersion\":%d,\"minWriterVersion\":%d",
            weir_delta_snapshot_version(s), (int)p->min_reader_version, (int)p->min_writer_version);
        if (p->has_reader_features) {
            weir_buf_append_str(&o, ",\"readerFeatures\":");
            json_str_array(&o, p->reader_features, p->n_reader_features);
        }
        if (p->has_writer_features) {
            weir_buf_append_str(&o, ",\"writerFeatures\":");
            json_str_array(&o, p->writer_features, p->n_writer_features);
        }
        weir_buf_append_str(&o, "},\"id\":");
        weir_cli_json_str(&o, md->id);
        weir_buf_append_str(&o, ",\"name\":");
        weir_cli_json_str(&o, md->name);
        weir_buf_append_str(&o, ",\"description\":");
        weir_cli_json_str(&o, md->description);
        weir_buf_append_str(&o, ",\"format\":");
        weir_cli_json_str(&o, md->format_provider);
        if (md->has_created_time)
            weir_buf_printf(&o, ",\"createdTime\":%" PRId64, md->created_time);
        else
            weir_buf_append_str(&o, ",\"createdTime\":null");
        weir_buf_append_str(&o, ",\"partitionColumns\":");
        json_str_array(&o, md->partition_columns, md->n_partition_columns);
        weir_buf_append_str(&o, ",\"configuration\":{");
        for (size_t i = 0; i < md->n_configuration; i++) {
            if (i > 0)
                weir_buf_append_byte(&o, ',');
            weir_cli_json_str(&o, md->configuration[i].key);
            weir_buf_append_byte(&o, ':');
            weir_cli_json_str(&o, md->configuration[i].value);
        }
        weir_buf_printf(&o, "},\"numFiles\":%zu,\"sizeInBytes\":%" PRId64 ",\"numRecords\":", nfiles, bytes);
        if (rows >= 0)
            weir_buf_printf(&o, "%" PRId64, rows);
        else
            weir_buf_append_str(&o, "null");
        if (weir_delta_snapshot_checkpoint_version(s) >= 0)
            weir_buf_printf(&o, ",\"checkpointVersion\":%" PRId64, weir_delta_snapshot_checkpoint_version(s));
        else
            weir_buf_append_str(&o, ",\"checkpointVersion\":null");
        weir_buf_printf(&o, ",\"schema\":%s}\n", schema_json);
    } else {
        char when[48], size[32];
        weir_buf_printf(&o, "Table:              %s\n", path);
        weir_buf_printf(&o, "Version:            %" PRId64 "\n", weir_delta_snapshot_version(s));
        weir_buf_printf(&o, "Protocol:           minReaderVersion=%d minWriterVersion=%d\n",
                        (int)p->min_reader_version, (int)p->min_writer_version);
        if (p->has_reader_features) {
            weir_buf_append_str(&o, "Reader features:   ");
            for (size_t i = 0; i < p->n_reader_features; i++)
                weir_buf_printf(&o, "%s%s", i ? ", " : " ", p->reader_features[i]);
            weir_buf_append_str(&o, p->n_reader_features ? "\n" : " (none)\n");
        }
        if (p->has_writer_features) {
            weir_buf_append_str(&o, "Writer features:   ");
            for (size_t i = 0; i < p->n_writer_features; i++)
                weir_buf_printf(&o, "%s%s", i ? ", " : " ", p->writer_features[i]);
            weir_buf_append_str(&o, p->n_writer_features ? "\n" : " (none)\n");
        }
        weir_buf_printf(&o, "Id:                 %s\n", md->id ? md->id : "");
        if (md->name)
            weir_buf_printf(&o, "Name:               %s\n", md->name);
        if (md->description)
            weir_buf_printf(&o, "Description:        %s\n", md->description);
        if (md->has_created_time) {
            weir_cli_format_ms(md->created_time, when);
            weir_buf_printf(&o, "Created:            %s\n", when);
        }
        weir_buf_append_str(&o, "Partition columns: ");
        for (size_t i = 0; i < md->n_partition_columns; i++)
            weir_buf_printf(&o, "%s%s", i ? ", " : " ", md->partition_columns[i]);
        weir_buf_append_str(&o, md->n_partition_columns ? "\n" : " (none)\n");
        weir_buf_printf(&o, "Files:              %zu\n", nfiles);
        human_size(bytes, size);
        if (bytes < 1024)
            weir_buf_printf(&o, "Size:               %" PRId64 " bytes\n", bytes);
        else
            weir_buf_printf(&o, "Size:               %" PRId64 " bytes (%s)\n", bytes, size);
        if (rows >= 0)
            weir_buf_printf(&o, "Rows:               %" PRId64 "\n", rows);
        else
            weir_buf_append_str(&o, "Rows:               unknown (some files have no stats)\n");
        if (weir_delta_snapshot_checkpoint_version(s) >= 0)
            weir_buf_printf(&o, "Checkpoint:         %" PRId64 "\n",
                            weir_delta_snapshot_checkpoint_version(s));
        if (md->n_configuration > 0) {
            weir_buf_append_str(&o, "Configuration:\n");
            for (size_t i = 0; i < md->n_configuration; i++)
                weir_buf_printf(&o, "  %s = %s\n", md->configuration[i].key,
                                md->configuration[i].value ? md->configuration[i].value : "null");
        }
        weir_buf_append_str(&o, "Schema:\nroot\n");
        print_type_tree(&o, md->schema, 0);
    }
    if (o.data == NULL || out_write(o.data, o.len) < 0 || (fflush(stdout) != 0 && errno != EPIPE)) {
        exit_code = weir_cli_fail(NULL, o.data == NULL ? WEIR_ENOMEM : WEIR_EIO);
        goto out;
    }
out:
    weir_free(schema_json);
    weir_buf_free(&o);
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
    return exit_code;
}

/* ------------------------------------------------------------ history */

static char *json_compact(const cJSON *v)
{
    return v ? cJSON_PrintUnformatted(v) : NULL;
}

static int cmd_history(struct weir_cli_args *a)
{
    const char *path = NULL;
    bool json = false;
    int64_t limit = 0;
    struct weir_error err = {0};
    struct weir_delta_table *t = NULL;
    struct weir_delta_history_entry *h = NULL;
    size_t count = 0;
    struct weir_buf o;
    int rc, exit_code = WEIR_EXIT_OK;
    weir_buf_init(&o);
    if (!parse_path_args(a, &json, "--limit", "a number >= 0", &limit, &path, &exit_code))
        goto out;
    if ((rc = weir_delta_table_open(&t, path, &err)) != 0 ||
        (rc = weir_delta_history(t, limit, &h, &count, &err)) != 0) {
        if (rc == WEIR_ENOTFOUND && err.message[0] == '\0')
            weir_error_set(&err, rc, "%s: not a Delta table (no _delta_log commits)", path);
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    if (count == 0) {
        weir_cli_error("%s: not a Delta table (no _delta_log commits)", path);
        exit_code = WEIR_EXIT_RUNTIME;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        cJSON *ci = h[i].commit_info ? cJSON_Parse(h[i].commit_info) : NULL;
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(ci, "operation");
        char *params = json_compact(cJSON_GetObjectItemCaseSensitive(ci, "operationParameters"));
        char *metrics = json_compact(cJSON_GetObjectItemCaseSensitive(ci, "operationMetrics"));
        const char *opname = cJSON_IsString(op) ? op->valuestring : NULL;
        char when[48];
        weir_cli_format_ms(h[i].timestamp, when);
        if (json) {
            weir_buf_printf(
                &o, "{\"version\":%" PRId64 ",\"timestamp\":%" PRId64 ",\"time\":\"%s\",\"operation\":",
                h[i].version, h[i].timestamp, when);
            weir_cli_json_str(&o, opname);
            weir_buf_printf(&o, ",\"operationParameters\":%s,\"operationMetrics\":%s,\"commitInfo\":%s}\n",
                            params ? params : "{}", metrics ? metrics : "{}", ci ? h[i].commit_info : "null");
        } else {
            weir_buf_printf(&o, "%" PRId64 "\t%s\t%s\t%s\t%s\n", h[i].version, when, opname ? opname : "-",
                            params ? params : "{}", metrics ? metrics : "{}");
        }
        cJSON_free(params);
        cJSON_free(metrics);
        cJSON_Delete(ci);
    }
    if (o.data == NULL || out_write(o.data, o.len) < 0 || (fflush(stdout) != 0 && errno != EPIPE)) {
        exit_code = weir_cli_fail(NULL, o.data == NULL ? WEIR_ENOMEM : WEIR_EIO);
        goto out;
    }
out:
    weir_buf_free(&o);
    weir_delta_history_free(h, count);
    weir_delta_table_destroy(t);
    return exit_code;
}

/* ------------------------------------------------------------ scan */

struct scan_ctx {
    struct weir_buf out;
    int64_t limit; /* -1: all */
    int64_t emitted;
};

static int scan_flush(struct scan_ctx *c, struct weir_error *err)
{
    int rc = out_write(c->out.data, c->out.len);
    c->out.len = 0;
    if (rc < 0)
        return weir_error_set(err, rc, "writing to standard output: %s", strerror(errno));
    return rc;
}

static int scan_cb(void *ctx, const struct weir_batch *b, const struct weir_delta_add *file,
                   struct weir_error *err)
{
    struct scan_ctx *c = ctx;
    for (size_t r = 0; r < b->nrows; r++) {
        if (c->limit >= 0 && c->emitted >= c->limit)
            return SCAN_STOP;
        int rc = weir_json_encode_row(b, r, &c->out, err);
        if (rc != 0)
            return weir_error_prefix(err, "encoding a row of %s", file ? file->path : "?");
        c->emitted++;
        if (c->out.len >= SCAN_FLUSH_BYTES && (rc = scan_flush(c, err)) != 0)
            return rc;
    }
    if (c->limit >= 0 && c->emitted >= c->limit)
        return SCAN_STOP;
    return 0;
}

/* --version N or --timestamp TS (scan, restore): 0 when argv[i] is neither,
 * 1 when taken, -1 after a usage error put its code in *exit_code. */
static int version_opt(struct weir_cli_args *a, int64_t *version, const char **ts_arg, int *exit_code)
{
    int m = weir_cli_opt_count(a, "--version", "a version number >= 0", version, exit_code);
    if (m != 0)
        return m;
    if ((m = weir_cli_opt_value(a, "--timestamp", ts_arg)) < 0)
        *exit_code = weir_cli_usage_error(a->cmd, "--timestamp needs a value");
    return m;
}

/* Usage checks of those options before anything is opened: not both, and
 * TS parsed into *ms. 0, or the exit code of the usage error. */
static int check_version_args(struct weir_cli_args *a, int64_t version, const char *ts_arg, int64_t *ms)
{
    if (ts_arg != NULL && version >= 0)
        return weir_cli_usage_error(a->cmd, "--version and --timestamp exclude each other");
    if (ts_arg != NULL && weir_cli_parse_time(ts_arg, ms) != 0)
        return weir_cli_usage_error(a->cmd, "--timestamp '%s' is neither ISO-8601 nor epoch milliseconds",
                                    ts_arg);
    return 0;
}

static int cmd_scan(struct weir_cli_args *a)
{
    const char *path = NULL, *val, *ts_arg = NULL;
    int64_t version = -1, limit = -1, ms = 0;
    char **cols = NULL;
    size_t ncols = 0;
    struct weir_error err = {0};
    struct weir_delta_table *t = NULL;
    struct weir_delta_snapshot *s = NULL;
    struct scan_ctx ctx = {.limit = -1};
    int rc, exit_code = WEIR_EXIT_OK;
    weir_buf_init(&ctx.out);
    for (; a->i < a->argc; a->i++) {
        int m;
        if ((m = version_opt(a, &version, &ts_arg, &exit_code)) != 0) {
            if (m < 0)
                goto out;
        } else if ((m = weir_cli_opt_count(a, "--limit", "a number >= 0", &limit, &exit_code)) != 0) {
            if (m < 0)
                goto out;
        } else if ((m = weir_cli_opt_value(a, "--columns", &val)) != 0) {
            if (m < 0) {
                exit_code = weir_cli_usage_error(a->cmd, "--columns needs a list of column names");
                goto out;
            }
            free_list(cols, ncols);
            cols = NULL;
            ncols = 0;
            if (split_list(val, &cols, &ncols) != 0) {
                exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
                goto out;
            }
            if (ncols == 0) {
                exit_code = weir_cli_usage_error(a->cmd, "--columns needs at least one column name");
                goto out;
            }
        } else if (common_arg(a, &path, &exit_code) != 0) {
            goto out;
        }
    }
    if (path == NULL) {
        exit_code = weir_cli_usage_error(a->cmd, "missing table PATH");
        goto out;
    }
    if ((exit_code = check_version_args(a, version, ts_arg, &ms)) != 0)
        goto out;
    if ((rc = weir_delta_table_open(&t, path, &err)) != 0 ||
        (ts_arg != NULL && (rc = weir_delta_version_at_timestamp(t, ms, &version, &err)) != 0)) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    if ((rc = weir_delta_snapshot_load(t, version, &s, &err)) != 0) {
        if (rc == WEIR_ENOTFOUND && err.message[0] == '\0')
            weir_error_set(&err, rc, "%s: not a Delta table (no _delta_log commits)", path);
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    ctx.limit = limit;
    if (limit == 0) {
        /* still check that the columns and the table are readable */
        struct weir_type *st = NULL;
        rc = weir_delta_snapshot_check_read(s, &err);
        if (rc == 0)
            rc = weir_delta_scan_schema(s, (const char *const *)cols, ncols, &st, &err);
        weir_type_destroy(st);
    } else {
        rc = weir_delta_scan(t, s, (const char *const *)cols, ncols, scan_cb, &ctx, &err);
    }
    if (rc == 0 || rc == SCAN_STOP)
        rc = scan_flush(&ctx, &err);
    if (rc < 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    if (rc != SCAN_STOP && fflush(stdout) != 0 && errno != EPIPE) {
        weir_cli_error("writing to standard output: %s", strerror(errno));
        exit_code = WEIR_EXIT_RUNTIME;
    }
out:
    weir_buf_free(&ctx.out);
    free_list(cols, ncols);
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
    return exit_code;
}

/* ------------------------------------------------------------ import */

/* An input file opened through the storage layer. */
struct infile {
    struct weir_store *store;
    struct weir_input in;
    bool open;
};

static int infile_open(struct infile *f, const char *path, struct weir_error *err)
{
    char *dir = NULL;
    const char *slash = strrchr(path, '/');
    const char *key = slash ? slash + 1 : path;
    int rc;
    memset(f, 0, sizeof *f);
    if (*key == '\0')
        return weir_error_set(err, WEIR_EINVAL, "%s: not a file", path);
    dir = slash ? weir_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : weir_strdup(".");
    if (dir == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    rc = weir_store_open(&f->store, dir, err);
    if (rc == 0)
        rc = weir_store_input_open(f->store, key, &f->in, err);
    if (rc == 0)
        f->open = true;
    else
        weir_error_prefix(err, "opening input %s", path);
    weir_free(dir);
    return rc;
}

static void infile_close(struct infile *f)
{
    if (f->open)
        weir_store_input_close(&f->in);
    weir_store_destroy(f->store);
    memset(f, 0, sizeof *f);
}

/* Call fn(ctx, text, n) on consecutive chunks of the file, each ending at
 * a line boundary (the last may lack its '\n'). */
typedef int (*chunk_fn)(void *ctx, const char *text, size_t n, struct weir_error *err);

/* "-" is standard input, read once into `stdin_data` and replayed from
 * memory (import reads its input twice when it infers the schema). */
static int read_stdin(struct weir_buf *stdin_data, bool *loaded, struct weir_error *err)
{
    if (*loaded)
        return 0;
    for (;;) {
        if (weir_buf_reserve(stdin_data, 1u << 20) != 0)
            return weir_error_set(err, WEIR_ENOMEM, "out of memory reading standard input");
        size_t n = fread(stdin_data->data + stdin_data->len, 1, stdin_data->cap - stdin_data->len - 1, stdin);
        stdin_data->len += n;
        stdin_data->data[stdin_data->len] = 0;
        if (n == 0) {
            if (ferror(stdin))
                return weir_error_set(err, WEIR_EIO, "reading standard input: %s", strerror(errno));
            break;
        }
    }
    *loaded = true;
    return 0;
}

static struct weir_buf g_stdin_data;
static bool g_stdin_loaded;

static int for_each_chunk(const char *path, struct weir_buf *buf, chunk_fn fn, void *ctx,
                          struct weir_error *err)
{
    struct infile f;
    if (strcmp(path, "-") == 0) {
        int rc = read_stdin(&g_stdin_data, &g_stdin_loaded, err);
        if (rc == 0 && g_stdin_data.len > 0)
            rc = fn(ctx, (const char *)g_stdin_data.data, g_stdin_data.len, err);
        return rc;
    }
    int rc = infile_open(&f, path, err);
    uint64_t off = 0;
    buf->len = 0;
    while (rc == 0 && off < f.in.size) {
        size_t want = f.in.size - off < IMPORT_CHUNK_BYTES ? (size_t)(f.in.size - off) : IMPORT_CHUNK_BYTES;
        if ((rc = weir_buf_reserve(buf, want)) != 0) {
            rc = weir_error_set(err, rc, "out of memory reading %s", path);
            break;
        }
        if ((rc = f.in.read_at(f.in.ctx, off, buf->data + buf->len, want, err)) != 0)
            break;
        buf->len += want;
        off += want;
        size_t cut = buf->len;
        if (off < f.in.size) {
            const uint8_t *nl = memrchr(buf->data, '\n', buf->len);
            if (nl == NULL)
                continue; /* a line longer than the chunk: read more */
            cut = (size_t)(nl - buf->data) + 1;
        }
        rc = fn(ctx, (const char *)buf->data, cut, err);
        memmove(buf->data, buf->data + cut, buf->len - cut);
        buf->len -= cut;
    }
    if (rc == 0 && buf->len > 0)
        rc = fn(ctx, (const char *)buf->data, buf->len, err);
    infile_close(&f);
    return rc;
}

static int infer_chunk(void *ctx, const char *text, size_t n, struct weir_error *err)
{
    return weir_json_infer(ctx, text, n, err);
}

struct import_ctx {
    struct weir_json_decoder *dec;
    struct weir_delta_writer *w; /* rows go to the writer as each batch fills */
    struct weir_batch *b;        /* the batch being decoded */
    int64_t rows;
};

/* Hands the decoded rows to the writer and empties the batch. */
static int import_flush(struct import_ctx *c, struct weir_error *err)
{
    if (c->b->nrows == 0)
        return 0;
    int rc = weir_delta_writer_add(c->w, c->b, err);
    weir_batch_clear(c->b);
    return rc;
}

static int import_chunk(void *vctx, const char *text, size_t n, struct weir_error *err)
{
    struct import_ctx *c = vctx;
    size_t pos = 0;
    while (pos < n) {
        int rc;
        if (c->b->nrows >= IMPORT_BATCH_ROWS && (rc = import_flush(c, err)) != 0)
            return rc;
        /* decode up to the line that fills the batch */
        size_t room = IMPORT_BATCH_ROWS - c->b->nrows, end = pos, lines = 0;
        while (end < n && lines < room) {
            const char *nl = memchr(text + end, '\n', n - end);
            end = nl ? (size_t)(nl - text) + 1 : n;
            lines++;
        }
        size_t rows = 0;
        rc = weir_json_decode(c->dec, text + pos, end - pos, c->b, &rows, err);
        c->rows += (int64_t)rows;
        if (rc != 0)
            return rc;
        pos = end;
    }
    return 0;
}

static int cmd_import(struct weir_cli_args *a)
{
    const char *path = NULL, *val, *schema_text = NULL, *format = "jsonl", *codec_name = NULL;
    char **files = NULL, **parts = NULL;
    size_t nfiles = 0, nparts = 0;
    struct weir_error err = {0};
    struct weir_delta_table *t = NULL;
    struct weir_delta_snapshot *s = NULL;
    struct weir_type *schema = NULL;
    struct weir_json_inferrer *inf = NULL;
    struct import_ctx ic = {0};
    struct weir_buf buf;
    int rc, exit_code = WEIR_EXIT_OK;
    int codec = WEIR_PARQUET_SNAPPY;
    bool infer_ts = false;
    weir_buf_init(&buf);
    files = weir_calloc((size_t)a->argc + 1, sizeof *files);
    if (files == NULL) {
        exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
        goto out;
    }
    for (; a->i < a->argc; a->i++) {
        const char *arg = a->argv[a->i];
        int m;
        if ((m = weir_cli_opt_value(a, "--format", &val)) != 0) {
            if (m < 0) {
                exit_code = weir_cli_usage_error(a->cmd, "--format needs a value (jsonl)");
                goto out;
            }
            format = val;
        } else if ((m = weir_cli_opt_value(a, "--schema", &val)) != 0) {
            if (m < 0) {
                exit_code = weir_cli_usage_error(a->cmd, "--schema needs a DDL string or Delta schema JSON");
                goto out;
            }
            schema_text = val;
        } else if ((m = weir_cli_opt_value(a, "--partition-by", &val)) != 0) {
            if (m < 0) {
                exit_code = weir_cli_usage_error(a->cmd, "--partition-by needs column names");
                goto out;
            }
            free_list(parts, nparts);
            parts = NULL;
            nparts = 0;
            if (split_list(val, &parts, &nparts) != 0) {
                exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
                goto out;
            }
        } else if (strcmp(arg, "--infer-timestamps") == 0) {
            infer_ts = true;
        } else if ((m = weir_cli_opt_value(a, "--codec", &val)) != 0) {
            if (m < 0) {
                exit_code = weir_cli_usage_error(a->cmd, "--codec needs a value (snappy, zstd, gzip, none)");
                goto out;
            }
            codec_name = val;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(table_usage, stdout);
            goto out;
        } else if (strcmp(arg, "--") == 0) {
            for (a->i++; a->i < a->argc; a->i++) {
                if (path == NULL)
                    path = a->argv[a->i];
                else
                    files[nfiles++] = a->argv[a->i];
            }
            break;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            exit_code = weir_cli_usage_error(a->cmd, "unknown option '%s'", arg);
            goto out;
        } else if (path == NULL) {
            path = (char *)arg;
        } else {
            files[nfiles++] = (char *)arg;
        }
    }
    if (path == NULL) {
        exit_code = weir_cli_usage_error(a->cmd, "missing table PATH");
        goto out;
    }
    if (nfiles == 0) {
        exit_code = weir_cli_usage_error(a->cmd, "no input FILE given");
        goto out;
    }
    size_t ndash = 0;
    for (size_t i = 0; i < nfiles; i++)
        ndash += strcmp(files[i], "-") == 0;
    if (ndash > 1) {
        exit_code = weir_cli_usage_error(a->cmd, "standard input ('-') can be given only once");
        goto out;
    }
    if (strcmp(format, "jsonl") != 0 && strcmp(format, "json") != 0 && strcmp(format, "ndjson") != 0) {
        exit_code = weir_cli_usage_error(a->cmd, "unsupported --format '%s' (supported: jsonl)", format);
        goto out;
    }
    if (codec_name != NULL && (codec = weir_parquet_codec_from_string(codec_name)) < 0) {
        exit_code =
            weir_cli_usage_error(a->cmd, "unknown --codec '%s' (snappy, zstd, gzip, none)", codec_name);
        goto out;
    }
    if ((rc = weir_delta_table_open(&t, path, &err)) != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    int64_t latest = -1;
    rc = weir_delta_table_latest_version(t, &latest, &err);
    if (rc != 0 && rc != WEIR_ENOTFOUND) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    weir_error_clear(&err);
    if (rc == 0) {
        /* existing table: its schema and partitioning rule */
        if ((rc = weir_delta_snapshot_load(t, -1, &s, &err)) != 0 ||
            (rc = weir_delta_snapshot_check_write(s, &err)) != 0) {
            exit_code = weir_cli_fail(&err, rc);
            goto out;
        }
        const struct weir_delta_metadata *md = weir_delta_snapshot_metadata(s);
        if (nparts > 0) {
            bool same = nparts == md->n_partition_columns;
            for (size_t i = 0; same && i < nparts; i++)
                same = strcmp(parts[i], md->partition_columns[i]) == 0;
            if (!same) {
                exit_code = weir_cli_usage_error(a->cmd,
                                                 "%s is already partitioned differently; --partition-by "
                                                 "only applies when the table is created",
                                                 path);
                goto out;
            }
        }
        if (schema_text != NULL) {
            struct weir_type *given = NULL;
            if (weir_schema_parse(schema_text, &given, &err) != 0) {
                exit_code = weir_cli_usage_error(a->cmd, "--schema: %s", err.message);
                goto out;
            }
            if (!weir_type_equal(given, md->schema))
                fprintf(stderr, "weir: warning: %s exists; importing with the table's schema, not --schema\n",
                        path);
            weir_type_destroy(given);
        }
        if ((schema = weir_type_clone(md->schema)) == NULL) {
            exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
            goto out;
        }
    } else if (schema_text != NULL) {
        if ((rc = weir_schema_parse(schema_text, &schema, &err)) != 0) {
            exit_code = weir_cli_usage_error(a->cmd, "--schema: %s", err.message);
            goto out;
        }
    } else {
        struct weir_json_infer_options io;
        weir_json_infer_options_default(&io);
        io.infer_timestamps = infer_ts;
        if ((rc = weir_json_inferrer_create(&inf, &io, &err)) != 0) {
            exit_code = weir_cli_fail(&err, rc);
            goto out;
        }
        for (size_t i = 0; i < nfiles; i++) {
            if ((rc = weir_json_inferrer_reset(inf, strcmp(files[i], "-") ? files[i] : "<stdin>")) != 0 ||
                (rc = for_each_chunk(files[i], &buf, infer_chunk, inf, &err)) != 0) {
                exit_code = weir_cli_fail(&err, rc);
                goto out;
            }
        }
        if ((rc = weir_json_infer_schema(inf, &schema, &err)) != 0) {
            weir_error_prefix(&err, "inferring a schema from the input");
            exit_code = weir_cli_fail(&err, rc);
            goto out;
        }
    }
    if (schema->kind != WEIR_TYPE_STRUCT || schema->nfields == 0) {
        exit_code = weir_cli_usage_error(a->cmd, "the schema has no columns");
        goto out;
    }
    if (s == NULL) {
        for (size_t i = 0; i < nparts; i++) {
            int fi = weir_type_field_index(schema, parts[i]);
            if (fi < 0) {
                exit_code =
                    weir_cli_usage_error(a->cmd, "--partition-by column '%s' is not in the schema", parts[i]);
                goto out;
            }
            if (!weir_type_is_primitive(schema->fields[fi].type)) {
                exit_code = weir_cli_usage_error(
                    a->cmd, "--partition-by column '%s' is not of a primitive type", parts[i]);
                goto out;
            }
            if (strcmp(parts[i], schema->fields[fi].name) != 0) {
                /* matched case-insensitively: record the schema's spelling */
                char *canon = weir_strdup(schema->fields[fi].name);
                if (canon == NULL) {
                    exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
                    goto out;
                }
                weir_free(parts[i]);
                parts[i] = canon;
            }
        }
    }
    struct weir_delta_write_options wo;
    struct weir_delta_write_result res = {0};
    weir_delta_write_options_default(&wo);
    wo.mode = WEIR_DELTA_APPEND;
    wo.codec = (enum weir_parquet_codec)codec;
    wo.partition_by = (const char *const *)parts;
    wo.n_partition_by = nparts;
    wo.create_if_missing = true;
    if ((rc = weir_json_decoder_create(&ic.dec, schema, NULL, &err)) != 0 ||
        (rc = weir_delta_writer_begin(t, schema, &wo, &ic.w, &res, &err)) != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    if ((ic.b = weir_batch_create(schema)) == NULL) {
        exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++) {
        if ((rc = weir_json_decoder_reset(ic.dec, strcmp(files[i], "-") ? files[i] : "<stdin>")) != 0 ||
            (rc = for_each_chunk(files[i], &buf, import_chunk, &ic, &err)) != 0) {
            exit_code = weir_cli_fail(&err, rc);
            goto out;
        }
    }
    if ((rc = import_flush(&ic, &err)) != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    if (ic.rows == 0 && s != NULL) {
        printf("nothing to import: the input has no rows; %s stays at version %" PRId64 "\n", path,
               weir_delta_snapshot_version(s));
        goto out;
    }
    /* no rows and no table: the commit creates an empty table */
    rc = weir_delta_writer_commit(ic.w, &res, &err);
    ic.w = NULL;
    if (rc != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    printf("imported %" PRId64 " rows into %s: version %" PRId64 ", %zu files, %" PRId64 " bytes\n", ic.rows,
           path, res.version, res.files_added, res.bytes_written);
    if (fflush(stdout) != 0)
        exit_code = WEIR_EXIT_RUNTIME;
out:
    weir_delta_writer_abort(ic.w); /* deletes the files of an import that failed */
    weir_batch_destroy(ic.b);
    weir_json_decoder_destroy(ic.dec);
    weir_json_inferrer_destroy(inf);
    weir_type_destroy(schema);
    weir_buf_free(&buf);
    free_list(parts, nparts);
    weir_free(files);
    weir_buf_free(&g_stdin_data);
    g_stdin_loaded = false;
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
    return exit_code;
}

/* ------------------------------------------------------------ optimize */

static int size_opt(struct weir_cli_args *a, const char *name, int64_t *out, int *exit_code)
{
    const char *val;
    int m = weir_cli_opt_value(a, name, &val);
    if (m == 0)
        return 0;
    if (m < 0 || weir_parse_size(val, out) != 0 || *out <= 0) {
        *exit_code = weir_cli_usage_error(a->cmd, "%s needs a size such as 128MB or 1048576", name);
        return -1;
    }
    return 1;
}

static int cmd_optimize(struct weir_cli_args *a)
{
    const char *path = NULL;
    struct weir_error err = {0};
    struct weir_delta_table *t = NULL;
    struct weir_delta_optimize_options o;
    struct weir_delta_optimize_result res;
    struct weir_buf out;
    int64_t target = 0, min_size = 0;
    const char *codec_name = NULL;
    int rc, exit_code = WEIR_EXIT_OK;
    weir_buf_init(&out);
    weir_delta_optimize_options_default(&o);
    for (; a->i < a->argc; a->i++) {
        int m;
        if ((m = size_opt(a, "--target-size", &target, &exit_code)) != 0 ||
            (m = size_opt(a, "--min-file-size", &min_size, &exit_code)) != 0) {
            if (m < 0)
                goto out;
        } else if ((m = weir_cli_opt_value(a, "--where", &o.where)) != 0) {
            if (m < 0 || !o.where[0]) {
                exit_code = weir_cli_usage_error(a->cmd, "--where needs a predicate over partition columns");
                goto out;
            }
        } else if ((m = weir_cli_opt_value(a, "--codec", &codec_name)) != 0) {
            int c = m < 0 ? -1 : weir_parquet_codec_from_string(codec_name);
            if (c < 0) {
                exit_code = weir_cli_usage_error(a->cmd, "--codec needs snappy, zstd, gzip or none");
                goto out;
            }
            o.codec = (enum weir_parquet_codec)c;
        } else if ((m = common_arg(a, &path, &exit_code)) != 0) {
            goto out;
        }
    }
    if (path == NULL) {
        exit_code = weir_cli_usage_error(a->cmd, "missing table PATH");
        goto out;
    }
    if (target > 0)
        o.target_file_bytes = (uint64_t)target;
    if (min_size > 0)
        o.min_file_bytes = (uint64_t)min_size;
    if ((rc = weir_delta_table_open(&t, path, &err)) != 0 ||
        (rc = weir_delta_optimize(t, &o, &res, &err)) != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    if (weir_buf_append_str(&out, "{\"path\":") != 0) {
        exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
        goto out;
    }
    weir_cli_json_str(&out, path);
    if (weir_buf_printf(&out,
                        ",\"version\":%" PRId64
                        ",\"filesRemoved\":%zu,\"filesAdded\":%zu,\"bytesRemoved\":%" PRId64
                        ",\"bytesAdded\":%" PRId64 ",\"rows\":%" PRId64 "}\n",
                        res.version, res.files_removed, res.files_added, res.bytes_removed, res.bytes_added,
                        res.rows) != 0) {
        exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
        goto out;
    }
    if (out_write(out.data, out.len) != 0 || fflush(stdout) != 0)
        exit_code = WEIR_EXIT_RUNTIME;
out:
    weir_buf_free(&out);
    weir_delta_table_destroy(t);
    return exit_code;
}

/* ------------------------------------------------------------ vacuum */

static int cmd_vacuum(struct weir_cli_args *a)
{
    const char *path = NULL, *val;
    struct weir_error err = {0};
    struct weir_delta_table *t = NULL;
    struct weir_delta_snapshot *s = NULL;
    struct weir_delta_vacuum_options o = {.retention_ms = -1};
    size_t n = 0;
    uint64_t bytes = 0;
    int rc, exit_code = WEIR_EXIT_OK;
    for (; a->i < a->argc; a->i++) {
        int m;
        if (strcmp(a->argv[a->i], "--dry-run") == 0) {
            o.dry_run = true;
        } else if (strcmp(a->argv[a->i], "--force") == 0) {
            o.force = true;
        } else if ((m = weir_cli_opt_value(a, "--retain", &val)) != 0) {
            if (m < 0 || weir_parse_duration(val, &o.retention_ms) != 0 || o.retention_ms < 0) {
                exit_code = weir_cli_usage_error(a->cmd, "--retain needs a duration such as 168h or 7d");
                goto out;
            }
        } else if (common_arg(a, &path, &exit_code) != 0) {
            goto out;
        }
    }
    if (path == NULL) {
        exit_code = weir_cli_usage_error(a->cmd, "missing table PATH");
        goto out;
    }
    if ((rc = open_snapshot(path, -1, &t, &s, &err)) != 0 ||
        (rc = weir_delta_snapshot_check_write(s, &err)) != 0 ||
        (rc = weir_delta_vacuum(t, s, &o, &n, &bytes, &err)) != 0) {
        if (rc == WEIR_EINVAL && !o.force)
            weir_error_prefix(&err, "add --force to vacuum anyway");
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    struct weir_buf b;
    weir_buf_init(&b);
    if (weir_buf_append_str(&b, "{\"path\":") != 0) {
        exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
        goto out;
    }
    weir_cli_json_str(&b, path);
    if (weir_buf_printf(&b, ",\"dryRun\":%s,\"files\":%zu,\"bytes\":%llu}\n", o.dry_run ? "true" : "false", n,
                        (unsigned long long)bytes) != 0 ||
        out_write(b.data, b.len) != 0 || fflush(stdout) != 0)
        exit_code = WEIR_EXIT_RUNTIME;
    weir_buf_free(&b);
out:
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
    return exit_code;
}

/* ------------------------------------------------------------ restore */

static int cmd_restore(struct weir_cli_args *a)
{
    const char *path = NULL, *ts_arg = NULL;
    struct weir_error err = {0};
    struct weir_delta_table *t = NULL;
    struct weir_delta_restore_result r;
    int64_t version = -1, ms = 0;
    int rc, exit_code = WEIR_EXIT_OK;
    for (; a->i < a->argc; a->i++) {
        int m;
        if ((m = version_opt(a, &version, &ts_arg, &exit_code)) != 0) {
            if (m < 0)
                goto out;
        } else if (common_arg(a, &path, &exit_code) != 0) {
            goto out;
        }
    }
    if (path == NULL) {
        exit_code = weir_cli_usage_error(a->cmd, "missing table PATH");
        goto out;
    }
    if (version < 0 && ts_arg == NULL) {
        exit_code = weir_cli_usage_error(a->cmd, "give --version N or --timestamp TS");
        goto out;
    }
    if ((exit_code = check_version_args(a, version, ts_arg, &ms)) != 0)
        goto out;
    if ((rc = weir_delta_table_open(&t, path, &err)) != 0 ||
        (ts_arg != NULL && (rc = weir_delta_version_at_timestamp(t, ms, &version, &err)) != 0) ||
        (rc = weir_delta_restore(t, version, 0, &r, &err)) != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    struct weir_buf b;
    weir_buf_init(&b);
    if (weir_buf_append_str(&b, "{\"path\":") != 0) {
        exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
        goto out;
    }
    weir_cli_json_str(&b, path);
    if (weir_buf_printf(&b,
                        ",\"version\":%" PRId64 ",\"restoredVersion\":%" PRId64
                        ",\"filesRemoved\":%zu,\"filesRestored\":%zu,\"filesAfter\":%zu}\n",
                        r.version, version, r.files_removed, r.files_restored, r.files_after) != 0 ||
        out_write(b.data, b.len) != 0 || fflush(stdout) != 0)
        exit_code = WEIR_EXIT_RUNTIME;
    weir_buf_free(&b);
out:
    weir_delta_table_destroy(t);
    return exit_code;
}

/* ------------------------------------------------------------ checkpoint */

static int cmd_checkpoint(struct weir_cli_args *a)
{
    const char *path = NULL;
    struct weir_error err = {0};
    struct weir_delta_table *t = NULL;
    struct weir_delta_snapshot *s = NULL;
    int rc, exit_code = WEIR_EXIT_OK;
    if (!parse_path_args(a, NULL, NULL, NULL, NULL, &path, &exit_code))
        goto out;
    if ((rc = open_snapshot(path, -1, &t, &s, &err)) != 0 ||
        (rc = weir_delta_snapshot_check_write(s, &err)) != 0 ||
        (rc = weir_delta_checkpoint_write(t, s, 0, &err)) != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    printf("wrote checkpoint of %s at version %" PRId64 "\n", path, weir_delta_snapshot_version(s));
out:
    weir_delta_snapshot_destroy(s);
    weir_delta_table_destroy(t);
    return exit_code;
}

/* ------------------------------------------------------------ dispatch */

int weir_cli_table(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(struct weir_cli_args *);
        const char *cmd;
    } cmds[] = {
        {"describe", cmd_describe, "weir table describe"},
        {"history", cmd_history, "weir table history"},
        {"scan", cmd_scan, "weir table scan"},
        {"import", cmd_import, "weir table import"},
        {"optimize", cmd_optimize, "weir table optimize"},
        {"vacuum", cmd_vacuum, "weir table vacuum"},
        {"restore", cmd_restore, "weir table restore"},
        {"checkpoint", cmd_checkpoint, "weir table checkpoint"},
    };
    /* a reader closing the pipe (`| head`) ends the output, not the process */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fputs(table_usage, stderr);
        return WEIR_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(table_usage, stdout);
        return WEIR_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(sub, cmds[i].name) == 0) {
            struct weir_cli_args a = {.argc = argc, .argv = argv, .i = 2, .cmd = cmds[i].cmd};
            return cmds[i].fn(&a);
        }
    }
    return weir_cli_usage_error("weir table", "unknown table command '%s'", sub);
}
