"""Campaign settings: CRM_CAMPAIGNS_* environment variables, defaults here (applied by campaigns.init_app)."""
from __future__ import annotations

DEFAULTS = {
    "CAMPAIGNS_LATE_LIMIT": 3600,                  # an occurrence found later than this is skipped, not sent
    "CAMPAIGNS_BATCH": 500,                        # entries advanced per transaction
    "CAMPAIGNS_DORMANCY_INTERVAL": 3600,           # seconds between NO_ORDER_FOR trigger evaluations
}
