"""SLA clocks: business-hours calendar math and the ON_TRACK / AT_RISK / BREACHED / MET states.

A calendar is {"timezone", "weekdays" (Monday = 0), "start", "end", "holidays"}. Its
windows are local wall-clock times turned into instants with zoneinfo, so a window on
the day clocks change lasts the real time it lasts that day; business minutes are real
minutes inside windows. No calendar: the clock runs around the clock.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, or_

from crm.errors import Invalid

STATES = ("BREACHED", "AT_RISK", "ON_TRACK", "MET")  # worst first
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
_KEYS = {"timezone", "weekdays", "start", "end", "holidays"}
# A calendar with at least one weekday opens within a week plus its holidays; this only stops
# a loop over a calendar that slipped past validation.
_MAX_DAYS = 366 * 200


def validate_calendar(raw: dict | None, field: str = "businessHours") -> dict | None:
    """The calendar normalised (weekdays and holidays sorted, deduplicated), or None for around the clock."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise Invalid('Business hours are an object: {"timezone", "weekdays", "start", "end", "holidays"}.', field)
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise Invalid(f"Unknown business-hours keys: {', '.join(unknown)}.", f"{field}.{unknown[0]}")
    zone = raw.get("timezone")
    try:
        if not isinstance(zone, str) or not zone:
            raise ValueError
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError, OSError):  # OSError: a name too long for a file name
        raise Invalid("timezone is an IANA time zone such as Europe/Berlin.", f"{field}.timezone") from None
    weekdays = raw.get("weekdays")
    if (not isinstance(weekdays, list) or not weekdays
            or any(isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6 for d in weekdays)):
        raise Invalid("weekdays is a non-empty list of 0..6 (Monday = 0).", f"{field}.weekdays")
    for key in ("start", "end"):
        if not isinstance(raw.get(key), str) or not _HHMM.match(raw[key]) or (key, raw[key]) == ("start", "24:00"):
            raise Invalid(f"{key} is a time of day HH:MM.", f"{field}.{key}")
    if _minutes_of(raw["start"]) >= _minutes_of(raw["end"]):
        raise Invalid("end is after start.", f"{field}.end")
    holidays = raw.get("holidays") or []
    if not isinstance(holidays, list):
        raise Invalid("holidays is a list of dates YYYY-MM-DD.", f"{field}.holidays")
    for index, day in enumerate(holidays):
        try:
            if not isinstance(day, str) or len(day) != 10:
                raise ValueError
            date.fromisoformat(day)
        except ValueError:
            raise Invalid("A holiday is a date YYYY-MM-DD.", f"{field}.holidays.{index}") from None
    return {"timezone": zone, "weekdays": sorted(set(weekdays)), "start": raw["start"], "end": raw["end"],
            "holidays": sorted(set(holidays))}


def _minutes_of(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class _Calendar:
    def __init__(self, raw: dict):
        self.zone = ZoneInfo(raw["timezone"])
        self.weekdays = set(raw["weekdays"])
        self.holidays = {date.fromisoformat(d) for d in raw.get("holidays") or ()}
        self.start, self.end = _minutes_of(raw["start"]), _minutes_of(raw["end"])

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's opening hours as UTC instants; None on a closed day."""
        if day.weekday() not in self.weekdays or day in self.holidays:
            return None
        midnight = datetime.combine(day, time(0))
        # Wall-clock arithmetic first, then the zone: "24:00" is the next midnight, whatever the offset.
        opens = (midnight + timedelta(minutes=self.start)).replace(tzinfo=self.zone).astimezone(timezone.utc)
        closes = (midnight + timedelta(minutes=self.end)).replace(tzinfo=self.zone).astimezone(timezone.utc)
        return (opens, closes) if opens < closes else None


def add_business_minutes(start: datetime, minutes: float, calendar: dict | None) -> datetime:
    """The instant ``minutes`` of business time after ``start``; an SLA ending at closing time is due then."""
    if calendar is None:
        return start + timedelta(minutes=minutes)
    cal = _Calendar(calendar)
    remaining = timedelta(minutes=minutes)
    day = cal.local_date(start)
    for _ in range(_MAX_DAYS):
        hours = cal.window(day)
        if hours is not None and hours[1] > start:
            begin = max(hours[0], start)
            if remaining <= hours[1] - begin:
                return begin + remaining
            remaining -= hours[1] - begin
        day += timedelta(days=1)
    raise ValueError("the business-hours calendar never opens")


def business_minutes_between(start: datetime, end: datetime, calendar: dict | None) -> float:
    """Business minutes in [start, end); 0 when end is not after start."""
    if end <= start:
        return 0.0
    if calendar is None:
        return (end - start).total_seconds() / 60
    cal = _Calendar(calendar)
    total = timedelta()
    day, last = cal.local_date(start), cal.local_date(end)
    while day <= last:
        hours = cal.window(day)
        if hours is not None:
            overlap = min(hours[1], end) - max(hours[0], start)
            if overlap > timedelta():
                total += overlap
        day += timedelta(days=1)
    return total.total_seconds() / 60


@dataclass(frozen=True)
class SlaClocks:
    first_response_due_at: datetime
    first_response_at_risk_at: datetime
    resolution_due_at: datetime
    resolution_at_risk_at: datetime


def clocks(opened_at: datetime, policy, at_risk_share: float) -> SlaClocks:
    """The due and at-risk instants of a case opened under ``policy`` (a journeys.service.models.SlaPolicy)."""
    calendar = policy.business_hours
    return SlaClocks(
        first_response_due_at=add_business_minutes(opened_at, policy.first_response_minutes, calendar),
        first_response_at_risk_at=add_business_minutes(opened_at, policy.first_response_minutes * at_risk_share,
                                                       calendar),
        resolution_due_at=add_business_minutes(opened_at, policy.resolution_minutes, calendar),
        resolution_at_risk_at=add_business_minutes(opened_at, policy.resolution_minutes * at_risk_share, calendar),
    )


def state(done_at: datetime | None, due_at: datetime, at_risk_at: datetime, now: datetime) -> str:
    if done_at is not None:
        return "MET" if done_at <= due_at else "BREACHED"
    if now > due_at:
        return "BREACHED"
    return "AT_RISK" if now >= at_risk_at else "ON_TRACK"


def _clock_condition(name: str, done, due, at_risk, now):
    """``state`` as SQL; every case is in exactly one state, and no branch relies on NOT over NULLs."""
    if name == "MET":
        return and_(done.is_not(None), done <= due)
    if name == "BREACHED":
        return or_(and_(done.is_not(None), done > due), and_(done.is_(None), due < now))
    if name == "AT_RISK":
        return and_(done.is_(None), due >= now, at_risk <= now)
    return and_(done.is_(None), due >= now, at_risk > now)


def state_condition(state: str, now: datetime):
    """Cases whose overall SLA state (the worse of first response and resolution) is ``state``."""
    from journeys.service.models import Case

    state_name = state
    if state_name not in STATES:
        raise Invalid(f"An SLA state is one of {', '.join(STATES)}.", "slaState")
    clock_columns = ((Case.first_responded_at, Case.first_response_due_at, Case.first_response_at_risk_at),
                     (Case.resolved_at, Case.resolution_due_at, Case.resolution_at_risk_at))
    no_worse = STATES[STATES.index(state_name):]

    def at(name, columns):
        return _clock_condition(name, *columns, now)

    # Overall is S when neither clock is worse than S and at least one clock is S.
    both_no_worse = and_(*[or_(*[at(name, cols) for name in no_worse]) for cols in clock_columns])
    one_is = or_(*[at(state_name, cols) for cols in clock_columns])
    return and_(both_no_worse, one_is)


def _running_clocks(case) -> list[tuple[str, datetime, datetime]]:
    """(clock, at-risk moment, due) of each clock still running on ``case``."""
    clocks = []
    if case.first_responded_at is None:
        clocks.append(("firstResponse", case.first_response_at_risk_at, case.first_response_due_at))
    if case.resolved_at is None:
        clocks.append(("resolution", case.resolution_at_risk_at, case.resolution_due_at))
    return clocks


def next_check(case) -> datetime | None:
    """When the SLA sweep should next look at ``case``: the first alert not yet raised of a running clock."""
    moments = [moment for clock, at_risk, due in _running_clocks(case)
               for moment, level in ((at_risk, "AT_RISK"), (due, "BREACHED"))
               if f"{clock}:{level}" not in (case.sla_alerts or [])]
    return min(moments) if moments else None


def due_alerts(case, now: datetime) -> list[tuple[str, str, datetime]]:
    """(clock, level, due) alerts ``case`` owes at ``now``; a breach makes its at-risk alert moot."""
    raised = set(case.sla_alerts or [])
    alerts = []
    for clock, at_risk, due in _running_clocks(case):
        if now > due and f"{clock}:BREACHED" not in raised:
            alerts.append((clock, "BREACHED", due))
        elif at_risk <= now <= due and f"{clock}:AT_RISK" not in raised:
            alerts.append((clock, "AT_RISK", due))
    return alerts
