"""Acceptance 5: truncated or corrupt Parquet files and log entries give an
error naming the file and what is wrong; `weir table scan` exits 1 and
nothing crashes (a crash would be a negative return code from a signal)."""
import json
import os
import shutil

import pytest


@pytest.fixture
def table(tmp_path, run_weir):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "name": f"n{i}", "v": i / 3}) + "\n" for i in range(1000)))
    t = tmp_path / "t"
    r = run_weir("table", "import", str(t), "--format", "jsonl", str(src), "--schema", "id LONG, name STRING, v DOUBLE")
    assert r.returncode == 0, r.stderr
    r = run_weir("table", "import", str(t), "--format", "jsonl", str(src))
    assert r.returncode == 0, r.stderr
    return t


def data_file(t):
    files = sorted(f for f in os.listdir(t) if f.endswith(".parquet"))
    assert files
    return t / files[0]


def scan_fails(run_weir, t, *needles):
    r = run_weir("table", "scan", str(t))
    assert r.returncode == 1, (r.returncode, r.stderr)
    for n in needles:
        assert n in r.stderr, (n, r.stderr)
    return r


def test_intact_table_scans(table, run_weir):
    r = run_weir("table", "scan", str(table))
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 2000


@pytest.mark.parametrize("keep", [0, 3, 4, 100, -9, -1])
def test_truncated_parquet(table, run_weir, keep):
    f = data_file(table)
    data = f.read_bytes()
    f.write_bytes(data[:keep] if keep >= 0 else data[:len(data) + keep])
    scan_fails(run_weir, table, f.name)


def test_garbage_footer(table, run_weir):
    f = data_file(table)
    data = bytearray(f.read_bytes())
    flen = int.from_bytes(data[-8:-4], "little")
    for i in range(len(data) - 8 - flen, len(data) - 8):
        data[i] ^= 0x5A
    f.write_bytes(bytes(data))
    scan_fails(run_weir, table, f.name)


def test_footer_length_past_file(table, run_weir):
    f = data_file(table)
    data = bytearray(f.read_bytes())
    data[-8:-4] = (len(data) * 4).to_bytes(4, "little")
    f.write_bytes(bytes(data))
    scan_fails(run_weir, table, f.name)


def test_corrupt_page_bytes(table, run_weir):
    f = data_file(table)
    data = bytearray(f.read_bytes())
    for i in range(4, min(len(data) // 2, 400)):
        data[i] = (data[i] * 7 + 13) & 0xFF
    f.write_bytes(bytes(data))
    scan_fails(run_weir, table, f.name)


def test_missing_data_file(table, run_weir):
    f = data_file(table)
    os.unlink(f)
    scan_fails(run_weir, table, f.name)


def test_corrupt_commit_json(table, run_weir):
    c = table / "_delta_log" / "00000000000000000001.json"
    lines = c.read_text().splitlines()
    lines[-1] = lines[-1][: len(lines[-1]) // 2]
    c.write_text("\n".join(lines) + "\n")
    scan_fails(run_weir, table, "00000000000000000001.json")


def test_add_without_path(table, run_weir):
    c = table / "_delta_log" / "00000000000000000001.json"
    out = []
    for line in c.read_text().splitlines():
        a = json.loads(line)
        if "add" in a:
            del a["add"]["path"]
        out.append(json.dumps(a))
    c.write_text("\n".join(out) + "\n")
    scan_fails(run_weir, table, "00000000000000000001.json", "path")


def test_missing_commit_in_sequence(table, run_weir):
    shutil.copy(table / "_delta_log" / "00000000000000000001.json", table / "_delta_log" / "00000000000000000003.json")
    scan_fails(run_weir, table, "00000000000000000002")


def test_corrupt_checkpoint(tmp_path, run_weir):
    src = tmp_path / "in.jsonl"
    t = tmp_path / "t"
    for i in range(11):
        src.write_text(json.dumps({"id": i}) + "\n")
        args = ["table", "import", str(t), "--format", "jsonl", str(src)]
        r = run_weir(*(args + (["--schema", "id LONG"] if i == 0 else [])))
        assert r.returncode == 0, r.stderr
    cp = t / "_delta_log" / "00000000000000000010.checkpoint.parquet"
    assert cp.exists()
    cp.write_bytes(cp.read_bytes()[:50])
    # While the commits the checkpoint summarises still exist, weir replays
    # them instead, warning with the checkpoint's name; the rows are whole.
    r = run_weir("table", "scan", str(t))
    assert r.returncode == 0, r.stderr
    assert sorted(json.loads(l)["id"] for l in r.stdout.splitlines()) == list(range(11))
    assert "00000000000000000010.checkpoint.parquet" in r.stderr
    # Once they are gone (log cleanup) nothing can replace it: exit 1.
    for v in range(10):
        os.unlink(t / "_delta_log" / f"{v:020d}.json")
    scan_fails(run_weir, t, "00000000000000000010.checkpoint.parquet")
