from __future__ import annotations

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
