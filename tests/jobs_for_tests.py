"""Job functions enqueued by tests/test_queue.py. Like real jobs they take JSON arguments,
run inside an app context (the worker provides it) and are safe to run twice."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from crm.auth.models import StaffUser
from crm.auth.services import create_staff
from crm.sessions import get_session
from crm.enums import Role
from crm.queue import get_redis

COUNTER_KEY = "crm-test:counter"
EVENTS_KEY = "crm-test:events"


def count_once(token: str) -> int:
    """Add one to a Redis counter, at most once per token (a second run is a no-op)."""
    redis = get_redis()
    if redis.set(f"crm-test:seen:{token}", "1", nx=True):
        return int(redis.incr(COUNTER_KEY))
    return int(redis.get(COUNTER_KEY) or 0)


def add_staff_once(email: str, name: str) -> str:
    """Append a staff row unless one with this email exists; returns the row's id."""
    session = get_session()
    existing = session.scalar(select(StaffUser.id).where(StaffUser.email == email))
    if existing is None:
        existing = create_staff(session, name=name, email=email, role=Role.SUPPORT_AGENT).id
    return str(existing)


def staff_count(email: str) -> int:
    """How many staff rows have this email (a database read from inside a job)."""
    return get_session().scalar(select(func.count()).select_from(StaffUser).where(StaffUser.email == email))


def record_event(payload: dict) -> None:
    """An event subscriber: remembers each payload it receives."""
    get_redis().rpush(EVENTS_KEY, json.dumps(payload, sort_keys=True))
