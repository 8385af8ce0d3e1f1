"""`crm tokens`: create, list and revoke API tokens on the server's shell."""
from __future__ import annotations

import re
from datetime import timedelta

import click
from flask.cli import with_appcontext

from crm.enums import Role

_DURATION = re.compile(r"(\d{1,7})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Duration(click.ParamType):
    """A duration as a number and a unit: 90m, 12h, 30d (also s and w)."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, timedelta):
            return value
        match = _DURATION.fullmatch(str(value).strip().lower())
        if match is None or int(match.group(1)) == 0:
            self.fail(f"{value!r} is not a duration: a positive number and a unit, e.g. 90m, 12h or 30d "
                      "(units s, m, h, d, w).", param, ctx)
        try:
            return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:
            self.fail(f"{value!r} is too long.", param, ctx)


def _fail(exc) -> None:
    field = f" ({exc.field})" if getattr(exc, "field", None) else ""
    raise click.ClickException(f"{getattr(exc, 'code', 'ERROR')}{field}: {getattr(exc, 'message', exc)}")


@click.group("tokens")
def tokens_group():
    """API tokens and sessions."""


@tokens_group.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role], case_sensitive=False))
@click.option("--staff", "staff_email", help="Email of the staff user the token belongs to.")
@click.option("--customer", "customer", help="Customer id (global or raw) a PORTAL token is bound to.")
@click.option("--label", help="What the token is for, e.g. 'shop integration'.")
@click.option("--expires-in", "expires_in", type=Duration(),
              help="Stop working after this long, e.g. 90m, 12h, 30d (default: until revoked).")
@with_appcontext
def tokens_create(role, staff_email, customer, label, expires_in):
    """Create a token; it is printed once, alone on the last line, and stored only as a hash."""
    from crm.api.ids import parse_id
    from crm.auth.services import create_token
    from crm.db import utcnow
    from crm.errors import DomainError
    from crm.sessions import get_session
    try:
        customer_id = parse_id(customer, "Customer", "customer") if customer else None
        expires_at = utcnow() + expires_in if expires_in is not None else None
    except OverflowError:
        raise click.ClickException("INVALID (expiresIn): the expiry is too far ahead.") from None
    except DomainError as exc:
        _fail(exc)
    try:
        row, token = create_token(get_session(), role=Role(role.upper()), staff_email=staff_email,
                                  customer_id=customer_id, label=label, expires_at=expires_at)
    except DomainError as exc:
        _fail(exc)
    until = f", expires {row.expires_at.isoformat()}" if row.expires_at else ""
    click.echo(f"{row.role.value} token created (id {row.id}{until}); it will not be shown again:")
    click.echo(token)


@tokens_group.command("list")
@click.option("--role", type=click.Choice([r.value for r in Role], case_sensitive=False), help="Only this role.")
@click.option("--include-revoked", is_flag=True, help="Revoked tokens too.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100000), help="At most this many.")
@with_appcontext
def tokens_list(role, include_revoked, limit):
    """Tokens and sessions, newest first: id, role, kind, label, staff user or customer, created, expires, last
    used, revoked (times in UTC, to the minute)."""
    from sqlalchemy import select

    from crm.auth.models import StaffUser
    from crm.auth.selectors import list_tokens
    from crm.sessions import get_session
    session = get_session()
    page = list_tokens(session, first=limit, role=Role(role.upper()) if role else None,
                       include_revoked=include_revoked)
    staff_ids = {t.staff_user_id for t in page.items if t.staff_user_id}
    emails = dict(session.execute(select(StaffUser.id, StaffUser.email).where(StaffUser.id.in_(staff_ids))).all()
                  ) if staff_ids else {}
    header = ("id", "role", "kind", "label", "staff/customer", "created", "expires", "last used", "revoked")
    rows = [header] + [(str(t.id), t.role.value, t.kind.value, t.label or "-",
                        emails.get(t.staff_user_id) or (f"customer {t.customer_id}" if t.customer_id else "-"),
                        _when(t.created_at), _when(t.expires_at), _when(t.last_used_at), _when(t.revoked_at))
                       for t in page.items]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    more = " (more: raise --limit)" if page.has_next else ""
    click.echo(f"{len(page.items)} token(s){more}")


def _when(at) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at is not None else "-"


@tokens_group.command("revoke")
@click.argument("token_id")
@with_appcontext
def tokens_revoke(token_id):
    """Revoke a token by its id (`crm tokens list` shows them); it stops working at once."""
    import uuid as uuid_lib

    from crm.auth.services import revoke_token
    from crm.errors import DomainError
    from crm.sessions import get_session
    try:
        row = revoke_token(get_session(), token_id=uuid_lib.UUID(token_id.strip()))
    except ValueError:
        raise click.ClickException(f"INVALID (tokenId): {token_id!r} is not a token id.") from None
    except DomainError as exc:
        _fail(exc)
    click.echo(f"token {row.id} ({row.role.value}) revoked at {row.revoked_at.isoformat()}")
