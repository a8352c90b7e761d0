/* stream/transform.c - the transform steps of a pipeline (decode, where,
 * select), compiled once at create and applied to every batch a source
 * emits.
 *
 * Owns: one `struct step` per configured step, each knowing the schema that
 * flows into it (step i's output is step i+1's input; no steps is the
 * identity). A where step owns its bound predicate, a select step its bound
 * expressions; both allocate one output batch per push (the expression
 * evaluator's own batches). A decode step owns:
 *   - the declared schema and a JSON decoder for it;
 *   - one output batch, reused across pushes (weir_batch_clear keeps its
 *     buffers, so a steady stream allocates nothing per record beyond the
 *     decoder's own scratch). Its columns are the decoded fields, then the
 *     `keep` columns, then `_rescued_data` (on_error rescue). The decoder
 *     writes straight into the first columns through a "view" batch whose
 *     schema is the declared one: the decoder insists on its exact schema,
 *     while the output schema differs only in top-level nullability (under
 *     rescue every decoded field is nullable, as rescued rows hold nulls);
 *     the physical layout of the columns is the same;
 *   - with on_error dead_letter: a Delta sink for the dead-letter table and
 *     a batch of dead letters that is flushed through sink->write whenever
 *     it reaches DL_FLUSH_ROWS rows or DL_FLUSH_BYTES value bytes.
 *
 * Invariants: a record is rescued, dead-lettered or fails the batch - never
 * dropped silently. The dead-letter sink is begun lazily, on the first dead
 * letter of a micro-batch, with the micro-batch id, and committed by
 * weir_transform_commit only if it was begun; a replayed batch produces the
 * same dead letters and the sink skips a (query id, batch id) it already
 * holds, so dead letters are never duplicated.
 *
 * Pipelined pushes: the row-local steps at the start (decode, where,
 * select) are the front, the rest the back. push_front runs the front and
 * hands its result out (the decode step's batch itself, replaced by a spare:
 * a released batch of its schema, SPARE_MAX kept); push_back runs the back
 * on it, possibly on another thread while the next push_front runs.
 * Front and back touch disjoint steps and disjoint counters of `m`; the
 * spares are guarded by spare_mu.
 *
 * Threading: one thread at a time, except that push_back (and release) may
 * run on a second thread concurrently with push_front; everything else
 * (begin, finish, commit, abort, metrics) only while no push_back runs. */
#include "stream/transform.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/expr.h"
#include "core/json.h"
#include "formats/debezium.h"
#include "formats/json.h"
#include "sinks/sink.h"
#include "stream/config.h"
#include "stream/stateful.h"

#define RESCUED_COLUMN "_rescued_data"
#define DL_FLUSH_ROWS  4096
#define DL_FLUSH_BYTES ((size_t)16 << 20)
#define DL_TARGET_FILE ((int64_t)128 << 20)
/* Released output batches of the front's decode step kept for reuse. */
#define SPARE_MAX      4

/* Columns of the dead-letter table, in order. */
enum {
    DL_PIPELINE,
    DL_BATCH_ID,
    DL_TOPIC,
    DL_PARTITION,
    DL_OFFSET,
    DL_TIMESTAMP,
    DL_KEY,
    DL_VALUE,
    DL_ERROR,
    DL_FAILED_AT,
    DL_NCOLS
};

struct decode_step {
    int on_error;            /* enum weir_on_error */
    int64_t max_record_size; /* bytes; <= 0: no limit */
    struct weir_type *decl;  /* the declared schema (decoder's) */
    struct weir_json_decoder *dec;
    struct weir_dbz_decoder *dbz; /* format debezium-json (instead of dec and out) */
    struct weir_batch *out;       /* reused output batch */
    size_t ndec;                  /* decoded columns at the front of out */
    int value_col;                /* input column `value` */
    size_t *keep_cols;            /* input column of each keep column */
    size_t nkeep;
    int rescue_col; /* output column of _rescued_data, -1 unless rescue */
    /* input columns used for messages and dead letters, -1 when absent */
    int in_topic, in_partition, in_offset, in_timestamp, in_key;
    struct weir_buf scratch; /* rescued JSON of one record */
};

/* The dead-letter table of one step (decode with on_error dead_letter,
 * watermark with late_rows dead_letter). */
struct dead_letters {
    const char *what;             /* "transform[2].decode", for messages */
    char *path;                   /* owned */
    struct weir_config_delta cfg; /* the sink borrows it */
    struct weir_sink *sink;
    struct weir_type *schema;
    struct weir_batch *b; /* pending rows, flushed through sink->write */
    bool begun, already;
    /* input columns copied into the dead letter, -1 when absent */
    int in_topic, in_partition, in_offset, in_timestamp, in_key;
    struct weir_buf scratch; /* a row as JSON */
    char whatbuf[48];
};

struct step {
    int kind;                /* enum weir_step_kind */
    struct weir_type *in;    /* schema flowing in */
    struct weir_type *outs;  /* schema flowing out */
    struct weir_expr *where; /* WEIR_STEP_WHERE */
    struct weir_expr **select;
    size_t nselect;
    struct decode_step *decode; /* WEIR_STEP_DECODE */
    struct dead_letters *dl;    /* decode or watermark, when they dead-letter */
    int wm_col;                 /* WEIR_STEP_WATERMARK: the event-time column */
    struct weir_dedup *dedup;   /* WEIR_STEP_DEDUP */
    struct weir_aggregate *agg; /* WEIR_STEP_AGGREGATE */
};

struct weir_transform {
    char *pipeline;
    char *query_id;
    struct weir_type *in;
    struct step *steps;
    size_t nsteps;
    int64_t batch_id;
    bool begun;
    struct weir_transform_metrics m;
    struct weir_stateful_batch sb; /* the batch in flight, for stateful steps */
    int64_t wm_delay_ms;           /* the watermark step's delay (sb.has_watermark) */
    int64_t max_event_us;          /* max event time seen in the batch; INT64_MIN: none */
    struct weir_state *st;         /* borrowed; NULL: validation only */
    bool stateful;
    size_t front; /* steps [0, front) are row-local: decode, where, select */
    pthread_mutex_t spare_mu;
    struct weir_batch *spare[SPARE_MAX]; /* cleared batches for the front's decode step */
    size_t nspare;
};

/* ------------------------------------------------------------------ helpers */

/* Offset of the first invalid UTF-8 byte in s[0..n), or n when valid.
 * Eight ASCII bytes at a time, the rest through the shared validator. */
static size_t utf8_invalid_at(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & UINT64_C(0x8080808080808080)) == 0) {
                i += 8;
                continue;
            }
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = weir_json_utf8_len(s + i, n - i);
        if (l == 0)
            return i;
        i += l;
    }
    return n;
}

/* Append `n` bytes as a quoted standard base64 string. */
static int append_base64_string(struct weir_buf *b, const uint8_t *p, size_t n)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int rc = weir_buf_reserve(b, (n + 2) / 3 * 4 + 2);
    if (rc != 0)
        return rc;
    uint8_t *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = (uint8_t)A[v >> 18];
        *o++ = (uint8_t)A[(v >> 12) & 63];
        *o++ = (uint8_t)A[(v >> 6) & 63];
        *o++ = (uint8_t)A[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        *o++ = (uint8_t)A[v >> 18];
        *o++ = (uint8_t)A[(v >> 12) & 63];
        *o++ = i + 1 < n ? (uint8_t)A[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
}

/* Index of input column `name` if it exists with kind `kind` (or `kind2`,
 * when >= 0), else -1. */
static int find_col(const struct weir_type *in, const char *name, int kind, int kind2)
{
    int i = weir_type_field_index(in, name);
    if (i < 0)
        return -1;
    int k = (int)in->fields[i].type->kind;
    return k == kind || k == kind2 ? i : -1;
}

/* The decoder's message without its "record N (byte K): " prefix (the
 * record number counts records since the decoder was created, which means
 * nothing to a reader): "byte K: field 'x': ...". Falls back to the
 * message as is. */
static void decoder_reason(const char *msg, char *out, size_t cap)
{
    const char *p = msg;
    if (strncmp(p, "record ", 7) == 0) {
        p += 7;
        while (*p >= '0' && *p <= '9')
            p++;
        if (strncmp(p, " (byte ", 7) == 0) {
            const char *q = p + 7, *digits = q;
            while (*q >= '0' && *q <= '9')
                q++;
            if (q > digits && strncmp(q, "): ", 3) == 0) {
                snprintf(out, cap, "byte %.*s: %s", (int)(q - digits), digits, q + 3);
                return;
            }
        }
    }
    snprintf(out, cap, "%s", msg);
}

/* "topic 'orders' partition 3 offset 17", or "row 5 of the batch" when the
 * source has none of those columns. */
static void record_location(const struct decode_step *d, const struct weir_batch *in, size_t row, char *out,
                            size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    if (d->in_topic >= 0 && weir_column_is_valid(&in->columns[d->in_topic], row)) {
        size_t n;
        const uint8_t *s = weir_column_bytes(&in->columns[d->in_topic], row, &n);
        int k = snprintf(out, cap, "topic '%.*s'", (int)(n > 200 ? 200 : n), (const char *)s);
        o = k > 0 ? (size_t)k : 0;
    }
    if (o < cap && d->in_partition >= 0 && weir_column_is_valid(&in->columns[d->in_partition], row)) {
        int k = snprintf(out + o, cap - o, "%spartition %" PRId32, o ? " " : "",
                         weir_column_i32(&in->columns[d->in_partition], row));
        o += k > 0 ? (size_t)k : 0;
    }
    if (o < cap && d->in_offset >= 0 && weir_column_is_valid(&in->columns[d->in_offset], row)) {
        int k = snprintf(out + o, cap - o, "%soffset %" PRId64, o ? " " : "",
                         weir_column_i64(&in->columns[d->in_offset], row));
        o += k > 0 ? (size_t)k : 0;
    }
    if (o == 0)
        snprintf(out, cap, "row %zu of the batch", row);
}

/* ------------------------------------------------------------------ decode: create */

static struct weir_type *dead_letter_schema(void)
{
    static const struct {
        const char *name;
        enum weir_type_kind kind;
    } cols[DL_NCOLS] = {
        {"pipeline", WEIR_TYPE_STRING},     {"batch_id", WEIR_TYPE_LONG}, {"topic", WEIR_TYPE_STRING},
        {"partition", WEIR_TYPE_INTEGER},   {"offset", WEIR_TYPE_LONG},   {"timestamp", WEIR_TYPE_TIMESTAMP},
        {"key", WEIR_TYPE_BINARY},          {"value", WEIR_TYPE_BINARY},  {"error", WEIR_TYPE_STRING},
        {"failed_at", WEIR_TYPE_TIMESTAMP},
    };
    struct weir_type *st = weir_type_struct();
    for (size_t i = 0; st != NULL && i < DL_NCOLS; i++) {
        struct weir_type *t = weir_type_primitive(cols[i].kind);
        if (t == NULL || weir_type_struct_add(st, cols[i].name, t, true, NULL) != 0) {
            weir_type_destroy(st);
            st = NULL;
        }
    }
    return st;
}

static void decode_step_destroy(struct decode_step *d)
{
    if (d == NULL)
        return;
    weir_buf_free(&d->scratch);
    weir_free(d->keep_cols);
    weir_batch_destroy(d->out);
    weir_json_decoder_destroy(d->dec);
    weir_dbz_decoder_destroy(d->dbz);
    weir_type_destroy(d->decl);
    weir_free(d);
}

/* Append the comma-separated names of in's fields to b. */
static int list_fields(struct weir_buf *b, const struct weir_type *in)
{
    int rc = 0;
    for (size_t i = 0; i < in->nfields && rc == 0; i++)
        rc = weir_buf_printf(b, "%s%s", i ? ", " : "", in->fields[i].name);
    return rc;
}

/* The keep columns: every name must exist in `in` and must not clash with
 * a decoded field or _rescued_data. Adds them to `outs`. */
static int decode_keep(struct decode_step *d, const struct weir_config_decode *c, const struct weir_type *in,
                       struct weir_type *outs, size_t i, struct weir_error *err)
{
    struct weir_buf unknown, avail;
    size_t nunknown = 0;
    int rc = 0;
    weir_buf_init(&unknown);
    weir_buf_init(&avail);
    if (c->nkeep > 0 && (d->keep_cols = weir_calloc(c->nkeep, sizeof *d->keep_cols)) == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "transform[%zu].decode: out of memory", i);
        goto out;
    }
    for (size_t k = 0; k < c->nkeep; k++) {
        int idx = weir_type_field_index(in, c->keep[k]);
        if (idx < 0) {
            if ((rc = weir_buf_printf(&unknown, "%s'%s'", nunknown ? ", " : "", c->keep[k])) != 0) {
                rc = weir_error_set(err, WEIR_ENOMEM, "transform[%zu].decode: out of memory", i);
                goto out;
            }
            nunknown++;
            continue;
        }
        const struct weir_field *f = &in->fields[idx];
        if (weir_type_field_index(outs, f->name) >= 0 || strcasecmp(f->name, RESCUED_COLUMN) == 0) {
            rc = weir_error_set(err, WEIR_ECONFIG,
                                "transform[%zu].decode.keep[%zu]: column '%s' is already in the output "
                                "(a decoded field or an earlier keep entry)",
                                i, k, f->name);
            goto out;
        }
        struct weir_type *t = weir_type_clone(f->type);
        if (t == NULL || weir_type_struct_add(outs, f->name, t, f->nullable, f->metadata) != 0) {
            rc = weir_error_set(err, WEIR_ENOMEM, "transform[%zu].decode: out of memory", i);
            goto out;
        }
        d->keep_cols[d->nkeep++] = (size_t)idx;
    }
    if (nunknown > 0) {
        if (list_fields(&avail, in) != 0 || weir_buf_append_byte(&unknown, 0) != 0 ||
            weir_buf_append_byte(&avail, 0) != 0) {
            rc = weir_error_set(err, WEIR_ENOMEM, "transform[%zu].decode: out of memory", i);
            goto out;
        }
        rc = weir_error_set(err, WEIR_ECONFIG,
                            "transform[%zu].decode.keep: the source has no column%s %s (available: %s)", i,
                            nunknown > 1 ? "s" : "", (const char *)unknown.data, (const char *)avail.data);
    }
out:
    weir_buf_free(&unknown);
    weir_buf_free(&avail);
    return rc;
}

static void letters_destroy(struct dead_letters *l)
{
    if (l == NULL)
        return;
    if (l->sink != NULL && l->begun && !l->already)
        l->sink->ops->abort(l->sink);
    weir_sink_destroy(l->sink);
    weir_batch_destroy(l->b);
    weir_type_destroy(l->schema);
    weir_free(l->path);
    weir_buf_free(&l->scratch);
    weir_free(l);
}

/* The dead-letter table at `path` for step i (kind `kind`) whose input is `in`. */
static int letters_open(struct step *s, const char *path, const char *pipeline, size_t i, const char *kind,
                        struct weir_error *err)
{
    struct dead_letters *l = weir_calloc(1, sizeof *l);
    int rc = 0;
    if (l == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "transform[%zu].%s: out of memory", i, kind);
    snprintf(l->whatbuf, sizeof l->whatbuf, "transform[%zu].%s", i, kind);
    l->what = l->whatbuf;
    weir_buf_init(&l->scratch);
    l->in_topic = find_col(s->in, "topic", WEIR_TYPE_STRING, -1);
    l->in_partition = find_col(s->in, "partition", WEIR_TYPE_INTEGER, -1);
    l->in_offset = find_col(s->in, "offset", WEIR_TYPE_LONG, -1);
    l->in_timestamp = find_col(s->in, "timestamp", WEIR_TYPE_TIMESTAMP, -1);
    l->in_key = find_col(s->in, "key", WEIR_TYPE_BINARY, WEIR_TYPE_STRING);
    if (path == NULL || path[0] == '\0') {
        rc = weir_error_set(err, WEIR_ECONFIG, "%s: dead letters need dead_letter_path", l->what);
        goto out;
    }
    if ((l->path = weir_strdup(path)) == NULL || (l->schema = dead_letter_schema()) == NULL ||
        (l->b = weir_batch_create(l->schema)) == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", l->what);
        goto out;
    }
    l->cfg.path = l->path;
    l->cfg.mode = WEIR_MODE_APPEND;
    l->cfg.target_file_size = DL_TARGET_FILE;
    l->cfg.codec = WEIR_CODEC_SNAPPY;
    if ((rc = weir_sink_delta_create(&l->cfg, pipeline, &l->sink, err)) != 0) {
        weir_error_prefix(err, "%s: dead-letter table '%s'", l->what, path);
        goto out;
    }
    s->dl = l;
    l = NULL;
out:
    letters_destroy(l);
    return rc;
}

/* A debezium-json decode step: the decoder, and the dead-letter table for
 * events it cannot decode (unless on_error fail). Its nominal output
 * schema is the metadata columns; the batches it emits have each table's
 * own schema. On success s->decode = d. */
static int dbz_create(struct step *s, struct decode_step *d, const struct weir_config_decode *c,
                      const char *pipeline, size_t i, struct weir_error *err)
{
    struct weir_dbz_options o;
    int rc = 0;
    weir_dbz_options_default(&o);
    o.rescue_fields = c->on_error == WEIR_ON_ERROR_RESCUE;
    o.tombstone_deletes = c->tombstones == 1;
    if (c->schema != NULL && (rc = weir_schema_parse(c->schema, &d->decl, err)) != 0)
        return weir_error_prefix(err, "transform[%zu].decode.schema", i);
    o.schema = d->decl;
    if ((rc = weir_dbz_decoder_create(&d->dbz, &o, err)) != 0)
        return weir_error_prefix(err, "transform[%zu].decode", i);
    if ((s->outs = weir_dbz_metadata_schema()) == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "transform[%zu].decode: out of memory", i);
    if (c->on_error != WEIR_ON_ERROR_FAIL &&
        (rc = letters_open(s, c->dead_letter_path, pipeline, i, "decode", err)) != 0)
        return rc;
    s->decode = d;
    return 0;
}

static int decode_create(struct step *s, const struct weir_config_decode *c, const char *pipeline, size_t i,
                         struct weir_error *err)
{
    struct decode_step *d = NULL;
    struct weir_type *outs = NULL;
    int rc = 0;
    const struct weir_type *in = s->in;

    if ((d = weir_calloc(1, sizeof *d)) == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "transform[%zu].decode: out of memory", i);
        goto out;
    }
    d->on_error = c->on_error;
    d->max_record_size = c->max_record_size;
    d->rescue_col = -1;
    weir_buf_init(&d->scratch);
    d->value_col = find_col(in, "value", WEIR_TYPE_BINARY, WEIR_TYPE_STRING);
    if (d->value_col < 0) {
        if (weir_type_field_index(in, "value") >= 0)
            rc = weir_error_set(err, WEIR_ESCHEMA,
                                "transform[%zu].decode: the source's 'value' column must be BINARY or STRING",
                                i);
        else
            rc =
                weir_error_set(err, WEIR_ESCHEMA,
                               "transform[%zu].decode: the source has no 'value' column (datagen emits typed "
                               "columns; decode is for kafka)",
                               i);
        goto out;
    }
    d->in_topic = find_col(in, "topic", WEIR_TYPE_STRING, -1);
    d->in_partition = find_col(in, "partition", WEIR_TYPE_INTEGER, -1);
    d->in_offset = find_col(in, "offset", WEIR_TYPE_LONG, -1);
    d->in_timestamp = find_col(in, "timestamp", WEIR_TYPE_TIMESTAMP, -1);
    d->in_key = find_col(in, "key", WEIR_TYPE_BINARY, WEIR_TYPE_STRING);

    if (c->format == WEIR_DECODE_DEBEZIUM) {
        rc = dbz_create(s, d, c, pipeline, i, err);
        if (rc == 0)
            d = NULL;
        goto out;
    }
    if (c->schema == NULL || (rc = weir_schema_parse(c->schema, &d->decl, err)) != 0) {
        if (c->schema == NULL)
            rc = weir_error_set(err, WEIR_ECONFIG, "transform[%zu].decode.schema: missing", i);
        else
            weir_error_prefix(err, "transform[%zu].decode.schema", i);
        goto out;
    }
    if ((rc = weir_json_decoder_create(&d->dec, d->decl, NULL, err)) != 0) {
        weir_error_prefix(err, "transform[%zu].decode", i);
        goto out;
    }
    /* output schema: decoded fields (nullable under rescue), keep, rescued */
    if ((outs = weir_type_clone(d->decl)) == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "transform[%zu].decode: out of memory", i);
        goto out;
    }
    d->ndec = outs->nfields;
    if (c->on_error == WEIR_ON_ERROR_RESCUE)
        for (size_t f = 0; f < outs->nfields; f++)
            outs->fields[f].nullable = true;
    if ((rc = decode_keep(d, c, in, outs, i, err)) != 0)
        goto out;
    if (c->on_error == WEIR_ON_ERROR_RESCUE) {
        if (weir_type_field_index(outs, RESCUED_COLUMN) >= 0) {
            rc = weir_error_set(err, WEIR_ECONFIG,
                                "transform[%zu].decode.schema: field '%s' is reserved for rescued records", i,
                                RESCUED_COLUMN);
            goto out;
        }
        struct weir_type *t = weir_type_primitive(WEIR_TYPE_STRING);
        if (t == NULL || weir_type_struct_add(outs, RESCUED_COLUMN, t, true, NULL) != 0) {
            rc = weir_error_set(err, WEIR_ENOMEM, "transform[%zu].decode: out of memory", i);
            goto out;
        }
        d->rescue_col = (int)outs->nfields - 1;
    }
    if ((d->out = weir_batch_create(outs)) == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "transform[%zu].decode: out of memory", i);
        goto out;
    }
    if (c->on_error == WEIR_ON_ERROR_DEAD_LETTER &&
        (rc = letters_open(s, c->dead_letter_path, pipeline, i, "decode", err)) != 0)
        goto out;
    s->decode = d;
    s->outs = outs;
    d = NULL;
    outs = NULL;
out:
    weir_type_destroy(outs);
    decode_step_destroy(d);
    return rc;
}

/* ------------------------------------------------------------------ decode: push */

/* Build the _rescued_data JSON of input row `row` into d->scratch. */
static int rescued_json(struct decode_step *d, const struct weir_batch *in, size_t row, const char *reason,
                        const uint8_t *v, size_t vn, bool valid, bool utf8)
{
    struct weir_buf *b = &d->scratch;
    int rc;
    b->len = 0;
    if ((rc = weir_buf_append_str(b, "{\"error\":")) != 0 ||
        (rc = weir_json_append_string(b, reason, strlen(reason))) != 0)
        return rc;
    if (!valid)
        rc = weir_buf_append_str(b, ",\"value\":null");
    else if (utf8) {
        if ((rc = weir_buf_append_str(b, ",\"value\":")) == 0)
            rc = weir_json_append_string(b, (const char *)v, vn);
    } else if ((rc = weir_buf_append_str(b, ",\"value_base64\":")) == 0)
        rc = append_base64_string(b, v, vn);
    if (rc != 0)
        return rc;
    if (d->in_topic >= 0 && weir_column_is_valid(&in->columns[d->in_topic], row)) {
        size_t n;
        const uint8_t *s = weir_column_bytes(&in->columns[d->in_topic], row, &n);
        if ((rc = weir_buf_append_str(b, ",\"topic\":")) != 0 ||
            (rc = weir_json_append_string(b, (const char *)s, n)) != 0)
            return rc;
    }
    if (d->in_partition >= 0 && weir_column_is_valid(&in->columns[d->in_partition], row) &&
        (rc = weir_buf_printf(b, ",\"partition\":%" PRId32,
                              weir_column_i32(&in->columns[d->in_partition], row))) != 0)
        return rc;
    if (d->in_offset >= 0 && weir_column_is_valid(&in->columns[d->in_offset], row) &&
        (rc = weir_buf_printf(b, ",\"offset\":%" PRId64, weir_column_i64(&in->columns[d->in_offset], row))) !=
            0)
        return rc;
    return weir_buf_append_byte(b, '}');
}

/* Copy column `src` row `row` into `dst`, or a null when src is absent. */
static int dl_copy(struct weir_column *dst, const struct weir_batch *in, int src, size_t row)
{
    if (src < 0)
        return weir_column_append_null(dst);
    return weir_column_append_from(dst, &in->columns[src], row);
}

static int letters_flush(struct dead_letters *l, struct weir_error *err)
{
    if (l->b->nrows == 0)
        return 0;
    int rc = l->sink->ops->write(l->sink, l->b, err);
    weir_batch_clear(l->b);
    return rc;
}

static int copy_bytes(struct weir_column *dst, const struct weir_batch *in, int src, size_t row)
{
    if (src < 0 || !weir_column_is_valid(&in->columns[src], row))
        return weir_column_append_null(dst);
    size_t n;
    const uint8_t *p = weir_column_bytes(&in->columns[src], row, &n);
    return weir_column_append_bytes(dst, p, n);
}

/* Append one dead-letter row for input row `row` whose value is column
 * value_col of in (a record that failed to decode) or, when value_col < 0,
 * the row itself as JSON. 0 or WEIR_ENOMEM (the batch may then hold a
 * partial row; the micro-batch is aborted). */
static int letters_append(const struct weir_transform *t, struct dead_letters *l, const struct weir_batch *in,
                          size_t row, int value_col, const char *reason, int64_t now_us)
{
    struct weir_column *c = l->b->columns;
    int rc;
    if ((rc = weir_column_append_bytes(&c[DL_PIPELINE], t->pipeline, strlen(t->pipeline))) != 0 ||
        (rc = weir_column_append_i64(&c[DL_BATCH_ID], t->batch_id)) != 0 ||
        (rc = dl_copy(&c[DL_TOPIC], in, l->in_topic, row)) != 0 ||
        (rc = dl_copy(&c[DL_PARTITION], in, l->in_partition, row)) != 0 ||
        (rc = dl_copy(&c[DL_OFFSET], in, l->in_offset, row)) != 0 ||
        (rc = dl_copy(&c[DL_TIMESTAMP], in, l->in_timestamp, row)) != 0 ||
        (rc = copy_bytes(&c[DL_KEY], in, l->in_key, row)) != 0)
        return rc;
    if (value_col >= 0) {
        rc = copy_bytes(&c[DL_VALUE], in, value_col, row);
    } else {
        l->scratch.len = 0;
        if ((rc = weir_json_encode_row(in, row, &l->scratch, NULL)) == 0)
            rc = weir_column_append_bytes(&c[DL_VALUE], l->scratch.data, l->scratch.len);
    }
    if (rc != 0 || (rc = weir_column_append_bytes(&c[DL_ERROR], reason, strlen(reason))) != 0)
        return rc;
    return weir_column_append_i64(&c[DL_FAILED_AT], now_us);
}

/* Add input row `row` to the dead letters of this micro-batch (see letters_append). */
static int dead_letter(struct weir_transform *t, struct dead_letters *l, const struct weir_batch *in,
                       size_t row, int value_col, const char *reason, int64_t now_us, struct weir_error *err)
{
    int rc = 0;
    if (!l->begun) {
        bool already = false;
        l->sink->query_id = t->query_id;
        if ((rc = l->sink->ops->begin(l->sink, t->batch_id, l->schema, &already, err)) != 0)
            return weir_error_prefix(err, "%s: dead-letter table", l->what);
        l->begun = true;
        l->already = already;
    }
    if (l->already)
        return 0; /* a replay: this batch's dead letters are already in the table */
    if ((rc = letters_append(t, l, in, row, value_col, reason, now_us)) != 0)
        return weir_error_set(err, rc, "%s: out of memory adding a dead letter", l->what);
    if ((rc = weir_batch_finish_rows(l->b)) != 0)
        return weir_error_set(err, rc, "%s: dead-letter batch columns disagree", l->what);
    if (l->b->nrows >= DL_FLUSH_ROWS || l->b->columns[DL_VALUE].bytes_len >= DL_FLUSH_BYTES) {
        if ((rc = letters_flush(l, err)) != 0)
            return weir_error_prefix(err, "%s: writing dead letters", l->what);
    }
    return 0;
}

/* After the decoded columns of output row `row`: the keep columns, then
 * _rescued_data (null when `rescued` is NULL). 0 or WEIR_ENOMEM. */
static int append_tail(struct decode_step *d, const struct weir_batch *in, size_t row, const uint8_t *rescued,
                       size_t n)
{
    struct weir_batch *out = d->out;
    int rc = 0;
    for (size_t k = 0; k < d->nkeep && rc == 0; k++)
        rc = weir_column_append_from(&out->columns[d->ndec + k], &in->columns[d->keep_cols[k]], row);
    if (rc != 0 || d->rescue_col < 0)
        return rc;
    if (rescued == NULL)
        return weir_column_append_null(&out->columns[d->rescue_col]);
    return weir_column_append_bytes(&out->columns[d->rescue_col], rescued, n);
}

static int decode_push(struct weir_transform *t, struct step *s, size_t si, const struct weir_batch *in,
                       int64_t now_us, struct weir_error *err)
{
    struct decode_step *d = s->decode;
    struct weir_batch *out = d->out;
    const struct weir_column *vcol = &in->columns[d->value_col];
    const int64_t maxsz = d->max_record_size;
    struct weir_error derr;
    char reason[WEIR_ERROR_MSG_MAX];
    int rc = 0;

    weir_error_clear(&derr);
    weir_batch_clear(out);
    /* the decoded columns seen with the declared schema (see the top) */
    struct weir_batch view = {.schema = d->decl, .nrows = 0, .ncolumns = d->ndec, .columns = out->columns};

    for (size_t row = 0; row < in->nrows; row++) {
        size_t vn = 0;
        const uint8_t *vp = NULL;
        bool valid = weir_column_is_valid(vcol, row), utf8 = true;
        reason[0] = 0;
        if (!valid) {
            snprintf(reason, sizeof reason, "null value");
        } else {
            vp = weir_column_bytes(vcol, row, &vn);
            if (maxsz > 0 && (uint64_t)vn > (uint64_t)maxsz) {
                snprintf(reason, sizeof reason,
                         "record of %zu bytes exceeds decode.max_record_size (%" PRId64 ")", vn, maxsz);
                utf8 = utf8_invalid_at(vp, vn) == vn;
            } else if ((rc = weir_json_decode_record(d->dec, (const char *)vp, vn, &view, &derr)) != 0) {
                /* A record that decodes is valid UTF-8 (the parser checks
                 * every string; everything else is ASCII grammar), so the
                 * UTF-8 scan is only paid for records that fail. */
                if (rc == WEIR_ENOMEM) {
                    weir_error_set(err, rc, "%s", derr.message);
                    rc = weir_error_prefix(err, "transform[%zu].decode", si);
                    goto out;
                }
                size_t bad = utf8_invalid_at(vp, vn);
                if (bad != vn) {
                    snprintf(reason, sizeof reason, "invalid UTF-8 at byte %zu", bad);
                    utf8 = false;
                } else {
                    decoder_reason(derr.message, reason, sizeof reason);
                }
                weir_error_clear(&derr);
                rc = 0;
            }
        }
        if (reason[0] == 0) {
            /* decoded: the keep columns and an empty _rescued_data */
            if ((rc = append_tail(d, in, row, NULL, 0)) != 0) {
                rc = weir_error_set(err, rc, "transform[%zu].decode: out of memory", si);
                goto out;
            }
            continue;
        }
        switch (d->on_error) {
        case WEIR_ON_ERROR_RESCUE:
            for (size_t f = 0; f < d->ndec && rc == 0; f++)
                rc = weir_column_append_null(&out->columns[f]);
            if (rc == 0)
                rc = rescued_json(d, in, row, reason, vp, vn, valid, utf8);
            if (rc == 0)
                rc = append_tail(d, in, row, d->scratch.data, d->scratch.len);
            if (rc != 0) {
                rc = weir_error_set(err, rc, "transform[%zu].decode: out of memory", si);
                goto out;
            }
            t->m.rescued++;
            break;
        case WEIR_ON_ERROR_DEAD_LETTER:
            if ((rc = dead_letter(t, s->dl, in, row, d->value_col, reason, now_us, err)) != 0)
                goto out;
            t->m.dead_letters++;
            break;
        default: {
            char where[512];
            record_location(d, in, row, where, sizeof where);
            rc = weir_error_set(err, WEIR_EPARSE, "transform[%zu].decode: %s: %s", si, where, reason);
            goto out;
        }
        }
    }
    if ((rc = weir_batch_finish_rows(out)) != 0)
        rc = weir_error_set(err, rc, "transform[%zu].decode: output columns disagree in length", si);
out:
    if (rc != 0)
        weir_batch_clear(out);
    return rc;
}

/* A debezium decode (the only step): every record through the decoder,
 * failures to the dead-letter table (or the batch fails), then each
 * table's rows to cb. */
static int dbz_push(struct weir_transform *t, struct step *s, const struct weir_batch *in, int64_t now_us,
                    weir_transform_emit_cb cb, void *ctx, struct weir_error *err)
{
    struct decode_step *d = s->decode;
    const struct weir_column *vcol = &in->columns[d->value_col];
    const int64_t maxsz = d->max_record_size;
    char topic[256], reason[WEIR_ERROR_MSG_MAX];
    int rc = 0;
    for (size_t row = 0; row < in->nrows; row++) {
        size_t vn = 0, kn = 0;
        const uint8_t *vp = NULL, *kp = NULL;
        topic[0] = 0;
        if (d->in_topic >= 0 && weir_column_is_valid(&in->columns[d->in_topic], row)) {
            size_t n;
            const uint8_t *tp = weir_column_bytes(&in->columns[d->in_topic], row, &n);
            if (n >= sizeof topic)
                n = sizeof topic - 1;
            memcpy(topic, tp, n);
            topic[n] = 0;
        }
        if (d->in_key >= 0 && weir_column_is_valid(&in->columns[d->in_key], row))
            kp = weir_column_bytes(&in->columns[d->in_key], row, &kn);
        if (weir_column_is_valid(vcol, row))
            vp = weir_column_bytes(vcol, row, &vn);
        struct weir_error derr = {0};
        enum weir_dbz_result res;
        reason[0] = 0;
        if (maxsz > 0 && (uint64_t)vn > (uint64_t)maxsz) {
            snprintf(reason, sizeof reason,
                     "record of %zu bytes exceeds decode.max_record_size (%" PRId64 ")", vn, maxsz);
        } else if ((rc = weir_dbz_decode(d->dbz, kp, kn, vp, vn, topic[0] ? topic : NULL, &res, &derr)) !=
                   0) {
            if (rc != WEIR_EPARSE) {
                weir_error_set(err, rc, "%s", derr.message);
                return weir_error_prefix(err, "transform[0].decode");
            }
            snprintf(reason, sizeof reason, "%s", derr.message);
            rc = 0;
        }
        if (reason[0] == 0)
            continue;
        if (s->dl == NULL) {
            char where[512];
            record_location(d, in, row, where, sizeof where);
            return weir_error_set(err, WEIR_EPARSE, "transform[0].decode: %s: %s", where, reason);
        }
        if ((rc = dead_letter(t, s->dl, in, row, d->value_col, reason, now_us, err)) != 0)
            return rc;
        t->m.dead_letters++;
    }
    for (;;) {
        struct weir_batch *b = NULL;
        if ((rc = weir_dbz_take(d->dbz, &b)) != 0)
            return weir_error_set(err, rc, "transform[0].decode: out of memory");
        if (b == NULL)
            return 0;
        t->m.rows_out += (int64_t)b->nrows;
        rc = cb(ctx, b, err);
        weir_batch_destroy(b);
        if (rc != 0) {
            weir_dbz_discard(d->dbz);
            return rc;
        }
    }
}

/* ------------------------------------------------------------------ create */

static void step_free(struct step *s)
{
    weir_type_destroy(s->in);
    weir_type_destroy(s->outs);
    weir_expr_destroy(s->where);
    for (size_t j = 0; j < s->nselect; j++)
        weir_expr_destroy(s->select[j]);
    weir_free(s->select);
    decode_step_destroy(s->decode);
    letters_destroy(s->dl);
    weir_dedup_destroy(s->dedup);
    weir_aggregate_destroy(s->agg);
}

static int where_create(struct step *s, const char *text, size_t i, struct weir_error *err)
{
    int rc;
    if (text == NULL)
        return weir_error_set(err, WEIR_ECONFIG, "transform[%zu].where: missing expression", i);
    if ((rc = weir_expr_parse(text, &s->where, err)) != 0 || (rc = weir_expr_bind(s->where, s->in, err)) != 0)
        return weir_error_prefix(err, "transform[%zu].where", i);
    const struct weir_type *ty = weir_expr_type(s->where);
    if (ty == NULL || ty->kind != WEIR_TYPE_BOOLEAN) {
        char *disp = ty ? weir_type_to_display(ty) : NULL;
        rc = weir_error_set(err, WEIR_ESCHEMA, "transform[%zu].where: '%s' is %s, not a boolean condition", i,
                            text, disp ? disp : "not a value");
        weir_free(disp);
        return rc;
    }
    if ((s->outs = weir_type_clone(s->in)) == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "transform[%zu].where: out of memory", i);
    return 0;
}

static int select_create(struct step *s, const struct weir_config_step *c, size_t i, struct weir_error *err)
{
    struct weir_batch *empty = NULL, *proj = NULL;
    int rc = 0;
    if (c->nselect == 0)
        return weir_error_set(err, WEIR_ECONFIG, "transform[%zu].select: empty list", i);
    if ((s->select = weir_calloc(c->nselect, sizeof *s->select)) == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "transform[%zu].select: out of memory", i);
    for (size_t j = 0; j < c->nselect; j++) {
        if ((rc = weir_expr_parse(c->select[j], &s->select[s->nselect], err)) != 0)
            return weir_error_prefix(err, "transform[%zu].select[%zu]", i, j);
        s->nselect++;
        if ((rc = weir_expr_bind(s->select[j], s->in, err)) != 0)
            return weir_error_prefix(err, "transform[%zu].select[%zu]", i, j);
    }
    /* output names must be unique (Delta column names are case-insensitive) */
    const char **names = weir_calloc(s->in->nfields * c->nselect + 1, sizeof *names);
    size_t nnames = 0;
    if (names == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "transform[%zu].select: out of memory", i);
    for (size_t j = 0; j < s->nselect; j++) {
        if (weir_expr_type(s->select[j]) == NULL) /* "*" */
            for (size_t f = 0; f < s->in->nfields; f++)
                names[nnames++] = s->in->fields[f].name;
        else
            names[nnames++] = weir_expr_name(s->select[j]);
    }
    for (size_t a = 0; a < nnames && rc == 0; a++)
        for (size_t b = a + 1; b < nnames && rc == 0; b++)
            if (strcasecmp(names[a], names[b]) == 0)
                rc = weir_error_set(err, WEIR_ECONFIG,
                                    "transform[%zu].select: column name '%s' appears twice in the output "
                                    "(columns %zu and %zu; use AS to rename one)",
                                    i, names[b], a, b);
    weir_free(names);
    if (rc != 0)
        return rc;
    /* the output schema is what the projection of an empty batch has */
    if ((empty = weir_batch_create(s->in)) == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "transform[%zu].select: out of memory", i);
        goto out;
    }
    if ((rc = weir_expr_project(s->select, s->nselect, empty, 0, &proj, err)) != 0) {
        weir_error_prefix(err, "transform[%zu].select", i);
        goto out;
    }
    const struct weir_type *ps = proj->schema;
    if ((s->outs = weir_type_clone(ps)) == NULL)
        rc = weir_error_set(err, WEIR_ENOMEM, "transform[%zu].select: out of memory", i);
out:
    weir_batch_destroy(proj);
    weir_batch_destroy(empty);
    return rc;
}

bool weir_transform_is_stateful(const struct weir_config_pipeline *p)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == WEIR_STEP_DEDUP || p->steps[i].kind == WEIR_STEP_AGGREGATE)
            return true;
    return false;
}

/* State operator name of step i: its kind, numbered from the second of a kind on
 * ("dedup", "dedup#2"), so stateless steps added or removed around it keep it. */
static void op_name(const struct weir_config_pipeline *p, size_t i, char *out, size_t cap)
{
    const char *kind = p->steps[i].kind == WEIR_STEP_DEDUP ? "dedup" : "aggregate";
    int nth = 1;
    for (size_t j = 0; j < i; j++)
        nth += p->steps[j].kind == p->steps[i].kind;
    if (nth == 1)
        snprintf(out, cap, "%s", kind);
    else
        snprintf(out, cap, "%s#%d", kind, nth);
}

static int watermark_create(struct weir_transform *t, struct step *s, const struct weir_config_watermark *c,
                            const char *pipeline, size_t i, struct weir_error *err)
{
    int col = weir_type_field_index(s->in, c->column);
    if (col < 0)
        return weir_error_set(err, WEIR_ESCHEMA, "transform[%zu].watermark: no column '%s'", i, c->column);
    int k = s->in->fields[col].type->kind;
    if (k != WEIR_TYPE_TIMESTAMP && k != WEIR_TYPE_TIMESTAMP_NTZ)
        return weir_error_set(err, WEIR_ESCHEMA, "transform[%zu].watermark: column '%s' is not a TIMESTAMP",
                              i, c->column);
    int rc;
    if (c->late_rows == WEIR_LATE_DEAD_LETTER &&
        (rc = letters_open(s, c->dead_letter_path, pipeline, i, "watermark", err)) != 0)
        return rc;
    s->wm_col = col;
    t->sb.has_watermark = true;
    t->wm_delay_ms = c->delay_ms;
    if ((s->outs = weir_type_clone(s->in)) == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "transform[%zu].watermark: out of memory", i);
    return 0;
}

int weir_transform_create(const struct weir_config_pipeline *p, const struct weir_type *in,
                          const char *query_id, struct weir_state *st, struct weir_transform **out,
                          struct weir_error *err)
{
    struct weir_transform *t = NULL;
    int rc = 0;
    *out = NULL;
    if (in == NULL || in->kind != WEIR_TYPE_STRUCT) {
        rc = weir_error_set(err, WEIR_EINVAL, "transform: the source schema must be a struct");
        goto out;
    }
    if ((t = weir_calloc(1, sizeof *t)) != NULL)
        pthread_mutex_init(&t->spare_mu, NULL);
    if (t == NULL || (t->in = weir_type_clone(in)) == NULL ||
        (t->pipeline = weir_strdup(p->name ? p->name : "")) == NULL ||
        (t->query_id = weir_strdup(query_id ? query_id : "")) == NULL ||
        (p->nsteps > 0 && (t->steps = weir_calloc(p->nsteps, sizeof *t->steps)) == NULL)) {
        rc = weir_error_set(err, WEIR_ENOMEM, "transform: out of memory");
        goto out;
    }
    t->batch_id = -1;
    t->st = st;
    t->stateful = weir_transform_is_stateful(p);
    const struct weir_type *cur = t->in;
    for (size_t i = 0; i < p->nsteps; i++) {
        const struct weir_config_step *c = &p->steps[i];
        struct step *s = &t->steps[i];
        t->nsteps++;
        s->kind = c->kind;
        if ((s->in = weir_type_clone(cur)) == NULL) {
            rc = weir_error_set(err, WEIR_ENOMEM, "transform: out of memory");
            goto out;
        }
        switch (c->kind) {
        case WEIR_STEP_DECODE:
            rc = decode_create(s, &c->decode, t->pipeline, i, err);
            break;
        case WEIR_STEP_WHERE:
            rc = where_create(s, c->where, i, err);
            break;
        case WEIR_STEP_SELECT:
            rc = select_create(s, c, i, err);
            break;
        case WEIR_STEP_WATERMARK:
            rc = watermark_create(t, s, &c->watermark, t->pipeline, i, err);
            break;
        case WEIR_STEP_DEDUP:
        case WEIR_STEP_AGGREGATE: {
            char name[32];
            const char *wm_col = NULL;
            for (size_t j = 0; j < i; j++)
                if (p->steps[j].kind == WEIR_STEP_WATERMARK)
                    wm_col = p->steps[j].watermark.column;
            op_name(p, i, name, sizeof name);
            if (c->kind == WEIR_STEP_DEDUP) {
                rc = weir_dedup_create(&c->dedup, s->in, wm_col, t->wm_delay_ms, st, name, &s->dedup, err);
                if (rc == 0 && (s->outs = weir_type_clone(s->in)) == NULL)
                    rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            } else {
                rc = weir_aggregate_create(&c->aggregate, s->in, st, name, &s->agg, err);
                if (rc == 0 && (s->outs = weir_type_clone(weir_aggregate_schema(s->agg))) == NULL)
                    rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            }
            if (rc)
                weir_error_prefix(err, "transform[%zu].%s", i,
                                  c->kind == WEIR_STEP_DEDUP ? "dedup" : "aggregate");
            break;
        }
        default:
            rc = weir_error_set(err, WEIR_EUNSUPPORTED, "transform[%zu]: unknown step kind %d", i, c->kind);
            break;
        }
        if (rc != 0)
            goto out;
        cur = s->outs;
    }
    /* a debezium decode emits its batches itself (dbz_push), never as a front */
    while (t->front < t->nsteps &&
           ((t->steps[t->front].kind == WEIR_STEP_DECODE && t->steps[t->front].decode->dbz == NULL) ||
            t->steps[t->front].kind == WEIR_STEP_WHERE || t->steps[t->front].kind == WEIR_STEP_SELECT))
        t->front++;
    *out = t;
    t = NULL;
out:
    weir_transform_destroy(t);
    return rc;
}

void weir_transform_destroy(struct weir_transform *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nsteps; i++)
        step_free(&t->steps[i]);
    weir_free(t->steps);
    for (size_t i = 0; i < t->nspare; i++)
        weir_batch_destroy(t->spare[i]);
    pthread_mutex_destroy(&t->spare_mu);
    weir_type_destroy(t->in);
    weir_free(t->query_id);
    weir_free(t->pipeline);
    weir_free(t);
}

const struct weir_type *weir_transform_schema(const struct weir_transform *t)
{
    return t->nsteps > 0 ? t->steps[t->nsteps - 1].outs : t->in;
}

/* ------------------------------------------------------------------ per batch */

int weir_transform_begin(struct weir_transform *t, int64_t batch_id, int64_t watermark_ms, int64_t now_ms,
                         struct weir_error *err)
{
    if (t->begun)
        weir_transform_abort(t);
    if (t->stateful && t->st == NULL)
        return weir_error_set(err, WEIR_ESTATE,
                              "transform: stateful steps without a state store (validation only)");
    memset(&t->m, 0, sizeof t->m);
    t->batch_id = batch_id;
    t->begun = true;
    t->sb.batch_id = batch_id;
    t->sb.watermark_ms = watermark_ms;
    t->sb.now_ms = now_ms;
    t->max_event_us = INT64_MIN;
    return 0;
}

/* Drop the rows of `in` at or before the batch's watermark (late; to the
 * dead letters when configured), and note the largest event time.
 * *out: a new batch, or NULL when none is late. */
static int watermark_push(struct weir_transform *t, struct step *s, const struct weir_batch *in,
                          int64_t now_us, struct weir_batch **out, struct weir_error *err)
{
    const struct weir_column *c = &in->columns[s->wm_col];
    int64_t limit = t->sb.watermark_ms * 1000, mx = t->max_event_us;
    size_t late = 0;
    uint32_t *keep = NULL;
    char wm[40] = ""; /* the watermark as text, for the dead letters' reason */
    *out = NULL;
    for (size_t r = 0; r < in->nrows; r++) {
        bool valid = weir_column_is_valid(c, r);
        int64_t v = valid ? weir_column_i64(c, r) : 0;
        if (valid && v > mx)
            mx = v;
        bool is_late = valid && v <= limit;
        if (is_late && keep == NULL) {
            if ((keep = weir_malloc(in->nrows * sizeof *keep)) == NULL)
                return weir_error_set(err, WEIR_ENOMEM, "watermark: out of memory");
            for (size_t q = 0; q < r; q++)
                keep[q] = (uint32_t)q;
        }
        if (is_late && s->dl != NULL) {
            char reason[160], et[40];
            if (wm[0] == 0)
                weir_json_format_timestamp(limit, true, wm);
            weir_json_format_timestamp(v, true, et);
            snprintf(reason, sizeof reason, "late: event time %s is at or before the watermark %s", et, wm);
            int rc = dead_letter(t, s->dl, in, r, -1, reason, now_us, err);
            if (rc != 0) {
                weir_free(keep);
                return rc;
            }
        }
        if (is_late)
            late++;
        else if (keep != NULL)
            keep[r - late] = (uint32_t)r;
    }
    t->max_event_us = mx;
    t->m.late += (int64_t)late;
    int rc = 0;
    if (keep != NULL && (rc = weir_batch_take(in, keep, in->nrows - late, out)) != 0)
        rc = weir_error_set(err, rc, "watermark: out of memory");
    weir_free(keep);
    return rc;
}

/* Steps [from, to) over `in`. *res: the result (`in` itself, a decode
 * step's reused batch, or *owned, which the caller destroys), NULL when an
 * aggregate took the rows (they come out in finish). */
static int run_steps(struct weir_transform *t, size_t from, size_t to, const struct weir_batch *in,
                     int64_t now_us, const struct weir_batch **res, struct weir_batch **owned,
                     struct weir_error *err)
{
    const struct weir_batch *cur = in;
    int rc = 0;
    *owned = NULL;
    *res = NULL;
    for (size_t i = from; i < to && cur->nrows > 0; i++) {
        struct step *s = &t->steps[i];
        struct weir_batch *next = NULL;
        switch (s->kind) {
        case WEIR_STEP_WATERMARK:
        case WEIR_STEP_DEDUP:
            if (s->kind == WEIR_STEP_WATERMARK)
                rc = watermark_push(t, s, cur, now_us, &next, err);
            else
                rc = weir_dedup_push(s->dedup, &t->sb, cur, now_us, &next, err);
            if (rc != 0)
                return weir_error_prefix(err, "transform[%zu]", i);
            if (next == NULL)
                continue; /* every row passed */
            if (s->kind == WEIR_STEP_DEDUP)
                t->m.duplicates += (int64_t)(cur->nrows - next->nrows);
            break;
        case WEIR_STEP_AGGREGATE:
            if ((rc = weir_aggregate_push(s->agg, &t->sb, cur, now_us, err)) != 0)
                weir_error_prefix(err, "transform[%zu]", i);
            return rc; /* rows come out in finish */
        case WEIR_STEP_DECODE:
            if ((rc = decode_push(t, s, i, cur, now_us, err)) != 0)
                return rc;
            weir_batch_destroy(*owned);
            *owned = NULL;
            cur = s->decode->out;
            continue;
        case WEIR_STEP_WHERE:
            if ((rc = weir_expr_filter_batch(s->where, cur, now_us, &next, err)) != 0)
                return weir_error_prefix(err, "transform[%zu].where", i);
            t->m.filtered += (int64_t)(cur->nrows - next->nrows);
            break;
        default:
            if ((rc = weir_expr_project(s->select, s->nselect, cur, now_us, &next, err)) != 0)
                return weir_error_prefix(err, "transform[%zu].select", i);
            break;
        }
        weir_batch_destroy(*owned);
        *owned = next;
        cur = next;
    }
    *res = cur;
    return 0;
}

/* Steps [from, nsteps) over `in`, the rest to cb. */
static int run_from(struct weir_transform *t, size_t from, const struct weir_batch *in, int64_t now_us,
                    weir_transform_emit_cb cb, void *ctx, struct weir_error *err)
{
    const struct weir_batch *res;
    struct weir_batch *owned;
    int rc = run_steps(t, from, t->nsteps, in, now_us, &res, &owned, err);
    if (rc == 0 && res != NULL && res->nrows > 0) {
        t->m.rows_out += (int64_t)res->nrows;
        rc = cb(ctx, res, err);
    }
    weir_batch_destroy(owned);
    return rc;
}

static int push_check(const struct weir_transform *t, const struct weir_batch *in, struct weir_error *err)
{
    if (!t->begun)
        return weir_error_set(err, WEIR_ESTATE, "transform: push without begin");
    if (!weir_type_equal(in->schema, t->in))
        return weir_error_set(err, WEIR_ESCHEMA,
                              "transform: the batch's schema differs from the source schema");
    return 0;
}

int weir_transform_push(struct weir_transform *t, const struct weir_batch *in, int64_t now_us,
                        weir_transform_emit_cb cb, void *ctx, struct weir_error *err)
{
    int rc = push_check(t, in, err);
    if (rc)
        return rc;
    t->m.rows_in += (int64_t)in->nrows;
    if (t->nsteps == 1 && t->steps[0].kind == WEIR_STEP_DECODE && t->steps[0].decode->dbz != NULL)
        return dbz_push(t, &t->steps[0], in, now_us, cb, ctx, err);
    return run_from(t, 0, in, now_us, cb, ctx, err);
}

bool weir_transform_has_front(const struct weir_transform *t)
{
    return t->front > 0;
}

/* A cleared batch of the decode step's output schema: a released one, or new. */
static struct weir_batch *spare_take(struct weir_transform *t, struct step *s)
{
    struct weir_batch *b = NULL;
    pthread_mutex_lock(&t->spare_mu);
    if (t->nspare > 0)
        b = t->spare[--t->nspare];
    pthread_mutex_unlock(&t->spare_mu);
    return b ? b : weir_batch_create(s->outs);
}

int weir_transform_push_front(struct weir_transform *t, const struct weir_batch *in, int64_t now_us,
                              struct weir_batch **out, struct weir_error *err)
{
    *out = NULL;
    int rc = push_check(t, in, err);
    if (rc == 0 && t->front == 0)
        rc = weir_error_set(err, WEIR_EINVAL, "transform: no row-local steps to push through");
    if (rc)
        return rc;
    t->m.rows_in += (int64_t)in->nrows;
    const struct weir_batch *res;
    struct weir_batch *owned;
    if ((rc = run_steps(t, 0, t->front, in, now_us, &res, &owned, err)) != 0 || res == NULL ||
        res->nrows == 0) {
        weir_batch_destroy(owned);
        return rc;
    }
    if (owned != NULL) {
        *out = owned;
        return 0;
    }
    /* the decode step's own batch: handed over, the step gets another */
    struct step *s = &t->steps[t->front - 1];
    struct weir_batch *fresh = spare_take(t, s);
    if (fresh == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "transform[%zu].decode: out of memory", t->front - 1);
    *out = s->decode->out;
    s->decode->out = fresh;
    return 0;
}

int weir_transform_push_back(struct weir_transform *t, const struct weir_batch *b, int64_t now_us,
                             weir_transform_emit_cb cb, void *ctx, struct weir_error *err)
{
    return run_from(t, t->front, b, now_us, cb, ctx, err);
}

void weir_transform_release(struct weir_transform *t, struct weir_batch *b)
{
    if (b == NULL)
        return;
    const struct step *s = t->front > 0 ? &t->steps[t->front - 1] : NULL;
    if (s != NULL && s->decode != NULL && weir_type_equal(b->schema, s->outs)) {
        weir_batch_clear(b);
        pthread_mutex_lock(&t->spare_mu);
        if (t->nspare < SPARE_MAX) {
            t->spare[t->nspare++] = b;
            b = NULL;
        }
        pthread_mutex_unlock(&t->spare_mu);
    }
    weir_batch_destroy(b);
}

struct after_agg {
    struct weir_transform *t;
    size_t from;
    int64_t now_us;
    weir_transform_emit_cb cb;
    void *ctx;
};

static int on_agg_rows(void *ctx, const struct weir_batch *b, struct weir_error *err)
{
    struct after_agg *x = ctx;
    return run_from(x->t, x->from, b, x->now_us, x->cb, x->ctx, err);
}

int weir_transform_finish(struct weir_transform *t, int64_t now_us, weir_transform_emit_cb cb, void *ctx,
                          struct weir_error *err)
{
    if (!t->begun)
        return weir_error_set(err, WEIR_ESTATE, "transform: finish without begin");
    for (size_t i = 0; i < t->nsteps; i++) {
        struct step *s = &t->steps[i];
        int rc = 0;
        if (s->dedup)
            rc = weir_dedup_finish(s->dedup, &t->sb, err);
        else if (s->agg) {
            struct after_agg x = {t, i + 1, now_us, cb, ctx};
            rc = weir_aggregate_finish(s->agg, &t->sb, on_agg_rows, &x, err);
        }
        if (rc != 0)
            return weir_error_prefix(err, "transform[%zu]", i);
    }
    return 0;
}

bool weir_transform_next_watermark(const struct weir_transform *t, int64_t *ms)
{
    if (!t->sb.has_watermark)
        return false;
    int64_t next = t->sb.watermark_ms;
    if (t->max_event_us != INT64_MIN) {
        int64_t cand = (t->max_event_us >= 0 ? t->max_event_us / 1000 : -((-t->max_event_us + 999) / 1000)) -
                       t->wm_delay_ms;
        if (cand > next)
            next = cand;
    }
    *ms = next;
    return true;
}

size_t weir_transform_state_metrics(const struct weir_transform *t, struct weir_stateful_metrics *out,
                                    size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nsteps && n < cap; i++) {
        if (t->steps[i].dedup)
            weir_dedup_metrics(t->steps[i].dedup, &out[n++]);
        else if (t->steps[i].agg)
            weir_aggregate_metrics(t->steps[i].agg, &out[n++]);
    }
    return n;
}

size_t weir_transform_keys(const struct weir_transform *t, const char *const **names)
{
    for (size_t i = 0; i < t->nsteps; i++)
        if (t->steps[i].agg)
            return weir_aggregate_keys(t->steps[i].agg, names);
    *names = NULL;
    return 0;
}

int weir_transform_commit(struct weir_transform *t, struct weir_error *err)
{
    int rc = 0;
    if (!t->begun)
        return weir_error_set(err, WEIR_ESTATE, "transform: commit without begin");
    for (size_t i = 0; i < t->nsteps; i++) {
        struct dead_letters *l = t->steps[i].dl;
        if (l == NULL || !l->begun)
            continue;
        if (!l->already) {
            struct weir_sink_result res;
            if ((rc = letters_flush(l, err)) == 0)
                rc = l->sink->ops->commit(l->sink, &res, err);
            if (rc != 0) {
                weir_error_prefix(err, "%s: committing dead letters of batch %" PRId64, l->what, t->batch_id);
                weir_transform_abort(t);
                return rc;
            }
        }
        l->begun = false;
        l->already = false;
    }
    t->begun = false;
    return 0;
}

void weir_transform_abort(struct weir_transform *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nsteps; i++) {
        struct dead_letters *l = t->steps[i].dl;
        if (l != NULL) {
            if (l->begun && !l->already)
                l->sink->ops->abort(l->sink);
            l->begun = false;
            l->already = false;
            weir_batch_clear(l->b);
        }
        if (t->steps[i].decode != NULL && t->steps[i].decode->dbz != NULL)
            weir_dbz_discard(t->steps[i].decode->dbz);
        else if (t->steps[i].decode != NULL)
            weir_batch_clear(t->steps[i].decode->out);
        if (t->steps[i].agg != NULL)
            weir_aggregate_abort(t->steps[i].agg);
        if (t->steps[i].dedup != NULL)
            weir_dedup_abort(t->steps[i].dedup);
    }
    t->begun = false;
}

void weir_transform_metrics(const struct weir_transform *t, struct weir_transform_metrics *m)
{
    *m = t->m;
}
