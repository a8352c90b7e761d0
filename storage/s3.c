/* storage/s3.c - the S3 back-end: AWS S3 and S3-compatible stores, and
 * GCS's XML API when HMAC keys are configured (gs:// in storage.c).
 *
 * Owns the bucket, the key prefix below it, the endpoint and the
 * credentials of a store. Requests are signed with Signature V4
 * (sign.c) and sent by http.c, which retries transient failures.
 *   get/get_range/head  GET (with Range) / HEAD
 *   put                 PUT
 *   put_if_absent       PUT with If-None-Match: * (GCS:
 *                       x-goog-if-generation-match: 0); 412 -> WEIR_EEXISTS.
 *                       If an attempt was retried and the answer is 412, the
 *                       object may be our own first attempt: its content is
 *                       compared and equal content counts as success.
 *   list                ListObjectsV2 (start-after, continuation tokens;
 *                       delimiter '/' when not recursive)
 *   upload              one PUT up to multipart_part_size (default 16 MiB),
 *                       else a multipart upload: the object appears whole at
 *                       CompleteMultipartUpload, nothing before.
 * Addressing: virtual-host style ("https://bucket.s3.region.amazonaws.com")
 * on AWS, path style ("http://127.0.0.1:9000/bucket") with a custom
 * endpoint; aws_virtual_hosted_style_request overrides either way.
 * Credentials: options / environment, else the shared credentials file
 * (aws_shared_credentials_file, default ~/.aws/credentials, profile
 * aws_profile or "default"); none at all sends unsigned requests.
 * Threading: immutable after open; http.c serialises nothing but its pool. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "storage/http.h"
#include "storage/storage_int.h"

#define S3_DEFAULT_PART    (16u << 20)
#define S3_MIN_PART        (5u << 20)
#define S3_MAX_PARTS       10000
/* Bodies up to this size are hashed into the signature; larger ones are
 * sent as UNSIGNED-PAYLOAD (TLS protects them in transit). */
#define S3_SIGNED_BODY_MAX (1u << 20)

struct s3 {
    struct weir_http *http;
    char *scheme_host; /* "https://host[:port]" */
    char *host;        /* "host[:port]", as signed */
    char *bucket_path; /* "" (virtual host) or "/bucket" (path style) */
    char *bucket;
    char *prefix;  /* "" or "dir/sub/" */
    char *display; /* "s3://bucket" or "gs://bucket", for messages */
    char *region;
    char *access_key, *secret_key, *token; /* NULL: unsigned requests */
    bool gcs;                              /* GCS XML API */
    size_t part_size;
};

static struct s3 *impl(struct weir_store *s)
{
    return s->impl;
}

/* ------------------------------------------------------------ credentials */

static char *dup_opt(const struct weir_store *s, const char *name)
{
    const char *v = weir_store_opt(s, name);
    return v ? weir_strdup(v) : NULL;
}

static char *trim(char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    char *e = p + strlen(p);
    while (e > p && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return p;
}

/* aws_access_key_id / aws_secret_access_key / aws_session_token of
 * `profile` in an INI-style credentials file; missing file: nothing. */
static int read_shared_credentials(struct s3 *x, const char *path, const char *profile,
                                   struct weir_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    bool in = false;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        char *l = trim(line);
        if (*l == '#' || *l == ';' || *l == '\0')
            continue;
        if (*l == '[') {
            char *e = strchr(l, ']');
            if (e)
                *e = '\0';
            char *name = trim(l + 1);
            if (strncmp(name, "profile ", 8) == 0)
                name = trim(name + 8);
            in = strcmp(name, profile) == 0;
            continue;
        }
        char *eq = strchr(l, '=');
        if (!in || !eq)
            continue;
        *eq = '\0';
        char *k = trim(l), *v = trim(eq + 1);
        char **dst = strcmp(k, "aws_access_key_id") == 0       ? &x->access_key
                     : strcmp(k, "aws_secret_access_key") == 0 ? &x->secret_key
                     : strcmp(k, "aws_session_token") == 0     ? &x->token
                     : strcmp(k, "region") == 0                ? &x->region
                                                               : NULL;
        if (dst && !*dst && !(*dst = weir_strdup(v))) {
            rc = weir_error_set(err, WEIR_ENOMEM, "storage: out of memory");
            break;
        }
    }
    fclose(f);
    return rc;
}

static int load_credentials(struct weir_store *s, struct s3 *x, struct weir_error *err)
{
    if (x->gcs) {
        x->access_key = dup_opt(s, "google_hmac_access_id");
        x->secret_key = dup_opt(s, "google_hmac_secret");
        return 0;
    }
    x->access_key = dup_opt(s, "aws_access_key_id");
    x->secret_key = dup_opt(s, "aws_secret_access_key");
    x->token = dup_opt(s, "aws_session_token");
    if (x->access_key && x->secret_key)
        return 0;
    weir_free(x->access_key);
    weir_free(x->secret_key);
    weir_free(x->token);
    x->access_key = x->secret_key = x->token = NULL;
    const char *profile = weir_store_opt(s, "aws_profile");
    const char *file = weir_store_opt(s, "aws_shared_credentials_file");
    char path[4096];
    if (!file) {
        const char *home = getenv("HOME");
        if (!home)
            return 0;
        snprintf(path, sizeof path, "%s/.aws/credentials", home);
        file = path;
    }
    int rc = read_shared_credentials(x, file, profile ? profile : "default", err);
    if (rc == 0 && (!x->access_key || !x->secret_key)) {
        weir_free(x->access_key);
        weir_free(x->secret_key);
        weir_free(x->token);
        x->access_key = x->secret_key = x->token = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------ open */

static void s3_close(struct weir_store *s)
{
    struct s3 *x = impl(s);
    if (!x)
        return;
    weir_http_destroy(x->http);
    weir_free(x->scheme_host);
    weir_free(x->host);
    weir_free(x->bucket_path);
    weir_free(x->bucket);
    weir_free(x->prefix);
    weir_free(x->display);
    weir_free(x->region);
    if (x->secret_key)
        memset(x->secret_key, 0, strlen(x->secret_key));
    weir_free(x->access_key);
    weir_free(x->secret_key);
    weir_free(x->token);
    weir_free(x);
    s->impl = NULL;
}

static bool valid_bucket(const char *b, size_t n)
{
    if (n < 3 || n > 222)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '-' || b[i] == '.' ||
              b[i] == '_'))
            return false;
    return true;
}

static int s3_open(struct weir_store *s, const char *location, struct weir_error *err)
{
    struct s3 *x = weir_calloc(1, sizeof *x);
    if (!x)
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory");
    s->impl = x;
    int rc = 0;
    x->gcs = strncmp(location, "gs://", 5) == 0;
    const char *b = strstr(location, "://") + 3;
    const char *slash = strchr(b, '/');
    size_t bl = slash ? (size_t)(slash - b) : strlen(b);
    if (!valid_bucket(b, bl)) {
        rc = weir_error_set(err, WEIR_EINVAL, "storage: '%s': '%.*s' is not a bucket name", location, (int)bl,
                            b);
        goto fail;
    }
    x->bucket = weir_strndup(b, bl);
    const char *pre = slash ? slash + 1 : "";
    size_t pl = strlen(pre);
    x->prefix = weir_malloc(pl + 2);
    x->display = weir_malloc(bl + 8);
    if (!x->bucket || !x->prefix || !x->display) {
        rc = weir_error_set(err, WEIR_ENOMEM, "storage: out of memory");
        goto fail;
    }
    memcpy(x->prefix, pre, pl + 1);
    if (pl && x->prefix[pl - 1] != '/')
        strcat(x->prefix, "/");
    snprintf(x->display, bl + 8, "%s://%s", x->gcs ? "gs" : "s3", x->bucket);
    if (pl && (rc = weir_store_check_key(x->prefix, true, err)) < 0) {
        weir_error_prefix(err, "storage: '%s'", location);
        goto fail;
    }

    if ((rc = load_credentials(s, x, err)))
        goto fail;
    const char *region = weir_store_opt(s, "aws_region");
    if (x->gcs)
        region = "auto";
    if (!x->region || region)
        x->region = weir_strdup(region ? region : "us-east-1");
    uint64_t part;
    if ((rc = weir_store_opt_size(s, "multipart_part_size", S3_DEFAULT_PART, &part, err)))
        goto fail;
    if (part < S3_MIN_PART || part > (1ull << 30)) {
        rc = weir_error_set(err, WEIR_ECONFIG, "storage option multipart_part_size: between 5MB and 1GB");
        goto fail;
    }
    x->part_size = (size_t)part;

    const char *endpoint =
        x->gcs ? weir_store_opt(s, "google_endpoint_url") : weir_store_opt(s, "aws_endpoint_url");
    bool vhost;
    if ((rc = weir_store_opt_bool(s, "aws_virtual_hosted_style_request", endpoint == NULL, &vhost, err)))
        goto fail;
    char base[1024];
    if (endpoint) {
        size_t el = strlen(endpoint);
        while (el && endpoint[el - 1] == '/')
            el--;
        if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) {
            rc = weir_error_set(err, WEIR_ECONFIG,
                                "storage: endpoint '%s' must start with http:// or https://", endpoint);
            goto fail;
        }
        snprintf(base, sizeof base, "%.*s", (int)el, endpoint);
    } else if (x->gcs) {
        snprintf(base, sizeof base, "https://storage.googleapis.com");
    } else {
        snprintf(base, sizeof base, "https://s3.%s.amazonaws.com", x->region ? x->region : "us-east-1");
    }
    if (vhost) {
        /* bucket.<endpoint host> */
        char *hs = strstr(base, "://") + 3;
        char tmp[1200];
        snprintf(tmp, sizeof tmp, "%.*s%s.%s", (int)(hs - base), base, x->bucket, hs);
        x->scheme_host = weir_strdup(tmp);
        x->bucket_path = weir_strdup("");
    } else {
        x->scheme_host = weir_strdup(base);
        struct weir_buf bp;
        weir_buf_init(&bp);
        if (weir_buf_append_byte(&bp, '/') == 0 && weir_uri_encode(&bp, x->bucket, bl, false) == 0)
            x->bucket_path = weir_buf_detach(&bp);
        weir_buf_free(&bp);
    }
    if (!x->scheme_host || !x->bucket_path || !x->region) {
        rc = weir_error_set(err, WEIR_ENOMEM, "storage: out of memory");
        goto fail;
    }
    const char *h = strstr(x->scheme_host, "://") + 3;
    size_t hl = strcspn(h, "/");
    x->host = weir_strndup(h, hl);
    struct weir_http_settings set;
    if (!x->host) {
        rc = weir_error_set(err, WEIR_ENOMEM, "storage: out of memory");
        goto fail;
    }
    if ((rc = weir_store_http_settings(s, &set, err)) || (rc = weir_http_create(&set, &x->http, err)))
        goto fail;
    if (!x->access_key)
        WEIR_INFO("storage: %s: no credentials configured; requests are sent unsigned", x->display);
    return 0;
fail:
    s3_close(s);
    return rc;
}

/* ------------------------------------------------------------ requests */

/* A request being built: the call plus the strings it points into. */
struct req {
    struct weir_http_req h;   /* first: sign callbacks cast the call back */
    const char *payload_hash; /* NULL: hash the body */
    char body_hash[65];
    char range[64];
};

static int req_init(struct req *r, struct s3 *x, const char *method, const char *key)
{
    memset(r, 0, sizeof *r);
    weir_http_req_init(&r->h);
    if (weir_buf_append_str(&r->h.path, x->bucket_path) || weir_buf_append_byte(&r->h.path, '/'))
        return WEIR_ENOMEM;
    if (key) {
        if (weir_uri_encode(&r->h.path, x->prefix, strlen(x->prefix), true) ||
            weir_uri_encode(&r->h.path, key, strlen(key), true))
            return WEIR_ENOMEM;
    }
    return weir_http_req_start(&r->h, method, x->scheme_host, x->display, x->prefix, key);
}

static int sign_s3(void *ctx, struct weir_http_call *c, struct weir_error *err)
{
    struct s3 *x = ctx;
    struct req *r = (struct req *)c; /* c is the first member of struct req */
    const char *payload = r->payload_hash;
    if (!payload) {
        if (c->body_len <= S3_SIGNED_BODY_MAX) {
            weir_sha256_hex(c->body ? c->body : "", c->body_len, r->body_hash);
            payload = r->body_hash;
        } else {
            payload = "UNSIGNED-PAYLOAD";
        }
    }
    if (!x->access_key)
        return 0;
    char date[17];
    weir_http_amz_date(date);
    if (weir_http_add_header_owned(c, "x-amz-date", weir_strdup(date)) ||
        weir_http_add_header_owned(c, "x-amz-content-sha256", weir_strdup(payload)) ||
        (x->token && weir_http_add_header(c, "x-amz-security-token", x->token)))
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory signing a request");
    /* Sign every header sent, plus host. */
    struct weir_kv hs[WEIR_HTTP_MAX_HEADERS + 1];
    size_t n = 0;
    hs[n++] = (struct weir_kv){"host", x->host};
    for (size_t i = 0; i < c->nheaders; i++)
        hs[n++] = c->headers[i];
    struct weir_sigv4 k = {x->access_key, x->secret_key, x->region, "s3", date};
    struct weir_buf auth;
    weir_buf_init(&auth);
    if (weir_sigv4_authorization(&k, c->method, c->path, c->query ? c->query : "", hs, n, payload, &auth)) {
        weir_buf_free(&auth);
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory signing a request");
    }
    if (weir_http_add_header_owned(c, "Authorization", weir_buf_detach(&auth)))
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory signing a request");
    return 0;
}

static int send_req(struct s3 *x, struct req *r, struct weir_error *err)
{
    return weir_http_do(x->http, &r->h.c, sign_s3, x, (char *)r->h.what.data, err);
}

static int oom(struct weir_error *err)
{
    return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory");
}

/* ------------------------------------------------------------ reads */

static int s3_get(struct weir_store *s, const char *key, struct weir_buf *out, struct weir_error *err)
{
    struct s3 *x = impl(s);
    struct req r;
    int rc = req_init(&r, x, "GET", key);
    if (rc == 0) {
        r.h.c.out = out;
        rc = send_req(x, &r, err);
        if (rc == 0 && r.h.c.status != 200)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    } else {
        rc = oom(err);
    }
    weir_http_req_free(&r.h);
    return rc;
}

static int s3_get_range(struct weir_store *s, const char *key, uint64_t off, void *p, size_t n,
                        struct weir_error *err)
{
    if (n == 0)
        return 0;
    struct s3 *x = impl(s);
    struct req r;
    int rc = req_init(&r, x, "GET", key);
    if (rc) {
        weir_http_req_free(&r.h);
        return oom(err);
    }
    snprintf(r.range, sizeof r.range, "bytes=%" PRIu64 "-%" PRIu64, off, off + n - 1);
    weir_http_add_header(&r.h.c, "Range", r.range);
    r.h.c.dst = p;
    r.h.c.dst_len = n;
    rc = send_req(x, &r, err);
    if (rc == 0 && r.h.c.status == 416)
        rc = weir_error_set(err, WEIR_ECORRUPT, "storage: %s: the object ends before byte %" PRIu64,
                            (char *)r.h.what.data, off + n);
    else if (rc == 0 && r.h.c.status != 206 && r.h.c.status != 200)
        rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    else if (rc == 0 && r.h.c.status == 200 && (off != 0 || r.h.c.dst_got != n))
        rc = weir_error_set(err, WEIR_EIO, "storage: %s: the server ignored the byte range",
                            (char *)r.h.what.data);
    weir_http_req_free(&r.h);
    return rc;
}

static int s3_head(struct weir_store *s, const char *key, struct weir_object_info *info,
                   struct weir_error *err)
{
    struct s3 *x = impl(s);
    struct req r;
    int rc = req_init(&r, x, "HEAD", key);
    if (rc) {
        weir_http_req_free(&r.h);
        return oom(err);
    }
    rc = send_req(x, &r, err);
    if (rc == 0 && r.h.c.status != 200)
        rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    if (rc == 0) {
        char v[128];
        info->key = NULL;
        info->size = weir_http_header(&r.h.c, "content-length", v, sizeof v) ? strtoull(v, NULL, 10) : 0;
        info->mtime_ms = weir_http_header(&r.h.c, "last-modified", v, sizeof v) ? weir_http_parse_time(v) : 0;
    }
    weir_http_req_free(&r.h);
    return rc;
}

/* ------------------------------------------------------------ writes */

static int put_object(struct s3 *x, const char *key, const void *p, size_t n, bool if_absent, bool *retried,
                      struct weir_error *err)
{
    struct req r;
    int rc = req_init(&r, x, "PUT", key);
    if (rc) {
        weir_http_req_free(&r.h);
        return oom(err);
    }
    r.h.c.body = p;
    r.h.c.body_len = n;
    if (if_absent)
        weir_http_add_header(&r.h.c, x->gcs ? "x-goog-if-generation-match" : "If-None-Match",
                             x->gcs ? "0" : "*");
    for (int conflicts = 0;; conflicts++) {
        rc = send_req(x, &r, err);
        /* 409 ConditionalRequestConflict: another conditional write to the
         * key is in flight; try again, the answer becomes 200 or 412. */
        if (rc == 0 && r.h.c.status == 409 && if_absent && conflicts < 10) {
            struct timespec ts = {0, 50000000L * (conflicts + 1)};
            nanosleep(&ts, NULL);
            continue;
        }
        break;
    }
    if (retried)
        *retried = r.h.c.attempts > 1;
    if (rc == 0 && if_absent && r.h.c.status == 412)
        rc = weir_error_set(err, WEIR_EEXISTS, "storage: %s: the object already exists",
                            (char *)r.h.what.data);
    else if (rc == 0 && r.h.c.status != 200)
        rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    weir_http_req_free(&r.h);
    return rc;
}

static int s3_put(struct weir_store *s, const char *key, const void *p, size_t n, struct weir_error *err)
{
    return put_object(impl(s), key, p, n, false, NULL, err);
}

static int s3_put_if_absent(struct weir_store *s, const char *key, const void *p, size_t n,
                            struct weir_error *err)
{
    bool retried = false;
    int rc = put_object(impl(s), key, p, n, true, &retried, err);
    return weir_store_settle_put_if_absent(s, key, p, n, rc, retried, err);
}

static int s3_delete(struct weir_store *s, const char *key, struct weir_error *err)
{
    struct s3 *x = impl(s);
    struct req r;
    int rc = req_init(&r, x, "DELETE", key);
    if (rc) {
        weir_http_req_free(&r.h);
        return oom(err);
    }
    rc = send_req(x, &r, err);
    if (rc == 0 && r.h.c.status != 204 && r.h.c.status != 200)
        rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    weir_http_req_free(&r.h);
    return rc;
}

/* ------------------------------------------------------------ list */

static int s3_list(struct weir_store *s, const char *prefix, const char *start_after, bool recursive,
                   struct weir_object_list *out, struct weir_error *err)
{
    struct s3 *x = impl(s);
    size_t cap = 0, pl = strlen(x->prefix);
    struct weir_buf full_prefix, full_start, token, body, key, val;
    weir_buf_init(&full_prefix);
    weir_buf_init(&full_start);
    weir_buf_init(&token);
    weir_buf_init(&body);
    weir_buf_init(&key);
    weir_buf_init(&val);
    int rc = 0;
    if (weir_buf_printf(&full_prefix, "%s%s", x->prefix, prefix) ||
        (start_after && weir_buf_printf(&full_start, "%s%s", x->prefix, start_after))) {
        rc = oom(err);
        goto done;
    }
    for (;;) {
        struct weir_kv q[6];
        size_t nq = 0;
        q[nq++] = (struct weir_kv){"list-type", "2"};
        q[nq++] = (struct weir_kv){"prefix", (char *)full_prefix.data};
        if (!recursive)
            q[nq++] = (struct weir_kv){"delimiter", "/"};
        if (token.len)
            q[nq++] = (struct weir_kv){"continuation-token", (char *)token.data};
        else if (start_after)
            q[nq++] = (struct weir_kv){"start-after", (char *)full_start.data};
        struct req r;
        body.len = 0;
        if (req_init(&r, x, "GET", NULL) || weir_http_req_query(&r.h, q, nq)) {
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
        weir_http_req_free(&r.h);
        if (rc)
            goto done;
        const char *doc = (const char *)body.data;
        size_t len = body.len, pos = 0, cs, ce;
        while (weir_xml_element(doc, len, &pos, "Contents", &cs, &ce)) {
            size_t p = cs;
            if (!weir_xml_next(doc, ce, &p, "Key", &key))
                continue;
            uint64_t size = 0;
            int64_t mtime = 0;
            p = cs;
            if (weir_xml_next(doc, ce, &p, "Size", &val))
                size = strtoull((char *)val.data, NULL, 10);
            p = cs;
            if (weir_xml_next(doc, ce, &p, "LastModified", &val))
                mtime = weir_http_parse_time((char *)val.data);
            const char *k = (const char *)key.data;
            if (strncmp(k, x->prefix, pl) != 0 || k[pl] == '\0' || k[key.len - 1] == '/')
                continue; /* "directory" marker objects are not files */
            if ((rc = weir_object_list_push(out, &cap, k + pl, size, mtime))) {
                rc = oom(err);
                goto done;
            }
        }
        pos = 0;
        bool truncated =
            weir_xml_next(doc, len, &pos, "IsTruncated", &val) && strcmp((char *)val.data, "true") == 0;
        pos = 0;
        if (!truncated || !weir_xml_next(doc, len, &pos, "NextContinuationToken", &token) || token.len == 0)
            break;
    }
done:
    if (rc) {
        weir_object_list_free(out);
    }
    weir_buf_free(&full_prefix);
    weir_buf_free(&full_start);
    weir_buf_free(&token);
    weir_buf_free(&body);
    weir_buf_free(&key);
    weir_buf_free(&val);
    return rc;
}

/* ------------------------------------------------------------ upload */

struct s3_upload {
    struct weir_parts_upload base;
    char *upload_id; /* NULL until the multipart upload starts */
    char **etags;    /* per part sent */
    size_t cap_parts;
};

static int start_multipart(struct s3_upload *u, struct weir_error *err)
{
    struct s3 *x = impl(u->base.s);
    struct req r;
    struct weir_buf body;
    weir_buf_init(&body);
    struct weir_kv q[] = {{"uploads", ""}};
    int rc = 0;
    if (req_init(&r, x, "POST", u->base.key) || weir_http_req_query(&r.h, q, 1)) {
        rc = oom(err);
        goto done;
    }
    r.h.c.out = &body;
    rc = send_req(x, &r, err);
    if (rc == 0 && r.h.c.status != 200)
        rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    if (rc == 0) {
        struct weir_buf id;
        weir_buf_init(&id);
        size_t pos = 0;
        if (!weir_xml_next((char *)body.data, body.len, &pos, "UploadId", &id) || id.len == 0) {
            weir_buf_free(&id);
            rc = weir_error_set(err, WEIR_EIO, "storage: %s: no UploadId in the answer",
                                (char *)r.h.what.data);
        } else {
            u->upload_id = weir_buf_detach(&id);
        }
    }
done:
    weir_http_req_free(&r.h);
    weir_buf_free(&body);
    return rc;
}

static int send_part(struct s3_upload *u, struct weir_error *err)
{
    struct s3 *x = impl(u->base.s);
    if (u->base.nsent >= S3_MAX_PARTS)
        return weir_error_set(err, WEIR_ERANGE,
                              "storage: %s/%s%s: more than %d parts (raise multipart_part_size)", x->display,
                              x->prefix, u->base.key, S3_MAX_PARTS);
    if (u->base.nsent == u->cap_parts) {
        size_t nc = u->cap_parts ? u->cap_parts * 2 : 16;
        char **n = weir_realloc(u->etags, nc * sizeof *n);
        if (!n)
            return oom(err);
        u->etags = n;
        u->cap_parts = nc;
    }
    char num[16];
    snprintf(num, sizeof num, "%zu", u->base.nsent + 1);
    struct weir_kv q[] = {{"partNumber", num}, {"uploadId", u->upload_id}};
    struct req r;
    int rc = 0;
    if (req_init(&r, x, "PUT", u->base.key) || weir_http_req_query(&r.h, q, 2)) {
        weir_http_req_free(&r.h);
        return oom(err);
    }
    r.h.c.body = u->base.part.data;
    r.h.c.body_len = u->base.part.len;
    rc = send_req(x, &r, err);
    if (rc == 0 && r.h.c.status != 200)
        rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    char etag[256];
    if (rc == 0 && !weir_http_header(&r.h.c, "etag", etag, sizeof etag))
        rc = weir_error_set(err, WEIR_EIO, "storage: %s: part %s has no ETag", (char *)r.h.what.data, num);
    if (rc == 0 && !(u->etags[u->base.nsent] = weir_strdup(etag)))
        rc = oom(err);
    weir_http_req_free(&r.h);
    return rc;
}

static int complete_multipart(struct s3_upload *u, struct weir_error *err)
{
    struct s3 *x = impl(u->base.s);
    struct weir_buf xml, body;
    weir_buf_init(&xml);
    weir_buf_init(&body);
    int rc = 0;
    if (weir_buf_append_str(&xml, "<CompleteMultipartUpload>"))
        rc = oom(err);
    for (size_t i = 0; rc == 0 && i < u->base.nsent; i++)
        if (weir_buf_printf(&xml, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1,
                            u->etags[i]))
            rc = oom(err);
    if (rc == 0 && weir_buf_append_str(&xml, "</CompleteMultipartUpload>"))
        rc = oom(err);
    struct weir_kv q[] = {{"uploadId", u->upload_id}};
    struct req r;
    if (rc == 0 && (req_init(&r, x, "POST", u->base.key) || weir_http_req_query(&r.h, q, 1))) {
        weir_http_req_free(&r.h);
        rc = oom(err);
    } else if (rc == 0) {
        r.h.c.body = xml.data;
        r.h.c.body_len = xml.len;
        r.h.c.out = &body;
        rc = send_req(x, &r, err);
        if (rc == 0 && r.h.c.status != 200)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
        /* A 200 answer can still carry an <Error> document. */
        size_t pos = 0, s0, e0;
        if (rc == 0 && weir_xml_element((char *)body.data, body.len, &pos, "Error", &s0, &e0)) {
            weir_buf_free(&r.h.c.resp_error);
            weir_buf_append(&r.h.c.resp_error, body.data, body.len);
            r.h.c.status = 500;
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
        }
        weir_http_req_free(&r.h);
    }
    weir_buf_free(&xml);
    weir_buf_free(&body);
    return rc;
}

static void abort_multipart(struct s3_upload *u)
{
    if (!u->upload_id)
        return;
    struct s3 *x = impl(u->base.s);
    struct weir_kv q[] = {{"uploadId", u->upload_id}};
    struct req r;
    struct weir_error e = {0};
    if (req_init(&r, x, "DELETE", u->base.key) == 0 && weir_http_req_query(&r.h, q, 1) == 0)
        send_req(x, &r, &e);
    weir_http_req_free(&r.h);
}

static int upload_put(struct weir_parts_upload *u, struct weir_error *err)
{
    return put_object(impl(u->s), u->key, u->part.data, u->part.len, false, NULL, err);
}

static int upload_send(struct weir_parts_upload *base, struct weir_error *err)
{
    struct s3_upload *u = (struct s3_upload *)base;
    int rc = !u->upload_id ? start_multipart(u, err) : 0;
    return rc ? rc : send_part(u, err);
}

static int upload_complete(struct weir_parts_upload *base, struct weir_error *err)
{
    int rc = base->part.len ? weir_parts_upload_send(base, err) : 0;
    return rc ? rc : complete_multipart((struct s3_upload *)base, err);
}

static void upload_release(struct weir_parts_upload *base, bool aborted)
{
    struct s3_upload *u = (struct s3_upload *)base;
    if (aborted)
        abort_multipart(u);
    for (size_t i = 0; i < u->base.nsent; i++)
        weir_free(u->etags[i]);
    weir_free(u->etags);
    weir_free(u->upload_id);
}

static const struct weir_parts_upload_ops s3_parts = {upload_put, upload_send, upload_complete,
                                                      upload_release};

static int s3_upload_begin(struct weir_store *s, const char *key, struct weir_store_upload **out,
                           struct weir_error *err)
{
    struct weir_parts_upload *u = weir_calloc(1, sizeof(struct s3_upload));
    return weir_parts_upload_begin(u, s, key, impl(s)->part_size, false, &s3_parts, out, err);
}

const struct weir_store_ops weir_store_s3_ops = {
    .version = WEIR_STORE_OPS_VERSION,
    .name = "s3",
    .open = s3_open,
    .close = s3_close,
    .get = s3_get,
    .get_range = s3_get_range,
    .head = s3_head,
    .put = s3_put,
    .put_if_absent = s3_put_if_absent,
    .list = s3_list,
    .del = s3_delete,
    .upload_begin = s3_upload_begin,
    .upload_output = weir_parts_upload_output,
    .upload_commit = weir_parts_upload_commit,
    .upload_abort = weir_parts_upload_abort,
};
