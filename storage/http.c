/* storage/http.c - HTTP for the cloud back-ends (see http.h).
 *
 * Owns the curl easy-handle pool of a store and the retry loop. A handle is
 * taken from the pool for one attempt and put back after it, so its open
 * connection serves the next request; the pool holds at most POOL_MAX idle
 * handles. curl_global_init runs once per process (pthread_once).
 * Threading: weir_http_do may run on many threads at once; the pool is the
 * only shared state, under a mutex. */
#include "storage/http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"

#define POOL_MAX       16
#define RESP_ERROR_MAX 8192

struct weir_http {
    struct weir_http_settings set;
    char *ca_file;
    pthread_mutex_t mu;
    CURL *pool[POOL_MAX];
    int npool;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int weir_http_create(const struct weir_http_settings *s, struct weir_http **out, struct weir_error *err)
{
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return weir_error_set(err, WEIR_EIO, "storage: libcurl initialisation failed: %s",
                              curl_easy_strerror(global_rc));
    struct weir_http *h = weir_calloc(1, sizeof *h);
    if (!h)
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory");
    h->set = *s;
    if (h->set.connect_timeout_ms <= 0)
        h->set.connect_timeout_ms = 10000;
    if (h->set.idle_timeout_ms <= 0)
        h->set.idle_timeout_ms = 30000;
    if (h->set.max_retries < 0)
        h->set.max_retries = 0;
    if (h->set.backoff_base_ms <= 0)
        h->set.backoff_base_ms = 100;
    if (h->set.backoff_max_ms <= 0)
        h->set.backoff_max_ms = 15000;
    if (s->ca_file && !(h->ca_file = weir_strdup(s->ca_file))) {
        weir_free(h);
        return weir_error_set(err, WEIR_ENOMEM, "storage: out of memory");
    }
    h->set.ca_file = h->ca_file;
    pthread_mutex_init(&h->mu, NULL);
    *out = h;
    return 0;
}

void weir_http_destroy(struct weir_http *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->npool; i++)
        curl_easy_cleanup(h->pool[i]);
    pthread_mutex_destroy(&h->mu);
    weir_free(h->ca_file);
    weir_free(h);
}

static CURL *take_handle(struct weir_http *h)
{
    CURL *c = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->npool > 0)
        c = h->pool[--h->npool];
    pthread_mutex_unlock(&h->mu);
    if (c)
        curl_easy_reset(c);
    else
        c = curl_easy_init();
    return c;
}

static void give_handle(struct weir_http *h, CURL *c, bool reusable)
{
    if (reusable) {
        pthread_mutex_lock(&h->mu);
        if (h->npool < POOL_MAX) {
            h->pool[h->npool++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&h->mu);
    }
    if (c)
        curl_easy_cleanup(c);
}

/* ------------------------------------------------------------ calls */

void weir_http_call_init(struct weir_http_call *c, const char *method, const char *scheme_host,
                         const char *path, const char *query)
{
    memset(c, 0, sizeof *c);
    c->method = method;
    c->scheme_host = scheme_host;
    c->path = path;
    c->query = query;
    weir_buf_init(&c->resp_headers);
    weir_buf_init(&c->resp_error);
}

static void drop_owned(struct weir_http_call *c)
{
    for (size_t i = 0; i < c->nowned; i++)
        weir_free(c->owned[i]);
    c->nowned = 0;
}

void weir_http_call_free(struct weir_http_call *c)
{
    drop_owned(c);
    weir_buf_free(&c->resp_headers);
    weir_buf_free(&c->resp_error);
}

int weir_http_add_header(struct weir_http_call *c, const char *name, const char *value)
{
    if (c->nheaders >= WEIR_HTTP_MAX_HEADERS)
        return WEIR_ERANGE;
    c->headers[c->nheaders].name = name;
    c->headers[c->nheaders++].value = value;
    return 0;
}

int weir_http_add_header_owned(struct weir_http_call *c, const char *name, char *value)
{
    if (!value)
        return WEIR_ENOMEM;
    if (c->nowned >= sizeof c->owned / sizeof c->owned[0] || c->nheaders >= WEIR_HTTP_MAX_HEADERS) {
        weir_free(value);
        return WEIR_ERANGE;
    }
    c->owned[c->nowned++] = value;
    return weir_http_add_header(c, name, value);
}

static bool is_2xx(long s)
{
    return s >= 200 && s < 300;
}

struct attempt {
    struct weir_http_call *c;
    CURL *curl;
    size_t out_len0; /* c->out's length before the attempt (rolled back on retry) */
    bool overflow;   /* a 2xx body longer than dst */
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct attempt *a = ud;
    struct weir_http_call *c = a->c;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
    if (!is_2xx(status)) {
        size_t room = RESP_ERROR_MAX > c->resp_error.len ? RESP_ERROR_MAX - c->resp_error.len : 0;
        if (weir_buf_append(&c->resp_error, p, n < room ? n : room))
            return 0;
        return n;
    }
    if (c->out)
        return weir_buf_append(c->out, p, n) ? 0 : n;
    if (c->dst) {
        if (n > c->dst_len - c->dst_got) {
            a->overflow = true;
            return 0;
        }
        memcpy((char *)c->dst + c->dst_got, p, n);
        c->dst_got += n;
    }
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct attempt *a = ud;
    size_t n = size * nmemb;
    /* A new status line (after 100 Continue or a redirect) starts over. */
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        a->c->resp_headers.len = 0;
    return weir_buf_append(&a->c->resp_headers, p, n) ? 0 : n;
}

bool weir_http_header(const struct weir_http_call *c, const char *name, char *out, size_t n)
{
    const char *p = (const char *)c->resp_headers.data, *end = p + c->resp_headers.len;
    size_t nl = strlen(name);
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            size_t len = (size_t)(ve - v);
            if (n) {
                if (len > n - 1)
                    len = n - 1;
                memcpy(out, v, len);
                out[len] = '\0';
            }
            return true;
        }
        p = eol + 1;
    }
    return false;
}

static bool retriable_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static bool retriable_status(long s)
{
    return s == 408 || s == 429 || s >= 500;
}

static void backoff_sleep(const struct weir_http *h, int attempt)
{
    long d = h->set.backoff_base_ms;
    for (int i = 1; i < attempt && d < h->set.backoff_max_ms; i++)
        d *= 2;
    if (d > h->set.backoff_max_ms)
        d = h->set.backoff_max_ms;
    /* Jitter: somewhere in [d/2, d]. */
    long j = d / 2 + (long)((unsigned)rand() % (unsigned)(d / 2 + 1));
    struct timespec ts = {j / 1000, (j % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One attempt: 0 with c->status set, or a curl error in *crc. */
static int attempt_once(struct weir_http *h, struct weir_http_call *c, CURL *curl, CURLcode *crc,
                        bool *overflow)
{
    struct weir_buf url;
    weir_buf_init(&url);
    struct curl_slist *hl = NULL;
    int rc = 0;
    if (weir_buf_printf(&url, "%s%s%s%s", c->scheme_host, c->path, c->query && c->query[0] ? "?" : "",
                        c->query ? c->query : "")) {
        rc = WEIR_ENOMEM;
        goto done;
    }
    bool has_ct = false;
    for (size_t i = 0; i < c->nheaders; i++) {
        struct weir_buf line;
        weir_buf_init(&line);
        if (strcasecmp(c->headers[i].name, "content-type") == 0)
            has_ct = true;
        /* "Name;" sends a header with an empty value ("Name:" would remove it). */
        int bad = c->headers[i].value[0]
                      ? weir_buf_printf(&line, "%s: %s", c->headers[i].name, c->headers[i].value)
                      : weir_buf_printf(&line, "%s;", c->headers[i].name);
        struct curl_slist *n = bad ? NULL : curl_slist_append(hl, (char *)line.data);
        weir_buf_free(&line);
        if (!n) {
            rc = WEIR_ENOMEM;
            goto done;
        }
        hl = n;
    }
    /* No "Expect: 100-continue" round trip, no form content type. */
    struct curl_slist *n = curl_slist_append(hl, "Expect:");
    if (n && !has_ct)
        n = curl_slist_append(n, "Content-Type:");
    if (!n) {
        rc = WEIR_ENOMEM;
        goto done;
    }
    hl = n;

    struct attempt a = {.c = c, .curl = curl};
    if (c->out)
        a.out_len0 = c->out->len;
    c->dst_got = 0;
    c->resp_headers.len = 0;
    c->resp_error.len = 0;
    curl_easy_setopt(curl, CURLOPT_URL, (char *)url.data);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, h->set.connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, (h->set.idle_timeout_ms + 999) / 1000);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, h->set.verify_tls ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, h->set.verify_tls ? 2L : 0L);
    if (h->set.ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, h->set.ca_file);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a);
    if (strcmp(c->method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (strcmp(c->method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, c->method);
        if (c->body || strcmp(c->method, "PUT") == 0 || strcmp(c->method, "POST") == 0) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, c->body ? (const char *)c->body : "");
        }
    }
    *crc = curl_easy_perform(curl);
    *overflow = a.overflow;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &c->status);
    if (*crc != CURLE_OK && c->out)
        c->out->len = a.out_len0;
done:
    curl_slist_free_all(hl);
    weir_buf_free(&url);
    return rc;
}

int weir_http_do(struct weir_http *h, struct weir_http_call *c, weir_http_sign_fn sign, void *sign_ctx,
                 const char *what, struct weir_error *err)
{
    size_t base_headers = c->nheaders;
    size_t out_len0 = c->out ? c->out->len : 0;
    for (int attempt = 1;; attempt++) {
        c->attempts = attempt;
        c->nheaders = base_headers;
        drop_owned(c);
        if (c->out)
            c->out->len = out_len0;
        int rc = sign ? sign(sign_ctx, c, err) : 0;
        if (rc < 0)
            return rc;
        CURL *curl = take_handle(h);
        if (!curl)
            return weir_error_set(err, WEIR_ENOMEM, "storage: %s: cannot create an HTTP handle", what);
        CURLcode crc = CURLE_OK;
        bool overflow = false;
        c->status = 0;
        rc = attempt_once(h, c, curl, &crc, &overflow);
        give_handle(h, curl, rc == 0 && crc == CURLE_OK);
        c->nheaders = base_headers;
        drop_owned(c);
        if (rc < 0)
            return weir_error_set(err, rc, "storage: %s: out of memory", what);
        bool transient;
        char why[160];
        if (crc != CURLE_OK) {
            if (overflow)
                return weir_error_set(err, WEIR_ECORRUPT,
                                      "storage: %s: the answer is longer than the %zu bytes asked", what,
                                      c->dst_len);
            transient = retriable_curl(crc);
            snprintf(why, sizeof why, "%s", curl_easy_strerror(crc));
        } else if (retriable_status(c->status)) {
            transient = true;
            snprintf(why, sizeof why, "HTTP %ld", c->status);
        } else {
            if (c->dst && is_2xx(c->status) && c->dst_got != c->dst_len)
                return weir_error_set(err, WEIR_ECORRUPT, "storage: %s: %zu bytes returned, %zu asked", what,
                                      c->dst_got, c->dst_len);
            return 0;
        }
        if (!transient || attempt > h->set.max_retries) {
            rc = weir_error_set(err, WEIR_EIO, "storage: %s: %s%s", what, why,
                                transient ? " (retries exhausted)" : "");
            if (err)
                err->retriable = transient;
            return rc;
        }
        WEIR_DEBUG("storage: %s: %s; retry %d of %d", what, why, attempt, h->set.max_retries);
        backoff_sleep(h, attempt);
    }
}

/* The service's own error code and message from an XML or JSON body. */
static void service_error(const struct weir_http_call *c, char *out, size_t n)
{
    out[0] = '\0';
    const char *doc = (const char *)c->resp_error.data;
    size_t len = c->resp_error.len;
    if (!doc || !len)
        return;
    struct weir_buf code, msg;
    weir_buf_init(&code);
    weir_buf_init(&msg);
    size_t pos = 0;
    weir_xml_next(doc, len, &pos, "Code", &code);
    pos = 0;
    weir_xml_next(doc, len, &pos, "Message", &msg);
    if (msg.len) { /* Azure appends RequestId/Time lines: keep the first */
        char *nl = strpbrk((char *)msg.data, "\r\n");
        if (nl)
            *nl = '\0';
        msg.len = strlen((char *)msg.data);
    }
    if (code.len || msg.len) {
        snprintf(out, n, ": %s%s%.300s", code.len ? (char *)code.data : "", code.len && msg.len ? ": " : "",
                 msg.len ? (char *)msg.data : "");
    } else if (doc[0] == '{') {
        /* JSON error bodies (GCS): show the start, it is short and secret-free. */
        snprintf(out, n, ": %.300s", doc);
        for (char *p = out; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
    }
    weir_buf_free(&code);
    weir_buf_free(&msg);
}

int weir_http_status_error(const struct weir_http_call *c, const char *what, struct weir_error *err)
{
    char detail[400];
    service_error(c, detail, sizeof detail);
    int code = WEIR_EIO;
    const char *hint = "";
    if (c->status == 404)
        code = WEIR_ENOTFOUND;
    else if (c->status == 412 || c->status == 409)
        code = WEIR_EEXISTS;
    else if (c->status == 401 || c->status == 403) {
        code = WEIR_ECONFIG;
        hint = " (check the credentials and their permissions)";
    }
    return weir_error_set(err, code, "storage: %s: HTTP %ld%s%s", what, c->status, detail, hint);
}

/* ------------------------------------------------------------ time */

void weir_http_amz_date(char out[17])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void weir_http_rfc1123_date(char out[40])
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int64_t weir_http_parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end) {
        memset(&tm, 0, sizeof tm);
        end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end)
            return -1;
        if (*end == '.') {
            int scale = 100;
            for (end++; isdigit((unsigned char)*end); end++, scale /= 10)
                ms += (*end - '0') * scale;
        }
    }
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* ------------------------------------------------------------ XML */

bool weir_xml_element(const char *doc, size_t len, size_t *pos, const char *tag, size_t *start, size_t *end)
{
    size_t tl = strlen(tag);
    for (size_t i = *pos; i + tl + 2 <= len; i++) {
        if (doc[i] != '<' || memcmp(doc + i + 1, tag, tl) != 0)
            continue;
        char after = doc[i + 1 + tl];
        if (after == '/' && i + tl + 2 < len && doc[i + tl + 2] == '>') { /* <Tag/> */
            *start = *end = i + tl + 3;
            *pos = *end;
            return true;
        }
        if (after != '>' && after != ' ')
            continue;
        const char *gt = memchr(doc + i, '>', len - i);
        if (!gt)
            return false;
        size_t s = (size_t)(gt - doc) + 1;
        for (size_t j = s; j + tl + 3 <= len; j++) {
            if (doc[j] == '<' && doc[j + 1] == '/' && memcmp(doc + j + 2, tag, tl) == 0 &&
                doc[j + 2 + tl] == '>') {
                *start = s;
                *end = j;
                *pos = j + tl + 3;
                return true;
            }
        }
        return false;
    }
    return false;
}

bool weir_xml_next(const char *doc, size_t len, size_t *pos, const char *tag, struct weir_buf *out)
{
    size_t s, e;
    out->len = 0;
    if (!weir_xml_element(doc, len, pos, tag, &s, &e))
        return false;
    if (weir_buf_reserve(out, e - s))
        return false;
    for (size_t i = s; i < e; i++) {
        if (doc[i] != '&') {
            out->data[out->len++] = (uint8_t)doc[i];
            continue;
        }
        const char *semi = memchr(doc + i, ';', e - i);
        size_t el = semi ? (size_t)(semi - (doc + i)) + 1 : 0;
        unsigned long cp = 0;
        if (el == 5 && memcmp(doc + i, "&amp;", 5) == 0)
            cp = '&';
        else if (el == 4 && memcmp(doc + i, "&lt;", 4) == 0)
            cp = '<';
        else if (el == 4 && memcmp(doc + i, "&gt;", 4) == 0)
            cp = '>';
        else if (el == 6 && memcmp(doc + i, "&quot;", 6) == 0)
            cp = '"';
        else if (el == 6 && memcmp(doc + i, "&apos;", 6) == 0)
            cp = '\'';
        else if (el > 3 && doc[i + 1] == '#')
            cp = doc[i + 2] == 'x' ? strtoul(doc + i + 3, NULL, 16) : strtoul(doc + i + 2, NULL, 10);
        if (cp == 0 || cp > 0x10FFFF) { /* not an entity we know: keep it */
            out->data[out->len++] = '&';
            continue;
        }
        /* UTF-8 of the code point (never longer than the entity). */
        uint8_t *o = out->data + out->len;
        if (cp < 0x80) {
            o[0] = (uint8_t)cp;
            out->len += 1;
        } else if (cp < 0x800) {
            o[0] = (uint8_t)(0xC0 | (cp >> 6));
            o[1] = (uint8_t)(0x80 | (cp & 0x3F));
            out->len += 2;
        } else if (cp < 0x10000) {
            o[0] = (uint8_t)(0xE0 | (cp >> 12));
            o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            o[2] = (uint8_t)(0x80 | (cp & 0x3F));
            out->len += 3;
        } else {
            o[0] = (uint8_t)(0xF0 | (cp >> 18));
            o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
            o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
            o[3] = (uint8_t)(0x80 | (cp & 0x3F));
            out->len += 4;
        }
        i += el - 1;
    }
    out->data[out->len] = '\0';
    return true;
}

void weir_http_req_init(struct weir_http_req *r)
{
    weir_buf_init(&r->path);
    weir_buf_init(&r->query);
    weir_buf_init(&r->what);
}

int weir_http_req_start(struct weir_http_req *r, const char *method, const char *scheme_host,
                        const char *display, const char *prefix, const char *key)
{
    if (weir_buf_printf(&r->what, "%s %s/%s%s", method, display, key ? prefix : "", key ? key : "") ||
        weir_buf_reserve(&r->query, 0))
        return WEIR_ENOMEM;
    weir_http_call_init(&r->c, method, scheme_host, (char *)r->path.data, (char *)r->query.data);
    return 0;
}

int weir_http_req_query(struct weir_http_req *r, const struct weir_kv *params, size_t n)
{
    r->query.len = 0;
    if (weir_canonical_query(&r->query, params, n))
        return WEIR_ENOMEM;
    r->c.query = (char *)r->query.data;
    return 0;
}

void weir_http_req_free(struct weir_http_req *r)
{
    weir_http_call_free(&r->c);
    weir_buf_free(&r->path);
    weir_buf_free(&r->query);
    weir_buf_free(&r->what);
}
