"""`weir run` end to end on the datagen source: triggers, progress records,
restarts, exactly-once across crash points, the checkpoint lock and
refusals. (Kafka pipelines are in test_kafka_*.py.)"""
import json
import signal
import subprocess
import time

import pytest

from pipeline import datagen_pipeline, env_with, errors, progress, run, start, write_config

PROGRESS_FIELDS = {"id", "runId", "name", "timestamp", "batchId", "numInputRows", "inputRowsPerSecond",
                   "processedRowsPerSecond", "durationMs", "sources", "sink"}
DURATIONS = {"latestOffset", "walCommit", "getBatch", "addBatch", "commitOffsets", "triggerExecution"}


def ids_of(read_deltalake, table):
    return sorted(read_deltalake(str(table)).column("id").to_pylist())


def test_available_now_batches_progress_and_restart(tmp_path, weir_bin, read_deltalake, read_duckdb):
    p = datagen_pipeline(tmp_path, max_rows=25000, max_rows_per_trigger=10000)
    cfg = write_config(tmp_path, p)
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    prog = progress(r.stderr)
    assert [x["batchId"] for x in prog] == [0, 1, 2]
    assert [x["numInputRows"] for x in prog] == [10000, 10000, 5000]
    for x in prog:
        assert PROGRESS_FIELDS <= set(x), x
        assert DURATIONS <= set(x["durationMs"]), x
        assert x["name"] == "gen"
        assert x["sources"][0]["description"].startswith("DatagenSource")
        assert x["sink"]["description"] == f"DeltaSink[{p['sink']['delta']['path']}]"
        assert x["sink"]["numOutputRows"] == x["numInputRows"]
    assert prog[0]["sources"][0]["endOffset"] == prog[1]["sources"][0]["startOffset"]
    assert len({x["id"] for x in prog}) == 1 and len({x["runId"] for x in prog}) == 1
    table = p["sink"]["delta"]["path"]
    assert ids_of(read_deltalake, table) == list(range(25000))
    assert read_duckdb(table).num_rows == 25000
    # the Delta log carries txn{appId: query id, version: batch id}
    txns = [json.loads(l)["txn"] for f in sorted((tmp_path / "gen-table" / "_delta_log").glob("*.json"))
            for l in f.read_text().splitlines() if l.startswith('{"txn"')]
    assert [t["version"] for t in txns] == [0, 1, 2]
    assert {t["appId"] for t in txns} == {prog[0]["id"]}

    # nothing new: no batch; more rows allowed: the next run continues at 25000
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    assert progress(r.stderr) == []
    p["source"]["datagen"]["max_rows"] = 32000
    cfg = write_config(tmp_path, p)
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    prog2 = progress(r.stderr)
    assert [x["batchId"] for x in prog2] == [3]
    assert prog2[0]["id"] == prog[0]["id"] and prog2[0]["runId"] != prog[0]["runId"]
    assert ids_of(read_deltalake, table) == list(range(32000))


def test_once_runs_one_batch(tmp_path, weir_bin, read_deltalake):
    p = datagen_pipeline(tmp_path, max_rows=1000, max_rows_per_trigger=300)
    cfg = write_config(tmp_path, p)
    for expected in ([0], [1]):
        r = run(weir_bin, cfg, "--once")
        assert r.returncode == 0, r.stderr
        assert [x["batchId"] for x in progress(r.stderr)] == expected
    assert ids_of(read_deltalake, p["sink"]["delta"]["path"]) == list(range(600))


def test_command_line_log_options_win_over_the_config(tmp_path, weir_bin):
    p = datagen_pipeline(tmp_path, max_rows=10)
    cfg = write_config(tmp_path, p, log={"format": "json", "level": "info"})
    r = subprocess.run([str(weir_bin), "--log-format", "text", "run", str(cfg), "--once"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines and not any(l.startswith("{") for l in lines), r.stderr
    assert any(" INFO [gen#0] progress " in l for l in lines), r.stderr
    r = subprocess.run([str(weir_bin), "--log-level", "warn", "run", str(cfg), "--once"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    r = run(weir_bin, cfg, "--once")  # without flags the config's block applies
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines() and all(json.loads(l)["level"] == "info" for l in r.stderr.splitlines())


def test_sigterm_finishes_the_batch_and_exits_0(tmp_path, weir_bin, read_deltalake):
    p = datagen_pipeline(tmp_path, rows_per_second=20000)
    p["trigger"] = {"interval": "200ms"}
    cfg = write_config(tmp_path, p)
    proc = start(weir_bin, cfg)
    time.sleep(2.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    prog = progress(err)
    assert len(prog) >= 2
    n = sum(x["numInputRows"] for x in prog)
    assert ids_of(read_deltalake, p["sink"]["delta"]["path"]) == list(range(n))
    assert not errors(err)


def test_second_process_on_the_same_checkpoint_refuses(tmp_path, weir_bin):
    p = datagen_pipeline(tmp_path, rows_per_second=1000)
    cfg = write_config(tmp_path, p)
    first = start(weir_bin, cfg)
    try:
        time.sleep(1.0)
        assert first.poll() is None
        r = run(weir_bin, cfg, "--once", timeout=60)
        assert r.returncode == 1
        msg = " ".join(e["msg"] for e in errors(r.stderr))
        assert p["checkpoint"] in msg and "another" in msg and str(first.pid) in msg, r.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert first.returncode == 0


def test_checkpoint_of_another_pipeline_is_refused(tmp_path, weir_bin):
    p = datagen_pipeline(tmp_path, max_rows=10)
    r = run(weir_bin, write_config(tmp_path, p), "--available-now")
    assert r.returncode == 0, r.stderr
    other = dict(p, name="other")
    r = run(weir_bin, write_config(tmp_path, other), "--available-now")
    assert r.returncode == 1
    msg = " ".join(e["msg"] for e in errors(r.stderr))
    assert "'gen'" in msg or '"gen"' in msg or " gen" in msg, r.stderr


def test_incompatible_checkpoint_version_is_refused(tmp_path, weir_bin):
    p = datagen_pipeline(tmp_path, max_rows=10)
    cfg = write_config(tmp_path, p)
    assert run(weir_bin, cfg, "--available-now").returncode == 0
    off = tmp_path / "gen-ckpt" / "offsets" / "0"
    off.write_text(off.read_text().replace("v1", "v9", 1))
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 1
    assert "v9" in r.stderr and "offsets/0" in r.stderr, r.stderr


@pytest.mark.parametrize("point", ["checkpoint.offsets", "delta.data_file", "delta.before_commit",
                                   "engine.after_sink_commit", "checkpoint.commit"])
def test_crash_points_keep_exactly_once(tmp_path, weir_bin, read_deltalake, point):
    p = datagen_pipeline(tmp_path, max_rows=30000, max_rows_per_trigger=10000)
    cfg = write_config(tmp_path, p)
    r = run(weir_bin, cfg, "--available-now", env=env_with(WEIR_CRASH_AT=f"{point}:2"))
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stderr)
    assert f"crash point '{point}'" in r.stderr
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    assert ids_of(read_deltalake, p["sink"]["delta"]["path"]) == list(range(30000))
    if point in ("engine.after_sink_commit", "checkpoint.commit"):
        # batch 1 reached the table before the crash: the rerun must skip it
        first = progress(r.stderr)[0]
        assert first["batchId"] == 1 and first["sink"]["metrics"]["alreadyCommitted"] is True, first


def test_datagen_to_console(tmp_path, weir_bin):
    p = datagen_pipeline(tmp_path, max_rows=5)
    p["sink"] = {"console": {}}
    r = run(weir_bin, write_config(tmp_path, p), "--available-now")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert [x["id"] for x in rows] == [0, 1, 2, 3, 4]
    assert "-- batch 0: 5 rows" in r.stdout


def test_optimize_every_compacts_in_the_background(tmp_path, weir_bin, read_deltalake):
    p = datagen_pipeline(tmp_path, max_rows=8000, max_rows_per_trigger=500)
    p["sink"]["delta"]["maintenance"] = {"optimize_every": 4}
    r = run(weir_bin, write_config(tmp_path, p), "--available-now")
    assert r.returncode == 0, r.stderr
    table = tmp_path / "gen-table"
    ops = [json.loads(l)["commitInfo"]["operation"] for f in sorted((table / "_delta_log").glob("*.json"))
           for l in f.read_text().splitlines() if l.startswith('{"commitInfo"')]
    assert ops.count("WRITE") == 16
    assert "OPTIMIZE" in ops, ops
    assert ids_of(read_deltalake, table) == list(range(8000))
    # the compaction removed small files with dataChange=false
    removes = [json.loads(l)["remove"] for f in sorted((table / "_delta_log").glob("*.json"))
               for l in f.read_text().splitlines() if l.startswith('{"remove"')]
    assert removes and all(x["dataChange"] is False for x in removes)


def test_merge_schema_adds_columns_and_is_refused_without_it(tmp_path, weir_bin, read_deltalake):
    table = tmp_path / "t"
    first = datagen_pipeline(tmp_path, name="first", schema="id LONG", table=table, max_rows=100)
    r = run(weir_bin, write_config(tmp_path, first), "--available-now")
    assert r.returncode == 0, r.stderr
    wider = datagen_pipeline(tmp_path, name="wider", schema="id LONG, note STRING", table=table, max_rows=50)
    r = run(weir_bin, write_config(tmp_path, wider), "--available-now")
    assert r.returncode == 1
    msg = " ".join(e["msg"] for e in errors(r.stderr))
    assert "'note'" in msg and "merge_schema" in msg, r.stderr
    wider["sink"]["delta"]["merge_schema"] = True
    wider["checkpoint"] = str(tmp_path / "wider-ckpt-2")
    r = run(weir_bin, write_config(tmp_path, wider), "--available-now")
    assert r.returncode == 0, r.stderr
    t = read_deltalake(str(table))
    assert t.column_names == ["id", "note"]
    rows = t.to_pylist()
    assert len(rows) == 150
    assert sum(1 for x in rows if x["note"] is None) >= 100
