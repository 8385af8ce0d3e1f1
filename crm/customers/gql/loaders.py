"""Loaders for the customer's relations; each loads for every seen customer at once."""
from __future__ import annotations

from sqlalchemy import select

from crm.api.access import access_customer
from crm.api.connections import empty_page
from crm.api.loaders import CountLoader, Loader
from crm.customers.models import Consent, Customer, LifecycleTransition, Order, ServiceTierChange
from crm.pagination import SortKey, keyset_pages_by_parent


class ConsentsByCustomer(Loader):
    parent_kind = "customer"

    def batch(self, keys):
        grouped = {k: [] for k in keys}
        for row in self.session.scalars(select(Consent).where(Consent.customer_id.in_(keys))
                                        .order_by(Consent.channel)):
            grouped[row.customer_id].append(row)
        return grouped

    def missing(self, key):
        return []


class LifecycleHistoryByCustomer(Loader):
    parent_kind = "customer"

    def batch(self, keys):
        grouped = {k: [] for k in keys}
        stmt = (select(LifecycleTransition).where(LifecycleTransition.customer_id.in_(keys))
                .order_by(LifecycleTransition.at, LifecycleTransition.id))
        for row in self.session.scalars(stmt):
            grouped[row.customer_id].append(row)
        return grouped

    def missing(self, key):
        return []


class TierHistoryByCustomer(Loader):
    parent_kind = "customer"

    def batch(self, keys):
        grouped = {k: [] for k in keys}
        stmt = (select(ServiceTierChange).where(ServiceTierChange.customer_id.in_(keys))
                .order_by(ServiceTierChange.at, ServiceTierChange.id))
        for row in self.session.scalars(stmt):
            grouped[row.customer_id].append(row)
        return grouped

    def missing(self, key):
        return []


ORDER_KEYS = [SortKey(Order.occurred_at, lambda o: o.occurred_at, "datetime", descending=True),
              SortKey(Order.id, lambda o: o.id, "uuid", descending=True)]


class OrdersByCustomer(Loader):
    """A page of each customer's orders, newest first. Args: (first, after)."""

    parent_kind = "customer"
    produces = "order"

    def batch(self, keys):
        first, after = self.args
        return keyset_pages_by_parent(self.session, Order, Order.customer_id, keys, ordering="orders",
                                      keys=ORDER_KEYS, first=first, after=after)

    def missing(self, key):
        return empty_page()


class OrderCountByCustomer(CountLoader):
    parent_kind = "customer"
    column = Order.customer_id


class CustomerById(Loader):
    """The customer of every seen order."""

    parent_kind = "order"
    produces = "customer"

    def key_of(self, order):
        return order.customer_id

    def batch(self, keys):
        keys = [k for k in keys if access_customer(self.context, k) is not None]  # the PORTAL rule, on every path
        rows = self.session.scalars(select(Customer).where(Customer.id.in_(keys), Customer.merged_into_id.is_(None)))
        return {row.id: row for row in rows}


class PendingEmailByCustomer(Loader):
    """The email a portal asked for and the new address has not confirmed yet."""

    parent_kind = "customer"

    def batch(self, keys):
        from crm.customers.email_change import pending_emails
        return pending_emails(self.session, keys)
