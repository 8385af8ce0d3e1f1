"""The survey from end to end, as a customer meets it: a real server (`crm serve`, its embedded worker sending
EMAIL to a real SMTP server, aiosmtpd), a case resolved, the follow-up email arriving, and its survey link opened
in a real headless Chromium that may reach the server only. The answer is recorded once and the service metrics
move; an expired and a tampered link change nothing. Screenshots of each page at phone and desktop widths go to
build/screenshots/ (or $CRM_SCREENSHOTS_DIR): survey-question, survey-answered, survey-question-nps,
link-expired."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest

from crm.links import Link, LinkPurpose, make_token
from tests.helpers import raw_id
from tests.messages.test_messages import DAY_ZONE
from tests.pages import browser_page, mailing_server, needs_chromium, screenshot

SECRET = "survey-page-test-secret-of-at-least-32-characters"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/s/survey/[A-Za-z0-9_.\-]+")
METRICS = "{ serviceMetrics { csatAverage csatResponses } }"
RESPONSES = """query($id: ID!) { customer(id: $id) { metrics { csatAverage }
  surveyResponses(first: 10) { totalCount edges { node { kind score comment case { id } } } } } }"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with mailing_server(tmp_path_factory.mktemp("survey"), SECRET, MESSAGES_DISPATCH_INTERVAL=1) as pair:
        yield pair




def mutate(server, token, query, variables, name) -> dict:
    payload = server.graphql(token, query, variables)[name]
    assert payload["errors"] == [], payload["errors"]
    return payload


def resolved_case(server, token) -> tuple[dict, dict]:
    """A customer (English, in a zone where it is daytime) whose case was just resolved."""
    customer = mutate(server, token, """mutation($i: CustomerCreateInput!) { customerCreate(input: $i) {
        customer { id } errors { code } } }""", {"i": {"email": "bea@example.com", "firstName": "Bea",
                                                       "locale": "en-GB", "timezone": DAY_ZONE}},
                      "customerCreate")["customer"]
    mutate(server, token, """mutation($id: ID!) { customerSetConsent(customerId: $id, channel: EMAIL, granted: true)
        { errors { code } } }""", {"id": customer["id"]}, "customerSetConsent")
    mutate(server, token, """mutation { careRuleUpdate(key: "case-follow-up", input: {delaySeconds: 0})
        { errors { code } } }""", {}, "careRuleUpdate")
    case = mutate(server, token, """mutation($c: ID!) { caseOpen(input: {customerId: $c, kind: REPAIR,
        channel: EMAIL, subject: "Hinge"}) { case { id } errors { code } } }""", {"c": customer["id"]},
                  "caseOpen")["case"]
    for status in ("DIAGNOSING", "SOLUTION_PROPOSED"):
        mutate(server, token, """mutation($id: ID!, $s: CaseStatus!) { caseTransition(caseId: $id, toStatus: $s)
            { errors { code } } }""", {"id": case["id"], "s": status}, "caseTransition")
    mutate(server, token, """mutation($id: ID!) { caseResolve(caseId: $id, input: {resolution: "New hinge"})
        { errors { code } } }""", {"id": case["id"]}, "caseResolve")
    return customer, case


def arrived(smtp, to: str, seconds: float = 90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _sender, recipients, message in smtp.received:
            if to in recipients:
                return message
        time.sleep(0.25)
    raise AssertionError(f"no email to {to} within {seconds}s")


def text_part(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no text/plain part")


@needs_chromium
def test_the_follow_up_emails_survey_link_records_one_answer_and_moves_the_metrics(served, clock):
    server, smtp = served
    token = server.token()
    customer, case = resolved_case(server, token)
    email = arrived(smtp, "bea@example.com")
    (url,) = LINK.findall(text_part(email))
    assert url.startswith(f"{server.url}/s/survey/")
    assert server.graphql(token, METRICS)["serviceMetrics"] == {"csatAverage": None, "csatResponses": 0}

    with browser_page(server.url) as page:
        opened = page.goto(url)
        assert (opened.status, page.locator("html").get_attribute("lang")) == (200, "en")
        assert page.locator("legend").inner_text() == "How satisfied are you with how we handled your request?"
        assert page.locator("input[name=score]").count() == 5
        screenshot(page, "survey-question")
        page.locator(".scale label", has_text="4").click()
        assert page.locator("input[name=score][value='4']").is_checked()
        page.get_by_label("Anything you would like to tell us? (optional)").fill("Fixed in a day, thank you!")
        page.get_by_role("button", name="Send my answer").click()
        page.wait_for_selector("h1:has-text('Thank you for your answer')")
        assert page.locator("dd.score").inner_text() == "4 out of 5"
        assert page.locator("dd.comment").inner_text() == "Fixed in a day, thank you!"
        screenshot(page, "survey-answered")

        again = page.goto(url)  # a second visit: the answer given, nothing recorded
        assert again.status == 200
        assert page.locator("h1").inner_text() == "You have already answered"
        assert page.locator("form").count() == 0
        # A survey of no case (surveyUrls.NPS in any template): eleven points, wrapping on a phone.
        nps = make_token(SECRET, Link(LinkPurpose.SURVEY, raw_id(customer["id"]), "NPS:-"))
        assert page.goto(f"{server.url}/s/survey/{nps}").status == 200
        assert page.locator("input[name=score]").count() == 11
        screenshot(page, "survey-question-nps")
        assert (page.foreign, page.problems) == ([], [])

        # An expired link (made 31 days ago with the server's key) and a tampered one: the friendly page.
        clock.freeze(clock.now() - timedelta(days=31))
        expired = make_token(SECRET, Link(LinkPurpose.SURVEY, raw_id(customer["id"]), f"CSAT:{raw_id(case['id'])}"))
        clock.unfreeze()
        refused = page.goto(f"{server.url}/s/survey/{expired}")
        assert (refused.status, page.locator("h1").inner_text()) == (410, "This link has expired")
        screenshot(page, "link-expired")
        tampered = page.goto(url[:-3] + ("abc" if not url.endswith("abc") else "xyz"))
        assert (tampered.status, page.locator("h1").inner_text()) == (404, "This link does not work")
        assert page.foreign == []
        # Chromium reports a page served with an error status on its console; nothing else may appear.
        assert page.problems == [
            "console error: Failed to load resource: the server responded with a status of 410 (GONE)",
            "console error: Failed to load resource: the server responded with a status of 404 (NOT FOUND)"]

    answered = server.graphql(token, RESPONSES, {"id": customer["id"]})["customer"]
    assert answered == {"metrics": {"csatAverage": 4.0}, "surveyResponses": {"totalCount": 1, "edges": [
        {"node": {"kind": "CSAT", "score": 4, "comment": "Fixed in a day, thank you!", "case": {"id": case["id"]}}}]}}
    assert server.graphql(token, METRICS)["serviceMetrics"] == {"csatAverage": 4.0, "csatResponses": 1}
