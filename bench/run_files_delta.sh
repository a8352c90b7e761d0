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
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MB="${1:-1000}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build/bench-release}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
JOBS="${JOBS:-2}"
OUT_DIR="${OUT_DIR:-/tmp/weir-bench-files}"

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DWEIR_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" --target weir kafka_tool >"$BUILD_DIR/bench-build.log" 2>&1
rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR"
exec "$PYTHON" "$ROOT/bench/files_delta.py" --weir "$BUILD_DIR/weir" --kafka-tool "$BUILD_DIR/bench/kafka_tool" \
    --mb "$MB" --out "$OUT_DIR"
