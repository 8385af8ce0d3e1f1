"""Journeys settings: CRM_JOURNEYS_* environment variables, defaults here.

SLA policies per service tier live in the ``sla_policy`` table (data, not config);
the quality targets of the service playbook are config, so each deployment sets its own.
Rates are shares (0..1); NPS is -100..100.
"""
from __future__ import annotations

from dataclasses import dataclass

from crm.settings import FromConfig

DEFAULTS = {
    "JOURNEYS_TARGET_FIRST_RESPONSE_MINUTES": 5,   # average first response at most
    "JOURNEYS_TARGET_FCR_RATE": 0.85,              # first-contact resolution at least
    "JOURNEYS_TARGET_CSAT": 4.5,                   # CSAT average at least (1..5)
    "JOURNEYS_TARGET_NPS": 60,                     # NPS at least
    "JOURNEYS_TARGET_SLA_RATE": 0.95,              # SLA compliance at least
    "JOURNEYS_SLA_AT_RISK_SHARE": 0.8,             # share of an SLA clock used before it is AT_RISK
    "JOURNEYS_BULK_MAX_ROWS": 1000,                # rows per interactionRecordBulk call
    "JOURNEYS_SLA_SWEEP_INTERVAL": 60,             # seconds between SLA at-risk / breach sweeps
}


@dataclass(frozen=True)
class JourneySettings(FromConfig):
    prefix = "JOURNEYS_"

    target_first_response_minutes: float = 5
    target_fcr_rate: float = 0.85
    target_csat: float = 4.5
    target_nps: float = 60
    target_sla_rate: float = 0.95
    sla_at_risk_share: float = 0.8
    bulk_max_rows: int = 1000
