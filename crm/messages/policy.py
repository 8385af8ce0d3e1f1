"""The rules every message passes before it is sent, in this order:

1. an erased (merged-away) customer or no address for the channel -> SUPPRESSED, NO_ADDRESS (a message
   with an address of its own, verifying an email change, goes there);
2. no consent for the channel (CARE, FOLLOW_UP, CAMPAIGN; TRANSACTIONAL is exempt) -> NO_CONSENT;
3. the frequency cap (CARE + CAMPAIGN per customer per window) -> FREQUENCY_CAP;
4. quiet hours in the customer's own timezone -> rescheduled to the end of the quiet period.

Notifications to staff about a customer skip 2-4: they are work, not marketing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crm.customers.models import Consent, Customer
from crm.enums import Channel
from crm.messages.models import Message, MessagePurpose, MessageStatus
from crm.messages.settings import MessageSettings

NEEDS_CONSENT = (MessagePurpose.CARE, MessagePurpose.FOLLOW_UP, MessagePurpose.CAMPAIGN)
CAPPED = (MessagePurpose.CARE, MessagePurpose.CAMPAIGN)
QUIET = (MessagePurpose.CARE, MessagePurpose.FOLLOW_UP, MessagePurpose.CAMPAIGN)


@dataclass(frozen=True)
class Verdict:
    action: str                        # SEND | SUPPRESS | RESCHEDULE
    address: str | None = None
    reason: str | None = None
    until: datetime | None = None


def address_of(customer: Customer | None, channel: Channel) -> str | None:
    """Where a message on ``channel`` goes; PUSH addresses the app's user id (the customer's externalId)."""
    if customer is None or customer.merged_into_id is not None:
        return None
    return {Channel.EMAIL: customer.email, Channel.SMS: customer.phone, Channel.PUSH: customer.external_id}.get(channel)


def has_consent(session: Session, customer_id, channel: Channel) -> bool:
    return bool(session.scalar(select(Consent.granted).where(Consent.customer_id == customer_id,
                                                             Consent.channel == channel)))


def zone_of(name: str | None) -> tzinfo:
    """A customer's timezone; an unknown name (validated on write, so only legacy data) counts as UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return timezone.utc


def quiet_until(now: datetime, zone: str, start: time, end: time) -> datetime | None:
    """The end of the quiet period ``now`` falls in, in UTC, or None outside quiet hours.

    Computed on the local wall clock and converted back through the zone, so "08:00" is 08:00 on
    the day after a daylight-saving change too (and a wall time the change skips lands just after it)."""
    if start == end:
        return None
    tz = zone_of(zone)
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        quiet, end_day = start <= clock < end, local.date()
    else:  # the period spans midnight
        quiet = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not quiet:
        return None
    return datetime.combine(end_day, end).replace(tzinfo=tz).astimezone(timezone.utc)


def capped(session: Session, message: Message, settings: MessageSettings, now: datetime) -> bool:
    """Whether the customer already had the cap's worth of CARE + CAMPAIGN messages in the window,
    counting those being sent right now (claimed), so two workers cannot both take the last slot."""
    sent_or_sending = or_(
        (Message.status == MessageStatus.SENT) & (Message.sent_at >= now - settings.frequency_window),
        (Message.status == MessageStatus.QUEUED) & Message.claimed_at.is_not(None),
    )
    count = session.scalar(select(func.count()).select_from(Message).where(
        Message.customer_id == message.customer_id, Message.staff_user_id.is_(None), Message.id != message.id,
        Message.purpose.in_(CAPPED), sent_or_sending))
    return count >= settings.frequency_cap


def judge(session: Session, message: Message, customer: Customer | None, staff_email: str | None,
          settings: MessageSettings, now: datetime) -> Verdict:
    if message.staff_user_id is not None:
        if message.channel != Channel.EMAIL or not staff_email:
            return Verdict("SUPPRESS", reason="NO_ADDRESS")
        return Verdict("SEND", address=staff_email)
    address = address_of(customer, message.channel)
    if message.address and customer is not None and customer.merged_into_id is None:
        address = message.address   # an email change being verified goes to the new address
    if not address:
        return Verdict("SUPPRESS", reason="NO_ADDRESS")
    if message.purpose in NEEDS_CONSENT and not has_consent(session, customer.id, message.channel):
        return Verdict("SUPPRESS", reason="NO_CONSENT")
    if message.purpose in CAPPED and capped(session, message, settings, now):
        return Verdict("SUPPRESS", reason="FREQUENCY_CAP")
    if message.purpose in QUIET:
        until = quiet_until(now, customer.timezone, settings.quiet_start, settings.quiet_end)
        if until is not None:
            return Verdict("RESCHEDULE", until=until)
    return Verdict("SEND", address=address)
