"""State larger than memory: a dedup over 20M distinct keys with a 256 MB
state budget finishes with every key in the state (they spill to RocksDB's
files on disk) and the process's peak RSS stays under 600 MB. The keys come
from the datagen source (no broker needed); the Delta sink writes every
row once. Peak memory is weir's own high-water mark (VmHWM), sampled
while it runs."""
import subprocess
import time

from pipeline import progress, write_config

N = 20_000_000


def vm_hwm_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:  # exited between the poll and the read
        pass
    return 0


def test_dedup_of_20m_keys_stays_under_600_mb(tmp_path, weir_bin):
    p = {"name": "mem", "checkpoint": str(tmp_path / "ckpt"),
         "state": {"memory": "256MB"},
         "source": {"datagen": {"schema": "id LONG, amount DOUBLE", "seed": 1, "max_rows": N,
                                "max_rows_per_trigger": 1_000_000}},
         "transform": [{"dedup": {"keys": ["id"], "ttl": "1 day"}}],
         "sink": {"delta": {"path": str(tmp_path / "table")}}}
    cfg = write_config(tmp_path, p)
    log = tmp_path / "run.log"
    peak_kb = 0
    with open(log, "w") as fh:
        proc = subprocess.Popen([str(weir_bin), "run", str(cfg), "--available-now"], stdout=subprocess.DEVNULL,
                                stderr=fh)
        # VmHWM, the high-water mark of weir's own memory: getrusage's
        # maxrss of a child also counts the test process it was forked from
        while proc.poll() is None:
            peak_kb = max(peak_kb, vm_hwm_kb(proc.pid))
            time.sleep(0.05)
    err = log.read_text()
    assert proc.returncode == 0, err[-3000:]
    assert peak_kb > 0, "VmHWM was never read"
    prog = progress(err)
    assert sum(x["numInputRows"] for x in prog) == N
    assert sum(x["sink"]["numOutputRows"] for x in prog) == N  # every key new: nothing dropped
    assert prog[-1]["stateOperators"][0]["numRowsTotal"] == N
    # the keys live in RocksDB's files: as entries (a 10-byte key and an
    # 8-byte expiry each) they would take 360 MB, over the 256 MB budget; in
    # the files, prefix-compressed and lz4'd, still at least 4 bytes a key
    # (versions share SST files through hard links: count each once)
    ssts = {f.stat().st_ino: f.stat().st_size for f in (tmp_path / "ckpt" / "state").rglob("*.sst")}
    assert sum(ssts.values()) > N * 4, sum(ssts.values())
    peak_mb = peak_kb / 1024
    print(f"peak RSS {peak_mb:.0f} MB, state files {sum(ssts.values()) >> 20} MB")
    assert peak_mb < 600, f"peak RSS {peak_mb:.0f} MB"
