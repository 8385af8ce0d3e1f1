"""Background jobs of the customer core. Jobs take ids, reload state, and are safe to run twice."""
from __future__ import annotations

import logging

from crm.customers import rfm
from crm.sessions import current_config, get_session

log = logging.getLogger(__name__)


def refresh_rfm_scores() -> int:
    scored = rfm.refresh_all(get_session())
    log.info("RFM scores refreshed for %d customers", scored)
    return scored


def apply_inactivity() -> dict:
    from crm.customers.inactivity import apply_inactivity as apply
    config = current_config()
    moved = apply(get_session(), at_risk_days=int(config["INACTIVITY_AT_RISK_DAYS"]),
                  churned_days=int(config["INACTIVITY_CHURNED_DAYS"]))
    log.info("inactivity: %s", moved)
    return moved
