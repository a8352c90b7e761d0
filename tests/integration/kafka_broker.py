"""A real Apache Kafka broker for weir's integration tests and benchmarks.

KafkaBroker starts one KRaft node (process.roles=broker,controller) from the
jars that scripts/setup.sh put in .deps/kafka/libs, bound to 127.0.0.1 on two
free ports, with its log dirs, config and logs in a work directory:

    server.properties   the broker's config (see _properties)
    log4j2.properties   quiet logging: everything goes to kafka.log
    kafka.log           the broker's log (read this when something hangs)
    server.out          the JVM's stdout/stderr (crashes, GC warnings)
    data/               the log dirs (one per broker, KRaft metadata too)

Nothing is downloaded here: missing jars raise KafkaUnavailable with the fix
(run scripts/setup.sh), and the conftest fixture turns that into a test
failure, never a skip. The broker is stopped by stop(), at interpreter exit
(atexit) and, on Linux, when the process that started it dies
(PR_SET_PDEATHSIG), so a killed pytest leaves no broker behind.

Helpers use confluent-kafka (admin client, producer, a group-less assigned
consumer) for small things and bench/kafka_tool for bulk data:

    create_topic(name, partitions, config=None)   waits until every partition has a leader
    delete_topic(name)                            waits until it is gone
    produce(topic, [(partition, key, value, headers), ...])
    produce_json_bulk(topic, count, partitions, seed, start_id=0, rate=None) -> summary dict
    produce_json_bulk_async(...)                  the same, returns the running kafka_tool (Popen)
    consume_values(topic)                         every value (bytes), partition by partition
    unique_topic(prefix)                          a fresh topic name (not created)
    schema_ddl / schema_fields                    kafka_tool's record schema
    expected_records(count, seed, start_id)       kafka_tool's records as dicts (no Kafka)
    consume_summary(topic, count_only=False)      kafka_tool consume's JSON line
    read(topic)                                   every record, as KafkaRecord tuples
    end_offsets(topic) / start_offsets(topic)     {partition: offset}
    delete_records(topic, {partition: offset})    advances the log start offset (as retention does)
    bootstrap                                     "127.0.0.1:PORT"

Run by hand (prints the bootstrap address, stops on Ctrl-C):

    .venv/bin/python tests/integration/kafka_broker.py [--dir DIR] [--port PORT]
"""
import atexit
import base64
import collections
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import procs

ROOT = pathlib.Path(__file__).resolve().parents[2]
KAFKA_DIR = pathlib.Path(os.environ.get("WEIR_KAFKA_DIR", ROOT / ".deps" / "kafka"))
START_TIMEOUT = 60.0  # seconds; a healthy start takes a few

KafkaRecord = collections.namedtuple("KafkaRecord", "partition offset key value headers timestamp")


class KafkaUnavailable(RuntimeError):
    """The broker cannot be started here (jars, java or the tool missing)."""


class KafkaError(RuntimeError):
    """A broker operation failed."""


def _ports_of(properties):
    """{listener name: port} from an existing server.properties, else {}."""
    try:
        lines = pathlib.Path(properties).read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        if line.startswith("listeners="):
            out = {}
            for item in line.split("=", 1)[1].split(","):
                name, _, addr = item.partition("://")
                if addr.rpartition(":")[2].isdigit():
                    out[name] = int(addr.rpartition(":")[2])
            return out
    return {}


def _cluster_id():
    # Kafka's Uuid text form: 16 random bytes, URL-safe base64 without
    # padding. One that starts with '-' would read as an option to
    # StorageTool's argument parser: draw again.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


LOG4J2 = """\
# written by tests/integration/kafka_broker.py: everything to kafka.log, INFO
# for the broker itself, WARN for the chatty parts.
status = error
name = weir-test-broker
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.org.name = org.apache.kafka
logger.org.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.common.name = org.apache.kafka.common.config
logger.common.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.cleaner.name = kafka.log.LogCleaner
logger.cleaner.level = WARN
"""


class KafkaBroker:
    def __init__(self, workdir=None, port=None, controller_port=None, java="java", heap="768m",
                 kafka_tool=None, extra_properties=None):
        self.libs = KAFKA_DIR / "libs"
        self.workdir = pathlib.Path(workdir) if workdir else pathlib.Path(tempfile.mkdtemp(prefix="weir-kafka-"))
        self._own_workdir = workdir is None
        # A work directory that held a broker before keeps its ports: the
        # KRaft log remembers the controller's endpoint.
        old = _ports_of(self.workdir / "server.properties")
        self.port = port or old.get("PLAINTEXT") or procs.free_port()
        self.controller_port = controller_port or old.get("CONTROLLER") or procs.free_port()
        while self.controller_port == self.port:
            self.controller_port = procs.free_port()
        self.java = java
        self.heap = heap
        self.kafka_tool = pathlib.Path(kafka_tool) if kafka_tool else None
        self.extra_properties = dict(extra_properties or {})
        self.proc = None
        self._admin = None
        self._producer = None

    # ---- lifecycle ----

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self):
        return self.workdir / "kafka.log"

    def _check_install(self):
        jars = sorted(self.libs.glob("kafka_2.13-*.jar")) if self.libs.is_dir() else []
        if not jars:
            raise KafkaUnavailable(
                f"Kafka broker jars not found in {self.libs}: run scripts/setup.sh (installs "
                f"org.apache.kafka:kafka_2.13 from Maven Central into .deps/kafka/libs)")
        if shutil.which(self.java) is None:
            raise KafkaUnavailable(f"`{self.java}` not found: run scripts/setup.sh (installs a JDK 17)")
        try:
            import confluent_kafka  # noqa: F401
        except ImportError as e:
            raise KafkaUnavailable(f"python package confluent-kafka missing ({e}): run scripts/setup.sh")

    def _properties(self):
        p = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "auto.create.topics.enable": "false",
            "delete.topic.enable": "true",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.check.interval.ms": "1000",
            "log.segment.delete.delay.ms": "1000",
            "log.initial.task.delay.ms": "0",
            # After a kill, the restarted broker can register only once the old
            # registration's session expired (default 9 s).
            "broker.session.timeout.ms": "2000",
            "broker.heartbeat.interval.ms": "500",
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
        }
        p.update({k: str(v) for k, v in self.extra_properties.items()})
        return "".join(f"{k}={v}\n" for k, v in p.items())

    def _java(self, main, *args, log_name):
        cmd = [self.java, f"-Xmx{self.heap}", "-Xss1m", "-XX:+UseG1GC", "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
               f"-Dkafka.logs.dir={self.workdir}",
               "-cp", str(self.libs / "*"), main, *args]
        out = open(self.workdir / log_name, "ab")
        try:
            return subprocess.Popen(cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, preexec_fn=procs.die_with_parent,
                                    start_new_session=True)  # own group: stop() signals it whole
        finally:
            out.close()

    def start(self, timeout=START_TIMEOUT):
        self._check_install()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "server.properties").write_text(self._properties())
        (self.workdir / "log4j2.properties").write_text(LOG4J2.format(log=self.log_file))
        if not (self.workdir / "data" / "meta.properties").exists():
            fmt = self._java("kafka.tools.StorageTool", "format", "--standalone", "--ignore-formatted",
                             "--cluster-id", _cluster_id(), "--config", str(self.workdir / "server.properties"),
                             log_name="format.out")
            try:
                rc = fmt.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(fmt.pid, signal.SIGKILL)
                fmt.wait()
                raise KafkaError(f"kafka StorageTool format did not finish in {timeout}s: "
                                 f"{self._tail('format.out')}")
            if rc != 0:
                raise KafkaError(f"kafka StorageTool format failed (exit {rc}): {self._tail('format.out')}")
        self.proc = self._java("kafka.Kafka", str(self.workdir / "server.properties"), log_name="server.out")
        atexit.register(self.stop)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _tail(self, name, lines=30):
        return procs.tail(self.workdir / name, lines)

    def _wait_ready(self, timeout):
        from confluent_kafka.admin import AdminClient

        deadline = time.monotonic() + timeout
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": _NullLogger()})
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise KafkaError(f"Kafka broker exited with {self.proc.returncode} during start; "
                                 f"server.out:\n{self._tail('server.out')}\nkafka.log:\n{self._tail('kafka.log')}")
            try:
                md = admin.list_topics(timeout=1.0)
                if md.brokers:
                    self._admin = admin
                    return
            except Exception as e:  # KafkaException while the listener is not up yet
                last = e
            time.sleep(0.2)
        raise KafkaError(f"Kafka broker at {self.bootstrap} did not answer metadata within {timeout}s "
                         f"(last error: {last}); kafka.log:\n{self._tail('kafka.log')}")

    def stop(self, timeout=20.0):
        """SIGTERM (controlled shutdown), SIGKILL after `timeout`. Idempotent."""
        if self._producer is not None:
            self._producer.flush(5)
            self._producer = None
        self._admin = None
        p, self.proc = self.proc, None
        procs.stop(p, signal.SIGTERM, timeout)
        atexit.unregister(self.stop)

    def kill(self):
        """SIGKILL the broker (for failure tests); start() again to restart it on the same data."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # ---- admin helpers ----

    @property
    def admin(self):
        if self._admin is None:
            from confluent_kafka.admin import AdminClient
            self._admin = AdminClient({"bootstrap.servers": self.bootstrap, "logger": _NullLogger()})
        return self._admin

    def _result(self, futures, what, timeout=30):
        for key, f in futures.items():
            try:
                f.result(timeout=timeout)
            except Exception as e:
                raise KafkaError(f"{what} {key}: {e}") from e

    def partitions(self, topic):
        md = self.admin.list_topics(topic=topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            raise KafkaError(f"topic {topic}: {t.error if t else 'not found'}")
        return sorted(t.partitions)

    def create_topic(self, name, partitions=1, config=None, timeout=30):
        from confluent_kafka.admin import NewTopic

        nt = NewTopic(name, num_partitions=partitions, replication_factor=1,
                      config={k: str(v) for k, v in (config or {}).items()})
        self._result(self.admin.create_topics([nt], operation_timeout=timeout), "create topic")
        # The controller has it; wait until the broker serves every partition.
        deadline = time.monotonic() + timeout
        while True:
            md = self.admin.list_topics(topic=name, timeout=10)
            t = md.topics.get(name)
            if (t is not None and t.error is None and len(t.partitions) == partitions
                    and all(p.leader >= 0 and p.error is None for p in t.partitions.values())):
                # ...and until each partition's leader serves it (answers offsets).
                self._offsets(name, _offset_spec("latest"), timeout=max(1.0, deadline - time.monotonic()))
                return name
            if time.monotonic() > deadline:
                raise KafkaError(f"topic {name}: partitions without a leader after {timeout}s")
            time.sleep(0.1)

    def delete_topic(self, name, timeout=30):
        self._result(self.admin.delete_topics([name], operation_timeout=timeout), "delete topic")
        deadline = time.monotonic() + timeout
        while name in self.admin.list_topics(timeout=10).topics:
            if time.monotonic() > deadline:
                raise KafkaError(f"topic {name} still listed {timeout}s after its deletion")
            time.sleep(0.1)

    def topics(self):
        return sorted(t for t in self.admin.list_topics(timeout=10).topics if not t.startswith("__"))

    def _offsets(self, topic, spec, timeout=30):
        from confluent_kafka import KafkaException, TopicPartition

        deadline = time.monotonic() + timeout
        out = {}
        todo = self.partitions(topic)
        while todo:
            futures = self.admin.list_offsets({TopicPartition(topic, p): spec for p in todo}, request_timeout=30)
            retry = []
            for tp, f in futures.items():
                try:
                    out[tp.partition] = f.result(timeout=30).offset
                except KafkaException as e:
                    # A partition whose leadership is still settling (just
                    # created, broker restarted) answers NOT_LEADER for a moment.
                    if _settling(e.args[0]) and time.monotonic() < deadline:
                        retry.append(tp.partition)
                        continue
                    raise KafkaError(f"list offsets {topic} [{tp.partition}]: {e}") from e
            todo = retry
            if todo:
                time.sleep(0.1)
        return dict(sorted(out.items()))

    def end_offsets(self, topic):
        """{partition: high watermark} (the offset the next record gets)."""
        return self._offsets(topic, _offset_spec("latest"))

    def start_offsets(self, topic):
        """{partition: log start offset} (moves with retention and delete_records)."""
        return self._offsets(topic, _offset_spec("earliest"))

    def delete_records(self, topic, offsets):
        """Advance the log start offset of each partition to offsets[p] (records
        below it are gone for consumers), exactly what retention does."""
        from confluent_kafka import TopicPartition

        tps = [TopicPartition(topic, int(p), int(o)) for p, o in sorted(offsets.items())]
        futures = self.admin.delete_records(tps, request_timeout=30, operation_timeout=30)
        for tp, f in futures.items():
            try:
                res = f.result(timeout=30)
            except Exception as e:
                raise KafkaError(f"delete records {topic} [{tp.partition}] below {tp.offset}: {e}") from e
            low = getattr(res, "low_watermark", None)
            if low is not None and low < tp.offset:
                raise KafkaError(f"delete records {topic} [{tp.partition}]: low watermark {low} < {tp.offset}")

    # ---- data helpers ----

    def produce(self, topic, records, timeout=30):
        """records: iterable of (partition, key, value, headers); partition None
        lets the partitioner choose; key/value bytes, str or None; headers a
        list of (name, bytes) or a dict, or None. Waits for every ack."""
        from confluent_kafka import Producer

        if self._producer is None:
            self._producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                                       "enable.idempotence": True, "linger.ms": 5,
                                       "logger": _NullLogger()})
        errors = []

        def on_delivery(err, msg):
            if err is not None:
                errors.append(f"[{msg.partition()}]: {err}")

        n = 0
        for rec in records:
            partition, key, value, headers = (tuple(rec) + (None,) * 4)[:4]
            kw = {"key": key, "value": value, "on_delivery": on_delivery}
            if partition is not None:
                kw["partition"] = int(partition)
            if headers:
                kw["headers"] = list(headers.items()) if isinstance(headers, dict) else list(headers)
            while True:
                try:
                    self._producer.produce(topic, **kw)
                    break
                except BufferError:
                    self._producer.poll(0.05)
            n += 1
        left = self._producer.flush(timeout)
        if left:
            raise KafkaError(f"produce to {topic}: {left} records not acknowledged after {timeout}s")
        if errors:
            raise KafkaError(f"produce to {topic}: {len(errors)} failed, first {errors[0]}")
        return n

    def unique_topic(self, prefix="t"):
        """A topic name not used before by this broker object (not created)."""
        self._topic_seq = getattr(self, "_topic_seq", 0) + 1
        return f"{prefix}-{os.getpid()}-{self._topic_seq}-{uuid.uuid4().hex[:8]}"

    def _records(self, topic, timeout, what):
        """Yields every record of `topic` from the log start to the current
        high watermark (partition by partition in offset order; partitions
        interleave); fast enough for millions of records. `what` names the
        caller in errors."""
        from confluent_kafka import Consumer, KafkaError as CKError, TopicPartition

        low, high = self.start_offsets(topic), self.end_offsets(topic)
        todo = {p for p in high if high[p] > low[p]}
        if not todo:
            return
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "weir-test-read",
                      "enable.auto.commit": False, "enable.partition.eof": True,
                      "logger": _NullLogger()})
        try:
            c.assign([TopicPartition(topic, p, low[p]) for p in sorted(todo)])
            deadline = time.monotonic() + timeout
            while todo:
                if time.monotonic() > deadline:
                    raise KafkaError(f"{what} {topic}: partitions {sorted(todo)} not read to their end in {timeout}s")
                for m in c.consume(num_messages=10000, timeout=0.5):
                    p = m.partition()
                    if m.error():
                        if m.error().code() == CKError._PARTITION_EOF:
                            if m.offset() >= high[p]:
                                todo.discard(p)
                            continue
                        raise KafkaError(f"{what} {topic} [{p}]: {m.error()}")
                    if p in todo and m.offset() < high[p]:
                        yield m
                    if m.offset() >= high[p] - 1:
                        todo.discard(p)
        finally:
            c.close()

    def consume_values(self, topic, timeout=120):
        """Values of every record from the log start to the current high
        watermark (partition by partition in offset order); fast enough for
        millions of records."""
        per = {}
        for m in self._records(topic, timeout, "consume"):
            per.setdefault(m.partition(), []).append(m.value())
        return [v for p in sorted(per) for v in per[p]]

    def read(self, topic, timeout=30):
        """Every record of `topic` from the log start to the current high
        watermark, ordered by (partition, offset)."""
        out = [KafkaRecord(m.partition(), m.offset(), m.key(), m.value(), m.headers() or [], m.timestamp()[1])
               for m in self._records(topic, timeout, "read")]
        out.sort(key=lambda r: (r.partition, r.offset))
        return out

    # ---- bulk data through bench/kafka_tool ----

    def _tool(self):
        if self.kafka_tool is None or not os.access(self.kafka_tool, os.X_OK):
            raise KafkaUnavailable(f"kafka_tool not found at {self.kafka_tool}: build it "
                                   f"(`make build`, target kafka_tool) or set WEIR_KAFKA_TOOL")
        return str(self.kafka_tool)

    def _run_tool(self, args, timeout):
        cmd = [self._tool(), *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise KafkaError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        if not lines:
            raise KafkaError(f"{' '.join(cmd)} printed no summary: {r.stdout!r} {r.stderr!r}")
        return json.loads(lines[-1])

    def produce_json_bulk(self, topic, count, partitions=None, seed=0, start_id=0, rate=None, timeout=600):
        """`count` JSON records (kafka_tool's layout, ids start_id..) spread as
        id % partitions; returns kafka_tool's summary dict."""
        args = ["produce", "--brokers", self.bootstrap, "--topic", topic, "--count", str(count),
                "--seed", str(seed), "--start-id", str(start_id)]
        if partitions:
            args += ["--partitions", str(partitions)]
        if rate:
            args += ["--rate", str(rate)]
        return self._run_tool(args, timeout)

    def consume_summary(self, topic, count_only=False, timeout=600):
        args = ["consume", "--brokers", self.bootstrap, "--topic", topic]
        if count_only:
            args.append("--count-only")
        return self._run_tool(args, timeout)

    def produce_json_bulk_async(self, topic, count, partitions=None, seed=0, start_id=0, rate=None):
        """Like produce_json_bulk but returns at once: the kafka_tool
        subprocess.Popen (wait() it; returncode 0 = all acknowledged; its
        stdout/stderr are pipes holding the summary / the reason)."""
        args = [self._tool(), "produce", "--brokers", self.bootstrap, "--topic", topic, "--count", str(count),
                "--seed", str(seed), "--start-id", str(start_id)]
        if partitions:
            args += ["--partitions", str(partitions)]
        if rate:
            args += ["--rate", str(rate)]
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def record_schema(self):
        """The DDL of kafka_tool's JSON records (`kafka_tool schema`)."""
        if getattr(self, "_schema_ddl", None) is None:
            self._schema_ddl = subprocess.run([self._tool(), "schema"], capture_output=True, text=True,
                                              check=True).stdout.strip()
        return self._schema_ddl

    @property
    def schema_ddl(self):
        return self.record_schema()

    @property
    def schema_fields(self):
        """Field names of kafka_tool's records, in order."""
        return [f.strip().split()[0] for f in self.record_schema().split(",")]

    def expected_records(self, count, seed=0, start_id=0):
        """kafka_tool's records as dicts (produced_at is the time of this call, not of the produce)."""
        r = subprocess.run([self._tool(), "generate", "--count", str(count), "--seed", str(seed),
                            "--start-id", str(start_id)], capture_output=True, text=True, check=True)
        return [json.loads(ln) for ln in r.stdout.splitlines()]


def _settling(kerr):
    """Errors a partition gives while its leadership settles."""
    from confluent_kafka import KafkaError as CKError
    codes = {getattr(CKError, n, None) for n in (
        "NOT_LEADER_FOR_PARTITION", "LEADER_NOT_AVAILABLE", "UNKNOWN_TOPIC_OR_PART", "UNKNOWN_LEADER_EPOCH",
        "FENCED_LEADER_EPOCH", "REPLICA_NOT_AVAILABLE", "OFFSET_NOT_AVAILABLE", "_TIMED_OUT", "_TRANSPORT")}
    return kerr.retriable() or kerr.code() in codes


def _offset_spec(which):
    from confluent_kafka.admin import OffsetSpec
    return OffsetSpec.latest() if which == "latest" else OffsetSpec.earliest()


class _NullLogger:
    """confluent-kafka logger that drops librdkafka's log lines (connection
    refused while the broker starts is expected, not news)."""

    def log(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        return lambda *a, **k: None


def default_kafka_tool():
    """bench/kafka_tool next to the weir binary's build dir ($WEIR_KAFKA_TOOL wins)."""
    if os.environ.get("WEIR_KAFKA_TOOL"):
        return pathlib.Path(os.environ["WEIR_KAFKA_TOOL"])
    weir = pathlib.Path(os.environ.get("WEIR_BIN", ROOT / "build" / "weir"))
    return weir.parent / "bench" / "kafka_tool"


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description="Run the test Kafka broker in the foreground.")
    ap.add_argument("--dir", help="work directory (kept; default: a temp dir, removed at exit)")
    ap.add_argument("--port", type=int, help="PLAINTEXT port (default: a free one)")
    ap.add_argument("--topic", action="append", default=[], metavar="NAME[:PARTITIONS]",
                    help="create a topic after start (repeatable)")
    args = ap.parse_args(argv)
    b = KafkaBroker(workdir=args.dir, port=args.port, kafka_tool=default_kafka_tool())
    t0 = time.monotonic()
    b.start()
    for t in args.topic:
        name, _, n = t.partition(":")
        b.create_topic(name, int(n or 1))
    print(f"kafka broker up in {time.monotonic() - t0:.1f}s: bootstrap {b.bootstrap}, "
          f"work dir {b.workdir} (log: {b.log_file}); Ctrl-C stops it", flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    try:
        while not stop and b.proc is not None and b.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if args.dir:
            b.stop()
        else:
            b.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
