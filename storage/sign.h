/* storage/sign.h - private: request signing for the cloud back-ends.
 *
 * Owns the crypto the object stores need (SHA-256, HMAC-SHA-256, base64,
 * through OpenSSL's libcrypto), URI encoding and the two signature schemes:
 *   - AWS Signature Version 4 (S3, S3-compatible stores, GCS's XML API with
 *     HMAC keys);
 *   - Azure Storage Shared Key.
 * Everything here is a pure function of its inputs (the caller supplies the
 * date), so the unit tests check it against published examples.
 * Nothing here logs; secrets only pass through. */
#ifndef WEIR_STORAGE_SIGN_H
#define WEIR_STORAGE_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Lower-case hex of SHA-256(p, n): 64 characters and a NUL. */
void weir_sha256_hex(const void *p, size_t n, char out[65]);
/* HMAC-SHA-256 of msg under key: 32 bytes. */
void weir_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len, uint8_t out[32]);
/* Standard base64 with padding, NUL-terminated; weir_malloc'd (NULL on OOM). */
char *weir_base64_encode(const void *p, size_t n);
/* Decode standard base64 (padding required) into a weir_malloc'd buffer;
 * -1 when the text is not base64, -2 on OOM; else the length. */
long weir_base64_decode(const char *text, uint8_t **out);

/* Append the RFC 3986 percent-encoding of s[0..n) to b: unreserved
 * characters (A-Z a-z 0-9 - . _ ~) stay, '/' stays when keep_slash, the
 * rest become %XX (upper-case hex). Returns 0 or WEIR_ENOMEM. */
int weir_uri_encode(struct weir_buf *b, const char *s, size_t n, bool keep_slash);

/* weir_uri_encode of a whole string (no '/' kept) as a new weir_malloc'd
 * string; NULL on OOM. */
char *weir_uri_encode_dup(const char *s);

/* A query parameter or header: name and value, both plain text. */
struct weir_kv {
    const char *name;
    const char *value;
};

/* The query string of params in canonical order (sorted by encoded name,
 * then value; names and values URI-encoded, '&'-joined), NUL-terminated in
 * b (appended). Empty when n == 0. This is both the URL's query and the
 * canonical query of Signature V4. */
int weir_canonical_query(struct weir_buf *b, const struct weir_kv *params, size_t n);

struct weir_sigv4 {
    const char *access_key;
    const char *secret_key;
    const char *region;   /* "us-east-1" */
    const char *service;  /* "s3" */
    const char *amz_date; /* "20130524T000000Z" */
};

/* The Authorization header value of a Signature V4 request:
 *   method        "GET"
 *   path          the canonical URI (already encoded, starts with '/')
 *   query         the canonical query (weir_canonical_query), may be ""
 *   headers       every header to sign, host included; names in any case,
 *                 values are trimmed and inner runs of spaces collapsed
 *   payload_hash  hex SHA-256 of the body or "UNSIGNED-PAYLOAD"
 * Appends "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
 * NUL-terminated to out. 0 or WEIR_ENOMEM. */
int weir_sigv4_authorization(const struct weir_sigv4 *k, const char *method, const char *path,
                             const char *query, const struct weir_kv *headers, size_t nheaders,
                             const char *payload_hash, struct weir_buf *out);

/* Azure Shared Key: the Authorization header value "SharedKey account:sig"
 * for a request. `key` is the decoded account key; `resource_path` the
 * request's encoded URI path (starting with '/'); `query` the request's
 * parameters (plain text); `headers` every header sent (standard ones such
 * as Content-Length, If-None-Match, Range and all x-ms-* ones). */
int weir_azure_shared_key(const char *account, const uint8_t *key, size_t key_len, const char *method,
                          const char *resource_path, const struct weir_kv *query, size_t nquery,
                          const struct weir_kv *headers, size_t nheaders, struct weir_buf *out);

#endif
