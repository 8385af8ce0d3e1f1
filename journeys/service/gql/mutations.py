"""Service mutations: parse, call one service, shape the payload."""
from __future__ import annotations

import graphene

from crm.api.access import access_customer
from crm.api.enums import Channel, ServiceTier
from crm.api.ids import parse_id
from crm.api.mutations import BaseMutation, family_member, mutation_family, root_mutations
from crm.api.scalars import JSON
from crm.auth.permissions import Capability
from journeys.gql.errors import journey_errors, journey_payload
from journeys.service import cases, surveys
from journeys.service.gql.report_types import SlaPolicy
from journeys.service.gql.types import Case, CaseKind, CaseStatus, SurveyKind, SurveyResponse
from journeys.settings import JourneySettings


CasePayload = journey_payload("CasePayload", case=Case)


SurveyResponsePayload = journey_payload("SurveyResponsePayload", survey_response=SurveyResponse)


SlaPolicyPayload = journey_payload("SlaPolicyPayload", sla_policy=SlaPolicy)


class CaseOpenInput(graphene.InputObjectType):
    customer_id = graphene.ID(required=True)
    kind = CaseKind(required=True)
    channel = Channel(required=True)
    subject = graphene.String(required=True)
    description = graphene.String()


class CaseResolveInput(graphene.InputObjectType):
    resolution = graphene.String(required=True)
    root_cause = graphene.String(description="Required for a COMPLAINT.")
    compensation_points = graphene.Int(description="Loyalty points credited once per case.")


class SurveyResponseInput(graphene.InputObjectType):
    customer_id = graphene.ID(required=True)
    kind = SurveyKind(required=True)
    score = graphene.Int(required=True)
    comment = graphene.String()
    case_id = graphene.ID()


class SlaPolicyUpdateInput(graphene.InputObjectType):
    service_tier = ServiceTier(required=True)
    name = graphene.String()
    first_response_minutes = graphene.Int(required=True)
    resolution_minutes = graphene.Int(required=True)
    business_hours = JSON(description="Null: around the clock.")


def _case_payload(info, case):
    info.context.loaders.see("case", [case])
    return CasePayload(case=case, errors=[])


_CaseMutation = mutation_family("_CaseMutation", CasePayload, Capability.CASES_WORK)


class CaseOpen(_CaseMutation):
    """Open a case; priority and SLA follow the customer's service tier. A PORTAL token opens its own."""

    capability = Capability.CASES_OPEN

    input_type = CaseOpenInput

    @classmethod
    def perform(cls, info, input):
        ctx = info.context
        case = cases.open_case(ctx.session, customer_id=access_customer(ctx, input["customer_id"], field="customerId"),
                               kind=input["kind"], channel=input["channel"], subject=input["subject"],
                               description=input.get("description"), actor=ctx.viewer.actor,
                               settings=JourneySettings.from_config(ctx.config))
        return _case_payload(info, case)


def _case_change(name: str, doc: str, change, arguments: dict, values):
    """A mutation of the case ``caseId`` by the service ``change``, which takes the case, the actor and
    ``values(**the other arguments)``."""
    def perform(cls, info, case_id, **given):
        case_id = parse_id(case_id, "Case", "caseId")
        return _case_payload(info, change(info.context.session, case_id=case_id, actor=info.context.viewer.actor,
                                          **values(**given)))

    return family_member(name, _CaseMutation, doc, perform, {"case_id": graphene.ID(required=True), **arguments})


CaseRespond = _case_change(
    "CaseRespond", "Answer the customer; the first response stops the first-response clock.", cases.respond,
    {"message": graphene.String(required=True)}, lambda message: {"message": message})
CaseAssign = _case_change(
    "CaseAssign", "Give a case to an ADMIN, ACCOUNT_MANAGER or SUPPORT_AGENT; staffUserId null takes it back.",
    cases.assign, {"staff_user_id": graphene.ID()},
    lambda staff_user_id=None: {"staff_user_id": parse_id(staff_user_id, "StaffUser", "staffUserId")
                                if staff_user_id else None})
CaseTransition = _case_change(
    "CaseTransition", "Move a case along RECEIVED -> DIAGNOSING -> SOLUTION_PROPOSED -> RESOLVED -> FOLLOWED_UP -> "
    "CLOSED; a RESOLVED case may be reopened to DIAGNOSING. Resolving goes through caseResolve.", cases.transition,
    {"to_status": CaseStatus(required=True), "note": graphene.String()},
    lambda to_status, note=None: {"to_status": to_status, "note": note})
CaseResolve = _case_change(
    "CaseResolve", "Resolve a case whose solution was proposed. A COMPLAINT needs its root cause; compensationPoints "
    "are credited to the customer's loyalty account exactly once, however often the call is repeated.",
    cases.resolve, {"input": CaseResolveInput(required=True)},
    lambda input: {"resolution": input["resolution"], "root_cause": input.get("root_cause"),
                   "compensation_points": input.get("compensation_points")})


class SurveyResponseSubmit(BaseMutation):
    """Answer a CSAT (1..5), NPS (0..10) or CES (1..7) survey, once per customer, kind and case.
    A PORTAL token answers for its own customer."""

    input_type, payload, capability = SurveyResponseInput, SurveyResponsePayload, Capability.SURVEYS_ANSWER

    @classmethod
    def perform(cls, info, input):
        result = surveys.submit_response(
            info.context.session, customer_id=access_customer(info.context, input["customer_id"], field="customerId"),
            kind=input["kind"], score=input["score"], comment=input.get("comment"),
            case_id=parse_id(input["case_id"], "Case", "caseId") if input.get("case_id") else None)
        info.context.loaders.see("survey", [result.response])
        return SurveyResponsePayload(survey_response=result.response, errors=[])


class SlaPolicyUpdate(BaseMutation):
    """Change a tier's SLA targets and business hours; cases opened afterwards follow it."""

    input_type, payload, capability = SlaPolicyUpdateInput, SlaPolicyPayload, Capability.SLA_WRITE

    @classmethod
    def perform(cls, info, input):
        policy = cases.update_sla_policy(info.context.session, service_tier=input["service_tier"],
                                         first_response_minutes=input["first_response_minutes"],
                                         resolution_minutes=input["resolution_minutes"],
                                         business_hours=input.get("business_hours"), name=input.get("name"))
        return SlaPolicyPayload(sla_policy=policy, errors=[])


ServiceMutations = root_mutations("ServiceMutations", CaseOpen, CaseRespond, CaseAssign, CaseTransition,
                                  CaseResolve, SurveyResponseSubmit, SlaPolicyUpdate)
