/* storage/gcs.c - the Google Cloud Storage back-end over the JSON API.
 *
 * Owns the bucket, key prefix, endpoint and bearer token of a gs:// store
 * (with HMAC keys, storage.c sends gs:// to s3.c and the XML API instead).
 * The endpoint is https://storage.googleapis.com unless
 * google_endpoint_url (or STORAGE_EMULATOR_HOST) names another.
 *   get/get_range       GET .../o/<name>?alt=media (with Range)
 *   head                GET .../o/<name> (object metadata JSON)
 *   put                 media upload
 *   put_if_absent       media upload with ifGenerationMatch=0; 412 ->
 *                       WEIR_EEXISTS (after a retried attempt, equal content
 *                       is success)
 *   list                objects.list with startOffset and page tokens
 *                       (delimiter '/' when not recursive)
 *   upload              one media upload up to multipart_part_size (16 MiB
 *                       default), else a resumable upload session whose
 *                       object appears at the final chunk.
 * Auth: google_bearer_token as "Authorization: Bearer"; none sends
 * anonymous requests (public buckets, emulators).
 * Threading: immutable after open. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/alloc.h"
#include "storage/http.h"
#include "storage/storage_int.h"

#define GCS_DEFAULT_PART (16u << 20)
#define GCS_CHUNK_ALIGN  (256u << 10)

struct gcs {
    struct weir_http *http;
    char *scheme_host;
    char *bucket;
    char *bucket_enc;
    char *prefix;
    char *display;
    char *auth; /* "Bearer ..." or NULL */
    size_t part_size;
};

static struct gcs *impl(struct weir_store *s)
{
    return s->impl;
}

static int oom(struct weir_error *err)
{
    return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory");
}

bool weir_store_gcs_uses_hmac(const struct weir_store *s)
{
    return weir_store_opt(s, "google_hmac_access_id") && weir_store_opt(s, "google_hmac_secret");
}

static void gcs_close(struct weir_store *s)
{
    struct gcs *x = impl(s);
    if (!x)
        return;
    weir_http_destroy(x->http);
    weir_free(x->scheme_host);
    weir_free(x->bucket);
    weir_free(x->bucket_enc);
    weir_free(x->prefix);
    weir_free(x->display);
    if (x->auth)
        memset(x->auth, 0, strlen(x->auth));
    weir_free(x->auth);
    weir_free(x);
    s->impl = NULL;
}

static int gcs_open(struct weir_store *s, const char *location, struct weir_error *err)
{
    struct gcs *x = weir_calloc(1, sizeof *x);
    if (!x)
        return oom(err);
    s->impl = x;
    int rc = 0;
    const char *b = location + strlen("gs://");
    const char *slash = strchr(b, '/');
    size_t bl = slash ? (size_t)(slash - b) : strlen(b);
    if (bl < 3) {
        rc = weir_error_set(err, WEIR_EINVAL, "storage: '%s' names no bucket", location);
        goto fail;
    }
    const char *pre = slash ? slash + 1 : "";
    size_t pl = strlen(pre);
    x->bucket = weir_strndup(b, bl);
    x->prefix = weir_malloc(pl + 2);
    x->display = weir_malloc(bl + 8);
    if (!x->bucket || !x->prefix || !x->display || !(x->bucket_enc = weir_uri_encode_dup(x->bucket)))
        goto nomem;
    memcpy(x->prefix, pre, pl + 1);
    if (pl && x->prefix[pl - 1] != '/')
        strcat(x->prefix, "/");
    snprintf(x->display, bl + 8, "gs://%s", x->bucket);
    const char *ep = weir_store_opt(s, "google_endpoint_url");
    char base[1024];
    if (ep && strstr(ep, "://") == NULL) /* STORAGE_EMULATOR_HOST may be "host:port" */
        snprintf(base, sizeof base, "http://%s", ep);
    else
        snprintf(base, sizeof base, "%s", ep ? ep : "https://storage.googleapis.com");
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        base[--n] = '\0';
    if (!(x->scheme_host = weir_strdup(base)))
        goto nomem;
    const char *tok = weir_store_opt(s, "google_bearer_token");
    if (tok) {
        size_t tl = strlen(tok);
        if (!(x->auth = weir_malloc(tl + 8)))
            goto nomem;
        snprintf(x->auth, tl + 8, "Bearer %s", tok);
    }
    uint64_t part;
    if ((rc = weir_store_opt_size(s, "multipart_part_size", GCS_DEFAULT_PART, &part, err)))
        goto fail;
    part -= part % GCS_CHUNK_ALIGN;
    if (part < GCS_CHUNK_ALIGN || part > (1ull << 30)) {
        rc = weir_error_set(err, WEIR_ECONFIG, "storage option multipart_part_size: between 256KB and 1GB");
        goto fail;
    }
    x->part_size = (size_t)part;
    struct weir_http_settings set;
    if ((rc = weir_store_http_settings(s, &set, err)) || (rc = weir_http_create(&set, &x->http, err)))
        goto fail;
    return 0;
nomem:
    rc = oom(err);
fail:
    gcs_close(s);
    return rc;
}

/* ------------------------------------------------------------ requests */

struct req {
    struct weir_http_req h; /* first: sign callbacks cast the call back */
    char range[64];
    char crange[96];
};

/* upload: the /upload/ path; key NULL: the bucket's object collection. */
static int req_init(struct req *r, struct gcs *x, const char *method, const char *key, bool upload)
{
    memset(r, 0, sizeof *r);
    weir_http_req_init(&r->h);
    if (weir_buf_printf(&r->h.path, "%s/storage/v1/b/%s/o", upload ? "/upload" : "", x->bucket_enc))
        return WEIR_ENOMEM;
    if (key && !upload) {
        struct weir_buf name;
        weir_buf_init(&name);
        int bad = weir_buf_printf(&name, "%s%s", x->prefix, key) || weir_buf_append_byte(&r->h.path, '/') ||
                  weir_uri_encode(&r->h.path, (char *)name.data, name.len, false);
        weir_buf_free(&name);
        if (bad)
            return WEIR_ENOMEM;
    }
    return weir_http_req_start(&r->h, method, x->scheme_host, x->display, x->prefix, key);
}

static int sign_gcs(void *ctx, struct weir_http_call *c, struct weir_error *err)
{
    struct gcs *x = ctx;
    if (x->auth && weir_http_add_header(c, "Authorization", x->auth))
        return weir_error_set(err, WEIR_ERANGE, "storage: too many headers");
    return 0;
}

static int send_req(struct gcs *x, struct req *r, struct weir_error *err)
{
    return weir_http_do(x->http, &r->h.c, sign_gcs, x, (char *)r->h.what.data, err);
}

/* ------------------------------------------------------------ reads */

static int gcs_get_into(struct weir_store *s, const char *key, struct weir_buf *out, void *dst, uint64_t off,
                        size_t n, struct weir_error *err)
{
    struct gcs *x = impl(s);
    struct req r;
    struct weir_kv q[] = {{"alt", "media"}};
    int rc = req_init(&r, x, "GET", key, false) || weir_http_req_query(&r.h, q, 1) ? oom(err) : 0;
    if (rc == 0) {
        if (dst) {
            snprintf(r.range, sizeof r.range, "bytes=%" PRIu64 "-%" PRIu64, off, off + n - 1);
            weir_http_add_header(&r.h.c, "Range", r.range);
            r.h.c.dst = dst;
            r.h.c.dst_len = n;
        } else {
            r.h.c.out = out;
        }
        rc = send_req(x, &r, err);
        if (rc == 0 && dst && r.h.c.status == 416)
            rc = weir_error_set(err, WEIR_ECORRUPT, "storage: %s: the object ends before byte %" PRIu64,
                                (char *)r.h.what.data, off + n);
        else if (rc == 0 && r.h.c.status != 200 && r.h.c.status != 206)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
        else if (rc == 0 && dst && r.h.c.status == 200 && off != 0)
            rc = weir_error_set(err, WEIR_EIO, "storage: %s: the server ignored the byte range",
                                (char *)r.h.what.data);
    }
    weir_http_req_free(&r.h);
    return rc;
}

static int gcs_get(struct weir_store *s, const char *key, struct weir_buf *out, struct weir_error *err)
{
    return gcs_get_into(s, key, out, NULL, 0, 0, err);
}

static int gcs_get_range(struct weir_store *s, const char *key, uint64_t off, void *p, size_t n,
                         struct weir_error *err)
{
    return n == 0 ? 0 : gcs_get_into(s, key, NULL, p, off, n, err);
}

/* size and updated of an object resource (JSON). */
static void object_info(const cJSON *o, uint64_t *size, int64_t *mtime)
{
    const cJSON *sz = cJSON_GetObjectItemCaseSensitive(o, "size");
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(o, "updated");
    *size = cJSON_IsString(sz)   ? strtoull(sz->valuestring, NULL, 10)
            : cJSON_IsNumber(sz) ? (uint64_t)sz->valuedouble
                                 : 0;
    *mtime = cJSON_IsString(up) ? weir_http_parse_time(up->valuestring) : 0;
}

static int gcs_head(struct weir_store *s, const char *key, struct weir_object_info *info,
                    struct weir_error *err)
{
    struct gcs *x = impl(s);
    struct req r;
    struct weir_buf body;
    weir_buf_init(&body);
    int rc = req_init(&r, x, "GET", key, false) ? oom(err) : 0;
    if (rc == 0) {
        r.h.c.out = &body;
        rc = send_req(x, &r, err);
        if (rc == 0 && r.h.c.status != 200)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    }
    if (rc == 0) {
        cJSON *o = cJSON_ParseWithLength((char *)body.data, body.len);
        if (!o)
            rc = weir_error_set(err, WEIR_EIO, "storage: %s: the answer is not JSON", (char *)r.h.what.data);
        else
            object_info(o, &info->size, &info->mtime_ms);
        info->key = NULL;
        cJSON_Delete(o);
    }
    weir_http_req_free(&r.h);
    weir_buf_free(&body);
    return rc;
}

/* ------------------------------------------------------------ writes */

static int media_upload(struct gcs *x, const char *key, const void *p, size_t n, bool if_absent,
                        bool *retried, struct weir_error *err)
{
    struct req r;
    struct weir_buf name;
    weir_buf_init(&name);
    int rc = weir_buf_printf(&name, "%s%s", x->prefix, key) ? oom(err) : 0;
    struct weir_kv q[3] = {{"uploadType", "media"}, {"name", (char *)name.data}, {"ifGenerationMatch", "0"}};
    if (rc == 0 && (req_init(&r, x, "POST", key, true) || weir_http_req_query(&r.h, q, if_absent ? 3 : 2))) {
        weir_http_req_free(&r.h);
        rc = oom(err);
    } else if (rc == 0) {
        weir_http_add_header(&r.h.c, "Content-Type", "application/octet-stream");
        r.h.c.body = p ? p : "";
        r.h.c.body_len = n;
        rc = send_req(x, &r, err);
        if (retried)
            *retried = r.h.c.attempts > 1;
        if (rc == 0 && if_absent && r.h.c.status == 412)
            rc = weir_error_set(err, WEIR_EEXISTS, "storage: %s: the object already exists",
                                (char *)r.h.what.data);
        else if (rc == 0 && r.h.c.status != 200)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
        weir_http_req_free(&r.h);
    }
    weir_buf_free(&name);
    return rc;
}

static int gcs_put(struct weir_store *s, const char *key, const void *p, size_t n, struct weir_error *err)
{
    return media_upload(impl(s), key, p, n, false, NULL, err);
}

static int gcs_put_if_absent(struct weir_store *s, const char *key, const void *p, size_t n,
                             struct weir_error *err)
{
    bool retried = false;
    int rc = media_upload(impl(s), key, p, n, true, &retried, err);
    return weir_store_settle_put_if_absent(s, key, p, n, rc, retried, err);
}

static int gcs_delete(struct weir_store *s, const char *key, struct weir_error *err)
{
    struct gcs *x = impl(s);
    struct req r;
    int rc = req_init(&r, x, "DELETE", key, false) ? oom(err) : 0;
    if (rc == 0) {
        rc = send_req(x, &r, err);
        if (rc == 0 && r.h.c.status != 204 && r.h.c.status != 200)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    }
    weir_http_req_free(&r.h);
    return rc;
}

/* ------------------------------------------------------------ list */

static int gcs_list(struct weir_store *s, const char *prefix, const char *start_after, bool recursive,
                    struct weir_object_list *out, struct weir_error *err)
{
    struct gcs *x = impl(s);
    size_t cap = 0, pl = strlen(x->prefix);
    struct weir_buf full_prefix, full_start, token, body;
    weir_buf_init(&full_prefix);
    weir_buf_init(&full_start);
    weir_buf_init(&token);
    weir_buf_init(&body);
    int rc = 0;
    if (weir_buf_printf(&full_prefix, "%s%s", x->prefix, prefix) ||
        (start_after && weir_buf_printf(&full_start, "%s%s", x->prefix, start_after))) {
        rc = oom(err);
        goto done;
    }
    for (;;) {
        struct weir_kv q[5];
        size_t nq = 0;
        q[nq++] = (struct weir_kv){"prefix", (char *)full_prefix.data};
        if (!recursive)
            q[nq++] = (struct weir_kv){"delimiter", "/"};
        if (start_after)
            q[nq++] = (struct weir_kv){"startOffset", (char *)full_start.data};
        if (token.len)
            q[nq++] = (struct weir_kv){"pageToken", (char *)token.data};
        q[nq++] = (struct weir_kv){"fields", "items(name,size,updated),nextPageToken"};
        struct req r;
        body.len = 0;
        if (req_init(&r, x, "GET", NULL, false) || weir_http_req_query(&r.h, q, nq)) {
            weir_http_req_free(&r.h);
            rc = oom(err);
            goto done;
        }
        r.h.what.len = 0;
        weir_buf_printf(&r.h.what, "LIST %s/%s", x->display, (char *)full_prefix.data);
        r.h.c.out = &body;
        rc = send_req(x, &r, err);
        if (rc == 0 && r.h.c.status != 200)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
        cJSON *doc = rc == 0 ? cJSON_ParseWithLength((char *)body.data, body.len) : NULL;
        if (rc == 0 && !doc)
            rc = weir_error_set(err, WEIR_EIO, "storage: %s: the answer is not JSON", (char *)r.h.what.data);
        weir_http_req_free(&r.h);
        if (rc)
            goto done;
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items"), *it;
        cJSON_ArrayForEach(it, items)
        {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
            if (!cJSON_IsString(nm))
                continue;
            const char *k = nm->valuestring;
            size_t kl = strlen(k);
            if (strncmp(k, x->prefix, pl) != 0 || k[pl] == '\0' || k[kl - 1] == '/')
                continue;
            /* startOffset is inclusive; start_after is not. */
            if (start_after && strcmp(k + pl, start_after) <= 0)
                continue;
            uint64_t size;
            int64_t mtime;
            object_info(it, &size, &mtime);
            if (weir_object_list_push(out, &cap, k + pl, size, mtime)) {
                cJSON_Delete(doc);
                rc = oom(err);
                goto done;
            }
        }
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(doc, "nextPageToken");
        token.len = 0;
        bool more = cJSON_IsString(next) && next->valuestring[0] &&
                    weir_buf_append_str(&token, next->valuestring) == 0;
        cJSON_Delete(doc);
        if (!more)
            break;
    }
done:
    if (rc)
        weir_object_list_free(out);
    weir_buf_free(&full_prefix);
    weir_buf_free(&full_start);
    weir_buf_free(&token);
    weir_buf_free(&body);
    return rc;
}

/* ------------------------------------------------------------ upload */

struct gcs_upload {
    struct weir_parts_upload base;
    char *session_host; /* resumable session URL, split; NULL until started */
    char *session_path;
};

static int start_session(struct gcs_upload *u, struct weir_error *err)
{
    struct gcs *x = impl(u->base.s);
    struct weir_buf name;
    weir_buf_init(&name);
    int rc = weir_buf_printf(&name, "%s%s", x->prefix, u->base.key) ? oom(err) : 0;
    struct weir_kv q[] = {{"uploadType", "resumable"}, {"name", (char *)name.data}};
    struct req r;
    if (rc == 0 && (req_init(&r, x, "POST", u->base.key, true) || weir_http_req_query(&r.h, q, 2))) {
        weir_http_req_free(&r.h);
        rc = oom(err);
    } else if (rc == 0) {
        rc = send_req(x, &r, err);
        if (rc == 0 && r.h.c.status != 200 && r.h.c.status != 201)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
        char loc[4096];
        if (rc == 0 && !weir_http_header(&r.h.c, "location", loc, sizeof loc))
            rc = weir_error_set(err, WEIR_EIO, "storage: %s: no upload session in the answer",
                                (char *)r.h.what.data);
        if (rc == 0) {
            const char *hs = strstr(loc, "://");
            const char *p = hs ? strchr(hs + 3, '/') : NULL;
            if (!p)
                rc = weir_error_set(err, WEIR_EIO, "storage: %s: bad upload session URL",
                                    (char *)r.h.what.data);
            else if (!(u->session_host = weir_strndup(loc, (size_t)(p - loc))) ||
                     !(u->session_path = weir_strdup(p)))
                rc = oom(err);
        }
        weir_http_req_free(&r.h);
    }
    weir_buf_free(&name);
    return rc;
}

/* Send the buffered chunk; final: it is the last one (total size known). */
static int send_chunk(struct gcs_upload *u, bool final, struct weir_error *err)
{
    struct gcs *x = impl(u->base.s);
    struct req r;
    memset(&r, 0, sizeof r);
    weir_buf_init(&r.h.path);
    weir_buf_init(&r.h.query);
    weir_buf_init(&r.h.what);
    int rc = 0;
    char *q = strchr(u->session_path, '?');
    if (weir_buf_append(&r.h.path, u->session_path,
                        q ? (size_t)(q - u->session_path) : strlen(u->session_path)) ||
        weir_buf_reserve(&r.h.path, 0) || (q && weir_buf_append_str(&r.h.query, q + 1)) ||
        weir_buf_reserve(&r.h.query, 0) ||
        weir_buf_printf(&r.h.what, "PUT %s/%s%s (upload)", x->display, x->prefix, u->base.key)) {
        weir_http_req_free(&r.h);
        return oom(err);
    }
    weir_http_call_init(&r.h.c, "PUT", u->session_host, (char *)r.h.path.data, (char *)r.h.query.data);
    uint64_t sent = u->base.total - u->base.part.len; /* bytes the session has */
    uint64_t end = u->base.total;
    if (u->base.part.len == 0)
        snprintf(r.crange, sizeof r.crange, "bytes */%" PRIu64, end);
    else if (final)
        snprintf(r.crange, sizeof r.crange, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, sent, end - 1, end);
    else
        snprintf(r.crange, sizeof r.crange, "bytes %" PRIu64 "-%" PRIu64 "/*", sent, end - 1);
    weir_http_add_header(&r.h.c, "Content-Range", r.crange);
    r.h.c.body = u->base.part.data ? (const void *)u->base.part.data : "";
    r.h.c.body_len = u->base.part.len;
    rc = send_req(x, &r, err);
    long want = final ? 200 : 308;
    if (rc == 0 && !(r.h.c.status == want || (final && r.h.c.status == 201)))
        rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    weir_http_req_free(&r.h);
    return rc;
}

static int upload_put(struct weir_parts_upload *u, struct weir_error *err)
{
    return media_upload(impl(u->s), u->key, u->part.data, u->part.len, false, NULL, err);
}

static int upload_send(struct weir_parts_upload *base, struct weir_error *err)
{
    struct gcs_upload *u = (struct gcs_upload *)base;
    int rc = !u->session_host ? start_session(u, err) : 0;
    return rc ? rc : send_chunk(u, false, err);
}

static int upload_complete(struct weir_parts_upload *u, struct weir_error *err)
{
    return send_chunk((struct gcs_upload *)u, true, err);
}

/* An unfinished session expires by itself; nothing is visible. */
static void upload_release(struct weir_parts_upload *base, bool aborted)
{
    struct gcs_upload *u = (struct gcs_upload *)base;
    (void)aborted;
    weir_free(u->session_host);
    weir_free(u->session_path);
}

/* keep_last: one full chunk stays back so the final one is never empty */
static const struct weir_parts_upload_ops gcs_parts = {upload_put, upload_send, upload_complete,
                                                       upload_release};

static int gcs_upload_begin(struct weir_store *s, const char *key, struct weir_store_upload **out,
                            struct weir_error *err)
{
    struct weir_parts_upload *u = weir_calloc(1, sizeof(struct gcs_upload));
    return weir_parts_upload_begin(u, s, key, impl(s)->part_size, true, &gcs_parts, out, err);
}

const struct weir_store_ops weir_store_gcs_ops = {
    .version = WEIR_STORE_OPS_VERSION,
    .name = "gcs",
    .open = gcs_open,
    .close = gcs_close,
    .get = gcs_get,
    .get_range = gcs_get_range,
    .head = gcs_head,
    .put = gcs_put,
    .put_if_absent = gcs_put_if_absent,
    .list = gcs_list,
    .del = gcs_delete,
    .upload_begin = gcs_upload_begin,
    .upload_output = weir_parts_upload_output,
    .upload_commit = weir_parts_upload_commit,
    .upload_abort = weir_parts_upload_abort,
};
