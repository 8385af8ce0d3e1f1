"""Robustness of input values (issue 14): out-of-range instants, non-finite and huge numbers, malformed ids and
cursors, over-long text and JSON lists are INVALID errors that name the field (payload errors in mutations,
``extensions.code`` and ``field`` elsewhere) and change nothing; none is an INTERNAL error."""
from __future__ import annotations

import base64
import json
import uuid

import pytest

from crm.api.ids import global_id
from tests.helpers import RECORD_ORDER, create_customer, record_order

NOT_FINITE = "Numbers in JSON must be finite (not NaN, Infinity or 1e999) and have at most 4300 digits."
OUT_OF_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


def outside(value: str) -> str:
    return f"{value!r} is outside the years 1 to 9999 in UTC."


def query_error(body: dict) -> tuple:
    """(message, extensions) of a query's only error."""
    assert len(body["errors"]) == 1, body["errors"]
    return body["errors"][0]["message"], body["errors"][0]["extensions"]


def payload_errors(payload: dict) -> list[tuple]:
    return [(e["field"], e["code"], e["message"]) for e in payload["errors"]]


@pytest.fixture
def ann(api):
    return create_customer(api, email="ann@example.com")


def order_input(ann, **values) -> dict:
    """orderRecord's input: Ann's order o-1 of 5 EUR on the web at noon on 2026-06-01, but for ``values``."""
    return {"customerId": ann["id"], "externalId": "o-1", "amount": "5", "currency": "EUR", "channel": "WEB",
            "occurredAt": "2026-06-01T12:00:00Z", **values}


def order_errors(api, order: dict) -> list[tuple]:
    return payload_errors(api.data(RECORD_ORDER, {"input": order})["orderRecord"])


def order_count(api, customer_id: str) -> int:
    query = "query($id: ID!) { customer(id: $id) { metrics { orderCount } } }"
    return api.data(query, {"id": customer_id})["customer"]["metrics"]["orderCount"]


# --- Finding 3: an order's line items are a list, not a page ---------------------------------------------

ENTRIES = """query($id: ID!) { customer(id: $id) { loyalty { entries(first: 10) { edges { node {
  kind order { externalId items customer { id } } } } } } } }"""


@pytest.mark.parametrize("role", ["admin", "account_manager", "support_agent", "marketer"])
def test_loyalty_entries_resolve_the_customer_of_an_order_with_line_items(api, ann, role):
    record_order(api, ann["id"], "web-1", items=[{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}])
    edges = api.data(ENTRIES, {"id": ann["id"]}, as_=role)["customer"]["loyalty"]["entries"]["edges"]
    assert [e["node"] for e in edges] == [{"kind": "EARN", "order": {
        "externalId": "web-1", "items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}],
        "customer": {"id": ann["id"]}}}]


def test_a_portal_token_resolves_its_own_orders_with_line_items(api, ann, client, portal_token):
    from tests.helpers import raw_id
    record_order(api, ann["id"], "web-1", items=[{"sku": "A", "qty": 2}])
    token = portal_token(raw_id(ann["id"]))
    response = client.post("/graphql", json={"query": ENTRIES, "variables": {"id": ann["id"]}},
                           headers={"Authorization": f"Bearer {token}"})
    body = response.get_json()
    assert "errors" not in body, body["errors"]
    order = body["data"]["customer"]["loyalty"]["entries"]["edges"][0]["node"]["order"]
    assert order == {"externalId": "web-1", "items": [{"sku": "A", "qty": 2}], "customer": {"id": ann["id"]}}


# --- Finding 4: instants outside years 1 to 9999 in UTC ----------------------------------------------------

@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_query_filters_refuse_an_instant_outside_utc_in_variables_and_literals(api, value):
    for query, variables, field in [
        ("query($d: DateTime) { customers(filter: {createdAfter: $d}) { totalCount } }", {"d": value},
         "filter.createdAfter"),
        (f'{{ customers(filter: {{createdBefore: "{value}"}}) {{ totalCount }} }}', {}, "filter.createdBefore"),
        ("query($d: DateTime) { serviceMetrics(filter: {from: $d}) { casesOpened } }", {"d": value}, "filter.from"),
        ('query($d: DateTime) { journeyMap(key: "purchase", filter: {to: $d}) { key } }', {"d": value}, "filter.to"),
    ]:
        body = api(query, variables)
        assert query_error(body) == (outside(value), {"code": "INVALID", "field": field}), query


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_mutations_refuse_an_instant_outside_utc_as_a_payload_error_and_write_nothing(api, ann, value):
    order = order_input(ann, occurredAt=value)
    assert order_errors(api, order) == [
        ("occurredAt", "INVALID", outside(value))]
    literal = (f'mutation {{ orderRecord(input: {{customerId: "{ann["id"]}", externalId: "o-2", amount: "5", '
               f'currency: "EUR", channel: WEB, occurredAt: "{value}"}}) '
               '{ order { id } errors { field code } } }')
    assert api.data(literal)["orderRecord"] == {"order": None, "errors": [{"field": "occurredAt", "code": "INVALID"}]}
    assert order_count(api, ann["id"]) == 0

    earn = ("mutation($i: PointsEarnInput!) { pointsEarn(input: $i) { entry { id } errors { field code message } } }",
            {"i": {"customerId": ann["id"], "points": 5, "reason": "gift", "idempotencyKey": "k", "expiresAt": value}})
    assert payload_errors(api.data(*earn)["pointsEarn"]) == [("expiresAt", "INVALID", outside(value))]
    reward = ("mutation($i: RewardCreateInput!) { rewardCreate(input: $i) { reward { id } "
              "errors { field code message } } }",
              {"i": {"name": "Mug", "cost": 100, "activeUntil": value}})
    assert payload_errors(api.data(*reward)["rewardCreate"]) == [("activeUntil", "INVALID", outside(value))]
    send = ("mutation($i: MessageSendInput!) { messageSend(input: $i) { message { id } "
            "errors { field code message } } }",
            {"i": {"customerId": ann["id"], "channel": "EMAIL", "purpose": "CARE", "body": "Hi", "sendAt": value}})
    assert payload_errors(api.data(*send)["messageSend"]) == [("input.sendAt", "INVALID", outside(value))]
    campaign = ("mutation($i: CampaignInput!) { campaignCreate(input: $i) { campaign { id } "
                "errors { field code message } } }",
                {"i": {"name": "Once", "schedule": {"kind": "ONCE", "at": value},
                       "steps": [{"key": "s", "type": "SEND", "content": [{"channel": "EMAIL", "template": "Hi"}]}]}})
    assert payload_errors(api.data(*campaign)["campaignCreate"]) == [("input.schedule.at", "INVALID", outside(value))]
    assert api.data("{ rewards(availableOnly: false) { totalCount } campaigns { totalCount } }") == {
        "rewards": {"totalCount": 0}, "campaigns": {"totalCount": 0}}


SEGMENT_CREATE = """mutation($rule: JSON) { segmentCreate(input: {name: "Rule", kind: DYNAMIC, rule: $rule}) {
  segment { id } errors { field code message } } }"""


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_segment_rules_refuse_an_instant_outside_utc(api, value):
    rule = {"field": "metrics.lastOrderAt", "op": "gt", "value": value}
    assert payload_errors(api.data(SEGMENT_CREATE, {"rule": rule})["segmentCreate"]) == [
        ("input.rule.value", "INVALID", outside(value))]
    between = {"field": "createdAt", "op": "between", "value": ["2026-01-01T00:00:00Z", value]}
    assert payload_errors(api.data(SEGMENT_CREATE, {"rule": {"not": between}})["segmentCreate"]) == [
        ("input.rule.not.value.1", "INVALID", outside(value))]


def test_the_edges_of_the_range_themselves_are_accepted(api, ann):
    body = api.data("query($a: DateTime, $b: DateTime) { customers(filter: {createdAfter: $a, createdBefore: $b}) "
                    "{ totalCount } }", {"a": "0001-01-01T00:00:00Z", "b": "9999-12-31T23:59:59Z"})
    assert body == {"customers": {"totalCount": 1}}


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_report_filters_refuse_an_instant_outside_utc(client, tokens, value):
    response = client.get("/reports/journey-map/purchase.csv", query_string={"from": value},
                          headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert response.status_code == 400
    assert response.get_json() == {"errors": [{"message": f"`from` is outside the years 1 to 9999 in UTC: {value!r}.",
                                               "extensions": {"code": "INVALID", "field": "from"}}]}


def test_an_order_before_1900_is_refused(api, ann):
    order = order_input(ann, occurredAt="0001-01-01T00:00:00Z")
    assert order_errors(api, order) == [
        ("occurredAt", "INVALID", "occurredAt is before 1900.")]


# --- Finding 7: ids, cursors, non-finite and huge numbers, durations --------------------------------------

def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize("node_id", [
    "!!!", "", "   ", str(uuid.UUID(int=7)), b64(b"Nope:" + str(uuid.UUID(int=7)).encode()),
    b64(b"Query:" + str(uuid.UUID(int=7)).encode()), b64(b"\xff\xfe:1"), b64(b":"), b64(b":1"),
    "x" * 5000,
])
def test_a_malformed_node_id_is_invalid_on_id(api, node_id):
    body = api("query($id: ID!) { node(id: $id) { id } }", {"id": node_id})
    assert body["data"] == {"node": None}
    assert query_error(body) == ("Expected the global id of an object, as the API returned it.",
                                 {"code": "INVALID", "field": "id"})


@pytest.mark.parametrize("node_id", [global_id("Customer", uuid.UUID(int=7)), b64(b"Customer:1"),
                                     b64(b"Segment:"), b64(b"Order:" + b"x" * 5000)])
def test_an_id_of_a_node_type_that_names_nothing_is_null_without_an_error(api, node_id):
    body = api("query($id: ID!) { node(id: $id) { id } }", {"id": node_id})
    assert body == {"data": {"node": None}}


def cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


ZERO = "00000000-0000-0000-0000-000000000000"
CURSORS = [
    ("customers", None, cursor(["customers:CREATED_AT:desc", 5, 7])),
    ("customers", None, cursor(["customers:CREATED_AT:desc", "0001-01-01T00:00:00+14:00", ZERO])),
    ("customers", None, cursor(["customers:CREATED_AT:desc", "9999-12-31T23:59:59-14:00", ZERO])),
    ("customers", None, cursor(["customers:CREATED_AT:desc", "2026-01-01T00:00:00+00:00", 12345])),
    ("customers", None, cursor(["customers:CREATED_AT:desc", {"a": 1}, ZERO])),
    ("customers", None, cursor({"customers:CREATED_AT:desc": 1})),
    ("customers", None, cursor("customers:CREATED_AT:desc")),
    ("customers", None, cursor(5)),
    ("customers", None, base64.urlsafe_b64encode(b"\x00\xff garbage \x80").decode()),
    ("customers", None, base64.urlsafe_b64encode(b"[" * 5000).decode()),
    ("customers", None, "%%% not base64 %%%"),
    ("customers", '{field: LAST_NAME, direction: ASC}', cursor(["customers:LAST_NAME:asc", "a\u0000b", ZERO])),
    ("customers", '{field: TOTAL_SPENT, direction: DESC}', cursor(["customers:TOTAL_SPENT:desc", "1e30", ZERO])),
    ("rewards", None, cursor(["rewards", 2 ** 70, ZERO])),
    ("rewards", None, cursor(["rewards", True, ZERO])),
    ("rewards", None, cursor(["rewards", "7", ZERO])),
]


@pytest.mark.parametrize("field, order_by, after", CURSORS)
def test_a_crafted_cursor_is_invalid_on_after(api, field, order_by, after):
    ordering = f", orderBy: {order_by}" if order_by else ""
    body = api(f"query($a: String) {{ {field}(first: 1, after: $a{ordering}) {{ totalCount }} }}", {"a": after})
    assert body["data"] is None
    assert query_error(body) == ("This cursor is not valid for this list and ordering.",
                                 {"code": "INVALID", "field": "after"})


CUSTOMER_UPDATE = """mutation($id: ID!, $a: JSON) { customerUpdate(id: $id, input: {attributes: $a}) {
  customer { attributes } errors { field code message } } }"""


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "1e999", "[1, -1e999]"])
def test_non_finite_numbers_in_json_are_invalid_and_change_nothing(api, client, tokens, ann, constant):
    body = ('{"query": %s, "variables": {"id": "%s", "a": {"vip": true, "score": %s}}}'
            % (json.dumps(CUSTOMER_UPDATE), ann["id"], constant))
    response = client.post("/graphql", data=body, content_type="application/json",
                           headers={"Authorization": f"Bearer {tokens['admin']}"})
    payload = response.get_json()["data"]["customerUpdate"]
    assert payload["customer"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("attributes", "INVALID")]
    assert payload["errors"][0]["message"] == NOT_FINITE
    profile = api.data("query($id: ID!) { customer(id: $id) { attributes } }", {"id": ann["id"]})
    assert profile == {"customer": {"attributes": {}}}


def test_an_infinite_literal_in_the_document_is_invalid_too(api, ann):
    payload = api.data(f'mutation {{ customerUpdate(id: "{ann["id"]}", input: {{attributes: {{x: 1e999}}}}) '
                       '{ errors { field code message } } }')["customerUpdate"]
    assert payload_errors(payload) == [("attributes", "INVALID", NOT_FINITE)]
    too_long = "1" * 5000
    payload = api.data(f'mutation {{ customerUpdate(id: "{ann["id"]}", input: {{attributes: {{x: {too_long}}}}}) '
                       '{ errors { field code message } } }')["customerUpdate"]
    assert payload_errors(payload) == [("attributes", "INVALID", NOT_FINITE)]


def assert_too_large_and_not_recorded(api, ann, amount):
    assert order_errors(api, order_input(ann, amount=amount)) == [
        ("amount", "INVALID", f"{amount!r} is too large: decimal values are below 10^14 (100,000,000,000,000).")]
    assert order_count(api, ann["id"]) == 0


@pytest.mark.parametrize("amount", ["1e30", "-1e30", "100000000000000", 1e30])
def test_an_amount_the_money_column_cannot_store_is_invalid(api, ann, amount):
    assert_too_large_and_not_recorded(api, ann, amount)


@pytest.mark.parametrize("amount", ["1e999999999999", "-1E+1000000"])
def test_an_exponent_beyond_the_decimal_context_is_too_large_not_an_overflow(api, ann, amount):
    assert_too_large_and_not_recorded(api, ann, amount)


def test_a_decimal_with_more_places_than_any_column_is_invalid_but_trailing_zeros_are_not(api, ann):
    order = order_input(ann, amount="9e-9999999999")
    assert order_errors(api, order) == [
        ("amount", "INVALID", "'9e-9999999999' has too many decimal places: at most 18.")]
    assert order_count(api, ann["id"]) == 0
    order["amount"] = "12.5" + "0" * 40
    assert api.data(RECORD_ORDER, {"input": order})["orderRecord"]["errors"] == []
    assert order_count(api, ann["id"]) == 1


def test_an_amount_below_the_scalar_bound_but_above_an_orders_is_invalid_too(api, ann):
    order = order_input(ann, amount="99999999999999.9999")
    assert order_errors(api, order) == [
        ("amount", "INVALID", "Amount must be below 100,000,000,000.")]


@pytest.mark.parametrize("within", ["P999999999D", "P" + "9" * 5000 + "D", "P101Y", "PT9999999999999S"])
def test_a_duration_beyond_100_years_is_invalid(api, within):
    rule = {"field": "orders.count", "op": "gte", "value": 1, "within": within}
    assert payload_errors(api.data(SEGMENT_CREATE, {"rule": rule})["segmentCreate"]) == [
        ("input.rule.within", "INVALID", "Durations are at most 100 years (P100Y).")]
    last = {"field": "metrics.lastOrderAt", "op": "within_last", "value": within}
    body = api("query($r: JSON!) { segmentPreview(rule: $r) { count } }", {"r": last})
    assert query_error(body) == ("Durations are at most 100 years (P100Y).", {"code": "INVALID", "field": "rule.value"})
    assert api.data("{ segments { totalCount } }") == {"segments": {"totalCount": 0}}


def test_a_duration_of_100_years_is_accepted(api):
    rule = {"field": "metrics.lastOrderAt", "op": "within_last", "value": "P100Y"}
    assert api.data(SEGMENT_CREATE, {"rule": rule})["segmentCreate"]["errors"] == []


# --- Found while probing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule, message", [
    ({"field": "orders.count", "op": "gt", "value": 10 ** 30},
     "Expected a number between -9223372036854775807 and 9223372036854775807."),
    ({"field": "attributes.level", "op": "eq", "value": 10 ** 30},
     "Expected a number between -9223372036854775807 and 9223372036854775807."),
    ({"field": "orders.sum", "op": "gt", "value": "1e30"}, "Expected an amount below 100,000,000,000,000."),
    ({"field": "email", "op": "contains", "value": "a" * 60000}, "Text values in rules are at most 1000 characters."),
    ({"field": "country", "op": "in", "value": ["DE", "x" * 1001]},
     "Text values in rules are at most 1000 characters."),
])
def test_rule_values_sql_cannot_bind_are_invalid(api, rule, message):
    errors = payload_errors(api.data(SEGMENT_CREATE, {"rule": rule})["segmentCreate"])
    assert [(code, text) for _field, code, text in errors] == [("INVALID", message)]
    assert errors[0][0].startswith("input.rule.value")


def test_a_search_longer_than_200_characters_is_invalid(api):
    body = api("query($s: String) { customers(filter: {search: $s}) { totalCount } }", {"s": "a" * 60000})
    assert query_error(body) == ("A search is at most 200 characters.", {"code": "INVALID", "field": "filter.search"})
    body = api("query($s: String) { segments(search: $s) { totalCount } }", {"s": "a" * 201})
    assert query_error(body) == ("A search is at most 200 characters.", {"code": "INVALID", "field": "search"})


def test_text_longer_than_its_column_is_invalid(api, ann):
    create = api.data("mutation($e: String) { customerCreate(input: {externalId: $e}) { errors { field code } } }",
                      {"e": "x" * 201})["customerCreate"]
    assert create == {"errors": [{"field": "externalId", "code": "INVALID"}]}
    consent = api.data("mutation($id: ID!, $s: String) { customerSetConsent(customerId: $id, channel: EMAIL, "
                       "granted: true, source: $s) { errors { field code message } } }",
                       {"id": ann["id"], "s": "x" * 201})["customerSetConsent"]
    assert payload_errors(consent) == [("source", "INVALID", "source is at most 200 characters.")]


def test_a_timezone_name_too_long_for_a_file_name_is_invalid(api):
    name = "Europe/" + "x" * 5000
    campaign = {"name": "Tz", "schedule": {"kind": "RECURRING", "frequency": "DAILY", "localTime": "09:00",
                                           "timezone": name},
                "steps": [{"key": "s", "type": "SEND", "content": [{"channel": "EMAIL", "template": "Hi"}]}]}
    payload = api.data("mutation($i: CampaignInput!) { campaignCreate(input: $i) { errors { field code } } }",
                       {"i": campaign}, as_="marketer")["campaignCreate"]
    assert payload == {"errors": [{"field": "input.schedule.timezone", "code": "INVALID"}]}


def test_a_nul_in_a_report_key_is_a_400(client, tokens):
    response = client.get("/reports/journey-map/a%00b.csv", headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert response.status_code == 400
    assert response.get_json() == {"errors": [{"message": "Text in the request must not contain NUL characters.",
                                               "extensions": {"code": "BAD_REQUEST"}}]}


def test_json_nested_deeper_than_a_body_may_is_invalid_in_a_literal_too(api, ann):
    deep = "{a: " * 70 + "1" + "}" * 70
    payload = api.data(f'mutation {{ customerUpdate(id: "{ann["id"]}", input: {{attributes: {deep}}}) '
                       '{ errors { field code message } } }')["customerUpdate"]
    assert payload_errors(payload) == [("attributes", "INVALID", "JSON values nest at most 64 levels deep.")]
