"""The survey page (/s/survey/<token>) through the test client: each kind's question in the customer's language,
an answer recorded once as surveyResponseSubmit would, a second visit showing it, and links that do not open
(tampered, expired, another purpose, a customer merged away) changing nothing."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from html import unescape
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from crm.links import Link, LinkPurpose, make_token
from crm.outbox import OutboxEntry
from journeys.service.surveys import survey_link
from tests.helpers import create_customer, raw_id, run_threads

T0 = datetime(2031, 5, 6, 10, 0, tzinfo=timezone.utc)
RESPONSES = """query($id: ID!) { customer(id: $id) { metrics { csatAverage lastNpsScore }
  surveyResponses(first: 10) { totalCount edges { node { kind score comment case { id } } } } } }"""
CASE_OPEN = """mutation($c: ID!) { caseOpen(input: {customerId: $c, kind: INQUIRY, channel: WEB, subject: "Parcel"})
  { case { id } errors { code } } }"""
MERGE = """mutation($d: ID!, $p: ID!) { customerMerge(duplicateId: $d, primaryId: $p) { errors { code } } }"""


def path_of(app, customer, kind, case=None) -> str:
    url = survey_link(app.config, raw_id(customer["id"]), kind, raw_id(case["id"]) if case else None)
    return urlsplit(url).path


def text_of(response) -> str:
    """The page's visible text, tags dropped and whitespace collapsed."""
    body = response.get_data(as_text=True)
    body = re.sub(r"<(head|title)[^>]*>.*?</\1>", " ", body, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def scores_offered(response) -> list[int]:
    return [int(v) for v in re.findall(r'<input type="radio" name="score" value="(\d+)"', response.get_data(as_text=True))]


def answers(api, customer) -> dict:
    return api.data(RESPONSES, {"id": customer["id"]})["customer"]


def open_case(api, customer) -> dict:
    payload = api.data(CASE_OPEN, {"c": customer["id"]})["caseOpen"]
    assert payload["errors"] == []
    return payload["case"]


@pytest.mark.parametrize("kind, scores, question, ends", [
    ("CSAT", list(range(1, 6)), "How satisfied are you with how we handled your request?",
     "1 = Very dissatisfied 5 = Very satisfied"),
    ("NPS", list(range(0, 11)), "How likely are you to recommend us to a friend or colleague?",
     "0 = Not at all likely 10 = Extremely likely"),
    ("CES", list(range(1, 8)), "How easy was it to get your request resolved?", "1 = Very difficult 7 = Very easy"),
])
def test_each_kind_asks_its_question_on_its_scale_in_english(api, app, client, kind, scores, question, ends):
    customer = create_customer(api, email="ida@example.com", locale="en-GB")
    response = client.get(path_of(app, customer, kind, open_case(api, customer)))
    assert (response.status_code, response.headers["Content-Language"]) == (200, "en")
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    html = response.get_data(as_text=True)
    assert '<html lang="en">' in html and "<script" not in html
    assert scores_offered(response) == scores
    assert f"<legend>{question}</legend>" in html
    assert ends in text_of(response)
    assert '<textarea id="comment" name="comment" rows="4" maxlength="5000"' in html
    assert '<label class="block" for="comment">Anything you would like to tell us? (optional)</label>' in html
    assert '<button type="submit">Send my answer</button>' in html
    assert answers(api, customer)["surveyResponses"]["totalCount"] == 0  # looking records nothing


def test_a_german_customer_is_asked_in_german_and_a_survey_without_a_case_asks_in_general(api, app, client):
    customer = create_customer(api, email="jan@example.com", locale="de-CH")
    response = client.get(path_of(app, customer, "CSAT"))
    assert (response.status_code, response.headers["Content-Language"]) == (200, "de")
    html = response.get_data(as_text=True)
    assert '<html lang="de">' in html
    assert "<legend>Wie zufrieden sind Sie mit unserem Service?</legend>" in html
    assert "1 = Sehr unzufrieden 5 = Sehr zufrieden" in text_of(response)
    assert '<button type="submit">Antwort senden</button>' in html
    nps = client.get(path_of(app, customer, "NPS"))
    assert "0 = Äußerst unwahrscheinlich 10 = Äußerst wahrscheinlich" in text_of(nps)
    answered = client.post(path_of(app, customer, "NPS"), data={"score": "9", "comment": "Gut"})
    assert answered.status_code == 200
    assert "Vielen Dank für Ihre Antwort" in text_of(answered)
    assert "Ihre Antwort 9 von 10 Ihr Kommentar Gut" in text_of(answered)


def test_an_answer_is_recorded_once_with_its_comment_and_metrics_follow(api, app, client):
    customer = create_customer(api, email="ida@example.com")
    case = open_case(api, customer)
    path = path_of(app, customer, "CSAT", case)
    response = client.post(path, data={"score": "4", "comment": "  Quick and kind.\r\nThanks  "})
    assert response.status_code == 200
    text = text_of(response)
    assert text.startswith("Customer care Thank you for your answer We read every answer: yours helps us do better.")
    assert ("The question How satisfied are you with how we handled your request? Your answer 4 out of 5 "
            "Your comment Quick and kind. Thanks") in text
    assert answers(api, customer) == {"metrics": {"csatAverage": 4.0, "lastNpsScore": None}, "surveyResponses": {
        "totalCount": 1, "edges": [{"node": {"kind": "CSAT", "score": 4, "comment": "Quick and kind.\nThanks",
                                              "case": {"id": case["id"]}}}]}}


def test_a_detractor_answer_sets_off_the_recovery_event_as_the_mutation_does(api, app, client, subscriptions):
    subscriptions("survey.detractor", "tests.jobs_for_tests.record_event")
    customer = create_customer(api, email="ida@example.com")
    assert client.post(path_of(app, customer, "NPS"), data={"score": "3"}).status_code == 200
    assert client.post(path_of(app, customer, "CES"), data={"score": "1"}).status_code == 200
    with app.app_context():
        from crm.sessions import get_session
        entries = get_session().scalars(select(OutboxEntry).where(
            OutboxEntry.func == "tests.jobs_for_tests.record_event")).all()
        assert [(e.args[0]["topic"], e.args[0]["kind"], e.args[0]["score"], e.args[0]["caseId"])
                for e in entries] == [("survey.detractor", "NPS", 3, None)]
    assert answers(api, customer)["metrics"] == {"csatAverage": None, "lastNpsScore": 3}


@pytest.mark.parametrize("form", [{}, {"score": ""}, {"score": "abc"}, {"score": "0"}, {"score": "6"},
                                  {"score": "-1"}, {"score": "4.5"}, {"score": " 4x"}, {"score": "\u0663"},
                                  {"score": "9" * 40}, {"score": "\x00"}])
def test_a_bad_score_shows_the_form_again_with_an_error_and_records_nothing(api, app, client, form):
    customer = create_customer(api, email="ida@example.com")
    response = client.post(path_of(app, customer, "CSAT"), data={**form, "comment": "Kept <b>as typed</b>"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert ('<p class="error" id="survey-error" role="alert">Please choose a number from 1 to 5, then send your '
            'answer again.</p>') in html
    assert '<fieldset aria-describedby="scale-ends survey-error">' in html
    assert scores_offered(response) == [1, 2, 3, 4, 5]
    assert ">Kept &lt;b&gt;as typed&lt;/b&gt;</textarea>" in html
    assert answers(api, customer)["surveyResponses"]["totalCount"] == 0


@pytest.mark.parametrize("comment", ["x" * 5001, "nul \x00 inside"])
def test_a_comment_the_service_refuses_shows_the_form_again_with_the_score_kept(api, app, client, comment):
    customer = create_customer(api, email="ida@example.com")
    response = client.post(path_of(app, customer, "CES"), data={"score": "5", "comment": comment})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "please shorten it to at most 5000 characters" in html
    assert '<input type="radio" name="score" value="5" checked>' in html
    assert answers(api, customer)["surveyResponses"]["totalCount"] == 0


def test_a_second_visit_shows_the_answer_given_and_records_nothing_more(api, app, client):
    customer = create_customer(api, email="ida@example.com")
    path = path_of(app, customer, "CES")
    assert client.post(path, data={"score": "6", "comment": "Easy"}).status_code == 200
    for again in (client.get(path), client.post(path, data={"score": "2", "comment": "changed my mind"}),
                  client.post(path, data={"score": "nonsense"})):
        assert again.status_code == 200
        text = text_of(again)
        assert "You have already answered Thank you. We have your answer below; nothing more needs doing here." in text
        assert "Your answer 6 out of 7 Your comment Easy" in text
        assert "<form" not in again.get_data(as_text=True)
    assert answers(api, customer)["surveyResponses"] == {"totalCount": 1, "edges": [
        {"node": {"kind": "CES", "score": 6, "comment": "Easy", "case": None}}]}


def test_two_quick_posts_record_once_and_both_end_on_the_answer(api, app):
    customer = create_customer(api, email="ida@example.com")
    path = path_of(app, customer, "NPS")
    clients = [app.test_client(), app.test_client()]
    responses = run_threads(2, lambda i: clients[i].post(path, data={"score": "10", "comment": "Great"}))
    assert sorted(r.status_code for r in responses) == [200, 200]
    headings = sorted(text_of(r).split(" We ")[0].split(" Thank you.")[0] for r in responses)
    assert all(h in ("Customer care Thank you for your answer", "Customer care You have already answered")
               for h in headings), headings
    assert all("Your answer 10 out of 10 Your comment Great" in text_of(r) for r in responses)
    assert answers(api, customer)["surveyResponses"]["totalCount"] == 1


def tamper(token: str) -> str:
    return token[:-2] + ("AA" if token[-2:] != "AA" else "BB")


@pytest.mark.parametrize("broken", [tamper, lambda t: t[: len(t) // 2], lambda t: "nonsense", lambda t: t + "/x",
                                    lambda t: "%00%ff"])
def test_a_tampered_link_gets_the_friendly_page_and_changes_nothing(api, app, client, broken):
    customer = create_customer(api, email="ida@example.com")
    token = path_of(app, customer, "CSAT").rsplit("/", 1)[1]
    for response in (client.get(f"/s/survey/{broken(token)}"),
                     client.post(f"/s/survey/{broken(token)}", data={"score": "5"})):
        assert response.status_code == 404
        assert text_of(response) == ("Customer care This link does not work The link may have been cut off or "
                                     "changed. Please open it again from the message we sent you, or contact us "
                                     "and we will help.")
    assert answers(api, customer)["surveyResponses"]["totalCount"] == 0


def test_an_expired_link_gets_the_friendly_page_and_changes_nothing(api, app, client, clock):
    customer = create_customer(api, email="ida@example.com")
    clock.freeze(T0)
    path = path_of(app, customer, "CSAT")
    clock.freeze(T0 + timedelta(days=30))
    assert client.get(path).status_code == 200  # still within CRM_LINKS_MAX_AGE
    clock.freeze(T0 + timedelta(days=30, seconds=2))
    for response in (client.get(path), client.post(path, data={"score": "5"})):
        assert response.status_code == 410
        assert text_of(response).startswith("Customer care This link has expired For your security")
    app.config["LINKS_MAX_AGE"] = 40 * 86400
    assert client.get(path).status_code == 200
    assert answers(api, customer)["surveyResponses"]["totalCount"] == 0


def test_links_of_another_purpose_an_unknown_customer_or_a_foreign_target_do_not_open(api, app, client):
    customer = create_customer(api, email="ida@example.com")
    secret = app.config["SECRET_KEY"]
    other = create_customer(api, email="eve@example.com")
    foreign_case = open_case(api, other)
    tokens = [make_token(secret, Link(LinkPurpose.UNSUBSCRIBE, raw_id(customer["id"]), "CSAT:-")),
              make_token(secret, Link(LinkPurpose.SURVEY, uuid.uuid4(), "CSAT:-")),
              make_token(secret, Link(LinkPurpose.SURVEY, raw_id(customer["id"]), "NOPE:-")),
              make_token(secret, Link(LinkPurpose.SURVEY, raw_id(customer["id"]), "CSAT:not-a-case")),
              make_token(secret, Link(LinkPurpose.SURVEY, raw_id(customer["id"]), None)),
              make_token(secret, Link(LinkPurpose.SURVEY, raw_id(customer["id"]), f"CSAT:{uuid.uuid4()}")),
              make_token(secret, Link(LinkPurpose.SURVEY, raw_id(customer["id"]),
                                      f"CSAT:{raw_id(foreign_case['id'])}"))]
    for token in tokens:
        response = client.post(f"/s/survey/{token}", data={"score": "5"})
        assert (response.status_code, text_of(response).split(" The link")[0]) == (
            404, "Customer care This link does not work"), token
    assert answers(api, customer)["surveyResponses"]["totalCount"] == 0
    assert answers(api, other)["surveyResponses"]["totalCount"] == 0


def test_a_customer_merged_away_gets_the_refused_page_in_their_language(api, app, client):
    duplicate = create_customer(api, email="ida.old@example.com", locale="de")
    primary = create_customer(api, email="ida@example.com")
    case = open_case(api, duplicate)
    paths = [path_of(app, duplicate, "CSAT", case), path_of(app, duplicate, "NPS")]
    assert api.data(MERGE, {"d": duplicate["id"], "p": primary["id"]})["customerMerge"]["errors"] == []
    for path in paths:
        for response in (client.get(path), client.post(path, data={"score": "5"})):
            assert (response.status_code, text_of(response).split(" Der Link")[0]) == (
                404, "Kundenservice Dieser Link funktioniert nicht")
    assert answers(api, primary)["surveyResponses"]["totalCount"] == 0


def test_other_methods_are_refused_without_an_error_page(api, app, client):
    customer = create_customer(api, email="ida@example.com")
    path = path_of(app, customer, "CSAT")
    assert client.put(path, data={"score": "5"}).status_code == 405
    assert client.head(path).status_code == 200
    assert client.post(path, data=b"\xff\xfe", content_type="application/octet-stream").status_code == 422
    assert answers(api, customer)["surveyResponses"]["totalCount"] == 0
