"""Membership tiers: upgrade at once when qualifying points reach a tier, downgrade only at review."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm import events
from crm.db import new_id
from loyalty.models import LedgerEntry, LoyaltyAccount, LoyaltyTier, TierChange
from loyalty.settings import LoyaltySettings


def all_tiers(session: Session) -> list[LoyaltyTier]:
    return list(session.scalars(select(LoyaltyTier).order_by(LoyaltyTier.rank)))


def qualifying_points(session: Session, customer_id: uuid.UUID, now: datetime, settings: LoyaltySettings) -> int:
    since = now - timedelta(days=settings.qualifying_window_days)
    total = session.scalar(select(func.coalesce(func.sum(LedgerEntry.qualifying_points), 0)).where(
        LedgerEntry.customer_id == customer_id, LedgerEntry.qualifying_points != 0, LedgerEntry.qualifies_at > since,
        LedgerEntry.qualifies_at <= now))
    return max(int(total), 0)


def earned_tier(tiers: list[LoyaltyTier], qualifying: int) -> LoyaltyTier:
    reached = [t for t in tiers if t.qualifying_points <= qualifying]
    return reached[-1] if reached else tiers[0]


def _change(session: Session, account: LoyaltyAccount, to: LoyaltyTier, reason: str, now: datetime) -> TierChange:
    change = TierChange(id=new_id(), customer_id=account.customer_id, from_tier=account.tier_key, to_tier=to.key,
                        reason=reason, at=now)
    session.add(change)
    events.emit(session, "loyalty.tier_changed", customerId=str(account.customer_id), changeId=str(change.id),
                fromTier=account.tier_key, toTier=to.key, reason=reason, at=now.isoformat())
    account.tier_key = to.key
    account.below_tier_since = None
    return change


def apply_upgrade(session: Session, account: LoyaltyAccount, now: datetime, settings: LoyaltySettings) -> None:
    """Upgrade at once to the highest tier the qualifying points reach (never downgrades)."""
    session.flush()
    tiers = all_tiers(session)
    rank = {t.key: t.rank for t in tiers}
    points = qualifying_points(session, account.customer_id, now, settings)
    target = earned_tier(tiers, points)
    if target.rank > rank[account.tier_key]:
        _change(session, account, target, f"upgrade: {points} qualifying points reach {target.name}", now)
    elif target.rank == rank[account.tier_key]:
        account.below_tier_since = None


def review(session: Session, account: LoyaltyAccount, now: datetime, settings: LoyaltySettings) -> TierChange | None:
    """The periodic review of one account: upgrades, and downgrades one tier after the grace period."""
    tiers = all_tiers(session)
    by_key = {t.key: t for t in tiers}
    current = by_key[account.tier_key]
    points = qualifying_points(session, account.customer_id, now, settings)
    target = earned_tier(tiers, points)
    if target.rank > current.rank:
        return _change(session, account, target, f"upgrade: {points} qualifying points reach {target.name}", now)
    if target.rank == current.rank:
        account.below_tier_since = None
        return None
    if account.below_tier_since is None:
        account.below_tier_since = now
        return None
    if now - account.below_tier_since < timedelta(days=settings.downgrade_grace_days):
        return None
    one_down = tiers[[t.key for t in tiers].index(current.key) - 1]
    change = _change(session, account, one_down,
                     f"downgrade after {settings.downgrade_grace_days} days below {current.name}: "
                     f"{points} qualifying points", now)
    if earned_tier(tiers, points).rank < one_down.rank:
        account.below_tier_since = now  # still below: the next step needs another full grace period
    return change
