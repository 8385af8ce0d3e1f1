"""Reads of tokens: the admin's list."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.auth.models import ApiToken
from crm.enums import Role
from crm.pagination import Page, SortKey, keyset_page

# Newest first: what an admin looking for a leaked or stale token wants at the top.
TOKEN_KEYS = [SortKey(ApiToken.created_at, lambda t: t.created_at, "datetime", descending=True),
              SortKey(ApiToken.id, lambda t: t.id, "uuid", descending=True)]


def list_tokens(session: Session, *, first: int, after: str | None = None, role: Role | None = None,
                include_revoked: bool = False) -> Page:
    """Tokens and sessions, newest first; revoked ones only with ``include_revoked``. Expired ones are listed
    (until the purge removes expired sessions): an admin sees when a token stopped working."""
    stmt = select(ApiToken)
    if role is not None:
        stmt = stmt.where(ApiToken.role == Role(role))
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return keyset_page(session, stmt, ordering="tokens", keys=TOKEN_KEYS, first=first, after=after)
