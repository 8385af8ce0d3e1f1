"""`crm import interactions FILE`: the command line over journeys.interactions.importer."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

LISTED_REJECTIONS = 50


@click.group("import")
def import_group():
    """Import data from files."""


@import_group.command("interactions")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_interactions(file: Path):
    """Record the interactions of FILE (.csv with a header row, or .jsonl), 1000 rows per transaction.

    Rows with an externalId are recorded once: importing the same file again skips them as duplicates.
    Exit code 0 when every row was recorded or skipped, 1 when any row was rejected.
    """
    from crm.sessions import get_session
    from journeys.interactions import importer

    try:
        importer.file_format(file)
    except importer.ImportFileError as exc:
        raise click.BadParameter(exc.message, param_hint="FILE") from None
    summary = importer.ImportSummary()
    try:
        with click.progressbar(length=file.stat().st_size, label=f"Importing {file.name}", file=sys.stderr) as bar:
            importer.import_interactions(get_session(), file, summary=summary, progress=bar.update,
                                         keep=LISTED_REJECTIONS)
    except importer.ImportFileError as exc:
        raise click.BadParameter(exc.message, param_hint="FILE") from None
    except Exception:
        # Batches before the failure are committed: say how far the import got before the traceback.
        _echo_summary(summary)
        click.echo(f"Import stopped: lines up to {summary.last_line} are done (recorded, skipped or rejected as "
                   f"listed), the rest was not read." if summary.batches else "Import stopped: nothing was recorded.",
                   err=True)
        raise
    _echo_summary(summary)
    click.get_current_context().exit(1 if summary.rejected else 0)


def _echo_summary(summary) -> None:
    click.echo(f"{summary.recorded} recorded, {summary.duplicates} skipped (duplicates), "
               f"{summary.rejected} rejected")
    for r in summary.rejections:
        click.echo(f"line {r.line}: {r.field}: {r.code} {r.message}")
    if summary.rejected > len(summary.rejections):
        click.echo(f"... and {summary.rejected - len(summary.rejections)} more")


@click.group("journeys")
def journeys_group():
    """Journey map maintenance."""


@journeys_group.command("verify-rollups")
@with_appcontext
def verify_rollups():
    """Prove the journey map rollups agree with the interactions (exit 1 when they do not)."""
    from crm.sessions import get_session
    from journeys.maps import rollups

    wrong = rollups.differences(get_session())
    click.echo(f"{wrong} rollup cells differ from the interactions" if wrong else "rollups agree with interactions")
    click.get_current_context().exit(1 if wrong else 0)


@journeys_group.command("rebuild-rollups")
@with_appcontext
def rebuild_rollups():
    """Recompute every journey map rollup from the interactions, in one transaction."""
    from crm.db import transaction
    from crm.sessions import get_session
    from journeys.maps import rollups

    session = get_session()
    with transaction(session):
        cells = rollups.rebuild(session)
    click.echo(f"rebuilt {cells} customer x touchpoint cells")
