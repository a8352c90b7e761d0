/* stream/engine.h - the service: every pipeline of a config, until told to
 * stop.
 *
 * Each pipeline runs its micro-batch loop (stream/query.h) on its own
 * thread, so a slow or failed pipeline never holds up the others. The main
 * thread runs a libuv loop that owns the process-level concerns: SIGTERM
 * and SIGINT (the first asks every pipeline to finish its batch in flight
 * and stop; a second one abandons the batches in flight, which then rerun
 * at the next start; after shutdown_timeout they are abandoned), SIGHUP
 * (reload the config: added pipelines start, removed ones stop, changed
 * ones restart, an invalid file is refused and the old config stays), the
 * HTTP endpoints, and noticing when pipelines end. A pipeline that fails
 * is logged and, in service mode, starts again after a backoff; the others
 * keep running. */
#ifndef WEIR_STREAM_ENGINE_H
#define WEIR_STREAM_ENGINE_H

#include <stddef.h>

#include "core/error.h"

struct weir_config;

/* Run every pipeline of cfg (owned: freed before returning); text is the
 * JSON it was parsed from, path the file to read again at SIGHUP (NULL:
 * no reload). trigger_override: -1 or an enum weir_trigger_kind applied to
 * every pipeline (--once, --available-now). Returns 0 when every pipeline
 * ended cleanly (trigger done or stopped by a signal), 1 when at least one
 * failed (each failure is logged). */
int weir_engine_run(struct weir_config *cfg, const char *text, size_t text_len, const char *path,
                    int trigger_override);

#endif
