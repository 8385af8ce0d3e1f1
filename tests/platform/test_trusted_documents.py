"""Trusted documents (crm/api/trusted_documents.py): the manifest of graphql/operations/, persisted-query
requests, and CRM_TRUSTED_DOCUMENTS, over real HTTP against `crm serve` (tests/servers.py) in the "portal" and
"all" modes; the "off" default, the manifest command and the start-up checks in process."""
from __future__ import annotations

import hashlib
import http.client
import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from graphql import parse, print_ast

from crm import create_app
from crm.api import trusted_documents
from crm.api.ids import global_id
from crm.api.operations_cli import operations_group
from crm.api.trusted_documents import NOT_FOUND, build_manifest, manifest_text
from crm.config import ConfigError
from tests.helpers import CREATE, raw_id
from tests.servers import CrmServer

OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations"
MANIFEST = OPERATIONS / "manifest.json"
UNKNOWN = "0" * 64
REFUSED_PORTAL = (
    "Trusted document required: on this server a PORTAL token may run only the documents of the trusted-documents "
    "manifest. Send one of them, by `extensions.persistedQuery.sha256Hash` or as its text; to run another, add it "
    "to the front end's operations and regenerate the manifest (`crm operations manifest`).")
MISMATCH = ("`extensions.persistedQuery.sha256Hash` is not the sha256 of `query` (of its UTF-8 text, exactly as "
            "sent).")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def text_of(name: str) -> str:
    return (OPERATIONS / f"{name}.graphql").read_text()


def by_hash(name: str, variables: dict | None = None) -> dict:
    return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(text_of(name))}},
            "variables": variables or {}}


def error(message: str, code: str) -> dict:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


# --- The manifest -----------------------------------------------------------------------------------

def test_the_committed_manifest_is_the_operations_files():
    committed = json.loads(MANIFEST.read_text())
    files = sorted(OPERATIONS.glob("*.graphql"))
    assert sorted(committed.values()) == sorted(p.read_text() for p in files)
    assert all(key == sha(text) for key, text in committed.items())
    # Byte for byte what `crm operations manifest` writes: run it and commit the file when this fails.
    assert MANIFEST.read_text() == manifest_text(build_manifest(OPERATIONS))


def test_the_portal_can_do_its_work_with_manifest_documents():
    names = {p.stem for p in OPERATIONS.glob("*.graphql")}
    assert names >= {"customer_profile", "customer_update", "customer_confirm_email", "customer_set_consent",
                     "customer_messages", "customer_timeline", "customer_cases", "case_open",
                     "survey_response_submit", "customer_loyalty", "reward_redeem"}


def test_the_command_writes_the_manifest_and_checks_it(tmp_path):
    (tmp_path / "a.graphql").write_text("query A { viewer { role } }\n")
    (tmp_path / "b.graphql").write_text("# portal\nquery B { __typename }\n")
    runner = CliRunner()
    written = runner.invoke(operations_group, ["manifest", "--directory", str(tmp_path)])
    assert written.exit_code == 0, written.output
    assert written.output == f"wrote {tmp_path / 'manifest.json'} (2 documents)\n"
    assert json.loads((tmp_path / "manifest.json").read_text()) == {
        sha("query A { viewer { role } }\n"): "query A { viewer { role } }\n",
        sha("# portal\nquery B { __typename }\n"): "# portal\nquery B { __typename }\n"}
    assert runner.invoke(operations_group, ["manifest", "--directory", str(tmp_path), "--check"]).exit_code == 0

    (tmp_path / "a.graphql").write_text("query A { viewer { role customer { id } } }\n")
    drifted = runner.invoke(operations_group, ["manifest", "--directory", str(tmp_path), "--check"])
    assert drifted.exit_code == 1
    assert drifted.output == (f"Error: {tmp_path / 'manifest.json'} differs from the operations in {tmp_path}: run "
                              "`crm operations manifest` and commit the file.\n")

    (tmp_path / "c.graphql").write_text("query C { __typename }\nquery D { __typename }\n")
    two = runner.invoke(operations_group, ["manifest", "--directory", str(tmp_path)])
    assert two.exit_code == 1
    assert two.output == (f"Error: {tmp_path / 'c.graphql'} holds 2 operations: one operation per file (with the "
                          "fragments it uses).\n")


# --- Start-up ---------------------------------------------------------------------------------------

@pytest.fixture
def start(database_url, redis_url, tmp_path):
    def make(**config):
        app = create_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "TESTING": True, **config})
        app.instance_path = str(tmp_path)
        return app
    return make


def test_a_mode_that_needs_a_missing_manifest_refuses_to_start(start, tmp_path):
    missing = tmp_path / "nowhere.json"
    with pytest.raises(ConfigError) as raised:
        start(TRUSTED_DOCUMENTS="portal", TRUSTED_DOCUMENTS_MANIFEST=str(missing))
    assert str(raised.value) == (
        f"CRM_TRUSTED_DOCUMENTS=portal needs the trusted-documents manifest, and {missing} does not exist: set "
        "CRM_TRUSTED_DOCUMENTS_MANIFEST to your front end's manifest.json (`crm operations manifest --directory "
        "DIR` writes one from its .graphql files).")


def test_an_unknown_mode_refuses_to_start(start):
    with pytest.raises(ConfigError) as raised:
        start(TRUSTED_DOCUMENTS="portals")
    assert str(raised.value) == "CRM_TRUSTED_DOCUMENTS must be one of off, portal, all, not 'portals'."


def test_a_manifest_whose_hash_is_not_its_text_refuses_to_start(start, tmp_path):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({UNKNOWN: "{ __typename }"}))
    with pytest.raises(ConfigError) as raised:
        start(TRUSTED_DOCUMENTS_MANIFEST=str(manifest))
    assert str(raised.value) == (f"CRM_TRUSTED_DOCUMENTS_MANIFEST: in {manifest}, {UNKNOWN!r} is not the sha256 "
                                 "of its document's text; regenerate the file with `crm operations manifest`.")


def test_without_the_repository_manifest_off_still_serves(start, monkeypatch, tmp_path, staff):
    # An installed wheel has no graphql/operations/: the default path is then missing.
    monkeypatch.setattr(trusted_documents, "OPERATIONS", tmp_path / "absent")
    app = start()
    assert app.extensions["crm.trusted_documents"] is None
    from crm.auth.services import create_token
    from crm.enums import Role
    with app.app_context():
        from crm.sessions import get_session
        token = create_token(get_session(), role=Role.ADMIN, staff_email=staff["admin"].email)[1]
    client, auth = app.test_client(), {"Authorization": f"Bearer {token}"}
    assert client.post("/graphql", json={"query": "{ __typename }"}, headers=auth).get_json() == {
        "data": {"__typename": "Query"}}
    response = client.post("/graphql", json=by_hash("customer_profile"), headers=auth)
    assert (response.status_code, response.get_json()) == (200, error(NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND"))
    with pytest.raises(ConfigError):
        start(TRUSTED_DOCUMENTS="all")


# --- "off", the default (the test client) -----------------------------------------------------------

def test_off_runs_any_document_and_manifest_documents_by_hash(api, client, tokens):
    assert api.data("{ viewer { role } }", as_="marketer") == {"viewer": {"role": "MARKETER"}}
    response = client.post("/graphql", json=by_hash("customer_list", {"first": 2}),
                           headers={"Authorization": f"Bearer {tokens['marketer']}"})
    assert response.status_code == 200
    assert response.get_json() == {"data": {"customers": {"totalCount": 0, "pageInfo": {
        "hasNextPage": False, "endCursor": None}, "edges": []}}}


@pytest.mark.parametrize("extensions, message", [
    ([], "`extensions` must be an object."),
    ({"persistedQuery": {"version": 2, "sha256Hash": UNKNOWN}},
     '`extensions.persistedQuery` must be {"version": 1, "sha256Hash": "<64 hex digits>"}.'),
    ({"persistedQuery": "abc"}, '`extensions.persistedQuery` must be {"version": 1, "sha256Hash": "<64 hex digits>"}.'),
    ({"persistedQuery": {"version": 1, "sha256Hash": "abc"}},
     "`extensions.persistedQuery.sha256Hash` must be a sha256 in hex (64 digits)."),
    ({"persistedQuery": {"version": 1}}, "`extensions.persistedQuery.sha256Hash` must be a sha256 in hex (64 digits)."),
])
def test_a_malformed_persisted_query_is_400(client, tokens, extensions, message):
    response = client.post("/graphql", json={"query": "{ __typename }", "extensions": extensions},
                           headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert (response.status_code, response.get_json()) == (400, error(message, "BAD_REQUEST"))


def test_other_extensions_are_ignored(api, client, tokens):
    response = client.post("/graphql", json={"query": "{ __typename }", "extensions": {"tracing": True}},
                           headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert response.get_json() == {"data": {"__typename": "Query"}}


# --- Over HTTP: "portal" ----------------------------------------------------------------------------

class Http:
    def __init__(self, server):
        self.server = server

    def post(self, body: dict, token: str) -> tuple[int, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            connection.request("POST", "/graphql", body=json.dumps(body),
                               headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def data(self, body: dict, token: str) -> dict:
        status, answer = self.post(body, token)
        assert status == 200 and "errors" not in answer, answer
        return answer["data"]


@pytest.fixture(scope="module")
def portal_server(tmp_path_factory):
    served = CrmServer(tmp_path_factory.mktemp("trusted"), TRUSTED_DOCUMENTS="portal").start()
    http_ = Http(served)
    admin = served.token()
    customer = http_.data({"query": CREATE, "variables": {"input": {"email": "ines@example.org",
                                                                    "firstName": "Inès"}}}, admin)
    customer = customer["customerCreate"]["customer"]
    portal = served.command("tokens", "create", "--role", "PORTAL", "--customer", str(raw_id(customer["id"])))
    portal = portal.strip().splitlines()[-1]
    yield http_, {"admin": admin, "portal": portal, "customer": customer["id"]}
    served.stop()


def test_portal_runs_a_manifest_document_by_hash_only(portal_server):
    http_, ids = portal_server
    data = http_.data(by_hash("customer_profile"), ids["portal"])
    assert data["viewer"]["role"] == "PORTAL"
    assert (data["viewer"]["customer"]["id"], data["viewer"]["customer"]["displayName"]) == (ids["customer"], "Inès")


def test_portal_runs_a_manifest_document_sent_as_text(portal_server):
    http_, ids = portal_server
    data = http_.data({"query": text_of("customer_cases"), "variables": {"id": ids["customer"]}}, ids["portal"])
    assert data == {"customer": {"id": ids["customer"], "cases": {
        "totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": []}}}
    # With its hash too (Apollo Client's retry after PERSISTED_QUERY_NOT_FOUND).
    body = {**by_hash("customer_cases", {"id": ids["customer"]}), "query": text_of("customer_cases")}
    assert http_.data(body, ids["portal"]) == data
    # Written differently, as a code generator prints it: no comments, other whitespace.
    printed = print_ast(parse(text_of("customer_cases")))
    assert printed != text_of("customer_cases")
    assert http_.data({"query": printed, "variables": {"id": ids["customer"]}}, ids["portal"]) == data


def test_the_portal_operations_run_with_a_portal_token(portal_server):
    http_, ids = portal_server
    me = {"id": ids["customer"]}
    loyalty = http_.data(by_hash("customer_loyalty"), ids["portal"])
    assert loyalty["viewer"]["customer"]["loyalty"]["balance"] == 0
    assert loyalty["viewer"]["customer"]["loyalty"]["entries"] == {"totalCount": 0, "edges": []}
    assert isinstance(loyalty["rewards"]["edges"], list)
    timeline = http_.data(by_hash("customer_timeline", me), ids["portal"])["customer"]
    assert timeline["interactions"]["totalCount"] == 0
    assert http_.data(by_hash("customer_messages", {**me, "first": 5}), ids["portal"])["customer"]["id"] == me["id"]
    opened = http_.data(by_hash("case_open", {"input": {"customerId": me["id"], "kind": "INQUIRY", "channel": "WEB",
                                                        "subject": "Where is my parcel?"}}), ids["portal"])
    assert opened["caseOpen"]["errors"] == [] and opened["caseOpen"]["case"]["status"] == "RECEIVED"
    cases = http_.data(by_hash("customer_cases", me), ids["portal"])["customer"]["cases"]
    assert [e["node"]["subject"] for e in cases["edges"]] == ["Where is my parcel?"]
    answered = http_.data(by_hash("survey_response_submit", {"input": {"customerId": me["id"], "kind": "NPS",
                                                                       "score": 9}}), ids["portal"])
    assert answered["surveyResponseSubmit"]["errors"] == []
    assert answered["surveyResponseSubmit"]["surveyResponse"]["score"] == 9
    unknown_reward = global_id("Reward", uuid.UUID(int=1))
    redeemed = http_.data(by_hash("reward_redeem", {"customerId": me["id"], "rewardId": unknown_reward,
                                                    "idempotencyKey": "r-1"}), ids["portal"])["rewardRedeem"]
    assert redeemed == {"redemption": None, "account": None, "errors": [
        {"field": "rewardId", "code": "NOT_FOUND", "message": "No reward has this id."}]}


def test_an_unknown_hash_is_persisted_query_not_found_with_200(portal_server):
    http_, ids = portal_server
    body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": UNKNOWN}}}
    for token in (ids["portal"], ids["admin"]):
        assert http_.post(body, token) == (200, error(NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND"))


def test_a_hash_that_is_not_the_querys_is_400(portal_server):
    http_, ids = portal_server
    body = {"query": "{ viewer { role } }", "extensions": {"persistedQuery": {
        "version": 1, "sha256Hash": sha(text_of("customer_profile"))}}}
    for token in (ids["portal"], ids["admin"]):
        assert http_.post(body, token) == (400, error(MISMATCH, "BAD_REQUEST"))


def test_portal_may_not_run_other_documents(portal_server):
    http_, ids = portal_server
    for query in ("{ customers { totalCount } }",
                  "{ viewer { role } }",
                  text_of("customer_profile").replace("role", "role staffUser { email }"),  # a manifest one, changed
                  "{ nope }"):  # refused before validation: the token learns nothing about the schema
        assert http_.post({"query": query}, ids["portal"]) == (403, error(REFUSED_PORTAL, "TRUSTED_DOCUMENT_REQUIRED"))
    # Sending its own hash along does not make a document trusted.
    body = {"query": "{ viewer { role } }", "extensions": {"persistedQuery": {
        "version": 1, "sha256Hash": sha("{ viewer { role } }")}}}
    assert http_.post(body, ids["portal"]) == (403, error(REFUSED_PORTAL, "TRUSTED_DOCUMENT_REQUIRED"))


def test_staff_tokens_run_any_document_in_portal_mode(portal_server):
    http_, ids = portal_server
    assert http_.data({"query": "{ viewer { role } }"}, ids["admin"]) == {"viewer": {"role": "ADMIN"}}
    assert http_.data(by_hash("customer_list", {"first": 1}), ids["admin"])["customers"]["totalCount"] == 1


# --- Over HTTP: "all" -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def all_server(tmp_path_factory):
    served = CrmServer(tmp_path_factory.mktemp("trusted_all"), TRUSTED_DOCUMENTS="all").start()
    yield Http(served), served.token()
    served.stop()


def test_all_holds_every_token_to_the_manifest(all_server):
    http_, admin = all_server
    refused = REFUSED_PORTAL.replace("a PORTAL token", "every token")
    assert http_.post({"query": "{ viewer { role } }"}, admin) == (403, error(refused, "TRUSTED_DOCUMENT_REQUIRED"))
    assert http_.data(by_hash("customer_list", {"first": 1}), admin)["customers"]["totalCount"] == 0
    assert http_.data({"query": text_of("care_rules")}, admin)["careRules"][0]["key"] == "welcome"
