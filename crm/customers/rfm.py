"""RFM scores: quintiles (1..5, 5 best) of recency, frequency and monetary value.

A buyer's score is 1 + 5 * (buyers strictly below) // buyers, capped at 5, so
ties share a score. ``refresh_all`` ranks the whole base in SQL; ``score_customer``
places one customer against the current base when an order arrives, so a
profile is right at once and the periodic refresh keeps everyone consistent.
Customers without orders have no scores.
"""
from __future__ import annotations

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from crm.customers.models import Customer
from crm.db import transaction

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
    """Score one customer against the current base (helper: flushes, never commits)."""
    if customer.order_count == 0:
        customer.recency_score = customer.frequency_score = customer.monetary_score = None
        return
    session.flush()
    total = session.scalar(select(func.count()).where(_buyers()))
    counts = session.execute(select(*[
        func.count(case((column < getattr(customer, column.key), 1)))
        for _, column in _DIMENSIONS
    ]).where(_buyers())).one()
    for (attr, _), below in zip(_DIMENSIONS, counts):
        setattr(customer, attr, _quintile(below, total))


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
    return scored
