"""Loyalty points for orders: earning rules, tiers (upgrade at once, downgrade at review after a grace
period), refunds and cancellations, merges, and the statement count of a nested loyalty page."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from crm import clock
from crm.api.ids import global_id
from crm.outbox import OutboxEntry
from loyalty import ledger, services
from loyalty.models import LedgerEntry, LoyaltyAccount, TierChange
from tests.helpers import RECENTLY, create_customer, iso, raw_id

LOYALTY = "balance lifetimeEarned qualifyingPoints tier { key } nextTier { key } pointsToNextTier"

ORDER = """mutation($input: OrderRecordInput!) { orderRecord(input: $input) {
  order { id externalId pointsEarned status }
  customer { id serviceTier metrics { totalSpent orderCount } loyalty { %s } }
  errors { field code message } } }""" % LOYALTY

CUSTOMER_LOYALTY = """query($id: ID!) { customer(id: $id) { loyalty { %s
  expiringSoon { points expiresAt }
  entries(first: 50) { totalCount edges { node { kind points balanceAfter reason qualifyingPoints expiresAt
    order { externalId pointsEarned status } } } }
  redemptions(first: 10) { totalCount edges { node { points reward { name } } } } } } }""" % LOYALTY

POINTS = """mutation($input: Points%sInput!) { points%s(input: $input) {
  entry { kind points expiresAt } account { balance qualifyingPoints tier { key } } errors { field code message } } }"""

CLOSE = """mutation($id: ID!, $reason: String) { %s(orderId: $id, reason: $reason) {
  order { externalId status closeReason pointsEarned }
  customer { serviceTier metrics { totalSpent orderCount } loyalty { balance qualifyingPoints tier { key } } }
  pointsReversed pointsNotReversed errors { field code } } }"""
REFUND, CANCEL = CLOSE % "orderRefund", CLOSE % "orderCancel"
# Refusals select no points figures: OrderClosePayload.pointsReversed/pointsNotReversed are Int! but a refused
# call answers null for them (see test_a_refused_refund_still_answers_its_points_figures).
CLOSE_REFUSED = """mutation($id: ID!) { %s(orderId: $id) { order { status } errors { field code } } }"""

MERGE = """mutation($p: ID!, $d: ID!) { customerMerge(primaryId: $p, duplicateId: $d) {
  customer { id } errors { field code message } } }"""

REWARD_CREATE = """mutation($input: RewardCreateInput!) { rewardCreate(input: $input) {
  reward { id name cost } errors { field code message } } }"""
REWARD_REDEEM = """mutation($c: ID!, $r: ID!, $k: String!) {
  rewardRedeem(customerId: $c, rewardId: $r, idempotencyKey: $k) {
  redemption { points reward { name } } account { balance } errors { field code message } } }"""

RECORD_EVENT = "tests.jobs_for_tests.record_event"


# ---------------------------------------------------------------- helpers

def order(api, customer_id: str, external_id: str, amount: str = "123.45", currency: str = "EUR",
          channel: str = "WEB", occurred_at: str | None = None, as_: str = "admin") -> dict:
    variables = {"input": {"customerId": customer_id, "externalId": external_id, "amount": amount,
                           "currency": currency, "channel": channel, "occurredAt": occurred_at or iso(RECENTLY),
                           "items": [{"sku": "SKU-1", "qty": 1}]}}
    payload = api.data(ORDER, variables, as_=as_)["orderRecord"]
    assert payload["errors"] == [], payload["errors"]
    return payload


def points(api, kind: str, customer_id: str, amount: int, key: str, as_: str = "admin", **extra) -> dict:
    variables = {"input": {"customerId": customer_id, "points": amount, "reason": f"{kind.lower()} by hand",
                           "idempotencyKey": key, **extra}}
    payload = api.data(POINTS % (kind, kind), variables, as_=as_)[f"points{kind}"]
    assert payload["errors"] == [], payload["errors"]
    return payload


def loyalty_of(api, customer_id: str) -> dict:
    return api.data(CUSTOMER_LOYALTY, {"id": customer_id})["customer"]["loyalty"]


def entries_of(api, customer_id: str) -> list[dict]:
    """Entries oldest first."""
    return [e["node"] for e in reversed(loyalty_of(api, customer_id)["entries"]["edges"])]


def summary(loyalty: dict) -> dict:
    return {"balance": loyalty["balance"], "qualifying": loyalty["qualifyingPoints"], "tier": loyalty["tier"]["key"],
            "next": loyalty["nextTier"] and loyalty["nextTier"]["key"], "toNext": loyalty["pointsToNextTier"]}


def tier_changes(app, customer_id: str) -> list[tuple]:
    with app.extensions["crm.sessionmaker"]() as session:
        rows = session.scalars(select(TierChange).where(TierChange.customer_id == raw_id(customer_id))
                               .order_by(TierChange.at))
        return [(r.from_tier, r.to_tier, r.reason) for r in rows]


def account_row(app, customer_id: str) -> LoyaltyAccount:
    with app.extensions["crm.sessionmaker"]() as session:
        account = session.get(LoyaltyAccount, raw_id(customer_id))
        session.expunge(account)
        return account


def outbox_rows(app, func_path: str) -> list[OutboxEntry]:
    with app.extensions["crm.sessionmaker"]() as session:
        return list(session.scalars(select(OutboxEntry).where(OutboxEntry.func == func_path)
                                    .order_by(OutboxEntry.id)))



# ---------------------------------------------------------------- 1. earning

def test_first_order_earns_base_plus_first_order_bonus_and_the_second_base_only(api):
    customer = create_customer(api, email="ann@example.com")
    first = order(api, customer["id"], "o-1", amount="123.45")
    assert first["order"]["pointsEarned"] == 223
    assert summary(first["customer"]["loyalty"]) == {"balance": 223, "qualifying": 223, "tier": "member",
                                                     "next": "silver", "toNext": 777}
    second = order(api, customer["id"], "o-2", amount="123.45")
    assert second["order"]["pointsEarned"] == 123
    assert second["customer"]["loyalty"]["balance"] == 346
    assert second["customer"]["loyalty"]["lifetimeEarned"] == 346

    entries = entries_of(api, customer["id"])
    assert [(e["kind"], e["points"], e["balanceAfter"], e["qualifyingPoints"]) for e in entries] == [
        ("EARN", 223, 223, 223), ("EARN", 123, 346, 123)]
    assert [e["reason"] for e in entries] == [
        "order o-1: 123 base x1 (Member) + 100 first-order",
        "order o-2: 123 base x1 (Member)",
    ]
    # The entry links to its order, and the order's pointsEarned is the entry's points.
    assert [(e["order"]["externalId"], e["order"]["pointsEarned"], e["order"]["status"]) for e in entries] == [
        ("o-1", 223, "COMPLETED"), ("o-2", 123, "COMPLETED")]


def test_other_currencies_are_converted_before_the_points_are_floored(api):
    customer = create_customer(api, email="usd@example.com")
    order(api, customer["id"], "first", amount="1.00")  # takes the first-order bonus (1 + 100)
    # 108.69 USD x 0.92 = 99.9948 EUR: 99 points, not 100.
    usd = order(api, customer["id"], "usd-1", amount="108.69", currency="USD")
    assert usd["order"]["pointsEarned"] == 99
    # 10.87 USD x 0.92 = 10.0004 EUR: 10 points.
    assert order(api, customer["id"], "usd-2", amount="10.87", currency="USD")["order"]["pointsEarned"] == 10
    assert loyalty_of(api, customer["id"])["balance"] == 101 + 99 + 10
    assert entries_of(api, customer["id"])[1]["reason"] == "order usd-1: 99 base x1 (Member)"


def test_app_orders_add_ten_percent_of_base_floored(api):
    customer = create_customer(api, email="app@example.com")
    first = order(api, customer["id"], "a-1", amount="123.45", channel="APP")
    assert first["order"]["pointsEarned"] == 123 + 12 + 100
    second = order(api, customer["id"], "a-2", amount="19.99", channel="APP")
    assert second["order"]["pointsEarned"] == 19 + 1  # 10% of 19 is 1.9: floored to 1
    assert order(api, customer["id"], "a-3", amount="9.99", channel="APP")["order"]["pointsEarned"] == 9  # bonus 0
    assert [e["reason"] for e in entries_of(api, customer["id"])] == [
        "order a-1: 123 base x1 (Member) + 12 app-order + 100 first-order",
        "order a-2: 19 base x1 (Member) + 1 app-order",
        "order a-3: 9 base x1 (Member)",
    ]


def test_birthday_month_doubles_the_base_points(api, clock):
    clock.freeze("2026-07-02T12:00:00+00:00")   # the orders below are of the last few weeks
    customer = create_customer(api, email="bday@example.com", birthday="1990-06-15")
    june = order(api, customer["id"], "b-1", amount="123.45", occurred_at="2026-06-20T09:00:00+00:00")
    assert june["order"]["pointsEarned"] == 123 + 123 + 100
    july = order(api, customer["id"], "b-2", amount="123.45", occurred_at="2026-07-01T09:00:00+00:00")
    assert july["order"]["pointsEarned"] == 123
    june_app = order(api, customer["id"], "b-3", amount="50.00", channel="APP",
                     occurred_at="2026-06-30T23:00:00+00:00")
    assert june_app["order"]["pointsEarned"] == 50 + 5 + 50
    assert [e["reason"] for e in entries_of(api, customer["id"])] == [
        "order b-1: 123 base x1 (Member) + 123 birthday-month + 100 first-order",
        "order b-2: 123 base x1 (Member)",
        "order b-3: 50 base x1 (Member) + 5 app-order + 50 birthday-month",
    ]
    no_birthday = create_customer(api, email="nobday@example.com")
    assert order(api, no_birthday["id"], "n-1", amount="10.00",
                 occurred_at="2026-07-02T09:00:00+00:00")["order"]["pointsEarned"] == 110


def test_a_silver_customer_earns_one_and_a_quarter_times_base_floored(api):
    customer = create_customer(api, email="silver@example.com")
    first = order(api, customer["id"], "s-1", amount="900.00")  # 900 + 100 first-order = 1000 qualifying
    assert first["order"]["pointsEarned"] == 1000
    assert first["customer"]["loyalty"]["tier"] == {"key": "silver"}
    second = order(api, customer["id"], "s-2", amount="123.45")  # 123 x 1.25 = 153.75
    assert second["order"]["pointsEarned"] == 153
    third = order(api, customer["id"], "s-3", amount="10.00", channel="APP")  # 12.5 -> 12, + 1 app-order
    assert third["order"]["pointsEarned"] == 13
    assert [e["reason"] for e in entries_of(api, customer["id"])] == [
        "order s-1: 900 base x1 (Member) + 100 first-order",
        "order s-2: 123 base x1.25 (Silver)",
        "order s-3: 10 base x1.25 (Silver) + 1 app-order",
    ]
    assert loyalty_of(api, customer["id"])["balance"] == 1000 + 153 + 13


def test_recording_the_same_order_twice_earns_once(api):
    customer = create_customer(api, email="twice@example.com")
    first = order(api, customer["id"], "t-1", amount="123.45")
    again = order(api, customer["id"], "t-1", amount="123.45")
    assert again["order"] == first["order"]
    assert again["order"]["pointsEarned"] == 223
    assert again["customer"]["loyalty"]["balance"] == 223
    assert again["customer"]["metrics"]["orderCount"] == 1
    loyalty = loyalty_of(api, customer["id"])
    assert loyalty["entries"]["totalCount"] == 1
    assert loyalty["balance"] == 223


def test_bonus_rules_are_data_a_deactivated_rule_gives_nothing(api, ctx, clock):
    clock.freeze("2026-06-02T12:00:00+00:00")   # in the birthday month, the day after the orders
    june = "2026-06-01T12:00:00+00:00"
    ctx.execute(text("UPDATE loyalty_earning_rule SET active = :off WHERE key IN ('first-order', 'app-order')"),
                {"off": False})
    ctx.commit()
    customer = create_customer(api, email="rules@example.com", birthday="1980-06-02")
    assert order(api, customer["id"], "r-1", amount="123.45", channel="APP",
                 occurred_at=june)["order"]["pointsEarned"] == 123 + 123
    assert entries_of(api, customer["id"])[0]["reason"] == "order r-1: 123 base x1 (Member) + 123 birthday-month"

    # A rule's figures are data too: the app-order rule back on at 50%.
    ctx.execute(text("UPDATE loyalty_earning_rule SET active = :on, extra_rate = :rate WHERE key = 'app-order'"),
                {"on": True, "rate": 5000})  # Money is stored in 1/10,000 units
    ctx.commit()
    other = create_customer(api, email="rules2@example.com")
    assert order(api, other["id"], "r-2", amount="123.45", channel="APP",
                 occurred_at=june)["order"]["pointsEarned"] == 123 + 61


def test_tier_multipliers_are_data_and_named_plainly_in_the_reason(api, ctx):
    ctx.execute(text("UPDATE loyalty_tier SET earn_multiplier = :m WHERE key = 'member'"), {"m": 100000})  # x10
    ctx.commit()
    customer = create_customer(api, email="ten@example.com")
    assert order(api, customer["id"], "m-1", amount="12.34")["order"]["pointsEarned"] == 120 + 100
    assert entries_of(api, customer["id"])[0]["reason"] == "order m-1: 12 base x10 (Member) + 100 first-order"


def test_the_first_order_bonus_is_granted_once_per_customer(api):
    customer = create_customer(api, email="once@example.com")
    first = order(api, customer["id"], "f-1", amount="10.00")
    assert first["order"]["pointsEarned"] == 110
    refunded = api.data(REFUND, {"id": first["order"]["id"]})["orderRefund"]
    assert (refunded["pointsReversed"], refunded["customer"]["metrics"]["orderCount"]) == (110, 0)
    # The next order is the only completed one, but not the customer's first: no second bonus.
    assert order(api, customer["id"], "f-2", amount="10.00")["order"]["pointsEarned"] == 10
    cancelled = create_customer(api, email="once2@example.com")
    placed = order(api, cancelled["id"], "g-1", amount="10.00")
    api.data(CANCEL, {"id": placed["order"]["id"]})
    assert order(api, cancelled["id"], "g-2", amount="10.00")["order"]["pointsEarned"] == 10


def test_points_per_unit_is_a_setting(api, app):
    app.config["LOYALTY_POINTS_PER_UNIT"] = "2"
    customer = create_customer(api, email="rate@example.com")
    first = order(api, customer["id"], "p-1", amount="123.45")
    assert first["order"]["pointsEarned"] == 246 + 100
    second = order(api, customer["id"], "p-2", amount="123.45", channel="APP")
    assert second["order"]["pointsEarned"] == 246 + 24
    assert entries_of(api, customer["id"])[1]["reason"] == "order p-2: 246 base x1 (Member) + 24 app-order"


def test_integration_token_earns_points_for_the_orders_it_records(api):
    customer = create_customer(api, email="shop@example.com")
    payload = order(api, customer["id"], "i-1", amount="42.00", as_="integration")
    assert payload["order"]["pointsEarned"] == 142


# ---------------------------------------------------------------- 2. tiers

def test_reaching_a_tier_upgrades_at_once_records_the_change_and_emits_an_event(api, app, subscriptions):
    subscriptions("loyalty.tier_changed", RECORD_EVENT)
    customer = create_customer(api, email="climber@example.com")
    first = order(api, customer["id"], "c-1", amount="500.00")
    assert summary(first["customer"]["loyalty"]) == {"balance": 600, "qualifying": 600, "tier": "member",
                                                     "next": "silver", "toNext": 400}
    second = order(api, customer["id"], "c-2", amount="400.00")
    assert summary(second["customer"]["loyalty"]) == {"balance": 1000, "qualifying": 1000, "tier": "silver",
                                                      "next": "gold", "toNext": 4000}
    third = order(api, customer["id"], "c-3", amount="3200.00")  # 3200 x 1.25 = 4000
    assert third["order"]["pointsEarned"] == 4000
    assert summary(third["customer"]["loyalty"]) == {"balance": 5000, "qualifying": 5000, "tier": "gold",
                                                     "next": "platinum", "toNext": 10000}

    assert tier_changes(app, customer["id"]) == [
        ("member", "silver", "upgrade: 1000 qualifying points reach Silver"),
        ("silver", "gold", "upgrade: 5000 qualifying points reach Gold"),
    ]
    rows = outbox_rows(app, RECORD_EVENT)
    with app.extensions["crm.sessionmaker"]() as session:
        changes = session.scalars(select(TierChange).where(TierChange.customer_id == raw_id(customer["id"]))
                                  .order_by(TierChange.at)).all()
    assert [row.args for row in rows] == [
        [{"topic": "loyalty.tier_changed", "customerId": str(raw_id(customer["id"])), "changeId": str(changes[0].id),
          "fromTier": "member", "toTier": "silver", "reason": "upgrade: 1000 qualifying points reach Silver",
          "at": changes[0].at.isoformat()}],
        [{"topic": "loyalty.tier_changed", "customerId": str(raw_id(customer["id"])), "changeId": str(changes[1].id),
          "fromTier": "silver", "toTier": "gold", "reason": "upgrade: 5000 qualifying points reach Gold",
          "at": changes[1].at.isoformat()}],
    ]


def test_one_order_may_skip_tiers(api, app):
    customer = create_customer(api, email="jump@example.com")
    payload = order(api, customer["id"], "j-1", amount="15000.00")
    assert summary(payload["customer"]["loyalty"]) == {"balance": 15100, "qualifying": 15100, "tier": "platinum",
                                                       "next": None, "toNext": None}
    assert tier_changes(app, customer["id"]) == [
        ("member", "platinum", "upgrade: 15100 qualifying points reach Platinum")]


def test_points_adjust_does_not_count_towards_tiers(api, app):
    customer = create_customer(api, email="adjust@example.com")
    payload = points(api, "Adjust", customer["id"], 6000, "adj-1")
    assert payload["account"] == {"balance": 6000, "qualifyingPoints": 0, "tier": {"key": "member"}}
    assert summary(loyalty_of(api, customer["id"])) == {"balance": 6000, "qualifying": 0, "tier": "member",
                                                        "next": "silver", "toNext": 1000}
    assert tier_changes(app, customer["id"]) == []
    # pointsEarn (outside an order) does count.
    earned = points(api, "Earn", customer["id"], 1000, "earn-1")
    assert earned["account"] == {"balance": 7000, "qualifyingPoints": 1000, "tier": {"key": "silver"}}


def _make_gold(api, email: str) -> tuple[dict, datetime]:
    customer = create_customer(api, email=email)
    assert points(api, "Earn", customer["id"], 5000, "gold")["account"]["tier"] == {"key": "gold"}
    return customer, clock.now()


def test_downgrade_waits_for_the_grace_period_and_goes_one_tier_per_step(api, app, ctx):
    customer, t0 = _make_gold(api, "faller@example.com")
    day = timedelta(days=1)

    # Still within the window: nothing to do.
    assert services.review_tiers(ctx, now=t0 + 300 * day) == 0
    assert account_row(app, customer["id"]).below_tier_since is None

    # The 5000 points left the 365-day window: the grace starts, no downgrade yet.
    start = t0 + 400 * day
    assert services.review_tiers(ctx, now=start) == 0
    account = account_row(app, customer["id"])
    assert (account.tier_key, account.below_tier_since) == ("gold", start)
    assert services.review_tiers(ctx, now=start + 29 * day) == 0
    assert account_row(app, customer["id"]).tier_key == "gold"
    assert account_row(app, customer["id"]).below_tier_since == start  # a later review does not restart it

    # 30 days below gold: one step down, to silver (not straight to member).
    assert services.review_tiers(ctx, now=start + 30 * day) == 1
    account = account_row(app, customer["id"])
    assert (account.tier_key, account.below_tier_since) == ("silver", start + 30 * day)

    # Silver -> member needs another full grace period.
    assert services.review_tiers(ctx, now=start + 31 * day) == 0
    assert services.review_tiers(ctx, now=start + 59 * day) == 0
    assert account_row(app, customer["id"]).tier_key == "silver"
    assert services.review_tiers(ctx, now=start + 60 * day) == 1
    account = account_row(app, customer["id"])
    assert (account.tier_key, account.below_tier_since) == ("member", None)
    assert services.review_tiers(ctx, now=start + 200 * day) == 0  # the entry tier is the floor

    assert tier_changes(app, customer["id"]) == [
        ("member", "gold", "upgrade: 5000 qualifying points reach Gold"),
        ("gold", "silver", "downgrade after 30 days below Gold: 0 qualifying points"),
        ("silver", "member", "downgrade after 30 days below Silver: 0 qualifying points"),
    ]
    assert summary(loyalty_of(api, customer["id"]))["tier"] == "member"
    assert loyalty_of(api, customer["id"])["balance"] == 5000  # tiers never touch the balance


def test_downgrade_stops_at_the_tier_the_points_still_earn_and_grace_resets_on_recovery(api, app, ctx):
    customer, t0 = _make_gold(api, "partial@example.com")
    day = timedelta(days=1)
    cid = raw_id(customer["id"])
    services.earn_points(ctx, customer_id=cid, points=1500, reason="review", idempotency_key="later",
                         now=t0 + 200 * day)

    # At day 400 only the 1500 points of day 200 count: silver is earned, gold is not.
    assert services.review_tiers(ctx, now=t0 + 400 * day) == 0
    assert services.review_tiers(ctx, now=t0 + 430 * day) == 1
    account = account_row(app, customer["id"])
    assert (account.tier_key, account.below_tier_since) == ("silver", None)  # the points still earn silver
    assert services.review_tiers(ctx, now=t0 + 500 * day) == 0

    # Day 566: the 1500 leave the window too; the grace starts again; recovering within it cancels it.
    assert services.review_tiers(ctx, now=t0 + 566 * day) == 0
    assert account_row(app, customer["id"]).below_tier_since == t0 + 566 * day
    services.earn_points(ctx, customer_id=cid, points=1000, reason="back", idempotency_key="back",
                         now=t0 + 580 * day)
    assert account_row(app, customer["id"]).below_tier_since is None  # reaching the tier again ends the grace
    assert services.review_tiers(ctx, now=t0 + 600 * day) == 0
    assert account_row(app, customer["id"]).tier_key == "silver"
    assert [c[:2] for c in tier_changes(app, customer["id"])] == [("member", "gold"), ("gold", "silver")]
    assert tier_changes(app, customer["id"])[1][2] == "downgrade after 30 days below Gold: 1500 qualifying points"


def test_downgrades_and_upgrades_both_emit_tier_changed(api, app, ctx, subscriptions):
    subscriptions("loyalty.tier_changed", RECORD_EVENT)
    customer, t0 = _make_gold(api, "reviewed@example.com")
    day = timedelta(days=1)
    services.review_tiers(ctx, now=t0 + 400 * day)
    assert services.review_tiers(ctx, now=t0 + 430 * day) == 1
    assert [row.args[0]["toTier"] for row in outbox_rows(app, RECORD_EVENT)] == ["gold", "silver"]
    # Earning back to gold upgrades at once, and says so too.
    services.earn_points(ctx, customer_id=raw_id(customer["id"]), points=5000, reason="bulk", idempotency_key="b",
                         now=t0 + 440 * day)
    assert account_row(app, customer["id"]).tier_key == "gold"  # earning upgrades at once
    assert [row.args[0]["toTier"] for row in outbox_rows(app, RECORD_EVENT)] == ["gold", "silver", "gold"]


def test_review_tiers_command(api, runner):
    customer, _ = _make_gold(api, "cli@example.com")
    result = runner.invoke(args=["loyalty", "review-tiers"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "0 tier changes"
    assert summary(loyalty_of(api, customer["id"]))["tier"] == "gold"


# ---------------------------------------------------------------- 3. refunds and cancellations

def test_refund_takes_back_the_points_and_leaves_the_metrics(api, app, runner):
    customer = create_customer(api, email="refund@example.com")
    order(api, customer["id"], "o-1", amount="123.45")
    big = order(api, customer["id"], "o-2", amount="2000.00")
    assert big["order"]["pointsEarned"] == 2000
    assert big["customer"]["serviceTier"] == "PREFERRED"
    assert summary(big["customer"]["loyalty"])["tier"] == "silver"

    payload = api.data(REFUND, {"id": big["order"]["id"], "reason": "damaged"})["orderRefund"]
    assert payload == {
        "order": {"externalId": "o-2", "status": "REFUNDED", "closeReason": "damaged", "pointsEarned": 2000},
        "customer": {"serviceTier": "STANDARD", "metrics": {"totalSpent": "123.45", "orderCount": 1},
                     "loyalty": {"balance": 223, "qualifyingPoints": 223, "tier": {"key": "silver"}}},
        "pointsReversed": 2000, "pointsNotReversed": 0, "errors": [],
    }
    reversal = entries_of(api, customer["id"])[-1]
    assert reversal == {"kind": "REVERSAL", "points": -2000, "balanceAfter": 223, "reason": "order o-2 refunded",
                        "qualifyingPoints": -2000, "expiresAt": None,
                        "order": {"externalId": "o-2", "pointsEarned": 2000, "status": "REFUNDED"}}
    # The loyalty tier is kept until the review (downgrades only there, after the grace period).
    assert tier_changes(app, customer["id"]) == [("member", "silver",
                                                  "upgrade: 2223 qualifying points reach Silver")]
    result = runner.invoke(args=["loyalty", "verify"])
    assert result.exit_code == 0, result.output


def test_refund_after_the_points_were_spent_reverses_what_is_left(api, app, ctx):
    customer = create_customer(api, email="spent@example.com")
    placed = order(api, customer["id"], "o-1", amount="1000.00")
    assert placed["order"]["pointsEarned"] == 1100
    points(api, "Redeem", customer["id"], 1000, "spend")

    payload = api.data(REFUND, {"id": placed["order"]["id"]})["orderRefund"]
    assert (payload["pointsReversed"], payload["pointsNotReversed"], payload["errors"]) == (100, 1000, [])
    # The balance never goes negative; all of the order's qualifying points go, reversed or not.
    assert payload["customer"]["loyalty"] == {"balance": 0, "qualifyingPoints": 0, "tier": {"key": "silver"}}
    assert payload["customer"]["metrics"] == {"totalSpent": "0.00", "orderCount": 0}
    kinds = [(e["kind"], e["points"], e["qualifyingPoints"]) for e in entries_of(api, customer["id"])]
    assert kinds == [("EARN", 1100, 1100), ("REDEEM", -1000, 0), ("REVERSAL", -100, -1100)]

    again = api.data(REFUND, {"id": placed["order"]["id"]})["orderRefund"]
    assert again == payload
    assert loyalty_of(api, customer["id"])["entries"]["totalCount"] == 3

    # With no qualifying points left, the review takes silver away after the grace period.
    now = clock.now()
    assert services.review_tiers(ctx, now=now) == 0
    assert services.review_tiers(ctx, now=now + timedelta(days=30)) == 1
    assert account_row(app, customer["id"]).tier_key == "member"


def test_refund_when_nothing_is_left_reverses_nothing_but_still_removes_qualifying(api):
    customer = create_customer(api, email="empty@example.com")
    placed = order(api, customer["id"], "o-1", amount="950.00")  # 1050 points, silver
    points(api, "Redeem", customer["id"], 1050, "all")
    payload = api.data(REFUND, {"id": placed["order"]["id"]})["orderRefund"]
    assert (payload["pointsReversed"], payload["pointsNotReversed"]) == (0, 1050)
    assert payload["customer"]["loyalty"] == {"balance": 0, "qualifyingPoints": 0, "tier": {"key": "silver"}}
    # The order's points earned later do not make a repeated refund take more.
    order(api, customer["id"], "o-2", amount="10.00")
    again = api.data(REFUND, {"id": placed["order"]["id"]})["orderRefund"]
    assert (again["pointsReversed"], again["pointsNotReversed"]) == (0, 1050)
    assert loyalty_of(api, customer["id"])["balance"] == 12  # 10 x 1.25 floored


def test_cancel_and_refund_exclude_each_other(api):
    customer = create_customer(api, email="cancel@example.com")
    refunded = order(api, customer["id"], "o-1", amount="10.00")
    cancelled = order(api, customer["id"], "o-2", amount="20.00")

    assert api.data(REFUND, {"id": refunded["order"]["id"]})["orderRefund"]["pointsReversed"] == 110
    refused = api.data(CLOSE_REFUSED % "orderCancel", {"id": refunded["order"]["id"]})["orderCancel"]
    assert refused == {"order": None, "errors": [{"field": "status", "code": "INVALID_TRANSITION"}]}

    payload = api.data(CANCEL, {"id": cancelled["order"]["id"], "reason": "out of stock"})["orderCancel"]
    assert (payload["order"]["status"], payload["order"]["closeReason"]) == ("CANCELLED", "out of stock")
    assert (payload["pointsReversed"], payload["pointsNotReversed"]) == (20, 0)
    assert entries_of(api, customer["id"])[-1]["reason"] == "order o-2 cancelled"
    refused = api.data(CLOSE_REFUSED % "orderRefund", {"id": cancelled["order"]["id"]})["orderRefund"]
    assert refused == {"order": None, "errors": [{"field": "status", "code": "INVALID_TRANSITION"}]}

    loyalty = loyalty_of(api, customer["id"])
    assert (loyalty["balance"], loyalty["qualifyingPoints"], loyalty["entries"]["totalCount"]) == (0, 0, 4)
    statuses = {e["node"]["order"]["externalId"]: e["node"]["order"]["status"] for e in loyalty["entries"]["edges"]}
    assert statuses == {"o-1": "REFUNDED", "o-2": "CANCELLED"}


def test_refunding_an_order_older_than_the_window_leaves_todays_qualifying_points(api, ctx):
    customer = create_customer(api, email="old@example.com")
    old = order(api, customer["id"], "old-1", amount="900.00")  # 1000 points
    # Its points were earned 400 days ago (entries are written at the time of recording: move it back).
    long_ago = clock.now() - timedelta(days=400)
    ctx.execute(update(LedgerEntry).where(LedgerEntry.order_id == raw_id(old["order"]["id"]))
                .values(occurred_at=long_ago, qualifies_at=long_ago))
    ctx.commit()
    points(api, "Earn", customer["id"], 5000, "recent")
    assert loyalty_of(api, customer["id"])["qualifyingPoints"] == 5000
    payload = api.data(REFUND, {"id": old["order"]["id"]})["orderRefund"]
    assert (payload["pointsReversed"], payload["pointsNotReversed"]) == (1000, 0)
    assert payload["customer"]["loyalty"] == {"balance": 5000, "qualifyingPoints": 5000, "tier": {"key": "gold"}}
    # The reversal cancels the order's 1000 from the date they were earned: outside the window, like them.
    assert entries_of(api, customer["id"])[-1]["qualifyingPoints"] == -1000
    now = clock.now()
    assert services.review_tiers(ctx, now=now) == 0
    assert services.review_tiers(ctx, now=now + timedelta(days=30)) == 0
    assert account_row(api.client.application, customer["id"]).tier_key == "gold"


def test_refund_of_an_unknown_order_is_not_found(api):
    payload = api.data(CLOSE_REFUSED % "orderRefund", {"id": global_id("Order", uuid.uuid4())})["orderRefund"]
    assert payload == {"order": None, "errors": [{"field": "orderId", "code": "NOT_FOUND"}]}
    customer = create_customer(api, email="wrong-kind@example.com")
    payload = api.data(CLOSE_REFUSED % "orderCancel", {"id": customer["id"]})["orderCancel"]
    assert payload == {"order": None, "errors": [{"field": "orderId", "code": "INVALID"}]}


def test_a_refused_refund_still_answers_its_points_figures(api):
    body = api(REFUND, {"id": global_id("Order", uuid.uuid4())})
    assert "errors" not in body, body["errors"]
    assert body["data"]["orderRefund"]["errors"] == [{"field": "orderId", "code": "NOT_FOUND"}]
    figures = api.data("""mutation($id: ID!) { orderRefund(orderId: $id) { pointsReversed pointsNotReversed
      errors { code } } }""", {"id": global_id("Order", uuid.uuid4())})["orderRefund"]
    assert figures == {"pointsReversed": 0, "pointsNotReversed": 0, "errors": [{"code": "NOT_FOUND"}]}


@pytest.mark.parametrize("role", ["marketer", "support_agent"])
def test_only_staff_who_record_orders_may_refund(api, role):
    customer = create_customer(api, email="guarded@example.com")
    placed = order(api, customer["id"], "o-1", amount="10.00")
    for name in ("orderRefund", "orderCancel"):
        payload = api.data(CLOSE_REFUSED % name, {"id": placed["order"]["id"]}, as_=role)[name]
        assert payload == {"order": None, "errors": [{"field": None, "code": "FORBIDDEN"}]}
    assert loyalty_of(api, customer["id"])["balance"] == 110


def test_integration_may_refund(api):
    customer = create_customer(api, email="shop-refund@example.com")
    placed = order(api, customer["id"], "o-1", amount="10.00", as_="integration")
    payload = api.data(REFUND, {"id": placed["order"]["id"]}, as_="integration")["orderRefund"]
    assert (payload["order"]["status"], payload["pointsReversed"], payload["errors"]) == ("REFUNDED", 110, [])


# ---------------------------------------------------------------- 4. merge

def test_merge_moves_points_with_their_expiry_qualifying_points_and_redemptions(api, app, runner):
    primary = create_customer(api, email="primary@example.com")
    duplicate = create_customer(api, email="duplicate@example.com")
    order(api, primary["id"], "p-1", amount="100.00")  # 200 points, expiring in a year
    soon = (clock.now() + timedelta(days=10)).replace(microsecond=0)
    points(api, "Earn", duplicate["id"], 300, "promo", expiresAt=soon.isoformat())
    order(api, duplicate["id"], "d-1", amount="50.00")  # 150 points
    reward = api.data(REWARD_CREATE, {"input": {"name": "Mug", "cost": 100}})["rewardCreate"]
    assert reward["errors"] == []
    redeemed = api.data(REWARD_REDEEM, {"c": duplicate["id"], "r": reward["reward"]["id"], "k": "mug"})["rewardRedeem"]
    assert redeemed["errors"] == [] and redeemed["account"] == {"balance": 350}
    # The mug took 100 of the soonest-expiring lot: 200 of it are left.
    assert loyalty_of(api, duplicate["id"])["expiringSoon"] == [{"points": 200, "expiresAt": soon.isoformat()}]

    assert api.data(MERGE, {"p": primary["id"], "d": duplicate["id"]})["customerMerge"]["errors"] == []
    merged = loyalty_of(api, primary["id"])
    assert summary(merged) == {"balance": 550, "qualifying": 650, "tier": "member", "next": "silver", "toNext": 350}
    assert merged["lifetimeEarned"] == 200 + 300 + 150  # what both ever earned, the spent 100 included
    assert merged["expiringSoon"] == [{"points": 200, "expiresAt": soon.isoformat()}]
    assert merged["redemptions"] == {"totalCount": 1, "edges": [{"node": {"points": 100, "reward": {"name": "Mug"}}}]}
    adjustments = [e["node"] for e in reversed(merged["entries"]["edges"]) if e["node"]["kind"] == "ADJUST"]
    moved_in = [e for e in adjustments if e["points"]]
    assert sorted((e["points"], e["expiresAt"] == soon.isoformat()) for e in moved_in) == [(150, False), (200, True)]
    assert {e["reason"] for e in moved_in} == {f"merged from customer {raw_id(duplicate['id'])}"}
    # Tier qualification moves entry by entry, each keeping the date it was earned.
    carried = [e for e in adjustments if not e["points"]]
    assert sum(e["qualifyingPoints"] for e in carried) == 300 + 150  # the promo and the order
    assert {e["reason"] for e in carried} == {f"merged from customer {raw_id(duplicate['id'])}: tier qualification"}

    result = runner.invoke(args=["loyalty", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "every loyalty account equals the sum of its entries"


def test_merge_carries_qualifying_points_into_an_upgrade(api, app):
    primary = create_customer(api, email="p2@example.com")
    duplicate = create_customer(api, email="d2@example.com")
    order(api, primary["id"], "p-1", amount="500.00")  # 600
    order(api, duplicate["id"], "d-1", amount="400.00")  # 500
    api.data(MERGE, {"p": primary["id"], "d": duplicate["id"]})
    assert summary(loyalty_of(api, primary["id"])) == {"balance": 1100, "qualifying": 1100, "tier": "silver",
                                                       "next": "gold", "toNext": 3900}
    assert tier_changes(app, primary["id"]) == [("member", "silver", "upgrade: 1100 qualifying points reach Silver")]


def test_refund_of_a_merged_duplicates_order_takes_the_points_from_the_primary(api, ctx, runner):
    primary = create_customer(api, email="p3@example.com")
    duplicate = create_customer(api, email="d3@example.com")
    own = order(api, primary["id"], "p-1", amount="100.00")  # 200
    dup_order = order(api, duplicate["id"], "d-1", amount="50.00")  # 150
    api.data(MERGE, {"p": primary["id"], "d": duplicate["id"]})

    payload = api.data(REFUND, {"id": dup_order["order"]["id"]})["orderRefund"]
    assert payload["errors"] == []
    assert (payload["pointsReversed"], payload["pointsNotReversed"]) == (150, 0)
    assert payload["customer"]["loyalty"] == {"balance": 200, "qualifyingPoints": 200, "tier": {"key": "member"}}
    assert payload["customer"]["metrics"] == {"totalSpent": "100.00", "orderCount": 1}
    # The reversal consumed the lot the merge moved the order's points to, not the primary's own one.
    assert [(lot.entry.idempotency_key, lot.remaining) for lot in ledger.open_lots(ctx, raw_id(primary["id"]))] == [
        (f"order:{raw_id(own['order']['id'])}", 200)]
    again = api.data(REFUND, {"id": dup_order["order"]["id"]})["orderRefund"]
    assert (again["pointsReversed"], again["pointsNotReversed"], again["errors"]) == (150, 0, [])
    assert loyalty_of(api, primary["id"])["balance"] == 200
    assert runner.invoke(args=["loyalty", "verify"]).exit_code == 0


# ---------------------------------------------------------------- 5. statement count

LOYALTY_PAGE = """query($first: Int!) { customers(first: $first) { edges { node { id
  loyalty { balance qualifyingPoints tier { key } nextTier { key } pointsToNextTier expiringSoon { points }
    entries(first: 5) { totalCount edges { node { kind points order { externalId } } } }
    redemptions(first: 2) { totalCount } } } } } }"""


def test_loyalty_page_statement_count_is_independent_of_page_size(api, count_statements):
    reward = api.data(REWARD_CREATE, {"input": {"name": "Cap", "cost": 10}})["rewardCreate"]["reward"]
    soon = (clock.now() + timedelta(days=5)).isoformat()
    for index in range(55):
        customer = create_customer(api, email=f"l{index}@example.com")
        if index % 4 == 3:
            continue  # some customers never earned: no account row
        order(api, customer["id"], f"o-{index}", amount=str(20 + index))
        if index % 2 == 0:
            points(api, "Earn", customer["id"], 50, f"e-{index}", expiresAt=soon)
        if index % 3 == 0:
            api.data(REWARD_REDEEM, {"c": customer["id"], "r": reward["id"], "k": f"r-{index}"})

    counts = {}
    for first in (10, 50):
        with count_statements() as statements:
            data = api.data(LOYALTY_PAGE, {"first": first})
        edges = data["customers"]["edges"]
        assert len(edges) == first
        assert any(e["node"]["loyalty"]["expiringSoon"] for e in edges)
        assert any(e["node"]["loyalty"]["redemptions"]["totalCount"] for e in edges)
        assert any(n["node"]["order"] for e in edges for n in e["node"]["loyalty"]["entries"]["edges"])
        assert any(e["node"]["loyalty"]["entries"]["totalCount"] == 0 for e in edges)
        counts[first] = len(statements)
    # token lookup, customers page, accounts, qualifying points, tiers, expiring soon, entries page,
    # entry counts, entries' orders, redemptions page, redemption counts
    assert counts == {10: 11, 50: 11}
