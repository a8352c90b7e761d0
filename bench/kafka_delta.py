"""Kafka -> Delta benchmark driver (see bench/run_kafka_delta.sh)."""
import argparse
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import kafka_broker  # noqa: E402


def run_measured(cmd, env=None, stdout=subprocess.PIPE):
    """Run cmd; return (seconds, peak_rss_mb, stdout, returncode) for that process alone."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env)
    out, err = b"", b""
    if stdout == subprocess.PIPE:
        out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return secs, ru.ru_maxrss / 1024.0, out, err, p.returncode


def line(impl, records, nbytes, secs, rss):
    print(f"impl={impl} records={records} seconds={secs:.2f} records_per_s={records / secs:.0f} "
          f"mb_per_s={nbytes / secs / 1e6:.1f} peak_rss_mb={rss:.1f}", flush=True)


def run_with_broker(bench_fn, extra_args=()):
    """Parse --weir, --kafka-tool, --records, --out (plus extra_args:
    (flag, type, default) triples), start a local broker under OUT/broker,
    run bench_fn(args, out, broker), stop the broker."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--weir", required=True)
    ap.add_argument("--kafka-tool", required=True)
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--out", required=True)
    for flag, typ, default in extra_args:
        ap.add_argument(flag, type=typ, default=default)
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    broker = kafka_broker.KafkaBroker(workdir=out / "broker", kafka_tool=a.kafka_tool, heap="1g")
    broker.start()
    try:
        bench_fn(a, out, broker)
    finally:
        broker.stop()


def main():
    run_with_broker(bench, [("--latency-seconds", int, 30), ("--latency-rate", int, 50_000), ("--rounds", int, 3)])


def bench(a, out, broker):
    n = a.records
    load = open("/proc/loadavg").read().split()[0]
    print(f"== Kafka -> Delta: {n} JSON records, 8 partitions ({os.cpu_count()} cores, load {load})", flush=True)
    broker.create_topic("bench", 8)
    t0 = time.monotonic()
    prod = broker.produce_json_bulk("bench", n, partitions=8, seed=1, timeout=3600)
    print(f"produced {prod['records']} records, {prod['bytes']} value bytes in {time.monotonic() - t0:.1f} s "
          f"({prod['records_per_s']:.0f}/s)", flush=True)
    nbytes = prod["bytes"]

    # 1. raw consume references and 2. weir with default limits, in rounds
    # (raw, kcat, weir, raw, ...) so a change in the machine's load hits all
    # three; each is timed as a whole process, start to exit.
    kcat = shutil.which("kcat")
    times = {"raw": [], "kcat": [], "weir": []}
    rss = {"raw": 0.0, "kcat": 0.0, "weir": 0.0}
    for rnd in range(a.rounds):
        # each measurement starts with no dirty pages of the previous one
        # (the produced log, the last run's Parquet files) left to write back
        os.sync()
        secs, r, so, se, rc = run_measured([a.kafka_tool, "consume", "--brokers", broker.bootstrap, "--topic", "bench"])
        assert rc == 0, se
        raw = json.loads([l for l in so.decode().splitlines() if l.startswith("{")][-1])
        assert raw["records"] == n, raw
        times["raw"].append(secs)
        rss["raw"] = max(rss["raw"], r)
        if kcat:
            os.sync()
            with open(os.devnull, "wb") as null:
                secs, r, _, se, rc = run_measured([kcat, "-C", "-b", broker.bootstrap, "-t", "bench", "-o",
                                                   "beginning", "-e", "-q"], stdout=null)
            assert rc == 0, se
            times["kcat"].append(secs)
            rss["kcat"] = max(rss["kcat"], r)
        d = out / f"weir-{rnd}"
        cfg = {"pipelines": [{
            "name": "bench", "checkpoint": str(d / "ckpt"),
            "source": {"kafka": {"bootstrap_servers": broker.bootstrap, "topics": ["bench"],
                                 "starting_offsets": "earliest"}},
            "transform": [{"decode": {"format": "json", "schema": broker.schema_ddl}}],
            "sink": {"delta": {"path": str(d / "table")}},
        }]}
        d.mkdir(parents=True)
        (d / "bench.json").write_text(json.dumps(cfg))
        os.sync()
        secs, r, _, se, rc = run_measured([a.weir, "run", str(d / "bench.json"), "--available-now"])
        assert rc == 0, se.decode()[-3000:]
        prog = [json.loads(l)["progress"] for l in se.decode().splitlines() if '"msg":"progress"' in l]
        rows = sum(p["numInputRows"] for p in prog)
        assert rows == n, rows
        times["weir"].append(secs)
        rss["weir"] = max(rss["weir"], r)
        files = sum(p["sink"]["metrics"]["numFiles"] for p in prog)
        size = sum(p["sink"]["metrics"]["numBytes"] for p in prog)
        print(f"round {rnd + 1}: raw {times['raw'][-1]:.2f} s, kcat {times['kcat'][-1] if kcat else 0:.2f} s, "
              f"weir {secs:.2f} s ({len(prog)} commit(s), {files} files, {size / 1e6:.1f} MB of Parquet)", flush=True)
        shutil.rmtree(d)
    names = {"raw": "librdkafka-consumer(kafka_tool)", "kcat": "kcat", "weir": "weir(kafka->delta)"}
    for k in ("raw", "kcat", "weir"):
        if times[k]:
            best, med = min(times[k]), statistics.median(times[k])
            print(f"impl={names[k]} records={n} runs={len(times[k])} seconds={best:.2f} median_seconds={med:.2f} "
                  f"records_per_s={n / best:.0f} mb_per_s={nbytes / best / 1e6:.1f} peak_rss_mb={rss[k]:.1f}",
                  flush=True)
    ratios = sorted(r / w for r, w in zip(times["raw"], times["weir"]))
    print(f"weir/raw consume (same round): median {statistics.median(ratios):.2f}x, range {ratios[0]:.2f}x-"
          f"{ratios[-1]:.2f}x of the librdkafka consumer's rate (goal >= 0.50); peak RSS {rss['weir']:.0f} MB "
          f"(goal <= 512)", flush=True)

    # 3. latency at a 1 s trigger under a steady rate
    latency(a, out, broker)


def latency(a, out, broker):
    rate, secs = a.latency_rate, a.latency_seconds
    broker.create_topic("lat", 8)
    table = out / "lat-table"
    cfg = {"pipelines": [{
        "name": "lat", "checkpoint": str(out / "lat-ckpt"), "trigger": {"interval": "1s"},
        "source": {"kafka": {"bootstrap_servers": broker.bootstrap, "topics": ["lat"],
                             "starting_offsets": "earliest"}},
        "transform": [{"decode": {"format": "json", "schema": broker.schema_ddl}}],
        "sink": {"delta": {"path": str(table)}},
    }]}
    cpath = out / "lat.json"
    cpath.write_text(json.dumps(cfg))
    logf = open(out / "lat.log", "w")
    weir = subprocess.Popen([a.weir, "run", str(cpath)], stderr=logf, stdout=subprocess.DEVNULL)
    time.sleep(2)
    total = rate * secs
    broker.produce_json_bulk("lat", total, partitions=8, seed=2, rate=rate, timeout=secs * 4 + 60)
    deadline = time.time() + 120
    while time.time() < deadline:
        done = sum(json.loads(l)["progress"]["numInputRows"] for l in open(out / "lat.log")
                   if '"msg":"progress"' in l)
        if done >= total:
            break
        time.sleep(0.5)
    weir.send_signal(signal.SIGTERM)
    weir.wait(timeout=60)
    import pyarrow.parquet as pq
    lat = []
    for f in sorted((table / "_delta_log").glob("*.json")):
        visible_us = f.stat().st_mtime_ns // 1000
        for l in f.read_text().splitlines():
            act = json.loads(l)
            if "add" in act:
                col = pq.read_table(table / act["add"]["path"], columns=["produced_at"]).column(0)
                for v in col.cast("int64").to_pylist():
                    lat.append((visible_us - v) / 1000.0)
    assert len(lat) == total, (len(lat), total)
    lat.sort()
    p50 = statistics.median(lat)
    p99 = lat[int(len(lat) * 0.99) - 1]
    print(f"latency: {total} records at {rate}/s, trigger 1s: p50_ms={p50:.0f} p99_ms={p99:.0f} "
          f"max_ms={lat[-1]:.0f} (produce time -> Delta commit visible)", flush=True)


if __name__ == "__main__":
    main()
