"""Merging a duplicate customer into a primary one."""
from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm import events
from crm.auth.models import ApiToken
from crm.config import DEFAULTS
from crm.customers import rfm, rules
from crm.customers.models import (Consent, ConsentChange, Customer, CustomerMerge, LifecycleTransition, Order,
                                  ServiceTierChange)
from crm.customers.orders import recompute_metrics
from crm.customers.services import require_customer
from crm.db import transaction, utcnow
from crm.errors import Invalid

# Other domains move what they attach to a customer: f(session, primary, duplicate, config), in the merge's
# transaction; ``config`` is the merge's (their settings).
MERGE_HOOKS: list = []

_CONSENT_FIELDS = ("granted", "status", "source", "updated_at", "confirmed_at", "confirmation_message_id")
_PROFILE_FIELDS = ("email", "phone", "external_id", "first_name", "last_name", "birthday", "locale")


def merge_customers(session: Session, *, primary_id: uuid.UUID, duplicate_id: uuid.UUID,
                    actor: str | None, config=DEFAULTS) -> Customer:
    """Move everything of the duplicate onto the primary; the duplicate then no longer resolves. ``config``
    gives the stage and tier rules."""
    if primary_id == duplicate_id:
        raise Invalid("A customer cannot be merged into itself.", "duplicateId")
    with transaction(session):
        # Lock in id order so two opposite merges cannot deadlock.
        first, second = sorted([(primary_id, "primaryId"), (duplicate_id, "duplicateId")])
        locked = {cid: require_customer(session, cid, field, for_update=True) for cid, field in (first, second)}
        primary, duplicate = locked[primary_id], locked[duplicate_id]
        summary = {
            "duplicate": {f: _jsonable(getattr(duplicate, f)) for f in _PROFILE_FIELDS},
            "duplicateStage": duplicate.lifecycle_stage.value,
            "ordersMoved": len(session.scalars(select(Order.id).where(Order.customer_id == duplicate.id)).all()),
        }
        session.execute(update(Order).where(Order.customer_id == duplicate.id).values(customer_id=primary.id))
        summary["consentsTaken"] = _merge_consents(session, primary, duplicate)
        _move_history(session, primary, duplicate)
        _fill_profile(session, primary, duplicate)
        # A portal login of the duplicate is not handed to the primary: a mistaken merge would give one
        # person another's profile. The customer signs in again with the primary's token.
        summary["portalTokensRevoked"] = session.execute(
            update(ApiToken).where(ApiToken.customer_id == duplicate.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())).rowcount
        session.execute(update(Customer).where(Customer.merged_into_id == duplicate.id)
                        .values(merged_into_id=primary.id))
        for hook in MERGE_HOOKS:
            hook(session, primary, duplicate, config)
        duplicate.merged_into_id = primary.id
        recompute_metrics(session, primary)
        if duplicate.last_interaction_at and (primary.last_interaction_at is None
                                              or duplicate.last_interaction_at > primary.last_interaction_at):
            primary.last_interaction_at = duplicate.last_interaction_at
        rfm.score_customer(session, primary)
        if primary.last_order_at is not None:
            rules.apply_stage_rules(session, primary, rules.StageRuleSettings.from_config(config),
                                    at=primary.last_order_at)
        rules.apply_tier_rules(session, primary, config=config)
        primary.updated_at = duplicate.updated_at = utcnow()
        session.add(CustomerMerge(primary_id=primary.id, duplicate_id=duplicate.id, actor=actor, summary=summary))
        events.emit(session, "customer.merged", primaryId=str(primary.id), duplicateId=str(duplicate.id))
    return primary


def _jsonable(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def _merge_consents(session: Session, primary: Customer, duplicate: Customer) -> list[str]:
    """The most recently updated consent per channel wins."""
    taken = []
    mine = {c.channel: c for c in session.scalars(select(Consent).where(Consent.customer_id == primary.id))}
    for theirs in session.scalars(select(Consent).where(Consent.customer_id == duplicate.id)).all():
        current = mine.get(theirs.channel)
        if current is None:
            current = Consent(customer_id=primary.id, channel=theirs.channel)
            session.add(current)
        elif theirs.updated_at <= current.updated_at:
            session.delete(theirs)
            continue
        for field in _CONSENT_FIELDS:  # the evidence of a confirmation travels with the answer it proves
            setattr(current, field, getattr(theirs, field))
        taken.append(theirs.channel.value)
        session.delete(theirs)
    # Every change of the duplicate's consents stays evidence, now in the primary's history.
    session.execute(update(ConsentChange).where(ConsentChange.customer_id == duplicate.id)
                    .values(customer_id=primary.id))
    return taken


def _move_history(session: Session, primary: Customer, duplicate: Customer) -> None:
    """The duplicate's stage and tier history joins the primary's, marked with where it came from."""
    note = f"merged from customer {duplicate.id}"
    for model in (LifecycleTransition, ServiceTierChange):
        for row in session.scalars(select(model).where(model.customer_id == duplicate.id)).all():
            row.customer_id = primary.id
            row.reason = f"{note}: {row.reason}" if row.reason else note


def _fill_profile(session: Session, primary: Customer, duplicate: Customer) -> None:
    """Keep the primary's values; take the duplicate's where the primary has none."""
    taken = {f: getattr(duplicate, f) for f in _PROFILE_FIELDS
             if getattr(primary, f) is None and getattr(duplicate, f) is not None}
    # Free the duplicate's unique values first so the primary can take them.
    duplicate.email = duplicate.external_id = None
    session.flush()
    for field, value in taken.items():
        setattr(primary, field, value)
    primary.first_name_key = (primary.first_name or "").lower()
    primary.last_name_key = (primary.last_name or "").lower()
    primary.attributes = {**(duplicate.attributes or {}), **(primary.attributes or {})}
    if primary.account_manager_id is None:
        primary.account_manager_id = duplicate.account_manager_id
