"""Messages (a row first, then a job that carries its id), care rules as data, and periodic runs."""
from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, new_id, utcnow
from crm.enums import Channel, enum_column


class MessagePurpose(str, enum.Enum):
    """Why a message is sent. Consent applies to all but TRANSACTIONAL; the frequency cap to CARE and
    CAMPAIGN; quiet hours to all but TRANSACTIONAL."""

    CARE = "CARE"
    FOLLOW_UP = "FOLLOW_UP"
    CAMPAIGN = "CAMPAIGN"
    TRANSACTIONAL = "TRANSACTIONAL"


class MessageStatus(str, enum.Enum):
    """SCHEDULED waits for its time; QUEUED is with the senders; the rest are final."""

    SCHEDULED = "SCHEDULED"   # waits for scheduled_for; the dispatcher queues it when due
    QUEUED = "QUEUED"         # handed to the sender; claimed_at is set while a worker sends it
    SENT = "SENT"
    FAILED = "FAILED"
    SUPPRESSED = "SUPPRESSED"
    CANCELLED = "CANCELLED"


PENDING = (MessageStatus.SCHEDULED, MessageStatus.QUEUED)
# Messages that verify a portal's email change ("verify:email", "verify:email-taken"): never shown on a portal.
VERIFICATION_TRIGGER_PREFIX = "verify:"
SENDABLE_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.PUSH)


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_customer_created", "customer_id", "created_at", "id"),
        Index("ix_message_due", "status", "scheduled_for"),
        Index("ix_message_created", "created_at", "id"),
        Index("ix_message_trigger_status", "trigger", "status"),   # a campaign's messages (pause, cancel)
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    # Set for notifications to staff about a customer (complaint follow-up, SLA warnings): the
    # customer's consent, cap and quiet hours do not apply, and the customer's portal never shows them.
    staff_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    purpose: Mapped[MessagePurpose] = mapped_column(enum_column(MessagePurpose))
    # Where it goes instead of the customer's own address (an email change being verified).
    address: Mapped[str | None] = mapped_column(String(320))
    trigger: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    locale: Mapped[str | None] = mapped_column(String(35))
    status: Mapped[MessageStatus] = mapped_column(enum_column(MessageStatus))
    suppression_reason: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(2000))
    scheduled_for: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    payload_hash: Mapped[str | None] = mapped_column(String(64))
    context: Mapped[dict] = mapped_column(default=dict)
    actor: Mapped[str | None] = mapped_column(String(200))
    enqueued_at: Mapped[datetime | None]   # last handed to the queue
    claimed_at: Mapped[datetime | None]    # a worker is sending it (a lease: stale claims are re-sent)
    provider_ref: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CareRuleSetting(Base):
    """A care rule changed from its default (crm.messages.care.DEFAULT_RULES); absent rows are defaults."""

    __tablename__ = "care_rule"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool]
    delay_seconds: Mapped[int]
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    templates: Mapped[dict] = mapped_column(default=dict)   # locale ("" = default) -> template source
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PeriodicRun(Base):
    """The last run of each periodic job, for `crm periodic list`."""

    __tablename__ = "periodic_run"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(2000))
    runs: Mapped[int] = mapped_column(Integer, default=0)
