"""What every benchmark here sets up the same way: a throwaway PostgreSQL database with the app on it,
a Redis of the run's own, the machine and code measured, raw-SQL customers, the checks and the result file.

The scripts import it as ``common`` (bench/ is on sys.path when a script runs, and on the PYTHONPATH of
the workers bench/messages.py starts)."""
from __future__ import annotations

import json
import logging
import os
import platform
import signal
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

DEFAULT_SERVER = (os.environ.get("BENCH_DATABASE_URL") or os.environ.get("CRM_BENCH_DATABASE_URL")
                  or "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DEFAULT_REDIS = os.environ.get("BENCH_REDIS_URL")  # None: a redis-server of the run's own


# --- the command line -----------------------------------------------------------------------------

def add_database_arguments(parser, name: str, redis: bool = False) -> None:
    """--database-url, --keep, --json (and --redis-url): the same words in every benchmark."""
    parser.add_argument("--database-url", default=DEFAULT_SERVER,
                        help="PostgreSQL server to create the throwaway database on "
                             "(default $BENCH_DATABASE_URL, $CRM_BENCH_DATABASE_URL or postgres@127.0.0.1:5432/test)")
    if redis:
        parser.add_argument("--redis-url", default=DEFAULT_REDIS,
                            help="a Redis database to use, FLUSHED before and after "
                                 "(default: a redis-server of the run's own)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (for EXPLAIN); drop it by hand")
    parser.add_argument("--json", action="store_true", help=f"also write bench/results/{name}-<date>-<time>.json")


# --- database and app lifecycle -------------------------------------------------------------------

@contextmanager
def throwaway_database(server_url: str, keep: bool = False):
    """A fresh PostgreSQL database on ``server_url``; dropped on exit whatever happened, unless ``keep``."""
    name = f"crm_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    if admin.dialect.name != "postgresql":
        raise SystemExit("--database-url must name a PostgreSQL server")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        if keep:
            print(f"kept database {url}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            print(f"dropped database {name}")
        admin.dispose()


@dataclass
class Bench:
    """One benchmark's app on its throwaway database, and what was true of the machine when it began."""
    app: object
    engine: object
    url: str
    server_version: str
    code: str
    load_before: tuple
    began: float

    load_after: tuple = ()
    seconds: float = 0.0
    machine: dict = field(default_factory=dict)

    def finish(self) -> dict:
        """The machine after the run (load_after, seconds in all), for the report and the result file."""
        self.load_after, self.seconds = os.getloadavg(), time.perf_counter() - self.began
        self.machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "postgresql": self.server_version, "load_before": self.load_before,
                        "load_after": self.load_after}
        return self.machine

    def describe(self) -> str:
        """The first line of every report."""
        return (f"PostgreSQL {self.server_version}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
                f"code {self.code}")

    def load(self) -> str:
        return (f"load average {self.load_before[0]:.2f} before, {self.load_after[0]:.2f} after; "
                f"{self.seconds:.0f} s in all")


@contextmanager
def bench_app(database_url: str, keep: bool = False, **config):
    """The app migrated onto a throwaway database of ``database_url``'s server (``config`` on top of
    DATABASE_URL; REDIS_URL None unless given); SIGTERM and SIGINT unwind like Ctrl-C, so the database is
    dropped whatever happens."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)
    load_before, version, began = os.getloadavg(), code_version(), time.perf_counter()
    server = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    with throwaway_database(server, keep=keep) as url:
        from crm import create_app
        from crm.migrate import upgrade
        upgrade(url)
        app = create_app({"DATABASE_URL": url, "REDIS_URL": None, **config})
        logging.getLogger().setLevel(logging.WARNING)
        engine = app.extensions["crm.engine"]
        try:
            with engine.connect() as conn:
                server_version = conn.execute(text("SHOW server_version")).scalar()
            yield Bench(app, engine, url, server_version, version, load_before, began)
        finally:
            engine.dispose()


@contextmanager
def private_redis(url: str | None = None):
    """``url`` when given (it will be flushed), else a redis-server of this run's own on a free port, stopped
    on exit: a benchmark never flushes a Redis that a test suite or another benchmark is using."""
    if url:
        yield url
        return
    import shutil
    import socket
    import subprocess
    import tempfile
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: install it or pass --redis-url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", directory],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        own = f"redis://127.0.0.1:{port}/0"
        try:
            from redis import Redis
            for _ in range(200):
                try:
                    Redis.from_url(own, socket_connect_timeout=0.2).ping()
                    break
                except Exception:  # not listening yet
                    time.sleep(0.05)
            print(f"started a redis-server of this run's own on port {port}", flush=True)
            yield own
        finally:
            process.terminate()
            process.wait(10)


@dataclass
class GuardedRedis:
    """A Redis database the run flushes, with a sentinel key: gone means someone else flushed it meanwhile
    (the test suite picks db 1 + pid % 15: db 13 can clash)."""
    url: str
    sentinel: str
    intact: list = field(default_factory=list)

    def __post_init__(self):
        from redis import Redis
        self.redis = Redis.from_url(self.url)
        print(f"flushing {self.url} ({self.redis.dbsize()} keys)", flush=True)
        self.redis.flushdb()
        self.redis.set(self.sentinel, "1")

    def fresh(self) -> None:
        """Flush the database; records whether the sentinel survived since the last flush."""
        self.note()
        self.redis.flushdb()
        self.redis.set(self.sentinel, "1")

    def note(self) -> None:
        self.intact.append(bool(self.redis.exists(self.sentinel)))

    def check(self) -> tuple[str, bool, str]:
        self.note()
        return ("nobody else flushed the Redis database during the run (else use another --redis-url)",
                all(self.intact), self.url)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def code_version() -> str:
    """The commit measured, "+dirty" when the working tree has changes (they are measured too)."""
    import subprocess
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty=+dirty"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# --- data -----------------------------------------------------------------------------------------

def insert_customers(conn, count: int, *, timezone_sql: str = "'UTC'", stage_sql: str = "'NEW'",
                     tier_sql: str = "'STANDARD'", created_sql: str = "now() - interval '1 year'",
                     params: dict | None = None) -> None:
    """``count`` customers by raw SQL, customer g (1..count) as c<g>@bench.example; the *_sql arguments
    are SQL expressions of g for the columns the benchmarks vary."""
    conn.execute(text(f"""
        INSERT INTO customer (id, email, first_name, last_name, first_name_key, last_name_key, timezone, attributes,
                              lifecycle_stage, service_tier, service_tier_pinned, total_spent, order_count,
                              created_at, updated_at)
        SELECT gen_random_uuid(), 'c' || g || '@bench.example', 'Bench', 'C' || g, 'bench', 'c' || g,
               {timezone_sql}, '{{}}', {stage_sql}, {tier_sql}, false, 0, 0, {created_sql}, now()
        FROM generate_series(1, :n) AS g"""), {"n": count, **(params or {})})


# --- the report -----------------------------------------------------------------------------------

def print_checks(checks) -> bool:
    """PASS/FAIL a line for each (name, ok, detail) or (name, ok); True when all passed."""
    all_ok = True
    for name, ok, *detail in checks:
        all_ok &= bool(ok)
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f": {detail[0]}" if detail else ""))
    return all_ok


def checks_json(checks) -> list[dict]:
    return [{"check": c, "pass": bool(ok), "detail": d[0] if d else None} for c, ok, *d in checks]


def conclude(bench: Bench, benchmark: str, checks, write: bool, **document) -> int:
    """The checks printed, the result file written when ``write`` (``document`` its benchmark's own part);
    the exit status: 0 when every check passed."""
    all_ok = print_checks(checks)
    if write:
        write_result(benchmark, {"code": bench.code, "machine": bench.machine, **document,
                                 "checks": checks_json(checks), "pass": all_ok, "seconds": bench.seconds})
    return 0 if all_ok else 1


def write_result(benchmark: str, document: dict) -> Path:
    """bench/results/<benchmark>-<date>-<time>.json (not committed: bench/results/ is ignored)."""
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{benchmark}-{datetime.now():%Y-%m-%d-%H%M%S}.json"
    path.write_text(json.dumps({"benchmark": benchmark, "at": datetime.now(timezone.utc).isoformat(), **document},
                               indent=2, default=str))
    print(f"wrote {path.relative_to(ROOT)}")
    return path
