/* delta/commit.c - optimistic commit: put-if-absent of
 * _delta_log/<v20>.json, and on a lost race the conflict rules of
 * protocol notes 1.11 against each winning commit, then a retry at the next
 * version with the same actions (data files are reused).
 *
 * Rules applied to a winner w: w changes protocol or metadata -> conflict
 * (except: we were creating the table and w created it with the same
 * schema and partition columns; then we drop our protocol/metaData and
 * continue as an append); w has a txn for one of our appIds with version
 * >= ours -> already committed; lower version -> conflict; both touch the
 * same domain -> conflict; w removes a file we read or remove -> conflict;
 * we read the whole table (overwrite) and w adds or removes data -> conflict.
 * A blind append never conflicts with other appends. Thread: the caller's. */
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "delta/delta_int.h"

static int read_winner(struct weir_delta_table *t, int64_t v, struct weir_delta_actions *w,
                       struct weir_error *err)
{
    char key[64];
    struct weir_buf b;
    dl_commit_key(key, sizeof(key), v);
    weir_buf_init(&b);
    int rc = weir_store_get(t->store, key, &b, err);
    if (rc == 0)
        rc = weir_delta_actions_parse((const char *)b.data, b.len, key, w, err);
    weir_buf_free(&b);
    return rc;
}

static bool same_partitioning(const struct weir_delta_metadata *a, const struct weir_delta_metadata *b)
{
    if (a->n_partition_columns != b->n_partition_columns)
        return false;
    for (size_t i = 0; i < a->n_partition_columns; i++)
        if (strcmp(a->partition_columns[i], b->partition_columns[i]) != 0)
            return false;
    return weir_type_equal(a->schema, b->schema);
}

static bool path_in(const char *p, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(p, v[i]) == 0)
            return true;
    return false;
}

/* 0: no conflict; 1: already committed; <0: error (conflict). */
static int check_winner(const struct weir_delta_actions *a, const struct weir_delta_actions *w, int64_t v,
                        const struct weir_delta_commit_options *o, bool *drop_pm, struct weir_error *err)
{
    for (size_t i = 0; i < a->n_txns; i++)
        for (size_t j = 0; j < w->n_txns; j++)
            if (strcmp(a->txns[i].app_id, w->txns[j].app_id) == 0) {
                if (w->txns[j].version >= a->txns[i].version)
                    return 1;
                return weir_error_set(err, WEIR_ECONFLICT,
                                      "concurrent commit %lld wrote txn appId '%s' version %lld while this "
                                      "commit writes version %lld",
                                      (long long)v, w->txns[j].app_id, (long long)w->txns[j].version,
                                      (long long)a->txns[i].version);
            }
    if (w->protocol || w->metadata) {
        if (a->metadata && o->read_version < 0 && w->metadata && v == 0 &&
            same_partitioning(a->metadata, w->metadata)) {
            *drop_pm = true; /* both created the table the same way */
        } else if (w->protocol && !w->metadata) {
            return weir_error_set(err, WEIR_ECONFLICT, "concurrent commit %lld changed the table protocol",
                                  (long long)v);
        } else {
            return weir_error_set(err, WEIR_ECONFLICT, "concurrent commit %lld changed the table metadata",
                                  (long long)v);
        }
    }
    for (size_t i = 0; i < a->n_domains; i++)
        for (size_t j = 0; j < w->n_domains; j++)
            if (strcmp(a->domains[i].domain, w->domains[j].domain) == 0)
                return weir_error_set(err, WEIR_ECONFLICT, "concurrent commit %lld changed domain '%s'",
                                      (long long)v, w->domains[j].domain);
    for (size_t j = 0; j < w->n_removes; j++) {
        const char *p = w->removes[j].path;
        if (path_in(p, o->read_paths, o->n_read_paths))
            return weir_error_set(err, WEIR_ECONFLICT,
                                  "concurrent commit %lld removed file '%s' that this transaction read",
                                  (long long)v, p);
        for (size_t i = 0; i < a->n_removes; i++)
            if (strcmp(a->removes[i].path, p) == 0)
                return weir_error_set(err, WEIR_ECONFLICT, "concurrent commit %lld also removed file '%s'",
                                      (long long)v, p);
        if (o->read_whole_table && w->removes[j].data_change)
            return weir_error_set(
                err, WEIR_ECONFLICT,
                "concurrent commit %lld removed file '%s' from the table this transaction read", (long long)v,
                p);
    }
    if (o->read_whole_table)
        for (size_t j = 0; j < w->n_adds; j++)
            if (w->adds[j].data_change)
                return weir_error_set(
                    err, WEIR_ECONFLICT,
                    "concurrent commit %lld added file '%s' to the table this transaction read", (long long)v,
                    w->adds[j].path);
    return 0;
}

int weir_delta_commit(struct weir_delta_table *t, const struct weir_delta_actions *a,
                      const struct weir_delta_commit_options *o, int64_t *version, bool *already_committed,
                      struct weir_error *err)
{
    struct weir_buf body;
    struct weir_delta_actions view = *a; /* shallow: may drop protocol/metaData */
    struct weir_delta_actions w;
    bool drop_pm = false;
    char key[64];
    int rc;
    int max = o->max_retries > 0 ? o->max_retries : 100;
    int64_t v = o->read_version + 1;
    weir_buf_init(&body);
    weir_delta_actions_init(&w);
    if (already_committed)
        *already_committed = false;
    if ((rc = weir_delta_actions_serialize(&view, &body, err)))
        goto done;
    for (int attempt = 0;; attempt++) {
        dl_commit_key(key, sizeof(key), v);
        struct weir_error perr = {0};
        rc = weir_store_put_if_absent(t->store, key, body.data, body.len, &perr);
        if (rc == 0) {
            *version = v;
            goto done;
        }
        if (rc != WEIR_EEXISTS) {
            if (err)
                *err = perr;
            goto done;
        }
        if (attempt >= max) {
            rc = weir_error_set(err, WEIR_ECONFLICT,
                                "%s: gave up committing after %d attempts (version %lld taken)", t->root,
                                attempt + 1, (long long)v);
            goto done;
        }
        weir_delta_actions_free(&w);
        if ((rc = read_winner(t, v, &w, err)))
            goto done;
        bool drop = false;
        rc = check_winner(a, &w, v, o, &drop, err);
        if (rc == 1) {
            rc = 0;
            *version = v;
            if (already_committed)
                *already_committed = true;
            goto done;
        }
        if (rc)
            goto done;
        if (drop && !drop_pm) {
            drop_pm = true;
            view.protocol = NULL;
            view.metadata = NULL;
            weir_buf_free(&body);
            if ((rc = weir_delta_actions_serialize(&view, &body, err)))
                goto done;
        }
        WEIR_DEBUG("%s: version %lld taken by a concurrent writer, retrying at %lld", t->root, (long long)v,
                   (long long)(v + 1));
        v++;
    }
done:
    weir_delta_actions_free(&w);
    weir_buf_free(&body);
    return rc;
}
