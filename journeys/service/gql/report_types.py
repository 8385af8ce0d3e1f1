"""GraphQL types of the service reports: quality against the playbook's targets, the SLA policies."""
from __future__ import annotations

import graphene

from crm.api.enums import Channel, ServiceTier
from crm.api.scalars import JSON, DateTime


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
