"""Sending: the dispatcher queues due messages; the sender claims one, calls its provider once, records.

Exactly once, end to end:
- a message is claimed (``claimed_at``, ``attempts + 1``) and committed *before* the provider call, so
  a second job for it, or a second worker, finds it claimed and leaves it;
- the outcome is recorded only by the claim that sent it (``WHERE claimed_at = <our claim>``);
- a worker killed mid-send leaves a claim that outlives its lease: the dispatcher queues the message
  again and the next attempt carries the same idempotency key, which the provider deduplicates;
- a queued job lost with Redis is queued again once ``requeue_after`` passes without a claim.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from crm import events
from crm.auth.models import StaffUser
from crm.customers.models import Customer
from crm.db import lock_for_update, transaction, utcnow
from crm.messages import policy, providers, unsubscribe
from crm.messages.models import PENDING, Message, MessageStatus
from crm.messages.services import SEND_JOB
from crm.messages.settings import MessageSettings
from crm.sessions import current_config

log = logging.getLogger(__name__)
outcomes = logging.getLogger("crm.messages.sent")  # with the log provider's SENT lines: one log of what happened
DISPATCH_BATCH = 1000



@dataclass(frozen=True)
class Hold:
    """A guard's answer: not now; the message waits (SCHEDULED) until ``until``."""
    until: datetime
    reason: str


@dataclass(frozen=True)
class Fail:
    """A guard's answer: this message can never be sent (its template does not render)."""
    reason: str


# Per trigger ("care:case-follow-up") or trigger family ("campaign:"), a check at send time that the
# reason for the message still holds: fn(session, message) -> None to send (it may finish the message's
# text), a reason to cancel it (a case reopened before its follow-up), a Hold or a Fail.
SEND_GUARDS: dict[str, Callable[[Session, Message], "str | Hold | Fail | None"]] = {}


def _guard_of(trigger: str):
    return SEND_GUARDS.get(trigger) or SEND_GUARDS.get(trigger.partition(":")[0] + ":")


@dataclass(frozen=True)
class Claim:
    claimed_at: datetime
    attempts: int
    envelope: providers.Envelope


def send_job_id(message_id, attempts: int) -> str:
    """One job id per attempt: a dead worker's job and the one that replaces it never share an id."""
    return f"message-{message_id}-{attempts}"


def _takeable(settings: MessageSettings, now: datetime):
    """Never queued; queued long ago without a worker taking it (perhaps lost with Redis); or claimed by a
    worker whose lease ran out (it died mid-send)."""
    unclaimed = Message.claimed_at.is_(None) & or_(Message.enqueued_at.is_(None),
                                                   Message.enqueued_at < now - settings.requeue_after)
    return or_(unclaimed, Message.claimed_at < now - settings.claim_lease)


def dispatch_due(session: Session, *, now: datetime | None = None, limit: int = DISPATCH_BATCH,
                 settings: MessageSettings | None = None) -> int:
    """Queue the send job of every message that is due and not in anyone's hands; returns how many.

    Safe on many workers at once (rows are taken FOR UPDATE SKIP LOCKED) and after a crash at any
    point (a message marked queued whose job never reached Redis is due again after requeue_after).
    A job queued long ago is asked after in Redis first: behind a long backlog it is still waiting,
    and queueing it again would only add work. Each status is read on its own, so each read walks
    the (status, scheduled_for) index in order instead of sorting every due row."""
    from crm.queue import enqueue_many, jobs_waiting
    settings = settings or MessageSettings.from_config(current_config())
    total = 0
    for status in PENDING:
        while True:
            now_batch = now or utcnow()
            with transaction(session):
                stmt = (select(Message.id, Message.attempts, Message.enqueued_at, Message.claimed_at)
                        .where(Message.status == status, Message.scheduled_for <= now_batch,
                               _takeable(settings, now_batch))
                        .order_by(Message.scheduled_for).limit(limit))
                if session.get_bind().dialect.name == "postgresql":
                    stmt = stmt.with_for_update(skip_locked=True)
                rows = session.execute(stmt).all()
                maybe_waiting = [send_job_id(i, n) for i, n, enqueued, claimed in rows
                                 if enqueued is not None and claimed is None]
                waiting = jobs_waiting(maybe_waiting) if maybe_waiting else set()
                jobs = [(send_job_id(i, n), [str(i)]) for i, n, _, _ in rows if send_job_id(i, n) not in waiting]
                if rows:
                    session.execute(update(Message).where(Message.id.in_([r[0] for r in rows])).values(
                        status=MessageStatus.QUEUED, enqueued_at=now_batch)
                        .execution_options(synchronize_session=False))
            if jobs:
                try:
                    enqueue_many("messages", SEND_JOB, jobs)
                except Exception:
                    # Not queued: make them due again at once rather than after requeue_after.
                    ids = [uuid.UUID(args[0]) for _, args in jobs]
                    with transaction(session):
                        session.execute(update(Message).where(Message.id.in_(ids), Message.claimed_at.is_(None))
                                        .values(enqueued_at=None).execution_options(synchronize_session=False))
                    raise
            total += len(jobs)
            if len(rows) < limit:
                break
    return total


def deliver(session: Session, *, message_id: uuid.UUID, now: datetime | None = None) -> MessageStatus | None:
    """The sender job's work; returns the message's status afterwards (None if it does not exist)."""
    config = current_config()
    settings = MessageSettings.from_config(config)
    claim = claim_message(session, message_id=message_id, settings=settings, now=now,
                          links=unsubscribe.LinkSettings.from_config(config))
    if not isinstance(claim, Claim):
        return claim
    try:
        reference = providers.send(claim.envelope, config)
    except providers.ProviderError as exc:
        return record_failure(session, message_id=message_id, claim=claim, error=str(exc),
                              retryable=exc.retryable, settings=settings)
    return record_sent(session, message_id=message_id, claim=claim, reference=reference)


def claim_message(session: Session, *, message_id: uuid.UUID, settings: MessageSettings,
                  now: datetime | None = None, links: unsubscribe.LinkSettings | None = None
                  ) -> Claim | MessageStatus | None:
    """Apply the rules and claim the message for one send; otherwise return its (new) status. The envelope
    carries the body as it leaves, with the message's links (``links``: CRM_PUBLIC_BASE_URL, ...)."""
    now = now or utcnow()
    with transaction(session):
        customer_id = session.scalar(select(Message.customer_id).where(Message.id == message_id))
        if customer_id is None:
            return None
        # The customer first (the lock order of every customer write), so the frequency cap and consent
        # read here cannot change under this claim.
        customer = session.scalars(lock_for_update(select(Customer).where(Customer.id == customer_id),
                                                   session, key_share=True)).first()
        message = session.scalars(lock_for_update(select(Message).where(Message.id == message_id), session)
                                  .execution_options(populate_existing=True)).one()
        if message.status not in PENDING or message.customer_id != customer_id:
            return message.status
        if message.scheduled_for > now + timedelta(seconds=1):
            return message.status  # rescheduled meanwhile; the dispatcher brings it back when due
        if message.claimed_at is not None and message.claimed_at >= now - settings.claim_lease:
            return message.status  # another worker is sending it right now
        guard = _guard_of(message.trigger)
        answer = guard(session, message) if guard else None
        if isinstance(answer, Hold):
            _hold(message, answer.until)
            outcomes.info("HELD %s [%s] %s", message.id, message.trigger, answer.reason)
            return message.status
        if isinstance(answer, Fail):
            _close(session, message, MessageStatus.FAILED, now, error=answer.reason)
            return message.status
        if answer:
            _close(session, message, MessageStatus.CANCELLED, now, error=answer)
            return message.status
        staff_email = session.scalar(select(StaffUser.email).where(StaffUser.id == message.staff_user_id)) \
            if message.staff_user_id else None
        verdict = policy.judge(session, message, customer, staff_email, settings, now)
        if verdict.action == "SUPPRESS":
            _close(session, message, MessageStatus.SUPPRESSED, now, suppression=verdict.reason)
            outcomes.info("SUPPRESSED %s [%s] %s", message.id, message.trigger, verdict.reason)
            return message.status
        if verdict.action == "RESCHEDULE":
            _hold(message, verdict.until)
            outcomes.info("HELD %s [%s] quiet hours where the customer lives, until %s", message.id, message.trigger,
                          verdict.until.isoformat(timespec="minutes"))
            return message.status
        message.claimed_at, message.attempts = now, message.attempts + 1
        composed = unsubscribe.compose(links or unsubscribe.LinkSettings.from_config(current_config()), message,
                                       customer, body_cap=settings.render.body_for(message.channel))
        return Claim(claimed_at=now, attempts=message.attempts, envelope=providers.Envelope(
            message_id=str(message.id), channel=message.channel, address=verdict.address, subject=message.subject,
            body=composed.body, trigger=message.trigger, customer_id=str(message.customer_id),
            unsubscribe_url=composed.unsubscribe_url))


def _hold(message: Message, until: datetime) -> None:
    message.status, message.scheduled_for = MessageStatus.SCHEDULED, until
    message.enqueued_at = message.claimed_at = None


def _close(session: Session, message: Message, status: MessageStatus, now: datetime, *,
           suppression: str | None = None, error: str | None = None) -> None:
    message.status, message.suppression_reason = status, suppression
    message.last_error = error or message.last_error
    message.claimed_at = None
    topic = {MessageStatus.SUPPRESSED: "message.suppressed", MessageStatus.CANCELLED: "message.cancelled",
             MessageStatus.FAILED: "message.failed"}[status]
    events.emit(session, topic, **_event(message), reason=suppression or error)


def _event(message: Message) -> dict:
    return {"messageId": str(message.id), "customerId": str(message.customer_id), "trigger": message.trigger,
            "context": message.context or {}}


def _claimed(session: Session, message_id: uuid.UUID, claim: Claim) -> Message | None:
    """The message if our claim still holds it (a claim that outlived its lease may have been taken over)."""
    return session.scalars(lock_for_update(select(Message).where(
        Message.id == message_id, Message.claimed_at == claim.claimed_at, Message.status == MessageStatus.QUEUED),
        session).execution_options(populate_existing=True)).first()


def record_sent(session: Session, *, message_id: uuid.UUID, claim: Claim, reference: str) -> MessageStatus:
    with transaction(session):
        message = _claimed(session, message_id, claim)
        if message is None:
            return MessageStatus.SENT
        message.status, message.sent_at, message.claimed_at = MessageStatus.SENT, utcnow(), None
        message.provider_ref, message.last_error = reference[:300], None
        events.emit(session, "message.sent", **_event(message))
        return message.status


def record_failure(session: Session, *, message_id: uuid.UUID, claim: Claim, error: str, retryable: bool,
                   settings: MessageSettings) -> MessageStatus:
    now = utcnow()
    with transaction(session):
        message = _claimed(session, message_id, claim)
        if message is None:
            return MessageStatus.QUEUED
        error = error[:2000]
        if not retryable or message.attempts >= settings.max_attempts:
            _close(session, message, MessageStatus.FAILED, now, error=error)
        else:
            message.last_error, message.claimed_at, message.enqueued_at = error, None, None
            message.scheduled_for = now + settings.backoff(message.attempts)
        log.warning("message %s attempt %s failed (%s): %s", message_id, message.attempts, message.status.value, error)
        return message.status
