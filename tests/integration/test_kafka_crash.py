"""Exactly-once across crashes: while a producer writes 500k records, weir
is SIGKILLed 20 times at random moments (seeded) and restarted, and it is
also stopped at each named crash point (WEIR_CRASH_AT: mid offsets/N, mid
Parquet data file, right before the Delta commit, between the Delta commit
and commits/N, mid commits/N). The background producer writes 450k records;
before each crash-point run 10k more are produced, so that run is sure to
have a batch to crash in. Afterwards the table holds all 500k records
exactly once."""
import json
import random

from pipeline import crash_at, kafka_pipeline, kill_after, run, write_config

N = 500_000
KILLS = 20
TOP_UP = 10_000
POINTS = ["checkpoint.offsets", "delta.data_file", "delta.before_commit", "engine.after_sink_commit",
          "checkpoint.commit"]


def test_random_kills_and_crash_points_lose_and_duplicate_nothing(tmp_path, weir_bin, kafka):
    import readers
    topic = kafka.unique_topic("crash")
    kafka.create_topic(topic, 8)
    table = tmp_path / "table"
    p = kafka_pipeline(tmp_path, "crash", kafka.bootstrap, topic, "id LONG, user STRING, amount DOUBLE", "300ms",
                       25_000, table=table)
    cfg = write_config(tmp_path, p)
    background = N - TOP_UP * len(POINTS)
    producer = kafka.produce_json_bulk_async(topic, background, partitions=8, seed=3, rate=20_000)
    next_id = background
    rnd = random.Random(20261121)
    deaths = []
    try:
        for i in range(KILLS + len(POINTS)):
            logf = tmp_path / f"run-{i}.log"
            if i % 5 == 4 and POINTS:  # every fifth run stops itself at the next crash point
                point = POINTS.pop(0)
                kafka.produce_json_bulk(topic, TOP_UP, partitions=8, seed=3, start_id=next_id)
                next_id += TOP_UP
                crash_at(weir_bin, cfg, point, logf)
                deaths.append(point)
            else:
                kill_after(weir_bin, cfg, rnd.uniform(0.2, 2.5), logf)
                deaths.append("random")
    finally:
        producer.wait(timeout=300)
    assert producer.returncode == 0, producer.stderr.read()
    assert next_id == N
    assert deaths.count("random") == KILLS and len(deaths) == KILLS + 5
    # drain what is left, cleanly
    r = run(weir_bin, cfg, "--available-now", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    logs = [f.read_text() for f in sorted(tmp_path.glob("run-*.log"))] + [r.stderr]
    # the runs after the four crash points that leave offsets/N without commits/N
    # reran that batch, and after the two that leave the Delta commit in place, skipped writing it
    assert sum(l.count("recovering: rerunning batch") for l in logs) >= 4
    assert sum(l.count("not writing it again") for l in logs) >= 2
    for f in sorted((table / "_delta_log").glob("*.json")):
        for line in f.read_text().splitlines():
            json.loads(line)
    con = readers.duckdb_connect()
    try:
        got = con.execute(f"SELECT count(*), count(DISTINCT id), min(id), max(id) FROM delta_scan('{table}')")
        assert got.fetchall()[0] == (N, N, 0, N - 1)
    finally:
        con.close()
