/* tests/fuzz/fuzz_csv.c - fuzz target: arbitrary bytes as CSV.
 * The first byte picks the delimiter, quote, escape and record limit; the
 * rest is split whole and in two chunks at a point the second byte picks -
 * both must give the same records. Every field is converted to every
 * primitive type and inferred. A malformed record must carry a reason and
 * its raw text must lie inside the reader's buffers; nothing may crash,
 * leak or read outside the input. Single-threaded; no state kept. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "formats/csv.h"

static const char *const TYPES =
    "b BOOLEAN, i8 BYTE, i32 INT, i64 LONG, f DOUBLE, dec DECIMAL(10,2), s STRING, d DATE, ts TIMESTAMP, "
    "ntz TIMESTAMP_NTZ, bin BINARY";

struct run {
    struct weir_buf shape; /* field counts, lengths and flags of every record */
    struct weir_batch *b;
    struct weir_csv_options o;
    enum weir_csv_kind kinds[8];
};

static int on_rec(void *ctx, const struct weir_csv_record *rec, struct weir_error *err)
{
    (void)err;
    struct run *r = ctx;
    if (rec->malformed && rec->malformed[0] == 0)
        abort();
    weir_buf_printf(&r->shape, "%llu:%zu:%zu:%d;", (unsigned long long)rec->line, rec->nfields, rec->raw_len,
                    rec->malformed != NULL);
    for (size_t i = 0; i < rec->nfields; i++) {
        const struct weir_csv_field *f = &rec->fields[i];
        weir_buf_append(&r->shape, f->p, f->n);
        weir_buf_append_byte(&r->shape, f->quoted ? 'Q' : '|');
        if (r->b) {
            char why[128];
            for (size_t c = 0; c < r->b->ncolumns; c++)
                (void)weir_csv_append_value(&r->b->columns[c], &r->o, f, why, sizeof why);
            r->kinds[i % 8] = weir_csv_infer_kind(r->kinds[i % 8], &r->o, f);
        }
    }
    if (rec->raw_len)
        weir_buf_append(&r->shape, rec->raw, rec->raw_len);
    return 0;
}

static void split(const struct weir_csv_options *o, const char *p, size_t n, size_t cut, struct run *r)
{
    struct weir_csv_reader *rd = NULL;
    struct weir_error err = {0};
    if (weir_csv_reader_create(&rd, o, &err) != 0)
        return;
    if (cut > n)
        cut = n;
    if (weir_csv_feed(rd, p, cut, false, on_rec, r, &err) == 0)
        weir_csv_feed(rd, p + cut, n - cut, true, on_rec, r, &err);
    weir_csv_reader_destroy(rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const char delims[] = {',', ';', '\t', '|'};
    struct weir_csv_options o;
    weir_csv_options_default(&o);
    o.delimiter = delims[data[0] & 3];
    o.quote = data[0] & 4 ? '\'' : '"';
    o.escape = data[0] & 8 ? o.quote : '\\';
    o.null_value = data[0] & 16 ? "NA" : "";
    o.max_record = data[0] & 32 ? 16 : 0;
    size_t cut = data[1];
    const char *p = (const char *)data + 2;
    size_t n = size - 2;

    struct weir_type *schema = NULL;
    struct weir_error err = {0};
    struct run whole = {.o = o}, parts = {.o = o};
    weir_buf_init(&whole.shape);
    weir_buf_init(&parts.shape);
    if (weir_schema_parse(TYPES, &schema, &err) == 0)
        whole.b = weir_batch_create(schema);
    split(&o, p, n, n, &whole);
    split(&o, p, n, cut, &parts);
    if (whole.shape.len != parts.shape.len ||
        (whole.shape.len && memcmp(whole.shape.data, parts.shape.data, whole.shape.len) != 0))
        abort(); /* chunking must not change the records */
    for (int k = 0; k < 8; k++)
        weir_type_destroy(weir_csv_kind_type(whole.kinds[k]));
    weir_batch_destroy(whole.b);
    weir_type_destroy(schema);
    weir_buf_free(&whole.shape);
    weir_buf_free(&parts.shape);
    return 0;
}
