/* delta/optimize.c - OPTIMIZE (small-file compaction by bin-packing).
 *
 * Owns: planning (per partition, the live files smaller than min_file_bytes
 * and without deletion vectors, sorted by size, packed into bins of at most
 * target_file_bytes; a bin of one file and a partition with fewer than
 * min_files candidates are left alone), rewriting each bin through a
 * rewrite writer (delta/write_int.h: same data files, directories and
 * stats as a normal write, dataChange=false) and one commit: removes
 * (dataChange=false, extendedFileMetadata) + adds + commitInfo operation
 * "OPTIMIZE" with Spark's operationParameters (predicate, zOrderBy).
 *
 * Conflicts: the commit declares only the removed files as read, so a
 * concurrent blind append (or any commit that leaves those files alone)
 * never conflicts and weir_delta_commit simply moves to the next version.
 * A concurrent commit that removed one of them (another OPTIMIZE, an
 * overwrite, a delete) or changed the metadata is a real conflict: the new
 * files are deleted and everything starts over from the new snapshot, up
 * to max_retries times.
 *
 * Memory: rows of one bin at a time, bounded by the writer's caps.
 * Thread: the caller's; use a table handle no other thread writes with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/expr.h"
#include "core/log.h"
#include "core/util.h"
#include "delta/delta_int.h"
#include "delta/write_int.h"

void weir_delta_optimize_options_default(struct weir_delta_optimize_options *o)
{
    memset(o, 0, sizeof(*o));
    o->target_file_bytes = 128ull << 20;
    o->min_file_bytes = 0; /* target_file_bytes * 3 / 4 */
    o->min_files = 2;
    o->codec = WEIR_PARQUET_SNAPPY;
    o->max_retries = 10;
}

struct cand {
    const struct weir_delta_add *a; /* borrowed from the snapshot */
    char *pkey;
    int bin; /* -1: not rewritten */
};

struct dl_optimize_job {
    struct weir_delta_table *t;
    struct weir_delta_snapshot *snap;
    struct weir_delta_writer *w;
    const char **read_paths; /* the removed files' paths, borrowed from snap */
    size_t nread;
    int64_t bytes_removed;
    int64_t now;
    int64_t interval;
    int nbins;
    char *predicate; /* operationParameters.predicate: JSON array text */
};

void dl_optimize_job_free(struct dl_optimize_job *job)
{
    if (!job)
        return;
    weir_delta_writer_abort(job->w); /* deletes the files not committed */
    weir_free(job->read_paths);
    weir_free(job->predicate);
    weir_delta_snapshot_destroy(job->snap);
    weir_free(job);
}

static int cmp_cand(const void *x, const void *y)
{
    const struct cand *a = x, *b = y;
    int c = strcmp(a->pkey, b->pkey);
    if (c)
        return c;
    if (a->a->size != b->a->size)
        return a->a->size < b->a->size ? -1 : 1;
    return strcmp(a->a->path, b->a->path);
}

/* "\x01value\x03" per partition column ("\x02\x03" for null), in the order
 * of metaData.partitionColumns. */
static char *partition_key(const struct weir_delta_metadata *md, const struct weir_delta_add *a)
{
    struct weir_buf b;
    int rc = 0;
    weir_buf_init(&b);
    for (size_t k = 0; k < md->n_partition_columns && rc == 0; k++) {
        const char *v = NULL;
        for (size_t j = 0; j < a->n_partition_values; j++)
            if (strcasecmp(a->partition_values[j].key, md->partition_columns[k]) == 0)
                v = a->partition_values[j].value;
        rc = v ? weir_buf_printf(&b, "\x01%s\x03", v) : weir_buf_append_str(&b, "\x02\x03");
    }
    if (rc == 0)
        rc = weir_buf_append_byte(&b, 0);
    if (rc) {
        weir_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

/* Keeps in c[0..*nc) the candidates whose partition values satisfy the SQL
 * predicate `where`, which may use partition columns only (as Spark's
 * OPTIMIZE ... WHERE). */
static int filter_where(const struct weir_delta_metadata *md, const char *where, struct cand *c, size_t *nc,
                        struct weir_error *err)
{
    struct weir_type *st = weir_type_struct();
    struct weir_expr *e = NULL;
    struct weir_batch *b = NULL;
    uint32_t *rows = NULL;
    size_t nrows = 0;
    int rc = 0;
    struct weir_buf names;
    weir_buf_init(&names);
    for (size_t k = 0; st && k < md->n_partition_columns; k++) {
        int fi = weir_type_field_index(md->schema, md->partition_columns[k]);
        struct weir_type *ft = fi >= 0 ? weir_type_clone(md->schema->fields[fi].type) : NULL;
        if (!ft || weir_type_struct_add(st, md->partition_columns[k], ft, true, NULL) ||
            weir_buf_printf(&names, "%s%s", k ? ", " : "", md->partition_columns[k])) {
            rc = weir_error_set(err, fi < 0 ? WEIR_ECORRUPT : WEIR_ENOMEM,
                                fi < 0 ? "partition column '%s' is not in the table schema" : "out of memory",
                                md->partition_columns[k]);
            goto done;
        }
    }
    if (!st || weir_buf_append_byte(&names, 0)) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = weir_expr_parse(where, &e, err)))
        goto done;
    if ((rc = weir_expr_bind(e, st, err))) {
        weir_error_prefix(err, "optimize where: only partition columns can be used (%s)",
                          md->n_partition_columns ? (const char *)names.data : "the table has none");
        goto done;
    }
    if (!weir_expr_type(e) || weir_expr_type(e)->kind != WEIR_TYPE_BOOLEAN) {
        rc = weir_error_set(err, WEIR_ESCHEMA, "optimize where '%s' is not a boolean predicate", where);
        goto done;
    }
    if (!(b = weir_batch_create(st))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < *nc; i++)
        for (size_t k = 0; k < md->n_partition_columns; k++) {
            const char *v = NULL;
            for (size_t j = 0; j < c[i].a->n_partition_values; j++)
                if (strcasecmp(c[i].a->partition_values[j].key, md->partition_columns[k]) == 0)
                    v = c[i].a->partition_values[j].value;
            if ((rc = weir_delta_partition_value_append(&b->columns[k], v, err))) {
                weir_error_prefix(err, "%s: partition column '%s'", c[i].a->path, md->partition_columns[k]);
                goto done;
            }
        }
    if ((rc = weir_batch_finish_rows(b)) ||
        (rc = weir_expr_filter(e, b, weir_now_ms() * 1000, &rows, &nrows, err)))
        goto done;
    for (size_t i = 0; i < nrows; i++) {
        struct cand keep = c[rows[i]];
        c[rows[i]] = c[i];
        c[i] = keep; /* rows are ascending: rows[i] >= i, the swapped-out one is not needed again */
    }
    *nc = nrows;
done:
    weir_free(rows);
    weir_batch_destroy(b);
    weir_expr_destroy(e);
    weir_type_destroy(st);
    weir_buf_free(&names);
    return rc;
}

/* Reads every row group of data file `a` into the writer. */
static int rewrite_file(struct weir_delta_table *t, struct weir_delta_writer *w,
                        const struct weir_delta_add *a, struct weir_error *err)
{
    struct dl_data_file f = {0};
    struct weir_batch *b = NULL;
    int rc;
    if ((rc = dl_data_file_open(t, a->path, &f, err)))
        goto done;
    int nrg = weir_parquet_reader_num_row_groups(f.reader);
    for (int rg = 0; rg < nrg; rg++) {
        if ((rc = weir_parquet_reader_read_row_group(f.reader, rg, dl_writer_data_schema(w), &b, err)) ||
            (rc = dl_writer_add_data(w, a->partition_values, a->n_partition_values, b, NULL, 0, err)))
            goto done;
        weir_batch_destroy(b);
        b = NULL;
    }
done:
    if (rc && f.key)
        weir_error_prefix(err, "optimize: rewriting %s", f.key);
    weir_batch_destroy(b);
    dl_data_file_close(&f);
    return rc;
}

/* Spark's form: a JSON string holding a JSON array of the predicates,
 * "[]" or "[\"day = '2024-01-01'\"]". */
static int predicate_json(const char *where, char **out, struct weir_error *err)
{
    struct weir_buf inner, b;
    int rc = 0;
    weir_buf_init(&inner);
    weir_buf_init(&b);
    if (where) {
        rc = weir_buf_append_byte(&inner, '[');
        rc = rc ? rc : dl_json_escape(&inner, where, strlen(where));
        rc = rc ? rc : weir_buf_append_byte(&inner, ']');
    } else {
        rc = weir_buf_append_str(&inner, "[]");
    }
    rc = rc ? rc : dl_json_escape(&b, (const char *)inner.data, inner.len);
    rc = rc ? rc : weir_buf_append_byte(&b, 0);
    weir_buf_free(&inner);
    if (rc) {
        weir_buf_free(&b);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    *out = (char *)b.data;
    return 0;
}

int dl_optimize_prepare(struct weir_delta_table *t, const struct weir_delta_optimize_options *o,
                        struct dl_optimize_job **out, struct weir_error *err)
{
    struct weir_delta_optimize_options dflt;
    struct dl_optimize_job *job = NULL;
    struct cand *c = NULL;
    size_t nc = 0, nall = 0;
    int rc = 0;
    *out = NULL;
    if (!o) {
        weir_delta_optimize_options_default(&dflt);
        o = &dflt;
    }
    uint64_t target = o->target_file_bytes ? o->target_file_bytes : 128ull << 20;
    uint64_t min_size = o->min_file_bytes ? o->min_file_bytes : target / 4 * 3;
    size_t min_files = o->min_files ? o->min_files : 2;
    if (!(job = weir_calloc(1, sizeof(*job)))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    job->t = t;
    job->now = o->now_ms > 0 ? o->now_ms : weir_now_ms();
    if ((rc = predicate_json(o->where, &job->predicate, err)))
        goto done;
    if ((rc = weir_delta_snapshot_load(t, -1, &job->snap, err)) ||
        (rc = weir_delta_snapshot_check_write(job->snap, err)))
        goto done;
    const struct weir_delta_metadata *md = weir_delta_snapshot_metadata(job->snap);
    job->interval = 10;
    const char *ci = weir_delta_metadata_config(md, "delta.checkpointInterval");
    if (ci && atoll(ci) > 0)
        job->interval = atoll(ci);
    size_t n = weir_delta_snapshot_num_files(job->snap);
    if (n && !(c = weir_calloc(n, sizeof(*c)))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const struct weir_delta_add *a = weir_delta_snapshot_file(job->snap, i);
        if (a->has_deletion_vector || a->size < 0 || (uint64_t)a->size >= min_size)
            continue;
        c[nc].a = a;
        c[nc].bin = -1;
        if (!(c[nc++].pkey = partition_key(md, a))) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto done;
        }
    }
    nall = nc;
    if (o->where && nc && (rc = filter_where(md, o->where, c, &nc, err)))
        goto done;
    if (nc)
        qsort(c, nc, sizeof(*c), cmp_cand);
    /* bins: per partition run, in size order, closed before exceeding the target */
    int nbins = 0;
    for (size_t s = 0; s < nc;) {
        size_t e = s;
        while (e < nc && strcmp(c[e].pkey, c[s].pkey) == 0)
            e++;
        if (e - s >= min_files) {
            size_t from = s;
            uint64_t sum = 0;
            for (size_t i = s; i <= e; i++) {
                if (i == e || (i > from && sum + (uint64_t)c[i].a->size > target)) {
                    if (i - from >= 2) {
                        for (size_t k = from; k < i; k++)
                            c[k].bin = nbins;
                        nbins++;
                    }
                    from = i;
                    sum = 0;
                }
                if (i < e)
                    sum += (uint64_t)c[i].a->size;
            }
        }
        s = e;
    }
    if (nbins == 0)
        goto done; /* nothing to do: *out stays NULL */
    job->nbins = nbins;
    if ((rc = dl_writer_begin_rewrite(t, job->snap, o->codec, target, job->now, &job->w, err)))
        goto done;
    if (!(job->read_paths = weir_calloc(nc, sizeof(char *)))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    struct weir_delta_actions *acts = dl_writer_actions(job->w);
    for (int bin = 0; bin < nbins; bin++) {
        for (size_t i = 0; i < nc; i++) {
            if (c[i].bin != bin)
                continue;
            const struct weir_delta_add *a = c[i].a;
            if ((rc = rewrite_file(t, job->w, a, err)))
                goto done;
            if (dl_actions_remove_file(acts, a, job->now, false)) {
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                goto done;
            }
            job->read_paths[job->nread++] = a->path;
            job->bytes_removed += a->size;
        }
        /* one bin's rows never share a file with another bin's */
        if ((rc = dl_writer_flush(job->w, err)))
            goto done;
    }
    *out = job;
    job = NULL;
done:
    for (size_t i = 0; i < (nall > nc ? nall : nc); i++)
        weir_free(c[i].pkey);
    weir_free(c);
    dl_optimize_job_free(job);
    return rc;
}

static char *optimize_commit_info(const struct dl_optimize_job *job, const struct weir_delta_actions *a)
{
    struct weir_buf b;
    char uuid[37];
    int64_t added = 0, min = 0, max = 0;
    for (size_t i = 0; i < a->n_adds; i++) {
        int64_t s = a->adds[i].size;
        added += s;
        if (i == 0 || s < min)
            min = s;
        if (i == 0 || s > max)
            max = s;
    }
    weir_buf_init(&b);
    weir_uuid4(uuid);
    int rc = weir_buf_printf(
        &b,
        "{\"timestamp\":%lld,\"operation\":\"OPTIMIZE\",\"operationParameters\":{\"predicate\":%s,"
        "\"zOrderBy\":\"[]\"},\"readVersion\":%lld,\"isolationLevel\":\"SnapshotIsolation\","
        "\"isBlindAppend\":false,\"operationMetrics\":{\"numRemovedFiles\":\"%zu\",\"numRemovedBytes\":\"%"
        "lld\","
        "\"numAddedFiles\":\"%zu\",\"numAddedBytes\":\"%lld\",\"minFileSize\":\"%lld\",\"maxFileSize\":\"%"
        "lld\","
        "\"numBins\":\"%d\",\"numOutputRows\":\"%lld\"},\"engineInfo\":\"%s\",\"txnId\":\"%s\"}",
        (long long)job->now, job->predicate, (long long)weir_delta_snapshot_version(job->snap), a->n_removes,
        (long long)job->bytes_removed, a->n_adds, (long long)added, (long long)min, (long long)max,
        job->nbins, (long long)dl_writer_rows(job->w), WEIR_DELTA_ENGINE_INFO, uuid);
    if (rc) {
        weir_buf_free(&b);
        return NULL;
    }
    return weir_buf_detach(&b);
}

int dl_optimize_commit(struct dl_optimize_job *job, struct weir_delta_optimize_result *res,
                       struct weir_error *err)
{
    int rc;
    struct weir_delta_actions *acts = dl_writer_actions(job->w);
    if (!(acts->commit_info = optimize_commit_info(job, acts))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    struct weir_delta_commit_options co = {
        .read_version = weir_delta_snapshot_version(job->snap),
        .read_paths = job->read_paths,
        .n_read_paths = job->nread,
        .max_retries = 100,
    };
    int64_t version = -1;
    WEIR_CRASH_POINT("delta.before_commit");
    rc = weir_delta_commit(job->t, acts, &co, &version, NULL, err);
    if (rc) {
        if (rc != WEIR_ECONFLICT) { /* the put may have landed: keep the files */
            dl_writer_release(job->w);
            job->w = NULL;
        }
        goto done;
    }
    if (res) {
        res->version = version;
        res->files_removed = acts->n_removes;
        res->files_added = acts->n_adds;
        res->bytes_removed = job->bytes_removed;
        res->bytes_added = dl_writer_bytes(job->w);
        res->rows = dl_writer_rows(job->w);
    }
    dl_writer_release(job->w); /* committed: the files are the table's now */
    job->w = NULL;
    dl_checkpoint_after_commit(job->t, version, job->interval, job->now);
done:
    dl_optimize_job_free(job);
    return rc;
}

int weir_delta_optimize(struct weir_delta_table *t, const struct weir_delta_optimize_options *opts,
                        struct weir_delta_optimize_result *res, struct weir_error *err)
{
    struct weir_delta_optimize_result dres;
    int max = opts && opts->max_retries > 0 ? opts->max_retries : 10;
    if (!res)
        res = &dres;
    memset(res, 0, sizeof(*res));
    res->version = -1;
    for (int attempt = 0;; attempt++) {
        struct dl_optimize_job *job = NULL;
        int rc = dl_optimize_prepare(t, opts, &job, err);
        if (rc || !job)
            return rc;
        rc = dl_optimize_commit(job, res, err);
        if (rc != WEIR_ECONFLICT || attempt >= max)
            return rc;
        WEIR_INFO("%s: optimize conflicted with a concurrent commit (%s); starting over (attempt %d of %d)",
                  t->root, err ? err->message : "conflict", attempt + 2, max + 1);
        if (err)
            weir_error_clear(err);
    }
}
