"""Loyalty's care triggers: tier upgrades, points about to expire, the birthday bonus; and what loyalty
adds to every message template (``loyalty.balance``, ``loyalty.tier``, ``loyalty.tierName``)."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.db import transaction, utcnow

from crm.sessions import current_config, get_session
from crm.messages.care import schedule_care
from crm.messages.settings import MessageSettings
from loyalty import queries
from loyalty.models import LedgerEntry, LoyaltyAccount, LoyaltyTier
from loyalty.services import earn_points
from loyalty.settings import LoyaltySettings

log = logging.getLogger(__name__)
REMINDER_BATCH = 500


def template_context(session: Session, customer) -> dict:
    row = session.execute(select(LoyaltyAccount.balance, LoyaltyTier.key, LoyaltyTier.name)
                          .join(LoyaltyTier, LoyaltyTier.key == LoyaltyAccount.tier_key)
                          .where(LoyaltyAccount.customer_id == customer.id)).first()
    if row is None:
        return {"loyalty": {"balance": 0, "tier": None, "tierName": None}}
    return {"loyalty": {"balance": row[0], "tier": row[1], "tierName": row[2]}}


def on_tier_changed(payload: dict) -> str | None:
    """tier-upgrade: congratulations when the new loyalty tier ranks above the old one."""
    session = get_session()
    ranks = dict(session.execute(select(LoyaltyTier.key, LoyaltyTier.rank)).all())
    names = dict(session.execute(select(LoyaltyTier.key, LoyaltyTier.name)).all())
    if ranks.get(payload["toTier"], -1) <= ranks.get(payload.get("fromTier"), -1):
        return None
    with transaction(session):
        created = schedule_care(session, key="tier-upgrade", customer_id=uuid.UUID(payload["customerId"]),
                                dedupe=f"loyalty:{payload['changeId']}",
                                happened_at=datetime.fromisoformat(payload["at"]),
                                context={"tier": names.get(payload["toTier"], payload["toTier"]),
                                         "program": "loyalty programme"},
                                settings=MessageSettings.from_config(current_config()))
    return str(created.message.id) if created else None


def remind_expiring_points(now: datetime | None = None) -> int:
    """points-expiring: one reminder per customer and expiry date, sent when the date comes within the
    warning window (LOYALTY_EXPIRY_WARNING_DAYS, 30 by default)."""
    session, settings = get_session(), MessageSettings.from_config(current_config())
    now = now or utcnow()
    window = LoyaltySettings.from_config(current_config()).warning_days
    customers = list(session.scalars(select(LedgerEntry.customer_id).where(
        LedgerEntry.points > 0, LedgerEntry.expires_at > now,
        LedgerEntry.expires_at <= now + timedelta(days=window)).distinct()))
    written = 0
    for start in range(0, len(customers), REMINDER_BATCH):
        batch = customers[start:start + REMINDER_BATCH]
        with transaction(session):
            for customer_id, lots in queries.expiring_soon(session, batch, now, window).items():
                for points, expires_at in lots:
                    created = schedule_care(
                        session, key="points-expiring", customer_id=customer_id,
                        dedupe=f"{customer_id}:{expires_at.date().isoformat()}", happened_at=now,
                        context={"points": points, "expiresAt": expires_at.isoformat()}, settings=settings, now=now)
                    written += bool(created and created.created)
    log.info("points-expiring: %d reminders written", written)
    return written


def expire_and_remind() -> dict:
    """The periodic job: expire what is due, then remind about what comes due within the window."""
    from loyalty.jobs import expire_points
    return {"expired": expire_points(), "reminders": remind_expiring_points()}


def on_birthday(payload: dict) -> str | None:
    """The birthday bonus, once a year: the idempotency key holds the year."""
    config = current_config()
    points = int(config.get("LOYALTY_BIRTHDAY_POINTS") or 0)
    if points <= 0:
        return None
    result = earn_points(get_session(), customer_id=uuid.UUID(payload["customerId"]), points=points,
                         reason=f"birthday {payload['year']}",
                         idempotency_key=f"birthday:{payload['customerId']}:{payload['year']}", actor="rule:birthday",
                         settings=LoyaltySettings.from_config(config))
    return str(result.entry.id)
