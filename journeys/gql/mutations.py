"""Journeys mutations: parse, call one service, shape the payload."""
from __future__ import annotations

import graphene

from crm.api.enums import Channel, ServiceTier
from crm.api.ids import parse_id
from crm.api.mutations import BaseMutation
from crm.api.scalars import JSON, DateTime
from crm.customers.gql.mutations import customer_id_for
from crm.enums import Role
from crm.errors import DomainError
from graphql import GraphQLError
from journeys import cases, interactions, surveys, touchpoints
from journeys.gql.report_types import JourneyMapDefinition, SlaPolicy
from journeys.gql.types import (
    SERVICE_DESK, Case, CaseKind, CaseStatus, Interaction, SurveyKind, SurveyResponse, Touchpoint,
)
from journeys.settings import JourneySettings

RECORD_INTERACTIONS = (*SERVICE_DESK, Role.INTEGRATION)
MAP_EDITORS = (Role.ADMIN, Role.MARKETER)


class JourneyErrorCode(graphene.Enum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    FORBIDDEN = "FORBIDDEN"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"


class JourneyError(graphene.ObjectType):
    field = graphene.String()
    message = graphene.String(required=True)
    code = graphene.Field(JourneyErrorCode, required=True)


def _errors():
    return graphene.List(graphene.NonNull(JourneyError), required=True)


class TouchpointPayload(graphene.ObjectType):
    touchpoint = graphene.Field(Touchpoint)
    errors = _errors()


class JourneyMapPayload(graphene.ObjectType):
    journey_map = graphene.Field(JourneyMapDefinition)
    errors = _errors()


class InteractionPayload(graphene.ObjectType):
    interaction = graphene.Field(Interaction)
    errors = _errors()


class BulkRowError(graphene.ObjectType):
    index = graphene.Int(required=True, description="The row's index in `inputs`; -1 for the call as a whole.")
    field = graphene.String()
    message = graphene.String(required=True)
    code = graphene.Field(JourneyErrorCode, required=True)


class InteractionBulkPayload(graphene.ObjectType):
    recorded = graphene.Int(required=True)
    duplicates = graphene.Int(required=True, description="Rows whose externalId was already recorded, skipped.")
    errors = graphene.List(graphene.NonNull(BulkRowError), required=True)


class CasePayload(graphene.ObjectType):
    case = graphene.Field(Case)
    errors = _errors()


class SurveyResponsePayload(graphene.ObjectType):
    survey_response = graphene.Field(SurveyResponse)
    errors = _errors()


class SlaPolicyPayload(graphene.ObjectType):
    sla_policy = graphene.Field(SlaPolicy)
    errors = _errors()


class TouchpointCreateInput(graphene.InputObjectType):
    key = graphene.String(required=True)
    name = graphene.String(required=True)
    channel = Channel(required=True)
    stage = graphene.String(required=True)
    journey_map = graphene.String(required=True)


class JourneyMapSaveInput(graphene.InputObjectType):
    key = graphene.String(required=True)
    name = graphene.String(required=True)
    stages = graphene.List(graphene.NonNull(graphene.String), required=True)


class InteractionInput(graphene.InputObjectType):
    customer_id = graphene.ID(required=True)
    touchpoint_key = graphene.String(required=True)
    occurred_at = DateTime(required=True)
    emotion = graphene.Int(description="-2 (very negative) .. 2 (very positive)")
    pain_points = graphene.List(graphene.NonNull(graphene.String), description="Normalised to lower-case tags.")
    note = graphene.String()
    external_id = graphene.String(description="Idempotency key.")
    case_id = graphene.ID()


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


def _row(info, data: dict) -> interactions.InteractionRow:
    return interactions.InteractionRow(
        customer_id=customer_id_for(info, data["customer_id"], "customerId"), touchpoint_key=data["touchpoint_key"],
        occurred_at=data["occurred_at"], emotion=data.get("emotion"), pain_points=data.get("pain_points"),
        note=data.get("note"), external_id=data.get("external_id"),
        case_id=parse_id(data["case_id"], "Case", "caseId") if data.get("case_id") else None)


def _case_payload(info, case):
    info.context.loaders.see("case", [case])
    return CasePayload(case=case, errors=[])


class TouchpointCreate(BaseMutation):
    """Add a touchpoint to a stage of a journey map."""

    class Arguments:
        input = TouchpointCreateInput(required=True)

    class Meta:
        output = TouchpointPayload
        permissions = MAP_EDITORS

    @classmethod
    def perform(cls, info, input):
        touchpoint = touchpoints.create_touchpoint(info.context.session, key=input["key"], name=input["name"],
                                                   channel=input["channel"], stage=input["stage"],
                                                   journey_map=input["journey_map"])
        return TouchpointPayload(touchpoint=touchpoint, errors=[])


class JourneyMapSave(BaseMutation):
    """Create a journey map or change its name and stages; stages with touchpoints cannot be removed."""

    class Arguments:
        input = JourneyMapSaveInput(required=True)

    class Meta:
        output = JourneyMapPayload
        permissions = MAP_EDITORS

    @classmethod
    def perform(cls, info, input):
        saved = touchpoints.save_journey_map(info.context.session, key=input["key"], name=input["name"],
                                             stages=input["stages"])
        return JourneyMapPayload(journey_map=saved, errors=[])


class InteractionRecord(BaseMutation):
    """Record one interaction; idempotent on externalId."""

    errors_name_the_input_argument = False

    class Arguments:
        input = InteractionInput(required=True)

    class Meta:
        output = InteractionPayload
        permissions = RECORD_INTERACTIONS

    @classmethod
    def perform(cls, info, input):
        result = interactions.record_interaction(info.context.session, _row(info, input))
        info.context.loaders.see("interaction", [result.interaction])
        return InteractionPayload(interaction=result.interaction, errors=[])


class InteractionRecordBulk(BaseMutation):
    """Record up to 1000 interactions in one call: good rows are recorded, bad rows reported by index,
    rows whose externalId was already recorded counted as duplicates and skipped."""

    class Arguments:
        inputs = graphene.List(graphene.NonNull(InteractionInput), required=True)

    class Meta:
        output = InteractionBulkPayload
        permissions = RECORD_INTERACTIONS

    @classmethod
    def failure(cls, errors):
        return InteractionBulkPayload(recorded=0, duplicates=0, errors=[{"index": -1, **e} for e in errors])

    @classmethod
    def perform(cls, info, inputs):
        limit = JourneySettings.from_config(info.context.config).bulk_max_rows
        if len(inputs) > limit:
            raise GraphQLError(f"Bulk limit: at most {limit} rows per interactionRecordBulk call, got {len(inputs)}.",
                               extensions={"code": "BULK_LIMIT"})
        rows, errors = [], []
        for index, data in enumerate(inputs):
            try:
                rows.append((index, _row(info, data)))
            except DomainError as exc:
                errors.append({"index": index, "field": exc.field, "code": exc.code, "message": exc.message})
        result = interactions.record_interactions(info.context.session, [row for _, row in rows], max_rows=limit)
        positions = [index for index, _ in rows]
        errors += [{"index": positions[e.index], "field": e.field, "code": e.code, "message": e.message}
                   for e in result.errors]
        return InteractionBulkPayload(recorded=len(result.recorded), duplicates=result.duplicates,
                                      errors=sorted(errors, key=lambda e: e["index"]))


class CaseOpen(BaseMutation):
    """Open a case; priority and SLA follow the customer's service tier. A PORTAL token opens its own."""

    class Arguments:
        input = CaseOpenInput(required=True)

    class Meta:
        output = CasePayload
        permissions = (*SERVICE_DESK, Role.INTEGRATION, Role.PORTAL)

    @classmethod
    def perform(cls, info, input):
        ctx = info.context
        case = cases.open_case(ctx.session, customer_id=customer_id_for(info, input["customer_id"], "customerId"),
                               kind=input["kind"], channel=input["channel"], subject=input["subject"],
                               description=input.get("description"), actor=ctx.viewer.actor)
        return _case_payload(info, case)


class CaseRespond(BaseMutation):
    """Answer the customer; the first response stops the first-response clock."""

    class Arguments:
        case_id = graphene.ID(required=True)
        message = graphene.String(required=True)

    class Meta:
        output = CasePayload
        permissions = SERVICE_DESK

    @classmethod
    def perform(cls, info, case_id, message):
        case = cases.respond(info.context.session, case_id=parse_id(case_id, "Case", "caseId"), message=message,
                             actor=info.context.viewer.actor)
        return _case_payload(info, case)


class CaseAssign(BaseMutation):
    """Give a case to an ADMIN, ACCOUNT_MANAGER or SUPPORT_AGENT; staffUserId null takes it back."""

    class Arguments:
        case_id = graphene.ID(required=True)
        staff_user_id = graphene.ID()

    class Meta:
        output = CasePayload
        permissions = SERVICE_DESK

    @classmethod
    def perform(cls, info, case_id, staff_user_id=None):
        case = cases.assign(info.context.session, case_id=parse_id(case_id, "Case", "caseId"),
                            staff_user_id=parse_id(staff_user_id, "StaffUser", "staffUserId") if staff_user_id
                            else None, actor=info.context.viewer.actor)
        return _case_payload(info, case)


class CaseTransition(BaseMutation):
    """Move a case along RECEIVED -> DIAGNOSING -> SOLUTION_PROPOSED -> RESOLVED -> FOLLOWED_UP -> CLOSED;
    a RESOLVED case may be reopened to DIAGNOSING. Resolving goes through caseResolve."""

    class Arguments:
        case_id = graphene.ID(required=True)
        to_status = CaseStatus(required=True)
        note = graphene.String()

    class Meta:
        output = CasePayload
        permissions = SERVICE_DESK

    @classmethod
    def perform(cls, info, case_id, to_status, note=None):
        case = cases.transition(info.context.session, case_id=parse_id(case_id, "Case", "caseId"),
                                to_status=to_status, note=note, actor=info.context.viewer.actor)
        return _case_payload(info, case)


class CaseResolve(BaseMutation):
    """Resolve a case whose solution was proposed. A COMPLAINT needs its root cause; compensationPoints are
    credited to the customer's loyalty account exactly once, however often the call is repeated."""

    class Arguments:
        case_id = graphene.ID(required=True)
        input = CaseResolveInput(required=True)

    class Meta:
        output = CasePayload
        permissions = SERVICE_DESK

    @classmethod
    def perform(cls, info, case_id, input):
        case = cases.resolve(info.context.session, case_id=parse_id(case_id, "Case", "caseId"),
                             resolution=input["resolution"], root_cause=input.get("root_cause"),
                             compensation_points=input.get("compensation_points"), actor=info.context.viewer.actor)
        return _case_payload(info, case)


class SurveyResponseSubmit(BaseMutation):
    """Answer a CSAT (1..5), NPS (0..10) or CES (1..7) survey, once per customer, kind and case.
    A PORTAL token answers for its own customer."""

    class Arguments:
        input = SurveyResponseInput(required=True)

    class Meta:
        output = SurveyResponsePayload
        permissions = (*SERVICE_DESK, Role.INTEGRATION, Role.PORTAL)

    @classmethod
    def perform(cls, info, input):
        result = surveys.submit_response(
            info.context.session, customer_id=customer_id_for(info, input["customer_id"], "customerId"),
            kind=input["kind"], score=input["score"], comment=input.get("comment"),
            case_id=parse_id(input["case_id"], "Case", "caseId") if input.get("case_id") else None)
        info.context.loaders.see("survey", [result.response])
        return SurveyResponsePayload(survey_response=result.response, errors=[])


class SlaPolicyUpdate(BaseMutation):
    """Change a tier's SLA targets and business hours; cases opened afterwards follow it."""

    class Arguments:
        input = SlaPolicyUpdateInput(required=True)

    class Meta:
        output = SlaPolicyPayload
        permissions = (Role.ADMIN,)

    @classmethod
    def perform(cls, info, input):
        policy = cases.update_sla_policy(info.context.session, service_tier=input["service_tier"],
                                         first_response_minutes=input["first_response_minutes"],
                                         resolution_minutes=input["resolution_minutes"],
                                         business_hours=input.get("business_hours"), name=input.get("name"))
        return SlaPolicyPayload(sla_policy=policy, errors=[])


class JourneyMutations(graphene.ObjectType):
    touchpoint_create = TouchpointCreate.Field()
    journey_map_save = JourneyMapSave.Field()
    interaction_record = InteractionRecord.Field()
    interaction_record_bulk = InteractionRecordBulk.Field()
    case_open = CaseOpen.Field()
    case_respond = CaseRespond.Field()
    case_assign = CaseAssign.Field()
    case_transition = CaseTransition.Field()
    case_resolve = CaseResolve.Field()
    survey_response_submit = SurveyResponseSubmit.Field()
    sla_policy_update = SlaPolicyUpdate.Field()
