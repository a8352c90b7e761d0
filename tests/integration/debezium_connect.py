"""Debezium's PostgreSQL connector in Kafka Connect standalone mode, for
weir's CDC tests: a real PostgreSQL (postgres_server.py) -> Debezium ->
the real Kafka broker (kafka_broker.py).

DebeziumConnect runs one Kafka Connect standalone worker
(org.apache.kafka.connect.cli.ConnectStandalone) with one Debezium
PostgreSQL connector, from the jars that scripts/setup.sh put in
.deps/debezium/libs (Kafka Connect of the broker's version and the connector
with its JDBC driver, all on one class path; plugins are found through their
ServiceLoader manifests, plugin.discovery=service_load, which keeps the start
fast). Its REST API listens on a free port of 127.0.0.1. Everything lives in
a work directory:

    worker.properties      the worker's config (see _worker_properties)
    connector.properties   the connector's config (see _connector_properties)
    log4j2.properties      logging: everything goes to connect.log
    connect.log            the worker's and Debezium's log (read this when something hangs)
    connect.out            the JVM's stdout/stderr (crashes)
    offsets.dat            the source offsets (the WAL position reached), kept
                           across stop/kill/restart

The connector uses the `pgoutput` logical decoding plugin with a replication
slot and a publication of its own (named after the connector; Debezium creates
both: publication.autocreate.mode `filtered` when `tables` is given, else
`all_tables`), snapshot.mode `initial`, JsonConverter for key and value
(schemas.enable as asked), and Debezium's defaults otherwise (tombstones after
deletes, decimal.handling.mode=precise, time.precision.mode=adaptive) unless
`extra` overrides them. Topics are `<topic_prefix>.<schema>.<table>`, created
by Kafka Connect (one partition, replication factor 1: the broker does not
auto-create topics).

Offsets are flushed to offsets.dat every `offset_flush_interval_ms` (1 s by
default). stop() is a graceful shutdown that commits them; kill() is SIGKILL,
so a restart() after it resumes from the last flushed position and re-sends
the events after it (at-least-once replays, as in production).

Catching up: `wait_caught_up()` inserts a row into a marker table
(public.weir_cdc_marker, created by start() and added to the captured tables)
and waits for its change event on the marker topic. Streaming starts only
after the snapshot, and PostgreSQL sends changes in commit order, so when the
marker's streamed event (op "c") is in Kafka, the snapshot is done and every
change committed before the marker has been handed to Connect's producer.
Handed, not yet written: the producer sends one batch per partition per
request, so the marker's partition can be written while older records of a
busy table still wait in its buffer. So the wait goes on until Connect has
flushed an offset at or past the marker's lsn to offsets.dat: Connect commits
a source offset only once every record before it is acknowledged. A marker
that lands in the snapshot (op "r") does not count; another is inserted.

Helpers:

    start(connector_name, database, topic_prefix, tables=None, schemas_enable=True, extra=None)
    wait_running()               connector and task RUNNING (REST); raises on FAILED with the trace
    wait_caught_up()             the snapshot is done and the WAL is streamed up to now
    stop() / kill() / restart()  graceful stop / SIGKILL / start again with the same config
    status()                     GET /connectors/<name>/status as a dict
    topic(table)                 the topic of "table" or "schema.table"
    marker_topic                 the marker table's topic
    drop_slot()                  drops the replication slot and the publication (after stop)
    rest_url, slot_name, publication_name, log_file, offsets_file

Nothing is downloaded here: missing jars or java raise DebeziumUnavailable with
the fix (run scripts/setup.sh), and the conftest fixture turns that into a
test failure, never a skip. The worker is stopped by stop(), at interpreter
exit (atexit) and, on Linux, when the process that started it dies
(PR_SET_PDEATHSIG).
"""
import atexit
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import procs

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEBEZIUM_DIR = pathlib.Path(os.environ.get("WEIR_DEBEZIUM_DIR", ROOT / ".deps" / "debezium"))
START_TIMEOUT = 60.0  # seconds; a healthy start takes a few
MARKER_TABLE = "weir_cdc_marker"  # in schema public of the captured database
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


class DebeziumUnavailable(RuntimeError):
    """Kafka Connect / Debezium cannot be started here (jars or java missing)."""


class DebeziumError(RuntimeError):
    """The worker or the connector failed."""


def pg_name(text):
    """`text` as a PostgreSQL identifier for slots and publications
    (lower-case letters, digits and _, at most 63 bytes)."""
    return re.sub(r"[^a-z0-9_]", "_", text.lower())[:63]


def envelope(value):
    """The Debezium change event inside a JsonConverter value: the "payload"
    of {"schema", "payload"} when schemas are enabled, else the value itself
    (a dict, or None for a tombstone). Accepts bytes, str or parsed JSON."""
    if isinstance(value, (bytes, bytearray, str)):
        value = json.loads(value)
    if isinstance(value, dict) and set(value) == {"schema", "payload"}:
        return value["payload"]
    return value


LOG4J2 = """\
# written by tests/integration/debezium_connect.py: everything to connect.log,
# INFO for Debezium and the worker, WARN for the chatty parts.
status = error
name = weir-test-connect
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.config.name = org.apache.kafka.common.config
logger.config.level = WARN
logger.utils.name = org.apache.kafka.common.utils
logger.utils.level = WARN
logger.jetty.name = org.eclipse.jetty
logger.jetty.level = WARN
logger.jersey.name = org.glassfish
logger.jersey.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""


class DebeziumConnect:
    def __init__(self, workdir, kafka_bootstrap, pg, java="java", heap="512m", rest_port=None,
                 offset_flush_interval_ms=1000):
        """kafka_bootstrap: "host:port" (or a KafkaBroker); pg: the
        PostgresServer whose databases are captured."""
        self.workdir = pathlib.Path(workdir)
        self.kafka_bootstrap = getattr(kafka_bootstrap, "bootstrap", kafka_bootstrap)
        self.pg = pg
        self.java = java
        self.heap = heap
        self.rest_port = rest_port or procs.free_port()
        self.offset_flush_interval_ms = int(offset_flush_interval_ms)
        self.libs = DEBEZIUM_DIR / "libs"
        self.proc = None
        self.config = None  # start()'s arguments, for restart()
        self._consumer = None
        self._admin = None

    # ---- names ----

    @property
    def rest_url(self):
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def log_file(self):
        return self.workdir / "connect.log"

    @property
    def offsets_file(self):
        return self.workdir / "offsets.dat"

    @property
    def name(self):
        return self.config["connector_name"]

    @property
    def database(self):
        return self.config["database"]

    @property
    def topic_prefix(self):
        return self.config["topic_prefix"]

    @property
    def slot_name(self):
        return pg_name(self.name)

    @property
    def publication_name(self):
        return pg_name(self.name)[:59] + "_pub"

    def topic(self, table):
        """The topic of `table` ("name" in schema public, or "schema.name")."""
        schema, _, name = table.rpartition(".")
        return f"{self.topic_prefix}.{schema or 'public'}.{name}"

    @property
    def marker_topic(self):
        return self.topic(MARKER_TABLE)

    # ---- configuration ----

    def _check_install(self):
        if not (self.libs.is_dir() and list(self.libs.glob("debezium-connector-postgres-*.jar"))
                and list(self.libs.glob("connect-runtime-*.jar"))):
            raise DebeziumUnavailable(
                f"Kafka Connect / Debezium jars not found in {self.libs}: run scripts/setup.sh (installs "
                f"org.apache.kafka:connect-runtime and io.debezium:debezium-connector-postgres from Maven "
                f"Central into .deps/debezium/libs)")
        if shutil.which(self.java) is None:
            raise DebeziumUnavailable(f"`{self.java}` not found: run scripts/setup.sh (installs a JDK 17)")
        try:
            import confluent_kafka  # noqa: F401
        except ImportError as e:
            raise DebeziumUnavailable(f"python package confluent-kafka missing ({e}): run scripts/setup.sh")

    def _worker_properties(self):
        schemas = "true" if self.config["schemas_enable"] else "false"
        p = {
            "bootstrap.servers": self.kafka_bootstrap,
            "key.converter": JSON_CONVERTER,
            "value.converter": JSON_CONVERTER,
            "key.converter.schemas.enable": schemas,
            "value.converter.schemas.enable": schemas,
            "offset.storage.file.filename": str(self.offsets_file),
            "offset.flush.interval.ms": str(self.offset_flush_interval_ms),
            "listeners": f"http://127.0.0.1:{self.rest_port}",
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": str(self.rest_port),
            # Every plugin used here has ServiceLoader manifests: no class
            # path scan at start.
            "plugin.discovery": "service_load",
            "task.shutdown.graceful.timeout.ms": "10000",
        }
        return "".join(f"{k}={v}\n" for k, v in p.items())

    def _table_list(self):
        tables = self.config["tables"]
        if tables is None:
            return None
        out = [t if "." in t else f"public.{t}" for t in tables]
        if f"public.{MARKER_TABLE}" not in out:
            out.append(f"public.{MARKER_TABLE}")
        return out

    def _connector_properties(self):
        c = self.config
        schemas = "true" if c["schemas_enable"] else "false"
        tables = self._table_list()
        p = {
            "name": c["connector_name"],
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "tasks.max": "1",
            "database.hostname": self.pg.host,
            "database.port": str(self.pg.port),
            "database.user": self.pg.superuser,
            "database.password": "unused",  # trust authentication
            "database.dbname": c["database"],
            "topic.prefix": c["topic_prefix"],
            "plugin.name": "pgoutput",
            "slot.name": self.slot_name,
            "publication.name": self.publication_name,
            "publication.autocreate.mode": "filtered" if tables else "all_tables",
            "snapshot.mode": "initial",
            "key.converter": JSON_CONVERTER,
            "value.converter": JSON_CONVERTER,
            "key.converter.schemas.enable": schemas,
            "value.converter.schemas.enable": schemas,
            # The broker does not auto-create topics: Kafka Connect does.
            "topic.creation.default.replication.factor": "1",
            "topic.creation.default.partitions": "1",
            # Hand batches to Kafka sooner than the 500 ms default.
            "poll.interval.ms": "100",
        }
        if tables:
            p["table.include.list"] = ",".join(re.escape(t) for t in tables)
        p.update({k: str(v) for k, v in (c["extra"] or {}).items()})
        return "".join(f"{k}={_escape_property(v)}\n" for k, v in p.items())

    # ---- lifecycle ----

    def start(self, connector_name, database, topic_prefix, tables=None, schemas_enable=True, extra=None,
              timeout=START_TIMEOUT):
        """Starts the worker with the connector capturing `database` (tables:
        "name" or "schema.name" list, None = every table) and waits until it
        runs (wait_running). Call wait_caught_up() to wait for the snapshot."""
        self._check_install()
        if self.proc is not None and self.proc.poll() is None:
            raise DebeziumError(f"connector {self.name} is already running")
        self.config = {"connector_name": connector_name, "database": database, "topic_prefix": topic_prefix,
                       "tables": list(tables) if tables is not None else None,
                       "schemas_enable": bool(schemas_enable), "extra": dict(extra or {})}
        self.pg.execute(f"CREATE TABLE IF NOT EXISTS public.{MARKER_TABLE} (id bigserial PRIMARY KEY, "
                        f"token text NOT NULL, at timestamptz NOT NULL DEFAULT now())", database=database)
        return self._launch(timeout)

    def _launch(self, timeout):
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "worker.properties").write_text(self._worker_properties())
        (self.workdir / "connector.properties").write_text(self._connector_properties())
        (self.workdir / "log4j2.properties").write_text(LOG4J2.format(log=self.log_file))
        cmd = [self.java, f"-Xmx{self.heap}", "-Xss1m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
               "-cp", str(self.libs / "*"), "org.apache.kafka.connect.cli.ConnectStandalone",
               str(self.workdir / "worker.properties"), str(self.workdir / "connector.properties")]
        with open(self.workdir / "connect.out", "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, preexec_fn=procs.die_with_parent,
                                         start_new_session=True)  # own group: stop() signals it whole
        atexit.register(self.stop)
        try:
            self.wait_running(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def _tail(self, name, lines=40):
        return procs.tail(self.workdir / name, lines)

    def _get(self, path):
        with urllib.request.urlopen(self.rest_url + path, timeout=5) as r:
            return json.loads(r.read())

    def status(self):
        """GET /connectors/<name>/status: {"connector": {"state"}, "tasks": [{"id", "state", "trace"?}]}."""
        return self._get(f"/connectors/{self.name}/status")

    def wait_running(self, timeout=START_TIMEOUT):
        """Polls the REST API until the connector and its task are RUNNING;
        raises DebeziumError when either FAILED or the worker exited."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                rc = None if self.proc is None else self.proc.returncode
                raise DebeziumError(f"Kafka Connect exited ({rc}) before connector {self.name} ran; "
                                    f"connect.out:\n{self._tail('connect.out')}\nconnect.log:\n"
                                    f"{self._tail('connect.log')}")
            try:
                st = self.status()
                last = st
                states = [st["connector"]["state"]] + [t["state"] for t in st.get("tasks", [])]
                if "FAILED" in states:
                    traces = [t.get("trace", "") for t in st.get("tasks", [])] + [st["connector"].get("trace", "")]
                    raise DebeziumError(f"connector {self.name} FAILED: {next((t for t in traces if t), '')}")
                if st.get("tasks") and all(s == "RUNNING" for s in states):
                    return st
            except (urllib.error.URLError, ConnectionError, OSError, ValueError) as e:
                last = e  # REST not up yet, or the connector not registered yet (404)
            time.sleep(0.2)
        raise DebeziumError(f"connector {self.name} not RUNNING within {timeout}s (last: {last}); "
                            f"connect.log:\n{self._tail('connect.log')}")

    def stop(self, timeout=30.0):
        """Graceful stop (SIGTERM: the task stops and the offsets are
        committed), SIGKILL after `timeout`. Idempotent."""
        self._close_clients()
        p, self.proc = self.proc, None
        procs.stop(p, signal.SIGTERM, timeout)
        atexit.unregister(self.stop)

    def kill(self):
        """SIGKILL the worker (a crash): offsets not flushed yet are lost, so
        restart() re-sends the events after the last flushed position."""
        self._close_clients()
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        atexit.unregister(self.stop)

    def restart(self, timeout=START_TIMEOUT):
        """Stops the worker if it runs and starts it again with the same
        config and offsets file; waits until it runs."""
        if self.config is None:
            raise DebeziumError("restart() before start()")
        self.stop()
        return self._launch(timeout)

    def drop_slot(self):
        """Drops the replication slot and the publication (after stop(): a
        slot that is left behind keeps its WAL forever)."""
        if self.config is None:
            return
        self.pg.drop_replication_slot(self.slot_name)
        self.pg.execute(f'DROP PUBLICATION IF EXISTS "{self.publication_name}"', database=self.database)

    # ---- catching up ----

    def _close_clients(self):
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception:
                pass
        self._consumer = None
        self._admin = None

    def _marker_consumer(self, deadline):
        """A group-less consumer assigned to the marker topic from its start,
        once the topic exists (Kafka Connect creates it with the first event)."""
        from confluent_kafka import Consumer, TopicPartition
        from confluent_kafka.admin import AdminClient

        if self._consumer is not None:
            return self._consumer
        if self._admin is None:
            self._admin = AdminClient({"bootstrap.servers": self.kafka_bootstrap, "logger": _NullLogger()})
        while True:
            t = self._admin.list_topics(topic=self.marker_topic, timeout=10).topics.get(self.marker_topic)
            if t is not None and t.error is None and t.partitions:
                break
            if time.monotonic() > deadline:
                return None
            self._check_alive()
            time.sleep(0.1)
        c = Consumer({"bootstrap.servers": self.kafka_bootstrap, "group.id": "weir-test-marker",
                      "enable.auto.commit": False, "logger": _NullLogger()})
        c.assign([TopicPartition(self.marker_topic, p, 0) for p in sorted(t.partitions)])
        self._consumer = c
        return c

    def _check_alive(self):
        if self.proc is None or self.proc.poll() is not None:
            raise DebeziumError(f"Kafka Connect is not running; connect.log:\n{self._tail('connect.log')}")

    def _insert_marker(self):
        token = uuid.uuid4().hex
        self.pg.execute(f"INSERT INTO public.{MARKER_TABLE} (token) VALUES (%s)", (token,), database=self.database)
        return token

    def flushed_lsn(self):
        """The lsn of the offset Connect last flushed to offsets.dat (0: none
        yet). The file is a serialized Java map holding the offset as JSON."""
        try:
            data = self.offsets_file.read_bytes()
        except FileNotFoundError:
            return 0
        return max((int(x) for x in re.findall(rb'"lsn":(\d+)', data)), default=0)

    def wait_caught_up(self, timeout=60.0):
        """Waits until the snapshot is done and every change committed before
        this call is in Kafka (see the module docstring: a marker row)."""
        deadline = time.monotonic() + timeout
        token = self._insert_marker()
        while True:
            c = self._marker_consumer(deadline)
            if c is None:
                break
            for m in c.consume(num_messages=1000, timeout=0.2):
                if m.error() or m.value() is None:
                    continue
                ev = envelope(m.value())
                after = (ev or {}).get("after") or {}
                if after.get("token") == token:
                    if ev.get("op") == "r":  # the snapshot caught it: not proof of streaming
                        token = self._insert_marker()
                        continue
                    lsn = int((ev.get("source") or {}).get("lsn") or 0)
                    while self.flushed_lsn() < lsn:  # every record before the marker is written
                        if time.monotonic() > deadline:
                            raise DebeziumError(f"connector {self.name}: no offset at or past lsn {lsn} flushed "
                                                f"within {timeout}s (flushed: {self.flushed_lsn()})")
                        self._check_alive()
                        time.sleep(0.2)
                    return
            if time.monotonic() > deadline:
                break
            self._check_alive()
        st = None
        try:
            st = self.status()
        except Exception as e:
            st = e
        raise DebeziumError(f"connector {self.name}: marker {token} not on {self.marker_topic} within {timeout}s "
                            f"(status: {st}); connect.log:\n{self._tail('connect.log')}")


def _escape_property(v):
    """A value for a .properties file (backslashes are escapes there)."""
    return str(v).replace("\\", "\\\\").replace("\n", "\\n")


class _NullLogger:
    """confluent-kafka logger that drops librdkafka's log lines."""

    def log(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return lambda *a, **k: None
