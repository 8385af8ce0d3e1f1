"""Loaders for segment relations; each loads for every seen parent at once."""
from __future__ import annotations

from sqlalchemy import select

from crm.api.connections import empty_page
from crm.api.loaders import Loader, pages_of, row_by_id
from crm.customers.models import Customer
from crm.pagination import SortKey, keyset_pages_by_parent
from crm.segments.models import Segment, SegmentMembership, SegmentMembershipChange

MEMBER_KEYS = [SortKey(SegmentMembership.joined_at, lambda m: m.joined_at, "datetime", descending=True),
               SortKey(SegmentMembership.customer_id, lambda m: m.customer_id, "uuid", descending=True)]
HISTORY_KEYS = [SortKey(SegmentMembershipChange.at, lambda c: c.at, "datetime", descending=True),
                SortKey(SegmentMembershipChange.id, lambda c: c.id, "uuid", descending=True)]


class MembersBySegment(Loader):
    """A page of each segment's members, most recently joined first. Args: (first, after).

    Two statements for any number of segments: the membership pages, then their customers."""

    parent_kind = "segment"
    produces = "customer"

    def batch(self, keys):
        first, after = self.args
        pages = keyset_pages_by_parent(self.session, SegmentMembership, SegmentMembership.segment_id, keys,
                                       ordering="segment-members", keys=MEMBER_KEYS, first=first, after=after)
        wanted = {m.customer_id for page in pages.values() for m in page.items}
        customers = {c.id: c for c in self.session.scalars(select(Customer).where(Customer.id.in_(wanted)))} \
            if wanted else {}
        for page in pages.values():
            page.items = [customers[m.customer_id] for m in page.items]
        return pages

    def missing(self, key):
        return empty_page()


class SegmentsByCustomer(Loader):
    """The segments each customer is a member of now, by name."""

    parent_kind = "customer"
    produces = "segment"

    def batch(self, keys):
        grouped = {k: [] for k in keys}
        rows = self.session.execute(
            select(SegmentMembership.customer_id, Segment).join(Segment, Segment.id == SegmentMembership.segment_id)
            .where(SegmentMembership.customer_id.in_(keys)).order_by(Segment.name_key))
        for customer_id, segment in rows:
            grouped[customer_id].append(segment)
        return grouped

    def missing(self, key):
        return []


# A page of each customer's or segment's joins and leaves, newest first. Args: (first, after).
HistoryByCustomer = pages_of(SegmentMembershipChange.customer_id, parent_kind="customer", produces="segment_change",
                             ordering="customer-segment-history", sort_keys=HISTORY_KEYS)
HistoryBySegment = pages_of(SegmentMembershipChange.segment_id, parent_kind="segment", produces="segment_change",
                            ordering="segment-history", sort_keys=HISTORY_KEYS)
SegmentOfChange = row_by_id(Segment, parent_kind="segment_change", key="segment_id", produces="segment")


class CustomerOfChange(Loader):
    parent_kind = "segment_change"
    produces = "customer"

    def key_of(self, change):
        return change.customer_id

    def batch(self, keys):
        rows = self.session.scalars(select(Customer).where(Customer.id.in_(keys), Customer.merged_into_id.is_(None)))
        return {c.id: c for c in rows}
