"""The CDC test harness itself: a real PostgreSQL (postgres_server.py,
fixture `postgres`) -> Debezium's PostgreSQL connector in Kafka Connect
standalone mode (debezium_connect.py, fixture `debezium`) -> the real Kafka
broker (fixture `kafka`). If this fails, every CDC test is suspect.

One table with a column of each common PostgreSQL type goes through a
snapshot, inserts, updates, a delete with its tombstone, a re-insert, an
ALTER TABLE ADD COLUMN and a kill/restart of the connector, with JsonConverter
schemas enabled and disabled. The test pins what weir's CDC decoding relies
on: the ops, the envelope, each type's Connect schema (logical type name)
and JSON form with Debezium's defaults, and the fields of `source`.

With WEIR_CDC_SAMPLES_DIR set, the captured events (one per op, one per
column type, key and value, both converter settings) are written there as
JSON files.

Run: .venv/bin/python -m pytest -q tests/integration/test_cdc_harness.py
"""
import base64
import datetime
import decimal
import json
import os
import pathlib
import uuid

import pytest

from debezium_connect import envelope

TABLE = "all_types"

# The test table's columns and their PostgreSQL types, in order.
COLUMN_TYPES = [
    ("id", "int4"),
    ("c_int2", "int2"),
    ("c_int4", "int4"),
    ("c_int8", "int8"),
    ("c_num122", "numeric(12,2)"),
    ("c_num", "numeric"),
    ("c_real", "real"),
    ("c_double", "double precision"),
    ("c_bool", "boolean"),
    ("c_text", "text"),
    ("c_varchar", "varchar(20)"),
    ("c_date", "date"),
    ("c_time", "time"),
    ("c_timestamp", "timestamp"),
    ("c_time3", "time(3)"),
    ("c_timestamp3", "timestamp(3)"),
    ("c_timestamptz", "timestamptz"),
    ("c_json", "json"),
    ("c_jsonb", "jsonb"),
    ("c_uuid", "uuid"),
    ("c_bytea", "bytea"),
    ("c_enum", "mood"),
]
COLUMNS = [c for c, _ in COLUMN_TYPES]
PG_TYPES = dict(COLUMN_TYPES, c_enum="mood (enum)", note="text (added by ALTER TABLE)")
DDL = (f"CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');\n"
       f"CREATE TABLE {TABLE} (" + ", ".join(f"{c} {t}" for c, t in COLUMN_TYPES) + ", PRIMARY KEY (id))")
INSERT = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
ROWS = [
    (1, 32767, 2147483647, 9223372036854775807, decimal.Decimal("1234567890.12"),
     decimal.Decimal("3.14159265358979323846"), 1.5, 2.718281828459045, True, "héllo, wörld ☃", "short",
     datetime.date(2024, 2, 29), datetime.time(13, 45, 30, 123456), datetime.datetime(2024, 1, 2, 3, 4, 5, 678901),
     datetime.time(23, 59, 59, 999000), datetime.datetime(2024, 1, 2, 3, 4, 5, 678000),
     datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
     json.dumps({"a": [1, 2], "b": None}), json.dumps({"k": "v", "n": 1.25}),
     uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), b"\x00\xff\x10", "happy"),
    (2, -32768, -2147483648, -9223372036854775808, decimal.Decimal("-0.01"), decimal.Decimal("-1E+30"),
     -0.25, -1e-300, False, "", "x" * 20, datetime.date(1969, 12, 31), datetime.time(0, 0),
     datetime.datetime(1960, 6, 1, 0, 0, 0), datetime.time(0, 0, 0, 1000),
     datetime.datetime(1969, 12, 31, 23, 59, 59, 999000), datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc),
     json.dumps([1, "two"]), json.dumps([]), uuid.UUID("00000000-0000-0000-0000-000000000000"), b"", "sad"),
    (3,) + (None,) * (len(COLUMNS) - 1),
]

# Each column's Connect schema with Debezium's defaults (decimal.handling.mode
# precise, time.precision.mode adaptive, binary.handling.mode bytes):
# (type, logical name or None). "adaptive" follows the column's precision:
# time/timestamp of precision 0-3 count milliseconds, 4-6 (and the default,
# 6) microseconds.
EXPECTED_SCHEMA = {
    "id": ("int32", None),
    "c_int2": ("int16", None),
    "c_int4": ("int32", None),
    "c_int8": ("int64", None),
    "c_num122": ("bytes", "org.apache.kafka.connect.data.Decimal"),
    "c_num": ("struct", "io.debezium.data.VariableScaleDecimal"),
    "c_real": ("float", None),
    "c_double": ("double", None),
    "c_bool": ("boolean", None),
    "c_text": ("string", None),
    "c_varchar": ("string", None),
    "c_date": ("int32", "io.debezium.time.Date"),
    "c_time": ("int64", "io.debezium.time.MicroTime"),
    "c_timestamp": ("int64", "io.debezium.time.MicroTimestamp"),
    "c_time3": ("int32", "io.debezium.time.Time"),
    "c_timestamp3": ("int64", "io.debezium.time.Timestamp"),
    "c_timestamptz": ("string", "io.debezium.time.ZonedTimestamp"),
    "c_json": ("string", "io.debezium.data.Json"),
    "c_jsonb": ("string", "io.debezium.data.Json"),
    "c_uuid": ("string", "io.debezium.data.Uuid"),
    "c_bytea": ("bytes", None),
    "c_enum": ("string", "io.debezium.data.Enum"),
    "note": ("string", None),
}

# `source` of a PostgreSQL change event (schema io.debezium.connector.postgresql.Source):
# field -> (Connect type, optional). `snapshot` is an io.debezium.data.Enum of
# true, first, first_in_data_collection, last_in_data_collection, last, false,
# incremental; `sequence` a JSON array text ["<last commit lsn>", "<lsn>"].
EXPECTED_SOURCE = {
    "version": ("string", False), "connector": ("string", False), "name": ("string", False),
    "ts_ms": ("int64", False), "snapshot": ("string", True), "db": ("string", False),
    "sequence": ("string", True), "ts_us": ("int64", True), "ts_ns": ("int64", True),
    "schema": ("string", False), "table": ("string", False), "txId": ("int64", True),
    "lsn": ("int64", True), "xmin": ("int64", True), "origin": ("string", True), "origin_lsn": ("int64", True),
}

EPOCH = datetime.datetime(1970, 1, 1)


def _unscaled(b64):
    """A Connect Decimal's bytes (base64 in JSON): big-endian two's complement."""
    return int.from_bytes(base64.b64decode(b64), "big", signed=True)


def decode(column, v):
    """The Python value of column `column` from its JSON form in an event
    (Debezium's defaults; see EXPECTED_SCHEMA), comparable with what psycopg
    returns for the row."""
    if v is None:
        return None
    if column == "c_num122":
        return decimal.Decimal(_unscaled(v)).scaleb(-2)
    if column == "c_num":
        return decimal.Decimal(_unscaled(v["value"])).scaleb(-v["scale"])
    if column == "c_date":
        return datetime.date(1970, 1, 1) + datetime.timedelta(days=v)
    if column == "c_time":
        return (datetime.datetime.combine(datetime.date(1970, 1, 1), datetime.time()) +
                datetime.timedelta(microseconds=v)).time()
    if column == "c_timestamp":
        return EPOCH + datetime.timedelta(microseconds=v)
    if column == "c_time3":
        return (datetime.datetime.combine(datetime.date(1970, 1, 1), datetime.time()) +
                datetime.timedelta(milliseconds=v)).time()
    if column == "c_timestamp3":
        return EPOCH + datetime.timedelta(milliseconds=v)
    if column == "c_timestamptz":
        return datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
    if column in ("c_json", "c_jsonb"):
        return json.loads(v)
    if column == "c_uuid":
        return uuid.UUID(v)
    if column == "c_bytea":
        return base64.b64decode(v)
    return v


def db_rows(postgres, db):
    """{id: {column: value}} of the table now, json/jsonb parsed."""
    rows = postgres.query(f"SELECT * FROM {TABLE} ORDER BY id", database=db)
    names = [r[0] for r in postgres.query(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum", (TABLE,), database=db)]
    out = {}
    for r in rows:
        d = dict(zip(names, r))
        for c in ("c_json", "c_jsonb"):
            if isinstance(d.get(c), str):
                d[c] = json.loads(d[c])
        if isinstance(d.get("c_bytea"), memoryview):
            d["c_bytea"] = bytes(d["c_bytea"])
        out[d["id"]] = d
    return out


def decoded_after(ev):
    return {c: decode(c, v) for c, v in ev["after"].items()}


class Event:
    """One record of the table's topic: parsed key and value, the envelope
    (None for a tombstone) and the raw JSON."""

    def __init__(self, rec):
        self.offset = rec.offset
        self.key_json = json.loads(rec.key) if rec.key is not None else None
        self.value_json = json.loads(rec.value) if rec.value is not None else None
        self.key = envelope(self.key_json) if self.key_json is not None else None
        self.ev = envelope(self.value_json) if self.value_json is not None else None

    @property
    def id(self):
        return self.key["id"]

    @property
    def op(self):
        return self.ev["op"] if self.ev is not None else None  # None: tombstone


def read_events(kafka, topic, start=0):
    return [Event(r) for r in kafka.read(topic) if r.offset >= start]


def materialize(events):
    """Applies the events in order: {id: decoded after} of the rows that exist."""
    state = {}
    for e in events:
        if e.op in ("r", "c", "u"):
            state[e.id] = decoded_after(e.ev)
        elif e.op == "d" or e.op is None:
            state.pop(e.id, None)
    return state


def same_rows(state, rows):
    """materialize() output equals db_rows(): the same ids, and each row's
    columns equal (a column missing from an event older than ADD COLUMN
    counts as NULL)."""
    assert sorted(state) == sorted(rows)
    for i, row in rows.items():
        assert {c: state[i].get(c) for c in row} == row, i
    return True


def field_schemas(value_json):
    """{column: Connect schema} of the `after` struct of an event's schema."""
    after = next(f for f in value_json["schema"]["fields"] if f["field"] == "after")
    return {f["field"]: f for f in after["fields"]}


@pytest.mark.parametrize("schemas_enable", [True, False], ids=["schemas", "noschemas"])
def test_cdc_snapshot_changes_schema_change_and_restart(postgres, kafka, debezium, schemas_enable):
    db = postgres.create_database(postgres.unique_database("cdc"))
    postgres.execute(DDL, database=db)
    for row in ROWS:
        postgres.execute(INSERT, row, database=db)
    snapshot_rows = db_rows(postgres, db)

    # ---- snapshot: one "r" per existing row ----
    d = debezium(db, tables=[TABLE], schemas_enable=schemas_enable)
    topic = d.topic(TABLE)
    d.wait_caught_up()
    events = read_events(kafka, topic)
    assert [(e.id, e.op) for e in events] == [(1, "r"), (2, "r"), (3, "r")]
    for e in events:
        assert decoded_after(e.ev) == snapshot_rows[e.id], e.id
        assert e.ev["before"] is None
        assert e.ev["source"]["snapshot"] in ("first", "true", "last", "first_in_data_collection",
                                              "last_in_data_collection")
        # Envelope: {"schema", "payload"} for key and value only with schemas.
        if schemas_enable:
            assert set(e.value_json) == {"schema", "payload"} and set(e.key_json) == {"schema", "payload"}
            assert e.value_json["schema"]["name"] == f"{d.topic_prefix}.public.{TABLE}.Envelope"
            assert e.key_json["schema"]["name"] == f"{d.topic_prefix}.public.{TABLE}.Key"
            assert e.key_json["payload"] == {"id": e.id}
        else:
            assert "schema" not in e.value_json and e.key_json == {"id": e.id}
        assert {"before", "after", "source", "op", "ts_ms"} <= set(e.ev)
        assert EXPECTED_SOURCE.keys() == e.ev["source"].keys()
    assert events[-1].ev["source"]["snapshot"] in ("last", "last_in_data_collection")
    if schemas_enable:
        fields = field_schemas(events[0].value_json)
        got = {c: (f["type"], f.get("name")) for c, f in fields.items()}
        assert got == {c: EXPECTED_SCHEMA[c] for c in COLUMNS}
        assert fields["c_num122"]["parameters"]["scale"] == "2"
        assert fields["c_enum"]["parameters"]["allowed"] == "sad,ok,happy"
        source = next(f for f in events[0].value_json["schema"]["fields"] if f["field"] == "source")
        assert source["name"] == "io.debezium.connector.postgresql.Source"
        assert {f["field"]: (f["type"], f["optional"]) for f in source["fields"]} == EXPECTED_SOURCE

    # ---- streaming: two updates to one key, delete + re-insert, ADD COLUMN ----
    q = lambda sql, *p: postgres.execute(sql, p or None, database=db)  # noqa: E731
    q(f"UPDATE {TABLE} SET c_text = 'first update', c_int4 = 1 WHERE id = 1")
    q(f"UPDATE {TABLE} SET c_text = 'second update', c_num122 = -99.5 WHERE id = 1")
    q(f"DELETE FROM {TABLE} WHERE id = 2")
    reinserted = list(ROWS[1])
    reinserted[COLUMNS.index("c_text")] = "re-inserted"
    q(INSERT, *reinserted)
    q(f"ALTER TABLE {TABLE} ADD COLUMN note text")
    q(f"INSERT INTO {TABLE} (id, c_text, note) VALUES (4, 'with note', 'added')")
    d.wait_caught_up()
    events = read_events(kafka, topic)
    streamed = events[3:]
    assert [(e.id, e.op) for e in streamed] == [(1, "u"), (1, "u"), (2, "d"), (2, None), (2, "c"), (4, "c")]
    u1, u2, dl, tomb, re_ins, with_note = streamed
    assert u1.ev["after"]["c_text"] == "first update" and u1.ev["after"]["c_int4"] == 1
    assert u2.ev["after"]["c_text"] == "second update" and decode("c_num122", u2.ev["after"]["c_num122"]) == \
        decimal.Decimal("-99.50")
    assert u2.ev["source"]["lsn"] > u1.ev["source"]["lsn"]
    assert u1.ev["source"]["snapshot"] == "false"
    # The default replica identity: no old row image in updates, only the
    # key columns in a delete's "before".
    assert u1.ev["before"] is None
    assert dl.ev["after"] is None and dl.ev["before"]["id"] == 2
    assert tomb.value_json is None and tomb.key == {"id": 2}
    assert re_ins.ev["after"]["c_text"] == "re-inserted"
    # The new column appears in events after the ALTER, not before.
    assert "note" not in re_ins.ev["after"] and with_note.ev["after"]["note"] == "added"
    if schemas_enable:
        assert "note" not in field_schemas(re_ins.value_json)
        assert field_schemas(with_note.value_json)["note"]["type"] == "string"
    assert same_rows(materialize(events), db_rows(postgres, db))

    # ---- kill the worker, change more, restart: the changes arrive ----
    before_kill = kafka.end_offsets(topic)[0]
    d.kill()
    q(f"INSERT INTO {TABLE} (id, c_text, note) VALUES (5, 'while down', 'n5')")
    q(f"UPDATE {TABLE} SET note = 'updated while down' WHERE id = 4")
    q(f"DELETE FROM {TABLE} WHERE id = 3")
    d.restart()
    d.wait_caught_up()
    events = read_events(kafka, topic)
    after_kill = [(e.id, e.op) for e in events if e.offset >= before_kill]
    # The changes made while it was down arrive, after a replay of whatever
    # it had sent before the kill but not yet flushed to offsets.dat (at most
    # the streamed events above; often none).
    assert after_kill[-4:] == [(5, "c"), (4, "u"), (3, "d"), (3, None)], after_kill
    streamed_before = {(e.id, e.op) for e in events if 3 <= e.offset < before_kill}
    assert set(after_kill[:-4]) <= streamed_before, after_kill
    assert same_rows(materialize(events), db_rows(postgres, db))

    samples = os.environ.get("WEIR_CDC_SAMPLES_DIR")
    if samples:
        write_samples(pathlib.Path(samples), events, schemas_enable)


def write_samples(out, events, schemas_enable):
    """One file per op and per column type: the raw key and value JSON."""
    out.mkdir(parents=True, exist_ok=True)
    mode = "schemas" if schemas_enable else "noschemas"

    def dump(name, obj):
        (out / f"{name}.{mode}.json").write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")

    seen = set()
    for e in events:
        kind = {"r": "op-r-snapshot", "c": "op-c-insert", "u": "op-u-update", "d": "op-d-delete",
                None: "tombstone"}[e.op]
        if kind not in seen:
            seen.add(kind)
            dump(kind, {"key": e.key_json, "value": e.value_json})
    first = events[0]
    schema = field_schemas(first.value_json) if schemas_enable else {}
    note = next(e for e in events if e.ev and e.ev["after"] and "note" in e.ev["after"])
    for c in COLUMNS + ["note"]:
        values = [e.ev["after"][c] for e in events[:3]] if c != "note" else [note.ev["after"]["note"]]
        sch = schema.get(c) if c != "note" else (field_schemas(note.value_json)["note"] if schemas_enable else None)
        dump(f"type-{c}", {"column": c, "pg_type": PG_TYPES[c], "schema": sch, "json_values_rows_1_2_3": values})
