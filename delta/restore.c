/* delta/restore.c - RESTORE: make an older version the table's content
 * again, as a new commit.
 *
 * Owns the difference between two snapshots: files live now but not at the
 * target version are removed, files live then but not now are added back
 * (with their stats, partition values, tags and deletion vectors), both
 * with dataChange=true, so readers and streaming consumers see an ordinary
 * change. The metadata (schema, partitioning, properties) of the target
 * version comes back when it differs; the protocol is never downgraded.
 * txn and domain metadata are left as they are: a streaming writer's
 * progress is not rolled back, so it does not write its batches again.
 *
 * Files the target version needs must still exist (VACUUM may have deleted
 * them): restore checks every one before committing and names the first
 * missing. The commit reads the whole table, so any concurrent change
 * conflicts; it then starts over from the new latest snapshot.
 * Thread: the caller's. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"
#include "delta/delta_int.h"
#include "delta/write_int.h"

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_dv(const struct weir_delta_add *a, const struct weir_delta_add *b)
{
    if (a->has_deletion_vector != b->has_deletion_vector)
        return false;
    if (!a->has_deletion_vector)
        return true;
    return str_eq(a->dv.storage_type, b->dv.storage_type) &&
           str_eq(a->dv.path_or_inline_dv, b->dv.path_or_inline_dv) && a->dv.has_offset == b->dv.has_offset &&
           (!a->dv.has_offset || a->dv.offset == b->dv.offset);
}

static bool same_kv(const struct weir_delta_kv *a, size_t na, const struct weir_delta_kv *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(a[i].key, b[i].key) || !str_eq(a[i].value, b[i].value))
            return false;
    return true;
}

static bool same_metadata(const struct weir_delta_metadata *a, const struct weir_delta_metadata *b)
{
    if (!str_eq(a->schema_string, b->schema_string) || a->n_partition_columns != b->n_partition_columns ||
        !str_eq(a->name, b->name) || !str_eq(a->description, b->description))
        return false;
    for (size_t i = 0; i < a->n_partition_columns; i++)
        if (strcmp(a->partition_columns[i], b->partition_columns[i]) != 0)
            return false;
    return same_kv(a->configuration, a->n_configuration, b->configuration, b->n_configuration);
}

/* The adds and removes taking `cur` to the content of `old`, the metadata
 * when it differs, and commitInfo. Checks that the added files exist. */
static int plan(struct weir_delta_table *t, const struct weir_delta_snapshot *cur,
                const struct weir_delta_snapshot *old, int64_t now, struct weir_delta_actions *acts,
                struct weir_delta_restore_result *res, struct weir_error *err)
{
    size_t nc = weir_delta_snapshot_num_files(cur), no = weir_delta_snapshot_num_files(old);
    size_t i = 0, j = 0;
    int rc = 0;
    /* both are sorted by path: one merge pass */
    while (i < nc || j < no) {
        const struct weir_delta_add *c = i < nc ? weir_delta_snapshot_file(cur, i) : NULL;
        const struct weir_delta_add *o = j < no ? weir_delta_snapshot_file(old, j) : NULL;
        int cmp = !c ? 1 : !o ? -1 : strcmp(c->path, o->path);
        bool drop = cmp < 0 || (cmp == 0 && !same_dv(c, o));
        bool bring = cmp > 0 || (cmp == 0 && !same_dv(c, o));
        if (drop) {
            if (dl_actions_remove_file(acts, c, now, true))
                goto oom;
            res->files_removed++;
            res->bytes_removed += c->size;
        }
        if (bring) {
            struct weir_delta_add a = *o;
            a.data_change = true;
            a.modification_time = now;
            char *key = NULL;
            struct weir_object_info info;
            struct weir_error herr = {0};
            if ((rc = dl_path_to_key(o->path, &key, &herr)) == 0) {
                rc = weir_store_head(t->store, key, &info, &herr);
                if (rc == WEIR_ENOTFOUND)
                    weir_error_set(
                        err, rc,
                        "%s: cannot restore version %lld: its data file %s no longer exists (deleted "
                        "by VACUUM?)",
                        t->root, (long long)weir_delta_snapshot_version(old), key);
                else if (rc && err)
                    *err = herr;
                weir_free(key);
            } else if (rc != WEIR_ENOMEM) {
                rc = 0; /* an absolute path outside the table: not ours to check */
            }
            if (rc)
                return rc == WEIR_ENOMEM ? weir_error_set(err, rc, "out of memory") : rc;
            if (weir_delta_actions_add_add(acts, &a))
                goto oom;
            res->files_restored++;
            res->bytes_restored += o->size;
        }
        if (cmp <= 0)
            i++;
        if (cmp >= 0)
            j++;
    }
    const struct weir_delta_metadata *mo = weir_delta_snapshot_metadata(old);
    if (!same_metadata(weir_delta_snapshot_metadata(cur), mo) && !(acts->metadata = dl_metadata_clone(mo)))
        goto oom;
    res->files_after = no;
    res->bytes_after = weir_delta_snapshot_total_bytes(old);
    return 0;
oom:
    return weir_error_set(err, WEIR_ENOMEM, "out of memory");
}

static char *commit_info(const struct weir_delta_snapshot *cur, const struct weir_delta_snapshot *old,
                         int64_t now, const struct weir_delta_restore_result *r)
{
    struct weir_buf b;
    char uuid[37];
    weir_uuid4(uuid);
    weir_buf_init(&b);
    int rc = weir_buf_printf(
        &b,
        "{\"timestamp\":%lld,\"operation\":\"RESTORE\",\"operationParameters\":{\"version\":%lld,"
        "\"timestamp\":null},\"readVersion\":%lld,\"isolationLevel\":\"Serializable\",\"isBlindAppend\":"
        "false,"
        "\"operationMetrics\":{\"tableSizeAfterRestore\":\"%lld\",\"numOfFilesAfterRestore\":\"%zu\","
        "\"numRemovedFiles\":\"%zu\",\"numRestoredFiles\":\"%zu\",\"removedFilesSize\":\"%lld\","
        "\"restoredFilesSize\":\"%lld\"},\"engineInfo\":\"%s\",\"txnId\":\"%s\"}",
        (long long)now, (long long)weir_delta_snapshot_version(old),
        (long long)weir_delta_snapshot_version(cur), (long long)r->bytes_after, r->files_after,
        r->files_removed, r->files_restored, (long long)r->bytes_removed, (long long)r->bytes_restored,
        WEIR_DELTA_ENGINE_INFO, uuid);
    if (rc) {
        weir_buf_free(&b);
        return NULL;
    }
    return weir_buf_detach(&b);
}

int weir_delta_restore(struct weir_delta_table *t, int64_t version, int64_t now_ms,
                       struct weir_delta_restore_result *res, struct weir_error *err)
{
    struct weir_delta_restore_result dres;
    struct weir_delta_snapshot *old = NULL;
    int rc;
    if (!res)
        res = &dres;
    memset(res, 0, sizeof(*res));
    res->version = -1;
    int64_t now = now_ms > 0 ? now_ms : weir_now_ms();
    if ((rc = weir_delta_snapshot_load(t, version, &old, err)) ||
        (rc = weir_delta_snapshot_check_read(old, err)))
        goto done;
    for (int attempt = 0;; attempt++) {
        struct weir_delta_snapshot *cur = NULL;
        struct weir_delta_actions acts;
        weir_delta_actions_init(&acts);
        memset(res, 0, sizeof(*res));
        res->version = -1;
        if ((rc = weir_delta_snapshot_load(t, -1, &cur, err)) ||
            (rc = weir_delta_snapshot_check_write(cur, err)))
            goto attempt_done;
        int64_t latest = weir_delta_snapshot_version(cur);
        if (version >= latest) {
            rc = weir_error_set(err, WEIR_EINVAL,
                                "%s: version %lld is the latest; there is nothing to restore", t->root,
                                (long long)version);
            goto attempt_done;
        }
        if ((rc = plan(t, cur, old, now, &acts, res, err)))
            goto attempt_done;
        if (!(acts.commit_info = commit_info(cur, old, now, res))) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto attempt_done;
        }
        struct weir_delta_commit_options co = {
            .read_version = latest, .read_whole_table = true, .max_retries = 1};
        rc = weir_delta_commit(t, &acts, &co, &res->version, NULL, err);
        if (rc == 0) {
            const char *ci =
                weir_delta_metadata_config(weir_delta_snapshot_metadata(old), "delta.checkpointInterval");
            dl_checkpoint_after_commit(t, res->version, ci && atoll(ci) > 0 ? atoll(ci) : 10, now);
        }
    attempt_done:
        weir_delta_actions_free(&acts);
        weir_delta_snapshot_destroy(cur);
        if (rc != WEIR_ECONFLICT || attempt >= 10)
            break;
        WEIR_INFO("%s: restore conflicted with a concurrent commit (%s); starting over", t->root,
                  err ? err->message : "conflict");
        weir_error_clear(err);
    }
done:
    weir_delta_snapshot_destroy(old);
    return rc;
}
