"""Acceptance 2: tables written by deltalake (delta-rs) and by PySpark +
delta-spark, with appends, overwrites and deletes that leave remove actions,
checkpoints and partitions, are scanned by `weir table scan` exactly as the
writer's own reader sees them. Also every real table in ../shared/testdata:
weir either reads it identically or refuses it naming the unsupported
feature that the table really uses."""
import json
import os
import pathlib

import pytest

from rows import canon_rows, schema_from_delta_json, to_rows

TESTDATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "testdata"


def weir_scan(run_weir, path, *extra):
    r = run_weir("table", "scan", str(path), *extra)
    return r, ([json.loads(l) for l in r.stdout.splitlines() if l.strip()] if r.returncode == 0 else None)


def delta_schema(deltalake_module, path, version=None):
    dt = deltalake_module.DeltaTable(str(path), version=version)
    return schema_from_delta_json(dt.schema().to_json()), dt


def protocol_of(path):
    """Latest protocol action in the log (checkpoint-free scan of JSON commits,
    falling back to the checkpoint through deltalake)."""
    proto = None
    log = pathlib.Path(path) / "_delta_log"
    for f in sorted(log.glob("*.json")):
        for line in f.read_text().splitlines():
            if line.strip():
                a = json.loads(line)
                if "protocol" in a:
                    proto = a["protocol"]
    return proto


def test_deltalake_written_table(tmp_path, run_weir):
    import deltalake
    import pyarrow as pa

    path = tmp_path / "dl"
    t1 = pa.table({"id": pa.array(range(100), pa.int64()),
                   "part": pa.array([f"p{i % 3}" for i in range(100)]),
                   "v": pa.array([i * 0.5 if i % 7 else None for i in range(100)])})
    deltalake.write_deltalake(str(path), t1, partition_by=["part"])
    for k in range(1, 12):  # enough commits for a checkpoint
        t = pa.table({"id": pa.array(range(100 * k, 100 * k + 10), pa.int64()),
                      "part": pa.array([f"p{i % 3}" for i in range(10)]),
                      "v": pa.array([float(i) for i in range(10)])})
        deltalake.write_deltalake(str(path), t, mode="append")
    dt = deltalake.DeltaTable(str(path))
    dt.delete("id < 50")                       # rewrite: remove + add actions
    dt.create_checkpoint()
    deltalake.write_deltalake(str(path), t1.slice(0, 5), mode="append")
    dt = deltalake.DeltaTable(str(path))
    log = "".join(p.read_text() for p in (path / "_delta_log").glob("*.json"))
    assert '"remove"' in log
    assert list((path / "_delta_log").glob("*.checkpoint.parquet"))
    schema = schema_from_delta_json(dt.schema().to_json())
    want = canon_rows(to_rows(dt.to_pyarrow_table()), schema)
    r, got = weir_scan(run_weir, path)
    assert r.returncode == 0, r.stderr
    assert canon_rows(got, schema) == want
    # overwrite leaves only the new rows
    deltalake.write_deltalake(str(path), t1.slice(10, 20), mode="overwrite")
    r, got = weir_scan(run_weir, path)
    assert r.returncode == 0, r.stderr
    assert canon_rows(got, schema) == canon_rows(to_rows(t1.slice(10, 20)), schema)


def test_spark_written_table(tmp_path, run_weir, spark):
    from pyspark.sql import functions as F

    path = str(tmp_path / "sp")
    df = spark.range(0, 300).select(
        F.col("id"),
        (F.col("id") % 4).cast("string").alias("part"),
        (F.col("id") * 1.25).alias("amount"),
        F.when(F.col("id") % 5 == 0, None).otherwise(F.concat(F.lit("u"), F.col("id"))).alias("user"),
        F.to_date(F.lit("2024-02-29")).alias("day"),
        F.struct(F.col("id").alias("a"), F.lit("x").alias("b")).alias("st"),
        F.array(F.col("id"), F.col("id") + 1).alias("arr"),
        F.create_map(F.lit("k"), F.col("id")).alias("m"),
        F.lit("12.34").cast("decimal(12,2)").alias("dec"),
        F.to_timestamp(F.lit("2024-01-02 03:04:05.678901")).alias("ts"),
    )
    df.write.format("delta").partitionBy("part").save(path)
    for k in range(11):
        spark.range(1000 + k * 10, 1010 + k * 10).select(
            F.col("id"), F.lit("9").alias("part"), (F.col("id") * 2.0).alias("amount"),
            F.lit(None).cast("string").alias("user"), F.to_date(F.lit("2000-01-01")).alias("day"),
            F.struct(F.col("id").alias("a"), F.lit(None).cast("string").alias("b")).alias("st"),
            F.array().cast("array<bigint>").alias("arr"),
            F.create_map().cast("map<string,bigint>").alias("m"),
            F.lit(None).cast("decimal(12,2)").alias("dec"),
            F.lit(None).cast("timestamp").alias("ts"),
        ).write.format("delta").mode("append").save(path)
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id % 10 = 3")
    spark.sql(f"UPDATE delta.`{path}` SET amount = -1 WHERE id < 20")
    files = os.listdir(os.path.join(path, "_delta_log"))
    assert any(f.endswith(".checkpoint.parquet") for f in files)
    log = "".join(open(os.path.join(path, "_delta_log", f)).read() for f in files if f.endswith(".json"))
    assert '"remove"' in log

    import deltalake
    schema = schema_from_delta_json(deltalake.DeltaTable(path).schema().to_json())
    want = canon_rows(to_rows(spark.read.format("delta").load(path).collect()), schema)
    r, got = weir_scan(run_weir, path)
    assert r.returncode == 0, r.stderr
    assert canon_rows(got, schema) == want
    # time travel to version 0 equals Spark's view of version 0
    want0 = canon_rows(to_rows(spark.read.format("delta").option("versionAsOf", 0).load(path).collect()), schema)
    r, got0 = weir_scan(run_weir, path, "--version", "0")
    assert r.returncode == 0, r.stderr
    assert canon_rows(got0, schema) == want0


DAT = sorted(p.name for p in (TESTDATA / "dat-reader-tests").iterdir() if p.is_dir())


@pytest.mark.parametrize("name", DAT)
def test_dat_expected_rows(name, run_weir):
    import pyarrow.parquet as pq

    root = TESTDATA / "dat-reader-tests" / name
    versions = sorted((root / "expected").iterdir())
    assert versions
    for vdir in versions:
        meta = json.loads((vdir / "table_version_metadata.json").read_text())
        version = meta["version"]
        want_table = pq.read_table(vdir / "table_content.parquet")
        r, got = weir_scan(run_weir, root / "delta", "--version", str(version))
        assert r.returncode == 0, f"{name} v{version}: {r.stderr}"
        import deltalake
        schema, _ = delta_schema(deltalake, root / "delta", version)
        assert canon_rows(got, schema) == canon_rows(to_rows(want_table), schema), f"{name} v{version}"


# Reader features weir does not read yet; a table that needs one must be
# refused with the feature's name. deletionVectors is refused only when a
# live file really has a deletion vector; a table that merely lists the
# feature is read, and its rows must then equal the reference reader's.
UNSUPPORTED_READ = {"columnMapping", "v2Checkpoint", "variantType",
                    "variantType-preview", "variantShredding-preview"}
TABLES = sorted(p.name for p in (TESTDATA / "delta-rs-tables").iterdir() if (p / "_delta_log").is_dir())


def reference_rows(dt, path, schema, read_duckdb):
    """Rows from deltalake, or from DuckDB's kernel-based reader for the
    tables deltalake declines: it does not read deletion vectors, and it
    cannot convert INT96 timestamps outside the int64-nanosecond range."""
    import deltalake
    import pyarrow as pa

    try:
        return canon_rows(to_rows(dt.to_pyarrow_table()), schema)
    except (deltalake.exceptions.DeltaProtocolError, pa.ArrowInvalid):
        import duckdb

        try:
            return canon_rows(to_rows(read_duckdb(str(path))), schema)
        except duckdb.IOException as e:
            if "No such file" in str(e):
                raise FileNotFoundError(str(e)) from e
            raise


@pytest.mark.parametrize("name", TABLES)
def test_delta_rs_testdata(name, run_weir, read_duckdb):
    import deltalake

    path = TESTDATA / "delta-rs-tables" / name
    r, got = weir_scan(run_weir, path)
    try:
        dt = deltalake.DeltaTable(str(path))
    except deltalake.exceptions.DeltaError as e:
        # The reference rejects the table itself (an invalid protocol):
        # weir must refuse it too, with an error, not read it.
        assert r.returncode == 1 and "error" in r.stderr, (str(e), r.stderr)
        return
    needed = set(dt.protocol().reader_features or [])
    if dt.metadata().configuration.get("delta.columnMapping.mode", "none") != "none":
        needed.add("columnMapping")
    if r.returncode != 0 and needed and "does not support" in r.stderr:
        assert r.returncode == 1, r.stderr
        named = [f for f in needed if f"'{f}'" in r.stderr]
        assert named, f"{name}: weir refused without naming a feature the table uses: {r.stderr}"
        assert set(named) & (UNSUPPORTED_READ | {"deletionVectors"}), r.stderr
        return
    assert r.returncode != 0 or not (needed & UNSUPPORTED_READ), \
        f"{name}: read a table needing {needed & UNSUPPORTED_READ}"
    schema = schema_from_delta_json(dt.schema().to_json())
    try:
        want = reference_rows(dt, path, schema, read_duckdb)
    except FileNotFoundError:
        # A log-only fixture: weir must agree with the reference about the
        # snapshot and fail the scan naming a missing data file.
        d = run_weir("table", "describe", "--json", str(path))
        assert d.returncode == 0, d.stderr
        info = json.loads(d.stdout)
        assert (info["version"], info["numFiles"]) == (dt.version(), len(dt.file_uris()))
        assert r.returncode == 1 and "No such file" in r.stderr, r.stderr
        assert any(os.path.basename(u) in r.stderr for u in dt.file_uris()), r.stderr
        return
    assert r.returncode == 0, f"{name}: {r.stderr}"
    assert canon_rows(got, schema) == want, name
