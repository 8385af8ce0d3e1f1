"""GraphQL documents and small builders shared by tests."""
from __future__ import annotations

import base64
import threading
import uuid
from datetime import datetime, timedelta

from crm import clock

CREATE = """mutation($input: CustomerCreateInput!) { customerCreate(input: $input) {
  customer { id email phone firstName lastName displayName timezone locale attributes lifecycleStage serviceTier }
  errors { field code message } } }"""

RECORD_ORDER = """mutation($input: OrderRecordInput!) { orderRecord(input: $input) {
  order { id externalId amount currency amountInBaseCurrency channel occurredAt items }
  customer { id lifecycleStage serviceTier metrics { totalSpent orderCount averageOrderValue firstOrderAt lastOrderAt
             recencyScore frequencyScore monetaryScore } }
  errors { field code message } } }"""


def ago(**delta) -> datetime:
    """That long before the platform clock's now (``timedelta`` keywords), to the whole second."""
    return (clock.now() - timedelta(**delta)).replace(microsecond=0)


def ahead(**delta) -> datetime:
    """That long after the platform clock's now, to the whole second."""
    return (clock.now() + timedelta(**delta)).replace(microsecond=0)


def iso(at: datetime) -> str:
    """An instant as the API writes it (ISO 8601 with its offset)."""
    return at.isoformat()


# When orders happen unless a test says: a day before the run started, the same instant for the whole run, so
# that recording an order again (a replay) sends the same payload.
RECENTLY = ago(days=1)


def raw_id(global_id: str) -> uuid.UUID:
    kind, _, raw = base64.b64decode(global_id).decode().partition(":")
    return uuid.UUID(raw)


def create_customer(api, as_: str = "admin", **fields) -> dict:
    payload = api.data(CREATE, {"input": fields}, as_=as_)["customerCreate"]
    assert payload["errors"] == [], payload["errors"]
    return payload["customer"]


def record_order(api, customer_id: str, external_id: str, amount: str = "100.00", currency: str = "EUR",
                 occurred_at: str | None = None, channel: str = "WEB", as_: str = "admin",
                 items=None) -> dict:
    """An order, placed ``RECENTLY`` unless ``occurred_at`` says when."""
    variables = {"input": {"customerId": customer_id, "externalId": external_id, "amount": amount,
                           "currency": currency, "channel": channel,
                           "occurredAt": occurred_at or iso(RECENTLY),
                           "items": items if items is not None else [{"sku": "SKU-1", "qty": 1}]}}
    return api.data(RECORD_ORDER, variables, as_=as_)["orderRecord"]


def run_threads(count: int, target) -> list:
    """``target(index)`` in ``count`` threads released together by a barrier; their results in index order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    failures: list = []

    def work(index):
        try:
            barrier.wait(timeout=30)
            results[index] = target(index)
        except BaseException as exc:  # surfaced below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert failures == [], failures
    return results


def post(app, token, query, variables) -> dict:
    """One request on a test client of its own (so: its own app context, session and connection)."""
    response = app.test_client().post("/graphql", json={"query": query, "variables": variables},
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert "errors" not in body, body["errors"]
    return body["data"]


TOUCHPOINT = """mutation($input: TouchpointCreateInput!) { touchpointCreate(input: $input) {
  touchpoint { id key name channel stage journeyMap } errors { field code message } } }"""

RECORD = """mutation($input: InteractionInput!) { interactionRecord(input: $input) {
  interaction { id channel stage occurredAt emotion painPoints note externalId touchpoint { key }
                customer { id metrics { lastInteractionAt } } case { id } }
  errors { field code message } } }"""

BULK = """mutation($inputs: [InteractionInput!]!) { interactionRecordBulk(inputs: $inputs) {
  recorded duplicates errors { index field code message } } }"""


def make_touchpoint(api, key="web.checkout", channel="WEB", stage="purchase", journey_map="purchase"):
    payload = api.data(TOUCHPOINT, {"input": {"key": key, "name": key.title(), "channel": channel, "stage": stage,
                                              "journeyMap": journey_map}})["touchpointCreate"]
    assert payload["errors"] == []
    return payload["touchpoint"]


SUBMIT = """mutation($input: SurveyResponseInput!) { surveyResponseSubmit(input: $input) {
  surveyResponse { id kind score comment submittedAt case { id } customer { metrics { csatAverage lastNpsScore } } }
  errors { field code message } } }"""


def submit(api, as_="admin", **fields):
    return api.data(SUBMIT, {"input": fields}, as_=as_)["surveyResponseSubmit"]


SET_CONSENT = """mutation($id: ID!, $ch: Channel!, $g: Boolean!) {
  customerSetConsent(customerId: $id, channel: $ch, granted: $g) { errors { field code message } } }"""

SEND_MESSAGE = """mutation($input: MessageSendInput!) { messageSend(input: $input) {
  message { id status channel purpose trigger subject body scheduledFor sentAt attempts dedupeKey suppressionReason
            lastError customer { id } }
  errors { field code message } } }"""

MESSAGES = """query($status: [MessageStatus!], $trigger: String, $customerId: ID, $first: Int) {
  messages(status: $status, trigger: $trigger, customerId: $customerId, first: $first) { totalCount edges { node {
    id status channel purpose trigger subject body scheduledFor sentAt attempts dedupeKey suppressionReason lastError
    customer { id } recipientStaff { email } } } } }"""


def consenting_customer(api, consents=("EMAIL",), **fields) -> dict:
    """A customer who agreed to messages on ``consents``."""
    customer = create_customer(api, **fields)
    for channel in consents:
        errors = api.data(SET_CONSENT, {"id": customer["id"], "ch": channel, "g": True})["customerSetConsent"]["errors"]
        assert errors == []
    return customer


def messages(api, as_: str = "admin", **variables) -> list[dict]:
    return [edge["node"] for edge in api.data(MESSAGES, variables, as_=as_)["messages"]["edges"]]
