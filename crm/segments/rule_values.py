"""Values in segment rules: one value of a field's type, and durations, as SQL can bind them.

Every refusal is an ``Invalid`` naming the rule node (``input.rule.all.1.value``); nothing a client
writes in a rule reaches the database as a value it cannot bind or a date it cannot compute.
"""
from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from crm.errors import Invalid
from crm.ids import parse_id
from crm.instants import InstantError, parse_instant
from crm.segments.fields import FieldDef

MAX_DURATION_YEARS = 100
MAX_AMOUNT = Decimal("100000000000000")  # the Decimal scalar's bound (crm.values.MAX_DECIMAL)
MAX_RULE_INT = 2 ** 63 - 1
MAX_TEXT = 1000
_DURATION = re.compile(r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                       r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def parse_duration(text, path: str) -> timedelta:
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match:
        raise Invalid("Give an ISO-8601 duration such as P90D or PT12H.", path)
    too_long = Invalid(f"Durations are at most {MAX_DURATION_YEARS} years (P{MAX_DURATION_YEARS}Y).", path)
    if any(len(g) > 12 for g in match.groups() if g):  # int() refuses thousands of digits; no real one has 13
        raise too_long
    y, mo, w, d, h, mi, s = (int(g or 0) for g in match.groups())
    # In whole seconds first: timedelta itself overflows past 999,999,999 days, and ``now - duration``
    # must still be a date.
    seconds = (365 * y + 30 * mo + 7 * w + d) * 86400 + h * 3600 + mi * 60 + s
    if seconds > MAX_DURATION_YEARS * 365 * 86400:
        raise too_long
    return timedelta(seconds=seconds)


def scalar(kind: str, fdef: FieldDef, value, path: str):
    """One value of the field's type, coerced for binding."""
    bad = Invalid(f"Expected a {kind} value.", path)
    if kind in ("string", "enum"):
        if not isinstance(value, str):
            raise bad
        bounded_text(value, path)
        if fdef.choices and value not in fdef.choices:
            raise Invalid(f"Expected one of {', '.join(fdef.choices)}.", path)
        return value
    if kind in ("number", "money"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise bad
        if kind == "number":
            if isinstance(value, str):
                raise bad
            return _bounded_number(value, path)
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise bad from None
        if not amount.is_finite() or amount.copy_abs() >= MAX_AMOUNT:  # first: quantize overflows on huge amounts
            raise Invalid(f"Expected an amount below {MAX_AMOUNT:,}.", path)
        if amount != amount.quantize(Decimal("0.0001")):
            raise Invalid("Expected an amount with at most 4 decimal places.", path)
        return amount
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad
        return value
    if kind == "json":
        if value is None or not isinstance(value, (str, int, float, bool)):
            raise Invalid("Expected a string, number or boolean.", path)
        if isinstance(value, str):
            return bounded_text(value, path)
        return value if isinstance(value, bool) else _bounded_number(value, path)
    if kind == "datetime":
        try:
            return parse_instant(value)
        except InstantError as refused:
            raise Invalid(str(refused), path) from None
    try:
        if kind == "date":
            return date.fromisoformat(value)
        if kind == "segment":
            return parse_id(value, "Segment", path)
        return uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        raise Invalid(f"Expected a {kind}.", path) from None


def bounded_text(value: str, path: str) -> str:
    """A rule's text, short enough for any column it is compared with and for SQLite's LIKE patterns
    (50,000 bytes at most: a longer one is an error in the database, not a mismatch)."""
    if len(value) > MAX_TEXT:
        raise Invalid(f"Text values in rules are at most {MAX_TEXT} characters.", path)
    return value


def _bounded_number(value, path: str):
    """A rule's number as SQL can bind it: finite (the JSON scalar refuses NaN and infinities already) and
    an integer within 64 bits, which SQLite refuses past and PostgreSQL's integer columns cannot hold."""
    if isinstance(value, int) and abs(value) > MAX_RULE_INT:
        raise Invalid(f"Expected a number between -{MAX_RULE_INT} and {MAX_RULE_INT}.", path)
    return value


def json_kind(value) -> str:
    return "boolean" if isinstance(value, bool) else "string" if isinstance(value, str) else "number"
