"""Interaction mutations: parse, call one service, shape the payload."""
from __future__ import annotations

import graphene

from crm.api.access import access_customer
from crm.api.ids import parse_id
from crm.api.mutations import BaseMutation, root_mutations
from crm.api.scalars import DateTime
from crm.auth.permissions import Capability
from crm.errors import DomainError
from graphql import GraphQLError
from journeys.gql.errors import JourneyErrorCode, journey_errors, journey_payload
from journeys.interactions import services as interactions
from journeys.interactions.gql.types import Interaction
from journeys.settings import JourneySettings


InteractionPayload = journey_payload("InteractionPayload", interaction=Interaction)


class BulkRowError(graphene.ObjectType):
    index = graphene.Int(required=True, description="The row's index in `inputs`; -1 for the call as a whole.")
    field = graphene.String()
    message = graphene.String(required=True)
    code = graphene.Field(JourneyErrorCode, required=True)


class InteractionBulkPayload(graphene.ObjectType):
    recorded = graphene.Int(required=True)
    duplicates = graphene.Int(required=True, description="Rows whose externalId was already recorded, skipped.")
    errors = graphene.List(graphene.NonNull(BulkRowError), required=True)


class InteractionInput(graphene.InputObjectType):
    customer_id = graphene.ID(required=True)
    touchpoint_key = graphene.String(required=True)
    occurred_at = DateTime(required=True)
    emotion = graphene.Int(description="-2 (very negative) .. 2 (very positive)")
    pain_points = graphene.List(graphene.NonNull(graphene.String), description="Normalised to lower-case tags.")
    note = graphene.String()
    external_id = graphene.String(description="Idempotency key.")
    case_id = graphene.ID()


def _row(info, data: dict) -> interactions.InteractionRow:
    return interactions.InteractionRow(
        customer_id=access_customer(info.context, data["customer_id"], field="customerId"),
        touchpoint_key=data["touchpoint_key"],
        occurred_at=data["occurred_at"], emotion=data.get("emotion"), pain_points=data.get("pain_points"),
        note=data.get("note"), external_id=data.get("external_id"),
        case_id=parse_id(data["case_id"], "Case", "caseId") if data.get("case_id") else None)


class InteractionRecord(BaseMutation):
    """Record one interaction; idempotent on externalId."""

    errors_name_the_input_argument = False

    input_type, payload, capability = InteractionInput, InteractionPayload, Capability.INTERACTIONS_RECORD

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

    payload, capability = InteractionBulkPayload, Capability.INTERACTIONS_RECORD

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


InteractionMutations = root_mutations("InteractionMutations", InteractionRecord, InteractionRecordBulk)
