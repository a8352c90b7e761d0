/* tests/fuzz/fuzz_config.c - fuzz target: arbitrary bytes as a weir config
 * file (stream/config.h). A parse either succeeds with a config that can be
 * destroyed, or fails with at least one error, each carrying a message and
 * never an empty list. Nothing may crash, leak or read outside the input.
 * Single-threaded; no state kept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "stream/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weir_error_list el;
    weir_error_list_init(&el);
    struct weir_config *cfg = NULL;
    int rc = weir_config_parse((const char *)data, size, "fuzz.json", &cfg, &el);
    if (rc == 0) {
        if (cfg == NULL || el.n != 0 || cfg->npipelines == 0)
            abort();
        for (size_t i = 0; i < cfg->npipelines; i++)
            if (cfg->pipelines[i].name == NULL || cfg->pipelines[i].checkpoint == NULL ||
                cfg->pipelines[i].source == WEIR_SOURCE_NONE || cfg->pipelines[i].sink == WEIR_SINK_NONE)
                abort(); /* required keys must be there on success */
    } else {
        if (cfg != NULL || (el.n == 0 && !el.oom))
            abort();
        for (size_t i = 0; i < el.n; i++)
            if (el.items[i].message == NULL || el.items[i].message[0] == '\0')
                abort();
    }
    weir_config_destroy(cfg);
    weir_error_list_free(&el);
    return 0;
}
