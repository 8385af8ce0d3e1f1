"""The campaign API: validation as structured errors that write nothing, roles, preview, results by loader."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from journeys.campaigns.models import Campaign
from tests.journeys.campaigns.helpers import CREATE, PREVIEW, UPDATE, create, lifecycle, run, send_step, start
from tests.helpers import consenting_customer, create_customer, raw_id

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def a_day_before_t0(clock):
    """The schedules below are literal instants and dates: they are written the day before T0 (on a running
    clock: the preview samples customers in the order they were created)."""
    clock.travel(T0 - timedelta(days=1))


def attempt(api, as_="marketer", **fields):
    payload = {"name": "x", "steps": [send_step()], **fields}
    return api.data(CREATE, {"input": payload}, as_=as_)["campaignCreate"]


def campaign_count(app) -> int:
    with app.extensions["crm.sessionmaker"]() as session:
        return session.scalar(select(func.count()).select_from(Campaign))


@pytest.mark.parametrize("fields, error", [
    ({"name": " "}, ("input.name", "REQUIRED")),
    ({"steps": []}, ("input.steps", "REQUIRED")),
    ({"steps": [{"key": "Bad Key", "type": "EXIT"}]}, ("input.steps.0.key", "INVALID")),
    ({"steps": [send_step("a"), send_step("a")]}, ("input.steps.1.key", "INVALID")),
    ({"steps": [{"key": "a", "type": "SEND", "content": [{"channel": "PHONE", "template": "x"}]}]},
     ("input.steps.0.content.0.channel", "INVALID")),
    ({"steps": [{"key": "a", "type": "SEND", "content": [{"channel": "EMAIL", "template": "{{ nope }}"}]}]},
     ("input.steps.0.content.0.template", "INVALID")),
    ({"steps": [{"key": "a", "type": "SEND", "content": [{"channel": "EMAIL", "locale": "de", "template": "x"}]}]},
     ("input.steps.0.content", "REQUIRED")),
    ({"steps": [{"key": "w", "type": "WAIT"}]}, ("input.steps.0.waitSeconds", "INVALID")),
    ({"steps": [{"key": "w", "type": "WAIT", "waitUntilLocalTime": "25:00"}]},
     ("input.steps.0.waitUntilLocalTime", "INVALID")),
    ({"steps": [send_step("a"), {"key": "b", "type": "BRANCH", "rule": {"field": "locale", "op": "eq", "value": "x"},
                                 "ifTrue": "a"}]}, ("input.steps.1.ifTrue", "INVALID")),
    ({"steps": [{"key": "b", "type": "BRANCH", "rule": {"field": "nope", "op": "eq", "value": 1}}]},
     ("input.steps.0.rule.field", "INVALID")),
    ({"steps": [{"key": "u", "type": "UPDATE"}]}, ("input.steps.0", "REQUIRED")),
    ({"steps": [{"key": "u", "type": "UPDATE", "points": 0}]}, ("input.steps.0.points", "INVALID")),
    ({"schedule": {"kind": "ONCE"}}, ("input.schedule.localDate", "REQUIRED")),
    ({"schedule": {"kind": "ONCE", "localDate": "2026-12-01", "localTime": "9am"}},
     ("input.schedule.localTime", "INVALID")),
    ({"schedule": {"kind": "ONCE", "at": "2020-01-01T00:00:00+00:00"}}, ("input.schedule.at", "INVALID")),
    ({"schedule": {"kind": "RECURRING", "frequency": "CRON", "cron": "every day"}}, ("input.schedule.cron", "INVALID")),
    ({"schedule": {"kind": "RECURRING", "frequency": "WEEKLY", "localTime": "09:00"}},
     ("input.schedule.weekdays", "INVALID")),
    ({"schedule": {"kind": "RECURRING", "frequency": "MONTHLY", "localTime": "09:00", "dayOfMonth": 32}},
     ("input.schedule.dayOfMonth", "INVALID")),
    ({"schedule": {"kind": "RECURRING", "frequency": "DAILY", "localTime": "09:00", "timezone": "Mars/Base"}},
     ("input.schedule.timezone", "INVALID")),
    ({"schedule": {"kind": "ONCE", "at": "2030-01-01T00:00:00+00:00"},
      "trigger": {"kind": "NO_ORDER_FOR", "days": 30}}, ("input.trigger", "INVALID")),
    ({"trigger": {"kind": "NO_ORDER_FOR", "days": 0}}, ("input.trigger.days", "INVALID")),
    ({"trigger": {"kind": "STAGE_ENTERED"}}, ("input.trigger.stage", "REQUIRED")),
    ({"trigger": {"kind": "SEGMENT_JOINED", "segmentId": "U2VnbWVudDowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="}},
     ("input.trigger.segmentId", "NOT_FOUND")),
    ({"reentry": "COOLDOWN", "cooldownSeconds": -1}, ("input.cooldownSeconds", "INVALID")),
    ({"conversionWindowSeconds": 60}, ("input.conversionWindowSeconds", "INVALID")),
    ({"purpose": "CARE"}, ("input.purpose", "INVALID")),
    ({"purpose": "TRANSACTIONAL"}, ("input.purpose", "FORBIDDEN")),
])
def test_bad_input_is_a_structured_error_and_writes_nothing(api, app, fields, error):
    payload = attempt(api, **fields)
    assert payload["campaign"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [error]
    assert campaign_count(app) == 0


def test_roles_marketer_writes_admin_sends_transactional_others_are_refused(api, app):
    assert attempt(api, as_="admin", purpose="TRANSACTIONAL")["errors"] == []
    for role in ("account_manager", "support_agent", "integration"):
        payload = attempt(api, as_=role)
        assert [e["code"] for e in payload["errors"]] == ["FORBIDDEN"]
    transactional = attempt(api, as_="admin", name="receipts", purpose="TRANSACTIONAL",
                            schedule={"kind": "ONCE", "at": "2030-01-01T00:00:00+00:00"})["campaign"]
    assert [e["code"] for e in lifecycle(api, "campaignSchedule", transactional["id"])["errors"]] == ["FORBIDDEN"]
    assert lifecycle(api, "campaignSchedule", transactional["id"], as_="admin")["campaign"]["status"] == "RUNNING"
    reader = api("""{ campaigns { totalCount } }""", as_="account_manager")
    assert reader["data"]["campaigns"]["totalCount"] == 2
    refused = api("""{ campaigns { totalCount } }""", as_="support_agent")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_a_portal_token_sees_no_campaign(api, app, portal_token, client):
    customer = create_customer(api, email="p@example.com")
    campaign = create(api)
    token = portal_token(raw_id(customer["id"]))
    response = client.post("/graphql", json={"query": """query($id: ID!) { node(id: $id) { id } campaigns { totalCount } }""",
                                             "variables": {"id": campaign["id"]}},
                           headers={"Authorization": f"Bearer {token}"}).get_json()
    assert response["data"] is None or response["data"].get("campaigns") is None
    assert response["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_schedule_needs_steps_and_a_schedule_or_trigger_and_only_drafts_are_scheduled(api, app):
    campaign = create(api)
    assert lifecycle(api, "campaignSchedule", campaign["id"])["errors"] == [
        {"field": "input.schedule", "code": "REQUIRED",
         "message": "A campaign runs on a schedule or a trigger: give one."}]
    updated = api.data(UPDATE, {"id": campaign["id"], "input": {"trigger": {"kind": "STAGE_ENTERED", "stage": "NEW"}}},
                       as_="marketer")["campaignUpdate"]
    assert updated["errors"] == [] and updated["campaign"]["trigger"] == {
        "kind": "STAGE_ENTERED", "stage": "NEW", "segmentId": None, "loyaltyTier": None, "days": None,
        "delaySeconds": 0}
    assert lifecycle(api, "campaignSchedule", campaign["id"])["campaign"]["status"] == "RUNNING"
    assert [e["code"] for e in lifecycle(api, "campaignSchedule", campaign["id"])["errors"]] == ["INVALID_TRANSITION"]
    assert [e["code"] for e in lifecycle(api, "campaignResume", campaign["id"])["errors"]] == ["INVALID_TRANSITION"]
    assert lifecycle(api, "campaignPause", campaign["id"])["campaign"]["status"] == "PAUSED"
    assert lifecycle(api, "campaignCancel", campaign["id"])["campaign"]["status"] == "CANCELLED"
    finished = api.data(UPDATE, {"id": campaign["id"], "input": {"name": "again"}}, as_="marketer")["campaignUpdate"]
    assert [(e["field"], e["code"]) for e in finished["errors"]] == [("id", "CAMPAIGN_FINISHED")]


def test_the_definition_reads_back_as_written(api, app):
    campaign = create(api, audience={"lifecycleStages": ["NEW", "LEAD"], "serviceTiers": ["VIP"],
                                     "loyaltyTiers": ["gold"]},
                      schedule={"kind": "RECURRING", "frequency": "WEEKLY", "localTime": "09:30",
                                "weekdays": ["THU", "MON"], "endsOn": "2027-01-31"},
                      steps=[send_step(), {"key": "w", "type": "WAIT", "waitUntilLocalTime": "08:00"},
                             {"key": "u", "type": "UPDATE", "stage": "LOYAL", "tierPin": "VIP"}])
    assert campaign["audience"] == {"segmentId": None, "lifecycleStages": ["LEAD", "NEW"], "serviceTiers": ["VIP"],
                                    "loyaltyTiers": ["gold"]}
    assert campaign["schedule"] == {"kind": "RECURRING", "at": None, "localDate": None, "localTime": "09:30",
                                    "frequency": "WEEKLY", "weekdays": ["MON", "THU"], "dayOfMonth": None,
                                    "cron": None, "timezone": None, "startsOn": None, "endsOn": "2027-01-31"}
    assert [(s["key"], s["type"], s["waitUntilLocalTime"], s["stage"], s["tierPin"]) for s in campaign["steps"]] == [
        ("email", "SEND", None, None, None), ("w", "WAIT", "08:00", None, None), ("u", "UPDATE", None, "LOYAL", "VIP")]
    assert campaign["steps"][0]["content"][1] == {"channel": "EMAIL", "locale": "de",
                                                  "template": "Subject: Hallo\nHallo {{ customer.firstName }}."}


def test_preview_counts_suppressions_by_reason_and_gives_each_sample_its_local_send_time(api, app):
    tokyo = consenting_customer(api, email="t@example.com", timezone="Asia/Tokyo")
    consenting_customer(api, consents=(), email="n@example.com", timezone="UTC")
    create_customer(api, phone="+41790000020", timezone="UTC")
    london = consenting_customer(api, email="l@example.com", timezone="Europe/London")
    campaign = create(api, schedule={"kind": "ONCE", "localDate": "2030-06-01", "localTime": "09:00"})
    got = api.data(PREVIEW, {"id": campaign["id"], "n": 5}, as_="marketer")["campaignPreview"]
    assert {k: got[k] for k in ("audience", "recipients", "suppressed")} == {"audience": 4, "recipients": 2,
                                                                            "suppressed": 2}
    assert got["suppressedByReason"] == [{"reason": "NO_ADDRESS", "count": 1}, {"reason": "NO_CONSENT", "count": 1}]
    assert [(s["customer"]["id"], s["channel"], s["sendAt"]) for s in got["sample"]] == [
        (tokyo["id"], "EMAIL", "2030-06-01T00:00:00+00:00"), (london["id"], "EMAIL", "2030-06-01T08:00:00+00:00")]
    assert [e["code"] for e in api(PREVIEW, {"id": campaign["id"]}, as_="account_manager")["errors"][0:1]
            for e in [e["extensions"]]] == ["FORBIDDEN"]


def test_results_of_a_page_of_campaigns_cost_the_same_statements_for_two_or_six(api, app, count_statements):
    for i in range(6):
        consenting_customer(api, email=f"r{i}@example.com", timezone="UTC")
    query = """{ campaigns(first: 10) { edges { node { name results { entered sent
                 steps { key entered sent } } } } } }"""

    def make(n):
        for i in range(n):
            campaign = create(api, name=f"c{i}", schedule={"kind": "ONCE", "at": "2026-12-01T10:00:00+00:00"})
            start(app, campaign["id"], T0 - timedelta(days=1))
        run(app, T0)

    make(2)
    with count_statements() as two:
        first = api.data(query, as_="marketer")
    make(4)
    with count_statements() as six:
        second = api.data(query, as_="marketer")
    assert [e["node"]["results"]["entered"] for e in first["campaigns"]["edges"]] == [6, 6]
    assert [e["node"]["results"]["steps"][0]["entered"] for e in second["campaigns"]["edges"]] == [6] * 6
    assert len(two) == len(six)
