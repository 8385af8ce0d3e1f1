"""The segment rule fields the service process adds to the customer core: ``cases.open``,
``surveys.lastNps`` and ``surveys.lastCsat``.

Registered from ``journeys.init_app`` (``crm.segments.fields.register_field_provider``).
"""
from __future__ import annotations

from sqlalchemy import func, select

from crm.customers.models import Customer
from crm.segments.fields import FieldDef, within_filters
from journeys.service.models import Case, CaseStatus, SurveyKind, SurveyResponse

_CLOSED = (CaseStatus.RESOLVED, CaseStatus.FOLLOWED_UP, CaseStatus.CLOSED)


def _open_cases(cond, now):
    return Case.customer_id, func.count(), [Case.status.not_in(_CLOSED)]


def _last_score(kind: SurveyKind):
    """The latest answer of that kind (in the window, if the rule gives ``within``)."""
    def build(param, cond, now):
        return select(SurveyResponse.score).where(
            SurveyResponse.customer_id == Customer.id, SurveyResponse.kind == kind,
            *within_filters(SurveyResponse.submitted_at, cond, now),
        ).order_by(SurveyResponse.submitted_at.desc(), SurveyResponse.id.desc()).limit(1) \
            .correlate(Customer).scalar_subquery()
    return build


def service_fields() -> dict[str, FieldDef]:
    return {
        "cases.open": FieldDef("number", None, nullable=False, aggregate=_open_cases),
        "surveys.lastNps": FieldDef("number", _last_score(SurveyKind.NPS), within=True),
        "surveys.lastCsat": FieldDef("number", _last_score(SurveyKind.CSAT), within=True),
    }
