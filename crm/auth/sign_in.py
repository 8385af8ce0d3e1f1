"""Staff sign-in with email and password, the lockout after repeated failures, and setting a password.

Passwords are argon2id hashes made by argon2-cffi's PasswordHasher with the library's defaults (RFC 9106's
low-memory profile); a hash made with other parameters is replaced at the next sign-in.

An unknown email, a staff user without a password and a wrong password get one answer, and each costs one
argon2 verification (against a dummy hash when there is nothing to verify against) and one failure row, so
neither the answer nor its time tells whether an address belongs to someone. The lockout counts failures per
email digest, known addresses or not, for the same reason.

A failure must outlive the error it answers with, while the mutation base rolls back on DomainError: so the
failure is committed in its own transaction first, and the error raised after it. argon2 runs between the
read and the write, outside any transaction: SQLite's transactions take the write lock at their first
statement, and a sign-in would otherwise hold it for the whole verification.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from crm.auth.errors import AuthErrorCode
from crm.auth.models import ApiToken, SignInFailure, StaffUser, TokenKind
from crm.auth.permissions import ANONYMOUS
from crm.auth.services import TOKEN_PREFIX, Viewer, hash_token
from crm.db import transaction, utcnow
from crm.errors import DomainError

HASHER = PasswordHasher()

MIN_PASSWORD_LENGTH = 12
# Far above any passphrase; argon2 pre-hashes its input, but a megabyte body should not be hashed at all.
MAX_PASSWORD_LENGTH = 1024
MAX_EMAIL_LENGTH = 320

INVALID_CREDENTIALS_MESSAGE = "The email or password is not correct."

# Who a request without a token is while it signs in: it holds staff.sign_in and nothing else.
ANONYMOUS_VIEWER = Viewer(role=ANONYMOUS)


@dataclass(frozen=True)
class SignInSettings:
    session_ttl: timedelta = timedelta(hours=8)
    max_failures: int = 5
    failure_window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls, config) -> SignInSettings:
        return cls(session_ttl=timedelta(seconds=int(config["STAFF_SESSION_TTL"])),
                   max_failures=int(config["SIGN_IN_MAX_FAILURES"]),
                   failure_window=timedelta(seconds=int(config["SIGN_IN_FAILURE_WINDOW"])))


@dataclass(frozen=True)
class SignedIn:
    """A new STAFF_SESSION: its row, the token (shown once) and the viewer it stands for."""

    token_row: ApiToken
    token: str
    viewer: Viewer

    @property
    def expires_at(self) -> datetime:
        return self.token_row.expires_at


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of a random secret, made with HASHER's parameters, that nothing verifies against successfully."""
    return HASHER.hash(secrets.token_urlsafe(32))


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return HASHER.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _format_instant(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _lock_lifts_at(session: Session, digest: str, now: datetime, settings: SignInSettings) -> datetime | None:
    """When the lockout of ``digest`` lifts, or None when it is not locked: once fewer than max_failures of
    its failures are within the window, that is, when the failure that makes the count max_failures ages out."""
    times = session.scalars(select(SignInFailure.at)
                            .where(SignInFailure.email_digest == digest,
                                   SignInFailure.at > now - settings.failure_window)
                            .order_by(SignInFailure.at)).all()
    if len(times) < settings.max_failures:
        return None
    return times[len(times) - settings.max_failures] + settings.failure_window


def _record_failure(session: Session, digest: str, settings: SignInSettings) -> None:
    now = utcnow()
    with transaction(session):
        # Only the window is ever counted: older rows go as new ones come, unknown addresses' too.
        session.execute(delete(SignInFailure).where(SignInFailure.at <= now - settings.failure_window))
        session.add(SignInFailure(email_digest=digest, at=now))


def sign_in_staff(session: Session, *, email: str, password: str, settings: SignInSettings) -> SignedIn:
    """A STAFF_SESSION token for the staff user with ``email`` and ``password``; raises INVALID_CREDENTIALS
    (one message for every wrong pair; the failure is committed first) or LOCKED (with when it lifts)."""
    if not email.strip():
        raise DomainError(AuthErrorCode.REQUIRED, "Enter the email address.", "email")
    if not password:
        raise DomainError(AuthErrorCode.REQUIRED, "Enter the password.", "password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise DomainError(AuthErrorCode.INVALID,
                          f"A password has at most {MAX_PASSWORD_LENGTH} characters.", "password")
    normalised = email.strip().lower()
    digest = email_digest(normalised)
    with transaction(session):
        lifts_at = _lock_lifts_at(session, digest, utcnow(), settings)
        staff = None
        if len(normalised) <= MAX_EMAIL_LENGTH:
            staff = session.execute(select(StaffUser.id, StaffUser.email, StaffUser.role, StaffUser.password_hash)
                                    .where(StaffUser.email == normalised)).first()
    if lifts_at is not None:
        raise DomainError(AuthErrorCode.LOCKED, "Too many failed sign-ins for this email: signing in is locked "
                                                f"until {_format_instant(lifts_at)}.")
    verified_hash = staff.password_hash if staff is not None else None
    if not _verify(verified_hash, password):
        _record_failure(session, digest, settings)
        raise DomainError(AuthErrorCode.INVALID_CREDENTIALS, INVALID_CREDENTIALS_MESSAGE)
    new_hash = HASHER.hash(password) if HASHER.check_needs_rehash(verified_hash) else None
    now = utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction(session):
        # The password verified must still be the staff user's: a set-password meanwhile revoked the sessions,
        # and this one must not outlive it.
        changed = session.execute(update(StaffUser)
                                  .where(StaffUser.id == staff.id, StaffUser.password_hash == verified_hash)
                                  .values(password_hash=new_hash or verified_hash)
                                  .execution_options(synchronize_session=False)).rowcount
        if changed != 1:
            raise DomainError(AuthErrorCode.INVALID_CREDENTIALS, INVALID_CREDENTIALS_MESSAGE)
        session.execute(delete(SignInFailure).where(SignInFailure.email_digest == digest))
        row = ApiToken(id=uuid.uuid4(), token_hash=hash_token(token), role=staff.role, kind=TokenKind.STAFF_SESSION,
                       staff_user_id=staff.id, label="staff sign-in", created_at=now,
                       expires_at=now + settings.session_ttl)
        session.add(row)
    viewer = Viewer(role=staff.role, token_id=row.id, staff_user_id=staff.id, staff_email=staff.email)
    return SignedIn(token_row=row, token=token, viewer=viewer)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(AuthErrorCode.INVALID,
                          f"A password needs at least {MIN_PASSWORD_LENGTH} characters.", "password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise DomainError(AuthErrorCode.INVALID,
                          f"A password has at most {MAX_PASSWORD_LENGTH} characters.", "password")


def set_staff_password(session: Session, *, email: str, password: str) -> tuple[StaffUser, int]:
    """Set the password of the staff user with ``email``; every STAFF_SESSION of theirs is revoked (a new
    password is often set because the old one leaked). Returns the staff user and how many were revoked."""
    check_password_rules(password)
    password_hash = HASHER.hash(password)
    with transaction(session):
        staff = session.scalars(select(StaffUser).where(StaffUser.email == email.strip().lower())).first()
        if staff is None:
            raise DomainError(AuthErrorCode.NOT_FOUND, f"No staff user has the email {email.strip()}.", "email")
        now = utcnow()
        staff.password_hash = password_hash
        staff.password_changed_at = now
        revoked = session.execute(update(ApiToken)
                                  .where(ApiToken.staff_user_id == staff.id,
                                         ApiToken.kind == TokenKind.STAFF_SESSION,
                                         ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
                                  .values(revoked_at=now)
                                  .execution_options(synchronize_session=False)).rowcount
        session.execute(delete(SignInFailure).where(SignInFailure.email_digest == email_digest(staff.email)))
    return staff, revoked

