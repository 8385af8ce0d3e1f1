"""The service process at service level: opening, responses, transitions, resolution, FCR, compensation
credited to loyalty through the outbox, case steps on the after-sales map, the case queue."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from crm import events
from crm.customers.merge import merge_customers
from crm.customers.services import create_customer, set_service_tier
from crm.enums import Channel, ServiceTier
from crm.errors import DomainError
from crm.outbox import OutboxEntry
from crm.queue import work_once
from journeys.service import cases
from journeys.interactions.services import InteractionRow, record_interaction
from journeys.interactions.models import Interaction
from journeys.service.models import CaseEvent, CaseKind, CaseStatus
from journeys.maps.services import create_touchpoint
from loyalty import jobs
from loyalty.models import EntryKind, LedgerEntry, LoyaltyAccount

S = CaseStatus
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
PATH = [S.DIAGNOSING, S.SOLUTION_PROPOSED, S.RESOLVED, S.FOLLOWED_UP, S.CLOSED]
CREDIT_JOB = "loyalty.jobs.credit_case_compensation"
RECORD_EVENT = "tests.jobs_for_tests.record_event"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def customer(session, email: str, tier: ServiceTier | None = None):
    person = create_customer(session, data={"email": email}, actor="test")
    if tier is not None:
        set_service_tier(session, customer_id=person.id, tier=tier, reason="test", actor="test")
    return person


def open_case(session, person, *, kind=CaseKind.INQUIRY, channel=Channel.WEB, now=T0, **extra):
    return cases.open_case(session, customer_id=person.id, kind=kind, channel=channel,
                           subject=extra.pop("subject", "Broken zip"), description=extra.pop("description", None),
                           actor=extra.pop("actor", "sam"), now=now)


def advance(session, case, to: CaseStatus, now=T0, **resolve_args):
    """Walk ``case`` along the normal path from where it is up to ``to``."""
    start = PATH.index(case.status) + 1 if case.status in PATH else 0
    for status in PATH[start:PATH.index(to) + 1] if to in PATH else []:
        if status == S.RESOLVED:
            cases.resolve(session, case_id=case.id, resolution=resolve_args.get("resolution", "Replaced"),
                          root_cause=resolve_args.get("root_cause"), actor="sam", now=now)
        else:
            cases.transition(session, case_id=case.id, to_status=status, note=None, actor="sam", now=now)
    return case


def history(session, case) -> list[tuple]:
    rows = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))
    return [(e.seq, e.kind.value, e.from_status and e.from_status.value, e.to_status.value, e.actor, e.note, e.at)
            for e in rows]


def error_of(call) -> tuple:
    with pytest.raises(DomainError) as error:
        call()
    return error.value.code, error.value.field


def run_jobs(app, session) -> None:
    session.commit()  # end the test session's transaction: on SQLite it holds the write lock
    work_once(app)


def test_open_case_takes_priority_and_sla_from_the_service_tier(ctx, app):
    ann, vic = customer(ctx, "ann@example.com"), customer(ctx, "vic@example.com", ServiceTier.VIP)
    standard = open_case(ctx, ann, subject="  Broken zip  ", description="It broke.")
    assert (standard.status, standard.priority, standard.service_tier, standard.subject, standard.sla_policy) == (
        S.RECEIVED, 3, ServiceTier.STANDARD, "Broken zip", "Standard")
    # Standard: 240 minutes to respond, 72 hours to resolve, around the clock; at risk at 80%.
    assert (standard.first_response_due_at, standard.first_response_at_risk_at, standard.resolution_due_at,
            standard.resolution_at_risk_at) == (at(240), at(192), at(4320), at(3456))
    assert (standard.first_responded_at, standard.resolved_at, standard.first_contact_resolution) == (None, None, None)
    vip = open_case(ctx, vic, kind=CaseKind.COMPLAINT, channel=Channel.PHONE)
    assert (vip.priority, vip.service_tier, vip.sla_policy, vip.first_response_due_at, vip.resolution_due_at) == (
        1, ServiceTier.VIP, "VIP exclusive", at(5), at(240))
    preferred = open_case(ctx, customer(ctx, "pia@example.com", ServiceTier.PREFERRED))
    assert (preferred.priority, preferred.first_response_due_at, preferred.resolution_due_at) == (2, at(30), at(1440))
    assert history(ctx, standard) == [(1, "OPENED", None, "RECEIVED", "sam", None, T0)]


def test_open_case_errors(ctx):
    ann, dup = customer(ctx, "ann@example.com"), customer(ctx, "dup@example.com")
    merge_customers(ctx, primary_id=ann.id, duplicate_id=dup.id, actor="test")
    assert error_of(lambda: open_case(ctx, dup)) == ("NOT_FOUND", "customerId")
    assert error_of(lambda: open_case(ctx, ann, subject="   ")) == ("REQUIRED", "subject")
    assert error_of(lambda: open_case(ctx, ann, subject="x" * 301)) == ("INVALID", "subject")
    assert error_of(lambda: open_case(ctx, ann, description="x" * 10001)) == ("INVALID", "description")
    assert open_case(ctx, ann, subject="x" * 300, description="x" * 10000).subject == "x" * 300


def test_every_transition_allowed_and_forbidden(ctx):
    ann = customer(ctx, "ann@example.com")
    allowed = set()
    for from_status in S:
        for to_status in S:
            case = advance(ctx, open_case(ctx, ann), from_status)
            assert case.status == from_status
            try:
                cases.transition(ctx, case_id=case.id, to_status=to_status, note=None, actor="sam", now=at(1))
                allowed.add((from_status, to_status))
            except DomainError as error:
                assert (error.code, error.field) == ("INVALID_TRANSITION", "toStatus")
                if to_status == S.RESOLVED:
                    assert "caseResolve" in error.message
                ctx.refresh(case)
                assert case.status == from_status
    assert allowed == {(S.RECEIVED, S.DIAGNOSING), (S.DIAGNOSING, S.SOLUTION_PROPOSED), (S.RESOLVED, S.FOLLOWED_UP),
                       (S.FOLLOWED_UP, S.CLOSED), (S.RESOLVED, S.DIAGNOSING)}
    for status in S:
        if status != S.SOLUTION_PROPOSED and status != S.RESOLVED:
            case = advance(ctx, open_case(ctx, ann), status)
            assert error_of(lambda case=case: cases.resolve(ctx, case_id=case.id, resolution="x", actor=None)) == (
                "INVALID_TRANSITION", None)


def test_the_history_of_a_whole_case_life(ctx):
    case = open_case(ctx, customer(ctx, "ann@example.com"), actor="amy")
    cases.respond(ctx, case_id=case.id, message="  We are on it.  ", actor="sam", now=at(3))
    cases.transition(ctx, case_id=case.id, to_status=S.DIAGNOSING, note="checking", actor="sam", now=at(10))
    cases.transition(ctx, case_id=case.id, to_status=S.SOLUTION_PROPOSED, note=None, actor="sam", now=at(20))
    cases.resolve(ctx, case_id=case.id, resolution="Replaced", actor="sam", now=at(30))
    cases.transition(ctx, case_id=case.id, to_status=S.DIAGNOSING, note="still broken", actor="amy", now=at(40))
    assert (case.reopen_count, case.resolved_at, case.first_contact_resolution) == (1, None, None)
    cases.transition(ctx, case_id=case.id, to_status=S.SOLUTION_PROPOSED, note=None, actor="sam", now=at(50))
    cases.resolve(ctx, case_id=case.id, resolution="Refunded", actor="sam", now=at(60))
    cases.transition(ctx, case_id=case.id, to_status=S.FOLLOWED_UP, note="happy", actor="sam", now=at(70))
    cases.respond(ctx, case_id=case.id, message="Thanks!", actor="sam", now=at(75))
    closed = cases.transition(ctx, case_id=case.id, to_status=S.CLOSED, note=None, actor="sam", now=at(80))
    assert (closed.status, closed.closed_at, closed.resolved_at, closed.first_responded_at, closed.resolution,
            closed.first_contact_resolution, closed.reopen_count) == (
        S.CLOSED, at(80), at(60), at(3), "Refunded", False, 1)
    assert history(ctx, case) == [
        (1, "OPENED", None, "RECEIVED", "amy", None, T0),
        (2, "RESPONSE", "RECEIVED", "RECEIVED", "sam", "We are on it.", at(3)),
        (3, "TRANSITION", "RECEIVED", "DIAGNOSING", "sam", "checking", at(10)),
        (4, "TRANSITION", "DIAGNOSING", "SOLUTION_PROPOSED", "sam", None, at(20)),
        (5, "RESOLVED", "SOLUTION_PROPOSED", "RESOLVED", "sam", "Replaced", at(30)),
        (6, "REOPENED", "RESOLVED", "DIAGNOSING", "amy", "still broken", at(40)),
        (7, "TRANSITION", "DIAGNOSING", "SOLUTION_PROPOSED", "sam", None, at(50)),
        (8, "RESOLVED", "SOLUTION_PROPOSED", "RESOLVED", "sam", "Refunded", at(60)),
        (9, "TRANSITION", "RESOLVED", "FOLLOWED_UP", "sam", "happy", at(70)),
        (10, "RESPONSE", "FOLLOWED_UP", "FOLLOWED_UP", "sam", "Thanks!", at(75)),
        (11, "TRANSITION", "FOLLOWED_UP", "CLOSED", "sam", None, at(80)),
    ]
    assert error_of(lambda: cases.respond(ctx, case_id=case.id, message="hello?", actor="sam")) == (
        "INVALID_TRANSITION", None)


def test_respond_sets_the_first_response_once_and_its_errors(ctx):
    case = open_case(ctx, customer(ctx, "ann@example.com"))
    assert cases.respond(ctx, case_id=case.id, message="Hi", actor="sam", now=at(2)).first_responded_at == at(2)
    assert cases.respond(ctx, case_id=case.id, message="Again", actor="sam", now=at(9)).first_responded_at == at(2)
    assert error_of(lambda: cases.respond(ctx, case_id=case.id, message=" ", actor="sam")) == ("REQUIRED", "message")
    assert error_of(lambda: cases.respond(ctx, case_id=uuid.uuid4(), message="Hi", actor="sam")) == (
        "NOT_FOUND", "caseId")
    assert error_of(lambda: cases.transition(ctx, case_id=uuid.uuid4(), to_status=S.DIAGNOSING, note=None,
                                             actor="sam")) == ("NOT_FOUND", "caseId")
    assert [row[1] for row in history(ctx, case)] == ["OPENED", "RESPONSE", "RESPONSE"]


def test_first_contact_resolution(ctx):
    ann = customer(ctx, "ann@example.com")
    for stage in ("reception", "diagnosis", "solution"):
        create_touchpoint(ctx, key=f"web.{stage}", name=stage, channel=Channel.WEB, stage=stage,
                          journey_map="after-sales")

    def contact(case, minutes):
        record_interaction(ctx, InteractionRow(ann.id, "web.reception", occurred_at=at(minutes), case_id=case.id),
                           now=at(minutes))

    # The customer wrote in after the first response: not resolved at first contact.
    chased = open_case(ctx, ann)
    cases.respond(ctx, case_id=chased.id, message="On it", actor="sam", now=at(5))
    contact(chased, 30)
    assert advance(ctx, chased, S.RESOLVED, now=at(60)).first_contact_resolution is False
    # Contact before the first response, and the system's own case steps after it, do not count.
    early = open_case(ctx, ann)
    contact(early, 2)
    cases.respond(ctx, case_id=early.id, message="On it", actor="sam", now=at(5))
    assert advance(ctx, early, S.RESOLVED, now=at(60)).first_contact_resolution is True
    assert ctx.scalar(select(func.count()).select_from(Interaction).where(
        Interaction.case_id == early.id, Interaction.external_id.like("case:%"))) == 4
    # No response before the resolution: the resolution is the first response.
    direct = advance(ctx, open_case(ctx, ann), S.RESOLVED, now=at(45))
    assert (direct.first_responded_at, direct.first_contact_resolution) == (at(45), True)
    # A reopened case was not resolved at first contact, whatever happens next.
    cases.transition(ctx, case_id=direct.id, to_status=S.DIAGNOSING, note=None, actor="sam", now=at(50))
    assert advance(ctx, direct, S.RESOLVED, now=at(55)).first_contact_resolution is False


def test_a_complaint_needs_its_root_cause_and_resolve_validates_its_input(ctx):
    complaint = advance(ctx, open_case(ctx, customer(ctx, "ann@example.com"), kind=CaseKind.COMPLAINT),
                        S.SOLUTION_PROPOSED)

    def resolve(**kwargs):
        return lambda: cases.resolve(ctx, case_id=complaint.id, actor="sam", **{"resolution": "Refund", **kwargs})
    assert error_of(resolve()) == ("REQUIRED", "input.rootCause")
    assert error_of(resolve(root_cause="  ")) == ("REQUIRED", "input.rootCause")
    assert error_of(resolve(resolution=" ", root_cause="Courier")) == ("REQUIRED", "input.resolution")
    for points in (0, -5, 100_001):
        assert error_of(resolve(root_cause="Courier", compensation_points=points)) == (
            "INVALID", "input.compensationPoints")
    done = cases.resolve(ctx, case_id=complaint.id, resolution=" Refund ", root_cause=" Courier ", actor="sam",
                         now=at(90))
    assert (done.status, done.resolution, done.root_cause, done.resolved_at) == (S.RESOLVED, "Refund", "Courier",
                                                                                  at(90))


@pytest.fixture
def recorded_events():
    """Subscribes a recording job to every case topic; returns a reader of the payloads emitted so far."""
    saved = {topic: list(subs) for topic, subs in events._SUBSCRIBERS.items()}
    for topic in ("opened", "responded", "status_changed", "followed_up", "closed", "resolved",
                  "compensation_granted"):
        events.subscribe(f"case.{topic}", RECORD_EVENT)
    yield lambda session: [row.args[0] for row in session.scalars(
        select(OutboxEntry).where(OutboxEntry.func == RECORD_EVENT).order_by(OutboxEntry.id))]
    events._SUBSCRIBERS.clear()
    events._SUBSCRIBERS.update(saved)


def test_each_step_emits_its_events(ctx, recorded_events):
    ann = customer(ctx, "ann@example.com")
    case = open_case(ctx, ann, kind=CaseKind.REPAIR)
    cases.respond(ctx, case_id=case.id, message="Hi", actor="sam", now=at(1))
    advance(ctx, case, S.SOLUTION_PROPOSED, now=at(2))
    cases.resolve(ctx, case_id=case.id, resolution="Fixed", compensation_points=250, actor="sam", now=at(3))
    advance(ctx, case, S.CLOSED, now=at(4))
    ids = {"caseId": str(case.id), "customerId": str(ann.id)}

    def changed(a, b):
        return {"topic": "case.status_changed", **ids, "fromStatus": a, "toStatus": b}
    assert recorded_events(ctx) == [
        {"topic": "case.opened", **ids, "kind": "REPAIR", "priority": 3},
        {"topic": "case.responded", **ids, "first": True},
        changed("RECEIVED", "DIAGNOSING"), changed("DIAGNOSING", "SOLUTION_PROPOSED"),
        {"topic": "case.resolved", **ids, "firstContactResolution": True},
        {"topic": "case.compensation_granted", **ids, "points": 250, "reason": "service compensation: Broken zip"},
        changed("RESOLVED", "FOLLOWED_UP"), {"topic": "case.followed_up", **ids},
        changed("FOLLOWED_UP", "CLOSED"), {"topic": "case.closed", **ids},
    ]


def compensations(session, case) -> list[tuple]:
    return [(e.customer_id, e.points, e.reason) for e in session.scalars(
        select(LedgerEntry).where(LedgerEntry.case_id == case.id, LedgerEntry.kind == EntryKind.COMPENSATION))]


def test_compensation_is_credited_exactly_once(app, ctx):
    ann = customer(ctx, "ann@example.com")
    case = advance(ctx, open_case(ctx, ann), S.SOLUTION_PROPOSED, now=at(5))

    def resolve(**changes):
        args = {"resolution": "Refunded", "root_cause": None, "compensation_points": 500, **changes}
        return cases.resolve(ctx, case_id=case.id, actor="sam", now=at(30), **args)
    first = resolve()
    assert (first.status, first.compensation_points) == (S.RESOLVED, 500)
    # The same call again (a retry) answers the case as it is, with no second event or job.
    assert resolve().resolved_at == at(30)
    assert len(history(ctx, case)) == 4
    assert error_of(lambda: resolve(compensation_points=600)) == ("INVALID_TRANSITION", None)
    assert error_of(lambda: resolve(compensation_points=None)) == ("INVALID_TRANSITION", None)
    assert error_of(lambda: resolve(resolution="Replaced")) == ("INVALID_TRANSITION", None)
    jobs_written = ctx.scalars(select(OutboxEntry).where(OutboxEntry.func == CREDIT_JOB)).all()
    assert [row.args[0]["points"] for row in jobs_written] == [500]

    run_jobs(app, ctx)
    run_jobs(app, ctx)
    with app.app_context():  # the job delivered twice (a relay that died before marking its row)
        jobs.credit_case_compensation(jobs_written[0].args[0])
    assert compensations(ctx, case) == [(ann.id, 500, "service compensation: Broken zip")]
    assert ctx.get(LoyaltyAccount, ann.id).balance == 500

    # Reopened and resolved again: the case was compensated already, once is all it gets.
    cases.transition(ctx, case_id=case.id, to_status=S.DIAGNOSING, note=None, actor="sam", now=at(40))
    advance(ctx, case, S.SOLUTION_PROPOSED, now=at(41))
    assert error_of(lambda: resolve(compensation_points=100)) == ("INVALID", "input.compensationPoints")
    again = resolve(compensation_points=None, resolution="Replaced")
    assert (again.status, again.compensation_points) == (S.RESOLVED, 500)
    assert resolve(compensation_points=None, resolution="Replaced").status == S.RESOLVED  # its retry
    run_jobs(app, ctx)
    assert compensations(ctx, case) == [(ann.id, 500, "service compensation: Broken zip")]


def test_compensation_follows_a_merged_customer(app, ctx):
    dup, ann = customer(ctx, "dup@example.com"), customer(ctx, "ann@example.com")
    case = advance(ctx, open_case(ctx, dup), S.SOLUTION_PROPOSED)
    cases.resolve(ctx, case_id=case.id, resolution="Refunded", compensation_points=70, actor="sam", now=at(9))
    merge_customers(ctx, primary_id=ann.id, duplicate_id=dup.id, actor="test")
    run_jobs(app, ctx)
    assert compensations(ctx, case) == [(ann.id, 70, "service compensation: Broken zip")]


def test_case_steps_land_on_the_after_sales_map(ctx):
    ann = customer(ctx, "ann@example.com")
    for key, channel, stage in (("a.phone", Channel.PHONE, "reception"), ("b.web", Channel.WEB, "reception"),
                                ("c.web", Channel.WEB, "diagnosis"), ("d.store", Channel.STORE, "solution"),
                                ("e.email", Channel.EMAIL, "solution")):
        create_touchpoint(ctx, key=key, name=key, channel=channel, stage=stage, journey_map="after-sales")
    create_touchpoint(ctx, key="f.web", name="f", channel=Channel.WEB, stage="purchase", journey_map="purchase")
    case = open_case(ctx, ann, channel=Channel.WEB)
    cases.respond(ctx, case_id=case.id, message="Hi", actor="sam", now=at(1))
    advance(ctx, case, S.CLOSED, now=at(2))
    steps = ctx.execute(select(Interaction.external_id, Interaction.stage, Interaction.channel, Interaction.case_id,
                               Interaction.customer_id, Interaction.occurred_at)
                        .order_by(Interaction.external_id)).all()
    # The case's channel where the stage has it, else the stage's first touchpoint by key; no
    # follow-up touchpoint, no step; responses and closing are not stages.
    assert [tuple(s) for s in steps] == [
        (f"case:{case.id}:1", "reception", Channel.WEB, case.id, ann.id, T0),
        (f"case:{case.id}:3", "diagnosis", Channel.WEB, case.id, ann.id, at(2)),
        (f"case:{case.id}:4", "solution", Channel.STORE, case.id, ann.id, at(2)),
        (f"case:{case.id}:5", "solution", Channel.STORE, case.id, ann.id, at(2)),
    ]


# ---------------------------------------------------------------- service metrics

def test_service_metrics_by_hand(ctx, app, count_statements, monkeypatch):
    from crm.customers.models import Customer
    from crm.customers.selectors import FILTER_PROVIDERS
    from journeys.service.metrics import KpiTarget, service_metrics
    from journeys.service.models import SurveyKind
    from journeys.settings import JourneySettings
    from journeys.service.surveys import submit_response

    def t(month, day, hour, minute=0):
        return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)
    ann, bob = customer(ctx, "ann@example.com"), customer(ctx, "bob@example.com")
    vic = customer(ctx, "vic@example.com", ServiceTier.VIP)
    create_touchpoint(ctx, key="phone.desk", name="Desk", channel=Channel.PHONE, stage="reception",
                      journey_map="after-sales")

    def make(person, channel, opened, responded=None, resolved=None, contact=None):
        case = open_case(ctx, person, channel=channel, now=opened)
        if responded:
            cases.respond(ctx, case_id=case.id, message="Hi", actor="sam", now=responded)
        if contact:
            record_interaction(ctx, InteractionRow(person.id, "phone.desk", occurred_at=contact, case_id=case.id),
                               now=contact)
        if resolved:
            advance(ctx, case, S.RESOLVED, now=resolved)
        return case
    # 10 minutes to answer, resolved in time at first contact.
    c1 = make(ann, Channel.WEB, t(6, 1, 9), t(6, 1, 9, 10), t(6, 1, 12))
    # VIP: answered after 20 minutes (5 allowed), chased by the customer, resolved in time.
    c2 = make(vic, Channel.PHONE, t(6, 2, 10), t(6, 2, 10, 20), t(6, 2, 11), contact=t(6, 2, 10, 30))
    make(ann, Channel.PHONE, t(6, 3, 8))                               # never answered: breached
    c4 = make(ann, Channel.WEB, t(6, 7, 20), t(6, 7, 20, 6))           # answered in 6 minutes, still open
    make(ann, Channel.WEB, t(5, 30, 10), t(5, 30, 10, 30), t(6, 2, 9))  # opened before, resolved in the period
    make(vic, Channel.WEB, t(6, 8, 0))                                 # opened at `to`: outside
    for person, kind, score, case, day in ((ann, SurveyKind.CSAT, 5, c1, 2), (vic, SurveyKind.CSAT, 2, c2, 3),
                                           (ann, SurveyKind.CSAT, 4, None, 9), (ann, SurveyKind.NPS, 10, None, 2),
                                           (vic, SurveyKind.NPS, 6, None, 4), (bob, SurveyKind.NPS, 8, None, 5),
                                           (ann, SurveyKind.NPS, 9, c4, 7), (bob, SurveyKind.CES, 3, None, 5)):
        submit_response(ctx, customer_id=person.id, kind=kind, score=score, case_id=case and case.id,
                        now=t(6, day, 12))
    settings = JourneySettings(target_first_response_minutes=15, target_nps=20)

    def figures(**filters):
        result = service_metrics(ctx, from_=filters.pop("from_", t(6, 1, 0)), to=filters.pop("to", t(6, 8, 0)),
                                 settings=settings, now=t(6, 10, 12), **filters)
        return (result.cases_opened, result.cases_resolved, result.average_first_response_minutes,
                result.first_contact_resolution_rate, result.sla_compliance_rate, result.csat_average,
                result.csat_responses, result.nps, result.promoters, result.passives, result.detractors)

    with count_statements() as statements:
        everything = service_metrics(ctx, from_=t(6, 1, 0), to=t(6, 8, 0), settings=settings, now=t(6, 10, 12))
    assert len(statements) == 2
    # SLA: c1 met; c2 (late answer) and c3 (never answered) breached; c4 still running: not counted.
    assert figures() == (4, 3, 12.0, 2 / 3, 1 / 3, 3.5, 2, 25.0, 2, 1, 1)
    assert everything.targets == [KpiTarget("averageFirstResponseMinutes", 15.0, 12.0, True),
                                  KpiTarget("firstContactResolutionRate", 0.85, 2 / 3, False),
                                  KpiTarget("slaComplianceRate", 0.95, 1 / 3, False),
                                  KpiTarget("csatAverage", 4.5, 3.5, False), KpiTarget("nps", 20.0, 25.0, True)]
    assert figures(service_tiers=[ServiceTier.VIP]) == (1, 1, 20.0, 0.0, 0.0, 2.0, 1, -100.0, 0, 0, 1)
    assert figures(service_tiers=[ServiceTier.STANDARD]) == (3, 2, 8.0, 1.0, 0.5, 5.0, 1, 200 / 3, 2, 1, 0)
    assert figures(channels=[Channel.WEB]) == (2, 2, 8.0, 1.0, 1.0, 5.0, 1, 100.0, 1, 0, 0)
    phone = service_metrics(ctx, from_=t(6, 1, 0), to=t(6, 8, 0), channels=[Channel.PHONE], settings=settings,
                            now=t(6, 10, 12))
    assert (phone.cases_opened, phone.cases_resolved, phone.sla_compliance_rate, phone.csat_average, phone.nps,
            phone.targets[-1]) == (2, 1, 0.0, 2.0, None, KpiTarget("nps", 20.0, None, None))
    assert figures(from_=None, to=None)[:2] == (6, 3)
    assert figures(from_=t(6, 2, 0), to=None)[:2] == (4, 2)
    # No segments domain yet: no customer is in a segment. With one plugged in, its members count.
    segment = uuid.uuid4()
    assert figures(segment_id=segment) == (0, 0, None, None, None, None, 0, None, 0, 0, 0)
    monkeypatch.setitem(FILTER_PROVIDERS, "segment_id",
                        lambda stmt, sid: stmt.where(Customer.id.in_([bob.id] if sid == segment else [])))
    assert figures(segment_id=segment) == (0, 0, None, None, None, None, 0, 0.0, 0, 1, 0)
    # Tiers are the customer's tier now, not when the case opened.
    set_service_tier(ctx, customer_id=vic.id, tier=ServiceTier.PREFERRED, reason="test", actor="test")
    assert figures(service_tiers=[ServiceTier.VIP])[:2] == (0, 0)
    assert figures(service_tiers=[ServiceTier.PREFERRED])[:2] == (1, 1)
    assert error_of(lambda: service_metrics(ctx, from_=t(6, 2, 0), to=t(6, 2, 0), settings=settings)) == (
        "INVALID", "filter.to")
