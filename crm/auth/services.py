"""Staff users, API tokens and sessions: creation, revocation, authentication (expiry, lastUsedAt) and the purge.
Tokens are random, shown once, and stored as SHA-256; docs/auth.md says why they are rows rather than signed."""
from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from crm.auth.errors import AuthErrorCode
from crm.auth.models import ApiToken, SignInFailure, StaffUser, TokenKind
from crm.auth.permissions import Capability, has
from crm.customers.models import Customer
from crm.customers.schemas import normalise_email
from crm.db import transaction, utcnow
from crm.enums import STAFF_ROLES, Role
from crm.errors import DomainError, Invalid, NotFound
from marshmallow import ValidationError

log = logging.getLogger(__name__)

TOKEN_PREFIX = "crm_"
LABEL_LENGTH = 200
PORTAL_SESSION_TTL = 3600  # seconds, when portalSessionCreate names none
MIN_SESSION_TTL = 60
# lastUsedAt is kept to about this many seconds: at most one write per token per interval, not one per request.
LAST_USED_RESOLUTION = 60
UNKNOWN_TOKEN = "Authentication required: send `Authorization: Bearer <token>` with a valid token."


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
                 customer_id: uuid.UUID | None = None, label: str | None = None,
                 expires_at: datetime | None = None, kind: TokenKind = TokenKind.API) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the token text, which is never stored or shown again. ``expires_at``
    None: until revoked (sessions always have one)."""
    with transaction(session):
        return _new_token(session, role=role, staff_email=staff_email, customer_id=customer_id, label=label,
                          expires_at=expires_at, kind=kind)


def _new_token(session: Session, *, role: Role, staff_email: str | None, customer_id: uuid.UUID | None,
               label: str | None, expires_at: datetime | None, kind: TokenKind,
               expires_in: timedelta | None = None) -> tuple[ApiToken, str]:
    now = utcnow()
    if expires_in is not None:  # from the instant the row records as its creation: expiresAt - createdAt is exact
        expires_at = now + expires_in
    if expires_at is not None and expires_at <= now:
        raise Invalid("The expiry must be in the future.", "expiresAt")
    if label is not None and len(label) > LABEL_LENGTH:
        raise Invalid(f"A label is at most {LABEL_LENGTH} characters.", "label")
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
    row = ApiToken(id=uuid.uuid4(), token_hash=hash_token(token), role=role, kind=kind,
                   staff_user_id=staff.id if staff else None, customer_id=customer_id, label=label,
                   created_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row, token


def create_portal_session(session: Session, *, customer_id: uuid.UUID, ttl_seconds: int | None,
                          max_ttl: int, label: str | None = None) -> tuple[ApiToken, str]:
    """A PORTAL token bound to ``customer_id`` for ``ttl_seconds`` (default an hour, capped at ``max_ttl``): what a
    portal's back end gets for a customer it has signed in."""
    ttl = PORTAL_SESSION_TTL if ttl_seconds is None else ttl_seconds
    if ttl < MIN_SESSION_TTL:
        raise Invalid(f"A session lasts at least {MIN_SESSION_TTL} seconds.", "ttlSeconds")
    ttl = min(ttl, int(max_ttl))
    with transaction(session):
        return _new_token(session, role=Role.PORTAL, staff_email=None, customer_id=customer_id, label=label,
                          expires_at=None, expires_in=timedelta(seconds=ttl), kind=TokenKind.PORTAL_SESSION)


def revoke_token(session: Session, *, token_id: uuid.UUID, by: Viewer | None = None) -> ApiToken:
    """Revoke a token at once; revoking twice keeps the first revocation time. ``by``: the viewer asking (None:
    the operator's shell). A viewer without ``tokens.manage`` revokes its own token only (signing out); any other
    id is NOT_FOUND, as an unknown one, so that a token cannot probe for others."""
    with transaction(session):
        if by is not None and not has(by.role, Capability.TOKENS_MANAGE) and token_id != by.token_id:
            raise NotFound("No token has this id.", "id")
        row = session.get(ApiToken, token_id)
        if row is None:
            raise NotFound("No token has this id.", "id" if by is not None else "tokenId")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
    return row


class TokenRefused(Exception):
    """A bearer token that stands for no one: ``code`` UNAUTHENTICATED (unknown or revoked) or TOKEN_EXPIRED."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def authenticate(session: Session, token: str, *, touch_after: float = LAST_USED_RESOLUTION) -> Viewer:
    """The viewer a bearer token stands for; raises TokenRefused when it is unknown, revoked or expired.

    One indexed lookup per request. ``last_used_at`` is written only when it is older than ``touch_after``
    seconds, by a conditional UPDATE (concurrent requests of one token write it once), committed at once: the
    request's transaction then starts afresh, as it would have without the write."""
    row = session.execute(
        select(ApiToken, StaffUser.email)
        .outerjoin(StaffUser, StaffUser.id == ApiToken.staff_user_id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        raise TokenRefused("UNAUTHENTICATED", UNKNOWN_TOKEN)
    api_token, staff_email = row
    now = utcnow()
    if api_token.expires_at is not None and api_token.expires_at <= now:
        raise TokenRefused("TOKEN_EXPIRED", f"The token expired at {api_token.expires_at.isoformat()}: sign in "
                                            "again for a new one.")
    stale = now - timedelta(seconds=touch_after)
    if api_token.last_used_at is None or api_token.last_used_at < stale:
        _touch(session, api_token.id, now, stale)
    return Viewer(role=api_token.role, token_id=api_token.id, staff_user_id=api_token.staff_user_id,
                  staff_email=staff_email, customer_id=api_token.customer_id, label=api_token.label)


def _touch(session: Session, token_id: uuid.UUID, now: datetime, stale: datetime) -> None:
    try:
        with transaction(session):
            session.execute(update(ApiToken)
                            .where(ApiToken.id == token_id,
                                   or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < stale))
                            .values(last_used_at=now).execution_options(synchronize_session=False))
    except OperationalError:
        # A busy or read-only database must not refuse a valid token: the next request tries again.
        log.warning("could not record the last use of token %s", token_id, exc_info=True)


SESSION_KINDS = (TokenKind.PORTAL_SESSION, TokenKind.STAFF_SESSION)


def purge_expired(session: Session, *, grace_seconds: float, failure_window_seconds: float) -> dict:
    """Delete sessions expired more than ``grace_seconds`` ago (until then they answer TOKEN_EXPIRED, not
    UNAUTHENTICATED) and sign-in failures older than the lockout window. API tokens are kept: they are few,
    and listing a revoked or expired one says what it was. Safe to run twice and late."""
    now = utcnow()
    with transaction(session):
        sessions = session.execute(
            delete(ApiToken).where(ApiToken.kind.in_(SESSION_KINDS),
                                   ApiToken.expires_at < now - timedelta(seconds=grace_seconds))
            .execution_options(synchronize_session=False)).rowcount
        failures = session.execute(
            delete(SignInFailure).where(SignInFailure.at < now - timedelta(seconds=failure_window_seconds))
            .execution_options(synchronize_session=False)).rowcount
    return {"sessions": sessions, "signInFailures": failures}
