"""The error code and error type every journeys mutation payload carries (maps, interactions, service)."""
from __future__ import annotations

import graphene


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


def journey_errors():
    return graphene.List(graphene.NonNull(JourneyError), required=True)
