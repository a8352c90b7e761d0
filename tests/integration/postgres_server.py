"""A real PostgreSQL server for weir's CDC tests.

PostgresServer runs initdb and then `postgres` from the system's PostgreSQL
(Debian's /usr/lib/postgresql/<major>/bin, installed by scripts/setup.sh; the
newest major there wins, $WEIR_PG_BIN overrides), bound to 127.0.0.1 on a
free port, with logical decoding on (wal_level=logical) so Debezium can read
the WAL through a replication slot. Durability against an OS crash is off
(fsync, full_page_writes): a test server never outlives its machine, and it
commits much faster. Commits stay synchronous, so a committed row survives a
SIGKILL of the server (kill()).

Not as root: PostgreSQL refuses to run as root, and the tests do run as root.
The server runs as an unprivileged system user instead: $WEIR_PG_USER if set,
else `postgres` (the Debian package creates it), else `nobody`; when the
tests are not root it simply runs as the current user. That user cannot
enter pytest's temporary directories (/tmp/pytest-of-root is mode 0700), so
the cluster's data directory is not in the work directory but in a fresh
/tmp/weir-pg-<pid>-XXXX owned by that user (`datadir`), removed by cleanup()
and at interpreter exit; ones left behind by a killed run are removed by the
next start(). The work directory (any owner) holds what the tests read:

    postgres.log    the server's log (stderr, inherited as an open file)
    initdb.log      initdb's output

Authentication is `trust` for local TCP connections, including replication
connections; the superuser is `postgres`. No Unix socket is created.

The server is stopped by stop() (fast shutdown), at interpreter exit (atexit)
and, on Linux, when the process that started it dies (PR_SET_PDEATHSIG, set
after the switch to the unprivileged user, which would clear it), so a killed
pytest leaves no server behind. kill() SIGKILLs it (a crash); start() again
recovers the same cluster.

Nothing is downloaded here: a missing PostgreSQL or psycopg raises
PostgresUnavailable with the fix (run scripts/setup.sh), and the conftest
fixture turns that into a test failure, never a skip.

Helpers (psycopg 3, autocommit, one cached connection per database; rows come
back as Python values: int, Decimal, float, bool, str, date, time, datetime,
UUID, bytes, dict/list for json/jsonb, str for enums):

    execute(sql, params=None, database=None)  -> rowcount (several ;-separated statements when no params)
    query(sql, params=None, database=None)    -> [tuple, ...]
    query_one(sql, params=None, database=None) -> the first column of the first row (or None)
    connect(database=None, autocommit=True)   a new superuser connection (the caller closes it)
    create_database(name)                     drops one of that name first
    drop_database(name)                       disconnects its sessions (WITH (FORCE))
    unique_database(prefix)                   a fresh database name (not created)
    current_wal_lsn()                         pg_current_wal_lsn() as text
    replication_slots()                       [{slot_name, database, active, confirmed_flush_lsn, ...}]
    drop_replication_slot(name)               waits until no walsender holds it
    dsn(database) / jdbc_url(database)        how clients reach it
    host, port, superuser, version            "127.0.0.1", the port, "postgres", "15.18"

Run by hand (prints the connection string, stops on Ctrl-C):

    .venv/bin/python tests/integration/postgres_server.py [--dir DIR] [--port PORT]
"""
import atexit
import glob
import os
import pathlib
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import procs

ROOT = pathlib.Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0  # seconds; initdb + start take about two
DATADIR_PREFIX = "weir-pg-"


class PostgresUnavailable(RuntimeError):
    """The server cannot be started here (binaries or psycopg missing)."""


class PostgresError(RuntimeError):
    """A server operation failed."""


def find_pg_bin():
    """The directory holding initdb and postgres: $WEIR_PG_BIN, else the
    newest /usr/lib/postgresql/<major>/bin (Debian), else wherever `postgres`
    is on PATH; None when there is none."""
    env = os.environ.get("WEIR_PG_BIN")
    if env:
        return pathlib.Path(env)
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        major = pathlib.Path(d).parent.name
        if major.isdigit() and os.access(os.path.join(d, "postgres"), os.X_OK) and \
                os.access(os.path.join(d, "initdb"), os.X_OK):
            found.append((int(major), pathlib.Path(d)))
    if found:
        return max(found)[1]
    exe = shutil.which("postgres")
    return pathlib.Path(exe).parent if exe else None


def _server_user():
    """(uid, gid, name) the server runs as: None when we are not root (it
    runs as us); else $WEIR_PG_USER, `postgres` or `nobody`, the first that
    exists."""
    if os.geteuid() != 0:
        return None
    names = [os.environ["WEIR_PG_USER"]] if os.environ.get("WEIR_PG_USER") else ["postgres", "nobody"]
    for name in names:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        if pw.pw_uid != 0:
            return pw.pw_uid, pw.pw_gid, name
    raise PostgresUnavailable(f"no unprivileged user to run PostgreSQL as (tried {', '.join(names)}; "
                              f"PostgreSQL refuses to run as root): set WEIR_PG_USER")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _children(pid):
    """Pids whose parent is `pid` (from /proc)."""
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = pathlib.Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.split("/")[2]))
    return out


def _sweep_stale_datadirs():
    """Removes /tmp/weir-pg-<pid>-* left by runs that were killed (their
    creator pid is gone and no postmaster runs in them)."""
    for d in glob.glob(os.path.join(tempfile.gettempdir(), DATADIR_PREFIX + "*")):
        m = re.match(re.escape(DATADIR_PREFIX) + r"(\d+)-", os.path.basename(d))
        if not m or _pid_alive(int(m.group(1))):
            continue
        try:
            pm = int(pathlib.Path(d, "data", "postmaster.pid").read_text().split()[0])
            if _pid_alive(pm):
                continue
        except (OSError, ValueError, IndexError):
            pass
        shutil.rmtree(d, ignore_errors=True)


class PostgresServer:
    def __init__(self, workdir=None, port=None, settings=None, superuser="postgres"):
        """settings: extra server settings ({name: value}, passed as -c),
        overriding the defaults in _settings()."""
        self.workdir = pathlib.Path(workdir) if workdir else pathlib.Path(tempfile.mkdtemp(prefix="weir-pgwork-"))
        self._own_workdir = workdir is None
        self.port = port or procs.free_port()
        self.host = "127.0.0.1"
        self.superuser = superuser
        self.database = "postgres"  # the default database of the helpers
        self.extra_settings = dict(settings or {})
        self.bin = None
        self.datadir = None  # the cluster (PGDATA), inside self._tmp
        self._tmp = None
        self.proc = None
        self.version = None
        self._conns = {}

    # ---- lifecycle ----

    @property
    def log_file(self):
        return self.workdir / "postgres.log"

    def _check_install(self):
        self.bin = find_pg_bin()
        if self.bin is None or not (self.bin / "postgres").exists() or not (self.bin / "initdb").exists():
            raise PostgresUnavailable(
                f"PostgreSQL server binaries not found (looked in $WEIR_PG_BIN, /usr/lib/postgresql/*/bin "
                "and PATH): run scripts/setup.sh (installs the Debian package postgresql)")
        try:
            import psycopg  # noqa: F401
        except ImportError as e:
            raise PostgresUnavailable(f"python package psycopg missing ({e}): run scripts/setup.sh")

    def _settings(self):
        s = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": "",  # TCP only: no socket directory to own
            "wal_level": "logical",
            "max_replication_slots": "32",
            "max_wal_senders": "32",
            "max_connections": "100",
            "fsync": "off",
            "full_page_writes": "off",
            "shared_buffers": "64MB",
            "max_wal_size": "256MB",
            # A walsender whose Debezium was SIGKILLed frees its slot when the
            # connection is noticed dead; keep that short.
            "wal_sender_timeout": "10s",
            "tcp_keepalives_idle": "5",
            "tcp_keepalives_interval": "2",
            "tcp_keepalives_count": "3",
            "log_min_messages": "warning",
            "log_connections": "off",
            "log_line_prefix": "%m [%p] %q%u@%d ",
            "timezone": "UTC",
            "log_timezone": "UTC",
        }
        s.update({k: str(v) for k, v in self.extra_settings.items()})
        return s

    def _spawn(self, argv, out, user):
        kw = {}
        if user is not None:
            kw = {"user": user[0], "group": user[1], "extra_groups": []}
        env = dict(os.environ, LC_ALL="C", LANG="C", TZ="UTC")
        if user is not None:
            env["HOME"] = str(self._tmp)
        return subprocess.Popen(argv, cwd=self._tmp, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env, preexec_fn=procs.die_with_parent, start_new_session=True, **kw)

    def _init_cluster(self, user, timeout):
        _sweep_stale_datadirs()
        self._tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"{DATADIR_PREFIX}{os.getpid()}-"))
        if user is not None:
            os.chown(self._tmp, user[0], user[1])
        self.datadir = self._tmp / "data"
        with open(self.workdir / "initdb.log", "wb") as out:
            p = self._spawn([str(self.bin / "initdb"), "-D", str(self.datadir), "-U", self.superuser,
                             "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"], out, user)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                raise PostgresError(f"initdb did not finish in {timeout}s: {self._tail('initdb.log')}")
        if rc != 0:
            raise PostgresError(f"initdb failed (exit {rc}): {self._tail('initdb.log')}")

    def start(self, timeout=START_TIMEOUT):
        """initdb (first start only) and start the server; returns self once it
        accepts connections."""
        self._check_install()
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        user = _server_user()
        if self.datadir is None or not (self.datadir / "PG_VERSION").exists():
            self._init_cluster(user, timeout)
        argv = [str(self.bin / "postgres"), "-D", str(self.datadir)]
        for k, v in self._settings().items():
            argv += ["-c", f"{k}={v}"]
        with open(self.log_file, "ab") as out:
            self.proc = self._spawn(argv, out, user)
        atexit.register(self.cleanup)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self.version = self.query_one("SHOW server_version").split()[0]
        return self

    def _tail(self, name, lines=30):
        return procs.tail(self.workdir / name, lines)

    def _wait_ready(self, timeout):
        import psycopg

        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PostgresError(f"postgres exited with {self.proc.returncode} during start; "
                                    f"postgres.log:\n{self._tail('postgres.log')}")
            try:
                psycopg.connect(self.dsn(), connect_timeout=2).close()
                return
            except psycopg.OperationalError as e:  # not listening yet, or "starting up"
                last = e
            time.sleep(0.1)
        raise PostgresError(f"PostgreSQL at {self.host}:{self.port} not ready within {timeout}s "
                            f"(last error: {last}); postgres.log:\n{self._tail('postgres.log')}")

    def _close_conns(self):
        for c in self._conns.values():
            try:
                c.close()
            except Exception:
                pass
        self._conns.clear()

    def stop(self, timeout=20.0):
        """Fast shutdown (SIGINT: sessions are disconnected, a checkpoint is
        written), SIGKILL after `timeout`. Keeps the cluster; idempotent."""
        self._close_conns()
        p, self.proc = self.proc, None
        procs.stop(p, signal.SIGINT, timeout, group=False)

    def kill(self):
        """SIGKILL the server and its backends (a crash); start() again
        recovers the same cluster."""
        self._close_conns()
        if self.proc is not None and self.proc.poll() is None:
            # Backends run in sessions of their own: kill them too, or the
            # next start() could find the old shared memory still attached.
            children = _children(self.proc.pid)
            os.kill(self.proc.pid, signal.SIGKILL)
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()
            deadline = time.monotonic() + 10
            while any(_pid_alive(pid) for pid in children) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.proc = None

    def cleanup(self):
        """stop() and remove the cluster (and the work directory if it was ours)."""
        self.stop()
        atexit.unregister(self.cleanup)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = self.datadir = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # ---- connections ----

    def dsn(self, database=None):
        return f"host={self.host} port={self.port} user={self.superuser} dbname={database or self.database}"

    def jdbc_url(self, database=None):
        return f"jdbc:postgresql://{self.host}:{self.port}/{database or self.database}"

    def connect(self, database=None, autocommit=True):
        """A new superuser connection; the caller closes it."""
        import psycopg

        return psycopg.connect(self.dsn(database), autocommit=autocommit, connect_timeout=10)

    def _conn(self, database):
        db = database or self.database
        c = self._conns.get(db)
        if c is None or c.closed or c.broken:
            c = self._conns[db] = self.connect(db)
        return c

    def execute(self, sql, params=None, database=None):
        """Runs `sql` (autocommit; several ;-separated statements are fine
        without params) and returns the last statement's rowcount."""
        with self._conn(database).cursor() as cur:
            cur.execute(sql, params)
            return cur.rowcount

    def query(self, sql, params=None, database=None):
        """Rows of `sql` as a list of tuples of Python values."""
        with self._conn(database).cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def query_one(self, sql, params=None, database=None):
        rows = self.query(sql, params, database)
        return rows[0][0] if rows else None

    # ---- databases and replication ----

    def create_database(self, name):
        """CREATE DATABASE `name` (dropping one of that name first); returns name."""
        self.drop_database(name)
        self.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name):
        c = self._conns.pop(name, None)
        if c is not None:
            c.close()
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def unique_database(self, prefix="db"):
        """A database name not used before by this server object (not created)."""
        self._db_seq = getattr(self, "_db_seq", 0) + 1
        return f"{prefix}_{self._db_seq}_{uuid.uuid4().hex[:8]}".lower()

    def current_wal_lsn(self):
        return str(self.query_one("SELECT pg_current_wal_lsn()::text"))

    def replication_slots(self):
        cols = ("slot_name", "plugin", "database", "active", "active_pid", "restart_lsn", "confirmed_flush_lsn")
        rows = self.query(f"SELECT {', '.join(cols)} FROM pg_replication_slots ORDER BY slot_name")
        return [dict(zip(cols, r)) for r in rows]

    def drop_replication_slot(self, name, timeout=30.0):
        """Drops slot `name` if it exists, first ending a walsender that still
        holds it (a SIGKILLed Debezium's connection lingers until noticed)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.query("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (name,))
            if not rows:
                return
            pid = rows[0][0]
            if pid is not None:
                self.execute("SELECT pg_terminate_backend(%s)", (pid,))
            else:
                try:
                    self.execute("SELECT pg_drop_replication_slot(%s)", (name,))
                    return
                except Exception as e:  # became active again in between
                    if time.monotonic() > deadline:
                        raise PostgresError(f"drop replication slot {name}: {e}") from e
            if time.monotonic() > deadline:
                raise PostgresError(f"replication slot {name} still active after {timeout}s")
            time.sleep(0.1)


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description="Run the test PostgreSQL server in the foreground.")
    ap.add_argument("--dir", help="work directory for the logs (kept; default: a temp dir, removed at exit)")
    ap.add_argument("--port", type=int, help="TCP port (default: a free one)")
    args = ap.parse_args(argv)
    pg = PostgresServer(workdir=args.dir, port=args.port)
    t0 = time.monotonic()
    pg.start()
    print(f"PostgreSQL {pg.version} up in {time.monotonic() - t0:.1f}s: psql '{pg.dsn()}' "
          f"(data {pg.datadir}, log {pg.log_file}); Ctrl-C stops it", flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    try:
        while not stop and pg.proc is not None and pg.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        pg.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
