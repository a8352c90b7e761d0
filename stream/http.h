/* stream/http.h - the service's small HTTP/1.1 server (health, readiness,
 * metrics, progress, pause/resume) on the engine's libuv loop.
 *
 * One request per connection: the server reads the request head (and a
 * body of at most WEIR_HTTP_MAX_BODY bytes, which it discards), calls the
 * handler on the loop thread, writes the response with Connection: close
 * and closes. A connection that has not sent a whole request within
 * WEIR_HTTP_TIMEOUT_MS is closed, so slow or idle clients hold no resource
 * for long. No keep-alive, no chunked requests (501), no TLS: the endpoint
 * is meant for 127.0.0.1 or a private network behind a proxy.
 *
 * weir_http_parse is pure (and fuzzed): it reads a request head from the
 * bytes received so far. */
#ifndef WEIR_STREAM_HTTP_H
#define WEIR_STREAM_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"

#define WEIR_HTTP_MAX_HEAD   8192
#define WEIR_HTTP_MAX_BODY   65536
#define WEIR_HTTP_TIMEOUT_MS 10000

struct weir_http_request {
    char method[8];
    char path[1024];  /* the target's path, without its query */
    char query[1024]; /* after '?', "" without one */
    char auth[512];   /* the Authorization header's value, "" without one */
    size_t content_length;
    size_t head_len; /* bytes of the request line and headers, final CRLF included */
};

/* Parse the request head at the start of buf[0..n): 1 when it is complete
 * (req filled), 0 when more bytes are needed, or minus the HTTP status to
 * answer with when it is malformed or too large (400, 413, 414, 431, 501,
 * 505). */
int weir_http_parse(const char *buf, size_t n, struct weir_http_request *req);

struct weir_http_response {
    int status;               /* default 200 */
    const char *content_type; /* default "text/plain; charset=utf-8" */
    const char *allow;        /* the Allow header of a 405, or NULL */
    bool auth_challenge;      /* add WWW-Authenticate: Bearer (a 401) */
    struct weir_buf body;
};

/* Called on the loop thread for each complete request; fills res. */
typedef void (*weir_http_handler_fn)(void *ctx, const struct weir_http_request *req,
                                     struct weir_http_response *res);

struct weir_http;
struct uv_loop_s;

/* Listen on addr: "host:port", "[v6]:port", ":port" or "port" (the host
 * defaults to 127.0.0.1; port 0 picks a free one). */
int weir_http_listen(struct uv_loop_s *loop, const char *addr, weir_http_handler_fn fn, void *ctx,
                     struct weir_http **out, struct weir_error *err);
/* The port listened on. */
int weir_http_port(const struct weir_http *h);
/* Stop listening and close every open connection; the memory goes once the
 * loop has run the close callbacks. NULL ok. */
void weir_http_close(struct weir_http *h);

/* The reason phrase of a status code ("OK", "Not Found", ...). */
const char *weir_http_reason(int status);

#endif
