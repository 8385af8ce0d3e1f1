"""The error codes campaign services raise: a DomainError takes one of these members."""
from __future__ import annotations

from crm.errors import domain_codes

# Campaigns said INVALID_STATUS where cases and customers say INVALID_TRANSITION: the member stays for the
# clients that match on it, deprecated, and is never raised.
CampaignErrorCode = domain_codes("CampaignErrorCode", "INVALID_TRANSITION INVALID_STATUS CAMPAIGN_FINISHED", __name__,
                                 deprecated={"INVALID_STATUS": "Use INVALID_TRANSITION."})
