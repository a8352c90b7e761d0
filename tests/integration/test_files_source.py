"""The files source: files under a local path or a bucket become Delta rows,
each file exactly once, with compressed inputs, rescued lines, skipped
corrupt files and _metadata columns. Read back with deltalake."""
import gzip
import json
import signal
import subprocess
import time
import uuid

import pyarrow

import object_stores
import pipeline

SCHEMA = "id LONG, user STRING, amount DOUBLE"


def lines(ids):
    return "".join(json.dumps({"id": i, "user": f"u{i % 7}", "amount": i / 4}) + "\n" for i in ids).encode()


def files_pipeline(tmp_path, path, name="files", options=None, **files):
    p = {
        "name": name,
        "checkpoint": str(tmp_path / f"{name}-ckpt"),
        "source": {"files": {"path": path, "format": "json", "schema": SCHEMA, **files}},
        "transform": [{"select": ["id", "user", "amount", "_rescued_data", "_metadata.file_path AS src"]}],
        "sink": {"delta": {"path": str(tmp_path / f"{name}-table")}},
    }
    if options:
        p["source"]["files"]["storage_options"] = options
    return p


def read_rows(path, **kw):
    import deltalake
    return deltalake.DeltaTable(str(path), **kw).to_pyarrow_table().to_pylist()


def test_local_files_once(tmp_path, weir_bin):
    src = tmp_path / "in"
    (src / "day=1").mkdir(parents=True)
    (src / "a.json").write_bytes(lines(range(0, 100)))
    (src / "day=1" / "b.json.gz").write_bytes(gzip.compress(lines(range(100, 300))))
    (src / "day=1" / "c.json.zst").write_bytes(pyarrow.compress(lines(range(300, 350)), codec="zstd", asbytes=True))
    (src / "_tmp.json").write_bytes(lines(range(900, 910)))       # hidden: never read
    (src / "notes.txt").write_bytes(b"not json\n")               # filtered out by the glob filter
    bad = lines(range(350, 353)) + b'{"id": "x1", "user": "bad"}\n'
    (src / "d.json").write_bytes(bad)
    cfg = pipeline.write_config(tmp_path, files_pipeline(tmp_path, str(src), path_glob_filter="*.json*",
                                                         max_files_per_trigger=2))
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = read_rows(tmp_path / "files-table")
    good = sorted(x["id"] for x in rows if x["id"] is not None)
    assert good == list(range(353))
    rescued = [x for x in rows if x["_rescued_data"]]
    assert len(rescued) == 1
    info = json.loads(rescued[0]["_rescued_data"])
    # the field that does not fit is set aside, the rest of the line is kept
    assert info == {"id": "x1", "_file_path": info["_file_path"], "_line": 4}
    assert info["_file_path"].endswith("/in/d.json") and rescued[0]["user"] == "bad" and rescued[0]["id"] is None
    srcs = {x["src"] for x in rows}
    assert srcs == {f"{src}/a.json", f"{src}/day=1/b.json.gz", f"{src}/day=1/c.json.zst", f"{src}/d.json"}
    batches = [json.loads(line)["progress"] for line in r.stderr.splitlines() if '"progress"' in line]
    assert len(batches) == 2  # four files, at most two a batch

    # Again: nothing new. Then one new file, one changed file, one truncated gzip.
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0 and '"progress"' not in r.stderr
    (src / "e.json").write_bytes(lines(range(400, 410)))
    time.sleep(0.01)
    (src / "a.json").write_bytes(lines(range(0, 120)))
    (src / "f.json.gz").write_bytes(gzip.compress(lines(range(500, 600)))[:-30])
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "a.json changed after it was ingested" in r.stderr
    assert "skipped" in r.stderr and "f.json.gz" in r.stderr and "truncated" in r.stderr
    rows = read_rows(tmp_path / "files-table")
    good = sorted(x["id"] for x in rows if x["id"] is not None)
    assert good == list(range(353)) + list(range(400, 410))
    progress = [json.loads(line)["progress"] for line in r.stderr.splitlines() if '"progress"' in line]
    metrics = progress[-1]["sources"][0]["metrics"]
    assert metrics["numFilesCorrupt"] == 1 and metrics["numFilesChanged"] == 1


def test_files_arriving_on_s3(tmp_path, weir_bin):
    """Files land in an S3 bucket while the pipeline runs: every row once."""
    s = object_stores.start_server("s3", tmp_path / "s3")
    try:
        prefix = f"landing-{uuid.uuid4().hex[:6]}"
        opts = {"aws_endpoint_url": s.endpoint, "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        p = files_pipeline(tmp_path, s.uri(prefix), options=opts, max_files_per_trigger=50)
        p["trigger"] = {"interval": "200ms"}
        cfg = pipeline.write_config(tmp_path, p)
        log = tmp_path / "weir.log"
        proc = pipeline.start(weir_bin, cfg, stderr_path=log)
        want = []
        try:
            n = 0
            for wave in range(3):
                for i in range(100):
                    ids = range(n, n + 5)
                    s.put(f"{prefix}/w{wave}/f{i:04d}.json", lines(ids))
                    want += ids
                    n += 5
                big = range(n, n + 20000)
                s.put(f"{prefix}/w{wave}/big.json.gz", gzip.compress(lines(big)))
                want += big
                n += 20000
                time.sleep(0.5)

            def done():
                txt = log.read_text()
                return sum(json.loads(line)["progress"]["numInputRows"] for line in txt.splitlines()
                           if '"progress"' in line) >= len(want)
            pipeline.wait_for(done, 180, "all rows ingested")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        assert proc.returncode == 0, log.read_text()[-3000:]
        rows = read_rows(tmp_path / "files-table")
        assert sorted(x["id"] for x in rows) == sorted(want)
        assert all(x["src"].startswith(f"s3://{s.bucket}/{prefix}/w") for x in rows)
    finally:
        s.stop()


def test_files_config_errors(tmp_path, run_weir):
    cfg = pipeline.write_config(tmp_path, files_pipeline(tmp_path, str(tmp_path / "in"),
                                                         options={"aws_regoin": "x"}))
    r = run_weir("validate", str(cfg))
    assert r.returncode == 2
    assert "storage_options.aws_regoin" in r.stdout + r.stderr and "aws_region" in r.stdout + r.stderr


def test_incremental_listing(tmp_path, weir_bin):
    """incremental_listing on: a listing starts after the greatest name
    seen, so ordered arrivals cost only their own keys; a file named out of
    order is found by the next full listing (backfill_interval)."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(50):
        (src / f"f{i:03d}.json").write_bytes(lines([i]))
    p = files_pipeline(tmp_path, str(src), incremental_listing="on", backfill_interval="3s")
    p["trigger"] = {"interval": "100ms"}
    cfg = pipeline.write_config(tmp_path, p)
    log = tmp_path / "weir.log"
    proc = pipeline.start(weir_bin, cfg, stderr_path=log)

    def metrics():
        prog = pipeline.progress(log.read_text())
        return prog[-1]["sources"][0]["metrics"] if prog else {}

    def ids():
        return sum(p["numInputRows"] for p in pipeline.progress(log.read_text()))
    try:
        pipeline.wait_for(lambda: ids() == 50, 60, "the first 50 files")
        for i in range(50, 60):
            (src / f"f{i:03d}.json").write_bytes(lines([i]))
            time.sleep(0.15)
        pipeline.wait_for(lambda: ids() == 60, 60, "the ordered arrivals")
        m = metrics()
        # one full listing of 50 keys, then only keys after the greatest name
        assert m["numFullListings"] == 1 and m["numKeysListed"] == 60, m
        (src / "a-late.json").write_bytes(lines([1000]))  # sorts before everything seen
        pipeline.wait_for(lambda: ids() == 61, 60, "the out-of-order file, by the backfill listing")
        assert metrics()["numFullListings"] >= 2
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    assert sorted(x["id"] for x in read_rows(tmp_path / "files-table")) == list(range(60)) + [1000]
