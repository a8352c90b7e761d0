"""Checkpoints on object stores.

- A files -> dedup -> Delta pipeline whose checkpoint, landing files and
  table all live on S3 (moto) or Azure (Azurite): weir is SIGKILLed at
  random moments and at the crash points around the state commit while
  files arrive, and its local cache is wiped before some restarts (a new
  machine): state and file index come back from the store, every row is in
  the table once and no duplicate slips past the dedup state.
- The lease: a second weir on the same checkpoint is refused while the
  first runs, takes over at once when the first died on this host, is
  refused by a fresh lease of another host and takes over an expired one.
"""
import json
import random
import re
import shutil
import threading
import time

import pytest

import object_stores
import pipeline

N_FILES = 300
DUP_EVERY = 8  # file i (i % DUP_EVERY == 0, i > 0) repeats the ids of file i - 1


def rows_of(i):
    base = i - 1 if i and i % DUP_EVERY == 0 else i
    return "".join(json.dumps({"id": base * 3 + k, "f": i, "v": k}) + "\n" for k in range(3)).encode()


def store_opts(s):
    return {k.lower(): v for k, v in s.env.items()}


def config(tmp_path, s, cache, name="p"):
    opts = store_opts(s)
    p = {"name": name, "checkpoint": s.uri("ckpt"), "checkpoint_storage_options": opts,
         "checkpoint_cache_dir": str(cache), "trigger": {"interval": "100ms"},
         "source": {"files": {"path": s.uri("landing"), "format": "json", "schema": "id LONG, f LONG, v LONG",
                              "max_files_per_trigger": 9, "storage_options": opts}},
         "transform": [{"dedup": {"keys": ["id"], "unbounded": True}}],
         "sink": {"delta": {"path": s.uri("lake/t"), "storage_options": opts}}}
    return pipeline.write_config(tmp_path, p)


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_checkpoint_on_object_store(tmp_path, weir_bin, kind):
    s = object_stores.start_server(kind, tmp_path / kind)
    try:
        cache = tmp_path / "cache"
        cfg = config(tmp_path, s, cache)
        stop = threading.Event()
        written = []

        def writer():
            for i in range(N_FILES):
                if stop.is_set():
                    break
                s.put(f"landing/{i % 4}/f{i:04d}.json", rows_of(i))
                written.append(i)
                time.sleep(0.1)
        w = threading.Thread(target=writer)
        w.start()
        rng = random.Random(11)
        points = ["engine.before_state_commit", "engine.after_state_commit", "files.after_discover"]
        try:
            for k in range(9):
                if k in (3, 6):
                    shutil.rmtree(cache, ignore_errors=True)  # another machine: nothing local
                log = tmp_path / f"run{k}.log"
                if k in (0, 2, 4):  # while files still arrive
                    pipeline.crash_at(weir_bin, cfg, points[k // 2], log)
                else:
                    pipeline.kill_after(weir_bin, cfg, rng.uniform(1.0, 3.0), log)
        finally:
            stop.set()
            w.join()
        shutil.rmtree(cache, ignore_errors=True)
        r = pipeline.run(weir_bin, cfg, "--available-now")
        assert r.returncode == 0, r.stderr[-3000:]
        # both databases came from the store: the state and the file index
        assert re.search(r"state store \S+: version \d+ copied from the checkpoint's store", r.stderr)
        assert re.search(r"sources/0/files: version \d+ copied from the checkpoint's store", r.stderr)
        assert not pipeline.errors(r.stderr)
        import deltalake
        t = deltalake.DeltaTable(s.uri("lake/t"), storage_options=s.deltalake_options)
        ids = t.to_pyarrow_table(columns=["id"]).column("id").to_pylist()
        want = sorted({(i - 1 if i and i % DUP_EVERY == 0 else i) * 3 + k for i in written for k in range(3)})
        assert len(ids) == len(want), "duplicates or losses"
        assert sorted(ids) == want
        if kind == "s3":
            keys = s.list_keys("ckpt/")
            assert "ckpt/metadata" in keys
            assert any(k.startswith("ckpt/offsets/") for k in keys)
            assert any(k.startswith("ckpt/commits/") for k in keys)
            assert any(k.startswith("ckpt/state/") and k.endswith(".json") for k in keys)
            assert any(k.startswith("ckpt/state/sst/") for k in keys)
            assert any(k.startswith("ckpt/sources/0/files/") and k.endswith(".json") for k in keys)
            assert "ckpt/lock" not in keys  # released by a clean stop
    finally:
        s.stop()


def test_checkpoint_lease(tmp_path, weir_bin):
    s = object_stores.start_server("s3", tmp_path / "s3")
    try:
        for i in range(5):
            s.put(f"landing/f{i}.json", rows_of(i))
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        cfg_a = config(tmp_path / "a", s, tmp_path / "cache-a")
        cfg_b = config(tmp_path / "b", s, tmp_path / "cache-b")
        log = tmp_path / "a.log"
        a = pipeline.start(weir_bin, cfg_a, stderr_path=log)
        try:
            pipeline.wait_for(lambda: pipeline.progress(log.read_text()), 60, "a first batch")
            r = pipeline.run(weir_bin, cfg_b, "--once", timeout=120)
            assert r.returncode != 0
            assert "is in use by another running weir pipeline (host" in r.stderr, r.stderr[-2000:]
        finally:
            a.kill()
            a.wait()
        # the holder died on this host: taken over at once
        r = pipeline.run(weir_bin, cfg_b, "--available-now", timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "taking over the lease" in r.stderr and "that process is gone" in r.stderr
        assert "ckpt/lock" not in s.list_keys("ckpt/")  # released by a clean stop

        def fake(age_ms):
            lock = {"host": "elsewhere", "pid": 1, "runId": "00000000-0000-4000-8000-000000000000",
                    "renewedMs": int(time.time() * 1000) - age_ms}
            import boto3  # a signed PUT: moto refuses unsigned overwrites
            boto3.client("s3", endpoint_url=s.endpoint, aws_access_key_id="testing",
                         aws_secret_access_key="testing", region_name="us-east-1").put_object(
                Bucket=s.bucket, Key="ckpt/lock", Body=json.dumps(lock).encode())
        fake(1000)
        r = pipeline.run(weir_bin, cfg_b, "--once", timeout=120)
        assert r.returncode != 0
        assert "host elsewhere, pid 1" in r.stderr, r.stderr[-2000:]
        fake(120_000)
        r = pipeline.run(weir_bin, cfg_b, "--available-now", timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "it expired" in r.stderr
    finally:
        s.stop()
