"""Lifecycle stage machine, automatic stage rules and service tier rules.

Helpers here take the session and flush; the calling service owns the transaction.
docs/rules.md describes each rule and the setting that tunes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm import events
from crm.customers.errors import CustomerErrorCode
from crm.customers.models import Customer, LifecycleTransition, Order, ServiceTierChange
from crm.db import new_id, utcnow
from crm.enums import LifecycleStage as S
from crm.enums import ServiceTier
from crm.errors import DomainError

ALLOWED_MOVES: dict[S, frozenset[S]] = {
    S.LEAD: frozenset({S.PROSPECT, S.NEW, S.CHURNED}),
    S.PROSPECT: frozenset({S.NEW, S.CHURNED}),
    S.NEW: frozenset({S.DEVELOPING, S.AT_RISK, S.CHURNED}),
    S.DEVELOPING: frozenset({S.LOYAL, S.AT_RISK, S.CHURNED}),
    S.LOYAL: frozenset({S.ADVOCATE, S.AT_RISK, S.CHURNED}),
    S.ADVOCATE: frozenset({S.LOYAL, S.AT_RISK, S.CHURNED}),
    S.AT_RISK: frozenset({S.NEW, S.DEVELOPING, S.LOYAL, S.ADVOCATE, S.CHURNED}),
    S.CHURNED: frozenset({S.NEW}),
}


@dataclass(frozen=True)
class StageRuleSettings:
    enabled: bool = True
    developing_orders: int = 3
    developing_window_days: int = 365
    loyal_orders: int = 6
    loyal_tenure_days: int = 365

    @classmethod
    def from_config(cls, config) -> StageRuleSettings:
        return cls(
            enabled=bool(config["STAGE_RULES_ENABLED"]),
            developing_orders=int(config["STAGE_DEVELOPING_ORDERS"]),
            developing_window_days=int(config["STAGE_DEVELOPING_WINDOW_DAYS"]),
            loyal_orders=int(config["STAGE_LOYAL_ORDERS"]),
            loyal_tenure_days=int(config["STAGE_LOYAL_TENURE_DAYS"]),
        )


@dataclass(frozen=True)
class TierRuleSettings:
    """The spend thresholds of the default tier rules (crm.segments.tiers.default_rule)."""

    vip_spend: Decimal = Decimal(10000)
    preferred_spend: Decimal = Decimal(2000)

    @classmethod
    def from_config(cls, config) -> TierRuleSettings:
        return cls(vip_spend=Decimal(str(config["TIER_VIP_SPEND"])),
                   preferred_spend=Decimal(str(config["TIER_PREFERRED_SPEND"])))


def move_stage(session: Session, customer: Customer, to_stage: S, *, reason: str | None,
               actor: str | None, at: datetime | None = None) -> LifecycleTransition:
    """Apply one allowed move and record it; any other move is INVALID_TRANSITION."""
    from_stage = customer.lifecycle_stage
    if to_stage not in ALLOWED_MOVES[from_stage]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED_MOVES[from_stage]))
        raise DomainError(CustomerErrorCode.INVALID_TRANSITION,
                          f"A customer cannot move from {from_stage.value} to {to_stage.value}; allowed: {allowed}.",
                          "toStage")
    customer.lifecycle_stage = to_stage
    transition = LifecycleTransition(id=new_id(), customer_id=customer.id, from_stage=from_stage, to_stage=to_stage,
                                     reason=reason, actor=actor, at=at or utcnow())
    session.add(transition)
    events.emit(session, "customer.stage_changed", customerId=str(customer.id), transitionId=str(transition.id),
                fromStage=from_stage.value, toStage=to_stage.value, actor=actor, at=transition.at.isoformat())
    return transition


def record_initial_stage(session: Session, customer: Customer, *, actor: str | None) -> None:
    session.add(LifecycleTransition(customer_id=customer.id, from_stage=None, to_stage=customer.lifecycle_stage,
                                    reason="created", actor=actor, at=customer.created_at))


def earned_stage(session: Session, customer: Customer, settings: StageRuleSettings, at: datetime) -> S:
    """The stage a customer's order history earns as of ``at``: NEW, DEVELOPING or LOYAL.

    ``at`` is the time of the order being recorded, so importing old orders
    judges each one by the history as it stood then.
    """
    if (customer.order_count >= settings.loyal_orders and customer.first_order_at is not None
            and customer.first_order_at <= at - timedelta(days=settings.loyal_tenure_days)):
        return S.LOYAL
    window_start = at - timedelta(days=settings.developing_window_days)
    recent = session.scalar(select(func.count()).select_from(Order).where(
        Order.customer_id == customer.id, Order.status == "COMPLETED", Order.occurred_at >= window_start,
        Order.occurred_at <= at))
    return S.DEVELOPING if recent >= settings.developing_orders else S.NEW


# The forward ladder the order rules climb, one allowed move at a time.
_LADDER = [S.NEW, S.DEVELOPING, S.LOYAL]


def _rule_path(current: S, earned: S) -> list[tuple[S, str]]:
    """Moves (stage, rule name) that take ``current`` towards ``earned``; never backwards."""
    if current in (S.LEAD, S.PROSPECT):
        return [(S.NEW, "first-order")] + _rule_path(S.NEW, earned)
    if current in (S.AT_RISK,):
        return [(earned, "win-back-order")]
    if current == S.CHURNED:
        return [(S.NEW, "win-back-order")] + _rule_path(S.NEW, earned)
    if current in _LADDER and earned in _LADDER and _LADDER.index(earned) > _LADDER.index(current):
        step = _LADDER[_LADDER.index(current) + 1]
        name = "repeat-orders" if step == S.DEVELOPING else "long-term-orders"
        return [(step, name)] + _rule_path(step, earned)
    return []


def apply_stage_rules(session: Session, customer: Customer, settings: StageRuleSettings,
                      at: datetime) -> list[LifecycleTransition]:
    """Run the automatic stage rules after an order or a merge; returns the moves made."""
    if not settings.enabled or customer.order_count == 0:
        return []
    session.flush()
    earned = earned_stage(session, customer, settings, at)
    moves = []
    for stage, rule in _rule_path(customer.lifecycle_stage, earned):
        moves.append(move_stage(session, customer, stage, reason=_RULE_REASONS[rule], actor=f"rule:{rule}"))
    return moves


_RULE_REASONS = {
    "first-order": "first order placed",
    "repeat-orders": "repeat orders within the development window",
    "long-term-orders": "sustained orders over the loyalty tenure",
    "win-back-order": "ordered again after being at risk or churned",
}


def change_tier(session: Session, customer: Customer, tier: ServiceTier, *, pinned: bool,
                reason: str | None, actor: str | None) -> ServiceTierChange | None:
    """Set the tier and the pin, recording the change; None when nothing changed."""
    if customer.service_tier == tier and customer.service_tier_pinned == pinned:
        return None
    from_tier = customer.service_tier
    customer.service_tier, customer.service_tier_pinned = tier, pinned
    change = ServiceTierChange(id=new_id(), customer_id=customer.id, from_tier=from_tier, to_tier=tier,
                               pinned=pinned, reason=reason, actor=actor, at=utcnow())
    session.add(change)
    if from_tier != tier:
        events.emit(session, "customer.tier_changed", customerId=str(customer.id), changeId=str(change.id),
                    fromTier=from_tier.value, toTier=tier.value, pinned=pinned, at=change.at.isoformat())
    return change


def apply_tier_rules(session: Session, customer: Customer, *, config) -> ServiceTierChange | None:
    """The automatic tier from the tier rules (crm.segments.tiers, thresholds from ``config``); a pinned tier
    is never touched."""
    from crm.segments import tiers
    return tiers.apply(session, customer, config)
