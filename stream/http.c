/* stream/http.c - the request parser and the libuv server of http.h.
 *
 * Owns: the listening handle and the open connections (a list, so close
 * can end them all). Each connection holds a TCP handle and a timer; it is
 * freed when both have closed. Everything runs on the loop's thread. */
#include "stream/http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "core/alloc.h"

/* ------------------------------------------------------------ parsing */

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Header value bytes: visible ASCII, obs-text, space and tab. */
static bool vchar(unsigned char c)
{
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static int copy_field(char *dst, size_t cap, const char *p, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, p, n);
    dst[n] = 0;
    return 0;
}

static int parse_request_line(const char *p, size_t n, struct weir_http_request *req)
{
    const char *sp1 = memchr(p, ' ', n);
    if (!sp1 || sp1 == p)
        return -400;
    size_t ml = (size_t)(sp1 - p);
    for (size_t i = 0; i < ml; i++)
        if (!tchar((unsigned char)p[i]))
            return -400;
    if (copy_field(req->method, sizeof req->method, p, ml))
        return -501; /* no method we serve is that long */
    const char *t = sp1 + 1, *end = p + n;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (!sp2 || sp2 == t || *t != '/')
        return -400;
    for (const char *c = t; c < sp2; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return -400;
    const char *q = memchr(t, '?', (size_t)(sp2 - t));
    const char *pe = q ? q : sp2;
    if (copy_field(req->path, sizeof req->path, t, (size_t)(pe - t)) ||
        copy_field(req->query, sizeof req->query, q ? q + 1 : sp2, q ? (size_t)(sp2 - q - 1) : 0))
        return -414;
    const char *v = sp2 + 1;
    size_t vl = (size_t)(end - v);
    if (vl == 8 && (memcmp(v, "HTTP/1.1", 8) == 0 || memcmp(v, "HTTP/1.0", 8) == 0))
        return 0;
    return vl >= 5 && memcmp(v, "HTTP/", 5) == 0 ? -505 : -400;
}

static int parse_header(const char *p, size_t n, struct weir_http_request *req, bool *have_len)
{
    const char *colon = memchr(p, ':', n);
    if (!colon || colon == p)
        return -400; /* no name (an obs-fold line starts with a space) */
    size_t nl = (size_t)(colon - p);
    for (size_t i = 0; i < nl; i++)
        if (!tchar((unsigned char)p[i]))
            return -400;
    const char *v = colon + 1, *end = p + n;
    for (const char *c = v; c < end; c++)
        if (!vchar((unsigned char)*c))
            return -400;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    if (nl == 14 && strncasecmp(p, "content-length", nl) == 0) {
        if (vl == 0)
            return -400;
        size_t len = 0;
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9')
                return -400;
            if (len > WEIR_HTTP_MAX_BODY)
                return -413;
            len = len * 10 + (size_t)(v[i] - '0');
        }
        if (len > WEIR_HTTP_MAX_BODY)
            return -413;
        if (*have_len && len != req->content_length)
            return -400;
        req->content_length = len;
        *have_len = true;
    } else if (nl == 17 && strncasecmp(p, "transfer-encoding", nl) == 0) {
        return -501;
    } else if (nl == 13 && strncasecmp(p, "authorization", nl) == 0) {
        if (copy_field(req->auth, sizeof req->auth, v, vl))
            return -431;
    }
    return 0;
}

int weir_http_parse(const char *buf, size_t n, struct weir_http_request *req)
{
    size_t lim = n < WEIR_HTTP_MAX_HEAD ? n : WEIR_HTTP_MAX_HEAD, head = 0, line_end = 0;
    for (size_t i = 0; i < lim && head == 0; i++) {
        if (buf[i] == 0 || (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')))
            return -400;
        if (buf[i] == '\n' && line_end == 0)
            line_end = i - 1;
        if (i >= 3 && memcmp(buf + i - 3, "\r\n\r\n", 4) == 0)
            head = i + 1;
    }
    if (head == 0)
        return n < WEIR_HTTP_MAX_HEAD ? 0 : line_end == 0 ? -414 : -431;
    memset(req, 0, sizeof *req);
    int rc = parse_request_line(buf, line_end, req);
    bool have_len = false;
    for (size_t at = line_end + 2; rc == 0 && at < head - 2;) {
        const char *eol = memchr(buf + at, '\r', head - at);
        size_t ln = (size_t)(eol - (buf + at));
        rc = parse_header(buf + at, ln, req, &have_len);
        at += ln + 2;
    }
    if (rc)
        return rc;
    req->head_len = head;
    return 1;
}

const char *weir_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* ------------------------------------------------------------ serving */

struct conn {
    struct weir_http *srv;
    struct conn *prev, *next;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wr;
    int open_handles; /* freed when both are closed */
    bool closing, answered;
    size_t len;
    struct weir_buf out;
    char buf[WEIR_HTTP_MAX_HEAD + WEIR_HTTP_MAX_BODY];
};

struct weir_http {
    uv_tcp_t listener;
    weir_http_handler_fn fn;
    void *ctx;
    struct conn *conns;
    int port;
    bool closing;
};

static void conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    weir_buf_free(&c->out);
    weir_free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void on_written(uv_write_t *wr, int status)
{
    (void)status;
    conn_close(wr->data);
}

static void respond(struct conn *c, const struct weir_http_request *req, struct weir_http_response *res)
{
    bool head = req && strcmp(req->method, "HEAD") == 0;
    int rc =
        weir_buf_printf(&c->out,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                        "Cache-Control: no-store\r\nConnection: close\r\n",
                        res->status, weir_http_reason(res->status),
                        res->content_type ? res->content_type : "text/plain; charset=utf-8", res->body.len);
    if (res->allow)
        rc |= weir_buf_printf(&c->out, "Allow: %s\r\n", res->allow);
    if (res->auth_challenge)
        rc |= weir_buf_append_str(&c->out, "WWW-Authenticate: Bearer\r\n");
    rc |= weir_buf_append_str(&c->out, "\r\n");
    if (!head && res->body.len)
        rc |= weir_buf_append(&c->out, res->body.data, res->body.len);
    weir_buf_free(&res->body);
    c->answered = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_stop(&c->timer);
    uv_buf_t b = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    c->wr.data = c;
    if (rc || uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
        conn_close(c);
}

static void respond_status(struct conn *c, int status, const char *text)
{
    struct weir_http_response res = {.status = status};
    weir_buf_init(&res.body);
    if (weir_buf_printf(&res.body, "%s\n", text) != 0)
        weir_buf_free(&res.body);
    respond(c, NULL, &res);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct conn *c = h->data;
    *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    (void)b;
    struct conn *c = s->data;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (c->answered || c->closing)
        return;
    c->len += (size_t)nread;
    struct weir_http_request req;
    int rc = weir_http_parse(c->buf, c->len, &req);
    if (rc < 0) {
        respond_status(c, -rc, weir_http_reason(-rc));
        return;
    }
    if (rc == 0 || c->len < req.head_len + req.content_length)
        return; /* more to come; the buffer holds the largest head and body */
    struct weir_http_response res = {.status = 200};
    weir_buf_init(&res.body);
    c->srv->fn(c->srv->ctx, &req, &res);
    respond(c, &req, &res);
}

static void on_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (!c->answered)
        respond_status(c, 408, "no complete request in time");
}

static void on_connection(uv_stream_t *l, int status)
{
    struct weir_http *h = l->data;
    if (status < 0 || h->closing)
        return;
    struct conn *c = weir_calloc(1, sizeof *c);
    if (!c)
        return;
    c->srv = h;
    weir_buf_init(&c->out);
    uv_tcp_init(l->loop, &c->tcp);
    uv_timer_init(l->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
        uv_timer_start(&c->timer, on_timeout, WEIR_HTTP_TIMEOUT_MS, 0) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

static void listener_closed(uv_handle_t *l)
{
    weir_free(l->data);
}

static int parse_addr(const char *addr, struct sockaddr_storage *ss, struct weir_error *err)
{
    char host[256] = "127.0.0.1";
    const char *port = addr;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - addr - 1) >= sizeof host)
            return weir_error_set(err, WEIR_EINVAL, "http.listen '%s': expected [address]:port", addr);
        memcpy(host, addr + 1, (size_t)(rb - addr - 1));
        host[rb - addr - 1] = 0;
        port = rb + 2;
    } else if (strchr(addr, ':')) {
        const char *colon = strrchr(addr, ':');
        if (colon != addr) {
            if ((size_t)(colon - addr) >= sizeof host)
                return weir_error_set(err, WEIR_EINVAL, "http.listen '%s': host too long", addr);
            memcpy(host, addr, (size_t)(colon - addr));
            host[colon - addr] = 0;
        }
        port = colon + 1;
    }
    char *end = NULL;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        return weir_error_set(err, WEIR_EINVAL, "http.listen '%s': port must be a number 0-65535", addr);
    if (uv_ip4_addr(host, (int)p, (struct sockaddr_in *)ss) != 0 &&
        uv_ip6_addr(host, (int)p, (struct sockaddr_in6 *)ss) != 0)
        return weir_error_set(err, WEIR_EINVAL, "http.listen '%s': '%s' is not an IP address", addr, host);
    return 0;
}

int weir_http_listen(uv_loop_t *loop, const char *addr, weir_http_handler_fn fn, void *ctx,
                     struct weir_http **out, struct weir_error *err)
{
    struct sockaddr_storage ss;
    *out = NULL;
    memset(&ss, 0, sizeof ss);
    int rc = parse_addr(addr, &ss, err);
    if (rc)
        return rc;
    struct weir_http *h = weir_calloc(1, sizeof *h);
    if (!h)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    h->fn = fn;
    h->ctx = ctx;
    uv_tcp_init(loop, &h->listener);
    h->listener.data = h;
    int e = uv_tcp_bind(&h->listener, (const struct sockaddr *)&ss, 0);
    if (e == 0)
        e = uv_listen((uv_stream_t *)&h->listener, 64, on_connection);
    if (e != 0) {
        h->closing = true;
        uv_close((uv_handle_t *)&h->listener, listener_closed);
        return weir_error_set(err, WEIR_EIO, "http.listen '%s': %s", addr, uv_strerror(e));
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    if (uv_tcp_getsockname(&h->listener, (struct sockaddr *)&bound, &blen) == 0)
        h->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    *out = h;
    return 0;
}

int weir_http_port(const struct weir_http *h)
{
    return h->port;
}

void weir_http_close(struct weir_http *h)
{
    if (!h || h->closing)
        return;
    h->closing = true;
    while (h->conns)
        conn_close(h->conns);
    uv_close((uv_handle_t *)&h->listener, listener_closed);
}
