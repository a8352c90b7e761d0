/* tests/fuzz/fuzz_kafka_offsets.c - fuzz target: arbitrary bytes as Kafka
 * offsets JSON (what the Kafka source reads back from a checkpoint's
 * offsets/N and sources/0/0 files), through
 * weir_source_kafka_offsets_normalize. Text that parses must come back in a
 * canonical form that normalizes to itself; a failure must carry a
 * message. Nothing may crash, leak or read outside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "sources/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = weir_malloc(size + 1);
    char *out = NULL, *again = NULL;
    struct weir_error err = {0};
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    int rc = weir_source_kafka_offsets_normalize(text, &out, &err);
    if (rc != 0) {
        if (err.message[0] == '\0' || out != NULL)
            abort();
    } else {
        struct weir_error e2 = {0};
        if (weir_source_kafka_offsets_normalize(out, &again, &e2) != 0 || strcmp(out, again) != 0)
            abort();
    }
    weir_free(again);
    weir_free(out);
    weir_free(text);
    return 0;
}
