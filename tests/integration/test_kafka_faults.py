"""Failure handling against a real broker: the broker going away mid-run
is a retriable error (the batch reruns with backoff and nothing is lost or
doubled), and a fatal error in one pipeline stops only that pipeline (which
starts again after a backoff; test_service.py follows it to recovery)."""
import json
import signal

from pipeline import errors, kafka_pipeline, log_lines, progress, start, wait_for, write_config


def test_broker_down_mid_run_retries_and_loses_nothing(tmp_path, weir_bin, kafka_tool, read_deltalake):
    import kafka_broker
    broker = kafka_broker.KafkaBroker(workdir=tmp_path / "broker", kafka_tool=kafka_tool)
    broker.start()
    try:
        topic = "faults"
        broker.create_topic(topic, 4)
        broker.produce_json_bulk(topic, 200_000, partitions=4, seed=9)
        p = kafka_pipeline(tmp_path, "faults", broker.bootstrap, topic, "id LONG", "200ms", 20_000)
        logf = tmp_path / "weir.log"
        proc = start(weir_bin, write_config(tmp_path, p), stderr_path=logf)
        wait_for(lambda: len(progress(logf.read_text())) >= 2, 60, "two batches")
        broker.kill()
        # longer than the source waits for a stalled read (30 s): the batch
        # fails as retriable and the engine reruns it with backoff
        wait_for(lambda: any("retrying" in l.get("msg", "") for l in log_lines(logf.read_text())), 90,
                 "a retry while the broker is down")
        assert proc.poll() is None, logf.read_text()[-2000:]
        broker.start()
        broker.produce_json_bulk(topic, 50_000, partitions=4, seed=9, start_id=200_000)
        wait_for(lambda: sum(x["numInputRows"] for x in progress(logf.read_text())) >= 250_000, 180,
                 "all records after the broker came back")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        assert proc.returncode == 0, logf.read_text()[-2000:]
        text = logf.read_text()
        assert not errors(text), errors(text)
        retries = [l for l in log_lines(text) if l.get("level") == "warn" and "retrying in" in l.get("msg", "")]
        assert retries, text[-3000:]
        ids = sorted(read_deltalake(str(tmp_path / "table")).column("id").to_pylist())
        assert ids == list(range(250_000))
    finally:
        broker.stop()


def test_a_fatal_error_stops_only_its_pipeline(tmp_path, weir_bin, read_deltalake):
    # "bad" writes into a table whose schema cannot take its rows: fatal
    bad_table = tmp_path / "bad-table"
    good = {"name": "good", "checkpoint": str(tmp_path / "good-ckpt"), "trigger": {"interval": "100ms"},
            "source": {"datagen": {"schema": "id LONG", "rows_per_second": 5000}},
            "sink": {"delta": {"path": str(tmp_path / "good-table")}}}
    bad = {"name": "bad", "checkpoint": str(tmp_path / "bad-ckpt"),
           "source": {"datagen": {"schema": "id LONG, s STRING", "max_rows": 10}},
           "sink": {"delta": {"path": str(bad_table)}}}
    first = {"name": "seed", "checkpoint": str(tmp_path / "seed-ckpt"),
             "source": {"datagen": {"schema": "id STRING", "max_rows": 1}},
             "sink": {"delta": {"path": str(bad_table)}}}
    import subprocess
    r = subprocess.run([str(weir_bin), "run", str(write_config(tmp_path, first, name="seed.json")),
                        "--available-now"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    logf = tmp_path / "weir.log"
    proc = start(weir_bin, write_config(tmp_path, good, bad), stderr_path=logf)
    wait_for(lambda: any(e.get("pipeline") == "bad" for e in errors(logf.read_text())), 60, "bad to fail")
    n_then = len([x for x in progress(logf.read_text()) if x["name"] == "good"])
    wait_for(lambda: len([x for x in progress(logf.read_text()) if x["name"] == "good"]) >= n_then + 3, 60,
             "good to keep running")
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == 1  # a pipeline failed during the run
    text = logf.read_text()
    bad_errors = [e["msg"] for e in errors(text) if e.get("pipeline") == "bad"]
    assert any("column 'id' is string in the table but long" in m for m in bad_errors), bad_errors
    restarts = [l["msg"] for l in log_lines(text) if l.get("pipeline") == "bad" and "restarting" in l.get("msg", "")]
    assert restarts and restarts[0] == "restarting the pipeline in 1000 ms (restart 1)", restarts
    assert not [e for e in errors(text) if e.get("pipeline") == "good"]
    rows = read_deltalake(str(tmp_path / "good-table")).column("id").to_pylist()
    assert sorted(rows) == list(range(len(rows))) and rows
