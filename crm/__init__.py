"""CRM customer-journey platform: application factory."""
from __future__ import annotations

import logging
import os

from flask import Flask

__version__ = "0.1.0"


def import_models():
    """Every domain's models, on the one metadata: what Alembic and the test suite build and compare.
    Returns the declarative base."""
    import crm.models  # noqa: F401
    import journeys.campaigns.models  # noqa: F401
    import journeys.interactions.models  # noqa: F401
    import journeys.maps.models  # noqa: F401
    import journeys.service.models  # noqa: F401
    import loyalty.models  # noqa: F401
    from crm.db import Base
    return Base


def create_app(config: dict | None = None) -> Flask:
    """Build the app: config from CRM_* environment variables, overridable by ``config``."""
    app = Flask(__name__, instance_path=os.environ.get("CRM_INSTANCE_PATH") or None)
    from crm import config as config_module
    config_module.load_config(app, config)
    os.makedirs(app.instance_path, exist_ok=True)
    from crm import clock
    clock.set_shift(float(app.config["CLOCK_SHIFT"]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from crm import queue, sessions
    sessions.init_app(app)
    queue.init_app(app)
    # Relay the outbox right after every commit that wrote to it. Not to the embedded stand-in:
    # only the process running the in-process worker relays there, when the work is due.
    if not app.extensions["crm.redis_embedded"]:
        app.extensions["crm.sessionmaker"].kw["info"] = {"after_commit_relay": lambda: queue.relay_outbox(app)}

    import journeys
    import loyalty
    from crm import auth, messages, segments
    from journeys import campaigns
    auth.init_app(app)
    segments.init_app(app)
    messages.init_app(app)
    journeys.init_app(app)
    campaigns.init_app(app)
    loyalty.init_app(app)

    from crm import pages
    pages.init_app(app)
    from crm.customers import pages as customer_pages
    customer_pages.init_app(app)

    from crm.api import browser, graphiql, rate_limits
    from crm.api.schema import build_schema
    from crm.api.view import bp
    app.extensions["crm.schema"] = build_schema()
    app.register_blueprint(bp)
    app.register_blueprint(graphiql.bp)
    browser.init_app(app)
    rate_limits.init_app(app)

    from crm.cli import register_commands
    register_commands(app)
    return app
