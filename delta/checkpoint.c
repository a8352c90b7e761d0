/* delta/checkpoint.c - classic (V1) checkpoints: read a checkpoint Parquet
 * file into actions, write <v20>.checkpoint.parquet + _last_checkpoint,
 * expired log cleanup and Delta interval parsing.
 *
 * Owns nothing long-lived. The checkpoint schema is one nullable struct
 * column per action kind (txn, add, remove, metaData, protocol and, when
 * the table has domains, domainMetadata); each row has exactly one non-null
 * column. Reads project that schema by name, so missing columns read as
 * null and extra ones (stats_parsed, partitionValues_parsed, ...) are not
 * read. Thread: the caller's. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/util.h"
#include "delta/delta_int.h"

static const char CHECKPOINT_DDL[] =
    "txn STRUCT<appId: STRING, version: LONG, lastUpdated: LONG>, "
    "add STRUCT<path: STRING, partitionValues: MAP<STRING, STRING>, size: LONG, modificationTime: LONG, "
    "dataChange: BOOLEAN, stats: STRING, tags: MAP<STRING, STRING>, deletionVector: STRUCT<storageType: "
    "STRING, pathOrInlineDv: STRING, offset: INT, sizeInBytes: INT, cardinality: LONG>>, "
    "remove STRUCT<path: STRING, deletionTimestamp: LONG, dataChange: BOOLEAN, extendedFileMetadata: "
    "BOOLEAN, partitionValues: MAP<STRING, STRING>, size: LONG, deletionVector: STRUCT<storageType: "
    "STRING, pathOrInlineDv: STRING, offset: INT, sizeInBytes: INT, cardinality: LONG>>, "
    "metaData STRUCT<id: STRING, name: STRING, description: STRING, format: STRUCT<provider: STRING, "
    "options: MAP<STRING, STRING>>, schemaString: STRING, partitionColumns: ARRAY<STRING>, "
    "configuration: MAP<STRING, STRING>, createdTime: LONG>, "
    "protocol STRUCT<minReaderVersion: INT, minWriterVersion: INT, readerFeatures: ARRAY<STRING>, "
    "writerFeatures: ARRAY<STRING>>";
static const char DOMAIN_DDL[] =
    ", domainMetadata STRUCT<domain: STRING, configuration: STRING, removed: BOOLEAN>";

/* column indexes in the schema above */
enum { C_TXN, C_ADD, C_REMOVE, C_META, C_PROTO, C_DOMAIN };
/* add children */
enum { A_PATH, A_PV, A_SIZE, A_MTIME, A_DC, A_STATS, A_TAGS, A_DV };
enum { R_PATH, R_DTS, R_DC, R_EFM, R_PV, R_SIZE, R_DV };
enum { M_ID, M_NAME, M_DESC, M_FORMAT, M_SCHEMA, M_PCOLS, M_CONF, M_CTIME };
enum { P_R, P_W, P_RF, P_WF };
enum { DV_TYPE, DV_PATH, DV_OFF, DV_SIZE, DV_CARD };

static int checkpoint_schema(bool domains, struct weir_type **out, struct weir_error *err)
{
    char ddl[sizeof(CHECKPOINT_DDL) + sizeof(DOMAIN_DDL)];
    snprintf(ddl, sizeof(ddl), "%s%s", CHECKPOINT_DDL, domains ? DOMAIN_DDL : "");
    return weir_schema_from_ddl(ddl, out, err);
}

/* ------------------------------------------------------------- read */

static bool valid(const struct weir_column *c, size_t i)
{
    return weir_column_is_valid(c, i);
}

static int rd_str(const struct weir_column *c, size_t i, char **out)
{
    *out = NULL;
    if (!valid(c, i))
        return 0;
    if (c->type->kind != WEIR_TYPE_STRING && c->type->kind != WEIR_TYPE_BINARY)
        return WEIR_ESCHEMA;
    size_t n;
    const uint8_t *p = weir_column_bytes(c, i, &n);
    *out = weir_strndup((const char *)p, n);
    return *out ? 0 : WEIR_ENOMEM;
}

static bool rd_i64(const struct weir_column *c, size_t i, int64_t *out)
{
    if (!valid(c, i))
        return false;
    switch (c->type->kind) {
    case WEIR_TYPE_LONG:
    case WEIR_TYPE_TIMESTAMP:
        *out = weir_column_i64(c, i);
        return true;
    case WEIR_TYPE_INTEGER:
        *out = weir_column_i32(c, i);
        return true;
    default:
        return false;
    }
}

static bool rd_bool(const struct weir_column *c, size_t i, bool *out)
{
    if (!valid(c, i) || c->type->kind != WEIR_TYPE_BOOLEAN)
        return false;
    *out = ((const uint8_t *)c->data)[i] != 0;
    return true;
}

static int rd_map(const struct weir_column *c, size_t i, struct weir_delta_kv **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!valid(c, i) || c->type->kind != WEIR_TYPE_MAP || c->nchildren < 2)
        return 0;
    int64_t b = c->offsets[i], e = c->offsets[i + 1];
    if (e <= b)
        return 0;
    struct weir_delta_kv *kv = weir_calloc((size_t)(e - b), sizeof(*kv));
    if (!kv)
        return WEIR_ENOMEM;
    int rc = 0;
    for (int64_t k = b; k < e && rc == 0; k++) {
        rc = rd_str(&c->children[0], (size_t)k, &kv[k - b].key);
        if (rc == 0 && !kv[k - b].key)
            rc = WEIR_ECORRUPT;
        if (rc == 0)
            rc = rd_str(&c->children[1], (size_t)k, &kv[k - b].value);
    }
    if (rc) {
        dl_kv_free(kv, (size_t)(e - b));
        return rc;
    }
    *out = kv;
    *n = (size_t)(e - b);
    return 0;
}

static int rd_strv(const struct weir_column *c, size_t i, char ***out, size_t *n, bool *present)
{
    *out = NULL;
    *n = 0;
    *present = false;
    if (!valid(c, i) || c->type->kind != WEIR_TYPE_ARRAY || c->nchildren < 1)
        return 0;
    *present = true;
    int64_t b = c->offsets[i], e = c->offsets[i + 1];
    if (e <= b)
        return 0;
    char **v = weir_calloc((size_t)(e - b), sizeof(char *));
    if (!v)
        return WEIR_ENOMEM;
    int rc = 0;
    for (int64_t k = b; k < e && rc == 0; k++) {
        rc = rd_str(&c->children[0], (size_t)k, &v[k - b]);
        if (rc == 0 && !v[k - b])
            rc = WEIR_ECORRUPT;
    }
    if (rc) {
        for (int64_t k = 0; k < e - b; k++)
            weir_free(v[k]);
        weir_free(v);
        return rc;
    }
    *out = v;
    *n = (size_t)(e - b);
    return 0;
}

static int rd_dv(const struct weir_column *c, size_t i, struct weir_delta_dv *dv, bool *has)
{
    *has = false;
    if (!valid(c, i) || c->nchildren < 5)
        return 0;
    int64_t x = 0;
    int rc;
    if ((rc = rd_str(&c->children[DV_TYPE], i, &dv->storage_type)) ||
        (rc = rd_str(&c->children[DV_PATH], i, &dv->path_or_inline_dv)))
        return rc;
    if (!dv->storage_type || !dv->path_or_inline_dv)
        return WEIR_ECORRUPT;
    dv->has_offset = rd_i64(&c->children[DV_OFF], i, &x);
    dv->offset = (int32_t)x;
    x = 0;
    rd_i64(&c->children[DV_SIZE], i, &x);
    dv->size_in_bytes = (int32_t)x;
    rd_i64(&c->children[DV_CARD], i, &dv->cardinality);
    *has = true;
    return 0;
}

static int read_row(const struct weir_batch *b, size_t i, struct weir_delta_actions *a, const char *name,
                    size_t row_base, struct weir_error *err)
{
    int rc = 0;
    const struct weir_column *c;
    const char *what = "";
    c = &b->columns[C_ADD];
    if (valid(c, i)) {
        what = "add";
        struct weir_delta_add *x = dl_grow((void **)&a->adds, &a->n_adds, &a->cap_adds, sizeof(*x));
        if (!x)
            return WEIR_ENOMEM;
        if ((rc = rd_str(&c->children[A_PATH], i, &x->path)) ||
            (rc = rd_map(&c->children[A_PV], i, &x->partition_values, &x->n_partition_values)) ||
            (rc = rd_str(&c->children[A_STATS], i, &x->stats)) ||
            (rc = rd_map(&c->children[A_TAGS], i, &x->tags, &x->n_tags)) ||
            (rc = rd_dv(&c->children[A_DV], i, &x->dv, &x->has_deletion_vector)))
            goto bad;
        if (!x->path || !rd_i64(&c->children[A_SIZE], i, &x->size)) {
            rc = WEIR_ECORRUPT;
            goto bad;
        }
        rd_i64(&c->children[A_MTIME], i, &x->modification_time);
        rd_bool(&c->children[A_DC], i, &x->data_change);
        return 0;
    }
    c = &b->columns[C_REMOVE];
    if (valid(c, i)) {
        what = "remove";
        struct weir_delta_remove *x =
            dl_grow((void **)&a->removes, &a->n_removes, &a->cap_removes, sizeof(*x));
        if (!x)
            return WEIR_ENOMEM;
        if ((rc = rd_str(&c->children[R_PATH], i, &x->path)) ||
            (rc = rd_map(&c->children[R_PV], i, &x->partition_values, &x->n_partition_values)) ||
            (rc = rd_dv(&c->children[R_DV], i, &x->dv, &x->has_deletion_vector)))
            goto bad;
        if (!x->path) {
            rc = WEIR_ECORRUPT;
            goto bad;
        }
        x->has_deletion_timestamp = rd_i64(&c->children[R_DTS], i, &x->deletion_timestamp);
        rd_bool(&c->children[R_DC], i, &x->data_change);
        rd_bool(&c->children[R_EFM], i, &x->extended_file_metadata);
        x->has_size = rd_i64(&c->children[R_SIZE], i, &x->size);
        return 0;
    }
    c = &b->columns[C_TXN];
    if (valid(c, i)) {
        what = "txn";
        char *id = NULL;
        int64_t v = 0, lu = 0;
        if ((rc = rd_str(&c->children[0], i, &id)))
            goto bad;
        if (!id || !rd_i64(&c->children[1], i, &v)) {
            weir_free(id);
            rc = WEIR_ECORRUPT;
            goto bad;
        }
        bool has_lu = rd_i64(&c->children[2], i, &lu);
        rc = weir_delta_actions_add_txn(a, id, v, has_lu ? lu : -1);
        weir_free(id);
        return rc;
    }
    c = &b->columns[C_META];
    if (valid(c, i)) {
        what = "metaData";
        if (a->metadata) {
            rc = WEIR_ECORRUPT;
            goto bad;
        }
        struct weir_delta_metadata *m = weir_calloc(1, sizeof(*m));
        if (!m)
            return WEIR_ENOMEM;
        a->metadata = m;
        const struct weir_column *fmt = &c->children[M_FORMAT];
        bool present;
        if ((rc = rd_str(&c->children[M_ID], i, &m->id)) ||
            (rc = rd_str(&c->children[M_NAME], i, &m->name)) ||
            (rc = rd_str(&c->children[M_DESC], i, &m->description)) ||
            (rc = rd_str(&c->children[M_SCHEMA], i, &m->schema_string)) ||
            (rc = rd_strv(&c->children[M_PCOLS], i, &m->partition_columns, &m->n_partition_columns,
                          &present)) ||
            (rc = rd_map(&c->children[M_CONF], i, &m->configuration, &m->n_configuration)))
            goto bad;
        if (valid(fmt, i) && fmt->nchildren > 0 && (rc = rd_str(&fmt->children[0], i, &m->format_provider)))
            goto bad;
        if (!m->format_provider && !(m->format_provider = weir_strdup("parquet")))
            return WEIR_ENOMEM;
        m->has_created_time = rd_i64(&c->children[M_CTIME], i, &m->created_time);
        if (!m->id || !m->schema_string) {
            rc = WEIR_ECORRUPT;
            goto bad;
        }
        struct weir_error serr = {0};
        rc = dl_schema_parse(m, &serr);
        if (rc) {
            if (rc == WEIR_ENOMEM)
                return rc;
            return weir_error_set(err, rc == WEIR_EUNSUPPORTED ? rc : WEIR_ECORRUPT,
                                  "%s row %zu: metaData.schemaString: %s", name, row_base + i, serr.message);
        }
        return 0;
    }
    c = &b->columns[C_PROTO];
    if (valid(c, i)) {
        what = "protocol";
        if (a->protocol) {
            rc = WEIR_ECORRUPT;
            goto bad;
        }
        struct weir_delta_protocol *p = weir_calloc(1, sizeof(*p));
        if (!p)
            return WEIR_ENOMEM;
        a->protocol = p;
        int64_t r = 0, w = 0;
        if (!rd_i64(&c->children[P_R], i, &r) || !rd_i64(&c->children[P_W], i, &w) || r < 1 || w < 1) {
            rc = WEIR_ECORRUPT;
            goto bad;
        }
        p->min_reader_version = (int32_t)r;
        p->min_writer_version = (int32_t)w;
        if ((rc = rd_strv(&c->children[P_RF], i, &p->reader_features, &p->n_reader_features,
                          &p->has_reader_features)) ||
            (rc = rd_strv(&c->children[P_WF], i, &p->writer_features, &p->n_writer_features,
                          &p->has_writer_features)))
            goto bad;
        return 0;
    }
    if (b->ncolumns > C_DOMAIN) {
        c = &b->columns[C_DOMAIN];
        if (valid(c, i)) {
            what = "domainMetadata";
            struct weir_delta_domain *d =
                dl_grow((void **)&a->domains, &a->n_domains, &a->cap_domains, sizeof(*d));
            if (!d)
                return WEIR_ENOMEM;
            if ((rc = rd_str(&c->children[0], i, &d->domain)) ||
                (rc = rd_str(&c->children[1], i, &d->configuration)))
                goto bad;
            if (!d->domain) {
                rc = WEIR_ECORRUPT;
                goto bad;
            }
            rd_bool(&c->children[2], i, &d->removed);
            return 0;
        }
    }
    return 0; /* commitInfo / cdc / unknown rows */
bad:
    if (rc == WEIR_ENOMEM)
        return rc;
    return weir_error_set(err, WEIR_ECORRUPT,
                          "%s row %zu: %s action is missing required fields or has wrong types", name,
                          row_base + i, what);
}

int weir_delta_checkpoint_read(const struct weir_input *in, struct weir_delta_actions *out,
                               struct weir_error *err)
{
    struct weir_parquet_reader *r = NULL;
    struct weir_type *want = NULL;
    struct weir_batch *b = NULL;
    const char *name = in->name ? in->name : "<checkpoint>";
    int rc = 0;
    if ((rc = weir_parquet_reader_open(&r, in, err)))
        goto done;
    const struct weir_type *fs = weir_parquet_reader_schema(r);
    bool domains = fs && weir_type_field_index(fs, "domainMetadata") >= 0;
    if ((rc = checkpoint_schema(domains, &want, err)))
        goto done;
    size_t row_base = 0;
    int nrg = weir_parquet_reader_num_row_groups(r);
    for (int rg = 0; rg < nrg; rg++) {
        if ((rc = weir_parquet_reader_read_row_group(r, rg, want, &b, err)))
            goto done;
        for (size_t i = 0; i < b->nrows; i++)
            if ((rc = read_row(b, i, out, name, row_base, err)))
                goto done;
        row_base += b->nrows;
        weir_batch_destroy(b);
        b = NULL;
    }
done:
    if (rc == WEIR_ENOMEM)
        weir_error_set(err, WEIR_ENOMEM, "out of memory reading checkpoint %s", name);
    weir_batch_destroy(b);
    weir_type_destroy(want);
    weir_parquet_reader_destroy(r);
    return rc;
}

/* ------------------------------------------------------------- write */

static int ap_str(struct weir_column *c, const char *s)
{
    if (!s)
        return weir_column_append_null(c);
    return weir_column_append_bytes(c, s, strlen(s));
}

static int ap_map(struct weir_column *c, const struct weir_delta_kv *kv, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = ap_str(&c->children[0], kv[i].key);
        if (rc == 0)
            rc = ap_str(&c->children[1], kv[i].value);
    }
    return rc ? rc : weir_column_append_list(c, true);
}

static int ap_strv(struct weir_column *c, char *const *v, size_t n, bool present)
{
    if (!present)
        return weir_column_append_null(c);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = ap_str(&c->children[0], v[i]);
    return rc ? rc : weir_column_append_list(c, true);
}

static int ap_dv(struct weir_column *c, bool has, const struct weir_delta_dv *dv)
{
    if (!has)
        return weir_column_append_null(c);
    int rc;
    if ((rc = ap_str(&c->children[DV_TYPE], dv->storage_type)) ||
        (rc = ap_str(&c->children[DV_PATH], dv->path_or_inline_dv)) ||
        (rc = dv->has_offset ? weir_column_append_i32(&c->children[DV_OFF], dv->offset)
                             : weir_column_append_null(&c->children[DV_OFF])) ||
        (rc = weir_column_append_i32(&c->children[DV_SIZE], dv->size_in_bytes)) ||
        (rc = weir_column_append_i64(&c->children[DV_CARD], dv->cardinality)))
        return rc;
    return weir_column_append_struct(c, true);
}

/* Null in every top-level column except `keep`. */
static int nulls_except(struct weir_batch *b, size_t keep)
{
    for (size_t k = 0; k < b->ncolumns; k++)
        if (k != keep) {
            int rc = weir_column_append_null(&b->columns[k]);
            if (rc)
                return rc;
        }
    return 0;
}

static int w_add(struct weir_batch *b, const struct weir_delta_add *x)
{
    struct weir_column *c = &b->columns[C_ADD];
    int rc;
    if ((rc = nulls_except(b, C_ADD)) || (rc = ap_str(&c->children[A_PATH], x->path)) ||
        (rc = ap_map(&c->children[A_PV], x->partition_values, x->n_partition_values)) ||
        (rc = weir_column_append_i64(&c->children[A_SIZE], x->size)) ||
        (rc = weir_column_append_i64(&c->children[A_MTIME], x->modification_time)) ||
        (rc = weir_column_append_bool(&c->children[A_DC], x->data_change)) ||
        (rc = ap_str(&c->children[A_STATS], x->stats)) ||
        (rc = x->n_tags ? ap_map(&c->children[A_TAGS], x->tags, x->n_tags)
                        : weir_column_append_null(&c->children[A_TAGS])) ||
        (rc = ap_dv(&c->children[A_DV], x->has_deletion_vector, &x->dv)))
        return rc;
    return weir_column_append_struct(c, true);
}

static int w_remove(struct weir_batch *b, const struct weir_delta_remove *x)
{
    struct weir_column *c = &b->columns[C_REMOVE];
    int rc;
    if ((rc = nulls_except(b, C_REMOVE)) || (rc = ap_str(&c->children[R_PATH], x->path)) ||
        (rc = x->has_deletion_timestamp ? weir_column_append_i64(&c->children[R_DTS], x->deletion_timestamp)
                                        : weir_column_append_null(&c->children[R_DTS])) ||
        (rc = weir_column_append_bool(&c->children[R_DC], x->data_change)) ||
        (rc = weir_column_append_bool(&c->children[R_EFM], x->extended_file_metadata)) ||
        (rc = x->extended_file_metadata
                  ? ap_map(&c->children[R_PV], x->partition_values, x->n_partition_values)
                  : weir_column_append_null(&c->children[R_PV])) ||
        (rc = x->has_size ? weir_column_append_i64(&c->children[R_SIZE], x->size)
                          : weir_column_append_null(&c->children[R_SIZE])) ||
        (rc = ap_dv(&c->children[R_DV], x->has_deletion_vector, &x->dv)))
        return rc;
    return weir_column_append_struct(c, true);
}

static int w_txn(struct weir_batch *b, const struct weir_delta_txn *x)
{
    struct weir_column *c = &b->columns[C_TXN];
    int rc;
    if ((rc = nulls_except(b, C_TXN)) || (rc = ap_str(&c->children[0], x->app_id)) ||
        (rc = weir_column_append_i64(&c->children[1], x->version)) ||
        (rc = x->has_last_updated ? weir_column_append_i64(&c->children[2], x->last_updated)
                                  : weir_column_append_null(&c->children[2])))
        return rc;
    return weir_column_append_struct(c, true);
}

static int w_meta(struct weir_batch *b, const struct weir_delta_metadata *m)
{
    struct weir_column *c = &b->columns[C_META];
    struct weir_column *f = &c->children[M_FORMAT];
    int rc;
    if ((rc = nulls_except(b, C_META)) || (rc = ap_str(&c->children[M_ID], m->id)) ||
        (rc = ap_str(&c->children[M_NAME], m->name)) || (rc = ap_str(&c->children[M_DESC], m->description)) ||
        (rc = ap_str(&f->children[0], m->format_provider ? m->format_provider : "parquet")) ||
        (rc = ap_map(&f->children[1], NULL, 0)) || (rc = weir_column_append_struct(f, true)) ||
        (rc = ap_str(&c->children[M_SCHEMA], m->schema_string)) ||
        (rc = ap_strv(&c->children[M_PCOLS], m->partition_columns, m->n_partition_columns, true)) ||
        (rc = ap_map(&c->children[M_CONF], m->configuration, m->n_configuration)) ||
        (rc = m->has_created_time ? weir_column_append_i64(&c->children[M_CTIME], m->created_time)
                                  : weir_column_append_null(&c->children[M_CTIME])))
        return rc;
    return weir_column_append_struct(c, true);
}

static int w_proto(struct weir_batch *b, const struct weir_delta_protocol *p)
{
    struct weir_column *c = &b->columns[C_PROTO];
    int rc;
    bool rf = p->min_reader_version >= 3, wf = p->min_writer_version >= 7;
    if ((rc = nulls_except(b, C_PROTO)) ||
        (rc = weir_column_append_i32(&c->children[P_R], p->min_reader_version)) ||
        (rc = weir_column_append_i32(&c->children[P_W], p->min_writer_version)) ||
        (rc = ap_strv(&c->children[P_RF], p->reader_features, p->n_reader_features, rf)) ||
        (rc = ap_strv(&c->children[P_WF], p->writer_features, p->n_writer_features, wf)))
        return rc;
    return weir_column_append_struct(c, true);
}

static int w_domain(struct weir_batch *b, const struct weir_delta_domain *d)
{
    struct weir_column *c = &b->columns[C_DOMAIN];
    int rc;
    if ((rc = nulls_except(b, C_DOMAIN)) || (rc = ap_str(&c->children[0], d->domain)) ||
        (rc = ap_str(&c->children[1], d->configuration ? d->configuration : "")) ||
        (rc = weir_column_append_bool(&c->children[2], d->removed)))
        return rc;
    return weir_column_append_struct(c, true);
}

int weir_delta_checkpoint_write(struct weir_delta_table *t, const struct weir_delta_snapshot *s,
                                int64_t now_ms, struct weir_error *err)
{
    struct weir_type *schema = NULL;
    struct weir_batch *b = NULL;
    struct weir_parquet_writer *w = NULL;
    struct weir_store_upload *up = NULL;
    struct weir_buf lc;
    char key[96];
    int rc = 0;
    int64_t version = weir_delta_snapshot_version(s);
    const struct weir_delta_metadata *md = weir_delta_snapshot_metadata(s);
    weir_buf_init(&lc);
    if (now_ms <= 0)
        now_ms = weir_now_ms();
    int64_t retention = 7LL * 24 * 3600 * 1000;
    const char *rs = weir_delta_metadata_config(md, "delta.deletedFileRetentionDuration");
    if (rs && (rc = weir_delta_parse_interval(rs, &retention, err)) != 0) {
        weir_error_prefix(err, "table property delta.deletedFileRetentionDuration");
        goto done;
    }
    bool domains = weir_delta_snapshot_num_domains(s) > 0;
    if ((rc = checkpoint_schema(domains, &schema, err)))
        goto done;
    if (!(b = weir_batch_create(schema))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory writing checkpoint %lld", (long long)version);
        goto done;
    }
    rc = w_proto(b, weir_delta_snapshot_protocol(s));
    if (rc == 0)
        rc = w_meta(b, md);
    for (size_t i = 0; rc == 0 && i < weir_delta_snapshot_num_txns(s); i++)
        rc = w_txn(b, weir_delta_snapshot_txn(s, i));
    for (size_t i = 0; rc == 0 && i < weir_delta_snapshot_num_domains(s); i++)
        rc = w_domain(b, weir_delta_snapshot_domain(s, i));
    for (size_t i = 0; rc == 0 && i < weir_delta_snapshot_num_files(s); i++)
        rc = w_add(b, weir_delta_snapshot_file(s, i));
    for (size_t i = 0; rc == 0 && i < weir_delta_snapshot_num_tombstones(s); i++) {
        const struct weir_delta_remove *r = weir_delta_snapshot_tombstone(s, i);
        /* keep unexpired tombstones; a remove without a timestamp is kept */
        if (r->has_deletion_timestamp && r->deletion_timestamp <= now_ms - retention)
            continue;
        struct weir_delta_remove copy = *r;
        copy.stats = NULL; /* checkpoint removes carry no stats */
        rc = w_remove(b, &copy);
    }
    if (rc == 0)
        rc = weir_batch_finish_rows(b);
    if (rc) {
        weir_error_set(err, rc, "building checkpoint %lld of %s", (long long)version, t->root);
        goto done;
    }
    dl_checkpoint_key(key, sizeof(key), version);
    if ((rc = weir_store_upload_begin(t->store, key, &up, err)))
        goto done;
    struct weir_parquet_writer_options wo;
    weir_parquet_writer_options_default(&wo);
    wo.codec = WEIR_PARQUET_SNAPPY;
    uint64_t size = 0;
    if ((rc = weir_parquet_writer_create(&w, schema, &wo, weir_store_upload_output(up), err)) ||
        (rc = weir_parquet_writer_write(w, b, err)) || (rc = weir_parquet_writer_close(w, &size, err)))
        goto done;
    if ((rc = weir_store_upload_commit(up, &size, err))) {
        up = NULL;
        goto done;
    }
    up = NULL;
    if ((rc = weir_buf_printf(
             &lc, "{\"version\":%lld,\"size\":%zu,\"sizeInBytes\":%llu,\"numOfAddFiles\":%zu}",
             (long long)version, b->nrows, (unsigned long long)size, weir_delta_snapshot_num_files(s)))) {
        weir_error_set(err, rc, "out of memory");
        goto done;
    }
    /* never move the pointer backwards */
    {
        struct weir_buf old;
        weir_buf_init(&old);
        bool newer = false;
        if (weir_store_get(t->store, DL_LOG_DIR "_last_checkpoint", &old, NULL) == 0 && old.len) {
            cJSON *j = cJSON_ParseWithLength((const char *)old.data, old.len);
            const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, "version") : NULL;
            newer = cJSON_IsNumber(v) && v->valuedouble > (double)version;
            cJSON_Delete(j);
        }
        weir_buf_free(&old);
        if (!newer)
            rc = weir_store_put(t->store, DL_LOG_DIR "_last_checkpoint", lc.data, lc.len, err);
    }
done:
    weir_store_upload_abort(up);
    weir_parquet_writer_destroy(w);
    weir_batch_destroy(b);
    weir_type_destroy(schema);
    weir_buf_free(&lc);
    return rc;
}

/* ------------------------------------------------------------- intervals */

int weir_delta_parse_interval(const char *s, int64_t *ms, struct weir_error *err)
{
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    if (strncasecmp(p, "interval", 8) == 0 && (isspace((unsigned char)p[8]))) {
        p += 8;
        while (isspace((unsigned char)*p))
            p++;
    }
    char *end;
    long long n = strtoll(p, &end, 10);
    if (end == p || n < 0)
        return weir_error_set(err, WEIR_EPARSE, "bad interval '%s': expected '<number> <unit>'", s);
    p = end;
    while (isspace((unsigned char)*p))
        p++;
    const char *u = p;
    while (isalpha((unsigned char)*p))
        p++;
    size_t ul = (size_t)(p - u);
    while (isspace((unsigned char)*p))
        p++;
    if (*p)
        return weir_error_set(err, WEIR_EPARSE, "bad interval '%s': trailing text", s);
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"millisecond", 1}, {"milliseconds", 1}, {"second", 1000},    {"seconds", 1000},
                 {"minute", 60000},  {"minutes", 60000},  {"hour", 3600000},   {"hours", 3600000},
                 {"day", 86400000},  {"days", 86400000},  {"week", 604800000}, {"weeks", 604800000}};
    if (ul >= 11 && strncasecmp(u, "microsecond", 11) == 0 &&
        (ul == 11 || (ul == 12 && (u[11] | 32) == 's'))) {
        *ms = n / 1000;
        return 0;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strlen(units[i].name) == ul && strncasecmp(units[i].name, u, ul) == 0) {
            if (n > INT64_MAX / units[i].ms)
                return weir_error_set(err, WEIR_ERANGE, "interval '%s' is too large", s);
            *ms = n * units[i].ms;
            return 0;
        }
    return weir_error_set(err, WEIR_EPARSE, "bad interval '%s': unknown unit '%.*s'", s, (int)ul, u);
}

/* ------------------------------------------------------------- cleanup */

int weir_delta_log_cleanup(struct weir_delta_table *t, const struct weir_delta_snapshot *s, int64_t now_ms,
                           size_t *deleted, struct weir_error *err)
{
    struct weir_object_list ol = {0};
    int rc;
    size_t ndel = 0;
    if (deleted)
        *deleted = 0;
    if (now_ms <= 0)
        now_ms = weir_now_ms();
    const struct weir_delta_metadata *md = weir_delta_snapshot_metadata(s);
    const char *en = weir_delta_metadata_config(md, "delta.enableExpiredLogCleanup");
    if (en && strcasecmp(en, "false") == 0)
        return 0;
    int64_t retention = 30LL * 86400000;
    const char *rs = weir_delta_metadata_config(md, "delta.logRetentionDuration");
    if (rs && (rc = weir_delta_parse_interval(rs, &retention, err))) {
        weir_error_prefix(err, "table property delta.logRetentionDuration");
        return rc;
    }
    /* protocol: cutoff at midnight UTC, retention back */
    int64_t cutoff = now_ms - retention;
    cutoff -= ((cutoff % 86400000) + 86400000) % 86400000;
    if ((rc = weir_store_list(t->store, DL_LOG_DIR, NULL, false, &ol, err)))
        goto done;
    /* newest checkpoint (<= snapshot version) whose file is older than cutoff */
    int64_t cp = -1;
    for (size_t i = 0; i < ol.count; i++) {
        const char *k = ol.items[i].key + strlen(DL_LOG_DIR);
        if (strlen(k) == 20 + 19 && strcmp(k + 20, ".checkpoint.parquet") == 0 &&
            ol.items[i].mtime_ms <= cutoff) {
            int64_t v = strtoll(k, NULL, 10);
            if (v <= weir_delta_snapshot_version(s) && v > cp)
                cp = v;
        }
    }
    if (cp <= 0)
        goto done;
    for (size_t i = 0; i < ol.count; i++) {
        const char *k = ol.items[i].key + strlen(DL_LOG_DIR);
        size_t kl = strlen(k);
        if (kl < 21 || k[20] != '.')
            continue;
        bool digits = true;
        for (int j = 0; j < 20; j++)
            digits &= k[j] >= '0' && k[j] <= '9';
        if (!digits)
            continue;
        int64_t v = strtoll(k, NULL, 10);
        if (v >= cp)
            continue;
        const char *rest = k + 21;
        if (strcmp(rest, "json") != 0 && strcmp(rest, "crc") != 0 && strncmp(rest, "checkpoint.", 11) != 0)
            continue;
        if ((rc = weir_store_delete(t->store, ol.items[i].key, err)) && rc != WEIR_ENOTFOUND)
            goto done;
        rc = 0;
        ndel++;
    }
done:
    weir_object_list_free(&ol);
    if (deleted)
        *deleted = ndel;
    return rc;
}
