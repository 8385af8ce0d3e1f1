"""The error codes journey maps, interactions and the service desk (cases, surveys) raise:
a DomainError takes one of these members."""
from __future__ import annotations

from crm.errors import domain_codes

JourneyErrorCode = domain_codes("JourneyErrorCode", "INVALID_TRANSITION IDEMPOTENCY_MISMATCH", __name__, duplicate=True)
