/* formats/parquet/compress.h - page compression codecs (snappy, zstd,
 * gzip, none) behind one call each way. Decompression is told the exact
 * expected size (from the page header) and fails with WEIR_ECORRUPT if the
 * codec produces anything else. */
#ifndef WEIR_FORMATS_PARQUET_COMPRESS_H
#define WEIR_FORMATS_PARQUET_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

/* codec: enum weir_parquet_codec value. Appends to out. level 0 = default. */
int pq_compress(int codec, int level, const uint8_t *src, size_t n, struct weir_buf *out,
                struct weir_error *err);
/* Writes exactly `dst_len` bytes to dst. */
int pq_decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst, size_t dst_len,
                  struct weir_error *err);

#endif
