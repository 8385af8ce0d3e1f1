"""Segment jobs. Each takes ids, reloads state, and is safe to run twice (only differences are written)."""
from __future__ import annotations

import logging
import uuid

from crm.customers import scores
from crm.sessions import current_config, get_session
from crm.segments import services, tiers

log = logging.getLogger(__name__)


def reevaluate_customer(payload: dict) -> dict:
    """Subscribed to every event that can change a rule's answer for one customer."""
    customer_id = payload.get("customerId") or payload.get("primaryId")
    if payload.get("topic") == "customer.merged":
        services.absorb_duplicate(get_session(), primary_id=uuid.UUID(payload["primaryId"]),
                                  duplicate_id=uuid.UUID(payload["duplicateId"]))
    changes = services.reevaluate_customer(get_session(), customer_id=uuid.UUID(customer_id),
                                           reason=payload.get("topic", "event"), config=current_config())
    return {str(k): v for k, v in changes.items()}


def reevaluate_readers(payload: dict) -> int:
    """After customers joined or left a segment: re-evaluate them if a dynamic segment or a tier rule
    reads that segment. Returns how many customers were re-evaluated."""
    session = get_session()
    if not services.has_readers(session, uuid.UUID(payload["segmentId"])):
        session.rollback()
        return 0
    for customer_id in payload["customerIds"]:
        services.reevaluate_customer(session, customer_id=uuid.UUID(customer_id), reason=payload["topic"],
                                     config=current_config())
    return len(payload["customerIds"])


def refresh_segments() -> dict:
    """Periodic: every dynamic segment over the whole base, for time-based conditions (within_last)."""
    done = services.refresh_all(get_session())
    log.info("segments refreshed: %s", {name: f"+{j}/-{left}" for name, (j, left) in done.items()})
    return {name: list(counts) for name, counts in done.items()}


def refresh_scores() -> dict:
    """Periodic: lifetime value and churn risk of every customer, then the tier rules that may read them."""
    session = get_session()
    config = current_config()
    scored = scores.refresh_all(session, config)
    moved = tiers.review_all(session, config)
    log.info("customer scores: %d changed; service tiers: %d moved", scored, moved)
    return {"scoresChanged": scored, "tiersMoved": moved}
