"""A PORTAL's change of email, verified by the new address: no answer tells the portal whether the
address belongs to someone else.

``customerUpdate`` from a PORTAL token with a new email applies everything else at once and records the
email as pending (``Customer.pendingEmail``); then, in the same transaction:

- the address is free: a confirmation link goes *to the new address*; ``customerConfirmEmail(token)``
  from the same portal applies it (within ``CUSTOMERS_EMAIL_CHANGE_TTL``);
- the address is another customer's: that customer is told, at that address, that someone tried to use
  it; nothing can confirm the change, and it lapses.

Both answer the portal alike (the profile unchanged, ``pendingEmail`` the new address, no error); the
messages are never shown on a portal. Staff change emails directly and get DUPLICATE.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm import events
from crm.customers.errors import CustomerErrorCode
from crm.customers.models import Customer, EmailChange
from crm.customers.services import require_customer
from crm.db import lock_for_update, transaction, utcnow
from crm.enums import Channel
from crm.errors import DomainError, Invalid

DAY = timedelta(days=1)
NOT_VALID = "This confirmation link is not valid or has expired."


@dataclass(frozen=True)
class EmailChangeSettings:
    confirm_url: str = "http://127.0.0.1:5000/portal/confirm-email?token={token}"
    ttl: timedelta = timedelta(days=1)
    per_day: int = 5

    @classmethod
    def from_config(cls, config) -> EmailChangeSettings:
        return cls(confirm_url=str(config["CUSTOMERS_EMAIL_CONFIRM_URL"]),
                   ttl=timedelta(seconds=float(config["CUSTOMERS_EMAIL_CHANGE_TTL"])),
                   per_day=int(config["CUSTOMERS_EMAIL_CHANGES_PER_DAY"]))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hours(ttl: timedelta) -> str:
    hours = ttl.total_seconds() / 3600
    return f"{hours:g} hours" if hours != 1 else "1 hour"


def _locked_change(session: Session, customer_id: uuid.UUID) -> EmailChange | None:
    return session.scalars(lock_for_update(select(EmailChange).where(EmailChange.customer_id == customer_id),
                                           session)).first()


def request_change(session: Session, customer: Customer, email: str, settings: EmailChangeSettings,
                   now: datetime) -> None:
    """Helper of ``update_customer`` (its transaction; the customer is locked): record ``email`` as the
    pending address and write the message that verifies it, or that tells its owner. The same email as
    now withdraws a pending change."""
    from crm.messages.models import MessagePurpose
    from crm.messages.services import create_message

    change = _locked_change(session, customer.id)
    if email == customer.email:
        if change is not None:
            change.email = change.token_hash = change.expires_at = None
        return
    if change is None:
        change = EmailChange(customer_id=customer.id, requests=0, window_started_at=now)
        session.add(change)
    if change.window_started_at <= now - DAY:
        change.window_started_at, change.requests = now, 0
    if change.requests >= settings.per_day:
        raise Invalid(f"At most {settings.per_day} email changes a day (CUSTOMERS_EMAIL_CHANGES_PER_DAY); "
                      f"try again tomorrow.", "email")
    change.requests += 1
    owner = session.scalars(select(Customer).where(Customer.email == email, Customer.id != customer.id)
                            .limit(1)).first()
    key = f"{uuid.uuid4()}"
    if owner is None:
        token = secrets.token_urlsafe(32)
        change.token_hash = _hash(token)
        link = settings.confirm_url.replace("{token}", token)
        create_message(
            session, customer_id=customer.id, channel=Channel.EMAIL, purpose=MessagePurpose.TRANSACTIONAL,
            trigger="verify:email", subject="Confirm your new email address",
            body=f"Hi {customer.first_name or 'there'},\n\nplease confirm that this is your new email address: "
                 f"{link}\n\nThe link works for {_hours(settings.ttl)}. Until you confirm it, your account keeps "
                 f"its current address. If you did not ask for this, ignore this message.",
            dedupe_key=f"verify:email:{key}", address=email, actor="customer", now=now)
    else:
        change.token_hash = None
        create_message(
            session, customer_id=owner.id, channel=Channel.EMAIL, purpose=MessagePurpose.TRANSACTIONAL,
            trigger="verify:email-taken", subject="Your email address was entered for another account",
            body=f"Hi {owner.first_name or 'there'},\n\nsomeone asked to use this email address for another "
                 f"customer account. Nothing changed: the address stays with your account, and the other "
                 f"account was not told that it is yours. If this was you, sign in with this address instead; "
                 f"otherwise there is nothing you need to do.",
            dedupe_key=f"verify:email-taken:{key}", actor="customer", now=now)
    change.email, change.requested_at, change.expires_at = email, now, now + settings.ttl


def confirm_change(session: Session, *, customer_id: uuid.UUID, token: str, now: datetime | None = None) -> Customer:
    """Apply the pending email whose link carried ``token``. Any token that does not confirm (wrong,
    expired, none pending, an address that was taken) gets the same INVALID answer."""
    now = now or utcnow()
    with transaction(session):
        customer = require_customer(session, customer_id, "token", for_update=True)
        change = _locked_change(session, customer.id)
        if (change is None or not change.email or not change.token_hash or change.expires_at is None
                or change.expires_at <= now or not hmac.compare_digest(change.token_hash, _hash(token or ""))):
            raise Invalid(NOT_VALID, "token")
        # The link proves the mailbox is the confirmer's: telling them it was taken meanwhile reveals nothing.
        taken = session.scalar(select(Customer.id).where(Customer.email == change.email,
                                                         Customer.id != customer.id).limit(1))
        if taken is not None:
            raise DomainError(CustomerErrorCode.DUPLICATE, "Another customer already has this email.", "email")
        customer.email, customer.updated_at = change.email, now
        change.email = change.token_hash = change.expires_at = None
        try:
            session.flush()
        except IntegrityError:
            raise DomainError(CustomerErrorCode.DUPLICATE,
                              "Another customer already has this email.", "email") from None
        events.emit(session, "customer.updated", customerId=str(customer.id), fields=["email"])
    return customer


def pending_emails(session: Session, customer_ids: list[uuid.UUID], now: datetime | None = None) -> dict:
    """customer id -> the email waiting for confirmation (unexpired)."""
    now = now or utcnow()
    return dict(session.execute(select(EmailChange.customer_id, EmailChange.email).where(
        EmailChange.customer_id.in_(customer_ids), EmailChange.email.is_not(None),
        EmailChange.expires_at > now)).all())
