/* tests/fuzz/fuzz_debezium.c - fuzz target: arbitrary bytes as Debezium
 * change events (formats/debezium.h).
 *
 * The first byte picks the options (bit 0 rescue_fields, bit 1
 * tombstone_deletes, bit 2 a declared schema, bits 3-4 how often the
 * batches are taken). The rest is split at NUL bytes into pieces taken in
 * pairs: key, value (an empty key is no key; a value "\x01" is a
 * tombstone). Invariants: no crash, leak or out-of-bounds read; a failed
 * event reports WEIR_EPARSE with a message and leaves no row behind; every
 * event decoded as a row comes out in exactly one taken batch; every batch
 * names its table in the __op metadata, has columns of equal length and
 * encodes as JSON. Single-threaded; all state is rebuilt per input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/batch.h"
#include "core/buf.h"
#include "core/types.h"
#include "formats/debezium.h"
#include "formats/json.h"

static size_t drain(struct weir_dbz_decoder *d)
{
    size_t rows = 0;
    for (;;) {
        struct weir_batch *b = NULL;
        if (weir_dbz_take(d, &b) != 0)
            abort();
        if (b == NULL)
            return rows;
        struct weir_dbz_table_id id;
        if (weir_dbz_table_of(b->schema, &id) != 0 || id.table == NULL)
            abort();
        weir_dbz_table_id_free(&id);
        size_t n = b->nrows;
        if (b->nrows == 0 || weir_batch_finish_rows(b) != 0 || b->nrows != n)
            abort();
        struct weir_buf out;
        struct weir_error err = {0};
        weir_buf_init(&out);
        if (weir_json_encode_batch(b, &out, &err) != 0)
            abort();
        weir_buf_free(&out);
        rows += b->nrows;
        weir_batch_destroy(b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    struct weir_dbz_options o;
    struct weir_type *decl = NULL;
    weir_dbz_options_default(&o);
    o.rescue_fields = flags & 1;
    o.tombstone_deletes = (flags & 2) != 0;
    if ((flags & 4) &&
        weir_schema_from_ddl("id LONG, name STRING, amount DECIMAL(10,2), d DATE, ts TIMESTAMP, "
                             "ok BOOLEAN, f DOUBLE, bin BINARY",
                             &decl, NULL) != 0)
        abort();
    o.schema = decl;
    struct weir_dbz_decoder *d = NULL;
    if (weir_dbz_decoder_create(&d, &o, NULL) != 0)
        abort();
    weir_type_destroy(decl);
    size_t every = 1 + ((flags >> 3) & 3) * 2;

    size_t rows = 0, out = 0, events = 0;
    const uint8_t *p = data + 1, *end = data + size;
    while (p < end) {
        const uint8_t *k = p, *kz = memchr(k, 0, (size_t)(end - k));
        size_t kn = kz ? (size_t)(kz - k) : (size_t)(end - k);
        p = kz ? kz + 1 : end;
        const uint8_t *v = p, *vz = p < end ? memchr(v, 0, (size_t)(end - v)) : NULL;
        size_t vn = p < end ? (vz ? (size_t)(vz - v) : (size_t)(end - v)) : 0;
        p = vz ? vz + 1 : end;
        bool tomb = vn == 1 && v[0] == 1;
        struct weir_error err = {0};
        enum weir_dbz_result r = WEIR_DBZ_SKIPPED;
        int rc =
            weir_dbz_decode(d, kn ? k : NULL, kn, tomb ? NULL : v, tomb ? 0 : vn, "srv.public.t", &r, &err);
        if (rc == 0 && r == WEIR_DBZ_ROW)
            rows++;
        else if (rc != 0 && (rc != WEIR_EPARSE || err.message[0] == 0))
            abort();
        if (++events % every == 0)
            out += drain(d);
    }
    out += drain(d);
    if (out != rows)
        abort();
    weir_dbz_decoder_destroy(d);
    return 0;
}
