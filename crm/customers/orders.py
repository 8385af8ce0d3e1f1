"""Recording orders: idempotent, exact money, metrics and rules in the same transaction."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm import events
from crm.config import DEFAULTS
from crm.customers import rfm, rules
from crm.customers.errors import CustomerErrorCode
from crm.customers.models import Customer, Order
from crm.customers.money import to_base
from crm.customers.schemas import OrderRecordSchema
from crm.customers.services import require_customer
from crm.db import money_places, transaction, utcnow
from crm.errors import DomainError

# Order hooks of other domains (loyalty earns points): f(session, order, customer, config), run in the
# order's transaction, only the first time an order is recorded; ``config`` is the service's (their settings).
ORDER_RECORDED_HOOKS: list = []
# Run when an order is refunded or cancelled, in that transaction: f(session, order, customer, config) -> dict
# of figures for the answer (loyalty reports the points it reversed and could not reverse).
ORDER_CLOSED_HOOKS: list = []
CLOSED_STATUSES = ("REFUNDED", "CANCELLED")


@dataclass
class OrderResult:
    order: Order
    customer: Customer
    created: bool


def _payload_hash(customer_id: uuid.UUID, values: dict) -> str:
    canonical = {
        "customerId": str(customer_id), "amount": str(values["amount"].normalize()), "currency": values["currency"],
        "channel": values["channel"].value,
        "occurredAt": values["occurred_at"].astimezone(UTC).isoformat(), "items": values["items"],
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _existing(session: Session, external_id: str, payload_hash: str) -> Order | None:
    order = session.scalars(select(Order).where(Order.external_id == external_id)).first()
    if order is None:
        return None
    if order.payload_hash != payload_hash:
        raise DomainError(CustomerErrorCode.IDEMPOTENCY_MISMATCH,
                          "An order with this externalId was already recorded with different details.", "externalId")
    return order


def record_order(session: Session, *, customer_id: uuid.UUID, data: dict, actor: str | None,
                 config=DEFAULTS) -> OrderResult:
    """Record an order once per externalId; a replay with the same payload returns the original. ``config``
    gives the base currency, the rates and the stage and tier rules."""
    values = OrderRecordSchema().load(data)
    digest = _payload_hash(customer_id, values)
    with transaction(session):
        existing = _existing(session, values["external_id"], digest)
        if existing is None:
            customer = require_customer(session, customer_id, for_update=True)
            # Replays of one order queue on the customer lock; look again once we hold it.
            existing = _existing(session, values["external_id"], digest)
        if existing is not None:
            return OrderResult(existing, session.get(Customer, existing.customer_id), created=False)
        amount_base = to_base(values["amount"], values["currency"], base_currency=config["BASE_CURRENCY"],
                              rates=config["CURRENCY_RATES"])
        order = Order(id=uuid.uuid4(), external_id=values["external_id"], customer_id=customer.id,
                      amount=values["amount"], currency=values["currency"], amount_base=amount_base,
                      channel=values["channel"], occurred_at=values["occurred_at"], items=values["items"],
                      payload_hash=digest, created_at=utcnow())
        try:
            with session.begin_nested():
                session.add(order)
        except IntegrityError:
            # The same externalId was committed for another customer meanwhile: answer as a replay would.
            if order in session:
                session.expunge(order)
            existing = _existing(session, values["external_id"], digest)
            return OrderResult(existing, session.get(Customer, existing.customer_id), created=False)
        add_order_to_metrics(customer, order)
        rfm.score_customer(session, customer)
        rules.apply_stage_rules(session, customer, rules.StageRuleSettings.from_config(config), at=order.occurred_at)
        rules.apply_tier_rules(session, customer, config=config)
        for hook in ORDER_RECORDED_HOOKS:
            hook(session, order, customer, config)
        customer.updated_at = utcnow()
        events.emit(session, "order.recorded", orderId=str(order.id), customerId=str(customer.id))
    return OrderResult(order, customer, created=True)


@dataclass
class CloseResult:
    order: Order
    customer: Customer
    figures: dict


def close_order(session: Session, *, order_id: uuid.UUID, status: str, reason: str | None,
                actor: str | None, config=DEFAULTS) -> CloseResult:
    """Refund or cancel an order once: it leaves the metrics, the tier rule runs again, hooks reverse
    what they granted. Asking again for the same status answers as before; another status is refused."""
    if status not in CLOSED_STATUSES:
        raise DomainError(CustomerErrorCode.INVALID,
                          f"An order is closed as one of {', '.join(CLOSED_STATUSES)}.", "status")
    with transaction(session):
        order = session.get(Order, order_id)
        if order is None or session.get(Customer, order.customer_id).merged_into_id is not None:
            raise DomainError(CustomerErrorCode.NOT_FOUND, "No order has this id.", "orderId")
        customer = require_customer(session, order.customer_id, "orderId", for_update=True)
        session.refresh(order)
        if order.status == status:
            figures = {}
            for hook in ORDER_CLOSED_HOOKS:
                figures.update(hook(session, order, customer, config))
            return CloseResult(order, customer, figures)
        if order.status != "COMPLETED":
            raise DomainError(CustomerErrorCode.INVALID_TRANSITION, f"This order is already {order.status}.", "status")
        order.status, order.closed_at, order.close_reason = status, utcnow(), reason
        recompute_metrics(session, customer)
        rfm.score_customer(session, customer)
        rules.apply_tier_rules(session, customer, config=config)
        figures = {}
        for hook in ORDER_CLOSED_HOOKS:
            figures.update(hook(session, order, customer, config))
        customer.updated_at = utcnow()
        events.emit(session, "order.closed", orderId=str(order.id), customerId=str(customer.id), status=status)
    return CloseResult(order, customer, figures)


def add_order_to_metrics(customer: Customer, order: Order) -> None:
    customer.total_spent = customer.total_spent + order.amount_base
    customer.order_count += 1
    if customer.first_order_at is None or order.occurred_at < customer.first_order_at:
        customer.first_order_at = order.occurred_at
    if customer.last_order_at is None or order.occurred_at > customer.last_order_at:
        customer.last_order_at = order.occurred_at


def recompute_metrics(session: Session, customer: Customer) -> None:
    """Rebuild order metrics from the completed orders themselves (after a merge or refund), in exact Decimal."""
    session.flush()
    rows = session.execute(select(Order.amount_base, Order.occurred_at)
                           .where(Order.customer_id == customer.id, Order.status == "COMPLETED")).all()
    customer.total_spent = sum((amount for amount, _ in rows), start=Decimal(0))
    customer.order_count = len(rows)
    customer.first_order_at = min((at for _, at in rows), default=None)
    customer.last_order_at = max((at for _, at in rows), default=None)


def average_order_value(customer: Customer):
    if customer.order_count == 0:
        return None
    return money_places((customer.total_spent / customer.order_count).quantize(Decimal("0.01")))
