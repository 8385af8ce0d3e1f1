"""The outbox: jobs written in the same transaction as the change that causes them.

A row here is the durable promise that a job will run. After the transaction
commits, ``relay`` moves pending rows onto RQ; if Redis is down they stay
pending and ``crm worker`` relays them when it is back. Jobs are safe to run
twice, so a relay that dies between enqueue and marking is harmless.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Index, Integer, String, event, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from crm.db import Base, transaction, utcnow

log = logging.getLogger(__name__)


class OutboxEntry(Base):
    __tablename__ = "outbox_entry"
    __table_args__ = (Index("ix_outbox_pending", "dispatched_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    func: Mapped[str] = mapped_column(String(200))  # dotted path of the job function
    args: Mapped[list] = mapped_column(default=list)
    queue: Mapped[str] = mapped_column(String(64), default="default")
    job_id: Mapped[str | None] = mapped_column(String(200))
    run_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None]


def enqueue_after_commit(session: Session, func: str, *args, queue: str = "default",
                         job_id: str | None = None, run_at: datetime | None = None) -> OutboxEntry:
    """Schedule ``func(*args)`` to run once this session's transaction commits.

    Arguments must be JSON (ids as strings): jobs reload state from the database.
    """
    entry = OutboxEntry(func=func, args=list(args), queue=queue, job_id=job_id, run_at=run_at)
    session.add(entry)
    session.info["outbox_dirty"] = True
    return entry


def pending(session: Session, limit: int, due_before: datetime | None = None):
    stmt = select(OutboxEntry).where(OutboxEntry.dispatched_at.is_(None)).order_by(OutboxEntry.id).limit(limit)
    if due_before is not None:
        stmt = stmt.where(or_(OutboxEntry.run_at.is_(None), OutboxEntry.run_at <= due_before))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return session.scalars(stmt).all()


def set_aside(session: Session, queue: str) -> int:
    """Mark the pending rows of ``queue`` done without running them (one transaction); returns how many.

    For work that is no longer news: the demo's seeded history queues care messages nobody should get."""
    with transaction(session):
        return session.execute(update(OutboxEntry).where(OutboxEntry.queue == queue,
                                                         OutboxEntry.dispatched_at.is_(None))
                               .values(dispatched_at=utcnow())).rowcount


@event.listens_for(Session, "after_commit")
def _relay_after_commit(session: Session) -> None:
    # Releasing a savepoint fires after_commit too; the rows are not visible to the relay until
    # the outermost transaction commits, so keep the flag until then.
    if session.in_nested_transaction():
        return
    session.info.pop("coalesced_events", None)
    if session.info.pop("outbox_dirty", False):
        hook = session.info.get("after_commit_relay")
        if hook is not None:
            try:
                hook()
            except Exception:
                # The change is committed and its rows are pending: the next relay delivers them.
                # Raising here would report a committed write as failed.
                log.exception("outbox relay after commit failed; rows stay pending")


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction) -> None:
    # Rows added in a rolled-back outermost transaction are gone; nothing is left to relay.
    if previous_transaction.parent is None:
        session.info.pop("outbox_dirty", None)
        session.info.pop("coalesced_events", None)
