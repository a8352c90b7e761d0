"""Acceptance 3: two processes appending concurrently, 100 commits each. The
log then holds 200 contiguous commits (plus the creating one) and
checkpoints, every row is present exactly once, and weir, deltalake, DuckDB
and Spark all agree."""
import json
import os
import subprocess
import sys

from rows import canon_rows, to_rows

SCHEMA = [("writer", "string"), ("seq", "long"), ("payload", "string")]
N = 100


def test_two_writers_100_commits_each(tmp_path, weir_bin, run_weir, read_deltalake, read_duckdb, read_spark):
    table = tmp_path / "t"
    seed = tmp_path / "seed.jsonl"
    seed.write_text(json.dumps({"writer": "seed", "seq": -1, "payload": "x"}) + "\n")
    r = run_weir("table", "import", str(table), "--format", "jsonl", str(seed),
                 "--schema", "writer STRING, seq LONG, payload STRING")
    assert r.returncode == 0, r.stderr
    inputs = {}
    for w in ("a", "b"):
        d = tmp_path / w
        d.mkdir()
        for i in range(N):
            (d / f"{i}.jsonl").write_text(
                "".join(json.dumps({"writer": w, "seq": i * 3 + k, "payload": f"{w}-{i}-{k}"}) + "\n" for k in range(3)))
        inputs[w] = d
    # Each writer is a shell loop of 100 `weir table import` runs; both loops
    # run at the same time against the same table.
    script = 'for i in $(seq 0 %d); do "$1" table import "$2" --format jsonl "$3/$i.jsonl" || exit 1; done' % (N - 1)
    procs = [subprocess.Popen(["bash", "-c", script, "loop", str(weir_bin), str(table), str(inputs[w])],
                              stderr=subprocess.PIPE, text=True) for w in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err
    log = sorted(os.listdir(table / "_delta_log"))
    commits = [f for f in log if f.endswith(".json") and len(f) == 25]
    assert commits == [f"{v:020d}.json" for v in range(2 * N + 1)]
    assert [f for f in log if f.endswith(".checkpoint.parquet")] == \
        [f"{v:020d}.checkpoint.parquet" for v in range(10, 2 * N + 1, 10)]
    # every commit after the first is a blind append of exactly one file
    for v in range(1, 2 * N + 1):
        actions = [json.loads(l) for l in (table / "_delta_log" / f"{v:020d}.json").read_text().splitlines()]
        assert sum("add" in a for a in actions) == 1
        assert not any("remove" in a for a in actions)
    want = sorted([("seed", -1, "x")] + [(w, i * 3 + k, f"{w}-{i}-{k}") for w in "ab" for i in range(N) for k in range(3)],
                  key=repr)
    r = run_weir("table", "scan", str(table))
    assert r.returncode == 0, r.stderr
    assert canon_rows([json.loads(l) for l in r.stdout.splitlines()], SCHEMA) == want
    assert canon_rows(to_rows(read_deltalake(str(table))), SCHEMA) == want
    assert canon_rows(to_rows(read_duckdb(str(table))), SCHEMA) == want
    assert canon_rows(to_rows(read_spark(str(table))), SCHEMA) == want
