/* formats/csv.c - CSV records, values and inference (see csv.h).
 *
 * The reader is one state machine over bytes. It keeps the current
 * record's raw text (for rescue) and its unescaped field bytes with their
 * start offsets; a record is delivered when its newline (outside quotes)
 * or the end of the input is seen. Memory is bounded by max_record. */
#include "formats/csv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "formats/json.h"

#define DEFAULT_MAX_RECORD (16u << 20)

enum st {
    S_START, /* at the start of a field */
    S_UNQ,   /* inside an unquoted field */
    S_Q,     /* inside a quoted field */
    S_QESC,  /* after the escape inside a quoted field */
    S_QQ,    /* after a quote inside a quoted field: closing, or the first of a pair */
    S_AFTER, /* after the closing quote */
    S_SKIP,  /* dropping an over-long record up to the next newline */
};

struct fstart {
    size_t off;
    bool quoted;
};

struct weir_csv_reader {
    struct weir_csv_options o;
    char *null_value;
    enum st st;
    struct weir_buf raw, text;
    struct fstart *starts;
    size_t nstarts, cap_starts;
    struct weir_csv_field *fields;
    size_t cap_fields;
    uint64_t line, rec_line;
    bool at_input_start, in_record, junk, skipped;
    unsigned bom_seen; /* bytes of a byte order mark seen at the start */
};

void weir_csv_options_default(struct weir_csv_options *o)
{
    memset(o, 0, sizeof *o);
    o->delimiter = ',';
    o->quote = '"';
    o->escape = '\\';
}

int weir_csv_reader_create(struct weir_csv_reader **out, const struct weir_csv_options *o,
                           struct weir_error *err)
{
    struct weir_csv_reader *r = weir_calloc(1, sizeof *r);
    *out = NULL;
    if (!r)
        return weir_error_set(err, WEIR_ENOMEM, "csv: out of memory");
    if (o)
        r->o = *o;
    else
        weir_csv_options_default(&r->o);
    if (!r->o.max_record)
        r->o.max_record = DEFAULT_MAX_RECORD;
    if (!(r->null_value = weir_strdup(r->o.null_value ? r->o.null_value : ""))) {
        weir_free(r);
        return weir_error_set(err, WEIR_ENOMEM, "csv: out of memory");
    }
    r->o.null_value = r->null_value;
    weir_buf_init(&r->raw);
    weir_buf_init(&r->text);
    weir_csv_reader_reset(r);
    *out = r;
    return 0;
}

void weir_csv_reader_destroy(struct weir_csv_reader *r)
{
    if (!r)
        return;
    weir_buf_free(&r->raw);
    weir_buf_free(&r->text);
    weir_free(r->starts);
    weir_free(r->fields);
    weir_free(r->null_value);
    weir_free(r);
}

static void record_clear(struct weir_csv_reader *r)
{
    r->raw.len = 0;
    r->text.len = 0;
    r->nstarts = 0;
    r->in_record = false;
    r->junk = false;
    r->st = S_START;
}

void weir_csv_reader_reset(struct weir_csv_reader *r)
{
    record_clear(r);
    r->line = 1;
    r->rec_line = 1;
    r->at_input_start = true;
    r->bom_seen = 0;
    r->skipped = false;
}

static int field_begin(struct weir_csv_reader *r, bool quoted)
{
    if (r->nstarts == r->cap_starts) {
        size_t cap = r->cap_starts ? r->cap_starts * 2 : 64;
        struct fstart *n = weir_realloc(r->starts, cap * sizeof *n);
        if (!n)
            return WEIR_ENOMEM;
        r->starts = n;
        r->cap_starts = cap;
    }
    r->starts[r->nstarts].off = r->text.len;
    r->starts[r->nstarts].quoted = quoted;
    r->nstarts++;
    return 0;
}

/* Deliver the record held (if any). */
static int deliver(struct weir_csv_reader *r, const char *malformed, weir_csv_record_cb cb, void *ctx,
                   struct weir_error *err)
{
    if (!r->in_record)
        return 0;
    /* an unquoted last field ending in "\r" (a CRLF line end) */
    if (r->raw.len && r->raw.data[r->raw.len - 1] == '\r') {
        r->raw.len--;
        if (r->st == S_UNQ)
            r->text.len--;
    }
    if (r->raw.len == 0 && r->nstarts <= 1 && !malformed) { /* a blank line */
        record_clear(r);
        return 0;
    }
    if (r->cap_fields < r->nstarts) {
        struct weir_csv_field *f = weir_realloc(r->fields, r->nstarts * sizeof *f);
        if (!f)
            return weir_error_set(err, WEIR_ENOMEM, "csv: out of memory");
        r->fields = f;
        r->cap_fields = r->nstarts;
    }
    const char *base = r->text.len ? (const char *)r->text.data : "";
    for (size_t i = 0; i < r->nstarts; i++) {
        size_t end = i + 1 < r->nstarts ? r->starts[i + 1].off : r->text.len;
        r->fields[i].p = base + r->starts[i].off;
        r->fields[i].n = end - r->starts[i].off;
        r->fields[i].quoted = r->starts[i].quoted;
    }
    struct weir_csv_record rec = {
        .fields = r->fields,
        .nfields = r->nstarts,
        .raw = r->raw.len ? (const char *)r->raw.data : "",
        .raw_len = r->raw.len,
        .line = r->rec_line,
        .malformed = malformed ? malformed
                     : r->junk ? "text after a closing quote"
                               : NULL,
    };
    int rc = cb(ctx, &rec, err);
    record_clear(r);
    return rc;
}

int weir_csv_feed(struct weir_csv_reader *r, const char *p, size_t n, bool last, weir_csv_record_cb cb,
                  void *ctx, struct weir_error *err)
{
    const char d = r->o.delimiter, q = r->o.quote, e = r->o.escape;
    size_t i = 0;
    int rc;
    /* a byte order mark at the start, possibly split across calls */
    static const char bom[3] = {'\xEF', '\xBB', '\xBF'};
    while (r->at_input_start && i < n) {
        if (p[i] == bom[r->bom_seen]) {
            i++;
            if (++r->bom_seen == 3)
                r->at_input_start = false;
            continue;
        }
        r->at_input_start = false;
        if (r->bom_seen && (rc = weir_csv_feed(r, bom, r->bom_seen, false, cb, ctx, err)))
            return rc; /* the bytes taken for a mark were text */
    }
    if (r->at_input_start && last && r->bom_seen) {
        r->at_input_start = false;
        if ((rc = weir_csv_feed(r, bom, r->bom_seen, false, cb, ctx, err)))
            return rc;
    }
    for (; i < n; i++) {
        char c = p[i];
        if (r->st == S_SKIP) {
            const char *nl = memchr(p + i, '\n', n - i);
            if (!nl) {
                i = n;
                break;
            }
            i = (size_t)(nl - p);
            r->line++;
            r->rec_line = r->line;
            record_clear(r);
            continue;
        }
        if (!r->in_record) {
            r->in_record = true;
            r->rec_line = r->line;
            if (field_begin(r, false))
                return weir_error_set(err, WEIR_ENOMEM, "csv: out of memory");
        }
        if (c == '\n' && r->st != S_Q && r->st != S_QESC) {
            if ((rc = deliver(r, NULL, cb, ctx, err)))
                return rc;
            r->line++;
            continue;
        }
        if (c == '\n')
            r->line++;
        if (weir_buf_append_byte(&r->raw, (uint8_t)c))
            return weir_error_set(err, WEIR_ENOMEM, "csv: out of memory");
        int add = -1; /* byte to add to the field text */
        switch (r->st) {
        case S_START:
            if (c == q) {
                r->starts[r->nstarts - 1].quoted = true;
                r->st = S_Q;
            } else if (c == d) {
                if (field_begin(r, false))
                    return weir_error_set(err, WEIR_ENOMEM, "csv: out of memory");
            } else {
                add = c;
                r->st = S_UNQ;
            }
            break;
        case S_UNQ:
            if (c == d) {
                if (field_begin(r, false))
                    return weir_error_set(err, WEIR_ENOMEM, "csv: out of memory");
                r->st = S_START;
            } else {
                add = c;
            }
            break;
        case S_Q:
            if (c == e && e != q)
                r->st = S_QESC;
            else if (c == q)
                r->st = S_QQ;
            else
                add = c;
            break;
        case S_QESC:
            add = c;
            r->st = S_Q;
            break;
        case S_QQ:
            if (c == q) {
                add = c; /* a doubled quote */
                r->st = S_Q;
            } else if (c == d) {
                if (field_begin(r, false))
                    return weir_error_set(err, WEIR_ENOMEM, "csv: out of memory");
                r->st = S_START;
            } else if (c != '\r') {
                r->junk = true;
                add = c;
                r->st = S_AFTER;
            }
            break;
        case S_AFTER:
            if (c == d) {
                if (field_begin(r, false))
                    return weir_error_set(err, WEIR_ENOMEM, "csv: out of memory");
                r->st = S_START;
            } else if (c != '\r') {
                add = c;
            }
            break;
        case S_SKIP:
            break;
        }
        if (add >= 0 && weir_buf_append_byte(&r->text, (uint8_t)add))
            return weir_error_set(err, WEIR_ENOMEM, "csv: out of memory");
        if (r->raw.len > r->o.max_record && (r->st == S_Q || r->st == S_QESC) &&
            memchr(r->raw.data, '\n', r->raw.len)) {
            /* most likely one stray quote: the first line is the bad
             * record, the lines after it are read again as records */
            size_t len = r->raw.len,
                   first = (size_t)((const uint8_t *)memchr(r->raw.data, '\n', len) - r->raw.data);
            uint8_t *copy = (uint8_t *)weir_buf_detach(&r->raw);
            if (!copy)
                return weir_error_set(err, WEIR_ENOMEM, "csv: out of memory");
            struct weir_csv_record rec = {.raw = (const char *)copy,
                                          .raw_len = first && copy[first - 1] == '\r' ? first - 1 : first,
                                          .line = r->rec_line,
                                          .malformed =
                                              "quoted field not closed within the record size limit"};
            uint64_t next_line = r->rec_line + 1;
            record_clear(r);
            rc = cb(ctx, &rec, err);
            r->line = next_line;
            if (rc == 0)
                rc = weir_csv_feed(r, (const char *)copy + first + 1, len - first - 1, false, cb, ctx, err);
            weir_free(copy);
            if (rc)
                return rc;
            continue;
        }
        if (r->raw.len > r->o.max_record) {
            char why[96];
            snprintf(why, sizeof why, "line longer than %zu bytes (only its start is kept)", r->o.max_record);
            if ((rc = deliver(r, why, cb, ctx, err)))
                return rc;
            r->st = S_SKIP;
            r->in_record = true;
        }
    }
    if (last) {
        if (r->st == S_SKIP) {
            record_clear(r);
            return 0;
        }
        const char *why =
            r->st == S_Q || r->st == S_QESC ? "quoted field not closed at the end of the file" : NULL;
        if ((rc = deliver(r, why, cb, ctx, err)))
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ values */

bool weir_csv_is_null(const struct weir_csv_options *o, const struct weir_csv_field *f)
{
    if (f->quoted)
        return false;
    if (f->n == 0)
        return true;
    const char *nv = o->null_value ? o->null_value : "";
    size_t nl = strlen(nv);
    return f->n == nl && memcmp(f->p, nv, nl) == 0;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return false;
    size_t i = s[0] == '-' || s[0] == '+';
    if (i == n)
        return false;
    for (size_t k = i; k < n; k++)
        if (s[k] < '0' || s[k] > '9')
            return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == ERANGE)
        return false;
    *out = v;
    return true;
}

static bool parse_f64(const char *s, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    const char *b = buf + (buf[0] == '+' || buf[0] == '-');
    if (strcasecmp(b, "nan") == 0 || strcasecmp(b, "inf") == 0 || strcasecmp(b, "infinity") == 0) {
        double v = b[0] == 'n' || b[0] == 'N' ? NAN : INFINITY;
        *out = buf[0] == '-' ? -v : v;
        return true;
    }
    /* digits, one '.', an exponent: nothing strtod would also take (hex, "nan(..)") */
    bool digit = false;
    for (const char *c = b; *c; c++) {
        if (*c >= '0' && *c <= '9')
            digit = true;
        else if (*c != '.' && *c != 'e' && *c != 'E' && *c != '+' && *c != '-')
            return false;
    }
    if (!digit)
        return false;
    char *end = NULL;
    double v = strtod(buf, &end);
    if (end != buf + n)
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, size_t n, bool *out)
{
    if (n == 4 && strncasecmp(s, "true", 4) == 0) {
        *out = true;
        return true;
    }
    if (n == 5 && strncasecmp(s, "false", 5) == 0) {
        *out = false;
        return true;
    }
    return false;
}

static const int64_t int_lo[] = {INT8_MIN, INT16_MIN, INT32_MIN, INT64_MIN};
static const int64_t int_hi[] = {INT8_MAX, INT16_MAX, INT32_MAX, INT64_MAX};

int weir_csv_append_value(struct weir_column *c, const struct weir_csv_options *o,
                          const struct weir_csv_field *f, char *why, size_t whycap)
{
    if (weir_csv_is_null(o, f))
        return weir_column_append_null(c);
    const char *s = f->p;
    size_t n = f->n;
    enum weir_type_kind k = c->type->kind;
    if (k != WEIR_TYPE_STRING && k != WEIR_TYPE_BINARY)
        trim(&s, &n);
    switch (k) {
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY:
        return weir_column_append_bytes(c, s, n);
    case WEIR_TYPE_BOOLEAN: {
        bool v;
        if (!parse_bool(s, n, &v))
            break;
        return weir_column_append_bool(c, v);
    }
    case WEIR_TYPE_BYTE:
    case WEIR_TYPE_SHORT:
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_LONG: {
        int64_t v;
        int w = k == WEIR_TYPE_BYTE ? 0 : k == WEIR_TYPE_SHORT ? 1 : k == WEIR_TYPE_INTEGER ? 2 : 3;
        if (!parse_i64(s, n, &v) || v < int_lo[w] || v > int_hi[w])
            break;
        return w == 0   ? weir_column_append_i8(c, (int8_t)v)
               : w == 1 ? weir_column_append_i16(c, (int16_t)v)
               : w == 2 ? weir_column_append_i32(c, (int32_t)v)
                        : weir_column_append_i64(c, v);
    }
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE: {
        double v;
        if (!parse_f64(s, n, &v))
            break;
        return k == WEIR_TYPE_FLOAT ? weir_column_append_f32(c, (float)v) : weir_column_append_f64(c, v);
    }
    case WEIR_TYPE_DECIMAL: {
        weir_i128 v;
        int r = weir_json_parse_decimal(s, n, c->type->precision, c->type->scale, &v);
        if (r == WEIR_ERANGE) {
            snprintf(why, whycap, "does not fit decimal(%d,%d)", c->type->precision, c->type->scale);
            return WEIR_EPARSE;
        }
        if (r)
            break;
        return weir_column_append_i128(c, v);
    }
    case WEIR_TYPE_DATE: {
        int32_t v;
        if (weir_json_parse_date(s, n, &v))
            break;
        return weir_column_append_i32(c, v);
    }
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ: {
        int64_t v;
        bool zone = false;
        if (weir_json_parse_timestamp(s, n, &v, &zone) || (zone && k == WEIR_TYPE_TIMESTAMP_NTZ))
            break;
        return weir_column_append_i64(c, v);
    }
    default:
        snprintf(why, whycap, "nested types cannot be read from CSV");
        return WEIR_EUNSUPPORTED;
    }
    char *t = weir_type_to_display(c->type);
    snprintf(why, whycap, "not a valid %s", t ? t : "value");
    weir_free(t);
    return WEIR_EPARSE;
}

/* ------------------------------------------------------------ inference */

enum weir_csv_kind weir_csv_infer_kind(enum weir_csv_kind have, const struct weir_csv_options *o,
                                       const struct weir_csv_field *f)
{
    if (have == WEIR_CSV_STRING || weir_csv_is_null(o, f))
        return have;
    const char *s = f->p;
    size_t n = f->n;
    trim(&s, &n);
    enum weir_csv_kind k;
    int64_t i;
    double d;
    bool b;
    if (parse_i64(s, n, &i))
        k = WEIR_CSV_LONG;
    else if (parse_f64(s, n, &d))
        k = WEIR_CSV_DOUBLE;
    else if (parse_bool(s, n, &b))
        k = WEIR_CSV_BOOL;
    else
        return WEIR_CSV_STRING;
    if (have == WEIR_CSV_NONE || have == k)
        return k;
    if ((have == WEIR_CSV_LONG && k == WEIR_CSV_DOUBLE) || (have == WEIR_CSV_DOUBLE && k == WEIR_CSV_LONG))
        return WEIR_CSV_DOUBLE;
    return WEIR_CSV_STRING;
}

struct weir_type *weir_csv_kind_type(enum weir_csv_kind k)
{
    switch (k) {
    case WEIR_CSV_BOOL:
        return weir_type_primitive(WEIR_TYPE_BOOLEAN);
    case WEIR_CSV_LONG:
        return weir_type_primitive(WEIR_TYPE_LONG);
    case WEIR_CSV_DOUBLE:
        return weir_type_primitive(WEIR_TYPE_DOUBLE);
    default:
        return weir_type_primitive(WEIR_TYPE_STRING);
    }
}
