"""Points for orders: base rate x tier multiplier, plus bonus rules that are data. Reversal on refund.

Both run as hooks inside the order's own transaction (crm.customers.orders), so an
order and its points commit together or not at all.
"""
from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from crm.customers.models import Customer, Order
from crm.db import utcnow
from loyalty import ledger, tiering
from loyalty.models import EarningRule, EntryKind, LedgerEntry, LoyaltyTier
from loyalty.settings import LoyaltySettings


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def _multiplier_text(value: Decimal) -> str:
    return f"{value.normalize():f}"  # 1.25, 2, 10 (not 1E+1)


def rule_applies(session: Session, rule: EarningRule, order: Order, customer: Customer) -> bool:
    if rule.condition == "first_order":
        # Once per customer: the customer has no other order, whatever its status. (The completed-order
        # count would grant it again to the next order after the first was refunded or cancelled.)
        return not session.scalar(select(exists().where(Order.customer_id == customer.id, Order.id != order.id)))
    if rule.condition == "birthday_month":
        return customer.birthday is not None and customer.birthday.month == order.occurred_at.month
    if rule.condition == "channel":
        return order.channel.value == (rule.value or "").upper()
    if rule.condition == "min_amount":
        return order.amount_base >= Decimal(rule.value or "0")
    return False


def earn_for_order(session: Session, order: Order, customer: Customer, config) -> None:
    """Credit the order's points once (key ``order:<id>``) and set ``order.points_earned``."""
    settings = LoyaltySettings.from_config(config)
    now = utcnow()
    account = ledger.locked_account(session, customer.id)
    tier = session.get(LoyaltyTier, account.tier_key)
    base = _floor(order.amount_base * settings.points_per_unit)
    points = _floor(base * tier.earn_multiplier)
    parts = [f"{base} base x{_multiplier_text(tier.earn_multiplier)} ({tier.name})"]
    for rule in session.scalars(select(EarningRule).where(EarningRule.active.is_(True)).order_by(EarningRule.key)):
        if rule_applies(session, rule, order, customer):
            bonus = rule.bonus_points + _floor(rule.extra_rate * base)
            if bonus:
                points += bonus
                parts.append(f"{bonus} {rule.key}")
    order.points_earned = points
    if points <= 0:
        return
    key = f"order:{order.id}"
    digest = ledger.payload_hash(kind="EARN", order=str(order.id), points=points)
    if ledger.replayed(session, customer.id, key, digest) is not None:
        return
    ledger.append(session, account, kind=EntryKind.EARN, points=points, key=key, digest=digest, now=now,
                  reason=f"order {order.external_id}: " + " + ".join(parts), actor="rule:order-points",
                  expires_at=ledger.default_expiry(now, settings.expiry_days), order_id=order.id,
                  qualifying_points=points)
    tiering.apply_upgrade(session, account, now, settings)


def reverse_for_order(session: Session, order: Order, customer: Customer, config) -> dict:
    """Take back an order's points on refund or cancellation, never below a zero balance.

    What was already spent cannot be taken back: it is reported, not dropped silently. The
    points are taken from the account of the order's customer now: after a merge that is the
    primary, which holds the duplicate's lots (the EARN entry stays on the duplicate's ledger).
    One REVERSAL entry is written per order, even when it takes nothing, so a repeat answers
    the same figures however the balance has moved since.
    """
    earned = session.scalars(select(LedgerEntry).where(LedgerEntry.order_id == order.id,
                                                       LedgerEntry.kind == EntryKind.EARN)).first()
    if earned is None:
        return {"pointsReversed": 0, "pointsNotReversed": 0}
    prior = session.scalars(select(LedgerEntry).where(LedgerEntry.order_id == order.id,
                                                      LedgerEntry.kind == EntryKind.REVERSAL)).first()
    if prior is not None:
        return {"pointsReversed": -prior.points, "pointsNotReversed": earned.points + prior.points}
    now = utcnow()
    account = ledger.locked_account(session, customer.id)
    ledger.expire_lots(session, account, now)
    reversible = max(min(earned.points, account.balance), 0)
    moved_key = f"merge-in:{earned.id}"  # where a merge moved the order's lot (loyalty.merge)
    lots = [lot for lot in ledger.open_lots(session, account.customer_id)
            if lot.entry.expires_at is None or lot.entry.expires_at > now]
    # The order's own lot first (or the lot a merge moved it to), then the others soonest-expiring first.
    ordered = sorted(lots, key=lambda lot: lot.entry.id != earned.id and lot.entry.idempotency_key != moved_key)
    plan, needed = [], reversible
    for lot in ordered:
        take = min(lot.remaining, needed)
        if take:
            plan.append((lot.entry, take))
            needed -= take
    ledger.append(session, account, kind=EntryKind.REVERSAL, points=-reversible, key=f"reversal:order:{order.id}",
                  digest=ledger.payload_hash(kind="REVERSAL", order=str(order.id)), now=now,
                  reason=f"order {order.external_id} {order.status.lower()}", actor="rule:order-reversal",
                  order_id=order.id, qualifying_points=-earned.qualifying_points,
                  qualifies_at=earned.qualifies_at, consume=plan)
    return {"pointsReversed": reversible, "pointsNotReversed": earned.points - reversible}
