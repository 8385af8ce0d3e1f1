"""Periodic loyalty work: expiry, the tier review and the ledger check. Each is safe to run twice."""
from __future__ import annotations

import logging
import uuid

from sqlalchemy import select

from crm.customers.models import Customer
from crm.sessions import current_config, get_session
from loyalty import queries, services
from loyalty.models import EntryKind, LedgerEntry
from loyalty.settings import LoyaltySettings

log = logging.getLogger(__name__)


def expire_points() -> int:
    written = services.run_expiry(get_session())
    log.info("loyalty expiry: %d EXPIRE entries written", written)
    return written


def review_tiers() -> int:
    changes = services.review_tiers(get_session(), settings=LoyaltySettings.from_config(current_config()))
    log.info("loyalty tier review: %d tier changes", changes)
    return changes


def verify_ledger() -> int:
    problems = queries.balance_differences(get_session())
    for problem in problems:
        log.error("loyalty ledger mismatch: %s", problem)
    return len(problems)


def credit_case_compensation(payload: dict) -> str | None:
    """The points of a "case.compensation_granted" event; the ledger entry's id, None if nothing was credited.

    The customer may have been merged since the case was resolved: the points go to whoever the customer
    is now, and a compensation already credited for the case (before the merge, or by an earlier run)
    is never credited again.
    """
    session = get_session()
    case_id = uuid.UUID(payload["caseId"])
    credited = session.scalar(select(LedgerEntry.id).where(LedgerEntry.case_id == case_id,
                                                           LedgerEntry.kind == EntryKind.COMPENSATION).limit(1))
    if credited is not None:
        return str(credited)
    customer = session.get(Customer, uuid.UUID(payload["customerId"]))
    while customer is not None and customer.merged_into_id is not None:
        customer = session.get(Customer, customer.merged_into_id)
    if customer is None:
        log.warning("case %s compensation not credited: its customer no longer exists", case_id)
        return None
    result = services.credit_compensation(session, customer_id=customer.id, case_id=case_id,
                                          points=int(payload["points"]), reason=payload.get("reason") or "",
                                          actor="system", settings=LoyaltySettings.from_config(current_config()))
    return str(result.entry.id)


def grant_campaign_points(payload: dict) -> str | None:
    """A campaign's points bonus ("campaign.points_granted"); its idempotency key names the campaign, the
    step and the entry, so the bonus is credited once however often the event is delivered."""
    session = get_session()
    customer = session.get(Customer, uuid.UUID(payload["customerId"]))
    while customer is not None and customer.merged_into_id is not None:
        customer = session.get(Customer, customer.merged_into_id)
    if customer is None:
        return None
    result = services.earn_points(session, customer_id=customer.id, points=int(payload["points"]),
                                  reason=payload["reason"], idempotency_key=payload["idempotencyKey"],
                                  actor="campaign", settings=LoyaltySettings.from_config(current_config()))
    return str(result.entry.id)
