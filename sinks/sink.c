/* sinks/sink.c - the sink registry: config kind -> constructor. */
#include "sinks/sink.h"

#include "stream/config.h"

int weir_sink_create(const struct weir_config_pipeline *p, struct weir_sink **out, struct weir_error *err)
{
    *out = NULL;
    switch (p->sink) {
    case WEIR_SINK_DELTA: {
        int rc = weir_sink_delta_create(&p->delta, p->name, out, err);
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

void weir_sink_destroy(struct weir_sink *s)
{
    if (s)
        s->ops->destroy(s);
}
