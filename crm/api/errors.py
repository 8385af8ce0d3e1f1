"""The GraphQL side of a domain's error codes: its enum and the error type its mutation payloads list."""
from __future__ import annotations

import enum
import functools

import graphene

from crm.api.enums import enum_type


@functools.cache
def error_codes(codes: type[enum.Enum]) -> type[graphene.Enum]:
    """The GraphQL enum of the Python enum ``codes`` (``<domain>/errors.py``): the same name, values and order,
    with the members in ``codes.DEPRECATED`` (name -> reason) deprecated. One per Python enum (cached), as
    a GraphQL schema holds one type of a name: journeys' JourneyError and BulkRowError share it."""
    return enum_type(codes, deprecated=getattr(codes, "DEPRECATED", None))


def error_list(error: type[graphene.ObjectType]) -> graphene.List:
    """A payload's ``errors``: never null, empty on success."""
    return graphene.List(graphene.NonNull(error), required=True)


def payload_type(name: str, error: type[graphene.ObjectType], **fields: type[graphene.ObjectType]):
    """A mutation payload: the (nullable) objects it answers with, in this order, then its ``errors``."""
    return type(name, (graphene.ObjectType,),
                {**{key: graphene.Field(of) for key, of in fields.items()}, "errors": error_list(error)})


def error_type(name: str, codes: type[enum.Enum], field_description: str | None = None) -> type[graphene.ObjectType]:
    """The ``{field, message, code}`` type a domain's payloads list in ``errors``; ``code`` is ``codes``."""
    return type(name, (graphene.ObjectType,), {
        "field": graphene.String(description=field_description),
        "message": graphene.String(required=True),
        "code": graphene.Field(error_codes(codes), required=True),
    })
