/* tests/fuzz/fuzz_parquet_file.c - fuzz target: arbitrary bytes as a whole
 * Parquet file through the real reader. Opens the input with
 * weir_parquet_reader_open and reads every row group with the file's own
 * schema, so footer decoding, schema mapping, page walking, decompression,
 * level/value decoding and nested assembly all see hostile input. Nothing
 * may crash, leak or read outside the input; a failure must come back as a
 * negative code with a message. Single-threaded; no state kept. */
#include <stdint.h>
#include <stdlib.h>

#include "core/batch.h"
#include "core/buf.h"
#include "core/error.h"
#include "formats/parquet/parquet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weir_input in = weir_input_mem(data, size, "fuzz.parquet");
    struct weir_parquet_reader *r = NULL;
    struct weir_error err = {0};
    int rc = weir_parquet_reader_open(&r, &in, &err);
    if (rc != 0) {
        if (rc > 0 || err.message[0] == 0)
            abort();
        return 0;
    }
    if (weir_parquet_reader_schema(r) == NULL)
        abort();
    int n = weir_parquet_reader_num_row_groups(r);
    for (int g = 0; g < n; g++) {
        struct weir_batch *b = NULL;
        weir_error_clear(&err);
        rc = weir_parquet_reader_read_row_group(r, g, NULL, &b, &err);
        if (rc == 0) {
            if (b == NULL)
                abort();
            /* Touch every top-level column's bookkeeping. */
            for (size_t c = 0; c < b->ncolumns; c++)
                if (b->columns[c].length != b->nrows)
                    abort();
        } else if (b != NULL || err.message[0] == 0) {
            abort();
        }
        weir_batch_destroy(b);
    }
    weir_parquet_reader_destroy(r);
    return 0;
}
