"""Staff users, API tokens and sessions, and the permission table. See docs/auth.md."""

DEFAULTS = {
    # portalSessionCreate: the longest a PORTAL session may last (seconds); a longer ttlSeconds is capped to it.
    "PORTAL_SESSION_MAX_TTL": 86400,
    # An expired session is deleted this long after it expired (seconds); until then it answers TOKEN_EXPIRED,
    # so a portal that comes back after a weekend is told to sign in again rather than that its token is unknown.
    "AUTH_SESSION_PURGE_GRACE": 7 * 86400,
    # How often `crm worker` runs the purge (seconds); it also deletes failed sign-ins older than the lockout
    # window (SIGN_IN_FAILURE_WINDOW).
    "AUTH_PURGE_INTERVAL": 3600,
}


def init_app(app) -> None:
    from crm.queue import PERIODIC_JOBS

    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    job = ("auth-purge", "crm.auth.jobs.purge_expired_sessions", "AUTH_PURGE_INTERVAL")
    if job not in PERIODIC_JOBS:
        PERIODIC_JOBS.append(job)
