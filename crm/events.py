"""Domain events, delivered through the outbox.

Domains subscribe job functions to topics when the app is composed; ``emit``
writes one outbox job per subscriber in the caller's transaction, so an event
is delivered if and only if its change commits.

Topics emitted by the customer core (payload keys in brackets):
- customer.created [customerId]
- customer.updated [customerId, fields]
- customer.consent_changed [customerId, channel, granted, status]
- customer.stage_changed [customerId, fromStage, toStage, actor]
- customer.tier_changed [customerId, fromTier, toTier, pinned]
- customer.manager_assigned [customerId, staffUserId]
- customer.merged [primaryId, duplicateId]
- order.recorded [orderId, customerId]
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy.orm import Session

from crm.outbox import enqueue_after_commit

_SUBSCRIBERS: dict[str, list[tuple[str, str, str | None, tuple]]] = defaultdict(list)


def subscribe(topic: str, func_path: str, queue: str = "default", coalesce_on: str | None = None,
              match: dict | None = None) -> None:
    """Run ``func_path(payload)`` after each ``topic`` commits. With ``coalesce_on`` (a payload key), one
    transaction queues the job once per value of that key, whichever of its topics came first: an order
    that also changes points, stage and tier re-evaluates the customer once, not four times. With
    ``match`` (payload key -> value), only events carrying those values queue the job."""
    entry = (func_path, queue, coalesce_on, tuple(sorted((match or {}).items())))
    if entry not in _SUBSCRIBERS[topic]:
        _SUBSCRIBERS[topic].append(entry)


def emit(session: Session, topic: str, **payload) -> None:
    payload = {"topic": topic, **payload}
    for func_path, queue, coalesce_on, match in _SUBSCRIBERS.get(topic, ()):
        if any(payload.get(key) != value for key, value in match):
            continue
        if coalesce_on is not None:
            seen = session.info.setdefault("coalesced_events", set())
            key = (func_path, payload.get(coalesce_on))
            if key in seen:
                continue
            seen.add(key)
        enqueue_after_commit(session, func_path, payload, queue=queue)
