"""Writes to the customer profile. Each public function is one transaction."""
from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm import events
from crm.auth.models import StaffUser
from crm.config import DEFAULTS
from crm.customers import rules
from crm.customers.errors import CustomerErrorCode
from crm.customers.models import Consent, ConsentChange, ConsentStatus, Customer
from crm.customers.schemas import CustomerCreateSchema, CustomerUpdateSchema
from crm.db import lock_for_update, transaction, utcnow
from crm.enums import Channel, LifecycleStage, Role, ServiceTier
from crm.errors import DomainError, Invalid, NotFound

_UNIQUE_FIELDS = (("email", "email", "email"), ("external_id", "externalId", "externalId"))


def require_customer(session: Session, customer_id: uuid.UUID, field: str = "customerId",
                     for_update: bool = False) -> Customer:
    stmt = select(Customer).where(Customer.id == customer_id, Customer.merged_into_id.is_(None))
    if for_update:
        stmt = lock_for_update(stmt, session)
    customer = session.scalars(stmt).first()
    if customer is None:
        raise NotFound("No customer has this id.", field)
    return customer


def _check_unique(session: Session, values: dict, exclude_id: uuid.UUID | None = None) -> None:
    for attr, field, label in _UNIQUE_FIELDS:
        value = values.get(attr)
        if value is None:
            continue
        stmt = select(Customer.id).where(getattr(Customer, attr) == value)
        if exclude_id is not None:
            stmt = stmt.where(Customer.id != exclude_id)
        if session.scalar(stmt.limit(1)) is not None:
            raise DomainError(CustomerErrorCode.DUPLICATE, f"Another customer already has this {label}.", field)


def _flush_unique(session: Session) -> None:
    """Flush, turning a lost race on a unique column into DUPLICATE."""
    try:
        session.flush()
    except IntegrityError as exc:
        text = str(exc.orig).lower()
        field = "externalId" if "external_id" in text else "email"
        raise DomainError(CustomerErrorCode.DUPLICATE, f"Another customer already has this {field}.", field) from None


def _set_names(customer: Customer, data: dict) -> None:
    for attr in ("first_name", "last_name"):
        if attr in data:
            setattr(customer, attr, data[attr])
    customer.first_name_key = (customer.first_name or "").lower()
    customer.last_name_key = (customer.last_name or "").lower()


def create_customer(session: Session, *, data: dict, actor: str | None, config=DEFAULTS) -> Customer:
    """Create a customer from raw input (camelCase keys, validated and normalised here); ``config`` gives
    DEFAULT_TIMEZONE."""
    values = CustomerCreateSchema().load(data)
    if not (values.get("email") or values.get("phone") or values.get("external_id")):
        raise DomainError(CustomerErrorCode.REQUIRED, "Give at least one of email, phone or externalId.", "email")
    with transaction(session):
        _check_unique(session, values)
        customer = Customer(
            id=uuid.uuid4(), external_id=values.get("external_id"), email=values.get("email"),
            phone=values.get("phone"), birthday=values.get("birthday"),
            timezone=values.get("timezone") or config["DEFAULT_TIMEZONE"],
            locale=values.get("locale"), attributes=_clean_attributes(values.get("attributes") or {}),
            lifecycle_stage=values.get("lifecycle_stage") or LifecycleStage.LEAD,
            service_tier=ServiceTier.STANDARD, created_at=utcnow(), updated_at=utcnow(),
        )
        _set_names(customer, values)
        session.add(customer)
        _flush_unique(session)
        rules.record_initial_stage(session, customer, actor=actor)
        events.emit(session, "customer.created", customerId=str(customer.id))
    return customer


def _clean_attributes(attributes: dict) -> dict:
    return {key: value for key, value in attributes.items() if value is not None}


def update_customer(session: Session, *, customer_id: uuid.UUID, data: dict, actor: str | None,
                    email_change=None, config=DEFAULTS) -> Customer:
    """Update given fields only; ``attributes`` merge key by key and a null value removes a key.

    ``email_change`` (``EmailChangeSettings``; for a PORTAL token): a new email is not applied but
    verified (``crm.customers.email_change``), so the answer never says whether another customer has it."""
    values = CustomerUpdateSchema().load(data)
    requested = values.pop("email") if email_change is not None and values.get("email") is not None else None
    now = utcnow()
    with transaction(session):
        customer = require_customer(session, customer_id, "id", for_update=True)
        _check_unique(session, values, exclude_id=customer.id)
        identity_after = [values.get(attr, getattr(customer, attr)) for attr in ("email", "phone", "external_id")]
        if not any(identity_after):
            cleared = "email" if "email" in values else "phone"
            raise DomainError(CustomerErrorCode.REQUIRED,
                              "A customer keeps at least one of email, phone or externalId.", cleared)
        for attr in ("email", "phone", "birthday", "timezone", "locale"):
            if attr in values:
                setattr(customer, attr, values[attr])
        if "timezone" in values and values["timezone"] is None:
            customer.timezone = config["DEFAULT_TIMEZONE"]
        _set_names(customer, values)
        if "attributes" in values:
            merged = dict(customer.attributes or {})
            for key, value in values["attributes"].items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            customer.attributes = merged
        customer.updated_at = now
        _flush_unique(session)
        if requested is not None:
            from crm.customers.email_change import request_change
            request_change(session, customer, requested, email_change, now)
        fields = sorted(key for key in data if not (requested is not None and key == "email"))
        if fields or requested is None:
            events.emit(session, "customer.updated", customerId=str(customer.id), fields=fields)
    return customer


def set_consent(session: Session, *, customer_id: uuid.UUID, channel: Channel, granted: bool,
                source: str | None, actor: str | None, message_id: uuid.UUID | None = None,
                role: Role | None = None, config=DEFAULTS) -> Customer:
    """Grant or withdraw a channel's consent, kept as a ConsentChange with who (``actor``), how (``source``:
    "unsubscribe", "preference-centre", an import's name, ...) and from which message. A grant by ``role`` from
    ``source`` may wait for the address to confirm it (double opt-in, crm/customers/consents.py; ``config``
    gives CONSENT_DOUBLE_OPT_IN and the links' base URL and key)."""
    if source is not None and len(source) > 200:  # the column's width
        raise Invalid("source is at most 200 characters.", "source")
    with transaction(session):
        customer = require_customer(session, customer_id, for_update=True)
        if granted:
            from crm.customers.consents import grant
            grant(session, customer, channel, source=source or actor, actor=actor, role=role,
                  message_id=message_id, config=config)
        else:
            change_consent(session, customer, channel, ConsentStatus.WITHDRAWN, source=source or actor,
                           actor=actor, message_id=message_id)
    return customer


def change_consent(session: Session, customer: Customer, channel: Channel, status: ConsentStatus, *,
                   source: str | None, actor: str | None, message_id: uuid.UUID | None = None) -> Consent:
    """Helper (the caller's transaction, the customer locked): the consent's new status and its history row."""
    now = utcnow()
    consent = session.get(Consent, (customer.id, channel))
    before = None if consent is None else consent.status
    if consent is None:
        consent = Consent(customer_id=customer.id, channel=channel)
        session.add(consent)
    consent.status, consent.granted, consent.source, consent.updated_at = (
        status, status == ConsentStatus.GRANTED, source, now)
    session.add(ConsentChange(customer_id=customer.id, channel=channel, from_status=before, to_status=status,
                              source=source, actor=actor, message_id=message_id, at=now))
    customer.updated_at = now
    events.emit(session, "customer.consent_changed", customerId=str(customer.id), channel=channel.value,
                granted=consent.granted, status=status.value)
    return consent


def transition_stage(session: Session, *, customer_id: uuid.UUID, to_stage: LifecycleStage,
                     reason: str | None, actor: str | None) -> Customer:
    with transaction(session):
        customer = require_customer(session, customer_id, for_update=True)
        rules.move_stage(session, customer, to_stage, reason=reason, actor=actor)
        customer.updated_at = utcnow()
    return customer


def set_service_tier(session: Session, *, customer_id: uuid.UUID, tier: ServiceTier | None,
                     reason: str | None, actor: str | None, config=DEFAULTS) -> Customer:
    """Pin a tier by hand, or with ``tier=None`` unpin and let the automatic rules decide again (the tier
    thresholds from ``config``)."""
    with transaction(session):
        customer = require_customer(session, customer_id, for_update=True)
        if tier is None:
            from crm.segments.tiers import earned_tier
            rules.change_tier(session, customer, earned_tier(session, customer.id, config), pinned=False,
                              reason=reason or "unpinned: automatic rules apply", actor=actor)
        else:
            rules.change_tier(session, customer, tier, pinned=True, reason=reason, actor=actor)
        customer.updated_at = utcnow()
    return customer


def assign_manager(session: Session, *, customer_id: uuid.UUID, staff_user_id: uuid.UUID | None,
                   actor: str | None) -> Customer:
    with transaction(session):
        customer = require_customer(session, customer_id, for_update=True)
        if staff_user_id is not None and session.get(StaffUser, staff_user_id) is None:
            raise NotFound("No staff user has this id.", "staffUserId")
        customer.account_manager_id = staff_user_id
        customer.updated_at = utcnow()
        events.emit(session, "customer.manager_assigned", customerId=str(customer.id),
                    staffUserId=str(staff_user_id) if staff_user_id else None)
    return customer
