"""The error codes message and care-rule services raise: a DomainError takes one of these members."""
from __future__ import annotations

from crm.errors import domain_codes

MessageErrorCode = domain_codes("MessageErrorCode", "CONSENT_MISSING IDEMPOTENCY_MISMATCH", __name__)
