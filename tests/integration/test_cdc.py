"""Change data through `weir run`: Debezium change events in a real Kafka
topic -> a debezium-json decode -> Delta tables in mode merge, read back
with deltalake.

The events are made here by a model of a source database (cdc_model.py
style, inline): inserts, several updates of one key inside one batch,
deletes, re-inserts of deleted keys, a column added midway, two tables,
and old events sent again after newer ones (a connector replaying). The
final tables must equal the model: SCD type 1 equals the rows, SCD type 2's
current rows equal them and it holds one version per applied upsert."""
import json
import random

from pipeline import progress, run, write_config
from readers import normalize


def lsn_source(table, lsn, ts_ms, snapshot="false"):
    return {"version": "3.7.0.Final", "connector": "postgresql", "name": "srv", "ts_ms": ts_ms,
            "snapshot": snapshot, "db": "shop", "schema": "public", "table": table, "txId": lsn // 10,
            "lsn": lsn}


class Source:
    """A tiny database: tables of rows by id, each change an event."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.lsn = 1000
        self.tables = {}
        self.events = []  # (topic, key, value)
        self.upserts = {}  # table -> number of c/u/r events

    def change(self, table, op, key, row):
        self.lsn += 8
        rows = self.tables.setdefault(table, {})
        before = rows.get(key)
        if op == "d":
            del rows[key]
            value = {"before": {"id": key}, "after": None}
        else:
            rows[key] = dict(row)
            value = {"before": None, "after": dict(row)}
            self.upserts[table] = self.upserts.get(table, 0) + 1
        assert (before is None) == (op in ("c", "r")) or op == "d"
        value.update({"source": lsn_source(table, self.lsn, 1_700_000_000_000 + self.lsn), "op": op,
                      "ts_ms": 1_700_000_000_000 + self.lsn})
        topic_key = json.dumps({"id": key}).encode()
        self.events.append((f"srv.public.{table}", topic_key, json.dumps(value).encode()))
        if op == "d":
            self.events.append((f"srv.public.{table}", topic_key, None))  # the tombstone

    def workload(self, table, n, extra_after=None):
        rng = self.rng
        rows = self.tables.setdefault(table, {})
        next_id = 1
        for i in range(n):
            live = list(rows)
            r = rng.random()
            row_of = lambda k: {"id": k, "name": f"n{rng.randrange(1000)}", "amount": rng.randrange(100000) / 100,
                                **({"note": f"x{i}"} if extra_after is not None and i >= extra_after else {})}
            if not live or r < 0.3:
                k = next_id if rng.random() < 0.9 or not self.deleted(table) else self.deleted(table).pop()
                next_id = max(next_id, k + 1)
                self.change(table, "c", k, row_of(k))
            elif r < 0.8:
                k = rng.choice(live)
                for _ in range(rng.choice([1, 1, 2, 3])):  # several updates of one key in a row
                    self.change(table, "u", k, row_of(k))
            else:
                k = rng.choice(live)
                self.change(table, "d", k, None)
                self._deleted.setdefault(table, []).append(k)

    _deleted = {}

    def deleted(self, table):
        return self._deleted.setdefault(table, [])


def produce(kafka, topic, events):
    kafka.create_topic(topic, 1)
    kafka.produce(topic, [(0, k, v, None) for _, k, v in events])


def cdc_pipeline(tmp_path, kafka, topics, name, sink, max_offsets=500):
    return {
        "name": name,
        "checkpoint": str(tmp_path / f"{name}-ckpt"),
        "source": {"kafka": {"bootstrap_servers": kafka.bootstrap, "topics": topics,
                             "starting_offsets": "earliest", "max_offsets_per_trigger": max_offsets}},
        "transform": [{"decode": {"format": "debezium-json", "dead_letter_path": str(tmp_path / f"{name}-dlq")}}],
        "sink": {"delta": {"mode": "merge", **sink}},
    }


def rows_of(read_deltalake, path, cols):
    t = read_deltalake(path).to_pydict()
    return sorted(tuple(t[c][i] for c in cols) for i in range(len(t["id"])))


def model_rows(rows, cols):
    return sorted(tuple(r.get(c) for c in cols) for r in rows.values())


def test_scd1_and_scd2_equal_the_source(tmp_path, weir_bin, kafka, read_deltalake, read_duckdb, read_spark):
    src = Source(7)
    src.workload("customers", 3000, extra_after=2000)
    src.workload("orders", 1500)
    events = list(src.events)
    # a connector replaying: 300 old events sent again after everything
    replay = [e for e in events[1000:1300] if e[2] is not None]
    topic = kafka.unique_topic("cdc")
    produce(kafka, topic, events + replay)
    cols = ["id", "name", "amount", "note"]

    # small batches: more than 10 commits per table, so each has a checkpoint
    p1 = cdc_pipeline(tmp_path, kafka, [topic], "scd1", {"table_path_template": str(tmp_path / "scd1-{table}")},
                      max_offsets=150)
    p2 = cdc_pipeline(tmp_path, kafka, [topic], "scd2",
                      {"table_path_template": str(tmp_path / "scd2-{table}"), "scd_type": 2}, max_offsets=150)
    r = run(weir_bin, write_config(tmp_path, p1, p2), "--available-now")
    assert r.returncode == 0, r.stderr[-4000:]
    prog = [x for x in progress(r.stderr) if x["sink"]["description"].startswith("DeltaChangeSink")]
    assert len(prog) > 4  # several batches per pipeline
    stale = sum(x["sink"]["metrics"]["numChangesIgnoredAsStale"] for x in prog)
    assert stale >= 2 * len(replay)  # every replayed event ignored, in both pipelines
    # the key -> file index found the files the changes touched
    assert sum(x["sink"]["metrics"]["numTargetFilesReadByIndex"] for x in prog) > 0
    assert all(x["sink"]["metrics"]["numTargetFilesReadByIndex"] <= x["sink"]["metrics"]["numTargetFilesRead"]
               for x in prog)

    for table in ("customers", "orders"):
        want = model_rows(src.tables[table], cols if table == "customers" else cols[:3])
        got = rows_of(read_deltalake, str(tmp_path / f"scd1-{table}"), cols if table == "customers" else cols[:3])
        assert got == want, table
        t2 = read_deltalake(str(tmp_path / f"scd2-{table}")).to_pydict()
        n = len(t2["id"])
        assert n == src.upserts[table]  # one version per applied insert or update
        cur = [i for i in range(n) if t2["__end_at"][i] is None]
        c = cols if table == "customers" else cols[:3]
        assert sorted(tuple(t2[k][i] for k in c) for i in cur) == want, table
        # versions of a key chain: each ends where the next starts
        by_key = {}
        for i in range(n):
            by_key.setdefault(t2["id"][i], []).append((t2["__start_at"][i], t2["__end_at"][i]))
        for k, vs in by_key.items():
            vs.sort()
            for (s1, e1), (s2, _) in zip(vs, vs[1:]):
                assert e1 is not None and e1 <= s2, (k, vs)
        # no metadata columns in the tables
        assert not any(name.startswith("__op") or name == "__seq" for name in t2)
        # the files' group tags (the key index) and checkpoints are read by the other readers
        for kind in ("scd1", "scd2"):
            path = tmp_path / f"{kind}-{table}"
            assert any(path.glob("_delta_log/*.checkpoint.parquet")), path
            want_all = normalize(read_deltalake(str(path)))
            assert normalize(read_duckdb(str(path))) == want_all, (kind, table)
            assert normalize(read_spark(str(path))) == want_all, (kind, table)


def test_bad_events_go_to_the_dead_letter_table(tmp_path, weir_bin, kafka, read_deltalake):
    topic = kafka.unique_topic("cdcbad")
    good = {"before": None, "after": {"id": 1, "v": "a"}, "source": lsn_source("t", 10, 1), "op": "c"}
    events = [
        ("t", b'{"id":1}', json.dumps(good).encode()),
        ("t", b'{"id":2}', b'{"after": {"id": 2}, "source": {"table": "t"}, "op": "x"}'),
        ("t", b'{"id":3}', b'{"before": null, "after": null, "source": {"table": "t", "lsn": 11}, "op": "u"}'),
        ("t", b'{"id":4}', b'not json'),
    ]
    produce(kafka, topic, events)
    p = cdc_pipeline(tmp_path, kafka, [topic], "bad", {"path": str(tmp_path / "bad-table")})
    r = run(weir_bin, write_config(tmp_path, p), "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    t = read_deltalake(str(tmp_path / "bad-table")).to_pydict()
    assert t["id"] == [1] and t["v"] == ["a"]
    dl = read_deltalake(str(tmp_path / "bad-dlq")).to_pydict()
    errs = sorted(zip(dl["offset"], dl["error"]))
    assert [o for o, _ in errs] == [1, 2, 3]
    assert 'unknown op "x"' in errs[0][1]
    assert 'op "u" without "after"' in errs[1][1]
    assert "not JSON" in errs[2][1]
