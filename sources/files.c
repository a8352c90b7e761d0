/* sources/files.c - the files source: new files under a path of any store
 * (local, s3://, abfss://, gs://), each ingested exactly once.
 *
 * Owns: the store the path names, the file index (a RocksDB database in
 * <checkpoint>/sources/0/files, written with synced WAL), the schema of the
 * rows and a decoder for it, and one reusable output batch.
 *
 * Discovery (plan): list the path (recursive unless told otherwise), keep
 * the keys that pass the glob of the path and path_glob_filter and are not
 * hidden (a segment starting with '_' or '.'), and give every key not yet in
 * the index the next sequence number. Those records are written (synced)
 * before plan returns, so they exist before the engine writes offsets/N.
 * A key already in the index with another size or modification time was
 * overwritten after discovery: it is reported (log, numFilesChanged) and
 * not read again, unless allow_overwrites gives it a new sequence number.
 *
 * Offsets are {"seq":N}: files with sequence numbers below N belong to
 * batches up to this one; batch [start, end) reads the files with numbers
 * in that range, from the index, in order: the same files on every replay.
 * The end of a batch stops at max_files_per_trigger files or before
 * passing max_bytes_per_trigger bytes (at least one file).
 *
 * Reading: the whole object for small files, 4 MiB ranges for large ones;
 * ".gz" and ".zst" names are decompressed on the fly. Formats: json (one
 * object per line, decoded against the schema) and text (one row per line,
 * column `value`). A line that does not fit the schema becomes a row of
 * nulls whose _rescued_data holds the error, the line, the file and the
 * line number: nothing is dropped. A file listed but gone when read, or
 * whose compressed stream is corrupt, is skipped whole with a warning and
 * counted (numFilesMissing, numFilesCorrupt) - on a replay it is skipped
 * the same way, so the exactly-once contract holds.
 *
 * Columns: the schema's fields, _rescued_data (json), then _metadata
 * (file_path, file_size, file_modification_time) when a transform step
 * mentions it.
 *
 * Threading: all calls from the pipeline's thread (source.h). */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <rocksdb/c.h>
#include <zlib.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/log.h"
#include "formats/json.h"
#include "sources/source.h"
#include "storage/storage.h"
#include "stream/config.h"

#define FS_BATCH_ROWS   65536
#define FS_CHUNK        (4u << 20)
#define FS_WHOLE_MAX    (8u << 20) /* objects up to this size are read in one request */
#define RESCUED_COLUMN  "_rescued_data"
#define METADATA_COLUMN "_metadata"

enum fs_format { FS_JSON = 0, FS_TEXT };

struct fs_entry {
    uint64_t seq, size;
    int64_t mtime_ms;
    char *key;
};

struct files_source {
    struct weir_source base;
    const struct weir_config_files *cfg;
    struct weir_store *store;
    char *glob; /* pattern on the key below the store root, or NULL */
    rocksdb_t *db;
    rocksdb_writeoptions_t *wsync;
    rocksdb_readoptions_t *ropts;
    uint64_t next_seq;        /* first unused sequence number */
    struct weir_type *schema; /* output: fields, _rescued_data[, _metadata] */
    struct weir_type *decl;   /* the decoded fields (all nullable) */
    size_t ndecl;
    bool with_metadata;
    struct weir_json_decoder *dec;
    struct weir_batch *out;
    struct weir_buf line_buf, raw, text, rescue;
    /* metrics of the last read */
    int64_t files_read, files_missing, files_corrupt, files_changed, rows_rescued;
};

/* ------------------------------------------------------------ index */

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int db_error(struct weir_error *err, char *msg, const char *what)
{
    int rc = weir_error_set(err, WEIR_EIO, "files source: file index: %s: %s", what, msg);
    free(msg);
    return rc;
}

/* Key "k" + path -> seq | size | mtime; key "s" + seq -> size | mtime | path. */
static int index_lookup(struct files_source *s, const char *key, struct fs_entry *e, bool *found,
                        struct weir_error *err)
{
    size_t kl = strlen(key);
    char *k = weir_malloc(kl + 1);
    if (!k)
        return weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
    k[0] = 'k';
    memcpy(k + 1, key, kl);
    char *dberr = NULL;
    size_t vl = 0;
    char *v = rocksdb_get(s->db, s->ropts, k, kl + 1, &vl, &dberr);
    weir_free(k);
    if (dberr)
        return db_error(err, dberr, key);
    *found = v != NULL && vl == 24;
    if (*found) {
        e->seq = get_be64((uint8_t *)v);
        e->size = get_be64((uint8_t *)v + 8);
        e->mtime_ms = (int64_t)get_be64((uint8_t *)v + 16);
    }
    rocksdb_free(v);
    return 0;
}

static int index_by_seq(struct files_source *s, uint64_t seq, struct fs_entry *e, struct weir_error *err)
{
    uint8_t k[9] = {'s'};
    be64(k + 1, seq);
    char *dberr = NULL;
    size_t vl = 0;
    char *v = rocksdb_get(s->db, s->ropts, (char *)k, 9, &vl, &dberr);
    if (dberr)
        return db_error(err, dberr, "read");
    if (!v || vl < 16) {
        rocksdb_free(v);
        return weir_error_set(err, WEIR_ECORRUPT,
                              "files source: the file index has no file number %" PRIu64
                              " (the checkpoint's sources/0/files was changed or lost)",
                              seq);
    }
    e->seq = seq;
    e->size = get_be64((uint8_t *)v);
    e->mtime_ms = (int64_t)get_be64((uint8_t *)v + 8);
    e->key = weir_strndup(v + 16, vl - 16);
    rocksdb_free(v);
    return e->key ? 0 : weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
}

static void index_add(rocksdb_writebatch_t *wb, const char *key, uint64_t seq, uint64_t size, int64_t mtime)
{
    size_t kl = strlen(key);
    char *k = malloc(kl + 1), *v = malloc(16 + kl);
    if (!k || !v) {
        free(k);
        free(v);
        return; /* reported by the write below failing to find it; see plan */
    }
    uint8_t meta[24];
    be64(meta, seq);
    be64(meta + 8, size);
    be64(meta + 16, (uint64_t)mtime);
    k[0] = 'k';
    memcpy(k + 1, key, kl);
    rocksdb_writebatch_put(wb, k, kl + 1, (char *)meta, 24);
    uint8_t sk[9] = {'s'};
    be64(sk + 1, seq);
    memcpy(v, meta + 8, 16);
    memcpy(v + 16, key, kl);
    rocksdb_writebatch_put(wb, (char *)sk, 9, v, 16 + kl);
    free(k);
    free(v);
}

static int load_next_seq(struct files_source *s, struct weir_error *err)
{
    char *dberr = NULL;
    size_t vl = 0;
    char *v = rocksdb_get(s->db, s->ropts, "m:next", 6, &vl, &dberr);
    if (dberr)
        return db_error(err, dberr, "read");
    s->next_seq = v && vl == 8 ? get_be64((uint8_t *)v) : 0;
    rocksdb_free(v);
    return 0;
}

static int mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int index_open(struct files_source *s, const char *checkpoint, struct weir_error *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sources/0/files", checkpoint);
    if (mkdirs(dir) != 0)
        return weir_error_set(err, WEIR_EIO, "files source: cannot create %s: %s", dir, strerror(errno));
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_max_open_files(o, 64);
    char *dberr = NULL;
    s->db = rocksdb_open(o, dir, &dberr);
    rocksdb_options_destroy(o);
    if (dberr) {
        int rc = weir_error_set(err, WEIR_EIO, "files source: cannot open the file index %s: %s", dir, dberr);
        free(dberr);
        return rc;
    }
    s->wsync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wsync, 1);
    s->ropts = rocksdb_readoptions_create();
    return load_next_seq(s, err);
}

/* ------------------------------------------------------------ offsets */

static int parse_seq(const char *json, uint64_t *seq, struct weir_error *err)
{
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "seq");
    bool ok = cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble < 9007199254740992.0;
    if (ok)
        *seq = (uint64_t)n->valuedouble;
    cJSON_Delete(o);
    return ok ? 0
              : weir_error_set(err, WEIR_EPARSE, "files source: bad offset '%s' (want {\"seq\":N})",
                               json ? json : "(none)");
}

static char *seq_json(uint64_t seq)
{
    char buf[48];
    snprintf(buf, sizeof buf, "{\"seq\":%" PRIu64 "}", seq);
    return weir_strdup(buf);
}

static int fs_initial(struct weir_source *base, char **out, struct weir_error *err)
{
    struct files_source *s = (struct files_source *)base;
    uint64_t start = 0;
    /* include_existing_files=false: what is there now counts as seen. */
    if (!s->cfg->include_existing_files) {
        struct weir_object_list l;
        int rc = weir_store_list(s->store, "", NULL, s->cfg->recursive, &l, err);
        if (rc)
            return rc;
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        for (size_t i = 0; i < l.count; i++) {
            struct fs_entry e;
            bool found;
            if ((rc = index_lookup(s, l.items[i].key, &e, &found, err)))
                break;
            if (!found)
                index_add(wb, l.items[i].key, s->next_seq++, l.items[i].size, l.items[i].mtime_ms);
        }
        uint8_t nx[8];
        be64(nx, s->next_seq);
        rocksdb_writebatch_put(wb, "m:next", 6, (char *)nx, 8);
        char *dberr = NULL;
        if (rc == 0)
            rocksdb_write(s->db, s->wsync, wb, &dberr);
        rocksdb_writebatch_destroy(wb);
        weir_object_list_free(&l);
        if (dberr)
            return db_error(err, dberr, "write");
        if (rc)
            return rc;
        start = s->next_seq;
    }
    *out = seq_json(start);
    return *out ? 0 : weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
}

/* ------------------------------------------------------------ discovery */

static bool hidden(const char *key)
{
    for (const char *p = key; p; p = strchr(p, '/')) {
        if (*p == '/')
            p++;
        if (*p == '_' || *p == '.')
            return true;
    }
    return false;
}

static bool wanted(const struct files_source *s, const char *key)
{
    if (hidden(key))
        return false;
    if (s->glob && fnmatch(s->glob, key, FNM_PATHNAME) != 0)
        return false;
    if (s->cfg->path_glob_filter) {
        const char *b = strrchr(key, '/');
        if (fnmatch(s->cfg->path_glob_filter, b ? b + 1 : key, 0) != 0)
            return false;
    }
    return true;
}

static int discover(struct files_source *s, struct weir_error *err)
{
    struct weir_object_list l;
    int rc = weir_store_list(s->store, "", NULL, s->cfg->recursive || s->glob != NULL, &l, err);
    if (rc)
        return weir_error_prefix(err, "files source: listing %s", weir_store_root(s->store));
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    uint64_t before = s->next_seq;
    for (size_t i = 0; i < l.count && rc == 0; i++) {
        const struct weir_object_info *o = &l.items[i];
        if (!wanted(s, o->key))
            continue;
        struct fs_entry e;
        bool found;
        if ((rc = index_lookup(s, o->key, &e, &found, err)))
            break;
        if (found && e.size == o->size && e.mtime_ms == o->mtime_ms)
            continue;
        if (found && !s->cfg->allow_overwrites) {
            if (e.size != o->size || o->mtime_ms > e.mtime_ms) {
                s->files_changed++;
                WEIR_LOG(WEIR_LOG_WARN, s->base.pipeline, -1,
                         "files source: %s/%s changed after it was ingested (size %" PRIu64 " -> %" PRIu64
                         "); not read again (allow_overwrites is false)",
                         weir_store_root(s->store), o->key, e.size, o->size);
                /* Remember the new state so the warning is given once; the
                 * "s" record keeps what was ingested. */
                size_t kl = strlen(o->key);
                char *k = malloc(kl + 1);
                if (k) {
                    uint8_t meta[24];
                    be64(meta, e.seq);
                    be64(meta + 8, o->size);
                    be64(meta + 16, (uint64_t)o->mtime_ms);
                    k[0] = 'k';
                    memcpy(k + 1, o->key, kl);
                    rocksdb_writebatch_put(wb, k, kl + 1, (char *)meta, 24);
                    free(k);
                }
            }
            continue;
        }
        index_add(wb, o->key, s->next_seq++, o->size, o->mtime_ms);
    }
    if (rc == 0 && rocksdb_writebatch_count(wb) > 0) {
        uint8_t nx[8];
        be64(nx, s->next_seq);
        rocksdb_writebatch_put(wb, "m:next", 6, (char *)nx, 8);
        char *dberr = NULL;
        rocksdb_write(s->db, s->wsync, wb, &dberr);
        if (dberr) {
            s->next_seq = before;
            rc = db_error(err, dberr, "write");
        }
    } else if (rc) {
        s->next_seq = before;
    }
    rocksdb_writebatch_destroy(wb);
    weir_object_list_free(&l);
    return rc;
}

static int fs_plan(struct weir_source *base, const char *start, const char *cap, bool available_now,
                   struct weir_source_plan *out, struct weir_error *err)
{
    struct files_source *s = (struct files_source *)base;
    uint64_t from, limit;
    int rc = parse_seq(start, &from, err);
    if (rc)
        return rc;
    if (!cap && (rc = discover(s, err)))
        return rc;
    limit = s->next_seq;
    if (cap && (rc = parse_seq(cap, &limit, err)))
        return rc;
    if (limit > s->next_seq)
        limit = s->next_seq;
    uint64_t end = from, bytes = 0;
    int64_t max_files = s->cfg->max_files_per_trigger;
    while (end < limit && (max_files <= 0 || (int64_t)(end - from) < max_files)) {
        struct fs_entry e = {0};
        if ((rc = index_by_seq(s, end, &e, err)))
            return rc;
        weir_free(e.key);
        if (s->cfg->max_bytes_per_trigger > 0 && end > from &&
            bytes + e.size > (uint64_t)s->cfg->max_bytes_per_trigger)
            break;
        bytes += e.size;
        end++;
    }
    (void)available_now;
    out->end = seq_json(end);
    out->latest = seq_json(s->next_seq);
    if (!out->end || !out->latest)
        return weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
    out->has_data = end > from;
    out->num_offsets = (int64_t)(end - from);
    return 0;
}

/* ------------------------------------------------------------ reading */

struct file_reader {
    struct files_source *s;
    const struct fs_entry *e;
    weir_source_emit_cb cb;
    void *ctx;
    uint64_t line_no;
    int64_t mtime_us;
    char *full_path; /* store root + "/" + key: what _metadata.file_path shows */
};

static int emit(struct files_source *s, weir_source_emit_cb cb, void *ctx, struct weir_error *err)
{
    if (s->out->nrows == 0)
        return 0;
    int rc = cb(ctx, s->out, err);
    weir_batch_clear(s->out);
    return rc;
}

static int append_metadata(struct file_reader *r)
{
    struct files_source *s = r->s;
    if (!s->with_metadata)
        return 0;
    struct weir_column *m = &s->out->columns[s->ndecl + 1];
    int rc;
    if ((rc = weir_column_append_bytes(&m->children[0], r->full_path, strlen(r->full_path))) ||
        (rc = weir_column_append_i64(&m->children[1], (int64_t)r->e->size)) ||
        (rc = weir_column_append_i64(&m->children[2], r->mtime_us)))
        return rc;
    return weir_column_append_struct(m, true);
}

/* One line (without its newline) of the file. */
static int on_line(struct file_reader *r, const char *p, size_t n, struct weir_error *err)
{
    struct files_source *s = r->s;
    r->line_no++;
    if (n && p[n - 1] == '\r')
        n--;
    if (r->line_no == 1 && n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
        n -= 3;
    }
    struct weir_batch *out = s->out;
    int rc = 0;
    if (s->cfg->format == FS_TEXT) {
        rc = weir_column_append_bytes(&out->columns[0], p, n);
        if (rc == 0)
            rc = weir_column_append_null(&out->columns[1]);
    } else {
        size_t i = 0;
        while (i < n && isspace((unsigned char)p[i]))
            i++;
        if (i == n) /* blank line */
            return 0;
        struct weir_batch view = {
            .schema = s->decl, .nrows = 0, .ncolumns = s->ndecl, .columns = out->columns};
        struct weir_error derr = {0};
        if (weir_json_decode_record(s->dec, p, n, &view, &derr) == 0) {
            rc = weir_column_append_null(&out->columns[s->ndecl]);
        } else {
            /* Not a fit: nulls, and everything about it in _rescued_data. */
            struct weir_buf *b = &s->rescue;
            b->len = 0;
            rc = weir_buf_append_str(b, "{\"error\":");
            if (rc == 0)
                rc = weir_json_append_string(b, derr.message, strlen(derr.message));
            if (rc == 0)
                rc = weir_buf_append_str(b, ",\"value\":");
            if (rc == 0)
                rc = weir_json_append_string(b, p, n);
            if (rc == 0)
                rc = weir_buf_append_str(b, ",\"file_path\":");
            if (rc == 0)
                rc = weir_json_append_string(b, r->full_path, strlen(r->full_path));
            if (rc == 0)
                rc = weir_buf_printf(b, ",\"line\":%" PRIu64 "}", r->line_no);
            for (size_t c = 0; rc == 0 && c < s->ndecl; c++)
                rc = weir_column_append_null(&out->columns[c]);
            if (rc == 0)
                rc = weir_column_append_bytes(&out->columns[s->ndecl], b->data, b->len);
            s->rows_rescued++;
        }
    }
    if (rc == 0)
        rc = append_metadata(r);
    if (rc == 0)
        rc = weir_batch_finish_rows(out);
    if (rc)
        return weir_error_set(err, rc, "files source: out of memory decoding %s", r->e->key);
    if (out->nrows >= FS_BATCH_ROWS)
        return emit(s, r->cb, r->ctx, err);
    return 0;
}

/* Feed decompressed bytes; complete lines are decoded, the rest kept. */
static int feed(struct file_reader *r, const char *p, size_t n, bool last, struct weir_error *err)
{
    struct files_source *s = r->s;
    struct weir_buf *lb = &s->line_buf;
    int rc = 0;
    if (lb->len) { /* finish the line carried over */
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) + 1 : n;
        if (weir_buf_append(lb, p, take))
            return weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
        p += take;
        n -= take;
        if (!nl && !last)
            return 0;
        if ((rc = on_line(r, (char *)lb->data, nl ? lb->len - 1 : lb->len, err)))
            return rc;
        lb->len = 0;
    }
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        if (!nl)
            break;
        if ((rc = on_line(r, p, (size_t)(nl - p), err)))
            return rc;
        n -= (size_t)(nl - p) + 1;
        p = nl + 1;
    }
    if (n > 0) {
        if (last)
            return on_line(r, p, n, err);
        if (weir_buf_append(lb, p, n))
            return weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
    }
    return 0;
}

enum codec { C_NONE, C_GZIP, C_ZSTD };

static enum codec codec_of(const char *key)
{
    size_t n = strlen(key);
    if (n > 3 && strcasecmp(key + n - 3, ".gz") == 0)
        return C_GZIP;
    if (n > 4 && strcasecmp(key + n - 4, ".zst") == 0)
        return C_ZSTD;
    return C_NONE;
}

/* WEIR_ECORRUPT for a damaged compressed stream (the file is skipped). */
static int read_file(struct file_reader *r, struct weir_error *err)
{
    struct files_source *s = r->s;
    const struct fs_entry *e = r->e;
    enum codec codec = codec_of(e->key);
    z_stream z;
    ZSTD_DStream *zs = NULL;
    bool z_init = false;
    int rc = 0;
    size_t outcap = 1u << 20;
    char *outbuf = NULL;
    if (codec != C_NONE && !(outbuf = weir_malloc(outcap)))
        return weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
    if (codec == C_GZIP) {
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, 15 + 32) != Z_OK) {
            weir_free(outbuf);
            return weir_error_set(err, WEIR_ENOMEM, "files source: zlib init failed");
        }
        z_init = true;
    } else if (codec == C_ZSTD && !(zs = ZSTD_createDStream())) {
        weir_free(outbuf);
        return weir_error_set(err, WEIR_ENOMEM, "files source: zstd init failed");
    }
    s->line_buf.len = 0;
    uint64_t off = 0, compressed_in = 0;
    bool stream_end = codec == C_NONE;
    for (;;) {
        s->raw.len = 0;
        size_t want;
        if (e->size <= FS_WHOLE_MAX) { /* one request, whatever its length now */
            rc = weir_store_get(s->store, e->key, &s->raw, err);
            want = s->raw.len;
        } else {
            if (off >= e->size)
                break;
            want = e->size - off < FS_CHUNK ? (size_t)(e->size - off) : FS_CHUNK;
            rc = weir_buf_reserve(&s->raw, want) ? WEIR_ENOMEM : 0;
            if (rc == 0)
                rc = weir_store_get_range(s->store, e->key, off, s->raw.data, want, err);
            if (rc == 0)
                s->raw.len = want;
        }
        if (rc)
            break;
        bool last_chunk = e->size <= FS_WHOLE_MAX || off + want >= e->size;
        off += want;
        if (codec == C_NONE) {
            rc = feed(r, (char *)s->raw.data, s->raw.len, last_chunk, err);
        } else if (codec == C_GZIP) {
            z.next_in = s->raw.data;
            z.avail_in = (uInt)s->raw.len;
            while (rc == 0 && z.avail_in > 0) {
                z.next_out = (Bytef *)outbuf;
                z.avail_out = (uInt)outcap;
                int zr = inflate(&z, Z_NO_FLUSH);
                if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
                    rc = weir_error_set(err, WEIR_ECORRUPT,
                                        "%s: gzip data is corrupt near byte %" PRIu64 ": %s", e->key,
                                        compressed_in + (uint64_t)(s->raw.len - z.avail_in),
                                        z.msg ? z.msg : "inflate failed");
                    break;
                }
                size_t got = outcap - z.avail_out;
                stream_end = zr == Z_STREAM_END;
                if (got && (rc = feed(r, outbuf, got, false, err)))
                    break;
                if (zr == Z_STREAM_END && z.avail_in > 0) /* another gzip member follows */
                    inflateReset(&z);
                else if (zr == Z_BUF_ERROR && got == 0)
                    break;
            }
        } else {
            ZSTD_inBuffer in = {s->raw.data, s->raw.len, 0};
            while (rc == 0 && in.pos < in.size) {
                ZSTD_outBuffer o = {outbuf, outcap, 0};
                size_t zr = ZSTD_decompressStream(zs, &o, &in);
                if (ZSTD_isError(zr)) {
                    rc = weir_error_set(err, WEIR_ECORRUPT,
                                        "%s: zstd data is corrupt near byte %" PRIu64 ": %s", e->key,
                                        compressed_in + (uint64_t)in.pos, ZSTD_getErrorName(zr));
                    break;
                }
                stream_end = zr == 0;
                if (o.pos && (rc = feed(r, outbuf, o.pos, false, err)))
                    break;
            }
        }
        compressed_in += s->raw.len;
        if (rc)
            break;
        if (last_chunk)
            break;
    }
    if (rc == 0 && !stream_end)
        rc = weir_error_set(err, WEIR_ECORRUPT, "%s: the compressed stream is truncated (%" PRIu64 " bytes)",
                            e->key, e->size);
    if (rc == 0)
        rc = feed(r, "", 0, true, err);
    if (z_init)
        inflateEnd(&z);
    ZSTD_freeDStream(zs);
    weir_free(outbuf);
    return rc;
}

static int fs_read(struct weir_source *base, const char *start, const char *end, weir_source_emit_cb cb,
                   void *ctx, struct weir_error *err)
{
    struct files_source *s = (struct files_source *)base;
    uint64_t from, to;
    int rc = parse_seq(start, &from, err);
    if (rc == 0)
        rc = parse_seq(end, &to, err);
    if (rc)
        return rc;
    s->files_read = s->files_missing = s->files_corrupt = s->rows_rescued = 0;
    weir_batch_clear(s->out);
    for (uint64_t seq = from; seq < to && rc == 0; seq++) {
        struct fs_entry e = {0};
        if ((rc = index_by_seq(s, seq, &e, err)))
            break;
        struct file_reader r = {.s = s, .e = &e, .cb = cb, .ctx = ctx, .mtime_us = e.mtime_ms * 1000};
        s->text.len = 0;
        if (weir_buf_printf(&s->text, "%s/%s", weir_store_root(s->store), e.key)) {
            weir_free(e.key);
            return weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
        }
        r.full_path = (char *)s->text.data;
        size_t rows_before = s->out->nrows;
        weir_json_decoder_reset(s->dec, e.key);
        struct weir_error ferr = {0};
        int frc = read_file(&r, &ferr);
        if (frc == WEIR_ENOTFOUND || frc == WEIR_ECORRUPT) {
            /* Skipped whole: drop what this file added to the open batch.
             * (Rows of a file already emitted in an earlier chunk of the
             * same batch stay: only files larger than a batch can.) */
            if (s->out->nrows > rows_before) {
                struct weir_batch *keep = NULL;
                uint32_t *idx = weir_malloc((rows_before ? rows_before : 1) * sizeof *idx);
                for (size_t i = 0; idx && i < rows_before; i++)
                    idx[i] = (uint32_t)i;
                if (!idx || weir_batch_take(s->out, idx, rows_before, &keep)) {
                    weir_free(idx);
                    weir_free(e.key);
                    return weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
                }
                weir_free(idx);
                weir_batch_destroy(s->out);
                s->out = keep;
            }
            if (frc == WEIR_ENOTFOUND)
                s->files_missing++;
            else
                s->files_corrupt++;
            WEIR_LOG(WEIR_LOG_WARN, s->base.pipeline, -1, "files source: skipped %s/%s: %s",
                     weir_store_root(s->store), e.key, ferr.message);
        } else if (frc) {
            *err = ferr;
            weir_error_prefix(err, "files source: reading %s/%s", weir_store_root(s->store), e.key);
            rc = frc;
        } else {
            s->files_read++;
        }
        weir_free(e.key);
    }
    if (rc == 0)
        rc = emit(s, cb, ctx, err);
    return rc;
}

static int fs_metrics(struct weir_source *base, struct weir_buf *out)
{
    struct files_source *s = (struct files_source *)base;
    return weir_buf_printf(
        out,
        "\"numFilesRead\":%" PRId64 ",\"numFilesMissing\":%" PRId64 ",\"numFilesCorrupt\":%" PRId64
        ",\"numFilesChanged\":%" PRId64 ",\"numRowsRescued\":%" PRId64 ",\"numFilesDiscovered\":%" PRIu64,
        s->files_read, s->files_missing, s->files_corrupt, s->files_changed, s->rows_rescued, s->next_seq);
}

static void fs_destroy(struct weir_source *base)
{
    struct files_source *s = (struct files_source *)base;
    if (!s)
        return;
    if (s->db)
        rocksdb_close(s->db);
    if (s->wsync)
        rocksdb_writeoptions_destroy(s->wsync);
    if (s->ropts)
        rocksdb_readoptions_destroy(s->ropts);
    weir_store_destroy(s->store);
    weir_json_decoder_destroy(s->dec);
    weir_batch_destroy(s->out);
    weir_type_destroy(s->schema);
    weir_type_destroy(s->decl);
    weir_buf_free(&s->line_buf);
    weir_buf_free(&s->raw);
    weir_buf_free(&s->text);
    weir_buf_free(&s->rescue);
    weir_free(s->glob);
    weir_free(s->base.description);
    weir_free(s);
}

static const struct weir_source_ops files_ops = {
    .initial = fs_initial,
    .plan = fs_plan,
    .read = fs_read,
    .metrics = fs_metrics,
    .destroy = fs_destroy,
};

/* ------------------------------------------------------------ create */

static bool mentions_metadata(const struct weir_config_pipeline *p)
{
    for (size_t i = 0; i < p->nsteps; i++) {
        const struct weir_config_step *st = &p->steps[i];
        if (st->where && strcasestr(st->where, METADATA_COLUMN))
            return true;
        for (size_t j = 0; j < st->nselect; j++)
            if (strcasestr(st->select[j], METADATA_COLUMN))
                return true;
    }
    return false;
}

/* The declared fields (nullable) and the output schema. */
int weir_source_files_schema(const struct weir_config_pipeline *p, struct weir_type **decl_out,
                             struct weir_type **out, struct weir_error *err)
{
    const struct weir_config_files *c = &p->files;
    struct weir_type *decl = NULL, *full = NULL;
    int rc = 0;
    if (c->format == FS_TEXT) {
        decl = weir_type_struct();
        if (!decl || weir_type_struct_add(decl, "value", weir_type_primitive(WEIR_TYPE_STRING), true, NULL))
            rc = WEIR_ENOMEM;
    } else if (!c->schema) {
        return weir_error_set(
            err, WEIR_EUNSUPPORTED,
            "files source: schema inference is not available yet; give source.files.schema");
    } else {
        struct weir_type *t = NULL;
        if ((rc = weir_schema_parse(c->schema, &t, err)))
            return rc;
        decl = weir_type_struct();
        for (size_t i = 0; decl && rc == 0 && i < t->nfields; i++) {
            if (strcasecmp(t->fields[i].name, RESCUED_COLUMN) == 0 ||
                strcasecmp(t->fields[i].name, METADATA_COLUMN) == 0)
                rc = weir_error_set(err, WEIR_ECONFIG, "files source: schema field '%s' is a reserved name",
                                    t->fields[i].name);
            else if (weir_type_struct_add(decl, t->fields[i].name, weir_type_clone(t->fields[i].type), true,
                                          NULL))
                rc = WEIR_ENOMEM;
        }
        weir_type_destroy(t);
        if (!decl)
            rc = WEIR_ENOMEM;
    }
    if (rc == 0 && !(full = weir_type_clone(decl)))
        rc = WEIR_ENOMEM;
    if (rc == 0 &&
        weir_type_struct_add(full, RESCUED_COLUMN, weir_type_primitive(WEIR_TYPE_STRING), true, NULL))
        rc = WEIR_ENOMEM;
    if (rc == 0 && mentions_metadata(p)) {
        struct weir_type *m = weir_type_struct();
        if (!m || weir_type_struct_add(m, "file_path", weir_type_primitive(WEIR_TYPE_STRING), false, NULL) ||
            weir_type_struct_add(m, "file_size", weir_type_primitive(WEIR_TYPE_LONG), false, NULL) ||
            weir_type_struct_add(m, "file_modification_time", weir_type_primitive(WEIR_TYPE_TIMESTAMP), false,
                                 NULL) ||
            weir_type_struct_add(full, METADATA_COLUMN, m, true, NULL))
            rc = WEIR_ENOMEM;
    }
    if (rc) {
        weir_type_destroy(decl);
        weir_type_destroy(full);
        return rc == WEIR_ENOMEM ? weir_error_set(err, rc, "files source: out of memory") : rc;
    }
    if (decl_out)
        *decl_out = decl;
    else
        weir_type_destroy(decl);
    *out = full;
    return 0;
}

/* Split "s3://b/in/2024-*.json" into the store root ("s3://b/in") and the
 * glob below it ("2024-*.json"); no glob characters: the whole path. */
static int split_path(const char *path, char **root, char **glob)
{
    const char *g = strpbrk(path, "*?[{");
    *glob = NULL;
    if (!g) {
        *root = weir_strdup(path);
        return *root ? 0 : WEIR_ENOMEM;
    }
    const char *slash = g;
    while (slash > path && *slash != '/')
        slash--;
    *root = weir_strndup(path, (size_t)(slash - path));
    *glob = weir_strdup(slash + (*slash == '/'));
    return *root && *glob ? 0 : WEIR_ENOMEM;
}

int weir_source_files_create(const struct weir_config_pipeline *p, struct weir_source **out,
                             struct weir_error *err)
{
    const struct weir_config_files *c = &p->files;
    struct files_source *s = weir_calloc(1, sizeof *s);
    if (!s)
        return weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
    s->base.ops = &files_ops;
    s->base.pipeline = p->name;
    s->cfg = c;
    weir_buf_init(&s->line_buf);
    weir_buf_init(&s->raw);
    weir_buf_init(&s->text);
    weir_buf_init(&s->rescue);
    char *root = NULL;
    int rc = split_path(c->path, &root, &s->glob);
    if (rc) {
        rc = weir_error_set(err, rc, "files source: out of memory");
        goto fail;
    }
    struct weir_store_options so = {(const char *const *)c->storage_options, c->nstorage_options};
    if ((rc = weir_store_open_with(&s->store, root, &so, err)) ||
        (rc = weir_source_files_schema(p, &s->decl, &s->schema, err)))
        goto fail;
    s->ndecl = s->decl->nfields;
    s->with_metadata = s->schema->nfields > s->ndecl + 1;
    s->base.schema = s->schema;
    if (!(s->out = weir_batch_create(s->schema))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
        goto fail;
    }
    if (c->format == FS_JSON && (rc = weir_json_decoder_create(&s->dec, s->decl, NULL, err)))
        goto fail;
    char desc[1024];
    snprintf(desc, sizeof desc, "FileStreamSource[%s]", c->path);
    if (!(s->base.description = weir_strdup(desc))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
        goto fail;
    }
    if ((rc = index_open(s, p->checkpoint, err)))
        goto fail;
    weir_free(root);
    *out = &s->base;
    return 0;
fail:
    weir_free(root);
    fs_destroy(&s->base);
    return rc;
}
