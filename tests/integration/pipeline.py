"""Helpers for tests that run `weir run CONFIG`: write a config, run or
start weir (also to a crash point, or to a SIGKILL after a while), and read
the progress records it logs (one JSON line each on stderr,
{"msg": "progress", "progress": {...}})."""
import json
import os
import signal
import subprocess
import time


def write_config(tmp_path, *pipelines, name="weir.json", **top):
    path = tmp_path / name
    path.write_text(json.dumps({"pipelines": list(pipelines), **top}, indent=1))
    return path


def datagen_pipeline(tmp_path, name="gen", schema="id LONG, user STRING, amount DOUBLE", table=None,
                     checkpoint=None, **datagen):
    return {
        "name": name,
        "checkpoint": str(checkpoint or tmp_path / f"{name}-ckpt"),
        "source": {"datagen": {"schema": schema, "seed": 1, **datagen}},
        "sink": {"delta": {"path": str(table or tmp_path / f"{name}-table")}},
    }


def kafka_pipeline(tmp_path, name, bootstrap, topic, schema, interval, max_offsets_per_trigger, table=None):
    """A pipeline reading `topic` from the earliest offset, decoding JSON
    values with `schema`, into a Delta table (default tmp_path/table)."""
    return {
        "name": name,
        "checkpoint": str(tmp_path / "ckpt"),
        "trigger": {"interval": interval},
        "source": {"kafka": {"bootstrap_servers": bootstrap, "topics": [topic],
                             "starting_offsets": "earliest", "max_offsets_per_trigger": max_offsets_per_trigger}},
        "transform": [{"decode": {"format": "json", "schema": schema}}],
        "sink": {"delta": {"path": str(table or tmp_path / "table")}},
    }


def wait_for(pred, timeout, what):
    """Polls pred() every 0.2 s until it is true; fails after timeout seconds."""
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def env_with(**extra):
    env = dict(os.environ)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(weir_bin, config, *flags, timeout=600, env=None):
    return subprocess.run([str(weir_bin), "run", str(config), *flags], capture_output=True, text=True,
                          timeout=timeout, env=env)


def start(weir_bin, config, *flags, env=None, stderr_path=None):
    err = open(stderr_path, "w") if stderr_path else subprocess.PIPE
    return subprocess.Popen([str(weir_bin), "run", str(config), *flags], stdout=subprocess.DEVNULL,
                            stderr=err, text=True, env=env)


def crash_at(weir_bin, config, point, log_path):
    """Run weir until it kills itself at crash point `point` (WEIR_CRASH_AT);
    fails unless it died there by SIGKILL within 120 s."""
    proc = start(weir_bin, config, env=env_with(WEIR_CRASH_AT=point), stderr_path=log_path)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"crash point {point} never reached; log: {log_path.read_text()[-2000:]}")
    assert proc.returncode == -signal.SIGKILL, (point, proc.returncode, log_path.read_text()[-2000:])
    assert f"crash point '{point}'" in log_path.read_text()


def kill_after(weir_bin, config, seconds, log_path):
    """Run weir for `seconds`, then SIGKILL it (it must still be running)."""
    proc = start(weir_bin, config, stderr_path=log_path)
    time.sleep(seconds)
    assert proc.poll() is None, log_path.read_text()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def log_lines(stderr):
    out = []
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"log line is not JSON: {line[:300]}")
    return out


def progress(stderr):
    return [l["progress"] for l in log_lines(stderr) if l.get("msg") == "progress"]


def errors(stderr):
    return [l for l in log_lines(stderr) if l.get("level") == "error"]
