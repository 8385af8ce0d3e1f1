"""Proactive SLA alerts: warn while a case can still be saved, and say so once when it breaches.

The periodic sweep reads only cases whose ``sla_next_check_at`` has come (an index range), raises
each alert once (``case.sla_at_risk`` / ``case.sla_breached`` events through the outbox) and moves
the next check on. Answering or resolving a case moves or clears it, so stopped clocks cost nothing.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm import events
from crm.db import transaction, utcnow
from journeys.service import sla
from journeys.service.models import Case

SWEEP_BATCH = 500


def sweep_sla(session: Session, *, now: datetime | None = None) -> int:
    """Raise the SLA alerts that have come due; returns how many. One transaction per batch."""
    now = now or utcnow()
    raised = 0
    while True:
        with transaction(session):
            stmt = (select(Case).where(Case.sla_next_check_at <= now)
                    .order_by(Case.sla_next_check_at, Case.id).limit(SWEEP_BATCH))
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)  # a case being worked on is swept next time
            cases = session.scalars(stmt).all()
            for case in cases:
                raised += _raise_alerts(session, case, now)
        if len(cases) < SWEEP_BATCH:
            return raised


def _raise_alerts(session: Session, case: Case, now: datetime) -> int:
    alerts = sla.due_alerts(case, now)
    keys = list(case.sla_alerts or [])
    for clock, level, due in alerts:
        keys += [f"{clock}:AT_RISK", f"{clock}:BREACHED"] if level == "BREACHED" else [f"{clock}:AT_RISK"]
        topic = "case.sla_breached" if level == "BREACHED" else "case.sla_at_risk"
        events.emit(session, topic, caseId=str(case.id), customerId=str(case.customer_id), clock=clock,
                    dueAt=due.isoformat(), priority=case.priority)
    case.sla_alerts = sorted(set(keys))
    case.sla_next_check_at = sla.next_check(case)
    return len(alerts)
