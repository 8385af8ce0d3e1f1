"""The error codes customer, order and email-change services raise:
a DomainError takes one of these members."""
from __future__ import annotations

from crm.errors import domain_codes

CustomerErrorCode = domain_codes(
    "CustomerErrorCode", "INVALID_TRANSITION IDEMPOTENCY_MISMATCH", __name__, duplicate=True)
