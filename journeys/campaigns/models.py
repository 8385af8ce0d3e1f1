"""Campaigns and the journeys customers take through them.

A campaign's definition (audience, content, schedule or trigger, steps) is JSON on its row, checked by
``definition.py``. Who is in it lives in rows: an entry per (campaign, customer, entry key), a step run per
(entry, step) and, for scheduled campaigns, a run per (occurrence, timezone) that was planned.
"""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, new_id, utcnow
from crm.enums import enum_column
from crm.messages.models import MessagePurpose


class CampaignStatus(str, enum.Enum):
    DRAFT = "DRAFT"            # being written; nothing happens
    RUNNING = "RUNNING"        # planning its schedule or listening for its trigger; entries advance
    PAUSED = "PAUSED"          # nothing new is planned, entered or sent; resume continues
    COMPLETED = "COMPLETED"    # a one-off whose every timezone ran and every entry finished
    CANCELLED = "CANCELLED"    # final: entries cancelled, unsent messages withdrawn


class EntryStatus(str, enum.Enum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"    # went through the last step
    EXITED = "EXITED"          # taken out: exit criteria, an EXIT step, left the audience
    CANCELLED = "CANCELLED"    # the campaign was cancelled


class Campaign(Base):
    __tablename__ = "campaign"
    __table_args__ = (Index("ix_campaign_status_trigger", "status", "trigger_kind"),
                      Index("ix_campaign_created", "created_at", "id"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[CampaignStatus] = mapped_column(enum_column(CampaignStatus), default=CampaignStatus.DRAFT)
    purpose: Mapped[MessagePurpose] = mapped_column(enum_column(MessagePurpose))
    audience: Mapped[dict] = mapped_column(default=dict)
    # SQL NULL, not JSON null, when absent: "has a schedule" is a plain IS NOT NULL.
    schedule: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    trigger: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    trigger_kind: Mapped[str | None] = mapped_column(String(32))   # copied out of ``trigger`` to find listeners
    steps: Mapped[list] = mapped_column(default=list)
    exit_on_order: Mapped[bool] = mapped_column(default=False)
    exit_rule: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    reentry: Mapped[str] = mapped_column(String(16), default="NEVER")   # NEVER | COOLDOWN
    cooldown_seconds: Mapped[int] = mapped_column(Integer, default=0)
    conversion_window_seconds: Mapped[int] = mapped_column(Integer, default=7 * 86400)
    # Occurrences before this instant are never planned: set when the campaign is scheduled, rescheduled
    # or resumed, so a change of schedule does not replay the past.
    plan_from: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(200))
    updated_by: Mapped[str | None] = mapped_column(String(200))
    # Who last wrote the steps (the content), and in which role.
    content_by: Mapped[str | None] = mapped_column(String(200))
    content_role: Mapped[str | None] = mapped_column(String(32))
    # Set to the actor when a role that sees contact details masked writes, schedules or resumes the
    # campaign; cleared when an unmasked role saves the steps. Set: templates render with email and phone
    # masked (a marketer cannot put `{{ customer.email }}` into a link and read it back).
    masked_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    scheduled_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class CampaignRun(Base):
    """One occurrence of a schedule planned in one timezone ("*" for an absolute instant). Inserting it
    is the claim: two schedulers planning the same occurrence write one run and one set of entries."""

    __tablename__ = "campaign_run"
    __table_args__ = (UniqueConstraint("campaign_id", "period", "zone"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(40))      # "once", a local date, or a cron wall time
    zone: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    planned_at: Mapped[datetime] = mapped_column(default=utcnow)
    entered: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[bool] = mapped_column(default=False)   # found too late to send (workers were down)


class CampaignEntry(Base):
    """A customer's pass through a campaign. ``entry_key`` names why they entered (the occurrence, the
    trigger event; "once" when the campaign allows no re-entry), so the same reason never enters twice."""

    __tablename__ = "campaign_entry"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "entry_key"),
        # At most one active pass per customer and campaign, whatever the reasons to enter.
        Index("ux_campaign_entry_active", "campaign_id", "customer_id", unique=True,
              postgresql_where=text("status = 'ACTIVE'"), sqlite_where=text("status = 'ACTIVE'")),
        Index("ix_campaign_entry_due", "status", "next_action_at"),
        Index("ix_campaign_entry_customer", "customer_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    entry_key: Mapped[str] = mapped_column(String(120))
    status: Mapped[EntryStatus] = mapped_column(enum_column(EntryStatus), default=EntryStatus.ACTIVE)
    step_key: Mapped[str | None] = mapped_column(String(64))      # the next step to run
    next_action_at: Mapped[datetime | None]
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    exit_reason: Mapped[str | None] = mapped_column(String(64))
    exit_step: Mapped[str | None] = mapped_column(String(64))


class CampaignStepRun(Base):
    """An entry passing a step: at most one per (entry, step), so a step runs once per entry. A SEND step
    links the message it wrote; ``converted_at`` is set by the first order within the conversion window."""

    __tablename__ = "campaign_step_run"
    __table_args__ = (UniqueConstraint("entry_id", "step_key"),
                      Index("ix_campaign_step_run_campaign", "campaign_id", "step_key"),
                      Index("ix_campaign_step_run_customer", "customer_id"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaign_entry.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    step_key: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    converted_at: Mapped[datetime | None]
    converted_order_id: Mapped[uuid.UUID | None]
