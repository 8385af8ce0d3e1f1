"""The ``segmentId`` filter of customer lists: stored members of the segment."""
from __future__ import annotations

import uuid

from sqlalchemy import exists

from crm.customers.models import Customer
from crm.segments.models import SegmentMembership


def segment_filter(stmt, segment_id: uuid.UUID):
    return stmt.where(exists().where(SegmentMembership.segment_id == segment_id,
                                     SegmentMembership.customer_id == Customer.id))
