"""Through a running server (`crm serve`, its in-process worker) and a real SMTP server (aiosmtpd), in headless
Chromium: a portal's EMAIL consent is PENDING (a campaign message is refused) and sends a confirmation email whose
link confirms it (the campaign then goes out); the preference centre round-trips. Screenshots of each page at phone and desktop widths go to build/screenshots/ (tests/pages.py)."""
from __future__ import annotations

import re
import time
import uuid
from email.message import Message as Email

import pytest

from crm.links import Link, LinkPurpose, link_url
from tests.pages import browser_page, mailing_server, needs_chromium, screenshot

SECRET = "e2e-preferences-secret-0123456789abcdef"
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with mailing_server(tmp_path_factory.mktemp("served-preferences"), SECRET) as pair:
        yield pair




CREATE = """mutation($e: String!, $l: String, $z: String) {
  customerCreate(input: {email: $e, firstName: "Eva", locale: $l, timezone: $z}) { customer { id } errors { code } } }"""
SEND = """mutation($id: ID!) { messageSend(input: {customerId: $id, channel: EMAIL, purpose: CAMPAIGN, subject: "Spring sale",
  body: "Hello {{ customer.firstName }}"}) { message { status } errors { code } } }"""
CONSENTS = "query($id: ID!) { customer(id: $id) { consents { channel granted status source confirmedAt } } }"


def customer(server, admin, email, locale=None) -> str:
    from tests.messages.test_messages import DAY_ZONE  # outside quiet hours now, so a campaign goes at once
    return server.graphql(admin, CREATE, {"e": email, "l": locale, "z": DAY_ZONE})["customerCreate"]["customer"]["id"]


def raw(global_id: str) -> uuid.UUID:
    import base64
    return uuid.UUID(base64.b64decode(global_id).decode().split(":", 1)[1])


def mail_to(sink, address, subject=None, timeout=30) -> Email:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, to, mail in sink.received:
            if address in to and (subject is None or mail["Subject"] == subject):
                return mail
        time.sleep(0.2)
    raise AssertionError(f"no email to {address} arrived: {[to for _, to, _ in sink.received]}")


def test_a_portal_consent_is_confirmed_from_the_email_in_chromium(served):
    server, sink = served
    admin = server.token("ADMIN")
    customer_id = customer(server, admin, "eva@example.com")
    portal = server.command("tokens", "create", "--role", "portal", "--customer", customer_id,
                            "--label", "e2e").strip().splitlines()[-1]
    server.graphql(portal, """mutation($id: ID!) { customerSetConsent(customerId: $id, channel: EMAIL,
      granted: true) { errors { code } } }""", {"id": customer_id})
    assert server.graphql(admin, CONSENTS, {"id": customer_id})["customer"]["consents"][0]["status"] == "PENDING"
    assert server.graphql(admin, SEND, {"id": customer_id})["messageSend"] == {
        "message": None, "errors": [{"code": "CONSENT_MISSING"}]}  # PENDING holds every campaign message
    mail = mail_to(sink, "eva@example.com")
    assert mail["Subject"] == "Please confirm that you want our emails"
    link = re.search(r"(http://127\.0\.0\.1:\d+/s/confirm/\S+)", mail.get_payload(decode=True).decode()).group(1)
    with browser_page(server.url) as page:
        page.goto(link)
        assert page.locator("h1").inner_text() == "Confirm your email subscription"
        screenshot(page, "confirm-consent")
        page.get_by_role("button", name="Yes, send me emails").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Thank you, you are subscribed"
        screenshot(page, "confirm-consent-done")
        assert page.foreign == [] and page.problems == []
    [consent] = server.graphql(admin, CONSENTS, {"id": customer_id})["customer"]["consents"]
    assert (consent["status"], consent["granted"], consent["source"]) == ("GRANTED", True, "double-opt-in")
    assert consent["confirmedAt"] is not None
    assert server.graphql(admin, SEND, {"id": customer_id})["messageSend"] == {
        "message": {"status": "QUEUED"}, "errors": []}
    assert mail_to(sink, "eva@example.com", subject="Spring sale")["Subject"] == "Spring sale"


def test_the_preference_centre_round_trips_in_chromium(served):
    server, _ = served
    admin = server.token("ADMIN")
    customer_id = customer(server, admin, "lea@example.com")
    server.graphql(admin, """mutation($id: ID!) { customerSetConsent(customerId: $id, channel: EMAIL,
      granted: true) { errors { code } } }""", {"id": customer_id})
    url = link_url(server.url, SECRET, Link(LinkPurpose.PREFERENCES, raw(customer_id)))
    with browser_page(server.url) as page:
        page.goto(url)
        assert page.locator("h1").inner_text() == "Your message preferences"
        assert page.get_by_label("Email").is_checked() and not page.get_by_label("Text message (SMS)").is_checked()
        screenshot(page, "preferences")
        page.get_by_label("Email").uncheck()
        page.get_by_label("Text message (SMS)").check()
        page.get_by_role("button", name="Save my choices").click()
        page.wait_for_load_state()
        assert page.locator(".notice").inner_text() == "Your choices are saved."
        assert not page.get_by_label("Email").is_checked() and page.get_by_label("Text message (SMS)").is_checked()
        screenshot(page, "preferences-saved")
        assert page.foreign == [] and page.problems == []
    consents = {c["channel"]: (c["status"], c["source"])
                for c in server.graphql(admin, CONSENTS, {"id": customer_id})["customer"]["consents"]}
    assert consents == {"EMAIL": ("WITHDRAWN", "preference-centre"), "SMS": ("GRANTED", "preference-centre")}
