"""Service quality over a period: response, first-contact resolution, SLA compliance, CSAT and NPS.

Two statements whatever the volume: one aggregate over cases, one over survey responses.
Case figures count cases opened in the period (response, SLA) or resolved in it (FCR);
survey figures count responses submitted in it. Periods are [from, to).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, extract, func, or_, select, true
from sqlalchemy.orm import Session

from crm.customers.models import Customer
from crm.customers.selectors import CustomerFilter, apply_filter, live_customers
from crm.db import utcnow
from crm.enums import Channel, ServiceTier
from crm.errors import Invalid
from journeys.service import sla
from journeys.service.models import Case, SurveyKind, SurveyResponse
from journeys.settings import JourneySettings


@dataclass(frozen=True)
class KpiTarget:
    kpi: str
    target: float
    actual: float | None
    met: bool | None


@dataclass
class ServiceMetricsResult:
    cases_opened: int
    cases_resolved: int
    average_first_response_minutes: float | None
    first_contact_resolution_rate: float | None
    sla_compliance_rate: float | None
    csat_average: float | None
    csat_responses: int
    nps: float | None
    promoters: int
    passives: int
    detractors: int
    targets: list[KpiTarget] = field(default_factory=list)


def _seconds(session: Session, later, earlier):
    if session.get_bind().dialect.name == "postgresql":
        return extract("epoch", later - earlier)
    # julianday() is a float of days: rounded to the millisecond, SQLite gives PostgreSQL's numbers.
    return func.round((func.julianday(later) - func.julianday(earlier)) * 86400, 3)


def _period(column, from_: datetime | None, to: datetime | None):
    return and_(true(), *([column >= from_] if from_ else []), *([column < to] if to else []))


def _count(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def service_metrics(session: Session, *, from_: datetime | None = None, to: datetime | None = None,
                    service_tiers: list[ServiceTier] | None = None, segment_id: uuid.UUID | None = None,
                    channels: list[Channel] | None = None, settings: JourneySettings,
                    now: datetime | None = None) -> ServiceMetricsResult:
    if from_ is not None and to is not None and to <= from_:
        raise Invalid("to is after from.", "filter.to")
    now = now or utcnow()
    customer_scope = []
    if service_tiers or segment_id is not None:
        # The customer's tier and segments now, not when the case opened: "how do we serve our VIPs".
        ids = apply_filter(live_customers(), CustomerFilter(service_tiers=service_tiers, segment_id=segment_id))
        customer_scope = [ids.with_only_columns(Customer.id)]

    opened = _period(Case.opened_at, from_, to)
    resolved = and_(Case.resolved_at.is_not(None), _period(Case.resolved_at, from_, to))
    responded = and_(opened, Case.first_responded_at.is_not(None))
    outcome_known = and_(opened, or_(Case.resolved_at.is_not(None), sla.state_condition("BREACHED", now)))
    case_row = session.execute(
        select(_count(opened), _count(responded),
               func.sum(case((responded, _seconds(session, Case.first_responded_at, Case.opened_at)))),
               _count(resolved), _count(and_(resolved, Case.first_contact_resolution.is_(True))),
               _count(outcome_known), _count(and_(outcome_known, sla.state_condition("MET", now))))
        .where(or_(opened, resolved),
               *[Case.customer_id.in_(s) for s in customer_scope],
               *([Case.channel.in_(channels)] if channels else []))).one()
    n_opened, n_responded, response_seconds, n_resolved, n_fcr, n_known, n_met = case_row

    s = SurveyResponse
    nps = s.kind == SurveyKind.NPS
    survey_row = session.execute(
        select(_count(s.kind == SurveyKind.CSAT),
               func.sum(case((s.kind == SurveyKind.CSAT, s.score))),
               _count(and_(nps, s.score >= 9)), _count(and_(nps, s.score.between(7, 8))),
               _count(and_(nps, s.score <= 6)))
        .where(s.kind.in_([SurveyKind.CSAT, SurveyKind.NPS]), _period(s.submitted_at, from_, to),
               *[s.customer_id.in_(scope) for scope in customer_scope],
               *([s.channel.in_(channels)] if channels else []))).one()
    csat_count, csat_sum, promoters, passives, detractors = survey_row
    nps_count = promoters + passives + detractors

    result = ServiceMetricsResult(
        cases_opened=int(n_opened), cases_resolved=int(n_resolved),
        average_first_response_minutes=float(response_seconds) / n_responded / 60 if n_responded else None,
        first_contact_resolution_rate=_share(n_fcr, n_resolved),
        sla_compliance_rate=_share(n_met, n_known),
        csat_average=int(csat_sum) / csat_count if csat_count else None, csat_responses=int(csat_count),
        nps=(promoters - detractors) * 100 / nps_count if nps_count else None,
        promoters=int(promoters), passives=int(passives), detractors=int(detractors))
    result.targets = _targets(result, settings)
    return result


def _targets(result: ServiceMetricsResult, settings: JourneySettings) -> list[KpiTarget]:
    at_most = [("averageFirstResponseMinutes", settings.target_first_response_minutes,
                result.average_first_response_minutes)]
    at_least = [("firstContactResolutionRate", settings.target_fcr_rate, result.first_contact_resolution_rate),
                ("slaComplianceRate", settings.target_sla_rate, result.sla_compliance_rate),
                ("csatAverage", settings.target_csat, result.csat_average),
                ("nps", settings.target_nps, result.nps)]
    targets = [KpiTarget(k, float(t), a, None if a is None else a <= t) for k, t, a in at_most]
    targets += [KpiTarget(k, float(t), a, None if a is None else a >= t) for k, t, a in at_least]
    return targets
