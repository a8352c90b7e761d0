/* storage/http.h - private: HTTP for the cloud back-ends (libcurl).
 *
 * One weir_http per store: its settings (timeouts, retries, TLS) and a pool
 * of curl easy handles, so connections stay open between requests and
 * several threads can send requests at once (each takes its own handle).
 *
 * A request is described by a weir_http_call. weir_http_do sends it and
 * retries, with exponential backoff and jitter, on connection failures,
 * timeouts, 408, 429 and 5xx answers. Before every attempt it calls the
 * back-end's sign callback, which adds the authentication headers (a
 * signature carries the time, so a retry is signed anew). Any other answer
 * is returned to the caller with its status and headers, who decides what
 * it means (404 -> WEIR_ENOTFOUND, 412 -> WEIR_EEXISTS, ...).
 *
 * Secrets: nothing here logs headers or query strings; messages name the
 * method, the host and the path only. */
#ifndef WEIR_STORAGE_HTTP_H
#define WEIR_STORAGE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "storage/sign.h"

struct weir_http_settings {
    bool verify_tls;         /* default true */
    const char *ca_file;     /* NULL: the system's */
    long connect_timeout_ms; /* default 10 s */
    long idle_timeout_ms;    /* no byte moved for this long: timeout (default 30 s) */
    int max_retries;         /* default 10 */
    long backoff_base_ms;    /* first delay, doubled each retry (default 100 ms) */
    long backoff_max_ms;     /* cap (default 15 s) */
};

struct weir_http;
int weir_http_create(const struct weir_http_settings *s, struct weir_http **out, struct weir_error *err);
void weir_http_destroy(struct weir_http *h);

#define WEIR_HTTP_MAX_HEADERS 24

struct weir_http_call {
    /* ---- request, set by the caller ---- */
    const char *method;                            /* "GET", "PUT", "HEAD", "POST", "DELETE" */
    const char *scheme_host;                       /* "https://bucket.s3.us-east-1.amazonaws.com" */
    const char *path;                              /* encoded, starts with '/' */
    const char *query;                             /* encoded, without '?'; may be NULL or "" */
    struct weir_kv headers[WEIR_HTTP_MAX_HEADERS]; /* unsigned ones; sign adds more */
    size_t nheaders;
    const void *body; /* NULL: no body */
    size_t body_len;
    /* Response body of a 2xx answer: appended to `out` when set, else
     * copied to dst (exactly dst_len bytes expected), else dropped. */
    struct weir_buf *out;
    void *dst;
    size_t dst_len;
    /* ---- filled by weir_http_do ---- */
    long status;
    struct weir_buf resp_headers; /* "name: value\r\n" lines of the final answer */
    struct weir_buf resp_error;   /* first 8 KiB of a non-2xx answer's body */
    int attempts;
    /* ---- private ---- */
    size_t dst_got;
    char *owned[8]; /* values added with weir_http_add_header_owned */
    size_t nowned;
};

void weir_http_call_init(struct weir_http_call *c, const char *method, const char *scheme_host,
                         const char *path, const char *query);
void weir_http_call_free(struct weir_http_call *c);

/* One request of a cloud back-end: the call and the buffers that hold its
 * path, its query and what error messages call it ("GET store/key"). The
 * call is the first member, so a sign callback can get the request back. */
struct weir_http_req {
    struct weir_http_call c;
    struct weir_buf path, query, what;
};
/* Empty buffers (the caller zeroes the enclosing struct first). */
void weir_http_req_init(struct weir_http_req *r);
/* Once r->path is built: what = "METHOD display/prefix+key" (key NULL: the
 * store itself) and the call set up on path and an empty query. 0 or
 * WEIR_ENOMEM. */
int weir_http_req_start(struct weir_http_req *r, const char *method, const char *scheme_host,
                        const char *display, const char *prefix, const char *key);
/* The canonical query of params (storage/sign.h) as the call's query. */
int weir_http_req_query(struct weir_http_req *r, const struct weir_kv *params, size_t n);
void weir_http_req_free(struct weir_http_req *r);
/* Add a request header (strings must outlive the call). 0 or WEIR_ERANGE. */
int weir_http_add_header(struct weir_http_call *c, const char *name, const char *value);
/* The same with a weir_malloc'd value the call frees (also on failure;
 * NULL value: WEIR_ENOMEM). */
int weir_http_add_header_owned(struct weir_http_call *c, const char *name, char *value);

/* Called before each attempt: append the signing headers (the call rolls
 * them back after the attempt, so a retry is signed anew). */
typedef int (*weir_http_sign_fn)(void *ctx, struct weir_http_call *c, struct weir_error *err);

/* 0 when an answer came that is not retried (check c->status), else a
 * negative code with a message naming `what` (e.g. "GET s3://b/k"), with
 * err->retriable set when the retries ran out on a transient failure. */
int weir_http_do(struct weir_http *h, struct weir_http_call *c, weir_http_sign_fn sign, void *sign_ctx,
                 const char *what, struct weir_error *err);

/* A response header's value (case-insensitive name) copied to out (up to
 * n-1 bytes); false when absent. */
bool weir_http_header(const struct weir_http_call *c, const char *name, char *out, size_t n);

/* Turn a non-2xx answer into an error naming `what`: 404 -> WEIR_ENOTFOUND,
 * 412/409 -> WEIR_EEXISTS (callers that mean otherwise check first),
 * 401/403 -> WEIR_ECONFIG (credentials), else WEIR_EIO; the message carries
 * the status and the service's error code/message when the body has one. */
int weir_http_status_error(const struct weir_http_call *c, const char *what, struct weir_error *err);

/* The current UTC time as "YYYYMMDDTHHMMSSZ" and as an RFC 1123 date. */
void weir_http_amz_date(char out[17]);
void weir_http_rfc1123_date(char out[40]);
/* Parse an RFC 1123 / ISO-8601 timestamp to ms since the epoch; -1 if neither. */
int64_t weir_http_parse_time(const char *s);

/* Shared XML helpers for list answers: the text of the first <tag>...</tag>
 * at or after *pos (entity-decoded, into out), advancing *pos past it.
 * false when no such element. Only what the stores' list answers need. */
bool weir_xml_next(const char *doc, size_t len, size_t *pos, const char *tag, struct weir_buf *out);
/* Bounds of the next <tag>...</tag> element's inner text at or after *pos. */
bool weir_xml_element(const char *doc, size_t len, size_t *pos, const char *tag, size_t *start, size_t *end);

#endif
