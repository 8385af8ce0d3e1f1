"""Periodic loyalty work: expiry, the tier review and the ledger check. Each is safe to run twice."""
from __future__ import annotations

import logging

from crm.db import get_session
from loyalty import queries, services

log = logging.getLogger(__name__)


def expire_points() -> int:
    written = services.run_expiry(get_session())
    log.info("loyalty expiry: %d EXPIRE entries written", written)
    return written


def review_tiers() -> int:
    changes = services.review_tiers(get_session())
    log.info("loyalty tier review: %d tier changes", changes)
    return changes


def verify_ledger() -> int:
    problems = queries.balance_differences(get_session())
    for problem in problems:
        log.error("loyalty ledger mismatch: %s", problem)
    return len(problems)
