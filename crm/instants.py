"""Instants from text: ISO-8601 with an offset, and representable in UTC.

Python parses "0001-01-01T00:00:00+14:00" and "9999-12-31T23:59:59-14:00", but neither exists in
UTC (the first is in year 0, the second in year 10000): converting them, which every database
driver does, raises OverflowError deep in a query. Every parse of an instant that comes from a
client goes through ``parse_instant`` so that such a value is refused where it is read.
"""
from __future__ import annotations

from datetime import datetime, timezone

EXAMPLE = "2026-06-01T12:00:00Z"


class InstantError(ValueError):
    """A text that is not a usable instant; the message says why, for the client."""


def in_utc_range(moment: datetime) -> bool:
    """Whether an aware datetime converts to UTC inside years 1 to 9999."""
    try:
        moment.astimezone(timezone.utc)
    except OverflowError:
        return False
    return True


def parse_instant(text) -> datetime:
    """The aware datetime of ISO-8601 ``text`` with an offset ("Z" allowed); InstantError otherwise."""
    if not isinstance(text, str):
        raise InstantError(f"DateTime values are ISO-8601 strings with an offset, e.g. \"{EXAMPLE}\".")
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InstantError(f"{text!r} is not an ISO-8601 date and time.") from None
    if moment.tzinfo is None:
        raise InstantError(f"{text!r} has no offset: add one, e.g. \"Z\" or \"+02:00\".")
    if not in_utc_range(moment):
        raise InstantError(f"{text!r} is outside the years 1 to 9999 in UTC.")
    return moment
