"""Loaders of the loyalty domain: one statement per relation for a whole page of customers."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from crm.api.loaders import Loader, pages_of, row_by_id
from crm.customers.models import Order
from crm.db import utcnow
from crm.pagination import SortKey
from loyalty.models import LedgerEntry, LoyaltyAccount, LoyaltyTier, Reward, RewardRedemption
from loyalty.queries import expiring_soon
from loyalty.settings import LoyaltySettings


class AllTiers(Loader):
    """Every tier, rank order, once per request."""

    def batch(self, keys):
        return {key: list(self.session.scalars(select(LoyaltyTier).order_by(LoyaltyTier.rank))) for key in keys}


class AccountByCustomer(Loader):
    parent_kind = "customer"

    def batch(self, keys):
        rows = self.session.scalars(select(LoyaltyAccount).where(LoyaltyAccount.customer_id.in_(keys)))
        return {row.customer_id: row for row in rows}


class QualifyingByCustomer(Loader):
    parent_kind = "customer"

    def batch(self, keys):
        settings = LoyaltySettings.from_config(self.context.config)
        now = utcnow()
        rows = self.session.execute(
            select(LedgerEntry.customer_id, func.sum(LedgerEntry.qualifying_points))
            .where(LedgerEntry.customer_id.in_(keys), LedgerEntry.qualifying_points != 0,
                   LedgerEntry.qualifies_at > now - timedelta(days=settings.qualifying_window_days),
                   LedgerEntry.qualifies_at <= now)
            .group_by(LedgerEntry.customer_id))
        return {cid: max(int(total), 0) for cid, total in rows}

    def missing(self, key):
        return 0


class ExpiringByCustomer(Loader):
    parent_kind = "customer"

    def batch(self, keys):
        settings = LoyaltySettings.from_config(self.context.config)
        return expiring_soon(self.session, keys, utcnow(), settings.warning_days)

    def missing(self, key):
        return []


ENTRY_KEYS = [SortKey(LedgerEntry.seq, lambda e: e.seq, "int", descending=True)]


# Pages of each customer's entries and redemptions, newest first. Args: (first, after).
EntriesByCustomer = pages_of(LedgerEntry.customer_id, parent_kind="customer", produces="ledger_entry",
                             ordering="ledger", sort_keys=ENTRY_KEYS)


REDEMPTION_KEYS = [SortKey(RewardRedemption.redeemed_at, lambda r: r.redeemed_at, "datetime", descending=True),
                   SortKey(RewardRedemption.id, lambda r: r.id, "uuid", descending=True)]


RedemptionsByCustomer = pages_of(RewardRedemption.customer_id, parent_kind="customer", produces="redemption",
                                 ordering="redemptions", sort_keys=REDEMPTION_KEYS)
OrderOfEntry = row_by_id(Order, parent_kind="ledger_entry", key="order_id", produces="order")
RewardOfRedemption = row_by_id(Reward, parent_kind="redemption", key="reward_id")
