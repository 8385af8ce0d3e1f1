"""The segment rule fields loyalty adds to the customer core: ``loyalty.balance`` and ``loyalty.tier``.

Registered from ``loyalty.init_app`` (``crm.segments.fields.register_field_provider``).
"""
from __future__ import annotations

from sqlalchemy import select

from crm.customers.models import Customer
from crm.segments.fields import FieldDef
from loyalty.models import LoyaltyAccount


def _account(column):
    return lambda param, cond, now: select(column).where(LoyaltyAccount.customer_id == Customer.id) \
        .correlate(Customer).scalar_subquery()


def loyalty_fields() -> dict[str, FieldDef]:
    return {"loyalty.balance": FieldDef("number", _account(LoyaltyAccount.balance)),
            "loyalty.tier": FieldDef("string", _account(LoyaltyAccount.tier_key))}
