"""Message and care jobs. Each takes ids or an event payload, reloads state, and is safe to run twice:
the sender claims before it sends, and every care message has a dedupe key naming its trigger."""
from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import extract, or_, select

from crm import events
from crm.customers.models import Customer
from crm.db import transaction, utcnow
from crm.sessions import current_config, get_session
from crm.enums import LifecycleStage, ServiceTier
from crm.messages import delivery
from crm.messages.care import schedule_care
from crm.messages.policy import zone_of
from crm.messages.settings import MessageSettings

log = logging.getLogger(__name__)
SERVICE_TIER_RANK = {ServiceTier.STANDARD.value: 0, ServiceTier.PREFERRED.value: 1, ServiceTier.VIP.value: 2}


def send_message(message_id: str) -> str | None:
    status = delivery.deliver(get_session(), message_id=uuid.UUID(message_id))
    return status.value if status is not None else None


def dispatch_due() -> int:
    return delivery.dispatch_due(get_session())


def _when(payload: dict) -> datetime:
    return datetime.fromisoformat(payload["at"]) if payload.get("at") else utcnow()


def _care(key: str, customer_id: str, dedupe: str, happened_at: datetime, **context):
    session = get_session()
    with transaction(session):
        created = schedule_care(session, key=key, customer_id=uuid.UUID(customer_id), dedupe=dedupe,
                                happened_at=happened_at, context=context,
                                settings=MessageSettings.from_config(current_config()))
    return str(created.message.id) if created else None


def on_customer_created(payload: dict) -> str | None:
    """A customer created straight into NEW (an import, a shop account with its first order) is welcomed too."""
    customer = get_session().get(Customer, uuid.UUID(payload["customerId"]))
    if customer is None or customer.lifecycle_stage != LifecycleStage.NEW:
        return None
    return _care("welcome", payload["customerId"], payload["customerId"], customer.created_at)


def on_stage_changed(payload: dict) -> str | None:
    """welcome on entering NEW (once per customer), at-risk on each entry into AT_RISK."""
    if payload["toStage"] == LifecycleStage.NEW.value:
        return _care("welcome", payload["customerId"], payload["customerId"], _when(payload))
    if payload["toStage"] == LifecycleStage.AT_RISK.value:
        return _care("at-risk", payload["customerId"], payload.get("transitionId") or payload["at"], _when(payload))
    return None


def on_service_tier_changed(payload: dict) -> str | None:
    if SERVICE_TIER_RANK[payload["toTier"]] <= SERVICE_TIER_RANK[payload["fromTier"]]:
        return None
    return _care("tier-upgrade", payload["customerId"], f"service:{payload['changeId']}", _when(payload),
                 tier=payload["toTier"], program="service tier")


def _is_birthday(birthday: date, today: date) -> bool:
    if (birthday.month, birthday.day) == (today.month, today.day):
        return True
    # Born on 29 February: celebrated on the 28th in other years.
    leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
    return (birthday.month, birthday.day) == (2, 29) and not leap and (today.month, today.day) == (2, 28)


def send_birthday_greetings(now: datetime | None = None) -> int:
    """Greet every customer whose birthday it is in their own timezone; once a year each (the dedupe key
    holds the year). Reads only customers whose birthday is yesterday, today or tomorrow in UTC, the days
    a local date can be. Emits customer.birthday for the loyalty bonus."""
    now = now or utcnow()
    session = get_session()
    days = {(now + timedelta(days=d)).date() for d in (-1, 0, 1)}
    if any((d.month, d.day) == (2, 28) for d in days):
        days.add(date(2000, 2, 29))
    day_match = or_(*[(extract("month", Customer.birthday) == d.month) & (extract("day", Customer.birthday) == d.day)
                      for d in days])
    candidates = session.execute(select(Customer.id, Customer.birthday, Customer.timezone)
                                 .where(Customer.birthday.is_not(None), Customer.merged_into_id.is_(None), day_match))
    config = current_config()
    bonus = int(config.get("LOYALTY_BIRTHDAY_POINTS") or 0)
    settings = MessageSettings.from_config(config)
    greeted = 0
    for customer_id, birthday, zone in candidates.all():
        today = now.astimezone(zone_of(zone)).date()
        if not _is_birthday(birthday, today):
            continue
        with transaction(session):
            created = schedule_care(session, key="birthday", customer_id=customer_id,
                                    dedupe=f"{customer_id}:{today.year}", happened_at=now,
                                    context={"year": today.year, "bonusPoints": bonus}, settings=settings,
                                    now=now)
            if created and created.created:
                events.emit(session, "customer.birthday", customerId=str(customer_id), year=today.year)
                greeted += 1
    log.info("birthdays: %d greetings written", greeted)
    return greeted


def on_order_recorded(payload: dict) -> str | None:
    """post-purchase: a check-in some days after the order (one per order; history replayed later is stale)."""
    from crm.customers.models import Order
    order = get_session().get(Order, uuid.UUID(payload["orderId"]))
    if order is None or order.status != "COMPLETED":
        return None
    context = {"order": {"id": str(order.id), "externalId": order.external_id, "amount": str(order.amount),
                         "currency": order.currency, "occurredAt": order.occurred_at.isoformat(),
                         "channel": order.channel.value}}
    return _care("post-purchase", str(order.customer_id), str(order.id), order.occurred_at, **context)
