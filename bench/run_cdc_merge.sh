#!/usr/bin/env bash
# bench/run_cdc_merge.sh - change data MERGE: build Release, write a table of
# ROWS rows and BATCHES Parquet files of CHANGES changes each (70 % updates,
# 20 % inserts, 10 % deletes), then apply them in the same run with weir
# (files -> Delta in mode merge) and with PySpark + delta-spark MERGE, on
# copies of the same starting table; twice: integer keys and uniform
# updates, then random string keys and updates of recent rows (plus weir
# without its key index). See bench/cdc_merge.py.
#
#   bench/run_cdc_merge.sh [rows] [batches] [changes]   (defaults 10000000, 5, 100000)
#   env: BUILD_DIR (default build/bench-release), PYTHON, JOBS, OUT_DIR (default /tmp/weir-bench-cdc),
#        SPARK_DRIVER_MEMORY (default 8g)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ROWS="${1:-10000000}"
BATCHES="${2:-5}"
CHANGES="${3:-100000}"
OUT_DIR="${OUT_DIR:-/tmp/weir-bench-cdc}"

bench_build weir
# two workloads: integer keys with uniform updates, then random string
# keys with updates of recent rows (where the key -> file index matters)
for variant in "--keys int --updates uniform" "--keys uuid --updates recent"; do
    fresh_dir "$OUT_DIR"
    # shellcheck disable=SC2086
    "$PYTHON" "$ROOT/bench/cdc_merge.py" --weir "$BUILD_DIR/weir" --rows "$ROWS" --batches "$BATCHES" \
        --changes "$CHANGES" --out "$OUT_DIR" $variant
done
