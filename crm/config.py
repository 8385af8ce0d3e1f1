"""Configuration: defaults here, overridden by CRM_-prefixed environment variables.

Flask's ``from_prefixed_env`` parses each value as JSON when it can, so
``CRM_CURRENCY_RATES='{"USD": "0.92"}'`` arrives as a dict and
``CRM_GRAPHQL_MAX_DEPTH=12`` as an int.
"""
from __future__ import annotations

import os
import re

DEFAULT_SECRET_KEY = "dev-insecure-change-me"
MIN_SECRET_KEY_LENGTH = 32
_ORIGIN = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?")


class ConfigError(RuntimeError):
    """A setting the app refuses to start with; the message names the variable and says what to do."""


DEFAULTS: dict[str, object] = {
    # "development" or "production"; production turns introspection and suggestions off.
    "ENV": "development",
    # None: a SQLite file in the instance folder (zero-setup start).
    "DATABASE_URL": None,
    # None: an embedded in-process Redis stand-in with an in-process worker.
    "REDIS_URL": None,
    # Flask's SECRET_KEY: what the app signs. Production refuses this default and any key under 32 characters.
    "SECRET_KEY": DEFAULT_SECRET_KEY,
    # Browsers: origins allowed to call the API from their pages (exact "scheme://host[:port]", comma-separated
    # or a JSON list; none by default), and GraphiQL on GET /graphql (None: on in development, off in production).
    "CORS_ORIGINS": "",
    # The customer's pages (crm/pages): the address the links in messages use, and how long a link works
    # (seconds; crm/links.py).
    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    "LINKS_MAX_AGE": 30 * 86400,
    "GRAPHIQL": None,
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
    # Query cost (crm/api/validation.py): 1 per field, a connection multiplying what is under it by its page
    # size. The example operations cost at most 2,603 at the largest page (customer_cases, first 100),
    # GraphiQL's introspection query 229, a rich staff list of 100 customers with their orders, cases and
    # interactions 11,501; two nested connections of 100 cost 30,301, three of the default 20 about 25,000,
    # three of 100 3,030,301. GRAPHQL_REPORT_COST adds `extensions.cost` to every answer (front-end work).
    "GRAPHQL_MAX_COST": 20000,
    "GRAPHQL_REPORT_COST": False,
    # Trusted documents (crm/api/trusted_documents.py): "off" runs any document, "portal" lets PORTAL tokens
    # run only the manifest's, "all" every token. The manifest maps sha256 to document text (None: the
    # repository's graphql/operations/manifest.json, written by `crm operations manifest`).
    "TRUSTED_DOCUMENTS": "off",
    "TRUSTED_DOCUMENTS_MANIFEST": None,
    "MAX_BODY_BYTES": 1024 * 1024,
    # Rate limits (crm/api/rate_limits.py, docs/protection.md): per token, by role (a JSON object of role to
    # limit; roles left out keep their default), and per client address for requests without a valid token.
    # Counted in CRM_RATE_LIMIT_STORAGE_URL, else CRM_REDIS_URL, else this process's memory.
    "RATE_LIMITS_ENABLED": True,
    "RATE_LIMITS": {"ADMIN": "600/minute", "ACCOUNT_MANAGER": "600/minute", "SUPPORT_AGENT": "600/minute",
                    "MARKETER": "600/minute", "PORTAL": "120/minute", "INTEGRATION": "1200/minute"},
    "RATE_LIMIT_SIGN_IN": "10/minute",
    "RATE_LIMIT_STORAGE_URL": None,
    # Proxies in front of the app that append the client's address to X-Forwarded-For; 0 trusts none.
    "TRUSTED_PROXIES": 0,
    # Staff sign-in (crm/auth/sign_in.py): how long a staffSignIn session lasts (seconds), and the lockout: this
    # many failed sign-ins for one email within the window (seconds) answer LOCKED until the window has passed.
    "STAFF_SESSION_TTL": 8 * 3600,
    "SIGN_IN_MAX_FAILURES": 5,
    "SIGN_IN_FAILURE_WINDOW": 15 * 60,
    # A PORTAL's change of email is confirmed by the new address (crm/customers/email_change.py): the
    # link in the message ({token}), how long it works (seconds), and how many changes a customer may
    # ask for per day.
    "CUSTOMERS_EMAIL_CONFIRM_URL": "http://127.0.0.1:5000/portal/confirm-email?token={token}",
    "CUSTOMERS_EMAIL_CHANGE_TTL": 86400,
    "CUSTOMERS_EMAIL_CHANGES_PER_DAY": 5,
    # Double opt-in (crm/customers/consents.py): EMAIL consent from a portal, an import or the preference centre
    # waits PENDING until the address confirms it; asking again sends another confirmation only after this many
    # seconds.
    "CONSENT_DOUBLE_OPT_IN": True,
    "CONSENT_CONFIRM_RESEND_AFTER": 3600,
    # Queue: how often `crm worker` relays the outbox and runs periodic jobs (seconds).
    "OUTBOX_RELAY_INTERVAL": 5,
    "RFM_REFRESH_INTERVAL": 3600,
}


def load_config(app, overrides: dict | None = None) -> None:
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env(prefix="CRM")
    if "CRM_SECRET_KEY" in os.environ:  # as typed: the JSON parsing would turn an all-digit key into an int
        app.config["SECRET_KEY"] = os.environ["CRM_SECRET_KEY"]
    if overrides:
        app.config.update(overrides)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{app.instance_path}/crm.sqlite"
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_BODY_BYTES"])
    app.config["PRODUCTION"] = str(app.config["ENV"]).lower() == "production"
    if app.config["PRODUCTION"]:
        check_secret_key(app.config["SECRET_KEY"])
    app.config["CORS_ORIGINS"] = cors_origins(app.config["CORS_ORIGINS"])
    if app.config["GRAPHIQL"] is None:
        app.config["GRAPHIQL"] = not app.config["PRODUCTION"]
    elif not isinstance(app.config["GRAPHIQL"], bool):
        raise ConfigError(f"CRM_GRAPHIQL must be true or false, not {app.config['GRAPHIQL']!r}.")


def check_secret_key(key) -> None:
    """Production signs with CRM_SECRET_KEY: the public default or a short key would let anyone forge."""
    if not key or key == DEFAULT_SECRET_KEY:
        raise ConfigError("CRM_SECRET_KEY is unset (the development default) or empty: production needs a random "
                          f"key of at least {MIN_SECRET_KEY_LENGTH} characters, e.g. from "
                          "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`.")
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(f"CRM_SECRET_KEY has {len(key)} characters: production needs at least "
                          f"{MIN_SECRET_KEY_LENGTH} random ones.")


def cors_origins(value) -> tuple[str, ...]:
    """CRM_CORS_ORIGINS as exact origins. A pattern or "*" is refused: flask-cors would read one as a regular
    expression, and any site could then call the API with a token it holds."""
    items = value if isinstance(value, (list, tuple)) else str(value or "").split(",")
    origins = tuple(str(item).strip().rstrip("/") for item in items if str(item).strip())
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ConfigError(f"CRM_CORS_ORIGINS: {origin!r} is not an exact origin like https://shop.example.com "
                              "or http://localhost:3000 (scheme, host, optional port; no path, no wildcard).")
    return origins
