"""RFM scores: quintiles (1..5, 5 best) of recency, frequency and monetary value.

A buyer's score is 1 + 5 * (buyers strictly below) // buyers, capped at 5, so
ties share a score. ``refresh_all`` ranks the whole base in SQL and keeps the
four cut points of each dimension; ``score_customer`` then places one customer
against those cut points when an order arrives, in constant time whatever the
size of the base (before the first refresh it counts the base instead). So a
profile is right at once and the periodic refresh keeps everyone consistent.
Customers without orders have no scores.
"""
from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from crm.customers.models import Customer, RfmCutoffs
from crm.db import transaction, utcnow


_DIMENSIONS = (
    ("recency_score", Customer.last_order_at),
    ("frequency_score", Customer.order_count),
    ("monetary_score", Customer.total_spent),
)


def _buyers():
    return (Customer.merged_into_id.is_(None)) & (Customer.order_count > 0)


def _quintile(below: int, total: int) -> int:
    """The quintile (1..5) of a value with ``below`` buyers strictly below it out of ``total``."""
    return min(5, 1 + (5 * below) // max(total, 1))


def score_customer(session: Session, customer: Customer) -> None:
    """Score one customer (helper: flushes, never commits)."""
    if customer.order_count == 0:
        customer.recency_score = customer.frequency_score = customer.monetary_score = None
        return
    cutoffs = {row.dimension: row for row in session.scalars(select(RfmCutoffs))}
    if len(cutoffs) == len(_DIMENSIONS):
        for attr, column in _DIMENSIONS:
            value = getattr(customer, column.key)
            limits = [_load(column.key, v) for v in cutoffs[attr].cutoffs]
            setattr(customer, attr, 1 + sum(value > limit for limit in limits))
        return
    session.flush()
    total = session.scalar(select(func.count()).where(_buyers()))
    counts = session.execute(select(*[
        func.count(case((column < getattr(customer, column.key), 1)))
        for _, column in _DIMENSIONS
    ]).where(_buyers())).one()
    for (attr, _), below in zip(_DIMENSIONS, counts):
        setattr(customer, attr, _quintile(below, total))


def _dump(value):
    return value.isoformat() if isinstance(value, datetime) else str(value) if isinstance(value, Decimal) else value


def _load(key: str, value):
    if key == "last_order_at":
        return datetime.fromisoformat(value)
    if key == "total_spent":
        return Decimal(value)
    return int(value)


def _store_cutoffs(session: Session, total: int) -> None:
    """Cut point k (1..4) is the value at sorted position ceil(k * total / 5) - 1: a value above it
    has at least that many buyers strictly below, which is what score k + 1 needs."""
    session.query(RfmCutoffs).delete()
    if total == 0:
        return
    for attr, column in _DIMENSIONS:
        values = []
        for k in range(1, 5):
            position = math.ceil(k * total / 5) - 1
            values.append(_dump(session.scalar(select(column).where(_buyers()).order_by(column.asc())
                                               .offset(position).limit(1))))
        session.add(RfmCutoffs(dimension=attr, cutoffs=values, buyers=total, computed_at=utcnow()))


def refresh_all(session: Session) -> int:
    """Recompute every buyer's scores in one statement per dimension. Returns buyers scored."""
    with transaction(session):
        total = select(func.count()).where(_buyers()).scalar_subquery()
        for attr, column in _DIMENSIONS:
            below = func.rank().over(order_by=column.asc()) - 1
            ranked = (select(Customer.id.label("cid"), (1 + (5 * below) // total).label("score"))
                      .where(_buyers()).subquery())
            score = case((ranked.c.score > 5, 5), else_=ranked.c.score)
            session.execute(update(Customer).where(Customer.id == ranked.c.cid).values({attr: score}))
        session.execute(update(Customer).where(Customer.order_count == 0)
                        .values(recency_score=None, frequency_score=None, monetary_score=None))
        scored = session.scalar(select(func.count()).where(_buyers()))
        _store_cutoffs(session, scored)
    return scored
