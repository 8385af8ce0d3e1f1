"""Background jobs of the customer core. Jobs take ids, reload state, and are safe to run twice."""
from __future__ import annotations

import logging

from crm.customers import rfm
from crm.db import get_session

log = logging.getLogger(__name__)


def refresh_rfm_scores() -> int:
    scored = rfm.refresh_all(get_session())
    log.info("RFM scores refreshed for %d customers", scored)
    return scored
