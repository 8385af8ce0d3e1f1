"""Campaign services: write, schedule, pause, resume, cancel, and what an order means to campaigns.

Each public function is one transaction. Roles with campaigns.write write campaigns (the GraphQL layer checks);
a TRANSACTIONAL campaign, which reaches customers without their consent, is written, scheduled and resumed only
by roles with messages.transactional (checked here: crm.auth.permissions).
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm.auth.permissions import Capability, has, roles_for
from crm.customers.models import Order
from crm.db import lock_for_update, transaction, utcnow
from crm.enums import Role
from crm.errors import DomainError, Forbidden, Invalid, NotFound
from crm.masking import masks_pii
from crm.messages.models import PENDING, Message, MessagePurpose, MessageStatus
from crm.messages.templates import DEFAULT_LIMITS, RenderLimits
from journeys.campaigns import definition
from journeys.campaigns.engine import trigger_of
from journeys.campaigns.entries import finish, withdraw
from journeys.campaigns.errors import CampaignErrorCode
from journeys.campaigns.models import Campaign, CampaignEntry, CampaignStatus, CampaignStepRun, EntryStatus

# Where a paused campaign's unsent messages wait: the dispatcher never reaches it; resume brings them back.
HELD_UNTIL = datetime(2999, 1, 1, tzinfo=timezone.utc)
PURPOSES = (MessagePurpose.CAMPAIGN, MessagePurpose.TRANSACTIONAL)
REENTRY = ("NEVER", "COOLDOWN")
MAX_COOLDOWN = 366 * 86400
MAX_CONVERSION_WINDOW = 90 * 86400
EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.RUNNING, CampaignStatus.PAUSED)


def get_campaign(session: Session, campaign_id: uuid.UUID, field: str = "id") -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("No campaign has this id.", field)
    return campaign


def _locked(session: Session, campaign_id: uuid.UUID) -> Campaign:
    campaign = session.scalars(lock_for_update(select(Campaign).where(Campaign.id == campaign_id), session)).first()
    if campaign is None:
        raise NotFound("No campaign has this id.", "id")
    return campaign


@contextmanager
def _moving(session: Session, campaign_id: uuid.UUID, *, only: CampaignStatus, done: str,
            sending_as: Role | None = None) -> Iterator[Campaign]:
    """The one transaction of a move from status ``only`` (``done``: what the move does, for the refusal),
    with the campaign locked; a move that makes it send checks that the role ``sending_as`` may."""
    with transaction(session):
        campaign = _locked(session, campaign_id)
        if campaign.status != only:
            raise DomainError(CampaignErrorCode.INVALID_TRANSITION,
                              f"Only a {only.value} campaign is {done}; this one is {campaign.status.value}.", "id")
        if sending_as is not None:
            _may_send_without_consent(campaign, sending_as)
        yield campaign


def _may_send_without_consent(campaign: Campaign, role: Role) -> None:
    if campaign.purpose == MessagePurpose.TRANSACTIONAL and not has(role, Capability.MESSAGES_TRANSACTIONAL):
        runners = " or ".join(r.value for r in roles_for(Capability.MESSAGES_TRANSACTIONAL))
        raise Forbidden(f"Only {runners} runs TRANSACTIONAL campaigns, which go out without consent.", "input.purpose")


def _touched_by(campaign: Campaign, actor: str | None, role: Role) -> None:
    """A masked role's write, schedule or resume makes the campaign render masked from now on."""
    if masks_pii(role):
        campaign.masked_by = actor or role.value


def _apply(session: Session, campaign: Campaign, values: dict, now: datetime, *, actor: str | None, role: Role,
           limits: RenderLimits) -> None:
    """Check and set the given fields (absent keys stay as they are)."""
    if "name" in values:
        name = (values["name"] or "").strip()
        if not name:
            raise DomainError(CampaignErrorCode.REQUIRED, "A campaign needs a name.", "input.name")
        if len(name) > 200:
            raise Invalid("A name is at most 200 characters.", "input.name")
        campaign.name = name
    if "description" in values:
        campaign.description = (values["description"] or "").strip()[:5000] or None
    if "purpose" in values:
        purpose = MessagePurpose(getattr(values["purpose"], "value", values["purpose"]) or "CAMPAIGN")
        if purpose not in PURPOSES:
            raise Invalid("A campaign's purpose is CAMPAIGN or TRANSACTIONAL.", "input.purpose")
        campaign.purpose = purpose
    if "audience" in values:
        campaign.audience = definition.clean_audience(session, values["audience"])
    if values.get("schedule") is not None and values.get("trigger") is not None:
        raise Invalid("A campaign runs on a schedule or on a trigger, not both.", "input.trigger")
    if "schedule" in values:
        schedule = definition.clean_schedule(values["schedule"], now) if values["schedule"] is not None else None
        if schedule != campaign.schedule:
            campaign.schedule, campaign.plan_from = schedule, now
        if schedule is not None:
            campaign.trigger = campaign.trigger_kind = None
    if "trigger" in values:
        trigger = definition.clean_trigger(session, values["trigger"]) if values["trigger"] is not None else None
        campaign.trigger, campaign.trigger_kind = trigger, trigger["kind"] if trigger else None
        if trigger is not None:
            campaign.schedule = None
    if "steps" in values:
        campaign.steps = definition.clean_steps(session, values["steps"] or [], role=role, limits=limits)
        campaign.content_by, campaign.content_role = actor, role.value
        if not masks_pii(role):
            campaign.masked_by = None   # an unmasked role wrote the content as it stands
    if "exit_on_order" in values:
        campaign.exit_on_order = bool(values["exit_on_order"])
    if "exit_rule" in values:
        campaign.exit_rule = definition.clean_rule(session, values["exit_rule"], "input.exitRule", role) \
            if values["exit_rule"] is not None else None
    if "reentry" in values:
        reentry = getattr(values["reentry"], "value", values["reentry"]) or "NEVER"
        if reentry not in REENTRY:
            raise Invalid("Re-entry is NEVER or COOLDOWN.", "input.reentry")
        campaign.reentry = reentry
    if "cooldown_seconds" in values:
        cooldown = values["cooldown_seconds"] or 0
        if not 0 <= cooldown <= MAX_COOLDOWN:
            raise Invalid(f"cooldownSeconds is 0..{MAX_COOLDOWN} (a year).", "input.cooldownSeconds")
        campaign.cooldown_seconds = cooldown
    if "conversion_window_seconds" in values and values["conversion_window_seconds"] is not None:
        window = values["conversion_window_seconds"]
        if not 3600 <= window <= MAX_CONVERSION_WINDOW:
            raise Invalid(f"conversionWindowSeconds is 3600..{MAX_CONVERSION_WINDOW} (90 days).",
                          "input.conversionWindowSeconds")
        campaign.conversion_window_seconds = window


def create_campaign(session: Session, *, values: dict, actor: str | None, actor_role: Role,
                    limits: RenderLimits = DEFAULT_LIMITS, now: datetime | None = None) -> Campaign:
    """A DRAFT campaign; ``values`` holds the input's fields (snake_case). Templates are checked under
    ``limits`` (a template over the cost cap even for a sample customer is INVALID)."""
    now = now or utcnow()
    with transaction(session):
        campaign = Campaign(id=uuid.uuid4(), status=CampaignStatus.DRAFT, purpose=MessagePurpose.CAMPAIGN,
                            audience={}, steps=[], exit_on_order=False, reentry="NEVER", cooldown_seconds=0,
                            conversion_window_seconds=7 * 86400, created_by=actor, updated_by=actor,
                            created_at=now, updated_at=now)
        if "name" not in values:
            raise DomainError(CampaignErrorCode.REQUIRED, "A campaign needs a name.", "input.name")
        _apply(session, campaign, values, now, actor=actor, role=actor_role, limits=limits)
        _touched_by(campaign, actor, actor_role)
        _may_send_without_consent(campaign, actor_role)
        session.add(campaign)
    return campaign


def update_campaign(session: Session, *, campaign_id: uuid.UUID, values: dict, actor: str | None,
                    actor_role: Role, limits: RenderLimits = DEFAULT_LIMITS, now: datetime | None = None) -> Campaign:
    """Change a campaign that has not finished. A new schedule plans from now on: what was sent in a
    period is not sent again in it. Entries at a step that was removed leave at their next step."""
    now = now or utcnow()
    with transaction(session):
        campaign = _locked(session, campaign_id)
        if campaign.status not in EDITABLE:
            raise DomainError(CampaignErrorCode.CAMPAIGN_FINISHED,
                              f"A {campaign.status.value} campaign cannot change.", "id")
        _may_send_without_consent(campaign, actor_role)   # nor edit one that is TRANSACTIONAL ...
        _apply(session, campaign, values, now, actor=actor, role=actor_role, limits=limits)
        _touched_by(campaign, actor, actor_role)
        _may_send_without_consent(campaign, actor_role)   # ... nor make one so
        if campaign.status != CampaignStatus.DRAFT:
            _check_runnable(campaign, now)
        campaign.updated_by, campaign.updated_at = actor, now
    return campaign


def _check_runnable(campaign: Campaign, now: datetime) -> None:
    if not campaign.steps:
        raise DomainError(CampaignErrorCode.REQUIRED, "A campaign has at least one step before it runs.", "input.steps")
    if campaign.schedule is None and campaign.trigger is None:
        raise DomainError(CampaignErrorCode.REQUIRED,
                          "A campaign runs on a schedule or a trigger: give one.", "input.schedule")


def schedule_campaign(session: Session, *, campaign_id: uuid.UUID, actor: str | None, actor_role: Role,
                      now: datetime | None = None) -> Campaign:
    """DRAFT -> RUNNING: from now on its schedule is planned or its trigger listened to."""
    now = now or utcnow()
    with _moving(session, campaign_id, only=CampaignStatus.DRAFT, done="scheduled", sending_as=actor_role) as campaign:
        _check_runnable(campaign, now)
        if campaign.schedule and campaign.schedule.get("at") and datetime.fromisoformat(campaign.schedule["at"]) < now:
            raise Invalid("The campaign's instant (schedule.at) has passed: set a new one.", "input.schedule.at")
        campaign.status, campaign.scheduled_at, campaign.plan_from = CampaignStatus.RUNNING, now, now
        campaign.updated_by, campaign.updated_at = actor, now
        _touched_by(campaign, actor, actor_role)
    return campaign


def pause_campaign(session: Session, *, campaign_id: uuid.UUID, actor: str | None,
                   now: datetime | None = None) -> Campaign:
    """Stop planning, entering and sending. Messages not yet with a sender wait; one a sender holds
    right now goes out (the sender checks the campaign when it claims a message)."""
    now = now or utcnow()
    with _moving(session, campaign_id, only=CampaignStatus.RUNNING, done="paused") as campaign:
        campaign.status, campaign.paused_at, campaign.updated_by, campaign.updated_at = \
            CampaignStatus.PAUSED, now, actor, now
        session.execute(update(Message).where(
            Message.trigger == trigger_of(campaign.id), Message.status.in_(PENDING), Message.claimed_at.is_(None))
            .values(status=MessageStatus.SCHEDULED, scheduled_for=HELD_UNTIL, enqueued_at=None, updated_at=now)
            .execution_options(synchronize_session=False))
    return campaign


def resume_campaign(session: Session, *, campaign_id: uuid.UUID, actor: str | None, actor_role: Role,
                    now: datetime | None = None) -> Campaign:
    """Continue where it stopped: held messages are due now, waiting entries move on when due."""
    now = now or utcnow()
    with _moving(session, campaign_id, only=CampaignStatus.PAUSED, done="resumed", sending_as=actor_role) as campaign:
        campaign.status, campaign.paused_at, campaign.updated_by, campaign.updated_at = \
            CampaignStatus.RUNNING, None, actor, now
        _touched_by(campaign, actor, actor_role)
        session.execute(update(Message).where(
            Message.trigger == trigger_of(campaign.id), Message.status == MessageStatus.SCHEDULED,
            Message.scheduled_for == HELD_UNTIL).values(scheduled_for=now, updated_at=now)
            .execution_options(synchronize_session=False))
    return campaign


def cancel_campaign(session: Session, *, campaign_id: uuid.UUID, actor: str | None,
                    now: datetime | None = None) -> Campaign:
    """Final: every active entry is cancelled and every message not yet sent is withdrawn (a COMPLETED
    campaign may still have messages waiting, for quiet hours say)."""
    now = now or utcnow()
    with transaction(session):
        campaign = _locked(session, campaign_id)
        if campaign.status == CampaignStatus.CANCELLED:
            raise DomainError(CampaignErrorCode.INVALID_TRANSITION,
                              f"A {campaign.status.value} campaign cannot be cancelled.", "id")
        campaign.status, campaign.finished_at, campaign.updated_by, campaign.updated_at = \
            CampaignStatus.CANCELLED, now, actor, now
        session.execute(update(CampaignEntry).where(CampaignEntry.campaign_id == campaign.id,
                                                    CampaignEntry.status == EntryStatus.ACTIVE)
                        .values(status=EntryStatus.CANCELLED, finished_at=now, exit_reason="CAMPAIGN_CANCELLED",
                                exit_step=CampaignEntry.step_key, next_action_at=None)
                        .execution_options(synchronize_session=False))
        withdraw(session, select(Message.id).where(Message.trigger == trigger_of(campaign.id)),
                 reason="campaign cancelled", now=now)
    return campaign


def record_order(session: Session, *, order_id: uuid.UUID, now: datetime | None = None) -> dict:
    """Conversions: campaign messages SENT to the customer within their campaign's window before the
    order count it (first order only). Exits: the customer leaves campaigns that exit on an order."""
    now = now or utcnow()
    with transaction(session):
        order = session.get(Order, order_id)
        if order is None or order.status != "COMPLETED":
            return {"converted": 0, "exited": 0}
        rows = session.execute(
            select(CampaignStepRun.id, Message.sent_at, Campaign.conversion_window_seconds)
            .join(Message, Message.id == CampaignStepRun.message_id).join(Campaign, Campaign.id == CampaignStepRun.campaign_id)
            .where(CampaignStepRun.customer_id == order.customer_id, CampaignStepRun.converted_at.is_(None),
                   Message.status == MessageStatus.SENT, Message.sent_at <= order.occurred_at)).all()
        converted = [run_id for run_id, sent_at, window in rows
                     if order.occurred_at <= sent_at + timedelta(seconds=window)]
        if converted:
            session.execute(update(CampaignStepRun).where(CampaignStepRun.id.in_(converted),
                                                          CampaignStepRun.converted_at.is_(None))
                            .values(converted_at=order.occurred_at, converted_order_id=order.id)
                            .execution_options(synchronize_session=False))
        stmt = select(CampaignEntry.id).join(Campaign, Campaign.id == CampaignEntry.campaign_id).where(
            CampaignEntry.customer_id == order.customer_id, CampaignEntry.status == EntryStatus.ACTIVE,
            Campaign.exit_on_order.is_(True), CampaignEntry.entered_at < order.occurred_at)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=CampaignEntry)
        leaving = list(session.scalars(stmt))
        exited = finish(session, leaving, status=EntryStatus.EXITED, reason="ORDER_PLACED", now=now)
    return {"converted": len(converted), "exited": exited}
