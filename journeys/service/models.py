"""The service process: SLA policies, cases with their history, and survey responses."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, new_id, utcnow
from crm.enums import Channel, ServiceTier, enum_column, named_enum


CaseKind = named_enum("CaseKind", "INQUIRY COMPLAINT REPAIR RETURN FEEDBACK", __name__)


CaseStatus = named_enum("CaseStatus", "RECEIVED DIAGNOSING SOLUTION_PROPOSED RESOLVED FOLLOWED_UP CLOSED", __name__)


CaseEventKind = named_enum("CaseEventKind", "OPENED RESPONSE TRANSITION RESOLVED REOPENED ASSIGNED", __name__)


SurveyKind = named_enum("SurveyKind", "CSAT NPS CES", __name__)


class SlaPolicy(Base):
    """Response and resolution targets of a service tier, optionally counted in business hours only."""

    __tablename__ = "sla_policy"

    service_tier: Mapped[ServiceTier] = mapped_column(enum_column(ServiceTier), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    first_response_minutes: Mapped[int]
    resolution_minutes: Mapped[int]
    # {"timezone": "Europe/Berlin", "weekdays": [0..6, Monday = 0], "start": "09:00", "end": "17:00",
    #  "holidays": ["2026-12-25"]}; null: the clock runs around the clock.
    business_hours: Mapped[dict | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Case(Base):
    __tablename__ = "service_case"
    __table_args__ = (
        Index("ix_case_customer", "customer_id", "opened_at", "id"),
        Index("ix_case_queue", "status", "opened_at", "id"),
        Index("ix_case_opened", "opened_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    kind: Mapped[CaseKind] = mapped_column(enum_column(CaseKind))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[CaseStatus] = mapped_column(enum_column(CaseStatus))
    priority: Mapped[int]
    service_tier: Mapped[ServiceTier] = mapped_column(enum_column(ServiceTier))  # when opened
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"),
                                                          index=True)
    opened_at: Mapped[datetime]
    first_responded_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # SLA clocks, fixed when the case opens (business hours already applied), so queues filter in SQL.
    sla_policy: Mapped[str] = mapped_column(String(100))
    first_response_due_at: Mapped[datetime]
    first_response_at_risk_at: Mapped[datetime]
    resolution_due_at: Mapped[datetime]
    resolution_at_risk_at: Mapped[datetime]
    # Alerts already raised ("firstResponse:AT_RISK", "resolution:BREACHED", ...) and when the next is due:
    # the periodic SLA sweep reads only cases whose next check has come (indexed), and never alerts twice.
    sla_alerts: Mapped[list] = mapped_column(default=list)
    sla_next_check_at: Mapped[datetime | None] = mapped_column(index=True)
    reopen_count: Mapped[int] = mapped_column(default=0)
    first_contact_resolution: Mapped[bool | None]
    root_cause: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(Text)
    compensation_points: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseEvent(Base):
    __tablename__ = "service_case_event"
    __table_args__ = (Index("ix_case_event_case", "case_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service_case.id", ondelete="CASCADE"))
    seq: Mapped[int]
    kind: Mapped[CaseEventKind] = mapped_column(enum_column(CaseEventKind))
    at: Mapped[datetime]
    from_status: Mapped[CaseStatus | None] = mapped_column(enum_column(CaseStatus))
    to_status: Mapped[CaseStatus] = mapped_column(enum_column(CaseStatus))
    actor: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)


class SurveyResponse(Base):
    __tablename__ = "survey_response"
    __table_args__ = (
        # One response per (customer, kind, case); "-" stands for "no case", which NULL would not dedupe.
        UniqueConstraint("customer_id", "kind", "case_key", name="uq_survey_once"),
        Index("ix_survey_customer", "customer_id", "submitted_at", "id"),
        Index("ix_survey_kind_submitted", "kind", "submitted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    kind: Mapped[SurveyKind] = mapped_column(enum_column(SurveyKind))
    score: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("service_case.id"), index=True)
    case_key: Mapped[str] = mapped_column(String(60))
    channel: Mapped[Channel | None] = mapped_column(enum_column(Channel))  # the case's channel, for filters
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
