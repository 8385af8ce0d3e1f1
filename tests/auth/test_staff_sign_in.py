"""Staff sign-in: staffSignIn without a token (over HTTP against a running server, and through the test client),
one answer for an unknown email, a missing password and a wrong one, the lockout after 5 failures in 15
minutes and its end, sessions lasting CRM_STAFF_SESSION_TTL, and what a request without a token may and may not
run. `crm staff set-password`: tests/auth/test_staff_set_password.py."""
from __future__ import annotations

import http.client
import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from crm import clock, create_app
from crm.auth import sign_in
from crm.auth.models import ApiToken, SignInFailure, StaffUser, TokenKind
from crm.auth.permissions import ANONYMOUS, Capability, capabilities_of, has
from crm.auth.services import create_staff
from crm.auth.sign_in import email_digest, set_staff_password
from crm.enums import Role
from crm.masking import masks_pii
from tests.servers import CrmServer

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

SIGN_IN = """mutation($email: String!, $password: String!) {
  staffSignIn(email: $email, password: $password) {
    token expiresAt viewer { role staffUser { email } customer { id } } errors { field code message } } }"""
VIEWER = "{ viewer { role staffUser { email } } }"

UNAUTHENTICATED = {"errors": [{
    "message": "Authentication required: send `Authorization: Bearer <token>` with a valid token.",
    "extensions": {"code": "UNAUTHENTICATED"}}]}
INVALID_CREDENTIALS = {"token": None, "expiresAt": None, "viewer": None, "errors": [
    {"field": None, "code": "INVALID_CREDENTIALS", "message": "The email or password is not correct."}]}


def locked(until: datetime) -> dict:
    return {"token": None, "expiresAt": None, "viewer": None, "errors": [
        {"field": None, "code": "LOCKED", "message": "Too many failed sign-ins for this email: signing in is "
                                                     f"locked until {until:%Y-%m-%dT%H:%M:%S}Z."}]}


def signed_in(expires_at: datetime, email: str = EMAIL, role: str = "ADMIN") -> dict:
    return {"expiresAt": expires_at.isoformat(), "viewer": {
        "role": role, "staffUser": {"email": email}, "customer": None}, "errors": []}


def post(client, query: str, variables: dict | None = None, token: str | None = None, address: str = "10.0.0.1",
         **body):
    """(status, JSON) of a POST /graphql, without a token unless given. Each test's requests come from an
    address of its choice: the rate limit for requests without a token is per address."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.post("/graphql", json={"query": query, "variables": variables or {}, **body}, headers=headers,
                           environ_base={"REMOTE_ADDR": address})
    return response.status_code, response.get_json()


def attempt(client, email: str = EMAIL, password: str = PASSWORD, address: str = "10.0.0.1") -> dict:
    status, body = post(client, SIGN_IN, {"email": email, "password": password}, address=address)
    assert status == 200 and "errors" not in body, body
    return body["data"]["staffSignIn"]


def without_token(answer: dict) -> dict:
    assert answer["token"].startswith("crm_") and len(answer["token"]) > 40, answer
    return {key: value for key, value in answer.items() if key != "token"}


def failures(ctx, email: str = EMAIL) -> list[datetime]:
    return list(ctx.scalars(select(SignInFailure.at).where(SignInFailure.email_digest == email_digest(email))
                            .order_by(SignInFailure.at)))


@pytest.fixture
def ada(app, ctx):
    """An ADMIN with a password, and a MARKETER without one."""
    create_staff(ctx, name="Ada Admin", email=EMAIL, role=Role.ADMIN)
    create_staff(ctx, name="Max Marketer", email="max@example.com", role=Role.MARKETER)
    set_staff_password(ctx, email=EMAIL, password=PASSWORD)
    return EMAIL


class CountingHasher(PasswordHasher):
    """argon2-cffi's hasher with the same parameters, noting the hash of every verification."""

    def __init__(self):
        super().__init__()
        self.verified: list[str] = []

    def verify(self, hash, password):  # noqa: A002 (the library's name)
        self.verified.append(hash)
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch):
    counting = CountingHasher()
    monkeypatch.setattr(sign_in, "HASHER", counting)
    return counting


# --- over HTTP, against a running server ------------------------------------------------------------------

def http_post(server, body: dict, token: str | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection.request("POST", "/graphql", body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def crm_with_input(server, *args: str, input: str) -> subprocess.CompletedProcess:  # noqa: A002
    return subprocess.run([server.crm, *args], env=server.env, input=input, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = CrmServer(tmp_path_factory.mktemp("sign-in"), RATE_LIMITS_ENABLED="false").start()
    try:
        served.command("staff", "create", "--name", "Ada Admin", "--email", EMAIL, "--role", "ADMIN")
        result = crm_with_input(served, "staff", "set-password", EMAIL, input=PASSWORD + "\n")
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"password set for {EMAIL}; 0 signed-in sessions revoked\n"
        yield served
    finally:
        served.stop()


def test_over_http_a_staff_member_signs_in_without_a_token_and_uses_the_session(server):
    status, body = http_post(server, {"query": SIGN_IN, "variables": {"email": "  Ada@Example.com ",
                                                                      "password": PASSWORD}})
    assert status == 200, body
    answer = body["data"]["staffSignIn"]
    expires_at = datetime.fromisoformat(answer["expiresAt"])
    assert answer["errors"] == [] and answer["viewer"] == {"role": "ADMIN", "staffUser": {"email": EMAIL},
                                                           "customer": None}
    # 8 hours from now, on the server's clock (this process shares its shift).
    assert abs((expires_at - clock.now()) - timedelta(hours=8)) < timedelta(seconds=30)
    assert http_post(server, {"query": VIEWER}, token=answer["token"]) == (
        200, {"data": {"viewer": {"role": "ADMIN", "staffUser": {"email": EMAIL}}}})


def test_over_http_a_wrong_password_and_an_unknown_email_get_one_answer(server):
    wrong = http_post(server, {"query": SIGN_IN, "variables": {"email": EMAIL, "password": "not the password"}})
    unknown = http_post(server, {"query": SIGN_IN, "variables": {"email": "eve@example.com", "password": PASSWORD}})
    assert wrong == unknown == (200, {"data": {"staffSignIn": INVALID_CREDENTIALS}})


def test_over_http_any_other_document_without_a_token_is_still_401(server):
    assert http_post(server, {"query": VIEWER}) == (401, UNAUTHENTICATED)
    mixed = ('mutation { staffSignIn(email: "ada@example.com", password: "x") { token } '
             'customerCreate(input: {email: "x@example.com"}) { errors { code } } }')
    assert http_post(server, {"query": mixed}) == (401, UNAUTHENTICATED)


# --- the answers ------------------------------------------------------------------------------------------

def test_the_right_password_signs_in_with_a_staff_session_lasting_the_ttl(client, ctx, ada, clock):
    clock.freeze(T0)
    answer = attempt(client)
    assert without_token(answer) == signed_in(T0 + timedelta(seconds=28800))
    row = ctx.scalars(select(ApiToken).where(ApiToken.token_hash == sign_in.hash_token(answer["token"]))).one()
    staff_id = ctx.scalars(select(StaffUser.id).where(StaffUser.email == EMAIL)).one()
    assert (row.kind, row.role, row.staff_user_id, row.customer_id, row.created_at, row.expires_at, row.revoked_at) \
        == (TokenKind.STAFF_SESSION, Role.ADMIN, staff_id, None, T0, T0 + timedelta(hours=8), None)
    assert post(client, VIEWER, token=answer["token"]) == (
        200, {"data": {"viewer": {"role": "ADMIN", "staffUser": {"email": EMAIL}}}})


def test_the_session_ttl_is_crm_staff_session_ttl_and_the_session_ends_with_it(app, client, ada, clock):
    app.config["STAFF_SESSION_TTL"] = 600
    clock.freeze(T0)
    answer = attempt(client)
    assert without_token(answer) == signed_in(T0 + timedelta(minutes=10))
    clock.advance(timedelta(seconds=599))
    assert post(client, VIEWER, token=answer["token"])[0] == 200
    clock.advance(timedelta(seconds=2))
    status, body = post(client, VIEWER, token=answer["token"])
    assert (status, [e["extensions"]["code"] for e in body["errors"]]) == (401, ["TOKEN_EXPIRED"])
    status, body = post(client, SIGN_IN, {"email": EMAIL, "password": PASSWORD}, token=answer["token"])
    assert status == 200 and body["data"]["staffSignIn"]["errors"] == []  # an expired token does not stop it


@pytest.mark.parametrize("email, password", [
    (EMAIL, "not the password"),           # wrong password
    ("eve@example.com", PASSWORD),          # unknown email
    ("max@example.com", PASSWORD),          # staff user without a password
])
def test_every_wrong_pair_gets_one_answer_after_one_verification_and_leaves_a_failure(client, ctx, ada, clock,
                                                                                     hasher, email, password):
    clock.freeze(T0)
    assert attempt(client, email, password) == INVALID_CREDENTIALS
    assert len(hasher.verified) == 1  # argon2 ran, as it does for a known email
    assert hasher.verified[0].startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert failures(ctx, email) == [T0]


def test_an_unknown_email_is_verified_against_the_dummy_hash_and_a_known_one_against_its_own(client, ctx, ada,
                                                                                            hasher):
    attempt(client, "eve@example.com", PASSWORD)
    attempt(client, EMAIL, "not the password")
    own = ctx.scalars(select(StaffUser.password_hash).where(StaffUser.email == EMAIL)).one()
    assert hasher.verified == [sign_in._dummy_hash(), own] and own != sign_in._dummy_hash()


def test_a_blank_email_or_password_or_an_overlong_password_is_refused_without_a_failure(client, ctx, ada,
                                                                                       hasher):
    assert attempt(client, "  ", PASSWORD)["errors"] == [
        {"field": "email", "code": "REQUIRED", "message": "Enter the email address."}]
    assert attempt(client, EMAIL, "")["errors"] == [
        {"field": "password", "code": "REQUIRED", "message": "Enter the password."}]
    assert attempt(client, EMAIL, "x" * 1025)["errors"] == [
        {"field": "password", "code": "INVALID", "message": "A password has at most 1024 characters."}]
    assert hasher.verified == [] and ctx.scalar(select(func.count()).select_from(SignInFailure)) == 0


def test_a_hash_made_with_other_parameters_is_replaced_at_sign_in(client, ctx, ada):
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    staff = ctx.scalars(select(StaffUser).where(StaffUser.email == EMAIL)).one()
    staff.password_hash = old
    ctx.commit()
    assert attempt(client)["errors"] == []
    ctx.expire_all()
    new = ctx.scalars(select(StaffUser.password_hash).where(StaffUser.email == EMAIL)).one()
    assert new != old and not sign_in.HASHER.check_needs_rehash(new) and sign_in.HASHER.verify(new, PASSWORD)


# --- the lockout ------------------------------------------------------------------------------------------

def test_five_failures_in_fifteen_minutes_lock_even_the_right_password_until_the_oldest_ages_out(
        client, ctx, ada, clock, hasher):
    clock.freeze(T0)
    for minute in range(5):  # one a minute, each from another address: the lockout is per email
        clock.freeze(T0 + timedelta(minutes=minute))
        assert attempt(client, password="guess %d" % minute, address=f"10.0.1.{minute}") == INVALID_CREDENTIALS
    assert len(hasher.verified) == 5
    lifts = T0 + timedelta(minutes=15)
    assert attempt(client, address="10.0.2.1") == locked(lifts)
    clock.freeze(lifts - timedelta(seconds=1))
    assert attempt(client, address="10.0.2.2") == locked(lifts)
    assert len(hasher.verified) == 5  # no verification while locked, and no failure either
    assert failures(ctx) == [T0 + timedelta(minutes=m) for m in range(5)]
    clock.freeze(lifts)
    assert without_token(attempt(client, address="10.0.2.3")) == signed_in(lifts + timedelta(hours=8))
    assert failures(ctx) == []  # a success clears them


def test_an_unknown_email_locks_alike(client, ctx, ada, clock):
    clock.freeze(T0)
    for _ in range(5):
        assert attempt(client, "eve@example.com", PASSWORD) == INVALID_CREDENTIALS
    assert attempt(client, "EVE@example.com ", PASSWORD) == locked(T0 + timedelta(minutes=15))
    assert without_token(attempt(client)) == signed_in(T0 + timedelta(hours=8))  # another email is not locked


def test_a_success_clears_the_failures_so_five_more_are_needed(client, ctx, ada, clock):
    clock.freeze(T0)
    for _ in range(4):
        attempt(client, password="wrong password")
    assert len(failures(ctx)) == 4
    assert attempt(client)["errors"] == []
    assert failures(ctx) == []
    for _ in range(4):
        assert attempt(client, password="wrong password", address="10.0.3.1") == INVALID_CREDENTIALS
    assert attempt(client, address="10.0.3.1")["errors"] == []


def test_failures_older_than_the_window_are_not_counted_and_are_purged(client, ctx, ada, clock):
    clock.freeze(T0)
    for _ in range(4):
        attempt(client, password="wrong password")
    clock.freeze(T0 + timedelta(minutes=15))
    assert attempt(client, password="wrong password") == INVALID_CREDENTIALS
    assert failures(ctx) == [T0 + timedelta(minutes=15)]
    assert attempt(client)["errors"] == []


def test_the_lockout_constants_are_settings(app, client, ada, clock):
    app.config.update(SIGN_IN_MAX_FAILURES=2, SIGN_IN_FAILURE_WINDOW=60)
    clock.freeze(T0)
    attempt(client, password="wrong password")
    attempt(client, password="wrong password")
    assert attempt(client) == locked(T0 + timedelta(minutes=1))
    clock.freeze(T0 + timedelta(minutes=1))
    assert attempt(client)["errors"] == []


# --- what a request without a token may run ---------------------------------------------------------------

SIGN_IN_LITERAL = 'staffSignIn(email: "ada@example.com", password: "correct horse battery staple") { token }'


@pytest.mark.parametrize("query, extra", [
    ("{ viewer { role } }", {}),
    ("{ __typename }", {}),
    ("mutation { __typename }", {}),
    ("mutation { " + SIGN_IN_LITERAL + ' customerCreate(input: {email: "x@example.com"}) { errors { code } } }', {}),
    ("mutation { ...F } fragment F on Mutation { " + SIGN_IN_LITERAL + " }", {}),
    ("mutation { ... on Mutation { " + SIGN_IN_LITERAL + " } }", {}),
    ("mutation A { " + SIGN_IN_LITERAL + " } query B { viewer { role } }", {}),             # which one?
    ("mutation A { " + SIGN_IN_LITERAL + " } query B { viewer { role } }", {"operationName": "B"}),
    ("mutation A { " + SIGN_IN_LITERAL + " }", {"operationName": "C"}),
    ("subscription { " + SIGN_IN_LITERAL + " }", {}),
    ("mutation { " + SIGN_IN_LITERAL, {}),                                                  # does not parse
    ("mutation { " + " ".join(["__typename"] * 20000) + " " + SIGN_IN_LITERAL + " }", {}),  # token limit
    ("mutation { " + SIGN_IN_LITERAL + " }", {"operationName": 7}),
])
def test_without_a_token_nothing_but_a_sign_in_runs(client, ctx, ada, query, extra):
    assert post(client, query, **extra) == (401, UNAUTHENTICATED)
    assert ctx.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_without_a_token_a_sign_in_with_typename_or_among_operations_runs(client, ada):
    status, body = post(client, "mutation { __typename " + SIGN_IN_LITERAL + " }")
    assert status == 200 and body["data"]["__typename"] == "Mutation" and body["data"]["staffSignIn"]["token"]
    status, body = post(client, "query B { viewer { role } } mutation A { " + SIGN_IN_LITERAL + " }",
                        operationName="A")
    assert status == 200 and body["data"]["staffSignIn"]["token"]


def test_without_a_token_a_sign_in_document_is_validated_with_the_same_limits(client, ada):
    status, body = post(client, 'mutation { staffSignIn(email: "ada@example.com") { token } }')
    assert (status, [e["message"] for e in body["errors"]]) == (400, [
        "Field 'staffSignIn' argument 'password' of type 'String!' is required, but it was not provided."])
    aliases = " ".join(f"a{i}: staffSignIn(email: \"x\", password: \"y\") {{ token }}" for i in range(16))
    status, body = post(client, "mutation { " + aliases + " }")
    assert (status, [e["extensions"]["code"] for e in body["errors"]]) == (400, ["ALIAS_LIMIT"])


def test_the_anonymous_viewer_holds_staff_sign_in_and_nothing_else():
    assert [c for c in Capability if has(ANONYMOUS, c)] == [Capability.STAFF_SIGN_IN]
    assert capabilities_of(ANONYMOUS) == (Capability.STAFF_SIGN_IN,)
    assert masks_pii(ANONYMOUS) is True
    assert ANONYMOUS not in list(Role) and all(ANONYMOUS != role for role in Role)
    assert sign_in.ANONYMOUS_VIEWER.role is ANONYMOUS and sign_in.ANONYMOUS_VIEWER.token_id is None


def test_the_anonymous_viewer_is_refused_by_every_other_check(app, ctx, ada):
    from crm.api.access import access_customer
    from crm.api.context import RequestContext
    from crm.api.permissions import require
    from crm.errors import Forbidden
    context = RequestContext(session=ctx, viewer=sign_in.ANONYMOUS_VIEWER, config=app.config)
    require(context, Capability.STAFF_SIGN_IN)
    with pytest.raises(Forbidden, match="^The ANONYMOUS role may not use this.$"):
        require(context, Capability.VIEWER_READ)
    assert access_customer(context, "00000000-0000-0000-0000-000000000001") is None


def test_a_sign_in_with_a_valid_token_works_too(client, ada, tokens):
    status, body = post(client, SIGN_IN, {"email": EMAIL, "password": PASSWORD}, token=tokens["marketer"])
    assert status == 200 and body["data"]["staffSignIn"]["viewer"]["role"] == "ADMIN"


def trusted_sign_in() -> tuple[str, str]:
    """(sha256, text) of the manifest's StaffSignIn document (graphql/operations/staff_sign_in.graphql)."""
    manifest = json.loads((Path(__file__).resolve().parents[2] / "graphql/operations/manifest.json").read_text())
    (found,) = [(digest, text) for digest, text in manifest.items() if "mutation StaffSignIn(" in text]
    return found


def test_without_a_token_the_trusted_sign_in_document_runs_by_its_hash(client, ada):
    digest, _ = trusted_sign_in()
    response = client.post("/graphql", json={"variables": {"email": EMAIL, "password": PASSWORD}, "extensions": {
        "persistedQuery": {"version": 1, "sha256Hash": digest}}}, environ_base={"REMOTE_ADDR": "10.0.4.1"})
    answer = response.get_json()["data"]["staffSignIn"]
    assert (response.status_code, answer["viewer"], answer["errors"]) == (
        200, {"role": "ADMIN", "staffUser": {"id": answer["viewer"]["staffUser"]["id"], "name": "Ada Admin",
                                             "email": EMAIL}}, [])


def test_with_trusted_documents_all_the_manifests_sign_in_runs_without_a_token(database_url, redis_url, tmp_path,
                                                                              ada):
    app = create_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "TESTING": True,
                      "TRUSTED_DOCUMENTS": "all"})
    app.instance_path = str(tmp_path)
    client = app.test_client()
    digest, text = trusted_sign_in()
    try:
        status, body = post(client, text, {"email": EMAIL, "password": PASSWORD})
        assert status == 200 and body["data"]["staffSignIn"]["errors"] == []
        response = client.post("/graphql", json={"variables": {"email": EMAIL, "password": "wrong password"},
                                                 "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}})
        assert (response.status_code, response.get_json()["data"]["staffSignIn"]["errors"]) == (
            200, INVALID_CREDENTIALS["errors"])
        assert post(client, "{ viewer { role } }") == (401, UNAUTHENTICATED)
    finally:
        app.extensions["crm.engine"].dispose()
