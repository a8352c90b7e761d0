"""`weir checkpoint inspect` and `weir checkpoint reset-offsets` against a
real Kafka broker (the session `kafka` fixture): inspect after a two-batch
run agrees with the broker's end offsets and with the progress records,
also next to a running pipeline (which it reports by pid, without
disturbing it); a topic deleted and created again with fewer records
stops the pipeline on data loss, and a reset to earliest (dry run first,
which changes nothing on disk) lets it go on with exactly the new records
once; explicit offsets skip records (one topic only with --topic); a reset
to a timestamp replays from there; and the refusals: a running pipeline,
an uncommitted batch (then replaced with --discard-pending), a non-Kafka
source, bad SPECs."""
import datetime
import json
import signal
import subprocess
import time

from pipeline import errors, progress, run, start, wait_for, write_config


def kafka_pipeline(tmp_path, kafka, topics, name="orders", interval=None, **opts):
    src = {"bootstrap_servers": kafka.bootstrap, "topics": list(topics), "starting_offsets": "earliest",
           "fail_on_data_loss": True, **opts}
    p = {
        "name": name,
        "checkpoint": str(tmp_path / f"{name}-ckpt"),
        "source": {"kafka": src},
        "transform": [{"decode": {"format": "json", "schema": "id LONG"}}],
        "sink": {"delta": {"path": str(tmp_path / f"{name}-table")}},
    }
    if interval is not None:
        p["trigger"] = {"interval": interval}
    return p


def produce_ids(kafka, topic, ids, partitions=1):
    kafka.produce(topic, [(i % partitions, None, json.dumps({"id": i}).encode(), None) for i in ids])


def table_ids(read_deltalake, p):
    return sorted(read_deltalake(p["sink"]["delta"]["path"]).column("id").to_pylist())


def inspect_json(run_weir, ckpt, *args):
    r = run_weir("checkpoint", "inspect", ckpt, "--json", *args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1  # one JSON object
    return json.loads(r.stdout)


def broker_offsets(kafka, topic):
    """{"<partition>": end offset}, as the checkpoint writes them."""
    return {str(p): o for p, o in kafka.end_offsets(topic).items()}


def snapshot(root):
    """Every file under root with its bytes (the lock file included)."""
    return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}


def recreate_topic(kafka, topic, partitions):
    kafka.delete_topic(topic)
    deadline = time.monotonic() + 60
    while True:  # the controller may still be removing the old one
        try:
            kafka.create_topic(topic, partitions)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_held(run_weir, ckpt, proc, log):
    def held():
        assert proc.poll() is None, log.read_text()[-3000:]
        r = run_weir("checkpoint", "inspect", ckpt, "--json")
        if r.returncode != 0:  # not created yet
            assert "no metadata file" in r.stderr, r.stderr
            return False
        j = json.loads(r.stdout)
        return j["lock"]["held"] and j["lastCommitted"] is not None
    wait_for(held, 120, "the running pipeline to hold the checkpoint lock")


# ---------------------------------------------------------------- inspect


def test_inspect_after_two_batches_and_while_running(tmp_path, weir_bin, run_weir, kafka, kafka_topic,
                                                     read_deltalake):
    topic = kafka_topic(partitions=2)
    produce_ids(kafka, topic, range(20), partitions=2)
    p = kafka_pipeline(tmp_path, kafka, [topic], max_offsets_per_trigger=10)
    cfg = write_config(tmp_path, p)
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    prog = progress(r.stderr)
    assert [x["batchId"] for x in prog] == [0, 1]
    ckpt = p["checkpoint"]

    j = inspect_json(run_weir, ckpt)
    assert j["pipeline"] == "orders"
    assert j["queryId"] == prog[0]["id"]
    assert j["lastCommitted"] == 1 and j["pendingBatch"] is None and j["oldestRetained"] == 0
    assert [b["batch"] for b in j["batches"]] == [1, 0]
    assert all(b["status"] == "committed" and b["reset"] is None for b in j["batches"])
    # the newest batch ends where the topic ends; each batch where its progress said
    assert j["batches"][0]["sources"] == [{topic: broker_offsets(kafka, topic)}]
    assert j["batches"][0]["sources"][0] == {topic: {"0": 10, "1": 10}}
    for b, pr in zip(reversed(j["batches"]), prog):
        assert b["sources"][0] == pr["sources"][0]["endOffset"]
        when = datetime.datetime.fromisoformat(b["time"].replace("Z", "+00:00"))
        assert int(when.timestamp() * 1000) == b["timestampMs"]
    assert j["initialOffsets"] == [{topic: {"0": 0, "1": 0}}]
    assert j["state"]["versions"] == []
    assert j["lock"]["known"] and not j["lock"]["held"]
    assert [b["batch"] for b in inspect_json(run_weir, ckpt, "--limit", "1")["batches"]] == [1]

    r = run_weir("checkpoint", "inspect", ckpt)
    assert r.returncode == 0, r.stderr
    for needle in ("Pipeline:         orders", f"Query id:         {j['queryId']}", "Last committed:   batch 1",
                   "Pending:          none", "Lock:             free", "newest 2 of 2 retained (0..1)",
                   f'source 0: {{"{topic}":{{"0":10,"1":10}}}}', f'source 0: {{"{topic}":{{"0":5,"1":5}}}}',
                   "State versions:   none"):
        assert needle in r.stdout, r.stdout

    # next to the running pipeline: read-only, reports its pid, disturbs nothing
    p_run = kafka_pipeline(tmp_path, kafka, [topic], interval="500ms")
    cfg_run = write_config(tmp_path, p_run, name="running.json")
    log = tmp_path / "running.log"
    proc = start(weir_bin, cfg_run, stderr_path=log)
    try:
        wait_held(run_weir, ckpt, proc, log)
        j = inspect_json(run_weir, ckpt)
        assert j["lock"] == {"known": True, "held": True, "pid": proc.pid}
        r = run_weir("checkpoint", "inspect", ckpt)
        assert r.returncode == 0 and f"held by pid {proc.pid}" in r.stdout, r
        produce_ids(kafka, topic, range(20, 30), partitions=2)
        wait_for(lambda: inspect_json(run_weir, ckpt)["batches"][0]["sources"][0] ==
                 {topic: broker_offsets(kafka, topic)}, 120, "the running pipeline to read the new records")
        assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        stop(proc)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert table_ids(read_deltalake, p) == list(range(30))
    j = inspect_json(run_weir, ckpt)
    assert not j["lock"]["held"] and j["lock"]["pid"] == proc.pid


def test_inspect_refuses_what_is_not_a_checkpoint(tmp_path, run_weir):
    r = run_weir("checkpoint", "inspect", tmp_path / "nothing")
    assert r.returncode == 1
    assert "is not a checkpoint: it has no metadata file" in r.stderr and "nothing/metadata" in r.stderr
    assert not (tmp_path / "nothing").exists()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metadata").write_text("{not json")
    r = run_weir("checkpoint", "inspect", tmp_path / "bad")
    assert r.returncode == 1 and "bad/metadata" in r.stderr and "does not parse" in r.stderr, r.stderr


# ---------------------------------------------------------------- reset after a topic reset


def test_topic_recreated_reset_to_earliest(tmp_path, weir_bin, run_weir, kafka, kafka_topic, read_deltalake):
    topic = kafka_topic(partitions=2)
    produce_ids(kafka, topic, range(30), partitions=2)
    p = kafka_pipeline(tmp_path, kafka, [topic])
    cfg = write_config(tmp_path, p)
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    assert table_ids(read_deltalake, p) == list(range(30))
    ckpt = p["checkpoint"]
    before = inspect_json(run_weir, ckpt)
    assert before["batches"][0]["sources"][0] == {topic: {"0": 15, "1": 15}}
    last = before["lastCommitted"]

    # the topic is deleted and created again, with fewer records than before
    recreate_topic(kafka, topic, 2)
    produce_ids(kafka, topic, range(100, 110), partitions=2)
    assert kafka.end_offsets(topic) == {0: 5, 1: 5}
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 1
    msg = " ".join(e["msg"] for e in errors(r.stderr))
    assert "data loss" in msg and "expected offset 15" in msg and "re-created" in msg, r.stderr
    assert table_ids(read_deltalake, p) == list(range(30))

    # dry run: what would change, and nothing on disk changes (not even the lock file)
    root = tmp_path / "orders-ckpt"
    disk = snapshot(root)
    r = run_weir("checkpoint", "reset-offsets", ckpt, "--to", "earliest", "--config", cfg, "--dry-run")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "source 0 to earliest" in out
    for part in ("0", "1"):
        assert any(l.split()[:5] == [topic, part, "15", "->", "0"] for l in out.splitlines()), out
    assert f"marker batch {last + 1}" in out and "dry run: nothing written" in out
    assert snapshot(root) == disk

    r = run_weir("checkpoint", "reset-offsets", ckpt, "--to", "earliest", "--config", cfg)
    assert r.returncode == 0, r.stderr
    assert f"wrote batch {last + 1} (offsets reset)" in r.stdout
    j = inspect_json(run_weir, ckpt)
    assert j["lastCommitted"] == last + 1 and j["pendingBatch"] is None
    marker = j["batches"][0]
    assert marker["batch"] == last + 1 and marker["status"] == "committed"
    assert marker["reset"] == "source 0: earliest"
    assert marker["sources"] == [{topic: {"0": 0, "1": 0}}]
    r = run_weir("checkpoint", "inspect", ckpt)
    assert "offsets reset (source 0: earliest)" in r.stdout

    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    assert [x["batchId"] for x in progress(r.stderr)] == [last + 2]
    # the old rows, and each new record exactly once
    assert table_ids(read_deltalake, p) == list(range(30)) + list(range(100, 110))
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    assert table_ids(read_deltalake, p) == list(range(30)) + list(range(100, 110))


# ---------------------------------------------------------------- explicit offsets, timestamp


def test_explicit_offsets_skip_records(tmp_path, weir_bin, run_weir, kafka, kafka_topic, read_deltalake):
    a, b = kafka_topic(), kafka_topic()
    produce_ids(kafka, a, range(10))
    produce_ids(kafka, b, range(1000, 1010))
    p = kafka_pipeline(tmp_path, kafka, [a, b])
    cfg = write_config(tmp_path, p)
    assert run(weir_bin, cfg, "--available-now").returncode == 0
    produce_ids(kafka, a, range(10, 30))
    produce_ids(kafka, b, range(1010, 1020))
    ckpt = p["checkpoint"]
    # skip a's offsets 10..19; b is named too but --topic keeps it where it was
    spec = json.dumps({a: {"0": 20}, b: {"0": 0}})
    r = run_weir("checkpoint", "reset-offsets", ckpt, "--to", spec, "--topic", a)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(l.split()[:5] == [a, "0", "10", "->", "20"] for l in lines), r.stdout
    assert any(l.split()[:5] == [b, "0", "10", "->", "10"] for l in lines), r.stdout
    j = inspect_json(run_weir, ckpt)
    assert j["batches"][0]["sources"] == [{a: {"0": 20}, b: {"0": 10}}]
    assert j["batches"][0]["reset"] == f"source 0, topic {a}: offsets"
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    assert table_ids(read_deltalake, p) == list(range(10)) + list(range(20, 30)) + list(range(1000, 1020))


def test_reset_to_timestamp_replays_and_latest_skips(tmp_path, weir_bin, run_weir, kafka, kafka_topic,
                                                    read_deltalake):
    topic = kafka_topic(partitions=2)
    produce_ids(kafka, topic, range(10), partitions=2)
    time.sleep(1.0)
    ts = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(1.0)
    produce_ids(kafka, topic, range(10, 20), partitions=2)
    p = kafka_pipeline(tmp_path, kafka, [topic])
    cfg = write_config(tmp_path, p)
    assert run(weir_bin, cfg, "--available-now").returncode == 0
    ckpt = p["checkpoint"]
    iso = ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    r = run_weir("checkpoint", "reset-offsets", ckpt, "--to", f"timestamp:{iso}", "--config", cfg)
    assert r.returncode == 0, r.stderr
    j = inspect_json(run_weir, ckpt)
    assert j["batches"][0]["sources"] == [{topic: {"0": 5, "1": 5}}]
    ms = round(datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    assert j["batches"][0]["reset"] == f"source 0: timestamp:{ms}"
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    # the records from the timestamp on are read again (a replay, as asked)
    assert table_ids(read_deltalake, p) == sorted(list(range(20)) + list(range(10, 20)))

    produce_ids(kafka, topic, range(20, 24), partitions=2)
    r = run_weir("checkpoint", "reset-offsets", ckpt, "--to", "latest", "--config", cfg)
    assert r.returncode == 0, r.stderr
    produce_ids(kafka, topic, range(24, 28), partitions=2)
    assert run(weir_bin, cfg, "--available-now").returncode == 0
    assert table_ids(read_deltalake, p) == sorted(list(range(20)) + list(range(10, 20)) + list(range(24, 28)))


def test_reset_keeps_the_state(tmp_path, weir_bin, run_weir, kafka, kafka_topic, read_deltalake):
    """A dedup pipeline replayed from earliest: the marker batch carries the
    state over (version M = a copy of version N), so the replayed records
    are recognised as duplicates and only the new ones are written."""
    topic = kafka_topic()
    produce_ids(kafka, topic, range(10))
    p = kafka_pipeline(tmp_path, kafka, [topic])
    p["transform"].append({"dedup": {"keys": ["id"], "unbounded": True}})
    cfg = write_config(tmp_path, p)
    assert run(weir_bin, cfg, "--available-now").returncode == 0
    ckpt = p["checkpoint"]
    j = inspect_json(run_weir, ckpt)
    last = j["lastCommitted"]
    assert j["state"]["versions"][-1] == last
    r = run_weir("checkpoint", "reset-offsets", ckpt, "--to", "earliest", "--config", cfg)
    assert r.returncode == 0, r.stderr
    assert "state version made" in r.stdout
    j = inspect_json(run_weir, ckpt)
    assert j["lastCommitted"] == last + 1 and j["state"]["versions"][-2:] == [last, last + 1]
    assert j["batches"][0]["sources"] == [{topic: {"0": 0}}]
    assert "State versions:" in run_weir("checkpoint", "inspect", ckpt).stdout
    produce_ids(kafka, topic, range(10, 15))
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    assert "state restored to version %d" % (last + 1) in r.stderr
    assert sum(x["numInputRows"] for x in progress(r.stderr)) == 15  # all of it read again...
    assert table_ids(read_deltalake, p) == list(range(15))  # ...and only the new records written


# ---------------------------------------------------------------- refusals


def test_refused_while_the_pipeline_runs(tmp_path, weir_bin, run_weir, kafka, kafka_topic):
    topic = kafka_topic()
    produce_ids(kafka, topic, range(5))
    p = kafka_pipeline(tmp_path, kafka, [topic], interval="500ms")
    cfg = write_config(tmp_path, p)
    log = tmp_path / "running.log"
    proc = start(weir_bin, cfg, stderr_path=log)
    try:
        wait_held(run_weir, p["checkpoint"], proc, log)
        for extra in ([], ["--dry-run"]):
            r = run_weir("checkpoint", "reset-offsets", p["checkpoint"], "--to", "earliest", "--config", cfg,
                         *extra)
            assert r.returncode == 1, (extra, r)
            assert "in use by another running weir pipeline" in r.stderr and f"pid {proc.pid}" in r.stderr, r
        assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        stop(proc)
    assert proc.returncode == 0, log.read_text()[-3000:]


def test_pending_batch_refused_then_discarded(tmp_path, weir_bin, run_weir, kafka, kafka_topic, read_deltalake):
    from pipeline import crash_at

    topic = kafka_topic()
    produce_ids(kafka, topic, range(20))
    p = kafka_pipeline(tmp_path, kafka, [topic], max_offsets_per_trigger=10)
    cfg = write_config(tmp_path, p)
    assert run(weir_bin, cfg, "--once").returncode == 0  # batch 0: offsets 0..9
    # batch 1 (offsets 10..19) is planned; the process dies before its Delta commit
    crash_at(weir_bin, cfg, "delta.before_commit", tmp_path / "crash.log")
    ckpt = p["checkpoint"]
    j = inspect_json(run_weir, ckpt)
    assert j["lastCommitted"] == 0 and j["pendingBatch"] == 1
    assert j["batches"][0]["status"] == "pending"
    r = run_weir("checkpoint", "inspect", ckpt)
    assert "Pending:          batch 1" in r.stdout

    spec = json.dumps({topic: {"0": 20}})
    r = run_weir("checkpoint", "reset-offsets", ckpt, "--to", spec)
    assert r.returncode == 1
    assert "batch 1 of pipeline 'orders' is planned but not committed" in r.stderr
    assert "--discard-pending" in r.stderr
    assert inspect_json(run_weir, ckpt)["pendingBatch"] == 1

    r = run_weir("checkpoint", "reset-offsets", ckpt, "--to", spec, "--discard-pending")
    assert r.returncode == 0, r.stderr
    assert "marker batch 1" in r.stdout and "in place of the uncommitted batch" in r.stdout
    j = inspect_json(run_weir, ckpt)
    assert j["lastCommitted"] == 1 and j["pendingBatch"] is None
    assert j["batches"][0]["reset"] == "source 0: offsets"
    assert j["batches"][0]["sources"] == [{topic: {"0": 20}}]
    produce_ids(kafka, topic, range(20, 25))
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    # the discarded batch's records (10..19) were never written
    assert table_ids(read_deltalake, p) == list(range(10)) + list(range(20, 25))


def test_non_kafka_source_refused(tmp_path, run_weir, weir_bin):
    from pipeline import datagen_pipeline

    p = datagen_pipeline(tmp_path, max_rows=100)
    cfg = write_config(tmp_path, p)
    assert run(weir_bin, cfg, "--available-now").returncode == 0
    ckpt = p["checkpoint"]
    r = run_weir("checkpoint", "reset-offsets", ckpt, "--to", "earliest", "--config", cfg)
    assert r.returncode == 2
    assert "pipeline 'gen' reads from a datagen source, not Kafka" in r.stderr
    r = run_weir("checkpoint", "reset-offsets", ckpt, "--to", '{"t":{"0":1}}')
    assert r.returncode == 2
    assert "source 0 of pipeline 'gen' does not hold Kafka offsets" in r.stderr
    assert inspect_json(run_weir, ckpt)["batches"][0]["reset"] is None


def test_bad_usage(tmp_path, run_weir, weir_bin, kafka, kafka_topic):
    topic = kafka_topic()
    produce_ids(kafka, topic, range(3))
    p = kafka_pipeline(tmp_path, kafka, [topic])
    cfg = write_config(tmp_path, p)
    assert run(weir_bin, cfg, "--available-now").returncode == 0
    ckpt = p["checkpoint"]
    other = write_config(tmp_path, kafka_pipeline(tmp_path, kafka, [topic], name="other"), name="other.json")
    disk = snapshot(tmp_path / "orders-ckpt")
    cases = [
        (["--to", "bogus"], "--to 'bogus' is not a reset"),
        (["--to", "timestamp:yesterday"], "'yesterday' is neither milliseconds since the epoch nor an ISO-8601"),
        (["--to", '{"t":{"0":"x"}}'], "offset must be an integer"),
        (["--to", '{"t":'], "malformed JSON"),
        ([], "missing --to SPEC"),
        (["--to"], "--to needs a SPEC"),
        (["--to", "earliest"], "--to earliest asks the pipeline's Kafka brokers"),
        (["--to", "latest", "--config", str(other)], "has no pipeline 'orders'"),
        (["--to", "earliest", "--config", str(cfg), "--topic", "elsewhere"], "does not read topic 'elsewhere'"),
        (["--to", json.dumps({topic: {"0": 1}}), "--topic", "elsewhere"], "no partition of topic 'elsewhere'"),
        (["--to", json.dumps({"elsewhere": {"0": 1}}), "--config", str(cfg)], "does not read topic 'elsewhere'"),
        (["--to", json.dumps({topic: {"0": 1}}), "--source", "3"], "--source 3: pipeline 'orders' has 1 source"),
        (["--to", "earliest", "--bogus"], "unknown option '--bogus'"),
    ]
    for args, needle in cases:
        r = run_weir("checkpoint", "reset-offsets", ckpt, *args)
        assert r.returncode == 2, (args, r)
        assert needle in r.stderr and "--help" in r.stderr, (args, r.stderr)
        assert r.stdout == ""
    r = run_weir("checkpoint", "reset-offsets", "--to", "earliest")
    assert r.returncode == 2 and "missing checkpoint DIR" in r.stderr
    for args in (["checkpoint"], ["checkpoint", "frobnicate", ckpt], ["checkpoint", "inspect"],
                 ["checkpoint", "inspect", ckpt, "--limit", "-1"], ["checkpoint", "inspect", ckpt, "x"]):
        r = run_weir(*args)
        assert r.returncode == 2, (args, r)
    assert snapshot(tmp_path / "orders-ckpt") == disk
    r = run_weir("checkpoint", "--help")
    assert r.returncode == 0 and "reset-offsets DIR --to SPEC" in r.stdout and "--discard-pending" in r.stdout
    r = run_weir("--help")
    assert "checkpoint inspect DIR" in r.stdout and "checkpoint reset-offsets" in r.stdout
