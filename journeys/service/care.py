"""Care triggers of the service process: follow-ups after a resolution, detractor recovery, SLA warnings.

Each handler is an event job: it reloads the case or survey answer, writes its messages through
``crm.messages.care.schedule_care`` under a dedupe key naming the trigger, and is safe to run twice.
"""
from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.customers.models import Customer
from crm.db import transaction, utcnow
from crm.sessions import current_config, get_session
from crm.enums import Channel
from crm.errors import DomainError
from crm.messages.care import care_rule, schedule_care, staff_context
from crm.messages.models import Message
from crm.messages.settings import MessageSettings
from journeys.service import cases
from journeys.service.models import Case, CaseKind, CaseStatus, SurveyKind, SurveyResponse
from journeys.service.surveys import survey_link
from journeys.settings import JourneySettings

log = logging.getLogger(__name__)
FOLLOW_UP_TRIGGER = "care:case-follow-up"


def _case_context(case: Case) -> dict:
    return {"id": str(case.id), "subject": case.subject, "kind": case.kind.value, "status": case.status.value,
            "resolution": case.resolution, "rootCause": case.root_cause, "channel": case.channel.value}


def _survey_url(case: Case) -> str:
    """The follow-up's CSAT link: the platform's signed survey page for this case, unless the deployment sends
    customers to a survey tool of its own (CRM_MESSAGES_SURVEY_URL, a format string)."""
    config = current_config()
    if config.get("MESSAGES_SURVEY_URL"):
        return str(config["MESSAGES_SURVEY_URL"]).format(caseId=case.id, customerId=case.customer_id,
                                                         kind=SurveyKind.CSAT.value)
    return survey_link(config, case.customer_id, SurveyKind.CSAT, case.id)


def template_context(session: Session, customer: Customer) -> dict:
    """``surveyUrls.CSAT`` / ``.NPS`` / ``.CES``: a signed survey page about no case in particular, for any
    message template (an NPS link after a purchase); each answered once (crm/messages/templates.py)."""
    config = current_config()
    return {"surveyUrls": {kind.value: survey_link(config, customer.id, kind) for kind in SurveyKind}}


def _staff_for(session: Session, case: Case) -> uuid.UUID | None:
    """Who is told about a customer's case: its assignee, else the customer's account manager."""
    if case.assignee_id is not None:
        return case.assignee_id
    return session.scalar(select(Customer.account_manager_id).where(Customer.id == case.customer_id))


def on_case_resolved(payload: dict) -> list[str]:
    """case-follow-up to the customer; for a COMPLAINT, complaint-follow-up to the assignee or manager.
    One of each per resolution (a reopened case resolved again is followed up again)."""
    session, settings = get_session(), MessageSettings.from_config(current_config())
    written = []
    with transaction(session):
        case = session.get(Case, uuid.UUID(payload["caseId"]))
        if case is None or case.status != CaseStatus.RESOLVED or case.resolved_at is None:
            return written
        dedupe = f"{case.id}:{case.reopen_count}"
        context = {"case": _case_context(case), "surveyUrl": _survey_url(case)}
        created = schedule_care(session, key="case-follow-up", customer_id=case.customer_id, dedupe=dedupe,
                                happened_at=case.resolved_at, context=context, settings=settings)
        written += [str(created.message.id)] if created else []
        staff_id = _staff_for(session, case) if case.kind == CaseKind.COMPLAINT else None
        if staff_id is not None:
            created = schedule_care(session, key="complaint-follow-up", customer_id=case.customer_id, dedupe=dedupe,
                                    happened_at=case.resolved_at, staff_user_id=staff_id,
                                    context={"case": _case_context(case), "staff": staff_context(session, staff_id)},
                                    settings=settings)
            written += [str(created.message.id)] if created else []
    return written


def follow_up_still_due(session: Session, message: Message) -> str | None:
    """Send guard: the follow-up asks whether the problem is solved, so the case must still be RESOLVED."""
    case = session.get(Case, uuid.UUID(message.context["caseId"])) if message.context.get("caseId") else None
    if case is None or case.status != CaseStatus.RESOLVED:
        return f"CASE_NOT_RESOLVED: the case is {case.status.value if case else 'gone'}"
    return None


def on_message_sent(payload: dict) -> bool:
    """A sent case follow-up moves its case to FOLLOWED_UP (unless staff moved it on meanwhile)."""
    if payload.get("trigger") != FOLLOW_UP_TRIGGER or not payload.get("context", {}).get("caseId"):
        return False
    session = get_session()
    case = session.get(Case, uuid.UUID(payload["context"]["caseId"]))
    if case is None or case.status != CaseStatus.RESOLVED:
        return False
    try:
        cases.transition(session, case_id=case.id, to_status=CaseStatus.FOLLOWED_UP,
                         note="follow-up message sent", actor="rule:case-follow-up")
    except DomainError:  # moved on between the read and the lock
        return False
    return True


def on_detractor(payload: dict) -> str | None:
    """detractor-recovery: a service-recovery case for the account manager and an apology, in one
    transaction, once per survey answer (the apology's dedupe key is checked first)."""
    session, settings = get_session(), MessageSettings.from_config(current_config())
    rule = care_rule(session, "detractor-recovery")
    if not rule.enabled:
        return None
    response_id = uuid.UUID(payload["responseId"])
    dedupe_key = f"care:detractor-recovery:{response_id}"
    with transaction(session):
        if session.scalar(select(Message.id).where(Message.dedupe_key == dedupe_key)) is not None:
            return None
        response = session.get(SurveyResponse, response_id)
        if response is None:
            return None
        customer = session.get(Customer, response.customer_id)
        if customer is None or customer.merged_into_id is not None:
            return None
        now = utcnow()
        case = cases.open_case_in(
            session, customer_id=customer.id, kind=CaseKind.COMPLAINT, channel=response.channel or Channel.EMAIL,
            subject=f"Service recovery: {response.kind.value} {response.score}",
            description=response.comment or f"A {response.kind.value} answer of {response.score}.",
            actor="rule:detractor-recovery", now=now, assignee_id=customer.account_manager_id,
            settings=JourneySettings.from_config(current_config()))
        created = schedule_care(session, key="detractor-recovery", customer_id=customer.id, dedupe=str(response_id),
                                happened_at=response.submitted_at,
                                context={"survey": {"id": str(response.id), "kind": response.kind.value,
                                                    "score": response.score},
                                         "case": _case_context(case)}, settings=settings)
        if created is None or not created.created:
            session.rollback()  # stale or raced: no case without its apology
            return None
        return str(case.id)


def on_sla_alert(payload: dict) -> str | None:
    """sla-warning to the case's assignee (or the account manager), once per clock and level."""
    session, settings = get_session(), MessageSettings.from_config(current_config())
    level = "BREACHED" if payload["topic"] == "case.sla_breached" else "AT_RISK"
    with transaction(session):
        case = session.get(Case, uuid.UUID(payload["caseId"]))
        if case is None:
            return None
        staff_id = _staff_for(session, case)
        if staff_id is None:
            log.warning("SLA %s on case %s: nobody to tell (no assignee, no account manager)", level, case.id)
            return None
        created = schedule_care(session, key="sla-warning", customer_id=case.customer_id,
                                dedupe=f"{case.id}:{payload['clock']}:{level}", happened_at=utcnow(),
                                staff_user_id=staff_id,
                                context={"case": _case_context(case), "staff": staff_context(session, staff_id),
                                         "level": level, "clock": payload["clock"], "dueAt": payload["dueAt"]},
                                settings=settings)
        return str(created.message.id) if created else None
