"""The error codes loyalty ledger and reward services raise: a DomainError takes one of these members."""
from __future__ import annotations

from crm.errors import domain_codes

LoyaltyErrorCode = domain_codes(
    "LoyaltyErrorCode", "INSUFFICIENT_POINTS IDEMPOTENCY_MISMATCH OUT_OF_STOCK TIER_TOO_LOW REWARD_INACTIVE", __name__)
