"""The demo's service process: cases at every status, and survey answers after purchases and cases.

About one customer in fifteen, among buyers, had a case this year: the older ones were taken all the way
to CLOSED (some through a reopening), the newest are still open, one at each status. Most buyers answer
an NPS survey, with a mix that follows their lifecycle stage; CSAT and CES follow purchases (and the
journey's mood and pains, journeys/interactions/demo.py) and resolved cases.

Every step goes through the case and survey services with the clock at its moment (``crm.demo.story``):
the case history, its SLA clocks and the events the steps emit all carry the moment it happened.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from crm.demo.story import StoryClock
from crm.enums import Channel, LifecycleStage
from journeys.interactions.demo import JourneyCustomer, days, record, touch
from journeys.service import cases
from journeys.service.models import Case, CaseKind, CaseStatus, SurveyKind
from journeys.service.surveys import submit_response
from journeys.settings import JourneySettings

C = Channel
CASE_CHANNELS = ((C.PHONE, 35), (C.CHAT, 20), (C.EMAIL, 15), (C.STORE, 15), (C.WEB, 10), (C.SOCIAL, 5))
# (kind, subject, description, root cause or None, resolution)
CASES = (
    (CaseKind.COMPLAINT, "Order arrived eleven days late", "Paid for express shipping; the parcel sat at the hub.",
     "carrier capacity shortage during the sale week", "Refunded the express fee and apologised."),
    (CaseKind.COMPLAINT, "Charged twice for one order", "Two identical card payments on the statement.",
     "payment provider captured twice after a checkout timeout", "Refunded the second payment the same day."),
    (CaseKind.COMPLAINT, "Waited 40 minutes on the hotline", "Gave up twice before reaching anyone.",
     "hotline understaffed on Monday mornings", "Called back, answered the question, shifts rebalanced."),
    (CaseKind.COMPLAINT, "Parcel damaged on arrival", "The box was crushed and the tent pole bent.",
     "packaging too thin for long items", "Sent a replacement pole by express."),
    (CaseKind.REPAIR, "Espresso machine leaks water", "Water pools under the machine after two shots.",
     "faulty pump seal in one production batch", "Replaced the pump seal at the service centre."),
    (CaseKind.REPAIR, "Headphones: left ear cup cuts out", "Sound drops on the left side when moving.",
     None, "Replaced the headband cable under warranty."),
    (CaseKind.REPAIR, "GPS watch will not charge", "No reaction on the charger since yesterday.",
     None, "Cleaned the contacts and updated the firmware."),
    (CaseKind.RETURN, "Return hiking boots: wrong size", "Half a size too small.", None,
     "Exchanged for the next size in store."),
    (CaseKind.RETURN, "Return sleeping bag: too warm for summer", "Unused, original packaging.", None,
     "Refunded after the return arrived."),
    (CaseKind.INQUIRY, "Is the shell jacket machine-washable?", "Care label is unclear.", None,
     "Sent the care guide: 30 degrees, no softener."),
    (CaseKind.INQUIRY, "Invoice with the company address", "Needed for expenses.", None,
     "Issued a corrected invoice."),
    (CaseKind.FEEDBACK, "The app checkout could be simpler", "Too many steps for a repeat order.", None,
     "Passed to the product team; one-tap reorder is planned."),
)
OPEN_STATUSES = (CaseStatus.RECEIVED, CaseStatus.DIAGNOSING, CaseStatus.SOLUTION_PROPOSED, CaseStatus.RESOLVED,
                 CaseStatus.FOLLOWED_UP)
# NPS weights of (detractor 0-6, passive 7-8, promoter 9-10) by lifecycle stage.
NPS_MIX = {LifecycleStage.ADVOCATE: (0, 5, 95), LifecycleStage.LOYAL: (6, 24, 70),
           LifecycleStage.DEVELOPING: (12, 33, 55), LifecycleStage.NEW: (15, 35, 50),
           LifecycleStage.AT_RISK: (45, 35, 20), LifecycleStage.CHURNED: (65, 25, 10)}


# Days each step of a case takes, at random within (low, high).
STEP_DAYS = {"respond": (0.002, 0.25), "chase": (0.1, 2), CaseStatus.DIAGNOSING: (0.02, 1),
             CaseStatus.SOLUTION_PROPOSED: (0.1, 3), CaseStatus.RESOLVED: (0.02, 2),
             CaseStatus.FOLLOWED_UP: (2, 7), CaseStatus.CLOSED: (1, 3)}


def _step_times(rng: random.Random, opened: datetime, steps: list, now: datetime) -> list[datetime]:
    """Moments of a case's steps, squeezed in before ``now`` for a case opened recently."""
    if not steps:
        return []
    gaps = [days(rng, *STEP_DAYS[step]) for step in steps]
    total = sum(gaps, timedelta())
    scale = min(1.0, (now - timedelta(minutes=10) - opened) / total)
    times, at = [], opened
    for gap in gaps:
        at += gap * scale
        times.append(at)
    return times


def seed_cases(session: Session, story: StoryClock, customers: list[JourneyCustomer], now: datetime,
               agents: list[str], settings: JourneySettings) -> list[tuple]:
    """About one case per 15 customers, among buyers: the newest still open, at every status; the rest closed;
    their SLA clocks by the deployment's ``settings`` (CRM_JOURNEYS_SLA_AT_RISK_SHARE).

    Returns (customer, case) of the resolved ones, for their surveys."""
    rng = random.Random("2026:cases")
    buyers = [c for c in customers if c.orders]
    picked = rng.sample(buyers, min(len(buyers), max(1, len(customers) // 15))) if buyers else []
    open_count = round(len(picked) * 0.3)
    # Oldest first; the open ones are the recent ones.
    ages = sorted((rng.uniform(14, 340) for _ in range(len(picked) - open_count)), reverse=True) + \
        sorted((rng.uniform(0.1, 6) for _ in range(open_count)), reverse=True)
    templates = rng.sample(CASES, len(CASES))  # every subject once before any comes again
    resolved = []
    for number, (c, age) in enumerate(zip(picked, ages)):
        from_newest = len(picked) - 1 - number
        target = OPEN_STATUSES[from_newest % len(OPEN_STATUSES)] if from_newest < open_count else CaseStatus.CLOSED
        case = _one_case(session, story, c, rng, templates[number % len(templates)], now - timedelta(days=age),
                         target, now, rng.choice(agents), reopen=target == CaseStatus.CLOSED and number % 6 == 2,
                         settings=settings)
        if case.resolved_at is not None:
            resolved.append((c, case))
    return resolved


def _one_case(session, story: StoryClock, c: JourneyCustomer, rng, template: tuple, opened: datetime,
              target: CaseStatus, now: datetime, agent: str, reopen: bool, settings: JourneySettings) -> Case:
    """One case taken from RECEIVED to ``target`` (through a reopening if ``reopen``), step by step, the clock
    at each step's moment."""
    kind, subject, description, root_cause, resolution = template
    channel = rng.choices([ch for ch, _ in CASE_CHANNELS], weights=[w for _, w in CASE_CHANNELS])[0]
    if kind == CaseKind.REPAIR and rng.random() < 0.5:
        channel = C.STORE  # brought to the repair desk
    fix = [CaseStatus.DIAGNOSING, CaseStatus.SOLUTION_PROPOSED, CaseStatus.RESOLVED]
    path = fix + (fix if reopen else []) + [CaseStatus.FOLLOWED_UP, CaseStatus.CLOSED]
    path = path[:len(path) - path[::-1].index(target)] if target != CaseStatus.RECEIVED else []
    chase = bool(path) and rng.random() < 0.3  # the customer chased: no first-contact resolution then
    steps = (["respond"] if path else []) + (["chase"] if chase else []) + path
    times = iter(_step_times(rng, opened, steps, now))
    points = rng.choice((250, 500, 1000)) if kind == CaseKind.COMPLAINT and rng.random() < 0.6 else None

    case = cases.open_case(session, customer_id=c.id, kind=kind, channel=channel, subject=subject,
                           description=description, actor="customer", now=story.at(opened), settings=settings)
    if path:
        cases.respond(session, case_id=case.id, message="Thanks for reaching out, we are on it.", actor=agent,
                      now=story.at(next(times)))
    if chase:
        row = touch(c, "phone.hotline", next(times), now, pain_boost=2)
        row.case_id = case.id
        story.at(row.occurred_at)
        record(session, [row])
    for status in path:
        at = story.at(next(times))
        if status == CaseStatus.RESOLVED:
            case = cases.resolve(session, case_id=case.id, resolution=resolution, root_cause=root_cause,
                                 compensation_points=points, actor=agent, now=at)
            points = None  # a case is compensated once, even when reopened
        else:
            note = "The first fix did not hold." if case.status == CaseStatus.RESOLVED and \
                status == CaseStatus.DIAGNOSING else None
            case = cases.transition(session, case_id=case.id, to_status=status, note=note, actor=agent, now=at)
    return case


def _clamp(score: int, low: int, high: int) -> int:
    return max(low, min(high, score))


def seed_surveys(session: Session, story: StoryClock, customers: list[JourneyCustomer], resolved: list[tuple],
                 now: datetime) -> None:
    """NPS from most buyers (a realistic mix by lifecycle stage), CSAT and CES after purchases and cases, each
    answered with the clock at its moment.

    CES is read as agreement with "it was easy": 1 very hard .. 7 very easy."""
    for c in customers:
        rng = c.rng
        if not c.orders:
            continue
        at = story.at(min(now - timedelta(hours=1), max(c.orders[-1][0], now - timedelta(days=300)) + days(rng, 1, 20)))
        if rng.random() < (0.3 if c.stage == LifecycleStage.CHURNED else 0.6):
            band = rng.choices(((0, 6), (7, 8), (9, 10)), weights=NPS_MIX.get(c.stage, (20, 35, 45)))[0]
            score = rng.randint(*band)
            if min(c.feelings, default=0) <= -2 and score > 6 and rng.random() < 0.25:  # a bad moment weighs
                score -= 2
            comments = (("Great gear, fair prices.", "The repair desk staff were brilliant.", None, None)
                        if score >= 9 else ("Delivery could be faster.", None, None) if score >= 7 else
                        ("Waited far too long for support.", "Too many emails.", "Sold out every time I look."))
            submit_response(session, customer_id=c.id, kind=SurveyKind.NPS, score=score, now=at,
                            comment=rng.choice(comments))
        if c.orders[-1][0] >= now - timedelta(days=365) and rng.random() < 0.45:
            mood = c.mood
            base = 5 if mood >= 0.9 else 4 if mood >= 0.4 else 3 if mood >= 0 else 2
            submit_response(session, customer_id=c.id, kind=SurveyKind.CSAT, now=at,
                            score=_clamp(base + rng.choice((-1, 0, 0, 0, 1)), 1, 5))
            if rng.random() < 0.5:
                easy = 3 if "confusing-setup" in c.pains else 6
                submit_response(session, customer_id=c.id, kind=SurveyKind.CES, now=at,
                                score=_clamp(easy + rng.choice((-1, 0, 0, 1)), 1, 7))
    for c, case in resolved:
        rng = c.rng
        if rng.random() < 0.3:  # not everyone answers
            continue
        at = story.at(min(now - timedelta(minutes=30), case.resolved_at + days(rng, 0.1, 2)))
        score = (4 if case.first_contact_resolution else 3) + (1 if case.compensation_points else 0) \
            - case.reopen_count + rng.choice((-1, 0, 0, 1))
        submit_response(session, customer_id=c.id, kind=SurveyKind.CSAT, case_id=case.id, now=at,
                        score=_clamp(score, 1, 5))
        submit_response(session, customer_id=c.id, kind=SurveyKind.CES, case_id=case.id, now=at,
                        score=_clamp(score + 2 + rng.choice((-1, 0)), 1, 7))

