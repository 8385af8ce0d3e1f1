from __future__ import annotations

import datetime as _dt
import decimal as _decimal

import graphene
from graphql import GraphQLError
from graphql.language import ast
from graphql.utilities import value_from_ast_untyped

from crm.db import money_places


class JSON(graphene.Scalar):
    """Any JSON value."""

    @staticmethod
    def serialize(value):
        return value

    @staticmethod
    def parse_value(value):
        return value

    @staticmethod
    def parse_literal(node, variables=None):
        # Keeps variables nested inside the literal, e.g. {vip: $level}.
        return value_from_ast_untyped(node, variables)


class Decimal(graphene.Scalar):
    """An exact decimal number, serialized as a string ("12.50"); accepted as a string or a number."""

    @staticmethod
    def serialize(value):
        return str(money_places(_decimal.Decimal(value)))

    @staticmethod
    def parse_value(value):
        return _parse_decimal(value)

    @staticmethod
    def parse_literal(node, _variables=None):
        if isinstance(node, (ast.StringValueNode, ast.IntValueNode, ast.FloatValueNode)):
            return _parse_decimal(node.value)
        raise GraphQLError("Decimal values are strings such as \"12.50\".")


def _parse_decimal(value):
    if isinstance(value, bool):
        raise GraphQLError("Decimal values are strings such as \"12.50\".")
    try:
        number = _decimal.Decimal(str(value).strip())
    except (_decimal.InvalidOperation, ValueError):
        raise GraphQLError(f"{value!r} is not a decimal number.") from None
    if not number.is_finite():
        raise GraphQLError(f"{value!r} is not a finite decimal number.")
    return number


class DateTime(graphene.Scalar):
    """An instant: ISO-8601 with an offset ("2026-06-01T12:00:00+02:00"), answered in UTC."""

    @staticmethod
    def serialize(value):
        if value.tzinfo is None:  # stored values are UTC; the database types make them aware
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.isoformat()

    @staticmethod
    def parse_value(value):
        return _parse_datetime(value)

    @staticmethod
    def parse_literal(node, _variables=None):
        if isinstance(node, ast.StringValueNode):
            return _parse_datetime(node.value)
        raise GraphQLError("DateTime values are ISO-8601 strings with an offset, e.g. \"2026-06-01T12:00:00Z\".")


def _parse_datetime(value):
    if not isinstance(value, str):
        raise GraphQLError("DateTime values are ISO-8601 strings with an offset, e.g. \"2026-06-01T12:00:00Z\".")
    try:
        moment = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise GraphQLError(f"{value!r} is not an ISO-8601 date and time.") from None
    if moment.tzinfo is None:
        raise GraphQLError(f"{value!r} has no offset: add one, e.g. \"Z\" or \"+02:00\".")
    return moment
