"""Moving a merged duplicate's points onto the primary without rewriting the ledger.

Entries are never updated, so the duplicate's open lots are transferred by a
pair of ADJUST entries each: out of the duplicate (consuming the lot) and into
the primary with the same expiry. Each of the duplicate's tier-qualifying
entries still in the window is carried over with the date it was earned, and
its redemptions are re-pointed.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm.customers.models import Customer
from crm.db import utcnow
from loyalty import ledger, tiering
from loyalty.models import EntryKind, LedgerEntry, LoyaltyAccount, RewardRedemption
from loyalty.settings import LoyaltySettings


def move_loyalty(session: Session, primary: Customer, duplicate: Customer, config) -> None:
    if session.get(LoyaltyAccount, duplicate.id) is None:
        return
    now, settings = utcnow(), LoyaltySettings.from_config(config)
    source = ledger.locked_account(session, duplicate.id, "duplicateId")
    target = ledger.locked_account(session, primary.id, "primaryId")
    ledger.expire_lots(session, source, now)
    note = f"merged from customer {duplicate.id}"
    lots = [lot for lot in ledger.open_lots(session, duplicate.id)]
    moved = sum(lot.remaining for lot in lots)
    for lot in lots:
        out_digest = ledger.payload_hash(kind="MERGE_OUT", lot=str(lot.entry.id))
        ledger.append(session, source, kind=EntryKind.ADJUST, points=-lot.remaining, key=f"merge-out:{lot.entry.id}",
                      digest=out_digest, now=now, reason=f"merged into customer {primary.id}", actor="system",
                      consume=[(lot.entry, lot.remaining)])
        ledger.append(session, target, kind=EntryKind.ADJUST, points=lot.remaining, key=f"merge-in:{lot.entry.id}",
                      digest=ledger.payload_hash(kind="MERGE_IN", lot=str(lot.entry.id)), now=now, reason=note,
                      actor="system", expires_at=lot.entry.expires_at)
    # Tier qualification moves entry by entry, each keeping the date it was earned.
    since = now - timedelta(days=settings.qualifying_window_days)
    for earned in session.scalars(select(LedgerEntry).where(
            LedgerEntry.customer_id == duplicate.id, LedgerEntry.qualifying_points != 0,
            LedgerEntry.qualifies_at > since).order_by(LedgerEntry.seq)).all():
        ledger.append(session, target, kind=EntryKind.ADJUST, points=0, key=f"merge-q:{earned.id}",
                      digest=ledger.payload_hash(kind="MERGE_QUALIFYING", entry=str(earned.id)), now=now,
                      reason=f"{note}: tier qualification", actor="system",
                      qualifying_points=earned.qualifying_points, qualifies_at=earned.qualifies_at)
    # The transfer entries credited the primary with what was left; what the duplicate ever earned
    # (spent, expired or moved) is the merged customer's lifetime too, so it moves whole.
    target.lifetime_earned += source.lifetime_earned - moved
    session.execute(update(RewardRedemption).where(RewardRedemption.customer_id == duplicate.id)
                    .values(customer_id=primary.id))
    tiering.apply_upgrade(session, target, now, settings)
