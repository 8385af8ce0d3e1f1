"""The segment rule language: validation paths, and exact membership of compiled rules on both databases."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from crm.customers.models import Customer
from crm.customers.orders import record_order
from crm.customers.services import create_customer, set_consent, transition_stage
from crm.enums import Channel, LifecycleStage
from crm.errors import Invalid
from crm.segments.rules import AggregateJoins, compile_rule, explain, is_member, validate
from journeys.service.cases import open_case
from journeys.interactions.services import InteractionRow, record_interaction
from journeys.service.models import CaseKind, SurveyKind
from journeys.service.surveys import submit_response
from journeys.maps.services import create_touchpoint
from loyalty.services import earn_points

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)   # when the rules are evaluated


@pytest.fixture(autouse=True)
def rows_written_ten_minutes_before_now(clock):
    """The fixtures' rows are written at a fixed instant ten minutes before NOW (createdAt within_last PT1H
    holds for everyone, before_last P1D for no one), however long the run has taken so far."""
    clock.freeze(NOW - timedelta(minutes=10))


def ago(days: float):
    return NOW - timedelta(days=days)


def _order(ctx, customer, key, amount, days, channel="WEB", currency="EUR"):
    record_order(ctx, customer_id=customer, actor=None, data={
        "externalId": key, "amount": amount, "currency": currency, "channel": channel,
        "occurredAt": ago(days).isoformat(), "items": []})


@pytest.fixture
def people(ctx):
    ann = create_customer(ctx, actor=None, data={
        "email": "Ann@Example.com", "birthday": "1990-05-01", "locale": "de-DE",
        "attributes": {"country": "DE", "age": 34, "vip": True, "plan": "gold_plus"}}).id
    bob = create_customer(ctx, actor=None, data={
        "email": "bob_smith@shop.test", "locale": "fr-FR", "attributes": {"country": "FR", "age": "34", "vip": None}}).id
    cat = create_customer(ctx, actor=None, data={"externalId": "cat-1", "attributes": {"age": 71.5, "plan": None}}).id
    _order(ctx, ann, "a1", "100.00", 10)
    _order(ctx, ann, "a2", "250.50", 200, channel="STORE")
    _order(ctx, bob, "b1", "50.00", 5, channel="APP")
    set_consent(ctx, customer_id=ann, channel=Channel.EMAIL, granted=True, source=None, actor=None)
    set_consent(ctx, customer_id=bob, channel=Channel.EMAIL, granted=False, source=None, actor=None)
    set_consent(ctx, customer_id=bob, channel=Channel.SMS, granted=True, source=None, actor=None)
    transition_stage(ctx, customer_id=cat, to_stage=LifecycleStage.CHURNED, reason=None, actor=None)
    return {"ann": ann, "bob": bob, "cat": cat}


def members(ctx, people, rule, now=NOW) -> set[str]:
    """Members by the per-customer form; the whole-base form (behaviour as joined GROUP BYs) must agree."""
    ids = set(ctx.execute(select(Customer.id).where(compile_rule(rule, now=now))).scalars())
    joins = AggregateJoins()
    condition = compile_rule(rule, now=now, joins=joins)
    assert set(ctx.execute(joins.apply(select(Customer.id)).where(condition)).scalars()) == ids, rule
    return {name for name, cid in people.items() if cid in ids}


def c(field, op, value, **extra):
    return {"field": field, "op": op, "value": value, **extra}


EVERYONE = {"ann", "bob", "cat"}


@pytest.mark.parametrize("rule, expected", [
    (c("email", "eq", "ann@example.com"), {"ann"}),
    (c("email", "neq", "ann@example.com"), {"bob", "cat"}),          # a missing email differs
    (c("email", "contains", "SMITH"), {"bob"}),
    (c("email", "contains", "_"), {"bob"}),                           # LIKE wildcards are literal
    (c("email", "starts_with", "An"), {"ann"}),
    (c("email", "exists", True), {"ann", "bob"}),
    (c("email", "exists", False), {"cat"}),
    (c("email", "in", ["ann@example.com", "x@y.z"]), {"ann"}),
    (c("email", "not_in", ["ann@example.com"]), {"bob", "cat"}),
    (c("locale", "eq", "fr-FR"), {"bob"}),
    (c("timezone", "eq", "Europe/Berlin"), set()),
    (c("country", "eq", "DE"), {"ann"}),
    (c("country", "in", ["DE", "FR"]), {"ann", "bob"}),
    (c("country", "exists", False), {"cat"}),
    (c("birthday", "lt", "2000-01-01"), {"ann"}),
    (c("birthday", "between", ["1990-05-01", "1990-05-01"]), {"ann"}),
    (c("createdAt", "within_last", "PT1H"), EVERYONE),
    (c("createdAt", "before_last", "P1D"), set()),
    (c("lifecycleStage", "eq", "CHURNED"), {"cat"}),
    (c("lifecycleStage", "neq", "CHURNED"), {"ann", "bob"}),
    (c("serviceTier", "in", ["STANDARD", "VIP", "PREFERRED"]), EVERYONE),
    (c("accountManagerId", "exists", False), EVERYONE),
    (c("accountManagerId", "eq", "00000000-0000-0000-0000-000000000001"), set()),
    (c("consents.EMAIL", "eq", True), {"ann"}),
    (c("consents.EMAIL", "eq", False), {"bob", "cat"}),
    (c("consents.SMS", "neq", False), {"bob"}),
])
def test_profile_fields(ctx, people, rule, expected):
    assert members(ctx, people, rule) == expected


@pytest.mark.parametrize("rule, expected", [
    (c("attributes.age", "eq", 34), {"ann"}),             # bob's "34" is a string, not a number
    (c("attributes.age", "eq", "34"), {"bob"}),
    (c("attributes.age", "gt", 30), {"ann", "cat"}),
    (c("attributes.age", "lte", 34), {"ann"}),
    (c("attributes.age", "between", [34, 71.5]), {"ann", "cat"}),
    (c("attributes.age", "in", [71.5, 1]), {"cat"}),
    (c("attributes.age", "not_in", [34]), {"bob", "cat"}),
    (c("attributes.vip", "eq", True), {"ann"}),
    (c("attributes.vip", "neq", True), {"bob", "cat"}),
    (c("attributes.vip", "exists", True), {"ann"}),        # None attributes are dropped on create
    (c("attributes.plan", "contains", "PLUS"), {"ann"}),
    (c("attributes.plan", "starts_with", "gold"), {"ann"}),
    (c("attributes.plan", "exists", False), {"bob", "cat"}),
])
def test_attributes_on_both_databases(ctx, people, rule, expected):
    assert members(ctx, people, rule) == expected


@pytest.mark.parametrize("rule, expected", [
    (c("metrics.totalSpent", "gte", "350.50"), {"ann"}),
    (c("metrics.totalSpent", "between", [1, 360]), {"ann", "bob"}),
    (c("metrics.orderCount", "eq", 0), {"cat"}),
    (c("metrics.lastOrderAt", "within_last", "P7D"), {"bob"}),
    (c("metrics.lastOrderAt", "before_last", "P7D"), {"ann"}),
    (c("metrics.firstOrderAt", "lt", ago(100).isoformat()), {"ann"}),
    (c("metrics.lastOrderAt", "exists", False), {"cat"}),
    (c("orders.count", "gte", 2), {"ann"}),
    (c("orders.count", "eq", 1, within="P30D"), {"ann", "bob"}),
    (c("orders.count", "eq", 0), {"cat"}),
    (c("orders.count", "gt", 0, where={"channel": ["STORE", "APP"]}), {"ann", "bob"}),
    (c("orders.count", "gt", 0, within="P30D", where={"channel": "STORE"}), set()),
    (c("orders.sum", "gt", 300), {"ann"}),
    (c("orders.sum", "eq", 100, within="P2W"), {"ann"}),
    (c("orders.sum", "lt", 1), {"cat"}),
])
def test_metrics_and_orders(ctx, people, rule, expected):
    assert members(ctx, people, rule) == expected


def test_journeys_and_loyalty_fields(ctx, people):
    ann, bob, cat = people["ann"], people["bob"], people["cat"]
    create_touchpoint(ctx, key="web.checkout", name="Checkout", channel=Channel.WEB, stage="purchase",
                      journey_map="purchase")
    create_touchpoint(ctx, key="app.browse", name="Browse", channel=Channel.APP, stage="consideration",
                      journey_map="purchase")
    record_interaction(ctx, InteractionRow(ann, "web.checkout", ago(2), pain_points=["slow page"]))
    record_interaction(ctx, InteractionRow(ann, "app.browse", ago(60)))
    record_interaction(ctx, InteractionRow(bob, "app.browse", ago(1)))
    open_case(ctx, customer_id=bob, kind=CaseKind.COMPLAINT,
              channel=Channel.EMAIL, subject="Broken", description=None, actor=None)
    submit_response(ctx, customer_id=ann, kind=SurveyKind.NPS, score=3, now=ago(40))
    ann_case = open_case(ctx, customer_id=ann, kind=CaseKind.INQUIRY, channel=Channel.WEB, subject="Where?",
                         description=None, actor=None)
    submit_response(ctx, customer_id=ann, kind=SurveyKind.NPS, score=9, case_id=ann_case.id, now=ago(1))
    submit_response(ctx, customer_id=cat, kind=SurveyKind.CSAT, score=2, now=ago(1))
    earn_points(ctx, customer_id=cat, points=100000, reason="referral", idempotency_key="k1")
    m = lambda rule: members(ctx, people, rule)
    assert m(c("interactions.count", "eq", 2)) == {"ann"}
    assert m(c("interactions.count", "gte", 1, within="P7D")) == {"ann", "bob"}
    assert m(c("interactions.count", "gt", 0, where={"channel": "APP", "stage": "consideration"})) == {"ann", "bob"}
    assert m(c("interactions.count", "gt", 0, where={"touchpointKey": "web.checkout"})) == {"ann"}
    assert m(c("interactions.count", "gt", 0, where={"painPoint": "Slow Page"})) == {"ann"}
    assert m(c("cases.open", "gte", 1)) == {"ann", "bob"}
    assert m(c("cases.open", "eq", 0)) == {"cat"}
    assert m(c("surveys.lastNps", "gte", 9)) == {"ann"}
    assert m(c("surveys.lastNps", "lte", 6, within="P30D")) == set()
    assert m(c("surveys.lastNps", "exists", False)) == {"bob", "cat"}
    assert m(c("surveys.lastCsat", "lt", 3)) == {"cat"}
    assert m(c("loyalty.balance", "gte", 100000)) == {"cat"}
    assert m(c("loyalty.tier", "exists", True)) == EVERYONE
    assert m(c("loyalty.tier", "eq", "platinum")) == {"cat"}
    assert m(c("loyalty.tier", "in", ["member", "silver"])) == {"ann", "bob"}


def test_nested_groups(ctx, people):
    rule = {"any": [
        {"all": [c("country", "eq", "DE"), c("orders.count", "gte", 2)]},
        {"not": {"any": [c("email", "exists", True), c("attributes.age", "gt", 100)]}},
    ]}
    assert members(ctx, people, rule) == {"ann", "cat"}
    assert members(ctx, people, {"not": rule}) == {"bob"}
    # "not" over a missing value: NOT (email contains "x") holds for a customer without email.
    assert members(ctx, people, {"not": c("email", "contains", "example")}) == {"bob", "cat"}
    assert members(ctx, people, {"not": {"not": c("country", "eq", "FR")}}) == {"bob"}
    deep = c("country", "eq", "FR")
    for _ in range(7):
        deep = {"all": [deep]}
    assert members(ctx, people, deep) == {"bob"}


def test_is_member_is_one_statement(ctx, people, count_statements):
    rule = {"all": [c("orders.sum", "gt", 10, within="P30D"), c("consents.EMAIL", "eq", True)]}
    with count_statements() as statements:
        assert is_member(ctx, people["ann"], rule, now=NOW) is True
        assert is_member(ctx, people["bob"], rule, now=NOW) is False
    assert len(statements) == 2
    assert is_member(ctx, people["ann"], rule, now=NOW + timedelta(days=30)) is False


def test_explain(ctx, people):
    rule = {"any": [c("attributes.age", "gt", 40), {"not": c("orders.sum", "lt", 100)}]}
    out = explain(ctx, people["ann"], rule, now=NOW)
    assert out == {"result": True, "any": [
        {**c("attributes.age", "gt", 40), "result": False, "actual": 34},
        {"result": True, "not": {**c("orders.sum", "lt", 100), "result": False, "actual": "350.50"}}]}
    assert explain(ctx, people["cat"], c("email", "exists", True), now=NOW) == {
        **c("email", "exists", True), "result": False, "actual": None}


def _too_deep():
    rule = c("email", "exists", True)
    for _ in range(8):
        rule = {"not": rule}
    return rule


@pytest.mark.parametrize("rule, path", [
    ("all", "input.rule"),
    ({}, "input.rule"),
    ({"all": []}, "input.rule.all"),
    ({"any": {"field": "email"}}, "input.rule.any"),
    ({"all": [c("email", "exists", True), {"any": []}]}, "input.rule.all.1.any"),
    ({"all": [c("email", "exists", True)], "any": []}, "input.rule.any"),
    ({"all": [c("email", "exists", True), c("nope", "eq", 1)]}, "input.rule.all.1.field"),
    ({"not": {"all": [3]}}, "input.rule.not.all.0"),
    (c("attributes.bad key", "eq", 1), "input.rule.field"),
    (c("consents.FAX", "eq", True), "input.rule.field"),
    (c("metrics.nope", "eq", 1), "input.rule.field"),
    ({"field": "email", "op": "eq"}, "input.rule.value"),
    ({**c("email", "eq", "a"), "extra": 1}, "input.rule.extra"),
    (c("email", "gt", "a"), "input.rule.op"),
    (c("email", "like", "a"), "input.rule.op"),
    (c("orders.count", "exists", True), "input.rule.op"),
    (c("createdAt", "contains", "2026"), "input.rule.op"),
    (c("consents.EMAIL", "exists", True), "input.rule.op"),
    (c("email", "eq", 3), "input.rule.value"),
    (c("lifecycleStage", "eq", "GOLD"), "input.rule.value"),
    (c("lifecycleStage", "in", ["LEAD", "GOLD"]), "input.rule.value.1"),
    (c("orders.count", "gt", "3"), "input.rule.value"),
    (c("orders.sum", "gt", "1.00001"), "input.rule.value"),
    (c("orders.sum", "between", [5]), "input.rule.value"),
    (c("orders.sum", "between", [5, 1]), "input.rule.value"),
    (c("email", "in", []), "input.rule.value"),
    (c("createdAt", "gt", "2026-01-01T00:00:00"), "input.rule.value"),
    (c("createdAt", "within_last", "90 days"), "input.rule.value"),
    (c("birthday", "eq", "May 1st"), "input.rule.value"),
    (c("accountManagerId", "eq", "x"), "input.rule.value"),
    (c("consents.EMAIL", "eq", "yes"), "input.rule.value"),
    (c("email", "exists", "yes"), "input.rule.value"),
    (c("attributes.age", "gt", True), "input.rule.value"),
    (c("attributes.age", "in", [1, "1"]), "input.rule.value"),
    (c("attributes.vip", "between", [False, True]), "input.rule.value"),
    (c("attributes.age", "eq", None), "input.rule.value"),
    (c("email", "contains", ""), "input.rule.value"),
    (c("orders.count", "gt", 1, within="P"), "input.rule.within"),
    (c("email", "eq", "a", within="P1D"), "input.rule.within"),
    (c("surveys.lastNps", "gt", 1, where={"channel": "WEB"}), "input.rule.where"),
    (c("orders.count", "gt", 1, where={"stage": "x"}), "input.rule.where.stage"),
    (c("orders.count", "gt", 1, where={"channel": "FAX"}), "input.rule.where.channel"),
    (c("interactions.count", "gt", 1, where={"painPoint": []}), "input.rule.where.painPoint"),
    (c("interactions.count", "gt", 1, where={}), "input.rule.where"),
    (_too_deep(), "input.rule" + ".not" * 8),
])
def test_validation_names_the_first_bad_node(rule, path, app):
    with pytest.raises(Invalid) as caught:
        validate(rule)
    assert (caught.value.code, caught.value.field) == ("INVALID", path)
    with pytest.raises(Invalid):
        compile_rule(rule, now=NOW)


def test_validation_accepts_the_deepest_rule_and_custom_paths(app):
    rule = c("email", "exists", True)
    for _ in range(7):
        rule = {"not": rule}
    validate(rule)
    with pytest.raises(Invalid) as caught:
        validate({"any": [c("email", "eq", 1)]}, path="input.tiers.0.rule")
    assert caught.value.field == "input.tiers.0.rule.any.0.value"
