"""Domain enums shared by every package. Values equal the GraphQL enum values."""
from __future__ import annotations

import enum

import sqlalchemy as sa


def named_enum(name: str, members: str, module: str) -> type[enum.Enum]:
    """A str enum whose every value is its member's name, as GraphQL enum values are; ``members`` space-separated,
    in order. ``module`` (the caller's ``__name__``) keeps the members picklable, as a class statement would."""
    return enum.Enum(name, [(member, member) for member in members.split()], type=str, module=module, qualname=name)


Role = named_enum("Role", "ADMIN ACCOUNT_MANAGER SUPPORT_AGENT MARKETER PORTAL INTEGRATION", __name__)


STAFF_ROLES = (Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPPORT_AGENT, Role.MARKETER)


LifecycleStage = named_enum("LifecycleStage", "LEAD PROSPECT NEW DEVELOPING LOYAL ADVOCATE AT_RISK CHURNED", __name__)


ServiceTier = named_enum("ServiceTier", "VIP PREFERRED STANDARD", __name__)


Channel = named_enum("Channel", "EMAIL SMS PUSH PHONE WEB APP SOCIAL CHAT STORE SERVICE_CENTER SELF_SERVICE", __name__)


def enum_column(enum_cls: type[enum.Enum]) -> sa.Enum:
    """Enums stored as plain strings: portable, and new values need no ALTER TYPE."""
    return sa.Enum(enum_cls, native_enum=False, create_constraint=False, length=32,
                   values_callable=lambda e: [m.value for m in e])
