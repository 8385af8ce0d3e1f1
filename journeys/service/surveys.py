"""The voice of the customer: CSAT, NPS and CES responses, one per (customer, kind, case)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm import events
from crm.customers.services import require_customer
from crm.db import transaction, utcnow
from crm.errors import DomainError, Invalid, NotFound
from crm.links import Link, LinkPurpose, configured_url
from journeys.errors import JourneyErrorCode
from journeys.service.models import Case, SurveyKind, SurveyResponse

SCALES = {SurveyKind.CSAT: (1, 5), SurveyKind.NPS: (0, 10), SurveyKind.CES: (1, 7)}
NO_CASE = "-"
NPS_DETRACTOR_MAX = 6
CSAT_DETRACTOR_MAX = 2
MAX_COMMENT = 5000


def is_detractor(kind: SurveyKind, score: int) -> bool:
    """Who the service-recovery flow should reach: NPS 0-6, or CSAT 1-2."""
    return (kind == SurveyKind.NPS and score <= NPS_DETRACTOR_MAX) or \
        (kind == SurveyKind.CSAT and score <= CSAT_DETRACTOR_MAX)


def link_target(kind: SurveyKind, case_id: uuid.UUID | None = None) -> str:
    """What a survey link names: the kind and the case it asks about ("CSAT:<case id>", "NPS:-")."""
    return f"{SurveyKind(kind).value}:{case_id or NO_CASE}"


def read_link_target(target: str | None) -> tuple[SurveyKind, uuid.UUID | None]:
    """The kind and case of a survey link's target; ValueError for anything ``link_target`` does not make."""
    kind, _, case = str(target or "").partition(":")
    return SurveyKind(kind), (None if case == NO_CASE else uuid.UUID(case))


def survey_link(config, customer_id: uuid.UUID, kind: SurveyKind, case_id: uuid.UUID | None = None) -> str:
    """The signed address of the survey page asking ``customer_id`` this survey (CRM_PUBLIC_BASE_URL)."""
    return configured_url(config, Link(LinkPurpose.SURVEY, customer_id, link_target(kind, case_id)))


def answer_given(session: Session, *, customer_id: uuid.UUID, kind: SurveyKind,
                 case_id: uuid.UUID | None = None) -> SurveyResponse | None:
    """The customer's answer to this survey, if they gave one (the survey page's second visit)."""
    return session.scalars(select(SurveyResponse).where(
        SurveyResponse.customer_id == customer_id, SurveyResponse.kind == SurveyKind(kind),
        SurveyResponse.case_key == (str(case_id) if case_id else NO_CASE))).first()


@dataclass
class SurveyResult:
    response: SurveyResponse
    created: bool


def submit_response(session: Session, *, customer_id: uuid.UUID, kind: SurveyKind, score: int,
                    comment: str | None = None, case_id: uuid.UUID | None = None,
                    now: datetime | None = None) -> SurveyResult:
    """Record an answer. The same answer again returns the original; a different one is DUPLICATE."""
    kind = SurveyKind(kind)
    low, high = SCALES[kind]
    if score is None or not low <= score <= high:
        raise Invalid(f"A {kind.value} score is a whole number from {low} to {high}.", "score")
    comment = (comment or "").strip() or None
    if comment is not None and "\x00" in comment:
        raise Invalid("A comment may not contain NUL characters.", "comment")
    if comment is not None and len(comment) > MAX_COMMENT:
        raise Invalid(f"A comment is at most {MAX_COMMENT} characters.", "comment")
    try:
        return _submit(session, customer_id, kind, score, comment, case_id, now or utcnow())
    except IntegrityError:
        # A concurrent submission of the same survey won: answer as if this call came second.
        session.rollback()
        return _submit(session, customer_id, kind, score, comment, case_id, now or utcnow())


def _submit(session, customer_id, kind, score, comment, case_id, now) -> SurveyResult:
    with transaction(session):
        # Locked: the metrics below are recomputed from every answer, and a merge must not slip in between.
        customer = require_customer(session, customer_id, for_update=True)
        case = None
        if case_id is not None:
            case = session.get(Case, case_id)
            if case is None or case.customer_id != customer.id:  # another's case is as good as none
                raise NotFound("This customer has no case with this id.", "caseId")
        case_key = str(case_id) if case_id else NO_CASE
        earlier = session.scalars(select(SurveyResponse).where(
            SurveyResponse.customer_id == customer.id, SurveyResponse.kind == kind,
            SurveyResponse.case_key == case_key)).first()
        if earlier is not None:
            if earlier.score == score and earlier.comment == comment:
                return SurveyResult(earlier, created=False)
            raise DomainError(JourneyErrorCode.DUPLICATE, f"This customer already answered this {kind.value} survey"
                              + (" for this case." if case_id else "."), "caseId" if case_id else "kind")
        response = SurveyResponse(customer_id=customer.id, kind=kind, score=score, comment=comment,
                                  case_id=case_id, case_key=case_key, channel=case.channel if case else None,
                                  submitted_at=now)
        session.add(response)
        session.flush()
        refresh_survey_metrics(session, customer, kind)
        payload = dict(customerId=str(customer.id), responseId=str(response.id), kind=kind.value, score=score,
                       caseId=str(case_id) if case_id else None)
        events.emit(session, "survey.submitted", **payload)
        if is_detractor(kind, score):
            events.emit(session, "survey.detractor", **payload)
    return SurveyResult(response, created=True)


def refresh_survey_metrics(session: Session, customer, kind: SurveyKind) -> None:
    """The customer's csatAverage or lastNpsScore from every answer of that kind (helper: flushes nothing)."""
    if kind == SurveyKind.CSAT:
        average = session.scalar(select(func.avg(SurveyResponse.score)).where(
            SurveyResponse.customer_id == customer.id, SurveyResponse.kind == SurveyKind.CSAT))
        customer.csat_average = round(float(average), 2) if average is not None else None
    elif kind == SurveyKind.NPS:
        customer.last_nps_score = session.scalar(
            select(SurveyResponse.score).where(SurveyResponse.customer_id == customer.id,
                                               SurveyResponse.kind == SurveyKind.NPS)
            .order_by(SurveyResponse.submitted_at.desc(), SurveyResponse.id.desc()).limit(1))
    customer.updated_at = utcnow()
