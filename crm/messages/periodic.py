"""The record of periodic runs, written in its own short transactions so a job's rollback keeps it."""
from __future__ import annotations

from sqlalchemy import select

from crm.db import utcnow
from crm.messages.models import PeriodicRun
from crm.sessions import new_session


def _with_row(name: str, change) -> None:
    with new_session() as session:
        query = select(PeriodicRun).where(PeriodicRun.name == name)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None:
            row = PeriodicRun(name=name, runs=0)
            session.add(row)
        change(row)
        try:
            session.commit()
        except Exception:  # two first runs at once: the other row stands; the record is advisory
            session.rollback()


def record_start(name: str) -> None:
    def change(row):
        row.started_at, row.runs = utcnow(), (row.runs or 0) + 1
    _with_row(name, change)


def record_finish(name: str, outcome: str) -> None:
    def change(row):
        row.finished_at, row.outcome = utcnow(), outcome[:2000]
    _with_row(name, change)


def last_runs(session) -> dict[str, PeriodicRun]:
    return {row.name: row for row in session.scalars(select(PeriodicRun))}
