"""The demo: a realistic, deterministic data set, seeded by each domain through its services.

Each domain registers the seeder of its part (its own ``demo.py``) from its ``init_app``
(``crm.demo.registry``); ``seed`` runs them in order, once. The core registers its own here: the
staff (crm/auth/demo.py) and the customers with two years of orders (crm/customers/demo.py).

Seeders move the platform clock through the story (``crm.demo.story``), so history says when
things happened, and the clock is handed back as it was found.

Seeding is skipped when the demo admin already exists (the admin is created last, as the "seed
complete" mark); every call returns a new ADMIN token. A seed that was interrupted resumes: what
each seeder finds already there it leaves alone.
"""
from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select

from crm import clock
from crm.demo.registry import IMPORT_ACTOR, DemoRun, ordered, register, register_time_hook

__all__ = ["IMPORT_ACTOR", "DemoRun", "register", "register_time_hook", "seed"]


def _seed_staff(run: DemoRun) -> None:
    from crm.auth.demo import seed_staff
    seed_staff(run)


def _seed_customers(run: DemoRun) -> None:
    from crm.customers.demo import seed_customers
    seed_customers(run)


register("staff", _seed_staff)
register("customers", _seed_customers, after=("staff",))


def seed(count: int = 300) -> str:
    """Seed ``count`` demo customers (skipped when the demo admin exists); returns a new ADMIN token."""
    from crm.auth.demo import ADMIN_EMAIL, ensure_staff
    from crm.auth.models import StaffUser
    from crm.auth.services import create_token
    from crm.sessions import get_session
    from crm.enums import Role

    if count < 0:
        raise click.BadParameter("must be zero or more", param_hint="--customers")
    session = get_session()
    if session.scalar(select(StaffUser.id).where(StaffUser.email == ADMIN_EMAIL)) is None:
        run = DemoRun(session=session, count=count, present=clock.now(), config=current_app.config)
        for seeder in ordered():
            seeder.seed(run)
        ensure_staff(session, include_admin=True)
    else:
        click.echo(f"Demo data already present ({ADMIN_EMAIL} exists): seeding skipped.")
    _, token = create_token(session, role=Role.ADMIN, staff_email=ADMIN_EMAIL, label="demo")
    return token
