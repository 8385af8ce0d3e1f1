"""`crm segments ...`: list, refresh, and import the members of a static segment from a file."""
from __future__ import annotations

import csv
from pathlib import Path

import click
from flask.cli import with_appcontext

KEYS = ("id", "email", "externalId")
CHUNK = 1000


@click.group("segments")
def segments_group():
    """Segments: list, refresh, import members."""


def _segment(session, name: str):
    from sqlalchemy import select

    from crm.segments.models import Segment
    segment = session.scalar(select(Segment).where(Segment.name_key == name.strip().lower()))
    if segment is None:
        raise click.BadParameter(f"no segment is named {name!r}", param_hint="NAME")
    return segment


@segments_group.command("list")
@with_appcontext
def list_segments():
    """Every segment with its kind, members and last refresh."""
    from sqlalchemy import select

    from crm.sessions import get_session
    from crm.segments.models import Segment
    for s in get_session().scalars(select(Segment).order_by(Segment.name_key)):
        click.echo(f"{s.name:40} {s.kind.value:8} {s.member_count:>9} members  refreshed {s.refreshed_at or '-'}")


@segments_group.command("refresh")
@click.argument("name", required=False)
@with_appcontext
def refresh(name: str | None):
    """Refresh one DYNAMIC segment (NAME) or all of them, writing only the differences."""
    from crm.sessions import get_session
    from crm.segments import services
    session = get_session()
    if name:
        segment = _segment(session, name)
        before = segment.member_count
        segment = services.refresh_segment(session, segment_id=segment.id, actor="cli")
        click.echo(f"{segment.name}: {before} -> {segment.member_count} members")
        return
    for segment_name, (joined, left) in services.refresh_all(session).items():
        click.echo(f"{segment_name}: +{joined} -{left}")


@segments_group.command("import")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def import_members(name: str, file: Path):
    """Add the customers of FILE to the STATIC segment NAME, 1000 per transaction.

    FILE is a CSV with a header naming one of the columns id, email or externalId. Customers already in
    the segment stay as they are, so importing a file again adds nothing. Unknown customers are listed
    by line; exit code 1 when there were any."""
    from crm.sessions import get_session
    from crm.segments import services
    session = get_session()
    segment = _segment(session, name)
    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        key = next((k for k in KEYS if k in (reader.fieldnames or [])), None)
        if key is None:
            raise click.BadParameter(f"the header needs one of the columns {', '.join(KEYS)}", param_hint="FILE")
        added = unknown = 0
        chunk: list[tuple[int, str]] = []

        def flush():
            nonlocal added, unknown
            found = services.customer_ids_by(session, key, [value for _, value in chunk])
            ids = []
            for line, value in chunk:
                if found.get(value) is None:
                    unknown += 1
                    click.echo(f"line {line}: no customer has {key} {value!r}", err=True)
                else:
                    ids.append(found[value])
            if ids:
                before = services.get_segment(session, segment.id).member_count
                after = services.add_customers(session, segment_id=segment.id, customer_ids=ids,
                                               actor="cli", reason=f"imported from {file.name}").member_count
                added += after - before
            chunk.clear()

        for line, row in enumerate(reader, start=2):
            chunk.append((line, (row.get(key) or "").strip()))
            if len(chunk) == CHUNK:
                flush()
        if chunk:
            flush()
    total = services.get_segment(session, segment.id).member_count
    click.echo(f"{added} added, {unknown} unknown; {segment.name} has {total} members")
    click.get_current_context().exit(1 if unknown else 0)
