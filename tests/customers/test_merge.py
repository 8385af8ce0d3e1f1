"""Merging duplicates: everything moves to the primary and the duplicate stops resolving."""
from crm.api.ids import global_id
from tests.helpers import create_customer, raw_id, record_order

MERGE = """mutation($p: ID!, $d: ID!) { customerMerge(primaryId: $p, duplicateId: $d) {
  customer { id email phone externalId firstName attributes lifecycleStage serviceTier
    metrics { orderCount totalSpent firstOrderAt lastOrderAt }
    consents { channel granted source }
    orders(first: 10) { totalCount edges { node { externalId customer { id } } } }
    lifecycleHistory { fromStage toStage reason } accountManager { email } }
  errors { field code message } } }"""
CONSENT = """mutation($id: ID!, $ch: Channel!, $g: Boolean!, $s: String) {
  customerSetConsent(customerId: $id, channel: $ch, granted: $g, source: $s) { errors { code } } }"""


def test_merge_moves_orders_consents_history_and_profile(api, staff):
    primary = create_customer(api, email="ann@example.com", firstName="Ann", attributes={"a": 1})
    duplicate = create_customer(api, phone="+442079460958", externalId="shop-9", firstName="Annie",
                                attributes={"a": 2, "b": 3}, lifecycleStage="PROSPECT")
    record_order(api, primary["id"], "p-1", amount="100.00", occurred_at="2026-03-01T10:00:00+00:00")
    record_order(api, duplicate["id"], "d-1", amount="50.50", occurred_at="2026-01-01T10:00:00+00:00")
    record_order(api, duplicate["id"], "d-2", amount="25.25", occurred_at="2026-05-01T10:00:00+00:00")
    api.data(CONSENT, {"id": primary["id"], "ch": "EMAIL", "g": True, "s": "old"})
    api.data(CONSENT, {"id": duplicate["id"], "ch": "EMAIL", "g": False, "s": "newer"})
    api.data(CONSENT, {"id": duplicate["id"], "ch": "SMS", "g": True, "s": "dup-only"})
    api.data(CONSENT, {"id": primary["id"], "ch": "PUSH", "g": True, "s": "primary-newest"})
    manager = global_id("StaffUser", staff["account_manager"].id)
    api.data("""mutation($id: ID!, $m: ID) { customerAssignManager(customerId: $id, staffUserId: $m) {
      errors { code } } }""", {"id": duplicate["id"], "m": manager})

    payload = api.data(MERGE, {"p": primary["id"], "d": duplicate["id"]})["customerMerge"]
    assert payload["errors"] == []
    merged = payload["customer"]
    assert merged["id"] == primary["id"]
    assert (merged["email"], merged["phone"], merged["externalId"], merged["firstName"]) == (
        "ann@example.com", "+442079460958", "shop-9", "Ann")
    assert merged["attributes"] == {"a": 1, "b": 3}
    assert merged["metrics"] == {"orderCount": 3, "totalSpent": "175.75", "firstOrderAt": "2026-01-01T10:00:00+00:00",
                                 "lastOrderAt": "2026-05-01T10:00:00+00:00"}
    assert merged["orders"]["totalCount"] == 3
    assert {e["node"]["externalId"] for e in merged["orders"]["edges"]} == {"p-1", "d-1", "d-2"}
    assert {e["node"]["customer"]["id"] for e in merged["orders"]["edges"]} == {primary["id"]}
    assert merged["consents"] == [
        {"channel": "EMAIL", "granted": False, "source": "newer"},
        {"channel": "PUSH", "granted": True, "source": "primary-newest"},
        {"channel": "SMS", "granted": True, "source": "dup-only"},
    ]
    assert merged["accountManager"] == {"email": "account_manager@example.com"}
    reasons = [h["reason"] for h in merged["lifecycleHistory"]]
    assert sum(r.startswith("merged from customer") for r in reasons) >= 2

    gone = api.data("query($id: ID!) { customer(id: $id) { id } node(id: $id) { id } }", {"id": duplicate["id"]})
    assert gone == {"customer": None, "node": None}
    assert api.data('{ customer(externalId: "shop-9") { id } }')["customer"] == {"id": primary["id"]}
    assert api.data("{ customers { totalCount } }")["customers"]["totalCount"] == 1


def test_merge_into_itself_is_refused(api):
    customer = create_customer(api, email="self@example.com")
    payload = api.data(MERGE, {"p": customer["id"], "d": customer["id"]})["customerMerge"]
    assert payload == {"customer": None, "errors": [{"field": "duplicateId", "code": "INVALID",
                                                     "message": "A customer cannot be merged into itself."}]}


def test_merging_an_already_merged_duplicate_is_not_found(api):
    primary = create_customer(api, email="p@example.com")
    duplicate = create_customer(api, email="d@example.com")
    assert api.data(MERGE, {"p": primary["id"], "d": duplicate["id"]})["customerMerge"]["errors"] == []
    again = api.data(MERGE, {"p": primary["id"], "d": duplicate["id"]})["customerMerge"]
    assert [(e["field"], e["code"]) for e in again["errors"]] == [("duplicateId", "NOT_FOUND")]


def test_duplicate_email_is_free_again_after_merge(api):
    primary = create_customer(api, email="p@example.com")
    duplicate = create_customer(api, email="d@example.com")
    api.data(MERGE, {"p": primary["id"], "d": duplicate["id"]})
    assert create_customer(api, email="d@example.com")["email"] == "d@example.com"


def test_merge_reapplies_stage_and_tier_rules(api):
    primary = create_customer(api, email="p@example.com")
    duplicate = create_customer(api, email="d@example.com")
    record_order(api, primary["id"], "a", amount="6000", occurred_at="2026-09-01T10:00:00+00:00")
    for key, month in (("b", "07"), ("c", "08")):
        record_order(api, duplicate["id"], key, amount="2500", occurred_at=f"2026-{month}-01T10:00:00+00:00")
    merged = api.data(MERGE, {"p": primary["id"], "d": duplicate["id"]})["customerMerge"]["customer"]
    assert (merged["lifecycleStage"], merged["serviceTier"]) == ("DEVELOPING", "VIP")


def test_merge_revokes_the_duplicates_portal_tokens(api, portal_token):
    primary = create_customer(api, email="p@example.com", firstName="Primary")
    duplicate = create_customer(api, email="d@example.com", firstName="Dup")
    api.tokens["dup-portal"] = portal_token(raw_id(duplicate["id"]))
    api.tokens["primary-portal"] = portal_token(raw_id(primary["id"]))
    assert api.data(MERGE, {"p": primary["id"], "d": duplicate["id"]})["customerMerge"]["errors"] == []
    api("{ viewer { customer { firstName } } }", as_="dup-portal", status=401)
    assert api.data("{ viewer { customer { firstName } } }", as_="primary-portal") == {
        "viewer": {"customer": {"firstName": "Primary"}}}
