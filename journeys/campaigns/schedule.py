"""When a scheduled campaign sends: occurrences of its schedule on a wall clock.

Every schedule is a wall-clock pattern: once (a date and a time), or a cron expression (daily, weekly on
some days and monthly are written as one). Without a ``timezone`` the wall clock is each customer's own
("9:00 local": Tokyo before London); with one, or with an absolute ``at``, everyone shares one instant.

A wall time is turned into an instant through its zone, so 09:00 stays 09:00 across a daylight-saving
change; a wall time the change skips (02:30 on a spring-forward night) lands just after the gap, and one
it repeats is sent at its first occurrence.

An occurrence is named by its *period*: "once", the local date (daily, weekly, monthly) or the wall
time (cron, which may fire several times a day). An entry per period is what makes a rescheduled
campaign never send twice in one period.

A stored schedule the arithmetic cannot place (a wall time with no instant in UTC, a cron without an
occurrence: refused when written, ``definition.clean_schedule``, but possibly stored before) never
raises here: it has no occurrence, and an end it cannot reach is no end.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from croniter import croniter

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
SHARED_ZONE = "*"   # the run of a schedule everyone shares
# The years a schedule's dates (localDate, startsOn, endsOn) may name: any wall time on them has an instant
# in UTC in every zone (UTC-12 to UTC+14), with a day to spare either side.
FIRST_YEAR, LAST_YEAR = 1970, 9998
# A cron expression must fire within this many years of when it is written ("0 0 31 2 *" never does).
CRON_HORIZON_YEARS = 5
# What a stored value can raise below: OverflowError (no instant in UTC), ValueError (a cron without an
# occurrence is CroniterBadDateError; a malformed date or time), KeyError / TypeError (a part missing).
BAD_VALUE = (OverflowError, ValueError, KeyError, TypeError)
# croniter's R (random) and H (hashed) fields, e.g. "R", "R(0-30)", "H/5": a different time on every read.
_RANDOM_FIELD = re.compile(r"^[hr](?:\(|/|$)", re.IGNORECASE)


@dataclass(frozen=True)
class Occurrence:
    period: str
    instant: datetime   # UTC


def cron_of(schedule: dict) -> str | None:
    """The cron expression of a recurring schedule (None for a one-off)."""
    frequency = schedule.get("frequency")
    if frequency is None:
        return None
    if frequency == "CRON":
        return schedule["cron"]
    hour, minute = (int(p) for p in schedule["localTime"].split(":"))
    if frequency == "DAILY":
        return f"{minute} {hour} * * *"
    if frequency == "WEEKLY":
        days = ",".join(str((WEEKDAYS.index(d) + 1) % 7) for d in schedule["weekdays"])
        return f"{minute} {hour} * * {days}"
    return f"{minute} {hour} {schedule['dayOfMonth']} * *"


def is_random(expression: str) -> bool:
    """Whether a cron expression uses croniter's random (R) or hashed (H) syntax in any field."""
    return any(_RANDOM_FIELD.match(part) for field in expression.split() for part in field.split(","))


def fires_within(expression: str, start: datetime, years: int = CRON_HORIZON_YEARS) -> bool:
    """Whether a (valid) cron expression has an occurrence within ``years`` after ``start``."""
    try:
        croniter(expression, start.replace(tzinfo=None), max_years_between_matches=years).get_next(datetime)
    except BAD_VALUE:
        return False
    return True


def is_local(schedule: dict) -> bool:
    """Each customer's own wall clock (rather than one instant for everyone)."""
    return schedule.get("at") is None and not schedule.get("timezone")


def _period(schedule: dict, wall: datetime) -> str:
    if schedule["kind"] == "ONCE":
        return "once"
    if schedule["frequency"] == "CRON":
        return wall.isoformat(timespec="minutes")
    return wall.date().isoformat()


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    return wall.replace(tzinfo=zone).astimezone(timezone.utc)


def _in_range(schedule: dict, wall: datetime) -> bool:
    starts, ends = schedule.get("startsOn"), schedule.get("endsOn")
    return not (starts and wall.date() < date.fromisoformat(starts)) and \
        not (ends and wall.date() > date.fromisoformat(ends))


def latest(schedule: dict, zone: tzinfo, now: datetime) -> Occurrence | None:
    """The latest occurrence due at ``now`` in ``zone`` (None before the first, or with none it can place)."""
    try:
        return _latest(schedule, zone, now)
    except BAD_VALUE:
        return None


def _latest(schedule: dict, zone: tzinfo, now: datetime) -> Occurrence | None:
    if schedule.get("at"):
        at = datetime.fromisoformat(schedule["at"])
        return Occurrence("once", at) if at <= now else None
    local_now = now.astimezone(zone).replace(tzinfo=None)
    expression = cron_of(schedule)
    if expression is None:
        wall = datetime.combine(date.fromisoformat(schedule["localDate"]), time.fromisoformat(schedule["localTime"]))
    else:
        wall = croniter(expression, local_now + timedelta(seconds=1)).get_prev(datetime)
    if not _in_range(schedule, wall):
        return None
    instant = _instant(wall, zone)
    if instant > now:
        if expression is None:
            return None
        # Inside a repeated or skipped hour the wall clock is ahead of the instant: the one before.
        wall = croniter(expression, wall).get_prev(datetime)
        instant = _instant(wall, zone)
        if not _in_range(schedule, wall):
            return None
    return Occurrence(_period(schedule, wall), instant)


def upcoming(schedule: dict, zone: tzinfo, after: datetime) -> Occurrence | None:
    """The first occurrence after ``after`` in ``zone`` (None when the schedule has ended, or with none it can
    place)."""
    try:
        return _upcoming(schedule, zone, after)
    except BAD_VALUE:
        return None


def _upcoming(schedule: dict, zone: tzinfo, after: datetime) -> Occurrence | None:
    if schedule.get("at"):
        at = datetime.fromisoformat(schedule["at"])
        return Occurrence("once", at) if at > after else None
    expression = cron_of(schedule)
    if expression is None:
        wall = datetime.combine(date.fromisoformat(schedule["localDate"]), time.fromisoformat(schedule["localTime"]))
        instant = _instant(wall, zone)
        return Occurrence("once", instant) if instant > after and _in_range(schedule, wall) else None
    iterator = croniter(expression, after.astimezone(zone).replace(tzinfo=None))
    for _ in range(400):
        wall = iterator.get_next(datetime)
        instant = _instant(wall, zone)
        if schedule.get("endsOn") and wall.date() > date.fromisoformat(schedule["endsOn"]):
            return None
        if instant > after and _in_range(schedule, wall):
            return Occurrence(_period(schedule, wall), instant)
    return None


def next_local_time(after: datetime, zone: tzinfo, clock: time) -> datetime:
    """The first instant after ``after`` when the wall clock in ``zone`` reads ``clock`` (a WAIT until)."""
    local = after.astimezone(zone)
    candidate = _instant(datetime.combine(local.date(), clock), zone)
    if candidate <= after:
        candidate = _instant(datetime.combine(local.date() + timedelta(days=1), clock), zone)
    return candidate


def has_ended(schedule: dict, now: datetime) -> bool:
    """No occurrence can come any more, in any timezone (a day's margin covers every zone). A last day that
    cannot be read never ends; the margin is taken off ``now``, so 9999-12-31 does not overflow."""
    try:
        if schedule.get("at"):
            return datetime.fromisoformat(schedule["at"]) <= now
        last_day = schedule.get("localDate") if schedule["kind"] == "ONCE" else schedule.get("endsOn")
        if not last_day:
            return False
        return now - timedelta(days=1) > datetime.combine(date.fromisoformat(last_day), time(23, 59),
                                                          tzinfo=timezone.utc)
    except BAD_VALUE:
        return False
