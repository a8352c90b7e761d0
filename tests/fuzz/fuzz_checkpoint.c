/* tests/fuzz/fuzz_checkpoint.c - fuzz target: arbitrary bytes as a classic
 * Delta checkpoint Parquet file, read with weir_delta_checkpoint_read
 * through an in-memory input. Nothing may crash, leak or read outside the
 * input; a failure must carry a message. Single-threaded; no state kept. */
#include <stdint.h>
#include <stdlib.h>

#include "delta/delta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weir_delta_actions a;
    struct weir_error err = {0};
    struct weir_input in = weir_input_mem(data, size, "_delta_log/00000000000000000010.checkpoint.parquet");
    weir_delta_actions_init(&a);
    int rc = weir_delta_checkpoint_read(&in, &a, &err);
    if (rc != 0 && rc != WEIR_ENOMEM && err.message[0] == 0)
        abort();
    weir_delta_actions_free(&a);
    return 0;
}
