"""A campaign's definition, checked and normalised: audience, schedule or trigger, steps.

Inputs arrive as dicts with snake_case keys (the services' keyword style); what is stored is camelCase
JSON, the shape the API returns. Every refusal is ``Invalid`` naming the field, e.g.
``input.steps.2.ifTrue``.
"""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from sqlalchemy.orm import Session

from crm.ids import parse_id
from crm.customers.schemas import IANA_TIMEZONES
from crm.enums import Channel, LifecycleStage, Role, ServiceTier
from crm.errors import DomainError, Invalid
from crm.masking import refuse_selection_by_contact
from crm.messages import templates
from crm.messages.models import SENDABLE_CHANNELS
from crm.segments import rules
from crm.segments.services import check_references, get_segment
from journeys.campaigns.errors import CampaignErrorCode
from journeys.campaigns.schedule import CRON_HORIZON_YEARS, FIRST_YEAR, LAST_YEAR, WEEKDAYS, fires_within, is_random

STEP_TYPES = ("SEND", "WAIT", "BRANCH", "UPDATE", "EXIT")
TRIGGER_KINDS = ("STAGE_ENTERED", "SEGMENT_JOINED", "LOYALTY_TIER_REACHED", "NO_ORDER_FOR")
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "CRON")
MAX_STEPS = 50
MAX_DELAY = 366 * 86400
KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# What a campaign template may read besides the customer, loyalty and now.
TEMPLATE_NAMES = {"campaign"}


def _enum_values(values, enum_cls, field: str) -> list[str]:
    out = []
    for i, value in enumerate(values or []):
        value = getattr(value, "value", value)
        try:
            out.append(enum_cls(value).value)
        except ValueError:
            raise Invalid(f"{value!r} is not a {enum_cls.__name__}.", f"{field}.{i}") from None
    return sorted(set(out))


def _uuid(value, field: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    return parse_id(str(value), "Segment", field)


def clean_audience(session: Session, audience: dict | None, field: str = "input.audience") -> dict:
    """Who a campaign may reach; every part narrows it, nothing given means every customer."""
    audience = audience or {}
    segment_id = audience.get("segment_id")
    if segment_id:
        segment_id = str(get_segment(session, _uuid(segment_id, f"{field}.segmentId"), f"{field}.segmentId").id)
    tiers = []
    for i, tier in enumerate(audience.get("loyalty_tiers") or []):
        tier = (tier or "").strip()
        if not tier or len(tier) > 50:
            raise Invalid("A loyalty tier is its key, e.g. 'gold'.", f"{field}.loyaltyTiers.{i}")
        tiers.append(tier)
    return {"segmentId": segment_id or None,
            "lifecycleStages": _enum_values(audience.get("lifecycle_stages"), LifecycleStage,
                                            f"{field}.lifecycleStages"),
            "serviceTiers": _enum_values(audience.get("service_tiers"), ServiceTier, f"{field}.serviceTiers"),
            "loyaltyTiers": sorted(set(tiers))}


def audience_rule(audience: dict) -> dict | None:
    """The audience as a rule of the segments language (None: everyone)."""
    conditions = []
    if audience.get("segmentId"):
        conditions.append({"field": "segment", "op": "eq", "value": audience["segmentId"]})
    for name, key in (("lifecycleStage", "lifecycleStages"), ("serviceTier", "serviceTiers"),
                      ("loyalty.tier", "loyaltyTiers")):
        if audience.get(key):
            conditions.append({"field": name, "op": "in", "value": audience[key]})
    return {"all": conditions} if conditions else None


def _clock(value, field: str) -> str:
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value.strip()):
        raise Invalid("A local time is HH:MM on a 24-hour clock, e.g. '09:00'.", field)
    return value.strip()


def _zone(value, field: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        raise Invalid(f"{value!r} is not an IANA timezone such as 'Europe/Berlin'.", field) from None
    if value not in IANA_TIMEZONES:   # e.g. "localtime": a file of the zoneinfo directory, not a zone's name
        raise Invalid(f"{value!r} is not an IANA timezone such as 'Europe/Berlin'.", field)
    return value


def _date(value, field: str) -> str:
    """A schedule's date, in years every local time of which is an instant in every timezone."""
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise Invalid("A date is YYYY-MM-DD.", field) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise Invalid(f"A date is from {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31.", field)
    return day.isoformat()


def clean_schedule(schedule: dict, now: datetime, field: str = "input.schedule") -> dict:
    kind = getattr(schedule.get("kind"), "value", schedule.get("kind"))
    out: dict = {"kind": kind}
    zone = schedule.get("timezone")
    if zone:
        out["timezone"] = _zone(zone, f"{field}.timezone")
    if kind == "ONCE":
        at = schedule.get("at")
        if at is not None:
            if schedule.get("local_date") or schedule.get("local_time") or zone:
                raise Invalid("A one-off is either at an instant (at) or at a local date and time, not both.",
                              f"{field}.at")
            if at < now:
                raise Invalid("at is in the past.", f"{field}.at")
            out["at"] = at.isoformat()
            return out
        if not schedule.get("local_date") or not schedule.get("local_time"):
            raise DomainError(CampaignErrorCode.REQUIRED,
                              "A one-off needs at, or localDate and localTime.", f"{field}.localDate")
        out["localDate"] = _date(schedule["local_date"], f"{field}.localDate")
        out["localTime"] = _clock(schedule["local_time"], f"{field}.localTime")
        return out
    if kind != "RECURRING":
        raise Invalid("A schedule is ONCE or RECURRING.", f"{field}.kind")
    if schedule.get("at") is not None or schedule.get("local_date"):
        raise Invalid("A recurring schedule has no single instant or date; use startsOn/endsOn.", f"{field}.at")
    frequency = getattr(schedule.get("frequency"), "value", schedule.get("frequency"))
    if frequency not in FREQUENCIES:
        raise DomainError(CampaignErrorCode.REQUIRED,
                          "A recurring schedule needs a frequency: DAILY, WEEKLY, MONTHLY or CRON.",
                          f"{field}.frequency")
    out["frequency"] = frequency
    if frequency == "CRON":
        expression = (schedule.get("cron") or "").strip()
        if len(expression.split()) != 5 or not croniter.is_valid(expression):
            raise Invalid("A cron expression has five fields: minute hour day-of-month month day-of-week.",
                          f"{field}.cron")
        if is_random(expression):
            raise Invalid("A cron expression may not use R (random): its times would change on every read.",
                          f"{field}.cron")
        if not fires_within(expression, now):
            raise Invalid(f"This cron expression never fires within {CRON_HORIZON_YEARS} years "
                          "(e.g. '0 0 31 2 *', 31 February).", f"{field}.cron")
        out["cron"] = expression
    else:
        if not schedule.get("local_time"):
            raise DomainError(CampaignErrorCode.REQUIRED, "A recurring schedule needs localTime.", f"{field}.localTime")
        out["localTime"] = _clock(schedule["local_time"], f"{field}.localTime")
    if frequency == "WEEKLY":
        days = [getattr(d, "value", d) for d in schedule.get("weekdays") or []]
        if not days or any(d not in WEEKDAYS for d in days):
            raise Invalid("A weekly schedule names its days: MON..SUN.", f"{field}.weekdays")
        out["weekdays"] = [d for d in WEEKDAYS if d in days]
    if frequency == "MONTHLY":
        day = schedule.get("day_of_month")
        if not isinstance(day, int) or not 1 <= day <= 31:
            raise Invalid("dayOfMonth is 1..31 (a month without that day is skipped).", f"{field}.dayOfMonth")
        out["dayOfMonth"] = day
    for key, name in (("starts_on", "startsOn"), ("ends_on", "endsOn")):
        if schedule.get(key):
            out[name] = _date(schedule[key], f"{field}.{name}")
    if out.get("startsOn") and out.get("endsOn") and out["endsOn"] < out["startsOn"]:
        raise Invalid("endsOn is before startsOn.", f"{field}.endsOn")
    return out


def clean_trigger(session: Session, trigger: dict, field: str = "input.trigger") -> dict:
    kind = getattr(trigger.get("kind"), "value", trigger.get("kind"))
    if kind not in TRIGGER_KINDS:
        raise Invalid(f"A trigger is one of {', '.join(TRIGGER_KINDS)}.", f"{field}.kind")
    delay = trigger.get("delay_seconds") or 0
    if not 0 <= delay <= MAX_DELAY:
        raise Invalid(f"delaySeconds is 0..{MAX_DELAY} (a year).", f"{field}.delaySeconds")
    out = {"kind": kind, "delaySeconds": delay}
    if kind == "STAGE_ENTERED":
        stage = trigger.get("stage")
        if stage is None:
            raise DomainError(CampaignErrorCode.REQUIRED, "STAGE_ENTERED needs the stage.", f"{field}.stage")
        out["stage"] = _enum_values([stage], LifecycleStage, f"{field}.stage")[0]
    elif kind == "SEGMENT_JOINED":
        if not trigger.get("segment_id"):
            raise DomainError(CampaignErrorCode.REQUIRED, "SEGMENT_JOINED needs the segmentId.", f"{field}.segmentId")
        segment_id = _uuid(trigger["segment_id"], f"{field}.segmentId")
        out["segmentId"] = str(get_segment(session, segment_id, f"{field}.segmentId").id)
    elif kind == "LOYALTY_TIER_REACHED":
        tier = (trigger.get("loyalty_tier") or "").strip()
        if not tier or len(tier) > 50:
            raise DomainError(CampaignErrorCode.REQUIRED,
                              "LOYALTY_TIER_REACHED needs the loyaltyTier key.", f"{field}.loyaltyTier")
        out["loyaltyTier"] = tier
    else:
        days = trigger.get("days")
        if not isinstance(days, int) or not 1 <= days <= 3650:
            raise Invalid("NO_ORDER_FOR needs days, 1..3650.", f"{field}.days")
        out["days"] = days
    return out


def clean_rule(session: Session, rule, field: str, role: Role | None = None) -> dict:
    """A segments rule (exit rule, branch). A role that sees contact details masked may not select by
    them (FORBIDDEN, as in segment rules)."""
    rules.validate(rule, field)
    refuse_selection_by_contact(role, rules.condition_fields(rule), field)
    check_references(session, rule, None, field)
    return rule


def _content(step: dict, field: str, limits: templates.RenderLimits, deadline: float) -> list[dict]:
    variants = step.get("content") or []
    if not variants:
        raise DomainError(CampaignErrorCode.REQUIRED,
                          "A SEND step needs content for at least one channel.", f"{field}.content")
    out, seen = [], set()
    for i, variant in enumerate(variants):
        here = f"{field}.content.{i}"
        channel = Channel(getattr(variant["channel"], "value", variant["channel"]))
        if channel not in SENDABLE_CHANNELS:
            raise Invalid("Campaigns send by EMAIL, SMS or PUSH.", f"{here}.channel")
        locale = (variant.get("locale") or "").strip()
        if len(locale) > 35:
            raise Invalid("A locale is a tag such as 'de' or 'de-CH'.", f"{here}.locale")
        if (channel, locale.lower()) in seen:
            raise Invalid(f"{channel.value} has two templates for locale {locale or 'default'!r}.", f"{here}.locale")
        seen.add((channel, locale.lower()))
        try:
            templates.check(variant.get("template") or "", allowed=TEMPLATE_NAMES)
            templates.trial(variant["template"], limits=limits, channel=channel, deadline=deadline,
                            extra={"campaign": {"id": "", "name": "Sample"}})
        except templates.TemplateProblem as exc:
            raise Invalid(exc.message, f"{here}.template") from None
        out.append({"channel": channel.value, "locale": locale, "template": variant["template"]})
    for channel in dict.fromkeys(v["channel"] for v in out):
        if not any(v["channel"] == channel and not v["locale"] for v in out):
            raise DomainError(CampaignErrorCode.REQUIRED, f"{channel} needs a default template (one without a locale).",
                              f"{field}.content")
    return out


def clean_steps(session: Session, steps: list[dict], field: str = "input.steps", *, role: Role | None = None,
                limits: templates.RenderLimits = templates.DEFAULT_LIMITS) -> list[dict]:
    if not steps:
        raise DomainError(CampaignErrorCode.REQUIRED, "A campaign has at least one step.", field)
    if len(steps) > MAX_STEPS:
        raise Invalid(f"At most {MAX_STEPS} steps.", field)
    keys = []
    for i, step in enumerate(steps):
        key = (step.get("key") or "").strip()
        if not KEY.match(key):
            raise Invalid("A step key is 1-64 of a-z, 0-9, '-' and '_', e.g. 'welcome-email'.", f"{field}.{i}.key")
        if key in keys:
            raise Invalid(f"Two steps are called {key!r}.", f"{field}.{i}.key")
        keys.append(key)
    out, deadline = [], limits.checks_deadline()
    for i, step in enumerate(steps):
        here = f"{field}.{i}"
        kind = getattr(step.get("type"), "value", step.get("type"))
        if kind not in STEP_TYPES:
            raise Invalid(f"A step type is one of {', '.join(STEP_TYPES)}.", f"{here}.type")
        clean = {"key": keys[i], "type": kind}
        if kind == "SEND":
            clean["content"] = _content(step, here, limits, deadline)
        elif kind == "WAIT":
            seconds, until = step.get("wait_seconds"), step.get("wait_until_local_time")
            if (seconds is None) == (until is None):
                raise Invalid("A WAIT step waits waitSeconds or until waitUntilLocalTime (one of them).",
                              f"{here}.waitSeconds")
            if seconds is not None:
                if not 1 <= seconds <= MAX_DELAY:
                    raise Invalid(f"waitSeconds is 1..{MAX_DELAY} (a year).", f"{here}.waitSeconds")
                clean["waitSeconds"] = seconds
            else:
                clean["waitUntilLocalTime"] = _clock(until, f"{here}.waitUntilLocalTime")
        elif kind == "BRANCH":
            if step.get("rule") is None:
                raise DomainError(CampaignErrorCode.REQUIRED, "A BRANCH step needs a rule.", f"{here}.rule")
            clean["rule"] = clean_rule(session, step["rule"], f"{here}.rule", role)
            for name, key in (("ifTrue", "if_true"), ("ifFalse", "if_false")):
                target = step.get(key)
                if target is not None and target not in keys[i + 1:]:
                    raise Invalid("A branch goes forward, to the key of a later step (or null: the next step).",
                                  f"{here}.{name}")
                clean[name] = target
        elif kind == "UPDATE":
            stage, tier, points = step.get("stage"), step.get("tier_pin"), step.get("points")
            if stage is None and tier is None and points is None:
                raise DomainError(CampaignErrorCode.REQUIRED,
                                  "An UPDATE step sets a stage, pins a tier or grants points.", here)
            if stage is not None:
                clean["stage"] = _enum_values([stage], LifecycleStage, f"{here}.stage")[0]
            if tier is not None:
                clean["tierPin"] = _enum_values([tier], ServiceTier, f"{here}.tierPin")[0]
            if points is not None:
                if not 1 <= points <= 1_000_000:
                    raise Invalid("points is 1..1000000.", f"{here}.points")
                clean["points"] = points
                clean["pointsReason"] = (step.get("points_reason") or "").strip()[:200] or "campaign bonus"
        out.append(clean)
    return out


def first_send_channels(steps: list[dict]) -> list[str]:
    for step in steps:
        if step["type"] == "SEND":
            return [v["channel"] for v in step["content"] if not v["locale"]]
    return []
