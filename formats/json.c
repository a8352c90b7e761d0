/* formats/json.c - JSON lines decoder, row encoder and schema inference.
 *
 * Owns: the walk over one line's JSON node tape. The grammar itself is
 * core/json.c (weir_json_parse, strict RFC 8259, UTF-8 checked here), which
 * fills a flat node array reused from line to line (no allocation per row
 * once warm). Nodes keep the byte span of their text, so numbers are
 * converted from their exact text (LONG, DECIMAL never pass through a
 * double) and strings are unescaped only when needed. Decoding a line runs
 * twice over the node tree: a dry pass that converts and checks every value
 * without touching the batch, then the appending pass, so a bad line never
 * leaves half a row behind. The dry pass leaves what it learned per node in
 * d->aux (the field an object key matched, the converted number, date or
 * timestamp), so the appending pass neither re-matches keys nor re-parses.
 * Schemas whose top-level fields are all scalars first try a one-pass path
 * (fast_decode): keys matched as they come, values converted straight from
 * the text, the row appended only once the whole record is known good; any
 * record it does not handle plainly (an escape, a type mismatch, a
 * case-insensitive key, an error) is left untouched for the tree path,
 * which then decides and words the error, so both paths accept the same
 * records with the same values (tests/unit/test_json.c and the
 * fuzz_decode_record target check this).
 *
 * Invariants: node indices (not pointers) link the tree because the node
 * array may move while growing; WEIR_JSON_NONE ends a sibling chain. A decoder's
 * path stack mirrors the recursion and is only rendered into text when an
 * error is reported.
 *
 * Threading: decoder and inferrer objects belong to one thread at a time;
 * the encoder keeps no state. */
#include "formats/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/json.h"

/* ------------------------------------------------------------------ parser */

/* The JSON grammar lives in core/json.c; this file walks its node tape. */
/* Parse one whole line into doc (root is node 0); UTF-8 is checked. */
static inline int parse_line(struct weir_json_doc *doc, const char *s, size_t n, struct weir_json_perr *e)
{
    return weir_json_parse(doc, s, n, 0, WEIR_JTOK_CHECK_UTF8, WEIR_JSON_MAX_DEPTH, NULL, e);
}

/* Unescape a string node's text (validated by the parser) into `b`.
 * Returns 0, WEIR_ENOMEM, or WEIR_EPARSE for a lone surrogate. */
static int junescape(const char *s, size_t n, struct weir_buf *b)
{
    int rc = weir_json_unescape(s, n, 0, b, NULL);
    return rc == 0 ? 0 : rc == WEIR_JTOK_ENOMEM ? WEIR_ENOMEM : WEIR_EPARSE;
}

/* Iterate the lines of `text`: returns the next line (without "\n" and a
 * trailing "\r") or false at the end. */
struct lines {
    const char *text;
    size_t n, pos;
};

static bool next_line(struct lines *L, const char **line, size_t *len, size_t *off)
{
    if (L->pos >= L->n)
        return false;
    const char *s = L->text + L->pos;
    size_t rest = L->n - L->pos;
    const char *nl = memchr(s, '\n', rest);
    size_t l = nl ? (size_t)(nl - s) : rest;
    *line = s;
    *off = L->pos;
    L->pos += nl ? l + 1 : l;
    if (l > 0 && s[l - 1] == '\r')
        l--;
    *len = l;
    return true;
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* ------------------------------------------------------------------ scalars */

static const int8_t b64_table[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
}; /* value + 1; 0 = not in the alphabet */

int weir_json_base64_decode(const char *s, size_t n, struct weir_buf *b)
{
    b->len = 0;
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return WEIR_EPARSE;
    int rc = weir_buf_reserve(b, n / 4 * 3 + 3);
    if (rc != 0)
        return rc;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_table[(unsigned char)s[i]];
        if (v == 0)
            return WEIR_EPARSE;
        acc = (acc << 6) | (uint32_t)(v - 1);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            b->data[b->len++] = (uint8_t)(acc >> bits);
        }
    }
    b->data[b->len] = 0;
    return 0;
}

static int b64_encode(const uint8_t *p, size_t n, struct weir_buf *b)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int rc = weir_buf_reserve(b, (n + 2) / 3 * 4);
    if (rc != 0)
        return rc;
    char *o = (char *)b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = A[v >> 18];
        *o++ = A[(v >> 12) & 63];
        *o++ = A[(v >> 6) & 63];
        *o++ = A[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = A[v >> 18];
        *o++ = A[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = A[v >> 18];
        *o++ = A[(v >> 12) & 63];
        *o++ = A[(v >> 6) & 63];
        *o++ = '=';
    }
    b->len = (size_t)(o - (char *)b->data);
    b->data[b->len] = 0;
    return 0;
}

/* Strict integer text ("-12"). WEIR_EPARSE if not an integer, WEIR_ERANGE
 * outside [lo, hi]. */
static int parse_int(const char *s, size_t n, int64_t lo, int64_t hi, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    if (i >= n)
        return WEIR_EPARSE;
    uint64_t acc = 0;
    bool over = false;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return WEIR_EPARSE;
        unsigned d = (unsigned)(s[i] - '0');
        if (acc > (UINT64_MAX - d) / 10)
            over = true;
        else
            acc = acc * 10 + d;
    }
    if (over)
        return WEIR_ERANGE;
    int64_t v;
    if (neg) {
        if (acc > (uint64_t)INT64_MAX + 1)
            return WEIR_ERANGE;
        v = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
    } else {
        if (acc > (uint64_t)INT64_MAX)
            return WEIR_ERANGE;
        v = (int64_t)acc;
    }
    if (v < lo || v > hi)
        return WEIR_ERANGE;
    *out = v;
    return 0;
}

/* Full JSON number grammar check (for text that did not come through the
 * parser, e.g. decimal strings and map keys). Leading '+' allowed. */
static bool is_number_text(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t nint = i - d0, nfrac = 0;
    if (i < n && s[i] == '.') {
        i++;
        size_t f0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        nfrac = i - f0;
    }
    if (nint + nfrac == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == e0)
            return false;
    }
    return i == n;
}

#define U128(x) ((unsigned __int128)(x))

static unsigned __int128 pow10_u128(int k)
{
    unsigned __int128 v = 1;
    while (k-- > 0)
        v *= 10;
    return v;
}

/* Exact decimal text -> unscaled integer at `scale`. With truncate, extra
 * fraction digits are dropped (toward negative infinity) instead of being an
 * error; `precision` 0 means "fits in 38 digits". */
static int parse_decimal_ex(const char *s, size_t n, int precision, int scale, bool truncate, weir_i128 *out)
{
    if (!is_number_text(s, n))
        return WEIR_EPARSE;
    size_t i = 0;
    bool neg = false;
    if (s[i] == '-' || s[i] == '+')
        neg = s[i++] == '-';
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t dint_end = i, f0 = i, fend = i;
    if (i < n && s[i] == '.') {
        f0 = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        fend = i;
    }
    int64_t exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (s[i] == '+' || s[i] == '-')
            eneg = s[i++] == '-';
        for (; i < n; i++) {
            if (exp < 1000000000)
                exp = exp * 10 + (s[i] - '0');
        }
        if (eneg)
            exp = -exp;
    }
    int64_t nfrac = (int64_t)(fend - f0);
    int64_t m = (int64_t)(dint_end - d0) + nfrac;
    /* position of the last digit relative to the unscaled units */
    int64_t plast = -nfrac + exp + scale;
    const unsigned __int128 max = pow10_u128(38) - 1;
    unsigned __int128 acc = 0;
    bool dropped = false;
    for (int64_t k = 0; k < m; k++) {
        char c =
            k < (int64_t)(dint_end - d0) ? s[d0 + (size_t)k] : s[f0 + (size_t)(k - (int64_t)(dint_end - d0))];
        unsigned d = (unsigned)(c - '0');
        int64_t p = (m - 1 - k) + plast;
        if (p < 0) {
            if (d != 0) {
                if (!truncate)
                    return WEIR_ERANGE;
                dropped = true;
            }
            continue;
        }
        if (acc > (max - d) / 10)
            return WEIR_ERANGE;
        acc = acc * 10 + d;
    }
    if (plast > 0 && acc != 0) {
        if (plast > 38)
            return WEIR_ERANGE;
        unsigned __int128 f = pow10_u128((int)plast);
        if (acc > max / f)
            return WEIR_ERANGE;
        acc *= f;
    }
    if (precision > 0 && acc >= pow10_u128(precision))
        return WEIR_ERANGE;
    weir_i128 v = (weir_i128)acc;
    if (neg) {
        v = -v;
        if (dropped)
            v -= 1; /* floor */
    }
    *out = v;
    return 0;
}

int weir_json_parse_decimal(const char *s, size_t n, int precision, int scale, weir_i128 *out)
{
    return parse_decimal_ex(s, n, precision, scale, false, out);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(int64_t y, unsigned m)
{
    static const unsigned md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : md[m - 1];
}

static bool digits(const char *s, size_t n, unsigned *v)
{
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        acc = acc * 10 + (unsigned)(s[i] - '0');
    }
    *v = acc;
    return true;
}

/* "YYYY-MM-DD" at the start of s; returns days or false. */
static bool parse_ymd(const char *s, size_t n, int64_t *days)
{
    unsigned y, m, d;
    if (n < 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) || !digits(s + 5, 2, &m) ||
        !digits(s + 8, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return false;
    *days = days_from_civil(y, m, d);
    return true;
}

int weir_json_parse_date(const char *s, size_t n, int32_t *days)
{
    int64_t v;
    if (n != 10 || !parse_ymd(s, n, &v))
        return WEIR_EPARSE;
    *days = (int32_t)v;
    return 0;
}

int weir_json_parse_timestamp(const char *s, size_t n, int64_t *micros, bool *had_zone)
{
    int64_t days;
    if (!parse_ymd(s, n, &days))
        return WEIR_EPARSE;
    size_t i = 10;
    int64_t secs = 0, frac = 0;
    *had_zone = false;
    if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
        i++;
        unsigned hh, mi, ss = 0;
        if (n - i < 5 || s[i + 2] != ':' || !digits(s + i, 2, &hh) || !digits(s + i + 3, 2, &mi))
            return WEIR_EPARSE;
        i += 5;
        if (i < n && s[i] == ':') {
            if (n - i < 3 || !digits(s + i + 1, 2, &ss))
                return WEIR_EPARSE;
            i += 3;
            if (i < n && (s[i] == '.' || s[i] == ',')) {
                i++;
                size_t f0 = i;
                while (i < n && s[i] >= '0' && s[i] <= '9') {
                    if (i - f0 < 6)
                        frac = frac * 10 + (s[i] - '0');
                    i++;
                }
                if (i == f0)
                    return WEIR_EPARSE;
                for (size_t k = i - f0; k < 6; k++)
                    frac *= 10;
            }
        }
        if (hh > 23 || mi > 59 || ss > 59)
            return WEIR_EPARSE;
        secs = (int64_t)hh * 3600 + mi * 60 + ss;
    }
    int64_t off = 0;
    if (i < n) {
        if (s[i] == 'Z' || s[i] == 'z') {
            i++;
        } else if (s[i] == '+' || s[i] == '-') {
            int sign = s[i] == '-' ? -1 : 1;
            unsigned oh, om = 0;
            i++;
            if (n - i < 2 || !digits(s + i, 2, &oh))
                return WEIR_EPARSE;
            i += 2;
            if (i < n && s[i] == ':')
                i++;
            if (n - i >= 2 && digits(s + i, 2, &om))
                i += 2;
            if (oh > 18 || om > 59)
                return WEIR_EPARSE;
            off = sign * ((int64_t)oh * 3600 + om * 60);
        } else {
            return WEIR_EPARSE;
        }
        *had_zone = true;
    }
    if (i != n)
        return WEIR_EPARSE;
    *micros = ((days * 86400 + secs - off) * 1000000) + frac;
    return 0;
}

size_t weir_json_format_date(int32_t days, char buf[16])
{
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int k;
    if (y >= 0 && y <= 9999)
        k = snprintf(buf, 16, "%04d-%02u-%02u", (int)y, m, d);
    else
        k = snprintf(buf, 16, "%+05d-%02u-%02u", (int)y, m, d);
    return (size_t)k;
}

size_t weir_json_format_timestamp(int64_t micros, bool utc_z, char buf[40])
{
    int64_t days = micros / 86400000000LL, rem = micros % 86400000000LL;
    if (rem < 0) {
        rem += 86400000000LL;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / 1000000, us = rem % 1000000;
    if (y < 0 || y > 9999) {
        int k = snprintf(buf, 40, "%+05d-%02u-%02uT%02d:%02d:%02d.%06d%s", (int)y, m, d, (int)(secs / 3600),
                         (int)(secs / 60 % 60), (int)(secs % 60), (int)us, utc_z ? "Z" : "");
        return (size_t)k;
    }
    /* "YYYY-MM-DDTHH:MM:SS.ffffff" written digit by digit (hot in scans) */
    unsigned yy = (unsigned)y, hh = (unsigned)(secs / 3600), mi = (unsigned)(secs / 60 % 60),
             ss = (unsigned)(secs % 60), u = (unsigned)us;
    buf[0] = (char)('0' + yy / 1000);
    buf[1] = (char)('0' + yy / 100 % 10);
    buf[2] = (char)('0' + yy / 10 % 10);
    buf[3] = (char)('0' + yy % 10);
    buf[4] = '-';
    buf[5] = (char)('0' + m / 10);
    buf[6] = (char)('0' + m % 10);
    buf[7] = '-';
    buf[8] = (char)('0' + d / 10);
    buf[9] = (char)('0' + d % 10);
    buf[10] = 'T';
    buf[11] = (char)('0' + hh / 10);
    buf[12] = (char)('0' + hh % 10);
    buf[13] = ':';
    buf[14] = (char)('0' + mi / 10);
    buf[15] = (char)('0' + mi % 10);
    buf[16] = ':';
    buf[17] = (char)('0' + ss / 10);
    buf[18] = (char)('0' + ss % 10);
    buf[19] = '.';
    for (int i = 25; i >= 20; i--) {
        buf[i] = (char)('0' + u % 10);
        u /= 10;
    }
    size_t n = 26;
    if (utc_z)
        buf[n++] = 'Z';
    buf[n] = 0;
    return n;
}

size_t weir_json_format_decimal(weir_i128 v, int scale, char buf[48])
{
    char tmp[48];
    size_t n = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? -(unsigned __int128)v : (unsigned __int128)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0);
    while ((int)n <= scale)
        tmp[n++] = '0';
    size_t o = 0;
    if (neg)
        buf[o++] = '-';
    for (size_t k = n; k-- > 0;) {
        buf[o++] = tmp[k];
        if (scale > 0 && k == (size_t)scale)
            buf[o++] = '.';
    }
    buf[o] = 0;
    return o;
}

/* ------------------------------------------------------------------ decoder */

struct pathseg {
    const char *name; /* NULL: array index */
    size_t len;       /* SIZE_MAX: name is NUL-terminated */
    size_t index;
};

/* What the dry pass learned about one node, reused by the append pass:
 * for an object key the matched field index, for a scalar its value. */
union node_aux {
    long field;
    int64_t i;
    double f;
    float f32;
    weir_i128 dec;
};

/* One top-level field's value in the one-pass path: set when gen matches
 * the decoder's current record. */
struct fast_val {
    uint32_t gen;
    bool null;
    union node_aux v;    /* converted scalar */
    uint32_t soff, slen; /* STRING: the text's span in the record */
    /* the field's name: its length, and whether it is plain ASCII that
     * JSON writes as is (no quote, backslash or control byte), so a key can
     * be matched by its bytes before it is scanned */
    uint32_t name_len;
    bool name_plain;
};

struct weir_json_decoder {
    struct weir_type *schema;
    /* the batch whose schema was last found equal (a per-record decoder
     * compares schemas once per batch, not once per record) */
    const struct weir_batch *checked_batch;
    const struct weir_type *checked_schema;
    bool reject_unknown;
    bool rescue_fields;
    /* rescue_fields: the members set aside for the current record, the
     * number of unknown keys among them, and per top-level field whether
     * the dry pass rescued it and which key node named it */
    struct weir_buf rescued;
    size_t n_unknown;
    uint8_t *top_bad;
    uint32_t *top_key;
    char *source;
    uint64_t line_no; /* number of the last line started */
    uint64_t offset;  /* byte offset of the next call's text */
    struct weir_json_doc doc;
    struct weir_json_perr perr;
    struct weir_buf scratch;  /* unescaped strings */
    struct weir_buf scratch2; /* decoded base64, map key text */
    uint32_t *slots;
    size_t nslots, cap_slots;
    union node_aux *aux; /* one per parsed node */
    size_t cap_aux;
    /* the one-pass path for flat schemas (see fast_decode); NULL when the
     * schema has a field it does not handle */
    struct fast_val *fv;
    uint32_t fgen;
    struct pathseg path[WEIR_JSON_MAX_DEPTH + 4];
    int depth;
    /* the line (or record) being decoded */
    const char *line;
    uint64_t line_off;
    const char *unit; /* "line" or "record", for messages */
};

void weir_json_decode_options_default(struct weir_json_decode_options *o)
{
    memset(o, 0, sizeof *o);
}

int weir_json_decoder_create(struct weir_json_decoder **out, const struct weir_type *schema,
                             const struct weir_json_decode_options *opts, struct weir_error *err)
{
    struct weir_json_decoder *d = NULL;
    int rc = 0;
    *out = NULL;
    if (schema == NULL || schema->kind != WEIR_TYPE_STRUCT || schema->nfields == 0) {
        rc =
            weir_error_set(err, WEIR_EINVAL, "json decoder: schema must be a struct with at least one field");
        goto out;
    }
    d = weir_calloc(1, sizeof *d);
    if (d == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "json decoder: out of memory");
        goto out;
    }
    d->schema = weir_type_clone(schema);
    if (d->schema == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "json decoder: out of memory");
        goto out;
    }
    weir_buf_init(&d->scratch);
    weir_buf_init(&d->scratch2);
    bool flat = true;
    for (size_t i = 0; i < schema->nfields; i++)
        flat = flat && weir_type_is_primitive(schema->fields[i].type) &&
               schema->fields[i].type->kind != WEIR_TYPE_BINARY;
    if (flat && (d->fv = weir_calloc(schema->nfields, sizeof *d->fv)) == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "json decoder: out of memory");
        goto out;
    }
    for (size_t i = 0; d->fv != NULL && i < schema->nfields; i++) {
        const unsigned char *nm = (const unsigned char *)schema->fields[i].name;
        size_t len = strlen(schema->fields[i].name);
        bool plain = len < UINT32_MAX;
        for (size_t k = 0; plain && k < len; k++)
            plain = nm[k] >= 0x20 && nm[k] < 0x80 && nm[k] != '"' && nm[k] != '\\';
        d->fv[i].name_len = (uint32_t)len;
        d->fv[i].name_plain = plain;
    }
    weir_buf_init(&d->rescued);
    if (opts != NULL) {
        d->reject_unknown = opts->reject_unknown;
        d->rescue_fields = opts->rescue_fields && !opts->reject_unknown;
        if (d->rescue_fields && ((d->top_bad = weir_calloc(schema->nfields, 1)) == NULL ||
                                 (d->top_key = weir_calloc(schema->nfields, sizeof *d->top_key)) == NULL)) {
            rc = weir_error_set(err, WEIR_ENOMEM, "json decoder: out of memory");
            goto out;
        }
        if (opts->source != NULL && (d->source = weir_strdup(opts->source)) == NULL) {
            rc = weir_error_set(err, WEIR_ENOMEM, "json decoder: out of memory");
            goto out;
        }
    }
    *out = d;
    d = NULL;
out:
    weir_json_decoder_destroy(d);
    return rc;
}

void weir_json_decoder_destroy(struct weir_json_decoder *d)
{
    if (d == NULL)
        return;
    weir_type_destroy(d->schema);
    weir_free(d->source);
    weir_json_doc_free(&d->doc);
    weir_buf_free(&d->scratch);
    weir_buf_free(&d->scratch2);
    weir_buf_free(&d->rescued);
    weir_free(d->top_bad);
    weir_free(d->top_key);
    weir_free(d->slots);
    weir_free(d->aux);
    weir_free(d->fv);
    weir_free(d);
}

int weir_json_decoder_reset(struct weir_json_decoder *d, const char *source)
{
    char *s = NULL;
    if (source != NULL && (s = weir_strdup(source)) == NULL)
        return WEIR_ENOMEM;
    weir_free(d->source);
    d->source = s;
    d->line_no = 0;
    d->offset = 0;
    return 0;
}

/* Does the NUL-terminated field name equal the n key bytes? Never reads
 * past the name's terminator. */
static inline bool name_eq(const char *fname, const char *key, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fname[i] != key[i] || fname[i] == '\0')
            return false;
    return fname[n] == '\0';
}

/* Render the current path ("a.b[3].c") into buf. */
static void path_text(const struct weir_json_decoder *d, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < d->depth && o + 1 < cap; i++) {
        const struct pathseg *p = &d->path[i];
        int k;
        size_t len = p->len == SIZE_MAX && p->name != NULL ? strlen(p->name) : p->len;
        if (p->name != NULL)
            k = snprintf(buf + o, cap - o, "%s%.*s", i ? "." : "", (int)(len > 200 ? 200 : len), p->name);
        else
            k = snprintf(buf + o, cap - o, "[%zu]", p->index);
        if (k < 0)
            break;
        o += (size_t)k;
        if (o >= cap)
            o = cap - 1;
    }
}

/* Set an error about the value at node `ni` of the current line. */
static int dfail(struct weir_json_decoder *d, struct weir_error *err, int code, uint32_t ni, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));
static int dfail(struct weir_json_decoder *d, struct weir_error *err, int code, uint32_t ni, const char *fmt,
                 ...)
{
    char what[256], path[512], got[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    path_text(d, path, sizeof path);
    got[0] = 0;
    uint64_t off = d->line_off;
    if (ni != WEIR_JSON_NONE) {
        const struct weir_json_node *x = &d->doc.nodes[ni];
        size_t start = x->start, len = x->len;
        if (x->type == WEIR_JSON_STR) {
            start--;
            len += 2;
        }
        off += start;
        bool cut = len > 64;
        snprintf(got, sizeof got, ", got %.*s%s", (int)(cut ? 64 : len), d->line + start, cut ? "..." : "");
    }
    const char *unit = d->unit ? d->unit : "line";
    if (path[0])
        return weir_error_set(err, code, "%s%s%s %" PRIu64 " (byte %" PRIu64 "): field '%s': %s%s",
                              d->source ? d->source : "", d->source ? ": " : "", unit, d->line_no, off, path,
                              what, got);
    return weir_error_set(err, code, "%s%s%s %" PRIu64 " (byte %" PRIu64 "): %s%s",
                          d->source ? d->source : "", d->source ? ": " : "", unit, d->line_no, off, what,
                          got);
}

static const char *type_word(const struct weir_type *t)
{
    switch (t->kind) {
    case WEIR_TYPE_BOOLEAN:
        return "true or false";
    case WEIR_TYPE_BYTE:
    case WEIR_TYPE_SHORT:
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_LONG:
        return "an integer";
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE:
        return "a number";
    case WEIR_TYPE_DECIMAL:
        return "a decimal number or string";
    case WEIR_TYPE_STRING:
        return "a string";
    case WEIR_TYPE_BINARY:
        return "a base64 string";
    case WEIR_TYPE_DATE:
        return "a date string \"YYYY-MM-DD\"";
    case WEIR_TYPE_TIMESTAMP:
        return "an ISO-8601 timestamp string or epoch seconds";
    case WEIR_TYPE_TIMESTAMP_NTZ:
        return "an ISO-8601 timestamp string without zone";
    case WEIR_TYPE_STRUCT:
        return "an object";
    case WEIR_TYPE_ARRAY:
        return "an array";
    case WEIR_TYPE_MAP:
        return "an object or an array of {\"key\",\"value\"}";
    }
    return "a value";
}

static int push_slots(struct weir_json_decoder *d, size_t n, size_t *base)
{
    if (d->nslots + n > d->cap_slots) {
        size_t ncap = d->cap_slots ? d->cap_slots : 64;
        while (ncap < d->nslots + n)
            ncap *= 2;
        uint32_t *ns = weir_realloc(d->slots, ncap * sizeof *ns);
        if (ns == NULL)
            return WEIR_ENOMEM;
        d->slots = ns;
        d->cap_slots = ncap;
    }
    *base = d->nslots;
    for (size_t i = 0; i < n; i++)
        d->slots[d->nslots + i] = WEIR_JSON_NONE;
    d->nslots += n;
    return 0;
}

/* Text of a string node (unescaped into scratch when it has escapes). */
/* Slow path of str_text: the string holds escapes. */
static __attribute__((noinline)) int str_unescape(struct weir_json_decoder *d, struct weir_error *err,
                                                  uint32_t ni, struct weir_buf *into, const char **p,
                                                  size_t *n)
{
    const struct weir_json_node *x = &d->doc.nodes[ni];
    int rc = junescape(d->line + x->start, x->len, into);
    if (rc == WEIR_ENOMEM)
        return weir_error_set(err, rc, "json decoder: out of memory");
    if (rc != 0)
        return dfail(d, err, WEIR_EPARSE, ni, "invalid \\u escape (lone surrogate)");
    *p = (const char *)into->data;
    *n = into->len;
    return 0;
}

static inline int str_text(struct weir_json_decoder *d, struct weir_error *err, uint32_t ni,
                           struct weir_buf *into, const char **p, size_t *n)
{
    const struct weir_json_node *x = &d->doc.nodes[ni];
    if (!x->esc) {
        *p = d->line + x->start;
        *n = x->len;
        return 0;
    }
    return str_unescape(d, err, ni, into, p, n);
}

static bool float_special(const char *s, size_t n, double *v)
{
    if (n == 3 && memcmp(s, "NaN", 3) == 0) {
        *v = NAN;
        return true;
    }
    if ((n == 8 && memcmp(s, "Infinity", 8) == 0) || (n == 9 && memcmp(s, "+Infinity", 9) == 0)) {
        *v = INFINITY;
        return true;
    }
    if (n == 9 && memcmp(s, "-Infinity", 9) == 0) {
        *v = -INFINITY;
        return true;
    }
    return false;
}

static const int64_t int_lo[] = {INT8_MIN, INT16_MIN, INT32_MIN, INT64_MIN}; /* BYTE..LONG */
static const int64_t int_hi[] = {INT8_MAX, INT16_MAX, INT32_MAX, INT64_MAX};

/* JSON number text -> *f (as_float) or *v. Texts of 64 bytes or more are
 * copied into `scratch` (NULL: refused with WEIR_ERANGE, the caller
 * decides elsewhere). Returns 0, WEIR_ERANGE (overflows to infinity) or
 * WEIR_ENOMEM. */
/* A JSON number (already checked by the tokenizer) whose digits make an
 * integer w <= 2^53 and whose decimal exponent e is within [-22, 22]: w and
 * 10^|e| are exact doubles, so one IEEE multiplication or division gives
 * the correctly rounded value, the same as strtod (Clinger's fast path).
 * false: not such a number, use strtod. */
static bool fast_double(const char *s, size_t n, double *v)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    bool neg = i < n && s[i] == '-';
    i += neg;
    uint64_t w = 0;
    int digits = 0, e = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
        w = w * 10 + (uint64_t)(s[i] - '0');
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++, e--)
            w = w * 10 + (uint64_t)(s[i] - '0');
    if (digits > 19) /* w may have wrapped */
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = i < n && s[i] == '-';
        i += i < n && (s[i] == '-' || s[i] == '+');
        int x = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if ((x = x * 10 + (s[i] - '0')) > 1000)
                return false;
        e += eneg ? -x : x;
    }
    if (i != n || w > (UINT64_C(1) << 53) || e < -22 || e > 22)
        return false;
    double d = (double)w;
    d = e < 0 ? d / p10[-e] : d * p10[e];
    *v = neg ? -d : d;
    return true;
}

static int number_to_float(const char *s, size_t n, bool as_float, struct weir_buf *scratch, double *v,
                           float *f)
{
    if (!as_float && fast_double(s, n, v))
        return 0;
    char small[64];
    char *z = small;
    if (n >= sizeof small) {
        if (scratch == NULL)
            return WEIR_ERANGE;
        scratch->len = 0;
        if (weir_buf_append(scratch, s, n) != 0)
            return WEIR_ENOMEM;
        z = (char *)scratch->data;
    } else {
        memcpy(small, s, n);
        small[n] = 0;
    }
    errno = 0;
    if (as_float) {
        *f = strtof(z, NULL);
        return errno == ERANGE && isinf(*f) ? WEIR_ERANGE : 0;
    }
    *v = strtod(z, NULL);
    return errno == ERANGE && isinf(*v) ? WEIR_ERANGE : 0;
}

/* Append the value the conversion left in *ax to c (a cached kind). */
static int append_converted(struct weir_column *c, const union node_aux *ax)
{
    switch (c->type->kind) {
    case WEIR_TYPE_BYTE:
        return weir_column_append_i8(c, (int8_t)ax->i);
    case WEIR_TYPE_SHORT:
        return weir_column_append_i16(c, (int16_t)ax->i);
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_DATE:
        return weir_column_append_i32(c, (int32_t)ax->i);
    case WEIR_TYPE_FLOAT:
        return weir_column_append_f32(c, ax->f32);
    case WEIR_TYPE_DOUBLE:
        return weir_column_append_f64(c, ax->f);
    case WEIR_TYPE_DECIMAL:
        return weir_column_append_i128(c, ax->dec);
    default: /* LONG, TIMESTAMP, TIMESTAMP_NTZ */
        return weir_column_append_i64(c, ax->i);
    }
}

/* Kinds whose converted value the dry pass caches in d->aux. */
static bool cached_kind(enum weir_type_kind k)
{
    return k != WEIR_TYPE_STRING && k != WEIR_TYPE_BINARY && k != WEIR_TYPE_BOOLEAN;
}

/* Convert and (unless dry) append a primitive value from text. `jt` is the
 * JSON kind of the text's origin (WEIR_JSON_NUM, WEIR_JSON_STR, WEIR_JSON_TRUE, ...); ni names the
 * node for messages and for the value cache: the dry pass stores the
 * converted value of cached kinds in d->aux[ni], the append pass (s may
 * then be NULL) appends it without converting again. */
static int dec_primitive(struct weir_json_decoder *d, struct weir_column *c, uint32_t ni, int jt,
                         const char *s, size_t n, bool dry, struct weir_error *err)
{
    const struct weir_type *t = c->type;
    union node_aux *ax = &d->aux[ni];
    int rc = 0;
    if (!dry && cached_kind(t->kind))
        return append_converted(c, ax);
    switch (t->kind) {
    case WEIR_TYPE_BOOLEAN:
        if (jt != WEIR_JSON_TRUE && jt != WEIR_JSON_FALSE)
            goto mismatch;
        return dry ? 0 : weir_column_append_bool(c, jt == WEIR_JSON_TRUE);
    case WEIR_TYPE_BYTE:
    case WEIR_TYPE_SHORT:
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_LONG: {
        int k = t->kind - WEIR_TYPE_BYTE;
        if (jt != WEIR_JSON_NUM)
            goto mismatch;
        rc = parse_int(s, n, int_lo[k], int_hi[k], &ax->i);
        if (rc == WEIR_ERANGE)
            return dfail(d, err, rc, ni, "value out of range for %s", weir_type_kind_name(t->kind));
        if (rc != 0)
            return dfail(d, err, WEIR_EPARSE, ni, "expected an integer");
        return 0;
    }
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE: {
        double v = 0;
        float f = 0;
        if (jt == WEIR_JSON_STR && float_special(s, n, &v)) {
            f = (float)v;
        } else if (jt == WEIR_JSON_NUM && is_number_text(s, n)) {
            rc = number_to_float(s, n, t->kind == WEIR_TYPE_FLOAT, &d->scratch2, &v, &f);
            if (rc == WEIR_ENOMEM)
                return weir_error_set(err, WEIR_ENOMEM, "json decoder: out of memory");
            if (rc != 0)
                return dfail(d, err, WEIR_ERANGE, ni, "value out of range for %s",
                             weir_type_kind_name(t->kind));
        } else {
            goto mismatch;
        }
        if (t->kind == WEIR_TYPE_FLOAT)
            ax->f32 = f;
        else
            ax->f = v;
        return 0;
    }
    case WEIR_TYPE_DECIMAL:
        if (jt != WEIR_JSON_NUM && jt != WEIR_JSON_STR)
            goto mismatch;
        rc = parse_decimal_ex(s, n, t->precision, t->scale, false, &ax->dec);
        if (rc == WEIR_ERANGE)
            return dfail(d, err, rc, ni, "value does not fit decimal(%d,%d)", t->precision, t->scale);
        if (rc != 0)
            goto mismatch;
        return 0;
    case WEIR_TYPE_STRING:
        if (jt != WEIR_JSON_STR) {
            /* keep the JSON text of any other value */
            const struct weir_json_node *x = &d->doc.nodes[ni];
            s = d->line + x->start;
            n = x->len;
        }
        return dry ? 0 : weir_column_append_bytes(c, s, n);
    case WEIR_TYPE_BINARY:
        if (jt != WEIR_JSON_STR)
            goto mismatch;
        rc = weir_json_base64_decode(s, n, &d->scratch2);
        if (rc == WEIR_ENOMEM)
            return weir_error_set(err, rc, "json decoder: out of memory");
        if (rc != 0)
            return dfail(d, err, WEIR_EPARSE, ni, "invalid base64");
        return dry ? 0 : weir_column_append_bytes(c, d->scratch2.data, d->scratch2.len);
    case WEIR_TYPE_DATE: {
        int32_t v;
        if (jt != WEIR_JSON_STR || weir_json_parse_date(s, n, &v) != 0)
            goto mismatch;
        ax->i = v;
        return 0;
    }
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ: {
        int64_t v;
        bool zone = false;
        if (jt == WEIR_JSON_STR) {
            if (weir_json_parse_timestamp(s, n, &v, &zone) != 0)
                goto mismatch;
            if (zone && t->kind == WEIR_TYPE_TIMESTAMP_NTZ)
                return dfail(d, err, WEIR_EPARSE, ni, "timestamp_ntz value has a zone offset");
        } else if (jt == WEIR_JSON_NUM) {
            weir_i128 us;
            rc = parse_decimal_ex(s, n, 0, 6, true, &us);
            if (rc != 0 || us > INT64_MAX || us < INT64_MIN)
                return dfail(d, err, WEIR_ERANGE, ni, "epoch seconds out of range");
            v = (int64_t)us;
        } else {
            goto mismatch;
        }
        ax->i = v;
        return 0;
    }
    default:
        break;
    }
mismatch:
    return dfail(d, err, WEIR_EPARSE, ni, "expected %s", type_word(t));
}

static int dec_value(struct weir_json_decoder *d, struct weir_column *c, uint32_t ni, bool nullable, bool dry,
                     struct weir_error *err);

/* Append member `"key":value` (both as written in the record) to the
 * rescued members of the current record. 0 or WEIR_ENOMEM. */
static int rescue_member(struct weir_json_decoder *d, uint32_t key, uint32_t val)
{
    const struct weir_json_node *k = &d->doc.nodes[key], *v = &d->doc.nodes[val];
    size_t vs = v->start, vl = v->len;
    if (v->type == WEIR_JSON_STR) {
        vs--;
        vl += 2;
    }
    struct weir_buf *b = &d->rescued;
    if ((b->len && weir_buf_append_byte(b, ',')) || weir_buf_append(b, d->line + k->start - 1, k->len + 2) ||
        weir_buf_append_byte(b, ':') || weir_buf_append(b, d->line + vs, vl))
        return WEIR_ENOMEM;
    return 0;
}

/* Decode object members into struct fields. `cols` are the field columns
 * (the batch's top level or a struct column's children). */
static int dec_members(struct weir_json_decoder *d, const struct weir_type *st, struct weir_column *cols,
                       uint32_t obj, bool dry, struct weir_error *err)
{
    size_t nf = st->nfields, base;
    int rc = push_slots(d, nf, &base);
    if (rc != 0)
        return weir_error_set(err, rc, "json decoder: out of memory");
    size_t next_hint = 0;
    /* rescue_fields applies to the record's own members */
    const bool top = d->rescue_fields && d->depth == 0;
    if (top && dry)
        for (size_t f = 0; f < nf; f++) {
            d->top_bad[f] = 0;
            d->top_key[f] = WEIR_JSON_NONE;
        }
    for (uint32_t k = d->doc.nodes[obj].child; k != WEIR_JSON_NONE;
         k = d->doc.nodes[d->doc.nodes[k].next].next) {
        uint32_t v = d->doc.nodes[k].next;
        if (!dry) {
            /* the dry pass matched this key already */
            if (d->aux[k].field >= 0)
                d->slots[base + (size_t)d->aux[k].field] = v;
            continue;
        }
        const char *name = NULL;
        size_t nlen = 0;
        if ((rc = str_text(d, err, k, &d->scratch, &name, &nlen)) != 0)
            goto out;
        /* keys usually follow the schema order, possibly with gaps: try the
         * field after the previous match first */
        size_t hint = next_hint < nf ? next_hint : 0;
        long found = -1;
        const struct weir_field *hf = &st->fields[hint];
        if (name_eq(hf->name, name, nlen)) {
            found = (long)hint;
        } else {
            for (size_t f = 0; f < nf; f++) {
                if (name_eq(st->fields[f].name, name, nlen)) {
                    found = (long)f;
                    break;
                }
            }
            if (found < 0) {
                for (size_t f = 0; f < nf; f++) {
                    if (strlen(st->fields[f].name) == nlen &&
                        strncasecmp(st->fields[f].name, name, nlen) == 0) {
                        found = (long)f;
                        break;
                    }
                }
            }
        }
        d->aux[k].field = found;
        if (found >= 0)
            next_hint = (size_t)found + 1;
        if (found < 0) {
            if (d->reject_unknown) {
                rc = dfail(d, err, WEIR_ESCHEMA, k, "unknown field not in the schema");
                goto out;
            }
            if (top) {
                d->n_unknown++;
                if ((rc = rescue_member(d, k, v)) != 0)
                    goto out;
            }
            continue;
        }
        d->slots[base + (size_t)found] = v;
        if (top)
            d->top_key[found] = k;
    }
    for (size_t f = 0; f < nf; f++) {
        const struct weir_field *fd = &st->fields[f];
        d->path[d->depth].name = fd->name;
        d->path[d->depth].len = SIZE_MAX; /* NUL-terminated: measured only for messages */
        d->depth++;
        uint32_t vi = d->slots[base + f];
        if (top && d->top_bad[f])
            vi = WEIR_JSON_NONE; /* rescued by the dry pass: null here */
        rc = dec_value(d, &cols[f], vi, fd->nullable, dry, err);
        d->depth--;
        if (rc != 0 && rc != WEIR_ENOMEM && top && dry && fd->nullable && vi != WEIR_JSON_NONE) {
            /* does not fit: set aside, the field is null */
            d->top_bad[f] = 1;
            weir_error_clear(err);
            if ((rc = rescue_member(d, d->top_key[f], vi)) != 0)
                goto out;
        }
        if (rc != 0)
            goto out;
    }
out:
    d->nslots = base;
    return rc;
}

static int dec_value(struct weir_json_decoder *d, struct weir_column *c, uint32_t ni, bool nullable, bool dry,
                     struct weir_error *err)
{
    const struct weir_type *t = c->type;
    int rc = 0;
    if (ni == WEIR_JSON_NONE || d->doc.nodes[ni].type == WEIR_JSON_NULL) {
        if (!nullable)
            return dfail(d, err, WEIR_ESCHEMA, ni, "%s in a non-nullable field",
                         ni == WEIR_JSON_NONE ? "missing" : "null");
        return dry ? 0 : weir_column_append_null(c);
    }
    const struct weir_json_node *x = &d->doc.nodes[ni];
    switch (t->kind) {
    case WEIR_TYPE_STRUCT:
        if (x->type != WEIR_JSON_OBJ)
            break;
        if ((rc = dec_members(d, t, c->children, ni, dry, err)) != 0)
            return rc;
        return dry ? 0 : weir_column_append_struct(c, true);
    case WEIR_TYPE_ARRAY: {
        if (x->type != WEIR_JSON_ARR)
            break;
        size_t idx = 0;
        for (uint32_t e = x->child; e != WEIR_JSON_NONE; e = d->doc.nodes[e].next, idx++) {
            d->path[d->depth].name = NULL;
            d->path[d->depth].index = idx;
            d->depth++;
            rc = dec_value(d, &c->children[0], e, t->contains_null, dry, err);
            d->depth--;
            if (rc != 0)
                return rc;
        }
        return dry ? 0 : weir_column_append_list(c, true);
    }
    case WEIR_TYPE_MAP: {
        if (x->type != WEIR_JSON_OBJ && x->type != WEIR_JSON_ARR)
            break;
        size_t idx = 0;
        if (x->type == WEIR_JSON_OBJ) {
            for (uint32_t k = x->child; k != WEIR_JSON_NONE;
                 k = d->doc.nodes[d->doc.nodes[k].next].next, idx++) {
                const char *ks = NULL;
                size_t kn = 0;
                if ((rc = str_text(d, err, k, &d->scratch, &ks, &kn)) != 0)
                    return rc;
                d->path[d->depth].name = d->line + d->doc.nodes[k].start; /* raw: scratch is reused below */
                d->path[d->depth].len = d->doc.nodes[k].len;
                d->depth++;
                const struct weir_type *kt = c->children[0].type;
                int kjt = WEIR_JSON_STR;
                if (kt->kind >= WEIR_TYPE_BYTE && kt->kind <= WEIR_TYPE_DECIMAL)
                    kjt = WEIR_JSON_NUM;
                else if (kt->kind == WEIR_TYPE_BOOLEAN)
                    kjt = (kn == 4 && memcmp(ks, "true", 4) == 0)    ? WEIR_JSON_TRUE
                          : (kn == 5 && memcmp(ks, "false", 5) == 0) ? WEIR_JSON_FALSE
                                                                     : WEIR_JSON_STR;
                if (kt->kind == WEIR_TYPE_STRING ||
                    !(kt->kind == WEIR_TYPE_BINARY || weir_type_is_primitive(kt)))
                    rc = kt->kind == WEIR_TYPE_STRING
                             ? (dry ? 0 : weir_column_append_bytes(&c->children[0], ks, kn))
                             : dfail(d, err, WEIR_EPARSE, k,
                                     "map keys of type %s cannot come from a JSON object",
                                     weir_type_kind_name(kt->kind));
                else
                    rc = dec_primitive(d, &c->children[0], k, kjt, ks, kn, dry, err);
                if (rc == 0)
                    rc =
                        dec_value(d, &c->children[1], d->doc.nodes[k].next, t->value_contains_null, dry, err);
                d->depth--;
                if (rc != 0)
                    return rc;
            }
        } else {
            for (uint32_t e = x->child; e != WEIR_JSON_NONE; e = d->doc.nodes[e].next, idx++) {
                d->path[d->depth].name = NULL;
                d->path[d->depth].index = idx;
                d->depth++;
                uint32_t kn = WEIR_JSON_NONE, vn = WEIR_JSON_NONE;
                if (d->doc.nodes[e].type != WEIR_JSON_OBJ) {
                    rc = dfail(d, err, WEIR_EPARSE, e, "expected a {\"key\",\"value\"} object");
                } else {
                    for (uint32_t k = d->doc.nodes[e].child; k != WEIR_JSON_NONE;
                         k = d->doc.nodes[d->doc.nodes[k].next].next) {
                        const struct weir_json_node *kx = &d->doc.nodes[k];
                        if (kx->len == 3 && memcmp(d->line + kx->start, "key", 3) == 0)
                            kn = kx->next;
                        else if (kx->len == 5 && memcmp(d->line + kx->start, "value", 5) == 0)
                            vn = kx->next;
                    }
                    if (kn == WEIR_JSON_NONE || d->doc.nodes[kn].type == WEIR_JSON_NULL)
                        rc = dfail(d, err, WEIR_ESCHEMA, e, "map entry without a key");
                    else
                        rc = dec_value(d, &c->children[0], kn, false, dry, err);
                    if (rc == 0)
                        rc = dec_value(d, &c->children[1], vn, t->value_contains_null, dry, err);
                }
                d->depth--;
                if (rc != 0)
                    return rc;
            }
        }
        return dry ? 0 : weir_column_append_list(c, true);
    }
    default: {
        const char *s = d->line + x->start;
        size_t n = x->len;
        if (!dry && cached_kind(t->kind))
            return dec_primitive(d, c, ni, x->type, NULL, 0, false, err);
        if (x->type == WEIR_JSON_STR && (rc = str_text(d, err, ni, &d->scratch, &s, &n)) != 0)
            return rc;
        return dec_primitive(d, c, ni, x->type, s, n, dry, err);
    }
    }
    return dfail(d, err, WEIR_EPARSE, ni, "expected %s", type_word(t));
}

/* ------------------------------------------------ one-pass path (flat rows) */

static inline size_t fws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

#define FAST_BAIL 1

/* Convert one value at s[*pos] for field t; FAST_BAIL for anything that
 * is not the plain case (escaped strings, type mismatches, out of range,
 * epoch-number timestamps...), which the tree path then decides. */
static int fast_value(const struct weir_type *t, bool nullable, const char *s, size_t n, size_t *pos,
                      struct fast_val *fv)
{
    size_t i = *pos, j;
    bool isint, esc;
    char c = s[i];
    fv->null = false;
    if (c == 'n') {
        if (!nullable || n - i < 4 || memcmp(s + i, "null", 4) != 0)
            return FAST_BAIL;
        fv->null = true;
        *pos = i + 4;
        return 0;
    }
    switch (t->kind) {
    case WEIR_TYPE_BOOLEAN:
        if (n - i >= 4 && memcmp(s + i, "true", 4) == 0) {
            fv->v.i = 1;
            *pos = i + 4;
            return 0;
        }
        if (n - i >= 5 && memcmp(s + i, "false", 5) == 0) {
            fv->v.i = 0;
            *pos = i + 5;
            return 0;
        }
        return FAST_BAIL;
    case WEIR_TYPE_BYTE:
    case WEIR_TYPE_SHORT:
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_LONG: {
        int k = t->kind - WEIR_TYPE_BYTE;
        j = i;
        if (weir_jtok_number(s, n, &j, &isint) != 0 || !isint ||
            parse_int(s + i, j - i, int_lo[k], int_hi[k], &fv->v.i) != 0)
            return FAST_BAIL;
        *pos = j;
        return 0;
    }
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE: {
        j = i;
        if (weir_jtok_number(s, n, &j, &isint) != 0 ||
            number_to_float(s + i, j - i, t->kind == WEIR_TYPE_FLOAT, NULL, &fv->v.f, &fv->v.f32) != 0)
            return FAST_BAIL;
        *pos = j;
        return 0;
    }
    case WEIR_TYPE_DECIMAL:
        j = i;
        if (c == '"' || weir_jtok_number(s, n, &j, &isint) != 0 ||
            parse_decimal_ex(s + i, j - i, t->precision, t->scale, false, &fv->v.dec) != 0)
            return FAST_BAIL;
        *pos = j;
        return 0;
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_DATE:
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ: {
        if (c != '"')
            return FAST_BAIL;
        j = i + 1;
        if (weir_jtok_string(s, n, &j, WEIR_JTOK_CHECK_UTF8, &esc) != 0 || esc)
            return FAST_BAIL;
        const char *b = s + i + 1;
        size_t len = j - i - 1;
        if (t->kind == WEIR_TYPE_STRING) {
            fv->soff = (uint32_t)(i + 1);
            fv->slen = (uint32_t)len;
        } else if (t->kind == WEIR_TYPE_DATE) {
            int32_t days;
            if (weir_json_parse_date(b, len, &days) != 0)
                return FAST_BAIL;
            fv->v.i = days;
        } else {
            bool zone = false;
            if (weir_json_parse_timestamp(b, len, &fv->v.i, &zone) != 0 ||
                (zone && t->kind == WEIR_TYPE_TIMESTAMP_NTZ))
                return FAST_BAIL;
        }
        *pos = j + 1;
        return 0;
    }
    default:
        return FAST_BAIL;
    }
}

/* One pass over a flat record straight into the row: keys matched to
 * fields as they come, values converted in place, nothing appended until
 * the whole record is known good. Returns 0 (row appended), FAST_BAIL
 * (nothing appended: let the tree path decode it, and word any error) or
 * WEIR_ENOMEM. Accepts exactly what the tree path accepts with the same
 * values, only fewer inputs: an unknown or case-mismatched key, an escape
 * or anything unusual sends the record down the tree path. */
static int fast_decode(struct weir_json_decoder *d, const char *s, size_t n, struct weir_batch *b)
{
    const struct weir_type *st = d->schema;
    size_t nf = st->nfields, hint = 0, i = fws(s, n, 0);
    uint32_t gen = ++d->fgen;
    if (gen == 0) { /* wrapped: forget every stamp */
        for (size_t f = 0; f < nf; f++)
            d->fv[f].gen = 0;
        gen = d->fgen = 1;
    }
    if (i >= n || s[i] != '{')
        return FAST_BAIL;
    i = fws(s, n, i + 1);
    if (i < n && s[i] == '}') {
        i++;
    } else {
        for (;;) {
            if (i >= n || s[i] != '"')
                return FAST_BAIL;
            size_t k0 = i + 1, k1 = k0;
            long found = -1;
            const struct fast_val *hv = hint < nf ? &d->fv[hint] : NULL;
            if (hv != NULL && hv->name_plain && n - k0 > hv->name_len && s[k0 + hv->name_len] == '"' &&
                memcmp(s + k0, st->fields[hint].name, hv->name_len) == 0) {
                /* the key expected next, byte for byte: nothing to scan */
                found = (long)hint;
                k1 = k0 + hv->name_len;
            } else {
                bool esc;
                if (weir_jtok_string(s, n, &k1, WEIR_JTOK_CHECK_UTF8, &esc) != 0 || esc)
                    return FAST_BAIL;
            }
            size_t klen = k1 - k0;
            for (size_t f = 0; found < 0 && f < nf; f++)
                if (name_eq(st->fields[f].name, s + k0, klen))
                    found = (long)f;
            if (found < 0 && (d->reject_unknown || d->rescue_fields))
                return FAST_BAIL;
            for (size_t f = 0; found < 0 && f < nf; f++)
                if (strlen(st->fields[f].name) == klen && strncasecmp(st->fields[f].name, s + k0, klen) == 0)
                    return FAST_BAIL;
            i = fws(s, n, k1 + 1);
            if (i >= n || s[i] != ':')
                return FAST_BAIL;
            i = fws(s, n, i + 1);
            if (i >= n)
                return FAST_BAIL;
            if (found < 0) { /* not in the schema: check and skip the value */
                if (weir_json_parse(&d->doc, s, n, i, WEIR_JTOK_CHECK_UTF8 | WEIR_JSON_PREFIX,
                                    WEIR_JSON_MAX_DEPTH - 1, &i, NULL) != 0)
                    return FAST_BAIL;
            } else {
                const struct weir_field *fd = &st->fields[found];
                if (fast_value(fd->type, fd->nullable, s, n, &i, &d->fv[found]) != 0)
                    return FAST_BAIL;
                d->fv[found].gen = gen;
                hint = (size_t)found + 1;
            }
            i = fws(s, n, i);
            if (i < n && s[i] == ',') {
                i = fws(s, n, i + 1);
                continue;
            }
            if (i < n && s[i] == '}') {
                i++;
                break;
            }
            return FAST_BAIL;
        }
    }
    if (fws(s, n, i) != n)
        return FAST_BAIL;
    for (size_t f = 0; f < nf; f++)
        if (d->fv[f].gen != gen && !st->fields[f].nullable)
            return FAST_BAIL;
    for (size_t f = 0; f < nf; f++) {
        struct weir_column *c = &b->columns[f];
        const struct fast_val *v = &d->fv[f];
        int rc;
        if (v->gen != gen || v->null)
            rc = weir_column_append_null(c);
        else if (c->type->kind == WEIR_TYPE_STRING)
            rc = weir_column_append_bytes(c, s + v->soff, v->slen);
        else if (c->type->kind == WEIR_TYPE_BOOLEAN)
            rc = weir_column_append_bool(c, v->v.i != 0);
        else
            rc = append_converted(c, &v->v);
        if (rc != 0)
            return WEIR_ENOMEM;
    }
    return 0;
}

/* Parse and decode one document (d->line_no, d->line_off set by the
 * caller) into one row of b. */
static int decode_one(struct weir_json_decoder *d, const char *text, size_t len, struct weir_batch *b,
                      struct weir_error *err)
{
    int rc;
    d->line = text;
    d->depth = 0;
    d->nslots = 0;
    d->rescued.len = 0;
    d->n_unknown = 0;
    if (len >= UINT32_MAX)
        return dfail(d, err, WEIR_EUNSUPPORTED, WEIR_JSON_NONE, "document longer than 4 GiB");
    if (d->fv != NULL && (rc = fast_decode(d, text, len, b)) != FAST_BAIL)
        return rc == 0 ? 0 : weir_error_set(err, rc, "json decoder: out of memory");
    if (parse_line(&d->doc, text, len, &d->perr) != 0) {
        if (d->perr.code == WEIR_JTOK_ENOMEM)
            return weir_error_set(err, WEIR_ENOMEM, "json decoder: out of memory");
        d->line_off += d->perr.pos;
        return dfail(d, err, WEIR_EPARSE, WEIR_JSON_NONE, "invalid JSON: %s",
                     weir_jtok_strerror(d->perr.code));
    }
    if (d->doc.nodes[0].type != WEIR_JSON_OBJ)
        return dfail(d, err, WEIR_EPARSE, 0, "expected a JSON object");
    if (d->cap_aux < d->doc.n) {
        union node_aux *na = weir_realloc(d->aux, d->doc.cap * sizeof *na);
        if (na == NULL)
            return weir_error_set(err, WEIR_ENOMEM, "json decoder: out of memory");
        d->aux = na;
        d->cap_aux = d->doc.cap;
    }
    if ((rc = dec_members(d, d->schema, b->columns, 0, true, err)) != 0)
        return rc;
    if ((rc = dec_members(d, b->schema, b->columns, 0, false, err)) != 0)
        return weir_error_set(err, rc, "json decoder: out of memory");
    return 0;
}

int weir_json_decode(struct weir_json_decoder *d, const char *text, size_t n, struct weir_batch *b,
                     size_t *rows, struct weir_error *err)
{
    int rc = 0;
    size_t added = 0;
    struct lines L = {text, n, 0};
    const char *line;
    size_t len, off;
    if (!weir_type_equal(b->schema, d->schema)) {
        rc = weir_error_set(err, WEIR_ESCHEMA, "json decoder: batch schema differs from the decoder's");
        goto out;
    }
    d->unit = "line";
    if (d->offset == 0 && n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        L.pos = 3; /* a UTF-8 byte order mark at the start of the input */
    while (next_line(&L, &line, &len, &off)) {
        d->line_no++;
        d->line_off = d->offset + off;
        if (is_blank(line, len))
            continue;
        if ((rc = decode_one(d, line, len, b, err)) != 0)
            goto out;
        added++;
    }
out:
    d->offset += L.pos;
    if (added > 0) {
        int frc = weir_batch_finish_rows(b);
        if (rc == 0 && frc != 0)
            rc = weir_error_set(err, frc, "json decoder: batch columns disagree in length");
    }
    if (rows != NULL)
        *rows = added;
    return rc;
}

void weir_json_decoder_set_record(struct weir_json_decoder *d, uint64_t n)
{
    d->line_no = n ? n - 1 : 0;
}

int weir_json_decode_record(struct weir_json_decoder *d, const char *text, size_t n, struct weir_batch *b,
                            struct weir_error *err)
{
    int rc;
    if (b != d->checked_batch || b->schema != d->checked_schema) {
        if (!weir_type_equal(b->schema, d->schema))
            return weir_error_set(err, WEIR_ESCHEMA, "json decoder: batch schema differs from the decoder's");
        d->checked_batch = b;
        d->checked_schema = b->schema;
    }
    d->unit = "record";
    d->line_no++;
    d->line_off = 0;
    if ((rc = decode_one(d, text, n, b, err)) != 0)
        return rc;
    rc = weir_batch_finish_rows(b);
    if (rc != 0)
        return weir_error_set(err, rc, "json decoder: batch columns disagree in length");
    return 0;
}

const char *weir_json_decoder_rescued(const struct weir_json_decoder *d, size_t *n, size_t *unknown)
{
    *n = d->rescued.len;
    if (unknown != NULL)
        *unknown = d->n_unknown;
    return d->rescued.len ? (const char *)d->rescued.data : "";
}

/* ------------------------------------------------------------------ encoder */

/* Inline appends for the hot encoder path: weir_buf keeps room for a NUL
 * after len (see core/buf.c), so a write fits when len + n + 1 <= cap;
 * otherwise fall back to the growing append. */
static inline int put_byte(struct weir_buf *o, uint8_t c)
{
    if (o->data != NULL && o->len + 2 <= o->cap) {
        o->data[o->len++] = c;
        o->data[o->len] = 0;
        return 0;
    }
    return weir_buf_append_byte(o, c);
}

static inline int put_bytes(struct weir_buf *o, const void *p, size_t n)
{
    if (o->data != NULL && n < o->cap && o->len + n + 1 <= o->cap) {
        memcpy(o->data + o->len, p, n);
        o->len += n;
        o->data[o->len] = 0;
        return 0;
    }
    return weir_buf_append(o, p, n);
}

static int enc_string(struct weir_buf *o, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = weir_buf_reserve(o, n + 2);
    if (rc != 0)
        return rc;
    rc = put_byte(o, '"');
    size_t i = 0;
    while (i < n && rc == 0) {
        size_t j = i;
        while (j < n && s[j] >= 0x20 && s[j] != '"' && s[j] != '\\' && s[j] < 0x80)
            j++;
        if (j > i)
            rc = put_bytes(o, s + i, j - i);
        if (j >= n || rc != 0)
            break;
        uint8_t c = s[j];
        if (c >= 0x80) {
            size_t k = weir_json_utf8_len(s + j, n - j);
            if (k == 0) {
                rc = put_bytes(o, "\\ufffd", 6); /* invalid UTF-8 byte */
                i = j + 1;
            } else {
                rc = put_bytes(o, s + j, k);
                i = j + k;
            }
            continue;
        }
        char e[7];
        size_t el = 2;
        e[0] = '\\';
        switch (c) {
        case '"':
            e[1] = '"';
            break;
        case '\\':
            e[1] = '\\';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            el = 6;
        }
        rc = put_bytes(o, e, el);
        i = j + 1;
    }
    if (rc == 0)
        rc = put_byte(o, '"');
    return rc;
}

int weir_json_append_string(struct weir_buf *out, const char *s, size_t n)
{
    return enc_string(out, (const uint8_t *)s, n);
}

static const double pow10_tab[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* Fast path for the common "few decimals" doubles (1.5, 123.45, 7.0):
 * the smallest k <= 9 with v == m / 10^k for an integer m < 2^53 gives
 * the shortest fixed-point text, and since both m and 10^k are exact
 * doubles and division rounds correctly, that text reads back as v.
 * Returns 0 when v is not of that form. */
static size_t fmt_double_fixed(double v, char *buf)
{
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15))
        return 0;
    for (int k = 0; k <= 9; k++) {
        double sc = a * pow10_tab[k];
        if (sc >= 9007199254740992.0)
            return 0;
        uint64_t m = (uint64_t)(sc + 0.5);
        if ((double)m / pow10_tab[k] != a)
            continue;
        char tmp[32];
        size_t n = 0;
        do {
            tmp[n++] = (char)('0' + m % 10);
            m /= 10;
        } while (m != 0);
        while ((int)n <= k)
            tmp[n++] = '0';
        size_t o = 0;
        if (v < 0)
            buf[o++] = '-';
        while (n > (size_t)k)
            buf[o++] = tmp[--n];
        buf[o++] = '.';
        if (k == 0)
            buf[o++] = '0';
        while (n > 0)
            buf[o++] = tmp[--n];
        buf[o] = 0;
        return o;
    }
    return 0;
}

/* Shortest text reading back to the same double (15..17 digits). */
static size_t fmt_double(double v, char *buf, size_t cap)
{
    size_t fast = fmt_double_fixed(v, buf);
    if (fast > 0)
        return fast;
    int k = 0;
    for (int prec = 15; prec <= 17; prec++) {
        k = snprintf(buf, cap, "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v)
            break;
    }
    if (strpbrk(buf, ".eE") == NULL && (size_t)k + 2 < cap) {
        buf[k++] = '.';
        buf[k++] = '0';
        buf[k] = 0;
    }
    return (size_t)k;
}

static int enc_i64(struct weir_buf *o, int64_t v)
{
    char buf[24];
    char *p = buf + sizeof buf;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return put_bytes(o, p, (size_t)(buf + sizeof buf - p));
}

int weir_json_encode_value(const struct weir_column *c, size_t row, struct weir_buf *o,
                           struct weir_error *err)
{
    const struct weir_type *t = c->type;
    int rc = 0;
    char buf[64];
    size_t n;
    if (!weir_column_is_valid(c, row)) {
        rc = put_bytes(o, "null", 4);
        goto out;
    }
    switch (t->kind) {
    case WEIR_TYPE_BOOLEAN:
        rc = ((const uint8_t *)c->data)[row] ? put_bytes(o, "true", 4) : put_bytes(o, "false", 5);
        break;
    case WEIR_TYPE_BYTE:
        rc = enc_i64(o, ((const int8_t *)c->data)[row]);
        break;
    case WEIR_TYPE_SHORT:
        rc = enc_i64(o, ((const int16_t *)c->data)[row]);
        break;
    case WEIR_TYPE_INTEGER:
        rc = enc_i64(o, weir_column_i32(c, row));
        break;
    case WEIR_TYPE_LONG:
        rc = enc_i64(o, weir_column_i64(c, row));
        break;
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE: {
        double v =
            t->kind == WEIR_TYPE_FLOAT ? (double)((const float *)c->data)[row] : weir_column_f64(c, row);
        if (isnan(v))
            rc = put_bytes(o, "\"NaN\"", 5);
        else if (isinf(v))
            rc = v > 0 ? put_bytes(o, "\"Infinity\"", 10) : put_bytes(o, "\"-Infinity\"", 11);
        else {
            n = fmt_double(v, buf, sizeof buf);
            rc = put_bytes(o, buf, n);
        }
        break;
    }
    case WEIR_TYPE_DECIMAL: {
        weir_i128 v;
        memcpy(&v, (const char *)c->data + row * sizeof v, sizeof v);
        buf[0] = '"';
        n = weir_json_format_decimal(v, t->scale, buf + 1);
        buf[n + 1] = '"';
        rc = put_bytes(o, buf, n + 2);
        break;
    }
    case WEIR_TYPE_STRING: {
        const uint8_t *p = weir_column_bytes(c, row, &n);
        rc = enc_string(o, p, n);
        break;
    }
    case WEIR_TYPE_BINARY: {
        const uint8_t *p = weir_column_bytes(c, row, &n);
        if ((rc = put_byte(o, '"')) == 0 && (rc = b64_encode(p, n, o)) == 0)
            rc = put_byte(o, '"');
        break;
    }
    case WEIR_TYPE_DATE:
        buf[0] = '"';
        n = weir_json_format_date(weir_column_i32(c, row), buf + 1);
        buf[n + 1] = '"';
        rc = put_bytes(o, buf, n + 2);
        break;
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        buf[0] = '"';
        n = weir_json_format_timestamp(weir_column_i64(c, row), t->kind == WEIR_TYPE_TIMESTAMP, buf + 1);
        buf[n + 1] = '"';
        rc = put_bytes(o, buf, n + 2);
        break;
    case WEIR_TYPE_STRUCT:
        rc = put_byte(o, '{');
        for (size_t f = 0; f < t->nfields && rc == 0; f++) {
            if (f > 0 && (rc = put_byte(o, ',')) != 0)
                break;
            const char *name = t->fields[f].name;
            if ((rc = enc_string(o, (const uint8_t *)name, strlen(name))) != 0 ||
                (rc = put_byte(o, ':')) != 0)
                break;
            rc = weir_json_encode_value(&c->children[f], row, o, err);
        }
        if (rc == 0)
            rc = put_byte(o, '}');
        break;
    case WEIR_TYPE_ARRAY: {
        int64_t a = c->offsets[row], z = c->offsets[row + 1];
        rc = put_byte(o, '[');
        for (int64_t i = a; i < z && rc == 0; i++) {
            if (i > a && (rc = put_byte(o, ',')) != 0)
                break;
            rc = weir_json_encode_value(&c->children[0], (size_t)i, o, err);
        }
        if (rc == 0)
            rc = put_byte(o, ']');
        break;
    }
    case WEIR_TYPE_MAP: {
        int64_t a = c->offsets[row], z = c->offsets[row + 1];
        bool obj = t->key->kind == WEIR_TYPE_STRING;
        rc = put_byte(o, obj ? '{' : '[');
        for (int64_t i = a; i < z && rc == 0; i++) {
            if (i > a && (rc = put_byte(o, ',')) != 0)
                break;
            if (obj) {
                rc = weir_json_encode_value(&c->children[0], (size_t)i, o, err);
                if (rc == 0)
                    rc = put_byte(o, ':');
            } else {
                rc = put_bytes(o, "{\"key\":", 7);
                if (rc == 0)
                    rc = weir_json_encode_value(&c->children[0], (size_t)i, o, err);
                if (rc == 0)
                    rc = put_bytes(o, ",\"value\":", 9);
            }
            if (rc == 0)
                rc = weir_json_encode_value(&c->children[1], (size_t)i, o, err);
            if (rc == 0 && !obj)
                rc = put_byte(o, '}');
        }
        if (rc == 0)
            rc = put_byte(o, obj ? '}' : ']');
        break;
    }
    }
out:
    if (rc == WEIR_ENOMEM)
        return weir_error_set(err, rc, "json encoder: out of memory");
    return rc;
}

int weir_json_encode_row(const struct weir_batch *b, size_t row, struct weir_buf *o, struct weir_error *err)
{
    int rc = put_byte(o, '{');
    for (size_t f = 0; f < b->ncolumns && rc == 0; f++) {
        if (f > 0 && (rc = put_byte(o, ',')) != 0)
            break;
        const char *name = b->schema->fields[f].name;
        if ((rc = enc_string(o, (const uint8_t *)name, strlen(name))) != 0 || (rc = put_byte(o, ':')) != 0)
            break;
        rc = weir_json_encode_value(&b->columns[f], row, o, err);
    }
    if (rc == 0)
        rc = put_bytes(o, "}\n", 2);
    if (rc == WEIR_ENOMEM)
        return weir_error_set(err, rc, "json encoder: out of memory");
    return rc;
}

int weir_json_encode_batch(const struct weir_batch *b, struct weir_buf *o, struct weir_error *err)
{
    for (size_t r = 0; r < b->nrows; r++) {
        int rc = weir_json_encode_row(b, r, o, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ inference */

enum ikind { I_NONE = 0, I_BOOL, I_LONG, I_DOUBLE, I_STRING, I_STRUCT, I_ARRAY };

struct inode;
struct ifield {
    char *name;
    struct inode *type;
};

struct inode {
    enum ikind kind;
    bool mixed;                             /* became string from incompatible kinds */
    bool all_ts_zone, all_ts_ntz, all_date; /* for strings */
    struct ifield *fields;                  /* struct */
    size_t nfields, cap;
    struct inode *elem; /* array */
};

struct weir_json_inferrer {
    struct weir_json_infer_options opts;
    char *source;
    uint64_t line_no;
    struct weir_json_doc doc;
    struct weir_json_perr perr;
    struct weir_buf scratch;
    struct inode root;
    bool any;
    const char *line;
};

static void inode_clear(struct inode *n)
{
    for (size_t i = 0; i < n->nfields; i++) {
        weir_free(n->fields[i].name);
        inode_clear(n->fields[i].type);
        weir_free(n->fields[i].type);
    }
    weir_free(n->fields);
    if (n->elem != NULL) {
        inode_clear(n->elem);
        weir_free(n->elem);
    }
    memset(n, 0, sizeof *n);
}

static void inode_to_string(struct inode *n)
{
    inode_clear(n);
    n->kind = I_STRING;
    n->mixed = true;
}

void weir_json_infer_options_default(struct weir_json_infer_options *o)
{
    memset(o, 0, sizeof *o);
}

int weir_json_inferrer_create(struct weir_json_inferrer **out, const struct weir_json_infer_options *opts,
                              struct weir_error *err)
{
    struct weir_json_inferrer *inf = weir_calloc(1, sizeof *inf);
    *out = NULL;
    if (inf == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "json inference: out of memory");
    if (opts != NULL)
        inf->opts = *opts;
    inf->opts.source = NULL;
    weir_buf_init(&inf->scratch);
    inf->root.kind = I_STRUCT;
    if (opts != NULL && opts->source != NULL && (inf->source = weir_strdup(opts->source)) == NULL) {
        weir_free(inf);
        return weir_error_set(err, WEIR_ENOMEM, "json inference: out of memory");
    }
    *out = inf;
    return 0;
}

void weir_json_inferrer_destroy(struct weir_json_inferrer *inf)
{
    if (inf == NULL)
        return;
    inode_clear(&inf->root);
    weir_free(inf->source);
    weir_json_doc_free(&inf->doc);
    weir_buf_free(&inf->scratch);
    weir_free(inf);
}

int weir_json_inferrer_reset(struct weir_json_inferrer *inf, const char *source)
{
    char *s = NULL;
    if (source != NULL && (s = weir_strdup(source)) == NULL)
        return WEIR_ENOMEM;
    weir_free(inf->source);
    inf->source = s;
    inf->line_no = 0;
    return 0;
}

static int infer_value(struct weir_json_inferrer *inf, struct inode *t, uint32_t ni);

static int infer_members(struct weir_json_inferrer *inf, struct inode *t, uint32_t obj)
{
    size_t ord = 0;
    for (uint32_t k = inf->doc.nodes[obj].child; k != WEIR_JSON_NONE;
         k = inf->doc.nodes[inf->doc.nodes[k].next].next, ord++) {
        const struct weir_json_node *kx = &inf->doc.nodes[k];
        const char *name = inf->line + kx->start;
        size_t nlen = kx->len;
        if (kx->esc) {
            int rc = junescape(name, nlen, &inf->scratch);
            if (rc != 0)
                return rc;
            name = (const char *)inf->scratch.data;
            nlen = inf->scratch.len;
        }
        if (nlen == 0 || memchr(name, 0, nlen) != NULL)
            return WEIR_ESCHEMA;
        long found = -1;
        if (ord < t->nfields && strlen(t->fields[ord].name) == nlen &&
            strncasecmp(t->fields[ord].name, name, nlen) == 0)
            found = (long)ord;
        for (size_t f = 0; found < 0 && f < t->nfields; f++)
            if (strlen(t->fields[f].name) == nlen && strncasecmp(t->fields[f].name, name, nlen) == 0)
                found = (long)f;
        if (found < 0) {
            if (t->nfields == t->cap) {
                size_t ncap = t->cap ? t->cap * 2 : 8;
                struct ifield *nf = weir_realloc(t->fields, ncap * sizeof *nf);
                if (nf == NULL)
                    return WEIR_ENOMEM;
                t->fields = nf;
                t->cap = ncap;
            }
            struct ifield *f = &t->fields[t->nfields];
            f->name = weir_strndup(name, nlen);
            f->type = weir_calloc(1, sizeof *f->type);
            if (f->name == NULL || f->type == NULL) {
                weir_free(f->name);
                weir_free(f->type);
                return WEIR_ENOMEM;
            }
            found = (long)t->nfields++;
        }
        int rc = infer_value(inf, t->fields[found].type, kx->next);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int infer_value(struct weir_json_inferrer *inf, struct inode *t, uint32_t ni)
{
    const struct weir_json_node *x = &inf->doc.nodes[ni];
    switch (x->type) {
    case WEIR_JSON_NULL:
        return 0;
    case WEIR_JSON_TRUE:
    case WEIR_JSON_FALSE:
        if (t->kind == I_NONE)
            t->kind = I_BOOL;
        else if (t->kind != I_BOOL && t->kind != I_STRING)
            inode_to_string(t);
        else if (t->kind == I_STRING)
            t->mixed = true;
        return 0;
    case WEIR_JSON_NUM: {
        int64_t v;
        bool isint = x->isint && parse_int(inf->line + x->start, x->len, INT64_MIN, INT64_MAX, &v) == 0;
        if (t->kind == I_NONE || t->kind == I_LONG)
            t->kind = isint ? (t->kind == I_NONE ? I_LONG : t->kind) : I_DOUBLE;
        else if (t->kind == I_DOUBLE)
            ;
        else if (t->kind == I_STRING)
            t->mixed = true;
        else
            inode_to_string(t);
        return 0;
    }
    case WEIR_JSON_STR: {
        bool zone = false, ts = false, date = false;
        if (inf->opts.infer_timestamps) {
            const char *s = inf->line + x->start;
            int64_t us;
            int32_t dd;
            if (!x->esc && weir_json_parse_date(s, x->len, &dd) == 0)
                date = true;
            else if (!x->esc && weir_json_parse_timestamp(s, x->len, &us, &zone) == 0)
                ts = true;
        }
        if (t->kind == I_NONE) {
            t->kind = I_STRING;
            t->all_ts_zone = ts && zone;
            t->all_ts_ntz = ts && !zone;
            t->all_date = date;
        } else if (t->kind == I_STRING) {
            t->all_ts_zone &= ts && zone;
            t->all_ts_ntz &= ts && !zone;
            t->all_date &= date;
        } else {
            inode_to_string(t);
        }
        return 0;
    }
    case WEIR_JSON_OBJ:
        if (t->kind == I_NONE)
            t->kind = I_STRUCT;
        if (t->kind == I_STRING) {
            t->mixed = true;
            return 0;
        }
        if (t->kind != I_STRUCT) {
            inode_to_string(t);
            return 0;
        }
        return infer_members(inf, t, ni);
    case WEIR_JSON_ARR:
        if (t->kind == I_NONE) {
            t->kind = I_ARRAY;
            t->elem = weir_calloc(1, sizeof *t->elem);
            if (t->elem == NULL)
                return WEIR_ENOMEM;
        }
        if (t->kind == I_STRING) {
            t->mixed = true;
            return 0;
        }
        if (t->kind != I_ARRAY) {
            inode_to_string(t);
            return 0;
        }
        for (uint32_t e = x->child; e != WEIR_JSON_NONE; e = inf->doc.nodes[e].next) {
            int rc = infer_value(inf, t->elem, e);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    return 0;
}

int weir_json_infer(struct weir_json_inferrer *inf, const char *text, size_t n, struct weir_error *err)
{
    struct lines L = {text, n, 0};
    const char *line;
    size_t len, off;
    const char *src = inf->source ? inf->source : "", *sep = inf->source ? ": " : "";
    if (inf->line_no == 0 && n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        L.pos = 3; /* a UTF-8 byte order mark at the start of the input */
    while (next_line(&L, &line, &len, &off)) {
        inf->line_no++;
        if (is_blank(line, len))
            continue;
        if (len >= UINT32_MAX)
            return weir_error_set(err, WEIR_EUNSUPPORTED, "%s%sline %" PRIu64 ": line longer than 4 GiB", src,
                                  sep, inf->line_no);
        if (parse_line(&inf->doc, line, len, &inf->perr) != 0) {
            if (inf->perr.code == WEIR_JTOK_ENOMEM)
                return weir_error_set(err, WEIR_ENOMEM, "json inference: out of memory");
            return weir_error_set(err, WEIR_EPARSE, "%s%sline %" PRIu64 " (byte %zu): invalid JSON: %s", src,
                                  sep, inf->line_no, off + inf->perr.pos, weir_jtok_strerror(inf->perr.code));
        }
        if (inf->doc.nodes[0].type != WEIR_JSON_OBJ)
            return weir_error_set(err, WEIR_EPARSE, "%s%sline %" PRIu64 ": expected a JSON object", src, sep,
                                  inf->line_no);
        inf->line = line;
        int rc = infer_members(inf, &inf->root, 0);
        if (rc == WEIR_ENOMEM)
            return weir_error_set(err, rc, "json inference: out of memory");
        if (rc != 0)
            return weir_error_set(err, rc, "%s%sline %" PRIu64 ": empty or invalid field name", src, sep,
                                  inf->line_no);
        inf->any = true;
    }
    return 0;
}

static struct weir_type *inode_type(const struct inode *n)
{
    switch (n->kind) {
    case I_NONE:
        return weir_type_primitive(WEIR_TYPE_STRING);
    case I_BOOL:
        return weir_type_primitive(WEIR_TYPE_BOOLEAN);
    case I_LONG:
        return weir_type_primitive(WEIR_TYPE_LONG);
    case I_DOUBLE:
        return weir_type_primitive(WEIR_TYPE_DOUBLE);
    case I_STRING:
        if (!n->mixed && n->all_date)
            return weir_type_primitive(WEIR_TYPE_DATE);
        if (!n->mixed && n->all_ts_zone)
            return weir_type_primitive(WEIR_TYPE_TIMESTAMP);
        if (!n->mixed && n->all_ts_ntz)
            return weir_type_primitive(WEIR_TYPE_TIMESTAMP_NTZ);
        return weir_type_primitive(WEIR_TYPE_STRING);
    case I_ARRAY: {
        struct weir_type *e = inode_type(n->elem);
        return e ? weir_type_array(e, true) : NULL;
    }
    case I_STRUCT: {
        if (n->nfields == 0)
            return weir_type_primitive(WEIR_TYPE_STRING); /* {} only: keep the text */
        struct weir_type *st = weir_type_struct();
        if (st == NULL)
            return NULL;
        for (size_t i = 0; i < n->nfields; i++) {
            struct weir_type *ft = inode_type(n->fields[i].type);
            if (ft == NULL || weir_type_struct_add(st, n->fields[i].name, ft, true, NULL) != 0) {
                weir_type_destroy(st);
                return NULL;
            }
        }
        return st;
    }
    }
    return NULL;
}

int weir_json_infer_schema(const struct weir_json_inferrer *inf, struct weir_type **out,
                           struct weir_error *err)
{
    *out = NULL;
    if (!inf->any || inf->root.nfields == 0)
        return weir_error_set(err, WEIR_ESCHEMA, "json inference: no object with fields in the input");
    struct weir_type *t = inode_type(&inf->root);
    if (t == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "json inference: out of memory");
    *out = t;
    return 0;
}
