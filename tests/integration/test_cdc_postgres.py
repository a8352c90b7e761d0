"""Change data end to end, with every component real: PostgreSQL ->
Debezium's PostgreSQL connector (Kafka Connect standalone) -> Kafka -> weir
-> Delta, read back with deltalake.

A seeded workload of 200,000 operations on 3 tables (one with a composite
key) runs against PostgreSQL while two weir processes stream the change
topics into Delta, each with an SCD type 1 and an SCD type 2 pipeline:

- "steady" runs undisturbed;
- "killed" is SIGKILLed and restarted 10 times at random (seeded) moments.

The workload holds inserts, updates (often several of one key inside one
transaction, so inside one batch), deletes, re-inserts of deleted keys and
an ALTER TABLE ADD COLUMN midway. Halfway through, the connector is
SIGKILLed and restarted: it resumes from its last flushed offset and sends
the events after it a second time.

At the end, for every table: `SELECT *` in PostgreSQL equals the SCD1 table,
equals the SCD2 table's current rows, the SCD2 table holds one row per
insert or update (snapshot rows included), and the killed process's tables
are identical to the steady one's, history included. The connector's
replayed events are in Kafka and weir counted them stale."""
import datetime
import os
import random
import signal
import threading
import time

from pipeline import progress, run, start, wait_for, write_config

OPS = 200_000
KILLS = 10
SEED = int(os.environ.get("WEIR_TEST_SEED", "20261122"))  # another seed: another run to reproduce

DDL = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, balance numeric(12,2),
                        active boolean, signup date, updated_at timestamptz);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int, total numeric(12,2), status text,
                     score double precision, created_at timestamp);
CREATE TABLE order_lines (order_id bigint, line int, sku text, qty int, price numeric(10,2),
                          PRIMARY KEY (order_id, line));
"""
TABLES = ("customers", "orders", "order_lines")
KEYS = {"customers": ("id",), "orders": ("id",), "order_lines": ("order_id", "line")}


class Workload:
    """Random single-row statements in transactions; counts what it did."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.live = {t: [] for t in TABLES}  # keys that exist (list + index for O(1) removal)
        self.pos = {t: {} for t in TABLES}
        self.dead = {t: [] for t in TABLES}  # deleted keys, for re-inserts
        self.next_id = {t: 1 for t in TABLES}
        self.ops = 0
        self.upserts = {t: 0 for t in TABLES}  # inserts + updates: SCD2 versions
        self.deletes = self.reinserts = self.multi_updates = 0
        self.altered = False

    def _add(self, t, k):
        self.pos[t][k] = len(self.live[t])
        self.live[t].append(k)

    def _remove(self, t, k):
        i = self.pos[t].pop(k)
        last = self.live[t].pop()
        if last != k:
            self.live[t][i] = last
            self.pos[t][last] = i

    def _new_key(self, t):
        i = self.next_id[t]
        self.next_id[t] += 1
        return (i,) if t != "order_lines" else (1 + i // 4, i % 4)

    def _values(self, t, k):
        r = self.rng
        if t == "customers":
            v = {"id": k[0], "name": f"c{r.randrange(10**6)}", "email": r.choice([None, f"u{r.randrange(999)}@x.io"]),
                 "balance": f"{r.randrange(-10**7, 10**9) / 100:.2f}", "active": r.random() < 0.7,
                 "signup": f"20{r.randrange(10, 27)}-0{r.randrange(1, 10)}-1{r.randrange(10)}",
                 "updated_at": f"2026-11-{r.randrange(10, 28)} {r.randrange(24):02}:{r.randrange(60):02}:"
                               f"{r.randrange(60):02}.{r.randrange(10**6):06}+0{r.randrange(6)}"}
            if self.altered:
                v["tier"] = r.choice([None, "gold", "silver", "bronze"])
            return v
        if t == "orders":
            return {"id": k[0], "customer_id": r.randrange(1, 5000), "total": f"{r.randrange(10**8) / 100:.2f}",
                    "status": r.choice(["new", "paid", "shipped", "returned", None]),
                    "score": r.choice([None, r.uniform(-1e6, 1e6), 0.5]),
                    "created_at": f"2026-0{r.randrange(1, 10)}-1{r.randrange(10)} {r.randrange(24):02}:00:"
                                  f"{r.randrange(60):02}.{r.randrange(10**6):06}"}
        return {"order_id": k[0], "line": k[1], "sku": f"sku-{r.randrange(5000)}", "qty": r.randrange(1, 20),
                "price": f"{r.randrange(10**6) / 100:.2f}"}

    def _insert(self, cur, t, k):
        v = self._values(t, k)
        cur.execute(f"INSERT INTO {t} ({', '.join(v)}) VALUES ({', '.join(['%s'] * len(v))})", list(v.values()))
        self._add(t, k)
        self.upserts[t] += 1
        self.ops += 1

    def _where(self, t):
        return " AND ".join(f"{c} = %s" for c in KEYS[t])

    def _update(self, cur, t, k):
        v = {c: x for c, x in self._values(t, k).items() if c not in KEYS[t]}
        cols = self.rng.sample(sorted(v), self.rng.randrange(1, len(v) + 1))
        cur.execute(f"UPDATE {t} SET {', '.join(f'{c} = %s' for c in cols)} WHERE {self._where(t)}",
                    [v[c] for c in cols] + list(k))
        assert cur.rowcount == 1
        self.upserts[t] += 1
        self.ops += 1

    def _delete(self, cur, t, k):
        cur.execute(f"DELETE FROM {t} WHERE {self._where(t)}", list(k))
        assert cur.rowcount == 1
        self._remove(t, k)
        self.dead[t].append(k)
        self.deletes += 1
        self.ops += 1

    def seed(self, conn, n):
        """Rows that exist before the connector starts (its snapshot)."""
        with conn.transaction(), conn.cursor() as cur:
            for t in TABLES:
                for _ in range(n):
                    self._insert(cur, t, self._new_key(t))

    def transaction(self, conn, size):
        r = self.rng
        with conn.transaction(), conn.cursor() as cur:
            for _ in range(size):
                t = r.choices(TABLES, (3, 4, 3))[0]
                x = r.random()
                if x < 0.35 or len(self.live[t]) < 50:
                    self._insert(cur, t, self._new_key(t))
                elif x < 0.80:
                    k = r.choice(self.live[t])
                    n = r.choice((1, 1, 1, 2, 3, 4))  # several updates of one key, one transaction
                    self.multi_updates += n > 1
                    for _ in range(n):
                        self._update(cur, t, k)
                elif x < 0.93 or not self.dead[t]:
                    self._delete(cur, t, r.choice(self.live[t]))
                else:  # a deleted key comes back
                    k = self.dead[t].pop(r.randrange(len(self.dead[t])))
                    self._insert(cur, t, k)
                    self.reinserts += 1

    def run(self, conn, ops, alter_at, on_progress):
        while self.ops < ops:
            if not self.altered and self.ops >= alter_at:
                conn.execute("ALTER TABLE customers ADD COLUMN tier text")
                self.altered = True
            self.transaction(conn, min(self.rng.randrange(1, 40), ops - self.ops))
            on_progress(self.ops)


def pipelines(tmp_path, kafka, topics, proc):
    out = []
    for scd in (1, 2):
        name = f"{proc}-scd{scd}"
        out.append({
            "name": name,
            "checkpoint": str(tmp_path / f"{name}-ckpt"),
            "trigger": {"interval": "500ms"},
            "source": {"kafka": {"bootstrap_servers": kafka.bootstrap, "topics": topics,
                                 "starting_offsets": "earliest", "max_offsets_per_trigger": 4000}},
            "transform": [{"decode": {"format": "debezium-json", "dead_letter_path": str(tmp_path / f"{name}-dlq")}}],
            "sink": {"delta": {"mode": "merge", "scd_type": scd,
                               "table_path_template": str(tmp_path / f"{name}-{{table}}")}},
        })
    return out


def utc(v):
    """A `timestamp` without zone as weir writes it: the instant in UTC
    (docs/cdc.md, type mapping); every instant in one zone object, so a
    difference report shows only real differences."""
    if isinstance(v, datetime.datetime):
        return v.replace(tzinfo=datetime.timezone.utc) if v.tzinfo is None else v.astimezone(datetime.timezone.utc)
    return v


def differences(got, want, nkey):
    """The rows that differ, by key: a short report instead of a diff of
    thousands of rows."""
    g = {r[:nkey]: r for r in got}
    w = {r[:nkey]: r for r in want}
    missing = [w[k] for k in sorted(w.keys() - g.keys(), key=repr)][:5]
    extra = [g[k] for k in sorted(g.keys() - w.keys(), key=repr)][:5]
    changed = [(g[k], w[k]) for k in sorted(g.keys() & w.keys(), key=repr) if g[k] != w[k]][:5]
    dup = len(got) - len(g)
    return f"missing {missing}\nextra {extra}\ndifferent (got, want) {changed}\nduplicate keys {dup}"


def pg_table(postgres, db, t):
    with postgres.connect(db) as c:
        cur = c.execute(f"SELECT * FROM {t}")
        rows = [tuple(utc(v) for v in r) for r in cur.fetchall()]
        return [d.name for d in cur.description], sorted(rows, key=repr)


def delta_rows(read_deltalake, path, cols, where=None):
    d = read_deltalake(str(path)).to_pydict()
    n = len(next(iter(d.values())))
    keep = [i for i in range(n) if where is None or where(d, i)]
    return sorted((tuple(utc(d[c][i]) for c in cols) for i in keep), key=repr), d


def test_postgres_to_delta_with_kills_and_a_connector_replay(tmp_path, weir_bin, kafka, postgres, debezium,
                                                            read_deltalake):
    rng = random.Random(SEED)
    db = postgres.create_database(postgres.unique_database("cdce2e"))
    postgres.execute(DDL, database=db)
    wl = Workload(SEED)
    conn = postgres.connect(db)
    wl.seed(conn, 1000)
    d = debezium(db, tables=list(TABLES), offset_flush_interval_ms=5000)
    topics = [d.topic(t) for t in TABLES]
    d.wait_caught_up()  # the snapshot is in Kafka

    steady = start(weir_bin, write_config(tmp_path, *pipelines(tmp_path, kafka, topics, "steady"), name="steady.json"),
                   stderr_path=tmp_path / "steady.log")
    killed_cfg = write_config(tmp_path, *pipelines(tmp_path, kafka, topics, "killed"), name="killed.json")
    runs = [start(weir_bin, killed_cfg, stderr_path=tmp_path / "killed-0.log")]

    # The workload runs in this thread's background; the connector restart
    # happens when it is half done.
    done = threading.Event()
    half = threading.Event()
    failure = []

    def work():
        try:
            wl.run(conn, OPS, OPS // 2, lambda n: half.set() if n >= OPS // 2 else None)
        except BaseException as e:  # reported by the main thread
            failure.append(e)
        finally:
            done.set()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    kills, restarted = 0, False
    while kills < KILLS or not restarted:
        time.sleep(rng.uniform(1.0, 6.0))
        if kills < KILLS:
            p = runs[-1]
            assert p.poll() is None, (tmp_path / f"killed-{len(runs) - 1}.log").read_text()[-3000:]
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
            runs.append(start(weir_bin, killed_cfg, stderr_path=tmp_path / f"killed-{len(runs)}.log"))
        if not restarted and half.is_set():
            # Offsets are flushed every 5 s: a SIGKILL now loses the
            # position of the events sent since, and they come again.
            wait_for(lambda: d.offsets_file.exists(), 30, "the connector's first offset flush")
            d.kill()
            d.restart()
            restarted = True
    worker.join(timeout=900)
    assert done.is_set() and not failure, failure
    conn.close()
    d.wait_caught_up(timeout=600)

    # Both streaming processes stop cleanly; one run each drains the rest.
    for p in (steady, runs[-1]):
        assert p.poll() is None
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=300) == 0
    logs = {}
    for proc in ("steady", "killed"):
        r = run(weir_bin, tmp_path / f"{proc}.json", "--available-now", timeout=900)
        assert r.returncode == 0, r.stderr[-4000:]
        logs[proc] = r.stderr
    steady_log = (tmp_path / "steady.log").read_text() + logs["steady"]
    # every change was in Kafka before the processes stopped, and each
    # pipeline read up to the end of every topic
    ends = {t: {str(p): o for p, o in kafka.end_offsets(t).items()} for t in topics}
    full_logs = {"steady": steady_log,
                 "killed": "".join((tmp_path / f"killed-{i}.log").read_text() for i in range(len(runs))) + logs["killed"]}
    for proc in ("steady", "killed"):
        for name in (f"{proc}-scd1", f"{proc}-scd2"):
            last = [x for x in progress(full_logs[proc]) if x["name"] == name][-1]
            got = last["sources"][0]["endOffset"]
            assert {t: got.get(t) for t in topics} == ends, (name, got, ends)

    assert OPS <= wl.ops < OPS + 4 * 40 and wl.altered  # the last transaction may end in runs of updates
    assert wl.multi_updates > 1000 and wl.deletes > 1000 and wl.reinserts > 100
    # The connector did send events twice, and weir ignored the copies.
    sent = sum(sum(1 for r in kafka.read(t, timeout=120) if r.value is not None) for t in topics)
    assert sent > wl.ops, sent  # the snapshot, the workload's changes, and the replays
    stale = sum(x["sink"]["metrics"]["numChangesIgnoredAsStale"] for x in progress(steady_log)
                if x["name"] == "steady-scd1")
    assert stale == sent - wl.ops, (stale, sent)

    for t in TABLES:
        cols, want = pg_table(postgres, db, t)
        nk = len(KEYS[t])
        assert len(want) > 1000, t
        for proc in ("steady", "killed"):
            got, _ = delta_rows(read_deltalake, tmp_path / f"{proc}-scd1-{t}", cols)
            assert got == want, f"{proc} scd1 {t}: {len(got)} rows, want {len(want)}\n" + differences(got, want, nk)
            cur, full = delta_rows(read_deltalake, tmp_path / f"{proc}-scd2-{t}", cols,
                                   where=lambda d, i: d["__end_at"][i] is None)
            assert cur == want, f"{proc} scd2 {t}: {len(cur)} rows, want {len(want)}\n" + differences(cur, want, nk)
            assert len(full["__end_at"]) == wl.upserts[t], (proc, t)  # one version per insert or update
        # the killed process wrote exactly what the steady one did, history included
        h_cols = cols + ["__start_at", "__end_at"]
        steady_h, _ = delta_rows(read_deltalake, tmp_path / f"steady-scd2-{t}", h_cols)
        killed_h, _ = delta_rows(read_deltalake, tmp_path / f"killed-scd2-{t}", h_cols)
        assert killed_h == steady_h, f"{t} history: killed {len(killed_h)}, steady {len(steady_h)}\n" + \
            differences(killed_h, steady_h, len(h_cols))
    assert "tier" in pg_table(postgres, db, "customers")[0]
    assert len(runs) == KILLS + 1
    # some kills landed inside a batch, which the next run finished
    killed_logs = [(tmp_path / f"killed-{i}.log").read_text() for i in range(len(runs))] + [logs["killed"]]
    assert sum(l.count("recovering: rerunning batch") for l in killed_logs) >= 1
