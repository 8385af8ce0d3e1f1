"""Loyalty settings: CRM_LOYALTY_* environment variables, defaults here."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from crm.settings import FromConfig

DEFAULTS = {
    "LOYALTY_POINTS_PER_UNIT": "1",          # points per 1.00 of the base currency, before the tier multiplier
    "LOYALTY_EXPIRY_DAYS": 365,              # an earned lot expires this long after it is credited
    "LOYALTY_EXPIRY_WARNING_DAYS": 30,       # expiringSoon looks this far ahead
    "LOYALTY_QUALIFYING_WINDOW_DAYS": 365,   # rolling window of tier-qualifying points
    "LOYALTY_DOWNGRADE_GRACE_DAYS": 30,      # below a tier this long before the review downgrades
    "LOYALTY_REVIEW_INTERVAL": 3600,         # seconds between expiry + tier review + verify runs
    "LOYALTY_BIRTHDAY_POINTS": 100,          # bonus with the birthday greeting, once a year (0: none)
}


@dataclass(frozen=True)
class LoyaltySettings(FromConfig):
    # A config without loyalty's keys (crm.config.DEFAULTS, the default of the customer services whose
    # hooks pass theirs on) has loyalty's defaults; an app's has them all (loyalty.init_app).
    prefix = "LOYALTY_"
    defaults = DEFAULTS
    keys = {"warning_days": "LOYALTY_EXPIRY_WARNING_DAYS"}

    points_per_unit: Decimal = Decimal(1)
    expiry_days: int = 365
    warning_days: int = 30
    qualifying_window_days: int = 365
    downgrade_grace_days: int = 30
