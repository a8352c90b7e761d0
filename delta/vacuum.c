/* delta/vacuum.c - VACUUM: delete data files no snapshot within the
 * retention period needs.
 *
 * A file is kept when it is a live add, a tombstone whose deletionTimestamp
 * is inside the retention, younger than the retention itself (a writer may
 * be about to commit it), or not a data file (anything under a directory
 * starting with '_' or '.', deletion vector files). Everything else is
 * deleted. Thread: the caller's; run it when no writer needs old versions. */
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

int weir_delta_vacuum(struct weir_delta_table *t, const struct weir_delta_snapshot *s,
                      const struct weir_delta_vacuum_options *o, size_t *deleted, uint64_t *bytes,
                      struct weir_error *err)
{
    struct weir_delta_vacuum_options dflt = {.retention_ms = -1};
    struct weir_object_list ol = {0};
    char **keep = NULL;
    size_t nkeep = 0, ndel = 0;
    uint64_t nbytes = 0;
    int rc = 0;
    if (!o)
        o = &dflt;
    int64_t now = o->now_ms > 0 ? o->now_ms : weir_now_ms();
    int64_t retention = o->retention_ms;
    if (retention < 0) {
        retention = 7LL * 86400000;
        const char *rs =
            weir_delta_metadata_config(weir_delta_snapshot_metadata(s), "delta.deletedFileRetentionDuration");
        if (rs && (rc = weir_delta_parse_interval(rs, &retention, err))) {
            weir_error_prefix(err, "table property delta.deletedFileRetentionDuration");
            goto done;
        }
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
    for (size_t i = 0; i < ol.count; i++) {
        const struct weir_object_info *f = &ol.items[i];
        if (hidden(f->key) || f->mtime_ms >= cutoff)
            continue;
        const char *k = f->key;
        if (nkeep && bsearch(&k, keep, nkeep, sizeof(char *), cmp_str))
            continue;
        if (!o->dry_run) {
            rc = weir_store_delete(t->store, f->key, err);
            if (rc == WEIR_ENOTFOUND) {
                weir_error_clear(err);
                rc = 0;
                continue;
            }
            if (rc)
                goto done;
        }
        ndel++;
        nbytes += f->size;
    }
    WEIR_INFO("%s: vacuum %s %zu files (%llu bytes)", t->root, o->dry_run ? "would delete" : "deleted", ndel,
              (unsigned long long)nbytes);
done:
    for (size_t i = 0; i < nkeep; i++)
        weir_free(keep[i]);
    weir_free(keep);
    weir_object_list_free(&ol);
    if (deleted)
        *deleted = ndel;
    if (bytes)
        *bytes = nbytes;
    return rc;
}
