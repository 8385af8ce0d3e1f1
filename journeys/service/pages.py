"""The survey page: /s/survey/<token>, the page a follow-up's (or any message's) survey link opens.

GET asks the question of the link's kind; POST records the answer through ``surveys.submit_response``, exactly
as surveyResponseSubmit does for a PORTAL token (once per customer, kind and case; detractor recovery and
metrics follow from its events). A link whose survey was answered shows the answer given and records nothing,
so a second visit, a reload of the thank-you page and a double-clicked button all end on that page.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import request

from crm.customers.models import Customer
from crm.errors import DomainError
from crm.links import LinkProblem, LinkPurpose
from crm.pages import open_link, page_blueprint, refused_page, render_page
from crm.pages.i18n import add_strings
from crm.sessions import get_session
from journeys.errors import JourneyErrorCode
from journeys.service import surveys
from journeys.service.models import Case, SurveyKind
from journeys.service.survey_strings import STRINGS

bp = page_blueprint("survey_pages", __name__)
add_strings(STRINGS)


class _Refused(Exception):
    def __init__(self, locale: str | None = None):
        super().__init__("survey link refused")
        self.locale = locale


@dataclass(frozen=True)
class _Survey:
    """What a survey link asks, as plain values (they outlive the session's rollbacks)."""
    customer_id: uuid.UUID
    locale: str | None
    kind: SurveyKind
    case_id: uuid.UUID | None


def _survey(token: str) -> _Survey:
    """The link's survey, or _Refused: a customer merged away or gone, a case no longer theirs."""
    link = open_link(token, LinkPurpose.SURVEY)
    try:
        kind, case_id = surveys.read_link_target(link.target)
    except (ValueError, TypeError):
        raise _Refused() from None
    session = get_session()
    customer = session.get(Customer, link.customer_id)
    if customer is None or customer.merged_into_id is not None:
        raise _Refused(customer.locale if customer else None)
    if case_id is not None:
        case = session.get(Case, case_id)
        if case is None or case.customer_id != customer.id:
            raise _Refused(customer.locale)
    return _Survey(customer.id, customer.locale, kind, case_id)


def _question(survey: _Survey) -> str:
    specific = survey.case_id is not None and survey.kind != SurveyKind.NPS
    return f"survey.{survey.kind.value}.question" + (".case" if specific else "")


def _form(survey: _Survey, *, status=200, error=None, chosen=None, comment=""):
    low, high = surveys.SCALES[survey.kind]
    # Shown again as typed, within what the field takes (a NUL would only come back as a replacement mark).
    comment = comment.replace("\x00", "")[: surveys.MAX_COMMENT]
    return render_page("survey/question.html", locale=survey.locale, status=status, kind=survey.kind.value,
                       question=_question(survey), low=low, high=high, error=error, chosen=chosen,
                       comment=comment, max_comment=surveys.MAX_COMMENT)


def _answered(survey: _Survey, response, *, just_now: bool):
    return render_page("survey/answered.html", locale=survey.locale, kind=survey.kind.value, just_now=just_now,
                       question=_question(survey), score=response.score, high=surveys.SCALES[survey.kind][1],
                       comment=response.comment)


def _earlier(survey: _Survey):
    return surveys.answer_given(get_session(), customer_id=survey.customer_id, kind=survey.kind,
                                case_id=survey.case_id)


def _score(raw: str | None, kind: SurveyKind) -> int | None:
    low, high = surveys.SCALES[kind]
    text = (raw or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 2:
        return None
    score = int(text)
    return score if low <= score <= high else None


@bp.route("/s/survey/<path:token>", methods=["GET", "POST"])
def survey_page(token: str):
    try:
        survey = _survey(token)
    except _Refused as refused:
        return refused_page(LinkProblem.INVALID, refused.locale)
    earlier = _earlier(survey)
    if earlier is not None:
        return _answered(survey, earlier, just_now=False)
    if request.method != "POST":  # GET, and HEAD as GET
        return _form(survey)

    comment = str(request.form.get("comment") or "").replace("\r\n", "\n")  # as the field counted it
    score = _score(request.form.get("score"), survey.kind)
    if score is None:
        return _form(survey, status=422, error="survey.error.score", comment=comment)
    session = get_session()
    session.rollback()  # the reads above: submit_response is a transaction of its own
    try:
        result = surveys.submit_response(session, customer_id=survey.customer_id, kind=survey.kind, score=score,
                                         comment=comment, case_id=survey.case_id)
    except DomainError as exc:
        session.rollback()
        if exc.code == JourneyErrorCode.DUPLICATE:  # a different answer from another tab got there first
            earlier = _earlier(survey)
            if earlier is not None:
                return _answered(survey, earlier, just_now=False)
        if exc.field == "comment":
            return _form(survey, status=422, error="survey.error.comment", chosen=score, comment=comment)
        # Merged away, or the case moved, between the read and the write.
        return refused_page(LinkProblem.INVALID, survey.locale)
    return _answered(survey, result.response, just_now=result.created)
