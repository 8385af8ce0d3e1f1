"""The loyalty ledger: append-only entries, lots consumed soonest-expiring first, tiers as data.

An entry is never updated or deleted. What a lot (a positive entry) has left is
its points minus what later entries consumed of it (``LotConsumption``), so
spending history stays append-only too. The account row keeps the balance in
the same transaction as every entry; ``crm loyalty verify`` proves they agree.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, new_id, utcnow
from crm.enums import enum_column, named_enum


EntryKind = named_enum("EntryKind", "EARN REDEEM EXPIRE ADJUST REVERSAL COMPENSATION", __name__)


class LoyaltyTier(Base):
    __tablename__ = "loyalty_tier"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(unique=True)
    qualifying_points: Mapped[int]
    earn_multiplier: Mapped[Decimal]
    benefits: Mapped[list] = mapped_column(default=list)


class LoyaltyAccount(Base):
    __tablename__ = "loyalty_account"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    balance: Mapped[int] = mapped_column(default=0)
    lifetime_earned: Mapped[int] = mapped_column(default=0)
    tier_key: Mapped[str] = mapped_column(ForeignKey("loyalty_tier.key"))
    # When the qualifying points first fell below the current tier: the downgrade grace starts here.
    below_tier_since: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    __tablename__ = "loyalty_ledger_entry"
    __table_args__ = (
        UniqueConstraint("customer_id", "idempotency_key", name="uq_loyalty_entry_idempotency"),
        Index("ix_loyalty_entry_customer", "customer_id", "occurred_at", "seq"),
        Index("ix_loyalty_entry_lots", "customer_id", "expires_at"),
        # The next seq is max(seq) + 1 under the account lock: read off this index, not every entry.
        UniqueConstraint("customer_id", "seq", name="uq_loyalty_entry_seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Order of entries within an account: balance_after follows this sequence.
    seq: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    kind: Mapped[EntryKind] = mapped_column(enum_column(EntryKind))
    points: Mapped[int]  # signed
    balance_after: Mapped[int]
    reason: Mapped[str | None] = mapped_column(String(500))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    payload_hash: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]  # set on lots (positive entries)
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customer_order.id"), index=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(index=True)  # the journeys domain owns cases
    # What this entry adds to tier qualification: an order's points, and minus all of them when the
    # order is refunded (even if its balance points were already spent); 0 for everything else.
    qualifying_points: Mapped[int] = mapped_column(default=0)
    # When those qualifying points were earned: the rolling window counts from here, so a refund's
    # reversal leaves the window together with the points it cancels, and a merge keeps dates.
    qualifies_at: Mapped[datetime | None]
    actor: Mapped[str | None] = mapped_column(String(200))


class LotConsumption(Base):
    """``points`` of lot ``lot_id`` consumed by entry ``entry_id`` (a negative entry)."""

    __tablename__ = "loyalty_lot_consumption"

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_ledger_entry.id"), primary_key=True)
    lot_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_ledger_entry.id"), primary_key=True, index=True)
    points: Mapped[int]


class TierChange(Base):
    __tablename__ = "loyalty_tier_change"
    __table_args__ = (Index("ix_loyalty_tier_change_customer", "customer_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    from_tier: Mapped[str | None] = mapped_column(String(50))
    to_tier: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class EarningRule(Base):
    """A bonus rule, as data: when ``condition`` holds for an order, add points.

    condition: "first_order" | "birthday_month" | "channel" (``value`` names the channel)
    | "min_amount" (``value`` is the amount in the base currency).
    Bonus = ``bonus_points`` + ``extra_rate`` x the order's base points.
    """

    __tablename__ = "loyalty_earning_rule"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    description: Mapped[str] = mapped_column(String(300))
    condition: Mapped[str] = mapped_column(String(30))
    value: Mapped[str | None] = mapped_column(String(100))
    bonus_points: Mapped[int] = mapped_column(default=0)
    extra_rate: Mapped[Decimal] = mapped_column(default=Decimal(0))
    active: Mapped[bool] = mapped_column(default=True)


class Reward(Base):
    __tablename__ = "loyalty_reward"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1000))
    cost: Mapped[int]
    stock: Mapped[int | None]  # None: unlimited
    active_from: Mapped[datetime | None]
    active_until: Mapped[datetime | None]
    min_tier_key: Mapped[str | None] = mapped_column(ForeignKey("loyalty_tier.key"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RewardRedemption(Base):
    __tablename__ = "loyalty_reward_redemption"
    __table_args__ = (Index("ix_loyalty_redemption_customer", "customer_id", "redeemed_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    reward_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_reward.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("loyalty_ledger_entry.id"), unique=True)
    points: Mapped[int]
    redeemed_at: Mapped[datetime] = mapped_column(default=utcnow)
