"""`crm operations manifest`: the trusted-documents manifest of a directory of operations.

Attached to the `crm` group itself, not to the app's commands: it needs no app, and so it runs even where the
app would refuse to start because the manifest it writes is missing.
"""
from __future__ import annotations

from pathlib import Path

import click

from crm.api.trusted_documents import OPERATIONS, build_manifest, manifest_text


@click.group("operations")
def operations_group():
    """The front end's GraphQL operations (graphql/operations/)."""


@operations_group.command("manifest")
@click.option("--directory", default=str(OPERATIONS), show_default=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The *.graphql files, one operation each.")
@click.option("--output", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it (default: manifest.json in the directory).")
@click.option("--check", is_flag=True, help="Write nothing; fail when the file differs from the operations.")
def operations_manifest(directory: Path, output: Path | None, check: bool):
    """Write the trusted-documents manifest: sha256 of each file's exact text -> the text."""
    target = output or directory / "manifest.json"
    try:
        documents = build_manifest(directory)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    text = manifest_text(documents)
    if check:
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            raise click.ClickException(f"{target} differs from the operations in {directory}: run "
                                       "`crm operations manifest` and commit the file.")
        click.echo(f"{target} is up to date")
        return
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target} ({len(documents)} documents)")
