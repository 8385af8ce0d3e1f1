"""Domain enums shared by every package. Values equal the GraphQL enum values."""
from __future__ import annotations

import enum

import sqlalchemy as sa


class Role(str, enum.Enum):
    ADMIN = "ADMIN"
    ACCOUNT_MANAGER = "ACCOUNT_MANAGER"
    SUPPORT_AGENT = "SUPPORT_AGENT"
    MARKETER = "MARKETER"
    PORTAL = "PORTAL"
    INTEGRATION = "INTEGRATION"


STAFF_ROLES = (Role.ADMIN, Role.ACCOUNT_MANAGER, Role.SUPPORT_AGENT, Role.MARKETER)


class LifecycleStage(str, enum.Enum):
    LEAD = "LEAD"
    PROSPECT = "PROSPECT"
    NEW = "NEW"
    DEVELOPING = "DEVELOPING"
    LOYAL = "LOYAL"
    ADVOCATE = "ADVOCATE"
    AT_RISK = "AT_RISK"
    CHURNED = "CHURNED"


class ServiceTier(str, enum.Enum):
    VIP = "VIP"
    PREFERRED = "PREFERRED"
    STANDARD = "STANDARD"


class Channel(str, enum.Enum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    PUSH = "PUSH"
    PHONE = "PHONE"
    WEB = "WEB"
    APP = "APP"
    SOCIAL = "SOCIAL"
    CHAT = "CHAT"
    STORE = "STORE"
    SERVICE_CENTER = "SERVICE_CENTER"
    SELF_SERVICE = "SELF_SERVICE"


def enum_column(enum_cls: type[enum.Enum]) -> sa.Enum:
    """Enums stored as plain strings: portable, and new values need no ALTER TYPE."""
    return sa.Enum(enum_cls, native_enum=False, create_constraint=False, length=32,
                   values_callable=lambda e: [m.value for m in e])
