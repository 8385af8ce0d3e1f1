"""Flask glue of the database: one engine per app, one session per app context (request, job or command).

Services take the session as an argument; entry points (the view, jobs, commands) take it from here.
The SQL helpers that need no app are in ``crm.db``."""
from __future__ import annotations

from flask import current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from crm.db import make_engine


def init_app(app) -> None:
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["crm.engine"] = engine
    app.extensions["crm.sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def get_engine() -> Engine:
    return current_app.extensions["crm.engine"]


def get_session() -> Session:
    """The session of the current app context (one per request, job or command)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["crm.sessionmaker"]()
    return g.db_session


def new_session() -> Session:
    """A session apart from the app context's, for writes that must outlive its rollback; the caller closes it."""
    return current_app.extensions["crm.sessionmaker"]()


def current_config():
    """The running app's configuration, for entry points that turn it into a domain's settings."""
    return current_app.config


def _close_session(_exc) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
