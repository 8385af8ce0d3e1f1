"""GraphQL types of journeys and service (contract: "journeys and service")."""
from __future__ import annotations

import graphene
from graphene import relay

from crm.api.connections import connection_type
from crm.api.enums import Channel, ServiceTier
from crm.api.ids import load_node
from crm.api.scalars import DateTime
from crm.db import utcnow
from crm.enums import STAFF_ROLES, Role
from journeys import models
from journeys.gql import loaders

SERVICE_DESK = (Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPPORT_AGENT)
# Cases carry complaints and internal notes: the service desk reads them, and a portal its own.
CASE_READERS = (*SERVICE_DESK, Role.PORTAL)
TOUCHPOINT_READERS = (*STAFF_ROLES, Role.INTEGRATION)


def visible(info, obj, kind: str):
    """``obj`` if the viewer may see its customer (a portal token: only its own), registered for loaders."""
    from crm.customers.gql.types import can_see_customer
    if obj is None or not can_see_customer(info, obj.customer_id):
        return None
    if kind == "case" and info.context.viewer.role not in CASE_READERS:
        return None
    info.context.loaders.see(kind, [obj])
    return obj


def case_of(info, loader, case_id):
    """A related case, for roles that read cases; null for the others."""
    if case_id is None or info.context.viewer.role not in CASE_READERS:
        return None
    return info.context.loaders.get(loader).load(case_id)


CaseKind = graphene.Enum.from_enum(models.CaseKind)
CaseStatus = graphene.Enum.from_enum(
    models.CaseStatus, description="The service process: reception -> diagnosis -> solution -> follow-up.")


class SlaState(graphene.Enum):
    ON_TRACK = "ON_TRACK"
    AT_RISK = "AT_RISK"
    BREACHED = "BREACHED"
    MET = "MET"


SurveyKind = graphene.Enum.from_enum(models.SurveyKind, description="CSAT 1..5, NPS 0..10, CES 1..7.")


class Touchpoint(graphene.ObjectType):
    class Meta:
        interfaces = (relay.Node,)

    key = graphene.String(required=True, description='e.g. "web.checkout", "store.repair-desk"')
    name = graphene.String(required=True)
    channel = graphene.Field(Channel, required=True)
    stage = graphene.String(required=True)
    journey_map = graphene.String(required=True)

    @classmethod
    def is_type_of(cls, root, info):
        return isinstance(root, models.Touchpoint)

    @classmethod
    def get_node(cls, info, id):
        if info.context.viewer.role not in TOUCHPOINT_READERS:
            return None
        return load_node(info.context.session, models.Touchpoint, id)

    @staticmethod
    def resolve_journey_map(touchpoint, info):
        return touchpoint.journey_map_key


class CaseSla(graphene.ObjectType):
    policy = graphene.String(required=True)
    first_response_due_at = DateTime(required=True)
    resolution_due_at = DateTime(required=True)
    first_response_state = graphene.Field(SlaState, required=True)
    resolution_state = graphene.Field(SlaState, required=True)


CaseEventKind = graphene.Enum.from_enum(models.CaseEventKind)


class CaseEvent(graphene.ObjectType):
    kind = graphene.Field(CaseEventKind, required=True, description="A response keeps the status.")
    at = DateTime(required=True)
    from_status = graphene.Field(CaseStatus)
    to_status = graphene.Field(CaseStatus, required=True)
    actor = graphene.String(description='Staff user, "customer" or "system" ("staff" for PORTAL tokens).')
    note = graphene.String(description="PORTAL tokens see the notes of responses (written to them) only.")

    @staticmethod
    def resolve_actor(event, info):
        from crm.customers.gql.types import actor_for_viewer
        return actor_for_viewer(info, event.actor)

    @staticmethod
    def resolve_note(event, info):
        if info.context.viewer.role == Role.PORTAL and event.kind != models.CaseEventKind.RESPONSE:
            return None
        return event.note


class Case(graphene.ObjectType):
    class Meta:
        interfaces = (relay.Node,)

    customer = graphene.Field("crm.customers.gql.types.Customer", required=True)
    kind = graphene.Field(CaseKind, required=True)
    channel = graphene.Field(Channel, required=True)
    subject = graphene.String(required=True)
    description = graphene.String()
    status = graphene.Field(CaseStatus, required=True)
    priority = graphene.Int(required=True, description="1 = highest; follows the service tier.")
    assignee = graphene.Field("crm.auth.gql.types.StaffUser")
    opened_at = DateTime(required=True)
    first_responded_at = DateTime()
    resolved_at = DateTime()
    closed_at = DateTime()
    first_contact_resolution = graphene.Boolean()
    root_cause = graphene.String()
    resolution = graphene.String()
    compensation_points = graphene.Int(required=True)
    sla = graphene.Field(CaseSla, required=True)
    history = graphene.List(graphene.NonNull(CaseEvent), required=True, description="Oldest first.")
    reopen_count = graphene.Int(required=True)
    service_tier = graphene.Field(ServiceTier, required=True, description="The customer's tier when it opened.")
    interactions = graphene.List(graphene.NonNull(lambda: Interaction), required=True,
                                 description="Interactions linked to the case, oldest first.")

    @classmethod
    def is_type_of(cls, root, info):
        return isinstance(root, models.Case)

    @classmethod
    def get_node(cls, info, id):
        return visible(info, load_node(info.context.session, models.Case, id), "case")

    @staticmethod
    def resolve_customer(case, info):
        return info.context.loaders.get(loaders.CustomerOfCase).load(case.customer_id)

    @staticmethod
    def resolve_assignee(case, info):
        if info.context.viewer.role == Role.PORTAL:  # staff identities are internal
            return None
        return info.context.loaders.get(loaders.AssigneeOfCase).load(case.assignee_id)

    @staticmethod
    def resolve_sla(case, info):
        from journeys import sla
        now = utcnow()
        return CaseSla(policy=case.sla_policy, first_response_due_at=case.first_response_due_at,
                       resolution_due_at=case.resolution_due_at,
                       first_response_state=sla.state(case.first_responded_at, case.first_response_due_at,
                                                      case.first_response_at_risk_at, now),
                       resolution_state=sla.state(case.resolved_at, case.resolution_due_at,
                                                  case.resolution_at_risk_at, now))

    @staticmethod
    def resolve_history(case, info):
        return info.context.loaders.get(loaders.HistoryOfCase).load(case.id)

    @staticmethod
    def resolve_interactions(case, info):
        return info.context.loaders.get(loaders.InteractionsOfCase).load(case.id)


class Interaction(graphene.ObjectType):
    class Meta:
        interfaces = (relay.Node,)

    customer = graphene.Field("crm.customers.gql.types.Customer", required=True)
    touchpoint = graphene.Field(Touchpoint, required=True)
    channel = graphene.Field(Channel, required=True)
    stage = graphene.String(required=True)
    occurred_at = DateTime(required=True)
    emotion = graphene.Int(description="-2 (very negative) .. 2 (very positive)")
    pain_points = graphene.List(graphene.NonNull(graphene.String), required=True)
    note = graphene.String()
    external_id = graphene.String()
    case = graphene.Field(Case)
    recorded_at = DateTime(required=True)

    @classmethod
    def is_type_of(cls, root, info):
        return isinstance(root, models.Interaction)

    @classmethod
    def get_node(cls, info, id):
        return visible(info, load_node(info.context.session, models.Interaction, id), "interaction")

    @staticmethod
    def resolve_customer(interaction, info):
        return info.context.loaders.get(loaders.CustomerOfInteraction).load(interaction.customer_id)

    @staticmethod
    def resolve_touchpoint(interaction, info):
        return info.context.loaders.get(loaders.TouchpointOfInteraction).load(interaction.touchpoint_id)

    @staticmethod
    def resolve_pain_points(interaction, info):
        return interaction.pain_points or []

    @staticmethod
    def resolve_case(interaction, info):
        return case_of(info, loaders.CaseOfInteraction, interaction.case_id)


class SurveyResponse(graphene.ObjectType):
    class Meta:
        interfaces = (relay.Node,)

    customer = graphene.Field("crm.customers.gql.types.Customer", required=True)
    kind = graphene.Field(SurveyKind, required=True)
    score = graphene.Int(required=True)
    comment = graphene.String()
    case = graphene.Field(Case)
    submitted_at = DateTime(required=True)

    @classmethod
    def is_type_of(cls, root, info):
        return isinstance(root, models.SurveyResponse)

    @classmethod
    def get_node(cls, info, id):
        return visible(info, load_node(info.context.session, models.SurveyResponse, id), "survey")

    @staticmethod
    def resolve_customer(response, info):
        return info.context.loaders.get(loaders.CustomerOfSurvey).load(response.customer_id)

    @staticmethod
    def resolve_case(response, info):
        return case_of(info, loaders.CaseOfSurvey, response.case_id)


InteractionConnection = connection_type(Interaction, "Interaction")
CaseConnection = connection_type(Case, "Case")
SurveyResponseConnection = connection_type(SurveyResponse, "SurveyResponse")


def _page_with_count(info, page_loader, count_loader, key):
    page = page_loader.load(key)
    page.count = lambda: count_loader.load(key)
    return page


def interactions_of(info, customer, first: int, after: str | None, channel):
    """The customer's timeline across every channel, newest first."""
    channel = channel.value if hasattr(channel, "value") else channel
    get = info.context.loaders.get
    return _page_with_count(info, get(loaders.InteractionsByCustomer, first, after, channel),
                            get(loaders.InteractionCountByCustomer, channel), customer.id)


def cases_of(info, customer, first: int, after: str | None, statuses):
    statuses = tuple(sorted(s.value if hasattr(s, "value") else s for s in statuses)) if statuses else None
    get = info.context.loaders.get
    return _page_with_count(info, get(loaders.CasesByCustomer, first, after, statuses),
                            get(loaders.CaseCountByCustomer, statuses), customer.id)


def surveys_of(info, customer, first: int, after: str | None):
    get = info.context.loaders.get
    return _page_with_count(info, get(loaders.SurveysByCustomer, first, after), get(loaders.SurveyCountByCustomer),
                            customer.id)
