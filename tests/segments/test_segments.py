"""Segment services: every kind of event re-evaluates, the periodic refresh writes only differences,
merges move memberships, tiers follow rules (never a pinned one), and the customer scores."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm.customers.merge import merge_customers
from crm.customers.models import Customer
from crm.customers.orders import record_order
from crm.customers.scores import refresh_all as refresh_scores
from crm.customers.services import create_customer, set_consent, set_service_tier, transition_stage, update_customer
from crm.db import utcnow
from crm.enums import Channel, LifecycleStage, ServiceTier
from crm.errors import DomainError
from crm.queue import work_once
from crm.segments import services, tiers
from crm.segments.models import SegmentKind, SegmentMembership, SegmentMembershipChange
from journeys.service.cases import open_case
from journeys.interactions.services import InteractionRow, record_interaction
from journeys.service.models import CaseKind, SurveyKind
from journeys.service.surveys import submit_response
from journeys.maps.services import create_touchpoint
from loyalty.services import earn_points

NOW = utcnow()


def run_jobs(app, session) -> None:
    session.commit()  # end the test session's transaction: on SQLite it holds the write lock
    work_once(app)
    work_once(app)


def person(ctx, email, **data):
    return create_customer(ctx, data={"email": email, **data}, actor="test").id


def order(ctx, customer_id, key, amount, days_ago=1):
    return record_order(ctx, customer_id=customer_id, actor=None, data={
        "externalId": key, "amount": amount, "currency": "EUR", "channel": "WEB",
        "occurredAt": (NOW - timedelta(days=days_ago)).isoformat(), "items": []}).order


def dynamic(ctx, name, rule):
    return services.create_segment(ctx, name=name, kind=SegmentKind.DYNAMIC, rule=rule, actor="test")


def member_ids(ctx, segment) -> set:
    return set(ctx.scalars(select(SegmentMembership.customer_id).where(SegmentMembership.segment_id == segment.id)))


def history(ctx, segment) -> list[tuple]:
    rows = ctx.scalars(select(SegmentMembershipChange).where(SegmentMembershipChange.segment_id == segment.id)
                       .order_by(SegmentMembershipChange.at, SegmentMembershipChange.change))
    return [(r.customer_id, r.change.value, r.reason) for r in rows]


def test_each_kind_of_event_re_evaluates_the_customer(app, ctx):
    ann = person(ctx, "ann@example.com")
    run_jobs(app, ctx)
    tp = create_touchpoint(ctx, key="support-chat", name="Support chat", channel=Channel.CHAT,
                           journey_map="after-sales", stage="diagnosis")
    cases = [
        ("profile", {"field": "locale", "op": "eq", "value": "de-DE"},
         lambda: update_customer(ctx, customer_id=ann, data={"locale": "de-DE"}, actor="test"),
         "customer.updated"),
        ("consent", {"field": "consents.SMS", "op": "eq", "value": True},
         lambda: set_consent(ctx, customer_id=ann, channel=Channel.SMS, granted=True, source=None, actor=None),
         "customer.consent_changed"),
        ("stage", {"field": "lifecycleStage", "op": "eq", "value": "PROSPECT"},
         lambda: transition_stage(ctx, customer_id=ann, to_stage=LifecycleStage.PROSPECT, reason=None, actor=None),
         "customer.stage_changed"),
        ("interaction", {"field": "interactions.count", "op": "gte", "value": 1, "where": {"painPoint": "slow reply"}},
         lambda: record_interaction(ctx, InteractionRow(customer_id=ann, touchpoint_key=tp.key, occurred_at=NOW,
                                                        external_id="i-1", pain_points=["Slow reply"], emotion=-2)),
         "interaction.recorded"),
        # A passive answer: a detractor's would also open a recovery case (care), muddling the next row.
        ("survey", {"field": "surveys.lastNps", "op": "lte", "value": 7},
         lambda: submit_response(ctx, customer_id=ann, kind=SurveyKind.NPS, score=7), "survey.submitted"),
        ("case", {"field": "cases.open", "op": "gte", "value": 1},
         lambda: open_case(ctx, customer_id=ann, kind=CaseKind.COMPLAINT, channel=Channel.PHONE, subject="Late",
                           description="The parcel is late.", actor="test"), "case.opened"),
        ("points", {"field": "loyalty.balance", "op": "gte", "value": 50},
         lambda: earn_points(ctx, customer_id=ann, points=50, reason="review", idempotency_key="rev-1"),
         "loyalty.points_changed"),
        ("tier", {"field": "serviceTier", "op": "eq", "value": "VIP"},
         lambda: set_service_tier(ctx, customer_id=ann, tier=ServiceTier.VIP, reason=None, actor="test"),
         "customer.tier_changed"),
    ]
    for name, rule, change, topic in cases:
        segment = dynamic(ctx, name, rule)
        assert member_ids(ctx, segment) == set(), name
        change()
        run_jobs(app, ctx)
        assert member_ids(ctx, segment) == {ann}, name
        assert history(ctx, segment) == [(ann, "JOINED", f"rule: {topic}")], name


def test_the_periodic_refresh_catches_time_and_writes_only_differences(app, ctx):
    ann, bob, cat = person(ctx, "ann@example.com"), person(ctx, "bob@example.com"), person(ctx, "cat@example.com")
    order(ctx, ann, "a", "10", days_ago=20)
    order(ctx, bob, "b", "10", days_ago=40)
    recent = dynamic(ctx, "Bought in 30 days", {"field": "metrics.lastOrderAt", "op": "within_last", "value": "P30D"})
    assert member_ids(ctx, recent) == {ann}
    assert services.refresh_all(ctx, now=NOW) == {"Bought in 30 days": (0, 0)}
    assert services.refresh_all(ctx, now=NOW + timedelta(days=15)) == {"Bought in 30 days": (0, 1)}
    order(ctx, cat, "c", "10", days_ago=0)  # no worker run: only the refresh takes cat in
    assert services.refresh_all(ctx, now=NOW + timedelta(days=15)) == {"Bought in 30 days": (1, 0)}
    assert member_ids(ctx, recent) == {cat}
    assert history(ctx, recent) == [(ann, "JOINED", "rule: segment created"), (cat, "JOINED", "rule: periodic refresh"),
                                    (ann, "LEFT", "rule: periodic refresh")]  # the last two share one "now"
    ctx.refresh(recent)
    assert recent.member_count == 1


def test_joins_and_leaves_emit_events_in_the_same_transaction(app, ctx, subscriptions):
    subscriptions("segment.joined", "tests.jobs_for_tests.record_event")
    subscriptions("segment.left", "tests.jobs_for_tests.record_event")
    from crm.outbox import OutboxEntry
    ann = person(ctx, "ann@example.com", attributes={"country": "DE"})
    run_jobs(app, ctx)
    segment = dynamic(ctx, "Germans", {"field": "country", "op": "eq", "value": "DE"})
    update_customer(ctx, customer_id=ann, data={"attributes": {"country": "AT"}}, actor="test")
    run_jobs(app, ctx)
    payloads = [e.args[0] for e in ctx.scalars(select(OutboxEntry).where(
        OutboxEntry.func == "tests.jobs_for_tests.record_event").order_by(OutboxEntry.id))]
    from datetime import datetime
    times = [datetime.fromisoformat(p.pop("at")) for p in payloads]   # when they joined / left
    assert times[0] <= times[1] and times[0].tzinfo is not None
    assert payloads == [
        {"topic": "segment.joined", "segmentId": str(segment.id), "customerIds": [str(ann)],
         "reason": "rule: segment created"},
        {"topic": "segment.left", "segmentId": str(segment.id), "customerIds": [str(ann)],
         "reason": "rule: customer.updated"}]


def test_a_merge_moves_static_memberships_and_drops_the_duplicates(app, ctx):
    ann, dup = person(ctx, "ann@example.com"), person(ctx, "ann.other@example.com")
    run_jobs(app, ctx)
    key = services.create_segment(ctx, name="Key accounts", kind=SegmentKind.STATIC, actor="test")
    services.add_customers(ctx, segment_id=key.id, customer_ids=[dup], actor="test")
    everyone = dynamic(ctx, "Everyone", {"field": "email", "op": "contains", "value": "@"})
    assert member_ids(ctx, everyone) == {ann, dup}
    merge_customers(ctx, primary_id=ann, duplicate_id=dup, actor="test")
    run_jobs(app, ctx)  # the customer.merged job moves memberships once the merge has committed
    run_jobs(app, ctx)  # running it again moves nothing
    assert member_ids(ctx, key) == {ann} and member_ids(ctx, everyone) == {ann}
    assert history(ctx, key) == [(dup, "JOINED", "added by hand"), (ann, "JOINED", f"merged from {dup}"),
                                 (dup, "LEFT", f"merged into {ann}")]
    assert history(ctx, everyone)[-1] == (dup, "LEFT", f"merged into {ann}")
    ctx.refresh(key)
    ctx.refresh(everyone)
    assert (key.member_count, everyone.member_count) == (1, 1)


def test_tiers_follow_their_rules_and_never_override_a_pinned_tier(app, ctx):
    ann, bob, cat = person(ctx, "ann@example.com"), person(ctx, "bob@example.com"), person(ctx, "cat@example.com")
    order(ctx, ann, "a", "2500")
    assert ctx.get(Customer, ann).service_tier == ServiceTier.PREFERRED  # the default spend rule
    key = services.create_segment(ctx, name="Key accounts", kind=SegmentKind.STATIC, actor="test")
    set_service_tier(ctx, customer_id=cat, tier=ServiceTier.STANDARD, reason="by hand", actor="test")  # pinned
    result = tiers.set_rule(ctx, tier=ServiceTier.VIP, config=app.config, actor="admin@example.com", rule={
        "any": [{"field": "segment", "op": "eq", "value": str(key.id)},
                {"field": "metrics.lifetimeValue", "op": "gte", "value": "10000"}]})
    assert result == {"changed": 0}
    services.add_customers(ctx, segment_id=key.id, customer_ids=[bob, cat], actor="test")
    run_jobs(app, ctx)
    # bob by the segment; ann by her predicted lifetime value (2,500 within a month is a 30,000 a year pace).
    tiers_now = {cid: ctx.get(Customer, cid).service_tier for cid in (ann, bob, cat)}
    assert tiers_now == {ann: ServiceTier.VIP, bob: ServiceTier.VIP, cat: ServiceTier.STANDARD}
    assert ctx.get(Customer, ann).lifetime_value > 10000
    with pytest.raises(DomainError) as refused:
        services.delete_segment(ctx, segment_id=key.id, actor="test")
    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "INVALID", "id", "Rules still read this segment: the VIP tier rule.")
    with pytest.raises(DomainError) as refused:
        tiers.set_rule(ctx, tier=ServiceTier.VIP, config=app.config, actor=None,
                       rule={"all": [{"field": "metrics.lifetimeValue", "op": "gte", "value": True}]})
    assert (refused.value.code, refused.value.field) == ("INVALID", "input.rule.all.0.value")
    with pytest.raises(DomainError) as refused:
        tiers.set_rule(ctx, tier=ServiceTier.STANDARD, config=app.config, actor=None, rule=None)
    assert (refused.value.code, refused.value.field) == ("INVALID", "tier")
    # Back to the default rule: at once ann is PREFERRED by spend, bob STANDARD, and the pinned cat stays.
    assert tiers.set_rule(ctx, tier=ServiceTier.VIP, rule=None, config=app.config, actor=None) == {"changed": 2}
    assert {cid: ctx.get(Customer, cid).service_tier for cid in (ann, bob, cat)} == {
        ann: ServiceTier.PREFERRED, bob: ServiceTier.STANDARD, cat: ServiceTier.STANDARD}
    # A tier rule and a segment reading each other would re-evaluate each other forever: refused both ways.
    not_vip = dynamic(ctx, "Not VIP", {"field": "serviceTier", "op": "neq", "value": "VIP"})
    with pytest.raises(DomainError) as refused:
        tiers.set_rule(ctx, tier=ServiceTier.VIP, config=app.config, actor=None,
                       rule={"field": "segment", "op": "eq", "value": str(not_vip.id)})
    assert (refused.value.code, refused.value.field) == ("INVALID", "input.rule")
    tiers.set_rule(ctx, tier=ServiceTier.VIP, config=app.config, actor=None,
                   rule={"field": "segment", "op": "eq", "value": str(key.id)})
    with pytest.raises(DomainError) as refused:
        services.update_segment(ctx, segment_id=key.id, name="Key accounts", kind=SegmentKind.DYNAMIC, actor=None,
                                rule={"field": "serviceTier", "op": "eq", "value": "PREFERRED"})
    assert (refused.value.code, refused.value.message) == (
        "INVALID", "A service tier rule reads this segment, so its rule cannot read serviceTier.")


def test_lifetime_value_and_churn_risk_are_exact_and_explained(app, ctx):
    ann = person(ctx, "ann@example.com")
    # 3 orders, 300 in all: 2 in the last 365 days, none in the last 90, 3 in the 365 days before those 90.
    for key, days in (("a1", 400), ("a2", 200), ("a3", 100)):
        order(ctx, ann, key, "100", days_ago=days)
    run_jobs(app, ctx)
    customer = ctx.get(Customer, ann)
    ctx.refresh(customer)
    last_activity_days = 100
    factors = {"recency": round(last_activity_days / 365, 4), "frequency": round(1 - 2 / 4, 4),
               "trend": 1.0, "negative": 0.0}
    assert customer.churn_risk_factors == pytest.approx(factors, abs=1e-4)
    risk = round(0.4 * factors["recency"] + 0.2 * factors["frequency"] + 0.2 * factors["trend"], 4)
    assert customer.churn_risk == pytest.approx(risk, abs=1e-4)
    predicted = Decimal(100) * Decimal(3 / 400 * 365 * (1 - customer.churn_risk))
    assert customer.lifetime_value == (Decimal(300) + predicted).quantize(Decimal("0.01"))
    # The periodic refresh writes only what changed: a later "now" moves recency, once.
    assert refresh_scores(ctx, app.config, now=NOW + timedelta(days=100)) == 1
    assert refresh_scores(ctx, app.config, now=NOW + timedelta(days=100)) == 0
    ctx.refresh(customer)
    assert customer.churn_risk_factors["recency"] == pytest.approx(200 / 365, abs=1e-3)


def test_a_customer_without_orders_has_zero_value_and_negative_signals_raise_risk(app, ctx):
    ann = person(ctx, "ann@example.com")
    submit_response(ctx, customer_id=ann, kind=SurveyKind.NPS, score=2)
    submit_response(ctx, customer_id=ann, kind=SurveyKind.CSAT, score=1)
    run_jobs(app, ctx)
    customer = ctx.get(Customer, ann)
    ctx.refresh(customer)
    assert customer.lifetime_value == Decimal("0.00")
    assert customer.churn_risk_factors == {"recency": 0.0, "frequency": 1.0, "trend": 0.0, "negative": 1.0}
    assert customer.churn_risk == 0.4


def test_import_adds_customers_to_a_static_segment_once_and_lists_unknown_lines(app, ctx, runner, tmp_path):
    ann, bob = person(ctx, "ann@example.com"), person(ctx, "bob@example.com", externalId="shop-2")
    key = services.create_segment(ctx, name="Key accounts", kind=SegmentKind.STATIC, actor="test")
    ctx.commit()
    file = tmp_path / "members.csv"
    file.write_text("email,name\nANN@example.com,Ann\nnobody@example.com,No one\nbob@example.com,Bob\n")
    result = runner.invoke(args=["segments", "import", "key accounts", str(file)])
    assert result.exit_code == 1
    assert result.output == ("line 3: no customer has email 'nobody@example.com'\n"
                             "2 added, 1 unknown; Key accounts has 2 members\n")
    by_external = tmp_path / "again.csv"
    by_external.write_text("externalId\nshop-2\n")
    again = runner.invoke(args=["segments", "import", "Key accounts", str(by_external)])
    assert (again.exit_code, again.output) == (0, "0 added, 0 unknown; Key accounts has 2 members\n")
    assert member_ids(ctx, key) == {ann, bob}
    assert [(r[1], r[2]) for r in history(ctx, key)] == [("JOINED", "imported from members.csv")] * 2
    bad = tmp_path / "bad.csv"
    bad.write_text("phone\n+441234\n")
    assert runner.invoke(args=["segments", "import", "Key accounts", str(bad)]).exit_code == 2
    listed = runner.invoke(args=["segments", "list"])
    assert listed.output.split()[:5] == ["Key", "accounts", "STATIC", "2", "members"]
