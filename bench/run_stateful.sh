#!/usr/bin/env bash
# bench/run_stateful.sh - stateful Kafka -> Delta: build Release, start a
# local Apache Kafka broker (the test harness's), produce N JSON records
# (30 % duplicates by id, 100k users) into 8 partitions, then measure in the
# same run the stateless pipeline (the reference), a dedup, a 1-minute
# tumbling count/sum by user, and the restart time after a SIGKILL with N
# keys in state. See bench/stateful_bench.py.
#
#   bench/run_stateful.sh [records]   (default 10000000)
#   env: BUILD_DIR (default build/bench-release), PYTHON, JOBS, OUT_DIR (default /tmp/weir-bench-stateful),
#        ROUNDS (default 3: the three pipelines run in turn, this many times)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N="${1:-10000000}"
OUT_DIR="${OUT_DIR:-/tmp/weir-bench-stateful}"
ROUNDS="${ROUNDS:-3}"

bench_build weir kafka_tool
fresh_dir "$OUT_DIR"
exec "$PYTHON" "$ROOT/bench/stateful_bench.py" --weir "$BUILD_DIR/weir" --kafka-tool "$BUILD_DIR/bench/kafka_tool" \
    --records "$N" --rounds "$ROUNDS" --out "$OUT_DIR"
