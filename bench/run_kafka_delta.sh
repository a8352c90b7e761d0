#!/usr/bin/env bash
# bench/run_kafka_delta.sh - Kafka -> Delta: build Release, start a local
# Apache Kafka broker (the test harness's), produce N JSON records of ~200
# bytes into 8 partitions, then measure in the same run, in ROUNDS rounds
# (one of each per round, every one timed as a whole process):
#   1. the raw consume rate of the topic (kafka_tool consume, a plain
#      librdkafka consumer, and `kcat -C -o beginning -e`);
#   2. weir run --available-now of a Kafka -> decode -> Delta pipeline with
#      default limits: records/s, MB/s, peak RSS; the row count is checked;
#   3. end-to-end latency at a 1 s trigger under a steady 50k records/s:
#      produce time (in each record) -> the Delta commit that made it visible
#      (the commit file's mtime), p50 / p99.
#
#   bench/run_kafka_delta.sh [records] [latency_seconds] [rounds]   (defaults 10000000, 30, 3)
#   env: BUILD_DIR (default build/bench-release), PYTHON, JOBS, OUT_DIR (default /tmp/weir-bench-kafka)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N="${1:-10000000}"
LAT_SECONDS="${2:-30}"
ROUNDS="${3:-3}"
OUT_DIR="${OUT_DIR:-/tmp/weir-bench-kafka}"

bench_build weir kafka_tool
fresh_dir "$OUT_DIR"
exec "$PYTHON" "$ROOT/bench/kafka_delta.py" --weir "$BUILD_DIR/weir" --kafka-tool "$BUILD_DIR/bench/kafka_tool" \
    --records "$N" --latency-seconds "$LAT_SECONDS" --rounds "$ROUNDS" --out "$OUT_DIR"
