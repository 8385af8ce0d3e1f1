"""The ledger's one write path. Helpers here take the session and flush; callers own the transaction.

Every entry is appended under a lock on the account row (PostgreSQL), so
concurrent writes to one account are serialised and the balance can never go
below zero; lots are consumed soonest-expiring first.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm.customers.services import require_customer
from crm.db import lock_for_update
from crm.errors import DomainError
from loyalty.errors import LoyaltyErrorCode
from loyalty.models import EntryKind, LedgerEntry, LotConsumption, LoyaltyAccount, LoyaltyTier

POSITIVE_KINDS = (EntryKind.EARN, EntryKind.COMPENSATION, EntryKind.ADJUST)


def payload_hash(**payload) -> str:
    canonical = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def entry_tier(session: Session) -> LoyaltyTier:
    return session.scalars(select(LoyaltyTier).order_by(LoyaltyTier.rank).limit(1)).one()


def locked_account(session: Session, customer_id: uuid.UUID, field: str = "customerId") -> LoyaltyAccount:
    """The customer's account, created on first use, locked for this transaction."""
    require_customer(session, customer_id, field)
    stmt = lock_for_update(select(LoyaltyAccount).where(LoyaltyAccount.customer_id == customer_id), session)
    account = session.scalars(stmt).first()
    if account is not None:
        return account
    try:
        with session.begin_nested():
            session.add(LoyaltyAccount(customer_id=customer_id, tier_key=entry_tier(session).key))
    except IntegrityError:
        pass  # created concurrently: lock theirs
    return session.scalars(stmt.execution_options(populate_existing=True)).one()


def replayed(session: Session, customer_id: uuid.UUID, key: str, digest: str) -> LedgerEntry | None:
    """The entry an idempotency key already produced; IDEMPOTENCY_MISMATCH if its payload differs."""
    entry = session.scalars(select(LedgerEntry).where(LedgerEntry.customer_id == customer_id,
                                                      LedgerEntry.idempotency_key == key)).first()
    if entry is not None and entry.payload_hash != digest:
        raise DomainError(LoyaltyErrorCode.IDEMPOTENCY_MISMATCH,
                          "This idempotencyKey was already used for a different request.", "idempotencyKey")
    return entry


@dataclass
class Lot:
    entry: LedgerEntry
    remaining: int


def open_lots(session: Session, customer_id: uuid.UUID) -> list[Lot]:
    """Lots with points left, soonest expiry first (then oldest)."""
    used = (select(LotConsumption.lot_id, func.sum(LotConsumption.points).label("used"))
            .join(LedgerEntry, LedgerEntry.id == LotConsumption.lot_id)
            .where(LedgerEntry.customer_id == customer_id).group_by(LotConsumption.lot_id).subquery())
    remaining = LedgerEntry.points - func.coalesce(used.c.used, 0)
    rows = session.execute(
        select(LedgerEntry, remaining).outerjoin(used, used.c.lot_id == LedgerEntry.id)
        .where(LedgerEntry.customer_id == customer_id, LedgerEntry.points > 0, remaining > 0)
        .order_by(LedgerEntry.expires_at.is_(None), LedgerEntry.expires_at, LedgerEntry.seq)).all()
    return [Lot(entry, int(left)) for entry, left in rows]


def append(session: Session, account: LoyaltyAccount, *, kind: EntryKind, points: int, key: str, digest: str,
           now: datetime, reason: str | None, actor: str | None, expires_at: datetime | None = None,
           order_id: uuid.UUID | None = None, case_id: uuid.UUID | None = None, qualifying_points: int = 0,
           qualifies_at: datetime | None = None,
           consume: list[tuple[LedgerEntry, int]] | None = None) -> LedgerEntry:
    """Append one entry to a locked account, keeping the balance and the lots consistent.

    A negative entry consumes ``consume`` when given (expiry, reversal of a given lot),
    otherwise open lots soonest-expiring first. INSUFFICIENT_POINTS if they do not cover it.
    """
    if points < 0 and account.balance + points < 0:
        raise DomainError(LoyaltyErrorCode.INSUFFICIENT_POINTS,
                          f"The balance is {account.balance} points; {-points} are needed.", "points")
    seq = (session.scalar(select(func.max(LedgerEntry.seq)).where(LedgerEntry.customer_id == account.customer_id))
           or 0) + 1
    account.balance += points
    if points > 0 and kind in POSITIVE_KINDS:
        account.lifetime_earned += points
    elif kind == EntryKind.REVERSAL:
        account.lifetime_earned += points
    account.updated_at = now
    entry = LedgerEntry(id=uuid.uuid4(), seq=seq, customer_id=account.customer_id, kind=kind, points=points,
                        balance_after=account.balance, reason=reason, idempotency_key=key, payload_hash=digest,
                        occurred_at=now, expires_at=expires_at if points > 0 else None, order_id=order_id,
                        case_id=case_id, qualifying_points=qualifying_points, actor=actor,
                        qualifies_at=(qualifies_at or now) if qualifying_points else None)
    session.add(entry)
    if points < 0:
        plan = consume if consume is not None else _plan_consumption(session, account.customer_id, -points, now)
        if sum(take for _, take in plan) != -points:
            raise DomainError(LoyaltyErrorCode.INSUFFICIENT_POINTS,
                              "Not enough unexpired points to cover this.", "points")
        for lot, take in plan:
            session.add(LotConsumption(entry_id=entry.id, lot_id=lot.id, points=take))
    session.flush()
    return entry


def _plan_consumption(session: Session, customer_id: uuid.UUID, needed: int, now: datetime):
    plan = []
    for lot in open_lots(session, customer_id):
        if needed == 0:
            break
        if lot.entry.expires_at is not None and lot.entry.expires_at <= now:
            continue  # expired lots are only ever consumed by their EXPIRE entry
        take = min(lot.remaining, needed)
        plan.append((lot.entry, take))
        needed -= take
    return plan


def expire_lots(session: Session, account: LoyaltyAccount, now: datetime) -> list[LedgerEntry]:
    """EXPIRE entries for what is left of this account's expired lots; each lot expires once."""
    written = []
    for lot in open_lots(session, account.customer_id):
        if lot.entry.expires_at is None or lot.entry.expires_at > now:
            continue
        key = f"expire:{lot.entry.id}"
        digest = payload_hash(kind="EXPIRE", lot=str(lot.entry.id))
        if replayed(session, account.customer_id, key, digest) is not None:
            continue
        written.append(append(session, account, kind=EntryKind.EXPIRE, points=-lot.remaining, key=key,
                              digest=digest, now=now, reason=f"expired: points credited {lot.entry.occurred_at:%Y-%m-%d}",
                              actor="system", consume=[(lot.entry, lot.remaining)]))
    return written


def default_expiry(now: datetime, days: int) -> datetime:
    return now + timedelta(days=days)
