"""A nested customers page costs a fixed number of SQL statements, whatever the page size."""
import pytest

from crm.api.ids import global_id
from tests.helpers import create_customer, record_order

NESTED_PAGE = """query($first: Int!) { customers(first: $first, orderBy: {field: TOTAL_SPENT, direction: DESC}) {
  totalCount
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id email displayName lifecycleStage serviceTier
    consents { channel granted }
    lifecycleHistory { fromStage toStage actor at }
    serviceTierHistory { toTier }
    accountManager { id name }
    metrics { totalSpent orderCount averageOrderValue recencyScore }
    orders(first: 3) { totalCount pageInfo { hasNextPage } edges { node { id amount customer { id email } } } }
    segments { id }
    loyalty { balance tier { name } }
    interactions(first: 5) { totalCount }
  } }
} }"""


@pytest.fixture
def populated(app, api, staff):
    manager = global_id("StaffUser", staff["account_manager"].id)
    for index in range(105):
        customer = create_customer(api, email=f"c{index}@example.com", firstName=f"C{index}")
        if index % 3 == 0:
            api.data("""mutation($id: ID!, $m: ID) { customerAssignManager(customerId: $id, staffUserId: $m) {
              errors { code } } }""", {"id": customer["id"], "m": manager})
        if index % 2 == 0:
            api.data("""mutation($id: ID!) { customerSetConsent(customerId: $id, channel: EMAIL, granted: true) {
              errors { code } } }""", {"id": customer["id"]})
        if index < 60:
            for n in range(index % 5):
                record_order(api, customer["id"], f"o-{index}-{n}", amount=str(10 + index))


def test_nested_customer_page_statement_count_is_independent_of_page_size(api, populated, count_statements):
    counts = {}
    for first in (10, 100):
        with count_statements() as statements:
            data = api.data(NESTED_PAGE, {"first": first})
        assert len(data["customers"]["edges"]) == first
        counts[first] = len(statements)
    # token lookup, page, totalCount, consents, lifecycle history, tier history, managers,
    # orders page, orders count, orders' customers, loyalty accounts, loyalty tiers
    assert counts == {10: 12, 100: 12}
