"""pytest fixtures for weir's integration tests.

- weir_bin: the built `weir` binary (build/weir at the project root, or
  $WEIR_BIN); missing binary = test failure, not a skip.
- run_weir(*args, timeout=, input=, env=): runs it, returns a
  subprocess.CompletedProcess with text stdout/stderr.
- read_deltalake(path, version=None), read_duckdb(path),
  read_spark(path, version=None): the three independent Delta readers, each
  returning a pyarrow Table. Spark runs as one session-scoped local[1]
  SparkSession (fixture `spark`) with the Delta jars from .deps/jars.
- normalize(table_or_rows, columns=None): sorted list of tuples for
  whole-row-set comparison (see readers.normalize).

A reader that cannot start fails the test loudly (pytest.fail); nothing here
ever skips. Readers are configured in readers.py, shared with
scripts/verify_readers.py.
"""
import os
import pathlib

import pytest

import readers

ROOT = readers.ROOT


def _fail_unavailable(e):
    pytest.fail(f"reader unavailable: {e}", pytrace=False)


@pytest.fixture(scope="session")
def weir_bin():
    p = pathlib.Path(os.environ.get("WEIR_BIN", ROOT / "build" / "weir"))
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(f"weir binary not found at {p}: build it with `make build` (or set WEIR_BIN)", pytrace=False)
    return p


@pytest.fixture(scope="session")
def run_weir(weir_bin):
    def run(*args, timeout=600, input=None, env=None):
        return readers.run_weir(weir_bin, *args, timeout=timeout, input=input, env=env)
    return run


@pytest.fixture(scope="session")
def read_deltalake():
    try:
        import deltalake  # noqa: F401
    except ImportError as e:
        _fail_unavailable(f"python package deltalake is not installed ({e}); run scripts/setup.sh")
    return readers.read_deltalake


@pytest.fixture(scope="session")
def read_duckdb():
    try:
        readers.duckdb_connect().close()  # prove the extension loads, once
    except (readers.ReaderUnavailable, ImportError) as e:
        _fail_unavailable(e)
    return readers.read_duckdb


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    try:
        s = readers.spark_session(tmp_path_factory.mktemp("spark"))
    except (readers.ReaderUnavailable, ImportError) as e:
        _fail_unavailable(e)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def read_spark(spark):
    def read(path, version=None):
        return readers.read_spark(spark, path, version)
    return read


@pytest.fixture(scope="session")
def normalize():
    return readers.normalize


# ---- Apache Kafka (tests/integration/kafka_broker.py) ----
# `kafka`: one KRaft broker for the session on 127.0.0.1 (jars from
# .deps/kafka/libs, installed by scripts/setup.sh); missing jars, java or
# confluent-kafka fail the test. `kafka_tool`: path of bench/kafka_tool next to
# the weir build ($WEIR_KAFKA_TOOL wins). `kafka_topic(partitions=1,
# config=None)`: creates a topic named after the test, deleted afterwards.

@pytest.fixture(scope="session")
def kafka_tool():
    import kafka_broker

    p = kafka_broker.default_kafka_tool()
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(f"kafka_tool not found at {p}: build it with `make build` (or set WEIR_KAFKA_TOOL)",
                    pytrace=False)
    return p


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    import kafka_broker

    broker = kafka_broker.KafkaBroker(workdir=tmp_path_factory.mktemp("kafka"),
                                      kafka_tool=kafka_broker.default_kafka_tool())
    try:
        broker.start()
    except (kafka_broker.KafkaUnavailable, kafka_broker.KafkaError) as e:
        pytest.fail(f"Kafka broker unavailable: {e}", pytrace=False)
    yield broker
    broker.stop()


@pytest.fixture
def kafka_topic(kafka, request):
    import re

    base = re.sub(r"[^A-Za-z0-9._-]", "_", request.node.name)[:180]
    made = []

    def create(partitions=1, config=None, suffix=None):
        name = f"{base}-{suffix if suffix is not None else len(made)}"
        kafka.create_topic(name, partitions, config)
        made.append(name)
        return name

    yield create
    for name in made:
        try:
            kafka.delete_topic(name)
        except Exception:  # a test that deleted it itself, or a broker it stopped
            pass


# ---- PostgreSQL and Debezium (postgres_server.py, debezium_connect.py) ----
# `postgres`: one PostgreSQL server for the session on 127.0.0.1 (wal_level
# logical; the system's PostgreSQL, run as an unprivileged user), superuser
# `postgres`; tests make their own databases (postgres.create_database(
# postgres.unique_database("x"))). `debezium(database, tables=None,
# schemas_enable=True, extra=None, topic_prefix=None, connector_name=None,
# **DebeziumConnect options such as offset_flush_interval_ms)`: starts Kafka
# Connect standalone with Debezium's PostgreSQL connector on the session's
# `kafka` broker (work directory under tmp_path) and returns the running
# DebeziumConnect (call wait_caught_up() for the snapshot); at teardown each
# one is stopped, its replication slot and publication dropped and its topics
# deleted. Missing jars, binaries or psycopg, or a connector that does not
# reach RUNNING, fail the test.

@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    import postgres_server

    pg = postgres_server.PostgresServer(workdir=tmp_path_factory.mktemp("postgres"))
    try:
        pg.start()
    except (postgres_server.PostgresUnavailable, postgres_server.PostgresError) as e:
        pg.cleanup()
        pytest.fail(f"PostgreSQL unavailable: {e}", pytrace=False)
    yield pg
    pg.cleanup()


@pytest.fixture
def debezium(kafka, postgres, tmp_path, request):
    import uuid

    import debezium_connect

    base = debezium_connect.pg_name(request.node.name)[:40]
    made = []

    def start(database, tables=None, schemas_enable=True, extra=None, topic_prefix=None, connector_name=None,
              **kwargs):
        # Slots are cluster-wide: a unique name per connector.
        name = connector_name or f"{base}_{len(made)}_{uuid.uuid4().hex[:6]}"
        d = debezium_connect.DebeziumConnect(tmp_path / f"connect-{len(made)}", kafka, postgres, **kwargs)
        made.append(d)
        try:
            d.start(name, database, topic_prefix or name, tables=tables, schemas_enable=schemas_enable, extra=extra)
        except (debezium_connect.DebeziumUnavailable, debezium_connect.DebeziumError) as e:
            pytest.fail(f"Debezium connector did not start: {e}", pytrace=False)
        return d

    yield start
    for d in made:
        d.stop()
        if d.config is None:
            continue
        try:
            d.drop_slot()
        except Exception:  # a test that dropped its database or stopped the server
            pass
        for t in kafka.topics():
            if t.startswith(d.topic_prefix + "."):
                try:
                    kafka.delete_topic(t)
                except Exception:
                    pass
