from __future__ import annotations

import decimal as _decimal

import graphene
from graphql import GraphQLError
from graphql.language import ast

from crm.db import money_places


class JSON(graphene.Scalar):
    """Any JSON value."""

    @staticmethod
    def serialize(value):
        return value

    @staticmethod
    def parse_value(value):
        return value

    @classmethod
    def parse_literal(cls, node, _variables=None):
        if isinstance(node, ast.ObjectValueNode):
            return {f.name.value: cls.parse_literal(f.value) for f in node.fields}
        if isinstance(node, ast.ListValueNode):
            return [cls.parse_literal(v) for v in node.values]
        if isinstance(node, ast.IntValueNode):
            return int(node.value)
        if isinstance(node, ast.FloatValueNode):
            return float(node.value)
        if isinstance(node, (ast.StringValueNode, ast.BooleanValueNode, ast.EnumValueNode)):
            return node.value
        return None


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
