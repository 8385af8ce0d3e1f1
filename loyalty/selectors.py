from __future__ import annotations

from sqlalchemy import exists, or_, select

from crm.customers.models import Customer
from loyalty.models import LoyaltyAccount, LoyaltyTier


def loyalty_tier_filter(stmt, tier_key: str):
    """Customers holding the tier; those with no account yet hold the entry tier."""
    has_tier = exists().where(LoyaltyAccount.customer_id == Customer.id, LoyaltyAccount.tier_key == tier_key)
    entry_key = select(LoyaltyTier.key).order_by(LoyaltyTier.rank).limit(1).scalar_subquery()
    no_account = ~exists().where(LoyaltyAccount.customer_id == Customer.id)
    return stmt.where(or_(has_tier, no_account & (entry_key == tier_key)))
