"""Message templates: Jinja2 in a sandbox, variables from the customer's 360 profile.

A template's first line may be ``Subject: ...`` (the subject of an email); the rest is the body.
Templates cannot reach Python internals (SandboxedEnvironment) and an unknown variable is an
error, not an empty string, so a typo fails the message with a reason instead of sending "Dear ,".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import Session

from crm.customers.models import Customer

MAX_TEMPLATE = 20000
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)

# Domains add to the render context at composition (loyalty adds `loyalty`): fn(session, customer) -> dict.
CONTEXT_PROVIDERS: list[Callable[[Session, Customer], dict]] = []
# Names a template may use besides those of the trigger's own context (order, case, points, ...).
BASE_NAMES = {"customer", "loyalty", "now"}


class TemplateProblem(Exception):
    """A template that does not parse or does not render; ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


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


def render(source: str, context: dict) -> Rendered:
    try:
        text = _ENV.from_string(source).render(**context)
    except TemplateError as exc:
        raise TemplateProblem(f"Template error: {exc.__class__.__name__}: {exc}") from None
    except Exception as exc:  # a sandbox refusal or an error inside a filter: the template's fault
        raise TemplateProblem(f"Template error: {exc.__class__.__name__}: {exc}") from None
    subject = None
    first, _, rest = text.partition("\n")
    if first.lower().startswith("subject:"):
        subject, text = first[len("subject:"):].strip() or None, rest
    return Rendered(subject=subject, body=text.strip())


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


def customer_context(session: Session, customer: Customer) -> dict:
    """What a template may read of the customer: the profile and metrics, plus what domains add."""
    profile = {
        "id": str(customer.id), "externalId": customer.external_id, "email": customer.email,
        "phone": customer.phone, "firstName": customer.first_name, "lastName": customer.last_name,
        "displayName": " ".join(p for p in (customer.first_name, customer.last_name) if p)
        or customer.email or customer.phone or "Customer",
        "birthday": _iso(customer.birthday), "timezone": customer.timezone, "locale": customer.locale,
        "attributes": dict(customer.attributes or {}), "lifecycleStage": customer.lifecycle_stage.value,
        "serviceTier": customer.service_tier.value,
        "metrics": {"totalSpent": str(customer.total_spent), "orderCount": customer.order_count,
                    "lastOrderAt": _iso(customer.last_order_at), "churnRisk": customer.churn_risk,
                    "csatAverage": customer.csat_average, "lastNpsScore": customer.last_nps_score},
    }
    context = {"customer": profile, "loyalty": None}
    for provider in CONTEXT_PROVIDERS:
        context.update(provider(session, customer))
    return context
