"""The journey engine: moves due entries through their campaign's steps, a batch at a time.

A batch is one transaction over entries locked FOR UPDATE SKIP LOCKED, so two workers never run the same
entry, and a worker killed mid-batch leaves nothing behind (the next one redoes the batch). Each step
reads what it needs for the whole batch at once (customers, consents, rule matches) and writes in bulk:
messages (unique per campaign, step, customer and entry), step runs (unique per entry and step) and the
entries' next step. SEND writes the message due now; the dispatcher queues it and the sender applies
consent, the frequency cap and quiet hours, and renders it (campaign.guard) when it goes out.
"""
from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm import events
from crm.customers import rules as customer_rules
from crm.customers.models import Consent, Customer, Order
from crm.db import lock_for_update, transaction, upsert_insert
from crm.enums import Channel, LifecycleStage, ServiceTier
from crm.errors import DomainError
from crm.messages import policy, templates
from crm.messages.models import Message, MessagePurpose, MessageStatus
from crm.segments.rules import compile_rule
from journeys.campaigns.entries import WITHDRAWING, audience_condition, withdraw
from journeys.campaigns.models import Campaign, CampaignEntry, CampaignStatus, CampaignStepRun, EntryStatus
from journeys.campaigns.schedule import next_local_time

log = logging.getLogger(__name__)
BATCH = 500


def trigger_of(campaign_id) -> str:
    return f"campaign:{campaign_id}"


def dedupe_key(campaign_id, step_key: str, customer_id, entry_id) -> str:
    return f"campaign:{campaign_id}:{step_key}:{customer_id}:{entry_id}"


def advance_due(session: Session, *, now: datetime, batch: int = BATCH) -> int:
    """Run every due step of running campaigns; returns how many entries were moved."""
    moved = 0
    while True:
        with transaction(session):
            stmt = (select(CampaignEntry)
                    .where(CampaignEntry.status == EntryStatus.ACTIVE, CampaignEntry.next_action_at <= now,
                           CampaignEntry.campaign_id.in_(select(Campaign.id)
                                                         .where(Campaign.status == CampaignStatus.RUNNING)))
                    .order_by(CampaignEntry.next_action_at).limit(batch))
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            entries = session.scalars(stmt.execution_options(populate_existing=True)).all()
            by_campaign: dict[uuid.UUID, list[CampaignEntry]] = defaultdict(list)
            for entry in entries:
                by_campaign[entry.campaign_id].append(entry)
            for campaign_id, group in by_campaign.items():
                # FOR SHARE: a pause or cancel waits for this batch, then withdraws what it wrote.
                campaign_stmt = select(Campaign).where(Campaign.id == campaign_id)
                if session.get_bind().dialect.name == "postgresql":
                    campaign_stmt = campaign_stmt.with_for_update(read=True)
                campaign = session.scalars(campaign_stmt.execution_options(populate_existing=True)).one()
                if campaign.status == CampaignStatus.RUNNING:
                    Journey(session, campaign, now).run(group)
        moved += len(entries)
        if len(entries) < batch:
            return moved


class Journey:
    """One campaign's steps applied to a batch of its entries."""

    def __init__(self, session: Session, campaign: Campaign, now: datetime):
        self.session, self.campaign, self.now = session, campaign, now
        self.order = [step["key"] for step in campaign.steps]
        self.steps = {step["key"]: step for step in campaign.steps}
        self.customers: dict[uuid.UUID, Customer] = {}
        self.step_runs: list[dict] = []
        self.messages: list[dict] = []

    # -- the loop --------------------------------------------------------------------------------------

    def run(self, entries: list[CampaignEntry]) -> None:
        ids = list({e.customer_id for e in entries})
        self.customers = {c.id: c for c in self.session.scalars(select(Customer).where(Customer.id.in_(ids)))}
        active = self._exit_criteria(entries)
        while active:
            by_step: dict[str | None, list[CampaignEntry]] = defaultdict(list)
            for entry in active:
                by_step[entry.step_key].append(entry)
            active = []
            for key, group in by_step.items():
                if key is None:
                    self._finish(group, EntryStatus.COMPLETED, None)
                    continue
                step = self.steps.get(key)
                if step is None:   # the step was removed by an edit of the running campaign
                    self._finish(group, EntryStatus.EXITED, "STEP_REMOVED")
                    continue
                active += getattr(self, f"_{step['type'].lower()}")(step, group)
        self._write()

    def _next(self, key: str) -> str | None:
        index = self.order.index(key) + 1
        return self.order[index] if index < len(self.order) else None

    def _record(self, entry: CampaignEntry, step: dict, outcome: str, message_id: uuid.UUID | None = None):
        self.step_runs.append(dict(id=uuid.uuid4(), campaign_id=self.campaign.id, entry_id=entry.id,
                                   customer_id=entry.customer_id, step_key=step["key"], outcome=outcome,
                                   message_id=message_id, at=self.now))

    def _go(self, entry: CampaignEntry, key: str | None, at: datetime | None = None) -> None:
        entry.step_key, entry.next_action_at = key, at or self.now

    def _finish(self, entries: list[CampaignEntry], status: EntryStatus, reason: str | None,
                step: str | None = None) -> None:
        for entry in entries:
            entry.status, entry.finished_at, entry.next_action_at = status, self.now, None
            entry.exit_reason, entry.exit_step = reason, step if step is not None else entry.step_key
        if reason in WITHDRAWING:
            withdraw(self.session, select(CampaignStepRun.message_id).where(
                CampaignStepRun.entry_id.in_([e.id for e in entries])), reason=f"left the campaign: {reason}",
                now=self.now)

    def _matching(self, rule_or_condition, entries: list[CampaignEntry]) -> set[uuid.UUID]:
        """Customers of ``entries`` that match a rule (dict) or a condition over Customer, in one statement."""
        condition = compile_rule(rule_or_condition, now=self.now) if isinstance(rule_or_condition, dict) \
            else rule_or_condition
        ids = [e.customer_id for e in entries]
        return set(self.session.scalars(select(Customer.id).where(Customer.id.in_(ids), condition)))

    def _exit_criteria(self, entries: list[CampaignEntry]) -> list[CampaignEntry]:
        gone = [e for e in entries if e.customer_id not in self.customers
                or self.customers[e.customer_id].merged_into_id is not None]
        if gone:
            self._finish(gone, EntryStatus.EXITED, "CUSTOMER_MERGED")
        active = [e for e in entries if e not in gone]
        if active and self.campaign.exit_on_order:
            last_order = dict(self.session.execute(
                select(Order.customer_id, func.max(Order.occurred_at)).where(
                    Order.customer_id.in_([e.customer_id for e in active]), Order.status == "COMPLETED")
                .group_by(Order.customer_id)).all())
            ordered = [e for e in active if last_order.get(e.customer_id) and last_order[e.customer_id] > e.entered_at]
            if ordered:
                self._finish(ordered, EntryStatus.EXITED, "ORDER_PLACED")
                active = [e for e in active if e not in ordered]
        if active and self.campaign.exit_rule:
            matched = self._matching(self.campaign.exit_rule, active)
            leaving = [e for e in active if e.customer_id in matched]
            if leaving:
                self._finish(leaving, EntryStatus.EXITED, "EXIT_RULE")
                active = [e for e in active if e not in leaving]
        return active

    # -- steps: each returns the entries that go straight on to their next step -------------------------

    def _send(self, step: dict, entries: list[CampaignEntry]) -> list[CampaignEntry]:
        audience = audience_condition(self.campaign, self.now)
        if audience is not None:
            inside = self._matching(audience, entries)
            outside = [e for e in entries if e.customer_id not in inside]
            if outside:
                self._finish(outside, EntryStatus.EXITED, "LEFT_AUDIENCE")
                entries = [e for e in entries if e.customer_id in inside]
        channels = list(dict.fromkeys(Channel(v["channel"]) for v in step["content"]))
        consented = set(self.session.execute(select(Consent.customer_id, Consent.channel).where(
            Consent.customer_id.in_([e.customer_id for e in entries]), Consent.channel.in_(channels),
            Consent.granted.is_(True))).all())
        purpose = self.campaign.purpose
        for entry in entries:
            customer = self.customers[entry.customer_id]
            channel, reason = self._channel(customer, channels, consented, purpose)
            variants = {v["locale"]: v["template"] for v in step["content"] if v["channel"] == channel.value}
            locale, source = templates.pick_locale(variants, customer.locale)
            message_id = uuid.uuid4()
            self.messages.append(dict(
                id=message_id, customer_id=customer.id, channel=channel, purpose=purpose,
                trigger=trigger_of(self.campaign.id), subject=None, body=source, locale=locale or None,
                status=MessageStatus.SUPPRESSED if reason else MessageStatus.SCHEDULED, suppression_reason=reason,
                scheduled_for=self.now, attempts=0,
                dedupe_key=dedupe_key(self.campaign.id, step["key"], customer.id, entry.id),
                context={"campaignId": str(self.campaign.id), "entryId": str(entry.id), "step": step["key"],
                         "render": True, "masked": self.campaign.masked_by is not None},
                actor=trigger_of(self.campaign.id), created_at=self.now, updated_at=self.now))
            self._record(entry, step, f"{channel.value}" + (f" suppressed: {reason}" if reason else ""), message_id)
            self._go(entry, self._next(step["key"]))
        return entries

    @staticmethod
    def _channel(customer: Customer, channels: list[Channel], consented: set, purpose: MessagePurpose):
        """The first channel the customer can be reached on, or the first one with why not."""
        addressed = [c for c in channels if policy.address_of(customer, c)]
        if not addressed:
            return channels[0], "NO_ADDRESS"
        if purpose not in policy.NEEDS_CONSENT:
            return addressed[0], None
        for channel in addressed:
            if (customer.id, channel) in consented:
                return channel, None
        return addressed[0], "NO_CONSENT"

    def _wait(self, step: dict, entries: list[CampaignEntry]) -> list[CampaignEntry]:
        for entry in entries:
            arrived = entry.next_action_at or self.now
            if "waitSeconds" in step:
                until = arrived + timedelta(seconds=step["waitSeconds"])
            else:
                zone = policy.zone_of(self.customers[entry.customer_id].timezone)
                until = next_local_time(arrived, zone, time.fromisoformat(step["waitUntilLocalTime"]))
            self._record(entry, step, f"until {until.isoformat(timespec='seconds')}")
            self._go(entry, self._next(step["key"]), until)
        return []

    def _branch(self, step: dict, entries: list[CampaignEntry]) -> list[CampaignEntry]:
        matched = self._matching(step["rule"], entries)
        for entry in entries:
            hit = entry.customer_id in matched
            target = step.get("ifTrue" if hit else "ifFalse") or self._next(step["key"])
            self._record(entry, step, "TRUE" if hit else "FALSE")
            self._go(entry, target)
        return entries

    def _update(self, step: dict, entries: list[CampaignEntry]) -> list[CampaignEntry]:
        actor = trigger_of(self.campaign.id)
        for entry in entries:
            customer = self.session.scalars(lock_for_update(select(Customer).where(Customer.id == entry.customer_id),
                                                            self.session)).one()
            done = []
            if "stage" in step and customer.lifecycle_stage.value != step["stage"]:
                try:
                    customer_rules.move_stage(self.session, customer, LifecycleStage(step["stage"]),
                                              reason=f"campaign {self.campaign.name}", actor=actor, at=self.now)
                    done.append(f"stage {step['stage']}")
                except DomainError as exc:
                    done.append(f"stage not moved: {exc.message}")
            if "tierPin" in step:
                customer_rules.change_tier(self.session, customer, ServiceTier(step["tierPin"]), pinned=True,
                                           reason=f"campaign {self.campaign.name}", actor=actor)
                done.append(f"tier {step['tierPin']} pinned")
            if "points" in step:
                # Loyalty credits it once: the ledger refuses a second entry with this idempotency key.
                events.emit(self.session, "campaign.points_granted", customerId=str(customer.id),
                            points=step["points"], reason=step["pointsReason"],
                            idempotencyKey=f"campaign:{self.campaign.id}:{step['key']}:{entry.id}")
                done.append(f"{step['points']} points")
            self._record(entry, step, "; ".join(done) or "nothing to change")
            self._go(entry, self._next(step["key"]))
        return entries

    def _exit(self, step: dict, entries: list[CampaignEntry]) -> list[CampaignEntry]:
        for entry in entries:
            self._record(entry, step, "exit")
        self._finish(entries, EntryStatus.EXITED, "EXIT_STEP", step["key"])
        return []

    # -- writes ----------------------------------------------------------------------------------------

    def _write(self) -> None:
        insert = upsert_insert(self.session)
        if self.messages:
            # RETURNING makes SQLAlchemy send multi-row INSERTs (not one statement per row) and tells
            # which rows were written; a message written before (the same entry and step) is looked up.
            table = Message.__table__
            stored = dict(self.session.execute(
                insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
                .returning(table.c.dedupe_key, table.c.id), self.messages).all())
            earlier = [m["dedupe_key"] for m in self.messages if m["dedupe_key"] not in stored]
            if earlier:
                stored.update(self.session.execute(select(Message.dedupe_key, Message.id)
                                                   .where(Message.dedupe_key.in_(earlier))).all())
            by_id = {m["id"]: stored[m["dedupe_key"]] for m in self.messages}
            for run in self.step_runs:
                if run["message_id"] is not None:
                    run["message_id"] = by_id[run["message_id"]]
        if self.step_runs:
            table = CampaignStepRun.__table__
            self.session.execute(insert(table).on_conflict_do_nothing(index_elements=["entry_id", "step_key"])
                                 .returning(table.c.id), self.step_runs).all()
        self.session.flush()
        self.messages, self.step_runs = [], []
