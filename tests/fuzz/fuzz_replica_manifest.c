/* tests/fuzz/fuzz_replica_manifest.c - fuzz target: arbitrary bytes as a
 * saved database version's manifest (state/replica.h), as read back from
 * an object store. A manifest that parses, written canonically, must parse
 * again to the same canonical text; a failure must carry a message.
 * Nothing may crash, leak or read outside the input. Single-threaded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "state/replica.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weir_error err = {0}, err2 = {0};
    char *once = NULL, *twice = NULL;
    int rc = weir_replica_manifest_canonical((const char *)data, size, "fuzz/state/0.json", &once, &err);
    if (rc != 0) {
        if (err.message[0] == '\0' || once != NULL)
            abort();
        return 0;
    }
    rc = weir_replica_manifest_canonical(once, strlen(once), "fuzz/again", &twice, &err2);
    if (rc != 0 && rc != WEIR_ENOMEM)
        abort(); /* what we read, written back, must read again */
    if (rc == 0 && strcmp(once, twice) != 0)
        abort();
    cJSON_free(once);
    cJSON_free(twice);
    return 0;
}
