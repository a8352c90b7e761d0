/* tests/fuzz/fuzz_thrift_compact.c - fuzz target: arbitrary bytes through
 * the Thrift compact decoder (generic skip), the PageHeader decoder and the
 * FileMetaData decoder (formats/parquet/thrift.c, meta.c).
 *
 * Besides "never crash, never leak, never read past the input", it checks a
 * round-trip property: whatever decodes must re-encode, the re-encoding must
 * decode, and encoding that again must give identical bytes (the encoder's
 * output is a fixed point). A violation aborts so libFuzzer records it.
 * Single-threaded; no state kept between inputs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "formats/parquet/meta.h"
#include "formats/parquet/thrift.h"

static void check_page_header(const uint8_t *data, size_t size)
{
    struct pq_page_header h, h2;
    size_t consumed = 0, consumed2 = 0;
    struct weir_error err = {0};
    if (pq_page_header_decode(data, size, &h, &consumed, "fuzz", &err) != 0) {
        if (err.code == 0 || err.message[0] == '\0')
            abort(); /* a failure must say why */
        return;
    }
    if (consumed == 0 || consumed > size)
        abort();
    struct weir_buf a, b;
    weir_buf_init(&a);
    weir_buf_init(&b);
    if (pq_page_header_encode(&h, &a) != 0)
        goto done; /* only out of memory can fail here */
    if (pq_page_header_decode(a.data, a.len, &h2, &consumed2, "re-encoded", NULL) != 0)
        abort();
    if (consumed2 != a.len)
        abort();
    if (pq_page_header_encode(&h2, &b) != 0)
        goto done;
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
done:
    weir_buf_free(&a);
    weir_buf_free(&b);
}

static void check_file_meta(const uint8_t *data, size_t size)
{
    struct pq_file_meta m, m2;
    struct weir_error err = {0};
    memset(&m2, 0, sizeof m2);
    if (pq_file_meta_decode(data, size, &m, "fuzz", &err) != 0) {
        if (err.code == 0 || err.message[0] == '\0')
            abort();
        if (m.schema || m.row_groups || m.kv) /* a failed decode owns nothing */
            abort();
        return;
    }
    struct weir_buf a, b;
    weir_buf_init(&a);
    weir_buf_init(&b);
    int rc = pq_file_meta_encode(&m, &a);
    if (rc != 0) {
        if (rc != WEIR_ENOMEM)
            abort();
        goto done;
    }
    if (pq_file_meta_decode(a.data, a.len, &m2, "re-encoded", NULL) != 0)
        abort();
    if (pq_file_meta_encode(&m2, &b) != 0)
        goto done;
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
    if (m2.nschema != m.nschema || m2.nrow_groups != m.nrow_groups || m2.num_rows != m.num_rows)
        abort();
done:
    pq_file_meta_free(&m2);
    pq_file_meta_free(&m);
    weir_buf_free(&a);
    weir_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pq_tdec d;
    pq_tdec_init(&d, data, size, NULL);
    if (pq_tdec_skip(&d, PQ_TC_STRUCT) == 0 && pq_tdec_remaining(&d) > size)
        abort();
    check_page_header(data, size);
    check_file_meta(data, size);
    return 0;
}
