"""Keyset pagination shared by every list: stable under inserts, one query per page."""
from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from crm.errors import Invalid
from crm.instants import InstantError, parse_instant
from crm.values import decimal_in_range, unstorable


@dataclass(frozen=True)
class SortKey:
    """One column of an ordering: the SQL expression, how to read it off a row, its JSON kind."""

    expr: Any
    value: Callable[[Any], Any]
    kind: str  # "datetime" | "decimal" | "str" | "uuid" | "int"
    descending: bool = False


@dataclass
class Page:
    items: list
    cursors: list[str]
    has_next: bool
    has_previous: bool
    count: Callable[[], int] = field(repr=False, default=lambda: 0)


def _dump(value, kind):
    if value is None:
        return None
    if kind == "datetime":
        return value.isoformat()
    if kind in ("decimal", "uuid"):
        return str(value)
    return value


MAX_CURSOR_INT = 2 ** 63 - 1  # a BIGINT column's range: a larger bound parameter fails in the driver


def _load(value, kind):
    """A cursor value back to its type; ValueError for anything a real cursor never holds (a cursor is the
    client's text: base64 of any JSON it likes)."""
    if value is None:
        return None
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_CURSOR_INT:
            raise ValueError("cursor int out of range")
        return value
    if not isinstance(value, str) or unstorable(value):
        raise ValueError("cursor value of the wrong type")
    if kind == "datetime":
        try:
            return parse_instant(value)
        except InstantError:
            raise ValueError("cursor datetime out of range") from None
    if kind == "decimal":
        number = Decimal(value)
        if not number.is_finite() or not decimal_in_range(number) or number != number.quantize(Decimal("0.0001")):
            raise ValueError("cursor decimal out of range")
        return number
    if kind == "uuid":
        return uuid.UUID(value)
    return value


def encode_cursor(ordering: str, keys: list[SortKey], item) -> str:
    raw = json.dumps([ordering, *[_dump(k.value(item), k.kind) for k in keys]], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, ordering: str, keys: list[SortKey]) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, *values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if name != ordering or len(values) != len(keys):
            raise ValueError("cursor of another list or ordering")
        return [_load(v, k.kind) for v, k in zip(values, keys)]
    except (ValueError, TypeError, InvalidOperation, binascii.Error, RecursionError):
        raise Invalid("This cursor is not valid for this list and ordering.", "after") from None


def after_condition(keys: list[SortKey], values: list):
    """Rows strictly after ``values`` in the ordering ``keys`` (lexicographic, per-key direction)."""
    clauses = []
    for i, key in enumerate(keys):
        equal_prefix = [keys[j].expr == values[j] for j in range(i)]
        beyond = key.expr < values[i] if key.descending else key.expr > values[i]
        clauses.append(and_(*equal_prefix, beyond))
    return or_(*clauses)


def order_clauses(keys: list[SortKey]):
    return [k.expr.desc() if k.descending else k.expr.asc() for k in keys]


def keyset_page(session: Session, stmt, *, ordering: str, keys: list[SortKey], first: int,
                after: str | None) -> Page:
    """One page of ``stmt`` (a select of an entity) ordered by ``keys`` after the cursor."""
    filtered = stmt
    page_stmt = stmt
    if after:
        page_stmt = page_stmt.where(after_condition(keys, decode_cursor(after, ordering, keys)))
    rows = session.scalars(page_stmt.order_by(*order_clauses(keys)).limit(first + 1)).all()
    items = list(rows[:first])

    def count() -> int:
        return session.scalar(select(func.count()).select_from(filtered.order_by(None).subquery()))

    return Page(items=items, cursors=[encode_cursor(ordering, keys, item) for item in items],
                has_next=len(rows) > first, has_previous=after is not None, count=count)


def keyset_pages_by_parent(session: Session, model, parent_column, parent_ids, *, ordering: str,
                           keys: list[SortKey], first: int, after: str | None, where=()) -> dict:
    """A page of ``model`` rows for each parent id, in one statement (ROW_NUMBER per parent).

    Used by nested connections (a customer's orders, interactions, ...), so a
    list of N parents costs one query, not N.
    """
    from sqlalchemy.orm import aliased

    if not parent_ids:
        return {}
    rank = func.row_number().over(partition_by=parent_column, order_by=order_clauses(keys)).label("row_rank")
    inner = select(model, rank).where(parent_column.in_(list(parent_ids)), *where)
    if after:
        inner = inner.where(after_condition(keys, decode_cursor(after, ordering, keys)))
    ranked = inner.subquery()
    row = aliased(model, ranked)
    rows = session.scalars(select(row).where(ranked.c.row_rank <= first + 1)
                           .order_by(ranked.c[parent_column.key], ranked.c.row_rank)).all()
    grouped: dict = {pid: [] for pid in parent_ids}
    for item in rows:
        grouped[getattr(item, parent_column.key)].append(item)
    return {pid: Page(items=items[:first], cursors=[encode_cursor(ordering, keys, i) for i in items[:first]],
                      has_next=len(items) > first, has_previous=after is not None)
            for pid, items in grouped.items()}
