"""The `crm` command: serve, worker, db, graphql, staff, tokens (crm/auth/cli.py), customers, demo."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from crm.api.operations_cli import operations_group
from crm.enums import Role


def _app_factory():
    from crm import create_app
    from crm.config import ConfigError
    try:
        return create_app()
    except ConfigError as exc:  # a setting to fix, not a bug: the reason without a traceback
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


@click.group(cls=FlaskGroup, create_app=_app_factory, add_default_commands=False, add_version_option=False)
def main():
    """CRM customer-journey platform."""


main.add_command(operations_group)  # needs no app: it writes the manifest the app may require to start


def _fail(exc) -> None:
    field = f" ({exc.field})" if getattr(exc, "field", None) else ""
    raise click.ClickException(f"{getattr(exc, 'code', 'ERROR')}{field}: {getattr(exc, 'message', exc)}")


def serve_app(app, host: str, port: int) -> None:
    """Serve the API; with no CRM_REDIS_URL an in-process worker runs jobs alongside."""
    from werkzeug.serving import run_simple

    from crm.api.browser import RequestHandler
    from crm.queue import start_embedded_worker
    if app.extensions["crm.redis_embedded"]:
        start_embedded_worker(app)
        click.echo("No CRM_REDIS_URL: jobs run in-process on an embedded Redis stand-in.")
    click.echo(f"GraphQL API on http://{host}:{port}/graphql  (health: /healthz)")
    run_simple(host, port, app, threaded=True, use_reloader=False, request_handler=RequestHandler)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve_command(host, port):
    """Serve the GraphQL API (development server; use gunicorn in production)."""
    serve_app(current_app._get_current_object(), host, port)


@click.command("worker")
@click.option("--queues", default=None, help="Comma-separated queue names (default: all).")
@click.option("--burst", is_flag=True, help="Run until the queues are empty, then stop.")
@with_appcontext
def worker_command(queues, burst):
    """Run an RQ worker with the scheduler, the outbox relay and the periodic jobs."""
    from crm.queue import QUEUE_NAMES, make_worker, run_maintenance_loop, run_periodic_jobs, run_round_jobs
    app = current_app._get_current_object()
    names = tuple(q.strip() for q in queues.split(",")) if queues else QUEUE_NAMES
    run_round_jobs(app)
    if burst:
        run_periodic_jobs(app)
        make_worker(app, names).work(burst=True, with_scheduler=False)
        return
    stop = threading.Event()
    threading.Thread(target=run_maintenance_loop, args=(app, stop), name="crm-maintenance", daemon=True).start()
    try:
        make_worker(app, names).work(with_scheduler=True)
    finally:
        stop.set()


@click.group("db")
def db_group():
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision):
    """Apply migrations up to REVISION (default: head)."""
    from crm.migrate import upgrade
    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database upgraded to {revision}")


@db_group.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision):
    """Undo migrations down to REVISION ('base' removes everything)."""
    from crm.migrate import downgrade
    downgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database downgraded to {revision}")


@click.group("graphql")
def graphql_group():
    """The GraphQL schema."""


@graphql_group.command("dump-schema")
@click.option("--path", "path", default="graphql/schema.graphql", show_default=True, type=click.Path())
@with_appcontext
def dump_schema(path):
    """Write the SDL of the schema (commit it; a test fails when it drifts)."""
    from crm.api.schema import sdl
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(sdl(current_app.extensions["crm.schema"]))
    click.echo(f"wrote {target}")


@click.group("staff")
def staff_group():
    """Staff users."""


@staff_group.command("create")
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role], case_sensitive=False))
@with_appcontext
def staff_create(name, email, role):
    """Create a staff user."""
    from crm.auth.services import create_staff
    from crm.sessions import get_session
    from crm.errors import DomainError
    try:
        staff = create_staff(get_session(), name=name, email=email, role=Role(role.upper()))
    except DomainError as exc:
        _fail(exc)
    click.echo(f"created staff user {staff.email} ({staff.role.value}) id {staff.id}")


@staff_group.command("set-password")
@click.argument("email")
@with_appcontext
def staff_set_password(email):
    """Set a staff user's password (12 to 1024 characters) for staffSignIn: typed twice at a hidden prompt on a
    terminal, else the first line of standard input; never an argument, which would stay in the shell's history
    and the process list. The staff user's signed-in sessions are revoked."""
    from crm.auth.sign_in import MAX_PASSWORD_LENGTH, set_staff_password
    from crm.sessions import get_session
    from crm.errors import DomainError
    stdin = sys.stdin  # the runner's input under click.testing
    if stdin.isatty():
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        line = stdin.readline(MAX_PASSWORD_LENGTH + 2)
        if not line.strip("\r\n"):
            raise click.ClickException("REQUIRED (password): no password on standard input (one line).")
        password = line.rstrip("\r\n")
    try:
        staff, revoked = set_staff_password(get_session(), email=email, password=password)
    except DomainError as exc:
        _fail(exc)
    sessions = "1 signed-in session" if revoked == 1 else f"{revoked} signed-in sessions"
    click.echo(f"password set for {staff.email}; {sessions} revoked")


@click.group("permissions")
def permissions_group():
    """The permission table (crm/auth/permissions.py)."""


@permissions_group.command("table")
@click.option("--readme", "readme", type=click.Path(exists=True, dir_okay=False),
              help="Rewrite the table between the markers of this file (README.md) instead of printing it.")
def permissions_table(readme):
    """Print the role table as markdown, or write it into the README (a test fails when they differ)."""
    from crm.auth.permissions import markdown_table, with_table
    if readme is None:
        click.echo(markdown_table(), nl=False)
        return
    target = Path(readme)
    try:
        target.write_text(with_table(target.read_text()))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote the permissions table into {target}")


@click.group("customers")
def customers_group():
    """Customer maintenance."""


@customers_group.command("refresh-rfm")
@with_appcontext
def refresh_rfm():
    """Recompute RFM scores of the whole customer base now."""
    from crm.customers.rfm import refresh_all
    from crm.sessions import get_session
    click.echo(f"RFM scores refreshed for {refresh_all(get_session())} customers")


@click.command("demo")
@click.option("--customers", "count", default=300, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Seed, print the samples and tokens, then exit.")
@with_appcontext
def demo(count, host, port, no_serve):
    """Upgrade the database, seed a realistic demo data set, print sample customers, sign-in examples and an
    admin token (alone on the last line), serve."""
    from crm.demo import seed, welcome
    from crm.migrate import upgrade
    from crm.sessions import get_session
    app = current_app._get_current_object()
    upgrade(app.config["DATABASE_URL"])
    token = seed(get_session(), count, config=app.config)
    for line in welcome.lines(welcome.prepare(get_session()), url=f"http://{host}:{port}/graphql", admin_token=token):
        click.echo(line)
    sys.stdout.flush()
    if not no_serve:
        serve_app(app, host, port)


def register_commands(app) -> None:
    """Attach every command to ``app.cli``; the `crm` script (a FlaskGroup) serves them from there."""
    from crm.auth.cli import tokens_group
    for command in (serve_command, worker_command, db_group, graphql_group, staff_group, tokens_group,
                    permissions_group, customers_group, demo):
        app.cli.add_command(command)
