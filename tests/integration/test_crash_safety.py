"""A writer killed at any moment leaves no half-visible commit: after every
SIGKILL the table scans cleanly with either all or none of the killed
import's rows, every commit file parses, and the next import commits."""
import json
import random
import signal
import subprocess

ROWS = 60000


def test_kill_during_import(tmp_path, weir_bin, run_weir, read_deltalake):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "s": f"value-{i:08d}", "x": i * 0.25}) + "\n" for i in range(ROWS)))
    table = tmp_path / "t"
    r = run_weir("table", "import", str(table), "--format", "jsonl", str(src), "--schema", "id LONG, s STRING, x DOUBLE")
    assert r.returncode == 0, r.stderr
    expected = ROWS
    rnd = random.Random(7)
    killed_mid_way = 0
    for attempt in range(12):
        p = subprocess.Popen([str(weir_bin), "table", "import", str(table), "--format", "jsonl", str(src)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            p.wait(timeout=rnd.uniform(0.01, 0.6))
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            killed_mid_way += 1
        committed = p.returncode == 0
        for f in sorted((table / "_delta_log").glob("*.json")):
            for line in f.read_text().splitlines():
                json.loads(line)  # every visible commit is whole
        s = run_weir("table", "scan", str(table), "--columns", "id")
        assert s.returncode == 0, s.stderr
        n = len(s.stdout.splitlines())
        assert n in (expected, expected + ROWS), (attempt, n, expected)
        if n == expected + ROWS:
            expected = n
        elif committed:
            raise AssertionError(f"import exited 0 but its rows are not visible (attempt {attempt})")
    assert killed_mid_way > 0, "no import was interrupted; the test proved nothing"
    assert read_deltalake(str(table)).num_rows == expected
