"""Fixtures: a real database (PostgreSQL by default, SQLite with CRM_TEST_DATABASE_URL=sqlite)
and a real Redis, one app for the session, every table emptied between tests.

- CRM_TEST_DATABASE_URL: a PostgreSQL server URL (a fresh database is created on it and
  dropped afterwards) or "sqlite" (a temporary file). Default: postgresql on 127.0.0.1.
- CRM_TEST_REDIS_URL: a Redis the run may flush between tests. Default: a redis-server of the run's own
  on a free port (tests/servers.py), so two suites and a benchmark on one machine never touch each other.
- --clock-shift-days N (or CRM_TEST_CLOCK_SHIFT_DAYS=N): run the platform clock N days ahead of the
  machine's for the whole run, worker processes included (CRM_CLOCK_SHIFT), to prove no test depends on
  the day it runs. Tests that need a fixed instant freeze the clock with the ``clock`` fixture (or set it
  running from one with ``clock.travel``).
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from datetime import datetime

import pytest
import redis as redis_lib
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from crm import clock, create_app, events, import_models
from crm.auth.services import create_staff, create_token
from crm.db import Base
from crm.enums import Role
from crm.migrate import upgrade
from tests.servers import RedisServer

import_models()  # registers every table

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def pytest_addoption(parser):
    parser.addoption("--clock-shift-days", type=float, default=None,
                     help="run the platform clock this many days ahead of the machine's (CRM_TEST_CLOCK_SHIFT_DAYS)")


def pytest_configure(config):
    days = config.getoption("--clock-shift-days")
    if days is None:
        days = float(os.environ.get("CRM_TEST_CLOCK_SHIFT_DAYS") or 0)
    # Through the environment, so that every app the tests create and every worker process they start
    # runs on the same shifted clock.
    os.environ["CRM_CLOCK_SHIFT"] = str(int(days * 86400))
    clock.set_shift(days * 86400)


def pytest_report_header(config):
    return f"platform clock: {clock.now().isoformat(timespec='seconds')} (shift {clock.shift()})"


def _create_pg_database(server_url: str) -> tuple[str, callable]:
    name = f"crm_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@contextmanager
def fresh_database(tmp_path_factory):
    """An empty database of the configured kind; yields its URL."""
    configured = os.environ.get("CRM_TEST_DATABASE_URL", DEFAULT_PG)
    if configured.startswith("sqlite"):
        path = tmp_path_factory.mktemp("db") / "crm.sqlite"
        yield f"sqlite:///{path}"
        return
    url, drop = _create_pg_database(configured)
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    with fresh_database(tmp_path_factory) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    configured = os.environ.get("CRM_TEST_REDIS_URL")
    if configured:
        redis_lib.Redis.from_url(configured).ping()
        yield configured
        return
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def app(database_url, redis_url, tmp_path_factory):
    app = create_app({
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "TESTING": True, "SECRET_KEY": "test",
        # Tests post far more than a client would; tests/platform/test_rate_limits.py switches limits on.
        "RATE_LIMITS_ENABLED": False,
    })
    app.instance_path = str(tmp_path_factory.mktemp("instance"))
    return app


# Data the migrations seed (the default loyalty programme): restored as migrated before each test.
REFERENCE_TABLES = ("loyalty_tier", "loyalty_earning_rule", "journey_map", "sla_policy")


@pytest.fixture(scope="session")
def reference_rows(app):
    engine = app.extensions["crm.engine"]
    with engine.connect() as conn:
        return {name: [dict(row._mapping) for row in conn.execute(Base.metadata.tables[name].select())]
                for name in REFERENCE_TABLES}


def _reset_tables(engine, reference_rows) -> None:
    tables = [t.name for t in Base.metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                conn.execute(text(f'DELETE FROM "{table}"'))
        for name, rows in reference_rows.items():
            if rows:
                conn.execute(Base.metadata.tables[name].insert(), rows)


@pytest.fixture(autouse=True)
def clean_state(app, reference_rows):
    _reset_tables(app.extensions["crm.engine"], reference_rows)
    app.extensions["crm.redis"].flushdb()
    saved = dict(app.config)
    shift = clock.shift()
    yield
    app.config.clear()
    app.config.update(saved)
    clock.unfreeze()
    clock.set_shift(shift.total_seconds())


def _instant(at: datetime | str) -> datetime:
    return datetime.fromisoformat(at) if isinstance(at, str) else at


class Clock:
    """The platform clock, for one test: ``freeze(at)``, ``travel(at)``, ``advance(delta)``, ``now()``.
    Put back after it."""

    now = staticmethod(clock.now)
    advance = staticmethod(clock.advance)
    unfreeze = staticmethod(clock.unfreeze)
    shift = staticmethod(clock.shift)

    @staticmethod
    def freeze(at: datetime | str) -> datetime:
        """Stop the clock at an instant (an aware datetime or an ISO 8601 string); returns it."""
        return clock.freeze(_instant(at))

    @staticmethod
    def travel(at: datetime | str) -> datetime:
        """Set the clock to an instant and let it run on from there (rows written one after another get
        later times, as they would for real); returns it."""
        at = _instant(at)
        if at.tzinfo is None:
            raise ValueError("travel needs an aware instant")
        clock.unfreeze()
        clock.set_shift((at - clock.real_now()).total_seconds())
        return at


@pytest.fixture(name="clock")
def clock_fixture():
    return Clock()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def ctx(app):
    """An app context with its session, for calling services directly."""
    with app.app_context():
        from crm.sessions import get_session
        yield get_session()


class Api:
    """Posts GraphQL as a given token; returns the parsed JSON body."""

    def __init__(self, client, tokens):
        self.client = client
        self.tokens = tokens
        self.last_status = None

    def __call__(self, query: str, variables: dict | None = None, *, as_: str = "admin", status: int = 200):
        headers = {"Authorization": f"Bearer {self.tokens[as_]}"} if as_ else {}
        response = self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        self.last_status = response.status_code
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    def data(self, query: str, variables: dict | None = None, *, as_: str = "admin") -> dict:
        body = self(query, variables, as_=as_)
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture
def staff(app):
    """One staff user per staff role, keyed by role name in lower case."""
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        people = {}
        for role, name in ((Role.ADMIN, "Ada Admin"), (Role.ACCOUNT_MANAGER, "Mia Manager"),
                           (Role.SUPPORT_AGENT, "Sam Support"), (Role.MARKETER, "Max Marketer")):
            user = create_staff(session, name=name, email=f"{role.value.lower()}@example.com", role=role)
            people[role.value.lower()] = user
        return people


@pytest.fixture
def tokens(app, staff):
    """Tokens for every staff role and for INTEGRATION, keyed admin / account_manager / ... / integration."""
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        out = {}
        for key, user in staff.items():
            out[key] = create_token(session, role=user.role, staff_email=user.email)[1]
        out["integration"] = create_token(session, role=Role.INTEGRATION, label="shop")[1]
        return out


@pytest.fixture
def api(client, tokens):
    return Api(client, tokens)


@pytest.fixture
def portal_token(app, tokens):
    """Make a PORTAL token for a customer id (raw UUID); returns the token."""
    def make(customer_id) -> str:
        with app.app_context():
            from crm.sessions import get_session
            return create_token(get_session(), role=Role.PORTAL, customer_id=customer_id)[1]
    return make


@pytest.fixture
def count_statements(app):
    """Context manager listing the SQL statements sent to the database: BEGIN left out, and unless ``last_use``,
    the token's lastUsedAt write, which authentication makes at most once a minute per token whatever the query."""
    @contextmanager
    def counting(*, last_use: bool = False):
        engine = app.extensions["crm.engine"]
        statements: list[str] = []

        def before(conn, cursor, statement, parameters, context, executemany):
            head = statement.lstrip().upper()
            if not head.startswith("BEGIN") and (last_use or not head.startswith("UPDATE API_TOKEN SET LAST_USED_AT")):
                statements.append(statement)

        event.listen(engine, "before_cursor_execute", before)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", before)
    return counting


@pytest.fixture
def subscriptions():
    """``events.subscribe``, with every subscription made during the test removed afterwards."""
    saved = {topic: list(subs) for topic, subs in events._SUBSCRIBERS.items()}
    yield events.subscribe
    events._SUBSCRIBERS.clear()
    events._SUBSCRIBERS.update(saved)


@pytest.fixture
def smtp_server(app):
    """A local SMTP server; the app's EMAIL goes to it for this test."""
    from tests.providers import SmtpSink
    with SmtpSink() as sink:
        app.config.update(MESSAGES_SMTP_HOST="127.0.0.1", MESSAGES_SMTP_PORT=sink.port)
        yield sink


@pytest.fixture
def http_provider(app):
    """A local HTTP SMS/push provider; the app's SMS and PUSH go to it for this test."""
    from tests.providers import HttpProvider
    with HttpProvider() as provider:
        app.config.update(MESSAGES_HTTP_URL=provider.url, MESSAGES_HTTP_SECRET="test-secret",
                          MESSAGES_PROVIDER_TIMEOUT=5)
        yield provider
