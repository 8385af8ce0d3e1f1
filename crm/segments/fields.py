"""Fields of the segment rule language: what each field name means in SQL over Customer.

The customer core's fields are here. A domain that adds fields (journeys: interactions, cases and
surveys; loyalty: balance and tier) declares them in its own package and registers them from its
``init_app`` with ``register_field_provider``, so crm never imports the domains that extend it.
``default_fields()`` builds the table from the core fields and every registered provider.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import timedelta

from sqlalchemy import Boolean, Float, String, case, exists, func, null, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

from crm.customers.models import Consent, Customer, Order
from crm.enums import Channel, LifecycleStage, ServiceTier
from crm.segments.models import SegmentMembership


@dataclass
class FieldDef:
    """``build(param, cond, now)`` returns the SQL value; ``where`` maps filter keys to (enum or None).

    Behaviour fields set ``aggregate(cond, now) -> (customer key column, aggregate, filters)`` instead:
    ``build`` is then the correlated scalar subquery, and whole-base statements group it once
    (``crm.segments.rules.AggregateJoins``)."""
    type: str
    build: Callable | None
    choices: tuple | None = None       # allowed values of an enum field
    nullable: bool = True              # False: ``exists`` is not offered
    within: bool = False
    where: dict = dc_field(default_factory=dict)
    aggregate: Callable | None = None

    def __post_init__(self):
        if self.aggregate is not None and self.build is None:
            self.build = self._correlated

    def _correlated(self, param, cond, now):
        key, value, filters = self.aggregate(cond, now)
        return select(value).where(key == Customer.id, *filters).correlate(Customer).scalar_subquery()


@dataclass
class Cond:
    name: str
    fdef: FieldDef
    param: str | None
    op: str
    value: object
    within: timedelta | None = None
    where: dict = dc_field(default_factory=dict)


# --- JSON attributes, typed the same way on both databases ------------------------------------------

class JsonAttr(ColumnElement):
    """``attributes -> key`` as ``kind`` (string / number / boolean / type), NULL when stored otherwise."""
    inherit_cache = False

    def __init__(self, key: str, kind: str):
        self.key, self.kind = key, kind
        self.type = {"number": Float(), "boolean": Boolean()}.get(kind, String())


_JSON_TYPES = {"postgresql": {"string": ["string"], "number": ["number"], "boolean": ["boolean"]},
               "sqlite": {"string": ["text"], "number": ["integer", "real"], "boolean": ["true", "false"]}}


@compiles(JsonAttr)
def _compile_json_attr(element, compiler, **kw):
    col = Customer.__table__.c.attributes
    item = col[element.key]
    if compiler.dialect.name == "postgresql":
        kind_of = func.json_typeof(item)
    else:
        kind_of = func.json_type(col, f'$."{element.key}"')
    if element.kind == "type":
        return compiler.process(kind_of, **kw)
    value = {"string": item.as_string(), "number": item.as_float(), "boolean": item.as_boolean()}[element.kind]
    names = _JSON_TYPES.get(compiler.dialect.name, _JSON_TYPES["sqlite"])[element.kind]
    return compiler.process(case((kind_of.in_(names), value), else_=null()), **kw)


# --- fields ------------------------------------------------------------------------------------------

def _col(column):
    return lambda param, cond, now: column


def within_filters(column, cond, now):
    """The filter keeping rows of ``column`` inside the condition's ``within`` window (none without one)."""
    return [column >= now - cond.within] if cond.within is not None else []


def one_of(column, value):
    """``column`` equals the value, or is one of the values when the rule gives a list."""
    return column.in_(value) if isinstance(value, list) else column == value


METRICS = {"totalSpent": ("money", "total_spent", False), "orderCount": ("number", "order_count", False),
           "firstOrderAt": ("datetime", "first_order_at", True), "lastOrderAt": ("datetime", "last_order_at", True),
           "lastInteractionAt": ("datetime", "last_interaction_at", True),
           "recencyScore": ("number", "recency_score", True), "frequencyScore": ("number", "frequency_score", True),
           "monetaryScore": ("number", "monetary_score", True), "lifetimeValue": ("money", "lifetime_value", True),
           "churnRisk": ("number", "churn_risk", True), "csatAverage": ("number", "csat_average", True),
           "lastNpsScore": ("number", "last_nps_score", True)}


def _orders(agg):
    def aggregate(cond, now):
        filters = [Order.status == "COMPLETED", *within_filters(Order.occurred_at, cond, now)]
        if "channel" in cond.where:
            filters.append(one_of(Order.channel, cond.where["channel"]))
        value = func.count() if agg == "count" else func.coalesce(func.sum(Order.amount_base), 0)
        return Order.customer_id, value, filters
    return aggregate


def _consent(param, cond, now):
    return exists().where(Consent.customer_id == Customer.id, Consent.channel == Channel(param),
                          Consent.granted.is_(True)).correlate(Customer)


def _segment(param, cond, now):
    return exists().where(SegmentMembership.customer_id == Customer.id,
                          one_of(SegmentMembership.segment_id, cond.value)).correlate(Customer)


def _core_fields() -> dict[str, FieldDef]:
    fields = {
        "email": FieldDef("string", _col(Customer.email)),
        "country": FieldDef("string", lambda p, c, n: JsonAttr("country", "string")),
        "timezone": FieldDef("string", _col(Customer.timezone), nullable=False),
        "locale": FieldDef("string", _col(Customer.locale)),
        "birthday": FieldDef("date", _col(Customer.birthday)),
        "createdAt": FieldDef("datetime", _col(Customer.created_at), nullable=False),
        "lifecycleStage": FieldDef("enum", _col(Customer.lifecycle_stage), tuple(s.value for s in LifecycleStage),
                                   nullable=False),
        "serviceTier": FieldDef("enum", _col(Customer.service_tier), tuple(s.value for s in ServiceTier),
                                nullable=False),
        "accountManagerId": FieldDef("uuid", _col(Customer.account_manager_id)),
        "segment": FieldDef("segment", _segment, nullable=False),
        "attributes.": FieldDef("json", None),
        "consents.": FieldDef("bool", _consent, nullable=False),
        "orders.count": FieldDef("number", None, nullable=False, within=True, where={"channel": Channel},
                                 aggregate=_orders("count")),
        "orders.sum": FieldDef("money", None, nullable=False, within=True, where={"channel": Channel},
                               aggregate=_orders("sum")),
    }
    for name, (kind, attr, nullable) in METRICS.items():
        fields[f"metrics.{name}"] = FieldDef(kind, _col(getattr(Customer, attr)), nullable=nullable)
    return fields


FIELD_PROVIDERS: dict[str, Callable[[], dict[str, FieldDef]]] = {}
_FIELDS: dict[str, FieldDef] | None = None


def register_field_provider(name: str, provider: Callable[[], dict[str, FieldDef]]) -> None:
    """Add (or replace) the fields another domain contributes; called from that domain's ``init_app``."""
    global _FIELDS
    FIELD_PROVIDERS[name] = provider
    _FIELDS = None  # the next lookup rebuilds the table with this provider's fields


def default_fields(reset: bool = False) -> dict[str, FieldDef]:
    """The field table: the customer core's own fields plus every registered provider's."""
    global _FIELDS
    if _FIELDS is None or reset:
        fields = _core_fields()
        for provider in FIELD_PROVIDERS.values():
            fields.update(provider())
        _FIELDS = fields
    return _FIELDS
