/* storage/sign.c - request signing for the cloud back-ends (see sign.h).
 *
 * Signature V4 follows AWS's "Signature Version 4 signing process": a
 * canonical request (method, URI, query, headers, signed header names,
 * payload hash), hashed into a string to sign scoped to date/region/service,
 * signed with a key derived by HMAC chaining from the secret. Shared Key
 * follows Azure Storage's "Authorize with Shared Key" (2009-09-19 and later
 * string-to-sign). No state; no allocation beyond the output buffers and a
 * few scratch arrays. */
#include "storage/sign.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "core/alloc.h"
#include "core/error.h"

static const char hexdig[] = "0123456789abcdef";

static void to_hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdig[p[i] >> 4];
        out[2 * i + 1] = hexdig[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void weir_sha256_hex(const void *p, size_t n, char out[65])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256(p, n, md);
    to_hex(md, sizeof md, out);
}

void weir_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &len);
}

char *weir_base64_encode(const void *p, size_t n)
{
    char *out = weir_malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

long weir_base64_decode(const char *text, uint8_t **out)
{
    size_t n = strlen(text);
    *out = NULL;
    if (n % 4 != 0)
        return -1;
    uint8_t *b = weir_malloc(n / 4 * 3 + 1);
    if (!b)
        return -2;
    int len = EVP_DecodeBlock(b, (const unsigned char *)text, (int)n);
    if (len < 0) {
        weir_free(b);
        return -1;
    }
    /* EVP_DecodeBlock counts padding as zero bytes. */
    if (n >= 1 && text[n - 1] == '=')
        len--;
    if (n >= 2 && text[n - 2] == '=')
        len--;
    *out = b;
    return len;
}

static bool unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

int weir_uri_encode(struct weir_buf *b, const char *s, size_t n, bool keep_slash)
{
    if (weir_buf_reserve(b, n * 3))
        return WEIR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            b->data[b->len++] = c;
        } else {
            b->data[b->len++] = '%';
            b->data[b->len++] = (uint8_t) "0123456789ABCDEF"[c >> 4];
            b->data[b->len++] = (uint8_t) "0123456789ABCDEF"[c & 15];
        }
    }
    b->data[b->len] = '\0';
    return 0;
}

/* ------------------------------------------------------------ queries */

struct enc_kv {
    char *name, *value; /* encoded */
};

static int cmp_enc_kv(const void *x, const void *y)
{
    const struct enc_kv *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->value, b->value);
}

char *weir_uri_encode_dup(const char *s)
{
    struct weir_buf b;
    weir_buf_init(&b);
    if (weir_uri_encode(&b, s, strlen(s), false) || weir_buf_reserve(&b, 0)) {
        weir_buf_free(&b);
        return NULL;
    }
    return weir_buf_detach(&b);
}

int weir_canonical_query(struct weir_buf *b, const struct weir_kv *params, size_t n)
{
    int rc = 0;
    struct enc_kv *e = n ? weir_calloc(n, sizeof *e) : NULL;
    if (n && !e)
        return WEIR_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        e[i].name = weir_uri_encode_dup(params[i].name);
        e[i].value = weir_uri_encode_dup(params[i].value ? params[i].value : "");
        if (!e[i].name || !e[i].value)
            rc = WEIR_ENOMEM;
    }
    if (rc == 0) {
        qsort(e, n, sizeof *e, cmp_enc_kv);
        rc = weir_buf_reserve(b, 0) ? WEIR_ENOMEM : 0;
        for (size_t i = 0; i < n && rc == 0; i++)
            if (weir_buf_printf(b, "%s%s=%s", i ? "&" : "", e[i].name, e[i].value))
                rc = WEIR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        weir_free(e[i].name);
        weir_free(e[i].value);
    }
    weir_free(e);
    return rc;
}

/* ------------------------------------------------------------ headers */

struct canon_header {
    char *name;  /* lower case */
    char *value; /* trimmed, inner spaces collapsed */
};

static int cmp_header(const void *x, const void *y)
{
    const struct canon_header *a = x, *b = y;
    return strcmp(a->name, b->name);
}

static char *trim_collapse(const char *v)
{
    size_t n = strlen(v);
    char *out = weir_malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    while (*v == ' ' || *v == '\t')
        v++;
    bool space = false;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = true;
            continue;
        }
        if (space && o != out)
            *o++ = ' ';
        space = false;
        *o++ = *v;
    }
    *o = '\0';
    return out;
}

static void free_headers(struct canon_header *h, size_t n)
{
    for (size_t i = 0; h && i < n; i++) {
        weir_free(h[i].name);
        weir_free(h[i].value);
    }
    weir_free(h);
}

/* Lower-cased, trimmed, sorted copies of the headers whose (lower-case)
 * name passes `keep` (NULL: all). */
static struct canon_header *canon_headers(const struct weir_kv *headers, size_t n, bool (*keep)(const char *),
                                          size_t *count)
{
    struct canon_header *h = weir_calloc(n ? n : 1, sizeof *h);
    size_t k = 0;
    if (!h)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char *name = weir_strdup(headers[i].name);
        if (!name) {
            free_headers(h, k);
            return NULL;
        }
        for (char *c = name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (keep && !keep(name)) {
            weir_free(name);
            continue;
        }
        h[k].name = name;
        h[k].value = trim_collapse(headers[i].value ? headers[i].value : "");
        if (!h[k++].value) {
            free_headers(h, k);
            return NULL;
        }
    }
    qsort(h, k, sizeof *h, cmp_header);
    *count = k;
    return h;
}

/* ------------------------------------------------------------ SigV4 */

int weir_sigv4_authorization(const struct weir_sigv4 *k, const char *method, const char *path,
                             const char *query, const struct weir_kv *headers, size_t nheaders,
                             const char *payload_hash, struct weir_buf *out)
{
    size_t nh = 0;
    struct canon_header *h = canon_headers(headers, nheaders, NULL, &nh);
    if (!h)
        return WEIR_ENOMEM;
    struct weir_buf creq, names, sts;
    weir_buf_init(&creq);
    weir_buf_init(&names);
    weir_buf_init(&sts);
    int rc = WEIR_ENOMEM;
    /* Signed header names, ';'-joined. */
    for (size_t i = 0; i < nh; i++)
        if (weir_buf_printf(&names, "%s%s", i ? ";" : "", h[i].name))
            goto done;
    if (weir_buf_reserve(&names, 0))
        goto done;
    if (weir_buf_printf(&creq, "%s\n%s\n%s\n", method, path, query ? query : ""))
        goto done;
    for (size_t i = 0; i < nh; i++)
        if (weir_buf_printf(&creq, "%s:%s\n", h[i].name, h[i].value))
            goto done;
    if (weir_buf_printf(&creq, "\n%s\n%s", (char *)names.data, payload_hash))
        goto done;
    char creq_hash[65];
    weir_sha256_hex(creq.data, creq.len, creq_hash);
    char day[9];
    memcpy(day, k->amz_date, 8);
    day[8] = '\0';
    if (weir_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", k->amz_date, day, k->region,
                        k->service, creq_hash))
        goto done;
    /* Signing key: HMAC chain from "AWS4" + secret over date, region,
     * service and "aws4_request". */
    uint8_t key[32];
    size_t sl = strlen(k->secret_key);
    char *seed = weir_malloc(sl + 5);
    if (!seed)
        goto done;
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, k->secret_key, sl + 1);
    weir_hmac_sha256(seed, sl + 4, day, 8, key);
    memset(seed, 0, sl + 4);
    weir_free(seed);
    weir_hmac_sha256(key, 32, k->region, strlen(k->region), key);
    weir_hmac_sha256(key, 32, k->service, strlen(k->service), key);
    weir_hmac_sha256(key, 32, "aws4_request", 12, key);
    uint8_t sig[32];
    weir_hmac_sha256(key, 32, sts.data, sts.len, sig);
    memset(key, 0, sizeof key);
    char sig_hex[65];
    to_hex(sig, 32, sig_hex);
    if (weir_buf_printf(
            out, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, Signature=%s",
            k->access_key, day, k->region, k->service, (char *)names.data, sig_hex))
        goto done;
    rc = 0;
done:
    free_headers(h, nh);
    weir_buf_free(&creq);
    weir_buf_free(&names);
    weir_buf_free(&sts);
    return rc;
}

/* ------------------------------------------------------------ Azure */

static bool is_ms_header(const char *lower_name)
{
    return strncmp(lower_name, "x-ms-", 5) == 0;
}

static const char *header_value(const struct weir_kv *headers, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(headers[i].name, name) == 0)
            return headers[i].value ? headers[i].value : "";
    return "";
}

int weir_azure_shared_key(const char *account, const uint8_t *key, size_t key_len, const char *method,
                          const char *resource_path, const struct weir_kv *query, size_t nquery,
                          const struct weir_kv *headers, size_t nheaders, struct weir_buf *out)
{
    static const char *const standard[] = {"Content-Encoding",
                                           "Content-Language",
                                           "Content-Length",
                                           "Content-MD5",
                                           "Content-Type",
                                           "Date",
                                           "If-Modified-Since",
                                           "If-Match",
                                           "If-None-Match",
                                           "If-Unmodified-Since",
                                           "Range"};
    size_t nh = 0, nq = 0;
    struct canon_header *h = canon_headers(headers, nheaders, is_ms_header, &nh);
    struct canon_header *q = h ? canon_headers(query, nquery, NULL, &nq) : NULL;
    struct weir_buf sts;
    weir_buf_init(&sts);
    int rc = WEIR_ENOMEM;
    if (!h || !q)
        goto done;
    if (weir_buf_printf(&sts, "%s\n", method))
        goto done;
    for (size_t i = 0; i < sizeof standard / sizeof standard[0]; i++) {
        const char *v = header_value(headers, nheaders, standard[i]);
        /* A zero Content-Length is signed as the empty string. */
        if (strcmp(standard[i], "Content-Length") == 0 && strcmp(v, "0") == 0)
            v = "";
        if (weir_buf_printf(&sts, "%s\n", v))
            goto done;
    }
    for (size_t i = 0; i < nh; i++)
        if (weir_buf_printf(&sts, "%s:%s\n", h[i].name, h[i].value))
            goto done;
    if (weir_buf_printf(&sts, "/%s%s", account, resource_path))
        goto done;
    /* Parameters: lower-case names, sorted; repeated names comma-joined. */
    for (size_t i = 0; i < nq; i++) {
        bool same = i > 0 && strcmp(q[i].name, q[i - 1].name) == 0;
        int bad = same ? weir_buf_printf(&sts, ",%s", q[i].value)
                       : weir_buf_printf(&sts, "\n%s:%s", q[i].name, q[i].value);
        if (bad)
            goto done;
    }
    uint8_t sig[32];
    weir_hmac_sha256(key, key_len, sts.data, sts.len, sig);
    char *b64 = weir_base64_encode(sig, sizeof sig);
    if (!b64)
        goto done;
    rc = weir_buf_printf(out, "SharedKey %s:%s", account, b64) ? WEIR_ENOMEM : 0;
    weir_free(b64);
done:
    free_headers(h, nh);
    free_headers(q, nq);
    weir_buf_free(&sts);
    return rc;
}
