"""Recording interactions: one row or a thousand, in a fixed number of set-based statements.

A call validates every row in Python (no database work per row), then reads the
customers, touchpoints, cases and already-recorded external ids it names in one
statement each, inserts the good rows in one multi-row INSERT, and folds them
into the (customer, touchpoint) rollups with one upsert per rollup table.
"""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import case, literal, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from crm import events
from crm.customers.models import Customer
from crm.db import UTCDateTime, transaction, utcnow
from crm.errors import DomainError, Invalid
from journeys.errors import JourneyErrorCode
from journeys.maps import rollups
from journeys.interactions.models import Interaction, InteractionPainPoint
from journeys.maps.models import Touchpoint
from journeys.service.models import Case

MAX_PAIN_POINTS = 20
MAX_NOTE = 5000
# External ids the system writes for case steps; a caller's id must not take one.
SYSTEM_PREFIX = "case:"
RETRYABLE_SQLSTATES = ("40P01", "40001")  # deadlock detected, serialization failure
FUTURE_TOLERANCE = timedelta(minutes=5)
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
_TAG_JUNK = re.compile(r"[^a-z0-9]+")


@dataclass
class InteractionRow:
    """One interaction to record, as the transport layer parsed it."""

    customer_id: uuid.UUID | None
    touchpoint_key: str
    occurred_at: datetime
    emotion: int | None = None
    pain_points: list[str] | None = None
    note: str | None = None
    external_id: str | None = None
    case_id: uuid.UUID | None = None


@dataclass
class RowError:
    index: int
    field: str | None
    code: JourneyErrorCode
    message: str


@dataclass
class RecordResult:
    recorded: list[uuid.UUID] = field(default_factory=list)  # ids of the new rows; a bulk call loads none
    duplicates: int = 0
    replayed: list[Interaction] = field(default_factory=list)  # the originals of identical duplicates
    errors: list[RowError] = field(default_factory=list)


def normalise_pain_point(tag: str) -> str:
    """"Long wait!", "long_wait" and " LONG  WAIT " are all "long-wait"."""
    return _TAG_JUNK.sub("-", (tag or "").strip().lower()).strip("-")[:80]


def _payload_hash(row: InteractionRow, pains: list[str]) -> str:
    payload = {"customer": str(row.customer_id), "touchpoint": row.touchpoint_key.strip(),
               "occurredAt": row.occurred_at.astimezone(timezone.utc).isoformat(), "emotion": row.emotion,
               "painPoints": pains, "note": row.note, "case": str(row.case_id) if row.case_id else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _check_row(row: InteractionRow, now: datetime, allow_system_id: bool) -> list[str]:
    """The row's normalised pain points; a DomainError names the first bad field."""
    if row.customer_id is None:
        raise DomainError(JourneyErrorCode.REQUIRED, "Give a customerId.", "customerId")
    for text, field in ((row.touchpoint_key, "touchpointKey"), (row.note, "note"), (row.external_id, "externalId")):
        if text and "\x00" in text:  # PostgreSQL cannot store it: refuse the row, not the whole call
            raise Invalid("Text may not contain NUL characters.", field)
    if not (row.touchpoint_key or "").strip():
        raise DomainError(JourneyErrorCode.REQUIRED, "Give a touchpointKey.", "touchpointKey")
    if row.occurred_at is None:
        raise DomainError(JourneyErrorCode.REQUIRED, "Give occurredAt.", "occurredAt")
    try:
        row.occurred_at = row.occurred_at.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise Invalid("occurredAt is out of range.", "occurredAt") from None
    if row.occurred_at < EARLIEST:
        raise Invalid("occurredAt is before 1900.", "occurredAt")
    if row.occurred_at > now + FUTURE_TOLERANCE:
        raise Invalid("occurredAt is in the future.", "occurredAt")
    if row.emotion is not None and not -2 <= row.emotion <= 2:
        raise Invalid("emotion is from -2 (very negative) to 2 (very positive).", "emotion")
    if row.note is not None and len(row.note) > MAX_NOTE:
        raise Invalid(f"A note is at most {MAX_NOTE} characters.", "note")
    if row.external_id is not None:
        row.external_id = row.external_id.strip() or None
    if row.external_id is not None:
        if len(row.external_id) > 200:
            raise Invalid("externalId is at most 200 characters.", "externalId")
        if row.external_id.startswith(SYSTEM_PREFIX) and not allow_system_id:
            raise Invalid(f"externalId may not start with {SYSTEM_PREFIX!r} (used by the system).", "externalId")
    pains: list[str] = []
    for index, raw in enumerate(row.pain_points or []):
        tag = normalise_pain_point(raw)
        if not tag:
            raise Invalid("A pain point needs at least one letter or digit.", f"painPoints.{index}")
        if tag not in pains:
            pains.append(tag)
    if len(pains) > MAX_PAIN_POINTS:
        raise Invalid(f"At most {MAX_PAIN_POINTS} pain points per interaction.", "painPoints")
    return sorted(pains)


def add_interactions(session: Session, rows: list[InteractionRow], *, now: datetime | None = None,
                     allow_system_id: bool = False) -> RecordResult:
    """Record ``rows`` in the caller's transaction (flushes, never commits). Bad rows are reported, not raised."""
    now = now or utcnow()
    result = RecordResult()
    checked: list[tuple[int, InteractionRow, list[str]]] = []
    for index, row in enumerate(rows):
        try:
            checked.append((index, row, _check_row(row, now, allow_system_id)))
        except DomainError as exc:
            result.errors.append(RowError(index, exc.field, exc.code, exc.message))
    if not checked:
        return result

    customers = set(session.scalars(_lock_customers(session, select(Customer.id).where(
        Customer.id.in_({r.customer_id for _, r, _ in checked}), Customer.merged_into_id.is_(None)))))
    touchpoints = {t.key: t for t in session.scalars(select(Touchpoint).where(
        Touchpoint.key.in_({r.touchpoint_key.strip() for _, r, _ in checked})))}
    case_ids = {r.case_id for _, r, _ in checked if r.case_id is not None}
    case_owner = dict(session.execute(select(Case.id, Case.customer_id).where(Case.id.in_(case_ids))).all()) \
        if case_ids else {}
    external_ids = {r.external_id for _, r, _ in checked if r.external_id}
    existing = {e.external_id: e for e in session.scalars(
        select(Interaction).where(Interaction.external_id.in_(external_ids)))} if external_ids else {}

    new_rows: list[dict] = []
    pain_rows: list[dict] = []
    batch_ids: dict[str, str] = {}
    for index, row, pains in checked:
        problem = _reference_problem(row, customers, touchpoints, case_owner)
        if problem:
            result.errors.append(RowError(index, *problem))
            continue
        digest = _payload_hash(row, pains)
        if row.external_id:
            earlier = existing.get(row.external_id)
            earlier_digest = earlier.payload_hash if earlier is not None else batch_ids.get(row.external_id)
            if earlier_digest is not None:
                if earlier_digest != digest:
                    result.errors.append(RowError(index, "externalId", JourneyErrorCode.IDEMPOTENCY_MISMATCH,
                                                  "This externalId was recorded with a different payload."))
                else:
                    result.duplicates += 1
                    if earlier is not None:
                        result.replayed.append(earlier)
                continue
            batch_ids[row.external_id] = digest
        touchpoint = touchpoints[row.touchpoint_key.strip()]
        new_id = uuid.uuid4()
        new_rows.append({"id": new_id, "customer_id": row.customer_id, "touchpoint_id": touchpoint.id,
                         "channel": touchpoint.channel, "journey_map_key": touchpoint.journey_map_key,
                         "stage": touchpoint.stage, "occurred_at": row.occurred_at, "emotion": row.emotion,
                         "pain_points": pains, "note": row.note, "external_id": row.external_id,
                         "payload_hash": digest, "case_id": row.case_id, "recorded_at": now})
        pain_rows.extend({"interaction_id": new_id, "pain_point": p} for p in pains)
    result.errors.sort(key=lambda e: e.index)
    if not new_rows:
        return result
    # One insert order for every writer: two calls with the same externalIds then wait, never deadlock.
    new_rows.sort(key=lambda r: (r["external_id"] is None, r["external_id"] or "", str(r["id"])))
    pain_rows.sort(key=lambda r: (str(r["interaction_id"]), r["pain_point"]))

    # Core inserts: one executemany each (the ORM would split rows by which values are None).
    session.execute(Interaction.__table__.insert(), new_rows)
    if pain_rows:
        session.execute(InteractionPainPoint.__table__.insert(), pain_rows)
    rollups.fold_in(session, new_rows)
    _touch_customers(session, new_rows)
    _emit(session, new_rows)
    session.flush()
    result.recorded = [r["id"] for r in new_rows]
    return result


def _lock_customers(session: Session, stmt):
    """On PostgreSQL, FOR KEY SHARE: a merge (FOR UPDATE) waits for us, or we see it done, so no
    interaction lands on a customer merged away meanwhile; other writers are not held up."""
    if session.get_bind().dialect.name != "postgresql":
        return stmt
    return stmt.order_by(Customer.id).with_for_update(read=True, key_share=True)


def _reference_problem(row, customers, touchpoints, case_owner) -> tuple[str, JourneyErrorCode, str] | None:
    if row.customer_id not in customers:
        return "customerId", JourneyErrorCode.NOT_FOUND, "No customer has this id."
    if row.touchpoint_key.strip() not in touchpoints:
        return "touchpointKey", JourneyErrorCode.NOT_FOUND, f"No touchpoint has the key {row.touchpoint_key.strip()!r}."
    if row.case_id is not None:
        owner = case_owner.get(row.case_id)
        if owner is None:
            return "caseId", JourneyErrorCode.NOT_FOUND, "No case has this id."
        if owner != row.customer_id:
            return "caseId", JourneyErrorCode.INVALID, "This case belongs to another customer."
    return None


def _touch_customers(session: Session, new_rows: list[dict]) -> None:
    """lastInteractionAt moves forward only, one statement for every customer of the batch."""
    latest: dict[uuid.UUID, datetime] = {}
    for row in new_rows:
        if row["customer_id"] not in latest or row["occurred_at"] > latest[row["customer_id"]]:
            latest[row["customer_id"]] = row["occurred_at"]
    ids = sorted(latest, key=str)  # one lock order for every writer
    newest = case({cid: literal(latest[cid], UTCDateTime()) for cid in ids}, value=Customer.id)
    session.execute(update(Customer).where(Customer.id.in_(ids))
                    .where((Customer.last_interaction_at.is_(None)) | (Customer.last_interaction_at < newest))
                    .values(last_interaction_at=newest).execution_options(synchronize_session=False))
    session.expire_all()


def _emit(session: Session, new_rows: list[dict]) -> None:
    grouped: dict[uuid.UUID, list[dict]] = defaultdict(list)
    for row in new_rows:
        grouped[row["customer_id"]].append(row)
    for customer_id, rows in grouped.items():
        emotions = [r["emotion"] for r in rows if r["emotion"] is not None]
        events.emit(session, "interaction.recorded", customerId=str(customer_id),
                    interactionIds=[str(r["id"]) for r in rows],
                    lowestEmotion=min(emotions) if emotions else None,
                    painPoints=sorted({p for r in rows for p in r["pain_points"]}),
                    caseIds=sorted({str(r["case_id"]) for r in rows if r["case_id"]}))


@dataclass
class SingleResult:
    interaction: Interaction
    created: bool


def record_interaction(session: Session, row: InteractionRow, *, now: datetime | None = None) -> SingleResult:
    """One interaction; idempotent on externalId (same payload: the original; different: IDEMPOTENCY_MISMATCH)."""
    result = _with_retry(session, [row], now)
    if result.errors:
        error = result.errors[0]
        raise DomainError(error.code, error.message, error.field)
    if result.replayed:
        return SingleResult(result.replayed[0], created=False)
    return SingleResult(session.get(Interaction, result.recorded[0]), created=True)


def record_interactions(session: Session, rows: list[InteractionRow], *, max_rows: int = 1000,
                        now: datetime | None = None) -> RecordResult:
    """Up to ``max_rows`` rows in one transaction: good rows recorded, bad rows reported by index."""
    if len(rows) > max_rows:
        raise Invalid(f"At most {max_rows} rows per call, got {len(rows)}.", "inputs")
    return _with_retry(session, rows, now)


def _with_retry(session: Session, rows: list[InteractionRow], now: datetime | None) -> RecordResult:
    """One transaction; if a concurrent call stored one of our externalIds first, run again once:
    the second run sees that row and answers duplicate or IDEMPOTENCY_MISMATCH instead of failing."""
    for attempt in (1, 2):
        try:
            with transaction(session):
                return add_interactions(session, rows, now=now)
        except IntegrityError:
            session.rollback()
            if attempt == 2 or not any(r.external_id for r in rows):
                raise
        except DBAPIError as exc:
            session.rollback()
            if attempt == 2 or getattr(exc.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES:
                raise
    raise AssertionError("unreachable")
