/* tests/fuzz/fuzz_json_lines.c - fuzz target: arbitrary bytes as JSON lines.
 * Infers a schema from the input, then decodes the same input with every
 * Delta type present (a fixed all-types schema) and with the inferred one;
 * whatever decodes must encode back to JSON lines that decode to the same
 * number of rows. Nothing may crash, leak or read outside the input; a
 * failure must carry a message. Single-threaded; no state kept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/json.h"

static const char *const ALL_TYPES =
    "b BOOLEAN, i8 BYTE, i16 SHORT, i32 INT, i64 LONG, f32 FLOAT, f64 DOUBLE, dec DECIMAL(10,2), "
    "dec38 DECIMAL(38,6), s STRING, bin BINARY, d DATE, ts TIMESTAMP, ntz TIMESTAMP_NTZ, "
    "st STRUCT<a: INT, b: STRING>, arr ARRAY<LONG>, m MAP<STRING, INT>, "
    "arr_st ARRAY<STRUCT<x: DOUBLE, y: STRING>>, req LONG NOT NULL";

static void decode_with(const struct weir_type *schema, const uint8_t *data, size_t size)
{
    struct weir_json_decoder *d = NULL;
    struct weir_batch *b = weir_batch_create(schema), *back = weir_batch_create(schema);
    struct weir_error err = {0};
    struct weir_buf out;
    weir_buf_init(&out);
    if (b == NULL || back == NULL || weir_json_decoder_create(&d, schema, NULL, &err) != 0)
        goto done;
    size_t rows = 0;
    int rc = weir_json_decode(d, (const char *)data, size, b, &rows, &err);
    if (rc != 0 && rc != WEIR_ENOMEM && err.message[0] == '\0')
        abort(); /* every failure names the line and field */
    if (rc == 0 && b->nrows > 0) {
        if (weir_json_encode_batch(b, &out, NULL) != 0)
            abort();
        size_t rows2 = 0;
        weir_json_decoder_reset(d, "re-encoded");
        weir_error_clear(&err);
        if (weir_json_decode(d, (const char *)out.data, out.len, back, &rows2, &err) != 0 ||
            back->nrows != b->nrows)
            abort(); /* what we print we must read back */
    }
done:
    weir_buf_free(&out);
    weir_json_decoder_destroy(d);
    weir_batch_destroy(b);
    weir_batch_destroy(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weir_type *all = NULL, *inferred = NULL;
    struct weir_json_inferrer *inf = NULL;
    if (weir_schema_from_ddl(ALL_TYPES, &all, NULL) == 0)
        decode_with(all, data, size);
    if (weir_json_inferrer_create(&inf, NULL, NULL) == 0 &&
        weir_json_infer(inf, (const char *)data, size, NULL) == 0 &&
        weir_json_infer_schema(inf, &inferred, NULL) == 0 && inferred->nfields > 0)
        decode_with(inferred, data, size);
    weir_json_inferrer_destroy(inf);
    weir_type_destroy(inferred);
    weir_type_destroy(all);
    return 0;
}
