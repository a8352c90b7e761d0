"""Kafka -> Delta through `weir run` against a real Apache Kafka broker
(the session `kafka` fixture): the exact record set arrives once, batch
limits with --available-now, malformed records, and data loss by
retention."""
import json
import subprocess

import pytest

from pipeline import errors, log_lines, progress, run, write_config


def kafka_pipeline(tmp_path, kafka, topic, name="orders", schema=None, decode=None, transform=None, **opts):
    src = {"bootstrap_servers": kafka.bootstrap, "topics": [topic], "starting_offsets": "earliest", **opts}
    steps = transform if transform is not None else [
        {"decode": {"format": "json", "schema": schema, **(decode or {})}}]
    return {
        "name": name,
        "checkpoint": str(tmp_path / f"{name}-ckpt"),
        "source": {"kafka": src},
        "transform": steps,
        "sink": {"delta": {"path": str(tmp_path / f"{name}-table")}},
    }


def duck_stats(read_duckdb_sql, table):
    return read_duckdb_sql(table, "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM t")[0]


@pytest.fixture()
def duck_sql():
    import readers

    def q(table, sql):
        con = readers.duckdb_connect()
        try:
            con.execute(f"CREATE VIEW t AS SELECT * FROM delta_scan('{table}')")
            return con.execute(sql).fetchall()
        finally:
            con.close()
    return q


def test_million_records_exactly_the_produced_set(tmp_path, weir_bin, kafka, read_deltalake):
    topic = kafka.unique_topic("a1")
    kafka.create_topic(topic, 8)
    n = 1_000_000
    kafka.produce_json_bulk(topic, n, partitions=8, seed=11)
    assert sum(kafka.end_offsets(topic).values()) == n
    p = kafka_pipeline(tmp_path, kafka, topic, schema=kafka.schema_ddl)
    r = run(weir_bin, write_config(tmp_path, p), "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    assert sum(x["numInputRows"] for x in progress(r.stderr)) == n
    got = read_deltalake(p["sink"]["delta"]["path"])
    assert got.num_rows == n
    cols = got.column_names
    assert "_rescued_data" in cols and got.column("_rescued_data").null_count == n
    # the produced records, read back from Kafka independently of weir
    produced = {}
    for value in kafka.consume_values(topic):
        rec = json.loads(value)
        produced[rec["id"]] = rec
    assert len(produced) == n
    table = got.to_pydict()
    ids = table["id"]
    assert sorted(ids) == sorted(produced)
    fields = [f for f in kafka.schema_fields if f not in ("ts", "produced_at")]
    for i in range(0, n, 997):  # every 997th row, all fields but timestamps compared exactly
        rec = produced[ids[i]]
        for f in fields:
            assert table[f][i] == rec[f], (ids[i], f, table[f][i], rec[f])


def test_available_now_two_million_in_twenty_batches(tmp_path, weir_bin, kafka, duck_sql):
    topic = kafka.unique_topic("a5")
    kafka.create_topic(topic, 8)
    n = 2_000_000
    kafka.produce_json_bulk(topic, n, partitions=8, seed=5)
    p = kafka_pipeline(tmp_path, kafka, topic, schema="id LONG", max_offsets_per_trigger=100_000)
    r = run(weir_bin, write_config(tmp_path, p), "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    prog = progress(r.stderr)
    assert [x["batchId"] for x in prog] == list(range(20))
    assert all(x["numInputRows"] == 100_000 for x in prog), [x["numInputRows"] for x in prog]
    assert duck_stats(duck_sql, p["sink"]["delta"]["path"]) == (n, n, 0, n - 1)


BAD = [
    (b'{"id": 100, "name": "not closed"', "bad JSON"),
    (b'{"id": "abc", "name": "x"}', "wrong type"),
    (b'{"id": 99999999999999999999, "name": "x"}', "out of range"),
    (b'{"id": 101, "name": "\xff\xfe bad utf8"}', "invalid UTF-8"),
    (b'{"id": 102, "name": "' + b"x" * 5000 + b'"}', "oversized"),
]


def produce_mixed(kafka, topic):
    recs = []
    for i in range(40):
        recs.append((i % 2, str(i).encode(), json.dumps({"id": i, "name": f"n{i}"}).encode(), None))
    for j, (v, _) in enumerate(BAD):
        recs.append((j % 2, b"bad", v, None))
    kafka.produce(topic, recs)
    return 40, len(BAD)


def test_malformed_records_are_rescued(tmp_path, weir_bin, kafka, read_deltalake):
    topic = kafka.unique_topic("bad")
    kafka.create_topic(topic, 2)
    good, bad = produce_mixed(kafka, topic)
    p = kafka_pipeline(tmp_path, kafka, topic, schema="id LONG, name STRING",
                       decode={"max_record_size": "4KB", "keep": ["partition", "offset"]})
    r = run(weir_bin, write_config(tmp_path, p), "--available-now")
    assert r.returncode == 0, r.stderr
    t = read_deltalake(p["sink"]["delta"]["path"]).to_pylist()
    assert len(t) == good + bad
    rescued = [json.loads(x["_rescued_data"]) for x in t if x["_rescued_data"] is not None]
    assert len(rescued) == bad
    ok = sorted(x["id"] for x in t if x["_rescued_data"] is None)
    assert ok == list(range(good))
    reasons = " | ".join(x["error"] for x in rescued)
    for needle in ("UTF-8", "max_record_size", "expected"):
        assert needle in reasons, reasons
    assert all(x["topic"] == topic and "offset" in x and ("value" in x or "value_base64" in x) for x in rescued)
    prog = progress(r.stderr)
    assert sum(x["transform"]["numRescuedRows"] for x in prog) == bad


def test_malformed_records_go_to_the_dead_letter_table(tmp_path, weir_bin, kafka, read_deltalake):
    topic = kafka.unique_topic("dlq")
    kafka.create_topic(topic, 2)
    good, bad = produce_mixed(kafka, topic)
    dlq = tmp_path / "dead-letters"
    p = kafka_pipeline(tmp_path, kafka, topic, schema="id LONG, name STRING",
                       decode={"on_error": "dead_letter", "dead_letter_path": str(dlq), "max_record_size": "4KB"})
    cfg = write_config(tmp_path, p)
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    main = read_deltalake(p["sink"]["delta"]["path"]).to_pylist()
    assert sorted(x["id"] for x in main) == list(range(good))
    dead = read_deltalake(str(dlq)).to_pylist()
    assert len(dead) == bad
    assert sorted(bytes(x["value"]) for x in dead) == sorted(v for v, _ in BAD)
    assert all(x["topic"] == topic and x["error"] and x["pipeline"] == "orders" for x in dead)
    # a replay of the batch (commits/0 lost) must not duplicate dead letters or rows
    (tmp_path / "orders-ckpt" / "commits" / "0").unlink()
    r = run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr
    assert read_deltalake(str(dlq)).num_rows == bad
    assert read_deltalake(p["sink"]["delta"]["path"]).num_rows == good


def test_on_error_fail_names_the_record(tmp_path, weir_bin, kafka):
    topic = kafka.unique_topic("fail")
    kafka.create_topic(topic, 1)
    kafka.produce(topic, [(0, None, b'{"id": 1}', None), (0, None, b'{"id": "x"}', None)])
    p = kafka_pipeline(tmp_path, kafka, topic, schema="id LONG", decode={"on_error": "fail"})
    r = run(weir_bin, write_config(tmp_path, p), "--available-now")
    assert r.returncode == 1
    msg = " ".join(e["msg"] for e in errors(r.stderr))
    assert topic in msg and "offset 1" in msg, r.stderr


@pytest.mark.parametrize("fail_on_data_loss", [True, False])
def test_records_deleted_by_retention(tmp_path, weir_bin, kafka, fail_on_data_loss):
    topic = kafka.unique_topic("loss")
    kafka.create_topic(topic, 2)
    kafka.produce(topic, [(i % 2, None, json.dumps({"id": i}).encode(), None) for i in range(20)])
    p = kafka_pipeline(tmp_path, kafka, topic, schema="id LONG", fail_on_data_loss=fail_on_data_loss,
                       max_offsets_per_trigger=4)
    cfg = write_config(tmp_path, p)
    assert run(weir_bin, cfg, "--once").returncode == 0  # offsets 0-1 of each partition
    kafka.delete_records(topic, {0: 6, 1: 6})  # what retention does: the log now starts at 6
    r = run(weir_bin, cfg, "--available-now")
    if fail_on_data_loss:
        assert r.returncode == 1
        msg = " ".join(e["msg"] for e in errors(r.stderr))
        assert topic in msg and "fail_on_data_loss" in msg, r.stderr
    else:
        assert r.returncode == 0, r.stderr
        prog = progress(r.stderr)
        lost = sum(x["sources"][0]["metrics"].get("dataLossRecords", 0) for x in prog)
        assert lost == 8  # offsets 2..5 of both partitions
        assert any("lost" in l.get("msg", "") or "data loss" in l.get("msg", "").lower()
                   for l in log_lines(r.stderr) if l.get("level") == "warn"), r.stderr


def test_design_example_runs_as_written(tmp_path, weir_bin, kafka, read_deltalake, read_spark):
    """examples/orders-bronze.json (DESIGN.md's example) with only the broker
    address, topic and paths pointed at this test's."""
    import readers
    cfg = json.loads((readers.ROOT / "examples" / "orders-bronze.json").read_text())
    p = cfg["pipelines"][0]
    topic = kafka.unique_topic("orders")
    kafka.create_topic(topic, 3)
    p["source"]["kafka"]["bootstrap_servers"] = kafka.bootstrap
    p["source"]["kafka"]["topics"] = [topic]
    p["checkpoint"] = str(tmp_path / "ckpt")
    p["sink"]["delta"]["path"] = str(tmp_path / "orders")
    recs = []
    for i in range(300):
        day = 1 + i % 3
        recs.append((i % 3, str(i).encode(), json.dumps({
            "id": i, "user": f"u{i % 7}", "amount": (i % 10) - 2.5,
            "ts": f"2024-03-0{day}T{i % 24:02d}:00:00Z"}).encode(), None))
    kafka.produce(topic, recs)
    path = tmp_path / "orders-bronze.json"
    path.write_text(json.dumps(cfg))
    r = run(weir_bin, path, "--available-now")
    assert r.returncode == 0, r.stderr
    want = sorted(i for i in range(300) if (i % 10) - 2.5 > 0)
    for reader in (read_deltalake, read_spark):
        t = reader(str(tmp_path / "orders"))
        assert sorted(t.column("id").to_pylist()) == want
        assert t.column_names == ["id", "user", "amount", "ts", "day"] or set(t.column_names) == {
            "id", "user", "amount", "ts", "day"}
    parts = sorted(d.name for d in (tmp_path / "orders").iterdir() if d.name.startswith("day="))
    assert parts == ["day=2024-03-01", "day=2024-03-02", "day=2024-03-03"]


def test_starting_offsets_by_timestamp(tmp_path, weir_bin, kafka, read_deltalake):
    import time
    topic = kafka.unique_topic("ts")
    kafka.create_topic(topic, 2)
    kafka.produce(topic, [(i % 2, None, json.dumps({"id": i}).encode(), None) for i in range(10)])
    time.sleep(0.5)
    ts = int(time.time() * 1000)
    time.sleep(0.5)
    kafka.produce(topic, [(i % 2, None, json.dumps({"id": i}).encode(), None) for i in range(10, 25)])
    p = kafka_pipeline(tmp_path, kafka, topic, schema="id LONG")
    p["source"]["kafka"]["starting_offsets"] = ts
    r = run(weir_bin, write_config(tmp_path, p), "--available-now")
    assert r.returncode == 0, r.stderr
    assert sorted(read_deltalake(p["sink"]["delta"]["path"]).column("id").to_pylist()) == list(range(10, 25))
