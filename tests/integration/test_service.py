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

from pipeline import datagen_pipeline, start, write_config


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
