"""Shared by the preference centre and double opt-in tests: signed links, consents as GraphQL shows them, the
confirmation messages written."""
from __future__ import annotations

import re

from sqlalchemy import select

from crm.links import Link, LinkPurpose, make_token
from crm.messages.models import Message
from tests.helpers import raw_id

CONSENTS = """query($id: ID!) { customer(id: $id) {
  consents { channel granted status source confirmedAt confirmationMessageId } } }"""

HISTORY = """query($id: ID!, $first: Int, $after: String, $channel: Channel) { customer(id: $id) {
  consentHistory(first: $first, after: $after, channel: $channel) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { channel fromStatus toStatus source actor at messageId } } } } }"""

SET = """mutation($id: ID!, $ch: Channel!, $g: Boolean!, $s: String) {
  customerSetConsent(customerId: $id, channel: $ch, granted: $g, source: $s) {
    customer { consents { channel granted status } } errors { field code message } } }"""


def path_of(app, purpose: LinkPurpose, customer_id, target: str | None = None) -> str:
    prefix = {LinkPurpose.PREFERENCES: "/s/preferences/", LinkPurpose.CONFIRM_CONSENT: "/s/confirm/"}[purpose]
    return prefix + make_token(app.config["SECRET_KEY"], Link(purpose, raw_id(customer_id), target))


def consents(api, customer_id, as_="admin") -> dict:
    return {c["channel"]: c for c in api.data(CONSENTS, {"id": customer_id}, as_=as_)["customer"]["consents"]}


def history(api, customer_id, as_="admin", **variables) -> list[dict]:
    data = api.data(HISTORY, {"id": customer_id, **variables}, as_=as_)["customer"]["consentHistory"]
    return [edge["node"] for edge in data["edges"]]


def set_consent(api, customer_id, channel="EMAIL", granted=True, as_="admin", source=None) -> dict:
    payload = api.data(SET, {"id": customer_id, "ch": channel, "g": granted, "s": source}, as_=as_)
    return payload["customerSetConsent"]


def confirmations(app, customer_id) -> list[Message]:
    with app.extensions["crm.sessionmaker"]() as session:
        return session.scalars(select(Message).where(Message.customer_id == raw_id(customer_id),
                                                     Message.trigger == "verify:consent")
                               .order_by(Message.created_at)).all()


def confirm_path(message: Message) -> str:
    """The path of the confirmation link in a confirmation message's body."""
    return re.search(r"https?://[^/\s]+(/s/confirm/\S+)", message.body).group(1)
