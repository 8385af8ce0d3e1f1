"""`crm demo`: seeds a realistic data set through the services and prints an admin token."""
from __future__ import annotations

from collections import Counter

VIEWER = "{ viewer { role staffUser { email } } }"

CUSTOMERS = """query($after: String) { customers(first: 100, after: $after) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { node { id email phone externalId timezone locale lifecycleStage serviceTier serviceTierPinned
                 accountManager { role }
                 lifecycleHistory { fromStage toStage actor }
                 orders(first: 1) { totalCount edges { node { currency } } }
                 metrics { totalSpent orderCount } } } } }"""


def graphql(client, token: str, query: str, variables: dict | None = None) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables or {}},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def run_demo(runner) -> str:
    result = runner.invoke(args=["demo", "--customers", "40", "--no-serve"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output.strip().splitlines()[-1].strip()


def all_customers(client, token: str) -> list[dict]:
    nodes, after = [], None
    while True:
        page = graphql(client, token, CUSTOMERS, {"after": after})["customers"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


def test_demo_seeds_customers_and_prints_an_admin_token(runner, client):
    token = run_demo(runner)

    viewer = graphql(client, token, VIEWER)["viewer"]
    assert viewer == {"role": "ADMIN", "staffUser": {"email": "admin@demo.example"}}
    customers = all_customers(client, token)
    assert len(customers) == 40

    stages = Counter(c["lifecycleStage"] for c in customers)
    tiers = Counter(c["serviceTier"] for c in customers)
    assert len(stages) >= 4, stages
    assert len(tiers) >= 2, tiers
    # The rules ran: order rules moved stages, and a manual move was made by a staff user.
    actors = {h["actor"] for c in customers for h in c["lifecycleHistory"]}
    assert {"rule:first-order", "rule:repeat-orders"} <= actors
    assert any(actor.endswith("@demo.example") for actor in actors)
    # Every VIP has an account manager; a tier is pinned by hand; profiles are complete.
    assert all(c["accountManager"] == {"role": "ACCOUNT_MANAGER"} for c in customers if c["serviceTier"] == "VIP")
    assert any(c["serviceTierPinned"] for c in customers)
    assert all(c["email"] or c["phone"] or c["externalId"] for c in customers)
    assert sum(1 for c in customers if c["email"]) >= 30 and sum(1 for c in customers if c["phone"]) >= 20
    assert len({c["timezone"] for c in customers}) >= 5
    buyers = [c for c in customers if c["metrics"]["orderCount"]]
    assert buyers and all(c["orders"]["totalCount"] == c["metrics"]["orderCount"] for c in buyers)
    assert len({c["orders"]["edges"][0]["node"]["currency"] for c in buyers}) >= 2


def test_demo_twice_adds_nothing_and_prints_a_new_token(runner, client):
    first = run_demo(runner)
    second = run_demo(runner)

    assert second != first
    assert graphql(client, second, VIEWER)["viewer"]["role"] == "ADMIN"
    assert graphql(client, first, "{ customers(first: 1) { totalCount } }")["customers"]["totalCount"] == 40
