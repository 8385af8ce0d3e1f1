"""Segment services: each public function is one transaction (the periodic refresh, one per segment).

DYNAMIC segments follow their rule: created and updated with a full refresh in the same transaction,
then kept current by ``reevaluate_customer`` (run by a job after every event that can change a rule's
answer) and by ``refresh_all`` (periodic, for time-based conditions). STATIC segments change only through
``add_customers`` / ``remove_customers``. See docs/segments.md.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm import events
from crm.customers.models import Customer
from crm.db import lock_for_update, transaction, utcnow
from crm.errors import DomainError, Invalid, NotFound
from crm.segments import membership
from crm.segments.errors import SegmentErrorCode
from crm.segments.models import Segment, SegmentKind, SegmentMembership, SegmentMembershipChange, ServiceTierRule
from crm.segments.rules import condition_fields, explain, referenced_segments, validate

MAX_IDS = 1000
MAX_SAMPLE = 50


def get_segment(session: Session, segment_id: uuid.UUID, field: str = "id") -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None:
        raise NotFound("No segment has this id.", field)
    return segment


def _locked(session: Session, segment_id: uuid.UUID, field: str = "id") -> Segment:
    """The segment, its row locked for the rest of the transaction: every membership writer takes it."""
    segment = membership.lock_segment(session, segment_id)
    if segment is None:
        raise NotFound("No segment has this id.", field)
    return segment


def _text(value, field: str, limit: int, required: bool) -> str | None:
    value = (value or "").strip() if isinstance(value, str) or value is None else value
    if not isinstance(value, str):
        raise Invalid("Expected a string.", field)
    if not value:
        if required:
            raise DomainError(SegmentErrorCode.REQUIRED, "Give a name.", field)
        return None
    if len(value) > limit:
        raise Invalid(f"At most {limit} characters.", field)
    return value


def _check_rule(session: Session, kind: SegmentKind, rule, segment_id: uuid.UUID | None) -> dict | None:
    if kind == SegmentKind.STATIC:
        if rule is not None:
            raise Invalid("A STATIC segment has no rule: its members are added and removed by hand.", "input.rule")
        return None
    if rule is None:
        raise DomainError(SegmentErrorCode.REQUIRED, "A DYNAMIC segment needs a rule.", "input.rule")
    validate(rule, "input.rule")
    check_references(session, rule, segment_id, "input.rule")
    return rule


def check_references(session: Session, rule: dict, segment_id: uuid.UUID | None, field: str) -> None:
    """For a rule about to be saved (as ``segment_id``'s, or a tier's with None): every segment the rule reads exists, none of them reads (through others) this one, and no
    service tier rule reads this one while it reads the service tier: each would re-evaluate the other
    forever. The segments read are locked FOR SHARE, so a concurrent delete waits and then sees them read."""
    wanted = referenced_segments(rule)
    if wanted:
        stmt = select(Segment.id).where(Segment.id.in_(wanted))
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(read=True)
        found = set(session.scalars(stmt))
        missing = sorted(str(s) for s in wanted if s not in found)
        if missing:
            raise Invalid(f"The rule reads segments that do not exist: {', '.join(missing)}.", field)
    known = {s.id: s for s in session.scalars(select(Segment))}
    if segment_id is not None and segment_id in _reads_through(known, wanted):
        raise Invalid("The rule reads this segment through another segment's rule: a cycle.", field)
    if segment_id is not None and "serviceTier" in condition_fields(rule):
        tier_reads = set().union(*[referenced_segments(r.rule) for r in session.scalars(select(ServiceTierRule))])
        if segment_id in tier_reads | _reads_through(known, tier_reads):
            raise Invalid("A service tier rule reads this segment, so its rule cannot read serviceTier.", field)


def _reads_through(known: dict, start: set) -> set:
    """Every segment reachable from ``start`` through dynamic segments' rules."""
    seen, todo = set(), list(start)
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in known and known[current].rule is not None:
            todo.extend(referenced_segments(known[current].rule))
    return seen


def reads_service_tier(session: Session, segment_ids: set) -> list[str]:
    """Names of the segments among ``segment_ids`` (and those they read) whose rule reads serviceTier."""
    known = {s.id: s for s in session.scalars(select(Segment))}
    return sorted(known[s].name for s in _reads_through(known, segment_ids)
                  if s in known and known[s].rule is not None and "serviceTier" in condition_fields(known[s].rule))


def _store(session: Session, segment: Segment) -> None:
    try:
        with session.begin_nested():
            session.add(segment)
            session.flush()
    except IntegrityError:
        raise DomainError(SegmentErrorCode.DUPLICATE, "Another segment has this name.", "input.name") from None


def create_segment(session: Session, *, name, kind: SegmentKind, description=None, rule=None,
                   actor: str | None) -> Segment:
    """A new segment; a DYNAMIC one is filled from its rule before this returns."""
    with transaction(session):
        now = utcnow()
        segment = Segment(id=uuid.uuid4(), name=_text(name, "input.name", 200, True),
                          description=_text(description, "input.description", 2000, False), kind=kind,
                          rule=_check_rule(session, kind, rule, None), created_by=actor, created_at=now, updated_at=now)
        segment.name_key = segment.name.lower()
        _store(session, segment)
        if kind == SegmentKind.DYNAMIC:  # a new row: nobody else sees it before the commit, no lock needed
            membership.refresh(session, segment, now=now, reason="rule: segment created", actor=actor)
        events.emit(session, "segment.created", segmentId=str(segment.id))
    return segment


def update_segment(session: Session, *, segment_id: uuid.UUID, name, kind: SegmentKind, description=None,
                   rule=None, actor: str | None) -> Segment:
    """Replace name, description, kind and rule. A DYNAMIC segment is refreshed against the new rule;
    a segment turned STATIC keeps its members, which from then on change only by hand."""
    with transaction(session):
        segment = _locked(session, segment_id)
        checked_rule = _check_rule(session, kind, rule, segment.id)
        segment.name = _text(name, "input.name", 200, True)
        segment.name_key = segment.name.lower()
        segment.description = _text(description, "input.description", 2000, False)
        segment.kind, segment.rule, segment.updated_at = kind, checked_rule, utcnow()
        _store(session, segment)
        if kind == SegmentKind.DYNAMIC:
            membership.refresh(session, segment, now=utcnow(), reason="rule: segment updated", actor=actor)
        events.emit(session, "segment.updated", segmentId=str(segment.id))
    return segment


def delete_segment(session: Session, *, segment_id: uuid.UUID, actor: str | None) -> Segment:
    """Delete a segment and its memberships. Refused while another segment or a tier rule reads it."""
    with transaction(session):
        segment = _locked(session, segment_id)
        readers = _readers(session, segment.id) + [name for provider in SEGMENT_USERS
                                                   for name in provider(session, segment.id)]
        if readers:
            raise Invalid(f"Rules still read this segment: {', '.join(sorted(readers))}.", "id")
        session.delete(segment)
        events.emit(session, "segment.deleted", segmentId=str(segment.id), name=segment.name)
    return segment


# Other domains that use segments (campaign audiences and triggers): fn(session, segment_id) -> names.
SEGMENT_USERS: list = []


def _readers(session: Session, segment_id: uuid.UUID) -> list[str]:
    """What reads this segment's membership: dynamic segments' rules and tier rules."""
    readers = [s.name for s in membership.dependents(session, segment_id)]
    return readers + [f"the {r.service_tier.value} tier rule" for r in session.scalars(select(ServiceTierRule))
                      if segment_id in referenced_segments(r.rule)]


def has_readers(session: Session, segment_id: uuid.UUID) -> bool:
    return bool(_readers(session, segment_id))


def customer_ids_by(session: Session, key: str, values: list[str]) -> dict[str, uuid.UUID]:
    """Live customers by ``id``, ``email`` (case-insensitive) or ``externalId``: {given value: id}."""
    if key == "id":
        wanted = {}
        for value in values:
            try:
                wanted[uuid.UUID(value)] = value
            except ValueError:
                continue
        column, lookup = Customer.id, wanted
    elif key == "email":
        column, lookup = Customer.email, {v.strip().lower(): v for v in values}
    else:
        column, lookup = Customer.external_id, {v: v for v in values}
    rows = session.execute(select(column, Customer.id).where(column.in_(list(lookup)),
                                                             Customer.merged_into_id.is_(None))).all()
    return {lookup[found]: customer_id for found, customer_id in rows}


def _customer_ids(session: Session, customer_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if not customer_ids:
        raise DomainError(SegmentErrorCode.REQUIRED, "Give at least one customer.", "customerIds")
    if len(customer_ids) > MAX_IDS:
        raise Invalid(f"At most {MAX_IDS} customers per call.", "customerIds")
    live = membership.live_customer_ids(session, customer_ids)
    for index, customer_id in enumerate(customer_ids):
        if customer_id not in live:
            raise NotFound("No customer has this id.", f"customerIds.{index}")
    return list(dict.fromkeys(customer_ids))


def _static(session: Session, segment_id: uuid.UUID) -> Segment:
    segment = _locked(session, segment_id, "segmentId")
    if segment.kind != SegmentKind.STATIC:
        raise Invalid("The members of a DYNAMIC segment follow its rule; change the rule instead.", "segmentId")
    return segment


def add_customers(session: Session, *, segment_id: uuid.UUID, customer_ids: list[uuid.UUID],
                  actor: str | None, reason: str = "added by hand") -> Segment:
    """Add customers to a STATIC segment; customers already in it are left as they are."""
    with transaction(session):
        segment = _static(session, segment_id)
        ids = _customer_ids(session, customer_ids)
        present = membership.current_members(session, segment.id, ids)
        membership.apply_changes(session, segment, joined=[c for c in ids if c not in present], left=[],
                                 reason=reason, actor=actor, at=utcnow())
    return segment


def remove_customers(session: Session, *, segment_id: uuid.UUID, customer_ids: list[uuid.UUID],
                     actor: str | None) -> Segment:
    """Remove customers from a STATIC segment; customers not in it are ignored."""
    with transaction(session):
        segment = _static(session, segment_id)
        ids = _customer_ids(session, customer_ids)
        present = membership.current_members(session, segment.id, ids)
        membership.apply_changes(session, segment, joined=[], left=[c for c in ids if c in present],
                                 reason="removed by hand", actor=actor, at=utcnow())
    return segment


def _refresh_one(session: Session, segment_id: uuid.UUID, *, actor: str | None, now: datetime,
                 reason: str) -> tuple[Segment, int, int]:
    with transaction(session):
        segment = _locked(session, segment_id)
        if segment.kind != SegmentKind.DYNAMIC:
            raise Invalid("A STATIC segment has no rule to refresh.", "id")
        joined, left = membership.refresh(session, segment, now=now, reason=f"rule: {reason}", actor=actor)
    return segment, joined, left


def refresh_segment(session: Session, *, segment_id: uuid.UUID, actor: str | None) -> Segment:
    """A full refresh of one DYNAMIC segment now (writes only the differences)."""
    return _refresh_one(session, segment_id, actor=actor, now=utcnow(), reason="refresh requested")[0]


def refresh_all(session: Session, *, now: datetime | None = None) -> dict[str, tuple[int, int]]:
    """Refresh every DYNAMIC segment, dependencies first, one transaction each: {name: (joined, left)}."""
    now = now or utcnow()
    with transaction(session):
        order = [s.id for level in membership.dynamic_segments_in_order(session) for s in level]
    done = {}
    for segment_id in order:
        try:
            segment, joined, left = _refresh_one(session, segment_id, actor="system", now=now,
                                                 reason="periodic refresh")
        except DomainError:  # deleted or turned STATIC since the list was read
            continue
        done[segment.name] = (joined, left)
    return done


@dataclass
class Preview:
    count: int
    sample: list[Customer]


def preview(session: Session, *, rule, sample_size: int = 10) -> Preview:
    """A dry run of a rule over the whole base: how many match and a few of them. Writes nothing."""
    if rule is None:
        raise DomainError(SegmentErrorCode.REQUIRED, "Give a rule.", "rule")
    validate(rule, "rule")
    check_references(session, rule, None, "rule")
    matching = membership.matching_customers(rule, now=utcnow(), path="rule")
    count = session.scalar(select(func.count()).select_from(matching.with_only_columns(Customer.id).subquery()))
    sample = session.scalars(matching.order_by(Customer.created_at.desc(), Customer.id.desc())
                             .limit(min(max(sample_size, 0), MAX_SAMPLE))).all()
    return Preview(count, list(sample))


@dataclass
class Explanation:
    member: bool                   # stored membership
    trace: dict                    # the rule tree, each node with "result" (and "value" for conditions)
    rule_result: bool              # what the rule says now; differs from ``member`` until the pending job runs
    last_change: SegmentMembershipChange | None


def explain_membership(session: Session, *, segment_id: uuid.UUID, customer_id: uuid.UUID) -> Explanation | None:
    """Why a customer is or is not a member: the stored membership, its last change, and the rule tree
    with each node's value and result now. None for an unknown segment or customer."""
    segment = session.get(Segment, segment_id)
    customer = session.get(Customer, customer_id)
    if segment is None or customer is None or customer.merged_into_id is not None:
        return None
    stored = bool(membership.current_members(session, segment.id, [customer.id]))
    last = session.scalars(select(SegmentMembershipChange).where(
        SegmentMembershipChange.segment_id == segment.id, SegmentMembershipChange.customer_id == customer.id)
        .order_by(SegmentMembershipChange.at.desc(), SegmentMembershipChange.id.desc()).limit(1)).first()
    if segment.kind == SegmentKind.STATIC:
        return Explanation(stored, {"static": True, "result": stored}, stored, last)
    trace = explain(session, customer.id, segment.rule, now=utcnow())
    return Explanation(stored, trace, trace["result"], last)


def reevaluate_customer(session: Session, *, customer_id: uuid.UUID, reason: str, config,
                        now: datetime | None = None) -> dict[uuid.UUID, str]:
    """After an event about one customer: refresh their scores, their dynamic segments (dependencies
    first) and their automatic service tier. Safe to run twice: only differences are written.
    Returns the segment changes, {segment id: JOINED|LEFT}."""
    from crm.customers import scores
    from crm.segments import tiers

    now = now or utcnow()
    with transaction(session):
        # The customer's lock orders this after the write that caused the event and before the next one.
        # FOR NO KEY UPDATE: a refresh holding a segment may insert this customer's membership (a foreign
        # key check, FOR KEY SHARE) without waiting for us while we wait for that segment.
        customer = session.execute(lock_for_update(select(Customer).where(Customer.id == customer_id), session,
                                                   key_share=True)).scalar_one_or_none()
        if customer is None:
            return {}
        live = customer.merged_into_id is None
        if live:
            scores.refresh_customer(session, customer, config, now)
        changes = membership.evaluate_customer(session, customer.id, now=now, reason=f"rule: {reason}")
        if live:
            tiers.apply(session, customer, config, now)
    return changes


def absorb_duplicate(session: Session, *, primary_id: uuid.UUID, duplicate_id: uuid.UUID) -> int:
    """After a merge (the customer.merged job): the duplicate leaves every segment, and the primary joins
    the STATIC ones it was not in; dynamic ones take the primary on its re-evaluation. Runs after the
    merge commits rather than inside it, because a merge holds its customers FOR UPDATE, which a refresh
    inserting memberships for them would wait on while holding the segment: a deadlock. Safe to run
    twice. Returns how many memberships moved."""
    with transaction(session):
        order = membership.lock_order(session)
        for customer_id in sorted([primary_id, duplicate_id]):
            session.execute(lock_for_update(select(Customer.id).where(Customer.id == customer_id), session,
                                            key_share=True))
        held = session.scalars(select(SegmentMembership.segment_id).where(
            SegmentMembership.customer_id == duplicate_id)).all()
        moved, now = 0, utcnow()
        for segment_id in sorted(held, key=lambda sid: order.get(sid, (9, str(sid)))):
            segment = membership.lock_segment(session, segment_id)
            if segment is None or not membership.current_members(session, segment_id, [duplicate_id]):
                continue  # deleted, or the duplicate left meanwhile
            membership.apply_changes(session, segment, joined=[], left=[duplicate_id],
                                     reason=f"merged into {primary_id}", actor="system", at=now)
            if segment.kind == SegmentKind.STATIC and not membership.current_members(session, segment_id,
                                                                                     [primary_id]):
                membership.apply_changes(session, segment, joined=[primary_id], left=[],
                                         reason=f"merged from {duplicate_id}", actor="system", at=now)
            moved += 1
    return moved
