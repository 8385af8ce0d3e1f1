"""Orders: idempotency, money, metrics, RFM, and the automatic stage and tier rules."""
import threading

import pytest

from tests.helpers import RECORD_ORDER, ago, create_customer, raw_id, record_order

HISTORY = "query($id: ID!) { customer(id: $id) { lifecycleStage serviceTier lifecycleHistory { fromStage toStage actor } } }"


def iso(days_ago: float) -> str:
    return ago(days=days_ago).isoformat()


def test_same_order_twice_is_recorded_once(api):
    customer = create_customer(api, email="o@example.com")
    first = record_order(api, customer["id"], "ord-1", amount="19.99")
    again = record_order(api, customer["id"], "ord-1", amount="19.99")
    assert again["errors"] == []
    assert again["order"]["id"] == first["order"]["id"]
    assert again["customer"]["metrics"]["orderCount"] == 1
    assert again["customer"]["metrics"]["totalSpent"] == "19.99"


def test_same_key_different_payload_is_a_mismatch_and_changes_nothing(api):
    customer = create_customer(api, email="o@example.com")
    record_order(api, customer["id"], "ord-1", amount="19.99")
    payload = api.data(RECORD_ORDER, {"input": {"customerId": customer["id"], "externalId": "ord-1", "amount": "20.00",
                                                "currency": "EUR", "channel": "WEB",
                                                "occurredAt": "2026-06-01T12:00:00+00:00"}})["orderRecord"]
    assert payload["order"] is None
    assert payload["errors"] == [{"field": "externalId", "code": "IDEMPOTENCY_MISMATCH",
                                  "message": "An order with this externalId was already recorded with different details."}]
    metrics = api.data("query($id: ID!) { customer(id: $id) { metrics { orderCount totalSpent } } }",
                       {"id": customer["id"]})["customer"]["metrics"]
    assert metrics == {"orderCount": 1, "totalSpent": "19.99"}


def test_money_is_exact_and_converted_to_the_base_currency(api):
    customer = create_customer(api, email="m@example.com")
    for index in range(10):
        record_order(api, customer["id"], f"cents-{index}", amount="0.10")
    usd = record_order(api, customer["id"], "usd-1", amount="100.00", currency="usd")
    assert usd["order"]["currency"] == "USD"
    assert usd["order"]["amountInBaseCurrency"] == "92.00"
    assert usd["customer"]["metrics"]["totalSpent"] == "93.00"
    assert usd["customer"]["metrics"]["averageOrderValue"] == "8.45"


def test_currency_without_a_rate_is_refused(api):
    customer = create_customer(api, email="m@example.com")
    payload = api.data(RECORD_ORDER, {"input": {"customerId": customer["id"], "externalId": "x", "amount": "5",
                                                "currency": "XYZ", "channel": "WEB",
                                                "occurredAt": "2026-06-01T12:00:00Z"}})["orderRecord"]
    assert payload["order"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("currency", "INVALID")]
    assert "No exchange rate is configured for XYZ" in payload["errors"][0]["message"]


@pytest.mark.parametrize("field,value", [("amount", "-1"), ("amount", "1.00001"), ("currency", "EURO"),
                                         ("externalId", "  ")])
def test_invalid_order_input_is_named(api, field, value):
    customer = create_customer(api, email="m@example.com")
    order = {"customerId": customer["id"], "externalId": "x", "amount": "5", "currency": "EUR", "channel": "WEB",
             "occurredAt": "2026-06-01T12:00:00Z", field: value}
    payload = api.data(RECORD_ORDER, {"input": order})["orderRecord"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "INVALID")]


def test_order_for_unknown_customer_is_not_found(api):
    unknown = "Q3VzdG9tZXI6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"
    payload = api.data(RECORD_ORDER, {"input": {"customerId": unknown, "externalId": "x", "amount": "5",
                                                "currency": "EUR", "channel": "WEB",
                                                "occurredAt": "2026-06-01T12:00:00Z"}})["orderRecord"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("customerId", "NOT_FOUND")]


def test_stage_rules_first_repeat_and_loyal(api):
    customer = create_customer(api, email="r@example.com", lifecycleStage="PROSPECT")
    assert record_order(api, customer["id"], "a", occurred_at=iso(800))["customer"]["lifecycleStage"] == "NEW"
    assert record_order(api, customer["id"], "b", occurred_at=iso(300))["customer"]["lifecycleStage"] == "NEW"
    assert record_order(api, customer["id"], "c", occurred_at=iso(200))["customer"]["lifecycleStage"] == "NEW"
    # Third order within 365 days (b, c, d).
    assert record_order(api, customer["id"], "d", occurred_at=iso(100))["customer"]["lifecycleStage"] == "DEVELOPING"
    record_order(api, customer["id"], "e", occurred_at=iso(50))
    # Sixth order, first order more than 365 days before it.
    assert record_order(api, customer["id"], "f", occurred_at=iso(10))["customer"]["lifecycleStage"] == "LOYAL"
    history = api.data(HISTORY, {"id": customer["id"]})["customer"]["lifecycleHistory"]
    assert history == [
        {"fromStage": None, "toStage": "PROSPECT", "actor": "admin@example.com"},
        {"fromStage": "PROSPECT", "toStage": "NEW", "actor": "rule:first-order"},
        {"fromStage": "NEW", "toStage": "DEVELOPING", "actor": "rule:repeat-orders"},
        {"fromStage": "DEVELOPING", "toStage": "LOYAL", "actor": "rule:long-term-orders"},
    ]


def test_stage_rules_are_configurable(api, app):
    app.config["STAGE_DEVELOPING_ORDERS"] = 2
    customer = create_customer(api, email="r@example.com")
    record_order(api, customer["id"], "a", occurred_at=iso(20))
    assert record_order(api, customer["id"], "b", occurred_at=iso(10))["customer"]["lifecycleStage"] == "DEVELOPING"
    app.config["STAGE_RULES_ENABLED"] = False
    other = create_customer(api, email="off@example.com")
    assert record_order(api, other["id"], "c", occurred_at=iso(5))["customer"]["lifecycleStage"] == "LEAD"


def test_order_from_churned_returns_the_customer_to_the_stage_metrics_earn(api):
    customer = create_customer(api, email="w@example.com", lifecycleStage="CHURNED")
    for key, days in (("a", 90), ("b", 60)):
        record_order(api, customer["id"], key, occurred_at=iso(days))
    # CHURNED -> NEW on the first order; the rules then follow the history as it grows.
    assert api.data(HISTORY, {"id": customer["id"]})["customer"]["lifecycleStage"] == "NEW"
    api.data("""mutation($id: ID!) { customerTransitionStage(customerId: $id, toStage: CHURNED) { errors { code } } }""",
             {"id": customer["id"]})
    result = record_order(api, customer["id"], "c", occurred_at=iso(1))
    assert result["customer"]["lifecycleStage"] == "DEVELOPING"
    actors = [h["actor"] for h in api.data(HISTORY, {"id": customer["id"]})["customer"]["lifecycleHistory"]][-2:]
    assert actors == ["rule:win-back-order", "rule:repeat-orders"]


def test_order_from_at_risk_moves_straight_to_the_earned_stage(api):
    customer = create_customer(api, email="w@example.com", lifecycleStage="AT_RISK")
    result = record_order(api, customer["id"], "a", occurred_at=iso(1))
    assert result["customer"]["lifecycleStage"] == "NEW"
    history = api.data(HISTORY, {"id": customer["id"]})["customer"]["lifecycleHistory"]
    assert history[-1] == {"fromStage": "AT_RISK", "toStage": "NEW", "actor": "rule:win-back-order"}


def test_service_tier_follows_lifetime_spend_but_never_overrides_a_pin(api):
    customer = create_customer(api, email="vip@example.com")
    assert record_order(api, customer["id"], "a", amount="1999.99")["customer"]["serviceTier"] == "STANDARD"
    assert record_order(api, customer["id"], "b", amount="0.01")["customer"]["serviceTier"] == "PREFERRED"
    assert record_order(api, customer["id"], "c", amount="8000.00")["customer"]["serviceTier"] == "VIP"
    pinned = create_customer(api, email="pinned@example.com")
    api.data("""mutation($id: ID!) { customerSetServiceTier(customerId: $id, tier: STANDARD) { errors { code } } }""",
             {"id": pinned["id"]})
    assert record_order(api, pinned["id"], "d", amount="50000")["customer"]["serviceTier"] == "STANDARD"
    unpin = api.data("""mutation($id: ID!) { customerSetServiceTier(customerId: $id, tier: null) {
      customer { serviceTier serviceTierPinned } } }""", {"id": pinned["id"]})
    assert unpin["customerSetServiceTier"]["customer"] == {"serviceTier": "VIP", "serviceTierPinned": False}


def test_rfm_scores_rank_customers_into_quintiles(api, runner):
    ids = []
    for index in range(5):
        customer = create_customer(api, externalId=f"rfm-{index}")
        ids.append(customer["id"])
        for n in range(index + 1):
            record_order(api, customer["id"], f"rfm-{index}-{n}", amount=str(10 * (index + 1)),
                         occurred_at=iso(100 - 10 * index + n))
    result = runner.invoke(args=["customers", "refresh-rfm"])
    assert result.exit_code == 0, result.output
    assert "RFM scores refreshed for 5 customers" in result.output
    scores = [api.data("query($id: ID!) { customer(id: $id) { metrics { recencyScore frequencyScore monetaryScore } } }",
                       {"id": cid})["customer"]["metrics"] for cid in ids]
    assert scores == [{"recencyScore": q, "frequencyScore": q, "monetaryScore": q} for q in (1, 2, 3, 4, 5)]


def test_concurrent_replays_of_one_order_record_it_once(api, app):
    customer = create_customer(api, email="race@example.com")
    results, barrier = [], threading.Barrier(6)

    def post():
        client = app.test_client()
        barrier.wait()
        body = client.post("/graphql", headers={"Authorization": f"Bearer {api.tokens['integration']}"},
                           json={"query": RECORD_ORDER, "variables": {"input": {
                               "customerId": customer["id"], "externalId": "race-1", "amount": "10.00",
                               "currency": "EUR", "channel": "APP", "occurredAt": "2026-06-01T12:00:00Z"}}})
        results.append(body.get_json())

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    order_ids = {r["data"]["orderRecord"]["order"]["id"] for r in results}
    assert len(order_ids) == 1
    metrics = api.data("query($id: ID!) { customer(id: $id) { metrics { orderCount totalSpent } } }",
                       {"id": customer["id"]})["customer"]["metrics"]
    assert metrics == {"orderCount": 1, "totalSpent": "10.00"}
    assert raw_id(order_ids.pop())


def test_rfm_refresh_stores_whole_quintiles_for_a_larger_base(api, runner):
    ids = []
    for index in range(12):
        customer = create_customer(api, externalId=f"q-{index}")
        ids.append(customer["id"])
        record_order(api, customer["id"], f"q-{index}", amount=str(index + 1), occurred_at=iso(30 - index))
    assert runner.invoke(args=["customers", "refresh-rfm"]).exit_code == 0
    monetary = [api.data("query($id: ID!) { customer(id: $id) { metrics { monetaryScore } } }",
                         {"id": cid})["customer"]["metrics"]["monetaryScore"] for cid in ids]
    # 1 + 5 * below // 12 for below = 0..11
    assert monetary == [1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5]


def test_scoring_one_customer_after_a_refresh_agrees_with_the_refresh(api, runner, app):
    from crm.customers import rfm
    from crm.customers.models import Customer
    for index in range(23):
        customer = create_customer(api, externalId=f"k-{index}")
        for n in range(1 + index % 4):
            record_order(api, customer["id"], f"k-{index}-{n}", amount=str(7 * ((index * 5) % 17) + n),
                         occurred_at=iso(200 - 3 * index - n))
    assert runner.invoke(args=["customers", "refresh-rfm"]).exit_code == 0
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        for customer in session.query(Customer).all():
            stored = (customer.recency_score, customer.frequency_score, customer.monetary_score)
            rfm.score_customer(session, customer)  # cut points: no scan of the base
            assert (customer.recency_score, customer.frequency_score, customer.monetary_score) == stored
        session.rollback()
    # A new best customer is scored 5 at once, against the stored cut points.
    newcomer = create_customer(api, externalId="k-new")
    result = record_order(api, newcomer["id"], "k-new-1", amount="5000", occurred_at=iso(0.01))
    assert (result["customer"]["metrics"]["monetaryScore"], result["customer"]["metrics"]["recencyScore"]) == (5, 5)
