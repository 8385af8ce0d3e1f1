"""The error codes staff-user, token and sign-in services raise (AuthError in GraphQL, the CLI prints them): a
DomainError takes one of these members."""
from __future__ import annotations

import enum


class AuthErrorCode(enum.StrEnum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    FORBIDDEN = "FORBIDDEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"  # wrong email or password: one message for both
    LOCKED = "LOCKED"  # too many failed sign-ins; the message says until when
