/* sinks/sink_int.h - what the Delta sinks (delta.c, cdc.c) share. */
#ifndef WEIR_SINKS_SINK_INT_H
#define WEIR_SINKS_SINK_INT_H

#include "delta/delta.h"
#include "stream/config.h"

/* sink.delta.codec -> the Parquet writer's codec. */
static inline enum weir_parquet_codec weir_sink_codec(int c)
{
    switch (c) {
    case WEIR_CODEC_ZSTD:
        return WEIR_PARQUET_ZSTD;
    case WEIR_CODEC_GZIP:
        return WEIR_PARQUET_GZIP;
    case WEIR_CODEC_NONE:
        return WEIR_PARQUET_UNCOMPRESSED;
    default:
        return WEIR_PARQUET_SNAPPY;
    }
}

#endif
