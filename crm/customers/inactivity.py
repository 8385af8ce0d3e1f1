"""Inactivity: customers with no order and no interaction for a while move to AT_RISK, then CHURNED.

Each batch takes its customers FOR UPDATE SKIP LOCKED and re-checks them under the lock, so two
workers running it at once, or an order recorded meanwhile, never move anyone twice or wrongly.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from crm.customers.models import Customer
from crm.customers.rules import move_stage
from crm.db import transaction, utcnow
from crm.enums import LifecycleStage as S

BATCH = 500
ACTIVE = (S.NEW, S.DEVELOPING, S.LOYAL, S.ADVOCATE)
ACTOR = "rule:inactivity"


def _greatest(a, b):
    """The later of two times, either of which may be unknown (portable: no GREATEST on SQLite)."""
    return case((a.is_(None), b), (b.is_(None), a), (a >= b, a), else_=b)


def _due(stages, before: datetime):
    return (Customer.lifecycle_stage.in_(stages), Customer.merged_into_id.is_(None),
            _greatest(Customer.last_order_at, Customer.last_interaction_at) < before)


def _move(session: Session, stages, to_stage: S, before: datetime, now: datetime, days: int) -> int:
    moved = 0
    while True:
        with transaction(session):
            stmt = select(Customer).where(*_due(stages, before)).order_by(Customer.id).limit(BATCH)
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(key_share=True, skip_locked=True)
            customers = session.scalars(stmt.execution_options(populate_existing=True)).all()
            for customer in customers:
                move_stage(session, customer, to_stage, reason=f"no order or interaction for {days} days",
                           actor=ACTOR, at=now)
                moved += 1
        if len(customers) < BATCH:
            return moved


def apply_inactivity(session: Session, *, at_risk_days: int, churned_days: int, now: datetime | None = None) -> dict:
    """Returns how many customers moved to each stage."""
    now = now or utcnow()
    churned = _move(session, (*ACTIVE, S.AT_RISK), S.CHURNED, now - timedelta(days=churned_days), now, churned_days)
    at_risk = _move(session, ACTIVE, S.AT_RISK, now - timedelta(days=at_risk_days), now, at_risk_days)
    return {"AT_RISK": at_risk, "CHURNED": churned}
