"""Declared permissions: the capability a root field or mutation requires, and whose view of a field is masked.

Who holds which capability is crm.auth.permissions' table. Each declaration also writes the capability and
its roles into the field's SDL description, so a front-end team reads the rules in the schema it codes against.
"""
from __future__ import annotations

from typing import Callable

import graphene

from crm.auth.permissions import Capability, has, roles_for, roles_without
from crm.errors import Forbidden
from crm.masking import mask_email, mask_phone  # noqa: F401  (re-exported: the GraphQL layer's masks)


def requires_text(capability: Capability, subject: str | None = None) -> str:
    """"Requires campaigns.write: ADMIN, MARKETER.", or with ``subject`` "<subject> requires ..."."""
    capability = Capability(capability)
    verb = f"{subject} requires" if subject else "Requires"
    return f"{verb} {capability.value}: " + ", ".join(r.value for r in roles_for(capability)) + "."


def describe(description: str | None, capability: Capability, note: str | None = None) -> str:
    parts = [p for p in (description, requires_text(capability), note) if p]
    return " ".join(parts)


def require(context, capability: Capability) -> None:
    if not has(context.viewer.role, capability):
        raise Forbidden(f"The {context.viewer.role.value} role may not use this.")


class PermissionField(graphene.Field):
    """A field usable only by the roles holding ``capability``; anyone else gets a FORBIDDEN GraphQL error."""

    def __init__(self, type_, *args, capability: Capability, description: str | None = None,
                 note: str | None = None, **kwargs):
        self.capability = Capability(capability)
        super().__init__(type_, *args, description=describe(description, self.capability, note), **kwargs)

    def wrap_resolve(self, parent_resolver):
        resolver = super().wrap_resolve(parent_resolver)
        capability = self.capability

        def guarded(root, info, **kwargs):
            require(info.context, capability)
            return resolver(root, info, **kwargs)

        return guarded


class MaskedField(graphene.Field):
    """A field whose value is masked for the roles without ``unmasked_by`` (contact details: customers.pii)."""

    def __init__(self, type_, *args, mask: Callable[[str], str],
                 unmasked_by: Capability = Capability.CUSTOMERS_PII, description: str | None = None, **kwargs):
        self.mask, self.unmasked_by = mask, Capability(unmasked_by)
        note = "Masked for: " + ", ".join(r.value for r in roles_without(self.unmasked_by)) + "."
        super().__init__(type_, *args, description=" ".join(p for p in (description, note) if p), **kwargs)

    def wrap_resolve(self, parent_resolver):
        resolver = super().wrap_resolve(parent_resolver)
        mask, unmasked_by = self.mask, self.unmasked_by

        def masked(root, info, **kwargs):
            value = resolver(root, info, **kwargs)
            if value is not None and not has(info.context.viewer.role, unmasked_by):
                return mask(value)
            return value

        return masked
