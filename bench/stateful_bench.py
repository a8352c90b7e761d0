"""Stateful Kafka -> Delta benchmark driver (see bench/run_stateful.sh).

One topic of N JSON records (kafka_tool's layout, 8 partitions): 70 % of
the ids once, then the last 30 % of the ids again, so 30 % of the records
are duplicates by id. Measured in the same run, each with --available-now
on a fresh checkpoint, in --rounds rounds (default 3; the median of the
rounds' ratios is reported):

  stateless   decode -> Delta (the reference rate)
  dedup       decode -> dedup by id (ttl 1 day) -> Delta
  tumbling    decode -> watermark 1 min -> 1-minute tumbling count/sum by
              user (100k users) -> Delta (append output)

then recovery: a dedup by (id, produced_at) holds one key per record (N
keys); the process is SIGKILLed once it has consumed the topic, 1000 more
records are produced, and the restart is timed until its first new batch
is committed (progress logged)."""
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
sys.path.insert(0, str(ROOT / "bench"))
from kafka_delta import run_measured, run_with_broker  # noqa: E402


def progress(stderr_text):
    return [json.loads(l)["progress"] for l in stderr_text.splitlines() if '"msg":"progress"' in l]


def pipeline(out, broker, name, steps, interval=None):
    p = {"name": name, "checkpoint": str(out / f"{name}-ckpt"),
         "source": {"kafka": {"bootstrap_servers": broker.bootstrap, "topics": ["bench"],
                              "starting_offsets": "earliest"}},
         "transform": [{"decode": {"format": "json", "schema": broker.schema_ddl}}] + steps,
         "sink": {"delta": {"path": str(out / f"{name}-table")}}}
    if interval:
        p["trigger"] = {"interval": interval}
    path = out / f"{name}.json"
    path.write_text(json.dumps({"pipelines": [p]}))
    return path


def measure(a, name, cfg, n, nbytes):
    secs, rss, _, se, rc = run_measured([a.weir, "run", str(cfg), "--available-now"])
    se = se.decode()
    assert rc == 0, se[-3000:]
    prog = progress(se)
    rows = sum(p["numInputRows"] for p in prog)
    assert rows == n, (name, rows)
    out_rows = sum(p["sink"]["numOutputRows"] for p in prog)
    print(f"impl=weir({name}) records={n} seconds={secs:.2f} records_per_s={n / secs:.0f} "
          f"mb_per_s={nbytes / secs / 1e6:.1f} peak_rss_mb={rss:.1f} output_rows={out_rows} batches={len(prog)}",
          flush=True)
    return n / secs, prog


def main():
    run_with_broker(bench, [("--rounds", int, 3)])


def bench(a, out, broker):
    n = a.records
    distinct = n * 7 // 10
    load = open("/proc/loadavg").read().split()[0]
    print(f"== stateful Kafka -> Delta: {n} JSON records ({n - distinct} duplicates by id), 8 partitions "
          f"({os.cpu_count()} cores, load {load}); {a.rounds} rounds", flush=True)
    broker.create_topic("bench", 8)
    t0 = time.monotonic()
    p1 = broker.produce_json_bulk("bench", distinct, partitions=8, seed=1, timeout=3600)
    p2 = broker.produce_json_bulk("bench", n - distinct, partitions=8, seed=1, start_id=2 * distinct - n,
                                  timeout=3600)
    nbytes = p1["bytes"] + p2["bytes"]
    print(f"produced {n} records, {nbytes} value bytes in {time.monotonic() - t0:.1f} s", flush=True)

    agg = [{"watermark": {"column": "ts", "delay": "1 minute"}},
           {"aggregate": {"group_by": ["user"], "window": {"column": "ts", "size": "1 minute"},
                          "measures": ["count(*) AS n", "sum(amount) AS total"], "output": "append"}}]
    steps = {"stateless": [], "dedup": [{"dedup": {"keys": ["id"], "ttl": "1 day"}}], "tumbling": agg}
    # The three pipelines run one after the other, round after round: each
    # ratio compares runs minutes apart, and the median of the rounds'
    # ratios is robust to a slow phase of a shared machine.
    ratios = {"dedup": [], "tumbling": []}
    for r in range(a.rounds):
        rates = {}
        for name, st in steps.items():
            for d in (f"{name}-ckpt", f"{name}-table"):
                shutil.rmtree(out / d, ignore_errors=True)
            rates[name], prog = measure(a, name, pipeline(out, broker, name, st), n, nbytes)
            if name == "dedup":
                dups = sum(p.get("numDuplicateRows", 0) for p in prog)
                assert dups == n - distinct, dups
                gets = sum(p["stateOperators"][0]["customMetrics"]["rocksdbGetCount"] for p in prog)
                print(f"dedup dropped {dups} duplicates; state rows {prog[-1]['stateOperators'][0]['numRowsTotal']}; "
                      f"state reads {gets}", flush=True)
        for name in ratios:
            ratios[name].append(rates[name] / rates["stateless"])
        print(f"round {r + 1}: dedup/stateless {ratios['dedup'][-1]:.2f}x, "
              f"tumbling/stateless {ratios['tumbling'][-1]:.2f}x", flush=True)
    for name, rs in ratios.items():
        print(f"{name}/stateless: median {statistics.median(rs):.2f}x over {len(rs)} rounds "
              f"({', '.join(f'{x:.2f}' for x in rs)}) (goal >= 0.60)", flush=True)

    recovery(a, out, broker, n)


def recovery(a, out, broker, n):
    cfg = pipeline(out, broker, "recovery", [{"dedup": {"keys": ["id", "produced_at"], "ttl": "1 day"}}],
                   interval="1s")
    log = out / "recovery-1.log"
    with open(log, "w") as err:
        p = subprocess.Popen([a.weir, "run", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 1800
    while True:
        prog = progress(log.read_text())
        if sum(x["numInputRows"] for x in prog) >= n:
            break
        assert p.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(1)
    keys = prog[-1]["stateOperators"][0]["numRowsTotal"]
    p.send_signal(signal.SIGKILL)
    p.wait()
    broker.produce_json_bulk("bench", 1000, partitions=8, seed=2, start_id=n, timeout=600)
    log2 = out / "recovery-2.log"
    t0 = time.monotonic()
    with open(log2, "w") as err:
        p = subprocess.Popen([a.weir, "run", str(cfg)], stdout=subprocess.DEVNULL, stderr=err)
    while True:
        text = log2.read_text()
        if any(x["numInputRows"] > 0 for x in progress(text)):
            break
        assert p.poll() is None and time.monotonic() - t0 < 600, text[-3000:]
        time.sleep(0.02)
    secs = time.monotonic() - t0
    p.send_signal(signal.SIGTERM)
    p.wait()
    restored = [l for l in text.splitlines() if "state restored" in l]
    print(f"recovery: SIGKILL with {keys} keys in state; restart to the first new batch committed in "
          f"{secs:.2f} s (goal < 5 s); {json.loads(restored[0])['msg'] if restored else '?'}", flush=True)


if __name__ == "__main__":
    main()
