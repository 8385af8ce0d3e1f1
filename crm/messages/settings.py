"""Messaging settings: CRM_MESSAGES_* environment variables, defaults here."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta

from crm.messages.templates import RenderLimits

DEFAULTS = {
    # Providers. EMAIL goes through SMTP when MESSAGES_SMTP_HOST is set, SMS and PUSH through the HTTP
    # provider when MESSAGES_HTTP_URL is set; otherwise the `log` channel records them as sent.
    "MESSAGES_SMTP_HOST": None,
    "MESSAGES_SMTP_PORT": 25,
    "MESSAGES_SMTP_SECURITY": "none",          # none | starttls | ssl
    "MESSAGES_SMTP_USERNAME": None,
    "MESSAGES_SMTP_PASSWORD": None,
    "MESSAGES_FROM": "Customer Care <care@example.com>",
    "MESSAGES_HTTP_URL": None,
    "MESSAGES_HTTP_SECRET": None,              # HMAC-SHA256 key of the X-CRM-Signature header
    "MESSAGES_PROVIDER_TIMEOUT": 20,           # seconds; below the claim lease, so a slow send is not resent
    # Rules before sending.
    "MESSAGES_FREQUENCY_CAP": 3,               # CARE + CAMPAIGN messages per customer per window
    "MESSAGES_FREQUENCY_WINDOW_DAYS": 7,
    "MESSAGES_QUIET_START": "21:00",           # customer's local time
    "MESSAGES_QUIET_END": "08:00",
    # Delivery.
    "MESSAGES_MAX_ATTEMPTS": 5,
    "MESSAGES_RETRY_BACKOFF": [30, 120, 600, 1800],   # seconds before attempt 2, 3, 4, 5
    "MESSAGES_CLAIM_LEASE": 60,                # a claim older than this is a dead worker's: send again
    "MESSAGES_REQUEUE_AFTER": 300,             # a queued job not started after this is queued again
    "MESSAGES_STALE_AFTER": 86400,             # care for a trigger older than its delay + this is skipped
    "MESSAGES_DISPATCH_INTERVAL": 5,            # seconds between dispatcher rounds in `crm worker`
    # The follow-up's survey link. None: the platform's own signed survey page (/s/survey/<token>, crm/links.py);
    # an external survey tool's address instead, as a format string with {caseId}, {customerId} and {kind}.
    "MESSAGES_SURVEY_URL": None,
    # The cost cap of a rendered message (crm/messages/sandbox.py). Over it, a message FAILs with the
    # reason; a template that breaks it even for a sample customer is refused when it is written.
    "MESSAGES_MAX_BODY_CHARS": {"EMAIL": 100_000, "SMS": 1_600, "PUSH": 1_000},   # per channel
    "MESSAGES_MAX_SUBJECT_CHARS": 500,         # at most 500 (the column)
    "MESSAGES_RENDER_MAX_STEPS": 10_000,       # loop iterations and calls per render
    "MESSAGES_RENDER_MAX_WORK": 1_000_000,     # characters of values made per render
    "MESSAGES_RENDER_TIMEOUT": 1,              # seconds per render
    # Periodic care.
    "BIRTHDAYS_INTERVAL": 3600,
    "INACTIVITY_INTERVAL": 3600,
    "INACTIVITY_AT_RISK_DAYS": 90,
    "INACTIVITY_CHURNED_DAYS": 365,
}


def _clock(value: str, key: str) -> time:
    try:
        hours, minutes = str(value).split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"{key} must be HH:MM, not {value!r}") from None


@dataclass(frozen=True)
class MessageSettings:
    frequency_cap: int = 3
    frequency_window: timedelta = timedelta(days=7)
    quiet_start: time = time(21)
    quiet_end: time = time(8)
    max_attempts: int = 5
    retry_backoff: tuple[int, ...] = (30, 120, 600, 1800)
    claim_lease: timedelta = timedelta(seconds=60)
    requeue_after: timedelta = timedelta(seconds=300)
    stale_after: timedelta = timedelta(days=1)
    render: RenderLimits = field(default_factory=RenderLimits)

    @classmethod
    def from_config(cls, config) -> MessageSettings:
        return cls(
            frequency_cap=int(config["MESSAGES_FREQUENCY_CAP"]),
            frequency_window=timedelta(days=float(config["MESSAGES_FREQUENCY_WINDOW_DAYS"])),
            quiet_start=_clock(config["MESSAGES_QUIET_START"], "MESSAGES_QUIET_START"),
            quiet_end=_clock(config["MESSAGES_QUIET_END"], "MESSAGES_QUIET_END"),
            max_attempts=max(1, int(config["MESSAGES_MAX_ATTEMPTS"])),
            retry_backoff=tuple(int(s) for s in config["MESSAGES_RETRY_BACKOFF"]) or (0,),
            claim_lease=timedelta(seconds=float(config["MESSAGES_CLAIM_LEASE"])),
            requeue_after=timedelta(seconds=float(config["MESSAGES_REQUEUE_AFTER"])),
            stale_after=timedelta(seconds=float(config["MESSAGES_STALE_AFTER"])),
            render=RenderLimits.from_config(config),
        )

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt."""
        return timedelta(seconds=self.retry_backoff[min(attempts, len(self.retry_backoff)) - 1])
