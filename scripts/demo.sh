#!/usr/bin/env bash
# scripts/demo.sh - weir in one minute: a datagen -> Delta pipeline.
#
# Writes a config with one pipeline (generated orders, a where filter, a
# select that derives a date column, a Delta table partitioned by day), runs
# it with `weir run --available-now` (ROWS rows in batches of BATCH), runs it
# again to show that a restart continues from the checkpoint (no new batch,
# nothing written twice), then reads the table back with `weir table scan`,
# deltalake (delta-rs) and DuckDB's delta extension and checks that all
# three return exactly the same rows, each id once.
#
# Needs scripts/setup.sh and scripts/build.sh first (`make demo` does both).
# DEMO_DIR=/some/dir keeps the files there (default: a new /tmp dir, kept so
# you can look at the table afterwards). ROWS=N changes the size (default 100000).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WEIR=${WEIR_BIN:-$ROOT/build/weir}
PY=$ROOT/.venv/bin/python
ROWS=${ROWS:-100000}
BATCH=${BATCH:-25000}
DIR=${DEMO_DIR:-$(mktemp -d /tmp/weir-demo.XXXXXX)}
TABLE=$DIR/orders

[[ -x $WEIR ]] || { echo "demo: $WEIR not built (run make build)" >&2; exit 1; }
[[ -x $PY ]] || { echo "demo: .venv missing (run scripts/setup.sh)" >&2; exit 1; }
rm -rf "$TABLE" "$DIR/checkpoint"
mkdir -p "$DIR"

cat >"$DIR/demo.json" <<EOF
{
  "pipelines": [{
    "name": "orders-demo",
    "checkpoint": "$DIR/checkpoint",
    "source": {"datagen": {"schema": "id LONG, user STRING, amount DOUBLE, ts TIMESTAMP",
                           "seed": 7, "max_rows": $ROWS, "max_rows_per_trigger": $BATCH}},
    "transform": [
      {"where": "amount >= 10"},
      {"select": ["id", "upper(user) AS user", "amount", "ts", "CAST(ts AS DATE) AS day"]}
    ],
    "sink": {"delta": {"path": "$TABLE", "partition_by": ["day"]}}
  }],
  "log": {"format": "text"}
}
EOF
echo "== config ($DIR/demo.json)"
cat "$DIR/demo.json"

echo
echo "== weir run --available-now"
"$WEIR" run "$DIR/demo.json" --available-now 2>"$DIR/run1.log"
grep -o 'progress=.*' "$DIR/run1.log" | "$PY" -c '
import json, sys
for line in sys.stdin:
    p = json.loads(line.split("=", 1)[1])
    print("  batch %d: %d rows in, %d written, %d ms" % (p["batchId"], p["numInputRows"],
          p["sink"]["numOutputRows"], p["durationMs"]["triggerExecution"]))'
echo "log:        $(cd "$TABLE/_delta_log" && ls *.json | tr '\n' ' ')"
echo "partitions: $(cd "$TABLE" && ls -d day=* | head -n 5 | tr '\n' ' ')..."

echo
echo "== weir run --available-now again: the checkpoint says everything is done"
"$WEIR" run "$DIR/demo.json" --available-now 2>"$DIR/run2.log"
if grep -q 'progress=' "$DIR/run2.log"; then
    echo "demo: FAILED - the second run wrote a batch" >&2
    exit 1
fi
echo "no new batch"

echo
echo "== weir table scan"
"$WEIR" table scan "$TABLE" >"$DIR/scan.jsonl"
head -n 3 "$DIR/scan.jsonl"

echo
WEIR_ROOT=$ROOT "$PY" - "$TABLE" "$DIR/scan.jsonl" "$ROWS" <<'EOF'
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["WEIR_ROOT"], "tests", "integration"))
import readers
from rows import canon_rows, to_rows

table, scan, nrows = sys.argv[1], sys.argv[2], int(sys.argv[3])
schema = [("id", "long"), ("user", "string"), ("amount", "double"), ("ts", "timestamp"), ("day", "date")]
results = {
    "weir scan": canon_rows([json.loads(l) for l in open(scan)], schema),
    "deltalake": canon_rows(to_rows(readers.read_deltalake(table)), schema),
    "duckdb": canon_rows(to_rows(readers.read_duckdb(table)), schema),
}
want = results["weir scan"]
ids = [json.loads(l)["id"] for l in open(scan)]
ok = len(ids) == len(set(ids)) and 0 < len(ids) < nrows and all(0 <= i < nrows for i in ids)
for name, rows in results.items():
    print(f"{name:10s} {len(rows)} rows")
    ok = ok and rows == want
if not ok:
    print("demo: MISMATCH between readers, or duplicate ids")
    sys.exit(1)
print(f"demo: OK - weir scan, deltalake and DuckDB return the same {len(want)} rows "
      f"({nrows} generated, amount >= 10 kept), each id once")
EOF
echo "(table kept in $TABLE)"
