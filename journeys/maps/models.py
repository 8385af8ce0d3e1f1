"""Journey maps and their touchpoints, and the two rollups per (customer, touchpoint).

Interactions are the raw facts (journeys.interactions.models). The rollups are kept in the same
transaction as every interaction insert, so the all-time journey map reads customers x touchpoints
rows instead of every interaction (docs/journeys.md).
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, new_id, utcnow
from crm.enums import Channel, enum_column


class JourneyMap(Base):
    __tablename__ = "journey_map"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    stages: Mapped[list] = mapped_column(default=list)  # ordered stage names
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Touchpoint(Base):
    __tablename__ = "touchpoint"
    __table_args__ = (Index("ix_touchpoint_map_stage", "journey_map_key", "stage_position", "key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    journey_map_key: Mapped[str] = mapped_column(ForeignKey("journey_map.key"))
    stage: Mapped[str] = mapped_column(String(64))
    # The stage's index in its map when the touchpoint was made: maps only ever append stages.
    stage_position: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerTouchpointRollup(Base):
    """What one customer did at one touchpoint, all time; maintained with every interaction insert."""

    __tablename__ = "journey_customer_touchpoint"
    __table_args__ = (Index("ix_journey_rollup_touchpoint", "touchpoint_id", "customer_id"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    touchpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("touchpoint.id"), primary_key=True)
    interactions: Mapped[int] = mapped_column(default=0)
    emotion_sum: Mapped[int] = mapped_column(default=0)
    emotion_count: Mapped[int] = mapped_column(default=0)
    pain_interactions: Mapped[int] = mapped_column(default=0)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]


class CustomerPainPointRollup(Base):
    __tablename__ = "journey_customer_pain_point"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    touchpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("touchpoint.id"), primary_key=True)
    pain_point: Mapped[str] = mapped_column(String(80), primary_key=True)
    occurrences: Mapped[int] = mapped_column(default=0)
