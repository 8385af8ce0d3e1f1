"""The customer's consent pages, opened from a signed link (crm/links.py) with no account:

- GET/POST /s/preferences/<token> (PREFERENCES): the preference centre. Each messaging channel's consent as a
  checkbox; saving records only the channels whose answer changed (source "preference-centre", actor
  "customer"). Ticking EMAIL follows double opt-in (crm/customers/consents.py): the link proves who the
  customer is, not that the reader owns the mailbox (it may be forwarded, or have come by SMS), so EMAIL waits
  PENDING for a confirmation sent to the address.
- GET /s/confirm/<token> (CONFIRM_CONSENT) shows a confirm button (mail scanners follow GETs); its POST grants the
  PENDING consent with the time and the message as evidence.

A tampered or expired link, or one of a customer merged away, gets the friendly refused page and changes nothing.
"""
from __future__ import annotations

from flask import current_app, request

from crm.customers import consents
from crm.customers.models import ConsentStatus, Customer
from crm.enums import Channel
from crm.errors import DomainError
from crm.links import LinkProblem, LinkPurpose
from crm.pages import open_link, page_blueprint, refused_page, render_page
from crm.pages.i18n import add_strings

bp = page_blueprint("customer_pages", __name__)


def _session():
    from crm.sessions import get_session
    return get_session()


def _customer(link):
    customer = _session().get(Customer, link.customer_id)
    return customer if customer is not None and customer.merged_into_id is None else None


def _choices(customer) -> list[dict]:
    current = consents.consents_of(_session(), customer.id)
    out = []
    for channel in consents.MESSAGING_CHANNELS:
        consent = current.get(channel)
        status = consent.status.value if consent is not None else None
        out.append({"channel": channel.value, "checked": status in ("GRANTED", "PENDING"),
                    "pending": status == "PENDING"})
    return out


def _preferences(token: str, customer, *, status: int = 200, saved: list | None = None):
    return render_page("preferences/preferences.html", locale=customer.locale, status=status, token=token,
                       choices=_choices(customer), saved=saved, has_email=bool(customer.email))


@bp.route("/s/preferences/<path:token>", methods=["GET", "POST"])
def preferences(token: str):
    link = open_link(token, LinkPurpose.PREFERENCES)
    customer = _customer(link)
    if customer is None:
        return refused_page(LinkProblem.INVALID)
    if request.method == "GET":
        return _preferences(token, customer)
    wanted = set()
    for value in request.form.getlist("consent"):  # anything that is no messaging channel is ignored
        try:
            channel = Channel(value)
        except ValueError:
            continue
        if channel in consents.MESSAGING_CHANNELS:
            wanted.add(channel)
    try:
        changed = consents.save_preferences(_session(), customer_id=customer.id, wanted=wanted,
                                            config=current_app.config)
    except DomainError:  # merged away between the two reads
        return refused_page(LinkProblem.INVALID, customer.locale)
    return _preferences(token, _session().get(Customer, customer.id), saved=[c.value for c in changed])


@bp.route("/s/confirm/<path:token>", methods=["GET", "POST"])
def confirm(token: str):
    link = open_link(token, LinkPurpose.CONFIRM_CONSENT)
    customer = _customer(link)
    target = consents.parse_target(link.target)
    if customer is None or target is None:
        return refused_page(LinkProblem.INVALID, getattr(customer, "locale", None))
    consent = consents.consents_of(_session(), customer.id).get(target.channel)
    state = consent.status.value if consent is not None else None
    if request.method == "POST" and state == ConsentStatus.PENDING.value:
        try:
            consent = consents.confirm(_session(), customer_id=customer.id, channel=target.channel,
                                       message_id=target.message_id)
        except DomainError:
            return refused_page(LinkProblem.INVALID, customer.locale)
        return render_page("preferences/confirm.html", locale=customer.locale, token=token, state="done",
                           channel=target.channel.value)
    if state == ConsentStatus.GRANTED.value:
        state = "granted"
    elif state == ConsentStatus.PENDING.value:
        state = "ask"
    else:  # withdrawn since, or never asked: the later choice stands
        state = "nothing"
    return render_page("preferences/confirm.html", locale=customer.locale, token=token, state=state,
                       channel=target.channel.value)


STRINGS = {
    "en": {
        "preferences.title": "Your message preferences",
        "preferences.intro": "Choose how we may send you news and offers. Messages about your orders and "
                             "requests are sent either way.",
        "preferences.legend": "Send me messages by",
        "preferences.channel.EMAIL": "Email",
        "preferences.channel.SMS": "Text message (SMS)",
        "preferences.channel.PUSH": "App notifications",
        "preferences.pending": "waiting for your confirmation",
        "preferences.save": "Save my choices",
        "preferences.saved": "Your choices are saved.",
        "preferences.unchanged": "Nothing changed: your choices were already saved.",
        "preferences.confirm_sent": "We sent you an email: please confirm it from there to receive our emails.",
        "confirm.title": "Confirm your email subscription",
        "confirm.ask": "Please confirm that you want to receive our news and offers by email.",
        "confirm.button": "Yes, send me emails",
        "confirm.done.title": "Thank you, you are subscribed",
        "confirm.done": "Your email subscription is confirmed. You can change it at any time from the link in "
                        "our emails.",
        "confirm.granted": "Your email subscription is already confirmed. Nothing more needs doing.",
        "confirm.nothing": "There is nothing to confirm: your subscription was changed after this message was "
                           "sent. Your latest choice stands.",
    },
    "de": {
        "preferences.title": "Ihre Nachrichten-Einstellungen",
        "preferences.intro": "Wählen Sie, wie wir Ihnen Neuigkeiten und Angebote senden dürfen. Nachrichten zu "
                             "Ihren Bestellungen und Anfragen erhalten Sie in jedem Fall.",
        "preferences.legend": "Nachrichten an mich per",
        "preferences.channel.EMAIL": "E-Mail",
        "preferences.channel.SMS": "SMS",
        "preferences.channel.PUSH": "App-Benachrichtigungen",
        "preferences.pending": "wartet auf Ihre Bestätigung",
        "preferences.save": "Auswahl speichern",
        "preferences.saved": "Ihre Auswahl ist gespeichert.",
        "preferences.unchanged": "Nichts geändert: Ihre Auswahl war schon gespeichert.",
        "preferences.confirm_sent": "Wir haben Ihnen eine E-Mail gesendet: Bitte bestätigen Sie dort, dass Sie "
                                    "unsere E-Mails erhalten möchten.",
        "confirm.title": "E-Mail-Abonnement bestätigen",
        "confirm.ask": "Bitte bestätigen Sie, dass Sie unsere Neuigkeiten und Angebote per E-Mail erhalten möchten.",
        "confirm.button": "Ja, E-Mails senden",
        "confirm.done.title": "Vielen Dank, Sie sind angemeldet",
        "confirm.done": "Ihr E-Mail-Abonnement ist bestätigt. Sie können es jederzeit über den Link in unseren "
                        "E-Mails ändern.",
        "confirm.granted": "Ihr E-Mail-Abonnement ist schon bestätigt. Es ist nichts mehr zu tun.",
        "confirm.nothing": "Es gibt nichts zu bestätigen: Ihr Abonnement wurde nach dieser Nachricht geändert. "
                           "Ihre letzte Wahl gilt.",
    },
}


def init_app(app) -> None:
    add_strings(STRINGS)
    if "customer_pages" not in app.blueprints:
        app.register_blueprint(bp)
