"""portalSessionCreate: a portal's back end exchanges a customer reference for a short-lived PORTAL token; expiry
(401 TOKEN_EXPIRED with its challenge), signing out, and a merge signing a customer out everywhere.

Over real HTTP against `crm serve` where it is about HTTP. The expiry on the wire needs a later clock than the
server that made the session: a second server on the same database runs two hours ahead (CRM_CLOCK_SHIFT)."""
from __future__ import annotations

import http.client
import json
import os
from datetime import datetime, timedelta

import pytest

from tests.helpers import create_customer, raw_id
from tests.servers import CrmServer

SESSION = """mutation($customer: CustomerRef!, $ttl: Int) { portalSessionCreate(customer: $customer, ttlSeconds: $ttl) {
  token expiresAt viewer { role customer { id email } } errors { field code message } } }"""
VIEWER = "{ viewer { role customer { id } } }"
TOKENS = "{ apiTokens { edges { node { id kind role createdAt expiresAt customer { id } label } } } }"
REVOKE = "mutation($id: ID!) { apiTokenRevoke(id: $id) { apiToken { id revokedAt } token errors { field code message } } }"
MERGE = """mutation($p: ID!, $d: ID!) { customerMerge(primaryId: $p, duplicateId: $d) { errors { code } } }"""
CREATE = """mutation($input: CustomerCreateInput!) { customerCreate(input: $input) { customer { id } errors { code } } }"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------- over HTTP

class Http:
    def __init__(self, server: CrmServer):
        self.server = server

    def post(self, query: str, variables: dict | None = None, token: str | None = None):
        """(status, headers, body) of POST /graphql."""
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            connection.request("POST", "/graphql", body=json.dumps({"query": query, "variables": variables or {}}),
                               headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), json.loads(response.read())
        finally:
            connection.close()

    def get(self, path: str, token: str):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), json.loads(response.read())
        finally:
            connection.close()

    def data(self, query: str, variables: dict | None = None, token: str | None = None) -> dict:
        status, _, body = self.post(query, variables, token)
        assert status == 200 and "errors" not in body, body
        return body["data"]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Now and two hours later: two servers on one database, the second with its clock two hours ahead."""
    now = CrmServer(tmp_path_factory.mktemp("now")).start()
    shift = int(float(os.environ.get("CRM_CLOCK_SHIFT") or 0)) + 7200
    later = CrmServer(tmp_path_factory.mktemp("later"), DATABASE_URL=now.env["CRM_DATABASE_URL"], CLOCK_SHIFT=shift)
    try:
        later.start()
        now.command("staff", "create", "--name", "Max", "--email", "max@example.com", "--role", "MARKETER")
        marketer = now.command("tokens", "create", "--role", "MARKETER", "--staff", "max@example.com").splitlines()[-1]
        yield Http(now), Http(later), now.token("ADMIN"), now.token("INTEGRATION", "shop"), marketer
    finally:
        later.stop()
        now.stop()


@pytest.fixture(scope="module")
def shopper(servers):
    http_now, _, admin, *_ = servers
    made = http_now.data(CREATE, {"input": {"email": "shopper@example.com", "externalId": "shop-1"}}, admin)
    return made["customerCreate"]["customer"]["id"]


def test_a_session_lasts_an_hour_by_default_and_is_a_portal_token_of_its_customer(servers, shopper):
    http_now, _, admin, integration, _ = servers
    payload = http_now.data(SESSION, {"customer": {"email": "Shopper@Example.com"}}, integration)["portalSessionCreate"]
    assert payload["errors"] == []
    assert payload["token"].startswith("crm_") and len(payload["token"]) == 47
    assert payload["viewer"] == {"role": "PORTAL", "customer": {"id": shopper, "email": "shopper@example.com"}}
    assert http_now.data(VIEWER, token=payload["token"]) == {"viewer": {"role": "PORTAL", "customer": {"id": shopper}}}
    listed = [e["node"] for e in http_now.data(TOKENS, token=admin)["apiTokens"]["edges"]
              if e["node"]["kind"] == "PORTAL_SESSION"]
    assert len(listed) == 1
    node = listed[0]
    assert (node["role"], node["customer"], node["label"]) == ("PORTAL", {"id": shopper}, "session by integration:shop")
    assert node["expiresAt"] == payload["expiresAt"]
    assert at(node["expiresAt"]) - at(node["createdAt"]) == timedelta(hours=1)


def test_a_longer_ttl_is_capped_at_the_maximum(servers, shopper):
    http_now, _, admin, integration, _ = servers
    payload = http_now.data(SESSION, {"customer": {"externalId": "shop-1"}, "ttl": 10 * 86400},
                            integration)["portalSessionCreate"]
    assert payload["errors"] == []
    node = next(e["node"] for e in http_now.data(TOKENS, token=admin)["apiTokens"]["edges"]
                if e["node"]["expiresAt"] == payload["expiresAt"])
    assert at(node["expiresAt"]) - at(node["createdAt"]) == timedelta(seconds=86400)


def test_an_expired_session_is_401_token_expired_with_the_bearer_challenge(servers, shopper):
    http_now, http_later, _, integration, _ = servers
    payload = http_now.data(SESSION, {"customer": {"id": shopper}, "ttl": 3600}, integration)["portalSessionCreate"]
    assert http_now.data(VIEWER, token=payload["token"])["viewer"]["role"] == "PORTAL"
    status, headers, body = http_later.post(VIEWER, token=payload["token"])
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert body == {"errors": [{
        "message": f"The token expired at {payload['expiresAt']}: sign in again for a new one.",
        "extensions": {"code": "TOKEN_EXPIRED"}}]}
    # The exports authenticate alike.
    status, headers, body = http_later.get("/reports/journey-map/purchase.csv", payload["token"])
    assert (status, headers["WWW-Authenticate"], body["errors"][0]["extensions"]) == (
        401, 'Bearer error="invalid_token"', {"code": "TOKEN_EXPIRED"})


def test_an_unknown_token_is_401_unauthenticated_with_the_challenge(servers):
    http_now, *_ = servers
    status, headers, body = http_now.post(VIEWER, token="crm_" + "x" * 43)
    assert (status, headers["WWW-Authenticate"], body["errors"][0]["extensions"]) == (
        401, 'Bearer error="invalid_token"', {"code": "UNAUTHENTICATED"})
    status, headers, body = http_now.post(VIEWER)
    assert (status, headers["WWW-Authenticate"], body["errors"][0]["extensions"]) == (
        401, "Bearer", {"code": "UNAUTHENTICATED"})


def test_a_portal_signs_out_by_revoking_its_own_token(servers, shopper):
    http_now, _, _, integration, _ = servers
    token = http_now.data(SESSION, {"customer": {"id": shopper}}, integration)["portalSessionCreate"]["token"]
    own_id = http_now.data("{ viewer { tokenId } }", token=token)["viewer"]["tokenId"]
    admin_view = http_now.data("{ apiTokens(first: 1) { edges { node { id kind } } } }", token=servers[2])
    assert admin_view["apiTokens"]["edges"] == [{"node": {"id": own_id, "kind": "PORTAL_SESSION"}}]  # newest first
    revoked = http_now.data(REVOKE, {"id": own_id}, token)["apiTokenRevoke"]
    assert revoked["errors"] == [] and revoked["token"] is None and revoked["apiToken"]["id"] == own_id
    status, headers, body = http_now.post(VIEWER, token=token)
    assert (status, body["errors"][0]["extensions"]["code"]) == (401, "UNAUTHENTICATED")


def test_a_customer_merged_away_loses_every_session_at_once(servers):
    http_now, _, admin, integration, _ = servers
    ids = [http_now.data(CREATE, {"input": {"email": f"m{n}@example.com"}}, admin)["customerCreate"]["customer"]["id"]
           for n in range(2)]
    primary, duplicate = ids
    sessions = [http_now.data(SESSION, {"customer": {"id": duplicate}}, integration)["portalSessionCreate"]["token"]
                for _ in range(3)]
    kept = http_now.data(SESSION, {"customer": {"id": primary}}, integration)["portalSessionCreate"]["token"]
    assert all(http_now.post(VIEWER, token=t)[0] == 200 for t in sessions)
    assert http_now.data(MERGE, {"p": primary, "d": duplicate}, admin)["customerMerge"]["errors"] == []
    assert [http_now.post(VIEWER, token=t)[2]["errors"][0]["extensions"]["code"] for t in sessions] == [
        "UNAUTHENTICATED"] * 3
    assert http_now.data(VIEWER, token=kept) == {"viewer": {"role": "PORTAL", "customer": {"id": primary}}}
    # The duplicate's id and email no longer name anyone: no new session for them either.
    for ref in ({"id": duplicate}, {"email": "m1@example.com"}):
        payload = http_now.data(SESSION, {"customer": ref}, integration)["portalSessionCreate"]
        assert (payload["token"], payload["errors"]) == (None, [
            {"field": "customer", "code": "NOT_FOUND",
             "message": f"No customer has this {next(iter(ref))}."}])


def test_only_integration_and_admin_create_sessions(servers, shopper):
    http_now, _, admin, _, marketer = servers
    payload = http_now.data(SESSION, {"customer": {"id": shopper}}, marketer)["portalSessionCreate"]
    assert payload == {"token": None, "expiresAt": None, "viewer": None, "errors": [
        {"field": None, "code": "FORBIDDEN", "message": "The MARKETER role may not use PortalSessionCreate."}]}
    assert http_now.data(SESSION, {"customer": {"id": shopper}}, admin)["portalSessionCreate"]["errors"] == []


# ---------------------------------------------------------------- in process: references, limits, the clock

@pytest.fixture
def shop(api):
    return create_customer(api, email="ann@example.com", externalId="ext-ann")


@pytest.mark.parametrize("ref, field, code, message", [
    ({}, "customer", "INVALID", "Give exactly one of id, email or externalId."),
    ({"email": "ann@example.com", "externalId": "ext-ann"}, "customer", "INVALID",
     "Give exactly one of id, email or externalId."),
    ({"id": "", "email": ""}, "customer", "INVALID", "Give exactly one of id, email or externalId."),
    ({"id": "not-an-id"}, "customer", "INVALID", "Expected the id of a Customer."),
    ({"email": "nobody@example.com"}, "customer", "NOT_FOUND", "No customer has this email."),
    ({"externalId": "ext-nobody"}, "customer", "NOT_FOUND", "No customer has this externalId."),
])
def test_a_reference_names_exactly_one_existing_customer(api, shop, ctx, ref, field, code, message):
    payload = api.data(SESSION, {"customer": ref}, as_="integration")["portalSessionCreate"]
    assert payload == {"token": None, "expiresAt": None, "viewer": None,
                       "errors": [{"field": field, "code": code, "message": message}]}
    from crm.auth.models import ApiToken, TokenKind
    assert ctx.query(ApiToken).filter_by(kind=TokenKind.PORTAL_SESSION).count() == 0


def test_an_unknown_customer_id_is_not_found(api, shop):
    unknown = "Q3VzdG9tZXI6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"  # Customer:0000...
    payload = api.data(SESSION, {"customer": {"id": unknown}}, as_="integration")["portalSessionCreate"]
    assert payload["errors"] == [{"field": "customer", "code": "NOT_FOUND", "message": "No customer has this id."}]


@pytest.mark.parametrize("ttl, message", [(59, "A session lasts at least 60 seconds."),
                                          (0, "A session lasts at least 60 seconds."),
                                          (-3600, "A session lasts at least 60 seconds.")])
def test_a_ttl_under_a_minute_is_invalid(api, shop, ttl, message):
    payload = api.data(SESSION, {"customer": {"id": shop["id"]}, "ttl": ttl}, as_="integration")["portalSessionCreate"]
    assert payload["errors"] == [{"field": "ttlSeconds", "code": "INVALID", "message": message}]


def test_the_maximum_is_configurable_and_a_ttl_of_60_works(api, app, shop, clock):
    start = clock.freeze("2030-05-01T10:00:00+00:00")
    app.config["PORTAL_SESSION_MAX_TTL"] = 600
    capped = api.data(SESSION, {"customer": {"id": shop["id"]}, "ttl": 601}, as_="integration")["portalSessionCreate"]
    assert capped["expiresAt"] == (start + timedelta(seconds=600)).isoformat()
    shortest = api.data(SESSION, {"customer": {"id": shop["id"]}, "ttl": 60}, as_="integration")["portalSessionCreate"]
    assert shortest["expiresAt"] == "2030-05-01T10:01:00+00:00"


def test_a_session_works_until_its_expiry_and_not_at_it(api, client, shop, clock):
    clock.freeze("2030-05-01T10:00:00+00:00")
    token = api.data(SESSION, {"customer": {"id": shop["id"]}}, as_="integration")["portalSessionCreate"]["token"]
    api.tokens["session"] = token
    clock.advance(timedelta(minutes=59, seconds=59))
    assert api.data(VIEWER, as_="session") == {"viewer": {"role": "PORTAL", "customer": {"id": shop["id"]}}}
    clock.advance(timedelta(seconds=1))
    response = client.post("/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.get_json() == {"errors": [{
        "message": "The token expired at 2030-05-01T11:00:00+00:00: sign in again for a new one.",
        "extensions": {"code": "TOKEN_EXPIRED"}}]}


def test_a_session_answers_what_the_customer_lookup_answers_for_a_merged_customer(api, shop):
    other = create_customer(api, email="bob@example.com")
    assert api.data(MERGE, {"p": other["id"], "d": shop["id"]})["customerMerge"]["errors"] == []
    for ref, name in (({"id": shop["id"]}, "id"), ({"externalId": "ext-ann"}, None)):
        payload = api.data(SESSION, {"customer": ref}, as_="integration")["portalSessionCreate"]
        if name:  # the duplicate's id no longer resolves, as customer(id:) answers null
            assert payload["errors"] == [{"field": "customer", "code": "NOT_FOUND", "message": "No customer has this id."}]
        else:  # its external id moved to the primary when the primary had none
            assert payload["errors"] == [] and payload["viewer"]["customer"]["id"] == other["id"]
    lookup = api.data("query($id: ID!) { customer(id: $id) { id } }", {"id": shop["id"]})
    assert lookup == {"customer": None}
    assert raw_id(other["id"]) != raw_id(shop["id"])
