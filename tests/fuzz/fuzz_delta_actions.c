/* tests/fuzz/fuzz_delta_actions.c - fuzz target: arbitrary bytes as one
 * Delta commit file (_delta_log/<v>.json). Parses with
 * weir_delta_actions_parse; on success serializes the actions, parses that
 * again and checks the action counts survive the round trip. Nothing may
 * crash, leak or read outside the input; a failure must carry a message.
 * Single-threaded; no state kept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delta/delta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weir_delta_actions a, b;
    struct weir_error err = {0};
    weir_delta_actions_init(&a);
    weir_delta_actions_init(&b);
    int rc =
        weir_delta_actions_parse((const char *)data, size, "_delta_log/00000000000000000001.json", &a, &err);
    if (rc != 0) {
        if (err.message[0] == 0 && rc != WEIR_ENOMEM)
            abort(); /* every failure names the file and line */
        goto done;
    }
    struct weir_buf out;
    weir_buf_init(&out);
    if (weir_delta_actions_serialize(&a, &out, NULL) == 0) {
        if (weir_delta_actions_parse((const char *)out.data, out.len, "re.json", &b, NULL) != 0)
            abort(); /* what we write we must read */
        if (a.n_adds != b.n_adds || a.n_removes != b.n_removes || a.n_txns != b.n_txns ||
            a.n_domains != b.n_domains || (a.metadata == NULL) != (b.metadata == NULL) ||
            (a.protocol == NULL) != (b.protocol == NULL))
            abort();
    }
    weir_buf_free(&out);
done:
    weir_delta_actions_free(&a);
    weir_delta_actions_free(&b);
    return 0;
}
