"""A campaign's dry run: who it would reach now, who not and why, and when a sample would get it."""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from crm.customers.models import Consent, Customer
from crm.db import utcnow
from crm.enums import Channel
from crm.messages import policy
from crm.messages.models import Message, MessageStatus
from crm.messages.settings import MessageSettings
from journeys.campaigns import schedule as schedules
from journeys.campaigns.definition import first_send_channels
from journeys.campaigns.entries import audience_condition, reentry_condition
from journeys.campaigns.services import get_campaign

MAX_SAMPLE = 50


@dataclass
class Recipient:
    customer_id: uuid.UUID
    channel: str | None
    timezone: str
    locale: str | None
    send_at: datetime | None


@dataclass
class Preview:
    audience: int = 0
    recipients: int = 0
    suppressed_by_reason: Counter = field(default_factory=Counter)
    sample: list[Recipient] = field(default_factory=list)

    @property
    def suppressed(self) -> int:
        return sum(self.suppressed_by_reason.values())


def _send_time(campaign, zone: str, now: datetime) -> datetime | None:
    if campaign.schedule is None:
        return None   # a trigger decides: its delay after the customer's trigger
    tz = policy.zone_of(zone if schedules.is_local(campaign.schedule) else campaign.schedule.get("timezone"))
    after = max(now, campaign.plan_from or now)
    occurrence = schedules.upcoming(campaign.schedule, tz, after)
    return occurrence.instant if occurrence else None


def preview(session: Session, *, campaign_id: uuid.UUID, settings: MessageSettings, sample_size: int = 10,
            now: datetime | None = None) -> Preview:
    """Evaluated now, the way a send would be: audience, re-entry, then for the first SEND step the
    channel rules in the sender's order (address, consent, frequency cap). One streamed statement."""
    now = now or utcnow()
    campaign = get_campaign(session, campaign_id)
    sample_size = max(0, min(sample_size, MAX_SAMPLE))
    channels = [Channel(c) for c in first_send_channels(campaign.steps)]
    needs_consent = campaign.purpose in policy.NEEDS_CONSENT
    capped_purpose = campaign.purpose in policy.CAPPED
    sent_recently = (select(Message.customer_id, func.count().label("n")).where(
        Message.status == MessageStatus.SENT, Message.sent_at >= now - settings.frequency_window,
        Message.staff_user_id.is_(None), Message.purpose.in_(policy.CAPPED))
        .group_by(Message.customer_id).subquery())
    consent_columns = [exists().where(Consent.customer_id == Customer.id, Consent.channel == c,
                                      Consent.granted.is_(True)).label(f"consent_{c.value}") for c in channels]
    conditions = [Customer.merged_into_id.is_(None)]
    audience = audience_condition(campaign, now)
    if audience is not None:
        conditions.append(audience)
    stmt = (select(Customer, reentry_condition(campaign, now).label("may_enter"),
                   func.coalesce(sent_recently.c.n, 0), *consent_columns)
            .outerjoin(sent_recently, sent_recently.c.customer_id == Customer.id)
            .where(and_(*conditions)).order_by(Customer.created_at, Customer.id))
    result = Preview()
    for customer, may_enter, recent, *consents in session.execute(stmt.execution_options(yield_per=2000)):
        result.audience += 1
        reason, channel = _verdict(customer, may_enter, recent, consents, channels, needs_consent,
                                   capped_purpose, settings)
        if reason:
            result.suppressed_by_reason[reason] += 1
            continue
        result.recipients += 1
        if len(result.sample) < sample_size:
            result.sample.append(Recipient(customer.id, channel.value if channel else None, customer.timezone,
                                           customer.locale, _send_time(campaign, customer.timezone, now)))
    return result


def _verdict(customer, may_enter, recent, consents, channels, needs_consent, capped_purpose, settings):
    if not may_enter:
        return "ALREADY_ENTERED", None
    if not channels:
        return None, None   # no message: an update-only journey
    addressed = [(c, granted) for c, granted in zip(channels, consents, strict=True) if policy.address_of(customer, c)]
    if not addressed:
        return "NO_ADDRESS", None
    reachable = [c for c, granted in addressed if granted or not needs_consent]
    if not reachable:
        return "NO_CONSENT", None
    if capped_purpose and recent >= settings.frequency_cap:
        return "FREQUENCY_CAP", None
    return None, reachable[0]
