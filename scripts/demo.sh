#!/usr/bin/env bash
# scripts/demo.sh - weir in one minute: generate sample JSON lines, import
# them into a partitioned Delta table with `weir table import` (two commits),
# then read the table back with `weir table scan`, deltalake (delta-rs) and
# DuckDB's delta extension, print a few rows and counts from each and check
# that all three return exactly the same rows.
#
# Needs scripts/setup.sh and scripts/build.sh first (`make demo` does both).
# DEMO_DIR=/some/dir keeps the files there (default: a new /tmp dir, kept so
# you can look at the table afterwards). ROWS=N changes the size (default 1000).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WEIR=${WEIR_BIN:-$ROOT/build/weir}
PY=$ROOT/.venv/bin/python
ROWS=${ROWS:-1000}
DIR=${DEMO_DIR:-$(mktemp -d /tmp/weir-demo.XXXXXX)}
TABLE=$DIR/orders
SCHEMA="id LONG, user STRING, amount DECIMAL(10,2), qty INT, ts TIMESTAMP, day DATE, tags ARRAY<STRING>"

[[ -x $WEIR ]] || { echo "demo: $WEIR not built (run make build)" >&2; exit 1; }
[[ -x $PY ]] || { echo "demo: .venv missing (run scripts/setup.sh)" >&2; exit 1; }
rm -rf "$TABLE"
mkdir -p "$DIR"

echo "== generating $ROWS orders as JSON lines in $DIR"
"$PY" - "$DIR" "$ROWS" <<'EOF'
import datetime as dt, json, random, sys
out, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
users = ["ana", "bo", "chen", "dede", "émile", None]
t0 = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
half = n // 2
for name, ids in (("orders-1.jsonl", range(0, half)), ("orders-2.jsonl", range(half, n))):
    with open(f"{out}/{name}", "w") as f:
        for i in ids:
            ts = t0 + dt.timedelta(seconds=rnd.randrange(0, 3 * 86400), microseconds=rnd.randrange(10**6))
            f.write(json.dumps({
                "id": i, "user": rnd.choice(users),
                "amount": f"{rnd.randrange(1, 100000) / 100:.2f}",
                "qty": rnd.randrange(1, 10),
                "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "day": ts.date().isoformat(),
                "tags": rnd.sample(["new", "gift", "express", "bulk"], rnd.randrange(0, 3)),
            }, ensure_ascii=False) + "\n")
EOF
head -n 2 "$DIR/orders-1.jsonl"

echo
echo "== weir table import (commit 0 creates the table, commit 1 appends)"
"$WEIR" table import "$TABLE" --format jsonl "$DIR/orders-1.jsonl" --schema "$SCHEMA" --partition-by day
"$WEIR" table import "$TABLE" --format jsonl "$DIR/orders-2.jsonl"
echo "log:        $(cd "$TABLE/_delta_log" && ls | tr '\n' ' ')"
echo "partitions: $(cd "$TABLE" && ls -d day=* | tr '\n' ' ')"

echo
echo "== weir table scan"
"$WEIR" table scan "$TABLE" >"$DIR/scan.jsonl"
head -n 3 "$DIR/scan.jsonl"
echo "rows: $(wc -l <"$DIR/scan.jsonl")"

echo
WEIR_ROOT=$ROOT "$PY" - "$TABLE" "$DIR/scan.jsonl" "$DIR/orders-1.jsonl" "$DIR/orders-2.jsonl" <<'EOF'
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["WEIR_ROOT"], "tests", "integration"))
import readers
from rows import canon_rows, to_rows

table, scan = sys.argv[1], sys.argv[2]
schema = [("id", "long"), ("user", "string"), ("amount", ("decimal", 10, 2)), ("qty", "integer"),
          ("ts", "timestamp"), ("day", "date"), ("tags", ("array", "string"))]
cols = [c for c, _ in schema]

def show(name, table_rows):
    print(f"== {name}")
    for r in table_rows[:3]:
        print("  ", {c: (str(r[c]) if r[c] is not None and c in ("amount", "ts", "day") else r[c]) for c in cols})
    print(f"rows: {len(table_rows)}")
    print()

dl = to_rows(readers.read_deltalake(table))
show("deltalake (delta-rs)", sorted(dl, key=lambda r: r["id"]))
duck = to_rows(readers.read_duckdb(table))
show("DuckDB delta_scan", sorted(duck, key=lambda r: r["id"]))

given = [json.loads(l) for f in sys.argv[3:] for l in open(f)]
want = canon_rows(given, schema)
results = {"weir scan": canon_rows([json.loads(l) for l in open(scan)], schema),
           "deltalake": canon_rows(dl, schema), "duckdb": canon_rows(duck, schema)}
bad = [k for k, v in results.items() if v != want]
if bad:
    for k in bad:
        extra = set(results[k]) - set(want)
        missing = set(want) - set(results[k])
        print(f"MISMATCH {k}: {len(results[k])} rows, {len(missing)} missing, {len(extra)} unexpected")
        for r in list(missing)[:2]:
            print("   missing:   ", r)
        for r in list(extra)[:2]:
            print("   unexpected:", r)
    sys.exit(1)
print(f"demo: OK - weir scan, deltalake and DuckDB return the same {len(want)} rows as the input")
EOF
echo "(table kept in $TABLE)"
