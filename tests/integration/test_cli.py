"""The `weir` command line: exit codes, `table describe|history|scan` on the
real tables in ../shared/testdata (checked against deltalake and the DAT
expected rows), and `table import` round trips (one commit per import,
read back by weir and by deltalake)."""
import base64
import json
import os
import pathlib
import subprocess

import pytest

from rows import canon_rows, schema_from_delta_json, to_rows

TESTDATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "testdata"
DAT = TESTDATA / "dat-reader-tests"


def lines(out):
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def commits(table):
    return sorted(f for f in os.listdir(table / "_delta_log") if f.endswith(".json") and len(f) == 25)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


# ---------------------------------------------------------------- usage


def test_version_and_help(run_weir):
    r = run_weir("--version")
    assert r.returncode == 0 and r.stdout.startswith("weir 0.1.0"), r
    r = run_weir("--help")
    assert r.returncode == 0
    for cmd in ("table describe", "table history", "table scan", "table import", "table checkpoint"):
        assert cmd in r.stdout
    r = run_weir("--log-level", "warn", "--log-format=text", "--version")
    assert r.returncode == 0 and r.stdout.startswith("weir 0.1.0"), r
    r = run_weir("table", "--help")
    assert r.returncode == 0
    for opt in ("--version", "--columns", "--limit", "--schema", "--partition-by", "--codec", "--json",
                "optimize PATH", "--target-size", "--min-file-size"):
        assert opt in r.stdout


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["--frobnicate"],
    ["table"],
    ["table", "frobnicate", "x"],
    ["table", "scan"],
    ["table", "scan", "x", "--limit", "many"],
    ["table", "scan", "x", "--version", "-3"],
    ["table", "scan", "x", "--bogus"],
    ["table", "scan", "x", "y"],
    ["table", "scan", "x", "--version", "1", "--timestamp", "2024-01-01T00:00:00Z"],
    ["table", "describe"],
    ["table", "history", "x", "--limit"],
    ["table", "import", "x"],
    ["table", "import", "x", "--format", "csv", "f.csv"],
    ["table", "import", "x", "--codec", "lzma", "f.jsonl"],
    ["table", "import", "x", "--schema", "id WHATEVER", "f.jsonl"],
    ["table", "checkpoint"],
    ["--log-level", "loud", "table", "scan", "x"],
    ["--log-format", "xml", "table", "scan", "x"],
    ["--log-format"],
])
def test_bad_usage_exits_2(run_weir, tmp_path, args):
    # relative names resolve inside tmp_path, so nothing real is touched
    r = run_weir(*[str(tmp_path / a) if a in ("x", "y", "f.csv", "f.jsonl") else a for a in args])
    assert r.returncode == 2, (args, r.returncode, r.stderr)
    assert "weir" in r.stderr and r.stdout == ""


def test_runtime_errors_exit_1(run_weir, tmp_path):
    r = run_weir("table", "scan", str(tmp_path / "nothing"))
    assert r.returncode == 1
    assert r.stderr.startswith("weir: error: ") and "nothing" in r.stderr
    r = run_weir("table", "describe", str(tmp_path / "nothing"))
    assert r.returncode == 1 and "nothing" in r.stderr
    r = run_weir("table", "history", str(tmp_path / "nothing"))
    assert r.returncode == 1 and "nothing" in r.stderr
    r = run_weir("table", "import", str(tmp_path / "t"), str(tmp_path / "missing.jsonl"))
    assert r.returncode == 1 and "missing.jsonl" in r.stderr
    r = run_weir("table", "scan", str(DAT / "basic_append" / "delta"), "--columns", "letter,nope")
    assert r.returncode == 1 and "nope" in r.stderr


# ---------------------------------------------------------------- describe / history


@pytest.mark.parametrize("name", sorted(p.name for p in DAT.iterdir() if p.is_dir()))
def test_describe_matches_deltalake(run_weir, name):
    import deltalake

    path = DAT / name / "delta"
    dt = deltalake.DeltaTable(str(path))
    r = run_weir("table", "describe", str(path), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["version"] == dt.version()
    assert d["partitionColumns"] == dt.metadata().partition_columns
    assert d["id"] == dt.metadata().id
    assert d["numFiles"] == len(dt.file_uris())
    import pyarrow as pa
    sizes = sum(pa.table(dt.get_add_actions(flatten=True)).column("size_bytes").to_pylist())
    assert d["sizeInBytes"] == sizes
    assert d["protocol"]["minReaderVersion"] == dt.protocol().min_reader_version
    assert d["protocol"]["minWriterVersion"] == dt.protocol().min_writer_version
    assert [f["name"] for f in d["schema"]["fields"]] == [f.name for f in dt.schema().fields]
    assert schema_from_delta_json(json.dumps(d["schema"])) == schema_from_delta_json(dt.schema().to_json())
    # the human form names the same facts
    r = run_weir("table", "describe", str(path))
    assert r.returncode == 0, r.stderr
    assert f"Version:            {dt.version()}\n" in r.stdout
    assert f"Files:              {len(dt.file_uris())}\n" in r.stdout
    parts = ", ".join(dt.metadata().partition_columns) or "(none)"
    assert f"Partition columns:  {parts}\n" in r.stdout
    for f in dt.schema().fields:
        assert f" |-- {f.name}: " in r.stdout


def test_describe_old_version(run_weir):
    path = DAT / "with_schema_change" / "delta"
    r = run_weir("table", "describe", str(path), "--json", "--version", "0")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["version"] == 0
    assert [f["name"] for f in d["schema"]["fields"]] == ["letter", "number"]
    r = run_weir("table", "describe", str(path), "--json")
    assert [f["name"] for f in json.loads(r.stdout)["schema"]["fields"]] == ["num1", "num2"]


@pytest.mark.parametrize("name", sorted(p.name for p in DAT.iterdir() if p.is_dir()))
def test_history_matches_deltalake(run_weir, name):
    import deltalake

    path = DAT / name / "delta"
    want = deltalake.DeltaTable(str(path)).history()
    r = run_weir("table", "history", str(path))
    assert r.returncode == 0, r.stderr
    got = [l.split("\t") for l in r.stdout.splitlines()]
    assert [int(g[0]) for g in got] == [h["version"] for h in want]
    assert [g[2] for g in got] == [h["operation"] for h in want]
    assert [json.loads(g[3]) for g in got] == [h.get("operationParameters", {}) for h in want]
    assert [json.loads(g[4]) for g in got] == [h.get("operationMetrics", {}) for h in want]
    r = run_weir("table", "history", str(path), "--json", "--limit", "1")
    assert r.returncode == 0, r.stderr
    (one,) = lines(r.stdout)
    assert one["version"] == want[0]["version"]
    assert one["timestamp"] == want[0]["timestamp"]
    assert one["operation"] == want[0]["operation"]


# ---------------------------------------------------------------- scan


def dat_expected(name, version=None):
    import pyarrow.parquet as pq

    root = DAT / name
    vdirs = sorted((root / "expected").iterdir())
    if version is None:
        vdir = vdirs[-1]
    else:
        vdir = next(v for v in vdirs if json.loads((v / "table_version_metadata.json").read_text())["version"] == version)
    return to_rows(pq.read_table(vdir / "table_content.parquet"))


def test_scan_columns_and_limit(run_weir):
    import deltalake

    path = DAT / "multi_partitioned" / "delta"
    full_schema = schema_from_delta_json(deltalake.DeltaTable(str(path)).schema().to_json())
    want = dat_expected("multi_partitioned")
    r = run_weir("table", "scan", str(path), "--columns", "number, letter")
    assert r.returncode == 0, r.stderr
    got = lines(r.stdout)
    assert all(list(g) == ["number", "letter"] for g in got)
    sub = [(n, t) for n, t in full_schema if n in ("number", "letter")]
    assert canon_rows(got, sub) == canon_rows(want, sub)
    r = run_weir("table", "scan", str(path), "--limit", "1")
    assert r.returncode == 0 and len(lines(r.stdout)) == 1
    r = run_weir("table", "scan", str(path), "--limit=0")
    assert r.returncode == 0 and r.stdout == ""


def test_scan_time_travel_by_version_and_timestamp(run_weir):
    import deltalake

    path = DAT / "basic_append" / "delta"
    dt = deltalake.DeltaTable(str(path))
    schema = schema_from_delta_json(dt.schema().to_json())
    v0 = next(h for h in dt.history() if h["version"] == 0)
    want0 = canon_rows(dat_expected("basic_append", 0), schema)
    assert want0 != canon_rows(dat_expected("basic_append"), schema)
    r = run_weir("table", "scan", str(path), "--version", "0")
    assert r.returncode == 0, r.stderr
    assert canon_rows(lines(r.stdout), schema) == want0
    r = run_weir("table", "scan", str(path), "--timestamp", str(v0["timestamp"]))
    assert r.returncode == 0, r.stderr
    assert canon_rows(lines(r.stdout), schema) == want0
    r = run_weir("table", "scan", str(path))
    assert canon_rows(lines(r.stdout), schema) == canon_rows(dat_expected("basic_append"), schema)
    r = run_weir("table", "scan", str(path), "--version", "7")
    assert r.returncode == 1 and "7" in r.stderr


# ---------------------------------------------------------------- import

ROWS = [
    {"id": 1, "user": "ann", "amount": "12.50", "ts": "2024-01-02T03:04:05.123456Z", "day": "2024-01-02",
     "tags": ["a", "b"], "attrs": {"k": 1}, "loc": {"lat": 1.5, "lon": -2.25}, "blob": base64.b64encode(b"\x00\xff").decode()},
    {"id": 2, "user": None, "amount": "-0.01", "ts": "2024-01-02T05:04:05+02:00", "day": "1999-12-31",
     "tags": [], "attrs": {}, "loc": None, "blob": None},
    {"id": 3, "user": "ünï ✓", "ts": None, "tags": None, "attrs": {"x": None}, "loc": {"lat": None, "lon": 0.1}},
]
DDL = ("id LONG, user STRING, amount DECIMAL(10,2), ts TIMESTAMP, day DATE, tags ARRAY<STRING>, "
       "attrs MAP<STRING, INT>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>, blob BINARY")
SCHEMA = [("id", "long"), ("user", "string"), ("amount", ("decimal", 10, 2)), ("ts", "timestamp"), ("day", "date"),
          ("tags", ("array", "string")), ("attrs", ("map", "string", "integer")),
          ("loc", ("struct", [("lat", "double"), ("lon", "double")])), ("blob", "binary")]


def test_import_round_trip(run_weir, tmp_path, read_deltalake):
    src = write_jsonl(tmp_path / "in.jsonl", ROWS)
    table = tmp_path / "t"
    r = run_weir("table", "import", str(table), "--format", "jsonl", str(src), "--schema", DDL,
                 "--partition-by", "user")
    assert r.returncode == 0, r.stderr
    assert commits(table) == ["00000000000000000000.json"]
    r = run_weir("table", "scan", str(table))
    assert r.returncode == 0, r.stderr
    got = lines(r.stdout)
    assert canon_rows(got, SCHEMA) == canon_rows(ROWS, SCHEMA)
    # the documented output forms
    ann = next(g for g in got if g["id"] == 1)
    assert ann["ts"] == "2024-01-02T03:04:05.123456Z"
    assert ann["amount"] == "12.50" and ann["day"] == "2024-01-02" and ann["blob"] == "AP8="
    assert canon_rows(to_rows(read_deltalake(str(table))), SCHEMA) == canon_rows(ROWS, SCHEMA)
    # the table keeps its schema and partitioning on the next import: one more commit
    more = write_jsonl(tmp_path / "more.jsonl", [{"id": 4, "amount": 7, "user": "bob"}])
    r = run_weir("table", "import", str(table), str(more))
    assert r.returncode == 0, r.stderr
    assert commits(table) == ["00000000000000000000.json", "00000000000000000001.json"]
    r = run_weir("table", "scan", str(table), "--columns", "id,amount,user")
    got = {g["id"]: g for g in lines(r.stdout)}
    assert got[4] == {"id": 4, "amount": "7.00", "user": "bob"}
    assert (table / "user=bob").is_dir()
    r = run_weir("table", "history", str(table))
    assert [l.split("\t")[0] for l in r.stdout.splitlines()] == ["1", "0"]


def test_import_many_files_is_one_commit(run_weir, tmp_path):
    files = []
    for k in range(3):
        files.append(str(write_jsonl(tmp_path / f"in{k}.jsonl", [{"id": k * 1000 + i, "v": i / 7} for i in range(1000)])))
    table = tmp_path / "t"
    r = run_weir("table", "import", str(table), *files, "--schema", "id LONG, v DOUBLE", "--codec", "zstd")
    assert r.returncode == 0, r.stderr
    assert commits(table) == ["00000000000000000000.json"]
    r = run_weir("table", "describe", str(table), "--json")
    d = json.loads(r.stdout)
    assert d["numRecords"] == 3000
    got = lines(run_weir("table", "scan", str(table)).stdout)
    assert sorted(g["id"] for g in got) == sorted(k * 1000 + i for k in range(3) for i in range(1000))
    assert all(g["v"] == (g["id"] % 1000) / 7 for g in got)  # doubles survive exactly
    import pyarrow.parquet as pq
    data = [p for p in table.iterdir() if p.suffix == ".parquet"]
    assert data and all(pq.ParquetFile(p).metadata.row_group(0).column(0).compression == "ZSTD" for p in data)


def test_import_infers_schema(run_weir, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [
        {"id": 1, "v": 1, "ok": True, "name": "a", "n": None, "st": {"x": 1}, "arr": [1, 2]},
        {"id": 2, "v": 2.5, "ok": False, "name": 3, "st": {"y": "q"}, "arr": [3.5]},
    ])
    table = tmp_path / "t"
    r = run_weir("table", "import", str(table), str(src))
    assert r.returncode == 0, r.stderr
    d = json.loads(run_weir("table", "describe", str(table), "--json").stdout)
    types = {f["name"]: f["type"] for f in d["schema"]["fields"]}
    assert types["id"] == "long" and types["v"] == "double" and types["ok"] == "boolean"
    assert types["name"] == "string" and types["n"] == "string"
    assert [f["name"] for f in types["st"]["fields"]] == ["x", "y"]
    assert types["arr"] == {"type": "array", "elementType": "double", "containsNull": True}
    got = sorted(lines(run_weir("table", "scan", str(table)).stdout), key=lambda g: g["id"])
    assert got[1]["name"] == "3" and got[0]["v"] == 1.0 and got[1]["arr"] == [3.5]


def test_import_bad_line_commits_nothing(run_weir, tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": 1, "amount": 1.5}\n{"id": 2, "amount": 2}\n{"id": 3, "amount": "abc"}\n')
    table = tmp_path / "t"
    r = run_weir("table", "import", str(table), str(src), "--schema", "id LONG, amount DOUBLE")
    assert r.returncode == 1
    assert "bad.jsonl: line 3" in r.stderr and "field 'amount'" in r.stderr and '"abc"' in r.stderr
    assert not (table / "_delta_log").exists() or commits(table) == []
    src.write_text('{"id": 1}\n{"id": 2, oops}\n')
    r = run_weir("table", "import", str(table), str(src), "--schema", "id LONG")
    assert r.returncode == 1 and "line 2" in r.stderr and "invalid JSON" in r.stderr
    src.write_text('{"id": 300}\n')
    r = run_weir("table", "import", str(table), str(src), "--schema", "id BYTE")
    assert r.returncode == 1 and "out of range" in r.stderr


def test_import_streams_many_batches_into_one_commit(run_weir, tmp_path):
    # more rows than one decoded batch (65536): several writer adds, one commit;
    # a bad last line (after two full batches) leaves no commit and no data file
    src = tmp_path / "big.jsonl"
    n = 150000
    src.write_text("".join(f'{{"id": {i}, "p": "{"ab"[i % 2]}"}}\n' for i in range(n)))
    table = tmp_path / "t"
    r = run_weir("table", "import", str(table), str(src), "--schema", "id LONG, p STRING", "--partition-by", "p")
    assert r.returncode == 0, r.stderr
    assert f"imported {n} rows" in r.stdout
    assert commits(table) == ["00000000000000000000.json"]
    d = json.loads(run_weir("table", "describe", str(table), "--json").stdout)
    assert d["numRecords"] == n
    got = lines(run_weir("table", "scan", str(table), "--columns", "id").stdout)
    assert sorted(g["id"] for g in got) == list(range(n))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(src.read_text() + '{"id": "x"}\n')
    t2 = tmp_path / "t2"
    r = run_weir("table", "import", str(t2), str(bad), "--schema", "id LONG, p STRING", "--partition-by", "p")
    assert r.returncode == 1 and f"line {n + 1}" in r.stderr, r.stderr
    assert not list(t2.rglob("*.parquet"))
    assert not (t2 / "_delta_log").exists() or commits(t2) == []


def test_scan_stops_quietly_when_reader_closes_pipe(run_weir, weir_bin, tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "s": "x" * 50} for i in range(50000)])
    table = tmp_path / "t"
    assert run_weir("table", "import", str(table), str(src)).returncode == 0
    p = subprocess.Popen([str(weir_bin), "table", "scan", str(table)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()
    _, err = p.communicate(timeout=60)
    assert json.loads(first)["s"] == "x" * 50
    assert p.returncode == 0, err


def test_import_from_stdin_with_timestamp_inference(run_weir, tmp_path):
    text = "".join(json.dumps({"id": i, "at": f"2024-03-0{i + 1}T10:00:00+01:00", "day": f"2024-03-0{i + 1}",
                               "note": "2024-03-01T00:00:00Z" if i else "not a time"}) + "\n" for i in range(3))
    table = tmp_path / "t"
    r = run_weir("table", "import", str(table), "-", "--infer-timestamps", input=text)
    assert r.returncode == 0, r.stderr
    d = json.loads(run_weir("table", "describe", str(table), "--json").stdout)
    assert {f["name"]: f["type"] for f in d["schema"]["fields"]} == {
        "id": "long", "at": "timestamp", "day": "date", "note": "string"}
    got = sorted(lines(run_weir("table", "scan", str(table)).stdout), key=lambda g: g["id"])
    assert [g["at"] for g in got] == [f"2024-03-0{i + 1}T09:00:00.000000Z" for i in range(3)]
    # without the hint the same strings stay strings
    r = run_weir("table", "import", str(tmp_path / "u"), "-", input=text)
    assert r.returncode == 0, r.stderr
    d = json.loads(run_weir("table", "describe", str(tmp_path / "u"), "--json").stdout)
    assert {f["type"] for f in d["schema"]["fields"] if f["name"] != "id"} == {"string"}
    r = run_weir("table", "import", str(tmp_path / "v"), "-", "-", input=text)
    assert r.returncode == 2


def test_examples_config_and_sample_lines(run_weir, tmp_path):
    root = pathlib.Path(__file__).resolve().parents[2]
    cfg = json.loads((root / "examples" / "orders-bronze.json").read_text())
    design = (root.parent / "shared" / "DESIGN.md")
    if design.exists():  # the example is kept verbatim from DESIGN.md
        text = design.read_text()
        block = text[text.index("```json") + len("```json"):]
        assert json.loads(block[:block.index("```")]) == cfg
    (decode,) = [s["decode"] for s in cfg["pipelines"][0]["transform"] if "decode" in s]
    table = tmp_path / "orders"
    r = run_weir("table", "import", str(table), "--format", "jsonl", str(root / "examples" / "orders.jsonl"),
                 "--schema", decode["schema"])
    assert r.returncode == 0, r.stderr
    got = sorted(lines(run_weir("table", "scan", str(table)).stdout), key=lambda g: g["id"])
    assert [g["id"] for g in got] == [1, 2, 3, 4, 5]
    assert got[3]["ts"] == "2024-03-01T23:00:00.000000Z" and got[3]["user"] is None


def test_import_partition_column_spelling_and_bom(run_weir, tmp_path):
    src = tmp_path / "bom.jsonl"
    src.write_bytes(b'\xef\xbb\xbf{"id": 1, "User": "a"}\r\n{"id": 2, "User": "b"}\r\n')
    table = tmp_path / "t"
    r = run_weir("table", "import", str(table), str(src), "--partition-by", "user")
    assert r.returncode == 0, r.stderr
    d = json.loads(run_weir("table", "describe", str(table), "--json").stdout)
    assert d["partitionColumns"] == ["User"]
    assert (table / "User=a").is_dir() and (table / "User=b").is_dir()
    got = sorted(lines(run_weir("table", "scan", str(table)).stdout), key=lambda g: g["id"])
    assert got == [{"id": 1, "User": "a"}, {"id": 2, "User": "b"}]
    r = run_weir("table", "import", str(tmp_path / "u"), str(src), "--partition-by", "nope")
    assert r.returncode == 2 and "nope" in r.stderr


def test_checkpoint_command(run_weir, tmp_path, read_deltalake):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "s": "a"}, {"id": 2, "s": None}])
    table = tmp_path / "t"
    for _ in range(3):
        assert run_weir("table", "import", str(table), str(src)).returncode == 0
    r = run_weir("table", "checkpoint", str(table))
    assert r.returncode == 0, r.stderr
    assert (table / "_delta_log" / "00000000000000000002.checkpoint.parquet").is_file()
    assert json.loads((table / "_delta_log" / "_last_checkpoint").read_text())["version"] == 2
    d = json.loads(run_weir("table", "describe", str(table), "--json").stdout)
    assert d["checkpointVersion"] == 2 and d["numFiles"] == 3
    schema = [("id", "long"), ("s", "string")]
    want = canon_rows([{"id": 1, "s": "a"}, {"id": 2, "s": None}] * 3, schema)
    assert canon_rows(lines(run_weir("table", "scan", str(table)).stdout), schema) == want
    assert canon_rows(to_rows(read_deltalake(str(table))), schema) == want
    assert run_weir("table", "checkpoint", str(tmp_path / "none")).returncode == 1
    assert run_weir("table", "checkpoint").returncode == 2
