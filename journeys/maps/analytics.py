"""Journey map figures: per stage and per touchpoint, for all time or for a period.

Definitions (also in docs/journeys.md, "Journey map figures"):

- Stages come in the map's order and every stage appears, also without data (zero counts,
  ``None`` averages, a pain-point rate of 0.0). A stage lists every touchpoint of the map in
  that stage, ordered by key, also those without data. With a ``channels`` filter only the
  touchpoints of those channels appear and count.
- ``customers``: distinct customers with at least one interaction in the stage (for a cell:
  at the touchpoint). ``interactions``: how many. ``average_emotion``: the mean of the
  emotions given (``None`` if none was). ``pain_point_rate``: the share of interactions with
  at least one pain point (0.0 without interactions). ``top_pain_points``: per touchpoint,
  (tag, occurrences), most frequent first, ties by tag, at most 5.
- A customer enters a stage with their first interaction in it (within the period, when
  one is given). ``conversion_to_next``: the share of the stage's customers whose entry into
  the next stage is at or after their entry into this one; ``None`` for the last stage or a
  stage without customers. ``median_hours_to_next``: the median, over those converted
  customers, of the hours from this entry to the next (the mean of the two middle values
  for an even count); ``None`` when nobody converted.
- Filters: the period is half-open, ``from_ <= occurred_at < to``. Segment, service tiers and
  lifecycle stages select customers by their current values. Merged customers never count.

The figures come from one fact set with a row per (customer, touchpoint): interactions,
emotion sum and count, interactions with a pain point, first interaction. With no period it
is the all-time rollup, whose size is customers x touchpoints whatever the number of
interactions; with a period it is the period's interactions grouped the same way. One
statement computes everything from either, so both paths share every definition.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Float, case, cast, func, literal_column, null, or_, select, text, union_all
from sqlalchemy.orm import Session

from crm.customers.models import Customer
from crm.customers.selectors import CustomerFilter, apply_filter, live_customers
from crm.enums import Channel, LifecycleStage, ServiceTier
from crm.errors import Invalid
from journeys.maps import rollups
from journeys.interactions.models import Interaction, InteractionPainPoint
from journeys.maps.models import CustomerPainPointRollup, CustomerTouchpointRollup, JourneyMap, Touchpoint

TOP_PAIN_POINTS = 5
_CELL, _STAGE, _PAIN = 0, 1, 2  # the kinds of rows the figures statement returns


@dataclass
class JourneyFilter:
    from_: datetime | None = None
    to: datetime | None = None
    segment_id: uuid.UUID | None = None
    service_tiers: list[ServiceTier] | None = None
    lifecycle_stages: list[LifecycleStage] | None = None
    channels: list[Channel] | None = None


@dataclass(kw_only=True)
class Figures:
    """What a cell (touchpoint) and a stage of the map both report."""

    customers: int = 0
    interactions: int = 0
    average_emotion: float | None = None
    pain_point_rate: float = 0.0


@dataclass
class CellFigures(Figures):
    touchpoint: Touchpoint
    top_pain_points: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class StageFigures(Figures):
    stage: str
    conversion_to_next: float | None = None
    median_hours_to_next: float | None = None
    touchpoints: list[CellFigures] = field(default_factory=list)


@dataclass
class JourneyMapReport:
    key: str
    name: str
    stages: list[StageFigures]


def journey_map(session: Session, *, key: str, flt: JourneyFilter | None = None) -> JourneyMapReport | None:
    """The figures of the map ``key`` (None when no map has it), in a fixed number of statements."""
    flt = flt or JourneyFilter()
    _check_period(flt)
    the_map = session.get(JourneyMap, key)
    if the_map is None:
        return None
    touchpoints = session.scalars(
        select(Touchpoint).where(Touchpoint.journey_map_key == key, *_channel_filter(Touchpoint.channel, flt))
        .order_by(Touchpoint.key)).all()
    if not touchpoints:  # no touchpoint, no interaction: every stage is empty
        return _assemble(the_map, [], [])
    if flt.from_ is None and flt.to is None:
        facts, pains = _rollup_facts([t.id for t in touchpoints], flt)
    else:
        facts, pains = _period_facts(key, flt)
    stage_of = {t.id: the_map.stages.index(t.stage) for t in touchpoints}
    if session.get_bind().dialect.name == "postgresql":
        # JIT-compiling the figures statement takes longer than running it (1 s of 1.5 s for 90 days
        # of a million interactions); off for this transaction only.
        session.execute(text("SET LOCAL jit = off"))
    rows = session.execute(_figures(session, facts, pains, stage_of)).all()
    return _assemble(the_map, touchpoints, rows)


def _check_period(flt: JourneyFilter) -> None:
    for name, value in (("from", flt.from_), ("to", flt.to)):
        if value is not None and value.tzinfo is None:
            raise Invalid(f"`{name}` needs an offset, e.g. 2026-06-01T00:00:00Z.", name)
    if flt.from_ is not None and flt.to is not None and flt.to <= flt.from_:
        raise Invalid("`to` must be after `from`.", "to")


def _channel_filter(column, flt: JourneyFilter) -> list:
    return [column.in_(flt.channels)] if flt.channels else []


def _customer_filter(column, flt: JourneyFilter) -> list:
    """``column`` among the live customers the customer filters select, by their current values.

    Without customer filters there is no condition: merging moves a duplicate's interactions to the
    customer it was merged into and rebuilds both customers' rollups, so no fact names a merged customer.
    """
    if flt.segment_id is None and not flt.service_tiers and not flt.lifecycle_stages:
        return []
    chosen = CustomerFilter(segment_id=flt.segment_id, service_tiers=flt.service_tiers,
                            lifecycle_stages=flt.lifecycle_stages)
    return [column.in_(apply_filter(live_customers(), chosen).with_only_columns(Customer.id))]


def _rollup_facts(touchpoint_ids: list[uuid.UUID], flt: JourneyFilter):
    r, p = CustomerTouchpointRollup, CustomerPainPointRollup
    # By touchpoint id, not by a join on the map key: the row estimate then comes from the rollup's own
    # statistics, while the touchpoint table is too small for autovacuum ever to analyze it.
    facts = (select(r.customer_id, r.touchpoint_id, r.interactions, r.emotion_sum, r.emotion_count,
                    r.pain_interactions, r.first_at)
             .where(r.touchpoint_id.in_(touchpoint_ids), *_customer_filter(r.customer_id, flt)))
    pains = (select(p.touchpoint_id, p.pain_point, func.sum(p.occurrences).label("occurrences"))
             .where(p.touchpoint_id.in_(touchpoint_ids), *_customer_filter(p.customer_id, flt))
             .group_by(p.touchpoint_id, p.pain_point))
    return facts, pains


def _period_facts(key: str, flt: JourneyFilter):
    i = Interaction
    # journey_map_key first and occurred_at second: the conditions ix_interaction_map_period serves.
    where = [i.journey_map_key == key, *_channel_filter(i.channel, flt), *_customer_filter(i.customer_id, flt)]
    if flt.from_ is not None:
        where.append(i.occurred_at >= flt.from_)
    if flt.to is not None:
        where.append(i.occurred_at < flt.to)
    # The same shape and meaning as the rollup rows. An interaction's pain points are on its own row too
    # (as rollups.fold_in counts them): no lookup in interaction_pain_point for each one.
    has_pain = rollups.has_pain_points(i)
    facts = (select(i.customer_id, i.touchpoint_id, func.count().label("interactions"),
                    func.coalesce(func.sum(i.emotion), 0).label("emotion_sum"),
                    func.count(i.emotion).label("emotion_count"),
                    func.sum(case((has_pain, 1), else_=0)).label("pain_interactions"),
                    func.min(i.occurred_at).label("first_at"))
             .where(*where).group_by(i.customer_id, i.touchpoint_id))
    pains = (select(i.touchpoint_id, InteractionPainPoint.pain_point, func.count().label("occurrences"))
             .join(InteractionPainPoint, InteractionPainPoint.interaction_id == i.id)
             .where(*where, has_pain).group_by(i.touchpoint_id, InteractionPainPoint.pain_point))
    return facts, pains


def _hours(session: Session, later, earlier):
    if session.get_bind().dialect.name == "postgresql":
        # date_part, unlike extract, gives a float: cheap to sort, and whole seconds stay exact.
        return func.date_part("epoch", later - earlier) / 3600.0
    # julianday() is a float of days; rounding the seconds to the millisecond drops its noise,
    # so SQLite gives the very numbers PostgreSQL gives.
    return func.round((func.julianday(later) - func.julianday(earlier)) * 86400, 3) / 3600.0


def _by_name(column, session: Session):
    # Byte order on both databases, whatever collation the PostgreSQL database was created with.
    return column.collate("C") if session.get_bind().dialect.name == "postgresql" else column


def _figures(session: Session, facts, pains, stage_of: dict[uuid.UUID, int]):
    """One statement: a row per touchpoint with data, per stage with customers, per kept pain point.

    ``stage_of`` gives each touchpoint's stage as its index in the map. One statement, so that the
    database builds the fact set once (a period's means a scan of its interactions) for every figure.
    """
    f = facts.cte("facts")
    cells = (select(literal_column(str(_CELL)).label("kind"), f.c.touchpoint_id, null().label("label"),
                    func.count().label("n1"), func.sum(f.c.interactions).label("n2"),
                    func.sum(f.c.emotion_sum).label("n3"), func.sum(f.c.emotion_count).label("n4"),
                    func.sum(f.c.pain_interactions).label("n5"), cast(null(), Float).label("hours"))
             .group_by(f.c.touchpoint_id))

    position = case(stage_of, value=f.c.touchpoint_id)
    entries = (select(f.c.customer_id, position.label("position"), func.min(f.c.first_at).label("entered_at"))
               .group_by(f.c.customer_id, position).cte("entries"))
    # A customer's entries in stage order: the next row is the next stage they entered, if it
    # directly follows. One sort instead of joining the entries to themselves.
    onward = {"partition_by": entries.c.customer_id, "order_by": entries.c.position}
    steps = select(entries.c.position, entries.c.entered_at,
                   func.lead(entries.c.position).over(**onward).label("next_position"),
                   func.lead(entries.c.entered_at).over(**onward).label("next_entered_at")).subquery("steps")
    moves = (select(steps.c.position, _hours(session, steps.c.next_entered_at, steps.c.entered_at).label("hours"))
             .where(steps.c.next_position == steps.c.position + 1, steps.c.next_entered_at >= steps.c.entered_at)
             .subquery("moves"))
    ranked = select(moves.c.position, moves.c.hours,
                    func.row_number().over(partition_by=moves.c.position, order_by=moves.c.hours).label("rn"),
                    func.count().over(partition_by=moves.c.position).label("n")).subquery("ranked")
    # The middle row for an odd count, the two middle rows for an even one: portable, no percentile_cont.
    medians = (select(ranked.c.position, func.max(ranked.c.n).label("converted"),
                      func.avg(ranked.c.hours).label("median_hours"))
               .where(or_(ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2))
               .group_by(ranked.c.position).subquery("medians"))
    per_stage = (select(entries.c.position, func.count().label("customers"))
                 .group_by(entries.c.position).subquery("per_stage"))
    stage_rows = (select(literal_column(str(_STAGE)), null(), null(), per_stage.c.position, per_stage.c.customers,
                         func.coalesce(medians.c.converted, 0), null(), null(), medians.c.median_hours)
                  .outerjoin(medians, medians.c.position == per_stage.c.position))

    p = pains.subquery("pains")
    ranked_pains = select(p.c.touchpoint_id, p.c.pain_point, p.c.occurrences, func.row_number().over(
        partition_by=p.c.touchpoint_id, order_by=(p.c.occurrences.desc(), _by_name(p.c.pain_point, session)),
    ).label("rn")).subquery("ranked_pains")
    pain_rows = (select(literal_column(str(_PAIN)), ranked_pains.c.touchpoint_id,
                        ranked_pains.c.pain_point, ranked_pains.c.occurrences,
                        null(), null(), null(), null(), null())
                 .where(ranked_pains.c.rn <= TOP_PAIN_POINTS))
    return union_all(cells, stage_rows, pain_rows)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _assemble(the_map: JourneyMap, touchpoints: list[Touchpoint], rows) -> JourneyMapReport:
    cells: dict[uuid.UUID, CellFigures] = {t.id: CellFigures(touchpoint=t) for t in touchpoints}
    sums: dict[uuid.UUID, tuple[int, int, int]] = {}  # emotion sum, emotion count, interactions with a pain point
    per_stage: dict[int, tuple[int, int, float | None]] = {}  # by position: customers, converted, median hours
    for kind, touchpoint_id, label, n1, n2, n3, n4, n5, hours in rows:
        if kind == _CELL:
            cell = cells[touchpoint_id]
            cell.customers, cell.interactions = int(n1), int(n2)
            sums[touchpoint_id] = (int(n3), int(n4), int(n5))
            cell.average_emotion = int(n3) / int(n4) if n4 else None
            cell.pain_point_rate = _share(int(n5), cell.interactions)
        elif kind == _STAGE:
            per_stage[int(n1)] = (int(n2), int(n3), None if hours is None else float(hours))
        else:
            cell = cells[touchpoint_id]
            cell.top_pain_points = sorted([*cell.top_pain_points, (label, int(n1))], key=lambda t: (-t[1], t[0]))

    stages = []
    for position, name in enumerate(the_map.stages):
        stage_cells = [c for c in cells.values() if c.touchpoint.stage == name]
        customers, converted, median_hours = per_stage.get(position, (0, 0, None))
        interactions = sum(c.interactions for c in stage_cells)
        emotion_sum, emotion_count, pain_interactions = (
            sum(sums.get(c.touchpoint.id, (0, 0, 0))[i] for c in stage_cells) for i in range(3))
        last = position == len(the_map.stages) - 1
        stages.append(StageFigures(
            stage=name, customers=customers, interactions=interactions,
            average_emotion=emotion_sum / emotion_count if emotion_count else None,
            pain_point_rate=_share(pain_interactions, interactions),
            conversion_to_next=None if last or not customers else converted / customers,
            median_hours_to_next=None if last or not converted else median_hours,
            touchpoints=stage_cells))
    return JourneyMapReport(key=the_map.key, name=the_map.name, stages=stages)
