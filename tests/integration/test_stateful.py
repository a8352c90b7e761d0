"""Stateful pipelines against a DuckDB reference: a seeded stream of 1M
events with duplicates (inside a batch and across batches), out-of-order
and late events goes through a real Kafka broker into weir; for dedup and
for tumbling, sliding and session windows in each output mode they allow
(append, update through the Delta sink's MERGE, complete) the Delta table
weir writes equals what DuckDB SQL computes over the same input minus the
rows the watermark rules drop.

The reference is computed independently of weir's own bookkeeping: batch
boundaries come from the checkpoint's offsets/N files (which records each
batch read), and the watermark of every batch is recomputed from them
(batch 0: 0; then max(previous, max event time so far - delay)). weir's
own recorded watermarks must agree with it."""
import datetime
import json
import os
import random

import pytest

from pipeline import progress, run, write_config

N_EVENTS = 1_000_000
PARTITIONS = 4
DELAY_MS = 30_000
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
SCHEMA = "id LONG, user STRING, ts TIMESTAMP, amount DOUBLE"
MEASURES = ["count(*) AS n", "count(amount) AS n_amount", "sum(amount) AS total", "min(amount) AS lo",
            "max(amount) AS hi", "avg(amount) AS mean", "min(user) AS first_user"]


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def generate(seed=7, n=N_EVENTS):
    """Events in production order per partition: (partition, json text, row
    dict). Event time advances 10 ms per event with up to 20 s of disorder;
    0.5 % are 5 minutes late; 10 % are sent twice (half right after, half
    about 40k events later); 1 % have no amount."""
    rnd = random.Random(seed)
    out = [[] for _ in range(PARTITIONS)]
    later = {}
    for i in range(n):
        ts = BASE_MS + i * 10 - rnd.randrange(20_000)
        if rnd.random() < 0.005:
            ts -= 300_000
        amount = None if rnd.random() < 0.01 else round(rnd.random() * 100, 2)
        row = {"id": i, "user": f"u{rnd.randrange(1000):03d}", "ts": iso(ts), "amount": amount}
        p = i % PARTITIONS
        text = json.dumps(row)
        out[p].append(text)
        r = rnd.random()
        if r < 0.05:
            out[p].append(text)
        elif r < 0.10:
            later.setdefault(i + 40_000, []).append((p, text))
        for q, t in later.pop(i, []):
            out[q].append(t)
    for items in later.values():
        for q, t in items:
            out[q].append(t)
    return out


@pytest.fixture(scope="module")
def events(kafka):
    topic = kafka.unique_topic("stateful")
    kafka.create_topic(topic, PARTITIONS)
    parts = generate()
    kafka.produce(topic, ((p, None, v) for p in range(PARTITIONS) for v in parts[p]), timeout=300)
    ends = kafka.end_offsets(topic)
    assert [ends[p] for p in range(PARTITIONS)] == [len(v) for v in parts]
    return topic, parts


def pipeline(tmp_path, kafka, topic, name, steps, mode="append"):
    return {
        "name": name,
        "checkpoint": str(tmp_path / f"{name}-ckpt"),
        "source": {"kafka": {"bootstrap_servers": kafka.bootstrap, "topics": [topic],
                             "starting_offsets": "earliest", "max_offsets_per_trigger": 200_000}},
        "transform": [{"decode": {"format": "json", "schema": SCHEMA, "on_error": "fail"}},
                      {"watermark": {"column": "ts", "delay": f"{DELAY_MS}ms"}}] + steps,
        "sink": {"delta": {"path": str(tmp_path / f"{name}-table"), "mode": mode}},
    }


def batch_ends(checkpoint, topic):
    """{batch: {partition: end offset}} from offsets/N (the source JSON is its last line)."""
    out = {}
    d = os.path.join(checkpoint, "offsets")
    for f in os.listdir(d):
        if f.isdigit():
            with open(os.path.join(d, f)) as fh:
                src = json.loads(fh.read().strip().splitlines()[-1])
            out[int(f)] = {int(p): o for p, o in src[topic].items()}
    return out


def reference_db(parts, ends):
    """DuckDB with table `ev` (the input, with its batch), `wm` (each
    batch's watermark, recomputed) and `kept` (ev minus the late rows)."""
    import duckdb

    batches = sorted(ends)
    rows = []
    for p in range(PARTITIONS):
        b = 0
        for off, text in enumerate(parts[p]):
            while ends[batches[b]].get(p, 0) <= off:
                b += 1
            r = json.loads(text)
            rows.append((batches[b], r["id"], r["user"], r["ts"], r["amount"]))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    import pyarrow as pa
    cols = list(zip(*rows))
    con.register("ev_in", pa.table({"batch": cols[0], "id": cols[1], "user": cols[2], "ts": cols[3],
                                    "amount": pa.array(cols[4], pa.float64())}))
    con.execute("CREATE TABLE ev AS SELECT batch, id, user, CAST(replace(ts, 'Z', '') AS TIMESTAMP) AS ts, "
                "amount FROM ev_in")
    # watermark per batch, recomputed: W0 = 0, W(n+1) = max(W(n), max ts of batches <= n - delay)
    maxes = dict(con.execute("SELECT batch, max(epoch_ms(ts)) FROM ev GROUP BY batch").fetchall())
    wm, w, hi = {}, 0, None
    for b in range(max(batches) + 2):
        wm[b] = w
        if b in maxes:
            hi = maxes[b] if hi is None else max(hi, maxes[b])
        if hi is not None:
            w = max(w, hi - DELAY_MS)
    con.execute("CREATE TABLE wm (batch BIGINT, wm_ms BIGINT)")
    con.executemany("INSERT INTO wm VALUES (?, ?)", list(wm.items()))
    con.execute("CREATE TABLE kept AS SELECT ev.* FROM ev JOIN wm USING (batch) "
                "WHERE epoch_ms(ts) > wm_ms")
    return con, wm


def run_case(tmp_path, weir_bin, kafka, events, name, steps, mode="append"):
    topic, parts = events
    p = pipeline(tmp_path, kafka, topic, name, steps, mode)
    r = run(weir_bin, write_config(tmp_path, p, name=f"{name}.json"), "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    prog = progress(r.stderr)
    ends = batch_ends(p["checkpoint"], topic)
    assert len(ends) >= 5, "the input must span several batches"
    con, wm = reference_db(parts, ends)
    # weir's watermarks are the recomputed ones, and the late rows it counted are the reference's
    for x in prog:
        got = datetime.datetime.fromisoformat(x["eventTime"]["watermark"].replace("Z", "+00:00"))
        assert int(got.timestamp() * 1000) == wm[x["batchId"]], x["batchId"]
    late = con.execute("SELECT count(*) FROM ev").fetchone()[0] - con.execute("SELECT count(*) FROM kept").fetchone()[0]
    assert late > 1000, "the input must have late rows"
    assert sum(x["numLateRows"] for x in prog) == late
    # the last batch ran without new data once the watermark had moved
    assert prog[-1]["numInputRows"] == 0
    import readers
    got = readers.duckdb_connect()
    got.execute("SET TimeZone = 'UTC'")
    got.execute(f"CREATE VIEW t AS SELECT * FROM delta_scan('{p['sink']['delta']['path']}')")
    return con, got, wm[max(wm)], prog


def same_rows(ref_con, ref_sql, got_con, got_sql):
    want = ref_con.execute(ref_sql).fetchall()
    have = got_con.execute(got_sql).fetchall()
    assert len(want) > 0
    assert len(have) == len(want), (len(have), len(want))
    for w, h in zip(want, have):
        assert len(w) == len(h)
        for a, b in zip(w, h):
            if isinstance(a, float) and isinstance(b, float):
                assert abs(a - b) <= 1e-6 * max(1.0, abs(a)), (w, h)
            else:
                assert a == b, (w, h)


def test_dedup_equals_distinct_non_late_rows(tmp_path, weir_bin, kafka, events):
    con, got, _, prog = run_case(tmp_path, weir_bin, kafka, events, "dedup",
                                 [{"dedup": {"keys": ["id", "ts"]}}])
    dups = con.execute("SELECT count(*) - count(DISTINCT (id, ts)) FROM kept").fetchone()[0]
    assert dups > 50_000, "the input must have duplicates"
    assert sum(x["numDuplicateRows"] for x in prog) == dups
    same_rows(con, "SELECT DISTINCT id, user, ts, amount FROM kept ORDER BY id",
              got, "SELECT id, user, CAST(ts AS TIMESTAMP), amount FROM t ORDER BY id")
    assert all(x["stateOperators"][0]["operatorName"] == "dedup" for x in prog)


AGG_REF = ("SELECT {win}, user, count(*), count(amount), sum(amount), min(amount), max(amount), avg(amount), "
           "min(user) FROM {src} GROUP BY ALL ORDER BY ALL")
AGG_GOT = ("SELECT CAST(window_start AS TIMESTAMP), CAST(window_end AS TIMESTAMP), user, n, n_amount, total, lo, "
           "hi, mean, first_user FROM t ORDER BY ALL")
DEDUPED = "(SELECT DISTINCT * EXCLUDE (batch) FROM kept)"


SLIDING_SRC = (f"(SELECT d.*, time_bucket(INTERVAL 1 minute, ts) - k * INTERVAL 1 minute AS s FROM {DEDUPED} d, "
               f"range(2) r(k))")


def agg_steps(window, output):
    return [{"dedup": {"keys": ["id", "ts"]}},
            {"aggregate": {"group_by": ["user"], "window": window, "measures": MEASURES, "output": output}}]


def test_tumbling_append(tmp_path, weir_bin, kafka, events):
    con, got, final_wm, _ = run_case(tmp_path, weir_bin, kafka, events, "tumble",
                                     agg_steps({"column": "ts", "size": "1 minute"}, "append"))
    win = "time_bucket(INTERVAL 1 minute, ts) AS s, s + INTERVAL 1 minute AS e"
    # append emits a window once the watermark passes its end
    src = f"(SELECT * FROM {DEDUPED} WHERE epoch_ms(time_bucket(INTERVAL 1 minute, ts)) + 60000 <= {final_wm})"
    same_rows(con, AGG_REF.format(win=win, src=src), got, AGG_GOT)


def test_tumbling_complete(tmp_path, weir_bin, kafka, events):
    con, got, _, prog = run_case(tmp_path, weir_bin, kafka, events, "tumblec",
                                 agg_steps({"column": "ts", "size": "1 minute"}, "complete"), mode="complete")
    win = "time_bucket(INTERVAL 1 minute, ts) AS s, s + INTERVAL 1 minute AS e"
    same_rows(con, AGG_REF.format(win=win, src=DEDUPED), got, AGG_GOT)
    ops = prog[-1]["stateOperators"]
    assert [o["operatorName"] for o in ops] == ["dedup", "aggregate"]
    assert ops[1]["numRowsTotal"] == got.execute("SELECT count(*) FROM t").fetchone()[0]


def test_sliding_append(tmp_path, weir_bin, kafka, events):
    con, got, final_wm, _ = run_case(tmp_path, weir_bin, kafka, events, "slide",
                                     agg_steps({"column": "ts", "size": "2 minutes", "slide": "1 minute"},
                                               "append"))
    win = "s, s + INTERVAL 2 minute AS e"
    src = f"(SELECT * FROM {SLIDING_SRC} WHERE epoch_ms(s) + 120000 <= {final_wm})"
    same_rows(con, AGG_REF.format(win=win, src=src).replace("GROUP BY ALL", "GROUP BY s, user"), got, AGG_GOT)


def sessions(con):
    """Table sess: the deduplicated rows with their session's start s and end e.
    A new session starts when the gap to the user's previous event exceeds 30 s."""
    con.execute(f"""CREATE TABLE sess AS
        WITH d AS (SELECT * FROM {DEDUPED}),
        g AS (SELECT *, CASE WHEN lag(ts) OVER w IS NULL OR ts - lag(ts) OVER w > INTERVAL 30 second
                             THEN 1 ELSE 0 END AS brk FROM d WINDOW w AS (PARTITION BY user ORDER BY ts, id)),
        n AS (SELECT *, sum(brk) OVER (PARTITION BY user ORDER BY ts, id) AS sid FROM g)
        SELECT *, min(ts) OVER (PARTITION BY user, sid) AS s,
               max(ts) OVER (PARTITION BY user, sid) + INTERVAL 30 second AS e FROM n""")


def test_session_append(tmp_path, weir_bin, kafka, events):
    con, got, final_wm, _ = run_case(tmp_path, weir_bin, kafka, events, "session",
                                     agg_steps({"column": "ts", "gap": "30 seconds"}, "append"))
    sessions(con)
    src = f"(SELECT * FROM sess WHERE epoch_ms(e) <= {final_wm})"
    same_rows(con, AGG_REF.format(win="s, e", src=src).replace("GROUP BY ALL", "GROUP BY s, e, user"), got, AGG_GOT)


def test_session_complete(tmp_path, weir_bin, kafka, events):
    con, got, _, _ = run_case(tmp_path, weir_bin, kafka, events, "sessionc",
                              agg_steps({"column": "ts", "gap": "30 seconds"}, "complete"), mode="complete")
    sessions(con)
    same_rows(con, AGG_REF.format(win="s, e", src="sess").replace("GROUP BY ALL", "GROUP BY s, e, user"), got,
              AGG_GOT)

def merge_commits(table):
    """(files live before, files removed, numTargetRowsUpdated) of each MERGE commit, replaying the log."""
    log = os.path.join(table, "_delta_log")
    live, out = set(), []
    for f in sorted(x for x in os.listdir(log) if x.endswith(".json")):
        with open(os.path.join(log, f)) as fh:
            acts = [json.loads(line) for line in fh if line.strip()]
        info = next(a["commitInfo"] for a in acts if "commitInfo" in a)
        removed = [a["remove"]["path"] for a in acts if "remove" in a]
        if info["operation"] == "MERGE":
            out.append((len(live), len(removed), int(info["operationMetrics"]["numTargetRowsUpdated"])))
        live -= set(removed)
        live |= {a["add"]["path"] for a in acts if "add" in a}
    return out


def check_update_merges(table):
    """Update output upserts: later batches update groups already written,
    rewriting only the files that hold them, never the whole table."""
    merges = merge_commits(table)
    assert len(merges) >= 5
    assert sum(u for _, _, u in merges) > 0, "later batches must update earlier groups"
    assert all(r <= live for live, r, _ in merges)
    assert any(r < live for live, r, _ in merges[2:]), "a merge must leave some files alone"


def test_tumbling_update(tmp_path, weir_bin, kafka, events):
    con, got, _, _ = run_case(tmp_path, weir_bin, kafka, events, "tumbleu",
                              agg_steps({"column": "ts", "size": "1 minute"}, "update"), mode="merge")
    # every group of every non-late row, each once: the merges replaced the earlier versions
    win = "time_bucket(INTERVAL 1 minute, ts) AS s, s + INTERVAL 1 minute AS e"
    same_rows(con, AGG_REF.format(win=win, src=DEDUPED), got, AGG_GOT)
    check_update_merges(str(tmp_path / "tumbleu-table"))


def test_sliding_update(tmp_path, weir_bin, kafka, events):
    con, got, _, _ = run_case(tmp_path, weir_bin, kafka, events, "slideu",
                              agg_steps({"column": "ts", "size": "2 minutes", "slide": "1 minute"}, "update"),
                              mode="merge")
    win = "s, s + INTERVAL 2 minute AS e"
    same_rows(con, AGG_REF.format(win=win, src=SLIDING_SRC).replace("GROUP BY ALL", "GROUP BY s, user"), got,
              AGG_GOT)
    check_update_merges(str(tmp_path / "slideu-table"))


def test_sliding_complete(tmp_path, weir_bin, kafka, events):
    con, got, _, _ = run_case(tmp_path, weir_bin, kafka, events, "slidec",
                              agg_steps({"column": "ts", "size": "2 minutes", "slide": "1 minute"}, "complete"),
                              mode="complete")
    win = "s, s + INTERVAL 2 minute AS e"
    same_rows(con, AGG_REF.format(win=win, src=SLIDING_SRC).replace("GROUP BY ALL", "GROUP BY s, user"), got,
              AGG_GOT)
