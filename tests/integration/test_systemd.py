"""weir under systemd: the unit file in dist/systemd passes
`systemd-analyze verify` and carries the hardening the service needs, and
the notify protocol (READY, STATUS, WATCHDOG, RELOADING, STOPPING) is seen
on a NOTIFY_SOCKET the test binds, as systemd would."""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time

from pipeline import datagen_pipeline, start, write_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
UNIT = ROOT / "dist" / "systemd" / "weir.service"


def directives(text):
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def test_unit_file_verifies_and_is_hardened(tmp_path, weir_bin):
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze not found (Debian package systemd): install it with scripts/setup.sh"
    text = UNIT.read_text()
    d = directives(text)
    assert d["ExecStart"] == ["/usr/local/bin/weir run /etc/weir/pipelines.json"]
    # verify needs the binary the unit names: the same unit, pointed at this build
    unit = tmp_path / "weir.service"
    unit.write_text(text.replace("/usr/local/bin/weir", str(weir_bin)))
    r = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"]
    assert d["User"] == ["weir"] and d["Group"] == ["weir"]
    assert d["NoNewPrivileges"] == ["yes"] and d["ProtectSystem"] == ["strict"]
    assert "/var/lib/weir" in d["ReadWritePaths"][0].split() and d["StateDirectory"] == ["weir"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert d["CapabilityBoundingSet"] == [""]
    # the stop timeout covers weir's default shutdown_timeout (30 s) and its 10 s grace
    assert int(d["TimeoutStopSec"][0]) > 40 and int(d["WatchdogSec"][0]) > 0


def test_sd_notify_messages(tmp_path, weir_bin):
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    p = datagen_pipeline(tmp_path, rows_per_second=1000)
    p["trigger"] = {"interval": "200ms"}
    cfg = write_config(tmp_path, p)
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="300000")
    log = tmp_path / "weir.log"
    proc = start(weir_bin, cfg, env=env, stderr_path=log)
    got = []

    def until(pred, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                got.append(sock.recv(4096).decode())
            except socket.timeout:
                pass
            if pred():
                return
        raise AssertionError(f"no {what} in {got}\n{log.read_text()[-2000:]}")

    try:
        until(lambda: any(m.startswith("READY=1") for m in got), 30, "READY=1")
        ready = next(m for m in got if m.startswith("READY=1"))
        assert f"MAINPID={proc.pid}" in ready
        until(lambda: sum(m == "WATCHDOG=1" for m in got) >= 3, 30, "three WATCHDOG=1")
        until(lambda: any(m.startswith("STATUS=1 pipelines, 0 failing, 0 paused;") and
                          not m.endswith("; 0 batches committed") for m in got), 30, "a STATUS with batches")
        n = len(got)
        proc.send_signal(signal.SIGHUP)
        until(lambda: "RELOADING=1" in got[n:] and "READY=1" in got[got.index("RELOADING=1", n):], 30,
              "RELOADING=1 then READY=1")
        proc.send_signal(signal.SIGTERM)
        until(lambda: "STOPPING=1" in got, 30, "STOPPING=1")
        assert proc.wait(timeout=60) == 0, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
