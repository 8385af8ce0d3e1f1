"""Loaders of the loyalty domain: one statement per relation for a whole page of customers."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from crm.api.connections import empty_page
from crm.api.loaders import CountLoader, Loader
from crm.customers.models import Order
from crm.db import utcnow
from crm.pagination import SortKey, keyset_pages_by_parent
from loyalty.models import LedgerEntry, LoyaltyAccount, LoyaltyTier, RewardRedemption
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


class EntriesByCustomer(Loader):
    """A page of each customer's entries, newest first. Args: (first, after)."""

    parent_kind = "customer"
    produces = "ledger_entry"

    def batch(self, keys):
        first, after = self.args
        return keyset_pages_by_parent(self.session, LedgerEntry, LedgerEntry.customer_id, keys,
                                      ordering="ledger", keys=ENTRY_KEYS, first=first, after=after)

    def missing(self, key):
        return empty_page()


class EntryCountByCustomer(CountLoader):
    parent_kind = "customer"
    column = LedgerEntry.customer_id


REDEMPTION_KEYS = [SortKey(RewardRedemption.redeemed_at, lambda r: r.redeemed_at, "datetime", descending=True),
                   SortKey(RewardRedemption.id, lambda r: r.id, "uuid", descending=True)]


class RedemptionsByCustomer(Loader):
    parent_kind = "customer"
    produces = "redemption"

    def batch(self, keys):
        first, after = self.args
        return keyset_pages_by_parent(self.session, RewardRedemption, RewardRedemption.customer_id, keys,
                                      ordering="redemptions", keys=REDEMPTION_KEYS, first=first, after=after)

    def missing(self, key):
        return empty_page()


class RedemptionCountByCustomer(CountLoader):
    parent_kind = "customer"
    column = RewardRedemption.customer_id


class OrderOfEntry(Loader):
    parent_kind = "ledger_entry"
    produces = "order"

    def key_of(self, entry):
        return entry.order_id

    def batch(self, keys):
        return {o.id: o for o in self.session.scalars(select(Order).where(Order.id.in_(keys)))}


class RewardOfRedemption(Loader):
    parent_kind = "redemption"

    def key_of(self, redemption):
        return redemption.reward_id

    def batch(self, keys):
        from loyalty.models import Reward
        return {r.id: r for r in self.session.scalars(select(Reward).where(Reward.id.in_(keys)))}
