"""The three independent Delta readers the integration tests compare weir
against, plus a schema-free row normalizer.

Used by conftest.py (as pytest fixtures) and by scripts/verify_readers.py
(setup's offline check), so the readers are configured in exactly one place.
Everything works without network access: the DuckDB delta extension comes
from the `duckdb-extension-delta` wheel, the Delta jars from .deps/jars
(downloaded from Maven Central by scripts/setup.sh).
"""
import datetime as dt
import decimal
import glob
import math
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
from decimal import Decimal

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPS = pathlib.Path(os.environ.get("WEIR_DEPS_DIR", ROOT / ".deps"))
JARS_DIR = DEPS / "jars"
DUCKDB_EXT_DIR = DEPS / "duckdb-extensions"
UTC = dt.timezone.utc

# Every reader must see timestamps in UTC: Spark's collect() turns
# TIMESTAMP values into naive datetimes in the process's local zone.
os.environ["TZ"] = "UTC"
time.tzset()

# Delta decimals have up to 38 digits; Python's default context keeps 28, so
# quantize()/arithmetic on DECIMAL(38, s) values would raise InvalidOperation.
decimal.DefaultContext.prec = 80
decimal.getcontext().prec = 80


class ReaderUnavailable(RuntimeError):
    """A reader could not start: tests must fail, never skip."""


# ---- deltalake (delta-rs) ----

def read_deltalake(path, version=None):
    import deltalake

    return deltalake.DeltaTable(str(path), version=version).to_pyarrow_table()


# ---- DuckDB + delta extension ----

def _packaged_duckdb_delta_extension():
    import duckdb
    try:
        import duckdb_extension_delta
    except ImportError as e:
        raise ReaderUnavailable("python package duckdb-extension-delta is not installed; run scripts/setup.sh") from e
    base = pathlib.Path(duckdb_extension_delta.__file__).parent / "extensions"
    want = base / f"v{duckdb.__version__}" / "delta.duckdb_extension"
    if want.is_file():
        return want
    found = sorted(base.glob("v*/delta.duckdb_extension"))
    raise ReaderUnavailable(
        f"duckdb {duckdb.__version__} has no matching delta extension in {base} (found: {[str(f) for f in found]}); "
        "pin duckdb to the extension's version in scripts/requirements.txt")


def duckdb_connect():
    """A DuckDB connection with the delta extension loaded by name
    (`LOAD delta`) from the project's extension directory; the extension is
    installed there from the wheel's file on first use. Never downloads."""
    import duckdb

    cfg = {"extension_directory": str(DUCKDB_EXT_DIR),
           "autoinstall_known_extensions": "false",
           "autoload_known_extensions": "false"}
    con = duckdb.connect(config=cfg)
    try:
        con.execute("LOAD delta")
    except duckdb.Error:
        ext = _packaged_duckdb_delta_extension()
        DUCKDB_EXT_DIR.mkdir(parents=True, exist_ok=True)
        try:
            con.execute(f"INSTALL '{ext}'")
            con.execute("LOAD delta")
        except duckdb.Error as e:
            raise ReaderUnavailable(f"DuckDB cannot load the delta extension from {ext}: {e}") from e
    con.execute("SET TimeZone = 'UTC'")
    return con


def read_duckdb(path, con=None):
    own = con is None
    if own:
        con = duckdb_connect()
    try:
        p = str(path).replace("'", "''")
        res = con.execute(f"SELECT * FROM delta_scan('{p}')").arrow()
        # duckdb >= 1.4 hands back a RecordBatchReader: materialize a Table
        return res.read_all() if hasattr(res, "read_all") else res
    finally:
        if own:
            con.close()


# ---- PySpark + delta-spark ----

def delta_jars():
    jars = sorted(glob.glob(str(JARS_DIR / "*.jar")))
    names = " ".join(os.path.basename(j) for j in jars)
    if "delta-spark" not in names or "delta-storage" not in names:
        raise ReaderUnavailable(f"Delta jars missing in {JARS_DIR} (have: {names or 'nothing'}); run scripts/setup.sh")
    return jars


def _java_home():
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    if java is None:
        raise ReaderUnavailable("no java on PATH and JAVA_HOME unset: Spark needs a JDK/JRE 17")
    return str(pathlib.Path(os.path.realpath(java)).parents[1])


def spark_session(workdir=None):
    """A local[1] SparkSession with Delta from .deps/jars, UTC session time
    zone, few shuffle partitions, no UI, bound to 127.0.0.1. No Ivy/Maven
    resolution happens at run time."""
    os.environ.setdefault("JAVA_HOME", _java_home())
    os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON") or __import__("sys").executable)
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    jars = delta_jars()
    workdir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="weir-spark-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise ReaderUnavailable("pyspark is not installed; run scripts/setup.sh") from e
    b = (SparkSession.builder.master("local[1]").appName("weir-tests")
         .config("spark.jars", ",".join(jars))
         .config("spark.jars.ivy", str(workdir / "ivy"))
         .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
         .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.default.parallelism", "1")
         .config("spark.databricks.delta.snapshotPartitions", "2")
         .config("spark.sql.warehouse.dir", str(workdir / "warehouse"))
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.driver.memory", "1g"))
    try:
        spark = b.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        # Touch the Delta classes now so a missing or mismatched jar fails here.
        spark.sql("SELECT 1").collect()
        spark._jvm.io.delta.tables.DeltaTable  # noqa: B018 (class lookup)
    except Exception as e:  # py4j errors, JVM start failures
        raise ReaderUnavailable(f"SparkSession with Delta could not start: {e}") from e
    return spark


def read_spark(spark, path, version=None):
    """Rows as a pyarrow Table (through Spark's Arrow export: timestamps are
    UTC-aware, decimals Decimal, maps lists of pairs)."""
    r = spark.read.format("delta")
    if version is not None:
        r = r.option("versionAsOf", version)
    return r.load(str(path)).toArrow()


# ---- normalizing rows for whole-set comparison ----

def _norm(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else v
    if isinstance(v, (int, str, Decimal, dt.date)) and not isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.datetime):
        # naive = already UTC (Spark collect with TZ=UTC, timestamp_ntz)
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if hasattr(v, "asDict"):  # Spark Row (a struct)
        v = v.asDict(recursive=False)
    if isinstance(v, dict):  # struct (pyarrow/duckdb) or map (Spark)
        return tuple(sorted(((k, _norm(x)) for k, x in v.items()), key=_sort_key))
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(e, tuple) and len(e) == 2 for e in v):  # pyarrow map: [(k, v), ...]
            return tuple(sorted(((_norm(k), _norm(x)) for k, x in v), key=_sort_key))
        return tuple(_norm(e) for e in v)
    raise TypeError(f"cannot normalize {type(v).__name__}: {v!r}")


def _sort_key(v):
    """Total order over normalized values (None first, then by type name)."""
    if v is None:
        return (0,)
    if isinstance(v, tuple):
        return (2, tuple(_sort_key(e) for e in v))
    if isinstance(v, Decimal):
        return (1, "Decimal", str(v.normalize()) if v.is_finite() else str(v))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (1, "num", v)
    return (1, type(v).__name__, v)


def normalize(data, columns=None):
    """pyarrow Table / RecordBatchReader, list of dicts, or list of Spark Rows
    -> sorted list of tuples (one per row, in column order).

    Timestamps become UTC-aware datetimes, decimals stay Decimal (compared by
    value), binary becomes bytes, structs and maps become sorted tuples of
    (name, value) pairs, arrays tuples, NaN the string "NaN". `columns`
    picks and orders columns (default: the data's own order)."""
    if hasattr(data, "read_all"):
        data = data.read_all()
    if hasattr(data, "to_pylist"):
        rows = data.to_pylist()
    else:
        rows = [r.asDict(recursive=False) if hasattr(r, "asDict") else r for r in data]
    out = []
    for r in rows:
        if isinstance(r, dict):
            vals = [r[c] for c in columns] if columns else list(r.values())
        else:
            vals = list(r)
        out.append(tuple(_norm(v) for v in vals))
    return sorted(out, key=_sort_key)


def run_weir(weir_bin, *args, timeout=600, input=None, env=None):
    return subprocess.run([str(weir_bin), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, input=input, env=env)
