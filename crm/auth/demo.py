"""The demo's staff: account managers, support agents, a marketer and the admin.

The admin comes last (``crm.demo`` creates it when every seeder is done): its existence marks a
completed seed.
"""
from __future__ import annotations

import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.auth.models import StaffUser
from crm.auth.services import create_staff
from crm.enums import Role

ADMIN_EMAIL = "admin@demo.example"

# (name, email, role); the admin comes last.
STAFF = (
    ("Amelia Hartmann", "amelia.hartmann@demo.example", Role.ACCOUNT_MANAGER),
    ("Rafael Ortega", "rafael.ortega@demo.example", Role.ACCOUNT_MANAGER),
    ("Priya Nair", "priya.nair@demo.example", Role.ACCOUNT_MANAGER),
    ("Jonas Berg", "jonas.berg@demo.example", Role.SUPPORT_AGENT),
    ("Chloé Martin", "chloe.martin@demo.example", Role.SUPPORT_AGENT),
    ("Sofia Rossi", "sofia.rossi@demo.example", Role.MARKETER),
    ("Alex Morgan", ADMIN_EMAIL, Role.ADMIN),
)


def ensure_staff(session: Session, include_admin: bool) -> dict[str, StaffUser]:
    """The demo staff by email, created where missing (the admin only with ``include_admin``)."""
    staff = {}
    for name, email, role in STAFF:
        if role == Role.ADMIN and not include_admin:
            continue
        user = session.scalars(select(StaffUser).where(StaffUser.email == email)).first()
        staff[email] = user if user is not None else create_staff(session, name=name, email=email, role=role)
    return staff


def emails(*roles: Role) -> list[str]:
    return [email for _, email, role in STAFF if role in roles]


def pick(rng: random.Random, role: Role) -> str:
    """A staff member of ``role``, as the actor of a move they made."""
    return rng.choice(emails(role))


def seed_staff(run) -> None:
    ensure_staff(run.session, include_admin=False)
    run.notes["agents"] = emails(Role.SUPPORT_AGENT, Role.ACCOUNT_MANAGER)
