"""Stored segment membership: the one writer of changes, one customer's evaluation, and the full refresh.

Every change to a segment's members goes through ``apply_changes`` while that segment's row is locked,
so an event-driven re-evaluation, a full refresh and a manual edit of one segment never interleave: no
count drifts, no customer joins twice, no history row is written twice. Helpers here flush, never commit.

Events: ``segment.joined`` and ``segment.left`` [segmentId, customerIds, reason], at most 1000 customers
per event, emitted in the transaction of the change.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.orm import Session

from crm import events
from crm.customers.models import Customer
from crm.db import lock_for_update
from crm.segments.models import (
    MembershipChangeKind,
    Segment,
    SegmentKind,
    SegmentMembership,
    SegmentMembershipChange,
)
from crm.segments.rules import AggregateJoins, compile_rule, referenced_segments

CHUNK = 1000


def lock_segment(session: Session, segment_id: uuid.UUID) -> Segment | None:
    stmt = lock_for_update(select(Segment).where(Segment.id == segment_id), session)
    return session.execute(stmt).scalar_one_or_none()


def _chunks(ids: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def apply_changes(session: Session, segment: Segment, *, joined: list[uuid.UUID], left: list[uuid.UUID],
                  reason: str, actor: str | None, at: datetime) -> None:
    """Write joins and leaves of a locked segment: membership rows, history, member count and events.

    Callers pass only real differences (computed under the lock)."""
    for chunk in _chunks(joined):
        session.execute(insert(SegmentMembership), [
            {"segment_id": segment.id, "customer_id": cid, "joined_at": at} for cid in chunk])
        _history(session, segment.id, chunk, MembershipChangeKind.JOINED, reason, actor, at)
        events.emit(session, "segment.joined", segmentId=str(segment.id), customerIds=[str(c) for c in chunk],
                    reason=reason, at=at.isoformat())
    for chunk in _chunks(left):
        session.execute(delete(SegmentMembership).where(SegmentMembership.segment_id == segment.id,
                                                        SegmentMembership.customer_id.in_(chunk)))
        _history(session, segment.id, chunk, MembershipChangeKind.LEFT, reason, actor, at)
        events.emit(session, "segment.left", segmentId=str(segment.id), customerIds=[str(c) for c in chunk],
                    reason=reason, at=at.isoformat())
    if joined or left:
        session.execute(update(Segment).where(Segment.id == segment.id)
                        .values(member_count=Segment.member_count + len(joined) - len(left))
                        .execution_options(synchronize_session=False))
        session.expire(segment, ["member_count"])


def _history(session, segment_id, customer_ids, change, reason, actor, at) -> None:
    session.execute(insert(SegmentMembershipChange), [
        {"id": uuid.uuid4(), "segment_id": segment_id, "customer_id": cid, "change": change, "reason": reason,
         "actor": actor, "at": at} for cid in customer_ids])


def current_members(session: Session, segment_id: uuid.UUID, customer_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return set(session.scalars(select(SegmentMembership.customer_id).where(
        SegmentMembership.segment_id == segment_id, SegmentMembership.customer_id.in_(customer_ids))))


def live_customer_ids(session: Session, customer_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The live ones among ``customer_ids``; on PostgreSQL FOR KEY SHARE, so a merge in flight (FOR UPDATE)
    finishes first and its duplicate is seen merged, never added to a segment afterwards."""
    stmt = select(Customer.id).where(Customer.id.in_(customer_ids), Customer.merged_into_id.is_(None))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.order_by(Customer.id).with_for_update(read=True, key_share=True)
    return set(session.scalars(stmt))


def lock_order(session: Session) -> dict[uuid.UUID, tuple]:
    """One order in which every writer locks several segments: static ones, then dynamic ones level by
    level (the order ``evaluate_customer`` takes them in), by id within each; so writers never deadlock."""
    order = {sid: (0, str(sid)) for sid in session.scalars(select(Segment.id).where(Segment.kind == SegmentKind.STATIC))}
    for depth, level in enumerate(dynamic_segments_in_order(session), start=1):
        order.update({s.id: (depth, str(s.id)) for s in level})
    return order


# --- dependency order ------------------------------------------------------------------------------

def dynamic_segments_in_order(session: Session) -> list[list[Segment]]:
    """Dynamic segments in levels: a segment comes after every segment its rule reads."""
    segments = session.scalars(select(Segment).where(Segment.kind == SegmentKind.DYNAMIC)
                               .order_by(Segment.id)).all()
    needs = {s.id: referenced_segments(s.rule) for s in segments}
    dynamic = set(needs)
    done: set[uuid.UUID] = set()
    levels = []
    while len(done) < len(segments):
        level = [s for s in segments if s.id not in done and (needs[s.id] & dynamic) <= done]
        if not level:  # a cycle: saving refuses them, so only a hand-edited database gets here
            level = [s for s in segments if s.id not in done]
        levels.append(level)
        done.update(s.id for s in level)
    return levels


def dependents(session: Session, segment_id: uuid.UUID) -> list[Segment]:
    """Dynamic segments whose rule reads this segment, directly."""
    return [s for level in dynamic_segments_in_order(session) for s in level
            if segment_id in referenced_segments(s.rule)]


# --- evaluation ------------------------------------------------------------------------------------

def evaluate_customer(session: Session, customer_id: uuid.UUID, *, now: datetime, reason: str,
                      actor: str | None = None) -> dict[uuid.UUID, str]:
    """Bring one customer's dynamic memberships up to date: one statement per dependency level to
    evaluate, and writes only for segments whose answer changed. Returns {segment id: JOINED|LEFT}."""
    session.flush()
    live = session.scalar(select(exists().where(Customer.id == customer_id, Customer.merged_into_id.is_(None))))
    changes: dict[uuid.UUID, str] = {}
    for level in dynamic_segments_in_order(session):
        if live:
            columns = [compile_rule(s.rule, now=now).label(f"s{i}") for i, s in enumerate(level)]
            row = session.execute(select(*columns).where(Customer.id == customer_id)).one()
            wanted = {s.id for s, hit in zip(level, row) if hit}
        else:
            wanted = set()
        have = set(session.scalars(select(SegmentMembership.segment_id).where(
            SegmentMembership.customer_id == customer_id,
            SegmentMembership.segment_id.in_([s.id for s in level]))))
        evaluated_rules = {s.id: s.rule for s in level}
        for segment in sorted((s for s in level if (s.id in wanted) != (s.id in have)), key=lambda s: s.id):
            locked = lock_segment(session, segment.id)
            if locked is None or locked.kind != SegmentKind.DYNAMIC or locked.rule != evaluated_rules[segment.id]:
                continue  # deleted, turned static, or its rule changed: that update refreshed everyone
            member = bool(current_members(session, segment.id, [customer_id]))
            if (segment.id in wanted) == member:
                continue  # another writer got there first
            joined = [customer_id] if segment.id in wanted else []
            apply_changes(session, locked, joined=joined, left=[] if joined else [customer_id],
                          reason=reason, actor=actor, at=now)
            changes[segment.id] = "JOINED" if joined else "LEFT"
        session.flush()
    return changes


def refresh(session: Session, segment: Segment, *, now: datetime, reason: str,
            actor: str | None = None) -> tuple[int, int]:
    """Recompute a locked dynamic segment over the whole base, writing only the differences.

    One statement finds them: the rule's selection FULL JOINed with the stored members, keeping rows
    present on one side only. The rule is evaluated once per customer. Returns (joined, left)."""
    joins = AggregateJoins()
    rule = compile_rule(segment.rule, now=now, joins=joins)
    matching = joins.apply(select(Customer.id.label("cid"))).where(Customer.merged_into_id.is_(None), rule) \
        .subquery("matching")
    stored = select(SegmentMembership.customer_id.label("cid")).where(
        SegmentMembership.segment_id == segment.id).subquery("stored")
    differences = session.execute(
        select(matching.c.cid, stored.c.cid)
        .select_from(matching.join(stored, matching.c.cid == stored.c.cid, full=True))
        .where((matching.c.cid.is_(None)) | (stored.c.cid.is_(None)))).all()
    joined = [new for new, old in differences if new is not None]
    left = [old for new, old in differences if new is None]
    apply_changes(session, segment, joined=joined, left=left, reason=reason, actor=actor, at=now)
    segment.refreshed_at = now
    session.flush()
    return len(joined), len(left)


def matching_customers(rule: dict, *, now: datetime, path: str = "input.rule"):
    """SELECT of the live customers a rule selects now, for statements over the whole base."""
    joins = AggregateJoins()
    condition = compile_rule(rule, now=now, path=path, joins=joins)
    return joins.apply(select(Customer)).where(Customer.merged_into_id.is_(None), condition)
