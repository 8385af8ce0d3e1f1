"""Survey responses through GraphQL: scales, once per (customer, kind, case), metrics, detractor events."""
from __future__ import annotations

from sqlalchemy import select

from crm.outbox import OutboxEntry
from tests.helpers import create_customer, raw_id, submit

RESPONSES = """query($id: ID!) { customer(id: $id) { surveyResponses(first: 10) { totalCount
  edges { node { kind score comment } } } } }"""


def test_scores_outside_each_scale_are_invalid(api):
    customer = create_customer(api, email="ida@example.com")
    for kind, bad in (("CSAT", 0), ("CSAT", 6), ("NPS", -1), ("NPS", 11), ("CES", 0), ("CES", 8)):
        payload = submit(api, customerId=customer["id"], kind=kind, score=bad)
        assert payload["surveyResponse"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [("score", "INVALID")], (kind, bad)
    assert api.data(RESPONSES, {"id": customer["id"]})["customer"]["surveyResponses"]["totalCount"] == 0


def test_one_response_per_customer_kind_and_case_and_metrics_follow(api):
    customer = create_customer(api, email="ida@example.com")
    first = submit(api, customerId=customer["id"], kind="CSAT", score=4, comment="quick help")
    assert first["errors"] == []
    assert first["surveyResponse"]["customer"]["metrics"] == {"csatAverage": 4.0, "lastNpsScore": None}
    assert submit(api, customerId=customer["id"], kind="CSAT", score=4, comment="quick help") == first
    clash = submit(api, customerId=customer["id"], kind="CSAT", score=2)
    assert (clash["surveyResponse"], [(e["field"], e["code"]) for e in clash["errors"]]) == (
        None, [("kind", "DUPLICATE")])
    nps = submit(api, customerId=customer["id"], kind="NPS", score=9)
    assert nps["surveyResponse"]["customer"]["metrics"] == {"csatAverage": 4.0, "lastNpsScore": 9}
    listed = api.data(RESPONSES, {"id": customer["id"]})["customer"]["surveyResponses"]
    assert listed["totalCount"] == 2
    assert sorted((e["node"]["kind"], e["node"]["score"]) for e in listed["edges"]) == [("CSAT", 4), ("NPS", 9)]


def test_unknown_customer_or_case_and_foreign_case(api):
    customer = create_customer(api, email="ida@example.com")
    missing = "Q3VzdG9tZXI6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"
    assert [(e["field"], e["code"]) for e in submit(api, customerId=missing, kind="NPS", score=5)["errors"]] == [
        ("customerId", "NOT_FOUND")]
    missing_case = "Q2FzZTowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="
    payload = submit(api, customerId=customer["id"], kind="NPS", score=5, caseId=missing_case)
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("caseId", "NOT_FOUND")]
    other = create_customer(api, email="eve@example.com")
    opened = api.data("""mutation($c: ID!) { caseOpen(input: {customerId: $c, kind: INQUIRY, channel: WEB,
      subject: "x"}) { case { id } } }""", {"c": other["id"]})["caseOpen"]["case"]
    foreign = submit(api, customerId=customer["id"], kind="NPS", score=5, caseId=opened["id"])
    assert foreign["errors"] == [{"field": "caseId", "code": "NOT_FOUND", "message": payload["errors"][0]["message"]}]


def test_detractors_emit_an_event_promoters_do_not(api, app, subscriptions):
    subscriptions("survey.detractor", "tests.jobs_for_tests.record_event")
    customer = create_customer(api, email="ida@example.com")
    submit(api, customerId=customer["id"], kind="NPS", score=10)
    submit(api, customerId=customer["id"], kind="CSAT", score=2)
    submit(api, customerId=customer["id"], kind="CES", score=1)
    with app.app_context():
        from crm.sessions import get_session
        entries = get_session().scalars(select(OutboxEntry).where(
            OutboxEntry.func == "tests.jobs_for_tests.record_event")).all()
        topics = [(e.args[0]["topic"], e.args[0]["kind"], e.args[0]["score"]) for e in entries]
    assert topics == [("survey.detractor", "CSAT", 2)]


def test_portal_answers_for_itself_only(api, portal_token, tokens):
    ida = create_customer(api, email="ida@example.com")
    eve = create_customer(api, email="eve@example.com")
    tokens["ida"] = portal_token(raw_id(ida["id"]))
    own = submit(api, as_="ida", customerId=ida["id"], kind="NPS", score=8)
    assert own["errors"] == [] and own["surveyResponse"]["score"] == 8
    other = submit(api, as_="ida", customerId=eve["id"], kind="NPS", score=0)
    assert [(e["field"], e["code"]) for e in other["errors"]] == [("customerId", "NOT_FOUND")]
    assert api.data(RESPONSES, {"id": eve["id"]})["customer"]["surveyResponses"]["totalCount"] == 0
    marketer = submit(api, as_="marketer", customerId=eve["id"], kind="NPS", score=0)
    assert [e["code"] for e in marketer["errors"]] == ["FORBIDDEN"]
