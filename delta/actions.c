/* delta/actions.c - Delta log actions: parse a commit file's NDJSON into
 * weir_delta_actions and serialize actions back to a commit file.
 *
 * Owns: the action structs' memory (every string weir_malloc'd). Parsing
 * uses cJSON per line; unknown actions and unknown fields are ignored,
 * required fields are checked and a violation is reported as
 * "<file> line N: <what>" with WEIR_ECORRUPT. Pure functions, no shared
 * state: safe from any thread. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/alloc.h"
#include "delta/delta_int.h"

/* ------------------------------------------------------------- free/init */

void weir_delta_actions_init(struct weir_delta_actions *a)
{
    memset(a, 0, sizeof(*a));
    a->commit_timestamp = -1;
}

void dl_kv_free(struct weir_delta_kv *kv, size_t n)
{
    for (size_t i = 0; kv && i < n; i++) {
        weir_free(kv[i].key);
        weir_free(kv[i].value);
    }
    weir_free(kv);
}

static void dv_clear(struct weir_delta_dv *dv)
{
    weir_free(dv->storage_type);
    weir_free(dv->path_or_inline_dv);
    memset(dv, 0, sizeof(*dv));
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        weir_free(v[i]);
    weir_free(v);
}

void weir_delta_add_clear(struct weir_delta_add *a)
{
    if (!a)
        return;
    weir_free(a->path);
    dl_kv_free(a->partition_values, a->n_partition_values);
    weir_free(a->stats);
    dl_kv_free(a->tags, a->n_tags);
    dv_clear(&a->dv);
    memset(a, 0, sizeof(*a));
}

void weir_delta_remove_clear(struct weir_delta_remove *r)
{
    if (!r)
        return;
    weir_free(r->path);
    dl_kv_free(r->partition_values, r->n_partition_values);
    weir_free(r->stats);
    dv_clear(&r->dv);
    memset(r, 0, sizeof(*r));
}

void weir_delta_protocol_free(struct weir_delta_protocol *p)
{
    if (!p)
        return;
    strv_free(p->reader_features, p->n_reader_features);
    strv_free(p->writer_features, p->n_writer_features);
    weir_free(p);
}

void weir_delta_metadata_free(struct weir_delta_metadata *m)
{
    if (!m)
        return;
    weir_free(m->id);
    weir_free(m->name);
    weir_free(m->description);
    weir_free(m->format_provider);
    weir_free(m->schema_string);
    weir_type_destroy(m->schema);
    weir_free(m->schema_error);
    strv_free(m->partition_columns, m->n_partition_columns);
    dl_kv_free(m->configuration, m->n_configuration);
    weir_free(m);
}

void dl_txn_clear(struct weir_delta_txn *t)
{
    weir_free(t->app_id);
    memset(t, 0, sizeof(*t));
}

void dl_domain_clear(struct weir_delta_domain *d)
{
    weir_free(d->domain);
    weir_free(d->configuration);
    memset(d, 0, sizeof(*d));
}

static void cdc_clear(struct weir_delta_cdc *c)
{
    weir_free(c->path);
    dl_kv_free(c->partition_values, c->n_partition_values);
    memset(c, 0, sizeof(*c));
}

void weir_delta_actions_free(struct weir_delta_actions *a)
{
    if (!a)
        return;
    weir_delta_protocol_free(a->protocol);
    weir_delta_metadata_free(a->metadata);
    weir_free(a->commit_info);
    for (size_t i = 0; i < a->n_adds; i++)
        weir_delta_add_clear(&a->adds[i]);
    weir_free(a->adds);
    for (size_t i = 0; i < a->n_removes; i++)
        weir_delta_remove_clear(&a->removes[i]);
    weir_free(a->removes);
    for (size_t i = 0; i < a->n_txns; i++)
        dl_txn_clear(&a->txns[i]);
    weir_free(a->txns);
    for (size_t i = 0; i < a->n_domains; i++)
        dl_domain_clear(&a->domains[i]);
    weir_free(a->domains);
    for (size_t i = 0; i < a->n_cdcs; i++)
        cdc_clear(&a->cdcs[i]);
    weir_free(a->cdcs);
    weir_delta_actions_init(a);
}

const char *weir_delta_metadata_config(const struct weir_delta_metadata *m, const char *key)
{
    if (!m)
        return NULL;
    for (size_t i = 0; i < m->n_configuration; i++)
        if (strcmp(m->configuration[i].key, key) == 0)
            return m->configuration[i].value;
    return NULL;
}

/* Grow *arr (elements of size `sz`) to hold one more; returns the new slot
 * zeroed, or NULL. */
void *dl_grow(void **arr, size_t *n, size_t *cap, size_t sz)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        void *p = weir_realloc(*arr, nc * sz);
        if (!p)
            return NULL;
        *arr = p;
        *cap = nc;
    }
    void *slot = (char *)*arr + (*n) * sz;
    memset(slot, 0, sz);
    (*n)++;
    return slot;
}

/* ------------------------------------------------------------- copy */

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = weir_strdup(s);
    if (!d)
        *oom = true;
    return d;
}

int dl_kv_copy(struct weir_delta_kv **out, const struct weir_delta_kv *in, size_t n)
{
    *out = NULL;
    if (n == 0)
        return 0;
    struct weir_delta_kv *kv = weir_calloc(n, sizeof(*kv));
    if (!kv)
        return WEIR_ENOMEM;
    bool oom = false;
    for (size_t i = 0; i < n; i++) {
        kv[i].key = dup_or_null(in[i].key, &oom);
        kv[i].value = dup_or_null(in[i].value, &oom);
    }
    if (oom) {
        dl_kv_free(kv, n);
        return WEIR_ENOMEM;
    }
    *out = kv;
    return 0;
}

/* dl_kv_copy into a struct's (array, count) pair; sets *oom on failure. */
static void kv_copy_into(struct weir_delta_kv **out, size_t *n_out, const struct weir_delta_kv *in, size_t n,
                         bool *oom)
{
    if (dl_kv_copy(out, in, n) == 0)
        *n_out = n;
    else
        *oom = true;
}

/* Copies n strings into a new array; *n_out counts the slots filled so a
 * half-made copy frees with strv_free. False when out of memory. */
static bool strv_copy(char ***out, size_t *n_out, char *const *in, size_t n)
{
    bool oom = false;
    *out = NULL;
    *n_out = 0;
    if (n == 0)
        return true;
    if (!(*out = weir_calloc(n, sizeof(char *))))
        return false;
    for (size_t i = 0; i < n && !oom; i++, (*n_out)++)
        (*out)[i] = dup_or_null(in[i], &oom);
    return !oom;
}

static int dv_copy(struct weir_delta_dv *d, const struct weir_delta_dv *s)
{
    bool oom = false;
    *d = *s;
    d->storage_type = dup_or_null(s->storage_type, &oom);
    d->path_or_inline_dv = dup_or_null(s->path_or_inline_dv, &oom);
    return oom ? WEIR_ENOMEM : 0;
}

int dl_add_copy(struct weir_delta_add *d, const struct weir_delta_add *s)
{
    bool oom = false;
    memset(d, 0, sizeof(*d));
    d->size = s->size;
    d->modification_time = s->modification_time;
    d->data_change = s->data_change;
    d->has_deletion_vector = s->has_deletion_vector;
    d->path = dup_or_null(s->path, &oom);
    d->stats = dup_or_null(s->stats, &oom);
    kv_copy_into(&d->partition_values, &d->n_partition_values, s->partition_values, s->n_partition_values,
                 &oom);
    kv_copy_into(&d->tags, &d->n_tags, s->tags, s->n_tags, &oom);
    if (s->has_deletion_vector && dv_copy(&d->dv, &s->dv) != 0)
        oom = true;
    if (oom) {
        weir_delta_add_clear(d);
        return WEIR_ENOMEM;
    }
    return 0;
}

int dl_remove_copy(struct weir_delta_remove *d, const struct weir_delta_remove *s)
{
    bool oom = false;
    *d = *s;
    d->path = dup_or_null(s->path, &oom);
    d->stats = dup_or_null(s->stats, &oom);
    d->partition_values = NULL;
    d->n_partition_values = 0;
    memset(&d->dv, 0, sizeof(d->dv));
    kv_copy_into(&d->partition_values, &d->n_partition_values, s->partition_values, s->n_partition_values,
                 &oom);
    if (s->has_deletion_vector && dv_copy(&d->dv, &s->dv) != 0)
        oom = true;
    if (oom) {
        weir_delta_remove_clear(d);
        return WEIR_ENOMEM;
    }
    return 0;
}

int weir_delta_actions_add_add(struct weir_delta_actions *a, const struct weir_delta_add *add)
{
    struct weir_delta_add tmp;
    if (dl_add_copy(&tmp, add) != 0)
        return WEIR_ENOMEM;
    struct weir_delta_add *slot = dl_grow((void **)&a->adds, &a->n_adds, &a->cap_adds, sizeof(*slot));
    if (!slot) {
        weir_delta_add_clear(&tmp);
        return WEIR_ENOMEM;
    }
    *slot = tmp;
    return 0;
}

int weir_delta_actions_add_remove(struct weir_delta_actions *a, const struct weir_delta_remove *rm)
{
    struct weir_delta_remove tmp;
    if (dl_remove_copy(&tmp, rm) != 0)
        return WEIR_ENOMEM;
    struct weir_delta_remove *slot =
        dl_grow((void **)&a->removes, &a->n_removes, &a->cap_removes, sizeof(*slot));
    if (!slot) {
        weir_delta_remove_clear(&tmp);
        return WEIR_ENOMEM;
    }
    *slot = tmp;
    return 0;
}

int weir_delta_actions_add_txn(struct weir_delta_actions *a, const char *app_id, int64_t version,
                               int64_t last_updated)
{
    char *id = weir_strdup(app_id);
    if (!id)
        return WEIR_ENOMEM;
    struct weir_delta_txn *slot = dl_grow((void **)&a->txns, &a->n_txns, &a->cap_txns, sizeof(*slot));
    if (!slot) {
        weir_free(id);
        return WEIR_ENOMEM;
    }
    slot->app_id = id;
    slot->version = version;
    slot->last_updated = last_updated;
    slot->has_last_updated = last_updated >= 0;
    return 0;
}

struct weir_delta_protocol *dl_protocol_clone(const struct weir_delta_protocol *p)
{
    struct weir_delta_protocol *c = weir_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    *c = *p;
    c->writer_features = NULL;
    c->n_writer_features = 0;
    if (!strv_copy(&c->reader_features, &c->n_reader_features, p->reader_features, p->n_reader_features) ||
        !strv_copy(&c->writer_features, &c->n_writer_features, p->writer_features, p->n_writer_features)) {
        weir_delta_protocol_free(c);
        return NULL;
    }
    return c;
}

struct weir_delta_metadata *dl_metadata_clone(const struct weir_delta_metadata *m)
{
    struct weir_delta_metadata *c = weir_calloc(1, sizeof(*c));
    bool oom = false;
    if (!c)
        return NULL;
    c->id = dup_or_null(m->id, &oom);
    c->name = dup_or_null(m->name, &oom);
    c->description = dup_or_null(m->description, &oom);
    c->format_provider = dup_or_null(m->format_provider, &oom);
    c->schema_string = dup_or_null(m->schema_string, &oom);
    c->schema_error = dup_or_null(m->schema_error, &oom);
    c->created_time = m->created_time;
    c->has_created_time = m->has_created_time;
    if (m->schema && !(c->schema = weir_type_clone(m->schema)))
        oom = true;
    if (!strv_copy(&c->partition_columns, &c->n_partition_columns, m->partition_columns,
                   m->n_partition_columns))
        oom = true;
    kv_copy_into(&c->configuration, &c->n_configuration, m->configuration, m->n_configuration, &oom);
    if (oom) {
        weir_delta_metadata_free(c);
        return NULL;
    }
    return c;
}

/* ------------------------------------------------------------- parse */

struct pctx {
    const char *name;
    size_t line;
    struct weir_error *err;
};

#define PFAIL(pc, code, ...) pfail_((pc), (code), __VA_ARGS__)

static int pfail_(struct pctx *pc, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pfail_(struct pctx *pc, int code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (pc->line)
        return weir_error_set(pc->err, code, "%s line %zu: %s", pc->name, pc->line, msg);
    return weir_error_set(pc->err, code, "%s: %s", pc->name, msg);
}

/* obj[key], or NULL when it is absent or null: an error only if required. */
static int get_field(struct pctx *pc, const cJSON *obj, const char *action, const char *key, bool required,
                     const cJSON **v)
{
    *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (*v && !cJSON_IsNull(*v))
        return 0;
    *v = NULL;
    if (required)
        return PFAIL(pc, WEIR_ECORRUPT, "%s is missing required field '%s'", action, key);
    return 0;
}

/* Optional string: absent or null -> *out NULL. Present non-string -> error. */
static int get_str(struct pctx *pc, const cJSON *obj, const char *action, const char *key, bool required,
                   char **out)
{
    *out = NULL;
    const cJSON *v;
    int rc = get_field(pc, obj, action, key, required, &v);
    if (rc || !v)
        return rc;
    if (!cJSON_IsString(v))
        return PFAIL(pc, WEIR_ECORRUPT, "%s.%s must be a string", action, key);
    *out = weir_strdup(v->valuestring);
    if (!*out)
        return WEIR_ENOMEM;
    return 0;
}

static int get_i64(struct pctx *pc, const cJSON *obj, const char *action, const char *key, bool required,
                   int64_t *out, bool *present)
{
    if (present)
        *present = false;
    const cJSON *v;
    int rc = get_field(pc, obj, action, key, required, &v);
    if (rc || !v)
        return rc;
    if (!cJSON_IsNumber(v))
        return PFAIL(pc, WEIR_ECORRUPT, "%s.%s must be a number", action, key);
    double d = v->valuedouble;
    if (!(d >= -9.2e18 && d <= 9.2e18))
        return PFAIL(pc, WEIR_ECORRUPT, "%s.%s is out of range", action, key);
    *out = (int64_t)d;
    if (present)
        *present = true;
    return 0;
}

static int get_bool(struct pctx *pc, const cJSON *obj, const char *action, const char *key, bool required,
                    bool *out)
{
    const cJSON *v;
    int rc = get_field(pc, obj, action, key, required, &v);
    if (rc || !v)
        return rc;
    if (!cJSON_IsBool(v))
        return PFAIL(pc, WEIR_ECORRUPT, "%s.%s must be a boolean", action, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A JSON object of string (or null) values. */
static int get_map(struct pctx *pc, const cJSON *obj, const char *action, const char *key, bool required,
                   struct weir_delta_kv **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const cJSON *v;
    int rc = get_field(pc, obj, action, key, required, &v);
    if (rc || !v)
        return rc;
    if (!cJSON_IsObject(v))
        return PFAIL(pc, WEIR_ECORRUPT, "%s.%s must be an object", action, key);
    size_t cnt = (size_t)cJSON_GetArraySize(v);
    if (cnt == 0)
        return 0;
    struct weir_delta_kv *kv = weir_calloc(cnt, sizeof(*kv));
    if (!kv)
        return WEIR_ENOMEM;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!e->string) {
            rc = PFAIL(pc, WEIR_ECORRUPT, "%s.%s has an entry without a key", action, key);
            break;
        }
        kv[i].key = weir_strdup(e->string);
        if (!kv[i].key) {
            rc = WEIR_ENOMEM;
            i++;
            break;
        }
        if (cJSON_IsString(e)) {
            if (!(kv[i].value = weir_strdup(e->valuestring))) {
                rc = WEIR_ENOMEM;
                i++;
                break;
            }
        } else if (cJSON_IsNumber(e) || cJSON_IsBool(e)) {
            /* tolerate non-string scalars (some writers emit them) */
            char *t = cJSON_PrintUnformatted(e);
            if (!t) {
                rc = WEIR_ENOMEM;
                i++;
                break;
            }
            kv[i].value = weir_strdup(t);
            cJSON_free(t);
            if (!kv[i].value) {
                rc = WEIR_ENOMEM;
                i++;
                break;
            }
        } else if (!cJSON_IsNull(e)) {
            rc = PFAIL(pc, WEIR_ECORRUPT, "%s.%s['%s'] must be a string or null", action, key, e->string);
            i++;
            break;
        }
        i++;
    }
    if (rc) {
        dl_kv_free(kv, cnt);
        return rc;
    }
    *out = kv;
    *n = i;
    return 0;
}

static int get_strv(struct pctx *pc, const cJSON *obj, const char *action, const char *key, bool required,
                    char ***out, size_t *n, bool *present)
{
    *out = NULL;
    *n = 0;
    if (present)
        *present = false;
    const cJSON *v;
    int rc = get_field(pc, obj, action, key, required, &v);
    if (rc || !v)
        return rc;
    if (!cJSON_IsArray(v))
        return PFAIL(pc, WEIR_ECORRUPT, "%s.%s must be an array", action, key);
    if (present)
        *present = true;
    size_t cnt = (size_t)cJSON_GetArraySize(v);
    if (cnt == 0)
        return 0;
    char **s = weir_calloc(cnt, sizeof(char *));
    if (!s)
        return WEIR_ENOMEM;
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e)) {
            strv_free(s, cnt);
            return PFAIL(pc, WEIR_ECORRUPT, "%s.%s[%zu] must be a string", action, key, i);
        }
        if (!(s[i] = weir_strdup(e->valuestring))) {
            strv_free(s, cnt);
            return WEIR_ENOMEM;
        }
        i++;
    }
    *out = s;
    *n = i;
    return 0;
}

static int parse_dv(struct pctx *pc, const cJSON *o, const char *action, struct weir_delta_dv *dv, bool *has)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "deletionVector");
    *has = false;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsObject(v))
        return PFAIL(pc, WEIR_ECORRUPT, "%s.deletionVector must be an object", action);
    int rc;
    int64_t x = 0;
    bool present = false;
    if ((rc = get_str(pc, v, "deletionVector", "storageType", true, &dv->storage_type)) ||
        (rc = get_str(pc, v, "deletionVector", "pathOrInlineDv", true, &dv->path_or_inline_dv)))
        return rc;
    if ((rc = get_i64(pc, v, "deletionVector", "offset", false, &x, &present)))
        return rc;
    dv->offset = (int32_t)x;
    dv->has_offset = present;
    if ((rc = get_i64(pc, v, "deletionVector", "sizeInBytes", true, &x, NULL)))
        return rc;
    dv->size_in_bytes = (int32_t)x;
    if ((rc = get_i64(pc, v, "deletionVector", "cardinality", true, &dv->cardinality, NULL)))
        return rc;
    *has = true;
    return 0;
}

static int parse_protocol(struct pctx *pc, const cJSON *o, struct weir_delta_protocol **out)
{
    struct weir_delta_protocol *p = weir_calloc(1, sizeof(*p));
    int64_t r = 0, w = 0;
    int rc;
    if (!p)
        return WEIR_ENOMEM;
    if ((rc = get_i64(pc, o, "protocol", "minReaderVersion", true, &r, NULL)) ||
        (rc = get_i64(pc, o, "protocol", "minWriterVersion", true, &w, NULL)))
        goto done;
    if (r < 1 || r > 1000 || w < 1 || w > 1000) {
        rc = PFAIL(pc, WEIR_ECORRUPT, "protocol versions out of range (reader %lld, writer %lld)",
                   (long long)r, (long long)w);
        goto done;
    }
    p->min_reader_version = (int32_t)r;
    p->min_writer_version = (int32_t)w;
    if ((rc = get_strv(pc, o, "protocol", "readerFeatures", false, &p->reader_features, &p->n_reader_features,
                       &p->has_reader_features)) ||
        (rc = get_strv(pc, o, "protocol", "writerFeatures", false, &p->writer_features, &p->n_writer_features,
                       &p->has_writer_features)))
        goto done;
done:
    if (rc) {
        weir_delta_protocol_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* Parse m->schema_string into m->schema. A type weir does not know is not
 * an error here: the message goes to m->schema_error, the schema becomes an
 * empty struct, and the feature checks refuse the table later (so the
 * refusal can name the table feature rather than the type). */
int dl_schema_parse(struct weir_delta_metadata *m, struct weir_error *err)
{
    struct weir_error serr = {0};
    int rc = weir_schema_from_json(m->schema_string, &m->schema, &serr);
    if (rc == WEIR_EUNSUPPORTED) {
        if (!(m->schema_error = weir_strdup(serr.message)) || !(m->schema = weir_type_struct()))
            return WEIR_ENOMEM;
        return 0;
    }
    if (rc)
        weir_error_set(err, rc, "%s", serr.message);
    return rc;
}

static int parse_metadata(struct pctx *pc, const cJSON *o, struct weir_delta_metadata **out)
{
    struct weir_delta_metadata *m = weir_calloc(1, sizeof(*m));
    int rc;
    if (!m)
        return WEIR_ENOMEM;
    if ((rc = get_str(pc, o, "metaData", "id", true, &m->id)) ||
        (rc = get_str(pc, o, "metaData", "name", false, &m->name)) ||
        (rc = get_str(pc, o, "metaData", "description", false, &m->description)) ||
        (rc = get_str(pc, o, "metaData", "schemaString", false, &m->schema_string)) ||
        (rc = get_strv(pc, o, "metaData", "partitionColumns", true, &m->partition_columns,
                       &m->n_partition_columns, NULL)) ||
        (rc = get_map(pc, o, "metaData", "configuration", false, &m->configuration, &m->n_configuration)) ||
        (rc = get_i64(pc, o, "metaData", "createdTime", false, &m->created_time, &m->has_created_time)))
        goto done;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    if (fmt && cJSON_IsObject(fmt)) {
        if ((rc = get_str(pc, fmt, "metaData.format", "provider", false, &m->format_provider)))
            goto done;
    } else if (fmt && !cJSON_IsNull(fmt)) {
        rc = PFAIL(pc, WEIR_ECORRUPT, "metaData.format must be an object");
        goto done;
    }
    if (!m->format_provider && !(m->format_provider = weir_strdup("parquet"))) {
        rc = WEIR_ENOMEM;
        goto done;
    }
    /* Databricks DLT writes a first metaData without schemaString (delta-rs
     * testdata delta-live-table); read it as an empty schema like delta-rs. */
    if (!m->schema_string && !(m->schema_string = weir_strdup("{\"type\":\"struct\",\"fields\":[]}"))) {
        rc = WEIR_ENOMEM;
        goto done;
    }
    struct weir_error serr = {0};
    rc = dl_schema_parse(m, &serr);
    if (rc) {
        rc = PFAIL(pc,
                   rc == WEIR_ENOMEM ? WEIR_ENOMEM
                                     : (rc == WEIR_EUNSUPPORTED ? WEIR_EUNSUPPORTED : WEIR_ECORRUPT),
                   "metaData.schemaString: %s", serr.message);
        goto done;
    }
    if (!m->schema || m->schema->kind != WEIR_TYPE_STRUCT) {
        rc = PFAIL(pc, WEIR_ECORRUPT, "metaData.schemaString is not a struct type");
        goto done;
    }
    for (size_t i = 0; i < m->n_partition_columns; i++)
        if (weir_type_field_index(m->schema, m->partition_columns[i]) < 0) {
            rc = PFAIL(pc, WEIR_ECORRUPT, "partition column '%s' is not in the schema",
                       m->partition_columns[i]);
            goto done;
        }
done:
    if (rc) {
        weir_delta_metadata_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static int parse_add(struct pctx *pc, const cJSON *o, struct weir_delta_add *a)
{
    int rc;
    if ((rc = get_str(pc, o, "add", "path", true, &a->path)) ||
        (rc = get_map(pc, o, "add", "partitionValues", true, &a->partition_values, &a->n_partition_values)) ||
        (rc = get_i64(pc, o, "add", "size", true, &a->size, NULL)) ||
        (rc = get_i64(pc, o, "add", "modificationTime", true, &a->modification_time, NULL)) ||
        (rc = get_bool(pc, o, "add", "dataChange", true, &a->data_change)) ||
        (rc = get_str(pc, o, "add", "stats", false, &a->stats)) ||
        (rc = get_map(pc, o, "add", "tags", false, &a->tags, &a->n_tags)) ||
        (rc = parse_dv(pc, o, "add", &a->dv, &a->has_deletion_vector)))
        return rc;
    if (a->path[0] == 0)
        return PFAIL(pc, WEIR_ECORRUPT, "add.path is empty");
    if (a->size < 0)
        return PFAIL(pc, WEIR_ECORRUPT, "add.size is negative for '%s'", a->path);
    return 0;
}

static int parse_remove(struct pctx *pc, const cJSON *o, struct weir_delta_remove *r)
{
    int rc;
    if ((rc = get_str(pc, o, "remove", "path", true, &r->path)) ||
        (rc = get_i64(pc, o, "remove", "deletionTimestamp", false, &r->deletion_timestamp,
                      &r->has_deletion_timestamp)) ||
        (rc = get_bool(pc, o, "remove", "dataChange", true, &r->data_change)) ||
        (rc = get_bool(pc, o, "remove", "extendedFileMetadata", false, &r->extended_file_metadata)) ||
        (rc = get_map(pc, o, "remove", "partitionValues", false, &r->partition_values,
                      &r->n_partition_values)) ||
        (rc = get_i64(pc, o, "remove", "size", false, &r->size, &r->has_size)) ||
        (rc = get_str(pc, o, "remove", "stats", false, &r->stats)) ||
        (rc = parse_dv(pc, o, "remove", &r->dv, &r->has_deletion_vector)))
        return rc;
    return 0;
}

static int parse_line(struct pctx *pc, const cJSON *root, struct weir_delta_actions *out)
{
    const cJSON *act = root->child;
    int rc = 0;
    if (!act)
        return 0;
    if (act->next)
        return PFAIL(pc, WEIR_ECORRUPT, "a line must hold exactly one action, found '%s' and '%s'",
                     act->string, act->next->string);
    const char *k = act->string;
    bool is_obj = cJSON_IsObject(act);
    if (!is_obj && (strcmp(k, "add") == 0 || strcmp(k, "remove") == 0 || strcmp(k, "metaData") == 0 ||
                    strcmp(k, "protocol") == 0 || strcmp(k, "txn") == 0 || strcmp(k, "commitInfo") == 0 ||
                    strcmp(k, "cdc") == 0 || strcmp(k, "domainMetadata") == 0))
        return PFAIL(pc, WEIR_ECORRUPT, "action '%s' must be a JSON object", k);
    if (strcmp(k, "add") == 0) {
        struct weir_delta_add *a = dl_grow((void **)&out->adds, &out->n_adds, &out->cap_adds, sizeof(*a));
        if (!a)
            return WEIR_ENOMEM;
        rc = parse_add(pc, act, a);
        if (rc) {
            weir_delta_add_clear(a);
            out->n_adds--;
        }
    } else if (strcmp(k, "remove") == 0) {
        struct weir_delta_remove *r =
            dl_grow((void **)&out->removes, &out->n_removes, &out->cap_removes, sizeof(*r));
        if (!r)
            return WEIR_ENOMEM;
        rc = parse_remove(pc, act, r);
        if (rc) {
            weir_delta_remove_clear(r);
            out->n_removes--;
        }
    } else if (strcmp(k, "metaData") == 0) {
        if (out->metadata)
            return PFAIL(pc, WEIR_ECORRUPT, "more than one metaData action in one commit");
        rc = parse_metadata(pc, act, &out->metadata);
    } else if (strcmp(k, "protocol") == 0) {
        if (out->protocol)
            return PFAIL(pc, WEIR_ECORRUPT, "more than one protocol action in one commit");
        rc = parse_protocol(pc, act, &out->protocol);
    } else if (strcmp(k, "txn") == 0) {
        struct weir_delta_txn *t = dl_grow((void **)&out->txns, &out->n_txns, &out->cap_txns, sizeof(*t));
        if (!t)
            return WEIR_ENOMEM;
        if ((rc = get_str(pc, act, "txn", "appId", true, &t->app_id)) ||
            (rc = get_i64(pc, act, "txn", "version", true, &t->version, NULL)) ||
            (rc = get_i64(pc, act, "txn", "lastUpdated", false, &t->last_updated, &t->has_last_updated))) {
            dl_txn_clear(t);
            out->n_txns--;
        }
    } else if (strcmp(k, "domainMetadata") == 0) {
        struct weir_delta_domain *d =
            dl_grow((void **)&out->domains, &out->n_domains, &out->cap_domains, sizeof(*d));
        if (!d)
            return WEIR_ENOMEM;
        if ((rc = get_str(pc, act, "domainMetadata", "domain", true, &d->domain)) ||
            (rc = get_str(pc, act, "domainMetadata", "configuration", true, &d->configuration)) ||
            (rc = get_bool(pc, act, "domainMetadata", "removed", true, &d->removed))) {
            dl_domain_clear(d);
            out->n_domains--;
        }
    } else if (strcmp(k, "cdc") == 0) {
        struct weir_delta_cdc *c = dl_grow((void **)&out->cdcs, &out->n_cdcs, &out->cap_cdcs, sizeof(*c));
        if (!c)
            return WEIR_ENOMEM;
        if ((rc = get_str(pc, act, "cdc", "path", true, &c->path)) ||
            (rc = get_map(pc, act, "cdc", "partitionValues", false, &c->partition_values,
                          &c->n_partition_values)) ||
            (rc = get_i64(pc, act, "cdc", "size", true, &c->size, NULL)) ||
            (rc = get_bool(pc, act, "cdc", "dataChange", false, &c->data_change))) {
            cdc_clear(c);
            out->n_cdcs--;
        }
    } else if (strcmp(k, "commitInfo") == 0) {
        if (out->commit_info)
            return PFAIL(pc, WEIR_ECORRUPT, "more than one commitInfo action in one commit");
        char *t = cJSON_PrintUnformatted(act);
        if (!t)
            return WEIR_ENOMEM;
        out->commit_info = weir_strdup(t);
        cJSON_free(t);
        if (!out->commit_info)
            return WEIR_ENOMEM;
        bool blind = false;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(act, "isBlindAppend");
        if (cJSON_IsBool(b))
            blind = cJSON_IsTrue(b);
        out->is_blind_append = blind;
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(act, "timestamp");
        if (cJSON_IsNumber(ts) && ts->valuedouble >= 0 && ts->valuedouble < 9.2e18)
            out->commit_timestamp = (int64_t)ts->valuedouble;
    }
    /* anything else: unknown action, ignored */
    return rc;
}

int weir_delta_actions_parse(const char *data, size_t len, const char *name, struct weir_delta_actions *out,
                             struct weir_error *err)
{
    struct pctx pc = {.name = name ? name : "<commit>", .line = 0, .err = err};
    size_t pos = 0;
    int rc = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        size_t llen = end - pos;
        pc.line++;
        const char *line = data + pos;
        /* trim CR and blank lines */
        while (llen > 0 && (line[llen - 1] == '\r' || line[llen - 1] == ' ' || line[llen - 1] == '\t'))
            llen--;
        size_t lead = 0;
        while (lead < llen && (line[lead] == ' ' || line[lead] == '\t'))
            lead++;
        if (llen > lead) {
            if (memchr(line + lead, 0, llen - lead)) {
                rc = PFAIL(&pc, WEIR_ECORRUPT, "NUL byte in a log line");
                goto done;
            }
            const char *ep = NULL;
            unsigned long failed_allocs = weir_alloc_failures();
            cJSON *root = cJSON_ParseWithLengthOpts(line + lead, llen - lead, &ep, false);
            if (!root && weir_alloc_failures() != failed_allocs) {
                rc = PFAIL(&pc, WEIR_ENOMEM, "out of memory parsing the line");
                goto done;
            }
            if (!root) {
                size_t off = ep && ep >= line + lead ? (size_t)(ep - (line + lead)) : 0;
                rc = PFAIL(&pc, WEIR_ECORRUPT, "malformed JSON at column %zu%s", off + lead + 1,
                           nl ? "" : " (truncated last line?)");
                goto done;
            }
            if (ep && (size_t)(ep - (line + lead)) < llen - lead) {
                cJSON_Delete(root);
                rc = PFAIL(&pc, WEIR_ECORRUPT, "trailing bytes after the JSON object");
                goto done;
            }
            if (!cJSON_IsObject(root)) {
                cJSON_Delete(root);
                rc = PFAIL(&pc, WEIR_ECORRUPT, "a log line must be a JSON object");
                goto done;
            }
            rc = parse_line(&pc, root, out);
            cJSON_Delete(root);
            if (rc) {
                if (rc == WEIR_ENOMEM)
                    weir_error_set(err, WEIR_ENOMEM, "%s line %zu: out of memory", pc.name, pc.line);
                goto done;
            }
        }
        pos = nl ? end + 1 : len;
    }
done:
    return rc;
}

/* ------------------------------------------------------------- serialize */

static cJSON *kv_to_json(const struct weir_delta_kv *kv, size_t n)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        cJSON *v = kv[i].value ? cJSON_CreateString(kv[i].value) : cJSON_CreateNull();
        if (!v || !cJSON_AddItemToObject(o, kv[i].key, v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

static cJSON *strv_to_json(char *const *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    if (!a)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateString(v[i]);
        if (!s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

/* Adds an int64 number. cJSON stores doubles: exact up to 2^53, enough for
 * versions, sizes and ms timestamps. */
static bool add_i64(cJSON *o, const char *k, int64_t v)
{
    return cJSON_AddNumberToObject(o, k, (double)v) != NULL;
}

static bool add_dv(cJSON *o, const struct weir_delta_dv *dv)
{
    cJSON *d = cJSON_AddObjectToObject(o, "deletionVector");
    if (!d)
        return false;
    bool ok =
        cJSON_AddStringToObject(d, "storageType", dv->storage_type ? dv->storage_type : "u") &&
        cJSON_AddStringToObject(d, "pathOrInlineDv", dv->path_or_inline_dv ? dv->path_or_inline_dv : "");
    if (ok && dv->has_offset)
        ok = add_i64(d, "offset", dv->offset);
    return ok && add_i64(d, "sizeInBytes", dv->size_in_bytes) && add_i64(d, "cardinality", dv->cardinality);
}

cJSON *dl_protocol_to_json(const struct weir_delta_protocol *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = add_i64(o, "minReaderVersion", p->min_reader_version) &&
              add_i64(o, "minWriterVersion", p->min_writer_version);
    if (ok && (p->has_reader_features || p->n_reader_features)) {
        cJSON *a = strv_to_json(p->reader_features, p->n_reader_features);
        ok = a && cJSON_AddItemToObject(o, "readerFeatures", a);
    }
    if (ok && (p->has_writer_features || p->n_writer_features)) {
        cJSON *a = strv_to_json(p->writer_features, p->n_writer_features);
        ok = a && cJSON_AddItemToObject(o, "writerFeatures", a);
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *dl_metadata_to_json(const struct weir_delta_metadata *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = cJSON_AddStringToObject(o, "id", m->id) != NULL;
    if (ok && m->name)
        ok = cJSON_AddStringToObject(o, "name", m->name) != NULL;
    if (ok && m->description)
        ok = cJSON_AddStringToObject(o, "description", m->description) != NULL;
    if (ok) {
        cJSON *f = cJSON_AddObjectToObject(o, "format");
        ok = f &&
             cJSON_AddStringToObject(f, "provider", m->format_provider ? m->format_provider : "parquet") &&
             cJSON_AddObjectToObject(f, "options");
    }
    if (ok)
        ok = cJSON_AddStringToObject(o, "schemaString", m->schema_string) != NULL;
    if (ok) {
        cJSON *a = strv_to_json(m->partition_columns, m->n_partition_columns);
        ok = a && cJSON_AddItemToObject(o, "partitionColumns", a);
    }
    if (ok) {
        cJSON *c = kv_to_json(m->configuration, m->n_configuration);
        ok = c && cJSON_AddItemToObject(o, "configuration", c);
    }
    if (ok && m->has_created_time)
        ok = add_i64(o, "createdTime", m->created_time);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *dl_add_to_json(const struct weir_delta_add *a)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON *pv = kv_to_json(a->partition_values, a->n_partition_values);
    bool ok =
        cJSON_AddStringToObject(o, "path", a->path) && pv && cJSON_AddItemToObject(o, "partitionValues", pv);
    if (!ok && pv && !cJSON_GetObjectItemCaseSensitive(o, "partitionValues"))
        cJSON_Delete(pv);
    ok = ok && add_i64(o, "size", a->size) && add_i64(o, "modificationTime", a->modification_time) &&
         cJSON_AddBoolToObject(o, "dataChange", a->data_change);
    if (ok && a->stats)
        ok = cJSON_AddStringToObject(o, "stats", a->stats) != NULL;
    if (ok && a->n_tags) {
        cJSON *t = kv_to_json(a->tags, a->n_tags);
        ok = t && cJSON_AddItemToObject(o, "tags", t);
    }
    if (ok && a->has_deletion_vector)
        ok = add_dv(o, &a->dv);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *dl_remove_to_json(const struct weir_delta_remove *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    bool ok = cJSON_AddStringToObject(o, "path", r->path) != NULL;
    if (ok && r->has_deletion_timestamp)
        ok = add_i64(o, "deletionTimestamp", r->deletion_timestamp);
    ok = ok && cJSON_AddBoolToObject(o, "dataChange", r->data_change);
    if (ok && r->extended_file_metadata) {
        ok = cJSON_AddBoolToObject(o, "extendedFileMetadata", true) != NULL;
        cJSON *pv = ok ? kv_to_json(r->partition_values, r->n_partition_values) : NULL;
        ok = pv && cJSON_AddItemToObject(o, "partitionValues", pv);
    }
    if (ok && r->has_size)
        ok = add_i64(o, "size", r->size);
    if (ok && r->stats)
        ok = cJSON_AddStringToObject(o, "stats", r->stats) != NULL;
    if (ok && r->has_deletion_vector)
        ok = add_dv(o, &r->dv);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Append {"<key>": obj} + '\n' to out; consumes obj. */
static int emit(struct weir_buf *out, const char *key, cJSON *obj)
{
    if (!obj)
        return WEIR_ENOMEM;
    cJSON *w = cJSON_CreateObject();
    if (!w || !cJSON_AddItemToObject(w, key, obj)) {
        cJSON_Delete(w);
        cJSON_Delete(obj);
        return WEIR_ENOMEM;
    }
    char *t = cJSON_PrintUnformatted(w);
    cJSON_Delete(w);
    if (!t)
        return WEIR_ENOMEM;
    int rc = weir_buf_append_str(out, t);
    if (rc == 0)
        rc = weir_buf_append_byte(out, '\n');
    cJSON_free(t);
    return rc;
}

int weir_delta_actions_serialize(const struct weir_delta_actions *a, struct weir_buf *out,
                                 struct weir_error *err)
{
    int rc = 0;
    if (a->commit_info) {
        cJSON *ci = cJSON_Parse(a->commit_info);
        if (!ci || !cJSON_IsObject(ci)) {
            cJSON_Delete(ci);
            return weir_error_set(err, WEIR_EINVAL, "commitInfo is not a JSON object");
        }
        if ((rc = emit(out, "commitInfo", ci)))
            goto done;
    }
    if (a->protocol && (rc = emit(out, "protocol", dl_protocol_to_json(a->protocol))))
        goto done;
    if (a->metadata && (rc = emit(out, "metaData", dl_metadata_to_json(a->metadata))))
        goto done;
    for (size_t i = 0; i < a->n_txns; i++) {
        cJSON *o = cJSON_CreateObject();
        if (o && (!cJSON_AddStringToObject(o, "appId", a->txns[i].app_id) ||
                  !add_i64(o, "version", a->txns[i].version) ||
                  (a->txns[i].has_last_updated && !add_i64(o, "lastUpdated", a->txns[i].last_updated)))) {
            cJSON_Delete(o);
            o = NULL;
        }
        if ((rc = emit(out, "txn", o)))
            goto done;
    }
    for (size_t i = 0; i < a->n_domains; i++) {
        cJSON *o = cJSON_CreateObject();
        if (o && (!cJSON_AddStringToObject(o, "domain", a->domains[i].domain) ||
                  !cJSON_AddStringToObject(o, "configuration",
                                           a->domains[i].configuration ? a->domains[i].configuration : "") ||
                  !cJSON_AddBoolToObject(o, "removed", a->domains[i].removed))) {
            cJSON_Delete(o);
            o = NULL;
        }
        if ((rc = emit(out, "domainMetadata", o)))
            goto done;
    }
    for (size_t i = 0; i < a->n_removes; i++)
        if ((rc = emit(out, "remove", dl_remove_to_json(&a->removes[i]))))
            goto done;
    for (size_t i = 0; i < a->n_adds; i++)
        if ((rc = emit(out, "add", dl_add_to_json(&a->adds[i]))))
            goto done;
    for (size_t i = 0; i < a->n_cdcs; i++) {
        const struct weir_delta_cdc *c = &a->cdcs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON *pv = o ? kv_to_json(c->partition_values, c->n_partition_values) : NULL;
        if (o && (!cJSON_AddStringToObject(o, "path", c->path) || !pv ||
                  !cJSON_AddItemToObject(o, "partitionValues", pv) || !add_i64(o, "size", c->size) ||
                  !cJSON_AddBoolToObject(o, "dataChange", false))) {
            cJSON_Delete(o);
            o = NULL;
        }
        if ((rc = emit(out, "cdc", o)))
            goto done;
    }
done:
    if (rc == WEIR_ENOMEM)
        weir_error_set(err, WEIR_ENOMEM, "out of memory serializing a commit");
    return rc;
}

int dl_actions_remove_file(struct weir_delta_actions *acts, const struct weir_delta_add *a, int64_t now,
                           bool data_change)
{
    struct weir_delta_remove r = {
        .path = a->path,
        .deletion_timestamp = now,
        .has_deletion_timestamp = true,
        .data_change = data_change,
        .extended_file_metadata = true,
        .partition_values = a->partition_values,
        .n_partition_values = a->n_partition_values,
        .size = a->size,
        .has_size = true,
        .stats = a->stats,
        .has_deletion_vector = a->has_deletion_vector,
        .dv = a->dv,
    };
    return weir_delta_actions_add_remove(acts, &r);
}
