/* tests/unit/test_http.c - stream/http: the request parser (complete,
 * partial and malformed heads, limits) and the server on a real loop and
 * socket (a handler's response, HEAD, a 404, a bad request the handler
 * never sees, a request split across writes, close with a connection
 * open). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "stream/http.h"

static int parse(const char *s, struct weir_http_request *r)
{
    return weir_http_parse(s, strlen(s), r);
}

static void test_parse_requests(void **state)
{
    (void)state;
    struct weir_http_request r;
    const char *get = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization:  Bearer t0k \r\n\r\n";
    assert_int_equal(parse(get, &r), 1);
    assert_string_equal(r.method, "GET");
    assert_string_equal(r.path, "/metrics");
    assert_string_equal(r.query, "x=1");
    assert_string_equal(r.auth, "Bearer t0k");
    assert_int_equal(r.content_length, 0);
    assert_int_equal(r.head_len, strlen(get));
    /* every prefix of a valid head is incomplete, never an error */
    for (size_t n = 0; n < strlen(get); n++)
        assert_int_equal(weir_http_parse(get, n, &r), 0);
    const char *post = "POST /pipelines/a/pause HTTP/1.0\r\ncontent-length: 3\r\n\r\nabc";
    assert_int_equal(parse(post, &r), 1);
    assert_string_equal(r.method, "POST");
    assert_int_equal(r.content_length, 3);
    assert_int_equal(r.head_len, strlen(post) - 3);
    assert_string_equal(r.auth, "");
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct weir_http_request r;
    assert_int_equal(parse("GET /x HTTP/1.1\n\n", &r), -400);           /* bare LF */
    assert_int_equal(parse("GET x HTTP/1.1\r\n\r\n", &r), -400);        /* not a path */
    assert_int_equal(parse("GET /x HTTP/2.0\r\n\r\n", &r), -505);       /* version */
    assert_int_equal(parse("GET /x FTP/1.0\r\n\r\n", &r), -400);        /* protocol */
    assert_int_equal(parse("G(T /x HTTP/1.1\r\n\r\n", &r), -400);       /* method token */
    assert_int_equal(parse("PROPFINDX /x HTTP/1.1\r\n\r\n", &r), -501); /* method length */
    assert_int_equal(parse("GET /x HTTP/1.1\r\n folded\r\n\r\n", &r), -400);
    assert_int_equal(parse("GET /x HTTP/1.1\r\nNoColon\r\n\r\n", &r), -400);
    assert_int_equal(parse("GET /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &r), -400);
    assert_int_equal(parse("GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &r), -400);
    assert_int_equal(parse("GET /x HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", &r), -413);
    assert_int_equal(parse("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r), -501);
    assert_int_equal(weir_http_parse("GET /\0 HTTP/1.1\r\n\r\n", 20, &r), -400);
    /* limits: a long target, many headers */
    static char big[WEIR_HTTP_MAX_HEAD + 64];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    assert_int_equal(weir_http_parse(big, sizeof big, &r), -414);
    snprintf(big, sizeof big, "GET /%01100d HTTP/1.1\r\n\r\n", 0);
    assert_int_equal(parse(big, &r), -414);
    int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\n");
    while (n < (int)sizeof big - 16)
        n += snprintf(big + n, sizeof big - (size_t)n, "X-A: b\r\n");
    assert_int_equal(weir_http_parse(big, (size_t)n, &r), -431);
}

/* ------------------------------------------------------------ server */

struct server {
    uv_loop_t loop;
    uv_async_t stop;
    struct weir_http *h;
    pthread_t thread;
    int port;
    int calls;
};

static void handler(void *ctx, const struct weir_http_request *req, struct weir_http_response *res)
{
    struct server *s = ctx;
    s->calls++;
    if (strcmp(req->path, "/hello") == 0) {
        res->content_type = "application/json";
        weir_buf_printf(&res->body, "{\"method\":\"%s\",\"auth\":\"%s\"}", req->method, req->auth);
    } else {
        res->status = 404;
        weir_buf_append_str(&res->body, "no such endpoint\n");
    }
}

static void on_stop(uv_async_t *a)
{
    struct server *s = a->data;
    weir_http_close(s->h);
    uv_close((uv_handle_t *)&s->stop, NULL);
}

static void *loop_main(void *arg)
{
    struct server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void server_start(struct server *s)
{
    struct weir_error err = {0};
    memset(s, 0, sizeof *s);
    assert_int_equal(uv_loop_init(&s->loop), 0);
    assert_int_equal(uv_async_init(&s->loop, &s->stop, on_stop), 0);
    s->stop.data = s;
    assert_int_equal(weir_http_listen(&s->loop, ":0", handler, s, &s->h, &err), 0);
    s->port = weir_http_port(s->h);
    assert_true(s->port > 0);
    assert_int_equal(pthread_create(&s->thread, NULL, loop_main, s), 0);
}

static void server_stop(struct server *s)
{
    uv_async_send(&s->stop);
    pthread_join(s->thread, NULL);
    assert_int_equal(uv_loop_close(&s->loop), 0); /* every handle closed */
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Send the parts (with a pause between them), read the whole response. */
static char *exchange(int port, const char *const *parts, size_t n)
{
    int fd = dial(port);
    for (size_t i = 0; i < n; i++) {
        if (i)
            usleep(20000);
        assert_int_equal(write(fd, parts[i], strlen(parts[i])), (ssize_t)strlen(parts[i]));
    }
    static char out[8192];
    size_t len = 0;
    ssize_t r;
    while ((r = read(fd, out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = 0;
    close(fd);
    return out;
}

static void test_server(void **state)
{
    (void)state;
    struct server s;
    server_start(&s);
    const char *get[] = {"GET /hello HTTP/1.1\r\nAuthorization: Bearer x\r\n\r\n"};
    char *r = exchange(s.port, get, 1);
    assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(r, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(r, "Connection: close\r\n"));
    assert_non_null(strstr(r, "\r\n\r\n{\"method\":\"GET\",\"auth\":\"Bearer x\"}"));
    /* split across writes, with a body */
    const char *split[] = {"POST /hel", "lo HTTP/1.1\r\nContent-Length: 4\r\n", "\r\nab", "cd"};
    r = exchange(s.port, split, 4);
    assert_non_null(strstr(r, "{\"method\":\"POST\""));
    /* HEAD: the headers of GET, no body */
    const char *head[] = {"HEAD /hello HTTP/1.1\r\n\r\n"};
    r = exchange(s.port, head, 1);
    assert_non_null(strstr(r, "200 OK"));
    assert_null(strstr(r, "{"));
    const char *missing[] = {"GET /nope HTTP/1.1\r\n\r\n"};
    assert_non_null(strstr(exchange(s.port, missing, 1), "HTTP/1.1 404 Not Found\r\n"));
    int calls = s.calls;
    const char *bad[] = {"GET nope HTTP/1.1\r\n\r\n"};
    assert_non_null(strstr(exchange(s.port, bad, 1), "HTTP/1.1 400 Bad Request\r\n"));
    assert_int_equal(s.calls, calls); /* the handler never saw it */
    /* a connection left open is closed by close() */
    int idle = dial(s.port);
    assert_int_equal(write(idle, "GET /hel", 8), 8);
    usleep(20000);
    server_stop(&s);
    char c;
    assert_true(read(idle, &c, 1) <= 0);
    close(idle);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_requests),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
