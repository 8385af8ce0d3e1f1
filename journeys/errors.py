"""The error codes journey maps, interactions and the service desk (cases, surveys) raise:
a DomainError takes one of these members."""
from __future__ import annotations

import enum


class JourneyErrorCode(enum.StrEnum):
    """Also the GraphQL enum JourneyErrorCode of the payloads' errors: its order is the SDL's."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    FORBIDDEN = "FORBIDDEN"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"
