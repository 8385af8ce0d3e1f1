"""Segments through GraphQL: create, membership kept by events and refreshes, history, explain, preview,
static segments, segments built on segments, and who may do what."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm.api.ids import global_id
from crm.queue import work_once
from crm.segments.models import Segment, SegmentMembership, SegmentMembershipChange
from tests.helpers import create_customer, raw_id, record_order

SEGMENT_FIELDS = "id name description kind rule memberCount refreshedAt"
CREATE = f"""mutation($input: SegmentCreateInput!) {{ segmentCreate(input: $input) {{
  segment {{ {SEGMENT_FIELDS} }} errors {{ field code message }} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: SegmentCreateInput!) {{ segmentUpdate(id: $id, input: $input) {{
  segment {{ {SEGMENT_FIELDS} }} errors {{ field code message }} }} }}"""
DELETE = """mutation($id: ID!) { segmentDelete(id: $id) { segment { id name } errors { field code message } } }"""
REFRESH = f"""mutation($id: ID!) {{ segmentRefresh(id: $id) {{ segment {{ {SEGMENT_FIELDS} }}
  errors {{ field code message }} }} }}"""
ADD = """mutation($s: ID!, $c: [ID!]!) { segmentAddCustomers(segmentId: $s, customerIds: $c) {
  segment { id memberCount } errors { field code message } } }"""
REMOVE = """mutation($s: ID!, $c: [ID!]!) { segmentRemoveCustomers(segmentId: $s, customerIds: $c) {
  segment { id memberCount } errors { field code message } } }"""
MEMBERS = """query($id: ID!) { node(id: $id) { ... on Segment { name memberCount
  members(first: 10) { totalCount edges { node { email } } }
  history(first: 10) { totalCount edges { node { change reason actor customer { email } segment { name } } } } } } }"""
CUSTOMER_SEGMENTS = """query($id: ID!) { customer(id: $id) { segments { name }
  segmentHistory(first: 10) { totalCount edges { node { change reason segment { name } } } } } }"""
PREVIEW = """query($rule: JSON!, $n: Int) { segmentPreview(rule: $rule, sampleSize: $n) { count sample { email } } }"""
EXPLAIN = """query($s: ID!, $c: ID!) { segmentExplain(segmentId: $s, customerId: $c) { member ruleResult trace
  lastChange { change reason } } }"""

BIG_SPENDERS = {"all": [{"field": "orders.sum", "op": "gte", "value": "500"},
                        {"any": [{"field": "country", "op": "eq", "value": "DE"},
                                 {"not": {"field": "email", "op": "contains", "value": "test"}}]}]}


def create(api, name, kind="DYNAMIC", rule=None, as_="admin", **extra) -> dict:
    payload = api.data(CREATE, {"input": {"name": name, "kind": kind, "rule": rule, **extra}}, as_=as_)["segmentCreate"]
    assert payload["errors"] == [], payload["errors"]
    return payload["segment"]


def members(api, segment_id) -> list[str]:
    node = api.data(MEMBERS, {"id": segment_id})["node"]
    return sorted(e["node"]["email"] for e in node["members"]["edges"])


def run_jobs(app) -> None:
    work_once(app)
    work_once(app)  # jobs queued by jobs (a join read by another segment) run in the next round


@pytest.fixture
def people(app, api):
    ids = {}
    for name, country in (("ann", "DE"), ("bob", "FR"), ("cat", "DE")):
        ids[name] = create_customer(api, email=f"{name}@shop.example", attributes={"country": country})["id"]
    record_order(api, ids["ann"], "a-1", amount="600.00", occurred_at="2026-11-01T10:00:00+00:00")
    record_order(api, ids["bob"], "b-1", amount="450.00", occurred_at="2026-11-01T10:00:00+00:00")
    run_jobs(app)  # the re-evaluations these writes queued, so each test starts with an empty queue
    return ids


def test_a_dynamic_segment_is_filled_from_its_rule_when_created(api, people):
    segment = create(api, "Big spenders", rule=BIG_SPENDERS, description="500+ lifetime")
    assert (segment["name"], segment["kind"], segment["rule"], segment["memberCount"]) == \
        ("Big spenders", "DYNAMIC", BIG_SPENDERS, 1)
    assert segment["refreshedAt"] is not None
    node = api.data(MEMBERS, {"id": segment["id"]})["node"]
    assert node["members"] == {"totalCount": 1, "edges": [{"node": {"email": "ann@shop.example"}}]}
    assert node["history"] == {"totalCount": 1, "edges": [{"node": {
        "change": "JOINED", "reason": "rule: segment created", "actor": "admin@example.com",
        "customer": {"email": "ann@shop.example"}, "segment": {"name": "Big spenders"}}}]}
    assert api.data(CUSTOMER_SEGMENTS, {"id": people["ann"]})["customer"] == {
        "segments": [{"name": "Big spenders"}],
        "segmentHistory": {"totalCount": 1, "edges": [{"node": {"change": "JOINED", "reason": "rule: segment created",
                                                                "segment": {"name": "Big spenders"}}}]}}
    filtered = api.data("""query($s: ID!) { customers(filter: {segmentId: $s}) { totalCount edges { node { email } } } }""",
                        {"s": segment["id"]})["customers"]
    assert filtered == {"totalCount": 1, "edges": [{"node": {"email": "ann@shop.example"}}]}


def test_an_order_crossing_the_threshold_joins_through_the_worker_and_a_refund_leaves(app, api, people,
                                                                                     subscriptions):
    subscriptions("segment.joined", "tests.jobs_for_tests.record_event")
    segment = create(api, "Big spenders", rule=BIG_SPENDERS)
    record_order(api, people["bob"], "b-2", amount="60.00", occurred_at="2026-11-02T10:00:00+00:00")
    assert members(api, segment["id"]) == ["ann@shop.example"]  # not yet: the job has not run

    run_jobs(app)
    assert members(api, segment["id"]) == ["ann@shop.example", "bob@shop.example"]
    explained = api.data(EXPLAIN, {"s": segment["id"], "c": people["bob"]})["segmentExplain"]
    assert explained["lastChange"] == {"change": "JOINED", "reason": "rule: order.recorded"}
    run_jobs(app)  # running again changes nothing
    node = api.data(MEMBERS, {"id": segment["id"]})["node"]
    assert node["memberCount"] == 2 and node["history"]["totalCount"] == 2

    closed = api.data("""mutation($id: ID!) { orderRefund(orderId: $id) { errors { code } } }""",
                      {"id": _order_id(app, "b-2")})
    assert closed["orderRefund"]["errors"] == []
    run_jobs(app)
    node = api.data(MEMBERS, {"id": segment["id"]})["node"]
    assert node["memberCount"] == 1
    assert [(e["node"]["change"], e["node"]["reason"], e["node"]["customer"]["email"])
            for e in node["history"]["edges"]] == [
        ("LEFT", "rule: order.closed", "bob@shop.example"), ("JOINED", "rule: order.recorded", "bob@shop.example"),
        ("JOINED", "rule: segment created", "ann@shop.example")]


def _order_id(app, external_id):
    from crm.customers.models import Order
    with app.app_context():
        from crm.sessions import get_session
        order = get_session().scalar(select(Order).where(Order.external_id == external_id))
        return global_id("Order", order.id)


def test_a_bad_rule_names_the_node_and_writes_nothing(app, api, people):
    cases = [
        ({"name": "x", "kind": "DYNAMIC", "rule": {"all": [{"field": "email", "op": "eq", "value": "a"},
                                                           {"field": "shoeSize", "op": "eq", "value": 1}]}},
         [{"field": "input.rule.all.1.field", "code": "INVALID"}]),
        ({"name": "x", "kind": "DYNAMIC", "rule": {"any": []}}, [{"field": "input.rule.any", "code": "INVALID"}]),
        ({"name": "x", "kind": "DYNAMIC", "rule": {"field": "createdAt", "op": "contains", "value": "x"}},
         [{"field": "input.rule.op", "code": "INVALID"}]),
        ({"name": "x", "kind": "DYNAMIC"}, [{"field": "input.rule", "code": "REQUIRED"}]),
        ({"name": "x", "kind": "STATIC", "rule": {"field": "email", "op": "exists", "value": True}},
         [{"field": "input.rule", "code": "INVALID"}]),
        ({"name": "  ", "kind": "STATIC"}, [{"field": "input.name", "code": "REQUIRED"}]),
        ({"name": "x", "kind": "DYNAMIC", "rule": {"field": "segment", "op": "eq",
                                                   "value": global_id("Segment", "00000000-0000-0000-0000-000000000001")}},
         [{"field": "input.rule", "code": "INVALID"}]),
        ({"name": "x", "kind": "DYNAMIC", "rule": {"field": "segment", "op": "eq", "value": "nope"}},
         [{"field": "input.rule.value", "code": "INVALID"}]),
    ]
    for given, expected in cases:
        payload = api.data(CREATE, {"input": given})["segmentCreate"]
        assert payload["segment"] is None
        assert [{"field": e["field"], "code": e["code"]} for e in payload["errors"]] == expected, given
    create(api, "Key accounts", kind="STATIC")
    payload = api.data(CREATE, {"input": {"name": "KEY ACCOUNTS", "kind": "STATIC"}})["segmentCreate"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("input.name", "DUPLICATE")]
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        assert session.scalar(select(func.count()).select_from(Segment)) == 1
        assert session.scalar(select(func.count()).select_from(SegmentMembershipChange)) == 0


def test_static_segments_are_kept_by_hand_once_per_customer(api, people):
    segment = create(api, "Key accounts", kind="STATIC")
    assert segment["rule"] is None and segment["memberCount"] == 0
    added = api.data(ADD, {"s": segment["id"], "c": [people["ann"], people["bob"], people["ann"]]})
    assert added["segmentAddCustomers"] == {"segment": {"id": segment["id"], "memberCount": 2}, "errors": []}
    again = api.data(ADD, {"s": segment["id"], "c": [people["bob"], people["cat"]]})["segmentAddCustomers"]
    assert again["segment"]["memberCount"] == 3
    removed = api.data(REMOVE, {"s": segment["id"], "c": [people["ann"], people["ann"]]})["segmentRemoveCustomers"]
    assert removed["segment"]["memberCount"] == 2
    assert members(api, segment["id"]) == ["bob@shop.example", "cat@shop.example"]
    node = api.data(MEMBERS, {"id": segment["id"]})["node"]
    assert sorted((e["node"]["change"], e["node"]["customer"]["email"], e["node"]["reason"])
                  for e in node["history"]["edges"]) == [
        ("JOINED", "ann@shop.example", "added by hand"), ("JOINED", "bob@shop.example", "added by hand"),
        ("JOINED", "cat@shop.example", "added by hand"), ("LEFT", "ann@shop.example", "removed by hand")]

    unknown = global_id("Customer", "00000000-0000-0000-0000-000000000009")
    failed = api.data(ADD, {"s": segment["id"], "c": [people["ann"], unknown]})["segmentAddCustomers"]
    assert (failed["segment"], failed["errors"]) == (None, [
        {"field": "customerIds.1", "code": "NOT_FOUND", "message": "No customer has this id."}])
    assert members(api, segment["id"]) == ["bob@shop.example", "cat@shop.example"]  # ann was not added either

    dynamic = create(api, "Germans", rule={"field": "country", "op": "eq", "value": "DE"})
    refused = api.data(ADD, {"s": dynamic["id"], "c": [people["bob"]]})["segmentAddCustomers"]
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("segmentId", "INVALID")]
    refused = api.data(REFRESH, {"id": segment["id"]})["segmentRefresh"]
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("id", "INVALID")]


def test_a_segment_built_on_another_follows_it_and_cycles_and_deletes_of_read_segments_are_refused(app, api, people):
    key = create(api, "Key accounts", kind="STATIC")
    german_keys = create(api, "German key accounts", rule={"all": [
        {"field": "segment", "op": "eq", "value": key["id"]}, {"field": "country", "op": "eq", "value": "DE"}]})
    assert german_keys["memberCount"] == 0
    api.data(ADD, {"s": key["id"], "c": [people["ann"], people["bob"]]})
    run_jobs(app)
    assert members(api, german_keys["id"]) == ["ann@shop.example"]

    outer = create(api, "Outer", rule={"field": "segment", "op": "in", "value": [german_keys["id"]]})
    assert outer["memberCount"] == 1
    cyclic = api.data(UPDATE, {"id": german_keys["id"], "input": {"name": "German key accounts", "kind": "DYNAMIC",
                                                                 "rule": {"field": "segment", "op": "eq",
                                                                          "value": outer["id"]}}})["segmentUpdate"]
    assert [(e["field"], e["code"]) for e in cyclic["errors"]] == [("input.rule", "INVALID")]
    refused = api.data(DELETE, {"id": key["id"]})["segmentDelete"]
    assert refused["errors"] == [{"field": "id", "code": "INVALID",
                                  "message": "Rules still read this segment: German key accounts."}]
    assert api.data(DELETE, {"id": outer["id"]})["segmentDelete"] == {
        "segment": {"id": outer["id"], "name": "Outer"}, "errors": []}
    assert api.data("query($id: ID!) { node(id: $id) { id } }", {"id": outer["id"]})["node"] is None


def test_update_refreshes_against_the_new_rule_and_turning_static_keeps_members(api, people):
    segment = create(api, "Germans", rule={"field": "country", "op": "eq", "value": "DE"})
    assert segment["memberCount"] == 2
    updated = api.data(UPDATE, {"id": segment["id"], "input": {"name": "French", "kind": "DYNAMIC", "rule": {
        "field": "country", "op": "eq", "value": "FR"}}})["segmentUpdate"]
    assert (updated["errors"], updated["segment"]["name"], updated["segment"]["memberCount"]) == ([], "French", 1)
    assert members(api, segment["id"]) == ["bob@shop.example"]
    frozen = api.data(UPDATE, {"id": segment["id"], "input": {"name": "French", "kind": "STATIC"}})["segmentUpdate"]
    assert (frozen["segment"]["kind"], frozen["segment"]["rule"], frozen["segment"]["memberCount"]) == \
        ("STATIC", None, 1)


def test_preview_counts_and_samples_without_saving(app, api, people):
    before = _row_counts(app)
    preview = api.data(PREVIEW, {"rule": {"field": "country", "op": "eq", "value": "DE"}, "n": 1})["segmentPreview"]
    assert preview == {"count": 2, "sample": [{"email": "cat@shop.example"}]}  # newest first
    assert _row_counts(app) == before
    body = api(PREVIEW, {"rule": {"all": [{"field": "country", "op": "eq", "value": 5}]}})
    assert body["errors"][0]["extensions"] == {"code": "INVALID", "field": "rule.all.0.value"}
    masked = api.data(PREVIEW, {"rule": {"field": "country", "op": "eq", "value": "FR"}}, as_="marketer")
    assert masked["segmentPreview"] == {"count": 1, "sample": [{"email": "b***@shop.example"}]}


def _row_counts(app) -> tuple:
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        return tuple(session.scalar(select(func.count()).select_from(m))
                     for m in (Segment, SegmentMembership, SegmentMembershipChange))


def test_explain_gives_each_node_its_value_and_result(api, people):
    segment = create(api, "Big spenders", rule=BIG_SPENDERS)
    explained = api.data(EXPLAIN, {"s": segment["id"], "c": people["bob"]})["segmentExplain"]
    assert explained["member"] is False and explained["ruleResult"] is False and explained["lastChange"] is None
    assert explained["trace"] == {"result": False, "all": [
        {"field": "orders.sum", "op": "gte", "value": "500", "actual": "450.00", "result": False},
        {"result": True, "any": [
            {"field": "country", "op": "eq", "value": "DE", "actual": "FR", "result": False},
            {"result": True, "not": {"field": "email", "op": "contains", "value": "test", "actual": "bob@shop.example",
                                     "result": False}},
        ]}]}
    assert api.data(EXPLAIN, {"s": segment["id"], "c": people["ann"]})["segmentExplain"]["member"] is True
    unknown = global_id("Customer", "00000000-0000-0000-0000-000000000009")
    assert api.data(EXPLAIN, {"s": segment["id"], "c": unknown})["segmentExplain"] is None


def test_who_may_read_and_change_segments(api, people, portal_token, tokens):
    segment = create(api, "Made by marketing", kind="STATIC", as_="marketer")
    for role in ("integration", "support_agent"):
        payload = api.data(CREATE, {"input": {"name": f"by {role}", "kind": "STATIC"}}, as_=role)["segmentCreate"]
        assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    added = api.data(ADD, {"s": segment["id"], "c": [people["ann"]]}, as_="account_manager")["segmentAddCustomers"]
    assert added["errors"] == []
    tokens["ann"] = portal_token(raw_id(people["ann"]))
    body = api("{ segments { totalCount } }", as_="ann")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = api("""query($id: ID!) { customer(id: $id) { email segments { name } } }""", {"id": people["ann"]}, as_="ann")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert api.data("query($id: ID!) { node(id: $id) { id } }", {"id": segment["id"]}, as_="ann")["node"] is None
    assert api.data("{ segments { totalCount edges { node { name } } } }", as_="support_agent")["segments"] == {
        "totalCount": 1, "edges": [{"node": {"name": "Made by marketing"}}]}
    body = api("""query($s: ID!) { customers(filter: {segmentId: $s}) { totalCount } }""", {"s": segment["id"]},
               as_="integration")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_roles_that_see_emails_masked_cannot_select_by_them(api, people):
    by_email = {"field": "email", "op": "starts_with", "value": "a"}
    payload = api.data(CREATE, {"input": {"name": "A", "kind": "DYNAMIC", "rule": {"all": [by_email]}}},
                       as_="marketer")["segmentCreate"]
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("input.rule", "FORBIDDEN")]
    body = api(PREVIEW, {"rule": by_email}, as_="marketer")
    assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN", "field": "rule"}
    segment = create(api, "A by admin", rule={"not": by_email})  # an admin may; the marketer's explain masks
    trace = api.data(EXPLAIN, {"s": segment["id"], "c": people["bob"]}, as_="marketer")["segmentExplain"]["trace"]
    assert trace["not"]["actual"] == "b***@shop.example"
    assert api.data(EXPLAIN, {"s": segment["id"], "c": people["bob"]})["segmentExplain"]["trace"]["not"][
        "actual"] == "bob@shop.example"


def test_segments_list_pages_by_name_and_filters(api, people):
    for name in ("beta", "Alpha", "gamma"):
        create(api, name, kind="STATIC")
    create(api, "Germans", rule={"field": "country", "op": "eq", "value": "DE"})
    first = api.data("{ segments(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }")
    page = first["segments"]
    assert [e["node"]["name"] for e in page["edges"]] == ["Alpha", "beta"] and page["totalCount"] == 4
    rest = api.data("query($a: String) { segments(first: 5, after: $a) { edges { node { name } } } }",
                    {"a": page["pageInfo"]["endCursor"]})["segments"]
    assert [e["node"]["name"] for e in rest["edges"]] == ["gamma", "Germans"]
    dynamic = api.data('{ segments(kind: DYNAMIC, search: "ger") { edges { node { name memberCount } } } }')
    assert dynamic["segments"]["edges"] == [{"node": {"name": "Germans", "memberCount": 2}}]


def test_nested_segment_members_cost_the_same_statements_for_two_or_eight_segments(api, people, count_statements):
    query = """{ segments(first: 20) { edges { node { name memberCount members(first: 5) { totalCount
      edges { node { email segments { name } } } } history(first: 3) { totalCount edges { node { change } } } } } } }"""

    def statements(n_segments):
        for i in range(n_segments):
            segment = create(api, f"s{n_segments}-{i}", kind="STATIC")
            api.data(ADD, {"s": segment["id"], "c": list(people.values())})
        with count_statements() as counted:
            api.data(query)
        return len(counted)

    assert statements(2) == statements(6)


TIER_RULES = "{ serviceTierRules { tier rule isDefault } }"
TIER_RULE_UPDATE = """mutation($input: ServiceTierRuleInput!) { serviceTierRuleUpdate(input: $input) {
  rules { tier rule isDefault } customersMoved errors { field code } } }"""


def test_service_tier_rules_through_graphql(api, people):
    assert api.data(TIER_RULES)["serviceTierRules"] == [
        {"tier": "VIP", "rule": {"field": "metrics.totalSpent", "op": "gte", "value": "10000"}, "isDefault": True},
        {"tier": "PREFERRED", "rule": {"field": "metrics.totalSpent", "op": "gte", "value": "2000"}, "isDefault": True}]
    germans = {"field": "country", "op": "eq", "value": "DE"}
    payload = api.data(TIER_RULE_UPDATE, {"input": {"tier": "PREFERRED", "rule": germans}})["serviceTierRuleUpdate"]
    assert (payload["errors"], payload["customersMoved"]) == ([], 2)  # ann and cat
    assert payload["rules"][1] == {"tier": "PREFERRED", "rule": germans, "isDefault": False}
    tiers = api.data("{ customers { edges { node { email serviceTier } } } }")["customers"]["edges"]
    assert sorted((e["node"]["email"], e["node"]["serviceTier"]) for e in tiers) == [
        ("ann@shop.example", "PREFERRED"), ("bob@shop.example", "STANDARD"), ("cat@shop.example", "PREFERRED")]
    for given, expected in (({"tier": "STANDARD", "rule": germans}, [{"field": "tier", "code": "INVALID"}]),
                            ({"tier": "VIP", "rule": {"any": []}}, [{"field": "input.rule.any", "code": "INVALID"}])):
        assert api.data(TIER_RULE_UPDATE, {"input": given})["serviceTierRuleUpdate"]["errors"] == expected
    refused = api.data(TIER_RULE_UPDATE, {"input": {"tier": "VIP", "rule": germans}}, as_="marketer")
    assert refused["serviceTierRuleUpdate"]["errors"] == [{"field": None, "code": "FORBIDDEN"}]
    reset = api.data(TIER_RULE_UPDATE, {"input": {"tier": "PREFERRED", "rule": None}})["serviceTierRuleUpdate"]
    assert (reset["customersMoved"], reset["rules"][1]["isDefault"]) == (2, True)


def test_unknown_segments_and_oversized_calls_are_structured_errors(api, people):
    unknown = global_id("Segment", "00000000-0000-0000-0000-000000000042")
    for query, variables, name, field in (
            (UPDATE, {"id": unknown, "input": {"name": "x", "kind": "STATIC"}}, "segmentUpdate", "id"),
            (DELETE, {"id": unknown}, "segmentDelete", "id"),
            (REFRESH, {"id": unknown}, "segmentRefresh", "id"),
            (REMOVE, {"s": unknown, "c": [people["ann"]]}, "segmentRemoveCustomers", "segmentId"),
            (ADD, {"s": "not-an-id", "c": [people["ann"]]}, "segmentAddCustomers", "segmentId")):
        errors = api.data(query, variables)[name]["errors"]
        assert [(e["field"], e["code"]) for e in errors] == [(field, "NOT_FOUND" if query != ADD else "INVALID")]
    static = create(api, "Key accounts", kind="STATIC")
    too_many = api.data(ADD, {"s": static["id"], "c": [people["ann"]] * 1001})["segmentAddCustomers"]
    assert [(e["field"], e["code"]) for e in too_many["errors"]] == [("customerIds", "INVALID")]
    none = api.data(ADD, {"s": static["id"], "c": []})["segmentAddCustomers"]
    assert [(e["field"], e["code"]) for e in none["errors"]] == [("customerIds", "REQUIRED")]
    other = create(api, "Other", kind="STATIC")
    renamed = api.data(UPDATE, {"id": other["id"], "input": {"name": "key accounts", "kind": "STATIC"}})
    assert [(e["field"], e["code"]) for e in renamed["segmentUpdate"]["errors"]] == [("input.name", "DUPLICATE")]
