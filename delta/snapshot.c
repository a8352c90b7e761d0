/* delta/snapshot.c - table handle, log listing and snapshot replay.
 *
 * Owns: struct weir_delta_table (a store rooted at the table) and struct
 * weir_delta_snapshot (the reconciled log at one version). Replay starts
 * from the newest readable classic checkpoint (single file or multi-part)
 * at or below the wanted version, found through _last_checkpoint (a hint
 * only: a missing, stale or corrupt pointer falls back to listing), then
 * applies JSON commits in version order. Files are keyed by
 * (path, deletion vector id); the newest action per key wins. V2 (UUID)
 * checkpoints are not read: such tables replay from JSON and are refused
 * by weir_delta_snapshot_check_read (reader feature v2Checkpoint).
 * Invariants: a loaded snapshot has protocol and metadata; its versions
 * were contiguous. Snapshots are immutable after load (thread-safe reads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "delta/delta_int.h"

struct weir_delta_snapshot {
    int64_t version;
    int64_t checkpoint_version;
    struct weir_delta_protocol *protocol;
    struct weir_delta_metadata *metadata;
    struct weir_delta_add *files;
    size_t nfiles;
    struct weir_delta_remove *tombstones;
    size_t ntombstones;
    struct weir_delta_txn *txns;
    size_t ntxns, cap_txns;
    struct weir_delta_domain *domains;
    size_t ndomains, cap_domains;
};

void dl_commit_key(char *buf, size_t n, int64_t version)
{
    snprintf(buf, n, DL_LOG_DIR "%020lld.json", (long long)version);
}

void dl_checkpoint_key(char *buf, size_t n, int64_t version)
{
    snprintf(buf, n, DL_LOG_DIR "%020lld.checkpoint.parquet", (long long)version);
}

/* ------------------------------------------------------------- table */

int weir_delta_table_open(struct weir_delta_table **out, const char *uri, struct weir_error *err)
{
    return weir_delta_table_open_with(out, uri, NULL, err);
}

int weir_delta_table_open_with(struct weir_delta_table **out, const char *uri,
                               const struct weir_store_options *opts, struct weir_error *err)
{
    struct weir_delta_table *t = weir_calloc(1, sizeof(*t));
    int rc;
    *out = NULL;
    if (!t)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory opening table %s", uri);
    if (!(t->root = weir_strdup(uri))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory opening table %s", uri);
        goto fail;
    }
    if ((rc = weir_store_open_with(&t->store, uri, opts, err)))
        goto fail;
    *out = t;
    return 0;
fail:
    weir_delta_table_destroy(t);
    return rc;
}

void weir_delta_table_destroy(struct weir_delta_table *t)
{
    if (!t)
        return;
    weir_delta_snapshot_destroy(t->write_cache);
    weir_store_destroy(t->store);
    weir_free(t->root);
    weir_free(t);
}

struct weir_store *weir_delta_table_store(struct weir_delta_table *t)
{
    return t->store;
}

/* ------------------------------------------------------------- listing */

enum lf_kind { LF_COMMIT, LF_CHECKPOINT, LF_CHECKPOINT_PART, LF_OTHER };

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Classify a key below _delta_log/. For parts: *part, *nparts. */
static enum lf_kind classify(const char *key, int64_t *version, int *part, int *nparts)
{
    size_t pl = strlen(DL_LOG_DIR);
    if (strncmp(key, DL_LOG_DIR, pl) != 0)
        return LF_OTHER;
    const char *n = key + pl;
    size_t len = strlen(n);
    if (len < 25 || !all_digits(n, 20) || n[20] != '.')
        return LF_OTHER;
    *version = strtoll(n, NULL, 10);
    const char *rest = n + 21;
    if (strcmp(rest, "json") == 0)
        return LF_COMMIT;
    if (strcmp(rest, "checkpoint.parquet") == 0)
        return LF_CHECKPOINT;
    /* checkpoint.0000000001.0000000003.parquet */
    if (strncmp(rest, "checkpoint.", 11) == 0 && strlen(rest) == 11 + 10 + 1 + 10 + 8 &&
        all_digits(rest + 11, 10) && rest[21] == '.' && all_digits(rest + 22, 10) &&
        strcmp(rest + 32, ".parquet") == 0) {
        *part = (int)strtol(rest + 11, NULL, 10);
        *nparts = (int)strtol(rest + 22, NULL, 10);
        if (*part < 1 || *nparts < 1 || *part > *nparts)
            return LF_OTHER;
        return LF_CHECKPOINT_PART;
    }
    return LF_OTHER;
}

struct logfile {
    int64_t version;
    char *key;
    int64_t mtime;
};

struct cpinfo {
    int64_t version;
    int nparts;  /* 1 for single file */
    char **keys; /* nparts keys, part order; NULL entries when missing */
    bool single;
};

struct loglist {
    struct logfile *commits; /* sorted by version */
    size_t ncommits, cap_commits;
    struct cpinfo *cps;
    size_t ncps, cap_cps;
};

static void loglist_free(struct loglist *l)
{
    for (size_t i = 0; i < l->ncommits; i++)
        weir_free(l->commits[i].key);
    weir_free(l->commits);
    for (size_t i = 0; i < l->ncps; i++) {
        for (int j = 0; l->cps[i].keys && j < l->cps[i].nparts; j++)
            weir_free(l->cps[i].keys[j]);
        weir_free(l->cps[i].keys);
    }
    weir_free(l->cps);
    memset(l, 0, sizeof(*l));
}

static struct cpinfo *cp_find(struct loglist *l, int64_t v, int nparts, bool single)
{
    for (size_t i = 0; i < l->ncps; i++)
        if (l->cps[i].version == v && l->cps[i].nparts == nparts && l->cps[i].single == single)
            return &l->cps[i];
    struct cpinfo *c = dl_grow((void **)&l->cps, &l->ncps, &l->cap_cps, sizeof(*c));
    if (!c)
        return NULL;
    c->version = v;
    c->nparts = nparts;
    c->single = single;
    c->keys = weir_calloc((size_t)nparts, sizeof(char *));
    if (!c->keys) {
        l->ncps--;
        return NULL;
    }
    return c;
}

static int cmp_logfile(const void *a, const void *b)
{
    const struct logfile *x = a, *y = b;
    return x->version < y->version ? -1 : x->version > y->version;
}

static int loglist_build(struct weir_delta_table *t, int64_t start_from, struct loglist *l,
                         struct weir_error *err)
{
    struct weir_object_list ol = {0};
    char start[64];
    int rc;
    memset(l, 0, sizeof(*l));
    if (start_from > 0)
        snprintf(start, sizeof(start), DL_LOG_DIR "%020lld", (long long)start_from);
    rc = weir_store_list(t->store, DL_LOG_DIR, start_from > 0 ? start : NULL, false, &ol, err);
    if (rc == WEIR_ENOTFOUND) {
        weir_error_clear(err);
        rc = 0;
    }
    if (rc)
        goto done;
    for (size_t i = 0; i < ol.count; i++) {
        int64_t v = 0;
        int part = 0, nparts = 0;
        enum lf_kind k = classify(ol.items[i].key, &v, &part, &nparts);
        if (k == LF_COMMIT) {
            struct logfile *f = dl_grow((void **)&l->commits, &l->ncommits, &l->cap_commits, sizeof(*f));
            if (!f || !(f->key = weir_strdup(ol.items[i].key))) {
                if (f)
                    l->ncommits--;
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory listing %s_delta_log", t->root);
                goto done;
            }
            f->version = v;
            f->mtime = ol.items[i].mtime_ms;
        } else if (k == LF_CHECKPOINT || k == LF_CHECKPOINT_PART) {
            bool single = k == LF_CHECKPOINT;
            struct cpinfo *c = cp_find(l, v, single ? 1 : nparts, single);
            char *key = c ? weir_strdup(ol.items[i].key) : NULL;
            if (!key) {
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory listing %s/_delta_log", t->root);
                goto done;
            }
            int idx = single ? 0 : part - 1;
            weir_free(c->keys[idx]);
            c->keys[idx] = key;
        }
    }
    if (l->ncommits > 1)
        qsort(l->commits, l->ncommits, sizeof(*l->commits), cmp_logfile);
done:
    weir_object_list_free(&ol);
    if (rc)
        loglist_free(l);
    return rc;
}

static bool cp_complete(const struct cpinfo *c)
{
    for (int i = 0; i < c->nparts; i++)
        if (!c->keys[i])
            return false;
    return true;
}

static int64_t loglist_latest(const struct loglist *l)
{
    int64_t v = -1;
    if (l->ncommits)
        v = l->commits[l->ncommits - 1].version;
    for (size_t i = 0; i < l->ncps; i++)
        if (cp_complete(&l->cps[i]) && l->cps[i].version > v)
            v = l->cps[i].version;
    return v;
}

int weir_delta_table_latest_version(struct weir_delta_table *t, int64_t *version, struct weir_error *err)
{
    struct loglist l;
    int rc = loglist_build(t, -1, &l, err);
    if (rc)
        return rc;
    *version = loglist_latest(&l);
    loglist_free(&l);
    if (*version < 0)
        return weir_error_set(err, WEIR_ENOTFOUND, "%s is not a Delta table (no commits in _delta_log)",
                              t->root);
    return 0;
}

/* _last_checkpoint's version, or -1 when missing or unreadable. */
static int64_t read_last_checkpoint(struct weir_delta_table *t)
{
    struct weir_buf b;
    int64_t v = -1;
    weir_buf_init(&b);
    if (weir_store_get(t->store, DL_LOG_DIR "_last_checkpoint", &b, NULL) == 0 && b.len > 0) {
        cJSON *j = cJSON_ParseWithLength((const char *)b.data, b.len);
        const cJSON *vv = j ? cJSON_GetObjectItemCaseSensitive(j, "version") : NULL;
        if (cJSON_IsNumber(vv) && vv->valuedouble >= 0 && vv->valuedouble < 1e15)
            v = (int64_t)vv->valuedouble;
        cJSON_Delete(j);
    }
    weir_buf_free(&b);
    return v;
}

/* ------------------------------------------------------------- replay state */

enum { E_ADD = 1, E_REMOVE = 2 };

struct fentry {
    char *key; /* path [+ "\x01" + dv id] */
    int kind;
    struct weir_delta_add add;
    struct weir_delta_remove rm;
};

struct replay {
    struct fentry *ents;
    size_t nents, cap_ents;
    size_t *slots; /* hash: index+1, 0 empty */
    size_t nslots;
    struct weir_delta_snapshot *s;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int replay_rehash(struct replay *r, size_t nslots)
{
    size_t *sl = weir_calloc(nslots, sizeof(size_t));
    if (!sl)
        return WEIR_ENOMEM;
    for (size_t i = 0; i < r->nents; i++) {
        size_t h = (size_t)(hash_str(r->ents[i].key) & (nslots - 1));
        while (sl[h])
            h = (h + 1) & (nslots - 1);
        sl[h] = i + 1;
    }
    weir_free(r->slots);
    r->slots = sl;
    r->nslots = nslots;
    return 0;
}

static char *file_key(const char *path, bool has_dv, const struct weir_delta_dv *dv)
{
    if (!has_dv)
        return weir_strdup(path);
    if (dv->has_offset)
        return weir_asprintf("%s\x01%s%s@%d", path, dv->storage_type ? dv->storage_type : "",
                             dv->path_or_inline_dv ? dv->path_or_inline_dv : "", (int)dv->offset);
    return weir_asprintf("%s\x01%s%s", path, dv->storage_type ? dv->storage_type : "",
                         dv->path_or_inline_dv ? dv->path_or_inline_dv : "");
}

/* Find or create the entry for key (takes ownership of key). */
static struct fentry *replay_slot(struct replay *r, char *key)
{
    if (!key)
        return NULL;
    if ((r->nents + 1) * 2 > r->nslots && replay_rehash(r, r->nslots ? r->nslots * 2 : 1024) != 0) {
        weir_free(key);
        return NULL;
    }
    size_t h = (size_t)(hash_str(key) & (r->nslots - 1));
    while (r->slots[h]) {
        struct fentry *e = &r->ents[r->slots[h] - 1];
        if (strcmp(e->key, key) == 0) {
            weir_free(key);
            if (e->kind == E_ADD)
                weir_delta_add_clear(&e->add);
            else if (e->kind == E_REMOVE)
                weir_delta_remove_clear(&e->rm);
            e->kind = 0;
            return e;
        }
        h = (h + 1) & (r->nslots - 1);
    }
    struct fentry *e = dl_grow((void **)&r->ents, &r->nents, &r->cap_ents, sizeof(*e));
    if (!e) {
        weir_free(key);
        return NULL;
    }
    e->key = key;
    r->slots[h] = r->nents;
    return e;
}

static int replay_apply(struct replay *r, struct weir_delta_actions *a)
{
    struct weir_delta_snapshot *s = r->s;
    if (a->protocol) {
        weir_delta_protocol_free(s->protocol);
        s->protocol = a->protocol;
        a->protocol = NULL;
    }
    if (a->metadata) {
        weir_delta_metadata_free(s->metadata);
        s->metadata = a->metadata;
        a->metadata = NULL;
    }
    for (size_t i = 0; i < a->n_txns; i++) {
        struct weir_delta_txn *t = &a->txns[i];
        size_t j;
        for (j = 0; j < s->ntxns; j++)
            if (strcmp(s->txns[j].app_id, t->app_id) == 0)
                break;
        if (j == s->ntxns) {
            struct weir_delta_txn *n = dl_grow((void **)&s->txns, &s->ntxns, &s->cap_txns, sizeof(*n));
            if (!n)
                return WEIR_ENOMEM;
            *n = *t;
        } else {
            dl_txn_clear(&s->txns[j]);
            s->txns[j] = *t;
        }
        memset(t, 0, sizeof(*t));
    }
    for (size_t i = 0; i < a->n_domains; i++) {
        struct weir_delta_domain *d = &a->domains[i];
        size_t j;
        for (j = 0; j < s->ndomains; j++)
            if (strcmp(s->domains[j].domain, d->domain) == 0)
                break;
        if (j == s->ndomains) {
            struct weir_delta_domain *n =
                dl_grow((void **)&s->domains, &s->ndomains, &s->cap_domains, sizeof(*n));
            if (!n)
                return WEIR_ENOMEM;
            *n = *d;
        } else {
            dl_domain_clear(&s->domains[j]);
            s->domains[j] = *d;
        }
        memset(d, 0, sizeof(*d));
    }
    for (size_t i = 0; i < a->n_removes; i++) {
        struct weir_delta_remove *rm = &a->removes[i];
        struct fentry *e = replay_slot(r, file_key(rm->path, rm->has_deletion_vector, &rm->dv));
        if (!e)
            return WEIR_ENOMEM;
        e->kind = E_REMOVE;
        e->rm = *rm;
        memset(rm, 0, sizeof(*rm));
    }
    for (size_t i = 0; i < a->n_adds; i++) {
        struct weir_delta_add *ad = &a->adds[i];
        struct fentry *e = replay_slot(r, file_key(ad->path, ad->has_deletion_vector, &ad->dv));
        if (!e)
            return WEIR_ENOMEM;
        e->kind = E_ADD;
        e->add = *ad;
        memset(ad, 0, sizeof(*ad));
    }
    return 0;
}

static int cmp_add(const void *a, const void *b)
{
    return strcmp(((const struct weir_delta_add *)a)->path, ((const struct weir_delta_add *)b)->path);
}

static int cmp_rm(const void *a, const void *b)
{
    return strcmp(((const struct weir_delta_remove *)a)->path, ((const struct weir_delta_remove *)b)->path);
}

static int replay_finish(struct replay *r)
{
    struct weir_delta_snapshot *s = r->s;
    size_t na = 0, nr = 0;
    for (size_t i = 0; i < r->nents; i++) {
        if (r->ents[i].kind == E_ADD)
            na++;
        else if (r->ents[i].kind == E_REMOVE)
            nr++;
    }
    s->files = weir_calloc(na ? na : 1, sizeof(*s->files));
    s->tombstones = weir_calloc(nr ? nr : 1, sizeof(*s->tombstones));
    if (!s->files || !s->tombstones)
        return WEIR_ENOMEM;
    for (size_t i = 0; i < r->nents; i++) {
        struct fentry *e = &r->ents[i];
        if (e->kind == E_ADD) {
            s->files[s->nfiles++] = e->add;
            memset(&e->add, 0, sizeof(e->add));
        } else if (e->kind == E_REMOVE) {
            s->tombstones[s->ntombstones++] = e->rm;
            memset(&e->rm, 0, sizeof(e->rm));
        }
        e->kind = 0;
    }
    qsort(s->files, s->nfiles, sizeof(*s->files), cmp_add);
    qsort(s->tombstones, s->ntombstones, sizeof(*s->tombstones), cmp_rm);
    return 0;
}

static void replay_free(struct replay *r)
{
    for (size_t i = 0; i < r->nents; i++) {
        weir_free(r->ents[i].key);
        if (r->ents[i].kind == E_ADD)
            weir_delta_add_clear(&r->ents[i].add);
        else if (r->ents[i].kind == E_REMOVE)
            weir_delta_remove_clear(&r->ents[i].rm);
    }
    weir_free(r->ents);
    weir_free(r->slots);
    memset(r, 0, sizeof(*r));
}

void weir_delta_snapshot_destroy(struct weir_delta_snapshot *s)
{
    if (!s)
        return;
    weir_delta_protocol_free(s->protocol);
    weir_delta_metadata_free(s->metadata);
    for (size_t i = 0; i < s->nfiles; i++)
        weir_delta_add_clear(&s->files[i]);
    weir_free(s->files);
    for (size_t i = 0; i < s->ntombstones; i++)
        weir_delta_remove_clear(&s->tombstones[i]);
    weir_free(s->tombstones);
    for (size_t i = 0; i < s->ntxns; i++)
        dl_txn_clear(&s->txns[i]);
    weir_free(s->txns);
    for (size_t i = 0; i < s->ndomains; i++)
        dl_domain_clear(&s->domains[i]);
    weir_free(s->domains);
    weir_free(s);
}

/* Read one commit file into `a`. */
static int read_commit(struct weir_delta_table *t, const char *key, struct weir_delta_actions *a,
                       struct weir_error *err)
{
    struct weir_buf b;
    weir_buf_init(&b);
    int rc = weir_store_get(t->store, key, &b, err);
    if (rc == 0)
        rc = weir_delta_actions_parse((const char *)b.data, b.len, key, a, err);
    weir_buf_free(&b);
    return rc;
}

static int read_checkpoint(struct weir_delta_table *t, const struct cpinfo *c, struct weir_delta_actions *a,
                           struct weir_error *err)
{
    int rc = 0;
    for (int i = 0; i < c->nparts && rc == 0; i++) {
        struct weir_input in;
        rc = weir_store_input_open(t->store, c->keys[i], &in, err);
        if (rc)
            break;
        rc = weir_delta_checkpoint_read(&in, a, err);
        weir_store_input_close(&in);
    }
    return rc;
}

static const struct logfile *find_commit(const struct loglist *l, int64_t v)
{
    size_t lo = 0, hi = l->ncommits;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (l->commits[mid].version < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < l->ncommits && l->commits[lo].version == v)
        return &l->commits[lo];
    return NULL;
}

/* Try to build the snapshot from listing l. Returns WEIR_EAGAIN-like
 * WEIR_RETRY when the listing lacks what is needed (caller re-lists all). */
static int load_from(struct weir_delta_table *t, const struct loglist *l, int64_t version, bool full_listing,
                     struct weir_delta_snapshot **out, struct weir_error *err)
{
    int64_t latest = loglist_latest(l);
    int rc = 0;
    struct replay r = {0};
    struct weir_delta_actions a;
    weir_delta_actions_init(&a);
    if (latest < 0) {
        if (!full_listing)
            return WEIR_ERETRY;
        return weir_error_set(err, WEIR_ENOTFOUND, "%s is not a Delta table (no commits in _delta_log)",
                              t->root);
    }
    if (version < 0)
        version = latest;
    if (version > latest)
        return weir_error_set(err, WEIR_ENOTFOUND, "%s: version %lld does not exist (latest is %lld)",
                              t->root, (long long)version, (long long)latest);
    /* candidate checkpoints, newest first */
    const struct cpinfo *cands[64];
    size_t ncands = 0;
    struct weir_error cp_err = {0};
    char cp_key[256] = "";
    bool cp_bad = false;
    for (;;) {
        const struct cpinfo *best = NULL;
        for (size_t i = 0; i < l->ncps; i++) {
            const struct cpinfo *c = &l->cps[i];
            if (c->version > version || !cp_complete(c))
                continue;
            bool seen = false;
            for (size_t j = 0; j < ncands; j++)
                seen |= cands[j] == c;
            if (seen)
                continue;
            if (ncands && c->version > cands[ncands - 1]->version)
                continue;
            if (!best || c->version > best->version || (c->version == best->version && c->single))
                best = c;
        }
        if (!best || ncands == 64)
            break;
        cands[ncands++] = best;
    }
    for (size_t ci = 0; ci <= ncands; ci++) {
        const struct cpinfo *cp = ci < ncands ? cands[ci] : NULL;
        int64_t from = cp ? cp->version + 1 : 0;
        /* all commits from..version must be present */
        int64_t missing = -1;
        for (int64_t v = from; v <= version; v++)
            if (!find_commit(l, v)) {
                missing = v;
                break;
            }
        if (missing >= 0) {
            if (!full_listing) {
                rc = WEIR_ERETRY;
                goto done;
            }
            if (cp_bad) {
                rc = weir_error_set(err, WEIR_ECORRUPT,
                                    "%s: checkpoint %s is unreadable (%s) and commit %020lld.json, needed "
                                    "to replay around it, is gone",
                                    t->root, cp_key, cp_err.message, (long long)missing);
                goto done;
            }
            if (cp) {
                rc = weir_error_set(err, WEIR_ECORRUPT,
                                    "%s: _delta_log is missing commit %020lld.json after checkpoint %lld "
                                    "(versions must be contiguous)",
                                    t->root, (long long)missing, (long long)cp->version);
                goto done;
            }
            if (!full_listing) {
                rc = WEIR_ERETRY;
                goto done;
            }
            if (missing == 0 && ncands == 0 && l->ncommits && l->commits[0].version > 0 && l->ncps == 0)
                rc = weir_error_set(err, WEIR_ENOTFOUND,
                                    "%s: version %lld cannot be reconstructed: commits before %lld were "
                                    "cleaned up and no checkpoint covers them",
                                    t->root, (long long)version, (long long)l->commits[0].version);
            else if (missing == 0 || ncands)
                rc = weir_error_set(err, WEIR_ENOTFOUND,
                                    "%s: version %lld cannot be reconstructed (no commit 0 and no usable "
                                    "checkpoint at or before it)",
                                    t->root, (long long)version);
            else
                rc = weir_error_set(
                    err, WEIR_ECORRUPT,
                    "%s: _delta_log is missing commit %020lld.json (versions must be contiguous)", t->root,
                    (long long)missing);
            goto done;
        }
        r.s = weir_calloc(1, sizeof(*r.s));
        if (!r.s) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory loading %s", t->root);
            goto done;
        }
        r.s->checkpoint_version = -1;
        if (cp) {
            struct weir_error cerr = {0};
            rc = read_checkpoint(t, cp, &a, &cerr);
            if (rc == 0)
                rc = replay_apply(&r, &a);
            weir_delta_actions_free(&a);
            if (rc == WEIR_ENOMEM) {
                weir_error_set(err, WEIR_ENOMEM, "out of memory reading checkpoint %lld of %s",
                               (long long)cp->version, t->root);
                goto done;
            }
            if (rc) {
                /* A complete but unreadable checkpoint: never used, always
                 * reported. While the commits it summarises (or an older
                 * checkpoint) still exist, replay from those with a warning;
                 * otherwise the load fails naming the checkpoint. */
                if (!cp_bad) {
                    cp_bad = true;
                    cp_err = cerr;
                    snprintf(cp_key, sizeof(cp_key), "%s", cp->keys[0]);
                }
                weir_delta_snapshot_destroy(r.s);
                replay_free(&r);
                r.s = NULL;
                rc = 0;
                continue;
            }
            r.s->checkpoint_version = cp->version;
        }
        for (int64_t v = from; v <= version; v++) {
            const struct logfile *f = find_commit(l, v);
            rc = read_commit(t, f->key, &a, err);
            if (rc == 0)
                rc = replay_apply(&r, &a);
            weir_delta_actions_free(&a);
            if (rc) {
                if (rc == WEIR_ENOMEM)
                    weir_error_set(err, WEIR_ENOMEM, "out of memory replaying %s", f->key);
                goto done;
            }
        }
        if (!r.s->protocol || !r.s->metadata) {
            rc = weir_error_set(err, WEIR_ECORRUPT, "%s: the log up to version %lld has no %s action",
                                t->root, (long long)version, !r.s->protocol ? "protocol" : "metaData");
            goto done;
        }
        if ((rc = replay_finish(&r))) {
            weir_error_set(err, WEIR_ENOMEM, "out of memory loading %s", t->root);
            goto done;
        }
        r.s->version = version;
        if (cp_bad)
            WEIR_WARN("%s: checkpoint %s is unreadable (%s); loaded version %lld from %s instead", t->root,
                      cp_key, cp_err.message, (long long)version,
                      r.s->checkpoint_version >= 0 ? "an older checkpoint and the commits"
                                                   : "the JSON commits");
        *out = r.s;
        r.s = NULL;
        goto done;
    }
    rc = full_listing ? weir_error_set(err, WEIR_ECORRUPT, "%s: no readable checkpoint or log", t->root)
                      : WEIR_ERETRY;
done:
    weir_delta_actions_free(&a);
    if (r.s)
        weir_delta_snapshot_destroy(r.s);
    replay_free(&r);
    return rc;
}

int dl_snapshot_advance(struct weir_delta_table *t, struct weir_delta_snapshot *s, struct weir_error *err)
{
    struct loglist l;
    struct replay r = {0};
    struct weir_delta_actions a;
    char start[64];
    int rc;
    weir_delta_actions_init(&a);
    /* keys after "<v>.json": later commits (and later checkpoints, unused) */
    snprintf(start, sizeof(start), DL_LOG_DIR "%020lld.json", (long long)s->version);
    memset(&l, 0, sizeof(l));
    struct weir_object_list ol = {0};
    rc = weir_store_list(t->store, DL_LOG_DIR, start, false, &ol, err);
    if (rc)
        return rc;
    /* commits only, in order, contiguous from version+1 */
    int64_t next = s->version + 1;
    for (size_t i = 0; i < ol.count; i++) {
        int64_t v = 0;
        int part, nparts;
        if (classify(ol.items[i].key, &v, &part, &nparts) != LF_COMMIT)
            continue;
        struct logfile *f = dl_grow((void **)&l.commits, &l.ncommits, &l.cap_commits, sizeof(*f));
        if (!f || !(f->key = weir_strdup(ol.items[i].key))) {
            if (f)
                l.ncommits--;
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory listing %s/_delta_log", t->root);
            goto done;
        }
        f->version = v;
    }
    if (l.ncommits > 1)
        qsort(l.commits, l.ncommits, sizeof(*l.commits), cmp_logfile);
    if (l.ncommits == 0)
        goto done;
    for (size_t i = 0; i < l.ncommits; i++)
        if (l.commits[i].version != next + (int64_t)i) {
            rc = weir_error_set(err, WEIR_ECORRUPT,
                                "%s: _delta_log is missing commit %020lld.json (versions must be contiguous)",
                                t->root, (long long)(next + (int64_t)i));
            goto done;
        }
    /* move the live files and tombstones back into a replay map */
    r.s = s;
    for (size_t i = 0; i < s->nfiles; i++) {
        struct weir_delta_add *ad = &s->files[i];
        struct fentry *e = replay_slot(&r, file_key(ad->path, ad->has_deletion_vector, &ad->dv));
        if (!e) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory updating %s", t->root);
            goto done;
        }
        e->kind = E_ADD;
        e->add = *ad;
        memset(ad, 0, sizeof(*ad));
    }
    for (size_t i = 0; i < s->ntombstones; i++) {
        struct weir_delta_remove *rm = &s->tombstones[i];
        struct fentry *e = replay_slot(&r, file_key(rm->path, rm->has_deletion_vector, &rm->dv));
        if (!e) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory updating %s", t->root);
            goto done;
        }
        e->kind = E_REMOVE;
        e->rm = *rm;
        memset(rm, 0, sizeof(*rm));
    }
    weir_free(s->files);
    weir_free(s->tombstones);
    s->files = NULL;
    s->tombstones = NULL;
    s->nfiles = s->ntombstones = 0;
    for (size_t i = 0; i < l.ncommits; i++) {
        rc = read_commit(t, l.commits[i].key, &a, err);
        if (rc == 0)
            rc = replay_apply(&r, &a);
        weir_delta_actions_free(&a);
        if (rc) {
            if (rc == WEIR_ENOMEM)
                weir_error_set(err, WEIR_ENOMEM, "out of memory replaying %s", l.commits[i].key);
            goto done;
        }
        s->version = l.commits[i].version;
    }
    if ((rc = replay_finish(&r)))
        weir_error_set(err, WEIR_ENOMEM, "out of memory updating %s", t->root);
done:
    weir_delta_actions_free(&a);
    replay_free(&r);
    loglist_free(&l);
    weir_object_list_free(&ol);
    return rc;
}

int weir_delta_snapshot_load(struct weir_delta_table *t, int64_t version, struct weir_delta_snapshot **out,
                             struct weir_error *err)
{
    struct loglist l;
    int rc;
    *out = NULL;
    int64_t hint = read_last_checkpoint(t);
    if (hint > 0 && (version < 0 || hint <= version)) {
        rc = loglist_build(t, hint, &l, err);
        if (rc)
            return rc;
        struct weir_error e2 = {0};
        rc = load_from(t, &l, version, false, out, &e2);
        loglist_free(&l);
        if (rc == 0)
            return 0;
        if (rc != WEIR_ERETRY && rc != WEIR_ECORRUPT) {
            if (err)
                *err = e2;
            return rc;
        }
        /* the hint was stale or unusable: list everything */
    }
    rc = loglist_build(t, -1, &l, err);
    if (rc)
        return rc;
    rc = load_from(t, &l, version, true, out, err);
    loglist_free(&l);
    return rc;
}

/* ------------------------------------------------------------- accessors */

int64_t weir_delta_snapshot_version(const struct weir_delta_snapshot *s)
{
    return s->version;
}
const struct weir_delta_protocol *weir_delta_snapshot_protocol(const struct weir_delta_snapshot *s)
{
    return s->protocol;
}
const struct weir_delta_metadata *weir_delta_snapshot_metadata(const struct weir_delta_snapshot *s)
{
    return s->metadata;
}
size_t weir_delta_snapshot_num_files(const struct weir_delta_snapshot *s)
{
    return s->nfiles;
}
const struct weir_delta_add *weir_delta_snapshot_file(const struct weir_delta_snapshot *s, size_t i)
{
    return i < s->nfiles ? &s->files[i] : NULL;
}
size_t weir_delta_snapshot_num_tombstones(const struct weir_delta_snapshot *s)
{
    return s->ntombstones;
}
const struct weir_delta_remove *weir_delta_snapshot_tombstone(const struct weir_delta_snapshot *s, size_t i)
{
    return i < s->ntombstones ? &s->tombstones[i] : NULL;
}
size_t weir_delta_snapshot_num_txns(const struct weir_delta_snapshot *s)
{
    return s->ntxns;
}
const struct weir_delta_txn *weir_delta_snapshot_txn(const struct weir_delta_snapshot *s, size_t i)
{
    return i < s->ntxns ? &s->txns[i] : NULL;
}
int64_t weir_delta_snapshot_txn_version(const struct weir_delta_snapshot *s, const char *app_id)
{
    for (size_t i = 0; i < s->ntxns; i++)
        if (strcmp(s->txns[i].app_id, app_id) == 0)
            return s->txns[i].version;
    return -1;
}
size_t weir_delta_snapshot_num_domains(const struct weir_delta_snapshot *s)
{
    return s->ndomains;
}
const struct weir_delta_domain *weir_delta_snapshot_domain(const struct weir_delta_snapshot *s, size_t i)
{
    return i < s->ndomains ? &s->domains[i] : NULL;
}
int64_t weir_delta_snapshot_checkpoint_version(const struct weir_delta_snapshot *s)
{
    return s->checkpoint_version;
}

int64_t weir_delta_snapshot_total_bytes(const struct weir_delta_snapshot *s)
{
    int64_t n = 0;
    for (size_t i = 0; i < s->nfiles; i++)
        n += s->files[i].size;
    return n;
}

int64_t weir_delta_snapshot_total_rows(const struct weir_delta_snapshot *s)
{
    int64_t n = 0;
    for (size_t i = 0; i < s->nfiles; i++) {
        if (!s->files[i].stats)
            return -1;
        cJSON *j = cJSON_Parse(s->files[i].stats);
        const cJSON *nr = j ? cJSON_GetObjectItemCaseSensitive(j, "numRecords") : NULL;
        bool ok = cJSON_IsNumber(nr) && nr->valuedouble >= 0 && nr->valuedouble < 9.2e18;
        if (ok)
            n += (int64_t)nr->valuedouble;
        cJSON_Delete(j);
        if (!ok)
            return -1;
    }
    return n;
}

/* ------------------------------------------------------------- feature checks */

static bool column_mapping_on(const struct weir_delta_metadata *m)
{
    const char *mode = weir_delta_metadata_config(m, "delta.columnMapping.mode");
    return mode && strcmp(mode, "none") != 0;
}

int weir_delta_snapshot_check_read(const struct weir_delta_snapshot *s, struct weir_error *err)
{
    const struct weir_delta_protocol *p = s->protocol;
    if (p->min_reader_version > 3)
        return weir_error_set(err, WEIR_EUNSUPPORTED,
                              "table requires reader version %d, weir reads versions up to 3",
                              p->min_reader_version);
    if (p->min_reader_version == 3) {
        for (size_t i = 0; i < p->n_reader_features; i++) {
            const char *f = p->reader_features[i];
            if (strcmp(f, "timestampNtz") == 0 || strcmp(f, "vacuumProtocolCheck") == 0 ||
                strcmp(f, "columnMapping") == 0 /* the mode is checked below */)
                continue;
            if (strcmp(f, "deletionVectors") == 0) {
                /* readable as long as no live file carries a deletion vector */
                for (size_t k = 0; k < s->nfiles; k++)
                    if (s->files[k].has_deletion_vector)
                        return weir_error_set(
                            err, WEIR_EUNSUPPORTED,
                            "table requires reader feature 'deletionVectors' (file %s has a "
                            "deletion vector), which weir does not support",
                            s->files[k].path);
                continue;
            }
            return weir_error_set(err, WEIR_EUNSUPPORTED,
                                  "table requires reader feature '%s', which weir does not support", f);
        }
    }
    if (column_mapping_on(s->metadata))
        return weir_error_set(err, WEIR_EUNSUPPORTED,
                              "table requires reader feature 'columnMapping' (mode '%s'), which weir does "
                              "not support",
                              weir_delta_metadata_config(s->metadata, "delta.columnMapping.mode"));
    if (s->metadata->schema_error)
        return weir_error_set(err, WEIR_EUNSUPPORTED, "table schema: %s", s->metadata->schema_error);
    return 0;
}

/* Does any field (recursively) carry metadata key `k`? */
static bool type_has_meta(const struct weir_type *t, const char *k)
{
    if (!t)
        return false;
    if (t->kind == WEIR_TYPE_STRUCT)
        for (size_t i = 0; i < t->nfields; i++) {
            if (t->fields[i].metadata && strstr(t->fields[i].metadata, k))
                return true;
            if (type_has_meta(t->fields[i].type, k))
                return true;
        }
    return type_has_meta(t->element, k) || type_has_meta(t->key, k) || type_has_meta(t->value, k);
}

int weir_delta_snapshot_check_write(const struct weir_delta_snapshot *s, struct weir_error *err)
{
    const struct weir_delta_protocol *p = s->protocol;
    const struct weir_delta_metadata *m = s->metadata;
    static const char *const known[] = {"appendOnly",          "invariants",      "checkConstraints",
                                        "changeDataFeed",      "timestampNtz",    "domainMetadata",
                                        "vacuumProtocolCheck", "deletionVectors", "columnMapping",
                                        "generatedColumns",    "identityColumns"};
    if (p->min_writer_version > 7)
        return weir_error_set(err, WEIR_EUNSUPPORTED,
                              "table requires writer version %d, weir writes versions up to 7",
                              p->min_writer_version);
    if (p->min_writer_version == 7)
        for (size_t i = 0; i < p->n_writer_features; i++) {
            bool ok = false;
            for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
                ok |= strcmp(known[k], p->writer_features[i]) == 0;
            if (!ok)
                return weir_error_set(err, WEIR_EUNSUPPORTED,
                                      "table requires writer feature '%s', which weir does not support",
                                      p->writer_features[i]);
        }
    if (m->schema_error)
        return weir_error_set(err, WEIR_EUNSUPPORTED, "table schema: %s", m->schema_error);
    if (column_mapping_on(m))
        return weir_error_set(err, WEIR_EUNSUPPORTED,
                              "table uses column mapping, which weir does not support for writing");
    if (type_has_meta(m->schema, "delta.invariants"))
        return weir_error_set(err, WEIR_EUNSUPPORTED,
                              "table has column invariants (delta.invariants), which weir does not enforce");
    if (type_has_meta(m->schema, "delta.generationExpression"))
        return weir_error_set(err, WEIR_EUNSUPPORTED,
                              "table has generated columns, which weir does not compute");
    if (type_has_meta(m->schema, "delta.identity"))
        return weir_error_set(err, WEIR_EUNSUPPORTED, "table has identity columns, which weir does not fill");
    for (size_t i = 0; i < m->n_configuration; i++)
        if (strncmp(m->configuration[i].key, "delta.constraints.", 18) == 0)
            return weir_error_set(err, WEIR_EUNSUPPORTED,
                                  "table has CHECK constraint '%s', which weir does not enforce",
                                  m->configuration[i].key + 18);
    return 0;
}

/* ------------------------------------------------------------- history */

void weir_delta_history_free(struct weir_delta_history_entry *h, size_t count)
{
    for (size_t i = 0; h && i < count; i++)
        weir_free(h[i].commit_info);
    weir_free(h);
}

int weir_delta_history(struct weir_delta_table *t, int64_t limit, struct weir_delta_history_entry **out,
                       size_t *count, struct weir_error *err)
{
    struct loglist l;
    struct weir_delta_history_entry *h = NULL;
    size_t n = 0;
    int rc = loglist_build(t, -1, &l, err);
    *out = NULL;
    *count = 0;
    if (rc)
        return rc;
    if (l.ncommits == 0) {
        rc = weir_error_set(err, WEIR_ENOTFOUND, "%s is not a Delta table (no commits in _delta_log)",
                            t->root);
        goto done;
    }
    size_t want = l.ncommits;
    if (limit > 0 && (size_t)limit < want)
        want = (size_t)limit;
    h = weir_calloc(want, sizeof(*h));
    if (!h) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory reading history of %s", t->root);
        goto done;
    }
    for (size_t i = 0; i < want; i++) {
        const struct logfile *f = &l.commits[l.ncommits - 1 - i];
        struct weir_delta_actions a;
        weir_delta_actions_init(&a);
        rc = read_commit(t, f->key, &a, err);
        if (rc) {
            weir_delta_actions_free(&a);
            goto done;
        }
        h[n].version = f->version;
        h[n].timestamp = a.commit_timestamp >= 0 ? a.commit_timestamp : f->mtime;
        h[n].commit_info = a.commit_info;
        a.commit_info = NULL;
        n++;
        weir_delta_actions_free(&a);
    }
done:
    loglist_free(&l);
    if (rc) {
        weir_delta_history_free(h, n);
        return rc;
    }
    *out = h;
    *count = n;
    return 0;
}

int weir_delta_version_at_timestamp(struct weir_delta_table *t, int64_t ts_ms, int64_t *version,
                                    struct weir_error *err)
{
    struct weir_delta_history_entry *h = NULL;
    size_t n = 0;
    int rc = weir_delta_history(t, 0, &h, &n, err);
    if (rc)
        return rc;
    rc = WEIR_ENOTFOUND;
    /* newest first; commit timestamps are monotonic in practice */
    for (size_t i = 0; i < n; i++)
        if (h[i].timestamp <= ts_ms) {
            *version = h[i].version;
            rc = 0;
            break;
        }
    if (rc)
        weir_error_set(err, WEIR_ENOTFOUND, "%s: timestamp %lld is before the earliest available commit",
                       t->root, (long long)ts_ms);
    weir_delta_history_free(h, n);
    return rc;
}
