/* formats/parquet/parquet.h - Parquet files: writer and reader.
 *
 * The writer turns weir_batch rows into a Parquet file with the Delta type
 * mapping (STRING, DATE, TIMESTAMP(MICROS, adjusted) / NTZ, DECIMAL, INT(8/16),
 * 3-level LIST, MAP), PLAIN or RLE_DICTIONARY data pages v1, RLE levels,
 * snappy/zstd/gzip/none, row-group and page size limits and column-chunk
 * statistics. The reader reads what the writer writes and what Spark,
 * pyarrow and delta-rs write (dictionary pages, data page v2, INT96,
 * snappy/zstd/gzip), with projection by field name. Every length read from
 * a file is checked against the file size; a malformed file gives
 * WEIR_ECORRUPT with the file name and what is wrong. One writer or reader
 * is used by one thread at a time. */
#ifndef WEIR_FORMATS_PARQUET_H
#define WEIR_FORMATS_PARQUET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/types.h"

enum weir_parquet_codec {
    WEIR_PARQUET_UNCOMPRESSED = 0,
    WEIR_PARQUET_SNAPPY = 1,
    WEIR_PARQUET_GZIP = 2,
    WEIR_PARQUET_ZSTD = 6,
};
/* "snappy", "zstd", "gzip", "uncompressed"/"none" -> codec; -1 if unknown. */
int weir_parquet_codec_from_string(const char *s);
const char *weir_parquet_codec_name(enum weir_parquet_codec c);

struct weir_parquet_writer_options {
    enum weir_parquet_codec codec; /* default SNAPPY */
    int compression_level;         /* 0: codec default */
    size_t row_group_bytes;        /* default 128 MiB (uncompressed estimate) */
    size_t page_bytes;             /* default 1 MiB */
    size_t dictionary_page_bytes;  /* default 1 MiB: past this, fall back to PLAIN */
    bool dictionary;               /* default true */
};
void weir_parquet_writer_options_default(struct weir_parquet_writer_options *o);

struct weir_parquet_writer;

/* Writes to `out` as row groups fill. `schema` is a STRUCT type (copied). */
int weir_parquet_writer_create(struct weir_parquet_writer **out, const struct weir_type *schema,
                               const struct weir_parquet_writer_options *opts, struct weir_output sink,
                               struct weir_error *err);
/* Append all rows of `b`; its schema must equal the writer's. */
int weir_parquet_writer_write(struct weir_parquet_writer *w, const struct weir_batch *b,
                              struct weir_error *err);
/* Flush the last row group and the footer. `*file_size` gets the total
 * bytes written. The writer must still be destroyed. */
int weir_parquet_writer_close(struct weir_parquet_writer *w, uint64_t *file_size, struct weir_error *err);
/* Begin a new file on `sink` with the same schema and options, keeping the
 * writer's buffers (dictionaries, pages, levels) so that a stream of files
 * does not allocate and fault in fresh memory for each one. Valid after
 * close or after a failed write/close; whatever was buffered is dropped. */
int weir_parquet_writer_restart(struct weir_parquet_writer *w, struct weir_output sink,
                                struct weir_error *err);
void weir_parquet_writer_destroy(struct weir_parquet_writer *w);

struct weir_parquet_reader;

/* Reads and validates the footer. `in` must outlive the reader. */
int weir_parquet_reader_open(struct weir_parquet_reader **out, const struct weir_input *in,
                             struct weir_error *err);
void weir_parquet_reader_destroy(struct weir_parquet_reader *r);
/* The file's schema mapped to Delta types (INT96 -> timestamp, etc.). */
const struct weir_type *weir_parquet_reader_schema(const struct weir_parquet_reader *r);
int64_t weir_parquet_reader_num_rows(const struct weir_parquet_reader *r);
int weir_parquet_reader_num_row_groups(const struct weir_parquet_reader *r);

/* Read row group `rg` into a new batch shaped like `want` (a STRUCT; NULL
 * means the file schema). Fields of `want` are matched to file columns by
 * name, case-insensitively, recursively into structs; a field missing from
 * the file reads as all-null; compatible physical types are converted
 * (INT32 -> long, INT96/MILLIS -> timestamp micros, float -> double,
 * decimal precision/physical widening). Incompatible types give WEIR_ESCHEMA
 * naming the column. Only the projected columns' pages are read. */
int weir_parquet_reader_read_row_group(struct weir_parquet_reader *r, int rg, const struct weir_type *want,
                                       struct weir_batch **out, struct weir_error *err);

#endif
