"""The example operations in graphql/operations: valid against the schema, and they work."""
from __future__ import annotations

from pathlib import Path

import pytest
from graphql import OperationDefinitionNode, parse, validate

from crm.api.validation import validation_rules
from tests.helpers import ahead, create_customer, raw_id, record_order

OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations"
FILES = sorted(OPERATIONS.glob("*.graphql"))


def operation(name: str) -> str:
    return (OPERATIONS / f"{name}.graphql").read_text()


def pascal(stem: str) -> str:
    return "".join(part.capitalize() for part in stem.split("_"))


def test_the_example_operations_exist():
    assert {f.stem for f in FILES} >= {
        "customer_profile", "customer_list", "customer_transition_stage", "order_record", "customer_update",
        "customer_set_consent", "customer_merge", "interaction_record", "customer_timeline", "case_open",
        "case_resolve", "journey_map", "service_metrics"}


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_operation_is_valid_against_the_schema(app, path):
    document = parse(path.read_text())
    schema = app.extensions["crm.schema"].graphql_schema
    assert validate(schema, document) == []
    # The server's own limits (depth, aliases) accept it too.
    assert validate(schema, document, validation_rules(app.config)) == []
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1, "one operation per file"
    assert operations[0].name is not None and operations[0].name.value == pascal(path.stem)


def post(client, token: str, name: str, variables: dict | None = None) -> dict:
    response = client.post("/graphql", json={"query": operation(name), "variables": variables or {}},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def test_profile_operation_with_a_portal_token(api, client, tokens, portal_token):
    customer = create_customer(api, email="ines.moreau@example.org", firstName="Inès", lastName="Moreau",
                               phone="+33 6 12 34 56 78", timezone="Europe/Paris", locale="fr-FR",
                               attributes={"source": "web", "interests": ["hiking"]})
    for n in range(6):
        record_order(api, customer["id"], f"web-{n}", amount="49.90",
                     occurred_at=f"2026-0{n + 1}-10T10:00:00+01:00")
    consent = {"customerId": customer["id"], "channel": "EMAIL", "granted": True, "source": "signup"}
    assert post(client, tokens["admin"], "customer_set_consent", consent)["customerSetConsent"]["errors"] == []

    data = post(client, portal_token(raw_id(customer["id"])), "customer_profile")

    assert data["viewer"]["role"] == "PORTAL"
    me = data["viewer"]["customer"]
    assert me["id"] == customer["id"]
    assert (me["displayName"], me["email"], me["phone"]) == ("Inès Moreau", "ines.moreau@example.org", "+33612345678")
    assert me["attributes"] == {"source": "web", "interests": ["hiking"]}
    assert me["consents"] == [{"channel": "EMAIL", "granted": True, "source": "signup",
                               "updatedAt": me["consents"][0]["updatedAt"]}]
    assert me["lifecycleStage"] == "DEVELOPING"
    assert me["metrics"]["orderCount"] == 6 and me["metrics"]["totalSpent"] == "299.40"
    assert isinstance(me["loyalty"]["balance"], int) and me["loyalty"]["tier"]["name"]
    orders = me["orders"]
    assert orders["totalCount"] == 6 and orders["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["externalId"] for e in orders["edges"]] == ["web-5", "web-4", "web-3", "web-2", "web-1"]
    assert orders["edges"][0]["node"]["amount"] == "49.90"


def test_list_operation_pages_with_an_admin_token(api, client, tokens):
    spent = {"ann@example.com": "300.00", "bob@example.com": "100.00", "cy@example.com": "200.00"}
    for email, amount in spent.items():
        customer = create_customer(api, email=email)
        record_order(api, customer["id"], f"o-{email}", amount=amount)
    create_customer(api, email="lead@example.com")  # no orders: LEAD, filtered out below

    variables = {"first": 2, "filter": {"lifecycleStages": ["NEW"]},
                 "orderBy": {"field": "TOTAL_SPENT", "direction": "DESC"}}
    first = post(client, tokens["admin"], "customer_list", variables)["customers"]
    assert first["totalCount"] == 3
    assert [e["node"]["email"] for e in first["edges"]] == ["ann@example.com", "cy@example.com"]
    assert first["pageInfo"]["hasNextPage"] is True
    node = first["edges"][0]["node"]
    assert node["lifecycleStage"] == "NEW" and node["serviceTier"] == "STANDARD"
    assert node["metrics"]["totalSpent"] == "300.00" and node["metrics"]["baseCurrency"] == "EUR"

    rest = post(client, tokens["admin"], "customer_list",
                {**variables, "after": first["pageInfo"]["endCursor"]})["customers"]
    assert [e["node"]["email"] for e in rest["edges"]] == ["bob@example.com"]
    assert rest["pageInfo"]["hasNextPage"] is False


def test_mutation_operations_work(api, client, tokens):
    admin = tokens["admin"]
    primary = create_customer(api, email="ann@example.com", firstName="Ann")
    duplicate = create_customer(api, phone="+44 20 7946 0958", firstName="Ann")

    recorded = post(client, admin, "order_record", {"input": {
        "customerId": duplicate["id"], "externalId": "web-1", "amount": "129.90", "currency": "GBP", "channel": "WEB",
        "occurredAt": "2026-03-01T14:05:00+01:00", "items": [{"sku": "HK-JKT-03", "qty": 1}]}})["orderRecord"]
    assert recorded["errors"] == [] and recorded["order"]["amount"] == "129.90"
    assert recorded["customer"]["lifecycleStage"] == "NEW"

    updated = post(client, admin, "customer_update",
                   {"id": primary["id"], "input": {"locale": "en_gb", "attributes": {"vip": True}}})["customerUpdate"]
    assert updated["errors"] == []
    assert (updated["customer"]["locale"], updated["customer"]["attributes"]) == ("en-GB", {"vip": True})

    consent = post(client, admin, "customer_set_consent",
                   {"customerId": primary["id"], "channel": "SMS", "granted": False})["customerSetConsent"]
    assert consent["errors"] == [] and consent["customer"]["consents"][0]["granted"] is False

    refused = post(client, admin, "customer_transition_stage",
                   {"customerId": primary["id"], "toStage": "LOYAL"})["customerTransitionStage"]
    assert refused["customer"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("toStage", "INVALID_TRANSITION")]
    moved = post(client, admin, "customer_transition_stage",
                 {"customerId": primary["id"], "toStage": "PROSPECT", "reason": "asked for a quote"})
    history = moved["customerTransitionStage"]["customer"]["lifecycleHistory"]
    assert [(h["fromStage"], h["toStage"]) for h in history] == [(None, "LEAD"), ("LEAD", "PROSPECT")]

    merged = post(client, admin, "customer_merge",
                  {"primaryId": primary["id"], "duplicateId": duplicate["id"]})["customerMerge"]
    assert merged["errors"] == []
    assert merged["customer"]["phone"] == "+442079460958" and merged["customer"]["metrics"]["orderCount"] == 1


def test_interaction_operations_record_and_show_on_the_portal_timeline(api, client, tokens, portal_token):
    customer = create_customer(api, email="ines.moreau@example.org")
    created = api.data("""mutation { touchpointCreate(input: {key: "app.setup", name: "App setup", channel: APP,
        stage: "onboarding", journeyMap: "purchase"}) { errors { code } } }""")
    assert created["touchpointCreate"]["errors"] == []
    row = {"customerId": customer["id"], "touchpointKey": "app.setup", "occurredAt": "2026-06-01T10:00:00+02:00",
           "emotion": -1, "painPoints": ["Confusing setup"], "externalId": "app-1"}
    recorded = post(client, tokens["integration"], "interaction_record", {"input": row})["interactionRecord"]
    assert recorded["errors"] == []
    assert (recorded["interaction"]["stage"], recorded["interaction"]["painPoints"]) == (
        "onboarding", ["confusing-setup"])
    me = post(client, portal_token(raw_id(customer["id"])), "customer_timeline", {"id": customer["id"]})["customer"]
    assert me["metrics"]["lastInteractionAt"] == "2026-06-01T08:00:00+00:00"
    assert [(e["node"]["touchpoint"]["key"], e["node"]["emotion"]) for e in me["interactions"]["edges"]] == [
        ("app.setup", -1)]
    assert me["cases"] == {"totalCount": 0, "edges": []}


def test_segment_operations_work(api, client, tokens):
    ann = create_customer(api, email="ann@example.com", firstName="Ann")
    create_customer(api, email="bob@example.com", firstName="Bob")
    record_order(api, ann["id"], "o-1", amount="600.00", occurred_at="2026-11-01T10:00:00+00:00")
    post(client, tokens["admin"], "customer_set_consent", {"customerId": ann["id"], "channel": "EMAIL", "granted": True})
    rule = {"all": [{"field": "consents.EMAIL", "op": "eq", "value": True},
                    {"any": [{"field": "orders.sum", "op": "gte", "value": "500"},
                             {"field": "lifecycleStage", "op": "in", "value": ["LOYAL", "ADVOCATE"]}]}]}

    preview = post(client, tokens["marketer"], "segment_preview", {"rule": rule, "sampleSize": 5})["segmentPreview"]
    assert preview["count"] == 1 and [c["displayName"] for c in preview["sample"]] == ["Ann"]

    created = post(client, tokens["marketer"], "segment_create", {"input": {
        "name": "Engaged big spenders", "kind": "DYNAMIC", "rule": rule}})["segmentCreate"]
    assert created["errors"] == [] and created["segment"]["memberCount"] == 1

    segment = post(client, tokens["account_manager"], "segment_members", {"id": created["segment"]["id"],
                                                                          "first": 20})["node"]
    assert [e["node"]["displayName"] for e in segment["members"]["edges"]] == ["Ann"]
    assert [(e["node"]["change"], e["node"]["reason"]) for e in segment["history"]["edges"]] == [
        ("JOINED", "rule: segment created")]


def test_message_and_care_operations_work(api, app, client, tokens, portal_token):
    from crm.queue import work_once
    from tests.messages.test_messages import DAY_ZONE
    ann = create_customer(api, email="ann@example.com", firstName="Ann", timezone=DAY_ZONE)
    post(client, tokens["admin"], "customer_set_consent", {"customerId": ann["id"], "channel": "SMS", "granted": True})
    refused = post(client, tokens["account_manager"], "message_send", {"input": {
        "customerId": ann["id"], "channel": "EMAIL", "purpose": "CARE", "body": "Hi"}})["messageSend"]
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("input.channel", "CONSENT_MISSING")]
    post(client, tokens["admin"], "customer_set_consent", {"customerId": ann["id"], "channel": "EMAIL", "granted": True})
    sent = post(client, tokens["account_manager"], "message_send", {"input": {
        "customerId": ann["id"], "channel": "EMAIL", "purpose": "TRANSACTIONAL", "body": "x"}})["messageSend"]
    assert [e["code"] for e in sent["errors"]] == ["FORBIDDEN"]
    sent = post(client, tokens["account_manager"], "message_send", {"input": {
        "customerId": ann["id"], "channel": "EMAIL", "purpose": "FOLLOW_UP", "subject": "Your repair",
        "body": "Hi {{ customer.firstName }}, it is ready.", "dedupeKey": "repair-1"}})["messageSend"]
    assert sent["errors"] == [] and sent["message"]["body"] == "Hi Ann, it is ready."
    work_once(app)

    tokens["portal"] = portal_token(raw_id(ann["id"]))
    own = post(client, tokens["portal"], "customer_messages", {"id": ann["id"], "first": 10})["customer"]
    manual = [e["node"] for e in own["messages"]["edges"] if e["node"]["trigger"] == "manual"]
    assert [(m["subject"], m["status"], m["attempts"]) for m in manual] == [("Your repair", "SENT", 1)]

    rules = post(client, tokens["support_agent"], "care_rules", {})["careRules"]
    assert [r["key"] for r in rules][:3] == ["welcome", "post-purchase", "case-follow-up"]
    changed = post(client, tokens["account_manager"], "care_rule_update", {
        "key": "post-purchase", "input": {"delaySeconds": 0}})["careRuleUpdate"]
    assert changed["errors"] == [] and changed["careRule"]["delaySeconds"] == 0


def test_campaign_operations_work(api, client, tokens):
    from tests.helpers import consenting_customer
    ann = consenting_customer(api, email="ann@example.com", firstName="Ann", timezone="Asia/Tokyo")
    day = ahead(days=30).date()   # 09:00 in Tokyo is 00:00 UTC that day
    created = post(client, tokens["marketer"], "campaign_create", {"input": {
        "name": "Spring", "schedule": {"kind": "ONCE", "localDate": day.isoformat(), "localTime": "09:00"},
        "steps": [{"key": "hello", "type": "SEND", "content": [{"channel": "EMAIL", "template": "Hi"}]}]}})
    campaign = created["campaignCreate"]["campaign"]
    assert created["campaignCreate"]["errors"] == [] and campaign["status"] == "DRAFT"
    preview = post(client, tokens["marketer"], "campaign_preview", {"id": campaign["id"], "sampleSize": 3})
    assert preview["campaignPreview"]["sample"] == [{"customer": {"id": ann["id"], "displayName": "Ann"},
                                                     "channel": "EMAIL", "timezone": "Asia/Tokyo", "locale": None,
                                                     "sendAt": f"{day.isoformat()}T00:00:00+00:00"}]
    assert post(client, tokens["marketer"], "campaign_schedule", {"id": campaign["id"]})[
        "campaignSchedule"]["campaign"]["status"] == "RUNNING"
    assert post(client, tokens["marketer"], "campaign_pause", {"id": campaign["id"]})[
        "campaignPause"]["campaign"]["status"] == "PAUSED"
    results = post(client, tokens["account_manager"], "campaign_results", {"id": campaign["id"]})["campaign"]
    assert results["results"]["entered"] == 0 and results["results"]["steps"][0]["key"] == "hello"
