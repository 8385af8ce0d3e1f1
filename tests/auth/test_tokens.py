"""Token management: the apiTokens list, apiTokenCreate, apiTokenRevoke (an admin any token, any other token only
its own), lastUsedAt written at most once a minute, the purge of expired sessions, and `crm tokens`."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from crm.auth.models import ApiToken, SignInFailure, TokenKind
from crm.auth.services import hash_token
from crm.enums import Role
from tests.helpers import create_customer, raw_id

LIST = """query($first: Int, $after: String, $role: Role, $rev: Boolean) {
  apiTokens(first: $first, after: $after, role: $role, includeRevoked: $rev) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id role kind label staffUser { email } customer { email } revokedAt } } } }"""
CREATE = """mutation($input: ApiTokenInput!) { apiTokenCreate(input: $input) {
  token apiToken { id role kind label staffUser { email } customer { id } expiresAt lastUsedAt revokedAt }
  errors { field code message } } }"""
REVOKE = """mutation($id: ID!) { apiTokenRevoke(id: $id) { token apiToken { id revokedAt }
  errors { field code message } } }"""
VIEWER = "{ viewer { role } }"
T0 = "2030-03-01T09:00:00+00:00"


def token_id(ctx, token: str) -> uuid.UUID:
    return ctx.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_token(token)))


def gid(raw) -> str:
    from crm.ids import global_id
    return global_id("ApiToken", raw)


def last_used(app, token: str):
    with app.app_context():
        from crm.sessions import get_session
        return get_session().scalar(select(ApiToken.last_used_at).where(ApiToken.token_hash == hash_token(token)))


# ---------------------------------------------------------------- apiTokens

def test_an_admin_lists_every_token_newest_first_with_its_owner(api, clock):
    clock.travel("2030-03-01T09:00:00+00:00")
    customer = create_customer(api, email="pat@example.com")
    made = api.data(CREATE, {"input": {"role": "PORTAL", "customer": {"email": "pat@example.com"},
                                       "label": "app"}})["apiTokenCreate"]
    edges = api.data(LIST)["apiTokens"]["edges"]
    nodes = [e["node"] for e in edges]
    assert nodes[0] == {"id": made["apiToken"]["id"], "role": "PORTAL", "kind": "API", "label": "app",
                        "staffUser": None, "customer": {"email": "pat@example.com"}, "revokedAt": None}
    assert made["apiToken"]["customer"] == {"id": customer["id"]}
    # The fixture's five: four staff tokens and the shop's INTEGRATION token.
    assert sorted((n["role"], (n["staffUser"] or {}).get("email"), n["label"]) for n in nodes[1:]) == [
        ("ACCOUNT_MANAGER", "account_manager@example.com", None), ("ADMIN", "admin@example.com", None),
        ("INTEGRATION", None, "shop"), ("MARKETER", "marketer@example.com", None),
        ("SUPPORT_AGENT", "support_agent@example.com", None)]


def test_the_list_filters_by_role_hides_revoked_ones_and_pages(api, ctx):
    for n in range(3):
        assert api.data(CREATE, {"input": {"role": "INTEGRATION", "label": f"i{n}"}})["apiTokenCreate"]["errors"] == []
    revoked_id = gid(token_id(ctx, api.tokens["integration"]))
    assert api.data(REVOKE, {"id": revoked_id})["apiTokenRevoke"]["errors"] == []

    listed = api.data(LIST, {"role": "INTEGRATION"})["apiTokens"]
    assert listed["totalCount"] == 3 and [e["node"]["label"] for e in listed["edges"]] == ["i2", "i1", "i0"]
    with_revoked = api.data(LIST, {"role": "INTEGRATION", "rev": True})["apiTokens"]
    assert with_revoked["totalCount"] == 4
    assert [(e["node"]["label"], e["node"]["revokedAt"] is not None) for e in with_revoked["edges"]] == [
        ("i2", False), ("i1", False), ("i0", False), ("shop", True)]

    first = api.data(LIST, {"role": "INTEGRATION", "rev": True, "first": 3})["apiTokens"]
    assert [e["node"]["label"] for e in first["edges"]] == ["i2", "i1", "i0"] and first["pageInfo"]["hasNextPage"]
    rest = api.data(LIST, {"role": "INTEGRATION", "rev": True, "first": 3,
                           "after": first["pageInfo"]["endCursor"]})["apiTokens"]
    assert [e["node"]["label"] for e in rest["edges"]] == ["shop"] and not rest["pageInfo"]["hasNextPage"]
    assert api.data(LIST, {"role": "PORTAL"})["apiTokens"] == {
        "totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": []}


@pytest.mark.parametrize("role", ["account_manager", "support_agent", "marketer", "integration"])
def test_only_an_admin_lists_tokens(api, role):
    body = api(LIST, as_=role)
    assert body["data"] is None
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
        (f"The {role.upper()} role may not use this.", "FORBIDDEN")]


def test_the_list_costs_the_same_statements_for_any_number_of_tokens(api, app, count_statements):
    customers = [create_customer(api, email=f"c{n}@example.com") for n in range(12)]
    query = "{ apiTokens(first: 100) { edges { node { id staffUser { email } customer { email } } } } }"
    counts = []
    for batch in (customers[:2], customers[2:]):
        for c in batch:
            assert api.data(CREATE, {"input": {"role": "PORTAL", "customer": {"id": c["id"]}}})["apiTokenCreate"][
                "errors"] == []
        api.data(VIEWER)  # the admin token's lastUsedAt is fresh: the counted request writes nothing
        with count_statements() as statements:
            assert len(api.data(query)["apiTokens"]["edges"]) in (7, 17)
        counts.append(len(statements))
    # token lookup, page, staff users, customers
    assert counts == [4, 4]


# ---------------------------------------------------------------- apiTokenCreate

def test_a_created_token_is_shown_once_and_works(api, client, clock):
    clock.freeze(T0)
    made = api.data(CREATE, {"input": {"role": "MARKETER", "staffEmail": "MARKETER@example.com",
                                       "expiresAt": "2030-03-02T09:00:00+00:00"}})["apiTokenCreate"]
    assert made["errors"] == [] and re.fullmatch(r"crm_[A-Za-z0-9_-]{43}", made["token"])
    assert {k: v for k, v in made["apiToken"].items() if k != "id"} == {
        "role": "MARKETER", "kind": "API", "label": None, "staffUser": {"email": "marketer@example.com"},
        "customer": None, "expiresAt": "2030-03-02T09:00:00+00:00", "lastUsedAt": None, "revokedAt": None}
    response = client.post("/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {made['token']}"})
    assert response.get_json() == {"data": {"viewer": {"role": "MARKETER"}}}
    listed = api.data("{ apiTokens(first: 1) { edges { node { id } } } }")
    assert listed == {"apiTokens": {"edges": [{"node": {"id": made["apiToken"]["id"]}}]}}
    assert made["token"] not in str(api.data("{ apiTokens { edges { node { id label } } } }"))


@pytest.mark.parametrize("payload, field, code, message", [
    ({"role": "ADMIN", "expiresAt": "2030-03-01T09:00:00+00:00"}, "expiresAt", "INVALID",
     "The expiry must be in the future."),
    ({"role": "ADMIN", "expiresAt": "2030-02-01T00:00:00+00:00"}, "expiresAt", "INVALID",
     "The expiry must be in the future."),
    ({"role": "MARKETER"}, "staffEmail", "REQUIRED", "A MARKETER token belongs to a staff user: give --staff."),
    ({"role": "MARKETER", "staffEmail": "nobody@example.com"}, "staffEmail", "NOT_FOUND",
     "No staff user has the email nobody@example.com."),
    ({"role": "PORTAL"}, "customer", "REQUIRED", "A PORTAL token is bound to one customer: give --customer."),
    ({"role": "PORTAL", "customer": {"email": "nobody@example.com"}}, "customer", "NOT_FOUND",
     "No customer has this email."),
    ({"role": "PORTAL", "customer": {}}, "customer", "INVALID", "Give exactly one of id, email or externalId."),
    ({"role": "ADMIN", "label": "x" * 201}, "label", "INVALID", "A label is at most 200 characters."),
])
def test_an_invalid_token_request_changes_nothing(api, ctx, clock, payload, field, code, message):
    clock.freeze(T0)
    made = api.data(CREATE, {"input": payload})["apiTokenCreate"]
    assert made == {"token": None, "apiToken": None, "errors": [{"field": field, "code": code, "message": message}]}
    ctx.expire_all()
    assert len(ctx.scalars(select(ApiToken.id)).all()) == 5  # the fixture's


def test_only_an_admin_creates_tokens(api):
    made = api.data(CREATE, {"input": {"role": "ADMIN"}}, as_="integration")["apiTokenCreate"]
    assert made["errors"] == [{"field": None, "code": "FORBIDDEN",
                               "message": "The INTEGRATION role may not use ApiTokenCreate."}]


# ---------------------------------------------------------------- apiTokenRevoke

def test_an_admin_revokes_any_token(api, client, ctx, clock):
    clock.freeze(T0)
    victim = gid(token_id(ctx, api.tokens["marketer"]))
    revoked = api.data(REVOKE, {"id": victim})["apiTokenRevoke"]
    assert revoked == {"token": None, "apiToken": {"id": victim, "revokedAt": T0}, "errors": []}
    assert api(VIEWER, as_="marketer", status=401)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    clock.advance(timedelta(minutes=5))  # again: the first revocation time stays
    assert api.data(REVOKE, {"id": victim})["apiTokenRevoke"]["apiToken"]["revokedAt"] == T0


def test_any_token_signs_itself_out_but_cannot_touch_another(api, ctx):
    own = gid(token_id(ctx, api.tokens["support_agent"]))
    other = gid(token_id(ctx, api.tokens["marketer"]))
    unknown = gid(uuid.uuid4())
    not_found = [{"field": "id", "code": "NOT_FOUND", "message": "No token has this id."}]
    for target in (other, unknown):
        assert api.data(REVOKE, {"id": target}, as_="support_agent")["apiTokenRevoke"] == {
            "token": None, "apiToken": None, "errors": not_found}
    assert api.data(VIEWER, as_="marketer") == {"viewer": {"role": "MARKETER"}}
    assert api.data(REVOKE, {"id": "nonsense"}, as_="support_agent")["apiTokenRevoke"]["errors"] == [
        {"field": "id", "code": "INVALID", "message": "Expected the id of a ApiToken."}]
    mine = api.data(REVOKE, {"id": own}, as_="support_agent")["apiTokenRevoke"]
    assert mine["errors"] == [] and mine["apiToken"]["id"] == own and mine["apiToken"]["revokedAt"] is not None
    assert api(VIEWER, as_="support_agent", status=401)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_the_node_of_a_token_is_for_admins_only(api, ctx):
    node = gid(token_id(ctx, api.tokens["marketer"]))
    query = "query($id: ID!) { node(id: $id) { ... on ApiToken { role } } }"
    assert api.data(query, {"id": node}) == {"node": {"role": "MARKETER"}}
    assert api.data(query, {"id": node}, as_="marketer") == {"node": None}


# ---------------------------------------------------------------- lastUsedAt

def updates(statements) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("UPDATE API_TOKEN")]


def test_last_use_is_written_at_most_once_a_minute(api, app, clock, count_statements):
    start = clock.freeze(T0)
    token = api.tokens["marketer"]
    assert last_used(app, token) is None
    with count_statements(last_use=True) as statements:
        api.data(VIEWER, as_="marketer")
    assert len(updates(statements)) == 1 and last_used(app, token) == start

    clock.advance(timedelta(seconds=59))
    with count_statements(last_use=True) as statements:
        api.data(VIEWER, as_="marketer")
    assert updates(statements) == [] and len(statements) == 1  # the token lookup, and nothing else
    assert last_used(app, token) == start

    clock.advance(timedelta(seconds=2))  # 61 s after the last write
    with count_statements(last_use=True) as statements:
        api.data(VIEWER, as_="marketer")
    assert len(updates(statements)) == 1 and last_used(app, token) == start + timedelta(seconds=61)
    listed = api.data("{ apiTokens(role: MARKETER) { edges { node { lastUsedAt } } } }")
    assert listed == {"apiTokens": {"edges": [{"node": {"lastUsedAt": "2030-03-01T09:01:01+00:00"}}]}}


def test_the_write_is_conditional_so_a_concurrent_one_is_not_repeated(app, tokens, clock):
    from crm.auth.services import authenticate
    clock.freeze(T0)
    with app.app_context():
        from crm.sessions import new_session
        first, second = new_session(), new_session()
        try:
            authenticate(first, tokens["marketer"])  # writes T0
            clock.advance(timedelta(seconds=30))
            # As a request that read the row before that write and decided to write: the UPDATE's own condition
            # refuses, so the value stays.
            from crm.auth.services import _touch
            _touch(second, token_id(second, tokens["marketer"]), clock.now(), clock.now() - timedelta(seconds=60))
            assert last_used(app, tokens["marketer"]) == datetime.fromisoformat(T0)
        finally:
            first.close()
            second.close()


def test_the_write_leaves_a_request_free_to_write_or_roll_back(api, app, clock):
    clock.freeze(T0)
    # The first use of a token is a mutation that fails: it rolls back, the record of the use stays.
    failed = api.data("mutation { customerCreate(input: {email: \"nope\"}) { errors { code } } }", as_="account_manager")
    assert failed["customerCreate"]["errors"] == [{"code": "INVALID"}]
    assert last_used(app, api.tokens["account_manager"]) == datetime.fromisoformat(T0)
    clock.advance(timedelta(minutes=2))
    made = create_customer(api, as_="account_manager", email="kept@example.com")
    assert api.data("query($id: ID!) { customer(id: $id) { email } }", {"id": made["id"]}) == {
        "customer": {"email": "kept@example.com"}}
    assert last_used(app, api.tokens["account_manager"]) == datetime.fromisoformat(T0) + timedelta(minutes=2)


# ---------------------------------------------------------------- the purge

def test_the_purge_removes_sessions_a_week_after_expiry_and_old_sign_in_failures(api, app, ctx, clock, runner):
    from crm.queue import PERIODIC_JOBS
    assert ("auth-purge", "crm.auth.jobs.purge_expired_sessions", "AUTH_PURGE_INTERVAL") in PERIODIC_JOBS
    start = clock.freeze(T0)
    shopper = create_customer(api, email="s@example.com")
    sessions = {}
    for name, ttl in (("old", 60), ("recent", 3600), ("live", 86400)):
        payload = api.data("""mutation($c: CustomerRef!, $t: Int) { portalSessionCreate(customer: $c, ttlSeconds: $t) {
          token errors { code } } }""", {"c": {"id": shopper["id"]}, "t": ttl}, as_="integration")
        sessions[name] = payload["portalSessionCreate"]["token"]
    expiring_api = api.data(CREATE, {"input": {"role": "ADMIN", "label": "api",
                                               "expiresAt": "2030-03-01T09:01:00+00:00"}})["apiTokenCreate"]["token"]
    ctx.add_all([SignInFailure(email_digest="a" * 64, at=start), SignInFailure(email_digest="b" * 64,
                                                                              at=start + timedelta(days=7))])
    ctx.commit()

    # A week and a minute on: "old" expired 7 days + 59 s ago, "recent" 7 days ago less 59 minutes.
    clock.advance(timedelta(days=7, minutes=1, seconds=59))
    result = runner.invoke(args=["periodic", "run", "auth-purge"])
    assert result.exit_code == 0, result.output
    assert result.output == "auth-purge: {'sessions': 1, 'signInFailures': 1}\n"
    ctx.expire_all()
    left = {t: ctx.scalar(select(ApiToken.kind).where(ApiToken.token_hash == hash_token(t)))
            for t in (*sessions.values(), expiring_api)}
    assert left == {sessions["old"]: None, sessions["recent"]: TokenKind.PORTAL_SESSION,
                    sessions["live"]: TokenKind.PORTAL_SESSION, expiring_api: TokenKind.API}
    assert [f.email_digest for f in ctx.scalars(select(SignInFailure))] == ["b" * 64]
    api.tokens.update(sessions)
    assert api(VIEWER, as_="old", status=401)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert api(VIEWER, as_="recent", status=401)["errors"][0]["extensions"]["code"] == "TOKEN_EXPIRED"
    # Twice is harmless (the command's session is its own: end this one's read first, SQLite has one writer).
    ctx.commit()
    again = runner.invoke(args=["periodic", "run", "auth-purge"])
    assert again.output == "auth-purge: {'sessions': 0, 'signInFailures': 0}\n", (again.exception, again.output)


# ---------------------------------------------------------------- crm tokens

def test_tokens_list_prints_a_table(api, runner, ctx, clock):
    clock.freeze(T0)
    customer = create_customer(api, email="t@example.com")
    portal = runner.invoke(args=["tokens", "create", "--role", "PORTAL", "--customer", customer["id"],
                                 "--label", "kiosk", "--expires-in", "90m"])
    assert portal.exit_code == 0, portal.output
    portal_id = re.search(r"id ([0-9a-f-]{36})", portal.output).group(1)
    assert portal.output.splitlines()[0] == (f"PORTAL token created (id {portal_id}, expires "
                                             "2030-03-01T10:30:00+00:00); it will not be shown again:")
    clock.advance(timedelta(minutes=1))
    revoked = runner.invoke(args=["tokens", "revoke", str(token_id(ctx, api.tokens["marketer"]))])
    assert revoked.exit_code == 0

    result = runner.invoke(args=["tokens", "list", "--role", "PORTAL"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["id", "role", "kind", "label", "staff/customer", "created", "expires",
                                             "last used", "revoked"]
    assert re.split(r"\s{2,}", lines[1]) == [portal_id, "PORTAL", "API", "kiosk", f"customer {raw_id(customer['id'])}",
                                             "2030-03-01 09:00", "2030-03-01 10:30", "-", "-"]
    assert lines[2:] == ["1 token(s)"]

    everyone = runner.invoke(args=["tokens", "list"]).output.splitlines()
    assert everyone[-1] == "5 token(s)" and not any("marketer@example.com" in line for line in everyone)
    with_revoked = runner.invoke(args=["tokens", "list", "--include-revoked", "--role", "marketer"]).output
    row = re.split(r"\s{2,}", with_revoked.splitlines()[1])
    assert row[1:5] == ["MARKETER", "API", "-", "marketer@example.com"] and row[8] == "2030-03-01 09:01"


@pytest.mark.parametrize("given, expected", [("12h", timedelta(hours=12)), ("30d", timedelta(days=30)),
                                             ("45s", timedelta(seconds=45)), ("2W", timedelta(weeks=2))])
def test_tokens_create_expires_in_a_duration(runner, ctx, clock, given, expected):
    start = clock.freeze(T0)
    result = runner.invoke(args=["tokens", "create", "--role", "INTEGRATION", "--expires-in", given])
    assert result.exit_code == 0, result.output
    token = result.output.splitlines()[-1]
    assert ctx.scalar(select(ApiToken.expires_at).where(ApiToken.token_hash == hash_token(token))) == start + expected


@pytest.mark.parametrize("given", ["90", "m90", "1.5h", "0d", "-3h", "12 parsecs", ""])
def test_tokens_create_refuses_what_is_not_a_duration(runner, ctx, given):
    result = runner.invoke(args=["tokens", "create", "--role", "INTEGRATION", "--expires-in", given])
    assert result.exit_code == 2
    assert (f"Invalid value for '--expires-in': {given!r} is not a duration: a positive number and a unit, "
            "e.g. 90m, 12h or 30d (units s, m, h, d, w).") in result.output
    assert ctx.scalar(select(ApiToken.id)) is None


def test_tokens_create_refuses_an_expiry_beyond_the_calendar(runner, ctx):
    result = runner.invoke(args=["tokens", "create", "--role", "INTEGRATION", "--expires-in", "9999999w"])
    assert result.exit_code == 1
    assert result.output == "Error: INVALID (expiresIn): the expiry is too far ahead.\n"


def test_tokens_revoke_of_an_unknown_id(runner):
    result = runner.invoke(args=["tokens", "revoke", str(uuid.UUID(int=0))])
    assert result.exit_code == 1 and result.output == "Error: NOT_FOUND (tokenId): No token has this id.\n"


def test_a_portal_token_made_on_the_shell_has_no_expiry_unless_asked(api, runner, ctx):
    customer = create_customer(api, email="u@example.com")
    result = runner.invoke(args=["tokens", "create", "--role", "PORTAL", "--customer", customer["id"]])
    token = result.output.splitlines()[-1]
    row = ctx.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one()
    assert (row.role, row.kind, row.expires_at, row.customer_id) == (Role.PORTAL, TokenKind.API, None,
                                                                    raw_id(customer["id"]))
