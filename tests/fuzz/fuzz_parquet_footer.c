/* tests/fuzz/fuzz_parquet_footer.c - fuzz target: arbitrary bytes as a
 * whole Parquet file. Checks the "PAR1" magic at both ends and the footer
 * length, decodes the footer (pq_file_meta_decode), then walks the page
 * headers of every column chunk the footer describes, with every offset and
 * size checked against the file the way a reader must. Nothing may crash,
 * leak, or read outside the input. Single-threaded; no state kept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "formats/parquet/meta.h"

/* Walk the pages of [start, start + len) of the file. */
static void walk_pages(const uint8_t *file, size_t size, int64_t start, int64_t len)
{
    if (start < 4 || len <= 0 || (uint64_t)start > size || (uint64_t)len > size - (uint64_t)start)
        return;
    int64_t off = start, end = start + len;
    /* Each header is at least a few bytes, so this terminates; cap anyway. */
    for (int pages = 0; off < end && pages < 100000; pages++) {
        struct pq_page_header h;
        size_t consumed = 0;
        if (pq_page_header_decode(file + off, (size_t)(end - off), &h, &consumed, "fuzz", NULL))
            return;
        if (consumed == 0 || consumed > (size_t)(end - off))
            abort();
        off += (int64_t)consumed;
        if (h.compressed_page_size > end - off)
            return; /* a reader reports the page as truncated */
        off += h.compressed_page_size;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 12 || memcmp(data, "PAR1", 4) != 0 || memcmp(data + size - 4, "PAR1", 4) != 0)
        return 0;
    const uint8_t *t = data + size - 8;
    uint32_t flen = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
    if (flen > size - 12)
        return 0;
    struct pq_file_meta m;
    struct weir_error err = {0};
    if (pq_file_meta_decode(data + size - 8 - flen, flen, &m, "fuzz.parquet", &err) != 0) {
        if (err.code == 0)
            abort();
        return 0;
    }
    for (uint32_t r = 0; r < m.nrow_groups; r++) {
        const struct pq_row_group *rg = &m.row_groups[r];
        for (uint32_t c = 0; c < rg->ncolumns; c++) {
            const struct pq_column_meta *cm = &rg->columns[c].meta;
            int64_t first = cm->data_page_offset;
            if (cm->has_dictionary_page_offset && cm->dictionary_page_offset > 0)
                first = cm->dictionary_page_offset;
            walk_pages(data, size, first, cm->total_compressed_size);
        }
    }
    pq_file_meta_free(&m);
    return 0;
}
