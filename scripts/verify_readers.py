#!/usr/bin/env python3
"""Offline check of the three Delta readers the tests rely on.

Run by scripts/setup.sh (inside a network namespace with only loopback when
it can make one), so it proves that nothing is fetched at run time:
  1. deltalake writes a small partitioned table;
  2. DuckDB runs `LOAD delta` (from the project's extension directory,
     installed from the duckdb-extension-delta wheel) and `delta_scan`s it;
  3. a local[1] SparkSession with spark.jars = .deps/jars reads it, writes a
     Delta table of its own, and deltalake and DuckDB read that back.
Prints one line per reader; exits 1 on the first failure.
"""
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "integration"))
import readers  # noqa: E402


def main():
    import deltalake
    import pyarrow as pa

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="weir-verify-"))
    src = pa.table({"id": pa.array(range(10), pa.int64()),
                    "name": [f"n{i}" for i in range(10)],
                    "part": [f"p{i % 2}" for i in range(10)]})
    want = readers.normalize(src, ["id", "name", "part"])
    t0 = time.time()
    deltalake.write_deltalake(str(tmp / "dl"), src, partition_by=["part"])
    got = readers.normalize(readers.read_deltalake(tmp / "dl"), ["id", "name", "part"])
    assert got == want, f"deltalake read back {got}"
    print(f"deltalake {deltalake.__version__}: write+read ok ({time.time() - t0:.1f}s)")

    t0 = time.time()
    import duckdb
    con = readers.duckdb_connect()
    loaded = con.execute("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'delta'").fetchall()
    assert loaded == [(True,)], f"delta extension not loaded: {loaded}"
    got = readers.normalize(readers.read_duckdb(tmp / "dl", con), ["id", "name", "part"])
    assert got == want, f"duckdb delta_scan returned {got}"
    print(f"duckdb {duckdb.__version__}: LOAD delta + delta_scan ok ({time.time() - t0:.1f}s)")

    t0 = time.time()
    spark = readers.spark_session(tmp / "spark")
    try:
        got = readers.normalize(readers.read_spark(spark, tmp / "dl"), ["id", "name", "part"])
        assert got == want, f"spark read {got}"
        spark.range(0, 7).selectExpr("id", "concat('s', id) AS name", "'px' AS part") \
            .write.format("delta").partitionBy("part").save(str(tmp / "sp"))
        want_sp = [(i, f"s{i}", "px") for i in range(7)]
        assert readers.normalize(readers.read_deltalake(tmp / "sp"), ["id", "name", "part"]) == want_sp
        assert readers.normalize(readers.read_duckdb(tmp / "sp"), ["id", "name", "part"]) == want_sp
        print(f"pyspark {spark.version} + delta jars {', '.join(p.rsplit('/', 1)[1] for p in readers.delta_jars())}:"
              f" read+write ok ({time.time() - t0:.1f}s)")
    finally:
        spark.stop()


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report one line, full detail above it
        import traceback
        traceback.print_exc()
        print(f"verify_readers: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
