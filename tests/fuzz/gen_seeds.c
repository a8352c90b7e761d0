/* tests/fuzz/gen_seeds.c - writes the small, self-made seed inputs of the
 * committed corpora (tests/fuzz/corpus/<target>/) using weir's own encoder:
 * page headers of each kind, footers from minimal to feature-rich, and two
 * tiny but complete Parquet files. Not part of the build; run by
 * tests/fuzz/make_corpus.sh. Usage: gen_seeds OUTDIR (subdirectories must
 * exist). Single-threaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "formats/parquet/meta.h"
#include "formats/parquet/thrift.h"

#define B(s) ((struct pq_bytes){(const uint8_t *)(s), (uint32_t)strlen(s)})
/* little-endian INT32 statistics values 1 and 3 */
static const uint8_t k_one[4] = {1, 0, 0, 0}, k_three[4] = {3, 0, 0, 0};
#define I32STAT(a) ((struct pq_bytes){(a), 4})

static const char *g_out;

static void put(const char *target, const char *name, const struct weir_buf *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", g_out, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->data, 1, b->len, f) != b->len) {
        fprintf(stderr, "gen_seeds: cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static void check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "gen_seeds: %s failed (%d)\n", what, rc);
        exit(1);
    }
}

static void page_headers(void)
{
    struct pq_page_header h[3];
    memset(h, 0, sizeof h);
    h[0] = (struct pq_page_header){.type = PQ_DATA_PAGE,
                                   .uncompressed_page_size = 12,
                                   .compressed_page_size = 12,
                                   .has_data = true,
                                   .data = {.num_values = 3,
                                            .encoding = PQ_PLAIN,
                                            .definition_level_encoding = PQ_RLE,
                                            .repetition_level_encoding = PQ_RLE,
                                            .has_statistics = true,
                                            .statistics = {.min_value = I32STAT(k_one),
                                                           .max_value = I32STAT(k_three),
                                                           .has_null_count = true}}};
    h[1] = (struct pq_page_header){.type = PQ_DICTIONARY_PAGE,
                                   .uncompressed_page_size = 8,
                                   .compressed_page_size = 8,
                                   .has_crc = true,
                                   .crc = 12345,
                                   .has_dictionary = true,
                                   .dictionary = {.num_values = 2, .encoding = PQ_PLAIN}};
    h[2] = (struct pq_page_header){.type = PQ_DATA_PAGE_V2,
                                   .uncompressed_page_size = 20,
                                   .compressed_page_size = 18,
                                   .has_data_v2 = true,
                                   .data_v2 = {.num_values = 4,
                                               .num_nulls = 1,
                                               .num_rows = 4,
                                               .encoding = PQ_RLE_DICTIONARY,
                                               .definition_levels_byte_length = 2,
                                               .is_compressed = true}};
    const char *names[3] = {"page_v1", "page_dict", "page_v2"};
    for (int i = 0; i < 3; i++) {
        struct weir_buf b;
        weir_buf_init(&b);
        check(pq_page_header_encode(&h[i], &b), names[i]);
        put("fuzz_thrift_compact", names[i], &b);
        weir_buf_free(&b);
    }
}

/* A footer for one INT32 column "x" with one row group of `rows` rows whose
 * chunk starts at `data_off` (dictionary at dict_off when > 0). */
static void tiny_meta(struct weir_buf *out, int64_t rows, int64_t dict_off, int64_t data_off,
                      int64_t chunk_len, bool rich)
{
    struct pq_schema_element schema[2] = {
        {.name = B("schema"), .num_children = 1},
        {.has_type = true,
         .type = PQ_INT32,
         .has_repetition = true,
         .repetition = PQ_OPTIONAL,
         .name = B("x"),
         .has_converted = true,
         .converted = PQ_CT_INT_32,
         .logical = {.kind = PQ_LT_INTEGER, .bit_width = 32, .is_signed = true}},
    };
    int32_t enc[2] = {PQ_PLAIN, PQ_RLE};
    struct pq_bytes path[1] = {B("x")};
    struct pq_column_chunk cc = {.file_offset = 0,
                                 .has_meta = true,
                                 .meta = {.type = PQ_INT32,
                                          .encodings = enc,
                                          .nencodings = 2,
                                          .path = path,
                                          .npath = 1,
                                          .codec = 0,
                                          .num_values = rows,
                                          .total_uncompressed_size = chunk_len,
                                          .total_compressed_size = chunk_len,
                                          .data_page_offset = data_off,
                                          .has_dictionary_page_offset = dict_off > 0,
                                          .dictionary_page_offset = dict_off,
                                          .has_statistics = true,
                                          .statistics = {.min_value = I32STAT(k_one),
                                                         .max_value = I32STAT(k_three),
                                                         .has_null_count = true,
                                                         .null_count = 0}}};
    struct pq_row_group rg = {.columns = &cc,
                              .ncolumns = 1,
                              .total_byte_size = chunk_len,
                              .num_rows = rows,
                              .has_file_offset = true,
                              .file_offset = dict_off > 0 ? dict_off : data_off,
                              .has_total_compressed_size = true,
                              .total_compressed_size = chunk_len,
                              .has_ordinal = true};
    struct pq_key_value kv[1] = {{B("writer.note"), B("seed")}};
    struct pq_file_meta m = {.version = 1,
                             .schema = schema,
                             .nschema = 2,
                             .num_rows = rows,
                             .row_groups = &rg,
                             .nrow_groups = 1,
                             .created_by = B("weir gen_seeds"),
                             .ncolumn_orders = 1};
    if (rich) {
        m.kv = kv;
        m.nkv = 1;
    }
    check(pq_file_meta_encode(&m, out), "footer");
}

static void footers(void)
{
    struct weir_buf b;
    weir_buf_init(&b);
    tiny_meta(&b, 3, 0, 4, 30, true);
    put("fuzz_thrift_compact", "meta_tiny", &b);
    weir_buf_free(&b);

    /* The smallest legal footer: version, one root element, no rows. */
    struct pq_schema_element root = {.name = B("root")};
    struct pq_file_meta m = {.version = 2, .schema = &root, .nschema = 1};
    check(pq_file_meta_encode(&m, &b), "empty footer");
    put("fuzz_thrift_compact", "meta_empty", &b);
    weir_buf_free(&b);

    /* Unknown fields of every type, which decoders must skip. */
    struct pq_tenc e;
    pq_tenc_init(&e, &b);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_i32(&e, 1, 1);
    pq_tenc_field(&e, 2, PQ_TC_LIST);
    pq_tenc_list_begin(&e, PQ_TC_STRUCT, 1);
    pq_tenc_struct_begin(&e);
    pq_tenc_field_binary(&e, 4, "r", 1);
    pq_tenc_field(&e, 10, PQ_TC_STRUCT);
    pq_tenc_struct_begin(&e);
    pq_tenc_field(&e, 8, PQ_TC_STRUCT); /* TIMESTAMP(true, NANOS) */
    pq_tenc_struct_begin(&e);
    pq_tenc_field_bool(&e, 1, true);
    pq_tenc_field(&e, 2, PQ_TC_STRUCT);
    pq_tenc_struct_begin(&e);
    pq_tenc_field(&e, 3, PQ_TC_STRUCT);
    pq_tenc_struct_begin(&e);
    pq_tenc_struct_end(&e);
    pq_tenc_struct_end(&e);
    pq_tenc_struct_end(&e);
    pq_tenc_struct_end(&e);
    pq_tenc_struct_end(&e);
    pq_tenc_field_i64(&e, 3, 0);
    pq_tenc_field(&e, 4, PQ_TC_LIST);
    pq_tenc_list_begin(&e, PQ_TC_STRUCT, 0);
    pq_tenc_field(&e, 20, PQ_TC_MAP);
    pq_tenc_map_begin(&e, PQ_TC_BINARY, PQ_TC_LIST, 1);
    pq_tenc_binary(&e, "k", 1);
    pq_tenc_list_begin(&e, PQ_TC_DOUBLE, 1);
    pq_tenc_double(&e, 0.5);
    pq_tenc_field(&e, 21, PQ_TC_SET);
    pq_tenc_set_begin(&e, PQ_TC_TRUE, 2);
    pq_tenc_bool(&e, true);
    pq_tenc_bool(&e, false);
    pq_tenc_field(&e, 22, PQ_TC_UUID);
    for (int i = 0; i < 16; i++)
        pq_tenc_byte(&e, (int8_t)i);
    pq_tenc_field(&e, 23, PQ_TC_I16);
    pq_tenc_i16(&e, -2);
    pq_tenc_field(&e, 24, PQ_TC_BYTE);
    pq_tenc_byte(&e, 9);
    pq_tenc_struct_end(&e);
    check(pq_tenc_status(&e), "unknown-fields footer");
    put("fuzz_thrift_compact", "meta_unknown_fields", &b);
    weir_buf_free(&b);
}

static void le32(struct weir_buf *b, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    check(weir_buf_append(b, t, 4), "append");
}

/* A complete file: PAR1, pages, footer, footer length, PAR1. */
static void tiny_file(bool dict)
{
    struct weir_buf f;
    weir_buf_init(&f);
    check(weir_buf_append(&f, "PAR1", 4), "append");
    int64_t dict_off = 0;
    if (dict) {
        dict_off = (int64_t)f.len;
        struct pq_page_header h = {.type = PQ_DICTIONARY_PAGE,
                                   .uncompressed_page_size = 8,
                                   .compressed_page_size = 8,
                                   .has_dictionary = true,
                                   .dictionary = {.num_values = 2, .encoding = PQ_PLAIN}};
        check(pq_page_header_encode(&h, &f), "dict header");
        le32(&f, 1);
        le32(&f, 3);
    }
    int64_t data_off = (int64_t)f.len;
    /* def levels: RLE run of 3 ones (4-byte length prefix), then values */
    const uint8_t levels[] = {2, 0, 0, 0, 0x06, 0x01};
    struct pq_page_header h = {.type = PQ_DATA_PAGE,
                               .has_data = true,
                               .data = {.num_values = 3,
                                        .encoding = dict ? PQ_RLE_DICTIONARY : PQ_PLAIN,
                                        .definition_level_encoding = PQ_RLE,
                                        .repetition_level_encoding = PQ_RLE}};
    /* bit width 1, then one bit-packed group of 8 (header (1 << 1) | 1):
     * indices 0, 1, 0 -> values 1, 3, 1 */
    const uint8_t dict_ids[] = {1, 0x03, 0x02};
    size_t body = sizeof levels + (dict ? sizeof dict_ids : 12);
    h.uncompressed_page_size = h.compressed_page_size = (int32_t)body;
    check(pq_page_header_encode(&h, &f), "data header");
    check(weir_buf_append(&f, levels, sizeof levels), "append");
    if (dict) {
        check(weir_buf_append(&f, dict_ids, sizeof dict_ids), "append");
    } else {
        le32(&f, 1);
        le32(&f, 2);
        le32(&f, 3);
    }
    int64_t chunk_len = (int64_t)f.len - (dict ? dict_off : data_off);
    size_t foot = f.len;
    tiny_meta(&f, 3, dict_off, data_off, chunk_len, !dict);
    le32(&f, (uint32_t)(f.len - foot));
    check(weir_buf_append(&f, "PAR1", 4), "append");
    put("fuzz_parquet_footer", dict ? "tiny_dict.parquet" : "tiny_plain.parquet", &f);
    weir_buf_free(&f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds OUTDIR\n");
        return 2;
    }
    g_out = argv[1];
    page_headers();
    footers();
    tiny_file(false);
    tiny_file(true);
    return 0;
}
