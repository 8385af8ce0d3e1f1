"""Unsubscribing from end to end, as a mailbox provider and a customer meet it: a real server (`crm serve`, its
embedded worker sending EMAIL to a real SMTP server, aiosmtpd), a campaign email arriving with its
List-Unsubscribe headers, the one-click POST a mailbox provider sends (no cookies, no form token), and the page
opened and confirmed in a real headless Chromium that may reach the server only. Screenshots at phone and desktop
widths go to build/screenshots/ (or $CRM_SCREENSHOTS_DIR): unsubscribe-confirm, unsubscribe-done."""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest

from crm import clock as platform_clock
from crm.links import Link, LinkPurpose, make_token
from tests.helpers import raw_id
from tests.pages import browser_page, mailing_server, needs_chromium, screenshot

SECRET = "unsubscribe-test-secret-of-at-least-32-characters"
CONSENTS = """query($id: ID!) { customer(id: $id) { consents { channel granted source } } }"""
STATUS = """query($id: ID!) { customer(id: $id) { messages(first: 10) { edges { node {
  id status suppressionReason } } } } }"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with mailing_server(tmp_path_factory.mktemp("unsubscribe"), SECRET, MESSAGES_DISPATCH_INTERVAL=1,
                        MESSAGES_QUIET_START="00:00", MESSAGES_QUIET_END="00:00") as pair:   # no quiet hours
        yield pair




def consenting(server, token, email: str) -> dict:
    customer = server.graphql(token, """mutation($i: CustomerCreateInput!) { customerCreate(input: $i) {
        customer { id } errors { code } } }""", {"i": {"email": email, "locale": "en"}})["customerCreate"]["customer"]
    server.graphql(token, """mutation($id: ID!) { customerSetConsent(customerId: $id, channel: EMAIL, granted: true)
        { errors { code } } }""", {"id": customer["id"]})
    return customer


def campaign_email(server, token, customer_id: str, subject: str, send_at: str | None = None) -> dict:
    payload = server.graphql(token, """mutation($i: MessageSendInput!) { messageSend(input: $i) {
        message { id status } errors { field code message } } }""", {"i": {
        "customerId": customer_id, "channel": "EMAIL", "purpose": "CAMPAIGN", "subject": subject,
        "body": "Spring news", "sendAt": send_at}})["messageSend"]
    assert payload["errors"] == [], payload["errors"]
    return payload["message"]


def arrived(smtp, subject: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _sender, _recipients, message in list(smtp.received):
            if message["Subject"] == subject:
                return message
        time.sleep(0.2)
    raise AssertionError(f"no email {subject!r} within {seconds}s")


def post(url: str, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def consents(server, token, customer_id) -> list[dict]:
    return server.graphql(token, CONSENTS, {"id": customer_id})["customer"]["consents"]


def test_the_one_click_post_of_a_campaign_email_withdraws_consent_and_the_next_one_is_suppressed(served):
    server, smtp = served
    token = server.token()
    ana = consenting(server, token, "ana@example.com")
    first = campaign_email(server, token, ana["id"], "Spring 1")
    mail = arrived(smtp, "Spring 1")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = mail["List-Unsubscribe"].removeprefix("<").removesuffix(">")
    assert url.startswith(f"{server.url}/s/unsubscribe/")
    # Due in a few seconds: pending when the customer unsubscribes, looked at by the sender afterwards.
    due = (platform_clock.now() + timedelta(seconds=4)).replace(microsecond=0).isoformat()
    second = campaign_email(server, token, ana["id"], "Spring 2", send_at=due)

    with urllib.request.urlopen(url, timeout=30) as page:   # a mail scanner's GET changes nothing
        assert page.status == 200 and "Stop emails from us?" in page.read().decode()
    assert [c["granted"] for c in consents(server, token, ana["id"])] == [True]

    status, html = post(url, b"List-Unsubscribe=One-Click")
    assert status == 200 and "You are unsubscribed" in html
    assert consents(server, token, ana["id"]) == [{"channel": "EMAIL", "granted": False, "source": "unsubscribe"}]
    assert post(url, b"List-Unsubscribe=One-Click")[0] == 200

    deadline = time.monotonic() + 30
    while True:
        nodes = {n["id"]: n for n in (e["node"] for e in server.graphql(token, STATUS, {"id": ana["id"]})
                                      ["customer"]["messages"]["edges"])}
        if nodes[second["id"]]["status"] not in ("SCHEDULED", "QUEUED") or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert (nodes[second["id"]]["status"], nodes[second["id"]]["suppressionReason"]) == ("SUPPRESSED", "NO_CONSENT")
    assert nodes[first["id"]]["status"] == "SENT"
    assert [m["Subject"] for _, _, m in smtp.received].count("Spring 2") == 0

    # Changed or expired (made 31 days ago with the server's key): the friendly page, nothing changes.
    server.graphql(token, """mutation($id: ID!) { customerSetConsent(customerId: $id, channel: EMAIL,
        granted: true) { errors { code } } }""", {"id": ana["id"]})
    assert post(url[:-3] + "xyz", b"List-Unsubscribe=One-Click")[0] == 404
    with platform_clock_at(platform_clock.now() - timedelta(days=31)):
        old = make_token(SECRET, Link(LinkPurpose.UNSUBSCRIBE, raw_id(ana["id"]), str(raw_id(first["id"]))))
    status, html = post(f"{server.url}/s/unsubscribe/{old}", b"List-Unsubscribe=One-Click")
    assert status == 410 and "This link has expired" in html
    assert consents(server, token, ana["id"])[0]["granted"] is True


class platform_clock_at:  # noqa: N801 (a context manager read as a phrase)
    def __init__(self, at):
        self.at = at

    def __enter__(self):
        platform_clock.freeze(self.at)

    def __exit__(self, *exc):
        platform_clock.unfreeze()


@needs_chromium
def test_the_unsubscribe_page_in_a_browser_asks_then_confirms(served):
    server, smtp = served
    token = server.token()
    bob = consenting(server, token, "bob@example.com")
    campaign_email(server, token, bob["id"], "Summer")
    url = arrived(smtp, "Summer")["List-Unsubscribe"].removeprefix("<").removesuffix(">")
    with browser_page(server.url) as page:
        opened = page.goto(url)
        assert (opened.status, page.locator("html").get_attribute("lang")) == (200, "en")
        assert page.locator("h1").inner_text() == "Stop emails from us?"
        screenshot(page, "unsubscribe-confirm")
        assert consents(server, token, bob["id"])[0]["granted"] is True
        page.get_by_role("button", name="Yes, unsubscribe").click()
        page.wait_for_selector("h1:has-text('You are unsubscribed')")
        assert page.locator(".notice").inner_text() == "We will send you no more emails of this kind."
        screenshot(page, "unsubscribe-done")
        assert (page.foreign, page.problems) == ([], [])
    assert consents(server, token, bob["id"]) == [{"channel": "EMAIL", "granted": False, "source": "unsubscribe"}]
