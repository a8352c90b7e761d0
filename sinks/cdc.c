/* sinks/cdc.c - change data applied to Delta tables exactly once.
 *
 * The sink of a pipeline whose Delta sink merges change data (a
 * debezium-json decode, or sequence_by / apply_as_* / scd_type options):
 * every row is a change of one key; per batch and table the changes are
 * put in order and applied as one MERGE commit (delta/merge.c actions)
 * with txn{appId: query id, version: batch id}.
 *
 * Owns: the tables written (one, or one per source table named by the
 * decoder's metadata through table_path_template), each with the rows of
 * the batch in flight (the decoder's batches, kept until commit; a table's
 * later batches may have more columns), and the state operator "cdc" in
 * the pipeline's state store:
 *
 *   'k' table '\0' key   -> flags (1: the key has a row in the table; 2: the
 *                           group of the files holding the row follows, 8
 *                           bytes) and the sequence of the last change
 *                           applied
 *   'f' table            -> the sequence of the last truncate applied
 *   'o' table            -> the table was created by this pipeline
 *
 * Sequences are stored in an order-preserving encoding (seq_append), so
 * comparing two is memcmp. A change whose sequence is not above its key's
 * (or the table's truncate) is stale and ignored: replays and reordering
 * never move a row back. Rows without a sequence are never stale and come
 * after the sequenced changes of their key.
 *
 * Per batch and table (apply_table):
 *   1. the rows in one batch of the last schema; deletes and truncates
 *      from the apply_as_* predicates;
 *   2. the latest truncate above the table's floor empties the table
 *      (changes at or before it in this batch are dropped);
 *   3. the changes grouped by key and sorted by sequence; stale ones out;
 *   4. scd_type 1: the last change of a key upserts or deletes it (a soft
 *      delete sets __deleted); scd_type 2: every upsert becomes a version
 *      row (__start_at its sequence, __end_at the next change's), and the
 *      table's current version of a known key is closed at the first
 *      change. A key the state says is not in a table this pipeline
 *      created is inserted without looking for it in the data files;
 *   5. one MERGE commit; the state records each key's last change and
 *      the group of the files now holding its row: the key -> file index
 *      (delta.h merge_group / merge_hints). The batch's new rows form
 *      one group per table, named by a hash of the query, batch and table
 *      so that a rerun names the files the first run committed; a row a
 *      merge rewrites keeps its group. The index is a hint the merge
 *      verifies: keys not found where it points are searched by stats.
 * The state is written whether or not the table already held the batch's
 * txn (a replay after a crash), so it always matches the table.
 *
 * One thread (the pipeline's) calls the sink. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/expr.h"
#include "core/hll.h"
#include "core/keymap.h"
#include "core/log.h"
#include "delta/delta.h"
#include "formats/debezium.h"
#include "sinks/sink.h"
#include "sinks/sink_int.h"
#include "state/store.h"
#include "stream/config.h"

#define STATE_OP     "cdc"
#define STATE_LAYOUT 1
#define DELETED_COL  "__deleted"
#define START_COL    "__start_at"
#define END_COL      "__end_at"
#define F_PRESENT    1
#define F_GROUP      2 /* an 8-byte group follows the flags */

struct ctable {
    char *name; /* "db.schema.table", "" for the one table of a path */
    char *path;
    char **keys; /* NULL-terminated; borrowed from the config, or owned (dbz) */
    size_t nkeys;
    bool own_keys;
    struct weir_delta_table *t;
    struct weir_batch **parts;
    size_t nparts, cap;
    int owned; /* -1 unknown, 0 no, 1 created by this pipeline */
};

struct cdc_sink {
    struct weir_sink base;
    const struct weir_config_delta *cfg;
    bool dbz; /* rows come from a debezium-json decode */
    const char *seq_default[1];
    const char *const *seq;
    size_t nseq;
    const char *deletes, *truncates; /* predicates, NULL: none */
    struct ctable **tables;
    size_t ntables, tcap;
    int64_t batch_id;
    struct weir_state_op *op;
};

/* ------------------------------------------------------------ encodings */

static int be64(struct weir_buf *b, uint64_t u)
{
    uint8_t x[8];
    for (int i = 7; i >= 0; i--, u >>= 8)
        x[i] = (uint8_t)u;
    return weir_buf_append(b, x, 8);
}

/* Append value r of c so that memcmp orders encodings like the values
 * (nulls first). WEIR_EINVAL for kinds without an order here. */
static int seq_append(struct weir_buf *b, const struct weir_column *c, size_t r)
{
    if (!weir_column_is_valid(c, r))
        return weir_buf_append_byte(b, 0);
    int rc = weir_buf_append_byte(b, 1);
    if (rc)
        return rc;
    switch (c->type->kind) {
    case WEIR_TYPE_BOOLEAN:
        return weir_buf_append_byte(b, ((const uint8_t *)c->data)[r]);
    case WEIR_TYPE_BYTE:
        return be64(b, (uint64_t)(int64_t)((const int8_t *)c->data)[r] ^ (1ull << 63));
    case WEIR_TYPE_SHORT:
        return be64(b, (uint64_t)(int64_t)((const int16_t *)c->data)[r] ^ (1ull << 63));
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_DATE:
        return be64(b, (uint64_t)(int64_t)weir_column_i32(c, r) ^ (1ull << 63));
    case WEIR_TYPE_LONG:
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        return be64(b, (uint64_t)weir_column_i64(c, r) ^ (1ull << 63));
    case WEIR_TYPE_DECIMAL: {
        weir_i128 v;
        memcpy(&v, (const uint8_t *)c->data + r * 16, 16);
        unsigned __int128 u = (unsigned __int128)v ^ ((unsigned __int128)1 << 127);
        if ((rc = be64(b, (uint64_t)(u >> 64))) != 0)
            return rc;
        return be64(b, (uint64_t)u);
    }
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE: {
        double d = c->type->kind == WEIR_TYPE_FLOAT ? ((const float *)c->data)[r] : weir_column_f64(c, r);
        uint64_t u;
        memcpy(&u, &d, 8);
        u = (u >> 63) ? ~u : u | (1ull << 63);
        return be64(b, u);
    }
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY: {
        size_t n;
        const uint8_t *p = weir_column_bytes(c, r, &n);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = p[i] ? weir_buf_append_byte(b, p[i]) : weir_buf_append(b, "\0\xff", 2);
        return rc ? rc : weir_buf_append(b, "\0\0", 2);
    }
    default:
        return WEIR_EINVAL;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | p[i];
    return u;
}

/* The group of the rows a batch adds to a table: the same for a rerun of
 * the batch (it names the files the first run committed), never 0. */
static uint64_t batch_group(const char *query_id, int64_t batch_id, const char *table)
{
    const char *q = query_id ? query_id : "";
    uint64_t h = weir_hash64(table, strlen(table), weir_hash64(q, strlen(q), (uint64_t)batch_id));
    return h ? h : 1;
}

static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    return c ? c : (an > bn) - (an < bn);
}

/* ------------------------------------------------------------ tables */

static void table_clear(struct ctable *t)
{
    for (size_t i = 0; i < t->nparts; i++)
        weir_batch_destroy(t->parts[i]);
    t->nparts = 0;
}

static void table_free(struct ctable *t)
{
    if (t == NULL)
        return;
    table_clear(t);
    weir_free(t->parts);
    if (t->own_keys) {
        for (size_t i = 0; i < t->nkeys; i++)
            weir_free(t->keys[i]);
        weir_free(t->keys);
    }
    weir_delta_table_destroy(t->t);
    weir_free(t->name);
    weir_free(t->path);
    weir_free(t);
}

/* template with {db}, {schema}, {table} replaced (a missing part is ""). */
static char *expand(const char *tmpl, const struct weir_dbz_table_id *id)
{
    struct weir_buf b;
    weir_buf_init(&b);
    int rc = 0;
    for (const char *p = tmpl; *p && rc == 0;) {
        const char *v = NULL;
        size_t skip = 0;
        if (strncmp(p, "{db}", 4) == 0)
            v = id->db ? id->db : "", skip = 4;
        else if (strncmp(p, "{schema}", 8) == 0)
            v = id->schema ? id->schema : (id->db ? id->db : ""), skip = 8;
        else if (strncmp(p, "{table}", 7) == 0)
            v = id->table, skip = 7;
        if (v) {
            rc = weir_buf_append_str(&b, v);
            p += skip;
        } else {
            rc = weir_buf_append_byte(&b, (uint8_t)*p++);
        }
    }
    if (rc == 0)
        rc = weir_buf_append_byte(&b, 0);
    if (rc) {
        weir_buf_free(&b);
        return NULL;
    }
    return (char *)weir_buf_detach(&b);
}

/* The table batch b belongs to (created on first sight). */
static int table_for(struct cdc_sink *s, const struct weir_batch *b, struct ctable **out,
                     struct weir_error *err)
{
    struct weir_dbz_table_id id;
    bool have_id = false;
    char *name = NULL;
    int rc = 0;
    if (s->dbz) {
        if ((rc = weir_dbz_table_of(b->schema, &id)) != 0)
            return weir_error_set(err, rc == WEIR_ENOMEM ? rc : WEIR_ESCHEMA,
                                  "%s: a change batch without its table's name", s->base.description);
        have_id = true;
        name = weir_asprintf("%s%s%s%s%s", id.db ? id.db : "", id.db ? "." : "", id.schema ? id.schema : "",
                             id.schema ? "." : "", id.table);
    } else {
        name = weir_strdup("");
    }
    if (name == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->ntables; i++)
        if (strcmp(s->tables[i]->name, name) == 0) {
            *out = s->tables[i];
            goto out;
        }
    struct ctable *t = weir_calloc(1, sizeof *t);
    if (t == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto out;
    }
    t->name = name;
    name = NULL;
    t->owned = -1;
    t->path = s->cfg->path_template ? expand(s->cfg->path_template, &id) : weir_strdup(s->cfg->path);
    if (s->cfg->nkeys > 0) {
        t->keys = s->cfg->keys;
        t->nkeys = s->cfg->nkeys;
    } else if (have_id) {
        t->keys = id.keys;
        t->nkeys = id.nkeys;
        t->own_keys = true;
        id.keys = NULL;
        id.nkeys = 0;
    }
    struct weir_store_options so = {(const char *const *)s->cfg->storage_options, s->cfg->nstorage_options};
    if (t->path == NULL || (rc = weir_delta_table_open_with(&t->t, t->path, &so, err)) != 0 ||
        (s->ntables == s->tcap &&
         (rc = weir_grow((void **)&s->tables, &s->tcap, sizeof *s->tables, s->ntables + 1)) != 0)) {
        if (rc == 0 || rc == WEIR_ENOMEM)
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        table_free(t);
        goto out;
    }
    if (t->nkeys == 0) {
        rc = weir_error_set(err, WEIR_ECONFIG,
                            "%s: table '%s' has no keys: set sink.delta.keys (its change events carry no "
                            "message key)",
                            s->base.description, t->name[0] ? t->name : t->path);
        table_free(t);
        goto out;
    }
    s->tables[s->ntables++] = t;
    WEIR_LOG(WEIR_LOG_INFO, s->base.pipeline, s->batch_id, "changes of %s go to %s",
             t->name[0] ? t->name : "the rows", t->path);
    *out = t;
out:
    if (have_id)
        weir_dbz_table_id_free(&id);
    weir_free(name);
    return rc;
}

/* ------------------------------------------------------------ one table */

/* Every part in one batch of the last part's schema (columns by name). */
static int concat_parts(struct ctable *t, struct weir_batch **out, struct weir_error *err)
{
    const struct weir_type *sch = t->parts[t->nparts - 1]->schema;
    struct weir_batch *all = weir_batch_create(sch);
    int rc = all ? 0 : WEIR_ENOMEM;
    for (size_t i = 0; i < t->nparts && rc == 0; i++) {
        const struct weir_batch *p = t->parts[i];
        for (size_t c = 0; c < sch->nfields && rc == 0; c++) {
            int pc = weir_type_field_index(p->schema, sch->fields[c].name);
            if (pc >= 0 && weir_type_equal(p->schema->fields[pc].type, sch->fields[c].type))
                rc = weir_column_append_range(&all->columns[c], &p->columns[pc], 0, p->nrows);
            else if (pc >= 0)
                return weir_error_set(err, WEIR_ESCHEMA, "%s: column '%s' changed type within a batch",
                                      t->path, sch->fields[c].name);
            else
                for (size_t r = 0; r < p->nrows && rc == 0; r++)
                    rc = weir_column_append_null(&all->columns[c]);
        }
    }
    if (rc == 0)
        rc = weir_batch_finish_rows(all);
    if (rc) {
        weir_batch_destroy(all);
        return weir_error_set(err, rc, "%s: out of memory", t->path);
    }
    *out = all;
    return 0;
}

/* Per row: 1 when the predicate `text` holds. */
static int predicate_rows(const char *text, const struct weir_batch *all, uint8_t *mark, const char *what,
                          struct weir_error *err)
{
    struct weir_expr *e = NULL;
    uint32_t *rows = NULL;
    size_t n = 0;
    int rc;
    if (text == NULL)
        return 0;
    if ((rc = weir_expr_parse(text, &e, err)) == 0 && (rc = weir_expr_bind(e, all->schema, err)) == 0 &&
        (rc = weir_expr_filter(e, all, 0, &rows, &n, err)) == 0)
        for (size_t i = 0; i < n; i++)
            mark[rows[i]] = 1;
    if (rc)
        weir_error_prefix(err, "%s", what);
    weir_free(rows);
    weir_expr_destroy(e);
    return rc;
}

struct ev {
    uint32_t row, id;
    uint32_t soff, slen; /* sequence encoding: at soff in the batch's buffer */
    const uint8_t *seq;  /* ... and its address, once the buffer is complete */
    bool seq_null;
};

static int ev_cmp(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->seq_null != y->seq_null)
        return x->seq_null ? 1 : -1;
    if (!x->seq_null) {
        int c = cmp_bytes(x->seq, x->slen, y->seq, y->slen);
        if (c)
            return c;
    }
    return (x->row > y->row) - (x->row < y->row);
}

struct plan {
    struct weir_batch *out;
    uint8_t *act;
    uint64_t *hints; /* per planned row: the group holding its key's row (merge_hints) */
    size_t nact, cap, hcap;
    uint64_t hint; /* for the rows planned next that match a table row */
    int *map;      /* out column -> all column (-1: extra) */
    int deleted_col, start_col, end_col, seq_col;
};

static int plan_row(struct plan *pl, const struct weir_batch *all, size_t r, uint8_t action, int extra_kind,
                    size_t end_row, bool end_null)
{
    struct weir_batch *o = pl->out;
    int rc = 0;
    for (size_t c = 0; c < o->ncolumns && rc == 0; c++) {
        if (pl->map[c] >= 0)
            rc = weir_column_append_from(&o->columns[c], &all->columns[pl->map[c]], r);
        else if ((int)c == pl->deleted_col)
            rc = weir_column_append_bool(&o->columns[c], extra_kind == 1);
        else if ((int)c == pl->start_col)
            rc = extra_kind == 2 ? weir_column_append_from(&o->columns[c], &all->columns[pl->seq_col], r)
                                 : weir_column_append_null(&o->columns[c]);
        else if ((int)c == pl->end_col)
            rc = end_null ? weir_column_append_null(&o->columns[c])
                          : weir_column_append_from(&o->columns[c], &all->columns[pl->seq_col], end_row);
        else
            rc = weir_column_append_null(&o->columns[c]);
    }
    if (rc == 0 && pl->nact == pl->cap)
        rc = weir_grow((void **)&pl->act, &pl->cap, 1, pl->nact + 1);
    if (rc == 0 && pl->nact == pl->hcap)
        rc = weir_grow((void **)&pl->hints, &pl->hcap, sizeof *pl->hints, pl->nact + 1);
    if (rc == 0) {
        pl->hints[pl->nact] = action == WEIR_MERGE_APPEND || action == WEIR_MERGE_IGNORE ? 0 : pl->hint;
        pl->act[pl->nact++] = action;
        o->nrows++;
    }
    return rc;
}

static bool excluded(const struct cdc_sink *s, const char *name)
{
    if (s->cfg->nexcept_columns > 0 || !s->dbz) {
        for (size_t i = 0; i < s->cfg->nexcept_columns; i++)
            if (strcasecmp(s->cfg->except_columns[i], name) == 0)
                return true;
        return false;
    }
    return weir_dbz_is_metadata(name);
}

/* The out schema: all's columns but the excepted ones, plus the extras. */
static int plan_init(struct cdc_sink *s, struct plan *pl, const struct weir_batch *all,
                     struct weir_error *err)
{
    struct weir_type *st = weir_type_struct();
    int rc = st ? 0 : WEIR_ENOMEM;
    pl->deleted_col = pl->start_col = pl->end_col = -1;
    pl->seq_col = weir_type_field_index(all->schema, s->seq[0]);
    if (!(pl->map = weir_calloc(all->schema->nfields + 3, sizeof *pl->map)))
        rc = WEIR_ENOMEM;
    size_t n = 0;
    for (size_t c = 0; c < all->schema->nfields && rc == 0; c++) {
        const struct weir_field *f = &all->schema->fields[c];
        if (excluded(s, f->name))
            continue;
        struct weir_type *ft = weir_type_clone(f->type);
        if (!ft || weir_type_struct_add(st, f->name, ft, true, NULL))
            rc = WEIR_ENOMEM;
        pl->map[n++] = (int)c;
    }
    const char *extra[3] = {NULL, NULL, NULL};
    if (s->cfg->scd_type == 2) {
        extra[0] = START_COL;
        extra[1] = END_COL;
    } else if (s->cfg->delete_mode == 1) {
        extra[0] = DELETED_COL;
    }
    for (int i = 0; extra[i] && rc == 0; i++) {
        if (weir_type_field_index(st, extra[i]) >= 0)
            return weir_error_set(err, WEIR_ESCHEMA, "the rows already have a column '%s'", extra[i]);
        struct weir_type *ft = s->cfg->scd_type == 2 ? weir_type_clone(all->schema->fields[pl->seq_col].type)
                                                     : weir_type_primitive(WEIR_TYPE_BOOLEAN);
        if (!ft || weir_type_struct_add(st, extra[i], ft, true, NULL))
            rc = WEIR_ENOMEM;
        if (strcmp(extra[i], DELETED_COL) == 0)
            pl->deleted_col = (int)n;
        else if (strcmp(extra[i], START_COL) == 0)
            pl->start_col = (int)n;
        else
            pl->end_col = (int)n;
        pl->map[n++] = -1;
    }
    if (rc == 0 && !(pl->out = weir_batch_create(st)))
        rc = WEIR_ENOMEM;
    weir_type_destroy(st);
    return rc ? weir_error_set(err, rc, "out of memory") : 0;
}

/* State key of the table (kind 'k' with key bytes, or 'f' / 'o'). */
static int state_key(struct weir_buf *b, char kind, const struct ctable *t, const uint8_t *k, size_t kn)
{
    b->len = 0;
    int rc = weir_buf_append_byte(b, (uint8_t)kind);
    if (rc == 0)
        rc = weir_buf_append(b, t->name, strlen(t->name) + 1);
    if (rc == 0 && kn)
        rc = weir_buf_append(b, k, kn);
    return rc;
}

/* Apply the batch's changes of table t. */
static int apply_table(struct cdc_sink *s, struct ctable *t, struct weir_sink_result *res,
                       struct weir_error *err)
{
    struct weir_batch *all = NULL;
    struct weir_keymap km = {0};
    struct weir_buf seqs, kb, sk, val, floorv;
    struct ev *evs = NULL;
    uint8_t *del = NULL, *trunc = NULL;
    struct plan pl = {0};
    char **qk = NULL;
    size_t *ql = NULL;
    bool *found = NULL;
    struct weir_buf *vals = NULL;
    int *kcol = NULL, *scol = NULL;
    int rc;
    weir_buf_init(&seqs);
    weir_buf_init(&kb);
    weir_buf_init(&sk);
    weir_buf_init(&val);
    weir_buf_init(&floorv);
    if ((rc = concat_parts(t, &all, err)) != 0)
        goto out;
    size_t n = all->nrows;
    kcol = weir_calloc(t->nkeys, sizeof *kcol);
    scol = weir_calloc(s->nseq, sizeof *scol);
    del = weir_calloc(n + 1, 1);
    trunc = weir_calloc(n + 1, 1);
    evs = weir_calloc(n + 1, sizeof *evs);
    if (!kcol || !scol || !del || !trunc || !evs) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < t->nkeys; k++)
        if ((kcol[k] = weir_type_field_index(all->schema, t->keys[k])) < 0) {
            rc = weir_error_set(err, WEIR_ESCHEMA, "%s: key column '%s' is not in the rows", t->path,
                                t->keys[k]);
            goto out;
        }
    for (size_t k = 0; k < s->nseq; k++)
        if ((scol[k] = weir_type_field_index(all->schema, s->seq[k])) < 0) {
            rc = weir_error_set(err, WEIR_ESCHEMA, "%s: sequence_by column '%s' is not in the rows", t->path,
                                s->seq[k]);
            goto out;
        }
    if ((rc = predicate_rows(s->deletes, all, del, "sink.delta.apply_as_deletes", err)) ||
        (rc = predicate_rows(s->truncates, all, trunc, "sink.delta.apply_as_truncates", err)))
        goto out;

    /* sequences, keys */
    size_t nev = 0;
    for (size_t r = 0; r < n; r++) {
        size_t off = seqs.len;
        bool null = true;
        for (size_t k = 0; k < s->nseq && rc == 0; k++) {
            null = null && !weir_column_is_valid(&all->columns[scol[k]], r);
            if ((rc = seq_append(&seqs, &all->columns[scol[k]], r)) == WEIR_EINVAL)
                rc = weir_error_set(err, WEIR_ESCHEMA,
                                    "%s: sequence_by column '%s' has a type without order here", t->path,
                                    s->seq[k]);
        }
        if (rc)
            goto out;
        evs[r] = (struct ev){
            .row = (uint32_t)r, .soff = (uint32_t)off, .slen = (uint32_t)(seqs.len - off), .seq_null = null};
        if (trunc[r])
            continue;
        kb.len = 0;
        for (size_t k = 0; k < t->nkeys && rc == 0; k++)
            rc = weir_key_append(&kb, &all->columns[kcol[k]], r);
        size_t id;
        bool added;
        if (rc || (rc = weir_keymap_put(&km, kb.data, kb.len, &id, &added))) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto out;
        }
        evs[r].id = (uint32_t)id;
        nev++;
    }
    for (size_t r = 0; r < n; r++) /* the buffer no longer moves */
        evs[r].seq = seqs.data + evs[r].soff;
    /* the table's truncate floor, and this batch's last truncate */
    bool floor_found = false;
    if ((rc = state_key(&sk, 'f', t, NULL, 0)) ||
        (rc = weir_state_get(s->op, sk.data, sk.len, &floorv, &floor_found, err)))
        goto out;
    int64_t trow = -1;
    for (size_t r = 0; r < n; r++) {
        if (!trunc[r])
            continue;
        const uint8_t *sp = evs[r].seq;
        const uint8_t *best = trow >= 0 ? evs[trow].seq : floorv.data;
        size_t bn = trow >= 0 ? evs[trow].slen : floorv.len;
        if (evs[r].seq_null || !(trow >= 0 || floor_found) || cmp_bytes(sp, evs[r].slen, best, bn) > 0)
            trow = (int64_t)r;
        else
            res->stale++;
    }
    const uint8_t *floorp = trow >= 0 ? evs[trow].seq : floorv.data;
    size_t floorn = trow >= 0 ? evs[trow].slen : floorv.len;
    bool have_floor = trow >= 0 || floor_found;

    /* the keys' state */
    size_t nk = km.n;
    if (nk > 0) {
        qk = weir_calloc(nk, sizeof *qk);
        ql = weir_calloc(nk, sizeof *ql);
        found = weir_calloc(nk, sizeof *found);
        vals = weir_calloc(nk, sizeof *vals);
        if (!qk || !ql || !found || !vals) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t id = 0; id < nk && rc == 0; id++) {
            size_t kn;
            const uint8_t *k = weir_keymap_key(&km, id, &kn);
            if ((rc = state_key(&sk, 'k', t, k, kn)) == 0 && !(qk[id] = weir_malloc(sk.len)))
                rc = WEIR_ENOMEM;
            if (rc == 0) {
                memcpy(qk[id], sk.data, sk.len);
                ql[id] = sk.len;
                weir_buf_init(&vals[id]);
            }
        }
        if (rc) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = weir_state_multi_get(s->op, nk, (const char *const *)qk, ql, found, vals, err)) != 0)
            goto out;
    }
    /* owned: created by this pipeline (then absent keys need no lookup) */
    if (t->owned < 0) {
        bool f = false;
        if ((rc = state_key(&sk, 'o', t, NULL, 0)) ||
            (rc = weir_state_get(s->op, sk.data, sk.len, &val, &f, err)))
            goto out;
        t->owned = f ? 1 : -2; /* -2: not known to be ours; decided at the first commit */
    }

    /* changes in order per key, stale ones out */
    struct ev *order = weir_malloc((nev ? nev : 1) * sizeof *order);
    if (!order) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto out;
    }
    size_t m = 0;
    for (size_t r = 0; r < n; r++)
        if (!trunc[r])
            order[m++] = evs[r];
    qsort(order, m, sizeof *order, ev_cmp);
    if ((rc = plan_init(s, &pl, all, err)) != 0) {
        weir_free(order);
        goto out;
    }
    int scd = (int)s->cfg->scd_type;
    uint64_t gid = batch_group(s->base.query_id, s->batch_id, t->path);
    bool soft = s->cfg->delete_mode == 1;
    if (scd == 2 && trow >= 0 &&
        (rc = plan_row(&pl, all, (size_t)trow, WEIR_MERGE_IGNORE, 0, (size_t)trow, false)))
        goto plan_fail;
    for (size_t i = 0; i < m && rc == 0;) {
        size_t j = i;
        uint32_t id = order[i].id;
        while (j < m && order[j].id == id)
            j++;
        /* [i, j): this key's changes in order; drop stale ones */
        const struct weir_buf *sv = &vals[id];
        size_t head = found[id] && sv->len >= 1 ? 1 + (sv->data[0] & F_GROUP ? 8 : 0) : 0;
        bool has_state = head && sv->len >= head;
        bool present = has_state && (sv->data[0] & F_PRESENT);
        uint64_t group = has_state && head == 9 ? get_be64(sv->data + 1) : 0;
        const uint8_t *last = has_state ? sv->data + head : NULL;
        size_t lastn = has_state ? sv->len - head : 0;
        if (present && have_floor && cmp_bytes(last, lastn, floorp, floorn) <= 0)
            present = false; /* truncated after its last change */
        if (trow >= 0)
            present = false;
        size_t first = i;
        while (first < j && !order[first].seq_null &&
               ((has_state && cmp_bytes(order[first].seq, order[first].slen, last, lastn) <= 0) ||
                (have_floor && cmp_bytes(order[first].seq, order[first].slen, floorp, floorn) <= 0)))
            first++;
        /* the same change twice in this batch (a replay): once */
        size_t k2 = first;
        for (size_t e = first; e < j; e++) {
            if (e > first && !order[e].seq_null && !order[k2 - 1].seq_null &&
                cmp_bytes(order[e].seq, order[e].slen, order[k2 - 1].seq, order[k2 - 1].slen) == 0)
                continue;
            order[k2++] = order[e];
        }
        res->stale += (int64_t)(first - i) + (int64_t)(j - k2);
        size_t next = j;
        j = k2;
        if (first == j) {
            i = next;
            continue;
        }
        bool may_exist = present || t->owned != 1;
        const struct ev *lastev = &order[j - 1];
        pl.hint = present ? group : 0;
        if (scd == 1) {
            size_t r = lastev->row;
            if (del[r])
                rc = !may_exist ? 0
                     : soft     ? plan_row(&pl, all, r, WEIR_MERGE_SET, 1, r, true)
                                : plan_row(&pl, all, r, WEIR_MERGE_DELETE, 0, r, true);
            else
                rc = plan_row(&pl, all, r, may_exist ? WEIR_MERGE_UPSERT : WEIR_MERGE_APPEND, 0, r, true);
        } else {
            if (may_exist &&
                (rc = plan_row(&pl, all, order[first].row, WEIR_MERGE_SET, 0, order[first].row, false)))
                break;
            for (size_t e = first; e < j && rc == 0; e++) {
                if (del[order[e].row])
                    continue;
                bool end_null = e + 1 == j;
                rc = plan_row(&pl, all, order[e].row, WEIR_MERGE_APPEND, 2, end_null ? 0 : order[e + 1].row,
                              end_null);
            }
        }
        /* the key's new state: present unless its last change deleted it (a
         * soft delete keeps the row, in its group); the group of its row */
        if (rc == 0 && !lastev->seq_null) {
            bool kept = del[lastev->row] && soft && scd == 1 && may_exist;
            bool now = !del[lastev->row] || kept;
            uint64_t g = !now ? 0 : kept ? (present ? group : 0) : gid;
            val.len = 0;
            if ((rc = weir_buf_append_byte(&val, (now ? F_PRESENT : 0) | (g ? F_GROUP : 0))) == 0 && g)
                rc = be64(&val, g);
            if (rc == 0 && (rc = weir_buf_append(&val, lastev->seq, lastev->slen)) == 0)
                rc = weir_state_put(s->op, qk[id], ql[id], val.data, val.len);
        }
        i = next;
    }
plan_fail:
    weir_free(order);
    if (rc == 0 && trow >= 0 && !evs[trow].seq_null) {
        if ((rc = state_key(&sk, 'f', t, NULL, 0)) == 0)
            rc = weir_state_put(s->op, sk.data, sk.len, evs[trow].seq, evs[trow].slen);
    }
    if (rc) {
        if (!err || !err->code)
            rc = weir_error_set(err, rc, "%s: planning the changes: %s", t->path, weir_strerror(rc));
        goto out;
    }
    if ((rc = weir_batch_finish_rows(pl.out)) != 0)
        goto out;

    /* one MERGE commit */
    if (pl.out->nrows > 0 || trow >= 0) {
        struct weir_delta_write_options o;
        struct weir_delta_write_result wr;
        struct weir_delta_writer *w = NULL;
        weir_delta_write_options_default(&o);
        o.mode = WEIR_DELTA_MERGE;
        o.partition_by = (const char *const *)s->cfg->partition_by;
        o.n_partition_by = s->cfg->npartition_by;
        o.txn_app_id = s->base.query_id;
        o.txn_version = s->batch_id;
        o.codec = weir_sink_codec(s->cfg->codec);
        o.target_file_bytes = (uint64_t)s->cfg->target_file_size;
        o.max_pending_bytes = (uint64_t)s->cfg->max_buffer_size;
        o.merge_schema = true;
        o.merge_keys = (const char *const *)t->keys;
        o.n_merge_keys = t->nkeys;
        o.merge_actions = pl.act;
        o.n_merge_actions = pl.nact;
        o.merge_group = gid;
        o.merge_hints = pl.hints;
        o.n_merge_hints = pl.nact;
        o.merge_set_column = scd == 2 ? END_COL : soft ? DELETED_COL : NULL;
        o.merge_current_column = scd == 2 ? END_COL : NULL;
        o.merge_truncate = trow >= 0;
        o.merge_truncate_row = scd == 2 && trow >= 0 ? 0 : -1;
        bool existed = t->owned == 1;
        if (t->owned == -2) { /* does the table exist yet? */
            struct weir_delta_snapshot *snap = NULL;
            struct weir_error e2 = {0};
            existed = weir_delta_snapshot_load(t->t, -1, &snap, &e2) == 0;
            weir_delta_snapshot_destroy(snap);
        }
        if ((rc = weir_delta_writer_begin(t->t, pl.out->schema, &o, &w, &wr, err)) != 0)
            goto out;
        if (w != NULL) {
            if ((rc = weir_delta_writer_add(w, pl.out, err)) != 0) {
                weir_delta_writer_abort(w);
                goto out;
            }
            if ((rc = weir_delta_writer_commit(w, &wr, err)) != 0)
                goto out;
        }
        if (t->owned == -2) {
            t->owned = existed ? 0 : 1;
            if (!existed && !wr.already_committed &&
                ((rc = state_key(&sk, 'o', t, NULL, 0)) ||
                 (rc = weir_state_put(s->op, sk.data, sk.len, "1", 1))))
                goto out;
        }
        if (!wr.already_committed) {
            res->inserted += wr.rows_inserted;
            res->updated += wr.rows_updated;
            res->deleted += wr.rows_deleted;
            res->files_rewritten += (int64_t)wr.files_removed;
            res->files_read += (int64_t)wr.files_read;
            res->files_by_index += (int64_t)wr.files_by_hint;
            res->bytes_rewritten += wr.bytes_removed;
            res->files += (int64_t)wr.files_added;
            res->bytes += wr.bytes_written;
            res->rows += wr.rows_written - wr.rows_copied;
            res->version = wr.version;
            res->tables++;
        } else {
            res->skipped = true;
        }
    }
out:
    if (rc && err && err->code && (rc == WEIR_EIO || rc == WEIR_ECONFLICT || rc == WEIR_ERETRY))
        err->retriable = true;
    for (size_t i = 0; qk && i < nk; i++) {
        weir_free(qk[i]);
        weir_buf_free(&vals[i]);
    }
    weir_free(qk);
    weir_free(ql);
    weir_free(found);
    weir_free(vals);
    weir_batch_destroy(pl.out);
    weir_free(pl.act);
    weir_free(pl.hints);
    weir_free(pl.map);
    weir_keymap_free(&km);
    weir_batch_destroy(all);
    weir_free(evs);
    weir_free(del);
    weir_free(trunc);
    weir_free(kcol);
    weir_free(scol);
    weir_buf_free(&seqs);
    weir_buf_free(&kb);
    weir_buf_free(&sk);
    weir_buf_free(&val);
    weir_buf_free(&floorv);
    if (rc && err && err->code)
        weir_error_prefix(err, "%s", t->name[0] ? t->name : t->path);
    return rc;
}

/* ------------------------------------------------------------ the sink */

static int cdc_begin(struct weir_sink *base, int64_t batch_id, const struct weir_type *schema, bool *already,
                     struct weir_error *err)
{
    struct cdc_sink *s = (struct cdc_sink *)base;
    (void)schema;
    *already = false; /* each table decides at commit, by its own txn */
    s->batch_id = batch_id;
    for (size_t i = 0; i < s->ntables; i++)
        table_clear(s->tables[i]);
    if (s->op == NULL) {
        if (base->state == NULL)
            return weir_error_set(err, WEIR_ESTATE, "%s: change data needs the pipeline's state store",
                                  base->description);
        char meta[256];
        snprintf(meta, sizeof meta, "{\"kind\":\"cdc\",\"layout\":%d,\"scd_type\":%lld}", STATE_LAYOUT,
                 (long long)s->cfg->scd_type);
        return weir_state_operator(base->state, STATE_OP, meta, NULL, &s->op, err);
    }
    return 0;
}

static int cdc_write(struct weir_sink *base, const struct weir_batch *b, struct weir_error *err)
{
    struct cdc_sink *s = (struct cdc_sink *)base;
    struct ctable *t = NULL;
    int rc = table_for(s, b, &t, err);
    if (rc)
        return rc;
    /* kept until commit: the batch is only lent for this call */
    struct weir_batch *copy = weir_batch_create(b->schema);
    rc = copy ? 0 : WEIR_ENOMEM;
    for (size_t c = 0; c < b->ncolumns && rc == 0; c++)
        rc = weir_column_append_range(&copy->columns[c], &b->columns[c], 0, b->nrows);
    if (rc == 0)
        rc = weir_batch_finish_rows(copy);
    if (rc == 0 && t->nparts == t->cap)
        rc = weir_grow((void **)&t->parts, &t->cap, sizeof *t->parts, t->nparts + 1);
    if (rc) {
        weir_batch_destroy(copy);
        return weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", base->description);
    }
    t->parts[t->nparts++] = copy;
    return 0;
}

static int cdc_commit(struct weir_sink *base, struct weir_sink_result *out, struct weir_error *err)
{
    struct cdc_sink *s = (struct cdc_sink *)base;
    memset(out, 0, sizeof *out);
    out->version = -1;
    out->cdc = true;
    int rc = 0;
    for (size_t i = 0; i < s->ntables && rc == 0; i++)
        if (s->tables[i]->nparts > 0)
            rc = apply_table(s, s->tables[i], out, err);
    for (size_t i = 0; i < s->ntables; i++)
        table_clear(s->tables[i]);
    if (rc == 0 && (rc = weir_state_apply(base->state, err)) != 0)
        return rc;
    return rc;
}

static void cdc_abort(struct weir_sink *base)
{
    struct cdc_sink *s = (struct cdc_sink *)base;
    for (size_t i = 0; i < s->ntables; i++)
        table_clear(s->tables[i]);
}

static void cdc_destroy(struct weir_sink *base)
{
    struct cdc_sink *s = (struct cdc_sink *)base;
    for (size_t i = 0; i < s->ntables; i++)
        table_free(s->tables[i]);
    weir_free(s->tables);
    weir_free(base->description);
    weir_free(s);
}

static const struct weir_sink_ops cdc_ops = {
    .begin = cdc_begin,
    .write = cdc_write,
    .commit = cdc_commit,
    .abort = cdc_abort,
    .destroy = cdc_destroy,
};

int weir_sink_cdc_create(const struct weir_config_pipeline *p, struct weir_sink **out, struct weir_error *err)
{
    const struct weir_config_delta *cfg = &p->delta;
    struct cdc_sink *s = weir_calloc(1, sizeof *s);
    *out = NULL;
    if (s == NULL || !(s->base.description = weir_asprintf("DeltaChangeSink[%s]",
                                                           cfg->path ? cfg->path : cfg->path_template))) {
        weir_free(s);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    s->base.ops = &cdc_ops;
    s->base.pipeline = p->name;
    s->cfg = cfg;
    s->dbz = p->nsteps == 1 && p->steps[0].kind == WEIR_STEP_DECODE &&
             p->steps[0].decode.format == WEIR_DECODE_DEBEZIUM;
    s->seq_default[0] = WEIR_DBZ_SEQ;
    if (cfg->nsequence_by > 0) {
        s->seq = (const char *const *)cfg->sequence_by;
        s->nseq = cfg->nsequence_by;
    } else if (s->dbz) {
        s->seq = s->seq_default;
        s->nseq = 1;
    }
    s->deletes = cfg->apply_as_deletes ? cfg->apply_as_deletes : s->dbz ? "__op = 'd'" : NULL;
    s->truncates = cfg->apply_as_truncates ? cfg->apply_as_truncates : s->dbz ? "__op = 't'" : NULL;
    if (s->nseq == 0) {
        cdc_destroy(&s->base);
        return weir_error_set(err, WEIR_ECONFIG, "sink.delta: change data needs sequence_by");
    }
    *out = &s->base;
    return 0;
}
