"""Public loyalty services: each one transaction, idempotent on its key."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm import events
from crm.db import transaction, utcnow
from crm.errors import DomainError, Invalid
from loyalty import ledger, tiering
from loyalty.errors import LoyaltyErrorCode
from loyalty.models import EntryKind, LedgerEntry, LoyaltyAccount
from loyalty.settings import LoyaltySettings

log = logging.getLogger(__name__)


@dataclass
class PointsResult:
    entry: LedgerEntry
    account: LoyaltyAccount
    created: bool


def _check_points(points: int, *, allow_negative: bool = False) -> None:
    if points == 0 or (points < 0 and not allow_negative):
        raise Invalid("Points must be a positive whole number." if not allow_negative
                      else "Points must be a non-zero whole number.", "points")
    if abs(points) > 100_000_000:
        raise Invalid("At most 100,000,000 points in one entry.", "points")


# Keys the system writes itself (orders, reversals, expiry, cases, merges, rewardRedeem). A caller's key
# must not take one of them: "expire:<lot id>" would make that lot's expiry IDEMPOTENCY_MISMATCH, and so
# every later write to the account and every expiry run.
RESERVED_KEY_PREFIXES = ("order:", "reversal:", "expire:", "case:", "merge-in:", "merge-out:", "reward:")


def _check_text(reason: str, key: str) -> tuple[str, str]:
    reason, key = (reason or "").strip(), (key or "").strip()
    if not reason:
        raise DomainError(LoyaltyErrorCode.REQUIRED, "Give a reason.", "reason")
    if not key:
        raise DomainError(LoyaltyErrorCode.REQUIRED, "Give an idempotencyKey.", "idempotencyKey")
    if key.startswith(RESERVED_KEY_PREFIXES):
        raise Invalid(f"idempotencyKey may not start with {', '.join(RESERVED_KEY_PREFIXES)} (used by the system).",
                      "idempotencyKey")
    if len(key) > 200 or len(reason) > 500:
        raise Invalid("idempotencyKey is at most 200 and reason at most 500 characters.",
                      "idempotencyKey" if len(key) > 200 else "reason")
    return reason, key


def _write(session: Session, *, customer_id: uuid.UUID, kind: EntryKind, points: int, reason: str, key: str,
           actor: str | None, now: datetime | None, settings: LoyaltySettings | None,
           expires_at: datetime | None = None, qualifying: bool = False, case_id: uuid.UUID | None = None,
           order_id: uuid.UUID | None = None) -> PointsResult:
    now = now or utcnow()
    settings = settings or LoyaltySettings()  # defaults: entry points pass the app's (from_config)
    digest = ledger.payload_hash(kind=kind.value, points=points, reason=reason,
                                 expiresAt=expires_at.astimezone(timezone.utc).isoformat() if expires_at else None,
                                 case=str(case_id) if case_id else None, order=str(order_id) if order_id else None)
    with transaction(session):
        account = ledger.locked_account(session, customer_id)
        existing = ledger.replayed(session, customer_id, key, digest)
        if existing is not None:
            return PointsResult(existing, account, created=False)
        # After the replay check: a retry of an accepted request is answered even once its expiresAt has passed.
        if expires_at is not None and expires_at <= now:
            raise Invalid("expiresAt must be in the future.", "expiresAt")
        ledger.expire_lots(session, account, now)
        if points > 0 and expires_at is None:
            expires_at = ledger.default_expiry(now, settings.expiry_days)
        entry = ledger.append(session, account, kind=kind, points=points, key=key, digest=digest, now=now,
                              reason=reason, actor=actor, expires_at=expires_at,
                              qualifying_points=points if qualifying else 0,
                              case_id=case_id, order_id=order_id)
        if qualifying:
            tiering.apply_upgrade(session, account, now, settings)
        events.emit(session, "loyalty.points_changed", customerId=str(customer_id), entryId=str(entry.id),
                    kind=kind.value, points=points)
    return PointsResult(entry, account, created=True)


def earn_points(session: Session, *, customer_id: uuid.UUID, points: int, reason: str, idempotency_key: str,
                expires_at: datetime | None = None, actor: str | None = None, now: datetime | None = None,
                settings: LoyaltySettings | None = None) -> PointsResult:
    """Credit points earned outside an order (a review, a referral); they count towards tiers."""
    _check_points(points)
    reason, key = _check_text(reason, idempotency_key)
    return _write(session, customer_id=customer_id, kind=EntryKind.EARN, points=points, reason=reason, key=key,
                  actor=actor, now=now, settings=settings, expires_at=expires_at, qualifying=True)


def redeem_points(session: Session, *, customer_id: uuid.UUID, points: int, reason: str, idempotency_key: str,
                  actor: str | None = None, now: datetime | None = None,
                  settings: LoyaltySettings | None = None) -> PointsResult:
    """Spend points, soonest-expiring first; INSUFFICIENT_POINTS rather than a negative balance."""
    _check_points(points)
    reason, key = _check_text(reason, idempotency_key)
    return _write(session, customer_id=customer_id, kind=EntryKind.REDEEM, points=-points, reason=reason, key=key,
                  actor=actor, now=now, settings=settings)


def adjust_points(session: Session, *, customer_id: uuid.UUID, points: int, reason: str, idempotency_key: str,
                  actor: str | None = None, now: datetime | None = None,
                  settings: LoyaltySettings | None = None) -> PointsResult:
    """Add or remove points by hand; removal never takes the balance below zero. Not tier-qualifying."""
    _check_points(points, allow_negative=True)
    reason, key = _check_text(reason, idempotency_key)
    return _write(session, customer_id=customer_id, kind=EntryKind.ADJUST, points=points, reason=reason, key=key,
                  actor=actor, now=now, settings=settings)


def credit_compensation(session: Session, *, customer_id: uuid.UUID, case_id: uuid.UUID, points: int,
                        reason: str, actor: str | None = None, now: datetime | None = None,
                        settings: LoyaltySettings | None = None) -> PointsResult:
    """Compensation for a case: credited exactly once per case, whatever the number of calls."""
    _check_points(points)
    return _write(session, customer_id=customer_id, kind=EntryKind.COMPENSATION, points=points,
                  reason=reason or "service compensation", key=f"case:{case_id}:compensation", actor=actor,
                  now=now, settings=settings, case_id=case_id)


def run_expiry(session: Session, *, now: datetime | None = None, customer_ids=None) -> int:
    """Expire what is left of every expired lot (of ``customer_ids`` when given), once. Returns the
    EXPIRE entries written.

    One transaction per account; an account that fails is logged and left for the next run,
    never stopping the others.
    """
    from loyalty.queries import accounts_with_expired_lots
    now = now or utcnow()
    written = 0
    for customer_id in accounts_with_expired_lots(session, now, customer_ids):
        try:
            with transaction(session):
                account = ledger.locked_account(session, customer_id)
                written += len(ledger.expire_lots(session, account, now))
        except Exception:
            log.exception("loyalty expiry failed for customer %s; retried next run", customer_id)
    return written


def review_tiers(session: Session, *, now: datetime | None = None, settings: LoyaltySettings | None = None,
                 customer_ids=None) -> int:
    """The periodic tier review of every account (of ``customer_ids`` when given). Returns the tier changes made."""
    now = now or utcnow()
    settings = settings or LoyaltySettings()  # defaults: entry points pass the app's (from_config)
    accounts = select(LoyaltyAccount.customer_id)
    if customer_ids is not None:
        accounts = accounts.where(LoyaltyAccount.customer_id.in_(list(customer_ids)))
    changes = 0
    for customer_id in session.scalars(accounts).all():
        with transaction(session):
            account = ledger.locked_account(session, customer_id)
            changes += tiering.review(session, account, now, settings) is not None
    return changes
