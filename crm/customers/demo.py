"""The demo's customers: profiles, consents, two years of orders and the moves a team would make,
each at the moment it happened in the customer's story.

``seed_customers`` creates the customers ``crm.customers.demo_people`` generates, then lives each
one's story through the same services as the API, one transaction each, with the platform clock
moved to the moment of every step (``crm.demo.story``): the customer is created before the first
order, consents are given at sign-up, every order is recorded at its moment (so the stage and tier
rules, and the points other domains hook onto orders, write their history then), and the manual
moves (advocates, at-risk and churned customers, pinned tiers, account managers for VIPs) come when a
team would have made them. The domains' time hooks (``crm.demo.registry``) keep up between steps.

The moments come from a generator of their own per customer, so the people, amounts and moves are
the ones ``random.Random(SEED)`` always gave; a customer already there (an interrupted seed ran
again) is left alone.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import click
from sqlalchemy import or_, select

from crm.auth.demo import ADMIN_EMAIL, ensure_staff, pick
from crm.customers.demo_people import ORDER_CHANNELS, PLAN, SEED, People, Person
from crm.customers.models import Customer
from crm.customers.orders import record_order
from crm.customers.rules import ALLOWED_MOVES
from crm.customers.services import assign_manager, create_customer, set_consent, set_service_tier, transition_stage
from crm.demo.registry import DemoRun, time_passes
from crm.demo.story import StoryClock, story_clock
from crm.enums import Channel, LifecycleStage, Role, ServiceTier

DAY = timedelta(days=1)


class CustomerStory:
    """Lives one customer's story after another, moving the clock forward through each."""

    def __init__(self, run: DemoRun, story: StoryClock):
        self.run, self.session, self.story = run, run.session, story
        self.present = run.present
        self.actor = run.actor
        self.people = People(run.config)
        self.rng = self.people.rng
        staff = ensure_staff(self.session, include_admin=False)
        self.managers = [u for u in staff.values() if u.role == Role.ACCOUNT_MANAGER]
        self.vip_count = 0
        self.customer_id = None
        self.last = self.present

    # --- the clock ---------------------------------------------------------------------------------------------

    def begin(self, at: datetime) -> None:
        """Start a new customer's story at ``at``."""
        self.customer_id, self.last = None, self.story.at(at)

    def step(self, at: datetime) -> datetime:
        """Move the clock to ``at`` (never back, never past the present), the domains catching up first."""
        at = self.story.at(max(at, self.last))
        if self.customer_id is not None:
            time_passes(self.run, self.customer_id, self.last, at)
        self.last = at
        return at

    # --- one customer ------------------------------------------------------------------------------------------

    def exists(self, p: Person) -> bool:
        """Already seeded (an interrupted seed ran again), or the email or externalId is taken: skip it."""
        keys = [Customer.email == p.email] if p.email else []
        if p.external_id:
            keys.append(Customer.external_id == p.external_id)
        return self.session.scalar(select(Customer.id).where(or_(*keys)).limit(1)) is not None

    def order_times(self, p: Person) -> list[datetime]:
        zone = ZoneInfo(p.timezone)
        return [(self.present - timedelta(days=days_ago)).astimezone(zone).replace(microsecond=0)
                for days_ago in p.order_days]

    def created_at(self, p: Person, orders: list[datetime], when: random.Random) -> datetime:
        """Sign-up: at the till for a walk-in, some days before the first order online; a lead some time ago."""
        if orders:
            before = timedelta(minutes=when.uniform(2, 20)) if p.kind == "walk_in" else DAY * when.uniform(0.02, 30)
            return orders[0] - before
        return self.present - DAY * (when.uniform(3, 90) if p.kind == "prospect" else when.uniform(5, 330))

    def record_orders(self, p: Person, times: list[datetime], numbers: range) -> None:
        """Record the planned orders ``numbers`` (0-based) of ``p``, oldest first, each at its moment."""
        people = self.people
        for number in numbers:
            channel = self.rng.choices(ORDER_CHANNELS, weights=p.channel_weights)[0]
            currency = p.currency if self.rng.random() < 0.9 else people.currency_for(p.country)
            amount = people.amount_in(p.order_values[number], currency)
            self.step(times[number])
            record_order(self.session, customer_id=self.customer_id, actor=self.actor, data={
                "externalId": f"demo-{channel.value.lower()}-{p.index + 1:05d}-{number + 1:02d}",
                "amount": str(amount), "currency": currency, "channel": channel.value,
                "occurredAt": times[number].isoformat(),
                "items": people.items_for(p, amount, currency),
            }, config=self.run.config)

    def move(self, customer, to_stage: LifecycleStage, reason: str, actor: str, at: datetime):
        """A manual stage move at ``at``, made only when the stage machine allows it."""
        if to_stage not in ALLOWED_MOVES[customer.lifecycle_stage]:
            return customer
        self.step(at)
        return transition_stage(self.session, customer_id=customer.id, to_stage=to_stage, reason=reason, actor=actor)

    def seed_person(self, p: Person) -> None:
        rng, session = self.rng, self.session
        when = random.Random(f"{SEED}:story:{p.index}")  # the moments; ``rng`` keeps drawing what it always drew
        times = self.order_times(p)
        data = {"firstName": p.first_name, "lastName": p.last_name, "timezone": p.timezone, "locale": p.locale,
                "attributes": p.attributes}
        for key, value in (("email", p.email), ("phone", p.phone), ("externalId", p.external_id),
                           ("birthday", p.birthday.isoformat() if p.birthday else None)):
            if value is not None:
                data[key] = value
        if p.kind == "prospect" and p.index % 2 == 0:
            data["lifecycleStage"] = LifecycleStage.PROSPECT.value
        created = self.created_at(p, times, when)
        self.begin(created)
        customer = create_customer(session, data=data, actor=self.actor, config=self.run.config)
        self.customer_id = customer.id
        self.seed_consents(p, customer.id, created, times[0] if times else self.present, when)

        planned = len(times)
        win_back = p.kind == "win_back"
        self.record_orders(p, times, range(planned - 1 if win_back else planned))
        customer = session.get(Customer, customer.id)
        manager = pick(rng, Role.ACCOUNT_MANAGER)
        last = times[planned - 2 if win_back else planned - 1] if planned else created

        if p.kind == "prospect" and customer.lifecycle_stage == LifecycleStage.LEAD:
            customer = self.move(customer, LifecycleStage.PROSPECT,
                                 rng.choice(("requested a quote", "booked a product demo", "asked for a catalogue")),
                                 manager, created + DAY * when.uniform(1, 10))
        elif p.kind == "lost_lead":
            customer = self.move(customer, LifecycleStage.CHURNED, "no response after three follow-ups", manager,
                                 created + DAY * when.uniform(20, 60))
        elif p.kind == "advocate" and customer.lifecycle_stage == LifecycleStage.LOYAL:
            customer = self.move(customer, LifecycleStage.ADVOCATE,
                                 rng.choice(("referred three friends", "five-star reviews and a case study",
                                             "joined the ambassador programme")), manager,
                                 last + DAY * when.uniform(5, 60))
        elif p.kind == "at_risk":
            customer = self.move(customer, LifecycleStage.AT_RISK, "no order for more than six months", manager,
                                 last + DAY * when.uniform(183, 200))
        elif p.kind in ("churned", "win_back"):
            if rng.random() < 0.5:
                customer = self.move(customer, LifecycleStage.AT_RISK, "no order for more than six months", manager,
                                     last + DAY * when.uniform(183, 200))
            churned = last + DAY * when.uniform(366, 380)
            if win_back:  # marked churned before the order that won them back
                churned = min(churned, times[-1] - DAY)
            customer = self.move(customer, LifecycleStage.CHURNED, "no order for more than a year", manager, churned)
        if win_back:
            self.record_orders(p, times, range(planned - 1, planned))
            customer = session.get(Customer, customer.id)

        self.seed_tier_and_manager(p, customer, when)
        self.step(self.present)  # the rest of the story up to today

    def seed_consents(self, p: Person, customer_id, created: datetime, first_order: datetime,
                      when: random.Random) -> None:
        """Given at sign-up; a withdrawal some time later, before the first order or today."""
        rng, session = self.rng, self.session
        if p.kind in ("lead", "lost_lead") and rng.random() < 0.5:
            return
        plans = []
        if p.email:
            source = rng.choice(("signup-form", "checkout", "newsletter-box"))
            plans.append((Channel.EMAIL, rng.random() < 0.65, source))
        if p.phone:
            plans.append((Channel.SMS, rng.random() < 0.35, rng.choice(("checkout", "store-pos", "hotline"))))
        if p.attributes.get("source") == "app" or p.channel_weights[1] >= 3 or rng.random() < 0.2:
            plans.append((Channel.PUSH, rng.random() < 0.55, "app-settings"))
        withdrawals = []
        for channel, granted, source in plans:
            withdrawn_later = granted and rng.random() < 0.12
            self.step(created + timedelta(seconds=when.uniform(5, 90)))
            set_consent(session, customer_id=customer_id, channel=channel, granted=granted,
                        source=source if granted else "preference-centre", actor=self.actor)
            if withdrawn_later:
                withdrawals.append((created + (first_order - created) * when.uniform(0.3, 0.9), channel))
        for at, channel in sorted(withdrawals, key=lambda w: w[0]):
            self.step(at)
            set_consent(session, customer_id=customer_id, channel=channel, granted=False,
                        source="unsubscribe-link", actor="customer")

    def seed_tier_and_manager(self, p: Person, customer, when: random.Random) -> None:
        """Tiers pinned by the admin and account managers for VIPs, some days after the last order."""
        rng, session = self.rng, self.session
        cycle, slot = divmod(p.index, len(PLAN))
        admin_actor = ADMIN_EMAIL
        at = self.last + DAY * when.uniform(1, 20)
        if slot == 3 and cycle % 2 == 0 and customer.service_tier == ServiceTier.STANDARD:
            self.step(at)
            customer = set_service_tier(session, customer_id=customer.id, tier=ServiceTier.PREFERRED,
                                        reason="goodwill after a delayed delivery", actor=admin_actor,
                                        config=self.run.config)
        elif slot == 15 and cycle % 2 == 0 and customer.service_tier != ServiceTier.VIP:
            self.step(at)
            customer = set_service_tier(session, customer_id=customer.id, tier=ServiceTier.VIP,
                                        reason="key account: corporate framework agreement", actor=admin_actor,
                                        config=self.run.config)
        elif slot == 23 and cycle % 2 == 1:
            self.step(at)
            customer = set_service_tier(session, customer_id=customer.id, tier=ServiceTier.PREFERRED,
                                        reason="trial of the priority service line", actor=admin_actor,
                                        config=self.run.config)
            self.step(at + DAY * 30)
            customer = set_service_tier(session, customer_id=customer.id, tier=None,
                                        reason="trial ended", actor=admin_actor,
                                        config=self.run.config)
        wants_manager = customer.service_tier == ServiceTier.VIP or (
            customer.service_tier == ServiceTier.PREFERRED and rng.random() < 0.3)
        if wants_manager and self.managers:
            manager = self.managers[self.vip_count % len(self.managers)]
            self.vip_count += 1
            self.step(self.last + DAY * when.uniform(0.5, 5))
            assign_manager(session, customer_id=customer.id, staff_user_id=manager.id, actor=admin_actor)

    def live(self) -> None:
        master = random.Random(SEED)
        with click.progressbar(length=self.run.count, label="Seeding demo customers") as bar:
            for index in range(self.run.count):
                # One generator per customer, drawn from the fixed master: a seed resumed after an
                # interruption makes the same customers as an uninterrupted one.
                self.people.rng = self.rng = random.Random(master.getrandbits(64))
                person = self.people.person(index, PLAN[index % len(PLAN)])
                if not self.exists(person):
                    self.seed_person(person)
                bar.update(1)


def seed_customers(run: DemoRun) -> None:
    with story_clock() as story:
        CustomerStory(run, story).live()
