"""The error codes segment and service-tier services raise: a DomainError takes one of these members."""
from __future__ import annotations

from crm.errors import domain_codes

SegmentErrorCode = domain_codes("SegmentErrorCode", "", __name__, duplicate=True)
