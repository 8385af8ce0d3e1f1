"""Query protection (depth, page size, aliases, tokens, body size, introspection, suggestions),
the transport's request checks, GraphiQL and the health check, through HTTP."""
from __future__ import annotations

import time

import pytest
from graphql import get_introspection_query

import crm
from tests.helpers import create_customer, raw_id, record_order


def nested(path: list[str], leaf: str = "id") -> str:
    """``{ a { b { ... leaf } } }`` for the field path ``path``."""
    body = leaf
    for field in reversed(path):
        body = f"{field} {{ {body} }}"
    return "{ " + body + " }"


# customers(1) edges(2) node(3) orders(4) edges(5) node(6) customer(7) orders(8) edges(9) node(10)
DEPTH_10 = ["customers", "edges", "node", "orders", "edges", "node", "customer", "orders", "edges", "node"]
DEPTH_11 = DEPTH_10 + ["customer"]


def only_error(body: dict) -> tuple:
    assert len(body["errors"]) == 1, body["errors"]
    error = body["errors"][0]
    return error["message"], error.get("extensions")


# --- Depth -----------------------------------------------------------------------------------------

def test_a_query_ten_levels_deep_is_accepted(app, api):
    app.config["GRAPHQL_MAX_COST"] = 10**6  # depth alone: three nested default pages cost 25,661
    ann = create_customer(api, email="ann@example.com")
    order_id = record_order(api, ann["id"], "o-1")["order"]["id"]
    inner = {"orders": {"edges": [{"node": {"id": order_id}}]}}
    assert api.data(nested(DEPTH_10)) == {"customers": {"edges": [
        {"node": {"orders": {"edges": [{"node": {"customer": inner}}]}}}]}}


def test_a_query_eleven_levels_deep_is_rejected_with_400(api):
    body = api(nested(DEPTH_11), status=400)
    assert "data" not in body
    assert only_error(body) == ("Depth limit: this query nests 11 levels deep; at most 10 are allowed.",
                                {"code": "DEPTH_LIMIT"})


def test_depth_counts_through_fragments(api):
    query = ("{ customers { edges { node { ...Deep } } } }\n"
             "fragment Deep on Customer { orders { edges { node { customer { ...Deeper } } } } }\n"
             "fragment Deeper on Customer { orders { edges { node { customer { id } } } } }")
    body = api(query, status=400)
    assert only_error(body) == ("Depth limit: this query nests 11 levels deep; at most 10 are allowed.",
                                {"code": "DEPTH_LIMIT"})


def test_the_depth_limit_follows_the_config(app, api):
    app.config["GRAPHQL_MAX_DEPTH"] = 3
    assert api.data(nested(["customers", "edges", "node"])) == {"customers": {"edges": []}}
    body = api(nested(["customers", "edges", "node", "orders"], leaf="totalCount"), status=400)
    assert only_error(body) == ("Depth limit: this query nests 4 levels deep; at most 3 are allowed.",
                                {"code": "DEPTH_LIMIT"})


def test_an_unknown_fragment_is_a_400_not_a_crash(api):
    body = api("{ ...Missing }", status=400)
    assert only_error(body) == ("Unknown fragment 'Missing'.", None)


def test_a_fragment_cycle_is_a_400_not_a_crash(api):
    body = api("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A __typename }", status=400)
    assert only_error(body) == ("Cannot spread fragment 'A' within itself via 'B'.", None)


def test_a_fragment_bomb_is_measured_in_linear_time(api):
    # Each fragment spreads the next twice: 2**24 paths, which a naive depth walk follows one by one.
    levels = 24
    fragments = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    query = "{ ...F0 }\n" + fragments + f"\nfragment F{levels} on Query {{ __typename }}"
    started = time.monotonic()
    assert api.data(query) == {"__typename": "Query"}
    assert time.monotonic() - started < 3


def test_fragments_nested_too_deeply_are_rejected(api):
    levels = 300
    fragments = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(levels))
    query = "{ ...F0 }\n" + fragments + f"\nfragment F{levels} on Query {{ __typename }}"
    body = api(query, status=400)
    assert only_error(body) == ("Fragment limit: this query nests fragment spreads 301 levels deep; at most 50 are "
                                "allowed.", {"code": "FRAGMENT_LIMIT"})


# --- Page size -------------------------------------------------------------------------------------

@pytest.mark.parametrize("first", [0, -1, 101])
def test_a_page_size_outside_1_to_100_is_rejected(api, first):
    body = api(f"{{ customers(first: {first}) {{ totalCount }} }}")
    assert body["data"] is None
    assert [(e["message"], e["path"], e["extensions"]) for e in body["errors"]] == [
        (f"Page size limit: `first` must be between 1 and 100, got {first}.", ["customers"],
         {"code": "PAGE_SIZE_LIMIT"})]


def test_a_page_size_of_100_is_accepted(api):
    for n in range(3):
        create_customer(api, email=f"c{n}@example.com")
    data = api.data("{ customers(first: 100) { totalCount edges { cursor } pageInfo { hasNextPage } } }")
    assert data["customers"]["totalCount"] == 3
    assert len(data["customers"]["edges"]) == 3
    assert data["customers"]["pageInfo"] == {"hasNextPage": False}


def test_nested_connections_enforce_the_page_size(api):
    ann = create_customer(api, email="ann@example.com")
    body = api("query($id: ID!) { customer(id: $id) { email orders(first: 101) { totalCount } } }", {"id": ann["id"]})
    assert body["data"] == {"customer": None}
    assert [(e["message"], e["path"], e["extensions"]) for e in body["errors"]] == [
        ("Page size limit: `first` must be between 1 and 100, got 101.", ["customer", "orders"],
         {"code": "PAGE_SIZE_LIMIT"})]
    ok = api.data("query($id: ID!) { customer(id: $id) { orders(first: 100) { totalCount } } }", {"id": ann["id"]})
    assert ok == {"customer": {"orders": {"totalCount": 0}}}


def test_the_page_size_limit_follows_the_config(app, api):
    app.config["GRAPHQL_MAX_PAGE_SIZE"] = 5
    body = api("{ staffUsers(first: 6) { totalCount } }")
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        ("Page size limit: `first` must be between 1 and 5, got 6.", {"code": "PAGE_SIZE_LIMIT"})]
    assert api.data("{ staffUsers(first: 5) { totalCount } }") == {"staffUsers": {"totalCount": 4}}


# --- Aliases ---------------------------------------------------------------------------------------

def aliased(count: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"


def test_fifteen_aliases_are_accepted(api):
    assert api.data(aliased(15)) == {f"a{i}": "Query" for i in range(15)}


def test_sixteen_aliases_are_rejected(api):
    body = api(aliased(16), status=400)
    assert "data" not in body
    assert only_error(body) == ("Alias limit: this query uses more than 15 aliases.", {"code": "ALIAS_LIMIT"})


def test_aliases_count_once_per_fragment_spread(api):
    fragment = "fragment Names on Customer { " + " ".join(f"n{i}: email" for i in range(8)) + " }"
    one_spread = "query($id: ID!) { customer(id: $id) { ...Names } }\n" + fragment
    two_spreads = ("query($id: ID!) { customer(id: $id) { ...Names } viewer { customer { ...Names } } }\n"
                   + fragment)
    ann = create_customer(api, email="ann@example.com")
    assert api.data(one_spread, {"id": ann["id"]}) == {"customer": {f"n{i}": "ann@example.com" for i in range(8)}}
    body = api(two_spreads, {"id": ann["id"]}, status=400)
    assert only_error(body) == ("Alias limit: this query uses more than 15 aliases.", {"code": "ALIAS_LIMIT"})


# --- Tokens and body size ----------------------------------------------------------------------------

def test_a_document_over_the_token_limit_is_rejected(api):
    body = api("{ " + "__typename " * 20001 + "}", status=400)
    assert only_error(body) == ("Token limit: the document has more than 20000 tokens.", {"code": "TOKEN_LIMIT"})


def test_a_body_over_one_megabyte_is_413(client, tokens):
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    padding = "x" * (1024 * 1024)
    response = client.post("/graphql", json={"query": "{ __typename }", "variables": {"pad": padding}},
                           headers=headers)
    assert response.status_code == 413
    assert response.get_json() == {"errors": [{"message": "Request body limit: at most 1048576 bytes.",
                                               "extensions": {"code": "BODY_TOO_LARGE"}}]}


def test_a_body_just_under_one_megabyte_is_served(client, tokens):
    headers = {"Authorization": f"Bearer {tokens['admin']}", "Content-Type": "application/json"}
    head = '{"query": "{ __typename }", "variables": {"pad": "'
    tail = '"}}'
    body = head + "x" * (1024 * 1024 - len(head) - len(tail)) + tail
    assert len(body.encode()) == 1024 * 1024
    response = client.post("/graphql", data=body, headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"data": {"__typename": "Query"}}


# --- Introspection and suggestions ------------------------------------------------------------------

def test_development_allows_introspection_including_graphiqls_query(api):
    query = get_introspection_query(descriptions=True, specified_by_url=True, directive_is_repeatable=True,
                                    schema_description=True, input_value_deprecation=True)
    data = api.data(query)
    assert data["__schema"]["queryType"]["name"] == "Query"
    assert data["__schema"]["mutationType"]["name"] == "Mutation"
    assert "Customer" in {t["name"] for t in data["__schema"]["types"]}


def test_development_suggests_misspelled_fields(api):
    body = api("{ customers { totalCont } }", status=400)
    assert only_error(body) == (
        "Cannot query field 'totalCont' on type 'CustomerConnection'. Did you mean 'totalCount'?", None)


@pytest.fixture
def production(app):
    app.config["PRODUCTION"] = True  # clean_state restores the config after the test
    app.config["GRAPHIQL"] = False  # production's default


@pytest.mark.parametrize("query, fields", [
    ("{ __schema { types { name } } }", ["__schema", "types"]),
    ('{ __type(name: "Customer") { name } }', ["__type"]),
])
def test_production_rejects_introspection(api, production, query, fields):
    body = api(query, status=400)
    assert "data" not in body
    assert [(e["message"], e.get("extensions")) for e in body["errors"]] == [
        (f"GraphQL introspection has been disabled, but the requested query contained the field '{field}'.", None)
        for field in fields]


@pytest.mark.parametrize("role, allowed", [("admin", True), ("support_agent", True), ("marketer", True),
                                           ("portal", False), ("integration", False)])
def test_production_with_graphiql_on_lets_staff_tokens_load_the_schema(api, app, production, portal_token, role,
                                                                        allowed):
    api.tokens["portal"] = portal_token(raw_id(create_customer(api, email="pat@example.com")["id"]))
    app.config["GRAPHIQL"] = True
    query = '{ __type(name: "Customer") { name } }'
    if allowed:
        assert api.data(query, as_=role) == {"__type": {"name": "Customer"}}
    else:
        assert [e["message"] for e in api(query, as_=role, status=400)["errors"]] == [
            "GraphQL introspection has been disabled, but the requested query contained the field '__type'."]


def test_production_still_answers_typename(api, production):
    assert api.data("{ __typename customers { __typename } }") == {
        "__typename": "Query", "customers": {"__typename": "CustomerConnection"}}


def test_production_drops_field_suggestions(api, production):
    body = api("{ customers { totalCont } }", status=400)
    assert only_error(body) == ("Cannot query field 'totalCont' on type 'CustomerConnection'.", None)
    assert "Did you mean" not in str(body)


def test_production_drops_suggestions_from_argument_and_variable_errors(api, production):
    body = api("{ customers(frist: 1) { totalCount } }", status=400)
    assert only_error(body) == ("Unknown argument 'frist' on field 'Query.customers'.", None)
    body = api("query($s: LifecycleStage!) { customers(filter: {lifecycleStages: [$s]}) { totalCount } }",
               {"s": "LEED"})
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == [
        "Variable '$s' got invalid value 'LEED'; Value 'LEED' does not exist in 'LifecycleStage' enum."]
    assert "Did you mean" not in str(body)


def test_development_keeps_suggestions_in_variable_errors(api):
    body = api("query($s: LifecycleStage!) { customers(filter: {lifecycleStages: [$s]}) { totalCount } }",
               {"s": "LEED"})
    assert [e["message"] for e in body["errors"]] == [
        "Variable '$s' got invalid value 'LEED'; Value 'LEED' does not exist in 'LifecycleStage' enum. "
        "Did you mean the enum value 'LEAD'?"]


def test_env_production_sets_production(database_url, redis_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path))
    prod = crm.create_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "ENV": "production",
                           "SECRET_KEY": "k" * 32})  # production refuses the development default
    dev = crm.create_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url})
    try:
        assert prod.config["PRODUCTION"] is True
        assert dev.config["PRODUCTION"] is False
        assert dev.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    finally:
        prod.extensions["crm.engine"].dispose()
        dev.extensions["crm.engine"].dispose()


# --- Request shape ---------------------------------------------------------------------------------

def auth(tokens) -> dict:
    return {"Authorization": f"Bearer {tokens['admin']}"}


def test_batched_requests_are_400(client, tokens):
    response = client.post("/graphql", json=[{"query": "{ __typename }"}, {"query": "{ __typename }"}],
                           headers=auth(tokens))
    assert response.status_code == 400
    assert response.get_json() == {"errors": [{
        "message": "Batched requests are not supported: send one operation per request.",
        "extensions": {"code": "BAD_REQUEST"}}]}


@pytest.mark.parametrize("payload, message", [
    ("not json", "The body must be a JSON object {query, variables, operationName}."),
    ('"a string"', "The body must be a JSON object {query, variables, operationName}."),
    ("{}", "The body needs a `query` string."),
    ('{"query": "   "}', "The body needs a `query` string."),
    ('{"query": 5}', "The body needs a `query` string."),
    ('{"query": "{ __typename }", "variables": [1]}', "`variables` must be an object."),
])
def test_malformed_bodies_are_400(client, tokens, payload, message):
    response = client.post("/graphql", data=payload, headers={**auth(tokens), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json() == {"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}


def test_a_syntax_error_is_400(api):
    body = api("{ customers { ", status=400)
    assert body["errors"][0]["message"] == "Syntax Error: Expected Name, found <EOF>."


def test_graphiql_is_served_on_get(client):
    response = client.get("/graphql")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<title>CRM GraphiQL</title>" in html
    assert "GraphiQL.createFetcher" in html


# --- Health --------------------------------------------------------------------------------------

def test_healthz_reports_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_INSTANCE_PATH", str(tmp_path))
    made = []

    def make(config):
        app = crm.create_app(config)
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["crm.engine"].dispose()


def test_healthz_is_503_naming_redis_when_redis_is_down(make_app, database_url):
    app = make_app({"DATABASE_URL": database_url, "REDIS_URL": "redis://127.0.0.1:1/0"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "down"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("down: ConnectionError: ")
    assert "127.0.0.1:1" in body["checks"]["redis"]


def test_healthz_is_503_naming_the_database_when_it_is_down(make_app, redis_url, tmp_path):
    app = make_app({"DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/crm.sqlite", "REDIS_URL": redis_url})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "down"
    assert body["checks"]["database"].startswith("down: OperationalError: ")
    assert body["checks"]["redis"] == "ok"
