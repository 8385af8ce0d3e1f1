"""GraphQL types of journeys and service (contract: "journeys and service").

The types are part of the public API from the start because Customer refers
to them; the journeys issue adds their models, loaders, queries and mutations.
"""
from __future__ import annotations

import graphene
from graphene import relay

from crm.api.connections import connection_type
from crm.api.enums import Channel
from crm.api.scalars import DateTime


class CaseKind(graphene.Enum):
    INQUIRY = "INQUIRY"
    COMPLAINT = "COMPLAINT"
    REPAIR = "REPAIR"
    RETURN = "RETURN"
    FEEDBACK = "FEEDBACK"


class CaseStatus(graphene.Enum):
    """The service process: reception -> diagnosis -> solution -> follow-up."""

    RECEIVED = "RECEIVED"
    DIAGNOSING = "DIAGNOSING"
    SOLUTION_PROPOSED = "SOLUTION_PROPOSED"
    RESOLVED = "RESOLVED"
    FOLLOWED_UP = "FOLLOWED_UP"
    CLOSED = "CLOSED"


class SlaState(graphene.Enum):
    ON_TRACK = "ON_TRACK"
    AT_RISK = "AT_RISK"
    BREACHED = "BREACHED"
    MET = "MET"


class SurveyKind(graphene.Enum):
    """CSAT 1..5, NPS 0..10, CES 1..7."""

    CSAT = "CSAT"
    NPS = "NPS"
    CES = "CES"


class Touchpoint(graphene.ObjectType):
    class Meta:
        interfaces = (relay.Node,)

    key = graphene.String(required=True, description='e.g. "web.checkout", "store.repair-desk"')
    name = graphene.String(required=True)
    channel = graphene.Field(Channel, required=True)
    stage = graphene.String(required=True)
    journey_map = graphene.String(required=True)


class CaseSla(graphene.ObjectType):
    policy = graphene.String(required=True)
    first_response_due_at = DateTime(required=True)
    resolution_due_at = DateTime(required=True)
    first_response_state = graphene.Field(SlaState, required=True)
    resolution_state = graphene.Field(SlaState, required=True)


class CaseEvent(graphene.ObjectType):
    at = DateTime(required=True)
    from_status = graphene.Field(CaseStatus)
    to_status = graphene.Field(CaseStatus, required=True)
    actor = graphene.String()
    note = graphene.String()


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
    history = graphene.List(graphene.NonNull(CaseEvent), required=True)


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


class SurveyResponse(graphene.ObjectType):
    class Meta:
        interfaces = (relay.Node,)

    customer = graphene.Field("crm.customers.gql.types.Customer", required=True)
    kind = graphene.Field(SurveyKind, required=True)
    score = graphene.Int(required=True)
    comment = graphene.String()
    case = graphene.Field(Case)
    submitted_at = DateTime(required=True)


InteractionConnection = connection_type(Interaction, "Interaction")
CaseConnection = connection_type(Case, "Case")
SurveyResponseConnection = connection_type(SurveyResponse, "SurveyResponse")
