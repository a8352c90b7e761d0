"""`weir table optimize`: a table built from ~30 small `weir table import`
commits is compacted; deltalake (delta-rs), DuckDB's delta extension and
Spark (delta-spark) read exactly the same rows before and after, the latest
version has fewer live files, the compaction commit is dataChange=false and
history shows OPTIMIZE. Also the usage errors and "nothing to do"."""
import json

import pyarrow.parquet as pq

import pytest

COLS = ["id", "user", "amount", "ts", "day", "tags"]
DDL = "id LONG, user STRING, amount DECIMAL(10,2), ts TIMESTAMP, day DATE, tags ARRAY<STRING>"


def rows_for(k):
    out = []
    for i in range(40):
        n = k * 40 + i
        out.append({
            "id": n,
            "user": None if n % 9 == 0 else f"user-{n % 13} ü",
            "amount": f"{n * 7 % 1000}.{n % 100:02d}",
            "ts": f"2024-03-{1 + n % 28:02d}T{n % 24:02d}:15:30.{n % 1000000:06d}Z",
            "day": f"2024-03-{1 + n % 3:02d}",
            "tags": [f"t{j}" for j in range(n % 3)],
        })
    return out


def build_table(run_weir, tmp_path, commits=30, partition_by=None):
    table = tmp_path / "t"
    for k in range(commits):
        src = tmp_path / f"in{k}.jsonl"
        src.write_text("".join(json.dumps(r) + "\n" for r in rows_for(k)))
        args = ["table", "import", str(table), str(src), "--schema", DDL]
        if partition_by:
            args += ["--partition-by", partition_by]
        r = run_weir(*args)
        assert r.returncode == 0, r.stderr
    return table


def live_files(table, version=None):
    import deltalake

    return len(deltalake.DeltaTable(str(table), version=version).file_uris())


def optimize(run_weir, table, *extra):
    r = run_weir("table", "optimize", str(table), *extra)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    assert len(lines) == 1, r.stdout
    return json.loads(lines[0])


@pytest.mark.parametrize("partition_by", [None, "day"])
def test_optimize_keeps_rows_deltalake_duckdb(run_weir, tmp_path, read_deltalake, read_duckdb, normalize,
                                              partition_by):
    table = build_table(run_weir, tmp_path, partition_by=partition_by)
    before_files = live_files(table)
    assert before_files >= 30
    want_dl = normalize(read_deltalake(str(table)), COLS)
    want_duck = normalize(read_duckdb(str(table)), COLS)
    assert len(want_dl) == 30 * 40 and want_dl == want_duck

    res = optimize(run_weir, table)
    assert res["version"] == 30
    assert res["filesRemoved"] == before_files
    assert res["rows"] == 30 * 40
    assert res["filesAdded"] == (3 if partition_by else 1)

    after_files = live_files(table)
    assert after_files == res["filesAdded"] < before_files
    assert normalize(read_deltalake(str(table)), COLS) == want_dl
    assert normalize(read_duckdb(str(table)), COLS) == want_dl
    # time travel to the last write still sees the small files and the same rows
    assert live_files(table, 29) == before_files
    assert normalize(read_deltalake(str(table), version=29), COLS) == want_dl

    # the commit: dataChange=false for every remove and add, OPTIMIZE in history
    actions = [json.loads(l) for l in (table / "_delta_log" / f"{30:020d}.json").read_text().splitlines()]
    adds = [a["add"] for a in actions if "add" in a]
    removes = [a["remove"] for a in actions if "remove" in a]
    assert len(adds) == res["filesAdded"] and len(removes) == before_files
    assert all(a["dataChange"] is False for a in adds + removes)
    assert all(json.loads(a["stats"])["numRecords"] > 0 for a in adds)
    import deltalake

    hist = deltalake.DeltaTable(str(table)).history(1)
    assert hist[0]["operation"] == "OPTIMIZE"
    r = run_weir("table", "history", str(table), "--limit", "1")
    assert r.returncode == 0 and r.stdout.split("\t")[2] == "OPTIMIZE", r.stdout

    # again: nothing to do, no new commit
    res = optimize(run_weir, table)
    assert res["version"] == -1 and res["filesRemoved"] == 0
    assert not (table / "_delta_log" / f"{31:020d}.json").exists()


def test_optimize_spark_reads_same_rows(run_weir, tmp_path, read_deltalake, read_spark, normalize):
    table = build_table(run_weir, tmp_path, commits=12, partition_by="day")
    want = normalize(read_spark(str(table)), COLS)
    assert want == normalize(read_deltalake(str(table)), COLS)
    before_files = live_files(table)
    # --where: one day first (Spark's predicate in the history), then the rest
    res = optimize(run_weir, table, "--target-size", "64MB", "--where", "day = '2024-03-02'")
    assert res["version"] == 12 and res["filesAdded"] == 1
    hist = json.loads(run_weir("table", "history", str(table), "--limit", "1", "--json").stdout)
    assert json.loads(hist["operationParameters"]["predicate"]) == ["day = '2024-03-02'"]
    assert normalize(read_spark(str(table)), COLS) == want
    r = run_weir("table", "optimize", str(table), "--where", "id > 3")
    assert r.returncode == 1 and "only partition columns can be used (day)" in r.stderr
    res = optimize(run_weir, table, "--target-size", "64MB", "--codec", "zstd")
    assert res["version"] == 13 and res["filesAdded"] == 2
    import deltalake
    codecs = {u.split("/")[-2]: pq.ParquetFile(u.removeprefix("file://")).metadata.row_group(0).column(0).compression
              for u in deltalake.DeltaTable(str(table)).file_uris()}
    assert codecs == {"day=2024-03-01": "ZSTD", "day=2024-03-02": "SNAPPY", "day=2024-03-03": "ZSTD"}
    assert live_files(table) < before_files
    assert normalize(read_spark(str(table)), COLS) == want
    assert normalize(read_spark(str(table), version=11), COLS) == want
    assert normalize(read_spark(str(table), version=12), COLS) == want


def test_optimize_sizes_and_usage(run_weir, tmp_path):
    table = build_table(run_weir, tmp_path, commits=4)
    # every file is bigger than a 100-byte minimum: nothing to do
    res = optimize(run_weir, table, "--min-file-size", "100B")
    assert res["version"] == -1
    res = optimize(run_weir, table, "--target-size=1MiB", "--min-file-size=512KiB")
    assert res["version"] == 4 and res["filesRemoved"] == 4 and res["filesAdded"] == 1
    for args in (["--target-size", "lots"], ["--target-size"], ["--min-file-size", "-1"], ["--frobnicate"]):
        r = run_weir("table", "optimize", str(table), *args)
        assert r.returncode == 2, (args, r)
    assert run_weir("table", "optimize").returncode == 2
    r = run_weir("table", "optimize", str(tmp_path / "missing"))
    assert r.returncode == 1 and "missing" in r.stderr
    r = run_weir("table", "--help")
    assert "optimize PATH" in r.stdout and "--target-size" in r.stdout
