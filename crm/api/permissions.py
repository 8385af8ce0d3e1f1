"""Declared permissions: who may use a root field or mutation, and whose view of a field is masked.

Each declaration also writes itself into the field's SDL description, so a
front-end team reads the rules in the schema they code against.
"""
from __future__ import annotations

from typing import Callable, Iterable

import graphene

from crm.enums import STAFF_ROLES, Role
from crm.errors import Forbidden

EVERYONE = tuple(Role)
STAFF = STAFF_ROLES
READ_CUSTOMERS = (*STAFF_ROLES, Role.INTEGRATION)
MANAGE_CUSTOMERS = (Role.ADMIN, Role.ACCOUNT_MANAGER)
# Roles that see a customer's email and phone masked. They can neither search nor look up by them,
# or they could recover the hidden values one character at a time.
PII_MASKED = (Role.MARKETER,)


def roles_text(roles: Iterable[Role]) -> str:
    return "Requires one of: " + ", ".join(r.value for r in roles) + "."


def describe(description: str | None, roles: Iterable[Role], note: str | None = None) -> str:
    parts = [p for p in (description, roles_text(roles), note) if p]
    return " ".join(parts)


def check_role(context, roles: Iterable[Role]) -> None:
    if context.viewer.role not in tuple(roles):
        raise Forbidden(f"The {context.viewer.role.value} role may not use this.")


class PermissionField(graphene.Field):
    """A root field usable only by ``roles``; anyone else gets a FORBIDDEN GraphQL error."""

    def __init__(self, type_, *args, roles: Iterable[Role], description: str | None = None,
                 note: str | None = None, **kwargs):
        self.roles = tuple(roles)
        super().__init__(type_, *args, description=describe(description, self.roles, note), **kwargs)

    def wrap_resolve(self, parent_resolver):
        resolver = super().wrap_resolve(parent_resolver)
        roles = self.roles

        def guarded(root, info, **kwargs):
            check_role(info.context, roles)
            return resolver(root, info, **kwargs)

        return guarded


class MaskedField(graphene.Field):
    """A field whose value is masked for some roles (PII for marketers)."""

    def __init__(self, type_, *args, mask: Callable[[str], str], masked_for: Iterable[Role],
                 description: str | None = None, **kwargs):
        self.mask, self.masked_for = mask, tuple(masked_for)
        note = "Masked for: " + ", ".join(r.value for r in self.masked_for) + "."
        super().__init__(type_, *args, description=" ".join(p for p in (description, note) if p), **kwargs)

    def wrap_resolve(self, parent_resolver):
        resolver = super().wrap_resolve(parent_resolver)
        mask, masked_for = self.mask, self.masked_for

        def masked(root, info, **kwargs):
            value = resolver(root, info, **kwargs)
            if value is not None and info.context.viewer.role in masked_for:
                return mask(value)
            return value

        return masked


def mask_email(email: str) -> str:
    """a***@example.com"""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    """+44*******12: keep the country code and the last two digits."""
    import phonenumbers

    try:
        country_code = str(phonenumbers.parse(phone, None).country_code)
    except phonenumbers.NumberParseException:
        country_code = phone[1:3]
    head = "+" + country_code
    hidden = len(phone) - len(head) - 2
    return head + "*" * max(hidden, 0) + phone[-2:]
