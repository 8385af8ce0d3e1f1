"""Robustness of the transport and of documents (issue 14): no body, document or failure ends in an HTTP 500,
an HTML page or an internal error's text; every refusal is a JSON error with a code that names the problem.
Input values (scalars, ids, cursors, required fields) are in test_robustness_inputs.py."""
from __future__ import annotations

import json
import logging

import pytest

from tests.helpers import create_customer


def auth(tokens, role: str = "admin") -> dict:
    return {"Authorization": f"Bearer {tokens[role]}"}


def post_raw(client, tokens, data, content_type: str = "application/json"):
    return client.post("/graphql", data=data, content_type=content_type, headers=auth(tokens))


def only_error(response) -> tuple:
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)
    assert len(body["errors"]) == 1, body["errors"]
    return response.status_code, body["errors"][0]["message"], body["errors"][0].get("extensions")


def customer_count(api) -> int:
    return api.data("{ customers { totalCount } }")["customers"]["totalCount"]


# --- Finding 2: bodies -------------------------------------------------------------------------------

def nested_object(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def test_variables_nested_500_deep_are_a_400_not_a_500(client, tokens):
    body = '{"query": "{ __typename }", "variables": {"a": ' + "[" * 500 + "]" * 500 + "}}"
    assert len(body) < 1100
    assert only_error(post_raw(client, tokens, body)) == (
        400, "The request nests deeper than 64 levels.", {"code": "BAD_REQUEST"})


def test_json_nested_past_the_parsers_recursion_limit_is_a_400(client, tokens):
    body = '{"query": "{ __typename }", "variables": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    assert only_error(post_raw(client, tokens, body)) == (
        400, "The body nests deeper than 64 levels.", {"code": "BAD_REQUEST"})


def test_objects_nested_500_deep_are_a_400_too(client, tokens):
    body = json.dumps({"query": "{ __typename }", "variables": nested_object(500)})
    assert only_error(post_raw(client, tokens, body)) == (
        400, "The request nests deeper than 64 levels.", {"code": "BAD_REQUEST"})


def test_a_body_nested_64_levels_deep_is_served_and_65_is_refused(api):
    # The body is level 1, `variables` level 2, `v` and the objects in it levels 3 to 64.
    assert api.data("{ __typename }", {"v": nested_object(61)}) == {"__typename": "Query"}
    body = api("{ __typename }", {"v": nested_object(62)}, status=400)
    assert body["errors"][0]["message"] == "The request nests deeper than 64 levels."


@pytest.mark.parametrize("data, content_type, message", [
    (b"", "application/json", "The body is empty; it must be a JSON object {query, variables, operationName}."),
    (b"   \n", "application/json", "The body is empty; it must be a JSON object {query, variables, operationName}."),
    (b'{"query": "{ __typename \xff }"}', "application/json", "The body is not valid UTF-8."),
    (b"\xff\xfe{\x00", "application/json", "The body is not valid UTF-8."),
    (b"3", "application/json", "The body must be a JSON object {query, variables, operationName}."),
    (b"null", "application/json", "The body must be a JSON object {query, variables, operationName}."),
    (b"true", "application/json", "The body must be a JSON object {query, variables, operationName}."),
    (b"query=%7B__typename%7D", "application/x-www-form-urlencoded",
     "The body must be a JSON object {query, variables, operationName}."),
    (b"<xml/>", "application/xml", "The body must be a JSON object {query, variables, operationName}."),
    (b'{"query": "{ __typename }", "operationName": 5}', "application/json", "`operationName` must be a string."),
])
def test_odd_bodies_are_a_json_400(client, tokens, data, content_type, message):
    response = post_raw(client, tokens, data, content_type)
    assert response.mimetype == "application/json"
    assert only_error(response) == (400, message, {"code": "BAD_REQUEST"})


def test_json_sent_as_text_plain_is_served(client, tokens):
    response = post_raw(client, tokens, '{"query": "{ __typename }"}', "text/plain")
    assert (response.status_code, response.get_json()) == (200, {"data": {"__typename": "Query"}})


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_on_graphql_are_a_json_405(client, tokens, method):
    response = getattr(client, method)("/graphql", json={"query": "{ __typename }"}, headers=auth(tokens))
    assert response.mimetype == "application/json"
    assert only_error(response) == (405, "The method is not allowed for the requested URL.",
                                    {"code": "METHOD_NOT_ALLOWED"})


def test_an_unknown_path_is_a_json_404(client):
    response = client.get("/graphq")
    assert response.mimetype == "application/json"
    status, _message, extensions = only_error(response)
    assert (status, extensions) == (404, {"code": "NOT_FOUND"})


def test_a_failure_outside_any_resolver_is_a_json_500_that_says_nothing_more(app, client, tokens, monkeypatch):
    import crm.api.view

    def broken(*_args):
        raise RuntimeError("connection to server at 10.0.0.5 failed: password authentication failed")

    monkeypatch.setattr(crm.api.view, "parse_body", broken)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # as when not testing
    response = post_raw(client, tokens, '{"query": "{ __typename }"}')
    assert response.mimetype == "application/json"
    assert only_error(response) == (500, "Internal error.", {"code": "INTERNAL"})


# --- Finding 5: NUL and lone surrogates written as escapes in the document ----------------------------

@pytest.mark.parametrize("literal", [
    'firstName: "a\\u0000b"',
    'firstName: "\\u0000"',
    'attributes: {note: "a\\u0000b"}',
    'attributes: {list: ["ok", {deep: "\\u0000"}]}',
])
def test_a_nul_escape_in_a_string_literal_is_refused_and_nothing_is_written(api, literal):
    document = f'mutation {{ customerCreate(input: {{email: "nul@example.com", {literal}}}) {{ errors {{ field }} }} }}'
    body = api(document, status=400)
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        ("Text in the request must not contain NUL characters.", {"code": "BAD_REQUEST"})]
    assert customer_count(api) == 0


def test_a_lone_surrogate_escape_in_a_string_literal_is_a_syntax_error(api):
    body = api('mutation { customerCreate(input: {email: "s@example.com", firstName: "a\\ud800b"}) '
               '{ errors { field } } }', status=400)
    assert [e["message"] for e in body["errors"]] == ["Syntax Error: Invalid Unicode escape sequence: '\\ud800'."]
    assert customer_count(api) == 0


def test_a_nul_in_a_query_argument_literal_is_refused(api):
    body = api('{ customer(email: "a\\u0000@example.com") { id } }', status=400)
    assert [e["extensions"] for e in body["errors"]] == [{"code": "BAD_REQUEST"}]


def test_escapes_that_are_not_nul_are_kept(api):
    customer = create_customer(api, email="esc@example.com")
    body = api.data('mutation($id: ID!) { customerUpdate(id: $id, input: {firstName: "Zo\\u00eb \\ud83d\\ude00"}) '
                    '{ customer { firstName } errors { field } } }', {"id": customer["id"]})
    assert body["customerUpdate"] == {"customer": {"firstName": "Zoë \U0001F600"}, "errors": []}


# --- Finding 6: what the SDL marks required is required ---------------------------------------------------

def not_provided(type_field: str, type_: str) -> str:
    return f"Field '{type_field}' of required type '{type_}' was not provided."


SEND = '{customerId: "%s", body: "Hi", %s}'
STEP = '{key: "s", type: SEND, content: [{channel: EMAIL, template: "Hi"}]}'


@pytest.mark.parametrize("document, message", [
    ('mutation { segmentCreate(input: {name: "x"}) { errors { field } } }',
     not_provided("SegmentCreateInput.kind", "SegmentKind!")),
    ('mutation { segmentUpdate(id: "x", input: {name: "x", rule: {}}) { errors { field } } }',
     not_provided("SegmentCreateInput.kind", "SegmentKind!")),
    ('mutation { serviceTierRuleUpdate(input: {rule: null}) { errors { field } } }',
     not_provided("ServiceTierRuleInput.tier", "ServiceTier!")),
    ("mutation { messageSend(input: " + SEND % ("x", "purpose: CARE") + ") { errors { field } } }",
     not_provided("MessageSendInput.channel", "Channel!")),
    ("mutation { messageSend(input: " + SEND % ("x", "channel: EMAIL") + ") { errors { field } } }",
     not_provided("MessageSendInput.purpose", "MessagePurpose!")),
    ("{ customers(orderBy: {field: LAST_NAME}) { totalCount } }",
     not_provided("CustomerOrderBy.direction", "OrderDirection!")),
    ("{ customers(orderBy: {direction: ASC}) { totalCount } }",
     not_provided("CustomerOrderBy.field", "CustomerOrderField!")),
    ('mutation { campaignCreate(input: {name: "c", schedule: {at: "2030-01-01T00:00:00Z"}}) { errors { field } } }',
     not_provided("CampaignScheduleInput.kind", "CampaignScheduleKind!")),
    ('mutation { campaignCreate(input: {name: "c", trigger: {days: 3}}) { errors { field } } }',
     not_provided("CampaignTriggerInput.kind", "CampaignTriggerKind!")),
    ('mutation { campaignCreate(input: {name: "c", steps: [{key: "s"}]}) { errors { field } } }',
     not_provided("CampaignStepInput.type", "CampaignStepType!")),
    ('mutation { campaignCreate(input: {name: "c", steps: [{key: "s", type: SEND, content: [{template: "Hi"}]}]}) '
     '{ errors { field } } }', not_provided("CampaignContentInput.channel", "Channel!")),
])
def test_a_missing_required_input_field_is_a_400_naming_it(api, document, message):
    body = api(document, status=400)
    assert [e["message"] for e in body["errors"]] == [message]


@pytest.mark.parametrize("input_type, value, missing", [
    ("SegmentCreateInput", {"name": "x"}, "Field 'kind' of required type 'SegmentKind!' was not provided."),
    ("ServiceTierRuleInput", {"rule": None}, "Field 'tier' of required type 'ServiceTier!' was not provided."),
    ("CustomerOrderBy", {"field": "LAST_NAME"},
     "Field 'direction' of required type 'OrderDirection!' was not provided."),
])
def test_a_missing_required_field_in_a_variable_is_refused_naming_it(api, input_type, value, missing):
    field = {"SegmentCreateInput": "segmentCreate(input: $v) { errors { field } }",
             "ServiceTierRuleInput": "serviceTierRuleUpdate(input: $v) { errors { field } }",
             "CustomerOrderBy": "customers(orderBy: $v) { totalCount }"}[input_type]
    operation = "query" if input_type == "CustomerOrderBy" else "mutation"
    body = api(f"{operation}($v: {input_type}!) {{ {field} }}", {"v": value})
    assert body["data"] is None
    assert [e["message"] for e in body["errors"]] == [f"Variable '$v' got invalid value {value!r}; {missing}"]
    assert api.data("{ segments { totalCount } }") == {"segments": {"totalCount": 0}}


def test_no_required_input_field_or_argument_has_a_default(app):
    """graphene gives ``graphene.Field`` in an input type a default of None: the SDL still shows the field
    required, but graphql-core then lets it be left out and the resolver reads None."""
    from graphql import GraphQLInputObjectType, GraphQLNonNull, GraphQLObjectType, Undefined

    schema = app.extensions["crm.schema"].graphql_schema
    defaulted = []
    for name, graphql_type in schema.type_map.items():
        if name.startswith("__"):  # graphql-core's introspection types
            continue
        if isinstance(graphql_type, GraphQLInputObjectType):
            defaulted += [f"{name}.{field}" for field, value in graphql_type.fields.items()
                          if isinstance(value.type, GraphQLNonNull) and value.default_value is not Undefined]
        elif isinstance(graphql_type, GraphQLObjectType):
            defaulted += [f"{name}.{field}({arg})" for field, value in graphql_type.fields.items()
                          for arg, argument in value.args.items()
                          if isinstance(argument.type, GraphQLNonNull) and argument.default_value is not Undefined]
    assert defaulted == []


# --- Finding 9: cost caps say which limit they hit ------------------------------------------------------

def test_a_selection_repeated_1000_times_hits_the_field_limit(api):
    body = api("{ " + "__typename " * 1000 + "}", status=400)
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        ("Field limit: the document selects 1000 fields; at most 500 are allowed.", {"code": "FIELD_LIMIT"})]


def test_500_fields_are_served(api):
    assert api.data("{ " + "__typename " * 500 + "}") == {"__typename": "Query"}


def test_the_field_limit_follows_the_config(app, api):
    app.config["GRAPHQL_MAX_FIELDS"] = 3
    assert api.data("{ customers { totalCount } __typename }")["__typename"] == "Query"
    body = api("{ customers { totalCount edges { cursor } } }", status=400)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FIELD_LIMIT"]


def chain(levels: int) -> str:
    fragments = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(levels))
    return "{ ...F0 }\n" + fragments + f"\nfragment F{levels} on Query {{ __typename }}"


def test_500_chained_fragments_hit_the_fragment_limit(api):
    body = api(chain(500), status=400)
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        ("Fragment limit: this query nests fragment spreads 501 levels deep; at most 50 are allowed.",
         {"code": "FRAGMENT_LIMIT"})]


def test_50_chained_fragments_are_served(api):
    assert api.data(chain(49)) == {"__typename": "Query"}


def test_more_than_100_validation_errors_say_so(api):
    body = api("{ " + " ".join(f"f{i}" for i in range(150)) + " }", status=400)
    assert len(body["errors"]) == 101
    assert (body["errors"][-1]["message"], body["errors"][-1]["extensions"]) == (
        "Too many validation errors, error limit reached. Validation aborted.", {"code": "VALIDATION_LIMIT"})


def test_introspection_nested_through_fragments_beyond_graphql_cores_guard_says_so(api):
    # Introspection fields add no depth and 49 fragments are within the fragment limit, but together they
    # nest deeper than graphql-core validates (200 levels).
    four_levels = "ofType { ofType { ofType { ofType { ...F%d } } } }"
    fragments = "\n".join(f"fragment F{i} on __Type {{ {four_levels % (i + 1)} }}" for i in range(49))
    body = api("{ __schema { types { ...F0 } } }\n" + fragments + "\nfragment F49 on __Type { name }", status=400)
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        ("Validation limit: the document nests selections and fragments too deeply to validate.",
         {"code": "VALIDATION_LIMIT"})]


def test_a_document_nested_too_deeply_to_parse_says_so(api):
    body = api("{ " + "customers { " * 300 + "totalCount" + " }" * 301, status=400)
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [
        ("Depth limit: the document nests too deeply to be parsed.", {"code": "DEPTH_LIMIT"})]


# --- Finding 10: internal errors keep their text in the log ----------------------------------------------

SECRET = "SELECT * FROM customer WHERE email = 'ann.lee@example.com'"


@pytest.fixture
def failing_customer_list(monkeypatch):
    from crm.customers import selectors

    def broken(*_args, **_kwargs):
        raise RuntimeError(f"(psycopg.errors.InternalError) boom [SQL: {SECRET}]")

    monkeypatch.setattr(selectors, "list_customers", broken)


def test_development_answers_internal_error_and_the_class_and_logs_the_rest(api, failing_customer_list, caplog):
    with caplog.at_level(logging.ERROR, logger="crm.api.view"):
        body = api("{ customers { totalCount } }")
    assert body["errors"] == [{"message": "Internal error.", "locations": [{"line": 1, "column": 3}],
                               "path": ["customers"], "extensions": {"code": "INTERNAL", "exception": "RuntimeError"}}]
    assert SECRET not in json.dumps(body)
    assert SECRET in caplog.text


def test_production_answers_internal_error_only(app, api, failing_customer_list, caplog):
    app.config["PRODUCTION"] = True
    with caplog.at_level(logging.ERROR, logger="crm.api.view"):
        body = api("{ customers { totalCount } }")
    assert [(e["message"], e["extensions"]) for e in body["errors"]] == [("Internal error.", {"code": "INTERNAL"})]
    assert SECRET in caplog.text
