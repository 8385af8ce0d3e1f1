"""The (customer, touchpoint) rollups behind the all-time journey map.

``fold_in`` adds freshly inserted interactions to the rollups in the same
transaction, with one upsert statement per table; keys are sorted so
concurrent writers lock rows in one order. ``rebuild`` recomputes them from the
interactions (after a merge, or to repair), and ``verify`` proves they agree.
"""
from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from journeys.interactions.models import Interaction, InteractionPainPoint
from journeys.maps.models import CustomerPainPointRollup, CustomerTouchpointRollup


def _insert(session: Session, model):
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def _least(session: Session, a, b):
    return func.least(a, b) if session.get_bind().dialect.name == "postgresql" else func.min(a, b)


def _greatest(session: Session, a, b):
    return func.greatest(a, b) if session.get_bind().dialect.name == "postgresql" else func.max(a, b)


def fold_in(session: Session, new_rows: list[dict]) -> None:
    """Add interaction rows (dicts as inserted) to both rollups."""
    cells: dict[tuple, dict] = {}
    pains: dict[tuple, int] = defaultdict(int)
    for row in new_rows:
        key = (row["customer_id"], row["touchpoint_id"])
        cell = cells.setdefault(key, {"customer_id": key[0], "touchpoint_id": key[1], "interactions": 0,
                                      "emotion_sum": 0, "emotion_count": 0, "pain_interactions": 0,
                                      "first_at": row["occurred_at"], "last_at": row["occurred_at"]})
        cell["interactions"] += 1
        if row["emotion"] is not None:
            cell["emotion_sum"] += row["emotion"]
            cell["emotion_count"] += 1
        cell["pain_interactions"] += bool(row["pain_points"])
        cell["first_at"] = min(cell["first_at"], row["occurred_at"])
        cell["last_at"] = max(cell["last_at"], row["occurred_at"])
        for pain in row["pain_points"]:
            pains[(*key, pain)] += 1

    ordered = [cells[k] for k in sorted(cells, key=lambda k: (str(k[0]), str(k[1])))]
    stmt = _insert(session, CustomerTouchpointRollup)
    t = CustomerTouchpointRollup.__table__.c
    session.execute(stmt.on_conflict_do_update(
        index_elements=[t.customer_id, t.touchpoint_id],
        set_={"interactions": t.interactions + stmt.excluded.interactions,
              "emotion_sum": t.emotion_sum + stmt.excluded.emotion_sum,
              "emotion_count": t.emotion_count + stmt.excluded.emotion_count,
              "pain_interactions": t.pain_interactions + stmt.excluded.pain_interactions,
              "first_at": _least(session, t.first_at, stmt.excluded.first_at),
              "last_at": _greatest(session, t.last_at, stmt.excluded.last_at)}), ordered)
    if pains:
        stmt = _insert(session, CustomerPainPointRollup)
        p = CustomerPainPointRollup.__table__.c
        rows = [{"customer_id": c, "touchpoint_id": tp, "pain_point": pain, "occurrences": n}
                for (c, tp, pain), n in sorted(pains.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]), kv[0][2]))]
        session.execute(stmt.on_conflict_do_update(
            index_elements=[p.customer_id, p.touchpoint_id, p.pain_point],
            set_={"occurrences": p.occurrences + stmt.excluded.occurrences}), rows)


def has_pain_points(interaction=Interaction):
    """An interaction has a pain point: read off its own row, as ``fold_in`` counts it."""
    return func.json_array_length(interaction.pain_points) > 0


def _cells(where):
    """The rollup rows as the interactions say they should be, one per (customer, touchpoint)."""
    return select(
        Interaction.customer_id.label("customer_id"), Interaction.touchpoint_id.label("touchpoint_id"),
        func.count().label("interactions"), func.coalesce(func.sum(Interaction.emotion), 0).label("emotion_sum"),
        func.count(Interaction.emotion).label("emotion_count"),
        func.sum(case((has_pain_points(), 1), else_=0)).label("pain_interactions"),
        func.min(Interaction.occurred_at).label("first_at"), func.max(Interaction.occurred_at).label("last_at"),
    ).where(*where).group_by(Interaction.customer_id, Interaction.touchpoint_id)


def rebuild(session: Session, customer_ids: list[uuid.UUID] | None = None) -> int:
    """Recompute the rollups of these customers (all when None) from their interactions, in SQL."""
    where = [Interaction.customer_id.in_(customer_ids)] if customer_ids is not None else []
    rollup_where = [CustomerTouchpointRollup.customer_id.in_(customer_ids)] if customer_ids is not None else []
    pain_where = [CustomerPainPointRollup.customer_id.in_(customer_ids)] if customer_ids is not None else []
    session.execute(delete(CustomerTouchpointRollup).where(*rollup_where))
    session.execute(delete(CustomerPainPointRollup).where(*pain_where))
    cells = _cells(where)
    session.execute(CustomerTouchpointRollup.__table__.insert().from_select(
        [c.name for c in cells.selected_columns], cells))
    pain_cells = select(Interaction.customer_id, Interaction.touchpoint_id, InteractionPainPoint.pain_point,
                        func.count()).join(InteractionPainPoint, InteractionPainPoint.interaction_id == Interaction.id) \
        .where(*where).group_by(Interaction.customer_id, Interaction.touchpoint_id, InteractionPainPoint.pain_point)
    session.execute(CustomerPainPointRollup.__table__.insert().from_select(
        ["customer_id", "touchpoint_id", "pain_point", "occurrences"], pain_cells))
    session.flush()
    # rowcount of INSERT ... SELECT is not reported by every driver: count what is there now.
    return session.scalar(select(func.count()).select_from(CustomerTouchpointRollup).where(*rollup_where))


def differences(session: Session) -> int:
    """Rollup cells that disagree with the interactions (0 when all is well)."""
    truth = _cells([]).subquery()
    r = CustomerTouchpointRollup
    wrong = select(func.count()).select_from(truth.outerjoin(
        r, (r.customer_id == truth.c.customer_id) & (r.touchpoint_id == truth.c.touchpoint_id))).where(
        r.customer_id.is_(None) | (r.interactions != truth.c.interactions) | (r.emotion_sum != truth.c.emotion_sum)
        | (r.emotion_count != truth.c.emotion_count) | (r.pain_interactions != truth.c.pain_interactions)
        | (r.first_at != truth.c.first_at) | (r.last_at != truth.c.last_at))
    extra = select(func.count()).select_from(r).where(~select(Interaction.id).where(
        Interaction.customer_id == r.customer_id, Interaction.touchpoint_id == r.touchpoint_id).exists())
    return int(session.scalar(wrong)) + int(session.scalar(extra))
