"""One clock (crm.clock): nothing else in the product asks the system or the database for the time, and the
``clock`` fixture and ``--clock-shift-days`` move what every part of the platform sees, the API and worker
processes included."""
from __future__ import annotations

import ast
import os
import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from crm import clock as platform_clock
from crm.customers.models import Customer
from tests.helpers import SEND_MESSAGE, SET_CONSENT, consenting_customer, create_customer, raw_id

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("crm", "journeys", "loyalty", "migrations")
THE_CLOCK = ROOT / "crm" / "clock.py"

# Calls that read the system clock, by qualified name (imports and aliases resolved).
SYSTEM_TIME_CALLS = {
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.date.today",
    "time.time", "time.time_ns", "time.localtime", "time.gmtime", "time.ctime", "time.asctime", "time.strftime",
}
# SQLAlchemy ``func.<name>``: the database reading its own clock.
SQL_TIME_FUNCTIONS = {"now", "current_timestamp", "current_date", "current_time", "localtimestamp", "localtime",
                      "sysdate", "clock_timestamp", "statement_timestamp", "transaction_timestamp"}
# The same in SQL text: text(), DDL, server defaults.
# (LOCALTIME in capitals only, LOCALTIMESTAMP in either: "localtime" and "localTime" are a zone file and a field.)
SQL_TIME_TEXT = re.compile(r"(?i:\b(now|clock_timestamp|statement_timestamp|transaction_timestamp)\s*\(\s*\))"
                           r"|(?i:\bcurrent_(timestamp|date|time)\b)|\bLOCALTIME(STAMP)?\b|\blocaltimestamp\b"
                           r"|(?i:\b(datetime|date|time|strftime|julianday)\([^)]*'now')")


def _imports(tree: ast.AST) -> dict[str, str]:
    """Local name -> what it is (``dt`` -> ``datetime``, ``date`` -> ``datetime.date``)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _docstrings(tree: ast.AST) -> set[int]:
    """The string constants that are docstrings: prose, where "now()" is no SQL."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def _qualified(node: ast.AST, names: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(names.get(node.id, node.id))
    return ".".join(reversed(parts))


def clock_reads(source: str, where: str) -> list[str]:
    """Each place in one module that reads the time other than through crm.clock, as ``where:line: what``."""
    tree = ast.parse(source, filename=where)
    names, docstrings = _imports(tree), _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _qualified(node.func, names) in SYSTEM_TIME_CALLS:
            found.append((node.lineno, f"{_qualified(node.func, names)}()"))
        elif isinstance(node, ast.Attribute) and node.attr.lower() in SQL_TIME_FUNCTIONS:
            owner = _qualified(node.value, names) or ""
            if owner == "func" or owner.endswith(".func"):
                found.append((node.lineno, f"SQL func.{node.attr}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            match = SQL_TIME_TEXT.search(node.value)
            if match:
                found.append((node.lineno, f"SQL text {match.group(0)!r}"))
    return [f"{where}:{line}: {what}" for line, what in sorted(found)]


# ---------------------------------------------------------------- (a) nothing bypasses the clock

def test_nothing_but_crm_clock_reads_the_system_or_database_clock():
    files = sorted(path for top in SOURCES for path in (ROOT / top).rglob("*.py") if path != THE_CLOCK)
    assert len(files) > 50   # the walk found the product
    offenders = [line for path in files for line in clock_reads(path.read_text(), str(path.relative_to(ROOT)))]
    assert offenders == [], ("read the time through crm.clock (crm.db.utcnow() or clock.now()), never the system's "
                             "or the database's clock:\n" + "\n".join(offenders))


def test_the_walk_names_each_way_of_reading_the_clock_with_its_file_and_line():
    probe = '''"""A docstring may say now() and CURRENT_TIMESTAMP."""
import datetime as dt
import time
from datetime import date, datetime
from time import time as seconds

import sqlalchemy as sa
from sqlalchemy import Column, DateTime, func, text

a = datetime.now()
b = dt.datetime.utcnow()
c = date.today()
d = time.time()
e = seconds()
f = func.now()
g = sa.func.current_timestamp()
h = text("SELECT 1 FROM t WHERE at < now()")
i = Column(DateTime, server_default=text("CURRENT_TIMESTAMP"))
j = text("SELECT datetime('now')")
k = text("SELECT localtimestamp")
fine = (time.monotonic(), time.sleep(0), datetime.fromisoformat("2026-01-01T00:00:00+00:00"), func.count(),
        {"localTime": "09:00"}, "nowhere()", "the current time", {"localtime", "posixrules"})
'''
    assert clock_reads(probe, "crm/probe.py") == [
        "crm/probe.py:10: datetime.datetime.now()",
        "crm/probe.py:11: datetime.datetime.utcnow()",
        "crm/probe.py:12: datetime.date.today()",
        "crm/probe.py:13: time.time()",
        "crm/probe.py:14: time.time()",
        "crm/probe.py:15: SQL func.now",
        "crm/probe.py:16: SQL func.current_timestamp",
        "crm/probe.py:17: SQL text 'now()'",
        "crm/probe.py:18: SQL text 'CURRENT_TIMESTAMP'",
        "crm/probe.py:19: SQL text \"datetime('now'\"",
        "crm/probe.py:20: SQL text 'localtimestamp'",
    ]


# ---------------------------------------------------------------- (b) the fixture moves what the platform sees

CUSTOMER_TIMES = """query($id: ID!) { customer(id: $id) { createdAt updatedAt lifecycleHistory { at }
  consents { channel updatedAt } } }"""


def test_a_frozen_clock_is_the_time_the_api_writes_and_advance_moves_it(api, clock):
    frozen = clock.freeze("2031-02-03T04:05:06+00:00")
    assert platform_clock.now() == frozen and platform_clock.is_frozen()
    customer = create_customer(api, email="frozen@example.com")
    written = api.data(CUSTOMER_TIMES, {"id": customer["id"]})["customer"]
    assert (written["createdAt"], written["updatedAt"], written["lifecycleHistory"]) == (
        "2031-02-03T04:05:06+00:00", "2031-02-03T04:05:06+00:00", [{"at": "2031-02-03T04:05:06+00:00"}])

    assert clock.advance(timedelta(days=2, minutes=30)) == frozen + timedelta(days=2, minutes=30)
    assert api.data(SET_CONSENT, {"id": customer["id"], "ch": "EMAIL", "g": True})["customerSetConsent"] == {
        "errors": []}
    later = api.data(CUSTOMER_TIMES, {"id": customer["id"]})["customer"]
    assert later["createdAt"] == "2031-02-03T04:05:06+00:00"
    assert [(c["channel"], c["updatedAt"]) for c in later["consents"] if c["channel"] == "EMAIL"] == [
        ("EMAIL", "2031-02-05T04:35:06+00:00")]
    # Reads filter on the same clock: created two days before "now".
    listed = api.data("""query($after: DateTime!) { customers(filter: {createdAfter: $after}) { totalCount } }""",
                      {"after": "2031-02-03T04:05:05+00:00"})["customers"]["totalCount"]
    assert listed == 1


def test_advance_moves_a_running_clock_and_unfreeze_lets_it_run(api, app, clock):
    before = platform_clock.real_now() + platform_clock.shift()
    clock.advance(timedelta(days=3))
    customer = create_customer(api, email="ahead@example.com")
    after = platform_clock.real_now() + platform_clock.shift()
    with app.extensions["crm.sessionmaker"]() as session:
        created = session.scalar(select(Customer.created_at).where(Customer.id == raw_id(customer["id"])))
    assert before + timedelta(days=3) <= created <= after
    assert not platform_clock.is_frozen()

    stopped = clock.freeze(created)
    clock.unfreeze()
    assert not platform_clock.is_frozen() and platform_clock.now() >= stopped


def test_the_shift_is_in_the_environment_every_app_and_worker_process_reads(api, app, database_url, redis_url,
                                                                           tmp_path, clock):
    from tests.platform.test_workers import message_row, start_worker, stop, wait_for
    # What --clock-shift-days (or CRM_TEST_CLOCK_SHIFT_DAYS) set: the tests' clock and every process's agree.
    assert os.environ["CRM_CLOCK_SHIFT"] == str(int(clock.shift().total_seconds()))
    assert float(app.config["CLOCK_SHIFT"]) == clock.shift().total_seconds()

    # A worker process takes its clock from CRM_CLOCK_SHIFT: one told to run 30 days further ahead than the
    # tests writes the message it sends as sent 30 days from the tests' now.
    customer = consenting_customer(api, email="worker@example.com", timezone="UTC")
    further = clock.shift() + timedelta(days=30)
    worker = start_worker(database_url, redis_url, tmp_path, "ahead", CLOCK_SHIFT=int(further.total_seconds()),
                          MESSAGES_QUIET_START="00:00", MESSAGES_QUIET_END="00:00")
    try:
        before = clock.now()
        sent = api.data(SEND_MESSAGE, {"input": {"customerId": customer["id"], "channel": "EMAIL",
                                                 "purpose": "CARE", "body": "Hello"}}, as_="account_manager")
        message_id = raw_id(sent["messageSend"]["message"]["id"])
        wait_for(lambda: message_row(app, message_id).status.value == "SENT", 60, "the worker to send it")
        after = clock.now()
    finally:
        stop(worker)
    row = message_row(app, message_id)
    assert before <= row.created_at <= after                                    # the API, on the tests' clock
    assert before + timedelta(days=30) <= row.sent_at <= after + timedelta(days=30)   # the worker, on its own
