"""Periodic journeys work. Safe to run twice: an alert already raised is never raised again."""
from __future__ import annotations

import logging

from crm.sessions import get_session
from journeys.service import alerts

log = logging.getLogger(__name__)


def sweep_sla() -> int:
    raised = alerts.sweep_sla(get_session())
    log.info("SLA sweep: %d alerts raised", raised)
    return raised
