from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, new_id, utcnow
from crm.enums import Channel, LifecycleStage, ServiceTier, enum_column, named_enum


class Customer(Base):
    __tablename__ = "customer"
    __table_args__ = (
        Index("ix_customer_created", "created_at", "id"),
        Index("ix_customer_last_name", "last_name_key", "id"),
        Index("ix_customer_total_spent", "total_spent", "id"),
        Index("ix_customer_last_interaction", "last_interaction_at", "id"),
        Index("ix_customer_stage", "lifecycle_stage"),
        Index("ix_customer_tier", "service_tier"),
        Index("ix_customer_phone", "phone"),
        Index("ix_customer_first_name_key", "first_name_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    # Stored normalised (trimmed, lower-case), so the unique index is case-insensitive.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))  # E.164
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    # Lower-cased copies for case-insensitive prefix search and ordering on both databases.
    first_name_key: Mapped[str] = mapped_column(String(200), default="")
    last_name_key: Mapped[str] = mapped_column(String(200), default="")
    birthday: Mapped[date | None]
    timezone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(35))
    attributes: Mapped[dict] = mapped_column(default=dict)
    lifecycle_stage: Mapped[LifecycleStage] = mapped_column(enum_column(LifecycleStage))
    service_tier: Mapped[ServiceTier] = mapped_column(enum_column(ServiceTier), default=ServiceTier.STANDARD)
    service_tier_pinned: Mapped[bool] = mapped_column(default=False)
    account_manager_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"), index=True)
    # Metrics, kept with the customer so lists can filter and sort on them.
    total_spent: Mapped[Decimal] = mapped_column(default=Decimal(0))
    order_count: Mapped[int] = mapped_column(default=0)
    first_order_at: Mapped[datetime | None]
    last_order_at: Mapped[datetime | None]
    last_interaction_at: Mapped[datetime | None]
    recency_score: Mapped[int | None]
    frequency_score: Mapped[int | None]
    monetary_score: Mapped[int | None]
    lifetime_value: Mapped[Decimal | None]
    churn_risk: Mapped[float | None]
    # The parts of churn_risk (recency, frequency, trend, negative) so the score explains itself.
    churn_risk_factors: Mapped[dict | None]
    csat_average: Mapped[float | None]
    last_nps_score: Mapped[int | None]
    # Set when this customer was merged into another; such a customer no longer resolves.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customer.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# GRANTED and WITHDRAWN as the customer said; PENDING: given, and waiting for the customer to confirm it from
# the address (double opt-in): no CAMPAIGN message goes out on it.
ConsentStatus = named_enum("ConsentStatus", "GRANTED WITHDRAWN PENDING", __name__)


class Consent(Base):
    """A customer's consent for a channel as it stands; every change is a ConsentChange."""

    __tablename__ = "consent"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel), primary_key=True)
    granted: Mapped[bool]  # status is GRANTED: what sending checks
    status: Mapped[ConsentStatus] = mapped_column(enum_column(ConsentStatus), default=ConsentStatus.GRANTED,
                                                  server_default=ConsentStatus.GRANTED.value)
    source: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Evidence of a double opt-in: when the customer confirmed, and the message whose link they followed.
    confirmed_at: Mapped[datetime | None]
    confirmation_message_id: Mapped[uuid.UUID | None]


class ConsentChange(Base):
    """One change of a customer's consent, kept as evidence: who or what made it (staff, portal, unsubscribe link,
    preference centre, import), from which message, when."""

    __tablename__ = "consent_change"
    __table_args__ = (Index("ix_consent_change_customer", "customer_id", "at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    from_status: Mapped[ConsentStatus | None] = mapped_column(enum_column(ConsentStatus))
    to_status: Mapped[ConsentStatus] = mapped_column(enum_column(ConsentStatus))
    source: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(200))
    # The message the change came from (an unsubscribe link, a confirmation); no foreign key: messages are
    # another domain's, and the evidence outlives them.
    message_id: Mapped[uuid.UUID | None]
    at: Mapped[datetime] = mapped_column(default=utcnow)


class _CustomerChange:
    """The columns of a row of a customer's history: what changed is the table's own; who, when and why here."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id, sort_order=-1)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), sort_order=-1)
    reason: Mapped[str | None] = mapped_column(String(500))
    actor: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class LifecycleTransition(_CustomerChange, Base):
    __tablename__ = "lifecycle_transition"
    __table_args__ = (Index("ix_lifecycle_transition_customer", "customer_id", "at"),)

    from_stage: Mapped[LifecycleStage | None] = mapped_column(enum_column(LifecycleStage))
    to_stage: Mapped[LifecycleStage] = mapped_column(enum_column(LifecycleStage))


class ServiceTierChange(_CustomerChange, Base):
    __tablename__ = "service_tier_change"
    __table_args__ = (Index("ix_service_tier_change_customer", "customer_id", "at"),)

    from_tier: Mapped[ServiceTier | None] = mapped_column(enum_column(ServiceTier))
    to_tier: Mapped[ServiceTier] = mapped_column(enum_column(ServiceTier))
    pinned: Mapped[bool]


class Order(Base):
    __tablename__ = "customer_order"
    __table_args__ = (Index("ix_customer_order_customer", "customer_id", "occurred_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    # The amount converted to the base currency at the configured rate when recorded.
    amount_base: Mapped[Decimal]
    channel: Mapped[Channel] = mapped_column(enum_column(Channel))
    occurred_at: Mapped[datetime]
    items: Mapped[list] = mapped_column(default=list)
    points_earned: Mapped[int] = mapped_column(default=0)
    # COMPLETED, REFUNDED or CANCELLED; only completed orders count in metrics.
    status: Mapped[str] = mapped_column(String(16), default="COMPLETED", server_default="COMPLETED")
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str | None] = mapped_column(String(500))
    # SHA-256 of the canonical payload: decides "same order" versus IDEMPOTENCY_MISMATCH.
    payload_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerMerge(Base):
    __tablename__ = "customer_merge"
    __table_args__ = (UniqueConstraint("duplicate_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    primary_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id"), index=True)
    duplicate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id"))
    actor: Mapped[str | None] = mapped_column(String(200))
    # What the duplicate looked like and what moved: the audit trail of the merge.
    summary: Mapped[dict] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class RfmCutoffs(Base):
    """The values a buyer must exceed for each score above 1, as of the last full refresh."""

    __tablename__ = "rfm_cutoffs"

    dimension: Mapped[str] = mapped_column(String(32), primary_key=True)
    cutoffs: Mapped[list] = mapped_column(default=list)  # four values, as JSON (ISO datetimes, decimal strings)
    buyers: Mapped[int]
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmailChange(Base):
    """A PORTAL's request to change its customer's email, waiting for the new address to confirm it.
    One row per customer (a new request replaces the pending one); it also counts the day's requests."""

    __tablename__ = "customer_email_change"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))        # the address asked for; None: nothing pending
    # SHA-256 of the token in the confirmation link; None when the address belongs to another customer
    # (its owner was told instead, and no link can confirm it).
    token_hash: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    window_started_at: Mapped[datetime]
    requests: Mapped[int] = mapped_column(default=0)              # since window_started_at
