"""The files source at volume, and under crashes.

- 10,000 small JSON files and 20 large gzip CSV files land while weir runs
  two pipelines (json and csv) that write one Delta table on the same
  store; every row is in the table exactly once, read back with deltalake
  configured for the store. On S3 (moto), Azure (Azurite) and a local
  directory.
- weir is SIGKILLed 20 times while files arrive, at random moments and at
  the crash points between listing and the offsets log and between the
  Delta commit and commits/N; after a last run every file is ingested once.
"""
import concurrent.futures
import gzip
import json
import os
import random
import signal
import threading
import time

import pytest

import object_stores
import pipeline

N_SMALL = 10_000
N_CSV = 20
CSV_ROWS = 25_000


class LocalStore:
    """A local landing directory with the put() of the object-store servers;
    files appear whole (written aside, then renamed), as writers should."""
    kind = "local"

    def __init__(self, root):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def uri(self, path):
        return str(self.root / path)

    def put(self, key, data):
        dst = self.root / key
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.parent / f".{dst.name}.tmp"
        tmp.write_bytes(data)
        os.rename(tmp, dst)

    def stop(self):
        pass


def small_json(i):
    return "".join(json.dumps({"id": i * 3 + k, "user": f"u{i % 13}", "amount": k + 0.5}) + "\n"
                   for k in range(3)).encode()


def big_csv(j):
    base = 10_000_000 + j * CSV_ROWS
    body = "id,user,amount\n" + "".join(f"{base + k},c{k % 11},{k * 0.25}\n" for k in range(CSV_ROWS))
    return gzip.compress(body.encode(), compresslevel=1)


def expected_ids():
    return list(range(N_SMALL * 3)) + [10_000_000 + x for x in range(N_CSV * CSV_ROWS)]


def store_for(kind, tmp_path):
    if kind == "local":
        return LocalStore(tmp_path / "landing")
    return object_stores.start_server(kind, tmp_path / kind)


@pytest.mark.parametrize("kind", ["s3", "azure", "local"])
def test_files_at_volume(tmp_path, weir_bin, kind):
    s = store_for(kind, tmp_path)
    try:
        env = s.env_for_weir() if kind != "local" else None
        dl_opts = s.deltalake_options if kind != "local" else None
        table = s.uri("lake/bronze") if kind != "local" else str(tmp_path / "table")

        def pipe(name, fmt, prefix, **extra):
            files = {"path": s.uri(prefix), "format": fmt, "schema": "id LONG, user STRING, amount DOUBLE",
                     "max_files_per_trigger": 2000, **extra}
            sink = {"path": table}
            return {"name": name, "checkpoint": str(tmp_path / f"{name}-ckpt"), "trigger": {"interval": "500ms"},
                    "source": {"files": files}, "sink": {"delta": sink}}
        cfg = pipeline.write_config(tmp_path, pipe("json", "json", "landing/json"),
                                    pipe("csv", "csv", "landing/csv"))
        log = tmp_path / "weir.log"
        proc = pipeline.start(weir_bin, cfg, env=env, stderr_path=log)
        try:
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                futs = [pool.submit(s.put, f"landing/json/{i // 1000:02d}/f{i:05d}.json", small_json(i))
                        for i in range(N_SMALL)]
                futs += [pool.submit(s.put, f"landing/csv/big{j:02d}.csv.gz", big_csv(j)) for j in range(N_CSV)]
                for f in futs:
                    f.result()

            def rows_in():
                return sum(p["numInputRows"] for p in pipeline.progress(log.read_text()))
            want = len(expected_ids())
            pipeline.wait_for(lambda: rows_in() >= want, 600, f"{want} rows ingested")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        assert proc.returncode == 0, log.read_text()[-3000:]
        import deltalake
        t = deltalake.DeltaTable(table, storage_options=dl_opts) if dl_opts else deltalake.DeltaTable(table)
        ids = t.to_pyarrow_table(columns=["id"]).column("id").to_pylist()
        assert len(ids) == len(expected_ids())
        assert sorted(ids) == expected_ids()
        assert not pipeline.errors(log.read_text())
    finally:
        s.stop()


def test_files_crash_twenty_times(tmp_path, weir_bin):
    """SIGKILL 20 times while files arrive; every file once."""
    s = LocalStore(tmp_path / "landing")
    p = {"name": "crash", "checkpoint": str(tmp_path / "ckpt"), "trigger": {"interval": "50ms"},
         "source": {"files": {"path": s.uri("in"), "format": "json",
                              "schema": "id LONG, user STRING, amount DOUBLE", "max_files_per_trigger": 7}},
         "sink": {"delta": {"path": str(tmp_path / "table")}}}
    cfg = pipeline.write_config(tmp_path, p)
    stop = threading.Event()
    written = []

    def writer():
        i = 0
        while not stop.is_set() and i < 1500:
            s.put(f"in/{i % 5}/f{i:05d}.json", small_json(i))
            written.append(i)
            i += 1
            time.sleep(0.004)
    w = threading.Thread(target=writer)
    w.start()
    rng = random.Random(7)
    points = ["files.after_discover", "engine.after_sink_commit"]
    try:
        for k in range(20):
            log = tmp_path / f"run{k}.log"
            if k % 3 == 2:
                pipeline.crash_at(weir_bin, cfg, points[(k // 3) % 2], log)
            else:
                pipeline.kill_after(weir_bin, cfg, rng.uniform(0.2, 1.0), log)
    finally:
        stop.set()
        w.join()
    r = pipeline.run(weir_bin, cfg, "--available-now")
    assert r.returncode == 0, r.stderr[-3000:]
    import deltalake
    ids = deltalake.DeltaTable(str(tmp_path / "table")).to_pyarrow_table(columns=["id"]).column("id").to_pylist()
    want = sorted(k * 3 + j for k in written for j in range(3))
    assert len(ids) == len(want) and sorted(ids) == want
