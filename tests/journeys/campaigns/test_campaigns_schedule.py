"""Scheduled campaigns with time controlled: local time across timezones and DST, recurring schedules,
rescheduling, two schedulers."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.journeys.campaigns.helpers import campaign_messages, create, entries, run, start
from tests.helpers import consenting_customer, raw_id

UTC = timezone.utc


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(autouse=True)
def before_every_date_below(clock):
    """The dates below are literal (their weekdays and DST changes are the point): campaigns are written before
    all of them, and ``start`` and ``run`` then stop the clock at their instants."""
    clock.freeze(t("2026-01-01T00:00:00"))


def test_nine_local_reaches_tokyo_before_london_each_at_their_nine(api, app):
    tokyo = consenting_customer(api, email="ken@example.com", firstName="Ken", timezone="Asia/Tokyo")
    london = consenting_customer(api, email="amy@example.com", firstName="Amy", timezone="Europe/London")
    campaign = create(api, schedule={"kind": "ONCE", "localDate": "2026-12-01", "localTime": "09:00"})
    start(app, campaign["id"], t("2026-11-30T00:00:00"))

    assert run(app, t("2026-11-30T23:59:00"))["entered"] == 0      # 08:59 in Tokyo
    assert run(app, t("2026-12-01T00:00:00"))["entered"] == 1      # 09:00 in Tokyo
    [sent] = campaign_messages(app, campaign["id"])
    assert (sent.customer_id, sent.scheduled_for, sent.status.value) == (
        raw_id(tokyo["id"]), t("2026-12-01T00:00:00"), "SCHEDULED")
    assert run(app, t("2026-12-01T08:59:00"))["entered"] == 0
    assert run(app, t("2026-12-01T09:00:30"))["entered"] == 1      # 09:00 in London (GMT)
    sent = campaign_messages(app, campaign["id"])
    assert [(m.customer_id, m.scheduled_for) for m in sent] == [
        (raw_id(tokyo["id"]), t("2026-12-01T00:00:00")), (raw_id(london["id"]), t("2026-12-01T09:00:30"))]
    assert run(app, t("2026-12-01T12:00:00")) == {"entered": 0, "advanced": 0, "completed": 0}


def daily(local_time="09:00", **extra) -> dict:
    return {"kind": "RECURRING", "frequency": "DAILY", "localTime": local_time, **extra}


def test_daily_nine_local_follows_the_wall_clock_across_a_dst_change(api, app):
    berlin = consenting_customer(api, email="b@example.com", timezone="Europe/Berlin")
    campaign = create(api, schedule=daily(), reentry="COOLDOWN", cooldownSeconds=0)
    start(app, campaign["id"], t("2026-10-23T12:00:00"))
    # CEST (UTC+2) until 25 October 2026 03:00, then CET (UTC+1).
    for when in ("2026-10-24T06:59:00", "2026-10-24T07:00:00", "2026-10-25T07:00:00", "2026-10-25T08:00:00",
                 "2026-10-26T08:00:00"):
        run(app, t(when))
    assert [m.scheduled_for for m in campaign_messages(app, campaign["id"])] == [
        t("2026-10-24T07:00:00"), t("2026-10-25T08:00:00"), t("2026-10-26T08:00:00")]
    assert {e.customer_id for e in entries(app, campaign["id"])} == {raw_id(berlin["id"])}


def test_a_local_time_skipped_by_spring_forward_sends_just_after_the_gap(api, app):
    consenting_customer(api, email="ny@example.com", timezone="America/New_York")
    campaign = create(api, schedule=daily("02:30"), reentry="COOLDOWN", cooldownSeconds=0)
    start(app, campaign["id"], t("2026-03-06T12:00:00"))
    # 8 March 2026 02:00 EST -> 03:00 EDT: 02:30 does not exist that night.
    for when in ("2026-03-07T07:30:00", "2026-03-08T07:29:00", "2026-03-08T07:30:00", "2026-03-09T06:30:00"):
        run(app, t(when))
    assert [m.scheduled_for for m in campaign_messages(app, campaign["id"])] == [
        t("2026-03-07T07:30:00"), t("2026-03-08T07:30:00"), t("2026-03-09T06:30:00")]


def test_weekly_monthly_and_cron_schedules_fire_on_their_days_only(api, app):
    consenting_customer(api, email="w@example.com", timezone="UTC")
    weekly = create(api, name="weekly", schedule={"kind": "RECURRING", "frequency": "WEEKLY", "localTime": "10:00",
                                                  "weekdays": ["MON", "THU"]}, reentry="COOLDOWN")
    monthly = create(api, name="monthly", schedule={"kind": "RECURRING", "frequency": "MONTHLY",
                                                    "localTime": "10:00", "dayOfMonth": 3}, reentry="COOLDOWN")
    cron = create(api, name="cron", schedule={"kind": "RECURRING", "frequency": "CRON", "cron": "0 8,20 * * SAT"},
                  reentry="COOLDOWN")
    for campaign in (weekly, monthly, cron):
        start(app, campaign["id"], t("2026-11-30T00:00:00"))
    day = t("2026-11-30T00:00:00")   # a Monday
    while day < t("2026-12-08T00:00:00"):
        run(app, day)
        day += timedelta(hours=1)
    assert [m.scheduled_for for m in campaign_messages(app, weekly["id"])] == [
        t("2026-11-30T10:00:00"), t("2026-12-03T10:00:00"), t("2026-12-07T10:00:00")]
    assert [m.scheduled_for for m in campaign_messages(app, monthly["id"])] == [t("2026-12-03T10:00:00")]
    assert [m.scheduled_for for m in campaign_messages(app, cron["id"])] == [
        t("2026-12-05T08:00:00"), t("2026-12-05T20:00:00")]
    assert sorted(e.entry_key for e in entries(app, cron["id"])) == [
        "run:2026-12-05T08:00", "run:2026-12-05T20:00"]


def test_recurring_without_reentry_reaches_each_customer_once(api, app):
    consenting_customer(api, email="once@example.com", timezone="UTC")
    campaign = create(api, schedule=daily())   # reentry NEVER by default
    start(app, campaign["id"], t("2026-11-30T00:00:00"))
    for day in (1, 2, 3):
        run(app, t(f"2026-12-0{day}T09:00:00"))
    assert len(campaign_messages(app, campaign["id"])) == 1
    assert [e.entry_key for e in entries(app, campaign["id"])] == ["once"]


def test_one_instant_for_everyone_and_one_zone_for_everyone(api, app):
    consenting_customer(api, email="a@example.com", timezone="Asia/Tokyo")
    consenting_customer(api, email="b@example.com", timezone="America/Los_Angeles")
    instant = create(api, name="instant", schedule={"kind": "ONCE", "at": "2026-12-01T15:00:00+00:00"})
    zoned = create(api, name="zoned", schedule={"kind": "ONCE", "localDate": "2026-12-01", "localTime": "09:00",
                                                "timezone": "America/New_York"})
    for campaign in (instant, zoned):
        start(app, campaign["id"], t("2026-11-30T00:00:00"))
    run(app, t("2026-12-01T13:59:00"))
    assert campaign_messages(app, zoned["id"]) == []
    run(app, t("2026-12-01T14:00:00"))   # 09:00 in New York, for both customers
    assert [m.scheduled_for for m in campaign_messages(app, zoned["id"])] == [t("2026-12-01T14:00:00")] * 2
    run(app, t("2026-12-01T15:00:00"))
    assert [m.scheduled_for for m in campaign_messages(app, instant["id"])] == [t("2026-12-01T15:00:00")] * 2
    run(app, t("2026-12-03T00:00:00"))
    assert {row_status(app, c["id"]) for c in (instant, zoned)} == {"COMPLETED"}


def row_status(app, campaign_id):
    from tests.journeys.campaigns.helpers import row
    return row(app, campaign_id).status.value


def test_rescheduling_in_a_period_that_was_sent_does_not_send_again(api, app):
    from journeys.campaigns import services
    from crm.enums import Role
    consenting_customer(api, email="r@example.com", timezone="UTC")
    campaign = create(api, schedule=daily(), reentry="COOLDOWN")
    start(app, campaign["id"], t("2026-12-01T00:00:00"))
    run(app, t("2026-12-01T09:00:00"))
    with app.app_context():
        from crm.sessions import get_session
        services.update_campaign(get_session(), campaign_id=raw_id(campaign["id"]),
                                 values={"schedule": {"kind": "RECURRING", "frequency": "DAILY", "local_time": "10:00"}},
                                 actor="test", actor_role=Role.MARKETER, now=t("2026-12-01T09:30:00"))
    run(app, t("2026-12-01T10:00:00"))
    run(app, t("2026-12-02T09:00:00"))
    run(app, t("2026-12-02T10:00:00"))
    assert [m.scheduled_for for m in campaign_messages(app, campaign["id"])] == [
        t("2026-12-01T09:00:00"), t("2026-12-02T10:00:00")]


def test_an_occurrence_found_too_late_is_skipped_not_sent_at_the_wrong_hour(api, app):
    from sqlalchemy import select
    from journeys.campaigns.models import CampaignRun
    consenting_customer(api, email="late@example.com", timezone="UTC")
    campaign = create(api, schedule=daily(), reentry="COOLDOWN")
    start(app, campaign["id"], t("2026-12-01T00:00:00"))
    run(app, t("2026-12-01T10:30:00"))   # workers were down from before 09:00 until 10:30
    run(app, t("2026-12-02T09:40:00"))   # 40 minutes late: within CAMPAIGNS_LATE_LIMIT
    assert [m.scheduled_for for m in campaign_messages(app, campaign["id"])] == [t("2026-12-02T09:40:00")]
    with app.extensions["crm.sessionmaker"]() as session:
        runs = session.execute(select(CampaignRun.period, CampaignRun.skipped, CampaignRun.entered)
                               .order_by(CampaignRun.period)).all()
    assert [tuple(r) for r in runs] == [("2026-12-01", True, 0), ("2026-12-02", False, 1)]


def test_the_audience_is_read_when_each_zone_sends_not_when_scheduled(api, app):
    early = consenting_customer(api, email="e@example.com", timezone="UTC")
    late = consenting_customer(api, email="l@example.com", timezone="UTC")
    campaign = create(api, schedule={"kind": "ONCE", "localDate": "2026-12-01", "localTime": "09:00"},
                      audience={"lifecycleStages": ["LEAD"]})
    start(app, campaign["id"], t("2026-11-30T00:00:00"))
    api.data("""mutation($id: ID!) { customerTransitionStage(customerId: $id, toStage: PROSPECT, reason: "call") {
                errors { code } } }""", {"id": early["id"]})
    run(app, t("2026-12-01T09:00:00"))
    assert [m.customer_id for m in campaign_messages(app, campaign["id"])] == [raw_id(late["id"])]


def test_two_schedulers_at_once_enter_and_write_each_customer_once(api, app):
    from tests.helpers import run_threads
    for i in range(30):
        consenting_customer(api, email=f"c{i}@example.com", timezone=("Asia/Tokyo", "UTC", "America/Chicago")[i % 3])
    campaign = create(api, schedule={"kind": "ONCE", "localDate": "2026-12-01", "localTime": "09:00"})
    start(app, campaign["id"], t("2026-11-30T00:00:00"))
    for when in ("2026-12-01T00:00:00", "2026-12-01T09:00:00", "2026-12-01T15:00:00"):   # Tokyo, UTC, Chicago
        run_threads(4, lambda i: run(app, t(when)))
    assert len(entries(app, campaign["id"])) == 30
    written = campaign_messages(app, campaign["id"])
    assert len(written) == 30 and len({m.customer_id for m in written}) == 30
