"""Messages: written as rows in the caller's transaction, sent later by the sender job (delivery.py).

``create_message`` is the one way a message comes to exist. Its ``dedupe_key`` is unique: the same key
again returns the first message and writes nothing, which is what makes every trigger fire once.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm.auth.permissions import Capability, has, roles_for
from crm.customers.models import Customer
from crm.customers.services import require_customer
from crm.db import transaction, upsert_insert, utcnow
from crm.enums import Channel, Role
from crm.errors import DomainError, Forbidden, Invalid
from crm.masking import masks_pii
from crm.messages import policy, templates
from crm.messages.errors import MessageErrorCode
from crm.messages.models import (
    SENDABLE_CHANNELS,
    Message,
    MessagePurpose,
    MessageStatus,
)
from crm.outbox import enqueue_after_commit

SEND_JOB = "crm.messages.jobs.send_message"
MAX_DEDUPE_KEY = 300
MAX_SUBJECT = 500
MAX_BODY = 20000
MAX_AHEAD = timedelta(days=366)


@dataclass
class Created:
    message: Message
    created: bool


def _insert_ignoring_duplicate(session: Session, values: dict) -> bool:
    """INSERT ... ON CONFLICT (dedupe_key) DO NOTHING; True when this call wrote the row."""
    insert = upsert_insert(session)
    table = Message.__table__
    result = session.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
                             .returning(table.c.id))
    return result.first() is not None


def create_message(session: Session, *, customer_id: uuid.UUID, channel: Channel, purpose: MessagePurpose,
                   trigger: str, subject: str | None, body: str, dedupe_key: str, send_at: datetime | None = None,
                   locale: str | None = None, context: dict | None = None, actor: str | None = None,
                   staff_user_id: uuid.UUID | None = None, payload_hash: str | None = None,
                   status: MessageStatus | None = None, reason: str | None = None, address: str | None = None,
                   now: datetime | None = None) -> Created:
    """Write a message (helper: flushes, never commits). Due now: QUEUED with its send job in the outbox;
    later: SCHEDULED, and the dispatcher queues it when due. ``status``/``reason`` record a message that is
    decided already (a template that failed to render is FAILED before it is ever sent). ``address``: where
    it goes instead of the customer's own address (an email change being verified)."""
    now = now or utcnow()
    due = max(send_at or now, now)
    if status is None:
        status = MessageStatus.QUEUED if due <= now else MessageStatus.SCHEDULED
    message_id = uuid.uuid4()
    written = _insert_ignoring_duplicate(session, dict(
        id=message_id, customer_id=customer_id, staff_user_id=staff_user_id, channel=channel, purpose=purpose,
        address=address,
        trigger=trigger, subject=subject, body=body, locale=locale, status=status,
        suppression_reason=reason if status == MessageStatus.SUPPRESSED else None,
        last_error=reason if status == MessageStatus.FAILED else None, scheduled_for=due, attempts=0,
        dedupe_key=dedupe_key, payload_hash=payload_hash, context=context or {}, actor=actor,
        enqueued_at=now if status == MessageStatus.QUEUED else None, created_at=now, updated_at=now))
    message = session.scalars(select(Message).where(Message.dedupe_key == dedupe_key)
                              .execution_options(populate_existing=True)).one()
    if written and status == MessageStatus.QUEUED:
        enqueue_after_commit(session, SEND_JOB, str(message_id), queue="messages", job_id=f"message-{message_id}-0")
    return Created(message, written)


def _digest(**payload) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _clean_text(value: str | None, field: str, limit: int, required: bool = False) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise DomainError(MessageErrorCode.REQUIRED, "This field cannot be empty.", field)
        return None
    if "\x00" in value:
        raise Invalid("Text may not contain NUL characters.", field)
    if len(value) > limit:
        raise Invalid(f"At most {limit} characters.", field)
    return value


def send_manual(session: Session, *, customer_id: uuid.UUID, channel: Channel, purpose: MessagePurpose,
                subject: str | None, body: str, send_at: datetime | None, dedupe_key: str | None,
                actor: str | None, actor_role: Role, limits: templates.RenderLimits = templates.DEFAULT_LIMITS,
                now: datetime | None = None) -> Message:
    """A message written by staff. The body is a template over the customer's profile, rendered now under
    ``limits`` (a text over the cap is INVALID), with email and phone masked if the author's role sees
    them masked. Refused now rather than suppressed later when it could never be sent: no address, or no
    consent (TRANSACTIONAL aside, which only ADMIN may send, because it goes out without consent). The
    same dedupeKey with the same message returns the first; with a different one, IDEMPOTENCY_MISMATCH."""
    now = now or utcnow()
    channel, purpose = Channel(channel), MessagePurpose(purpose)
    if channel not in SENDABLE_CHANNELS:
        raise Invalid("Messages go out by EMAIL, SMS or PUSH.", "input.channel")
    if purpose == MessagePurpose.TRANSACTIONAL and not has(actor_role, Capability.MESSAGES_TRANSACTIONAL):
        senders = " or ".join(r.value for r in roles_for(Capability.MESSAGES_TRANSACTIONAL))
        raise Forbidden(f"Only {senders} sends TRANSACTIONAL messages, which go out without consent.", "input.purpose")
    subject = _clean_text(subject, "input.subject", MAX_SUBJECT)
    body = _clean_text(body, "input.body", MAX_BODY, required=True)
    if dedupe_key is not None:
        dedupe_key = _clean_text(dedupe_key, "input.dedupeKey", MAX_DEDUPE_KEY - len("manual:"), required=True)
    if send_at is not None and send_at > now + MAX_AHEAD:
        raise Invalid("sendAt is at most a year ahead.", "input.sendAt")
    digest = _digest(customer=str(customer_id), channel=channel.value, purpose=purpose.value, subject=subject,
                     body=body, sendAt=send_at.isoformat() if send_at else None)
    key = f"manual:{dedupe_key}" if dedupe_key else f"manual:{uuid.uuid4()}"
    with transaction(session):
        earlier = session.scalars(select(Message).where(Message.dedupe_key == key)).first()
        if earlier is not None:
            if earlier.payload_hash != digest:
                raise DomainError(MessageErrorCode.IDEMPOTENCY_MISMATCH,
                                  "This dedupeKey was used for a different message.",
                                  "input.dedupeKey")
            return earlier
        customer = require_customer(session, customer_id, field="input.customerId")
        if not policy.address_of(customer, channel):
            raise Invalid(f"This customer has no address for {channel.value}.", "input.channel")
        if purpose in policy.NEEDS_CONSENT and not policy.has_consent(session, customer.id, channel):
            raise DomainError(MessageErrorCode.CONSENT_MISSING,
                              f"This customer has not consented to {channel.value} messages.",
                              "input.channel")
        context = templates.customer_context(session, customer, masked=masks_pii(actor_role))
        try:
            templates.check(body)
            rendered = templates.render(body, context, limits=limits, channel=channel)
        except templates.TemplateProblem as exc:
            raise Invalid(exc.message, "input.body") from None
        try:
            subject_text = templates.render(subject, context, limits=limits, channel=channel,
                                            subject_only=True).subject if subject else None
        except templates.TemplateProblem as exc:
            raise Invalid(exc.message, "input.subject") from None
        return create_message(
            session, customer_id=customer.id, channel=channel, purpose=purpose, trigger="manual",
            subject=subject_text or rendered.subject, body=rendered.body, dedupe_key=key, send_at=send_at,
            locale=customer.locale, actor=actor, payload_hash=digest, now=now).message


def retry_failed(session: Session, *, trigger_prefix: str | None = None, since: datetime | None = None,
                 now: datetime | None = None) -> int:
    """FAILED messages back to the queue with a fresh allowance of attempts; returns how many."""
    now = now or utcnow()
    conditions = [Message.status == MessageStatus.FAILED]
    if trigger_prefix:
        conditions.append(Message.trigger.startswith(trigger_prefix, autoescape=True))
    if since is not None:
        conditions.append(Message.created_at >= since)
    with transaction(session):
        result = session.execute(update(Message).where(*conditions).values(
            status=MessageStatus.QUEUED, attempts=0, scheduled_for=now, enqueued_at=None, claimed_at=None,
            updated_at=now).execution_options(synchronize_session=False))
    return result.rowcount


def move_messages(session: Session, primary: Customer, duplicate: Customer, config) -> None:
    """Merge hook: the duplicate's messages are the primary's history now."""
    session.execute(update(Message).where(Message.customer_id == duplicate.id).values(customer_id=primary.id)
                    .execution_options(synchronize_session=False))
