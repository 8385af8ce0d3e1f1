"""Consent given by the customer themselves, and its double opt-in.

Double opt-in (CRM_CONSENT_DOUBLE_OPT_IN, on by default) holds EMAIL consent that reached us without proof that
the address's owner gave it: from a PORTAL token, an import (source "import" or "import:<name>"), or the
preference centre (its link may have been forwarded, or have come by SMS: it proves who the customer is, not
who reads the mailbox). Such a consent becomes PENDING (``granted`` stays false, so no CAMPAIGN message goes
out) and a TRANSACTIONAL confirmation message carries a signed link (crm/links.py, CONFIRM_CONSENT, target
"<channel>:<message id>") to /s/confirm/<token>; confirming there grants it, with the time and the message as
evidence (source "double-opt-in"). Staff (and INTEGRATION) record consent the customer gave them, so theirs is
granted at once. Asking again while PENDING sends another confirmation only once CONSENT_CONFIRM_RESEND_AFTER
seconds have passed since the last one (no mail bombing through a portal); in between it changes nothing.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from crm.config import DEFAULTS
from crm.customers.models import Consent, ConsentStatus, Customer
from crm.db import transaction, utcnow
from crm.enums import Channel, Role
from crm.links import Link, LinkPurpose, configured_url
from crm.values import language_of

# The channels a customer is messaged on (crm/messages/policy.py address_of): what the preference centre shows.
MESSAGING_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.PUSH)
CUSTOMER_SOURCES = ("import", "preference-centre")
CONFIRM_TRIGGER = "verify:consent"  # "verify:" keeps it off the portal: the link is the mailbox's alone
CONFIRMED_SOURCE = "double-opt-in"


def needs_double_opt_in(*, channel: Channel, source: str | None, role: Role | None, config=DEFAULTS) -> bool:
    """Whether a grant of ``channel`` by ``role`` (None: no token, e.g. a page or a job) from ``source`` waits for
    the address to confirm it."""
    if not config.get("CONSENT_DOUBLE_OPT_IN", True) or channel != Channel.EMAIL:
        return False
    source = source or ""
    return role == Role.PORTAL or source in CUSTOMER_SOURCES or source.startswith("import:")


def grant(session: Session, customer: Customer, channel: Channel, *, source: str | None, actor: str | None,
          role: Role | None, message_id: uuid.UUID | None = None, config=DEFAULTS) -> Consent | None:
    """Helper (the caller's transaction, the customer locked): grant ``channel``, or hold it PENDING and ask the
    address to confirm. Returns the consent, or None when nothing changed (granted already; pending and asked
    recently)."""
    from crm.customers.services import change_consent

    if not needs_double_opt_in(channel=channel, source=source, role=role, config=config):
        return change_consent(session, customer, channel, ConsentStatus.GRANTED, source=source, actor=actor,
                              message_id=message_id)
    consent = session.get(Consent, (customer.id, channel))
    if consent is not None and consent.status == ConsentStatus.GRANTED:
        return None  # confirmed (or recorded by staff) already: a portal saying yes again proves nothing new
    now = utcnow()
    resend_after = timedelta(seconds=float(config.get("CONSENT_CONFIRM_RESEND_AFTER", 3600)))
    if consent is not None and consent.status == ConsentStatus.PENDING and consent.updated_at > now - resend_after:
        return None
    if not customer.email:
        # Nowhere to send a confirmation: it stays pending until there is an address and the customer asks again.
        return change_consent(session, customer, channel, ConsentStatus.PENDING, source=source, actor=actor)
    message_id = _send_confirmation(session, customer, channel, config, now)
    return change_consent(session, customer, channel, ConsentStatus.PENDING, source=source, actor=actor,
                          message_id=message_id)


_TEXT = {
    "en": ("Please confirm that you want our emails",
           "Hi {name},\n\nyou asked to receive our news and offers by email at this address. Please confirm it "
           "here:\n\n{link}\n\nUntil you confirm, we send you no marketing email. If you did not ask for this, "
           "ignore this message and nothing changes.", "there"),
    "de": ("Bitte bestätigen Sie, dass Sie unsere E-Mails erhalten möchten",
           "Hallo {name},\n\nSie möchten unsere Neuigkeiten und Angebote per E-Mail an diese Adresse erhalten. "
           "Bitte bestätigen Sie das hier:\n\n{link}\n\nBis Sie bestätigen, senden wir Ihnen keine Werbe-E-Mails. "
           "Wenn Sie das nicht angefordert haben, ignorieren Sie diese Nachricht; es ändert sich nichts.", ""),
}


def _send_confirmation(session: Session, customer: Customer, channel: Channel, config, now) -> uuid.UUID:
    from crm.messages.models import MessagePurpose
    from crm.messages.services import create_message

    subject, body, nobody = _TEXT[language_of(customer.locale, _TEXT)]
    name = customer.first_name or nobody
    created = create_message(
        session, customer_id=customer.id, channel=Channel.EMAIL, purpose=MessagePurpose.TRANSACTIONAL,
        trigger=CONFIRM_TRIGGER, subject=subject, body="", dedupe_key=f"{CONFIRM_TRIGGER}:{uuid.uuid4()}",
        locale=customer.locale, actor="system", now=now)
    message = created.message
    # The link names the message it came in, which the confirmation keeps as evidence: known only once written.
    link = configured_url(config, Link(LinkPurpose.CONFIRM_CONSENT, customer.id, f"{channel.value}:{message.id}"))
    message.body = body.format(name=name, link=link).replace("Hallo ,", "Hallo,")
    return message.id


@dataclass(frozen=True)
class Confirmation:
    channel: Channel
    message_id: uuid.UUID | None


def parse_target(target: str | None) -> Confirmation | None:
    """A CONFIRM_CONSENT link's target ("EMAIL:<message id>"), or None when it is not one."""
    channel, _, message = (target or "").partition(":")
    try:
        return Confirmation(Channel(channel), uuid.UUID(message) if message else None)
    except ValueError:
        return None


def confirm(session: Session, *, customer_id: uuid.UUID, channel: Channel,
            message_id: uuid.UUID | None) -> Consent | None:
    """The customer followed a confirmation link: a PENDING consent becomes GRANTED with the evidence. Anything
    else (granted already, withdrawn since: the later choice stands) changes nothing; returns the consent as it
    is (None: none)."""
    from crm.customers.services import change_consent, require_customer

    with transaction(session):
        customer = require_customer(session, customer_id, for_update=True)
        consent = session.get(Consent, (customer.id, channel))
        if consent is None or consent.status != ConsentStatus.PENDING:
            return consent
        consent = change_consent(session, customer, channel, ConsentStatus.GRANTED, source=CONFIRMED_SOURCE,
                                 actor="customer", message_id=message_id)
        consent.confirmed_at, consent.confirmation_message_id = utcnow(), message_id
    return consent


def consents_of(session: Session, customer_id: uuid.UUID) -> dict[Channel, Consent]:
    from sqlalchemy import select
    return {c.channel: c for c in session.scalars(select(Consent).where(Consent.customer_id == customer_id))}


def save_preferences(session: Session, *, customer_id: uuid.UUID, wanted: set[Channel],
                     config=DEFAULTS) -> list[Channel]:
    """The preference centre's form: ``wanted`` are the messaging channels ticked, every other one is not. Only
    a channel whose answer differs from its consent is a change (source "preference-centre", actor "customer");
    returns those channels."""
    from crm.customers.services import change_consent, require_customer

    changed = []
    with transaction(session):
        customer = require_customer(session, customer_id, for_update=True)
        current = consents_of(session, customer.id)
        for channel in MESSAGING_CHANNELS:
            consent = current.get(channel)
            status = consent.status if consent is not None else None
            if channel in wanted and status not in (ConsentStatus.GRANTED, ConsentStatus.PENDING):
                if grant(session, customer, channel, source="preference-centre", actor="customer", role=None,
                         config=config) is not None:
                    changed.append(channel)
            elif channel not in wanted and status in (ConsentStatus.GRANTED, ConsentStatus.PENDING):
                change_consent(session, customer, channel, ConsentStatus.WITHDRAWN, source="preference-centre",
                               actor="customer")
                changed.append(channel)
    return changed
