"""Domain errors: raised by services, turned into payload errors by the mutation base class."""
from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """The codes any service may raise and the mutation base returns itself (refused role, invalid or missing
    argument): every domain's error-code enum has these members too (tests/platform/test_error_codes.py)."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"


def domain_codes(name: str, own: str, module: str, *, duplicate: bool = False,
                 deprecated: dict[str, str] | None = None) -> type[enum.StrEnum]:
    """A domain's error-code enum (``<domain>/errors.py``), also its GraphQL enum, in this order: the generic
    codes of ErrorCode, with DUPLICATE before FORBIDDEN where the domain has unique keys (``duplicate``), then
    ``own`` (space-separated). ``deprecated`` (name -> what to use instead) names members kept for the clients
    that match on them and never raised; the GraphQL enum deprecates them. ``module`` is the caller's
    ``__name__``, as in crm.enums.named_enum."""
    generic = [code.value for code in ErrorCode]
    if duplicate:
        generic.insert(generic.index(ErrorCode.FORBIDDEN), "DUPLICATE")
    codes = enum.StrEnum(name, [(code, code) for code in generic + own.split()], module=module, qualname=name)
    if deprecated:
        codes.DEPRECATED = deprecated
    return codes


class DomainError(Exception):
    """A failure the caller can act on. ``code`` is a member of the domain's error-code enum
    (``<domain>/errors.py``), a StrEnum: its value is the GraphQL enum value the payload carries."""

    def __init__(self, code: enum.Enum, message: str, field: str | None = None):
        if not isinstance(code, enum.Enum):  # a free-text code would reach a payload whose enum lacks it
            raise TypeError(f"DomainError takes a member of an error-code enum, not {code!r}.")
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class NotFound(DomainError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(ErrorCode.NOT_FOUND, message, field)


class Forbidden(DomainError):
    def __init__(self, message: str = "You do not have permission to do this.", field: str | None = None):
        super().__init__(ErrorCode.FORBIDDEN, message, field)


class Invalid(DomainError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(ErrorCode.INVALID, message, field)
