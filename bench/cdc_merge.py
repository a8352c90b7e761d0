"""Change data MERGE benchmark driver (see bench/run_cdc_merge.sh).

A table of N rows (default 10M; id LONG 0..N-1, seq, name, city, amount,
qty) receives B batches of C changes each (default 5 x 100k): 70 % updates
of ids drawn uniformly from the live rows, 20 % inserts of new ids, 10 %
deletes; within a batch every id appears once (the easiest input for
Spark, whose MERGE refuses two source rows for one target row). Changes
are Parquet files, one per batch, with an `op` column ('c', 'u', 'd') and
a rising `seq`.

Measured in the same run, on the same starting table and the same files:

  weir    `weir run --available-now` of a files -> Delta pipeline in mode
          merge (keys id, sequence_by seq, apply_as_deletes op = 'd'), one
          file per batch; the whole process is timed (its start counts in
          the first batch), peak RSS from wait4.
  spark   PySpark + delta-spark: per batch, read the file and
          DeltaTable.merge(id = id) with whenMatchedDelete(op = 'd'),
          whenMatchedUpdate(all columns), whenNotMatchedInsert(op <> 'd');
          local[2], the session started before the clock runs (its JIT
          warm-up falls in the first batch); peak RSS is the JVM's VmHWM.

The starting table is made by weir (the N rows as inserts through the
same pipeline, so its state knows every key, as a replica's does) and
copied for Spark. Both final tables are read back and must hold the same
rows (count, sum of ids, sum of amounts, sum of qty). Printed per engine:
changes/s (over all batches, and over all but the first), MB/s of change
files, bytes rewritten per batch, peak RSS.

--keys uuid --updates recent is the case for weir's key -> file index:
keys are random 32-hex-digit strings (every file's min/max spans the key
space, so stats prune nothing) and the updates and deletes hit the newest
10 % of the rows (orders updated soon after they are placed). A third run,
weir-noindex, applies the same changes with a new checkpoint on a copy of
the starting table: its state knows no key, so it finds rows the way it
would without the index (stats, then the key columns of every file).
Per batch, weir prints the files it read and how many the index named."""
import argparse
import json
import os
import pathlib
import shutil
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "bench"))
from kafka_delta import run_measured  # noqa: E402

COLS = ["id", "seq", "name", "city", "amount", "qty"]
CITIES = np.array(["Paris", "Lyon", "Berlin", "Madrid", "Lisbon", "Oslo", "Rome", "Vienna"])


def uuid_keys(ids):
    """A random-looking 32-hex-digit key per id (a bijection: distinct ids, distinct keys)."""
    x = np.asarray(ids, dtype=np.uint64)
    h = x * np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(29)
    return np.char.add(np.char.mod("%016x", h), np.char.mod("%016x", x))


def change_table(rng, ids, ops, seq0, uuid=False):
    n = len(ids)
    return pa.table({
        "op": pa.array(ops),
        "id": pa.array(uuid_keys(ids)) if uuid else pa.array(ids, pa.int64()),
        "seq": pa.array(np.arange(seq0, seq0 + n, dtype=np.int64)),
        "name": pa.array([f"name-{x}" for x in rng.integers(0, 10**7, n)]),
        "city": pa.array(CITIES[rng.integers(0, len(CITIES), n)]),
        "amount": pa.array(np.round(rng.uniform(0, 10000, n), 2)),
        "qty": pa.array(rng.integers(1, 100, n, dtype=np.int32)),
    })


def make_inputs(a, out):
    """load/: the N starting rows in files of 1M; changes/: B change files."""
    rng = np.random.default_rng(7)
    load, changes = out / "src", out / "changes"
    load.mkdir()
    changes.mkdir()
    step = 1_000_000
    for i, lo in enumerate(range(0, a.rows, step)):
        ids = np.arange(lo, min(a.rows, lo + step), dtype=np.int64)
        pq.write_table(change_table(rng, ids, np.full(len(ids), "c"), lo, a.keys == "uuid"),
                       load / f"load-{i:04}.parquet")
    live = np.ones(a.rows + a.batches * a.changes, dtype=bool)
    live[a.rows:] = False
    next_id, seq = a.rows, a.rows
    nbytes = 0
    for b in range(a.batches):
        nu, ni = a.changes * 7 // 10, a.changes * 2 // 10
        nd = a.changes - nu - ni
        alive = np.flatnonzero(live[:next_id])
        if a.updates == "recent":  # the newest tenth of the live rows
            alive = alive[-max(len(alive) // 10, nu + nd):]
        picked = rng.choice(alive, nu + nd, replace=False)
        upd, dele = picked[:nu], picked[nu:]
        ins = np.arange(next_id, next_id + ni, dtype=np.int64)
        next_id += ni
        live[dele] = False
        live[ins] = True
        ids = np.concatenate([upd, ins, dele])
        ops = np.array(["u"] * nu + ["c"] * ni + ["d"] * nd)
        perm = rng.permutation(len(ids))
        path = changes / f"changes-{b:04}.parquet"
        pq.write_table(change_table(rng, ids[perm], ops[perm], seq, a.keys == "uuid"), path)
        seq += len(ids)
        nbytes += path.stat().st_size
    return load, changes, nbytes, int(live.sum())


def pipeline(out, name, src, table):
    p = {"name": name, "checkpoint": str(out / f"{name}-ckpt"),
         "source": {"files": {"path": str(src), "format": "parquet", "max_files_per_trigger": 1}},
         "sink": {"delta": {"path": str(table), "mode": "merge", "keys": ["id"], "sequence_by": ["seq"],
                            "apply_as_deletes": "op = 'd'", "except_columns": ["op"]}}}
    path = out / f"{name}.json"
    path.write_text(json.dumps({"pipelines": [p]}))
    return path


def progress(stderr_text):
    return [json.loads(l)["progress"] for l in stderr_text.splitlines() if '"msg":"progress"' in l]


def spark_session(out):
    import readers
    from pyspark.sql import SparkSession

    os.environ.setdefault("JAVA_HOME", readers._java_home())
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    return (SparkSession.builder.master("local[2]").appName("weir-bench-cdc")
            .config("spark.jars", ",".join(readers.delta_jars()))
            .config("spark.jars.ivy", str(out / "ivy"))
            .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
            .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "8g"))
            .getOrCreate())


def vm_hwm_mb(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmHWM:"):
            return int(l.split()[1]) / 1024.0
    return 0.0


def run_spark(a, out, changes, table):  # changes: the files, in order
    from delta.tables import DeltaTable

    t0 = time.monotonic()
    spark = spark_session(out)
    spark.sparkContext.setLogLevel("ERROR")
    jvm_pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    print(f"spark: session up in {time.monotonic() - t0:.1f}s (not counted)", flush=True)
    dt = DeltaTable.forPath(spark, str(table))
    cols = {c: f"s.{c}" for c in COLS}
    secs, rewritten = [], []
    for f in changes:
        t = time.monotonic()
        src = spark.read.parquet(str(f))
        (dt.alias("t").merge(src.alias("s"), "t.id = s.id")
         .whenMatchedDelete(condition="s.op = 'd'")
         .whenMatchedUpdate(set=cols)
         .whenNotMatchedInsert(condition="s.op <> 'd'", values=cols)
         .execute())
        secs.append(time.monotonic() - t)
        m = dt.history(1).select("operationMetrics").collect()[0][0]
        rewritten.append(int(m.get("numTargetBytesRemoved", 0)))
        print(f"spark: batch {len(secs) - 1}: {secs[-1]:.1f}s, rewrote {rewritten[-1] / 1e6:.0f} MB "
              f"(files removed {m.get('numTargetFilesRemoved')}, added {m.get('numTargetFilesAdded')})", flush=True)
    rss = vm_hwm_mb(jvm_pid)
    spark.stop()
    return secs, rewritten, rss


def run_weir(a, out, name="weir", cfg=None):
    cfg = cfg or out / "load.json"
    secs, rss, _, se, rc = run_measured([a.weir, "run", str(cfg), "--available-now"])
    se = se.decode()
    assert rc == 0, se[-3000:]
    prog = progress(se)
    assert len(prog) == a.batches, len(prog)
    m = [p["sink"]["metrics"] for p in prog]
    for i, (p, x) in enumerate(zip(prog, m)):
        print(f"{name}: batch {i}: {p['durationMs']['triggerExecution'] / 1000:.1f}s, rewrote "
              f"{x['numTargetBytesRewritten'] / 1e6:.0f} MB (files read {x['numTargetFilesRead']}, "
              f"{x['numTargetFilesReadByIndex']} by the key index; rewritten {x['numTargetFilesRewritten']}, "
              f"inserted {x['numTargetRowsInserted']}, updated {x['numTargetRowsUpdated']}, "
              f"deleted {x['numTargetRowsDeleted']})", flush=True)
    # the process's time less its batches' is its start; the first batch carries it
    batch = [p["durationMs"]["triggerExecution"] / 1000 for p in prog]
    batch[0] += max(0.0, secs - sum(batch))
    return batch, [x["numTargetBytesRewritten"] for x in m], rss


def summary(path, uuid):
    import readers
    con = readers.duckdb_connect()
    ids = "count(DISTINCT id)" if uuid else "sum(id)"
    try:
        return con.execute(f"SELECT count(*), {ids}, round(sum(amount), 2), sum(qty) "
                           f"FROM delta_scan('{path}')").fetchall()[0]
    finally:
        con.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--changes", type=int, default=100_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip-spark", action="store_true")
    ap.add_argument("--keys", choices=("int", "uuid"), default="int")
    ap.add_argument("--updates", choices=("uniform", "recent"), default="uniform")
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    load = open("/proc/loadavg").read().split()[0]
    print(f"== change data MERGE: {a.rows} rows, {a.batches} batches of {a.changes} changes "
          f"(70% updates, 20% inserts, 10% deletes; {a.keys} keys, {a.updates} updates) "
          f"({os.cpu_count()} cores, load {load})", flush=True)
    t0 = time.monotonic()
    load_dir, changes, nbytes, final_rows = make_inputs(a, out)
    print(f"inputs written in {time.monotonic() - t0:.1f}s; change files {nbytes / 1e6:.1f} MB", flush=True)

    base = out / "base"
    t0 = time.monotonic()
    cfg = pipeline(out, "load", load_dir, base)  # the same config applies the changes later
    secs, rss, _, se, rc = run_measured([a.weir, "run", str(cfg), "--available-now"])
    assert rc == 0, se.decode()[-3000:]
    size = sum(f.stat().st_size for f in base.glob("*.parquet"))
    print(f"starting table: {a.rows} rows, {len(list(base.glob('*.parquet')))} files, {size / 1e6:.0f} MB, "
          f"loaded by weir in {secs:.1f}s (peak RSS {rss:.0f} MB)", flush=True)
    # weir goes on with the load's pipeline (its state knows every key,
    # as a replica's does): the change files arrive in its source directory.
    weir_table, spark_table = out / "weir-table", out / "spark-table"
    shutil.copytree(base, spark_table)
    if a.keys == "uuid":
        shutil.copytree(base, out / "weir-noindex-table")
    for f in sorted(changes.glob("*.parquet")):
        os.rename(f, load_dir / f.name)
        os.utime(load_dir / f.name)
        time.sleep(0.01)

    n = a.batches * a.changes
    w_secs, w_rew, w_rss = run_weir(a, out)
    base.rename(weir_table)
    results = [("weir", w_secs, w_rew, w_rss)]
    if a.keys == "uuid":  # the same changes, a state that knows no key
        ni_src = out / "noindex-src"
        ni_src.mkdir()
        for f in sorted(load_dir.glob("changes-*.parquet")):
            shutil.copy(f, ni_src / f.name)
            time.sleep(0.01)
        cfg = pipeline(out, "noindex", ni_src, out / "weir-noindex-table")
        results.append(("weir-noindex", *run_weir(a, out, "weir-noindex", cfg)))
    if not a.skip_spark:
        s_secs, s_rew, s_rss = run_spark(a, out, sorted(load_dir.glob("changes-*.parquet")), spark_table)
        results.append(("spark", s_secs, s_rew, s_rss))
    for impl, batch, rew, rss in results:
        secs = sum(batch)
        later = sum(batch[1:]) if len(batch) > 1 else secs
        print(f"impl={impl} changes={n} seconds={secs:.2f} changes_per_s={n / secs:.0f} "
              f"changes_per_s_after_first={(n - a.changes) / later if len(batch) > 1 else n / secs:.0f} "
              f"mb_per_s={nbytes / secs / 1e6:.2f} rewritten_mb_per_batch={sum(rew) / len(rew) / 1e6:.0f} "
              f"peak_rss_mb={rss:.0f}", flush=True)
    want = None
    for impl, *_ in results:
        got = summary(out / f"{impl}-table", a.keys == "uuid")
        assert got[0] == final_rows, (impl, got, final_rows)
        assert want is None or got == want, (impl, got, want)
        want = got
    print(f"tables agree: {want[0]} rows, sum(id) {want[1]}, sum(amount) {want[2]}, sum(qty) {want[3]}")
    if not a.skip_spark:
        (_, w, _, _), (_, s, _, _) = results[0], results[-1]
        print(f"weir/spark changes_per_s ratio: {sum(s) / sum(w):.2f}x (all batches), "
              f"{sum(s[1:]) / max(sum(w[1:]), 1e-9):.2f}x (after the first, which carries start and warm-up)",
              flush=True)


if __name__ == "__main__":
    main()
