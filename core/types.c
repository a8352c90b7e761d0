/* core/types.c - type trees, Delta schema JSON and Spark-style DDL.
 *
 * Owns every node of a type tree: a struct owns its fields (name, type,
 * metadata strings), an array its element, a map its key and value. Field
 * metadata is kept as compact JSON text copied from the input (whitespace
 * outside strings removed, everything else byte for byte), so numbers and
 * unknown keys survive a round trip unchanged. The schema reader here is a
 * recursive descent over the shared JSON tokenizer (core/json.h): strings
 * are scanned by weir_jtok_string and decoded by weir_json_unescape; values
 * it does not interpret (unknown keys, metadata) are checked by
 * weir_json_parse into one reused scratch tape. It reports byte positions and field paths and limits nesting
 * depth. Types are immutable after construction; no global state; thread-safe. */
#include "core/types.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"

#define TYPE_MAX_DEPTH 64

/* ---------------------------------------------------------------- basics */

static const char *const kind_names[] = {
    [WEIR_TYPE_BOOLEAN] = "boolean",
    [WEIR_TYPE_BYTE] = "byte",
    [WEIR_TYPE_SHORT] = "short",
    [WEIR_TYPE_INTEGER] = "integer",
    [WEIR_TYPE_LONG] = "long",
    [WEIR_TYPE_FLOAT] = "float",
    [WEIR_TYPE_DOUBLE] = "double",
    [WEIR_TYPE_DECIMAL] = "decimal",
    [WEIR_TYPE_STRING] = "string",
    [WEIR_TYPE_BINARY] = "binary",
    [WEIR_TYPE_DATE] = "date",
    [WEIR_TYPE_TIMESTAMP] = "timestamp",
    [WEIR_TYPE_TIMESTAMP_NTZ] = "timestamp_ntz",
    [WEIR_TYPE_STRUCT] = "struct",
    [WEIR_TYPE_ARRAY] = "array",
    [WEIR_TYPE_MAP] = "map",
};

const char *weir_type_kind_name(enum weir_type_kind kind)
{
    if ((int)kind < 0 || (size_t)kind >= sizeof kind_names / sizeof kind_names[0])
        return "unknown";
    return kind_names[kind];
}

bool weir_type_is_primitive(const struct weir_type *t)
{
    return t != NULL && t->kind != WEIR_TYPE_STRUCT && t->kind != WEIR_TYPE_ARRAY && t->kind != WEIR_TYPE_MAP;
}

static struct weir_type *type_new(enum weir_type_kind kind)
{
    struct weir_type *t = weir_calloc(1, sizeof *t);
    if (t != NULL)
        t->kind = kind;
    return t;
}

struct weir_type *weir_type_primitive(enum weir_type_kind kind)
{
    if (kind == WEIR_TYPE_DECIMAL)
        return weir_type_decimal(10, 0); /* Spark's default DecimalType */
    if ((int)kind < 0 || kind > WEIR_TYPE_TIMESTAMP_NTZ)
        return NULL;
    return type_new(kind);
}

struct weir_type *weir_type_decimal(int precision, int scale)
{
    if (precision < 1 || precision > 38 || scale < 0 || scale > precision)
        return NULL;
    struct weir_type *t = type_new(WEIR_TYPE_DECIMAL);
    if (t != NULL) {
        t->precision = precision;
        t->scale = scale;
    }
    return t;
}

struct weir_type *weir_type_struct(void)
{
    return type_new(WEIR_TYPE_STRUCT);
}

int weir_type_field_index(const struct weir_type *st, const char *name)
{
    if (st == NULL || st->kind != WEIR_TYPE_STRUCT || name == NULL)
        return -1;
    for (size_t i = 0; i < st->nfields; i++)
        if (strcasecmp(st->fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

int weir_type_struct_add(struct weir_type *st, const char *name, struct weir_type *type, bool nullable,
                         const char *metadata)
{
    int rc = 0;
    char *name_copy = NULL, *meta_copy = NULL;
    if (st == NULL || st->kind != WEIR_TYPE_STRUCT || name == NULL || type == NULL) {
        rc = WEIR_EINVAL;
        goto done;
    }
    if (weir_type_field_index(st, name) >= 0) {
        rc = WEIR_EEXISTS;
        goto done;
    }
    name_copy = weir_strdup(name);
    meta_copy = weir_strdup(metadata != NULL ? metadata : "{}");
    if (name_copy == NULL || meta_copy == NULL) {
        rc = WEIR_ENOMEM;
        goto done;
    }
    struct weir_field *nf = weir_realloc(st->fields, (st->nfields + 1) * sizeof *nf);
    if (nf == NULL) {
        rc = WEIR_ENOMEM;
        goto done;
    }
    st->fields = nf;
    nf[st->nfields].name = name_copy;
    nf[st->nfields].type = type;
    nf[st->nfields].nullable = nullable;
    nf[st->nfields].metadata = meta_copy;
    st->nfields++;
    return 0;
done:
    weir_free(name_copy);
    weir_free(meta_copy);
    weir_type_destroy(type);
    return rc;
}

struct weir_type *weir_type_array(struct weir_type *element, bool contains_null)
{
    if (element == NULL)
        return NULL;
    struct weir_type *t = type_new(WEIR_TYPE_ARRAY);
    if (t == NULL) {
        weir_type_destroy(element);
        return NULL;
    }
    t->element = element;
    t->contains_null = contains_null;
    return t;
}

struct weir_type *weir_type_map(struct weir_type *key, struct weir_type *value, bool value_contains_null)
{
    struct weir_type *t = NULL;
    if (key != NULL && value != NULL)
        t = type_new(WEIR_TYPE_MAP);
    if (t == NULL) {
        weir_type_destroy(key);
        weir_type_destroy(value);
        return NULL;
    }
    t->key = key;
    t->value = value;
    t->value_contains_null = value_contains_null;
    return t;
}

void weir_type_destroy(struct weir_type *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nfields; i++) {
        weir_free(t->fields[i].name);
        weir_free(t->fields[i].metadata);
        weir_type_destroy(t->fields[i].type);
    }
    weir_free(t->fields);
    weir_type_destroy(t->element);
    weir_type_destroy(t->key);
    weir_type_destroy(t->value);
    weir_free(t);
}

struct weir_type *weir_type_clone(const struct weir_type *t)
{
    if (t == NULL)
        return NULL;
    struct weir_type *c = NULL;
    switch (t->kind) {
    case WEIR_TYPE_STRUCT:
        c = weir_type_struct();
        if (c == NULL)
            return NULL;
        if (t->nfields > 0) {
            c->fields = weir_calloc(t->nfields, sizeof *c->fields);
            if (c->fields == NULL)
                goto fail;
        }
        for (size_t i = 0; i < t->nfields; i++) {
            struct weir_field *f = &c->fields[i];
            c->nfields = i + 1; /* so destroy frees what was copied so far */
            f->nullable = t->fields[i].nullable;
            f->name = weir_strdup(t->fields[i].name);
            f->metadata = weir_strdup(t->fields[i].metadata);
            f->type = weir_type_clone(t->fields[i].type);
            if (f->name == NULL || f->metadata == NULL || f->type == NULL)
                goto fail;
        }
        return c;
    case WEIR_TYPE_ARRAY:
        return weir_type_array(weir_type_clone(t->element), t->contains_null);
    case WEIR_TYPE_MAP: {
        struct weir_type *k = weir_type_clone(t->key);
        struct weir_type *v = k != NULL ? weir_type_clone(t->value) : NULL;
        if (v == NULL) {
            weir_type_destroy(k);
            return NULL;
        }
        return weir_type_map(k, v, t->value_contains_null);
    }
    default:
        c = type_new(t->kind);
        if (c != NULL) {
            c->precision = t->precision;
            c->scale = t->scale;
        }
        return c;
    }
fail:
    weir_type_destroy(c);
    return NULL;
}

bool weir_type_equal(const struct weir_type *a, const struct weir_type *b)
{
    if (a == b)
        return true;
    if (a == NULL || b == NULL || a->kind != b->kind)
        return false;
    switch (a->kind) {
    case WEIR_TYPE_DECIMAL:
        return a->precision == b->precision && a->scale == b->scale;
    case WEIR_TYPE_STRUCT:
        if (a->nfields != b->nfields)
            return false;
        for (size_t i = 0; i < a->nfields; i++) {
            if (strcmp(a->fields[i].name, b->fields[i].name) != 0 ||
                a->fields[i].nullable != b->fields[i].nullable ||
                !weir_type_equal(a->fields[i].type, b->fields[i].type))
                return false;
        }
        return true;
    case WEIR_TYPE_ARRAY:
        return a->contains_null == b->contains_null && weir_type_equal(a->element, b->element);
    case WEIR_TYPE_MAP:
        return a->value_contains_null == b->value_contains_null && weir_type_equal(a->key, b->key) &&
               weir_type_equal(a->value, b->value);
    default:
        return true;
    }
}

/* --------------------------------------------------------------- display */

static bool is_plain_ident(const char *s)
{
    if (*s == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!(isalnum(*p) || *p == '_'))
            return false;
    return true;
}

static int display_append(struct weir_buf *b, const struct weir_type *t)
{
    int rc = 0;
    switch (t->kind) {
    case WEIR_TYPE_INTEGER:
        return weir_buf_append_str(b, "int");
    case WEIR_TYPE_DECIMAL:
        return weir_buf_printf(b, "decimal(%d,%d)", t->precision, t->scale);
    case WEIR_TYPE_ARRAY:
        if ((rc = weir_buf_append_str(b, "array<")) != 0 || (rc = display_append(b, t->element)) != 0)
            return rc;
        return weir_buf_append_byte(b, '>');
    case WEIR_TYPE_MAP:
        if ((rc = weir_buf_append_str(b, "map<")) != 0 || (rc = display_append(b, t->key)) != 0 ||
            (rc = weir_buf_append_byte(b, ',')) != 0 || (rc = display_append(b, t->value)) != 0)
            return rc;
        return weir_buf_append_byte(b, '>');
    case WEIR_TYPE_STRUCT:
        if ((rc = weir_buf_append_str(b, "struct<")) != 0)
            return rc;
        for (size_t i = 0; i < t->nfields; i++) {
            const char *name = t->fields[i].name;
            if (i > 0 && (rc = weir_buf_append_byte(b, ',')) != 0)
                return rc;
            if (is_plain_ident(name)) {
                rc = weir_buf_append_str(b, name);
            } else {
                rc = weir_buf_append_byte(b, '`');
                for (const char *p = name; rc == 0 && *p; p++)
                    rc = *p == '`' ? weir_buf_append_str(b, "``") : weir_buf_append_byte(b, (uint8_t)*p);
                if (rc == 0)
                    rc = weir_buf_append_byte(b, '`');
            }
            if (rc != 0 || (rc = weir_buf_append_byte(b, ':')) != 0 ||
                (rc = display_append(b, t->fields[i].type)) != 0)
                return rc;
        }
        return weir_buf_append_byte(b, '>');
    default:
        return weir_buf_append_str(b, weir_type_kind_name(t->kind));
    }
}

char *weir_type_to_display(const struct weir_type *t)
{
    if (t == NULL)
        return NULL;
    struct weir_buf b;
    weir_buf_init(&b);
    if (display_append(&b, t) != 0) {
        weir_buf_free(&b);
        return NULL;
    }
    return weir_buf_detach(&b);
}

/* ------------------------------------------------------- JSON: emitting */

/* JSON string as Jackson (Spark) writes it: short escapes for \b \t \n \f
 * \r, \u00XX for other control characters, everything else raw. */
static int json_put_string(struct weir_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = weir_buf_append_byte(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        switch (*p) {
        case '"':
            rc = weir_buf_append_str(b, "\\\"");
            break;
        case '\\':
            rc = weir_buf_append_str(b, "\\\\");
            break;
        case '\b':
            rc = weir_buf_append_str(b, "\\b");
            break;
        case '\t':
            rc = weir_buf_append_str(b, "\\t");
            break;
        case '\n':
            rc = weir_buf_append_str(b, "\\n");
            break;
        case '\f':
            rc = weir_buf_append_str(b, "\\f");
            break;
        case '\r':
            rc = weir_buf_append_str(b, "\\r");
            break;
        default:
            if (*p < 0x20) {
                char e[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
                rc = weir_buf_append_str(b, e);
            } else {
                rc = weir_buf_append_byte(b, *p);
            }
        }
    }
    if (rc == 0)
        rc = weir_buf_append_byte(b, '"');
    return rc;
}

static int json_put_type(struct weir_buf *b, const struct weir_type *t);

/* {"name":..,"type":..,"nullable":..,"metadata":..}: Spark's key order. */
static int json_put_field(struct weir_buf *b, const struct weir_field *f, bool comma)
{
    int rc = 0;
    if (comma && (rc = weir_buf_append_byte(b, ',')) != 0)
        return rc;
    if ((rc = weir_buf_append_str(b, "{\"name\":")) != 0 || (rc = json_put_string(b, f->name)) != 0)
        return rc;
    if ((rc = weir_buf_append_str(b, ",\"type\":")) != 0 || (rc = json_put_type(b, f->type)) != 0)
        return rc;
    if ((rc = weir_buf_append_str(b, f->nullable ? ",\"nullable\":true" : ",\"nullable\":false")) != 0)
        return rc;
    if ((rc = weir_buf_append_str(b, ",\"metadata\":")) != 0 ||
        (rc = weir_buf_append_str(b, f->metadata != NULL ? f->metadata : "{}")) != 0)
        return rc;
    return weir_buf_append_byte(b, '}');
}

static int json_put_type(struct weir_buf *b, const struct weir_type *t)
{
    int rc = 0;
    switch (t->kind) {
    case WEIR_TYPE_DECIMAL:
        return weir_buf_printf(b, "\"decimal(%d,%d)\"", t->precision, t->scale);
    case WEIR_TYPE_STRUCT:
        if ((rc = weir_buf_append_str(b, "{\"type\":\"struct\",\"fields\":[")) != 0)
            return rc;
        for (size_t i = 0; i < t->nfields; i++) {
            if ((rc = json_put_field(b, &t->fields[i], i > 0)) != 0)
                return rc;
        }
        return weir_buf_append_str(b, "]}");
    case WEIR_TYPE_ARRAY:
        if ((rc = weir_buf_append_str(b, "{\"type\":\"array\",\"elementType\":")) != 0 ||
            (rc = json_put_type(b, t->element)) != 0)
            return rc;
        return weir_buf_printf(b, ",\"containsNull\":%s}", t->contains_null ? "true" : "false");
    case WEIR_TYPE_MAP:
        if ((rc = weir_buf_append_str(b, "{\"type\":\"map\",\"keyType\":")) != 0 ||
            (rc = json_put_type(b, t->key)) != 0 || (rc = weir_buf_append_str(b, ",\"valueType\":")) != 0 ||
            (rc = json_put_type(b, t->value)) != 0)
            return rc;
        return weir_buf_printf(b, ",\"valueContainsNull\":%s}", t->value_contains_null ? "true" : "false");
    default:
        return weir_buf_printf(b, "\"%s\"", weir_type_kind_name(t->kind));
    }
}

char *weir_schema_to_json(const struct weir_type *schema)
{
    if (schema == NULL)
        return NULL;
    struct weir_buf b;
    weir_buf_init(&b);
    if (json_put_type(&b, schema) != 0) {
        weir_buf_free(&b);
        return NULL;
    }
    return weir_buf_detach(&b);
}

/* ------------------------------------------------------- JSON: reading */

struct jp {
    const char *s; /* whole input, NUL-terminated */
    size_t n;      /* strlen(s) */
    size_t pos;
    struct weir_error *err;
    struct weir_buf path;         /* field path for messages, e.g. "a.element.b" */
    struct weir_json_doc scratch; /* tape for values that are only checked */
    int depth;
};

static void jp_ws(struct jp *p)
{
    p->pos = weir_json_skip_ws(p->s, p->n, p->pos);
}

static const char *jp_path(struct jp *p)
{
    return p->path.len > 0 ? (const char *)p->path.data : "<root>";
}

static int jp_fail(struct jp *p, const char *what)
{
    char near[24];
    size_t i = 0;
    for (; i < sizeof near - 1 && p->s[p->pos + i] != '\0'; i++)
        near[i] = (unsigned char)p->s[p->pos + i] < 0x20 ? ' ' : p->s[p->pos + i];
    near[i] = '\0';
    return weir_error_set(p->err, WEIR_EPARSE, "schema JSON: %s at byte %zu (field %s, near '%s')", what,
                          p->pos, jp_path(p), near);
}

static int jp_expect(struct jp *p, char c)
{
    jp_ws(p);
    if (p->s[p->pos] != c) {
        char what[32];
        snprintf(what, sizeof what, "expected '%c'", c);
        return jp_fail(p, what);
    }
    p->pos++;
    return 0;
}

/* A tokenizer error at `at`, in this parser's wording. */
static int jp_tok_fail(struct jp *p, int code, size_t at)
{
    p->pos = at;
    switch (code) {
    case WEIR_JTOK_ENOMEM:
        return weir_error_set(p->err, WEIR_ENOMEM, "schema JSON: out of memory at byte %zu", p->pos);
    case WEIR_JTOK_ENUMBER: /* report the number's first byte */
        while (p->pos > 0 && strchr("0123456789+-.eE", p->s[p->pos - 1]) != NULL)
            p->pos--;
        return jp_fail(p, "bad number");
    case WEIR_JTOK_EEND:
    case WEIR_JTOK_EVALUE:
        return jp_fail(p, "expected a JSON value");
    case WEIR_JTOK_EKEY:
        return jp_fail(p, "expected a string");
    case WEIR_JTOK_ECOLON:
        return jp_fail(p, "expected ':'");
    default:
        return jp_fail(p, weir_jtok_strerror(code));
    }
}

/* Reads a JSON string into a malloc'd, unescaped C string. Strings holding
 * NUL (\u0000) are refused: names and type names are C strings. */
static int jp_string(struct jp *p, char **out)
{
    *out = NULL;
    jp_ws(p);
    if (p->s[p->pos] != '"')
        return jp_fail(p, "expected a string");
    size_t body = p->pos + 1, end = body, bad = 0;
    int rc = weir_jtok_string(p->s, p->n, &end, 0, NULL);
    if (rc != 0)
        return jp_tok_fail(p, rc, end);
    struct weir_buf b;
    weir_buf_init(&b);
    rc = weir_json_unescape(p->s + body, end - body, WEIR_JSON_UNESCAPE_NO_NUL, &b, &bad);
    if (rc == 0 && b.data == NULL && weir_buf_reserve(&b, 1) != 0)
        rc = WEIR_JTOK_ENOMEM;
    if (rc != 0) {
        weir_buf_free(&b);
        return jp_tok_fail(p, rc, rc == WEIR_JTOK_ENOMEM ? p->pos : body + bad);
    }
    p->pos = end + 1;
    *out = weir_buf_detach(&b);
    return 0;
}

static int jp_bool(struct jp *p, bool *out)
{
    jp_ws(p);
    if (strncmp(p->s + p->pos, "true", 4) == 0) {
        *out = true;
        p->pos += 4;
        return 0;
    }
    if (strncmp(p->s + p->pos, "false", 5) == 0) {
        *out = false;
        p->pos += 5;
        return 0;
    }
    return jp_fail(p, "expected true or false");
}

/* Skips any JSON value, checking its syntax with the shared parser
 * (\u0000 is fine here; nesting counts toward the schema's depth). */
static int jp_skip(struct jp *p)
{
    jp_ws(p);
    struct weir_json_perr e;
    size_t end;
    if (weir_json_parse(&p->scratch, p->s, p->n, p->pos, WEIR_JSON_PREFIX, TYPE_MAX_DEPTH * 4 - p->depth,
                        &end, &e) != 0)
        return jp_tok_fail(p, e.code, e.pos);
    p->pos = end;
    return 0;
}

/* Copies the object value at p->pos, minus whitespace outside strings, into
 * a malloc'd string. */
static int jp_metadata(struct jp *p, char **out)
{
    *out = NULL;
    jp_ws(p);
    if (p->s[p->pos] != '{')
        return jp_fail(p, "field metadata must be a JSON object");
    size_t start = p->pos;
    int rc = jp_skip(p);
    if (rc != 0)
        return rc;
    size_t end = p->pos;
    char *m = weir_malloc(end - start + 1);
    if (m == NULL)
        return weir_error_set(p->err, WEIR_ENOMEM, "schema JSON: out of memory copying metadata of field %s",
                              jp_path(p));
    size_t n = 0;
    bool in_str = false;
    for (size_t i = start; i < end; i++) {
        char c = p->s[i];
        if (in_str) {
            m[n++] = c;
            if (c == '\\') {
                m[n++] = p->s[++i];
            } else if (c == '"') {
                in_str = false;
            }
        } else if (c == '"') {
            in_str = true;
            m[n++] = c;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            m[n++] = c;
        }
    }
    m[n] = '\0';
    *out = m;
    return 0;
}

static int jp_type(struct jp *p, struct weir_type **out);

/* Path helpers: push ".name" (or "name" at the root); pop back to len. */
static int jp_path_push(struct jp *p, const char *name)
{
    if (p->path.len > 0 && weir_buf_append_byte(&p->path, '.') != 0)
        return weir_error_set(p->err, WEIR_ENOMEM, "schema JSON: out of memory");
    if (weir_buf_append_str(&p->path, name) != 0)
        return weir_error_set(p->err, WEIR_ENOMEM, "schema JSON: out of memory");
    return 0;
}

static void jp_path_pop(struct jp *p, size_t len)
{
    p->path.len = len;
    if (p->path.data != NULL)
        p->path.data[len] = '\0';
}

/* Parses "decimal(p,s)" or "decimal" (Spark's default 10,0). Returns 1 if
 * `name` is not a decimal at all, 0 on success, an error otherwise. */
static int parse_decimal_name(const char *name, int *prec, int *scale)
{
    if (strncmp(name, "decimal", 7) != 0)
        return 1;
    const char *q = name + 7;
    if (*q == '\0') {
        *prec = 10;
        *scale = 0;
        return 0;
    }
    if (*q++ != '(')
        return 1;
    char *end;
    while (*q == ' ')
        q++;
    long pr = strtol(q, &end, 10);
    if (end == q)
        return WEIR_EPARSE;
    q = end;
    while (*q == ' ')
        q++;
    if (*q++ != ',')
        return WEIR_EPARSE;
    while (*q == ' ')
        q++;
    long sc = strtol(q, &end, 10);
    if (end == q)
        return WEIR_EPARSE;
    q = end;
    while (*q == ' ')
        q++;
    if (*q++ != ')' || *q != '\0')
        return WEIR_EPARSE;
    if (pr < 1 || pr > 38 || sc < 0 || sc > pr)
        return WEIR_ERANGE;
    *prec = (int)pr;
    *scale = (int)sc;
    return 0;
}

static int jp_primitive_name(struct jp *p, const char *name, size_t at, struct weir_type **out)
{
    for (int k = 0; k <= WEIR_TYPE_TIMESTAMP_NTZ; k++) {
        if (k != WEIR_TYPE_DECIMAL && strcmp(name, kind_names[k]) == 0) {
            *out = type_new((enum weir_type_kind)k);
            if (*out == NULL)
                return weir_error_set(p->err, WEIR_ENOMEM, "schema JSON: out of memory");
            return 0;
        }
    }
    int prec = 0, scale = 0;
    int rc = parse_decimal_name(name, &prec, &scale);
    if (rc == 0) {
        *out = weir_type_decimal(prec, scale);
        if (*out == NULL)
            return weir_error_set(p->err, WEIR_ENOMEM, "schema JSON: out of memory");
        return 0;
    }
    if (rc == WEIR_ERANGE)
        return weir_error_set(p->err, WEIR_ERANGE,
                              "schema JSON: bad decimal type \"%s\" for field %s at byte %zu "
                              "(precision 1..38, scale 0..precision)",
                              name, jp_path(p), at);
    if (rc == WEIR_EPARSE)
        return weir_error_set(p->err, WEIR_EPARSE,
                              "schema JSON: malformed decimal type \"%s\" for field %s at byte %zu", name,
                              jp_path(p), at);
    return weir_error_set(p->err, WEIR_EUNSUPPORTED,
                          "schema JSON: unsupported type \"%s\" for field %s at byte %zu", name, jp_path(p),
                          at);
}

/* One element of "fields": {"name":..,"type":..,"nullable":..,"metadata":..}. */
/* After an object member: 1 at ',' (another member follows), 0 at '}' (the
 * object ended), or a parse error naming `what`. Consumes the separator. */
static int jp_next_member(struct jp *p, const char *what)
{
    jp_ws(p);
    char c = p->s[p->pos];
    if (c == ',' || c == '}') {
        p->pos++;
        return c == ',';
    }
    char msg[64];
    snprintf(msg, sizeof msg, "expected ',' or '}' in %s", what);
    return jp_fail(p, msg);
}

static int jp_field(struct jp *p, struct weir_type *st)
{
    int rc = 0;
    char *name = NULL, *key = NULL, *meta = NULL;
    struct weir_type *type = NULL;
    bool nullable = true; /* Spark always writes it; absent means true */
    size_t path_len = p->path.len;
    size_t start = p->pos;
    if ((rc = jp_expect(p, '{')) != 0)
        goto done;
    jp_ws(p);
    if (p->s[p->pos] == '}') {
        p->pos++;
        goto check;
    }
    for (;;) {
        if ((rc = jp_string(p, &key)) != 0 || (rc = jp_expect(p, ':')) != 0)
            goto done;
        jp_ws(p);
        if (strcmp(key, "name") == 0) {
            weir_free(name);
            name = NULL;
            if ((rc = jp_string(p, &name)) != 0)
                goto done;
        } else if (strcmp(key, "type") == 0) {
            weir_type_destroy(type);
            type = NULL;
            /* The name may come after the type; the path then says "?". */
            jp_path_pop(p, path_len);
            if ((rc = jp_path_push(p, name != NULL ? name : "?")) != 0 || (rc = jp_type(p, &type)) != 0)
                goto done;
            jp_path_pop(p, path_len);
        } else if (strcmp(key, "nullable") == 0) {
            if ((rc = jp_bool(p, &nullable)) != 0)
                goto done;
        } else if (strcmp(key, "metadata") == 0) {
            weir_free(meta);
            meta = NULL;
            if ((rc = jp_metadata(p, &meta)) != 0)
                goto done;
        } else if ((rc = jp_skip(p)) != 0) {
            goto done;
        }
        weir_free(key);
        key = NULL;
        if ((rc = jp_next_member(p, "field")) <= 0)
            break;
        rc = 0;
    }
    if (rc < 0)
        goto done;
check:
    if (name == NULL || type == NULL) {
        rc = weir_error_set(p->err, WEIR_EPARSE, "schema JSON: field at byte %zu (in %s) lacks \"%s\"", start,
                            jp_path(p), name == NULL ? "name" : "type");
        goto done;
    }
    if (name[0] == '\0') {
        rc = weir_error_set(p->err, WEIR_ESCHEMA, "schema JSON: field at byte %zu (in %s) has an empty name",
                            start, jp_path(p));
        goto done;
    }
    rc = weir_type_struct_add(st, name, type, nullable, meta);
    type = NULL; /* owned by st now, or freed */
    if (rc == WEIR_EEXISTS)
        rc = weir_error_set(p->err, WEIR_ESCHEMA,
                            "schema JSON: duplicate field name \"%s\" in %s (names are case-insensitive)",
                            name, jp_path(p));
    else if (rc != 0)
        rc = weir_error_set(p->err, rc, "schema JSON: cannot add field \"%s\": %s", name, weir_strerror(rc));
done:
    jp_path_pop(p, path_len);
    weir_free(name);
    weir_free(key);
    weir_free(meta);
    weir_type_destroy(type);
    return rc;
}

static int jp_fields(struct jp *p, struct weir_type *st)
{
    int rc = jp_expect(p, '[');
    if (rc != 0)
        return rc;
    jp_ws(p);
    if (p->s[p->pos] == ']') {
        p->pos++;
        return 0;
    }
    for (;;) {
        if ((rc = jp_field(p, st)) != 0)
            return rc;
        jp_ws(p);
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == ']') {
            p->pos++;
            return 0;
        }
        return jp_fail(p, "expected ',' or ']' in fields");
    }
}

/* A type: a string (primitive) or an object (struct, array, map). */
static int jp_type(struct jp *p, struct weir_type **out)
{
    int rc = 0;
    char *tname = NULL, *key = NULL;
    struct weir_type *st = NULL, *elem = NULL, *ktype = NULL, *vtype = NULL;
    bool contains_null = true, value_contains_null = true, have_fields = false;
    size_t path_len = p->path.len;
    *out = NULL;
    if (++p->depth > TYPE_MAX_DEPTH) {
        rc = jp_fail(p, "types nested too deeply");
        goto done;
    }
    jp_ws(p);
    size_t at = p->pos;
    if (p->s[p->pos] == '"') {
        if ((rc = jp_string(p, &tname)) != 0)
            goto done;
        rc = jp_primitive_name(p, tname, at, out);
        goto done;
    }
    if (p->s[p->pos] != '{') {
        rc = jp_fail(p, "expected a type (string or object)");
        goto done;
    }
    p->pos++;
    jp_ws(p);
    if (p->s[p->pos] == '}') {
        rc = jp_fail(p, "type object lacks \"type\"");
        goto done;
    }
    st = weir_type_struct();
    if (st == NULL) {
        rc = weir_error_set(p->err, WEIR_ENOMEM, "schema JSON: out of memory");
        goto done;
    }
    for (;;) {
        if ((rc = jp_string(p, &key)) != 0 || (rc = jp_expect(p, ':')) != 0)
            goto done;
        jp_ws(p);
        if (strcmp(key, "type") == 0) {
            weir_free(tname);
            tname = NULL;
            at = p->pos;
            if ((rc = jp_string(p, &tname)) != 0)
                goto done;
        } else if (strcmp(key, "fields") == 0) {
            if (have_fields) {
                rc = jp_fail(p, "duplicate \"fields\"");
                goto done;
            }
            have_fields = true;
            if ((rc = jp_fields(p, st)) != 0)
                goto done;
        } else if (strcmp(key, "elementType") == 0) {
            weir_type_destroy(elem);
            elem = NULL;
            if ((rc = jp_path_push(p, "element")) != 0 || (rc = jp_type(p, &elem)) != 0)
                goto done;
            jp_path_pop(p, path_len);
        } else if (strcmp(key, "keyType") == 0) {
            weir_type_destroy(ktype);
            ktype = NULL;
            if ((rc = jp_path_push(p, "key")) != 0 || (rc = jp_type(p, &ktype)) != 0)
                goto done;
            jp_path_pop(p, path_len);
        } else if (strcmp(key, "valueType") == 0) {
            weir_type_destroy(vtype);
            vtype = NULL;
            if ((rc = jp_path_push(p, "value")) != 0 || (rc = jp_type(p, &vtype)) != 0)
                goto done;
            jp_path_pop(p, path_len);
        } else if (strcmp(key, "containsNull") == 0) {
            if ((rc = jp_bool(p, &contains_null)) != 0)
                goto done;
        } else if (strcmp(key, "valueContainsNull") == 0) {
            if ((rc = jp_bool(p, &value_contains_null)) != 0)
                goto done;
        } else if ((rc = jp_skip(p)) != 0) {
            goto done;
        }
        weir_free(key);
        key = NULL;
        if ((rc = jp_next_member(p, "type")) <= 0)
            break;
        rc = 0;
    }
    if (rc < 0)
        goto done;
    if (tname == NULL) {
        rc = weir_error_set(p->err, WEIR_EPARSE,
                            "schema JSON: type object at byte %zu (field %s) lacks \"type\"", at, jp_path(p));
        goto done;
    }
    if (strcmp(tname, "struct") == 0) {
        if (!have_fields) {
            rc =
                weir_error_set(p->err, WEIR_EPARSE,
                               "schema JSON: struct at byte %zu (field %s) lacks \"fields\"", at, jp_path(p));
            goto done;
        }
        *out = st;
        st = NULL;
    } else if (strcmp(tname, "array") == 0) {
        if (elem == NULL) {
            rc = weir_error_set(p->err, WEIR_EPARSE,
                                "schema JSON: array at byte %zu (field %s) lacks \"elementType\"", at,
                                jp_path(p));
            goto done;
        }
        *out = weir_type_array(elem, contains_null);
        elem = NULL;
        if (*out == NULL)
            rc = weir_error_set(p->err, WEIR_ENOMEM, "schema JSON: out of memory");
    } else if (strcmp(tname, "map") == 0) {
        if (ktype == NULL || vtype == NULL) {
            rc = weir_error_set(p->err, WEIR_EPARSE, "schema JSON: map at byte %zu (field %s) lacks \"%s\"",
                                at, jp_path(p), ktype == NULL ? "keyType" : "valueType");
            goto done;
        }
        *out = weir_type_map(ktype, vtype, value_contains_null);
        ktype = vtype = NULL;
        if (*out == NULL)
            rc = weir_error_set(p->err, WEIR_ENOMEM, "schema JSON: out of memory");
    } else {
        rc = weir_error_set(p->err, WEIR_EUNSUPPORTED,
                            "schema JSON: unsupported type \"%s\" for field %s at byte %zu", tname,
                            jp_path(p), at);
    }
done:
    p->depth--;
    jp_path_pop(p, path_len);
    weir_free(tname);
    weir_free(key);
    weir_type_destroy(st);
    weir_type_destroy(elem);
    weir_type_destroy(ktype);
    weir_type_destroy(vtype);
    return rc;
}

int weir_schema_from_json(const char *json, struct weir_type **out, struct weir_error *err)
{
    int rc = 0;
    struct weir_type *t = NULL;
    struct jp p = {.s = json, .n = json != NULL ? strlen(json) : 0, .pos = 0, .err = err, .depth = 0};
    weir_buf_init(&p.path);
    *out = NULL;
    if (json == NULL) {
        rc = weir_error_set(err, WEIR_EINVAL, "schema JSON: no text");
        goto done;
    }
    if ((rc = jp_type(&p, &t)) != 0)
        goto done;
    jp_ws(&p);
    if (p.s[p.pos] != '\0') {
        rc = jp_fail(&p, "trailing characters after schema");
        goto done;
    }
    if (t->kind != WEIR_TYPE_STRUCT) {
        rc = weir_error_set(err, WEIR_ESCHEMA, "schema JSON: top-level type is %s, expected struct",
                            weir_type_kind_name(t->kind));
        goto done;
    }
    *out = t;
    t = NULL;
done:
    weir_type_destroy(t);
    weir_json_doc_free(&p.scratch);
    weir_buf_free(&p.path);
    return rc;
}

/* --------------------------------------------------------------- DDL */

struct dp {
    const char *s;
    size_t pos;
    struct weir_error *err;
    int depth;
    char path[256]; /* column path for messages, e.g. "loc.lat" (truncated) */
    size_t path_len;
};

static void dp_ws(struct dp *p)
{
    while (isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

static int dp_fail(struct dp *p, int code, const char *what)
{
    char near[24];
    size_t i = 0;
    for (; i < sizeof near - 1 && p->s[p->pos + i] != '\0'; i++)
        near[i] = (unsigned char)p->s[p->pos + i] < 0x20 ? ' ' : p->s[p->pos + i];
    near[i] = '\0';
    if (near[0] == '\0')
        return weir_error_set(p->err, code, "schema DDL: %s at position %zu (end of text)", what, p->pos);
    return weir_error_set(p->err, code, "schema DDL: %s at position %zu (near '%s')", what, p->pos, near);
}

static bool ident_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c >= 0x80;
}

/* An identifier: a run of letters, digits, '_' (and non-ASCII bytes), or a
 * `back-quoted` name where `` stands for one backquote. */
static int dp_ident(struct dp *p, char **out, const char *what)
{
    *out = NULL;
    dp_ws(p);
    if (p->s[p->pos] == '`') {
        struct weir_buf b;
        weir_buf_init(&b);
        size_t start = p->pos++;
        for (;;) {
            char c = p->s[p->pos];
            if (c == '\0') {
                weir_buf_free(&b);
                p->pos = start;
                return dp_fail(p, WEIR_EPARSE, "unterminated `quoted name`");
            }
            if (c == '`') {
                if (p->s[p->pos + 1] != '`') {
                    p->pos++;
                    break;
                }
                p->pos++;
            }
            if (weir_buf_append_byte(&b, (uint8_t)c) != 0) {
                weir_buf_free(&b);
                return weir_error_set(p->err, WEIR_ENOMEM, "schema DDL: out of memory");
            }
            p->pos++;
        }
        if (b.len == 0) {
            weir_buf_free(&b);
            p->pos = start;
            return dp_fail(p, WEIR_EPARSE, "empty `quoted name`");
        }
        *out = weir_buf_detach(&b);
        return 0;
    }
    size_t start = p->pos;
    while (ident_char((unsigned char)p->s[p->pos]))
        p->pos++;
    if (p->pos == start) {
        char msg[64];
        snprintf(msg, sizeof msg, "expected %s", what);
        return dp_fail(p, WEIR_EPARSE, msg);
    }
    *out = weir_strndup(p->s + start, p->pos - start);
    if (*out == NULL)
        return weir_error_set(p->err, WEIR_ENOMEM, "schema DDL: out of memory");
    return 0;
}

/* Case-insensitive keyword at pos followed by a non-identifier char. */
static bool dp_keyword(struct dp *p, const char *kw)
{
    dp_ws(p);
    size_t n = strlen(kw);
    if (strncasecmp(p->s + p->pos, kw, n) != 0 || ident_char((unsigned char)p->s[p->pos + n]))
        return false;
    p->pos += n;
    return true;
}

static int dp_int(struct dp *p, long *out)
{
    dp_ws(p);
    size_t start = p->pos;
    long v = 0;
    while (isdigit((unsigned char)p->s[p->pos]) && v < 1000000)
        v = v * 10 + (p->s[p->pos++] - '0');
    if (p->pos == start)
        return dp_fail(p, WEIR_EPARSE, "expected a number");
    *out = v;
    return 0;
}

static int dp_expect(struct dp *p, char c)
{
    dp_ws(p);
    if (p->s[p->pos] != c) {
        char msg[32];
        snprintf(msg, sizeof msg, "expected '%c'", c);
        return dp_fail(p, WEIR_EPARSE, msg);
    }
    p->pos++;
    return 0;
}

struct ddl_alias {
    const char *name;
    enum weir_type_kind kind;
};

static const struct ddl_alias ddl_aliases[] = {
    {"boolean", WEIR_TYPE_BOOLEAN},
    {"bool", WEIR_TYPE_BOOLEAN},
    {"tinyint", WEIR_TYPE_BYTE},
    {"byte", WEIR_TYPE_BYTE},
    {"smallint", WEIR_TYPE_SHORT},
    {"short", WEIR_TYPE_SHORT},
    {"int", WEIR_TYPE_INTEGER},
    {"integer", WEIR_TYPE_INTEGER},
    {"bigint", WEIR_TYPE_LONG},
    {"long", WEIR_TYPE_LONG},
    {"float", WEIR_TYPE_FLOAT},
    {"real", WEIR_TYPE_FLOAT},
    {"double", WEIR_TYPE_DOUBLE},
    {"string", WEIR_TYPE_STRING},
    {"binary", WEIR_TYPE_BINARY},
    {"date", WEIR_TYPE_DATE},
    {"timestamp", WEIR_TYPE_TIMESTAMP},
    {"timestamp_ltz", WEIR_TYPE_TIMESTAMP},
    {"timestamp_ntz", WEIR_TYPE_TIMESTAMP_NTZ},
};

static int dp_type(struct dp *p, struct weir_type **out);
static int dp_fields(struct dp *p, struct weir_type *st, char close);

static int dp_type(struct dp *p, struct weir_type **out)
{
    int rc = 0;
    char *name = NULL;
    struct weir_type *a = NULL, *b = NULL;
    *out = NULL;
    if (++p->depth > TYPE_MAX_DEPTH) {
        rc = dp_fail(p, WEIR_EPARSE, "types nested too deeply");
        goto done;
    }
    dp_ws(p);
    size_t at = p->pos;
    if ((rc = dp_ident(p, &name, "a type name")) != 0)
        goto done;
    for (size_t i = 0; i < sizeof ddl_aliases / sizeof ddl_aliases[0]; i++) {
        if (strcasecmp(name, ddl_aliases[i].name) == 0) {
            *out = type_new(ddl_aliases[i].kind);
            goto made;
        }
    }
    if (strcasecmp(name, "decimal") == 0 || strcasecmp(name, "dec") == 0 ||
        strcasecmp(name, "numeric") == 0) {
        long prec = 10, scale = 0;
        dp_ws(p);
        if (p->s[p->pos] == '(') {
            p->pos++;
            if ((rc = dp_int(p, &prec)) != 0)
                goto done;
            dp_ws(p);
            if (p->s[p->pos] == ',') {
                p->pos++;
                if ((rc = dp_int(p, &scale)) != 0)
                    goto done;
            }
            if ((rc = dp_expect(p, ')')) != 0)
                goto done;
        }
        if (prec < 1 || prec > 38 || scale > prec) {
            size_t save = p->pos;
            p->pos = at;
            rc = dp_fail(p, WEIR_ERANGE, "decimal precision must be 1..38 and scale 0..precision");
            p->pos = save;
            goto done;
        }
        *out = weir_type_decimal((int)prec, (int)scale);
        goto made;
    }
    if (strcasecmp(name, "varchar") == 0 || strcasecmp(name, "char") == 0) {
        long len = 0;
        if ((rc = dp_expect(p, '(')) != 0 || (rc = dp_int(p, &len)) != 0 || (rc = dp_expect(p, ')')) != 0)
            goto done;
        *out = type_new(WEIR_TYPE_STRING); /* stored as string, as Delta does */
        goto made;
    }
    if (strcasecmp(name, "array") == 0) {
        if ((rc = dp_expect(p, '<')) != 0 || (rc = dp_type(p, &a)) != 0 || (rc = dp_expect(p, '>')) != 0)
            goto done;
        *out = weir_type_array(a, true);
        a = NULL;
        goto made;
    }
    if (strcasecmp(name, "map") == 0) {
        if ((rc = dp_expect(p, '<')) != 0 || (rc = dp_type(p, &a)) != 0 || (rc = dp_expect(p, ',')) != 0 ||
            (rc = dp_type(p, &b)) != 0 || (rc = dp_expect(p, '>')) != 0)
            goto done;
        *out = weir_type_map(a, b, true);
        a = b = NULL;
        goto made;
    }
    if (strcasecmp(name, "struct") == 0) {
        if ((rc = dp_expect(p, '<')) != 0)
            goto done;
        a = weir_type_struct();
        if (a == NULL) {
            rc = weir_error_set(p->err, WEIR_ENOMEM, "schema DDL: out of memory");
            goto done;
        }
        dp_ws(p);
        if (p->s[p->pos] == '>') {
            p->pos++;
        } else if ((rc = dp_fields(p, a, '>')) != 0 || (rc = dp_expect(p, '>')) != 0) {
            goto done;
        }
        *out = a;
        a = NULL;
        goto made;
    }
    {
        size_t save = p->pos;
        p->pos = at;
        char msg[200];
        snprintf(msg, sizeof msg, "unsupported type '%.60s' for column %.80s", name, p->path);
        rc = dp_fail(p, WEIR_EUNSUPPORTED, msg);
        p->pos = save;
        goto done;
    }
made:
    if (*out == NULL)
        rc = weir_error_set(p->err, WEIR_ENOMEM, "schema DDL: out of memory");
done:
    p->depth--;
    weir_free(name);
    weir_type_destroy(a);
    weir_type_destroy(b);
    return rc;
}

/* A 'quoted' or "quoted" comment; '' or \x escapes one character. */
static int dp_comment(struct dp *p, char **out)
{
    *out = NULL;
    dp_ws(p);
    char q = p->s[p->pos];
    if (q != '\'' && q != '"')
        return dp_fail(p, WEIR_EPARSE, "expected a quoted comment");
    size_t start = p->pos++;
    struct weir_buf b;
    weir_buf_init(&b);
    for (;;) {
        char c = p->s[p->pos];
        if (c == '\0') {
            weir_buf_free(&b);
            p->pos = start;
            return dp_fail(p, WEIR_EPARSE, "unterminated comment string");
        }
        if (c == q) {
            if (p->s[p->pos + 1] != q) {
                p->pos++;
                break;
            }
            p->pos++;
        } else if (c == '\\' && p->s[p->pos + 1] != '\0') {
            p->pos++;
            c = p->s[p->pos];
        }
        if (weir_buf_append_byte(&b, (uint8_t)c) != 0) {
            weir_buf_free(&b);
            return weir_error_set(p->err, WEIR_ENOMEM, "schema DDL: out of memory");
        }
        p->pos++;
    }
    if (b.data == NULL && weir_buf_reserve(&b, 0) != 0)
        return weir_error_set(p->err, WEIR_ENOMEM, "schema DDL: out of memory");
    *out = weir_buf_detach(&b);
    return 0;
}

/* name [:] type [NOT NULL] [COMMENT 'text'] {, ...} up to `close` or end. */
static int dp_fields(struct dp *p, struct weir_type *st, char close)
{
    int rc = 0;
    char *name = NULL, *comment = NULL, *meta = NULL;
    struct weir_type *t = NULL;
    for (;;) {
        dp_ws(p);
        size_t name_at = p->pos;
        if ((rc = dp_ident(p, &name, "a column name")) != 0)
            goto done;
        dp_ws(p);
        if (p->s[p->pos] == ':')
            p->pos++;
        size_t path_len = p->path_len;
        snprintf(p->path + path_len, sizeof p->path - path_len, "%s%s", path_len > 0 ? "." : "", name);
        p->path_len = strlen(p->path);
        rc = dp_type(p, &t);
        p->path_len = path_len;
        p->path[path_len] = '\0';
        if (rc != 0)
            goto done;
        bool nullable = true;
        for (;;) {
            if (dp_keyword(p, "not")) {
                if (!dp_keyword(p, "null")) {
                    rc = dp_fail(p, WEIR_EPARSE, "expected NULL after NOT");
                    goto done;
                }
                nullable = false;
            } else if (dp_keyword(p, "comment")) {
                weir_free(comment);
                if ((rc = dp_comment(p, &comment)) != 0)
                    goto done;
            } else {
                break;
            }
        }
        if (comment != NULL) {
            struct weir_buf mb;
            weir_buf_init(&mb);
            if (weir_buf_append_str(&mb, "{\"comment\":") != 0 || json_put_string(&mb, comment) != 0 ||
                weir_buf_append_byte(&mb, '}') != 0) {
                weir_buf_free(&mb);
                rc = weir_error_set(p->err, WEIR_ENOMEM, "schema DDL: out of memory");
                goto done;
            }
            meta = weir_buf_detach(&mb);
        }
        rc = weir_type_struct_add(st, name, t, nullable, meta);
        t = NULL;
        if (rc == WEIR_EEXISTS) {
            p->pos = name_at;
            char msg[160];
            snprintf(msg, sizeof msg, "duplicate column name '%.100s' (names are case-insensitive)", name);
            rc = dp_fail(p, WEIR_ESCHEMA, msg);
            goto done;
        }
        if (rc != 0) {
            rc =
                weir_error_set(p->err, rc, "schema DDL: cannot add column '%s': %s", name, weir_strerror(rc));
            goto done;
        }
        weir_free(name);
        weir_free(comment);
        weir_free(meta);
        name = comment = meta = NULL;
        dp_ws(p);
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == close)
            break;
        rc = dp_fail(p, WEIR_EPARSE, close == '\0' ? "expected ',' or end of schema" : "expected ',' or '>'");
        goto done;
    }
done:
    weir_free(name);
    weir_free(comment);
    weir_free(meta);
    weir_type_destroy(t);
    return rc;
}

int weir_schema_from_ddl(const char *ddl, struct weir_type **out, struct weir_error *err)
{
    int rc = 0;
    struct weir_type *st = NULL;
    struct dp p = {.s = ddl, .pos = 0, .err = err, .depth = 0};
    *out = NULL;
    if (ddl == NULL) {
        rc = weir_error_set(err, WEIR_EINVAL, "schema DDL: no text");
        goto done;
    }
    dp_ws(&p);
    if (p.s[p.pos] == '\0') {
        rc = weir_error_set(err, WEIR_EPARSE, "schema DDL: empty schema");
        goto done;
    }
    st = weir_type_struct();
    if (st == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "schema DDL: out of memory");
        goto done;
    }
    if ((rc = dp_fields(&p, st, '\0')) != 0)
        goto done;
    *out = st;
    st = NULL;
done:
    weir_type_destroy(st);
    return rc;
}

int weir_schema_parse(const char *text, struct weir_type **out, struct weir_error *err)
{
    if (text == NULL) {
        *out = NULL;
        return weir_error_set(err, WEIR_EINVAL, "schema: no text");
    }
    const char *q = text;
    while (isspace((unsigned char)*q))
        q++;
    if (*q == '{')
        return weir_schema_from_json(text, out, err);
    return weir_schema_from_ddl(text, out, err);
}
