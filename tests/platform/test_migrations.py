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
