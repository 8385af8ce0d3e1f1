"""Declared permissions: who may use a root field or mutation, and whose view of a field is masked.

Each declaration also writes itself into the field's SDL description, so a
front-end team reads the rules in the schema they code against.
"""
from __future__ import annotations

from typing import Callable, Iterable

import graphene

from crm.enums import STAFF_ROLES, Role
from crm.errors import Forbidden
from crm.masking import PII_MASKED, mask_email, mask_phone  # noqa: F401  (re-exported: the GraphQL layer's masks)

EVERYONE = tuple(Role)
STAFF = STAFF_ROLES
READ_CUSTOMERS = (*STAFF_ROLES, Role.INTEGRATION)
MANAGE_CUSTOMERS = (Role.ADMIN, Role.ACCOUNT_MANAGER)


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
