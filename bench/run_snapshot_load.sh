#!/usr/bin/env bash
# bench/run_snapshot_load.sh - build a Delta table of N commits with weir's
# writer (one 1-row file per commit, checkpoint every 10 commits), then time
# the latest-snapshot load in weir and in delta-rs (Python deltalake).
#
#   bench/run_snapshot_load.sh [commits] [repeat]   (defaults 10000, 5)
#   env: BUILD_DIR (default build/bench-release), PYTHON (default .venv/bin/python,
#        needs deltalake), JOBS (default 2), TABLE (default /tmp/weir_bench_snapshot_<N>;
#        reused if it already has N commits)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
N="${1:-10000}"
REPEAT="${2:-5}"
TABLE="${TABLE:-/tmp/weir_bench_snapshot_$N}"

bench_build bench_snapshot_load
BIN="$BUILD_DIR/bench/bench_snapshot_load"

last="$(printf '%s/_delta_log/%020d.json' "$TABLE" $((N - 1)))"
if [ ! -f "$last" ]; then
  rm -rf "$TABLE"
  echo "== building $N commits in $TABLE"
  "$BIN" build "$TABLE" "$N" 2>/dev/null
fi
echo "== snapshot load, $N commits, best of $REPEAT ($(nproc) cores, $(uname -m), load $(cut -d' ' -f1 /proc/loadavg))"
"$BIN" load "$TABLE" "$REPEAT"
"$PYTHON" "$ROOT/bench/snapshot_load_deltars.py" "$TABLE" "$REPEAT"
