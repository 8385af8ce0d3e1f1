"""The care engine's rules, as data: which trigger sends what, on which channel, after which delay.

Rules start as the defaults below; ``care_rule`` rows hold what staff changed. Triggers live with the
domain that knows them (journeys: cases and surveys; loyalty: points and tiers; here: stages, service
tiers, birthdays) and all call ``schedule_care``, which writes the message in the trigger's transaction
under a dedupe key naming the trigger, so a repeated event or a job run twice sends once.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.customers.models import Customer
from crm.db import transaction, utcnow
from crm.enums import Channel
from crm.errors import DomainError, Invalid, NotFound
from crm.messages import templates
from crm.messages.errors import MessageErrorCode
from crm.messages.models import (
    SENDABLE_CHANNELS,
    CareRuleSetting,
    MessagePurpose,
    MessageStatus,
)
from crm.messages.services import Created, create_message
from crm.messages.settings import MessageSettings

MAX_DELAY = 366 * 86400


@dataclass(frozen=True)
class CareRuleSpec:
    key: str
    purpose: MessagePurpose
    delay_seconds: int
    channel: Channel
    templates: dict[str, str]
    variables: frozenset[str] = field(default_factory=frozenset)   # what the trigger adds to the context
    to_staff: bool = False
    description: str = ""


def _spec(key, purpose, delay, variables, description, en, de, to_staff=False):
    return CareRuleSpec(key=key, purpose=purpose, delay_seconds=delay, channel=Channel.EMAIL,
                        templates={"": en, "de": de}, variables=frozenset(variables), to_staff=to_staff,
                        description=description)


_HI = "Hi {{ customer.firstName or 'there' }},\n\n"
_HALLO = "Hallo {{ customer.firstName or '' }},\n\n"
CARE = MessagePurpose.CARE
DEFAULT_RULES: dict[str, CareRuleSpec] = {s.key: s for s in (
    _spec("welcome", CARE, 0, (), "Entering NEW (the first purchase) sends a welcome.",
          "Subject: Welcome aboard\n" + _HI + "thank you for your first order. We are here whenever you need us.",
          "Subject: Willkommen\n" + _HALLO + "danke für Ihre erste Bestellung. Wir sind für Sie da."),
    _spec("post-purchase", CARE, 3 * 86400, ("order",), "Some days after an order, a check-in.",
          "Subject: How is your order?\n" + _HI + "your order {{ order.externalId }} arrived a few days ago. "
          "How is it going? Reply to this message if anything is not right.",
          "Subject: Wie gefällt Ihnen Ihre Bestellung?\n" + _HALLO + "Ihre Bestellung {{ order.externalId }} "
          "ist seit ein paar Tagen bei Ihnen. Ist alles in Ordnung?"),
    _spec("case-follow-up", MessagePurpose.FOLLOW_UP, 86400, ("case", "surveyUrl"),
          "After a case is resolved: is the problem solved? With a CSAT survey link. Moves the case to "
          "FOLLOWED_UP when sent.",
          "Subject: Is your problem solved?\n" + _HI + "we resolved your case \"{{ case.subject }}\". "
          "Is everything working now? Tell us how we did: {{ surveyUrl }}",
          "Subject: Ist Ihr Problem gelöst?\n" + _HALLO + "wir haben Ihren Fall \"{{ case.subject }}\" gelöst. "
          "Funktioniert alles? Ihre Bewertung: {{ surveyUrl }}"),
    _spec("complaint-follow-up", MessagePurpose.FOLLOW_UP, 86400, ("case", "staff"),
          "A resolved COMPLAINT also notifies the account manager (or the case assignee).",
          "Subject: Complaint follow-up: {{ customer.displayName }}\nHi {{ staff.name }},\n\n"
          "the complaint \"{{ case.subject }}\" of {{ customer.displayName }} was resolved "
          "({{ case.resolution }}). Please check in personally.",
          "Subject: Beschwerde-Nachfassen: {{ customer.displayName }}\nHallo {{ staff.name }},\n\n"
          "die Beschwerde \"{{ case.subject }}\" von {{ customer.displayName }} ist gelöst "
          "({{ case.resolution }}). Bitte melden Sie sich persönlich.", to_staff=True),
    _spec("detractor-recovery", CARE, 0, ("survey", "case"),
          "An NPS <= 6 or CSAT <= 2 opens a service-recovery case for the account manager and apologises.",
          "Subject: We are sorry\n" + _HI + "thank you for your honest feedback. We fell short, and your "
          "account manager will contact you personally to make it right.",
          "Subject: Es tut uns leid\n" + _HALLO + "danke für Ihre ehrliche Rückmeldung. Ihr Ansprechpartner "
          "meldet sich persönlich bei Ihnen."),
    _spec("at-risk", CARE, 0, (), "Entering AT_RISK sends a win-back message.",
          "Subject: We miss you\n" + _HI + "it has been a while. Here is what is new, and we would love to "
          "hear how we can do better.",
          "Subject: Wir vermissen Sie\n" + _HALLO + "es ist eine Weile her. Wie können wir besser werden?"),
    _spec("birthday", CARE, 0, ("year", "bonusPoints"),
          "On the customer's birthday in their timezone, a greeting (and bonus points, once a year).",
          "Subject: Happy birthday!\n" + _HI + "happy birthday from all of us!"
          "{% if bonusPoints %} We added {{ bonusPoints }} bonus points to your account.{% endif %}",
          "Subject: Alles Gute zum Geburtstag!\n" + _HALLO + "alles Gute zum Geburtstag!"
          "{% if bonusPoints %} Wir haben Ihnen {{ bonusPoints }} Bonuspunkte gutgeschrieben.{% endif %}"),
    _spec("points-expiring", CARE, 0, ("points", "expiresAt"), "Before points expire, a reminder.",
          "Subject: {{ points }} points expire soon\n" + _HI + "{{ points }} of your points expire on "
          "{{ expiresAt[:10] }}. Redeem them before then.",
          "Subject: {{ points }} Punkte verfallen bald\n" + _HALLO + "{{ points }} Ihrer Punkte verfallen am "
          "{{ expiresAt[:10] }}."),
    _spec("tier-upgrade", CARE, 0, ("tier", "program"), "A loyalty or service tier upgrade sends congratulations.",
          "Subject: Welcome to {{ tier }}\n" + _HI + "congratulations: you are now {{ tier }} "
          "({{ program }}). Thank you for your loyalty.",
          "Subject: Willkommen bei {{ tier }}\n" + _HALLO + "herzlichen Glückwunsch: Sie sind jetzt {{ tier }}."),
    _spec("sla-warning", MessagePurpose.TRANSACTIONAL, 0, ("case", "staff", "level", "clock", "dueAt"),
          "A case whose SLA turns AT_RISK or BREACHED alerts its assignee (or the account manager).",
          "Subject: SLA {{ level }}: {{ case.subject }}\nHi {{ staff.name }},\n\nthe {{ clock }} clock of "
          "case \"{{ case.subject }}\" ({{ customer.displayName }}) is {{ level }}; due {{ dueAt }}.",
          "Subject: SLA {{ level }}: {{ case.subject }}\nHallo {{ staff.name }},\n\ndie Frist ({{ clock }}) "
          "des Falls \"{{ case.subject }}\" ist {{ level }}; fällig {{ dueAt }}.", to_staff=True),
)}


@dataclass(frozen=True)
class CareRule:
    key: str
    enabled: bool
    delay_seconds: int
    channel: Channel
    templates: dict[str, str]
    spec: CareRuleSpec

    @property
    def template(self) -> str:
        return self.templates[""]


def _merge(spec: CareRuleSpec, row: CareRuleSetting | None) -> CareRule:
    if row is None:
        return CareRule(spec.key, True, spec.delay_seconds, spec.channel, dict(spec.templates), spec)
    return CareRule(spec.key, row.enabled, row.delay_seconds, row.channel, dict(row.templates), spec)


def care_rules(session: Session) -> list[CareRule]:
    rows = {row.key: row for row in session.scalars(select(CareRuleSetting))}
    return [_merge(spec, rows.get(key)) for key, spec in DEFAULT_RULES.items()]


def care_rule(session: Session, key: str) -> CareRule:
    spec = DEFAULT_RULES.get(key)
    if spec is None:
        raise NotFound(f"No care rule is called {key!r}; known: {', '.join(DEFAULT_RULES)}.", "key")
    return _merge(spec, session.get(CareRuleSetting, key))


def update_care_rule(session: Session, *, key: str, enabled: bool | None = None, delay_seconds: int | None = None,
                     channel: Channel | None = None, template: str | None = None, locale: str | None = None,
                     actor: str | None = None, limits: templates.RenderLimits = templates.DEFAULT_LIMITS) -> CareRule:
    """Change what was given; ``template`` with ``locale`` sets that locale's variant (an empty one removes
    it); without, the default template. The template written (and every variant, when the channel
    changes) must render within ``limits`` for a sample customer (``templates.trial``)."""
    with transaction(session):
        rule = care_rule(session, key)
        if delay_seconds is not None and not 0 <= delay_seconds <= MAX_DELAY:
            raise Invalid(f"delaySeconds is from 0 to {MAX_DELAY} (a year).", "input.delaySeconds")
        if channel is not None:
            channel = Channel(channel)
            if channel not in SENDABLE_CHANNELS:
                raise Invalid("Care messages go out by EMAIL, SMS or PUSH.", "input.channel")
            if rule.spec.to_staff and channel != Channel.EMAIL:
                raise Invalid("This rule notifies staff, who are reached by EMAIL.", "input.channel")
        variants = dict(rule.templates)
        if locale is not None:
            locale = locale.strip()
            if not locale or len(locale) > 35:
                raise Invalid("A locale is a tag such as 'de' or 'de-CH'.", "input.locale")
            if template is None:
                raise DomainError(MessageErrorCode.REQUIRED,
                                  "A locale is given with the template for it.", "input.template")
        if template is not None:
            if locale and not template.strip():
                variants.pop(locale, None)
            else:
                try:
                    templates.check(template, allowed=set(rule.spec.variables))
                except templates.TemplateProblem as exc:
                    raise Invalid(exc.message, "input.template") from None
                variants[locale or ""] = template
        # The cost cap, for a sample customer: the template written, and every variant on a new channel.
        final_channel = channel or rule.channel
        trials = [(v, "input.channel") for v in variants.values()] if final_channel != rule.channel else []
        if template is not None and (locale or "") in variants:
            trials.insert(0, (template, "input.template"))
        deadline = limits.checks_deadline()
        for source, field in trials:
            try:
                templates.trial(source, limits=limits, channel=final_channel, deadline=deadline)
            except templates.TemplateProblem as exc:
                raise Invalid(exc.message, field) from None
        row = session.get(CareRuleSetting, key)
        if row is None:
            row = CareRuleSetting(key=key)
            session.add(row)
        row.enabled = rule.enabled if enabled is None else bool(enabled)
        row.delay_seconds = rule.delay_seconds if delay_seconds is None else delay_seconds
        row.channel = channel or rule.channel
        row.templates, row.updated_by, row.updated_at = variants, actor, utcnow()
    return care_rule(session, key)


def schedule_care(session: Session, *, key: str, customer_id: uuid.UUID, dedupe: str, happened_at: datetime,
                  context: dict | None = None, staff_user_id: uuid.UUID | None = None,
                  settings: MessageSettings, now: datetime | None = None) -> Created | None:
    """Write the care message of rule ``key`` for a trigger that happened at ``happened_at`` (helper: the
    caller commits). None when the rule is off, the customer is gone, or the trigger is stale (older than
    its delay plus ``stale_after``: replayed history must not reach customers). The dedupe key is
    ``care:<key>:<dedupe>``."""
    now = now or utcnow()
    rule = care_rule(session, key)
    if not rule.enabled:
        return None
    customer = session.get(Customer, customer_id)
    while customer is not None and customer.merged_into_id is not None:  # the trigger saw a merged duplicate
        customer = session.get(Customer, customer.merged_into_id)
    if customer is None:
        return None
    send_at = happened_at + timedelta(seconds=rule.delay_seconds)
    if send_at < now - settings.stale_after:
        return None
    context = dict(context or {})
    # Staff read the default template; customers their own locale's, where there is one.
    locale, source = templates.pick_locale(rule.templates, None if staff_user_id else customer.locale)
    status = reason = None
    try:
        rendered = templates.render(source, {**templates.customer_context(session, customer), **context},
                                    limits=settings.render, channel=rule.channel)
        subject, body = rendered.subject, rendered.body
    except templates.TemplateProblem as exc:
        status, reason, subject, body = MessageStatus.FAILED, exc.message, None, source
    return create_message(
        session, customer_id=customer.id, channel=rule.channel, purpose=rule.spec.purpose, trigger=f"care:{key}",
        subject=subject, body=body, dedupe_key=f"care:{key}:{dedupe}", send_at=send_at,
        locale=locale or None, context=_ids_only(context), actor=f"rule:{key}",
        staff_user_id=staff_user_id, status=status, reason=reason, now=now)


def _ids_only(context: dict) -> dict:
    """What the message keeps of its trigger: ids and scalars, for guards, events and reports."""
    kept = {}
    for name, value in context.items():
        if isinstance(value, dict):
            if "id" in value:
                kept[f"{name}Id"] = value["id"]
        elif isinstance(value, (str, int, float, bool)) or value is None:
            kept[name] = value
    return kept


def staff_context(session: Session, staff_user_id: uuid.UUID) -> dict | None:
    from crm.auth.models import StaffUser
    staff = session.get(StaffUser, staff_user_id)
    return {"id": str(staff.id), "name": staff.name, "email": staff.email} if staff else None
