"""Configuration: defaults here, overridden by CRM_-prefixed environment variables.

Flask's ``from_prefixed_env`` parses each value as JSON when it can, so
``CRM_CURRENCY_RATES='{"USD": "0.92"}'`` arrives as a dict and
``CRM_GRAPHQL_MAX_DEPTH=12`` as an int.
"""
from __future__ import annotations

DEFAULTS: dict[str, object] = {
    # "development" or "production"; production turns introspection and suggestions off.
    "ENV": "development",
    # None: a SQLite file in the instance folder (zero-setup start).
    "DATABASE_URL": None,
    # None: an embedded in-process Redis stand-in with an in-process worker.
    "REDIS_URL": None,
    "SECRET_KEY": "dev-insecure-change-me",
    "DEFAULT_TIMEZONE": "UTC",
    # Run the platform clock this many seconds away from the machine's (crm/clock.py). 0 in production;
    # the test suite's shifted run and rehearsals set it, and every process of one deployment must agree.
    "CLOCK_SHIFT": 0,
    # Money: metrics and thresholds are kept in the base currency; other currencies
    # convert with these rates (1 unit of the currency = rate units of the base).
    "BASE_CURRENCY": "EUR",
    "CURRENCY_RATES": {"USD": "0.92", "GBP": "1.17", "CHF": "1.06", "JPY": "0.0061", "SEK": "0.087"},
    # Service tier rules on lifetime spend in the base currency.
    "TIER_VIP_SPEND": "10000",
    "TIER_PREFERRED_SPEND": "2000",
    # Lifecycle stage rules (docs/rules.md explains each).
    "STAGE_RULES_ENABLED": True,
    "STAGE_DEVELOPING_ORDERS": 3,
    "STAGE_DEVELOPING_WINDOW_DAYS": 365,
    "STAGE_LOYAL_ORDERS": 6,
    "STAGE_LOYAL_TENURE_DAYS": 365,
    # GraphQL protection.
    "GRAPHQL_MAX_DEPTH": 10,
    "GRAPHQL_MAX_PAGE_SIZE": 100,
    "GRAPHQL_DEFAULT_PAGE_SIZE": 20,
    "GRAPHQL_MAX_ALIASES": 15,
    # Field selections written in one document (GraphiQL's introspection query has about 230), and how
    # deep fragment spreads may nest within each other.
    "GRAPHQL_MAX_FIELDS": 500,
    "GRAPHQL_MAX_FRAGMENT_DEPTH": 50,
    "GRAPHQL_MAX_TOKENS": 20000,
    "MAX_BODY_BYTES": 1024 * 1024,
    # A PORTAL's change of email is confirmed by the new address (crm/customers/email_change.py): the
    # link in the message ({token}), how long it works (seconds), and how many changes a customer may
    # ask for per day.
    "CUSTOMERS_EMAIL_CONFIRM_URL": "http://127.0.0.1:5000/portal/confirm-email?token={token}",
    "CUSTOMERS_EMAIL_CHANGE_TTL": 86400,
    "CUSTOMERS_EMAIL_CHANGES_PER_DAY": 5,
    # Queue: how often `crm worker` relays the outbox and runs periodic jobs (seconds).
    "OUTBOX_RELAY_INTERVAL": 5,
    "RFM_REFRESH_INTERVAL": 3600,
}


def load_config(app, overrides: dict | None = None) -> None:
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env(prefix="CRM")
    if overrides:
        app.config.update(overrides)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{app.instance_path}/crm.sqlite"
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_BODY_BYTES"])
    app.config["PRODUCTION"] = str(app.config["ENV"]).lower() == "production"
