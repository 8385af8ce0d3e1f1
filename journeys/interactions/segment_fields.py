"""The segment rule field interactions add to the customer core: ``interactions.count``.

Registered from ``journeys.init_app`` (``crm.segments.fields.register_field_provider``).
"""
from __future__ import annotations

from sqlalchemy import exists, func, select

from crm.enums import Channel
from crm.segments.fields import FieldDef, one_of, within_filters
from journeys.interactions.models import Interaction, InteractionPainPoint
from journeys.interactions.services import normalise_pain_point
from journeys.maps.models import Touchpoint

_TEXT = None  # a ``where`` key compared as free text (no enum to check it against)


def _interactions(cond, now):
    filters = list(within_filters(Interaction.occurred_at, cond, now))
    where = cond.where
    if "channel" in where:
        filters.append(one_of(Interaction.channel, where["channel"]))
    if "stage" in where:
        filters.append(one_of(Interaction.stage, where["stage"]))
    if "touchpointKey" in where:
        filters.append(Interaction.touchpoint_id.in_(select(Touchpoint.id).where(
            one_of(Touchpoint.key, where["touchpointKey"]))))
    if "painPoint" in where:  # tags are stored normalised: "Long wait" in a rule means "long-wait"
        wanted = where["painPoint"]
        wanted = [normalise_pain_point(t) for t in wanted] if isinstance(wanted, list) \
            else normalise_pain_point(wanted)
        filters.append(exists().where(InteractionPainPoint.interaction_id == Interaction.id,
                                      one_of(InteractionPainPoint.pain_point, wanted)))
    return Interaction.customer_id, func.count(), filters


def interaction_fields() -> dict[str, FieldDef]:
    return {
        "interactions.count": FieldDef("number", None, nullable=False, within=True, where={
            "channel": Channel, "touchpointKey": _TEXT, "stage": _TEXT, "painPoint": _TEXT},
            aggregate=_interactions),
    }
