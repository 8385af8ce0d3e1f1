"""The segment rule language: validate a JSON rule tree and compile it to one SQL boolean over Customer.

A rule is ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}`` or a condition
``{"field": F, "op": OP, "value": V}``; behaviour fields also take ``"within": "P90D"`` and ``"where"``.

- ``validate(rule, path)`` raises ``Invalid`` naming the first bad node (``input.rule.all.1.field``).
  The root node is level 1; a node below level 8 is "nesting deeper than 8".
- ``compile_rule(rule, now=...)`` gives a boolean expression over ``Customer``; behaviour fields are
  correlated scalar subqueries / EXISTS, so ``select(Customer.id).where(expr)`` is one statement.
  It does not exclude merged customers: callers add ``Customer.merged_into_id IS NULL``.
- ``is_member`` and ``explain`` use the same compiler, one statement each.

Semantics: every condition is two-valued. A missing value (NULL, no loyalty account, absent attribute)
fails every condition except ``neq`` / ``not_in`` (and ``exists false``), so ``not {eq}`` == ``neq``.
``contains`` / ``starts_with`` are case-insensitive. ``within_last D`` means ``now - D <= t <= now``,
``before_last D`` means ``t < now - D``. Durations are ISO-8601, at most 100 years; ``Y`` counts 365 days and
``M`` (date part) 30 days. ``country`` has no column on Customer: it is the string ``attributes.country``.
``segment`` (``eq`` / ``in`` a segment id, ``neq`` / ``not_in``) reads the stored membership, so a rule
may build on another segment, static or dynamic; the segment services refuse cycles.
``attributes.<key>`` is typed by the rule's value (string, number or boolean); a stored value of
another JSON type does not match (e.g. ``"5"`` never equals ``5``), the same on PostgreSQL and SQLite.
Open cases are cases not RESOLVED, FOLLOWED_UP or CLOSED. ``orders.*`` count COMPLETED orders only;
``orders.sum`` is in the base currency. ``surveys.lastNps`` / ``lastCsat`` is the latest answer (in the
window, if ``within`` is given).

Fields are defined in ``crm.segments.fields`` (``FIELD_PROVIDERS``, ``default_fields()``).
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import and_, false, func, not_, or_, select, true

from crm.customers.models import Customer
from crm.enums import Channel, LifecycleStage, ServiceTier
from crm.errors import Invalid
from crm.segments.rule_values import bounded_text, json_kind, parse_duration, scalar
from crm.segments.fields import (
    FIELD_PROVIDERS,
    Cond,
    FieldDef,
    JsonAttr,
    default_fields,
)

__all__ = ["FIELD_PROVIDERS", "AggregateJoins", "compile_rule", "default_fields", "explain", "is_member", "parse_duration",
           "referenced_segments", "validate"]

MAX_DEPTH = 8
MAX_LIST = 1000
CMP = ("eq", "neq", "lt", "lte", "gt", "gte", "between")
OPS_BY_TYPE = {
    "string": ("eq", "neq", "in", "not_in", "contains", "starts_with", "exists"),
    "enum": ("eq", "neq", "in", "not_in", "exists"),
    "number": (*CMP, "in", "not_in", "exists"),
    "money": (*CMP, "in", "not_in", "exists"),
    "datetime": (*CMP, "exists", "within_last", "before_last"),
    "date": (*CMP, "in", "not_in", "exists"),
    "bool": ("eq", "neq"),
    "uuid": ("eq", "neq", "in", "not_in", "exists"),
    "json": (*CMP, "in", "not_in", "contains", "starts_with", "exists"),
    "segment": ("eq", "neq", "in", "not_in"),
}



# --- validation --------------------------------------------------------------------------------------

_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
COND_KEYS = {"field", "op", "value", "within", "where"}


def _lookup(name, path: str) -> tuple[str, FieldDef, str | None]:
    fields = default_fields()
    if not isinstance(name, str):
        raise Invalid("The field must be a string.", path)
    if name in fields and not name.endswith("."):
        return name, fields[name], None
    prefix, dot, param = name.partition(".")
    if dot and prefix + "." in fields:
        if prefix == "consents" and param in Channel.__members__:
            return name, fields["consents."], param
        if prefix == "attributes" and _KEY.match(param):
            return name, fields["attributes."], param
    raise Invalid(f"Unknown field {name!r}.", path)


def _value(fdef: FieldDef, op: str, value, path: str):
    kind = fdef.type
    if op == "exists":
        if not isinstance(value, bool):
            raise Invalid("exists takes true or false.", path)
        return value
    if op in ("within_last", "before_last"):
        return parse_duration(value, path)
    if op in ("between", "in", "not_in"):
        if not isinstance(value, list) or not value or len(value) > MAX_LIST:
            raise Invalid(f"{op} takes a non-empty list" + (" of two values." if op == "between" else "."), path)
        if op == "between" and len(value) != 2:
            raise Invalid("between takes a list of two values [low, high].", path)
        items = [scalar(kind, fdef, v, f"{path}.{i}") for i, v in enumerate(value)]
        if kind == "json" and len({json_kind(v) for v in items}) > 1:
            raise Invalid("The values must all be of one type.", path)
        if op == "between" and isinstance(items[0], bool):
            raise Invalid("Booleans do not compare with between.", path)
        if op == "between" and items[0] > items[1]:
            raise Invalid("between takes [low, high] with low <= high.", path)
        return items
    if op in ("contains", "starts_with"):
        if not isinstance(value, str) or not value:
            raise Invalid(f"{op} takes a non-empty string.", path)
        return bounded_text(value, path)
    return scalar(kind, fdef, value, path)


def _where(fdef: FieldDef, where, path: str) -> dict:
    if not isinstance(where, dict) or not where:
        raise Invalid("where takes an object of filters.", path)
    out = {}
    for key, value in where.items():
        here = f"{path}.{key}"
        if key not in fdef.where:
            raise Invalid(f"Unknown filter {key!r}; use {', '.join(fdef.where)}.", here)
        values = value if isinstance(value, list) else [value]
        if not values or len(values) > MAX_LIST or not all(isinstance(v, str) and v for v in values):
            raise Invalid("A filter takes a string or a non-empty list of strings.", here)
        enum_cls = fdef.where[key]
        if enum_cls is not None and any(v not in enum_cls.__members__ for v in values):
            raise Invalid(f"Expected one of {', '.join(enum_cls.__members__)}.", here)
        out[key] = values if isinstance(value, list) else value
    return out


def _condition(node: dict, path: str) -> Cond:
    for key in node:
        if key not in COND_KEYS:
            raise Invalid(f"Unknown key {key!r} in a condition.", f"{path}.{key}")
    for key in ("field", "op", "value"):
        if key not in node:
            raise Invalid(f"A condition needs {key!r}.", f"{path}.{key}")
    name, fdef, param = _lookup(node["field"], f"{path}.field")
    op = node["op"]
    if op not in OPS_BY_TYPE[fdef.type] or (op == "exists" and not fdef.nullable):
        raise Invalid(f"The operator {op!r} does not apply to {name}.", f"{path}.op")
    if op in ("between", "lt", "lte", "gt", "gte") and fdef.type == "json" and isinstance(node["value"], bool):
        raise Invalid("Booleans do not compare with lt/gt/between.", f"{path}.value")
    cond = Cond(name, fdef, param, op, _value(fdef, op, node["value"], f"{path}.value"))
    for key in ("within", "where"):
        if key in node and not fdef.within or key == "where" and key in node and not fdef.where:
            raise Invalid(f"{name} does not take {key!r}.", f"{path}.{key}")
    if "within" in node:
        cond.within = parse_duration(node["within"], f"{path}.within")
    if "where" in node:
        cond.where = _where(fdef, node["where"], f"{path}.where")
    return cond


def _check(node, path: str, depth: int):
    """The normalised tree: ("all"|"any", [children]), ("not", child) or a Cond."""
    if depth > MAX_DEPTH:
        raise Invalid(f"Rules may nest at most {MAX_DEPTH} levels deep.", path)
    if not isinstance(node, dict) or not node:
        raise Invalid("A rule node must be a group or a condition object.", path)
    group = [k for k in ("all", "any", "not") if k in node]
    if not group:
        return _condition(node, path)
    key = group[0]
    for other in node:
        if other != key:
            raise Invalid(f"Unexpected key {other!r} next to {key!r}.", f"{path}.{other}")
    here = f"{path}.{key}"
    if key == "not":
        return ("not", _check(node["not"], here, depth + 1))
    children = node[key]
    if not isinstance(children, list):
        raise Invalid(f"{key} takes a list of rules.", here)
    if not children:
        raise Invalid("A group needs at least one rule.", here)
    return (key, [_check(child, f"{here}.{i}", depth + 1) for i, child in enumerate(children)])


def validate(rule: dict, path: str = "input.rule") -> None:
    _check(rule, path, 1)


def _conditions(node):
    if isinstance(node, Cond):
        yield node
    elif node[0] == "not":
        yield from _conditions(node[1])
    else:
        for child in node[1]:
            yield from _conditions(child)


def condition_fields(rule: dict) -> set[str]:
    """The field names a (valid) rule's conditions read."""
    return {cond.name for cond in _conditions(_check(rule, "input.rule", 1))}


def referenced_segments(rule: dict) -> set[uuid.UUID]:
    """The segments a (valid) rule reads membership of: its dependencies."""
    found: set[uuid.UUID] = set()
    for cond in _conditions(_check(rule, "input.rule", 1)):
        if cond.fdef.type == "segment":
            found.update(cond.value if isinstance(cond.value, list) else [cond.value])
    return found


# --- compilation -------------------------------------------------------------------------------------

def _like(text: str) -> str:
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _sql_value(cond: Cond, now: datetime):
    """The SQL expression of the condition's field."""
    if cond.fdef.type == "json":
        if cond.op == "exists":
            return JsonAttr(cond.param, "type")
        sample = cond.value[0] if isinstance(cond.value, list) else cond.value
        kind = "string" if cond.op in ("contains", "starts_with") else json_kind(sample)
        return JsonAttr(cond.param, kind)
    return cond.fdef.build(cond.param, cond, now)


def _enum_value(cond: Cond, value):
    return LifecycleStage(value) if cond.name == "lifecycleStage" else ServiceTier(value) \
        if cond.name == "serviceTier" else value


class AggregateJoins:
    """Behaviour aggregates of one whole-base statement: each distinct one is a GROUP BY subquery LEFT
    JOINed to customer once (``apply``), instead of a correlated subquery run per customer."""

    def __init__(self):
        self._subqueries: dict[tuple, object] = {}

    def value(self, cond: Cond, now: datetime):
        key = (cond.name, cond.within, json.dumps(cond.where, sort_keys=True))
        if key not in self._subqueries:
            customer_key, aggregate, filters = cond.fdef.aggregate(cond, now)
            self._subqueries[key] = select(customer_key.label("customer_id"), aggregate.label("value")).where(
                *filters).group_by(customer_key).subquery(f"behaviour_{len(self._subqueries)}")
        # A customer without rows counts (and sums) 0.
        return func.coalesce(self._subqueries[key].c.value, 0)

    def apply(self, stmt):
        for subquery in self._subqueries.values():
            stmt = stmt.outerjoin(subquery, subquery.c.customer_id == Customer.id)
        return stmt


def _condition_sql(cond: Cond, now: datetime, joins: AggregateJoins | None = None):
    op, value = cond.op, cond.value
    if joins is not None and cond.fdef.aggregate is not None:
        col = joins.value(cond, now)
    else:
        col = _sql_value(cond, now)
    if isinstance(value, list):
        value = [_enum_value(cond, v) for v in value]
    elif op not in ("exists",):
        value = _enum_value(cond, value)
    if op == "exists":
        present = func.coalesce(col != "null", false()) if cond.fdef.type == "json" else col.is_not(None)
        return present if value else not_(present)
    if cond.fdef.type == "bool":  # a consent: EXISTS, never NULL
        return col if (value if op == "eq" else not value) else not_(col)
    if cond.fdef.type == "segment":  # EXISTS a membership in the segment(s)
        return col if op in ("eq", "in") else not_(col)
    if op == "neq":  # a missing value differs from every value
        return func.coalesce(col != value, true())
    if op == "not_in":
        return func.coalesce(col.not_in(value), true())
    return _comparison(col, op, value, now)


def _comparison(col, op: str, value, now: datetime | None = None):
    positive = {
        "eq": lambda: col == value, "lt": lambda: col < value, "lte": lambda: col <= value,
        "gt": lambda: col > value, "gte": lambda: col >= value, "in": lambda: col.in_(value),
        "between": lambda: col.between(value[0], value[1]),
        "contains": lambda: func.lower(col).like(f"%{_like(value)}%", escape="\\"),
        "starts_with": lambda: func.lower(col).like(f"{_like(value)}%", escape="\\"),
        "within_last": lambda: and_(col >= now - value, col <= now),
        "before_last": lambda: col < now - value,
    }[op]()
    return positive  # NULL when the value is missing: false in WHERE, made false under "not"


def _compile(node, now: datetime, joins: AggregateJoins | None = None):
    if isinstance(node, Cond):
        return _condition_sql(node, now, joins)
    key, body = node
    if key == "not":
        return not_(func.coalesce(_compile(body, now, joins), false()))
    parts = [_compile(child, now, joins) for child in body]
    return and_(true(), *parts) if key == "all" else or_(false(), *parts)


def compile_rule(rule: dict, *, now: datetime, path: str = "input.rule", joins: AggregateJoins | None = None):
    """A boolean SQL expression over Customer; raises Invalid like ``validate``.

    The default form reads behaviour (orders, interactions, cases) through a correlated subquery per
    condition: right for one customer (is_member, explain, re-evaluation), which reads only their rows.
    Statements over the whole base (refresh, preview, tier review) pass ``joins``: each behaviour
    aggregate is then one GROUP BY, LEFT JOINed to customer by ``joins.apply(stmt)``."""
    return _compile(_check(rule, path, 1), now, joins)


def is_member(session, customer_id: uuid.UUID, rule: dict, *, now: datetime) -> bool:
    """Whether one live customer matches the rule: one statement, the same compiler."""
    stmt = select(Customer.id).where(Customer.id == customer_id, Customer.merged_into_id.is_(None),
                                     compile_rule(rule, now=now))
    return session.execute(stmt).first() is not None


# --- explain -----------------------------------------------------------------------------------------

def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return getattr(value, "value", value)  # enums


def explain(session, customer_id: uuid.UUID, rule: dict, *, now: datetime) -> dict | None:
    """The rule tree as given, each node with its "result" for the customer and each condition with the
    customer's "actual" value next to the rule's own "value".

    One statement: a column per node (and per condition value). None for an unknown customer."""
    tree = _check(rule, "input.rule", 1)
    columns, slots = [], []

    def collect(node):
        index = len(columns)
        columns.append(func.coalesce(_compile(node, now), false()).label(f"r{index}"))
        if isinstance(node, Cond):
            value_col = _sql_value(node, now)
            columns.append(value_col.label(f"v{index}"))
            slots.append((node, index))
            return
        slots.append((node, index))
        for child in ([node[1]] if node[0] == "not" else node[1]):
            collect(child)

    collect(tree)
    row = session.execute(select(*columns).where(Customer.id == customer_id)).first()
    if row is None:
        return None
    values = row._mapping

    def build(node, original):
        index = next(i for n, i in slots if n is node)
        out = dict(original)
        out["result"] = bool(values[f"r{index}"])
        if isinstance(node, Cond):
            out["actual"] = _plain(values[f"v{index}"])
        elif node[0] == "not":
            out["not"] = build(node[1], original["not"])
        else:
            out[node[0]] = [build(child, raw) for child, raw in zip(node[1], original[node[0]])]
        return out

    return build(tree, rule)
