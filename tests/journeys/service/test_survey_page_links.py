"""Where survey links come from: the case follow-up's ``surveyUrl`` (the signed page for that case, or the
deployment's own survey tool with CRM_MESSAGES_SURVEY_URL) and ``surveyUrls.<KIND>`` in any message template."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from crm.queue import work_once
from tests.helpers import raw_id
from tests.journeys.service.test_survey_page import answers, text_of
from tests.messages.test_care import _case, buyer, care_messages, set_rule
from tests.messages.test_messages import row as message_row
from tests.messages.test_messages import send

LINK = re.compile(r"http://127\.0\.0\.1:5000/s/survey/[A-Za-z0-9_.\-]+")


def test_the_follow_up_links_to_the_signed_survey_page_of_its_case(api, app, client):
    customer = buyer(api, app)
    case_id = _case(app, customer["id"], kind="REPAIR")
    work_once(app)
    (follow_up,) = care_messages(app, "case-follow-up")
    (url,) = LINK.findall(follow_up.body)
    assert f"Tell us how we did: {url}" in follow_up.body
    page = client.get(urlsplit(url).path)
    assert page.status_code == 200
    assert "<legend>How satisfied are you with how we handled your request?</legend>" in page.get_data(as_text=True)
    assert client.post(urlsplit(url).path, data={"score": "5"}).status_code == 200
    assert answers(api, customer)["surveyResponses"]["edges"] == [
        {"node": {"kind": "CSAT", "score": 5, "comment": None, "case": {"id": _global_case(case_id)}}}]


def _global_case(case_id) -> str:
    from crm.api.ids import global_id
    return global_id("Case", case_id)


def test_a_deployment_survey_tool_gets_the_case_customer_and_kind(api, app):
    app.config["MESSAGES_SURVEY_URL"] = "https://surveys.example.com/{kind}?case={caseId}&customer={customerId}"
    customer = buyer(api, app)
    case_id = _case(app, customer["id"], kind="REPAIR")
    work_once(app)
    (follow_up,) = care_messages(app, "case-follow-up")
    assert (f"Tell us how we did: https://surveys.example.com/CSAT?case={case_id}&customer={raw_id(customer['id'])}"
            in follow_up.body)
    assert "/s/survey/" not in follow_up.body


def test_any_template_links_a_survey_of_each_kind_without_a_case(api, app, client):
    customer = buyer(api, app)
    payload = send(api, customer["id"], body="NPS {{ surveyUrls.NPS }} CES {{ surveyUrls.CES }}")
    assert payload["errors"] == []
    # Read off the row: the API withholds a link's token from staff (only the customer's mailbox holds it).
    assert payload["message"]["body"] == ("NPS http://127.0.0.1:5000/s/survey/[withheld] "
                                          "CES http://127.0.0.1:5000/s/survey/[withheld]")
    body = message_row(app, payload["message"]["id"]).body
    nps, ces = LINK.findall(body)
    assert body == f"NPS {nps} CES {ces}"
    page = client.get(urlsplit(nps).path)
    assert "<legend>How likely are you to recommend us to a friend or colleague?</legend>" in page.get_data(
        as_text=True)
    assert "<legend>How easy was it to get what you needed from us?</legend>" in client.get(
        urlsplit(ces).path).get_data(as_text=True)
    assert "Your answer 8 out of 10" in text_of(client.post(urlsplit(nps).path, data={"score": "8"}))
    assert answers(api, customer)["surveyResponses"]["edges"] == [
        {"node": {"kind": "NPS", "score": 8, "comment": None, "case": None}}]
    # A care rule's template may use them too (written and checked like any other name).
    rule = set_rule(api, "post-purchase", template="How did we do? {{ surveyUrls.CSAT }}")
    assert (rule["errors"], rule["careRule"]["template"]) == ([], "How did we do? {{ surveyUrls.CSAT }}")
