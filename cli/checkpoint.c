/* cli/checkpoint.c - `weir checkpoint inspect|reset-offsets`.
 *
 * Owns: argument parsing and output of the checkpoint tools. The checkpoint
 * is read and written only through stream/checkpoint.h, the state versions
 * through state/store.h, Kafka positions through sources/source.h
 * (weir_source_kafka_reset), the pipeline config through stream/config.h.
 * Results go to stdout, errors to stderr via cli.h. Single-threaded; each
 * command frees what it took before returning its exit code.
 *
 * inspect opens the checkpoint read-only: no lock, nothing written, so it
 * works next to the running pipeline (and reports whether one holds the
 * lock, without taking it).
 *
 * reset-offsets works the reset out on a read-only handle too (a dry run
 * writes nothing, not even the lock file's pid), refusing early when a
 * process holds the lock; only then does it take the lock, check that no
 * batch ran meanwhile, and record the reset as one marker batch
 * M = last committed + 1, in the order
 *   state version M (a copy of version N, when the pipeline has state),
 *   [offsets/M of a pending batch deleted (--discard-pending)],
 *   offsets/M (the marker: the reset source's new offsets, the others'
 *   copied from batch N), commits/M.
 * A crash before offsets/M leaves the checkpoint as it was, but for a
 * pending batch already deleted (a state version newer than the last
 * commit is dropped when the state opens); a
 * crash after it leaves a planned marker, which the engine completes at
 * its next start (stream/query.c). The marker never reaches the sink:
 * batch M+1, the first to read from the new positions, has a higher id
 * than any Delta txn version written before. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/util.h"
#include "sources/source.h"
#include "state/store.h"
#include "storage/storage.h"
#include "stream/checkpoint.h"
#include "stream/config.h"

#define INSPECT_LIMIT 10 /* batches inspect lists by default */

static const char checkpoint_usage[] =
    "usage: weir checkpoint <command> DIR [options]\n"
    "\n"
    "DIR is a pipeline's checkpoint directory (or its store URI).\n"
    "\n"
    "  inspect DIR [--json] [--limit N]\n"
    "      Pipeline name, query id (the Delta txn appId), last committed batch,\n"
    "      the batch planned but not committed (if any), the newest N batches\n"
    "      (default 10; 0: every one retained) with time (UTC), status, watermark\n"
    "      and end offsets per source, the initial offsets per source, the state\n"
    "      versions, and whether a process holds the lock (its pid). Reads only\n"
    "      and takes no lock, so it works while the pipeline runs. --json prints\n"
    "      one JSON object.\n"
    "  reset-offsets DIR --to SPEC [--source I] [--topic T] [--config FILE]\n"
    "                [--dry-run] [--discard-pending]\n"
    "      Move a Kafka source to new positions, e.g. after its topic was\n"
    "      deleted and created again. Recorded as one marker batch M (the last\n"
    "      committed + 1; offsets/M, commits/M) that reads nothing and is never\n"
    "      written to the table; the next batch starts at the new positions.\n"
    "      SPEC is one of\n"
    "        earliest               each partition's log start\n"
    "        latest                 each partition's end (only new records are read)\n"
    "        timestamp:TS           the first offset at or after TS (epoch ms or\n"
    "                               ISO-8601), the end where there is none\n"
    "        {\"topic\":{\"0\":123}}    these offsets (Spark's JSON; no broker asked)\n"
    "      earliest, latest and timestamp ask the brokers of the pipeline in\n"
    "      --config FILE (the pipeline named in the checkpoint's metadata).\n"
    "      --topic T moves topic T only; --source I picks the source (default 0).\n"
    "      Prints each topic-partition's current -> new offset and the marker\n"
    "      batch; --dry-run stops there. Refused while a process holds the\n"
    "      checkpoint's lock, and while a batch is planned but not committed,\n"
    "      unless --discard-pending: the marker then takes that batch's place,\n"
    "      and its records are not written (unless the sink committed them).\n"
    "\n"
    "Exit codes: 0 ok, 1 runtime failure or refusal, 2 bad usage.\n";

/* ------------------------------------------------------------ helpers */

/* --help, an unknown option, the one DIR. 0 to go on, 1 after the help,
 * -1 after a usage error put its code in *exit_code. */
static int dir_arg(struct weir_cli_args *a, const char **dir, int *exit_code)
{
    return weir_cli_last_arg(a, checkpoint_usage, dir, exit_code);
}

static int write_out(struct weir_buf *o)
{
    if (o->len > 0 && fwrite(o->data, 1, o->len, stdout) != o->len)
        return errno == EPIPE ? 0 : WEIR_EIO;
    return fflush(stdout) != 0 && errno != EPIPE ? WEIR_EIO : 0;
}

/* The state of the checkpoint's pipeline: its directory, or for a
 * checkpoint on an object store the versions saved there. */
static void state_options(struct weir_checkpoint *cp, struct weir_state_options *o)
{
    memset(o, 0, sizeof *o);
    if (weir_checkpoint_remote(cp)) {
        o->replica_store = weir_checkpoint_store(cp);
        o->replica_prefix = "state";
    }
}

/* "3..7" for a run, else "1, 4, 9" (appended). */
static int append_versions(struct weir_buf *o, const int64_t *v, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = i;
        while (j + 1 < n && v[j + 1] == v[j] + 1)
            j++;
        if (j > i + 1)
            rc = weir_buf_printf(o, "%s%" PRId64 "..%" PRId64, i ? ", " : "", v[i], v[j]);
        else
            rc = weir_buf_printf(o, "%s%" PRId64, i ? ", " : "", v[i]);
        if (j == i + 1 && rc == 0)
            rc = weir_buf_printf(o, ", %" PRId64, v[j]);
        i = j + 1;
    }
    return rc;
}

/* ------------------------------------------------------------ inspect */

struct batch_info {
    int64_t id;
    bool committed;
    int64_t next_watermark_ms; /* committed only */
    struct weir_offset_entry e;
};

struct inspect {
    struct weir_checkpoint *cp;
    struct weir_checkpoint_holder holder;
    struct batch_info *batches; /* newest first */
    size_t nbatches;
    char **initial; /* per source */
    size_t ninitial;
    int64_t *versions;
    size_t nversions;
    bool has_state_dir;
};

static void inspect_free(struct inspect *in)
{
    for (size_t i = 0; i < in->nbatches; i++)
        weir_offset_entry_clear(&in->batches[i].e);
    weir_free(in->batches);
    for (size_t i = 0; i < in->ninitial; i++)
        weir_free(in->initial[i]);
    weir_free(in->initial);
    weir_free(in->versions);
    weir_checkpoint_close(in->cp);
}

/* Reads the newest `limit` batches (0: all), the initial offsets, the
 * state versions and the lock holder. A batch purged meanwhile by the
 * running pipeline is left out. */
static int inspect_load(struct inspect *in, int64_t limit, struct weir_error *err)
{
    struct weir_checkpoint *cp = in->cp;
    int64_t last = weir_checkpoint_last_offsets(cp), oldest = weir_checkpoint_oldest_offsets(cp);
    int64_t last_commit = weir_checkpoint_last_commit(cp);
    int64_t from = limit > 0 && last - limit + 1 > oldest ? last - limit + 1 : oldest;
    int rc = 0;
    if (last >= 0 && (in->batches = weir_calloc((size_t)(last - from + 1), sizeof *in->batches)) == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (int64_t b = last; last >= 0 && b >= from && rc == 0; b--) {
        struct batch_info *bi = &in->batches[in->nbatches];
        bi->id = b;
        bi->committed = b <= last_commit;
        rc = weir_checkpoint_read_offsets(cp, b, &bi->e, err);
        if (rc == 0 && bi->committed)
            rc = weir_checkpoint_read_commit(cp, b, &bi->next_watermark_ms, err);
        if (rc == WEIR_ENOTFOUND && b < last) { /* purged since the checkpoint was opened */
            weir_offset_entry_clear(&bi->e);
            weir_error_clear(err);
            rc = 0;
            break;
        }
        if (rc == 0)
            in->nbatches++;
    }
    for (size_t i = 0; rc == 0; i++) {
        char *json = NULL;
        rc = weir_checkpoint_read_initial(cp, i, &json, err);
        if (rc == WEIR_ENOTFOUND) {
            weir_error_clear(err);
            rc = 0;
            break;
        }
        char **v = rc == 0 ? weir_realloc(in->initial, (i + 1) * sizeof *v) : NULL;
        if (rc == 0 && v == NULL)
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        if (rc != 0) {
            weir_free(json);
            break;
        }
        in->initial = v;
        in->initial[in->ninitial++] = json;
    }
    struct weir_state_options so;
    state_options(cp, &so);
    struct stat st;
    in->has_state_dir = stat(weir_checkpoint_state_dir(cp), &st) == 0 && S_ISDIR(st.st_mode);
    if (rc == 0)
        rc = weir_state_list_versions(weir_checkpoint_state_dir(cp), &so, &in->versions, &in->nversions, err);
    if (rc == 0)
        rc = weir_checkpoint_holder(cp, &in->holder, err);
    return rc;
}

static int inspect_json(const struct inspect *in, struct weir_buf *o)
{
    struct weir_checkpoint *cp = in->cp;
    int64_t last_commit = weir_checkpoint_last_commit(cp), last = weir_checkpoint_last_offsets(cp);
    int rc = weir_buf_append_str(o, "{\"checkpoint\":");
    rc |= weir_cli_json_str(o, weir_checkpoint_dir(cp));
    rc |= weir_buf_append_str(o, ",\"pipeline\":");
    rc |= weir_cli_json_str(o, weir_checkpoint_name(cp));
    rc |= weir_buf_append_str(o, ",\"queryId\":");
    rc |= weir_cli_json_str(o, weir_checkpoint_query_id(cp));
    if (last_commit >= 0)
        rc |= weir_buf_printf(o, ",\"lastCommitted\":%" PRId64, last_commit);
    else
        rc |= weir_buf_append_str(o, ",\"lastCommitted\":null");
    if (last > last_commit)
        rc |= weir_buf_printf(o, ",\"pendingBatch\":%" PRId64, last);
    else
        rc |= weir_buf_append_str(o, ",\"pendingBatch\":null");
    if (weir_checkpoint_oldest_offsets(cp) >= 0)
        rc |= weir_buf_printf(o, ",\"oldestRetained\":%" PRId64, weir_checkpoint_oldest_offsets(cp));
    else
        rc |= weir_buf_append_str(o, ",\"oldestRetained\":null");
    rc |= weir_buf_append_str(o, ",\"batches\":[");
    for (size_t i = 0; i < in->nbatches; i++) {
        const struct batch_info *b = &in->batches[i];
        char when[48];
        weir_cli_format_ms(b->e.batch_timestamp_ms, when);
        rc |= weir_buf_printf(o,
                              "%s{\"batch\":%" PRId64 ",\"status\":\"%s\",\"timestampMs\":%" PRId64
                              ",\"time\":\"%s\",\"watermarkMs\":%" PRId64,
                              i ? "," : "", b->id, b->committed ? "committed" : "pending",
                              b->e.batch_timestamp_ms, when, b->e.batch_watermark_ms);
        if (b->committed)
            rc |= weir_buf_printf(o, ",\"nextWatermarkMs\":%" PRId64, b->next_watermark_ms);
        else
            rc |= weir_buf_append_str(o, ",\"nextWatermarkMs\":null");
        rc |= weir_buf_append_str(o, ",\"reset\":");
        rc |= weir_cli_json_str(o, b->e.reset);
        rc |= weir_buf_append_str(o, ",\"sources\":[");
        for (size_t s = 0; s < b->e.nsources; s++) /* each source's offsets are JSON already */
            rc |= weir_buf_printf(o, "%s%s", s ? "," : "", b->e.sources[s] ? b->e.sources[s] : "null");
        rc |= weir_buf_append_str(o, "]}");
    }
    rc |= weir_buf_append_str(o, "],\"initialOffsets\":[");
    for (size_t s = 0; s < in->ninitial; s++)
        rc |= weir_buf_printf(o, "%s%s", s ? "," : "", in->initial[s]);
    rc |= weir_buf_append_str(o, "],\"state\":{\"location\":");
    if (weir_checkpoint_remote(cp))
        rc |= weir_buf_append_str(o, "\"the checkpoint's store, state/\"");
    else
        rc |= weir_cli_json_str(o, weir_checkpoint_state_dir(cp));
    rc |= weir_buf_append_str(o, ",\"versions\":[");
    for (size_t i = 0; i < in->nversions; i++)
        rc |= weir_buf_printf(o, "%s%" PRId64, i ? "," : "", in->versions[i]);
    const struct weir_checkpoint_holder *h = &in->holder;
    rc |= weir_buf_printf(o, "]},\"lock\":{\"known\":%s,\"held\":%s,\"pid\":", h->known ? "true" : "false",
                          h->held ? "true" : "false");
    if (h->pid > 0)
        rc |= weir_buf_printf(o, "%ld", h->pid);
    else
        rc |= weir_buf_append_str(o, "null");
    if (weir_checkpoint_remote(cp)) {
        rc |= weir_buf_append_str(o, ",\"host\":");
        rc |= weir_cli_json_str(o, h->host[0] ? h->host : NULL);
        rc |= weir_buf_printf(o, ",\"renewedMs\":%" PRId64, h->renewed_ms);
    }
    rc |= weir_buf_append_str(o, "}}\n");
    return rc ? WEIR_ENOMEM : 0;
}

static int inspect_text(const struct inspect *in, struct weir_buf *o)
{
    struct weir_checkpoint *cp = in->cp;
    int64_t last_commit = weir_checkpoint_last_commit(cp), last = weir_checkpoint_last_offsets(cp);
    const struct weir_checkpoint_holder *h = &in->holder;
    char when[48];
    int rc = weir_buf_printf(o, "Checkpoint:       %s\n", weir_checkpoint_dir(cp));
    rc |= weir_buf_printf(o, "Pipeline:         %s\n", weir_checkpoint_name(cp));
    rc |= weir_buf_printf(o, "Query id:         %s (the Delta txn appId)\n", weir_checkpoint_query_id(cp));
    if (last_commit >= 0)
        rc |= weir_buf_printf(o, "Last committed:   batch %" PRId64 "\n", last_commit);
    else
        rc |= weir_buf_append_str(o, "Last committed:   none\n");
    if (last > last_commit)
        rc |= weir_buf_printf(
            o, "Pending:          batch %" PRId64 " (planned, not committed: the next start runs it again)\n",
            last);
    else
        rc |= weir_buf_append_str(o, "Pending:          none\n");
    if (weir_checkpoint_remote(cp)) {
        if (h->renewed_ms > 0)
            rc |=
                weir_buf_printf(o, "Lease:            %s by host %s, pid %ld, renewed %" PRId64 " ms ago\n",
                                h->held ? "held" : "expired", h->host, h->pid, weir_now_ms() - h->renewed_ms);
        else
            rc |= weir_buf_append_str(o, "Lease:            free\n");
    } else if (!h->known) {
        rc |= weir_buf_printf(
            o, "Lock:             unknown (/proc/locks unreadable); the lock file names pid %ld\n", h->pid);
    } else if (h->held) {
        rc |= weir_buf_printf(o, "Lock:             held by pid %ld (a pipeline is running)\n", h->pid);
    } else if (h->pid > 0) {
        rc |= weir_buf_printf(o, "Lock:             free (last held by pid %ld)\n", h->pid);
    } else {
        rc |= weir_buf_append_str(o, "Lock:             free\n");
    }
    rc |= weir_buf_append_str(o, "State versions:   ");
    if (in->nversions > 0) {
        rc |= append_versions(o, in->versions, in->nversions);
        if (weir_checkpoint_remote(cp))
            rc |= weir_buf_append_str(o, " (on the checkpoint's store, state/)\n");
        else
            rc |= weir_buf_printf(o, " (%s/v/<N>)\n", weir_checkpoint_state_dir(cp));
    } else {
        rc |= weir_buf_append_str(o, in->has_state_dir ? "none yet\n" : "none (no state)\n");
    }
    rc |= weir_buf_append_str(o, "Initial offsets:");
    if (in->ninitial == 0)
        rc |= weir_buf_append_str(o, "  none yet\n");
    else
        rc |= weir_buf_append_str(o, "\n");
    for (size_t s = 0; s < in->ninitial; s++)
        rc |= weir_buf_printf(o, "  source %zu: %s\n", s, in->initial[s]);
    if (in->nbatches == 0) {
        rc |= weir_buf_append_str(o, "Batches:          none\n");
    } else {
        int64_t oldest = weir_checkpoint_oldest_offsets(cp);
        rc |= weir_buf_printf(
            o, "Batches:          newest %zu of %" PRId64 " retained (%" PRId64 "..%" PRId64 ")\n",
            in->nbatches, last - oldest + 1, oldest, last);
    }
    for (size_t i = 0; i < in->nbatches; i++) {
        const struct batch_info *b = &in->batches[i];
        weir_cli_format_ms(b->e.batch_timestamp_ms, when);
        rc |= weir_buf_printf(o, "  batch %" PRId64 "  %s  %s", b->id, when,
                              b->committed ? "committed" : "pending");
        if (b->e.batch_watermark_ms != 0) {
            weir_cli_format_ms(b->e.batch_watermark_ms, when);
            rc |= weir_buf_printf(o, "  watermark %s", when);
        } else {
            rc |= weir_buf_append_str(o, "  watermark -");
        }
        if (b->e.reset != NULL)
            rc |= weir_buf_printf(o, "  offsets reset (%s)", b->e.reset);
        rc |= weir_buf_append_str(o, "\n");
        for (size_t s = 0; s < b->e.nsources; s++)
            rc |= weir_buf_printf(o, "    source %zu: %s\n", s, b->e.sources[s] ? b->e.sources[s] : "-");
    }
    return rc ? WEIR_ENOMEM : 0;
}

static int cmd_inspect(struct weir_cli_args *a)
{
    const char *dir = NULL;
    bool json = false;
    int64_t limit = INSPECT_LIMIT;
    struct weir_error err = {0};
    struct inspect in = {0};
    struct weir_buf o;
    int rc, exit_code = WEIR_EXIT_OK;
    weir_buf_init(&o);
    for (; a->i < a->argc; a->i++) {
        int m;
        if (strcmp(a->argv[a->i], "--json") == 0) {
            json = true;
        } else if ((m = weir_cli_opt_count(a, "--limit", "a number >= 0", &limit, &exit_code)) != 0) {
            if (m < 0)
                goto out;
        } else if (dir_arg(a, &dir, &exit_code) != 0) {
            goto out;
        }
    }
    if (dir == NULL) {
        exit_code = weir_cli_usage_error(a->cmd, "missing checkpoint DIR");
        goto out;
    }
    struct weir_checkpoint_options co = {.read_only = true};
    if ((rc = weir_checkpoint_open(dir, NULL, &co, &in.cp, &err)) != 0 ||
        (rc = inspect_load(&in, limit, &err)) != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    if ((rc = json ? inspect_json(&in, &o) : inspect_text(&in, &o)) != 0 || (rc = write_out(&o)) != 0)
        exit_code = weir_cli_fail(NULL, rc);
out:
    weir_buf_free(&o);
    inspect_free(&in);
    return exit_code;
}

/* ------------------------------------------------------------ reset-offsets */

struct reset_args {
    const char *dir, *spec, *topic, *config;
    int64_t source;
    bool dry_run, discard_pending;
    struct weir_kafka_reset r;
    char label[96]; /* the spec as recorded in the marker */
};

/* SPEC -> a->r. 0, or the usage error's exit code. */
static int parse_spec(struct weir_cli_args *a, struct reset_args *ra)
{
    const char *s = ra->spec;
    struct weir_kafka_reset *r = &ra->r;
    memset(r, 0, sizeof *r);
    r->topic = ra->topic;
    if (strcmp(s, "earliest") == 0) {
        r->to = WEIR_KAFKA_RESET_EARLIEST;
        snprintf(ra->label, sizeof ra->label, "earliest");
    } else if (strcmp(s, "latest") == 0) {
        r->to = WEIR_KAFKA_RESET_LATEST;
        snprintf(ra->label, sizeof ra->label, "latest");
    } else if (strncmp(s, "timestamp:", 10) == 0) {
        r->to = WEIR_KAFKA_RESET_TIMESTAMP;
        if (weir_cli_parse_time(s + 10, &r->timestamp_ms) != 0 || r->timestamp_ms < 0)
            return weir_cli_usage_error(
                a->cmd, "--to %s: '%s' is neither milliseconds since the epoch nor an ISO-8601 time", s,
                s + 10);
        snprintf(ra->label, sizeof ra->label, "timestamp:%" PRId64, r->timestamp_ms);
    } else if (s[0] == '{') {
        char *norm = NULL;
        struct weir_error err = {0};
        int rc = weir_source_kafka_offsets_normalize(s, &norm, &err);
        weir_free(norm);
        if (rc == WEIR_ENOMEM)
            return weir_cli_fail(&err, rc);
        if (rc != 0)
            return weir_cli_usage_error(a->cmd, "--to: %s", err.message);
        r->to = WEIR_KAFKA_RESET_OFFSETS;
        r->offsets = s;
        snprintf(ra->label, sizeof ra->label, "offsets");
    } else {
        return weir_cli_usage_error(
            a->cmd,
            "--to '%s' is not a reset: use earliest, latest, timestamp:<ms or ISO-8601> or "
            "offsets JSON such as {\"topic\":{\"0\":123}}",
            s);
    }
    return 0;
}

/* The pipeline of `cfg` named `name`, or NULL. */
static const struct weir_config_pipeline *find_pipeline(const struct weir_config *cfg, const char *name)
{
    for (size_t i = 0; cfg != NULL && i < cfg->npipelines; i++)
        if (strcmp(cfg->pipelines[i].name, name) == 0)
            return &cfg->pipelines[i];
    return NULL;
}

/* The pipeline of `cfg` whose checkpoint is `dir` (its store options are
 * needed to read a checkpoint on an object store), or NULL. */
static const struct weir_config_pipeline *find_by_checkpoint(const struct weir_config *cfg, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    for (size_t i = 0; cfg != NULL && i < cfg->npipelines; i++) {
        const char *c = cfg->pipelines[i].checkpoint;
        size_t m = c ? strlen(c) : 0;
        while (m > 1 && c[m - 1] == '/')
            m--;
        if (m == n && strncmp(c, dir, n) == 0)
            return &cfg->pipelines[i];
    }
    return NULL;
}

static const char *source_kind(int kind)
{
    switch (kind) {
    case WEIR_SOURCE_KAFKA:
        return "Kafka";
    case WEIR_SOURCE_DATAGEN:
        return "datagen";
    case WEIR_SOURCE_FILES:
        return "files";
    default:
        return "no";
    }
}

/* The entry the marker starts from: offsets/N, or for a pipeline without
 * a committed batch its initial offsets (sources/<i>/0). WEIR_ENOTFOUND
 * when there is neither. */
static int base_entry(struct weir_checkpoint *cp, struct weir_offset_entry *e, int64_t *next_wm,
                      struct weir_error *err)
{
    int64_t n = weir_checkpoint_last_commit(cp);
    memset(e, 0, sizeof *e);
    *next_wm = 0;
    if (n >= 0) {
        int rc = weir_checkpoint_read_offsets(cp, n, e, err);
        if (rc == 0)
            rc = weir_checkpoint_read_commit(cp, n, next_wm, err);
        weir_free(e->reset); /* the marker describes its own reset */
        e->reset = NULL;
        return rc;
    }
    for (size_t i = 0;; i++) {
        char *json = NULL;
        int rc = weir_checkpoint_read_initial(cp, i, &json, err);
        if (rc == WEIR_ENOTFOUND && i > 0) {
            weir_error_clear(err);
            return 0;
        }
        char **v = rc == 0 ? weir_realloc(e->sources, (i + 1) * sizeof *v) : NULL;
        if (rc == 0 && v == NULL)
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        if (rc != 0) {
            weir_free(json);
            weir_offset_entry_clear(e);
            return rc;
        }
        e->sources = v;
        e->sources[e->nsources++] = json;
    }
}

static void print_moves(const struct weir_kafka_reset_result *res)
{
    size_t w = strlen("topic");
    for (size_t i = 0; i < res->nmoves; i++)
        if (strlen(res->moves[i].topic) > w)
            w = strlen(res->moves[i].topic);
    printf("  %-*s  %9s  %12s    %s\n", (int)w, "topic", "partition", "current", "new");
    for (size_t i = 0; i < res->nmoves; i++) {
        const struct weir_kafka_move *m = &res->moves[i];
        char from[24] = "-", to[24] = "-";
        if (m->from != WEIR_KAFKA_NO_OFFSET)
            snprintf(from, sizeof from, "%" PRId64, m->from);
        if (m->to != WEIR_KAFKA_NO_OFFSET)
            snprintf(to, sizeof to, "%" PRId64, m->to);
        const char *note = m->from == WEIR_KAFKA_NO_OFFSET ? "(added)"
                           : m->to == WEIR_KAFKA_NO_OFFSET ? "(no longer there: dropped)"
                           : m->from == m->to              ? "(unchanged)"
                                                           : NULL;
        if (note != NULL)
            printf("  %-*s  %9" PRId32 "  %12s -> %-12s  %s\n", (int)w, m->topic, m->partition, from, to,
                   note);
        else
            printf("  %-*s  %9" PRId32 "  %12s -> %s\n", (int)w, m->topic, m->partition, from, to);
    }
}

/* Version M of the state as a copy of version N (the last committed), when
 * the pipeline keeps state. */
static int copy_state(struct weir_checkpoint *cp, const struct weir_config_pipeline *p, int64_t marker,
                      bool *copied, struct weir_error *err)
{
    struct weir_state_options so;
    state_options(cp, &so);
    *copied = false;
    int64_t *vers = NULL;
    size_t nv = 0;
    int rc = weir_state_list_versions(weir_checkpoint_state_dir(cp), &so, &vers, &nv, err);
    weir_free(vers);
    if (rc != 0)
        return rc;
    struct stat st;
    bool has_dir = !weir_checkpoint_remote(cp) && stat(weir_checkpoint_state_dir(cp), &st) == 0;
    if (nv == 0 && !has_dir)
        return 0; /* no state */
    struct weir_state *s = NULL;
    so.memory_budget = p ? (uint64_t)p->state_memory : 0;
    rc = weir_state_open(weir_checkpoint_state_dir(cp), weir_checkpoint_last_commit(cp), &so, &s, err);
    if (rc == 0)
        rc = weir_state_commit(s, marker, err);
    weir_state_close(s);
    *copied = rc == 0;
    return rc;
}

static int cmd_reset(struct weir_cli_args *a)
{
    struct reset_args ra = {0};
    struct weir_error err = {0};
    struct weir_config *cfg = NULL;
    struct weir_checkpoint *cp = NULL;
    struct weir_offset_entry base = {0};
    struct weir_kafka_reset_result res = {0};
    char *name = NULL, *norm = NULL;
    int rc, exit_code = WEIR_EXIT_OK;
    for (; a->i < a->argc; a->i++) {
        const char *val;
        int m;
        if ((m = weir_cli_opt_value(a, "--to", &val)) != 0) {
            if (m < 0) {
                exit_code =
                    weir_cli_usage_error(a->cmd, "--to needs a SPEC: earliest, latest, timestamp:TS or "
                                                 "offsets JSON");
                goto out;
            }
            ra.spec = val;
        } else if ((m = weir_cli_opt_value(a, "--topic", &val)) != 0) {
            if (m < 0 || val[0] == '\0') {
                exit_code = weir_cli_usage_error(a->cmd, "--topic needs a topic name");
                goto out;
            }
            ra.topic = val;
        } else if ((m = weir_cli_opt_value(a, "--config", &val)) != 0) {
            if (m < 0) {
                exit_code = weir_cli_usage_error(a->cmd, "--config needs the pipeline's config FILE");
                goto out;
            }
            ra.config = val;
        } else if ((m = weir_cli_opt_count(a, "--source", "a source number >= 0", &ra.source, &exit_code)) !=
                   0) {
            if (m < 0)
                goto out;
        } else if (strcmp(a->argv[a->i], "--dry-run") == 0) {
            ra.dry_run = true;
        } else if (strcmp(a->argv[a->i], "--discard-pending") == 0) {
            ra.discard_pending = true;
        } else if (dir_arg(a, &ra.dir, &exit_code) != 0) {
            goto out;
        }
    }
    if (ra.dir == NULL) {
        exit_code = weir_cli_usage_error(a->cmd, "missing checkpoint DIR");
        goto out;
    }
    if (ra.spec == NULL) {
        exit_code = weir_cli_usage_error(
            a->cmd, "missing --to SPEC (earliest, latest, timestamp:TS or offsets JSON)");
        goto out;
    }
    if ((exit_code = parse_spec(a, &ra)) != 0)
        goto out;
    if (ra.r.to != WEIR_KAFKA_RESET_OFFSETS && ra.config == NULL) {
        exit_code =
            weir_cli_usage_error(a->cmd,
                                 "--to %s asks the pipeline's Kafka brokers: give the pipeline's config "
                                 "with --config FILE",
                                 ra.spec);
        goto out;
    }
    if (ra.config != NULL && (exit_code = weir_cli_load_config(ra.config, &cfg, NULL)) != 0)
        goto out;

    /* the pipeline's name, from the checkpoint itself */
    const struct weir_config_pipeline *p = find_by_checkpoint(cfg, ra.dir);
    struct weir_store_options so = {0};
    struct weir_checkpoint_options co = {.store = &so, .read_only = true};
    if (p != NULL) {
        so = (struct weir_store_options){(const char *const *)p->checkpoint_storage_options,
                                         p->ncheckpoint_storage_options};
        co.cache_dir = p->checkpoint_cache_dir;
    }
    if ((rc = weir_checkpoint_open(ra.dir, NULL, &co, &cp, &err)) != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    if ((name = weir_strdup(weir_checkpoint_name(cp))) == NULL) {
        exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
        goto out;
    }
    if (cfg != NULL && (p = find_pipeline(cfg, name)) == NULL) {
        struct weir_buf names;
        weir_buf_init(&names);
        for (size_t i = 0; i < cfg->npipelines; i++)
            weir_buf_printf(&names, "%s'%s'", i ? ", " : "", cfg->pipelines[i].name);
        weir_buf_append_byte(&names, 0);
        exit_code = weir_cli_usage_error(
            a->cmd, "%s has no pipeline '%s' (the pipeline of checkpoint %s); its pipelines: %s", ra.config,
            name, ra.dir, names.data ? (const char *)names.data : "none");
        weir_buf_free(&names);
        goto out;
    }
    if (p != NULL && p->source != WEIR_SOURCE_KAFKA) {
        exit_code =
            weir_cli_usage_error(a->cmd,
                                 "pipeline '%s' reads from a %s source, not Kafka: reset-offsets moves the "
                                 "positions of Kafka sources only",
                                 name, source_kind(p->source));
        goto out;
    }

    /* Everything is worked out on the read-only handle (nothing written,
     * not even the lock file); only the writes take the lock. A running
     * pipeline is refused first by asking who holds the lock. */
    struct weir_checkpoint_holder h;
    if ((rc = weir_checkpoint_holder(cp, &h, &err)) != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    if (h.held) {
        weir_cli_error(
            "checkpoint directory '%s' is in use by another running weir pipeline (pid %ld); stop it "
            "before resetting its offsets",
            ra.dir, h.pid);
        exit_code = WEIR_EXIT_RUNTIME;
        goto out;
    }
    int64_t last_commit = weir_checkpoint_last_commit(cp), marker = last_commit + 1;
    int64_t last_offsets = weir_checkpoint_last_offsets(cp);
    bool pending = last_offsets == marker;
    if (pending && !ra.discard_pending) {
        struct weir_offset_entry pe = {0};
        bool is_marker = weir_checkpoint_read_offsets(cp, marker, &pe, NULL) == 0 && pe.reset != NULL;
        weir_offset_entry_clear(&pe);
        if (is_marker)
            weir_cli_error("batch %" PRId64 " of pipeline '%s' is an offsets reset that did not finish "
                           "(offsets/%" PRId64 " without commits/%" PRId64
                           "); start the pipeline to complete it, or reset again with --discard-pending",
                           marker, name, marker, marker);
        else
            weir_cli_error(
                "batch %" PRId64 " of pipeline '%s' is planned but not committed (offsets/%" PRId64
                " without commits/%" PRId64
                "). Run the pipeline until it commits that batch (weir run CONFIG --once), then "
                "reset; or, if it cannot run (its records are gone), reset with --discard-pending: "
                "the reset then takes that batch's place and its records are not written, unless "
                "the sink committed them already",
                marker, name, marker, marker);
        exit_code = WEIR_EXIT_RUNTIME;
        goto out;
    }
    int64_t next_wm = 0;
    rc = base_entry(cp, &base, &next_wm, &err);
    if (rc == WEIR_ENOTFOUND) {
        weir_cli_error("pipeline '%s' has not started from checkpoint %s yet (no batch, no initial offsets): "
                       "there is no position to move; set source.kafka.starting_offsets instead",
                       name, ra.dir);
        exit_code = WEIR_EXIT_RUNTIME;
        goto out;
    }
    if (rc != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    if ((uint64_t)ra.source >= base.nsources) {
        exit_code = weir_cli_usage_error(a->cmd, "--source %" PRId64 ": pipeline '%s' has %zu source%s (0%s)",
                                         ra.source, name, base.nsources, base.nsources == 1 ? "" : "s",
                                         base.nsources == 1 ? "" : "..");
        goto out;
    }
    const char *current = base.sources[ra.source];
    struct weir_error kerr = {0};
    rc = current ? weir_source_kafka_offsets_normalize(current, &norm, &kerr) : WEIR_EPARSE;
    if (rc == WEIR_ENOMEM) {
        exit_code = weir_cli_fail(&kerr, rc);
        goto out;
    }
    if (rc != 0) {
        exit_code =
            weir_cli_usage_error(a->cmd,
                                 "source %" PRId64 " of pipeline '%s' does not hold Kafka offsets (%.60s): "
                                 "reset-offsets moves the positions of Kafka sources only",
                                 ra.source, name, current ? current : "-");
        goto out;
    }
    if ((rc = weir_source_kafka_reset(p, current, &ra.r, &res, &err)) != 0) {
        if (rc == WEIR_EINVAL || rc == WEIR_ECONFIG)
            exit_code = weir_cli_usage_error(a->cmd, "--to %s: %s", ra.label, err.message);
        else
            exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    bool changed = strcmp(res.offsets, norm) != 0;
    printf("pipeline '%s', checkpoint %s: reset of source %" PRId64 "%s%s%s to %s\n", name, ra.dir, ra.source,
           ra.topic ? ", topic '" : "", ra.topic ? ra.topic : "", ra.topic ? "'" : "",
           ra.r.to == WEIR_KAFKA_RESET_OFFSETS ? "the offsets given" : ra.label);
    print_moves(&res);
    if (!changed && !pending) {
        printf("the positions do not change: nothing to write\n");
        goto out;
    }
    printf("marker batch %" PRId64 ": offsets/%" PRId64 " and commits/%" PRId64 "%s; the next batch (%" PRId64
           ") starts at the new positions\n",
           marker, marker, marker, pending ? " (in place of the uncommitted batch)" : "", marker + 1);
    if (ra.dry_run) {
        printf("dry run: nothing written\n");
        goto out;
    }
    if (fflush(stdout) != 0) {
        exit_code = WEIR_EXIT_RUNTIME;
        goto out;
    }

    /* from here on the checkpoint is ours: a pipeline started meanwhile is
     * refused, and one that ran a batch meanwhile makes the plan stale */
    weir_checkpoint_close(cp);
    cp = NULL;
    co.read_only = false;
    if ((rc = weir_checkpoint_open(ra.dir, name, &co, &cp, &err)) != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    if (weir_checkpoint_last_commit(cp) != last_commit || weir_checkpoint_last_offsets(cp) != last_offsets) {
        weir_cli_error(
            "checkpoint %s changed while the reset was worked out (a pipeline ran a batch): nothing "
            "written; run the reset again",
            ra.dir);
        exit_code = WEIR_EXIT_RUNTIME;
        goto out;
    }

    /* the marker: every source as batch N left it, the reset one moved */
    char reset[160];
    snprintf(reset, sizeof reset, "source %" PRId64 "%s%s: %s", ra.source, ra.topic ? ", topic " : "",
             ra.topic ? ra.topic : "", ra.label);
    weir_free(base.sources[ra.source]);
    base.sources[ra.source] = res.offsets;
    res.offsets = NULL;
    base.batch_timestamp_ms = weir_now_ms();
    if ((base.reset = weir_strdup(reset)) == NULL) {
        exit_code = weir_cli_fail(NULL, WEIR_ENOMEM);
        goto out;
    }
    bool state_copied = false;
    if ((rc = copy_state(cp, p, marker, &state_copied, &err)) != 0 ||
        (pending && (rc = weir_checkpoint_discard_pending(cp, NULL, &err)) != 0) ||
        (rc = weir_checkpoint_write_offsets(cp, marker, &base, &err)) != 0 ||
        (rc = weir_checkpoint_write_commit(cp, marker, next_wm, &err)) != 0) {
        exit_code = weir_cli_fail(&err, rc);
        goto out;
    }
    printf("wrote batch %" PRId64 " (offsets reset)%s\n", marker,
           state_copied ? "; state version made from the last committed batch's" : "");
out:
    if (fflush(stdout) != 0 && exit_code == WEIR_EXIT_OK)
        exit_code = WEIR_EXIT_RUNTIME;
    weir_kafka_reset_result_clear(&res);
    weir_offset_entry_clear(&base);
    weir_checkpoint_close(cp);
    weir_config_destroy(cfg);
    weir_free(norm);
    weir_free(name);
    return exit_code;
}

/* ------------------------------------------------------------ dispatch */

int weir_cli_checkpoint(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(struct weir_cli_args *);
        const char *cmd;
    } cmds[] = {
        {"inspect", cmd_inspect, "weir checkpoint inspect"},
        {"reset-offsets", cmd_reset, "weir checkpoint reset-offsets"},
    };
    /* a reader closing the pipe (`| head`) ends the output, not the process */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fputs(checkpoint_usage, stderr);
        return WEIR_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(checkpoint_usage, stdout);
        return WEIR_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(sub, cmds[i].name) == 0) {
            struct weir_cli_args a = {.argc = argc, .argv = argv, .i = 2, .cmd = cmds[i].cmd};
            return cmds[i].fn(&a);
        }
    }
    return weir_cli_usage_error("weir checkpoint", "unknown checkpoint command '%s'", sub);
}
