"""Interactions: what a customer did at a touchpoint, with the pain points they met there."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, new_id, utcnow
from crm.enums import Channel, enum_column


class Interaction(Base):
    __tablename__ = "interaction"
    __table_args__ = (
        Index("ix_interaction_timeline", "customer_id", "occurred_at", "id"),
        Index("ix_interaction_channel_timeline", "customer_id", "channel", "occurred_at", "id"),
        Index("ix_interaction_map_period", "journey_map_key", "occurred_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    touchpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("touchpoint.id"))
    # Copied from the touchpoint (which never changes) so analytics group without a join.
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    journey_map_key: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    emotion: Mapped[int | None]
    pain_points: Mapped[list] = mapped_column(default=list)
    note: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    payload_hash: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("service_case.id"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class InteractionPainPoint(Base):
    """One row per (interaction, pain point): the pain points of a period are counted in SQL."""

    __tablename__ = "interaction_pain_point"

    interaction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("interaction.id", ondelete="CASCADE"),
                                                      primary_key=True)
    pain_point: Mapped[str] = mapped_column(String(80), primary_key=True)
