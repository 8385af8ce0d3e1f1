"""`crm messages ...` and `crm periodic ...`."""
from __future__ import annotations

from datetime import datetime, timezone

import click
from flask import current_app
from flask.cli import with_appcontext


@click.group("messages")
def messages_group():
    """Messages and care."""


@messages_group.command("retry-failed")
@click.option("--trigger", "trigger_prefix", help="Only messages whose trigger starts with this, e.g. care:.")
@click.option("--since", help="Only messages created at or after this ISO time.")
@with_appcontext
def retry_failed(trigger_prefix, since):
    """Queue FAILED messages again, each with a fresh allowance of attempts."""
    from crm.sessions import get_session
    from crm.messages.services import retry_failed as retry
    try:
        since_at = datetime.fromisoformat(since) if since else None
    except ValueError:
        raise click.ClickException(f"INVALID (since): {since!r} is not an ISO date or time.") from None
    if since_at is not None and since_at.tzinfo is None:
        since_at = since_at.replace(tzinfo=timezone.utc)
    count = retry(get_session(), trigger_prefix=trigger_prefix, since=since_at)
    click.echo(f"{count} failed messages queued again")


@messages_group.command("dispatch")
@with_appcontext
def dispatch():
    """Queue every due message now (the workers do this every few seconds)."""
    from crm.sessions import get_session
    from crm.messages.delivery import dispatch_due
    click.echo(f"{dispatch_due(get_session())} messages queued")


@click.group("periodic")
def periodic_group():
    """Periodic jobs: what runs, how often, when it last ran."""


@periodic_group.command("list")
@with_appcontext
def periodic_list():
    """Every periodic job with its interval and last run."""
    from crm.sessions import get_session
    from crm.messages.periodic import last_runs
    from crm.queue import PERIODIC_JOBS, ROUND_JOBS
    runs = last_runs(get_session())
    click.echo(f"{'name':<22} {'every':>8}  {'last started':<25} {'last finished':<25} outcome")
    for name, _func, interval_key in PERIODIC_JOBS:
        every = "round" if name in ROUND_JOBS else f"{current_app.config[interval_key]}s"
        run = runs.get(name)
        started = run.started_at.isoformat(timespec="seconds") if run and run.started_at else "never"
        finished = run.finished_at.isoformat(timespec="seconds") if run and run.finished_at else "-"
        click.echo(f"{name:<22} {every:>8}  {started:<25} {finished:<25} {(run.outcome if run else '') or ''}")


@periodic_group.command("run")
@click.argument("name")
@with_appcontext
def periodic_run(name):
    """Run one periodic job now, in this process (safe alongside the workers)."""
    from crm.queue import PERIODIC_JOBS, run_periodic
    names = [job[0] for job in PERIODIC_JOBS]
    if name not in names:
        raise click.ClickException(f"NOT_FOUND (name): no periodic job {name!r}; known: {', '.join(names)}")
    result = run_periodic(name)
    click.echo(f"{name}: {result}")
