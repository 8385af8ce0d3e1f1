"""Fields of the segment rule language: what each field name means in SQL over Customer.

Composition: crm must not import journeys or loyalty at module level. Their fields live in provider
functions (``_journeys_fields``, ``_loyalty_fields``) that import their models locally; ``default_fields()``
registers them in ``FIELD_PROVIDERS`` on first use and builds the field table from every provider, so
the list of packages contributing fields is explicit in one place, and another package can add its own
provider to ``FIELD_PROVIDERS`` (then call ``default_fields(reset=True)``).
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


def _since(column, cond, now):
    return [column >= now - cond.within] if cond.within is not None else []


def _one_of(column, value):
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
        filters = [Order.status == "COMPLETED", *_since(Order.occurred_at, cond, now)]
        if "channel" in cond.where:
            filters.append(_one_of(Order.channel, cond.where["channel"]))
        value = func.count() if agg == "count" else func.coalesce(func.sum(Order.amount_base), 0)
        return Order.customer_id, value, filters
    return aggregate


def _consent(param, cond, now):
    return exists().where(Consent.customer_id == Customer.id, Consent.channel == Channel(param),
                          Consent.granted.is_(True)).correlate(Customer)


def _segment(param, cond, now):
    return exists().where(SegmentMembership.customer_id == Customer.id,
                          _one_of(SegmentMembership.segment_id, cond.value)).correlate(Customer)


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


def _journeys_fields() -> dict[str, FieldDef]:
    from journeys.interactions import normalise_pain_point
    from journeys.models import (
        Case,
        CaseStatus,
        Interaction,
        InteractionPainPoint,
        SurveyKind,
        SurveyResponse,
        Touchpoint,
    )

    def interactions(cond, now):
        filters = list(_since(Interaction.occurred_at, cond, now))
        where = cond.where
        if "channel" in where:
            filters.append(_one_of(Interaction.channel, where["channel"]))
        if "stage" in where:
            filters.append(_one_of(Interaction.stage, where["stage"]))
        if "touchpointKey" in where:
            filters.append(Interaction.touchpoint_id.in_(select(Touchpoint.id).where(
                _one_of(Touchpoint.key, where["touchpointKey"]))))
        if "painPoint" in where:  # tags are stored normalised: "Long wait" in a rule means "long-wait"
            wanted = where["painPoint"]
            wanted = [normalise_pain_point(t) for t in wanted] if isinstance(wanted, list) \
                else normalise_pain_point(wanted)
            filters.append(exists().where(InteractionPainPoint.interaction_id == Interaction.id,
                                          _one_of(InteractionPainPoint.pain_point, wanted)))
        return Interaction.customer_id, func.count(), filters

    def open_cases(cond, now):
        closed = [CaseStatus.RESOLVED, CaseStatus.FOLLOWED_UP, CaseStatus.CLOSED]
        return Case.customer_id, func.count(), [Case.status.not_in(closed)]

    def last_score(kind):
        def build(param, cond, now):
            return select(SurveyResponse.score).where(
                SurveyResponse.customer_id == Customer.id, SurveyResponse.kind == kind,
                *_since(SurveyResponse.submitted_at, cond, now),
            ).order_by(SurveyResponse.submitted_at.desc(), SurveyResponse.id.desc()).limit(1) \
                .correlate(Customer).scalar_subquery()
        return build

    text_filter = None
    return {
        "interactions.count": FieldDef("number", None, nullable=False, within=True, where={
            "channel": Channel, "touchpointKey": text_filter, "stage": text_filter, "painPoint": text_filter},
            aggregate=interactions),
        "cases.open": FieldDef("number", None, nullable=False, aggregate=open_cases),
        "surveys.lastNps": FieldDef("number", last_score(SurveyKind.NPS), within=True),
        "surveys.lastCsat": FieldDef("number", last_score(SurveyKind.CSAT), within=True),
    }


def _loyalty_fields() -> dict[str, FieldDef]:
    from loyalty.models import LoyaltyAccount

    def account(column):
        return lambda param, cond, now: select(column).where(LoyaltyAccount.customer_id == Customer.id) \
            .correlate(Customer).scalar_subquery()

    return {"loyalty.balance": FieldDef("number", account(LoyaltyAccount.balance)),
            "loyalty.tier": FieldDef("string", account(LoyaltyAccount.tier_key))}


FIELD_PROVIDERS: dict[str, Callable[[], dict[str, FieldDef]]] = {}
_FIELDS: dict[str, FieldDef] | None = None


def default_fields(reset: bool = False) -> dict[str, FieldDef]:
    """The field table: crm's own fields plus every provider (journeys and loyalty registered here)."""
    global _FIELDS
    if _FIELDS is None or reset:
        FIELD_PROVIDERS.setdefault("journeys", _journeys_fields)
        FIELD_PROVIDERS.setdefault("loyalty", _loyalty_fields)
        fields = _core_fields()
        for provider in FIELD_PROVIDERS.values():
            fields.update(provider())
        _FIELDS = fields
    return _FIELDS

