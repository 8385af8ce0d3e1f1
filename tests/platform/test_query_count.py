"""A nested customers page costs a fixed number of SQL statements, whatever the page size."""
import pytest

from crm.api.ids import global_id
from tests.helpers import create_customer, record_order

NESTED_PAGE = """query($first: Int!) { customers(first: $first, orderBy: {field: TOTAL_SPENT, direction: DESC}) {
  totalCount
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id email displayName lifecycleStage serviceTier
    consents { channel granted status confirmedAt confirmationMessageId }
    consentHistory(first: 2) { totalCount edges { node { channel toStatus source actor at messageId } } }
    lifecycleHistory { fromStage toStage actor at }
    serviceTierHistory { toTier }
    accountManager { id name }
    metrics { totalSpent orderCount averageOrderValue recencyScore }
    orders(first: 3) { totalCount pageInfo { hasNextPage } edges { node { id amount customer { id email } } } }
    segments { id }
    loyalty { balance tier { name } }
    interactions(first: 5) { totalCount edges { node { touchpoint { key } } } }
    cases(first: 3) { totalCount edges { node { status history { toStatus } } } }
    surveyResponses(first: 2) { totalCount }
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
    _add_journeys(app)


def _add_journeys(app):
    """Interactions for every other customer and a case for every seventh, so their loaders run."""
    from datetime import datetime, timezone

    from sqlalchemy import select

    from crm.customers.models import Customer
    from crm.enums import Channel
    from journeys.interactions import services as interactions
    from journeys.maps import services as touchpoints
    from journeys.service import cases
    from journeys.service.models import CaseKind
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        touchpoints.create_touchpoint(session, key="web.home", name="Home", channel=Channel.WEB, stage="awareness",
                                      journey_map="purchase")
        ids = session.scalars(select(Customer.id).order_by(Customer.email)).all()
        at = datetime(2026, 6, 1, tzinfo=timezone.utc)
        interactions.record_interactions(session, [interactions.InteractionRow(cid, "web.home", at, emotion=1)
                                                   for cid in ids[::2] for _ in range(2)])
        for cid in ids[::7]:
            cases.open_case(session, customer_id=cid, kind=CaseKind.INQUIRY, channel=Channel.WEB, subject="help",
                            description=None, actor="test")


def test_nested_customer_page_statement_count_is_independent_of_page_size(api, populated, count_statements):
    counts = {}
    for first in (10, 100):
        with count_statements() as statements:
            data = api.data(NESTED_PAGE, {"first": first})
        assert len(data["customers"]["edges"]) == first
        counts[first] = len(statements)
    # token lookup, page, totalCount, consents, consent history page + count, lifecycle history, tier history, managers,
    # orders page, orders count, orders' customers, loyalty accounts, loyalty tiers,
    # interactions page + count + touchpoints, cases page + count + histories, surveys page + count, segments
    assert counts == {10: 23, 100: 23}, "\n".join(s[:60].replace("\n", " ") for s in statements)


CUSTOMER_PAGE = """query($id: ID!, $first: Int!) { customer(id: $id) {
  displayName
  interactions(first: $first) { totalCount edges { node { occurredAt emotion painPoints
    touchpoint { key name } case { id status } customer { id } } } }
  cases(first: $first) { totalCount edges { node { subject status priority openedAt
    sla { firstResponseState resolutionState } history { at toStatus actor }
    assignee { name } customer { id } interactions { touchpoint { key } } } } }
  surveyResponses(first: $first) { totalCount edges { node { kind score case { subject } } } }
} }"""


def test_customer_page_with_interactions_and_cases_costs_the_same_for_any_page_size(app, api, count_statements):
    from journeys.maps import services as touchpoints
    from journeys.service import cases, surveys
    from journeys.service.models import CaseKind, SurveyKind
    from crm.enums import Channel
    from tests.helpers import raw_id
    customer = create_customer(api, email="busy@example.com")
    with app.app_context():
        from crm.sessions import get_session
        session = get_session()
        for key, stage in (("phone.hotline", "reception"), ("store.repair-desk", "diagnosis"),
                           ("web.help-answer", "solution")):
            touchpoints.create_touchpoint(session, key=key, name=key, channel=Channel.PHONE, stage=stage,
                                          journey_map="after-sales")
        for n in range(30):
            case = cases.open_case(session, customer_id=raw_id(customer["id"]), kind=CaseKind.REPAIR,
                                   channel=Channel.PHONE, subject=f"repair {n}", description=None, actor="test")
            cases.transition(session, case_id=case.id, to_status="DIAGNOSING", note=None, actor="test")
            surveys.submit_response(session, customer_id=raw_id(customer["id"]), kind=SurveyKind.CSAT, score=4,
                                    case_id=case.id)
    counts = {}
    for first in (3, 30):
        with count_statements() as statements:
            data = api.data(CUSTOMER_PAGE, {"id": customer["id"], "first": first})["customer"]
        assert len(data["cases"]["edges"]) == first and len(data["interactions"]["edges"]) == first
        counts[first] = len(statements)
    # token, customer; interactions page + count, and one statement each for their touchpoints, cases and
    # customers; cases page + count, histories, case interactions (+ touchpoints); surveys page + count + cases
    assert counts == {3: counts[30], 30: counts[30]}
    assert counts[30] == 15
