"""Domain errors: raised by services, turned into payload errors by the mutation base class."""
from __future__ import annotations


class DomainError(Exception):
    """A failure the caller can act on. ``code`` is a value of the domain's ErrorCode enum."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class NotFound(DomainError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__("NOT_FOUND", message, field)


class Forbidden(DomainError):
    def __init__(self, message: str = "You do not have permission to do this.", field: str | None = None):
        super().__init__("FORBIDDEN", message, field)


class Invalid(DomainError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__("INVALID", message, field)
