"""GraphQL types of journey map analytics, service metrics and SLA policies (read models)."""
from __future__ import annotations

import graphene

from crm.api.enums import Channel, LifecycleStage, ServiceTier
from crm.api.scalars import JSON, DateTime
from journeys.gql.types import Touchpoint


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


class KpiTarget(graphene.ObjectType):
    kpi = graphene.String(required=True)
    target = graphene.Float(required=True)
    actual = graphene.Float()
    met = graphene.Boolean()


class ServiceMetrics(graphene.ObjectType):
    cases_opened = graphene.Int(required=True)
    cases_resolved = graphene.Int(required=True)
    average_first_response_minutes = graphene.Float()
    first_contact_resolution_rate = graphene.Float(description="Share 0..1.")
    sla_compliance_rate = graphene.Float(description="Share 0..1.")
    csat_average = graphene.Float()
    csat_responses = graphene.Int(required=True)
    nps = graphene.Float(description="% promoters - % detractors, -100..100.")
    promoters = graphene.Int(required=True)
    passives = graphene.Int(required=True)
    detractors = graphene.Int(required=True)
    targets = graphene.List(graphene.NonNull(KpiTarget), required=True)

    @staticmethod
    def resolve_targets(result, info):
        return [KpiTarget(kpi=t.kpi, target=t.target, actual=t.actual, met=t.met) for t in result.targets]


class ServiceMetricsFilter(graphene.InputObjectType):
    from_ = DateTime(name="from")
    to = DateTime()
    service_tiers = graphene.List(graphene.NonNull(ServiceTier))
    segment_id = graphene.ID()
    channels = graphene.List(graphene.NonNull(Channel))


class SlaPolicy(graphene.ObjectType):
    service_tier = graphene.Field(ServiceTier, required=True)
    name = graphene.String(required=True)
    first_response_minutes = graphene.Int(required=True)
    resolution_minutes = graphene.Int(required=True)
    business_hours = graphene.Field(JSON, description='{"timezone", "weekdays" (Monday = 0), "start", "end", '
                                                      '"holidays"}; null: the clock runs around the clock.')
    updated_at = DateTime(required=True)
