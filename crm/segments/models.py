"""Segments, their stored membership and its history, and service tier rules in the rule language."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, new_id, utcnow
from crm.enums import ServiceTier, enum_column


class SegmentKind(str, enum.Enum):
    DYNAMIC = "DYNAMIC"  # membership follows a rule
    STATIC = "STATIC"    # membership is added and removed by hand or by import


class MembershipChangeKind(str, enum.Enum):
    JOINED = "JOINED"
    LEFT = "LEFT"


class Segment(Base):
    __tablename__ = "segment"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Stored as given; name_key (lower-cased) makes names unique regardless of case.
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(String(2000))
    kind: Mapped[SegmentKind] = mapped_column(enum_column(SegmentKind))
    rule: Mapped[dict | None]
    # Kept in the transaction of every membership change, so reading it never counts members.
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    refreshed_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SegmentMembership(Base):
    """A current member. Leaving deletes the row; the history keeps the story."""

    __tablename__ = "segment_membership"
    __table_args__ = (Index("ix_segment_membership_customer", "customer_id", "segment_id"),)

    segment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("segment.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class SegmentMembershipChange(Base):
    __tablename__ = "segment_membership_change"
    __table_args__ = (
        Index("ix_segment_change_segment", "segment_id", "at", "id"),
        Index("ix_segment_change_customer", "customer_id", "at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    segment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("segment.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    change: Mapped[MembershipChangeKind] = mapped_column(enum_column(MembershipChangeKind))
    # Why: "rule" after an event ("rule: order.recorded"), "refresh", "added by hand", "merged", ...
    reason: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceTierRule(Base):
    """A tier's rule in the segment rule language; tiers without a row use the spend thresholds of the config."""

    __tablename__ = "service_tier_rule"

    service_tier: Mapped[ServiceTier] = mapped_column(enum_column(ServiceTier), primary_key=True)
    rule: Mapped[dict]
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
