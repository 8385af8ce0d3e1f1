"""The demo's interactions: a year of each customer's journeys through the touchpoints.

Journeys follow each customer's real orders: browsing before an order on the channel they buy on,
the checkout at the order's moment, onboarding and usage after it, with drop-off at every step;
customers who never bought only look around. Emotions sink at the known pain spots (a long wait on
the hotline, an out-of-stock product page, a delayed delivery, a confusing setup), so the journey
map has something to show.

Each interaction occurred at its moment of the story; the year arrives as the shop's tracking import
(record_interactions in batches, as `crm import interactions` would), so its recordedAt is when the
demo was seeded: one transaction per interaction, each at its moment, would make the seed twice as slow.

Randomness comes from one generator per customer seeded with the customer's email or externalId, so
a seed gives the same journeys every time, relative to the story's present. The plan is drawn for
every customer (the cases and surveys, journeys/service/demo.py, draw from the same generator after
it); a customer who already has interactions (an interrupted seed) gets none recorded again.
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
from journeys.interactions.models import Interaction
from journeys.interactions.services import InteractionRow, record_interactions

C = Channel
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
BATCH = 1000


@dataclass
class JourneyCustomer:
    """A customer as the demo's journeys, cases and surveys see them, with what the year left behind."""

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


def touch(c: JourneyCustomer, key: str, at: datetime, now: datetime, pain_boost: float = 1.0) -> InteractionRow | None:
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


def days(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(days=rng.uniform(low, high))


def plan_journeys(c: JourneyCustomer, now: datetime) -> None:
    """The customer's interactions of the last twelve months, in ``c.rows``."""
    rng, year_ago = c.rng, now - timedelta(days=365)
    recent = [o for o in c.orders if o[0] >= year_ago][-3:]
    if not c.orders:  # never bought: looked around, and most dropped off before deciding
        start = now - (days(rng, 3, 90) if c.stage == LifecycleStage.PROSPECT else days(rng, 5, 330))
        for _ in range(rng.randint(1, 2)):
            touch(c, rng.choice(AWARENESS), start + days(rng, 0, 3), now)
        if c.stage == LifecycleStage.PROSPECT or rng.random() < 0.4:
            for _ in range(rng.randint(1, 4 if c.stage == LifecycleStage.PROSPECT else 2)):
                touch(c, rng.choice(CONSIDER[rng.choice((C.WEB, C.APP, C.STORE, C.PHONE))]),
                       start + days(rng, 2, 20), now)
        return
    if not recent:  # bought before, not this year: drifting away
        for _ in range(rng.randint(1, 2)):
            touch(c, rng.choice(("email.newsletter", "email.care-tips", "app.daily-use")),
                   year_ago + days(rng, 0, 120), now, pain_boost=2)
        return
    for number, (at, channel) in enumerate(recent):
        first = number == 0
        channel = channel if channel in CHECKOUT else C.WEB
        begin = at - days(rng, 1, 25)
        if first or rng.random() < 0.3:
            touch(c, rng.choice(AWARENESS), begin - days(rng, 1, 20), now)
        for _ in range(rng.randint(1, 3)):
            touch(c, rng.choice(CONSIDER[channel]), begin + (at - begin) * rng.random(), now)
        touch(c, CHECKOUT[channel], at, now)
        if channel != C.STORE or rng.random() < 0.4:
            touch(c, "email.order-confirmation", at + timedelta(minutes=2), now)
        if channel != C.STORE and rng.random() < 0.7:
            touch(c, "sms.delivery-update", at + days(rng, 1, 4), now)
        if rng.random() < (0.8 if first else 0.35):
            for key in rng.sample(ONBOARDING, rng.randint(1, 2)):
                touch(c, key, at + days(rng, 1, 10), now)
            if rng.random() < 0.75:
                for _ in range(rng.randint(1, 3)):
                    touch(c, rng.choice(USAGE), at + days(rng, 12, 150), now)
    if rng.random() < 0.25:  # came back to browse and left: the out-of-stock page is a usual reason
        when = recent[-1][0] + days(rng, 5, 120)
        for _ in range(rng.randint(1, 2)):
            touch(c, rng.choice(CONSIDER[c.channel]), when + days(rng, 0, 2), now, pain_boost=3)
    if rng.random() < 0.15:  # a problem solved without calling anyone, or given up on
        when = recent[0][0] + days(rng, 20, 200)
        touch(c, "self-service.help-centre", when, now)
        touch(c, "self-service.troubleshooter", when + timedelta(minutes=rng.randint(3, 40)), now)
        if rng.random() < 0.5:
            touch(c, "self-service.returns-portal", when + days(rng, 0.1, 3), now)
    c.rows.sort(key=lambda r: r.occurred_at)


def record(session: Session, rows: list[InteractionRow]) -> None:
    result = record_interactions(session, rows, max_rows=BATCH)
    if result.errors:  # demo data that breaks a rule is a bug of this module
        raise RuntimeError(f"demo interactions refused: {result.errors[:3]}")



def load_customers(session: Session) -> list[JourneyCustomer]:
    """Every customer with their completed orders, in a stable order, each with its own generator."""
    customers = {cid: JourneyCustomer(cid, email or external_id or str(cid), stage, [])
                 for cid, email, external_id, stage
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


def seed_interactions(session: Session, customers: list[JourneyCustomer], now: datetime) -> None:
    """Plan every customer's year; record it for those who have no interactions yet."""
    with_interactions = set(session.scalars(select(Interaction.customer_id).distinct()))
    session.commit()  # end the read transaction before the services write
    with click.progressbar(length=len(customers), label="Seeding demo journeys") as bar:
        rows: list[InteractionRow] = []
        for number, c in enumerate(customers, start=1):
            plan_journeys(c, now)  # for every customer: the surveys draw from the same generator after it
            if c.id in with_interactions:
                continue
            if len(rows) + len(c.rows) > BATCH:  # a customer's journey is never split over two batches
                record(session, rows)
                bar.update(number - 1 - bar.pos)
                rows = []
            rows += c.rows
        if rows:
            record(session, rows)
        bar.update(len(customers) - bar.pos)
