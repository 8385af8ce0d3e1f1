"""SQL plumbing without the app: declarative base, portable column types, ids, the clock, transactions and
locks. The session per app context (Flask glue) is ``crm.sessions``."""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, DateTime, MetaData, Uuid, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

from crm import clock

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Stored in UTC, always returned timezone-aware (SQLite drops the offset otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; pass an aware datetime")
        value = value.astimezone(timezone.utc)
        # SQLite compares datetimes as text: store them naive so every row has one shape.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


MONEY_SCALE = Decimal("10000")


class Money(TypeDecorator):
    """Exact decimal money stored as an integer count of 1/10,000 units.

    SQLite has no exact decimal type; a scaled integer sums, sorts and compares
    exactly on both PostgreSQL and SQLite.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        scaled = Decimal(value) * MONEY_SCALE
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than 4 decimal places")
        return int(scaled)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return money_places(Decimal(int(value)).scaleb(-4))


CENT = Decimal("0.01")


def money_places(value: Decimal) -> Decimal:
    """Two decimal places, or up to four when the value needs them: 12.5 -> 12.50, 0.0061 -> 0.0061."""
    cents = value.quantize(CENT)
    return cents if cents == value else value.normalize()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime(),
        Decimal: Money(),
        uuid.UUID: Uuid(),
        dict: JSON(),
        list: JSON(),
    }


def utcnow() -> datetime:
    """The platform clock (``crm.clock.now``), under the name the models and services import."""
    return clock.now()


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def make_engine(url: str) -> Engine:
    kwargs: dict = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _make_sqlite_transactional(engine)
    return engine


def _make_sqlite_transactional(engine: Engine) -> None:
    """Real transactions on SQLite: the driver otherwise runs reads outside any transaction and
    begins one only at the first write, so a savepoint would commit on release and two writers
    could interleave read-modify-write. BEGIN IMMEDIATE takes the write lock up front, which
    serialises writers the way a row lock does on PostgreSQL."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # the driver must not BEGIN by itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def transaction(session: Session):
    """The one transaction of a public service function: commit on success, roll back on error."""
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def upsert_insert(session: Session):
    """The dialect's ``insert`` construct, which has ON CONFLICT (PostgreSQL and SQLite both)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def lock_for_update(stmt, session: Session, key_share: bool = False):
    """Row lock on PostgreSQL (SQLite transactions hold the write lock already), and fresh values:
    an object the session already holds is reloaded, not served from a stale identity map.

    ``key_share=True`` takes FOR NO KEY UPDATE: writers still take turns, but inserts of rows that
    reference this one (their foreign-key check) do not wait for it."""
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(key_share=key_share)
    return stmt.execution_options(populate_existing=True)
