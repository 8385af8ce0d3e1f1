"""The demo's clock: seeders move the platform clock (``crm.clock``) to the moment each step of the
story happened, so every history row the services write (stage and tier changes, points, consents,
segment joins) carries that moment, and hand it back as they found it.

Safe in `crm demo` because seeding runs before the server and its in-process worker start: no other
thread reads the clock meanwhile. A test that froze the clock gets it back frozen at the same instant;
a running (or shifted) clock runs on, its shift untouched.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta

from crm import clock


class StoryClock:
    """``at(moment)`` freezes the clock there; ``restore()`` gives back the clock as it was."""

    def __init__(self) -> None:
        self._was_frozen_at = clock.now() if clock.is_frozen() else None
        self.present = clock.now()

    def at(self, moment: datetime) -> datetime:
        """Stop the clock at ``moment`` (never past the story's present)."""
        return clock.freeze(min(moment, self.present))

    def restore(self) -> None:
        if self._was_frozen_at is None:
            clock.unfreeze()
        else:
            clock.freeze(self._was_frozen_at)


@contextmanager
def story_clock():
    story = StoryClock()
    try:
        yield story
    finally:
        story.restore()


def capped(moment: datetime, present: datetime, margin: timedelta = timedelta(minutes=5)) -> datetime:
    """``moment``, or a little before the present when it would fall after it."""
    return min(moment, present - margin)
