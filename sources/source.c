/* sources/source.c - the source registry: config kind -> constructor. */
#include "sources/source.h"

#include "core/alloc.h"
#include "stream/config.h"

void weir_source_plan_clear(struct weir_source_plan *p)
{
    weir_free(p->end);
    weir_free(p->latest);
    p->end = p->latest = NULL;
    p->has_data = false;
    p->num_offsets = 0;
}

int weir_source_create(const struct weir_config_pipeline *p, const struct weir_source_env *env,
                       struct weir_source **out, struct weir_error *err)
{
    *out = NULL;
    switch (p->source) {
    case WEIR_SOURCE_KAFKA:
        return weir_source_kafka_create(p, out, err);
    case WEIR_SOURCE_DATAGEN:
        return weir_source_datagen_create(p, out, err);
    case WEIR_SOURCE_FILES:
        return weir_source_files_create(p, env, out, err);
    default:
        return weir_error_set(err, WEIR_ECONFIG, "pipelines '%s': no source configured", p->name);
    }
}

int weir_source_schema(const struct weir_config_pipeline *p, struct weir_type **out, struct weir_error *err)
{
    *out = NULL;
    switch (p->source) {
    case WEIR_SOURCE_KAFKA:
        if (!(*out = weir_source_kafka_schema(p->kafka.include_headers)))
            return weir_error_set(err, WEIR_ENOMEM, "out of memory");
        return 0;
    case WEIR_SOURCE_DATAGEN:
        return weir_schema_parse(p->datagen.schema, out, err);
    case WEIR_SOURCE_FILES:
        return weir_source_files_schema(p, NULL, out, err);
    default:
        return weir_error_set(err, WEIR_ECONFIG, "pipelines '%s': no source configured", p->name);
    }
}

void weir_source_destroy(struct weir_source *s)
{
    if (s)
        s->ops->destroy(s);
}
