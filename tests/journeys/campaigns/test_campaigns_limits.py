"""Schedules at the edges: crons that never fire or fire at random, dates whose wall times have no instant
in UTC, and what a bad stored schedule may (not) do to the worker round; order instants in the future and
timezone names that are not IANA zones."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from crm.customers.models import Customer, Order
from crm.queue import run_round_jobs, work_once
from journeys.campaigns.models import Campaign
from tests.journeys.campaigns.helpers import CREATE, PREVIEW, campaign_messages, create, entries, lifecycle, run, send_step
from tests.helpers import CREATE as CUSTOMER_CREATE
from tests.helpers import RECORD_ORDER, consenting_customer, create_customer, iso, raw_id

UTC = timezone.utc
T0 = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)
NO_QUIET = {"MESSAGES_QUIET_START": "00:00", "MESSAGES_QUIET_END": "00:00"}
CUSTOMER_UPDATE = """mutation($id: ID!, $input: CustomerUpdateInput!) { customerUpdate(id: $id, input: $input) {
  customer { id timezone } errors { field code message } } }"""


@pytest.fixture(autouse=True)
def at_t0(clock):
    """Every schedule below is written at T0 (a Tuesday, midday UTC) on a stopped clock."""
    clock.freeze(T0)


def attempt(api, **fields):
    payload = {"name": "x", "steps": [send_step()], **fields}
    return api.data(CREATE, {"input": payload}, as_="marketer")["campaignCreate"]


def campaign_count(app) -> int:
    with app.extensions["crm.sessionmaker"]() as session:
        return session.scalar(select(func.count()).select_from(Campaign))


def refused(api, app, field: str, **fields) -> str:
    payload = attempt(api, **fields)
    assert payload["campaign"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "INVALID")], payload["errors"]
    assert campaign_count(app) == 0
    return payload["errors"][0]["message"]


def cron(expression: str) -> dict:
    return {"kind": "RECURRING", "frequency": "CRON", "cron": expression}


def store_schedule(app, campaign_id: str, schedule: dict) -> None:
    """What no API call writes: a schedule put straight into the row (an older version's, a hand edit)."""
    with app.extensions["crm.sessionmaker"]() as session:
        session.execute(update(Campaign).where(Campaign.id == raw_id(campaign_id)).values(schedule=schedule))
        session.commit()


# 5. Crons that never fire, and random ones.

@pytest.mark.parametrize("expression", ["0 0 31 2 *", "0 0 30 2 *", "0 9 31 4,6,9,11 *"])
def test_a_cron_that_never_fires_is_refused(api, app, expression):
    message = refused(api, app, "input.schedule.cron", schedule=cron(expression))
    assert "never fires" in message


@pytest.mark.parametrize("expression", ["R R * * *", "0 R * * *", "r(0-30) 9 * * *", "0 9 * * R/2"])
def test_a_random_cron_is_refused(api, app, expression):
    message = refused(api, app, "input.schedule.cron", schedule=cron(expression))
    assert "R" in message and "random" in message


def test_a_rare_cron_that_does_fire_is_accepted_and_previewed(api, app):
    consenting_customer(api, email="leap@example.com", timezone="UTC")
    campaign = create(api, schedule={**cron("0 9 29 2 *"), "timezone": "UTC"})
    got = api.data(PREVIEW, {"id": campaign["id"]}, as_="marketer")["campaignPreview"]
    assert [s["sendAt"] for s in got["sample"]] == ["2032-02-29T09:00:00+00:00"]


# 6. Dates whose local times have no instant in UTC.

@pytest.mark.parametrize("schedule, field", [
    ({"kind": "ONCE", "localDate": "9999-12-31", "localTime": "23:59", "timezone": "Etc/GMT+12"},
     "input.schedule.localDate"),
    ({"kind": "ONCE", "localDate": "9999-12-31", "localTime": "23:59"}, "input.schedule.localDate"),
    ({"kind": "ONCE", "localDate": "0001-01-01", "localTime": "00:00", "timezone": "Etc/GMT-14"},
     "input.schedule.localDate"),
    ({"kind": "RECURRING", "frequency": "DAILY", "localTime": "09:00", "endsOn": "9999-12-31"},
     "input.schedule.endsOn"),
    ({"kind": "RECURRING", "frequency": "DAILY", "localTime": "09:00", "startsOn": "0001-01-01"},
     "input.schedule.startsOn"),
    ({"kind": "RECURRING", "frequency": "DAILY", "localTime": "09:00", "startsOn": "1969-12-31"},
     "input.schedule.startsOn"),
])
def test_a_date_outside_the_years_1970_to_9998_is_refused(api, app, schedule, field):
    message = refused(api, app, field, schedule=schedule)
    assert "1970" in message and "9998" in message


def test_the_edges_of_the_window_are_accepted(api, app):
    create(api, schedule={"kind": "ONCE", "localDate": "9998-12-31", "localTime": "23:59", "timezone": "Etc/GMT+12"})
    create(api, schedule={"kind": "RECURRING", "frequency": "DAILY", "localTime": "09:00", "startsOn": "1970-01-01",
                          "endsOn": "9998-12-31"})
    assert campaign_count(app) == 2


@pytest.mark.parametrize("schedule, send_at", [
    # Never: a one-off whose instant is past year 9999 or before year 1, a cron without an occurrence.
    ({"kind": "ONCE", "localDate": "9999-12-31", "localTime": "23:59"}, None),
    ({"kind": "ONCE", "localDate": "9999-12-31", "localTime": "23:59", "timezone": "Etc/GMT+12"}, None),
    ({"kind": "ONCE", "localDate": "0001-01-01", "localTime": "00:00", "timezone": "Etc/GMT-14"}, None),
    ({"kind": "RECURRING", "frequency": "CRON", "cron": "0 0 31 2 *"}, None),
    ({"kind": "RECURRING", "frequency": "DAILY", "localTime": "13:00", "startsOn": "9999-12-31"}, None),
    # An end that cannot be reached is no end; an unknown zone counts as UTC (as a customer's does).
    ({"kind": "RECURRING", "frequency": "DAILY", "localTime": "13:00", "endsOn": "9999-12-31"},
     "2031-03-05T01:00:00+00:00"),   # 13:00 at UTC-12
    ({"kind": "RECURRING", "frequency": "DAILY", "localTime": "13:00", "timezone": "No/Such_Zone"},
     "2031-03-04T13:00:00+00:00"),
])
def test_a_bad_stored_schedule_previews_and_plans_without_an_error(api, app, schedule, send_at):
    consenting_customer(api, email="far@example.com", timezone="Etc/GMT+12")
    campaign = create(api, schedule={"kind": "RECURRING", "frequency": "DAILY", "localTime": "13:00"})
    assert lifecycle(api, "campaignSchedule", campaign["id"])["errors"] == []
    store_schedule(app, campaign["id"], schedule)

    got = api.data(PREVIEW, {"id": campaign["id"]}, as_="marketer")["campaignPreview"]
    assert got["recipients"] == 1
    assert [s["sendAt"] for s in got["sample"]] == [send_at]
    for hours in (0, 1, 13, 24 * 400):
        run(app, T0 + timedelta(hours=hours))   # no error
    assert len(entries(app, campaign["id"])) == (0 if send_at is None else 1)


# 7. One bad campaign stops neither the others nor the message dispatcher.

def test_a_campaign_with_a_bad_stored_schedule_does_not_stop_the_round(api, app, caplog, clock):
    app.config.update(NO_QUIET)
    consenting_customer(api, email="far@example.com", timezone="Etc/GMT+12")
    good = create(api, name="good", schedule={"kind": "ONCE", "at": iso(T0 + timedelta(minutes=1))})
    bad = create(api, name="bad", schedule={"kind": "ONCE", "localDate": "2031-03-05", "localTime": "09:00"})
    for campaign in (bad, good):
        assert lifecycle(api, "campaignSchedule", campaign["id"])["errors"] == []
    store_schedule(app, bad["id"], {"kind": "ONCE", "localDate": "9999-12-31", "localTime": "23:59"})

    clock.freeze(T0 + timedelta(minutes=2))   # both are due
    with caplog.at_level(logging.WARNING):
        work_once(app)   # plans and sends "good" in the same round: its message is written, dispatched and sent
    assert [m.status.value for m in campaign_messages(app, good["id"])] == ["SENT"]
    assert entries(app, bad["id"]) == []


def test_a_campaign_whose_planning_raises_is_logged_with_its_id_and_the_others_are_planned(
        api, app, monkeypatch, caplog, clock):
    app.config.update(NO_QUIET)
    consenting_customer(api, email="c@example.com", timezone="UTC")
    at = {"kind": "ONCE", "at": iso(T0 + timedelta(minutes=1))}
    buggy, good = create(api, name="buggy", schedule=at), create(api, name="good", schedule=at)
    for campaign in (buggy, good):
        assert lifecycle(api, "campaignSchedule", campaign["id"])["errors"] == []
    from journeys.campaigns import planner
    due_runs = planner.due_runs

    def failing_for_buggy(campaign, zones, now):
        if campaign.id == raw_id(buggy["id"]):
            raise OverflowError("date value out of range")   # what an unforeseen value could still raise
        return due_runs(campaign, zones, now)

    monkeypatch.setattr(planner, "due_runs", failing_for_buggy)
    clock.freeze(T0 + timedelta(minutes=2))
    with caplog.at_level(logging.ERROR, logger="journeys.campaigns.planner"):
        work_once(app)
    assert [m.status.value for m in campaign_messages(app, good["id"])] == ["SENT"]
    assert entries(app, buggy["id"]) == []
    [failure] = [r for r in caplog.records if r.name == "journeys.campaigns.planner"]
    assert str(raw_id(buggy["id"])) in failure.getMessage() and failure.exc_info[0] is OverflowError
    monkeypatch.setattr(planner, "due_runs", due_runs)   # fixed: planned in the next round (within the late limit)
    work_once(app)
    assert [m.status.value for m in campaign_messages(app, buggy["id"])] == ["SENT"]


def test_a_round_job_that_raises_is_logged_and_the_next_ones_still_run(api, app, monkeypatch, caplog):
    app.config.update(NO_QUIET)
    consenting_customer(api, email="c@example.com", timezone="UTC")
    campaign = create(api, schedule={"kind": "ONCE", "at": iso(T0 + timedelta(minutes=1))})
    assert lifecycle(api, "campaignSchedule", campaign["id"])["errors"] == []
    run(app, T0 + timedelta(minutes=2))   # planned and advanced: its message waits for the dispatcher
    assert [m.status.value for m in campaign_messages(app, campaign["id"])] == ["SCHEDULED"]

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the campaigns domain")

    monkeypatch.setattr("journeys.campaigns.jobs.tick", broken)
    with caplog.at_level(logging.ERROR, logger="crm.queue"):
        with app.app_context():
            assert run_round_jobs(app) == ["campaigns"]
        work_once(app)
    assert [m.status.value for m in campaign_messages(app, campaign["id"])] == ["SENT"]
    failures = [r for r in caplog.records if r.name == "crm.queue" and "campaigns" in r.getMessage()]
    assert failures and failures[0].exc_info[0] is RuntimeError


# 8. Orders from the future, timezones that are not IANA names.

@pytest.mark.parametrize("occurred_at", ["9999-12-31T23:59:59Z", "2031-03-04T12:05:01Z", "2032-01-01T00:00:00+14:00"])
def test_an_order_in_the_future_is_refused_and_writes_nothing(api, app, occurred_at):
    customer = create_customer(api, email="o@example.com")
    order = {"customerId": customer["id"], "externalId": "future-1", "amount": "5", "currency": "EUR",
             "channel": "WEB", "occurredAt": occurred_at}
    payload = api.data(RECORD_ORDER, {"input": order})["orderRecord"]
    assert payload["order"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [("occurredAt", "INVALID")]
    assert "future" in payload["errors"][0]["message"]
    with app.extensions["crm.sessionmaker"]() as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 0


def test_an_order_within_the_clock_skew_is_recorded(api):
    customer = create_customer(api, email="o@example.com")
    order = {"customerId": customer["id"], "externalId": "skew-1", "amount": "5", "currency": "EUR",
             "channel": "WEB", "occurredAt": "2031-03-04T12:04:59Z"}
    payload = api.data(RECORD_ORDER, {"input": order})["orderRecord"]
    assert payload["errors"] == [] and payload["order"]["occurredAt"] == "2031-03-04T12:04:59+00:00"


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Europe/../Europe/Berlin", "europe/berlin"])
def test_a_timezone_that_is_not_an_iana_name_is_refused(api, app, zone):
    created = api.data(CUSTOMER_CREATE, {"input": {"email": "z@example.com", "timezone": zone}})["customerCreate"]
    assert created["customer"] is None
    assert [(e["field"], e["code"]) for e in created["errors"]] == [("timezone", "INVALID")]
    customer = create_customer(api, email="y@example.com", timezone="Europe/Berlin")
    updated = api.data(CUSTOMER_UPDATE, {"id": customer["id"], "input": {"timezone": zone}})["customerUpdate"]
    assert [(e["field"], e["code"]) for e in updated["errors"]] == [("timezone", "INVALID")]
    with app.extensions["crm.sessionmaker"]() as session:
        assert [c.timezone for c in session.scalars(select(Customer))] == ["Europe/Berlin"]


def test_a_campaign_timezone_that_is_not_an_iana_name_is_refused(api, app):
    refused(api, app, "input.schedule.timezone",
            schedule={"kind": "RECURRING", "frequency": "DAILY", "localTime": "09:00", "timezone": "localtime"})
