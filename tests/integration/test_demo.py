"""`make demo` keeps working: scripts/demo.sh imports generated JSON lines
with the real weir binary and checks weir scan, deltalake and DuckDB agree."""
import os
import subprocess

from readers import ROOT


def test_demo_script(tmp_path, weir_bin):
    env = dict(os.environ, DEMO_DIR=str(tmp_path), ROWS="300", WEIR_BIN=str(weir_bin))
    r = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "demo: OK - weir scan, deltalake and DuckDB return the same 300 rows" in r.stdout
    log = sorted(os.listdir(tmp_path / "orders" / "_delta_log"))
    assert [f for f in log if f.endswith(".json")] == ["00000000000000000000.json", "00000000000000000001.json"]
    assert any(d.startswith("day=") for d in os.listdir(tmp_path / "orders"))
