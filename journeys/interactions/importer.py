"""Importing interactions from a CSV or JSON Lines file, streamed, in batches of record_interactions.

The file is read line by line and never held whole. Every ``batch_size`` data
lines become one call of ``record_interactions`` (one transaction), so a failure
later in the file never undoes a batch already committed, and a file whose rows
carry externalIds can be imported again: its rows come back as duplicates.

A line that cannot be parsed (bad JSON, a bad date, an unknown customer) is a
rejection of that line, reported with its 1-based line number in the file, like
the rows ``record_interactions`` itself rejects. Only the first ``keep``
rejections are kept, so a huge file of bad rows does not fill the memory.
"""
from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm.ids import parse_id
from crm.customers.models import Customer
from crm.errors import DomainError, Invalid
from journeys.errors import JourneyErrorCode
from journeys.interactions.services import InteractionRow, record_interactions

BATCH_SIZE = 1000
KEEP_REJECTIONS = 50
CUSTOMER_FIELDS = ("customerId", "customerExternalId", "customerEmail")
FIELDS = (*CUSTOMER_FIELDS, "touchpointKey", "occurredAt", "emotion", "painPoints", "note", "externalId", "caseId")
FORMATS = (".csv", ".jsonl")
_PAIN_SEPARATORS = re.compile(r"[;|]")


class ImportFileError(Invalid):
    """The file as a whole cannot be imported (its format or header); nothing was recorded."""

    def __init__(self, message: str):
        super().__init__(message, "file")


@dataclass
class Rejection:
    line: int
    field: str
    code: JourneyErrorCode
    message: str


@dataclass
class ImportSummary:
    """Counts so far; updated after each committed batch, so it is right even when a later batch fails."""

    recorded: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)  # the first ``keep``, in file order
    batches: int = 0
    last_line: int = 0  # the last line of the last committed batch


@dataclass
class _Parsed:
    """One data line: the fields it gave, or why it could not be read."""

    line: int
    values: dict | None = None
    problem: Rejection | None = None


def file_format(path: Path) -> str:
    """The format of ``path`` by its extension; ImportFileError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ImportFileError(f"Expected a .csv or .jsonl file, got {Path(path).name!r}.")
    return suffix


class _Lines:
    """The lines of a binary file as text, counting the bytes read (for a progress bar)."""

    def __init__(self, handle):
        self.handle = handle
        self.bytes_read = 0
        self.first = True

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            self.bytes_read += len(raw)
            if self.first:
                raw, self.first = raw.removeprefix(b"\xef\xbb\xbf"), False  # a BOM from spreadsheet exports
            # surrogateescape: a line that is not UTF-8 is rejected (by _unstorable), not fatal to the file.
            yield raw.decode("utf-8", "surrogateescape")


def _unstorable(values: dict) -> str | None:
    """The first field with text no database takes: not UTF-8 (a lone surrogate) or a NUL character."""
    for key, value in values.items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    return key
                if "\x00" in text:
                    return key
    return None


def _read_csv(lines: _Lines) -> Iterator[_Parsed]:
    reader = csv.reader(lines, strict=True)
    header, start = None, 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a stray quote; the reader goes on with the next line
            line, start = start, reader.line_num + 1
            yield _Parsed(line, problem=Rejection(line, "csv", JourneyErrorCode.INVALID, f"Not valid CSV: {exc}."))
            continue
        line, start = start, reader.line_num + 1
        if not cells or cells == [""]:
            continue
        if header is None:
            header = _check_header(cells)
            continue
        if len(cells) != len(header):
            yield _Parsed(line, problem=Rejection(line, "csv", JourneyErrorCode.INVALID,
                                                  f"{len(cells)} cells, the header has {len(header)}."))
            continue
        yield _Parsed(line, values={k: v for k, v in zip(header, cells) if v.strip()})
    if header is None:
        raise ImportFileError("The file is empty: a CSV file starts with a header row.")


def _check_header(cells: list[str]) -> list[str]:
    header = [c.strip() for c in cells]
    unknown = [c for c in header if c not in FIELDS]
    if unknown:
        raise ImportFileError(f"Unknown column(s) {', '.join(map(repr, unknown))}; the columns are "
                              f"{', '.join(FIELDS)}.")
    if len(set(header)) != len(header):
        raise ImportFileError("A column appears twice in the header.")
    missing = [c for c in ("touchpointKey", "occurredAt") if c not in header]
    if not any(c in header for c in CUSTOMER_FIELDS):
        missing.insert(0, "customerId (or customerExternalId or customerEmail)")
    if missing:
        raise ImportFileError(f"The header lacks the column(s) {', '.join(missing)}.")
    return header


def _read_jsonl(lines: _Lines) -> Iterator[_Parsed]:
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            values = json.loads(text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:  # its own "line 1" would confuse: name the column only
            yield _Parsed(line, problem=Rejection(line, "json", JourneyErrorCode.INVALID,
                                                  f"Not valid JSON: {exc.msg} at column {exc.colno}."))
            continue
        except (ValueError, RecursionError) as exc:  # a number of 5000 digits, nesting 1000 deep
            yield _Parsed(line, problem=Rejection(line, "json", JourneyErrorCode.INVALID, f"Not valid JSON: {exc}."))
            continue
        if not isinstance(values, dict):
            yield _Parsed(line, problem=Rejection(line, "json", JourneyErrorCode.INVALID,
                                                  "Each line is one JSON object."))
            continue
        unknown = sorted(k for k in values if k not in FIELDS)
        if unknown:
            yield _Parsed(line, problem=Rejection(line, unknown[0], JourneyErrorCode.INVALID,
                                                  f"Unknown field; the fields are {', '.join(FIELDS)}."))
            continue
        yield _Parsed(line, values={k: v for k, v in values.items()
                                    if v is not None and not (isinstance(v, str) and not v.strip())})


def _text(values: dict, key: str) -> str | None:
    value = values.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{key} is a string.", key)
    return value.strip()


def _emotion(values: dict) -> int | None:
    value = values.get("emotion")
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    raise Invalid(f"emotion is a whole number from -2 to 2, not {value!r}.", "emotion")


def _occurred_at(values: dict) -> datetime:
    text = _text(values, "occurredAt")
    if text is None:
        raise DomainError(JourneyErrorCode.REQUIRED, "Give occurredAt.", "occurredAt")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{text!r} is not an ISO-8601 date and time.", "occurredAt") from None
    if moment.tzinfo is None:
        raise Invalid(f"{text!r} has no offset: add one, e.g. \"Z\" or \"+02:00\".", "occurredAt")
    return moment


def _pain_points(values: dict) -> list[str]:
    value = values.get("painPoints")
    if value is None:
        return []
    if isinstance(value, str):  # CSV: "long wait;price|rude staff"
        return [p.strip() for p in _PAIN_SEPARATORS.split(value) if p.strip()]
    if not isinstance(value, list):
        raise Invalid("painPoints is a list of strings.", "painPoints")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise Invalid("A pain point is a string.", f"painPoints.{index}")
    return value


@dataclass
class _Pending:
    """A parsed row waiting for its customer: by id at once, by externalId or email after the batch lookup."""

    line: int
    row: InteractionRow
    by: tuple[str, str] | None  # ("customerExternalId", "SHOP-1") or ("customerEmail", "a@b.example")


def _to_pending(parsed: _Parsed) -> _Pending:
    values = parsed.values
    bad = _unstorable(values)
    if bad:
        raise Invalid("Not valid UTF-8 text, or a NUL character.", bad)
    given = [k for k in CUSTOMER_FIELDS if k in values]
    if not given:
        raise DomainError(JourneyErrorCode.REQUIRED,
                          "Give customerId, customerExternalId or customerEmail.", "customerId")
    if len(given) > 1:
        raise Invalid(f"Give only one of {', '.join(given)}.", given[1])
    key = given[0]
    customer_id, by = None, None
    if key == "customerId":
        customer_id = parse_id(_text(values, key), "Customer", key)
    else:
        reference = _text(values, key)
        by = (key, reference.lower() if key == "customerEmail" else reference)
    touchpoint = _text(values, "touchpointKey")
    if touchpoint is None:
        raise DomainError(JourneyErrorCode.REQUIRED, "Give a touchpointKey.", "touchpointKey")
    case_text = _text(values, "caseId")
    row = InteractionRow(customer_id=customer_id, touchpoint_key=touchpoint, occurred_at=_occurred_at(values),
                         emotion=_emotion(values), pain_points=_pain_points(values), note=_text(values, "note"),
                         external_id=_text(values, "externalId"),
                         case_id=parse_id(case_text, "Case", "caseId") if case_text else None)
    return _Pending(parsed.line, row, by)


def _resolve_customers(session: Session, pending: list[_Pending]) -> dict[tuple[str, str], uuid.UUID]:
    """Customers named by externalId or email in a batch, in one query; merged duplicates do not resolve."""
    external_ids = {p.by[1] for p in pending if p.by and p.by[0] == "customerExternalId"}
    emails = {p.by[1] for p in pending if p.by and p.by[0] == "customerEmail"}
    if not external_ids and not emails:
        return {}
    found: dict[tuple[str, str], uuid.UUID] = {}
    for cid, external_id, email in session.execute(
            select(Customer.id, Customer.external_id, Customer.email).where(
                Customer.merged_into_id.is_(None),
                or_(Customer.external_id.in_(external_ids), Customer.email.in_(emails)))):
        if external_id in external_ids:
            found[("customerExternalId", external_id)] = cid
        if email in emails:
            found[("customerEmail", email)] = cid
    return found


def _record_batch(session: Session, batch: list[_Parsed], summary: ImportSummary, keep: int,
                  now: datetime | None) -> None:
    rejections: list[Rejection] = []
    pending: list[_Pending] = []
    for parsed in batch:
        if parsed.problem:
            rejections.append(parsed.problem)
            continue
        try:
            pending.append(_to_pending(parsed))
        except DomainError as exc:
            rejections.append(Rejection(parsed.line, exc.field or "-", exc.code, exc.message))
    customers = _resolve_customers(session, pending)
    rows, lines = [], []
    for item in pending:
        if item.by:
            item.row.customer_id = customers.get(item.by)
            if item.row.customer_id is None:
                rejections.append(Rejection(item.line, item.by[0], JourneyErrorCode.NOT_FOUND, "No customer has this "
                                            + ("externalId." if item.by[0] == "customerExternalId" else "email.")))
                continue
        rows.append(item.row)
        lines.append(item.line)
    # Always called, even with no rows: its commit also ends the transaction the lookup began.
    result = record_interactions(session, rows, max_rows=max(len(rows), 1), now=now)
    rejections += [Rejection(lines[e.index], e.field or "-", e.code, e.message) for e in result.errors]
    rejections.sort(key=lambda r: r.line)
    summary.recorded += len(result.recorded)
    summary.duplicates += result.duplicates
    summary.rejected += len(rejections)
    summary.rejections += rejections[:max(0, keep - len(summary.rejections))]
    summary.batches += 1
    summary.last_line = batch[-1].line


def import_interactions(session: Session, path: Path, *, summary: ImportSummary | None = None,
                        progress: Callable[[int], None] | None = None, batch_size: int = BATCH_SIZE,
                        keep: int = KEEP_REJECTIONS, now: datetime | None = None) -> ImportSummary:
    """Record the interactions of a .csv or .jsonl file; ``progress`` gets the bytes read after each batch.

    ImportFileError (before anything is recorded) for a wrong extension or CSV header. Pass ``summary``
    to keep the counts of the batches committed before an unexpected error.
    """
    reader = _read_csv if file_format(path) == ".csv" else _read_jsonl
    summary = summary if summary is not None else ImportSummary()
    with open(path, "rb") as handle:
        lines = _Lines(handle)
        reported = 0
        batch: list[_Parsed] = []
        for parsed in reader(lines):
            batch.append(parsed)
            if len(batch) >= batch_size:
                _record_batch(session, batch, summary, keep, now)
                batch = []
                if progress:
                    progress(lines.bytes_read - reported)
                    reported = lines.bytes_read
        if batch:
            _record_batch(session, batch, summary, keep, now)
        if progress:
            progress(lines.bytes_read - reported)
    return summary
