"""Migrations are the only way the schema is made: they build exactly the models, and undo cleanly."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from crm.migrate import downgrade, upgrade
from crm.models import Base
from tests.conftest import fresh_database


def _diff(url):
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url):
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_builds_the_models_and_downgrade_removes_everything(tmp_path_factory):
    with fresh_database(tmp_path_factory) as url:
        upgrade(url)
        assert _diff(url) == []
        assert _tables(url) >= {t.name for t in Base.metadata.sorted_tables}
        downgrade(url, "base")
        assert _tables(url) == {"alembic_version"}
        upgrade(url)
        assert _diff(url) == []


def test_cli_db_upgrade_and_downgrade(tmp_path_factory):
    from crm import create_app
    with fresh_database(tmp_path_factory) as url:
        app = create_app({"DATABASE_URL": url, "REDIS_URL": None})
        runner = app.test_cli_runner()
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        assert "customer" in _tables(url)
        result = runner.invoke(args=["db", "downgrade", "base"])
        assert result.exit_code == 0, result.output
        assert _tables(url) == {"alembic_version"}
        app.extensions["crm.engine"].dispose()


def test_pending_outbox_rows_follow_the_journeys_jobs_into_their_subpackages(tmp_path_factory):
    """0010: a job written before journeys moved into subpackages, still pending, runs from its new
    module; a dispatched one is history and keeps the path it ran under."""
    import importlib

    from sqlalchemy import text
    with fresh_database(tmp_path_factory) as url:
        upgrade(url, "0009")
        engine = create_engine(url)
        try:
            rows = [("journeys.care.on_case_resolved", None), ("journeys.jobs.sweep_sla", None),
                    ("journeys.campaigns.jobs.tick", None), ("crm.messages.jobs.send_message", None),
                    ("journeys.care.on_detractor", "2026-01-01 00:00:00")]
            with engine.begin() as conn:
                for func, dispatched in rows:
                    conn.execute(text("INSERT INTO outbox_entry (func, args, queue, created_at, dispatched_at) "
                                      "VALUES (:f, '[]', 'default', '2026-01-01 00:00:00', :d)"),
                                 {"f": func, "d": dispatched})
            upgrade(url)
            with engine.connect() as conn:
                funcs = conn.execute(text("SELECT func FROM outbox_entry ORDER BY id")).scalars().all()
            assert funcs == ["journeys.service.care.on_case_resolved", "journeys.service.jobs.sweep_sla",
                             "journeys.campaigns.jobs.tick", "crm.messages.jobs.send_message",
                             "journeys.care.on_detractor"]
            for func in funcs[:2]:
                module, _, name = func.rpartition(".")
                assert callable(getattr(importlib.import_module(module), name))
            downgrade(url, "0009")
            with engine.connect() as conn:
                assert conn.execute(text("SELECT func FROM outbox_entry ORDER BY id")).scalars().all()[:2] == [
                    "journeys.care.on_case_resolved", "journeys.jobs.sweep_sla"]
        finally:
            engine.dispose()


def test_existing_consents_get_their_status_and_one_history_row_each(tmp_path_factory):
    """0012: a granted consent becomes GRANTED, a withdrawn one WITHDRAWN, and each gets one consent_change row
    with its source and time; the evidence columns start empty."""
    import uuid
    from datetime import datetime, timezone

    import sqlalchemy as sa

    from crm.db import UTCDateTime
    when = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
    customer = sa.table("customer", sa.column("id", sa.Uuid), sa.column("first_name_key", sa.String),
                        sa.column("last_name_key", sa.String), sa.column("timezone", sa.String),
                        sa.column("attributes", sa.JSON), sa.column("lifecycle_stage", sa.String),
                        sa.column("service_tier", sa.String), sa.column("service_tier_pinned", sa.Boolean),
                        sa.column("total_spent", sa.Numeric), sa.column("order_count", sa.Integer),
                        sa.column("created_at", UTCDateTime(timezone=True)),
                        sa.column("updated_at", UTCDateTime(timezone=True)))
    consent = sa.table("consent", sa.column("customer_id", sa.Uuid), sa.column("channel", sa.String),
                       sa.column("granted", sa.Boolean), sa.column("source", sa.String),
                       sa.column("updated_at", UTCDateTime(timezone=True)))
    with fresh_database(tmp_path_factory) as url:
        upgrade(url, "0011")
        engine = create_engine(url)
        try:
            cid = uuid.uuid4()
            with engine.begin() as conn:
                conn.execute(customer.insert().values(
                    id=cid, first_name_key="", last_name_key="", timezone="UTC", attributes={},
                    lifecycle_stage="LEAD", service_tier="STANDARD", service_tier_pinned=False, total_spent=0,
                    order_count=0, created_at=when, updated_at=when))
                conn.execute(consent.insert(), [
                    {"customer_id": cid, "channel": "EMAIL", "granted": True, "source": "portal", "updated_at": when},
                    {"customer_id": cid, "channel": "SMS", "granted": False, "source": None, "updated_at": when}])
            upgrade(url)
            with engine.connect() as conn:
                statuses = conn.execute(sa.text("SELECT channel, status, confirmed_at, confirmation_message_id "
                                                "FROM consent ORDER BY channel")).all()
                changes = conn.execute(sa.select(
                    sa.column("channel"), sa.column("from_status"), sa.column("to_status"), sa.column("source"),
                    sa.column("actor"), sa.column("at", UTCDateTime(timezone=True)),
                    sa.column("customer_id", sa.Uuid)).select_from(sa.table("consent_change"))
                    .order_by(sa.column("channel"))).all()
            assert [tuple(row) for row in statuses] == [("EMAIL", "GRANTED", None, None), ("SMS", "WITHDRAWN", None, None)]
            assert [tuple(row) for row in changes] == [("EMAIL", None, "GRANTED", "portal", None, when, cid),
                                                       ("SMS", None, "WITHDRAWN", None, None, when, cid)]
            downgrade(url, "0011")
            assert "consent_change" not in _tables(url)
        finally:
            engine.dispose()
