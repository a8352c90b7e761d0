/* formats/parquet/compress.c - page codecs: none, snappy, gzip, zstd.
 *
 * Owns nothing beyond one call: compression appends to the caller's
 * weir_buf (reserving the codec's worst-case bound first, so a failed call
 * leaves the buffer's contents as they were), decompression writes exactly
 * `dst_len` bytes or fails with WEIR_ECORRUPT. Codecs Parquet defines that
 * weir does not link (LZO, BROTLI, LZ4, LZ4_RAW) give WEIR_EUNSUPPORTED
 * naming the codec. Stateless and thread-safe: every call builds the codec
 * state it needs (zlib streams, zstd contexts) on its own. */
#include "formats/parquet/compress.h"

#include <limits.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "formats/parquet/parquet.h"

static const char *codec_label(int codec)
{
    switch (codec) {
    case 0:
        return "UNCOMPRESSED";
    case 1:
        return "SNAPPY";
    case 2:
        return "GZIP";
    case 3:
        return "LZO";
    case 4:
        return "BROTLI";
    case 5:
        return "LZ4";
    case 6:
        return "ZSTD";
    case 7:
        return "LZ4_RAW";
    default:
        return "unknown";
    }
}

static int compress_gzip(int level, const uint8_t *src, size_t n, struct weir_buf *out,
                         struct weir_error *err)
{
    z_stream zs;
    int rc = 0;
    memset(&zs, 0, sizeof zs);
    if (n > UINT_MAX)
        return weir_error_set(err, WEIR_ERANGE, "gzip: page of %zu bytes is too large", n);
    if (level == 0)
        level = Z_DEFAULT_COMPRESSION;
    if (level < -1 || level > 9)
        return weir_error_set(err, WEIR_EINVAL, "gzip: compression level %d out of range 1..9", level);
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return weir_error_set(err, WEIR_ENOMEM, "gzip: deflateInit2 failed");
    uLong bound = deflateBound(&zs, (uLong)n) + 32; /* + gzip header/trailer slack */
    if (weir_buf_reserve(out, bound) != 0) {
        rc = weir_error_set(err, WEIR_ENOMEM, "gzip: cannot reserve %lu bytes", (unsigned long)bound);
        goto done;
    }
    zs.next_in = (Bytef *)src;
    zs.avail_in = (uInt)n;
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)(out->cap - out->len > UINT_MAX ? UINT_MAX : out->cap - out->len);
    int zrc = deflate(&zs, Z_FINISH);
    if (zrc != Z_STREAM_END) {
        rc = weir_error_set(err, WEIR_EIO, "gzip: deflate failed (%d)", zrc);
        goto done;
    }
    out->len += zs.total_out;
done:
    deflateEnd(&zs);
    return rc;
}

int pq_compress(int codec, int level, const uint8_t *src, size_t n, struct weir_buf *out,
                struct weir_error *err)
{
    switch (codec) {
    case WEIR_PARQUET_UNCOMPRESSED:
        if (weir_buf_append(out, src, n) != 0)
            return weir_error_set(err, WEIR_ENOMEM, "cannot append %zu bytes", n);
        return 0;
    case WEIR_PARQUET_SNAPPY: {
        size_t bound = snappy_max_compressed_length(n);
        if (weir_buf_reserve(out, bound) != 0)
            return weir_error_set(err, WEIR_ENOMEM, "snappy: cannot reserve %zu bytes", bound);
        size_t olen = out->cap - out->len;
        if (snappy_compress((const char *)src, n, (char *)out->data + out->len, &olen) != SNAPPY_OK)
            return weir_error_set(err, WEIR_EIO, "snappy: compression of %zu bytes failed", n);
        out->len += olen;
        return 0;
    }
    case WEIR_PARQUET_GZIP:
        return compress_gzip(level, src, n, out, err);
    case WEIR_PARQUET_ZSTD: {
        size_t bound = ZSTD_compressBound(n);
        if (weir_buf_reserve(out, bound) != 0)
            return weir_error_set(err, WEIR_ENOMEM, "zstd: cannot reserve %zu bytes", bound);
        int lvl = level == 0 ? 3 : level;
        if (lvl < ZSTD_minCLevel() || lvl > ZSTD_maxCLevel())
            return weir_error_set(err, WEIR_EINVAL, "zstd: compression level %d out of range", level);
        size_t r = ZSTD_compress(out->data + out->len, out->cap - out->len, src, n, lvl);
        if (ZSTD_isError(r))
            return weir_error_set(err, WEIR_EIO, "zstd: %s", ZSTD_getErrorName(r));
        out->len += r;
        return 0;
    }
    default:
        return weir_error_set(err, WEIR_EUNSUPPORTED, "compression codec %s (%d) is not supported",
                              codec_label(codec), codec);
    }
}

static int decompress_gzip(const uint8_t *src, size_t n, uint8_t *dst, size_t dst_len, struct weir_error *err)
{
    z_stream zs;
    int rc = 0;
    memset(&zs, 0, sizeof zs);
    if (n > UINT_MAX || dst_len > UINT_MAX)
        return weir_error_set(err, WEIR_ECORRUPT, "gzip: page of %zu bytes is too large", n);
    if (inflateInit2(&zs, 15 + 32) != Z_OK)
        return weir_error_set(err, WEIR_ENOMEM, "gzip: inflateInit2 failed");
    zs.next_in = (Bytef *)src;
    zs.avail_in = (uInt)n;
    zs.next_out = dst;
    zs.avail_out = (uInt)dst_len;
    for (;;) {
        int zrc = inflate(&zs, Z_FINISH);
        if (zrc == Z_STREAM_END) {
            /* Concatenated gzip members are legal; continue with the next. */
            if (zs.avail_in > 0 && zs.avail_out > 0) {
                if (inflateReset(&zs) != Z_OK) {
                    rc = weir_error_set(err, WEIR_ECORRUPT, "gzip: inflateReset failed");
                    goto done;
                }
                continue;
            }
            break;
        }
        if (zrc == Z_BUF_ERROR && zs.avail_out == 0) {
            rc = weir_error_set(err, WEIR_ECORRUPT,
                                "gzip: data decompresses to more than the expected %zu bytes", dst_len);
        } else {
            rc = weir_error_set(err, WEIR_ECORRUPT, "gzip: invalid compressed data (%s)",
                                zs.msg ? zs.msg : "truncated");
        }
        goto done;
    }
    if (zs.total_out != dst_len) {
        rc = weir_error_set(err, WEIR_ECORRUPT, "gzip: decompressed %lu bytes, expected %zu",
                            (unsigned long)zs.total_out, dst_len);
    }
done:
    inflateEnd(&zs);
    return rc;
}

int pq_decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst, size_t dst_len,
                  struct weir_error *err)
{
    switch (codec) {
    case WEIR_PARQUET_UNCOMPRESSED:
        if (n != dst_len)
            return weir_error_set(err, WEIR_ECORRUPT, "uncompressed page has %zu bytes, expected %zu", n,
                                  dst_len);
        if (n)
            memcpy(dst, src, n);
        return 0;
    case WEIR_PARQUET_SNAPPY: {
        size_t ulen = 0;
        if (snappy_uncompressed_length((const char *)src, n, &ulen) != SNAPPY_OK)
            return weir_error_set(err, WEIR_ECORRUPT, "snappy: invalid compressed data header");
        if (ulen != dst_len)
            return weir_error_set(err, WEIR_ECORRUPT, "snappy: data decompresses to %zu bytes, expected %zu",
                                  ulen, dst_len);
        size_t olen = dst_len;
        if (snappy_uncompress((const char *)src, n, (char *)dst, &olen) != SNAPPY_OK || olen != dst_len)
            return weir_error_set(err, WEIR_ECORRUPT, "snappy: invalid compressed data");
        return 0;
    }
    case WEIR_PARQUET_GZIP:
        return decompress_gzip(src, n, dst, dst_len, err);
    case WEIR_PARQUET_ZSTD: {
        size_t r = ZSTD_decompress(dst, dst_len, src, n);
        if (ZSTD_isError(r))
            return weir_error_set(err, WEIR_ECORRUPT, "zstd: %s", ZSTD_getErrorName(r));
        if (r != dst_len)
            return weir_error_set(err, WEIR_ECORRUPT, "zstd: decompressed %zu bytes, expected %zu", r,
                                  dst_len);
        return 0;
    }
    default:
        return weir_error_set(err, WEIR_EUNSUPPORTED, "compression codec %s (%d) is not supported",
                              codec_label(codec), codec);
    }
}
