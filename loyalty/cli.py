from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext


@click.group("loyalty")
def loyalty_group():
    """Loyalty ledger maintenance."""


@loyalty_group.command("verify")
@with_appcontext
def verify():
    """Prove every account's balance equals the sum of its entries; exit 1 and list any difference."""
    from crm.sessions import get_session
    from loyalty.queries import balance_differences
    problems = balance_differences(get_session())
    if problems:
        for problem in problems:
            click.echo(json.dumps(problem))
        click.echo(f"{len(problems)} account(s) disagree with their ledger", err=True)
        sys.exit(1)
    click.echo("every loyalty account equals the sum of its entries")


@loyalty_group.command("expire")
@with_appcontext
def expire():
    """Write EXPIRE entries for expired points now (the periodic job does this too)."""
    from crm.sessions import get_session
    from loyalty.services import run_expiry
    click.echo(f"{run_expiry(get_session())} EXPIRE entries written")


@loyalty_group.command("review-tiers")
@with_appcontext
def review():
    """Run the tier review now: upgrades, and downgrades after the grace period."""
    from crm.sessions import current_config, get_session
    from loyalty.services import review_tiers
    from loyalty.settings import LoyaltySettings
    click.echo(f"{review_tiers(get_session(), settings=LoyaltySettings.from_config(current_config()))} tier changes")
