"""The customers connection: filters, orderings, keyset pagination, totalCount."""
from crm.api.ids import global_id
from tests.helpers import create_customer, record_order

LIST = """query($first: Int, $after: String, $filter: CustomerFilter, $orderBy: CustomerOrderBy) {
  customers(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { email lastName } } } }"""


def emails(api, **variables):
    return [e["node"]["email"] for e in api.data(LIST, variables)["customers"]["edges"]]


def test_default_order_is_newest_first_and_pages_chain(api):
    for index in range(5):
        create_customer(api, email=f"c{index}@example.com")
    first = api.data(LIST, {"first": 2})["customers"]
    assert [e["node"]["email"] for e in first["edges"]] == ["c4@example.com", "c3@example.com"]
    assert first["totalCount"] == 5
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    second = api.data(LIST, {"first": 2, "after": first["pageInfo"]["endCursor"]})["customers"]
    assert [e["node"]["email"] for e in second["edges"]] == ["c2@example.com", "c1@example.com"]
    assert second["pageInfo"]["hasPreviousPage"] is True
    third = api.data(LIST, {"first": 2, "after": second["pageInfo"]["endCursor"]})["customers"]
    assert [e["node"]["email"] for e in third["edges"]] == ["c0@example.com"]
    assert third["pageInfo"]["hasNextPage"] is False


def test_keyset_pages_are_stable_under_inserts(api):
    for index in range(4):
        create_customer(api, email=f"old{index}@example.com", lastName=f"Name{index}")
    order = {"field": "LAST_NAME", "direction": "ASC"}
    page = api.data(LIST, {"first": 2, "orderBy": order})["customers"]
    assert [e["node"]["email"] for e in page["edges"]] == ["old0@example.com", "old1@example.com"]
    # Rows inserted before the cursor neither shift nor repeat what follows.
    create_customer(api, email="new@example.com", lastName="Aardvark")
    rest = emails(api, first=10, after=page["pageInfo"]["endCursor"], orderBy=order)
    assert rest == ["old2@example.com", "old3@example.com"]


def test_orderings_by_total_spent_last_name_and_last_interaction(api):
    spenders = {}
    for name, amount in (("Cole", "30"), ("adams", "300"), ("Baker", "3")):
        customer = create_customer(api, email=f"{name.lower()}@example.com", lastName=name)
        record_order(api, customer["id"], f"o-{name}", amount=amount)
        spenders[name] = customer
    create_customer(api, email="none@example.com")
    assert emails(api, orderBy={"field": "TOTAL_SPENT", "direction": "DESC"}) == [
        "adams@example.com", "cole@example.com", "baker@example.com", "none@example.com"]
    assert emails(api, orderBy={"field": "LAST_NAME", "direction": "ASC"}) == [
        "none@example.com", "adams@example.com", "baker@example.com", "cole@example.com"]
    by_interaction = emails(api, orderBy={"field": "LAST_INTERACTION_AT", "direction": "DESC"})
    assert sorted(by_interaction) == sorted(["adams@example.com", "cole@example.com", "baker@example.com",
                                             "none@example.com"])
    page = api.data(LIST, {"first": 1, "orderBy": {"field": "TOTAL_SPENT", "direction": "ASC"}})["customers"]
    rest = emails(api, first=10, after=page["pageInfo"]["endCursor"],
                  orderBy={"field": "TOTAL_SPENT", "direction": "ASC"})
    assert [e["node"]["email"] for e in page["edges"]] + rest == [
        "none@example.com", "baker@example.com", "cole@example.com", "adams@example.com"]


def test_a_cursor_from_another_ordering_is_rejected(api):
    create_customer(api, email="a@example.com")
    create_customer(api, email="b@example.com")
    cursor = api.data(LIST, {"first": 1})["customers"]["pageInfo"]["endCursor"]
    body = api(LIST, {"first": 1, "after": cursor, "orderBy": {"field": "LAST_NAME", "direction": "ASC"}})
    assert body["errors"][0]["message"] == "This cursor is not valid for this list and ordering."
    assert body["errors"][0]["extensions"]["code"] == "INVALID"
    garbage = api(LIST, {"first": 1, "after": "not-a-cursor"})
    assert garbage["errors"][0]["extensions"]["code"] == "INVALID"


def test_search_is_a_case_insensitive_prefix_of_name_email_or_phone(api):
    create_customer(api, email="ann.lee@example.com", firstName="Ann", lastName="Lee")
    create_customer(api, email="bob@example.com", firstName="Bob", lastName="Annan", phone="+14155552671")
    create_customer(api, email="zed@example.com", firstName="Zed", lastName="Ng")
    assert sorted(emails(api, filter={"search": "ANN"})) == ["ann.lee@example.com", "bob@example.com"]
    assert emails(api, filter={"search": "ann lee"}) == ["ann.lee@example.com"]
    assert emails(api, filter={"search": "zed@"}) == ["zed@example.com"]
    assert emails(api, filter={"search": "+1415"}) == ["bob@example.com"]
    assert emails(api, filter={"search": "%"}) == []
    assert emails(api, filter={"search": "nn"}) == []


def test_filters_by_stage_tier_manager_dates_segment_and_loyalty_tier(api, staff):
    lead = create_customer(api, email="lead@example.com")
    vip = create_customer(api, email="vip@example.com", lifecycleStage="PROSPECT")
    record_order(api, vip["id"], "big", amount="12000")
    manager = global_id("StaffUser", staff["account_manager"].id)
    api.data("""mutation($id: ID!, $m: ID) { customerAssignManager(customerId: $id, staffUserId: $m) {
      errors { code } } }""", {"id": vip["id"], "m": manager})
    assert emails(api, filter={"lifecycleStages": ["NEW"]}) == ["vip@example.com"]
    assert emails(api, filter={"lifecycleStages": ["LEAD", "NEW"], "serviceTiers": ["STANDARD"]}) == [
        "lead@example.com"]
    assert emails(api, filter={"serviceTiers": ["VIP"]}) == ["vip@example.com"]
    assert emails(api, filter={"accountManagerId": manager}) == ["vip@example.com"]
    assert emails(api, filter={"createdBefore": "2000-01-01T00:00:00Z"}) == []
    assert len(emails(api, filter={"createdAfter": "2000-01-01T00:00:00Z"})) == 2
    # No segment exists yet, so no customer is in one.
    assert emails(api, filter={"segmentId": global_id("Segment", "00000000-0000-0000-0000-000000000001")}) == []
    # 12,000 points from the order reach Gold; a customer with no points holds the entry tier.
    assert emails(api, filter={"loyaltyTier": "member"}) == ["lead@example.com"]
    assert emails(api, filter={"loyaltyTier": "gold"}) == ["vip@example.com"]
    assert emails(api, filter={"loyaltyTier": "silver"}) == []
    body = api(LIST, {"filter": {"accountManagerId": lead["id"]}})
    assert body["errors"][0]["extensions"] == {"code": "INVALID", "field": "filter.accountManagerId"}


def test_tampered_cursors_are_invalid_not_internal(api):
    import base64
    import json
    create_customer(api, email="a@example.com")

    def cursor(*values):
        raw = json.dumps(list(values)).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    for bad in (cursor("customers:CREATED_AT:desc", "2026-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"),
                cursor("customers:TOTAL_SPENT:desc", "1.000001", "00000000-0000-0000-0000-000000000000"),
                cursor("customers:TOTAL_SPENT:desc", "NaN", "00000000-0000-0000-0000-000000000000"),
                cursor("customers:CREATED_AT:desc", "2026-01-01T00:00:00+00:00", "not-a-uuid")):
        ordering = {"field": "TOTAL_SPENT", "direction": "DESC"} if "TOTAL_SPENT" in base64.urlsafe_b64decode(
            bad + "=" * (-len(bad) % 4)).decode() else None
        body = api(LIST, {"first": 1, "after": bad, "orderBy": ordering})
        assert body["errors"][0]["extensions"]["code"] == "INVALID", body


def test_a_datetime_without_an_offset_is_refused_with_a_clear_error(api):
    create_customer(api, email="a@example.com")
    body = api(LIST, {"filter": {"createdAfter": "2026-01-01T00:00:00"}}, status=200)
    assert body["data"] is None
    assert "has no offset" in body["errors"][0]["message"]
    assert "Internal" not in body["errors"][0]["message"]
    assert len(emails(api, filter={"createdAfter": "2000-01-01T00:00:00Z"})) == 1
    assert len(emails(api, filter={"createdAfter": "2000-01-01T02:00:00+02:00"})) == 1
