/* core/json.c - JSON tokens, unescaping and the tape parser.
 *
 * Owns: the only JSON grammar in weir. Tokens are validated in place over
 * length-bounded text; the tape parser builds a flat node array that a
 * caller reuses from document to document (no allocation per document once
 * the array is warm). The string scanner skips 8 plain ASCII bytes at a
 * time; that loop is the JSON lines decoder's hot path.
 *
 * Invariants: positions are byte offsets into the caller's text; node
 * indices fit 32 bits (texts of 4 GiB or more are refused); the first error
 * found is the one reported.
 *
 * Threading: no global state; reentrant. */
#include "core/json.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/alloc.h"

const char *weir_jtok_strerror(int code)
{
    switch (code) {
    case WEIR_JTOK_OK:
        return "no error";
    case WEIR_JTOK_ENOMEM:
        return "out of memory";
    case WEIR_JTOK_EUNTERMINATED:
        return "unterminated string";
    case WEIR_JTOK_EESCAPE:
        return "bad escape in string";
    case WEIR_JTOK_EUESCAPE:
        return "bad \\u escape in string";
    case WEIR_JTOK_ECONTROL:
        return "control character in string";
    case WEIR_JTOK_EUTF8:
        return "invalid UTF-8 in string";
    case WEIR_JTOK_ENUMBER:
        return "invalid number";
    case WEIR_JTOK_EEND:
        return "unexpected end of line";
    case WEIR_JTOK_EVALUE:
        return "invalid JSON value";
    case WEIR_JTOK_EKEY:
        return "expected a string key";
    case WEIR_JTOK_ECOLON:
        return "expected ':' after key";
    case WEIR_JTOK_EOBJSEP:
        return "expected ',' or '}'";
    case WEIR_JTOK_EARRSEP:
        return "expected ',' or ']'";
    case WEIR_JTOK_EDEPTH:
        return "nesting too deep";
    case WEIR_JTOK_ETRAILING:
        return "unexpected text after the JSON value";
    case WEIR_JTOK_ESURROGATE:
        return "unpaired surrogate in string";
    case WEIR_JTOK_ENUL:
        return "NUL character in string";
    case WEIR_JTOK_ETOOLONG:
        return "document longer than 4 GiB";
    default:
        return "invalid JSON";
    }
}

/* ------------------------------------------------------------- UTF-8 */

size_t weir_json_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0;
        if (c == 0xED && s[1] > 0x9F)
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0;
        if (c == 0xF4 && s[1] > 0x8F)
            return 0;
        return 4;
    }
    return 0;
}

size_t weir_json_utf8_put(uint32_t cp, uint8_t u[4])
{
    if (cp < 0x80) {
        u[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (uint8_t)(0xC0 | (cp >> 6));
        u[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (uint8_t)(0xE0 | (cp >> 12));
        u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (uint8_t)(0xF0 | (cp >> 18));
    u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* ------------------------------------------------------------ tokens */

static inline bool hex4_ok(const unsigned char *s)
{
    return weir_json_hexval(s[0]) >= 0 && weir_json_hexval(s[1]) >= 0 && weir_json_hexval(s[2]) >= 0 &&
           weir_json_hexval(s[3]) >= 0;
}

static inline uint32_t hex4(const char *s)
{
    return (uint32_t)(weir_json_hexval((unsigned char)s[0]) << 12 |
                      weir_json_hexval((unsigned char)s[1]) << 8 |
                      weir_json_hexval((unsigned char)s[2]) << 4 | weir_json_hexval((unsigned char)s[3]));
}

/* The scanners are inlined into the tape parser (its hot path) and also
 * exported as weir_jtok_*. */
static inline __attribute__((always_inline)) int scan_string(const char *text, size_t n, size_t *pos,
                                                             unsigned flags, bool *escp)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = *pos;
    bool esc = false;
    for (;;) {
#ifdef __SSE2__
        /* skip plain ASCII 16 bytes at a time and land on the first byte
         * that is '"', '\\', a control or a high-bit byte (signed < 0x20) */
        while (i + 16 <= n) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            __m128i sp = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
                _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
            unsigned m = (unsigned)_mm_movemask_epi8(sp);
            if (m != 0) {
                i += (size_t)__builtin_ctz(m);
                break;
            }
            i += 16;
        }
#endif
        /* skip 8 plain ASCII bytes at a time (no '"', '\\', control or
         * high-bit byte); the tests may flag a plain byte, never miss one */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
            uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
            uint64_t special = ((q - ones) & ~q) | ((b - ones) & ~b) | (w - ones * 0x20) | w;
            if (special & highs)
                break;
            i += 8;
        }
        if (i >= n) {
            *pos = i;
            return WEIR_JTOK_EUNTERMINATED;
        }
        unsigned char c = s[i];
        if (c == '"')
            break;
        if (c == '\\') {
            esc = true;
            if (i + 1 >= n) {
                *pos = i;
                return WEIR_JTOK_EUNTERMINATED;
            }
            unsigned char e = s[i + 1];
            if (e == 'u') {
                if (i + 6 > n || !hex4_ok(s + i + 2)) {
                    *pos = i;
                    return WEIR_JTOK_EUESCAPE;
                }
                i += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
                       e == 't') {
                i += 2;
            } else {
                *pos = i;
                return WEIR_JTOK_EESCAPE;
            }
            continue;
        }
        if (c < 0x20) {
            *pos = i;
            return WEIR_JTOK_ECONTROL;
        }
        if (c >= 0x80 && (flags & WEIR_JTOK_CHECK_UTF8)) {
            size_t k = weir_json_utf8_len(s + i, n - i);
            if (k == 0) {
                *pos = i;
                return WEIR_JTOK_EUTF8;
            }
            i += k;
            continue;
        }
        i++;
    }
    if (escp != NULL)
        *escp = esc;
    *pos = i;
    return 0;
}

static inline __attribute__((always_inline)) int scan_number(const char *s, size_t n, size_t *pos,
                                                             bool *isintp)
{
    size_t i = *pos;
    bool isint = true;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || s[i] < '0' || s[i] > '9')
        goto bad;
    if (s[i] == '0') {
        i++;
    } else {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && s[i] == '.') {
        isint = false;
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            goto bad;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        isint = false;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            goto bad;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (isintp != NULL)
        *isintp = isint;
    *pos = i;
    return 0;
bad:
    *pos = i;
    return WEIR_JTOK_ENUMBER;
}

int weir_jtok_string(const char *s, size_t n, size_t *pos, unsigned flags, bool *esc)
{
    return scan_string(s, n, pos, flags, esc);
}

int weir_jtok_number(const char *s, size_t n, size_t *pos, bool *isint)
{
    return scan_number(s, n, pos, isint);
}

int weir_json_unescape(const char *s, size_t n, unsigned flags, struct weir_buf *b, size_t *bad_at)
{
    b->len = 0;
    if (weir_buf_reserve(b, n) != 0)
        return WEIR_JTOK_ENOMEM;
    size_t i = 0;
    int rc = 0;
    while (i < n && rc == 0) {
        size_t j = i;
        while (j < n && s[j] != '\\')
            j++;
        if (j > i)
            rc = weir_buf_append(b, s + i, j - i);
        if (j >= n || rc != 0)
            break;
        char e = s[j + 1];
        i = j + 2;
        switch (e) {
        case 'b':
            rc = weir_buf_append_byte(b, '\b');
            break;
        case 'f':
            rc = weir_buf_append_byte(b, '\f');
            break;
        case 'n':
            rc = weir_buf_append_byte(b, '\n');
            break;
        case 'r':
            rc = weir_buf_append_byte(b, '\r');
            break;
        case 't':
            rc = weir_buf_append_byte(b, '\t');
            break;
        case 'u': {
            uint32_t cp = hex4(s + j + 2);
            i = j + 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo = 0;
                if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u' || (lo = hex4(s + i + 2)) < 0xDC00 ||
                    lo > 0xDFFF) {
                    if (bad_at != NULL)
                        *bad_at = j;
                    return WEIR_JTOK_ESURROGATE;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                if (bad_at != NULL)
                    *bad_at = j;
                return WEIR_JTOK_ESURROGATE;
            } else if (cp == 0 && (flags & WEIR_JSON_UNESCAPE_NO_NUL)) {
                if (bad_at != NULL)
                    *bad_at = j;
                return WEIR_JTOK_ENUL;
            }
            uint8_t u[4];
            rc = weir_buf_append(b, u, weir_json_utf8_put(cp, u));
            break;
        }
        default:
            rc = weir_buf_append_byte(b, (uint8_t)e);
            break;
        }
    }
    return rc != 0 ? WEIR_JTOK_ENOMEM : 0;
}

/* -------------------------------------------------------------- tape */

struct parser {
    const char *s;
    size_t n, pos;
    struct weir_json_doc *doc;
    unsigned flags;
    int max_depth;
    int ecode;
    size_t epos;
};

void weir_json_doc_free(struct weir_json_doc *d)
{
    if (d == NULL)
        return;
    weir_free(d->nodes);
    d->nodes = NULL;
    d->n = d->cap = 0;
}

static int fail(struct parser *p, int code)
{
    if (p->ecode == 0) {
        p->ecode = code;
        p->epos = p->pos;
    }
    return -1;
}

static uint32_t new_node(struct parser *p, uint8_t type, size_t start)
{
    struct weir_json_doc *d = p->doc;
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 64;
        struct weir_json_node *nn = weir_realloc(d->nodes, ncap * sizeof *nn);
        if (nn == NULL) {
            fail(p, WEIR_JTOK_ENOMEM);
            return WEIR_JSON_NONE;
        }
        d->nodes = nn;
        d->cap = ncap;
    }
    struct weir_json_node *x = &d->nodes[d->n];
    x->type = type;
    x->esc = 0;
    x->isint = 0;
    x->start = (uint32_t)start;
    x->len = 0;
    x->child = WEIR_JSON_NONE;
    x->next = WEIR_JSON_NONE;
    x->count = 0;
    return (uint32_t)d->n++;
}

static inline void ws(struct parser *p)
{
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int p_string(struct parser *p, uint32_t *out)
{
    p->pos++; /* opening quote */
    uint32_t idx = new_node(p, WEIR_JSON_STR, p->pos);
    if (idx == WEIR_JSON_NONE)
        return -1;
    size_t i = p->pos;
    bool esc;
    int rc = scan_string(p->s, p->n, &i, p->flags, &esc);
    if (rc != 0) {
        p->pos = i;
        return fail(p, rc);
    }
    struct weir_json_node *x = &p->doc->nodes[idx];
    x->len = (uint32_t)(i - p->pos);
    x->esc = esc;
    p->pos = i + 1;
    *out = idx;
    return 0;
}

static int p_number(struct parser *p, uint32_t *out)
{
    size_t start = p->pos, i = p->pos;
    bool isint;
    int rc = scan_number(p->s, p->n, &i, &isint);
    if (rc != 0) {
        p->pos = i;
        return fail(p, rc);
    }
    uint32_t idx = new_node(p, WEIR_JSON_NUM, start);
    if (idx == WEIR_JSON_NONE)
        return -1;
    p->doc->nodes[idx].len = (uint32_t)(i - start);
    p->doc->nodes[idx].isint = isint;
    p->pos = i;
    *out = idx;
    return 0;
}

static int p_value(struct parser *p, int depth, uint32_t *out)
{
    ws(p);
    if (p->pos >= p->n)
        return fail(p, WEIR_JTOK_EEND);
    char c = p->s[p->pos];
    if (c == '"')
        return p_string(p, out);
    if (c == '-' || (c >= '0' && c <= '9'))
        return p_number(p, out);
    if (c == '{' || c == '[') {
        if (depth >= p->max_depth)
            return fail(p, WEIR_JTOK_EDEPTH);
        bool obj = c == '{';
        char close = obj ? '}' : ']';
        uint32_t idx = new_node(p, obj ? WEIR_JSON_OBJ : WEIR_JSON_ARR, p->pos);
        if (idx == WEIR_JSON_NONE)
            return -1;
        p->pos++;
        ws(p);
        uint32_t prev = WEIR_JSON_NONE, count = 0;
        if (p->pos < p->n && p->s[p->pos] == close) {
            p->pos++;
        } else {
            for (;;) {
                uint32_t v;
                if (obj) {
                    ws(p);
                    if (p->pos >= p->n || p->s[p->pos] != '"')
                        return fail(p, WEIR_JTOK_EKEY);
                    uint32_t k;
                    if (p_string(p, &k) != 0)
                        return -1;
                    if (prev == WEIR_JSON_NONE)
                        p->doc->nodes[idx].child = k;
                    else
                        p->doc->nodes[prev].next = k;
                    prev = k;
                    ws(p);
                    if (p->pos >= p->n || p->s[p->pos] != ':')
                        return fail(p, WEIR_JTOK_ECOLON);
                    p->pos++;
                }
                if (p_value(p, depth + 1, &v) != 0)
                    return -1;
                if (prev == WEIR_JSON_NONE)
                    p->doc->nodes[idx].child = v;
                else
                    p->doc->nodes[prev].next = v;
                prev = v;
                count++;
                ws(p);
                if (p->pos < p->n && p->s[p->pos] == ',') {
                    p->pos++;
                    continue;
                }
                if (p->pos < p->n && p->s[p->pos] == close) {
                    p->pos++;
                    break;
                }
                return fail(p, obj ? WEIR_JTOK_EOBJSEP : WEIR_JTOK_EARRSEP);
            }
        }
        struct weir_json_node *x = &p->doc->nodes[idx];
        x->count = count;
        x->len = (uint32_t)(p->pos - x->start);
        *out = idx;
        return 0;
    }
    static const struct {
        const char *word;
        uint8_t len, type;
    } lits[] = {{"true", 4, WEIR_JSON_TRUE}, {"false", 5, WEIR_JSON_FALSE}, {"null", 4, WEIR_JSON_NULL}};
    for (size_t k = 0; k < 3; k++) {
        size_t wl = lits[k].len;
        if (p->n - p->pos >= wl && memcmp(p->s + p->pos, lits[k].word, wl) == 0) {
            uint32_t idx = new_node(p, lits[k].type, p->pos);
            if (idx == WEIR_JSON_NONE)
                return -1;
            p->doc->nodes[idx].len = (uint32_t)wl;
            p->pos += wl;
            *out = idx;
            return 0;
        }
    }
    return fail(p, WEIR_JTOK_EVALUE);
}

int weir_json_parse(struct weir_json_doc *doc, const char *s, size_t n, size_t pos, unsigned flags,
                    int max_depth, size_t *end, struct weir_json_perr *e)
{
    struct parser p = {.s = s, .n = n, .pos = pos, .doc = doc, .flags = flags, .max_depth = max_depth};
    doc->n = 0;
    uint32_t root;
    if (n >= UINT32_MAX) {
        fail(&p, WEIR_JTOK_ETOOLONG);
    } else if (p_value(&p, 0, &root) == 0 && !(flags & WEIR_JSON_PREFIX)) {
        ws(&p);
        if (p.pos != n)
            fail(&p, WEIR_JTOK_ETRAILING);
    }
    if (end != NULL)
        *end = p.pos;
    if (e != NULL) {
        e->code = p.ecode;
        e->pos = p.epos;
    }
    return p.ecode;
}
