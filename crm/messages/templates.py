"""Message templates: Jinja2 in a sandbox with a cost cap, variables from the customer's 360 profile.

A template's first line may be ``Subject: ...`` (the subject of an email); the rest is the body.
Templates cannot reach Python internals (the sandbox), cannot burn CPU or memory (``sandbox.py``: steps,
sizes, work and time are capped per render) and render at most the channel's body cap
(``MESSAGES_MAX_BODY_CHARS``) and the subject cap (``MESSAGES_MAX_SUBJECT_CHARS``). An unknown variable
is an error, not an empty string, so a typo fails the message with a reason instead of sending "Dear ,".
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from jinja2 import ChainableUndefined, TemplateError, meta
from sqlalchemy.orm import Session

from crm.customers.models import Customer
from crm.masking import mask_email, mask_phone
from crm.messages import sandbox
from crm.messages.sandbox import RenderLimit, TemplateProblem

__all__ = ["RenderLimit", "RenderLimits", "Rendered", "TemplateProblem", "check", "customer_context",
           "pick_locale", "render", "trial"]

MAX_TEMPLATE = 20000
MAX_SUBJECT_COLUMN = 500   # message.subject
_ENV = sandbox.environment()
# Trial renders at write time: a missing value is empty rather than an error (real data may have it).
_TRIAL_ENV = sandbox.environment(undefined=ChainableUndefined)

# Domains add to the render context at composition (loyalty adds `loyalty`): fn(session, customer) -> dict.
CONTEXT_PROVIDERS: list[Callable[[Session, Customer], dict]] = []
# Names a template may use besides those of the trigger's own context (order, case, points, ...).
BASE_NAMES = {"customer", "loyalty", "now", "unsubscribeUrl", "preferencesUrl"}
# What {{ unsubscribeUrl }} and {{ preferencesUrl }} render as: the stored body keeps these, and the signed links
# replace them only when the message is sent (crm/messages/unsubscribe.py), so no stored text holds a token.
UNSUBSCRIBE_PLACEHOLDER = "{{unsubscribeUrl}}"
PREFERENCES_PLACEHOLDER = "{{preferencesUrl}}"
LINK_VALUES = {"unsubscribeUrl": UNSUBSCRIBE_PLACEHOLDER, "preferencesUrl": PREFERENCES_PLACEHOLDER}
DEFAULT_BODY_CHARS = {"EMAIL": 100_000, "SMS": 1_600, "PUSH": 1_000}
CHECKS_PER_WRITE = 5   # a write checks many templates (50 steps x channels x locales): one deadline for all


@dataclass(frozen=True)
class RenderLimits:
    """The cost cap of one render (CRM_MESSAGES_MAX_BODY_CHARS, _MAX_SUBJECT_CHARS, _RENDER_MAX_STEPS,
    _RENDER_MAX_WORK, _RENDER_TIMEOUT)."""

    body_chars: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_BODY_CHARS))
    subject_chars: int = MAX_SUBJECT_COLUMN
    steps: int = 10_000
    work: int = 1_000_000
    seconds: float = 1.0

    @classmethod
    def from_config(cls, config) -> RenderLimits:
        body = dict(DEFAULT_BODY_CHARS)
        body.update({str(k).upper(): int(v) for k, v in dict(config.get("MESSAGES_MAX_BODY_CHARS") or {}).items()})
        return cls(body_chars=body,
                   subject_chars=min(int(config.get("MESSAGES_MAX_SUBJECT_CHARS", MAX_SUBJECT_COLUMN)),
                                     MAX_SUBJECT_COLUMN),
                   steps=int(config.get("MESSAGES_RENDER_MAX_STEPS", 10_000)),
                   work=int(config.get("MESSAGES_RENDER_MAX_WORK", 1_000_000)),
                   seconds=float(config.get("MESSAGES_RENDER_TIMEOUT", 1.0)))

    def body_for(self, channel) -> int:
        name = getattr(channel, "value", channel) or "EMAIL"
        return int(self.body_chars.get(name, self.body_chars.get("EMAIL", DEFAULT_BODY_CHARS["EMAIL"])))

    def body_message(self, channel) -> str:
        name = getattr(channel, "value", channel) or "EMAIL"
        return (f"The message is longer than {self.body_for(channel)} characters, the limit for {name} "
                f"(MESSAGES_MAX_BODY_CHARS).")

    def subject_message(self) -> str:
        return f"The subject is longer than {self.subject_chars} characters (MESSAGES_MAX_SUBJECT_CHARS)."

    def budget(self, channel, deadline: float | None = None) -> sandbox.Budget:
        cap = max(self.body_for(channel) + self.subject_chars + 16, 10_000)
        seconds, time_message = self.seconds, None
        if deadline is not None and deadline - time.monotonic() < seconds:
            seconds, time_message = max(deadline - time.monotonic(), 0.0), self.checks_message()
        return sandbox.Budget(value_cap=cap, size_message=self.body_message(channel), steps=self.steps,
                              work=self.work, seconds=seconds, time_message=time_message)

    def checks_deadline(self) -> float:
        """One write's trials together take at most CHECKS_PER_WRITE renders' time."""
        return time.monotonic() + self.seconds * CHECKS_PER_WRITE

    def checks_message(self) -> str:
        return (f"Checking these templates takes longer than {self.seconds * CHECKS_PER_WRITE:g} s "
                f"({CHECKS_PER_WRITE} x MESSAGES_RENDER_TIMEOUT).")


DEFAULT_LIMITS = RenderLimits()


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str


def check(source: str, *, allowed: set[str] | None = None) -> None:
    """Parse the template and check the names it reads; raise TemplateProblem."""
    if not isinstance(source, str) or not source.strip():
        raise TemplateProblem("A template cannot be empty.")
    if len(source) > MAX_TEMPLATE:
        raise TemplateProblem(f"A template is at most {MAX_TEMPLATE} characters.")
    try:
        names = meta.find_undeclared_variables(_ENV.parse(source))
    except TemplateError as exc:
        raise TemplateProblem(f"Template syntax error on line {getattr(exc, 'lineno', '?')}: {exc.message}") from None
    if allowed is not None:
        unknown = sorted(names - allowed - BASE_NAMES)
        if unknown:
            known = ", ".join(sorted(allowed | BASE_NAMES))
            raise TemplateProblem(f"Unknown template variable {unknown[0]!r}; known: {known}.")


def _generate(env, source: str, context: dict, limits: RenderLimits, channel, deadline: float | None = None) -> str:
    """The text, streamed and stopped at the cap (a template cannot fill memory before it is refused)."""
    budget = limits.budget(channel, deadline)
    cap = limits.body_for(channel) + limits.subject_chars + len("Subject: \n")
    out, size = [], 0
    with sandbox.spending(budget):
        try:
            for chunk in env.from_string(env.guarded(source)).generate(**context):
                size += len(chunk)
                if size > cap:
                    raise RenderLimit(limits.body_message(channel))
                out.append(chunk)
        except TemplateProblem:
            raise
        except TemplateError as exc:
            raise TemplateProblem(f"Template error: {exc.__class__.__name__}: {exc}") from None
        except Exception as exc:  # a sandbox refusal or an error inside a filter: the template's fault
            raise TemplateProblem(f"Template error: {exc.__class__.__name__}: {exc}") from None
    return "".join(out)


def _split(text: str, limits: RenderLimits, channel) -> Rendered:
    subject = None
    first, _, rest = text.partition("\n")
    if first.lower().startswith("subject:"):
        subject, text = first[len("subject:"):].strip() or None, rest
    body = text.strip()
    if subject and len(subject) > limits.subject_chars:
        raise RenderLimit(limits.subject_message())
    if len(body) > limits.body_for(channel):
        raise RenderLimit(limits.body_message(channel))
    return Rendered(subject=subject, body=body)


def render(source: str, context: dict, *, limits: RenderLimits = DEFAULT_LIMITS, channel="EMAIL",
           subject_only: bool = False) -> Rendered:
    """Render a message template; RenderLimit when it breaks the cost cap or is longer than allowed.
    ``subject_only``: the template is a subject of its own (messageSend's ``subject``)."""
    text = _generate(_ENV, source, context, limits, channel)
    if not subject_only:
        return _split(text, limits, channel)
    subject = text.strip()
    if len(subject) > limits.subject_chars:
        raise RenderLimit(limits.subject_message())
    return Rendered(subject=subject or None, body="")


SAMPLE_CUSTOMER = {
    "id": "00000000-0000-0000-0000-000000000000", "externalId": "sample-1", "email": "s***@example.com",
    "phone": "+44********00", "firstName": "Sam", "lastName": "Sample", "displayName": "Sam Sample",
    "birthday": "1990-01-01", "timezone": "UTC", "locale": "en", "attributes": {}, "lifecycleStage": "NEW",
    "serviceTier": "STANDARD", "metrics": {"totalSpent": "0.00", "orderCount": 0, "lastOrderAt": None,
                                           "churnRisk": 0.0, "csatAverage": None, "lastNpsScore": None}}


def trial(source: str, *, limits: RenderLimits = DEFAULT_LIMITS, channel="EMAIL", extra: dict | None = None,
          deadline: float | None = None) -> None:
    """At write time: render once for a sample customer and refuse (RenderLimit) a template that breaks the
    cost cap even so, e.g. ``{% for i in range(1500) %}{% for j in range(1500) %}x...``. Anything else that
    fails here (a value the sample lacks) is left to the real render, which fails that message only.
    ``deadline`` (``limits.checks_deadline()``): shared by every trial of one write."""
    context = {"customer": SAMPLE_CUSTOMER, "loyalty": {"balance": 0, "tier": None, "tierName": None},
               **LINK_VALUES, **(extra or {})}
    try:
        _split(_generate(_TRIAL_ENV, source, context, limits, channel, deadline), limits, channel)
    except RenderLimit:
        raise
    except TemplateProblem:
        return


def pick_locale(templates: dict[str, str], locale: str | None) -> tuple[str, str]:
    """The template for a locale: exact ("de-CH"), then its language ("de"), then the default ("")."""
    if locale:
        for key in (locale, locale.split("-")[0].lower()):
            for candidate, source in templates.items():
                if candidate and candidate.lower() == key.lower():
                    return candidate, source
    return "", templates[""]


def _iso(value):
    return value.isoformat() if value is not None else None


def customer_context(session: Session, customer: Customer, *, masked: bool = False) -> dict:
    """What a template may read of the customer: the profile and metrics, plus what domains add.
    ``masked``: email and phone as a role that sees them masked sees them (``a***@example.com``), for
    templates written by such a role."""
    email, phone = customer.email, customer.phone
    if masked:
        email = mask_email(email) if email else email
        phone = mask_phone(phone) if phone else phone
    profile = {
        "id": str(customer.id), "externalId": customer.external_id, "email": email,
        "phone": phone, "firstName": customer.first_name, "lastName": customer.last_name,
        "displayName": " ".join(p for p in (customer.first_name, customer.last_name) if p)
        or email or phone or "Customer",
        "birthday": _iso(customer.birthday), "timezone": customer.timezone, "locale": customer.locale,
        "attributes": dict(customer.attributes or {}), "lifecycleStage": customer.lifecycle_stage.value,
        "serviceTier": customer.service_tier.value,
        "metrics": {"totalSpent": str(customer.total_spent), "orderCount": customer.order_count,
                    "lastOrderAt": _iso(customer.last_order_at), "churnRisk": customer.churn_risk,
                    "csatAverage": customer.csat_average, "lastNpsScore": customer.last_nps_score},
    }
    context = {"customer": profile, "loyalty": None, **LINK_VALUES}
    for provider in CONTEXT_PROVIDERS:
        context.update(provider(session, customer))
    return context
