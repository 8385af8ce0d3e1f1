"""Journeys queries: parse arguments, call a service or selector, shape the answer."""
from __future__ import annotations

import graphene
from sqlalchemy import select

from crm.api.connections import page_size
from crm.api.ids import parse_id
from crm.api.permissions import STAFF, PermissionField
from crm.errors import DomainError
from journeys import analytics, cases, metrics, models
from journeys.gql.report_types import (
    JourneyMap, JourneyMapDefinition, JourneyMapFilter, ServiceMetrics, ServiceMetricsFilter, SlaPolicy,
)
from journeys.gql.types import (
    CASE_READERS, SERVICE_DESK, TOUCHPOINT_READERS, Case, CaseConnection, CaseStatus, SlaState, Touchpoint, visible,
)
from journeys.settings import JourneySettings


def _segment(filter_, field: str):
    value = (filter_ or {}).get("segment_id")
    return parse_id(value, "Segment", field) if value else None


class JourneyQueries(graphene.ObjectType):
    touchpoints = PermissionField(graphene.NonNull(graphene.List(graphene.NonNull(Touchpoint))),
                                  journey_map=graphene.String(), roles=TOUCHPOINT_READERS,
                                  description="The touchpoint catalogue in journey order (map, stage, key).")
    journey_maps = PermissionField(graphene.NonNull(graphene.List(graphene.NonNull(JourneyMapDefinition))),
                                   roles=TOUCHPOINT_READERS, description="Every journey map and its stages.")
    journey_map = PermissionField(JourneyMap, key=graphene.String(required=True), filter=JourneyMapFilter(),
                                  roles=STAFF, description="Journey map analytics per stage and touchpoint; "
                                                           "null for an unknown key.")
    case = PermissionField(Case, id=graphene.ID(required=True), roles=CASE_READERS,
                           description="A case; a PORTAL token sees only its own customer's cases.")
    cases = PermissionField(graphene.NonNull(CaseConnection), first=graphene.Int(), after=graphene.String(),
                            status=graphene.List(graphene.NonNull(CaseStatus)), sla_state=graphene.Argument(SlaState),
                            roles=SERVICE_DESK, description="The case queue, newest first; slaState is the worse "
                                                            "of the first-response and resolution clocks.")
    service_metrics = PermissionField(graphene.NonNull(ServiceMetrics), filter=ServiceMetricsFilter(), roles=STAFF,
                                      description="Service quality against the playbook's targets.")
    sla_policies = PermissionField(graphene.NonNull(graphene.List(graphene.NonNull(SlaPolicy))), roles=STAFF,
                                   description="The SLA policy of each service tier.")

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
            from_=filter.get("from_"), to=filter.get("to"), segment_id=_segment(filter, "filter.segmentId"),
            service_tiers=filter.get("service_tiers"), lifecycle_stages=filter.get("lifecycle_stages"),
            channels=filter.get("channels"))
        return analytics.journey_map(info.context.session, key=key, flt=flt)

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
                               segment_id=_segment(filter, "filter.segmentId"), channels=filter.get("channels"),
                               settings=JourneySettings.from_config(info.context.config))

    @staticmethod
    def resolve_sla_policies(root, info):
        order = {"VIP": 0, "PREFERRED": 1, "STANDARD": 2}
        policies = info.context.session.scalars(select(models.SlaPolicy)).all()
        return sorted(policies, key=lambda p: order.get(p.service_tier.value, 9))
