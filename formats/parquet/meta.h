/* formats/parquet/meta.h - Parquet footer and page-header structures
 * (the subset of parquet.thrift that weir reads and writes) and their
 * Thrift compact-protocol encoding/decoding.
 *
 * Field ids and enum values follow parquet.thrift. Decoding: byte strings
 * (names, statistics) point INTO the decoded buffer, which must outlive the
 * struct; arrays are allocated with weir_malloc and released by the matching
 * *_free. Every length and count is checked against the bytes remaining, so a
 * hostile footer cannot cause an unbounded allocation; unknown fields are
 * skipped. Encoding appends to a weir_buf. Error messages name `what`, the
 * struct path ("FileMetaData.row_groups[2]: RowGroup.columns[0]: ...") and
 * the byte offset relative to p. */
#ifndef WEIR_FORMATS_PARQUET_META_H
#define WEIR_FORMATS_PARQUET_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

enum pq_type {
    PQ_BOOLEAN = 0,
    PQ_INT32 = 1,
    PQ_INT64 = 2,
    PQ_INT96 = 3,
    PQ_FLOAT = 4,
    PQ_DOUBLE = 5,
    PQ_BYTE_ARRAY = 6,
    PQ_FIXED_LEN_BYTE_ARRAY = 7
};
enum pq_repetition { PQ_REQUIRED = 0, PQ_OPTIONAL = 1, PQ_REPEATED = 2 };
enum pq_converted {
    PQ_CT_UTF8 = 0,
    PQ_CT_MAP = 1,
    PQ_CT_MAP_KEY_VALUE = 2,
    PQ_CT_LIST = 3,
    PQ_CT_ENUM = 4,
    PQ_CT_DECIMAL = 5,
    PQ_CT_DATE = 6,
    PQ_CT_TIME_MILLIS = 7,
    PQ_CT_TIME_MICROS = 8,
    PQ_CT_TIMESTAMP_MILLIS = 9,
    PQ_CT_TIMESTAMP_MICROS = 10,
    PQ_CT_UINT_8 = 11,
    PQ_CT_UINT_16 = 12,
    PQ_CT_UINT_32 = 13,
    PQ_CT_UINT_64 = 14,
    PQ_CT_INT_8 = 15,
    PQ_CT_INT_16 = 16,
    PQ_CT_INT_32 = 17,
    PQ_CT_INT_64 = 18,
    PQ_CT_JSON = 19,
    PQ_CT_BSON = 20,
    PQ_CT_INTERVAL = 21
};
enum pq_encoding {
    PQ_PLAIN = 0,
    PQ_PLAIN_DICTIONARY = 2,
    PQ_RLE = 3,
    PQ_BIT_PACKED = 4,
    PQ_DELTA_BINARY_PACKED = 5,
    PQ_DELTA_LENGTH_BYTE_ARRAY = 6,
    PQ_DELTA_BYTE_ARRAY = 7,
    PQ_RLE_DICTIONARY = 8,
    PQ_BYTE_STREAM_SPLIT = 9
};
enum pq_page_type { PQ_DATA_PAGE = 0, PQ_INDEX_PAGE = 1, PQ_DICTIONARY_PAGE = 2, PQ_DATA_PAGE_V2 = 3 };
/* LogicalType union member ids (field id in the thrift union). */
enum pq_logical {
    PQ_LT_NONE = 0,
    PQ_LT_STRING = 1,
    PQ_LT_MAP = 2,
    PQ_LT_LIST = 3,
    PQ_LT_ENUM = 4,
    PQ_LT_DECIMAL = 5,
    PQ_LT_DATE = 6,
    PQ_LT_TIME = 7,
    PQ_LT_TIMESTAMP = 8,
    PQ_LT_INTEGER = 10,
    PQ_LT_UNKNOWN = 11,
    PQ_LT_JSON = 12,
    PQ_LT_BSON = 13,
    PQ_LT_UUID = 14,
    PQ_LT_FLOAT16 = 15,
    /* newer members: decoded so a reader can name them, not supported */
    PQ_LT_VARIANT = 16,
    PQ_LT_GEOMETRY = 17,
    PQ_LT_GEOGRAPHY = 18,
    PQ_LT_VECTOR = 19
};
enum pq_time_unit { PQ_MILLIS = 1, PQ_MICROS = 2, PQ_NANOS = 3 };

struct pq_bytes {
    const uint8_t *p; /* NULL when absent */
    uint32_t len;
};

struct pq_logical_type {
    enum pq_logical kind;     /* PQ_LT_NONE when absent */
    int32_t scale, precision; /* DECIMAL */
    bool adjusted_to_utc;     /* TIME, TIMESTAMP */
    enum pq_time_unit unit;   /* TIME, TIMESTAMP */
    int8_t bit_width;         /* INTEGER */
    bool is_signed;           /* INTEGER */
};

struct pq_schema_element {
    bool has_type;
    enum pq_type type;
    int32_t type_length; /* FIXED_LEN_BYTE_ARRAY */
    bool has_repetition;
    enum pq_repetition repetition;
    struct pq_bytes name;
    int32_t num_children; /* 0 for leaves */
    bool has_converted;
    enum pq_converted converted;
    int32_t scale, precision;
    bool has_field_id;
    int32_t field_id;
    struct pq_logical_type logical;
};

struct pq_statistics {
    struct pq_bytes max, min; /* deprecated fields 1, 2 */
    bool has_null_count;
    int64_t null_count;
    bool has_distinct_count;
    int64_t distinct_count;
    struct pq_bytes max_value, min_value; /* fields 5, 6 */
};

struct pq_column_meta {
    enum pq_type type;
    int32_t *encodings;
    uint32_t nencodings;
    struct pq_bytes *path;
    uint32_t npath;
    int32_t codec;
    int64_t num_values;
    int64_t total_uncompressed_size;
    int64_t total_compressed_size;
    int64_t data_page_offset;
    bool has_dictionary_page_offset;
    int64_t dictionary_page_offset;
    bool has_statistics;
    struct pq_statistics statistics;
};

struct pq_column_chunk {
    struct pq_bytes file_path;
    int64_t file_offset;
    bool has_meta;
    struct pq_column_meta meta;
};

struct pq_row_group {
    struct pq_column_chunk *columns;
    uint32_t ncolumns;
    int64_t total_byte_size;
    int64_t num_rows;
    bool has_file_offset;
    int64_t file_offset;
    bool has_total_compressed_size;
    int64_t total_compressed_size;
    bool has_ordinal;
    int16_t ordinal;
};

struct pq_key_value {
    struct pq_bytes key, value;
};

struct pq_file_meta {
    int32_t version;
    struct pq_schema_element *schema;
    uint32_t nschema;
    int64_t num_rows;
    struct pq_row_group *row_groups;
    uint32_t nrow_groups;
    struct pq_key_value *kv;
    uint32_t nkv;
    struct pq_bytes created_by;
    uint32_t ncolumn_orders; /* each written as TYPE_ORDER */
};

struct pq_data_page_header {
    int32_t num_values;
    int32_t encoding, definition_level_encoding, repetition_level_encoding;
    bool has_statistics;
    struct pq_statistics statistics;
};

struct pq_dictionary_page_header {
    int32_t num_values;
    int32_t encoding;
    bool is_sorted;
};

struct pq_data_page_header_v2 {
    int32_t num_values, num_nulls, num_rows;
    int32_t encoding;
    int32_t definition_levels_byte_length, repetition_levels_byte_length;
    bool is_compressed; /* default true */
    bool has_statistics;
    struct pq_statistics statistics;
};

struct pq_page_header {
    enum pq_page_type type;
    int32_t uncompressed_page_size;
    int32_t compressed_page_size;
    bool has_crc;
    int32_t crc;
    bool has_data, has_dictionary, has_data_v2;
    struct pq_data_page_header data;
    struct pq_dictionary_page_header dictionary;
    struct pq_data_page_header_v2 data_v2;
};

/* Decode FileMetaData from p[0..n). `what` names the file for messages. */
int pq_file_meta_decode(const uint8_t *p, size_t n, struct pq_file_meta *out, const char *what,
                        struct weir_error *err);
void pq_file_meta_free(struct pq_file_meta *m);
int pq_file_meta_encode(const struct pq_file_meta *m, struct weir_buf *out);

/* Decode one PageHeader at p (at most n bytes); *consumed gets its length. */
int pq_page_header_decode(const uint8_t *p, size_t n, struct pq_page_header *out, size_t *consumed,
                          const char *what, struct weir_error *err);
int pq_page_header_encode(const struct pq_page_header *h, struct weir_buf *out);

#endif
