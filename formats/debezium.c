/* formats/debezium.c - Debezium change events -> per-table batches.
 *
 * Owns the decoder (formats/debezium.h): the tables seen so far, each with
 * its row columns (name, Delta type), key names, the topic it last came
 * from, a cache of the last envelope schema it parsed, and its pending
 * batch; plus the finished batches not yet taken (a table whose schema grew
 * finishes its batch first).
 *
 * One event is decoded in two passes, so a bad event leaves no trace:
 *   1. parse key and value (core/json.h tape), find the table, convert
 *      every member of the row image into a staged value of its column's
 *      type (new columns are staged as pending);
 *   2. only then: add the pending columns / new key names to the table
 *      (finishing its batch when the schema changes) and append the row.
 * Strings of pass 1 point into the input or into `arena`, which is
 * reserved up front to the input's size, so pointers stay valid.
 *
 * Envelope schemas repeat in every message: a table keeps the bytes of the
 * last row schema it parsed and its column descriptors, and only parses
 * again when the bytes differ. */
#include "formats/debezium.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "formats/json.h"

#define MAX_DEPTH 64
#define TS_SPAN   10000000000000LL /* 10^13: ts_ms below, position above */

/* How a value is written in the event (from the envelope's schema). */
enum lkind {
    LK_NONE = 0, /* no schema: read by the column's type */
    LK_BOOL,
    LK_I8,
    LK_I16,
    LK_I32,
    LK_I64,
    LK_F32,
    LK_F64,
    LK_STRING,
    LK_BYTES,
    LK_DECIMAL, /* base64 unscaled, scale in parameters */
    LK_VARDEC,  /* {"scale": s, "value": base64} */
    LK_DATE,    /* days */
    LK_TIME_MS,
    LK_TIME_US,
    LK_TIME_NS,
    LK_TS_MS,
    LK_TS_US,
    LK_TS_NS,
    LK_ZONED_TS, /* ISO text */
    LK_COMPLEX,  /* array, map, struct: kept as JSON text */
};

/* A row column described by an envelope schema. */
struct evcol {
    char *name;
    enum lkind lk;
    int precision, scale; /* LK_DECIMAL */
};

struct dtable {
    char *db, *schema, *table; /* schema NULL when the source has none (MySQL) */
    char *topic;               /* last topic its events came from */
    struct weir_type *row;     /* the row columns (STRUCT) */
    char **keys;
    size_t nkeys;
    struct weir_type *outs; /* row + metadata (+ _rescued_data) */
    struct weir_batch *b;   /* pending rows, NULL when none */
    /* the last envelope row schema parsed, and what it said */
    char *sig;
    size_t sig_len;
    struct evcol *ev;
    size_t nev;
    size_t hint; /* member i usually is column hint+... */
};

/* A staged value of pass 1. */
struct sval {
    bool set, null;
    int64_t i;
    double f;
    weir_i128 dec;
    const uint8_t *p;
    size_t n;
};

/* A column to add to the table if the event decodes. */
struct pending {
    const char *name;
    size_t name_len;
    struct weir_type *type;
};

struct weir_dbz_decoder {
    struct weir_dbz_options o;
    struct weir_type *decl; /* declared row columns, or NULL */
    struct dtable **tables;
    size_t ntables, tcap;
    size_t last; /* index of the last table used */
    struct weir_batch **ready;
    size_t nready, rcap;
    struct weir_json_doc vdoc, kdoc, sdoc;
    struct weir_buf arena;   /* unescaped strings, formatted values of one event */
    struct weir_buf tmp;     /* base64 bytes */
    struct weir_buf rescued; /* members set aside */
    struct sval *vals;
    size_t vcap;
    struct pending *pend;
    size_t npend, pcap;
};

static const char *const META_NAMES[WEIR_DBZ_NMETA] = {
    "__op",        "__seq",      "__source_db", "__source_schema", "__source_table",
    "__source_ts", "__position", "__tx_id",     "__snapshot",      "__ts",
};
enum { M_OP, M_SEQ, M_DB, M_SCHEMA, M_TABLE, M_SOURCE_TS, M_POSITION, M_TX, M_SNAPSHOT, M_TS };

void weir_dbz_options_default(struct weir_dbz_options *o)
{
    memset(o, 0, sizeof *o);
}

/* ------------------------------------------------------------ tables */

static void table_free(struct dtable *t)
{
    if (t == NULL)
        return;
    weir_free(t->db);
    weir_free(t->schema);
    weir_free(t->table);
    weir_free(t->topic);
    weir_type_destroy(t->row);
    for (size_t i = 0; i < t->nkeys; i++)
        weir_free(t->keys[i]);
    weir_free(t->keys);
    weir_type_destroy(t->outs);
    weir_batch_destroy(t->b);
    weir_free(t->sig);
    for (size_t i = 0; i < t->nev; i++)
        weir_free(t->ev[i].name);
    weir_free(t->ev);
    weir_free(t);
}

void weir_dbz_decoder_destroy(struct weir_dbz_decoder *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->ntables; i++)
        table_free(d->tables[i]);
    weir_free(d->tables);
    for (size_t i = 0; i < d->nready; i++)
        weir_batch_destroy(d->ready[i]);
    weir_free(d->ready);
    weir_json_doc_free(&d->vdoc);
    weir_json_doc_free(&d->kdoc);
    weir_json_doc_free(&d->sdoc);
    weir_buf_free(&d->arena);
    weir_buf_free(&d->tmp);
    weir_buf_free(&d->rescued);
    weir_free(d->vals);
    weir_free(d->pend);
    weir_type_destroy(d->decl);
    weir_free(d);
}

static bool reserved(const uint8_t *p, size_t n);

int weir_dbz_decoder_create(struct weir_dbz_decoder **out, const struct weir_dbz_options *o,
                            struct weir_error *err)
{
    struct weir_dbz_decoder *d = weir_calloc(1, sizeof *d);
    *out = NULL;
    if (d == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "debezium decoder: out of memory");
    if (o != NULL)
        d->o = *o;
    d->o.schema = NULL;
    weir_buf_init(&d->arena);
    weir_buf_init(&d->tmp);
    weir_buf_init(&d->rescued);
    if (o != NULL && o->schema != NULL) {
        const struct weir_type *s = o->schema;
        if (s->kind != WEIR_TYPE_STRUCT || s->nfields == 0) {
            weir_dbz_decoder_destroy(d);
            return weir_error_set(err, WEIR_ESCHEMA, "debezium decoder: the schema must list columns");
        }
        for (size_t i = 0; i < s->nfields; i++) {
            const char *n = s->fields[i].name;
            if (!weir_type_is_primitive(s->fields[i].type)) {
                weir_dbz_decoder_destroy(d);
                return weir_error_set(err, WEIR_EUNSUPPORTED,
                                      "debezium decoder: column '%s': nested types are not supported "
                                      "(declare it STRING to keep its JSON text)",
                                      n);
            }
            if (reserved((const uint8_t *)n, strlen(n))) {
                weir_dbz_decoder_destroy(d);
                return weir_error_set(err, WEIR_ESCHEMA, "debezium decoder: column '%s' is a reserved name",
                                      n);
            }
        }
        if ((d->decl = weir_type_clone(s)) == NULL) {
            weir_dbz_decoder_destroy(d);
            return weir_error_set(err, WEIR_ENOMEM, "debezium decoder: out of memory");
        }
        for (size_t i = 0; i < d->decl->nfields; i++)
            d->decl->fields[i].nullable = true;
    }
    *out = d;
    return 0;
}

static bool same_str(const char *a, const uint8_t *p, size_t n)
{
    if (a == NULL)
        return p == NULL;
    return p != NULL && strlen(a) == n && memcmp(a, p, n) == 0;
}

static char *dup_n(const uint8_t *p, size_t n)
{
    if (p == NULL)
        return NULL;
    char *s = weir_malloc(n + 1);
    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

/* The JSON text of the __op field's metadata. */
static int table_meta(const struct dtable *t, struct weir_buf *b)
{
    int rc = weir_buf_append_str(b, "{\"" WEIR_DBZ_META_KEY "\":{\"db\":");
    const char *parts[3] = {t->db, t->schema, t->table};
    const char *names[3] = {"db", "schema", "table"};
    for (int i = 0; i < 3 && rc == 0; i++) {
        if (i > 0)
            rc = weir_buf_printf(b, ",\"%s\":", names[i]);
        if (rc == 0)
            rc = parts[i] ? weir_json_append_string(b, parts[i], strlen(parts[i]))
                          : weir_buf_append_str(b, "null");
    }
    if (rc == 0)
        rc = weir_buf_append_str(b, ",\"keys\":[");
    for (size_t k = 0; k < t->nkeys && rc == 0; k++) {
        if (k > 0)
            rc = weir_buf_append_byte(b, ',');
        if (rc == 0)
            rc = weir_json_append_string(b, t->keys[k], strlen(t->keys[k]));
    }
    if (rc == 0)
        rc = weir_buf_append_str(b, "]}}");
    if (rc == 0)
        rc = weir_buf_append_byte(b, 0);
    return rc;
}

/* Append the metadata columns to s; op_meta is the __op field's metadata. */
static int add_meta(struct weir_type *s, const char *op_meta)
{
    static const enum weir_type_kind kinds[WEIR_DBZ_NMETA] = {
        WEIR_TYPE_STRING,    WEIR_TYPE_DECIMAL, WEIR_TYPE_STRING, WEIR_TYPE_STRING,  WEIR_TYPE_STRING,
        WEIR_TYPE_TIMESTAMP, WEIR_TYPE_STRING,  WEIR_TYPE_STRING, WEIR_TYPE_BOOLEAN, WEIR_TYPE_TIMESTAMP,
    };
    for (size_t m = 0; m < WEIR_DBZ_NMETA; m++) {
        struct weir_type *ft = m == M_SEQ ? weir_type_decimal(38, 0) : weir_type_primitive(kinds[m]);
        if (ft == NULL || weir_type_struct_add(s, META_NAMES[m], ft, true, m == M_OP ? op_meta : NULL))
            return WEIR_ENOMEM;
    }
    return 0;
}

struct weir_type *weir_dbz_metadata_schema(void)
{
    struct weir_type *s = weir_type_struct();
    if (s != NULL && add_meta(s, NULL) != 0) {
        weir_type_destroy(s);
        s = NULL;
    }
    return s;
}

/* Rebuild t->outs from t->row and the key names. */
static int table_schema(struct weir_dbz_decoder *d, struct dtable *t)
{
    struct weir_buf meta;
    weir_buf_init(&meta);
    struct weir_type *s = weir_type_clone(t->row);
    int rc = s == NULL ? WEIR_ENOMEM : table_meta(t, &meta);
    if (rc == 0)
        rc = add_meta(s, (const char *)meta.data);
    if (rc == 0 && d->o.rescue_fields) {
        struct weir_type *ft = weir_type_primitive(WEIR_TYPE_STRING);
        if (ft == NULL || weir_type_struct_add(s, WEIR_DBZ_RESCUED, ft, true, NULL))
            rc = WEIR_ENOMEM;
    }
    weir_buf_free(&meta);
    if (rc != 0) {
        weir_type_destroy(s);
        return rc;
    }
    weir_type_destroy(t->outs);
    t->outs = s;
    return 0;
}

/* Move t's pending batch (if it has rows) to the ready list. */
static int table_finish(struct weir_dbz_decoder *d, struct dtable *t)
{
    if (t->b == NULL)
        return 0;
    if (t->b->nrows == 0) {
        weir_batch_destroy(t->b);
        t->b = NULL;
        return 0;
    }
    if (d->nready == d->rcap) {
        size_t cap = d->rcap ? d->rcap * 2 : 8;
        struct weir_batch **r = weir_realloc(d->ready, cap * sizeof *r);
        if (r == NULL)
            return WEIR_ENOMEM;
        d->ready = r;
        d->rcap = cap;
    }
    d->ready[d->nready++] = t->b;
    t->b = NULL;
    return 0;
}

static int table_new(struct weir_dbz_decoder *d, const uint8_t *db, size_t dbn, const uint8_t *sc, size_t scn,
                     const uint8_t *tb, size_t tbn, struct dtable **out)
{
    struct dtable *t = weir_calloc(1, sizeof *t);
    if (t == NULL)
        return WEIR_ENOMEM;
    if ((db && (t->db = dup_n(db, dbn)) == NULL) || (sc && (t->schema = dup_n(sc, scn)) == NULL) ||
        (t->table = dup_n(tb, tbn)) == NULL ||
        (t->row = d->decl ? weir_type_clone(d->decl) : weir_type_struct()) == NULL ||
        table_schema(d, t) != 0) {
        table_free(t);
        return WEIR_ENOMEM;
    }
    if (d->ntables == d->tcap) {
        size_t cap = d->tcap ? d->tcap * 2 : 4;
        struct dtable **v = weir_realloc(d->tables, cap * sizeof *v);
        if (v == NULL) {
            table_free(t);
            return WEIR_ENOMEM;
        }
        d->tables = v;
        d->tcap = cap;
    }
    d->tables[d->ntables++] = t;
    *out = t;
    return 0;
}

/* ------------------------------------------------------------ JSON access */

struct ev {
    const char *s; /* the text parsed into doc */
    size_t n;
    struct weir_json_doc *doc;
};

static const struct weir_json_node *node(const struct ev *e, uint32_t i)
{
    return i == WEIR_JSON_NONE ? NULL : &e->doc->nodes[i];
}

/* Value node of member `name` of object node o, or WEIR_JSON_NONE. */
static uint32_t member(const struct ev *e, uint32_t o, const char *name)
{
    const struct weir_json_node *on = node(e, o);
    if (on == NULL || on->type != WEIR_JSON_OBJ)
        return WEIR_JSON_NONE;
    size_t len = strlen(name);
    for (uint32_t k = on->child; k != WEIR_JSON_NONE;) {
        const struct weir_json_node *kn = &e->doc->nodes[k];
        uint32_t v = kn->next;
        if (kn->len == len && memcmp(e->s + kn->start, name, len) == 0 && !kn->esc)
            return v;
        k = e->doc->nodes[v].next;
    }
    return WEIR_JSON_NONE;
}

/* A string node's bytes (unescaped into the arena when needed). */
static int str_of(struct weir_dbz_decoder *d, const struct ev *e, uint32_t i, const uint8_t **p, size_t *n)
{
    const struct weir_json_node *v = node(e, i);
    if (!v->esc) {
        *p = (const uint8_t *)e->s + v->start;
        *n = v->len;
        return 0;
    }
    struct weir_buf t;
    weir_buf_init(&t);
    int rc = weir_json_unescape(e->s + v->start, v->len, 0, &t, NULL);
    if (rc == 0 && d->arena.len + t.len + 1 > d->arena.cap)
        rc = WEIR_ENOMEM; /* the arena was reserved to the input size: cannot happen */
    if (rc == 0) {
        *p = d->arena.data + d->arena.len;
        *n = t.len;
        memcpy(d->arena.data + d->arena.len, t.data, t.len);
        d->arena.len += t.len;
    }
    weir_buf_free(&t);
    return rc == WEIR_JTOK_ENOMEM ? WEIR_ENOMEM : rc ? WEIR_EPARSE : 0;
}

/* Optional string member: *p NULL when absent or null. Non-strings give
 * their JSON text. */
static int opt_str(struct weir_dbz_decoder *d, const struct ev *e, uint32_t o, const char *name,
                   const uint8_t **p, size_t *n)
{
    uint32_t i = member(e, o, name);
    const struct weir_json_node *v = node(e, i);
    *p = NULL;
    *n = 0;
    if (v == NULL || v->type == WEIR_JSON_NULL)
        return 0;
    if (v->type != WEIR_JSON_STR) {
        *p = (const uint8_t *)e->s + v->start;
        *n = v->len;
        return 0;
    }
    return str_of(d, e, i, p, n);
}

static bool int_of(const struct ev *e, uint32_t i, int64_t *out)
{
    const struct weir_json_node *v = node(e, i);
    if (v == NULL || v->type != WEIR_JSON_NUM || !v->isint || v->len > 20)
        return false;
    char buf[24];
    memcpy(buf, e->s + v->start, v->len);
    buf[v->len] = 0;
    errno = 0;
    char *end;
    long long x = strtoll(buf, &end, 10);
    if (errno != 0 || *end != 0)
        return false;
    *out = x;
    return true;
}

/* ------------------------------------------------------------ envelope schema */

static enum lkind lkind_of(const char *type, size_t tn, const char *name, size_t nn)
{
#define IS(s, n, lit) ((n) == sizeof(lit) - 1 && memcmp((s), (lit), (n)) == 0)
    if (nn > 0) {
        if (IS(name, nn, "org.apache.kafka.connect.data.Decimal"))
            return LK_DECIMAL;
        if (IS(name, nn, "io.debezium.data.VariableScaleDecimal"))
            return LK_VARDEC;
        if (IS(name, nn, "io.debezium.time.Date") || IS(name, nn, "org.apache.kafka.connect.data.Date"))
            return LK_DATE;
        if (IS(name, nn, "io.debezium.time.Time") || IS(name, nn, "org.apache.kafka.connect.data.Time"))
            return LK_TIME_MS;
        if (IS(name, nn, "io.debezium.time.MicroTime"))
            return LK_TIME_US;
        if (IS(name, nn, "io.debezium.time.NanoTime"))
            return LK_TIME_NS;
        if (IS(name, nn, "io.debezium.time.Timestamp") ||
            IS(name, nn, "org.apache.kafka.connect.data.Timestamp"))
            return LK_TS_MS;
        if (IS(name, nn, "io.debezium.time.MicroTimestamp"))
            return LK_TS_US;
        if (IS(name, nn, "io.debezium.time.NanoTimestamp"))
            return LK_TS_NS;
        if (IS(name, nn, "io.debezium.time.ZonedTimestamp") || IS(name, nn, "io.debezium.time.IsoTimestamp"))
            return LK_ZONED_TS;
    }
    if (IS(type, tn, "boolean"))
        return LK_BOOL;
    if (IS(type, tn, "int8"))
        return LK_I8;
    if (IS(type, tn, "int16"))
        return LK_I16;
    if (IS(type, tn, "int32"))
        return LK_I32;
    if (IS(type, tn, "int64"))
        return LK_I64;
    if (IS(type, tn, "float32") || IS(type, tn, "float"))
        return LK_F32;
    if (IS(type, tn, "float64") || IS(type, tn, "double"))
        return LK_F64;
    if (IS(type, tn, "string"))
        return LK_STRING;
    if (IS(type, tn, "bytes"))
        return LK_BYTES;
    return LK_COMPLEX;
#undef IS
}

/* The Delta type a new column of kind lk gets. */
static struct weir_type *natural_type(enum lkind lk, int precision, int scale)
{
    switch (lk) {
    case LK_BOOL:
        return weir_type_primitive(WEIR_TYPE_BOOLEAN);
    case LK_I8:
        return weir_type_primitive(WEIR_TYPE_BYTE);
    case LK_I16:
        return weir_type_primitive(WEIR_TYPE_SHORT);
    case LK_I32:
        return weir_type_primitive(WEIR_TYPE_INTEGER);
    case LK_I64:
        return weir_type_primitive(WEIR_TYPE_LONG);
    case LK_F32:
        return weir_type_primitive(WEIR_TYPE_FLOAT);
    case LK_F64:
        return weir_type_primitive(WEIR_TYPE_DOUBLE);
    case LK_BYTES:
        return weir_type_primitive(WEIR_TYPE_BINARY);
    case LK_DECIMAL:
        if (precision <= 0 || precision > 38)
            precision = 38;
        if (scale > precision)
            scale = precision;
        return weir_type_decimal(precision, scale);
    case LK_VARDEC:
        return weir_type_decimal(38, 18);
    case LK_DATE:
        return weir_type_primitive(WEIR_TYPE_DATE);
    case LK_TS_MS:
    case LK_TS_US:
    case LK_TS_NS:
    case LK_ZONED_TS:
        return weir_type_primitive(WEIR_TYPE_TIMESTAMP);
    default:
        return weir_type_primitive(WEIR_TYPE_STRING);
    }
}

static int param_int(const struct ev *e, uint32_t params, const char *name, int dflt)
{
    uint32_t v = member(e, params, name);
    const struct weir_json_node *n = node(e, v);
    if (n == NULL || (n->type != WEIR_JSON_STR && n->type != WEIR_JSON_NUM) || n->len == 0 || n->len > 9)
        return dflt;
    int x = 0;
    for (uint32_t i = 0; i < n->len; i++) {
        char c = e->s[n->start + i];
        if (c < '0' || c > '9')
            return dflt;
        x = x * 10 + (c - '0');
    }
    return x;
}

/* Find the table column named p[0..n) (exact, then case-insensitive). */
static int col_index(const struct weir_type *row, const uint8_t *p, size_t n, size_t hint)
{
    if (hint < row->nfields) {
        const char *h = row->fields[hint].name;
        if (strlen(h) == n && memcmp(h, p, n) == 0)
            return (int)hint;
    }
    for (size_t i = 0; i < row->nfields; i++) {
        const char *f = row->fields[i].name;
        if (strlen(f) == n && memcmp(f, p, n) == 0)
            return (int)i;
    }
    for (size_t i = 0; i < row->nfields; i++) {
        const char *f = row->fields[i].name;
        if (strlen(f) == n && strncasecmp(f, (const char *)p, n) == 0)
            return (int)i;
    }
    return -1;
}

/* Parse the row schema node rs (the "after"/"before" struct of the
 * envelope's schema) into t->ev, unless it is the one parsed last time. */
static int row_schema(struct weir_dbz_decoder *d, struct dtable *t, const struct ev *e, uint32_t rs,
                      char *why, size_t whyn)
{
    const struct weir_json_node *r = node(e, rs);
    const char *text = e->s + r->start;
    size_t len = r->len;
    if (t->sig != NULL && t->sig_len == len && memcmp(t->sig, text, len) == 0)
        return 0;
    uint32_t fields = member(e, rs, "fields");
    const struct weir_json_node *fa = node(e, fields);
    if (fa == NULL || fa->type != WEIR_JSON_ARR) {
        snprintf(why, whyn, "the envelope's schema has no row fields");
        return WEIR_EPARSE;
    }
    struct evcol *ev = weir_calloc(fa->count ? fa->count : 1, sizeof *ev);
    char *sig = weir_malloc(len ? len : 1);
    size_t nev = 0;
    int rc = ev && sig ? 0 : WEIR_ENOMEM;
    for (uint32_t f = fa->child; f != WEIR_JSON_NONE && rc == 0; f = e->doc->nodes[f].next) {
        const uint8_t *fname, *ftype, *lname;
        size_t fnl, ftl, lnl;
        if ((rc = opt_str(d, e, f, "field", &fname, &fnl)) || (rc = opt_str(d, e, f, "type", &ftype, &ftl)) ||
            (rc = opt_str(d, e, f, "name", &lname, &lnl)))
            break;
        if (fname == NULL || ftype == NULL) {
            snprintf(why, whyn, "the envelope's schema has a row field without \"field\" or \"type\"");
            rc = WEIR_EPARSE;
            break;
        }
        struct evcol *c = &ev[nev];
        if ((c->name = dup_n(fname, fnl)) == NULL) {
            rc = WEIR_ENOMEM;
            break;
        }
        nev++;
        c->lk = lkind_of((const char *)ftype, ftl, lname ? (const char *)lname : "", lname ? lnl : 0);
        uint32_t params = member(e, f, "parameters");
        c->scale = param_int(e, params, "scale", 0);
        c->precision = param_int(e, params, "connect.decimal.precision", 0);
        if (c->lk == LK_DECIMAL && (c->precision <= 0 || c->precision > 38)) {
            c->precision = 38;
            if (c->scale > 18)
                c->lk = LK_VARDEC; /* too wide for a decimal(38, s): decimal(38,18), exact values only */
        }
    }
    if (rc != 0) {
        for (size_t i = 0; i < nev; i++)
            weir_free(ev[i].name);
        weir_free(ev);
        weir_free(sig);
        return rc;
    }
    for (size_t i = 0; i < t->nev; i++)
        weir_free(t->ev[i].name);
    weir_free(t->ev);
    weir_free(t->sig);
    memcpy(sig, text, len);
    t->sig = sig;
    t->sig_len = len;
    t->ev = ev;
    t->nev = nev;
    return 0;
}

/* ------------------------------------------------------------ values */

static weir_i128 pow10_i128(int k)
{
    weir_i128 r = 1;
    while (k-- > 0)
        r *= 10;
    return r;
}

static bool fits_precision(weir_i128 v, int precision)
{
    weir_i128 lim = pow10_i128(precision);
    return v < lim && v > -lim;
}

/* Big-endian two's complement bytes -> i128 (at most 16 bytes, after
 * dropping redundant sign bytes). */
static bool be_to_i128(const uint8_t *p, size_t n, weir_i128 *out)
{
    if (n == 0) {
        *out = 0;
        return true;
    }
    bool neg = (p[0] & 0x80) != 0;
    while (n > 16 && p[0] == (neg ? 0xff : 0x00) && ((p[1] & 0x80) != 0) == neg) {
        p++;
        n--;
    }
    if (n > 16)
        return false;
    unsigned __int128 u = neg ? ~(unsigned __int128)0 : 0;
    for (size_t i = 0; i < n; i++)
        u = (u << 8) | p[i];
    *out = (weir_i128)u;
    return true;
}

/* Unscaled v at scale `from` -> scale `to`, exactly. */
static bool rescale(weir_i128 *v, int from, int to)
{
    if (from == to)
        return true;
    if (to > from) {
        int k = to - from;
        if (k > 38)
            return false;
        weir_i128 m = pow10_i128(k);
        weir_i128 lim = pow10_i128(38) / m;
        if (*v >= lim || *v <= -lim)
            return false;
        *v *= m;
        return true;
    }
    int k = from - to;
    if (k > 38)
        return *v == 0;
    weir_i128 m = pow10_i128(k);
    if (*v % m != 0)
        return false;
    *v /= m;
    return true;
}

/* Format us since midnight as "HH:MM:SS[.ffffff]" (trailing zeros cut). */
static size_t format_time(int64_t us, char buf[32])
{
    int64_t day = 86400LL * 1000000;
    us %= day;
    if (us < 0)
        us += day;
    int64_t s = us / 1000000, f = us % 1000000;
    size_t n =
        (size_t)snprintf(buf, 32, "%02d:%02d:%02d", (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
    if (f != 0) {
        n += (size_t)snprintf(buf + n, 32 - n, ".%06d", (int)f);
        while (buf[n - 1] == '0')
            buf[--n] = 0;
    }
    return n;
}

/* Copy n bytes into the arena (reserved ahead by the caller). */
static const uint8_t *arena_put(struct weir_dbz_decoder *d, const void *p, size_t n)
{
    if (d->arena.len + n > d->arena.cap)
        return NULL;
    uint8_t *o = d->arena.data + d->arena.len;
    memcpy(o, p, n);
    d->arena.len += n;
    return o;
}

/* A decimal value of the event (kind lk, scale sc) as unscaled at scale. */
static int event_decimal(struct weir_dbz_decoder *d, const struct ev *e, uint32_t i, enum lkind lk, int sc,
                         int precision, int scale, weir_i128 *out, char *why, size_t whyn)
{
    const struct weir_json_node *v = node(e, i);
    if (v->type == WEIR_JSON_OBJ) { /* VariableScaleDecimal */
        int64_t s;
        uint32_t vv = member(e, i, "value");
        if (!int_of(e, member(e, i, "scale"), &s) || s < 0 || s > 76 || node(e, vv) == NULL ||
            node(e, vv)->type != WEIR_JSON_STR) {
            snprintf(why, whyn, "a variable-scale decimal needs \"scale\" and \"value\"");
            return WEIR_EPARSE;
        }
        sc = (int)s;
        i = vv;
        v = node(e, i);
        lk = LK_VARDEC;
    }
    if (v->type == WEIR_JSON_NUM || (v->type == WEIR_JSON_STR && lk != LK_DECIMAL && lk != LK_VARDEC)) {
        const uint8_t *p;
        size_t n;
        int rc = str_of(d, e, i, &p, &n);
        if (rc)
            return rc;
        rc = weir_json_parse_decimal((const char *)p, n, precision, scale, out);
        if (rc == 0)
            return 0;
        if (v->type == WEIR_JSON_NUM || lk != LK_NONE) {
            snprintf(why, whyn, "%.*s is not a decimal(%d,%d)", (int)(n > 60 ? 60 : n), (const char *)p,
                     precision, scale);
            return WEIR_EPARSE;
        }
        sc = scale; /* no schema and not a number: base64 unscaled bytes at the column's scale */
    } else if (v->type != WEIR_JSON_STR) {
        snprintf(why, whyn, "expected a decimal");
        return WEIR_EPARSE;
    }
    int rc = weir_json_base64_decode(e->s + v->start, v->len, &d->tmp);
    if (rc == WEIR_ENOMEM)
        return rc;
    weir_i128 x;
    if (rc != 0 || !be_to_i128(d->tmp.data, d->tmp.len, &x)) {
        snprintf(why, whyn, "bad decimal bytes \"%.*s\"", (int)(v->len > 60 ? 60 : v->len), e->s + v->start);
        return WEIR_EPARSE;
    }
    if (!rescale(&x, sc, scale) || !fits_precision(x, precision)) {
        snprintf(why, whyn, "decimal of scale %d does not fit decimal(%d,%d)", sc, precision, scale);
        return WEIR_EPARSE;
    }
    *out = x;
    return 0;
}

/* Convert node i (kind lk, decimal scale sc) into a value of type `to`. */
static int convert(struct weir_dbz_decoder *d, const struct ev *e, uint32_t i, enum lkind lk, int sc,
                   const struct weir_type *to, struct sval *o, char *why, size_t whyn)
{
    const struct weir_json_node *v = node(e, i);
    memset(o, 0, sizeof *o);
    o->set = true;
    if (v == NULL || v->type == WEIR_JSON_NULL) {
        o->null = true;
        return 0;
    }
    char buf[64];
    int rc;
    switch (to->kind) {
    case WEIR_TYPE_BOOLEAN:
        if (v->type != WEIR_JSON_TRUE && v->type != WEIR_JSON_FALSE)
            break;
        o->i = v->type == WEIR_JSON_TRUE;
        return 0;
    case WEIR_TYPE_BYTE:
    case WEIR_TYPE_SHORT:
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_LONG: {
        static const int64_t lim[] = {[WEIR_TYPE_BYTE] = INT8_MAX,
                                      [WEIR_TYPE_SHORT] = INT16_MAX,
                                      [WEIR_TYPE_INTEGER] = INT32_MAX,
                                      [WEIR_TYPE_LONG] = INT64_MAX};
        if (!int_of(e, i, &o->i))
            break;
        if (o->i > lim[to->kind] || o->i < -lim[to->kind] - 1) {
            snprintf(why, whyn, "%" PRId64 " is out of range for %s", o->i, weir_type_kind_name(to->kind));
            return WEIR_EPARSE;
        }
        return 0;
    }
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE:
        if (v->type == WEIR_JSON_NUM && v->len < sizeof buf) {
            memcpy(buf, e->s + v->start, v->len);
            buf[v->len] = 0;
            o->f = strtod(buf, NULL);
            return 0;
        }
        if (v->type == WEIR_JSON_STR && v->len < sizeof buf) {
            memcpy(buf, e->s + v->start, v->len);
            buf[v->len] = 0;
            if (strcmp(buf, "NaN") == 0)
                o->f = NAN;
            else if (strcmp(buf, "Infinity") == 0 || strcmp(buf, "+Infinity") == 0)
                o->f = INFINITY;
            else if (strcmp(buf, "-Infinity") == 0)
                o->f = -INFINITY;
            else
                break;
            return 0;
        }
        break;
    case WEIR_TYPE_DECIMAL:
        return event_decimal(d, e, i, lk, sc, to->precision, to->scale, &o->dec, why, whyn);
    case WEIR_TYPE_DATE: {
        int64_t x;
        if (int_of(e, i, &x) && (lk == LK_NONE || lk == LK_DATE || lk == LK_I32 || lk == LK_I64) &&
            x >= INT32_MIN && x <= INT32_MAX) {
            o->i = x;
            return 0;
        }
        int32_t days;
        if (v->type == WEIR_JSON_STR && weir_json_parse_date(e->s + v->start, v->len, &days) == 0) {
            o->i = days;
            return 0;
        }
        break;
    }
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ: {
        int64_t x;
        if (int_of(e, i, &x)) {
            switch (lk) {
            case LK_TS_MS:
                if (x > INT64_MAX / 1000 || x < INT64_MIN / 1000)
                    break;
                o->i = x * 1000;
                return 0;
            case LK_TS_NS:
                o->i = x / 1000 - (x % 1000 < 0);
                return 0;
            case LK_DATE:
                o->i = x * 86400000000LL;
                return 0;
            case LK_NONE:
            case LK_TS_US:
            case LK_I64:
                o->i = x;
                return 0;
            default:
                break;
            }
            break;
        }
        bool zone;
        if (v->type == WEIR_JSON_STR && !v->esc &&
            weir_json_parse_timestamp(e->s + v->start, v->len, &o->i, &zone) == 0)
            return 0;
        break;
    }
    case WEIR_TYPE_STRING: {
        size_t n = 0;
        int64_t x;
        const char *p = buf;
        if ((lk == LK_TIME_MS || lk == LK_TIME_US || lk == LK_TIME_NS) && int_of(e, i, &x)) {
            n = format_time(lk == LK_TIME_MS ? x * 1000 : lk == LK_TIME_NS ? x / 1000 : x, buf);
        } else if ((lk == LK_DECIMAL || lk == LK_VARDEC) && v->type != WEIR_JSON_NUM) {
            weir_i128 dv;
            int s = lk == LK_DECIMAL ? sc : 18;
            if (v->type == WEIR_JSON_OBJ) { /* keep its own scale */
                int64_t s2;
                if (!int_of(e, member(e, i, "scale"), &s2) || s2 < 0 || s2 > 38) {
                    snprintf(why, whyn, "a variable-scale decimal needs \"scale\" and \"value\"");
                    return WEIR_EPARSE;
                }
                s = (int)s2;
            }
            if ((rc = event_decimal(d, e, i, lk, sc, 38, s, &dv, why, whyn)) != 0)
                return rc;
            n = weir_json_format_decimal(dv, s, buf);
        } else if (lk == LK_DATE && int_of(e, i, &x) && x >= INT32_MIN && x <= INT32_MAX) {
            char db[16];
            n = weir_json_format_date((int32_t)x, db);
            memcpy(buf, db, n + 1);
        } else if ((lk == LK_TS_MS || lk == LK_TS_US || lk == LK_TS_NS) && int_of(e, i, &x)) {
            char tb[40];
            if (lk == LK_TS_MS && (x > INT64_MAX / 1000 || x < INT64_MIN / 1000))
                break;
            n = weir_json_format_timestamp(lk == LK_TS_MS   ? x * 1000
                                           : lk == LK_TS_NS ? x / 1000
                                                            : x,
                                           true, tb);
            memcpy(buf, tb, n + 1);
        } else if (v->type == WEIR_JSON_STR) {
            return str_of(d, e, i, &o->p, &o->n);
        } else { /* any other JSON value: its text */
            o->p = (const uint8_t *)e->s + v->start;
            o->n = v->len;
            return 0;
        }
        if ((o->p = arena_put(d, p, n)) == NULL)
            return WEIR_ENOMEM;
        o->n = n;
        return 0;
    }
    case WEIR_TYPE_BINARY:
        if (v->type != WEIR_JSON_STR)
            break;
        if ((rc = weir_json_base64_decode(e->s + v->start, v->len, &d->tmp)) != 0) {
            if (rc == WEIR_ENOMEM)
                return rc;
            snprintf(why, whyn, "invalid base64");
            return WEIR_EPARSE;
        }
        if ((o->p = arena_put(d, d->tmp.data, d->tmp.len)) == NULL)
            return WEIR_ENOMEM;
        o->n = d->tmp.len;
        return 0;
    default:
        break;
    }
    const char *q = v->type == WEIR_JSON_STR ? "\"" : "";
    snprintf(why, whyn, "%s%.*s%s%s does not convert to %s", q, (int)(v->len > 60 ? 60 : v->len),
             e->s + v->start, v->len > 60 ? "..." : "", q, weir_type_kind_name(to->kind));
    return WEIR_EPARSE;
}

/* The type a column first seen without a schema gets from its value. */
static struct weir_type *inferred_type(const struct ev *e, uint32_t i)
{
    const struct weir_json_node *v = node(e, i);
    int64_t x;
    switch (v->type) {
    case WEIR_JSON_TRUE:
    case WEIR_JSON_FALSE:
        return weir_type_primitive(WEIR_TYPE_BOOLEAN);
    case WEIR_JSON_NUM:
        return weir_type_primitive(v->isint && int_of(e, i, &x) ? WEIR_TYPE_LONG : WEIR_TYPE_DOUBLE);
    default:
        return weir_type_primitive(WEIR_TYPE_STRING);
    }
}

static int append_val(struct weir_column *c, const struct sval *v)
{
    if (!v->set || v->null)
        return weir_column_append_null(c);
    switch (c->type->kind) {
    case WEIR_TYPE_BOOLEAN:
        return weir_column_append_bool(c, v->i != 0);
    case WEIR_TYPE_BYTE:
        return weir_column_append_i8(c, (int8_t)v->i);
    case WEIR_TYPE_SHORT:
        return weir_column_append_i16(c, (int16_t)v->i);
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_DATE:
        return weir_column_append_i32(c, (int32_t)v->i);
    case WEIR_TYPE_LONG:
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        return weir_column_append_i64(c, v->i);
    case WEIR_TYPE_FLOAT:
        return weir_column_append_f32(c, (float)v->f);
    case WEIR_TYPE_DOUBLE:
        return weir_column_append_f64(c, v->f);
    case WEIR_TYPE_DECIMAL:
        return weir_column_append_i128(c, v->dec);
    default:
        return weir_column_append_bytes(c, v->p, v->n);
    }
}

/* ------------------------------------------------------------ sequence */

struct srcinfo {
    const uint8_t *op, *db, *schema, *table, *pos_text, *tx, *file, *scn, *clsn;
    size_t opn, dbn, scheman, tablen, pos_n, txn, filen, scnn, clsnn;
    bool has_ts, has_source_ts, snapshot, has_snapshot;
    int64_t ts_us, source_ts_us, source_ts_ms;
    bool has_seq;
    weir_i128 seq;
    char pos_buf[64];
};

/* Digits of p[0..n) as an i128 below 10^25; false otherwise. */
static bool digits_i128(const uint8_t *p, size_t n, weir_i128 *out)
{
    if (n == 0 || n > 25)
        return false;
    weir_i128 x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        x = x * 10 + (p[i] - '0');
    }
    *out = x;
    return true;
}

/* The source position as one integer, and its display text. */
static int position(struct weir_dbz_decoder *d, const struct ev *e, uint32_t src, struct srcinfo *si,
                    weir_i128 *pos, bool *has, char *why, size_t whyn)
{
    int64_t x, p2, row = 0;
    int rc;
    *has = false;
    *pos = 0;
    if (int_of(e, member(e, src, "lsn"), &x)) { /* PostgreSQL */
        if (x < 0) {
            snprintf(why, whyn, "source.lsn %" PRId64 " is negative", x);
            return WEIR_EPARSE;
        }
        *pos = x;
        *has = true;
        snprintf(si->pos_buf, sizeof si->pos_buf, "lsn %" PRIX64 "/%" PRIX64, (uint64_t)x >> 32,
                 (uint64_t)x & 0xffffffffu);
        return 0;
    }
    if ((rc = opt_str(d, e, src, "file", &si->file, &si->filen)) != 0)
        return rc;
    if (si->file != NULL && int_of(e, member(e, src, "pos"), &p2)) { /* MySQL binlog */
        int_of(e, member(e, src, "row"), &row);
        size_t k = si->filen;
        while (k > 0 && si->file[k - 1] >= '0' && si->file[k - 1] <= '9')
            k--;
        weir_i128 fno;
        if (!digits_i128(si->file + k, si->filen - k, &fno) || fno >= 1000000 || p2 < 0 ||
            p2 >= 10000000000LL || row < 0 || row >= 1000000) {
            snprintf(why, whyn, "binlog position %.*s:%" PRId64 ":%" PRId64 " is out of range",
                     (int)(si->filen > 80 ? 80 : si->filen), (const char *)si->file, p2, row);
            return WEIR_EPARSE;
        }
        *pos = (fno * 10000000000LL + p2) * 1000000 + row;
        *has = true;
        snprintf(si->pos_buf, sizeof si->pos_buf, "%.*s:%" PRId64 ":%" PRId64,
                 (int)(si->filen > 40 ? 40 : si->filen), (const char *)si->file, p2, row);
        return 0;
    }
    if ((rc = opt_str(d, e, src, "scn", &si->scn, &si->scnn)) != 0)
        return rc;
    if (si->scn != NULL) { /* Oracle */
        if (!digits_i128(si->scn, si->scnn, pos)) {
            snprintf(why, whyn, "source.scn \"%.*s\" is not a number below 10^25",
                     (int)(si->scnn > 40 ? 40 : si->scnn), (const char *)si->scn);
            return WEIR_EPARSE;
        }
        *has = true;
        snprintf(si->pos_buf, sizeof si->pos_buf, "scn %.*s", (int)si->scnn, (const char *)si->scn);
        return 0;
    }
    if ((rc = opt_str(d, e, src, "change_lsn", &si->clsn, &si->clsnn)) != 0)
        return rc;
    if (si->clsn != NULL) { /* SQL Server: 8:8:4 hex digits */
        uint64_t part[3] = {0, 0, 0};
        int np = 0;
        size_t digits = 0;
        bool ok = true;
        for (size_t i = 0; i < si->clsnn && ok; i++) {
            int h = weir_json_hexval(si->clsn[i]);
            if (si->clsn[i] == ':') {
                ok = digits > 0 && ++np < 3;
                digits = 0;
            } else if (h < 0 || ++digits > (np == 2 ? 4u : 8u)) {
                ok = false;
            } else {
                part[np] = part[np] << 4 | (uint64_t)h;
            }
        }
        if (!ok || np != 2 || digits == 0) {
            snprintf(why, whyn, "source.change_lsn \"%.*s\" is not hhhhhhhh:hhhhhhhh:hhhh",
                     (int)(si->clsnn > 40 ? 40 : si->clsnn), (const char *)si->clsn);
            return WEIR_EPARSE;
        }
        *pos = ((weir_i128)part[0] << 48) | ((weir_i128)part[1] << 16) | (weir_i128)part[2];
        *has = true;
        snprintf(si->pos_buf, sizeof si->pos_buf, "lsn %.*s", (int)si->clsnn, (const char *)si->clsn);
        return 0;
    }
    return 0;
}

/* ------------------------------------------------------------ decode */

/* The table of (db, schema, table), created when new. */
static int find_table(struct weir_dbz_decoder *d, const struct srcinfo *si, struct dtable **out)
{
    if (d->last < d->ntables) {
        struct dtable *t = d->tables[d->last];
        if (same_str(t->table, si->table, si->tablen) && same_str(t->schema, si->schema, si->scheman) &&
            same_str(t->db, si->db, si->dbn)) {
            *out = t;
            return 0;
        }
    }
    for (size_t i = 0; i < d->ntables; i++) {
        struct dtable *t = d->tables[i];
        if (same_str(t->table, si->table, si->tablen) && same_str(t->schema, si->schema, si->scheman) &&
            same_str(t->db, si->db, si->dbn)) {
            d->last = i;
            *out = t;
            return 0;
        }
    }
    int rc = table_new(d, si->db, si->dbn, si->schema, si->scheman, si->table, si->tablen, out);
    if (rc == 0)
        d->last = d->ntables - 1;
    return rc;
}

/* Parse `text` as JSON into doc; unwraps {"schema","payload"}: *payload
 * the payload node, *schema the schema node (or NONE). */
static int parse_wrapped(struct ev *e, const char *text, size_t n, uint32_t *payload, uint32_t *schema,
                         char *why, size_t whyn, const char *what)
{
    struct weir_json_perr pe;
    e->s = text;
    e->n = n;
    if (weir_json_parse(e->doc, text, n, 0, WEIR_JTOK_CHECK_UTF8, MAX_DEPTH, NULL, &pe) != 0) {
        if (pe.code == WEIR_JTOK_ENOMEM)
            return WEIR_ENOMEM;
        snprintf(why, whyn, "%s is not JSON: %s at byte %zu", what, weir_jtok_strerror(pe.code), pe.pos);
        return WEIR_EPARSE;
    }
    *payload = 0;
    *schema = WEIR_JSON_NONE;
    const struct weir_json_node *root = node(e, 0);
    if (root->type != WEIR_JSON_OBJ)
        return 0;
    uint32_t p = member(e, 0, "payload"), s = member(e, 0, "schema");
    if (root->count == 2 && p != WEIR_JSON_NONE && s != WEIR_JSON_NONE) {
        *payload = p;
        *schema = s;
    }
    return 0;
}

/* The row struct of an envelope schema: the field named "after" (or
 * "before") of its fields. */
static uint32_t envelope_row_schema(const struct ev *e, uint32_t schema)
{
    uint32_t fields = member(e, schema, "fields");
    const struct weir_json_node *fa = node(e, fields);
    uint32_t before = WEIR_JSON_NONE;
    if (fa == NULL || fa->type != WEIR_JSON_ARR)
        return WEIR_JSON_NONE;
    for (uint32_t f = fa->child; f != WEIR_JSON_NONE; f = e->doc->nodes[f].next) {
        const struct weir_json_node *fn = node(e, member(e, f, "field"));
        if (fn == NULL || fn->type != WEIR_JSON_STR)
            continue;
        if (fn->len == 5 && memcmp(e->s + fn->start, "after", 5) == 0)
            return f;
        if (fn->len == 6 && memcmp(e->s + fn->start, "before", 6) == 0)
            before = f;
    }
    return before;
}

/* Key names from the message key (an object, maybe wrapped). */
static int key_names(struct weir_dbz_decoder *d, const uint8_t *key, size_t kn, struct ev *ke, uint32_t *kobj,
                     char *why, size_t whyn)
{
    uint32_t payload, schema;
    *kobj = WEIR_JSON_NONE;
    if (key == NULL || kn == 0)
        return 0;
    ke->doc = &d->kdoc;
    int rc = parse_wrapped(ke, (const char *)key, kn, &payload, &schema, why, whyn, "the key");
    if (rc != 0)
        return rc;
    if (node(ke, payload)->type == WEIR_JSON_OBJ)
        *kobj = payload;
    return 0;
}

/* Do the key names of object kobj equal t->keys? */
static bool same_keys(const struct ev *ke, uint32_t kobj, const struct dtable *t)
{
    const struct weir_json_node *o = node(ke, kobj);
    if (o->count != t->nkeys)
        return false;
    size_t i = 0;
    for (uint32_t k = o->child; k != WEIR_JSON_NONE; k = ke->doc->nodes[ke->doc->nodes[k].next].next, i++) {
        const struct weir_json_node *kn = &ke->doc->nodes[k];
        if (kn->esc || strlen(t->keys[i]) != kn->len || memcmp(t->keys[i], ke->s + kn->start, kn->len) != 0)
            return false;
    }
    return true;
}

static int set_keys(struct dtable *t, const struct ev *ke, uint32_t kobj)
{
    const struct weir_json_node *o = node(ke, kobj);
    char **keys = weir_calloc(o->count ? o->count : 1, sizeof *keys);
    size_t n = 0;
    if (keys == NULL)
        return WEIR_ENOMEM;
    for (uint32_t k = o->child; k != WEIR_JSON_NONE; k = ke->doc->nodes[ke->doc->nodes[k].next].next) {
        const struct weir_json_node *kn = &ke->doc->nodes[k];
        struct weir_buf b;
        weir_buf_init(&b);
        if (weir_json_unescape(ke->s + kn->start, kn->len, WEIR_JSON_UNESCAPE_NO_NUL, &b, NULL) != 0 ||
            (keys[n] = dup_n(b.data ? b.data : (const uint8_t *)"", b.len)) == NULL) {
            weir_buf_free(&b);
            for (size_t i = 0; i < n; i++)
                weir_free(keys[i]);
            weir_free(keys);
            return WEIR_ENOMEM;
        }
        weir_buf_free(&b);
        n++;
    }
    for (size_t i = 0; i < t->nkeys; i++)
        weir_free(t->keys[i]);
    weir_free(t->keys);
    t->keys = keys;
    t->nkeys = n;
    return 0;
}

static int vals_reserve(struct weir_dbz_decoder *d, size_t n);

/* New key names: the batch so far keeps the old ones in its metadata. */
static int change_keys(struct weir_dbz_decoder *d, struct dtable *t, const struct ev *ke, uint32_t kobj)
{
    int rc = table_finish(d, t);
    if (rc == 0)
        rc = set_keys(t, ke, kobj);
    if (rc == 0)
        rc = table_schema(d, t);
    return rc;
}

/* Room for `n` staged values, all unset. */
static int vals_reset(struct weir_dbz_decoder *d, size_t n)
{
    int rc = vals_reserve(d, n);
    if (rc == 0 && n > 0)
        memset(d->vals, 0, n * sizeof *d->vals);
    return rc;
}

static bool is_key(const struct dtable *t, const char *name)
{
    for (size_t k = 0; k < t->nkeys; k++)
        if (strcasecmp(t->keys[k], name) == 0)
            return true;
    return false;
}

/* Room for staged values of `n` columns. */
static int vals_reserve(struct weir_dbz_decoder *d, size_t n)
{
    if (n <= d->vcap)
        return 0;
    size_t cap = n < 64 ? 64 : n * 2;
    struct sval *v = weir_realloc(d->vals, cap * sizeof *v);
    if (v == NULL)
        return WEIR_ENOMEM;
    d->vals = v;
    d->vcap = cap;
    return 0;
}

static int pend_add(struct weir_dbz_decoder *d, const uint8_t *name, size_t n, struct weir_type *type)
{
    if (type == NULL)
        return WEIR_ENOMEM;
    if (d->npend == d->pcap) {
        size_t cap = d->pcap ? d->pcap * 2 : 8;
        struct pending *p = weir_realloc(d->pend, cap * sizeof *p);
        if (p == NULL) {
            weir_type_destroy(type);
            return WEIR_ENOMEM;
        }
        d->pend = p;
        d->pcap = cap;
    }
    d->pend[d->npend++] = (struct pending){(const char *)name, n, type};
    return 0;
}

static void pend_clear(struct weir_dbz_decoder *d)
{
    for (size_t i = 0; i < d->npend; i++)
        weir_type_destroy(d->pend[i].type);
    d->npend = 0;
}

static bool is_meta(const uint8_t *p, size_t n)
{
    for (size_t m = 0; m < WEIR_DBZ_NMETA; m++)
        if (strlen(META_NAMES[m]) == n && strncasecmp((const char *)p, META_NAMES[m], n) == 0)
            return true;
    return false;
}

bool weir_dbz_is_metadata(const char *name)
{
    return is_meta((const uint8_t *)name, strlen(name));
}

/* Is p[0..n) the name of a metadata column (or _rescued_data)? */
static bool reserved(const uint8_t *p, size_t n)
{
    return (n == sizeof(WEIR_DBZ_RESCUED) - 1 && strncasecmp((const char *)p, WEIR_DBZ_RESCUED, n) == 0) ||
           is_meta(p, n);
}

/* A pending column named p[0..n), or -1. */
static int pend_index(const struct weir_dbz_decoder *d, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < d->npend; i++)
        if (d->pend[i].name_len == n && strncasecmp(d->pend[i].name, (const char *)p, n) == 0)
            return (int)i;
    return -1;
}

/* Append member (name, value node) to the rescued object text. */
static int rescue(struct weir_dbz_decoder *d, const struct ev *e, uint32_t keynode, uint32_t val)
{
    const struct weir_json_node *k = node(e, keynode), *v = node(e, val);
    int rc = weir_buf_append_byte(&d->rescued, d->rescued.len ? ',' : '{');
    if (rc == 0)
        rc = weir_buf_append_byte(&d->rescued, '"');
    if (rc == 0)
        rc = weir_buf_append(&d->rescued, e->s + k->start, k->len);
    if (rc == 0)
        rc = weir_buf_append_str(&d->rescued, "\":");
    if (rc == 0 && v->type == WEIR_JSON_STR)
        rc = weir_buf_append_byte(&d->rescued, '"');
    if (rc == 0)
        rc = weir_buf_append(&d->rescued, e->s + v->start, v->len);
    if (rc == 0 && v->type == WEIR_JSON_STR)
        rc = weir_buf_append_byte(&d->rescued, '"');
    return rc;
}

/* Pass 1 over the row image object `row` of table t: stage every member.
 * With the envelope's schema, `ev` describes the members. */
static int stage_row(struct weir_dbz_decoder *d, struct dtable *t, const struct ev *e, uint32_t row,
                     bool schema, char *why, size_t whyn)
{
    const struct weir_json_node *r = node(e, row);
    size_t ncols = t->row->nfields;
    int rc = 0;
    size_t i = 0;
    for (uint32_t k = r->child; k != WEIR_JSON_NONE; k = e->doc->nodes[e->doc->nodes[k].next].next, i++) {
        uint32_t v = e->doc->nodes[k].next;
        const uint8_t *name;
        size_t nn;
        if ((rc = str_of(d, e, k, &name, &nn)) != 0)
            return rc;
        enum lkind lk = LK_NONE;
        int sc = 0, prec = 0;
        const struct evcol *ec = NULL;
        if (schema) {
            if (i < t->nev && strlen(t->ev[i].name) == nn && memcmp(t->ev[i].name, name, nn) == 0)
                ec = &t->ev[i];
            for (size_t j = 0; ec == NULL && j < t->nev; j++)
                if (strlen(t->ev[j].name) == nn && memcmp(t->ev[j].name, name, nn) == 0)
                    ec = &t->ev[j];
            if (ec != NULL) {
                lk = ec->lk;
                sc = ec->scale;
                prec = ec->precision;
            }
        }
        int col = col_index(t->row, name, nn, i);
        const struct weir_type *to;
        struct sval *slot;
        bool key = false;
        if (col >= 0) {
            to = t->row->fields[col].type;
            slot = &d->vals[col];
            key = is_key(t, t->row->fields[col].name);
        } else if (d->decl != NULL) { /* not declared */
            if (d->o.rescue_fields && (rc = rescue(d, e, k, v)) != 0)
                return rc;
            continue;
        } else {
            int pi = pend_index(d, name, nn);
            if (pi < 0 && reserved(name, nn)) {
                snprintf(why, whyn, "column '%.*s' has the name of a metadata column",
                         (int)(nn > 100 ? 100 : nn), (const char *)name);
                return WEIR_EPARSE;
            }
            if (pi < 0) {
                const struct weir_json_node *vn = node(e, v);
                if (!schema && vn->type == WEIR_JSON_NULL)
                    continue; /* typed by its first non-null value */
                if ((rc = pend_add(d, name, nn, schema ? natural_type(lk, prec, sc) : inferred_type(e, v))) !=
                    0)
                    return rc;
                pi = (int)d->npend - 1;
            }
            to = d->pend[pi].type;
            slot = &d->vals[ncols + (size_t)pi];
        }
        char vwhy[256];
        rc = convert(d, e, v, lk, sc, to, slot, vwhy, sizeof vwhy);
        if (rc == WEIR_ENOMEM)
            return rc;
        if (rc != 0) {
            if (d->o.rescue_fields && !key) {
                memset(slot, 0, sizeof *slot);
                if ((rc = rescue(d, e, k, v)) != 0)
                    return rc;
                continue;
            }
            snprintf(why, whyn, "column '%.*s': %s", (int)(nn > 100 ? 100 : nn), (const char *)name, vwhy);
            return WEIR_EPARSE;
        }
    }
    return 0;
}

static int meta_bytes(struct weir_column *c, const uint8_t *p, size_t n)
{
    return p == NULL ? weir_column_append_null(c) : weir_column_append_bytes(c, p, n);
}

/* Pass 2: grow the table by the pending columns and new keys, append the row. */
static int commit_row(struct weir_dbz_decoder *d, struct dtable *t, const struct srcinfo *si)
{
    int rc = 0;
    if (d->npend > 0) {
        if ((rc = table_finish(d, t)) != 0)
            return rc;
        struct weir_type *row = weir_type_clone(t->row);
        if (row == NULL)
            return WEIR_ENOMEM;
        for (size_t i = 0; i < d->npend && rc == 0; i++) {
            char *name = dup_n((const uint8_t *)d->pend[i].name, d->pend[i].name_len);
            if (name == NULL || weir_type_struct_add(row, name, d->pend[i].type, true, NULL) != 0)
                rc = WEIR_ENOMEM;
            d->pend[i].type = NULL; /* owned by row now, also on failure */
            weir_free(name);
        }
        if (rc != 0) {
            weir_type_destroy(row);
            return rc;
        }
        weir_type_destroy(t->row);
        t->row = row;
        if ((rc = table_schema(d, t)) != 0)
            return rc;
        d->npend = 0;
    }
    if (t->b == NULL && (t->b = weir_batch_create(t->outs)) == NULL)
        return WEIR_ENOMEM;
    struct weir_batch *b = t->b;
    size_t nrow = t->row->nfields;
    /* staged values: table columns at 0..ncols, pending ones after, now in
     * the same order as the new columns */
    for (size_t c = 0; c < nrow && rc == 0; c++)
        rc = append_val(&b->columns[c], &d->vals[c]);
    struct weir_column *m = &b->columns[nrow];
    if (rc == 0)
        rc = weir_column_append_bytes(&m[M_OP], si->op, si->opn);
    if (rc == 0)
        rc = si->has_seq ? weir_column_append_i128(&m[M_SEQ], si->seq) : weir_column_append_null(&m[M_SEQ]);
    if (rc == 0)
        rc = meta_bytes(&m[M_DB], si->db, si->dbn);
    if (rc == 0)
        rc = meta_bytes(&m[M_SCHEMA], si->schema, si->scheman);
    if (rc == 0)
        rc = meta_bytes(&m[M_TABLE], si->table, si->tablen);
    if (rc == 0)
        rc = si->has_source_ts ? weir_column_append_i64(&m[M_SOURCE_TS], si->source_ts_us)
                               : weir_column_append_null(&m[M_SOURCE_TS]);
    if (rc == 0)
        rc = si->pos_buf[0] ? weir_column_append_bytes(&m[M_POSITION], si->pos_buf, strlen(si->pos_buf))
                            : weir_column_append_null(&m[M_POSITION]);
    if (rc == 0)
        rc = meta_bytes(&m[M_TX], si->tx, si->txn);
    if (rc == 0)
        rc = si->has_snapshot ? weir_column_append_bool(&m[M_SNAPSHOT], si->snapshot)
                              : weir_column_append_null(&m[M_SNAPSHOT]);
    if (rc == 0)
        rc = si->has_ts ? weir_column_append_i64(&m[M_TS], si->ts_us) : weir_column_append_null(&m[M_TS]);
    if (rc == 0 && d->o.rescue_fields) {
        struct weir_column *rc_col = &m[WEIR_DBZ_NMETA];
        if (d->rescued.len == 0)
            rc = weir_column_append_null(rc_col);
        else if ((rc = weir_buf_append_byte(&d->rescued, '}')) == 0)
            rc = weir_column_append_bytes(rc_col, d->rescued.data, d->rescued.len);
    }
    if (rc == 0)
        b->nrows++;
    return rc;
}

/* A timestamp member in ms / us / ns (the finest present) -> us. */
static bool ts_member(const struct ev *e, uint32_t o, const char *base, int64_t *us)
{
    char name[16];
    int64_t x;
    snprintf(name, sizeof name, "%s_ns", base);
    if (int_of(e, member(e, o, name), &x)) {
        *us = x / 1000 - (x % 1000 < 0);
        return true;
    }
    snprintf(name, sizeof name, "%s_us", base);
    if (int_of(e, member(e, o, name), &x)) {
        *us = x;
        return true;
    }
    snprintf(name, sizeof name, "%s_ms", base);
    if (int_of(e, member(e, o, name), &x) && x < INT64_MAX / 1000 && x > INT64_MIN / 1000) {
        *us = x * 1000;
        return true;
    }
    return false;
}

static int decode_tombstone(struct weir_dbz_decoder *d, const uint8_t *key, size_t kn, const char *topic,
                            enum weir_dbz_result *res, char *why, size_t whyn)
{
    struct ev ke = {0};
    uint32_t kobj;
    int rc;
    *res = WEIR_DBZ_SKIPPED;
    if (!d->o.tombstone_deletes)
        return 0;
    if ((rc = key_names(d, key, kn, &ke, &kobj, why, whyn)) != 0)
        return rc;
    if (kobj == WEIR_JSON_NONE) {
        snprintf(why, whyn, "a tombstone without a key object cannot delete anything");
        return WEIR_EPARSE;
    }
    struct srcinfo si;
    memset(&si, 0, sizeof si);
    struct dtable *t = NULL;
    for (size_t i = 0; topic && i < d->ntables && t == NULL; i++)
        if (d->tables[i]->topic && strcmp(d->tables[i]->topic, topic) == 0)
            t = d->tables[i];
    if (t == NULL) {
        const char *dot2 = topic ? strrchr(topic, '.') : NULL;
        const char *dot1 = dot2;
        while (dot1 && dot1 > topic && dot1[-1] != '.')
            dot1--;
        if (dot2 == NULL || dot1 == topic || dot2[1] == 0) {
            snprintf(why, whyn, "a tombstone on topic '%s' before any change event names its table",
                     topic ? topic : "(none)");
            return WEIR_EPARSE;
        }
        si.schema = (const uint8_t *)dot1;
        si.scheman = (size_t)(dot2 - dot1);
        si.table = (const uint8_t *)dot2 + 1;
        si.tablen = strlen(dot2 + 1);
        if ((rc = find_table(d, &si, &t)) != 0)
            return rc;
    }
    si.db = (const uint8_t *)t->db;
    si.dbn = t->db ? strlen(t->db) : 0;
    si.schema = (const uint8_t *)t->schema;
    si.scheman = t->schema ? strlen(t->schema) : 0;
    si.table = (const uint8_t *)t->table;
    si.tablen = strlen(t->table);
    si.op = (const uint8_t *)"d";
    si.opn = 1;
    if (!same_keys(&ke, kobj, t) && (rc = change_keys(d, t, &ke, kobj)) != 0)
        return rc;
    if ((rc = vals_reset(d, t->row->nfields + node(&ke, kobj)->count)) != 0 ||
        (rc = stage_row(d, t, &ke, kobj, false, why, whyn)) != 0 || (rc = commit_row(d, t, &si)) != 0)
        return rc;
    *res = WEIR_DBZ_ROW;
    return 0;
}

int weir_dbz_decode(struct weir_dbz_decoder *d, const uint8_t *key, size_t key_len, const uint8_t *value,
                    size_t value_len, const char *topic, enum weir_dbz_result *res, struct weir_error *err)
{
    char why[512];
    struct ev e = {.doc = &d->vdoc}, ke = {0};
    uint32_t payload, schema, kobj = WEIR_JSON_NONE;
    struct srcinfo si;
    struct dtable *t = NULL;
    int rc;
    why[0] = 0;
    *res = WEIR_DBZ_SKIPPED;
    d->arena.len = 0;
    d->rescued.len = 0;
    if ((rc = weir_buf_reserve(&d->arena, value_len + key_len + 256)) != 0)
        goto out;
    if (value == NULL) {
        rc = decode_tombstone(d, key, key_len, topic, res, why, sizeof why);
        goto out;
    }
    if ((rc = parse_wrapped(&e, (const char *)value, value_len, &payload, &schema, why, sizeof why,
                            "the value")))
        goto out;
    const struct weir_json_node *pn = node(&e, payload);
    if (pn->type == WEIR_JSON_NULL) { /* a wrapped tombstone */
        rc = decode_tombstone(d, key, key_len, topic, res, why, sizeof why);
        goto out;
    }
    if (pn->type != WEIR_JSON_OBJ) {
        snprintf(why, sizeof why, "the value is not a JSON object");
        rc = WEIR_EPARSE;
        goto out;
    }
    memset(&si, 0, sizeof si);
    if ((rc = opt_str(d, &e, payload, "op", &si.op, &si.opn)) != 0)
        goto out;
    if (si.op == NULL) {
        snprintf(why, sizeof why, "not a change event: no \"op\"");
        rc = WEIR_EPARSE;
        goto out;
    }
    char op = si.opn == 1 ? (char)si.op[0] : '?';
    if (op != 'c' && op != 'u' && op != 'd' && op != 'r' && op != 't') {
        snprintf(why, sizeof why, "unknown op \"%.*s\"", (int)(si.opn > 20 ? 20 : si.opn),
                 (const char *)si.op);
        rc = WEIR_EPARSE;
        goto out;
    }
    uint32_t src = member(&e, payload, "source");
    if (node(&e, src) == NULL || node(&e, src)->type != WEIR_JSON_OBJ) {
        snprintf(why, sizeof why, "no \"source\" object");
        rc = WEIR_EPARSE;
        goto out;
    }
    if ((rc = opt_str(d, &e, src, "db", &si.db, &si.dbn)) ||
        (rc = opt_str(d, &e, src, "schema", &si.schema, &si.scheman)) ||
        (rc = opt_str(d, &e, src, "table", &si.table, &si.tablen)))
        goto out;
    if (si.table == NULL) {
        snprintf(why, sizeof why, "no source.table");
        rc = WEIR_EPARSE;
        goto out;
    }
    /* the row image */
    uint32_t row = WEIR_JSON_NONE;
    if (op != 't') {
        const char *which = op == 'd' ? "before" : "after";
        row = member(&e, payload, which);
        if (node(&e, row) == NULL || node(&e, row)->type != WEIR_JSON_OBJ) {
            snprintf(why, sizeof why, "op \"%c\" without \"%s\"", op, which);
            rc = WEIR_EPARSE;
            goto out;
        }
    }
    /* metadata */
    si.has_source_ts = ts_member(&e, src, "ts", &si.source_ts_us);
    si.has_ts = ts_member(&e, payload, "ts", &si.ts_us);
    int64_t ts_ms = 0, x;
    if (int_of(&e, member(&e, src, "ts_ms"), &x) || int_of(&e, member(&e, payload, "ts_ms"), &x))
        ts_ms = x;
    const struct weir_json_node *sn = node(&e, member(&e, src, "snapshot"));
    if (sn != NULL && sn->type != WEIR_JSON_NULL) {
        si.has_snapshot = true;
        si.snapshot =
            sn->type == WEIR_JSON_TRUE ||
            (sn->type == WEIR_JSON_STR && !(sn->len == 5 && memcmp(e.s + sn->start, "false", 5) == 0));
    }
    if ((rc = opt_str(d, &e, src, "txId", &si.tx, &si.txn)) != 0)
        goto out;
    if (si.tx == NULL && (rc = opt_str(d, &e, src, "gtid", &si.tx, &si.txn)) != 0)
        goto out;
    if (si.tx == NULL &&
        (rc = opt_str(d, &e, member(&e, payload, "transaction"), "id", &si.tx, &si.txn)) != 0)
        goto out;
    weir_i128 pos;
    bool haspos;
    if ((rc = position(d, &e, src, &si, &pos, &haspos, why, sizeof why)) != 0)
        goto out;
    if (ts_ms < 0 || ts_ms >= TS_SPAN) {
        snprintf(why, sizeof why, "ts_ms %" PRId64 " is out of range", ts_ms);
        rc = WEIR_EPARSE;
        goto out;
    }
    si.has_seq = haspos || ts_ms > 0;
    si.seq = pos * TS_SPAN + ts_ms;

    if ((rc = find_table(d, &si, &t)) != 0)
        goto out;
    if ((rc = key_names(d, key, key_len, &ke, &kobj, why, sizeof why)) != 0)
        goto out;
    /* the envelope's schema, when there is one and no declared schema */
    bool use_schema = false;
    if (schema != WEIR_JSON_NONE) {
        uint32_t rs = envelope_row_schema(&e, schema);
        if (rs != WEIR_JSON_NONE) {
            if ((rc = row_schema(d, t, &e, rs, why, sizeof why)) != 0)
                goto out;
            use_schema = true;
        }
    }
    /* keys must be known before staging (key columns are never rescued) */
    if (kobj != WEIR_JSON_NONE && !same_keys(&ke, kobj, t) && (rc = change_keys(d, t, &ke, kobj)) != 0)
        goto out;
    if ((rc = vals_reset(d, t->row->nfields + (row != WEIR_JSON_NONE ? node(&e, row)->count : 0) +
                                (use_schema ? t->nev : 0))) != 0)
        goto out;
    if (row != WEIR_JSON_NONE && (rc = stage_row(d, t, &e, row, use_schema, why, sizeof why)) != 0)
        goto out;
    /* columns the envelope's schema names that the table lacks (a d event
     * with a partial before still adds them, typed) */
    for (size_t i = 0; use_schema && d->decl == NULL && i < t->nev && rc == 0; i++) {
        const struct evcol *c = &t->ev[i];
        size_t nn = strlen(c->name);
        if (col_index(t->row, (const uint8_t *)c->name, nn, i) < 0 &&
            pend_index(d, (const uint8_t *)c->name, nn) < 0 && !reserved((const uint8_t *)c->name, nn))
            rc = pend_add(d, (const uint8_t *)c->name, nn, natural_type(c->lk, c->precision, c->scale));
    }
    if (rc == 0)
        rc = commit_row(d, t, &si);
    if (rc == 0 && topic != NULL && (t->topic == NULL || strcmp(t->topic, topic) != 0)) {
        char *tp = dup_n((const uint8_t *)topic, strlen(topic));
        if (tp == NULL)
            rc = WEIR_ENOMEM;
        else {
            weir_free(t->topic);
            t->topic = tp;
        }
    }
    if (rc == 0)
        *res = WEIR_DBZ_ROW;
out:
    pend_clear(d);
    if (rc == WEIR_ENOMEM)
        return weir_error_set(err, rc, "debezium decoder: out of memory");
    if (rc != 0)
        return weir_error_set(err, WEIR_EPARSE, "%s", why[0] ? why : "malformed event");
    return 0;
}

int weir_dbz_take(struct weir_dbz_decoder *d, struct weir_batch **out)
{
    *out = NULL;
    for (size_t i = 0; i < d->ntables; i++) {
        int rc = table_finish(d, d->tables[i]);
        if (rc != 0)
            return rc;
    }
    if (d->nready == 0)
        return 0;
    *out = d->ready[0];
    memmove(d->ready, d->ready + 1, (d->nready - 1) * sizeof *d->ready);
    d->nready--;
    return 0;
}

void weir_dbz_discard(struct weir_dbz_decoder *d)
{
    for (size_t i = 0; i < d->nready; i++)
        weir_batch_destroy(d->ready[i]);
    d->nready = 0;
    for (size_t i = 0; i < d->ntables; i++) {
        weir_batch_destroy(d->tables[i]->b);
        d->tables[i]->b = NULL;
    }
}

/* ------------------------------------------------------------ table id */

void weir_dbz_table_id_free(struct weir_dbz_table_id *id)
{
    weir_free(id->db);
    weir_free(id->schema);
    weir_free(id->table);
    for (size_t i = 0; i < id->nkeys; i++)
        weir_free(id->keys[i]);
    weir_free(id->keys);
    memset(id, 0, sizeof *id);
}

int weir_dbz_table_of(const struct weir_type *schema, struct weir_dbz_table_id *id)
{
    memset(id, 0, sizeof *id);
    int oi = weir_type_field_index(schema, WEIR_DBZ_OP);
    if (oi < 0)
        return WEIR_EINVAL;
    const char *meta = schema->fields[oi].metadata;
    struct weir_json_doc doc = {0};
    struct ev e = {.s = meta, .n = strlen(meta), .doc = &doc};
    int rc = WEIR_EINVAL;
    if (weir_json_parse(&doc, meta, e.n, 0, 0, 8, NULL, NULL) != 0)
        goto out;
    uint32_t c = member(&e, 0, WEIR_DBZ_META_KEY);
    if (node(&e, c) == NULL || node(&e, c)->type != WEIR_JSON_OBJ)
        goto out;
    struct weir_buf b;
    weir_buf_init(&b);
    const char *names[3] = {"db", "schema", "table"};
    char **dst[3] = {&id->db, &id->schema, &id->table};
    rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) {
        uint32_t v = member(&e, c, names[i]);
        if (node(&e, v) == NULL || node(&e, v)->type != WEIR_JSON_STR)
            continue;
        if (weir_json_unescape(meta + node(&e, v)->start, node(&e, v)->len, 0, &b, NULL) != 0 ||
            (*dst[i] = dup_n(b.data ? b.data : (const uint8_t *)"", b.len)) == NULL)
            rc = WEIR_ENOMEM;
    }
    uint32_t keys = member(&e, c, "keys");
    const struct weir_json_node *kn = node(&e, keys);
    if (rc == 0 && kn != NULL && kn->type == WEIR_JSON_ARR && kn->count > 0) {
        if ((id->keys = weir_calloc(kn->count + 1, sizeof *id->keys)) == NULL)
            rc = WEIR_ENOMEM;
        for (uint32_t k = kn->child; rc == 0 && k != WEIR_JSON_NONE; k = doc.nodes[k].next) {
            if (doc.nodes[k].type != WEIR_JSON_STR)
                continue;
            if (weir_json_unescape(meta + doc.nodes[k].start, doc.nodes[k].len, 0, &b, NULL) != 0 ||
                (id->keys[id->nkeys] = dup_n(b.data ? b.data : (const uint8_t *)"", b.len)) == NULL)
                rc = WEIR_ENOMEM;
            else
                id->nkeys++;
        }
    }
    weir_buf_free(&b);
    if (rc == 0 && id->table == NULL)
        rc = WEIR_EINVAL;
out:
    weir_json_doc_free(&doc);
    if (rc != 0)
        weir_dbz_table_id_free(id);
    return rc;
}
