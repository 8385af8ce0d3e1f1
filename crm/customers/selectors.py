"""Reads of the customer core: lookups and the filtered, ordered customer list."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import false, func, literal, or_, select
from sqlalchemy.orm import Session

from crm.customers.models import Customer
from crm.db import UTCDateTime
from crm.enums import LifecycleStage, ServiceTier
from crm.errors import Invalid
from crm.pagination import Page, SortKey, keyset_page

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def live_customers():
    """Customers that exist: a merged duplicate no longer resolves."""
    return select(Customer).where(Customer.merged_into_id.is_(None))


def get_customer(session: Session, customer_id: uuid.UUID) -> Customer | None:
    customer = session.get(Customer, customer_id)
    return customer if customer is not None and customer.merged_into_id is None else None


def find_customer(session: Session, *, email: str | None = None, external_id: str | None = None) -> Customer | None:
    stmt = live_customers()
    if email is not None:
        stmt = stmt.where(Customer.email == email.strip().lower())
    if external_id is not None:
        stmt = stmt.where(Customer.external_id == external_id.strip())
    return session.scalars(stmt.limit(1)).first()


@dataclass
class CustomerFilter:
    search: str | None = None
    lifecycle_stages: list[LifecycleStage] | None = None
    service_tiers: list[ServiceTier] | None = None
    segment_id: uuid.UUID | None = None
    loyalty_tier: str | None = None
    account_manager_id: uuid.UUID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    # False for roles that see contact details masked: search then matches names only.
    search_contact_details: bool = True


# Filters whose data belongs to other domains: crm.segments and loyalty register their own when the
# app is composed. Without them (a package used on its own) no customer is in any segment.
FilterProvider = Callable[[object, object], object]
FILTER_PROVIDERS: dict[str, FilterProvider] = {
    "segment_id": lambda stmt, _segment_id: stmt.where(false()),
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def apply_filter(stmt, flt: CustomerFilter | None):
    if flt is None:
        return stmt
    if flt.search and flt.search.strip():
        prefix = _escape_like(flt.search.strip().lower()) + "%"
        phone_prefix = _escape_like("".join(ch for ch in flt.search if ch.isdigit() or ch == "+")) + "%"
        full_name = Customer.first_name_key + " " + Customer.last_name_key
        conditions = [Customer.first_name_key.like(prefix, escape="\\"),
                      Customer.last_name_key.like(prefix, escape="\\"), full_name.like(prefix, escape="\\")]
        if flt.search_contact_details:
            conditions.append(Customer.email.like(prefix, escape="\\"))
        if flt.search_contact_details and phone_prefix.strip("%+"):
            conditions.append(Customer.phone.like(phone_prefix if phone_prefix.startswith("+") else "+" + phone_prefix,
                                                  escape="\\"))
        stmt = stmt.where(or_(*conditions))
    if flt.lifecycle_stages:
        stmt = stmt.where(Customer.lifecycle_stage.in_(flt.lifecycle_stages))
    if flt.service_tiers:
        stmt = stmt.where(Customer.service_tier.in_(flt.service_tiers))
    if flt.account_manager_id is not None:
        stmt = stmt.where(Customer.account_manager_id == flt.account_manager_id)
    if flt.created_after is not None:
        stmt = stmt.where(Customer.created_at >= flt.created_after)
    if flt.created_before is not None:
        stmt = stmt.where(Customer.created_at < flt.created_before)
    for name in ("segment_id", "loyalty_tier"):
        value = getattr(flt, name)
        if value is not None and name in FILTER_PROVIDERS:
            stmt = FILTER_PROVIDERS[name](stmt, value)
    return stmt


_ORDERINGS: dict[str, tuple[object, Callable, str]] = {
    "CREATED_AT": (Customer.created_at, lambda c: c.created_at, "datetime"),
    "LAST_NAME": (Customer.last_name_key, lambda c: c.last_name_key, "str"),
    "TOTAL_SPENT": (Customer.total_spent, lambda c: c.total_spent, "decimal"),
}


def _sort_keys(field: str, descending: bool) -> list[SortKey]:
    if field == "LAST_INTERACTION_AT":
        # Never-contacted customers sort as the oldest contact, keeping the keyset total.
        expr = func.coalesce(Customer.last_interaction_at, literal(EPOCH, UTCDateTime()))
        primary = SortKey(expr, lambda c: c.last_interaction_at or EPOCH, "datetime", descending)
    elif field in _ORDERINGS:
        expr, getter, kind = _ORDERINGS[field]
        primary = SortKey(expr, getter, kind, descending)
    else:
        raise Invalid(f"Unknown ordering {field}.", "orderBy")
    return [primary, SortKey(Customer.id, lambda c: c.id, "uuid", descending)]


def list_customers(session: Session, *, first: int, after: str | None = None, flt: CustomerFilter | None = None,
                   order_field: str = "CREATED_AT", descending: bool = True) -> Page:
    keys = _sort_keys(order_field, descending)
    stmt = apply_filter(live_customers(), flt)
    return keyset_page(session, stmt, ordering=f"customers:{order_field}:{'desc' if descending else 'asc'}",
                       keys=keys, first=first, after=after)
