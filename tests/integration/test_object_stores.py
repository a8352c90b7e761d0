"""weir on object stores: the storage contract on every back-end, Delta
tables that weir writes to S3, Azure and GCS and that deltalake reads, and
two writers committing to one table on S3 at once.

The servers (moto, Azurite, fake-gcs-server) run on 127.0.0.1, started by
object_stores.py for this module."""
import json
import subprocess
import threading
import uuid

import pytest

import object_stores
import pipeline


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    started = {}
    try:
        for kind in ("s3", "azure", "gcs"):
            try:
                started[kind] = object_stores.start_server(kind, tmp_path_factory.mktemp(kind))
            except Exception as e:  # noqa: BLE001 - a server that cannot start fails the tests
                pytest.fail(f"{kind} server unavailable: {e}", pytrace=False)
        yield started
    finally:
        for s in started.values():
            s.stop()


def run_conformance(uri, env, tmp_path):
    exe = object_stores.store_conformance_bin()
    assert exe.exists(), f"{exe} missing: build the project"
    env = dict(env, STORE_CHECK_PAGES="1", MULTIPART_PART_SIZE="5MB", STORE_CHECK_UPLOAD_BYTES="11534336")
    r = subprocess.run([str(exe), uri], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all checks passed" in r.stdout
    return r.stdout


@pytest.mark.parametrize("kind", ["local", "s3", "azure", "gcs"])
def test_storage_contract(kind, servers, tmp_path):
    """put/get/ranges/head/put-if-absent (and a 4-writer race)/list with
    pagination/delete/multipart uploads behave the same on every back-end."""
    if kind == "local":
        out = run_conformance(str(tmp_path / "root"), pipeline.env_with(), tmp_path)
    else:
        s = servers[kind]
        out = run_conformance(s.uri(f"conformance-{uuid.uuid4().hex[:8]}"), s.env_for_weir(), tmp_path)
    assert "ok upload of 11534336 bytes" in out


def datagen_to(tmp_path, uri, name, seed, rows, options=None, first_id=0):
    p = pipeline.datagen_pipeline(tmp_path, name=name, schema="id LONG, user STRING, amount DOUBLE",
                                  table=uri, max_rows=rows, max_rows_per_trigger=rows // 4)
    p["source"]["datagen"]["seed"] = seed
    p["transform"] = [{"select": [f"id + {first_id} AS id", "user", "amount"]}]
    if options:
        p["sink"]["delta"]["storage_options"] = options
    return p


@pytest.mark.parametrize("kind", ["s3", "azure", "gcs"])
def test_delta_table_on_object_store(kind, servers, tmp_path, weir_bin):
    """A pipeline writes a Delta table into the bucket; deltalake (S3,
    Azure) and `weir table scan` read back every row exactly once."""
    s = servers[kind]
    uri = s.uri(f"tables/t-{uuid.uuid4().hex[:8]}")
    options = None
    env = s.env_for_weir()
    if kind == "s3":
        # Options in the config instead of the environment.
        options = {"aws_endpoint_url": s.endpoint, "aws_access_key_id": "testing",
                   "aws_secret_access_key": "testing", "aws_region": "us-east-1"}
        env = pipeline.env_with()
    cfg = pipeline.write_config(tmp_path, datagen_to(tmp_path, uri, "gen", 1, 4000, options))
    r = pipeline.run(weir_bin, cfg, "--available-now", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "aws_secret_access_key" not in r.stderr and "testing" not in r.stderr

    scan = subprocess.run([str(weir_bin), "table", "scan", uri], capture_output=True, text=True, timeout=120,
                          env=s.env_for_weir())
    assert scan.returncode == 0, scan.stderr
    ids = sorted(json.loads(line)["id"] for line in scan.stdout.splitlines())
    assert ids == list(range(4000))
    if s.deltalake_options is not None:
        import deltalake
        t = deltalake.DeltaTable(uri, storage_options=s.deltalake_options)
        got = t.to_pyarrow_table()
        assert got.num_rows == 4000
        assert sorted(got.column("id").to_pylist()) == list(range(4000))
        assert t.version() == 3  # four batches: versions 0..3


def test_two_writers_on_s3(servers, tmp_path, weir_bin):
    """Two weir processes append to one table on S3 at the same time: every
    commit lands (put-if-absent on _delta_log), versions are contiguous and
    both sets of rows are there."""
    s = servers["s3"]
    uri = s.uri(f"tables/shared-{uuid.uuid4().hex[:8]}")
    # Create the table first so both writers race on appends only.
    first = pipeline.write_config(tmp_path, datagen_to(tmp_path, uri, "init", 3, 4, first_id=10_000_000),
                                  name="init.json")
    r = pipeline.run(weir_bin, first, "--available-now", env=s.env_for_weir())
    assert r.returncode == 0, r.stderr[-3000:]
    cfgs = [pipeline.write_config(tmp_path, datagen_to(tmp_path, uri, f"w{i}", i, 6000, first_id=i * 1_000_000),
                                  name=f"w{i}.json") for i in (1, 2)]
    for c, p in zip(cfgs, ("w1", "w2")):
        data = json.loads(c.read_text())
        data["pipelines"][0]["source"]["datagen"]["max_rows_per_trigger"] = 300  # 20 commits each
        c.write_text(json.dumps(data))
    results = [None, None]

    def go(i):
        results[i] = pipeline.run(weir_bin, cfgs[i], "--available-now", env=s.env_for_weir())

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert r.returncode == 0, r.stderr[-3000:]
    logs = sorted(k for k in s.list_keys(uri.split("/", 3)[3] + "/_delta_log/") if k.endswith(".json"))
    versions = [int(k.rsplit("/", 1)[1].split(".")[0]) for k in logs]
    assert versions == list(range(len(versions))), versions
    assert len(versions) == 4 + 20 + 20  # 4 batches of the first writer, 20 of each racer
    import deltalake
    t = deltalake.DeltaTable(uri, storage_options=s.deltalake_options)
    ids = sorted(t.to_pyarrow_table().column("id").to_pylist())
    want = sorted(list(range(10_000_000, 10_000_004)) + list(range(1_000_000, 1_006_000))
                  + list(range(2_000_000, 2_006_000)))
    assert ids == want
