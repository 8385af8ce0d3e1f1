"""The custom scalars. A bad input value never raises here: it parses to an ``InvalidValue``, which
``crm.api.arguments`` turns into an INVALID error naming the field (a payload error in a mutation,
a GraphQL error with ``extensions.code`` and ``field`` elsewhere). Raising would leave graphql-core
to report it without a code or a field, before any resolver could name it."""
from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import math

import graphene
from graphql.language import ast
from graphql.utilities import value_from_ast_untyped

from crm.db import money_places
from crm.instants import EXAMPLE, InstantError, parse_instant
from crm.values import MAX_JSON_DEPTH, decimal_in_range

MAX_DECIMAL_PLACES = 18
NOT_FINITE = "Numbers in JSON must be finite (not NaN, Infinity or 1e999) and have at most 4300 digits."


class InvalidValue:
    """A client's value a scalar refused, and why."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message

    def __repr__(self):
        return f"InvalidValue({self.message!r})"


class JSON(graphene.Scalar):
    """Any JSON value."""

    @staticmethod
    def serialize(value):
        return value

    @staticmethod
    def parse_value(value):
        return _finite_json(value)

    @staticmethod
    def parse_literal(node, variables=None):
        # Keeps variables nested inside the literal, e.g. {vip: $level}. An integer literal too long for
        # Python (over 4300 digits) comes back as NaN, refused with the rest.
        return _finite_json(value_from_ast_untyped(node, variables))


def _finite_json(value):
    """``value``, or InvalidValue when it holds NaN or an infinity (JSON has neither; 1e999 parses to one),
    which PostgreSQL refuses in a json column, or nests deeper than a request body may (a literal in the
    document is not bounded by the transport). Iterative, so that no nesting exhausts the stack."""
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return InvalidValue(NOT_FINITE)
        if isinstance(item, InvalidValue):  # a variable inside the literal was refused already
            return item
        if isinstance(item, (dict, list)):
            if level > MAX_JSON_DEPTH:
                return InvalidValue(f"JSON values nest at most {MAX_JSON_DEPTH} levels deep.")
            pending.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return value


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
        return InvalidValue("Decimal values are strings such as \"12.50\".")


def _parse_decimal(value):
    if isinstance(value, bool) or not isinstance(value, (str, int, float, _decimal.Decimal)):
        return InvalidValue("Decimal values are strings such as \"12.50\".")
    try:
        number = _decimal.Decimal(str(value).strip())
    except (_decimal.InvalidOperation, ValueError):
        return InvalidValue(f"{value!r} is not a decimal number.")
    if not number.is_finite():
        return InvalidValue(f"{value!r} is not a finite decimal number.")
    if not decimal_in_range(number):
        return InvalidValue(f"{value!r} is too large: decimal values are below 10^14 (100,000,000,000,000).")
    number = _without_excess_zeros(number)
    if number.as_tuple().exponent < -MAX_DECIMAL_PLACES:
        return InvalidValue(f"{value!r} has too many decimal places: at most {MAX_DECIMAL_PLACES}.")
    return number


def _without_excess_zeros(number: _decimal.Decimal) -> _decimal.Decimal:
    # "1.000…0" with thousands of zeros is a fine number but no column stores that scale
    sign, digits, exponent = number.as_tuple()
    if exponent >= -MAX_DECIMAL_PLACES:
        return number
    while exponent < 0 and len(digits) > 1 and digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    if digits == (0,):
        exponent = max(exponent, 0)
    return _decimal.Decimal((sign, digits, exponent))


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
        return InvalidValue(f"DateTime values are ISO-8601 strings with an offset, e.g. \"{EXAMPLE}\".")


def _parse_datetime(value):
    try:
        return parse_instant(value)
    except InstantError as refused:
        return InvalidValue(str(refused))
