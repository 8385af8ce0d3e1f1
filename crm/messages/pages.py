"""The unsubscribe page: /s/unsubscribe/<token> (an email's List-Unsubscribe and footer link) and /s/u/<code> (an
SMS's short link), both for one message.

GET says what will happen and offers a button; it changes nothing, because mail scanners and link previews
follow GETs. POST withdraws the consent of the message's channel at once (crm/messages/unsubscribe.py), and is
what a mailbox provider's one-click sends (RFC 8058: ``List-Unsubscribe=One-Click``, form-encoded, no cookies):
the token in the path is the only credential, so there is no session and no CSRF token to ask for. A second
POST shows "already unsubscribed". A tampered, expired or merged-away link gets the friendly refused page.
"""
from __future__ import annotations

import uuid

from flask import current_app, request

from crm.errors import DomainError
from crm.links import Link, LinkProblem, LinkPurpose, LinkRefused, link_url
from crm.messages import unsubscribe
from crm.pages import open_link, page_blueprint, refused_page, render_page
from crm.pages.i18n import add_strings
from crm.sessions import get_session

bp = page_blueprint("unsubscribe_pages", __name__)

add_strings({
    "en": {
        "unsubscribe.title": "Unsubscribe",
        "unsubscribe.question.EMAIL": "Stop emails from us?",
        "unsubscribe.question.SMS": "Stop text messages from us?",
        "unsubscribe.question.PUSH": "Stop app notifications from us?",
        "unsubscribe.explain": "We will stop sending you offers, news and follow-ups this way straight away. "
                               "Messages you need, such as order confirmations, still reach you.",
        "unsubscribe.confirm": "Yes, unsubscribe",
        "unsubscribe.done.title": "You are unsubscribed",
        "unsubscribe.done.EMAIL": "We will send you no more emails of this kind.",
        "unsubscribe.done.SMS": "We will send you no more text messages of this kind.",
        "unsubscribe.done.PUSH": "We will send you no more app notifications of this kind.",
        "unsubscribe.already.title": "You are already unsubscribed",
        "unsubscribe.already.body": "Nothing more needs doing here.",
        "unsubscribe.preferences": "Choose what you receive from us",
    },
    "de": {
        "unsubscribe.title": "Abmelden",
        "unsubscribe.question.EMAIL": "Keine E-Mails mehr von uns?",
        "unsubscribe.question.SMS": "Keine SMS mehr von uns?",
        "unsubscribe.question.PUSH": "Keine App-Benachrichtigungen mehr von uns?",
        "unsubscribe.explain": "Wir senden Ihnen auf diesem Weg sofort keine Angebote, Neuigkeiten und Nachfragen "
                               "mehr. Was Sie brauchen, etwa Bestellbestätigungen, erhalten Sie weiterhin.",
        "unsubscribe.confirm": "Ja, abmelden",
        "unsubscribe.done.title": "Sie sind abgemeldet",
        "unsubscribe.done.EMAIL": "Wir senden Ihnen keine E-Mails dieser Art mehr.",
        "unsubscribe.done.SMS": "Wir senden Ihnen keine SMS dieser Art mehr.",
        "unsubscribe.done.PUSH": "Wir senden Ihnen keine App-Benachrichtigungen dieser Art mehr.",
        "unsubscribe.already.title": "Sie sind bereits abgemeldet",
        "unsubscribe.already.body": "Hier ist nichts mehr zu tun.",
        "unsubscribe.preferences": "Wählen Sie, was Sie von uns erhalten",
    },
})


def _preferences_url(customer_id: uuid.UUID) -> str:
    links = unsubscribe.LinkSettings.from_config(current_app.config)
    return link_url(links.base_url, links.secret, Link(LinkPurpose.PREFERENCES, customer_id))


def _page(request_method: str, *, message_id: uuid.UUID, customer_id: uuid.UUID | None, sent_within: int | None):
    session = get_session()
    try:
        if request_method == "POST":
            found, changed = unsubscribe.unsubscribe(session, message_id=message_id, customer_id=customer_id,
                                                     sent_within=sent_within)
        else:
            found, changed = unsubscribe.find(session, message_id=message_id, customer_id=customer_id,
                                              sent_within=sent_within), False
    except LinkRefused as refused:
        return refused_page(refused.problem)
    except DomainError:   # the customer went between reading and locking: the link no longer opens
        return refused_page(LinkProblem.INVALID)
    context = dict(locale=found.locale, channel=found.channel.value,
                   preferences_url=_preferences_url(found.customer_id), action=request.path)
    if request_method == "POST" and changed:
        return render_page("unsubscribe/done.html", state="done", **context)
    if not found.subscribed:
        return render_page("unsubscribe/done.html", state="already", **context)
    return render_page("unsubscribe/confirm.html", **context)


@bp.route("/s/unsubscribe/<path:token>", methods=["GET", "POST"])
def unsubscribe_page(token: str):
    link = open_link(token, LinkPurpose.UNSUBSCRIBE)
    try:
        message_id = uuid.UUID(str(link.target))
    except ValueError:
        return refused_page(LinkProblem.INVALID)
    return _page(request.method, message_id=message_id, customer_id=link.customer_id, sent_within=None)


@bp.route(f"{unsubscribe.SHORT_PATH}/<path:code>", methods=["GET", "POST"])
def short_unsubscribe_page(code: str):
    try:
        message_id = unsubscribe.read_short_code(str(current_app.config["SECRET_KEY"]), code)
    except LinkRefused as refused:
        return refused_page(refused.problem)
    return _page(request.method, message_id=message_id, customer_id=None,
                 sent_within=int(current_app.config["LINKS_MAX_AGE"]))


def init_app(app) -> None:
    app.register_blueprint(bp)
