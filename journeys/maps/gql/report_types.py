"""GraphQL types of journey map analytics (read models)."""
from __future__ import annotations

import graphene

from crm.api.enums import Channel, LifecycleStage, ServiceTier
from crm.api.scalars import DateTime
from journeys.maps.gql.types import Touchpoint


class JourneyMapDefinition(graphene.ObjectType):
    key = graphene.String(required=True)
    name = graphene.String(required=True)
    stages = graphene.List(graphene.NonNull(graphene.String), required=True, description="In journey order.")


class PainPointCount(graphene.ObjectType):
    pain_point = graphene.String(required=True)
    count = graphene.Int(required=True)


def _pain_counts(figures):
    return [PainPointCount(pain_point=tag, count=count) for tag, count in figures.top_pain_points]


class JourneyMapCell(graphene.ObjectType):
    touchpoint = graphene.Field(Touchpoint, required=True)
    customers = graphene.Int(required=True)
    interactions = graphene.Int(required=True)
    average_emotion = graphene.Float()
    pain_point_rate = graphene.Float(required=True)
    top_pain_points = graphene.List(graphene.NonNull(PainPointCount), required=True,
                                    description="Most frequent first, at most 5.")

    @staticmethod
    def resolve_top_pain_points(cell, info):
        return _pain_counts(cell)


class JourneyMapStage(graphene.ObjectType):
    stage = graphene.String(required=True)
    customers = graphene.Int(required=True, description="Distinct customers with an interaction in this stage.")
    interactions = graphene.Int(required=True)
    average_emotion = graphene.Float()
    pain_point_rate = graphene.Float(required=True, description="Share of interactions with at least one pain point.")
    conversion_to_next = graphene.Float(description="Share of this stage's customers who entered the next stage "
                                                    "at or after entering this one.")
    median_hours_to_next = graphene.Float()
    touchpoints = graphene.List(graphene.NonNull(JourneyMapCell), required=True)


class JourneyMap(graphene.ObjectType):
    key = graphene.String(required=True)
    name = graphene.String(required=True)
    stages = graphene.List(graphene.NonNull(JourneyMapStage), required=True, description="In the map's stage order.")


class JourneyMapFilter(graphene.InputObjectType):
    from_ = DateTime(name="from")
    to = DateTime()
    segment_id = graphene.ID()
    service_tiers = graphene.List(graphene.NonNull(ServiceTier))
    lifecycle_stages = graphene.List(graphene.NonNull(LifecycleStage))
    channels = graphene.List(graphene.NonNull(Channel))
