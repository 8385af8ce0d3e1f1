"""The error codes campaign services raise: a DomainError takes one of these members."""
from __future__ import annotations

import enum


class CampaignErrorCode(enum.StrEnum):
    """Also the GraphQL enum CampaignErrorCode of the payloads' errors: its order is the SDL's."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    INVALID_STATUS = "INVALID_STATUS"
    CAMPAIGN_FINISHED = "CAMPAIGN_FINISHED"

    # Members kept for the clients that match on them and never raised, with what to use instead: campaigns
    # said INVALID_STATUS where cases and customers say INVALID_TRANSITION (the GraphQL enum deprecates them).
    DEPRECATED = enum.nonmember({"INVALID_STATUS": "Use INVALID_TRANSITION."})
