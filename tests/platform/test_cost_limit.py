"""The query cost limit (crm/api/validation.py): exact costs through the test client (GRAPHQL_REPORT_COST puts
them in `extensions.cost`), the COST_LIMIT error, every example operation within the default, and the limit
over real HTTP once."""
from __future__ import annotations

import http.client
import json
import time
from pathlib import Path

import pytest
from graphql import get_introspection_query, parse

from crm.api.validation import query_cost
from tests.servers import CrmServer

OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations"
# customers 1 + 3 x (totalCount 1 + edges 1 + node 1 + id 1 + email 1)
PAGE = "customers(first: FIRST) { totalCount edges { node { id email } } }"
NESTED = "{ customers(first: 10) { edges { node { orders(first: 10) { edges { node { id } } } } } } }"
THREE_DEEP = ("{ segments(first: 100) { edges { node { members(first: 100) { edges { node { "
              "orders(first: 100) { edges { node { id } } } } } } } } } }")


@pytest.fixture
def cost(app, api):
    """The cost the server reports for a document (as ADMIN); the answer must be a 200."""
    app.config["GRAPHQL_REPORT_COST"] = True

    def measure(query: str, variables: dict | None = None, operation_name: str | None = None) -> int:
        response = api.client.post("/graphql", json={"query": query, "variables": variables or {},
                                                     "operationName": operation_name},
                                   headers={"Authorization": f"Bearer {api.tokens['admin']}"})
        assert response.status_code == 200, response.get_data(as_text=True)
        extensions = response.get_json()["extensions"]
        assert extensions["costLimit"] == 20000
        return extensions["cost"]
    return measure


def test_a_literal_first_multiplies_the_connection(cost):
    assert cost("{ " + PAGE.replace("FIRST", "3") + " }") == 16
    assert cost("{ " + PAGE.replace("FIRST", "1") + " }") == 6


def test_first_from_a_variable_its_default_or_the_default_page_size(cost):
    query = "query($n: Int) { " + PAGE.replace("FIRST", "$n") + " }"
    assert cost(query, {"n": 7}) == 36
    assert cost(query) == 1 + 20 * 5  # GRAPHQL_DEFAULT_PAGE_SIZE
    assert cost(query, {"n": None}) == 101  # null is no page size: the default, as the resolver serves it
    assert cost("query($n: Int = 4) { " + PAGE.replace("FIRST", "$n") + " }") == 21
    assert cost("query($n: Int = 4) { " + PAGE.replace("FIRST", "$n") + " }", {"n": 2}) == 11
    assert cost("{ customers { totalCount } }") == 21


def test_a_first_outside_the_page_size_limit_counts_within_it(app, cost):
    assert cost("{ customers(first: 500) { totalCount } }") == 101  # refused by the resolver, as 100 at most
    assert cost("{ customers(first: 0) { totalCount } }") == 2
    app.config["GRAPHQL_MAX_PAGE_SIZE"] = 10
    assert cost("{ customers { totalCount } }") == 11  # the default page is within the limit too


def test_nested_connections_multiply(cost):
    # orders 1 + 10 x (edges, node, id) = 31; customers 1 + 10 x (edges 1 + node 1 + 31)
    assert cost(NESTED) == 331


def test_a_fragment_costs_what_it_selects_and_once_per_selection_set(cost):
    # F: id 1 + orders (1 + 3 x 3) = 11; node 1 + 11 (spread twice, collected once); customers 1 + 2 x (1 + 12)
    query = ("{ customers(first: 2) { edges { node { ...F ...F ... on Customer { ...F } } } } }\n"
             "fragment F on Customer { id orders(first: 3) { edges { node { id } } } }")
    assert cost(query) == 27
    # In two selection sets it is executed twice and counts twice.
    query = ("{ customers(first: 2) { edges { node { ...F } } } node(id: \"x\") { ...F } }\n"
             "fragment F on Customer { id orders(first: 3) { edges { node { id } } } }")
    assert cost(query) == 27 + 1 + 11


def test_fragments_within_fragments_and_inline_fragments(cost):
    query = ("query($id: ID!) { node(id: $id) { ... on Customer { ...Orders } ... on Segment { name ...Members } } }\n"
             "fragment Orders on Customer { orders(first: 2) { totalCount } }\n"
             "fragment Members on Segment { members(first: 4) { edges { node { ...Orders } } } }")
    # Orders 1 + 2 = 3; Members 1 + 4 x (edges 1 + node 1 + 3) = 21; node 1 + 3 + name 1 + 21
    assert cost(query, {"id": "x"}) == 26


def test_a_fragment_bomb_costs_linear_time_and_what_execution_collects(cost):
    levels = 24  # each fragment spreads the next twice: 2**24 paths
    fragments = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    started = time.monotonic()
    assert cost("{ ...F0 }\n" + fragments + f"\nfragment F{levels} on Query {{ __typename }}") == 1
    assert time.monotonic() - started < 3


def test_introspection_fields_cost_one_each_and_multiply_nothing(cost):
    assert cost("{ __typename }") == 1
    assert cost('{ __type(name: "Customer") { name fields { name } } }') == 4
    assert cost("{ __schema { queryType { name } types { name fields { name } } } }") == 7
    graphiql = get_introspection_query(descriptions=True, specified_by_url=True, directive_is_repeatable=True,
                                       schema_description=True, input_value_deprecation=True)
    assert cost(graphiql) == 229


def test_the_cost_is_the_selected_operations(cost):
    query = "query A { customers(first: 1) { totalCount } } query B { customers(first: 5) { totalCount } }"
    assert cost(query, operation_name="A") == 2
    assert cost(query, operation_name="B") == 6


def test_a_mutation_costs_its_fields(cost):
    query = "mutation { customerCreate(input: {email: \"ann@example.com\"}) { customer { id } errors { code } } }"
    assert cost(query) == 5


def test_a_query_over_the_limit_is_400_naming_the_cost_and_the_limit(app, api):
    app.config["GRAPHQL_MAX_COST"] = 330
    body = api(NESTED, status=400)
    assert body == {"errors": [{"message": "Cost limit: this query costs 331; at most 330 are allowed.",
                                "locations": [{"line": 1, "column": 1}],
                                "extensions": {"code": "COST_LIMIT", "cost": 331, "limit": 330}}]}
    app.config["GRAPHQL_MAX_COST"] = 331
    assert api.data(NESTED) == {"customers": {"edges": []}}


def test_the_cost_counts_the_variables_of_the_request(app, api):
    app.config["GRAPHQL_MAX_COST"] = 100
    query = "query($n: Int) { " + PAGE.replace("FIRST", "$n") + " }"
    assert api.data(query, {"n": 19}) == {"customers": {"totalCount": 0, "edges": []}}  # 96
    body = api(query, {"n": 20}, status=400)
    assert [e["extensions"] for e in body["errors"]] == [{"code": "COST_LIMIT", "cost": 101, "limit": 100}]


def test_answers_carry_no_cost_unless_asked(api):
    assert api("{ __typename }") == {"data": {"__typename": "Query"}}


def test_every_example_operation_fits_the_default_at_the_largest_page(app):
    schema = app.extensions["crm.schema"].graphql_schema
    largest = {}
    for path in sorted(OPERATIONS.glob("*.graphql")):
        document = parse(path.read_text())
        variables = {name: 100 for name in ("first", "ordersFirst", "entriesFirst", "rewardsFirst")}
        largest[path.stem] = query_cost(schema, document, variables, None, app.config)
    assert max(largest.values()) == largest["customer_cases"] == 2603
    assert largest["customer_list"] == 2601
    assert app.config["GRAPHQL_MAX_COST"] == 20000


# --- Over HTTP --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = CrmServer(tmp_path_factory.mktemp("cost")).start()
    yield served
    served.stop()


def test_three_nested_connections_of_100_are_refused_over_http(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", "/graphql", body=json.dumps({"query": THREE_DEEP}),
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {server.token()}"})
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 400
    assert body == {"errors": [{"message": "Cost limit: this query costs 3030301; at most 20000 are allowed.",
                                "locations": [{"line": 1, "column": 1}],
                                "extensions": {"code": "COST_LIMIT", "cost": 3030301, "limit": 20000}}]}
