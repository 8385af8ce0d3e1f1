"""The error codes message and care-rule services raise: a DomainError takes one of these members."""
from __future__ import annotations

import enum


class MessageErrorCode(enum.StrEnum):
    """Also the GraphQL enum MessageErrorCode of the payloads' errors: its order is the SDL's."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    CONSENT_MISSING = "CONSENT_MISSING"
    IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"
