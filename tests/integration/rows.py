"""Canonical row sets for comparing what different Delta readers return.

Every reader hands back values in its own Python shapes (pyarrow dicts and
tuples, Spark Rows, DuckDB dicts, weir's JSON lines). `canon` maps one value
of a known Delta type to a single comparable form, so tests compare whole row
sets exactly instead of counting rows.

Types are written as small Python values: "long", ("decimal", 10, 2),
("struct", [("a", "integer"), ...]), ("array", T), ("map", K, V).
"""
import base64
import datetime as dt
import json
import math
import decimal
from decimal import Decimal

# decimal(38, s) needs more than the default 28 significant digits.
decimal.getcontext().prec = 80

UTC = dt.timezone.utc


def _ts(v, ntz=False):
    if isinstance(v, str):
        s = v.replace("Z", "+00:00") if not ntz else v
        v = dt.datetime.fromisoformat(s)
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC).replace(tzinfo=None)
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f")
    raise TypeError(f"not a timestamp: {v!r}")


def _fields(v):
    """Field access for dicts (pyarrow, duckdb, JSON) and Spark Rows."""
    if isinstance(v, dict):
        return v
    if hasattr(v, "asDict"):
        return v.asDict(recursive=False)
    raise TypeError(f"not a struct: {v!r}")


def _pairs(v):
    if isinstance(v, dict):
        return list(v.items())
    out = []
    for e in v:
        if isinstance(e, dict) and set(e) == {"key", "value"}:
            out.append((e["key"], e["value"]))
        else:
            k, val = e
            out.append((k, val))
    return out


def canon(v, t):
    if v is None:
        return None
    if isinstance(t, str):
        if t == "boolean":
            assert isinstance(v, bool), v
            return v
        if t in ("byte", "short", "integer", "long"):
            assert not isinstance(v, bool)
            return int(v)
        if t in ("float", "double"):
            f = float(v) if not isinstance(v, str) else float(v.replace("Infinity", "inf"))
            return "NaN" if math.isnan(f) else f
        if t == "string":
            assert isinstance(v, str), v
            return v
        if t == "binary":
            if isinstance(v, str):
                return base64.b64decode(v)
            return bytes(v)
        if t == "date":
            if isinstance(v, str):
                return dt.date.fromisoformat(v).isoformat()
            return v.isoformat()
        if t == "timestamp":
            return _ts(v)
        if t == "timestamp_ntz":
            return _ts(v, ntz=True)
        raise ValueError(t)
    kind = t[0]
    if kind == "decimal":
        q = Decimal(1).scaleb(-t[2])
        return str(Decimal(str(v)).quantize(q))
    if kind == "struct":
        f = _fields(v)
        return tuple(canon(f.get(name), ft) for name, ft in t[1])
    if kind == "array":
        return tuple(canon(e, t[1]) for e in v)
    if kind == "map":
        return tuple(sorted(((canon(k, t[1]), canon(x, t[2])) for k, x in _pairs(v)), key=repr))
    raise ValueError(t)


def canon_rows(rows, schema):
    """rows: iterable of dicts / Rows; schema: list of (name, type)."""
    out = []
    for r in rows:
        f = _fields(r)
        out.append(tuple(canon(f.get(name), t) for name, t in schema))
    return sorted(out, key=repr)


def to_rows(result):
    """Accept a pyarrow Table, a list of dicts or a list of Spark Rows."""
    if hasattr(result, "to_pylist"):
        return result.to_pylist()
    return list(result)


def type_from_delta(t):
    """Delta schema JSON type (parsed) -> the small type form used by canon."""
    if isinstance(t, str):
        if t.startswith("decimal"):
            p, s = t[len("decimal("):-1].split(",")
            return ("decimal", int(p), int(s))
        return t
    if t["type"] == "struct":
        return ("struct", [(f["name"], type_from_delta(f["type"])) for f in t["fields"]])
    if t["type"] == "array":
        return ("array", type_from_delta(t["elementType"]))
    if t["type"] == "map":
        return ("map", type_from_delta(t["keyType"]), type_from_delta(t["valueType"]))
    raise ValueError(t)


def schema_from_delta_json(schema_string):
    return type_from_delta(json.loads(schema_string))[1]
