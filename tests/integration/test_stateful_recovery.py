"""Stateful pipelines across crashes and query changes, through a real
Kafka broker.

Crash test: a dedup + 1-minute tumbling aggregate in update output (the
Delta sink MERGEs every batch) is SIGKILLed 20 times at random moments and
stopped once at each named crash point (mid offsets/N, mid data file,
right before the Delta commit, between the Delta commit and the state
commit, between the state commit and commits/N, mid commits/N). Every
event is produced before the first run, so the batches (and with them the
watermarks) are the same in every run; the final table must equal, row for
row, the table of an uninterrupted run of the same pipeline.

Restart with a changed aggregation: adding a measure continues from the
state; changing the window or a measure's function is refused with a
message naming the operator and the change, and the checkpoint is left
usable."""
import random

from pipeline import crash_at, kill_after, progress, run, write_config
from test_stateful import DELAY_MS, PARTITIONS, SCHEMA, generate

N = 200_000
KILLS = 20
POINTS = ["checkpoint.offsets", "delta.data_file", "delta.before_commit", "engine.after_sink_commit",
          "engine.before_state_commit", "engine.after_state_commit", "checkpoint.commit"]


def produce_all(kafka, prefix, n, seed):
    topic = kafka.unique_topic(prefix)
    kafka.create_topic(topic, PARTITIONS)
    parts = generate(seed=seed, n=n)
    kafka.produce(topic, ((p, None, v) for p in range(PARTITIONS) for v in parts[p]), timeout=300)
    return topic


def stateful_pipeline(tmp_path, kafka, topic, name, measures, window="1 minute", per_batch=4_000,
                      interval="200ms"):
    return {
        "name": name,
        "checkpoint": str(tmp_path / f"{name}-ckpt"),
        "trigger": {"interval": interval},
        "source": {"kafka": {"bootstrap_servers": kafka.bootstrap, "topics": [topic],
                             "starting_offsets": "earliest", "max_offsets_per_trigger": per_batch}},
        "transform": [{"decode": {"format": "json", "schema": SCHEMA, "on_error": "fail"}},
                      {"watermark": {"column": "ts", "delay": f"{DELAY_MS}ms"}},
                      {"dedup": {"keys": ["id", "ts"]}},
                      {"aggregate": {"group_by": ["user"], "window": {"column": "ts", "size": window},
                                     "measures": measures, "output": "update"}}],
        "sink": {"delta": {"path": str(tmp_path / f"{name}-table"), "mode": "merge"}},
    }


MEASURES = ["count(*) AS n", "sum(amount) AS total", "min(amount) AS lo", "max(amount) AS hi",
            "avg(amount) AS mean", "approx_count_distinct(id) AS ids"]


def table_rows(path):
    import readers
    con = readers.duckdb_connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute("SELECT * REPLACE (CAST(window_start AS TIMESTAMP) AS window_start, "
                           f"CAST(window_end AS TIMESTAMP) AS window_end) FROM delta_scan('{path}') "
                           "ORDER BY ALL").fetchall()
    finally:
        con.close()


def same_row(a, b):
    """Equal, but sums may differ in their last bits: the rows of one batch
    come from several partitions and reach the aggregate in any interleaving."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, float) and isinstance(y, float):
            if abs(x - y) > 1e-9 * max(1.0, abs(y)):
                return False
        elif x != y:
            return False
    return True


def test_random_kills_and_crash_points_give_the_uninterrupted_result(tmp_path, weir_bin, kafka):
    topic = produce_all(kafka, "stcrash", N, seed=11)
    ref = stateful_pipeline(tmp_path, kafka, topic, "ref", MEASURES)
    r = run(weir_bin, write_config(tmp_path, ref, name="ref.json"), "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    batches = len(progress(r.stderr))
    assert batches >= 40, "the input must span many batches"

    p = stateful_pipeline(tmp_path, kafka, topic, "crash", MEASURES)
    cfg = write_config(tmp_path, p, name="crash.json")
    rnd = random.Random(20261121)
    points = list(POINTS)
    deaths = []
    for i in range(KILLS + len(POINTS)):
        logf = tmp_path / f"run-{i}.log"
        if i % 3 == 0 and points:  # the crash points first, while batches remain
            point = points.pop(0)
            crash_at(weir_bin, cfg, point, logf)
            deaths.append(point)
        else:
            kill_after(weir_bin, cfg, rnd.uniform(0.2, 1.5), logf)
            deaths.append("random")
    assert deaths.count("random") == KILLS and len(deaths) == KILLS + len(POINTS)
    r = run(weir_bin, cfg, "--available-now", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    logs = [f.read_text() for f in sorted(tmp_path.glob("run-*.log"))] + [r.stderr]
    # after each point that leaves offsets/N without commits/N the batch reran;
    # after the three that leave the Delta commit in place its write was skipped
    # and the state rebuilt by replaying the batch with its output discarded
    assert sum(l.count("recovering: rerunning batch") for l in logs) >= 6
    assert sum(l.count("not writing it again") for l in logs) >= 3
    assert sum(l.count("state restored to version") for l in logs) >= KILLS + len(POINTS)
    want = table_rows(ref["sink"]["delta"]["path"])
    got = table_rows(p["sink"]["delta"]["path"])
    assert len(want) > 1000
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert same_row(a, b), (a, b)


def test_restart_with_changed_aggregation(tmp_path, weir_bin, kafka):
    topic = produce_all(kafka, "stchange", 60_000, seed=12)
    base = ["count(*) AS n", "sum(amount) AS total"]
    p = stateful_pipeline(tmp_path, kafka, topic, "chg", base, per_batch=6_000)
    r = run(weir_bin, write_config(tmp_path, p, name="a.json"), "--once")
    assert r.returncode == 0, r.stderr[-3000:]

    # incompatible: another window size, another function under a measure's name
    bad = stateful_pipeline(tmp_path, kafka, topic, "chg", base, window="2 minutes", per_batch=6_000)
    r = run(weir_bin, write_config(tmp_path, bad, name="b.json"), "--once")
    assert r.returncode != 0
    assert "state of operator 'aggregate': window changed from" in r.stderr, r.stderr[-3000:]
    assert "120000" in r.stderr
    bad = stateful_pipeline(tmp_path, kafka, topic, "chg", ["count(*) AS n", "max(amount) AS total"],
                            per_batch=6_000)
    r = run(weir_bin, write_config(tmp_path, bad, name="c.json"), "--once")
    assert r.returncode != 0
    assert "state of operator 'aggregate': measure 'total' changed from sum" in r.stderr, r.stderr[-3000:]

    # compatible: a new measure; the old ones continue from the state
    more = base + ["max(amount) AS hi"]
    ok = stateful_pipeline(tmp_path, kafka, topic, "chg", more, per_batch=6_000)
    ok["sink"]["delta"]["merge_schema"] = True  # the new measure is a new column of the table
    r = run(weir_bin, write_config(tmp_path, ok, name="d.json"), "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    assert progress(r.stderr)[0]["batchId"] == 1  # the refused runs committed nothing

    # the counts and sums equal those of an uninterrupted run with the old measures
    ref = stateful_pipeline(tmp_path, kafka, topic, "chgref", base, per_batch=6_000)
    r = run(weir_bin, write_config(tmp_path, ref, name="e.json"), "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    import readers
    con = readers.duckdb_connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        got = con.execute(f"SELECT CAST(window_start AS TIMESTAMP), user, n, total, hi FROM delta_scan('{ok['sink']['delta']['path']}') "
                          "ORDER BY ALL").fetchall()
        want = con.execute(f"SELECT CAST(window_start AS TIMESTAMP), user, n, total FROM delta_scan('{ref['sink']['delta']['path']}') "
                           "ORDER BY ALL").fetchall()
    finally:
        con.close()
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert same_row(g[:4], w), (g, w)
    # groups written only before the change have no hi; groups updated after it have one
    assert any(g[4] is None for g in got) and any(g[4] is not None for g in got)
