"""The frame of the customer's pages: signed links (crm/links.py) and what every page shares (crm/pages)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from crm.links import Link, LinkProblem, LinkPurpose, LinkRefused, configured_url, make_token, read_token
from crm.pages import PAGE_HEADERS, refused_page
from crm.pages.i18n import STRINGS, add_strings, choose_locale, missing_strings

SECRET = "a-secret-of-at-least-thirty-two-characters"
T0 = datetime(2030, 3, 1, 9, 0, tzinfo=timezone.utc)
CUSTOMER = uuid.UUID("00000000-0000-4000-8000-000000000001")


def test_a_link_reads_back_as_made_for_its_purpose_only(clock):
    clock.freeze(T0)
    link = Link(LinkPurpose.SURVEY, CUSTOMER, "CSAT:case-1")
    token = make_token(SECRET, link)
    assert read_token(SECRET, token, purpose=LinkPurpose.SURVEY, max_age=60) == link
    for other in (LinkPurpose.UNSUBSCRIBE, LinkPurpose.PREFERENCES, LinkPurpose.CONFIRM_CONSENT):
        with pytest.raises(LinkRefused) as refused:
            read_token(SECRET, token, purpose=other, max_age=60)
        assert refused.value.problem is LinkProblem.INVALID


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),   # the signature
    lambda t: t[:5] + ("A" if t[5] != "A" else "B") + t[6:],  # the payload
    lambda t: t[: len(t) // 2],                           # cut off in a mail client
    lambda t: "",
    lambda t: "not a token at all",
    lambda t: "\u00e9\u0000..",
])
def test_a_changed_link_is_invalid(clock, tamper):
    clock.freeze(T0)
    token = make_token(SECRET, Link(LinkPurpose.UNSUBSCRIBE, CUSTOMER, "m-1"))
    with pytest.raises(LinkRefused) as refused:
        read_token(SECRET, tamper(token), purpose=LinkPurpose.UNSUBSCRIBE, max_age=60)
    assert refused.value.problem is LinkProblem.INVALID


def test_a_link_signed_with_another_key_is_invalid(clock):
    clock.freeze(T0)
    token = make_token("another-key-of-at-least-thirty-two-chars", Link(LinkPurpose.SURVEY, CUSTOMER))
    with pytest.raises(LinkRefused) as refused:
        read_token(SECRET, token, purpose=LinkPurpose.SURVEY, max_age=60)
    assert refused.value.problem is LinkProblem.INVALID


def test_a_link_expires_on_the_platform_clock(clock):
    clock.freeze(T0)
    token = make_token(SECRET, Link(LinkPurpose.PREFERENCES, CUSTOMER))
    clock.freeze(T0 + timedelta(seconds=60))
    assert read_token(SECRET, token, purpose=LinkPurpose.PREFERENCES, max_age=60).customer_id == CUSTOMER
    clock.freeze(T0 + timedelta(seconds=62))
    with pytest.raises(LinkRefused) as refused:
        read_token(SECRET, token, purpose=LinkPurpose.PREFERENCES, max_age=60)
    assert refused.value.problem is LinkProblem.EXPIRED


def test_the_url_is_the_public_base_the_purposes_path_and_the_token(clock):
    clock.freeze(T0)
    link = Link(LinkPurpose.CONFIRM_CONSENT, CUSTOMER, "EMAIL")
    url = configured_url({"PUBLIC_BASE_URL": "https://care.example.com/", "SECRET_KEY": SECRET}, link)
    assert url == f"https://care.example.com/s/confirm/{make_token(SECRET, link)}"


@pytest.mark.parametrize("locale, language", [("de-CH", "de"), ("de", "de"), ("DE_at", "de"), ("en-GB", "en"),
                                              ("fr-FR", "en"), (None, "en"), ("", "en")])
def test_the_language_of_a_page_is_the_customers_or_english(locale, language):
    assert choose_locale(locale) == language


def test_every_page_string_is_in_every_language(app):
    assert missing_strings() == {}


def test_a_domain_may_not_redefine_anothers_words(monkeypatch):
    monkeypatch.setitem(STRINGS, "en", dict(STRINGS["en"]))
    add_strings({"en": {"site.title": STRINGS["en"]["site.title"]}})  # the same again: every app registers
    with pytest.raises(ValueError, match="^page strings defined twice: site.title$"):
        add_strings({"en": {"site.title": "Something else"}})
    with pytest.raises(ValueError, match="^pages are written in en, de, not 'fr'$"):
        add_strings({"fr": {"x": "y"}})


@pytest.mark.parametrize("problem, status, title", [
    (LinkProblem.EXPIRED, 410, "Dieser Link ist abgelaufen"), (LinkProblem.INVALID, 404, "Dieser Link funktioniert nicht")])
def test_a_refused_link_gets_a_kind_page_in_the_customers_language(app, problem, status, title):
    with app.test_request_context():
        response = refused_page(problem, "de-CH")
    html = response.get_data(as_text=True)
    assert response.status_code == status and response.mimetype == "text/html"
    assert '<html lang="de">' in html and f"<h1>{title}</h1>" in html and "<script" not in html
    assert response.headers["Content-Language"] == "de"
    for name, value in PAGE_HEADERS.items():
        assert response.headers[name] == value


def test_the_pages_stylesheet_is_served_without_a_token(client):
    response = client.get("/s/static/pages.css")
    assert response.status_code == 200 and response.mimetype == "text/css"
    assert ".scale" in response.get_data(as_text=True)
