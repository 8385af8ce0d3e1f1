"""The loyalty part of the demo: the points keep up with each customer's story, then a rewards
catalogue and some redemptions.

Points are earned by the order hook (loyalty.earning) inside each order the customer seeder records,
with the clock at the order's moment, so every EARN entry and every upgrade carries it. What the hourly
periodic jobs do between orders, ``keep_up`` does as the customer seeder moves the clock on (a time
hook, ``crm.demo.registry``): lots expire at their expiry, and the tier review runs when qualifying
points leave the rolling window and again when the downgrade grace runs out, each at that moment.

``seed_rewards`` then adds the catalogue (in place since before the first points were earned) and a
redemption by every fifth account that can afford one, some days after its last ledger entry or tier
change: a redemption never goes before entries already written, so the ledger stays in time order.
"""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select

from crm.customers.models import Customer
from crm.demo.registry import DemoRun
from crm.demo.story import story_clock
from loyalty import services
from loyalty.models import LedgerEntry, LoyaltyAccount, LoyaltyTier, Reward, TierChange
from loyalty.rewards import create_reward, redeem_reward
from loyalty.settings import LoyaltySettings

DAY = timedelta(days=1)
REWARDS = (
    # (name, cost, stock, minimum tier, description)
    ("Free standard shipping", 300, None, None, "One order shipped free."),
    ("10 EUR voucher", 1000, None, None, "Valid on any order of 50 EUR or more."),
    ("Priority repair slot", 2500, 50, "gold", "Jump the queue at the service centre."),
    ("Limited edition tote", 4000, 12, "silver", "While stock lasts."),
    ("Launch event invitation", 9000, 20, "platinum", "Two seats at the next product launch."),
)


def _next_moment(run: DemoRun, customer_id: uuid.UUID, after: datetime, until: datetime,
                 settings: LoyaltySettings) -> tuple[datetime | None, bool, bool]:
    """The first moment in (after, until] when the periodic jobs would find work for this account, and
    whether a lot expires then and whether the tier review has something to judge (points leaving the
    rolling window, the end of a downgrade grace)."""
    session = run.session
    below = session.execute(select(LoyaltyAccount.below_tier_since)
                            .where(LoyaltyAccount.customer_id == customer_id)).first()
    if below is None:  # no account: nothing earned yet
        return None, False, False
    window = timedelta(days=settings.qualifying_window_days)
    expiries, reviews = [], []
    for points, expires_at, qualifying, qualifies_at in session.execute(
            select(LedgerEntry.points, LedgerEntry.expires_at, LedgerEntry.qualifying_points,
                   LedgerEntry.qualifies_at).where(LedgerEntry.customer_id == customer_id)):
        if points > 0 and expires_at is not None:
            expiries.append(expires_at)
        if qualifying and qualifies_at is not None:
            reviews.append(qualifies_at + window)
    if below.below_tier_since is not None:
        reviews.append(below.below_tier_since + timedelta(days=settings.downgrade_grace_days))
    expiries = [m for m in expiries if after < m <= until]
    reviews = [m for m in reviews if after < m <= until]
    moment = min(expiries + reviews, default=None)
    return moment, moment in expiries, moment in reviews


def keep_up(run: DemoRun, customer_id: uuid.UUID, since: datetime, until: datetime) -> None:
    """Expiry and tier review for one customer, at each moment in (since, until] they would have run."""
    settings = LoyaltySettings.from_config(run.config)
    done = since
    while True:
        moment, expiry, review = _next_moment(run, customer_id, done, until, settings)
        if moment is None:
            break
        with story_clock() as story:  # handed back at ``until``, where the customer's story is
            story.at(moment)
            if expiry:
                services.run_expiry(run.session, now=moment, customer_ids=[customer_id])
            if review:
                services.review_tiers(run.session, now=moment, settings=settings, customer_ids=[customer_id])
        done = moment


def _redemption_moments(run: DemoRun) -> list[tuple[datetime, uuid.UUID]]:
    """Every fifth account (in the order the customers came), at a moment after its last entry or tier change."""
    session = run.session
    last_entry = (select(LedgerEntry.customer_id, func.max(LedgerEntry.occurred_at).label("at"))
                  .group_by(LedgerEntry.customer_id).subquery())
    last_change = (select(TierChange.customer_id, func.max(TierChange.at).label("at"))
                   .group_by(TierChange.customer_id).subquery())
    rows = session.execute(
        select(LoyaltyAccount.customer_id, last_entry.c.at, last_change.c.at)
        .join(Customer, Customer.id == LoyaltyAccount.customer_id)
        .join(last_entry, last_entry.c.customer_id == LoyaltyAccount.customer_id)
        .outerjoin(last_change, last_change.c.customer_id == LoyaltyAccount.customer_id)
        .order_by(Customer.created_at, Customer.email, Customer.external_id)).all()
    rng = random.Random("2026:rewards")
    moments = []
    for index, (customer_id, entry_at, change_at) in enumerate(rows):
        if index % 5:
            continue
        last = max(entry_at, change_at or entry_at)
        # Some days later, and never past the present the story ends at.
        later = min(DAY * rng.uniform(1, 30), max(run.present - last, timedelta(0)) / 2)
        moments.append((last + later, customer_id))
    return sorted(moments)


def seed_rewards(run: DemoRun) -> None:
    """The rewards catalogue, and redemptions by every fifth customer who can afford one."""
    session = run.session
    if session.scalar(select(Reward.id).limit(1)) is not None:
        return
    first_points = session.scalar(select(func.min(LedgerEntry.occurred_at)))
    moments = _redemption_moments(run)
    ranks = {t.key: t.rank for t in session.scalars(select(LoyaltyTier))}
    session.commit()  # end the read transaction before the services write
    with story_clock() as story:
        story.at(first_points - DAY if first_points is not None else run.present)
        catalogue = [create_reward(session, name=name, cost=cost, stock=stock, min_tier_key=tier, description=text)
                     for name, cost, stock, tier, text in REWARDS]
        for at, customer_id in moments:
            account = session.get(LoyaltyAccount, customer_id)
            affordable = [r for r in catalogue if r.cost <= account.balance and (r.stock is None or r.stock > 0)
                          and (r.min_tier_key is None or ranks[r.min_tier_key] <= ranks[account.tier_key])]
            if affordable:
                story.at(at)
                choice = max(affordable, key=lambda r: r.cost)
                redeem_reward(session, customer_id=customer_id, reward_id=choice.id,
                              idempotency_key=f"demo-{customer_id}", actor=run.actor, now=at)
