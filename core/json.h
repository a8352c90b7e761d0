/* core/json.h - the one JSON tokenizer and parser of weir.
 *
 * Two layers over UTF-8 JSON text (RFC 8259), both length-bounded (the text
 * need not be NUL-terminated) and allocation-free except for the tape:
 *
 *   tokens   weir_jtok_string / weir_jtok_number validate one string body or
 *            number in place and report where it ends; weir_json_unescape
 *            turns a validated string body into bytes. Callers that stream
 *            (the Delta schema reader in core/types.c) use these directly.
 *   tape     weir_json_parse fills a flat, reusable node array (a "doc")
 *            for one value; nodes keep the byte span of their text, so
 *            numbers keep their exact text and any value can be copied
 *            verbatim (formats/json.c, field metadata in core/types.c).
 *
 * Errors are WEIR_JTOK_E* codes (negative) plus the byte position where the
 * problem was found; weir_jtok_strerror gives the standard wording, and
 * callers are free to word them their own way.
 *
 * Threading: no global state; a doc belongs to one thread at a time. */
#ifndef WEIR_CORE_JSON_H
#define WEIR_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Value of one hex digit, or -1. Shared by every parser of escapes
 * (JSON \u, partition-path %XX). */
static inline int weir_json_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Length of the valid UTF-8 sequence at s (n >= 1 bytes available), 0 if
 * it is invalid (overlong, surrogate, > U+10FFFF, truncated). */
size_t weir_json_utf8_len(const unsigned char *s, size_t n);
/* Encode code point cp (<= 0x10FFFF) into out; returns 1..4. */
size_t weir_json_utf8_put(uint32_t cp, uint8_t out[4]);

/* Position just after any JSON whitespace at or after pos. */
static inline size_t weir_json_skip_ws(const char *s, size_t n, size_t pos)
{
    while (pos < n && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r'))
        pos++;
    return pos;
}

enum weir_jtok_err {
    WEIR_JTOK_OK = 0,
    WEIR_JTOK_ENOMEM = -1,
    WEIR_JTOK_EUNTERMINATED = -2, /* string without closing quote */
    WEIR_JTOK_EESCAPE = -3,       /* unknown backslash escape */
    WEIR_JTOK_EUESCAPE = -4,      /* \u not followed by 4 hex digits */
    WEIR_JTOK_ECONTROL = -5,      /* raw control character in a string */
    WEIR_JTOK_EUTF8 = -6,         /* invalid UTF-8 in a string */
    WEIR_JTOK_ENUMBER = -7,       /* malformed number */
    WEIR_JTOK_EEND = -8,          /* end of text where a value was expected */
    WEIR_JTOK_EVALUE = -9,        /* no JSON value starts here */
    WEIR_JTOK_EKEY = -10,         /* object member without a string key */
    WEIR_JTOK_ECOLON = -11,       /* key not followed by ':' */
    WEIR_JTOK_EOBJSEP = -12,      /* expected ',' or '}' */
    WEIR_JTOK_EARRSEP = -13,      /* expected ',' or ']' */
    WEIR_JTOK_EDEPTH = -14,       /* nesting deeper than the limit */
    WEIR_JTOK_ETRAILING = -15,    /* text after the value */
    WEIR_JTOK_ESURROGATE = -16,   /* unpaired surrogate (unescape) */
    WEIR_JTOK_ENUL = -17,         /* \u0000 refused (unescape) */
    WEIR_JTOK_ETOOLONG = -18,     /* text of 4 GiB or more */
};
/* Standard message for a code ("unterminated string", ...). */
const char *weir_jtok_strerror(int code);

/* Flags for weir_jtok_string and weir_json_parse. */
#define WEIR_JTOK_CHECK_UTF8 0x1u /* reject invalid UTF-8 in strings */
#define WEIR_JSON_PREFIX     0x2u /* parse: a value may be followed by more text */

/* Validate a string body: *pos is the byte after the opening quote. On 0,
 * *pos is the closing quote and *esc (may be NULL) tells whether the body
 * holds escapes. On error *pos is where the problem is. */
int weir_jtok_string(const char *s, size_t n, size_t *pos, unsigned flags, bool *esc);
/* Validate a number (strict RFC grammar) starting at *pos. On 0, *pos is
 * just past it and *isint (may be NULL) says: no fraction, no exponent. On
 * error *pos is where the grammar broke. */
int weir_jtok_number(const char *s, size_t n, size_t *pos, bool *isint);

/* Unescape a validated string body of n bytes into b (reset first). Flags:
 * WEIR_JSON_UNESCAPE_NO_NUL refuses \u0000. Returns 0, WEIR_JTOK_ENOMEM,
 * WEIR_JTOK_ESURROGATE or WEIR_JTOK_ENUL; *bad_at (may be NULL) gets the
 * offset of the offending escape. */
#define WEIR_JSON_UNESCAPE_NO_NUL 0x1u
int weir_json_unescape(const char *s, size_t n, unsigned flags, struct weir_buf *b, size_t *bad_at);

/* ---- tape ---- */

#define WEIR_JSON_NONE UINT32_MAX

enum weir_json_kind {
    WEIR_JSON_NULL = 0,
    WEIR_JSON_FALSE,
    WEIR_JSON_TRUE,
    WEIR_JSON_NUM,
    WEIR_JSON_STR,
    WEIR_JSON_ARR,
    WEIR_JSON_OBJ
};

/* One value. Nodes link by index (the array moves while growing);
 * WEIR_JSON_NONE ends a sibling chain. */
struct weir_json_node {
    uint8_t type;        /* enum weir_json_kind */
    uint8_t esc;         /* string holds escapes */
    uint8_t isint;       /* number without fraction or exponent */
    uint32_t start, len; /* text span (strings: inside the quotes) */
    uint32_t child;      /* first child: array elements; object key, value, key, ... */
    uint32_t next;       /* next sibling */
    uint32_t count;      /* elements or members */
};

/* Reusable node array: zero-initialise, parse many times, free once. */
struct weir_json_doc {
    struct weir_json_node *nodes;
    size_t n, cap;
};
void weir_json_doc_free(struct weir_json_doc *doc);

/* Where and why a parse failed. */
struct weir_json_perr {
    int code; /* WEIR_JTOK_E* */
    size_t pos;
};

/* Parse one value of s[pos..n) into doc (its root is node 0), arrays and
 * objects nested at most max_depth deep. Without WEIR_JSON_PREFIX only
 * whitespace may follow the value. *end (may be NULL) gets the position
 * after the value (and whitespace, without PREFIX). Positions are byte
 * offsets into s; n must be below 4 GiB. Returns 0 or a WEIR_JTOK_E* code
 * (also in *e, which may be NULL). */
int weir_json_parse(struct weir_json_doc *doc, const char *s, size_t n, size_t pos, unsigned flags,
                    int max_depth, size_t *end, struct weir_json_perr *e);

#endif
