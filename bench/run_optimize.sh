#!/usr/bin/env bash
# bench/run_optimize.sh - table maintenance: build a table of FILES small
# files (10 partitions, streamed in by a datagen pipeline), then compact a
# copy with `weir table optimize` and another copy with delta-rs
# (DeltaTable.optimize.compact) in the same run, and vacuum both. See
# bench/optimize_bench.py and docs/benchmarks.md.
#
#   bench/run_optimize.sh [FILES] [ROWS_PER_FILE]   (defaults 2000, 2000)
#   env: BUILD_DIR (default build/bench-release), PYTHON, JOBS, OUT_DIR (default /tmp/weir-bench-optimize)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
FILES="${1:-2000}"
ROWS="${2:-2000}"
OUT_DIR="${OUT_DIR:-/tmp/weir-bench-optimize}"

bench_build weir rss_exec
fresh_dir "$OUT_DIR"
exec "$PYTHON" "$ROOT/bench/optimize_bench.py" --weir "$BUILD_DIR/weir" --rss-exec "$BUILD_DIR/bench/rss_exec" --files "$FILES" --rows-per-file "$ROWS" \
    --out "$OUT_DIR"
