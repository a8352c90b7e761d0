#!/usr/bin/env bash
# bench/run_parquet_write.sh - build Release, run weir's and pyarrow's Parquet
# write benchmarks on the same 10M x 8 dataset, print both and a comparison.
#
#   bench/run_parquet_write.sh [rows] [repeat]   (defaults 10000000, 3: best of 3 writes each)
#   env: BUILD_DIR (default build/bench-release), PYTHON (needs pyarrow+numpy),
#        JOBS (default 2), OUT_DIR (default /tmp)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROWS="${1:-10000000}"
REPEAT="${2:-3}"
OUT_DIR="${OUT_DIR:-/tmp}"

bench_build bench_parquet_write
BIN="$BUILD_DIR/bench/bench_parquet_write"

echo "== $ROWS rows x 8 columns, snappy, single-threaded, best of $REPEAT ($(nproc) cores, $(uname -m), load $(cut -d' ' -f1 /proc/loadavg))"
W="$("$BIN" "$ROWS" "$OUT_DIR/weir_bench_write.parquet" snappy "$REPEAT")"
echo "$W"
P="$("$PYTHON" "$ROOT/bench/parquet_write_pyarrow.py" "$ROWS" "$OUT_DIR/pyarrow_bench_write.parquet" snappy "$REPEAT")"
echo "$P"
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
awk -v wr="$(field "$W" rows_per_s)" -v pr="$(field "$P" rows_per_s)" \
    -v wc="$(field "$W" cpu_seconds)" -v pc="$(field "$P" cpu_seconds)" \
    -v wb="$(field "$W" output_bytes)" -v pb="$(field "$P" output_bytes)" \
    'BEGIN { printf "weir/pyarrow: speed %.2fx (wall, best run), %.2fx (CPU time), output size %.3fx (%+.1f%%)\n", wr/pr, pc/wc, wb/pb, (wb/pb-1)*100 }'
