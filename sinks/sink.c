/* sinks/sink.c - the sink registry: config kind -> constructor. */
#include "sinks/sink.h"

#include "stream/config.h"

int weir_sink_create(const struct weir_config_pipeline *p, struct weir_sink **out, struct weir_error *err)
{
    *out = NULL;
    switch (p->sink) {
    case WEIR_SINK_DELTA: {
        int rc = weir_sink_is_cdc(p) ? weir_sink_cdc_create(p, out, err)
                                     : weir_sink_delta_create(&p->delta, p->name, out, err);
        if (rc)
            weir_error_prefix(err, "pipeline '%s': sink", p->name);
        return rc;
    }
    case WEIR_SINK_CONSOLE:
        return weir_sink_console_create(p->name, out, err);
    default:
        return weir_error_set(err, WEIR_EUNSUPPORTED, "pipeline '%s': sink kind not supported yet", p->name);
    }
}

bool weir_sink_is_cdc(const struct weir_config_pipeline *p)
{
    const struct weir_config_delta *d = &p->delta;
    if (p->sink != WEIR_SINK_DELTA)
        return false;
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].kind == WEIR_STEP_DECODE && p->steps[i].decode.format == WEIR_DECODE_DEBEZIUM)
            return true;
    return d->nsequence_by > 0 || d->apply_as_deletes || d->apply_as_truncates || d->nexcept_columns > 0 ||
           d->scd_type == 2 || d->delete_mode != 0;
}

size_t weir_sink_cdc_nseq(const struct weir_config_pipeline *p)
{
    if (p->delta.nsequence_by > 0)
        return p->delta.nsequence_by;
    return weir_sink_is_cdc(p) && p->nsteps == 1 && p->steps[0].decode.format == WEIR_DECODE_DEBEZIUM ? 1 : 0;
}

bool weir_sink_needs_state(const struct weir_config_pipeline *p)
{
    return weir_sink_is_cdc(p);
}

void weir_sink_destroy(struct weir_sink *s)
{
    if (s)
        s->ops->destroy(s);
}
