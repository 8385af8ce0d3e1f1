"""The demo: a realistic, deterministic data set, seeded by each domain through its services.

Each domain registers the seeder of its part (its own ``demo.py``) from its ``init_app``
(``crm.demo.registry``); ``seed`` runs them in order, once. The core registers its own here: the
staff (crm/auth/demo.py), the customers with two years of orders (crm/customers/demo.py) and the
RFM refresh once every order, case and survey is in. In order: staff, customers, rewards
(loyalty/demo.py), journeys (journeys/demo.py), rfm, segments (crm/segments/demo.py), care
(crm/messages/demo.py), campaigns (journeys/campaigns/demo.py); each names the ones before it in
``after``, so the order holds whichever domains the app was composed with.

Seeders move the platform clock through the story (``crm.demo.story``), so history says when
things happened, and the clock is handed back as it was found.

Seeding is skipped when the demo admin already exists (the admin is created last, as the "seed
complete" mark); every call returns a new ADMIN token. A seed that was interrupted resumes: what
each seeder finds already there it leaves alone.
"""
from __future__ import annotations

from collections.abc import Mapping

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm import clock
from crm.demo.registry import IMPORT_ACTOR, DemoRun, ordered, register, register_time_hook

__all__ = ["IMPORT_ACTOR", "DemoRun", "register", "register_time_hook", "seed"]


def _seed_staff(run: DemoRun) -> None:
    from crm.auth.demo import seed_staff
    seed_staff(run)


def _seed_customers(run: DemoRun) -> None:
    from crm.customers.demo import seed_customers
    seed_customers(run)


def _refresh_rfm(run: DemoRun) -> None:
    from crm.customers import rfm
    rfm.refresh_all(run.session)


register("staff", _seed_staff)
register("customers", _seed_customers, after=("staff",))
register("rfm", _refresh_rfm, after=("customers", "rewards", "journeys"))


def seed(session: Session, count: int = 300, *, config: Mapping) -> str:
    """Seed ``count`` demo customers (skipped when the demo admin exists); returns a new ADMIN token.

    ``config`` is the app's configuration (the currencies, the stage and tier rules, each domain's settings);
    the caller (`crm demo`) hands it and the session over, so the demo needs no app of its own."""
    from crm.auth.demo import ADMIN_EMAIL, ensure_staff
    from crm.auth.models import StaffUser
    from crm.auth.services import create_token
    from crm.enums import Role

    if count < 0:
        raise click.BadParameter("must be zero or more", param_hint="--customers")
    if session.scalar(select(StaffUser.id).where(StaffUser.email == ADMIN_EMAIL)) is None:
        run = DemoRun(session=session, count=count, present=clock.now(), config=config)
        for seeder in ordered():
            seeder.seed(run)
        ensure_staff(session, include_admin=True)
    else:
        click.echo(f"Demo data already present ({ADMIN_EMAIL} exists): seeding skipped.")
    _, token = create_token(session, role=Role.ADMIN, staff_email=ADMIN_EMAIL, label="demo")
    return token
