"""Table maintenance on a live table: `weir table optimize` compacts 1,000
small files while another pipeline keeps appending; delta-rs, DuckDB and
Spark agree on the rows before and after; `weir table restore` and
`weir table vacuum` (retention, dry run, --force, the files it may and may
not delete); and the sink's `maintenance` block (scheduled compaction and
vacuum on their own thread, the vacuum schedule surviving a restart)."""
import json
import os
import signal
import time

import deltalake

from pipeline import datagen_pipeline, run, start, wait_for, write_config
from procs import stop, tail

DAY = 86400


def version(table):
    return deltalake.DeltaTable(str(table)).version()


def live_files(table, v=None):
    uris = deltalake.DeltaTable(str(table), version=v).file_uris()
    return {os.path.relpath(u.removeprefix("file://"), table) for u in uris}


def data_files(table):
    return {str(p.relative_to(table)) for p in table.rglob("*.parquet") if "_delta_log" not in p.parts}


def operations(table):
    return [json.loads(l)["commitInfo"]["operation"] for f in sorted((table / "_delta_log").glob("*.json"))
            for l in f.read_text().splitlines() if l.startswith('{"commitInfo"')]


def partitioned(p):
    p["transform"] = [{"select": ["*", "id % 10 AS p"]}]
    p["sink"]["delta"]["partition_by"] = ["p"]
    return p


def test_optimize_while_appending_restore_and_vacuum(tmp_path, weir_bin, run_weir, read_deltalake, read_duckdb,
                                                      read_spark, normalize):
    table = tmp_path / "t"
    # 100 batches x 10 partitions: 1,000 small files
    bulk = partitioned(datagen_pipeline(tmp_path, name="bulk", table=table, max_rows=20000,
                                        max_rows_per_trigger=200))
    r = run(weir_bin, write_config(tmp_path, bulk, name="bulk.json"), "--available-now")
    assert r.returncode == 0, r.stderr
    originals = live_files(table)
    assert len(originals) == 1000
    v_built = version(table)

    # another pipeline appends to the same table all along (ids from 1,000,000)
    app = partitioned(datagen_pipeline(tmp_path, name="app", table=table, max_rows_per_trigger=50))
    app["trigger"] = {"interval": "100ms"}
    app["transform"] = [{"select": ["id + 1000000 AS id", "user", "amount", "id % 10 AS p"]}]
    log = tmp_path / "app.log"
    proc = start(weir_bin, write_config(tmp_path, app, name="app.json"), stderr_path=log)
    try:
        wait_for(lambda: version(table) >= v_built + 3, 60, "the appender's first commits")
        r = run_weir("table", "optimize", str(table), "--target-size", "64MB")
        assert r.returncode == 0, r.stderr
        res = json.loads(r.stdout)
        v_opt = res["version"]
        assert res["filesRemoved"] >= 1000 and res["filesAdded"] <= 10, res
        wait_for(lambda: version(table) >= v_opt + 3, 60, "appends after the compaction")
    finally:
        stop(proc, signal.SIGTERM, 60, group=False)
    assert proc.returncode == 0, tail(log)
    app_log = log.read_text()
    assert '"level":"error"' not in app_log and "conflict" not in app_log, tail(log)

    # the compaction: every original file removed with dataChange=false, <= 10 files for them
    assert not (originals & live_files(table, v_opt))
    commit = [json.loads(l) for l in (table / "_delta_log" / f"{v_opt:020}.json").read_text().splitlines()]
    assert commit[0]["commitInfo"]["operation"] == "OPTIMIZE"
    assert all(a["remove"]["dataChange"] is False for a in commit if "remove" in a)
    assert all(a["add"]["dataChange"] is False for a in commit if "add" in a)
    assert sum("add" in a for a in commit) <= 10

    # readers agree: the same rows just before and at the compaction, and at the end
    before = normalize(read_deltalake(table, v_opt - 1))
    assert normalize(read_deltalake(table, v_opt)) == before
    assert normalize(read_spark(table, v_opt - 1)) == before
    assert normalize(read_spark(table, v_opt)) == before
    final = normalize(read_deltalake(table))
    assert normalize(read_duckdb(table)) == final
    assert normalize(read_spark(table)) == final
    ids = sorted(r[0] for r in final)
    appended = [i for i in ids if i >= 1000000]
    assert ids[:20000] == list(range(20000))
    assert appended == list(range(1000000, 1000000 + len(appended))) and len(appended) > 0

    # restore: back to the 1,000-file version, then forward again
    v_last = version(table)
    r = run_weir("table", "restore", str(table), "--version", str(v_built))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["restoredVersion"] == v_built and res["filesAfter"] == 1000
    assert sorted(x[0] for x in normalize(read_deltalake(table))) == list(range(20000))
    assert normalize(read_duckdb(table)) == normalize(read_deltalake(table))
    r = run_weir("table", "restore", str(table), "--version", str(v_last))
    assert r.returncode == 0, r.stderr
    assert normalize(read_deltalake(table)) == final
    assert operations(table)[-2:] == ["RESTORE", "RESTORE"]
    r = run_weir("table", "restore", str(table))
    assert r.returncode == 2 and "--version" in r.stderr

    # vacuum: nothing is old enough yet; the dry run changes nothing
    v = version(table)
    on_disk = data_files(table)
    r = run_weir("table", "vacuum", str(table), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"path": str(table), "dryRun": True, "files": 0, "bytes": 0}
    assert version(table) == v and data_files(table) == on_disk
    # an unreferenced file 10 days old goes; one written just now and every removed file stay
    old = table / "p=3" / "part-99999-old-orphan.snappy.parquet"
    old.write_bytes(b"PAR1 stale")
    os.utime(old, (time.time() - 10 * DAY, time.time() - 10 * DAY))
    fresh = table / "part-99999-new-orphan.snappy.parquet"
    fresh.write_bytes(b"PAR1 in flight")
    r = run_weir("table", "vacuum", str(table))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"] == 1
    assert not old.exists() and fresh.exists()
    assert data_files(table) == on_disk | {fresh.name}
    assert operations(table)[-2:] == ["VACUUM START", "VACUUM END"]
    # a retention below the table's is refused without --force
    r = run_weir("table", "vacuum", str(table), "--retain", "0h")
    assert r.returncode == 1
    assert "--force" in r.stderr and "deletedFileRetentionDuration" in r.stderr
    assert fresh.exists()
    r = run_weir("table", "vacuum", str(table), "--retain", "0h", "--force")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"] == len(on_disk) + 1 - len(live_files(table))
    assert data_files(table) == live_files(table)
    assert normalize(read_deltalake(table)) == final
    assert normalize(read_duckdb(table)) == final
    # the old version's files are gone now: restoring it fails, naming one
    r = run_weir("table", "restore", str(table), "--version", str(v_built))
    assert r.returncode == 1
    assert "no longer exists" in r.stderr and "part-" in r.stderr
    assert normalize(read_deltalake(table)) == final


def test_sink_maintenance_block(tmp_path, weir_bin, read_deltalake):
    table = tmp_path / "t"
    table.mkdir()
    stale = table / "part-00000-stale.snappy.parquet"
    stale.write_bytes(b"left by a crashed writer")
    os.utime(stale, (time.time() - 2 * 3600, time.time() - 2 * 3600))
    p = datagen_pipeline(tmp_path, table=table, max_rows=2000, max_rows_per_trigger=100)
    p["sink"]["delta"]["maintenance"] = {"optimize_every": 5, "vacuum_interval": "1h", "vacuum_retain": "1h"}
    cfg = write_config(tmp_path, p)
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    ops = operations(table)
    assert ops.count("WRITE") == 20
    assert "OPTIMIZE" in ops, ops
    assert ops.count("VACUUM START") == 1 and ops.count("VACUUM END") == 1, ops
    assert not stale.exists()
    assert sorted(read_deltalake(table).column("id").to_pylist()) == list(range(2000))
    assert "vacuum of" in r.stderr and "optimize of" in r.stderr

    # a new process reads the last vacuum from the table's history: not due again for an hour
    stale.write_bytes(b"another one")
    os.utime(stale, (time.time() - 2 * 3600, time.time() - 2 * 3600))
    p["source"]["datagen"]["max_rows"] = 3000
    r = run(weir_bin, write_config(tmp_path, p), "--available-now")
    assert r.returncode == 0, r.stderr
    ops = operations(table)
    assert ops.count("WRITE") == 30 and ops.count("VACUUM END") == 1, ops
    assert stale.exists()
    assert sorted(read_deltalake(table).column("id").to_pylist()) == list(range(3000))
