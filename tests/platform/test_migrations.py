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
