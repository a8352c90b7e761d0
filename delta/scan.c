/* delta/scan.c - read a snapshot's live files: each file's Parquet row
 * groups are read with the table's data schema (projected), and partition
 * columns are materialized from add.partitionValues. One batch per row
 * group, handed to the caller's callback. Also opens one data file for
 * reading (dl_data_file_open), for optimize's rewrites too. Thread: the
 * caller's. */
#include <string.h>

#include "core/alloc.h"
#include "delta/delta_int.h"

static bool is_partition(const struct weir_delta_metadata *m, const char *name)
{
    for (size_t i = 0; i < m->n_partition_columns; i++)
        if (strcasecmp(m->partition_columns[i], name) == 0)
            return true;
    return false;
}

/* Appends a copy of field f to the struct type st. */
static int add_field_copy(struct weir_type *st, const struct weir_field *f, bool nullable,
                          struct weir_error *err)
{
    struct weir_type *t = weir_type_clone(f->type);
    if (!t || weir_type_struct_add(st, f->name, t, nullable, f->metadata))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    return 0;
}

/* Appends to `want` (nullable) the data columns of `from`, the ones that are
 * not partition columns, until `want` has `max` fields. */
static int add_data_columns(struct weir_type *want, const struct weir_type *from,
                            const struct weir_delta_metadata *m, size_t max, struct weir_error *err)
{
    int rc = 0;
    for (size_t i = 0; i < from->nfields && want->nfields < max && rc == 0; i++)
        if (!is_partition(m, from->fields[i].name))
            rc = add_field_copy(want, &from->fields[i], true, err);
    return rc;
}

int dl_data_file_open(struct weir_delta_table *t, const char *path, struct dl_data_file *f,
                      struct weir_error *err)
{
    int rc;
    memset(f, 0, sizeof(*f));
    if ((rc = dl_path_to_key(path, &f->key, err)))
        return rc;
    if ((rc = weir_store_input_open(t->store, f->key, &f->in, err)))
        return rc;
    f->in_open = true;
    return weir_parquet_reader_open(&f->reader, &f->in, err);
}

void dl_data_file_close(struct dl_data_file *f)
{
    weir_parquet_reader_destroy(f->reader);
    if (f->in_open)
        weir_store_input_close(&f->in);
    weir_free(f->key);
    memset(f, 0, sizeof(*f));
}

int weir_delta_scan_schema(const struct weir_delta_snapshot *s, const char *const *columns, size_t ncolumns,
                           struct weir_type **out, struct weir_error *err)
{
    const struct weir_type *ts = weir_delta_snapshot_metadata(s)->schema;
    struct weir_type *st = weir_type_struct();
    int rc = 0;
    *out = NULL;
    if (!st)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    size_t n = ncolumns ? ncolumns : ts->nfields;
    for (size_t i = 0; i < n; i++) {
        int fi = ncolumns ? weir_type_field_index(ts, columns[i]) : (int)i;
        if (fi < 0) {
            rc = weir_error_set(err, WEIR_ENOTFOUND, "column '%s' is not in the table schema", columns[i]);
            goto done;
        }
        const struct weir_field *f = &ts->fields[fi];
        if ((rc = add_field_copy(st, f, f->nullable, err)))
            goto done;
    }
done:
    if (rc) {
        weir_type_destroy(st);
        return rc;
    }
    *out = st;
    return 0;
}

static const char *pv_get(const struct weir_delta_add *a, const char *name, bool *found)
{
    for (size_t i = 0; i < a->n_partition_values; i++)
        if (strcasecmp(a->partition_values[i].key, name) == 0) {
            *found = true;
            return a->partition_values[i].value;
        }
    *found = false;
    return NULL;
}

int weir_delta_scan(struct weir_delta_table *t, const struct weir_delta_snapshot *s,
                    const char *const *columns, size_t ncolumns, weir_delta_scan_cb cb, void *ctx,
                    struct weir_error *err)
{
    const struct weir_delta_metadata *m = weir_delta_snapshot_metadata(s);
    struct weir_type *outs = NULL, *want = NULL;
    struct dl_data_file f = {0};
    struct weir_batch *fb = NULL, *ob = NULL;
    int rc;
    if ((rc = weir_delta_snapshot_check_read(s, err)))
        return rc;
    if ((rc = weir_delta_scan_schema(s, columns, ncolumns, &outs, err)))
        return rc;
    /* file projection: the data columns of the output; if none, the first
     * data column of the table (for row counts) */
    want = weir_type_struct();
    if (!want) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = add_data_columns(want, outs, m, SIZE_MAX, err)))
        goto done;
    if (want->nfields == 0 && (rc = add_data_columns(want, m->schema, m, 1, err)))
        goto done;
    for (size_t fi = 0; fi < weir_delta_snapshot_num_files(s); fi++) {
        const struct weir_delta_add *a = weir_delta_snapshot_file(s, fi);
        if ((rc = dl_data_file_open(t, a->path, &f, err)))
            goto done;
        int nrg = weir_parquet_reader_num_row_groups(f.reader);
        for (int rg = 0; rg < nrg; rg++) {
            if ((rc = weir_parquet_reader_read_row_group(f.reader, rg, want, &fb, err))) {
                weir_error_prefix(err, "%s", f.key);
                goto done;
            }
            if (!(ob = weir_batch_create(outs))) {
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                goto done;
            }
            for (size_t c = 0; c < outs->nfields; c++) {
                struct weir_column *oc = &ob->columns[c];
                const char *name = outs->fields[c].name;
                if (is_partition(m, name)) {
                    bool found;
                    const char *v = pv_get(a, name, &found);
                    for (size_t row = 0; row < fb->nrows; row++)
                        if ((rc = weir_delta_partition_value_append(oc, v, err))) {
                            weir_error_prefix(err, "%s: partition column '%s'", a->path, name);
                            goto done;
                        }
                    continue;
                }
                int src = weir_type_field_index(fb->schema, name);
                if (src < 0) {
                    rc = weir_error_set(err, WEIR_ESTATE, "internal: column '%s' missing from read batch",
                                        name);
                    goto done;
                }
                for (size_t row = 0; row < fb->nrows; row++)
                    if ((rc = weir_column_append_from(oc, &fb->columns[src], row))) {
                        rc = weir_error_set(err, rc, "copying column '%s' of %s", name, a->path);
                        goto done;
                    }
            }
            if ((rc = weir_batch_finish_rows(ob))) {
                weir_error_set(err, rc, "internal: scan batch columns out of step");
                goto done;
            }
            if (outs->nfields == 0)
                ob->nrows = fb->nrows;
            weir_batch_destroy(fb);
            fb = NULL;
            rc = cb(ctx, ob, a, err);
            weir_batch_destroy(ob);
            ob = NULL;
            if (rc)
                goto done;
        }
        dl_data_file_close(&f);
    }
done:
    weir_batch_destroy(fb);
    weir_batch_destroy(ob);
    dl_data_file_close(&f);
    weir_type_destroy(want);
    weir_type_destroy(outs);
    return rc;
}
