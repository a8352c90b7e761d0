/* state/replica.c - versions of a local RocksDB database on a store (see
 * replica.h).
 *
 * Owns: the prefix, the manifests read or written (version, id, files;
 * kept ascending by version) and the index of the base version. The store
 * is borrowed.
 *
 * Invariants: every object a kept manifest names exists (uploads precede
 * the manifest; drop deletes the manifest before the objects it alone
 * used); an uploaded object is never rewritten (fresh name per upload).
 *
 * Threading: one thread at a time. */
#include "state/replica.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <rocksdb/c.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"
#include "storage/sign.h"
#include "storage/storage.h"

#define REPLICA_CHUNK      (4u << 20)  /* bytes per read when copying a file */
#define REPLICA_INLINE_MAX (64u << 20) /* largest non-table file kept in a manifest */
#define REPLICA_MARK       ".replica-id"
#define REPLICA_MAX_EXACT  9007199254740992.0 /* integers above are not exact in a double */

struct rfile {
    char *name; /* in the database directory */
    uint64_t size;
    char *object; /* store key; NULL: data inline */
    char *data;   /* base64, inline files only */
};

struct rversion {
    int64_t v;
    char id[37];
    struct rfile *files;
    size_t n;
};

struct weir_replica {
    struct weir_store *store;
    char *prefix; /* no trailing '/' */
    struct rversion *vers;
    size_t nv, cap;
    int64_t base; /* -1: none */
};

static int nomem(struct weir_error *err)
{
    return weir_error_set(err, WEIR_ENOMEM, "out of memory");
}

static int io_fail(struct weir_error *err, int e, const char *what, const char *path)
{
    return weir_error_set(err, WEIR_EIO, "state replica: %s '%s': %s", what, path, strerror(e));
}

static void rversion_free(struct rversion *rv)
{
    for (size_t i = 0; i < rv->n; i++) {
        weir_free(rv->files[i].name);
        weir_free(rv->files[i].object);
        weir_free(rv->files[i].data);
    }
    weir_free(rv->files);
    memset(rv, 0, sizeof *rv);
}

static struct rversion *find(const struct weir_replica *r, int64_t v)
{
    for (size_t i = 0; i < r->nv; i++)
        if (r->vers[i].v == v)
            return &r->vers[i];
    return NULL;
}

static char *manifest_key(const struct weir_replica *r, int64_t v)
{
    return weir_asprintf("%s/%020" PRId64 ".json", r->prefix, v);
}

/* Takes ownership of *rv (replacing a version of the same number). */
static int insert(struct weir_replica *r, struct rversion *rv)
{
    struct rversion *old = find(r, rv->v);
    if (old != NULL) {
        rversion_free(old);
        *old = *rv;
        memset(rv, 0, sizeof *rv);
        return 0;
    }
    if (r->nv == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct rversion *nv = weir_realloc(r->vers, cap * sizeof *nv);
        if (nv == NULL)
            return WEIR_ENOMEM;
        r->vers = nv;
        r->cap = cap;
    }
    size_t i = r->nv;
    while (i > 0 && r->vers[i - 1].v > rv->v) {
        r->vers[i] = r->vers[i - 1];
        i--;
    }
    r->vers[i] = *rv;
    r->nv++;
    memset(rv, 0, sizeof *rv);
    return 0;
}

/* ------------------------------------------------------------ manifests */

static int parse_manifest(const char *key, const char *text, size_t n, struct rversion *out,
                          struct weir_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    cJSON *j = cJSON_ParseWithLength(text, n);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "version");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(j, "files");
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= REPLICA_MAX_EXACT) ||
        !cJSON_IsString(id) || strlen(id->valuestring) != 36 || !cJSON_IsArray(files)) {
        rc = weir_error_set(err, WEIR_ECORRUPT,
                            "state replica: '%s' is not a version manifest (version, id and files expected)",
                            key);
        goto done;
    }
    out->v = (int64_t)v->valuedouble;
    memcpy(out->id, id->valuestring, 37);
    size_t cnt = (size_t)cJSON_GetArraySize(files);
    out->files = cnt ? weir_calloc(cnt, sizeof *out->files) : NULL;
    if (cnt && out->files == NULL) {
        rc = nomem(err);
        goto done;
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, files)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(f, "size");
        const cJSON *obj = cJSON_GetObjectItemCaseSensitive(f, "object");
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(f, "data");
        if (!cJSON_IsString(name) || strchr(name->valuestring, '/') || name->valuestring[0] == '.' ||
            !cJSON_IsNumber(size) || !(size->valuedouble >= 0 && size->valuedouble <= REPLICA_MAX_EXACT) ||
            cJSON_IsString(obj) == cJSON_IsString(data)) {
            rc = weir_error_set(err, WEIR_ECORRUPT,
                                "state replica: '%s': file %zu needs a plain name, a size and either an "
                                "object or data",
                                key, out->n);
            goto done;
        }
        struct rfile *rf = &out->files[out->n++];
        rf->name = weir_strdup(name->valuestring);
        rf->size = (uint64_t)size->valuedouble;
        if (cJSON_IsString(obj))
            rf->object = weir_strdup(obj->valuestring);
        else
            rf->data = weir_strdup(data->valuestring);
        if (rf->name == NULL || (rf->object == NULL && rf->data == NULL)) {
            rc = nomem(err);
            goto done;
        }
    }
done:
    cJSON_Delete(j);
    if (rc != 0)
        rversion_free(out);
    return rc;
}

static int format_manifest(const struct rversion *rv, int64_t created_ms, char **out, struct weir_error *err)
{
    *out = NULL;
    cJSON *o = cJSON_CreateObject(), *files = NULL;
    bool ok = o && cJSON_AddNumberToObject(o, "version", (double)rv->v) &&
              cJSON_AddStringToObject(o, "id", rv->id) &&
              cJSON_AddNumberToObject(o, "createdAt", (double)created_ms) &&
              (files = cJSON_AddArrayToObject(o, "files")) != NULL;
    for (size_t i = 0; ok && i < rv->n; i++) {
        const struct rfile *f = &rv->files[i];
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(files, e) && cJSON_AddStringToObject(e, "name", f->name) &&
             cJSON_AddNumberToObject(e, "size", (double)f->size) &&
             (f->object ? cJSON_AddStringToObject(e, "object", f->object) != NULL
                        : cJSON_AddStringToObject(e, "data", f->data) != NULL);
    }
    if (ok)
        *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return *out ? 0 : nomem(err);
}

int weir_replica_manifest_canonical(const char *text, size_t n, const char *name, char **out,
                                    struct weir_error *err)
{
    struct rversion rv = {0};
    *out = NULL;
    int rc = parse_manifest(name, text, n, &rv, err);
    if (rc == 0)
        rc = format_manifest(&rv, 0, out, err);
    rversion_free(&rv);
    return rc;
}

/* A manifest key "<prefix>/<20 digits>.json" -> its version. */
static bool manifest_version(const struct weir_replica *r, const char *key, int64_t *v)
{
    size_t pn = strlen(r->prefix);
    if (strncmp(key, r->prefix, pn) != 0 || key[pn] != '/')
        return false;
    const char *s = key + pn + 1;
    if (strlen(s) != 25 || strcmp(s + 20, ".json") != 0)
        return false;
    int64_t x = 0;
    for (int i = 0; i < 20; i++) {
        if (s[i] < '0' || s[i] > '9' || x > (INT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
}

int weir_replica_open(struct weir_store *store, const char *prefix, struct weir_replica **out,
                      struct weir_error *err)
{
    *out = NULL;
    struct weir_object_list l = {0};
    struct weir_buf b;
    weir_buf_init(&b);
    int rc = 0;
    struct weir_replica *r = weir_calloc(1, sizeof *r);
    if (r == NULL || (r->prefix = weir_strdup(prefix)) == NULL) {
        rc = nomem(err);
        goto done;
    }
    r->store = store;
    r->base = -1;
    size_t pn = strlen(r->prefix);
    while (pn > 0 && r->prefix[pn - 1] == '/')
        r->prefix[--pn] = '\0';
    char *dir = weir_asprintf("%s/", r->prefix);
    if (dir == NULL) {
        rc = nomem(err);
        goto done;
    }
    rc = weir_store_list(store, dir, NULL, false, &l, err);
    weir_free(dir);
    for (size_t i = 0; rc == 0 && i < l.count; i++) {
        int64_t v;
        if (!manifest_version(r, l.items[i].key, &v))
            continue;
        struct rversion rv = {0};
        b.len = 0;
        rc = weir_store_get(store, l.items[i].key, &b, err);
        if (rc == WEIR_ENOTFOUND) { /* dropped meanwhile */
            weir_error_clear(err);
            rc = 0;
            continue;
        }
        if (rc == 0)
            rc = parse_manifest(l.items[i].key, (const char *)b.data, b.len, &rv, err);
        if (rc == 0 && rv.v != v)
            rc = weir_error_set(err, WEIR_ECORRUPT, "state replica: '%s' holds version %" PRId64,
                                l.items[i].key, rv.v);
        if (rc == 0 && insert(r, &rv) != 0)
            rc = nomem(err);
        rversion_free(&rv);
    }
done:
    weir_buf_free(&b);
    weir_object_list_free(&l);
    if (rc != 0) {
        weir_replica_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

void weir_replica_close(struct weir_replica *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nv; i++)
        rversion_free(&r->vers[i]);
    weir_free(r->vers);
    weir_free(r->prefix);
    weir_free(r);
}

size_t weir_replica_count(const struct weir_replica *r)
{
    return r->nv;
}

int64_t weir_replica_version(const struct weir_replica *r, size_t i)
{
    return i < r->nv ? r->vers[i].v : -1;
}

const char *weir_replica_id(const struct weir_replica *r, int64_t v)
{
    const struct rversion *rv = find(r, v);
    return rv ? rv->id : NULL;
}

/* ------------------------------------------------------------ files */

static bool is_table_file(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && (strcmp(name + n - 4, ".sst") == 0 || (n > 5 && strcmp(name + n - 5, ".blob") == 0));
}

static int read_whole(const char *path, uint64_t size, char **out, struct weir_error *err)
{
    *out = NULL;
    if (size > REPLICA_INLINE_MAX)
        return weir_error_set(err, WEIR_ERANGE, "state replica: '%s' is larger than %u bytes", path,
                              REPLICA_INLINE_MAX);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_fail(err, errno, "cannot open", path);
    char *p = weir_malloc(size ? size : 1);
    size_t got = 0;
    int rc = p ? 0 : nomem(err);
    while (rc == 0 && got < size) {
        ssize_t k = read(fd, p + got, size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            rc = k < 0 ? io_fail(err, errno, "cannot read", path)
                       : weir_error_set(err, WEIR_EIO, "state replica: '%s' shrank while read", path);
        else
            got += (size_t)k;
    }
    close(fd);
    if (rc == 0) {
        *out = weir_base64_encode(p, size);
        if (*out == NULL)
            rc = nomem(err);
    }
    weir_free(p);
    return rc;
}

static int upload_file(struct weir_replica *r, const char *path, const char *key, struct weir_error *err)
{
    struct weir_store_upload *u = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_fail(err, errno, "cannot open", path);
    char *buf = weir_malloc(REPLICA_CHUNK);
    int rc = buf ? weir_store_upload_begin(r->store, key, &u, err) : nomem(err);
    struct weir_output o = {0};
    if (rc == 0)
        o = weir_store_upload_output(u);
    while (rc == 0) {
        ssize_t k = read(fd, buf, REPLICA_CHUNK);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            rc = io_fail(err, errno, "cannot read", path);
        else if (k == 0)
            break;
        else
            rc = o.write(o.ctx, buf, (size_t)k, err);
    }
    if (rc == 0) {
        uint64_t size;
        rc = weir_store_upload_commit(u, &size, err);
    } else {
        weir_store_upload_abort(u);
    }
    close(fd);
    weir_free(buf);
    return rc;
}

/* The base's upload of `name` with `size`, or NULL. */
static const char *base_object(const struct weir_replica *r, const char *name, uint64_t size)
{
    const struct rversion *b = r->base >= 0 ? find(r, r->base) : NULL;
    for (size_t i = 0; b && i < b->n; i++)
        if (b->files[i].object && b->files[i].size == size && strcmp(b->files[i].name, name) == 0)
            return b->files[i].object;
    return NULL;
}

int weir_replica_save(struct weir_replica *r, const char *dir, int64_t v, const char *id,
                      struct weir_error *err)
{
    struct rversion rv = {.v = v};
    char *text = NULL, *key = NULL;
    size_t cap = 0;
    int rc = 0;
    if (strlen(id) != 36)
        return weir_error_set(err, WEIR_EINVAL, "state replica: version id must be a uuid");
    memcpy(rv.id, id, 37);
    DIR *d = opendir(dir);
    if (d == NULL)
        return io_fail(err, errno, "cannot open directory", dir);
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *path = weir_asprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (path == NULL) {
            rc = nomem(err);
        } else if (stat(path, &st) != 0) {
            rc = io_fail(err, errno, "cannot stat", path);
        } else if (S_ISREG(st.st_mode)) {
            if (rv.n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct rfile *nf = weir_realloc(rv.files, nc * sizeof *nf);
                if (nf == NULL)
                    rc = nomem(err);
                else
                    rv.files = nf;
                cap = nc;
            }
            if (rc == 0) {
                struct rfile *f = &rv.files[rv.n++];
                memset(f, 0, sizeof *f);
                f->size = (uint64_t)st.st_size;
                f->name = weir_strdup(de->d_name);
                if (f->name == NULL) {
                    rc = nomem(err);
                } else if (is_table_file(de->d_name)) {
                    const char *have = base_object(r, de->d_name, f->size);
                    if (have != NULL) {
                        f->object = weir_strdup(have);
                        rc = f->object ? 0 : nomem(err);
                    } else {
                        char uuid[37];
                        weir_uuid4(uuid);
                        const char *dot = strrchr(de->d_name, '.');
                        f->object = weir_asprintf("%s/sst/%.*s-%s%s", r->prefix, (int)(dot - de->d_name),
                                                  de->d_name, uuid, dot);
                        rc = f->object ? upload_file(r, path, f->object, err) : nomem(err);
                    }
                } else {
                    rc = read_whole(path, f->size, &f->data, err);
                }
            }
        }
        weir_free(path);
    }
    closedir(d);
    if (rc == 0 && (key = manifest_key(r, v)) == NULL)
        rc = nomem(err);
    if (rc == 0)
        rc = format_manifest(&rv, weir_now_ms(), &text, err);
    if (rc == 0)
        rc = weir_store_put(r->store, key, text, strlen(text), err);
    if (rc == 0 && insert(r, &rv) != 0)
        rc = nomem(err);
    if (rc == 0)
        r->base = v;
    if (rc != 0)
        weir_error_prefix(err, "saving version %" PRId64 " under '%s'", v, r->prefix);
    cJSON_free(text);
    weir_free(key);
    rversion_free(&rv);
    return rc;
}

/* ------------------------------------------------------------ restore */

static int write_all(int fd, const void *p, size_t n, const char *path, struct weir_error *err)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return io_fail(err, errno, "cannot write", path);
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fetch_file(struct weir_replica *r, const struct rfile *f, const char *path, struct weir_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return io_fail(err, errno, "cannot create", path);
    int rc = 0;
    if (f->data != NULL) {
        uint8_t *p = NULL;
        long n = weir_base64_decode(f->data, &p);
        if (n == -2)
            rc = nomem(err);
        else if (n < 0 || (uint64_t)n != f->size)
            rc = weir_error_set(err, WEIR_ECORRUPT,
                                "state replica: the data of '%s' is not %" PRIu64 " bytes of base64", f->name,
                                f->size);
        else
            rc = write_all(fd, p, (size_t)n, path, err);
        weir_free(p);
    } else {
        struct weir_input in = {0};
        char *buf = weir_malloc(REPLICA_CHUNK);
        rc = buf ? weir_store_input_open(r->store, f->object, &in, err) : nomem(err);
        if (rc == 0 && in.size != f->size)
            rc = weir_error_set(err, WEIR_ECORRUPT,
                                "state replica: '%s' has %" PRIu64 " bytes, the manifest says %" PRIu64,
                                f->object, in.size, f->size);
        for (uint64_t off = 0; rc == 0 && off < f->size; off += REPLICA_CHUNK) {
            size_t k = f->size - off < REPLICA_CHUNK ? (size_t)(f->size - off) : REPLICA_CHUNK;
            rc = weir_input_read(&in, off, buf, k, err);
            if (rc == 0)
                rc = write_all(fd, buf, k, path, err);
        }
        if (in.ctx != NULL)
            weir_store_input_close(&in);
        weir_free(buf);
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = io_fail(err, errno, "cannot fsync", path);
    if (close(fd) != 0 && rc == 0)
        rc = io_fail(err, errno, "cannot close", path);
    return rc;
}

int weir_replica_restore(struct weir_replica *r, int64_t v, const char *dir, struct weir_error *err)
{
    const struct rversion *rv = find(r, v);
    if (rv == NULL)
        return weir_error_set(err, WEIR_ENOTFOUND, "state replica: no version %" PRId64 " under '%s'", v,
                              r->prefix);
    int e = weir_mkdir_p(dir);
    if (e != 0)
        return io_fail(err, e, "cannot create directory", dir);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < rv->n; i++) {
        char *path = weir_asprintf("%s/%s", dir, rv->files[i].name);
        rc = path ? fetch_file(r, &rv->files[i], path, err) : nomem(err);
        weir_free(path);
    }
    if (rc == 0)
        rc = weir_replica_mark(dir, rv->id, err);
    if (rc == 0)
        r->base = v;
    else
        weir_error_prefix(err, "restoring version %" PRId64 " from '%s'", v, r->prefix);
    return rc;
}

void weir_replica_rebase(struct weir_replica *r, int64_t v)
{
    r->base = find(r, v) ? v : -1;
}

/* ------------------------------------------------------------ cleanup */

static bool referenced(const struct weir_replica *r, const char *object)
{
    for (size_t i = 0; i < r->nv; i++)
        for (size_t j = 0; j < r->vers[i].n; j++)
            if (r->vers[i].files[j].object && strcmp(r->vers[i].files[j].object, object) == 0)
                return true;
    return false;
}

int weir_replica_drop(struct weir_replica *r, int64_t v, struct weir_error *err)
{
    struct rversion *rv = find(r, v);
    if (rv == NULL)
        return 0;
    char *key = manifest_key(r, v);
    if (key == NULL)
        return nomem(err);
    int rc = weir_store_delete(r->store, key, err);
    weir_free(key);
    if (rc == WEIR_ENOTFOUND) {
        weir_error_clear(err);
        rc = 0;
    }
    if (rc != 0)
        return rc;
    struct rversion gone = *rv;
    size_t at = (size_t)(rv - r->vers);
    memmove(&r->vers[at], &r->vers[at + 1], (r->nv - at - 1) * sizeof *r->vers);
    r->nv--;
    if (r->base == v)
        r->base = -1;
    for (size_t i = 0; rc == 0 && i < gone.n; i++) {
        if (gone.files[i].object == NULL || referenced(r, gone.files[i].object))
            continue;
        rc = weir_store_delete(r->store, gone.files[i].object, err);
        if (rc == WEIR_ENOTFOUND) {
            weir_error_clear(err);
            rc = 0;
        }
    }
    rversion_free(&gone);
    return rc;
}

int weir_replica_collect(struct weir_replica *r, size_t *deleted, struct weir_error *err)
{
    struct weir_object_list l = {0};
    size_t count = 0;
    char *dir = weir_asprintf("%s/sst/", r->prefix);
    int rc = dir ? weir_store_list(r->store, dir, NULL, false, &l, err) : nomem(err);
    for (size_t i = 0; rc == 0 && i < l.count; i++) {
        if (referenced(r, l.items[i].key))
            continue;
        rc = weir_store_delete(r->store, l.items[i].key, err);
        if (rc == WEIR_ENOTFOUND) {
            weir_error_clear(err);
            rc = 0;
        } else if (rc == 0) {
            count++;
        }
    }
    weir_object_list_free(&l);
    weir_free(dir);
    if (deleted != NULL)
        *deleted = count;
    return rc;
}

/* ------------------------------------------------------------ whole databases */

static int rm_tree(const char *path, struct weir_error *err)
{
    char *where = NULL;
    int e = weir_remove_tree(path, &where);
    int rc = e ? io_fail(err, e, "cannot remove", where ? where : path) : 0;
    weir_free(where);
    return rc;
}

int weir_replica_sync_latest(struct weir_replica *r, const char *dir, int64_t *version,
                             struct weir_error *err)
{
    int64_t v = r->nv ? r->vers[r->nv - 1].v : -1;
    *version = v;
    int rc = 0;
    if (v < 0) {
        rc = rm_tree(dir, err); /* never saved: nothing in it was used */
    } else if (weir_replica_marked(dir, r->vers[r->nv - 1].id)) {
        r->base = v;
    } else {
        if ((rc = rm_tree(dir, err)) == 0)
            rc = weir_replica_restore(r, v, dir, err);
        if (rc == 0)
            WEIR_INFO("%s: version %" PRId64 " copied from the checkpoint's store", dir, v);
    }
    if (rc == 0)
        rc = weir_replica_collect(r, NULL, err);
    return rc;
}

int weir_replica_save_db(struct weir_replica *r, struct rocksdb_t *db, const char *dir, int64_t v,
                         int64_t keep, struct weir_error *err)
{
    char *e = NULL, id[37];
    char *tmp = weir_asprintf("%s.snapshot", dir);
    if (tmp == NULL)
        return nomem(err);
    weir_uuid4(id);
    int rc = rm_tree(tmp, err);
    rocksdb_checkpoint_t *cp = rc == 0 ? rocksdb_checkpoint_object_create(db, &e) : NULL;
    if (rc == 0 && e == NULL)
        rocksdb_checkpoint_create(cp, tmp, 0, &e);
    if (e != NULL) {
        rc = weir_error_set(err, WEIR_EIO, "state replica: cannot snapshot '%s': %s", dir, e);
        free(e);
    }
    if (cp != NULL)
        rocksdb_checkpoint_object_destroy(cp);
    if (rc == 0)
        rc = weir_replica_save(r, tmp, v, id, err);
    if (rc == 0)
        rc = weir_replica_mark(dir, id, err);
    if (rc == 0)
        rc = rm_tree(tmp, err);
    while (rc == 0 && r->nv > 1 && r->vers[0].v <= v - keep)
        rc = weir_replica_drop(r, r->vers[0].v, err);
    weir_free(tmp);
    return rc;
}

/* ------------------------------------------------------------ marks */

int weir_replica_mark(const char *dir, const char *id, struct weir_error *err)
{
    char *path = weir_asprintf("%s/" REPLICA_MARK, dir);
    if (path == NULL)
        return nomem(err);
    int rc = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        rc = io_fail(err, errno, "cannot create", path);
    if (rc == 0)
        rc = write_all(fd, id, strlen(id), path, err);
    if (rc == 0 && fsync(fd) != 0)
        rc = io_fail(err, errno, "cannot fsync", path);
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = io_fail(err, errno, "cannot close", path);
    if (rc == 0) {
        int e = weir_fsync_path(dir, true);
        if (e != 0)
            rc = io_fail(err, e, "cannot fsync directory", dir);
    }
    weir_free(path);
    return rc;
}

bool weir_replica_marked(const char *dir, const char *id)
{
    char *path = weir_asprintf("%s/" REPLICA_MARK, dir);
    char got[64] = {0};
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    weir_free(path);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, got, sizeof got - 1);
    close(fd);
    return n == (ssize_t)strlen(id) && memcmp(got, id, (size_t)n) == 0;
}
