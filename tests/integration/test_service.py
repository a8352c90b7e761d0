"""`weir run` as a service: the HTTP endpoints (http.listen) against the
pipeline's own Delta table, checked with real clients (urllib, and
prometheus_client's text-format parser for /metrics)."""
import json
import re
import signal
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from pipeline import datagen_pipeline, kafka_pipeline, start, wait_for, write_config


def wait_port(log_path, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"\(port (\d+)\)", log_path.read_text())
        if m:
            return int(m.group(1))
        assert proc.poll() is None, log_path.read_text()
        time.sleep(0.05)
    raise AssertionError("no HTTP port in the log:\n" + log_path.read_text())


def get(port, path, method="GET", token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def metrics(port):
    status, headers, body = get(port, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4"), body
    out = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def batches(port):
    return metrics(port).get(("weir_batches_total", (("pipeline", "gen"),)), 0)


def test_http_endpoints(tmp_path, weir_bin, read_deltalake):
    import deltalake
    p = datagen_pipeline(tmp_path, max_rows=12000, max_rows_per_trigger=1000)
    p["trigger"] = {"interval": "200ms"}
    cfg = write_config(tmp_path, p, http={"listen": "127.0.0.1:0", "token": "s3cret"})
    log = tmp_path / "weir.log"
    proc = start(weir_bin, cfg, stderr_path=log)
    try:
        port = wait_port(log, proc)
        status, _, body = get(port, "/health")
        assert (status, body) == (200, "ok\n")

        # pause: no new batch starts (the one in flight may finish); resume: it goes on
        deadline = time.monotonic() + 60
        while batches(port) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert get(port, "/pipelines/gen/pause", "POST")[0] == 401  # no token
        status, headers, _ = get(port, "/pipelines/gen/pause", "POST", token="wrong")
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
        assert get(port, "/pipelines/nope/pause", "POST", token="s3cret")[0] == 404
        assert get(port, "/pipelines/gen/pause", "GET", token="s3cret")[0] == 405
        status, _, body = get(port, "/pipelines/gen/pause", "POST", token="s3cret")
        assert (status, json.loads(body)) == (200, {"name": "gen", "paused": True})
        time.sleep(0.5)  # the batch in flight, if any, commits
        held = batches(port)
        time.sleep(1.5)  # 7 triggers' worth of time
        assert batches(port) == held < 12
        m = metrics(port)
        assert m[("weir_pipeline_paused", (("pipeline", "gen"),))] == 1
        status, _, body = get(port, "/ready")
        assert status == 200 and json.loads(body)["pipelines"][0]["paused"] is True
        status, _, body = get(port, "/pipelines/gen/resume", "POST", token="s3cret")
        assert (status, json.loads(body)) == (200, {"name": "gen", "paused": False})

        while batches(port) < 12:
            assert time.monotonic() < deadline, metrics(port)
            time.sleep(0.1)
        m = metrics(port)
        status, headers, body = get(port, "/ready")
        assert status == 200 and headers["Content-Type"] == "application/json", body
        ready = json.loads(body)
        assert ready["ready"] is True
        assert ready["pipelines"] == [{"name": "gen", "ready": True, "paused": False, "batches": 12, "failing": 0,
                                       "lastError": ""}]

        table = str(p["sink"]["delta"]["path"])
        dt = deltalake.DeltaTable(table)
        lab = (("pipeline", "gen"),)
        assert m[("weir_output_rows_total", lab)] == read_deltalake(table).num_rows == 12000
        assert m[("weir_input_rows_total", lab)] == 12000
        # id LONG and amount DOUBLE are 8 bytes each, plus the user strings
        assert 12000 * 16 < m[("weir_input_bytes_total", lab)] < 12000 * 200
        assert m[("weir_delta_table_version", lab)] == dt.version() == 11
        assert m[("weir_pipeline_ready", lab)] == 1
        assert m[("weir_pipeline_paused", lab)] == 0
        assert m[("weir_pipeline_consecutive_failures", lab)] == 0
        assert m[("weir_batch_retries_total", lab)] == 0
        assert m[("weir_batch_duration_seconds_count", lab)] == 12
        assert m[("weir_batch_duration_seconds_bucket", (("le", "+Inf"),) + lab)] == 12
        last_commit = m[("weir_last_commit_timestamp_seconds", lab)]
        assert abs(last_commit - time.time()) < 120

        status, _, body = get(port, "/progress")
        prog = json.loads(body)
        assert status == 200 and list(prog) == ["gen"]
        assert prog["gen"]["batchId"] == 11 and prog["gen"]["sink"]["metrics"]["tableVersion"] == 11

        assert get(port, "/nope")[0] == 404
        status, headers, _ = get(port, "/metrics", method="POST")
        assert status == 405 and headers["Allow"] == "GET, HEAD"
        status, _, body = get(port, "/health", method="HEAD")
        assert (status, body) == (200, "")
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    assert rc == 0, log.read_text()[-3000:]
    assert "paused (the batch in flight finishes) by an HTTP request" in log.read_text()


def test_pause_needs_a_token(tmp_path, weir_bin):
    """Without http.token, pause and resume are refused; the GET endpoints answer."""
    p = datagen_pipeline(tmp_path, max_rows=10)
    p["trigger"] = {"interval": "1s"}
    cfg = write_config(tmp_path, p, http={"listen": "127.0.0.1:0"})
    log = tmp_path / "weir.log"
    proc = start(weir_bin, cfg, stderr_path=log)
    try:
        port = wait_port(log, proc)
        status, _, body = get(port, "/pipelines/gen/pause", "POST", token="anything")
        assert status == 403 and "http.token" in body
        assert get(port, "/health")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_http_listen_refused(tmp_path, weir_bin):
    """An address that cannot be bound is an error at start, naming it."""
    p = datagen_pipeline(tmp_path, max_rows=10)
    cfg = write_config(tmp_path, p, http={"listen": "127.0.0.1:99999"})
    log = tmp_path / "weir.log"
    proc = start(weir_bin, cfg, stderr_path=log)
    assert proc.wait(timeout=60) == 1
    assert "http.listen '127.0.0.1:99999': port must be a number 0-65535" in log.read_text()


def lab(name, **more):
    return tuple(sorted({"pipeline": name, **more}.items()))


def test_three_pipelines_one_source_down(tmp_path, weir_bin, kafka_tool, read_deltalake):
    """Kafka, files and datagen pipelines in one process. /metrics' Kafka lag
    per partition equals the broker's end offsets less what the pipeline
    read; the broker going away makes /ready fail and /metrics show the
    failure while the other two keep committing; it comes back and the
    pipeline recovers by itself, losing nothing."""
    import kafka_broker
    broker = kafka_broker.KafkaBroker(workdir=tmp_path / "broker", kafka_tool=kafka_tool)
    broker.start()
    proc = None
    try:
        topic = "svc"
        broker.create_topic(topic, 3)
        broker.produce_json_bulk(topic, 30_000, partitions=3, seed=4)
        kp = kafka_pipeline(tmp_path, "kafka", broker.bootstrap, topic, "id LONG", "300ms", 3000)
        kp["checkpoint"], kp["sink"]["delta"]["path"] = str(tmp_path / "k-ckpt"), str(tmp_path / "k-table")
        landing = tmp_path / "landing"
        landing.mkdir()
        (landing / "a.json").write_text("".join(f'{{"id": {i}}}\n' for i in range(100)))
        fp = {"name": "files", "checkpoint": str(tmp_path / "f-ckpt"), "trigger": {"interval": "300ms"},
              "source": {"files": {"path": str(landing), "format": "json", "schema": "id LONG"}},
              "sink": {"delta": {"path": str(tmp_path / "f-table")}}}
        dp = datagen_pipeline(tmp_path, name="gen", schema="id LONG", rows_per_second=1000)
        dp["trigger"] = {"interval": "300ms"}
        cfg = write_config(tmp_path, kp, fp, dp, http={"listen": "127.0.0.1:0", "token": "t"})
        log = tmp_path / "weir.log"
        proc = start(weir_bin, cfg, stderr_path=log)
        port = wait_port(log, proc)

        def m(name, pipeline, **more):
            return metrics(port).get((name, lab(pipeline, **more)))

        wait_for(lambda: get(port, "/ready")[0] == 200, 60, "every pipeline ready")
        # lag: hold the Kafka pipeline after a few batches
        wait_for(lambda: (m("weir_batches_total", "kafka") or 0) >= 2, 60, "two Kafka batches")
        assert get(port, "/pipelines/kafka/pause", "POST", token="t")[0] == 200
        time.sleep(1.0)  # the batch in flight commits
        prog = json.loads(get(port, "/progress")[2])["kafka"]
        read_to = {int(p): o for p, o in prog["sources"][0]["endOffset"][topic].items()}
        ends = broker.end_offsets(topic)
        assert sum(ends.values()) == 30_000
        for part, end in ends.items():
            assert m("weir_kafka_lag_records", "kafka", topic=topic, partition=str(part)) == end - read_to[part]
        assert m("weir_output_rows_total", "kafka") == read_deltalake(str(tmp_path / "k-table")).num_rows \
            == sum(read_to.values()) < 30_000
        assert get(port, "/pipelines/kafka/resume", "POST", token="t")[0] == 200
        wait_for(lambda: m("weir_output_rows_total", "kafka") == 30_000, 120, "the whole topic")
        for part in ends:
            assert m("weir_kafka_lag_records", "kafka", topic=topic, partition=str(part)) == 0

        broker.kill()
        wait_for(lambda: get(port, "/ready")[0] == 503, 90, "/ready to fail with the broker gone")
        status, _, body = get(port, "/ready")
        by_name = {p["name"]: p for p in json.loads(body)["pipelines"]}
        assert by_name["kafka"]["ready"] is False and by_name["kafka"]["failing"] >= 1
        assert by_name["kafka"]["lastError"], body
        assert by_name["files"]["ready"] and by_name["gen"]["ready"], body
        assert m("weir_pipeline_ready", "kafka") == 0
        assert m("weir_pipeline_consecutive_failures", "kafka") >= 1
        assert m("weir_batch_retries_total", "kafka") >= 1
        # the other two keep committing
        files_then, gen_then = m("weir_batches_total", "files"), m("weir_batches_total", "gen")
        (landing / "b.json").write_text("".join(f'{{"id": {i}}}\n' for i in range(100, 250)))
        wait_for(lambda: m("weir_batches_total", "files") > files_then and m("weir_batches_total", "gen") > gen_then
                 + 2, 60, "files and datagen to keep committing")
        assert m("weir_output_rows_total", "files") == read_deltalake(str(tmp_path / "f-table")).num_rows == 250

        broker.start()
        broker.produce_json_bulk(topic, 5_000, partitions=3, seed=4, start_id=30_000)
        wait_for(lambda: m("weir_output_rows_total", "kafka") == 35_000, 180, "the Kafka pipeline to recover")
        wait_for(lambda: get(port, "/ready")[0] == 200, 60, "/ready again")
        assert m("weir_pipeline_consecutive_failures", "kafka") == 0
        ids = sorted(read_deltalake(str(tmp_path / "k-table")).column("id").to_pylist())
        assert ids == list(range(35_000))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
        proc = None
    finally:
        if proc:
            proc.kill()
        broker.stop()


def test_failed_pipeline_restarts_and_recovers(tmp_path, weir_bin, read_deltalake):
    """A pipeline that fails (its table has another schema) starts again
    after 1 s, 2 s, 4 s ...: not ready meanwhile, its restarts counted; once
    the cause is gone (the table removed) it recovers by itself, and its
    counters carried across the restarts."""
    import shutil
    import subprocess
    bad_table = tmp_path / "bad-table"
    seed = datagen_pipeline(tmp_path, name="seed", schema="id STRING", max_rows=1, table=bad_table)
    r = subprocess.run([str(weir_bin), "run", str(write_config(tmp_path, seed, name="seed.json")),
                        "--available-now"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    bad = datagen_pipeline(tmp_path, name="bad", schema="id LONG", max_rows=500, max_rows_per_trigger=100,
                           table=bad_table)
    bad["trigger"] = {"interval": "100ms"}
    good = datagen_pipeline(tmp_path, name="good", schema="id LONG", rows_per_second=1000)
    good["trigger"] = {"interval": "200ms"}
    cfg = write_config(tmp_path, bad, good, http={"listen": "127.0.0.1:0"})
    log = tmp_path / "weir.log"
    proc = start(weir_bin, cfg, stderr_path=log)
    try:
        port = wait_port(log, proc)

        def m(name, pipeline):
            return metrics(port).get((name, lab(pipeline)))

        wait_for(lambda: (m("weir_pipeline_restarts_total", "bad") or 0) >= 2, 60, "two restarts")
        status, _, body = get(port, "/ready")
        by_name = {p["name"]: p for p in json.loads(body)["pipelines"]}
        assert status == 503 and not by_name["bad"]["ready"] and by_name["good"]["ready"], body
        assert m("weir_pipeline_ready", "bad") == 0 and m("weir_batches_total", "bad") == 0
        shutil.rmtree(bad_table)
        wait_for(lambda: m("weir_batches_total", "bad") == 5, 60, "the restarted pipeline's batches")
        wait_for(lambda: get(port, "/ready")[0] == 200, 30, "/ready")
        assert m("weir_output_rows_total", "bad") == read_deltalake(str(bad_table)).num_rows == 500
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    assert rc == 0, log.read_text()[-3000:]
    msgs = [json.loads(l)["msg"] for l in log.read_text().splitlines() if '"pipeline":"bad"' in l]
    restarts = [x for x in msgs if x.startswith("restarting the pipeline")]
    assert restarts[:2] == ["restarting the pipeline in 1000 ms (restart 1)",
                            "restarting the pipeline in 2000 ms (restart 2)"], restarts


def ids_of(table):
    import deltalake
    return deltalake.DeltaTable(table).to_pyarrow_table(columns=["id"]).column("id").to_numpy()


def test_sigterm_during_a_large_batch(tmp_path, weir_bin):
    """SIGTERM while a batch of 5M rows (about 2 s) runs: with time enough
    (shutdown_timeout 60s) it commits and the process exits 0; with none
    (0s) it is abandoned, nothing of it is visible, and the process exits 0
    at once. Either way the next run goes on with no row lost or doubled."""
    from pipeline import progress, run
    for timeout, commits in (("60s", True), ("0s", False)):
        d = tmp_path / timeout
        d.mkdir()
        p = datagen_pipeline(d, schema="id LONG, a STRING, b STRING, c STRING, x DOUBLE, y DOUBLE, t TIMESTAMP",
                             max_rows=10_000_000, max_rows_per_trigger=5_000_000)
        cfg = write_config(d, p, shutdown_timeout=timeout)
        log = d / "weir.log"
        proc = start(weir_bin, cfg, stderr_path=log)
        wait_for(lambda: len(progress(log.read_text())) >= 1, 120, "the first batch")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0, log.read_text()[-3000:]
        took = time.monotonic() - t0
        done = [x["batchId"] for x in progress(log.read_text())]
        text = log.read_text()
        if commits:
            assert done == [0, 1], text[-3000:]  # the batch in flight committed
            assert "abandoning" not in text
        else:
            assert done == [0], text[-3000:]
            assert "shutdown_timeout (0 ms) passed: abandoning the batches in flight" in text
            assert took < 30, took
        table = str(p["sink"]["delta"]["path"])
        assert ids_of(table).size == 5_000_000 * len(done)
        r = run(weir_bin, cfg, "--available-now")
        assert r.returncode == 0, r.stderr[-3000:]
        rerun = [x["batchId"] for x in progress(r.stderr)]
        assert rerun == [1] if not commits else rerun == [], rerun
        ids = ids_of(table)
        assert len(ids) == 10_000_000 and len(set(ids.tolist())) == 10_000_000 and ids.max() == 9_999_999


def test_sighup_reload(tmp_path, weir_bin, read_deltalake):
    """SIGHUP reads the config again: a broken file is refused with its
    errors and everything keeps running; then a pipeline added starts, one
    removed stops after its batch, one changed starts again with its new
    config from its checkpoint, one unchanged runs on untouched."""
    from pipeline import log_lines, progress

    def gen(name, rate):
        p = datagen_pipeline(tmp_path, name=name, schema="id LONG", rows_per_second=rate)
        p["trigger"] = {"interval": "200ms"}
        return p

    a, b, c, keep = gen("a", 1000), gen("b", 1000), gen("c", 1000), gen("keep", 1000)
    cfg = write_config(tmp_path, a, b, keep, http={"listen": "127.0.0.1:0"})
    log = tmp_path / "weir.log"
    proc = start(weir_bin, cfg, stderr_path=log)
    try:
        port = wait_port(log, proc)

        def batches(name):
            return metrics(port).get(("weir_batches_total", lab(name)), 0)

        def runs(name):
            return {x["runId"] for x in progress(log.read_text()) if x["name"] == name}

        wait_for(lambda: all(batches(n) >= 2 for n in ("a", "b", "keep")), 60, "first batches")
        broken = json.loads(cfg.read_text())
        broken["pipelines"][0]["trigger"] = {"interval": "soon"}
        cfg.write_text(json.dumps(broken))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "is not valid" in log.read_text(), 30, "the broken config refused")
        errs = [l["msg"] for l in log_lines(log.read_text()) if l.get("level") == "error"]
        assert any("pipelines[0].trigger.interval" in m for m in errs), errs
        now = {n: batches(n) for n in ("a", "b", "keep")}
        wait_for(lambda: all(batches(n) > now[n] + 1 for n in now), 60, "all three to keep committing")
        a_run, keep_run = runs("a"), runs("keep")
        assert len(a_run) == 1 and len(keep_run) == 1

        a["source"]["datagen"]["rows_per_second"] = 2000
        write_config(tmp_path, a, keep, c, http={"listen": "127.0.0.1:0"})
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "SIGHUP: reloaded" in log.read_text(), 30, "the reload")
        assert "1 pipelines added, 1 removed, 1 changed" in log.read_text()
        wait_for(lambda: batches("c") >= 2, 60, "the added pipeline")
        wait_for(lambda: len(runs("a")) == 2, 60, "the changed pipeline to run again")
        b_then = read_deltalake(str(tmp_path / "b-table")).num_rows
        time.sleep(1.0)
        assert read_deltalake(str(tmp_path / "b-table")).num_rows == b_then  # removed: stopped
        assert runs("keep") == keep_run  # unchanged: never restarted
        ready = json.loads(get(port, "/ready")[2])
        assert sorted(p["name"] for p in ready["pipelines"]) == ["a", "c", "keep"]
        # the changed pipeline went on from its checkpoint: no id lost or doubled
        a_prog = [x for x in progress(log.read_text()) if x["name"] == "a"]
        assert [x["batchId"] for x in a_prog] == list(range(len(a_prog)))
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    assert rc == 0, log.read_text()[-3000:]
    ids = sorted(read_deltalake(str(tmp_path / "a-table")).column("id").to_pylist())
    assert ids == list(range(len(ids))) and ids
