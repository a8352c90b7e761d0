/* storage/azure.c - the Azure back-end: Blob Storage and ADLS Gen2 accounts
 * through the Blob API.
 *
 * Owns the account, container, key prefix, endpoint and credentials of a
 * store. URIs: abfss://container@account.dfs.core.windows.net/prefix (also
 * abfs://, wasbs://container@account.blob.core.windows.net/prefix) or
 * az://container/prefix with azure_storage_account_name. The endpoint is
 * https://<account>.blob.core.windows.net unless azure_storage_endpoint
 * names another (the emulator: azure_storage_use_emulator=true means
 * http://127.0.0.1:10000/devstoreaccount1 and its published development
 * key unless a key is given).
 *   get/get_range/head  GET (with Range) / HEAD
 *   put                 Put Blob (BlockBlob)
 *   put_if_absent       Put Blob with If-None-Match: *; 409/412 -> WEIR_EEXISTS
 *                       (after a retried attempt, equal content is success)
 *   list                List Blobs (marker pagination; delimiter '/' when not
 *                       recursive); the service has no start-after, so keys
 *                       up to start_after are skipped here
 *   upload              one Put Blob up to multipart_part_size (16 MiB
 *                       default), else Put Block per part and Put Block List
 *                       at commit: the blob appears whole or not at all.
 * Auth: Shared Key (azure_storage_account_key) or a SAS token
 * (azure_storage_sas_token, appended to every request's query).
 * Threading: immutable after open. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"
#include "storage/http.h"
#include "storage/storage_int.h"

#define AZ_DEFAULT_PART  (16u << 20)
#define AZ_MAX_BLOCKS    50000
#define AZ_VERSION       "2021-12-02"
#define EMULATOR_URL     "http://127.0.0.1:10000/devstoreaccount1"
#define EMULATOR_ACCOUNT "devstoreaccount1"
/* The emulator's well-known development key (public, in Azure's docs). */
#define EMULATOR_KEY \
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

struct az {
    struct weir_http *http;
    char *scheme_host; /* "https://account.blob.core.windows.net" */
    char *base_path;   /* "" or "/devstoreaccount1" (emulator-style endpoints) */
    char *account;
    char *container;
    char *prefix;  /* "" or "dir/" */
    char *display; /* "abfss://container@account", for messages */
    uint8_t *key;  /* decoded account key; NULL with SAS or anonymous */
    size_t key_len;
    char *sas; /* without a leading '?' */
    size_t part_size;
};

static struct az *impl(struct weir_store *s)
{
    return s->impl;
}

static int oom(struct weir_error *err)
{
    return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory");
}

static void az_close(struct weir_store *s)
{
    struct az *x = impl(s);
    if (!x)
        return;
    weir_http_destroy(x->http);
    weir_free(x->scheme_host);
    weir_free(x->base_path);
    weir_free(x->account);
    weir_free(x->container);
    weir_free(x->prefix);
    weir_free(x->display);
    if (x->key)
        memset(x->key, 0, x->key_len);
    weir_free(x->key);
    weir_free(x->sas);
    weir_free(x);
    s->impl = NULL;
}

static int az_open(struct weir_store *s, const char *location, struct weir_error *err)
{
    struct az *x = weir_calloc(1, sizeof *x);
    if (!x)
        return oom(err);
    s->impl = x;
    int rc = 0;
    bool emulator;
    if ((rc = weir_store_opt_bool(s, "azure_storage_use_emulator", false, &emulator, err)))
        goto fail;
    const char *rest = strstr(location, "://") + 3;
    const char *slash = strchr(rest, '/');
    size_t authl = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *at = memchr(rest, '@', authl);
    if (at) { /* container@account.<host> */
        x->container = weir_strndup(rest, (size_t)(at - rest));
        const char *h = at + 1;
        size_t al = strcspn(h, "./");
        x->account = weir_strndup(h, al);
    } else {
        x->container = weir_strndup(rest, authl);
        const char *a = weir_store_opt(s, "azure_storage_account_name");
        x->account = weir_strdup(a ? a : emulator ? EMULATOR_ACCOUNT : "");
    }
    if (!x->container || !x->account)
        goto nomem;
    if (!x->container[0] || !x->account[0]) {
        rc = weir_error_set(
            err, WEIR_ECONFIG,
            "storage: '%s' names no %s (use abfss://container@account.dfs.core.windows.net/path "
            "or set azure_storage_account_name)",
            location, x->container[0] ? "account" : "container");
        goto fail;
    }
    const char *pre = slash ? slash + 1 : "";
    size_t pl = strlen(pre);
    x->prefix = weir_malloc(pl + 2);
    x->display = weir_malloc(strlen(x->container) + strlen(x->account) + 16);
    if (!x->prefix || !x->display)
        goto nomem;
    memcpy(x->prefix, pre, pl + 1);
    if (pl && x->prefix[pl - 1] != '/')
        strcat(x->prefix, "/");
    sprintf(x->display, "abfss://%s@%s", x->container, x->account);

    const char *endpoint = weir_store_opt(s, "azure_storage_endpoint");
    char base[1024];
    if (endpoint)
        snprintf(base, sizeof base, "%s", endpoint);
    else if (emulator)
        snprintf(base, sizeof base, "%s", EMULATOR_URL);
    else
        snprintf(base, sizeof base, "https://%s.blob.core.windows.net", x->account);
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        base[--bl] = '\0';
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
        rc = weir_error_set(err, WEIR_ECONFIG, "storage: endpoint '%s' must start with http:// or https://",
                            base);
        goto fail;
    }
    const char *hs = strstr(base, "://") + 3;
    const char *path = strchr(hs, '/');
    x->scheme_host = weir_strndup(base, path ? (size_t)(path - base) : bl);
    x->base_path = weir_strdup(path ? path : "");
    if (!x->scheme_host || !x->base_path)
        goto nomem;

    const char *key = weir_store_opt(s, "azure_storage_account_key");
    const char *sas = weir_store_opt(s, "azure_storage_sas_token");
    if (!key && !sas && emulator)
        key = EMULATOR_KEY;
    if (sas) {
        if (!(x->sas = weir_strdup(sas[0] == '?' ? sas + 1 : sas)))
            goto nomem;
    } else if (key) {
        long n = weir_base64_decode(key, &x->key);
        if (n == -2)
            goto nomem;
        if (n < 0) {
            rc = weir_error_set(err, WEIR_ECONFIG, "storage option azure_storage_account_key is not base64");
            goto fail;
        }
        x->key_len = (size_t)n;
    } else {
        WEIR_INFO("storage: %s: no credentials configured; requests are sent anonymously", x->display);
    }
    uint64_t part;
    if ((rc = weir_store_opt_size(s, "multipart_part_size", AZ_DEFAULT_PART, &part, err)))
        goto fail;
    if (part < (1u << 20) || part > (1ull << 30)) {
        rc = weir_error_set(err, WEIR_ECONFIG, "storage option multipart_part_size: between 1MB and 1GB");
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
    az_close(s);
    return rc;
}

/* ------------------------------------------------------------ requests */

struct req {
    struct weir_http_req h;   /* first: sign callbacks cast the call back */
    struct weir_kv params[8]; /* plain-text query parameters (signed) */
    size_t nparams;
    char len_text[24];
    char range[64];
};

static int req_init(struct req *r, struct az *x, const char *method, const char *key)
{
    memset(r, 0, sizeof *r);
    weir_http_req_init(&r->h);
    if (weir_buf_printf(&r->h.path, "%s/", x->base_path) ||
        weir_uri_encode(&r->h.path, x->container, strlen(x->container), false))
        return WEIR_ENOMEM;
    if (key && (weir_buf_append_byte(&r->h.path, '/') ||
                weir_uri_encode(&r->h.path, x->prefix, strlen(x->prefix), true) ||
                weir_uri_encode(&r->h.path, key, strlen(key), true)))
        return WEIR_ENOMEM;
    return weir_http_req_start(&r->h, method, x->scheme_host, x->display, x->prefix, key);
}

static int req_param(struct req *r, const char *name, const char *value)
{
    if (r->nparams >= sizeof r->params / sizeof r->params[0])
        return WEIR_ERANGE;
    r->params[r->nparams++] = (struct weir_kv){name, value};
    return 0;
}

static int sign_az(void *ctx, struct weir_http_call *c, struct weir_error *err)
{
    struct az *x = ctx;
    struct req *r = (struct req *)c;
    char date[40];
    weir_http_rfc1123_date(date);
    if (weir_http_add_header_owned(c, "x-ms-date", weir_strdup(date)) ||
        weir_http_add_header(c, "x-ms-version", AZ_VERSION))
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory signing a request");
    if (!x->key)
        return 0;
    struct weir_buf auth;
    weir_buf_init(&auth);
    if (weir_azure_shared_key(x->account, x->key, x->key_len, c->method, c->path, r->params, r->nparams,
                              c->headers, c->nheaders, &auth)) {
        weir_buf_free(&auth);
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory signing a request");
    }
    if (weir_http_add_header_owned(c, "Authorization", weir_buf_detach(&auth)))
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory signing a request");
    return 0;
}

static int send_req(struct az *x, struct req *r, struct weir_error *err)
{
    r->h.query.len = 0;
    if (weir_canonical_query(&r->h.query, r->params, r->nparams) ||
        (x->sas && weir_buf_printf(&r->h.query, "%s%s", r->nparams ? "&" : "", x->sas)))
        return oom(err);
    r->h.c.query = (char *)r->h.query.data;
    return weir_http_do(x->http, &r->h.c, sign_az, x, (char *)r->h.what.data, err);
}

static void req_body(struct req *r, const void *p, size_t n)
{
    r->h.c.body = p ? p : "";
    r->h.c.body_len = n;
    snprintf(r->len_text, sizeof r->len_text, "%zu", n);
    weir_http_add_header(&r->h.c, "Content-Length", r->len_text);
}

/* ------------------------------------------------------------ reads */

static int az_get(struct weir_store *s, const char *key, struct weir_buf *out, struct weir_error *err)
{
    struct az *x = impl(s);
    struct req r;
    int rc = req_init(&r, x, "GET", key) ? oom(err) : 0;
    if (rc == 0) {
        r.h.c.out = out;
        rc = send_req(x, &r, err);
        if (rc == 0 && r.h.c.status != 200)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    }
    weir_http_req_free(&r.h);
    return rc;
}

static int az_get_range(struct weir_store *s, const char *key, uint64_t off, void *p, size_t n,
                        struct weir_error *err)
{
    if (n == 0)
        return 0;
    struct az *x = impl(s);
    struct req r;
    int rc = req_init(&r, x, "GET", key) ? oom(err) : 0;
    if (rc == 0) {
        snprintf(r.range, sizeof r.range, "bytes=%" PRIu64 "-%" PRIu64, off, off + n - 1);
        weir_http_add_header(&r.h.c, "x-ms-range", r.range);
        r.h.c.dst = p;
        r.h.c.dst_len = n;
        rc = send_req(x, &r, err);
        if (rc == 0 && r.h.c.status == 416)
            rc = weir_error_set(err, WEIR_ECORRUPT, "storage: %s: the blob ends before byte %" PRIu64,
                                (char *)r.h.what.data, off + n);
        else if (rc == 0 && r.h.c.status != 206 && r.h.c.status != 200)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
        else if (rc == 0 && r.h.c.status == 200 && off != 0)
            rc = weir_error_set(err, WEIR_EIO, "storage: %s: the server ignored the byte range",
                                (char *)r.h.what.data);
    }
    weir_http_req_free(&r.h);
    return rc;
}

static int az_head(struct weir_store *s, const char *key, struct weir_object_info *info,
                   struct weir_error *err)
{
    struct az *x = impl(s);
    struct req r;
    int rc = req_init(&r, x, "HEAD", key) ? oom(err) : 0;
    if (rc == 0) {
        rc = send_req(x, &r, err);
        if (rc == 0 && r.h.c.status != 200)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    }
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

static int put_blob(struct az *x, const char *key, const void *p, size_t n, bool if_absent, bool *retried,
                    struct weir_error *err)
{
    struct req r;
    int rc = req_init(&r, x, "PUT", key) ? oom(err) : 0;
    if (rc == 0) {
        weir_http_add_header(&r.h.c, "x-ms-blob-type", "BlockBlob");
        if (if_absent)
            weir_http_add_header(&r.h.c, "If-None-Match", "*");
        req_body(&r, p, n);
        rc = send_req(x, &r, err);
        if (retried)
            *retried = r.h.c.attempts > 1;
        if (rc == 0 && if_absent && (r.h.c.status == 409 || r.h.c.status == 412))
            rc = weir_error_set(err, WEIR_EEXISTS, "storage: %s: the blob already exists",
                                (char *)r.h.what.data);
        else if (rc == 0 && r.h.c.status != 201)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    }
    weir_http_req_free(&r.h);
    return rc;
}

static int az_put(struct weir_store *s, const char *key, const void *p, size_t n, struct weir_error *err)
{
    return put_blob(impl(s), key, p, n, false, NULL, err);
}

static int az_put_if_absent(struct weir_store *s, const char *key, const void *p, size_t n,
                            struct weir_error *err)
{
    bool retried = false;
    int rc = put_blob(impl(s), key, p, n, true, &retried, err);
    return weir_store_settle_put_if_absent(s, key, p, n, rc, retried, err);
}

static int az_delete(struct weir_store *s, const char *key, struct weir_error *err)
{
    struct az *x = impl(s);
    struct req r;
    int rc = req_init(&r, x, "DELETE", key) ? oom(err) : 0;
    if (rc == 0) {
        rc = send_req(x, &r, err);
        if (rc == 0 && r.h.c.status != 202 && r.h.c.status != 200)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    }
    weir_http_req_free(&r.h);
    return rc;
}

/* ------------------------------------------------------------ list */

static int az_list(struct weir_store *s, const char *prefix, const char *start_after, bool recursive,
                   struct weir_object_list *out, struct weir_error *err)
{
    struct az *x = impl(s);
    size_t cap = 0, pl = strlen(x->prefix);
    struct weir_buf full_prefix, marker, body, name, val;
    weir_buf_init(&full_prefix);
    weir_buf_init(&marker);
    weir_buf_init(&body);
    weir_buf_init(&name);
    weir_buf_init(&val);
    int rc = 0;
    if (weir_buf_printf(&full_prefix, "%s%s", x->prefix, prefix)) {
        rc = oom(err);
        goto done;
    }
    for (;;) {
        struct req r;
        body.len = 0;
        if (req_init(&r, x, "GET", NULL)) {
            weir_http_req_free(&r.h);
            rc = oom(err);
            goto done;
        }
        req_param(&r, "restype", "container");
        req_param(&r, "comp", "list");
        req_param(&r, "prefix", (char *)full_prefix.data);
        req_param(&r, "maxresults", "5000");
        if (!recursive)
            req_param(&r, "delimiter", "/");
        if (marker.len)
            req_param(&r, "marker", (char *)marker.data);
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
        size_t len = body.len, pos = 0, bs, be;
        while (weir_xml_element(doc, len, &pos, "Blob", &bs, &be)) {
            size_t p = bs;
            if (!weir_xml_next(doc, be, &p, "Name", &name))
                continue;
            const char *k = (const char *)name.data;
            if (strncmp(k, x->prefix, pl) != 0 || k[pl] == '\0' || k[name.len - 1] == '/')
                continue;
            if (start_after && strcmp(k + pl, start_after) <= 0)
                continue;
            uint64_t size = 0;
            int64_t mtime = 0;
            p = bs;
            if (weir_xml_next(doc, be, &p, "Content-Length", &val))
                size = strtoull((char *)val.data, NULL, 10);
            p = bs;
            if (weir_xml_next(doc, be, &p, "Last-Modified", &val))
                mtime = weir_http_parse_time((char *)val.data);
            if (weir_object_list_push(out, &cap, k + pl, size, mtime)) {
                rc = oom(err);
                goto done;
            }
        }
        pos = 0;
        if (!weir_xml_next(doc, len, &pos, "NextMarker", &marker) || marker.len == 0)
            break;
    }
done:
    if (rc)
        weir_object_list_free(out);
    weir_buf_free(&full_prefix);
    weir_buf_free(&marker);
    weir_buf_free(&body);
    weir_buf_free(&name);
    weir_buf_free(&val);
    return rc;
}

/* ------------------------------------------------------------ upload */

struct az_upload {
    struct weir_parts_upload base;
    char uid[17]; /* makes block ids unique to this upload */
};

/* Block ids: base64 of a fixed-length text, the same length for all. */
static char *block_id(const struct az_upload *u, size_t i)
{
    char raw[40];
    snprintf(raw, sizeof raw, "%s-%08zu", u->uid, i);
    return weir_base64_encode(raw, strlen(raw));
}

static int put_block(struct az_upload *u, struct weir_error *err)
{
    struct az *x = impl(u->base.s);
    if (u->base.nsent >= AZ_MAX_BLOCKS)
        return weir_error_set(err, WEIR_ERANGE,
                              "storage: %s/%s%s: more than %d blocks (raise multipart_part_size)", x->display,
                              x->prefix, u->base.key, AZ_MAX_BLOCKS);
    char *id = block_id(u, u->base.nsent);
    if (!id)
        return oom(err);
    struct req r;
    int rc = req_init(&r, x, "PUT", u->base.key) ? oom(err) : 0;
    if (rc == 0) {
        req_param(&r, "comp", "block");
        req_param(&r, "blockid", id);
        req_body(&r, u->base.part.data, u->base.part.len);
        rc = send_req(x, &r, err);
        if (rc == 0 && r.h.c.status != 201)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
    }
    weir_http_req_free(&r.h);
    weir_free(id);
    return rc;
}

static int put_block_list(struct az_upload *u, struct weir_error *err)
{
    struct az *x = impl(u->base.s);
    struct weir_buf xml;
    weir_buf_init(&xml);
    int rc =
        weir_buf_append_str(&xml, "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>") ? oom(err) : 0;
    for (size_t i = 0; rc == 0 && i < u->base.nsent; i++) {
        char *id = block_id(u, i);
        if (!id || weir_buf_printf(&xml, "<Latest>%s</Latest>", id))
            rc = oom(err);
        weir_free(id);
    }
    if (rc == 0 && weir_buf_append_str(&xml, "</BlockList>"))
        rc = oom(err);
    struct req r;
    if (rc == 0 && req_init(&r, x, "PUT", u->base.key)) {
        weir_http_req_free(&r.h);
        rc = oom(err);
    } else if (rc == 0) {
        req_param(&r, "comp", "blocklist");
        req_body(&r, xml.data, xml.len);
        rc = send_req(x, &r, err);
        if (rc == 0 && r.h.c.status != 201)
            rc = weir_http_status_error(&r.h.c, (char *)r.h.what.data, err);
        weir_http_req_free(&r.h);
    }
    weir_buf_free(&xml);
    return rc;
}

static int upload_put(struct weir_parts_upload *u, struct weir_error *err)
{
    return put_blob(impl(u->s), u->key, u->part.data, u->part.len, false, NULL, err);
}

static int upload_send(struct weir_parts_upload *u, struct weir_error *err)
{
    return put_block((struct az_upload *)u, err);
}

/* Blocks of an upload never completed are dropped by the service after a week. */
static int upload_complete(struct weir_parts_upload *u, struct weir_error *err)
{
    int rc = u->part.len ? weir_parts_upload_send(u, err) : 0;
    return rc ? rc : put_block_list((struct az_upload *)u, err);
}

static const struct weir_parts_upload_ops az_parts = {upload_put, upload_send, upload_complete, NULL};

static int az_upload_begin(struct weir_store *s, const char *key, struct weir_store_upload **out,
                           struct weir_error *err)
{
    struct az_upload *u = weir_calloc(1, sizeof *u);
    if (u != NULL) {
        char uuid[37];
        weir_uuid4(uuid);
        memcpy(u->uid, uuid, 8);
        memcpy(u->uid + 8, uuid + 9, 4);
        memcpy(u->uid + 12, uuid + 14, 4);
        u->uid[16] = '\0';
    }
    return weir_parts_upload_begin((struct weir_parts_upload *)u, s, key, impl(s)->part_size, false,
                                   &az_parts, out, err);
}

const struct weir_store_ops weir_store_azure_ops = {
    .version = WEIR_STORE_OPS_VERSION,
    .name = "azure",
    .open = az_open,
    .close = az_close,
    .get = az_get,
    .get_range = az_get_range,
    .head = az_head,
    .put = az_put,
    .put_if_absent = az_put_if_absent,
    .list = az_list,
    .del = az_delete,
    .upload_begin = az_upload_begin,
    .upload_output = weir_parts_upload_output,
    .upload_commit = weir_parts_upload_commit,
    .upload_abort = weir_parts_upload_abort,
};
