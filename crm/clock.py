"""The platform's one clock: every service, job, validation and default reads ``now()``.

Nothing else in the code asks the operating system for the time (a test walks the source to keep it so),
which is what lets tests freeze or move time for everything at once, worker threads included:

- ``freeze(at)`` stops the clock at an instant; ``advance(delta)`` moves a frozen or running clock;
  ``unfreeze()`` lets it run again;
- a shift (``CRM_CLOCK_SHIFT``, seconds, applied by ``create_app``) runs the clock that far from the
  machine's. The test suite uses it to prove no test depends on the day it runs; a rehearsal of next
  month's campaigns could use it too. Worker processes read the same setting, so they agree.

Wire protocols that another party checks against its own clock (RQ's scheduler, a provider's signature
timestamp) get real time through ``real_now`` or a delay computed from ``now()``, never a shifted instant.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

_lock = threading.Lock()
_frozen: datetime | None = None
_shift = timedelta(0)


def real_now() -> datetime:
    """The machine's time, for what another party compares with its own clock."""
    return datetime.now(timezone.utc)


def now() -> datetime:
    """The platform's current time (aware, UTC)."""
    frozen = _frozen
    if frozen is not None:
        return frozen
    return real_now() + _shift


def timestamp() -> float:
    """``now()`` as seconds since the epoch."""
    return now().timestamp()


def delay_until(at: datetime) -> timedelta:
    """How long, on the platform's clock, until ``at`` (negative when it has passed)."""
    return at - now()


def set_shift(seconds: float) -> None:
    """Run the clock ``seconds`` away from the machine's (0 to follow it)."""
    global _shift
    with _lock:
        _shift = timedelta(seconds=float(seconds))


def shift() -> timedelta:
    return _shift


def freeze(at: datetime) -> datetime:
    """Stop the clock at ``at`` (aware); returns it."""
    if at.tzinfo is None:
        raise ValueError("freeze needs an aware datetime")
    global _frozen
    with _lock:
        _frozen = at.astimezone(timezone.utc)
    return _frozen


def advance(delta: timedelta) -> datetime:
    """Move the clock by ``delta``: a frozen clock stays frozen at the new instant, a running one
    runs on from there."""
    global _frozen, _shift
    with _lock:
        if _frozen is not None:
            _frozen = _frozen + delta
        else:
            _shift = _shift + delta
    return now()


def unfreeze() -> None:
    global _frozen
    with _lock:
        _frozen = None


def is_frozen() -> bool:
    return _frozen is not None

