"""The rewards catalogue and redemptions: points spent and stock taken in one transaction."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm import events
from crm.db import lock_for_update, transaction, utcnow
from crm.errors import DomainError, Invalid, NotFound
from loyalty import ledger
from loyalty.errors import LoyaltyErrorCode
from loyalty.models import EntryKind, LoyaltyTier, Reward, RewardRedemption


KEY_PREFIX = "reward:"  # a redemption's ledger entry is keyed "reward:<idempotencyKey>"
MAX_KEY = 200  # loyalty_ledger_entry.idempotency_key


@dataclass
class RedemptionResult:
    redemption: RewardRedemption
    reward: Reward
    created: bool


def create_reward(session: Session, *, name: str, cost: int, description: str | None = None,
                  stock: int | None = None, active_from: datetime | None = None,
                  active_until: datetime | None = None, min_tier_key: str | None = None) -> Reward:
    if not (name or "").strip():
        raise DomainError(LoyaltyErrorCode.REQUIRED, "A reward needs a name.", "name")
    if len(name.strip()) > 200:
        raise Invalid("A reward's name is at most 200 characters.", "name")
    if description is not None and len(description) > 1000:
        raise Invalid("A reward's description is at most 1000 characters.", "description")
    if cost <= 0:
        raise Invalid("Cost is a positive number of points.", "cost")
    if stock is not None and stock < 0:
        raise Invalid("Stock cannot be negative.", "stock")
    if active_from and active_until and active_until <= active_from:
        raise Invalid("activeUntil must be after activeFrom.", "activeUntil")
    with transaction(session):
        if min_tier_key is not None and session.get(LoyaltyTier, min_tier_key) is None:
            raise NotFound(f"No loyalty tier has the key {min_tier_key}.", "minTier")
        reward = Reward(id=uuid.uuid4(), name=name.strip(), description=description, cost=cost, stock=stock,
                        active_from=active_from, active_until=active_until, min_tier_key=min_tier_key)
        session.add(reward)
    return reward


def redeem_reward(session: Session, *, customer_id: uuid.UUID, reward_id: uuid.UUID, idempotency_key: str,
                  actor: str | None = None, now: datetime | None = None) -> RedemptionResult:
    """Spend the reward's cost and take one from stock, once per idempotency key."""
    now = now or utcnow()
    key = (idempotency_key or "").strip()
    if not key:
        raise DomainError(LoyaltyErrorCode.REQUIRED, "Give an idempotencyKey.", "idempotencyKey")
    if len(KEY_PREFIX + key) > MAX_KEY:  # the entry keeps "reward:<key>" in a column of 200 characters
        raise Invalid(f"idempotencyKey is at most {MAX_KEY - len(KEY_PREFIX)} characters.", "idempotencyKey")
    with transaction(session):
        account = ledger.locked_account(session, customer_id)
        reward = session.scalars(lock_for_update(select(Reward).where(Reward.id == reward_id), session)).first()
        if reward is None:
            raise NotFound("No reward has this id.", "rewardId")
        digest = ledger.payload_hash(kind="REDEEM", reward=str(reward.id))
        existing = ledger.replayed(session, customer_id, KEY_PREFIX + key, digest)
        if existing is not None:
            redemption = session.scalars(select(RewardRedemption).where(RewardRedemption.entry_id == existing.id)).one()
            return RedemptionResult(redemption, reward, created=False)
        if (reward.active_from and now < reward.active_from) or (reward.active_until and now >= reward.active_until):
            raise DomainError(LoyaltyErrorCode.REWARD_INACTIVE, "This reward is not available now.", "rewardId")
        if reward.stock is not None and reward.stock <= 0:
            raise DomainError(LoyaltyErrorCode.OUT_OF_STOCK, "This reward is out of stock.", "rewardId")
        if reward.min_tier_key is not None:
            needed = session.get(LoyaltyTier, reward.min_tier_key)
            if session.get(LoyaltyTier, account.tier_key).rank < needed.rank:
                raise DomainError(LoyaltyErrorCode.TIER_TOO_LOW,
                                  f"This reward needs the {needed.name} tier or higher.", "rewardId")
        ledger.expire_lots(session, account, now)
        entry = ledger.append(session, account, kind=EntryKind.REDEEM, points=-reward.cost, key=KEY_PREFIX + key,
                              digest=digest, now=now, reason=f"reward: {reward.name}", actor=actor)
        if reward.stock is not None:
            reward.stock -= 1
        redemption = RewardRedemption(id=uuid.uuid4(), reward_id=reward.id, customer_id=customer_id,
                                      entry_id=entry.id, points=reward.cost, redeemed_at=now)
        session.add(redemption)
        events.emit(session, "loyalty.reward_redeemed", customerId=str(customer_id), rewardId=str(reward.id))
    return RedemptionResult(redemption, reward, created=True)
