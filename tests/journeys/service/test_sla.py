"""SLA calendar math (pure functions): business hours, weekends, holidays, DST, the clock states."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from crm.errors import DomainError
from journeys.service import sla
from journeys.service.models import SlaPolicy

WEEK = {"timezone": "Europe/Berlin", "weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00",
        "holidays": ["2026-06-08"]}
NO_HOLIDAYS = {**WEEK, "holidays": []}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_validate_calendar_normalises_and_none_means_around_the_clock():
    assert sla.validate_calendar(None) is None
    raw = {"timezone": "America/New_York", "weekdays": [4, 0, 0, 2], "start": "08:30", "end": "24:00"}
    assert sla.validate_calendar(raw) == {"timezone": "America/New_York", "weekdays": [0, 2, 4], "start": "08:30",
                                          "end": "24:00", "holidays": []}
    assert sla.validate_calendar({**WEEK, "holidays": ["2026-12-25", "2026-01-01", "2026-12-25"]})["holidays"] == [
        "2026-01-01", "2026-12-25"]


@pytest.mark.parametrize("change, field", [
    ("not an object", "businessHours"),
    ({"lunch": "12:00"}, "businessHours.lunch"),
    ({"timezone": "Mars/Olympus"}, "businessHours.timezone"),
    ({"timezone": None}, "businessHours.timezone"),
    ({"weekdays": []}, "businessHours.weekdays"),
    ({"weekdays": [0, 7]}, "businessHours.weekdays"),
    ({"weekdays": [True]}, "businessHours.weekdays"),
    ({"weekdays": "0-4"}, "businessHours.weekdays"),
    ({"start": "9:00"}, "businessHours.start"),
    ({"start": "24:00"}, "businessHours.start"),
    ({"start": None}, "businessHours.start"),
    ({"end": "17:60"}, "businessHours.end"),
    ({"start": "17:00", "end": "09:00"}, "businessHours.end"),
    ({"start": "09:00", "end": "09:00"}, "businessHours.end"),
    ({"holidays": "2026-12-25"}, "businessHours.holidays"),
    ({"holidays": ["2026-12-25", "2026-13-01"]}, "businessHours.holidays.1"),
    ({"holidays": ["20261225"]}, "businessHours.holidays.0"),
])
def test_validate_calendar_names_the_bad_key(change, field):
    raw = change if isinstance(change, str) else {**WEEK, **change}
    with pytest.raises(DomainError) as error:
        sla.validate_calendar(raw)
    assert (error.value.code, error.value.field) == ("INVALID", field)


def test_validate_calendar_fields_follow_the_given_prefix():
    with pytest.raises(DomainError) as error:
        sla.validate_calendar({**WEEK, "start": "nine"}, field="input.businessHours")
    assert error.value.field == "input.businessHours.start"


def test_without_a_calendar_the_clock_is_the_wall_clock():
    start = utc(2026, 6, 6, 10, 0)  # a Saturday: no calendar, no weekend
    assert sla.add_business_minutes(start, 90, None) == utc(2026, 6, 6, 11, 30)
    assert sla.add_business_minutes(start, 0.5, None) == utc(2026, 6, 6, 10, 0, 30)
    assert sla.business_minutes_between(start, utc(2026, 6, 7, 10, 0), None) == 1440
    assert sla.business_minutes_between(start, start - timedelta(hours=1), None) == 0


def test_business_minutes_skip_nights_weekends_and_holidays():
    friday_4pm = utc(2026, 6, 5, 14, 0)  # 16:00 in Berlin (CEST, UTC+2)
    # 60 minutes on Friday, the weekend and the Monday holiday skipped, 180 on Tuesday from 09:00.
    assert sla.add_business_minutes(friday_4pm, 240, WEEK) == utc(2026, 6, 9, 10, 0)
    assert sla.add_business_minutes(friday_4pm, 240, NO_HOLIDAYS) == utc(2026, 6, 8, 10, 0)
    # Opened on a Saturday: the clock starts on Monday at 09:00.
    assert sla.add_business_minutes(utc(2026, 6, 6, 10, 0), 30, NO_HOLIDAYS) == utc(2026, 6, 8, 7, 30)
    # Before opening: from 09:00 the same day.
    assert sla.add_business_minutes(utc(2026, 6, 3, 5, 0), 60, WEEK) == utc(2026, 6, 3, 8, 0)
    # A target that ends at closing time is due at closing time, not the next morning.
    assert sla.add_business_minutes(utc(2026, 6, 3, 14, 0), 60, WEEK) == utc(2026, 6, 3, 15, 0)
    # After closing: the next morning.
    assert sla.add_business_minutes(utc(2026, 6, 3, 16, 0), 1, WEEK) == utc(2026, 6, 4, 7, 1)

    assert sla.business_minutes_between(friday_4pm, utc(2026, 6, 9, 10, 0), WEEK) == 240
    assert sla.business_minutes_between(utc(2026, 6, 6, 0, 0), utc(2026, 6, 8, 23, 0), WEEK) == 0
    assert sla.business_minutes_between(utc(2026, 6, 3, 0, 0), utc(2026, 6, 4, 0, 0), WEEK) == 480


def test_business_hours_follow_the_dst_change_in_europe_berlin():
    # Friday 2026-10-23 16:00 CEST (UTC+2); on Sunday 25th Berlin goes back to CET (UTC+1).
    friday_4pm = utc(2026, 10, 23, 14, 0)
    # 60 minutes on Friday, 60 on Monday from 09:00 CET = 08:00 UTC: due at 10:00 CET.
    assert sla.add_business_minutes(friday_4pm, 120, WEEK) == utc(2026, 10, 26, 9, 0)
    assert sla.business_minutes_between(friday_4pm, utc(2026, 10, 26, 9, 0), WEEK) == 120
    assert sla.add_business_minutes(friday_4pm, 120, None) == utc(2026, 10, 23, 16, 0)

    # A window across the change lasts the real time it lasts that day: 01:00 CEST to 04:00 CET is 4 hours.
    night = {"timezone": "Europe/Berlin", "weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "01:00", "end": "04:00"}
    assert sla.business_minutes_between(utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 12, 0), night) == 240
    assert sla.business_minutes_between(utc(2026, 10, 25, 12, 0), utc(2026, 10, 26, 12, 0), night) == 180
    assert sla.add_business_minutes(utc(2026, 10, 24, 23, 0), 200, night) == utc(2026, 10, 25, 2, 20)
    # Spring forward (2026-03-29, 02:00 CET -> 03:00 CEST): the same window is 2 hours.
    assert sla.business_minutes_between(utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 12, 0), night) == 120
    all_day = {**night, "start": "00:00", "end": "24:00"}
    assert sla.business_minutes_between(utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0), all_day) == 1500
    assert sla.add_business_minutes(utc(2026, 10, 24, 22, 0), 1500, all_day) == utc(2026, 10, 25, 23, 0)


def test_clocks_of_a_policy_with_business_hours_and_without():
    policy = SlaPolicy(first_response_minutes=60, resolution_minutes=480, business_hours=WEEK)
    opened = utc(2026, 6, 5, 14, 0)  # Friday 16:00 Berlin
    assert sla.clocks(opened, policy, 0.8) == sla.SlaClocks(
        first_response_due_at=utc(2026, 6, 5, 15, 0),       # 17:00 Friday
        first_response_at_risk_at=utc(2026, 6, 5, 14, 48),  # 48 of 60 minutes used
        resolution_due_at=utc(2026, 6, 9, 14, 0),           # 60 Friday + 420 Tuesday (Monday is a holiday)
        resolution_at_risk_at=utc(2026, 6, 9, 12, 24),      # 384 of 480 minutes: 60 Friday + 324 Tuesday
    )
    around_the_clock = SlaPolicy(first_response_minutes=5, resolution_minutes=240, business_hours=None)
    assert sla.clocks(opened, around_the_clock, 0.5) == sla.SlaClocks(
        utc(2026, 6, 5, 14, 5), utc(2026, 6, 5, 14, 2, 30), utc(2026, 6, 5, 18, 0), utc(2026, 6, 5, 16, 0))


def test_state_of_a_clock_at_chosen_moments():
    due, at_risk = utc(2026, 6, 1, 10, 0), utc(2026, 6, 1, 9, 48)
    assert sla.state(None, due, at_risk, utc(2026, 6, 1, 9, 0)) == "ON_TRACK"
    assert sla.state(None, due, at_risk, utc(2026, 6, 1, 9, 47, 59)) == "ON_TRACK"
    assert sla.state(None, due, at_risk, at_risk) == "AT_RISK"
    assert sla.state(None, due, at_risk, due) == "AT_RISK"
    assert sla.state(None, due, at_risk, due + timedelta(seconds=1)) == "BREACHED"
    assert sla.state(due, due, at_risk, utc(2026, 6, 2)) == "MET"
    assert sla.state(utc(2026, 6, 1, 9, 0), due, at_risk, utc(2026, 6, 1, 9, 0)) == "MET"
    # Done late stays BREACHED, whatever moment it is read at.
    assert sla.state(due + timedelta(minutes=1), due, at_risk, utc(2026, 6, 1, 9, 0)) == "BREACHED"


def test_state_condition_refuses_an_unknown_state():
    with pytest.raises(DomainError) as error:
        sla.state_condition("LATE", utc(2026, 6, 1))
    assert (error.value.code, error.value.field) == ("INVALID", "slaState")


# ---------------------------------------------------------------- policies and the case queue (database)

def _customer(session, email, tier=None):
    from crm.customers.services import create_customer, set_service_tier
    person = create_customer(session, data={"email": email}, actor="test")
    if tier is not None:
        set_service_tier(session, customer_id=person.id, tier=tier, reason="test", actor="test")
    return person


def _open(session, person, now, **settings):
    from crm.enums import Channel
    from journeys.service.cases import open_case
    from journeys.service.models import CaseKind
    return open_case(session, customer_id=person.id, kind=CaseKind.INQUIRY, channel=Channel.WEB, subject="Help",
                     description=None, actor="sam", now=now, **settings)


def test_update_sla_policy_applies_to_cases_opened_afterwards(ctx, app):
    from crm.enums import ServiceTier
    from journeys.service.cases import update_sla_policy
    ann = _customer(ctx, "ann@example.com")
    before = _open(ctx, ann, utc(2026, 10, 23, 14, 0))
    policy = update_sla_policy(ctx, service_tier=ServiceTier.STANDARD, first_response_minutes=120,
                               resolution_minutes=600, business_hours={**WEEK, "weekdays": [4, 0, 1, 2, 3]},
                               name=" Office hours ")
    assert (policy.name, policy.first_response_minutes, policy.resolution_minutes, policy.business_hours) == (
        "Office hours", 120, 600, WEEK)
    from journeys.settings import JourneySettings
    app.config["JOURNEYS_SLA_AT_RISK_SHARE"] = 0.5  # the service takes it as its caller (the mutation) passes it
    after = _open(ctx, ann, utc(2026, 10, 23, 14, 0),  # Friday 16:00 CEST, before the DST weekend
                  settings=JourneySettings.from_config(app.config))
    assert (after.sla_policy, after.first_response_due_at, after.first_response_at_risk_at) == (
        "Office hours", utc(2026, 10, 26, 9, 0), utc(2026, 10, 23, 15, 0))
    # 600 minutes: 60 on Friday, 480 on Monday (CET), 60 on Tuesday; half of it is 60 Friday + 240 Monday.
    assert (after.resolution_due_at, after.resolution_at_risk_at) == (utc(2026, 10, 27, 9, 0),
                                                                      utc(2026, 10, 26, 12, 0))
    assert (before.sla_policy, before.first_response_due_at) == ("Standard", utc(2026, 10, 23, 18, 0))
    cleared = update_sla_policy(ctx, service_tier=ServiceTier.STANDARD, first_response_minutes=1,
                                resolution_minutes=1, business_hours=None)
    assert (cleared.name, cleared.business_hours) == ("Office hours", None)


@pytest.mark.parametrize("change, code, field", [
    ({"first_response_minutes": 0}, "INVALID", "input.firstResponseMinutes"),
    ({"resolution_minutes": 525_601}, "INVALID", "input.resolutionMinutes"),
    ({"first_response_minutes": 61, "resolution_minutes": 60}, "INVALID", "input.resolutionMinutes"),
    ({"business_hours": {**WEEK, "end": "8:00"}}, "INVALID", "input.businessHours.end"),
    ({"name": "  "}, "REQUIRED", "input.name"),
    ({"name": "x" * 101}, "INVALID", "input.name"),
    ({"service_tier": "GOLD"}, "INVALID", "input.serviceTier"),
])
def test_update_sla_policy_errors(ctx, change, code, field):
    from crm.enums import ServiceTier
    from journeys.service.cases import update_sla_policy
    args = {"service_tier": ServiceTier.VIP, "first_response_minutes": 60, "resolution_minutes": 60,
            "business_hours": None, **change}
    with pytest.raises(DomainError) as error:
        update_sla_policy(ctx, **args)
    assert (error.value.code, error.value.field) == (code, field)


def test_the_case_queue_filters_by_overall_sla_state_in_sql(ctx):
    from journeys.service import cases
    from journeys.service.models import CaseStatus
    now = utc(2026, 6, 10, 12, 0)
    ann, bob = _customer(ctx, "ann@example.com"), _customer(ctx, "bob@example.com")

    def make(person, opened_hours_ago, responded=None, resolved=None):
        """A standard case (240 minutes to respond, 72 hours to resolve, at risk at 80%)."""
        opened = now - timedelta(hours=opened_hours_ago)
        case = _open(ctx, person, opened)
        if responded is not None:
            cases.respond(ctx, case_id=case.id, message="Hi", actor="sam", now=opened + timedelta(hours=responded))
        if resolved is not None:
            for status in (CaseStatus.DIAGNOSING, CaseStatus.SOLUTION_PROPOSED):
                cases.transition(ctx, case_id=case.id, to_status=status, note=None, actor="sam", now=opened)
            cases.resolve(ctx, case_id=case.id, resolution="Done", actor="sam",
                          now=opened + timedelta(hours=resolved))
        return case

    made = {
        "on_track": make(ann, 1),                         # response due in 3 h, at risk in 2 h 12
        "at_risk": make(ann, 3.5),                        # response at risk since 18 minutes, due in 30
        "breached": make(bob, 5),                         # no response after 5 h
        "met": make(ann, 10, responded=1, resolved=2),
        "resolution_at_risk": make(bob, 60, responded=0.25),  # response met; 57.6 of 72 h used
        "late_response": make(ann, 10, responded=5, resolved=6),  # resolved in time, answered late
        "resolved_late": make(bob, 100, responded=1, resolved=80),
    }

    def listed(**kwargs):
        page = cases.list_cases(ctx, first=50, after=None, now=now, **kwargs)
        return {name for name, case in made.items() if case.id in {c.id for c in page.items}}
    assert listed(sla_state="ON_TRACK") == {"on_track"}
    assert listed(sla_state="AT_RISK") == {"at_risk", "resolution_at_risk"}
    assert listed(sla_state="BREACHED") == {"breached", "late_response", "resolved_late"}
    assert listed(sla_state="MET") == {"met"}
    # The SQL agrees with the Python state of each clock, the worse one winning.
    for case in made.values():
        states = (sla.state(case.first_responded_at, case.first_response_due_at, case.first_response_at_risk_at, now),
                  sla.state(case.resolved_at, case.resolution_due_at, case.resolution_at_risk_at, now))
        overall = min(states, key=sla.STATES.index)
        assert case.id in {c.id for c in cases.list_cases(ctx, first=50, after=None, sla_state=overall,
                                                           now=now).items}
    # Later, the on-track case is at risk and then breached.
    assert made["on_track"].id in {c.id for c in cases.list_cases(
        ctx, first=50, after=None, sla_state="BREACHED", now=now + timedelta(hours=3, seconds=1)).items}
    assert listed(sla_state="BREACHED", customer_id=bob.id) == {"breached", "resolved_late"}
    assert listed(statuses=[CaseStatus.RESOLVED]) == {"met", "late_response", "resolved_late"}
    assert listed(statuses=[CaseStatus.RECEIVED], sla_state="AT_RISK") == {"at_risk", "resolution_at_risk"}


def test_the_case_queue_is_newest_first_in_pages(ctx):
    from journeys.service.cases import list_cases
    ann = _customer(ctx, "ann@example.com")
    opened = [_open(ctx, ann, utc(2026, 6, 1, hour)) for hour in (9, 11, 10, 11)]
    expected = sorted(opened, key=lambda c: (c.opened_at, c.id), reverse=True)
    first = list_cases(ctx, first=3, after=None)
    assert ([c.id for c in first.items], first.has_next, first.count()) == ([c.id for c in expected[:3]], True, 4)
    second = list_cases(ctx, first=3, after=first.cursors[-1])
    assert ([c.id for c in second.items], second.has_next) == ([expected[3].id], False)
    with pytest.raises(DomainError) as error:
        list_cases(ctx, first=3, after="nonsense")
    assert (error.value.code, error.value.field) == ("INVALID", "after")
