"""The Kafka test harness itself: the real broker (kafka_broker.py, fixture
`kafka`) and bench/kafka_tool, which the Kafka source tests and the Kafka ->
Delta benchmark build on. If these fail, every Kafka test is suspect.

Run: .venv/bin/python -m pytest -q tests/integration/test_kafka_harness.py
"""
import json
import subprocess

import pytest

import kafka_broker

BULK = 100_000
PARTS = 8


def test_broker_answers_metadata(kafka):
    assert kafka.bootstrap.startswith("127.0.0.1:")
    md = kafka.admin.list_topics(timeout=10)
    assert list(md.brokers) == [1]
    assert kafka.proc is not None and kafka.proc.poll() is None
    # settings the tests rely on
    props = (kafka.workdir / "server.properties").read_text()
    assert "auto.create.topics.enable=false" in props
    assert "process.roles=broker,controller" in props


def test_auto_create_is_off(kafka):
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": kafka.bootstrap, "message.timeout.ms": 1500,
                  "logger": kafka_broker._NullLogger()})
    errors = []
    p.produce("never-created-topic", b"x", on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert len(errors) == 1 and errors[0] is not None
    assert "never-created-topic" not in kafka.topics()


def test_schema_matches_generated_records(kafka_tool):
    ddl = subprocess.run([kafka_tool, "schema"], capture_output=True, text=True, check=True).stdout.strip()
    names = [f.strip().split()[0] for f in ddl.split(",")]
    assert names == ["id", "user", "amount", "ts", "country", "qty", "flag", "note", "event", "produced_at"]
    out = subprocess.run([kafka_tool, "generate", "--count", "2000", "--seed", "7", "--start-id", "100"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    recs = [json.loads(line) for line in out]
    assert [r["id"] for r in recs] == list(range(100, 2100))
    assert all(list(r) == names for r in recs)
    # ~200 bytes per record, the benchmark's contract
    avg = sum(len(line) for line in out) / len(out)
    assert 180 <= avg <= 220, avg
    assert any(r["note"] is None for r in recs) and any(r["note"] is not None for r in recs)
    # deterministic by (seed, id) except produced_at; another seed differs
    again = subprocess.run([kafka_tool, "generate", "--count", "3", "--seed", "7", "--start-id", "100"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    other = subprocess.run([kafka_tool, "generate", "--count", "3", "--seed", "8", "--start-id", "100"],
                           capture_output=True, text=True, check=True).stdout.splitlines()

    def strip(line):
        d = json.loads(line)
        d.pop("produced_at")
        return d

    assert [strip(x) for x in again] == [strip(x) for x in out[:3]]
    assert [strip(x) for x in other] != [strip(x) for x in out[:3]]


def test_bulk_produce_and_consume(kafka, kafka_tool, kafka_topic):
    topic = kafka_topic(PARTS)
    assert kafka.end_offsets(topic) == {p: 0 for p in range(PARTS)}

    summary = kafka.produce_json_bulk(topic, BULK, partitions=PARTS, seed=42)
    assert summary["records"] == BULK
    assert 180 * BULK <= summary["bytes"] <= 220 * BULK
    assert summary["seconds"] > 0 and summary["records_per_s"] > 0 and summary["mb_per_s"] > 0

    ends = kafka.end_offsets(topic)
    assert sum(ends.values()) == BULK
    assert ends == {p: BULK // PARTS for p in range(PARTS)}  # id % 8: perfectly balanced
    assert kafka.start_offsets(topic) == {p: 0 for p in range(PARTS)}

    consumed = kafka.consume_summary(topic)
    assert consumed["records"] == BULK
    assert consumed["bytes"] == summary["bytes"]
    counts = kafka.consume_summary(topic, count_only=True)
    assert counts == {"records": BULK, "partitions": {str(p): BULK // PARTS for p in range(PARTS)}}

    # Spot-check the layout on a small topic: key = id, partition = id % P,
    # value = the generator's record for (seed, id).
    small = kafka_topic(3, suffix="small")
    kafka.produce_json_bulk(small, 30, partitions=3, seed=42, start_id=1000)
    recs = kafka.read(small)
    assert len(recs) == 30
    want = {r["id"]: r for r in kafka.expected_records(30, seed=42, start_id=1000)}
    for r in recs:
        v = json.loads(r.value)
        assert r.key == str(v["id"]).encode()
        assert r.partition == v["id"] % 3
        assert v.pop("produced_at").endswith("Z")
        w = dict(want[v["id"]])
        w.pop("produced_at")
        assert v == w
    assert sorted(json.loads(r.value)["id"] for r in recs) == list(range(1000, 1030))


def test_produce_with_headers_and_read_back(kafka, kafka_topic):
    topic = kafka_topic(2)
    records = [
        (0, b"k0", b'{"a":1}', [("trace", b"t-0"), ("empty", b"")]),
        (1, "k1", "text value", {"source": b"harness"}),
        (1, None, b"\x00\xffbinary", None),
        (0, b"k3", None, [("dup", b"1"), ("dup", b"2")]),  # a tombstone with repeated header names
    ]
    assert kafka.produce(topic, records) == 4
    assert kafka.end_offsets(topic) == {0: 2, 1: 2}
    got = kafka.read(topic)
    assert [(r.partition, r.offset) for r in got] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    by_key = {(r.partition, r.offset): r for r in got}
    assert by_key[(0, 0)].key == b"k0" and by_key[(0, 0)].value == b'{"a":1}'
    assert by_key[(0, 0)].headers == [("trace", b"t-0"), ("empty", b"")]
    assert by_key[(1, 0)].key == b"k1" and by_key[(1, 0)].value == b"text value"
    assert by_key[(1, 0)].headers == [("source", b"harness")]
    assert by_key[(1, 1)].key is None and by_key[(1, 1)].value == b"\x00\xffbinary"
    assert by_key[(1, 1)].headers == []
    assert by_key[(0, 1)].value is None
    assert by_key[(0, 1)].headers == [("dup", b"1"), ("dup", b"2")]
    assert all(r.timestamp > 0 for r in got)


def test_delete_records_advances_start_offsets(kafka, kafka_topic):
    topic = kafka_topic(4)
    kafka.produce_json_bulk(topic, 400, partitions=4, seed=1)
    assert kafka.start_offsets(topic) == {p: 0 for p in range(4)}
    kafka.delete_records(topic, {0: 40, 2: 100})
    assert kafka.start_offsets(topic) == {0: 40, 1: 0, 2: 100, 3: 0}
    assert kafka.end_offsets(topic) == {p: 100 for p in range(4)}
    # Consumers see only what is left, as after retention.
    assert kafka.consume_summary(topic, count_only=True) == {
        "records": 260, "partitions": {"0": 60, "1": 100, "2": 0, "3": 100}}
    left = kafka.read(topic)
    assert min(r.offset for r in left if r.partition == 0) == 40
    assert not [r for r in left if r.partition == 2]


def test_delete_and_recreate_topic(kafka, kafka_topic):
    topic = kafka_topic(2)
    kafka.produce(topic, [(0, b"a", b"1", None), (1, b"b", b"2", None)])
    kafka.delete_topic(topic)
    assert topic not in kafka.topics()
    kafka.create_topic(topic, 3)  # re-creation starts from offset 0 again
    assert kafka.end_offsets(topic) == {0: 0, 1: 0, 2: 0}


def test_kafka_tool_reports_missing_topic(kafka, kafka_tool):
    r = subprocess.run([kafka_tool, "produce", "--brokers", kafka.bootstrap, "--topic", "no-such-topic",
                        "--count", "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "no-such-topic" in r.stderr
    r = subprocess.run([kafka_tool, "consume", "--brokers", kafka.bootstrap, "--topic", "no-such-topic"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "no-such-topic" in r.stderr


def test_kafka_tool_rejects_more_partitions_than_topic_has(kafka, kafka_tool, kafka_topic):
    topic = kafka_topic(2)
    r = subprocess.run([kafka_tool, "produce", "--brokers", kafka.bootstrap, "--topic", topic, "--count", "1",
                        "--partitions", "4"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "has 2 partitions" in r.stderr
    assert kafka.end_offsets(topic) == {0: 0, 1: 0}


def test_kafka_tool_usage_errors(kafka_tool):
    for args in ([], ["produce", "--topic", "t", "--count", "1"], ["produce", "--brokers", "b", "--topic", "t"],
                 ["consume", "--brokers", "b"], ["generate", "--count", "x"], ["bogus"]):
        r = subprocess.run([kafka_tool, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.strip(), args


def test_rate_limited_produce_stamps_produce_time(kafka, kafka_topic):
    topic = kafka_topic(1)
    s = kafka.produce_json_bulk(topic, 20, partitions=1, seed=3, rate=200)
    assert s["records"] == 20
    recs = [json.loads(r.value) for r in kafka.read(topic)]
    stamps = [r["produced_at"] for r in recs]
    # ISO-8601 UTC with microseconds, non-decreasing in send order
    assert all(len(t) == 27 and t.endswith("Z") and t[19] == "." for t in stamps)
    assert stamps == sorted(stamps)
    # at 200/s, 20 records span at least 19/200 s = 95 ms of produce time
    from datetime import datetime
    span = (datetime.fromisoformat(stamps[-1][:-1]) - datetime.fromisoformat(stamps[0][:-1])).total_seconds()
    assert span >= 0.095, span


def test_missing_jars_fail_loudly(tmp_path):
    b = kafka_broker.KafkaBroker(workdir=tmp_path)
    b.libs = tmp_path / "no-libs"
    with pytest.raises(kafka_broker.KafkaUnavailable, match="scripts/setup.sh"):
        b.start()


def test_broker_restart_keeps_data(tmp_path, kafka_tool):
    """kill() + start() on the same work directory: same address, same records
    (what broker-failure tests of the Kafka source rely on)."""
    b = kafka_broker.KafkaBroker(workdir=tmp_path / "k", kafka_tool=kafka_tool)
    try:
        b.start()
        b.create_topic("keep", 2)
        b.produce_json_bulk("keep", 1000, partitions=2, seed=5)
        before = b.bootstrap
        b.kill()
        assert b.proc is None
        b.start()
        assert b.bootstrap == before
        assert b.end_offsets("keep") == {0: 500, 1: 500}
        b.stop()
        # a new KafkaBroker on the same directory finds the same ports and data
        b = kafka_broker.KafkaBroker(workdir=tmp_path / "k", kafka_tool=kafka_tool)
        b.start()
        assert b.bootstrap == before
        assert b.consume_summary("keep", count_only=True) == {"records": 1000, "partitions": {"0": 500, "1": 500}}
    finally:
        b.stop()


def test_helpers_for_pipeline_tests(kafka):
    """unique_topic, schema_ddl/schema_fields, consume_values and the async bulk producer."""
    a, b = kafka.unique_topic("x"), kafka.unique_topic("x")
    assert a != b and a.startswith("x-")
    kafka.create_topic(a, 3)
    try:
        assert kafka.schema_fields[0] == "id" and kafka.schema_fields[-1] == "produced_at"
        assert kafka.schema_ddl.startswith("id LONG, ")
        proc = kafka.produce_json_bulk_async(a, 3000, partitions=3, seed=9, rate=None)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert json.loads(out)["records"] == 3000
        values = kafka.consume_values(a)
        assert len(values) == 3000
        assert sorted(json.loads(v)["id"] for v in values) == list(range(3000))
    finally:
        kafka.delete_topic(a)
