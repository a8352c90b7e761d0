/* delta/vacuum.c - VACUUM: delete data files no snapshot within the
 * retention period needs.
 *
 * A file is kept when it is a live add, a tombstone whose deletionTimestamp
 * is inside the retention, younger than the retention itself (a writer may
 * be about to commit it), or not a data file (anything under a directory
 * starting with '_' or '.', deletion vector files). Everything else is
 * deleted. A retention shorter than the table's
 * delta.deletedFileRetentionDuration is refused unless forced (readers of
 * older versions and slow writers depend on it).
 *
 * Like Spark and delta-rs, a real run (not a dry run) records itself in the
 * log: a commit with only commitInfo "VACUUM START" (what it will delete)
 * before deleting and "VACUUM END" after. Such commits change no data, so
 * they never conflict with writers; they are also how a scheduled vacuum
 * finds when the last one ran. Thread: the caller's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"
#include "delta/delta_int.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool hidden(const char *key)
{
    const char *p = key;
    for (;;) {
        if (*p == '_' || *p == '.')
            return true;
        const char *slash = strchr(p, '/');
        if (!slash)
            break;
        p = slash + 1;
    }
    const char *base = strrchr(key, '/');
    base = base ? base + 1 : key;
    return strncmp(base, "deletion_vector_", 16) == 0;
}

/* A commit of only commitInfo `{"timestamp":now,"operation":op,...rest}`. */
static int log_commit(struct weir_delta_table *t, int64_t now, const char *op, const char *rest,
                      struct weir_error *err)
{
    struct weir_delta_actions a;
    int64_t latest, v;
    char uuid[37];
    int rc;
    weir_delta_actions_init(&a);
    weir_uuid4(uuid);
    if ((rc = weir_delta_table_latest_version(t, &latest, err)))
        goto done;
    if (!(a.commit_info =
              weir_asprintf("{\"timestamp\":%lld,\"operation\":\"%s\",%s,\"readVersion\":%lld,"
                            "\"isBlindAppend\":true,\"engineInfo\":\"%s\",\"txnId\":\"%s\"}",
                            (long long)now, op, rest, (long long)latest, WEIR_DELTA_ENGINE_INFO, uuid))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    struct weir_delta_commit_options co = {.read_version = latest, .max_retries = 1000};
    rc = weir_delta_commit(t, &a, &co, &v, NULL, err);
done:
    weir_delta_actions_free(&a);
    return rc;
}

int weir_delta_vacuum(struct weir_delta_table *t, const struct weir_delta_snapshot *s,
                      const struct weir_delta_vacuum_options *o, size_t *deleted, uint64_t *bytes,
                      struct weir_error *err)
{
    struct weir_delta_vacuum_options dflt = {.retention_ms = -1};
    struct weir_object_list ol = {0};
    char **keep = NULL;
    const struct weir_object_info **del = NULL;
    size_t nkeep = 0, ndel = 0, ndone = 0;
    uint64_t nbytes = 0, done_bytes = 0;
    int rc = 0;
    if (!o)
        o = &dflt;
    int64_t now = o->now_ms > 0 ? o->now_ms : weir_now_ms();
    int64_t table_retention = 7LL * 86400000;
    const char *rs =
        weir_delta_metadata_config(weir_delta_snapshot_metadata(s), "delta.deletedFileRetentionDuration");
    if (rs && (rc = weir_delta_parse_interval(rs, &table_retention, err))) {
        weir_error_prefix(err, "table property delta.deletedFileRetentionDuration");
        goto done;
    }
    int64_t retention = o->retention_ms >= 0 ? o->retention_ms : table_retention;
    if (retention < table_retention && !o->force) {
        rc =
            weir_error_set(err, WEIR_EINVAL,
                           "%s: a vacuum retention of %lld hours is shorter than the table's "
                           "delta.deletedFileRetentionDuration (%lld hours): readers of older versions and "
                           "writers still writing could lose files; force it only when none run",
                           t->root, (long long)(retention / 3600000), (long long)(table_retention / 3600000));
        goto done;
    }
    int64_t cutoff = now - retention;
    size_t nf = weir_delta_snapshot_num_files(s), nt = weir_delta_snapshot_num_tombstones(s);
    keep = weir_calloc(nf + nt + 1, sizeof(char *));
    if (!keep) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nf + nt; i++) {
        const char *path;
        if (i < nf) {
            path = weir_delta_snapshot_file(s, i)->path;
        } else {
            const struct weir_delta_remove *r = weir_delta_snapshot_tombstone(s, i - nf);
            if (r->has_deletion_timestamp && r->deletion_timestamp < cutoff)
                continue; /* expired tombstone: its file may go */
            path = r->path;
        }
        struct weir_error perr = {0};
        int prc = dl_path_to_key(path, &keep[nkeep], &perr);
        if (prc == WEIR_ENOMEM) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto done;
        }
        if (prc == 0)
            nkeep++; /* absolute paths are outside the table: nothing to protect here */
    }
    if (nkeep > 1)
        qsort(keep, nkeep, sizeof(char *), cmp_str);
    if ((rc = weir_store_list(t->store, "", NULL, true, &ol, err)))
        goto done;
    if (ol.count && !(del = weir_calloc(ol.count, sizeof(*del)))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ol.count; i++) {
        const struct weir_object_info *f = &ol.items[i];
        const char *k = f->key;
        if (hidden(k) || f->mtime_ms >= cutoff ||
            (nkeep && bsearch(&k, keep, nkeep, sizeof(char *), cmp_str)))
            continue;
        del[ndel++] = f;
        nbytes += f->size;
    }
    if (o->dry_run) {
        WEIR_INFO("%s: vacuum would delete %zu files (%llu bytes)", t->root, ndel,
                  (unsigned long long)nbytes);
        ndone = ndel;
        done_bytes = nbytes;
        goto done;
    }
    char rest[256];
    snprintf(rest, sizeof rest,
             "\"operationParameters\":{\"retentionCheckEnabled\":%s,\"specifiedRetentionMillis\":\"%lld\","
             "\"defaultRetentionMillis\":\"%lld\"},\"operationMetrics\":{\"numFilesToDelete\":\"%zu\","
             "\"sizeOfDataToDelete\":\"%llu\"}",
             o->force ? "false" : "true", (long long)retention, (long long)table_retention, ndel,
             (unsigned long long)nbytes);
    if ((rc = log_commit(t, now, "VACUUM START", rest, err)))
        goto done;
    for (size_t i = 0; i < ndel; i++) {
        rc = weir_store_delete(t->store, del[i]->key, err);
        if (rc == WEIR_ENOTFOUND) {
            weir_error_clear(err);
            rc = 0;
            continue;
        }
        if (rc)
            break;
        ndone++;
        done_bytes += del[i]->size;
    }
    snprintf(rest, sizeof rest,
             "\"operationParameters\":{\"status\":\"%s\"},\"operationMetrics\":{\"numDeletedFiles\":\"%zu\","
             "\"numVacuumedDirectories\":\"0\"}",
             rc ? "FAILED" : "COMPLETED", ndone);
    struct weir_error lerr = {0};
    int lrc = log_commit(t, weir_now_ms() > now ? weir_now_ms() : now, "VACUUM END", rest, &lerr);
    if (rc == 0 && lrc) {
        rc = lrc;
        if (err)
            *err = lerr;
    }
    WEIR_INFO("%s: vacuum deleted %zu files (%llu bytes)", t->root, ndone, (unsigned long long)done_bytes);
done:
    for (size_t i = 0; i < nkeep; i++)
        weir_free(keep[i]);
    weir_free(keep);
    weir_free(del);
    weir_object_list_free(&ol);
    if (deleted)
        *deleted = ndone;
    if (bytes)
        *bytes = done_bytes;
    return rc;
}
