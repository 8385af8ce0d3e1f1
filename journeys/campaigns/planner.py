"""Planning scheduled campaigns: each occurrence enters its audience when it is due where they live.

For a local-time schedule every customer timezone is its own run: when it is 09:00 in Tokyo the Tokyo
customers of the audience (as it is then) enter, London's nine hours later. A run row per (occurrence,
zone) is inserted in the transaction that enters its customers; a second scheduler finds it and does
nothing. An occurrence found later than ``late_limit`` (workers down) is recorded as skipped rather
than sent at the wrong time of day.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, cast, func, literal, select
from sqlalchemy.orm import Session

from crm.customers.models import Customer
from crm.db import lock_for_update, transaction, upsert_insert
from crm.messages.policy import zone_of
from journeys.campaigns import schedule as schedules
from journeys.campaigns.entries import enter
from journeys.campaigns.models import Campaign, CampaignEntry, CampaignRun, CampaignStatus, EntryStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanSettings:
    late_limit: timedelta = timedelta(hours=1)

    @classmethod
    def from_config(cls, config) -> PlanSettings:
        return cls(late_limit=timedelta(seconds=float(config["CAMPAIGNS_LATE_LIMIT"])))


def customer_zones(session: Session) -> list[str]:
    return list(session.scalars(select(Customer.timezone).where(Customer.merged_into_id.is_(None)).distinct()))


def locked_running(session: Session, campaign_id) -> Campaign | None:
    """The campaign if it is RUNNING, held FOR SHARE so a pause or cancel waits for this transaction."""
    stmt = select(Campaign).where(Campaign.id == campaign_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True)
    campaign = session.scalars(stmt.execution_options(populate_existing=True)).first()
    return campaign if campaign is not None and campaign.status == CampaignStatus.RUNNING else None


def due_runs(campaign: Campaign, zones: list[str], now: datetime) -> list[tuple[str, schedules.Occurrence]]:
    """(zone, occurrence) pairs due now and not before the campaign was (re)scheduled."""
    schedule = campaign.schedule
    pairs = []
    if schedules.is_local(schedule):
        for zone in zones:
            occurrence = schedules.latest(schedule, zone_of(zone), now)
            if occurrence is not None:
                pairs.append((zone, occurrence))
    else:
        occurrence = schedules.latest(schedule, zone_of(schedule.get("timezone")), now)
        if occurrence is not None:
            pairs.append((schedules.SHARED_ZONE, occurrence))
    return [(zone, o) for zone, o in pairs if campaign.plan_from is None or o.instant >= campaign.plan_from]


def plan_run(session: Session, *, campaign_id, zone: str, occurrence: schedules.Occurrence, now: datetime,
             settings: PlanSettings) -> int | None:
    """Enter one occurrence in one zone; None when it was planned already (here or by another scheduler)."""
    with transaction(session):
        campaign = locked_running(session, campaign_id)
        if campaign is None:
            return None
        table = CampaignRun.__table__
        late = occurrence.instant < now - settings.late_limit
        inserted = session.execute(upsert_insert(session)(table).values(
            id=uuid.uuid4(), campaign_id=campaign.id,
            period=occurrence.period, zone=zone, due_at=occurrence.instant, planned_at=now, entered=0,
            skipped=late).on_conflict_do_nothing(index_elements=["campaign_id", "period", "zone"])
            .returning(table.c.id)).first()
        if inserted is None:
            return None
        if late:
            log.warning("campaign %s: occurrence %s in %s found %s late, skipped", campaign.id, occurrence.period,
                        zone, now - occurrence.instant)
            return 0
        who = Customer.timezone == zone if zone != schedules.SHARED_ZONE else literal(True)
        entered = enter(session, campaign, who=who, entry_key=f"run:{occurrence.period}", due_at=now, now=now)
        session.execute(table.update().where(table.c.id == inserted[0]).values(entered=entered))
        return entered


def plan_due(session: Session, *, now: datetime, settings: PlanSettings) -> int:
    """Plan every due occurrence of every running scheduled campaign; returns how many entered. A campaign
    whose planning fails is logged with its id and skipped this round: the others are planned."""
    campaigns = session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.RUNNING,
                                                       Campaign.schedule.is_not(None))).all()
    session.commit()   # end the read: each run is its own transaction
    zones = customer_zones(session) if any(_is_local(c) for c in campaigns) else []
    entered = 0
    for campaign in campaigns:
        campaign_id = campaign.id
        try:
            entered += _plan_campaign(session, campaign, zones, now=now, settings=settings)
        except Exception:
            session.rollback()
            log.exception("campaign %s: planning failed, skipped this round", campaign_id)
    session.commit()
    return entered


def _is_local(campaign: Campaign) -> bool:
    try:
        return schedules.is_local(campaign.schedule)
    except (AttributeError, TypeError):   # a stored schedule of the wrong shape: its planning fails (logged)
        return False


def _plan_campaign(session: Session, campaign: Campaign, zones: list[str], *, now: datetime,
                   settings: PlanSettings) -> int:
    pairs = due_runs(campaign, zones, now)
    if not pairs:
        return 0
    planned = set(session.execute(select(CampaignRun.period, CampaignRun.zone).where(
        CampaignRun.campaign_id == campaign.id, CampaignRun.period.in_({o.period for _, o in pairs}))).all())
    entered = 0
    for zone, occurrence in pairs:
        if (occurrence.period, zone) not in planned:
            entered += plan_run(session, campaign_id=campaign.id, zone=zone, occurrence=occurrence, now=now,
                                settings=settings) or 0
    return entered


def enter_dormant(session: Session, *, now: datetime) -> int:
    """NO_ORDER_FOR triggers: customers whose last order (or sign-up, if none) is N days old enter, once
    per quiet spell (the entry key is the spell's start, so ordering again and going quiet again re-enters
    them, as the re-entry rule allows)."""
    campaigns = session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.RUNNING,
                                                       Campaign.trigger_kind == "NO_ORDER_FOR")).all()
    session.commit()
    entered = 0
    for campaign_id in [c.id for c in campaigns]:
        with transaction(session):
            campaign = locked_running(session, campaign_id)
            if campaign is None:
                continue
            trigger = campaign.trigger
            quiet_since = func.coalesce(Customer.last_order_at, Customer.created_at)
            entered += enter(session, campaign, who=quiet_since <= now - timedelta(days=trigger["days"]),
                             entry_key=literal("dormant:") + cast(quiet_since, String), now=now,
                             due_at=now + timedelta(seconds=trigger["delaySeconds"]))
    return entered


def complete_finished(session: Session, *, now: datetime) -> int:
    """One-off and bounded recurring campaigns whose schedule has ended and whose entries all finished."""
    done = 0
    candidates = session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.RUNNING,
                                                        Campaign.schedule.is_not(None))).all()
    session.commit()
    for campaign in candidates:
        if not schedules.has_ended(campaign.schedule, now):
            continue
        with transaction(session):
            locked = session.scalars(lock_for_update(select(Campaign).where(Campaign.id == campaign.id),
                                                     session)).first()
            if locked is None or locked.status != CampaignStatus.RUNNING:
                continue
            if locked.schedule.get("at") and not session.scalar(
                    select(func.count()).select_from(CampaignRun).where(CampaignRun.campaign_id == campaign.id)):
                continue
            active = session.scalar(select(func.count()).select_from(CampaignEntry).where(
                CampaignEntry.campaign_id == campaign.id, CampaignEntry.status == EntryStatus.ACTIVE))
            if active:
                continue
            locked.status, locked.finished_at = CampaignStatus.COMPLETED, now
            done += 1
    return done
