"""Alembic, driven from the app: the migrations are the only way the schema is made."""
from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config


def migrations_path() -> Path:
    configured = os.environ.get("CRM_MIGRATIONS_PATH")
    return Path(configured) if configured else Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_path()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
