"""Object-store servers for the integration tests, started on 127.0.0.1:

- S3: moto's server mode (.venv/bin/moto_server), path-style, any keys;
- Azure Blob: Azurite (.deps/emulators/node_modules/.bin/azurite-blob),
  the emulator account devstoreaccount1 and its published key;
- GCS: fake-gcs-server (.deps/emulators/bin/fake-gcs-server), JSON API,
  no auth.

Each server object has `uri(path)` (a URI inside its bucket/container),
`env` (the environment weir reads its storage options from) and
`deltalake_options` (the same for the deltalake reader, where it can talk
to that server). All are installed by scripts/setup.sh; a missing one
fails the test that needs it."""
import base64
import email.utils
import hashlib
import hmac
import json
import os
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPS = pathlib.Path(os.environ.get("WEIR_DEPS_DIR", ROOT / ".deps"))

AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's development key: public, the same in every installation.
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port, proc, log, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server did not listen on {port} within {timeout}s: {log.read_text()[-2000:]}")


class Server:
    kind = ""

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.workdir / f"{self.kind}.log"
        self.proc = None

    def _start(self, argv):
        exe = pathlib.Path(argv[0])
        if not exe.exists():
            raise RuntimeError(f"{exe} is missing: run scripts/setup.sh")
        self.proc = subprocess.Popen(argv, stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
                                     cwd=self.workdir, start_new_session=True)
        _wait_port(self.port, self.proc, self.log)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def env_for_weir(self):
        env = dict(os.environ)
        env.update(self.env)
        return env


class S3Server(Server):
    kind = "s3"
    bucket = "weir-test"

    def start(self):
        self._start([str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.create_bucket(self.bucket)
        self.env = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
        self.deltalake_options = {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                                  "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                                  "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
        return self

    def create_bucket(self, name):
        req = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT", data=b"")
        urllib.request.urlopen(req, timeout=30).read()

    def uri(self, path):
        return f"s3://{self.bucket}/{path}"

    def list_keys(self, prefix):
        """Every key under prefix (moto answers unsigned requests)."""
        keys, token = [], None
        while True:
            q = f"list-type=2&prefix={urllib.request.quote(prefix, safe='')}"
            if token:
                q += f"&continuation-token={urllib.request.quote(token, safe='')}"
            body = urllib.request.urlopen(f"{self.endpoint}/{self.bucket}?{q}", timeout=30).read().decode()
            import re
            keys += [k for k in re.findall(r"<Key>([^<]*)</Key>", body)]
            m = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", body)
            if "<IsTruncated>true</IsTruncated>" not in body or not m:
                return keys
            token = m.group(1)

    def put(self, key, data):
        # An explicit type: moto would read a form-encoded body as a form.
        req = urllib.request.Request(f"{self.endpoint}/{self.bucket}/{urllib.request.quote(key)}", method="PUT",
                                     data=data, headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(req, timeout=60).read()


class AzuriteServer(Server):
    kind = "azure"
    container = "weir-test"

    def start(self):
        exe = DEPS / "emulators" / "node_modules" / ".bin" / "azurite-blob"
        self._start([str(exe), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location",
                     str(self.workdir / "data"), "--silent", "--skipApiVersionCheck", "--loose"])
        self.endpoint = f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"
        self.request("PUT", f"/{self.container}?restype=container")
        self.env = {"AZURE_STORAGE_USE_EMULATOR": "true", "AZURE_STORAGE_ENDPOINT": self.endpoint,
                    "AZURE_STORAGE_ACCOUNT_NAME": AZURITE_ACCOUNT, "AZURE_STORAGE_ACCOUNT_KEY": AZURITE_KEY}
        self.deltalake_options = {"azure_storage_account_name": AZURITE_ACCOUNT,
                                  "azure_storage_account_key": AZURITE_KEY,
                                  "azure_storage_endpoint": self.endpoint, "azure_allow_http": "true"}
        return self

    def request(self, method, path_query, data=b""):
        """A Shared Key request (path_query below the account, plain text)."""
        date = email.utils.formatdate(usegmt=True)
        path, _, query = path_query.partition("?")
        params = sorted(p.split("=", 1) for p in query.split("&") if p)
        ctype = "application/octet-stream" if method == "PUT" else ""
        length = str(len(data)) if data else ""
        headers = {"x-ms-date": date, "x-ms-version": "2021-12-02"}
        if method == "PUT" and "restype" not in query and "comp" not in query:
            headers["x-ms-blob-type"] = "BlockBlob"
        ms = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
        sts = (f"{method}\n\n\n{length}\n\n{ctype}\n\n\n\n\n\n\n{ms}/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}"
               f"{urllib.request.quote(path)}" + "".join(f"\n{k}:{urllib.request.unquote(v)}" for k, v in params))
        sig = base64.b64encode(hmac.new(base64.b64decode(AZURITE_KEY), sts.encode(), hashlib.sha256).digest())
        headers["Authorization"] = f"SharedKey {AZURITE_ACCOUNT}:{sig.decode()}"
        if ctype:
            headers["Content-Type"] = ctype
        req = urllib.request.Request(f"{self.endpoint}{urllib.request.quote(path)}" + (f"?{query}" if query else ""),
                                     method=method, data=data if method == "PUT" else None, headers=headers)
        return urllib.request.urlopen(req, timeout=60).read()

    def uri(self, path):
        return f"abfss://{self.container}@{AZURITE_ACCOUNT}.dfs.core.windows.net/{path}"

    def put(self, key, data):
        self.request("PUT", f"/{self.container}/{key}", data)


class GcsServer(Server):
    kind = "gcs"
    bucket = "weir-test"

    def start(self):
        exe = DEPS / "emulators" / "bin" / "fake-gcs-server"
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._start([str(exe), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port), "-backend",
                     "memory", "-external-url", self.endpoint, "-log-level", "warn"])
        req = urllib.request.Request(f"{self.endpoint}/storage/v1/b?project=weir", method="POST",
                                     data=json.dumps({"name": self.bucket}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).read()
        self.env = {"GOOGLE_ENDPOINT_URL": self.endpoint}
        self.deltalake_options = None  # delta-rs cannot reach this emulator without a service account
        return self

    def uri(self, path):
        return f"gs://{self.bucket}/{path}"

    def put(self, key, data):
        q = f"uploadType=media&name={urllib.request.quote(key, safe='')}"
        req = urllib.request.Request(f"{self.endpoint}/upload/storage/v1/b/{self.bucket}/o?{q}", method="POST",
                                     data=data, headers={"Content-Type": "application/octet-stream"})
        urllib.request.urlopen(req, timeout=60).read()


SERVERS = {"s3": S3Server, "azure": AzuriteServer, "gcs": GcsServer}


def start_server(kind, workdir):
    return SERVERS[kind](workdir).start()


def store_conformance_bin():
    p = pathlib.Path(os.environ.get("WEIR_STORE_CONFORMANCE",
                                    pathlib.Path(os.environ.get("WEIR_BIN", ROOT / "build" / "weir")).parent
                                    / "tests" / "store_conformance"))
    return p


def rmtree(p):
    shutil.rmtree(p, ignore_errors=True)
