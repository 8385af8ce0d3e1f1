"""Reads of the loyalty domain, set-based: one statement for any number of accounts."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalty.models import LedgerEntry, LotConsumption, LoyaltyAccount


def _lot_remaining(customer_ids=None):
    used = select(LotConsumption.lot_id, func.sum(LotConsumption.points).label("used")).group_by(LotConsumption.lot_id)
    if customer_ids is not None:  # only their lots: the sums of the whole ledger would be read otherwise
        lots = select(LedgerEntry.id).where(LedgerEntry.customer_id.in_(customer_ids))
        used = used.where(LotConsumption.lot_id.in_(lots))
    used = used.subquery()
    return used, LedgerEntry.points - func.coalesce(used.c.used, 0)


def accounts_with_expired_lots(session: Session, now: datetime, customer_ids=None) -> list[uuid.UUID]:
    """Accounts (of ``customer_ids`` when given) with points left in a lot that expired by ``now``."""
    customer_ids = list(customer_ids) if customer_ids is not None else None
    used, remaining = _lot_remaining(customer_ids)
    stmt = (select(LedgerEntry.customer_id).outerjoin(used, used.c.lot_id == LedgerEntry.id)
            .where(LedgerEntry.points > 0, LedgerEntry.expires_at <= now, remaining > 0).distinct())
    if customer_ids is not None:
        stmt = stmt.where(LedgerEntry.customer_id.in_(customer_ids))
    return list(session.scalars(stmt))


def expiring_soon(session: Session, customer_ids, now: datetime, warning_days: int) -> dict:
    """Per customer: [(points, expires_at)] expiring within the window, soonest first."""
    used, remaining = _lot_remaining()
    stmt = (select(LedgerEntry.customer_id, LedgerEntry.expires_at, func.sum(remaining))
            .outerjoin(used, used.c.lot_id == LedgerEntry.id)
            .where(LedgerEntry.customer_id.in_(list(customer_ids)), LedgerEntry.points > 0, remaining > 0,
                   LedgerEntry.expires_at > now, LedgerEntry.expires_at <= now + timedelta(days=warning_days))
            .group_by(LedgerEntry.customer_id, LedgerEntry.expires_at)
            .order_by(LedgerEntry.customer_id, LedgerEntry.expires_at))
    out: dict = {cid: [] for cid in customer_ids}
    for customer_id, expires_at, points in session.execute(stmt):
        out[customer_id].append((int(points), expires_at))
    return out


def balance_differences(session: Session) -> list[dict]:
    """Accounts whose kept balance is not the sum of their entries, or whose last balance_after disagrees."""
    sums = (select(LedgerEntry.customer_id, func.sum(LedgerEntry.points).label("total"),
                   func.max(LedgerEntry.seq).label("last_seq")).group_by(LedgerEntry.customer_id).subquery())
    last = (select(LedgerEntry.customer_id, LedgerEntry.balance_after)
            .join(sums, (sums.c.customer_id == LedgerEntry.customer_id) & (sums.c.last_seq == LedgerEntry.seq))
            .subquery())
    stmt = (select(LoyaltyAccount.customer_id, LoyaltyAccount.balance, func.coalesce(sums.c.total, 0),
                   last.c.balance_after)
            .outerjoin(sums, sums.c.customer_id == LoyaltyAccount.customer_id)
            .outerjoin(last, last.c.customer_id == LoyaltyAccount.customer_id))
    problems = []
    for customer_id, balance, total, balance_after in session.execute(stmt):
        if balance != total or (balance_after is not None and balance_after != balance):
            problems.append({"customerId": str(customer_id), "balance": balance, "sumOfEntries": int(total),
                             "lastBalanceAfter": balance_after})
    return problems
