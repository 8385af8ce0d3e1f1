from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.db import Base, new_id, utcnow
from crm.enums import Role, enum_column, named_enum

# API: made by an admin (CLI or apiTokenCreate), until revoked or its expiresAt. The sessions are made by a
# sign-in (staffSignIn, portalSessionCreate), always expire, and are purged some time after they have.
TokenKind = named_enum("TokenKind", "API PORTAL_SESSION STAFF_SESSION", __name__)


class StaffUser(Base):
    __tablename__ = "staff_user"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[Role] = mapped_column(enum_column(Role))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # argon2id (argon2-cffi's PasswordHasher), None until `crm staff set-password`: no sign-in without it.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[datetime | None]


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is kept; the token itself is shown once."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_expires_at", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(enum_column(Role))
    kind: Mapped[TokenKind] = mapped_column(enum_column(TokenKind), default=TokenKind.API,
                                            server_default=TokenKind.API.value)
    staff_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    # Written at most about once a minute per token (crm/auth/services.py), not on every request.
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SignInFailure(Base):
    """One failed staffSignIn, for the lockout (5 in 15 minutes). Kept for unknown addresses as for known ones, so
    that both answer alike; the address is kept as its SHA-256 (what was typed is not always an address of ours).
    Rows older than the window are purged."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (Index("ix_sign_in_failure_email_digest_at", "email_digest", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    email_digest: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
