"""Lifetime value and churn risk: two documented, explainable scores kept on the customer.

churnRisk, 0..1, a weighted sum of four factors, each 0..1 (stored in ``churn_risk_factors``):
- recency (0.40): days since the last order or interaction (or since creation, with neither) over
  ``CHURN_INACTIVE_DAYS`` (365), capped at 1;
- frequency (0.20): 1 - completed orders in the last 365 days / ``CHURN_HEALTHY_ORDERS`` (4), floored at 0;
- trend (0.20): how far the last 90 days fall short of the customer's own pace over the 365 days
  before them: 1 - recent / (previous / 4), floored at 0; 0 without orders in that earlier year;
- negative (0.20): negative signals in the last 90 days over 2, capped at 1. Signals come from
  ``NEGATIVE_SIGNAL_PROVIDERS`` (journeys adds interactions with emotion <= -1, NPS <= 6 and CSAT <= 2).

lifetimeValue = totalSpent + predicted spend over ``LTV_HORIZON_DAYS`` (365):
  average order value x (completed orders / tenure in days, tenure at least 30) x horizon x (1 - churnRisk).
  A customer without orders has 0.

``refresh_customer`` scores one customer (after an event); ``refresh_all`` scores the base in batches,
writing only rows whose scores changed.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from crm.customers.models import Customer, Order
from crm.db import transaction, utcnow

WEIGHTS = {"recency": 0.40, "frequency": 0.20, "trend": 0.20, "negative": 0.20}
RECENT_DAYS = 90
YEAR_DAYS = 365
BATCH = 1000

# f(session, customer_ids, since) -> {customer_id: count of negative signals since ``since``}
NEGATIVE_SIGNAL_PROVIDERS: list[Callable[[Session, list[uuid.UUID], datetime], dict]] = []


def _settings(config) -> dict:
    return {"inactive_days": float(config.get("CHURN_INACTIVE_DAYS", 365)),
            "healthy_orders": float(config.get("CHURN_HEALTHY_ORDERS", 4)),
            "horizon_days": float(config.get("LTV_HORIZON_DAYS", 365))}


def _order_counts(session: Session, ids: list[uuid.UUID], now: datetime) -> dict:
    """Per customer: completed orders in the last 365 days, the last 90, and the 365 days before those 90."""
    recent_start = now - timedelta(days=RECENT_DAYS)
    year_start = now - timedelta(days=YEAR_DAYS)
    previous_start = recent_start - timedelta(days=YEAR_DAYS)
    at = Order.occurred_at
    rows = session.execute(select(
        Order.customer_id,
        func.count().filter(at >= year_start),
        func.count().filter(at >= recent_start),
        func.count().filter(and_(at >= previous_start, at < recent_start)),
    ).where(Order.customer_id.in_(ids), Order.status == "COMPLETED", at >= previous_start, at <= now)
        .group_by(Order.customer_id))
    return {row[0]: tuple(row[1:]) for row in rows}


def _negative_signals(session: Session, ids: list[uuid.UUID], now: datetime) -> dict:
    totals: dict = {}
    for provider in NEGATIVE_SIGNAL_PROVIDERS:
        for customer_id, count in provider(session, ids, now - timedelta(days=RECENT_DAYS)).items():
            totals[customer_id] = totals.get(customer_id, 0) + count
    return totals


def _clamp(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 4)


def compute(customer, counts: tuple, negatives: int, now: datetime, settings: dict) -> tuple:
    """(lifetime_value, churn_risk, factors) for one customer from its row and aggregates."""
    year, recent, previous = counts
    last_activity = max((t for t in (customer.last_order_at, customer.last_interaction_at) if t is not None),
                        default=customer.created_at)
    idle_days = max(0.0, (now - last_activity).total_seconds() / 86400)
    factors = {
        "recency": _clamp(idle_days / settings["inactive_days"]),
        "frequency": _clamp(1 - year / settings["healthy_orders"]),
        "trend": _clamp(1 - recent / (previous / 4)) if previous else 0.0,
        "negative": _clamp(negatives / 2),
    }
    risk = _clamp(sum(WEIGHTS[name] * value for name, value in factors.items()))
    if customer.order_count == 0:
        return Decimal("0.00"), risk, factors
    tenure_days = max(30.0, (now - customer.first_order_at).total_seconds() / 86400)
    average = customer.total_spent / customer.order_count
    predicted = average * Decimal(customer.order_count / tenure_days * settings["horizon_days"] * (1 - risk))
    value = (customer.total_spent + predicted).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return value, risk, factors


def score_customers(session: Session, customers: list, now: datetime, config) -> list[dict]:
    """New scores of the given customers whose stored scores differ (helper: reads only)."""
    settings = _settings(config)
    ids = [c.id for c in customers]
    counts = _order_counts(session, ids, now)
    negatives = _negative_signals(session, ids, now)
    changed = []
    for customer in customers:
        value, risk, factors = compute(customer, counts.get(customer.id, (0, 0, 0)), negatives.get(customer.id, 0),
                                       now, settings)
        if (customer.lifetime_value, customer.churn_risk, customer.churn_risk_factors) != (value, risk, factors):
            changed.append({"cid": customer.id, "ltv": value, "risk": risk, "factors": factors,
                            "seen_orders": customer.order_count, "seen_last_order": customer.last_order_at,
                            "seen_last_interaction": customer.last_interaction_at})
    return changed


def refresh_customer(session: Session, customer: Customer, config, now: datetime | None = None) -> bool:
    """Score one customer (helper: flushes, never commits). True when a score changed."""
    session.flush()
    changed = score_customers(session, [customer], now or utcnow(), config)
    for row in changed:
        customer.lifetime_value, customer.churn_risk, customer.churn_risk_factors = \
            row["ltv"], row["risk"], row["factors"]
    return bool(changed)


_COLUMNS = (Customer.id, Customer.created_at, Customer.order_count, Customer.total_spent, Customer.first_order_at,
            Customer.last_order_at, Customer.last_interaction_at, Customer.lifetime_value, Customer.churn_risk,
            Customer.churn_risk_factors)


def refresh_all(session: Session, config, now: datetime | None = None) -> int:
    """Score every live customer in batches of 1000, one transaction each; returns how many changed."""
    now = now or utcnow()
    after, changed_total = None, 0
    table = Customer.__table__
    # Only where the activity the scores came from is unchanged: an event's job may have scored the
    # customer from newer data since this batch was read, and must not be overwritten with older.
    statement = update(table).where(
        table.c.id == bindparam("cid", type_=table.c.id.type),
        table.c.order_count == bindparam("seen_orders", type_=table.c.order_count.type),
        table.c.last_order_at.is_not_distinct_from(bindparam("seen_last_order", type_=table.c.last_order_at.type)),
        table.c.last_interaction_at.is_not_distinct_from(
            bindparam("seen_last_interaction", type_=table.c.last_interaction_at.type)),
    ).values(
        lifetime_value=bindparam("ltv", type_=table.c.lifetime_value.type),
        churn_risk=bindparam("risk", type_=table.c.churn_risk.type),
        churn_risk_factors=bindparam("factors", type_=table.c.churn_risk_factors.type))
    while True:
        with transaction(session):
            stmt = select(*_COLUMNS).where(Customer.merged_into_id.is_(None)).order_by(Customer.id).limit(BATCH)
            if after is not None:
                stmt = stmt.where(Customer.id > after)
            rows = session.execute(stmt).all()
            if not rows:
                return changed_total
            changed = score_customers(session, rows, now, config)
            if changed:
                session.connection().execute(statement, changed)
            changed_total += len(changed)
            after = rows[-1].id
