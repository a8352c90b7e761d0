/* core/log.c - structured log lines on stderr.
 *
 * Owns the process-wide level and format (plain ints, set at start-up; the
 * level is read from WEIR_LOG_LEVEL by a constructor so WEIR_LOG can test it
 * without a call). Each line is built in a stack buffer (long messages are
 * truncated with "...") and written with one write(2), so lines from
 * different threads never interleave. No heap allocation, except in
 * weir_log_json, whose JSON value is never truncated: it uses plain malloc
 * (not the alloc hooks, so injected allocation failures never silence a
 * log line). */
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int weir_log_min_level = WEIR_LOG_INFO;
static int g_log_format = WEIR_LOG_JSON;

#define LOG_MSG_MAX  4096
#define LOG_LINE_MAX 8192

__attribute__((constructor)) static void log_init_from_env(void)
{
    const char *s = getenv("WEIR_LOG_LEVEL");
    if (s != NULL) {
        int lv = weir_log_level_from_string(s);
        if (lv >= 0)
            weir_log_min_level = lv;
    }
}

void weir_log_set_level(enum weir_log_level level)
{
    weir_log_min_level = (int)level;
}

void weir_log_set_format(enum weir_log_format format)
{
    g_log_format = (int)format;
}

int weir_log_level_from_string(const char *s)
{
    if (s == NULL)
        return -1;
    if (strcasecmp(s, "debug") == 0)
        return WEIR_LOG_DEBUG;
    if (strcasecmp(s, "info") == 0)
        return WEIR_LOG_INFO;
    if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
        return WEIR_LOG_WARN;
    if (strcasecmp(s, "error") == 0)
        return WEIR_LOG_ERROR;
    return -1;
}

static const char *level_name(enum weir_log_level level, int upper)
{
    static const char *lower_names[] = {"debug", "info", "warn", "error"};
    static const char *upper_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if ((int)level < 0 || (int)level > WEIR_LOG_ERROR)
        return upper ? "ERROR" : "error";
    return upper ? upper_names[level] : lower_names[level];
}

/* A bounded line under construction; `full` records truncation. */
struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
    int full;
};

/* Room reserved at the end for "...\"}\n" so a truncated line stays valid. */
#define LINE_TAIL 16

static void line_putn(struct line *l, const char *s, size_t n)
{
    size_t room = sizeof l->buf - LINE_TAIL - l->len;
    if (l->full || n > room) {
        l->full = 1; /* all or nothing: never split an escape sequence */
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void line_puts(struct line *l, const char *s)
{
    line_putn(l, s, strlen(s));
}

/* Raw append into the reserved tail (callers know it fits). */
static void line_tail(struct line *l, const char *s)
{
    size_t n = strlen(s);
    if (l->len + n > sizeof l->buf)
        n = sizeof l->buf - l->len;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* Opening quote and escaped text; the caller closes the quote (so a
 * truncated message can end in "..." inside the string). */
static void line_json_string(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    line_putn(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p && !l->full; p++) {
        char esc[8];
        switch (*p) {
        case '"':
            line_putn(l, "\\\"", 2);
            break;
        case '\\':
            line_putn(l, "\\\\", 2);
            break;
        case '\n':
            line_putn(l, "\\n", 2);
            break;
        case '\r':
            line_putn(l, "\\r", 2);
            break;
        case '\t':
            line_putn(l, "\\t", 2);
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                esc[0] = '\\';
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                line_putn(l, esc, 6);
            } else {
                /* keep a UTF-8 sequence whole so truncation never splits it */
                size_t n = 1;
                if (*p >= 0xC0)
                    while (n < 4 && (p[n] & 0xC0) == 0x80)
                        n++;
                line_putn(l, (const char *)p, n);
                p += n - 1;
            }
        }
    }
}

static void format_time(char out[64])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void weir_log_write(enum weir_log_level level, const char *pipeline, int64_t batch, const char *fmt, ...)
{
    if ((int)level < weir_log_min_level)
        return;
    int saved_errno = errno;
    char msg[LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int msg_truncated = n >= (int)sizeof msg;
    if (n < 0)
        msg[0] = '\0';
    /* Trailing newlines would break "one line per record" in text form. */
    size_t mlen = strlen(msg);
    while (mlen > 0 && (msg[mlen - 1] == '\n' || msg[mlen - 1] == '\r'))
        msg[--mlen] = '\0';

    char now[64];
    format_time(now);
    char num[32];
    struct line l;
    l.len = 0;
    l.full = 0;
    if (g_log_format == WEIR_LOG_TEXT) {
        line_puts(&l, now);
        line_puts(&l, " ");
        line_puts(&l, level_name(level, 1));
        if (pipeline != NULL || batch >= 0) {
            line_puts(&l, " [");
            if (pipeline != NULL)
                line_puts(&l, pipeline);
            if (batch >= 0) {
                snprintf(num, sizeof num, "#%lld", (long long)batch);
                line_puts(&l, num);
            }
            line_puts(&l, "]");
        }
        line_puts(&l, " ");
        for (char *p = msg; *p; p++) /* keep one record on one line */
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        line_puts(&l, msg);
        if (l.full || msg_truncated)
            line_tail(&l, "...");
        line_tail(&l, "\n");
    } else {
        line_puts(&l, "{\"time\":\"");
        line_puts(&l, now);
        line_puts(&l, "\",\"level\":\"");
        line_puts(&l, level_name(level, 0));
        line_puts(&l, "\"");
        if (pipeline != NULL) {
            line_puts(&l, ",\"pipeline\":");
            char pname[200];
            snprintf(pname, sizeof pname, "%s", pipeline); /* bounded: never fills the line */
            line_json_string(&l, pname);
            line_puts(&l, "\"");
        }
        if (batch >= 0) {
            snprintf(num, sizeof num, ",\"batch\":%lld", (long long)batch);
            line_puts(&l, num);
        }
        line_puts(&l, ",\"msg\":");
        line_json_string(&l, msg);
        if (l.full || msg_truncated)
            line_tail(&l, "...");
        line_tail(&l, "\"}\n");
    }
    write_all(l.buf, l.len);
    errno = saved_errno;
}

void weir_log_json(enum weir_log_level level, const char *pipeline, int64_t batch, const char *msg,
                   const char *key, const char *json)
{
    if ((int)level < weir_log_min_level)
        return;
    int saved_errno = errno;
    size_t jn = strlen(json);
    char *buf = malloc(jn + 1024);
    if (buf == NULL) { /* still say something */
        weir_log_write(level, pipeline, batch, "%s (details dropped: out of memory)", msg);
        return;
    }
    char now[64], pname[200], num[32] = "";
    format_time(now);
    snprintf(pname, sizeof pname, "%s", pipeline ? pipeline : "");
    if (batch >= 0)
        snprintf(num, sizeof num, "%lld", (long long)batch);
    int n;
    if (g_log_format == WEIR_LOG_TEXT)
        n = snprintf(buf, 1024, "%s %s [%s%s%s] %.200s %s=", now, level_name(level, 1), pname,
                     *num ? "#" : "", num, msg, key);
    else
        n = snprintf(buf, 1024,
                     "{\"time\":\"%s\",\"level\":\"%s\",\"pipeline\":\"%s\"%s%s,\"msg\":\"%.200s\",\"%s\":",
                     now, level_name(level, 0), pname, *num ? ",\"batch\":" : "", num, msg, key);
    if (n < 0 || n >= 1000)
        n = 0;
    memcpy(buf + n, json, jn);
    n += (int)jn;
    if (g_log_format != WEIR_LOG_TEXT)
        buf[n++] = '}';
    buf[n++] = '\n';
    write_all(buf, (size_t)n);
    free(buf);
    errno = saved_errno;
}
