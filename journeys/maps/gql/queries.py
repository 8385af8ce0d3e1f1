"""Journey map queries: the touchpoint catalogue, the maps and their analytics."""
from __future__ import annotations

import graphene
from sqlalchemy import select

from crm.api.ids import parse_id
from crm.api.permissions import PermissionField
from crm.auth.permissions import Capability
from journeys.maps import analytics, models
from journeys.maps.gql.report_types import JourneyMap, JourneyMapDefinition, JourneyMapFilter
from journeys.maps.gql.types import Touchpoint


def segment_filter(filter_, field: str):
    """The segment id of a report filter, parsed; None when it names none."""
    value = (filter_ or {}).get("segment_id")
    return parse_id(value, "Segment", field) if value else None


class MapQueries(graphene.ObjectType):
    touchpoints = PermissionField(graphene.NonNull(graphene.List(graphene.NonNull(Touchpoint))),
                                  journey_map=graphene.String(), capability=Capability.MAPS_READ,
                                  description="The touchpoint catalogue in journey order (map, stage, key).")
    journey_maps = PermissionField(graphene.NonNull(graphene.List(graphene.NonNull(JourneyMapDefinition))),
                                   capability=Capability.MAPS_READ, description="Every journey map and its stages.")
    journey_map = PermissionField(JourneyMap, key=graphene.String(required=True), filter=JourneyMapFilter(),
                                  capability=Capability.MAPS_ANALYTICS,
                                  description="Journey map analytics per stage and touchpoint; null for an unknown key.")

    @staticmethod
    def resolve_touchpoints(root, info, journey_map=None):
        stmt = select(models.Touchpoint).order_by(models.Touchpoint.journey_map_key, models.Touchpoint.stage_position,
                                                  models.Touchpoint.key)
        if journey_map is not None:
            stmt = stmt.where(models.Touchpoint.journey_map_key == journey_map)
        return info.context.session.scalars(stmt).all()

    @staticmethod
    def resolve_journey_maps(root, info):
        return info.context.session.scalars(select(models.JourneyMap).order_by(models.JourneyMap.key)).all()

    @staticmethod
    def resolve_journey_map(root, info, key, filter=None):
        filter = filter or {}
        flt = analytics.JourneyFilter(
            from_=filter.get("from_"), to=filter.get("to"), segment_id=segment_filter(filter, "filter.segmentId"),
            service_tiers=filter.get("service_tiers"), lifecycle_stages=filter.get("lifecycle_stages"),
            channels=filter.get("channels"))
        return analytics.journey_map(info.context.session, key=key, flt=flt)
