/* tests/fuzz/fuzz_schema.c - fuzz target: arbitrary bytes as a schema, in
 * Delta JSON or Spark DDL (weir_schema_parse picks by the first byte). A
 * parsed schema must serialize to JSON that parses to an equal schema, and
 * its display form (which leaves out nullability) must parse back as DDL
 * to a schema with the same fields. Nothing may
 * crash, leak or read outside the input; a failure must carry a message.
 * Single-threaded; no state kept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = weir_strndup((const char *)data, size);
    struct weir_type *t = NULL, *again = NULL, *ddl = NULL;
    char *json = NULL, *display = NULL;
    struct weir_error err = {0};
    if (text == NULL || strlen(text) != size)
        goto done; /* embedded NUL: not a C string */
    int rc = weir_schema_parse(text, &t, &err);
    if (rc != 0) {
        if (rc != WEIR_ENOMEM && err.message[0] == '\0')
            abort();
        goto done;
    }
    json = weir_schema_to_json(t);
    if (json == NULL || weir_schema_from_json(json, &again, NULL) != 0 || !weir_type_equal(t, again))
        abort(); /* what we write we must read */
    display = weir_type_to_display(t);
    if (display == NULL)
        abort();
    /* "struct<a:int,...>" -> the DDL field list inside the brackets */
    size_t n = strlen(display);
    if (n > 8 && strncmp(display, "struct<", 7) == 0) {
        display[n - 1] = '\0';
        if (weir_schema_from_ddl(display + 7, &ddl, NULL) != 0 || ddl->nfields != t->nfields)
            abort();
    }
done:
    weir_type_destroy(ddl);
    weir_type_destroy(again);
    weir_type_destroy(t);
    weir_free(display);
    weir_free(json);
    weir_free(text);
    return 0;
}
