"""The journeys part of the demo: a touchpoint catalogue, a year of interactions, cases and surveys.

Called by ``crm.demo`` once the customers and their orders are in. Journeys follow
each customer's real orders: browsing before an order on the channel they buy on,
the checkout at the order's moment, onboarding and usage after it, with drop-off at
every step; customers who never bought only look around. Emotions sink at the known
pain spots (a long wait on the hotline, an out-of-stock product page, a delayed
delivery, a confusing setup), so the journey map has something to show.

Everything goes through the services (record_interactions in batches, open_case and
its steps with ``now=``, submit_response). Randomness comes from one generator per
customer seeded with SEED and the customer's email or externalId, so a seed gives the
same data every time, relative to the moment of seeding. A step already seeded (by an
interrupted run) is skipped per customer: interactions, cases and surveys each.
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.customers.models import Customer, Order
from crm.enums import Channel, LifecycleStage
from journeys.service import cases
from journeys.interactions.services import InteractionRow, record_interactions
from journeys.interactions.models import Interaction
from journeys.maps.models import Touchpoint
from journeys.service.models import Case, CaseKind, CaseStatus, SurveyKind, SurveyResponse
from journeys.service.surveys import submit_response
from journeys.maps.services import create_touchpoint

C = Channel
# (key, name, channel, map, stage): every channel, every stage of both default maps.
TOUCHPOINTS = (
    ("social.instagram-ad", "Instagram ad", C.SOCIAL, "purchase", "awareness"),
    ("web.blog-article", "Gear guide on the blog", C.WEB, "purchase", "awareness"),
    ("email.newsletter", "Newsletter", C.EMAIL, "purchase", "awareness"),
    ("store.window-display", "Store window display", C.STORE, "purchase", "awareness"),
    ("web.product-page", "Product page", C.WEB, "purchase", "consideration"),
    ("app.product-page", "Product page in the app", C.APP, "purchase", "consideration"),
    ("social.reviews", "Reviews and unboxing videos", C.SOCIAL, "purchase", "consideration"),
    ("chat.pre-sales", "Pre-sales chat", C.CHAT, "purchase", "consideration"),
    ("store.showroom", "Showroom and test area", C.STORE, "purchase", "consideration"),
    ("phone.sales-line", "Sales line", C.PHONE, "purchase", "consideration"),
    ("web.checkout", "Web checkout", C.WEB, "purchase", "purchase"),
    ("app.checkout", "App checkout", C.APP, "purchase", "purchase"),
    ("store.till", "Store till", C.STORE, "purchase", "purchase"),
    ("phone.order-line", "Order by phone", C.PHONE, "purchase", "purchase"),
    ("email.order-confirmation", "Order confirmation", C.EMAIL, "purchase", "purchase"),
    ("sms.delivery-update", "Delivery updates by text", C.SMS, "purchase", "purchase"),
    ("email.welcome-series", "Welcome emails", C.EMAIL, "purchase", "onboarding"),
    ("app.setup-wizard", "Product setup in the app", C.APP, "purchase", "onboarding"),
    ("self-service.setup-guide", "Online setup guide", C.SELF_SERVICE, "purchase", "onboarding"),
    ("push.first-steps", "First-steps tips", C.PUSH, "purchase", "onboarding"),
    ("app.daily-use", "App in daily use", C.APP, "purchase", "usage"),
    ("email.care-tips", "Care and usage tips", C.EMAIL, "purchase", "usage"),
    ("social.community", "Owners' community", C.SOCIAL, "purchase", "usage"),
    ("phone.hotline", "Service hotline", C.PHONE, "after-sales", "reception"),
    ("chat.support", "Support chat", C.CHAT, "after-sales", "reception"),
    ("email.support", "Support mailbox", C.EMAIL, "after-sales", "reception"),
    ("web.support-form", "Support form", C.WEB, "after-sales", "reception"),
    ("store.service-counter", "Store service counter", C.STORE, "after-sales", "reception"),
    ("social.support-dm", "Direct message to support", C.SOCIAL, "after-sales", "reception"),
    ("self-service.help-centre", "Help centre search", C.SELF_SERVICE, "after-sales", "reception"),
    ("store.repair-desk", "Repair desk", C.STORE, "after-sales", "diagnosis"),
    ("service-centre.diagnosis", "Service centre diagnosis", C.SERVICE_CENTER, "after-sales", "diagnosis"),
    ("phone.troubleshooting", "Guided troubleshooting by phone", C.PHONE, "after-sales", "diagnosis"),
    ("self-service.troubleshooter", "Online troubleshooter", C.SELF_SERVICE, "after-sales", "diagnosis"),
    ("service-centre.repair", "Service centre repair", C.SERVICE_CENTER, "after-sales", "solution"),
    ("store.exchange", "Exchange in store", C.STORE, "after-sales", "solution"),
    ("self-service.returns-portal", "Returns portal", C.SELF_SERVICE, "after-sales", "solution"),
    # Case steps land on the stage's touchpoint of the case's channel, else the first by key: this one.
    ("email.solution-proposal", "Solution proposal", C.EMAIL, "after-sales", "solution"),
    ("email.satisfaction-survey", "Satisfaction survey", C.EMAIL, "after-sales", "follow-up"),
    ("phone.follow-up-call", "Follow-up call", C.PHONE, "after-sales", "follow-up"),
)

AWARENESS = ("social.instagram-ad", "web.blog-article", "email.newsletter", "store.window-display")
CONSIDER = {C.WEB: ("web.product-page", "web.product-page", "social.reviews", "chat.pre-sales"),
            C.APP: ("app.product-page", "app.product-page", "social.reviews"),
            C.STORE: ("store.showroom", "store.showroom", "web.product-page"),
            C.PHONE: ("phone.sales-line", "web.product-page")}
CHECKOUT = {C.WEB: "web.checkout", C.APP: "app.checkout", C.STORE: "store.till", C.PHONE: "phone.order-line"}
ONBOARDING = ("email.welcome-series", "app.setup-wizard", "self-service.setup-guide", "push.first-steps")
USAGE = ("app.daily-use", "app.daily-use", "email.care-tips", "social.community")
# Touches where nobody asks how it felt most of the time: an ad seen, an email opened.
PASSIVE = {"social.instagram-ad", "email.newsletter", "store.window-display", "email.order-confirmation",
           "email.welcome-series", "push.first-steps", "email.care-tips"}
# The known pain spots: (pain point, chance) per touchpoint.
PAIN_SPOTS = {
    "web.product-page": (("out-of-stock", 0.12), ("unclear-sizing", 0.05)),
    "app.product-page": (("out-of-stock", 0.12),),
    "store.showroom": (("out-of-stock", 0.15), ("no-staff-available", 0.08)),
    "chat.pre-sales": (("bot-loop", 0.12),),
    "phone.sales-line": (("long-wait", 0.3),),
    "web.checkout": (("payment-failed", 0.05), ("slow-page", 0.05)),
    "app.checkout": (("login-problems", 0.08),),
    "store.till": (("long-wait", 0.2),),
    "sms.delivery-update": (("delivery-delay", 0.18),),
    "app.setup-wizard": (("confusing-setup", 0.35),),
    "self-service.setup-guide": (("confusing-setup", 0.25),),
    "app.daily-use": (("app-crash", 0.06),),
    "phone.hotline": (("long-wait", 0.4),),
    "store.service-counter": (("long-wait", 0.3),),
    "chat.support": (("bot-loop", 0.15),),
    "self-service.help-centre": (("unhelpful-answer", 0.25),),
    "self-service.troubleshooter": (("unhelpful-answer", 0.3),),
}
PAIN_NOTES = {
    "long-wait": ("On hold for 25 minutes before anyone answered.", "Queue of eight people, one counter open."),
    "out-of-stock": ("Wanted size sold out online and in the nearest store.", "Colour shown but not orderable."),
    "delivery-delay": ("Parcel came five days after the promised date.", "Tracking stuck at the hub for a week."),
    "confusing-setup": ("Pairing failed twice; the guide skips the reset step.", "Could not find the setup code."),
    "bot-loop": ("The chat bot kept offering the same three articles.",),
    "unhelpful-answer": ("No article matched the error message.",),
}

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
BATCH = 1000


@dataclass
class _Customer:
    id: uuid.UUID
    key: str  # email or externalId: stable across seeds, unlike the id
    stage: LifecycleStage
    orders: list[tuple[datetime, Channel]]
    rng: random.Random | None = None
    rows: list[InteractionRow] = field(default_factory=list)
    feelings: list[int] = field(default_factory=list)  # the year's emotions, for the surveys
    pains: set[str] = field(default_factory=set)

    @property
    def mood(self) -> float:
        return sum(self.feelings) / len(self.feelings) if self.feelings else 0.5

    @property
    def channel(self) -> Channel:
        """The channel they buy on most: where they browse too."""
        counts = {}
        for _, channel in self.orders:
            counts[channel] = counts.get(channel, 0) + 1
        best = max(counts, key=lambda c: (counts[c], c.value), default=C.WEB)
        return best if best in CONSIDER else C.WEB


def seed_touchpoints(session: Session) -> None:
    existing = set(session.scalars(select(Touchpoint.key)))
    for key, name, channel, journey_map, stage in TOUCHPOINTS:
        if key not in existing:
            create_touchpoint(session, key=key, name=name, channel=channel, stage=stage, journey_map=journey_map)


def _touch(c: _Customer, key: str, at: datetime, now: datetime, pain_boost: float = 1.0) -> InteractionRow | None:
    """Add one interaction to ``c.rows``, its emotion and pain points drawn for the touchpoint."""
    if at > now:  # the journey has not got there yet
        return None
    rng = c.rng
    pains = [pain for pain, chance in PAIN_SPOTS.get(key, ()) if rng.random() < chance * pain_boost]
    if pains:
        emotion = rng.choice((-2, -1, -1))
    elif key in PASSIVE and rng.random() < 0.6:
        emotion = None
    else:
        emotion = rng.choices((-1, 0, 1, 2), weights=(1, 3, 5, 3))[0]
    note = rng.choice(PAIN_NOTES[pains[0]]) if pains and pains[0] in PAIN_NOTES and rng.random() < 0.5 else None
    c.feelings += [] if emotion is None else [emotion]
    c.pains.update(pains)
    row = InteractionRow(customer_id=c.id, touchpoint_key=key, occurred_at=at.replace(microsecond=0),
                         emotion=emotion, pain_points=pains, note=note,
                         external_id=f"demo-{c.id}-{len(c.rows) + 1:03d}")
    c.rows.append(row)
    return row


def _days(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(days=rng.uniform(low, high))


def plan_journeys(c: _Customer, now: datetime) -> None:
    """The customer's interactions of the last twelve months, in ``c.rows``."""
    rng, year_ago = c.rng, now - timedelta(days=365)
    recent = [o for o in c.orders if o[0] >= year_ago][-3:]
    if not c.orders:  # never bought: looked around, and most dropped off before deciding
        start = now - (_days(rng, 3, 90) if c.stage == LifecycleStage.PROSPECT else _days(rng, 5, 330))
        for _ in range(rng.randint(1, 2)):
            _touch(c, rng.choice(AWARENESS), start + _days(rng, 0, 3), now)
        if c.stage == LifecycleStage.PROSPECT or rng.random() < 0.4:
            for _ in range(rng.randint(1, 4 if c.stage == LifecycleStage.PROSPECT else 2)):
                _touch(c, rng.choice(CONSIDER[rng.choice((C.WEB, C.APP, C.STORE, C.PHONE))]),
                       start + _days(rng, 2, 20), now)
        return
    if not recent:  # bought before, not this year: drifting away
        for _ in range(rng.randint(1, 2)):
            _touch(c, rng.choice(("email.newsletter", "email.care-tips", "app.daily-use")),
                   year_ago + _days(rng, 0, 120), now, pain_boost=2)
        return
    for number, (at, channel) in enumerate(recent):
        first = number == 0
        channel = channel if channel in CHECKOUT else C.WEB
        begin = at - _days(rng, 1, 25)
        if first or rng.random() < 0.3:
            _touch(c, rng.choice(AWARENESS), begin - _days(rng, 1, 20), now)
        for _ in range(rng.randint(1, 3)):
            _touch(c, rng.choice(CONSIDER[channel]), begin + (at - begin) * rng.random(), now)
        _touch(c, CHECKOUT[channel], at, now)
        if channel != C.STORE or rng.random() < 0.4:
            _touch(c, "email.order-confirmation", at + timedelta(minutes=2), now)
        if channel != C.STORE and rng.random() < 0.7:
            _touch(c, "sms.delivery-update", at + _days(rng, 1, 4), now)
        if rng.random() < (0.8 if first else 0.35):
            for key in rng.sample(ONBOARDING, rng.randint(1, 2)):
                _touch(c, key, at + _days(rng, 1, 10), now)
            if rng.random() < 0.75:
                for _ in range(rng.randint(1, 3)):
                    _touch(c, rng.choice(USAGE), at + _days(rng, 12, 150), now)
    if rng.random() < 0.25:  # came back to browse and left: the out-of-stock page is a usual reason
        when = recent[-1][0] + _days(rng, 5, 120)
        for _ in range(rng.randint(1, 2)):
            _touch(c, rng.choice(CONSIDER[c.channel]), when + _days(rng, 0, 2), now, pain_boost=3)
    if rng.random() < 0.15:  # a problem solved without calling anyone, or given up on
        when = recent[0][0] + _days(rng, 20, 200)
        _touch(c, "self-service.help-centre", when, now)
        _touch(c, "self-service.troubleshooter", when + timedelta(minutes=rng.randint(3, 40)), now)
        if rng.random() < 0.5:
            _touch(c, "self-service.returns-portal", when + _days(rng, 0.1, 3), now)
    c.rows.sort(key=lambda r: r.occurred_at)


def _record(session: Session, rows: list[InteractionRow]) -> None:
    result = record_interactions(session, rows, max_rows=BATCH)
    if result.errors:  # demo data that breaks a rule is a bug of this module
        raise RuntimeError(f"demo interactions refused: {result.errors[:3]}")


# Days each step of a case takes, at random within (low, high).
STEP_DAYS = {"respond": (0.002, 0.25), "chase": (0.1, 2), CaseStatus.DIAGNOSING: (0.02, 1),
             CaseStatus.SOLUTION_PROPOSED: (0.1, 3), CaseStatus.RESOLVED: (0.02, 2),
             CaseStatus.FOLLOWED_UP: (2, 7), CaseStatus.CLOSED: (1, 3)}


def _step_times(rng: random.Random, opened: datetime, steps: list, now: datetime) -> list[datetime]:
    """Moments of a case's steps, squeezed in before ``now`` for a case opened recently."""
    if not steps:
        return []
    gaps = [_days(rng, *STEP_DAYS[step]) for step in steps]
    total = sum(gaps, timedelta())
    scale = min(1.0, (now - timedelta(minutes=10) - opened) / total)
    times, at = [], opened
    for gap in gaps:
        at += gap * scale
        times.append(at)
    return times


def seed_cases(session: Session, customers: list[_Customer], now: datetime, agents: list[str]) -> list[tuple]:
    """About one case per 15 customers, among buyers: the newest still open, at every status; the rest closed.

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
        case = _one_case(session, c, rng, templates[number % len(templates)], now - timedelta(days=age), target,
                         now, rng.choice(agents), reopen=target == CaseStatus.CLOSED and number % 6 == 2)
        if case.resolved_at is not None:
            resolved.append((c, case))
    return resolved


def _one_case(session, c: _Customer, rng, template: tuple, opened: datetime, target: CaseStatus, now: datetime,
              agent: str, reopen: bool) -> Case:
    """One case taken from RECEIVED to ``target`` (through a reopening if ``reopen``), step by step."""
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
                           description=description, actor="customer", now=opened)
    if path:
        cases.respond(session, case_id=case.id, message="Thanks for reaching out, we are on it.", actor=agent,
                      now=next(times))
    if chase:
        row = _touch(c, "phone.hotline", next(times), now, pain_boost=2)
        row.case_id = case.id
        _record(session, [row])
    for status in path:
        at = next(times)
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


def seed_surveys(session: Session, customers: list[_Customer], resolved: list[tuple], now: datetime) -> None:
    """NPS from most buyers (a realistic mix by lifecycle stage), CSAT and CES after purchases and cases.

    CES is read as agreement with "it was easy": 1 very hard .. 7 very easy."""
    for c in customers:
        rng = c.rng
        if not c.orders:
            continue
        at = min(now - timedelta(hours=1), max(c.orders[-1][0], now - timedelta(days=300)) + _days(rng, 1, 20))
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
        at = min(now - timedelta(minutes=30), case.resolved_at + _days(rng, 0.1, 2))
        score = (4 if case.first_contact_resolution else 3) + (1 if case.compensation_points else 0) \
            - case.reopen_count + rng.choice((-1, 0, 0, 1))
        submit_response(session, customer_id=c.id, kind=SurveyKind.CSAT, case_id=case.id, now=at,
                        score=_clamp(score, 1, 5))
        submit_response(session, customer_id=c.id, kind=SurveyKind.CES, case_id=case.id, now=at,
                        score=_clamp(score + 2 + rng.choice((-1, 0)), 1, 7))


def _load(session: Session) -> list[_Customer]:
    customers = {cid: _Customer(cid, email or external_id or str(cid), stage, []) for cid, email, external_id, stage
                 in session.execute(select(Customer.id, Customer.email, Customer.external_id, Customer.lifecycle_stage)
                                    .where(Customer.merged_into_id.is_(None)))}
    for cid, at, channel in session.execute(select(Order.customer_id, Order.occurred_at, Order.channel)
                                            .where(Order.status == "COMPLETED")
                                            .order_by(Order.customer_id, Order.occurred_at)):
        if cid in customers:
            customers[cid].orders.append((at, channel))
    ordered = sorted(customers.values(), key=lambda c: c.key)
    for c in ordered:
        c.rng = random.Random(f"2026:journeys:{c.key}")
    return ordered


def seed_journeys(session: Session, *, now: datetime, agents: list[str]) -> None:
    """Touchpoints, then interactions, cases and surveys of every customer that has none of each yet."""
    seed_touchpoints(session)
    customers = _load(session)
    with_interactions = set(session.scalars(select(Interaction.customer_id).distinct()))
    with_cases = set(session.scalars(select(Case.customer_id).distinct()))
    with_surveys = set(session.scalars(select(SurveyResponse.customer_id).distinct()))
    session.commit()  # end the read transaction before the services write
    with click.progressbar(length=len(customers), label="Seeding demo journeys") as bar:
        rows: list[InteractionRow] = []
        for number, c in enumerate(customers, start=1):
            plan_journeys(c, now)  # for every customer: the surveys draw from the same generator after it
            if c.id in with_interactions:
                continue
            if len(rows) + len(c.rows) > BATCH:  # a customer's journey is never split over two batches
                _record(session, rows)
                bar.update(number - 1 - bar.pos)
                rows = []
            rows += c.rows
        if rows:
            _record(session, rows)
        bar.update(len(customers) - bar.pos)
    resolved = seed_cases(session, customers, now, agents) if not with_cases else []
    seed_surveys(session, [c for c in customers if c.id not in with_surveys],
                 [r for r in resolved if r[0].id not in with_surveys], now)
