"""Staff users and API tokens. Tokens are random, shown once, and stored as SHA-256."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.auth.errors import AuthErrorCode
from crm.auth.models import ApiToken, StaffUser
from crm.customers.models import Customer
from crm.customers.schemas import normalise_email
from crm.db import transaction, utcnow
from crm.enums import STAFF_ROLES, Role
from crm.errors import DomainError, Invalid, NotFound
from marshmallow import ValidationError

TOKEN_PREFIX = "crm_"


@dataclass(frozen=True)
class Viewer:
    """Who is asking: resolved from the bearer token once per request."""

    role: Role
    token_id: uuid.UUID | None = None
    staff_user_id: uuid.UUID | None = None
    staff_email: str | None = None
    customer_id: uuid.UUID | None = None
    label: str | None = None

    @property
    def actor(self) -> str:
        """How this viewer is named in histories."""
        if self.staff_email:
            return self.staff_email
        if self.role == Role.PORTAL:
            return "customer"
        return f"{self.role.value.lower()}:{self.label or self.token_id}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_staff(session: Session, *, name: str, email: str, role: Role) -> StaffUser:
    if role not in STAFF_ROLES:
        raise Invalid(f"Staff users have one of the roles {', '.join(r.value for r in STAFF_ROLES)}.", "role")
    if not name.strip():
        raise DomainError(AuthErrorCode.REQUIRED, "A staff user needs a name.", "name")
    try:
        email = normalise_email(email)
    except ValidationError as exc:
        raise Invalid(exc.messages[0], "email") from None
    with transaction(session):
        if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
            raise DomainError(AuthErrorCode.DUPLICATE, "A staff user with this email exists.", "email")
        staff = StaffUser(id=uuid.uuid4(), name=name.strip(), email=email, role=role, created_at=utcnow())
        session.add(staff)
    return staff


def create_token(session: Session, *, role: Role, staff_email: str | None = None,
                 customer_id: uuid.UUID | None = None, label: str | None = None) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the token text, which is never stored or shown again."""
    with transaction(session):
        staff = None
        if staff_email:
            staff = session.scalars(select(StaffUser).where(StaffUser.email == staff_email.strip().lower())).first()
            if staff is None:
                raise NotFound(f"No staff user has the email {staff_email}.", "staff")
            if staff.role != role:
                raise Invalid(f"{staff.email} has the role {staff.role.value}, not {role.value}.", "role")
        if role == Role.PORTAL:
            if customer_id is None:
                raise DomainError(AuthErrorCode.REQUIRED,
                                  "A PORTAL token is bound to one customer: give --customer.", "customer")
            customer = session.get(Customer, customer_id)
            if customer is None or customer.merged_into_id is not None:
                raise NotFound("No customer has this id.", "customer")
        elif customer_id is not None:
            raise Invalid("Only PORTAL tokens are bound to a customer.", "customer")
        if role in STAFF_ROLES and staff is None and role != Role.ADMIN:
            raise DomainError(AuthErrorCode.REQUIRED,
                              f"A {role.value} token belongs to a staff user: give --staff.", "staff")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(id=uuid.uuid4(), token_hash=hash_token(token), role=role,
                       staff_user_id=staff.id if staff else None, customer_id=customer_id, label=label,
                       created_at=utcnow())
        session.add(row)
    return row, token


def revoke_token(session: Session, *, token_id: uuid.UUID) -> ApiToken:
    """Revoke a token at once; revoking twice keeps the first revocation time."""
    with transaction(session):
        row = session.get(ApiToken, token_id)
        if row is None:
            raise NotFound("No token has this id.", "tokenId")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
    return row


def authenticate(session: Session, token: str) -> Viewer | None:
    """The viewer a bearer token stands for, or None when it is unknown or revoked."""
    row = session.execute(
        select(ApiToken, StaffUser.email)
        .outerjoin(StaffUser, StaffUser.id == ApiToken.staff_user_id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    api_token, staff_email = row
    return Viewer(role=api_token.role, token_id=api_token.id, staff_user_id=api_token.staff_user_id,
                  staff_email=staff_email, customer_id=api_token.customer_id, label=api_token.label)
