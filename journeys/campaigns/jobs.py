"""Campaign jobs: the round that plans and advances, trigger listeners, and the check at send time.

Each is safe to run twice and on two workers at once: runs and entries are unique rows, entries are
advanced under SKIP LOCKED row locks, and every message has a dedupe key per (campaign, step, customer,
entry).
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from crm.customers.models import Customer
from crm.db import transaction, utcnow
from crm.sessions import current_config, get_session
from crm.messages import templates
from crm.messages.delivery import Fail, Hold
from crm.messages.models import Message
from crm.messages.settings import MessageSettings
from journeys.campaigns import engine, planner
from journeys.campaigns.entries import WITHDRAWING, enter
from journeys.campaigns.models import Campaign, CampaignEntry, CampaignStatus, EntryStatus
from journeys.campaigns.services import HELD_UNTIL, record_order

log = logging.getLogger(__name__)


def tick(now: datetime | None = None) -> dict:
    """Every maintenance round: plan due occurrences, advance due entries, close finished campaigns."""
    session = get_session()
    now = now or utcnow()
    config = current_config()
    planned = planner.plan_due(session, now=now, settings=planner.PlanSettings.from_config(config))
    moved = engine.advance_due(session, now=now, batch=int(config["CAMPAIGNS_BATCH"]))
    completed = planner.complete_finished(session, now=now)
    return {"entered": planned, "advanced": moved, "completed": completed}


def enter_dormant(now: datetime | None = None) -> int:
    return planner.enter_dormant(get_session(), now=now or utcnow())


def _when(payload: dict) -> datetime:
    return datetime.fromisoformat(payload["at"]) if payload.get("at") else utcnow()


def _enter_on_trigger(kind: str, matches, customer_ids: list[str], key: str, happened_at: datetime,
                      now: datetime | None) -> int:
    """Enter the customers into every running campaign listening for this trigger. A trigger from before
    the campaign was scheduled, or older than its delay plus MESSAGES_STALE_AFTER (replayed history, an
    import), enters no one."""
    session = get_session()
    now = now or utcnow()
    stale_after = MessageSettings.from_config(current_config()).stale_after
    ids = [uuid.UUID(c) for c in customer_ids]
    campaigns = session.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.RUNNING,
                                                          Campaign.trigger_kind == kind)).all()
    entered = 0
    for campaign_id in campaigns:
        with transaction(session):
            campaign = planner.locked_running(session, campaign_id)
            if campaign is None or not matches(campaign.trigger) or happened_at < campaign.scheduled_at:
                continue
            due = happened_at + timedelta(seconds=campaign.trigger["delaySeconds"])
            if due < now - stale_after:
                continue
            entered += enter(session, campaign, who=Customer.id.in_(ids), entry_key=key, due_at=max(due, now),
                             now=now)
    return entered


def on_stage_changed(payload: dict, now: datetime | None = None) -> int:
    return _enter_on_trigger("STAGE_ENTERED", lambda t: t["stage"] == payload["toStage"], [payload["customerId"]],
                             f"stage:{payload['transitionId']}", _when(payload), now)


def on_segment_joined(payload: dict, now: datetime | None = None) -> int:
    return _enter_on_trigger("SEGMENT_JOINED", lambda t: t["segmentId"] == payload["segmentId"],
                             payload["customerIds"], f"segment:{payload['segmentId']}:{payload.get('at')}",
                             _when(payload), now)


def on_loyalty_tier_changed(payload: dict, now: datetime | None = None) -> int:
    return _enter_on_trigger("LOYALTY_TIER_REACHED", lambda t: t["loyaltyTier"] == payload["toTier"],
                             [payload["customerId"]], f"tier:{payload['changeId']}", _when(payload), now)


def on_order_recorded(payload: dict) -> dict:
    """An order converts the campaign messages sent within their window before it, and takes the
    customer out of campaigns that exit on an order."""
    return record_order(get_session(), order_id=uuid.UUID(payload["orderId"]))


def still_due(session, message: Message):
    """SEND_GUARDS["campaign:"]: the campaign still runs and the customer is still in it; then the text
    is rendered, now, from the customer as they are, under the cost cap. Content a role that sees
    contact details masked wrote (or touched) renders with email and phone masked: the campaign's state
    when the message was written, or now."""
    context = message.context or {}
    campaign = session.get(Campaign, uuid.UUID(context["campaignId"]))
    entry = session.get(CampaignEntry, uuid.UUID(context["entryId"]))
    if campaign is None or entry is None or campaign.status == CampaignStatus.CANCELLED:
        return "campaign cancelled"
    if campaign.status == CampaignStatus.PAUSED:
        return Hold(HELD_UNTIL, f"campaign {campaign.name!r} is paused")
    if entry.status == EntryStatus.CANCELLED or (entry.status == EntryStatus.EXITED
                                                 and entry.exit_reason in WITHDRAWING):
        return f"left the campaign: {entry.exit_reason}"
    if context.get("render"):
        customer = session.get(Customer, message.customer_id)
        masked = bool(context.get("masked")) or campaign.masked_by is not None
        values = {**templates.customer_context(session, customer, masked=masked),
                  "campaign": {"id": str(campaign.id), "name": campaign.name}}
        limits = MessageSettings.from_config(current_config()).render
        try:
            rendered = templates.render(message.body, values, limits=limits, channel=message.channel)
        except templates.TemplateProblem as exc:
            return Fail(exc.message)
        message.subject, message.body = rendered.subject, rendered.body
        message.context = {**context, "render": False, "masked": masked}
    return None
