"""Domain events, delivered through the outbox.

Domains subscribe job functions to topics when the app is composed; ``emit``
writes one outbox job per subscriber in the caller's transaction, so an event
is delivered if and only if its change commits.

Topics emitted by the customer core (payload keys in brackets):
- customer.created [customerId]
- customer.updated [customerId, fields]
- customer.consent_changed [customerId, channel, granted]
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

_SUBSCRIBERS: dict[str, list[tuple[str, str]]] = defaultdict(list)


def subscribe(topic: str, func_path: str, queue: str = "default") -> None:
    if (func_path, queue) not in _SUBSCRIBERS[topic]:
        _SUBSCRIBERS[topic].append((func_path, queue))


def emit(session: Session, topic: str, **payload) -> None:
    payload = {"topic": topic, **payload}
    for func_path, queue in _SUBSCRIBERS.get(topic, ()):
        enqueue_after_commit(session, func_path, payload, queue=queue)
