"""Background jobs of authentication. Safe to run twice and late."""
from __future__ import annotations

import logging

from crm.auth.services import purge_expired
from crm.sessions import current_config, get_session

log = logging.getLogger(__name__)


def purge_expired_sessions() -> dict:
    """The periodic `auth-purge`: expired sessions past their grace period, stale sign-in failures."""
    config = current_config()
    purged = purge_expired(get_session(), grace_seconds=float(config["AUTH_SESSION_PURGE_GRACE"]),
                           failure_window_seconds=float(config.get("SIGN_IN_FAILURE_WINDOW", 900)))
    log.info("auth purge: %s", purged)
    return purged
