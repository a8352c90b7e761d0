/* stream/checkpoint.c - a pipeline's checkpoint directory (see checkpoint.h).
 *
 * Owns: the store the checkpoint lives on (local directory or object
 * store), the query id read from (or written to) metadata, the local
 * directory (the checkpoint itself, or a cache for one on an object
 * store) with the descriptor that holds its flock(), the lease on an
 * object store, and the ids of the oldest and newest entries of the
 * offsets and commits logs.
 *
 * Layout and formats are Spark Structured Streaming's (OffsetSeqLog,
 * CommitLog): a file per batch named by its decimal id, first line the
 * version header "v1", no trailing newline. A source offset of "-" stands
 * for "no offset" and is read back as NULL.
 *
 * Invariants kept by every write (and checked by open):
 *   - offsets ids are contiguous, oldest..last_offsets; commits ids are
 *     contiguous too and every commits/N has its offsets/N;
 *   - last_offsets <= last_commit + 1: at most one batch is planned and not
 *     committed, and the next offsets/N is only written once the previous
 *     batch is committed;
 *   - a file is never rewritten with other content (WEIR_EEXISTS): every
 *     entry is written with the store's put-if-absent, which is atomic on
 *     every back-end (local: temp file, fsync, link, fsync of the
 *     directory; object stores: a conditional PUT), so two writers can
 *     never both write offsets/N or commits/N.
 * Purge deletes ascending, commits/N before offsets/N, so a crash in the
 * middle leaves both logs contiguous. A local checkpoint's open() deletes
 * temp files a crash left (it holds the lock first, so they cannot belong
 * to a live writer).
 *
 * Lock: the local directory's "lock" file is flock(LOCK_EX | LOCK_NB)ed
 * for the life of the handle. flock belongs to the open file description,
 * so a second open in the same process conflicts just like another
 * process. The file holds the owner's pid (informational, for the refusal
 * message); it is never deleted. On an object store, where no lock exists,
 * a lease stands in: the object "lock" names the holder (host, pid, run)
 * and the time it was last renewed; open() refuses while another holder
 * renewed it within WEIR_CHECKPOINT_LEASE_MS (unless that holder is a dead
 * process of this host), every offsets write checks the lease is still
 * ours, and heartbeat() renews it. The lease gives clear refusals; the
 * put-if-absent of offsets/N and commits/N and the Delta txn keep the
 * guarantee even if two runs overlap.
 *
 * Read-only handles (tools such as `weir checkpoint inspect`) take no
 * lock: they read while a pipeline may be writing. Entries appear (a new
 * plan or commit) and disappear (purge) in an order that keeps the logs
 * valid, but listing both logs and parsing every file is not atomic, so a
 * read-only open that finds a file gone or the logs out of step reads
 * them again (READ_ATTEMPTS times).
 *
 * Reset markers are ordinary entries whose offsets metadata carries
 * conf {"weir.resetOffsets": "<what was reset>"}; Spark ignores conf keys
 * it does not know.
 *
 * Threading: a handle is used by one thread at a time; nothing global. */
#include "stream/checkpoint.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "storage/storage.h"

/* Upper bound on the size of any checkpoint file we read. */
#define CKPT_MAX_FILE  (64u << 20)
/* JSON integers we accept must be exact in a double (cJSON's number). */
#define CKPT_MAX_EXACT 9007199254740992.0
/* The lease is renewed when older than this part of its term. */
#define LEASE_RENEW_MS (WEIR_CHECKPOINT_LEASE_MS / 4)
/* Times a read-only open reads the logs before it reports what it found. */
#define READ_ATTEMPTS  5
/* The conf key of a reset marker's offsets metadata. */
#define RESET_KEY      "weir.resetOffsets"

struct weir_checkpoint {
    char *dir;  /* as given, without trailing '/' */
    char *name; /* pipeline name */
    struct weir_store *store;
    bool remote;     /* on an object store */
    char *local_dir; /* dir itself, or <cache>/<query id> */
    char *state_dir; /* <local_dir>/state */
    char *lock_path; /* <local_dir>/lock */
    char query_id[37];
    char run_id[37]; /* names this handle in the lease */
    int lock_fd;
    bool read_only;                        /* no lock, no writes */
    bool leased;                           /* we hold the lease (remote) */
    int64_t renewed_ms;                    /* when we last wrote the lease */
    int64_t last_offsets, last_commit;     /* -1: none */
    int64_t oldest_offsets, oldest_commit; /* -1: none */
};

/* ------------------------------------------------------------ utilities */

static int io_error(struct weir_error *err, int e, const char *what, const char *path)
{
    bool fresh = err != NULL && err->code == 0; /* the first error set wins */
    int rc = weir_error_set(err, WEIR_EIO, "checkpoint: %s '%s': %s", what, path, strerror(e));
    if (fresh && (e == EINTR || e == EAGAIN || e == ENOSPC || e == EDQUOT || e == ENOMEM))
        err->retriable = true;
    return rc;
}

static int nomem(struct weir_error *err)
{
    return weir_error_set(err, WEIR_ENOMEM, "checkpoint: out of memory");
}

/* Creates `path` and its missing parents (mode 0755). */
static int mkdir_p(const char *path, struct weir_error *err)
{
    int e = weir_mkdir_p(path);
    if (e == ENOMEM)
        return nomem(err);
    if (e == ENOTDIR)
        return weir_error_set(err, WEIR_EIO, "checkpoint: '%s' exists and is not a directory", path);
    return e ? io_error(err, e, "cannot create directory", path) : 0;
}

/* Reads the entry `key` into a NUL-terminated buffer. WEIR_ENOTFOUND when
 * it does not exist (message set, naming <dir>/<key>). */
static int read_entry(struct weir_checkpoint *cp, const char *key, char **out, size_t *len,
                      struct weir_error *err)
{
    *out = NULL;
    *len = 0;
    struct weir_buf b;
    weir_buf_init(&b);
    struct weir_error rerr = {0};
    int rc = weir_store_get(cp->store, key, &b, &rerr);
    if (rc == WEIR_ENOTFOUND) {
        rc = weir_error_set(err, WEIR_ENOTFOUND, "checkpoint: '%s/%s' does not exist", cp->dir, key);
    } else if (rc != 0) {
        weir_error_set(err, rc, "%s", rerr.message);
        if (err != NULL && err->code == rc)
            err->retriable = rerr.retriable;
    } else if (b.len > CKPT_MAX_FILE) {
        rc = weir_error_set(err, WEIR_ECORRUPT, "checkpoint: '%s/%s' is larger than %u bytes", cp->dir, key,
                            CKPT_MAX_FILE);
    } else if (weir_buf_append_byte(&b, 0) != 0) {
        rc = nomem(err);
    } else {
        *len = b.len - 1;
        *out = (char *)b.data;
        return 0;
    }
    weir_buf_free(&b);
    return rc;
}

static int refuse_read_only(const struct weir_checkpoint *cp, const char *key, struct weir_error *err)
{
    return weir_error_set(err, WEIR_ESTATE, "checkpoint '%s' is open read-only: '%s' is not changed", cp->dir,
                          key);
}

/* "<dir>/<key>" for messages (weir_malloc'd). */
static char *display(const struct weir_checkpoint *cp, const char *key)
{
    return weir_asprintf("%s/%s", cp->dir, key);
}

/* A printable excerpt of at most 24 bytes of s[0..n) for messages. */
static void excerpt(const char *s, size_t n, char out[32])
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < 24; i++)
        out[k++] = isprint((unsigned char)s[i]) ? s[i] : '?';
    if (n > 24) {
        out[k++] = '.';
        out[k++] = '.';
        out[k++] = '.';
    }
    out[k] = '\0';
}

/* Temp files of write_atomic: ".<name>.<...>.tmp". */
static bool is_temp_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' && n > 5 && strcmp(name + n - 4, ".tmp") == 0;
}

/* A batch file name: canonical decimal ("0", "17"; no sign, no leading
 * zero), at most 18 digits. */
static bool parse_batch_name(const char *name, int64_t *id)
{
    size_t n = strlen(name);
    if (n == 0 || n > 18 || (n > 1 && name[0] == '0'))
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        v = v * 10 + (name[i] - '0');
    }
    *id = v;
    return true;
}

struct id_list {
    int64_t *v;
    size_t n, cap;
};

static int id_list_push(struct id_list *l, int64_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        int64_t *v = weir_realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return WEIR_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = id;
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ---------------------------------------------------------------- parsing */

/* Checks the version header of a log file (first line "v1") and returns
 * the position after it. A leading NUL byte (Spark's Kafka initial-offset
 * file has one) is skipped. */
static int parse_header(const char *path, const char *text, size_t n, size_t *pos, struct weir_error *err)
{
    size_t p = 0;
    if (n > 0 && text[0] == '\0')
        p = 1;
    if (p == n)
        return weir_error_set(err, WEIR_ECORRUPT, "checkpoint: '%s' is empty (a torn or truncated write?)",
                              path);
    if (memchr(text + p, '\0', n - p) != NULL)
        return weir_error_set(err, WEIR_ECORRUPT, "checkpoint: '%s' does not parse: it contains a NUL byte",
                              path);
    const char *nl = memchr(text + p, '\n', n - p);
    size_t len = nl ? (size_t)(nl - (text + p)) : n - p;
    const char *line = text + p;
    if (len == 2 && line[0] == 'v' && line[1] == '1') {
        *pos = p + len + (nl ? 1 : 0);
        return 0;
    }
    char ex[32];
    excerpt(line, len, ex);
    bool versioned = len >= 2 && line[0] == 'v';
    for (size_t i = 1; versioned && i < len; i++)
        versioned = isdigit((unsigned char)line[i]) != 0;
    if (versioned)
        return weir_error_set(
            err, WEIR_EUNSUPPORTED,
            "checkpoint: '%s' was written by an incompatible version: header '%s' (this weir "
            "reads 'v1'); use the version of weir (or Spark) that wrote it, or start this "
            "pipeline with a new checkpoint directory",
            path, ex);
    return weir_error_set(
        err, WEIR_ECORRUPT,
        "checkpoint: '%s' does not parse: line 1 should be the version header 'v1', found '%s'", path, ex);
}

/* Parses exactly one JSON value from s[0..n) (need not be NUL-terminated;
 * nothing but whitespace may follow). 0, WEIR_EPARSE or WEIR_ENOMEM. */
static int parse_json(const char *s, size_t n, cJSON **out)
{
    *out = NULL;
    if (memchr(s, '\0', n) != NULL)
        return WEIR_EPARSE; /* cJSON would stop there */
    unsigned long failures = weir_alloc_failures();
    char *copy = weir_strndup(s, n);
    if (copy == NULL)
        return WEIR_ENOMEM;
    const char *end = NULL;
    *out = cJSON_ParseWithOpts(copy, &end, 1);
    weir_free(copy);
    if (*out != NULL)
        return 0;
    return weir_alloc_failures() != failures ? WEIR_ENOMEM : WEIR_EPARSE;
}

/* An optional integral member of `obj` (absent: 0). */
static int json_int_member(const char *path, const cJSON *obj, const char *key, int64_t *out,
                           struct weir_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = 0;
    if (v == NULL)
        return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : 0.5;
    if (d != d || d < -CKPT_MAX_EXACT || d > CKPT_MAX_EXACT || (double)(int64_t)d != d)
        return weir_error_set(err, WEIR_ECORRUPT, "checkpoint: '%s' does not parse: \"%s\" is not an integer",
                              path, key);
    *out = (int64_t)d;
    return 0;
}

/* The next line of text[pos..n): [*start, *len); returns false at the end.
 * A single trailing newline does not make an empty last line. */
static bool next_line(const char *text, size_t n, size_t *pos, size_t *start, size_t *len)
{
    if (*pos >= n)
        return false;
    const char *nl = memchr(text + *pos, '\n', n - *pos);
    *start = *pos;
    *len = nl ? (size_t)(nl - (text + *pos)) : n - *pos;
    *pos = nl ? (size_t)(nl - text) + 1 : n;
    return true;
}

/* Body of an offsets/N file -> entry (cleared first; cleared on error). */
static int parse_offsets(const char *path, const char *text, size_t n, struct weir_offset_entry *out,
                         struct weir_error *err)
{
    memset(out, 0, sizeof *out);
    size_t pos = 0, start = 0, len = 0;
    cJSON *meta = NULL;
    int rc = parse_header(path, text, n, &pos, err);
    if (rc != 0)
        return rc;
    if (!next_line(text, n, &pos, &start, &len)) {
        rc = weir_error_set(err, WEIR_ECORRUPT,
                            "checkpoint: '%s' does not parse: line 2 (the batch metadata) is missing", path);
        goto done;
    }
    if (len > 0) { /* Spark writes an empty line when there is no metadata */
        rc = parse_json(text + start, len, &meta);
        if (rc == WEIR_ENOMEM) {
            rc = nomem(err);
            goto done;
        }
        if (meta == NULL || !cJSON_IsObject(meta)) {
            char ex[32];
            excerpt(text + start, len, ex);
            rc = weir_error_set(err, WEIR_ECORRUPT,
                                "checkpoint: '%s' does not parse: line 2 is not a JSON object: '%s'", path,
                                ex);
            goto done;
        }
        rc = json_int_member(path, meta, "batchWatermarkMs", &out->batch_watermark_ms, err);
        if (rc == 0)
            rc = json_int_member(path, meta, "batchTimestampMs", &out->batch_timestamp_ms, err);
        if (rc != 0)
            goto done;
        const cJSON *conf = cJSON_GetObjectItemCaseSensitive(meta, "conf");
        const cJSON *reset = cJSON_IsObject(conf) ? cJSON_GetObjectItemCaseSensitive(conf, RESET_KEY) : NULL;
        if (reset != NULL && (!cJSON_IsString(reset) || reset->valuestring[0] == '\0')) {
            rc = weir_error_set(
                err, WEIR_ECORRUPT,
                "checkpoint: '%s' does not parse: conf \"" RESET_KEY "\" is not a non-empty string", path);
            goto done;
        }
        if (reset != NULL && (out->reset = weir_strdup(reset->valuestring)) == NULL) {
            rc = nomem(err);
            goto done;
        }
    }
    size_t lineno = 2;
    while (next_line(text, n, &pos, &start, &len)) {
        lineno++;
        char *src = NULL;
        if (!(len == 1 && text[start] == '-')) {
            cJSON *j = NULL;
            rc = parse_json(text + start, len, &j);
            if (rc == WEIR_ENOMEM) {
                rc = nomem(err);
                goto done;
            }
            if (j == NULL) {
                char ex[32];
                excerpt(text + start, len, ex);
                rc =
                    weir_error_set(err, WEIR_ECORRUPT,
                                   "checkpoint: '%s' does not parse: line %zu (offsets of source %zu) is not "
                                   "JSON: '%s'",
                                   path, lineno, lineno - 3, ex);
                goto done;
            }
            cJSON_Delete(j);
            src = weir_strndup(text + start, len);
            if (src == NULL) {
                rc = nomem(err);
                goto done;
            }
        }
        char **v = weir_realloc(out->sources, (out->nsources + 1) * sizeof *v);
        if (v == NULL) {
            weir_free(src);
            rc = nomem(err);
            goto done;
        }
        out->sources = v;
        out->sources[out->nsources++] = src;
    }
done:
    cJSON_Delete(meta);
    if (rc != 0)
        weir_offset_entry_clear(out);
    return rc;
}

int weir_checkpoint_parse_offsets(const char *text, size_t n, const char *name, struct weir_offset_entry *out,
                                  struct weir_error *err)
{
    return parse_offsets(name ? name : "offsets", text, n, out, err);
}

/* Body of a commits/N file -> nextBatchWatermarkMs. */
static int parse_commit(const char *path, const char *text, size_t n, int64_t *wm, struct weir_error *err)
{
    size_t pos = 0, start = 0, len = 0;
    *wm = 0;
    int rc = parse_header(path, text, n, &pos, err);
    if (rc != 0)
        return rc;
    if (!next_line(text, n, &pos, &start, &len))
        return weir_error_set(err, WEIR_ECORRUPT,
                              "checkpoint: '%s' does not parse: line 2 (the commit metadata) is missing",
                              path);
    cJSON *j = NULL;
    rc = parse_json(text + start, len, &j);
    if (rc == WEIR_ENOMEM) {
        rc = nomem(err);
    } else if (j == NULL || !cJSON_IsObject(j)) {
        char ex[32];
        excerpt(text + start, len, ex);
        rc = weir_error_set(err, WEIR_ECORRUPT,
                            "checkpoint: '%s' does not parse: line 2 is not a JSON object: '%s'", path, ex);
    } else {
        rc = json_int_member(path, j, "nextBatchWatermarkMs", wm, err);
    }
    cJSON_Delete(j);
    if (rc == 0 && next_line(text, n, &pos, &start, &len))
        rc = weir_error_set(err, WEIR_ECORRUPT,
                            "checkpoint: '%s' does not parse: unexpected text after line 2", path);
    return rc;
}

/* Body of sources/<i>/0 -> the offsets JSON (rest of the file). */
static int parse_initial(const char *path, const char *text, size_t n, char **json, struct weir_error *err)
{
    size_t pos = 0;
    *json = NULL;
    int rc = parse_header(path, text, n, &pos, err);
    if (rc != 0)
        return rc;
    size_t end = n;
    while (end > pos && (text[end - 1] == '\n' || text[end - 1] == ' '))
        end--;
    cJSON *j = NULL;
    rc = end > pos ? parse_json(text + pos, end - pos, &j) : WEIR_EPARSE;
    if (rc == WEIR_ENOMEM)
        return nomem(err);
    if (j == NULL)
        return weir_error_set(err, WEIR_ECORRUPT,
                              "checkpoint: '%s' does not parse: the initial offsets after 'v1' are not JSON",
                              path);
    cJSON_Delete(j);
    *json = weir_strndup(text + pos, end - pos);
    return *json ? 0 : nomem(err);
}

/* ---------------------------------------------------------------- serialize */

/* The conf object of an offsets entry: {} or the reset marker's. */
static int format_conf(const struct weir_offset_entry *e, struct weir_buf *b, struct weir_error *err)
{
    if (e->reset == NULL)
        return weir_buf_append_str(b, "{}") == 0 ? 0 : nomem(err);
    if (e->reset[0] == '\0')
        return weir_error_set(err, WEIR_EINVAL, "checkpoint: the description of a reset marker is empty");
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    int rc = 0;
    if (o == NULL || cJSON_AddStringToObject(o, RESET_KEY, e->reset) == NULL ||
        (text = cJSON_PrintUnformatted(o)) == NULL || weir_buf_append_str(b, text) != 0)
        rc = nomem(err);
    cJSON_free(text);
    cJSON_Delete(o);
    return rc;
}

static int format_offsets(const struct weir_offset_entry *e, struct weir_buf *b, struct weir_error *err)
{
    int rc;
    if (weir_buf_printf(b, "v1\n{\"batchWatermarkMs\":%" PRId64 ",\"batchTimestampMs\":%" PRId64 ",\"conf\":",
                        e->batch_watermark_ms, e->batch_timestamp_ms) != 0)
        return nomem(err);
    if ((rc = format_conf(e, b, err)) != 0)
        return rc;
    if (weir_buf_append_byte(b, '}') != 0)
        return nomem(err);
    for (size_t i = 0; i < e->nsources; i++) {
        const char *s = e->sources[i];
        if (s == NULL)
            s = "-";
        else if (strchr(s, '\n') != NULL || strchr(s, '\r') != NULL || strcmp(s, "-") == 0)
            return weir_error_set(
                err, WEIR_EINVAL,
                "checkpoint: offsets of source %zu must be one line of JSON, got a line break", i);
        else {
            cJSON *j = NULL;
            int prc = parse_json(s, strlen(s), &j);
            if (prc == WEIR_ENOMEM)
                return nomem(err);
            if (j == NULL) {
                char ex[32];
                excerpt(s, strlen(s), ex);
                return weir_error_set(err, WEIR_EINVAL,
                                      "checkpoint: offsets of source %zu are not JSON: '%s'", i, ex);
            }
            cJSON_Delete(j);
        }
        if (weir_buf_append_byte(b, '\n') != 0 || weir_buf_append_str(b, s) != 0)
            return nomem(err);
    }
    return 0;
}

/* Writes `key` with `data` unless it exists: then 0 if it holds the same
 * bytes, WEIR_EEXISTS otherwise. `crash_point` (may be NULL) is reached
 * just before the write. */
static int write_once(struct weir_checkpoint *cp, const char *key, const char *data, size_t n,
                      const char *crash_point, struct weir_error *err)
{
    if (cp->read_only)
        return refuse_read_only(cp, key, err);
    for (int attempt = 0;; attempt++) {
        char *old = NULL;
        size_t old_len = 0;
        struct weir_error rerr = {0};
        int rc = read_entry(cp, key, &old, &old_len, &rerr);
        if (rc == 0) {
            bool same = old_len == n && memcmp(old, data, n) == 0;
            weir_free(old);
            if (same)
                return 0;
            return weir_error_set(err, WEIR_EEXISTS,
                                  "checkpoint: '%s/%s' already exists with other content; a written "
                                  "checkpoint entry is never replaced",
                                  cp->dir, key);
        }
        if (rc != WEIR_ENOTFOUND || attempt > 0) {
            weir_error_set(err, rerr.code, "%s", rerr.message);
            if (err != NULL && err->code == rerr.code)
                err->retriable = rerr.retriable;
            return rc;
        }
        if (crash_point != NULL)
            WEIR_CRASH_POINT(crash_point);
        rc = weir_store_put_if_absent(cp->store, key, data, n, err);
        if (rc != WEIR_EEXISTS)
            return rc;
        weir_error_clear(err); /* written meanwhile: compare with it */
    }
}

/* Deletes the temp files a crash left in <local dir>/<sub> (local
 * checkpoints only). */
static int sweep_temp(struct weir_checkpoint *cp, const char *sub, struct weir_error *err)
{
    char *path = sub[0] ? weir_asprintf("%s/%s", cp->local_dir, sub) : weir_strdup(cp->local_dir);
    if (path == NULL)
        return nomem(err);
    int rc = 0;
    DIR *d = opendir(path);
    struct dirent *de;
    while (d != NULL && rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_type == DT_DIR || !is_temp_name(de->d_name))
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT)
            rc = io_error(err, errno, "cannot delete stray temp file in", path);
        else
            WEIR_INFO("checkpoint: deleted stray temp file %s/%s (left by an interrupted write)", path,
                      de->d_name);
    }
    if (d != NULL)
        closedir(d);
    else if (errno != ENOENT)
        rc = io_error(err, errno, "cannot list directory", path);
    weir_free(path);
    return rc;
}

/* Batch ids of a log ("offsets" or "commits"), sorted. Other names are
 * ignored, as Spark's log ignores them. */
static int list_ids(struct weir_checkpoint *cp, const char *log, struct id_list *ids, struct weir_error *err)
{
    struct weir_object_list l = {0};
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%s/", log);
    int rc = weir_store_list(cp->store, prefix, NULL, false, &l, err);
    for (size_t i = 0; rc == 0 && i < l.count; i++) {
        const char *base = strrchr(l.items[i].key, '/');
        int64_t id;
        base = base ? base + 1 : l.items[i].key;
        if (parse_batch_name(base, &id) && id_list_push(ids, id) != 0)
            rc = nomem(err);
    }
    weir_object_list_free(&l);
    if (rc == 0 && ids->n > 1)
        qsort(ids->v, ids->n, sizeof *ids->v, cmp_id);
    return rc;
}

/* ---------------------------------------------------------------- locks */

/* Takes the flock of <local_dir>/lock; on contention names the holder's pid. */
static int take_lock(struct weir_checkpoint *cp, struct weir_error *err)
{
    cp->lock_fd = open(cp->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (cp->lock_fd < 0)
        return io_error(err, errno, "cannot open lock file", cp->lock_path);
    if (flock(cp->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e != EWOULDBLOCK)
            return io_error(err, e, "cannot lock", cp->lock_path);
        char buf[32] = {0};
        ssize_t r = pread(cp->lock_fd, buf, sizeof buf - 1, 0);
        long pid = r > 0 ? strtol(buf, NULL, 10) : 0;
        char who[48];
        if (pid > 0)
            snprintf(who, sizeof who, "pid %ld", pid);
        else
            snprintf(who, sizeof who, "pid unknown");
        return weir_error_set(
            err, WEIR_ESTATE,
            "checkpoint directory '%s' is in use by another running weir pipeline (%s, holding "
            "'%s'); stop it first, or give this pipeline its own checkpoint directory",
            cp->dir, who, cp->lock_path);
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(cp->lock_fd, 0) != 0 || pwrite(cp->lock_fd, pid, (size_t)len, 0) != len)
        return io_error(err, errno, "cannot write pid into", cp->lock_path);
    return 0;
}

struct lease {
    char host[256];
    long pid;
    char run[37];
    int64_t renewed_ms;
};

static void host_name(char out[256])
{
    if (gethostname(out, 255) != 0)
        snprintf(out, 256, "unknown");
    out[255] = '\0';
}

/* The lease object: 0 and *found, or 0 and !*found when there is none. */
static int lease_read(struct weir_checkpoint *cp, struct lease *l, bool *found, struct weir_error *err)
{
    char *text = NULL;
    size_t n = 0;
    memset(l, 0, sizeof *l);
    *found = false;
    struct weir_error rerr = {0};
    int rc = read_entry(cp, "lock", &text, &n, &rerr);
    if (rc == WEIR_ENOTFOUND)
        return 0;
    if (rc != 0) {
        weir_error_set(err, rc, "%s", rerr.message);
        if (err != NULL && err->code == rc)
            err->retriable = rerr.retriable;
        return rc;
    }
    cJSON *j = cJSON_ParseWithLength(text, n);
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(j, "host");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(j, "pid");
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(j, "runId");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "renewedMs");
    *found = true;
    if (cJSON_IsString(host) && cJSON_IsNumber(pid) && cJSON_IsString(run) && cJSON_IsNumber(ms)) {
        snprintf(l->host, sizeof l->host, "%s", host->valuestring);
        l->pid = (long)pid->valuedouble;
        snprintf(l->run, sizeof l->run, "%s", run->valuestring);
        l->renewed_ms = (int64_t)ms->valuedouble;
    } /* else: unreadable, treated as expired */
    cJSON_Delete(j);
    weir_free(text);
    return 0;
}

static int lease_write(struct weir_checkpoint *cp, bool create, struct weir_error *err)
{
    char host[256];
    host_name(host);
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    int64_t now = weir_now_ms();
    if (o == NULL || !cJSON_AddStringToObject(o, "host", host) ||
        !cJSON_AddNumberToObject(o, "pid", (double)getpid()) ||
        !cJSON_AddStringToObject(o, "runId", cp->run_id) ||
        !cJSON_AddNumberToObject(o, "renewedMs", (double)now) || (text = cJSON_PrintUnformatted(o)) == NULL) {
        cJSON_Delete(o);
        return nomem(err);
    }
    cJSON_Delete(o);
    int rc = create ? weir_store_put_if_absent(cp->store, "lock", text, strlen(text), err)
                    : weir_store_put(cp->store, "lock", text, strlen(text), err);
    cJSON_free(text);
    if (rc == 0)
        cp->renewed_ms = now;
    return rc;
}

/* The lease names a process of this host that no longer exists. */
static bool lease_holder_gone(const struct lease *l)
{
    char host[256];
    host_name(host);
    return strcmp(host, l->host) == 0 && kill((pid_t)l->pid, 0) != 0 && errno == ESRCH;
}

/* Takes the lease, or refuses naming its holder. */
static int take_lease(struct weir_checkpoint *cp, struct weir_error *err)
{
    struct lease l;
    bool found;
    int rc = lease_read(cp, &l, &found, err);
    if (rc != 0)
        return rc;
    if (!found) {
        rc = lease_write(cp, true, err);
        if (rc != WEIR_EEXISTS)
            goto check;
        weir_error_clear(err); /* another run took it just now */
        if ((rc = lease_read(cp, &l, &found, err)) != 0)
            return rc;
    }
    char host[256];
    host_name(host);
    int64_t age = weir_now_ms() - l.renewed_ms;
    bool dead = (strcmp(host, l.host) == 0 && l.pid == (long)getpid()) || lease_holder_gone(&l);
    if (!dead && l.renewed_ms > 0 && age < WEIR_CHECKPOINT_LEASE_MS)
        return weir_error_set(err, WEIR_ESTATE,
                              "checkpoint '%s' is in use by another running weir pipeline (host %s, pid %ld, "
                              "renewed %lld ms ago); stop it first, or give this pipeline its own "
                              "checkpoint. A holder that died without stopping releases it after %d s",
                              cp->dir, l.host, l.pid, (long long)age, WEIR_CHECKPOINT_LEASE_MS / 1000);
    if (l.renewed_ms > 0)
        WEIR_WARN("checkpoint '%s': taking over the lease of host %s, pid %ld (%s)", cp->dir, l.host, l.pid,
                  dead ? "that process is gone" : "it expired");
    rc = lease_write(cp, false, err);
check:
    if (rc != 0)
        return rc;
    /* two runs taking over at once: the last write wins, the other sees it */
    if ((rc = lease_read(cp, &l, &found, err)) != 0)
        return rc;
    if (!found || strcmp(l.run, cp->run_id) != 0)
        return weir_error_set(err, WEIR_ESTATE,
                              "checkpoint '%s' was taken by another weir pipeline starting at the same "
                              "time (host %s, pid %ld)",
                              cp->dir, l.host, l.pid);
    cp->leased = true;
    return 0;
}

/* Checks the lease is still ours and renews it when due (or forced). */
static int keep_lease(struct weir_checkpoint *cp, bool check, struct weir_error *err)
{
    if (!cp->remote || cp->read_only)
        return 0;
    int64_t now = weir_now_ms();
    if (!check && now - cp->renewed_ms < LEASE_RENEW_MS)
        return 0;
    struct lease l;
    bool found;
    int rc = lease_read(cp, &l, &found, err);
    if (rc != 0)
        return rc;
    if (found && strcmp(l.run, cp->run_id) != 0) {
        cp->leased = false;
        return weir_error_set(err, WEIR_ESTATE,
                              "checkpoint '%s' was taken over by another weir pipeline (host %s, pid %ld) "
                              "after this one did not renew its lease for %d s; stopping",
                              cp->dir, l.host, l.pid, WEIR_CHECKPOINT_LEASE_MS / 1000);
    }
    return now - cp->renewed_ms >= LEASE_RENEW_MS ? lease_write(cp, false, err) : 0;
}

int weir_checkpoint_heartbeat(struct weir_checkpoint *cp, struct weir_error *err)
{
    return keep_lease(cp, false, err);
}

/* Who has a flock() on the file open as `fd`, from /proc/locks (lines
 * such as "1: FLOCK  ADVISORY  WRITE 1234 fd:00:5580674 0 EOF", waiters
 * with "->" before FLOCK), matched by device and inode: 1 held (*pid set),
 * 0 free, -1 unknown. Reading it never takes or disturbs a lock. */
static int flock_holder(int fd, long *pid)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    FILE *f = fopen("/proc/locks", "re");
    if (f == NULL)
        return -1;
    char line[256];
    int held = 0;
    while (!held && fgets(line, sizeof line, f) != NULL) {
        char kind[16], mode[16], access[16];
        long p;
        unsigned maj, min;
        unsigned long long ino;
        const char *rest = strchr(line, ':');
        if (rest == NULL ||
            sscanf(rest + 1, " %15s %15s %15s %ld %x:%x:%llu", kind, mode, access, &p, &maj, &min, &ino) != 7)
            continue;
        if (strcmp(kind, "FLOCK") == 0 && maj == major(st.st_dev) && min == minor(st.st_dev) &&
            ino == (unsigned long long)st.st_ino) {
            held = 1;
            *pid = p;
        }
    }
    fclose(f);
    return held;
}

int weir_checkpoint_holder(struct weir_checkpoint *cp, struct weir_checkpoint_holder *out,
                           struct weir_error *err)
{
    memset(out, 0, sizeof *out);
    if (cp->remote) {
        struct lease l;
        bool found = false;
        int rc = lease_read(cp, &l, &found, err);
        if (rc != 0)
            return rc;
        out->known = true;
        if (found) {
            out->pid = l.pid;
            snprintf(out->host, sizeof out->host, "%s", l.host);
            out->renewed_ms = l.renewed_ms;
            out->held = l.renewed_ms > 0 && weir_now_ms() - l.renewed_ms < WEIR_CHECKPOINT_LEASE_MS &&
                        !lease_holder_gone(&l);
        }
        return 0;
    }
    int fd = open(cp->lock_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            return io_error(err, errno, "cannot open lock file", cp->lock_path);
        out->known = true; /* never run */
        return 0;
    }
    char buf[32] = {0};
    ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
    out->pid = r > 0 ? strtol(buf, NULL, 10) : 0;
    long pid = 0;
    int held = flock_holder(fd, &pid);
    close(fd);
    out->known = held >= 0;
    out->held = held > 0;
    if (held > 0 && pid > 0)
        out->pid = pid;
    return 0;
}

/* ---------------------------------------------------------------- open */

static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* A new metadata entry; WEIR_EEXISTS when another run wrote one first. */
static int write_metadata(struct weir_checkpoint *cp, struct weir_error *err)
{
    int rc = 0;
    char *text = NULL;
    weir_uuid4(cp->query_id);
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || cJSON_AddStringToObject(o, "id", cp->query_id) == NULL ||
        cJSON_AddStringToObject(o, "name", cp->name) == NULL ||
        cJSON_AddNumberToObject(o, "weirCheckpointVersion", WEIR_CHECKPOINT_VERSION) == NULL ||
        (text = cJSON_PrintUnformatted(o)) == NULL) {
        rc = nomem(err);
        goto done;
    }
    rc = weir_store_put_if_absent(cp->store, "metadata", text, strlen(text), err);
done:
    cJSON_free(text);
    cJSON_Delete(o);
    return rc;
}

static int read_metadata(struct weir_checkpoint *cp, const char *path, const char *text, size_t n,
                         struct weir_error *err)
{
    cJSON *j = NULL;
    int rc = parse_json(text, n, &j);
    if (rc == WEIR_ENOMEM) {
        rc = nomem(err);
        goto done;
    }
    if (j == NULL || !cJSON_IsObject(j)) {
        rc = weir_error_set(err, WEIR_ECORRUPT, "checkpoint: '%s' does not parse: not a JSON object", path);
        goto done;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "weirCheckpointVersion");
    if (!cJSON_IsString(id) || !is_uuid(id->valuestring)) {
        rc = weir_error_set(err, WEIR_ECORRUPT, "checkpoint: '%s' is malformed: \"id\" is not a query UUID",
                            path);
        goto done;
    }
    if (!cJSON_IsNumber(ver) || !cJSON_IsString(name)) {
        rc = weir_error_set(
            err, WEIR_EUNSUPPORTED,
            "checkpoint: '%s' was not written by weir (no \"name\" and \"weirCheckpointVersion\"); "
            "start pipeline '%s' with a new checkpoint directory",
            path, cp->name ? cp->name : "?");
        goto done;
    }
    if (ver->valuedouble != WEIR_CHECKPOINT_VERSION) {
        rc = weir_error_set(
            err, WEIR_EUNSUPPORTED,
            "checkpoint: '%s' was written by an incompatible version: weirCheckpointVersion %g "
            "(this weir reads %d)",
            path, ver->valuedouble, WEIR_CHECKPOINT_VERSION);
        goto done;
    }
    if (cp->name == NULL && (cp->name = weir_strdup(name->valuestring)) == NULL) {
        rc = nomem(err);
        goto done;
    }
    if (strcmp(name->valuestring, cp->name) != 0) {
        rc = weir_error_set(
            err, WEIR_ECONFIG,
            "checkpoint directory '%s' belongs to pipeline '%s', not '%s'; every pipeline needs "
            "its own checkpoint: give pipeline '%s' a new checkpoint directory",
            cp->dir, name->valuestring, cp->name, cp->name);
        goto done;
    }
    memcpy(cp->query_id, id->valuestring, 37);
done:
    cJSON_Delete(j);
    return rc;
}

/* Parses every file of a log; `offsets` selects the format. */

static bool id_list_has(const struct id_list *l, int64_t id)
{
    return bsearch(&id, l->v, l->n, sizeof *l->v, cmp_id) != NULL;
}

/* Ids must run without a hole from the oldest to the newest. */
static int check_contiguous(const struct weir_checkpoint *cp, const struct id_list *l, const char *log,
                            struct weir_error *err)
{
    for (size_t i = 1; i < l->n; i++)
        if (l->v[i] != l->v[i - 1] + 1)
            return weir_error_set(err, WEIR_ESTATE,
                                  "checkpoint '%s' is inconsistent: %s/%" PRId64
                                  " is missing between %s/%" PRId64 " and %s/%" PRId64
                                  " (a gap in the %s log); restore the directory from a "
                                  "backup or start with a new checkpoint directory",
                                  cp->dir, log, l->v[i - 1] + 1, log, l->v[i - 1], log, l->v[i], log);
    return 0;
}

/* Parses every file of a log ("offsets" or "commits"). */
static int check_log_files(struct weir_checkpoint *cp, const char *log, const struct id_list *ids,
                           struct weir_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < ids->n && rc == 0; i++) {
        char key[48];
        snprintf(key, sizeof key, "%s/%" PRId64, log, ids->v[i]);
        char *path = display(cp, key), *text = NULL;
        size_t n = 0;
        if (path == NULL)
            return nomem(err);
        rc = read_entry(cp, key, &text, &n, err);
        if (rc == 0 && strcmp(log, "offsets") == 0) {
            struct weir_offset_entry e;
            rc = parse_offsets(path, text, n, &e, err);
            weir_offset_entry_clear(&e);
        } else if (rc == 0) {
            int64_t wm;
            rc = parse_commit(path, text, n, &wm, err);
        }
        weir_free(text);
        weir_free(path);
    }
    return rc;
}

/* Parses each sources/<i>/0 (written when source i first starts); a
 * local checkpoint's temp files under sources/<i>/ are deleted. */
static int check_sources(struct weir_checkpoint *cp, struct weir_error *err)
{
    int rc = 0;
    for (size_t i = 0; rc == 0; i++) {
        char key[48];
        snprintf(key, sizeof key, "sources/%zu", i);
        if (!cp->remote && !cp->read_only && (rc = sweep_temp(cp, key, err)) != 0)
            break;
        snprintf(key, sizeof key, "sources/%zu/0", i);
        char *text = NULL, *json = NULL, *path = display(cp, key);
        size_t n = 0;
        struct weir_error rerr = {0};
        rc = path ? read_entry(cp, key, &text, &n, &rerr) : nomem(err);
        if (rc == 0) {
            rc = parse_initial(path, text, n, &json, err);
        } else if (rc != WEIR_ENOTFOUND && path != NULL) {
            weir_error_set(err, rerr.code, "%s", rerr.message);
        }
        weir_free(json);
        weir_free(text);
        weir_free(path);
        if (rc == WEIR_ENOTFOUND)
            return 0;
    }
    return rc;
}

/* The query id: metadata read, or written when the checkpoint is new. */
static int load_metadata(struct weir_checkpoint *cp, struct weir_error *err)
{
    for (int attempt = 0;; attempt++) {
        char *text = NULL, *path = display(cp, "metadata");
        size_t n = 0;
        struct weir_error rerr = {0};
        int rc = path ? read_entry(cp, "metadata", &text, &n, &rerr) : nomem(err);
        if (rc == 0) {
            rc = read_metadata(cp, path, text, n, err);
        } else if (rc == WEIR_ENOTFOUND && cp->read_only) {
            rc = weir_error_set(err, WEIR_ENOTFOUND,
                                "'%s' is not a checkpoint: it has no metadata file ('%s')", cp->dir, path);
        } else if (rc == WEIR_ENOTFOUND && attempt == 0) {
            struct id_list offs = {0}, coms = {0};
            rc = list_ids(cp, "offsets", &offs, err);
            if (rc == 0)
                rc = list_ids(cp, "commits", &coms, err);
            if (rc == 0 && (offs.n > 0 || coms.n > 0))
                rc = weir_error_set(
                    err, WEIR_ESTATE,
                    "checkpoint '%s' is inconsistent: it has offsets or commits but no metadata file "
                    "(the query id is lost); start with a new checkpoint directory",
                    cp->dir);
            else if (rc == 0)
                rc = write_metadata(cp, err);
            weir_free(offs.v);
            weir_free(coms.v);
            if (rc == WEIR_EEXISTS) { /* another run created it first: read theirs */
                weir_error_clear(err);
                weir_free(path);
                continue;
            }
        } else if (path != NULL) {
            weir_error_set(err, rerr.code, "%s", rerr.message);
            if (err != NULL && err->code == rc)
                err->retriable = rerr.retriable;
        }
        weir_free(text);
        weir_free(path);
        return rc;
    }
}

static int load(struct weir_checkpoint *cp, struct weir_error *err)
{
    int rc = 0;
    struct id_list offs = {0}, coms = {0};
    rc = list_ids(cp, "offsets", &offs, err);
    if (rc == 0)
        rc = list_ids(cp, "commits", &coms, err);
    if (rc == 0)
        rc = check_sources(cp, err);
    if (rc == 0)
        rc = check_log_files(cp, "offsets", &offs, err);
    if (rc == 0)
        rc = check_log_files(cp, "commits", &coms, err);
    if (rc != 0)
        goto done;
    for (size_t i = 0; i < coms.n; i++)
        if (!id_list_has(&offs, coms.v[i])) {
            rc = weir_error_set(
                err, WEIR_ESTATE,
                "checkpoint '%s' is inconsistent: commits/%" PRId64 " exists without offsets/%" PRId64
                "; restore the directory from a backup or start with a new checkpoint directory",
                cp->dir, coms.v[i], coms.v[i]);
            goto done;
        }
    rc = check_contiguous(cp, &offs, "offsets", err);
    if (rc == 0)
        rc = check_contiguous(cp, &coms, "commits", err);
    if (rc != 0)
        goto done;
    cp->last_offsets = offs.n ? offs.v[offs.n - 1] : -1;
    cp->oldest_offsets = offs.n ? offs.v[0] : -1;
    cp->last_commit = coms.n ? coms.v[coms.n - 1] : -1;
    cp->oldest_commit = coms.n ? coms.v[0] : -1;
    if (cp->last_offsets > cp->last_commit + 1) {
        rc = weir_error_set(
            err, WEIR_ESTATE,
            "checkpoint '%s' is inconsistent: batches %" PRId64 "..%" PRId64
            " are planned (offsets/) but the last commit is %" PRId64
            "; at most one batch can be uncommitted. Restore the directory from a backup or start "
            "with a new checkpoint directory",
            cp->dir, cp->last_commit + 1, cp->last_offsets, cp->last_commit);
        goto done;
    }
done:
    weir_free(offs.v);
    weir_free(coms.v);
    return rc;
}

/* The local directory of a checkpoint on an object store. */
static char *cache_dir(const struct weir_checkpoint *cp, const char *root)
{
    if (root == NULL || root[0] == '\0')
        root = getenv("CACHE_DIRECTORY"); /* systemd's CacheDirectory= */
    if (root == NULL || root[0] == '\0')
        root = WEIR_CHECKPOINT_CACHE_DEFAULT;
    return weir_asprintf("%s/%s", root, cp->query_id);
}

int weir_checkpoint_open(const char *dir, const char *name, const struct weir_checkpoint_options *o,
                         struct weir_checkpoint **out, struct weir_error *err)
{
    *out = NULL;
    bool ro = o != NULL && o->read_only;
    if (dir == NULL || dir[0] == '\0' || (!ro && (name == NULL || name[0] == '\0')))
        return weir_error_set(err, WEIR_EINVAL, "checkpoint: a directory and a pipeline name are required");
    int rc = 0;
    struct weir_checkpoint *cp = weir_calloc(1, sizeof *cp);
    if (cp == NULL)
        return nomem(err);
    cp->lock_fd = -1;
    cp->read_only = ro;
    cp->last_offsets = cp->last_commit = cp->oldest_offsets = cp->oldest_commit = -1;
    weir_uuid4(cp->run_id);
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    cp->dir = weir_strndup(dir, len);
    cp->name = name ? weir_strdup(name) : NULL;
    if (cp->dir == NULL || (name != NULL && cp->name == NULL)) {
        rc = nomem(err);
        goto fail;
    }
    if ((rc = weir_store_open_with(&cp->store, cp->dir, o ? o->store : NULL, err)) != 0) {
        weir_error_prefix(err, "checkpoint '%s'", cp->dir);
        goto fail;
    }
    const char *local = weir_store_local_dir(cp->store);
    cp->remote = local == NULL;
    if (!cp->remote) {
        const char *sep = strcmp(local, "/") == 0 ? "" : "/";
        cp->local_dir = weir_strdup(local);
        cp->lock_path = weir_asprintf("%s%slock", local, sep);
        if (cp->local_dir == NULL || cp->lock_path == NULL) {
            rc = nomem(err);
            goto fail;
        }
    }
    if (!cp->remote && !ro) {
        const char *sep = strcmp(local, "/") == 0 ? "" : "/";
        /* the lock is held: temp files are leftovers of a crashed writer */
        if ((rc = mkdir_p(local, err)) || (rc = take_lock(cp, err)) || (rc = sweep_temp(cp, "", err)) ||
            (rc = sweep_temp(cp, "offsets", err)) || (rc = sweep_temp(cp, "commits", err)))
            goto fail;
        /* Spark's layout has both logs from the start */
        char *offs = weir_asprintf("%s%soffsets", local, sep),
             *coms = weir_asprintf("%s%scommits", local, sep);
        rc = offs && coms ? 0 : nomem(err);
        if (rc == 0 && (rc = mkdir_p(offs, err)) == 0)
            rc = mkdir_p(coms, err);
        weir_free(offs);
        weir_free(coms);
        if (rc != 0)
            goto fail;
    }
    if ((rc = load_metadata(cp, err)) != 0)
        goto fail;
    if (cp->remote) {
        cp->local_dir = cache_dir(cp, o ? o->cache_dir : NULL);
        cp->lock_path = cp->local_dir ? weir_asprintf("%s/lock", cp->local_dir) : NULL;
        if (cp->local_dir == NULL || cp->lock_path == NULL) {
            rc = nomem(err);
            goto fail;
        }
        if (!ro &&
            ((rc = mkdir_p(cp->local_dir, err)) || (rc = take_lock(cp, err)) || (rc = take_lease(cp, err))))
            goto fail;
    }
    cp->state_dir = weir_asprintf("%s/state", cp->local_dir);
    if (cp->state_dir == NULL) {
        rc = nomem(err);
        goto fail;
    }
    /* a reader races the writer's new entries and purges: read again */
    for (int attempt = 1;; attempt++) {
        rc = load(cp, err);
        if (rc == 0 || !ro || attempt == READ_ATTEMPTS || (rc != WEIR_ENOTFOUND && rc != WEIR_ESTATE))
            break;
        weir_error_clear(err);
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 20 * 1000000L};
        nanosleep(&pause, NULL);
    }
    if (rc != 0)
        goto fail;
    *out = cp;
    return 0;
fail:
    weir_checkpoint_close(cp);
    return rc;
}

void weir_checkpoint_close(struct weir_checkpoint *cp)
{
    if (cp == NULL)
        return;
    if (cp->leased) { /* released only if still ours */
        struct lease l;
        bool found = false;
        if (lease_read(cp, &l, &found, NULL) == 0 && found && strcmp(l.run, cp->run_id) == 0)
            (void)weir_store_delete(cp->store, "lock", NULL);
    }
    if (cp->lock_fd >= 0)
        close(cp->lock_fd); /* releases the flock */
    weir_store_destroy(cp->store);
    weir_free(cp->dir);
    weir_free(cp->name);
    weir_free(cp->local_dir);
    weir_free(cp->state_dir);
    weir_free(cp->lock_path);
    weir_free(cp);
}

const char *weir_checkpoint_dir(const struct weir_checkpoint *cp)
{
    return cp->dir;
}

const char *weir_checkpoint_name(const struct weir_checkpoint *cp)
{
    return cp->name;
}

const char *weir_checkpoint_query_id(const struct weir_checkpoint *cp)
{
    return cp->query_id;
}

const char *weir_checkpoint_state_dir(const struct weir_checkpoint *cp)
{
    return cp->state_dir;
}

const char *weir_checkpoint_local_dir(const struct weir_checkpoint *cp)
{
    return cp->local_dir;
}

struct weir_store *weir_checkpoint_store(const struct weir_checkpoint *cp)
{
    return cp->store;
}

bool weir_checkpoint_remote(const struct weir_checkpoint *cp)
{
    return cp->remote;
}

int64_t weir_checkpoint_last_offsets(const struct weir_checkpoint *cp)
{
    return cp->last_offsets;
}

int64_t weir_checkpoint_last_commit(const struct weir_checkpoint *cp)
{
    return cp->last_commit;
}

int64_t weir_checkpoint_oldest_offsets(const struct weir_checkpoint *cp)
{
    return cp->oldest_offsets;
}

int64_t weir_checkpoint_oldest_commit(const struct weir_checkpoint *cp)
{
    return cp->oldest_commit;
}

void weir_offset_entry_clear(struct weir_offset_entry *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->nsources; i++)
        weir_free(e->sources[i]);
    weir_free(e->sources);
    weir_free(e->reset);
    memset(e, 0, sizeof *e);
}

/* ---------------------------------------------------------------- logs */

/* Reads <log>/<batch>: WEIR_ENOTFOUND when absent; *path for messages. */
static int read_batch_file(struct weir_checkpoint *cp, const char *log, int64_t batch, char **path,
                           char **text, size_t *n, struct weir_error *err)
{
    char key[48];
    snprintf(key, sizeof key, "%s/%" PRId64, log, batch);
    *text = NULL;
    *path = display(cp, key);
    if (*path == NULL)
        return nomem(err);
    return read_entry(cp, key, text, n, err);
}

int weir_checkpoint_read_offsets(struct weir_checkpoint *cp, int64_t batch, struct weir_offset_entry *out,
                                 struct weir_error *err)
{
    memset(out, 0, sizeof *out);
    char *path = NULL, *text = NULL;
    size_t n = 0;
    int rc = read_batch_file(cp, "offsets", batch, &path, &text, &n, err);
    if (rc == 0)
        rc = parse_offsets(path, text, n, out, err);
    weir_free(text);
    weir_free(path);
    return rc;
}

int weir_checkpoint_write_offsets(struct weir_checkpoint *cp, int64_t batch,
                                  const struct weir_offset_entry *e, struct weir_error *err)
{
    struct weir_buf b;
    weir_buf_init(&b);
    char key[48];
    int rc = 0;
    if (batch < 0) {
        rc = weir_error_set(err, WEIR_EINVAL, "checkpoint '%s': batch id %" PRId64 " is negative", cp->dir,
                            batch);
        goto done;
    }
    rc = format_offsets(e, &b, err);
    if (rc != 0)
        goto done;
    snprintf(key, sizeof key, "offsets/%" PRId64, batch);
    if (batch <= cp->last_offsets && batch >= cp->oldest_offsets) {
        /* already planned: only the identical plan is accepted */
        rc = write_once(cp, key, (const char *)b.data, b.len, NULL, err);
        goto done;
    }
    if (batch != cp->last_offsets + 1) {
        rc = weir_error_set(err, WEIR_ESTATE,
                            "checkpoint '%s': cannot write offsets/%" PRId64
                            ": the next batch to plan is %" PRId64,
                            cp->dir, batch, cp->last_offsets + 1);
        goto done;
    }
    if (cp->last_offsets > cp->last_commit) {
        rc = weir_error_set(err, WEIR_ESTATE,
                            "checkpoint '%s': cannot write offsets/%" PRId64 ": batch %" PRId64
                            " is planned but not committed",
                            cp->dir, batch, cp->last_offsets);
        goto done;
    }
    if ((rc = keep_lease(cp, true, err)) != 0)
        goto done;
    rc = write_once(cp, key, (const char *)b.data, b.len, "checkpoint.offsets", err);
    if (rc == 0) {
        cp->last_offsets = batch;
        if (cp->oldest_offsets < 0)
            cp->oldest_offsets = batch;
    }
done:
    weir_buf_free(&b);
    return rc;
}

int weir_checkpoint_write_commit(struct weir_checkpoint *cp, int64_t batch, int64_t next_watermark_ms,
                                 struct weir_error *err)
{
    char text[64], key[48];
    int len = snprintf(text, sizeof text, "v1\n{\"nextBatchWatermarkMs\":%" PRId64 "}", next_watermark_ms);
    snprintf(key, sizeof key, "commits/%" PRId64, batch);
    if (batch < 0)
        return weir_error_set(err, WEIR_EINVAL, "checkpoint '%s': batch id %" PRId64 " is negative", cp->dir,
                              batch);
    if (batch <= cp->last_commit && batch >= cp->oldest_commit)
        return write_once(cp, key, text, (size_t)len, NULL, err);
    if (batch != cp->last_commit + 1)
        return weir_error_set(err, WEIR_ESTATE,
                              "checkpoint '%s': cannot write commits/%" PRId64
                              ": the next batch to commit is %" PRId64,
                              cp->dir, batch, cp->last_commit + 1);
    if (batch > cp->last_offsets)
        return weir_error_set(err, WEIR_ESTATE,
                              "checkpoint '%s': cannot write commits/%" PRId64 ": offsets/%" PRId64
                              " was never written",
                              cp->dir, batch, batch);
    int rc = write_once(cp, key, text, (size_t)len, "checkpoint.commit", err);
    if (rc == 0) {
        cp->last_commit = batch;
        if (cp->oldest_commit < 0)
            cp->oldest_commit = batch;
        rc = keep_lease(cp, false, err);
    }
    return rc;
}

int weir_checkpoint_read_commit(struct weir_checkpoint *cp, int64_t batch, int64_t *next_watermark_ms,
                                struct weir_error *err)
{
    char *path = NULL, *text = NULL;
    size_t n = 0;
    *next_watermark_ms = 0;
    int rc = read_batch_file(cp, "commits", batch, &path, &text, &n, err);
    if (rc == 0)
        rc = parse_commit(path, text, n, next_watermark_ms, err);
    weir_free(text);
    weir_free(path);
    return rc;
}

int weir_checkpoint_discard_pending(struct weir_checkpoint *cp, int64_t *batch, struct weir_error *err)
{
    char key[48];
    int64_t b = cp->last_commit + 1;
    if (batch != NULL)
        *batch = -1;
    snprintf(key, sizeof key, "offsets/%" PRId64, b);
    if (cp->read_only)
        return refuse_read_only(cp, key, err);
    if (cp->last_offsets != b)
        return weir_error_set(err, WEIR_ESTATE,
                              "checkpoint '%s': no batch is planned but not committed (offsets/%" PRId64
                              " does not exist)",
                              cp->dir, b);
    int rc = keep_lease(cp, true, err);
    if (rc == 0)
        rc = weir_store_delete(cp->store, key, err);
    if (rc != 0)
        return rc;
    cp->last_offsets = b - 1;
    if (cp->oldest_offsets == b)
        cp->oldest_offsets = -1;
    if (batch != NULL)
        *batch = b;
    return 0;
}

/* ---------------------------------------------------------------- sources */

int weir_checkpoint_read_initial(struct weir_checkpoint *cp, size_t source, char **json,
                                 struct weir_error *err)
{
    *json = NULL;
    char key[48], *text = NULL;
    size_t n = 0;
    snprintf(key, sizeof key, "sources/%zu/0", source);
    char *path = display(cp, key);
    if (path == NULL)
        return nomem(err);
    int rc = read_entry(cp, key, &text, &n, err);
    if (rc == 0)
        rc = parse_initial(path, text, n, json, err);
    weir_free(text);
    weir_free(path);
    return rc;
}

int weir_checkpoint_write_initial(struct weir_checkpoint *cp, size_t source, const char *json,
                                  struct weir_error *err)
{
    char key[48];
    snprintf(key, sizeof key, "sources/%zu/0", source);
    cJSON *j = NULL;
    int rc = json ? parse_json(json, strlen(json), &j) : WEIR_EPARSE;
    cJSON_Delete(j);
    if (rc == WEIR_ENOMEM)
        return nomem(err);
    if (rc != 0)
        return weir_error_set(err, WEIR_EINVAL, "checkpoint '%s': initial offsets of source %zu are not JSON",
                              cp->dir, source);
    char *text = weir_asprintf("v1\n%s", json);
    if (text == NULL)
        return nomem(err);
    rc = write_once(cp, key, text, strlen(text), NULL, err);
    weir_free(text);
    return rc;
}

/* ---------------------------------------------------------------- purge */

static int delete_batch(struct weir_checkpoint *cp, const char *log, int64_t batch, size_t *deleted,
                        struct weir_error *err)
{
    char key[48];
    snprintf(key, sizeof key, "%s/%" PRId64, log, batch);
    int rc = weir_store_delete(cp->store, key, err);
    if (rc == 0)
        (*deleted)++;
    if (rc == WEIR_ENOTFOUND) {
        weir_error_clear(err);
        rc = 0;
    }
    return rc;
}

int weir_checkpoint_purge(struct weir_checkpoint *cp, int64_t retain, size_t *deleted, struct weir_error *err)
{
    size_t count = 0;
    int rc = 0;
    if (deleted != NULL)
        *deleted = 0;
    if (cp->read_only)
        return refuse_read_only(cp, "offsets", err);
    if (retain < 1)
        return weir_error_set(err, WEIR_EINVAL,
                              "checkpoint '%s': min_batches_to_retain must be >= 1, got %" PRId64, cp->dir,
                              retain);
    if (cp->last_commit < 0)
        return 0;
    /* threshold <= last_commit: the newest commit and the uncommitted
     * offsets (last_commit + 1) are always kept */
    int64_t threshold = cp->last_commit - retain + 1;
    int64_t from = cp->oldest_offsets;
    if (cp->oldest_commit >= 0 && (from < 0 || cp->oldest_commit < from))
        from = cp->oldest_commit;
    if (from < 0 || from >= threshold)
        return 0;
    /* ascending, commits/N before offsets/N: a crash leaves both contiguous */
    for (int64_t b = from; b < threshold && rc == 0; b++) {
        rc = delete_batch(cp, "commits", b, &count, err);
        if (rc == 0) {
            if (cp->oldest_commit >= 0 && cp->oldest_commit <= b)
                cp->oldest_commit = b + 1;
            rc = delete_batch(cp, "offsets", b, &count, err);
        }
        if (rc == 0 && cp->oldest_offsets >= 0 && cp->oldest_offsets <= b)
            cp->oldest_offsets = b + 1;
    }
    if (deleted != NULL)
        *deleted = count;
    return rc;
}
