"""The error codes loyalty ledger and reward services raise: a DomainError takes one of these members."""
from __future__ import annotations

import enum


class LoyaltyErrorCode(enum.StrEnum):
    """Also the GraphQL enum LoyaltyErrorCode of the payloads' errors: its order is the SDL's."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    TIER_TOO_LOW = "TIER_TOO_LOW"
    REWARD_INACTIVE = "REWARD_INACTIVE"
