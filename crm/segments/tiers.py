"""Service tiers from rules in the segment language.

VIP and PREFERRED each have a rule; the first that matches (VIP, then PREFERRED) is the customer's
automatic tier, STANDARD otherwise. A tier without a stored rule uses the spend thresholds of the
config (``metrics.totalSpent gte CRM_TIER_VIP_SPEND`` / ``CRM_TIER_PREFERRED_SPEND``). A pinned tier is
never changed by a rule. Rules may read segments ("member of Key accounts") and scores
(``metrics.lifetimeValue``); the job that re-evaluates a customer after an event applies them again.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm.customers import rules as customer_rules
from crm.customers.models import Customer
from crm.db import lock_for_update, transaction, utcnow
from crm.enums import ServiceTier
from crm.errors import Invalid
from crm.segments.models import ServiceTierRule
from crm.segments.rules import AggregateJoins, compile_rule, referenced_segments, validate

RULED_TIERS = (ServiceTier.VIP, ServiceTier.PREFERRED)  # in order of precedence; STANDARD is the fallback
ACTOR = "rule:service-tier"


def default_rule(tier: ServiceTier, config) -> dict:
    settings = customer_rules.TierRuleSettings.from_config(config)
    spend = settings.vip_spend if tier == ServiceTier.VIP else settings.preferred_spend
    return {"field": "metrics.totalSpent", "op": "gte", "value": str(spend)}


def tier_rules(session: Session, config) -> list[tuple[ServiceTier, dict, bool]]:
    """(tier, rule, is_default) for VIP and PREFERRED, in precedence order."""
    stored = {row.service_tier: row.rule for row in session.scalars(select(ServiceTierRule))}
    return [(tier, stored.get(tier, default_rule(tier, config)), tier not in stored) for tier in RULED_TIERS]


def earned_tier_expression(session: Session, config, now: datetime, joins: AggregateJoins | None = None):
    whens = [(compile_rule(rule, now=now, joins=joins), literal(tier.value))
             for tier, rule, _ in tier_rules(session, config)]
    return case(*whens, else_=literal(ServiceTier.STANDARD.value))


def earned_tier(session: Session, customer_id, config, now: datetime | None = None) -> ServiceTier:
    """The automatic tier of one customer: one statement."""
    session.flush()
    value = session.scalar(select(earned_tier_expression(session, config, now or utcnow()))
                           .where(Customer.id == customer_id))
    return ServiceTier(value) if value else ServiceTier.STANDARD


def apply(session: Session, customer: Customer, config, now: datetime | None = None):
    """Set a non-pinned customer's tier from the rules (helper: flushes, never commits)."""
    if customer.service_tier_pinned:
        return None
    tier = earned_tier(session, customer.id, config, now)
    reason = f"matches the {tier.value} tier rule" if tier != ServiceTier.STANDARD else "matches no tier rule"
    return customer_rules.change_tier(session, customer, tier, pinned=False, reason=reason, actor=ACTOR)


def set_rule(session: Session, *, tier: ServiceTier, rule: dict | None, actor: str | None, config) -> dict:
    """Replace a tier's rule (None restores the default), then re-evaluate every customer's tier."""
    from crm.segments.services import check_references, reads_service_tier

    if tier not in RULED_TIERS:
        raise Invalid("STANDARD is the tier of customers no rule matches; it has no rule.", "tier")
    with transaction(session):
        existing = session.get(ServiceTierRule, tier)
        if rule is None:
            if existing is not None:
                session.delete(existing)
        else:
            validate(rule, "input.rule")
            check_references(session, rule, None, "input.rule")
            loops = reads_service_tier(session, referenced_segments(rule))
            if loops:
                raise Invalid(f"The rule reads segments whose rules read serviceTier ({', '.join(loops)}): "
                              "tier and membership would re-evaluate each other forever.", "input.rule")
            if existing is None:
                try:
                    with session.begin_nested():
                        session.add(ServiceTierRule(service_tier=tier, rule=rule, updated_by=actor,
                                                    updated_at=utcnow()))
                except IntegrityError:  # set at the same moment by another admin: the last one wins
                    existing = session.get(ServiceTierRule, tier, populate_existing=True)
            if existing is not None:
                existing.rule, existing.updated_by, existing.updated_at = rule, actor, utcnow()
    changed = review_all(session, config)
    return {"changed": changed}


def review_all(session: Session, config, now: datetime | None = None, batch: int = 1000) -> int:
    """Move every non-pinned live customer whose tier differs from the rules; one statement finds them.

    Only the customers that change are loaded and written, in transactions of ``batch``, after the
    rule itself committed (a failure part-way leaves the rest to the periodic review)."""
    now = now or utcnow()
    changed, seen = 0, set()
    while True:
        with transaction(session):
            joins = AggregateJoins()
            earned = earned_tier_expression(session, config, now, joins)
            stmt = joins.apply(select(Customer.id, earned)).where(
                Customer.merged_into_id.is_(None), Customer.service_tier_pinned.is_(False),
                Customer.service_tier != earned).order_by(Customer.id).limit(batch)
            if seen:  # never loop on a customer whose tier the rules cannot settle
                stmt = stmt.where(Customer.id > max(seen))
            rows = session.execute(stmt).all()
            seen.update(customer_id for customer_id, _ in rows)
            for customer_id, _ in rows:
                # Locked and judged again: a pin or an order since the statement above wins.
                customer = session.execute(lock_for_update(select(Customer).where(Customer.id == customer_id),
                                                           session, key_share=True)).scalar_one()
                apply(session, customer, config, now)
            changed += len(rows)
        if len(rows) < batch:
            return changed
