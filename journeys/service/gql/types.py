"""GraphQL types of the service process: cases, their SLA and history, survey responses.

visible() and case_of() are the PORTAL and case-reader checks the queries and interaction types use too; node(id:)
of these types goes through crm.api.node.ModelNode, with the same checks.
"""
from __future__ import annotations

import graphene

from crm.api.access import access_customer, actor_for_viewer
from crm.api.connections import connection_type, page_size
from crm.api.enums import Channel, ServiceTier
from crm.api.loaders import resolve_by
from crm.api.node import ModelNode
from crm.api.permissions import PermissionField
from crm.api.scalars import DateTime
from crm.auth.permissions import Capability, has
from crm.db import utcnow
from crm.enums import Role
from journeys.service import models
from journeys.service.gql import loaders


def visible(info, obj, kind: str):
    """``obj`` if the viewer may see its customer (a portal token: only its own), registered for loaders."""
    if obj is None or access_customer(info.context, obj.customer_id) is None:
        return None
    if kind == "case" and not has(info.context.viewer.role, Capability.CASES_READ):
        return None
    info.context.loaders.see(kind, [obj])
    return obj


def case_of(info, loader, case_id):
    """A related case, for roles that read cases; null for the others."""
    if case_id is None or not has(info.context.viewer.role, Capability.CASES_READ):
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
        return actor_for_viewer(info, event.actor)

    @staticmethod
    def resolve_note(event, info):
        if info.context.viewer.role == Role.PORTAL and event.kind != models.CaseEventKind.RESPONSE:
            return None
        return event.note


class Case(ModelNode, graphene.ObjectType):
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
    interactions = graphene.List(graphene.NonNull(lambda: _interaction_type()), required=True,
                                 description="Interactions linked to the case, oldest first.")

    node_model, node_capability, node_of_customer, node_seen_as = models.Case, Capability.CASES_READ, True, "case"

    resolve_customer = resolve_by(loaders.CustomerOfCase, "customer_id")

    @staticmethod
    def resolve_assignee(case, info):
        if info.context.viewer.role == Role.PORTAL:  # staff identities are internal
            return None
        return info.context.loaders.get(loaders.AssigneeOfCase).load(case.assignee_id)

    @staticmethod
    def resolve_sla(case, info):
        from journeys.service import sla
        now = utcnow()
        return CaseSla(policy=case.sla_policy, first_response_due_at=case.first_response_due_at,
                       resolution_due_at=case.resolution_due_at,
                       first_response_state=sla.state(case.first_responded_at, case.first_response_due_at,
                                                      case.first_response_at_risk_at, now),
                       resolution_state=sla.state(case.resolved_at, case.resolution_due_at,
                                                  case.resolution_at_risk_at, now))

    resolve_history = resolve_by(loaders.HistoryOfCase, "id")

    resolve_interactions = resolve_by(loaders.InteractionsOfCase, "id")


class SurveyResponse(ModelNode, graphene.ObjectType):
    customer = graphene.Field("crm.customers.gql.types.Customer", required=True)
    kind = graphene.Field(SurveyKind, required=True)
    score = graphene.Int(required=True)
    comment = graphene.String()
    case = graphene.Field(Case)
    submitted_at = DateTime(required=True)

    node_model, node_of_customer, node_seen_as = models.SurveyResponse, True, "survey"

    resolve_customer = resolve_by(loaders.CustomerOfSurvey, "customer_id")

    @staticmethod
    def resolve_case(response, info):
        return case_of(info, loaders.CaseOfSurvey, response.case_id)


CaseConnection = connection_type(Case, "Case")
SurveyResponseConnection = connection_type(SurveyResponse, "SurveyResponse")


def _interaction_type():
    from journeys.interactions.gql.types import Interaction  # it imports Case: resolved when the schema is built
    return Interaction


def cases_of(info, customer, first: int, after: str | None, statuses):
    statuses = tuple(sorted(s.value if hasattr(s, "value") else s for s in statuses)) if statuses else None
    return info.context.loaders.get(loaders.CasesByCustomer, first, after, statuses).load(customer.id)


def surveys_of(info, customer, first: int, after: str | None):
    return info.context.loaders.get(loaders.SurveysByCustomer, first, after).load(customer.id)


class CustomerService:
    """What the service process adds to Customer (attached by crm.api.schema, registered in journeys.init_app)."""

    cases = PermissionField(graphene.NonNull(CaseConnection), first=graphene.Int(), after=graphene.String(),
                            status=graphene.List(graphene.NonNull(CaseStatus)),
                            capability=Capability.CASES_READ,
                            description="Newest first.")
    survey_responses = graphene.Field(graphene.NonNull(SurveyResponseConnection), first=graphene.Int(),
                                      after=graphene.String())

    @staticmethod
    def resolve_cases(customer, info, first=None, after=None, status=None):
        return cases_of(info, customer, page_size(info, first), after, status)

    @staticmethod
    def resolve_survey_responses(customer, info, first=None, after=None):
        return surveys_of(info, customer, page_size(info, first), after)


class LedgerEntryCase:
    """A loyalty ledger entry's case (a compensation's), added by journeys: loyalty's types do not know cases."""

    case = graphene.Field(Case)

    @staticmethod
    def resolve_case(entry, info):
        return case_of(info, loaders.CaseOfEntry, entry.case_id)
