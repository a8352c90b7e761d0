/* delta/write.c - the streaming Delta writer (weir_delta_writer_begin / add /
 * commit / abort) and weir_delta_write, a thin wrapper over it.
 *
 * Owns: rows -> per-partition pending batches -> Parquet data files (Hive
 * directories, rolled at target_file_bytes) -> one commit (commitInfo,
 * protocol+metaData on create, metaData on merge_schema, txn, removes on
 * overwrite, adds with stats) -> checkpoint every delta.checkpointInterval.
 *
 * Memory: each partition group's pending rows are written out when the
 * group reaches target_file_bytes (in-memory size, checked every 1024 rows
 * of the group and after each add), and when the pending memory of all
 * groups passes max_pending_bytes the largest groups are written out until
 * it is back under 3/4 of it. A written group frees its batch. So memory is
 * bounded by about max_pending_bytes + target for any number of rows and
 * partitions; the adds (one per file) are the only thing that grows.
 *
 * Files handed off while w->tag is set carry it as add.tags "weir.group"
 * (merge.c's key -> file index); changing the tag hands off what is
 * pending first, so a file holds rows of one group. The rows kept from one
 * rewritten file are split at twice the target instead, so that memory is
 * bounded by about max(max_pending_bytes, 2 x target) + target there.
 *
 * Invariants: data files are committed to the store before the commit JSON;
 * every file written is remembered by its store key so abort (and a commit
 * that definitely did not land: conflict, already committed) can delete
 * it; a commit whose outcome is unknown (I/O error on the put) leaves the
 * files for VACUUM. Column order in data files follows the table schema
 * minus the partition columns. Schema reconciliation happens once, in
 * begin: every batch given to add has the schema given to begin.
 *
 * Crash points (core/util.h): "delta.data_file" after the Parquet bytes of
 * a data file were produced and before its upload is committed;
 * "delta.before_commit" right before the put-if-absent of the commit.
 *
 * Threads: the caller's, plus one file thread: a group's rows that are due
 * for a data file are handed to it (statistics, Parquet encoding, upload)
 * while the caller goes on adding rows, so encoding overlaps decoding. At
 * most one file is in flight; the next hand-off, commit and abort wait for
 * it. One writer per table handle at a time. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "delta/delta_int.h"
#include "delta/write_int.h"

#define MIN_PENDING_CAP (64ull << 20)
#define DEFAULT_TARGET  (128ull << 20)

void weir_delta_write_options_default(struct weir_delta_write_options *o)
{
    memset(o, 0, sizeof(*o));
    o->mode = WEIR_DELTA_APPEND;
    o->create_if_missing = true;
    o->txn_version = -1;
    o->codec = WEIR_PARQUET_SNAPPY;
    o->target_file_bytes = DEFAULT_TARGET;
    o->engine_info = WEIR_DELTA_ENGINE_INFO;
    o->max_retries = 100;
    o->checkpoint = true;
}

/* One data file being written by the file thread. The thread touches only
 * the job; the writer collects it (job_wait) on its own thread. */
struct file_job {
    struct weir_store *store;
    const struct weir_type *data_schema;
    enum weir_parquet_codec codec;
    size_t row_group_bytes;
    struct weir_batch *batch;       /* owned */
    struct weir_parquet_writer *pw; /* owned; NULL: the thread creates one */
    size_t group;                   /* index into w->groups, for its partition values */
    uint64_t tag;                   /* w->tag at hand-off */
    char *key;                      /* store key */
    char *stats;
    uint64_t size;
    bool uploaded; /* the upload committed: abort must delete key */
    int rc;
    struct weir_error err;
    pthread_t thread;
    bool threaded;
};

static const char *codec_ext(enum weir_parquet_codec c)
{
    switch (c) {
    case WEIR_PARQUET_SNAPPY:
        return ".snappy";
    case WEIR_PARQUET_ZSTD:
        return ".zstd";
    case WEIR_PARQUET_GZIP:
        return ".gz";
    default:
        return "";
    }
}

/* ------------------------------------------------------------ lifetime */

static int job_wait(struct weir_delta_writer *w, struct weir_error *err);

static void writer_free(struct weir_delta_writer *w, bool delete_files)
{
    if (!w)
        return;
    job_wait(w, NULL); /* its file joins w->written */
    for (size_t i = 0; i < w->nwritten; i++) {
        if (delete_files) {
            struct weir_error e = {0};
            if (weir_store_delete(w->t->store, w->written[i], &e) != 0 && e.code != WEIR_ENOTFOUND)
                WEIR_WARN("%s: could not delete abandoned data file %s (VACUUM will): %s", w->t->root,
                          w->written[i], e.message);
        }
        weir_free(w->written[i]);
    }
    weir_free(w->written);
    for (size_t i = 0; i < w->ngroups; i++) {
        weir_free(w->groups[i].pkey);
        dl_kv_free(w->groups[i].pv, w->groups[i].npv);
        weir_free(w->groups[i].dir);
        weir_batch_destroy(w->groups[i].batch);
    }
    weir_free(w->groups);
    weir_batch_destroy(w->spare);
    weir_parquet_writer_destroy(w->pw);
    weir_free(w->slots);
    weir_free(w->touched);
    for (size_t i = 0; i < w->npart; i++)
        weir_free(w->part_cols[i]);
    weir_free(w->part_cols);
    weir_free(w->colmap);
    weir_free(w->is_part);
    weir_type_destroy(w->in_schema);
    weir_type_destroy(w->table_schema);
    weir_type_destroy(w->data_schema);
    weir_free(w->app_id);
    weir_free(w->engine_info);
    weir_delta_actions_free(&w->acts);
    weir_buf_free(&w->pk);
    weir_batch_destroy(w->src);
    weir_free(w);
}

/* A new writer on table t with its clock at now_ms (<= 0: the clock), its
 * file target at target (0: the default) and the pending cap that target
 * implies; the caller fills the rest. NULL when out of memory. */
static struct weir_delta_writer *writer_new(struct weir_delta_table *t, int64_t now_ms, uint64_t target)
{
    struct weir_delta_writer *w = weir_calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->t = t;
    weir_delta_actions_init(&w->acts);
    weir_buf_init(&w->pk);
    w->now = now_ms > 0 ? now_ms : weir_now_ms();
    w->target = target ? target : DEFAULT_TARGET;
    w->max_pending = w->target > MIN_PENDING_CAP ? w->target : MIN_PENDING_CAP;
    return w;
}

void weir_delta_writer_abort(struct weir_delta_writer *w)
{
    writer_free(w, true);
}

void dl_writer_release(struct weir_delta_writer *w)
{
    writer_free(w, false);
}

/* ------------------------------------------------------------ data files */

/* The file thread: statistics, Parquet bytes, upload. */
static void *job_main(void *arg)
{
    struct file_job *j = arg;
    struct weir_store_upload *up = NULL;
    struct weir_parquet_writer_options po;
    uint64_t size = 0;
    int rc;
    if ((rc = dl_stats_json(j->batch, &j->stats, &j->err)) ||
        (rc = weir_store_upload_begin(j->store, j->key, &up, &j->err)))
        goto done;
    weir_parquet_writer_options_default(&po);
    po.codec = j->codec;
    po.row_group_bytes = j->row_group_bytes;
    if (j->pw)
        rc = weir_parquet_writer_restart(j->pw, weir_store_upload_output(up), &j->err);
    else
        rc = weir_parquet_writer_create(&j->pw, j->data_schema, &po, weir_store_upload_output(up), &j->err);
    if (rc || (rc = weir_parquet_writer_write(j->pw, j->batch, &j->err)) ||
        (rc = weir_parquet_writer_close(j->pw, &size, &j->err))) {
        weir_error_prefix(&j->err, "writing data file %s", j->key);
        goto done;
    }
    WEIR_CRASH_POINT("delta.data_file");
    rc = weir_store_upload_commit(up, &size, &j->err);
    up = NULL;
    if (rc == 0) {
        j->uploaded = true;
        j->size = size;
    }
done:
    weir_store_upload_abort(up);
    j->rc = rc;
    return NULL;
}

/* Wait for the file in flight and record its add (or return its error).
 * err may be NULL (abort: only the cleanup matters). */
static int job_wait(struct weir_delta_writer *w, struct weir_error *err)
{
    struct file_job *j = w->job;
    struct weir_buf path;
    int rc;
    if (!j)
        return 0;
    w->job = NULL;
    if (j->threaded)
        pthread_join(j->thread, NULL);
    weir_buf_init(&path);
    rc = j->rc;
    if (j->uploaded) {
        /* deleted by abort from now on (the slot was reserved at hand-off) */
        w->written[w->nwritten++] = j->key;
        j->key = NULL;
    }
    if (rc) {
        if (err)
            *err = j->err;
        goto done;
    }
    if ((rc = dl_uri_encode(&path, w->written[w->nwritten - 1])) || (rc = weir_buf_append_byte(&path, 0))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    struct group *g = &w->groups[j->group];
    char tagv[17];
    struct weir_delta_kv tag = {.key = (char *)GROUP_TAG, .value = tagv};
    snprintf(tagv, sizeof tagv, "%016llx", (unsigned long long)j->tag);
    struct weir_delta_add add = {
        .path = (char *)path.data,
        .partition_values = g->pv,
        .n_partition_values = g->npv,
        .size = (int64_t)j->size,
        .modification_time = w->now,
        .data_change = w->data_change,
        .stats = j->stats,
        .tags = j->tag ? &tag : NULL,
        .n_tags = j->tag ? 1 : 0,
    };
    if ((rc = weir_delta_actions_add_add(&w->acts, &add))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    w->rows += (int64_t)j->batch->nrows;
    w->bytes += (int64_t)j->size;
done:
    weir_buf_free(&path);
    if (!w->spare) {
        weir_batch_clear(j->batch);
        w->spare = j->batch;
    } else {
        weir_batch_destroy(j->batch);
    }
    if (!w->pw) {
        w->pw = j->pw;
        j->pw = NULL;
    }
    weir_parquet_writer_destroy(j->pw);
    weir_free(j->stats);
    weir_free(j->key);
    weir_free(j);
    return rc;
}

/* Hand g's rows to the file thread (after the previous file is done). */
static int flush_group(struct weir_delta_writer *w, struct group *g, struct weir_error *err)
{
    char uuid[37], name[128];
    int rc;
    if (!g->batch || g->batch->nrows == 0)
        return 0;
    if ((rc = job_wait(w, err)))
        return rc;
    struct file_job *j = weir_calloc(1, sizeof(*j));
    weir_uuid4(uuid);
    snprintf(name, sizeof(name), "part-%05d-%s-c000%s.parquet", w->file_seq++, uuid, codec_ext(w->codec));
    if (!j || !(j->key = weir_asprintf("%s%s", g->dir, name)) ||
        !dl_grow((void **)&w->written, &w->nwritten, &w->cap_written, sizeof(char *))) {
        if (j)
            weir_free(j->key);
        weir_free(j);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    w->nwritten--; /* reserved: job_wait fills it */
    j->store = w->t->store;
    j->data_schema = w->data_schema;
    j->codec = w->codec;
    j->row_group_bytes = (size_t)w->opts.row_group_bytes;
    j->batch = g->batch;
    j->pw = w->pw; /* data_schema is fixed for the writer's life */
    w->pw = NULL;
    j->group = (size_t)(g - w->groups);
    j->tag = w->tag;
    g->batch = NULL;
    w->pending -= g->mem;
    g->mem = 0;
    w->job = j;
    if (pthread_create(&j->thread, NULL, job_main, j) == 0)
        j->threaded = true;
    else
        job_main(j); /* no thread to be had: write it here */
    return 0;
}

/* Re-measure g; write it out at the target size; under memory pressure
 * write out the largest groups. Rows kept whole (dl_writer_set_tag) get
 * twice the room, so a file written at the target is rewritten as one. */
static int account(struct weir_delta_writer *w, struct group *g, struct weir_error *err)
{
    int rc;
    size_t m = weir_batch_used_bytes(g->batch);
    uint64_t target = w->whole ? 2 * w->target : w->target;
    uint64_t cap = w->whole && w->max_pending < target ? target : w->max_pending;
    w->pending = w->pending - g->mem + m;
    g->mem = m;
    if (g->batch && m >= target && (rc = flush_group(w, g, err)))
        return rc;
    if (w->pending <= cap)
        return 0;
    while (w->pending > cap / 4 * 3) {
        struct group *big = NULL;
        for (size_t i = 0; i < w->ngroups; i++)
            if (w->groups[i].batch && w->groups[i].batch->nrows && (!big || w->groups[i].mem > big->mem))
                big = &w->groups[i];
        if (!big)
            break;
        WEIR_DEBUG("%s: pending rows use %zu bytes, writing out the largest partition (%zu bytes)",
                   w->t->root, w->pending, big->mem);
        if ((rc = flush_group(w, big, err)))
            return rc;
    }
    return 0;
}

static int flush_groups(struct weir_delta_writer *w, struct weir_error *err)
{
    for (size_t i = 0; i < w->ngroups; i++) {
        int rc = flush_group(w, &w->groups[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

int dl_writer_flush(struct weir_delta_writer *w, struct weir_error *err)
{
    int rc = flush_groups(w, err);
    return rc ? rc : job_wait(w, err);
}

int dl_writer_set_tag(struct weir_delta_writer *w, uint64_t tag, bool whole, struct weir_error *err)
{
    int rc = tag == w->tag && whole == w->whole ? 0 : flush_groups(w, err);
    if (rc == 0) {
        w->tag = tag;
        w->whole = whole;
    }
    return rc;
}

uint64_t dl_add_group(const struct weir_delta_add *a)
{
    for (size_t i = 0; i < a->n_tags; i++)
        if (a->tags[i].key && a->tags[i].value && strcmp(a->tags[i].key, GROUP_TAG) == 0) {
            const char *v = a->tags[i].value;
            uint64_t g = 0;
            for (int k = 0; k < 16; k++) {
                int d = weir_json_hexval((unsigned char)v[k]);
                if (d < 0)
                    return 0;
                g = g << 4 | (uint64_t)d;
            }
            return v[16] == '\0' ? g : 0;
        }
    return 0;
}

/* ------------------------------------------------------------ groups */

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int index_rebuild(struct weir_delta_writer *w, size_t nslots)
{
    size_t *sl = weir_calloc(nslots, sizeof(size_t));
    if (!sl)
        return WEIR_ENOMEM;
    for (size_t i = 0; i < w->ngroups; i++) {
        size_t h = (size_t)(hash_key(w->groups[i].pkey) & (nslots - 1));
        while (sl[h])
            h = (h + 1) & (nslots - 1);
        sl[h] = i + 1;
    }
    weir_free(w->slots);
    w->slots = sl;
    w->nslots = nslots;
    return 0;
}

static struct group *find_group(struct weir_delta_writer *w, const char *pkey)
{
    if (!w->nslots)
        return NULL;
    size_t h = (size_t)(hash_key(pkey) & (w->nslots - 1));
    while (w->slots[h]) {
        struct group *g = &w->groups[w->slots[h] - 1];
        if (strcmp(g->pkey, pkey) == 0)
            return g;
        h = (h + 1) & (w->nslots - 1);
    }
    return NULL;
}

/* Appends the partition key of `values` (one per partition column, NULL =
 * null) to w->pk, NUL-terminated. */
static int pk_build(struct weir_delta_writer *w, char *const *values)
{
    int rc = 0;
    w->pk.len = 0;
    for (size_t i = 0; i < w->npart && rc == 0; i++) {
        rc = values[i] ? weir_buf_printf(&w->pk, "\x01%s", values[i]) : weir_buf_append_byte(&w->pk, 0x02);
        if (rc == 0)
            rc = weir_buf_append_byte(&w->pk, 0x03);
    }
    if (rc == 0)
        rc = weir_buf_append_byte(&w->pk, 0);
    return rc ? WEIR_ENOMEM : 0;
}

/* The group for w->pk (built from `values`), created when new. */
static int get_group(struct weir_delta_writer *w, char *const *values, struct group **out,
                     struct weir_error *err)
{
    struct weir_buf dir;
    int rc = 0;
    struct group *g = find_group(w, (const char *)w->pk.data);
    if (g) {
        *out = g;
        return 0;
    }
    weir_buf_init(&dir);
    g = dl_grow((void **)&w->groups, &w->ngroups, &w->cap_groups, sizeof(*g));
    if (!g || !(g->pkey = weir_strdup((const char *)w->pk.data)) ||
        (w->npart && !(g->pv = weir_calloc(w->npart, sizeof(*g->pv))))) {
        rc = WEIR_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < w->npart && rc == 0; i++) {
        struct weir_delta_kv *kv = &g->pv[g->npv++];
        kv->key = weir_strdup(w->part_cols[i]);
        kv->value = values[i] ? weir_strdup(values[i]) : NULL;
        rc = kv->key && (!values[i] || kv->value) ? 0 : WEIR_ENOMEM;
        if (rc == 0)
            rc = dl_hive_escape(&dir, w->part_cols[i]);
        if (rc == 0)
            rc = weir_buf_append_byte(&dir, '=');
        if (rc == 0)
            rc = values[i] ? dl_hive_escape(&dir, values[i])
                           : weir_buf_append_str(&dir, "__HIVE_DEFAULT_PARTITION__");
        if (rc == 0)
            rc = weir_buf_append_byte(&dir, '/');
    }
    if (rc == 0)
        rc = weir_buf_append_byte(&dir, 0);
    if (rc)
        goto done;
    g->dir = (char *)dir.data;
    weir_buf_init(&dir);
    if (w->ngroups * 2 > w->nslots) {
        /* grow: the rebuild indexes every group, the new one included */
        if ((rc = index_rebuild(w, w->nslots ? w->nslots * 2 : 64)))
            goto done;
    } else {
        size_t h = (size_t)(hash_key(g->pkey) & (w->nslots - 1));
        while (w->slots[h])
            h = (h + 1) & (w->nslots - 1);
        w->slots[h] = w->ngroups;
    }
    *out = g;
done:
    weir_buf_free(&dir);
    if (rc)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    return 0;
}

/* Makes sure g has a batch and is in the touched list. */
static int group_ready(struct weir_delta_writer *w, struct group *g)
{
    if (!g->batch && w->spare) {
        g->batch = w->spare;
        w->spare = NULL;
    }
    if (!g->batch && !(g->batch = weir_batch_create(w->data_schema)))
        return WEIR_ENOMEM;
    if (!g->touched) {
        size_t *slot = dl_grow((void **)&w->touched, &w->ntouched, &w->cap_touched, sizeof(size_t));
        if (!slot)
            return WEIR_ENOMEM;
        *slot = (size_t)(g - w->groups);
        g->touched = true;
    }
    return 0;
}

/* Accounts the groups touched by the current add. */
static int account_touched(struct weir_delta_writer *w, struct weir_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < w->ntouched; i++) {
        struct group *g = &w->groups[w->touched[i]];
        g->touched = false;
        if (rc == 0 && g->batch)
            rc = account(w, g, err);
    }
    w->ntouched = 0;
    return rc;
}

/* After a failed add: the groups it touched are no longer marked. */
static void touched_reset(struct weir_delta_writer *w)
{
    for (size_t i = 0; i < w->ntouched; i++)
        w->groups[w->touched[i]].touched = false;
    w->ntouched = 0;
}

/* ------------------------------------------------------------ schemas */

static int type_text(struct weir_buf *b, const struct weir_type *t);

/* A nested type's text, marked NOT NULL unless it may hold nulls. */
static int child_text(struct weir_buf *b, const struct weir_type *t, bool nullable)
{
    int rc = type_text(b, t);
    if (rc == 0 && !nullable)
        rc = weir_buf_append_str(b, " NOT NULL");
    return rc;
}

/* DDL-like display with nested NOT NULL markers (for error messages). */
static int type_text(struct weir_buf *b, const struct weir_type *t)
{
    int rc = 0;
    switch (t->kind) {
    case WEIR_TYPE_STRUCT:
        rc = weir_buf_append_str(b, "struct<");
        for (size_t i = 0; i < t->nfields && rc == 0; i++) {
            rc = weir_buf_printf(b, "%s%s: ", i ? ", " : "", t->fields[i].name);
            if (rc == 0)
                rc = child_text(b, t->fields[i].type, t->fields[i].nullable);
        }
        return rc ? rc : weir_buf_append_byte(b, '>');
    case WEIR_TYPE_ARRAY:
        rc = weir_buf_append_str(b, "array<");
        if (rc == 0)
            rc = child_text(b, t->element, t->contains_null);
        return rc ? rc : weir_buf_append_byte(b, '>');
    case WEIR_TYPE_MAP:
        rc = weir_buf_append_str(b, "map<");
        if (rc == 0)
            rc = type_text(b, t->key);
        if (rc == 0)
            rc = weir_buf_append_str(b, ", ");
        if (rc == 0)
            rc = child_text(b, t->value, t->value_contains_null);
        return rc ? rc : weir_buf_append_byte(b, '>');
    default: {
        char *s = weir_type_to_display(t);
        rc = s ? weir_buf_append_str(b, s) : WEIR_ENOMEM;
        weir_free(s);
        return rc;
    }
    }
}

/* Malloc'd type_text of t, plus " NOT NULL" when !nullable. */
static char *type_str(const struct weir_type *t, bool nullable)
{
    struct weir_buf b;
    weir_buf_init(&b);
    if (type_text(&b, t) || (!nullable && weir_buf_append_str(&b, " NOT NULL")) ||
        weir_buf_append_byte(&b, 0)) {
        weir_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

enum { COMPAT_OK = 0, COMPAT_TYPE = 1, COMPAT_NULLS = 2 };

/* Can values of batch type `b` be written into table type `t`? Kinds,
 * decimal precision/scale and nested field names must match; a nested
 * field, element or map value the table declares NOT NULL must be NOT
 * NULL in the batch too (the table's nullability is never changed). */
static int type_compat(const struct weir_type *t, const struct weir_type *b)
{
    int r;
    if (t->kind != b->kind)
        return COMPAT_TYPE;
    switch (t->kind) {
    case WEIR_TYPE_DECIMAL:
        return t->precision == b->precision && t->scale == b->scale ? COMPAT_OK : COMPAT_TYPE;
    case WEIR_TYPE_STRUCT:
        if (t->nfields != b->nfields)
            return COMPAT_TYPE;
        for (size_t i = 0; i < t->nfields; i++) {
            if (strcmp(t->fields[i].name, b->fields[i].name) != 0)
                return COMPAT_TYPE;
            if ((r = type_compat(t->fields[i].type, b->fields[i].type)))
                return r;
        }
        for (size_t i = 0; i < t->nfields; i++)
            if (!t->fields[i].nullable && b->fields[i].nullable)
                return COMPAT_NULLS;
        return COMPAT_OK;
    case WEIR_TYPE_ARRAY:
        if ((r = type_compat(t->element, b->element)))
            return r;
        return !t->contains_null && b->contains_null ? COMPAT_NULLS : COMPAT_OK;
    case WEIR_TYPE_MAP:
        if ((r = type_compat(t->key, b->key)) || (r = type_compat(t->value, b->value)))
            return r;
        return !t->value_contains_null && b->value_contains_null ? COMPAT_NULLS : COMPAT_OK;
    default:
        return COMPAT_OK;
    }
}

/* Checks `in` against the table schema `ts`; *merged gets the table schema
 * after the write (ts plus new nullable columns at the end, when
 * merge_schema), *added whether it differs from ts. */
static int reconcile(const char *root, const struct weir_type *ts, const struct weir_type *in, bool merge,
                     struct weir_type **merged, bool *added, struct weir_error *err)
{
    struct weir_buf names;
    char *a = NULL, *b = NULL;
    struct weir_type *m = weir_type_clone(ts);
    size_t n = 0;
    int rc = 0;
    *merged = NULL;
    *added = false;
    weir_buf_init(&names);
    if (!m) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ts->nfields; i++) {
        const struct weir_field *tf = &ts->fields[i];
        int j = weir_type_field_index(in, tf->name);
        if (j < 0) {
            if (!tf->nullable && (weir_buf_printf(&names, "%s'%s'", n++ ? ", " : "", tf->name))) {
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                goto done;
            }
            continue;
        }
        const struct weir_field *bf = &in->fields[j];
        int c = type_compat(tf->type, bf->type);
        if (c == COMPAT_OK)
            continue;
        a = type_str(tf->type, tf->nullable);
        b = type_str(bf->type, bf->nullable);
        if (c == COMPAT_TYPE)
            rc = weir_error_set(err, WEIR_ESCHEMA,
                                "%s: column '%s' is %s in the table but %s in the batch; changing a column's "
                                "type is not supported",
                                root, tf->name, a ? a : "?", b ? b : "?");
        else
            rc = weir_error_set(err, WEIR_ESCHEMA,
                                "%s: column '%s' is %s in the table but %s in the batch; nested fields the "
                                "table declares NOT NULL must stay NOT NULL (nullability changes are not "
                                "supported)",
                                root, tf->name, a ? a : "?", b ? b : "?");
        goto done;
    }
    if (n) {
        rc = weir_error_set(err, WEIR_ESCHEMA,
                            "%s: NOT NULL table column%s %.*s missing from the batch schema (only nullable "
                            "columns may be missing; they are written as nulls)",
                            root, n > 1 ? "s" : "", (int)names.len, (const char *)names.data);
        goto done;
    }
    for (size_t j = 0; j < in->nfields; j++) {
        const struct weir_field *bf = &in->fields[j];
        if (weir_type_field_index(ts, bf->name) >= 0)
            continue;
        if (!merge) {
            b = type_str(bf->type, bf->nullable);
            rc = weir_error_set(err, WEIR_ESCHEMA,
                                "%s: column '%s' (%s) is not in the table schema; set "
                                "sink.delta.merge_schema to true to add new columns",
                                root, bf->name, b ? b : "?");
            goto done;
        }
        if (!bf->nullable) {
            b = type_str(bf->type, bf->nullable);
            rc = weir_error_set(err, WEIR_ESCHEMA,
                                "%s: new column '%s' is %s; only nullable columns can be added to an "
                                "existing table (existing rows would have no value)",
                                root, bf->name, b ? b : "?");
            goto done;
        }
        struct weir_type *ft = weir_type_clone(bf->type);
        if (!ft || weir_type_struct_add(m, bf->name, ft, true, bf->metadata)) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto done;
        }
        *added = true;
    }
    *merged = m;
    m = NULL;
done:
    weir_type_destroy(m);
    weir_free(a);
    weir_free(b);
    weir_buf_free(&names);
    return rc;
}

static bool schema_has_ntz(const struct weir_type *t)
{
    if (!t)
        return false;
    if (t->kind == WEIR_TYPE_TIMESTAMP_NTZ)
        return true;
    for (size_t i = 0; i < t->nfields; i++)
        if (schema_has_ntz(t->fields[i].type))
            return true;
    return schema_has_ntz(t->element) || schema_has_ntz(t->key) || schema_has_ntz(t->value);
}

/* protocol + metaData actions creating the table with `schema`. */
static int build_create(struct weir_delta_writer *w, const struct weir_delta_write_options *o,
                        const struct weir_type *schema, struct weir_error *err)
{
    struct weir_delta_protocol *p = weir_calloc(1, sizeof(*p));
    struct weir_delta_metadata *m = weir_calloc(1, sizeof(*m));
    char uuid[37];
    w->acts.protocol = p;
    w->acts.metadata = m;
    if (!p || !m)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    if (schema_has_ntz(schema)) {
        p->min_reader_version = 3;
        p->min_writer_version = 7;
        p->reader_features = weir_calloc(1, sizeof(char *));
        p->writer_features = weir_calloc(1, sizeof(char *));
        if (!p->reader_features || !p->writer_features ||
            !(p->reader_features[0] = weir_strdup("timestampNtz")) ||
            !(p->writer_features[0] = weir_strdup("timestampNtz")))
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        p->n_reader_features = p->n_writer_features = 1;
        p->has_reader_features = p->has_writer_features = true;
    } else {
        p->min_reader_version = 1;
        p->min_writer_version = 2;
    }
    weir_uuid4(uuid);
    m->id = weir_strdup(uuid);
    m->format_provider = weir_strdup("parquet");
    m->schema_string = weir_schema_to_json(schema);
    m->schema = weir_type_clone(schema);
    m->name = o->table_name ? weir_strdup(o->table_name) : NULL;
    m->description = o->description ? weir_strdup(o->description) : NULL;
    m->created_time = w->now;
    m->has_created_time = true;
    if (!m->id || !m->format_provider || !m->schema_string || !m->schema || (o->table_name && !m->name) ||
        (o->description && !m->description))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    if (o->n_partition_by) {
        m->partition_columns = weir_calloc(o->n_partition_by, sizeof(char *));
        if (!m->partition_columns)
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        for (size_t i = 0; i < o->n_partition_by; i++) {
            int fi = weir_type_field_index(schema, o->partition_by[i]);
            if (fi < 0)
                return weir_error_set(err, WEIR_ESCHEMA, "partition column '%s' is not in the schema",
                                      o->partition_by[i]);
            if (!weir_type_is_primitive(schema->fields[fi].type))
                return weir_error_set(err, WEIR_ESCHEMA, "partition column '%s' must have a primitive type",
                                      o->partition_by[i]);
            if (!(m->partition_columns[i] = weir_strdup(schema->fields[fi].name)))
                return weir_error_set(err, WEIR_ENOMEM, "out of memory");
            m->n_partition_columns++;
        }
        if (m->n_partition_columns == schema->nfields)
            return weir_error_set(err, WEIR_ESCHEMA,
                                  "every column is a partition column; at least one data "
                                  "column is needed");
    }
    if (dl_kv_copy(&m->configuration, o->configuration, o->n_configuration))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    m->n_configuration = o->n_configuration;
    return 0;
}

/* part_cols, is_part, data_schema and the checkpoint interval from the
 * metadata the commit is based on (md) and w->table_schema. */
static int layout_init(struct weir_delta_writer *w, const struct weir_delta_metadata *md,
                       struct weir_error *err)
{
    const struct weir_type *ts = w->table_schema;
    w->ckpt_interval = 10;
    const char *ci = weir_delta_metadata_config(md, "delta.checkpointInterval");
    if (ci && atoll(ci) > 0)
        w->ckpt_interval = atoll(ci);
    if (md->n_partition_columns && !(w->part_cols = weir_calloc(md->n_partition_columns, sizeof(char *))))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (size_t k = 0; k < md->n_partition_columns; k++) {
        if (!(w->part_cols[k] = weir_strdup(md->partition_columns[k])))
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        w->npart++;
    }
    w->is_part = weir_calloc(ts->nfields + 1, sizeof(int));
    w->colmap = weir_calloc(ts->nfields + 1, sizeof(int));
    w->data_schema = weir_type_struct();
    if (!w->is_part || !w->colmap || !w->data_schema)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (size_t i = 0; i < ts->nfields; i++) {
        for (size_t k = 0; k < w->npart; k++)
            if (strcasecmp(w->part_cols[k], ts->fields[i].name) == 0)
                w->is_part[i] = 1;
        w->colmap[i] = w->in_schema ? weir_type_field_index(w->in_schema, ts->fields[i].name) : -1;
        if (!w->is_part[i]) {
            struct weir_type *ft = weir_type_clone(ts->fields[i].type);
            if (!ft || weir_type_struct_add(w->data_schema, ts->fields[i].name, ft, ts->fields[i].nullable,
                                            ts->fields[i].metadata))
                return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        }
    }
    /* the partition columns in the table schema's spelling and order of
     * metaData.partitionColumns, as pk_build expects */
    return 0;
}

/* Lays out w's files for the metadata md (layout_init) and hands w to
 * *out; on failure w is freed. Either way the caller no longer owns w. */
static int writer_ready(struct weir_delta_writer *w, const struct weir_delta_metadata *md,
                        struct weir_delta_writer **out, struct weir_error *err)
{
    int rc = layout_init(w, md, err);
    if (rc) {
        writer_free(w, false); /* nothing written yet */
        return rc;
    }
    *out = w;
    return 0;
}

/* ------------------------------------------------------------ begin */

/* The latest snapshot through the handle's cache; *snap NULL when the
 * table does not exist yet. */
static int latest_snapshot(struct weir_delta_table *t, struct weir_delta_snapshot **snap,
                           struct weir_error *err)
{
    struct weir_error lerr = {0};
    int rc = 0;
    *snap = NULL;
    if (t->write_cache && dl_snapshot_advance(t, t->write_cache, &lerr) != 0) {
        weir_delta_snapshot_destroy(t->write_cache);
        t->write_cache = NULL;
        weir_error_clear(&lerr);
    }
    if (t->write_cache) {
        *snap = t->write_cache;
        return 0;
    }
    /* A listing without commits means a new table, unless a concurrent
     * writer created it between the load and the second listing: load again. */
    for (int attempt = 0; attempt < 3; attempt++) {
        if ((rc = weir_delta_snapshot_load(t, -1, snap, &lerr)) == 0) {
            t->write_cache = *snap; /* owned by the handle from now on */
            return 0;
        }
        if (rc != WEIR_ENOTFOUND)
            break;
        int64_t lv;
        struct weir_error e2 = {0};
        if (weir_delta_table_latest_version(t, &lv, &e2) != 0)
            return 0; /* no commit at all: a new table */
        weir_error_clear(&lerr);
    }
    if (err)
        *err = lerr;
    return rc;
}

int weir_delta_writer_begin(struct weir_delta_table *t, const struct weir_type *schema,
                            const struct weir_delta_write_options *opts, struct weir_delta_writer **out,
                            struct weir_delta_write_result *res, struct weir_error *err)
{
    struct weir_delta_write_options defo;
    struct weir_delta_write_result dres;
    struct weir_delta_snapshot *snap = NULL;
    struct weir_delta_writer *w = NULL;
    int rc = 0;
    *out = NULL;
    if (!opts) {
        weir_delta_write_options_default(&defo);
        opts = &defo;
    }
    if (!res)
        res = &dres;
    memset(res, 0, sizeof(*res));
    res->version = -1;
    if (!schema || schema->kind != WEIR_TYPE_STRUCT)
        return weir_error_set(err, WEIR_EINVAL, "%s: the batch schema must be a struct", t->root);
    if (!(w = writer_new(t, opts->now_ms, opts->target_file_bytes))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    w->mode = opts->mode;
    w->codec = opts->codec;
    w->data_change = true;
    w->checkpoint = opts->checkpoint;
    w->max_retries = opts->max_retries;
    w->txn_version = opts->txn_version;
    if (opts->max_pending_bytes)
        w->max_pending = opts->max_pending_bytes;
    if ((opts->txn_app_id && opts->txn_version >= 0 && !(w->app_id = weir_strdup(opts->txn_app_id))) ||
        !(w->engine_info = weir_strdup(opts->engine_info ? opts->engine_info : WEIR_DELTA_ENGINE_INFO)) ||
        !(w->in_schema = weir_type_clone(schema))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = latest_snapshot(t, &snap, err)))
        goto done;
    if (!snap && !opts->create_if_missing) {
        rc = weir_error_set(err, WEIR_ENOTFOUND, "%s is not a Delta table and create_if_missing is off",
                            t->root);
        goto done;
    }
    const struct weir_delta_metadata *md;
    if (snap) {
        if ((rc = weir_delta_snapshot_check_write(snap, err)))
            goto done;
        w->read_version = res->version = weir_delta_snapshot_version(snap);
        if (w->app_id && weir_delta_snapshot_txn_version(snap, w->app_id) >= w->txn_version) {
            res->already_committed = true;
            goto done; /* rc 0, *out NULL */
        }
        md = weir_delta_snapshot_metadata(snap);
        const char *ao = weir_delta_metadata_config(md, "delta.appendOnly");
        if (opts->mode != WEIR_DELTA_APPEND && ao && strcasecmp(ao, "true") == 0) {
            rc = weir_error_set(err, WEIR_EUNSUPPORTED,
                                "%s is append-only (delta.appendOnly=true); %s refused", t->root,
                                opts->mode == WEIR_DELTA_MERGE ? "merge" : "overwrite");
            goto done;
        }
        bool added = false;
        if ((rc = reconcile(t->root, md->schema, schema, opts->merge_schema, &w->table_schema, &added, err)))
            goto done;
        if (added) {
            struct weir_delta_metadata *nm = dl_metadata_clone(md);
            if (nm) {
                weir_type_destroy(nm->schema);
                weir_free(nm->schema_string);
                nm->schema = weir_type_clone(w->table_schema);
                nm->schema_string = weir_schema_to_json(w->table_schema);
            }
            w->acts.metadata = nm;
            if (!nm || !nm->schema || !nm->schema_string) {
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                goto done;
            }
        }
        /* overwrite: remove every live file */
        for (size_t i = 0; opts->mode == WEIR_DELTA_OVERWRITE && i < weir_delta_snapshot_num_files(snap);
             i++) {
            const struct weir_delta_add *a = weir_delta_snapshot_file(snap, i);
            if (dl_actions_remove_file(&w->acts, a, w->now, true)) {
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                goto done;
            }
        }
    } else {
        w->read_version = -1;
        if ((rc = build_create(w, opts, schema, err)))
            goto done;
        md = w->acts.metadata;
        if (!(w->table_schema = weir_type_clone(schema))) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto done;
        }
    }
    w->opts = *opts;
    if ((rc = layout_init(w, md, err)) || (opts->mode == WEIR_DELTA_MERGE && (rc = dl_merge_check(w, err))))
        goto done;
    *out = w;
    return 0;
done:
    writer_free(w, false); /* nothing written yet */
    return rc;
}

/* ------------------------------------------------------------ add */

/* Append rows [start, start+n) of b to group g and account its memory. */
static int copy_run(struct weir_delta_writer *w, struct group *g, const struct weir_batch *b, size_t start,
                    size_t n, struct weir_error *err)
{
    const struct weir_type *ts = w->table_schema;
    int rc;
    if ((rc = group_ready(w, g)))
        return weir_error_set(err, rc, "out of memory");
    size_t dc = 0;
    for (size_t i = 0; i < ts->nfields; i++) {
        if (w->is_part[i])
            continue;
        struct weir_column *dst = &g->batch->columns[dc++];
        if (w->colmap[i] >= 0)
            rc = weir_column_append_range(dst, &b->columns[w->colmap[i]], start, n);
        else
            for (size_t k = 0; k < n && rc == 0; k++)
                rc = weir_column_append_null(dst);
        if (rc)
            return weir_error_set(err, rc, "%s: copying column '%s' of rows %zu..%zu", w->t->root,
                                  ts->fields[i].name, start, start + n - 1);
    }
    if ((rc = weir_batch_finish_rows(g->batch)))
        return weir_error_set(err, rc, "internal: data batch columns out of step");
    return account(w, g, err);
}

int weir_delta_writer_add(struct weir_delta_writer *w, const struct weir_batch *b, struct weir_error *err)
{
    if (!w || !b)
        return weir_error_set(err, WEIR_EINVAL, "weir_delta_writer_add: no writer or no batch");
    if (w->mode != WEIR_DELTA_MERGE)
        return dl_writer_append(w, b, err);
    int rc = 0;
    if (!weir_type_equal(b->schema, w->in_schema))
        return dl_writer_append(w, b, err); /* its schema error */
    if (!w->src && !(w->src = weir_batch_create(w->in_schema)))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    for (size_t c = 0; c < b->ncolumns && rc == 0; c++)
        rc = weir_column_append_range(&w->src->columns[c], &b->columns[c], 0, b->nrows);
    if (rc == 0 && (rc = weir_batch_finish_rows(w->src)) == 0)
        return 0;
    /* columns out of step now: the writer must be aborted, as after any failed add */
    return weir_error_set(err, WEIR_ENOMEM, "%s: out of memory holding the rows to merge", w->t->root);
}

int dl_writer_append(struct weir_delta_writer *w, const struct weir_batch *b, struct weir_error *err)
{
    char **vals = NULL;
    int rc = 0;
    const struct weir_type *ts = w->table_schema;
    if (!w->in_schema || !weir_type_equal(b->schema, w->in_schema)) {
        char *x = type_str(b->schema, true), *y = w->in_schema ? type_str(w->in_schema, true) : NULL;
        rc = weir_error_set(err, WEIR_ESCHEMA,
                            "%s: batch schema %s differs from the schema %s the write began with", w->t->root,
                            x ? x : "?", y ? y : "?");
        weir_free(x);
        weir_free(y);
        return rc;
    }
    for (size_t i = 0; i < ts->nfields; i++)
        if (w->colmap[i] >= 0 && !ts->fields[i].nullable && b->columns[w->colmap[i]].null_count > 0)
            return weir_error_set(err, WEIR_ESCHEMA,
                                  "%s: column '%s' is NOT NULL but the batch has %zu nulls in it", w->t->root,
                                  ts->fields[i].name, b->columns[w->colmap[i]].null_count);
    if (b->nrows == 0)
        return 0;
    if (w->npart && !(vals = weir_calloc(w->npart, sizeof(char *)))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    /* rows go to their partition's group in runs of consecutive rows with
     * the same partition values, copied column by column in bulk */
    /* by index: get_group may move the group array */
    size_t gi = SIZE_MAX, run = 0;
    for (size_t r = 0; r <= b->nrows; r++) {
        size_t ri = gi;
        if (r < b->nrows && (gi == SIZE_MAX || w->npart)) {
            for (size_t k = 0, i = 0; i < ts->nfields; i++) {
                if (!w->is_part[i])
                    continue;
                weir_free(vals[k]);
                vals[k] = NULL;
                if (w->colmap[i] >= 0 &&
                    (rc = weir_delta_partition_value_format(&b->columns[w->colmap[i]], r, &vals[k], err)))
                    goto done;
                k++;
            }
            struct group *rg = NULL;
            if ((rc = pk_build(w, vals)) || (rc = get_group(w, vals, &rg, err))) {
                rc = weir_error_set(err, rc, "out of memory");
                goto done;
            }
            ri = (size_t)(rg - w->groups);
        }
        if (gi != SIZE_MAX && (ri != gi || r == b->nrows) &&
            (rc = copy_run(w, &w->groups[gi], b, run, r - run, err)))
            goto done;
        if (ri != gi)
            run = r;
        gi = ri;
    }
    rc = account_touched(w, err);
done:
    for (size_t k = 0; vals && k < w->npart; k++)
        weir_free(vals[k]);
    weir_free(vals);
    if (rc)
        touched_reset(w);
    return rc;
}

/* ------------------------------------------------------------ commit */

static char *commit_info_json(struct weir_delta_writer *w, bool blind)
{
    struct weir_buf b, pb;
    char uuid[37];
    weir_buf_init(&b);
    weir_buf_init(&pb);
    weir_uuid4(uuid);
    int rc = weir_buf_printf(
        &b,
        "{\"timestamp\":%lld,\"operation\":\"WRITE\",\"operationParameters\":{\"mode\":\"%s\","
        "\"partitionBy\":",
        (long long)w->now, w->mode == WEIR_DELTA_OVERWRITE ? "Overwrite" : "Append");
    /* partitionBy is a JSON array inside a string */
    if (rc == 0)
        rc = weir_buf_append_byte(&pb, '[');
    for (size_t i = 0; rc == 0 && i < w->npart; i++) {
        if (i)
            rc = weir_buf_append_byte(&pb, ',');
        if (rc == 0)
            rc = dl_json_escape(&pb, w->part_cols[i], strlen(w->part_cols[i]));
    }
    if (rc == 0)
        rc = weir_buf_append_byte(&pb, ']');
    if (rc == 0)
        rc = dl_json_escape(&b, (const char *)pb.data, pb.len);
    if (rc == 0)
        rc = weir_buf_append_byte(&b, '}');
    if (rc == 0 && w->read_version >= 0)
        rc = weir_buf_printf(&b, ",\"readVersion\":%lld", (long long)w->read_version);
    if (rc == 0)
        rc = weir_buf_printf(
            &b,
            ",\"isolationLevel\":\"Serializable\",\"isBlindAppend\":%s,\"operationMetrics\":{"
            "\"numFiles\":\"%zu\",\"numOutputRows\":\"%lld\",\"numOutputBytes\":\"%lld\"",
            blind ? "true" : "false", w->acts.n_adds, (long long)w->rows, (long long)w->bytes);
    if (rc == 0 && w->acts.n_removes)
        rc = weir_buf_printf(&b, ",\"numRemovedFiles\":\"%zu\"", w->acts.n_removes);
    if (rc == 0)
        rc = weir_buf_append_str(&b, "},\"engineInfo\":");
    if (rc == 0)
        rc = dl_json_escape(&b, w->engine_info, strlen(w->engine_info));
    if (rc == 0)
        rc = weir_buf_printf(&b, ",\"txnId\":\"%s\"}", uuid);
    weir_buf_free(&pb);
    if (rc) {
        weir_buf_free(&b);
        return NULL;
    }
    return weir_buf_detach(&b);
}

bool dl_checkpoint_after_commit(struct weir_delta_table *t, int64_t version, int64_t interval, int64_t now_ms)
{
    struct weir_error cerr = {0};
    struct weir_delta_snapshot *after = NULL;
    const struct weir_delta_snapshot *cs = NULL;
    bool written = false;
    int crc = 0;
    if (interval <= 0)
        interval = 10;
    if (version <= 0 || version % interval != 0)
        return false;
    if (t->write_cache && dl_snapshot_advance(t, t->write_cache, &cerr) != 0) {
        weir_delta_snapshot_destroy(t->write_cache);
        t->write_cache = NULL;
        weir_error_clear(&cerr);
    }
    if (t->write_cache && weir_delta_snapshot_version(t->write_cache) == version)
        cs = t->write_cache;
    else if ((crc = weir_delta_snapshot_load(t, version, &after, &cerr)) == 0)
        cs = after;
    if (crc == 0)
        crc = weir_delta_checkpoint_write(t, cs, now_ms, &cerr);
    if (crc == 0) {
        written = true;
        crc = weir_delta_log_cleanup(t, cs, now_ms, NULL, &cerr);
    }
    if (crc) /* the commit stands; a missing checkpoint only costs replay time */
        WEIR_WARN("%s: checkpoint at version %lld failed: %s", t->root, (long long)version, cerr.message);
    weir_delta_snapshot_destroy(after);
    return written;
}

int weir_delta_writer_commit(struct weir_delta_writer *w, struct weir_delta_write_result *res,
                             struct weir_error *err)
{
    struct weir_delta_write_result dres;
    if (!res)
        res = &dres;
    memset(res, 0, sizeof(*res));
    res->version = -1;
    if (!w)
        return weir_error_set(err, WEIR_EINVAL, "weir_delta_writer_commit: no writer");
    return w->mode == WEIR_DELTA_MERGE ? dl_merge_commit(w, res, err) : dl_writer_commit(w, res, err);
}

int dl_writer_commit(struct weir_delta_writer *w, struct weir_delta_write_result *res, struct weir_error *err)
{
    bool delete_files = true; /* until the commit might have landed */
    int rc;
    struct weir_delta_table *t = w->t;
    res->version = w->read_version;
    if ((rc = dl_writer_flush(w, err)))
        goto done;
    if (w->app_id && (rc = weir_delta_actions_add_txn(&w->acts, w->app_id, w->txn_version, w->now))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    bool blind = w->mode == WEIR_DELTA_APPEND;
    if (!w->acts.commit_info && !(w->acts.commit_info = commit_info_json(w, blind))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    struct weir_delta_commit_options co = {
        .read_version = w->read_version,
        .read_whole_table = w->mode != WEIR_DELTA_APPEND,
        .max_retries = w->max_retries,
    };
    bool already = false;
    int64_t version = -1;
    WEIR_CRASH_POINT("delta.before_commit");
    rc = weir_delta_commit(t, &w->acts, &co, &version, &already, err);
    if (rc) {
        /* a conflict means our put never landed; anything else (an I/O
         * error on the put) may have: keep the files then */
        if (rc != WEIR_ECONFLICT) {
            delete_files = false;
            if (w->nwritten)
                WEIR_WARN("%s: commit failed with an unknown outcome; its %zu data files are kept (VACUUM "
                          "removes them if unreferenced)",
                          t->root, w->nwritten);
        }
        goto done;
    }
    res->version = version;
    res->already_committed = already;
    if (already)
        goto done; /* a winner holds our txn: our files are not referenced */
    delete_files = false;
    res->files_added = w->acts.n_adds;
    res->files_removed = w->acts.n_removes;
    res->rows_written = w->rows;
    res->bytes_written = w->bytes;
    if (w->checkpoint)
        res->checkpoint_written = dl_checkpoint_after_commit(t, version, w->ckpt_interval, w->now);
done:
    writer_free(w, delete_files);
    return rc;
}

/* ------------------------------------------------------------ one-shot write */

int weir_delta_write(struct weir_delta_table *t, const struct weir_batch *const *batches, size_t nbatches,
                     const struct weir_delta_write_options *opts, struct weir_delta_write_result *res,
                     struct weir_error *err)
{
    struct weir_delta_writer *w = NULL;
    struct weir_delta_write_result dres;
    int rc;
    if (!res)
        res = &dres;
    if (nbatches == 0 || !batches[0]) {
        memset(res, 0, sizeof(*res));
        res->version = -1;
        return weir_error_set(err, WEIR_EINVAL, "%s: nothing to write (no batches)", t->root);
    }
    if ((rc = weir_delta_writer_begin(t, batches[0]->schema, opts, &w, res, err)) || !w)
        return rc; /* an error, or the txn is already in the table */
    for (size_t i = 0; i < nbatches; i++)
        if ((rc = weir_delta_writer_add(w, batches[i], err))) {
            weir_error_prefix(err, "batch %zu", i);
            weir_delta_writer_abort(w);
            return rc;
        }
    return weir_delta_writer_commit(w, res, err);
}

/* ------------------------------------------------------------ rewrites */

int dl_writer_begin_rewrite(struct weir_delta_table *t, const struct weir_delta_snapshot *s,
                            enum weir_parquet_codec codec, uint64_t target_file_bytes, int64_t now_ms,
                            struct weir_delta_writer **out, struct weir_error *err)
{
    const struct weir_delta_metadata *md = weir_delta_snapshot_metadata(s);
    struct weir_delta_writer *w = writer_new(t, now_ms, target_file_bytes);
    int rc = 0;
    *out = NULL;
    if (!w)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    w->mode = WEIR_DELTA_APPEND;
    w->codec = codec;
    w->data_change = false;
    w->checkpoint = true;
    w->txn_version = -1;
    w->read_version = weir_delta_snapshot_version(s);
    if (!(w->engine_info = weir_strdup(WEIR_DELTA_ENGINE_INFO)) ||
        !(w->table_schema = weir_type_clone(md->schema))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    rc = writer_ready(w, md, out, err);
    w = NULL;
done:
    writer_free(w, false);
    return rc;
}

int dl_writer_add_data(struct weir_delta_writer *w, const struct weir_delta_kv *pv, size_t npv,
                       const struct weir_batch *b, const uint32_t *rows, size_t nrows, struct weir_error *err)
{
    char **vals = NULL;
    int *map = NULL;
    struct group *g = NULL;
    int rc = 0;
    const struct weir_type *ds = w->data_schema;
    if ((w->npart && !(vals = weir_calloc(w->npart, sizeof(char *)))) ||
        !(map = weir_calloc(ds->nfields + 1, sizeof(int)))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t k = 0; k < w->npart; k++)
        for (size_t j = 0; j < npv; j++)
            if (strcasecmp(pv[j].key, w->part_cols[k]) == 0)
                vals[k] = pv[j].value; /* borrowed */
    for (size_t i = 0; i < ds->nfields; i++)
        map[i] = weir_type_field_index(b->schema, ds->fields[i].name);
    if ((rc = pk_build(w, vals)) || (rc = get_group(w, vals, &g, err)) || (rc = group_ready(w, g))) {
        rc = weir_error_set(err, rc, "out of memory");
        goto done;
    }
    if (rows == NULL)
        nrows = b->nrows;
    /* runs of consecutive rows, column by column, at most 1024 rows between
     * checks of the buffer budget */
    for (size_t i = 0; i < nrows;) {
        size_t start = rows ? rows[i] : i, n = 1;
        while (i + n < nrows && n < 1024 && (rows ? rows[i + n] == start + n : true))
            n++;
        for (size_t c = 0; c < ds->nfields; c++) {
            struct weir_column *dst = &g->batch->columns[c];
            if (map[c] < 0) {
                for (size_t k = 0; k < n && rc == 0; k++)
                    rc = weir_column_append_null(dst);
            } else {
                rc = weir_column_append_range(dst, &b->columns[map[c]], start, n);
            }
            if (rc) {
                rc = weir_error_set(err, rc, "%s: copying column '%s'", w->t->root, ds->fields[c].name);
                goto done;
            }
        }
        if ((rc = weir_batch_finish_rows(g->batch))) {
            weir_error_set(err, rc, "internal: data batch columns out of step");
            goto done;
        }
        size_t before = g->batch->nrows - n;
        if ((before >> 10) != (g->batch->nrows >> 10) &&
            ((rc = account(w, g, err)) || (rc = group_ready(w, g))))
            goto done;
        i += n;
    }
    rc = account_touched(w, err);
done:
    if (rc)
        touched_reset(w);
    weir_free(vals); /* the values were borrowed */
    weir_free(map);
    return rc;
}

struct weir_delta_actions *dl_writer_actions(struct weir_delta_writer *w)
{
    return &w->acts;
}

int64_t dl_writer_rows(const struct weir_delta_writer *w)
{
    return w->rows;
}

int64_t dl_writer_bytes(const struct weir_delta_writer *w)
{
    return w->bytes;
}

const struct weir_type *dl_writer_data_schema(const struct weir_delta_writer *w)
{
    return w->data_schema;
}
