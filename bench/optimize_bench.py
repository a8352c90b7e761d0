"""Compaction and vacuum of a table of many small files, weir next to
delta-rs in the same run (bench/run_optimize.sh).

The table: FILES / 10 micro-batches of a datagen pipeline (id LONG, user
STRING, amount DOUBLE, p = id % 10 as the partition column), so each batch
writes one small file per partition, as streaming ingestion does. Three
copies of it are compacted by `weir table optimize` (snappy, its and
Spark's default codec, and zstd) and one by delta-rs
(`DeltaTable.optimize.compact()`, which writes zstd), each in its own process, timed
wall-clock with its own peak RSS (through bench/rss_exec); then both are vacuumed with retention
0 (weir --force; delta-rs enforce_retention_duration=False). Both results
are checked: the same number of rows and the same sum of ids as before,
read by deltalake."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import deltalake


RSS_EXEC = None  # bench/rss_exec: peak RSS of the command alone, not of this interpreter's fork


def run(cmd):
    rss_file = f"/tmp/weir-bench-rss-{os.getpid()}"
    t0 = time.monotonic()
    p = subprocess.run([RSS_EXEC, rss_file, *cmd], capture_output=True, text=True)
    secs = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[:3]} failed ({p.returncode}): {p.stderr[-2000:]}")
    with open(rss_file) as f:
        rss_kb = int(f.read())
    os.unlink(rss_file)
    return secs, rss_kb / 1024.0, p.stdout


def data_bytes(table):
    return sum(f.stat().st_size for f in table.rglob("*.parquet") if "_delta_log" not in f.parts)


def check(table):
    t = deltalake.DeltaTable(str(table)).to_pyarrow_table(columns=["id"])
    ids = t.column("id").to_pylist()
    return len(ids), sum(ids)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--rss-exec", required=True)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--rows-per-file", type=int, default=2000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    global RSS_EXEC
    RSS_EXEC = a.rss_exec
    import pathlib
    out = pathlib.Path(a.out)
    base = out / "base"
    batches = a.files // 10
    rows = batches * 10 * a.rows_per_file
    cfg = {"pipelines": [{
        "name": "bulk", "checkpoint": str(out / "ckpt"),
        "source": {"datagen": {"schema": "id LONG, user STRING, amount DOUBLE", "seed": 1, "max_rows": rows,
                               "max_rows_per_trigger": rows // batches}},
        "transform": [{"select": ["*", "id % 10 AS p"]}],
        "sink": {"delta": {"path": str(base), "partition_by": ["p"]}}}]}
    (out / "bulk.json").write_text(json.dumps(cfg))
    secs, _, _ = run([a.weir, "--log-level", "warn", "run", str(out / "bulk.json"), "--available-now"])
    before = check(base)
    nfiles = len(deltalake.DeltaTable(str(base)).file_uris())
    in_bytes = data_bytes(base)
    print(f"== optimize: {nfiles} files, {rows} rows, {in_bytes / 1e6:.1f} MB in 10 partitions "
          f"(built in {secs:.1f} s; {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f})")
    results = {}
    for tool in ("weir", "weir-zstd", "delta-rs"):
        table = out / tool
        shutil.copytree(base, table)
        if tool.startswith("weir"):
            cmd = [a.weir, "--log-level", "warn", "table", "optimize", str(table), "--target-size", "128MB",
                   "--codec", "zstd" if tool == "weir-zstd" else "snappy"]
        else:
            code = textwrap.dedent(f"""
                import deltalake
                deltalake.DeltaTable({str(table)!r}).optimize.compact(target_size=128 * 1024 * 1024)
            """)
            cmd = [sys.executable, "-c", code]
        secs, rss, _ = run(cmd)
        after_files = len(deltalake.DeltaTable(str(table)).file_uris())
        if check(table) != before:
            sys.exit(f"{tool}: the rows changed: {check(table)} != {before}")
        if tool.startswith("weir"):
            vcmd = [a.weir, "--log-level", "warn", "table", "vacuum", str(table), "--retain", "0h", "--force"]
        else:
            vcmd = [sys.executable, "-c", f"import deltalake; deltalake.DeltaTable({str(table)!r}).vacuum("
                    "retention_hours=0, enforce_retention_duration=False, dry_run=False)"]
        vsecs, vrss, _ = run(vcmd)
        if check(table) != before:
            sys.exit(f"{tool}: vacuum changed the rows")
        results[tool] = secs
        print(f"{tool:9s} optimize {secs:6.2f} s  {rows / secs:12,.0f} rows/s  {in_bytes / 1e6 / secs:7.1f} MB/s  "
              f"peak RSS {rss:7.1f} MB  {nfiles} -> {after_files} files | vacuum {vsecs:5.2f} s, "
              f"peak RSS {vrss:6.1f} MB, {data_bytes(table) / 1e6:.1f} MB left")
    print(f"optimize speed vs delta-rs: weir {results['delta-rs'] / results['weir']:.2f}x, "
          f"weir with zstd (delta-rs's codec) {results['delta-rs'] / results['weir-zstd']:.2f}x")


if __name__ == "__main__":
    main()
