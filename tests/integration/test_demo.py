"""`make demo` keeps working: scripts/demo.sh runs a datagen -> Delta
pipeline with the real weir binary, twice (the second run finds nothing to
do), and checks that weir scan, deltalake and DuckDB agree."""
import os
import subprocess

from readers import ROOT


def test_demo_script(tmp_path, weir_bin):
    env = dict(os.environ, DEMO_DIR=str(tmp_path), ROWS="3000", BATCH="1000", WEIR_BIN=str(weir_bin))
    r = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "demo: OK - weir scan, deltalake and DuckDB return the same" in r.stdout
    assert "batch 2:" in r.stdout and "batch 3:" not in r.stdout
    log = sorted(f for f in os.listdir(tmp_path / "orders" / "_delta_log") if f.endswith(".json"))
    assert log == [f"{v:020d}.json" for v in range(3)]
    assert any(d.startswith("day=") for d in os.listdir(tmp_path / "orders"))
