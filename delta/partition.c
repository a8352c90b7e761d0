/* delta/partition.c - partition values and paths: the protocol's partition
 * value serialization (format for writing, parse for scans), Hive-style
 * directory escaping, add.path URI encoding/decoding, civil dates and
 * UUIDs. Pure functions; thread-safe. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"
#include "core/json.h"
#include "delta/delta_int.h"

/* ------------------------------------------------------------- dates */

/* days since 1970-01-01 -> y/m/d (proleptic Gregorian). */
void dl_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

int64_t dl_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

void dl_format_date(char *buf, size_t n, int64_t days)
{
    int64_t y;
    int m, d;
    dl_civil_from_days(days, &y, &m, &d);
    snprintf(buf, n, "%04lld-%02d-%02d", (long long)y, m, d);
}

/* frac_digits: 3 (ms) or 6 (us); sep 'T' or ' '; zulu adds "Z". */
void dl_format_timestamp(char *buf, size_t n, int64_t micros, int frac_digits, char sep, bool zulu)
{
    int64_t days = floordiv(micros, 86400000000LL);
    int64_t rem = micros - days * 86400000000LL;
    int64_t y;
    int m, d;
    dl_civil_from_days(days, &y, &m, &d);
    int hh = (int)(rem / 3600000000LL);
    int mi = (int)(rem / 60000000LL % 60);
    int ss = (int)(rem / 1000000 % 60);
    int us = (int)(rem % 1000000);
    if (frac_digits == 3)
        snprintf(buf, n, "%04lld-%02d-%02d%c%02d:%02d:%02d.%03d%s", (long long)y, m, d, sep, hh, mi, ss,
                 us / 1000, zulu ? "Z" : "");
    else
        snprintf(buf, n, "%04lld-%02d-%02d%c%02d:%02d:%02d.%06d%s", (long long)y, m, d, sep, hh, mi, ss, us,
                 zulu ? "Z" : "");
}

/* ------------------------------------------------------------- numbers */

/* Java Double.toString / Float.toString shape: shortest round-trip digits,
 * plain notation for 1e-3 <= |x| < 1e7 (always with a ".0"), otherwise
 * "d.dddE[-]n". */
void dl_format_java_double(char *buf, size_t n, double v, bool is_float)
{
    if (isnan(v)) {
        snprintf(buf, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (v == 0) {
        snprintf(buf, n, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    char digits[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(digits, sizeof(digits), "%.*e", prec - 1, v);
        if (is_float ? (float)strtod(digits, NULL) == (float)v : strtod(digits, NULL) == v)
            break;
    }
    /* digits = "-d.ddde[+-]xx" */
    const char *p = digits;
    bool neg = *p == '-';
    if (neg)
        p++;
    char mant[24];
    size_t ml = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            mant[ml++] = *p;
    mant[ml] = 0;
    while (ml > 1 && mant[ml - 1] == '0')
        mant[--ml] = 0;
    int exp10 = atoi(p + 1);
    double a = fabs(v);
    char out[64];
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    if (a >= 1e-3 && a < 1e7) {
        if (exp10 >= 0) {
            for (int i = 0; i <= exp10; i++)
                out[o++] = (size_t)i < ml ? mant[i] : '0';
            out[o++] = '.';
            if ((size_t)exp10 + 1 < ml)
                for (size_t i = (size_t)exp10 + 1; i < ml; i++)
                    out[o++] = mant[i];
            else
                out[o++] = '0';
        } else {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -exp10 - 1; i++)
                out[o++] = '0';
            for (size_t i = 0; i < ml; i++)
                out[o++] = mant[i];
        }
        out[o] = 0;
    } else {
        out[o++] = mant[0];
        out[o++] = '.';
        if (ml > 1)
            for (size_t i = 1; i < ml; i++)
                out[o++] = mant[i];
        else
            out[o++] = '0';
        snprintf(out + o, sizeof(out) - o, "E%d", exp10);
    }
    snprintf(buf, n, "%s", out);
}

/* Unscaled decimal -> text with exactly `scale` fractional digits. */
void dl_format_decimal(char *buf, size_t n, weir_i128 v, int scale)
{
    char tmp[64];
    int t = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
    do {
        tmp[t++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    while (t <= scale)
        tmp[t++] = '0';
    char out[80];
    int o = 0;
    if (neg)
        out[o++] = '-';
    for (int i = t - 1; i >= 0; i--) {
        out[o++] = tmp[i];
        if (i == scale && scale > 0)
            out[o++] = '.';
    }
    out[o] = 0;
    snprintf(buf, n, "%s", out);
}

int weir_delta_partition_value_format(const struct weir_column *c, size_t row, char **out,
                                      struct weir_error *err)
{
    char buf[128];
    *out = NULL;
    if (!weir_column_is_valid(c, row))
        return 0;
    switch (c->type->kind) {
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY: {
        size_t len;
        const uint8_t *p = weir_column_bytes(c, row, &len);
        if (len == 0)
            return 0;
        *out = weir_strndup((const char *)p, len);
        return *out ? 0 : weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    case WEIR_TYPE_BOOLEAN:
        snprintf(buf, sizeof(buf), "%s", ((const uint8_t *)c->data)[row] ? "true" : "false");
        break;
    case WEIR_TYPE_BYTE:
        snprintf(buf, sizeof(buf), "%d", ((const int8_t *)c->data)[row]);
        break;
    case WEIR_TYPE_SHORT:
        snprintf(buf, sizeof(buf), "%d", ((const int16_t *)c->data)[row]);
        break;
    case WEIR_TYPE_INTEGER:
        snprintf(buf, sizeof(buf), "%d", weir_column_i32(c, row));
        break;
    case WEIR_TYPE_LONG:
        snprintf(buf, sizeof(buf), "%lld", (long long)weir_column_i64(c, row));
        break;
    case WEIR_TYPE_FLOAT:
        dl_format_java_double(buf, sizeof(buf), ((const float *)c->data)[row], true);
        break;
    case WEIR_TYPE_DOUBLE:
        dl_format_java_double(buf, sizeof(buf), weir_column_f64(c, row), false);
        break;
    case WEIR_TYPE_DATE:
        dl_format_date(buf, sizeof(buf), weir_column_i32(c, row));
        break;
    case WEIR_TYPE_TIMESTAMP:
        dl_format_timestamp(buf, sizeof(buf), weir_column_i64(c, row), 6, 'T', true);
        break;
    case WEIR_TYPE_TIMESTAMP_NTZ:
        dl_format_timestamp(buf, sizeof(buf), weir_column_i64(c, row), 6, ' ', false);
        break;
    case WEIR_TYPE_DECIMAL:
        dl_format_decimal(buf, sizeof(buf), ((const weir_i128 *)c->data)[row], c->type->scale);
        break;
    default:
        return weir_error_set(err, WEIR_EUNSUPPORTED, "a %s column cannot be a partition column",
                              weir_type_kind_name(c->type->kind));
    }
    *out = weir_strdup(buf);
    return *out ? 0 : weir_error_set(err, WEIR_ENOMEM, "out of memory");
}

/* ------------------------------------------------------------- parse */

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_date(const char *s, int64_t *days, const char **rest)
{
    int y, m, d, n = 0;
    if (sscanf(s, "%d-%d-%d%n", &y, &m, &d, &n) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    *days = dl_days_from_civil(y, m, d);
    *rest = s + n;
    return 0;
}

/* "YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][Z|+hh:mm|-hh:mm]" -> micros UTC. */
int dl_parse_timestamp(const char *s, int64_t *micros)
{
    int64_t days;
    const char *p;
    if (parse_date(s, &days, &p))
        return -1;
    int64_t us = 0;
    if (*p == ' ' || *p == 'T') {
        p++;
        int hh = 0, mi = 0, ss = 0, n = 0;
        if (sscanf(p, "%2d:%2d%n", &hh, &mi, &n) != 2)
            return -1;
        p += n;
        if (*p == ':') {
            p++;
            n = 0;
            if (sscanf(p, "%2d%n", &ss, &n) != 1)
                return -1;
            p += n;
        }
        if (hh > 23 || mi > 59 || ss > 60)
            return -1;
        us = ((int64_t)hh * 3600 + mi * 60 + ss) * 1000000LL;
        if (*p == '.') {
            p++;
            int64_t f = 0, scale = 100000;
            while (isdigit((unsigned char)*p)) {
                f += (*p - '0') * scale;
                scale /= 10;
                p++;
            }
            us += f;
        }
    }
    int64_t off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = 0, om = 0, n = 0;
        int sign = *p == '-' ? -1 : 1;
        p++;
        if (sscanf(p, "%2d:%2d%n", &oh, &om, &n) != 2)
            return -1;
        p += n;
        off = sign * ((int64_t)oh * 3600 + om * 60) * 1000000LL;
    }
    if (*p)
        return -1;
    *micros = days * 86400000000LL + us - off;
    return 0;
}

static int parse_decimal(const char *s, int scale, weir_i128 *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    weir_i128 v = 0;
    int frac = -1, nd = 0;
    for (; *p; p++) {
        if (*p == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (!isdigit((unsigned char)*p))
            return -1;
        if (frac >= 0) {
            if (frac >= scale) {
                if (*p != '0')
                    return -1; /* more precision than the scale */
                continue;
            }
            frac++;
        }
        if (++nd > 38)
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (nd == 0)
        return -1;
    for (int f = frac < 0 ? 0 : frac; f < scale; f++)
        v *= 10;
    *out = neg ? -v : v;
    return 0;
}

int weir_delta_partition_value_append(struct weir_column *c, const char *text, struct weir_error *err)
{
    int64_t i = 0;
    enum weir_type_kind k = c->type->kind;
    if (!text || (text[0] == 0 && k != WEIR_TYPE_STRING && k != WEIR_TYPE_BINARY))
        return weir_column_append_null(c);
    switch (k) {
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY:
        return weir_column_append_bytes(c, text, strlen(text));
    case WEIR_TYPE_BOOLEAN:
        if (strcasecmp(text, "true") == 0)
            return weir_column_append_bool(c, true);
        if (strcasecmp(text, "false") == 0)
            return weir_column_append_bool(c, false);
        break;
    case WEIR_TYPE_BYTE:
        if (parse_i64(text, INT8_MIN, INT8_MAX, &i) == 0)
            return weir_column_append_i8(c, (int8_t)i);
        break;
    case WEIR_TYPE_SHORT:
        if (parse_i64(text, INT16_MIN, INT16_MAX, &i) == 0)
            return weir_column_append_i16(c, (int16_t)i);
        break;
    case WEIR_TYPE_INTEGER:
        if (parse_i64(text, INT32_MIN, INT32_MAX, &i) == 0)
            return weir_column_append_i32(c, (int32_t)i);
        break;
    case WEIR_TYPE_LONG:
        if (parse_i64(text, INT64_MIN, INT64_MAX, &i) == 0)
            return weir_column_append_i64(c, i);
        break;
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE: {
        char *end;
        double d = strtod(text, &end);
        if (end != text && *end == 0)
            return k == WEIR_TYPE_FLOAT ? weir_column_append_f32(c, (float)d) : weir_column_append_f64(c, d);
        break;
    }
    case WEIR_TYPE_DATE: {
        const char *rest;
        if (parse_date(text, &i, &rest) == 0 && (*rest == 0 || *rest == ' ' || *rest == 'T'))
            return weir_column_append_i32(c, (int32_t)i);
        break;
    }
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        if (dl_parse_timestamp(text, &i) == 0)
            return weir_column_append_i64(c, i);
        break;
    case WEIR_TYPE_DECIMAL: {
        weir_i128 v;
        if (parse_decimal(text, c->type->scale, &v) == 0)
            return weir_column_append_i128(c, v);
        break;
    }
    default:
        return weir_error_set(err, WEIR_EUNSUPPORTED, "partition column of type %s is not supported",
                              weir_type_kind_name(k));
    }
    return weir_error_set(err, WEIR_EPARSE, "partition value '%s' is not a valid %s", text,
                          weir_type_kind_name(k));
}

/* ------------------------------------------------------------- paths */

static bool hive_escape(unsigned char ch)
{
    return (ch >= 0x01 && ch <= 0x1F) || ch == '"' || ch == '#' || ch == '%' || ch == '\'' || ch == '*' ||
           ch == '/' || ch == ':' || ch == '=' || ch == '?' || ch == '\\' || ch == 0x7F || ch == '{' ||
           ch == '[' || ch == ']' || ch == '^';
}

int dl_hive_escape(struct weir_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && rc == 0; p++) {
        if (hive_escape(*p)) {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = weir_buf_append(b, e, 3);
        } else {
            rc = weir_buf_append_byte(b, *p);
        }
    }
    return rc;
}

static bool uri_escape(unsigned char ch)
{
    return ch <= 0x20 || ch == 0x7F || ch == '%' || ch == '"' || ch == '<' || ch == '>' || ch == '\\' ||
           ch == '^' || ch == '`' || ch == '{' || ch == '|' || ch == '}' || ch == '#' || ch == '?' ||
           ch == '[' || ch == ']';
}

int dl_uri_encode(struct weir_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && rc == 0; p++) {
        if (uri_escape(*p)) {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = weir_buf_append(b, e, 3);
        } else {
            rc = weir_buf_append_byte(b, *p);
        }
    }
    return rc;
}

int dl_path_to_key(const char *path, char **key, struct weir_error *err)
{
    const char *p = path;
    *key = NULL;
    if (strncmp(p, "file:", 5) == 0 || p[0] == '/' || strstr(p, "://"))
        return weir_error_set(
            err, WEIR_EUNSUPPORTED,
            "absolute data file path '%s' is not supported (only paths relative to the table)", path);
    size_t n = strlen(p);
    char *k = weir_malloc(n + 1);
    if (!k)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < n && (hi = weir_json_hexval((unsigned char)p[i + 1])) >= 0 &&
            (lo = weir_json_hexval((unsigned char)p[i + 2])) >= 0) {
            k[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            k[o++] = p[i];
        }
    }
    k[o] = 0;
    if (o == 0 || strstr(k, "../") || strncmp(k, "..", 2) == 0 || memchr(k, 0, o)) {
        weir_free(k);
        return weir_error_set(err, WEIR_ECORRUPT, "data file path '%s' escapes the table directory", path);
    }
    *key = k;
    return 0;
}
