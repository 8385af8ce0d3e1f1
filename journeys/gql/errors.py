"""The error code and error type every journeys mutation payload carries (maps, interactions, service)."""
from __future__ import annotations

import graphene

from crm.api.errors import error_codes, error_list, error_type, payload_type
from journeys import errors

JourneyErrorCode = error_codes(errors.JourneyErrorCode)  # also the code of interactionRecordBulk's row errors
JourneyError = error_type("JourneyError", errors.JourneyErrorCode)


def journey_errors():
    return error_list(JourneyError)


def journey_payload(name: str, **fields: type[graphene.ObjectType]) -> type[graphene.ObjectType]:
    """A journeys mutation payload: the (nullable) objects it answers with, then its errors."""
    return payload_type(name, JourneyError, **fields)
