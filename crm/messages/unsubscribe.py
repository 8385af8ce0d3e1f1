"""Unsubscribe links: every message that needs consent (CARE, FOLLOW_UP, CAMPAIGN) says how to stop it.

Links are made when a message is sent, from its ids, never stored: the stored body (what staff read) holds at
most the placeholders ``{{unsubscribeUrl}}`` / ``{{preferencesUrl}}`` a template placed, and ``compose`` puts the
signed URLs in only on the way out. An email gets ``List-Unsubscribe`` + ``List-Unsubscribe-Post`` (RFC 8058,
set by the SMTP provider from ``Composed.unsubscribe_url``) and a footer with both links in the customer's
language unless its template placed the unsubscribe link itself; an SMS gets "Stop: <short link>" within the
SMS cap. The short link (``/s/u/<code>``, 34 characters) signs only the message id: its 16 bytes and 9 bytes of
an HMAC-SHA256 with CRM_SECRET_KEY, both base64url; it expires CRM_LINKS_MAX_AGE after the message was sent.

``find`` and ``unsubscribe`` are the page's services (crm/messages/pages.py): a link opens only for a message
to a customer who still exists unmerged, and unsubscribing withdraws that message's channel at once (source
``unsubscribe``, actor ``customer``, the message recorded); pending messages are then SUPPRESSED NO_CONSENT by
the send-time consent check (crm/messages/policy.py).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from crm.customers.models import Consent, ConsentStatus, Customer
from crm.customers.services import change_consent, require_customer
from crm.db import transaction, utcnow
from crm.enums import Channel
from crm.links import PATHS, Link, LinkProblem, LinkPurpose, LinkRefused, link_url
from crm.messages.models import Message, MessagePurpose
from crm.messages.templates import PREFERENCES_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER
from crm.values import language_of

LINKED = (MessagePurpose.CARE, MessagePurpose.FOLLOW_UP, MessagePurpose.CAMPAIGN)   # policy.NEEDS_CONSENT
SHORT_PATH = "/s/u"
_SHORT_SALT = b"crm.links.unsubscribe-short."
_ID_CHARS, _MAC_BYTES = 22, 9
SOURCE, ACTOR = "unsubscribe", "customer"

FOOTER = {
    "en": "You receive this because you agreed to hear from us.\nUnsubscribe: {unsubscribe}\n"
          "Manage your preferences: {preferences}",
    "de": "Sie erhalten diese Nachricht, weil Sie zugestimmt haben.\nAbmelden: {unsubscribe}\n"
          "Einstellungen ändern: {preferences}",
}
SMS_STOP = {"en": "Stop: {url}", "de": "Stopp: {url}"}

# A signed link's token acts as the customer (unsubscribe, preferences, a survey answer, a consent confirmation):
# no one reads it off a message but the customer's mailbox, not staff in the API, not an operator in the log.
_LINK_TOKEN = re.compile("(" + "|".join(re.escape(p) for p in (*PATHS.values(), SHORT_PATH)) + r")/[A-Za-z0-9_.%~-]+")


def withhold_links(text: str) -> str:
    """``text`` with the token of every link to the customer's pages replaced by ``[withheld]``."""
    return _LINK_TOKEN.sub(r"\1/[withheld]", text)


def language(locale: str | None) -> str:
    """The footer's language: the customer's ("de-CH" -> "de"), English otherwise (as crm.pages.i18n)."""
    return language_of(locale, FOOTER)


@dataclass(frozen=True)
class LinkSettings:
    base_url: str
    secret: str
    max_age: int

    @classmethod
    def from_config(cls, config) -> LinkSettings:
        return cls(base_url=str(config["PUBLIC_BASE_URL"]).rstrip("/"), secret=str(config["SECRET_KEY"]),
                   max_age=int(config["LINKS_MAX_AGE"]))


# ---------------------------------------------------------------- the short link of an SMS

def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _mac(secret: str, raw: bytes) -> bytes:
    return hmac.new(secret.encode(), _SHORT_SALT + raw, hashlib.sha256).digest()[:_MAC_BYTES]


def short_code(secret: str, message_id: uuid.UUID) -> str:
    return _b64(message_id.bytes) + _b64(_mac(secret, message_id.bytes))


def read_short_code(secret: str, code: str) -> uuid.UUID:
    """The message id ``code`` was made for with ``secret``; LinkRefused(INVALID) for anything else."""
    if not isinstance(code, str) or len(code) != _ID_CHARS + 12 or not code.isascii():
        raise LinkRefused(LinkProblem.INVALID)
    try:
        raw = base64.urlsafe_b64decode(code[:_ID_CHARS] + "==")
        mac = base64.urlsafe_b64decode(code[_ID_CHARS:])
    except (binascii.Error, ValueError):
        raise LinkRefused(LinkProblem.INVALID) from None
    if len(raw) != 16 or not hmac.compare_digest(mac, _mac(secret, raw)) or _b64(raw) != code[:_ID_CHARS]:
        raise LinkRefused(LinkProblem.INVALID)
    return uuid.UUID(bytes=raw)


def short_url(links: LinkSettings, message_id: uuid.UUID) -> str:
    return f"{links.base_url}{SHORT_PATH}/{short_code(links.secret, message_id)}"


# ---------------------------------------------------------------- composing a message on its way out

@dataclass(frozen=True)
class Composed:
    body: str
    unsubscribe_url: str | None   # for List-Unsubscribe (email) or the HTTP provider's metadata


def compose(links: LinkSettings, message: Message, customer: Customer | None, *, body_cap: int) -> Composed:
    """The body as it leaves: placeholders replaced, the footer or the SMS stop line added."""
    body = message.body
    if message.staff_user_id is not None or customer is None:
        # A link acts as the customer: never in a message to staff.
        return Composed(body.replace(UNSUBSCRIBE_PLACEHOLDER, "").replace(PREFERENCES_PLACEHOLDER, ""), None)
    unsubscribe = link_url(links.base_url, links.secret, Link(LinkPurpose.UNSUBSCRIBE, customer.id, str(message.id)))
    preferences = link_url(links.base_url, links.secret, Link(LinkPurpose.PREFERENCES, customer.id))
    shown = short_url(links, message.id) if message.channel == Channel.SMS else unsubscribe
    placed = UNSUBSCRIBE_PLACEHOLDER in body
    body = body.replace(UNSUBSCRIBE_PLACEHOLDER, shown).replace(PREFERENCES_PLACEHOLDER, preferences)
    if message.purpose not in LINKED:
        return Composed(body, None)
    lang = language(customer.locale or message.locale)
    if message.channel == Channel.EMAIL and not placed:
        body = f"{body}\n\n-- \n{FOOTER[lang].format(unsubscribe=unsubscribe, preferences=preferences)}"
    elif message.channel == Channel.SMS and not placed:
        stop = "\n" + SMS_STOP[lang].format(url=shown)
        if len(body) + len(stop) > body_cap:   # the stop line is not optional: the text gives way
            body = body[: max(body_cap - len(stop) - 1, 0)].rstrip() + "…"
        body += stop
    return Composed(body, unsubscribe)


# ---------------------------------------------------------------- the page's services

@dataclass(frozen=True)
class Unsubscription:
    customer_id: uuid.UUID
    message_id: uuid.UUID
    channel: Channel
    locale: str | None
    subscribed: bool      # the channel's consent is not withdrawn yet


def _consented(consent: Consent | None) -> bool:
    return consent is not None and consent.status != ConsentStatus.WITHDRAWN


def _resolve(session: Session, customer_id: uuid.UUID | None, message_id: uuid.UUID, *, sent_within: int | None,
             now: datetime) -> tuple[Message, Customer]:
    message = session.get(Message, message_id)
    if message is None or message.staff_user_id is not None or (
            customer_id is not None and message.customer_id != customer_id):
        raise LinkRefused(LinkProblem.INVALID)   # unknown, or the customer was merged away since
    customer = session.get(Customer, message.customer_id)
    if customer is None or customer.merged_into_id is not None:
        raise LinkRefused(LinkProblem.INVALID)
    if sent_within is not None and (message.sent_at or message.created_at) + timedelta(seconds=sent_within) < now:
        raise LinkRefused(LinkProblem.EXPIRED)
    return message, customer


def find(session: Session, *, message_id: uuid.UUID, customer_id: uuid.UUID | None = None,
         sent_within: int | None = None, now: datetime | None = None) -> Unsubscription:
    """What a link would unsubscribe, changing nothing. ``customer_id``: the signed link's (a short link has
    none); ``sent_within``: a short link's age limit, counted from the message's sending. LinkRefused."""
    message, customer = _resolve(session, customer_id, message_id, sent_within=sent_within, now=now or utcnow())
    consent = session.get(Consent, (customer.id, message.channel))
    return Unsubscription(customer.id, message.id, message.channel, customer.locale, _consented(consent))


def unsubscribe(session: Session, *, message_id: uuid.UUID, customer_id: uuid.UUID | None = None,
                sent_within: int | None = None, now: datetime | None = None) -> tuple[Unsubscription, bool]:
    """Withdraw the consent of the message's channel at once; (what was unsubscribed, whether this call
    changed it). Idempotent: a second call changes nothing. LinkRefused, changing nothing."""
    now = now or utcnow()
    with transaction(session):
        message, customer = _resolve(session, customer_id, message_id, sent_within=sent_within, now=now)
        customer = require_customer(session, customer.id, for_update=True)
        consent = session.get(Consent, (customer.id, message.channel), populate_existing=True)
        changed = _consented(consent)
        if changed:
            change_consent(session, customer, message.channel, ConsentStatus.WITHDRAWN, source=SOURCE, actor=ACTOR,
                           message_id=message.id)
        return Unsubscription(customer.id, message.id, message.channel, customer.locale, False), changed
