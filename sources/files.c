/* sources/files.c - the files source: new files under a path of any store
 * (local, s3://, abfss://, gs://), each ingested exactly once.
 *
 * Owns: the store the path names, the file index (a RocksDB database in
 * <checkpoint>/sources/0/files, written with synced WAL), the schema log
 * (<checkpoint>/_schemas/N), the schema of the rows and a decoder for it,
 * and one reusable output batch.
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
 * object per line), csv (formats/csv.h), parquet, and text (one row per
 * line, column `value`). Members of a record that do not fit the schema -
 * an unknown key or column, a value of another type - are set aside in
 * _rescued_data as a JSON object ({"amount":"abc","_file_path":..,
 * "_line":12}); a record that does not parse at all is rescued whole
 * ({"_corrupt_record":..,"_error":..}). Nothing is dropped. A file listed
 * but gone when read, or whose compressed stream is corrupt, is skipped
 * whole with a warning and counted (numFilesMissing, numFilesCorrupt) - on
 * a replay it is skipped the same way, so the exactly-once contract holds.
 *
 * Schema: given (`schema`), or inferred once from a sample of the files
 * and kept in the schema log, so every restart reads with the same schema.
 * schema_evolution_mode add_new_columns: a record with new columns stops
 * the read; the rest of the batch is scanned for new columns only, the
 * widened schema becomes the next version in the log, and read() returns
 * WEIR_EEVOLVED: the engine rebuilds its steps and runs the same batch
 * again (source.h). fail_on_new_columns stops the pipeline; rescue and none
 * keep the schema and rescue.
 *
 * clean_source (commit): files of committed batches are deleted or moved to
 * an archive path; the index remembers how far cleaning got ("m:clean").
 *
 * Columns: the schema's fields, _rescued_data, then _metadata (file_path,
 * file_size, file_modification_time) when a transform step mentions it.
 *
 * Threading: all calls from the pipeline's thread (source.h). */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <rocksdb/c.h>
#include <zlib.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/log.h"
#include "core/util.h"
#include "formats/csv.h"
#include "formats/json.h"
#include "formats/parquet/parquet.h"
#include "sources/source.h"
#include "state/replica.h"
#include "storage/storage.h"
#include "stream/config.h"

#define FS_BATCH_ROWS   65536
#define FS_CHUNK        (4u << 20)
#define FS_WHOLE_MAX    (8u << 20) /* objects up to this size are read in one request */
#define RESCUED_COLUMN  "_rescued_data"
#define METADATA_COLUMN "_metadata"

enum fs_format { FS_JSON = 0, FS_TEXT, FS_CSV, FS_PARQUET };
enum fs_evolution { EV_AUTO = 0, EV_ADD, EV_RESCUE, EV_FAIL, EV_NONE };
enum fs_clean { CLEAN_OFF = 0, CLEAN_DELETE, CLEAN_MOVE };
/* What reading a file is for: rows, a schema sample, or new columns only. */
enum fs_mode { M_READ = 0, M_INFER, M_EVOLVE };

struct fs_entry {
    uint64_t seq, size;
    int64_t mtime_ms;
    char *key;
};

/* Where decoded rows go and what making them needs: the source's own for
 * reading on the pipeline thread, one per run of lines for JSON decoded by
 * worker threads. */
struct fs_rows {
    struct weir_batch *out;
    struct weir_json_decoder *dec;
    struct weir_buf rescue, rjson; /* the record's rescued members; the column value */
    int64_t rescued;               /* rows with _rescued_data */
};

/* A column seen while inferring or evolving a CSV schema. */
struct csv_col {
    char *name;
    enum weir_csv_kind kind;
};

struct files_source {
    struct weir_source base;
    const struct weir_config_files *cfg;
    const char *checkpoint;   /* for messages */
    struct weir_store *ckpt;  /* the checkpoint's store (schema log; borrowed) */
    struct weir_replica *rep; /* checkpoint on an object store: the index saved there */
    char *index_dir;
    int64_t index_version; /* of the last save to rep */
    struct weir_store *store;
    struct weir_store *archive; /* clean_source move: where files go */
    char *glob;                 /* pattern on the key below the store root, or NULL */
    rocksdb_t *db;
    rocksdb_writeoptions_t *wsync;
    rocksdb_readoptions_t *ropts;
    uint64_t next_seq; /* first unused sequence number */
    /* listing: the greatest key discovered, whether new names have been
     * arriving in order (then a listing starts after max_key), and when
     * the last full listing was */
    char *max_key;
    bool ordered;
    int64_t last_full_ms;
    int64_t keys_listed, full_listings;
    struct weir_type *schema; /* output: fields, _rescued_data[, _metadata] */
    struct weir_type *decl;   /* the decoded fields (all nullable) */
    size_t ndecl;
    bool with_metadata;
    int evolution;       /* enum fs_evolution, resolved */
    int schema_version;  /* newest version in the schema log; -1: none */
    struct fs_rows rows; /* what the pipeline thread decodes into */
    struct weir_csv_options csvo;
    struct weir_csv_reader *csv;
    struct weir_buf line_buf, raw, text;
    /* one file's CSV header: column i -> decl field (-1: none) and its name */
    int *csv_map;
    char **csv_names;
    size_t ncsv, cap_csv;
    bool csv_header_pending;
    /* inference and evolution */
    enum fs_mode mode;
    struct weir_json_inferrer *inf;
    struct csv_col *ccols;
    size_t nccols;
    struct weir_type *pq_fields; /* parquet: fields seen */
    char evolve_where[512];      /* where the first new column was seen */
    /* metrics of the last read */
    int64_t files_read, files_missing, files_corrupt, files_changed, files_cleaned;
    uint64_t emits;   /* batches handed to the engine */
    bool emit_failed; /* the engine refused one: the read stops with its error */
};

static int oom(struct weir_error *err);

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

static int index_add(rocksdb_writebatch_t *wb, const char *key, uint64_t seq, uint64_t size, int64_t mtime)
{
    size_t kl = strlen(key);
    char *k = malloc(kl + 1), *v = malloc(16 + kl);
    if (!k || !v) {
        free(k);
        free(v);
        return WEIR_ENOMEM;
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
    return 0;
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

/* The index lives in <local dir>/sources/0/files; for a checkpoint on an
 * object store it is first brought to the newest version saved there. */
static int index_open(struct files_source *s, const struct weir_source_env *env, struct weir_error *err)
{
    int rc = 0;
    if (!(s->index_dir = weir_asprintf("%s/sources/0/files", env->local_dir)))
        return weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
    if (env->remote && ((rc = weir_replica_open(env->checkpoint, "sources/0/files", &s->rep, err)) ||
                        (rc = weir_replica_sync_latest(s->rep, s->index_dir, &s->index_version, err)))) {
        weir_error_prefix(err, "files source: the file index");
        return rc;
    }
    int e = weir_mkdir_p(s->index_dir);
    if (e != 0)
        return weir_error_set(err, WEIR_EIO, "files source: cannot create %s: %s", s->index_dir, strerror(e));
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_max_open_files(o, 64);
    rocksdb_options_set_max_manifest_file_size(o, 4 << 20); /* saved whole with each version */
    char *dberr = NULL;
    s->db = rocksdb_open(o, s->index_dir, &dberr);
    rocksdb_options_destroy(o);
    if (dberr) {
        rc = weir_error_set(err, WEIR_EIO, "files source: cannot open the file index %s: %s", s->index_dir,
                            dberr);
        free(dberr);
        return rc;
    }
    s->wsync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wsync, 1);
    s->ropts = rocksdb_readoptions_create();
    return load_next_seq(s, err);
}

/* After the index changed: on an object store, save it before the engine
 * writes offsets that may name the new entries. */
static int index_saved(struct files_source *s, struct weir_error *err)
{
    if (!s->rep)
        return 0;
    int rc = weir_replica_save_db(s->rep, s->db, s->index_dir, s->index_version + 1, 2, err);
    if (rc == 0)
        s->index_version++;
    else
        weir_error_prefix(err, "files source: saving the file index");
    return rc;
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

static bool wanted(const struct files_source *s, const char *key);

static int fs_initial(struct weir_source *base, char **out, struct weir_error *err)
{
    struct files_source *s = (struct files_source *)base;
    uint64_t start = 0;
    /* include_existing_files=false: what is there now counts as seen. */
    if (!s->cfg->include_existing_files) {
        struct weir_object_list l;
        int rc = weir_store_list(s->store, "", NULL, s->cfg->recursive || s->glob != NULL, &l, err);
        if (rc)
            return rc;
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        for (size_t i = 0; i < l.count && rc == 0; i++) {
            struct fs_entry e;
            bool found;
            if (!wanted(s, l.items[i].key))
                continue;
            if ((rc = index_lookup(s, l.items[i].key, &e, &found, err)))
                break;
            if (!found && index_add(wb, l.items[i].key, s->next_seq++, l.items[i].size, l.items[i].mtime_ms))
                rc = oom(err);
        }
        uint8_t nx[8];
        be64(nx, s->next_seq);
        rocksdb_writebatch_put(wb, "m:next", 6, (char *)nx, 8);
        /* never read, so never cleaned by clean_source */
        rocksdb_writebatch_put(wb, "m:clean", 7, (char *)nx, 8);
        char *dberr = NULL;
        if (rc == 0)
            rocksdb_write(s->db, s->wsync, wb, &dberr);
        rocksdb_writebatch_destroy(wb);
        weir_object_list_free(&l);
        if (dberr)
            return db_error(err, dberr, "write");
        if (rc || (rc = index_saved(s, err)))
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

/* A full listing at the start, every backfill_interval, and whenever
 * names have not been arriving in lexical order (incremental_listing auto)
 * or incremental listing is off; otherwise only keys after the greatest
 * one seen. */
static bool listing_is_full(const struct files_source *s, int64_t now_ms)
{
    int mode = s->cfg->incremental_listing; /* 0 auto, 1 on, 2 off */
    if (mode == 2 || !s->max_key || s->last_full_ms == 0)
        return true;
    if (s->cfg->backfill_interval_ms > 0 && now_ms - s->last_full_ms >= s->cfg->backfill_interval_ms)
        return true;
    return mode == 0 && !s->ordered;
}

static int discover(struct files_source *s, struct weir_error *err)
{
    struct weir_object_list l;
    int64_t now = weir_now_ms();
    bool full = listing_is_full(s, now);
    int rc = weir_store_list(s->store, "", full ? NULL : s->max_key, s->cfg->recursive || s->glob != NULL, &l,
                             err);
    if (rc)
        return weir_error_prefix(err, "files source: listing %s", weir_store_root(s->store));
    s->keys_listed += (int64_t)l.count;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    uint64_t before = s->next_seq;
    bool in_order = true, had_max = s->max_key != NULL;
    const char *new_max = NULL;
    for (size_t i = 0; i < l.count && rc == 0; i++) {
        const struct weir_object_info *o = &l.items[i];
        if (!wanted(s, o->key))
            continue;
        if (!new_max || strcmp(o->key, new_max) > 0)
            new_max = o->key;
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
        if (s->max_key && strcmp(o->key, s->max_key) < 0)
            in_order = false; /* a new name sorts before one seen earlier */
        if (index_add(wb, o->key, s->next_seq++, o->size, o->mtime_ms)) {
            rc = oom(err);
            break;
        }
    }
    if (rc == 0 && full) {
        s->full_listings++;
        s->last_full_ms = now;
        /* auto trusts the order once a full listing after the first has
         * shown new names sorting after the old ones */
        s->ordered = s->cfg->incremental_listing == 1 || (in_order && had_max);
        if (!in_order && s->cfg->incremental_listing == 0)
            WEIR_LOG(WEIR_LOG_INFO, s->base.pipeline, -1,
                     "files source: new files under %s are not named in lexical order; listing everything "
                     "each time (incremental_listing auto)",
                     weir_store_root(s->store));
    }
    if (rc == 0 && new_max && (!s->max_key || strcmp(new_max, s->max_key) > 0)) {
        char *m = weir_strdup(new_max);
        if (!m) {
            rc = oom(err);
        } else {
            weir_free(s->max_key);
            s->max_key = m;
        }
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
        if (rc == 0)
            rc = index_saved(s, err);
        WEIR_CRASH_POINT("files.after_discover");
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
    uint64_t from = 0, limit = 0;
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

struct fs_pool;

struct file_reader {
    struct files_source *s;
    const struct fs_entry *e;
    weir_source_emit_cb cb;
    void *ctx;
    uint64_t line_no;
    int64_t mtime_us;
    char *full_path;      /* store root + "/" + key: what _metadata.file_path shows */
    struct prefetch *pf;  /* NULL: fetch here */
    size_t chunk;         /* with pf: the next chunk of this file */
    struct fs_rows *w;    /* where rows go: &s->rows, or a run's */
    struct fs_pool *pool; /* json lines decoded by worker threads; NULL: here */
    bool worker;          /* a worker's reader: never emits, never samples */
    uint64_t stop_line;   /* worker: the line with new columns (add_new_columns) */
};

static int oom(struct weir_error *err)
{
    return weir_error_set(err, WEIR_ENOMEM, "files source: out of memory");
}

static int emit(struct files_source *s, weir_source_emit_cb cb, void *ctx, struct weir_error *err)
{
    if (s->rows.out->nrows == 0 || s->mode != M_READ)
        return 0;
    int rc = cb(ctx, s->rows.out, err);
    weir_batch_clear(s->rows.out);
    s->emits++;
    if (rc)
        s->emit_failed = true; /* the engine's error: never a reason to skip a file */
    return rc;
}

static int append_metadata(struct file_reader *r)
{
    struct files_source *s = r->s;
    if (!s->with_metadata)
        return 0;
    struct weir_column *m = &r->w->out->columns[s->ndecl + 1];
    int rc;
    if ((rc = weir_column_append_bytes(&m->children[0], r->full_path, strlen(r->full_path))) ||
        (rc = weir_column_append_i64(&m->children[1], (int64_t)r->e->size)) ||
        (rc = weir_column_append_i64(&m->children[2], r->mtime_us)))
        return rc;
    return weir_column_append_struct(m, true);
}

/* Add member "name": value (value already JSON text) to the record's
 * rescued members; name_json is a quoted JSON string when quoted_name. */
static int rescue_add(struct fs_rows *w, const char *name, size_t nn, bool quoted_name, const char *val,
                      size_t vn, bool val_is_text)
{
    struct weir_buf *b = &w->rescue;
    int rc = b->len ? weir_buf_append_byte(b, ',') : 0;
    if (rc == 0)
        rc = quoted_name ? weir_buf_append(b, name, nn) : weir_json_append_string(b, name, nn);
    if (rc == 0)
        rc = weir_buf_append_byte(b, ':');
    if (rc == 0)
        rc = val_is_text ? weir_json_append_string(b, val, vn) : weir_buf_append(b, val, vn);
    return rc;
}

/* Finish the row: _rescued_data from the members set aside (null when
 * none; `corrupt` names a record rescued whole), _metadata, then emit when
 * the batch is full. */
static int finish_row(struct file_reader *r, const char *where_key, uint64_t where, struct weir_error *err)
{
    struct files_source *s = r->s;
    struct fs_rows *w = r->w;
    struct weir_batch *out = w->out;
    int rc = 0;
    if (w->rescue.len == 0) {
        rc = weir_column_append_null(&out->columns[s->ndecl]);
    } else {
        struct weir_buf *b = &w->rjson;
        b->len = 0;
        rc = weir_buf_append_byte(b, '{');
        if (rc == 0)
            rc = weir_buf_append(b, w->rescue.data, w->rescue.len);
        if (rc == 0)
            rc = weir_buf_append_str(b, ",\"_file_path\":");
        if (rc == 0)
            rc = weir_json_append_string(b, r->full_path, strlen(r->full_path));
        if (rc == 0)
            rc = weir_buf_printf(b, ",\"%s\":%" PRIu64 "}", where_key, where);
        if (rc == 0)
            rc = weir_column_append_bytes(&out->columns[s->ndecl], b->data, b->len);
        w->rescued++;
    }
    w->rescue.len = 0;
    if (rc == 0)
        rc = append_metadata(r);
    if (rc == 0)
        rc = weir_batch_finish_rows(out);
    if (rc)
        return weir_error_set(err, rc, "files source: out of memory decoding %s", r->e->key);
    if (out->nrows >= FS_BATCH_ROWS && !r->worker)
        return emit(s, r->cb, r->ctx, err);
    return 0;
}

/* A record that does not parse: nulls, the record and why in _rescued_data. */
static int rescue_whole(struct file_reader *r, const char *p, size_t n, const char *why,
                        const char *where_key, uint64_t where, struct weir_error *err)
{
    struct files_source *s = r->s;
    r->w->rescue.len = 0;
    int rc = rescue_add(r->w, "\"_corrupt_record\"", 17, true, p, n, true);
    if (rc == 0)
        rc = rescue_add(r->w, "\"_error\"", 8, true, why, strlen(why), true);
    for (size_t c = 0; rc == 0 && c < s->ndecl; c++)
        rc = weir_column_append_null(&r->w->out->columns[c]);
    if (rc)
        return oom(err);
    return finish_row(r, where_key, where, err);
}

/* A record with `unknown` new columns: what the evolution mode says. True
 * in *stop when the rest of the batch is only scanned for new columns. */
static int on_new_columns(struct file_reader *r, size_t unknown, const char *what, size_t wn, uint64_t where,
                          bool *stop, struct weir_error *err)
{
    struct files_source *s = r->s;
    *stop = false;
    if (unknown == 0)
        return 0;
    if (s->evolution == EV_FAIL) {
        char line[40] = "";
        if (where)
            snprintf(line, sizeof line, ": line %" PRIu64, where);
        return weir_error_set(
            err, WEIR_ESCHEMA,
            "files source: %s%s: new column(s) not in the schema: {%.*s} "
            "(schema_evolution_mode is fail_on_new_columns; add them to source.files.schema "
            "or change the mode)",
            r->full_path, line, (int)(wn > 300 ? 300 : wn), what);
    }
    if (s->evolution != EV_ADD)
        return 0;
    *stop = true;
    if (r->worker) { /* the pipeline thread switches modes when it takes the run */
        r->stop_line = where;
        return 0;
    }
    if (where)
        snprintf(s->evolve_where, sizeof s->evolve_where, "%s line %" PRIu64, r->full_path, where);
    else
        snprintf(s->evolve_where, sizeof s->evolve_where, "%s", r->full_path);
    s->mode = M_EVOLVE;
    return 0;
}

/* One line (without its newline) of a json or text file. */
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
    struct weir_batch *out = r->w->out;
    int rc = 0;
    if (s->cfg->format == FS_TEXT) {
        rc = weir_column_append_bytes(&out->columns[0], p, n);
        if (rc)
            return oom(err);
        return finish_row(r, "_line", r->line_no, err);
    }
    size_t i = 0;
    while (i < n && isspace((unsigned char)p[i]))
        i++;
    if (i == n) /* blank line */
        return 0;
    if (!r->worker &&
        s->mode != M_READ) { /* a sample for the schema: lines that are not objects do not count */
        struct weir_error ierr = {0};
        if (weir_json_infer(s->inf, p, n, &ierr) == WEIR_ENOMEM)
            return oom(err);
        return 0;
    }
    struct weir_batch view = {.schema = s->decl, .nrows = 0, .ncolumns = s->ndecl, .columns = out->columns};
    struct weir_error derr = {0};
    weir_json_decoder_set_record(r->w->dec, r->line_no);
    rc = weir_json_decode_record(r->w->dec, p, n, &view, &derr);
    if (rc == WEIR_ENOMEM)
        return oom(err);
    if (rc)
        return rescue_whole(r, p, n, derr.message, "_line", r->line_no, err);
    size_t mn, unknown;
    const char *members = weir_json_decoder_rescued(r->w->dec, &mn, &unknown);
    bool stop;
    if ((rc = on_new_columns(r, unknown, members, mn, r->line_no, &stop, err)))
        return rc;
    if (stop) /* this line starts the scan for new columns */
        return r->worker || weir_json_infer(s->inf, p, n, &derr) != WEIR_ENOMEM ? 0 : oom(err);
    r->w->rescue.len = 0;
    if (mn && weir_buf_append(&r->w->rescue, members, mn))
        return oom(err);
    return finish_row(r, "_line", r->line_no, err);
}

/* ---- csv */

static void csv_header_clear(struct files_source *s)
{
    for (size_t i = 0; i < s->ncsv; i++)
        weir_free(s->csv_names[i]);
    s->ncsv = 0;
}

/* Column i's name: from the header, else _c<i>. */
static int csv_column(struct files_source *s, size_t i, const char *name, size_t nn)
{
    if (i >= s->cap_csv) {
        size_t cap = s->cap_csv ? s->cap_csv * 2 : 16;
        while (cap <= i)
            cap *= 2;
        int *m = weir_realloc(s->csv_map, cap * sizeof *m);
        if (!m)
            return WEIR_ENOMEM;
        s->csv_map = m;
        char **nm = weir_realloc(s->csv_names, cap * sizeof *nm);
        if (!nm)
            return WEIR_ENOMEM;
        s->csv_names = nm;
        s->cap_csv = cap;
    }
    char gen[32];
    if (!name || nn == 0) {
        snprintf(gen, sizeof gen, "_c%zu", i);
        name = gen;
        nn = strlen(gen);
    }
    /* a name repeated in the header gets its position appended (as Spark) */
    char *nm = weir_strndup(name, nn);
    if (!nm)
        return WEIR_ENOMEM;
    for (size_t j = 0; j < s->ncsv && j < i; j++) {
        if (strcasecmp(s->csv_names[j], nm) == 0) {
            char *dup = weir_malloc(nn + 24);
            if (!dup) {
                weir_free(nm);
                return WEIR_ENOMEM;
            }
            snprintf(dup, nn + 24, "%s%zu", nm, i);
            weir_free(nm);
            nm = dup;
            break;
        }
    }
    s->csv_names[i] = nm;
    s->csv_map[i] = weir_type_field_index(s->decl, nm);
    s->ncsv = i + 1;
    return 0;
}

static int csv_kind_add(struct files_source *s, const char *name, const struct weir_csv_field *f)
{
    for (size_t i = 0; i < s->nccols; i++)
        if (strcasecmp(s->ccols[i].name, name) == 0) {
            s->ccols[i].kind = weir_csv_infer_kind(s->ccols[i].kind, &s->csvo, f);
            return 0;
        }
    struct csv_col *c = weir_realloc(s->ccols, (s->nccols + 1) * sizeof *c);
    if (!c)
        return WEIR_ENOMEM;
    s->ccols = c;
    if (!(c[s->nccols].name = weir_strdup(name)))
        return WEIR_ENOMEM;
    c[s->nccols].kind = weir_csv_infer_kind(WEIR_CSV_NONE, &s->csvo, f);
    s->nccols++;
    return 0;
}

static int on_csv_record(void *ctx, const struct weir_csv_record *rec, struct weir_error *err)
{
    struct file_reader *r = ctx;
    struct files_source *s = r->s;
    int rc = 0;
    if (s->csv_header_pending) {
        s->csv_header_pending = false;
        csv_header_clear(s);
        for (size_t i = 0; i < rec->nfields && rc == 0; i++)
            rc = csv_column(s, i, rec->fields[i].p, rec->fields[i].n);
        return rc ? oom(err) : 0;
    }
    for (size_t i = s->ncsv; i < rec->nfields && rc == 0; i++) /* more fields than the header names */
        rc = csv_column(s, i, NULL, 0);
    if (rc)
        return oom(err);
    if (s->mode != M_READ) {
        if (rec->malformed)
            return 0;
        for (size_t i = 0; i < rec->nfields && rc == 0; i++)
            if (s->mode == M_INFER || s->csv_map[i] < 0)
                rc = csv_kind_add(s, s->csv_names[i], &rec->fields[i]);
        return rc ? oom(err) : 0;
    }
    if (rec->malformed)
        return rescue_whole(r, rec->raw, rec->raw_len, rec->malformed, "_line", rec->line, err);
    struct weir_batch *out = r->w->out;
    size_t unknown = 0;
    r->w->rescue.len = 0;
    /* columns in decl order: find each one's field (headers are few) */
    for (size_t c = 0; c < s->ndecl && rc == 0; c++) {
        const struct weir_csv_field *f = NULL;
        size_t fi = 0;
        for (size_t i = 0; i < rec->nfields; i++)
            if (s->csv_map[i] == (int)c) {
                f = &rec->fields[i];
                fi = i;
                break;
            }
        if (!f) {
            rc = weir_column_append_null(&out->columns[c]) ? WEIR_ENOMEM : 0;
            continue;
        }
        char why[128];
        rc = weir_csv_append_value(&out->columns[c], &s->csvo, f, why, sizeof why);
        if (rc == WEIR_EPARSE || rc == WEIR_EUNSUPPORTED) {
            rc = weir_column_append_null(&out->columns[c]);
            if (rc == 0)
                rc = rescue_add(r->w, s->csv_names[fi], strlen(s->csv_names[fi]), false, f->p, f->n, true);
        }
    }
    for (size_t i = 0; i < rec->nfields && rc == 0; i++) {
        if (s->csv_map[i] >= 0 || weir_csv_is_null(&s->csvo, &rec->fields[i]))
            continue;
        unknown++;
        rc = rescue_add(r->w, s->csv_names[i], strlen(s->csv_names[i]), false, rec->fields[i].p,
                        rec->fields[i].n, true);
    }
    if (rc)
        return oom(err);
    bool stop;
    if ((rc = on_new_columns(r, unknown, (const char *)r->w->rescue.data, r->w->rescue.len, rec->line, &stop,
                             err)))
        return rc;
    if (stop) { /* the row stays unfinished: the batch is thrown away */
        r->w->rescue.len = 0;
        for (size_t i = 0; i < rec->nfields && rc == 0; i++)
            if (s->csv_map[i] < 0)
                rc = csv_kind_add(s, s->csv_names[i], &rec->fields[i]);
        return rc ? oom(err) : 0;
    }
    return finish_row(r, "_line", rec->line, err);
}

/* Feed decompressed bytes; complete lines (or CSV records) are handled
 * here, the rest kept. */
static int feed_here(struct file_reader *r, const char *p, size_t n, bool last, struct weir_error *err)
{
    struct files_source *s = r->s;
    if (s->cfg->format == FS_CSV)
        return weir_csv_feed(s->csv, p, n, last, on_csv_record, r, err);
    struct weir_buf *lb = &s->line_buf;
    int rc = 0;
    if (lb->len) { /* finish the line carried over */
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) + 1 : n;
        if (weir_buf_append(lb, p, take))
            return oom(err);
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
            return oom(err);
    }
    return 0;
}

/* ---- json lines decoded by worker threads
 *
 * While a batch reads json files with rows wanted (M_READ), the pipeline
 * thread cuts the decompressed text into runs of whole lines and queues
 * them; decode_parallelism workers decode runs into their own batches, and
 * the pipeline thread takes the runs back in order and appends their rows
 * to the source's batch, so rows keep the order of a serial read. A file's
 * runs are all taken back before the next file starts (read_entry's rule
 * for skipped files sees the same batch). A run that meets new columns
 * (add_new_columns) stops there; when it is taken back the source switches
 * to sampling the rest of the batch, like the serial read. */

#define FS_RUN_BYTES (1u << 20)

enum run_state { RUN_FREE, RUN_QUEUED, RUN_BUSY, RUN_DONE };

struct fs_run {
    struct weir_buf text; /* whole lines */
    uint64_t first_line;  /* lines of the file before the run's first */
    struct file_reader r; /* the worker's reader: rows go to `rows` */
    struct fs_rows rows;
    int rc;
    struct weir_error err;
    size_t stop_off; /* with r.stop_line: where that line starts in text */
    enum run_state state;
};

struct fs_pool {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t *threads;
    size_t nthreads, started;
    struct fs_run *runs; /* a ring: oldest .. filling */
    size_t nruns;
    size_t oldest;   /* the oldest run not taken back */
    size_t filling;  /* the run the pipeline thread appends text to */
    size_t next;     /* the next run a worker decodes */
    size_t inflight; /* runs queued, busy or done and not taken back */
    bool quit;
};

static void run_decode(struct fs_run *run)
{
    struct file_reader *r = &run->r;
    const char *t = (const char *)run->text.data, *p = t, *end = t + run->text.len;
    if (weir_json_decoder_reset(run->rows.dec, r->e->key)) {
        run->rc = oom(&run->err);
        return;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if ((run->rc = on_line(r, p, n, &run->err)) != 0)
            return;
        if (r->stop_line) {
            run->stop_off = (size_t)(p - t);
            return;
        }
        p = nl ? nl + 1 : end;
    }
}

static void *run_worker(void *arg)
{
    struct fs_pool *pl = arg;
    pthread_mutex_lock(&pl->mu);
    for (;;) {
        while (!pl->quit && pl->runs[pl->next].state != RUN_QUEUED)
            pthread_cond_wait(&pl->work, &pl->mu);
        if (pl->quit)
            break;
        struct fs_run *run = &pl->runs[pl->next];
        pl->next = (pl->next + 1) % pl->nruns;
        run->state = RUN_BUSY;
        pthread_mutex_unlock(&pl->mu);
        run_decode(run);
        pthread_mutex_lock(&pl->mu);
        run->state = RUN_DONE;
        pthread_cond_broadcast(&pl->done);
    }
    pthread_mutex_unlock(&pl->mu);
    return NULL;
}

static void pool_destroy(struct fs_pool *pl)
{
    if (pl == NULL)
        return;
    pthread_mutex_lock(&pl->mu);
    pl->quit = true;
    pthread_cond_broadcast(&pl->work);
    pthread_mutex_unlock(&pl->mu);
    for (size_t i = 0; i < pl->started; i++)
        pthread_join(pl->threads[i], NULL);
    for (size_t i = 0; pl->runs && i < pl->nruns; i++) {
        struct fs_run *run = &pl->runs[i];
        weir_buf_free(&run->text);
        weir_batch_destroy(run->rows.out);
        weir_json_decoder_destroy(run->rows.dec);
        weir_buf_free(&run->rows.rescue);
        weir_buf_free(&run->rows.rjson);
    }
    pthread_mutex_destroy(&pl->mu);
    pthread_cond_destroy(&pl->work);
    pthread_cond_destroy(&pl->done);
    weir_free(pl->runs);
    weir_free(pl->threads);
    weir_free(pl);
}

static int new_json_decoder(const struct weir_type *decl, struct weir_json_decoder **out,
                            struct weir_error *err)
{
    struct weir_json_decode_options o;
    weir_json_decode_options_default(&o);
    o.rescue_fields = true;
    return weir_json_decoder_create(out, decl, &o, err);
}

/* NULL in *out when the batch is decoded on the pipeline thread. */
static int pool_create(struct files_source *s, struct fs_pool **out, struct weir_error *err)
{
    *out = NULL;
    long want = s->cfg->decode_parallelism;
    if (want == 0) { /* the cores left by the pipeline's reading and sink threads */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        want = cpus - 2 > 8 ? 8 : cpus - 2;
    }
    if (want < 2 || s->cfg->format != FS_JSON || s->rows.dec == NULL)
        return 0;
    struct fs_pool *pl = weir_calloc(1, sizeof *pl);
    if (!pl)
        return oom(err);
    pthread_mutex_init(&pl->mu, NULL);
    pthread_cond_init(&pl->work, NULL);
    pthread_cond_init(&pl->done, NULL);
    pl->nthreads = (size_t)want;
    pl->nruns = 2 * pl->nthreads + 1;
    pl->runs = weir_calloc(pl->nruns, sizeof *pl->runs);
    pl->threads = weir_calloc(pl->nthreads, sizeof *pl->threads);
    int rc = pl->runs && pl->threads ? 0 : oom(err);
    for (size_t i = 0; rc == 0 && i < pl->nruns; i++) {
        struct fs_run *run = &pl->runs[i];
        weir_buf_init(&run->text);
        weir_buf_init(&run->rows.rescue);
        weir_buf_init(&run->rows.rjson);
        if (!(run->rows.out = weir_batch_create(s->schema)))
            rc = oom(err);
        else
            rc = new_json_decoder(s->decl, &run->rows.dec, err);
    }
    for (; rc == 0 && pl->started < pl->nthreads; pl->started++)
        if (pthread_create(&pl->threads[pl->started], NULL, run_worker, pl) != 0)
            break; /* fewer workers: still correct */
    if (rc == 0 && pl->started == 0)
        rc = weir_error_set(err, WEIR_EIO, "files source: no decode thread could be started");
    if (rc) {
        pool_destroy(pl);
        return rc;
    }
    *out = pl;
    return 0;
}

/* Lines from byte `off` of the run through the pipeline thread's reader,
 * which samples them (the source is no longer reading rows). */
static int run_sample(struct file_reader *r, struct fs_run *run, uint64_t line_before, size_t off,
                      struct weir_error *err)
{
    struct file_reader t = *r;
    t.line_no = line_before;
    const char *p = (const char *)run->text.data + off, *end = (const char *)run->text.data + run->text.len;
    int rc = 0;
    while (rc == 0 && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        rc = on_line(&t, p, n, err);
        p = nl ? nl + 1 : end;
    }
    return rc;
}

/* Take the oldest run back (waiting for it): its error, its rows appended
 * to the source's batch (emitted when full), or its lines sampled. */
static int run_take(struct file_reader *r, bool keep, struct weir_error *err)
{
    struct files_source *s = r->s;
    struct fs_pool *pl = r->pool;
    struct fs_run *run = &pl->runs[pl->oldest];
    pthread_mutex_lock(&pl->mu);
    while (run->state != RUN_DONE)
        pthread_cond_wait(&pl->done, &pl->mu);
    pthread_mutex_unlock(&pl->mu);
    int rc = 0;
    if (!keep) {
        /* dropped after an earlier error */
    } else if (run->rc) {
        *err = run->err;
        rc = run->rc;
    } else {
        if (run->r.stop_line && s->mode == M_READ) {
            snprintf(s->evolve_where, sizeof s->evolve_where, "%s line %" PRIu64, r->full_path,
                     run->r.stop_line);
            s->mode = M_EVOLVE;
        }
        if (s->mode != M_READ) {
            rc = run->r.stop_line ? run_sample(r, run, run->r.stop_line - 1, run->stop_off, err)
                                  : run_sample(r, run, run->first_line, 0, err);
        } else {
            struct weir_batch *out = s->rows.out, *in = run->rows.out;
            for (size_t c = 0; rc == 0 && c < out->ncolumns; c++)
                rc = weir_column_append_range(&out->columns[c], &in->columns[c], 0, in->nrows);
            if (rc == 0)
                rc = weir_batch_finish_rows(out);
            if (rc)
                rc = weir_error_set(err, rc, "files source: out of memory decoding %s", r->e->key);
            s->rows.rescued += run->rows.rescued;
            if (rc == 0 && out->nrows >= FS_BATCH_ROWS)
                rc = emit(s, r->cb, r->ctx, err);
        }
    }
    run->text.len = 0;
    weir_batch_clear(run->rows.out);
    run->rows.rescue.len = 0;
    run->rows.rescued = 0;
    run->rc = 0;
    weir_error_clear(&run->err);
    run->r.stop_line = 0;
    pthread_mutex_lock(&pl->mu);
    run->state = RUN_FREE;
    pl->inflight--;
    pthread_mutex_unlock(&pl->mu);
    pl->oldest = (pl->oldest + 1) % pl->nruns;
    return rc;
}

/* The end of a file: every run taken back (rc == 0), or dropped. */
static int pool_finish(struct file_reader *r, int rc, struct weir_error *err)
{
    struct fs_pool *pl = r->pool;
    while (pl->inflight > 0) {
        int trc = run_take(r, rc == 0, err);
        if (rc == 0)
            rc = trc;
    }
    pl->runs[pl->filling].text.len = 0;
    return rc;
}

/* Count the lines of text[0..n): newlines, and a last line without one. */
static uint64_t count_lines(const char *t, size_t n)
{
    uint64_t k = 0;
    for (const char *p = t, *end = t + n; p < end; k++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    return k;
}

static int feed_pool(struct file_reader *r, const char *p, size_t n, bool last, struct weir_error *err)
{
    struct fs_pool *pl = r->pool;
    struct fs_run *run = &pl->runs[pl->filling];
    if (n && weir_buf_append(&run->text, p, n))
        return oom(err);
    for (;;) {
        const char *t = (const char *)run->text.data;
        size_t cut = run->text.len;
        if (cut == 0 || (!last && cut < FS_RUN_BYTES))
            return 0;
        if (!last) {
            const char *nl = memrchr(t, '\n', cut);
            if (!nl) /* one line longer than a run: wait for its end */
                return 0;
            cut = (size_t)(nl - t) + 1;
        }
        int rc = 0;
        if (pl->inflight + 1 >= pl->nruns) /* a free run for what follows */
            rc = run_take(r, true, err);
        if (rc)
            return rc;
        if (r->s->mode != M_READ) {
            /* new columns: what is left of the batch is sampled here */
            while (rc == 0 && pl->inflight > 0)
                rc = run_take(r, true, err);
            if (rc == 0)
                rc = feed_here(r, t, run->text.len, last, err);
            run->text.len = 0;
            return rc;
        }
        struct fs_run *next = &pl->runs[(pl->filling + 1) % pl->nruns];
        if (cut < run->text.len && weir_buf_append(&next->text, t + cut, run->text.len - cut))
            return oom(err);
        run->text.len = cut;
        run->first_line = r->line_no;
        run->r = *r;
        run->r.w = &run->rows;
        run->r.pool = NULL;
        run->r.worker = true;
        run->r.stop_line = 0;
        run->r.line_no = r->line_no;
        r->line_no += count_lines(t, cut);
        pthread_mutex_lock(&pl->mu);
        run->state = RUN_QUEUED;
        pl->inflight++;
        pthread_cond_signal(&pl->work);
        pthread_mutex_unlock(&pl->mu);
        pl->filling = (pl->filling + 1) % pl->nruns;
        run = next;
    }
}

static int feed(struct file_reader *r, const char *p, size_t n, bool last, struct weir_error *err)
{
    if (r->pool && r->s->mode == M_READ)
        return feed_pool(r, p, n, last, err);
    return feed_here(r, p, n, last, err);
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

/* ---- prefetch
 *
 * The objects of a batch are fetched ahead of the decoder by a few threads
 * (read_parallelism): small files whole, large ones in FS_CHUNK ranges, in
 * the order they are read, at most PF_WINDOW chunks and PF_BUDGET bytes
 * ahead. The decoder takes chunks strictly in order and releases each one
 * when done with it; a fetch error is reported when its chunk is taken. */

#define PF_WINDOW 64
#define PF_BUDGET (64u << 20)

struct pf_chunk {
    uint32_t file;
    uint64_t off;
    size_t len; /* ranges; whole objects: the indexed size, an estimate */
    bool whole;
    int state; /* 0 waiting, 1 being fetched, 2 done */
    int rc;
    struct weir_error err;
    struct weir_buf data;
};

struct prefetch {
    struct weir_store *store;
    const struct fs_entry *files;
    size_t nfiles;
    size_t *first; /* first chunk of each file; first[nfiles] = nchunks */
    struct pf_chunk *chunks;
    size_t nchunks, next, consumed;
    uint64_t ahead;
    bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th[32];
    int nth;
};

static void *pf_worker(void *arg)
{
    struct prefetch *pf = arg;
    pthread_mutex_lock(&pf->mu);
    for (;;) {
        while (!pf->stop && pf->next < pf->nchunks &&
               (pf->next - pf->consumed >= PF_WINDOW || (pf->ahead >= PF_BUDGET && pf->next > pf->consumed)))
            pthread_cond_wait(&pf->cv, &pf->mu);
        if (pf->stop || pf->next >= pf->nchunks)
            break;
        struct pf_chunk *c = &pf->chunks[pf->next++];
        c->state = 1;
        pf->ahead += c->len;
        pthread_mutex_unlock(&pf->mu);
        const char *key = pf->files[c->file].key;
        if (c->whole) {
            c->rc = weir_store_get(pf->store, key, &c->data, &c->err);
        } else {
            c->rc = weir_buf_reserve(&c->data, c->len) ? WEIR_ENOMEM : 0;
            if (c->rc == 0)
                c->rc = weir_store_get_range(pf->store, key, c->off, c->data.data, c->len, &c->err);
            if (c->rc == 0)
                c->data.len = c->len;
            else if (c->rc == WEIR_ENOMEM)
                weir_error_set(&c->err, WEIR_ENOMEM, "files source: out of memory");
        }
        pthread_mutex_lock(&pf->mu);
        c->state = 2;
        pthread_cond_broadcast(&pf->cv);
    }
    pthread_mutex_unlock(&pf->mu);
    return NULL;
}

static void pf_destroy(struct prefetch *pf)
{
    if (!pf)
        return;
    pthread_mutex_lock(&pf->mu);
    pf->stop = true;
    pthread_cond_broadcast(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
    for (int i = 0; i < pf->nth; i++)
        pthread_join(pf->th[i], NULL);
    for (size_t i = 0; i < pf->nchunks; i++)
        weir_buf_free(&pf->chunks[i].data);
    pthread_mutex_destroy(&pf->mu);
    pthread_cond_destroy(&pf->cv);
    weir_free(pf->chunks);
    weir_free(pf->first);
    weir_free(pf);
}

static int pf_create(struct weir_store *store, const struct fs_entry *files, size_t nfiles, int threads,
                     struct prefetch **out, struct weir_error *err)
{
    struct prefetch *pf = weir_calloc(1, sizeof *pf);
    if (!pf || !(pf->first = weir_malloc((nfiles + 1) * sizeof *pf->first))) {
        weir_free(pf);
        return oom(err);
    }
    pf->store = store;
    pf->files = files;
    pf->nfiles = nfiles;
    pthread_mutex_init(&pf->mu, NULL);
    pthread_cond_init(&pf->cv, NULL);
    size_t n = 0;
    for (size_t i = 0; i < nfiles; i++) {
        pf->first[i] = n;
        n += files[i].size <= FS_WHOLE_MAX ? 1 : (size_t)((files[i].size + FS_CHUNK - 1) / FS_CHUNK);
    }
    pf->first[nfiles] = n;
    if (n && !(pf->chunks = weir_calloc(n, sizeof *pf->chunks))) {
        pf_destroy(pf);
        return oom(err);
    }
    pf->nchunks = n;
    for (size_t i = 0; i < nfiles; i++) {
        uint64_t off = 0;
        for (size_t c = pf->first[i]; c < pf->first[i + 1]; c++) {
            struct pf_chunk *ch = &pf->chunks[c];
            ch->file = (uint32_t)i;
            weir_buf_init(&ch->data);
            if (files[i].size <= FS_WHOLE_MAX) {
                ch->whole = true;
                ch->len = files[i].size;
            } else {
                ch->off = off;
                ch->len = files[i].size - off < FS_CHUNK ? (size_t)(files[i].size - off) : FS_CHUNK;
                off += ch->len;
            }
        }
    }
    if (threads < 1)
        threads = 1;
    if (threads > 32)
        threads = 32;
    for (int i = 0; i < threads && (size_t)i < n; i++) {
        if (pthread_create(&pf->th[i], NULL, pf_worker, pf) != 0)
            break;
        pf->nth++;
    }
    if (n && pf->nth == 0) {
        pf_destroy(pf);
        return weir_error_set(err, WEIR_EIO, "files source: cannot start reader threads");
    }
    *out = pf;
    return 0;
}

/* Wait for chunk i (taken in order); its data stays until pf_release. */
static struct pf_chunk *pf_take(struct prefetch *pf, size_t i)
{
    struct pf_chunk *c = &pf->chunks[i];
    pthread_mutex_lock(&pf->mu);
    while (c->state != 2)
        pthread_cond_wait(&pf->cv, &pf->mu);
    pthread_mutex_unlock(&pf->mu);
    return c;
}

static void pf_release(struct prefetch *pf, size_t i)
{
    struct pf_chunk *c = &pf->chunks[i];
    weir_buf_free(&c->data);
    pthread_mutex_lock(&pf->mu);
    pf->ahead -= c->len;
    if (i + 1 > pf->consumed)
        pf->consumed = i + 1;
    pthread_cond_broadcast(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
}

/* Release the chunks of file i not taken (the file was skipped or failed). */
static void pf_finish_file(struct prefetch *pf, size_t file)
{
    for (size_t c = pf->consumed > pf->first[file] ? pf->consumed : pf->first[file]; c < pf->first[file + 1];
         c++) {
        pf_take(pf, c);
        pf_release(pf, c);
    }
}

/* A text file (json, csv, text) through feed(). WEIR_ECORRUPT for a
 * damaged compressed stream (the file is skipped). */
static int read_text_file(struct file_reader *r, struct weir_error *err)
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
        return oom(err);
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
    if (s->csv) {
        weir_csv_reader_reset(s->csv);
        s->csv_header_pending = s->cfg->csv_header;
        if (!s->csv_header_pending)
            csv_header_clear(s);
    }
    uint64_t off = 0, compressed_in = 0;
    bool stream_end = codec == C_NONE;
    for (;;) {
        size_t want;
        if (e->size > FS_WHOLE_MAX && off >= e->size)
            break;
        if (r->pf) {
            size_t ci = r->chunk++;
            struct pf_chunk *c = pf_take(r->pf, ci);
            if ((rc = c->rc) != 0) {
                *err = c->err;
            } else { /* take the chunk's bytes (the old buffer goes with the chunk) */
                struct weir_buf t = s->raw;
                s->raw = c->data;
                c->data = t;
            }
            want = s->raw.len;
            pf_release(r->pf, ci);
        } else {
            s->raw.len = 0;
            if (e->size <= FS_WHOLE_MAX) { /* one request, whatever its length now */
                rc = weir_store_get(s->store, e->key, &s->raw, err);
                want = s->raw.len;
            } else {
                want = e->size - off < FS_CHUNK ? (size_t)(e->size - off) : FS_CHUNK;
                rc = weir_buf_reserve(&s->raw, want) ? WEIR_ENOMEM : 0;
                if (rc == 0)
                    rc = weir_store_get_range(s->store, e->key, off, s->raw.data, want, err);
                if (rc == 0)
                    s->raw.len = want;
            }
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
    if (r->pool)
        rc = pool_finish(r, rc, err);
    if (z_init)
        inflateEnd(&z);
    ZSTD_freeDStream(zs);
    weir_free(outbuf);
    return rc;
}

/* ---- parquet */

/* Can a file column of type `have` be read as `want` (the reader converts)? */
static bool pq_compatible(const struct weir_type *want, const struct weir_type *have)
{
    if (weir_type_equal(want, have))
        return true;
    enum weir_type_kind w = want->kind, h = have->kind;
    if (w == WEIR_TYPE_LONG)
        return h == WEIR_TYPE_INTEGER || h == WEIR_TYPE_SHORT || h == WEIR_TYPE_BYTE;
    if (w == WEIR_TYPE_INTEGER)
        return h == WEIR_TYPE_SHORT || h == WEIR_TYPE_BYTE;
    if (w == WEIR_TYPE_DOUBLE)
        return h == WEIR_TYPE_FLOAT;
    if (w == WEIR_TYPE_DECIMAL && h == WEIR_TYPE_DECIMAL)
        return want->scale == have->scale && want->precision >= have->precision;
    return false; /* nested types must be equal; otherwise the column is rescued as JSON */
}

/* Record the file's fields that decl lacks (first type wins). */
static int pq_note_fields(struct files_source *s, const struct weir_type *fs, bool only_new)
{
    for (size_t i = 0; i < fs->nfields; i++) {
        const struct weir_field *f = &fs->fields[i];
        if ((only_new && weir_type_field_index(s->decl, f->name) >= 0) ||
            weir_type_field_index(s->pq_fields, f->name) >= 0)
            continue;
        struct weir_type *t = weir_type_clone(f->type);
        if (!t || weir_type_struct_add(s->pq_fields, f->name, t, true, NULL))
            return WEIR_ENOMEM;
    }
    return 0;
}

static int read_parquet_file(struct file_reader *r, struct weir_error *err)
{
    struct files_source *s = r->s;
    struct weir_input in;
    struct weir_parquet_reader *pr = NULL;
    struct weir_type *want = NULL;
    struct weir_batch *pb = NULL;
    int *src = NULL; /* decl field -> column of pb, or -1 */
    int rc = weir_store_input_open(s->store, r->e->key, &in, err);
    if (rc)
        return rc;
    if ((rc = weir_parquet_reader_open(&pr, &in, err))) {
        if (rc != WEIR_ENOMEM && rc != WEIR_EIO && rc != WEIR_ENOTFOUND && !err->retriable)
            rc = WEIR_ECORRUPT; /* not a Parquet file we can read: skipped whole */
        goto done;
    }
    const struct weir_type *fs = weir_parquet_reader_schema(pr);
    if (s->mode == M_INFER || s->mode == M_EVOLVE) {
        rc = pq_note_fields(s, fs, s->mode == M_EVOLVE) ? oom(err) : 0;
        goto done;
    }
    /* decl fields the file holds in a readable type, then every other file
     * column (rescued) */
    want = weir_type_struct();
    src = weir_malloc((s->ndecl ? s->ndecl : 1) * sizeof *src);
    if (!want || !src) {
        rc = oom(err);
        goto done;
    }
    size_t unknown = 0;
    for (size_t i = 0; i < s->ndecl; i++) {
        const struct weir_field *d = &s->decl->fields[i];
        int fi = weir_type_field_index(fs, d->name);
        src[i] = -1;
        if (fi >= 0 && pq_compatible(d->type, fs->fields[fi].type)) {
            src[i] = (int)want->nfields;
            if (weir_type_struct_add(want, fs->fields[fi].name, weir_type_clone(d->type), true, NULL)) {
                rc = oom(err);
                goto done;
            }
        }
    }
    size_t first_rescued = want->nfields;
    for (size_t j = 0; j < fs->nfields; j++) {
        const struct weir_field *f = &fs->fields[j];
        int di = weir_type_field_index(s->decl, f->name);
        if (di >= 0 && src[di] >= 0)
            continue;
        if (di < 0)
            unknown++;
        if (weir_type_struct_add(want, f->name, weir_type_clone(f->type), true, NULL)) {
            rc = oom(err);
            goto done;
        }
    }
    if (unknown) {
        struct weir_buf names;
        weir_buf_init(&names);
        for (size_t j = first_rescued; j < want->nfields; j++)
            if (weir_type_field_index(s->decl, want->fields[j].name) < 0)
                weir_buf_printf(&names, "%s\"%s\":..", names.len ? "," : "", want->fields[j].name);
        bool stop;
        rc = on_new_columns(r, unknown, names.len ? (const char *)names.data : "", names.len, 0, &stop, err);
        weir_buf_free(&names);
        if (rc)
            goto done;
        if (stop) {
            rc = pq_note_fields(s, fs, true) ? oom(err) : 0;
            goto done;
        }
    }
    uint64_t row_no = 0;
    int nrg = weir_parquet_reader_num_row_groups(pr);
    for (int g = 0; g < nrg && rc == 0; g++) {
        weir_batch_destroy(pb);
        pb = NULL;
        if ((rc = weir_parquet_reader_read_row_group(pr, g, want, &pb, err))) {
            if (rc == WEIR_ESCHEMA || rc == WEIR_EPARSE)
                rc = WEIR_ECORRUPT;
            break;
        }
        for (size_t row = 0; row < pb->nrows && rc == 0; row++, row_no++) {
            r->w->rescue.len = 0;
            for (size_t i = 0; i < s->ndecl && rc == 0; i++)
                rc = src[i] >= 0 ? weir_column_append_from(&r->w->out->columns[i], &pb->columns[src[i]], row)
                                 : weir_column_append_null(&r->w->out->columns[i]);
            for (size_t j = first_rescued; j < pb->ncolumns && rc == 0; j++) {
                if (!weir_column_is_valid(&pb->columns[j], row))
                    continue;
                s->text.len = 0;
                if ((rc = weir_json_encode_value(&pb->columns[j], row, &s->text, NULL)) == 0)
                    rc = rescue_add(r->w, want->fields[j].name, strlen(want->fields[j].name), false,
                                    (const char *)s->text.data, s->text.len, false);
            }
            if (rc) {
                rc = oom(err);
                break;
            }
            rc = finish_row(r, "_row", row_no, err);
        }
    }
done:
    weir_batch_destroy(pb);
    weir_type_destroy(want);
    weir_free(src);
    weir_parquet_reader_destroy(pr);
    weir_store_input_close(&in);
    return rc;
}

static int read_file(struct file_reader *r, struct weir_error *err)
{
    r->w->rescue.len = 0;
    if (r->s->cfg->format == FS_PARQUET)
        return read_parquet_file(r, err);
    return read_text_file(r, err);
}

/* Read index entry `e`; a file missing or corrupt is skipped whole
 * (counted and logged), any other failure is returned. */
static int read_entry(struct files_source *s, struct fs_entry *e, weir_source_emit_cb cb, void *ctx,
                      struct prefetch *pf, size_t file, struct fs_pool *pool, struct weir_error *err)
{
    struct file_reader r = {.s = s,
                            .e = e,
                            .cb = cb,
                            .ctx = ctx,
                            .mtime_us = e->mtime_ms * 1000,
                            .pf = pf,
                            .chunk = pf ? pf->first[file] : 0,
                            .w = &s->rows,
                            .pool = pool};
    struct weir_buf path;
    weir_buf_init(&path);
    if (weir_buf_printf(&path, "%s/%s", weir_store_root(s->store), e->key))
        return oom(err);
    r.full_path = (char *)path.data;
    size_t rows_before = s->rows.out->nrows;
    uint64_t emits_before = s->emits;
    s->emit_failed = false;
    if (s->rows.dec)
        weir_json_decoder_reset(s->rows.dec, e->key);
    if (s->inf)
        weir_json_inferrer_reset(s->inf, e->key);
    struct weir_error ferr = {0};
    int rc = 0, frc = read_file(&r, &ferr);
    if (s->rows.out->nrows > 0 && s->emits != emits_before)
        rows_before = 0; /* what the open batch holds is all this file's */
    if (!s->emit_failed && (frc == WEIR_ENOTFOUND || frc == WEIR_ECORRUPT)) {
        /* Skipped whole: drop what this file added to the open batch.
         * (Rows of a file already emitted in an earlier chunk of the
         * same batch stay: only files larger than a batch can.) */
        if (s->rows.out->nrows > rows_before) {
            struct weir_batch *keep = NULL;
            uint32_t *idx = weir_malloc((rows_before ? rows_before : 1) * sizeof *idx);
            for (size_t i = 0; idx && i < rows_before; i++)
                idx[i] = (uint32_t)i;
            if (!idx || weir_batch_take(s->rows.out, idx, rows_before, &keep)) {
                weir_free(idx);
                weir_buf_free(&path);
                return oom(err);
            }
            weir_free(idx);
            weir_batch_destroy(s->rows.out);
            s->rows.out = keep;
        }
        if (frc == WEIR_ENOTFOUND)
            s->files_missing++;
        else
            s->files_corrupt++;
        WEIR_LOG(WEIR_LOG_WARN, s->base.pipeline, -1, "files source: skipped %s: %s", r.full_path,
                 ferr.message);
    } else if (frc) {
        *err = ferr;
        weir_error_prefix(err, "files source: reading %s", r.full_path);
        rc = frc;
    } else {
        s->files_read++;
    }
    if (pf)
        pf_finish_file(pf, file);
    weir_buf_free(&path);
    return rc;
}

/* ------------------------------------------------------------ schema */

/* The schema log lives in the checkpoint and is read and written through
 * the storage layer: version N is the object _schemas/N, written with
 * put-if-absent (a second writer of the same version is refused). */
#define SCHEMA_LOG "_schemas/"

/* Newest version (*version -1 and *out NULL when the log is empty). */
static int schema_log_latest(struct weir_store *st, const char *checkpoint, struct weir_type **out,
                             int *version, struct weir_error *err)
{
    struct weir_object_list l = {0};
    struct weir_buf b;
    weir_buf_init(&b);
    *out = NULL;
    *version = -1;
    int rc = weir_store_list(st, SCHEMA_LOG, NULL, false, &l, err);
    if (rc == WEIR_ENOTFOUND) {
        weir_error_clear(err);
        rc = 0;
    }
    long best = -1;
    for (size_t i = 0; rc == 0 && i < l.count; i++) {
        const char *name = l.items[i].key + strlen(SCHEMA_LOG);
        char *end = NULL;
        long v = isdigit((unsigned char)name[0]) ? strtol(name, &end, 10) : -1;
        if (v > best && v < 1000000 && *end == 0)
            best = v;
    }
    char key[64];
    snprintf(key, sizeof key, SCHEMA_LOG "%ld", best);
    if (rc == 0 && best >= 0 && (rc = weir_store_get(st, key, &b, err)) == 0 && weir_buf_append_byte(&b, 0))
        rc = oom(err);
    if (rc == 0 && best >= 0) {
        const char *text = (const char *)b.data;
        cJSON *o = strncmp(text, "v1\n", 3) == 0 ? cJSON_Parse(text + 3) : NULL;
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(o, "dataSchemaJson");
        if (!cJSON_IsString(js))
            rc =
                weir_error_set(err, WEIR_ECORRUPT,
                               "files source: %s/%s is not a schema log entry (want \"v1\" and a JSON object "
                               "with dataSchemaJson)",
                               checkpoint, key);
        else if ((rc = weir_schema_from_json(js->valuestring, out, err)))
            weir_error_prefix(err, "files source: %s/%s", checkpoint, key);
        else
            *version = (int)best;
        cJSON_Delete(o);
    }
    weir_buf_free(&b);
    weir_object_list_free(&l);
    return rc;
}

static int schema_log_write(struct files_source *s, int version, const struct weir_type *decl,
                            const char *reason, struct weir_error *err)
{
    char *sj = weir_schema_to_json(decl);
    cJSON *o = cJSON_CreateObject();
    char ts[40];
    weir_json_format_timestamp(weir_now_ms() * 1000, true, ts);
    if (!sj || !o || !cJSON_AddStringToObject(o, "dataSchemaJson", sj) ||
        !cJSON_AddStringToObject(o, "reason", reason) || !cJSON_AddStringToObject(o, "createdAt", ts)) {
        weir_free(sj);
        cJSON_Delete(o);
        return oom(err);
    }
    weir_free(sj);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    struct weir_buf b;
    weir_buf_init(&b);
    char key[64];
    snprintf(key, sizeof key, SCHEMA_LOG "%d", version);
    int rc = !text || weir_buf_printf(&b, "v1\n%s\n", text) ? oom(err) : 0;
    free(text);
    if (rc == 0 && (rc = weir_store_put_if_absent(s->ckpt, key, b.data, b.len, err)) == WEIR_EEXISTS)
        weir_error_prefix(err, "files source: another process is writing this checkpoint's schema log");
    if (rc == 0)
        s->schema_version = version;
    weir_buf_free(&b);
    return rc;
}

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

/* decl + _rescued_data [+ _metadata]. */
static int full_schema(const struct weir_type *decl, bool with_metadata, struct weir_type **out)
{
    struct weir_type *full = weir_type_clone(decl);
    if (!full ||
        weir_type_struct_add(full, RESCUED_COLUMN, weir_type_primitive(WEIR_TYPE_STRING), true, NULL))
        goto fail;
    if (with_metadata) {
        struct weir_type *m = weir_type_struct();
        if (!m || weir_type_struct_add(m, "file_path", weir_type_primitive(WEIR_TYPE_STRING), false, NULL) ||
            weir_type_struct_add(m, "file_size", weir_type_primitive(WEIR_TYPE_LONG), false, NULL) ||
            weir_type_struct_add(m, "file_modification_time", weir_type_primitive(WEIR_TYPE_TIMESTAMP), false,
                                 NULL) ||
            weir_type_struct_add(full, METADATA_COLUMN, m, true, NULL))
            goto fail;
    }
    *out = full;
    return 0;
fail:
    weir_type_destroy(full);
    return WEIR_ENOMEM;
}

/* The configured schema's fields, nullable; reserved names refused. */
static int declared_fields(const char *text, struct weir_type **out, struct weir_error *err)
{
    struct weir_type *t = NULL, *decl = NULL;
    int rc = weir_schema_parse(text, &t, err);
    if (rc)
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
    if (rc) {
        weir_type_destroy(decl);
        return rc == WEIR_ENOMEM ? oom(err) : rc;
    }
    *out = decl;
    return 0;
}

static int resolved_evolution(const struct weir_config_files *c)
{
    if (c->format == FS_TEXT)
        return EV_NONE;
    if (c->schema_evolution_mode != EV_AUTO)
        return c->schema_evolution_mode;
    return c->schema ? EV_NONE : EV_ADD;
}

/* The fields to read with, without touching the store: text's value, the
 * schema log's newest version (inferred or evolved), or the configured
 * schema. WEIR_ENOTFOUND when it is still to be inferred. */
static int known_fields(const struct weir_config_pipeline *p, struct weir_store *ckpt, struct weir_type **out,
                        int *version, struct weir_error *err)
{
    const struct weir_config_files *c = &p->files;
    *out = NULL;
    *version = -1;
    if (c->format == FS_TEXT) {
        struct weir_type *d = weir_type_struct();
        if (!d || weir_type_struct_add(d, "value", weir_type_primitive(WEIR_TYPE_STRING), true, NULL)) {
            weir_type_destroy(d);
            return oom(err);
        }
        *out = d;
        return 0;
    }
    if (!c->schema || resolved_evolution(c) == EV_ADD) {
        int rc = schema_log_latest(ckpt, p->checkpoint, out, version, err);
        if (rc || *out)
            return rc;
    }
    if (c->schema)
        return declared_fields(c->schema, out, err);
    return weir_error_set(err, WEIR_ENOTFOUND,
                          "files source: the schema is inferred from the files at the first run (no "
                          "source.files.schema, nothing in %s/_schemas yet)",
                          p->checkpoint);
}

int weir_source_files_schema(const struct weir_config_pipeline *p, struct weir_type **decl_out,
                             struct weir_type **out, struct weir_error *err)
{
    struct weir_type *decl = NULL;
    int version;
    struct weir_store *ckpt = NULL;
    struct weir_store_options so = {(const char *const *)p->checkpoint_storage_options,
                                    p->ncheckpoint_storage_options};
    int rc = weir_store_open_with(&ckpt, p->checkpoint, &so, err);
    if (rc == 0)
        rc = known_fields(p, ckpt, &decl, &version, err);
    weir_store_destroy(ckpt);
    if (rc)
        return rc;
    if (full_schema(decl, mentions_metadata(p), out)) {
        weir_type_destroy(decl);
        return oom(err);
    }
    if (decl_out)
        *decl_out = decl;
    else
        weir_type_destroy(decl);
    return 0;
}

/* Read with `decl` (taken): output schema, batch and decoder. */
static int install_schema(struct files_source *s, struct weir_type *decl, struct weir_error *err)
{
    struct weir_type *full = NULL;
    struct weir_batch *out = NULL;
    struct weir_json_decoder *dec = NULL;
    int rc = 0;
    if (full_schema(decl, s->with_metadata, &full) || !(out = weir_batch_create(full)))
        rc = oom(err);
    if (rc == 0 && s->cfg->format == FS_JSON && decl->nfields > 0)
        rc = new_json_decoder(decl, &dec, err);
    if (rc) {
        weir_type_destroy(decl);
        weir_type_destroy(full);
        weir_batch_destroy(out);
        return rc;
    }
    weir_type_destroy(s->decl);
    weir_type_destroy(s->schema);
    weir_batch_destroy(s->rows.out);
    weir_json_decoder_destroy(s->rows.dec);
    s->decl = decl;
    s->ndecl = decl->nfields;
    s->schema = full;
    s->rows.out = out;
    s->rows.dec = dec;
    s->base.schema = full;
    return 0;
}

/* Start a fresh sample (inference or evolution). */
static int sample_reset(struct files_source *s, struct weir_error *err)
{
    weir_json_inferrer_destroy(s->inf);
    s->inf = NULL;
    for (size_t i = 0; i < s->nccols; i++)
        weir_free(s->ccols[i].name);
    s->nccols = 0;
    weir_type_destroy(s->pq_fields);
    if (!(s->pq_fields = weir_type_struct()))
        return oom(err);
    if (s->cfg->format == FS_JSON)
        return weir_json_inferrer_create(&s->inf, NULL, err);
    return 0;
}

/* Add the sampled fields that `decl` lacks to it; *added names them. */
static int sample_merge(struct files_source *s, struct weir_type *decl, struct weir_buf *added,
                        struct weir_error *err)
{
    struct weir_type *t = NULL;
    int rc = 0;
    if (s->cfg->format == FS_JSON) {
        struct weir_error ierr = {0};
        rc = weir_json_infer_schema(s->inf, &t, &ierr);
        if (rc == WEIR_ENOMEM)
            return oom(err);
        rc = 0;
    } else if (s->cfg->format == FS_CSV) {
        t = weir_type_struct();
        for (size_t i = 0; t && rc == 0 && i < s->nccols; i++)
            rc = weir_type_struct_add(t, s->ccols[i].name, weir_csv_kind_type(s->ccols[i].kind), true, NULL);
    } else {
        t = weir_type_clone(s->pq_fields);
    }
    if (!t && s->cfg->format != FS_JSON)
        rc = WEIR_ENOMEM;
    for (size_t i = 0; t && rc == 0 && i < t->nfields; i++) {
        const struct weir_field *f = &t->fields[i];
        if (weir_type_field_index(decl, f->name) >= 0 || strcasecmp(f->name, RESCUED_COLUMN) == 0 ||
            strcasecmp(f->name, METADATA_COLUMN) == 0)
            continue;
        struct weir_type *ft;
        enum weir_type_kind k = f->type->kind;
        if (s->cfg->format == FS_PARQUET &&
            (k == WEIR_TYPE_BYTE || k == WEIR_TYPE_SHORT || k == WEIR_TYPE_INTEGER))
            ft = weir_type_primitive(WEIR_TYPE_LONG); /* a later file may hold longer integers */
        else if (s->cfg->format == FS_PARQUET && k == WEIR_TYPE_FLOAT)
            ft = weir_type_primitive(WEIR_TYPE_DOUBLE);
        else if (s->cfg->infer_column_types || s->cfg->format == FS_PARQUET)
            ft = weir_type_clone(f->type);
        else
            ft = weir_type_primitive(WEIR_TYPE_STRING);
        rc = weir_type_struct_add(decl, f->name, ft, true, NULL);
        if (rc == 0)
            rc = weir_buf_printf(added, "%s%s", added->len ? ", " : "", f->name);
    }
    weir_type_destroy(t);
    return rc ? oom(err) : 0;
}

static int apply_hints(struct files_source *s, struct weir_type *decl, struct weir_error *err)
{
    if (!s->cfg->schema_hints)
        return 0;
    struct weir_type *h = NULL;
    int rc = weir_schema_parse(s->cfg->schema_hints, &h, err);
    if (rc)
        return weir_error_prefix(err, "source.files.schema_hints");
    for (size_t i = 0; rc == 0 && i < h->nfields; i++) {
        int j = weir_type_field_index(decl, h->fields[i].name);
        struct weir_type *t = weir_type_clone(h->fields[i].type);
        if (!t) {
            rc = oom(err);
        } else if (j >= 0) {
            weir_type_destroy(decl->fields[j].type);
            decl->fields[j].type = t;
        } else if (weir_type_struct_add(decl, h->fields[i].name, t, true, NULL)) {
            rc = oom(err);
        }
    }
    weir_type_destroy(h);
    return rc;
}

static int discover(struct files_source *s, struct weir_error *err);
static bool wanted(const struct files_source *s, const char *key);

/* Infer the schema from a sample of the files there now; version 0 of the log. */
static int infer_schema(struct files_source *s, struct weir_error *err)
{
    struct weir_object_list l;
    int rc = weir_store_list(s->store, "", NULL, s->cfg->recursive || s->glob != NULL, &l, err);
    if (rc)
        return weir_error_prefix(err, "files source: listing %s to infer the schema",
                                 weir_store_root(s->store));
    struct weir_type *decl = weir_type_struct(), *none = weir_type_struct();
    if (!decl || !none) {
        weir_type_destroy(none);
        rc = oom(err);
        goto done;
    }
    if ((rc = install_schema(s, none, err)) || (rc = sample_reset(s, err)))
        goto done;
    s->mode = M_INFER;
    int64_t files = 0, bytes = 0;
    for (size_t i = 0; i < l.count && rc == 0; i++) {
        const struct weir_object_info *o = &l.items[i];
        if (!wanted(s, o->key))
            continue;
        if (files >= s->cfg->schema_inference_max_files ||
            (files > 0 && bytes + (int64_t)o->size > s->cfg->schema_inference_max_bytes))
            break;
        struct fs_entry e = {.size = o->size, .mtime_ms = o->mtime_ms, .key = o->key};
        rc = read_entry(s, &e, NULL, NULL, NULL, 0, NULL, err);
        files++;
        bytes += (int64_t)o->size;
    }
    s->mode = M_READ;
    struct weir_buf added;
    weir_buf_init(&added);
    if (rc == 0)
        rc = sample_merge(s, decl, &added, err);
    weir_buf_free(&added);
    if (rc == 0)
        rc = apply_hints(s, decl, err);
    if (rc == 0 && decl->nfields == 0)
        rc =
            weir_error_set(err, WEIR_ESCHEMA,
                           "files source: cannot infer a schema: no readable records in the %" PRId64
                           " file(s) under %s; give source.files.schema or schema_hints, or start when files "
                           "have arrived",
                           files, s->cfg->path);
    if (rc == 0) {
        char reason[160];
        snprintf(reason, sizeof reason, "inferred from %" PRId64 " file(s), %" PRId64 " bytes", files, bytes);
        rc = schema_log_write(s, 0, decl, reason, err);
    }
    if (rc == 0) {
        WEIR_LOG(WEIR_LOG_INFO, s->base.pipeline, -1,
                 "files source: inferred %zu column(s) from %" PRId64 " file(s) under %s (schema version 0)",
                 decl->nfields, files, s->cfg->path);
        rc = install_schema(s, decl, err);
        decl = NULL;
    }
done:
    weir_type_destroy(decl);
    weir_object_list_free(&l);
    return rc;
}

/* After a read that met new columns: the next schema version. */
static int finish_evolve(struct files_source *s, struct weir_error *err)
{
    struct weir_type *decl = weir_type_clone(s->decl);
    struct weir_buf added;
    weir_buf_init(&added);
    s->mode = M_READ;
    int rc = decl ? sample_merge(s, decl, &added, err) : oom(err);
    if (rc == 0 && added.len == 0) {
        /* nothing a schema can add (a name only its case tells apart):
         * go on with the schema as it is, rescuing */
        WEIR_LOG(WEIR_LOG_WARN, s->base.pipeline, -1,
                 "files source: unknown column(s) at %s cannot be added to the schema; they are rescued",
                 s->evolve_where);
        s->evolution = EV_RESCUE;
        rc = weir_error_set(err, WEIR_EEVOLVED, "files source: rescuing unknown columns");
        goto done;
    }
    if (rc == 0) {
        char reason[1024];
        snprintf(reason, sizeof reason, "added %.*s (first seen in %s)",
                 (int)(added.len > 600 ? 600 : added.len), (const char *)added.data, s->evolve_where);
        rc = schema_log_write(s, s->schema_version + 1, decl, reason, err);
    }
    if (rc == 0) {
        rc = install_schema(s, decl, err);
        decl = NULL;
    }
    if (rc == 0)
        rc = weir_error_set(err, WEIR_EEVOLVED,
                            "files source: new column(s) %.*s (first seen in %s); schema version %d",
                            (int)(added.len > 600 ? 600 : added.len), (const char *)added.data,
                            s->evolve_where, s->schema_version);
done:
    weir_type_destroy(decl);
    weir_buf_free(&added);
    struct weir_error serr = {0};
    if (sample_reset(s, &serr))
        return oom(err);
    return rc;
}

static int fs_read(struct weir_source *base, const char *start, const char *end, weir_source_emit_cb cb,
                   void *ctx, struct weir_error *err)
{
    struct files_source *s = (struct files_source *)base;
    uint64_t from = 0, to = 0;
    int rc = parse_seq(start, &from, err);
    if (rc == 0)
        rc = parse_seq(end, &to, err);
    if (rc)
        return rc;
    s->files_read = s->files_missing = s->files_corrupt = s->rows.rescued = 0;
    s->mode = M_READ;
    weir_batch_clear(s->rows.out);
    size_t n = to > from ? (size_t)(to - from) : 0;
    struct fs_entry *files = weir_calloc(n ? n : 1, sizeof *files);
    struct prefetch *pf = NULL;
    if (!files)
        return oom(err);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = index_by_seq(s, from + i, &files[i], err);
    if (rc == 0 && n > 0 && s->cfg->format != FS_PARQUET)
        rc = pf_create(s->store, files, n, (int)s->cfg->read_parallelism, &pf, err);
    struct fs_pool *pool = NULL;
    if (rc == 0 && n > 0)
        rc = pool_create(s, &pool, err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = read_entry(s, &files[i], cb, ctx, pf, i, pool, err);
    }
    pool_destroy(pool);
    pf_destroy(pf);
    for (size_t i = 0; i < n; i++)
        weir_free(files[i].key);
    weir_free(files);
    if (rc == 0 && s->mode == M_EVOLVE)
        return finish_evolve(s, err);
    s->mode = M_READ;
    if (rc == 0)
        rc = emit(s, cb, ctx, err);
    return rc;
}

/* ------------------------------------------------------------ clean up */

static int fs_commit(struct weir_source *base, const char *end, struct weir_error *err)
{
    struct files_source *s = (struct files_source *)base;
    if (s->cfg->clean_source == CLEAN_OFF)
        return 0;
    uint64_t to = 0, from = 0;
    int rc = parse_seq(end, &to, err);
    if (rc)
        return rc;
    char *dberr = NULL;
    size_t vl = 0;
    char *v = rocksdb_get(s->db, s->ropts, "m:clean", 7, &vl, &dberr);
    if (dberr)
        return db_error(err, dberr, "read");
    if (v && vl == 8)
        from = get_be64((uint8_t *)v);
    rocksdb_free(v);
    uint64_t seq = from;
    for (; seq < to && rc == 0; seq++) {
        struct fs_entry e = {0};
        if ((rc = index_by_seq(s, seq, &e, err)))
            break;
        /* only the version that was read: not a file ingested again under a
         * newer number, nor one rewritten since it was listed */
        struct fs_entry now = {0};
        struct weir_object_info info = {0};
        bool found = false;
        if ((rc = index_lookup(s, e.key, &now, &found, err))) {
            weir_free(e.key);
            break;
        }
        bool same = found && now.seq == seq;
        if (same) {
            rc = weir_store_head(s->store, e.key, &info, err);
            /* seconds: a HEAD's Last-Modified has no milliseconds */
            same = rc == 0 && info.size == e.size && info.mtime_ms / 1000 == e.mtime_ms / 1000;
            weir_free(info.key);
            if (rc == WEIR_ENOTFOUND) {
                weir_error_clear(err);
                rc = 0;
            }
        }
        if (rc == 0 && !same) {
            weir_free(e.key);
            continue;
        }
        if (rc == 0 && s->cfg->clean_source == CLEAN_MOVE) {
            s->raw.len = 0;
            rc = weir_store_get(s->store, e.key, &s->raw, err);
            if (rc == 0)
                rc = weir_store_put(s->archive, e.key, s->raw.data, s->raw.len, err);
        }
        if (rc == 0)
            rc = weir_store_delete(s->store, e.key, err);
        if (rc == WEIR_ENOTFOUND) { /* gone already (or never read): nothing to clean */
            weir_error_clear(err);
            rc = 0;
        }
        if (rc == 0)
            s->files_cleaned++;
        else
            weir_error_prefix(err, "files source: clean_source %s: %s/%s (tried again after the next batch)",
                              s->cfg->clean_source == CLEAN_MOVE ? "move" : "delete",
                              weir_store_root(s->store), e.key);
        weir_free(e.key);
        if (rc)
            break;
    }
    if (seq > from) {
        uint8_t nx[8];
        be64(nx, seq);
        rocksdb_put(s->db, s->wsync, "m:clean", 7, (char *)nx, 8, &dberr);
        if (dberr && rc == 0)
            return db_error(err, dberr, "write");
        free(dberr);
    }
    return rc;
}

static int fs_metrics(struct weir_source *base, struct weir_buf *out)
{
    struct files_source *s = (struct files_source *)base;
    return weir_buf_printf(
        out,
        "\"numFilesRead\":%" PRId64 ",\"numFilesMissing\":%" PRId64 ",\"numFilesCorrupt\":%" PRId64
        ",\"numFilesChanged\":%" PRId64 ",\"numRowsRescued\":%" PRId64 ",\"numFilesDiscovered\":%" PRIu64
        ",\"numFilesCleaned\":%" PRId64 ",\"schemaVersion\":%d,\"numKeysListed\":%" PRId64
        ",\"numFullListings\":%" PRId64,
        s->files_read, s->files_missing, s->files_corrupt, s->files_changed, s->rows.rescued, s->next_seq,
        s->files_cleaned, s->schema_version, s->keys_listed, s->full_listings);
}

static void fs_destroy(struct weir_source *base)
{
    struct files_source *s = (struct files_source *)base;
    if (!s)
        return;
    if (s->db)
        rocksdb_close(s->db);
    weir_replica_close(s->rep);
    weir_free(s->index_dir);
    if (s->wsync)
        rocksdb_writeoptions_destroy(s->wsync);
    if (s->ropts)
        rocksdb_readoptions_destroy(s->ropts);
    weir_store_destroy(s->store);
    weir_store_destroy(s->archive);
    weir_json_decoder_destroy(s->rows.dec);
    weir_json_inferrer_destroy(s->inf);
    weir_csv_reader_destroy(s->csv);
    csv_header_clear(s);
    weir_free(s->csv_map);
    weir_free(s->csv_names);
    for (size_t i = 0; i < s->nccols; i++)
        weir_free(s->ccols[i].name);
    weir_free(s->ccols);
    weir_type_destroy(s->pq_fields);
    weir_batch_destroy(s->rows.out);
    weir_type_destroy(s->schema);
    weir_type_destroy(s->decl);
    weir_buf_free(&s->line_buf);
    weir_buf_free(&s->raw);
    weir_buf_free(&s->text);
    weir_buf_free(&s->rows.rescue);
    weir_buf_free(&s->rows.rjson);
    weir_free(s->glob);
    weir_free(s->max_key);
    weir_free(s->base.description);
    weir_free(s);
}

static const struct weir_source_ops files_ops = {
    .initial = fs_initial,
    .plan = fs_plan,
    .read = fs_read,
    .commit = fs_commit,
    .metrics = fs_metrics,
    .destroy = fs_destroy,
};

/* ------------------------------------------------------------ create */

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

int weir_source_files_create(const struct weir_config_pipeline *p, const struct weir_source_env *env,
                             struct weir_source **out, struct weir_error *err)
{
    const struct weir_config_files *c = &p->files;
    if (env == NULL || env->checkpoint == NULL || env->local_dir == NULL)
        return weir_error_set(err, WEIR_EINVAL, "files source: needs the pipeline's checkpoint");
    struct files_source *s = weir_calloc(1, sizeof *s);
    if (!s)
        return oom(err);
    s->base.ops = &files_ops;
    s->base.pipeline = p->name;
    s->cfg = c;
    s->checkpoint = p->checkpoint;
    s->ckpt = env->checkpoint;
    s->index_version = -1;
    s->evolution = resolved_evolution(c);
    s->base.evolves_schema = s->evolution == EV_ADD;
    s->with_metadata = mentions_metadata(p);
    weir_buf_init(&s->line_buf);
    weir_buf_init(&s->raw);
    weir_buf_init(&s->text);
    weir_buf_init(&s->rows.rescue);
    weir_buf_init(&s->rows.rjson);
    char *root = NULL;
    int rc = split_path(c->path, &root, &s->glob);
    if (rc) {
        rc = oom(err);
        goto fail;
    }
    struct weir_store_options so = {(const char *const *)c->storage_options, c->nstorage_options};
    if ((rc = weir_store_open_with(&s->store, root, &so, err)))
        goto fail;
    if (c->clean_source == CLEAN_MOVE &&
        (rc = weir_store_open_with(&s->archive, c->clean_source_move_destination, &so, err)))
        goto fail;
    if (c->format == FS_CSV) {
        weir_csv_options_default(&s->csvo);
        if (c->csv_delimiter)
            s->csvo.delimiter = c->csv_delimiter[0];
        if (c->csv_quote)
            s->csvo.quote = c->csv_quote[0];
        if (c->csv_escape)
            s->csvo.escape = c->csv_escape[0];
        s->csvo.null_value = c->csv_null_value;
        if ((rc = weir_csv_reader_create(&s->csv, &s->csvo, err)))
            goto fail;
        s->csvo.null_value = c->csv_null_value ? c->csv_null_value : "";
    }
    if ((rc = sample_reset(s, err)))
        goto fail;
    char desc[1024];
    snprintf(desc, sizeof desc, "FileStreamSource[%s]", c->path);
    if (!(s->base.description = weir_strdup(desc))) {
        rc = oom(err);
        goto fail;
    }
    if ((rc = index_open(s, env, err)))
        goto fail;
    struct weir_type *decl = NULL;
    rc = known_fields(p, s->ckpt, &decl, &s->schema_version, err);
    if (rc == 0) {
        rc = install_schema(s, decl, err);
    } else if (rc == WEIR_ENOTFOUND) {
        weir_error_clear(err);
        rc = infer_schema(s, err);
    }
    if (rc)
        goto fail;
    weir_free(root);
    *out = &s->base;
    return 0;
fail:
    weir_free(root);
    fs_destroy(&s->base);
    return rc;
}
