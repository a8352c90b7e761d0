/* delta/write.c - weir_delta_write: batches -> Parquet data files (split by
 * partition values, Hive-style directories, rolled at the target size) ->
 * one commit (commitInfo, protocol+metaData on create, txn, removes on
 * overwrite, adds with stats) -> checkpoint every delta.checkpointInterval.
 *
 * Invariants: data files are written and committed to the store before the
 * commit JSON; a failed commit leaves only unreferenced data files (for
 * VACUUM). Column order in data files follows the table schema minus the
 * partition columns. Thread: the caller's; one write per table handle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "delta/delta_int.h"

void weir_delta_write_options_default(struct weir_delta_write_options *o)
{
    memset(o, 0, sizeof(*o));
    o->mode = WEIR_DELTA_APPEND;
    o->create_if_missing = true;
    o->txn_version = -1;
    o->codec = WEIR_PARQUET_SNAPPY;
    o->target_file_bytes = 128ull << 20;
    o->engine_info = WEIR_DELTA_ENGINE_INFO;
    o->max_retries = 100;
    o->checkpoint = true;
}

struct group {
    char *pkey;               /* joined partition values, map key */
    struct weir_delta_kv *pv; /* partition values (NULL value = null) */
    size_t npv;
    char *dir;                /* "a=1/b=x/" or "" */
    struct weir_batch *batch; /* pending data rows */
};

struct wstate {
    struct weir_delta_table *t;
    const struct weir_delta_write_options *o;
    const struct weir_type *data_schema;
    struct group *groups;
    size_t ngroups, cap_groups;
    size_t *slots; /* hash index over groups by pkey */
    size_t nslots;
    struct weir_delta_actions acts;
    int file_seq;
    int64_t now;
    int64_t rows, bytes;
};

static void groups_free(struct wstate *w)
{
    for (size_t i = 0; i < w->ngroups; i++) {
        weir_free(w->groups[i].pkey);
        dl_kv_free(w->groups[i].pv, w->groups[i].npv);
        weir_free(w->groups[i].dir);
        weir_batch_destroy(w->groups[i].batch);
    }
    weir_free(w->groups);
    weir_free(w->slots);
}

static const char *codec_ext(enum weir_parquet_codec c)
{
    switch (c) {
    case WEIR_PARQUET_SNAPPY:
        return ".snappy";
    case WEIR_PARQUET_ZSTD:
        return ".zstd";
    case WEIR_PARQUET_GZIP:
        return ".gz";
    default:
        return "";
    }
}

/* Write g->batch as one data file and record its add action. */
static int flush_group(struct wstate *w, struct group *g, struct weir_error *err)
{
    struct weir_store_upload *up = NULL;
    struct weir_parquet_writer *pw = NULL;
    struct weir_buf path;
    char *stats = NULL, *key = NULL;
    char uuid[37];
    int rc;
    if (!g->batch || g->batch->nrows == 0)
        return 0;
    weir_buf_init(&path);
    dl_uuid(uuid);
    char name[128];
    snprintf(name, sizeof(name), "part-%05d-%s-c000%s.parquet", w->file_seq++, uuid, codec_ext(w->o->codec));
    if (!(key = weir_asprintf("%s%s", g->dir, name))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = dl_stats_json(g->batch, &stats, err)))
        goto done;
    if ((rc = weir_store_upload_begin(w->t->store, key, &up, err)))
        goto done;
    struct weir_parquet_writer_options po;
    weir_parquet_writer_options_default(&po);
    po.codec = w->o->codec;
    uint64_t size = 0;
    if ((rc = weir_parquet_writer_create(&pw, w->data_schema, &po, weir_store_upload_output(up), err)) ||
        (rc = weir_parquet_writer_write(pw, g->batch, err)) ||
        (rc = weir_parquet_writer_close(pw, &size, err))) {
        weir_error_prefix(err, "writing data file %s", key);
        goto done;
    }
    rc = weir_store_upload_commit(up, &size, err);
    up = NULL;
    if (rc)
        goto done;
    if ((rc = dl_uri_encode(&path, key)) || (rc = weir_buf_append_byte(&path, 0))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    struct weir_delta_add add = {
        .path = (char *)path.data,
        .partition_values = g->pv,
        .n_partition_values = g->npv,
        .size = (int64_t)size,
        .modification_time = w->now,
        .data_change = true,
        .stats = stats,
    };
    if ((rc = weir_delta_actions_add_add(&w->acts, &add))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    w->rows += (int64_t)g->batch->nrows;
    w->bytes += (int64_t)size;
    weir_batch_clear(g->batch);
done:
    weir_store_upload_abort(up);
    weir_parquet_writer_destroy(pw);
    weir_free(stats);
    weir_free(key);
    weir_buf_free(&path);
    return rc;
}

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Open-addressing index over w->groups (slot = index + 1). */
static int index_rebuild(struct wstate *w, size_t nslots)
{
    size_t *sl = weir_calloc(nslots, sizeof(size_t));
    if (!sl)
        return WEIR_ENOMEM;
    for (size_t i = 0; i < w->ngroups; i++) {
        size_t h = (size_t)(hash_key(w->groups[i].pkey) & (nslots - 1));
        while (sl[h])
            h = (h + 1) & (nslots - 1);
        sl[h] = i + 1;
    }
    weir_free(w->slots);
    w->slots = sl;
    w->nslots = nslots;
    return 0;
}

static struct group *find_group(struct wstate *w, const char *pkey)
{
    if (!w->nslots)
        return NULL;
    size_t h = (size_t)(hash_key(pkey) & (w->nslots - 1));
    while (w->slots[h]) {
        struct group *g = &w->groups[w->slots[h] - 1];
        if (strcmp(g->pkey, pkey) == 0)
            return g;
        h = (h + 1) & (w->nslots - 1);
    }
    return NULL;
}

/* Table schema field index of each batch field name, verified types. */
static int match_schema(const struct weir_type *table, const struct weir_type *bs, int *map,
                        struct weir_error *err)
{
    if (bs->nfields != table->nfields)
        return weir_error_set(err, WEIR_ESCHEMA, "batch has %zu columns, table has %zu", bs->nfields,
                              table->nfields);
    for (size_t i = 0; i < table->nfields; i++) {
        int j = weir_type_field_index(bs, table->fields[i].name);
        if (j < 0)
            return weir_error_set(err, WEIR_ESCHEMA, "batch lacks table column '%s'", table->fields[i].name);
        /* compare types ignoring top-level nullability */
        if (!weir_type_equal(table->fields[i].type, bs->fields[j].type)) {
            char *a = weir_type_to_display(table->fields[i].type),
                 *b = weir_type_to_display(bs->fields[j].type);
            int rc = weir_error_set(err, WEIR_ESCHEMA, "column '%s' is %s in the table but %s in the batch",
                                    table->fields[i].name, a ? a : "?", b ? b : "?");
            weir_free(a);
            weir_free(b);
            return rc;
        }
        map[i] = j;
    }
    return 0;
}

static bool schema_has_ntz(const struct weir_type *t)
{
    if (!t)
        return false;
    if (t->kind == WEIR_TYPE_TIMESTAMP_NTZ)
        return true;
    for (size_t i = 0; i < t->nfields; i++)
        if (schema_has_ntz(t->fields[i].type))
            return true;
    return schema_has_ntz(t->element) || schema_has_ntz(t->key) || schema_has_ntz(t->value);
}

static int build_create(struct wstate *w, const struct weir_type *schema, struct weir_error *err)
{
    const struct weir_delta_write_options *o = w->o;
    struct weir_delta_protocol *p = weir_calloc(1, sizeof(*p));
    struct weir_delta_metadata *m = weir_calloc(1, sizeof(*m));
    char uuid[37];
    w->acts.protocol = p;
    w->acts.metadata = m;
    if (!p || !m)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    if (schema_has_ntz(schema)) {
        p->min_reader_version = 3;
        p->min_writer_version = 7;
        p->reader_features = weir_calloc(1, sizeof(char *));
        p->writer_features = weir_calloc(1, sizeof(char *));
        if (!p->reader_features || !p->writer_features ||
            !(p->reader_features[0] = weir_strdup("timestampNtz")) ||
            !(p->writer_features[0] = weir_strdup("timestampNtz")))
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        p->n_reader_features = p->n_writer_features = 1;
        p->has_reader_features = p->has_writer_features = true;
    } else {
        p->min_reader_version = 1;
        p->min_writer_version = 2;
    }
    dl_uuid(uuid);
    m->id = weir_strdup(uuid);
    m->format_provider = weir_strdup("parquet");
    m->schema_string = weir_schema_to_json(schema);
    m->schema = weir_type_clone(schema);
    m->name = o->table_name ? weir_strdup(o->table_name) : NULL;
    m->description = o->description ? weir_strdup(o->description) : NULL;
    m->created_time = w->now;
    m->has_created_time = true;
    if (!m->id || !m->format_provider || !m->schema_string || !m->schema || (o->table_name && !m->name) ||
        (o->description && !m->description))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    if (o->n_partition_by) {
        m->partition_columns = weir_calloc(o->n_partition_by, sizeof(char *));
        if (!m->partition_columns)
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        for (size_t i = 0; i < o->n_partition_by; i++) {
            int fi = weir_type_field_index(schema, o->partition_by[i]);
            if (fi < 0)
                return weir_error_set(err, WEIR_ESCHEMA, "partition column '%s' is not in the schema",
                                      o->partition_by[i]);
            if (!weir_type_is_primitive(schema->fields[fi].type))
                return weir_error_set(err, WEIR_ESCHEMA, "partition column '%s' must have a primitive type",
                                      o->partition_by[i]);
            if (!(m->partition_columns[i] = weir_strdup(schema->fields[fi].name)))
                return weir_error_set(err, WEIR_ENOMEM, "out of memory");
            m->n_partition_columns++;
        }
        if (m->n_partition_columns == schema->nfields)
            return weir_error_set(err, WEIR_ESCHEMA,
                                  "every column is a partition column; at least one data "
                                  "column is needed");
    }
    if (dl_kv_copy(&m->configuration, o->configuration, o->n_configuration))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    m->n_configuration = o->n_configuration;
    return 0;
}

static char *commit_info_json(struct wstate *w, int64_t read_version, bool blind,
                              const struct weir_delta_metadata *md)
{
    struct weir_buf b;
    char uuid[37];
    weir_buf_init(&b);
    dl_uuid(uuid);
    int rc = weir_buf_printf(
        &b,
        "{\"timestamp\":%lld,\"operation\":\"WRITE\",\"operationParameters\":{\"mode\":\"%s\","
        "\"partitionBy\":",
        (long long)w->now, w->o->mode == WEIR_DELTA_OVERWRITE ? "Overwrite" : "Append");
    /* partitionBy is a JSON array inside a string */
    struct weir_buf pb;
    weir_buf_init(&pb);
    if (rc == 0)
        rc = weir_buf_append_byte(&pb, '[');
    for (size_t i = 0; rc == 0 && md && i < md->n_partition_columns; i++) {
        if (i)
            rc = weir_buf_append_byte(&pb, ',');
        if (rc == 0)
            rc = dl_json_escape(&pb, md->partition_columns[i], strlen(md->partition_columns[i]));
    }
    if (rc == 0)
        rc = weir_buf_append_byte(&pb, ']');
    if (rc == 0)
        rc = dl_json_escape(&b, (const char *)pb.data, pb.len);
    weir_buf_free(&pb);
    if (rc == 0)
        rc = weir_buf_append_byte(&b, '}');
    if (rc == 0 && read_version >= 0)
        rc = weir_buf_printf(&b, ",\"readVersion\":%lld", (long long)read_version);
    if (rc == 0)
        rc = weir_buf_printf(
            &b,
            ",\"isolationLevel\":\"Serializable\",\"isBlindAppend\":%s,\"operationMetrics\":{"
            "\"numFiles\":\"%zu\",\"numOutputRows\":\"%lld\",\"numOutputBytes\":\"%lld\"",
            blind ? "true" : "false", w->acts.n_adds, (long long)w->rows, (long long)w->bytes);
    if (rc == 0 && w->acts.n_removes)
        rc = weir_buf_printf(&b, ",\"numRemovedFiles\":\"%zu\"", w->acts.n_removes);
    if (rc == 0)
        rc = weir_buf_append_str(&b, "},\"engineInfo\":");
    const char *ei = w->o->engine_info ? w->o->engine_info : WEIR_DELTA_ENGINE_INFO;
    if (rc == 0)
        rc = dl_json_escape(&b, ei, strlen(ei));
    if (rc == 0)
        rc = weir_buf_printf(&b, ",\"txnId\":\"%s\"}", uuid);
    if (rc) {
        weir_buf_free(&b);
        return NULL;
    }
    return weir_buf_detach(&b);
}

int weir_delta_write(struct weir_delta_table *t, const struct weir_batch *const *batches, size_t nbatches,
                     const struct weir_delta_write_options *opts, struct weir_delta_write_result *res,
                     struct weir_error *err)
{
    struct weir_delta_write_options defo;
    struct weir_delta_write_result dres;
    struct weir_delta_snapshot *snap = NULL, *after = NULL;
    struct weir_type *data_schema = NULL;
    struct wstate w;
    int *colmap = NULL, *is_part = NULL;
    struct weir_buf pk;
    int rc;
    if (!opts) {
        weir_delta_write_options_default(&defo);
        opts = &defo;
    }
    if (!res)
        res = &dres;
    memset(res, 0, sizeof(*res));
    res->version = -1;
    memset(&w, 0, sizeof(w));
    weir_buf_init(&pk);
    w.t = t;
    w.o = opts;
    w.now = opts->now_ms > 0 ? opts->now_ms : dl_now_ms();
    uint64_t target = opts->target_file_bytes ? opts->target_file_bytes : 128ull << 20;
    weir_delta_actions_init(&w.acts);
    if (nbatches == 0 || !batches[0])
        return weir_error_set(err, WEIR_EINVAL, "%s: nothing to write (no batches)", t->root);

    struct weir_error lerr = {0};
    /* the handle's cached snapshot, advanced by the commits since; else a full load */
    if (t->write_cache && dl_snapshot_advance(t, t->write_cache, &lerr) != 0) {
        weir_delta_snapshot_destroy(t->write_cache);
        t->write_cache = NULL;
        weir_error_clear(&lerr);
    }
    rc = 0;
    if (t->write_cache)
        snap = t->write_cache;
    else if ((rc = weir_delta_snapshot_load(t, -1, &snap, &lerr)) == 0)
        t->write_cache = snap; /* owned by the handle from now on */
    if (rc == WEIR_ENOTFOUND) {
        int64_t lv;
        struct weir_error e2 = {0};
        if (weir_delta_table_latest_version(t, &lv, &e2) == 0) {
            if (err)
                *err = lerr;
            goto done;
        }
        if (!opts->create_if_missing) {
            rc = weir_error_set(err, WEIR_ENOTFOUND, "%s is not a Delta table and create_if_missing is off",
                                t->root);
            goto done;
        }
        rc = 0;
    } else if (rc) {
        if (err)
            *err = lerr;
        goto done;
    }
    const struct weir_type *schema;
    const struct weir_delta_metadata *md;
    if (snap) {
        if ((rc = weir_delta_snapshot_check_write(snap, err)))
            goto done;
        res->version = weir_delta_snapshot_version(snap);
        if (opts->txn_app_id && opts->txn_version >= 0 &&
            weir_delta_snapshot_txn_version(snap, opts->txn_app_id) >= opts->txn_version) {
            res->already_committed = true;
            rc = 0;
            goto done;
        }
        md = weir_delta_snapshot_metadata(snap);
        const char *ao = weir_delta_metadata_config(md, "delta.appendOnly");
        if (opts->mode == WEIR_DELTA_OVERWRITE && ao && strcasecmp(ao, "true") == 0) {
            rc = weir_error_set(err, WEIR_EUNSUPPORTED,
                                "%s is append-only (delta.appendOnly=true); overwrite refused", t->root);
            goto done;
        }
        schema = md->schema;
    } else {
        if ((rc = build_create(&w, batches[0]->schema, err)))
            goto done;
        md = w.acts.metadata;
        schema = md->schema;
    }
    /* data schema = table schema minus partition columns */
    colmap = weir_calloc(schema->nfields + 1, sizeof(int));
    is_part = weir_calloc(schema->nfields + 1, sizeof(int));
    data_schema = weir_type_struct();
    if (!colmap || !is_part || !data_schema) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < schema->nfields; i++) {
        for (size_t k = 0; k < md->n_partition_columns; k++)
            if (strcasecmp(md->partition_columns[k], schema->fields[i].name) == 0)
                is_part[i] = 1;
        if (!is_part[i]) {
            struct weir_type *ft = weir_type_clone(schema->fields[i].type);
            if (!ft || weir_type_struct_add(data_schema, schema->fields[i].name, ft,
                                            schema->fields[i].nullable, schema->fields[i].metadata)) {
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                goto done;
            }
        }
    }
    w.data_schema = data_schema;
    /* rows -> groups */
    for (size_t bi = 0; bi < nbatches; bi++) {
        const struct weir_batch *b = batches[bi];
        if ((rc = match_schema(schema, b->schema, colmap, err))) {
            weir_error_prefix(err, "%s: batch %zu", t->root, bi);
            goto done;
        }
        for (size_t i = 0; i < schema->nfields; i++)
            if (!schema->fields[i].nullable && b->columns[colmap[i]].null_count > 0) {
                rc = weir_error_set(err, WEIR_ESCHEMA,
                                    "%s: column '%s' is NOT NULL but batch %zu has %zu nulls", t->root,
                                    schema->fields[i].name, bi, b->columns[colmap[i]].null_count);
                goto done;
            }
        for (size_t r = 0; r < b->nrows; r++) {
            pk.len = 0;
            for (size_t i = 0; i < schema->nfields; i++) {
                if (!is_part[i])
                    continue;
                char *v = NULL;
                if ((rc = weir_delta_partition_value_format(&b->columns[colmap[i]], r, &v, err)))
                    goto done;
                rc = v ? weir_buf_printf(&pk, "\x01%s", v) : weir_buf_append_byte(&pk, 0x02);
                weir_free(v);
                if (rc == 0)
                    rc = weir_buf_append_byte(&pk, 0x03);
                if (rc) {
                    rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                    goto done;
                }
            }
            if (weir_buf_append_byte(&pk, 0)) {
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                goto done;
            }
            struct group *g = find_group(&w, (const char *)pk.data);
            if (!g) {
                g = dl_grow((void **)&w.groups, &w.ngroups, &w.cap_groups, sizeof(*g));
                if (!g || !(g->pkey = weir_strdup((const char *)pk.data)) ||
                    !(g->batch = weir_batch_create(data_schema))) {
                    rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                    goto done;
                }
                struct weir_buf dir;
                weir_buf_init(&dir);
                g->pv = md->n_partition_columns ? weir_calloc(md->n_partition_columns, sizeof(*g->pv)) : NULL;
                if (md->n_partition_columns && !g->pv) {
                    rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                    goto done;
                }
                for (size_t i = 0; i < schema->nfields && rc == 0; i++) {
                    if (!is_part[i])
                        continue;
                    char *v = NULL;
                    if ((rc = weir_delta_partition_value_format(&b->columns[colmap[i]], r, &v, err)))
                        break;
                    struct weir_delta_kv *kv = &g->pv[g->npv++];
                    kv->key = weir_strdup(schema->fields[i].name);
                    kv->value = v;
                    rc = kv->key ? 0 : WEIR_ENOMEM;
                    if (rc == 0)
                        rc = dl_hive_escape(&dir, schema->fields[i].name);
                    if (rc == 0)
                        rc = weir_buf_append_byte(&dir, '=');
                    if (rc == 0)
                        rc = v ? dl_hive_escape(&dir, v)
                               : weir_buf_append_str(&dir, "__HIVE_DEFAULT_PARTITION__");
                    if (rc == 0)
                        rc = weir_buf_append_byte(&dir, '/');
                }
                if (rc == 0)
                    rc = weir_buf_append_byte(&dir, 0);
                if (rc) {
                    weir_buf_free(&dir);
                    if (rc == WEIR_ENOMEM)
                        weir_error_set(err, WEIR_ENOMEM, "out of memory");
                    goto done;
                }
                g->dir = (char *)dir.data;
                if (w.ngroups * 2 > w.nslots) {
                    /* grow: the rebuild indexes every group, the new one included */
                    if (index_rebuild(&w, w.nslots ? w.nslots * 2 : 64)) {
                        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                        goto done;
                    }
                } else {
                    size_t h = (size_t)(hash_key(g->pkey) & (w.nslots - 1));
                    while (w.slots[h])
                        h = (h + 1) & (w.nslots - 1);
                    w.slots[h] = w.ngroups;
                }
            }
            size_t dc = 0;
            for (size_t i = 0; i < schema->nfields; i++) {
                if (is_part[i])
                    continue;
                if ((rc = weir_column_append_from(&g->batch->columns[dc++], &b->columns[colmap[i]], r))) {
                    rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                    goto done;
                }
            }
            if ((rc = weir_batch_finish_rows(g->batch))) {
                weir_error_set(err, rc, "internal: data batch columns out of step");
                goto done;
            }
            if ((g->batch->nrows & 1023) == 0 && weir_batch_memory(g->batch) >= target &&
                (rc = flush_group(&w, g, err)))
                goto done;
        }
    }
    for (size_t i = 0; i < w.ngroups; i++)
        if ((rc = flush_group(&w, &w.groups[i], err)))
            goto done;
    /* overwrite: remove every live file */
    if (snap && opts->mode == WEIR_DELTA_OVERWRITE)
        for (size_t i = 0; i < weir_delta_snapshot_num_files(snap); i++) {
            const struct weir_delta_add *a = weir_delta_snapshot_file(snap, i);
            struct weir_delta_remove r = {
                .path = a->path,
                .deletion_timestamp = w.now,
                .has_deletion_timestamp = true,
                .data_change = true,
                .extended_file_metadata = true,
                .partition_values = a->partition_values,
                .n_partition_values = a->n_partition_values,
                .size = a->size,
                .has_size = true,
                .has_deletion_vector = a->has_deletion_vector,
                .dv = a->dv,
            };
            if ((rc = weir_delta_actions_add_remove(&w.acts, &r))) {
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                goto done;
            }
        }
    if (opts->txn_app_id && opts->txn_version >= 0 &&
        (rc = weir_delta_actions_add_txn(&w.acts, opts->txn_app_id, opts->txn_version, w.now))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    int64_t read_version = snap ? weir_delta_snapshot_version(snap) : -1;
    bool blind = opts->mode == WEIR_DELTA_APPEND;
    if (!(w.acts.commit_info = commit_info_json(&w, read_version, blind, md))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    struct weir_delta_commit_options co = {
        .read_version = read_version,
        .read_whole_table = opts->mode == WEIR_DELTA_OVERWRITE,
        .max_retries = opts->max_retries,
    };
    bool already = false;
    int64_t version = -1;
    if ((rc = weir_delta_commit(t, &w.acts, &co, &version, &already, err)))
        goto done;
    res->version = version;
    res->already_committed = already;
    if (already)
        goto done;
    res->files_added = w.acts.n_adds;
    res->files_removed = w.acts.n_removes;
    res->rows_written = w.rows;
    res->bytes_written = w.bytes;
    /* checkpoint per interval */
    int64_t interval = 10;
    const char *ci = weir_delta_metadata_config(md, "delta.checkpointInterval");
    if (ci && atoll(ci) > 0)
        interval = atoll(ci);
    if (opts->checkpoint && version > 0 && version % interval == 0) {
        struct weir_error cerr = {0};
        const struct weir_delta_snapshot *cs = NULL;
        int crc = 0;
        snap = NULL; /* md and snap may change below; neither is used after this */
        md = NULL;
        if (t->write_cache && dl_snapshot_advance(t, t->write_cache, &cerr) != 0) {
            weir_delta_snapshot_destroy(t->write_cache);
            t->write_cache = NULL;
            weir_error_clear(&cerr);
        }
        if (t->write_cache && weir_delta_snapshot_version(t->write_cache) == version)
            cs = t->write_cache;
        else if ((crc = weir_delta_snapshot_load(t, version, &after, &cerr)) == 0)
            cs = after;
        if (crc == 0)
            crc = weir_delta_checkpoint_write(t, cs, w.now, &cerr);
        if (crc == 0) {
            res->checkpoint_written = true;
            crc = weir_delta_log_cleanup(t, cs, w.now, NULL, &cerr);
        }
        if (crc) /* the commit stands; a missing checkpoint only costs replay time */
            WEIR_WARN("%s: checkpoint at version %lld failed: %s", t->root, (long long)version, cerr.message);
    }
done:
    weir_delta_snapshot_destroy(after); /* snap belongs to t->write_cache */
    weir_type_destroy(data_schema);
    weir_free(colmap);
    weir_free(is_part);
    weir_buf_free(&pk);
    groups_free(&w);
    weir_delta_actions_free(&w.acts);
    return rc;
}
