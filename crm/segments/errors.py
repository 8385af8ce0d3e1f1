"""The error codes segment and service-tier services raise: a DomainError takes one of these members."""
from __future__ import annotations

import enum


class SegmentErrorCode(enum.StrEnum):
    """Also the GraphQL enum SegmentErrorCode of the payloads' errors: its order is the SDL's."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    FORBIDDEN = "FORBIDDEN"
