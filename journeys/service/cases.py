"""The service process: cases move RECEIVED -> DIAGNOSING -> SOLUTION_PROPOSED -> RESOLVED -> FOLLOWED_UP
-> CLOSED (a RESOLVED case may be reopened), each step in the case's history and on the after-sales map.

Every write locks the case row first, so two agents acting on one case take turns and the
history's seq stays gapless.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import case as sql_case
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crm import events
from crm.auth.permissions import Capability, has
from crm.customers.models import Customer
from crm.customers.services import require_customer
from crm.db import lock_for_update, transaction, utcnow
from crm.enums import Channel, ServiceTier
from crm.errors import DomainError, Invalid, NotFound
from crm.pagination import Page, SortKey, keyset_page
from journeys.errors import JourneyErrorCode
from journeys.service import sla
from journeys.interactions.services import SYSTEM_PREFIX, InteractionRow, add_interactions
from journeys.interactions.models import Interaction
from journeys.maps.models import Touchpoint
from journeys.service.models import Case, CaseEvent, CaseEventKind, CaseKind, CaseStatus, SlaPolicy
from journeys.settings import JourneySettings

S = CaseStatus
PRIORITY = {ServiceTier.VIP: 1, ServiceTier.PREFERRED: 2, ServiceTier.STANDARD: 3}
TRANSITIONS = {(S.RECEIVED, S.DIAGNOSING), (S.DIAGNOSING, S.SOLUTION_PROPOSED), (S.RESOLVED, S.FOLLOWED_UP),
               (S.FOLLOWED_UP, S.CLOSED), (S.RESOLVED, S.DIAGNOSING)}
STAGE_OF = {S.RECEIVED: "reception", S.DIAGNOSING: "diagnosis", S.SOLUTION_PROPOSED: "solution",
            S.RESOLVED: "solution", S.FOLLOWED_UP: "follow-up"}
SERVICE_MAP = "after-sales"
MAX_TEXT = 10000
MAX_COMPENSATION = 100_000
MAX_SLA_MINUTES = 525_600  # a year


def _text(value: str | None, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    """Stripped text, None when blank; ``field`` names the input in errors."""
    label = field.rsplit(".", 1)[-1]
    value = (value or "").strip() or None
    if value is None and required:
        raise DomainError(JourneyErrorCode.REQUIRED, f"{label} is required.", field)
    if value is not None and "\x00" in value:
        raise Invalid(f"{label} may not contain NUL characters.", field)
    if value is not None and len(value) > limit:
        raise Invalid(f"{label} is at most {limit} characters.", field)
    return value


def _locked_case(session: Session, case_id: uuid.UUID) -> Case:
    """The case, locked after its customer: the order a merge locks in (customers, then their cases),
    so a case write and a merge wait for each other instead of deadlocking."""
    case = None
    for _ in range(2):
        owner = session.scalar(select(Case.customer_id).where(Case.id == case_id))
        if owner is None:
            raise NotFound("No case has this id.", "caseId")
        session.execute(lock_for_update(select(Customer.id).where(Customer.id == owner), session))
        case = session.scalars(lock_for_update(select(Case).where(Case.id == case_id), session)).first()
        if case.customer_id == owner:  # else a merge moved it meanwhile: lock the new owner too
            break
    return case


def _record(session: Session, case: Case, kind: CaseEventKind, from_status: CaseStatus | None,
            actor: str | None, now: datetime, note: str | None = None) -> None:
    """Append to the history and, for a status with a journey stage, put the step on the customer's map."""
    seq = (session.scalar(select(func.max(CaseEvent.seq)).where(CaseEvent.case_id == case.id)) or 0) + 1
    session.add(CaseEvent(case_id=case.id, seq=seq, kind=kind, at=now, from_status=from_status,
                          to_status=case.status, actor=actor, note=note))
    case.updated_at = now
    case.sla_next_check_at = sla.next_check(case)
    # add_interactions expires the session's objects: pending changes must be in the database first.
    session.flush()
    stage = STAGE_OF.get(case.status) if kind not in (CaseEventKind.RESPONSE, CaseEventKind.ASSIGNED) else None
    if stage is None:
        return
    touchpoint_key = session.scalar(
        select(Touchpoint.key).where(Touchpoint.journey_map_key == SERVICE_MAP, Touchpoint.stage == stage)
        .order_by(sql_case((Touchpoint.channel == case.channel, 0), else_=1), Touchpoint.key).limit(1))
    if touchpoint_key is None:
        return
    add_interactions(session, [InteractionRow(case.customer_id, touchpoint_key, occurred_at=now, case_id=case.id,
                                              external_id=f"{SYSTEM_PREFIX}{case.id}:{seq}")],
                     now=now, allow_system_id=True)


def _ids(case: Case) -> dict:
    return {"caseId": str(case.id), "customerId": str(case.customer_id)}


def open_case(session: Session, *, customer_id: uuid.UUID, kind: CaseKind, channel: Channel, subject: str,
              description: str | None, actor: str | None, now: datetime | None = None,
              settings: JourneySettings = JourneySettings()) -> Case:
    """Open a case; ``settings`` gives the share of an SLA clock after which it is at risk."""
    with transaction(session):
        return open_case_in(session, customer_id=customer_id, kind=kind, channel=channel, subject=subject,
                            description=description, actor=actor, now=now, settings=settings)


def open_case_in(session: Session, *, customer_id: uuid.UUID, kind: CaseKind, channel: Channel, subject: str,
                 description: str | None, actor: str | None, now: datetime | None = None,
                 assignee_id: uuid.UUID | None = None, settings: JourneySettings = JourneySettings()) -> Case:
    """open_case inside the caller's transaction (helper: flushes, never commits)."""
    now = now or utcnow()
    kind, channel = CaseKind(kind), Channel(channel)
    subject = _text(subject, "subject", required=True, limit=300)
    description = _text(description, "description")
    customer = require_customer(session, customer_id, for_update=True)
    policy = session.get(SlaPolicy, customer.service_tier)
    if policy is None:
        raise LookupError(f"no sla_policy row for the {customer.service_tier.value} tier")
    clocks = sla.clocks(now, policy, settings.sla_at_risk_share)
    case = Case(customer_id=customer.id, kind=kind, channel=channel, subject=subject, description=description,
                status=S.RECEIVED, priority=PRIORITY[customer.service_tier], service_tier=customer.service_tier,
                opened_at=now, sla_policy=policy.name, reopen_count=0, compensation_points=0, updated_at=now,
                sla_alerts=[], assignee_id=assignee_id,
                first_response_due_at=clocks.first_response_due_at,
                first_response_at_risk_at=clocks.first_response_at_risk_at,
                resolution_due_at=clocks.resolution_due_at, resolution_at_risk_at=clocks.resolution_at_risk_at)
    session.add(case)
    session.flush()
    _record(session, case, CaseEventKind.OPENED, None, actor, now)
    events.emit(session, "case.opened", **_ids(case), kind=kind.value, priority=case.priority)
    if assignee_id is not None:
        events.emit(session, "case.assigned", **_ids(case), staffUserId=str(assignee_id))
    return case


def respond(session: Session, *, case_id: uuid.UUID, message: str, actor: str | None,
            now: datetime | None = None) -> Case:
    """Answer the customer; the first answer stops the first-response clock."""
    now = now or utcnow()
    message = _text(message, "message", required=True)
    with transaction(session):
        case = _locked_case(session, case_id)
        if case.status == S.CLOSED:
            raise DomainError(JourneyErrorCode.INVALID_TRANSITION, "A closed case takes no more responses.", None)
        first = case.first_responded_at is None
        if first:
            case.first_responded_at = now
        _record(session, case, CaseEventKind.RESPONSE, case.status, actor, now, note=message)
        events.emit(session, "case.responded", **_ids(case), first=first)
    return case


def transition(session: Session, *, case_id: uuid.UUID, to_status: CaseStatus, note: str | None,
               actor: str | None, now: datetime | None = None) -> Case:
    now = now or utcnow()
    to_status = CaseStatus(to_status)
    note = _text(note, "note")
    with transaction(session):
        case = _locked_case(session, case_id)
        from_status = case.status
        if to_status == S.RESOLVED:
            raise DomainError(JourneyErrorCode.INVALID_TRANSITION,
                              "A case is resolved with caseResolve, which records the "
                              "resolution.", "toStatus")
        if (from_status, to_status) not in TRANSITIONS:
            raise DomainError(JourneyErrorCode.INVALID_TRANSITION,
                              f"A {from_status.value} case cannot move to {to_status.value}.",
                              "toStatus")
        kind = CaseEventKind.TRANSITION
        if from_status == S.RESOLVED and to_status == S.DIAGNOSING:
            kind = CaseEventKind.REOPENED
            case.reopen_count += 1
            case.resolved_at = case.first_contact_resolution = None
        if to_status == S.CLOSED:
            case.closed_at = now
        case.status = to_status
        _record(session, case, kind, from_status, actor, now, note=note)
        events.emit(session, "case.status_changed", **_ids(case), fromStatus=from_status.value,
                    toStatus=to_status.value)
        if to_status == S.FOLLOWED_UP:
            events.emit(session, "case.followed_up", **_ids(case))
        elif to_status == S.CLOSED:
            events.emit(session, "case.closed", **_ids(case))
    return case


def assign(session: Session, *, case_id: uuid.UUID, staff_user_id: uuid.UUID | None, actor: str | None,
           now: datetime | None = None) -> Case:
    """Give the case to a member of the service desk, or take it back (None)."""
    from crm.auth.models import StaffUser
    now = now or utcnow()
    with transaction(session):
        case = _locked_case(session, case_id)
        staff = None
        if staff_user_id is not None:
            staff = session.get(StaffUser, staff_user_id)
            if staff is None:
                raise NotFound("No staff user has this id.", "staffUserId")
            if not has(staff.role, Capability.CASES_WORK):
                raise Invalid(f"A {staff.role.value} does not handle cases.", "staffUserId")
        if case.assignee_id == staff_user_id:
            return case
        case.assignee_id = staff_user_id
        _record(session, case, CaseEventKind.ASSIGNED, case.status, actor, now,
                note=f"assigned to {staff.name}" if staff else "unassigned")
        events.emit(session, "case.assigned", **_ids(case), staffUserId=str(staff_user_id) if staff else None)
    return case


def _check_compensation(points: int | None) -> None:
    if points is not None and (isinstance(points, bool) or not 1 <= points <= MAX_COMPENSATION):
        raise Invalid(f"compensationPoints is from 1 to {MAX_COMPENSATION}.", "input.compensationPoints")


def _same_resolution(case: Case, resolution: str, root_cause: str | None, points: int | None) -> bool:
    if (case.resolution, case.root_cause) != (resolution, root_cause):
        return False
    if points is not None:
        return case.compensation_points == points
    # Without points the call matches unless this very resolution granted some; after a reopen the
    # points may come from an earlier resolution, which the retry of a later one does not repeat.
    return case.compensation_points == 0 or case.reopen_count > 0


def resolve(session: Session, *, case_id: uuid.UUID, resolution: str, root_cause: str | None = None,
            compensation_points: int | None = None, actor: str | None, now: datetime | None = None) -> Case:
    """Resolve a case whose solution was proposed; the same call again answers the case as it is."""
    now = now or utcnow()
    resolution = _text(resolution, "input.resolution", required=True)
    root_cause = _text(root_cause, "input.rootCause")
    _check_compensation(compensation_points)
    with transaction(session):
        case = _locked_case(session, case_id)
        if case.status == S.RESOLVED:
            if _same_resolution(case, resolution, root_cause, compensation_points):
                return case
            raise DomainError(JourneyErrorCode.INVALID_TRANSITION, "This case is already resolved, differently.", None)
        if case.status != S.SOLUTION_PROPOSED:
            raise DomainError(JourneyErrorCode.INVALID_TRANSITION,
                              f"Only a case with a proposed solution can be resolved; "
                              f"this one is {case.status.value}.", None)
        if case.kind == CaseKind.COMPLAINT and root_cause is None:
            raise DomainError(JourneyErrorCode.REQUIRED,
                              "A complaint is resolved with its root cause.", "input.rootCause")
        if compensation_points is not None and case.compensation_points > 0:
            raise Invalid("This case was already compensated; a case is compensated once.",
                          "input.compensationPoints")
        from_status = case.status
        if case.first_responded_at is None:
            case.first_responded_at = now  # the resolution is the answer the customer gets
        contact_since = session.scalar(select(Interaction.id).where(
            Interaction.case_id == case.id, Interaction.occurred_at > case.first_responded_at,
            or_(Interaction.external_id.is_(None), Interaction.external_id.not_like(f"{SYSTEM_PREFIX}%"))).limit(1))
        case.first_contact_resolution = case.reopen_count == 0 and contact_since is None
        case.status, case.resolved_at, case.resolution, case.root_cause = S.RESOLVED, now, resolution, root_cause
        if compensation_points is not None:
            case.compensation_points = compensation_points
        _record(session, case, CaseEventKind.RESOLVED, from_status, actor, now, note=resolution)
        events.emit(session, "case.resolved", **_ids(case), firstContactResolution=case.first_contact_resolution)
        if compensation_points is not None:
            events.emit(session, "case.compensation_granted", **_ids(case), points=compensation_points,
                        reason=f"service compensation: {case.subject}")
    return case


def update_sla_policy(session: Session, *, service_tier: ServiceTier, first_response_minutes: int,
                      resolution_minutes: int, business_hours: dict | None, name: str | None = None,
                      now: datetime | None = None) -> SlaPolicy:
    """Change a tier's targets; cases already open keep the clocks they opened with."""
    try:
        service_tier = ServiceTier(service_tier)
    except ValueError:
        raise Invalid("Unknown service tier.", "input.serviceTier") from None
    for value, field in ((first_response_minutes, "input.firstResponseMinutes"),
                         (resolution_minutes, "input.resolutionMinutes")):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SLA_MINUTES:
            raise Invalid(f"Minutes are a whole number from 1 to {MAX_SLA_MINUTES}.", field)
    if first_response_minutes > resolution_minutes:
        raise Invalid("The resolution target cannot come before the first-response target.",
                      "input.resolutionMinutes")
    calendar = sla.validate_calendar(business_hours, "input.businessHours")
    if name is not None:
        name = _text(name, "input.name", required=True, limit=100)
    with transaction(session):
        policy = session.scalars(lock_for_update(select(SlaPolicy).where(SlaPolicy.service_tier == service_tier),
                                                 session)).first()
        if policy is None:
            policy = SlaPolicy(service_tier=service_tier, name=name or service_tier.value.title())
            session.add(policy)
        policy.name = name or policy.name
        policy.first_response_minutes, policy.resolution_minutes = first_response_minutes, resolution_minutes
        policy.business_hours, policy.updated_at = calendar, now or utcnow()
        session.flush()
    return policy


CASE_KEYS = [SortKey(Case.opened_at, lambda c: c.opened_at, "datetime", descending=True),
             SortKey(Case.id, lambda c: c.id, "uuid", descending=True)]


def list_cases(session: Session, *, first: int, after: str | None, statuses: list[CaseStatus] | None = None,
               sla_state: str | None = None, customer_id: uuid.UUID | None = None,
               now: datetime | None = None) -> Page:
    """The case queue, newest first."""
    stmt = select(Case)
    if statuses:
        stmt = stmt.where(Case.status.in_([CaseStatus(s) for s in statuses]))
    if sla_state is not None:
        stmt = stmt.where(sla.state_condition(sla_state, now or utcnow()))
    if customer_id is not None:
        stmt = stmt.where(Case.customer_id == customer_id)
    return keyset_page(session, stmt, ordering="cases", keys=CASE_KEYS, first=first, after=after)
