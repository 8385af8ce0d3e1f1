"""Campaign results, per campaign and per step, for any number of campaigns in four statements."""
from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.messages.models import PENDING, Message, MessageStatus
from journeys.campaigns.models import Campaign, CampaignEntry, CampaignStepRun, EntryStatus


@dataclass
class Counts:
    entered: int = 0
    sent: int = 0
    pending: int = 0
    failed: int = 0
    cancelled: int = 0
    suppressed_by_reason: Counter = field(default_factory=Counter)
    exited: int = 0
    conversions: int = 0

    @property
    def suppressed(self) -> int:
        return sum(self.suppressed_by_reason.values())

    @property
    def conversion_rate(self) -> float | None:
        return round(self.conversions / self.sent, 4) if self.sent else None


@dataclass
class StepResults(Counts):
    key: str = ""
    type: str = ""


@dataclass
class Results(Counts):
    active: int = 0
    completed: int = 0
    left: int = 0   # entries cancelled with the campaign
    exited_by_reason: Counter = field(default_factory=Counter)
    steps: list[StepResults] = field(default_factory=list)


# The count each status adds to; messages SUPPRESSED count by reason, entries not listed have exited.
MESSAGE_COUNTS = {MessageStatus.SENT: "sent", **dict.fromkeys(PENDING, "pending"), MessageStatus.FAILED: "failed",
                  MessageStatus.CANCELLED: "cancelled"}
ENTRY_COUNTS = {EntryStatus.ACTIVE: "active", EntryStatus.COMPLETED: "completed", EntryStatus.CANCELLED: "left"}


def _add(counts: Counts, name: str, n: int) -> None:
    setattr(counts, name, getattr(counts, name) + n)


def _add_message(counts: Counts, status: MessageStatus, reason: str | None, n: int) -> None:
    if status in MESSAGE_COUNTS:
        _add(counts, MESSAGE_COUNTS[status], n)
    elif status == MessageStatus.SUPPRESSED:
        counts.suppressed_by_reason[reason or "UNKNOWN"] += n


def results_for(session: Session, campaigns: list[Campaign]) -> dict[uuid.UUID, Results]:
    ids = [c.id for c in campaigns]
    out = {c.id: Results(steps=[StepResults(key=s["key"], type=s["type"]) for s in c.steps]) for c in campaigns}
    steps = {cid: {s.key: s for s in r.steps} for cid, r in out.items()}

    def step(cid, key) -> StepResults:
        if key not in steps[cid]:   # a step removed since: its history still counts
            steps[cid][key] = StepResults(key=key, type="REMOVED")
            out[cid].steps.append(steps[cid][key])
        return steps[cid][key]

    for cid, status, reason, exit_step, n in session.execute(
            select(CampaignEntry.campaign_id, CampaignEntry.status, CampaignEntry.exit_reason,
                   CampaignEntry.exit_step, func.count())
            .where(CampaignEntry.campaign_id.in_(ids))
            .group_by(CampaignEntry.campaign_id, CampaignEntry.status, CampaignEntry.exit_reason,
                      CampaignEntry.exit_step)):
        results = out[cid]
        results.entered += n
        if status in ENTRY_COUNTS:
            _add(results, ENTRY_COUNTS[status], n)
        else:
            results.exited += n
            results.exited_by_reason[reason or "UNKNOWN"] += n
            if exit_step:
                step(cid, exit_step).exited += n
    for cid, key, n, converted in session.execute(
            select(CampaignStepRun.campaign_id, CampaignStepRun.step_key, func.count(),
                   func.count(CampaignStepRun.converted_at))
            .where(CampaignStepRun.campaign_id.in_(ids))
            .group_by(CampaignStepRun.campaign_id, CampaignStepRun.step_key)):
        step(cid, key).entered += n
        step(cid, key).conversions += converted
    for cid, key, status, reason, n in session.execute(
            select(CampaignStepRun.campaign_id, CampaignStepRun.step_key, Message.status,
                   Message.suppression_reason, func.count())
            .join(Message, Message.id == CampaignStepRun.message_id)
            .where(CampaignStepRun.campaign_id.in_(ids))
            .group_by(CampaignStepRun.campaign_id, CampaignStepRun.step_key, Message.status,
                      Message.suppression_reason)):
        _add_message(step(cid, key), status, reason, n)
        _add_message(out[cid], status, reason, n)
    for cid, n in session.execute(
            select(CampaignStepRun.campaign_id, func.count(func.distinct(CampaignStepRun.entry_id)))
            .where(CampaignStepRun.campaign_id.in_(ids), CampaignStepRun.converted_at.is_not(None))
            .group_by(CampaignStepRun.campaign_id)):
        out[cid].conversions = n
    return out
