"""Authentication (bearer tokens, the `crm tokens create` command) and role permissions,
through the GraphQL HTTP API."""
from __future__ import annotations

import hashlib
import re
import uuid

import pytest
from sqlalchemy import text

from crm.enums import Role
from tests.helpers import create_customer, raw_id, record_order

UNAUTHENTICATED = {"errors": [{
    "message": "Authentication required: send `Authorization: Bearer <token>` with a valid token.",
    "extensions": {"code": "UNAUTHENTICATED"}}]}

VIEWER = "{ viewer { role staffUser { email } customer { id } } }"

SNAPSHOT = """query($id: ID!) { customer(id: $id) {
  id email phone firstName lastName displayName lifecycleStage serviceTier serviceTierPinned
  accountManager { email } consents { channel granted source }
  lifecycleHistory { fromStage toStage } metrics { orderCount totalSpent } } }"""

CUSTOMER_COUNT = "{ customers { totalCount } }"


def post(client, token_header: str | None, query: str = "{ __typename }", variables: dict | None = None):
    headers = {"Authorization": token_header} if token_header is not None else {}
    return client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def snapshot(api, customer_id: str) -> dict:
    return api.data(SNAPSHOT, {"id": customer_id})["customer"]


def customer_count(api) -> int:
    return api.data(CUSTOMER_COUNT)["customers"]["totalCount"]


def last_line(output: str) -> str:
    return output.rstrip("\n").splitlines()[-1]


# --- Authentication ------------------------------------------------------------------------------

def test_a_valid_bearer_token_authenticates(client, tokens):
    response = post(client, f"Bearer {tokens['admin']}", VIEWER)
    assert response.status_code == 200
    assert response.get_json() == {"data": {"viewer": {
        "role": "ADMIN", "staffUser": {"email": "admin@example.com"}, "customer": None}}}


def test_the_bearer_scheme_is_case_insensitive(client, tokens):
    response = post(client, f"bearer {tokens['marketer']}", "{ viewer { role } }")
    assert response.status_code == 200
    assert response.get_json() == {"data": {"viewer": {"role": "MARKETER"}}}


def test_a_request_without_authorization_is_401(client, tokens):
    response = post(client, None)
    assert response.status_code == 401
    assert response.get_json() == UNAUTHENTICATED


@pytest.mark.parametrize("header", [
    "", "Bearer", "Bearer ", "Bearer    ", "Basic dXNlcjpwYXNz", "Token {admin}", "{admin}", "Bearer{admin}",
])
def test_a_malformed_authorization_header_is_401(client, tokens, header):
    response = post(client, header.format(admin=tokens["admin"]))
    assert response.status_code == 401
    assert response.get_json() == UNAUTHENTICATED


@pytest.mark.parametrize("token", ["crm_not-a-real-token", "{admin}x", "{admin} extra"])
def test_an_unknown_token_is_401(client, tokens, token):
    response = post(client, "Bearer " + token.format(admin=tokens["admin"]))
    assert response.status_code == 401
    assert response.get_json() == UNAUTHENTICATED


def test_a_revoked_token_is_401(client, tokens, ctx):
    assert post(client, f"Bearer {tokens['support_agent']}").status_code == 200
    from crm.auth.models import ApiToken
    from crm.auth.services import hash_token
    from crm.db import utcnow
    row = ctx.query(ApiToken).filter_by(token_hash=hash_token(tokens["support_agent"])).one()
    row.revoked_at = utcnow()
    ctx.commit()

    response = post(client, f"Bearer {tokens['support_agent']}")
    assert response.status_code == 401
    assert response.get_json() == UNAUTHENTICATED
    assert post(client, f"Bearer {tokens['admin']}").status_code == 200  # the others still work


def test_the_401_comes_before_the_body_is_looked_at(client):
    response = client.post("/graphql", data="not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.get_json() == UNAUTHENTICATED


def test_tokens_are_stored_only_as_sha256(app, tokens, ctx):
    rows = ctx.execute(text("SELECT * FROM api_token")).mappings().all()
    assert len(rows) == len(tokens) == 5
    stored = {row["token_hash"] for row in rows}
    assert stored == {hashlib.sha256(token.encode()).hexdigest() for token in tokens.values()}
    every_value = " ".join(str(value) for row in rows for value in row.values())
    for token in tokens.values():
        assert token.startswith("crm_")
        assert token not in every_value
        assert token[len("crm_"):] not in every_value


# --- crm tokens create ---------------------------------------------------------------------------

def test_cli_creates_an_admin_token_printed_alone_on_the_last_line(runner, client, ctx):
    result = runner.invoke(args=["tokens", "create", "--role", "ADMIN", "--label", "ops"])
    assert result.exit_code == 0, result.output
    token = last_line(result.output)
    assert token.startswith("crm_") and " " not in token
    assert len(result.output.rstrip("\n").splitlines()) == 2
    assert token not in result.output.rstrip("\n").splitlines()[0]

    response = post(client, f"Bearer {token}", VIEWER)
    assert response.get_json() == {"data": {"viewer": {"role": "ADMIN", "staffUser": None, "customer": None}}}
    stored = ctx.execute(text("SELECT token_hash, label, role FROM api_token")).all()
    assert [tuple(row) for row in stored] == [(hashlib.sha256(token.encode()).hexdigest(), "ops", "ADMIN")]


def test_cli_creates_a_staff_token_with_a_lower_case_role(runner, client, staff):
    result = runner.invoke(args=["tokens", "create", "--role", "account_manager", "--staff", "ACCOUNT_MANAGER@example.com"])
    assert result.exit_code == 0, result.output
    response = post(client, f"Bearer {last_line(result.output)}", VIEWER)
    assert response.get_json() == {"data": {"viewer": {
        "role": "ACCOUNT_MANAGER", "staffUser": {"email": "account_manager@example.com"}, "customer": None}}}


@pytest.mark.parametrize("id_form", ["global", "raw"])
def test_cli_creates_a_portal_token_from_a_global_or_raw_customer_id(runner, client, api, id_form):
    customer = create_customer(api, email="pat@example.com")
    given = customer["id"] if id_form == "global" else str(raw_id(customer["id"]))
    result = runner.invoke(args=["tokens", "create", "--role", "PORTAL", "--customer", given])
    assert result.exit_code == 0, result.output
    response = post(client, f"Bearer {last_line(result.output)}", VIEWER)
    assert response.get_json() == {"data": {"viewer": {
        "role": "PORTAL", "staffUser": None, "customer": {"id": customer["id"]}}}}


def test_cli_refuses_a_portal_token_without_customer(runner, ctx):
    result = runner.invoke(args=["tokens", "create", "--role", "PORTAL"])
    assert result.exit_code == 1
    assert last_line(result.output) == \
        "Error: REQUIRED (customer): A PORTAL token is bound to one customer: give --customer."
    assert "crm_" not in result.output
    assert ctx.execute(text("SELECT count(*) FROM api_token")).scalar() == 0


@pytest.mark.parametrize("args, error", [
    (["--role", "PORTAL", "--customer", "not-an-id"], "Error: INVALID (customer): Expected the id of a Customer."),
    (["--role", "PORTAL", "--customer", str(uuid.UUID(int=7))], "Error: NOT_FOUND (customer): No customer has this id."),
    (["--role", "ADMIN", "--customer", "{customer}"], "Error: INVALID (customer): Only PORTAL tokens are bound to a customer."),
    (["--role", "MARKETER"], "Error: REQUIRED (staff): A MARKETER token belongs to a staff user: give --staff."),
    (["--role", "MARKETER", "--staff", "nobody@example.com"],
     "Error: NOT_FOUND (staff): No staff user has the email nobody@example.com."),
    (["--role", "ADMIN", "--staff", "marketer@example.com"],
     "Error: INVALID (role): marketer@example.com has the role MARKETER, not ADMIN."),
])
def test_cli_token_errors(runner, api, ctx, args, error):
    customer = create_customer(api, email="pat@example.com")
    before = ctx.execute(text("SELECT count(*) FROM api_token")).scalar()
    result = runner.invoke(args=["tokens", "create", *[a.format(customer=customer["id"]) for a in args]])
    assert result.exit_code == 1
    assert last_line(result.output) == error
    assert ctx.execute(text("SELECT count(*) FROM api_token")).scalar() == before


# --- Roles ---------------------------------------------------------------------------------------

MUTATIONS = {
    "CustomerCreate": ('mutation { m: customerCreate(input: {email: "new@example.com"}) '
                       '{ customer { id } errors { field code message } } }'),
    "CustomerUpdate": ('mutation($id: ID!) { m: customerUpdate(id: $id, input: {firstName: "Changed"}) '
                       '{ customer { id } errors { field code message } } }'),
    "CustomerSetConsent": ('mutation($id: ID!) { m: customerSetConsent(customerId: $id, channel: EMAIL, granted: true) '
                           '{ customer { id } errors { field code message } } }'),
    "CustomerTransitionStage": ('mutation($id: ID!) { m: customerTransitionStage(customerId: $id, toStage: PROSPECT) '
                                '{ customer { id } errors { field code message } } }'),
    "CustomerSetServiceTier": ('mutation($id: ID!) { m: customerSetServiceTier(customerId: $id, tier: VIP) '
                               '{ customer { id } errors { field code message } } }'),
    "CustomerAssignManager": ('mutation($id: ID!, $staff: ID) { m: customerAssignManager(customerId: $id, staffUserId: $staff) '
                              '{ customer { id } errors { field code message } } }'),
    "CustomerMerge": ('mutation($id: ID!, $other: ID!) { m: customerMerge(primaryId: $id, duplicateId: $other) '
                      '{ customer { id } errors { field code message } } }'),
    "OrderRecord": ('mutation($id: ID!) { m: orderRecord(input: {customerId: $id, externalId: "o-1", amount: "10.00", '
                    'currency: "EUR", channel: WEB, occurredAt: "2026-01-01T00:00:00+00:00"}) '
                    '{ order { id } customer { id } errors { field code message } } }'),
}

ROLE_MUTATIONS = {
    "support_agent": list(MUTATIONS),
    "marketer": list(MUTATIONS),
    "integration": [m for m in MUTATIONS if m != "OrderRecord"],
}


def _forbidden_cases():
    for role, names in ROLE_MUTATIONS.items():
        for name in names:
            yield role, name


@pytest.mark.parametrize("role, mutation", list(_forbidden_cases()))
def test_mutations_denied_to_a_role_return_forbidden_and_change_nothing(api, staff, role, mutation):
    ann = create_customer(api, email="ann@example.com", firstName="Ann")
    bob = create_customer(api, email="bob@example.com", firstName="Bob")
    before = (snapshot(api, ann["id"]), snapshot(api, bob["id"]))
    variables = {"id": ann["id"], "other": bob["id"], "staff": str(staff["account_manager"].id)}
    used = {k: v for k, v in variables.items() if f"${k}" in MUTATIONS[mutation]}

    payload = api.data(MUTATIONS[mutation], used, as_=role)["m"]

    role_name = role.upper()
    assert payload["errors"] == [{"field": None, "code": "FORBIDDEN",
                                  "message": f"The {role_name} role may not use {mutation}."}]
    assert payload["customer"] is None
    assert (snapshot(api, ann["id"]), snapshot(api, bob["id"])) == before
    assert customer_count(api) == 2
    assert api.data("{ customer(email: \"new@example.com\") { id } }") == {"customer": None}


@pytest.mark.parametrize("role", ["admin", "account_manager"])
def test_admin_and_account_manager_manage_customers(api, staff, role):
    ann = create_customer(api, as_=role, email="ann@example.com", firstName="Ann")
    bob = create_customer(api, as_=role, email="bob@example.com")
    variables = {"id": ann["id"], "other": bob["id"], "staff": str(staff["account_manager"].id)}
    for name, document in MUTATIONS.items():
        if name == "CustomerCreate":
            continue
        used = {k: v for k, v in variables.items() if f"${k}" in document}
        payload = api.data(document, used, as_=role)["m"]
        assert payload["errors"] == [], (name, payload)
        assert payload["customer"] == {"id": ann["id"]}, name

    after = snapshot(api, ann["id"])
    assert after["firstName"] == "Changed"
    # PROSPECT by hand, then NEW by the rules on the first order (the merge also moved bob's history in)
    assert after["lifecycleStage"] == "NEW"
    assert [(h["fromStage"], h["toStage"]) for h in after["lifecycleHistory"]][-2:] == [
        ("LEAD", "PROSPECT"), ("PROSPECT", "NEW")]
    assert after["serviceTier"] == "VIP" and after["serviceTierPinned"] is True
    assert after["accountManager"] == {"email": "account_manager@example.com"}
    assert after["consents"] == [{"channel": "EMAIL", "granted": True, "source": "account_manager@example.com"
                                  if role == "account_manager" else "admin@example.com"}]
    assert after["metrics"] == {"orderCount": 1, "totalSpent": "10.00"}
    assert api.data(SNAPSHOT, {"id": bob["id"]}) == {"customer": None}  # merged away
    assert customer_count(api) == 1


@pytest.mark.parametrize("role", ["admin", "account_manager", "support_agent", "integration"])
def test_staff_and_integration_read_customers_unmasked(api, role):
    ann = create_customer(api, email="ann.lee@example.com", phone="+447911123456")
    data = api.data("{ customers { totalCount edges { node { id email phone displayName } } } }", as_=role)
    assert data == {"customers": {"totalCount": 1, "edges": [{"node": {
        "id": ann["id"], "email": "ann.lee@example.com", "phone": "+447911123456",
        "displayName": "ann.lee@example.com"}}]}}


def test_marketer_reads_customers_with_masked_email_phone_and_display_name(api):
    by_email = create_customer(api, email="ann.lee@example.com", phone="+447911123456")
    by_phone = create_customer(api, phone="+12025550143")
    named = create_customer(api, email="zed@example.org", firstName="Zed", lastName="Zulu")
    query = "{ customers { edges { node { id email phone displayName } } } }"
    nodes = {e["node"]["id"]: e["node"] for e in api.data(query, as_="marketer")["customers"]["edges"]}
    assert nodes == {
        by_email["id"]: {"id": by_email["id"], "email": "a***@example.com", "phone": "+44********56",
                         "displayName": "a***@example.com"},
        by_phone["id"]: {"id": by_phone["id"], "email": None, "phone": "+1********43",
                         "displayName": "+1********43"},
        named["id"]: {"id": named["id"], "email": "z***@example.org", "phone": None, "displayName": "Zed Zulu"},
    }
    one = api.data('query($id: ID!) { customer(id: $id) { email phone } node(id: $id) { ... on Customer { email } } }',
                   {"id": by_email["id"]}, as_="marketer")
    assert one == {"customer": {"email": "a***@example.com", "phone": "+44********56"},
                   "node": {"email": "a***@example.com"}}


def test_integration_records_orders_and_reads_customers(api):
    ann = create_customer(api, email="ann@example.com")
    payload = record_order(api, ann["id"], "shop-1", amount="25.50", as_="integration")
    assert payload["errors"] == []
    assert payload["order"]["externalId"] == "shop-1"
    assert payload["customer"]["metrics"]["orderCount"] == 1
    data = api.data('query($id: ID!) { customer(id: $id) { email metrics { totalSpent } } }', {"id": ann["id"]},
                    as_="integration")
    assert data == {"customer": {"email": "ann@example.com", "metrics": {"totalSpent": "25.50"}}}


@pytest.mark.parametrize("role, field", [
    ("support_agent", "staffUsers"), ("marketer", "staffUsers"), ("integration", "staffUsers"),
])
def test_root_fields_denied_to_a_role_are_forbidden_errors(api, role, field):
    body = api(f"{{ {field} {{ totalCount }} }}", as_=role)
    assert body["data"] is None
    assert [(e["message"], e["path"], e["extensions"]) for e in body["errors"]] == [
        (f"The {role.upper()} role may not use this.", [field], {"code": "FORBIDDEN"})]


def test_staff_users_are_listed_for_managers(api, staff):
    data = api.data("{ staffUsers { totalCount edges { node { email role } } } }", as_="account_manager")
    assert data["staffUsers"]["totalCount"] == 4
    assert [e["node"]["email"] for e in data["staffUsers"]["edges"]] == [
        "admin@example.com", "marketer@example.com", "account_manager@example.com", "support_agent@example.com"]


# --- PORTAL tokens ---------------------------------------------------------------------------------

@pytest.fixture
def two_customers(api):
    own = create_customer(api, email="own@example.com", firstName="Olga", externalId="ext-own")
    other = create_customer(api, email="other@example.com", firstName="Otto", externalId="ext-other")
    return own, other


@pytest.fixture
def portal(api, portal_token, two_customers):
    """An Api posting as a PORTAL token bound to the first customer."""
    own, _ = two_customers
    api.tokens["portal"] = portal_token(raw_id(own["id"]))
    return api


def test_portal_viewer_is_its_customer(portal, two_customers):
    own, _ = two_customers
    assert portal.data(VIEWER, as_="portal") == {"viewer": {
        "role": "PORTAL", "staffUser": None, "customer": {"id": own["id"]}}}


def test_portal_reads_itself_and_nobody_else(portal, two_customers):
    own, other = two_customers
    query = """query($own: ID!, $other: ID!, $ownRaw: ID!, $otherRaw: ID!) {
      mine: customer(id: $own) { id email }
      mineRaw: customer(id: $ownRaw) { id }
      theirs: customer(id: $other) { id }
      theirsRaw: customer(id: $otherRaw) { id }
      byEmail: customer(email: "other@example.com") { id }
      byExternal: customer(externalId: "ext-other") { id }
      ownByEmail: customer(email: "own@example.com") { id }
      mineNode: node(id: $own) { id }
      theirsNode: node(id: $other) { id } }"""
    variables = {"own": own["id"], "other": other["id"], "ownRaw": str(raw_id(own["id"])),
                 "otherRaw": str(raw_id(other["id"]))}
    body = portal(query, variables, as_="portal")
    assert body == {"data": {
        "mine": {"id": own["id"], "email": "own@example.com"}, "mineRaw": {"id": own["id"]},
        "theirs": None, "theirsRaw": None, "byEmail": None, "byExternal": None,
        "ownByEmail": {"id": own["id"]}, "mineNode": {"id": own["id"]}, "theirsNode": None}}


def test_portal_cannot_reach_another_customers_orders_or_staff(portal, staff, two_customers):
    own, other = two_customers
    own_order = record_order(portal, own["id"], "o-own")["order"]["id"]
    other_order = record_order(portal, other["id"], "o-other")["order"]["id"]
    staff_id = portal.data('{ staffUsers(first: 1) { edges { node { id } } } }')["staffUsers"]["edges"][0]["node"]["id"]
    body = portal("""query($a: ID!, $b: ID!, $s: ID!) { a: node(id: $a) { id } b: node(id: $b) { id }
                     s: node(id: $s) { id } }""", {"a": own_order, "b": other_order, "s": staff_id}, as_="portal")
    assert body == {"data": {"a": {"id": own_order}, "b": None, "s": None}}


def test_portal_updates_its_own_profile(portal, two_customers):
    own, _ = two_customers
    payload = portal.data(MUTATIONS["CustomerUpdate"].replace("{ id }", "{ id firstName }"), {"id": own["id"]},
                          as_="portal")["m"]
    assert payload == {"customer": {"id": own["id"], "firstName": "Changed"}, "errors": []}
    payload = portal.data(MUTATIONS["CustomerUpdate"], {"id": str(raw_id(own["id"]))}, as_="portal")["m"]
    assert payload == {"customer": {"id": own["id"]}, "errors": []}


def test_portal_sets_its_own_consent(portal, two_customers):
    own, _ = two_customers
    payload = portal.data(MUTATIONS["CustomerSetConsent"].replace(
        "{ id }", "{ id consents { channel granted status source } }"), {"id": own["id"]}, as_="portal")["m"]
    # EMAIL from a portal waits for the address to confirm it (double opt-in, tests/customers/test_double_opt_in.py).
    assert payload == {"customer": {"id": own["id"], "consents": [
        {"channel": "EMAIL", "granted": False, "status": "PENDING", "source": "portal"}]}, "errors": []}


@pytest.mark.parametrize("mutation, field", [("CustomerUpdate", "id"), ("CustomerSetConsent", "customerId")])
@pytest.mark.parametrize("id_form", ["global", "raw"])
def test_portal_cannot_change_another_customer(portal, two_customers, mutation, field, id_form):
    own, other = two_customers
    before = (snapshot(portal, own["id"]), snapshot(portal, other["id"]))
    target = other["id"] if id_form == "global" else str(raw_id(other["id"]))
    payload = portal.data(MUTATIONS[mutation], {"id": target}, as_="portal")["m"]
    assert payload == {"customer": None, "errors": [
        {"field": field, "code": "NOT_FOUND", "message": "No customer has this id."}]}
    assert (snapshot(portal, own["id"]), snapshot(portal, other["id"])) == before


@pytest.mark.parametrize("mutation", [m for m in MUTATIONS if m not in ("CustomerUpdate", "CustomerSetConsent")])
def test_portal_is_forbidden_other_mutations_even_on_itself(portal, staff, two_customers, mutation):
    own, other = two_customers
    before = (snapshot(portal, own["id"]), snapshot(portal, other["id"]))
    variables = {"id": own["id"], "other": other["id"], "staff": str(staff["account_manager"].id)}
    used = {k: v for k, v in variables.items() if f"${k}" in MUTATIONS[mutation]}
    payload = portal.data(MUTATIONS[mutation], used, as_="portal")["m"]
    assert payload["errors"] == [{"field": None, "code": "FORBIDDEN",
                                  "message": f"The PORTAL role may not use {mutation}."}]
    assert (snapshot(portal, own["id"]), snapshot(portal, other["id"])) == before
    assert customer_count(portal) == 2


@pytest.mark.parametrize("field", ["customers", "staffUsers"])
def test_portal_is_forbidden_list_fields(portal, field):
    body = portal(f"{{ {field} {{ totalCount }} }}", as_="portal")
    assert body["data"] is None
    assert [(e["message"], e["path"], e["extensions"]) for e in body["errors"]] == [
        ("The PORTAL role may not use this.", [field], {"code": "FORBIDDEN"})]


def test_portal_token_needs_an_existing_customer(app, tokens):
    from crm.auth.services import create_token
    from crm.sessions import get_session
    from crm.errors import DomainError
    with app.app_context():
        with pytest.raises(DomainError) as missing:
            create_token(get_session(), role=Role.PORTAL)
        with pytest.raises(DomainError) as unknown:
            create_token(get_session(), role=Role.PORTAL, customer_id=uuid.uuid4())
    assert (missing.value.code, missing.value.field) == ("REQUIRED", "customer")
    assert (unknown.value.code, unknown.value.field) == ("NOT_FOUND", "customer")


# --- Permissions in the SDL ------------------------------------------------------------------------

def test_permissions_are_written_into_the_schema_descriptions(app):
    schema = app.extensions["crm.schema"].graphql_schema
    query, mutation = schema.query_type.fields, schema.mutation_type.fields
    assert query["customers"].description == (
        "Customers, filtered and ordered (default: newest first), keyset-paginated. "
        "Requires customers.read: ADMIN, ACCOUNT_MANAGER, SUPPORT_AGENT, MARKETER, INTEGRATION. "
        "For roles that see contact details masked, `search` matches names only. "
        "Filtering by segmentId requires segments.read: ADMIN, ACCOUNT_MANAGER, SUPPORT_AGENT, MARKETER.")
    assert query["customer"].description.endswith(
        "Requires customers.lookup: ADMIN, ACCOUNT_MANAGER, SUPPORT_AGENT, MARKETER, PORTAL, INTEGRATION. "
        "A PORTAL token gets null for any customer but its own; roles that see emails masked "
        "cannot look up by email.")
    assert query["staffUsers"].description.endswith("Requires staff.search: ADMIN, ACCOUNT_MANAGER.")
    assert mutation["customerCreate"].description == (
        "Create a customer. At least one of email, phone or externalId is required. "
        "Requires customers.write: ADMIN, ACCOUNT_MANAGER.")
    assert mutation["customerUpdate"].description.endswith(
        "Requires customers.profile: ADMIN, ACCOUNT_MANAGER, PORTAL.")
    assert mutation["orderRecord"].description.endswith("Requires orders.write: ADMIN, ACCOUNT_MANAGER, INTEGRATION.")
    for name, field in [*query.items(), *mutation.items()]:  # every root field declares who may use it
        assert re.search(r"Requires [a-z_]+\.[a-z_]+: [A-Z_]+(, [A-Z_]+)*\.", field.description or ""), name
    customer = schema.get_type("Customer").fields
    assert customer["email"].description == "Masked for: MARKETER."
    assert customer["phone"].description == "E.164. Masked for: MARKETER."


def test_permissions_are_in_the_printed_sdl(app):
    from crm.api.schema import sdl
    text_ = sdl(app.extensions["crm.schema"])
    assert ('"""\n  Create a customer. At least one of email, phone or externalId is required. '
            'Requires customers.write: ADMIN, ACCOUNT_MANAGER.\n  """\n  customerCreate(') in text_


def test_marketer_cannot_recover_masked_contact_details(api):
    from tests.helpers import create_customer
    create_customer(api, email="ann.lee@example.com", phone="+442079460958", firstName="Ann")
    search = """query($s: String!) { customers(filter: {search: $s}) { totalCount } }"""
    assert api.data(search, {"s": "ann.l"}, as_="admin")["customers"]["totalCount"] == 1
    assert api.data(search, {"s": "ann.l"}, as_="marketer")["customers"]["totalCount"] == 0
    assert api.data(search, {"s": "+4420"}, as_="marketer")["customers"]["totalCount"] == 0
    assert api.data(search, {"s": "ann"}, as_="marketer")["customers"]["totalCount"] == 1
    body = api('{ customer(email: "ann.lee@example.com") { id } }', as_="marketer")
    assert body["data"] == {"customer": None}
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_revoked_token_stops_working_at_once(api, runner, app):
    from crm.auth.models import ApiToken
    from crm.auth.services import hash_token
    with app.app_context():
        from crm.sessions import get_session
        token_id = get_session().query(ApiToken.id).filter_by(token_hash=hash_token(api.tokens["support_agent"])).scalar()
    result = runner.invoke(args=["tokens", "revoke", str(token_id)])
    assert result.exit_code == 0, result.output
    assert f"token {token_id} (SUPPORT_AGENT) revoked at" in result.output
    api("{ viewer { role } }", as_="support_agent", status=401)
    assert api.data("{ viewer { role } }", as_="admin") == {"viewer": {"role": "ADMIN"}}
    unknown = runner.invoke(args=["tokens", "revoke", "00000000-0000-0000-0000-000000000000"])
    assert unknown.exit_code == 1
    assert "NOT_FOUND (tokenId): No token has this id." in unknown.output


def test_portal_sees_staff_as_staff_in_its_history(api, portal_token):
    from tests.helpers import create_customer, raw_id
    customer = create_customer(api, email="own@example.com", as_="account_manager")
    api.tokens["own-portal"] = portal_token(raw_id(customer["id"]))
    history = api.data("{ viewer { customer { lifecycleHistory { actor } } } }", as_="own-portal")
    assert history == {"viewer": {"customer": {"lifecycleHistory": [{"actor": "staff"}]}}}
    staff_view = api.data("query($id: ID!) { customer(id: $id) { lifecycleHistory { actor } } }", {"id": customer["id"]})
    assert staff_view["customer"]["lifecycleHistory"] == [{"actor": "account_manager@example.com"}]
