"""Service queries: cases, the case queue, service metrics and SLA policies."""
from __future__ import annotations

import graphene
from sqlalchemy import select

from crm.api.connections import page_size
from crm.api.ids import parse_id
from crm.api.permissions import PermissionField
from crm.auth.permissions import Capability
from crm.errors import DomainError
from journeys.maps.gql.queries import segment_filter
from journeys.service import cases, metrics, models
from journeys.service.gql.report_types import ServiceMetrics, ServiceMetricsFilter, SlaPolicy
from journeys.service.gql.types import Case, CaseConnection, CaseStatus, SlaState, visible
from journeys.settings import JourneySettings


class ServiceQueries(graphene.ObjectType):
    case = PermissionField(Case, id=graphene.ID(required=True), capability=Capability.CASES_READ,
                           description="A case; a PORTAL token sees only its own customer's cases.")
    cases = PermissionField(graphene.NonNull(CaseConnection), first=graphene.Int(), after=graphene.String(),
                            status=graphene.List(graphene.NonNull(CaseStatus)), sla_state=graphene.Argument(SlaState),
                            capability=Capability.CASES_WORK,
                            description="The case queue, newest first; slaState is the worse of the first-response "
                                        "and resolution clocks.")
    service_metrics = PermissionField(graphene.NonNull(ServiceMetrics), filter=ServiceMetricsFilter(),
                                      capability=Capability.SERVICE_READ,
                                      description="Service quality against the playbook's targets.")
    sla_policies = PermissionField(graphene.NonNull(graphene.List(graphene.NonNull(SlaPolicy))),
                                   capability=Capability.SERVICE_READ,
                                   description="The SLA policy of each service tier.")

    @staticmethod
    def resolve_case(root, info, id):
        try:
            case_id = parse_id(id, "Case", "id")
        except DomainError:
            return None
        return visible(info, info.context.session.get(models.Case, case_id), "case")

    @staticmethod
    def resolve_cases(root, info, first=None, after=None, status=None, sla_state=None):
        page = cases.list_cases(info.context.session, first=page_size(info, first), after=after, statuses=status or None,
                          sla_state=sla_state.value if sla_state is not None else None)
        info.context.loaders.see("case", page.items)
        return page

    @staticmethod
    def resolve_service_metrics(root, info, filter=None):
        filter = filter or {}
        return metrics.service_metrics(info.context.session, from_=filter.get("from_"), to=filter.get("to"),
                               service_tiers=filter.get("service_tiers"),
                               segment_id=segment_filter(filter, "filter.segmentId"), channels=filter.get("channels"),
                               settings=JourneySettings.from_config(info.context.config))

    @staticmethod
    def resolve_sla_policies(root, info):
        order = {"VIP": 0, "PREFERRED": 1, "STANDARD": 2}
        policies = info.context.session.scalars(select(models.SlaPolicy)).all()
        return sorted(policies, key=lambda p: order.get(p.service_tier.value, 9))
