"""Entering customers into a campaign, set-based: one INSERT ... SELECT per occurrence, zone or trigger.

The audience rule, the re-entry rule and the unique keys are all in that one statement, so a million
customers enter in one round trip and two schedulers entering the same occurrence write each entry once.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Uuid, and_, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session

from crm.customers.models import Customer
from crm.db import UTCDateTime, upsert_insert
from crm.messages.models import PENDING, Message, MessageStatus
from crm.segments.rules import compile_rule
from journeys.campaigns.definition import audience_rule
from journeys.campaigns.models import Campaign, CampaignEntry, CampaignStepRun, EntryStatus

ONCE = "once"   # the entry key of every entry into a campaign that allows no re-entry
# Leaving for these reasons withdraws the entry's messages not yet sent; an EXIT step or leaving the
# audience ends the journey but lets what was already sent go out.
WITHDRAWING = ("ORDER_PLACED", "EXIT_RULE", "CUSTOMER_MERGED", "CAMPAIGN_CANCELLED")


def _random_uuid(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return func.gen_random_uuid()
    return func.lower(func.hex(func.randomblob(16)))   # how SQLAlchemy's Uuid is stored on SQLite


def audience_condition(campaign: Campaign, now: datetime):
    rule = audience_rule(campaign.audience or {})
    return compile_rule(rule, now=now) if rule else None


def reentry_condition(campaign: Campaign, now: datetime):
    """Customers who may enter now: never entered (NEVER), or not within the cool-down and not in it now."""
    earlier = CampaignEntry.__table__.alias("earlier")
    blocking = earlier.c.status == EntryStatus.ACTIVE.value
    if campaign.reentry == "NEVER":
        blocking = literal(True)
    elif campaign.cooldown_seconds:
        blocking = or_(blocking, earlier.c.entered_at > now - timedelta(seconds=campaign.cooldown_seconds))
    return ~exists().where(earlier.c.campaign_id == campaign.id, earlier.c.customer_id == Customer.id, blocking)


def enter(session: Session, campaign: Campaign, *, who, entry_key, due_at: datetime, now: datetime) -> int:
    """Enter the live customers matching ``who`` (a condition over Customer) and the audience, who may
    (re-)enter, with ``entry_key`` (a string, or an expression over Customer). Returns how many entered.
    Helper: flushes, never commits."""
    if not campaign.steps:
        return 0
    conditions = [Customer.merged_into_id.is_(None), reentry_condition(campaign, now), who]
    audience = audience_condition(campaign, now)
    if audience is not None:
        conditions.append(audience)
    key = literal(ONCE) if campaign.reentry == "NEVER" else (
        literal(entry_key) if isinstance(entry_key, str) else entry_key)
    table = CampaignEntry.__table__
    source = select(_random_uuid(session), literal(campaign.id, Uuid()), Customer.id, key,
                    literal(EntryStatus.ACTIVE.value), literal(campaign.steps[0]["key"]),
                    literal(due_at, UTCDateTime()), literal(now, UTCDateTime())).where(and_(*conditions))
    stmt = upsert_insert(session)(table).from_select(
        ["id", "campaign_id", "customer_id", "entry_key", "status", "step_key", "next_action_at", "entered_at"],
        source).on_conflict_do_nothing().returning(table.c.id)
    return len(session.execute(stmt).all())


def finish(session: Session, entry_ids: list[uuid.UUID], *, status: EntryStatus, reason: str | None, now: datetime,
           exit_step: str | None = None) -> int:
    """Take active entries out (exited, cancelled) and withdraw their messages not yet being sent."""
    if not entry_ids:
        return 0
    values = dict(status=status, finished_at=now, exit_reason=reason, next_action_at=None,
                  exit_step=exit_step if exit_step is not None else CampaignEntry.step_key)
    changed = session.execute(update(CampaignEntry).where(CampaignEntry.id.in_(entry_ids),
                                                          CampaignEntry.status == EntryStatus.ACTIVE)
                              .values(**values).execution_options(synchronize_session=False)).rowcount
    if reason in WITHDRAWING:
        withdraw(session, select(CampaignStepRun.message_id).where(CampaignStepRun.entry_id.in_(entry_ids)),
                 reason=f"left the campaign: {reason}", now=now)
    return changed


def withdraw(session: Session, message_ids, *, reason: str, now: datetime) -> int:
    """Cancel pending messages no worker holds (a claimed one is being sent: its guard decides)."""
    return session.execute(update(Message).where(
        Message.id.in_(message_ids), Message.status.in_(PENDING), Message.claimed_at.is_(None))
        .values(status=MessageStatus.CANCELLED, last_error=reason, updated_at=now)
        .execution_options(synchronize_session=False)).rowcount
