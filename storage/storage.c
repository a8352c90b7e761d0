/* storage/storage.c - the object-store front: URI parsing, back-end
 * dispatch, argument checks shared by every back-end.
 *
 * Owns the weir_store record (ops table, root string); the back-end owns
 * `impl`. Every public call checks its key here once, so back-ends can
 * assume a clean relative key. Local paths and file:// URIs go to the local
 * back-end, s3:// to s3.c, abfss:// and friends to azure.c, gs:// to
 * gcs.c (or to s3.c with HMAC keys). Also owns the storage option table:
 * names, environment aliases, which are secret.
 * Threading: a store is immutable after open; calls may run concurrently. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/units.h"
#include "storage/http.h"
#include "storage/storage_int.h"

struct scheme {
    const char *name;
    const struct weir_store_ops *ops;
};

static const struct scheme schemes[] = {
    {"s3", &weir_store_s3_ops},       {"s3a", &weir_store_s3_ops},      {"gs", &weir_store_gcs_ops},
    {"abfss", &weir_store_azure_ops}, {"abfs", &weir_store_azure_ops},  {"az", &weir_store_azure_ops},
    {"azure", &weir_store_azure_ops}, {"wasbs", &weir_store_azure_ops}, {"wasb", &weir_store_azure_ops},
};

/* Every storage option: its name, up to two more environment variables
 * looked at after the upper-case name, whether its value is a secret. */
struct option_def {
    const char *name;
    const char *env[2];
    bool secret;
};

static const struct option_def option_defs[] = {
    {"aws_access_key_id", {NULL, NULL}, false},
    {"aws_secret_access_key", {NULL, NULL}, true},
    {"aws_session_token", {NULL, NULL}, true},
    {"aws_region", {"AWS_DEFAULT_REGION", NULL}, false},
    {"aws_endpoint_url", {"AWS_ENDPOINT_URL_S3", NULL}, false},
    {"aws_virtual_hosted_style_request", {NULL, NULL}, false},
    {"aws_profile", {NULL, NULL}, false},
    {"aws_shared_credentials_file", {NULL, NULL}, false},
    {"azure_storage_account_name", {"AZURE_STORAGE_ACCOUNT", NULL}, false},
    {"azure_storage_account_key", {"AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCESS_KEY"}, true},
    {"azure_storage_sas_token", {"AZURE_STORAGE_SAS_KEY", NULL}, true},
    {"azure_storage_endpoint", {NULL, NULL}, false},
    {"azure_storage_use_emulator", {NULL, NULL}, false},
    {"google_endpoint_url", {"STORAGE_EMULATOR_HOST", NULL}, false},
    {"google_bearer_token", {NULL, NULL}, true},
    {"google_hmac_access_id", {NULL, NULL}, false},
    {"google_hmac_secret", {NULL, NULL}, true},
    {"multipart_part_size", {NULL, NULL}, false},
    {"max_retries", {NULL, NULL}, false},
    {"timeout", {NULL, NULL}, false},
    {"connect_timeout", {NULL, NULL}, false},
    {"tls_verify", {NULL, NULL}, false},
    {"tls_ca_file", {"SSL_CERT_FILE", NULL}, false},
};

static const struct option_def *option_def(const char *name)
{
    for (size_t i = 0; i < sizeof option_defs / sizeof option_defs[0]; i++)
        if (strcasecmp(option_defs[i].name, name) == 0)
            return &option_defs[i];
    return NULL;
}

bool weir_store_option_known(const char *name, const char **suggest)
{
    if (option_def(name))
        return true;
    if (suggest) {
        size_t best = 4;
        *suggest = NULL;
        for (size_t i = 0; i < sizeof option_defs / sizeof option_defs[0]; i++) {
            size_t d = weir_edit_distance(name, option_defs[i].name, true);
            if (d < best) {
                best = d;
                *suggest = option_defs[i].name;
            }
        }
    }
    return false;
}

bool weir_store_option_secret(const char *name)
{
    const struct option_def *d = option_def(name);
    return d && d->secret;
}

const char *weir_store_opt(const struct weir_store *s, const char *name)
{
    for (size_t i = 0; i < s->nopts; i++)
        if (strcasecmp(s->opts[2 * i], name) == 0)
            return s->opts[2 * i + 1][0] ? s->opts[2 * i + 1] : NULL;
    char env[64];
    size_t n = strlen(name);
    if (n >= sizeof env)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        env[i] = (char)toupper((unsigned char)name[i]);
    const char *v = getenv(env);
    const struct option_def *d = option_def(name);
    for (int i = 0; d && (!v || !v[0]) && i < 2 && d->env[i]; i++)
        v = getenv(d->env[i]);
    return v && v[0] ? v : NULL;
}

int weir_store_opt_bool(const struct weir_store *s, const char *name, bool def, bool *out,
                        struct weir_error *err)
{
    const char *v = weir_store_opt(s, name);
    *out = def;
    if (!v)
        return 0;
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"))
        *out = true;
    else if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no"))
        *out = false;
    else
        return weir_error_set(err, WEIR_ECONFIG, "storage option %s: '%s' is not true or false", name, v);
    return 0;
}

int weir_store_opt_size(const struct weir_store *s, const char *name, uint64_t def, uint64_t *out,
                        struct weir_error *err)
{
    const char *v = weir_store_opt(s, name);
    int64_t x;
    *out = def;
    if (!v)
        return 0;
    if (weir_parse_size(v, &x) || x <= 0)
        return weir_error_set(err, WEIR_ECONFIG, "storage option %s: '%s' is not a size such as 16MB", name,
                              v);
    *out = (uint64_t)x;
    return 0;
}

static int opt_duration(const struct weir_store *s, const char *name, long *ms, struct weir_error *err)
{
    const char *v = weir_store_opt(s, name);
    int64_t x;
    if (!v)
        return 0;
    if (weir_parse_duration(v, &x) || x <= 0 || x > 3600000)
        return weir_error_set(err, WEIR_ECONFIG, "storage option %s: '%s' is not a duration such as 30s",
                              name, v);
    *ms = (long)x;
    return 0;
}

int weir_store_http_settings(const struct weir_store *s, struct weir_http_settings *set,
                             struct weir_error *err)
{
    int rc;
    memset(set, 0, sizeof *set);
    set->max_retries = 10;
    if ((rc = weir_store_opt_bool(s, "tls_verify", true, &set->verify_tls, err)))
        return rc;
    set->ca_file = weir_store_opt(s, "tls_ca_file");
    const char *r = weir_store_opt(s, "max_retries");
    if (r) {
        char *end;
        long v = strtol(r, &end, 10);
        if (*end || v < 0 || v > 100)
            return weir_error_set(err, WEIR_ECONFIG, "storage option max_retries: '%s' is not 0..100", r);
        set->max_retries = (int)v;
    }
    if ((rc = opt_duration(s, "timeout", &set->idle_timeout_ms, err)) ||
        (rc = opt_duration(s, "connect_timeout", &set->connect_timeout_ms, err)))
        return rc;
    return 0;
}

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
    return weir_store_open_with(out, uri, NULL, err);
}

static int copy_options(struct weir_store *s, const struct weir_store_options *o, struct weir_error *err)
{
    if (!o || o->npairs == 0)
        return 0;
    for (size_t i = 0; i < o->npairs; i++) {
        const char *suggest = NULL;
        if (!weir_store_option_known(o->kv[2 * i], &suggest))
            return weir_error_set(err, WEIR_ECONFIG, "storage: unknown option '%s'%s%s%s", o->kv[2 * i],
                                  suggest ? " (did you mean '" : "", suggest ? suggest : "",
                                  suggest ? "'?)" : "");
    }
    s->opts = weir_calloc(2 * o->npairs, sizeof *s->opts);
    if (!s->opts)
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory");
    s->nopts = o->npairs;
    for (size_t i = 0; i < 2 * o->npairs; i++)
        if (!(s->opts[i] = weir_strdup(o->kv[i] ? o->kv[i] : "")))
            return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory");
    return 0;
}

static void free_options(struct weir_store *s)
{
    for (size_t i = 0; s->opts && i < 2 * s->nopts; i++)
        weir_free(s->opts[i]);
    weir_free(s->opts);
}

int weir_store_open_with(struct weir_store **out, const char *uri, const struct weir_store_options *opts,
                         struct weir_error *err)
{
    int rc = 0;
    const struct weir_store_ops *ops = &weir_store_local_ops;
    struct weir_store *s = NULL;
    char *location = NULL;

    if (out == NULL || uri == NULL || uri[0] == '\0') {
        rc = weir_error_set(err, WEIR_EINVAL, "storage: empty store URI");
        goto done;
    }
    *out = NULL;
    size_t sl = scheme_len(uri);
    bool is_file_uri = sl == 4 && strncasecmp(uri, "file", 4) == 0;
    bool cloud = false;
    if (sl > 0 && !is_file_uri) {
        for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
            if (strlen(schemes[i].name) == sl && strncasecmp(uri, schemes[i].name, sl) == 0) {
                ops = schemes[i].ops;
                cloud = true;
            }
        }
        if (!cloud && strncmp(uri + sl, "://", 3) == 0) {
            rc = weir_error_set(err, WEIR_EUNSUPPORTED, "storage: unknown URI scheme '%.*s' in '%s'", (int)sl,
                                uri, uri);
            goto done;
        }
        /* "name:with:colons" without "//" is a plain relative path. */
    }
    if (cloud && strncmp(uri + sl, "://", 3) != 0) {
        rc = weir_error_set(err, WEIR_EINVAL, "storage: '%s' should look like %.*s://bucket/path", uri,
                            (int)sl, uri);
        goto done;
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
    if ((rc = copy_options(s, opts, err)))
        goto done;
    /* gs:// with HMAC keys speaks the S3-style XML API. */
    if (ops == &weir_store_gcs_ops && weir_store_gcs_uses_hmac(s))
        ops = &weir_store_s3_ops;
    s->ops = ops;
    rc = s->ops->open(s, location, err);
    if (rc < 0) {
        s->ops = NULL; /* open failed: nothing for close to release */
        goto done;
    }
    *out = s;
    s = NULL;
done:
    if (s != NULL) {
        free_options(s);
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
    free_options(s);
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

/* The input of back-ends without their own: head, then get_range. */
struct range_input {
    struct weir_store_input_base base;
    struct weir_store *s;
    char *key;
};

static int range_read_at(void *ctx, uint64_t off, void *p, size_t n, struct weir_error *err)
{
    struct range_input *in = ctx;
    return in->s->ops->get_range(in->s, in->key, off, p, n, err);
}

static void range_close(void *ctx)
{
    struct range_input *in = ctx;
    weir_free(in->key);
    weir_free(in);
}

int weir_store_input_open(struct weir_store *s, const char *key, struct weir_input *in,
                          struct weir_error *err)
{
    int rc = weir_store_check_key(key, false, err);
    if (rc < 0)
        return rc;
    memset(in, 0, sizeof *in);
    if (s->ops->input_open)
        return s->ops->input_open(s, key, in, err);
    struct weir_object_info info;
    if ((rc = s->ops->head(s, key, &info, err)))
        return rc;
    struct range_input *x = weir_calloc(1, sizeof *x);
    if (!x || !(x->key = weir_strdup(key))) {
        weir_free(x);
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory opening '%s'", key);
    }
    x->base.close = range_close;
    x->s = s;
    in->size = info.size;
    in->read_at = range_read_at;
    in->ctx = x;
    in->name = x->key;
    return 0;
}

int weir_object_list_push(struct weir_object_list *l, size_t *cap, const char *key, uint64_t size,
                          int64_t mtime_ms)
{
    if (l->count == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct weir_object_info *n = weir_realloc(l->items, nc * sizeof *n);
        if (!n)
            return WEIR_ENOMEM;
        l->items = n;
        *cap = nc;
    }
    char *k = weir_strdup(key);
    if (!k)
        return WEIR_ENOMEM;
    l->items[l->count++] = (struct weir_object_info){k, size, mtime_ms};
    return 0;
}

int weir_store_settle_put_if_absent(struct weir_store *s, const char *key, const void *p, size_t n, int rc,
                                    bool retried, struct weir_error *err)
{
    if (rc != WEIR_EEXISTS || !retried)
        return rc;
    struct weir_buf have;
    weir_buf_init(&have);
    struct weir_error e2 = {0};
    bool ours = s->ops->get(s, key, &have, &e2) == 0 && have.len == n && memcmp(have.data, p, n) == 0;
    weir_buf_free(&have);
    if (!ours)
        return rc;
    weir_error_clear(err);
    return 0;
}

int weir_parts_upload_begin(struct weir_parts_upload *u, struct weir_store *s, const char *key,
                            size_t part_size, bool keep_last, const struct weir_parts_upload_ops *ops,
                            struct weir_store_upload **out, struct weir_error *err)
{
    if (u == NULL || (u->key = weir_strdup(key)) == NULL) {
        weir_free(u);
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory uploading %s/%s", s->root, key);
    }
    u->base.ops = s->ops;
    u->ops = ops;
    u->s = s;
    u->part_size = part_size;
    u->keep_last = keep_last;
    weir_buf_init(&u->part);
    *out = &u->base;
    return 0;
}

int weir_parts_upload_send(struct weir_parts_upload *u, struct weir_error *err)
{
    int rc = u->ops->send(u, err);
    if (rc == 0) {
        u->nsent++;
        u->part.len = 0;
    }
    return rc;
}

static int failed_earlier(const struct weir_parts_upload *u, struct weir_error *err)
{
    return weir_error_set(err, WEIR_EIO, "storage: upload of %s/%s failed earlier", u->s->root, u->key);
}

static int parts_upload_write(void *ctx, const void *p, size_t n, struct weir_error *err)
{
    struct weir_parts_upload *u = ctx;
    if (u->failed)
        return failed_earlier(u, err);
    const uint8_t *b = p;
    int rc = 0;
    while (rc == 0 && n > 0) {
        size_t room = u->part_size - u->part.len;
        size_t take = n < room ? n : room;
        if (weir_buf_append(&u->part, b, take)) {
            rc = weir_error_set(err, WEIR_ENOMEM, "storage: out of memory buffering an upload");
            break;
        }
        b += take;
        n -= take;
        u->total += take;
        if (u->part.len == u->part_size && (!u->keep_last || n > 0))
            rc = weir_parts_upload_send(u, err);
    }
    u->failed = rc != 0;
    return rc;
}

struct weir_output weir_parts_upload_output(struct weir_store_upload *u)
{
    return (struct weir_output){parts_upload_write, u};
}

static void parts_upload_free(struct weir_parts_upload *u, bool aborted)
{
    if (u->ops->release)
        u->ops->release(u, aborted);
    weir_buf_free(&u->part);
    weir_free(u->key);
    weir_free(u);
}

int weir_parts_upload_commit(struct weir_store_upload *base, uint64_t *size, struct weir_error *err)
{
    struct weir_parts_upload *u = (struct weir_parts_upload *)base;
    int rc;
    if (u->failed)
        rc = failed_earlier(u, err);
    else if (u->nsent == 0)
        rc = u->ops->put(u, err);
    else
        rc = u->ops->complete(u, err);
    if (rc == 0 && size)
        *size = u->total;
    parts_upload_free(u, rc != 0);
    return rc;
}

void weir_parts_upload_abort(struct weir_store_upload *base)
{
    parts_upload_free((struct weir_parts_upload *)base, true);
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
