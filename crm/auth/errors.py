"""The error codes staff-user and token services raise (the CLI prints them; no payload carries them):
a DomainError takes one of these members."""
from __future__ import annotations

import enum


class AuthErrorCode(enum.StrEnum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    FORBIDDEN = "FORBIDDEN"
