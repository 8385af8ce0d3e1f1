"""The customer profile: validation, normalisation, stages, tiers, managers, lookups."""
from tests.helpers import CREATE, create_customer, raw_id

UPDATE = """mutation($id: ID!, $input: CustomerUpdateInput!) { customerUpdate(id: $id, input: $input) {
  customer { email phone firstName lastName timezone locale birthday attributes } errors { field code message } } }"""
TRANSITION = """mutation($id: ID!, $to: LifecycleStage!, $reason: String) {
  customerTransitionStage(customerId: $id, toStage: $to, reason: $reason) {
    customer { lifecycleStage lifecycleHistory { fromStage toStage reason actor } } errors { field code message } } }"""
SET_TIER = """mutation($id: ID!, $tier: ServiceTier, $reason: String) {
  customerSetServiceTier(customerId: $id, tier: $tier, reason: $reason) {
    customer { serviceTier serviceTierPinned serviceTierHistory { fromTier toTier pinned reason actor } }
    errors { field code message } } }"""


def errors_of(api, query, variables, key, as_="admin"):
    return api.data(query, variables, as_=as_)[key]["errors"]


def test_create_normalises_email_phone_and_locale(api):
    customer = create_customer(api, email="  Ann.Lee@Example.COM ", phone="+44 20 7946 0958", firstName=" Ann ",
                               lastName="Lee", timezone="Europe/London", locale="en_gb", attributes={"source": "web"})
    assert customer["email"] == "ann.lee@example.com"
    assert customer["phone"] == "+442079460958"
    assert customer["firstName"] == "Ann"
    assert customer["locale"] == "en-GB"
    assert customer["displayName"] == "Ann Lee"
    assert customer["attributes"] == {"source": "web"}
    assert customer["lifecycleStage"] == "LEAD"
    assert customer["serviceTier"] == "STANDARD"


def test_default_timezone_comes_from_config(api, app):
    app.config["DEFAULT_TIMEZONE"] = "Europe/Paris"
    customer = create_customer(api, externalId="ext-1", timezone="Asia/Tokyo")
    assert customer["timezone"] == "Asia/Tokyo"
    reset = api.data(UPDATE, {"id": customer["id"], "input": {"timezone": None}})["customerUpdate"]
    assert reset == {"customer": {"email": None, "phone": None, "firstName": None, "lastName": None,
                                  "timezone": "Europe/Paris", "locale": None, "birthday": None, "attributes": {}},
                     "errors": []}


def test_email_is_unique_case_insensitively(api):
    create_customer(api, email="ann@example.com")
    errors = errors_of(api, CREATE, {"input": {"email": "ANN@example.com"}}, "customerCreate")
    assert errors == [{"field": "email", "code": "DUPLICATE", "message": "Another customer already has this email."}]
    total = api.data("{ customers { totalCount } }")["customers"]["totalCount"]
    assert total == 1


def test_external_id_is_unique(api):
    create_customer(api, externalId="shop-1")
    errors = errors_of(api, CREATE, {"input": {"externalId": "shop-1"}}, "customerCreate")
    assert [(e["field"], e["code"]) for e in errors] == [("externalId", "DUPLICATE")]


def test_one_identity_is_required(api):
    errors = errors_of(api, CREATE, {"input": {"firstName": "Nobody"}}, "customerCreate")
    assert errors == [{"field": "email", "code": "REQUIRED",
                       "message": "Give at least one of email, phone or externalId."}]


def test_invalid_fields_are_named_and_nothing_is_written(api):
    errors = errors_of(api, CREATE, {"input": {"email": "not-an-email", "phone": "+44 12", "timezone": "Mars/Olympus",
                                               "locale": "english!"}}, "customerCreate")
    assert sorted((e["field"], e["code"]) for e in errors) == [
        ("email", "INVALID"), ("locale", "INVALID"), ("phone", "INVALID"), ("timezone", "INVALID")]
    assert api.data("{ customers { totalCount } }")["customers"]["totalCount"] == 0


def test_update_merges_attributes_and_null_removes_a_key(api):
    customer = create_customer(api, email="a@example.com", attributes={"a": 1, "b": 2})
    payload = api.data(UPDATE, {"id": customer["id"], "input": {"attributes": {"b": None, "c": 3},
                                                                  "lastName": "Smith"}})["customerUpdate"]
    assert payload["errors"] == []
    assert payload["customer"]["attributes"] == {"a": 1, "c": 3}
    assert payload["customer"]["lastName"] == "Smith"
    assert payload["customer"]["email"] == "a@example.com"


def test_update_cannot_remove_the_last_identity(api):
    customer = create_customer(api, email="a@example.com")
    errors = errors_of(api, UPDATE, {"id": customer["id"], "input": {"email": None}}, "customerUpdate")
    assert [(e["field"], e["code"]) for e in errors] == [("email", "REQUIRED")]


def test_update_to_a_taken_email_is_a_duplicate(api):
    create_customer(api, email="taken@example.com")
    other = create_customer(api, email="b@example.com")
    errors = errors_of(api, UPDATE, {"id": other["id"], "input": {"email": "Taken@Example.com"}}, "customerUpdate")
    assert [(e["field"], e["code"]) for e in errors] == [("email", "DUPLICATE")]


def test_update_of_unknown_customer_is_not_found(api):
    unknown = "Q3VzdG9tZXI6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"
    errors = errors_of(api, UPDATE, {"id": unknown, "input": {"firstName": "X"}}, "customerUpdate")
    assert [(e["field"], e["code"]) for e in errors] == [("id", "NOT_FOUND")]


def test_consents_latest_value_per_channel(api):
    customer = create_customer(api, email="c@example.com")
    mutation = """mutation($id: ID!, $ch: Channel!, $g: Boolean!) { customerSetConsent(customerId: $id, channel: $ch,
      granted: $g, source: "preference-centre") { customer { consents { channel granted source } } errors { code } } }"""
    api.data(mutation, {"id": customer["id"], "ch": "EMAIL", "g": True})
    api.data(mutation, {"id": customer["id"], "ch": "SMS", "g": True})
    payload = api.data(mutation, {"id": customer["id"], "ch": "EMAIL", "g": False})["customerSetConsent"]
    assert payload["customer"]["consents"] == [
        {"channel": "EMAIL", "granted": False, "source": "preference-centre"},
        {"channel": "SMS", "granted": True, "source": "preference-centre"},
    ]


def test_stage_machine_allows_only_listed_moves_and_records_history(api, staff):
    customer = create_customer(api, email="s@example.com", as_="account_manager")
    moved = api.data(TRANSITION, {"id": customer["id"], "to": "PROSPECT", "reason": "demo booked"},
                     as_="account_manager")["customerTransitionStage"]
    assert moved["errors"] == []
    assert moved["customer"]["lifecycleHistory"] == [
        {"fromStage": None, "toStage": "LEAD", "reason": "created", "actor": "account_manager@example.com"},
        {"fromStage": "LEAD", "toStage": "PROSPECT", "reason": "demo booked", "actor": "account_manager@example.com"},
    ]
    refused = api.data(TRANSITION, {"id": customer["id"], "to": "LOYAL"})["customerTransitionStage"]
    assert refused["customer"] is None
    assert refused["errors"] == [{"field": "toStage", "code": "INVALID_TRANSITION",
                                  "message": "A customer cannot move from PROSPECT to LOYAL; allowed: CHURNED, NEW."}]
    current = api.data("query($id: ID!) { customer(id: $id) { lifecycleStage lifecycleHistory { toStage } } }",
                       {"id": customer["id"]})["customer"]
    assert current == {"lifecycleStage": "PROSPECT", "lifecycleHistory": [{"toStage": "LEAD"}, {"toStage": "PROSPECT"}]}


def test_every_allowed_and_refused_move(api):
    allowed = {
        "LEAD": {"PROSPECT", "NEW", "CHURNED"}, "PROSPECT": {"NEW", "CHURNED"},
        "NEW": {"DEVELOPING", "AT_RISK", "CHURNED"}, "DEVELOPING": {"LOYAL", "AT_RISK", "CHURNED"},
        "LOYAL": {"ADVOCATE", "AT_RISK", "CHURNED"}, "ADVOCATE": {"LOYAL", "AT_RISK", "CHURNED"},
        "AT_RISK": {"NEW", "DEVELOPING", "LOYAL", "ADVOCATE", "CHURNED"}, "CHURNED": {"NEW"},
    }
    stages = list(allowed)
    for index, source in enumerate(stages):
        customer = create_customer(api, externalId=f"m-{index}", lifecycleStage=source)
        for target in stages:
            if target == source:
                continue
            result = api.data(TRANSITION, {"id": customer["id"], "to": target})["customerTransitionStage"]
            if target in allowed[source]:
                assert result["errors"] == [], (source, target)
                back = api.data(TRANSITION, {"id": customer["id"], "to": source})["customerTransitionStage"]
                if back["errors"]:
                    # No way back directly: start again from a fresh customer in the source stage.
                    customer = create_customer(api, externalId=f"m-{index}-{target}", lifecycleStage=source)
            else:
                assert [e["code"] for e in result["errors"]] == ["INVALID_TRANSITION"], (source, target)


def test_service_tier_pin_and_unpin_are_recorded(api):
    customer = create_customer(api, email="t@example.com")
    pinned = api.data(SET_TIER, {"id": customer["id"], "tier": "VIP", "reason": "key account"})["customerSetServiceTier"]
    assert pinned["customer"]["serviceTier"] == "VIP"
    assert pinned["customer"]["serviceTierPinned"] is True
    unpinned = api.data(SET_TIER, {"id": customer["id"], "tier": None})["customerSetServiceTier"]
    assert unpinned["customer"]["serviceTier"] == "STANDARD"
    assert unpinned["customer"]["serviceTierPinned"] is False
    assert unpinned["customer"]["serviceTierHistory"] == [
        {"fromTier": "STANDARD", "toTier": "VIP", "pinned": True, "reason": "key account", "actor": "admin@example.com"},
        {"fromTier": "VIP", "toTier": "STANDARD", "pinned": False, "reason": "unpinned: automatic rules apply",
         "actor": "admin@example.com"},
    ]


def test_assign_and_remove_account_manager(api, staff):
    from crm.api.ids import global_id
    customer = create_customer(api, email="m@example.com")
    manager_id = global_id("StaffUser", staff["account_manager"].id)
    mutation = """mutation($id: ID!, $staff: ID) { customerAssignManager(customerId: $id, staffUserId: $staff) {
      customer { accountManager { name email role } } errors { field code } } }"""
    assigned = api.data(mutation, {"id": customer["id"], "staff": manager_id})["customerAssignManager"]
    assert assigned["customer"]["accountManager"] == {"name": "Mia Manager", "email": "account_manager@example.com",
                                                      "role": "ACCOUNT_MANAGER"}
    unknown = global_id("StaffUser", "00000000-0000-0000-0000-000000000000")
    missing = api.data(mutation, {"id": customer["id"], "staff": unknown})["customerAssignManager"]
    assert missing["errors"] == [{"field": "staffUserId", "code": "NOT_FOUND"}]
    removed = api.data(mutation, {"id": customer["id"], "staff": None})["customerAssignManager"]
    assert removed["customer"]["accountManager"] is None


def test_customer_lookup_by_id_email_external_id_and_node(api):
    customer = create_customer(api, email="look@example.com", externalId="crm-42")
    by_email = api.data('{ customer(email: "LOOK@example.com") { id } }')["customer"]
    by_external = api.data('{ customer(externalId: "crm-42") { id } }')["customer"]
    by_node = api.data("query($id: ID!) { node(id: $id) { id ... on Customer { email } } }", {"id": customer["id"]})
    by_raw = api.data("query($id: ID!) { customer(id: $id) { id } }", {"id": str(raw_id(customer["id"]))})["customer"]
    assert by_email == by_external == by_raw == {"id": customer["id"]}
    assert by_node == {"node": {"id": customer["id"], "email": "look@example.com"}}
    assert api.data('{ customer(email: "nobody@example.com") { id } }') == {"customer": None}
    both = api('{ customer(email: "a@b.co", externalId: "x") { id } }')
    assert both["errors"][0]["message"] == "Give exactly one of id, email or externalId."
