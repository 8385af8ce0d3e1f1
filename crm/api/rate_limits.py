"""Rate limits on the bearer-authenticated routes (POST /graphql, /reports/*), with flask-limiter.

One budget per token, shared by every limited route and sized by the token's role (CRM_RATE_LIMITS); requests
without a valid token (staffSignIn, or a wrong token about to get its 401) share one budget per client address
(CRM_RATE_LIMIT_SIGN_IN), so guessing passwords or tokens is bounded too. Counters live in Redis (CRM_REDIS_URL,
or CRM_RATE_LIMIT_STORAGE_URL), shared by every process; on the embedded default they are in memory, per process.

Counting, storage and the fallback are flask-limiter's; the headers are written here because flask-limiter's
``Reset`` header is an epoch timestamp, while the IETF draft's ``RateLimit-Reset`` is seconds from now.
Windows are fixed, starting at a key's first hit, and run on real time (Redis expiries), not the platform
clock: a shifted clock must not stretch or shrink a minute.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from flask import current_app, jsonify, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from limits import parse_many
from limits.errors import ConfigurationError as LimitsConfigurationError
from werkzeug.middleware.proxy_fix import ProxyFix

from crm.api.view import request_viewer
from crm.clock import real_now  # flask-limiter's windows run on the machine's clock, not the platform's
from crm.config import DEFAULTS, ConfigError
from crm.enums import Role

log = logging.getLogger(__name__)

# A Redis that hangs must not hang every request: past this many seconds the call fails and the limiter falls
# back to memory (flask-limiter then asks Redis again after 1, 2, 4, ... 32 seconds).
STORAGE_TIMEOUT = 0.5
STORAGE_KEY_PREFIX = "crm-rate-limits"
SCOPE = "api"
HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After")


@dataclass(frozen=True)
class RateLimitSettings:
    enabled: bool
    role_limits: dict  # Role -> limit string
    sign_in: str
    storage_url: str
    trusted_proxies: int


def _limit_string(value, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a limit like \"120/minute\" or \"10/second;600/hour\", not {value!r}.")
    try:
        items = parse_many(value)
    except ValueError:
        items = []
    if not items:
        raise ConfigError(f"{name}: {value!r} is not a limit like \"120/minute\" or \"10/second;600/hour\" "
                          "(a count, a slash, second/minute/hour/day; several separated by ';').")
    return value.strip()


def settings(config) -> RateLimitSettings:
    """The rate-limit settings from the app config; ConfigError names the variable and what is wrong."""
    enabled = config["RATE_LIMITS_ENABLED"]
    if not isinstance(enabled, bool):
        raise ConfigError(f"CRM_RATE_LIMITS_ENABLED must be true or false, not {enabled!r}.")
    configured = config["RATE_LIMITS"]
    if not isinstance(configured, dict):
        raise ConfigError(f"CRM_RATE_LIMITS must be a JSON object of role to limit, e.g. "
                          f"'{{\"PORTAL\": \"120/minute\"}}', not {configured!r}.")
    roles = {role.value for role in Role}
    unknown = sorted(str(name) for name in configured if name not in roles)
    if unknown:
        raise ConfigError(f"CRM_RATE_LIMITS: unknown role {', '.join(unknown)}; the roles are "
                          f"{', '.join(role.value for role in Role)}.")
    merged = {**DEFAULTS["RATE_LIMITS"], **configured}  # roles left out keep their default
    role_limits = {Role[name]: _limit_string(value, f"CRM_RATE_LIMITS[{name}]") for name, value in merged.items()}
    proxies = config["TRUSTED_PROXIES"]
    if isinstance(proxies, bool) or not isinstance(proxies, int) or proxies < 0:
        raise ConfigError(f"CRM_TRUSTED_PROXIES must be the number of proxies in front of the app (0 or more), "
                          f"not {proxies!r}.")
    storage_url = config["RATE_LIMIT_STORAGE_URL"] or config["REDIS_URL"] or "memory://"
    return RateLimitSettings(enabled=enabled, role_limits=role_limits,
                             sign_in=_limit_string(config["RATE_LIMIT_SIGN_IN"], "CRM_RATE_LIMIT_SIGN_IN"),
                             storage_url=str(storage_url), trusted_proxies=proxies)


def limited() -> bool:
    """The API and the exports; never a preflight, the health check or GraphiQL's page and assets."""
    if request.method == "OPTIONS":
        return False
    return (request.path == "/graphql" and request.method == "POST") or request.path.startswith("/reports/")


def rate_key() -> str:
    viewer = request_viewer()
    if viewer is not None and viewer.token_id is not None:
        return f"token:{viewer.token_id}"
    return f"address:{request.remote_addr or 'unknown'}"


def current_limits() -> str:
    viewer = request_viewer()
    rate = current_app.extensions["crm.rate_limits"]
    if viewer is not None and viewer.token_id is not None:
        return rate.role_limits[viewer.role]
    return rate.sign_in


def init_app(app) -> None:
    rate = settings(app.config)
    app.extensions["crm.rate_limits"] = rate
    if rate.trusted_proxies:
        # Each trusted proxy appends the address it saw: the client's is the one N entries from the right.
        # Never by default: without a proxy that overwrites it, X-Forwarded-For is whatever the client says.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=rate.trusted_proxies)
    if not rate.enabled:
        return
    options = {}
    if rate.storage_url.startswith(("redis", "valkey")):
        options = {"key_prefix": STORAGE_KEY_PREFIX, "socket_timeout": STORAGE_TIMEOUT,
                   "socket_connect_timeout": STORAGE_TIMEOUT}
    # The viewer first, in a hook of its own: a database failure there is the request's error as it always
    # was, not something the limiter would take for its storage failing (and swallow).
    app.before_request(_resolve_viewer)
    limiter = Limiter(
        rate_key,
        application_limits=[ApplicationLimit(limit_provider=current_limits, key_function=rate_key, scope=SCOPE)],
        storage_uri=rate.storage_url, storage_options=options, strategy="fixed-window",
        headers_enabled=False,
        # Storage down: count in this process's memory with the same limits, and log; never an error response.
        swallow_errors=True, in_memory_fallback_enabled=True,
    )
    limiter.request_filter(lambda: not limited())
    try:
        limiter.init_app(app)
    except LimitsConfigurationError as refused:  # a scheme limits has no storage for
        source = "CRM_RATE_LIMIT_STORAGE_URL" if app.config["RATE_LIMIT_STORAGE_URL"] else "CRM_REDIS_URL"
        raise ConfigError(f"{source}: the rate limiter cannot keep its counters there ({refused}); use a "
                          "redis:// or rediss:// URL.") from refused
    app.extensions["crm.limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    app.after_request(rate_limit_headers)


def _resolve_viewer() -> None:
    if limited():
        request_viewer()


def _window():
    """(limit item, remaining, seconds until the window resets) of this request's limit, or None when none
    applied or the storage failed; asked once per request."""
    environ = request.environ  # not ``g``: an app context can outlive a request (crm.api.view.request_viewer)
    if "crm.rate_window" not in environ:
        environ["crm.rate_window"] = None
        current = current_app.extensions["crm.limiter"].current_limit
        if current is not None:
            try:
                reset_at, remaining = current.window
            except Exception:  # the storage failed after the check: no headers rather than an error
                log.warning("rate limit storage failed reading the window", exc_info=True)
            else:
                environ["crm.rate_window"] = (current.limit, remaining, max(0, math.ceil(reset_at - real_now().timestamp())))
    return environ["crm.rate_window"]


def rate_limit_headers(response):
    window = _window()
    if window is not None:
        item, remaining, reset = window
        response.headers["RateLimit-Limit"] = str(item.amount)
        response.headers["RateLimit-Remaining"] = str(remaining)
        response.headers["RateLimit-Reset"] = str(reset)
    return response


def too_many_requests(exc: RateLimitExceeded):
    """HTTP 429 with Retry-After and the API's error shape, naming the limit and whose it is."""
    window = _window()
    retry_after = max(1, window[2]) if window else 1
    limit = str(exc.limit.limit)
    whose = "this token" if request_viewer() is not None else "this client address, for requests without a token"
    message = f"Rate limit: at most {limit} for {whose}; retry in {retry_after} seconds."
    response = jsonify({"errors": [{"message": message, "extensions": {
        "code": "RATE_LIMITED", "limit": limit, "retryAfter": retry_after}}]})
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response
