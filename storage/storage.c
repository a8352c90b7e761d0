/* storage/storage.c - the object-store front: URI parsing, back-end
 * dispatch, argument checks shared by every back-end.
 *
 * Owns the weir_store record (ops table, root string); the back-end owns
 * `impl`. Every public call checks its key here once, so back-ends can
 * assume a clean relative key. Local paths and file:// URIs go to the local
 * back-end; s3://, gs://, abfss:// (and the other cloud schemes) are
 * recognised and refused with WEIR_EUNSUPPORTED until their back-ends land.
 * Threading: a store is immutable after open; calls may run concurrently. */
#include <ctype.h>
#include <string.h>

#include "core/alloc.h"
#include "storage/storage_int.h"

/* Schemes we know but cannot serve yet. */
static const char *const cloud_schemes[] = {"s3", "s3a",   "gs",    "gcs",  "abfss", "abfs",
                                            "az", "azure", "wasbs", "wasb", "http",  "https"};

void weir_object_list_free(struct weir_object_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->count; i++)
        weir_free(l->items[i].key);
    weir_free(l->items);
    l->items = NULL;
    l->count = 0;
}

int weir_store_check_key(const char *key, bool is_prefix, struct weir_error *err)
{
    const char *what = is_prefix ? "prefix" : "key";
    if (key == NULL)
        return weir_error_set(err, WEIR_EINVAL, "storage: %s is NULL", what);
    if (key[0] == '\0') {
        if (is_prefix)
            return 0;
        return weir_error_set(err, WEIR_EINVAL, "storage: empty key");
    }
    if (key[0] == '/')
        return weir_error_set(err, WEIR_EINVAL, "storage: %s '%s' must be relative to the store root", what,
                              key);
    const char *seg = key;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        bool last = end == NULL;
        if (len == 0 && !(last && is_prefix))
            return weir_error_set(err, WEIR_EINVAL, "storage: %s '%s' has an empty path segment", what, key);
        /* A trailing partial segment of a prefix may be "." (".hidden" names). */
        if ((len == 1 && seg[0] == '.' && !(last && is_prefix)) ||
            (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return weir_error_set(err, WEIR_EINVAL, "storage: %s '%s' contains a '.' or '..' segment", what,
                                  key);
        if (last)
            break;
        seg = end + 1;
    }
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* "file:///a%20b" -> "/a b"; "file://localhost/x" -> "/x"; "file:/x" -> "/x". */
static int file_uri_to_path(const char *uri, char **out, struct weir_error *err)
{
    const char *p = uri + strlen("file:");
    if (strncmp(p, "//", 2) == 0) {
        p += 2;
        if (strncmp(p, "localhost/", 10) == 0)
            p += strlen("localhost");
        else if (*p != '/')
            return weir_error_set(err, WEIR_EUNSUPPORTED, "storage: file URI '%s' names a remote host", uri);
    }
    if (*p != '/')
        return weir_error_set(err, WEIR_EINVAL, "storage: file URI '%s' has no absolute path", uri);
    char *path = weir_malloc(strlen(p) + 1);
    if (path == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory opening '%s'", uri);
    size_t j = 0;
    for (size_t i = 0; p[i]; i++) {
        if (p[i] == '%') {
            int hi = p[i + 1] ? hexval((unsigned char)p[i + 1]) : -1;
            int lo = hi >= 0 && p[i + 2] ? hexval((unsigned char)p[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                weir_free(path);
                return weir_error_set(err, WEIR_EINVAL, "storage: bad percent escape at offset %zu of '%s'",
                                      (size_t)(p - uri) + i, uri);
            }
            path[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            path[j++] = p[i];
        }
    }
    path[j] = '\0';
    *out = path;
    return 0;
}

/* Length of a "scheme:" prefix ([A-Za-z][A-Za-z0-9+.-]*:), 0 if none. */
static size_t scheme_len(const char *uri)
{
    if (!isalpha((unsigned char)uri[0]))
        return 0;
    size_t i = 1;
    while (isalnum((unsigned char)uri[i]) || uri[i] == '+' || uri[i] == '.' || uri[i] == '-')
        i++;
    return uri[i] == ':' ? i : 0;
}

int weir_store_open(struct weir_store **out, const char *uri, struct weir_error *err)
{
    int rc = 0;
    struct weir_store *s = NULL;
    char *location = NULL;

    if (out == NULL || uri == NULL || uri[0] == '\0') {
        rc = weir_error_set(err, WEIR_EINVAL, "storage: empty store URI");
        goto done;
    }
    *out = NULL;
    size_t sl = scheme_len(uri);
    bool is_file_uri = sl == 4 && strncasecmp(uri, "file", 4) == 0;
    if (sl > 0 && !is_file_uri) {
        for (size_t i = 0; i < sizeof cloud_schemes / sizeof cloud_schemes[0]; i++) {
            if (strlen(cloud_schemes[i]) == sl && strncasecmp(uri, cloud_schemes[i], sl) == 0) {
                rc =
                    weir_error_set(err, WEIR_EUNSUPPORTED,
                                   "storage: '%.*s://' stores are not yet supported (%s)", (int)sl, uri, uri);
                goto done;
            }
        }
        if (strncmp(uri + sl, "://", 3) == 0) {
            rc = weir_error_set(err, WEIR_EUNSUPPORTED, "storage: unknown URI scheme '%.*s' in '%s'", (int)sl,
                                uri, uri);
            goto done;
        }
        /* "name:with:colons" without "//" is a plain relative path. */
    }
    if (is_file_uri) {
        rc = file_uri_to_path(uri, &location, err);
        if (rc < 0)
            goto done;
    } else {
        location = weir_strdup(uri);
        if (location == NULL) {
            rc = weir_error_set(err, WEIR_ENOMEM, "storage: out of memory opening '%s'", uri);
            goto done;
        }
    }
    /* Trailing slashes go (but "/" stays "/"). */
    for (size_t n = strlen(location); n > 1 && location[n - 1] == '/'; n--)
        location[n - 1] = '\0';

    s = weir_calloc(1, sizeof *s);
    if (s == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "storage: out of memory opening '%s'", uri);
        goto done;
    }
    s->root = weir_strdup(uri);
    if (s->root == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "storage: out of memory opening '%s'", uri);
        goto done;
    }
    for (size_t n = strlen(s->root); n > 1 && s->root[n - 1] == '/'; n--)
        s->root[n - 1] = '\0';
    s->ops = &weir_store_local_ops;
    rc = s->ops->open(s, location, err);
    if (rc < 0) {
        s->ops = NULL; /* open failed: nothing for close to release */
        goto done;
    }
    *out = s;
    s = NULL;
done:
    if (s != NULL) {
        weir_free(s->root);
        weir_free(s);
    }
    weir_free(location);
    return rc;
}

void weir_store_destroy(struct weir_store *s)
{
    if (s == NULL)
        return;
    if (s->ops != NULL)
        s->ops->close(s);
    weir_free(s->root);
    weir_free(s);
}

const char *weir_store_root(const struct weir_store *s)
{
    return s ? s->root : "";
}

int weir_store_get(struct weir_store *s, const char *key, struct weir_buf *out, struct weir_error *err)
{
    int rc = weir_store_check_key(key, false, err);
    if (rc < 0)
        return rc;
    return s->ops->get(s, key, out, err);
}

int weir_store_get_range(struct weir_store *s, const char *key, uint64_t off, void *p, size_t n,
                         struct weir_error *err)
{
    int rc = weir_store_check_key(key, false, err);
    if (rc < 0)
        return rc;
    if (off > UINT64_MAX - n)
        return weir_error_set(err, WEIR_ERANGE, "storage: range at offset %llu of '%s' overflows",
                              (unsigned long long)off, key);
    return s->ops->get_range(s, key, off, p, n, err);
}

int weir_store_head(struct weir_store *s, const char *key, struct weir_object_info *info,
                    struct weir_error *err)
{
    int rc = weir_store_check_key(key, false, err);
    if (rc < 0)
        return rc;
    return s->ops->head(s, key, info, err);
}

int weir_store_put(struct weir_store *s, const char *key, const void *p, size_t n, struct weir_error *err)
{
    int rc = weir_store_check_key(key, false, err);
    if (rc < 0)
        return rc;
    return s->ops->put(s, key, p, n, err);
}

int weir_store_put_if_absent(struct weir_store *s, const char *key, const void *p, size_t n,
                             struct weir_error *err)
{
    int rc = weir_store_check_key(key, false, err);
    if (rc < 0)
        return rc;
    return s->ops->put_if_absent(s, key, p, n, err);
}

int weir_store_list(struct weir_store *s, const char *prefix, const char *start_after, bool recursive,
                    struct weir_object_list *out, struct weir_error *err)
{
    if (out == NULL)
        return weir_error_set(err, WEIR_EINVAL, "storage: list without an output");
    out->items = NULL;
    out->count = 0;
    int rc = weir_store_check_key(prefix ? prefix : "", true, err);
    if (rc < 0)
        return rc;
    return s->ops->list(s, prefix ? prefix : "", start_after, recursive, out, err);
}

int weir_store_delete(struct weir_store *s, const char *key, struct weir_error *err)
{
    int rc = weir_store_check_key(key, false, err);
    if (rc < 0)
        return rc;
    return s->ops->del(s, key, err);
}

int weir_store_input_open(struct weir_store *s, const char *key, struct weir_input *in,
                          struct weir_error *err)
{
    int rc = weir_store_check_key(key, false, err);
    if (rc < 0)
        return rc;
    memset(in, 0, sizeof *in);
    return s->ops->input_open(s, key, in, err);
}

void weir_store_input_close(struct weir_input *in)
{
    if (in == NULL || in->ctx == NULL)
        return;
    struct weir_store_input_base *base = in->ctx;
    base->close(in->ctx);
    memset(in, 0, sizeof *in);
}

int weir_store_upload_begin(struct weir_store *s, const char *key, struct weir_store_upload **out,
                            struct weir_error *err)
{
    int rc = weir_store_check_key(key, false, err);
    if (rc < 0)
        return rc;
    *out = NULL;
    return s->ops->upload_begin(s, key, out, err);
}

struct weir_output weir_store_upload_output(struct weir_store_upload *u)
{
    return u->ops->upload_output(u);
}

int weir_store_upload_commit(struct weir_store_upload *u, uint64_t *size, struct weir_error *err)
{
    if (u == NULL)
        return weir_error_set(err, WEIR_EINVAL, "storage: commit of a NULL upload");
    return u->ops->upload_commit(u, size, err);
}

void weir_store_upload_abort(struct weir_store_upload *u)
{
    if (u == NULL)
        return;
    u->ops->upload_abort(u);
}
