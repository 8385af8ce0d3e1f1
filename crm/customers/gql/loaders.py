"""Loaders for the customer's relations; each loads for every seen customer at once."""
from __future__ import annotations

from sqlalchemy import select

from crm.api.access import access_customer
from crm.api.loaders import Loader, pages_of, rows_of
from crm.customers.models import (Consent, ConsentChange, Customer, LifecycleTransition, Order,
                                  ServiceTierChange)
from crm.pagination import SortKey


ConsentsByCustomer = rows_of(Consent.customer_id, parent_kind="customer", order_by=(Consent.channel,))
LifecycleHistoryByCustomer = rows_of(LifecycleTransition.customer_id, parent_kind="customer",
                                     order_by=(LifecycleTransition.at, LifecycleTransition.id))
TierHistoryByCustomer = rows_of(ServiceTierChange.customer_id, parent_kind="customer",
                                order_by=(ServiceTierChange.at, ServiceTierChange.id))


CONSENT_CHANGE_KEYS = [SortKey(ConsentChange.at, lambda c: c.at, "datetime", descending=True),
                       SortKey(ConsentChange.id, lambda c: c.id, "uuid", descending=True)]


def _consent_channel(channel=None) -> tuple:
    return () if channel is None else (ConsentChange.channel == channel,)


# A page of each customer's consent changes, newest first. Args: (first, after, channel).
ConsentHistoryByCustomer = pages_of(ConsentChange.customer_id, parent_kind="customer", produces="consent_change",
                                    ordering="customer-consent-history", sort_keys=CONSENT_CHANGE_KEYS,
                                    where=_consent_channel)


ORDER_KEYS = [SortKey(Order.occurred_at, lambda o: o.occurred_at, "datetime", descending=True),
              SortKey(Order.id, lambda o: o.id, "uuid", descending=True)]


# A page of each customer's orders, newest first. Args: (first, after).
OrdersByCustomer = pages_of(Order.customer_id, parent_kind="customer", produces="order", ordering="orders",
                            sort_keys=ORDER_KEYS)


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


def customer_of(kind: str) -> type[CustomerById]:
    """``CustomerById`` for every seen object of ``kind`` (by its ``customer_id``), under the same PORTAL rule."""
    return type(f"CustomerOf_{kind}", (CustomerById,), {"parent_kind": kind})


class PendingEmailByCustomer(Loader):
    """The email a portal asked for and the new address has not confirmed yet."""

    parent_kind = "customer"

    def batch(self, keys):
        from crm.customers.email_change import pending_emails
        return pending_emails(self.session, keys)
