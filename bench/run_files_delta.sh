#!/usr/bin/env bash
# bench/run_files_delta.sh - files -> Delta: build Release, write MB megabytes
# of JSON lines (the usual ~200-byte records) as 64 files, then measure in the
# same run `cat` of the files next to weir reading them from the local file
# system, and a plain parallel GET next to weir reading them from a local S3
# server (moto). See bench/files_delta.py and docs/benchmarks.md.
#
#   bench/run_files_delta.sh [MB]   (default 1000)
#   env: BUILD_DIR (default build/bench-release), PYTHON, JOBS, OUT_DIR (default /tmp/weir-bench-files)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
MB="${1:-1000}"
OUT_DIR="${OUT_DIR:-/tmp/weir-bench-files}"

bench_build weir kafka_tool
fresh_dir "$OUT_DIR"
exec "$PYTHON" "$ROOT/bench/files_delta.py" --weir "$BUILD_DIR/weir" --kafka-tool "$BUILD_DIR/bench/kafka_tool" \
    --mb "$MB" --out "$OUT_DIR"
