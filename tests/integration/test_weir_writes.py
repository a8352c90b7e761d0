"""Acceptance 1: tables written by weir read back identically with deltalake,
DuckDB's delta extension and PySpark + delta-spark, compared as whole row
sets against the rows weir was given (and against `weir table scan`)."""
import base64
import datetime as dt
import json
import os
import random
import re

import pytest

from rows import canon_rows, to_rows

SCHEMA = [
    ("b", "boolean"),
    ("i8", "byte"),
    ("i16", "short"),
    ("i32", "integer"),
    ("i64", "long"),
    ("f32", "float"),
    ("f64", "double"),
    ("dec", ("decimal", 10, 2)),
    ("dec38", ("decimal", 38, 6)),
    ("s", "string"),
    ("bin", "binary"),
    ("d", "date"),
    ("ts", "timestamp"),
    ("st", ("struct", [("a", "integer"), ("b", "string")])),
    ("arr", ("array", "long")),
    ("m", ("map", "string", "integer")),
    ("arr_st", ("array", ("struct", [("x", "double"), ("y", "string")]))),
    ("p", "string"),
]
DDL = (
    "b BOOLEAN, i8 BYTE, i16 SHORT, i32 INT, i64 LONG, f32 FLOAT, f64 DOUBLE, "
    "dec DECIMAL(10,2), dec38 DECIMAL(38,6), s STRING, bin BINARY, d DATE, ts TIMESTAMP, "
    "st STRUCT<a: INT, b: STRING>, arr ARRAY<LONG>, m MAP<STRING, INT>, "
    "arr_st ARRAY<STRUCT<x: DOUBLE, y: STRING>>, p STRING"
)
PARTITIONS = ["a", "b c", "x/y=z%", "ünï", None, ""]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _maybe(rnd, v, p=0.15):
    return None if rnd.random() < p else v


def make_row(rnd, i):
    ts = EPOCH + dt.timedelta(microseconds=rnd.randrange(-2 * 10**15, 4 * 10**15))
    day = dt.date(1970, 1, 1) + dt.timedelta(days=rnd.randrange(-40000, 60000))
    return {
        "b": _maybe(rnd, rnd.random() < 0.5),
        "i8": _maybe(rnd, rnd.randrange(-128, 128)),
        "i16": _maybe(rnd, rnd.randrange(-32768, 32768)),
        "i32": _maybe(rnd, rnd.randrange(-2**31, 2**31)),
        "i64": _maybe(rnd, rnd.randrange(-2**63, 2**63)),
        # float32-exact values so every reader agrees on the value
        "f32": _maybe(rnd, rnd.randrange(-2**20, 2**20) / 8.0),
        "f64": _maybe(rnd, rnd.uniform(-1e12, 1e12)),
        "dec": _maybe(rnd, f"{rnd.randrange(-10**9, 10**9) / 100:.2f}"),
        "dec38": _maybe(rnd, f"{rnd.randrange(-10**31, 10**31)}.{rnd.randrange(10**6):06d}"),
        "s": _maybe(rnd, rnd.choice(["", "plain", "ünïcödé ✓", "tab\there", "quote\"s", f"row-{i}"])),
        "bin": _maybe(rnd, base64.b64encode(bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 9)))).decode()),
        "d": _maybe(rnd, day.isoformat()),
        "ts": _maybe(rnd, ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
        "st": _maybe(rnd, {"a": _maybe(rnd, rnd.randrange(-1000, 1000)), "b": _maybe(rnd, f"s{i}")}),
        "arr": _maybe(rnd, [_maybe(rnd, rnd.randrange(-10**12, 10**12), 0.1) for _ in range(rnd.randrange(0, 4))]),
        "m": _maybe(rnd, {f"k{j}": _maybe(rnd, j * i % 1000, 0.2) for j in range(rnd.randrange(0, 3))}),
        "arr_st": _maybe(rnd, [_maybe(rnd, {"x": rnd.random(), "y": _maybe(rnd, f"y{j}")}, 0.1)
                               for j in range(rnd.randrange(0, 3))]),
        "p": rnd.choice(PARTITIONS),
    }


def expected(rows):
    # Delta stores an empty partition value as null.
    fixed = [dict(r, p=(r["p"] or None)) for r in rows]
    return canon_rows(fixed, SCHEMA)


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def scan_weir(run_weir, table, *extra):
    r = run_weir("table", "scan", str(table), *extra)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def partitioned_table(tmp_path_factory, run_weir):
    """55 commits of 20 rows each into a table partitioned by p."""
    rnd = random.Random(42)
    root = tmp_path_factory.mktemp("weir_writes")
    table = root / "all_types"
    rows = []
    for c in range(55):
        batch = [make_row(rnd, c * 20 + k) for k in range(20)]
        rows += batch
        src = root / f"in{c}.jsonl"
        write_jsonl(src, batch)
        args = ["table", "import", str(table), "--format", "jsonl", str(src)]
        if c == 0:
            args += ["--schema", DDL, "--partition-by", "p"]
        r = run_weir(*args)
        assert r.returncode == 0, f"commit {c}: {r.stderr}"
    return table, rows


def test_log_has_55_commits_and_checkpoints(partitioned_table):
    table, _ = partitioned_table
    log = sorted(os.listdir(table / "_delta_log"))
    commits = [f for f in log if f.endswith(".json") and len(f) == 25]
    assert commits == [f"{v:020d}.json" for v in range(55)]
    cps = [f for f in log if f.endswith(".checkpoint.parquet")]
    assert cps == [f"{v:020d}.checkpoint.parquet" for v in (10, 20, 30, 40, 50)]
    last = json.loads((table / "_delta_log" / "_last_checkpoint").read_text())
    assert last["version"] == 50
    # Hive-style partition directories, null as the Hive default partition
    dirs = {d for d in os.listdir(table) if not d.startswith("_")}
    assert "p=__HIVE_DEFAULT_PARTITION__" in dirs and "p=a" in dirs
    # plain appends need the lowest protocol; files are named like Spark's
    actions = [json.loads(l) for l in (table / "_delta_log" / commits[0]).read_text().splitlines()]
    assert next(a["protocol"] for a in actions if "protocol" in a) == {"minReaderVersion": 1, "minWriterVersion": 2}
    assert list(actions[0]) == ["commitInfo"]
    adds = [a["add"] for a in actions if "add" in a]
    assert adds and all(re.fullmatch(r"p=[^/]+/part-\d{5}-[0-9a-f-]{36}-c000\.snappy\.parquet", a["path"]) for a in adds)
    for a in adds:  # partition values: null and empty string are both JSON null
        assert a["partitionValues"]["p"] in PARTITIONS and a["partitionValues"]["p"] != ""


def test_weir_scan_matches_input(partitioned_table, run_weir):
    table, rows = partitioned_table
    assert canon_rows(scan_weir(run_weir, table), SCHEMA) == expected(rows)


def test_deltalake_reads_weir_table(partitioned_table, read_deltalake):
    table, rows = partitioned_table
    assert canon_rows(to_rows(read_deltalake(str(table))), SCHEMA) == expected(rows)


def test_duckdb_reads_weir_table(partitioned_table, read_duckdb):
    table, rows = partitioned_table
    assert canon_rows(to_rows(read_duckdb(str(table))), SCHEMA) == expected(rows)


def test_spark_reads_weir_table(partitioned_table, read_spark):
    table, rows = partitioned_table
    assert canon_rows(to_rows(read_spark(str(table))), SCHEMA) == expected(rows)


def test_time_travel_scan(partitioned_table, run_weir, read_deltalake):
    table, rows = partitioned_table
    got = canon_rows(scan_weir(run_weir, table, "--version", "7"), SCHEMA)
    assert got == expected(rows[: 8 * 20])


NTZ_SCHEMA = [("id", "long"), ("wall", "timestamp_ntz")]


def test_timestamp_ntz_table(tmp_path, run_weir, read_deltalake, read_duckdb, read_spark):
    rows = [{"id": i, "wall": (dt.datetime(2021, 11, 18, 2, 30) + dt.timedelta(seconds=i * 3601, microseconds=i)).isoformat()}
            for i in range(50)]
    rows.append({"id": 99, "wall": None})
    src = tmp_path / "ntz.jsonl"
    write_jsonl(src, rows)
    table = tmp_path / "ntz"
    r = run_weir("table", "import", str(table), "--format", "jsonl", str(src), "--schema", "id LONG, wall TIMESTAMP_NTZ")
    assert r.returncode == 0, r.stderr
    want = canon_rows(rows, NTZ_SCHEMA)
    actions = [json.loads(l) for l in (table / "_delta_log" / "00000000000000000000.json").read_text().splitlines()]
    p = next(a["protocol"] for a in actions if "protocol" in a)
    assert p["minReaderVersion"] == 3 and "timestampNtz" in p["readerFeatures"]
    assert canon_rows(scan_weir(run_weir, table), NTZ_SCHEMA) == want
    assert canon_rows(to_rows(read_deltalake(str(table))), NTZ_SCHEMA) == want
    assert canon_rows(to_rows(read_duckdb(str(table))), NTZ_SCHEMA) == want
    assert canon_rows(to_rows(read_spark(str(table))), NTZ_SCHEMA) == want
