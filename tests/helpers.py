"""GraphQL documents and small builders shared by tests."""
from __future__ import annotations

import base64
import uuid

CREATE = """mutation($input: CustomerCreateInput!) { customerCreate(input: $input) {
  customer { id email phone firstName lastName displayName timezone locale attributes lifecycleStage serviceTier }
  errors { field code message } } }"""

RECORD_ORDER = """mutation($input: OrderRecordInput!) { orderRecord(input: $input) {
  order { id externalId amount currency amountInBaseCurrency channel occurredAt items }
  customer { id lifecycleStage serviceTier metrics { totalSpent orderCount averageOrderValue firstOrderAt lastOrderAt
             recencyScore frequencyScore monetaryScore } }
  errors { field code message } } }"""


def raw_id(global_id: str) -> uuid.UUID:
    kind, _, raw = base64.b64decode(global_id).decode().partition(":")
    return uuid.UUID(raw)


def create_customer(api, as_: str = "admin", **fields) -> dict:
    payload = api.data(CREATE, {"input": fields}, as_=as_)["customerCreate"]
    assert payload["errors"] == [], payload["errors"]
    return payload["customer"]


def record_order(api, customer_id: str, external_id: str, amount: str = "100.00", currency: str = "EUR",
                 occurred_at: str = "2026-06-01T12:00:00+00:00", channel: str = "WEB", as_: str = "admin",
                 items=None) -> dict:
    variables = {"input": {"customerId": customer_id, "externalId": external_id, "amount": amount,
                           "currency": currency, "channel": channel, "occurredAt": occurred_at,
                           "items": items if items is not None else [{"sku": "SKU-1", "qty": 1}]}}
    return api.data(RECORD_ORDER, variables, as_=as_)["orderRecord"]
