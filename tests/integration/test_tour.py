"""README's five-minute tour, step by step, on examples/tour.json with only
its paths and port moved into the test's directory: both pipelines run in
one process, /ready and /metrics answer, a second drop of the same orders
is deduplicated, the pause needs the token, SIGHUP with the file unchanged
keeps the pipelines running, SIGTERM exits 0, and the table tools work on
the running tables."""
import json
import shutil
import signal
import urllib.error
import urllib.request

import deltalake

from pipeline import start, wait_for
from procs import free_port, stop, tail
from readers import ROOT


def get(port, path, method="GET", token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except urllib.error.URLError:
        return 0, ""  # not listening yet


def metric(port, name, pipeline):
    _, body = get(port, "/metrics")
    for line in body.splitlines():
        if line.startswith(f'{name}{{pipeline="{pipeline}"}} '):
            return float(line.split()[-1])
    return None


def test_readme_tour(tmp_path, weir_bin, run_weir):
    port = free_port()
    text = (ROOT / "examples" / "tour.json").read_text()
    assert "/tmp/weir-tour" in text and "127.0.0.1:9400" in text
    cfg_path = tmp_path / "tour.json"
    cfg_path.write_text(text.replace("/tmp/weir-tour", str(tmp_path)).replace("9400", str(port)))
    cfg = json.loads(cfg_path.read_text())
    token = cfg["http"]["token"]
    orders = tmp_path / "lake" / "orders"
    clicks = tmp_path / "lake" / "clicks"
    r = run_weir("validate", str(cfg_path))
    assert r.returncode == 0 and "ok (2 pipelines)" in r.stdout, r.stderr

    landing = tmp_path / "landing"
    landing.mkdir()
    shutil.copy(ROOT / "examples" / "orders.jsonl", landing / "a.json")
    log = tmp_path / "weir.log"
    proc = start(weir_bin, cfg_path, stderr_path=log)
    try:
        wait_for(lambda: get(port, "/ready")[0] == 200, 60, f"/ready\n{tail(log)}")
        wait_for(lambda: metric(port, "weir_output_rows_total", "orders-bronze") == 5, 60, "the first orders")
        batches = metric(port, "weir_batches_total", "orders-bronze")
        shutil.copy(ROOT / "examples" / "orders.jsonl", landing / "b.json")
        wait_for(lambda: metric(port, "weir_input_rows_total", "orders-bronze") == 10, 60, "the second drop")
        wait_for(lambda: metric(port, "weir_batches_total", "orders-bronze") > batches, 60, "its batch")
        assert metric(port, "weir_output_rows_total", "orders-bronze") == 5
        status, body = get(port, "/progress")
        assert status == 200 and set(json.loads(body)) == {"orders-bronze", "clicks"}

        assert sorted(deltalake.DeltaTable(str(orders)).to_pyarrow_table().column("id").to_pylist()) == \
            [1, 2, 3, 4, 5]
        r = run_weir("table", "history", str(orders))
        assert r.returncode == 0 and "WRITE" in r.stdout
        assert get(port, "/pipelines/clicks/pause", "POST")[0] == 401
        assert get(port, "/pipelines/clicks/pause", "POST", token="wrong")[0] == 401
        status, body = get(port, "/pipelines/clicks/pause", "POST", token=token)
        assert (status, json.loads(body)) == (200, {"name": "clicks", "paused": True})

        proc.send_signal(signal.SIGHUP)  # unchanged file: nothing restarts
        wait_for(lambda: "reload" in log.read_text(), 30, f"the reload\n{tail(log)}")
        assert proc.poll() is None
        assert get(port, "/ready")[0] == 200

        r = run_weir("table", "optimize", str(clicks))
        assert r.returncode == 0, r.stderr
        r = run_weir("table", "vacuum", str(clicks), "--dry-run")
        assert r.returncode == 0 and json.loads(r.stdout)["files"] == 0, r.stderr
    finally:
        stop(proc, signal.SIGTERM, 60, group=False)
    assert proc.returncode == 0, tail(log)
    assert deltalake.DeltaTable(str(clicks)).to_pyarrow_table().num_rows > 0
